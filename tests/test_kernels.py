"""Compiled kernels against plain NumPy references.

Every function of ``sklearn_symnet/_kernels.pyx`` has a NumPy reference
below (``ref_*``).  Each kernel must equal its reference (float64: rtol 1e-12,
float32: rtol 1e-5, relative to the size of the summed terms where a sum can
cancel) and give bit-identical results for any thread count; a dense matrix
and its CSR copy must give bit-identical first-layer results.
"""

import math
import os
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import log_softmax, softmax

from sklearn_symnet import WuxingNeuron
from sklearn_symnet import _kernels as K
from sklearn_symnet._neuron import CONSTANT_MATRICES, interaction_matrix

DTYPES = [
    pytest.param(np.float64, 1e-12, id="float64"),
    pytest.param(np.float32, 1e-5, id="float32"),
]
THREADS = [2, 3]


def assert_close(actual, expected, rtol, mag=None):
    """``|actual - expected| <= rtol * (|expected| + mag)`` elementwise.

    ``mag`` bounds the size of the terms a kernel adds up (e.g. ``|X| @ |W|``)
    so that cancelling sums are judged against the rounding they can suffer.
    ``expected`` is first rounded to ``actual``'s dtype (a float32 kernel
    stores float32 values: tiny ones underflow, huge ones saturate).
    """
    actual = np.asarray(actual)
    expected = np.asarray(expected).astype(actual.dtype).astype(np.float64)
    actual = actual.astype(np.float64)
    assert actual.shape == expected.shape
    assert np.all(np.isfinite(actual))
    scale = np.abs(expected) if mag is None else np.abs(expected) + mag
    bad = np.abs(actual - expected) > rtol * scale + 1e-300
    assert not bad.any(), (
        f"{bad.sum()} mismatches, worst |diff|="
        f"{np.max(np.abs(actual - expected)):.3e}"
    )


def c64(a):
    """A float64 *copy* (never a view of a buffer a kernel will overwrite)."""
    return np.array(a, dtype=np.float64)


# ---------------------------------------------------------------------------
# NumPy references
# ---------------------------------------------------------------------------
def ref_rate_forward(U, breakpoints, slope, intercept, gain):
    u = c64(U)
    seg = np.searchsorted(breakpoints, u, side="right")  # number of bp <= u
    return slope[seg] * u + intercept[seg], gain[seg]


def ref_flux_forward(U, u_max, u_max_pos, c1, beta, p, q):
    u = c64(U)
    bound = np.where(u < 0, u_max, u_max_pos)
    with np.errstate(invalid="ignore"):
        z = np.where(np.isfinite(bound), np.pi * u / (2 * bound), 0.0)
        v = np.where(np.isfinite(bound), bound * (2 / np.pi) * np.arctan(z), u)
    sq = np.sqrt(np.maximum(c1 * c1 - 4 * beta * v, 0.0))
    # root of beta t^2 + c1 t + v = 0 with dv/dt = -(c1 + 2 beta t) = +sq,
    # in the cancellation-free form (Vieta)
    if c1 >= 0:
        t = -(c1 + sq) / (2 * beta)
    else:
        t = 2 * v / (sq - c1)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        G = np.where(sq > 0, p / sq / (1 + z * z), 0.0)
    return p * t + q, G


def ref_matmul(A, trans_a, B, trans_b, C, alpha, beta):
    opA = c64(A).T if trans_a else c64(A)
    opB = c64(B).T if trans_b else c64(B)
    out = alpha * (opA @ opB)
    if beta != 0:
        out = out + beta * c64(C)
    return out


def ref_forward(X, rows, W, b):
    """``U[r] = b + X[rows[r]] @ W`` and the size of its terms."""
    Xr = c64(X)[rows]
    return c64(b) + Xr @ c64(W), np.abs(c64(b)) + np.abs(Xr) @ np.abs(c64(W))


def ref_grad(X, rows, D):
    """``X[rows].T @ D`` and the size of its terms."""
    Xr = c64(X)[rows]
    return Xr.T @ c64(D), np.abs(Xr).T @ np.abs(c64(D))


def ref_output_error(S, Y, sw, scale, group, squared):
    S, Y, sw = c64(S), c64(Y), c64(sw)
    n, m = S.shape
    if squared:  # 0.5 (y - scale s)^2
        D = Y - scale * S
        return float(np.sum(sw[:, None] * 0.5 * D * D)), sw[:, None] * scale * D
    Z = (scale * S).reshape(n, m // group, group)
    Yg = Y.reshape(n, m // group, group)
    w = sw[:, None, None]
    loss = -np.sum(w * Yg * log_softmax(Z, axis=-1))
    E = w * scale * (Yg - softmax(Z, axis=-1))
    return float(loss), E.reshape(n, m)


def ref_adam(param, grad, m1, m2, lr_t, beta1, beta2, eps):
    """sklearn's AdamOptimizer update, in float64."""
    g = c64(grad)
    m1 = beta1 * c64(m1) + (1 - beta1) * g
    m2 = beta2 * c64(m2) + (1 - beta2) * g * g
    param = c64(param) - lr_t * m1 / (np.sqrt(m2) + eps)
    return param, m1, m2


def ref_sgd(param, grad, velocity, lr, momentum, nesterov):
    """sklearn's SGDOptimizer update."""
    g = c64(grad)
    v = momentum * c64(velocity) - lr * g
    update = momentum * v - lr * g if nesterov else v
    return c64(param) + update, v


def ref_bound_coefficients(raw, bound):
    return bound * (2 / np.pi) * np.arctan(c64(raw))


def ref_bound_chain(raw, grad, bound):
    return c64(grad) * (2 * bound / np.pi) / (1 + c64(raw) ** 2)


def ref_finish_gradient(grad, coef, n_coef, alpha, inv_weight):
    g = c64(grad).copy()
    g[:n_coef] = (alpha * c64(coef)[:n_coef] - g[:n_coef]) * inv_weight
    g[n_coef:] = -g[n_coef:] * inv_weight
    return g


# ---------------------------------------------------------------------------
# Helpers to build inputs
# ---------------------------------------------------------------------------
def nan_like(shape, dtype):
    return np.full(shape, np.nan, dtype=dtype)


def make_design(rng, n_samples, d, density, dtype):
    """A dense matrix with zeros, an all-zero row and the matching CSR arrays."""
    X = rng.standard_normal((n_samples, d)) * (rng.random((n_samples, d)) < density)
    if n_samples > 1:
        X[n_samples // 2] = 0.0  # a CSR row without non-zeros
    X[-1, :] = 0.0  # ... also the last row (indptr[-2] == indptr[-1])
    X[0, 0] = 1.5  # at least one non-zero
    X = np.ascontiguousarray(X, dtype=dtype)
    csr = sp.csr_matrix(X)
    csr.sort_indices()
    data = np.ascontiguousarray(csr.data, dtype=dtype)
    indices = np.ascontiguousarray(csr.indices, dtype=np.int32)
    indptr = np.ascontiguousarray(csr.indptr, dtype=np.int64)
    return X, (data, indices, indptr)


# (n_samples, n_features, n_outputs, n_rows, density)
SPARSE_SHAPES = [
    (1, 1, 1, 1, 1.0),  # one row, one column
    (4, 1, 3, 6, 0.7),  # one feature, repeated rows
    (6, 5, 1, 9, 0.5),  # one output column
    (9, 40, 7, 12, 0.3),  # two feature blocks of 32
    (12, 70, 4, 25, 0.2),  # three blocks, many repeats
    (5, 33, 2, 0, 0.5),  # an empty minibatch
]


def make_rows(rng, n_samples, n_rows):
    rows = rng.integers(0, n_samples, size=n_rows).astype(np.int64)
    if n_rows >= 3:
        rows[1] = rows[0]  # a repeat, for sure
        rows[2] = n_samples - 1  # the empty last row
    return rows


# ---------------------------------------------------------------------------
# rate_forward / flux_forward
# ---------------------------------------------------------------------------
def rate_tables(neuron):
    """The kernel tables of one neuron: 2-D (one row), and its 1-D pieces."""
    t = neuron.table
    tables = (t._bp, t._slope, t._icpt, t._gain)
    m = t.n_pieces[0]
    return tables, (t._bp[0, : m - 1], t._slope[0, :m], t._icpt[0, :m], t._gain[0, :m])


def ref_flux_tables(theta, a, b, branch_bound, fraction=0.9):
    """NumPy reference of the flux coupling's tables (the stable branch
    ``x = pv t + qv``, its inflow range, the bounds and the derivatives of
    ``(c1, beta, pv_b, qv_b - x*)``), vectorised over rows."""
    theta = np.asarray(theta, dtype=np.float64)
    n = theta.shape[0]
    K1, K2, K3, r = theta.T
    A = interaction_matrix(K1, K2, K3)
    N = [i for i in range(5) if i != a]
    inv = np.linalg.inv(A[:, N][:, :, N])
    pv = np.zeros((n, 5))
    qv = np.zeros((n, 5))
    pv[:, a] = 1.0
    pv[:, N] = -np.einsum("nij,nj->ni", inv, A[:, N, a])
    qv[:, N] = -inv.sum(-1) * r[:, None]
    c1 = r + np.einsum("nj,nj->n", A[:, a], qv)
    beta = np.einsum("nj,nj->n", A[:, a], pv)
    xs = r / K3
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        t_lo = np.zeros(n)
        t_hi = np.full(n, np.inf)
        vert = -c1 / (2 * beta)
        t_lo = np.where(beta < 0, np.maximum(t_lo, vert), t_lo)
        t_hi = np.where(beta > 0, np.minimum(t_hi, vert), t_hi)
        for i in N:
            root = -qv[:, i] / pv[:, i]
            t_lo = np.where(pv[:, i] > 0, np.maximum(t_lo, root), t_lo)
            t_hi = np.where(pv[:, i] < 0, np.minimum(t_hi, root), t_hi)
        u_lo = -t_lo * (c1 + beta * t_lo)
        u_hi = np.where(np.isfinite(t_hi), -t_hi * (c1 + beta * t_hi), np.inf)
    assert np.all((t_lo < xs) & (xs < t_hi))
    if branch_bound:
        um, up = fraction * -u_lo, fraction * u_hi
    else:
        um = up = fraction * np.minimum(-u_lo, u_hi)
    with np.errstate(divide="ignore"):
        c_neg = np.where(np.isfinite(um), np.pi / (2 * um), 0.0)
        c_pos = np.where(np.isfinite(up), np.pi / (2 * up), 0.0)
    F = np.stack([um, up, c_neg, c_pos, c1, beta, pv[:, b], qv[:, b] - xs], axis=1)
    G = np.zeros((n, 4, 4))
    for j in range(4):
        dA = CONSTANT_MATRICES[j] if j < 3 else np.zeros((5, 5))
        dr = 1.0 if j == 3 else 0.0
        dpv = np.zeros((n, 5))
        dqv = np.zeros((n, 5))
        dpv[:, N] = -np.einsum("nij,nj->ni", inv, (pv @ dA.T)[:, N])
        dqv[:, N] = -np.einsum("nij,nj->ni", inv, (qv @ dA.T)[:, N] + dr)
        G[:, j, 0] = dr + qv @ dA[a] + np.einsum("nj,nj->n", A[:, a], dqv)
        G[:, j, 1] = pv @ dA[a] + np.einsum("nj,nj->n", A[:, a], dpv)
        G[:, j, 2] = dpv[:, b]
        dxs = (-r / K3**2) if j == 2 else (1.0 / K3 if j == 3 else 0.0)
        G[:, j, 3] = dqv[:, b] - dxs
    return F, G, pv, qv, np.stack([u_lo, u_hi], axis=1)


def flux_row(um, up, c1, beta, p, q):
    """One row of the flux kernel's table."""
    c_neg = np.pi / (2 * um) if np.isfinite(um) else 0.0
    c_pos = np.pi / (2 * up) if np.isfinite(up) else 0.0
    return np.array([[um, up, c_neg, c_pos, c1, beta, p, q]])


RATE_NEURONS = [
    dict(K1=0.8, K2=0.5),
    dict(K1=0.3, K2=0.2, output_element=0),
    dict(K1=1.5, K2=1.0, output_element=4),
]


@pytest.mark.parametrize("branch_bound", [False, True])
@pytest.mark.parametrize("a, b", [(0, 1), (0, 4), (2, 3), (4, 0)])
def test_flux_tables(branch_bound, a, b):
    """The compiled flux-table builder against the NumPy reference, on
    constants spread over the valid range (both bounds, any elements)."""
    rng = np.random.default_rng(a * 5 + b)
    n = 40
    K3 = rng.uniform(0.2, 3.0, n)
    theta = np.stack([K3 * rng.uniform(-3.5, 3.5, n), K3 * rng.uniform(-3.5, 3.5, n), K3,
                      rng.uniform(0.05, 4.0, n)], axis=1)
    theta[0] = [0.8, 0.5, 1.0, 1.0]
    theta[1] = [1.0, 1.0, 1.0, 1.0]  # round constants
    F = np.empty((n, 8))
    G = np.empty((n, 4, 4))
    pv = np.empty((n, 5))
    qv = np.empty((n, 5))
    ends = np.empty((n, 2))
    bad = K.flux_tables(theta, a, b, np.ascontiguousarray(CONSTANT_MATRICES),
                        branch_bound, 0.9, F, G, pv, qv, ends)
    assert bad == 0
    F_ref, G_ref, pv_ref, qv_ref, ends_ref = ref_flux_tables(theta, a, b, branch_bound)
    np.testing.assert_allclose(F, F_ref, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(G, G_ref, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(pv, pv_ref, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(qv, qv_ref, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(ends, ends_ref, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("dtype, rtol", DTYPES)
@pytest.mark.parametrize("branch_bound", [False, True])
def test_flux_constant_grads_from_kept_levels(dtype, rtol, branch_bound):
    """The forward pass's levels give the constants' gradients without
    solving the branch again: the same sums as from the inputs."""
    rng = np.random.default_rng(7)
    theta = np.array([[0.8, 0.5, 1.0, 1.0], [0.3, -0.4, 1.5, 0.7], [1.2, 0.9, 0.8, 2.0]])
    n, m = 57, theta.shape[0]
    F, G, _, _, ends = ref_flux_tables(theta, 0, 1, branch_bound)
    U = rng.normal(0, 1.5, (n, m)).astype(dtype) * np.abs(ends[:, 0]).astype(dtype)
    E = rng.normal(size=(n, m)).astype(dtype)
    S, Gn = np.empty_like(U), np.empty_like(U)
    levels = np.full((n + 3, m), np.nan)  # room for more rows than U's
    K.flux_forward(U, F, S, Gn, True, 2, levels)
    t_ref = np.empty((n, m))
    K.flux_forward(c64(U), F, np.empty((n, m)), np.empty((n, m)), True, 1, t_ref)
    np.testing.assert_allclose(levels[:n], t_ref, rtol=1e-15)
    out_u, out_t = np.empty((m, 4)), np.empty((m, 4))
    K.flux_constant_grads(U, E, F, G, out_u, 1)
    K.flux_constant_grads(U, E, F, G, out_t, 2, levels)
    np.testing.assert_allclose(out_t, out_u, rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="levels"):
        K.flux_forward(U, F, S, Gn, True, 1, np.empty((n, m + 1)))
    with pytest.raises(ValueError, match="levels"):
        K.flux_constant_grads(U, E, F, G, out_t, 1, np.empty((n - 1, m)))


def test_flux_tables_rejects_inconsistent_shapes():
    theta = np.array([[0.8, 0.5, 1.0, 1.0]])
    with pytest.raises(ValueError, match="inconsistent shapes"):
        K.flux_tables(theta, 0, 1, np.ascontiguousarray(CONSTANT_MATRICES), True, 0.9,
                      np.empty((1, 7)), np.empty((1, 4, 4)), np.empty((1, 5)),
                      np.empty((1, 5)), np.empty((1, 2)))


def ref_constants_from_free(phi, fixed, kappa, k3_min, r_min):
    """NumPy reference of the trained constants' parameterisation."""
    n = fixed.shape[0]
    phi = phi.reshape(n, -1).astype(np.float64)
    c = fixed.copy()
    if phi.shape[1] == 4:
        c[:, 2] = k3_min + np.logaddexp(0.0, phi[:, 2])
        c[:, 3] = r_min + np.logaddexp(0.0, phi[:, 3])
    c[:, :2] = c[:, 2:3] * kappa[:, None] * (2 / np.pi) * np.arctan(phi[:, :2])
    return c


def ref_constants_chain(phi, c, g, kappa):
    """NumPy reference of the parameterisation's chain rule."""
    n = c.shape[0]
    phi = phi.reshape(n, -1).astype(np.float64)
    if n == 1:
        g = g.sum(axis=0, keepdims=True)
    out = np.empty_like(phi)
    out[:, :2] = g[:, :2] * c[:, 2:3] * kappa[:, None] * (2 / np.pi) / (1 + phi[:, :2] ** 2)
    if phi.shape[1] == 4:
        sig = 0.5 * (1 + np.tanh(0.5 * phi[:, 2:]))
        out[:, 2] = (g[:, 2] + (g[:, 0] * c[:, 0] + g[:, 1] * c[:, 1]) / c[:, 2]) * sig[:, 0]
        out[:, 3] = g[:, 3] * sig[:, 1]
    return out.ravel()


@pytest.mark.parametrize("dtype, rtol", DTYPES)
@pytest.mark.parametrize("n_free", [2, 4])
@pytest.mark.parametrize("n, n_units", [(1, 1), (1, 7), (7, 7)])
def test_constants_from_free_and_chain(dtype, rtol, n_free, n, n_units):
    rng = np.random.default_rng(n * 10 + n_free)
    fixed = np.abs(rng.normal(size=(n, 4))) + 0.1
    kappa = rng.uniform(4, 8, n)
    k3_min, r_min = 0.1 * fixed[:, 2], 0.05 * fixed[:, 3]
    phi = rng.normal(0, 3, n * n_free).astype(dtype)
    phi[0] = 800.0  # softplus and atan far out stay finite
    c = np.empty((n, 4))
    K.constants_from_free(phi, fixed, kappa, k3_min, r_min, c)
    c_ref = ref_constants_from_free(phi, fixed, kappa, k3_min, r_min)
    np.testing.assert_allclose(c, c_ref, rtol=1e-14, atol=1e-300)
    g = rng.normal(size=(n_units, 4))
    out = np.empty_like(phi)
    K.constants_chain(phi, c, g, kappa, out)
    assert_close(out, ref_constants_chain(phi, c, g, kappa), rtol)
    with pytest.raises(ValueError, match="inconsistent shapes"):
        K.constants_chain(phi, c, np.ascontiguousarray(g[:, :3]), kappa, out)
    with pytest.raises(ValueError, match="inconsistent shapes"):
        K.constants_from_free(phi[:-1], fixed, kappa, k3_min, r_min, c)


def ref_pid_step(param, grad, state, kp, ki, kd, leak, max_step, normalize, rho, eps):
    """NumPy reference of one per-parameter PID step (state: t, v, I, previous)."""
    state["t"] += 1
    E = -grad.astype(np.float64)
    if normalize:
        state["v"] = rho * state["v"] + (1 - rho) * E * E
        E = E / (np.sqrt(state["v"] / (1 - rho ** state["t"])) + eps)
    if leak < 1:
        lim = 1.0 / (1.0 - leak)
        state["I"] = np.clip(leak * state["I"] + E, -lim, lim)
    else:
        state["I"] = state["I"] + E
    D = E - state["previous"] if state["t"] > 1 else np.zeros_like(E)
    state["previous"] = E
    u = kp * E + ki * state["I"] + kd * D
    if np.isfinite(max_step):
        u = max_step * (2 / np.pi) * np.arctan(u / max_step)
    return param + u.astype(param.dtype)


@pytest.mark.parametrize("dtype, rtol", DTYPES)
@pytest.mark.parametrize("leak, max_step, normalize", [(0.9, 0.05, True), (0.5, np.inf, False),
                                                       (1.0, 0.2, True)])
def test_pid_step(dtype, rtol, leak, max_step, normalize):
    rng = np.random.default_rng(3)
    n = 37
    param = rng.normal(size=n).astype(dtype)
    expected = param.astype(np.float64).astype(dtype)
    v, integral, previous = np.zeros(n), np.zeros(n), np.zeros(n)
    state = {"t": 0, "v": np.zeros(n), "I": np.zeros(n), "previous": np.zeros(n)}
    for t in range(1, 6):
        grad = rng.normal(size=n).astype(dtype)
        K.pid_step(param, grad, v, integral, previous, 0.3, 0.1, 0.05, leak, max_step,
                   normalize, 0.999, 1.0 - 0.999 ** t, 1e-8, t == 1)
        expected = ref_pid_step(expected, grad, state, 0.3, 0.1, 0.05, leak, max_step,
                                normalize, 0.999, 1e-8)
        assert_close(param, expected, 10 * rtol)
        np.testing.assert_allclose(integral, state["I"], rtol=1e-12)
    with pytest.raises(ValueError, match="inconsistent shapes"):
        K.pid_step(param, grad[:-1], v, integral, previous, 0.3, 0.1, 0.05, leak, max_step,
                   normalize, 0.999, 0.5, 1e-8, False)


@pytest.mark.parametrize("dtype, rtol", DTYPES)
@pytest.mark.parametrize("kw", RATE_NEURONS)
@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (13, 1), (37, 11)])
def test_rate_forward(dtype, rtol, kw, shape):
    rng = np.random.default_rng(0)
    tables, (bp, slope, icpt, gain) = rate_tables(WuxingNeuron(**kw))
    # the reverse system's gain equals the forward slope on every piece
    np.testing.assert_allclose(gain, slope, rtol=1e-12, atol=1e-14)
    U = rng.uniform(-6, 65, size=shape)
    flat = U.reshape(-1)
    # exactly at the breakpoints (belong to the right-hand piece) and beside
    for j, b in enumerate(bp):
        if 2 * j + 1 < flat.size:
            flat[2 * j] = b
            flat[2 * j + 1] = np.nextafter(b, -np.inf)
    U = np.ascontiguousarray(U, dtype=dtype)
    S_ref, G_ref = ref_rate_forward(U, bp, slope, icpt, gain)
    S, G = nan_like(shape, dtype), nan_like(shape, dtype)
    K.rate_forward(U, *tables, S, G, True, 1)
    assert S.dtype == G.dtype == dtype
    # the intercept can cancel the slope term: judge against their size
    seg = np.searchsorted(bp, c64(U), side="right")
    mag = np.abs(slope[seg] * c64(U)) + np.abs(icpt[seg])
    assert_close(S, S_ref, rtol, mag)
    assert_close(G, G_ref, rtol)
    for nt in THREADS:
        S2, G2 = nan_like(shape, dtype), nan_like(shape, dtype)
        K.rate_forward(U, *tables, S2, G2, True, nt)
        assert np.array_equal(S, S2) and np.array_equal(G, G2)
    # S may alias U
    U2 = U.copy()
    G3 = nan_like(shape, dtype)
    K.rate_forward(U2, *tables, U2, G3, True, 1)
    assert np.array_equal(U2, S) and np.array_equal(G3, G)
    # prediction: signals only, the gains are not written
    S5, G5 = nan_like(shape, dtype), nan_like(shape, dtype)
    K.rate_forward(U, *tables, S5, G5, False, 1)
    assert np.array_equal(S5, S) and np.all(np.isnan(G5))


def test_rate_forward_piece_selection():
    bp = np.array([[-1.0, 2.0]])
    slope = np.array([[10.0, 20.0, 30.0]])
    icpt = np.array([[1.0, 2.0, 3.0]])
    U = np.array([[-5.0, -1.0, np.nextafter(-1.0, -2.0), 0.0, 2.0, 7.0]])
    S, G = np.empty_like(U), np.empty_like(U)
    K.rate_forward(U, bp, slope, icpt, slope, S, G, True, 1)
    np.testing.assert_array_equal(G[0], [10, 20, 10, 20, 30, 30])
    # signal and gain come from separate tables
    S4, G4 = np.empty_like(U), np.empty_like(U)
    K.rate_forward(U, bp, slope, icpt, -slope, S4, G4, True, 1)
    np.testing.assert_array_equal(S4, S)
    np.testing.assert_array_equal(G4, -G)
    np.testing.assert_allclose(S[0], G[0] * U[0] + [1, 2, 1, 2, 3, 3], rtol=1e-15)
    # no breakpoints: one piece
    S1, G1 = np.empty_like(U), np.empty_like(U)
    K.rate_forward(U, np.empty((1, 0)), slope[:, :1], icpt[:, :1], slope[:, :1], S1, G1,
                   True, 1)
    np.testing.assert_allclose(S1, 10 * U + 1, rtol=1e-15)
    np.testing.assert_array_equal(G1, np.full_like(U, 10.0))
    # no breakpoints, one table row per unit (the per-unit loop; no pointer
    # into the empty table)
    m = U.shape[1]
    sl_u, ic_u = np.arange(1.0, m + 1)[:, None], np.arange(m, dtype=float)[:, None]
    Su, Gu = np.empty_like(U), np.empty_like(U)
    K.rate_forward(U, np.empty((m, 0)), sl_u, ic_u, sl_u, Su, Gu, True, 1)
    np.testing.assert_allclose(Su[0], sl_u[:, 0] * U[0] + ic_u[:, 0], rtol=1e-15)
    np.testing.assert_array_equal(Gu[0], sl_u[:, 0])


def test_rate_forward_one_table_row_per_unit():
    """Tables of one row per unit (padded with +inf breakpoints and repeats of
    the last piece): unit k reads row k; a wrong row count is refused."""
    bp = np.array([[-1.0, 2.0], [0.5, np.inf], [np.inf, np.inf]])
    slope = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 5.0], [6.0, 6.0, 6.0]])
    icpt = np.array([[0.0, 0.1, 0.2], [1.0, 2.0, 2.0], [7.0, 7.0, 7.0]])
    U = np.array([[-3.0, 0.0, 1e300], [3.0, 1.0, -1e300]])
    S, G = np.empty_like(U), np.empty_like(U)
    K.rate_forward(U, bp, slope, icpt, slope, S, G, True, 1)
    np.testing.assert_array_equal(G, [[1.0, 4.0, 6.0], [3.0, 5.0, 6.0]])
    np.testing.assert_array_equal(S, [[-3.0, 1.0, 6e300 + 7.0], [9.2, 7.0, -6e300]])
    with pytest.raises(ValueError, match="1 or U.shape"):
        K.rate_forward(U[:, :2].copy(), bp, slope, icpt, slope, S[:, :2].copy(),
                       G[:, :2].copy(), True, 1)


def test_rate_forward_reads_only_used_breakpoints():
    """The piece is counted over the columns that hold a finite breakpoint in
    some row (the rest is +inf padding): rows of 0, 1 and 3 breakpoints in a
    table 6 wide, inputs on, beside and between every breakpoint, and the
    padded pieces (repeats of the last) for inputs beyond all of them."""
    rng = np.random.default_rng(3)
    bp = np.full((3, 6), np.inf)
    bp[1, 0] = 0.5
    bp[2, :3] = [-2.0, 0.0, 1.5]
    slope = np.repeat(rng.uniform(0.1, 2.0, (3, 4)), [1, 1, 1, 4], axis=1)
    icpt = np.repeat(rng.uniform(-1.0, 1.0, (3, 4)), [1, 1, 1, 4], axis=1)
    gain = -slope
    cols = [-9.0, -2.0, np.nextafter(-2.0, -3), 0.0, np.nextafter(0.0, -1), 0.5, 1.0,
            1.5, np.nextafter(1.5, 0), 40.0, np.nan, -np.inf]
    U = np.repeat(np.array(cols)[:, None], 3, axis=1)
    S, G = np.empty_like(U), np.empty_like(U)
    K.rate_forward(U, bp, slope, icpt, gain, S, G, True, 1)
    for k in range(3):
        seg = np.searchsorted(bp[k], U[:, k], side="right")
        seg[np.isnan(U[:, k])] = 0  # NaN is at or above no breakpoint
        with np.errstate(invalid="ignore"):  # (the kernel may fuse the multiply-add)
            np.testing.assert_allclose(S[:, k], slope[k, seg] * U[:, k] + icpt[k, seg],
                                       rtol=1e-15, atol=1e-15)
        np.testing.assert_array_equal(G[:, k], gain[k, seg])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_bp", [0, 1, 4, 5, 7])
def test_rate_forward_shared_table_any_width(dtype, n_bp):
    """One table shared by all units: up to four breakpoints take the
    vectorised row loop, more the general one; both pick the piece as a
    search would, with or without gains, in place or not."""
    rng = np.random.default_rng(n_bp)
    bp = np.full((1, 9), np.inf)
    bp[0, :n_bp] = np.sort(rng.uniform(-3, 3, n_bp))
    slope = rng.uniform(0.1, 2.0, (1, 10))
    icpt = rng.uniform(-1.0, 1.0, (1, 10))
    slope[0, n_bp:] = slope[0, n_bp]
    icpt[0, n_bp:] = icpt[0, n_bp]
    U = rng.uniform(-4, 4, (37, 13)).astype(dtype)
    U.flat[: n_bp] = bp[0, :n_bp]  # exactly on a breakpoint: the right-hand piece
    seg = np.searchsorted(bp[0], c64(U), side="right")
    S, G = np.empty_like(U), np.empty_like(U)
    assert K.rate_forward(U, bp, slope, icpt, -slope, S, G, True, 2) == 0
    np.testing.assert_allclose(S, (slope[0, seg] * c64(U) + icpt[0, seg]).astype(dtype),
                               rtol=1e-6 if dtype == np.float32 else 1e-15, atol=1e-7)
    np.testing.assert_array_equal(G, (-slope[0, seg]).astype(dtype))
    U2 = U.copy()
    K.rate_forward(U2, bp, slope, icpt, -slope, U2, None, False, 1)
    np.testing.assert_array_equal(U2, S)


def test_rate_forward_float32_gains_at_breakpoints():
    """float32 gains are picked in float against the breakpoints rounded up to
    float: the float just below, on and just above each breakpoint (one
    exactly a float, one beyond float's range) get the piece a float64
    search gives, and the same as the float64 kernel on the same inputs."""
    bp = np.array([[-1.21995578, 0.1, 2.5, 1e39, np.inf]])
    slope = np.array([[1.0, 2.0, 3.0, 4.0, 5.0, 5.0]])
    icpt = np.array([[0.5, -0.5, 1.5, -1.5, 2.5, 2.5]])
    gain = -slope
    cols = []
    for b in bp[0, :4]:
        f = np.float32(b)  # nearest float: on one side of b, or on it
        cols += [np.nextafter(f, np.float32(-np.inf)), f, np.nextafter(f, np.float32(np.inf))]
    cols += [np.float32(np.inf), -np.float32(np.inf), np.float32(3.4e38)]
    U = np.array([cols, cols[::-1]], dtype=np.float32)
    seg = np.searchsorted(bp[0], c64(U), side="right")
    S, G = np.empty_like(U), np.empty_like(U)
    K.rate_forward(U, bp, slope, icpt, gain, S, G, True, 1)
    np.testing.assert_array_equal(G, gain[0, seg].astype(np.float32))
    S64, G64 = np.empty(U.shape), np.empty(U.shape)
    K.rate_forward(c64(U), bp, slope, icpt, gain, S64, G64, True, 1)
    np.testing.assert_array_equal(G, G64.astype(np.float32))
    with np.errstate(invalid="ignore", over="ignore"):
        np.testing.assert_array_equal(S, S64.astype(np.float32))


FLUX_NEURONS = [
    dict(K1=0.8, K2=0.5, coupling="flux"),
    dict(K1=0.3, K2=0.2, coupling="flux", output_element=3),
    dict(K1=1.5, K2=1.0, K3=0.5, r=2.0, coupling="flux", output_element=0),
    dict(K1=0.3, K2=0.2, coupling="flux", flux_bound="branch"),
    dict(K1=0.8, K2=0.5, coupling="flux", output_element=0, flux_bound="branch"),
]


@pytest.mark.parametrize("dtype, rtol", DTYPES)
@pytest.mark.parametrize("kw", FLUX_NEURONS)
@pytest.mark.parametrize("bounded", [True, False])
@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (9, 1), (23, 6)])
def test_flux_forward(dtype, rtol, kw, bounded, shape):
    rng = np.random.default_rng(1)
    neuron = WuxingNeuron(**kw)
    F = neuron.table.element_view(neuron.output_element, bounded)._flux
    um, up, _, _, c1, beta, p, q = F[0]
    assert np.isfinite(um) == bounded
    assert up >= um
    if bounded:
        U = rng.standard_normal(shape) * 3.0
        flat = U.reshape(-1)
        k = min(4, flat.size)
        flat[:k] = [-1e300, 1e300, 0.0, -1e6][:k]
    else:  # the branch itself: stay above the fold
        fold = neuron.fold_input
        U = rng.uniform(0.9 * fold, 3.0, size=shape)
    if dtype == np.float32:
        U = np.clip(U, -1e30, 1e30)
    U = np.ascontiguousarray(U, dtype=dtype)
    S_ref, G_ref = ref_flux_forward(U, um, up, c1, beta, p, q)
    S, G = nan_like(shape, dtype), nan_like(shape, dtype)
    K.flux_forward(U, F, S, G, True, 1)
    # S = p t + q cancels near u = 0: judge against |p t| + |q|
    assert_close(S, S_ref, rtol, np.abs(S_ref - q) + abs(q))
    assert_close(G, G_ref, rtol)
    for nt in THREADS:
        S2, G2 = nan_like(shape, dtype), nan_like(shape, dtype)
        K.flux_forward(U, F, S2, G2, True, nt)
        assert np.array_equal(S, S2) and np.array_equal(G, G2)
    U2 = U.copy()
    G3 = nan_like(shape, dtype)
    K.flux_forward(U2, F, U2, G3, True, 1)
    assert np.array_equal(U2, S) and np.array_equal(G3, G)
    S5, G5 = nan_like(shape, dtype), nan_like(shape, dtype)
    K.flux_forward(U, F, S5, G5, False, 1)
    assert np.array_equal(S5, S) and np.all(np.isnan(G5))
    # one table row per unit (trained constants) takes the general loop: the
    # same bits as the vectorised shared-row loop
    S6, G6 = nan_like(shape, dtype), nan_like(shape, dtype)
    K.flux_forward(U, np.repeat(F, shape[1], axis=0), S6, G6, True, 1)
    assert np.array_equal(S6, S) and np.array_equal(G6, G)


def _ulps(a, ref):
    return np.abs(a - ref) / np.spacing(np.maximum(np.abs(ref), np.finfo(float).tiny))


def test_kernel_atan_within_one_ulp():
    """The flux neurons' branch-free atan (Cephes) against libm's, on every
    range it picks (|x| <= 0.66, up to tan(3 pi/8), beyond) and their edges,
    with exact zeros, infinities, NaN, subnormal and huge inputs."""
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.standard_normal(20000) * scale
                        for scale in (1e-12, 1e-3, 0.3, 1.0, 3.0, 30.0, 1e6, 1e200)])
    edges = np.array([0.66, 2.414213562373095, 1.0])
    x = np.concatenate([x, edges, np.nextafter(edges, 0), np.nextafter(edges, 3), -edges])
    a, below = np.empty_like(x), np.empty_like(x)
    K.scalar_functions(x, a, below)
    ref = np.array([math.atan(v) for v in x])
    assert _ulps(a, ref).max() <= 1.0
    assert np.mean(a == ref) > 0.95  # rounded as libm's nearly everywhere
    special = np.array([0.0, -0.0, np.inf, -np.inf, 5e-324, -5e-324, 1e308])
    a, below = np.empty_like(special), np.empty_like(special)
    K.scalar_functions(special, a, below)
    np.testing.assert_array_equal(a, [0.0, -0.0, np.pi / 2, -np.pi / 2, 5e-324, -5e-324,
                                      np.pi / 2])
    assert np.signbit(a[1]) and not np.signbit(a[0])
    nan = np.array([np.nan])
    K.scalar_functions(nan, a[:1], below[:1])
    assert np.isnan(a[0])


def test_kernel_below_is_nextafter_toward_zero():
    """The strict flux bound ``_below(u_max)`` is ``nextafter(u_max, 0)`` for
    positive bounds from 2^-1021 up (the smallest binade's product would be
    subnormal), powers of two (half the spacing below) included."""
    rng = np.random.default_rng(1)
    x = np.concatenate([np.exp(rng.uniform(-700, 700, 50000)), 2.0 ** np.arange(-1021, 1024),
                        [np.finfo(float).max, 1.0, 3.0, np.nextafter(2.0 ** -1021, 1.0)]])
    a, below = np.empty_like(x), np.empty_like(x)
    K.scalar_functions(x, a, below)
    np.testing.assert_array_equal(below, np.nextafter(x, 0.0))


@pytest.mark.parametrize("c1, beta", [(2.0, -1.5), (-0.7, -1.2), (1.0, 0.8)])
def test_flux_forward_solves_the_branch(c1, beta):
    """Independent of the closed form: the level t = (s - q)/p solves
    beta t^2 + c1 t + v = 0 on the root with dv/dt = -(c1 + 2 beta t) > 0,
    and the gain is ds/du (finite differences), for both root formulas."""
    p, q = 0.7, -0.3
    v_fold = c1 * c1 / (4 * beta)  # the discriminant vanishes there
    for u_max in (np.inf, 0.8 * abs(v_fold)):
        if np.isfinite(u_max):  # |v| < u_max keeps the discriminant positive
            u = np.linspace(-3.0, 3.0, 19)
        elif beta < 0:
            u = np.linspace(0.9 * v_fold, 3.0, 19)
        else:
            u = np.linspace(-3.0, 0.9 * v_fold, 19)
        U = u.reshape(-1, 1).copy()
        S, G = np.empty_like(U), np.empty_like(U)
        F = flux_row(u_max, u_max, c1, beta, p, q)
        K.flux_forward(U, F, S, G, True, 1)
        if np.isfinite(u_max):
            v = u_max * (2 / np.pi) * np.arctan(np.pi * u / (2 * u_max))
        else:
            v = u
        t = (S[:, 0] - q) / p
        np.testing.assert_allclose(beta * t * t + c1 * t + v, 0.0, atol=1e-12)
        assert np.all(-(c1 + 2 * beta * t) > 0)
        h = 1e-6
        Sp, Sm, Gx = np.empty_like(U), np.empty_like(U), np.empty_like(U)
        K.flux_forward(U + h, F, Sp, Gx, True, 1)
        K.flux_forward(U - h, F, Sm, Gx, True, 1)
        np.testing.assert_allclose(G, (Sp - Sm) / (2 * h), rtol=1e-6, atol=1e-8)


def test_flux_forward_below_fold_is_finite():
    # unbounded input below the fold: no root, the kernel must stay finite
    c1, beta, p, q = 2.0, -1.0, 0.5, 0.1
    U = np.array([[-1.0 - 1e-9, -5.0, -1e300]])  # fold at -c1^2 / (4 |beta|) = -1
    S, G = nan_like(U.shape, np.float64), nan_like(U.shape, np.float64)
    K.flux_forward(U, flux_row(np.inf, np.inf, c1, beta, p, q), S, G, True, 1)
    assert np.all(np.isfinite(S)) and np.all(np.isfinite(G))
    np.testing.assert_array_equal(G, 0.0)
    np.testing.assert_allclose(S, p * (-c1 / (2 * beta)) + q)


# ---------------------------------------------------------------------------
# reverse_signal, matmul
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype, rtol", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (6, 1), (17, 9)])
def test_reverse_signal(dtype, rtol, shape):
    rng = np.random.default_rng(2)
    E = rng.standard_normal(shape).astype(dtype)
    G = rng.standard_normal(shape).astype(dtype)
    G.reshape(-1)[0] = 0.0
    expected = c64(E) * c64(G)
    K.reverse_signal(E, G)
    assert_close(E, expected, rtol)


@pytest.mark.parametrize("dtype, rtol", DTYPES)
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize(
    "m, n, k", [(1, 1, 1), (1, 7, 3), (6, 1, 4), (5, 3, 1), (13, 9, 21), (4, 6, 0)]
)
@pytest.mark.parametrize("alpha, beta", [(1.0, 0.0), (-0.5, 1.0), (2.0, -0.25)])
def test_matmul(dtype, rtol, trans_a, trans_b, m, n, k, alpha, beta):
    rng = np.random.default_rng(3)
    A = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    B = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    C0 = rng.standard_normal((m, n)).astype(dtype)
    if beta == 0:
        C0[...] = np.nan  # beta == 0: C is not read
    expected = ref_matmul(A, trans_a, B, trans_b, C0, alpha, beta)
    mag = abs(alpha) * ref_matmul(np.abs(A), trans_a, np.abs(B), trans_b, C0, 1, 0)
    if beta != 0:
        mag = mag + abs(beta) * np.abs(c64(C0))
    C = C0.copy()
    K.matmul(A, trans_a, B, trans_b, C, alpha, beta)
    assert C.dtype == dtype
    assert_close(C, expected, rtol, mag)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("m", [8, 200, 333])
def test_matmul_row_blocks_are_thread_independent(dtype, trans_a, m):
    """Large products run as row blocks fixed by the shape: any thread count
    gives the same bits, and the blocks agree with the reference."""
    rng = np.random.default_rng(5)
    k, n = 480, 90
    A = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    B = rng.standard_normal((k, n)).astype(dtype)
    nblk, rows = K.matmul_blocks(m, n, k)
    assert nblk & (nblk - 1) == 0 and nblk * rows >= m > (nblk - 1) * rows
    if m >= 200:
        assert nblk > 1  # the parallel branch is what is tested here
    out = []
    for nt in (1, 2, 3):
        C = np.full((m, n), np.nan, dtype=dtype)
        K.matmul(A, trans_a, B, False, C, 1.0, 0.0, nt)
        out.append(C)
    assert np.array_equal(out[0], out[1]) and np.array_equal(out[0], out[2])
    expected = ref_matmul(A, trans_a, B, False, np.zeros((m, n)), 1.0, 0.0)
    mag = ref_matmul(np.abs(A), trans_a, np.abs(B), False, np.zeros((m, n)), 1, 0)
    assert_close(out[0], expected, 1e-12 if dtype == np.float64 else 1e-5, mag)


def test_matmul_blocks_depend_on_shape_only():
    assert K.matmul_blocks(10, 10, 10) == (1, 10)
    assert K.matmul_blocks(0, 10, 10)[0] == 1
    nblk, rows = K.matmul_blocks(128, 100, 784)  # 10M multiply-adds
    assert nblk == 2 and rows == 64
    assert K.matmul_blocks(10**6, 100, 100)[0] == 16  # capped
    # a product that gets threads (2M multiply-adds and more) is never one block
    assert K.matmul_blocks(128, 100, 200) == (2, 64)  # 2.56M
    assert K.matmul_blocks(128, 100, 150)[0] == 1  # 1.92M
    assert K.matmul_blocks(8, 1000, 1000)[0] == 1  # but blocks keep 8 rows or more


def test_matmul_defaults_and_shape_check():
    rng = np.random.default_rng(4)
    A, B = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    C = np.full((3, 2), np.nan)
    K.matmul(A, False, B, False, C)  # alpha=1, beta=0
    np.testing.assert_allclose(C, A @ B, rtol=1e-12)
    with pytest.raises(ValueError, match="incompatible"):
        K.matmul(A, True, B, False, C)
    with pytest.raises(ValueError, match="incompatible"):
        K.matmul(A, False, B, False, np.empty((3, 3)))


# ---------------------------------------------------------------------------
# First layer: a minibatch compacted to CSR (from dense or CSR input), the
# forward product, its CSC transpose and the coefficient gradient
# ---------------------------------------------------------------------------
def compact(X, rows, dtype):
    """Run compact_dense; return the used parts of (vals, idx, ptr) and nnz."""
    cap = max(len(rows) * X.shape[1], 1)
    vals, idx = nan_like(cap, dtype), np.full(cap, -7, np.int32)
    ptr = np.full(len(rows) + 1, -7, np.int64)
    nnz = K.compact_dense(X, rows, vals, idx, ptr)
    return vals, idx, ptr, nnz


@pytest.mark.parametrize("dtype, rtol", DTYPES)
@pytest.mark.parametrize("n_samples, d, m, n_rows, density", SPARSE_SHAPES)
def test_compact_dense_and_csr(dtype, rtol, n_samples, d, m, n_rows, density):
    rng = np.random.default_rng(5)
    X, (data, indices, indptr) = make_design(rng, n_samples, d, density, dtype)
    rows = make_rows(rng, n_samples, n_rows)
    vals, idx, ptr, nnz = compact(X, rows, dtype)
    # reference: the non-zeros of X[rows], row by row, columns ascending
    Xr = X[rows]
    r_idx, c_idx = np.nonzero(Xr)
    assert nnz == r_idx.size
    np.testing.assert_array_equal(ptr, np.r_[0, np.cumsum(np.count_nonzero(Xr, 1))])
    np.testing.assert_array_equal(idx[:nnz], c_idx)
    np.testing.assert_array_equal(vals[:nnz], Xr[r_idx, c_idx])
    # the same minibatch from the CSR copy, with an explicit zero stored too
    if data.size > 1:
        data = data.copy()
        data[1] = 0.0
        Xz = X.copy()
        Xz.reshape(-1)[np.flatnonzero(X.reshape(-1))[1]] = 0.0
        vals, idx, ptr, nnz = compact(Xz, rows, dtype)
    cap = vals.size
    v2, i2 = nan_like(cap, dtype), np.full(cap, -7, np.int32)
    p2 = np.full(len(rows) + 1, -7, np.int64)
    nnz2 = K.compact_csr(data, indices, indptr, rows, v2, i2, p2)
    assert nnz2 == nnz
    np.testing.assert_array_equal(p2, ptr)
    np.testing.assert_array_equal(i2[:nnz], idx[:nnz])
    np.testing.assert_array_equal(v2[:nnz], vals[:nnz])


# (n_samples, n_features, n_outputs, n_rows, density): outputs around the
# kernels' 32-wide panels
PANEL_SHAPES = SPARSE_SHAPES + [
    (7, 12, 32, 9, 0.5),
    (7, 12, 33, 9, 0.5),
    (10, 50, 70, 16, 0.3),
]


@pytest.mark.parametrize("dtype, rtol", DTYPES)
@pytest.mark.parametrize("n_samples, d, m, n_rows, density", PANEL_SHAPES)
def test_csr_forward(dtype, rtol, n_samples, d, m, n_rows, density):
    rng = np.random.default_rng(6)
    X, _ = make_design(rng, n_samples, d, density, dtype)
    rows = make_rows(rng, n_samples, n_rows)
    W = rng.standard_normal((d, m)).astype(dtype)
    b = rng.standard_normal(m).astype(dtype)
    expected, mag = ref_forward(X, rows, W, b)
    vals, idx, ptr, _ = compact(X, rows, dtype)
    U = nan_like((n_rows, m), dtype)
    K.csr_forward(vals, idx, ptr, W, b, U, 1)
    assert_close(U, expected, rtol, mag)
    for nt in THREADS:
        U2 = nan_like((n_rows, m), dtype)
        K.csr_forward(vals, idx, ptr, W, b, U2, nt)
        assert np.array_equal(U2, U)
    # a row without non-zeros gives the bias exactly
    empty = np.flatnonzero(np.diff(ptr) == 0)
    if n_samples > 1 and n_rows >= 3:
        assert empty.size > 0
    for r in empty:
        assert np.array_equal(U[r], b)


def ref_csr_to_csc(vals, idx, ptr, d):
    n = ptr.size - 1
    nnz = ptr[-1]
    row_of = np.repeat(np.arange(n), np.diff(ptr))
    order = np.lexsort((row_of, idx[:nnz]))  # by column, then row
    cptr = np.r_[0, np.cumsum(np.bincount(idx[:nnz], minlength=d))]
    return vals[:nnz][order], row_of[order], cptr


@pytest.mark.parametrize("dtype, rtol", DTYPES)
@pytest.mark.parametrize("n_samples, d, m, n_rows, density", PANEL_SHAPES)
def test_csr_to_csc_and_csc_grad(dtype, rtol, n_samples, d, m, n_rows, density):
    rng = np.random.default_rng(7)
    X, _ = make_design(rng, n_samples, d, density, dtype)
    rows = make_rows(rng, n_samples, n_rows)
    vals, idx, ptr, nnz = compact(X, rows, dtype)
    cap = vals.size
    cvals, crow = nan_like(cap, dtype), np.full(cap, -7, np.int32)
    cptr = np.full(d + 1, -7, np.int64)
    K.csr_to_csc(vals, idx, ptr, cvals, crow, cptr)
    cv_ref, cr_ref, cp_ref = ref_csr_to_csc(vals, idx, ptr, d)
    np.testing.assert_array_equal(cptr, cp_ref)
    np.testing.assert_array_equal(crow[:nnz], cr_ref)
    np.testing.assert_array_equal(cvals[:nnz], cv_ref)
    # and scipy agrees on the transposed matrix
    Xb = sp.csr_matrix((vals[:nnz], idx[:nnz], ptr), shape=(n_rows, d))
    np.testing.assert_array_equal(
        sp.csc_matrix((cvals[:nnz], crow[:nnz], cptr), shape=(n_rows, d)).toarray(),
        Xb.toarray(),
    )

    D = rng.standard_normal((n_rows, m)).astype(dtype)
    expected, mag = ref_grad(X, rows, D)
    GW = nan_like((d, m), dtype)  # overwritten, not accumulated
    K.csc_grad(cvals, crow, cptr, D, GW, 1)
    assert_close(GW, expected, rtol, mag)
    for nt in THREADS:
        G2 = nan_like((d, m), dtype)
        K.csc_grad(cvals, crow, cptr, D, G2, nt)
        assert np.array_equal(G2, GW)
    # features absent from the minibatch get an exact zero
    absent = np.flatnonzero(np.diff(cptr) == 0)
    assert np.array_equal(GW[absent], np.zeros((absent.size, m), dtype))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dense_and_csr_inputs_bit_identical(dtype):
    """The same matrix, dense or CSR, gives the same forward and gradient."""
    rng = np.random.default_rng(8)
    X, (data, indices, indptr) = make_design(rng, 60, 90, 0.2, dtype)
    rows = rng.permutation(np.repeat(np.arange(60), 2))[:100].astype(np.int64)
    W = rng.standard_normal((90, 40)).astype(dtype)
    b = rng.standard_normal(40).astype(dtype)
    D = rng.standard_normal((100, 40)).astype(dtype)
    out = []
    for sparse in (False, True):
        cap = 100 * 90
        vals, idx = np.empty(cap, dtype), np.empty(cap, np.int32)
        ptr = np.empty(101, np.int64)
        if sparse:
            K.compact_csr(data, indices, indptr, rows, vals, idx, ptr)
        else:
            K.compact_dense(X, rows, vals, idx, ptr)
        U = np.empty((100, 40), dtype)
        K.csr_forward(vals, idx, ptr, W, b, U, 2)
        cvals, crow = np.empty(cap, dtype), np.empty(cap, np.int32)
        cptr = np.empty(91, np.int64)
        K.csr_to_csc(vals, idx, ptr, cvals, crow, cptr)
        GW = np.empty((90, 40), dtype)
        K.csc_grad(cvals, crow, cptr, D, GW, 2)
        out.append((U, GW))
    assert np.array_equal(out[0][0], out[1][0])
    assert np.array_equal(out[0][1], out[1][1])
    # and against scipy.sparse's own products
    csr = sp.csr_matrix((data, indices, indptr), shape=X.shape).astype(np.float64)
    rtol = 1e-12 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(out[0][0], csr[rows] @ c64(W) + c64(b), rtol=rtol,
                               atol=rtol * 10)
    np.testing.assert_allclose(out[0][1], csr[rows].T @ c64(D), rtol=rtol,
                               atol=rtol * 10)


# ---------------------------------------------------------------------------
# column_sums
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype, rtol", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (1, 6), (9, 1), (40, 13), (0, 4)])
def test_column_sums(dtype, rtol, shape):
    rng = np.random.default_rng(8)
    D = rng.standard_normal(shape).astype(dtype)
    out = nan_like(shape[1], dtype)
    K.column_sums(D, out)
    assert_close(out, c64(D).sum(axis=0), rtol, np.abs(c64(D)).sum(axis=0))


# ---------------------------------------------------------------------------
# row_argmax
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(1, 1), (7, 1), (50, 3), (200, 10), (0, 4)])
def test_row_argmax_is_numpys(dtype, shape):
    rng = np.random.default_rng(3)
    Z = rng.integers(-2, 3, size=shape).astype(dtype)  # many ties: the first wins
    if Z.size > 6:
        Z.flat[::7] = np.nan  # NaN rows: NumPy takes the first NaN
        Z[-1] = -np.inf
    out = np.full(shape[0], -1, dtype=np.int64)
    K.row_argmax(Z, out)
    assert np.array_equal(out, np.argmax(Z, axis=1))


def test_row_argmax_checks_shapes():
    with pytest.raises(ValueError, match="row_argmax: out"):
        K.row_argmax(np.zeros((3, 2)), np.zeros(2, dtype=np.int64))
    with pytest.raises(ValueError, match="no columns"):
        K.row_argmax(np.zeros((3, 0)), np.zeros(3, dtype=np.int64))


# ---------------------------------------------------------------------------
# output_error
# ---------------------------------------------------------------------------
def make_targets(rng, n, m, group, squared, dtype):
    if squared:
        return rng.uniform(-1, 1, size=(n, m)).astype(dtype)
    Y = np.zeros((n, m // group, group))
    Y[np.arange(n)[:, None], np.arange(m // group)[None, :],
      rng.integers(0, group, size=(n, m // group))] = 1.0
    if n > 1:  # soft labels that still sum to one in each group
        Y[0] = rng.dirichlet(np.ones(group), size=m // group)
    return Y.reshape(n, m).astype(dtype)


OUTPUT_CASES = [
    # (n, m, group, squared)
    (1, 1, 1, False),
    (1, 3, 3, False),
    (7, 5, 5, False),  # softmax over all classes
    (6, 8, 2, False),  # a pair per label
    (5, 6, 3, False),
    (4, 1, 1, True),
    (9, 4, 1, True),
    (9, 4, 4, True),  # group is ignored by the squared error
]


@pytest.mark.parametrize("dtype, rtol", DTYPES)
@pytest.mark.parametrize("n, m, group, squared", OUTPUT_CASES)
@pytest.mark.parametrize("scale", [1.0, 4.0, 20.0])
def test_output_error(dtype, rtol, n, m, group, squared, scale):
    rng = np.random.default_rng(9)
    S = rng.uniform(-1.5, 1.5, size=(n, m)).astype(dtype)
    Y = make_targets(rng, n, m, group, squared, dtype)
    sw = rng.uniform(0.2, 2.0, size=n).astype(dtype)
    sw[0] = 0.0 if n > 2 else sw[0]  # a zero sample weight
    loss_ref, E_ref = ref_output_error(S, Y, sw, scale, group, squared)
    E = nan_like((n, m), dtype)
    loss = K.output_error(S, Y, sw, scale, group, squared, E)
    assert isinstance(loss, float)
    assert np.isclose(loss, loss_ref, rtol=rtol, atol=rtol * 1e-3)
    mag = (np.abs(c64(sw))[:, None] * scale
           * (np.abs(c64(Y)) + (scale * np.abs(c64(S)) if squared else 1.0)))
    assert_close(E, E_ref, rtol, mag)


@pytest.mark.parametrize("dtype, rtol", DTYPES)
@pytest.mark.parametrize("n, m, group, squared", OUTPUT_CASES)
def test_output_error_pair_readout(dtype, rtol, n, m, group, squared):
    """With ``pairs`` the outputs are differences of neighbouring neurons:
    the same loss as the plain kernel on ``S[:, 0::2] - S[:, 1::2]``, and
    each error entered into the pair with opposite signs, bit for bit."""
    rng = np.random.default_rng(11)
    S = rng.uniform(-1.5, 1.5, size=(n, 2 * m)).astype(dtype)
    Y = make_targets(rng, n, m, group, squared, dtype)
    sw = rng.uniform(0.2, 2.0, size=n).astype(dtype)
    Z = np.ascontiguousarray(S[:, 0::2] - S[:, 1::2])
    EZ = nan_like((n, m), dtype)
    loss_z = K.output_error(Z, Y, sw, 4.0, group, squared, EZ)
    E = nan_like((n, 2 * m), dtype)
    loss = K.output_error(S, Y, sw, 4.0, group, squared, E, True)
    assert loss == loss_z
    np.testing.assert_array_equal(E[:, 0::2], EZ)
    np.testing.assert_array_equal(E[:, 1::2], -EZ)
    with pytest.raises(ValueError, match="inconsistent shapes"):
        K.output_error(Z, Y, sw, 4.0, group, squared, EZ, True)


@pytest.mark.parametrize("n, m, group, squared", OUTPUT_CASES)
def test_output_error_is_minus_loss_gradient(n, m, group, squared):
    """E = -dL/dS, checked by central differences on the returned loss."""
    rng = np.random.default_rng(10)
    scale = 3.0
    S = rng.uniform(-1, 1, size=(n, m))
    Y = make_targets(rng, n, m, group, squared, np.float64)
    sw = rng.uniform(0.5, 2.0, size=n)
    E = np.empty((n, m))
    K.output_error(S, Y, sw, scale, group, squared, E)
    h = 1e-6
    fd = np.empty((n, m))
    scratch = np.empty((n, m))
    for i in range(n):
        for k in range(m):
            Sp, Sm = S.copy(), S.copy()
            Sp[i, k] += h
            Sm[i, k] -= h
            lp = K.output_error(Sp, Y, sw, scale, group, squared, scratch)
            lm = K.output_error(Sm, Y, sw, scale, group, squared, scratch)
            fd[i, k] = -(lp - lm) / (2 * h)
    np.testing.assert_allclose(E, fd, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("dtype, big", [(np.float64, 1e300), (np.float32, 3e38)])
@pytest.mark.parametrize("group", [1, 2, 4])
def test_output_error_finite_for_huge_signals(dtype, big, group):
    rng = np.random.default_rng(11)
    n, m = 6, 4
    S = (big * rng.choice([-1.0, 1.0], size=(n, m))).astype(dtype)
    S[0] = big  # ties at the maximum
    S[1, :2] = [big, -big]
    Y = make_targets(rng, n, m, group, False, dtype)
    sw = np.ones(n, dtype=dtype)
    E = nan_like((n, m), dtype)
    loss = K.output_error(S, Y, sw, 4.0, group, False, E)
    assert np.isfinite(loss) and loss >= 0
    assert np.all(np.isfinite(E))
    # E = w * scale * (y - p) with p a probability
    assert np.all(np.abs(c64(E)) <= 4.0 * (1 + 1e-6))
    # the loss: the log-sum-exp's log(sum) (<= log(group)) is below one ulp
    # of |scale * S| here and may be absorbed
    loss_ref, _ = ref_output_error(S, Y, sw, 4.0, group, False)
    assert np.isclose(loss, loss_ref, rtol=1e-12, atol=n * np.log(group) + 1e-12)
    # squared error: E stays finite; the loss as long as 0.5 d^2 is a double
    E2 = nan_like((n, m), dtype)
    S_sq = np.clip(S, -1e150, 1e150) if dtype == np.float64 else S
    loss2 = K.output_error(S_sq, Y, sw, 1.0, group, True, E2)
    assert np.isfinite(loss2)
    assert np.all(np.isfinite(E2))


@pytest.mark.parametrize("big", [1e16, 1e300])
def test_output_error_probabilities_sum_to_one_for_huge_signals(big):
    S = np.array([[big, big, -big, 0.0], [0.0, 1.0, 2.0, 3.0]])
    Y = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    E = np.empty_like(S)
    K.output_error(S, Y, np.ones(2), 1.0, 4, False, E)
    # E = scale * (Y - p): each row sums to 1 - sum(p) = 0
    np.testing.assert_allclose(E.sum(axis=1), 0.0, atol=1e-6)
    np.testing.assert_allclose(E[0], [0.5, -0.5, 0.0, 0.0], atol=1e-6)


@pytest.mark.parametrize("group", [0, -1, 3])
def test_output_error_rejects_bad_group(group):
    S = np.zeros((2, 4))
    E = np.empty((2, 4))
    with pytest.raises(ValueError, match="group"):
        K.output_error(S, S, np.ones(2), 1.0, group, False, E)


# ---------------------------------------------------------------------------
# Optimisers, arctan bound, gradient finishing
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype, rtol", DTYPES)
@pytest.mark.parametrize("n", [1, 2, 37, 1000])
def test_adam_step(dtype, rtol, n):
    rng = np.random.default_rng(12)
    param = rng.standard_normal(n).astype(dtype)
    m1 = np.zeros(n, dtype)
    m2 = np.zeros(n, dtype)
    p_ref, m1_ref, m2_ref = param.copy(), m1.copy(), m2.copy()
    beta1, beta2, eps, lr = 0.9, 0.999, 1e-8, 1e-3
    for t in range(1, 5):
        grad = rng.standard_normal(n).astype(dtype)
        grad[0] = 0.0 if n > 1 else grad[0]
        lr_t = lr * np.sqrt(1 - beta2**t) / (1 - beta1**t)
        # the kernel may work in the buffers' precision: the first moment can
        # cancel, judge it against the size of its two terms
        mag1 = beta1 * np.abs(c64(m1)) + (1 - beta1) * np.abs(c64(grad))
        prev = c64(param)
        K.adam_step(param, grad, m1, m2, lr_t, beta1, beta2, eps)
        p_ref, m1_ref, m2_ref = ref_adam(
            prev, grad, m1_ref, m2_ref, lr_t, beta1, beta2, eps
        )
        assert_close(m1, m1_ref, rtol, mag1)
        assert_close(m2, m2_ref, rtol)
        step = np.abs(p_ref - prev)
        assert_close(param, p_ref, rtol, np.abs(prev) + step)
        m1_ref, m2_ref = m1.copy(), m2.copy()  # continue from the kernel's state


@pytest.mark.parametrize("dtype, rtol", DTYPES)
@pytest.mark.parametrize("n, n_coef", [(1, 0), (1, 1), (10, 7), (5000, 4097),
                                       (5000, 5000), (5000, 0)])
@pytest.mark.parametrize("alpha", [0.0, 1e-3])
def test_adam_adjust_is_finish_gradient_then_adam_step(dtype, rtol, n, n_coef, alpha):
    """The fused kernel gives finish_gradient's gradient and adam_step's update
    bit for bit, for any thread count, and the L2 term against NumPy."""
    rng = np.random.default_rng(16)
    param = rng.standard_normal(n).astype(dtype)
    sums = rng.standard_normal(n).astype(dtype)
    m1 = (0.1 * rng.standard_normal(n)).astype(dtype)
    m2 = (0.1 * rng.standard_normal(n) ** 2).astype(dtype)
    args = (1.0 / 37.0, 2e-3, 0.9, 0.999, 1e-8)
    p0, g0, a0, b0 = param.copy(), sums.copy(), m1.copy(), m2.copy()
    sq0 = K.finish_gradient(g0, p0, n_coef, alpha, args[0])
    K.adam_step(p0, g0, a0, b0, *args[1:])
    np.testing.assert_allclose(sq0, np.sum(c64(param[:n_coef]) ** 2), rtol=1e-12)
    for nt in (1, *THREADS):
        p, g, a, b = param.copy(), sums.copy(), m1.copy(), m2.copy()
        sq = K.adam_adjust(p, g, a, b, n_coef, alpha, *args, nt)
        np.testing.assert_allclose(sq, sq0, rtol=1e-12)
        for got, want in ((p, p0), (g, g0), (a, a0), (b, b0)):
            assert np.array_equal(got, want)
        if nt == 1:
            sq1 = sq
        assert sq == sq1  # the same sum for any thread count


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("fused", [False, True])
def test_adam_moments_never_subnormal(dtype, fused):
    """Moments that decay (zero gradient) or start below the smallest normal
    number are stored as 0, the parameters move as the reference says (the
    subnormal terms are below their last bit), and subnormal gradients are
    taken as 0: no step leaves a subnormal moment behind."""
    tiny = np.finfo(dtype).tiny
    n = 4096
    rng = np.random.default_rng(18)
    param = rng.uniform(0.5, 1.5, n).astype(dtype)
    m1 = np.full(n, 1.1 * tiny, dtype)  # normal now, subnormal after one decay
    m2 = np.full(n, 1.001 * tiny, dtype)
    m1[:10] = tiny / 4  # subnormal already
    m2[:10] = tiny / 4
    grad = np.zeros(n, dtype)
    grad[10:20] = tiny / 8  # subnormal gradients
    p_ref = c64(param).copy()
    args = (1e-3, 0.9, 0.999, 1e-8)
    for _ in range(3):
        if fused:
            K.adam_adjust(param, grad, m1, m2, 0, 0.0, 1.0, *args, 2)
            grad[...] = 0
            grad[10:20] = -tiny / 8  # adam_adjust negates the sums
        else:
            K.adam_step(param, grad, m1, m2, *args, 2)
    sub = lambda a: np.count_nonzero((a != 0) & (np.abs(a) < tiny))  # noqa: E731
    assert sub(m1) == 0 and sub(m2) == 0
    assert np.all(m1 == 0) and np.all(m2 == 0)
    np.testing.assert_array_equal(param, p_ref.astype(dtype))


def test_adam_adjust_long_vectors_and_bad_shapes():
    """Past 512 blocks of 2048 the blocks grow (the sum's layout stays a
    function of the length); inconsistent lengths are refused."""
    n = 2048 * 512 + 3001
    rng = np.random.default_rng(17)
    param = rng.standard_normal(n)
    sums = rng.standard_normal(n)
    m1, m2 = np.zeros(n), np.zeros(n)
    sq = K.adam_adjust(param.copy(), sums.copy(), m1.copy(), m2.copy(), n - 5, 1e-4,
                       0.5, 1e-3, 0.9, 0.999, 1e-8, 2)
    np.testing.assert_allclose(sq, np.sum(param[: n - 5] ** 2), rtol=1e-12)
    with pytest.raises(ValueError, match="inconsistent shapes"):
        K.adam_adjust(param, sums[:-1], m1, m2, 0, 0.0, 1.0, 1e-3, 0.9, 0.999, 1e-8)
    with pytest.raises(ValueError, match="inconsistent shapes"):
        K.adam_adjust(param, sums, m1, m2, n + 1, 0.0, 1.0, 1e-3, 0.9, 0.999, 1e-8)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_adam_step_threads_bit_identical(dtype):
    n = 5000
    out = []
    for nt in (1, 2, 3):
        param = np.linspace(-3, 3, n).astype(dtype)
        m1 = np.full(n, 0.1, dtype)
        m2 = np.full(n, 0.2, dtype)
        grad = np.sin(np.arange(n, dtype=dtype))
        K.adam_step(param, grad, m1, m2, 1e-3, 0.9, 0.999, 1e-8, nt)
        out.append((param, m1, m2))
    for p, a, b in out[1:]:
        assert np.array_equal(p, out[0][0])
        assert np.array_equal(a, out[0][1]) and np.array_equal(b, out[0][2])


@pytest.mark.parametrize("dtype, rtol", DTYPES)
@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("n", [1, 29])
def test_sgd_step(dtype, rtol, nesterov, n):
    rng = np.random.default_rng(13)
    param = rng.standard_normal(n).astype(dtype)
    velocity = np.zeros(n, dtype)
    p_ref, v_ref = c64(param), c64(velocity)
    lr, momentum = 0.05, 0.9
    for _ in range(3):
        grad = rng.standard_normal(n).astype(dtype)
        K.sgd_step(param, grad, velocity, lr, momentum, nesterov)
        p_ref, v_ref = ref_sgd(p_ref, grad, v_ref, lr, momentum, nesterov)
        # float32 buffers round after every step: compare step by step
        assert_close(velocity, v_ref, rtol * 10, np.abs(v_ref) + 1e-3)
        assert_close(param, p_ref, rtol * 10, np.abs(p_ref) + 1e-3)
        p_ref, v_ref = c64(param), c64(velocity)
    # momentum 0 and no Nesterov: plain gradient step
    g = rng.standard_normal(n).astype(dtype)
    before = c64(param)
    K.sgd_step(param, g, np.zeros(n, dtype), 0.1, 0.0, nesterov)
    assert_close(param, before - 0.1 * c64(g), rtol, np.abs(before))


def test_sgd_nesterov_differs_from_plain_momentum():
    param1, param2 = np.zeros(3), np.zeros(3)
    v1, v2 = np.ones(3), np.ones(3)
    g = np.array([1.0, -2.0, 0.5])
    K.sgd_step(param1, g, v1, 0.1, 0.9, False)
    K.sgd_step(param2, g, v2, 0.1, 0.9, True)
    np.testing.assert_allclose(param1, 0.9 - 0.1 * g)
    np.testing.assert_allclose(param2, 0.9 * (0.9 - 0.1 * g) - 0.1 * g)
    np.testing.assert_array_equal(v1, v2)


@pytest.mark.parametrize("dtype, rtol", DTYPES)
@pytest.mark.parametrize("bound", [0.1, 1.0, 3.5])
def test_bound_coefficients_and_chain(dtype, rtol, bound):
    rng = np.random.default_rng(14)
    raw = np.concatenate([rng.standard_normal(20) * 3, [0.0, 1e6, -1e6, 1e30, -1e30]])
    raw = raw.astype(dtype)
    coef = nan_like(raw.shape, dtype)
    K.bound_coefficients(raw, coef, bound)
    assert_close(coef, ref_bound_coefficients(raw, bound), rtol)
    # |C| < B (the arctan strategy's point) while atan(raw) < pi/2 is
    # resolved; for huge raw |C| reaches B to within an ulp
    moderate = np.abs(c64(raw)) <= 1e6
    assert np.all(np.abs(c64(coef))[moderate] < c64(dtype(bound)))
    B = c64(dtype(bound))
    assert np.all(np.abs(c64(coef)) <= B * (1 + 4 * np.finfo(dtype).eps))
    grad = rng.standard_normal(raw.shape).astype(dtype)
    expected = ref_bound_chain(raw, grad, bound)
    K.bound_chain(raw, grad, bound)
    assert_close(grad, expected, rtol)


@pytest.mark.parametrize("bound", [1.0, 3.5])
def test_bound_coefficients_strictly_inside_for_huge_raw(bound):
    raw = np.array([1e300, -1e300, 1e20, -1e20])
    coef = np.empty_like(raw)
    K.bound_coefficients(raw, coef, bound)
    assert np.all(np.abs(coef) < bound)


def test_bound_chain_is_derivative_of_bound():
    raw = np.linspace(-4, 4, 17)
    h = 1e-6
    cp, cm = np.empty_like(raw), np.empty_like(raw)
    K.bound_coefficients(raw + h, cp, 2.5)
    K.bound_coefficients(raw - h, cm, 2.5)
    grad = np.ones_like(raw)
    K.bound_chain(raw, grad, 2.5)
    np.testing.assert_allclose(grad, (cp - cm) / (2 * h), rtol=1e-8)


@pytest.mark.parametrize("dtype, rtol", DTYPES)
@pytest.mark.parametrize("n, n_coef", [(1, 0), (1, 1), (10, 7), (10, 10), (10, 0)])
@pytest.mark.parametrize("alpha", [0.0, 1e-3])
def test_finish_gradient(dtype, rtol, n, n_coef, alpha):
    rng = np.random.default_rng(15)
    grad = rng.standard_normal(n).astype(dtype)
    coef = rng.standard_normal(n).astype(dtype)
    inv_weight = 1.0 / 37.0
    expected = ref_finish_gradient(grad, coef, n_coef, alpha, inv_weight)
    K.finish_gradient(grad, coef, n_coef, alpha, inv_weight)
    mag = (np.abs(c64(coef)) * alpha + np.abs(expected) / inv_weight) * inv_weight
    assert_close(grad, expected, rtol, mag)


def test_steady_kernels_count_non_finite_signals():
    table = WuxingNeuron(K1=0.8, K2=0.5).table
    U = np.array([[0.0, 1.0, np.inf, -np.inf, np.nan, 1e308]])
    S, G = np.empty_like(U), np.empty_like(U)
    # +inf overflows, -inf lands on the zero-slope piece (0 * inf = NaN), NaN stays
    assert table.forward(U, S, G) == 3
    assert table.forward(U[:, :2].copy(), S[:, :2].copy(), G[:, :2].copy()) == 0
    table = WuxingNeuron(coupling="flux").table
    S, G = np.empty_like(U), np.empty_like(U)
    # the atan bound saturates infinite inputs: only NaN is left non-finite
    assert table.forward(U, S, G) == 1
    assert np.isfinite(S[0, [0, 1, 2, 3, 5]]).all()


# ---------------------------------------------------------------------------
# count_zero_gains, gather_forward
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_count_zero_gains(dtype):
    rng = np.random.default_rng(21)
    G = rng.standard_normal((37, 11)).astype(dtype)
    G[rng.random(G.shape) < 0.4] = 0.0
    counts = np.full(11, 5, dtype=np.int64)  # accumulated, not overwritten
    K.count_zero_gains(G, counts)
    np.testing.assert_array_equal(counts, 5 + (G == 0).sum(axis=0))
    with pytest.raises(ValueError, match="count_zero_gains"):
        K.count_zero_gains(G, np.zeros(3, dtype=np.int64))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("d, m", [(13, 40), (784, 128), (785, 96), (3001, 128), (200, 9)])
def test_gather_forward(dtype, d, m):
    """``U = X[rows] @ W + b`` with the rows kept in ``Xb``: the inner blocks
    are the adjustment product's row blocks, any thread count gives the same
    bits, and the result agrees with the reference."""
    rng = np.random.default_rng(22)
    n = 100
    X = rng.standard_normal((300, d)).astype(dtype)
    rows = rng.integers(0, 300, m).astype(np.int64)
    W = rng.standard_normal((d, n)).astype(dtype)
    b = rng.standard_normal(n).astype(dtype)
    p, per = K.matmul_blocks(d, n, m)  # the blocks of Xb.T @ D (the adjustment)
    assert p == {13: 1, 784: 2, 785: 2, 3001: 8, 200: 1}[d]
    P = nan_like((max(p - 1, 0) * 128, n), dtype)
    out = []
    for nt in (1, 2, 3):
        Xb, U = nan_like((128, d), dtype), nan_like((m, n), dtype)
        K.gather_forward(X, rows, Xb[:m], W, b, U, P, nt)
        np.testing.assert_array_equal(Xb[:m], X[rows])
        assert np.all(np.isnan(Xb[m:]))  # the rest of the buffer untouched
        out.append(U)
    assert np.array_equal(out[0], out[1]) and np.array_equal(out[0], out[2])
    expected = ref_matmul(X[rows], False, W, False, np.tile(b, (m, 1)), 1.0, 1.0)
    mag = ref_matmul(np.abs(X[rows]), False, np.abs(W), False, np.tile(np.abs(b), (m, 1)), 1, 1)
    assert_close(out[0], expected, 1e-12 if dtype == np.float64 else 1e-5, mag)
    if p > 1:  # the partial sums, in block order, over block 0's product
        parts = [X[rows][:, j * per: (j + 1) * per] @ W[j * per: (j + 1) * per]
                 for j in range(p)]
        np.testing.assert_allclose(P[: (p - 1) * m].reshape(p - 1, m, n), parts[1:],
                                   rtol=1e-5, atol=1e-3)


def test_gather_forward_with_an_empty_last_block():
    """16 blocks of 9 inputs over 130: the last block starts past the end and
    contributes zeros, as matmul's empty blocks do."""
    rng = np.random.default_rng(23)
    d, n, m = 130, 2600, 200
    assert K.matmul_blocks(d, n, m) == (16, 9)
    X = rng.standard_normal((m, d))
    W, b = rng.standard_normal((d, n)), rng.standard_normal(n)
    rows = np.arange(m, dtype=np.int64)[::-1].copy()
    U, Xb = np.empty((m, n)), np.empty((m, d))
    P = np.full((15 * m, n), np.nan)
    K.gather_forward(X, rows, Xb, W, b, U, P, 2)
    np.testing.assert_allclose(U, X[rows] @ W + b, rtol=1e-10, atol=1e-10)
    assert np.all(P[14 * m:] == 0)


def test_gather_forward_checks_its_buffers():
    X, W, b = np.ones((10, 784)), np.ones((784, 100)), np.ones(100)
    rows = np.arange(128, dtype=np.int64) % 10
    Xb, U = np.empty((128, 784)), np.empty((128, 100))
    with pytest.raises(ValueError, match="gather_forward: incompatible"):
        K.gather_forward(X, rows, Xb[:100], W, b, U, np.empty((128, 100)), 1)
    with pytest.raises(ValueError, match="gather_forward: P must have room"):
        K.gather_forward(X, rows, Xb, W, b, U, np.empty((127, 100)), 1)
    K.gather_forward(X, rows, Xb, W, b, U, np.empty((128, 100)), 1)
    assert np.all(U == 785.0)


# ---------------------------------------------------------------------------
# predict_dense: every layer of a block of rows in one pass
# ---------------------------------------------------------------------------
def _layer_tables(kind, width, rng):
    """A layer's NeuronTable (or LinearTable) of the given kind."""
    from sklearn_symnet._tables import LinearTable, NeuronTable

    if kind == "linear":
        return LinearTable()
    coupling, shared = kind.split("-")
    base = np.array([0.8, 0.5, 1.0, 1.0]) if coupling == "flux" else np.array([1.0, 0.5, 1.0, 1.0])
    if shared == "shared":
        theta = base[None]
    else:  # one row per unit, as trained constants give
        theta = base * rng.uniform(0.8, 1.25, (width, 4))
    return NeuronTable(theta, coupling=coupling, output_element=1 if coupling == "rate" else 1)


def _layer_by_layer(X, coefs, intercepts, tables, n_threads=1):
    """The per-layer kernels (the training forward pass's), one after another."""
    A = X
    bad = []
    for W, b, t in zip(coefs, intercepts, tables):
        U = np.empty((A.shape[0], W.shape[1]), dtype=X.dtype)
        U[...] = b
        K.matmul(A, False, W, False, U, 1.0, 1.0, n_threads)
        bad.append(t.forward(U, U, None, n_threads, False))
        A = U
    return A, bad


def _ref_layers(X, coefs, intercepts, tables):
    """NumPy reference: products and each table's closed form in float64."""
    A = c64(X)
    for W, b, t in zip(coefs, intercepts, tables):
        U = A @ c64(W) + c64(b)
        if t.coupling == "linear":
            A = U
            continue
        S = np.empty_like(U)
        for k in range(U.shape[1]):
            r = min(k, t.n_rows - 1)
            if t.coupling == "rate":
                m = t.n_pieces[r]
                S[:, k] = ref_rate_forward(U[:, k], t._bp[r, : m - 1], t._slope[r, :m],
                                           t._icpt[r, :m], t._gain[r, :m])[0]
            else:
                um, up, _, _, c1, beta, p, q = t._flux[r]
                S[:, k] = ref_flux_forward(U[:, k], um, up, c1, beta, p, q)[0]
        A = S
    return A


@pytest.mark.parametrize("dtype, rtol", DTYPES)
@pytest.mark.parametrize("kinds", [
    ("rate-shared", "flux-shared"),
    ("rate-units", "flux-units"),
    ("flux-shared", "rate-shared", "linear"),
    ("rate-shared", "rate-units", "flux-units", "flux-shared"),
], ids=lambda k: "+".join(k))
@pytest.mark.parametrize("n", [1, 255, 256, 257, 700, 1025])
def test_predict_dense(dtype, rtol, kinds, n):
    """Blocks of rows through every layer: the same bits for any thread
    count; the per-layer kernels' values (the training forward pass) and the
    NumPy reference's, for every kind of table and block remainders.

    Not the per-layer kernels' bits: OpenBLAS (SciPy's 0.3.30) takes small
    products through a small-matrix kernel that rounds differently, so a
    256-row block's product and the whole set's can differ in the last bit
    (widths 24, 33, 36 at n = 1025: the third layer's product of 512 rows
    differed from the first 512 rows of the 1,025-row product, that of 1,024
    rows did not)."""
    rng = np.random.default_rng(len(kinds) + n)
    widths = [13] + [int(w) for w in rng.integers(3, 40, len(kinds))]
    coefs = [(rng.standard_normal((a, b)) / np.sqrt(a)).astype(dtype)
             for a, b in zip(widths[:-1], widths[1:])]
    intercepts = [rng.uniform(-0.5, 0.5, b).astype(dtype) for b in widths[1:]]
    tables = [_layer_tables(k, w, rng) for k, w in zip(kinds, widths[1:])]
    X = rng.standard_normal((n, widths[0])).astype(dtype)
    expected, bad_layers = _layer_by_layer(X, coefs, intercepts, tables)
    assert bad_layers == [0] * len(kinds)
    specs = [t.kernel_tables() for t in tables]
    B = K.PREDICT_BLOCK_ROWS
    n_blocks = -(-n // B)
    first = None
    for nt in (1, 2, 3):
        last = nan_like((n, widths[-1]), dtype)
        work = nan_like((2 * nt, B * max(widths[1:-1], default=1)), dtype)
        bad = np.full((n_blocks, len(kinds) + 1), -1, dtype=np.int64)
        K.predict_dense(X, coefs, intercepts, specs, last, work, bad, nt)
        assert last.dtype == dtype
        np.testing.assert_array_equal(bad, 0)
        if first is None:
            first = last
        np.testing.assert_array_equal(last, first)  # any thread count: same bits
    scale = np.abs(c64(expected)).max() + 1.0
    np.testing.assert_allclose(c64(last), c64(expected), rtol=0,
                               atol=64 * np.finfo(dtype).eps * scale)
    ref = _ref_layers(X, coefs, intercepts, tables)
    scale = np.abs(ref).max() + 1.0
    np.testing.assert_allclose(c64(last), ref, rtol=0, atol=(1e3 * rtol) * scale)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_predict_dense_reports_non_finite_blocks(dtype):
    """A non-finite input is counted in its block's first-layer column (and
    its signals in the layers'); finite rows overflowing a layer only there."""
    rng = np.random.default_rng(0)
    tables = [_layer_tables("rate-shared", 8, rng), _layer_tables("flux-shared", 4, rng)]
    coefs = [rng.standard_normal((5, 8)).astype(dtype), rng.standard_normal((8, 4)).astype(dtype)]
    intercepts = [np.zeros(8, dtype), np.zeros(4, dtype)]
    X = rng.standard_normal((600, 5)).astype(dtype)
    X[300, 2] = np.nan  # block 1
    big = np.finfo(dtype).max
    X[550] = big  # block 2: the first layer's inputs overflow to inf
    specs = [t.kernel_tables() for t in tables]
    last = np.empty((600, 4), dtype)
    work = np.empty((2, K.PREDICT_BLOCK_ROWS * 8), dtype)
    bad = np.empty((3, 3), dtype=np.int64)
    K.predict_dense(X, coefs, intercepts, specs, last, work, bad, 1)
    assert bad[0].tolist() == [0, 0, 0]
    assert bad[1, 0] == 8 and bad[1, 1] > 0
    assert bad[2, 0] > 0
    with pytest.raises(ValueError, match="layers"):
        K.predict_dense(X, [], [], [], last, work, bad, 1)
    with pytest.raises(ValueError, match="too small"):
        K.predict_dense(X, coefs, intercepts, specs, last, work[:1], bad, 1)
    with pytest.raises(ValueError, match="do not fit"):
        K.predict_dense(X[:, :4].copy(), coefs, intercepts, specs, last, work, bad, 1)
    # fewer rows than a block: scratch for those rows only
    last40, bad1 = np.empty((40, 4), dtype), np.empty((1, 3), dtype=np.int64)
    small = np.empty((2, 40 * 8), dtype)
    K.predict_dense(X[:40], coefs, intercepts, specs, last40, small, bad1, 1)
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(last40, last[:40], rtol=0,
                               atol=64 * eps * (np.abs(last[:40]).max() + 1))
    with pytest.raises(ValueError, match="too small"):
        K.predict_dense(X[:40], coefs, intercepts, specs, last40,
                        np.empty((2, 40 * 8 - 1), dtype), bad1, 1)


@pytest.mark.skipif(not sys.platform.startswith("linux")
                    or len(os.sched_getaffinity(0)) < 2,
                    reason="the nudge acts on Linux with two or more CPUs")
def test_thread_nudge_moves_without_pinning():
    # _affinity.h: a worker woken on its master's CPU is moved to another
    # CPU of its mask, and the mask is restored at once (a migration, not a
    # pin).  The probe takes the migration path on every thread.
    before = os.sched_getaffinity(0)
    assert K.nudge_probe(2) == 0
    assert K.nudge_probe(3) == 0
    assert os.sched_getaffinity(0) == before
    # the kernels' region start (the master yields, the workers nudge) pins
    # no thread either, whatever the thread count
    for n in (1, 2, 3):
        for spread in (False, True):
            K.wake_probe(n, spread)
    assert os.sched_getaffinity(0) == before
    assert K.nudge_probe(2) == 0
