"""Benchmark ``SymNetClassifier`` against ``MLPClassifier`` on MNIST or a dense case.

Both models get the same data (float32 or float64), hidden sizes, minibatch
size, number of epochs and seed. One epoch is one ``partial_fit`` call (one
shuffled pass in minibatches, optimiser state kept). The two models train in
one process epoch by epoch in turn, the one going first alternating between
epochs and repeats; the test accuracy after every epoch is recorded outside
the timed region. Then ``predict(X_test)`` is timed (median of 3), and the
tracemalloc peak of training is measured on one extra, untimed epoch of a
fresh model. Each value is the median over ``--repeat`` runs (seeds
``seed..seed+R-1``).

Every result reports the two-product floor measured in the same run: the time
of the first layer's two large products of one epoch, ``X_train @ W1`` and
``X_train.T @ D``, done with NumPy on the whole training set in the model
dtype (best of ``--floor-repeat``, before and after the models), and each
model's floor ratio = median epoch time / floor, next to the fit ratio
(SymNet/MLP median epoch time) and the predict ratio (SymNet/MLP).

Cases (``_bench_data.py``): ``--dataset mnist`` (default; pixels /255, mostly
zeros), ``--dataset synthetic`` (dense ``make_classification``, 60000+10000 x
200, 10 classes), ``--standardize`` (``StandardScaler`` fitted on the training
rows: dense MNIST).

Results are printed as markdown and written to ``OUT/bench_mnist[_TAG]``
``.json``, ``.md`` and ``.png`` (test accuracy against cumulative training
time). ``python benchmarks/_bench_report.py OUT/*.json`` gathers the headline
rows of several runs into one table.

Usage
-----
MNIST /255 from a local ``.npz`` (keys ``x_train``, ``y_train``, ``x_test``,
``y_test``; without ``--data`` it is fetched with ``fetch_openml``), 5 epochs,
three repeats::

    python benchmarks/bench_mnist.py --data mnist.npz --epochs 5 --repeat 3 --tag h100_f64

Dense MNIST in float32, and the dense synthetic case::

    python benchmarks/bench_mnist.py --data mnist.npz --standardize --dtype float32 \\
        --epochs 5 --repeat 3 --tag h100_std_f32
    python benchmarks/bench_mnist.py --dataset synthetic --epochs 5 --repeat 3 --tag synth_f64

Extra SymNet parameters, a smoke run on a subset::

    python benchmarks/bench_mnist.py --data mnist.npz --symnet-params '{"n_jobs": 1}' \\
        --epochs 2 --n-train 5000 --n-test 1000 --out /tmp/bench -q

From Python (returns the result dictionary)::

    from bench_mnist import main
    result = main(["--data", "mnist.npz", "--n-train", "500", "--epochs", "1"])
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from _bench_data import REPO_ROOT, add_data_arguments, environment, load_from_args, positive_int
from _bench_measure import (
    MODEL_NAMES,
    make_models,
    max_rss_mib,
    merge_floors,
    summarise,
    train_interleaved,
    two_product_floor,
)
from _bench_report import (
    display_path,
    format_mnist_markdown,
    output_paths,
    plot_mnist,
    write_json,
    write_text,
)

DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results"


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------
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
        description="Benchmark SymNetClassifier against MLPClassifier on MNIST or a "
        "dense case, with the two-product floor of the same run.",
    )
    add_data_arguments(p)
    p.add_argument(
        "--hidden",
        type=_hidden,
        default=(100,),
        help="hidden layer sizes, e.g. 100 or 256,128 (default 100)",
    )
    p.add_argument("--epochs", type=positive_int, default=10, help="default 10")
    p.add_argument("--batch-size", type=positive_int, default=128, help="default 128")
    p.add_argument(
        "--repeat",
        type=positive_int,
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
        "--floor-repeat",
        type=positive_int,
        default=5,
        metavar="K",
        help="time the two-product floor K times before and K times after the "
        "models; the best counts (default 5)",
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


NOTES = {
    "epoch": (
        "One epoch = one partial_fit(X_train, y_train, classes) call; test scoring is "
        "excluded from the training time."
    ),
    "order": (
        "The models train in one process, epoch by epoch in turn; which goes first "
        "alternates between epochs and between repeats."
    ),
    "floor": (
        "Two-product floor = the first layer's two large products of one epoch "
        "(X_train @ W1 and X_train.T @ D, whole training set, model dtype) through NumPy, "
        "best time; floor ratio = median epoch time / floor. On mostly-zero input a "
        "model that skips zeros can be below 1."
    ),
    "ratios": "fit ratio = SymNet/MLP median epoch time; predict ratio = SymNet/MLP "
    "predict(X_test) time (median of 3 calls).",
    "separate": "tracemalloc peak: one extra, untimed, traced epoch of a fresh model "
    "(including initialisation); the timed epochs run untraced.",
    "timed": "tracemalloc peak: traced during the timed epochs (tracing slows them down).",
    "off": "tracemalloc peak not measured.",
    "tracemalloc": (
        "tracemalloc sees Python and NumPy allocations only, not memory that compiled "
        "code takes directly with malloc."
    ),
    "rss": (
        "Peak RSS growth = largest VmHWM over a timed epoch (reset before it) minus VmRSS "
        "before it (Linux only); memory already resident can hide growth."
    ),
}


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
        Configuration, data description, floor, environment, per-repeat runs,
        summary and the paths of the written files.
    """
    args = _parser().parse_args(argv)
    names = args.models

    def log(msg):
        if not args.quiet:
            print(msg, file=sys.stderr, flush=True)

    env_start = environment()
    data = load_from_args(args)
    log(f"data: {data.info['source']}, {data.info['n_train']} train, "
        f"{data.info['n_test']} test, {data.info['dtype']}, scaling {data.info['scaling']}")

    floors = [two_product_floor(data.X_train, args.hidden[0], repeat=args.floor_repeat,
                                batch_size=args.batch_size)]
    log(f"two-product floor: {floors[0]['seconds']:.4f} s")
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
        res, orders = train_interleaved(
            models,
            data,
            epochs=args.epochs,
            first=rep,
            memory=args.memory,
            log=lambda msg, rep=rep, seed=seed: log(f"repeat {rep} seed {seed} {msg}"),
        )
        runs.append({"repeat": rep, "seed": seed, "epoch_order": orders, "models": res})
        del models
    floors.append(two_product_floor(data.X_train, args.hidden[0], repeat=args.floor_repeat,
                                    seed=1, batch_size=args.batch_size))
    floor = merge_floors(floors)
    log(f"two-product floor after the models: {floors[1]['seconds']:.4f} s")

    if argv is None:
        command = shlex.join(["python", *sys.argv])
    else:
        command = shlex.join(["python", "benchmarks/bench_mnist.py", *argv])
    env = environment()
    result = {
        "benchmark": "bench_mnist",
        "command": command,
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
            "floor_repeat": args.floor_repeat,
            "tag": args.tag,
        },
        "data": data.info,
        "floor": floor,
        "environment": env,
        "runs": runs,
        "summary": summarise(runs, names, floor["seconds"], floor.get("minibatch_s")),
        "process_max_rss_mib": max_rss_mib(),
        "load_average": {"start": env_start["load_average"], "end": env["load_average"]},
        "notes": [NOTES[k] for k in ("epoch", "order", "floor", "ratios", args.memory,
                                     "tracemalloc", "rss")],
    }

    paths = output_paths(args.out, "bench_mnist", args.tag)
    result["files"] = {k: display_path(v) for k, v in paths.items()}
    markdown = format_mnist_markdown(result)
    print(markdown)
    write_text(paths["md"], markdown)
    plot_mnist(result, paths["png"])
    write_json(paths["json"], result)
    log("wrote " + ", ".join(result["files"].values()))
    return result


if __name__ == "__main__":
    main()
