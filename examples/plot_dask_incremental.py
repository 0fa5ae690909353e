"""Out-of-core training on Dask: more data than the cluster's memory, one block at a time.

``dask_ml.wrappers.Incremental`` passes each block of a dask array to the
estimator's ``partial_fit``, one after the other, on the workers of a Dask
cluster.  A SymNet ``partial_fit`` is one epoch over the block it is given (the
optimiser's state carries over), so the model sees every row once per pass
while no worker ever holds more than a block or two.

This example builds a ``distributed.LocalCluster`` of two worker processes with
a small memory limit each (700 MiB) and trains a ``SymNetClassifier`` on a
lazily generated dask array that is larger than the whole cluster's memory
(2.9 million rows x 64 features, 1.38 GiB of float64, in blocks of 10,000
rows).  The data never exist in one place: each block is drawn on a worker
(standard normal features; four classes from a fixed random "teacher" network,
``argmax(tanh(3 X W1) W2)``), handed to ``partial_fit`` and released.  While
the fit runs, the example samples the resident memory of the worker processes
(with psutil, from this process) and draws it against the limit:

(a) the training loss of every ``partial_fit`` call (one per block) against the
    rows seen;
(b) each worker's resident memory during the fit, the memory limit (a worker
    pauses at 80 % of it and is restarted at 95 %), and the size of the data
    set.

It prints the held-out accuracy (computed blockwise by ``Incremental.score`` on
a dask array the workers draw too) and the peak worker memory.  ``--quick``
trains on 100,000 rows only (smaller than the limit: a smoke test of the
machinery).  Set the estimator's ``n_jobs`` to the worker's threads
(``n_jobs=1`` here): its OpenMP threads would otherwise compete with the other
worker for the same cores.

Run ``python examples/plot_dask_incremental.py [--out DIR] [--quick]
[--learning-rate-decay D]``; it writes ``plot_dask_incremental.png`` next to
this script (or into DIR).
Needs ``pip install ".[distributed,examples]"``.
"""

import argparse
import os
import sys
import threading
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

try:
    import sklearn_symnet  # noqa: F401
except ImportError:  # a source checkout built in place, not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sklearn_symnet import SymNetClassifier  # noqa: E402

MiB = 2**20
MEMORY_LIMIT = 700 * MiB
N_FEATURES, N_CLASSES, BLOCK = 64, 4, 10_000


def make_data(n_samples, seed):
    """A lazily generated classification problem as dask arrays: standard
    normal features and the labels of a fixed random teacher network.  Only
    built-in dask operations, so the workers need nothing from this script."""
    import dask.array as da

    teacher = np.random.default_rng(1234)  # the same problem for every seed
    W1 = teacher.standard_normal((N_FEATURES, 16)) / np.sqrt(N_FEATURES)
    W2 = teacher.standard_normal((16, N_CLASSES))
    X = da.random.default_rng(seed).standard_normal((n_samples, N_FEATURES),
                                                    chunks=(BLOCK, N_FEATURES))
    y = da.argmax(da.tanh(3.0 * X @ W1) @ W2, axis=1)
    return X, y


class MemorySampler(threading.Thread):
    """Sample the resident memory of some processes every ``period`` seconds."""

    def __init__(self, pids, period=0.1):
        import psutil

        super().__init__(daemon=True)
        self.procs = {pid: psutil.Process(pid) for pid in pids}
        self.period = period
        self.samples = []  # (time, {pid: rss})
        self._done = threading.Event()

    def run(self):
        t0 = time.perf_counter()
        while not self._done.is_set():
            rss = {}
            for pid, p in self.procs.items():
                try:
                    rss[pid] = p.memory_info().rss
                except Exception:  # a worker restarting: no sample
                    rss[pid] = np.nan
            self.samples.append((time.perf_counter() - t0, rss))
            self._done.wait(self.period)

    def stop(self):
        self._done.set()
        self.join()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                        help="folder for the PNG (default: next to this script)")
    parser.add_argument("--learning-rate-decay", type=float, default=1.0,
                        help="the estimator's learning_rate_decay (default %(default)s: a "
                             "constant step; the estimator's own default is 0.85 every "
                             "500 steps)")
    parser.add_argument("--quick", action="store_true",
                        help="100,000 rows instead of 2.9 million (a few seconds)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    from dask.distributed import Client, LocalCluster
    from dask_ml.wrappers import Incremental

    n_samples = 100_000 if args.quick else 2_900_000
    n_workers = 2
    X, y = make_data(n_samples, seed=0)
    X_test, y_test = make_data(10_000 if args.quick else 100_000, seed=1)

    with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                      memory_limit=MEMORY_LIMIT, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        pids = list(client.run(os.getpid).values())
        # one pass over a long stream: a constant step (as MLPClassifier's)
        # learns more here than the default's decay to a quarter of it
        # (--learning-rate-decay 0.85; docs/ecosystem.md)
        clf = SymNetClassifier(hidden_layer_sizes=(32,),
                               learning_rate_decay=args.learning_rate_decay,
                               n_jobs=1, random_state=0)
        inc = Incremental(clf, scoring="accuracy", shuffle_blocks=False)
        sampler = MemorySampler(pids)
        sampler.start()
        t0 = time.perf_counter()
        try:
            inc.fit(X, y, classes=np.arange(N_CLASSES))
        finally:
            sampler.stop()
        fit_time = time.perf_counter() - t0
        accuracy = inc.score(X_test, y_test)
    est = inc.estimator_

    times = np.array([t for t, _ in sampler.samples])
    rss = np.array([[s[pid] for pid in pids] for _, s in sampler.samples]) / MiB
    peak = np.nanmax(rss)
    data_mib = X.nbytes / MiB
    cluster_mib = n_workers * MEMORY_LIMIT / MiB

    fig, (ax_a, ax_b) = plt.subplots(1, 2, figsize=(13, 4.8))
    rows = BLOCK * np.arange(1, len(est.loss_curve_) + 1)
    ax_a.plot(rows, est.loss_curve_, color="tab:orange", lw=1)
    ax_a.set_xlabel("rows seen")
    ax_a.set_ylabel("training loss of the block (one partial_fit)")
    ax_a.set_title(f"(a) {len(est.loss_curve_)} blocks of {BLOCK:,} rows, one pass; "
                   f"held-out accuracy {accuracy:.3f}")
    ax_a.set_yscale("log")
    for k in range(len(pids)):
        ax_b.plot(times, rss[:, k], lw=1, label=f"worker {k} resident memory")
    ax_b.axhline(MEMORY_LIMIT / MiB, color="tab:red", ls="--",
                 label=f"memory limit of a worker ({MEMORY_LIMIT / MiB:.0f} MiB)")
    ax_b.axhline(0.8 * MEMORY_LIMIT / MiB, color="tab:red", ls=":", lw=1,
                 label="a worker pauses above 80 % of it")
    ax_b.axhline(data_mib, color="k", ls=":",
                 label=f"the data set ({data_mib:,.0f} MiB; cluster: {cluster_mib:,.0f} MiB)")
    ax_b.set_ylim(0, max(data_mib, MEMORY_LIMIT / MiB) * 1.1)
    ax_b.set_xlabel("time since the fit started (s)")
    ax_b.set_ylabel("MiB")
    ax_b.set_title(f"(b) worker memory during the fit ({fit_time:.1f} s)")
    ax_b.legend(fontsize=8, loc="center right")
    fig.suptitle("SymNetClassifier on a dask array via dask_ml.wrappers.Incremental, "
                 f"LocalCluster of {n_workers} workers", fontsize=12)
    fig.tight_layout()
    path = args.out / "plot_dask_incremental.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)

    print(f"data: {n_samples:,} x {N_FEATURES} float64 = {data_mib:,.0f} MiB in "
          f"{X.numblocks[0]} blocks; {n_workers} workers x {MEMORY_LIMIT / MiB:.0f} MiB "
          f"limit = {cluster_mib:,.0f} MiB"
          + (" (the data are larger)" if data_mib > cluster_mib else ""))
    print(f"fit: {fit_time:.1f} s, {len(est.loss_curve_)} partial_fit calls, peak worker memory "
          f"{peak:.0f} MiB ({100 * peak / (MEMORY_LIMIT / MiB):.0f} % of the limit)")
    print(f"held-out accuracy ({X_test.shape[0]:,} rows drawn on the workers): "
          f"{accuracy:.4f}")
    print(f"wrote {path}")
    return [path]


if __name__ == "__main__":
    main()
