"""Smoke tests of the small benchmark scripts (tiny settings; no timing assertions)."""

import numpy as np
import pytest
from conftest import load_script


@pytest.mark.usefixtures("no_openml")
def test_bench_dense_runs_variants():
    bench = load_script("benchmarks/bench_dense.py")
    rows = bench.main(["--epochs", "1", "--repeat", "1", "--no-mlp", "--n-train", "2000",
                       "--variant", "signal:readout=signal", "--variant", "pairs:"])
    assert [r[0] for r in rows] == ["signal", "pairs"]
    for _, fit_s, pred_s, acc in rows:
        assert fit_s > 0 and pred_s > 0 and 0.1 < acc <= 1.0


@pytest.mark.usefixtures("no_openml")
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_bench_dense_mnist_standardized(tiny_mnist, capsys):
    bench = load_script("benchmarks/bench_dense.py")
    rows = bench.main(["--mnist", str(tiny_mnist), "--standardize", "--dtype", "float32",
                       "--hidden", "8", "--epochs", "2", "--repeat", "1"])
    assert [r[0] for r in rows] == ["SymNet", "MLPClassifier"]
    assert "mnist standardized float32 (300, 784)" in capsys.readouterr().out


def test_diagnose_dead_reports_dead_fractions():
    diag = load_script("benchmarks/diagnose_dead.py")
    rows = diag.main(["--lr", "0.3", "--variant", "signal:readout=signal",
                      "--variant", "flux:coupling=flux,flux_bound=branch"])
    (_, _, _, dead_rate, *_), (_, _, acc_flux, dead_flux, *_) = rows
    assert dead_rate.shape == (2,) and dead_rate[0] > 0.5  # rate layers die at lr 0.3
    assert np.all(dead_flux == 0.0) and acc_flux > 0.9


def test_diagnose_scaling_raw_pixels_start_linear(capsys):
    diag = load_script("benchmarks/diagnose_scaling.py")
    means = diag.main(["--seeds", "1"])
    raw, std = means["pixels / 16"], means["StandardScaler"]
    assert raw[0] < 0.5 * std[0]          # the hidden inputs spread less on raw pixels
    assert raw[2] > 0.2 and std[2] == 0   # and many neurons start linear for every sample
    assert "kink at u = -1.220" in capsys.readouterr().out


def test_bench_reliability_one_case():
    rel = load_script("benchmarks/bench_reliability.py")
    rows, names = rel.run([("SymNet", {})], cases=["2-sample fit, then 30 partial_fit"])
    assert names == ["MLPClassifier", "SymNet"] and len(rows) == 1
    assert rows[0]["SymNet"] > 0.9 and rows[0]["MLPClassifier"] > 0.9


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_bench_overheads_measures_each_cost():
    bench = load_script("benchmarks/bench_overheads.py")
    assert bench.minibatch(n=1000, epochs=1) > 0
    costs = bench.tables(repeat=40)
    assert len(costs) == 10 and all(v > 0 for v in costs.values())


def test_diagnose_blas_times_every_shape_in_both_dtypes(capsys):
    diag = load_script("benchmarks/diagnose_blas.py")
    results = diag.main(["--repeat", "1", "--number", "2"])
    assert set(results) == {"float64", "float32"}
    for rows in results.values():
        assert [r[0] for r in rows] == [s for s, _ in diag.SHAPES]
        assert all(t_np > 0 and t_sp > 0 for _, _, t_np, t_sp in rows)
    out = capsys.readouterr().out
    assert "BLAS:" in out and "one thread's half of the split product" in out
