"""Smoke tests of the MNIST/dense benchmarks on tiny data (fake MNIST npz, small synthetic).

No timing assertions: they check that each script runs end to end, writes its
table, JSON and plot into a temporary folder, and reports what it should
(floor, floor ratios, SymNet/MLP ratios). Never the network: fetch_openml fails.
"""

import json

import numpy as np
import pytest
from conftest import load_script

pytestmark = [
    pytest.mark.usefixtures("no_openml"),
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
]


@pytest.fixture(scope="module")
def bench():
    return load_script("benchmarks/bench_mnist.py")


@pytest.fixture(scope="module")
def data_module(bench):
    # The module the scripts themselves import (load_script put its folder on sys.path).
    import _bench_data

    return _bench_data


def _refuse(*args, **kwargs):
    raise AssertionError("fetch_openml called in a test")


def _outputs(out, stem):
    files = {p.name for p in out.iterdir()}
    assert {f"{stem}.json", f"{stem}.md", f"{stem}.png"} <= files
    assert not any(name.endswith(".tmp") for name in files)
    assert (out / f"{stem}.png").stat().st_size > 1000
    return json.loads((out / f"{stem}.json").read_text()), (out / f"{stem}.md").read_text()


# --------------------------------------------------------------------------
# The shared loader
# --------------------------------------------------------------------------
def test_loader_mnist(data_module, tiny_mnist):
    d = data_module.load_dataset("mnist", tiny_mnist, n_train=200, n_test=50)
    X, y, X_te, y_te = d
    assert X.shape == (200, 784) and X_te.shape == (50, 784)
    assert X.dtype == np.float64 and X.flags.c_contiguous
    assert y.dtype == np.int64 and y_te.shape == (50,)
    assert 0.0 <= X.min() and X.max() <= 1.0
    assert d.info["train_zero_fraction"] > 0.5 and not d.info["standardize"]
    raw = np.load(tiny_mnist)
    np.testing.assert_allclose(X * 255, raw["x_train"][:200].reshape(200, -1))


def test_loader_standardize_float32(data_module, tiny_mnist):
    d = data_module.load_dataset("mnist", tiny_mnist, dtype="float32", standardize=True)
    assert d.X_train.dtype == np.float32 and d.X_test.dtype == np.float32
    varying = d.X_train.std(axis=0) > 0
    assert varying.sum() > 100
    np.testing.assert_allclose(d.X_train[:, varying].mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(d.X_train[:, varying].std(axis=0), 1, rtol=1e-3)
    assert d.info["standardize"] and "StandardScaler" in d.info["scaling"]


def test_loader_rejects_unknown(data_module):
    with pytest.raises(ValueError, match="unknown dataset"):
        data_module.load_dataset("cifar")
    with pytest.raises(ValueError, match="dtype"):
        data_module.load_dataset("synthetic", dtype="float16")


def test_environment_record(data_module):
    env = data_module.environment()
    for key in ("cpu_count", "numpy", "sklearn", "threadpools", "load_average", "git_commit"):
        assert key in env
    json.dumps(env)


# --------------------------------------------------------------------------
# bench_mnist.py
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mnist_run(bench, tiny_mnist, tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    with pytest.MonkeyPatch.context() as mp:  # module scope: no_openml's work by hand
        mp.setattr("sklearn.datasets.fetch_openml", _refuse)
        result = bench.main([
            "--data", str(tiny_mnist), "--epochs", "2", "--hidden", "16", "--batch-size", "32",
            "--floor-repeat", "2", "--out", str(out), "--tag", "smoke", "-q",
        ])
    return result, out


def test_bench_mnist_runs_on_tiny_data(mnist_run):
    result, out = mnist_run
    saved, text = _outputs(out, "bench_mnist_smoke")
    assert set(result) <= set(saved)
    assert "symnet" in text.lower() and "mlp" in text.lower()
    assert "floor" in text and "## Result" in text
    assert result["data"]["dataset"] == "mnist" and result["data"]["n_train"] == 300
    floor = saved["floor"]
    assert floor["seconds"] > 0 and len(floor["measurements"]) == 2
    assert floor["dtype"] == "float64"
    s = saved["summary"]
    for name in ("symnet", "mlp"):
        assert s[name]["floor_ratio"] == pytest.approx(s[name]["median_epoch_s"] / floor["seconds"])
        assert len(s[name]["per_epoch"]["epoch_s"]) == 2
        assert s[name]["tracemalloc_peak_mib"] > 0
        assert s[name]["param_dtype"] == "float64"
    ratios = s["ratio_symnet_over_mlp"]
    assert ratios["median_epoch_s"] > 0 and ratios["median_predict_s"] > 0
    # interleaved, alternating which model goes first
    assert saved["runs"][0]["epoch_order"] == [["symnet", "mlp"], ["mlp", "symnet"]]


def test_bench_mnist_standardize_float32(bench, tiny_mnist, tmp_path):
    result = bench.main([
        "--data", str(tiny_mnist), "--standardize", "--dtype", "float32", "--epochs", "1",
        "--repeat", "2", "--hidden", "8", "--batch-size", "64", "--memory", "timed",
        "--floor-repeat", "1", "--symnet-params", '{"n_jobs": 1}',
        "--out", str(tmp_path), "-q",
    ])
    saved, text = _outputs(tmp_path, "bench_mnist")
    assert saved["data"]["standardize"] and saved["data"]["dtype"] == "float32"
    assert saved["floor"]["dtype"] == "float32"
    assert saved["config"]["symnet_params"] == {"n_jobs": 1}
    for name in ("symnet", "mlp"):
        assert result["summary"][name]["param_dtype"] == "float32"
    # the second repeat starts with the other model
    assert [r["epoch_order"][0][0] for r in saved["runs"]] == ["symnet", "mlp"]
    assert "mnist standardized float32" in text and "## Each repeat" in text


def test_bench_mnist_synthetic(bench, tmp_path):
    result = bench.main([
        "--dataset", "synthetic", "--n-train", "400", "--n-test", "100", "--epochs", "1",
        "--hidden", "8", "--batch-size", "64", "--floor-repeat", "1", "--memory", "off",
        "--models", "symnet", "--out", str(tmp_path), "--tag", "synth", "-q",
    ])
    saved, text = _outputs(tmp_path, "bench_mnist_synth")
    data = saved["data"]
    assert data["dataset"] == "synthetic" and (data["n_train"], data["n_test"]) == (400, 100)
    assert data["n_features"] == 200 and data["train_zero_fraction"] < 0.01
    assert "make_classification" in data["source"]
    assert "ratio_symnet_over_mlp" not in result["summary"]
    assert result["summary"]["symnet"]["floor_ratio"] > 0
    assert "synthetic float64" in text


def test_report_gathers_rows(mnist_run, tmp_path):
    report = load_script("benchmarks/_bench_report.py")
    _, out = mnist_run
    old = tmp_path / "old.json"  # a result from before the floor was measured
    old.write_text(json.dumps({"benchmark": "bench_mnist", "floor": {"flops_per_epoch": 1}}))
    table = tmp_path / "table.md"
    text = report.main([str(out / "bench_mnist_smoke.json"), str(old), "--out", str(table)])
    lines = text.splitlines()
    assert len(lines) == 3 and "SymNet / floor" in lines[0] and "predict ratio" in lines[0]
    assert lines[2].startswith("| mnist /255 float64 | 16 | 300 |")
    assert table.read_text() == text


# --------------------------------------------------------------------------
# bench_scaling.py
# --------------------------------------------------------------------------
def test_bench_scaling_tiny(tiny_mnist, tmp_path):
    scaling = load_script("benchmarks/bench_scaling.py")
    result = scaling.main([
        "--data", str(tiny_mnist), "--standardize", "--sizes", "100,200,5000",
        "--widths", "4,8", "--width-n", "150", "--n-test", "50", "--batch-size", "32",
        "--repeat", "2", "--floor-repeat", "1", "--out", str(tmp_path), "--tag", "tiny", "-q",
    ])
    saved, text = _outputs(tmp_path, "bench_scaling_tiny")
    assert [p["n_samples"] for p in saved["by_samples"]] == [100, 200]
    assert saved["skipped"] == [5000]  # more rows than the fake set has
    assert [(p["n_samples"], p["hidden"]) for p in saved["by_width"]] == [(150, 4), (150, 8)]
    for p in result["by_samples"] + result["by_width"]:
        assert p["floor_s"] > 0
        for name in ("symnet", "mlp"):
            assert len(p[name]["all_s"]) == 2 and p[name]["epoch_s"] == min(p[name]["all_s"])
            assert p[name]["floor_ratio"] > 0 and 0.0 <= p[name]["test_acc"] <= 1.0
    assert "Against n_samples" in text and "Against hidden width" in text


# --------------------------------------------------------------------------
# Other scripts on the shared loader
# --------------------------------------------------------------------------
def test_profile_epoch_restores_kernels(tiny_mnist, capsys):
    profile = load_script("benchmarks/profile_epoch.py")
    from sklearn_symnet import _kernels

    before = {name: getattr(_kernels, name) for name in profile.kernel_names()}
    total, timings = profile.main(["--data", str(tiny_mnist), "--epochs", "1", "--hidden", "8",
                                   "--standardize", "--n-train", "200"])
    assert total > 0 and timings and set(timings) <= set(before)
    assert all(getattr(_kernels, name) is fn for name, fn in before.items())
    assert "200 samples" in capsys.readouterr().out


def test_profile_epoch_budget_against_the_floor(tiny_mnist, capsys):
    profile = load_script("benchmarks/profile_epoch.py")
    profile.main(["--data", str(tiny_mnist), "--epochs", "2", "--hidden", "8",
                  "--standardize", "--n-train", "200", "--floor", "--floor-repeat", "1"])
    out = capsys.readouterr().out
    assert "medians over 1 profiled epochs" in out
    lines = [ln for ln in out.splitlines() if ln.startswith("  + ")]
    assert "products and gathers" in lines[0] and "other kernels" in lines[-1]
    cumulative = [float(ln.split("x the floor")[0].split()[-1]) for ln in lines]
    assert len(cumulative) == 5 and cumulative == sorted(cumulative) and cumulative[0] > 0
    assert "epochs without timers" in out and "x the minibatch one" in out
    assert "the two products alone" in out


def test_tune_defaults_quick(tmp_path):
    module = load_script("benchmarks/tune_defaults.py")
    rows = module.main(["--quick", "--out", str(tmp_path)])
    assert len(rows) == 2 and rows[0]["params"] == {}
    assert 0.9 < rows[0]["digits_mean"] <= 1.0
    saved = json.loads((tmp_path / "tune_defaults.json").read_text())
    assert saved["rows"][0]["digits"] == rows[0]["digits"]


def test_tune_defaults_mnist_loader(tiny_mnist):
    module = load_script("benchmarks/tune_defaults.py")
    X, y, X_te, y_te = module.load_mnist(tiny_mnist)
    assert X.shape == (300, 784) and X_te.shape == (100, 784)
    assert 0.0 <= X.min() and X.max() <= 1.0 and y.dtype == np.int64


def test_diagnose_predict_runs(tiny_mnist, capsys):
    diag = load_script("benchmarks/diagnose_predict.py")
    both, alone = diag.main(["--data", str(tiny_mnist), "--standardize", "--dtype", "float32",
                             "--hidden", "8", "--n-train", "200", "--calls", "2",
                             "--pause", "0"])
    assert set(both) == {"SymNet", "MLPClassifier"} and alone["SymNet"].shape == (2,)
    out = capsys.readouterr().out
    # the split pass computes the fused pass's signals
    diff = float(out.split("largest difference: ")[1].split()[0])
    assert diff < 1e-5 and "numpy 256-row products, 1 thread" in out
    assert "1 thread, pause 0.0" in out  # the wake-up part
    # parts can be chosen, and an unknown one is refused
    both, alone = diag.main(["--data", str(tiny_mnist), "--hidden", "8", "--n-train", "200",
                             "--calls", "2", "--pause", "0", "--parts", "wake"])
    assert both is None and alone is None
    assert "## predict" not in capsys.readouterr().out
    with pytest.raises(SystemExit):
        diag.main(["--data", str(tiny_mnist), "--parts", "wake,nope"])


def test_diagnose_adam_runs(tiny_mnist):
    diag = load_script("benchmarks/diagnose_adam.py")
    results = diag.main(["--data", str(tiny_mnist), "--standardize", "--hidden", "8",
                         "--n-train", "200", "--epochs", "1", "--calls", "2"])
    assert set(results) == {"float64", "float32"}
    for r in results.values():
        us, asked, (n, n_coef) = r["in_epoch"][0]
        assert us > 0 and asked == [1] and n == 784 * 8 + 8 * 20 + 8 + 20 > n_coef
        assert len(r["alone"]) == 14 and all(v > 0 for v in r["alone"].values())


def test_epoch_times_runs(tiny_mnist, capsys):
    script = load_script("benchmarks/epoch_times.py")
    seconds, median = script.main(["--data", str(tiny_mnist), "--standardize", "--n-train",
                                   "200", "--epochs", "3", "--pause", "0"])
    assert len(seconds) == 3 and median == float(np.median(seconds[1:])) > 0
    assert "sklearn_symnet from" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        script.main(["--data", str(tiny_mnist), "--epochs", "1"])


def test_defaults_search_patch_forces_the_shipped_schedule(monkeypatch):
    from sklearn_symnet import _optim

    # restored after the test, whatever the patch sets
    monkeypatch.setattr(_optim.AdamOptimizer, "_init_schedule",
                        _optim.AdamOptimizer._init_schedule)
    load_script("benchmarks/defaults_search.py").patch_step_decay(2, 0.3)
    opt = _optim.AdamOptimizer(3, np.float64, 0.01, decay=0.5, decay_steps=None, floor=0.0)
    params, grads = np.zeros(3), np.ones(3)
    seen = []
    for _ in range(4):
        opt.step(params, grads)
        seen.append(opt.learning_rate)
    assert opt.decay_steps == 2 and opt.floor == 0.3
    assert seen == [0.01 * max(0.5 ** (t / 2), 0.3) for t in range(1, 5)]


@pytest.mark.parametrize("which", ["predict", "train"])
def test_diagnose_path_scripts_run(tiny_mnist, capsys, which):
    from sklearn_symnet import _inputs

    rules = "PREDICT_SKIP_DENSITY" if which == "predict" else "TRAIN_SKIP_DENSITY"
    shipped = dict(getattr(_inputs, rules))
    diag = load_script(f"benchmarks/diagnose_{which}_path.py")
    extra = (["--n-fit", "200", "--calls", "2"] if which == "predict"
             else ["--n-train", "200", "--epochs", "1"])
    rows = diag.main(["--data", str(tiny_mnist), "--widths", "8,400", "--densities",
                      "0.05,0.4", "--pause", "0"] + extra)
    assert [w for w, _, _ in rows] == [8, 400]
    # narrow: the shipped rule never skips zeros; wide: up to at most the cap
    assert rows[0][2] == 0.0 and 0 < rows[1][2] <= _inputs.SKIP_ZEROS_MAX_DENSITY
    out = capsys.readouterr().out
    unit = "ms" if which == "predict" else "s"
    assert out.count(f"| zero skipping {unit} | BLAS {unit} |") == 2
    assert "break-even density" in out
    assert getattr(_inputs, rules) == shipped  # restored


def test_break_even():
    diag = load_script("benchmarks/diagnose_predict_path.py")
    assert diag.break_even([0.1, 0.2, 0.3], [1.0, 2.0, 4.0], [2.0, 2.5, 3.0]) == "0.233"
    assert diag.break_even([0.1, 0.2], [3.0, 4.0], [2.0, 2.0]) == "< 0.100"
    assert diag.break_even([0.1, 0.2], [1.0, 1.0], [2.0, 2.0]) == "> 0.200"
