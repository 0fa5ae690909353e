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
import warnings
from pathlib import Path

import numpy as np
from _bench_data import add_data_arguments, load_from_args, run_header  # this folder
from diagnose_predict_path import FORCE, sweep, time_paths  # this folder

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

    X, y, _, _ = load_from_args(args)
    X = np.ascontiguousarray(X)
    classes = np.unique(y)
    print(run_header("diagnose_train_path.py", argv))
    print(f"# {X.shape[0]} training rows, {X.dtype}, batch 128, median of {args.epochs} "
          f"epochs after one, pause {args.pause} s")

    def epoch(model, Xd, **kw):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.partial_fit(Xd, y, **kw)

    def time_both(width, Xd, force):
        models = {}
        for p in FORCE:  # one model per path, its first epoch untimed
            force(p)
            models[p] = SymNetClassifier(hidden_layer_sizes=(width,), random_state=0)
            epoch(models[p], Xd, classes=classes)
        return time_paths(lambda p: epoch(models[p], Xd), force, args.epochs, args.pause)

    return sweep(X, [int(w) for w in args.widths.split(",")],
                 [float(d) for d in args.densities.split(",")], "TRAIN_SKIP_DENSITY",
                 time_both, "s", 3, cap=_inputs.SKIP_ZEROS_MAX_DENSITY)


if __name__ == "__main__":
    main()
