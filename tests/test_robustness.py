"""Never wrong quietly: bad input, atomic failures, numerical safety, persistence.

Every bad input must be rejected with a clear error in scikit-learn's wording;
a call that raises must leave a fitted estimator exactly as it was; extreme but
finite numbers must give finite results or a clear error, never NaN; fitted
models must survive pickling and give the same answers whatever the number of
threads.

Bugs these tests found were fixed in the package; the tests now guard them.
"""

import copy
import pickle
import warnings
from concurrent.futures import ThreadPoolExecutor

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from conftest import skip_zeros_up_to_half
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils._param_validation import InvalidParameterError
from threadpoolctl import threadpool_limits

from sklearn_symnet import SymNetClassifier, WuxingNeuron, _inputs, _kernels
from sklearn_symnet._threads import PARALLEL_MIN_WORK  # threads are used above it

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

CLASSES = np.array([0, 1, 2])


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def make_data(n=40, d=4, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.rand(n, d)
    y = np.digitize(X[:, 0], [0.33, 0.66])  # three classes, all present
    return X, y


def small(**kw):
    params = dict(hidden_layer_sizes=(5,), max_iter=5, random_state=0)
    params.update(kw)
    return SymNetClassifier(**params)


@pytest.fixture(scope="module")
def data():
    return make_data()


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    return small().fit(X, y)


def with_value(X, row, col, value):
    X = np.array(X, dtype=float)
    X[row, col] = value
    return X


def assert_same(a, b, path="est"):
    """Recursive exact equality of two (deep-copied) object graphs."""
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray), path
        assert a.dtype == b.dtype and a.shape == b.shape, path
        assert np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"), path
    elif isinstance(a, np.random.RandomState):
        sa, sb = a.get_state(), b.get_state()
        for i, (u, v) in enumerate(zip(sa, sb)):
            assert_same(np.asarray(u), np.asarray(v), f"{path}.state[{i}]")
    elif isinstance(a, dict):
        assert isinstance(b, dict) and sorted(a) == sorted(b), (path, a.keys(), b.keys())
        for k in a:
            assert_same(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), path
        for i, (u, v) in enumerate(zip(a, b)):
            assert_same(u, v, f"{path}[{i}]")
    elif isinstance(a, float):
        assert isinstance(b, float), path
        assert a == b or (np.isnan(a) and np.isnan(b)), path
    elif hasattr(a, "__dict__") and not isinstance(a, type):
        assert type(a) is type(b), path
        assert_same(vars(a), vars(b), f"{path}.")
    else:
        assert a == b, (path, a, b)


def assert_same_coefs(a, b):
    assert len(a.coefs_) == len(b.coefs_)
    for u, v in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        assert u.dtype == v.dtype
        assert np.array_equal(u, v)


def assert_predict_consistent(model, X, P):
    """``predict`` picks a most probable class (ties after rounding allowed)."""
    idx = np.searchsorted(model.classes_, model.predict(X))
    assert np.all(P[np.arange(len(P)), idx] >= P.max(axis=1) - 1e-12)


def assert_valid_proba(P, n_classes, atol=1e-9):
    P = np.asarray(P)
    assert P.shape[1] == n_classes
    assert np.all(np.isfinite(P)), "non-finite probabilities"
    assert np.all(P >= 0) and np.all(P <= 1 + atol)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=0, atol=atol)


# ---------------------------------------------------------------------------
# Bad input: clear errors in scikit-learn's wording
# ---------------------------------------------------------------------------
NONFINITE = [
    pytest.param(np.nan, "Input X contains NaN", id="nan"),
    pytest.param(np.inf, "Input X contains infinity", id="+inf"),
    pytest.param(-np.inf, "Input X contains infinity", id="-inf"),
]
POSITIONS = [pytest.param(0, 0, id="first"), pytest.param(17, 2, id="middle"),
             pytest.param(-1, -1, id="last")]


@pytest.mark.parametrize("row, col", POSITIONS)
@pytest.mark.parametrize("value, msg", NONFINITE)
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_nonfinite_X_rejected_everywhere(data, fitted, value, msg, row, col, sparse):
    X, y = data
    Xb = with_value(X, row, col, value)
    if sparse:
        Xb = sp.csr_matrix(Xb)
    with pytest.raises(ValueError, match=msg):
        small().fit(Xb, y)
    with pytest.raises(ValueError, match=msg):
        small().partial_fit(Xb, y, classes=CLASSES)
    model = copy.deepcopy(fitted)
    with pytest.raises(ValueError, match=msg):
        model.partial_fit(Xb, y)
    with pytest.raises(ValueError, match=msg):
        fitted.predict(Xb)
    with pytest.raises(ValueError, match=msg):
        fitted.predict_proba(Xb)
    with pytest.raises(ValueError, match=msg):
        fitted.predict_log_proba(Xb)


def every_first_layer_path(test):
    """Parametrize ``test`` over every non-finite value, first-layer path,
    coupling and dtype."""
    for name, values in (("dtype", [np.float64, np.float32]), ("coupling", ["rate", "flux"]),
                         ("path", ["dense-blas", "dense-zero-skipping", "csr", "csc"]),
                         ("value, msg", NONFINITE)):
        test = pytest.mark.parametrize(name, values)(test)
    return test


@every_first_layer_path
def test_nonfinite_X_at_predict_found_by_the_product(value, msg, path, coupling, dtype,
                                                     monkeypatch):
    """Prediction does not scan X before the product: the first layer's
    inputs find a NaN or inf (it reaches every input of its row) and the rows
    are then checked with scikit-learn's message, on every first-layer path,
    in any chunk, whichever coupling (flux neurons would saturate an infinite
    input to a finite signal), for either dtype."""
    monkeypatch.setattr(_inputs, "DENSE_CHUNK_ROWS", 16)  # several chunks
    monkeypatch.setattr(_inputs, "PREDICT_CHUNK_ROWS", 16)
    skip_zeros_up_to_half(monkeypatch)  # mostly zeros: zero skipping predicts too
    rng = np.random.RandomState(0)
    X = rng.rand(70, 6)
    if path != "dense-blas":
        X[X < 0.7] = 0.0  # mostly zeros: the zero-skipping kernels
    y = np.arange(70) % 3
    clf = small(coupling=coupling).fit(X.astype(dtype), y)
    for row in (0, 37, 69):  # first, middle and last chunk
        Xb = X.copy()
        Xb[row, 4] = value
        if path in ("csr", "csc"):
            Xb = getattr(sp, path + "_matrix")(Xb)
        with pytest.raises(ValueError, match=msg):
            clf.predict(Xb)
        with pytest.raises(ValueError, match=msg):
            clf.predict_proba(Xb)
    # finite rows still predict
    P = clf.predict_proba(X)
    assert np.all(np.isfinite(P)) and P.shape == (70, 3)


@every_first_layer_path
def test_nonfinite_X_in_training_found_by_the_product(value, msg, path, coupling, dtype,
                                                      monkeypatch):
    """fit and partial_fit do not scan X before training either: a minibatch
    whose first-layer inputs are not finite gets scikit-learn's check and
    message for its rows, on every first-layer path, whichever coupling and
    dtype, in any row (also one held out for early stopping, found by the
    validation's prediction), and the estimator is left as it was."""
    if path == "dense-zero-skipping":
        skip_zeros_up_to_half(monkeypatch)
    rng = np.random.RandomState(0)
    X = rng.rand(90, 6)
    if path != "dense-blas":
        X[X < 0.7] = 0.0
    y = np.arange(90) % 3
    fitted = small(coupling=coupling, batch_size=16).fit(X.astype(dtype), y)
    before = [W.copy() for W in fitted.coefs_]
    for row in (0, 45, 89):
        Xb = X.copy()
        Xb[row, 4] = value
        Xb = Xb.astype(dtype)
        if path in ("csr", "csc"):
            Xb = getattr(sp, path + "_matrix")(Xb)
        with pytest.raises(ValueError, match=msg):
            small(coupling=coupling, batch_size=16).fit(Xb, y)
        with pytest.raises(ValueError, match=msg):
            small(coupling=coupling, batch_size=16, early_stopping=True).fit(Xb, y)
        with pytest.raises(ValueError, match=msg):
            fitted.partial_fit(Xb, y)
        assert all(np.array_equal(a, b) for a, b in zip(fitted.coefs_, before))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("value, msg", NONFINITE)
@pytest.mark.parametrize("column", [3, 250], ids=["first-block", "second-block"])
def test_nonfinite_X_in_training_found_by_the_split_product(column, value, msg, dtype):
    """Dense rows wide enough for the first layer's product to split over its
    inner dimension (two blocks: columns 0-149 and 150-299): a NaN or inf in
    either block's columns reaches the summed first-layer inputs and gets
    scikit-learn's message, and a failing partial_fit leaves the model as it
    was."""
    rng = np.random.RandomState(0)
    X = (rng.rand(160, 300) + 0.1).astype(dtype)
    y = np.arange(160) % 3
    kw = dict(hidden_layer_sizes=(100,), batch_size=80, max_iter=2, random_state=0)
    assert _kernels.matmul_blocks(300, 100, 80) == (2, 150)  # the split path
    fitted = SymNetClassifier(**kw).fit(X, y)
    before = [W.copy() for W in fitted.coefs_]
    Xb = X.copy()
    Xb[101, column] = value
    with pytest.raises(ValueError, match=msg):
        SymNetClassifier(**kw).fit(Xb, y)
    with pytest.raises(ValueError, match=msg):
        fitted.partial_fit(Xb, y)
    assert all(np.array_equal(a, b) for a, b in zip(fitted.coefs_, before))


def test_nonfinite_after_cast_in_partial_fit_of_a_float32_model(data):
    X, y = data
    clf = small().fit(X.astype(np.float32), y)
    before = [W.copy() for W in clf.coefs_]
    Xb = X.copy()
    Xb[5, 1] = 1e300  # finite in float64, inf in the model's float32
    with pytest.raises(ValueError, match="infinity or a value too large for.*float32"):
        clf.partial_fit(Xb, y)
    assert all(np.array_equal(a, b) for a, b in zip(clf.coefs_, before))


def test_nonfinite_after_cast_to_a_float32_model(data):
    """A finite float64 value too large for a float32 model becomes inf in the
    cast: rejected with scikit-learn's message naming float32, as the check
    before the product gave."""
    X, y = data
    clf = small().fit(X.astype(np.float32), y)
    Xb = X.copy()
    Xb[5, 1] = 1e300
    with pytest.raises(ValueError, match="infinity or a value too large for.*float32"):
        clf.predict(Xb)


@pytest.mark.parametrize("dtype, msg", [(np.float64, "float64"), (np.float32, "float32")])
def test_nonfinite_X_message_names_dtype(data, dtype, msg):
    X, y = data
    with pytest.raises(ValueError, match=f"infinity or a value too large for.*{msg}"):
        small().fit(with_value(X, 3, 1, np.inf).astype(dtype), y)


@pytest.mark.parametrize("method", ["predict", "predict_proba", "partial_fit"])
@pytest.mark.parametrize("n_features", [3, 5])
def test_wrong_number_of_features(data, fitted, method, n_features):
    X, y = data
    Xw = np.random.RandomState(1).rand(X.shape[0], n_features)
    model = copy.deepcopy(fitted)
    args = (Xw, y) if method == "partial_fit" else (Xw,)
    with pytest.raises(
        ValueError,
        match=f"X has {n_features} features, but SymNetClassifier is expecting 4",
    ):
        getattr(model, method)(*args)


def test_1d_X(data, fitted):
    X, y = data
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        small().fit(X[:, 0], y)
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        small().partial_fit(X[:, 0], y, classes=CLASSES)
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        fitted.predict(X[0])
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        fitted.predict_proba(X[0])


def test_3d_X(data):
    X, y = data
    with pytest.raises(ValueError, match="Found array with dim 3"):
        small().fit(X.reshape(40, 2, 2), y)


def test_zero_samples(data, fitted):
    X, y = data
    with pytest.raises(ValueError, match=r"0 sample\(s\) \(shape=\(0, 4\)\)"):
        small().fit(X[:0], y[:0])
    with pytest.raises(ValueError, match=r"0 sample\(s\)"):
        small().partial_fit(X[:0], y[:0], classes=CLASSES)
    with pytest.raises(ValueError, match=r"0 sample\(s\)"):
        fitted.predict(X[:0])
    with pytest.raises(ValueError, match=r"0 sample\(s\)"):
        fitted.predict_proba(X[:0])


def test_zero_features(data, fitted):
    X, y = data
    with pytest.raises(ValueError, match=r"0 feature\(s\) \(shape=\(40, 0\)\)"):
        small().fit(X[:, :0], y)
    with pytest.raises(ValueError, match=r"0 feature\(s\)"):
        small().partial_fit(X[:, :0], y, classes=CLASSES)
    with pytest.raises(ValueError, match=r"0 feature\(s\)"):
        fitted.predict(X[:, :0])


def test_string_X(data, fitted):
    X, y = data
    Xs = np.array([["a", "b", "c", "d"]] * X.shape[0], dtype=object)
    with pytest.raises(ValueError, match="could not convert string to float: 'a'"):
        small().fit(Xs, y)
    with pytest.raises(ValueError, match="could not convert string to float"):
        fitted.predict(Xs[:2])
    with pytest.raises(ValueError, match="could not convert string to float"):
        fitted.predict_proba(Xs[:2])


def test_numeric_object_and_string_X_are_converted(data, fitted):
    # Handled, as in scikit-learn: object arrays of numbers and arrays of
    # numeric strings convert to float64 and give the float64 model's answers.
    X, y = data
    P = fitted.predict_proba(X)
    np.testing.assert_array_equal(fitted.predict_proba(X.astype(object)), P)
    np.testing.assert_array_equal(fitted.predict_proba(X.astype(str)), P)
    model = small().fit(X.astype(object), y)
    assert model.coefs_[0].dtype == np.float64
    assert_same_coefs(model, fitted)


@pytest.mark.parametrize("imag", [1.0, 0.0], ids=["complex", "complex-zero-imag"])
def test_complex_X(data, fitted, imag):
    # scikit-learn raises ValueError("Complex data not supported"), even for a
    # zero imaginary part.
    X, y = data
    Xc = X + 1j * imag
    with pytest.raises(ValueError, match="Complex data not supported"):
        small().fit(Xc, y)
    with pytest.raises(ValueError, match="Complex data not supported"):
        small().partial_fit(Xc, y, classes=CLASSES)
    with pytest.raises(ValueError, match="Complex data not supported"):
        fitted.predict(Xc)
    with pytest.raises(ValueError, match="Complex data not supported"):
        fitted.predict_proba(Xc)


def test_predict_before_fit(data):
    X, _ = data
    for method in ("predict", "predict_proba", "predict_log_proba"):
        with pytest.raises(NotFittedError, match="not fitted yet"):
            getattr(small(), method)(X)


@pytest.mark.parametrize("value, msg", [(np.nan, "Input y contains NaN"),
                                        (np.inf, "Input y contains infinity")])
def test_nonfinite_y(data, value, msg):
    X, y = data
    yb = y.astype(float)
    yb[5] = value
    with pytest.raises(ValueError, match=msg):
        small().fit(X, yb)
    with pytest.raises(ValueError, match=msg):
        small().partial_fit(X, yb, classes=CLASSES)


def test_continuous_y(data):
    X, _ = data
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        small().fit(X, X[:, 0])


@pytest.mark.parametrize("n_y", [39, 41])
def test_y_wrong_length(data, n_y):
    X, y = data
    yb = np.resize(y, n_y)
    with pytest.raises(ValueError, match=rf"inconsistent numbers of samples: \[40, {n_y}\]"):
        small().fit(X, yb)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        small().partial_fit(X, yb, classes=CLASSES)


def test_single_class(data):
    X, _ = data
    with pytest.raises(ValueError, match="number of classes has to be greater than one"):
        small().fit(X, np.zeros(X.shape[0]))
    with pytest.raises(ValueError, match="number of classes has to be greater than one"):
        small().partial_fit(X, np.ones(X.shape[0], dtype=int), classes=[1])
    with pytest.raises(ValueError, match="number of classes has to be greater than one"):
        small().fit(X[:1], [3])


def test_single_class_in_batch_is_fine_with_classes(data):
    # Handled: one class present in a batch, two declared through `classes`.
    X, _ = data
    model = small().partial_fit(X, np.zeros(X.shape[0], dtype=int), classes=[0, 1])
    np.testing.assert_array_equal(model.classes_, [0, 1])
    assert_valid_proba(model.predict_proba(X), 2)


def test_partial_fit_first_call_needs_classes(data):
    X, y = data
    model = small()
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        model.partial_fit(X, y)
    assert not hasattr(model, "coefs_")


def test_partial_fit_labels_outside_classes(data, fitted):
    X, y = data
    with pytest.raises(ValueError, match=r"`y` has classes not in `classes`: array\(\[2\]\)"):
        small().partial_fit(X, y, classes=[0, 1])
    model = copy.deepcopy(fitted)
    with pytest.raises(ValueError, match=r"`y` has classes not in `classes`: array\(\[3\]\)"):
        model.partial_fit(X, y + 1)
    with pytest.raises(ValueError, match="is not the same as on the last call"):
        model.partial_fit(X, y, classes=[0, 1, 2, 3])


SAMPLE_WEIGHT_ERRORS = [
    pytest.param(lambda n: np.r_[-1.0, np.ones(n - 1)],
                 "Negative values in data passed to `sample_weight`", id="negative"),
    pytest.param(lambda n: np.r_[np.nan, np.ones(n - 1)],
                 "Input sample_weight contains NaN", id="nan"),
    pytest.param(lambda n: np.r_[np.inf, np.ones(n - 1)],
                 "Input sample_weight contains infinity", id="inf"),
    pytest.param(lambda n: np.ones(n - 1),
                 r"sample_weight.shape == \(39,\), expected \(40,\)", id="short"),
    pytest.param(lambda n: np.ones(n + 1),
                 r"sample_weight.shape == \(41,\), expected \(40,\)", id="long"),
    pytest.param(lambda n: np.ones((n, 1)),
                 "Sample weights must be 1D array or scalar", id="2d"),
    pytest.param(lambda n: np.zeros(n),
                 "Sample weights must contain at least one non-zero number",
                 id="all-zero"),
]


@pytest.mark.parametrize("make_sw, msg", SAMPLE_WEIGHT_ERRORS)
def test_bad_sample_weight(data, fitted, make_sw, msg):
    X, y = data
    sw = make_sw(X.shape[0])
    with pytest.raises(ValueError, match=msg):
        small().fit(X, y, sample_weight=sw)
    with pytest.raises(ValueError, match=msg):
        small().partial_fit(X, y, sample_weight=sw, classes=CLASSES)
    model = copy.deepcopy(fitted)
    with pytest.raises(ValueError, match=msg):
        model.partial_fit(X, y, sample_weight=sw)
    assert_same(vars(model), vars(fitted))


BAD_PARAMS = [
    ("hidden_layer_sizes", (-5,)),
    ("hidden_layer_sizes", (5, 0)),
    ("hidden_layer_sizes", -5),
    ("hidden_layer_sizes", 0),
    ("n_jobs", 0),
    ("hidden_layer_sizes", (2.5,)),
    ("hidden_layer_sizes", "abc"),
    ("K3", 0.0),
    ("K3", -1.0),
    ("K3", np.inf),
    ("r", 0.0),
    ("r", -1.0),
    ("K1", np.nan),
    ("K2", np.inf),
    ("coupling", "linear"),
    ("solver", "lbfgs"),
    ("loss", "hinge"),
    ("output_element", 5),
    ("output_element", -1),
    ("input_element", 7),
    ("coef_bound", 0.0),
    ("coef_bound", -1.0),
    ("coef_bound", np.inf),
    ("output_scale", 0.0),
    ("output_scale", np.inf),
    ("learning_rate_init", 0.0),
    ("learning_rate_init", np.inf),
    ("alpha", -1.0),
    ("batch_size", 0),
    ("max_iter", 0),
    ("n_iter_no_change", 0),
    ("momentum", 1.5),
    ("beta_2", 1.0),
    ("epsilon", 0.0),
    ("validation_fraction", 1.0),
    ("n_jobs", 1.5),
]


@pytest.mark.parametrize("name, value", BAD_PARAMS,
                         ids=[f"{n}={v!r}" for n, v in BAD_PARAMS])
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_invalid_hyperparameter_named(data, name, value, method):
    X, y = data
    model = small(**{name: value})
    kwargs = {"classes": CLASSES} if method == "partial_fit" else {}
    with pytest.raises(ValueError, match=name):
        getattr(model, method)(X, y, **kwargs)
    assert not hasattr(model, "coefs_")


@pytest.mark.parametrize("kwargs, exc, msg", [
    (dict(K3=0.0), ValueError, "K3 must be > 0"),
    (dict(K3=-2.0), ValueError, "K3 must be > 0"),
    (dict(r=0.0), ValueError, "r must be > 0"),
    (dict(K1=np.nan), ValueError, "K1 must be finite"),
    (dict(K2=-np.inf), ValueError, "K2 must be finite"),
    (dict(K1="1"), TypeError, "K1 must be a real number"),
    (dict(coupling="linear"), ValueError, "coupling must be one of"),
    (dict(output_element=5), ValueError, "output_element must be an integer in"),
    (dict(input_element=-1), ValueError, "input_element must be an integer in"),
    (dict(input_element=1.0), TypeError, "input_element must be an integer"),
    (dict(output_element=True), TypeError, "output_element must be an integer"),
])
def test_neuron_rejects_bad_constants(kwargs, exc, msg):
    with pytest.raises(exc, match=msg):
        WuxingNeuron(**kwargs)


@pytest.mark.parametrize("u", [[np.nan], [0.0, np.inf], [-np.inf], [[1.0, 2.0]]])
def test_neuron_rejects_bad_inputs(u):
    n = WuxingNeuron()
    with pytest.raises(ValueError, match="u must be"):
        n.response(u)
    with pytest.raises(ValueError, match="u must be"):
        n.steady_state(u)


# ---------------------------------------------------------------------------
# Huge but finite values
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("coupling", ["rate", "flux"])
@pytest.mark.parametrize("hidden", [(5,), (5, 5)], ids=["1-hidden", "2-hidden"])
@pytest.mark.parametrize("scale", [1e6, 1e100, 1e200, -1e200, 1e300, -1e300])
def test_huge_X_at_predict_handled(data, coupling, hidden, scale):
    # Observed: HANDLED (no error; finite probabilities summing to one) for
    # |X| up to 1e300 in float64, both couplings, one or two hidden layers.
    X, y = data
    model = small(coupling=coupling, hidden_layer_sizes=hidden).fit(X, y)
    Xs = np.vstack([X[:5], np.ones((1, 4)), [[1.0, -1.0, 1.0, -1.0]]]) * scale
    try:
        P = model.predict_proba(Xs)
    except ValueError as e:  # a clear error would be fine too
        assert "large" in str(e) or "finite" in str(e)
        return
    assert_valid_proba(P, 3)
    assert_predict_consistent(model, Xs, P)


@pytest.mark.parametrize("scale", [1.7e308, -1.7e308])
def test_huge_X_at_predict_flux_handled(data, scale):
    # Observed: HANDLED for the flux coupling even when X @ coefs_ overflows
    # to +-inf: the atan bound maps inf to a finite inflow.
    X, y = data
    model = small(coupling="flux").fit(X, y)
    with np.errstate(over="ignore"):
        P = model.predict_proba(np.full((3, 4), scale))
    assert_valid_proba(P, 3)


@pytest.mark.parametrize("dtype, scale", [(np.float64, 1.7e308), (np.float64, -1.7e308),
                                          (np.float32, 3e38), (np.float32, -3e38)])
def test_overflowing_X_at_predict_rate(data, dtype, scale):
    X, y = data
    model = small().fit(X.astype(dtype), y)
    Xs = (np.vstack([X[:3], np.ones((1, 4))]) * scale).astype(dtype)
    assert np.all(np.isfinite(Xs))  # valid input, accepted by validation
    with np.errstate(all="ignore"):
        try:
            P = model.predict_proba(Xs)
        except ValueError:
            return  # a clear error would be the fix
    assert_valid_proba(P, 3)


@pytest.mark.parametrize("coupling", ["rate", "flux"])
@pytest.mark.parametrize("scale", [1e150, 1e200, 1e300, 1.7e308])
def test_huge_X_at_fit(data, coupling, scale):
    # Observed (adam, default learning rate): HANDLED for 1e150..1e300 (finite
    # coefficients and probabilities); rejected with the "non-finite parameter
    # weights" error for rate coupling at 1.7e308.
    X, y = data
    model = small(coupling=coupling)
    with np.errstate(all="ignore"):
        try:
            model.fit(X * scale, y)
        except ValueError as e:
            assert "Solver produced non-finite parameter weights" in str(e)
            assert_same(vars(model), vars(small(coupling=coupling)))
            return
        P = model.predict_proba(X * scale)
    assert all(np.all(np.isfinite(c)) for c in model.coefs_ + model.intercepts_)
    assert_valid_proba(P, 3)


LARGE_STEP_CASES = [
    # (solver, learning_rate_init, X scale, coupling); observed outcome noted
    pytest.param("adam", 1e3, 1.0, "rate", id="adam-lr1e3"),        # finite
    pytest.param("sgd", 1e3, 1.0, "rate", id="sgd-lr1e3"),          # finite
    pytest.param("sgd", 1e3, 1.0, "flux", id="sgd-lr1e3-flux"),     # finite
    pytest.param("adam", 3e-3, 1e150, "rate", id="adam-X1e150"),    # finite
    pytest.param("sgd", 3e-3, 1e150, "rate", id="sgd-X1e150"),      # error
    pytest.param("sgd", 1e3, 1e150, "rate", id="sgd-lr1e3-X1e150"),  # error
    pytest.param("sgd", 1e3, 1e150, "flux", id="sgd-lr1e3-X1e150-flux"),  # finite
    pytest.param("adam", 1e300, 1.0, "rate", id="adam-lr1e300"),    # error
    pytest.param("sgd", 1e100, 1.0, "flux", id="sgd-lr1e100-flux"),  # error
]


def _check_large_step(data, solver, lr, scale, coupling, max_iter=20):
    X, y = data
    Xs = X * scale
    model = small(solver=solver, learning_rate_init=lr, coupling=coupling,
                  max_iter=max_iter)
    with np.errstate(all="ignore"):
        try:
            model.fit(Xs, y)
        except ValueError as e:
            assert "Solver produced non-finite parameter weights" in str(e)
            assert "learning rate is too large" in str(e)
            # still unfitted, exactly as constructed
            assert_same(vars(model), vars(small(solver=solver, learning_rate_init=lr,
                                                coupling=coupling, max_iter=max_iter)))
            with pytest.raises(NotFittedError):
                model.predict(X)
            return "error"
        P = model.predict_proba(Xs)
    for c in model.coefs_ + model.intercepts_:
        assert np.all(np.isfinite(c))
    assert np.isfinite(model.loss_) and np.all(np.isfinite(model.loss_curve_))
    # finite coefficients are not enough: they must give valid answers
    assert_valid_proba(P, 3)
    return "finite"


@pytest.mark.parametrize("solver, lr, scale, coupling", LARGE_STEP_CASES)
def test_large_learning_rate_never_silently_nan(data, solver, lr, scale, coupling):
    outcome = _check_large_step(data, solver, lr, scale, coupling)
    assert outcome in ("error", "finite")


@pytest.mark.parametrize("solver, lr, scale, hidden", [
    ("sgd", 1e60, 1.0, (5,)),
    ("sgd", 1e30, 1.0, (5, 5)),
    ("sgd", 1e20, 1e50, (5,)),
])
def test_large_step_fit_succeeds_but_predicts_nan(data, solver, lr, scale, hidden):
    X, y = data
    model = small(solver=solver, learning_rate_init=lr, max_iter=3,
                  hidden_layer_sizes=hidden)
    with np.errstate(all="ignore"):
        try:
            model.fit(X * scale, y)
        except ValueError as e:
            assert "non-finite" in str(e)
            return  # a clear error would be the fix
        P = model.predict_proba(X * scale)
    assert all(np.all(np.isfinite(c)) for c in model.coefs_)
    assert_valid_proba(P, 3)


# ---------------------------------------------------------------------------
# Nothing lost: a call that raises leaves the estimator exactly as it was
# ---------------------------------------------------------------------------
def _fitted_pair(data, **kw):
    X, y = data
    model = small(**kw).fit(X, y)
    model.partial_fit(X, y)  # so that _optimizer carries partial_fit state
    return model, copy.deepcopy(model)


def _assert_untouched(model, ref, data):
    X, y = data
    assert_same(vars(model), vars(ref))
    assert_same_coefs(model, ref)
    np.testing.assert_array_equal(model.predict_proba(X), ref.predict_proba(X))
    for attr in ("n_iter_", "t_", "loss_", "loss_curve_", "classes_",
                 "n_features_in_", "best_loss_"):
        assert_same(getattr(model, attr), getattr(ref, attr), attr)
    # the optimiser's state (Adam moments, step count) and the RNG are intact:
    # one more partial_fit gives bit-identical coefficients
    model.partial_fit(X, y)
    ref.partial_fit(X, y)
    assert_same_coefs(model, ref)
    assert_same(vars(model), vars(ref))


def test_atomic_warm_start_fit_with_nan(data):
    X, y = data
    model, ref = _fitted_pair(data, warm_start=True)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        model.fit(with_value(X, 4, 1, np.nan), y)
    _assert_untouched(model, ref, data)


def test_atomic_warm_start_fit_classes_changed(data):
    X, y = data
    model, ref = _fitted_pair(data, warm_start=True)
    with pytest.raises(ValueError, match="warm_start can only be used where `y` has "
                       "the same classes"):
        model.fit(X, (y > 0).astype(int))
    _assert_untouched(model, ref, data)


def test_atomic_warm_start_fit_hidden_sizes_changed(data):
    X, y = data
    model, ref = _fitted_pair(data, warm_start=True)
    model.set_params(hidden_layer_sizes=(7,))
    with pytest.raises(ValueError, match="warm_start needs the same hidden_layer_sizes"):
        model.fit(X, y)
    model.set_params(hidden_layer_sizes=(5,))
    _assert_untouched(model, ref, data)


def test_atomic_partial_fit_labels_outside_classes(data):
    X, y = data
    model, ref = _fitted_pair(data)
    with pytest.raises(ValueError, match="`y` has classes not in `classes`"):
        model.partial_fit(X, np.where(y == 2, 7, y))
    _assert_untouched(model, ref, data)


@pytest.mark.parametrize("n_features", [3, 5])
def test_atomic_partial_fit_wrong_n_features(data, n_features):
    X, y = data
    model, ref = _fitted_pair(data)
    with pytest.raises(ValueError, match=f"X has {n_features} features"):
        model.partial_fit(np.random.RandomState(3).rand(40, n_features), y)
    _assert_untouched(model, ref, data)


def test_atomic_fresh_fit_with_new_shape_fails(data):
    # A non-warm fit resets n_features_in_ before it finds y bad: the reset
    # must be undone.
    X, _ = data
    model, ref = _fitted_pair(data)
    with pytest.raises(ValueError, match="number of classes has to be greater than one"):
        model.fit(np.random.RandomState(4).rand(40, 6), np.zeros(40))
    assert model.n_features_in_ == 4
    _assert_untouched(model, ref, data)


def test_atomic_keeps_feature_names(data):
    pd = pytest.importorskip("pandas")
    X, y = data
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    model = small().fit(df, y)
    ref = copy.deepcopy(model)
    with pytest.raises(ValueError, match="number of classes has to be greater than one"):
        model.fit(X, np.zeros(40))  # no names: would delete feature_names_in_
    np.testing.assert_array_equal(model.feature_names_in_, ["a", "b", "c", "d"])
    assert_same(vars(model), vars(ref))


def test_atomic_set_params_invalid_then_fit(data):
    X, y = data
    model, ref = _fitted_pair(data)
    model.set_params(K3=-1)
    with pytest.raises(InvalidParameterError, match="'K3' parameter"):
        model.fit(X, y)
    assert model.K3 == -1  # the parameter stays as set; fitted state untouched
    model.set_params(K3=1.0)
    _assert_untouched(model, ref, data)


@pytest.mark.parametrize("params", [
    dict(output_scale=-4.0),
    dict(learning_rate_init=-1.0, solver="sgd"),
    dict(coef_bound=-1.0),
    dict(momentum=5.0, solver="sgd"),
    dict(K3=-1.0),
], ids=lambda p: ",".join(p))
def test_partial_fit_after_fit_rejects_invalid_params(data, params):
    X, y = data
    model, ref = _fitted_pair(data)
    model.set_params(**params)
    name = next(iter(params))
    with pytest.raises(InvalidParameterError, match=f"'{name}' parameter"):
        model.partial_fit(X, y)
    model.set_params(**{k: ref.get_params()[k] for k in params})
    _assert_untouched(model, ref, data)


def test_atomic_divergence_during_warm_start(data):
    # The failure happens after the optimiser has taken steps on a copy of the
    # coefficients: everything must be rolled back.
    X, y = data
    model, ref = _fitted_pair(data, warm_start=True)
    model.set_params(solver="sgd", learning_rate_init=1e300)
    with np.errstate(all="ignore"), pytest.raises(
        ValueError, match="Solver produced non-finite parameter weights"
    ):
        model.fit(X, y)
    model.set_params(solver="adam", learning_rate_init=ref.learning_rate_init)
    _assert_untouched(model, ref, data)


def test_atomic_divergence_during_partial_fit(data):
    # sgd keeps its step size across partial_fit calls; X * 1e300 makes the
    # epoch diverge after the optimiser has moved (a copy of) the coefficients
    X, y = data
    model = small(solver="sgd", learning_rate_init=1e10, max_iter=1).fit(X, y)
    ref = copy.deepcopy(model)
    with np.errstate(all="ignore"), pytest.raises(
        ValueError, match="Solver produced non-finite parameter weights"
    ):
        model.partial_fit(X * 1e300, y)
    _assert_untouched(model, ref, data)


def test_atomic_interrupt_mid_training(data, monkeypatch):
    # KeyboardInterrupt after the second epoch (verbose prints once per
    # epoch): the estimator must be as before the call.
    import sklearn_symnet._base as clf_module

    X, y = data
    model, ref = _fitted_pair(data, warm_start=True, verbose=True, max_iter=5)
    calls = []

    def interrupting_print(*args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(clf_module, "print", interrupting_print, raising=False)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, y)
    assert len(calls) == 2
    model.set_params(verbose=False)
    ref.set_params(verbose=False)
    _assert_untouched(model, ref, data)


# ---------------------------------------------------------------------------
# Numerical safety: property-based
# ---------------------------------------------------------------------------
def neuron_strategy():
    return st.builds(
        WuxingNeuron,
        K1=st.floats(-2, 2, allow_nan=False),
        K2=st.floats(-2, 2, allow_nan=False),
        K3=st.floats(0.05, 5),
        r=st.floats(0.05, 5),
        coupling=st.sampled_from(["rate", "flux"]),
        input_element=st.integers(0, 4),
        output_element=st.integers(0, 4),
    )


EXTREMES = [1e300, -1e300, 1e150, -1e150, 1e6, -1e6, 0.0, 5e-324, -5e-324]
inputs_strategy = st.lists(
    st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.sampled_from(EXTREMES)),
    min_size=1, max_size=20,
).map(lambda v: np.array(v + EXTREMES[:4]))

PROPERTY = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(neuron=neuron_strategy(), u=inputs_strategy)
def test_property_neuron_response_finite(neuron, u):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        s, g = neuron.response(u)
    assert s.shape == g.shape == u.shape
    assert np.all(np.isfinite(s)), (neuron, u[~np.isfinite(s)])
    assert np.all(np.isfinite(g)), (neuron, u[~np.isfinite(g)])
    # the signal is a displacement from x*: the output level s + x* >= 0
    assert np.all(s + neuron.fixed_point >= -1e-12), (neuron, s.min())
    if neuron.coupling == "flux":
        # bounded input: bounded signal
        assert np.all(np.abs(s) < 1e6)


@PROPERTY
@given(neuron=neuron_strategy(), u=inputs_strategy)
def test_property_neuron_steady_state_nonnegative_finite(neuron, u):
    X = neuron.steady_state(u)
    assert X.shape == (u.shape[0], 5)
    assert np.all(np.isfinite(X)), (neuron, u[~np.all(np.isfinite(X), axis=1)])
    assert np.all(X >= -1e-12), (neuron, X.min(axis=0))
    # at u = 0 the neuron rests at its fixed point
    x0 = neuron.steady_state([0.0])[0]
    np.testing.assert_allclose(x0, neuron.fixed_point, rtol=1e-9)


def test_steady_state_output_element_never_negative():
    # Regression: the output element's slope used to be the reverse-system gain
    # (a numerical solve, -8.3e-17 instead of 0 on the piece where the output
    # element is extinct), giving steady states of -8.3e-17 * u (-8.3e+283 at
    # u = 1e300) for this neuron.
    n = WuxingNeuron(K1=-0.6858734159487447, K2=-0.4806419321001596,
                     K3=0.4530557489981083, r=0.9030195886671758, coupling="rate",
                     input_element=3, output_element=4)
    u = np.array([1e3, 1e6, 1e150, 1e300])
    X = n.steady_state(u)
    assert np.all(X >= -1e-12), X[:, 4]
    s, _ = n.response(u)
    assert np.all(s + n.fixed_point >= -1e-12), s


@pytest.mark.parametrize("kw", [
    # a tiny constant: the slope of element 2 is -1.6e-110 (below rounding
    # noise of the other entries); it used to extrapolate to -1.6e190 at 1e300
    dict(K1=0.0, K2=1.5859256494982565e-110, input_element=0, output_element=0),
    # K1 = K2 = K3: an exactly zero slope computed as -9e-18, extrapolated to
    # -9e282 at u = 1e300
    dict(K1=0.8783011105958924, K2=0.8783011105958924, K3=0.8783011105958924,
         input_element=1, output_element=0),
])
def test_rate_table_rounding_noise_never_gives_negative_levels(kw):
    n = WuxingNeuron(**kw)
    u = np.array([-1e300, -1e150, -1e6, -2.0, 0.0, 2.0, 1e6, 1e150, 1e300])
    X = n.steady_state(u)
    assert np.all(np.isfinite(X)) and np.all(X >= 0), X
    np.testing.assert_allclose(n.steady_state([0.0])[0], n.fixed_point, rtol=1e-12)
    # away from the extremes the table still is the ODE's steady state
    ref = n.integrate([-0.5, 0.5], t_max=200.0)
    np.testing.assert_allclose(n.steady_state([-0.5, 0.5]), ref, atol=1e-8)


@PROPERTY
@given(
    neuron=neuron_strategy(),
    hidden=st.sampled_from([(3,), (4, 3)]),
    seed=st.integers(0, 2**16),
    X_test=arrays(np.float64, (6, 3),
                  elements=st.one_of(st.floats(-1e6, 1e6, allow_nan=False),
                                     st.sampled_from([1e6, -1e6, 0.0]))),
)
def test_property_fitted_predict_proba_valid(neuron, hidden, seed, X_test):
    rng = np.random.RandomState(seed)
    X = rng.randn(24, 3)
    y = np.arange(24) % 3
    model = SymNetClassifier(
        hidden_layer_sizes=hidden, K1=neuron.K1, K2=neuron.K2, K3=neuron.K3,
        r=neuron.r, coupling=neuron.coupling, input_element=neuron.input_element,
        output_element=neuron.output_element, max_iter=3, random_state=seed,
    )
    if not neuron.responds:  # uncoupled elements: a clear error, never a constant model
        with pytest.raises(ValueError, match="never responds"):
            model.fit(X, y)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    P = model.predict_proba(X_test)
    assert_valid_proba(P, 3)
    assert_predict_consistent(model, X_test, P)
    logP = model.predict_log_proba(X_test)
    assert np.all(np.isfinite(logP)) and np.all(logP <= 0)


# ---------------------------------------------------------------------------
# float32 / float64
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:900] / 16, y[:900]


def test_float32_float64_agree(digits):
    X, y = digits
    kw = dict(hidden_layer_sizes=(32,), max_iter=10, random_state=0)
    m64 = SymNetClassifier(**kw).fit(X, y)
    m32 = SymNetClassifier(**kw).fit(X.astype(np.float32), y)
    for c in m32.coefs_ + m32.intercepts_:
        assert c.dtype == np.float32
    for c in m64.coefs_ + m64.intercepts_:
        assert c.dtype == np.float64
    assert m64.score(X, y) > 0.8  # well trained enough for a meaningful check
    agree = np.mean(m32.predict(X.astype(np.float32)) == m64.predict(X))
    assert agree >= 0.99
    P32 = m32.predict_proba(X.astype(np.float32))
    assert_valid_proba(P32, 10, atol=1e-6)
    # a float64 X on a float32 model is cast, not an error
    np.testing.assert_array_equal(m32.predict(X), m32.predict(X.astype(np.float32)))


# ---------------------------------------------------------------------------
# Persistence
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["pickle", "joblib"])
@pytest.mark.parametrize("kw", [dict(), dict(coupling="flux", coef_bound=2.0,
                                             solver="sgd")], ids=["adam", "sgd-flux"])
def test_persistence_round_trip(data, tmp_path, how, kw):
    X, y = data
    model = small(**kw).fit(X, y)
    if how == "pickle":
        loaded = pickle.loads(pickle.dumps(model))
    else:
        path = tmp_path / "model.joblib"
        joblib.dump(model, path)
        loaded = joblib.load(path)
    assert loaded is not model
    assert_same(vars(loaded), vars(model))
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    for _ in range(2):
        loaded.partial_fit(X, y)
        model.partial_fit(X, y)
        assert_same_coefs(loaded, model)
    assert_same(vars(loaded), vars(model))


# ---------------------------------------------------------------------------
# Determinism
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("kw", [dict(), dict(early_stopping=True),
                                dict(solver="sgd", coupling="flux")],
                         ids=["adam", "early-stopping", "sgd-flux"])
def test_same_random_state_same_model(data, kw):
    X, y = data
    a = small(**kw).fit(X, y)
    b = small(**kw).fit(X, y)
    assert_same_coefs(a, b)
    assert a.loss_curve_ == b.loss_curve_
    c = small(**{**kw, "random_state": 1}).fit(X, y)
    assert not np.array_equal(a.coefs_[0], c.coefs_[0])  # the seed matters


@pytest.fixture(scope="module")
def big_data():
    rng = np.random.RandomState(0)
    Xs = rng.rand(600, 200)
    Xs[rng.rand(600, 200) < 0.9] = 0.0  # ~10% non-zeros: zero-skipping path
    ys = rng.randint(0, 3, 600)
    Xd = rng.rand(400, 200) + 0.05      # fully dense: gather + BLAS path
    yd = rng.randint(0, 3, 400)
    return {"sparse-ish": (Xs, ys), "dense": (Xd, yd)}


BIG_KW = dict(hidden_layer_sizes=(100,), batch_size=128, max_iter=2, random_state=0)


def test_big_data_uses_parallel_paths(big_data):
    # the thread tests below are only meaningful above the threshold
    for X, _ in big_data.values():
        assert BIG_KW["batch_size"] * X.shape[1] * 100 >= PARALLEL_MIN_WORK
    Xs = big_data["sparse-ish"][0]
    assert np.count_nonzero(Xs) / Xs.size < 0.5
    assert _inputs.training_skips_zeros(Xs, 100)  # at BIG_KW's width: zero skipping
    assert _inputs.prediction_skips_zeros(Xs, Xs.dtype, 100)
    assert np.count_nonzero(big_data["dense"][0]) == big_data["dense"][0].size


@pytest.mark.parametrize("which", ["sparse-ish", "dense"])
def test_n_jobs_does_not_change_the_model(big_data, which):
    X, y = big_data[which]
    a = SymNetClassifier(n_jobs=1, **BIG_KW).fit(X, y)
    b = SymNetClassifier(n_jobs=2, **BIG_KW).fit(X, y)
    assert_same_coefs(a, b)
    assert a.loss_curve_ == b.loss_curve_
    a.partial_fit(X, y)
    b.partial_fit(X, y)
    assert_same_coefs(a, b)


@pytest.mark.parametrize("which", ["sparse-ish", "dense"])
def test_threadpool_limits_do_not_change_the_model(big_data, which):
    X, y = big_data[which]
    with threadpool_limits(1):
        a = SymNetClassifier(**BIG_KW).fit(X, y)
    with threadpool_limits(2):
        b = SymNetClassifier(**BIG_KW).fit(X, y)
    assert_same_coefs(a, b)
    assert a.loss_curve_ == b.loss_curve_


def test_csr_and_dense_give_the_same_model(big_data):
    X, y = big_data["sparse-ish"]
    a = SymNetClassifier(**BIG_KW).fit(X, y)
    b = SymNetClassifier(**BIG_KW).fit(sp.csr_matrix(X), y)
    assert_same_coefs(a, b)
    np.testing.assert_allclose(b.predict_proba(sp.csr_matrix(X)), a.predict_proba(X),
                               rtol=1e-12, atol=1e-12)


def test_predict_proba_independent_of_n_jobs(big_data):
    X, y = big_data["sparse-ish"]
    model = SymNetClassifier(n_jobs=1, **BIG_KW).fit(X, y)
    # enough rows that the steady-state kernel runs threaded (10 * n * 100)
    Xp = np.vstack([X] * 4)
    assert 10 * Xp.shape[0] * 100 >= PARALLEL_MIN_WORK
    P1 = model.predict_proba(Xp)
    model.set_params(n_jobs=2)
    P2 = model.predict_proba(Xp)
    with threadpool_limits(1):
        P3 = model.predict_proba(Xp)
    np.testing.assert_array_equal(P1, P2)
    np.testing.assert_array_equal(P1, P3)
    assert_valid_proba(P1, 3)


def test_concurrent_predict(data):
    rng = np.random.RandomState(5)
    X = rng.rand(300, 4)
    y = np.digitize(X[:, 0] + 0.3 * X[:, 1], [0.5, 0.9])
    model = small(hidden_layer_sizes=(16, 8), max_iter=60).fit(X, y)
    batches = [rng.rand(200 + 10 * i, 4) for i in range(20)]
    expected = [(model.predict(b), model.predict_proba(b)) for b in batches]

    def work(i):
        return model.predict(batches[i]), model.predict_proba(batches[i])

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(work, range(20)))
    for (p, P), (pe, Pe) in zip(results, expected):
        np.testing.assert_array_equal(p, pe)
        np.testing.assert_array_equal(P, Pe)
    assert len(np.unique(np.concatenate([p for p, _ in expected]))) > 1


@pytest.mark.parametrize("path", ["blas", "zero-skipping"])
def test_concurrent_predicts_leave_blas_threads_as_they_were(path, monkeypatch):
    # prediction holds BLAS to one thread (on either first-layer path); the
    # limit is process-wide, so overlapping calls must restore it exactly
    # once, and calls from other Python threads give the main thread's bits
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_info

    if path == "zero-skipping":  # 20 % non-zeros
        skip_zeros_up_to_half(monkeypatch)
    rng = np.random.default_rng(0)
    X = rng.random((600, 200)) * (rng.random((600, 200)) < 0.2)
    y = (X[:, :100].sum(axis=1) > X[:, 100:].sum(axis=1)).astype(int)
    clf = SymNetClassifier(hidden_layer_sizes=(100,), max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, y)

    def blas_threads():
        return sorted((i["filepath"], i["num_threads"]) for i in threadpool_info()
                      if i["user_api"] == "blas")

    before = blas_threads()
    expected = clf.predict_proba(X)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: clf.predict_proba(X), range(20)))
    assert all(np.array_equal(r, expected) for r in results)
    assert blas_threads() == before


def test_blas_is_held_to_one_thread_in_any_python_thread():
    """threadpoolctl 3.8 lets only the first Python thread that sets
    OpenBLAS's (process-wide) limit change it until it lets go: the kernels'
    BLAS limit must still hold in every thread, and be restored from any."""
    import threading

    from threadpoolctl import threadpool_info, threadpool_limits

    from sklearn_symnet._threads import blas_single_thread

    def openblas_threads():
        return [i["num_threads"] for i in threadpool_info() if i["internal_api"] == "openblas"]

    if not openblas_threads():
        pytest.skip("no OpenBLAS loaded")
    with threadpool_limits(2, user_api="blas"):
        seen = {}

        def inside(tag):
            with blas_single_thread():
                seen[tag] = openblas_threads()

        inside("main")
        for tag in ("first", "second"):
            t = threading.Thread(target=inside, args=(tag,))
            t.start()
            t.join()
        assert all(n == 1 for v in seen.values() for n in v), seen
        # entered in one thread, left in another: the user's setting comes back
        entered, leave = threading.Event(), threading.Event()

        def hold():
            with blas_single_thread():
                entered.set()
                leave.wait(10)

        t = threading.Thread(target=hold)
        t.start()
        entered.wait(10)
        with blas_single_thread():
            leave.set()
            t.join()
            assert all(n == 1 for n in openblas_threads())
        assert all(n == 2 for n in openblas_threads())


def test_fit_in_another_python_thread_gives_the_same_model():
    """A fit in a worker thread (a threading backend, Dask's threads) holds
    BLAS to one thread as the main thread's does: the very same model."""
    import threading

    rng = np.random.RandomState(0)
    X = rng.rand(400, 200) + 0.05  # dense: the gather + BLAS path
    y = rng.randint(0, 3, 400)
    kw = dict(hidden_layer_sizes=(100,), batch_size=128, max_iter=2, random_state=0)
    main = SymNetClassifier(**kw).fit(X, y)
    models = []
    t = threading.Thread(target=lambda: models.append(SymNetClassifier(**kw).fit(X, y)))
    t.start()
    t.join()
    for a, b in zip(main.coefs_ + main.intercepts_, models[0].coefs_ + models[0].intercepts_):
        assert np.array_equal(a, b)
    assert np.array_equal(main.predict_proba(X), models[0].predict_proba(X))
