"""Where one SymNet training epoch spends its time, kernel by kernel.

Wraps every function of the compiled ``sklearn_symnet._kernels`` with a timer
(restored afterwards), runs ``partial_fit`` epochs on a case of the shared
loader (``_bench_data.py``: MNIST /255 from ``--data PATH`` or OpenML,
``--standardize`` for dense MNIST, ``--dataset synthetic``) and prints the
time per kernel of the last epoch, plus the rest (Python and NumPy between
kernel calls). Only calls from Python are seen: work a kernel does inside
another kernel counts for the outer one.

With ``--floor``, the same run also measures issue 12's two-product floor
(``_bench_measure.two_product_floor``: ``X @ W1`` and ``X.T @ D`` on the
whole training set, best of ``--floor-repeat``, before and after the epochs),
epochs without the timers, and, taking turns with those epochs, the same two
products as the model's dense input does them on its own (the kernels'
``gather_forward`` and ``Xb.T @ D`` on 128 shuffled rows at a time, the
model's thread count, nothing else in between). It prints the epoch's parts
cumulatively as multiples of that floor, then the untimed epochs and the
products alone: how much of the floor targets (float64 within 1.2x, float32
within 1.5x) the products leave to the rest. The timers add a Python wrapper
to every kernel call, so the untimed epochs are the measure of a whole epoch.

Run::

    python benchmarks/profile_epoch.py --data path/to/mnist.npz [--epochs 2] [--n-jobs 2]
    python benchmarks/profile_epoch.py --data path/to/mnist.npz --standardize --dtype float32
    python benchmarks/profile_epoch.py --data path/to/mnist.npz --standardize --floor
"""

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
from _bench_data import add_data_arguments, load_from_args  # this folder
from _bench_measure import merge_floors, settle, two_product_floor  # this folder

try:
    from sklearn_symnet import _kernels
except ImportError:  # running from a source checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from sklearn_symnet import _kernels


def kernel_names():
    """Public functions of the compiled kernels module (whatever it holds today)."""
    # Cython functions: cython_function_or_method, fused_cython_function, builtins.
    return sorted(
        name for name in dir(_kernels)
        if not name.startswith("_")
        and callable(getattr(_kernels, name))
        and not isinstance(getattr(_kernels, name), type)
    )


def instrument(timings):
    """Replace each kernel by a timed wrapper; return a function that restores them.

    The network calls the kernels as ``_kernels.name(...)``, so the wrappers
    are seen by models built afterwards as well as before.
    """
    originals = {name: getattr(_kernels, name) for name in kernel_names()}
    for name, fn in originals.items():

        def timed(*args, _fn=fn, _name=name, **kwargs):
            t0 = time.perf_counter()
            try:
                return _fn(*args, **kwargs)
            finally:
                timings[_name] += time.perf_counter() - t0

        setattr(_kernels, name, timed)

    def restore():
        for name, fn in originals.items():
            setattr(_kernels, name, fn)

    return restore


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_arguments(parser)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--n-jobs", type=int, default=None)
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--floor", action="store_true",
                        help="also measure the two-product floor, epochs without timers "
                             "and the two products alone (dense input)")
    parser.add_argument("--floor-repeat", type=int, default=10)
    args = parser.parse_args(argv)

    from sklearn_symnet import SymNetClassifier

    data = load_from_args(args, n_test=1)
    X, y = data.X_train, data.y_train
    clf = SymNetClassifier(hidden_layer_sizes=(args.hidden,), batch_size=args.batch_size,
                           random_state=0, n_jobs=args.n_jobs)
    classes = np.unique(y)
    floors, plain, products = [], [], []
    if args.floor:
        settle()
        floors.append(two_product_floor(X, args.hidden, repeat=args.floor_repeat,
                                        batch_size=args.batch_size))
    timings = Counter()
    epochs = []  # (total, timings) of every epoch after the first (warm-up)
    restore = instrument(timings)
    try:
        for e in range(args.epochs):
            timings.clear()
            settle()
            t0 = time.perf_counter()
            clf.partial_fit(X, y, classes=classes)
            total = time.perf_counter() - t0
            if e > 0 or args.epochs == 1:
                epochs.append((total, Counter(timings)))
    finally:
        restore()
    if args.floor:
        for _ in range(args.epochs):  # untimed epochs, taking turns with the products
            settle()
            t0 = time.perf_counter()
            clf.partial_fit(X, y)
            plain.append(time.perf_counter() - t0)
            settle()
            products.append(kernel_products(X, args.hidden, args.batch_size, args.n_jobs))
        settle()
        floors.append(two_product_floor(X, args.hidden, repeat=args.floor_repeat,
                                        batch_size=args.batch_size))
    print(f"last epoch: {total:.3f} s ({X.shape[0]} samples, {data.info['dataset']}, "
          f"scaling {data.info['scaling']}, {X.dtype}, hidden {args.hidden}, "
          f"batch {args.batch_size}, n_jobs {args.n_jobs})")
    for name, seconds in timings.most_common():
        print(f"  {name:<22} {seconds:7.4f} s")
    print(f"  {'(rest)':<22} {total - sum(timings.values()):7.4f} s")
    if args.floor:
        print_budget(epochs, plain, products, merge_floors(floors))
    return total, dict(timings)


def kernel_products(X, hidden, batch_size, n_jobs, seed=0):
    """Seconds of one epoch of the first layer's two products alone, done as
    the model's dense input does them (``_inputs.DenseGatherInput``: the
    kernels' ``gather_forward`` and ``Xb.T @ D``), on ``batch_size``
    shuffled rows at a time, with BLAS held to one thread and every thread
    ``n_jobs`` allows (the model's count on an idle machine), random ``W1``
    and ``D``."""
    from sklearn_symnet._inputs import DenseGatherInput
    from sklearn_symnet._threads import blas_single_thread, effective_n_threads, threads_for

    X = np.ascontiguousarray(X)
    n, d = X.shape
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((d, hidden)).astype(X.dtype)
    b = np.zeros(hidden, dtype=X.dtype)
    D = rng.standard_normal((batch_size, hidden)).astype(X.dtype)
    U = np.empty((batch_size, hidden), dtype=X.dtype)
    GW = np.empty((d, hidden), dtype=X.dtype)
    order = rng.permutation(n).astype(np.int64)
    source = DenseGatherInput(X, batch_size)
    n_threads = effective_n_threads(n_jobs)
    with blas_single_thread():
        t0 = time.perf_counter()
        for start in range(0, n, batch_size):
            rows = order[start: start + batch_size]
            m = rows.shape[0]
            nt = threads_for(m * d * hidden, n_threads)  # as the network does
            source.forward(rows, W, b, U[:m], nt)
            source.grad(rows, D[:m], GW, nt)
        return time.perf_counter() - t0


# the parts of an epoch, in the order they are added up against the floor
BUDGET = [
    ("products and gathers", ("gather_forward", "matmul", "compact_dense_forward",
                              "csr_forward", "csc_grad", "matmul_blocks")),
    ("adjustment and optimiser", ("adam_adjust", "adam_step", "sgd_step",
                                  "finish_gradient")),
    ("neurons, output error, reverse signals", ("rate_forward", "flux_forward",
                                                "output_error", "reverse_signal")),
    ("counts and column sums", ("count_zero_gains", "count_non_finite", "column_sums")),
]


def print_budget(epochs, plain, products, floor):
    """The parts of the profiled epochs (each part's median over the epochs
    after the first), added up, as multiples of the floor; then the epochs
    without timers and the products alone."""
    fl, mb = floor["seconds"], floor["minibatch_s"]
    print(f"floor (whole set, best of {floor['repeat']}): {fl:.4f} s; "
          f"NumPy on {floor['batch_size']}-row shuffled minibatches: {mb:.4f} s "
          f"({mb / fl:.2f}x the floor)")
    print(f"medians over {len(epochs)} profiled epochs, added up:")

    def median(names):
        return float(np.median([sum(t.get(n, 0.0) for n in names) for _, t in epochs]))

    grouped = {n for _, names in BUDGET for n in names}
    others = tuple(set().union(*(t for _, t in epochs)) - grouped)
    acc = 0.0
    for label, names in BUDGET + [("other kernels", others)]:
        acc += median(names)
        print(f"  + {label:<40} {acc:7.4f} s  {acc / fl:5.2f}x the floor")
    total = float(np.median([t for t, _ in epochs]))
    print(f"  = {'the profiled epoch (with its timers)':<40} {total:7.4f} s  "
          f"{total / fl:5.2f}x the floor")
    med, best = float(np.median(plain)), min(plain)
    print(f"epochs without timers: {', '.join(f'{t:.4f}' for t in plain)} s; "
          f"median {med / fl:.2f}x the floor ({med / mb:.2f}x the minibatch one), "
          f"best {best / fl:.2f}x ({best / mb:.2f}x)")
    pm, pb = float(np.median(products)), min(products)
    print(f"the two products alone, as the dense input does them, taking turns with those "
          f"epochs: {', '.join(f'{t:.4f}' for t in products)} s; median {pm / fl:.2f}x the "
          f"floor, best {pb / fl:.2f}x; the epoch's median is {med / pm:.2f}x theirs")
    return {"floor_s": fl, "minibatch_floor_s": mb, "epoch_median_s": med,
            "epoch_best_s": best, "products_median_s": pm, "products_best_s": pb}


if __name__ == "__main__":
    main()
