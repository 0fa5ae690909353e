"""Shared test helpers."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_script(relpath):
    """Import a script of the repository (``benchmarks/...``, ``examples/...``)
    as a module, with its own folder importable as it is when run directly."""
    path = ROOT / relpath
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(f"_script_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_mnist(path, n_train=300, n_test=100, seed=0):
    """Write a tiny MNIST-shaped ``.npz`` (uint8 28x28 images, mostly zeros)."""
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
    return path


@pytest.fixture(scope="session")
def tiny_mnist(tmp_path_factory):
    """Path of a tiny fake MNIST ``.npz`` (300 train, 100 test images)."""
    return fake_mnist(tmp_path_factory.mktemp("data") / "tiny_mnist.npz")


@pytest.fixture
def no_openml(monkeypatch):
    """Make any ``fetch_openml`` call fail: tests never touch the network."""
    import sklearn.datasets

    def refuse(*args, **kwargs):
        raise AssertionError("fetch_openml called in a test")

    monkeypatch.setattr(sklearn.datasets, "fetch_openml", refuse)


def skip_zeros_up_to_half(monkeypatch):
    """Make training and prediction take dense rows with at most 50 % non-zeros
    (the cap, SKIP_ZEROS_MAX_DENSITY) through the zero-skipping kernels at any
    width, so that tests of that path reach it with small networks (the
    measured rules never pick it at 16 first-layer neurons or fewer, nor above
    about 21 % non-zeros at 100)."""
    from sklearn_symnet import _inputs

    cap = {k: (_inputs.SKIP_ZEROS_MAX_DENSITY, 0.0) for k in ("f8", "f4")}
    monkeypatch.setattr(_inputs, "PREDICT_SKIP_DENSITY", cap)
    monkeypatch.setattr(_inputs, "TRAIN_SKIP_DENSITY", dict(cap))
