"""SymNet vs. MLPClassifier on the digits data set (the README's main job).

Both models get the same stratified 75/25 split of ``load_digits`` (pixels
scaled to [0, 1]), the same hidden width, batch size, epochs and seed.  The
script prints test accuracy and fit time of each and saves their training
loss curves as ``compare_digits.png``.

Run::

    python examples/plot_compare_digits.py [--out DIR] [--hidden 100] [--epochs 200]
"""

import argparse
import time
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402

from sklearn_symnet import SymNetClassifier  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).parent))
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="a few epochs only")
    args = parser.parse_args(argv)
    epochs = 5 if args.quick else args.epochs

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    X_tr, X_te, y_tr, y_te = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=args.seed
    )
    common = dict(
        hidden_layer_sizes=(args.hidden,), max_iter=epochs, random_state=args.seed
    )
    models = {
        "SymNet (rate)": SymNetClassifier(**common),
        "SymNet (flux)": SymNetClassifier(coupling="flux", **common),
        "MLPClassifier": MLPClassifier(**common),
    }
    rows = []
    for name, model in models.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            t0 = time.perf_counter()
            model.fit(X_tr, y_tr)
            fit_s = time.perf_counter() - t0
        acc = model.score(X_te, y_te)
        rows.append((name, acc, fit_s, model.n_iter_, model.loss_curve_))

    print(f"load_digits, {X_tr.shape[0]} train / {X_te.shape[0]} test, "
          f"hidden={args.hidden}, max_iter={epochs}, seed={args.seed}")
    print(f"{'model':<16} {'test acc':>8} {'fit s':>7} {'epochs':>6} {'s/epoch':>8}")
    for name, acc, fit_s, n_iter, _ in rows:
        print(f"{name:<16} {acc:8.4f} {fit_s:7.2f} {n_iter:6d} {fit_s / n_iter:8.4f}")

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, acc, fit_s, _n_iter, curve in rows:
        ax.plot(np.arange(1, len(curve) + 1), curve,
                label=f"{name}: test acc {acc:.3f}, fit {fit_s:.2f} s")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss (log-loss + L2)")
    ax.set_title(f"load_digits: SymNet vs MLPClassifier, {args.hidden} hidden neurons")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "compare_digits.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"saved {path}")
    return rows


if __name__ == "__main__":
    main()
