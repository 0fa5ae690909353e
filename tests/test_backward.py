"""Backward signal propagation is exact gradient descent (model.md sections 3-4).

A plain-NumPy reference computes the training loss of a small network from
the neuron's steady-state signals alone (``WuxingNeuron.signal``): the
forward pass, the log-loss of ``softmax(output_scale * s)`` within each
output group (or the squared error), the L2 penalty and the arctan bound.
Its central finite differences must equal the gradient that the network's
backward pass (reverse systems, error signals, coefficient adjustments)
hands to the optimiser, and the batch loss it returns must equal the
reference loss.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning

from sklearn_symnet import SymNetClassifier, WuxingNeuron
from sklearn_symnet._inputs import training_input as make_input
from sklearn_symnet._losses import OutputHead
from sklearn_symnet._network import SymNetwork
from sklearn_symnet._optim import Optimizer
from sklearn_symnet._tables import LinearTable


def make_network(layer_units, neuron, dtype, group, squared, scale, alpha, bound,
                 out_neuron=None, readout="signal", sq_scale=1.0):
    """A network of ``neuron`` (hidden) and ``out_neuron`` (output) tables;
    squared error on ``sq_scale * z``, or the log-loss of softmax(scale z)."""
    out = neuron if out_neuron is None else out_neuron
    last = LinearTable() if readout == "linear" else out.table
    tables = [neuron.table] * (len(layer_units) - 2) + [last]
    n_out = layer_units[-1] // 2 if readout == "difference" else layer_units[-1]
    head = (OutputHead(n_out, readout, sq_scale, "squared") if squared
            else OutputHead(n_out, readout, scale, "softmax", group))
    return SymNetwork(layer_units, tables, head, dtype, alpha, bound, n_threads=1)

N_IN, HIDDEN, N_OUT = 5, (4, 6), 3
N_ROWS, N_BATCH = 20, 14
H = 1e-6  # finite-difference step
BREAK_MARGIN = 1e-4  # keep every input this far from a rate breakpoint
GRAD_RTOL = 1e-6
LOSS_ATOL = 1e-12


class Recorder(Optimizer):
    """An optimiser that records the gradient it is given and moves nothing."""

    def __init__(self):
        self.grads = []

    def step(self, params, grads, n_threads=1):
        self.grads.append(np.array(grads, copy=True))


# ---------------------------------------------------------------------------
# NumPy reference
# ---------------------------------------------------------------------------
def unpack(free, layer_units, bound):
    """Coefficient matrices, biases and the coefficient count from ``free``.

    Layout: every layer's (n_in, n_out) coefficients, row-major, layer by
    layer; then every layer's biases.  With a bound, coefficients and biases
    are ``bound * (2/pi) * atan(free)``.
    """
    C = free if bound is None else bound * (2 / np.pi) * np.arctan(free)
    shapes = list(zip(layer_units[:-1], layer_units[1:]))
    Ws, bs, pos = [], [], 0
    for n_in, n_out in shapes:
        Ws.append(C[pos: pos + n_in * n_out].reshape(n_in, n_out))
        pos += n_in * n_out
    n_coef = pos
    for _, n_out in shapes:
        bs.append(C[pos: pos + n_out])
        pos += n_out
    assert pos == free.shape[0]
    return Ws, bs, C[:n_coef]


def ref_forward(X, Ws, bs, neuron, out_neuron=None, linear_out=False):
    """Inputs ``u`` and signals ``s`` of every layer (lists); with
    ``linear_out`` the output layer has no neurons (its signals are its inputs)."""
    S, Us, Ss = np.asarray(X, dtype=np.float64), [], []
    for i, (W, b) in enumerate(zip(Ws, bs)):
        U = S @ W + b
        last = i == len(Ws) - 1
        n = out_neuron if out_neuron is not None and last else neuron
        S = U.copy() if last and linear_out else n.signal(U.ravel()).reshape(U.shape)
        Us.append(U)
        Ss.append(S)
    return Us, Ss


def ref_sample_losses(S, Y, group, squared, scale):
    if squared:
        return 0.5 * np.sum((Y - scale * S) ** 2, axis=1)
    n, m = S.shape
    Z = (scale * S).reshape(n, m // group, group)
    mx = Z.max(axis=2, keepdims=True)
    lse = mx + np.log(np.exp(Z - mx).sum(axis=2, keepdims=True))
    return np.sum(Y.reshape(n, m // group, group) * (lse - Z), axis=(1, 2))


def ref_loss(free, X, Y, sw, layer_units, neuron, group, squared, scale, alpha,
             bound, out_neuron=None, readout="signal"):
    Ws, bs, coefs = unpack(free, layer_units, bound)
    _, Ss = ref_forward(X, Ws, bs, neuron, out_neuron, linear_out=readout == "linear")
    Z = Ss[-1][:, 0::2] - Ss[-1][:, 1::2] if readout == "difference" else Ss[-1]
    L = ref_sample_losses(Z, Y, group, squared, scale)
    return (np.dot(sw, L) + 0.5 * alpha * np.dot(coefs, coefs)) / sw.sum()


def central_difference(f, x, h=H):
    g = np.empty_like(x)
    for j in range(x.shape[0]):
        xp, xm = x.copy(), x.copy()
        xp[j] += h
        xm[j] -= h
        g[j] = (f(xp) - f(xm)) / (2 * h)
    return g


def one_hot_groups(rng, n, n_out, group):
    Y = np.zeros((n, n_out))
    for g0 in range(0, n_out, group):
        Y[np.arange(n), g0 + rng.randint(group, size=n)] = 1.0
    return Y


# ---------------------------------------------------------------------------
# Setting up a network with a valid finite difference
# ---------------------------------------------------------------------------
def build_case(coupling, squared, bound, group=N_OUT, n_out=N_OUT, alpha=0.3,
               scale=4.0, sparse_like=False, seed0=0, neuron_params=None,
               output_params=None, readout="signal", sq_scale=1.0):
    """A network, data and parameters with no input near a breakpoint."""
    neuron = WuxingNeuron(coupling=coupling, **(neuron_params or {}))
    out_neuron = None if output_params is None else WuxingNeuron(**output_params)
    layer_units = [N_IN, *HIDDEN, 2 * n_out if readout == "difference" else n_out]
    for seed in range(seed0, seed0 + 50):
        rng = np.random.RandomState(seed)
        X = rng.normal(0.0, 1.0, (N_ROWS, N_IN))
        if sparse_like:
            X[rng.uniform(size=X.shape) < 0.6] = 0.0
        Y = one_hot_groups(rng, N_ROWS, n_out, group)
        sw = rng.uniform(0.2, 2.0, N_ROWS)
        rows = rng.permutation(N_ROWS)[:N_BATCH].astype(np.int64)
        net = make_network(layer_units, neuron, np.float64, group, squared, scale,
                           alpha, bound, out_neuron=out_neuron, readout=readout,
                           sq_scale=sq_scale)
        net.initialize(np.random.RandomState(seed))
        net.set_free(3.0 * net.free)  # spread the inputs over several pieces
        free = net.free.copy()
        Ws, bs, _ = unpack(free, layer_units, bound)
        Us, _ = ref_forward(X[rows], Ws, bs, neuron, out_neuron,
                            linear_out=readout == "linear")
        u_all = np.concatenate([u.ravel() for u in Us])
        if neuron.breakpoints.size == 0 or np.min(
            np.abs(u_all[:, None] - neuron.breakpoints[None, :])
        ) > BREAK_MARGIN:
            break
    else:  # pragma: no cover
        pytest.fail("no seed keeps the inputs away from the breakpoints")
    return dict(neuron=neuron, out_neuron=out_neuron, readout=readout,
                layer_units=layer_units, X=X, Y=Y, sw=sw,
                rows=rows, net=net, free=free, Us=Us, group=group,
                squared=squared, scale=sq_scale if squared else scale, alpha=alpha,
                bound=bound)


def network_gradient(case, X=None):
    """(gradient handed to the optimiser, returned batch loss)."""
    net, rows = case["net"], case["rows"]
    X = case["X"] if X is None else X
    rec = Recorder()
    net.set_free(case["free"])
    net._allocate(rows.shape[0])
    loss = net._train_batch(make_input(X, rows.shape[0]), case["Y"], case["sw"],
                            rows, rows.shape[0], rec)
    assert len(rec.grads) == 1
    return rec.grads[0], loss


def reference(case):
    X, Y, sw, rows = case["X"], case["Y"], case["sw"], case["rows"]

    def f(free):
        return ref_loss(free, X[rows], Y[rows], sw[rows], case["layer_units"],
                        case["neuron"], case["group"], case["squared"],
                        case["scale"], case["alpha"], case["bound"], case["out_neuron"],
                        case["readout"])

    return f(case["free"]), central_difference(f, case["free"])


def assert_gradient_matches(grad, fd):
    assert grad.shape == fd.shape
    assert np.all(np.isfinite(grad))
    scale = np.max(np.abs(fd))
    assert scale > 1e-3, "degenerate case: the gradient is ~0"
    err = np.max(np.abs(grad - fd)) / scale
    assert err < GRAD_RTOL, f"relative gradient error {err:.3e}"


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("bound", [None, 1.5], ids=["unbounded", "bound1.5"])
@pytest.mark.parametrize("loss", ["log_loss", "squared_error"])
@pytest.mark.parametrize("coupling", ["rate", "flux"])
def test_backward_equals_finite_difference(coupling, loss, bound):
    case = build_case(coupling, loss == "squared_error", bound)
    if coupling == "rate":
        # the case must exercise more than one linear piece (incl. zero gain)
        bp = case["neuron"].breakpoints
        pieces = np.searchsorted(bp, np.concatenate([u.ravel() for u in case["Us"]]))
        assert np.unique(pieces).size >= 2
    grad, loss_value = network_gradient(case)
    f0, fd = reference(case)
    assert_gradient_matches(grad, fd)
    assert abs(loss_value - f0) <= LOSS_ATOL * max(1.0, abs(f0))
    # with the bound, the coefficients (and biases) really are bounded
    if bound is not None:
        assert np.all(np.abs(case["net"].coef) < bound)
        assert not np.array_equal(case["net"].coef, case["free"])


@pytest.mark.parametrize("coupling", ["rate", "flux"])
def test_backward_softmax_pairs_multilabel_layout(coupling):
    """group=2 with 4 outputs: two independent softmax pairs."""
    case = build_case(coupling, False, None, group=2, n_out=4)
    grad, loss_value = network_gradient(case)
    f0, fd = reference(case)
    assert_gradient_matches(grad, fd)
    assert abs(loss_value - f0) <= LOSS_ATOL * max(1.0, abs(f0))
    # and a single softmax over the 4 outputs is a different loss
    single = ref_loss(case["free"], case["X"][case["rows"]], case["Y"][case["rows"]],
                      case["sw"][case["rows"]], case["layer_units"], case["neuron"],
                      4, False, case["scale"], case["alpha"], None)
    assert abs(single - f0) > 1e-3


def test_backward_sparse_input_same_gradient_as_dense():
    case = build_case("rate", False, None, sparse_like=True)
    X = case["X"]
    assert 0.2 < np.count_nonzero(X) / X.size < 0.5
    grad_dense, loss_dense = network_gradient(case, X)
    grad_csr, loss_csr = network_gradient(case, sp.csr_matrix(X))
    grad_csc, loss_csc = network_gradient(case, sp.csc_matrix(X))
    f0, fd = reference(case)
    assert_gradient_matches(grad_csr, fd)
    np.testing.assert_allclose(grad_csr, grad_dense, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grad_csc, grad_dense, rtol=1e-12, atol=1e-14)
    assert abs(loss_csr - f0) <= LOSS_ATOL * max(1.0, abs(f0))
    assert abs(loss_csr - loss_dense) <= LOSS_ATOL
    assert abs(loss_csc - loss_dense) <= LOSS_ATOL


def test_backward_without_weights_equals_unit_weights():
    """Unit sample weights: the plain mean loss and its gradient."""
    case = build_case("flux", False, 1.5)
    case["sw"] = np.ones(N_ROWS)
    grad, loss_value = network_gradient(case)
    f0, fd = reference(case)
    assert_gradient_matches(grad, fd)
    assert abs(loss_value - f0) <= LOSS_ATOL * max(1.0, abs(f0))


@pytest.mark.parametrize("coupling", ["rate", "flux"])
@pytest.mark.parametrize(
    "params",
    [
        dict(K1=0.8, K2=0.5, K3=0.5, r=2.0),
        dict(K1=0.8, K2=0.5, K3=2.0, r=0.5, output_element=0),
        dict(K3=1.5, r=3.0, input_element=2, output_element=3),
    ],
    ids=["xstar4", "xstar0.25-b=a", "xstar2-a2b3"],
)
def test_backward_other_neurons(coupling, params):
    """Fixed points other than 1 (x_a != 1) and other input/output elements."""
    case = build_case(coupling, False, None, neuron_params=params)
    assert case["neuron"].fixed_point == params["r"] / params["K3"]
    grad, loss_value = network_gradient(case)
    f0, fd = reference(case)
    assert_gradient_matches(grad, fd)
    assert abs(loss_value - f0) <= LOSS_ATOL * max(1.0, abs(f0))


@pytest.mark.parametrize("loss", ["log_loss", "squared_error"])
@pytest.mark.parametrize(
    "coupling, output",
    [("rate", dict(coupling="flux", flux_bound="branch")),
     ("flux", dict(coupling="rate")),
     ("rate", dict(coupling="flux")),
     ("flux", dict(coupling="flux", flux_bound="branch"))],
    ids=["rate-fluxbranch", "flux-rate", "rate-flux", "flux-fluxbranch"],
)
def test_backward_with_an_output_layer_of_its_own(coupling, output, loss):
    """Output neurons of another coupling (output_coupling, flux_bound): the
    reverse systems of both kinds still give the exact gradient."""
    case = build_case(coupling, loss == "squared_error", None, output_params=output)
    grad, loss_value = network_gradient(case)
    f0, fd = reference(case)
    assert_gradient_matches(grad, fd)
    assert abs(loss_value - f0) <= LOSS_ATOL * max(1.0, abs(f0))
    if output.get("flux_bound") == "branch":  # inputs reach the long positive side
        assert case["Us"][-1].max() > case["out_neuron"].input_bound


@pytest.mark.parametrize("loss", ["log_loss", "squared_error"])
@pytest.mark.parametrize("group", [N_OUT, 2], ids=["softmax", "pairs"])
@pytest.mark.parametrize("coupling, output",
                         [("rate", None), ("flux", dict(coupling="flux", flux_bound="branch"))],
                         ids=["rate", "fluxbranch"])
def test_backward_difference_readout(coupling, output, group, loss):
    """readout="difference": each logit is s+ - s-; the error enters the two
    neurons' reverse systems with opposite signs, and the gradient is exact."""
    n_out = 4 if group == 2 else N_OUT
    case = build_case(coupling, loss == "squared_error", None, group=group, n_out=n_out,
                      output_params=output, readout="difference",
                      neuron_params=None if output is None else dict(flux_bound="branch"))
    assert case["layer_units"][-1] == 2 * n_out
    grad, loss_value = network_gradient(case)
    f0, fd = reference(case)
    assert_gradient_matches(grad, fd)
    assert abs(loss_value - f0) <= LOSS_ATOL * max(1.0, abs(f0))


def test_backward_float32_matches_float64():
    case = build_case("rate", False, 1.5)
    grad64, loss64 = network_gradient(case)
    net32 = make_network(case["layer_units"], case["neuron"], np.float32, N_OUT, False,
                         case["scale"], case["alpha"], 1.5)
    net32.set_free(case["free"].astype(np.float32))
    rows = case["rows"]
    rec = Recorder()
    net32._allocate(rows.shape[0])
    X32 = case["X"].astype(np.float32)
    loss32 = net32._train_batch(make_input(X32, rows.shape[0]),
                                case["Y"].astype(np.float32),
                                case["sw"].astype(np.float32), rows, rows.shape[0],
                                rec)
    grad32 = rec.grads[0]
    assert grad32.dtype == np.float32
    err = np.max(np.abs(grad32 - grad64)) / np.max(np.abs(grad64))
    assert err < 1e-4
    assert abs(loss32 - loss64) < 1e-5 * max(1.0, abs(loss64))


def test_output_signals_equal_reference_forward():
    case = build_case("rate", False, None)
    Ws, bs, _ = unpack(case["free"], case["layer_units"], None)
    _, Ss = ref_forward(case["X"], Ws, bs, case["neuron"])
    case["net"].set_free(case["free"])
    np.testing.assert_allclose(case["net"].predict_outputs(case["X"]), Ss[-1],
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("coupling", ["rate", "flux"])
def test_training_changes_only_coefficients(coupling):
    K = dict(K1=0.8, K2=0.5, K3=0.5, r=2.0)  # fixed point 4, not 1
    before = WuxingNeuron(coupling=coupling, flux_bound="branch", **K)  # the default
    table = before.table
    X, y = make_classification(n_samples=80, n_features=6, n_informative=4,
                               random_state=0)
    clf = SymNetClassifier(hidden_layer_sizes=(5,), coupling=coupling, max_iter=5,
                           random_state=0, **K)
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, y)
    assert clf.fixed_point_ == clf.neuron_.fixed_point == K["r"] / K["K3"] == 4.0
    assert (clf.neuron_.K1, clf.neuron_.K2, clf.neuron_.K3, clf.neuron_.r) == (
        K["K1"], K["K2"], K["K3"], K["r"])
    after = clf.neuron_.table
    assert after.coupling == table.coupling == coupling
    np.testing.assert_array_equal(clf.neuron_constants_[0], [list(K.values())] * 5)
    for name in ("_bp", "_slope", "_icpt", "_gain", "_flux"):
        if hasattr(table, name):
            assert np.array_equal(getattr(after, name), getattr(table, name))
    np.testing.assert_array_equal(clf.neuron_.A, before.A)
    np.testing.assert_array_equal(clf.neuron_.breakpoints, before.breakpoints)
    # ... while the coefficients did move away from their initial values
    init = SymNetClassifier(hidden_layer_sizes=(5,), coupling=coupling,
                            max_iter=1, random_state=0, learning_rate_init=1e-12,
                            **K)
    with pytest.warns(ConvergenceWarning):
        init.fit(X, y)
    assert not np.allclose(init.coefs_[0], clf.coefs_[0])


@pytest.mark.parametrize("sq_scale", [1.0, 2.5])
@pytest.mark.parametrize("readout", ["difference", "linear", "signal"])
@pytest.mark.parametrize("coupling", ["rate", "flux"])
def test_backward_regression_heads(coupling, readout, sq_scale):
    """The regressor's loss, 0.5 (y - beta z)^2 with z a pair difference, the
    linear read-out (no output neurons) or one signal: exact gradients."""
    case = build_case(coupling, True, None, readout=readout, sq_scale=sq_scale,
                      alpha=0.1)
    Y = np.random.RandomState(3).normal(size=case["Y"].shape)  # real-valued targets
    case["Y"] = Y
    grad, loss_value = network_gradient(case)
    f0, fd = reference(case)
    assert_gradient_matches(grad, fd)
    assert abs(loss_value - f0) <= LOSS_ATOL * max(1.0, abs(f0))
