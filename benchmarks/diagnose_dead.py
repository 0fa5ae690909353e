"""Where does training die?  Dead fraction per layer and output-signal range of SymNet variants.

Digits /16, the README's stratified 75/25 split (seed 0), each variant at Adam
``learning_rate_init`` 0.1 and 0.3: test accuracy, ``dead_fraction_`` (per
layer, the fraction of (sample, neuron) pairs of the last epoch on a
zero-gain piece), epochs run, final loss, and the range of the output
signals on the test set (where flux outputs saturate).  The numbers behind
``docs/model.md`` section 3b.

    python benchmarks/diagnose_dead.py
    python benchmarks/diagnose_dead.py --variant fluxout:output_coupling=flux
"""

import argparse
import warnings

from bench_suite import _parse_params  # noqa: E402  (this folder, run as a script)
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from sklearn_symnet import SymNetClassifier

DEFAULT_VARIANTS = [
    "signal:readout=signal",
    "flux-out:readout=signal,output_coupling=flux",
    "flux-hidden:readout=signal,coupling=flux,output_coupling=rate",
    "branch-flux-out:readout=signal,output_coupling=flux,flux_bound=branch",
    "difference:readout=difference",
]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", action="append", default=[],
                        help="name:param=value,... (default: the variants of docs/model.md)")
    parser.add_argument("--lr", type=float, action="append", default=[])
    args = parser.parse_args(argv)
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X / 16, y, test_size=0.25, stratify=y,
                                          random_state=0)
    rows = []
    for lr in args.lr or [0.1, 0.3]:
        for text in args.variant or DEFAULT_VARIANTS:
            name, _, params = text.partition(":")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m = SymNetClassifier(learning_rate_init=lr, random_state=0,
                                     **_parse_params(params)).fit(Xtr, ytr)
            S = m.layer_signals(Xte)[-1].signals
            rows.append((lr, name, m.score(Xte, yte), m.dead_fraction_, m.n_iter_, m.loss_,
                         S.min(), S.max()))
            print(f"lr {lr:<4} {name:<16} acc {rows[-1][2]:.3f}  dead per layer "
                  f"{[round(float(v), 3) for v in m.dead_fraction_]}  epochs {m.n_iter_:3d}  "
                  f"loss {m.loss_:.3f}  output signals {S.min():.2f}..{S.max():.2f}",
                  flush=True)
    return rows


if __name__ == "__main__":
    main()
