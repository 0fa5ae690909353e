"""Threads: the one place where thread counts and BLAS limits are decided.

The kernels' OpenMP threads do all the parallel work.  BLAS is held to one
thread while they work (a reference-counted threadpoolctl limit, so that
concurrent calls restore the user's setting once, at the end), and every
parallel split depends on the shapes only.  So a fitted model and its
predictions are bit-identical for any ``n_jobs`` and any BLAS thread setting.
"""

import contextlib
import os
import threading
import time

import threadpoolctl
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
from threadpoolctl import ThreadpoolController

# Below this many multiply-adds a kernel call runs on one thread: waking a
# thread team costs more than it saves (and oversubscribes a busy machine).
PARALLEL_MIN_WORK = 2_000_000


def effective_n_threads(n_jobs):
    """OpenMP threads for ``n_jobs`` (None: all cores, as limited by
    ``OMP_NUM_THREADS`` or threadpoolctl)."""
    if n_jobs == 0:
        raise ValueError(
            "n_jobs == 0 is invalid: use None or -1 for all cores, or a positive "
            "number of threads."
        )
    return _openmp_effective_n_threads(n_jobs)


def _proc_stat_busy():
    """Busy CPU seconds of the whole machine so far (Linux), or None."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    ticks = [int(v) for v in fields[1:]]
    busy = sum(ticks) - ticks[3] - (ticks[4] if len(ticks) > 4 else 0)  # - idle, iowait
    return busy / os.sysconf("SC_CLK_TCK")


def _own_runnable_threads():
    """This process's threads currently running or runnable (Linux), or 0."""
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return 0
    n = 0
    for tid in tasks:
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        n += state == "R"
    return n


def _others_runnable():
    """Runnable tasks of other processes right now (Linux), or None."""
    try:
        with open("/proc/loadavg") as f:
            running = int(f.read().split()[3].split("/")[0])
    except (OSError, IndexError, ValueError):
        return None
    return max(running - _own_runnable_threads(), 0)


class LoadMonitor:
    """How many of the kernels' threads the machine can give right now.

    With ``n_jobs=None`` the thread count follows the machine's load: a
    parallel region waits for its slowest thread, so on cores busy with other
    processes a descheduled thread stalls every region (an epoch of
    minibatches opens thousands); there the kernels run on fewer threads.
    The count is the cores not used by other processes, measured over the
    previous epoch (``/proc/stat`` minus this process's own CPU time), or
    from the runnable tasks before the first.  Results do not depend on it
    (every parallel split is by shape), so this only changes speed.  An
    explicit ``n_jobs`` is used as given; off Linux the count is ``n_jobs``'s.
    """

    def __init__(self, n_jobs):
        self.n_threads = effective_n_threads(n_jobs)
        self.adaptive = n_jobs is None and self.n_threads > 1
        try:
            self.n_cpus = len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not Linux
            self.n_cpus = os.cpu_count() or 1
        self._mark = None
        self._last = None

    def threads(self, min_window=0.0):
        """Threads for the next stretch of work (an epoch, a prediction).

        Called again less than ``min_window`` seconds after the last
        measurement, it gives the last decision again and keeps measuring
        from there (short calls are averaged over at least that window).
        """
        if not self.adaptive:
            return self.n_threads
        if (self._last is not None and min_window > 0
                and time.perf_counter() - self._mark[0] < min_window):
            return self._last
        now = time.perf_counter(), _proc_stat_busy(), time.process_time()
        others = None
        if self._mark is not None and now[1] is not None:
            wall = now[0] - self._mark[0]
            if wall > 0.05:  # long enough for the tick counters
                busy = (now[1] - self._mark[1]) - (now[2] - self._mark[2])
                others = max(busy / wall, 0.0)
        if others is None:
            others = _others_runnable()
        self._mark = now
        if others is None:
            self._last = self.n_threads
        else:
            free = int(self.n_cpus - others + 0.5)  # cores left by the others
            self._last = max(1, min(self.n_threads, free))
        return self._last


def threads_for(work, n_threads):
    """Threads for one kernel call of ``work`` multiply-adds."""
    return n_threads if work >= PARALLEL_MIN_WORK else 1


_BLAS_LIBS = None
_LIMIT_LOCK = threading.Lock()
_LIMIT_USERS = 0
_SAVED_LIMITS = None


def _release_blas_control():
    """Let any Python thread set OpenBLAS's limit next.

    threadpoolctl 3.8 lets only one Python thread change the limit of an
    OpenBLAS with its own (process-wide) thread pool: the first to set it,
    until that thread lets go; other threads' calls silently do nothing.
    The limit here is process-wide and reference-counted: the thread that
    sets it and the one that restores it can differ, so it lets go after
    each.  (Holding on, a prediction or fit in any other thread ran with
    BLAS threads inside the kernels' threads, slower and with other bits,
    and a restore from another thread left BLAS at one thread.)  Older
    threadpoolctl has no such control: nothing to do."""
    if _CLEAR_CONTROL is not None:
        _CLEAR_CONTROL(force=True)


# threadpoolctl >= 3.8's release of OpenBLAS's controlling thread, or None
_CLEAR_CONTROL = getattr(getattr(threadpoolctl, "OpenBLASController", None),
                         "clear_controlling_thread", None)


def _blas_libraries():
    """threadpoolctl's controllers of the loaded BLAS libraries (found once)."""
    global _BLAS_LIBS
    if _BLAS_LIBS is None:
        _BLAS_LIBS = [lc for lc in ThreadpoolController().lib_controllers
                       if lc.user_api == "blas"]
    return _BLAS_LIBS


@contextlib.contextmanager
def blas_single_thread():
    """Hold BLAS to one thread while any caller is inside (reference-counted,
    so concurrent calls restore the original setting once, at the end,
    whichever threads they run in).  Each BLAS library's count is read and
    set directly, and only where it is not one already (a threadpoolctl
    limit first gathers every thread pool's full description)."""
    global _LIMIT_USERS, _SAVED_LIMITS
    with _LIMIT_LOCK:
        if _LIMIT_USERS == 0:
            _release_blas_control()
            saved = []
            for lib in _blas_libraries():
                n = lib.get_num_threads()
                if n is not None and n != 1:
                    lib.set_num_threads(1)
                    saved.append((lib, n))
            _SAVED_LIMITS = saved
            _release_blas_control()
        _LIMIT_USERS += 1
    try:
        yield
    finally:
        with _LIMIT_LOCK:
            _LIMIT_USERS -= 1
            if _LIMIT_USERS == 0:
                _release_blas_control()
                for lib, n in _SAVED_LIMITS:
                    lib.set_num_threads(n)
                _release_blas_control()
                _SAVED_LIMITS = None


# Predictions measure the machine's load over windows of at least this many
# seconds: a snapshot of the runnable tasks is noisy, and a prediction is too
# short to measure over by itself.
PREDICT_LOAD_WINDOW = 0.25
_PREDICT_MONITORS = {}
_PREDICT_LOCK = threading.Lock()


def prediction_threads(n_jobs, work):
    """Threads for a prediction of ``work`` multiply-adds in its first layer:
    one below :data:`PARALLEL_MIN_WORK` (no load reading at all), otherwise
    what a process-wide :class:`LoadMonitor` for ``n_jobs`` gives, measured
    over the time since its last measurement once that is at least
    :data:`PREDICT_LOAD_WINDOW` (the last decision until then)."""
    n_threads = effective_n_threads(n_jobs)
    if work < PARALLEL_MIN_WORK or n_threads == 1:
        return 1
    with _PREDICT_LOCK:
        monitor = _PREDICT_MONITORS.get(n_jobs)
        if monitor is None:
            monitor = _PREDICT_MONITORS[n_jobs] = LoadMonitor(n_jobs)
        return monitor.threads(PREDICT_LOAD_WINDOW)
