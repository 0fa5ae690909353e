"""Measurement part of the benchmarks (``bench_mnist.py``, ``bench_scaling.py``).

* One epoch is one ``partial_fit(X_train, y_train, classes=...)`` call: one
  shuffled pass in minibatches, optimiser state kept between calls, timed with
  :func:`time.perf_counter`. Test scoring is never inside a timed region.
* :func:`train_interleaved`: the models train in the same process, epoch by
  epoch in turn; which model goes first alternates from epoch to epoch and
  from repeat to repeat, so a change of machine load hits both. Then
  ``predict(X_test)`` is timed (median of :data:`N_PREDICT_CALLS`, order
  alternating too).
* Every timed call starts after :func:`settle`: a garbage collection and a
  pause of :data:`SETTLE_S`, so that the previous model's threads are idle
  (OpenBLAS's workers spin for up to about 0.1 s after a product: without
  the pause, whichever model follows MLPClassifier shares the cores with
  them; measured by ``bench_overheads.py``: SymNet's MNIST predict 51-92 ms
  right after MLP's, 29-32 ms after 0.2 s).
* Peak training memory: :mod:`tracemalloc` traces one extra, untimed epoch of
  a fresh clone of each model (initialisation included) after the timed
  ones, because tracing slows training down; on Linux the growth of the peak
  RSS over each timed epoch is recorded as well.
* :func:`two_product_floor`: the two large matrix products of one epoch of the
  first layer done with NumPy on the whole training set in the model dtype,
  ``X_train @ W1`` ((n_train, n_features) by (n_features, hidden)) and
  ``X_train.T @ D`` ((n_features, n_train) by (n_train, hidden)), into
  preallocated outputs, best of a few repeats. A model's floor ratio is its
  epoch time divided by this floor. The same two products done minibatch by
  minibatch on gathered shuffled rows, as both models must do them, are the
  minibatch floor.
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
import tracemalloc
import warnings

import numpy as np
from _bench_data import REPO_ROOT

MODEL_NAMES = ("symnet", "mlp")
LABELS = {"symnet": "SymNetClassifier", "mlp": "MLPClassifier"}
N_PREDICT_CALLS = 3

# Seconds of quiet before each timed call (see the module docstring).
SETTLE_S = 0.2


def settle():
    """Collect garbage and let the previous model's threads go idle."""
    gc.collect()
    time.sleep(SETTLE_S)
MIB = 2.0**20


# --------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------
def import_symnet():
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
    """Unfitted models with the same hidden sizes, minibatch size and seed.

    Parameters
    ----------
    names : iterable of {"symnet", "mlp"}
    hidden : tuple of int
        ``hidden_layer_sizes`` of both models.
    batch_size : int
    seed : int
        ``random_state`` of both models.
    lr_symnet : float, default=None
        SymNet's ``learning_rate_init``; None keeps SymNet's default.
    lr_mlp : float, default=1e-3
        MLPClassifier's ``learning_rate_init``.
    symnet_params : dict, default=None
        Extra ``SymNetClassifier`` keyword arguments (applied last).

    Returns
    -------
    models : dict
        Name to unfitted estimator, in the order of ``names``.
    """
    models = {}
    for name in names:
        if name == "symnet":
            params = {
                "hidden_layer_sizes": tuple(hidden),
                "batch_size": batch_size,
                "max_iter": 1,
                "random_state": seed,
            }
            if lr_symnet is not None:
                params["learning_rate_init"] = lr_symnet
            params.update(symnet_params or {})
            models[name] = import_symnet()(**params)
        elif name == "mlp":
            from sklearn.neural_network import MLPClassifier

            models[name] = MLPClassifier(
                hidden_layer_sizes=tuple(hidden),
                batch_size=batch_size,
                learning_rate_init=lr_mlp,
                random_state=seed,
                max_iter=1,
            )
        else:
            raise ValueError(f"unknown model {name!r}; choose from {MODEL_NAMES}")
    return models


def param_dtype(model):
    """dtype of a fitted model's parameters (SymNet: ``_free``; MLP: ``coefs_``)."""
    free = getattr(model, "_free", None)
    if free is not None:
        return str(free.dtype)
    coefs = getattr(model, "coefs_", None)
    if coefs:
        return str(np.asarray(coefs[0]).dtype)
    return None


def order_for(names, k):
    """``names`` on even ``k``, reversed on odd ``k``."""
    names = list(names)
    return names if k % 2 == 0 else names[::-1]


# --------------------------------------------------------------------------
# Timed pieces
# --------------------------------------------------------------------------
def partial_fit_epoch(model, X, y, classes):
    """One ``partial_fit`` call (one epoch); return its wall-clock seconds."""
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        # One epoch per call: convergence warnings are expected noise.
        warnings.simplefilter("ignore", category=ConvergenceWarning)
        t0 = time.perf_counter()
        model.partial_fit(X, y, classes=classes)
        return time.perf_counter() - t0


def traced_peak_mib(unfitted, X, y, classes):
    """tracemalloc peak (MiB) of one epoch of a fresh clone, initialisation included."""
    from sklearn.base import clone

    fresh = clone(unfitted)
    gc.collect()
    tracemalloc.start()
    try:
        partial_fit_epoch(fresh, X, y, classes)
        return tracemalloc.get_traced_memory()[1] / MIB
    finally:
        tracemalloc.stop()


def two_product_floor(X, hidden, *, repeat=5, seed=0, batch_size=128):
    """Time the two large products of one first-layer epoch with NumPy.

    ``X @ W1`` with ``W1`` of shape (n_features, hidden) and ``X.T @ D`` with
    ``D`` of shape (n_train, hidden), all in ``X.dtype``, written into
    preallocated outputs (no allocation is timed). NumPy hands both to BLAS
    (``X.T`` is a transposed view, not a copy) with its own thread count.

    Also timed, as ``minibatch_s``: the same two products as a minibatch
    trainer must do them, ``batch_size`` shuffled rows at a time (gathered
    into a buffer, then ``Xb @ W1`` and ``Xb.T @ Db``), and the gathers
    alone (``gather_s``): what any model that visits shuffled minibatches
    pays before its own work.

    Parameters
    ----------
    X : ndarray of shape (n_train, n_features)
        The whole training set, as the models get it.
    hidden : int
        Width of the first hidden layer.
    repeat : int, default=5
        Number of timings; the best is the floor.
    seed : int, default=0
        Seed of the random ``W1`` and ``D``.

    Returns
    -------
    floor : dict
        ``seconds`` (best total of the two products), ``forward_s`` and
        ``backward_s`` (best of each), ``all_s`` (every total), shapes and dtype.
    """
    X = np.ascontiguousarray(X)
    n, f = X.shape
    rng = np.random.default_rng(seed)
    dtype = X.dtype
    W1 = rng.standard_normal((f, hidden), dtype=dtype)
    D = rng.standard_normal((n, hidden), dtype=dtype)
    H = np.empty((n, hidden), dtype=dtype)
    G = np.empty((f, hidden), dtype=dtype)
    totals, forward, backward = [], [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        np.matmul(X, W1, out=H)
        t1 = time.perf_counter()
        np.matmul(X.T, D, out=G)
        t2 = time.perf_counter()
        forward.append(t1 - t0)
        backward.append(t2 - t1)
        totals.append(t2 - t0)
    order = rng.permutation(n)
    Xb = np.empty((batch_size, f), dtype=dtype)
    Hb = np.empty((batch_size, hidden), dtype=dtype)
    minibatch, gathers = [], []
    for _ in range(repeat):
        t_gather = 0.0
        t0 = time.perf_counter()
        for start in range(0, n, batch_size):
            rows = order[start: start + batch_size]
            m = rows.shape[0]
            tg = time.perf_counter()
            np.take(X, rows, axis=0, out=Xb[:m])
            t_gather += time.perf_counter() - tg
            np.matmul(Xb[:m], W1, out=Hb[:m])
            np.matmul(Xb[:m].T, D[start: start + m], out=G)
        minibatch.append(time.perf_counter() - t0)
        gathers.append(t_gather)
    flops = 2 * 2 * n * f * hidden  # two products, a multiply and an add per term
    return {
        "seconds": min(totals),
        "minibatch_s": min(minibatch),
        "gather_s": min(gathers),
        "batch_size": batch_size,
        "flops": flops,
        "gflops_per_s": flops / min(totals) / 1e9 if min(totals) > 0 else None,
        "forward_s": min(forward),
        "backward_s": min(backward),
        "all_s": totals,
        "repeat": repeat,
        "products": [f"X_train @ W1: ({n}, {f}) x ({f}, {hidden})",
                     f"X_train.T @ D: ({f}, {n}) x ({n}, {hidden})"],
        "dtype": str(dtype),
        "blas_threads": _blas_threads(),
    }


def _blas_threads():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    blas = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    # NumPy's own BLAS when it can be told apart (SciPy may load a second one).
    own = [p for p in blas if "numpy" in str(p.get("filepath", ""))]
    return [p.get("num_threads") for p in own or blas]


def merge_floors(floors):
    """One floor from several measurements in the same run: the best of all."""
    best = min(floors, key=lambda fl: fl["seconds"])
    merged = dict(best)
    merged["forward_s"] = min(fl["forward_s"] for fl in floors)
    merged["backward_s"] = min(fl["backward_s"] for fl in floors)
    if all("minibatch_s" in fl for fl in floors):
        merged["minibatch_s"] = min(fl["minibatch_s"] for fl in floors)
        merged["gather_s"] = min(fl["gather_s"] for fl in floors)
    merged["all_s"] = [t for fl in floors for t in fl["all_s"]]
    merged["measurements"] = [fl["seconds"] for fl in floors]
    merged["repeat"] = sum(fl["repeat"] for fl in floors)
    return merged


# --------------------------------------------------------------------------
# Linux memory counters
# --------------------------------------------------------------------------
def _read_status_kib(field):
    """A ``/proc/self/status`` field in KiB, or None if unavailable."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss():
    """Reset the process peak RSS (Linux ``VmHWM``); True on success."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def max_rss_mib():
    """Process-lifetime maximum RSS from :func:`resource.getrusage`, in MiB."""
    try:
        import resource
    except ImportError:  # not available on Windows
        return None
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return maxrss / MIB if sys.platform == "darwin" else maxrss / 1024


# --------------------------------------------------------------------------
# bench_mnist: interleaved training of the models
# --------------------------------------------------------------------------
def train_interleaved(models, data, *, epochs, first=0, memory="separate", log=None):
    """Train ``models`` epoch by epoch in turn; time epochs and predictions.

    Parameters
    ----------
    models : dict
        Name to unfitted classifier; trained in place.
    data : _bench_data.Dataset
    epochs : int
        Number of ``partial_fit`` calls per model.
    first : int, default=0
        Epoch ``e`` runs the models in their order when ``first + e`` is even,
        reversed when odd (pass the repeat number).
    memory : {"separate", "timed", "off"}, default="separate"
        tracemalloc peak: one extra untimed epoch of a fresh clone
        ("separate"), traced timed epochs ("timed"), or none ("off").
    log : callable, default=None
        Called with a progress line after each epoch.

    Returns
    -------
    results : dict
        Name to per-epoch times (``epoch_s``), cumulative training times
        (``cum_train_s``), test accuracies (``test_acc``), predict times and
        memory peaks.
    order : list of list of str
        The model order of each epoch.
    """
    from sklearn.base import clone

    names = list(models)
    X, y, X_test, y_test = data
    classes = np.unique(np.concatenate([y, y_test]))
    unfitted = {n: clone(m) for n, m in models.items()}
    res = {
        n: {"epoch_s": [], "cum_train_s": [], "test_acc": [], "rss_growth_mib": [],
            "traced_mib": []}
        for n in names
    }
    orders = []
    for e in range(epochs):
        order = order_for(names, first + e)
        orders.append(order)
        for n in order:
            r = res[n]
            settle()
            rss_before = _read_status_kib("VmRSS")
            rss_reset = _reset_peak_rss()
            if memory == "timed":
                tracemalloc.start()
            dt = partial_fit_epoch(models[n], X, y, classes)
            rss_hwm = _read_status_kib("VmHWM")
            if memory == "timed":
                # Stop before scoring so that its allocations stay out of the peak.
                r["traced_mib"].append(tracemalloc.get_traced_memory()[1] / MIB)
                tracemalloc.stop()
            if rss_reset and rss_before is not None and rss_hwm is not None:
                r["rss_growth_mib"].append(max(rss_hwm - rss_before, 0) / 1024)
            r["epoch_s"].append(dt)
            r["cum_train_s"].append(sum(r["epoch_s"]))
            r["test_acc"].append(float(models[n].score(X_test, y_test)))
            if log is not None:
                log(f"{n} epoch {e + 1}: {dt:.3f} s, test accuracy {r['test_acc'][-1]:.4f}")

    for k in range(N_PREDICT_CALLS):
        for n in order_for(names, first + k):
            settle()
            t0 = time.perf_counter()
            models[n].predict(X_test)
            res[n].setdefault("predict_s", []).append(time.perf_counter() - t0)

    for n in names:
        r = res[n]
        if memory == "separate":
            peak = traced_peak_mib(unfitted[n], X, y, classes)
        elif memory == "timed":
            peak = max(r["traced_mib"])
        else:
            peak = None
        r.update(
            final_test_acc=r["test_acc"][-1],
            median_epoch_s=statistics.median(r["epoch_s"]),
            min_epoch_s=min(r["epoch_s"]),
            total_train_s=r["cum_train_s"][-1],
            median_predict_s=statistics.median(r["predict_s"]),
            tracemalloc_peak_mib=peak,
            memory_mode=memory,
            peak_rss_growth_mib=max(r["rss_growth_mib"]) if r["rss_growth_mib"] else None,
            param_dtype=param_dtype(models[n]),
            params={k: repr(v) for k, v in models[n].get_params().items()},
        )
        del r["traced_mib"]
    return res, orders


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _ratio(a, b):
    return a / b if a is not None and b else None


def summarise(runs, names, floor_s, minibatch_floor_s=None):
    """Medians over repeats per model and per epoch, floor ratios (against the
    whole-set products and, where measured, the minibatch ones), SymNet/MLP
    ratios."""
    summary = {}
    for name in names:
        res = [run["models"][name] for run in runs]
        n_epochs = len(res[0]["epoch_s"])
        med_epoch = _median([r["median_epoch_s"] for r in res])
        summary[name] = {
            "final_test_acc": _median([r["final_test_acc"] for r in res]),
            "median_epoch_s": med_epoch,
            "min_epoch_s": min(r["min_epoch_s"] for r in res),
            "total_train_s": _median([r["total_train_s"] for r in res]),
            "median_predict_s": _median([r["median_predict_s"] for r in res]),
            "tracemalloc_peak_mib": _median([r["tracemalloc_peak_mib"] for r in res]),
            "peak_rss_growth_mib": _median([r["peak_rss_growth_mib"] for r in res]),
            "floor_ratio": _ratio(med_epoch, floor_s),
            "minibatch_floor_ratio": _ratio(med_epoch, minibatch_floor_s),
            "param_dtype": res[0]["param_dtype"],
            "per_epoch": {
                key: [_median([r[key][e] for r in res]) for e in range(n_epochs)]
                for key in ("test_acc", "epoch_s", "cum_train_s")
            },
        }
    if "symnet" in summary and "mlp" in summary:
        keys = ("median_epoch_s", "total_train_s", "median_predict_s", "tracemalloc_peak_mib")
        summary["ratio_symnet_over_mlp"] = {
            k: _ratio(summary["symnet"][k], summary["mlp"][k]) for k in keys
        }
    return summary


# --------------------------------------------------------------------------
# bench_scaling: steady-state epoch time at one point
# --------------------------------------------------------------------------
def best_epoch_times(models, X, y, classes, *, repeat, warmup=1, first=0):
    """Best-of-``repeat`` epoch time of each model, after ``warmup`` untimed epochs.

    The models take turns epoch by epoch, the first one alternating. The
    warm-up epochs take the initialisation out of the timed ones.

    Returns
    -------
    times : dict
        Name to the list of timed epoch seconds (the best is ``min``).
    """
    names = list(models)
    for w in range(warmup):
        for n in order_for(names, first + w):
            partial_fit_epoch(models[n], X, y, classes)
    times = {n: [] for n in names}
    for k in range(repeat):
        for n in order_for(names, first + warmup + k):
            settle()
            times[n].append(partial_fit_epoch(models[n], X, y, classes))
    return times
