"""Where SymNet's hidden neurons start on digits, raw pixels / 16 against
standardized (why the README job standardizes; docs/performance.md, "Digits").

For each seed, the hidden layer's initial inputs ``u = x @ W1 + b1`` on the
README job's training split, with ``W1`` and ``b1`` drawn as
``SymNetClassifier`` draws them at its defaults (Glorot-uniform, the biases
shifted by ``kink_start`` times the rate neuron's first breakpoint, its kink:
``_network.SymNetwork.initialize``), and the kink read from
``WuxingNeuron``.  Prints, per scaling, the mean over neurons of the spread
of ``x @ W1`` over the samples, the fraction of (sample, neuron) pairs below
the kink (zero gain), and the fraction of neurons on their linear piece for
every sample; means over the seeds.

Run::

    python benchmarks/diagnose_scaling.py [--seeds 5]
"""

import argparse

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from sklearn_symnet import SymNetClassifier, WuxingNeuron


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args(argv)
    defaults = SymNetClassifier()
    kink = WuxingNeuron(K1=defaults.K1, K2=defaults.K2).breakpoints[0]
    width = defaults.hidden_layer_sizes[0]
    X, y = load_digits(return_X_y=True)
    stats = {"pixels / 16": [], "StandardScaler": []}
    for seed in range(args.seeds):
        X_tr = train_test_split(X / 16, y, test_size=0.25, stratify=y, random_state=seed)[0]
        rng = np.random.default_rng(seed)
        lim = np.sqrt(6.0 / (X.shape[1] + width))
        W = rng.uniform(-lim, lim, (X.shape[1], width))
        b = rng.uniform(-lim, lim, width) + defaults.kink_start * kink
        for name, Z in (("pixels / 16", X_tr), ("StandardScaler",
                                                 StandardScaler().fit_transform(X_tr))):
            P = Z @ W
            dead = P + b < kink
            stats[name].append((P.std(axis=0).mean(), dead.mean(), (~dead).all(axis=0).mean()))
    print(f"digits, {width} hidden rate neurons, kink at u = {kink:.3f}, kink_start "
          f"{defaults.kink_start}, seeds 0..{args.seeds - 1}")
    print(f"{'inputs':<16} {'spread of x@W1':>15} {'pairs below kink':>17} "
          f"{'always linear':>14}")
    means = {name: np.mean(rows, axis=0) for name, rows in stats.items()}
    for name, (sd, dead, linear) in means.items():
        print(f"{name:<16} {sd:15.3f} {dead:17.3f} {linear:14.3f}")
    return means


if __name__ == "__main__":
    main()
