"""Behaviour of SymNetRegressor, modelled on scikit-learn's MLPRegressor.

Small problems only: the whole file runs in seconds on two shared cores.
"""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, make_friedman1, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from sklearn_symnet import SymNetRegressor


def quiet_fit(model, X, y, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y, **kw)


@pytest.fixture(scope="module")
def friedman():
    X, y = make_friedman1(n_samples=600, noise=0.5, random_state=0)
    X = StandardScaler().fit_transform(X)
    return train_test_split(X, y, test_size=0.25, random_state=0)


@pytest.mark.parametrize("readout", ["difference", "linear", "signal"])
def test_learns_friedman1(friedman, readout):
    Xtr, Xte, ytr, yte = friedman
    reg = quiet_fit(SymNetRegressor(hidden_layer_sizes=(32,), max_iter=150, readout=readout,
                                    random_state=0), Xtr, ytr)
    # one neuron per target is bounded below: a poor (but working) read-out
    assert reg.score(Xte, yte) > (0.5 if readout == "signal" else 0.85)
    assert reg.out_activation_ == "identity"
    assert reg.n_outputs_ == 1
    assert reg.predict(Xte).shape == (Xte.shape[0],)


def test_learns_diabetes_at_the_targets_scale():
    """Targets of 25..346: the internal standardization makes them learnable;
    predictions come back in the targets' units."""
    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0)
    reg = quiet_fit(SymNetRegressor(hidden_layer_sizes=(16,), max_iter=60, random_state=0),
                    Xtr, ytr)
    assert reg.score(Xte, yte) > 0.35
    assert 100 < reg.predict(Xte).mean() < 200
    np.testing.assert_allclose(reg.target_mean_, [ytr.mean()])
    np.testing.assert_allclose(reg.target_scale_, [ytr.std()])


def test_target_scaling_makes_the_model_affine_equivariant(friedman):
    """Fitting a * y + b gives a * prediction + b: the network sees the same
    standardized targets."""
    Xtr, Xte, ytr, _ = friedman
    kw = dict(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    a = quiet_fit(SymNetRegressor(**kw), Xtr, ytr)
    b = quiet_fit(SymNetRegressor(**kw), Xtr, 250.0 * ytr + 1e4)
    np.testing.assert_allclose(b.predict(Xte), 250.0 * a.predict(Xte) + 1e4, rtol=1e-9)
    for u, v in zip(a.coefs_, b.coefs_):
        np.testing.assert_allclose(u, v, rtol=1e-9, atol=1e-12)
    # without scaling the model sees other targets
    raw = quiet_fit(SymNetRegressor(target_scaling=None, **kw), Xtr, ytr)
    np.testing.assert_array_equal(raw.target_mean_, [0.0])
    np.testing.assert_array_equal(raw.target_scale_, [1.0])
    assert not np.allclose(raw.coefs_[0], a.coefs_[0])


def test_weighted_target_scaling():
    X, y = make_regression(n_samples=60, n_features=4, noise=1.0, random_state=0)
    w = np.r_[np.full(30, 3.0), np.full(30, 1.0)]
    reg = quiet_fit(SymNetRegressor(hidden_layer_sizes=(4,), max_iter=2, random_state=0),
                    X, y, sample_weight=w)
    mean = np.average(y, weights=w)
    np.testing.assert_allclose(reg.target_mean_, [mean])
    np.testing.assert_allclose(reg.target_scale_,
                               [np.sqrt(np.average((y - mean) ** 2, weights=w))])


def test_constant_target():
    X = np.random.RandomState(0).randn(30, 3)
    y = np.full(30, 7.5)
    reg = quiet_fit(SymNetRegressor(hidden_layer_sizes=(4,), max_iter=300, random_state=0),
                    X, y)
    assert reg.target_scale_[0] == 1.0
    np.testing.assert_allclose(reg.predict(X), 7.5, atol=0.2)  # no division by a zero std


def test_multi_output():
    X, Y = make_regression(n_samples=200, n_features=5, n_targets=3, noise=2.0,
                           random_state=0)
    reg = quiet_fit(SymNetRegressor(hidden_layer_sizes=(32,), max_iter=200,
                                    random_state=0), X, Y)
    assert reg.n_outputs_ == 3
    assert reg.coefs_[-1].shape == (32, 6)  # a pair of output neurons per target
    P = reg.predict(X)
    assert P.shape == (200, 3)
    assert reg.score(X, Y) > 0.9
    # a (n, 1) target stays 2-D, as MLPRegressor keeps it
    reg1 = quiet_fit(SymNetRegressor(hidden_layer_sizes=(4,), max_iter=3, random_state=0),
                     X, Y[:, :1])
    assert reg1.predict(X).shape == (200, 1)
    with pytest.raises(ValueError, match="output"):
        reg.partial_fit(X, Y[:, :2])


def test_partial_fit_continues_and_matches_fit_epochs(friedman):
    Xtr, _, ytr, _ = friedman
    kw = dict(hidden_layer_sizes=(8,), random_state=0, shuffle=False)
    fitted = quiet_fit(SymNetRegressor(max_iter=3, **kw), Xtr, ytr)
    inc = SymNetRegressor(**kw)
    for _ in range(3):
        inc.partial_fit(Xtr, ytr)
    assert inc.t_ == 3 * Xtr.shape[0]
    assert inc.loss_curve_ == pytest.approx(fitted.loss_curve_, rel=1e-12)
    for u, v in zip(inc.coefs_, fitted.coefs_):
        np.testing.assert_allclose(u, v, rtol=1e-12)


def test_early_stopping_uses_validation_r2(friedman):
    Xtr, Xte, ytr, yte = friedman
    reg = SymNetRegressor(hidden_layer_sizes=(16,), early_stopping=True, max_iter=200,
                          n_iter_no_change=5, random_state=0).fit(Xtr, ytr)
    assert reg.best_loss_ is None
    assert len(reg.validation_scores_) == reg.n_iter_
    assert reg.best_validation_score_ == max(reg.validation_scores_)
    assert 0.5 < reg.best_validation_score_ <= 1.0
    assert reg.score(Xte, yte) > 0.7


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_y_is_rejected(bad):
    X = np.random.RandomState(0).randn(20, 3)
    y = np.arange(20.0)
    y[3] = bad
    reg = SymNetRegressor(max_iter=2)
    with pytest.raises(ValueError, match="(?i)(nan|inf)"):
        reg.fit(X, y)
    assert not hasattr(reg, "coefs_")


def test_wrong_y_length_is_rejected():
    X = np.random.RandomState(0).randn(20, 3)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        SymNetRegressor().fit(X, np.arange(19.0))


def test_string_y_is_rejected():
    X = np.random.RandomState(0).randn(4, 3)
    with pytest.raises(ValueError):
        SymNetRegressor(max_iter=2).fit(X, np.array(["a", "b", "c", "d"]))


def test_readout_linear_has_no_output_neurons():
    X, y = make_regression(n_samples=50, n_features=3, random_state=0)
    reg = quiet_fit(SymNetRegressor(hidden_layer_sizes=(5,), readout="linear", max_iter=3,
                                    random_state=0), X, y)
    assert reg.coefs_[-1].shape == (5, 1)
    assert reg.neuron_constants_[-1] is None
    assert reg.output_neuron_ is None
    assert reg.neuron_constants_[0].shape == (5, 4)
    signals = reg.layer_signals(X[:7])
    assert signals[-1].signals.shape == (7, 1)
    np.testing.assert_array_equal(signals[-1].gains, 1.0)


def test_warm_start_needs_the_same_readout():
    X, y = make_regression(n_samples=40, n_features=3, random_state=0)
    reg = quiet_fit(SymNetRegressor(hidden_layer_sizes=(4,), max_iter=2, warm_start=True,
                                    random_state=0), X, y)
    reg.set_params(readout="linear")
    with pytest.raises(ValueError, match="same readout"):
        reg.fit(X, y)
