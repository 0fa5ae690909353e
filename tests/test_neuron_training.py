"""Training the neurons' own constants (docs/model.md, "Trained neurons").

The spec's test list: per-neuron derivatives of the signal with respect to
K1, K2, K3, r against finite differences of the exact steady state and the
reference vectors (both couplings), the Euler identities and ds/dr = 0 on the
all-alive piece, the piece tables against the direct formula, network-level
finite differences of the loss with respect to every constant, the
constraints after many large steps, and the PID controller's special cases.

The NumPy references below are independent of the package's tables: the
rate steady state by checking all 31 survivor sets of the complementarity
problem at each input, the flux steady state by damped Newton iterations
from x*, and the derivatives by implicit differentiation with an explicit
5x5 reverse-system solve.
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from sklearn_symnet import SymNetClassifier, SymNetRegressor, WuxingNeuron
from sklearn_symnet._inputs import training_input
from sklearn_symnet._kernels import RATE_MAX_PIECES
from sklearn_symnet._losses import OutputHead
from sklearn_symnet._network import SymNetwork
from sklearn_symnet._neuron import CONSTANT_MATRICES, interaction_matrix
from sklearn_symnet._optim import ConstantParameters, Optimizer, PIDController
from sklearn_symnet._tables import NeuronTable

DATA = Path(__file__).parent / "data" / "neuron_constant_grads_reference.json"
N = 5
MASKS = np.array([[(m >> i) & 1 for i in range(N)] for m in range(1, 2**N)], bool)
OUTER = MASKS[:, :, None] & MASKS[:, None, :]


# ---------------------------------------------------------------------------
# NumPy references
# ---------------------------------------------------------------------------
def lcp_rate(theta, u, a):
    """Steady state of the rate coupling: the survivor set of largest slack."""
    K1, K2, K3, r = theta
    A = interaction_matrix(K1, K2, K3)
    q = np.full(N, float(r))
    q[a] += u
    M = np.where(OUTER, -A[None], 0.0) + (~MASKS)[:, :, None] * np.eye(N)[None]
    X = np.linalg.solve(M, np.where(MASKS, q[None], 0.0)[:, :, None])[:, :, 0]
    W = -(q[None] + X @ A.T)
    slack = np.where(MASKS, X, W).min(1)
    k = int(np.argmax(slack))
    assert slack[k] > -1e-9
    return X[k], MASKS[k]


def ref_rate(theta, u, a, b):
    """Signal, ds/du and ds/d(K1, K2, K3, r) from the forward state and an
    explicit solve of the reverse system on the survivor set."""
    K1, K2, K3, r = theta
    A = interaction_matrix(K1, K2, K3)
    x, S = lcp_rate(theta, u, a)
    y = np.zeros(N)
    if S[b]:
        y[S] = np.linalg.solve(-A[np.ix_(S, S)].T, (np.arange(N)[S] == b).astype(float))
    ea = np.eye(N)[a]
    g = np.array([y @ (CONSTANT_MATRICES[0] @ x), y @ (CONSTANT_MATRICES[1] @ x),
                  -y @ x + r / K3**2, y.sum() - 1 / K3])
    return x[b] - r / K3, y @ ea, g


def steady_flux(theta, v, a, steps=12):
    """Flux coupling's interior steady state: damped Newton with continuation."""
    K1, K2, K3, r = theta
    A = interaction_matrix(K1, K2, K3)
    x = np.full(N, r / K3)
    ea = np.eye(N)[a]
    for vt in np.linspace(0.0, v, steps + 1)[1:]:
        for _ in range(60):
            f = x * (r + A @ x) + vt * ea
            if np.abs(f).max() < 1e-14:
                break
            J = x[:, None] * A + np.diag(r + A @ x)
            dx = np.linalg.solve(J, -f)
            neg = dx < 0
            step = min(1.0, 0.9 * np.min(-x[neg] / dx[neg])) if neg.any() else 1.0
            x = x + step * dx
    return x


def ref_flux(theta, v, a, b):
    """Signal and ds/d(v, K1, K2, K3, r) at effective inflow v (implicit
    differentiation: z = (-J^T)^-1 e_b)."""
    K1, K2, K3, r = theta
    A = interaction_matrix(K1, K2, K3)
    x = steady_flux(theta, v, a)
    J = x[:, None] * A + np.diag(r + A @ x)
    z = np.linalg.solve(-J.T, np.eye(N)[b])
    g = np.array([z @ (x * (CONSTANT_MATRICES[0] @ x)), z @ (x * (CONSTANT_MATRICES[1] @ x)),
                  -z @ (x * x) + r / K3**2, z @ x - 1 / K3])
    return x[b] - r / K3, z[a], g


def table_grads(table, U):
    """The kernel's per-input derivatives for a one-row table (units = inputs)."""
    U = np.ascontiguousarray(np.atleast_2d(U), dtype=np.float64)
    out = np.empty((U.shape[1], 4))
    table.constant_grads(U, np.ones_like(U), out)
    return out


def signal_of(theta, u, coupling, a, b, bounded=True):
    t = NeuronTable([theta], coupling, a, b)
    if not bounded:
        t = t.element_view(b, bounded=False)
    U = np.atleast_2d(np.asarray(u, dtype=np.float64))
    S, G = np.empty_like(U), np.empty_like(U)
    t.forward(U, S, G)
    return S[0], G[0]


RATE_THETAS = [(0.3, 0.2, 1.0, 1.0), (0.8, 0.5, 1.0, 1.0), (-0.6, 0.9, 0.7, 1.3),
               (1.2, -0.4, 2.0, 0.5), (1.0, 1.0, 1.0, 1.0)]


# ---------------------------------------------------------------------------
# 1. Derivatives of one neuron
# ---------------------------------------------------------------------------
def test_reference_vectors_are_reproduced():
    cases = json.loads(DATA.read_text())["cases"]
    n_rows = 0
    for c in cases:
        theta = (c["K1"], c["K2"], c["K3"], c["r"])
        table = NeuronTable([theta], c["coupling"], c["a"], c["b"])
        if c["coupling"] == "flux":  # the vectors are at effective inflows v
            table = table.element_view(c["b"], bounded=False)
        key = "u" if c["coupling"] == "rate" else "v"
        rows = [r for r in c["rows"] if not r.get("on_breakpoint")]
        U = np.array([[r[key] for r in rows]])
        S, G = np.empty_like(U), np.empty_like(U)
        table.forward(U, S, G)
        grads = table_grads(table, U)
        for j, row in enumerate(rows):
            np.testing.assert_allclose(S[0, j], row["signal"], rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(G[0, j], row["d_u"], rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(grads[j], [row["d_K1"], row["d_K2"], row["d_K3"],
                                                  row["d_r"]], rtol=1e-10, atol=1e-12)
            n_rows += 1
    assert n_rows > 250


# K1 = K2 = K3 (the last set) is degenerate: below its breakpoint an element
# sits at x = 0 with w = 0, so the signal is not differentiable in K there
# (two one-sided derivatives); finite differences need generic constants.
@pytest.mark.parametrize("theta", RATE_THETAS[:4])
@pytest.mark.parametrize("a, b", [(0, 1), (0, 0), (2, 4)])
def test_rate_constant_gradients_match_finite_differences(theta, a, b):
    table = NeuronTable([theta], "rate", a, b)
    bps = table.breakpoints[0]
    u = np.linspace(-4.0, 14.0, 61)
    u = u[np.min(np.abs(u[:, None] - np.r_[bps, 1e9][None, :]), axis=1) > 1e-3]
    grads = table_grads(table, u[None, :])
    h = 1e-6
    for j in range(4):
        tp, tm = np.array(theta, float), np.array(theta, float)
        tp[j] += h
        tm[j] -= h
        fd = (signal_of(tp, u, "rate", a, b)[0] - signal_of(tm, u, "rate", a, b)[0]) / (2 * h)
        np.testing.assert_allclose(grads[:, j], fd, rtol=1e-6, atol=1e-7)
    # and the explicit reverse-system solve of the reference
    for k in range(0, u.shape[0], 5):
        s, du, g = ref_rate(theta, u[k], a, b)
        np.testing.assert_allclose(grads[k], g, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("theta", RATE_THETAS[:4])
@pytest.mark.parametrize("bound", ["symmetric", "branch"])
def test_flux_constant_gradients_match_finite_differences(theta, bound):
    """With the inflow bound held fixed (the spec: u_max is a constant inside
    the gradient), the derivative is that of the branch at the same v."""
    a, b = 0, 1
    table = NeuronTable([theta], "flux", a, b, bound)
    # the branch exists between the fold and its top
    u = np.linspace(0.9 * table.fold_input[0], min(2.0, 0.9 * table.branch_top[0]), 25)
    raw = table.element_view(b, bounded=False)  # the branch at v = u
    grads = table_grads(raw, u[None, :])
    h = 1e-6
    for j in range(4):
        tp, tm = np.array(theta, float), np.array(theta, float)
        tp[j] += h
        tm[j] -= h
        fd = (signal_of(tp, u, "flux", a, b, bounded=False)[0]
              - signal_of(tm, u, "flux", a, b, bounded=False)[0]) / (2 * h)
        np.testing.assert_allclose(grads[:, j], fd, rtol=1e-6, atol=1e-7)
    for k in range(0, u.shape[0], 6):
        s, dv, g = ref_flux(theta, u[k], a, b)
        np.testing.assert_allclose(grads[k], g, rtol=1e-8, atol=1e-10)
    # the bounded kernel: the same derivatives at the bounded inflow
    v = np.array([[-5.0, -0.1, 0.3, 7.0]])
    vb = signal_of(theta, v[0], "flux", a, b)  # noqa: F841 (the kernel runs)
    z = np.where(v < 0, table._flux[0, 2], table._flux[0, 3]) * v
    um = np.where(v < 0, table.input_bound[0], table.input_bound_pos[0])
    veff = np.where(np.isfinite(um), um * (2 / np.pi) * np.arctan(z), v)
    np.testing.assert_allclose(table_grads(table, v), table_grads(raw, veff), rtol=1e-12)


@pytest.mark.parametrize("theta", RATE_THETAS)
@pytest.mark.parametrize("coupling", ["rate", "flux"])
def test_euler_identities(theta, coupling):
    """Homogeneity.  Rate: s(lu; K, lr) = l s(u; K, r) and s(u; mK, r) = s/m,
    so u ds/du + r ds/dr = s and K1 ds/dK1 + K2 ds/dK2 + K3 ds/dK3 = -s.
    Flux (an inflow scales as x^2): s(l^2 v; K, lr) = l s and
    s(v/m; mK, r) = s/m, so 2 v ds/dv + r ds/dr = s and K . ds/dK = v ds/dv - s."""
    a, b = 0, 1
    table = NeuronTable([theta], coupling, a, b)
    if coupling == "flux":
        table = table.element_view(b, bounded=False)
        u = np.linspace(0.8 * table.fold_input[0], min(3.0, 0.8 * table.branch_top[0]), 15)
    else:
        u = np.linspace(-5.0, 15.0, 41)
    U = u[None, :]
    S, G = np.empty_like(U), np.empty_like(U)
    table.forward(U, S, G)
    g = table_grads(table, U)
    K1, K2, K3, r = theta
    k_sum = K1 * g[:, 0] + K2 * g[:, 1] + K3 * g[:, 2]
    if coupling == "rate":
        np.testing.assert_allclose(u * G[0] + r * g[:, 3], S[0], atol=1e-12)
        np.testing.assert_allclose(k_sum, -S[0], atol=1e-12)
    else:
        np.testing.assert_allclose(2 * u * G[0] + r * g[:, 3], S[0], atol=1e-12)
        np.testing.assert_allclose(k_sum, u * G[0] - S[0], atol=1e-12)


@pytest.mark.parametrize("theta", RATE_THETAS[:4])
def test_rate_allalive_piece_closed_forms(theta):
    """On the all-alive piece s = u G_ba, ds/dK_m = u (G B_m G)_ba,
    ds/dK3 = -u (G^2)_ba and ds/dr = 0: r only moves the breakpoints."""
    a, b = 0, 1
    G = np.linalg.inv(-interaction_matrix(*theta[:3]))
    table = NeuronTable([theta], "rate", a, b)
    u = np.array([-0.3, 0.0, 0.4, 1.1])  # inside the all-alive piece
    g = table_grads(table, u[None, :])
    B1, B2, _ = CONSTANT_MATRICES
    np.testing.assert_allclose(g[:, 0], u * (G @ B1 @ G)[b, a], atol=1e-13)
    np.testing.assert_allclose(g[:, 1], u * (G @ B2 @ G)[b, a], atol=1e-13)
    np.testing.assert_allclose(g[:, 2], -u * (G @ G)[b, a], atol=1e-13)
    np.testing.assert_allclose(g[:, 3], 0.0, atol=1e-13)


def test_extinct_input_element_still_has_constant_gradients():
    """The spec's example: K = (0.3, 0.2, 1), r = 1, a = 0, b = 3, u = -1.6:
    no gain, yet the constants get a gradient."""
    n = WuxingNeuron(K1=0.3, K2=0.2, output_element=3)
    assert n.gain([-1.6])[0] == 0.0
    g = n.constant_gradients([-1.6])[0]
    np.testing.assert_allclose(g[[0, 2, 3]], [-0.1176, 0.1608, -0.1220], atol=1e-4)


# ---------------------------------------------------------------------------
# 2. Piece tables: the compiled builder against the direct formula
# ---------------------------------------------------------------------------
def test_piece_tables_per_unit_match_the_direct_formula():
    rng = np.random.RandomState(0)
    n = 40
    theta = np.column_stack([rng.uniform(-1.5, 1.5, n), rng.uniform(-1.5, 1.5, n),
                             rng.uniform(0.3, 2.0, n), rng.uniform(0.3, 2.0, n)])
    theta[:3] = [[1.0, 1.0, 1.0, 1.0], [0.5, 2.0, 1.0, 1.0], [0.0, 0.7, 1.0, 1.0]]
    a, b = 1, 2
    table = NeuronTable(theta, "rate", a, b)
    assert table._bp.shape == (n, RATE_MAX_PIECES - 1)  # +inf padded
    assert np.all(np.isinf(table._bp[np.arange(n), table.n_pieces - 1]))
    assert table.n_pieces.max() <= RATE_MAX_PIECES
    assert table.n_pieces.min() >= 2  # the input element dies somewhere below
    u = np.linspace(-6, 12, 37)
    U = np.ascontiguousarray(np.tile(u[:, None], (1, n)))
    S, G = np.empty_like(U), np.empty_like(U)
    table.forward(U, S, G)
    E = rng.normal(size=U.shape)
    grads = np.empty((n, 4))
    table.constant_grads(U, E, grads)
    expected = np.zeros((n, 4))
    for k in range(n):
        bps = table.breakpoints[k]
        for i, ui in enumerate(u):
            s, du, g = ref_rate(theta[k], ui, a, b)
            np.testing.assert_allclose(S[i, k], s, rtol=1e-9, atol=1e-10)
            if k < 3:  # round constants: the derivative is one-sided (see above)
                expected[k] = grads[k]
            elif np.min(np.abs(ui - np.r_[bps, 1e9])) > 1e-6:
                np.testing.assert_allclose(G[i, k], du, rtol=1e-9, atol=1e-10)
                expected[k] += E[i, k] * g
            else:  # exactly on a breakpoint: the right-hand piece's derivative
                expected[k] += E[i, k] * ref_rate(theta[k], ui + 1e-7, a, b)[2]
    np.testing.assert_allclose(grads, expected, rtol=1e-7, atol=1e-8)


def test_shared_table_is_broadcast_and_gradients_stay_per_unit():
    t1 = NeuronTable([[0.3, 0.2, 1.0, 1.0]], "rate")
    tn = NeuronTable(np.tile([0.3, 0.2, 1.0, 1.0], (6, 1)), "rate")
    U = np.random.RandomState(1).normal(0, 3, (9, 6))
    E = np.random.RandomState(2).normal(size=U.shape)
    S1, G1, Sn, Gn = (np.empty_like(U) for _ in range(4))
    t1.forward(U, S1, G1)
    tn.forward(U, Sn, Gn)
    np.testing.assert_array_equal(S1, Sn)
    g1, gn = np.empty((6, 4)), np.empty((6, 4))
    t1.constant_grads(U, E, g1)
    tn.constant_grads(U, E, gn)
    np.testing.assert_array_equal(g1, gn)


def test_rebuilt_tables_follow_new_constants():
    t = NeuronTable([[0.3, 0.2, 1.0, 1.0]] * 3, "rate")
    t.rebuild([[0.8, 0.5, 1.0, 1.0], [0.3, 0.2, 1.0, 1.0], [0.3, 0.2, 2.0, 0.5]])
    np.testing.assert_allclose(t.breakpoints[0], [-1.99587806525232, 10.9192253790292])
    np.testing.assert_allclose(t.fixed_points, [1.0, 1.0, 0.25])
    ref = WuxingNeuron(0.3, 0.2, 2.0, 0.5)
    np.testing.assert_allclose(t.breakpoints[2], ref.breakpoints)


@pytest.mark.parametrize("step", [1e-3, 0.3, 2.0])
def test_rebuild_from_previous_pieces_equals_a_fresh_build(step):
    """A rebuild tries the previous pieces first (a few solves instead of 31);
    small steps keep them, large ones change them: the tables are the same as
    a build from scratch either way."""
    rng = np.random.RandomState(int(step * 1000))
    n = 50
    theta = np.column_stack([rng.uniform(-1, 1, n), rng.uniform(-1, 1, n),
                             rng.uniform(0.5, 1.5, n), rng.uniform(0.5, 1.5, n)])
    table = NeuronTable(theta, "rate", 0, 1)
    new = theta.copy()
    new[:, :2] += step * rng.normal(size=(n, 2))
    table.rebuild(new)
    fresh = NeuronTable(new, "rate", 0, 1)
    np.testing.assert_array_equal(table.n_pieces, fresh.n_pieces)
    for name in ("_slope", "_icpt", "_gain", "_dc", "_dd"):
        np.testing.assert_allclose(getattr(table, name), getattr(fresh, name), rtol=1e-10,
                                   atol=1e-12, err_msg=name)
    np.testing.assert_allclose(table._bp, fresh._bp, rtol=1e-9)


# ---------------------------------------------------------------------------
# 3. Networks: the constants' gradients are exact
# ---------------------------------------------------------------------------
class Recorder(Optimizer):
    """An optimiser that records the gradient it is given and moves nothing."""

    def __init__(self):
        self.grads = []

    def step(self, params, grads, n_threads=1):
        self.grads.append(np.array(grads, copy=True))


def build_network(coupling, which, sharing, squared, seed):
    """A 4-5-4-(3 pairs) network whose every layer trains its constants
    (varied start values), with data; None if an input sits near a rate
    breakpoint (finite differences would straddle it)."""
    rng = np.random.RandomState(seed)
    layer_units = [4, 5, 4, 6]
    tables, constants = [], []
    for m in layer_units[1:]:
        rows = 1 if sharing == "layer" else m
        start = np.array([0.3, 0.2, 1.0, 1.0]) * (1 + 0.2 * rng.uniform(-1, 1, (rows, 4)))
        tables.append(NeuronTable(start, coupling, 0, 1))
        constants.append(ConstantParameters(start, which))
    head = (OutputHead(3, "difference", 1.5, "squared") if squared
            else OutputHead(3, "difference", 2.0, "softmax", 3))
    net = SymNetwork(layer_units, tables, head, np.float64, 0.01, None, 1, constants)
    net.initialize(rng)
    w = slice(0, net.n_weights)
    free = net.free.copy()
    free[w] *= 3.0  # spread the inputs over several pieces
    net.set_free(free)
    X = rng.normal(size=(12, 4))
    Y = rng.normal(size=(12, 3)) if squared else np.eye(3)[rng.randint(3, size=12)]
    sw = rng.uniform(0.5, 2.0, 12)
    if coupling == "rate":
        U, _, _ = net.layer_signals(X)
        for u, t in zip(U, net.tables):
            bps = np.broadcast_to(t._bp, (u.shape[1], t._bp.shape[1]))
            if np.min(np.abs(u[:, :, None] - bps[None]), initial=np.inf) < 1e-4:
                return None
    return net, X, Y, sw


def network_loss(net, free, X, Y, sw, bounds=None):
    """The loss from the package's forward pass, written out with NumPy (with
    the flux inflow bounds held at ``bounds``, as the gradient holds them)."""
    net.set_free(free)
    if bounds is not None:
        for t, bd in zip(net.tables, bounds):
            t._flux[:, :4] = bd
    Z = net.head.scale * net.predict_outputs(X)
    if net.head.loss == "squared":
        L = 0.5 * ((Y - Z) ** 2).sum(axis=1)
    else:
        Z = Z - Z.max(axis=1, keepdims=True)
        L = -(Y * (Z - np.log(np.exp(Z).sum(axis=1, keepdims=True)))).sum(axis=1)
    coef = net.coef[: net.n_coef]
    return (sw @ L + 0.5 * net.alpha * coef @ coef) / sw.sum()


@pytest.mark.parametrize("squared", [False, True], ids=["log_loss", "squared"])
@pytest.mark.parametrize("coupling", ["rate", "flux"])
@pytest.mark.parametrize("which, sharing", [("shape", "unit"), ("all", "unit"),
                                            ("all", "layer")])
def test_network_constant_gradients_match_finite_differences(coupling, which, sharing,
                                                             squared):
    """The gradient handed to the optimiser equals finite differences of the
    loss with respect to every parameter, the constants' included."""
    for seed in range(40):
        case = build_network(coupling, which, sharing, squared, seed)
        if case is not None:
            break
    net, X, Y, sw = case
    free0 = net.free.copy()
    rec = Recorder()
    rows = np.arange(X.shape[0], dtype=np.int64)
    net._allocate(rows.shape[0])
    net._train_batch(training_input(X, rows.shape[0]), Y, sw, rows, rows.shape[0], rec)
    grad = rec.grads[0]
    assert grad.shape == free0.shape and grad.shape[0] > net.n_weights
    # the flux inflow bound moves with the constants; the spec holds it fixed
    # inside the gradient (it is refreshed after each step)
    bounds = ([t._flux[:, :4].copy() for t in net.tables] if coupling == "flux"
              else None)
    h = 1e-6
    fd = np.empty_like(free0)
    for i in range(free0.shape[0]):
        fp, fm = free0.copy(), free0.copy()
        fp[i] += h
        fm[i] -= h
        fd[i] = (network_loss(net, fp, X, Y, sw, bounds)
                 - network_loss(net, fm, X, Y, sw, bounds)) / (2 * h)
    const = slice(net.n_weights, None)
    scale = np.max(np.abs(fd))
    assert np.max(np.abs(fd[const])) > 1e-3 * scale  # the constants matter
    np.testing.assert_allclose(grad, fd, rtol=0, atol=2e-6 * scale)


# ---------------------------------------------------------------------------
# 4. Valid constants after any number of large steps
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("solver", ["same", "pid"])
@pytest.mark.parametrize("coupling", ["rate", "flux"])
def test_constraints_hold_after_many_large_steps(solver, coupling):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(120, 5))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    model = SymNetClassifier(hidden_layer_sizes=(6,), coupling=coupling,
                             neuron_params="all", neuron_solver=solver,
                             neuron_learning_rate=0.5, pid_max_step=5.0,
                             learning_rate_init=0.05, max_iter=40, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    for c in model.neuron_constants_:
        assert np.all(np.isfinite(c))
        assert np.all(c[:, 2] >= 0.1 * model.K3 - 1e-12)  # K3 above its floor
        assert np.all(c[:, 3] >= 0.05 * model.r - 1e-12)  # r above its floor
        assert np.all(np.abs(c[:, :2] / c[:, 2:3]) < 4.0)  # bounded ratios
        assert not np.allclose(c, [model.K1, model.K2, model.K3, model.r])  # they moved
    assert np.all(np.isfinite(model.predict_proba(X)))


def test_parameterisation_round_trip_and_bounds():
    init = np.array([[0.3, -0.2, 1.5, 0.7], [-1.0, 0.4, 0.5, 2.0]])
    cp = ConstantParameters(init, "all")
    np.testing.assert_allclose(cp.to_constants(cp.to_free(init)), init, rtol=1e-12)
    huge = np.array([1e6, -1e6, -1e6, -1e6, -1e6, 1e6, 1e6, 1e6])
    c = cp.to_constants(huge)
    assert np.all(c[:, 2] > 0) and np.all(c[:, 3] > 0)
    assert np.all(np.abs(c[:, :2] / c[:, 2:3]) <= cp.kappa_max[:, None])
    shape = ConstantParameters(init, "shape")
    assert shape.size == 4
    np.testing.assert_array_equal(shape.to_constants(shape.to_free(init))[:, 2:], init[:, 2:])


def test_parameterisation_chain_rule():
    init = np.array([[0.3, -0.2, 1.5, 0.7]])
    rng = np.random.RandomState(0)
    for which in ("shape", "all"):
        cp = ConstantParameters(init, which)
        phi = cp.to_free(init) + rng.normal(0, 0.3, cp.size)
        w = rng.normal(size=(1, 4))  # L(theta) = w . theta, summed over 3 units
        grad = cp.chain(phi, np.repeat(w, 3, axis=0))
        h = 1e-6
        for i in range(cp.size):
            pp, pm = phi.copy(), phi.copy()
            pp[i] += h
            pm[i] -= h
            fd = 3 * (w @ (cp.to_constants(pp) - cp.to_constants(pm)).T).item() / (2 * h)
            np.testing.assert_allclose(grad[i], fd, rtol=1e-6, atol=1e-9)


# ---------------------------------------------------------------------------
# 5. The PID controller's special cases
# ---------------------------------------------------------------------------
def test_pid_with_kp_only_is_plain_sgd():
    rng = np.random.RandomState(0)
    pid = PIDController(4, kp=0.1, ki=0.0, kd=0.0, leak=0.5, max_step=np.inf,
                        normalize=False)
    p = rng.normal(size=4)
    ref = p.copy()
    for _ in range(5):
        g = rng.normal(size=4)
        pid.step(p, g)
        ref -= 0.1 * g
    np.testing.assert_allclose(p, ref, rtol=1e-14)


def test_pid_with_ki_only_is_heavy_ball_momentum():
    """kp = kd = 0, ki = eta, leak = beta (no normalisation, no clamp) is
    velocity <- beta velocity - eta g; p <- p + velocity."""
    rng = np.random.RandomState(1)
    eta, beta = 0.05, 0.9
    pid = PIDController(3, kp=0.0, ki=eta, kd=0.0, leak=beta, max_step=np.inf,
                        normalize=False)
    p = rng.normal(size=3)
    ref, vel = p.copy(), np.zeros(3)
    for _ in range(6):
        g = rng.normal(0, 0.05, size=3)  # small: the anti-windup clamp stays inactive
        pid.step(p, g)
        vel = beta * vel - eta * g
        ref += vel
    np.testing.assert_allclose(p, ref, rtol=1e-12)


def test_pid_step_is_bounded_and_integral_clamped():
    pid = PIDController(2, kp=10.0, ki=10.0, kd=10.0, leak=0.8, max_step=0.05)
    p = np.zeros(2)
    for _ in range(50):
        before = p.copy()
        pid.step(p, np.array([1e9, -1e9]))
        assert np.all(np.abs(p - before) < 0.05)
    assert np.all(np.abs(pid.integral) <= 1 / (1 - 0.8) + 1e-12)


# ---------------------------------------------------------------------------
# 6. Estimators
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("kind", [SymNetClassifier, SymNetRegressor])
def test_fitted_constants_pickle_and_continue(kind):
    import pickle

    rng = np.random.RandomState(0)
    X = rng.normal(size=(80, 4))
    y = X[:, 0] - X[:, 1] ** 2 if kind is SymNetRegressor else (X[:, 0] > 0).astype(int)
    model = kind(hidden_layer_sizes=(7,), neuron_params="all", neuron_solver="pid",
                 max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    width = 2 * (2 if kind is SymNetClassifier else 1)  # pairs of output neurons
    assert [c.shape for c in model.neuron_constants_] == [(7, 4), (width, 4)]
    np.testing.assert_allclose(model.fixed_points_[0],
                               model.neuron_constants_[0][:, 3] / model.neuron_constants_[0][:, 2])
    twin = pickle.loads(pickle.dumps(model))
    model.partial_fit(X, y)
    twin.partial_fit(X, y)
    for u, v in zip(model.neuron_constants_ + model.coefs_, twin.neuron_constants_ + twin.coefs_):
        np.testing.assert_array_equal(u, v)
    # a warm start continues from the fitted constants
    before = [c.copy() for c in model.neuron_constants_]
    model.set_params(warm_start=True, max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    moved = np.abs(model.neuron_constants_[0] - before[0]).max()
    assert 0 < moved < 0.5


def test_layer_sharing_keeps_one_set_per_layer():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(int)
    model = SymNetClassifier(hidden_layer_sizes=(5, 4), neuron_params="all",
                             neuron_sharing="layer", max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    for c in model.neuron_constants_:
        assert np.all(c == c[0])
        assert not np.allclose(c[0], [0.3, 0.2, 1.0, 1.0])


def test_fixed_is_the_coefficients_only_model():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(int)
    a = SymNetClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0)
    b = SymNetClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0,
                         neuron_params="fixed", neuron_solver="pid")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a.fit(X, y)
        b.fit(X, y)
    for u, v in zip(a.coefs_, b.coefs_):
        np.testing.assert_array_equal(u, v)
    assert a._free.shape[0] == sum(c.size for c in a.coefs_ + a.intercepts_)


def test_bad_pid_gains():
    X = np.random.RandomState(0).normal(size=(20, 3))
    y = np.arange(20) % 2
    with pytest.raises(ValueError, match="pid_gains"):
        SymNetClassifier(neuron_params="shape", neuron_solver="pid",
                         pid_gains=(1.0, -1.0, 0.0), max_iter=2).fit(X, y)
