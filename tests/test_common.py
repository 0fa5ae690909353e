"""What both estimators share (BaseSymNet): each test runs on the classifier
and the regressor."""

import copy
import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import skip_zeros_up_to_half
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from sklearn_symnet import SymNetClassifier, SymNetRegressor

ESTIMATORS = [SymNetClassifier, SymNetRegressor]


def data(kind, n=90, d=6, seed=0, zeros=False):
    rng = np.random.RandomState(seed)
    X = rng.uniform(0, 1, (n, d))
    if zeros:  # mostly zeros: the zero-skipping first layer
        X[rng.uniform(size=X.shape) < 0.7] = 0.0
    y = (X[:, 0] + X[:, 1] > 1).astype(int) + (X[:, 2] > 0.5)
    if kind is SymNetRegressor:
        y = 3.0 * X[:, 0] - 2.0 * X[:, 1] ** 2 + X[:, 2] + 0.1 * rng.randn(n)
    return X, y


def make(kind, **kw):
    kw.setdefault("hidden_layer_sizes", (8,))
    kw.setdefault("max_iter", 5)
    kw.setdefault("random_state", 0)
    return kind(**kw)


def quiet(f, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return f(*a, **k)


def state(model):
    return [np.array(a) for a in model.coefs_ + model.intercepts_]


def assert_same_state(a, b):
    for u, v in zip(state(a), state(b)):
        assert np.array_equal(u, v)


def predictions(model, X):
    if isinstance(model, SymNetClassifier):
        return model.predict_proba(X)
    return model.predict(X)


@pytest.mark.parametrize("kind", ESTIMATORS)
def test_step_schedule_reaches_the_estimator(kind):
    # learning_rate_decay, decay_steps and decay_floor reach the optimiser of
    # both estimators (the schedule's values: test_classifier.py)
    X, y = data(kind)

    def coefs(**kw):
        model = quiet(make(kind, batch_size=45, **kw).fit, X, y)
        return model, np.concatenate([a.ravel() for a in state(model)])

    _, constant = coefs(learning_rate_decay=1.0)
    # decay 1: decay_steps and decay_floor change nothing
    assert np.array_equal(constant, coefs(learning_rate_decay=1.0, decay_steps=1)[1])
    # a floor of 1 keeps the step constant whatever the decay
    assert np.array_equal(constant, coefs(learning_rate_decay=0.5, decay_steps=1,
                                          decay_floor=1.0)[1])
    # decay_steps counts steps: halving per 1e9 steps is all but constant,
    # halving per step (down to a quarter) is not
    slow = coefs(learning_rate_decay=0.5, decay_steps=10**9, decay_floor=0.0)[1]
    assert not np.array_equal(constant, slow)
    assert np.allclose(constant, slow, rtol=1e-5, atol=1e-7)
    fast, fast_coefs = coefs(learning_rate_decay=0.5, decay_steps=1, decay_floor=0.25)
    assert fast._optimizer_state["weights"]["t"] == 10  # 2 minibatches x 5 epochs
    assert np.abs(fast_coefs - constant).max() > 1e-3


@pytest.mark.parametrize("kind", ESTIMATORS)
def test_pickle_from_before_the_step_schedule(kind):
    # a model pickled before decay_steps and decay_floor existed keeps its
    # per-epoch decay without a floor, and can be inspected and trained on
    X, y = data(kind)
    model = quiet(make(kind, learning_rate_decay=0.5, decay_steps=None, decay_floor=0.0).fit,
                  X, y)
    saved = model.__getstate__()
    del saved["decay_steps"], saved["decay_floor"]
    old = kind.__new__(kind)
    old.__setstate__(saved)
    assert old.get_params()["decay_steps"] is None and old.get_params()["decay_floor"] == 0.0
    np.testing.assert_array_equal(predictions(old, X), predictions(model, X))
    quiet(old.partial_fit, X, y)
    quiet(model.partial_fit, X, y)
    for a, b in zip(state(old), state(model)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind", ESTIMATORS)
def test_unfitted_raises(kind):
    X, _ = data(kind)
    with pytest.raises(NotFittedError):
        make(kind).predict(X)
    with pytest.raises(NotFittedError):
        make(kind).layer_signals(X)


@pytest.mark.parametrize("kind", ESTIMATORS)
def test_pickle_round_trip_and_continue(kind):
    X, y = data(kind)
    model = quiet(make(kind).fit, X, y)
    twin = pickle.loads(pickle.dumps(model))
    assert not hasattr(twin, "_table_cache")  # derived state is not stored
    np.testing.assert_array_equal(predictions(twin, X), predictions(model, X))
    twin.partial_fit(X, y)
    model.partial_fit(X, y)
    assert_same_state(twin, model)
    assert twin.loss_curve_ == model.loss_curve_


@pytest.mark.parametrize("kind", ESTIMATORS)
def test_failing_fit_leaves_the_model_untouched(kind):
    X, y = data(kind)
    model = quiet(make(kind, warm_start=True).fit, X, y)
    ref = copy.deepcopy(model)
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.fit(bad, y)
    with pytest.raises(ValueError):
        model.partial_fit(X[:, :3], y)
    assert_same_state(model, ref)
    assert model.loss_curve_ == ref.loss_curve_ and model.t_ == ref.t_


@pytest.mark.parametrize("kind", ESTIMATORS)
def test_float32_trains_in_float32(kind):
    X, y = data(kind)
    m32 = quiet(make(kind).fit, X.astype(np.float32), y)
    m64 = quiet(make(kind).fit, X, y)
    assert all(c.dtype == np.float32 for c in state(m32))
    np.testing.assert_allclose(predictions(m32, X), predictions(m64, X), rtol=1e-3,
                               atol=1e-3)


@pytest.mark.parametrize("zeros", [False, True], ids=["dense", "skip"])
@pytest.mark.parametrize("kind", ESTIMATORS)
def test_sparse_and_dense_give_the_same_model(kind, zeros, monkeypatch):
    if zeros:
        skip_zeros_up_to_half(monkeypatch)
    X, y = data(kind, zeros=zeros)
    a = quiet(make(kind).fit, X, y)
    b = quiet(make(kind).fit, sp.csr_matrix(X), y)
    for u, v in zip(state(a), state(b)):
        np.testing.assert_allclose(u, v, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(predictions(b, sp.csr_matrix(X)), predictions(a, X),
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", ESTIMATORS)
def test_threads_do_not_change_the_model(kind):
    X, y = data(kind, n=400)
    a = quiet(make(kind, n_jobs=1, hidden_layer_sizes=(64,)).fit, X, y)
    b = quiet(make(kind, n_jobs=2, hidden_layer_sizes=(64,)).fit, X, y)
    assert_same_state(a, b)


@pytest.mark.parametrize("kind", ESTIMATORS)
def test_assigned_coefficients_are_used(kind):
    X, y = data(kind)
    model = quiet(make(kind).fit, X, y)
    model.coefs_[0] = np.zeros_like(model.coefs_[0])
    model.intercepts_[0] = np.zeros_like(model.intercepts_[0])
    # every hidden input is 0: the hidden signals are 0, the outputs constant
    P = predictions(model, X)
    np.testing.assert_allclose(P, np.broadcast_to(P[0], P.shape), rtol=1e-12)
    model.set_params(learning_rate_init=1e-12)
    model.partial_fit(X, y)  # continues from the assigned zeros
    np.testing.assert_allclose(model.coefs_[0], 0.0, atol=1e-9)
    with pytest.raises(ValueError, match="coefs_\\[0\\] must have shape"):
        model.coefs_[0] = np.zeros((2, 2))
        model.predict(X)


@pytest.mark.parametrize("kind", ESTIMATORS)
def test_layer_signals_agree_with_predictions(kind):
    X, y = data(kind)
    model = quiet(make(kind, hidden_layer_sizes=(7, 5)).fit, X, y)
    layers = model.layer_signals(X)
    width = model.n_outputs_ if kind is SymNetClassifier else 2  # pairs
    assert [la.signals.shape for la in layers] == [(90, 7), (90, 5), (90, width)]
    # the first layer's inputs are X @ W + b; each layer's signal is its
    # neurons' response to its input
    np.testing.assert_allclose(layers[0].inputs, X @ model.coefs_[0] + model.intercepts_[0],
                               rtol=1e-12, atol=1e-12)
    s, g = model.neuron_.response(layers[0].inputs.ravel())
    np.testing.assert_allclose(layers[0].signals.ravel(), s, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(layers[0].gains.ravel(), g, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(layers[0].dead, layers[0].gains == 0)
    S = layers[-1].signals
    Z = S[:, 0::2] - S[:, 1::2]  # readout="difference"
    if kind is SymNetRegressor:
        expected = (model.output_scale_ * Z[:, 0] * model.target_scale_[0]
                    + model.target_mean_[0])
        np.testing.assert_allclose(model.predict(X), expected, rtol=1e-12)
    else:
        np.testing.assert_array_equal(model.predict(X), model.classes_[np.argmax(Z, axis=1)])


@pytest.mark.parametrize("kind", ESTIMATORS)
def test_clone_and_params(kind):
    model = make(kind, K1=0.5, output_scale=3.0)
    twin = clone(model)
    assert twin.get_params() == model.get_params()
    with pytest.raises(ValueError, match="output_element"):
        make(kind, output_element=7).fit(*data(kind))


@pytest.mark.parametrize("kind", ESTIMATORS)
def test_bad_sample_weight(kind):
    X, y = data(kind)
    with pytest.raises(ValueError, match="sample_weight"):
        make(kind).fit(X, y, sample_weight=np.ones(5))
    with pytest.raises(ValueError, match="Negative values"):
        make(kind).fit(X, y, sample_weight=-np.ones(X.shape[0]))


@pytest.mark.parametrize("kind", ESTIMATORS)
def test_divergence_is_a_clear_error(kind):
    X, y = data(kind)
    model = make(kind, solver="sgd", learning_rate_init=1e300, max_iter=3)
    with np.errstate(all="ignore"), pytest.raises(
            ValueError, match="Solver produced non-finite parameter weights"):
        quiet(model.fit, X * 1e200, y)
    assert not hasattr(model, "coefs_")


def test_load_monitor_gives_busy_cores_back(monkeypatch):
    """n_jobs=None: as many threads as the other processes leave free (the
    results do not depend on it); an explicit n_jobs is used as given."""
    from sklearn_symnet import _threads

    monkeypatch.setattr(_threads, "effective_n_threads", lambda n_jobs: 2 if n_jobs is None
                        else n_jobs)
    monitor = _threads.LoadMonitor(None)
    monitor.n_cpus = 2
    monkeypatch.setattr(_threads, "_others_runnable", lambda: 0)
    assert monitor.threads() == 2  # idle machine
    monitor._mark = None
    monkeypatch.setattr(_threads, "_others_runnable", lambda: 2)
    assert monitor.threads() == 1  # two other processes on two cores
    # over an epoch: others used 1.8 of the 2 cores -> one thread
    clock = iter([0.0, 1.0])
    busy = iter([10.0, 12.0])  # the whole machine: 2 busy CPU-seconds in 1 s
    own = iter([5.0, 5.2])  # this process: 0.2 of them
    monkeypatch.setattr(_threads.time, "perf_counter", lambda: next(clock))
    monkeypatch.setattr(_threads.time, "process_time", lambda: next(own))
    monkeypatch.setattr(_threads, "_proc_stat_busy", lambda: next(busy))
    monitor._mark = None
    monkeypatch.setattr(_threads, "_others_runnable", lambda: 0)
    assert monitor.threads() == 2  # first call: the runnable count
    assert monitor.threads() == 1  # then the measured epoch
    fixed = _threads.LoadMonitor(3)
    assert not fixed.adaptive and fixed.threads() == 3


def test_prediction_threads_follow_the_load_measured_over_a_window(monkeypatch):
    """Predictions read the load only when they have work for threads, and
    measure it over at least PREDICT_LOAD_WINDOW, not from one snapshot."""
    from sklearn_symnet import _threads

    monkeypatch.setattr(_threads, "effective_n_threads", lambda n_jobs: 2 if n_jobs is None
                        else n_jobs)
    monkeypatch.setattr(_threads, "_PREDICT_MONITORS", {})
    snapshots = []
    monkeypatch.setattr(_threads, "_others_runnable", lambda: snapshots.append(1) or 0)
    clock = iter([0.0, 0.0, 0.1, 0.3, 0.3])
    busy = iter([10.0, 10.3])  # the whole machine over 0.3 s: 0.3 busy CPU-seconds
    own = iter([5.0, 5.2])  # this process: 0.2 of them -> others 0.33 cores
    monkeypatch.setattr(_threads.time, "perf_counter", lambda: next(clock))
    monkeypatch.setattr(_threads.time, "process_time", lambda: next(own))
    monkeypatch.setattr(_threads, "_proc_stat_busy", lambda: next(busy))
    big = _threads.PARALLEL_MIN_WORK
    assert _threads.prediction_threads(None, big - 1) == 1  # small: nothing read
    assert _threads.prediction_threads(None, big) == 2 and snapshots == [1]  # snapshot
    assert _threads.prediction_threads(None, big) == 2  # 0.1 s later: the last decision
    assert _threads.prediction_threads(None, big) == 2 and snapshots == [1]  # measured
    assert _threads.prediction_threads(3, big) == 3  # an explicit n_jobs: as given
    monkeypatch.undo()
    with pytest.raises(ValueError, match="n_jobs == 0"):
        _threads.prediction_threads(0, 1)


def test_threads_of_this_machine_are_read():
    from sklearn_symnet import _threads

    if _threads._proc_stat_busy() is None:
        pytest.skip("no /proc/stat (not Linux)")
    assert _threads._proc_stat_busy() > 0
    assert _threads._own_runnable_threads() >= 1  # this thread runs
    assert _threads._others_runnable() >= 0


@pytest.mark.parametrize("kind", ESTIMATORS)
def test_kink_start_centres_hidden_biases_at_the_first_breakpoint(kind):
    X, y = data(kind)
    lr0 = dict(learning_rate_init=1e-12, max_iter=1, hidden_layer_sizes=(40, 30))
    at = quiet(make(kind, kink_start=1.0, **lr0).fit, X, y)
    off = quiet(make(kind, kink_start=0.0, **lr0).fit, X, y)
    half = quiet(make(kind, kink_start=0.5, **lr0).fit, X, y)
    kink = at.neuron_.breakpoints[0]  # -1.22 for the default constants
    for layer in (0, 1):  # the hidden layers move by the kink ...
        np.testing.assert_allclose(at.intercepts_[layer] - off.intercepts_[layer], kink,
                                   rtol=1e-6)
        np.testing.assert_allclose(half.intercepts_[layer] - off.intercepts_[layer],
                                   0.5 * kink, rtol=1e-6)
    # ... the output layer and every coefficient do not
    np.testing.assert_allclose(at.intercepts_[2], off.intercepts_[2], atol=1e-9)
    for u, v in zip(at.coefs_, off.coefs_):
        np.testing.assert_allclose(u, v, atol=1e-9)
    # flux neurons have no kink
    f1 = quiet(make(kind, coupling="flux", kink_start=1.0, **lr0).fit, X, y)
    f0 = quiet(make(kind, coupling="flux", kink_start=0.0, **lr0).fit, X, y)
    np.testing.assert_allclose(f1.intercepts_[0], f0.intercepts_[0], atol=1e-9)
