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
