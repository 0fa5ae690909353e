"""Epoch time of SymNetClassifier and MLPClassifier against n_samples and hidden width.

One run, two sweeps on the same data (``_bench_data.py``: MNIST /255,
``--standardize`` for dense MNIST, or ``--dataset synthetic``):

* against n_samples (``--sizes``, default 1k, 2k, 5k, 10k, 20k, 60k) at one
  hidden layer of ``--size-hidden`` (default 100) units: the first n rows of
  the training set;
* against the hidden width (``--widths``, default 32 ... 1024) on the first
  ``--width-n`` (default 20000) training rows.

At each point both models are built fresh (same seed, batch size, dtype),
trained ``--warmup`` untimed epochs (initialisation), then ``--repeat`` timed
epochs, taking turns epoch by epoch with the first one alternating; the point
is the best epoch (one ``partial_fit`` call). The two-product floor of the
same shape (``X @ W1`` and ``X.T @ D`` through NumPy, best of
``--floor-repeat`` timings before and as many after the models) is measured at
each point too, and the test accuracy
after the last epoch is recorded as a sanity check.

Writes ``OUT/bench_scaling[_TAG].json``, ``.md`` (two tables) and ``.png`` (a
two-panel log-log figure: epoch time against n_samples and against width,
both models and the floor).

Usage::

    python benchmarks/bench_scaling.py --data mnist.npz --tag mnist_f64
    python benchmarks/bench_scaling.py --data mnist.npz --standardize --dtype float32 \\
        --tag mnist_std_f32
    python benchmarks/bench_scaling.py --dataset synthetic --tag synth_f64

Tiny smoke run::

    python benchmarks/bench_scaling.py --data mnist.npz --sizes 200,400 --widths 8,16 \\
        --width-n 200 --n-test 100 --repeat 1 --out /tmp/scaling -q
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np
from _bench_data import (
    REPO_ROOT,
    add_data_arguments,
    describe,
    environment,
    load_from_args,
    positive_int,
)
from _bench_measure import (
    LABELS,
    MODEL_NAMES,
    best_epoch_times,
    make_models,
    merge_floors,
    two_product_floor,
)
from _bench_report import (
    COLORS,
    MARKERS,
    display_path,
    environment_lines,
    fmt,
    output_paths,
    save_figure,
    table,
    threads_text,
    write_json,
    write_text,
)

DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results"
DEFAULT_SIZES = (1000, 2000, 5000, 10000, 20000, 60000)
DEFAULT_WIDTHS = (32, 64, 128, 256, 512, 1024)
SHORT = {"symnet": "SymNet", "mlp": "MLP"}


def _int_list(text):
    try:
        values = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        values = ()
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected a comma list of positive integers, "
                                         f"got {text!r}")
    return values


def _models(text):
    names = {t.strip() for t in text.split(",") if t.strip()}
    if not names or names - set(MODEL_NAMES):
        raise argparse.ArgumentTypeError(f"expected a comma list of symnet, mlp, got {text!r}")
    return [n for n in MODEL_NAMES if n in names]


def _json_object(text):
    value = json.loads(text)
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object")
    return value


def _parser():
    p = argparse.ArgumentParser(
        prog="bench_scaling.py",
        description=__doc__.splitlines()[0],
    )
    add_data_arguments(p)
    p.add_argument("--sizes", type=_int_list, default=DEFAULT_SIZES, metavar="N,N,...",
                   help="n_samples of the first sweep (default 1000,...,60000)")
    p.add_argument("--size-hidden", type=positive_int, default=100, metavar="H",
                   help="hidden width of the n_samples sweep (default 100)")
    p.add_argument("--widths", type=_int_list, default=DEFAULT_WIDTHS, metavar="H,H,...",
                   help="hidden widths of the second sweep (default 32,...,1024)")
    p.add_argument("--width-n", type=positive_int, default=20000, metavar="N",
                   help="n_samples of the width sweep (default 20000)")
    p.add_argument("--batch-size", type=positive_int, default=128, help="default 128")
    p.add_argument("--repeat", type=positive_int, default=3,
                   help="timed epochs per point, the best counts (default 3)")
    p.add_argument("--warmup", type=int, default=1,
                   help="untimed epochs before them (default 1)")
    p.add_argument("--floor-repeat", type=positive_int, default=3, metavar="K",
                   help="timings of the two-product floor before and after the models at "
                   "each point; the best counts (default 3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--models", type=_models, default=list(MODEL_NAMES))
    p.add_argument("--lr-symnet", type=float, default=None)
    p.add_argument("--lr-mlp", type=float, default=1e-3)
    p.add_argument("--symnet-params", type=_json_object, default={}, metavar="JSON",
                   help="extra SymNetClassifier kwargs, e.g. '{\"n_jobs\": 1}'")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR",
                   help="output folder (default benchmarks/results)")
    p.add_argument("--tag", default=None, metavar="NAME")
    p.add_argument("-q", "--quiet", action="store_true")
    return p


def measure_point(data, n, hidden, args, first):
    """Best epoch time of each model and the floor on the first ``n`` rows."""
    X, y = data.X_train[:n], data.y_train[:n]
    classes = np.unique(np.concatenate([data.y_train, data.y_test]))
    models = make_models(args.models, hidden=(hidden,), batch_size=args.batch_size,
                         seed=args.seed, lr_symnet=args.lr_symnet, lr_mlp=args.lr_mlp,
                         symnet_params=args.symnet_params)
    before = two_product_floor(X, hidden, repeat=args.floor_repeat)
    times = best_epoch_times(models, X, y, classes, repeat=args.repeat,
                             warmup=args.warmup, first=first)
    floor = merge_floors([before, two_product_floor(X, hidden, repeat=args.floor_repeat,
                                                    seed=1)])
    point = {"n_samples": int(n), "hidden": int(hidden), "floor_s": floor["seconds"],
             "floor": floor}
    for name in args.models:
        point[name] = {
            "epoch_s": min(times[name]),
            "all_s": times[name],
            "floor_ratio": min(times[name]) / floor["seconds"],
            "test_acc": float(models[name].score(data.X_test, data.y_test)),
        }
    if "symnet" in point and "mlp" in point:
        point["ratio_symnet_over_mlp"] = point["symnet"]["epoch_s"] / point["mlp"]["epoch_s"]
    return point


def _sweep_table(points, key, names):
    header = [key, *[f"{LABELS[n]} epoch s" for n in names], "floor s"]
    header += [f"{SHORT[n]} / floor" for n in names]
    both = len(names) == 2
    if both:
        header.append("SymNet/MLP")
    header += [f"{SHORT[n]} test acc" for n in names]
    rows = []
    for p in points:
        row = [p[key], *[fmt(p[n]["epoch_s"], ".4f") for n in names], fmt(p["floor_s"], ".4f")]
        row += [fmt(p[n]["floor_ratio"], ".2f") for n in names]
        if both:
            row.append(fmt(p["ratio_symnet_over_mlp"], ".2f"))
        row += [fmt(p[n]["test_acc"], ".4f") for n in names]
        rows.append(row)
    return table(header, rows)


def format_markdown(result):
    cfg, data, names = result["config"], result["data"], result["config"]["models"]
    title = (f"Epoch time scaling: {describe(data)}, "
             f"batch {cfg['batch_size']}, best of {cfg['repeat']} epochs after "
             f"{cfg['warmup']} warm-up")
    lines = [f"# {title}", ""]
    lines += [f"## Against n_samples (hidden {cfg['size_hidden']})", "",
              *_sweep_table(result["by_samples"], "n_samples", names), ""]
    lines += [f"## Against hidden width (n_samples {result['width_n']})", "",
              *_sweep_table(result["by_width"], "hidden", names), ""]
    if result["skipped"]:
        lines += [f"Skipped n_samples (more than the {data['n_train']} rows loaded): "
                  f"{', '.join(map(str, result['skipped']))}", ""]
    lines += [
        "## Setup",
        "",
        f"- command: `{result['command']}`",
        (f"- data: {data['source']}; scaling {data['scaling']}; {data['n_train']} train rows "
         f"loaded, {data['n_test']} test rows, {data['n_features']} features, "
         f"{100 * data['train_zero_fraction']:.1f} % zeros"),
        ("- epoch time: one partial_fit call, best of the timed epochs; floor: X @ W1 and "
         "X.T @ D on the same rows through NumPy, best of "
         f"{cfg['floor_repeat']} timings before and {cfg['floor_repeat']} after the models"),
        *environment_lines(result["environment"], result["load_average"]),
        "",
    ]
    return "\n".join(lines)


def plot_scaling(result, path):
    """Two log-log panels: epoch time against n_samples and against hidden width."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter

    cfg, data = result["config"], result["data"]
    fig = Figure(figsize=(11, 4.8), layout="constrained")
    FigureCanvasAgg(fig)
    panels = (
        ("by_samples", "n_samples", "training rows (n_samples)",
         f"hidden {cfg['size_hidden']}"),
        ("by_width", "hidden", "hidden width", f"n_samples {result['width_n']}"),
    )
    for i, (key, x_key, xlabel, fixed) in enumerate(panels):
        ax = fig.add_subplot(1, 2, i + 1)
        points = result[key]
        if points:
            x = [p[x_key] for p in points]
            for name in cfg["models"]:
                ax.plot(x, [p[name]["epoch_s"] for p in points], marker=MARKERS[name],
                        color=COLORS[name], label=LABELS[name])
            ax.plot(x, [p["floor_s"] for p in points], linestyle="--", color=COLORS["floor"],
                    label="two-product floor (NumPy)")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xticks(x, [str(v) for v in x], minor=False)
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.legend(loc="upper left", fontsize=8)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("epoch time (s)")
        ax.set_title(fixed, fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
    env = result["environment"]
    fig.suptitle(
        f"{describe(data)}, batch {cfg['batch_size']}, best of {cfg['repeat']} epochs; "
        f"{env['cpu_count']} CPUs; {threads_text(env)}",
        fontsize=9,
    )
    save_figure(fig, path)


def main(argv=None):
    """Run both sweeps; return the result dictionary (also written to disk)."""
    args = _parser().parse_args(argv)

    def log(msg):
        if not args.quiet:
            print(msg, file=sys.stderr, flush=True)

    env_start = environment()
    needed = max(max(args.sizes), args.width_n)
    data = load_from_args(args, n_train=args.n_train or needed)
    available = data.info["n_train"]
    log(f"data: {data.info['source']}, {available} train rows, {data.info['dtype']}, "
        f"scaling {data.info['scaling']}")

    skipped = []
    by_samples, by_width = [], []
    k = 0
    for n in args.sizes:
        if n > available:
            skipped.append(n)
            continue
        by_samples.append(measure_point(data, n, args.size_hidden, args, first=k))
        k += 1
        log(_point_line(by_samples[-1], args.models))
    width_n = min(args.width_n, available)
    for h in args.widths:
        by_width.append(measure_point(data, width_n, h, args, first=k))
        k += 1
        log(_point_line(by_width[-1], args.models))

    if argv is None:
        command = shlex.join(["python", *sys.argv])
    else:
        command = shlex.join(["python", "benchmarks/bench_scaling.py", *argv])
    env = environment()
    result = {
        "benchmark": "bench_scaling",
        "command": command,
        "config": {
            "models": args.models,
            "sizes": list(args.sizes),
            "size_hidden": args.size_hidden,
            "widths": list(args.widths),
            "width_n": args.width_n,
            "batch_size": args.batch_size,
            "dtype": args.dtype,
            "repeat": args.repeat,
            "warmup": args.warmup,
            "floor_repeat": args.floor_repeat,
            "seed": args.seed,
            "lr_symnet": args.lr_symnet,
            "lr_mlp": args.lr_mlp,
            "symnet_params": args.symnet_params,
            "tag": args.tag,
        },
        "data": data.info,
        "width_n": width_n,
        "by_samples": by_samples,
        "by_width": by_width,
        "skipped": skipped,
        "environment": env,
        "load_average": {"start": env_start["load_average"], "end": env["load_average"]},
    }
    paths = output_paths(args.out, "bench_scaling", args.tag)
    result["files"] = {key: display_path(v) for key, v in paths.items()}
    markdown = format_markdown(result)
    print(markdown)
    write_text(paths["md"], markdown)
    plot_scaling(result, paths["png"])
    write_json(paths["json"], result)
    log("wrote " + ", ".join(result["files"].values()))
    return result


def _point_line(p, names):
    times = ", ".join(f"{n} {p[n]['epoch_s']:.4f} s" for n in names)
    return f"n_samples {p['n_samples']}, hidden {p['hidden']}: {times}, floor {p['floor_s']:.4f} s"


if __name__ == "__main__":
    main()
