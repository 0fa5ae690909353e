"""Training the neurons themselves: what the constants learn.

``SymNetClassifier(neuron_params="all")`` trains every neuron's K1, K2, K3 and
r beside the connection coefficients (the papers' earlier methods, from the
same reverse-system responses).  On digits (pixels / 16) this script fits the
fixed network and the trained one, prints both test accuracies, and draws

* the distribution of the learned constants per layer (hidden and output
  neurons), with the starting values marked;
* the activation curve ``s(u)`` of a few hidden neurons before and after
  training, with the inputs they actually receive on the test set.

Saves ``plot_trained_neurons.png``.

Run::

    python examples/plot_trained_neurons.py [--out DIR] [--quick] [--solver same|pid]
"""

import argparse
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from sklearn_symnet import SymNetClassifier, WuxingNeuron  # noqa: E402

NAMES = ("K1", "K2", "K3", "r")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).parent))
    parser.add_argument("--quick", action="store_true", help="a few epochs")
    parser.add_argument("--solver", default="same", choices=["same", "pid"])
    args = parser.parse_args(argv)
    max_iter = 8 if args.quick else 200

    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X / 16, y, test_size=0.25, stratify=y,
                                          random_state=0)
    kw = dict(hidden_layer_sizes=(64,), max_iter=max_iter, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fixed = SymNetClassifier(**kw).fit(Xtr, ytr)
        trained = SymNetClassifier(neuron_params="all", neuron_solver=args.solver,
                                   **kw).fit(Xtr, ytr)
    print(f"fixed constants:   test accuracy {fixed.score(Xte, yte):.4f}")
    print(f"trained constants: test accuracy {trained.score(Xte, yte):.4f} "
          f"(neuron_solver={args.solver!r})")
    start = [trained.K1, trained.K2, trained.K3, trained.r]

    fig = plt.figure(figsize=(13, 7))
    layers = trained.neuron_constants_
    for j, name in enumerate(NAMES):
        ax = fig.add_subplot(2, 4, j + 1)
        for layer, label in zip(layers, ["hidden", "output"]):
            ax.hist(layer[:, j], bins=20, alpha=0.6, label=label)
        ax.axvline(start[j], color="k", ls="--", lw=1, label="start")
        ax.set_title(f"learned {name}")
        if j == 0:
            ax.legend(fontsize=8)
    # activation curves of a few hidden neurons, before and after
    inputs = trained.layer_signals(Xte)[0].inputs
    before = fixed.neuron_
    rng = np.random.RandomState(0)
    for k, unit in enumerate(rng.choice(layers[0].shape[0], 4, replace=False)):
        ax = fig.add_subplot(2, 4, 5 + k)
        after = WuxingNeuron(*layers[0][unit], coupling=trained._layer_couplings[0])
        u = np.linspace(-4, 8, 400)
        ax.plot(u, before.signal(u), "k--", lw=1, label="start")
        ax.plot(u, after.signal(u), lw=2, label="learned")
        used = inputs[:, unit]
        ax.plot(used, after.signal(used), "|", color="C3", alpha=0.3, label="test inputs")
        ax.set_title(f"hidden neuron {unit}")
        ax.set_xlabel("input u")
        if k == 0:
            ax.set_ylabel("signal s(u)")
            ax.legend(fontsize=8)
    fig.tight_layout()
    out = Path(args.out) / "plot_trained_neurons.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    print(f"wrote {out}")
    return [str(out)]


if __name__ == "__main__":
    main()
