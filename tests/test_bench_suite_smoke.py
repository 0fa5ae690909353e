"""Smoke tests of benchmarks/bench_suite.py on tiny runs (a few iterations).

No timing or accuracy-level assertions: they check that the suite runs end to
end on scikit-learn's bundled sets and on a synthetic UCI-style CSV file (with
a string column and a missing value), without any shared data folder.
"""

import json

import numpy as np
import pytest
from conftest import load_script


@pytest.fixture(scope="module")
def bench():
    return load_script("benchmarks/bench_suite.py")


def _check_set(r):
    for model in ("symnet", "mlp"):
        assert 0.0 <= r[model]["acc"] <= 1.0
        assert r[model]["fit_time"] > 0
        assert len(r[model]["fold_acc"]) == 5


def test_run_suite_sklearn_sets(bench, tmp_path):
    result = bench.run_suite(["iris", "wine"], seed=0, max_iter=5)
    assert set(result["sets"]) == {"iris", "wine"}
    assert result["sets"]["iris"]["n_samples"] == 150
    assert result["sets"]["wine"]["n_features"] == 13
    for r in result["sets"].values():
        _check_set(r)
    assert result["summary"]["n_sets"] == 2
    assert {"numpy", "scipy", "sklearn", "sklearn_symnet"} <= set(result["versions"])

    json_path, md_path = bench.write_results(result, tmp_path / "res" / "suite")
    saved = json.loads(json_path.read_text())
    assert set(saved["sets"]) == {"iris", "wine"}
    text = md_path.read_text()
    assert "| iris |" in text and "SymNet" in text and "MLP" in text


def _fake_glass(path, n=60, seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat([1, 2, 3], n // 3)
    colors = np.array(["red", "green", "blue"])
    lines = ["RI,Na,Color,Type"]
    for i, c in enumerate(y):
        ri = f"{c + rng.normal(0, 0.3):.4f}"
        na = "" if i == 7 else f"{rng.normal(13, 1):.3f}"  # one missing value
        color = colors[c - 1] if rng.random() < 0.8 else str(rng.choice(colors))
        lines.append(f"{ri},{na},{color},{c}")
    path.write_text("\n".join(lines) + "\n")


def test_run_suite_uci_csv(bench, tmp_path):
    _fake_glass(tmp_path / "Glass.csv")
    result = bench.run_suite(["Glass", "Vowel"], data_dir=tmp_path, max_iter=5)
    assert set(result["sets"]) == {"Glass"}
    assert "Vowel" in result["skipped"]  # no Vowel.csv in tmp_path
    r = result["sets"]["Glass"]
    assert r["n_samples"] == 60 and r["n_features"] == 3 and r["n_categorical"] == 1
    _check_set(r)


def test_uci_sets_skipped_without_data_dir(bench):
    result = bench.run_suite(["Glass"])
    assert result["sets"] == {} and "Glass" in result["skipped"]
    assert "no data set" in bench.format_report(result)
