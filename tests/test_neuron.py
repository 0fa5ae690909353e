"""The five-element neuron (model.md sections 1, 2 and 4).

Reference values come from ``tests/data/neuron_reference.json`` (a copy of the
design's independent NumPy prototype output).  The ODE is also written out
here, independently of the package, straight from the specification.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from sklearn_symnet import WuxingNeuron
from sklearn_symnet._neuron import mirror_matrix

REF = json.loads(
    (Path(__file__).parent / "data" / "neuron_reference.json").read_text()
)
RATE_CASES = [c for c in REF["cases"] if c["coupling"] == "rate"]
FLUX_CASES = [c for c in REF["cases"] if c["coupling"] == "flux"]
# the four (K1, K2, K3, r) sets of the reference file
K_SETS = sorted({(c["K1"], c["K2"], c["K3"], c["r"]) for c in REF["cases"]})
# fixed points other than 1, to tell x* apart from 1
K_EXTRA = [(0.8, 0.5, 0.5, 2.0), (0.3, 0.2, 2.0, 0.5)]
COUPLINGS = ["rate", "flux"]

T_MAX, DT = 200.0, 0.01


def kid(K):
    return "K1={}-K2={}-K3={}-r={}".format(*K)


def case_id(c):
    return "{}-{}-b{}".format(c["coupling"], kid((c["K1"], c["K2"], c["K3"], c["r"])),
                              c["b"])


def neuron(K, coupling="rate", a=0, b=1):
    K1, K2, K3, r = K
    return WuxingNeuron(K1=K1, K2=K2, K3=K3, r=r, coupling=coupling,
                        input_element=a, output_element=b)


def from_case(c):
    return neuron((c["K1"], c["K2"], c["K3"], c["r"]), c["coupling"], c["a"], c["b"])


# ---------------------------------------------------------------------------
# The ODE written from the specification (independent of the package)
# ---------------------------------------------------------------------------
def spec_A(K1, K2, K3):
    """(A x)_i = -K3 x_i + K1 (x_{i-1} - x_{i+1}) + K2 (x_{i+2} - x_{i-2})."""
    I5 = np.eye(5)

    def shift(m):  # (S_m x)_i = x_{i+m}
        return np.roll(I5, m, axis=1)

    return -K3 * I5 + K1 * (shift(-1) - shift(1)) + K2 * (shift(2) - shift(-2))


def spec_rhs(x, u, K, coupling, a, u_max=None):
    """dx/dt for states x (n, 5) under raw inputs u (n,)."""
    K1, K2, K3, r = K
    x = np.asarray(x, dtype=float)
    u = np.broadcast_to(np.asarray(u, dtype=float), x.shape[:-1])
    xm1, xp1 = np.roll(x, 1, axis=-1), np.roll(x, -1, axis=-1)  # x_{i-1}, x_{i+1}
    xp2, xm2 = np.roll(x, -2, axis=-1), np.roll(x, 2, axis=-1)  # x_{i+2}, x_{i-2}
    growth = r - K3 * x + K1 * (xm1 - xp1) + K2 * (xp2 - xm2)
    if coupling == "rate":
        growth[..., a] += u
        return x * growth
    v = u_max * (2 / np.pi) * np.arctan(np.pi * u / (2 * u_max))
    dx = x * growth
    dx[..., a] += v
    return dx


def spec_jacobian(x, u, K, coupling, a):
    K1, K2, K3, r = K
    A = spec_A(K1, K2, K3)
    d = r + A @ x
    if coupling == "rate":
        d[a] += u
    return np.diag(x) @ A + np.diag(d)


def rk4_batch(U, K, coupling, a, x0, u_max=None, t_max=T_MAX, dt=DT):
    """Classical RK4 for several inputs at once (spec equation, clipped at 0)."""
    K1, K2, K3, r = K
    A = spec_A(K1, K2, K3)
    U = np.asarray(U, dtype=float)
    if coupling == "flux":
        drive = u_max * (2 / np.pi) * np.arctan(np.pi * U / (2 * u_max))
    ea = np.zeros(5)
    ea[a] = 1.0

    def f(x):
        g = r + x @ A.T
        if coupling == "rate":
            return x * (g + U[:, None] * ea)
        return x * g + drive[:, None] * ea

    x = np.tile(np.asarray(x0, dtype=float), (U.size, 1))
    for _ in range(int(round(t_max / dt))):
        k1 = f(x)
        k2 = f(x + 0.5 * dt * k1)
        k3 = f(x + 0.5 * dt * k2)
        k4 = f(x + dt * k3)
        x = np.maximum(x + (dt / 6) * (k1 + 2 * k2 + 2 * k3 + k4), 0.0)
    return x, f(x)


def slowest_rate(x, u, K, coupling, a):
    """Slowest linear decay rate at a steady state (min of -Re eig J)."""
    return -np.max(np.linalg.eigvals(spec_jacobian(x, u, K, coupling, a)).real)


def converges_within(x, u, K, coupling, a, n, t_max=T_MAX):
    """Whether RK4 over t_max can reach 1e-8: e^{-rate t_max} < e^{-25}."""
    if coupling == "rate" and np.min(np.abs(u - n.breakpoints), initial=np.inf) < 0.05:
        return False
    return slowest_rate(x, u, K, coupling, a) * t_max >= 25.0


# ---------------------------------------------------------------------------
# 1. Fixed point and stability
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("coupling", COUPLINGS)
@pytest.mark.parametrize("K", K_SETS + K_EXTRA, ids=kid)
def test_fixed_point_closed_form(K, coupling):
    n = neuron(K, coupling)
    xs = K[3] / K[2]
    assert n.fixed_point == pytest.approx(xs, rel=1e-15)
    np.testing.assert_allclose(n.fixed_point_vector, np.full(5, xs), rtol=1e-15)
    np.testing.assert_allclose(n.rhs(n.fixed_point_vector, 0.0), 0.0, atol=1e-14)
    np.testing.assert_allclose(spec_rhs(np.full((1, 5), xs), 0.0, K, coupling, 0,
                                        n.input_bound), 0.0, atol=1e-14)
    # the signal at u = 0 is zero: the steady state is x*
    np.testing.assert_allclose(n.signal(0.0), 0.0, atol=1e-14)
    np.testing.assert_allclose(n.steady_state(0.0)[0], np.full(5, xs), rtol=1e-13)
    # A is the specification's circulant
    np.testing.assert_allclose(n.A, spec_A(*K[:3]), rtol=0, atol=1e-15)


K_EIG = K_SETS + K_EXTRA + [(0.0, 0.0, 1.0, 1.0), (3.0, 0.1, 0.2, 1.0)]


@pytest.mark.parametrize("K", K_EIG, ids=kid)
def test_jacobian_eigenvalues_at_fixed_point(K):
    n = neuron(K)
    xs = n.fixed_point
    J = n.jacobian(n.fixed_point_vector, 0.0)
    np.testing.assert_allclose(J, xs * spec_A(*K[:3]), rtol=1e-14, atol=1e-15)
    lam = np.linalg.eigvals(J)
    np.testing.assert_allclose(lam.real, -K[2] * xs, rtol=1e-12)
    # the closed form lambda_k = x* (-K3 - 2i K1 sin t_k + 2i K2 sin 2 t_k)
    th = 2 * np.pi * np.arange(5) / 5
    closed = xs * (-K[2] - 2j * K[0] * np.sin(th) + 2j * K[1] * np.sin(2 * th))
    for lk in closed:
        assert np.min(np.abs(lam - lk)) < 1e-12 * max(1.0, abs(lk))


@pytest.mark.parametrize("coupling", COUPLINGS)
@pytest.mark.parametrize("K", K_SETS + K_EXTRA[:1], ids=kid)
def test_rhs_matches_specification(K, coupling):
    rng = np.random.default_rng(20)
    for a in (0, 3):
        n = neuron(K, coupling, a=a, b=(a + 1) % 5)
        X = rng.uniform(0.0, 3.0, size=(12, 5))
        X[0, 2] = 0.0
        U = rng.uniform(-3, 3, size=12)
        expected = spec_rhs(X, U, K, coupling, a, n.input_bound)
        np.testing.assert_allclose(n.rhs(X, U), expected, rtol=1e-13, atol=1e-13)
        for x, u, e in zip(X[:3], U[:3], expected[:3], strict=True):
            np.testing.assert_allclose(n.rhs(x, u), e, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("coupling", COUPLINGS)
@pytest.mark.parametrize("K", K_SETS, ids=kid)
def test_jacobian_matches_finite_differences(K, coupling):
    rng = np.random.default_rng(21)
    n = neuron(K, coupling, a=2, b=3)
    h = 1e-6
    for _ in range(4):
        x = rng.uniform(0.1, 3.0, size=5)
        u = rng.uniform(-2, 2)
        J = n.jacobian(x, u)
        fd = np.empty((5, 5))
        for j in range(5):
            e = np.zeros(5)
            e[j] = h
            fd[:, j] = (n.rhs(x + e, u) - n.rhs(x - e, u)) / (2 * h)
        np.testing.assert_allclose(J, fd, rtol=1e-7, atol=1e-8)
        np.testing.assert_allclose(J, spec_jacobian(x, n.effective_input(u), K,
                                                    coupling, 2), rtol=1e-14)
        np.testing.assert_array_equal(n.reverse_jacobian(x, u), J.T)


# ---------------------------------------------------------------------------
# 2. Specification test vectors and the reference file
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("a", [0, 2, 4])
def test_spec_vectors_default_constants(a):
    slopes = [0.501, 0.4822, 0.0142, 0.0941, -0.0916]
    tols = [5e-4, 5e-5, 5e-5, 5e-5, 5e-5]  # half a unit of the last digit
    for d in range(5):
        n = WuxingNeuron(K1=0.8, K2=0.5, input_element=a, output_element=(a + d) % 5)
        np.testing.assert_allclose(n.breakpoints, [-1.9959, 10.9192], atol=5e-5)
        u = np.array([-1.9, -0.5, 0.0, 1.0, 5.0, 10.8])  # all-alive piece
        s, g = n.response(u)
        np.testing.assert_allclose(g, slopes[d], atol=tols[d])
        assert np.ptp(g) < 1e-12  # one linear piece
        # below -1.9959 the input element is extinct: gain 0, constant signal
        s_lo, g_lo = n.response([-1.996, -3.0, -50.0])
        np.testing.assert_array_equal(g_lo, 0.0)
        assert np.ptp(s_lo) < 1e-12
        if d == 0:
            np.testing.assert_allclose(s_lo, -1.0, atol=1e-12)  # x_a = 0
            np.testing.assert_allclose(s, slopes[0] * u, atol=5e-4 * 11)


def test_spec_vectors_k03():
    n = WuxingNeuron(K1=0.3, K2=0.2)
    np.testing.assert_allclose(n.breakpoints, [-1.22, 7.9226, 8.3176], atol=5e-5)
    # the docstring example of the class, K1=0.8, K2=0.5
    m = WuxingNeuron(K1=0.8, K2=0.5)
    assert m.fixed_point == 1.0
    assert round(float(m.gain([0.0, 1.0])[1]), 4) == 0.4822


@pytest.mark.parametrize("c", RATE_CASES, ids=case_id)
def test_reference_rate(c):
    n = from_case(c)
    assert n.fixed_point == pytest.approx(c["fixed_point"], rel=1e-15)
    np.testing.assert_allclose(n.breakpoints, c["breakpoints"], rtol=0, atol=1e-9)
    u = np.array(c["u"])
    s, g = n.response(u)
    np.testing.assert_allclose(s, c["signal"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(g, c["gain"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(n.signal(u), s, rtol=0, atol=0)
    np.testing.assert_allclose(n.gain(u), g, rtol=0, atol=0)
    X = n.steady_state(u)
    assert X.shape == (u.size, 5)
    np.testing.assert_allclose(X, c["state"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(X[:, c["b"]] - n.fixed_point, s, atol=1e-12)


@pytest.mark.parametrize("c", FLUX_CASES, ids=case_id)
def test_reference_flux(c):
    n = from_case(c)
    assert n.breakpoints.size == 0
    assert n.fold_input == pytest.approx(c["fold_u"], abs=1e-9)
    v = np.array(c["u_eff"])
    s, g = n.branch_response(v)
    np.testing.assert_allclose(s, c["signal"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(g, c["gain_before_atan"], rtol=0, atol=1e-9)
    # the state at raw u with effective_input(u) == v, for |v| < input_bound
    um = n.input_bound
    inside = np.abs(v) < um
    assert inside.sum() >= 3 and (~inside).sum() >= 1
    u = np.tan(v[inside] * np.pi / (2 * um)) * 2 * um / np.pi
    np.testing.assert_allclose(n.effective_input(u), v[inside], atol=1e-14)
    X = n.steady_state(u)
    np.testing.assert_allclose(X, np.array(c["state"])[inside], rtol=0, atol=1e-9)
    # and the raw-input response carries the atan slope
    s_raw, g_raw = n.response(u)
    np.testing.assert_allclose(s_raw, s[inside], atol=1e-12)
    z = np.pi * u / (2 * um)
    np.testing.assert_allclose(g_raw, g[inside] / (1 + z * z), rtol=1e-12)


# ---------------------------------------------------------------------------
# 3. Closed-form steady states against long RK4 integration
# ---------------------------------------------------------------------------
def draw_inputs(rng, coupling, size):
    return rng.uniform(-4, 15, size) if coupling == "rate" else rng.uniform(-3, 3, size)


@pytest.mark.parametrize("coupling", COUPLINGS)
@pytest.mark.parametrize("K", K_SETS, ids=kid)
def test_steady_state_matches_rk4_batch(K, coupling):
    """16 seeded random inputs per case, all output elements at once."""
    rng = np.random.default_rng(30 + K_SETS.index(K))
    a = 0
    n = neuron(K, coupling, a=a)
    U = draw_inputs(rng, coupling, 16)
    X_closed = n.steady_state(U)
    keep = np.array([converges_within(x, u, K, coupling, a, n)
                     for x, u in zip(X_closed, U, strict=True)])
    assert keep.sum() >= 8, "too few inputs away from slow convergence"
    X_rk, dX = rk4_batch(U[keep], K, coupling, a, n.fixed_point_vector, n.input_bound)
    np.testing.assert_allclose(X_rk, X_closed[keep], rtol=0, atol=1e-8)
    assert np.max(np.abs(dX)) < 1e-9


@pytest.mark.parametrize("coupling", COUPLINGS)
@pytest.mark.parametrize("K", K_SETS + K_EXTRA[:1], ids=kid)
def test_steady_state_matches_simulate(K, coupling):
    """The package's own integrator, two seeded inputs, two output elements."""
    rng = np.random.default_rng(40 + (K_SETS + K_EXTRA).index(K))
    a = 1
    checked = 0
    while checked < 2:
        u = float(draw_inputs(rng, coupling, 1)[0])
        b = (a + checked) % 5
        n = neuron(K, coupling, a=a, b=b)
        x_closed = n.steady_state(u)[0]
        if not converges_within(x_closed, u, K, coupling, a, n):
            continue
        t, X = n.simulate(u, t_max=T_MAX, dt=DT)
        assert X.shape == (int(round(T_MAX / DT)) + 1, 5)
        assert t[-1] == pytest.approx(T_MAX)
        np.testing.assert_allclose(X[0], n.fixed_point_vector, rtol=0, atol=0)
        np.testing.assert_allclose(X[-1], x_closed, rtol=0, atol=1e-8)
        assert X[-1, b] - n.fixed_point == pytest.approx(n.signal(u)[0], abs=1e-8)
        assert np.max(np.abs(n.rhs(X[-1], u))) < 1e-9
        checked += 1


@pytest.mark.parametrize(
    "K, u, extinct, t_max",
    [
        ((0.8, 0.5, 1.0, 1.0), -3.0, [0], 600.0),  # input element dies
        ((0.8, 0.5, 1.0, 1.0), 13.0, [4], 200.0),  # large input kills water
        ((1.5, 1.0, 1.0, 1.0), -3.5, [0, 1], 200.0),  # two elements die
    ],
)
def test_extinction_matches_integration(K, u, extinct, t_max):
    # slowest mode of the survivors ~0.064 for the first case: integrate longer
    n = neuron(K, "rate", a=0, b=2)
    x = n.steady_state(u)[0]
    assert np.all(x[extinct] == 0.0)
    alive = np.setdiff1d(np.arange(5), extinct)
    assert np.all(x[alive] > 1e-3)
    # a valid complementarity solution: the dead have non-positive growth
    w = -(n.r + spec_A(*K[:3]) @ x)
    w[0] -= u
    assert np.all(w[extinct] > 0)
    t, X = n.simulate(u, t_max=t_max, dt=DT)
    np.testing.assert_allclose(X[-1], x, rtol=0, atol=1e-8)
    assert np.max(np.abs(n.rhs(X[-1], u))) < 1e-9
    if 0 in extinct:
        np.testing.assert_array_equal(n.gain(u), 0.0)


@pytest.mark.parametrize("a", [0, 3])
@pytest.mark.parametrize("K", K_SETS + K_EXTRA, ids=kid)
def test_rate_steady_state_solves_complementarity(K, a):
    """x >= 0, w = -(r + u e_a + A x) >= 0, x w = 0 for many inputs."""
    n = neuron(K, "rate", a=a, b=(a + 1) % 5)
    rng = np.random.default_rng(50)
    U = np.concatenate([rng.uniform(-10, 80, 200), n.breakpoints])
    X = n.steady_state(U)
    A = spec_A(*K[:3])
    W = -(n.r + X @ A.T)
    W[:, a] -= U
    # to rounding: at a breakpoint the dying level is 0 up to ~1e-16 |u|
    tol = 1e-12 * (1 + np.abs(U))[:, None]
    assert np.all(X >= -tol)
    assert np.all(W >= -tol)
    assert np.all(np.abs(X * W) <= tol * (1 + X + np.abs(W)))
    # and not trivially: some inputs have extinct elements, some none
    dead = (X <= tol).any(axis=1)
    assert dead.any() and not dead.all()


# ---------------------------------------------------------------------------
# 4. The reverse system
# ---------------------------------------------------------------------------
def test_mirror_matrix():
    R = mirror_matrix()
    x = np.arange(5.0)
    np.testing.assert_array_equal(R @ x, x[(-np.arange(5)) % 5])
    np.testing.assert_array_equal(R @ R, np.eye(5))


@pytest.mark.parametrize("coupling", COUPLINGS)
@pytest.mark.parametrize("K", K_SETS + K_EXTRA + [(2.0, 0.0, 0.3, 1.0)], ids=kid)
def test_reverse_system_is_mirrored_neuron(K, coupling):
    n = neuron(K, coupling)
    R = mirror_matrix()
    J = n.jacobian(n.fixed_point_vector, 0.0)
    assert np.max(np.abs(J - J.T)) > 0.1  # not trivially symmetric
    np.testing.assert_allclose(J.T, R @ J @ R, rtol=0, atol=1e-15)
    np.testing.assert_allclose(n.reverse_jacobian(n.fixed_point_vector, 0.0),
                               R @ J @ R, rtol=0, atol=1e-15)


def gain_inputs(coupling):
    if coupling == "rate":
        return np.concatenate([np.linspace(-4, 15, 39), [30.0, 60.0, -30.0]])
    return np.concatenate([np.linspace(-3, 3, 25), [-1e3, 1e3, -1e6, 1e6]])


@pytest.mark.parametrize("b", range(5))
@pytest.mark.parametrize("coupling", COUPLINGS)
@pytest.mark.parametrize("K", K_SETS, ids=kid)
def test_reverse_gain_equals_kernel_gain(K, coupling, b):
    n = neuron(K, coupling, a=0, b=b)
    u = gain_inputs(coupling)
    np.testing.assert_allclose(n.reverse_gain(u), n.gain(u), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("b", [0, 1, 3])
@pytest.mark.parametrize("coupling", COUPLINGS)
@pytest.mark.parametrize("K", K_SETS + K_EXTRA[:1], ids=kid)
def test_gain_is_derivative_of_signal(K, coupling, b):
    n = neuron(K, coupling, a=0, b=b)
    u = gain_inputs(coupling)[:-4 if coupling == "flux" else None]
    h = 1e-5
    fd = (n.signal(u + h) - n.signal(u - h)) / (2 * h)
    g = n.gain(u)
    if coupling == "rate":
        ok = np.min(np.abs(u[:, None] - n.breakpoints[None, :]), axis=1) > 10 * h
        assert ok.sum() >= 30
    else:
        ok = np.ones(u.size, dtype=bool)
    np.testing.assert_allclose(g[ok], fd[ok], rtol=0, atol=1e-7)


@pytest.mark.parametrize("b", range(5))
@pytest.mark.parametrize("K", K_SETS, ids=kid)
def test_rate_gain_needs_input_element_factor(K, b):
    """g = [(-J)^-1]_{b,a} * x_a; without x_a it is wrong wherever x_a != 1."""
    n = neuron(K, "rate", a=0, b=b)
    lo = n.breakpoints[n.breakpoints < 0].max()  # input element dies below
    for u in (lo + 0.02, 3.0, 20.0):
        x = n.steady_state(u)[0]
        assert 0 < x[0] and abs(x[0] - 1) > 0.5
        bare = np.linalg.inv(-spec_jacobian(x, u, K, "rate", 0))[b, 0]
        g = n.gain(u)[0]
        np.testing.assert_allclose(g, bare * x[0], rtol=1e-9, atol=1e-12)
        if abs(g) > 1e-3:
            assert abs(g - bare) > 0.2 * abs(g)
    # close to the input element's death the bare value is off by more than 1
    x = n.steady_state(lo + 0.02)[0]
    bare = np.linalg.inv(-spec_jacobian(x, lo + 0.02, K, "rate", 0))[1, 0]
    gain_b1 = neuron(K, "rate", a=0, b=1).gain(lo + 0.02)[0]
    assert abs(bare - gain_b1) > 1.0


# ---------------------------------------------------------------------------
# 5. Lyapunov energy
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("K", K_SETS + K_EXTRA, ids=kid)
def test_energy_decreases_along_trajectories(K):
    n = neuron(K, "rate")
    xs = n.fixed_point
    x0 = xs * np.array([1.6, 0.4, 1.2, 0.7, 1.1])
    dt = 0.01
    t, X = n.simulate(0.0, t_max=20.0, dt=dt, x0=x0)
    V = n.energy(X)
    np.testing.assert_allclose(V, np.sum(X - xs * np.log(X), axis=1), rtol=1e-14)
    assert np.all(np.diff(V) <= 1e-12)
    assert V[0] - V[-1] > 0.05 * abs(V[0] - n.energy(n.fixed_point_vector))
    assert V[-1] >= n.energy(n.fixed_point_vector) - 1e-12  # x* is the minimum
    # dV/dt = -K3 |x - x*|^2 along the trajectory (central differences)
    for i in (10, 100, 500):
        dVdt = (V[i + 1] - V[i - 1]) / (2 * dt)
        expected = -K[2] * np.sum((X[i] - xs) ** 2)
        assert dVdt == pytest.approx(expected, rel=2e-3)


@pytest.mark.parametrize("K", K_SETS + K_EXTRA, ids=kid)
def test_energy_derivative_identity(K):
    """grad V . f(x) = -K3 |x - x*|^2 exactly, at random positive states."""
    n = neuron(K, "rate")
    xs = n.fixed_point
    rng = np.random.default_rng(60)
    X = xs * rng.uniform(0.05, 3.0, size=(20, 5))
    dVdt = np.sum((1 - xs / X) * n.rhs(X, 0.0), axis=1)
    expected = -K[2] * np.sum((X - xs) ** 2, axis=1)
    np.testing.assert_allclose(dVdt, expected, rtol=1e-10, atol=1e-12)


def test_energy_nearly_conserved_when_dissipation_vanishes():
    """K3 = r = 1e-9: the conservative oscillator (V and sum x conserved)."""
    x0 = np.array([1.6, 0.4, 1.2, 0.7, 1.1])
    cons = WuxingNeuron(K1=0.8, K2=0.5, K3=1e-9, r=1e-9)
    assert cons.fixed_point == pytest.approx(1.0)
    _, X = cons.simulate(0.0, t_max=20.0, dt=0.01, x0=x0)
    V = cons.energy(X)
    assert np.ptp(V) < 1e-6
    assert np.ptp(X.sum(axis=1)) < 1e-6
    assert np.min(np.ptp(X, axis=0)) > 0.1  # it oscillates, it does not settle
    diss = WuxingNeuron(K1=0.8, K2=0.5, K3=1.0, r=1.0)
    _, Y = diss.simulate(0.0, t_max=20.0, dt=0.01, x0=x0)
    assert np.ptp(diss.energy(Y)) > 0.5


# ---------------------------------------------------------------------------
# 6. Validation
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(K3=0.0), ValueError, "^K3"),
        (dict(K3=-1.0), ValueError, "^K3"),
        (dict(K3=np.nan), ValueError, "^K3"),
        (dict(r=0.0), ValueError, "^r "),
        (dict(r=-0.5), ValueError, "^r "),
        (dict(r=np.inf), ValueError, "^r "),
        (dict(K1=np.nan), ValueError, "^K1"),
        (dict(K1=np.inf), ValueError, "^K1"),
        (dict(K2=-np.inf), ValueError, "^K2"),
        (dict(K1="0.3"), TypeError, "^K1"),
        (dict(K2=None), TypeError, "^K2"),
        (dict(K3=True), TypeError, "^K3"),
        (dict(coupling="foo"), ValueError, "coupling"),
        (dict(coupling=None), ValueError, "coupling"),
        (dict(input_element=5), ValueError, "^input_element"),
        (dict(input_element=-1), ValueError, "^input_element"),
        (dict(input_element=1.5), TypeError, "^input_element"),
        (dict(input_element=1.0), TypeError, "^input_element"),
        (dict(output_element=7), ValueError, "^output_element"),
        (dict(output_element="1"), TypeError, "^output_element"),
        (dict(output_element=False), TypeError, "^output_element"),
    ],
)
def test_invalid_parameters(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        WuxingNeuron(**kwargs)


def test_valid_parameter_types():
    n = WuxingNeuron(K1=np.float32(0.3), K2=1, K3=np.float64(2.0), r=3,
                     input_element=np.int64(4), output_element=np.int8(0))
    assert (n.input_element, n.output_element) == (4, 0)
    assert n.fixed_point == 1.5
    assert isinstance(n.input_element, int)
    # negative generation / restraint constants are allowed
    WuxingNeuron(K1=-0.3, K2=-0.2)


@pytest.mark.parametrize("coupling", COUPLINGS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, [0.0, np.nan]])
def test_response_rejects_non_finite(coupling, bad):
    n = WuxingNeuron(coupling=coupling)
    with pytest.raises(ValueError, match="finite"):
        n.response(bad)
    with pytest.raises(ValueError):
        n.steady_state(bad)


def test_response_rejects_2d_and_branch_misuse():
    with pytest.raises(ValueError):
        WuxingNeuron().response(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="flux"):
        WuxingNeuron().branch_response(0.1)
    f = WuxingNeuron(coupling="flux")
    with pytest.raises(ValueError, match="fold"):
        f.branch_response([0.0, f.fold_input - 0.01])
    with pytest.raises(ValueError):
        f.simulate(0.0, t_max=1.0, dt=2.0)
    with pytest.raises(ValueError):
        f.simulate(0.0, t_max=1.0, dt=0.0)
    with pytest.raises(ValueError):
        f.simulate(0.0, t_max=1.0, dt=0.1, x0=[1, 1, -1, 1, 1])
    with pytest.raises(ValueError):
        f.simulate(0.0, t_max=1.0, dt=0.1, x0=[1, 1, 1, 1])


# ---------------------------------------------------------------------------
# 7. Flux coupling: bounded input
# ---------------------------------------------------------------------------
EXTREME = np.array([-1e300, -1e6, -1e3, -1.0, 0.0, 1.0, 1e3, 1e6, 1e300])


@pytest.mark.parametrize("b", range(5))
@pytest.mark.parametrize("K", K_SETS + K_EXTRA, ids=kid)
def test_flux_extreme_inputs_are_finite(K, b):
    n = neuron(K, "flux", a=0, b=b)
    s, g = n.response(EXTREME)
    assert np.all(np.isfinite(s)) and np.all(np.isfinite(g))
    X = n.steady_state(EXTREME)
    assert np.all(np.isfinite(X)) and np.all(X > 0)
    v = n.effective_input(EXTREME)
    um = n.input_bound
    # strictly inside the bound wherever atan is resolved; never past the fold
    moderate = np.abs(EXTREME) <= 1e6
    assert np.all(np.abs(v[moderate]) < um)
    assert np.all(np.abs(v) <= um * (1 + 4 * np.finfo(float).eps))
    assert np.all(v > n.fold_input)
    # monotone saturation: the signal at +-1e300 is the branch's value at +-u_max
    s_edge, _ = n.branch_response([-um, um])
    np.testing.assert_allclose(s[[0, -1]], s_edge, atol=1e-12)
    assert np.all(np.diff(n.effective_input(np.linspace(-50, 50, 101))) > 0)


@pytest.mark.parametrize("K", K_SETS, ids=kid)
def test_flux_effective_input_strictly_inside_for_huge_inputs(K):
    n = neuron(K, "flux")
    v = n.effective_input(np.array([-1e300, 1e300]))
    assert np.all(np.abs(v) < n.input_bound)


@pytest.mark.parametrize("c", FLUX_CASES, ids=case_id)
def test_flux_fold_and_bound(c):
    n = from_case(c)
    assert n.fold_input == pytest.approx(c["fold_u"], abs=1e-9)
    assert n.input_bound == pytest.approx(0.9 * abs(n.fold_input), rel=1e-14)
    assert n.coupling == "flux" and n.fold_input < 0
    # the branch's gain blows up at the fold (dv/dt -> 0)
    _, g_near = n.branch_response([n.fold_input + 1e-10])
    _, g_0 = n.branch_response([0.0])
    assert abs(g_near[0]) > 1e3 * abs(g_0[0])


def test_flux_defaults_fold_value():
    n = WuxingNeuron(K1=0.8, K2=0.5, coupling="flux")
    assert n.fold_input == pytest.approx(-0.499, abs=5e-4)
    assert n.input_bound == pytest.approx(0.9 * abs(n.fold_input), rel=1e-15)
    # x_a = 0.5 at the fold: the input element's level on the branch near it
    m = WuxingNeuron(K1=0.8, K2=0.5, coupling="flux", output_element=0)
    s, _ = m.branch_response([n.fold_input + 1e-12])
    assert s[0] + m.fixed_point == pytest.approx(0.5, abs=1e-5)
    rate = WuxingNeuron()
    assert rate.fold_input is None and rate.input_bound == np.inf


# ---------------------------------------------------------------------------
# 8. Rate coupling: continuity at the breakpoints
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("b", range(5))
@pytest.mark.parametrize("K", K_SETS + K_EXTRA, ids=kid)
def test_rate_signal_continuous_at_breakpoints(K, b):
    n = neuron(K, "rate", a=0, b=b)
    assert n.breakpoints.size >= 2
    assert np.all(np.diff(n.breakpoints) > 0)
    for bp in n.breakpoints:
        left, right = np.nextafter(bp, -np.inf), bp  # bp belongs to the right
        s = n.signal([left, right, bp - 1e-10, bp + 1e-10])
        assert abs(s[0] - s[1]) <= 1e-9
        assert abs(s[2] - s[3]) <= 1e-9
        X = n.steady_state([bp - 1e-7, bp + 1e-7])
        np.testing.assert_allclose(X[0], X[1], rtol=0, atol=1e-6)
        # the survivor set changes there (dead levels are 0 to ~1e-16 |u|)
        dead = X <= 1e-12 * (1 + abs(bp))
        assert not np.array_equal(dead[0], dead[1])


# ---------------------------------------------------------------------------
# 9. Causal-distance gain structure
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("a", [0, 3])
@pytest.mark.parametrize("K", K_SETS + K_EXTRA, ids=kid)
def test_causal_gains(K, a):
    n = neuron(K, "rate", a=a, b=a)
    G = n.causal_gains()
    Ainv = np.linalg.inv(-spec_A(*K[:3]))
    np.testing.assert_allclose(G, [Ainv[(a + d) % 5, a] for d in range(5)],
                               rtol=1e-13)
    # only the distance d = b - a matters (the cycle's symmetry)
    np.testing.assert_allclose(G, neuron(K, "rate", a=0).causal_gains(), rtol=1e-13)
    # On the all-alive piece of the rate coupling the gain to element a + d is
    # G(d) whatever x* is (no x* factor: the x_a of the reverse system cancels
    # the 1/x_a of J = diag(x) A).  The flux gain at u = 0 is G(d) / x*.
    U = np.array([-0.5, 0.0, 0.7, 2.0])
    for d in range(5):
        rate = neuron(K, "rate", a=a, b=(a + d) % 5)
        assert np.all(rate.steady_state(U) > 0)  # all alive
        np.testing.assert_allclose(rate.gain(U), G[d], rtol=1e-10, atol=1e-13)
        flux = neuron(K, "flux", a=a, b=(a + d) % 5)
        assert flux.gain(0.0)[0] == pytest.approx(G[d] / flux.fixed_point,
                                                  rel=1e-10, abs=1e-13)
    if n.fixed_point != 1.0:  # "G(d) * x*" would be wrong here
        g1 = neuron(K, "rate", a=a, b=(a + 1) % 5).gain(0.0)[0]
        assert abs(G[1] * n.fixed_point - g1) > 0.1 * abs(g1)


@pytest.mark.parametrize("coupling", COUPLINGS)
@pytest.mark.parametrize("d", range(5))
def test_response_invariant_under_rotation(coupling, d):
    """Only b - a matters: the neuron's i -> i+1 symmetry."""
    u = np.linspace(-3, 12, 31) if coupling == "rate" else np.linspace(-2, 2, 21)
    K = (0.8, 0.5, 1.0, 1.0)
    s0, g0 = neuron(K, coupling, a=0, b=d).response(u)
    for a in (1, 4):
        s, g = neuron(K, coupling, a=a, b=(a + d) % 5).response(u)
        np.testing.assert_allclose(s, s0, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(g, g0, rtol=1e-12, atol=1e-13)
