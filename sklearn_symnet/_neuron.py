"""The five-element (Wuxing) neuron: the ODE, its fixed point and its reverse system.

This module is the only place where the neuron's differential equation is
written down (:meth:`WuxingNeuron.rhs`).  Everything else in the package --
the Cython kernels, the network, the estimator -- receives from here the few
numbers it needs (breakpoint tables, branch coefficients) and never sees the
equation itself.  See ``docs/model.md`` for the derivations.
"""

from itertools import combinations
from numbers import Integral, Real

import numpy as np

from . import _kernels

N_ELEMENTS = 5
ELEMENT_NAMES = ("wood", "fire", "earth", "metal", "water")
COUPLINGS = ("rate", "flux")
FLUX_BOUNDS = ("symmetric", "branch")
# Fraction of the distance to the flux coupling's fold that the bounded input
# may use (model.md section 2: u_max = 0.9 |u_c|).
FLUX_INPUT_FRACTION = 0.9
# Rate coupling: breakpoints beyond this magnitude are not tabulated (inputs
# that large overflow any layer's signals anyway).
RATE_FAR_INPUT = 1e300


def _check_constant(name, value, *, positive):
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {value!r}.")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}.")
    if positive and value <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}.")
    return value


def _check_element(name, value):
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an integer in [0, 4], got {value!r}.")
    if not 0 <= value < N_ELEMENTS:
        raise ValueError(f"{name} must be an integer in [0, 4], got {value!r}.")
    return int(value)


def shift_matrix(m):
    """Circulant shift ``S_m`` with ``(S_m x)_i = x_{i+m}`` (indices mod 5)."""
    S = np.zeros((N_ELEMENTS, N_ELEMENTS))
    for i in range(N_ELEMENTS):
        S[i, (i + m) % N_ELEMENTS] = 1.0
    return S


def mirror_matrix():
    """Mirror ``R`` of the cycle, ``(R x)_i = x_{-i}``.

    For the symmetric neuron at its fixed point ``J.T == R @ J @ R``: the
    reverse system is the same neuron run around the cycle the other way.
    """
    R = np.zeros((N_ELEMENTS, N_ELEMENTS))
    for i in range(N_ELEMENTS):
        R[i, (-i) % N_ELEMENTS] = 1.0
    return R


class WuxingNeuron:
    r"""One five-element (Wuxing) neuron: a symmetric Lotka-Volterra cycle.

    The state ``x`` (five positive element levels, indexed around the
    generating cycle wood, fire, earth, metal, water) obeys

    .. math::

        \dot x_i = x_i \bigl(r - K_3 x_i + K_1 (x_{i-1} - x_{i+1})
                              + K_2 (x_{i+2} - x_{i-2})\bigr)

    i.e. ``dx/dt = x * (r + A @ x)`` with a circulant ``A``.  Its fixed point
    ``x* = r / K3`` is globally attracting for ``K3 > 0``.  An input ``u``
    enters element ``input_element`` (as a growth-rate change for
    ``coupling="rate"``, as a bounded inflow for ``coupling="flux"``) and the
    neuron's *signal* is the displacement of the steady state of element
    ``output_element`` from the fixed point.

    Parameters
    ----------
    K1 : float, default=0.3
        Generation constant (mother feeds child, predator-prey).
    K2 : float, default=0.2
        Restraint constant (an element preys on the one it restrains).
    K3 : float, default=1.0
        Self-limitation, must be > 0.
    r : float, default=1.0
        Growth rate, must be > 0.
    coupling : {"rate", "flux"}, default="rate"
        How the input enters the input element.
    input_element : int, default=0
        Element ``a`` receiving the input (0..4).
    output_element : int, default=1
        Element ``b`` whose displacement is the signal (0..4).
    flux_bound : {"symmetric", "branch"}, default="symmetric"
        Flux coupling: how far the atan-bounded inflow may go.  The stable
        equilibrium branch through ``x*`` exists for inflows in
        ``(fold_input, branch_top)``.  ``"symmetric"`` (the specification's
        choice) bounds both sides by ``0.9 * min(-fold_input, branch_top)``;
        ``"branch"`` bounds each side by 0.9 of its own limit, so the
        positive side (about 200 times longer for the default constants) is
        not squeezed: signals span about -0.13..2.5 instead of -0.13..0.07.

    Attributes
    ----------
    A : ndarray of shape (5, 5)
        Interaction matrix of the ODE.
    fixed_point : float
        The closed-form fixed point level ``r / K3`` of every element.
    breakpoints : ndarray
        Inputs where the rate coupling's piecewise-linear response changes
        slope (empty for ``coupling="flux"``).
    fold_input : float or None
        Flux coupling: the most negative inflow for which the positive
        equilibrium branch through ``x*`` exists (``None`` for rate).
    input_bound : float
        Flux coupling: ``u_max``, the bound of the effective input
        ``u_max * (2/pi) * atan(pi u / (2 u_max))`` for ``u < 0``; ``inf``
        for rate.
    input_bound_pos : float
        Flux coupling: the bound for ``u >= 0`` (``input_bound`` unless
        ``flux_bound="branch"``; ``inf`` where the branch never ends).

    Examples
    --------
    >>> from sklearn_symnet import WuxingNeuron
    >>> n = WuxingNeuron(K1=0.8, K2=0.5)
    >>> n.fixed_point
    1.0
    >>> [round(float(b), 4) for b in n.breakpoints]
    [-1.9959, 10.9192]
    >>> s, g = n.response([0.0, 1.0])
    >>> round(float(g[1]), 4)
    0.4822
    """

    def __init__(
        self,
        K1=0.3,
        K2=0.2,
        K3=1.0,
        r=1.0,
        coupling="rate",
        input_element=0,
        output_element=1,
        flux_bound="symmetric",
    ):
        self.K1 = _check_constant("K1", K1, positive=False)
        self.K2 = _check_constant("K2", K2, positive=False)
        self.K3 = _check_constant("K3", K3, positive=True)
        self.r = _check_constant("r", r, positive=True)
        if coupling not in COUPLINGS:
            raise ValueError(
                f"coupling must be one of {COUPLINGS}, got {coupling!r}."
            )
        self.coupling = coupling
        if flux_bound not in FLUX_BOUNDS:
            raise ValueError(
                f"flux_bound must be one of {FLUX_BOUNDS}, got {flux_bound!r}."
            )
        self.flux_bound = flux_bound
        self.input_element = _check_element("input_element", input_element)
        self.output_element = _check_element("output_element", output_element)

        self.A = (
            -self.K3 * np.eye(N_ELEMENTS)
            + self.K1 * (shift_matrix(-1) - shift_matrix(1))
            + self.K2 * (shift_matrix(2) - shift_matrix(-2))
        )
        self.fixed_point = self.r / self.K3
        if coupling == "rate":
            self._build_rate_table()
            self.fold_input = None
            self.input_bound = self.input_bound_pos = np.inf
        else:
            self._build_flux_branch()
            self.breakpoints = np.empty(0)

    def __repr__(self):
        extra = (f", flux_bound={self.flux_bound!r}"
                 if self.flux_bound != "symmetric" else "")
        return (
            f"WuxingNeuron(K1={self.K1!r}, K2={self.K2!r}, K3={self.K3!r}, "
            f"r={self.r!r}, coupling={self.coupling!r}, "
            f"input_element={self.input_element}, "
            f"output_element={self.output_element}{extra})"
        )

    # ------------------------------------------------------------------
    # The ODE (the only place it is written)
    # ------------------------------------------------------------------
    @property
    def fixed_point_vector(self):
        """The fixed point ``x*`` as a vector of shape (5,)."""
        return np.full(N_ELEMENTS, self.fixed_point)

    def effective_input(self, u):
        """Input as the neuron sees it: ``u`` (rate) or the atan-bounded inflow (flux)."""
        u = np.asarray(u, dtype=float)
        if self.coupling == "rate":
            return u
        um = np.where(u < 0, self.input_bound, self.input_bound_pos)
        with np.errstate(invalid="ignore"):
            v = np.where(np.isinf(um), u,
                         um * (2 / np.pi) * np.arctan(np.pi * u / (2 * um)))
        # far out, atan rounds to pi/2: keep the bound strict, as the kernel does
        lim = np.nextafter(um, 0)
        return np.clip(v, -lim, lim)

    def rhs(self, x, u=0.0):
        """Right-hand side ``dx/dt`` of the neuron's ODE under input ``u``.

        Parameters
        ----------
        x : array-like of shape (5,) or (n, 5)
            States.
        u : float or array-like of shape (n,)
            Raw input (the flux coupling bounds it with :meth:`effective_input`).

        Returns
        -------
        dxdt : ndarray of the shape of ``x``
        """
        x = np.asarray(x, dtype=float)
        ue = np.asarray(self.effective_input(u), dtype=float)
        a = self.input_element
        growth = self.r + x @ self.A.T
        if self.coupling == "rate":
            growth = growth.copy()
            growth[..., a] += ue
            return x * growth
        dx = x * growth
        dx[..., a] += ue
        return dx

    def jacobian(self, x, u=0.0):
        """Jacobian ``J(x)`` of :meth:`rhs` at state ``x`` (shape (5,))."""
        x = np.asarray(x, dtype=float)
        diag = self.r + self.A @ x
        if self.coupling == "rate":
            diag[self.input_element] += float(self.effective_input(u))
        return np.diag(x) @ self.A + np.diag(diag)

    def reverse_jacobian(self, x, u=0.0):
        """The reverse (mirrored) system's matrix ``J(x).T``: cause and effect swapped."""
        return self.jacobian(x, u).T

    def energy(self, x):
        """Lyapunov energy ``V(x) = sum(x_i - x* ln x_i)``; it never increases at ``u = 0``."""
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore"):
            return np.sum(x - self.fixed_point * np.log(x), axis=-1)

    def simulate(self, u=0.0, t_max=200.0, dt=0.01, x0=None):
        """Integrate the ODE with classical RK4 from ``x*`` (or ``x0``) under input ``u``.

        A reference integrator, independent of the closed-form steady states,
        used to check them and to draw trajectories.

        Parameters
        ----------
        u : float, default=0.0
            Raw input held constant over time.
        t_max : float, default=200.0
            End time.
        dt : float, default=0.01
            Step.
        x0 : array-like of shape (5,), default=None
            Start state, ``x*`` when None.

        Returns
        -------
        t : ndarray of shape (n_steps + 1,)
        X : ndarray of shape (n_steps + 1, 5)

        Examples
        --------
        >>> from sklearn_symnet import WuxingNeuron
        >>> t, X = WuxingNeuron().simulate(u=1.0, t_max=50.0, dt=0.01)
        >>> X.shape
        (5001, 5)
        """
        if not (np.isfinite(t_max) and np.isfinite(dt) and 0 < dt <= t_max):
            raise ValueError(f"need 0 < dt <= t_max, got dt={dt!r}, t_max={t_max!r}.")
        n_steps = int(round(t_max / dt))
        x = self.fixed_point_vector if x0 is None else np.array(x0, dtype=float)
        if x.shape != (N_ELEMENTS,) or not np.all(np.isfinite(x)) or np.any(x < 0):
            raise ValueError("x0 must be 5 finite, non-negative levels.")
        X = np.empty((n_steps + 1, N_ELEMENTS))
        X[0] = x
        for k in range(n_steps):
            x = self._rk4_step(x, u, dt)
            X[k + 1] = x
        return np.arange(n_steps + 1) * dt, X

    def _rk4_step(self, x, u, dt):
        """One classical RK4 step of :meth:`rhs` (levels clipped at 0)."""
        f = self.rhs
        k1 = f(x, u)
        k2 = f(x + 0.5 * dt * k1, u)
        k3 = f(x + 0.5 * dt * k2, u)
        k4 = f(x + dt * k3, u)
        return np.maximum(x + (dt / 6.0) * (k1 + 2 * k2 + 2 * k3 + k4), 0.0)

    def integrate(self, u, t_max=200.0, dt=0.01):
        """States at ``t_max`` of RK4 runs from ``x*``, one per input in ``u``.

        The vectorised form of :meth:`simulate` (same steps, no trajectory
        kept): the independent reference that the closed-form steady states
        are checked against.

        Parameters
        ----------
        u : array-like of shape (n,)
            Raw inputs, each held constant over its run.
        t_max : float, default=200.0
            End time.
        dt : float, default=0.01
            Step.

        Returns
        -------
        X : ndarray of shape (n, 5)

        Examples
        --------
        >>> from sklearn_symnet import WuxingNeuron
        >>> n = WuxingNeuron()
        >>> X = n.integrate([0.0, 1.0], t_max=50.0)
        >>> bool(abs(X[1, 1] - n.steady_state([1.0])[0, 1]) < 1e-8)
        True
        """
        if not (np.isfinite(t_max) and np.isfinite(dt) and 0 < dt <= t_max):
            raise ValueError(f"need 0 < dt <= t_max, got dt={dt!r}, t_max={t_max!r}.")
        u = np.atleast_1d(np.asarray(u, dtype=float))
        x = np.tile(self.fixed_point_vector, (u.shape[0], 1))
        for _ in range(int(round(t_max / dt))):
            x = self._rk4_step(x, u, dt)
        return x

    # ------------------------------------------------------------------
    # Steady states through the kernels
    # ------------------------------------------------------------------
    def kernel_table(self, element=None, bounded=True):
        """Numbers the layer kernels need to evaluate ``element``'s displacement.

        Returns ``(kind, params)``; the network passes ``params`` straight to
        :func:`sklearn_symnet._kernels.rate_forward` or ``flux_forward``.
        ``element`` defaults to the output element; the gains are for the
        output element only when ``element`` is the output element.
        """
        b = self.output_element if element is None else _check_element("element", element)
        xs = self.fixed_point
        if self.coupling == "rate":
            slope = self._rate_P[:, b].copy()
            icpt = self._rate_Q[:, b] - xs
            # The output element's gain is the reverse system's steady response
            # (from J.T in _build_rate_table); it equals the forward slope.
            gain = self._rate_reverse_gain.copy() if b == self.output_element else slope
            return "rate", (self.breakpoints, slope, icpt, gain)
        p, q = self._flux_p[b], self._flux_q[b] - xs
        um = self.input_bound if bounded else np.inf
        up = self.input_bound_pos if bounded else np.inf
        return "flux", (um, up, self._flux_c1, self._flux_beta, p, q)

    def _element_response(self, u, element, bounded=True):
        u = np.ascontiguousarray(np.atleast_1d(np.asarray(u, dtype=np.float64)))
        if u.ndim != 1:
            raise ValueError("u must be a scalar or a 1-D array.")
        if not np.all(np.isfinite(u)):
            raise ValueError("u must be finite.")
        U = u.reshape(-1, 1)
        S = np.empty_like(U)
        G = np.empty_like(U)
        kind, params = self.kernel_table(element, bounded)
        forward = _kernels.rate_forward if kind == "rate" else _kernels.flux_forward
        forward(U, *params, S, G, 1)
        return S[:, 0], G[:, 0]

    def response(self, u):
        """Signal and gain for an array of inputs (the network's own kernel).

        Parameters
        ----------
        u : array-like of shape (n,)
            Raw inputs.

        Returns
        -------
        signal : ndarray of shape (n,)
            ``x_b(steady state) - x*``.
        gain : ndarray of shape (n,)
            ``d signal / d u`` from the reverse system (for flux, including the
            atan bound's slope).
        """
        return self._element_response(u, None)

    def branch_response(self, v):
        """Flux coupling: signal and gain at an *effective* inflow ``v``.

        Evaluates the equilibrium branch without the atan bound, for
        ``fold_input < v``; the gain is ``d signal / d v``.
        """
        if self.coupling != "flux":
            raise ValueError("branch_response is defined for coupling='flux' only.")
        v = np.asarray(v, dtype=float)
        if np.any(v <= self.fold_input):
            raise ValueError(f"v must be above the fold {self.fold_input:.6g}.")
        return self._element_response(v, None, bounded=False)

    def signal(self, u):
        """Signal ``s(u) = x_b(steady state under u) - x*``."""
        return self.response(u)[0]

    def gain(self, u):
        """Local gain ``ds/du``."""
        return self.response(u)[1]

    def steady_state(self, u):
        """Steady state of all five elements, shape (n, 5), for inputs ``u``."""
        cols = [self._element_response(u, i)[0] for i in range(N_ELEMENTS)]
        return np.stack(cols, axis=1) + self.fixed_point

    def reverse_gain(self, u):
        """Gain from an explicit solve of the reverse system at the steady state.

        The error is injected at the output element of the mirrored system
        ``-J.T y = e_b`` and read at the input element, times the input's own
        sensitivity ``df_a/du`` (``x_a`` for rate, the atan slope for flux).
        Slow (one 5x5 solve per input); the kernels use the closed form.
        """
        u = np.atleast_1d(np.asarray(u, dtype=float))
        X = self.steady_state(u)
        a, b = self.input_element, self.output_element
        e_b = np.zeros(N_ELEMENTS)
        e_b[b] = 1.0
        out = np.empty(u.shape[0])
        for k, (x, uk) in enumerate(zip(X, u)):
            y = np.linalg.solve(-self.reverse_jacobian(x, uk), e_b)
            if self.coupling == "rate":
                dfa = x[a]
            else:
                um = self.input_bound if uk < 0 else self.input_bound_pos
                z = np.pi * uk / (2 * um)
                dfa = 1.0 / (1.0 + z * z)
            out[k] = y[a] * dfa
        return out

    @property
    def responds(self):
        """Whether the output element's steady state depends on the input at all
        (False e.g. for ``K1 = K2 = 0`` with ``output_element != input_element``:
        the elements are uncoupled)."""
        b, a = self.output_element, self.input_element
        if self.coupling == "rate":
            col = np.abs(self._rate_P[:, b])
            return bool(col.max() > 1e-12 * max(np.abs(self._rate_P[:, a]).max(), 1e-300))
        return bool(abs(self._flux_p[b]) > 1e-12 * abs(self._flux_p[a]))

    def causal_gains(self):
        """Causal-distance gain structure ``G(d) = [(-A)^-1]_{a+d, a}``, d = 0..4."""
        Ainv = np.linalg.inv(-self.A)
        a = self.input_element
        return np.array([Ainv[(a + d) % N_ELEMENTS, a] for d in range(N_ELEMENTS)])

    # ------------------------------------------------------------------
    # Precomputation
    # ------------------------------------------------------------------
    def _build_rate_table(self):
        """Exact solution of the rate coupling's complementarity problem.

        For input ``u`` the steady state is the unique ``x >= 0`` with
        ``w = -(r 1 + u e_a + A x) >= 0`` and ``x . w = 0``.  On each survivor
        set ``S`` it is affine in ``u``: ``x_S = -(A_SS)^-1 (r 1_S + u e_a)``.

        The pieces are found so that they tile the input axis by
        construction, with no tolerance deciding the tiling: every survivor
        set's feasible interval contributes its finite end points as
        candidate breakpoints; between consecutive candidates the LCP is
        solved at an interior point (the set of least constraint violation:
        the feasible one, unique up to degenerate sets that give the same
        ``x``); neighbouring intervals with the same affine solution are
        merged.  Degenerate constants (a breakpoint at infinity, sets that
        are feasible on one point only, a zero slope) need no special case.
        """
        a, A, r = self.input_element, self.A, self.r
        n_sets = 2**N_ELEMENTS - 1
        P = np.zeros((n_sets, N_ELEMENTS))
        Q = np.zeros((n_sets, N_ELEMENTS))
        alpha = np.empty((n_sets, N_ELEMENTS))  # constraints alpha u + beta >= 0
        beta = np.empty((n_sets, N_ELEMENTS))
        ea = np.zeros(N_ELEMENTS)
        ea[a] = 1.0
        # Rounding noise of the small solves: -A_SS = K3 I + skew has condition
        # number at most 1 + 2 (|K1| + |K2|) / K3.  An entry below the noise
        # level of its vector is an exact zero lost to rounding (K1 = K2 = K3
        # gives -9e-18 for a zero slope, and an extrapolated level of -9e282
        # at u = 1e300); cleaning it keeps every steady state >= 0.
        noise = 64 * np.finfo(float).eps * (1.0 + 2 * (abs(self.K1) + abs(self.K2))
                                             / self.K3)

        def clean(v, scale):
            v[np.abs(v) <= noise * scale] = 0.0
            return v

        k = 0
        for size in range(1, N_ELEMENTS + 1):
            for S in combinations(range(N_ELEMENTS), size):
                S = list(S)
                # -A_SS has symmetric part K3 I: always invertible
                Ainv = np.linalg.inv(A[np.ix_(S, S)])
                p = -Ainv @ ea[S]
                q = -Ainv @ np.full(len(S), r)
                P[k, S] = clean(p, np.abs(p).max())
                Q[k, S] = clean(q, np.abs(q).max())
                out = [i for i in range(N_ELEMENTS) if i not in S]
                # survivors: x_i >= 0; the others: w_i >= 0
                alpha[k] = P[k]
                beta[k] = Q[k]
                Aabs = np.abs(A[out])
                alpha[k, out] = clean(-(ea[out] + A[out] @ P[k]),
                                      1.0 + Aabs @ np.abs(P[k]))
                beta[k, out] = clean(-(r + A[out] @ Q[k]), r + Aabs @ np.abs(Q[k]))
                k += 1
        # candidate breakpoints: the finite ends of every non-empty feasible interval
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            roots = -beta / alpha
            lo = np.where(alpha > 0, roots, -np.inf).max(axis=1)
            hi = np.where(alpha < 0, roots, np.inf).min(axis=1)
        # Every finite end point counts, however far out: a tiny constant puts a
        # genuine breakpoint far away (K2 = 1e-110: near 1e110), and the piece
        # beyond it must not be the extrapolated inner one.  Only ends beyond
        # +-1e300, where an interior test point could overflow, are dropped.
        cand = np.concatenate([lo[lo <= hi], hi[lo <= hi]])
        cand = np.unique(cand[np.isfinite(cand) & (np.abs(cand) < RATE_FAR_INPUT)])
        if cand.size:
            keep = np.concatenate([[True], np.diff(cand) > 1e-12 * np.maximum(
                1.0, np.abs(cand[1:]))])
            cand = cand[keep]
        # an interior test point of every interval between candidates
        if cand.size:
            width = np.maximum(1.0, np.abs(cand))
            tests = np.concatenate([[cand[0] - width[0]], 0.5 * (cand[:-1] + cand[1:]),
                                    [cand[-1] + width[-1]]])
        else:
            tests = np.array([0.0])
        chosen = self._rate_lcp_sets(alpha, beta, tests)
        # merge neighbouring intervals whose solutions are the same affine map
        pieces = []  # [first interval, last interval, set]
        for j, c in enumerate(chosen):
            if pieces:
                prev = pieces[-1][2]
                # the same affine map element by element (relative, no
                # absolute floor: a slope of 1e-110 is not a slope of 0)
                same = np.allclose(P[prev], P[c], rtol=1e-9, atol=0.0) and np.allclose(
                    Q[prev], Q[c], rtol=1e-9, atol=0.0)
                if prev == c or same:
                    pieces[-1][1] = j
                    continue
            pieces.append([j, j, c])
        self.breakpoints = np.array([cand[last] for _, last, _ in pieces[:-1]])
        self._rate_P = np.array([P[c] for *_, c in pieces])
        self._rate_Q = np.array([Q[c] for *_, c in pieces])
        # Reverse-system gain of each piece, from J.T at an interior point.
        e_b = np.zeros(N_ELEMENTS)
        e_b[self.output_element] = 1.0
        gains = []
        for (first, last, c) in pieces:
            um = tests[(first + last + 1) // 2] if first != last else tests[first]
            x = P[c] * um + Q[c]
            try:
                y = np.linalg.solve(-self.reverse_jacobian(x, um), e_b)
                g = y[a] * x[a]
            except np.linalg.LinAlgError:  # pragma: no cover - J is regular on a piece
                g = np.nan
            # on an extinct input element the response is exactly zero
            gains.append(0.0 if P[c, a] == 0 and Q[c, a] == 0 else g)
        gains = np.array(gains)
        bad = ~np.isfinite(gains)
        gains[bad] = self._rate_P[bad, self.output_element]
        self._rate_reverse_gain = gains

    @staticmethod
    def _rate_lcp_sets(alpha, beta, u):
        """Index of the survivor set solving the LCP at each input ``u``: the
        set whose constraints are violated least (the feasible set; degenerate
        ties give the same solution)."""
        vals = alpha[:, :, None] * u[None, None, :] + beta[:, :, None]
        scale = 1.0 + np.abs(u)[None, :] * np.abs(alpha).max(axis=1)[:, None] + np.abs(
            beta).max(axis=1)[:, None]
        worst = vals.min(axis=1) / scale
        return np.argmax(worst, axis=0)

    def _build_flux_branch(self):
        """Equilibrium branch of the flux coupling, parametrised by ``t = x_a``.

        With ``x_a = t`` the other four elements survive with ``(r + A x)_i = 0``,
        affine in ``t``: ``x = p t + q``.  The inflow that holds the branch there
        is ``u(t) = -t (c1 + beta t)``, a quadratic, so the steady state for a
        given inflow is the root with ``du/dt = sqrt(c1^2 - 4 beta u) > 0``.
        The fold is at ``du/dt = 0``.
        """
        a, A, r = self.input_element, self.A, self.r
        N = [i for i in range(N_ELEMENTS) if i != a]
        ANN_inv = np.linalg.inv(A[np.ix_(N, N)])
        p = np.zeros(N_ELEMENTS)
        q = np.zeros(N_ELEMENTS)
        p[a] = 1.0
        p[N] = -ANN_inv @ A[N, a]
        q[N] = -ANN_inv @ np.full(len(N), r)
        c1 = r + A[a] @ q
        beta = A[a] @ p

        # Range of t around x* where the branch is stable (du/dt > 0) and all
        # elements stay positive.  (Tiny constants can overflow a ratio to inf,
        # which is the right limit here.)
        with np.errstate(over="ignore", divide="ignore"):
            t_lo, t_hi, u_lo, u_hi = self._flux_range(p, q, c1, beta, N)
        self.fold_input = float(u_lo)
        self.branch_top = float(u_hi)
        if self.flux_bound == "symmetric":
            self.input_bound = float(FLUX_INPUT_FRACTION * min(-u_lo, u_hi))
            self.input_bound_pos = self.input_bound
        else:
            self.input_bound = float(FLUX_INPUT_FRACTION * -u_lo)
            self.input_bound_pos = float(FLUX_INPUT_FRACTION * u_hi)
        self._flux_p, self._flux_q = p, q
        self._flux_c1, self._flux_beta = float(c1), float(beta)

    def _flux_range(self, p, q, c1, beta, N):
        xs = self.fixed_point
        t_lo, t_hi = 0.0, np.inf
        if beta < 0:
            t_lo = max(t_lo, -c1 / (2 * beta))
        elif beta > 0:
            t_hi = min(t_hi, -c1 / (2 * beta))
        for i in N:
            if p[i] > 0:
                t_lo = max(t_lo, -q[i] / p[i])
            elif p[i] < 0:
                t_hi = min(t_hi, -q[i] / p[i])
        if not t_lo < xs < t_hi:  # pragma: no cover - x* is always interior
            raise RuntimeError("fixed point is not on the flux branch")

        def u_of(t):
            return -t * (c1 + beta * t)

        u_lo = u_of(t_lo)
        u_hi = u_of(t_hi) if np.isfinite(t_hi) else np.inf
        return t_lo, t_hi, u_lo, u_hi
