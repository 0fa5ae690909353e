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


# the rules that force one path at any width and density
FORCE = {"skip": (1.0, 0.0), "blas": (-1.0, 0.0)}


def time_paths(run, force, calls, pause, scale=1.0):
    """Medians of ``calls`` timings of ``run(path)`` for the zero-skipping and
    the BLAS path in turn, each forced (``force(path)``) and after ``pause``
    seconds; times multiplied by ``scale``."""
    times = {p: [] for p in FORCE}
    for _ in range(calls):
        for p in FORCE:
            force(p)
            time.sleep(pause)
            t = time.perf_counter()
            run(p)
            times[p].append(scale * (time.perf_counter() - t))
    return np.median(times["skip"]), np.median(times["blas"])


def sweep(X, widths, densities, rules, time_both, unit, digits, cap=None):
    """The sweep both path diagnostics run: for each width, ``X`` thinned or
    filled to each density, the two paths' times from ``time_both(width, Xd,
    force)`` (``force(path)`` makes ``_inputs.<rules>`` pick that path), a
    table per width, the break-even density and the shipped rule's limit
    (``_inputs.skip_limit``, at least 0, at most ``cap``).  Restores the
    shipped rule; returns ``(width, break-even, limit)`` per width."""
    shipped = dict(getattr(_inputs, rules))

    def force(path):
        setattr(_inputs, rules, {k: FORCE[path] for k in shipped})

    rows = []
    try:
        for width in widths:
            rng = np.random.default_rng(0)
            print(f"\n## width {width}\n| density | zero skipping {unit} | BLAS {unit} | faster |")
            print("|---|---|---|---|")
            skip_t, blas_t, actual = [], [], []
            for density in densities:
                Xd = at_density(X, density, rng)
                actual.append(float((Xd != 0).mean()))
                s, b = time_both(width, Xd, force)
                skip_t.append(s)
                blas_t.append(b)
                print(f"| {actual[-1]:.3f} | {s:.{digits}f} | {b:.{digits}f} | "
                      f"{'zero skipping' if s < b else 'BLAS'} |", flush=True)
            limit = max(_inputs.skip_limit(shipped, X.dtype, width), 0.0)
            if cap is not None:
                limit = min(limit, cap)
            even = break_even(actual, skip_t, blas_t)
            print(f"break-even density {even}; the shipped rule skips zeros up to {limit:.3f}")
            rows.append((width, even, limit))
    finally:
        setattr(_inputs, rules, shipped)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_arguments(parser)
    parser.add_argument("--widths", default="100,400")
    parser.add_argument("--densities", default=DENSITIES)
    parser.add_argument("--n-fit", type=int, default=10000)
    parser.add_argument("--calls", type=int, default=15)
    parser.add_argument("--pause", type=float, default=0.1)
    args = parser.parse_args(argv)

    X, y, X_test, _ = load_from_args(args)
    X_test = np.ascontiguousarray(X_test)
    print(run_header("diagnose_predict_path.py", argv))
    print(f"# {X_test.shape[0]} test rows, {X_test.dtype}, {args.calls} calls, "
          f"pause {args.pause} s")
    models = {}

    def time_both(width, Xd, force):
        if width not in models:  # one model per width (the time does not depend on it)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                models[width] = SymNetClassifier(hidden_layer_sizes=(width,), max_iter=1,
                                                 random_state=0).fit(X[:args.n_fit],
                                                                     y[:args.n_fit])
        return time_paths(lambda p: models[width].predict(Xd), force, args.calls, args.pause,
                          scale=1e3)

    return sweep(X_test, [int(w) for w in args.widths.split(",")],
                 [float(d) for d in args.densities.split(",")], "PREDICT_SKIP_DENSITY",
                 time_both, "ms", 2)


if __name__ == "__main__":
    main()
