"""Which first-layer path should training take on mostly-zero dense rows?

The training counterpart of ``diagnose_predict_path.py``: times one training
epoch (one ``partial_fit`` call over ``--n-train`` MNIST rows, batch 128)
through each first-layer path, forced: the zero-skipping kernels (each
minibatch compacted to its non-zeros; the forward product and the
coefficient adjustment's both skip them) and gather + BLAS. The training rows
are thinned (non-zeros set to zero at random) or filled (zeros set to 0.5) to
each density of ``--densities``, for each first-layer width of ``--widths``.
One model per path, trained in turn, epoch by epoch, each epoch after a pause
of ``--pause`` seconds; medians over ``--epochs`` epochs after one untimed
epoch, in seconds. The break-even density (linear between the measured ones)
is printed beside what the shipped rule (``_inputs.TRAIN_SKIP_DENSITY``) gives
for the width.

Run::

    python benchmarks/diagnose_train_path.py --data path/to/mnist.npz \\
        --dtype float32 [--widths 32,100,400] [--n-train 20000] [--epochs 3]
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from _bench_data import add_data_arguments, load_from_args, run_header  # this folder
from diagnose_predict_path import at_density, break_even  # this folder

try:
    import sklearn_symnet  # noqa: F401
except ImportError:  # running from a source checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sklearn_symnet import SymNetClassifier, _inputs

DENSITIES = "0.05,0.1,0.19,0.3,0.45"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_arguments(parser, n_train=20000)
    parser.add_argument("--widths", default="32,100,400")
    parser.add_argument("--densities", default=DENSITIES)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--pause", type=float, default=0.2)
    args = parser.parse_args(argv)
    widths = [int(w) for w in args.widths.split(",")]
    densities = [float(d) for d in args.densities.split(",")]

    X, y, _, _ = load_from_args(args)
    X = np.ascontiguousarray(X)
    classes = np.unique(y)
    dtype = X.dtype
    print(run_header("diagnose_train_path.py", argv))
    print(f"# {X.shape[0]} training rows, {dtype}, batch 128, median of {args.epochs} "
          f"epochs after one, pause {args.pause} s")
    shipped = dict(_inputs.TRAIN_SKIP_DENSITY)
    key = np.dtype(dtype).str[1:]
    forced = {"skip": {k: (1.0, 0.0) for k in shipped},
              "blas": {k: (-1.0, 0.0) for k in shipped}}
    rows = []
    try:
        for width in widths:
            rng = np.random.default_rng(0)
            print(f"\n## width {width}\n| density | zero skipping s | BLAS s | faster |")
            print("|---|---|---|---|")
            skip_s, blas_s, actual = [], [], []
            for density in densities:
                Xd = at_density(X, density, rng)
                actual.append(float((Xd != 0).mean()))
                models = {}
                for p, rule in forced.items():
                    _inputs.TRAIN_SKIP_DENSITY = rule
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        models[p] = SymNetClassifier(hidden_layer_sizes=(width,),
                                                     random_state=0)
                        models[p].partial_fit(Xd, y, classes=classes)
                times = {p: [] for p in forced}
                for _ in range(args.epochs):
                    for p, rule in forced.items():
                        _inputs.TRAIN_SKIP_DENSITY = rule
                        time.sleep(args.pause)
                        t = time.perf_counter()
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            models[p].partial_fit(Xd, y)
                        times[p].append(time.perf_counter() - t)
                s, b = np.median(times["skip"]), np.median(times["blas"])
                skip_s.append(s)
                blas_s.append(b)
                print(f"| {actual[-1]:.3f} | {s:.3f} | {b:.3f} | "
                      f"{'zero skipping' if s < b else 'BLAS'} |", flush=True)
            a, w0 = shipped[key]
            rule = min(max(a * (1 - w0 / width), 0.0), _inputs.SKIP_ZEROS_MAX_DENSITY)
            even = break_even(actual, skip_s, blas_s)
            print(f"break-even density {even}; the shipped rule skips zeros up to {rule:.3f}")
            rows.append((width, even, rule))
    finally:
        _inputs.TRAIN_SKIP_DENSITY = shipped
    return rows


if __name__ == "__main__":
    main()
