"""Smoke test of the examples: each runs in its --quick mode and writes its PNGs."""

from pathlib import Path

import pytest
from conftest import load_script

pytest.importorskip("matplotlib")

EXAMPLES = {
    "plot_compare_digits": ["compare_digits.png"],
    "plot_grid_search": ["plot_grid_search.png"],
    "plot_neuron": ["plot_neuron.png"],
    "plot_coef_bound": ["plot_coef_bound.png", "plot_coef_bound_curves.png"],
    "plot_compare_regression": ["compare_regression.png"],
    "plot_trained_neurons": ["plot_trained_neurons.png"],
    "plot_dask_incremental": ["plot_dask_incremental.png"],
    "plot_inside_network": ["plot_inside_network.png"],
}
# optional extras an example needs (skipped without them)
NEEDS = {"plot_dask_incremental": ["dask_ml", "distributed", "psutil"]}


def _load(name):
    return load_script(f"examples/{name}.py")


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_runs(name, tmp_path, capsys):
    for package in NEEDS.get(name, []):
        pytest.importorskip(package)
    module = _load(name)
    assert module.__doc__ and len(module.__doc__.strip()) > 200
    paths = module.main(["--out", str(tmp_path), "--quick"])
    expected = [tmp_path / f for f in EXAMPLES[name]]
    assert sorted(Path(p) for p in paths) == sorted(expected)
    for p in expected:
        assert p.is_file() and p.stat().st_size > 10_000, p
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = capsys.readouterr().out
    assert "wrote" in out and str(tmp_path) in out
    import matplotlib.pyplot as plt

    assert plt.get_fignums() == []  # every figure was closed


def test_compare_digits_scalings(tmp_path, capsys):
    """The README job standardizes by default; --scaling 16 gives both models
    the raw pixels / 16 instead, and SymNet's accuracies differ between them."""
    module = _load("plot_compare_digits")
    accs = {}
    for scaling, header in [("standard", "StandardScaler"), ("16", "pixels / 16")]:
        args = ["--out", str(tmp_path), "--quick"] + (["--scaling", "16"] if scaling == "16"
                                                       else [])
        module.main(args)
        out = capsys.readouterr().out
        assert f"test, {header}, hidden=" in out
        rows = {line[:17].strip(): line[17:].split() for line in out.splitlines()
                if line.startswith(("SymNet", "MLPClassifier"))}
        assert set(rows) == {"SymNet (defaults)", "SymNet (all flux)", "MLPClassifier"}
        accs[scaling] = rows["SymNet (defaults)"][:2]  # seeds 0 and 1
    assert accs["standard"] != accs["16"]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("params", [
    dict(),
    dict(coupling="flux", output_coupling="rate"),
    dict(neuron_params="all", max_iter=5),
], ids=["rate", "flux-rate", "trained-constants"])
def test_inside_network_neurons_match_layer_signals(params):
    """plot_inside_network rebuilds each unit as a WuxingNeuron from the fitted
    constants: its closed form gives the network's signals and gains, and its
    RK4 trajectory settles on the network's signal."""
    import numpy as np
    from sklearn.datasets import load_iris

    from sklearn_symnet import SymNetClassifier

    module = _load("plot_inside_network")
    X, y = load_iris(return_X_y=True)
    X = X / X.max(axis=0)
    kw = dict(hidden_layer_sizes=(6, 4), max_iter=20, learning_rate_init=0.05,
              random_state=0)
    kw.update(params)
    est = SymNetClassifier(**kw).fit(X, y)
    layers = est.layer_signals(X)
    assert len(layers) == 3
    for layer, bunch in enumerate(layers):
        for unit in range(bunch.signals.shape[1]):
            neuron = module.neuron_at(est, layer, unit)
            s, g = neuron.response(bunch.inputs[:, unit])
            np.testing.assert_allclose(s, bunch.signals[:, unit], rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(g, bunch.gains[:, unit], rtol=1e-12, atol=1e-12)
    neuron = module.neuron_at(est, 0, 1)
    u, s = layers[0].inputs[7, 1], layers[0].signals[7, 1]
    _, traj = neuron.simulate(u=u, t_max=40.0, dt=0.01)
    assert abs(traj[-1, neuron.output_element] - neuron.fixed_point - s) < 1e-6
