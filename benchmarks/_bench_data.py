"""Data and environment shared by the benchmark scripts.

One loader for every benchmark that trains on MNIST or on the dense synthetic
case (``bench_mnist.py``, ``bench_scaling.py``, ``bench_dense.py``,
``profile_epoch.py``, ``tune_defaults.py``):

* ``mnist``: from ``--data PATH`` (an ``.npz`` with the keys ``x_train``,
  ``y_train``, ``x_test``, ``y_test``; uint8 images, 28x28 or flat 784) or,
  without a path, ``fetch_openml("mnist_784", as_frame=False)`` (first 60000
  images for training, last 10000 for testing). Pixels are scaled to [0, 1]
  (/255): mostly zeros, SymNet's zero-skipping first-layer path.
* ``synthetic``: ``make_classification(n_samples=60000 + 10000, n_features=200,
  n_informative=50, n_classes=10, random_state=0)``, first 60000 rows for
  training, last 10000 for testing: dense, SymNet's BLAS first-layer path.
  The full set is always generated (about 1-2 s) so that ``--n-train N`` is
  the first N rows of the same set for every N.
* ``--standardize``: a ``StandardScaler`` fitted on the training part (after
  ``--n-train``) and applied to both parts; dense input, the BLAS path.
* ``--dtype``: the features are cast to float64 or float32 (the model dtype
  of both estimators follows the input dtype).

:func:`environment` records what the timings depend on: versions (and the git
commit of this checkout), CPU, thread pools, thread environment variables,
load average.

From a script in this folder::

    from _bench_data import add_data_arguments, load_from_args
    parser = argparse.ArgumentParser()
    add_data_arguments(parser)
    args = parser.parse_args()
    data = load_from_args(args)   # data.X_train, data.y_train, ..., data.info
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DATASETS = ("mnist", "synthetic")
MNIST_FEATURES = 784
MNIST_TRAIN = 60000
SYNTHETIC = {
    "n_train": 60000,
    "n_test": 10000,
    "n_features": 200,
    "n_informative": 50,
    "n_classes": 10,
    "random_state": 0,
}
REPO_ROOT = Path(__file__).resolve().parent.parent
THREAD_ENV = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "OMP_WAIT_POLICY",
    "GOMP_SPINCOUNT",
)


@dataclass
class Dataset:
    """Train/test arrays of one benchmark case and their description."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    info: dict = field(default_factory=dict)

    def __iter__(self):  # X_train, y_train, X_test, y_test = data
        return iter((self.X_train, self.y_train, self.X_test, self.y_test))


# --------------------------------------------------------------------------
# Raw sets
# --------------------------------------------------------------------------
def load_mnist_raw(path=None):
    """MNIST as ``(x_train, y_train, x_test, y_test)``: flat pixels 0..255, int64 labels.

    ``path`` is an ``.npz`` with ``x_train``, ``y_train``, ``x_test``,
    ``y_test``; None fetches ``mnist_784`` from OpenML (network, cached by
    scikit-learn) and splits it 60000 / 10000.
    """
    if path is None:
        from sklearn.datasets import fetch_openml

        X, y = fetch_openml("mnist_784", version=1, as_frame=False, return_X_y=True)
        parts = (X[:MNIST_TRAIN], y[:MNIST_TRAIN], X[MNIST_TRAIN:], y[MNIST_TRAIN:])
    else:
        with np.load(path, allow_pickle=False) as d:
            parts = (d["x_train"], d["y_train"], d["x_test"], d["y_test"])
    x_train, y_train, x_test, y_test = (np.asarray(p) for p in parts)
    x_train = x_train.reshape(x_train.shape[0], -1)
    x_test = x_test.reshape(x_test.shape[0], -1)
    for x in (x_train, x_test):
        if x.shape[1] != MNIST_FEATURES:
            raise ValueError(f"expected {MNIST_FEATURES} pixels per image, got {x.shape[1]}")
    return x_train, y_train.astype(np.int64), x_test, y_test.astype(np.int64)


def make_synthetic():
    """The dense synthetic case as ``(x_train, y_train, x_test, y_test)`` (float64)."""
    from sklearn.datasets import make_classification

    s = SYNTHETIC
    X, y = make_classification(
        n_samples=s["n_train"] + s["n_test"],
        n_features=s["n_features"],
        n_informative=s["n_informative"],
        n_classes=s["n_classes"],
        random_state=s["random_state"],
    )
    n = s["n_train"]
    return X[:n], y[:n].astype(np.int64), X[n:], y[n:].astype(np.int64)


def _synthetic_source():
    s = SYNTHETIC
    return (
        f"make_classification(n_samples={s['n_train']}+{s['n_test']}, "
        f"n_features={s['n_features']}, n_informative={s['n_informative']}, "
        f"n_classes={s['n_classes']}, random_state={s['random_state']}), "
        f"split {s['n_train']}/{s['n_test']}"
    )


# --------------------------------------------------------------------------
# The one loader
# --------------------------------------------------------------------------
def load_dataset(
    dataset="mnist",
    path=None,
    *,
    dtype="float64",
    n_train=None,
    n_test=None,
    standardize=False,
):
    """Load a benchmark case, ready for ``partial_fit``.

    Parameters
    ----------
    dataset : {"mnist", "synthetic"}, default="mnist"
        MNIST scaled to [0, 1] (mostly zeros) or the dense synthetic case.
    path : str or path-like, default=None
        MNIST ``.npz``; None fetches it from OpenML. Ignored for "synthetic".
    dtype : {"float64", "float32"}, default="float64"
        dtype of the features.
    n_train, n_test : int, default=None
        Keep only the first ``n_train`` training / ``n_test`` test rows.
    standardize : bool, default=False
        Apply a ``StandardScaler`` fitted on the (kept) training rows.

    Returns
    -------
    data : Dataset
        ``X_train`` (C-contiguous, ``dtype``), ``y_train`` (int64), ``X_test``,
        ``y_test`` and ``info`` (a JSON-able description).
    """
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose from {DATASETS}")
    if dtype not in ("float64", "float32"):
        raise ValueError(f"dtype must be float64 or float32, got {dtype!r}")
    if dataset == "mnist":
        x_train, y_train, x_test, y_test = load_mnist_raw(path)
        source = str(path) if path is not None else "fetch_openml('mnist_784')"
        scaling = "/255"
    else:
        x_train, y_train, x_test, y_test = make_synthetic()
        source = _synthetic_source()
        scaling = "none"

    def features(x, n):
        # Cast first (one copy in the target dtype), then scale in place.
        x = np.array(x[slice(n)], dtype=dtype, order="C")
        if dataset == "mnist":
            x /= 255
        return x

    X_train, X_test = features(x_train, n_train), features(x_test, n_test)
    y_train, y_test = y_train[slice(n_train)].copy(), y_test[slice(n_test)].copy()
    if standardize:
        from sklearn.preprocessing import StandardScaler

        scaler = StandardScaler(copy=False).fit(X_train)
        X_train = np.ascontiguousarray(scaler.transform(X_train), dtype=dtype)
        X_test = np.ascontiguousarray(scaler.transform(X_test), dtype=dtype)
        scaling += ", StandardScaler fitted on the training rows"
    info = {
        "dataset": dataset,
        "source": source,
        "standardize": bool(standardize),
        "scaling": scaling,
        "n_train": int(X_train.shape[0]),
        "n_test": int(X_test.shape[0]),
        "n_features": int(X_train.shape[1]),
        "n_classes": int(np.unique(y_train).shape[0]),
        "dtype": str(X_train.dtype),
        "train_zero_fraction": float(1.0 - np.count_nonzero(X_train) / max(X_train.size, 1)),
    }
    return Dataset(X_train, y_train, X_test, y_test, info)


def describe(info):
    """One-line description of a case, e.g. ``mnist /255 float32``."""
    name = info["dataset"] + (" standardized" if info["standardize"] else "")
    if info["dataset"] == "mnist" and not info["standardize"]:
        name += " /255"
    return f"{name} {info['dtype']}"


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------
def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def add_data_arguments(parser, *, dataset="mnist", n_train=None):
    """Add ``--dataset``, ``--data``, ``--standardize``, ``--dtype``, ``--n-train``,
    ``--n-test`` to an :class:`argparse.ArgumentParser`."""
    parser.add_argument(
        "--dataset",
        choices=DATASETS,
        default=dataset,
        help=f"mnist (/255, mostly zeros) or synthetic (dense make_classification "
        f"{SYNTHETIC['n_train']}+{SYNTHETIC['n_test']} x {SYNTHETIC['n_features']}); "
        f"default {dataset}",
    )
    parser.add_argument(
        "--data",
        metavar="PATH",
        help="MNIST .npz with x_train, y_train, x_test, y_test (uint8); "
        "default: fetch_openml('mnist_784')",
    )
    parser.add_argument(
        "--standardize",
        action="store_true",
        help="StandardScaler fitted on the training rows (dense input)",
    )
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    parser.add_argument(
        "--n-train",
        type=positive_int,
        default=n_train,
        metavar="N",
        help="use the first N training rows" + (f" (default {n_train})" if n_train else ""),
    )
    parser.add_argument(
        "--n-test", type=positive_int, metavar="N", help="use the first N test rows"
    )
    return parser


def load_from_args(args, **overrides):
    """:func:`load_dataset` with the options of :func:`add_data_arguments`."""
    kwargs = {
        "dataset": args.dataset,
        "path": args.data,
        "dtype": args.dtype,
        "n_train": args.n_train,
        "n_test": args.n_test,
        "standardize": args.standardize,
    }
    kwargs.update(overrides)
    return load_dataset(kwargs.pop("dataset"), kwargs.pop("path"), **kwargs)


# --------------------------------------------------------------------------
# Environment
# --------------------------------------------------------------------------
def load_average():
    """1, 5 and 15 minute load averages, or None (other load skews times)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def threadpools():
    """threadpoolctl's view of the loaded BLAS and OpenMP pools ([] without it)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keys = (
        "user_api",
        "internal_api",
        "num_threads",
        "version",
        "threading_layer",
        "architecture",
        "prefix",
        "filepath",
    )
    return [{k: info.get(k) for k in keys if k in info} for info in threadpool_info()]


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git(*args):
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO_ROOT), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout


def run_header(script, argv):
    """Comment lines that say how a diagnostic's output was made: its command
    line, the commit (and modified files) and where ``sklearn_symnet`` came
    from (a worktree build of another commit shows there)."""
    env = environment()
    return (f"# python benchmarks/{script} {' '.join(sys.argv[1:] if argv is None else argv)}\n"
            f"# git {env['git_commit']} (modified: {env['git_modified'] or 'none'}); "
            f"sklearn_symnet from {env['sklearn_symnet_file']}; load {env['load_average']}")


def environment():
    """Versions, CPU, thread pools and thread environment of this process."""
    import scipy
    import sklearn

    # Report sklearn_symnet only when the run imported it (importing it here
    # could load thread pools the run did not have).
    symnet = sys.modules.get("sklearn_symnet")
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = None
    commit = _git("rev-parse", "HEAD")
    commit = commit.strip() if commit else None
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": affinity,
        "processor": platform.processor(),
        "uname": platform.uname()._asdict(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "sklearn": sklearn.__version__,
        "sklearn_symnet": getattr(symnet, "__version__", "unknown") if symnet else None,
        "sklearn_symnet_file": getattr(symnet, "__file__", None) if symnet else None,
        "git_commit": commit,
        # Uncommitted changes to tracked files (the timed code may differ from the commit).
        "git_modified": [line[3:] for line in status.splitlines()][:50] if status else [],
        "threadpools": threadpools(),
        "thread_env": {k: os.environ[k] for k in THREAD_ENV if k in os.environ},
        "load_average": load_average(),
    }
