"""Regression benchmark: ``SymNetRegressor`` against ``MLPRegressor`` on real data.

Both models run at their defaults (only ``random_state`` is set) inside the
same :class:`~sklearn.pipeline.Pipeline` as the classification suite
(``bench_suite.py``: median imputation + ``StandardScaler`` for numeric
columns, most-frequent imputation + one-hot encoding for string columns),
in two settings:

* ``plain``: the pipeline as it is;
* ``ttr``: the regressor wrapped in
  ``TransformedTargetRegressor(transformer=StandardScaler())``, what users of
  MLPRegressor do for targets far from unit scale.

Data sets: scikit-learn's ``diabetes``, ``make_friedman1(n_samples=2000,
noise=1.0, random_state=0)``, ``linnerud`` (three targets), and the UCI
``Servo`` set (``Servo.csv`` of ``--data-dir``; skipped without it).

5-fold ``KFold(shuffle=True, random_state=seed)`` R² (uniform average over
targets); the fit time is summed over the folds.  Prints a markdown table
and writes ``<out>.md`` / ``<out>.json``.

    python benchmarks/bench_regression.py --data-dir path/to/uci
    python benchmarks/bench_regression.py --symnet-params readout=linear --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import datetime
import json
import time
import warnings
from pathlib import Path

import numpy as np
from bench_suite import (  # noqa: E402  (this folder, run as a script)
    REPO_ROOT,
    _parse_params,
    _versions,
    load_uci_csv,
)

SETS = ("diabetes", "friedman1", "linnerud", "Servo")
SETTINGS = ("plain", "ttr")
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "regression"


def load_set(name, data_dir=None):
    """``((X, y, numeric, categorical), None)`` or ``(None, reason)``."""
    from sklearn import datasets

    if name == "diabetes":
        X, y = datasets.load_diabetes(return_X_y=True)
    elif name == "friedman1":
        X, y = datasets.make_friedman1(n_samples=2000, noise=1.0, random_state=0)
    elif name == "linnerud":
        X, y = datasets.load_linnerud(return_X_y=True)
    elif name == "Servo":
        if data_dir is None:
            return None, "no data directory given (--data-dir)"
        path = Path(data_dir) / "Servo.csv"
        if not path.is_file():
            return None, f"file not found: {path}"
        X, y, numeric, categorical = load_uci_csv(path)
        return (X, np.asarray(y, dtype=np.float64), numeric, categorical), None
    else:
        raise ValueError(f"unknown data set {name!r}; choose from {', '.join(SETS)}")
    X = np.asarray(X, dtype=np.float64)
    return (X, np.asarray(y, dtype=np.float64), list(range(X.shape[1])), []), None


def make_pipeline(model, numeric, categorical, setting, seed, symnet_params):
    """The preprocessing + regressor pipeline (``setting``: plain or ttr)."""
    from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from sklearn_symnet import SymNetRegressor

    transformers = []
    if numeric:
        transformers.append(("num", Pipeline([
            ("impute", SimpleImputer(strategy="median")),
            ("scale", StandardScaler()),
        ]), list(numeric)))
    if categorical:
        transformers.append(("cat", Pipeline([
            ("impute", SimpleImputer(strategy="most_frequent")),
            ("onehot", OneHotEncoder(handle_unknown="ignore")),
        ]), list(categorical)))
    if model == "symnet":
        reg = SymNetRegressor(random_state=seed, **symnet_params)
    else:
        reg = MLPRegressor(random_state=seed)
    if setting == "ttr":
        reg = TransformedTargetRegressor(regressor=reg, transformer=StandardScaler())
    return Pipeline([("prep", ColumnTransformer(transformers)), ("reg", reg)])


def evaluate(name, data, setting, seeds, symnet_params):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import KFold

    X, y, numeric, categorical = data
    out = {"n_samples": int(X.shape[0]), "n_outputs": 1 if y.ndim == 1 else y.shape[1]}
    for model in ("symnet", "mlp"):
        r2, fit_time = [], 0.0
        for seed in seeds:
            cv = KFold(n_splits=5, shuffle=True, random_state=seed)
            for train, test in cv.split(X):
                pipe = make_pipeline(model, numeric, categorical, setting, seed,
                                     symnet_params)
                Xtr = X.iloc[train] if hasattr(X, "iloc") else X[train]
                Xte = X.iloc[test] if hasattr(X, "iloc") else X[test]
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    start = time.perf_counter()
                    pipe.fit(Xtr, y[train])
                    fit_time += time.perf_counter() - start
                r2.append(float(pipe.score(Xte, y[test])))
        out[model] = {"r2": float(np.mean(r2)), "fold_r2": r2, "fit_time": fit_time}
    return out


def format_report(result):
    lines = []
    for setting in SETTINGS:
        rows = result["settings"].get(setting)
        if not rows:
            continue
        lines += [f"**{setting}**" + (" (TransformedTargetRegressor(StandardScaler()))"
                                      if setting == "ttr" else " (no target transform)"),
                  "",
                  "| set | n | SymNet R² | MLP R² | SymNet fit s | MLP fit s |",
                  "|---|---:|---:|---:|---:|---:|"]
        for name, r in rows.items():
            lines.append(f"| {name} | {r['n_samples']} | {r['symnet']['r2']:.4f} | "
                         f"{r['mlp']['r2']:.4f} | {r['symnet']['fit_time']:.2f} | "
                         f"{r['mlp']['fit_time']:.2f} |")
        ts = sum(r["symnet"]["fit_time"] for r in rows.values())
        tm = sum(r["mlp"]["fit_time"] for r in rows.values())
        wins = sum(r["symnet"]["r2"] >= r["mlp"]["r2"] for r in rows.values())
        lines += ["", f"- SymNet R² ≥ MLP's on {wins} of {len(rows)} sets; total fit time "
                  f"SymNet {ts:.2f} s, MLP {tm:.2f} s, ratio {ts / tm:.2f}", ""]
    lines.append(f"5-fold CV R², seeds {result['seeds']}; SymNet parameters "
                 f"{result['symnet_params'] or 'defaults'}. {result['versions']}; "
                 f"{result['date']}.")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="folder with Servo.csv")
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--settings", default=",".join(SETTINGS))
    parser.add_argument("--seeds", default="0", help="comma-separated seeds")
    parser.add_argument("--symnet-params", default="", help="a=1,b=rate,...")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    params = _parse_params(args.symnet_params)
    result = {"seeds": seeds, "symnet_params": params, "versions": _versions(),
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
                  timespec="seconds"), "settings": {}, "skipped": {}}
    for setting in args.settings.split(","):
        rows = {}
        for name in args.sets.split(","):
            data, reason = load_set(name, args.data_dir)
            if data is None:
                result["skipped"][name] = reason
                continue
            rows[name] = evaluate(name, data, setting, seeds, params)
            r = rows[name]
            print(f"{setting:5s} {name:10s} SymNet {r['symnet']['r2']:.4f} "
                  f"({r['symnet']['fit_time']:.2f} s)  MLP {r['mlp']['r2']:.4f} "
                  f"({r['mlp']['fit_time']:.2f} s)", flush=True)
        result["settings"][setting] = rows
    report = format_report(result)
    print()
    print(report)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out + ".md").write_text(report + "\n")
        Path(args.out + ".json").write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
