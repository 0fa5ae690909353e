"""Does training get stuck?  SymNet vs MLPClassifier on the failure cases of issue 9.

Cases (digits /16, the README main job's stratified 75/25 split):

* ``lr``: Adam ``learning_rate_init`` 0.1 and 0.3, 3 seeds (``--lr-seeds``), test
  accuracy;
* ``partial``: 3-class digits, 100 ``partial_fit`` calls at Adam lr 0.2 (seed 0,
  or the mean over seeds 0..N-1 with ``--partial-seeds N``);
* ``revive``: a 2-sample fit (output neurons dead), then 30 ``partial_fit``
  calls on new data and labels;
* ``swap``: fit, then 10 ``partial_fit`` epochs on labels with 0<->1, 8<->9 swapped;
* ``readme``: the README main job (100 hidden, 200 epochs), mean over 5 seeds, on the
  pixels / 16 as the job was until it began to standardize its inputs (the job itself:
  ``examples/plot_compare_digits.py``, ``--scaling 16`` for this case).

Each SymNet variant (``--variant name:param=value,...``) runs beside
MLPClassifier at its defaults, in one process.  Prints a markdown table and
writes JSON with ``--out``.

    python benchmarks/bench_reliability.py
    python benchmarks/bench_reliability.py --variant rate-out:output_coupling=rate
"""

import argparse
import functools
import json
import sys
import time
import warnings

import numpy as np
from bench_suite import _parse_params  # noqa: E402  (this folder, run as a script)
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

from sklearn_symnet import SymNetClassifier


def _digits(seed, classes=None):
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    if classes is not None:
        keep = np.isin(y, classes)
        X, y = X[keep], y[keep]
    return train_test_split(X, y, test_size=0.25, stratify=y, random_state=seed)


def _quiet(f, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return f(*a, **k)


def case_lr(make, lr, seeds=(0, 1, 2)):
    acc = []
    for seed in seeds:
        Xtr, Xte, ytr, yte = _digits(seed)
        model = _quiet(make(learning_rate_init=lr, random_state=seed).fit, Xtr, ytr)
        acc.append(model.score(Xte, yte))
    return float(np.mean(acc))


def case_partial(make, seed=0):
    Xtr, Xte, ytr, yte = _digits(seed, classes=[0, 1, 2])
    model = make(learning_rate_init=0.2, random_state=seed)
    for _ in range(100):
        _quiet(model.partial_fit, Xtr, ytr, classes=[0, 1, 2])
    return model.score(Xte, yte)


def case_revive(make, seed=0):
    Xtr, Xte, ytr, yte = _digits(seed)
    model = make(random_state=seed)
    _quiet(model.partial_fit, Xtr[:2], ytr[:2], classes=np.arange(10))
    for _ in range(30):
        _quiet(model.partial_fit, Xtr, ytr)
    return model.score(Xte, yte)


def case_swap(make, seed=0):
    Xtr, Xte, ytr, yte = _digits(seed)
    model = _quiet(make(random_state=seed).fit, Xtr, ytr)
    swap = np.array([1, 0, 2, 3, 4, 5, 6, 7, 9, 8])
    for _ in range(10):
        _quiet(model.partial_fit, Xtr, swap[ytr])
    return model.score(Xte, swap[yte])


def case_readme(make, seeds=(0, 1, 2, 3, 4)):
    acc = []
    for seed in seeds:
        Xtr, Xte, ytr, yte = _digits(seed)
        model = _quiet(make(hidden_layer_sizes=(100,), max_iter=200,
                            random_state=seed).fit, Xtr, ytr)
        acc.append(model.score(Xte, yte))
    return float(np.mean(acc))


LR_SEEDS = (0, 1, 2)  # --lr-seeds N: seeds 0..N-1
PARTIAL_SEEDS = (0,)  # --partial-seeds N: seeds 0..N-1

CASES = {
    "lr=0.1": lambda make: case_lr(make, 0.1, LR_SEEDS),
    "lr=0.3": lambda make: case_lr(make, 0.3, LR_SEEDS),
    "3-class, 100 partial_fit at lr 0.2": lambda make: float(np.mean(
        [case_partial(make, seed) for seed in PARTIAL_SEEDS])),
    "2-sample fit, then 30 partial_fit": case_revive,
    "label swap, 10 partial_fit": case_swap,
    "README main job (5 seeds)": case_readme,
}


def _parse_variant(text):
    name, _, params = text.partition(":")
    return name, _parse_params(params)


def run(variants, cases=None):
    """Run every case for MLPClassifier and each SymNet variant; return rows."""
    makers = {"MLPClassifier": MLPClassifier}
    for name, kw in variants:
        makers[name] = functools.partial(SymNetClassifier, **kw)
    rows = []
    for case, fn in CASES.items():
        if cases and not any(case.startswith(c) for c in cases):
            continue
        row = {"case": case}
        for name, make in makers.items():
            t = time.perf_counter()
            row[name] = fn(make)
            row[name + " s"] = time.perf_counter() - t
        rows.append(row)
        print(" | ".join([case] + [f"{name} {row[name]:.4f}" for name in makers]), flush=True)
    return rows, list(makers)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", action="append", default=[],
                        help="name:param=value,... (default: 'SymNet' at the defaults)")
    parser.add_argument("--out", default=None, help="JSON file for the results")
    parser.add_argument("--lr-seeds", type=int, default=3,
                        help="seeds 0..N-1 of the lr cases (default 3, as issue 9)")
    parser.add_argument("--partial-seeds", type=int, default=1,
                        help="seeds 0..N-1 of the 3-class partial_fit case (default 1)")
    parser.add_argument("--cases", default=None,
                        help="comma-separated starts of case names (default: all), e.g. "
                             "lr=0.1,3-class")
    args = parser.parse_args(argv)
    global LR_SEEDS, PARTIAL_SEEDS
    LR_SEEDS = tuple(range(args.lr_seeds))
    PARTIAL_SEEDS = tuple(range(args.partial_seeds))
    variants = [_parse_variant(v) for v in args.variant] or [("SymNet", {})]
    cases = args.cases.split(",") if args.cases else None
    rows, names = run(variants, cases)
    print()
    print("| case | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for row in rows:
        print(f"| {row['case']} | " + " | ".join(f"{row[n]:.4f}" for n in names) + " |")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"variants": dict(variants), "lr_seeds": list(LR_SEEDS),
                       "partial_seeds": list(PARTIAL_SEEDS), "rows": rows,
                       "command": "python benchmarks/bench_reliability.py "
                                  + " ".join(sys.argv[1:] if argv is None else argv)},
                      f, indent=1)


if __name__ == "__main__":
    main()
