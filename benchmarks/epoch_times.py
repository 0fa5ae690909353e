"""SymNet's epoch times alone: for comparing two builds of the kernels.

Trains ``SymNetClassifier`` (defaults, batch 128, ``random_state=0``) with
one ``partial_fit`` call per epoch on a case of the shared loader
(``_bench_data.py``), each call after ``--pause`` seconds, and prints every
epoch's seconds and the median of all but the first.  The header names the
``sklearn_symnet`` it imported, so running it alternately with ``PYTHONPATH``
pointing at two builds (e.g. a worktree of an older commit) compares them in
one sitting::

    python benchmarks/epoch_times.py --data path/to/mnist.npz --standardize [--epochs 7]
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

from sklearn_symnet import SymNetClassifier


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_arguments(parser)
    parser.add_argument("--epochs", type=int, default=7)
    parser.add_argument("--pause", type=float, default=0.2)
    args = parser.parse_args(argv)
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the first is not counted)")
    X, y, _, _ = load_from_args(args)
    print(run_header("epoch_times.py", argv))
    model = SymNetClassifier(batch_size=128, random_state=0)
    classes = np.unique(y)
    seconds = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(args.epochs):
            time.sleep(args.pause)
            t = time.perf_counter()
            model.partial_fit(X, y, classes=classes)
            seconds.append(time.perf_counter() - t)
    median = float(np.median(seconds[1:]))
    print(f"# {X.shape[0]} rows x {X.shape[1]}, {X.dtype}; epochs (s): "
          + " ".join(f"{s:.3f}" for s in seconds) + f"; median of epochs 2..: {median:.3f}")
    return seconds, median


if __name__ == "__main__":
    main()
