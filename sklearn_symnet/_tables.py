"""Kernel tables of a layer of Wuxing neurons: the only place that dispatches on the coupling.

A layer's neurons share a coupling, an input element ``a``, an output element
``b`` and a flux bound; their constants ``theta = (K1, K2, K3, r)`` are one
row per unit, or one row shared by all units (a fixed network).  From the
interaction matrix of the ODE (:func:`sklearn_symnet._neuron.interaction_matrix`,
the only place it is written) this module builds what the kernels evaluate:

* **rate coupling**: the exact piecewise-affine steady state.  On each piece
  (survivor set ``S`` of the complementarity problem) the state is
  ``x = q u + p`` with ``q = G_S e_a``, ``p = G_S r 1``, ``G_S = (-A_SS)^-1``
  embedded in 5x5.  The reverse system's steady response driven at the output
  element, ``y = G_S^T e_b``, gives the gain ``y_a`` and every constant's
  derivative, ``ds/dtheta_m = c_m + d_m u`` (``docs/model.md``).  Tables are
  padded over units to the layer's largest number of pieces.
* **flux coupling**: the closed-form stable branch ``x = p t + q`` with
  ``t = x_a`` solving ``beta t^2 + c1 t + v = 0``, and the derivatives of
  ``c1, beta, p_b, q_b - x*`` with respect to the constants.
"""

import numpy as np

from . import _kernels
from ._neuron import CONSTANT_MATRICES, N_ELEMENTS

# Fraction of the distance to the flux coupling's fold (and, with
# flux_bound="branch", to the branch's top) that the bounded inflow may use.
FLUX_INPUT_FRACTION = 0.9

_CONSTANT_MATRICES = np.ascontiguousarray(CONSTANT_MATRICES)


def _as_constants(constants):
    theta = np.array(constants, dtype=np.float64, ndmin=2)
    if theta.ndim != 2 or theta.shape[1] != 4:
        raise ValueError(f"constants must have shape (n, 4), got {theta.shape}.")
    return theta


class NeuronTable:
    """The kernel tables of a layer of neurons.

    Parameters
    ----------
    constants : array-like of shape (n_rows, 4)
        ``K1, K2, K3, r`` per unit, or one row shared by every unit.
    coupling : {"rate", "flux"}
    input_element, output_element : int
    flux_bound : {"symmetric", "branch"}

    Attributes
    ----------
    constants : ndarray of shape (n_rows, 4)
    responds : ndarray of bool, shape (n_rows,)
        Whether the output element's steady state depends on the input.
    """

    def __init__(self, constants, coupling="rate", input_element=0, output_element=1,
                 flux_bound="symmetric"):
        self.coupling = coupling
        self.a = int(input_element)
        self.b = int(output_element)
        self.flux_bound = flux_bound
        self.rebuild(constants)

    @property
    def n_rows(self):
        return self.constants.shape[0]

    @property
    def fixed_points(self):
        """``r / K3`` per row."""
        return self.constants[:, 3] / self.constants[:, 2]

    def rebuild(self, constants, n_threads=1):
        """Recompute every table for new constants (same coupling and elements);
        ``n_threads`` OpenMP threads for wide layers.  ``constants`` may be
        this table's own :attr:`constants`, written in place (no copy)."""
        if constants is not getattr(self, "constants", None):
            self.constants = np.ascontiguousarray(_as_constants(constants))
        if self.coupling == "rate":
            self._build_rate(n_threads)
        else:
            self._build_flux()

    # ------------------------------------------------------------------
    # Evaluation (kernels)
    # ------------------------------------------------------------------
    def forward(self, U, S, G, n_threads=1, with_gain=True, levels=None):
        """Signals ``S`` (and gains ``G``) of inputs ``U`` of shape (n, n_units).

        ``S`` may alias ``U``.  Flux coupling: ``levels`` (float64, U's
        shape), where given, keeps the input element's levels for
        :meth:`constant_grads`.  Returns the number of non-finite signals.
        """
        if self.coupling == "rate":
            return _kernels.rate_forward(U, self._bp, self._slope, self._icpt, self._gain,
                                         S, G, with_gain, n_threads)
        return _kernels.flux_forward(U, self._flux, S, G, with_gain, n_threads, levels)

    def kernel_tables(self):
        """The tables as :func:`sklearn_symnet._kernels.predict_dense` takes
        them (the coupling's own, as :meth:`forward` passes them)."""
        if self.coupling == "rate":
            return ("rate", self._bp, self._slope, self._icpt, self._gain)
        return ("flux", self._flux)

    def constant_grads(self, U, E, out, n_threads=1, levels=None):
        """``out[k] = sum_i E[i, k] * d s(U[i, k]) / d theta_k`` (shape (n_units, 4)).

        ``E`` holds the error signals before the gain (``-dL/ds``): summed
        against each constant's derivative, they give ``-dL/dtheta``.  Flux
        coupling: ``levels`` from :meth:`forward` on the same ``U`` spare
        solving the branch again.
        """
        if self.coupling == "rate":
            _kernels.rate_constant_grads(U, E, self._bp, self._dc, self._dd, out, n_threads)
        else:
            _kernels.flux_constant_grads(U, E, self._flux, self._flux_grad, out, n_threads,
                                         levels)
        return out

    def keeps_levels(self):
        """Whether :meth:`forward` can keep levels for :meth:`constant_grads`."""
        return self.coupling == "flux"

    def element_view(self, element, bounded=True):
        """A table reading ``element``'s displacement instead of the output
        element's (gains only for the output element); with ``bounded=False``
        the flux inflow is not bounded (for inspecting the branch)."""
        view = object.__new__(NeuronTable)
        view.__dict__.update(self.__dict__)
        if self.coupling == "rate":
            view._slope = np.ascontiguousarray(self._Pm[:, :, element])
            view._icpt = np.ascontiguousarray(self._Qm[:, :, element]
                                              - self.fixed_points[:, None])
        else:
            F = self._flux.copy()
            F[:, 6] = self._flux_pv[:, element]
            F[:, 7] = self._flux_qv[:, element] - self.fixed_points
            if not bounded:
                F[:, 0:4] = [np.inf, np.inf, 0.0, 0.0]
            view._flux = F
        return view

    # ------------------------------------------------------------------
    # Rate coupling: the complementarity problem's pieces
    # ------------------------------------------------------------------
    def _build_rate(self, n_threads):
        """Exact solution of the rate coupling's complementarity problem (the
        compiled builder :func:`sklearn_symnet._kernels.rate_tables`; one unit
        per table row).

        For input ``u`` the steady state is the unique ``x >= 0`` with
        ``w = -(r 1 + u e_a + A x) >= 0`` and ``x . w = 0``.  The pieces tile
        the input axis by construction, with no tolerance deciding the
        tiling: every survivor set's feasible interval contributes its finite
        ends as candidate breakpoints; between consecutive candidates the LCP
        is solved at an interior point (the set of least constraint
        violation: the feasible one, unique up to degenerate sets that give
        the same ``x``); neighbours with the same affine solution are merged.
        """
        theta = self.constants
        n = theta.shape[0]
        P = _kernels.RATE_MAX_PIECES
        if getattr(self, "_bp", None) is None or self._bp.shape[0] != n:
            # padded to the most pieces a unit can have: the kernels' scan
            # stops at the first +inf breakpoint, so no trimming is needed
            self._bp = np.empty((n, P - 1))
            self._Pm = np.empty((n, P, N_ELEMENTS))
            self._Qm = np.empty((n, P, N_ELEMENTS))
            self._gain = np.empty((n, P))
            self._slope = np.empty((n, P))
            self._icpt = np.empty((n, P))
            self._dc = np.empty((n, P, 4))
            self._dd = np.empty((n, P, 4))
            self.n_pieces = np.empty(n, dtype=np.int32)
            self._sets = np.zeros((n, P), dtype=np.int32)  # no previous pieces
        _kernels.rate_tables(theta, self.a, self.b, _CONSTANT_MATRICES, self._bp, self._Pm,
                             self._Qm, self._gain, self._slope, self._icpt, self._dc,
                             self._dd, self.n_pieces, self._sets,
                             n_threads if n >= 64 else 1)

    def breakpoints_first(self):
        """Rate coupling: each row's first breakpoint, below which the input
        element is extinct and the gain zero (0 where there is none)."""
        first = self._bp[:, 0]
        return np.where(np.isfinite(first), first, 0.0)

    @property
    def breakpoints(self):
        """Rate coupling: each row's breakpoints (a list of arrays)."""
        return [self._bp[k, : m - 1] for k, m in enumerate(self.n_pieces)]

    # ------------------------------------------------------------------
    # Flux coupling: the closed-form branch
    # ------------------------------------------------------------------
    def _build_flux(self):
        """Equilibrium branch of the flux coupling, parametrised by ``t = x_a``
        (the compiled builder :func:`sklearn_symnet._kernels.flux_tables`).

        With ``x_a = t`` the other four elements survive with
        ``(r + A x)_i = 0``, affine in ``t``: ``x = p t + q``.  The inflow that
        holds the branch there is ``v(t) = -t (c1 + beta t)``, a quadratic, so
        the steady state for an inflow is the root with
        ``dv/dt = sqrt(c1^2 - 4 beta v) > 0``.  The fold is at ``dv/dt = 0``.
        The kernel writes, per row, ``(u_max, u_max_pos, pi/(2 u_max),
        pi/(2 u_max_pos), c1, beta, p_b, q_b - x*)`` and the derivatives of
        the last four with respect to the constants.
        """
        theta = self.constants
        n = theta.shape[0]
        if getattr(self, "_flux", None) is None or self._flux.shape[0] != n:
            self._flux = np.empty((n, 8))
            self._flux_grad = np.empty((n, 4, 4))
            self._flux_pv = np.empty((n, N_ELEMENTS))
            self._flux_qv = np.empty((n, N_ELEMENTS))
            self._flux_ends = np.empty((n, 2))
            # views: rebuilt in place with the tables
            self.fold_input, self.branch_top = self._flux_ends.T
            self.input_bound, self.input_bound_pos = self._flux[:, 0], self._flux[:, 1]
        bad = _kernels.flux_tables(theta, self.a, self.b, _CONSTANT_MATRICES,
                                   self.flux_bound == "branch", FLUX_INPUT_FRACTION,
                                   self._flux, self._flux_grad, self._flux_pv,
                                   self._flux_qv, self._flux_ends)
        if bad:  # pragma: no cover - x* is interior for valid constants
            raise RuntimeError("fixed point is not on the flux branch")

    @property
    def responds(self):
        """Whether each row's output element depends on the input (bool array)."""
        if self.coupling == "rate":
            Pb = self._Pm[:, :, self.b]
            return np.abs(Pb).max(1) > 1e-12 * np.maximum(
                np.abs(self._Pm[:, :, self.a]).max(1), 1e-300)
        return np.abs(self._flux_pv[:, self.b]) > 1e-12 * np.abs(self._flux_pv[:, self.a])


class LinearTable:
    """A layer without neurons: its signals are its inputs (gain 1).

    The output layer of ``readout="linear"`` (an MLP's identity output).
    """

    coupling = "linear"
    n_rows = 0

    def kernel_tables(self):
        return ("linear",)

    def forward(self, U, S, G, n_threads=1, with_gain=True, levels=None):
        if S is not U:
            S[...] = U
        if with_gain:
            G[...] = 1.0
        return int(np.count_nonzero(~np.isfinite(S)))
