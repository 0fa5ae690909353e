"""Threads: the one place where thread counts and BLAS limits are decided.

The kernels' OpenMP threads do all the parallel work.  BLAS is held to one
thread while they work (a reference-counted threadpoolctl limit, so that
concurrent calls restore the user's setting once, at the end), and every
parallel split depends on the shapes only.  So a fitted model and its
predictions are bit-identical for any ``n_jobs`` and any BLAS thread setting.
"""

import contextlib
import threading

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


def threads_for(work, n_threads):
    """Threads for one kernel call of ``work`` multiply-adds."""
    return n_threads if work >= PARALLEL_MIN_WORK else 1


_CONTROLLER = None
_LIMIT_LOCK = threading.Lock()
_LIMIT_USERS = 0
_LIMITER = None


@contextlib.contextmanager
def blas_single_thread():
    """Hold BLAS to one thread while any caller is inside (reference-counted,
    so concurrent calls restore the original setting once, at the end)."""
    global _CONTROLLER, _LIMIT_USERS, _LIMITER
    with _LIMIT_LOCK:
        if _LIMIT_USERS == 0:
            if _CONTROLLER is None:
                _CONTROLLER = ThreadpoolController()
            _LIMITER = _CONTROLLER.limit(limits=1, user_api="blas")
        _LIMIT_USERS += 1
    try:
        yield
    finally:
        with _LIMIT_LOCK:
            _LIMIT_USERS -= 1
            if _LIMIT_USERS == 0:
                _LIMITER.restore_original_limits()
                _LIMITER = None
