"""Where one SymNet training epoch spends its time, kernel by kernel.

Wraps every function of the compiled ``sklearn_symnet._kernels`` with a timer
(restored afterwards), runs ``partial_fit`` epochs on a case of the shared
loader (``_bench_data.py``: MNIST /255 from ``--data PATH`` or OpenML,
``--standardize`` for dense MNIST, ``--dataset synthetic``) and prints the
time per kernel of the last epoch, plus the rest (Python and NumPy between
kernel calls). Only calls from Python are seen: work a kernel does inside
another kernel counts for the outer one.

Run::

    python benchmarks/profile_epoch.py --data path/to/mnist.npz [--epochs 2] [--n-jobs 2]
    python benchmarks/profile_epoch.py --data path/to/mnist.npz --standardize --dtype float32
"""

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
from _bench_data import add_data_arguments, load_from_args  # this folder

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
    args = parser.parse_args(argv)

    from sklearn_symnet import SymNetClassifier

    data = load_from_args(args, n_test=1)
    X, y = data.X_train, data.y_train
    clf = SymNetClassifier(hidden_layer_sizes=(args.hidden,), batch_size=args.batch_size,
                           random_state=0, n_jobs=args.n_jobs)
    timings = Counter()
    restore = instrument(timings)
    try:
        for _ in range(args.epochs):
            timings.clear()
            t0 = time.perf_counter()
            clf.partial_fit(X, y, classes=np.unique(y))
            total = time.perf_counter() - t0
    finally:
        restore()
    print(f"last epoch: {total:.3f} s ({X.shape[0]} samples, {data.info['dataset']}, "
          f"scaling {data.info['scaling']}, {X.dtype}, hidden {args.hidden}, "
          f"batch {args.batch_size}, n_jobs {args.n_jobs})")
    for name, seconds in timings.most_common():
        print(f"  {name:<22} {seconds:7.4f} s")
    print(f"  {'(rest)':<22} {total - sum(timings.values()):7.4f} s")
    return total, dict(timings)


if __name__ == "__main__":
    main()
