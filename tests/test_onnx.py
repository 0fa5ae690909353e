"""ONNX export (sklearn_symnet.onnx): onnxruntime against the package.

Skipped where the ``onnx`` extra (skl2onnx, onnx, onnxruntime) is absent;
``pip install ".[tests]"`` installs it.  Every case compares onnxruntime's
labels and probabilities (or predictions) with the package's own for the
same fitted model: float64 models to about 1e-12, float32 models to about
1e-5 (onnxruntime computes in float32 where the package's kernels use
double inside).
"""

import copy
import subprocess
import sys
import warnings

import numpy as np
import pytest
from conftest import load_script
from numpy.testing import assert_allclose

pytest.importorskip("onnx")
pytest.importorskip("skl2onnx")
ort = pytest.importorskip("onnxruntime")

from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from sklearn_symnet import SymNetClassifier, SymNetRegressor  # noqa: E402
from sklearn_symnet.onnx import register_converters, to_onnx  # noqa: E402

TOL = {np.float64: dict(rtol=1e-12, atol=1e-14), np.float32: dict(rtol=1e-5, atol=2e-6)}
# a label may differ only where the package's two best logits are this close
TIE = {np.float64: 1e-9, np.float32: 1e-4}
COUPLINGS = {
    "rate": dict(coupling="rate"),
    "flux": dict(coupling="flux"),
    "flux-branch": dict(coupling="flux", flux_bound="branch"),
}
HIDDEN = [(), (8,), (7, 5)]


@pytest.fixture(scope="module")
def data():
    X, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(0)
    rows = rng.choice(X.shape[0], 240, replace=False)
    X, y = X[rows] / 16.0, y[rows]
    labels = np.c_[y % 2, y > 4, y % 3 == 0].astype(int)  # multilabel indicators
    return X, y, labels


def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


def _session(onx):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    return ort.InferenceSession(onx.SerializeToString(), so,
                                providers=["CPUExecutionProvider"])


def _run(est_or_pipe, X, dtype, **kw):
    """onnxruntime's outputs for ``X`` given in the model's dtype."""
    sess = _session(to_onnx(est_or_pipe, dtype=dtype, **kw))
    return sess.run(None, {"X": np.asarray(X, dtype=dtype)})


def _assert_labels(model, X, labels, dtype):
    """Labels identical, except (never more than 1 %) at a near tie of the
    package's logits, where rounding may pick either."""
    expected = model.predict(X)
    assert labels.shape == expected.shape
    differ = labels != expected
    if differ.ndim == 2:  # multilabel: the pair's log-odds is the margin
        logp = model.predict_log_proba(X)
        margin = np.abs(logp - np.log1p(-np.exp(logp)))
    else:
        logp = np.sort(model.predict_log_proba(X), axis=1)
        margin = logp[:, -1] - logp[:, -2]
    assert np.all(margin[differ] < TIE[dtype]), "a label differs away from a tie"
    assert differ.mean() <= 0.01


# ----------------------------------------------------------------------
# Parity over the estimator / coupling / read-out / depth / dtype matrix
# ----------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("task", ["binary", "multiclass", "multilabel"])
@pytest.mark.parametrize("coupling", sorted(COUPLINGS))
def test_classifier_parity(data, coupling, task, dtype):
    X, y, labels = data
    target = {"binary": y > 4, "multiclass": y, "multilabel": labels}[task]
    Xd = X.astype(dtype)
    for i, hidden in enumerate(HIDDEN):
        readout = ("difference", "signal")[(i + len(task)) % 2]
        clf = _fit(SymNetClassifier(hidden_layer_sizes=hidden, readout=readout, max_iter=4,
                                    random_state=i, **COUPLINGS[coupling]), Xd, target)
        assert clf._free.dtype == dtype
        label, proba = _run(clf, Xd, dtype)
        assert proba.dtype == dtype
        assert_allclose(proba, clf.predict_proba(Xd), **TOL[dtype])
        _assert_labels(clf, Xd, label, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("coupling", sorted(COUPLINGS))
def test_regressor_parity(data, coupling, dtype):
    X, y, _ = data
    Xd = X.astype(dtype)
    targets = [100.0 + 3.0 * y, np.c_[y, y ** 2 / 10.0]]  # 1-D and 2-D y
    for i, (hidden, readout) in enumerate(zip(HIDDEN, ["difference", "signal", "linear"])):
        target = targets[i % 2]
        reg = _fit(SymNetRegressor(hidden_layer_sizes=hidden, readout=readout, max_iter=4,
                                   random_state=i, **COUPLINGS[coupling]), Xd, target)
        (pred,) = _run(reg, Xd, dtype)
        expected = reg.predict(Xd)
        assert pred.dtype == dtype
        assert pred.shape == (len(X), 1 if target.ndim == 1 else target.shape[1])
        scale = np.abs(expected).max()
        assert_allclose(pred.reshape(expected.shape) / scale, expected / scale,
                        **TOL[dtype])


@pytest.mark.parametrize("coupling", sorted(COUPLINGS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_per_unit_tables(data, coupling, dtype):
    """Neurons with constants of their own (assigned ``neuron_constants_``):
    per-unit tables with different pieces, reference pieces and, for flux
    with the branch bound, an unbounded side (K1=1, K2=-1)."""
    X, y, _ = data
    clf = _fit(SymNetClassifier(hidden_layer_sizes=(9,), max_iter=3, random_state=0,
                                **COUPLINGS[coupling]), X.astype(dtype), y)
    ks = np.array([[0.3, 0.2], [-1.5, -1.0], [2.0, 1.5], [-0.5, 1.5], [2.0, 0.2],
                   [1.0, -1.0]])
    constants = [c.copy() for c in clf.neuron_constants_]
    for c in constants:
        c[:, :2] = ks[np.arange(len(c)) % (len(ks) - (coupling == "rate"))]
    clf.neuron_constants_ = constants
    tables = clf._fitted_tables()
    assert all(t.n_rows > 1 for t in tables)
    if coupling == "flux-branch":
        assert np.isinf(tables[0]._flux[:, 1]).any()
    label, proba = _run(clf, X, dtype)
    assert_allclose(proba, clf.predict_proba(X.astype(dtype)), **TOL[dtype])
    _assert_labels(clf, X.astype(dtype), label, dtype)


@pytest.mark.parametrize("sharing", ["unit", "layer"])
@pytest.mark.parametrize("coupling", sorted(COUPLINGS))
def test_trained_constants(data, coupling, sharing):
    """Neurons whose constants were trained (``neuron_params="all"``)."""
    X, y, _ = data
    for dtype in (np.float64, np.float32):
        clf = _fit(SymNetClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0,
                                    neuron_params="all", neuron_sharing=sharing,
                                    **COUPLINGS[coupling]), X.astype(dtype), y)
        assert [t.n_rows for t in clf._fitted_tables()] == (
            [8, 20] if sharing == "unit" else [1, 1])
        label, proba = _run(clf, X, dtype)
        assert_allclose(proba, clf.predict_proba(X.astype(dtype)), **TOL[dtype])
        _assert_labels(clf, X.astype(dtype), label, dtype)


def test_mixed_coupling_and_assigned_coefficients(data):
    """``output_coupling`` other than ``coupling``, and coefficients assigned
    after the fit (the graph reads what prediction uses)."""
    X, y, _ = data
    clf = _fit(SymNetClassifier(hidden_layer_sizes=(8,), coupling="rate",
                                output_coupling="flux", max_iter=3, random_state=0), X, y)
    assert [t.coupling for t in clf._fitted_tables()] == ["rate", "flux"]
    clf.coefs_[0] = 0.5 * clf.coefs_[0]
    clf.intercepts_[1] = clf.intercepts_[1] + 0.1
    label, proba = _run(clf, X, np.float64)
    assert_allclose(proba, clf.predict_proba(X), **TOL[np.float64])
    _assert_labels(clf, X, label, np.float64)


def test_far_breakpoints(data, monkeypatch):
    """Rate tables with breakpoints far from the inputs (+-1e100), pieces on
    both sides of zero and rows of different lengths (padding): the graph's
    sum of Relu terms never cancels against a far piece's line."""
    X, y, _ = data
    clf = _fit(SymNetClassifier(hidden_layer_sizes=(4,), readout="signal", max_iter=3,
                                random_state=0), X, y)
    hidden, out = clf._fitted_tables()
    table = copy.copy(hidden)
    bp = np.array([[-1e100, -0.5, 1e100], [-1.0, 0.5, np.inf], [0.1, np.inf, np.inf],
                   [-1e100, np.inf, np.inf]])
    slope = np.array([[2.0, 0.0, 0.5, -1.0], [0.0, 0.3, 0.1, 0.1], [0.2, 0.9, 0.9, 0.9],
                      [1.5, 0.25, 0.25, 0.25]])
    icpt = np.zeros_like(slope)
    icpt[:, 1] = [0.1, 0.05, 0.0, 0.2]
    change = np.where(np.isfinite(bp), bp, 0.0) * -np.diff(slope, axis=1)
    icpt[:, 0] = icpt[:, 1] - change[:, 0]  # continuity at every breakpoint
    icpt[:, 2] = icpt[:, 1] + change[:, 1]
    icpt[:, 3] = icpt[:, 2] + change[:, 2]
    table._bp, table._slope, table._icpt = bp, slope, icpt
    table._gain = np.zeros_like(slope)
    monkeypatch.setattr(clf, "_fitted_tables", lambda: [table, out])
    signals = clf.layer_signals(X)[0].signals
    assert np.ptp(signals) > 0.1  # the synthetic responses are in use
    label, proba = _run(clf, X, np.float64)
    assert_allclose(proba, clf.predict_proba(X), **TOL[np.float64])
    _assert_labels(clf, X, label, np.float64)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("coupling", ["flux", "flux-branch"])
def test_flux_saturated_inputs(data, coupling, dtype):
    """Inputs so large that atan rounds to pi/2: the inflow stays strictly
    inside its bound (or grows without one), as in the kernel."""
    X, y, _ = data
    reg = _fit(SymNetRegressor(hidden_layer_sizes=(6,), max_iter=3, random_state=0,
                               **COUPLINGS[coupling]), X.astype(dtype), y)
    big = (np.where(X > 0.3, 1.0, -1.0) * 1e20).astype(dtype)
    u = reg.layer_signals(big)[0].inputs
    assert np.abs(u).min() > 1e15  # atan(c u) rounds to pi/2 for most
    (pred,) = _run(reg, big, dtype)
    expected = reg.predict(big)
    assert_allclose(pred[:, 0] / 10, expected / 10, **TOL[dtype])


# ----------------------------------------------------------------------
# Inputs: containers and dtypes, converted to the model's dtype
# ----------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:X has feature names")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_input_containers(data, dtype):
    pd = pytest.importorskip("pandas")
    X, y, _ = data
    clf = _fit(SymNetClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0),
               X.astype(dtype), y)
    reg = _fit(SymNetRegressor(hidden_layer_sizes=(8,), coupling="flux", max_iter=3,
                               random_state=0), X.astype(dtype), y)
    sess_c, sess_r = _session(to_onnx(clf, dtype=dtype)), _session(to_onnx(reg, dtype=dtype))
    sparse = np.where(np.random.default_rng(1).random(X.shape) < 0.9, 0.0, X)
    inputs = {
        "C": np.ascontiguousarray(X),
        "F": np.asfortranarray(X),
        "DataFrame": pd.DataFrame(X, columns=[f"px{i}" for i in range(X.shape[1])]),
        "list": X.tolist(),
        "int": np.rint(16 * X).astype(np.int64),
        "bool": X > 0.5,
        "mostly-zero": sparse,
    }
    for name, Xin in inputs.items():
        Xm = np.asarray(Xin, dtype=dtype)
        label, proba = sess_c.run(None, {"X": Xm})
        assert_allclose(proba, clf.predict_proba(Xin), **TOL[dtype], err_msg=name)
        _assert_labels(clf, Xin, label, dtype)
        (pred,) = sess_r.run(None, {"X": Xm})
        expected = reg.predict(Xin)
        assert_allclose(pred[:, 0] / 10, expected / 10, **TOL[dtype], err_msg=name)


def test_integer_input_tensor(data):
    """An int64 graph input (skl2onnx's own to_onnx on integer X) is cast to
    the model's dtype inside the graph."""
    import skl2onnx

    X, y, _ = data
    Xi = np.rint(16 * X).astype(np.int64)
    clf = _fit(SymNetClassifier(hidden_layer_sizes=(6,), max_iter=3, random_state=0), Xi, y)
    register_converters()
    onx = skl2onnx.to_onnx(clf, Xi[:1], options={"zipmap": False})
    label, proba = _session(onx).run(None, {"X": Xi})
    assert proba.dtype == np.float32  # skl2onnx: float outputs for integer inputs
    assert_allclose(proba, clf.predict_proba(Xi), **TOL[np.float32])
    _assert_labels(clf, Xi, label, np.float32)


# ----------------------------------------------------------------------
# Pipelines, labels, options
# ----------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pipeline_converts_as_a_whole(data, dtype):
    X, y, _ = data
    Xs = 16 * X.astype(dtype)  # unscaled: the scaler matters
    pipe = _fit(make_pipeline(StandardScaler(), SymNetClassifier(
        hidden_layer_sizes=(8,), coupling="flux", max_iter=3, random_state=0)), Xs, y)
    label, proba = _run(pipe, Xs, dtype)
    assert_allclose(proba, pipe.predict_proba(Xs), **TOL[dtype])
    _assert_labels(pipe, Xs, label, dtype)
    rpipe = _fit(make_pipeline(StandardScaler(), SymNetRegressor(
        hidden_layer_sizes=(8,), max_iter=3, random_state=0)), Xs, np.c_[y, -y])
    (pred,) = _run(rpipe, Xs, dtype)
    assert_allclose(pred / 10, rpipe.predict(Xs) / 10, **TOL[dtype])


def test_string_and_bool_labels(data):
    X, y, _ = data
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven",
                      "eight", "nine"])
    for target in (names[y], y > 4, (y % 3).astype(float)):
        clf = _fit(SymNetClassifier(hidden_layer_sizes=(6,), max_iter=3, random_state=0),
                   X, target)
        label, proba = _run(clf, X, np.float64)
        assert_allclose(proba, clf.predict_proba(X), **TOL[np.float64])
        expected = clf.predict(X)
        if expected.dtype.kind in "bf":  # skl2onnx writes such labels as int64
            expected = expected.astype(np.int64)
        assert np.array_equal(label, expected)


def test_classifier_options(data):
    X, y, labels = data
    clf = _fit(SymNetClassifier(hidden_layer_sizes=(6,), max_iter=3, random_state=0),
               X, y + 10)
    X32 = X.astype(np.float32)
    expected = clf.predict_proba(X)
    # zipmap (float32 only: ONNX's ZipMap takes float tensors)
    label, dicts = _run(clf, X, np.float32, zipmap=True)
    assert list(dicts[0]) == list(clf.classes_)
    assert_allclose([[d[c] for c in clf.classes_] for d in dicts], expected, rtol=1e-5,
                    atol=2e-6)
    with pytest.raises(RuntimeError, match="zipmap=False"):
        to_onnx(clf, dtype=np.float64, zipmap=True)
    out = _run(clf, X, np.float64, zipmap="columns")
    assert len(out) == 1 + len(clf.classes_)
    assert_allclose(np.column_stack(out[1:]), expected, **TOL[np.float64])
    # nocl: class indices; output_class_labels: the classes as a third output
    label, _ = _run(clf, X, np.float64,
                    options={SymNetClassifier: {"zipmap": False, "nocl": True}})
    assert np.array_equal(label, np.searchsorted(clf.classes_, clf.predict(X)))
    out = _run(clf, X32, np.float32, options={
        SymNetClassifier: {"zipmap": False, "output_class_labels": True}})
    assert np.array_equal(out[2], clf.classes_)
    # multilabel with zipmap: one dictionary of label probabilities per row
    ml = _fit(SymNetClassifier(hidden_layer_sizes=(6,), max_iter=3, random_state=0),
              X, labels)
    label, dicts = _run(ml, X32, np.float32, zipmap=True)
    assert np.array_equal(label, ml.predict(X32))
    assert_allclose([[d[k] for k in range(3)] for d in dicts], ml.predict_proba(X32),
                    rtol=1e-5, atol=2e-6)


@pytest.mark.parametrize("opset", [9, 13, None])
def test_target_opsets(data, opset):
    X, y, _ = data
    clf = _fit(SymNetClassifier(hidden_layer_sizes=(5,), coupling="flux",
                                flux_bound="branch", max_iter=3, random_state=0), X, y)
    label, proba = _run(clf, X, np.float64, target_opset=opset)
    assert_allclose(proba, clf.predict_proba(X), **TOL[np.float64])


def test_unfitted_and_bad_dtype(data):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        to_onnx(SymNetClassifier(), dtype=np.float64)
    X, y, _ = data
    clf = _fit(SymNetClassifier(hidden_layer_sizes=(3,), max_iter=1), X, y)
    with pytest.raises(ValueError, match="float32 or float64"):
        to_onnx(clf, dtype=np.int64)


def test_missing_extra_names_it(monkeypatch):
    import sklearn_symnet.onnx as symnet_onnx

    monkeypatch.setitem(sys.modules, "skl2onnx", None)  # as if not installed
    with pytest.raises(ImportError, match=r"sklearn-symnet\[onnx\]"):
        symnet_onnx.register_converters()


def test_package_import_does_not_import_skl2onnx(tmp_path):
    code = ("import sys, sklearn_symnet; "
            "assert not {'skl2onnx', 'onnx', 'onnxruntime'} & set(sys.modules)")
    # outside the source tree: the installed package, not the (maybe unbuilt) sources
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)


def test_example_runs(tmp_path, capsys):
    """examples/export_onnx.py in its --quick mode, as tests/test_examples.py
    runs the plotting examples."""
    module = load_script("examples/export_onnx.py")
    assert module.__doc__ and len(module.__doc__.strip()) > 200
    results = module.main(["--out", str(tmp_path), "--quick"])
    assert sorted((r["coupling"], r["dtype"]) for r in results) == [
        ("flux", "float32"), ("flux", "float64"), ("rate", "float32"), ("rate", "float64")]
    for row in results:
        float64 = row["dtype"] == "float64"
        assert row["max_abs_diff"] < (1e-12 if float64 else 1e-5)
        assert row["labels_equal"] or not float64
        assert row["speed_ratio"] > 0
    onx = tmp_path / "symnet_digits.onnx"
    assert onx.is_file() and onx.stat().st_size > 1000
    out = capsys.readouterr().out
    assert "max |difference|" in out and "wrote" in out and str(tmp_path) in out
