"""The measurements behind SymNetClassifier's defaults (docs/choices.md).

Each configuration changes one thing from the defaults and is scored on

* digits: ``load_digits`` X / 16, stratified 75/25 split (random_state=0), default
  ``max_iter=200``, seeds 0, 1, 2 -> test accuracy of each and the mean;
* MNIST (only with ``--data``, or ``--openml``): 784-100-10, batch 128, 10 epochs of
  ``partial_fit``, seed 0 -> test accuracy after epoch 10.

Run::

    python benchmarks/tune_defaults.py [--data path/to/mnist.npz] [--out DIR]
"""

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from _bench_data import load_dataset  # this folder (the benchmarks' one MNIST loader)
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

try:
    from sklearn_symnet import SymNetClassifier
except ImportError:  # running from a source checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from sklearn_symnet import SymNetClassifier

CONFIGS = [
    {},
    {"K1": 0.8, "K2": 0.5},
    {"output_scale": 2.0},
    {"output_scale": 8.0},
    {"learning_rate_init": 1e-3},
    {"alpha": 1e-3},
    {"alpha": 0.0},
    {"output_element": 0},
    {"coupling": "flux"},
    {"coupling": "flux", "output_scale": 4.0},
    {"learning_rate_init": 5e-3, "learning_rate_decay": 0.75, "decay_steps": None},
    {"learning_rate_init": 5e-3, "learning_rate_decay": 0.75, "decay_steps": None,
     "output_scale": 2.0},
]


def digits_scores(params, seeds=(0, 1, 2)):
    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(
        X / 16.0, y, test_size=0.25, stratify=y, random_state=0
    )
    scores = []
    for seed in seeds:
        clf = SymNetClassifier(random_state=seed, **params).fit(X_tr, y_tr)
        scores.append(clf.score(X_te, y_te))
    return scores


def load_mnist(path):
    """MNIST /255 from ``path`` (or OpenML when None) through the shared loader."""
    return tuple(load_dataset("mnist", path))


def mnist_score(params, data, epochs=10, seed=0):
    X, y, X_te, y_te = data
    clf = SymNetClassifier(hidden_layer_sizes=(100,), batch_size=128, random_state=seed,
                           **params)
    for _ in range(epochs):
        clf.partial_fit(X, y, classes=np.arange(10))
    return clf.score(X_te, y_te)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="MNIST .npz (x_train, y_train, x_test, y_test)")
    parser.add_argument("--openml", action="store_true", help="fetch MNIST from OpenML")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--quick", action="store_true", help="first two configs, one seed")
    args = parser.parse_args(argv)
    configs = CONFIGS[:2] if args.quick else CONFIGS
    seeds = (0,) if args.quick else (0, 1, 2)
    mnist = load_mnist(args.data) if (args.data or args.openml) else None

    rows = []
    print(f"{'change from the defaults':<58} {'digits (seeds)':<24} {'mean':>6} {'MNIST@10':>8}")
    for params in configs:
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            dig = digits_scores(params, seeds)
            mn = mnist_score(params, mnist) if mnist is not None else None
        rows.append({"params": params, "digits": dig, "digits_mean": float(np.mean(dig)),
                     "mnist_epoch10": mn, "seconds": time.perf_counter() - t0})
        label = ", ".join(f"{k}={v}" for k, v in params.items()) or "(defaults)"
        mn_text = f"{mn:8.4f}" if mn is not None else "       -"
        print(f"{label:<58} {' '.join(f'{s:.4f}' for s in dig):<24} "
              f"{np.mean(dig):6.4f} {mn_text}", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "tune_defaults.json"
    path.write_text(json.dumps({"command": sys.argv, "rows": rows}, indent=1))
    print(f"saved {path}")
    return rows


if __name__ == "__main__":
    main()
