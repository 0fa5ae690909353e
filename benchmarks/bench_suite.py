"""Benchmark suite: ``SymNetClassifier`` against ``MLPClassifier`` on real data.

Both models run at their defaults (only ``random_state`` is set, from
``--seed``; ``--max-iter`` overrides ``max_iter`` of both, for smoke tests
only) inside the same :class:`~sklearn.pipeline.Pipeline`: a
:class:`~sklearn.compose.ColumnTransformer` with median imputation +
:class:`~sklearn.preprocessing.StandardScaler` for numeric columns and
most-frequent imputation + ``OneHotEncoder(handle_unknown="ignore")`` for
string (object, string or boolean) columns, followed by the classifier.

Data sets
---------
* scikit-learn's bundled sets ``digits`` (``X / 16``, scaled before the
  pipeline), ``wine``, ``breast_cancer`` and ``iris`` (all numeric);
* the UCI sets ``LetterRecognition``, ``Vehicle``, ``Vowel``, ``Glass``,
  ``Ionosphere``, ``PimaIndiansDiabetes`` and ``DNA``, read from the files
  ``<Name>.csv`` of ``--data-dir`` (CSV with a header row, target in the last
  column, empty cells are missing values). Without ``--data-dir`` the UCI sets
  are skipped, and so is a set whose file is missing.

Evaluation
----------
5-fold ``StratifiedKFold(shuffle=True, random_state=seed)``; a set with more
than 5,000 rows gets one stratified 80/20 ``train_test_split`` instead. Both
models see the same folds. The fit time is the sum over the folds of
:func:`time.perf_counter` around ``pipeline.fit`` (scoring is not counted).

Output
------
A markdown table (set, n, accuracies, difference in points, fit times) and a
summary (mean accuracy of each model, number of sets where SymNet is within
0.5 points of MLP or better, total fit time of each and their ratio) are
printed and written to ``<out>.md``; ``<out>.json`` holds the same results
plus per-fold accuracies, package versions and the date.

Usage
-----
scikit-learn's sets only::

    python benchmarks/bench_suite.py

All sets, with the UCI CSV files of a local folder::

    python benchmarks/bench_suite.py --data-dir path/to/uci --out benchmarks/results/suite

A quick smoke run on two sets::

    python benchmarks/bench_suite.py --sets iris,wine --max-iter 5 --out /tmp/suite

From Python (returns the result dictionary)::

    from bench_suite import run_suite
    result = run_suite(["iris", "wine"], seed=0, max_iter=5)
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "suite"

UCI_SETS = (
    "LetterRecognition",
    "Vehicle",
    "Vowel",
    "Glass",
    "Ionosphere",
    "PimaIndiansDiabetes",
    "DNA",
)
SKLEARN_SETS = ("digits", "wine", "breast_cancer", "iris")
ALL_SETS = UCI_SETS + SKLEARN_SETS
MODEL_NAMES = ("symnet", "mlp")
LABELS = {"symnet": "SymNet", "mlp": "MLP"}
N_SPLITS = 5
MAX_ROWS_CV = 5000
TEST_SIZE = 0.2
WITHIN_POINTS = 0.5


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------
def load_sklearn_set(name):
    """Load one of scikit-learn's bundled classification sets.

    Parameters
    ----------
    name : {"digits", "wine", "breast_cancer", "iris"}
        Data set name. ``digits`` is returned as ``X / 16``.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        Features (all numeric).
    y : ndarray of shape (n_samples,)
        Class labels.
    numeric : list of int
        Indices of the numeric columns (all of them).
    categorical : list of int
        Indices of the string columns (none).
    """
    from sklearn import datasets

    loaders = {
        "digits": datasets.load_digits,
        "wine": datasets.load_wine,
        "breast_cancer": datasets.load_breast_cancer,
        "iris": datasets.load_iris,
    }
    X, y = loaders[name](return_X_y=True)
    X = np.asarray(X, dtype=np.float64)
    if name == "digits":
        X = X / 16.0
    return X, y, list(range(X.shape[1])), []


def load_uci_csv(path):
    """Load a UCI CSV file: header row, target in the last column.

    Numeric columns stay numeric; string, object and boolean columns are
    categorical and converted to ``object`` dtype with ``np.nan`` for missing
    values. Rows with a missing target are dropped.

    Parameters
    ----------
    path : str or path-like
        CSV file.

    Returns
    -------
    X : pandas.DataFrame of shape (n_samples, n_features)
        Features.
    y : ndarray of shape (n_samples,)
        Class labels.
    numeric : list of str
        Names of the numeric columns.
    categorical : list of str
        Names of the categorical (string) columns.
    """
    import pandas as pd

    df = pd.read_csv(path)
    if df.shape[1] < 2:
        raise ValueError(f"{path}: expected at least one feature column and a target column")
    target = df.columns[-1]
    df = df[df[target].notna()].reset_index(drop=True)
    y = df[target].to_numpy()
    if y.dtype != object and not np.issubdtype(y.dtype, np.number):
        y = y.astype(object)
    X = df.drop(columns=target)
    numeric, categorical = [], []
    for column in X.columns:
        col = X[column]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            numeric.append(column)
        else:
            categorical.append(column)
            X[column] = col.astype(object).where(col.notna(), np.nan)
    return X, y, numeric, categorical


def load_set(name, data_dir=None):
    """Load a data set of the suite by name.

    Parameters
    ----------
    name : str
        One of :data:`ALL_SETS`.
    data_dir : str or path-like, default=None
        Folder of the UCI CSV files ``<name>.csv``.

    Returns
    -------
    data : tuple or None
        ``(X, y, numeric, categorical)`` as returned by
        :func:`load_sklearn_set` or :func:`load_uci_csv`.
    reason : str or None
        Why the set was skipped (then ``data`` is None).
    """
    if name in SKLEARN_SETS:
        return load_sklearn_set(name), None
    if name not in UCI_SETS:
        raise ValueError(f"unknown data set {name!r}; choose from {', '.join(ALL_SETS)}")
    if data_dir is None:
        return None, "no data directory given (--data-dir)"
    path = Path(data_dir) / f"{name}.csv"
    if not path.is_file():
        return None, f"file not found: {path}"
    return load_uci_csv(path), None


# --------------------------------------------------------------------------
# Models and evaluation
# --------------------------------------------------------------------------
def _import_symnet():
    """Import ``SymNetClassifier``, falling back to this source checkout."""
    try:
        from sklearn_symnet import SymNetClassifier
    except ModuleNotFoundError as exc:
        if exc.name != "sklearn_symnet" or not (REPO_ROOT / "sklearn_symnet").is_dir():
            raise
        sys.path.insert(0, str(REPO_ROOT))
        from sklearn_symnet import SymNetClassifier
    return SymNetClassifier


# SymNetClassifier parameters other than the defaults (``--symnet-params``):
# for measuring candidate defaults on the whole suite.
SYMNET_PARAMS = {}


def _parse_params(text):
    """``"a=1,b=rate"`` -> ``{"a": 1, "b": "rate"}`` (ints, floats, None, strings)."""
    out = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        key, _, value = item.partition("=")
        if value == "None":
            out[key] = None
            continue
        for cast in (int, float):
            try:
                value = cast(value)
                break
            except ValueError:
                pass
        out[key] = value
    return out


def make_pipeline(model, numeric, categorical, *, seed=0, max_iter=None):
    """Build the preprocessing + classifier pipeline.

    Parameters
    ----------
    model : {"symnet", "mlp"}
        Classifier: ``SymNetClassifier()`` or ``MLPClassifier()`` at defaults.
    numeric : list of int or str
        Numeric columns (median impute + ``StandardScaler``).
    categorical : list of int or str
        String columns (most-frequent impute + one-hot encoding).
    seed : int, default=0
        ``random_state`` of the classifier.
    max_iter : int, default=None
        Override of ``max_iter``; None keeps the classifier's default.

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        Unfitted pipeline ``[("prep", ColumnTransformer), ("clf", model)]``.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    transformers = []
    if numeric:
        num = Pipeline([
            ("impute", SimpleImputer(strategy="median")),
            ("scale", StandardScaler()),
        ])
        transformers.append(("num", num, list(numeric)))
    if categorical:
        cat = Pipeline([
            ("impute", SimpleImputer(strategy="most_frequent")),
            ("onehot", OneHotEncoder(handle_unknown="ignore")),
        ])
        transformers.append(("cat", cat, list(categorical)))
    prep = ColumnTransformer(transformers)

    params = {"random_state": seed}
    if max_iter is not None:
        params["max_iter"] = max_iter
    if model == "symnet":
        clf = _import_symnet()(**{**params, **SYMNET_PARAMS})
    elif model == "mlp":
        clf = MLPClassifier(**params)
    else:
        raise ValueError(f"unknown model {model!r}")
    return Pipeline([("prep", prep), ("clf", clf)])


def make_splits(y, seed=0):
    """Train/test index pairs for one data set.

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
        Class labels.
    seed : int, default=0
        Seed of the shuffling.

    Returns
    -------
    splits : list of (ndarray, ndarray)
        Five stratified folds, or one stratified 80/20 split when there are
        more than 5,000 samples.
    scheme : str
        Description of the splits.
    """
    from sklearn.model_selection import StratifiedKFold, train_test_split

    n = len(y)
    if n > MAX_ROWS_CV:
        train, test = train_test_split(
            np.arange(n), test_size=TEST_SIZE, stratify=y, random_state=seed
        )
        return [(train, test)], "holdout 80/20 (stratified)"
    cv = StratifiedKFold(n_splits=N_SPLITS, shuffle=True, random_state=seed)
    return list(cv.split(np.zeros((n, 1)), y)), f"{N_SPLITS}-fold stratified CV"


def _take(X, idx):
    """Rows ``idx`` of an ndarray or a DataFrame."""
    return X.iloc[idx] if hasattr(X, "iloc") else X[idx]


def evaluate_set(X, y, numeric, categorical, *, seed=0, max_iter=None):
    """Fit and score both models on the same splits of one data set.

    Parameters
    ----------
    X : ndarray or pandas.DataFrame of shape (n_samples, n_features)
        Features.
    y : ndarray of shape (n_samples,)
        Class labels.
    numeric, categorical : list of int or str
        Numeric and string columns of ``X``.
    seed : int, default=0
        Seed of the splits and ``random_state`` of the models.
    max_iter : int, default=None
        Override of ``max_iter`` for both models.

    Returns
    -------
    result : dict
        ``n_samples``, ``n_features``, ``n_classes``, ``scheme`` and, per
        model, ``acc`` (mean accuracy), ``fold_acc`` and ``fit_time`` (sum
        over the folds, seconds).
    """
    from sklearn.exceptions import ConvergenceWarning

    splits, scheme = make_splits(y, seed)
    result = {
        "n_samples": int(X.shape[0]),
        "n_features": int(X.shape[1]),
        "n_classes": int(len(np.unique(y))),
        "scheme": scheme,
        "n_categorical": len(categorical),
    }
    for model in MODEL_NAMES:
        accs, fit_time = [], 0.0
        for train, test in splits:
            pipe = make_pipeline(model, numeric, categorical, seed=seed, max_iter=max_iter)
            X_train, X_test = _take(X, train), _take(X, test)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                time.sleep(0.2)  # the previous fit's BLAS threads go idle
                start = time.perf_counter()
                pipe.fit(X_train, y[train])
                fit_time += time.perf_counter() - start
            accs.append(float(pipe.score(X_test, y[test])))
        result[model] = {
            "acc": float(np.mean(accs)),
            "fold_acc": accs,
            "fit_time": fit_time,
        }
    result["diff_points"] = 100.0 * (result["symnet"]["acc"] - result["mlp"]["acc"])
    return result


def _versions():
    """Versions of Python and the packages the suite depends on."""
    import scipy
    import sklearn

    try:
        import sklearn_symnet

        symnet_version = getattr(sklearn_symnet, "__version__", "unknown")
    except ImportError:  # pragma: no cover - the suite needs it anyway
        symnet_version = None
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "sklearn": sklearn.__version__,
        "sklearn_symnet": symnet_version,
    }


def summarize(sets):
    """Aggregate the per-set results.

    Parameters
    ----------
    sets : dict
        Set name to the result of :func:`evaluate_set`.

    Returns
    -------
    summary : dict
        ``n_sets``, ``mean_acc`` and ``total_fit_time`` per model,
        ``n_within`` (sets where SymNet is within 0.5 points of MLP or
        better) and ``fit_time_ratio`` (SymNet total / MLP total).
    """
    if not sets:
        return {"n_sets": 0}
    mean_acc = {m: float(np.mean([r[m]["acc"] for r in sets.values()])) for m in MODEL_NAMES}
    total = {m: float(sum(r[m]["fit_time"] for r in sets.values())) for m in MODEL_NAMES}
    n_within = sum(r["diff_points"] >= -WITHIN_POINTS for r in sets.values())
    return {
        "n_sets": len(sets),
        "mean_acc": mean_acc,
        "n_within": int(n_within),
        "within_points": WITHIN_POINTS,
        "total_fit_time": total,
        "fit_time_ratio": total["symnet"] / total["mlp"] if total["mlp"] > 0 else None,
    }


def run_suite(sets, data_dir=None, seed=0, max_iter=None):
    """Run the benchmark on the given data sets.

    Parameters
    ----------
    sets : list of str
        Names from :data:`ALL_SETS`, in the order to run them.
    data_dir : str or path-like, default=None
        Folder of the UCI CSV files; without it the UCI sets are skipped.
    seed : int, default=0
        Seed of the splits and ``random_state`` of both models.
    max_iter : int, default=None
        Override of ``max_iter`` for both models (smoke tests only); None
        keeps the defaults.

    Returns
    -------
    result : dict
        ``sets`` (name to the result of :func:`evaluate_set`), ``skipped``
        (name to reason), ``summary`` (see :func:`summarize`), ``config``,
        ``versions`` and ``date``.
    """
    for name in sets:
        if name not in ALL_SETS:
            raise ValueError(f"unknown data set {name!r}; choose from {', '.join(ALL_SETS)}")
    results, skipped = {}, {}
    for name in sets:
        data, reason = load_set(name, data_dir)
        if data is None:
            print(f"skipping {name}: {reason}", flush=True)
            skipped[name] = reason
            continue
        X, y, numeric, categorical = data
        print(f"running {name} ({X.shape[0]} x {X.shape[1]}) ...", end=" ", flush=True)
        start = time.perf_counter()
        results[name] = evaluate_set(X, y, numeric, categorical, seed=seed, max_iter=max_iter)
        r = results[name]
        print(
            f"SymNet {100 * r['symnet']['acc']:.2f}%, MLP {100 * r['mlp']['acc']:.2f}% "
            f"({time.perf_counter() - start:.1f} s)",
            flush=True,
        )
    return {
        "sets": results,
        "skipped": skipped,
        "summary": summarize(results),
        "config": {
            "sets": list(sets),
            "data_dir": None if data_dir is None else str(data_dir),
            "seed": seed,
            "max_iter": max_iter,
            "n_splits": N_SPLITS,
            "max_rows_cv": MAX_ROWS_CV,
            "test_size": TEST_SIZE,
            "models": {"symnet": f"SymNetClassifier(**{SYMNET_PARAMS!r})",
                       "mlp": "MLPClassifier()"},
        },
        "versions": _versions(),
        "platform": platform.platform(),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    }


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------
def format_report(result):
    """Markdown report of a suite run: table and summary.

    Parameters
    ----------
    result : dict
        Output of :func:`run_suite`.

    Returns
    -------
    text : str
        Markdown text.
    """
    lines = [
        "| set | n | SymNet acc | MLP acc | diff (pts) | SymNet fit s | MLP fit s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in result["sets"].items():
        lines.append(
            f"| {name} | {r['n_samples']} | {100 * r['symnet']['acc']:.2f} | "
            f"{100 * r['mlp']['acc']:.2f} | {r['diff_points']:+.2f} | "
            f"{r['symnet']['fit_time']:.2f} | {r['mlp']['fit_time']:.2f} |"
        )
    lines.append("")
    s = result["summary"]
    if s["n_sets"]:
        acc, total = s["mean_acc"], s["total_fit_time"]
        ratio = s["fit_time_ratio"]
        lines += [
            f"- mean accuracy: SymNet {100 * acc['symnet']:.2f}%, MLP {100 * acc['mlp']:.2f}% "
            f"(difference {100 * (acc['symnet'] - acc['mlp']):+.2f} points)",
            f"- SymNet within {s['within_points']} points of MLP or better: "
            f"{s['n_within']} of {s['n_sets']} sets",
            f"- total fit time: SymNet {total['symnet']:.2f} s, MLP {total['mlp']:.2f} s"
            + ("" if ratio is None else f", ratio SymNet/MLP {ratio:.2f}"),
        ]
    else:
        lines.append("- no data set was run")
    if result["skipped"]:
        lines.append("- skipped: " + "; ".join(f"{k} ({v})" for k, v in result["skipped"].items()))
    cfg, ver = result["config"], result["versions"]
    max_iter = "default" if cfg["max_iter"] is None else cfg["max_iter"]
    lines += [
        "",
        f"Accuracy in percent ({N_SPLITS}-fold stratified CV; one stratified 80/20 split for "
        f"sets with more than {MAX_ROWS_CV} rows); fit time summed over the folds. Both models "
        f"at their defaults, seed {cfg['seed']}, max_iter {max_iter}. "
        f"numpy {ver['numpy']}, scipy {ver['scipy']}, scikit-learn {ver['sklearn']}, "
        f"sklearn_symnet {ver['sklearn_symnet']}; {result['date']}.",
    ]
    return "\n".join(lines) + "\n"


def write_results(result, out):
    """Write ``<out>.json`` and ``<out>.md``.

    Parameters
    ----------
    result : dict
        Output of :func:`run_suite`.
    out : str or path-like
        Path prefix; its directory is created.

    Returns
    -------
    paths : tuple of Path
        The JSON and markdown files.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    json_path = out.with_name(out.name + ".json")
    md_path = out.with_name(out.name + ".md")
    json_path.write_text(json.dumps(result, indent=2) + "\n")
    md_path.write_text(format_report(result))
    return json_path, md_path


def parse_args(argv=None):
    """Parse the command line.

    Parameters
    ----------
    argv : list of str, default=None
        Arguments; None reads ``sys.argv[1:]``.

    Returns
    -------
    args : argparse.Namespace
        Parsed arguments.
    """
    parser = argparse.ArgumentParser(
        description="SymNetClassifier vs MLPClassifier (defaults) on UCI and scikit-learn sets."
    )
    parser.add_argument(
        "--data-dir", default=None,
        help="folder of the UCI CSV files <Name>.csv; without it only scikit-learn's sets run",
    )
    parser.add_argument(
        "--out", default=str(DEFAULT_OUT),
        help="path prefix of the .json and .md results (default: %(default)s)",
    )
    parser.add_argument(
        "--sets", default=",".join(ALL_SETS),
        help="comma-separated data sets (default: all: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed (default: %(default)s)")
    parser.add_argument(
        "--symnet-params", default="",
        help="SymNetClassifier parameters to change, e.g. coupling=flux,output_coupling=rate",
    )
    parser.add_argument(
        "--max-iter", type=int, default=None,
        help="override max_iter of both models (smoke tests only; default: model defaults)",
    )
    args = parser.parse_args(argv)
    args.sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    SYMNET_PARAMS.update(_parse_params(args.symnet_params))
    unknown = [s for s in args.sets if s not in ALL_SETS]
    if unknown:
        parser.error(f"unknown data set(s) {', '.join(unknown)}; choose from {', '.join(ALL_SETS)}")
    return args


def main(argv=None):
    """Run the suite from the command line, print and write the report.

    Parameters
    ----------
    argv : list of str, default=None
        Arguments; None reads ``sys.argv[1:]``.

    Returns
    -------
    result : dict
        Output of :func:`run_suite`.
    """
    args = parse_args(argv)
    result = run_suite(args.sets, data_dir=args.data_dir, seed=args.seed, max_iter=args.max_iter)
    print()
    print(format_report(result), end="")
    json_path, md_path = write_results(result, args.out)
    print(f"\nwrote {json_path} and {md_path}")
    return result


if __name__ == "__main__":
    main()
