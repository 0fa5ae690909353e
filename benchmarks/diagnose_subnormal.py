"""Subnormal numbers in the optimiser: how many, and what an Adam step costs.

Fits ``SymNetClassifier`` (784-100-10, batch 128, float32) on standardized
MNIST for ``--epochs`` epochs, times every call of the fused Adam kernel
(``_kernels.adam_adjust``), and every 100 steps counts the subnormal entries of
the first and second moments and of the gradient.  Prints the median step
time per epoch and the counts.  Without the flush (before
``sklearn_symnet/_fpenv.h``) the first moments of rarely lit pixels turned
subnormal from the third epoch on and the median step doubled.

Run::

    python benchmarks/diagnose_subnormal.py --data path/to/mnist.npz [--epochs 3]
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.preprocessing import StandardScaler

try:
    import sklearn_symnet  # noqa: F401
except ImportError:  # running from a source checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sklearn_symnet import SymNetClassifier, _kernels


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="MNIST .npz")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args(argv)
    d = np.load(args.data)
    X = d["x_train"].reshape(len(d["x_train"]), -1) / 255.0
    X = StandardScaler().fit_transform(X).astype(np.float32)
    tiny = np.finfo(np.float32).tiny
    original = _kernels.adam_adjust
    times, counts = [], []

    def subnormal(a):
        return int(np.count_nonzero((a != 0) & (np.abs(a) < tiny)))

    def timed(param, grad, m1, m2, *rest):
        t = time.perf_counter()
        out = original(param, grad, m1, m2, *rest)
        times.append(time.perf_counter() - t)
        if len(times) % 100 == 0:
            counts.append((len(times), subnormal(m1), subnormal(m2), subnormal(grad)))
        return out

    _kernels.adam_adjust = timed
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            SymNetClassifier(hidden_layer_sizes=(100,), batch_size=128,
                             max_iter=args.epochs, random_state=0).fit(X, d["y_train"])
    finally:
        _kernels.adam_adjust = original
    steps = int(np.ceil(X.shape[0] / 128))
    us = np.array(times) * 1e6
    for e in range(args.epochs):
        print(f"epoch {e + 1}: median Adam step {np.median(us[e * steps:(e + 1) * steps]):.1f} us")
    print("step, subnormal entries of m1, m2, grad:")
    for c in counts:
        print("  ", *c)


if __name__ == "__main__":
    main()
