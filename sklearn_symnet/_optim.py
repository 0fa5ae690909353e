"""Optimisers that adjust the connection coefficients, and the arctan bound.

Each optimiser works in place on one flat parameter vector (all connection
coefficients first, then all biases) through a single compiled kernel call.
"""

import numpy as np

from . import _kernels


class _EpochSchedule:
    """Step size ``learning_rate_init * decay ** epochs`` (epochs completed,
    counted across ``partial_fit`` calls); ``decay=1`` is constant."""

    def _init_schedule(self, learning_rate_init, decay):
        self.learning_rate_init = float(learning_rate_init)
        self.decay = float(decay)
        self.epochs = 0

    @property
    def learning_rate(self):
        return self.learning_rate_init * self.decay**self.epochs

    def end_epoch(self):
        self.epochs += 1


class AdamOptimizer(_EpochSchedule):
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
    decay : float, default=1.0
        Per-epoch factor of the step size.
    """

    def __init__(self, n_params, dtype, learning_rate_init, beta_1=0.9,
                 beta_2=0.999, epsilon=1e-8, decay=1.0):
        self._init_schedule(learning_rate_init, decay)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.t = 0
        self.ms = np.zeros(n_params, dtype=dtype)
        self.vs = np.zeros(n_params, dtype=dtype)

    def step(self, params, grads, n_threads=1):
        """Update ``params`` in place from ``grads`` (both flat)."""
        self.t += 1
        lr = (
            self.learning_rate
            * np.sqrt(1 - self.beta_2**self.t)
            / (1 - self.beta_1**self.t)
        )
        _kernels.adam_step(params, grads, self.ms, self.vs, lr, self.beta_1,
                           self.beta_2, self.epsilon,
                           n_threads if params.shape[0] >= 50_000 else 1)

    def state(self):
        """The optimiser's state as plain values and arrays (copied)."""
        return {"solver": "adam", "t": self.t, "epochs": self.epochs,
                "ms": self.ms.copy(), "vs": self.vs.copy()}

    def load_state(self, state):
        """Continue from :meth:`state` (of a vector of the same length)."""
        self.t, self.epochs = int(state["t"]), int(state["epochs"])
        self.ms[...] = state["ms"]
        self.vs[...] = state["vs"]


class SGDOptimizer(_EpochSchedule):
    """Stochastic gradient descent with (Nesterov) momentum.

    Parameters
    ----------
    n_params : int
        Length of the flat parameter vector.
    dtype : numpy dtype
        Dtype of the parameters.
    learning_rate_init : float
        Constant step size.
    momentum : float
        Momentum in [0, 1].
    nesterov : bool
        Use Nesterov's momentum.
    decay : float, default=1.0
        Per-epoch factor of the step size.
    """

    def __init__(self, n_params, dtype, learning_rate_init, momentum=0.9,
                 nesterov=True, decay=1.0):
        self._init_schedule(learning_rate_init, decay)
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
        """The optimiser's state as plain values and arrays (copied)."""
        return {"solver": "sgd", "t": self.t, "epochs": self.epochs,
                "velocities": self.velocities.copy()}

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


def state_matches(state, solver, n_params, dtype):
    """Whether an optimiser ``state`` can continue a vector of ``n_params``."""
    if not isinstance(state, dict) or state.get("solver") != solver:
        return False
    arr = state["ms"] if solver == "adam" else state["velocities"]
    return arr.shape == (n_params,) and arr.dtype == np.dtype(dtype)
