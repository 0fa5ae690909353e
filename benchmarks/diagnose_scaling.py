"""Where SymNet's hidden neurons start on digits, raw pixels / 16 against
standardized (why the README job standardizes; docs/performance.md, "Digits").

For each seed, the hidden layer of a ``SymNetClassifier`` at its defaults
just after its initialisation (``SymNetwork.initialize``: one epoch at a step
of 1e-12, so the coefficients are the initial ones to about 1e-11), read
through ``layer_signals`` on the README job's training split.  Prints, per
scaling, the mean over neurons of the spread of their inputs ``u`` over the
samples (the spread of ``x @ W1``), the fraction of (sample, neuron) pairs on
the zero-gain piece below the kink, and the fraction of neurons on their
linear piece for every sample (never below the kink); means over the seeds.

Run::

    python benchmarks/diagnose_scaling.py [--seeds 5]
"""

import argparse
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from sklearn_symnet import SymNetClassifier, WuxingNeuron


def initial_hidden_layer(X, y, seed):
    """The hidden layer's ``layer_signals`` of a model at its initial coefficients."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = SymNetClassifier(learning_rate_init=1e-12, max_iter=1, random_state=seed)
        return model.fit(X, y).layer_signals(X)[0]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args(argv)
    defaults = SymNetClassifier()
    X, y = load_digits(return_X_y=True)
    stats = {"pixels / 16": [], "StandardScaler": []}
    for seed in range(args.seeds):
        X_tr, _, y_tr, _ = train_test_split(X / 16, y, test_size=0.25, stratify=y,
                                            random_state=seed)
        for name, Z in (("pixels / 16", X_tr), ("StandardScaler",
                                                 StandardScaler().fit_transform(X_tr))):
            layer = initial_hidden_layer(Z, y_tr, seed)
            stats[name].append((layer.inputs.std(axis=0).mean(), layer.dead.mean(),
                                (~layer.dead).all(axis=0).mean()))
    kink = WuxingNeuron(K1=defaults.K1, K2=defaults.K2).breakpoints[0]
    print(f"digits, {defaults.hidden_layer_sizes[0]} hidden rate neurons at their initial "
          f"coefficients, kink at u = {kink:.3f}, kink_start {defaults.kink_start}, "
          f"seeds 0..{args.seeds - 1}")
    print(f"{'inputs':<16} {'spread of x@W1':>15} {'pairs below kink':>17} "
          f"{'always linear':>14}")
    means = {name: np.mean(rows, axis=0) for name, rows in stats.items()}
    for name, (sd, dead, linear) in means.items():
        print(f"{name:<16} {sd:15.3f} {dead:17.3f} {linear:14.3f}")
    return means


if __name__ == "__main__":
    main()
