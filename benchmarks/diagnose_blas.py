"""The kernels' BLAS against NumPy's, on the products of a 784-100-10 minibatch.

The kernels call BLAS through ``scipy.linalg.cython_blas``, so they run on the
OpenBLAS that SciPy's wheel bundles; issue 12's floor (``two_product_floor``
in ``_bench_measure.py``) and MLPClassifier run on the one NumPy's wheel
bundles. The two can be different builds. This script times, single-threaded
and best of ``--repeat``, the shapes a minibatch of 128 rows multiplies
(each thread's half of the split forward product ``Xb[:, half] @ W1[half]``,
the whole forward product, a thread's row block of the adjustment
``Xb.T @ D`` and the hidden-to-output product), each as one BLAS call under
``threadpoolctl``'s limit of one thread, through NumPy (``np.matmul``) and
through SciPy's BLAS, in float64 and float32, and prints both libraries'
versions and the ratio.

Run::

    python benchmarks/diagnose_blas.py [--repeat 5] [--number 2000]
"""

import argparse
import timeit

import numpy as np
from _bench_data import threadpools  # this folder
from scipy.linalg import blas
from threadpoolctl import threadpool_limits

# (rows, inner, columns) of C = A @ B, and what they are in a minibatch
SHAPES = [
    ((128, 392, 100), "forward, one thread's half of the split product"),
    ((128, 784, 100), "forward, the whole product"),
    ((392, 128, 100), "the shape of one thread's row block of Xb.T @ D (untransposed)"),
    ((128, 100, 10), "hidden to output"),
]


def blas_libraries():
    """(file, version, architecture) of each BLAS threadpoolctl sees."""
    return [(p["filepath"].rsplit("/", 1)[-1], p.get("version"), p.get("architecture"))
            for p in threadpools() if p.get("user_api") == "blas"]


def time_shapes(dtype, repeat, number, seed=0):
    """Rows of (shape, label, NumPy µs, SciPy's BLAS µs) for ``dtype``.

    SciPy's side is ``scipy.linalg.blas``'s ``?gemm`` (the library
    ``scipy.linalg.cython_blas`` resolves to, so the one the kernels call),
    given the transposed operands and a Fortran-ordered output to overwrite:
    one BLAS call, the same column-major product the kernels ask for
    (``C.T = B.T @ A.T``), no copy.
    """
    rng = np.random.default_rng(seed)
    gemm = blas.dgemm if np.dtype(dtype) == np.float64 else blas.sgemm
    rows = []
    for (m, k, n), label in SHAPES:
        A = rng.standard_normal((m, k)).astype(dtype)
        B = rng.standard_normal((k, n)).astype(dtype)
        C = np.empty((m, n), dtype=dtype)
        CT = np.empty((n, m), dtype=dtype, order="F")

        def with_numpy(A=A, B=B, C=C):
            np.matmul(A, B, out=C)

        def with_scipy(A=A, B=B, CT=CT):
            gemm(1.0, B.T, A.T, c=CT, overwrite_c=True)

        with threadpool_limits(1, user_api="blas"):
            t_np = min(timeit.repeat(with_numpy, number=number, repeat=repeat)) / number
            t_sp = min(timeit.repeat(with_scipy, number=number, repeat=repeat)) / number
        tol = {"rtol": 1e-4, "atol": 1e-3} if dtype == np.float32 else {"rtol": 1e-12}
        np.testing.assert_allclose(CT.T, C, **tol)  # both wrote A @ B
        rows.append(((m, k, n), label, t_np * 1e6, t_sp * 1e6))
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
        print(f"  {'shape (m, k, n)':<16} {'NumPy us':>9} {'SciPy us':>9} {'ratio':>6}  what")
        for shape, label, t_np, t_sp in rows:
            print(f"  {str(shape):<16} {t_np:9.1f} {t_sp:9.1f} {t_sp / t_np:6.2f}  {label}")
    return results


if __name__ == "__main__":
    main()
