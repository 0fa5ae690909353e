"""SymNetClassifier inside scikit-learn's model-selection machinery.

Pipelines with scalers, grid / randomised / successive-halving searches over
the neuron constants and the training hyper-parameters, cross-validation with
joblib workers, cloning, and a grid search distributed on a Dask cluster.
Small data sets that ship with scikit-learn, small networks, few epochs.
"""

import importlib
import os
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
from scipy.stats import loguniform, uniform
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_digits, load_iris
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import (
    GridSearchCV,
    HalvingGridSearchCV,
    RandomizedSearchCV,
    StratifiedKFold,
    cross_val_score,
    cross_validate,
    train_test_split,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from sklearn_symnet import SymNetClassifier

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning"
)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


@pytest.fixture(scope="module")
def digits_small(digits):
    """A stratified 900-sample subset of digits: quick searches."""
    X, y = digits
    Xs, _, ys, _ = train_test_split(X, y, train_size=900, stratify=y, random_state=0)
    return Xs, ys


def _clf(**kw):
    params = dict(hidden_layer_sizes=(16,), max_iter=10, batch_size=50,
                  random_state=0)
    params.update(kw)
    return SymNetClassifier(**params)


# ----------------------------------------------------------------------
# Pipelines
# ----------------------------------------------------------------------
@pytest.mark.parametrize("scaler", [StandardScaler, MinMaxScaler])
@pytest.mark.parametrize(
    "loader, floor",
    [(load_iris, 0.85), (load_breast_cancer, 0.93)],
    ids=["iris", "breast_cancer"],
)
def test_pipeline_with_scaler(scaler, loader, floor):
    X, y = loader(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, stratify=y,
                                              random_state=0)
    pipe = Pipeline([
        ("scale", scaler()),
        ("clf", _clf(learning_rate_init=1e-2, batch_size=32, max_iter=60)),
    ])
    pipe.fit(X_tr, y_tr)
    assert pipe.score(X_tr, y_tr) >= floor
    assert pipe.score(X_te, y_te) >= floor
    proba = pipe.predict_proba(X_te)
    assert proba.shape == (X_te.shape[0], np.unique(y).shape[0])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-10)
    assert set(pipe.classes_) == set(np.unique(y))


@pytest.mark.parametrize("coupling", ["rate", "flux"])
def test_pipeline_digits(digits, coupling):
    X, y = digits
    X_tr, X_te, y_tr, y_te = train_test_split(X * 16, y, test_size=0.25, stratify=y,
                                              random_state=0)
    pipe = Pipeline([("scale", MinMaxScaler()),
                     ("clf", _clf(hidden_layer_sizes=(32,), coupling=coupling,
                                  max_iter=20))])
    pipe.fit(X_tr, y_tr)
    assert pipe.score(X_te, y_te) >= 0.9


# ----------------------------------------------------------------------
# Searches
# ----------------------------------------------------------------------
GRID = {
    "clf__K1": [0.3, 0.8],
    "clf__K2": [0.2, 0.5],
    "clf__K3": [1.0, 2.0],
    "clf__coupling": ["rate", "flux"],
    "clf__hidden_layer_sizes": [(8,), (16,)],
    "clf__learning_rate_init": [3e-3, 1e-2],
}


def _in_grid(best, grid):
    return all(best[k] in grid[k] for k in grid) and set(best) == set(grid)


def test_grid_search_pipeline(digits_small):
    X, y = digits_small
    pipe = Pipeline([("scale", MinMaxScaler()), ("clf", _clf(max_iter=8))])
    # one small grid per parameter family keeps the product small (2**4 = 16)
    grid = [
        {k: GRID[k] for k in ("clf__K1", "clf__K2", "clf__coupling",
                              "clf__learning_rate_init")},
        {k: GRID[k] for k in ("clf__K3", "clf__hidden_layer_sizes")},
    ]
    gs = GridSearchCV(pipe, grid, cv=3).fit(X, y)
    assert len(gs.cv_results_["params"]) == 16 + 4
    best = gs.best_params_
    assert any(_in_grid(best, g) for g in grid)
    assert gs.best_score_ >= 0.85
    assert gs.best_score_ == pytest.approx(np.max(gs.cv_results_["mean_test_score"]))
    # the refitted best pipeline carries the best parameters
    clf = gs.best_estimator_.named_steps["clf"]
    for k, v in best.items():
        assert getattr(clf, k.removeprefix("clf__")) == v
    assert gs.score(X, y) >= 0.85


def test_grid_search_all_parameters(digits_small):
    """Every searched parameter in one grid (2 values each, 2 folds)."""
    X, y = digits_small
    grid = {k.removeprefix("clf__"): v for k, v in GRID.items()}
    # keep it small: 64 candidates x 2 folds of 450 samples x 4 epochs
    gs = GridSearchCV(_clf(max_iter=4), grid, cv=2).fit(X, y)
    assert len(gs.cv_results_["params"]) == 2**6
    assert _in_grid(gs.best_params_, grid)
    assert gs.best_score_ >= 0.75
    assert np.all(np.isfinite(gs.cv_results_["mean_test_score"]))


def test_randomized_search(digits_small):
    X, y = digits_small
    dists = {
        "learning_rate_init": loguniform(1e-3, 3e-2),
        "K1": uniform(0.1, 1.0),  # [0.1, 1.1]
        "coupling": ["rate", "flux"],
    }
    rs = RandomizedSearchCV(_clf(max_iter=8), dists, n_iter=3, cv=3,
                            random_state=0).fit(X, y)
    assert len(rs.cv_results_["params"]) == 3
    best = rs.best_params_
    assert 1e-3 <= best["learning_rate_init"] <= 3e-2
    assert 0.1 <= best["K1"] <= 1.1
    assert best["coupling"] in ("rate", "flux")
    assert rs.best_score_ >= 0.8
    assert rs.best_estimator_.K1 == best["K1"]


@pytest.mark.parametrize("in_pipeline", [False, True], ids=["estimator", "pipeline"])
def test_halving_grid_search_on_max_iter(digits_small, in_pipeline):
    X, y = digits_small
    grid = {"K1": [0.3, 0.8], "coupling": ["rate", "flux"]}
    est = _clf(max_iter=1)
    resource = "max_iter"
    if in_pipeline:
        est = Pipeline([("scale", MinMaxScaler()), ("clf", est)])
        grid = {f"clf__{k}": v for k, v in grid.items()}
        resource = "clf__max_iter"
    hs = HalvingGridSearchCV(est, grid, resource=resource, min_resources=5,
                             max_resources=30, factor=2, cv=3,
                             random_state=0).fit(X, y)
    # 4 candidates, halved twice: 5 -> 10 -> 20 epochs
    assert list(hs.n_resources_) == [5, 10, 20]
    assert list(hs.n_candidates_) == [4, 2, 1]
    assert hs.best_params_[resource] == hs.n_resources_[-1]
    best = hs.best_estimator_
    clf = best.named_steps["clf"] if in_pipeline else best
    assert clf.max_iter == hs.n_resources_[-1]
    assert clf.n_iter_ <= clf.max_iter
    assert len(clf.loss_curve_) == clf.n_iter_
    assert hs.best_score_ >= 0.8


# ----------------------------------------------------------------------
# Cross-validation in parallel
# ----------------------------------------------------------------------
def test_cross_val_score_parallel_equals_serial(digits_small):
    X, y = digits_small
    est = _clf(max_iter=20)
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    s1 = cross_val_score(est, X, y, cv=cv, n_jobs=1)
    s2 = cross_val_score(est, X, y, cv=cv, n_jobs=2)
    np.testing.assert_array_equal(s1, s2)
    assert s1.mean() >= 0.8


@pytest.mark.parametrize("coupling", ["rate", "flux"])
def test_cross_validate_parallel_equals_serial(digits_small, coupling):
    X, y = digits_small
    est = Pipeline([("scale", StandardScaler()),
                    ("clf", _clf(coupling=coupling, max_iter=8))])
    kw = dict(cv=3, scoring=["accuracy", "neg_log_loss"], return_train_score=True,
              return_estimator=True)
    r1 = cross_validate(est, X, y, n_jobs=1, **kw)
    r2 = cross_validate(est, X, y, n_jobs=2, **kw)
    for key in ("test_accuracy", "train_accuracy", "test_neg_log_loss",
                "train_neg_log_loss"):
        np.testing.assert_array_equal(r1[key], r2[key], err_msg=key)
    for e1, e2 in zip(r1["estimator"], r2["estimator"]):
        c1, c2 = e1.named_steps["clf"], e2.named_steps["clf"]
        for a, b in zip(c1.coefs_ + c1.intercepts_, c2.coefs_ + c2.intercepts_):
            np.testing.assert_array_equal(a, b)
        assert c1.loss_curve_ == c2.loss_curve_


def test_kernel_threads_do_not_change_results(digits_small):
    """The estimator's own ``n_jobs`` (OpenMP threads) leaves results unchanged."""
    X, y = digits_small
    c1 = _clf(n_jobs=1).fit(X, y)
    c2 = _clf(n_jobs=2).fit(X, y)
    for a, b in zip(c1.coefs_, c2.coefs_):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(c1.predict_proba(X), c2.predict_proba(X))


# ----------------------------------------------------------------------
# clone, get_params / set_params
# ----------------------------------------------------------------------
def test_clone_and_params_round_trip(digits_small):
    X, y = digits_small
    est = SymNetClassifier(hidden_layer_sizes=(12, 7), coupling="flux", K1=0.8,
                           K2=0.5, K3=1.5, r=2.0, learning_rate_init=1e-2,
                           max_iter=3, coef_bound=2.0, random_state=3, n_jobs=1)
    params = est.get_params()
    assert params["hidden_layer_sizes"] == (12, 7)
    assert params["coupling"] == "flux" and params["coef_bound"] == 2.0
    assert set(params) == set(SymNetClassifier().get_params())

    est.fit(X, y)
    cl = clone(est)
    assert not hasattr(cl, "coefs_")
    assert cl.get_params() == params
    # a clone refitted with the same seed is the same model
    cl.fit(X, y)
    for a, b in zip(est.coefs_ + est.intercepts_, cl.coefs_ + cl.intercepts_):
        np.testing.assert_array_equal(a, b)

    # set_params(**get_params()) is the identity; set_params changes fit
    other = SymNetClassifier().set_params(**params)
    assert other.get_params() == params
    assert other.set_params(K1=0.3, coupling="rate") is other
    assert other.K1 == 0.3 and other.coupling == "rate"
    other.fit(X, y)
    assert other.neuron_.K1 == 0.3 and other.neuron_.coupling == "rate"
    assert [W.shape[1] for W in other.coefs_] == [12, 7, 20]  # pairs per class

    # nested parameters through a pipeline
    pipe = Pipeline([("scale", MinMaxScaler()), ("clf", est)])
    pipe_params = pipe.get_params()
    assert pipe_params["clf__K3"] == 1.5
    pipe2 = clone(pipe).set_params(clf__K3=0.5, clf__max_iter=2)
    assert pipe2.named_steps["clf"].K3 == 0.5
    assert pipe.named_steps["clf"].K3 == 1.5  # the original is untouched
    pipe2.fit(X, y)
    assert pipe2.named_steps["clf"].fixed_point_ == pytest.approx(2.0 / 0.5)


# ----------------------------------------------------------------------
# Dask
# ----------------------------------------------------------------------
def _package_parent():
    import sklearn_symnet

    return str(Path(sklearn_symnet.__file__).resolve().parent.parent)


def _ensure_importable(path):
    """Run on each worker: make ``sklearn_symnet`` importable there."""
    if path not in sys.path:
        sys.path.insert(0, path)
    mod = importlib.import_module("sklearn_symnet")
    return os.getpid(), str(Path(mod.__file__).resolve())


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("dask.distributed")
    cluster = client = None
    try:
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True,
            dashboard_address=None,
        )
        client = distributed.Client(cluster)
        # The workers are spawned processes: they inherit this process's
        # sys.path, so an in-place build is found as it is here.  Should it not
        # be, put the package's folder on their path before any task runs.
        where = client.run(_ensure_importable, _package_parent())
        import sklearn_symnet

        expected = str(Path(sklearn_symnet.__file__).resolve())
        assert len(where) == 2
        assert {f for _, f in where.values()} == {expected}
        assert os.getpid() not in {pid for pid, _ in where.values()}
        yield client
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()


def test_grid_search_on_dask_matches_local(digits_small, dask_client):
    from dask.distributed import get_task_stream

    X, y = digits_small
    pipe = Pipeline([("scale", MinMaxScaler()), ("clf", _clf(max_iter=6))])
    grid = {k: GRID[k] for k in ("clf__K1", "clf__coupling",
                                 "clf__hidden_layer_sizes")}
    local = GridSearchCV(pipe, grid, cv=3, n_jobs=1).fit(X, y)
    with get_task_stream(dask_client) as ts:
        with joblib.parallel_config(backend="dask"):
            remote = GridSearchCV(pipe, grid, cv=3, n_jobs=-1).fit(X, y)
    # the fits really ran on the cluster's workers
    assert len(ts.data) >= len(local.cv_results_["params"])
    assert {t["worker"] for t in ts.data} <= set(dask_client.scheduler_info()["workers"])
    np.testing.assert_array_equal(local.cv_results_["mean_test_score"],
                                  remote.cv_results_["mean_test_score"])
    np.testing.assert_array_equal(local.cv_results_["split0_test_score"],
                                  remote.cv_results_["split0_test_score"])
    assert local.best_params_ == remote.best_params_
    np.testing.assert_array_equal(local.predict_proba(X), remote.predict_proba(X))
