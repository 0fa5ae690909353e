"""Dead neurons and the arctangent coefficient bound (``coef_bound``).

With the rate coupling a neuron's activation is piecewise linear and flat
below its first breakpoint (u < -1.22 for the default constants): there the
input element (wood) is extinct, the gain is 0 and no error signal passes back
through the neuron.  If a training step throws a hidden neuron's input
``u = x . C + c`` below that breakpoint for *every* training sample, the
neuron is dead: its coefficients receive no adjustment any more (only the
weak L2 term moves them) and it stays dead.  The paper's adjustment strategy
(P3) trains free parameters ``W`` and uses the coefficients
``C = B (2/pi) atan(W)``, so ``|C| < B`` (``coef_bound=B``).

This example looks for the case where that matters.  On digits (pixels / 16,
70/30 split), one hidden layer of 32 rate-coupled neurons, 20 epochs in
minibatches of 64, it sweeps the learning rate of Adam (the default solver)
and of SGD with momentum, for ``coef_bound`` None, 0.5, 1 and 2 over 3 seeds,
and measures the fraction of hidden neurons that are dead on all training
samples (hidden inputs ``U = X @ coefs_[0] + intercepts_[0]`` compared with
``clf.neuron_.breakpoints[0]``) and the test accuracy.

What it finds (numbers printed when run; 3 seeds):

* At the usual learning rates (Adam 0.01 - 0.03, SGD 0.1 - 0.3) at most 3 %
  of the neurons die, the unbounded network reaches about 97 % and the bound
  only costs accuracy: B = 0.5 loses 2 - 10 points, B = 1 up to 2, B = 2
  nothing, because a step in W
  moves C by at most ``2B/pi`` times as much (slower learning).
* Adam with a large learning rate (0.2 - 1) kills most hidden neurons without
  the bound: at lr 0.3 about 80 % are dead and the test accuracy is 20 - 86 %
  depending on the seed; at lr 1, 97 % dead and 13 %.  With B = 0.5 at most
  a quarter of the neurons die up to lr 0.5 and the accuracy stays at
  95 - 96 % (93 % at lr 1); B = 1 holds 96 % up to lr 0.3.  SGD with momentum
  shows the same at lr 3 - 10: without the bound every neuron dies (10 %,
  chance level), with B = 0.5 about 96 %, with B = 1 97 % at lr 3.
* Part of that is simply a smaller step: at ``W = 0`` the bound scales Adam's
  step on C by ``2B/pi`` (SGD's by ``(2B/pi)^2``).  The third column of
  panels puts every run at its effective initial step.  With Adam the bounded
  runs still do better at equal initial step (B = 0.5 at lr 1 starts like the
  unbounded net at lr 0.32: 93 % against 52 % at lr 0.3; B = 1 at lr 0.3
  starts like lr 0.19: 96 % against 91 % at lr 0.2), because the step on C
  keeps shrinking as ``|C|`` approaches B.  With SGD this sweep cannot tell the
  bound from a smaller learning rate: the largest initial step of B = 0.5
  (lr 10, about 1.0) is one at which the unbounded network still trains
  (97.8 % at lr 1).
* The bound is no guarantee: a neuron's input sums 64 coefficients, so it can
  still be driven below the breakpoint (B = 1 at Adam lr 0.5 leaves about 65 %
  dead).  And a large bound (B = 2 > pi/2) *enlarges* the initial step and
  kills neurons at learning rates where the unbounded network is fine.

A second figure follows one run (Adam, lr 0.3, seed 0) epoch by epoch: the
training loss, the dead fraction, and where the hidden inputs end up relative
to the breakpoint.  No neuron is dead at the start; without the bound 72 % are
dead after the first epoch and none comes back (the loss stalls at 1.85, test
20 %); with B = 1, 41 % die in the first epoch, the others learn (test 98 %).

Run ``python examples/plot_coef_bound.py [--out DIR] [--quick]``; it writes
``plot_coef_bound.png`` and ``plot_coef_bound_curves.png`` next to this script
(or into DIR) and prints the tables.
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
from sklearn.model_selection import train_test_split  # noqa: E402

try:
    import sklearn_symnet  # noqa: F401
except ImportError:  # a source checkout built in place, not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sklearn_symnet import SymNetClassifier  # noqa: E402

BOUNDS = (None, 0.5, 1.0, 2.0)
COLORS = {None: "k", 0.5: "tab:blue", 1.0: "tab:green", 2.0: "tab:red"}
LEARNING_RATES = {
    "adam": [0.01, 0.03, 0.1, 0.2, 0.3, 0.5, 1.0],
    "sgd": [0.1, 0.3, 1.0, 3.0, 10.0],
}
CURVE_RUN = dict(solver="adam", learning_rate_init=0.3, random_state=0)


def label(bound):
    return "no bound" if bound is None else f"coef_bound = {bound:g}"


def hidden_inputs(clf, X):
    """Inputs of the first hidden layer, shape (n_samples, n_hidden)."""
    return X @ clf.coefs_[0] + clf.intercepts_[0]


def dead_fraction(clf, X):
    """Fraction of hidden neurons on the zero-gain piece for every sample."""
    U = hidden_inputs(clf, X)
    return float(np.mean(np.all(U <= clf.neuron_.breakpoints[0], axis=0)))


def step_factor(solver, bound):
    """Initial step on C per unit of learning rate (W = 0): the atan slope."""
    if bound is None:
        return 1.0
    f = 2.0 * bound / np.pi
    return f if solver == "adam" else f * f


def make_clf(bound, epochs, **kw):
    params = dict(hidden_layer_sizes=(32,), coupling="rate", batch_size=64,
                  max_iter=epochs, coef_bound=bound, n_jobs=1)
    params.update(kw)
    return SymNetClassifier(**params)


def sweep(solver, lrs, bounds, seeds, epochs, data):
    X_tr, X_te, y_tr, y_te = data
    acc = np.full((len(bounds), len(lrs), len(seeds)), np.nan)
    dead = np.full_like(acc, np.nan)
    for i, bound in enumerate(bounds):
        for j, lr in enumerate(lrs):
            for k, seed in enumerate(seeds):
                clf = make_clf(bound, epochs, solver=solver, learning_rate_init=lr,
                               random_state=seed)
                try:
                    clf.fit(X_tr, y_tr)
                except ValueError:  # non-finite parameters: counted as failed
                    continue
                acc[i, j, k] = clf.score(X_te, y_te)
                dead[i, j, k] = dead_fraction(clf, X_tr)
    return acc, dead


def curves(bounds, epochs, data):
    """Epoch-by-epoch loss and dead fraction of one run per bound (partial_fit)."""
    X_tr, X_te, y_tr, y_te = data
    out = {}
    classes = np.unique(y_tr)
    for bound in bounds:
        clf = make_clf(bound, epochs, **CURVE_RUN)
        # epoch 0: the initial coefficients (same seed, a step of 1e-12)
        init = make_clf(bound, 1, **{**CURVE_RUN, "learning_rate_init": 1e-12})
        dead = [dead_fraction(init.partial_fit(X_tr, y_tr, classes=classes), X_tr)]
        for _ in range(epochs):
            clf.partial_fit(X_tr, y_tr, classes=classes)
            dead.append(dead_fraction(clf, X_tr))
        out[bound] = dict(loss=list(clf.loss_curve_), dead=dead,
                          U=hidden_inputs(clf, X_tr), acc=clf.score(X_te, y_te),
                          max_coef=float(np.max(np.abs(clf.coefs_[0]))),
                          breakpoint=float(clf.neuron_.breakpoints[0]))
    return out


def plot_sweeps(results, bounds, path):
    fig, axes = plt.subplots(2, 3, figsize=(16, 9.5))
    for row, (solver, (lrs, acc, dead)) in zip(axes, results.items()):
        lrs = np.asarray(lrs)
        name = "Adam" if solver == "adam" else "SGD + momentum"
        for i, bound in enumerate(bounds):
            c = COLORS[bound]
            d_mean, d_std = np.nanmean(dead[i], axis=1), np.nanstd(dead[i], axis=1)
            a_mean, a_std = np.nanmean(acc[i], axis=1), np.nanstd(acc[i], axis=1)
            row[0].errorbar(lrs, 100 * d_mean, 100 * d_std, color=c, marker="o",
                            capsize=3, label=label(bound))
            row[1].errorbar(lrs, 100 * a_mean, 100 * a_std, color=c, marker="o",
                            capsize=3, label=label(bound))
            eff = lrs * step_factor(solver, bound)
            row[2].errorbar(eff, 100 * a_mean, 100 * a_std, color=c, marker="o",
                            capsize=3, label=label(bound))
        row[0].set_ylabel("dead hidden neurons (%)\n(u below breakpoint on all samples)")
        row[1].set_ylabel("test accuracy (%)")
        row[2].set_ylabel("test accuracy (%)")
        row[0].set_title(f"{name}: neurons dead after training")
        row[1].set_title(f"{name}: test accuracy")
        factor = "2B/π" if solver == "adam" else "(2B/π)²"
        row[2].set_title(f"{name}: accuracy vs initial step on C")
        row[0].set_xlabel("learning_rate_init")
        row[1].set_xlabel("learning_rate_init")
        row[2].set_xlabel(f"effective initial step = learning_rate_init × {factor}")
        for ax in row:
            ax.set_xscale("log")
            ax.grid(alpha=0.3)
        row[1].set_ylim(0, 100)
        row[2].set_ylim(0, 100)
        row[0].set_ylim(-3, 103)
        row[1].legend(loc="lower left", fontsize=9)
    fig.suptitle("Rate-coupled SymNet on digits (64-32-10, 20 epochs, batch 64): "
                 "mean ± std over seeds", fontsize=13)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_curves(cur, bounds, breakpoint, path):
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    for bound in bounds:
        c, r = COLORS[bound], cur[bound]
        epochs = np.arange(1, len(r["loss"]) + 1)
        lab = f"{label(bound)} (test {100 * r['acc']:.1f} %)"
        axes[0].plot(epochs, r["loss"], color=c, marker=".", label=lab)
        axes[1].plot(np.arange(len(r["dead"])), 100 * np.asarray(r["dead"]), color=c,
                     marker=".", label=label(bound))
        u = np.clip(r["U"].ravel(), -40, 40)
        axes[2].hist(u, bins=np.linspace(-40, 40, 81), histtype="step", color=c,
                     lw=1.5, label=label(bound), density=True)
    axes[0].set_yscale("log")
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("training loss (log-loss + L2)")
    axes[0].set_title("(a) training loss")
    axes[1].set_xlabel("epoch")
    axes[1].set_ylabel("dead hidden neurons (%)")
    axes[1].set_title("(b) neurons dead on every training sample")
    axes[2].axvline(breakpoint, color="tab:orange", ls="--",
                    label=f"first breakpoint u = {breakpoint:.2f}")
    axes[2].axvspan(-40, breakpoint, color="0.92")
    axes[2].set_yscale("log")
    axes[2].set_xlabel("hidden input u (all samples x neurons, clipped to ±40)")
    axes[2].set_ylabel("density")
    axes[2].set_title("(c) hidden inputs after training (grey: gain 0)")
    for ax, loc in zip(axes, ("upper right", "center right", "upper right")):
        ax.legend(fontsize=8, loc=loc)
        ax.grid(alpha=0.3)
    fig.suptitle("One run: Adam, learning_rate_init = 0.3, seed 0 "
                 "(epochs by partial_fit)", fontsize=12)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                        help="folder for the PNGs (default: next to this script)")
    parser.add_argument("--quick", action="store_true",
                        help="2 learning rates, 2 settings, 1 seed, 4 epochs")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    X, y = load_digits(return_X_y=True)
    data = train_test_split(X / 16.0, y, test_size=0.3, stratify=y, random_state=0)
    lrs, bounds, seeds, epochs = LEARNING_RATES, BOUNDS, (0, 1, 2), 20
    if args.quick:
        lrs = {"adam": [0.03, 0.3], "sgd": [0.3, 3.0]}
        bounds, seeds, epochs = (None, 1.0), (0,), 4

    t0 = time.perf_counter()
    results = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for solver in ("adam", "sgd"):
            acc, dead = sweep(solver, lrs[solver], bounds, seeds, epochs, data)
            results[solver] = (lrs[solver], acc, dead)
        cur = curves(bounds, epochs, data)
    elapsed = time.perf_counter() - t0
    breakpoint_ = cur[bounds[0]]["breakpoint"]

    paths = [args.out / "plot_coef_bound.png", args.out / "plot_coef_bound_curves.png"]
    plot_sweeps(results, bounds, paths[0])
    plot_curves(cur, bounds, breakpoint_, paths[1])

    print(f"digits 64-32-10, rate coupling, {epochs} epochs, batch 64, "
          f"seeds {list(seeds)}; first breakpoint u = {breakpoint_:.4f}")
    for solver, (lr_list, acc, dead) in results.items():
        print(f"\n{solver}: test accuracy % (mean over seeds) / dead hidden neurons %")
        print("  lr      " + "".join(f"{label(b):>22s}" for b in bounds))
        for j, lr in enumerate(lr_list):
            cells = []
            for i in range(len(bounds)):
                n_failed = int(np.sum(np.isnan(acc[i, j])))
                a = np.nanmean(acc[i, j]) if n_failed < len(seeds) else np.nan
                d = np.nanmean(dead[i, j]) if n_failed < len(seeds) else np.nan
                fail = f" ({n_failed} failed)" if n_failed else ""
                cells.append(f"{100 * a:7.1f} / {100 * d:5.1f}{fail}")
            print(f"  {lr:<7g} " + "".join(f"{c:>22s}" for c in cells))
    print("\nAdam lr 0.3, seed 0, epoch by epoch:")
    for bound in bounds:
        r = cur[bound]
        print(f"  {label(bound):>16s}: loss {r['loss'][0]:.3f} -> {r['loss'][-1]:.3f}, "
              f"dead at init {100 * r['dead'][0]:.0f} %, after epoch 1 "
              f"{100 * r['dead'][1]:.0f} %, at the end "
              f"{100 * r['dead'][-1]:.0f} %, max |C| {r['max_coef']:.2f}, "
              f"test {100 * r['acc']:.1f} %")
    print(f"\n{elapsed:.1f} s; wrote {', '.join(str(p) for p in paths)}")
    return paths


if __name__ == "__main__":
    main()
