"""Which first-layer path should prediction take on mostly-zero dense rows?

Times ``SymNetClassifier.predict`` on the test rows through each of the two
first-layer paths, forced: the zero-skipping kernels (compaction of every
row, then a product over the non-zeros) and the fused BLAS pass
(``_kernels.predict_dense``), with the test rows thinned (non-zeros set to
zero at random) or filled (zeros set to 0.5) to each density of
``--densities``, for each first-layer width of ``--widths`` (a model fitted
for one epoch on ``--n-fit`` training rows; the time does not depend on the
fit). Each call follows a pause of ``--pause`` seconds, the two paths in
turn; medians over ``--calls`` calls, in milliseconds. The break-even
density (linear between the measured ones) is printed beside what the
shipped rule (``_inputs.PREDICT_SKIP_DENSITY``: skip zeros at densities up
to ``a * (1 - w0 / width)``) gives for the width.

Run::

    python benchmarks/diagnose_predict_path.py --data path/to/mnist.npz \\
        --dtype float32 [--widths 100,400] [--calls 15] [--pause 0.1]
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

from sklearn_symnet import SymNetClassifier, _inputs

DENSITIES = "0.02,0.05,0.1,0.19,0.3,0.45"


def at_density(X, density, rng):
    """``X`` with its non-zeros thinned, or its zeros filled with 0.5, to about
    ``density`` non-zeros."""
    X = X.copy()
    nz = X != 0
    current = nz.mean()
    if density < current:
        X[nz & (rng.random(X.shape) > density / current)] = 0
    else:
        X[~nz & (rng.random(X.shape) < (density - current) / (1 - current))] = 0.5
    return X


def break_even(densities, skip, blas):
    """The density where the zero-skipping time meets the BLAS time (linear
    between measured points), '<' the lowest or '>' the highest if none."""
    diff = np.asarray(skip) - np.asarray(blas)
    if diff[0] >= 0:
        return f"< {densities[0]:.3f}"
    for i in range(1, len(diff)):
        if diff[i] >= 0:
            t = -diff[i - 1] / (diff[i] - diff[i - 1])
            return f"{densities[i - 1] + t * (densities[i] - densities[i - 1]):.3f}"
    return f"> {densities[-1]:.3f}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_arguments(parser)
    parser.add_argument("--widths", default="100,400")
    parser.add_argument("--densities", default=DENSITIES)
    parser.add_argument("--n-fit", type=int, default=10000)
    parser.add_argument("--calls", type=int, default=15)
    parser.add_argument("--pause", type=float, default=0.1)
    args = parser.parse_args(argv)
    widths = [int(w) for w in args.widths.split(",")]
    densities = [float(d) for d in args.densities.split(",")]

    X, y, X_test, _ = load_from_args(args)
    X_test = np.ascontiguousarray(X_test)
    dtype = X_test.dtype
    print(run_header("diagnose_predict_path.py", argv))
    print(f"# {X_test.shape[0]} test rows, {dtype}, {args.calls} calls, pause {args.pause} s")
    shipped = dict(_inputs.PREDICT_SKIP_DENSITY)
    key = np.dtype(dtype).str[1:]
    rows = []
    try:
        for width in widths:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = SymNetClassifier(hidden_layer_sizes=(width,), max_iter=1,
                                         random_state=0).fit(X[:args.n_fit], y[:args.n_fit])
            rng = np.random.default_rng(0)
            print(f"\n## width {width}\n| density | zero skipping ms | BLAS ms | faster |")
            print("|---|---|---|---|")
            skip_ms, blas_ms, actual = [], [], []
            for density in densities:
                Xd = at_density(X_test, density, rng)
                actual.append(float((Xd != 0).mean()))
                paths = {"skip": {k: (1.0, 0.0) for k in shipped},
                         "blas": {k: (-1.0, 0.0) for k in shipped}}
                times = {p: [] for p in paths}
                for _ in range(args.calls):
                    for p, rule in paths.items():
                        _inputs.PREDICT_SKIP_DENSITY = rule
                        time.sleep(args.pause)
                        t = time.perf_counter()
                        model.predict(Xd)
                        times[p].append(1e3 * (time.perf_counter() - t))
                s, b = np.median(times["skip"]), np.median(times["blas"])
                skip_ms.append(s)
                blas_ms.append(b)
                print(f"| {actual[-1]:.3f} | {s:.2f} | {b:.2f} | "
                      f"{'zero skipping' if s < b else 'BLAS'} |")
            a, w0 = shipped[key]
            rule = max(a * (1 - w0 / width), 0.0)
            even = break_even(actual, skip_ms, blas_ms)
            print(f"break-even density {even}; the shipped rule skips zeros up to {rule:.3f}")
            rows.append((width, even, rule))
    finally:
        _inputs.PREDICT_SKIP_DENSITY = shipped
    return rows


if __name__ == "__main__":
    main()
