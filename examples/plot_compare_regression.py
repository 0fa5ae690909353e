"""SymNet vs. MLPRegressor: predicted against true values on two regression sets.

``load_diabetes`` (targets 25..346) and ``make_friedman1(n_samples=2000,
noise=1.0)``, features standardized, a 75/25 split, both regressors at their
defaults (only ``random_state`` set) and MLPRegressor also inside
``TransformedTargetRegressor(transformer=StandardScaler())``, what its users
do for targets far from unit scale (SymNetRegressor standardizes its targets
itself).  Prints the test R² and fit time of each model and saves a
predicted-vs-true scatter plot, ``compare_regression.png``.

Run::

    python examples/plot_compare_regression.py [--out DIR] [--quick]
"""

import argparse
import time
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from sklearn.compose import TransformedTargetRegressor  # noqa: E402
from sklearn.datasets import load_diabetes, make_friedman1  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.neural_network import MLPRegressor  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from sklearn_symnet import SymNetRegressor  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).parent))
    parser.add_argument("--quick", action="store_true", help="a few epochs")
    args = parser.parse_args(argv)
    max_iter = 10 if args.quick else 200

    sets = {
        "diabetes": load_diabetes(return_X_y=True),
        "friedman1": make_friedman1(n_samples=2000, noise=1.0, random_state=0),
    }
    models = {
        "SymNetRegressor": lambda: SymNetRegressor(max_iter=max_iter, random_state=0),
        "MLPRegressor": lambda: MLPRegressor(max_iter=max_iter, random_state=0),
        "MLPRegressor + TTR": lambda: TransformedTargetRegressor(
            regressor=MLPRegressor(max_iter=max_iter, random_state=0),
            transformer=StandardScaler()),
    }
    fig, axes = plt.subplots(1, len(sets), figsize=(11, 5))
    for ax, (name, (X, y)) in zip(axes, sets.items()):
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0)
        lo, hi = y.min(), y.max()
        ax.plot([lo, hi], [lo, hi], "k--", lw=1)
        for (label, make), marker in zip(models.items(), "o^s"):
            model = make_pipeline(StandardScaler(), make())
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                start = time.perf_counter()
                model.fit(Xtr, ytr)
                fit_time = time.perf_counter() - start
            pred = model.predict(Xte)
            r2 = model.score(Xte, yte)
            print(f"{name:10s} {label:20s} R² {r2:7.4f}  fit {fit_time:5.2f} s")
            ax.scatter(yte, pred, s=10, alpha=0.5, marker=marker,
                       label=f"{label} (R² {r2:.3f})")
        ax.set_xlabel("true")
        ax.set_ylabel("predicted")
        ax.set_title(name)
        ax.legend(fontsize=8)
    fig.tight_layout()
    out = Path(args.out) / "compare_regression.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    print(f"wrote {out}")
    return [str(out)]


if __name__ == "__main__":
    main()
