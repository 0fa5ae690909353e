"""Adam's pass (``_kernels.adam_adjust``) inside a training epoch and on its own.

For both dtypes, on a case of the shared loader (``_bench_data.py``;
``--standardize`` for dense MNIST), a network of ``--hidden`` units, 128-row
minibatches:

* in the epoch: ``partial_fit`` epochs with every ``adam_adjust`` call timed
  (median over the last epoch), on the threads the network gives it and
  forced to one thread;
* on its own: the same call on arrays of the same length, back to back, and
  after each of: a busy wait of 0.45 ms, writing 16 MB (to empty the
  caches), the forward product ``Xb @ W1`` and the adjustment's product
  ``Xb.T @ D`` (128-row ``Xb``), on two threads and on one, and a product
  ``W1 @ M`` whose two threads each read only the rows of ``W1`` that
  Adam's thread on the same core then updates.

Times in microseconds a call.

Run::

    python benchmarks/diagnose_adam.py --data path/to/mnist.npz --standardize [--epochs 2]
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from _bench_data import add_data_arguments, load_from_args, run_header  # this folder

try:
    import sklearn_symnet  # noqa: F401
except ImportError:  # running from a source checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sklearn_symnet import SymNetClassifier, _kernels
from sklearn_symnet._threads import blas_single_thread

BATCH = 128


def in_epoch(X, y, hidden, epochs, force_threads):
    """Median ``adam_adjust`` time (µs) over the last of ``epochs`` epochs,
    the thread counts the network asked for, and the lengths it was called
    with (parameters, penalised coefficients)."""
    original = _kernels.adam_adjust
    times, asked, sizes = [], set(), set()

    def timed(*args):
        args = list(args)
        asked.add(args[-1])
        sizes.add((args[0].shape[0], args[4]))
        if force_threads:
            args[-1] = force_threads
        t = time.perf_counter()
        out = original(*args)
        times.append(time.perf_counter() - t)
        return out

    clf = SymNetClassifier(hidden_layer_sizes=(hidden,), batch_size=BATCH, random_state=0)
    _kernels.adam_adjust = timed
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(epochs):
                times.clear()
                clf.partial_fit(X, y, classes=np.unique(y))
    finally:
        _kernels.adam_adjust = original
    (size,) = sizes
    return 1e6 * np.median(times), sorted(asked), size


def on_its_own(n, n_coef, n_features, hidden, dtype, calls=1000):
    """Median µs of ``adam_adjust`` on ``n`` parameters after each preceding
    step, on 2 and 1 threads."""
    rng = np.random.default_rng(0)
    n_w1 = n_features * hidden
    p = (0.05 * rng.standard_normal(n)).astype(dtype)
    g = rng.standard_normal(n).astype(dtype)
    m1, m2 = np.zeros(n, dtype), np.zeros(n, dtype)
    Xb = rng.standard_normal((BATCH, n_features)).astype(dtype)
    D = rng.standard_normal((BATCH, hidden)).astype(dtype)
    W1, G1 = p[:n_w1].reshape(n_features, hidden), g[:n_w1].reshape(n_features, hidden)
    U = np.empty((BATCH, hidden), dtype)
    M = rng.standard_normal((hidden, BATCH)).astype(dtype)
    C1 = np.empty((n_features, BATCH), dtype)
    big = np.zeros(4_000_000, np.float32)

    def busy_wait():
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < 450e-6:
            pass

    before = {
        "back to back": None,
        "after a 0.45 ms busy wait": busy_wait,
        "after writing 16 MB": lambda: np.add(big, 1.0, out=big),
        "after Xb @ W1 (2 threads)": lambda: _kernels.matmul(Xb, False, W1, False, U, 1.0, 0.0, 2),
        "after Xb @ W1 (1 thread)": lambda: _kernels.matmul(Xb, False, W1, False, U, 1.0, 0.0, 1),
        "after Xb.T @ D (2 threads)": lambda: _kernels.matmul(Xb, True, D, False, G1, 1.0, 0.0, 2),
        # reads W1 as the forward product does, but each thread only the rows
        # of W1 it then updates (the product's row blocks are Adam's halves)
        "after W1 @ M (2 threads, own rows)":
            lambda: _kernels.matmul(W1, False, M, False, C1, 1.0, 0.0, 2),
    }
    rows = {}
    with blas_single_thread():
        for name, step in before.items():
            for nt in (2, 1):
                ts = []
                for _ in range(calls):
                    if step is not None:
                        step()
                    t = time.perf_counter()
                    _kernels.adam_adjust(p, g, m1, m2, n_coef, 1e-4, 1.0 / BATCH, 1e-6,
                                         0.9, 0.999, 1e-8, nt)
                    ts.append(time.perf_counter() - t)
                rows[(name, nt)] = 1e6 * np.median(ts)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_arguments(parser)
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--calls", type=int, default=1000)
    args = parser.parse_args(argv)
    print(run_header("diagnose_adam.py", argv))
    results = {}
    for dtype in ("float64", "float32"):
        X, y, _, _ = load_from_args(args, dtype=dtype, n_test=1)
        epoch = {nt: in_epoch(X, y, args.hidden, args.epochs, nt) for nt in (0, 1)}
        (us, asked, (n, n_coef)), (us1, _, _) = epoch[0], epoch[1]
        alone = on_its_own(n, n_coef, X.shape[1], args.hidden, np.dtype(dtype), args.calls)
        print(f"\n## {dtype}: {X.shape[0]} rows, {n} parameters, batch {BATCH}")
        print(f"{'in the epoch (threads ' + str(asked) + ')':<48} {us:7.1f}")
        print(f"{'in the epoch, forced to 1 thread':<48} {us1:7.1f}")
        for (name, nt), v in alone.items():
            print(f"{'on its own, ' + name + f', {nt} thr':<48} {v:7.1f}")
        results[dtype] = {"in_epoch": epoch, "alone": alone}
    return results


if __name__ == "__main__":
    main()
