"""Report part of the benchmarks: markdown tables, JSON and plots.

``bench_mnist.py`` writes one result (one case: dataset, scaling, dtype,
network) per run as ``OUT/bench_mnist[_TAG].json``, ``.md`` and ``.png``.
Run as a script, this module gathers the headline row of several such JSON
files into one markdown table (the table of ``docs/performance.md``)::

    python benchmarks/_bench_report.py benchmarks/results/bench_mnist_*.json

Each row: the case, test accuracy of both models, median epoch time of both,
the fit ratio (SymNet/MLP median epoch time), the predict ratio
(SymNet/MLP ``predict(X_test)`` time), the two-product floor measured in the
same run and each model's floor ratio (epoch time / floor), and the
tracemalloc training peaks.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
from _bench_data import REPO_ROOT, describe

COLORS = {"symnet": "tab:blue", "mlp": "tab:orange", "floor": "tab:gray"}
MARKERS = {"symnet": "o", "mlp": "s", "floor": ""}


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------
def fmt(value, spec):
    return "-" if value is None else format(value, spec)


def table(header, rows):
    """Markdown table lines."""
    lines = [
        "| " + " | ".join(str(h) for h in header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def display_path(path):
    """``path`` relative to the repository root when inside it, else as is."""
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def write_text(path, text):
    """Write through a temporary file, so a crash never leaves half a file."""
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_json(path, result):
    write_text(path, json.dumps(result, indent=2, default=json_default) + "\n")


def save_figure(fig, path):
    tmp = Path(str(path) + ".tmp")
    fig.savefig(tmp, format="png", dpi=120)
    os.replace(tmp, path)


def output_paths(out, stem, tag=None, exts=("json", "md", "png")):
    """``OUT/STEM[_TAG].EXT`` for each extension (the folder is created)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stem = stem + (f"_{tag}" if tag else "")
    return {ext: out / f"{stem}.{ext}" for ext in exts}


def threads_text(env):
    return ", ".join(
        dict.fromkeys(
            f"{p.get('internal_api')} {p.get('num_threads')} threads"
            for p in env.get("threadpools", [])
        )
    )


def environment_lines(env, load):
    """Markdown bullet lines describing the machine and versions."""
    pools = "; ".join(
        f"{p.get('internal_api')} {p.get('version') or ''} ({p.get('user_api')}, "
        f"{p.get('num_threads')} threads, {Path(p.get('filepath') or '?').name})"
        for p in env["threadpools"]
    )
    commit = env.get("git_commit") or "unknown"
    modified = env.get("git_modified") or []
    if modified:
        commit += f" with uncommitted changes to {', '.join(modified)}"
    return [
        (
            f"- CPU: {env['cpu_model']}, {env['cpu_count']} logical CPUs "
            f"({env['cpu_affinity']} usable), {env['uname']['system']} "
            f"{env['uname']['release']}"
        ),
        f"- thread pools: {pools or 'none reported'}",
        f"- thread env: {env['thread_env'] or 'none set'}",
        (
            f"- versions: python {env['python']}, numpy {env['numpy']}, scipy {env['scipy']}, "
            f"scikit-learn {env['sklearn']}, sklearn_symnet {env['sklearn_symnet']}"
        ),
        f"- checkout: {commit}",
        (
            f"- load average (1, 5, 15 min) at start: {load['start']}, at end: "
            f"{load['end']} (other processes on the machine skew the times)"
        ),
    ]


# --------------------------------------------------------------------------
# bench_mnist: the headline row of one result
# --------------------------------------------------------------------------
ROW_COLUMNS = (
    ("case", None),
    ("hidden", None),
    ("n_train", None),
    ("SymNet acc", ".4f"),
    ("MLP acc", ".4f"),
    ("SymNet epoch s", ".3f"),
    ("MLP epoch s", ".3f"),
    ("fit ratio", ".2f"),
    ("SymNet predict s", ".4f"),
    ("MLP predict s", ".4f"),
    ("predict ratio", ".2f"),
    ("floor s", ".3f"),
    ("SymNet / floor", ".2f"),
    ("MLP / floor", ".2f"),
    ("minibatch floor s", ".3f"),
    ("SymNet / minibatch floor", ".2f"),
    ("SymNet peak MiB", ".1f"),
    ("MLP peak MiB", ".1f"),
)


def result_row(result):
    """The headline values of one ``bench_mnist`` result, by column name."""
    s, data, cfg = result["summary"], result["data"], result["config"]
    sym, mlp = s.get("symnet", {}), s.get("mlp", {})
    ratios = s.get("ratio_symnet_over_mlp", {})
    return {
        "case": describe(data),
        "hidden": ",".join(map(str, cfg["hidden"])),
        "n_train": data["n_train"],
        "SymNet acc": sym.get("final_test_acc"),
        "MLP acc": mlp.get("final_test_acc"),
        "SymNet epoch s": sym.get("median_epoch_s"),
        "MLP epoch s": mlp.get("median_epoch_s"),
        "fit ratio": ratios.get("median_epoch_s"),
        "SymNet predict s": sym.get("median_predict_s"),
        "MLP predict s": mlp.get("median_predict_s"),
        "predict ratio": ratios.get("median_predict_s"),
        "floor s": result["floor"]["seconds"],
        "SymNet / floor": sym.get("floor_ratio"),
        "MLP / floor": mlp.get("floor_ratio"),
        "minibatch floor s": result["floor"].get("minibatch_s"),
        "SymNet / minibatch floor": sym.get("minibatch_floor_ratio"),
        "SymNet peak MiB": sym.get("tracemalloc_peak_mib"),
        "MLP peak MiB": mlp.get("tracemalloc_peak_mib"),
    }


def rows_table(results):
    """Markdown lines of the headline rows of several results."""
    rows = []
    for result in results:
        row = result_row(result)
        rows.append([row[c] if spec is None else fmt(row[c], spec) for c, spec in ROW_COLUMNS])
    return table([c for c, _ in ROW_COLUMNS], rows)


def _title(result):
    cfg, data = result["config"], result["data"]
    hidden = ",".join(map(str, cfg["hidden"]))
    return (
        f"{describe(data)}: hidden={hidden}, batch={cfg['batch_size']}, "
        f"{cfg['epochs']} epochs, n_train={data['n_train']}, "
        f"n_test={data['n_test']}, repeats={cfg['repeat']}"
    )


def format_mnist_markdown(result):
    """The markdown report of one ``bench_mnist`` result."""
    from _bench_measure import N_PREDICT_CALLS

    cfg, summary, env = result["config"], result["summary"], result["environment"]
    cols = cfg["models"]
    both = "ratio_symnet_over_mlp" in summary
    lines = [f"# {_title(result)}", ""]
    lines += ["## Result", "", *rows_table([result]), ""]
    if cfg["repeat"] > 1:
        lines += ["Per-epoch values are medians over the repeats.", ""]

    header = ["epoch"]
    header += [f"{n} acc" for n in cols] + [f"{n} epoch s" for n in cols]
    rows = []
    for e in range(cfg["epochs"]):
        row = [e + 1]
        for key, spec in (("test_acc", ".4f"), ("epoch_s", ".3f")):
            for n in cols:
                row.append(fmt(summary[n]["per_epoch"][key][e], spec))
        rows.append(row)
    lines += ["## Per epoch", "", *table(header, rows), ""]

    ratios = summary.get("ratio_symnet_over_mlp", {})
    metrics = (
        ("final test accuracy", "final_test_acc", ".4f"),
        ("median epoch time (s)", "median_epoch_s", ".3f"),
        ("best epoch time (s)", "min_epoch_s", ".3f"),
        ("total training time (s)", "total_train_s", ".3f"),
        (f"predict(X_test) time (s, median of {N_PREDICT_CALLS})", "median_predict_s", ".4f"),
        ("median epoch / two-product floor", "floor_ratio", ".2f"),
        ("median epoch / minibatch floor", "minibatch_floor_ratio", ".2f"),
        ("training peak, tracemalloc (MiB)", "tracemalloc_peak_mib", ".1f"),
        ("training peak RSS growth (MiB)", "peak_rss_growth_mib", ".1f"),
    )
    rows = []
    for label, key, spec in metrics:
        row = [label] + [fmt(summary[n].get(key), spec) for n in cols]
        if both:
            row.append(fmt(ratios.get(key), ".2f"))
        rows.append(row)
    rows.append(
        ["fitted parameter dtype"]
        + [str(summary[n]["param_dtype"]) for n in cols]
        + (["-"] if both else [])
    )
    header = ["metric", *cols, *(["symnet/mlp"] if both else [])]
    lines += ["## Summary", "", *table(header, rows), ""]

    if cfg["repeat"] > 1:
        rows = []
        for run in result["runs"]:
            for n in cols:
                r = run["models"][n]
                rows.append([
                    run["repeat"],
                    run["seed"],
                    n,
                    fmt(r["final_test_acc"], ".4f"),
                    fmt(r["median_epoch_s"], ".3f"),
                    fmt(r["median_predict_s"], ".4f"),
                    fmt(r["tracemalloc_peak_mib"], ".1f"),
                ])
        header = ["repeat", "seed", "model", "final acc", "median epoch s", "predict s",
                  "peak MiB"]
        lines += ["## Each repeat", "", *table(header, rows), ""]

    floor, data = result["floor"], result["data"]
    measured = ", ".join(f"{t:.4f}" for t in floor["measurements"])
    lines += [
        "## Setup",
        "",
        f"- command: `{result['command']}`",
        (
            f"- data: {data['source']}; scaling {data['scaling']}; {data['n_train']} train / "
            f"{data['n_test']} test rows, {data['n_features']} features, {data['dtype']}, "
            f"{100 * data['train_zero_fraction']:.1f} % zeros in X_train"
        ),
        (
            f"- two-product floor: {floor['seconds']:.4f} s = best total of "
            f"{'; '.join(floor['products'])} in {floor['dtype']} through NumPy "
            f"(BLAS threads {floor['blas_threads']}); forward {floor['forward_s']:.4f} s, "
            f"backward {floor['backward_s']:.4f} s ({floor['gflops_per_s']:.1f} GFLOP/s); best "
            f"of {floor['repeat']} timings, half before and half after the models "
            f"(best of each: {measured} s)"
        ),
        *([(
            f"- minibatch floor: {floor['minibatch_s']:.4f} s = the same two products "
            f"{floor['batch_size']} shuffled rows at a time (rows gathered into a buffer, "
            f"then Xb @ W1 and Xb.T @ Db), the gathers alone {floor['gather_s']:.4f} s"
        )] if "minibatch_s" in floor else []),
        *environment_lines(env, result["load_average"]),
        f"- process max RSS (getrusage, whole run): {fmt(result['process_max_rss_mib'], '.1f')}"
        " MiB",
        "",
        "## Notes",
        "",
        *[f"- {note}" for note in result["notes"]],
        "",
    ]
    return "\n".join(lines)


def plot_mnist(result, path):
    """Test accuracy against cumulative training time, one marker per epoch."""
    from _bench_measure import LABELS
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
                    f"{s['median_epoch_s']:.3g} s/epoch ({fmt(s['floor_ratio'], '.2f')}x floor)"
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
    ax.set_title(
        f"{_title(result)}\n(one marker per epoch; {env['cpu_count']} CPUs; "
        f"{threads_text(env)})",
        fontsize=9,
    )
    save_figure(fig, path)


# --------------------------------------------------------------------------
# Command line: one table from several bench_mnist results
# --------------------------------------------------------------------------
def main(argv=None):
    """Print (and with ``--out``, write) one table of the headline rows of JSON results."""
    p = argparse.ArgumentParser(
        prog="_bench_report.py",
        description="One markdown table from several bench_mnist JSON results.",
    )
    p.add_argument("files", nargs="+", type=Path, metavar="JSON")
    p.add_argument("--out", type=Path, metavar="FILE", help="also write the table here")
    args = p.parse_args(argv)
    results = []
    for path in args.files:
        result = json.loads(path.read_text())
        if result.get("benchmark") != "bench_mnist" or "floor" not in result or (
            "seconds" not in result["floor"]
        ):
            print(f"skipped {path}: not a bench_mnist result with a measured floor",
                  file=sys.stderr)
            continue
        results.append(result)
    text = "\n".join(rows_table(results)) + "\n"
    print(text, end="")
    if args.out:
        write_text(args.out, text)
    return text


if __name__ == "__main__":
    main()
