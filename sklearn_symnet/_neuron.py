"""The five-element (Wuxing) neuron: the ODE, its fixed point and its reverse system.

This module is the only place where the neuron's differential equation is
written down: :func:`interaction_matrix` (the matrix ``A`` of
``dx/dt = x * (r + A x)``) and :meth:`WuxingNeuron.rhs`.  Everything else --
the tables of :mod:`sklearn_symnet._tables`, the Cython kernels, the network,
the estimators -- receives from here ``A`` or the few numbers derived from
it, and never writes the equation again.  See ``docs/model.md``.
"""

from numbers import Integral, Real

import numpy as np

N_ELEMENTS = 5
ELEMENT_NAMES = ("wood", "fire", "earth", "metal", "water")
COUPLINGS = ("rate", "flux")
FLUX_BOUNDS = ("symmetric", "branch")


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


#: ``dA/dK1, dA/dK2, dA/dK3``: generation (mother feeds child, predator-prey),
#: restraint (an element preys on the one it restrains), self-limitation.
CONSTANT_MATRICES = np.stack([
    shift_matrix(-1) - shift_matrix(1),
    shift_matrix(2) - shift_matrix(-2),
    -np.eye(N_ELEMENTS),
])


def interaction_matrix(K1, K2, K3):
    """The circulant ``A = -K3 I + K1 (S_-1 - S_+1) + K2 (S_+2 - S_-2)``.

    The ODE of every neuron is ``dx/dt = x * (r + A x)``.  Scalars give one
    (5, 5) matrix; arrays of shape (n,) give (n, 5, 5).
    """
    K = np.stack(np.broadcast_arrays(np.asarray(K1, dtype=float),
                                     np.asarray(K2, dtype=float),
                                     np.asarray(K3, dtype=float)), axis=-1)
    return np.einsum("...m,mij->...ij", K, CONSTANT_MATRICES)


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

        self.A = interaction_matrix(self.K1, self.K2, self.K3)
        self.fixed_point = self.r / self.K3
        from ._tables import NeuronTable  # the tables read A from this module

        self.table = NeuronTable([[self.K1, self.K2, self.K3, self.r]], coupling,
                                 self.input_element, self.output_element, flux_bound)
        if coupling == "rate":
            self.breakpoints = self.table.breakpoints[0].copy()
            self.fold_input = None
            self.input_bound = self.input_bound_pos = np.inf
        else:
            self.breakpoints = np.empty(0)
            self.fold_input = float(self.table.fold_input[0])
            self.branch_top = float(self.table.branch_top[0])
            self.input_bound = float(self.table.input_bound[0])
            self.input_bound_pos = float(self.table.input_bound_pos[0])

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
    def _element_response(self, u, element, bounded=True):
        u = np.ascontiguousarray(np.atleast_1d(np.asarray(u, dtype=np.float64)))
        if u.ndim != 1:
            raise ValueError("u must be a scalar or a 1-D array.")
        if not np.all(np.isfinite(u)):
            raise ValueError("u must be finite.")
        U = u.reshape(-1, 1)
        S = np.empty_like(U)
        G = np.empty_like(U)
        table = self.table
        if element is not None or not bounded:
            e = self.output_element if element is None else _check_element("element", element)
            table = table.element_view(e, bounded)
        table.forward(U, S, G)
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
        return bool(self.table.responds[0])

    def constant_gradients(self, u):
        """Derivatives of the signal with respect to the neuron's own constants.

        From the same reverse-system response that gives the gain
        (``docs/model.md``, trained neurons): exact, local, no chain rule.

        Parameters
        ----------
        u : array-like of shape (n,)
            Raw inputs.

        Returns
        -------
        grads : ndarray of shape (n, 4)
            ``ds/dK1, ds/dK2, ds/dK3, ds/dr`` at each input.

        Examples
        --------
        >>> from sklearn_symnet import WuxingNeuron
        >>> g = WuxingNeuron(K1=0.3, K2=0.2, output_element=3).constant_gradients([-1.6])
        >>> [round(float(v), 4) for v in g[0]]
        [-0.1176, -0.0173, 0.1608, -0.122]
        """
        u = np.ascontiguousarray(np.atleast_1d(np.asarray(u, dtype=np.float64)))
        if u.ndim != 1 or not np.all(np.isfinite(u)):
            raise ValueError("u must be a finite scalar or 1-D array.")
        # one row of inputs, each a unit of this neuron: no sum over samples
        out = np.empty((u.shape[0], 4))
        self.table.constant_grads(u[None, :], np.ones((1, u.shape[0])), out)
        return out

    def causal_gains(self):
        """Causal-distance gain structure ``G(d) = [(-A)^-1]_{a+d, a}``, d = 0..4."""
        Ainv = np.linalg.inv(-self.A)
        a = self.input_element
        return np.array([Ainv[(a + d) % N_ELEMENTS, a] for d in range(N_ELEMENTS)])
