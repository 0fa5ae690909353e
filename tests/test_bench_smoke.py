"""Smoke test of benchmarks/bench_mnist.py on a tiny synthetic MNIST-shaped file.

No timing assertions: it checks that the script runs end to end and writes
its table, JSON and plot.
"""

import json

import numpy as np
import pytest
from conftest import load_script


@pytest.fixture(scope="module")
def bench():
    return load_script("benchmarks/bench_mnist.py")


def _fake_mnist(path, n_train=300, n_test=100, seed=0):
    rng = np.random.default_rng(seed)
    y_train = rng.integers(0, 10, n_train).astype(np.uint8)
    y_test = rng.integers(0, 10, n_test).astype(np.uint8)

    def images(y):
        # one bright 4x4 block per class on a black background (mostly zeros)
        x = np.zeros((y.shape[0], 28, 28), dtype=np.uint8)
        for i, c in enumerate(y):
            r, k = divmod(int(c), 5)
            x[i, 4 + 10 * r: 8 + 10 * r, 2 + 5 * k: 6 + 5 * k] = 200
        x += rng.integers(0, 30, x.shape, dtype=np.uint8) * (rng.random(x.shape) < 0.05)
        return x

    np.savez_compressed(path, x_train=images(y_train), y_train=y_train,
                        x_test=images(y_test), y_test=y_test)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_bench_mnist_runs_on_tiny_data(bench, tmp_path):
    data = tmp_path / "tiny.npz"
    _fake_mnist(data)
    out = tmp_path / "results"
    result = bench.main([
        "--data", str(data), "--epochs", "2", "--hidden", "16", "--batch-size", "32",
        "--out", str(out), "--tag", "smoke", "-q",
    ])
    files = {p.name for p in out.iterdir()}
    assert {"bench_mnist_smoke.json", "bench_mnist_smoke.md",
            "bench_mnist_smoke.png"} <= files
    saved = json.loads((out / "bench_mnist_smoke.json").read_text())
    assert saved.keys() == result.keys() or set(result) <= set(saved)
    text = (out / "bench_mnist_smoke.md").read_text()
    assert "symnet" in text.lower() and "mlp" in text.lower()
    assert (out / "bench_mnist_smoke.png").stat().st_size > 1000


def test_tune_defaults_quick(tmp_path):
    module = load_script("benchmarks/tune_defaults.py")
    rows = module.main(["--quick", "--out", str(tmp_path)])
    assert len(rows) == 2 and rows[0]["params"] == {}
    assert 0.9 < rows[0]["digits_mean"] <= 1.0
    saved = json.loads((tmp_path / "tune_defaults.json").read_text())
    assert saved["rows"][0]["digits"] == rows[0]["digits"]
