"""The kernels' BLAS against NumPy's, on the products of a 784-100-10 minibatch.

The kernels call BLAS through ``scipy.linalg.cython_blas``, so they run on the
OpenBLAS that SciPy's wheel bundles; issue 12's floor (``two_product_floor``
in ``_bench_measure.py``) and MLPClassifier run on the one NumPy's wheel
bundles. The two can be different builds. This script times, single-threaded
and best of ``--repeat``, the shapes a minibatch of 128 rows multiplies
(each thread's half of the split forward product ``Xb[:, half] @ W1[half]``,
the whole forward product, a row block of the adjustment ``Xb.T @ D`` and the
hidden-to-output product), once through NumPy (``np.matmul`` under
``threadpoolctl``'s limit of one thread) and once through the kernels'
``matmul`` with one thread, in float64 and float32, and prints both libraries'
versions and the ratio.

Run::

    python benchmarks/diagnose_blas.py [--repeat 5] [--number 2000]
"""

import argparse
import sys
import timeit
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

try:
    import sklearn_symnet  # noqa: F401
except ImportError:  # running from a source checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sklearn_symnet import _kernels

# (rows, inner, columns) of C = A @ B, and what they are in a minibatch
SHAPES = [
    ((128, 392, 100), "forward, one thread's half of the split product"),
    ((128, 784, 100), "forward, the whole product"),
    ((392, 128, 100), "adjustment Xb.T @ D, one thread's row block"),
    ((128, 100, 10), "hidden to output"),
]


def blas_libraries():
    """(file, version, architecture) of each BLAS threadpoolctl sees."""
    return [(p["filepath"].rsplit("/", 1)[-1], p.get("version"), p.get("architecture"))
            for p in threadpool_info() if p.get("user_api") == "blas"]


def time_shapes(dtype, repeat, number, seed=0):
    """Rows of (shape, label, NumPy µs, kernels µs) for ``dtype``."""
    rng = np.random.default_rng(seed)
    rows = []
    for (m, k, n), label in SHAPES:
        A = rng.standard_normal((m, k)).astype(dtype)
        B = rng.standard_normal((k, n)).astype(dtype)
        C = np.empty((m, n), dtype=dtype)
        def with_numpy(A=A, B=B, C=C):
            np.matmul(A, B, out=C)

        def with_kernels(A=A, B=B, C=C):
            _kernels.matmul(A, False, B, False, C, 1.0, 0.0, 1)

        with threadpool_limits(1, user_api="blas"):
            t_np = min(timeit.repeat(with_numpy, number=number, repeat=repeat)) / number
            t_k = min(timeit.repeat(with_kernels, number=number, repeat=repeat)) / number
        np.testing.assert_allclose(C, A @ B, rtol=1e-4 if dtype == np.float32 else 1e-12,
                                   atol=1e-3 if dtype == np.float32 else 1e-10)
        rows.append(((m, k, n), label, t_np * 1e6, t_k * 1e6))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--number", type=int, default=2000)
    args = parser.parse_args(argv)
    for name, version, arch in blas_libraries():
        print(f"BLAS: {name} {version} ({arch})")
    results = {}
    for dtype in (np.float64, np.float32):
        rows = time_shapes(dtype, args.repeat, args.number)
        results[np.dtype(dtype).name] = rows
        print(f"\n{np.dtype(dtype).name}, one thread, best of {args.repeat} x {args.number}:")
        print(f"  {'shape (m, k, n)':<16} {'NumPy us':>9} {'kernels us':>11} {'ratio':>6}  what")
        for shape, label, t_np, t_k in rows:
            print(f"  {str(shape):<16} {t_np:9.1f} {t_k:11.1f} {t_k / t_np:6.2f}  {label}")
    return results


if __name__ == "__main__":
    main()
