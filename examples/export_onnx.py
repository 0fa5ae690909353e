"""Export a fitted SymNet to ONNX and check it in onnxruntime.

Fits ``SymNetClassifier`` on the digits data set (pixels scaled to [0, 1]) for
each coupling (rate; flux) and model dtype (float64; float32), exports it with
:func:`sklearn_symnet.onnx.to_onnx` and runs the ONNX model in onnxruntime.
For each it prints the largest difference between onnxruntime's
probabilities and ``predict_proba``, whether the labels are identical, and the
time ``predict_proba`` takes over the time onnxruntime takes on 10,000 rows
(best of ``--repeat`` runs each, both on ``--threads`` threads, one by
default: the most reproducible on a shared machine; a ratio above 1 means
onnxruntime is faster).  Last, a ``Pipeline(StandardScaler,
SymNetClassifier)`` on the raw pixels is exported as a whole and saved as
``symnet_digits.onnx`` in ``--out``.

Needs the ``onnx`` extra: ``pip install "sklearn-symnet[onnx]"``.

Run::

    python examples/export_onnx.py [--out DIR] [--hidden 100] [--epochs 30]
                                   [--rows 10000] [--threads 1]
"""

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_symnet import SymNetClassifier
from sklearn_symnet.onnx import to_onnx


def best_time(fn, repeat):
    """Shortest of ``repeat`` wall-clock times of ``fn()`` (after one warm-up)."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def session(onx, n_threads):
    options = ort.SessionOptions()
    options.intra_op_num_threads = n_threads
    return ort.InferenceSession(onx.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).parent))
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--rows", type=int, default=10_000, help="rows of the timing")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1,
                        help="threads of both the package (n_jobs) and onnxruntime")
    parser.add_argument("--quick", action="store_true", help="small, fast settings")
    args = parser.parse_args(argv)
    if args.quick:
        args.hidden, args.epochs, args.rows, args.repeat = 16, 3, 2_000, 2
    n_threads = args.threads

    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X / 16.0, y, test_size=0.25, stratify=y,
                                              random_state=0)
    rng = np.random.default_rng(0)
    X_big = X_te[rng.integers(0, X_te.shape[0], args.rows)]  # the timing rows

    print(f"digits, SymNetClassifier(hidden_layer_sizes=({args.hidden},)), "
          f"{args.epochs} epochs; timing on {args.rows} rows, {n_threads} thread(s)")
    print(f"{'coupling':8s} {'dtype':8s} {'accuracy':>8s} {'max |difference|':>17s} "
          f"{'labels':>7s} {'package s':>10s} {'onnxruntime s':>14s} {'ratio':>6s}")
    results = []
    for coupling in ("rate", "flux"):
        for dtype in (np.float64, np.float32):
            clf = SymNetClassifier(hidden_layer_sizes=(args.hidden,), coupling=coupling,
                                   max_iter=args.epochs, random_state=0, n_jobs=n_threads)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                clf.fit(X_tr.astype(dtype), y_tr)
            sess = session(to_onnx(clf, dtype=dtype), n_threads)
            Xd = X_te.astype(dtype)
            label, proba = sess.run(None, {"X": Xd})
            diff = float(np.abs(proba - clf.predict_proba(Xd)).max())
            same = bool(np.array_equal(label, clf.predict(Xd)))
            Xb = X_big.astype(dtype)
            t_pkg = best_time(lambda c=clf, x=Xb: c.predict_proba(x), args.repeat)
            t_ort = best_time(lambda s=sess, x=Xb: s.run(None, {"X": x}), args.repeat)
            row = dict(coupling=coupling, dtype=np.dtype(dtype).name, max_abs_diff=diff,
                       labels_equal=same, speed_ratio=t_pkg / t_ort,
                       accuracy=clf.score(Xd, y_te))
            results.append(row)
            print(f"{coupling:8s} {row['dtype']:8s} {row['accuracy']:8.3f} {diff:17.2e} "
                  f"{'same' if same else 'DIFFER':>7s} {t_pkg:10.4f} {t_ort:14.4f} "
                  f"{row['speed_ratio']:6.2f}")

    # a whole pipeline on the raw pixels
    pipe = make_pipeline(StandardScaler(), SymNetClassifier(
        hidden_layer_sizes=(args.hidden,), max_iter=args.epochs, random_state=0))
    X_raw_tr, X_raw_te = 16.0 * X_tr, 16.0 * X_te
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(X_raw_tr, y_tr)
    onx = to_onnx(pipe, X_raw_tr)
    path = Path(args.out) / "symnet_digits.onnx"
    path.write_bytes(onx.SerializeToString())
    label, proba = session(onx, n_threads).run(None, {"X": X_raw_te})
    print(f"Pipeline(StandardScaler, SymNetClassifier): max |difference| "
          f"{np.abs(proba - pipe.predict_proba(X_raw_te)).max():.2e}, labels "
          f"{'same' if np.array_equal(label, pipe.predict(X_raw_te)) else 'DIFFER'}; "
          f"wrote {path}")
    return results


if __name__ == "__main__":
    main()
