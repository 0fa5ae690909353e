"""Digits at a large Adam step over many seeds, one split: how much of a seed's
result is luck (issue 9's lr 0.3 case; docs/model.md section 3b, "the fifth round").

The README job's split (digits /16, stratified 75/25, ``random_state=0``); only the
model's seed changes.  Prints each seed's test accuracy, the mean, the median and the
number of seeds below 0.9.

    python benchmarks/lr_seeds.py --lr 0.3 --seeds 10:40
"""

import argparse
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from sklearn_symnet import SymNetClassifier


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lr", type=float, default=0.3)
    parser.add_argument("--seeds", default="10:40", help="start:stop (default 10:40)")
    args = parser.parse_args(argv)
    start, stop = (int(v) for v in args.seeds.split(":"))
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X / 16, y, test_size=0.25, stratify=y,
                                          random_state=0)
    scores = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for seed in range(start, stop):
            model = SymNetClassifier(learning_rate_init=args.lr, random_state=seed)
            scores.append(model.fit(Xtr, ytr).score(Xte, yte))
    scores = np.array(scores)
    print(" ".join(f"{s:.3f}" for s in scores))
    print(f"lr {args.lr}, seeds {start}..{stop - 1}: mean {scores.mean():.4f}, "
          f"median {np.median(scores):.4f}, below 0.9: {int((scores < 0.9).sum())}")


if __name__ == "__main__":
    main()
