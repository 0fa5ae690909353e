"""Persistence: skops.io round trips that trust only the estimator's own type,
and a pickle round trip, each continuing with ``partial_fit`` exactly as the
model that was never saved does."""

import pickle

import numpy as np
import pytest
from sklearn.datasets import load_iris, make_friedman1, make_multilabel_classification

from sklearn_symnet import SymNetClassifier, SymNetRegressor

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning"
)

CLASSIFIER = "sklearn_symnet._classifier.SymNetClassifier"
REGRESSOR = "sklearn_symnet._regressor.SymNetRegressor"


def _iris(dtype=np.float64):
    X, y = load_iris(return_X_y=True)
    return (X / X.max(axis=0)).astype(dtype), y


def _friedman():
    X, y = make_friedman1(n_samples=200, n_features=5, random_state=0)
    return X, y


def _multilabel():
    X, Y = make_multilabel_classification(n_samples=150, n_features=6, n_classes=3,
                                          random_state=0)
    return X / X.max(), Y


# (id, estimator, data, the one type to trust)
CASES = [
    ("clf-rate-adam", lambda: SymNetClassifier(hidden_layer_sizes=(8,), max_iter=5,
                                               random_state=0), _iris, CLASSIFIER),
    ("clf-flux-sgd-float32",
     lambda: SymNetClassifier(hidden_layer_sizes=(8, 5), coupling="flux", solver="sgd",
                              coef_bound=2.0, max_iter=5, random_state=1),
     lambda: _iris(np.float32), CLASSIFIER),
    ("clf-multilabel", lambda: SymNetClassifier(hidden_layer_sizes=(6,), max_iter=5,
                                                random_state=2), _multilabel, CLASSIFIER),
    ("reg-rate-adam", lambda: SymNetRegressor(hidden_layer_sizes=(8,), max_iter=5,
                                              random_state=0), _friedman, REGRESSOR),
    ("reg-flux-linear",
     lambda: SymNetRegressor(hidden_layer_sizes=(6,), coupling="flux", readout="linear",
                             max_iter=5, random_state=3), _friedman, REGRESSOR),
]
IDS = [c[0] for c in CASES]


def _predictions(est, X):
    out = [est.predict(X)]
    if hasattr(est, "predict_proba"):
        out.append(est.predict_proba(X))
    return out


def _fitted_arrays(est):
    return list(est.coefs_) + list(est.intercepts_) + [est._free]


def _continue(est, X, y, n=3):
    for k in range(n):
        rows = slice(k * 40, (k + 1) * 40)
        est.partial_fit(X[rows], y[rows])
    return est


def _assert_same_model(a, b, X):
    for u, v in zip(_fitted_arrays(a), _fitted_arrays(b)):
        assert u.dtype == v.dtype
        np.testing.assert_array_equal(u, v)
    for p, q in zip(_predictions(a, X), _predictions(b, X)):
        np.testing.assert_array_equal(p, q)
    assert a.loss_curve_ == b.loss_curve_
    assert a.n_iter_ == b.n_iter_ and a.t_ == b.t_


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_skops_round_trip_trusts_only_the_estimator(case, tmp_path):
    sio = pytest.importorskip("skops.io")
    _, make, data, own_type = case
    X, y = data()
    est = make().fit(X, y)

    path = tmp_path / "model.skops"
    sio.dump(est, path)
    # the fitted state is built from types skops trusts by default, plus the
    # estimator's own class: nothing else (neurons, optimisers, ...) to vet
    assert sio.get_untrusted_types(file=path) == [own_type]
    with pytest.raises(sio.exceptions.UntrustedTypesFoundException):
        sio.load(path)
    loaded = sio.load(path, trusted=[own_type])
    assert type(loaded) is type(est)
    assert loaded.get_params() == est.get_params()
    _assert_same_model(est, loaded, X)

    # training continues bit-identically: the optimiser's state, the random
    # state and the training history came along
    _continue(est, X, y)
    _continue(loaded, X, y)
    _assert_same_model(est, loaded, X)
    # and the continued model is still a one-type file
    assert sio.get_untrusted_types(data=sio.dumps(loaded)) == [own_type]


@pytest.mark.parametrize("case", CASES[:1] + CASES[3:4], ids=[IDS[0], IDS[3]])
def test_pickle_round_trip_continues_identically(case):
    _, make, data, _ = case
    X, y = data()
    est = make().fit(X, y)
    loaded = pickle.loads(pickle.dumps(est))
    _assert_same_model(est, loaded, X)
    _assert_same_model(_continue(est, X, y), _continue(loaded, X, y), X)


def test_skops_round_trip_after_partial_fit_only():
    """A model trained by partial_fit alone (classes given) round-trips too."""
    sio = pytest.importorskip("skops.io")
    X, y = _iris()
    est = SymNetClassifier(hidden_layer_sizes=(8,), random_state=0)
    est.partial_fit(X[:50], y[:50], classes=np.unique(y))
    loaded = sio.loads(sio.dumps(est), trusted=[CLASSIFIER])
    _assert_same_model(est, loaded, X)
    _assert_same_model(_continue(est, X, y), _continue(loaded, X, y), X)
