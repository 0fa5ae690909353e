"""ONNX export of fitted SymNet estimators (the optional ``onnx`` extra).

A fitted SymNet is a plain feed-forward graph: per layer a matrix product
and a bias, then each neuron's steady-state response, then the read-out.
This module tells `skl2onnx <https://onnx.ai/sklearn-onnx/>`_ how to write
that graph with standard ONNX operators, so that a :class:`SymNetClassifier`
or :class:`SymNetRegressor` -- alone or as the last step of a
:class:`~sklearn.pipeline.Pipeline` -- runs in onnxruntime or any other ONNX
runtime without this package.

* **rate coupling**: the continuous piecewise-affine response, written as
  the line of the piece holding ``u = 0`` plus ``d * Relu(u - breakpoint)``
  for each breakpoint above it and ``d * Relu(breakpoint - u)`` below it
  (``d``: the change of slope there).
* **flux coupling**: the closed-form stable branch (``Atan``, ``Sqrt``).
  onnxruntime has no float64 ``Atan`` kernel; float64 models compute
  ``atan`` in float32 and refine it by one Newton step in float64 on
  ``sin(a) - z cos(a) = 0`` (the error ``e`` becomes ``e - tan(e)``, about
  ``e**3 / 3``): the result is float64-accurate.
* **output head**: ``readout="difference"`` subtracts the pair's signals,
  the classifier's probabilities are ``softmax(output_scale_ * z)``
  (multilabel: the pair's softmax, ``sigmoid(output_scale_ * (z1 - z0))``)
  and its label the arg-max of ``z``; the regressor's prediction is
  ``output_scale_ * z * target_scale_ + target_mean_``.

The graph computes in the model's dtype (a float32 model in float32) and
casts a differently typed input to it, as ``predict`` does.  Outputs follow
skl2onnx's conventions: a classifier has the outputs ``label`` and
``probabilities`` (a ZipMap unless the option ``zipmap=False``), a
regressor one output ``variable`` of shape ``(n_samples, n_outputs)``
(``(n_samples, 1)`` for a 1-D target, as MLPRegressor's converter).
Probabilities and predictions are float64 for a float64 input and float32
otherwise.

Install the extra with ``pip install "sklearn-symnet[onnx]"`` (skl2onnx,
onnx and onnxruntime); importing :mod:`sklearn_symnet` itself never imports
them.
"""

import numbers

import numpy as np

from ._classifier import SymNetClassifier
from ._regressor import SymNetRegressor

__all__ = ["register_converters", "to_onnx"]

CLASSIFIER_ALIAS = "SklearnSymNetClassifier"
REGRESSOR_ALIAS = "SklearnSymNetRegressor"
CLASSIFIER_OPTIONS = {
    "zipmap": [True, False, "columns"],
    "nocl": [False, True],
    "output_class_labels": [False, True],
}

_MISSING = (
    "sklearn_symnet.onnx needs the optional packages skl2onnx, onnx and onnxruntime: "
    'install them with `pip install "sklearn-symnet[onnx]"` (or `pip install ".[onnx]"` '
    "from a source checkout)."
)


def _skl2onnx():
    """Import skl2onnx, or raise an ImportError naming the ``onnx`` extra."""
    try:
        import skl2onnx
    except ImportError as exc:
        raise ImportError(f"{_MISSING} ({exc})") from exc
    return skl2onnx


# ----------------------------------------------------------------------
# What a fitted estimator computes, as plain arrays
# ----------------------------------------------------------------------
def _layer_spec(table, n_units, dtype):
    """The arrays one layer of neurons needs, shaped to broadcast over
    (n_samples, n_units): one row shared by all units, or one per unit."""
    coupling = table.coupling
    if coupling == "linear":
        return {"coupling": "linear"}
    if coupling == "rate":
        bp = np.asarray(table._bp, dtype=np.float64)
        slope = np.asarray(table._slope, dtype=np.float64)
        icpt = np.asarray(table._icpt, dtype=np.float64)
        if bp.shape[0] not in (1, n_units):
            raise ValueError(f"rate table with {bp.shape[0]} rows for {n_units} units")
        # padded columns (+inf in every row) repeat the last piece: drop them
        keep = np.flatnonzero(~np.all(np.isposinf(bp), axis=0))
        n = keep.size
        bp, slope, icpt = bp[:, keep], slope[:, : n + 1], icpt[:, : n + 1]
        if bp.shape[0] > 1 and all(
                np.array_equal(a, a[:1].repeat(a.shape[0], 0)) for a in (bp, slope, icpt)):
            bp, slope, icpt = bp[:1], slope[:1], icpt[:1]
        rows = np.arange(bp.shape[0])
        # the reference piece of each row: the one holding u = 0, where inputs
        # live (far breakpoints then never cancel against a far piece's line)
        ref = np.sum(bp <= 0.0, axis=1)
        d = np.diff(slope, axis=1)  # slope change at each breakpoint
        pad = np.isposinf(bp)  # padding: the last piece repeated, no change
        d[pad] = 0.0
        bp = np.where(pad, 0.0, bp)
        terms = []
        for j in range(n):
            # above the reference piece d Relu(u - bp), below it d Relu(bp - u)
            sign = np.where(j >= ref, 1.0, -1.0)
            if np.any(d[:, j] != 0):
                terms.append({k: np.ascontiguousarray(v, dtype=dtype) for k, v in
                              (("bp", bp[:, j]), ("d", d[:, j]), ("sign", sign))})
        return {
            "coupling": "rate",
            "slope": np.ascontiguousarray(slope[rows, ref], dtype=dtype),
            "icpt": np.ascontiguousarray(icpt[rows, ref], dtype=dtype),
            "terms": terms,
        }
    if coupling == "flux":
        F = np.asarray(table._flux, dtype=np.float64)
        if F.ndim != 2 or F.shape[1] != 8 or F.shape[0] not in (1, n_units):
            raise ValueError(f"flux table of shape {F.shape} for {n_units} units")
        if F.shape[0] > 1 and np.array_equal(F, F[:1].repeat(F.shape[0], 0)):
            F = F[:1]
        um_neg, um_pos, c_neg, c_pos, c1, beta, p, q = F.T
        if np.any(c1 < 0):  # pragma: no cover - c1 = -beta x* > 0 on a stable branch
            raise NotImplementedError("flux tables with c1 < 0 (an unstable fixed point)")
        sides = {}
        for side, um, c in (("neg", um_neg, c_neg), ("pos", um_pos, c_pos)):
            finite = np.isfinite(um)
            # v = A atan(c u) + B u: A = u_max (2/pi), B = 0 on a bounded side;
            # A = c = 0, B = 1 on an unbounded side (v = u)
            A = np.where(finite, um, 0.0) * (2.0 / np.pi)
            # the kernel keeps |v| strictly below a finite bound
            um_d = np.where(finite, um, 1.0).astype(dtype)
            bound = np.where(finite, np.nextafter(um_d, np.zeros((), dtype)), np.inf)
            sides[side] = dict(c=np.where(finite, c, 0.0), A=A,
                               B=np.where(finite, 0.0, 1.0), bound=bound)
        as_dtype = {k: {n: np.ascontiguousarray(v, dtype=dtype) for n, v in s.items()}
                    for k, s in sides.items()}
        return {
            "coupling": "flux",
            "neg": as_dtype["neg"],
            "pos": as_dtype["pos"],
            "c1sq": np.ascontiguousarray(c1 * c1, dtype=dtype),
            "m4beta": np.ascontiguousarray(-4.0 * beta, dtype=dtype),
            "neg_c1": np.ascontiguousarray(-c1, dtype=dtype),
            "two_beta": np.ascontiguousarray(2.0 * beta, dtype=dtype),
            "p": np.ascontiguousarray(p, dtype=dtype),
            "q": np.ascontiguousarray(q, dtype=dtype),
        }
    raise ValueError(f"unknown coupling {coupling!r}")


def _network_spec(est):
    """A fitted estimator's network as plain arrays (the only place this module
    reads the estimator's fitted internals)."""
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(est)
    try:
        dtype = np.dtype(est._free.dtype)
        coefs, intercepts = est._user_coefficients(dtype)
        tables = est._fitted_tables()
        units = list(est._layer_units)
        readout = est._readout
    except AttributeError as exc:  # pragma: no cover - a fitted state of another version
        raise ValueError(
            f"This {type(est).__name__} does not have the fitted state the ONNX "
            f"converter of this sklearn_symnet version reads ({exc})."
        ) from exc
    layers = [
        (W, b, _layer_spec(table, m, dtype))
        for W, b, table, m in zip(coefs, intercepts, tables, units[1:])
    ]
    return {"dtype": dtype, "layers": layers, "readout": readout,
            "scale": float(est.output_scale_)}


# ----------------------------------------------------------------------
# Graph building
# ----------------------------------------------------------------------
class _Builder:
    """Adds nodes and initializers of one converter call to the container."""

    def __init__(self, scope, container, dtype):
        from onnx import TensorProto

        self.scope = scope
        self.container = container
        self.dtype = np.dtype(dtype)
        self.proto = TensorProto.DOUBLE if self.dtype == np.float64 else TensorProto.FLOAT

    def const(self, value, name="c", dtype=None):
        from onnx import TensorProto

        value = np.asarray(value)
        if dtype is None:
            value = value.astype(self.dtype)
            proto = self.proto
        elif dtype == "int64":
            value = value.astype(np.int64)
            proto = TensorProto.INT64
        else:  # strings
            proto = TensorProto.STRING
        out = self.scope.get_unique_variable_name(name)
        self.container.add_initializer(out, proto, list(value.shape), value.ravel())
        return out

    def op(self, op_type, inputs, name=None, output=None, op_domain="", **attrs):
        out = output or self.scope.get_unique_variable_name(name or op_type.lower())
        self.container.add_node(op_type, list(inputs), [out], op_domain=op_domain,
                                name=self.scope.get_unique_operator_name(op_type), **attrs)
        return out

    def cast(self, name, proto, output=None):
        return self.op("Cast", [name], "cast", output=output, to=proto)

    # -- neurons ---------------------------------------------------------
    def rate(self, U, spec):
        """The continuous piecewise-affine response as the reference piece's
        line plus ``d Relu(+-(u - breakpoint))`` at each breakpoint."""
        S = self.op("Add", [self.op("Mul", [U, self.const(spec["slope"], "rate_slope")]),
                            self.const(spec["icpt"], "rate_icpt")], "rate_signal")
        for term in spec["terms"]:
            bp, sign = term["bp"], term["sign"]
            if np.all(sign > 0):
                X = self.op("Sub", [U, self.const(bp, "rate_bp")])
            elif np.all(sign < 0):
                X = self.op("Sub", [self.const(bp, "rate_bp"), U])
            else:
                X = self.op("Sub", [self.op("Mul", [U, self.const(sign, "rate_sign")]),
                                    self.const(sign * bp, "rate_bp")])
            X = self.op("Mul", [self.op("Relu", [X]), self.const(term["d"], "rate_d")])
            S = self.op("Add", [S, X], "rate_signal")
        return S

    def atan(self, Z):
        """``atan`` elementwise; in float64 a float32 ``Atan`` and one Newton
        step on ``sin(a) - z cos(a) = 0`` (onnxruntime has no float64 Atan)."""
        from onnx import TensorProto

        if self.dtype != np.float64:
            return self.op("Atan", [Z])
        a = self.cast(self.op("Atan", [self.cast(Z, TensorProto.FLOAT)]), TensorProto.DOUBLE)
        sin, cos = self.op("Sin", [a]), self.op("Cos", [a])
        f = self.op("Sub", [sin, self.op("Mul", [Z, cos])])
        df = self.op("Add", [cos, self.op("Mul", [Z, sin])])
        return self.op("Sub", [a, self.op("Div", [f, df])], "atan")

    def flux(self, U, spec):
        """The flux branch: bounded inflow ``v``, level ``t``, signal ``p t + q``."""
        neg, pos = spec["neg"], spec["pos"]
        split = any(not np.array_equal(neg[k], pos[k]) for k in ("c", "A", "B"))
        is_neg = self.op("Less", [U, self.const(0.0, "zero")], "negative") if split else None

        def side(key):
            if not np.array_equal(neg[key], pos[key]):
                return self.op("Where", [is_neg, self.const(neg[key], f"flux_{key}_neg"),
                                         self.const(pos[key], f"flux_{key}_pos")])
            return self.const(neg[key], f"flux_{key}")

        Z = self.op("Mul", [side("c"), U], "flux_z")
        V = self.op("Mul", [side("A"), self.atan(Z)], "flux_inflow")
        if np.any(neg["B"] != 0) or np.any(pos["B"] != 0):  # an unbounded side: v = u
            V = self.op("Add", [V, self.op("Mul", [side("B"), U])], "flux_inflow")
        if np.any(np.isfinite(neg["bound"])):
            V = self.op("Max", [V, self.const(-neg["bound"], "flux_lo")], "flux_inflow")
        if np.any(np.isfinite(pos["bound"])):
            V = self.op("Min", [V, self.const(pos["bound"], "flux_hi")], "flux_inflow")
        disc = self.op("Add", [self.const(spec["c1sq"], "flux_c1sq"),
                               self.op("Mul", [self.const(spec["m4beta"], "flux_m4b"), V])])
        sq = self.op("Sqrt", [self.op("Max", [disc, self.const(0.0, "zero")])], "flux_sq")
        # the stable root (-c1 - sq) / (2 beta)  (c1 > 0 at a stable fixed point)
        T = self.op("Div", [self.op("Sub", [self.const(spec["neg_c1"], "flux_neg_c1"), sq]),
                            self.const(spec["two_beta"], "flux_2b")], "flux_t")
        return self.op("Add", [self.op("Mul", [self.const(spec["p"], "flux_p"), T]),
                               self.const(spec["q"], "flux_q")], "flux_signal")

    # -- network ---------------------------------------------------------
    def network(self, X, spec):
        """The head's outputs ``z`` (before ``output_scale_``) of input ``X``."""
        S = X
        for W, b, layer in spec["layers"]:
            U = self.op("Gemm", [S, self.const(W, "coefficient"),
                                 self.const(b, "intercepts")], "layer_input")
            if layer["coupling"] == "rate":
                S = self.rate(U, layer)
            elif layer["coupling"] == "flux":
                S = self.flux(U, layer)
            else:
                S = U
        if spec["readout"] == "difference":
            n = spec["layers"][-1][0].shape[1]
            S = self.op("Sub", [self.columns(S, np.arange(0, n, 2)),
                                self.columns(S, np.arange(1, n, 2))], "pair_difference")
        return S

    def columns(self, S, idx):
        return self.op("Gather", [S, self.const(idx, "columns", dtype="int64")],
                       "gather", axis=1)


def _input_in_model_dtype(b, operator):
    """The converter's input, cast to the model's dtype where it differs."""
    from skl2onnx.common.data_types import guess_proto_type

    X = operator.inputs[0].full_name
    try:
        proto = guess_proto_type(operator.inputs[0].type)
    except NotImplementedError:  # pragma: no cover - an unusual input type
        proto = None
    return X if proto == b.proto else b.cast(X, b.proto)


def _output_dtype(operator):
    """dtype of the float outputs: float64 for a float64 input, else float32."""
    from skl2onnx.common.data_types import DoubleTensorType

    if isinstance(operator.inputs[0].type, DoubleTensorType):
        return np.float64
    return np.float32


def _label_classes(scope, est):
    """Class labels as an initializer array and its ONNX element type."""
    from onnx import TensorProto
    from skl2onnx.common.utils_classifier import get_label_classes

    classes = np.asarray(get_label_classes(scope, est))
    if classes.dtype == np.bool_ or np.issubdtype(classes.dtype, np.integer):
        return classes.astype(np.int64), TensorProto.INT64
    if np.issubdtype(classes.dtype, np.floating):
        as_int = classes.astype(np.int64)
        if not np.array_equal(as_int, classes):  # pragma: no cover - fit refuses them
            raise RuntimeError(
                "skl2onnx writes float class labels as integers, but some labels of "
                f"this SymNetClassifier are not integers: {classes!r}. Use integer or "
                "string labels."
            )
        return as_int, TensorProto.INT64
    return np.array([str(c).encode("utf-8") for c in classes]), TensorProto.STRING


# ----------------------------------------------------------------------
# Shape calculators and converters (skl2onnx's API)
# ----------------------------------------------------------------------
_GOOD_INPUTS = ("BooleanTensorType", "DoubleTensorType", "FloatTensorType",
                "Int64TensorType", "Int32TensorType")


def _check_io(operator, n_outputs):
    from skl2onnx.common import data_types
    from skl2onnx.common.utils import (
        check_input_and_output_numbers,
        check_input_and_output_types,
    )

    check_input_and_output_numbers(operator, input_count_range=1,
                                   output_count_range=n_outputs)
    check_input_and_output_types(
        operator, good_input_types=[getattr(data_types, t) for t in _GOOD_INPUTS
                                    if hasattr(data_types, t)])


def _float_type(operator):
    """The tensor type of the float outputs (see :func:`_output_dtype`)."""
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    return DoubleTensorType if _output_dtype(operator) == np.float64 else FloatTensorType


def _classifier_shape(operator):
    """Outputs of a SymNetClassifier: ``label`` (N,) -- (N, n_labels) for
    multilabel -- and ``probabilities`` (N, n_classes or n_labels)."""
    from skl2onnx.common.data_types import DoubleTensorType, Int64TensorType, StringTensorType

    _check_io(operator, 2)
    est = operator.raw_operator
    zipmap = operator.scope_inst.get_options(est, dict(zipmap=True))["zipmap"]
    if zipmap is True and isinstance(operator.inputs[0].type, DoubleTensorType):
        raise RuntimeError(
            "ONNX's ZipMap operator takes float32 probabilities only, and this "
            "SymNetClassifier's input is float64. Use the option zipmap=False (the "
            "default of sklearn_symnet.onnx.to_onnx: probabilities as an array) or "
            "zipmap='columns', or a float32 input."
        )
    N = operator.inputs[0].get_first_dimension()
    n_cols = len(est.classes_)
    if est._multilabel:
        operator.outputs[0].set_type(Int64TensorType([N, n_cols]))
    else:
        from onnx import TensorProto

        _, proto = _label_classes(operator.scope_inst, est)
        label = StringTensorType if proto == TensorProto.STRING else Int64TensorType
        operator.outputs[0].set_type(label([N]))
    operator.outputs[1].set_type(_float_type(operator)([N, n_cols]))


def _regressor_shape(operator):
    """Output of a SymNetRegressor: ``variable`` (N, n_outputs) ((N, 1) for 1-D y)."""
    _check_io(operator, 1)
    est = operator.raw_operator
    N = operator.inputs[0].get_first_dimension()
    operator.outputs[0].set_type(_float_type(operator)([N, int(est.n_outputs_)]))


def _network_outputs(scope, operator, container):
    """The network's head outputs ``z`` in the graph: ``(est, spec, b, Z, o,
    Zo)`` with ``b`` a builder in the model's dtype and ``Z`` in it, ``o`` one
    in the outputs' dtype and ``Zo`` there (the package computes what follows
    z in float64: so does the graph where the output is float64)."""
    est = operator.raw_operator
    spec = _network_spec(est)
    b = _Builder(scope, container, spec["dtype"])
    Z = b.network(_input_in_model_dtype(b, operator), spec)
    o = _Builder(scope, container, _output_dtype(operator))
    Zo = Z if o.proto == b.proto else b.cast(Z, o.proto)
    return est, spec, b, Z, o, Zo


def _convert_classifier(scope, operator, container):
    """skl2onnx converter of :class:`SymNetClassifier`."""
    from onnx import TensorProto

    est, spec, b, Z, o, Zo = _network_outputs(scope, operator, container)
    label_out, proba_out = operator.outputs[0].full_name, operator.outputs[1].full_name
    scale = o.const(spec["scale"], "output_scale")
    if est._multilabel:
        n = len(est.classes_)
        even, odd = 2 * np.arange(n), 2 * np.arange(n) + 1
        # probability of the pair's second neuron: the pair's softmax
        o.op("Sigmoid", [o.op("Mul", [o.op("Sub", [o.columns(Zo, odd), o.columns(Zo, even)]),
                                       scale])], output=proba_out)
        b.cast(b.op("Greater", [b.columns(Z, odd), b.columns(Z, even)]), TensorProto.INT64,
               output=label_out)
        return
    if est._group != len(est.classes_):  # pragma: no cover - guards a future head
        raise NotImplementedError(
            f"softmax groups of {est._group} outputs for {len(est.classes_)} classes")
    o.op("Softmax", [o.op("Mul", [Zo, scale], "logits")], output=proba_out, axis=1)
    index = b.op("ArgMax", [Z], "argmax", axis=1, keepdims=0)
    classes, proto = _label_classes(scope, est)
    table = b.const(classes, "classes", dtype="int64" if proto == TensorProto.INT64
                    else "string")
    b.op("Gather", [table, index], output=label_out, axis=0)


def _convert_regressor(scope, operator, container):
    """skl2onnx converter of :class:`SymNetRegressor`."""
    est, spec, _, _, o, Zo = _network_outputs(scope, operator, container)
    # output_scale_ * z * target_scale_ + target_mean_, in the package's order
    y = o.op("Mul", [Zo, o.const(spec["scale"], "output_scale")])
    y = o.op("Mul", [y, o.const(np.asarray(est.target_scale_)[None, :], "target_scale")])
    o.op("Add", [y, o.const(np.asarray(est.target_mean_)[None, :], "target_mean")],
         output=operator.outputs[0].full_name)


_REGISTERED = []


def register_converters():
    """Register skl2onnx converters for :class:`SymNetClassifier` and
    :class:`SymNetRegressor`.

    After this call ``skl2onnx.to_onnx`` and ``skl2onnx.convert_sklearn``
    convert either estimator, alone or inside a
    :class:`~sklearn.pipeline.Pipeline` or any other meta-estimator skl2onnx
    knows: rate and flux coupling (both flux bounds), per-unit or shared
    neuron tables, every read-out, float32 and float64 models, binary,
    multiclass and multilabel classification, single and multi-output
    regression.  Calling it again does nothing.

    The classifier accepts skl2onnx's classifier options ``zipmap`` (True by
    default: the probabilities as a list of dictionaries; ``False`` gives an
    array of shape (n_samples, n_classes) like ``predict_proba``),
    ``nocl`` and ``output_class_labels``.  Its outputs are ``label`` and
    ``probabilities``; the regressor's is ``variable``, of shape
    (n_samples, n_outputs).

    Raises
    ------
    ImportError
        If skl2onnx is not installed (``pip install "sklearn-symnet[onnx]"``).

    Examples
    --------
    >>> import numpy as np
    >>> from skl2onnx import to_onnx
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_symnet import SymNetClassifier
    >>> from sklearn_symnet.onnx import register_converters
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = SymNetClassifier(hidden_layer_sizes=(8,), max_iter=30,
    ...                        random_state=0).fit(X, y)
    >>> register_converters()
    >>> onx = to_onnx(clf, X[:1], options={"zipmap": False})
    >>> [o.name for o in onx.graph.output]
    ['label', 'probabilities']
    """
    skl2onnx = _skl2onnx()
    if _REGISTERED:
        return
    skl2onnx.update_registered_converter(
        SymNetClassifier, CLASSIFIER_ALIAS, _classifier_shape, _convert_classifier,
        options=CLASSIFIER_OPTIONS,
    )
    skl2onnx.update_registered_converter(
        SymNetRegressor, REGRESSOR_ALIAS, _regressor_shape, _convert_regressor,
    )
    _REGISTERED.append(True)


def to_onnx(model, X=None, *, dtype=None, zipmap=False, target_opset=None, options=None,
            name=None):
    """Convert a fitted SymNet estimator, or a pipeline ending in one, to ONNX.

    Registers the converters (:func:`register_converters`) and calls
    ``skl2onnx.convert_sklearn`` with one input tensor ``X`` of shape
    (n_samples, n_features).  For several named inputs (a
    :class:`~sklearn.compose.ColumnTransformer` over DataFrame columns), call
    :func:`register_converters` and skl2onnx's own ``to_onnx`` instead.

    Parameters
    ----------
    model : estimator
        A fitted :class:`SymNetClassifier`, :class:`SymNetRegressor`, or a
        pipeline (or other meta-estimator skl2onnx converts) containing them.
    X : array-like of shape (n_samples, n_features), default=None
        Sample input: only its dtype is used (see ``dtype``).
    dtype : {numpy.float32, numpy.float64}, default=None
        Element type of the input tensor.  None: the dtype of ``X`` where it
        is float32 or float64, else float64 -- the rule by which ``fit``
        chooses the model's dtype.  The graph casts the input to the SymNet
        model's dtype and returns float64 outputs for a float64 input.
    zipmap : bool or "columns", default=False
        skl2onnx's ``zipmap`` option of every SymNetClassifier: False returns
        the probabilities as an array, as ``predict_proba``.
    target_opset : int or dict, default=None
        ONNX opset (skl2onnx's default when None; 9 or higher).
    options : dict, default=None
        Further skl2onnx conversion options, keyed as skl2onnx's (by class or
        ``id(estimator)``; a dict of option names applies to ``model``); they
        override ``zipmap``.
    name : str, default=None
        Name of the ONNX graph.

    Returns
    -------
    onx : onnx.ModelProto
        The ONNX model; run it with ``onnxruntime.InferenceSession(
        onx.SerializeToString())``.

    Examples
    --------
    >>> import numpy as np
    >>> import onnxruntime as ort
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_symnet import SymNetClassifier
    >>> from sklearn_symnet.onnx import to_onnx
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = SymNetClassifier(hidden_layer_sizes=(8,), max_iter=30,
    ...                        random_state=0).fit(X, y)
    >>> sess = ort.InferenceSession(to_onnx(clf, X).SerializeToString(),
    ...                             providers=["CPUExecutionProvider"])
    >>> label, proba = sess.run(None, {"X": X})
    >>> bool(np.all(label == clf.predict(X)))
    True
    >>> bool(np.allclose(proba, clf.predict_proba(X), rtol=1e-12, atol=1e-15))
    True
    """
    skl2onnx = _skl2onnx()
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType
    from sklearn.utils.validation import check_is_fitted

    register_converters()
    check_is_fitted(model)
    n_features = getattr(model, "n_features_in_", None)
    if n_features is None:
        if X is None:
            raise ValueError("to_onnx needs X where the model has no n_features_in_.")
        n_features = np.shape(X)[1]
    if dtype is None:
        x_dtype = getattr(X, "dtype", None)
        if x_dtype is None and X is not None and hasattr(X, "dtypes"):  # DataFrame
            kinds = set(map(np.dtype, X.dtypes))
            x_dtype = kinds.pop() if len(kinds) == 1 else None
        dtype = np.float32 if np.dtype(x_dtype or np.float64) == np.float32 else np.float64
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}.")
    tensor = FloatTensorType if dtype == np.float32 else DoubleTensorType
    options = dict(options or {})
    if options and all(isinstance(k, str) for k in options):  # options of `model`
        options = {id(model): options}
    all_options = {**options, SymNetClassifier: {"zipmap": zipmap,
                                                 **options.get(SymNetClassifier, {})}}
    if not isinstance(target_opset, (type(None), numbers.Integral, dict)):
        raise TypeError(f"target_opset must be an int or a dict, got {target_opset!r}.")
    return skl2onnx.convert_sklearn(
        model, name=name, initial_types=[("X", tensor([None, int(n_features)]))],
        target_opset=target_opset, options=all_options,
    )
