"""Grid search over the neuron constants K1 and K2 for both couplings.

Every unit of a :class:`~sklearn_symnet.SymNetClassifier` is the same
five-element neuron, whose generation constant ``K1`` (mother feeds child) and
restraint constant ``K2`` (an element preys on the one it restrains) shape its
activation: where its breakpoints lie and how steep its pieces are (rate
coupling), or how fast it saturates (flux coupling).  This example runs one
:class:`~sklearn.model_selection.GridSearchCV` over ``K1 x K2`` (4 x 4 values)
per coupling on the digits data (pixels / 16, 3-fold cross-validation, one
hidden layer of 32 neurons, 20 epochs of Adam in minibatches of 64) and draws
the mean cross-validated accuracy as a heat map per coupling, the best cell
outlined.  On 2 cores the 96 fits take about 10-20 s.

``K3 = r = 1`` throughout, so the fixed point stays at x* = 1.  ``K2 = 0``
(no restraint) is a valid neuron: the fixed point stays globally attracting
for any ``K1, K2`` because ``K3 > 0``.

Run ``python examples/plot_grid_search.py [--out DIR] [--quick] [--n-jobs N]``;
it writes ``plot_grid_search.png`` next to this script (or into DIR) and prints
the best parameters and the accuracy table of each coupling.
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, StratifiedKFold  # noqa: E402

try:
    import sklearn_symnet  # noqa: F401
except ImportError:  # a source checkout built in place, not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sklearn_symnet import SymNetClassifier  # noqa: E402

K1_VALUES = [0.1, 0.3, 0.8, 1.5]
K2_VALUES = [0.0, 0.2, 0.5, 1.0]
COUPLINGS = ("rate", "flux")


def search(coupling, X, y, k1, k2, hidden, epochs, n_jobs):
    est = SymNetClassifier(hidden_layer_sizes=(hidden,), coupling=coupling,
                           max_iter=epochs, batch_size=64, random_state=0,
                           n_jobs=1)
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    gs = GridSearchCV(est, {"K1": k1, "K2": k2}, cv=cv, n_jobs=n_jobs,
                      refit=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gs.fit(X, y)
    res = gs.cv_results_
    # cv_results_ enumerates the grid with the last key (K2) varying fastest
    mean = np.asarray(res["mean_test_score"]).reshape(len(k1), len(k2))
    std = np.asarray(res["std_test_score"]).reshape(len(k1), len(k2))
    for i, a in enumerate(k1):
        for j, b in enumerate(k2):
            p = res["params"][i * len(k2) + j]
            assert p["K1"] == a and p["K2"] == b
    return gs, mean, std


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                        help="folder for the PNG (default: next to this script)")
    parser.add_argument("--quick", action="store_true",
                        help="2 x 2 grid, fewer samples and epochs (a few seconds)")
    parser.add_argument("--n-jobs", type=int, default=1,
                        help="GridSearchCV workers (default 1)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    k1, k2, hidden, epochs = K1_VALUES, K2_VALUES, 32, 20
    if args.quick:
        k1, k2, hidden, epochs = k1[1:3], k2[1:3], 16, 3
        X, y = X[:450], y[:450]

    t0 = time.perf_counter()
    results = {}
    for coupling in COUPLINGS:
        results[coupling] = search(coupling, X, y, k1, k2, hidden, epochs, args.n_jobs)
    elapsed = time.perf_counter() - t0

    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2))
    all_means = 100 * np.concatenate([m.ravel() for _, m, _ in results.values()])
    vmin, vmax = float(all_means.min()), float(all_means.max())
    for ax, coupling in zip(axes, COUPLINGS):
        gs, mean, std = results[coupling]
        im = ax.imshow(100 * mean, origin="lower", cmap="viridis", vmin=vmin, vmax=vmax,
                       aspect="auto")
        for i in range(len(k1)):
            for j in range(len(k2)):
                color = "k" if 100 * mean[i, j] > vmin + 0.6 * (vmax - vmin) else "w"
                ax.text(j, i, f"{100 * mean[i, j]:.1f}\n±{100 * std[i, j]:.1f}",
                        ha="center", va="center", color=color, fontsize=9)
        bi = k1.index(gs.best_params_["K1"])
        bj = k2.index(gs.best_params_["K2"])
        ax.add_patch(plt.Rectangle((bj - 0.5, bi - 0.5), 1, 1, fill=False,
                                   ec="red", lw=2.5))
        ax.set_xticks(range(len(k2)), [f"{v:g}" for v in k2])
        ax.set_yticks(range(len(k1)), [f"{v:g}" for v in k1])
        ax.set_xlabel("K2 (restraint)")
        ax.set_ylabel("K1 (generation)")
        ax.set_title(f"coupling = {coupling!r}: best K1={gs.best_params_['K1']:g}, "
                     f"K2={gs.best_params_['K2']:g} ({100 * gs.best_score_:.1f} %)")
    fig.colorbar(im, ax=axes, label="mean 3-fold CV accuracy (%)")
    fig.suptitle(f"SymNetClassifier on digits (X/16): {hidden} hidden neurons, "
                 f"{epochs} epochs of Adam (batch 64); mean ± std accuracy (%) "
                 "over 3 folds")
    path = args.out / "plot_grid_search.png"
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)

    print(f"digits: {X.shape[0]} samples, hidden=({hidden},), {epochs} epochs, "
          f"3-fold CV, {len(k1)} x {len(k2)} grid per coupling")
    for coupling in COUPLINGS:
        gs, mean, _ = results[coupling]
        print(f"\n{coupling}: best {gs.best_params_} -> {100 * gs.best_score_:.2f} %"
              f" (worst {100 * mean.min():.2f} %)")
        print("  K1 \\ K2 " + "".join(f"{v:>8g}" for v in k2))
        for i, a in enumerate(k1):
            print(f"  {a:>7g} " + "".join(f"{100 * m:8.2f}" for m in mean[i]))
    print(f"\n{2 * len(k1) * len(k2) * 3} fits in {elapsed:.1f} s; wrote {path}")
    return [path]


if __name__ == "__main__":
    main()
