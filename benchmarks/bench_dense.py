"""Fit and predict time of SymNet variants and MLPClassifier, back to back in one process.

Data from the benchmarks' shared loader (``_bench_data.py``): by default the
first 20000 training rows of the dense synthetic case (``--dataset synthetic``:
``make_classification(60000+10000, 200, n_informative=50, n_classes=10)``, the
BLAS first-layer path; until issue 12 this script drew its own
``make_classification(20000, 200)``), or MNIST /255 (the zero-skipping path)
with ``--mnist PATH`` (same as ``--dataset mnist --data PATH``; all 60000
training rows unless ``--n-train``), or dense MNIST with ``--standardize``.
Every model gets the same data, hidden width, batch size and epochs; each is
fitted ``--repeat`` times and the best time is reported, with the training
accuracy.

    python benchmarks/bench_dense.py
    python benchmarks/bench_dense.py --dtype float32
    python benchmarks/bench_dense.py --mnist path/to/mnist.npz \\
        --variant signal:readout=signal --variant difference:readout=difference
    python benchmarks/bench_dense.py --mnist path/to/mnist.npz --standardize --dtype float32

Works with any version of the package that has ``SymNetClassifier`` (variants
with parameters it lacks excepted), so one command measures two checkouts.
"""

import argparse
import time
import warnings

from _bench_data import add_data_arguments, describe, load_from_args  # this folder
from bench_suite import _parse_params  # noqa: E402  (this folder, run as a script)
from sklearn.neural_network import MLPClassifier

from sklearn_symnet import SymNetClassifier

SYNTHETIC_ROWS = 20000


def load(args):
    """Training rows of the chosen case (``--mnist PATH`` selects MNIST from PATH)."""
    if args.mnist:
        args.dataset, args.data = "mnist", args.mnist
    n_train = args.n_train
    if n_train is None and args.dataset == "synthetic":
        n_train = SYNTHETIC_ROWS
    data = load_from_args(args, n_train=n_train, n_test=1)
    return data.X_train, data.y_train, data.info


def best_time(f, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t)
    return min(times), out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_arguments(parser, dataset="synthetic")
    parser.add_argument("--mnist", default=None, metavar="PATH",
                        help="MNIST .npz: same as --dataset mnist --data PATH")
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-mlp", action="store_true")
    parser.add_argument("--variant", action="append", default=[],
                        help="name:param=value,... (default: 'SymNet' at the defaults)")
    args = parser.parse_args(argv)
    X, y, info = load(args)
    common = dict(hidden_layer_sizes=(args.hidden,), batch_size=args.batch_size,
                  max_iter=args.epochs, random_state=0)
    models = {}
    for text in args.variant or ["SymNet"]:
        name, _, params = text.partition(":")
        models[name] = (SymNetClassifier, _parse_params(params))
    if not args.no_mlp:
        models["MLPClassifier"] = (MLPClassifier, {})
    print(f"data {describe(info)} {X.shape}, "
          f"hidden {args.hidden}, batch {args.batch_size}, {args.epochs} epochs, "
          f"best of {args.repeat}")
    print(f"{'model':<16} {'fit s':>7} {'predict s':>9} {'train acc':>9}")
    rows = []
    for name, (cls, params) in models.items():
        def fit(cls=cls, params=params):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return cls(**common, **params).fit(X, y)
        fit_s, model = best_time(fit, args.repeat)
        pred_s, _ = best_time(lambda model=model: model.predict_proba(X), args.repeat)
        acc = model.score(X, y)
        rows.append((name, fit_s, pred_s, acc))
        print(f"{name:<16} {fit_s:7.3f} {pred_s:9.4f} {acc:9.4f}", flush=True)
    return rows


if __name__ == "__main__":
    main()
