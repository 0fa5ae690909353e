"""Behaviour of SymNetClassifier, modelled on scikit-learn's MLPClassifier.

Digits (``load_digits``, features / 16) for learning, small
``make_classification`` / ``make_blobs`` problems for the API.  Every
training run is small: the whole file must run in well under a minute on
two shared cores.
"""

import pickle
import re
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from conftest import skip_zeros_up_to_half
from sklearn.datasets import (
    load_digits,
    make_blobs,
    make_classification,
    make_multilabel_classification,
)
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.metrics import recall_score
from sklearn.model_selection import train_test_split
from sklearn.utils.class_weight import compute_class_weight
from threadpoolctl import threadpool_limits

from sklearn_symnet import SymNetClassifier, WuxingNeuron

SMALL = dict(hidden_layer_sizes=(32,), random_state=0)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Run every fit on one BLAS / OpenMP thread.

    Results do not depend on the thread count (checked once below, in
    ``test_threads_do_not_change_the_model``), but on a busy two-core machine
    BLAS's thread team on these small products makes a fit some 20-40x
    slower (n_jobs does not limit BLAS's threads).
    """
    with threadpool_limits(limits=1):
        yield


# ---------------------------------------------------------------------------
# Data and shared fits
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16, y, test_size=0.25, stratify=y, random_state=0)


@pytest.fixture(scope="module")
def default_model(digits):
    Xtr, Xte, ytr, yte = digits
    clf = SymNetClassifier(random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(Xtr, ytr)
    return clf


@pytest.fixture(scope="module")
def small_digits_model(digits):
    """A quick digits model (32 hidden neurons, 30 epochs)."""
    Xtr, Xte, ytr, yte = digits
    clf = SymNetClassifier(max_iter=30, **SMALL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(Xtr, ytr)
    return clf


def scaled_blobs(**kwargs):
    """Blobs with standardised features (raw blob features, in the tens, put
    every neuron on its zero-gain piece for some initialisations)."""
    X, y = make_blobs(**kwargs)
    return (X - X.mean(axis=0)) / X.std(axis=0), y


def three_classes(n=90, seed=0):
    return make_classification(n_samples=n, n_features=6, n_informative=4,
                               n_redundant=0, n_classes=3, n_clusters_per_class=1,
                               random_state=seed)


def quiet_fit(clf, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return clf.fit(*args, **kwargs)


def snapshot(clf):
    return [c.copy() for c in clf.coefs_] + [b.copy() for b in clf.intercepts_]


def assert_unchanged(clf, snap):
    now = snapshot(clf)
    assert len(now) == len(snap)
    for a, b in zip(now, snap):
        assert np.array_equal(a, b)


# ---------------------------------------------------------------------------
# 1-2. Learning digits
# ---------------------------------------------------------------------------
def test_digits_accuracy_default(digits, default_model):
    Xtr, Xte, ytr, yte = digits
    assert default_model.score(Xte, yte) >= 0.96


def test_digits_accuracy_flux(digits):
    Xtr, Xte, ytr, yte = digits
    clf = quiet_fit(SymNetClassifier(coupling="flux", random_state=0), Xtr, ytr)
    assert clf.neuron_.coupling == "flux"
    assert clf.score(Xte, yte) >= 0.95


def test_partial_fit_minibatches_match_fit(digits, default_model):
    Xtr, Xte, ytr, yte = digits
    classes = np.unique(ytr)
    clf = SymNetClassifier(random_state=0)
    rng = np.random.RandomState(0)
    n_calls = 0
    for _ in range(30):
        order = rng.permutation(Xtr.shape[0])
        for start in range(0, Xtr.shape[0], 200):
            rows = order[start: start + 200]
            clf.partial_fit(Xtr[rows], ytr[rows], classes=classes)
            n_calls += 1
    assert clf.n_iter_ == 1
    assert clf.t_ == 30 * Xtr.shape[0]
    assert len(clf.loss_curve_) == n_calls
    acc_pf = clf.score(Xte, yte)
    acc_fit = default_model.score(Xte, yte)
    assert abs(acc_pf - acc_fit) <= 0.03, (acc_pf, acc_fit)


# ---------------------------------------------------------------------------
# 3. Pickle
# ---------------------------------------------------------------------------
def test_pickle_round_trip_and_continue(digits):
    Xtr, Xte, ytr, yte = digits
    model = quiet_fit(SymNetClassifier(max_iter=30, **SMALL), Xtr, ytr)
    clf = pickle.loads(pickle.dumps(model))
    assert clf is not model
    assert np.array_equal(clf.predict_proba(Xte), model.predict_proba(Xte))
    assert np.array_equal(clf.predict(Xte), model.predict(Xte))
    # partial_fit continues from the restored state exactly as the original does
    t0, n_epochs = clf.t_, len(clf.loss_curve_)
    coefs0 = [c.copy() for c in clf.coefs_]
    clf.partial_fit(Xtr, ytr)
    model.partial_fit(Xtr, ytr)
    assert clf.t_ == t0 + Xtr.shape[0]
    assert len(clf.loss_curve_) == n_epochs + 1
    assert not np.array_equal(clf.coefs_[0], coefs0[0])
    for a, b in zip(clf.coefs_ + clf.intercepts_, model.coefs_ + model.intercepts_):
        assert np.array_equal(a, b)
    assert clf.loss_curve_ == model.loss_curve_
    assert clf.score(Xte, yte) >= 0.9


# ---------------------------------------------------------------------------
# 4. Fitted attributes
# ---------------------------------------------------------------------------
def test_fitted_attributes():
    X, y = three_classes()
    clf = SymNetClassifier(hidden_layer_sizes=(7, 5), max_iter=8, K3=2.0, r=0.5,
                           random_state=0)
    with pytest.raises(NotFittedError):
        clf.predict(X)
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, y)
    assert np.array_equal(clf.classes_, [0, 1, 2])
    assert isinstance(clf.coefs_, list) and isinstance(clf.intercepts_, list)
    # readout="difference": a pair of output neurons per class
    assert [c.shape for c in clf.coefs_] == [(6, 7), (7, 5), (5, 6)]
    assert [b.shape for b in clf.intercepts_] == [(7,), (5,), (6,)]
    assert all(c.dtype == np.float64 for c in clf.coefs_ + clf.intercepts_)
    assert isinstance(clf.n_iter_, int) and clf.n_iter_ == 8
    assert clf.t_ == 8 * X.shape[0]
    assert isinstance(clf.loss_curve_, list) and len(clf.loss_curve_) == 8
    assert all(np.isfinite(v) and v > 0 for v in clf.loss_curve_)
    assert clf.loss_ == clf.loss_curve_[-1]
    assert clf.best_loss_ == min(clf.loss_curve_)
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]
    assert clf.n_features_in_ == 6
    assert clf.n_layers_ == 4
    assert clf.n_outputs_ == 6
    assert clf.fixed_point_ == 0.5 / 2.0
    assert isinstance(clf.neuron_, WuxingNeuron)
    assert (clf.neuron_.K3, clf.neuron_.r) == (2.0, 0.5)
    assert clf.neuron_.fixed_point == clf.fixed_point_
    assert not hasattr(clf, "feature_names_in_")


def test_feature_names_from_dataframe():
    X, y = three_classes()
    cols = [f"f{i}" for i in range(X.shape[1])]
    df = pd.DataFrame(X, columns=cols)
    clf = quiet_fit(SymNetClassifier(hidden_layer_sizes=(5,), max_iter=3,
                                     random_state=0), df, y)
    assert np.array_equal(clf.feature_names_in_, cols)
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        pred_array = clf.predict(X)
    assert np.array_equal(clf.predict(df), pred_array)
    other = pd.DataFrame(X, columns=[f"g{i}" for i in range(X.shape[1])])
    with pytest.raises(ValueError, match="feature names should match"):
        clf.predict(other)
    swapped = df[cols[::-1]]
    with pytest.raises(ValueError, match="feature names"):
        clf.predict_proba(swapped)


# ---------------------------------------------------------------------------
# 5. Labels and probabilities
# ---------------------------------------------------------------------------
def check_probabilities(clf, X):
    proba = clf.predict_proba(X)
    pred = clf.predict(X)
    assert proba.shape == (X.shape[0], clf.classes_.shape[0])
    assert np.all((proba >= 0) & (proba <= 1))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert np.all(np.isin(pred, clf.classes_))
    assert np.array_equal(clf.classes_[np.argmax(proba, axis=1)], pred)
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba), rtol=1e-10,
                               atol=1e-12)
    return pred


def test_binary_labels():
    X, y = scaled_blobs(n_samples=80, centers=2, n_features=4, random_state=0)
    labels = np.array([-1, 7])[y]
    clf = quiet_fit(SymNetClassifier(hidden_layer_sizes=(16,), max_iter=60,
                                     learning_rate_init=0.01, random_state=0),
                    X, labels)
    assert np.array_equal(clf.classes_, [-1, 7])
    assert clf.n_outputs_ == 4  # two competing logits, each a pair of neurons
    pred = check_probabilities(clf, X)
    assert pred.dtype == labels.dtype
    assert np.mean(pred == labels) > 0.95


def test_multiclass_labels():
    X, y = scaled_blobs(n_samples=120, centers=4, n_features=5, random_state=2)
    labels = np.array([3, 5, 10, 11])[y]
    clf = quiet_fit(SymNetClassifier(hidden_layer_sizes=(16,), max_iter=60,
                                     learning_rate_init=0.01, random_state=0),
                    X, labels)
    assert np.array_equal(clf.classes_, [3, 5, 10, 11])
    assert clf.n_outputs_ == 8
    pred = check_probabilities(clf, X)
    assert np.unique(pred).size == 4
    assert np.mean(pred == labels) > 0.95


def test_string_labels():
    X, y = scaled_blobs(n_samples=90, centers=3, n_features=4, random_state=1)
    labels = np.array(["cat", "dog", "eel"])[y]
    clf = quiet_fit(SymNetClassifier(hidden_layer_sizes=(16,), max_iter=60,
                                     learning_rate_init=0.01, random_state=0),
                    X, labels)
    assert list(clf.classes_) == ["cat", "dog", "eel"]
    pred = check_probabilities(clf, X)
    assert set(pred) <= {"cat", "dog", "eel"}
    assert clf.score(X, labels) > 0.95


# ---------------------------------------------------------------------------
# 6. verbose
# ---------------------------------------------------------------------------
def test_verbose_prints_every_epoch(capsys):
    X, y = three_classes()
    clf = quiet_fit(SymNetClassifier(hidden_layer_sizes=(5,), max_iter=4,
                                     verbose=True, random_state=0), X, y)
    out = capsys.readouterr().out
    its = re.findall(r"^Iteration (\d+), loss = ([0-9.eE+-]+)$", out, re.M)
    assert [int(i) for i, _ in its] == [1, 2, 3, 4]
    np.testing.assert_allclose([float(v) for _, v in its], clf.loss_curve_,
                               rtol=1e-6)
    assert "Validation score" not in out


def test_verbose_prints_validation_score(capsys):
    X, y = three_classes(n=120)
    clf = quiet_fit(SymNetClassifier(hidden_layer_sizes=(5,), max_iter=3,
                                     verbose=True, early_stopping=True,
                                     random_state=0), X, y)
    out = capsys.readouterr().out
    its = re.findall(r"^Iteration (\d+), loss = ", out, re.M)
    vals = re.findall(r"^Validation score: ([0-9.]+)$", out, re.M)
    assert len(its) == clf.n_iter_ == 3
    assert len(vals) == 3
    np.testing.assert_allclose([float(v) for v in vals], clf.validation_scores_,
                               atol=1e-6)


# ---------------------------------------------------------------------------
# 7. Training controls
# ---------------------------------------------------------------------------
def test_max_iter_warns_convergence():
    X, y = three_classes()
    clf = SymNetClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0)
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        clf.fit(X, y)
    assert clf.n_iter_ == 3


def test_early_stopping_keeps_best_coefficients(digits):
    Xtr, Xte, ytr, yte = digits
    kw = dict(early_stopping=True, n_iter_no_change=2, max_iter=100, **SMALL)
    clf = SymNetClassifier(**kw).fit(Xtr, ytr)
    scores = clf.validation_scores_
    assert 3 <= clf.n_iter_ < 100
    assert len(scores) == clf.n_iter_ == len(clf.loss_curve_)
    assert clf.best_validation_score_ == max(scores)
    assert clf.best_loss_ is None
    best_epoch = int(np.argmax(scores)) + 1
    # it stopped because the score did not improve for n_iter_no_change epochs
    assert best_epoch < clf.n_iter_
    # the same run cut at the best epoch ends with the restored coefficients
    cut = SymNetClassifier(**{**kw, "max_iter": best_epoch})
    with pytest.warns(ConvergenceWarning):
        cut.fit(Xtr, ytr)
    assert cut.validation_scores_ == scores[:best_epoch]
    for a, b in zip(cut.coefs_ + cut.intercepts_, clf.coefs_ + clf.intercepts_):
        assert np.array_equal(a, b)
    assert clf.score(Xte, yte) > 0.8


def test_partial_fit_rejects_early_stopping():
    X, y = three_classes()
    clf = SymNetClassifier(early_stopping=True)
    with pytest.raises(ValueError,
                       match="partial_fit does not support early_stopping=True"):
        clf.partial_fit(X, y, classes=[0, 1, 2])
    assert not hasattr(clf, "coefs_")


def test_warm_start_continues():
    X, y = three_classes(n=150)
    clf = SymNetClassifier(hidden_layer_sizes=(16,), max_iter=10, warm_start=True,
                           random_state=0)
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, y)
    first = list(clf.loss_curve_)
    clf.set_params(max_iter=5)
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, y)
    assert clf.n_iter_ == 5
    assert clf.loss_curve_[:10] == first
    assert len(clf.loss_curve_) == 15
    assert clf.t_ == 15 * X.shape[0]
    # the second call starts where the first ended, not from scratch
    progress = first[0] - first[-1]
    assert progress > 0
    assert abs(clf.loss_curve_[10] - first[-1]) < 0.25 * progress
    assert clf.loss_curve_[10] < first[-1]
    cold = SymNetClassifier(hidden_layer_sizes=(16,), max_iter=5, random_state=0)
    with pytest.warns(ConvergenceWarning):
        cold.fit(X, y)
    assert clf.loss_ < cold.loss_


def test_warm_start_other_classes_raises():
    X, y = three_classes()
    clf = quiet_fit(SymNetClassifier(hidden_layer_sizes=(5,), max_iter=3,
                                     warm_start=True, random_state=0), X, y)
    snap = snapshot(clf)
    with pytest.raises(ValueError, match="warm_start"):
        clf.fit(X, np.where(y == 2, 1, y))
    assert_unchanged(clf, snap)
    assert np.array_equal(clf.classes_, [0, 1, 2])


def test_tol_stops_early_on_easy_problem():
    X, y = scaled_blobs(n_samples=100, centers=2, n_features=3, cluster_std=0.5,
                        random_state=0)
    clf = SymNetClassifier(hidden_layer_sizes=(8,), max_iter=1000, tol=1e-3,
                           n_iter_no_change=5, learning_rate_init=0.03,
                           random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf.fit(X, y)
    assert clf.n_iter_ < 200
    assert clf.score(X, y) == 1.0
    # none of the last n_iter_no_change + 1 epochs beat the best loss so far by tol
    lc = clf.loss_curve_
    for i in range(len(lc) - 6, len(lc)):
        assert lc[i] > min(lc[:i]) - 1e-3
    # and it had been improving by more than tol before that
    assert lc[0] - min(lc) > 1e-3 * len(lc) / 2
    assert clf.best_loss_ == min(lc)


# ---------------------------------------------------------------------------
# 8. sample_weight
# ---------------------------------------------------------------------------
def test_integer_weights_equal_repeated_rows():
    X, y = three_classes(n=60)
    sw = np.random.RandomState(0).randint(0, 4, X.shape[0])
    assert (sw == 0).sum() > 5 and (sw >= 2).sum() > 5
    Xr, yr = np.repeat(X, sw, axis=0), np.repeat(y, sw)
    kw = dict(hidden_layer_sizes=(8,), max_iter=20, shuffle=False, random_state=0)
    weighted = quiet_fit(SymNetClassifier(batch_size=X.shape[0], **kw), X, y,
                         sample_weight=sw)
    repeated = quiet_fit(SymNetClassifier(batch_size=Xr.shape[0], **kw), Xr, yr)
    plain = quiet_fit(SymNetClassifier(batch_size=X.shape[0], **kw), X, y)
    np.testing.assert_allclose(weighted.loss_curve_, repeated.loss_curve_,
                               rtol=1e-9)
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X),
                               rtol=1e-7, atol=1e-9)
    assert not np.allclose(weighted.predict_proba(X), plain.predict_proba(X),
                           rtol=1e-3, atol=1e-3)


def test_zero_weights_equal_dropping_rows():
    X, y = three_classes(n=60, seed=1)
    keep = np.arange(X.shape[0]) % 3 != 0
    kw = dict(hidden_layer_sizes=(8,), max_iter=15, shuffle=False, random_state=0)
    weighted = quiet_fit(SymNetClassifier(batch_size=X.shape[0], **kw), X, y,
                         sample_weight=keep.astype(float))
    dropped = quiet_fit(SymNetClassifier(batch_size=int(keep.sum()), **kw),
                        X[keep], y[keep])
    np.testing.assert_allclose(weighted.predict_proba(X), dropped.predict_proba(X),
                               rtol=1e-7, atol=1e-9)


def test_partial_fit_sample_weight():
    X, y = three_classes()
    a = SymNetClassifier(hidden_layer_sizes=(5,), random_state=0)
    b = SymNetClassifier(hidden_layer_sizes=(5,), random_state=0)
    c = SymNetClassifier(hidden_layer_sizes=(5,), random_state=0)
    a.partial_fit(X, y, classes=[0, 1, 2])
    b.partial_fit(X, y, classes=[0, 1, 2], sample_weight=np.ones(X.shape[0]))
    w = np.where(y == 0, 5.0, 0.1)
    c.partial_fit(X, y, classes=[0, 1, 2], sample_weight=w)
    for p, q in zip(a.coefs_, b.coefs_):
        assert np.array_equal(p, q)
    assert not np.allclose(a.coefs_[0], c.coefs_[0])
    with pytest.raises(ValueError):
        c.partial_fit(X, y, sample_weight=-np.ones(X.shape[0]))


# ---------------------------------------------------------------------------
# 9. class_weight
# ---------------------------------------------------------------------------
def test_class_weight_balanced_raises_minority_recall():
    gains = []
    for seed in range(4):
        X, y = make_classification(n_samples=600, n_features=10, n_informative=4,
                                   weights=[0.9, 0.1], flip_y=0.0, random_state=seed)
        Xa, Xb, ya, yb = train_test_split(X, y, test_size=0.5, stratify=y,
                                          random_state=0)
        recall = {}
        for cw in (None, "balanced"):
            clf = quiet_fit(SymNetClassifier(hidden_layer_sizes=(16,), max_iter=50,
                                             class_weight=cw, random_state=0), Xa, ya)
            recall[cw] = recall_score(yb, clf.predict(Xb))
        assert recall["balanced"] > recall[None], (seed, recall)
        gains.append(recall["balanced"] - recall[None])
    assert np.mean(gains) > 0.1, gains


def test_class_weight_dict():
    X, y = make_classification(n_samples=200, n_features=6, n_informative=3,
                               weights=[0.8, 0.2], random_state=0)
    kw = dict(hidden_layer_sizes=(8,), max_iter=10, random_state=0)
    cw = compute_class_weight("balanced", classes=np.array([0, 1]), y=y)
    as_dict = quiet_fit(SymNetClassifier(class_weight={0: cw[0], 1: cw[1]}, **kw),
                        X, y)
    balanced = quiet_fit(SymNetClassifier(class_weight="balanced", **kw), X, y)
    none = quiet_fit(SymNetClassifier(**kw), X, y)
    np.testing.assert_allclose(as_dict.coefs_[0], balanced.coefs_[0], rtol=1e-12,
                               atol=1e-14)
    assert not np.allclose(as_dict.coefs_[0], none.coefs_[0])
    # the dict also works with partial_fit
    pf = SymNetClassifier(class_weight={0: 1.0, 1: 4.0}, **kw)
    pf.partial_fit(X, y, classes=[0, 1])
    assert pf.t_ == X.shape[0]


def test_partial_fit_rejects_balanced_class_weight():
    X, y = three_classes()
    clf = SymNetClassifier(class_weight="balanced")
    with pytest.raises(ValueError, match="balanced"):
        clf.partial_fit(X, y, classes=[0, 1, 2])
    assert not hasattr(clf, "coefs_")


# ---------------------------------------------------------------------------
# 10. Multilabel
# ---------------------------------------------------------------------------
def test_multilabel():
    X, Y = make_multilabel_classification(n_samples=200, n_classes=4, random_state=0)
    clf = quiet_fit(SymNetClassifier(hidden_layer_sizes=(32,), max_iter=100,
                                     learning_rate_init=0.01, random_state=0), X, Y)
    assert clf.n_outputs_ == 16  # per label two logits, each a pair of neurons
    assert np.array_equal(clf.classes_, np.arange(4))
    pred = clf.predict(X)
    proba = clf.predict_proba(X)
    assert pred.shape == proba.shape == (200, 4)
    assert set(np.unique(pred)) <= {0, 1}
    assert np.all((proba > 0) & (proba < 1))
    assert np.array_equal(pred, (proba > 0.5).astype(int))
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba), rtol=1e-10)
    assert np.mean(pred == Y) > 0.75


# ---------------------------------------------------------------------------
# 11. Sparse input
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("zeroed", [0.0, 0.5], ids=["digits", "mostly-zero"])
def test_sparse_input_same_model(digits, zeroed, monkeypatch):
    skip_zeros_up_to_half(monkeypatch)  # mostly-zero dense rows: the zero-skipping path
    Xtr, Xte, ytr, yte = digits
    X = Xtr[:600].copy()
    y = ytr[:600]
    X[np.random.RandomState(0).uniform(size=X.shape) < zeroed] = 0.0
    kw = dict(max_iter=10, **SMALL)
    dense = quiet_fit(SymNetClassifier(**kw), X, y)
    ref = dense.predict_proba(Xte)
    for fmt in (sp.csr_matrix, sp.csc_matrix):
        model = quiet_fit(SymNetClassifier(**kw), fmt(X), y)
        for a, b in zip(model.coefs_, dense.coefs_):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(model.predict_proba(Xte), ref, rtol=1e-10,
                                   atol=1e-12)
        np.testing.assert_allclose(dense.predict_proba(fmt(Xte)), ref, rtol=1e-10,
                                   atol=1e-12)
        assert np.array_equal(dense.predict(fmt(Xte)), dense.predict(Xte))
    if zeroed:  # the zero-skipping dense path and the CSR path: bit-identical
        model = quiet_fit(SymNetClassifier(**kw), sp.csr_matrix(X), y)
        for a, b in zip(model.coefs_, dense.coefs_):
            assert np.array_equal(a, b)


# ---------------------------------------------------------------------------
# 12. float32
# ---------------------------------------------------------------------------
def test_float32(digits, small_digits_model):
    Xtr, Xte, ytr, yte = digits
    clf = quiet_fit(SymNetClassifier(max_iter=30, **SMALL), Xtr.astype(np.float32),
                    ytr)
    assert all(c.dtype == np.float32 for c in clf.coefs_ + clf.intercepts_)
    for X in (Xte, Xte.astype(np.float32)):
        agree = np.mean(clf.predict(X) == small_digits_model.predict(X))
        assert agree >= 0.99
        proba = clf.predict_proba(X)
        assert np.all(np.isfinite(proba))
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)


# ---------------------------------------------------------------------------
# 13-15. Bound, SGD, squared error
# ---------------------------------------------------------------------------
def test_coef_bound_holds_with_large_steps(digits):
    Xtr, Xte, ytr, yte = digits
    B = 1.0
    kw = dict(learning_rate_init=0.1, max_iter=40, **SMALL)
    bounded = quiet_fit(SymNetClassifier(coef_bound=B, **kw), Xtr, ytr)
    for c in bounded.coefs_ + bounded.intercepts_:
        assert np.all(np.abs(c) < B)
    assert bounded.score(Xte, yte) > 0.9
    # without the bound the same steps do take coefficients past B
    free = quiet_fit(SymNetClassifier(**kw), Xtr, ytr)
    assert max(np.abs(c).max() for c in free.coefs_) > B


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_coef_bound_strict_under_huge_steps(digits, dtype):
    """Huge steps drive the free parameters into atan's saturation: still |coef| < B."""
    Xtr, Xte, ytr, yte = digits
    B = 1.0
    clf = quiet_fit(SymNetClassifier(hidden_layer_sizes=(16,), coef_bound=B,
                                     learning_rate_init=1e3, max_iter=5,
                                     random_state=0),
                    Xtr[:300].astype(dtype), ytr[:300])
    assert clf.coefs_[0].dtype == dtype
    # deep in atan's saturation: some coefficients are pressed against the bound
    assert max(np.abs(c).max() for c in clf.coefs_) > 0.99 * B
    for c in clf.coefs_ + clf.intercepts_:
        assert np.all(np.abs(c) < B)
        assert np.all(np.isfinite(c))


def test_sgd_momentum_learns_digits(digits):
    Xtr, Xte, ytr, yte = digits
    clf = quiet_fit(SymNetClassifier(solver="sgd", learning_rate_init=0.05,
                                     momentum=0.9, max_iter=100, **SMALL), Xtr, ytr)
    assert clf.score(Xte, yte) > 0.9


def test_squared_error_learns_digits(digits):
    Xtr, Xte, ytr, yte = digits
    clf = quiet_fit(SymNetClassifier(loss="squared_error", max_iter=60, **SMALL),
                    Xtr, ytr)
    assert clf.score(Xte, yte) > 0.9
    check_probabilities(clf, Xte[:50])


# ---------------------------------------------------------------------------
# 16. Bad input
# ---------------------------------------------------------------------------
@pytest.fixture
def fitted():
    X, y = three_classes()
    clf = quiet_fit(SymNetClassifier(hidden_layer_sizes=(4,), max_iter=3,
                                     random_state=0), X, y)
    return clf, X, y


def with_value(X, value):
    X = X.copy()
    X[3, 2] = value
    return X


@pytest.mark.parametrize(
    "make_X, match",
    [
        (lambda X: with_value(X, np.nan), "Input X contains NaN"),
        (lambda X: with_value(X, np.inf), "Input X contains infinity"),
        (lambda X: with_value(X, -np.inf), "Input X contains infinity"),
        (lambda X: X[:, 0], "Expected 2D array, got 1D array instead"),
        (lambda X: X[:0], "0 sample"),
        (lambda X: np.full(X.shape, "a", dtype=object), "could not convert"),
    ],
    ids=["nan", "inf", "-inf", "1d", "empty", "strings"],
)
def test_bad_X_at_fit_leaves_model_unchanged(fitted, make_X, match):
    clf, X, y = fitted
    snap = snapshot(clf)
    Xbad = make_X(X)
    ybad = y[: Xbad.shape[0]] if Xbad.ndim == 2 else y
    with pytest.raises(ValueError, match=match):
        clf.fit(Xbad, ybad)
    assert_unchanged(clf, snap)
    with pytest.raises(ValueError, match=match):
        clf.partial_fit(Xbad, ybad)
    assert_unchanged(clf, snap)
    assert clf.n_features_in_ == X.shape[1]


@pytest.mark.parametrize(
    "make_X, match",
    [
        (lambda X: with_value(X, np.nan), "Input X contains NaN"),
        (lambda X: with_value(X, np.inf), "Input X contains infinity"),
        (lambda X: X[:, :4], "X has 4 features, but SymNetClassifier is expecting 6"),
        (lambda X: np.hstack([X, X]), "X has 12 features"),
        (lambda X: X[0], "Expected 2D array, got 1D array instead"),
        (lambda X: X[:0], "0 sample"),
        (lambda X: np.full(X.shape, "a", dtype=object), "could not convert"),
    ],
    ids=["nan", "inf", "fewer-features", "more-features", "1d", "empty", "strings"],
)
@pytest.mark.parametrize("method", ["predict", "predict_proba", "predict_log_proba",
                                    "score"])
def test_bad_X_at_predict(fitted, make_X, match, method):
    clf, X, y = fitted
    snap = snapshot(clf)
    Xbad = make_X(X)
    args = (Xbad,) if method != "score" else (Xbad, y[: len(Xbad)])
    with pytest.raises(ValueError, match=match):
        getattr(clf, method)(*args)
    assert_unchanged(clf, snap)


def test_single_class_raises(fitted):
    clf, X, y = fitted
    snap = snapshot(clf)
    with pytest.raises(ValueError, match="has to be greater than one"):
        clf.fit(X, np.zeros(X.shape[0]))
    assert_unchanged(clf, snap)
    with pytest.raises(ValueError, match="has to be greater than one"):
        SymNetClassifier().partial_fit(X, np.zeros(X.shape[0]), classes=[0])


def test_continuous_y_raises(fitted):
    clf, X, y = fitted
    snap = snapshot(clf)
    with pytest.raises(ValueError, match="Unknown label type"):
        clf.fit(X, np.linspace(0, 1, X.shape[0]))
    assert_unchanged(clf, snap)


def test_partial_fit_unknown_classes(fitted):
    clf, X, y = fitted
    snap = snapshot(clf)
    t = clf.t_
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(X, y + 5)
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(X, y, classes=[0, 1, 2, 3])
    assert_unchanged(clf, snap)
    assert clf.t_ == t
    fresh = SymNetClassifier(hidden_layer_sizes=(4,))
    with pytest.raises(ValueError, match="classes"):
        fresh.partial_fit(X, y, classes=[0, 1])
    assert not hasattr(fresh, "coefs_")


def test_partial_fit_first_call_needs_classes():
    X, y = three_classes()
    clf = SymNetClassifier(hidden_layer_sizes=(4,))
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X, y)
    assert not hasattr(clf, "coefs_")


def test_bad_sample_weight(fitted):
    clf, X, y = fitted
    snap = snapshot(clf)
    with pytest.raises(ValueError, match="Negative values"):
        clf.fit(X, y, sample_weight=-np.ones(X.shape[0]))
    with pytest.raises(ValueError, match="sample_weight"):
        clf.fit(X, y, sample_weight=np.ones(5))
    assert_unchanged(clf, snap)


@pytest.mark.parametrize(
    "param, value",
    [
        ("K3", 0),
        ("K3", -1.0),
        ("r", -1),
        ("r", 0.0),
        ("coupling", "x"),
        ("hidden_layer_sizes", (0,)),
        ("hidden_layer_sizes", (-3,)),
        ("hidden_layer_sizes", (4, 0)),
        ("hidden_layer_sizes", 0),
        ("output_element", 7),
        ("input_element", -1),
        ("coef_bound", 0),
        ("coef_bound", -1.0),
        ("loss", "hinge"),
        ("solver", "lbfgs"),
        ("output_scale", 0),
        ("learning_rate_init", 0.0),
        ("alpha", -1.0),
        ("max_iter", 0),
        ("batch_size", 0),
        ("validation_fraction", 1.0),
    ],
)
def test_invalid_hyperparameters(fitted, param, value):
    clf, X, y = fitted
    snap = snapshot(clf)
    clf.set_params(**{param: value})
    with pytest.raises(ValueError, match=param):
        clf.fit(X, y)
    assert_unchanged(clf, snap)
    with pytest.raises(ValueError, match=param):
        SymNetClassifier(**{param: value}).fit(X, y)


def test_non_finite_training_raises_and_leaves_model_unchanged(fitted):
    clf, X, y = fitted
    snap = snapshot(clf)
    curve, t = list(clf.loss_curve_), clf.t_
    clf.set_params(learning_rate_init=1e300)
    with pytest.raises(ValueError, match="non-finite parameter weights"):
        clf.fit(X * 1e100, y)
    assert_unchanged(clf, snap)
    assert clf.loss_curve_ == curve and clf.t_ == t
    assert np.all(np.isfinite(clf.predict_proba(X)))


@pytest.mark.parametrize("zeroed", [0.0, 0.6], ids=["blas-gather", "compact"])
@pytest.mark.parametrize("blas_two, blas_one", [(2, 1), (1, 2), (2, None)],
                         ids=["blas2-vs-1", "blas1-vs-2", "blas2-vs-unset"])
def test_threads_do_not_change_the_model(digits, zeroed, blas_two, blas_one):
    """The promise: the model and its predictions are bit-identical for any
    n_jobs, whatever BLAS's own thread setting (the kernels own all the
    threading; BLAS runs single-threaded inside them), on any conforming BLAS.
    """
    Xtr, Xte, ytr, yte = digits
    X = Xtr[:400].copy()
    X[np.random.RandomState(1).uniform(size=X.shape) < zeroed] = 0.0
    # 200 x 64 x 200 multiply-adds per minibatch: two row blocks of the
    # products, past the kernels' threshold for threads
    kw = dict(hidden_layer_sizes=(200,), max_iter=2, random_state=0)
    with threadpool_limits(limits=blas_two):
        two = quiet_fit(SymNetClassifier(n_jobs=2, **kw), X, ytr[:400])
        p_two = two.predict_proba(Xte)
    with threadpool_limits(limits=blas_one):
        one = quiet_fit(SymNetClassifier(n_jobs=1, **kw), X, ytr[:400])
        p_one = one.predict_proba(Xte)
    for a, b in zip(two.coefs_ + two.intercepts_, one.coefs_ + one.intercepts_):
        assert np.array_equal(a, b)
    assert np.array_equal(p_two, p_one)


def test_learning_rate_decay_counts_epochs_across_calls():
    X, y = load_digits(return_X_y=True)
    X = X[:300] / 16
    y = y[:300]
    clf = SymNetClassifier(hidden_layer_sizes=(8,), learning_rate_init=0.01,
                           learning_rate_decay=0.5, decay_steps=None, random_state=0)
    for _ in range(3):
        clf.partial_fit(X, y, classes=np.arange(10))
    assert clf._optimizer_state["weights"]["epochs"] == 3
    # decay=1 is MLPClassifier's constant step; the decayed model moves less late on
    const = SymNetClassifier(hidden_layer_sizes=(8,), learning_rate_init=0.01,
                             learning_rate_decay=1.0, random_state=0)
    for _ in range(3):
        const.partial_fit(X, y, classes=np.arange(10))
    assert const._optimizer_state["weights"]["epochs"] == 3
    assert not np.array_equal(const.coefs_[0], clf.coefs_[0])


def test_learning_rate_decay_validated():
    X, y = load_digits(return_X_y=True)
    with pytest.raises(ValueError, match="learning_rate_decay"):
        SymNetClassifier(learning_rate_decay=1.5).fit(X[:50], y[:50])
    with pytest.raises(ValueError, match="learning_rate_decay"):
        SymNetClassifier(learning_rate_decay=0.0).fit(X[:50], y[:50])
    for bad in (0, 2.5, "epoch"):
        with pytest.raises(ValueError, match="decay_steps"):
            SymNetClassifier(decay_steps=bad).fit(X[:50], y[:50])
    for bad in (-0.1, 1.5, np.nan):
        with pytest.raises(ValueError, match="decay_floor"):
            SymNetClassifier(decay_floor=bad).fit(X[:50], y[:50])


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_step_schedule_values(solver):
    """The step size after ``t`` optimiser steps is ``learning_rate_init *
    max(decay ** (t / decay_steps), floor)``; per epoch with ``decay_steps=None``."""
    from sklearn_symnet._optim import AdamOptimizer, SGDOptimizer

    make = AdamOptimizer if solver == "adam" else SGDOptimizer
    opt = make(3, np.float64, 0.01, decay=0.5, decay_steps=4, floor=0.2)
    params, grads = np.zeros(3), np.ones(3)
    seen = []
    for _ in range(12):
        opt.step(params, grads)
        seen.append(opt.learning_rate)
    t = np.arange(1, 13)
    assert np.allclose(seen, 0.01 * np.maximum(0.5 ** (t / 4), 0.2), rtol=1e-15, atol=0)
    assert seen[-1] == 0.01 * 0.2  # the floor holds from t = 4 log(0.2)/log(0.5) = 9.3
    per_epoch = make(3, np.float64, 0.01, decay=0.5, decay_steps=None, floor=0.2)
    for _ in range(5):
        per_epoch.step(params, grads)
    assert per_epoch.learning_rate == 0.01  # steps do not count, epochs do
    for e in range(1, 4):
        per_epoch.end_epoch()
        assert per_epoch.learning_rate == 0.01 * max(0.5**e, 0.2)
    constant = make(3, np.float64, 0.01, decay=1.0, decay_steps=1, floor=0.0)
    for _ in range(7):
        constant.step(params, grads)
    assert constant.learning_rate == 0.01


def test_sparse_input_is_never_densified():
    # 300 x 200,000 CSR with 20 non-zeros a row: a dense copy would take 480 MB
    import tracemalloc

    rng = np.random.default_rng(0)
    n, d = 300, 200_000
    rows = np.repeat(np.arange(n), 20)
    cols = rng.integers(0, d, n * 20)
    y = rng.integers(0, 2, n)
    cols[::20] = y  # feature 0 or 1 carries the label
    X = sp.csr_matrix((np.ones(n * 20), (rows, cols)), shape=(n, d))
    clf = SymNetClassifier(hidden_layer_sizes=(4,), max_iter=30, random_state=0,
                           learning_rate_init=0.05)
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)
        proba = clf.predict_proba(X)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert clf.score(X, y) > 0.9


def test_warm_start_fit_uses_current_neuron_constants_partial_fit_keeps_fitted():
    X, y = load_digits(return_X_y=True)
    X, y = X[:300] / 16, y[:300]
    clf = SymNetClassifier(hidden_layer_sizes=(8,), max_iter=3, warm_start=True,
                           random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
        clf.set_params(K1=0.8, K2=0.5)
        clf.partial_fit(X, y)
        assert (clf.neuron_.K1, clf.neuron_.K2) == (0.3, 0.2)
        clf.fit(X, y)
    assert (clf.neuron_.K1, clf.neuron_.K2) == (0.8, 0.5)
