"""SymNetRegressor: the scikit-learn regressor built of Wuxing neurons."""

import numpy as np
from sklearn.base import RegressorMixin, _fit_context
from sklearn.metrics import r2_score
from sklearn.utils._param_validation import StrOptions

from ._base import BaseSymNet
from ._losses import OutputHead


class SymNetRegressor(RegressorMixin, BaseSymNet):
    """Regressor built of five-element (Wuxing) ODE neurons.

    The network of :class:`SymNetClassifier` with a squared-error loss: each
    neuron is a small symmetric Lotka-Volterra system whose signal is the
    displacement of its steady state from its fixed point, neurons are wired
    in layers through connection coefficients, and training is backward
    signal propagation through the neurons' reverse systems.

    A neuron's signal is bounded below (its output element cannot fall under
    zero), so a prediction is read from a *pair* of output neurons,
    ``y = output_scale * (s_plus - s_minus)``, which is unbounded both ways
    (``readout="difference"``), and the targets are standardized inside the
    estimator (``target_scaling="standard"``): the network learns targets of
    mean 0 and variance 1, and predictions are mapped back.

    Parameters
    ----------
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        Number of neurons in each hidden layer.
    coupling : {"rate", "flux"}, default="rate"
        How a neuron's input enters its input element (see
        :class:`SymNetClassifier`).
    output_coupling : {"rate", "flux"} or None, default=None
        Coupling of the output neurons; None uses ``coupling``.  Rate output
        pairs are unbounded both ways; a flux pair's difference is bounded
        (about +-2.6 with the branch bound), a poor choice for targets.
    flux_bound : {"symmetric", "branch"}, default="branch"
        Flux-coupled neurons: how far the bounded inflow may go (see
        :class:`SymNetClassifier`).
    readout : {"difference", "signal", "linear"}, default="difference"
        How the output layer makes predictions: ``"difference"``, a pair of
        output neurons per target, ``output_scale * (s_plus - s_minus)``;
        ``"signal"``, one output neuron per target (bounded below: a poor
        choice for unbounded targets); ``"linear"``, no output neurons: the
        last hidden layer's signals are combined linearly, as
        MLPRegressor's identity output.
    K1 : float, default=0.3
        Generation constant of every neuron.
    K2 : float, default=0.2
        Restraint constant.
    K3 : float, default=1.0
        Self-limitation, > 0.
    r : float, default=1.0
        Growth rate, > 0.  The fixed point is ``r / K3``.
    input_element : int, default=0
        Element (0..4) that receives a neuron's input.
    output_element : int, default=1
        Element (0..4) whose displacement is the neuron's signal.
    target_scaling : {"standard", None}, default="standard"
        ``"standard"``: targets are standardized with the mean and standard
        deviation of each output seen by the first ``fit`` (or the first
        ``partial_fit`` call), and predictions mapped back.  None trains on
        the raw targets, as MLPRegressor does.
    output_scale : float or "auto", default="auto"
        ``beta``: predictions (of standardized targets) are ``beta * z``.
        ``"auto"`` is 1.
    solver : {"adam", "sgd"}, default="adam"
        Optimiser of the coefficients.
    learning_rate_init : float, default=3e-3
        Step size of the first epoch.
    learning_rate_decay : float in (0, 1], default=1.0
        Factor by which the step size falls every ``decay_steps`` optimiser
        steps (never below ``decay_floor * learning_rate_init``); 1.0 keeps
        it constant, as MLPRegressor's Adam does.  As
        :class:`SymNetClassifier`'s, whose default decays.
    decay_steps : int or None, default=500
        Optimiser steps per factor ``learning_rate_decay``; ``None`` counts
        epochs.
    decay_floor : float in [0, 1], default=0.25
        The smallest factor the decay reaches.
    alpha : float, default=1e-4
        L2 penalty on the connection coefficients.
    batch_size : int or "auto", default="auto"
        Minibatch size; ``"auto"`` is ``min(200, n_samples)``.
    max_iter : int, default=200
        Maximum number of epochs.
    tol : float, default=1e-4
        Improvement of the loss (or validation score) counted as progress.
    n_iter_no_change : int, default=10
        Epochs without progress before training stops.
    shuffle : bool, default=True
        Shuffle the samples every epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds the coefficient initialisation, shuffling and validation split.
    warm_start : bool, default=False
        Reuse the previous coefficients as the starting point of ``fit``.
    verbose : bool, default=False
        Print the loss every epoch.
    momentum : float, default=0.9
        Momentum of the ``"sgd"`` solver.
    nesterovs_momentum : bool, default=True
        Use Nesterov's momentum with ``"sgd"``.
    beta_1, beta_2, epsilon : float, default=0.9, 0.999, 1e-8
        Adam's parameters.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data and stop when its R²
        stops improving; the best coefficients are kept.
    validation_fraction : float, default=0.1
        Held-out fraction for early stopping.
    coef_bound : float or None, default=None
        The paper's arctangent bound on the coefficients (see
        :class:`SymNetClassifier`).
    kink_start : float in [0, 1], default=1.0
        Where the hidden rate-coupled neurons start: their biases are drawn
        (Glorot-uniform, as MLPClassifier's) around ``kink_start`` times their
        first breakpoint, the input below which the input element is extinct
        and the gain zero.  1 puts every neuron's kink among the data at the
        start, as a ReLU's kink at 0 is; 0 starts every neuron on its linear
        piece, where a layer is a linear map until training moves it.
    neuron_params : {"fixed", "shape", "all"}, default="fixed"
        Which of the neurons' own constants are trained beside the
        coefficients, from the same reverse-system responses (the papers'
        earlier methods; ``docs/model.md``): ``"fixed"`` none (the main
        paper's model); ``"shape"`` K1 and K2; ``"all"`` K1, K2, K3 and r
        (hence the fixed points).  K3 and r stay positive and ``K1/K3``,
        ``K2/K3`` bounded after any step (a bounded parameterisation).
    neuron_sharing : {"unit", "layer"}, default="unit"
        Trained constants per neuron, or one set per layer.
    neuron_solver : {"same", "pid"}, default="same"
        Optimiser of the trained constants: ``"same"`` as the coefficients'
        (``solver``) with its own step ``neuron_learning_rate``; ``"pid"`` a
        PID controller per neuron and constant (P2's distributed control).
    neuron_learning_rate : float or None, default=None
        Step size of the constants (None: ``learning_rate_init``); for
        ``"pid"`` the unit of ``pid_gains``.
    pid_gains : array-like of shape (3,), default=(1.0, 0.1, 0.0)
        ``(kp, ki, kd)`` of the PID controllers, in units of
        ``neuron_learning_rate``, acting on the normalised local gradient.
    pid_leak : float, default=0.9
        Leak of the controllers' integral term (anti-windup clamp
        ``1 / (1 - pid_leak)``).
    pid_max_step : float, default=0.05
        Bound of one controller step on a free parameter (P3-style atan).
    n_jobs : int or None, default=None
        OpenMP threads of the kernels.  None: all available cores (as limited
        by ``OMP_NUM_THREADS`` or threadpoolctl), fewer while other processes
        keep cores busy (re-measured every epoch); an int is used as given.
        Results do not depend on it.

    Attributes
    ----------
    coefs_ : list of ndarray
        ``coefs_[i]`` of shape (n_in, n_out): connection coefficients into
        layer ``i + 1``.
    intercepts_ : list of ndarray
        Bias coefficients of each layer.
    neuron_constants_ : list of ndarray
        Per layer of neurons, the constants ``K1, K2, K3, r`` of every unit,
        shape (n_units, 4) (None for the output layer of
        ``readout="linear"``).
    fixed_points_ : list of ndarray
        Per layer of neurons, every unit's fixed point ``r / K3``.
    dead_fraction_ : ndarray of shape (n_layers_ - 1,)
        Per layer of neurons, the fraction of (sample, neuron) pairs of the
        last epoch on a zero-gain piece.
    n_iter_ : int
        Epochs run by the last call.
    t_ : int
        Training samples seen over all calls.
    loss_ : float
        Mean training loss of the last epoch (half the squared error of the
        standardized targets with ``target_scaling="standard"``, plus the L2
        term).
    loss_curve_ : list of float
        Training loss of every epoch.
    best_loss_ : float or None
        Lowest training loss (None with early stopping).
    validation_scores_ : list of float or None
        Validation R² of every epoch (early stopping only).
    best_validation_score_ : float or None
        Best validation R² (early stopping only).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names, when ``X`` had string column names.
    n_layers_ : int
        Number of layers, input and output included.
    n_outputs_ : int
        Number of targets.
    output_scale_ : float
        The ``output_scale`` used.
    out_activation_ : str
        ``"identity"``.
    target_mean_, target_scale_ : ndarray of shape (n_outputs_,)
        The target standardization (zeros and ones without it).

    See Also
    --------
    sklearn.neural_network.MLPRegressor : the multilayer perceptron.
    SymNetClassifier : the classifier.

    Examples
    --------
    >>> from sklearn.datasets import make_friedman1
    >>> from sklearn_symnet import SymNetRegressor
    >>> X, y = make_friedman1(n_samples=500, noise=0.5, random_state=0)
    >>> reg = SymNetRegressor(max_iter=100, random_state=0).fit(X, y)
    >>> reg.score(X, y) > 0.9
    True
    """

    _parameter_constraints = {
        **BaseSymNet._parameter_constraints,
        "readout": [StrOptions({"signal", "difference", "linear"})],
        "target_scaling": [StrOptions({"standard"}), None],
    }

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        coupling="rate",
        output_coupling=None,
        flux_bound="branch",
        readout="difference",
        K1=0.3,
        K2=0.2,
        K3=1.0,
        r=1.0,
        input_element=0,
        output_element=1,
        target_scaling="standard",
        output_scale="auto",
        solver="adam",
        learning_rate_init=3e-3,
        learning_rate_decay=1.0,
        decay_steps=500,
        decay_floor=0.25,
        alpha=1e-4,
        batch_size="auto",
        max_iter=200,
        tol=1e-4,
        n_iter_no_change=10,
        shuffle=True,
        random_state=None,
        warm_start=False,
        verbose=False,
        momentum=0.9,
        nesterovs_momentum=True,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        early_stopping=False,
        validation_fraction=0.1,
        coef_bound=None,
        kink_start=1.0,
        neuron_params="fixed",
        neuron_sharing="unit",
        neuron_solver="same",
        neuron_learning_rate=None,
        pid_gains=(1.0, 0.1, 0.0),
        pid_leak=0.9,
        pid_max_step=0.05,
        n_jobs=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.coupling = coupling
        self.output_coupling = output_coupling
        self.flux_bound = flux_bound
        self.readout = readout
        self.K1 = K1
        self.K2 = K2
        self.K3 = K3
        self.r = r
        self.input_element = input_element
        self.output_element = output_element
        self.target_scaling = target_scaling
        self.output_scale = output_scale
        self.solver = solver
        self.learning_rate_init = learning_rate_init
        self.learning_rate_decay = learning_rate_decay
        self.decay_steps = decay_steps
        self.decay_floor = decay_floor
        self.alpha = alpha
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.shuffle = shuffle
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.coef_bound = coef_bound
        self.kink_start = kink_start
        self.neuron_params = neuron_params
        self.neuron_sharing = neuron_sharing
        self.neuron_solver = neuron_solver
        self.neuron_learning_rate = neuron_learning_rate
        self.pid_gains = pid_gains
        self.pid_leak = pid_leak
        self.pid_max_step = pid_max_step
        self.n_jobs = n_jobs

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to data ``X`` and targets ``y``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input signals.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights in the loss.

        Returns
        -------
        self : SymNetRegressor
            The fitted estimator.
        """
        return self._fit_atomic(X, y, sample_weight, None, incremental=False)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Run one epoch over ``X, y`` and keep the optimiser's state.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input signals.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights.

        Returns
        -------
        self : SymNetRegressor
            The updated estimator.
        """
        # scikit-learn skips parameter validation for partial_fit once fitted;
        # invalid values set since then would otherwise be used silently.
        self._validate_params()
        return self._fit_atomic(X, y, sample_weight, None, incremental=True)

    def predict(self, X):
        """Predict target values.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input signals.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Predictions (1-D where ``y`` was 1-D at fit).
        """
        Z = self._predict_outputs(X)
        y = self.output_scale_ * Z.astype(np.float64) * self.target_scale_ + self.target_mean_
        return y[:, 0] if self._y_1d else y

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.multi_output = True
        return tags

    # ------------------------------------------------------------------
    # Hooks of BaseSymNet
    # ------------------------------------------------------------------
    def _encode_targets(self, y, classes, incremental, first_pass):
        y = np.asarray(y, dtype=np.float64)
        y_1d = y.ndim == 1
        Y = y.reshape(-1, 1) if y_1d else y
        if not first_pass and (Y.shape[1] != self.n_outputs_ or y_1d != self._y_1d):
            raise ValueError(
                f"y has {Y.shape[1]} output(s) ({'1-D' if y_1d else '2-D'}); the "
                f"model was fitted on {self.n_outputs_} "
                f"({'1-D' if self._y_1d else '2-D'})."
            )
        state = dict(_y_1d=y_1d, n_outputs_=Y.shape[1], out_activation_="identity",
                     _first_pass=first_pass)
        return Y, None, state

    def _transform_targets(self, Y, sw, state):
        """Standardized targets (``target_scaling="standard"``): the sample-weighted
        mean and standard deviation of each output at the first call."""
        if not state.pop("_first_pass"):
            mean, scale = self.target_mean_, self.target_scale_
        elif self.target_scaling == "standard":
            w = np.ones(Y.shape[0]) if sw is None else np.asarray(sw, dtype=np.float64)
            w = w / w.sum() if w.sum() > 0 else np.full(w.shape, 1.0 / w.shape[0])
            mean = w @ Y
            scale = np.sqrt(w @ (Y - mean) ** 2)
            scale[scale <= 1e-12 * np.maximum(1.0, np.abs(mean))] = 1.0  # constant
        else:
            mean, scale = np.zeros(Y.shape[1]), np.ones(Y.shape[1])
        state.update(target_mean_=mean, target_scale_=scale)
        return (Y - mean) / scale

    def _make_head(self, n_outputs, readout, output_scale, state):
        return OutputHead(n_outputs, readout, output_scale, "squared")

    def _validation_score(self, Z, Y, sw, state):
        # R² of the standardized targets: the same as in the targets' units
        return r2_score(Y, Z, sample_weight=sw)

    def _auto_output_scale(self, coupling, flux_bound, readout):
        return 1.0
