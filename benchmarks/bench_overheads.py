"""Small fixed costs: per minibatch, per table rebuild, per prediction.

The numbers behind the per-minibatch and prediction paragraphs of
``docs/performance.md`` and the cost table of the trained neurons in
``docs/model.md`` §3d:

* ``minibatch``: one epoch of a 2-1-10 network on 60,000 random rows, batch
  128 (almost no product work: what every minibatch costs besides its
  products), per minibatch;
* ``python``: a minibatch of a 20-100-10 network on 60,000 random rows, and
  the same with every kernel a no-op: the Python and NumPy work between the
  kernel calls, the most a compiled epoch loop could remove;
* ``tables``: a rebuild of the rate tables of 100 hidden units (warm: the
  previous pieces) and of the flux tables of 20 output neurons, and the
  constants' gradients of a 128-row minibatch on each (flux from the kept
  branch levels, and from the inputs), best of many calls, on 1 and 2 threads;
* ``predict``: on MNIST-like rows (``--data PATH``, else random rows with
  MNIST's density), the input check, one BLAS product of the first layer,
  ``predict`` of SymNet and of MLPClassifier (1 epoch each), and SymNet's
  ``predict`` right after MLPClassifier's with and without a 0.2 s pause
  (OpenBLAS's spinning threads).

Run::

    python benchmarks/bench_overheads.py [--data path/to/mnist.npz] [--out results/overheads]
"""

import argparse
import gc
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

try:
    import sklearn_symnet  # noqa: F401
except ImportError:  # running from a source checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sklearn.neural_network import MLPClassifier
from sklearn.utils.validation import check_array

from sklearn_symnet import SymNetClassifier
from sklearn_symnet._tables import NeuronTable
from sklearn_symnet._threads import blas_single_thread


def _best(f, repeat):
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return min(ts)


def minibatch(n=60000, batch=128, epochs=2):
    """Seconds per minibatch of a 2-1-10 network (best epoch of ``epochs``)."""
    rng = np.random.default_rng(0)
    X, y = rng.random((n, 2)), rng.integers(0, 10, n)
    clf = SymNetClassifier(hidden_layer_sizes=(1,), batch_size=batch, max_iter=1,
                           random_state=0, tol=0, n_iter_no_change=99)
    best = np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for e in range(epochs):
            t = time.perf_counter()
            if e == 0:
                clf.partial_fit(X, y, classes=np.arange(10))
            else:
                clf.partial_fit(X, y)
            best = min(best, time.perf_counter() - t)
    return best / np.ceil(n / batch)


def python_share(n=60000, d=20, hidden=100, batch=128, epochs=3):
    """Per minibatch of a 20-100-10 network: a real epoch, and the same epoch
    with every compiled kernel replaced by a no-op (what the Python loop and
    the NumPy calls between the kernels cost: the most a compiled epoch loop
    could save).  Best epoch of ``epochs`` each."""
    from sklearn_symnet import _kernels

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((n, d)), rng.integers(0, 10, n)
    clf = SymNetClassifier(hidden_layer_sizes=(hidden,), batch_size=batch, random_state=0)
    n_batches = np.ceil(n / batch)

    def best_epoch():
        best = np.inf
        for _ in range(epochs):
            t = time.perf_counter()
            clf.partial_fit(X, y)
            best = min(best, time.perf_counter() - t)
        return best / n_batches

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.partial_fit(X, y, classes=np.arange(10))
        real = best_epoch()
        # the kernels that build tables or shape work stay (they run once per fit)
        keep = {"matmul_blocks", "rate_tables", "flux_tables"}
        names = [k for k in dir(_kernels) if not k.startswith("_") and k not in keep
                 and callable(getattr(_kernels, k))
                 and not isinstance(getattr(_kernels, k), type)]
        saved = {k: getattr(_kernels, k) for k in names}
        try:
            for k in names:
                setattr(_kernels, k, lambda *a, **kw: 0)
            python = best_epoch()
        finally:
            for k, f in saved.items():
                setattr(_kernels, k, f)
    return {"minibatch of a 20-100-10 network, 60,000 rows, batch 128": real,
            "same, every kernel a no-op (Python and NumPy between the kernels)": python}


def tables(repeat=2000):
    """Seconds per call of the trained neurons' per-minibatch table work."""
    rng = np.random.default_rng(0)
    theta = np.tile([0.3, 0.2, 1.0, 1.0], (100, 1)) * rng.uniform(0.9, 1.1, (100, 4))
    rate = NeuronTable(theta, "rate")
    flux = NeuronTable(theta[:20], "flux", flux_bound="branch")
    U, E = rng.normal(0, 1, (128, 100)), rng.normal(size=(128, 100))
    Uf, Ef = rng.normal(0, 0.3, (128, 20)), rng.normal(size=(128, 20))
    out, outf = np.empty((100, 4)), np.empty((20, 4))
    levels = np.empty((128, 20))
    flux.forward(Uf, np.empty_like(Uf), np.empty_like(Uf), 1, True, levels)
    res = {}
    block = max(repeat // 20, 1)  # calls per timed block
    for nt in (1, 2):
        cases = {
            "rate rebuild, 100 units (warm)": lambda nt=nt: rate.rebuild(theta, nt),
            "flux rebuild, 20 units": lambda nt=nt: flux.rebuild(theta[:20], nt),
            "rate constant gradients, 128 x 100":
                lambda nt=nt: rate.constant_grads(U, E, out, nt),
            "flux constant gradients, 128 x 20, from levels":
                lambda nt=nt: flux.constant_grads(Uf, Ef, outf, nt, levels),
            "flux constant gradients, 128 x 20, from inputs":
                lambda nt=nt: flux.constant_grads(Uf, Ef, outf, nt),
        }
        for name, f in cases.items():
            f()

            def calls(f=f, block=block):
                for _ in range(block):
                    f()

            res[f"{name}, {nt} thread{'s' if nt > 1 else ''}"] = (
                _best(calls, 20) / block)
    return res


def _mnist_like(path, n_train=20000, n_test=10000):
    if path:
        d = np.load(path)
        X = d["x_train"].reshape(len(d["x_train"]), -1)[:n_train] / 255.0
        return X, d["y_train"][:n_train], d["x_test"].reshape(len(d["x_test"]), -1)[
            :n_test] / 255.0
    rng = np.random.default_rng(0)

    def rows(n):
        return rng.random((n, 784)) * (rng.random((n, 784)) < 0.19)

    return rows(n_train), rng.integers(0, 10, n_train), rows(n_test)


def predict(path, repeat=15):
    """Seconds of the prediction's parts on 10,000 MNIST-like rows."""
    X, y, Xt = _mnist_like(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sym = SymNetClassifier(hidden_layer_sizes=(100,), max_iter=1, random_state=0).fit(X, y)
        mlp = MLPClassifier(hidden_layer_sizes=(100,), max_iter=1, random_state=0).fit(X, y)
    W = mlp.coefs_[0]
    res = {
        "input check (check_array)": _best(lambda: check_array(Xt), repeat),
        "first-layer BLAS product (NumPy, 2 BLAS threads)": _best(lambda: Xt @ W, repeat),
    }
    with blas_single_thread():
        res["first-layer BLAS product (NumPy, 1 BLAS thread)"] = _best(lambda: Xt @ W,
                                                                      repeat)
    res["MLPClassifier predict"] = _best(lambda: mlp.predict(Xt), repeat)
    res["SymNet predict"] = _best(lambda: sym.predict(Xt), repeat)
    for pause in (0.0, 0.2):
        ts = []
        for _ in range(repeat):
            mlp.predict(Xt)
            gc.collect()
            time.sleep(pause)
            t = time.perf_counter()
            sym.predict(Xt)
            ts.append(time.perf_counter() - t)
        res[f"SymNet predict right after MLPClassifier's, pause {pause} s (min, max)"] = [
            min(ts), max(ts)]
    return res


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="MNIST .npz (else random rows)")
    parser.add_argument("--out", default=None, help="path prefix of the .json and .md")
    args = parser.parse_args(argv)
    res = {"minibatch of a 2-1-10 network, 60,000 rows, batch 128": minibatch()}
    res.update(python_share())
    res.update(tables())
    res.update(predict(args.data))
    lines = ["| what | µs |", "|---|---|"]
    for k, v in res.items():
        shown = (" – ".join(f"{1e6 * x:.1f}" for x in v) if isinstance(v, list)
                 else f"{1e6 * v:.1f}")
        lines.append(f"| {k} | {shown} |")
    command = "python benchmarks/bench_overheads.py " + " ".join(
        sys.argv[1:] if argv is None else argv)
    print("\n".join(lines))
    if args.out:
        Path(args.out + ".json").write_text(json.dumps(
            {"command": command, "seconds": res}, indent=1))
        Path(args.out + ".md").write_text(
            "# Small fixed costs\n\n`" + command + "`\n\n" + "\n".join(lines) + "\n")
    return res


if __name__ == "__main__":
    main()
