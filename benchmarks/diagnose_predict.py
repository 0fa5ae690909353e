"""Where a dense prediction's time goes: whole calls after pauses, and the kernel pass.

Fits ``SymNetClassifier`` and ``MLPClassifier`` for one epoch (the times do
not depend on the fit) on a case of the shared loader (``_bench_data.py``;
``--standardize --dtype float32`` is dense float32 MNIST) and times, on the
test rows:

* ``predict``: SymNet's and MLPClassifier's ``predict``, alternating, each
  call after ``--pause`` seconds; then SymNet's alone, each after the pause.
  Median, quartiles and the slowest call, and how many calls took over 1.5x
  the median (the slow wake-ups).
* ``kernel``: the fused prediction pass (``_kernels.predict_dense``); the
  same network with the first layer's product done as one call per thread
  over the whole set, then the per-layer kernels (``split``); that product
  alone; and NumPy's product of the same shapes, threaded in one call, and on
  one BLAS thread in one call and in 256-row calls. Each back to back and
  after the pause.
* ``wake``: what waking the kernels' threads costs: a parallel region with
  no work (``_kernels.wake_probe``) on one thread and on the prediction's
  thread count, bare and started as the kernels start theirs (the master
  yields once, the workers move off its CPU), back to back and after the
  pause.

Every time is a median over ``--calls`` calls, in milliseconds.

Run::

    python benchmarks/diagnose_predict.py --data path/to/mnist.npz --standardize \\
        --dtype float32 [--calls 40] [--pause 0.2] [--parts predict,kernel,wake]
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from _bench_data import add_data_arguments, load_from_args, run_header  # this folder
from threadpoolctl import threadpool_limits

try:
    import sklearn_symnet  # noqa: F401
except ImportError:  # running from a source checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sklearn.neural_network import MLPClassifier

from sklearn_symnet import SymNetClassifier, _kernels
from sklearn_symnet._threads import blas_single_thread


def timed_calls(fns, n_calls, pause):
    """Milliseconds of each call of each function in ``fns`` (a dict), the
    functions taken in turn, every call after ``pause`` seconds."""
    times = {name: [] for name in fns}
    for _ in range(n_calls):
        for name, fn in fns.items():
            if pause:
                time.sleep(pause)
            t = time.perf_counter()
            fn()
            times[name].append(1e3 * (time.perf_counter() - t))
    return {name: np.array(v) for name, v in times.items()}


def summary(ms):
    q1, med, q3 = np.percentile(ms, [25, 50, 75])
    slow = int(np.count_nonzero(ms > 1.5 * med))
    return (f"median {med:6.2f}  quartiles {q1:6.2f} {q3:6.2f}  max {ms.max():6.2f}  "
            f"over 1.5x median: {slow} of {ms.size}")


def kernel_variants(clf, X):
    """The fused pass, the split pass and the products, as functions of no
    arguments (each returns the last layer's signals or the product)."""
    dtype = X.dtype
    net = clf._fitted_network(dtype, X.shape[0])
    m, B = X.shape[0], _kernels.PREDICT_BLOCK_ROWS
    nt = net.n_threads
    tables = [t.kernel_tables() for t in net.tables]
    W1, b1 = net.coefs[0], net.intercepts[0]

    def fused():
        work = np.empty((2 * nt, B * max(net.layer_units[1:-1], default=1)), dtype=dtype)
        bad = np.empty((-(-m // B), len(net.tables) + 1), dtype=np.int64)
        out = np.empty((m, net.layer_units[-1]), dtype=dtype)
        _kernels.predict_dense(X, net.coefs, net.intercepts, tables, out, work, bad, nt)
        return out

    def product():
        U = np.empty((m, W1.shape[1]), dtype=dtype)
        U[...] = b1
        _kernels.matmul(X, False, W1, False, U, 1.0, 1.0, nt)
        return U

    def split():
        S = product()
        for i, table in enumerate(net.tables):
            if i > 0:
                U = np.empty((m, net.layer_units[i + 1]), dtype=dtype)
                U[...] = net.intercepts[i]
                _kernels.matmul(S, False, net.coefs[i], False, U, 1.0, 1.0, nt)
                S = U
            table.forward(S, S, None, nt, False)
        return S

    def numpy_blocks():
        for start in range(0, m, B):
            X[start:start + B] @ W1

    return nt, {"fused": fused, "split": split, "product": product}, W1, numpy_blocks


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_arguments(parser)
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--pause", type=float, default=0.2)
    parser.add_argument("--parts", default="predict,kernel,wake",
                        help="which measurements (default: %(default)s)")
    args = parser.parse_args(argv)
    parts = {p.strip() for p in args.parts.split(",")}
    unknown = parts - {"predict", "kernel", "wake"}
    if unknown:
        parser.error(f"unknown part(s) {sorted(unknown)}; choose from predict, kernel, wake")

    X, y, X_test, _ = load_from_args(args)
    X_test = np.ascontiguousarray(X_test)
    print(run_header("diagnose_predict.py", argv))
    print(f"# {X_test.shape[0]} test rows, {X_test.dtype}, hidden {args.hidden}, "
          f"{args.calls} calls, pause {args.pause} s")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sym = SymNetClassifier(hidden_layer_sizes=(args.hidden,), batch_size=128, max_iter=1,
                               random_state=0).fit(X, y)
        mlp = MLPClassifier(hidden_layer_sizes=(args.hidden,), batch_size=128, max_iter=1,
                            random_state=0).fit(X, y)
    sym.predict(X_test), mlp.predict(X_test)  # warm up

    both = alone = None
    if "predict" in parts:
        print("\n## predict (whole calls)")
        both = timed_calls({"SymNet": lambda: sym.predict(X_test),
                            "MLPClassifier": lambda: mlp.predict(X_test)}, args.calls,
                           args.pause)
        for name, ms in both.items():
            print(f"{name + ', alternating':<28} {summary(ms)}")
        alone = timed_calls({"SymNet": lambda: sym.predict(X_test)}, args.calls, args.pause)
        print(f"{'SymNet, alone':<28} {summary(alone['SymNet'])}")
    if "kernel" in parts:
        kernel_pass(sym, X_test, args)
    if "wake" in parts:
        wake(sym, X_test, args)
    return both, alone


def wake(sym, X_test, args):
    """An empty parallel region, back to back and after the pause."""
    print("\n## waking the threads (an empty parallel region)")
    nt = sym._fitted_network(X_test.dtype, X_test.shape[0]).n_threads
    fns = {"1 thread": lambda: _kernels.wake_probe(1, False)}
    if nt > 1:
        fns[f"{nt} threads, bare"] = lambda: _kernels.wake_probe(nt, False)
        fns[f"{nt} threads, as the kernels start"] = lambda: _kernels.wake_probe(nt, True)
    for pause in (0.0, args.pause):
        for name, ms in timed_calls(fns, args.calls, pause).items():
            print(f"{name + f', pause {pause}':<48} median {np.median(ms):6.3f}  "
                  f"quartiles {np.percentile(ms, 25):6.3f} {np.percentile(ms, 75):6.3f}  "
                  f"max {ms.max():6.3f}")


def kernel_pass(sym, X_test, args):
    print("\n## kernel pass (first layer's product and the neurons)")
    nt, variants, W1, numpy_blocks = kernel_variants(sym, X_test)
    print(f"threads: {nt}; fused vs split, largest difference: "
          f"{np.abs(variants['fused']() - variants['split']()).max():.3g}")
    numpy_fns = {"numpy product, threaded": lambda: X_test @ W1}
    with threadpool_limits(1, user_api="blas"):
        one_thread = {"numpy product, 1 thread": lambda: X_test @ W1,
                      "numpy 256-row products, 1 thread": numpy_blocks}
        for pause in (0.0, args.pause):
            for name, ms in timed_calls(one_thread, args.calls, pause).items():
                print(f"{name + f', pause {pause}':<48} median {np.median(ms):6.2f}")
    for pause in (0.0, args.pause):
        with blas_single_thread():
            res = timed_calls(variants, args.calls, pause)
        res.update(timed_calls(numpy_fns, args.calls, pause))
        for name, ms in res.items():
            print(f"{name + f', pause {pause}':<48} median {np.median(ms):6.2f}")


if __name__ == "__main__":
    main()
