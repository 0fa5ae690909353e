"""dask_ml.wrappers.Incremental over a dask array on a distributed LocalCluster
gives the model of a local, block-by-block partial_fit: bit for bit.

One in-process worker (processes=False) keeps it fast; the example
``examples/plot_dask_incremental.py`` (run by test_examples.py) covers a
cluster of worker processes.
"""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils import check_random_state

from sklearn_symnet import SymNetClassifier, SymNetRegressor

distributed = pytest.importorskip("dask.distributed")
da = pytest.importorskip("dask.array")
wrappers = pytest.importorskip("dask_ml.wrappers")

N_SAMPLES, N_FEATURES, BLOCK = 1900, 6, 250  # 8 blocks, the last one shorter


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                       dashboard_address=None)
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def _data(regression):
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(N_SAMPLES, N_FEATURES))
    score = X @ rng.standard_normal(N_FEATURES) + np.sin(4 * X[:, 0])
    if regression:
        return X, 3.0 * score + 10.0
    return X, np.digitize(score, np.quantile(score, [1 / 3, 2 / 3]))


def _block_order(n_blocks, shuffle, random_state):
    """The order in which dask_ml.wrappers.Incremental visits the blocks."""
    order = list(range(n_blocks))
    if shuffle:
        check_random_state(random_state).shuffle(order)
    return order


CASES = [
    ("classifier-rate", SymNetClassifier(hidden_layer_sizes=(8,), learning_rate_init=1e-2,
                                         random_state=0, n_jobs=1), False),
    ("classifier-flux-sgd", SymNetClassifier(hidden_layer_sizes=(8, 4), coupling="flux",
                                             solver="sgd", random_state=1, n_jobs=1), False),
    ("regressor", SymNetRegressor(hidden_layer_sizes=(8,), random_state=0, n_jobs=1), True),
]


@pytest.mark.parametrize("shuffle_blocks", [False, True], ids=["in-order", "shuffled"])
@pytest.mark.parametrize("name, est, regression", CASES, ids=[c[0] for c in CASES])
def test_incremental_equals_local_partial_fit(client, name, est, regression,
                                              shuffle_blocks):
    X, y = _data(regression)
    Xd = da.from_array(X, chunks=(BLOCK, N_FEATURES))
    yd = da.from_array(y, chunks=BLOCK)
    kwargs = {} if regression else {"classes": np.unique(y)}

    inc = wrappers.Incremental(est, shuffle_blocks=shuffle_blocks, random_state=7)
    inc.fit(Xd, yd, **kwargs)
    remote = inc.estimator_
    assert remote is not est and not hasattr(est, "coefs_")  # a fitted clone

    local = clone(est)
    order = _block_order(Xd.numblocks[0], shuffle_blocks, 7)
    assert len(order) == 8
    for b in order:
        rows = slice(b * BLOCK, (b + 1) * BLOCK)
        local.partial_fit(X[rows], y[rows], **kwargs)

    assert len(remote.loss_curve_) == len(order) == remote.t_ // BLOCK + 1
    assert remote.loss_curve_ == local.loss_curve_
    for a, b in zip(remote.coefs_ + remote.intercepts_, local.coefs_ + local.intercepts_):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(remote._free, local._free)

    # the wrapper predicts blockwise on the cluster, as the local model does
    np.testing.assert_array_equal(inc.predict(Xd).compute(), local.predict(X))
    if not regression:
        np.testing.assert_array_equal(inc.predict_proba(Xd).compute(),
                                      local.predict_proba(X))

    # a second pass (Incremental.partial_fit) continues the same model
    inc.partial_fit(Xd, yd, **kwargs)
    for b in _block_order(Xd.numblocks[0], shuffle_blocks, 7):
        rows = slice(b * BLOCK, (b + 1) * BLOCK)
        local.partial_fit(X[rows], y[rows], **kwargs)
    assert inc.estimator_.loss_curve_ == local.loss_curve_
    np.testing.assert_array_equal(inc.estimator_._free, local._free)


def test_incremental_learns(client):
    """Not only identical: a pass over the blocks learns the problem."""
    X, y = _data(regression=False)
    Xd = da.from_array(X, chunks=(BLOCK, N_FEATURES))
    yd = da.from_array(y, chunks=BLOCK)
    inc = wrappers.Incremental(SymNetClassifier(hidden_layer_sizes=(16,),
                                                learning_rate_init=0.1, random_state=0,
                                                n_jobs=1),
                               scoring="accuracy", shuffle_blocks=False)
    for _ in range(10):  # ten passes over the blocks
        inc.partial_fit(Xd, yd, classes=np.arange(3))
    assert len(inc.estimator_.loss_curve_) == 10 * 8
    assert inc.estimator_.loss_curve_[-1] < 0.5 * inc.estimator_.loss_curve_[0]
    assert inc.score(Xd, yd) >= 0.85  # a linear model reaches 0.73
