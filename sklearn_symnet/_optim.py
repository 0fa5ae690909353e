"""Optimisers that adjust the connection coefficients, and the arctan bound.

Each optimiser works in place on one flat parameter vector (all connection
coefficients first, then all biases) through a single compiled kernel call.
"""

import numpy as np

from . import _kernels

# Adam's kernels take threads from this many parameters on (fixed blocks:
# the same results for any thread count).
ADAM_THREADS_MIN = 8192


class Optimizer:
    """What the network asks of an optimiser: :meth:`step` from a loss
    gradient, and :meth:`adjust` from the summed adjustment signals."""

    def step(self, params, grads, n_threads=1):  # pragma: no cover (abstract)
        raise NotImplementedError

    def adjust(self, params, sums, n_coef, alpha, inv_weight, n_threads=1):
        """One step from the minibatch's summed adjustment signals ``sums``
        (``sum_i w_i s_j delta_k``, overwritten by the loss gradient: the L2
        penalty ``alpha`` on the first ``n_coef`` entries, divided by the total
        sample weight), for parameters that are the coefficients themselves.
        Returns ``sum(params[:n_coef] ** 2)`` before the step."""
        sq = _kernels.finish_gradient(sums, params, n_coef, alpha, inv_weight)
        self.step(params, sums, n_threads)
        return sq


class _Resumable(Optimizer):
    """An optimiser whose :meth:`state` another one of the same shape can load."""

    def accepts(self, state):
        """Whether ``state`` (an earlier :meth:`state`) can continue this
        optimiser: the same solver, and arrays of the same shapes and dtypes."""
        own = self.state()
        if not isinstance(state, dict) or state.get("solver") != own["solver"]:
            return False
        return all(isinstance(state.get(k), np.ndarray) and state[k].shape == v.shape
                   and state[k].dtype == v.dtype
                   for k, v in own.items() if isinstance(v, np.ndarray))


class _Schedule(_Resumable):
    """Step size ``learning_rate_init * max(decay ** n, floor)``.

    ``n`` is ``t / decay_steps`` (``t``: optimiser steps, the one being
    taken included) or, with ``decay_steps=None``, the epochs completed; both
    count across ``partial_fit`` calls.  ``decay=1`` is a constant step."""

    def _init_schedule(self, learning_rate_init, decay, decay_steps=None, floor=0.0):
        self.learning_rate_init = float(learning_rate_init)
        self.decay = float(decay)
        self.decay_steps = None if decay_steps is None else int(decay_steps)
        self.floor = float(floor)
        self.epochs = 0

    @property
    def learning_rate(self):
        n = self.epochs if self.decay_steps is None else self.t / self.decay_steps
        return self.learning_rate_init * max(self.decay**n, self.floor)

    def end_epoch(self):
        self.epochs += 1


class AdamOptimizer(_Schedule):
    """Adam (Kingma & Ba), with MLPClassifier's defaults and bias correction.

    Parameters
    ----------
    n_params : int
        Length of the flat parameter vector.
    dtype : numpy dtype
        Dtype of the parameters (float32 or float64).
    learning_rate_init : float
        Step size.
    beta_1, beta_2, epsilon : float
        Moment decay rates and numerical floor.
    decay, decay_steps, floor : float, int or None, float
        The step size's schedule (:class:`_Schedule`); ``decay=1.0`` keeps
        it constant.
    """

    def __init__(self, n_params, dtype, learning_rate_init, beta_1=0.9,
                 beta_2=0.999, epsilon=1e-8, decay=1.0, decay_steps=None, floor=0.0):
        self._init_schedule(learning_rate_init, decay, decay_steps, floor)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.t = 0
        self.ms = np.zeros(n_params, dtype=dtype)
        self.vs = np.zeros(n_params, dtype=dtype)

    def _step_size(self):
        """The step of update ``t`` with Adam's bias correction folded in."""
        return (self.learning_rate * np.sqrt(1 - self.beta_2**self.t)
                / (1 - self.beta_1**self.t))

    def step(self, params, grads, n_threads=1):
        """Update ``params`` in place from ``grads`` (both flat)."""
        self.t += 1
        _kernels.adam_step(params, grads, self.ms, self.vs, self._step_size(), self.beta_1,
                           self.beta_2, self.epsilon,
                           n_threads if params.shape[0] >= ADAM_THREADS_MIN else 1)

    def adjust(self, params, sums, n_coef, alpha, inv_weight, n_threads=1):
        """:meth:`Optimizer.adjust` in one compiled pass
        (:func:`sklearn_symnet._kernels.adam_adjust`, bit-identical)."""
        self.t += 1
        return _kernels.adam_adjust(params, sums, self.ms, self.vs, n_coef, alpha,
                                    inv_weight, self._step_size(), self.beta_1,
                                    self.beta_2, self.epsilon,
                                    n_threads if params.shape[0] >= ADAM_THREADS_MIN else 1)

    def state(self):
        """The optimiser's state as plain values and its arrays (not copied: an
        optimiser's state is published once, at the end of a fit)."""
        return {"solver": "adam", "t": self.t, "epochs": self.epochs,
                "ms": self.ms, "vs": self.vs}

    def load_state(self, state):
        """Continue from :meth:`state` (of a vector of the same length)."""
        self.t, self.epochs = int(state["t"]), int(state["epochs"])
        self.ms[...] = state["ms"]
        self.vs[...] = state["vs"]


class SGDOptimizer(_Schedule):
    """Stochastic gradient descent with (Nesterov) momentum.

    Parameters
    ----------
    n_params : int
        Length of the flat parameter vector.
    dtype : numpy dtype
        Dtype of the parameters.
    learning_rate_init : float
        Step size.
    momentum : float
        Momentum in [0, 1].
    nesterov : bool
        Use Nesterov's momentum.
    decay, decay_steps, floor : float, int or None, float
        The step size's schedule (:class:`_Schedule`); ``decay=1.0`` keeps
        it constant.
    """

    def __init__(self, n_params, dtype, learning_rate_init, momentum=0.9,
                 nesterov=True, decay=1.0, decay_steps=None, floor=0.0):
        self._init_schedule(learning_rate_init, decay, decay_steps, floor)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.t = 0
        self.velocities = np.zeros(n_params, dtype=dtype)

    def step(self, params, grads, n_threads=1):
        """Update ``params`` in place from ``grads`` (both flat)."""
        self.t += 1
        _kernels.sgd_step(params, grads, self.velocities,
                          self.learning_rate, self.momentum, self.nesterov)

    def state(self):
        """The optimiser's state as plain values and its arrays (not copied: an
        optimiser's state is published once, at the end of a fit)."""
        return {"solver": "sgd", "t": self.t, "epochs": self.epochs,
                "velocities": self.velocities}

    def load_state(self, state):
        """Continue from :meth:`state` (of a vector of the same length)."""
        self.t, self.epochs = int(state["t"]), int(state["epochs"])
        self.velocities[...] = state["velocities"]


class ArctanBound:
    """The paper's adjustment strategy: ``C = B (2/pi) atan(W)``, ``|C| < B``.

    The optimiser moves the free parameter ``W``; the network uses ``C``.
    A coefficient can therefore never grow past ``B``, which bounds every
    neuron's input by ``B * (sum |s_j| + 1)``.  This does not make dead
    neurons impossible (many bounded coefficients can still push an input
    below the first breakpoint), but it limits how far one large step can
    throw them: see ``examples/plot_coef_bound.py`` for where it helps.
    Near ``W = 0`` the step on ``C`` is scaled by ``2B/pi``, so a bound above
    ``pi/2`` makes the first steps larger, not smaller.

    Parameters
    ----------
    bound : float
        ``B > 0``.
    """

    def __init__(self, bound):
        self.bound = float(bound)

    def to_free(self, coef):
        """Free parameters for given coefficients (clipped inside the bound)."""
        c = np.clip(np.asarray(coef) / self.bound, -0.999, 0.999)
        return np.tan(c * (np.pi / 2)).astype(np.asarray(coef).dtype)

    def to_coef(self, free, out):
        """Write ``C(W)`` into ``out``."""
        _kernels.bound_coefficients(free, out, self.bound)

    def chain(self, free, grad):
        """Gradient w.r.t. ``W`` from the gradient w.r.t. ``C``, in place."""
        _kernels.bound_chain(free, grad, self.bound)


# ---------------------------------------------------------------------------
# Trained neuron constants: parameterisation and per-neuron PID control
# ---------------------------------------------------------------------------
def _softplus_inv(y):
    y = np.asarray(y, dtype=np.float64)
    return np.where(y > 30.0, y, np.log(np.expm1(np.minimum(y, 30.0))))


class ConstantParameters:
    """Free parameters of a layer's trained constants, and back.

    The constants stay valid after any step (``docs/model.md``, trained
    neurons): ``K3 = K3_min + softplus(phi_3)`` and
    ``r = r_min + softplus(phi_r)`` stay positive, and the ratios
    ``K_m / K3 = kappa_max (2/pi) atan(phi_m)`` (m = 1, 2) stay bounded.

    Parameters
    ----------
    initial : ndarray of shape (n_rows, 4)
        ``K1, K2, K3, r`` to start from (one row per unit, or one per layer).
    which : {"shape", "all"}
        ``"shape"`` trains K1 and K2 (K3 and r stay at ``initial``);
        ``"all"`` trains K1, K2, K3 and r.
    reference : ndarray of shape (n_rows, 4) or (1, 4), default=None
        The constants the floors and ratio bounds are taken from (the
        estimator's parameters; ``initial`` when None), so that continued
        training keeps the same bounds.
    """

    K3_FLOOR = 0.1  # K3_min = 0.1 * initial K3
    R_FLOOR = 0.05  # r_min = 0.05 * initial r
    KAPPA_MAX = 4.0

    def __init__(self, initial, which, reference=None):
        initial = np.array(initial, dtype=np.float64, ndmin=2)
        ref = initial if reference is None else np.array(reference, dtype=np.float64,
                                                         ndmin=2)
        ref = np.broadcast_to(ref, initial.shape)
        self.which = which
        self.n_rows = initial.shape[0]
        self.n_free = 2 if which == "shape" else 4
        self.size = self.n_rows * self.n_free
        self.fixed = initial.copy()  # K3 and r of "shape"
        # floors and ratio bounds from the reference constants (the estimator's
        # parameters), so that continued training keeps the same bounds
        self.k3_min = np.minimum(self.K3_FLOOR * ref[:, 2], 0.5 * initial[:, 2])
        self.r_min = np.minimum(self.R_FLOOR * ref[:, 3], 0.5 * initial[:, 3])
        ratio = np.abs(np.concatenate([initial[:, :2] / initial[:, 2:3],
                                       ref[:, :2] / ref[:, 2:3]], axis=1))
        self.kappa_max = np.maximum(self.KAPPA_MAX, 2.0 * ratio.max(axis=1))

    def to_free(self, constants):
        """Free parameters (flat) of constants of shape (n_rows, 4)."""
        c = np.array(constants, dtype=np.float64, ndmin=2)
        ratio = c[:, :2] / c[:, 2:3] / self.kappa_max[:, None]
        phi = np.empty((self.n_rows, self.n_free))
        phi[:, :2] = np.tan(0.5 * np.pi * np.clip(ratio, -0.999, 0.999))
        if self.which == "all":
            phi[:, 2] = _softplus_inv(np.maximum(c[:, 2] - self.k3_min, 1e-12))
            phi[:, 3] = _softplus_inv(np.maximum(c[:, 3] - self.r_min, 1e-12))
        return phi.ravel()

    def to_constants(self, free, out=None):
        """Constants (n_rows, 4) of free parameters (the compiled
        :func:`sklearn_symnet._kernels.constants_from_free`), into ``out``
        (float64, C-contiguous) when given."""
        phi = _flat(free)
        if out is None:
            out = np.empty((self.n_rows, 4))
        _kernels.constants_from_free(phi, self.fixed, self.kappa_max, self.k3_min,
                                     self.r_min, out)
        return out

    def chain(self, free, grad_constants, constants=None, out=None):
        """The gradient with respect to the free parameters (flat, written to
        ``out`` when given) from the gradient with respect to the constants,
        ``(n_units, 4)`` (summed over the units of a shared row);
        ``constants`` are those of ``free`` when the caller has them."""
        phi = _flat(free)
        c = self.to_constants(phi) if constants is None else constants
        if out is None:
            out = np.empty_like(phi)
        _kernels.constants_chain(phi, np.ascontiguousarray(c, dtype=np.float64),
                                 np.ascontiguousarray(grad_constants, dtype=np.float64),
                                 self.kappa_max, out)
        return out


def _flat(free):
    """A flat, contiguous float32/float64 view (or copy) of ``free``."""
    free = np.asarray(free)
    if free.dtype not in (np.float32, np.float64):
        free = free.astype(np.float64)
    return np.ascontiguousarray(free).reshape(-1)


class PIDController(_Resumable):
    """Per-neuron PID control of the constants' free parameters (P2, reconstructed).

    One controller per neuron and constant, fed only by that parameter's own
    local gradient ``E = -dL/dphi``::

        v <- rho v + (1 - rho) E^2;  Ehat = E / (sqrt(v / (1 - rho^t)) + eps)
        I <- clip(lam I + Ehat, +-1 / (1 - lam))
        D = Ehat(t) - Ehat(t - 1)
        phi <- phi + max_step (2/pi) atan((kp Ehat + ki I + kd D) / max_step)

    Parameters
    ----------
    n_params : int
    kp, ki, kd : float
        Proportional, integral and derivative gains.
    leak : float
        ``lam``, the integral's leak (0 <= lam < 1).
    max_step : float
        ``max_step``: the bound of one step (``inf`` for an unbounded step).
    normalize : bool, default=True
        Divide ``E`` by its running root mean square (``rho``, ``eps``).
    rho, eps : float, default=0.999, 1e-8
    """

    def __init__(self, n_params, kp, ki, kd, leak, max_step, normalize=True, rho=0.999,
                 eps=1e-8):
        self.kp, self.ki, self.kd = float(kp), float(ki), float(kd)
        self.leak = float(leak)
        self.max_step = float(max_step)
        self.normalize = bool(normalize)
        self.rho, self.eps = float(rho), float(eps)
        self.t = 0
        self.epochs = 0
        self.v = np.zeros(n_params)
        self.integral = np.zeros(n_params)
        self.previous = np.zeros(n_params)

    def step(self, params, grads, n_threads=1):
        """Update ``params`` in place from the loss gradient ``grads`` (one
        compiled kernel call, :func:`sklearn_symnet._kernels.pid_step`)."""
        self.t += 1
        _kernels.pid_step(params, np.ascontiguousarray(grads, dtype=params.dtype), self.v,
                          self.integral, self.previous, self.kp, self.ki, self.kd,
                          self.leak, self.max_step, self.normalize, self.rho,
                          1.0 - self.rho ** self.t, self.eps, self.t == 1)

    def end_epoch(self):
        self.epochs += 1

    def state(self):
        return {"solver": "pid", "t": self.t, "epochs": self.epochs, "v": self.v,
                "integral": self.integral, "previous": self.previous}

    def load_state(self, state):
        self.t, self.epochs = int(state["t"]), int(state["epochs"])
        self.v[...] = state["v"]
        self.integral[...] = state["integral"]
        self.previous[...] = state["previous"]


class SegmentedOptimizer(Optimizer):
    """The coefficients' optimiser on the first ``n_weights`` free parameters
    and the constants' optimiser (or none) on the rest."""

    def __init__(self, weights, constants, n_weights):
        self.weights = weights
        self.constants = constants
        self.n_weights = int(n_weights)

    def step(self, params, grads, n_threads=1):
        w = self.n_weights
        self.weights.step(params[:w], grads[:w], n_threads)
        if self.constants is not None and params.shape[0] > w:
            self.constants.step(params[w:], grads[w:], n_threads)

    def adjust(self, params, sums, n_coef, alpha, inv_weight, n_threads=1):
        """:meth:`Optimizer.adjust` for the weights (whose first ``n_coef``
        entries carry the L2 penalty), and the constants' step from their
        finished gradient."""
        w = self.n_weights
        sq = self.weights.adjust(params[:w], sums[:w], n_coef, alpha, inv_weight,
                                 n_threads)
        if params.shape[0] > w:
            _kernels.finish_gradient(sums[w:], params[w:], 0, alpha, inv_weight)
            if self.constants is not None:
                self.constants.step(params[w:], sums[w:], n_threads)
        return sq

    def end_epoch(self):
        self.weights.end_epoch()
        if self.constants is not None:
            self.constants.end_epoch()

    def state(self):
        return {"weights": self.weights.state(),
                "constants": None if self.constants is None else self.constants.state()}

    def load_state(self, state):
        """Continue each part from ``state`` where its part still fits (the
        same solver, arrays of the same shapes and dtypes); a part that does
        not fit starts afresh."""
        if self.weights.accepts(state.get("weights")):
            self.weights.load_state(state["weights"])
        if self.constants is not None and self.constants.accepts(state.get("constants")):
            self.constants.load_state(state["constants"])
