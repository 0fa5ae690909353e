"""Benchmark ``SymNetClassifier`` against ``MLPClassifier`` on MNIST.

Both models get the same hidden width, minibatch size, number of epochs,
seed and (float32 or float64) data. One epoch is one
``partial_fit(X_train, y_train, classes=np.arange(10))`` call: one shuffled
pass over the training set in minibatches of ``batch_size``, with the Adam
state kept between calls. Each epoch is timed with :func:`time.perf_counter`;
the test accuracy is recorded after every epoch, and scoring is not counted
as training time. The two models run back to back in the same process (SymNet
first on even repeats, MLP first on odd repeats).

After training, ``predict(X_test)`` is timed (median of 3 calls). The peak
memory of training is measured with :mod:`tracemalloc` (NumPy buffers are
traced) and, on Linux, as the growth of the process peak RSS (``VmHWM``).

The floating-point floor of one epoch is the dense forward + backward cost of
the network, ``2 * 3 * n_train * sum(n_in * n_out)`` over the layers (bias and
activation work is not counted); dividing it by the median epoch time gives a
"GFLOP/s-equivalent" for each model.

Results are printed as a markdown table and written to ``OUT/bench_mnist[_TAG]``
``.json``, ``.md`` and ``.png`` (test accuracy against cumulative training
wall-clock time).

Usage
-----
Full benchmark (MNIST from OpenML through :func:`sklearn.datasets.fetch_openml`,
first 60000 images for training, last 10000 for testing)::

    python benchmarks/bench_mnist.py

From a local ``.npz`` file with the keys ``x_train``, ``y_train``, ``x_test``,
``y_test`` (uint8 images, 28x28 or flat 784), in float32, three repeats::

    python benchmarks/bench_mnist.py --data mnist.npz --dtype float32 --repeat 3

A wider two-layer network, a different SymNet learning rate and extra SymNet
parameters, written under a tag::

    python benchmarks/bench_mnist.py --hidden 256,128 --lr-symnet 3e-3 \\
        --symnet-params '{"K1": 0.3}' --tag wide

Smoke test on a subset, MLP only::

    python benchmarks/bench_mnist.py --data mnist.npz --models mlp --epochs 2 \\
        --n-train 5000 --n-test 1000 --out /tmp/bench

From Python (returns the result dictionary)::

    from bench_mnist import main
    result = main(["--data", "mnist.npz", "--n-train", "500", "--epochs", "1"])
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shlex
import statistics
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

MODEL_NAMES = ("symnet", "mlp")
LABELS = {"symnet": "SymNetClassifier", "mlp": "MLPClassifier"}
COLORS = {"symnet": "tab:blue", "mlp": "tab:orange"}
MARKERS = {"symnet": "o", "mlp": "s"}
N_FEATURES = 784
N_CLASSES = 10
N_PREDICT_CALLS = 3
MIB = 2.0**20
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results"


# --------------------------------------------------------------------------
# Data and models
# --------------------------------------------------------------------------
def load_data(path=None, *, dtype="float64", n_train=None, n_test=None):
    """Load MNIST and scale the pixels to ``[0, 1]``.

    Parameters
    ----------
    path : str or path-like, default=None
        ``.npz`` file with the keys ``x_train``, ``y_train``, ``x_test`` and
        ``y_test`` (uint8 images, 28x28 or flat 784). If None, MNIST is
        fetched with ``fetch_openml("mnist_784", as_frame=False)`` and split
        in the standard way (first 60000 train, last 10000 test).
    dtype : {"float64", "float32"}, default="float64"
        Floating-point type of the features.
    n_train, n_test : int, default=None
        Keep only the first ``n_train`` training / ``n_test`` test samples.

    Returns
    -------
    X_train : ndarray of shape (n_train, 784)
    y_train : ndarray of shape (n_train,), dtype int64
    X_test : ndarray of shape (n_test, 784)
    y_test : ndarray of shape (n_test,), dtype int64
    """
    if path is None:
        from sklearn.datasets import fetch_openml

        X, y = fetch_openml("mnist_784", version=1, as_frame=False, return_X_y=True)
        x_train, x_test = X[:60000], X[60000:]
        y_train, y_test = y[:60000], y[60000:]
    else:
        with np.load(path, allow_pickle=False) as data:
            x_train, y_train = data["x_train"], data["y_train"]
            x_test, y_test = data["x_test"], data["y_test"]

    def features(x, n):
        x = np.asarray(x)[slice(n)]
        x = x.reshape(x.shape[0], -1).astype(dtype)
        if x.shape[1] != N_FEATURES:
            raise ValueError(f"expected {N_FEATURES} pixels per image, got {x.shape[1]}")
        x /= 255
        return x

    def labels(y, n):
        return np.asarray(y)[slice(n)].astype(np.int64)

    return (
        features(x_train, n_train),
        labels(y_train, n_train),
        features(x_test, n_test),
        labels(y_test, n_test),
    )


def _import_symnet():
    """Import ``SymNetClassifier``, falling back to this source checkout."""
    try:
        from sklearn_symnet import SymNetClassifier
    except ModuleNotFoundError as exc:
        if exc.name != "sklearn_symnet" or not (REPO_ROOT / "sklearn_symnet").is_dir():
            raise SystemExit(
                f"cannot import sklearn_symnet ({exc}); install the package or run "
                "with --models mlp"
            ) from exc
        # Not installed: use the package next to this benchmarks folder.
        sys.path.insert(0, str(REPO_ROOT))
        from sklearn_symnet import SymNetClassifier
    return SymNetClassifier


def make_models(
    names,
    *,
    hidden,
    batch_size,
    seed,
    lr_symnet=None,
    lr_mlp=1e-3,
    symnet_params=None,
):
    """Build unfitted models with matching settings.

    Parameters
    ----------
    names : iterable of {"symnet", "mlp"}
        Models to build.
    hidden : tuple of int
        ``hidden_layer_sizes`` for both models.
    batch_size : int
        Minibatch size for both models.
    seed : int
        ``random_state`` for both models.
    lr_symnet : float, default=None
        ``learning_rate_init`` of SymNet; None keeps SymNet's default.
    lr_mlp : float, default=1e-3
        ``learning_rate_init`` of MLPClassifier.
    symnet_params : dict, default=None
        Extra keyword arguments for ``SymNetClassifier`` (applied last).

    Returns
    -------
    models : dict
        Model name to unfitted estimator, in the order of ``names``.
    """
    models = {}
    for name in names:
        if name == "symnet":
            SymNetClassifier = _import_symnet()
            params = {
                "hidden_layer_sizes": hidden,
                "batch_size": batch_size,
                "max_iter": 1,
                "random_state": seed,
            }
            if lr_symnet is not None:
                params["learning_rate_init"] = lr_symnet
            params.update(symnet_params or {})
            models[name] = SymNetClassifier(**params)
        elif name == "mlp":
            from sklearn.neural_network import MLPClassifier

            models[name] = MLPClassifier(
                hidden_layer_sizes=hidden,
                batch_size=batch_size,
                learning_rate_init=lr_mlp,
                random_state=seed,
                max_iter=1,
            )
        else:
            raise ValueError(f"unknown model {name!r}; choose from {MODEL_NAMES}")
    return models


# --------------------------------------------------------------------------
# Measurement helpers
# --------------------------------------------------------------------------
def _read_status_kib(field):
    """Return a ``/proc/self/status`` field in KiB, or None if unavailable."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss():
    """Reset the process peak RSS (Linux ``VmHWM``); return True on success."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def _load_average():
    """1, 5 and 15 minute system load averages, or None (other load skews times)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def _max_rss_mib():
    """Process-lifetime maximum RSS from :func:`resource.getrusage`, in MiB."""
    try:
        import resource
    except ImportError:  # not available on Windows
        return None
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return maxrss / MIB if sys.platform == "darwin" else maxrss / 1024


def _epoch(model, X, y, classes):
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        # One epoch per call: convergence warnings are expected noise.
        warnings.simplefilter("ignore", category=ConvergenceWarning)
        model.partial_fit(X, y, classes=classes)


def _param_dtype(model):
    coefs = getattr(model, "coefs_", None)
    if coefs:
        return str(np.asarray(coefs[0]).dtype)
    return None


def run_once(model, X_train, y_train, X_test, y_test, *, epochs, memory="separate"):
    """Train ``model`` epoch by epoch and measure time, accuracy and memory.

    Parameters
    ----------
    model : estimator with ``partial_fit``
        Unfitted classifier; it is trained in place.
    X_train, y_train, X_test, y_test : ndarray
        Data.
    epochs : int
        Number of ``partial_fit`` calls (epochs).
    memory : {"separate", "timed", "off"}, default="separate"
        How to measure the :mod:`tracemalloc` peak of training. tracemalloc
        slows training down (about 30% for MLPClassifier on MNIST), so with
        "separate" the timed epochs run untraced and a fresh clone of the
        model is trained for one extra, untimed and traced epoch (including
        initialisation). "timed" traces the timed training loop itself;
        "off" skips it.

    Returns
    -------
    result : dict
        Per-epoch times (``epoch_s``), cumulative training times
        (``cum_train_s``) and test accuracies (``test_acc``), predict times,
        memory peaks and the fitted parameters' dtype.
    """
    from sklearn.base import clone

    classes = np.arange(N_CLASSES)
    unfitted = clone(model)
    epoch_s, cum_s, acc = [], [], []
    tracemalloc_peak = None

    rss_before = _read_status_kib("VmRSS")
    rss_peak = None
    total = 0.0
    for _ in range(epochs):
        # Reset the peak RSS each epoch so that scoring stays out of it.
        rss_reset = _reset_peak_rss()
        if memory == "timed":
            tracemalloc.start()
        t0 = time.perf_counter()
        _epoch(model, X_train, y_train, classes)
        dt = time.perf_counter() - t0
        rss_hwm = _read_status_kib("VmHWM")
        if rss_reset and rss_hwm is not None:
            rss_peak = max(rss_hwm, rss_peak or 0)
        if memory == "timed":
            # Stop before scoring so that its allocations stay out of the peak.
            peak = tracemalloc.get_traced_memory()[1] / MIB
            tracemalloc.stop()
            tracemalloc_peak = max(peak, tracemalloc_peak or 0.0)
        total += dt
        epoch_s.append(dt)
        cum_s.append(total)
        acc.append(float(model.score(X_test, y_test)))

    if memory == "separate":
        fresh = clone(unfitted)
        tracemalloc.start()
        _epoch(fresh, X_train, y_train, classes)
        tracemalloc_peak = tracemalloc.get_traced_memory()[1] / MIB
        tracemalloc.stop()
        del fresh

    predict_s = []
    for _ in range(N_PREDICT_CALLS):
        t0 = time.perf_counter()
        model.predict(X_test)
        predict_s.append(time.perf_counter() - t0)

    rss_growth = None
    if rss_before is not None and rss_peak is not None:
        rss_growth = max(rss_peak - rss_before, 0) / 1024
    return {
        "epoch_s": epoch_s,
        "cum_train_s": cum_s,
        "test_acc": acc,
        "final_test_acc": acc[-1] if acc else None,
        "median_epoch_s": statistics.median(epoch_s) if epoch_s else None,
        "total_train_s": total,
        "predict_s": predict_s,
        "median_predict_s": statistics.median(predict_s),
        "tracemalloc_peak_mib": tracemalloc_peak,
        "memory_mode": memory,
        "peak_rss_growth_mib": rss_growth,
        "param_dtype": _param_dtype(model),
        "params": {k: repr(v) for k, v in model.get_params().items()},
    }


# --------------------------------------------------------------------------
# Floor, environment and summary
# --------------------------------------------------------------------------
def floor_flops_per_epoch(n_train, hidden, n_features=N_FEATURES, n_classes=N_CLASSES):
    """Dense floating-point floor of one epoch (forward + 2 backward matmuls).

    ``2 * 3 * n_train * sum(n_in * n_out)`` over the layers
    ``n_features -> hidden... -> n_classes``.
    """
    sizes = [n_features, *hidden, n_classes]
    weights = sum(a * b for a, b in itertools.pairwise(sizes))
    return 2 * 3 * n_train * weights


def _threadpool_summary():
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


def _environment():
    import sklearn

    # Only report sklearn_symnet when the run used it (importing it here could
    # load more thread pools than the run had).
    symnet = sys.modules.get("sklearn_symnet")
    symnet_version = getattr(symnet, "__version__", "unknown") if symnet else None
    symnet_file = getattr(symnet, "__file__", None) if symnet else None
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = None
    thread_env = (
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "BLIS_NUM_THREADS",
        "VECLIB_MAXIMUM_THREADS",
    )
    return {
        "cpu_count": os.cpu_count(),
        "cpu_affinity": affinity,
        "processor": platform.processor(),
        "uname": platform.uname()._asdict(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "sklearn": sklearn.__version__,
        "sklearn_symnet": symnet_version,
        "sklearn_symnet_file": symnet_file,
        "threadpools": _threadpool_summary(),
        "thread_env": {k: os.environ[k] for k in thread_env if k in os.environ},
    }


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _summarise(runs, names, flops):
    """Medians over repeats, per model and per epoch, and SymNet/MLP ratios."""
    summary = {}
    for name in names:
        res = [run["models"][name] for run in runs]
        n_epochs = len(res[0]["epoch_s"])
        med_epoch = _median([r["median_epoch_s"] for r in res])
        summary[name] = {
            "final_test_acc": _median([r["final_test_acc"] for r in res]),
            "median_epoch_s": med_epoch,
            "total_train_s": _median([r["total_train_s"] for r in res]),
            "median_predict_s": _median([r["median_predict_s"] for r in res]),
            "tracemalloc_peak_mib": _median([r["tracemalloc_peak_mib"] for r in res]),
            "peak_rss_growth_mib": _median([r["peak_rss_growth_mib"] for r in res]),
            "gflops": flops / med_epoch / 1e9 if med_epoch else None,
            "param_dtype": res[0]["param_dtype"],
            "per_epoch": {
                "test_acc": [_median([r["test_acc"][e] for r in res]) for e in range(n_epochs)],
                "epoch_s": [_median([r["epoch_s"][e] for r in res]) for e in range(n_epochs)],
                "cum_train_s": [
                    _median([r["cum_train_s"][e] for r in res]) for e in range(n_epochs)
                ],
            },
        }
    if "symnet" in summary and "mlp" in summary:
        ratios = {}
        for key in (
            "median_epoch_s",
            "total_train_s",
            "median_predict_s",
            "tracemalloc_peak_mib",
        ):
            a, b = summary["symnet"][key], summary["mlp"][key]
            ratios[key] = a / b if a is not None and b else None
        summary["ratio_symnet_over_mlp"] = ratios
    return summary


# --------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------
def _fmt(value, spec):
    return "-" if value is None else format(value, spec)


def _table(header, rows):
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def _title(result):
    cfg, data = result["config"], result["data"]
    hidden = ",".join(map(str, cfg["hidden"]))
    return (
        f"MNIST: hidden={hidden}, batch={cfg['batch_size']}, "
        f"{cfg['epochs']} epochs, {cfg['dtype']}, n_train={data['n_train']}, "
        f"n_test={data['n_test']}, repeats={cfg['repeat']}"
    )


def format_markdown(result):
    """Render the result dictionary as a markdown report."""
    cfg, summary, env = result["config"], result["summary"], result["environment"]
    cols = cfg["models"]
    both = "ratio_symnet_over_mlp" in summary
    lines = [f"# {_title(result)}", ""]
    if cfg["repeat"] > 1:
        lines += ["Per-epoch values are medians over the repeats.", ""]

    n_epochs = cfg["epochs"]
    header = ["epoch"]
    header += [f"{n} acc" for n in cols] + [f"{n} epoch s" for n in cols]
    rows = []
    for e in range(n_epochs):
        row = [e + 1]
        for key, spec in (("test_acc", ".4f"), ("epoch_s", ".3f")):
            for n in cols:
                row.append(_fmt(summary[n]["per_epoch"][key][e], spec))
        rows.append(row)
    lines += ["## Per epoch", "", *_table(header, rows), ""]

    ratios = summary.get("ratio_symnet_over_mlp", {})
    metrics = (
        ("final test accuracy", "final_test_acc", ".4f"),
        ("median epoch time (s)", "median_epoch_s", ".3f"),
        ("total training time (s)", "total_train_s", ".3f"),
        (
            f"predict(X_test) time (s, median of {N_PREDICT_CALLS})",
            "median_predict_s",
            ".4f",
        ),
        ("training peak, tracemalloc (MiB)", "tracemalloc_peak_mib", ".1f"),
        ("training peak RSS growth (MiB)", "peak_rss_growth_mib", ".1f"),
        ("floor GFLOP/s-equivalent", "gflops", ".2f"),
    )
    rows = []
    for label, key, spec in metrics:
        row = [label]
        row += [_fmt(summary[n][key], spec) for n in cols]
        if both:
            row.append(_fmt(ratios.get(key), ".2f"))
        rows.append(row)
    rows.append(
        ["fitted parameter dtype"]
        + [str(summary[n]["param_dtype"]) for n in cols]
        + (["-"] if both else [])
    )
    header = ["metric", *cols, *(["symnet/mlp"] if both else [])]
    lines += ["## Summary", "", *_table(header, rows), ""]

    if cfg["repeat"] > 1:
        rows = []
        for run in result["runs"]:
            for n in run["order"]:
                r = run["models"][n]
                rows.append(
                    [
                        run["repeat"],
                        run["seed"],
                        n,
                        _fmt(r["final_test_acc"], ".4f"),
                        _fmt(r["median_epoch_s"], ".3f"),
                        _fmt(r["median_predict_s"], ".4f"),
                        _fmt(r["tracemalloc_peak_mib"], ".1f"),
                    ]
                )
        header = [
            "repeat",
            "seed",
            "model",
            "final acc",
            "median epoch s",
            "predict s",
            "peak MiB",
        ]
        lines += ["## Each repeat (in run order)", "", *_table(header, rows), ""]

    floor = result["floor"]
    pools = "; ".join(
        f"{p.get('internal_api')} {p.get('version') or ''} ({p.get('user_api')}, "
        f"{p.get('num_threads')} threads, {Path(p.get('filepath') or '?').name})"
        for p in env["threadpools"]
    )
    max_rss = _fmt(result["process_max_rss_mib"], ".1f")
    load = result["load_average"]
    lines += [
        "## Setup",
        "",
        f"- command: `{result['command']}`",
        f"- data: {result['data']['source']}",
        (
            f"- floor: {floor['flops_per_epoch']:.4g} FLOP per epoch "
            f"(2 * 3 * n_train * sum(n_in * n_out), layers {floor['layer_sizes']})"
        ),
        (
            f"- CPU: {env['cpu_count']} logical CPUs ({env['cpu_affinity']} usable), "
            f"processor {env['processor'] or env['uname']['machine']!r}, "
            f"{env['uname']['system']} {env['uname']['release']}"
        ),
        f"- thread pools: {pools or 'none reported'}",
        f"- thread env: {env['thread_env'] or 'none set'}",
        (
            f"- versions: python {env['python']}, numpy {env['numpy']}, "
            f"scikit-learn {env['sklearn']}, sklearn_symnet {env['sklearn_symnet']}"
        ),
        f"- process max RSS (getrusage, whole run): {max_rss} MiB",
        f"- load average (1, 5, 15 min) at start: {load['start']}, at end: "
        f"{load['end']} (other processes on the machine skew the times)",
        "",
        "## Notes",
        "",
        *[f"- {note}" for note in result["notes"]],
        "",
    ]
    return "\n".join(lines)


def plot_result(result, path):
    """Plot test accuracy against cumulative training time to a PNG file."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 5.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    names = result["config"]["models"]
    several = len(result["runs"]) > 1
    for name in names:
        s = result["summary"][name]
        for i, run in enumerate(result["runs"]):
            r = run["models"][name]
            label = None
            if i == 0:
                what = "median final acc" if several else "final acc"
                label = (
                    f"{LABELS[name]}: {what} {s['final_test_acc']:.4f}, "
                    f"{s['median_epoch_s']:.3g} s/epoch"
                )
            ax.plot(
                r["cum_train_s"],
                r["test_acc"],
                marker=MARKERS[name],
                color=COLORS[name],
                alpha=0.6 if several else 1.0,
                label=label,
            )
    ax.set_xlabel("cumulative training wall-clock time (s)")
    ax.set_ylabel("test accuracy")
    ax.margins(x=0.05, y=0.1)
    ax.set_xlim(left=0)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best")
    env = result["environment"]
    threads = ", ".join(
        dict.fromkeys(
            f"{p.get('internal_api')} {p.get('num_threads')} threads" for p in env["threadpools"]
        )
    )
    ax.set_title(
        f"{_title(result)}\n(one marker per epoch; {env['cpu_count']} CPUs; {threads})",
        fontsize=9,
    )
    tmp = Path(str(path) + ".tmp")
    fig.savefig(tmp, format="png", dpi=120)
    os.replace(tmp, path)


def _display_path(path):
    """``path`` relative to the repository root when inside it, else as is."""
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _write_text(path, text):
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------
def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _hidden(text):
    try:
        sizes = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected e.g. 100 or 256,128, got {text!r}")
    return sizes


def _models(text):
    names = {t.strip() for t in text.split(",") if t.strip()}
    unknown = names - set(MODEL_NAMES)
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"expected a comma list of {', '.join(MODEL_NAMES)}, got {text!r}"
        )
    return [n for n in MODEL_NAMES if n in names]


def _json_object(text):
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"invalid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object, e.g. '{\"K1\": 0.3}'")
    return value


def _parser():
    p = argparse.ArgumentParser(
        prog="bench_mnist.py",
        description="Benchmark SymNetClassifier against MLPClassifier on MNIST.",
    )
    p.add_argument(
        "--data",
        metavar="PATH",
        help=".npz with x_train, y_train, x_test, y_test (uint8); "
        "default: fetch_openml('mnist_784')",
    )
    p.add_argument(
        "--n-train",
        type=_positive_int,
        metavar="N",
        help="use the first N training samples",
    )
    p.add_argument("--n-test", type=_positive_int, metavar="N", help="use the first N test samples")
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    p.add_argument(
        "--hidden",
        type=_hidden,
        default=(100,),
        help="hidden layer sizes, e.g. 100 or 256,128 (default 100)",
    )
    p.add_argument("--epochs", type=_positive_int, default=10, help="default 10")
    p.add_argument("--batch-size", type=_positive_int, default=128, help="default 128")
    p.add_argument(
        "--repeat",
        type=_positive_int,
        default=1,
        metavar="R",
        help="run R times with seeds seed..seed+R-1 (default 1)",
    )
    p.add_argument("--seed", type=int, default=0, help="default 0")
    p.add_argument(
        "--models",
        type=_models,
        default=list(MODEL_NAMES),
        help="comma list of symnet, mlp (default both)",
    )
    p.add_argument(
        "--lr-symnet",
        type=float,
        default=None,
        help="SymNet learning_rate_init (default: SymNet's own default)",
    )
    p.add_argument(
        "--lr-mlp",
        type=float,
        default=1e-3,
        help="MLPClassifier learning_rate_init (default 1e-3)",
    )
    p.add_argument(
        "--symnet-params",
        type=_json_object,
        default={},
        metavar="JSON",
        help="extra SymNetClassifier kwargs, e.g. '{\"K1\": 0.3}'",
    )
    p.add_argument(
        "--memory",
        choices=("separate", "timed", "off"),
        default="separate",
        help="tracemalloc peak: 'separate' (default) traces one extra, untimed epoch "
        "of a fresh model, because tracing slows training; 'timed' traces the timed "
        "epochs themselves; 'off' skips it",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        metavar="DIR",
        help="output folder (default benchmarks/results)",
    )
    p.add_argument("--tag", default=None, metavar="NAME", help="suffix for the output file names")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    return p


def main(argv=None):
    """Run the benchmark; return the result dictionary (also written to disk).

    Parameters
    ----------
    argv : list of str, default=None
        Command-line arguments without the program name; None reads
        ``sys.argv[1:]``.

    Returns
    -------
    result : dict
        Configuration, environment, per-repeat runs, summary, floor and the
        paths of the written files.
    """
    import gc

    args = _parser().parse_args(argv)
    names = args.models

    def log(msg):
        if not args.quiet:
            print(msg, file=sys.stderr, flush=True)

    load_start = _load_average()
    X_train, y_train, X_test, y_test = load_data(
        args.data, dtype=args.dtype, n_train=args.n_train, n_test=args.n_test
    )
    n_train, n_test = X_train.shape[0], X_test.shape[0]
    flops = floor_flops_per_epoch(n_train, args.hidden)
    log(f"data: {n_train} train, {n_test} test, {X_train.dtype}")

    runs = []
    for rep in range(args.repeat):
        seed = args.seed + rep
        models = make_models(
            names,
            hidden=args.hidden,
            batch_size=args.batch_size,
            seed=seed,
            lr_symnet=args.lr_symnet,
            lr_mlp=args.lr_mlp,
            symnet_params=args.symnet_params,
        )
        order = list(names) if rep % 2 == 0 else list(reversed(names))
        run = {"repeat": rep, "seed": seed, "order": order, "models": {}}
        for name in order:
            gc.collect()
            res = run_once(
                models[name],
                X_train,
                y_train,
                X_test,
                y_test,
                epochs=args.epochs,
                memory=args.memory,
            )
            run["models"][name] = res
            pairs = zip(res["epoch_s"], res["test_acc"], strict=True)
            for e, (dt, acc) in enumerate(pairs, 1):
                where = f"repeat {rep} seed {seed} {name} epoch {e}"
                log(f"{where}: {dt:.3f} s, test accuracy {acc:.4f}")
        runs.append(run)

    if argv is None:
        command = shlex.join(["python", *sys.argv])
    else:
        command = shlex.join(["python", "benchmarks/bench_mnist.py", *argv])
    notes = [
        (
            "One epoch = one partial_fit(X_train, y_train, classes=0..9) call; "
            "test scoring is excluded from the training time."
        ),
        "Models run back to back in one process; on odd repeats MLP runs first.",
        "Floor GFLOP/s-equivalent = floor FLOP per epoch / median epoch time.",
        {
            "separate": "tracemalloc peak: one extra, untimed, traced epoch of a fresh "
            "model (including initialisation); the timed epochs run untraced.",
            "timed": "tracemalloc peak: traced during the timed epochs (tracing slows them down).",
            "off": "tracemalloc peak not measured.",
        }[args.memory],
        (
            "tracemalloc sees Python and NumPy allocations only, not memory that "
            "compiled code takes directly with malloc."
        ),
        (
            "Peak RSS growth = largest VmHWM over the timed epochs (reset before each "
            "epoch) minus VmRSS before the model's first epoch (Linux only); memory "
            "already resident, e.g. freed by the model run before, can hide growth."
        ),
        "Process max RSS (getrusage) covers the whole run: data and all models.",
    ]
    result = {
        "benchmark": "bench_mnist",
        "command": command,
        "sys_argv": list(sys.argv),
        "argv": list(sys.argv[1:]) if argv is None else list(argv),
        "config": {
            "models": names,
            "hidden": list(args.hidden),
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "dtype": args.dtype,
            "repeat": args.repeat,
            "seed": args.seed,
            "lr_symnet": args.lr_symnet,
            "lr_mlp": args.lr_mlp,
            "symnet_params": args.symnet_params,
            "memory": args.memory,
            "tag": args.tag,
        },
        "data": {
            "source": args.data if args.data else "fetch_openml('mnist_784')",
            "n_train": n_train,
            "n_test": n_test,
            "n_features": X_train.shape[1],
            "dtype": str(X_train.dtype),
        },
        "floor": {
            "layer_sizes": [N_FEATURES, *args.hidden, N_CLASSES],
            "flops_per_epoch": flops,
            "formula": "2 * 3 * n_train * sum(n_in * n_out)",
        },
        "environment": _environment(),
        "runs": runs,
        "summary": _summarise(runs, names, flops),
        "process_max_rss_mib": _max_rss_mib(),
        "load_average": {"start": load_start, "end": _load_average()},
        "notes": notes,
    }

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = "bench_mnist" + (f"_{args.tag}" if args.tag else "")
    paths = {ext: out / f"{stem}.{ext}" for ext in ("json", "md", "png")}
    result["files"] = {k: _display_path(v) for k, v in paths.items()}

    markdown = format_markdown(result)
    print(markdown)
    _write_text(paths["md"], markdown)
    plot_result(result, paths["png"])
    _write_text(paths["json"], json.dumps(result, indent=2, default=_json_default) + "\n")
    log("wrote " + ", ".join(result["files"].values()))
    return result


if __name__ == "__main__":
    main()
