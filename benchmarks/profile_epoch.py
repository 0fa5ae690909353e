"""Where one SymNet training epoch spends its time, kernel by kernel.

Wraps every compiled kernel with a timer, runs ``partial_fit`` epochs on MNIST
(or any npz with x_train/y_train) and prints the time per kernel of the last
epoch, plus the rest (Python and NumPy between kernel calls).

Run::

    python benchmarks/profile_epoch.py --data path/to/mnist.npz [--epochs 2] [--n-jobs 2]
"""

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

try:
    from sklearn_symnet import _kernels
except ImportError:  # running from a source checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from sklearn_symnet import _kernels

KERNELS = [
    "compact_dense_forward", "compact_csr", "csr_forward", "csr_to_csc", "csc_grad",
    "rate_forward", "flux_forward", "matmul", "output_error", "reverse_signal",
    "column_sums", "finish_gradient", "adam_step", "sgd_step", "bound_coefficients",
    "bound_chain",
]


def instrument(timings):
    """Replace each kernel by a timed wrapper (before the network imports them)."""
    for name in KERNELS:
        fn = getattr(_kernels, name)

        def timed(*args, _fn=fn, _name=name):
            t0 = time.perf_counter()
            out = _fn(*args)
            timings[_name] += time.perf_counter() - t0
            return out

        setattr(_kernels, name, timed)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--n-jobs", type=int, default=None)
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--n-train", type=int, default=None)
    args = parser.parse_args(argv)

    timings = Counter()
    instrument(timings)
    from sklearn_symnet import SymNetClassifier

    d = np.load(args.data)
    X = d["x_train"].reshape(len(d["x_train"]), -1)[: args.n_train] / 255.0
    y = d["y_train"][: args.n_train]
    clf = SymNetClassifier(hidden_layer_sizes=(args.hidden,), batch_size=args.batch_size,
                           random_state=0, n_jobs=args.n_jobs)
    for _ in range(args.epochs):
        timings.clear()
        t0 = time.perf_counter()
        clf.partial_fit(X, y, classes=np.unique(y))
        total = time.perf_counter() - t0
    print(f"last epoch: {total:.3f} s ({X.shape[0]} samples, hidden {args.hidden}, "
          f"batch {args.batch_size}, n_jobs {args.n_jobs})")
    for name, seconds in timings.most_common():
        print(f"  {name:<22} {seconds:7.4f} s")
    print(f"  {'(rest)':<22} {total - sum(timings.values()):7.4f} s")
    return total, dict(timings)


if __name__ == "__main__":
    main()
