"""SymNetClassifier: the scikit-learn classifier built of Wuxing neurons."""

from numbers import Real

import numpy as np
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.metrics import accuracy_score
from sklearn.utils import compute_class_weight
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.multiclass import (
    check_classification_targets,
    type_of_target,
    unique_labels,
)
from sklearn.utils.validation import _check_sample_weight, column_or_1d

from . import _kernels
from ._base import BaseSymNet, DeadNeuronWarning  # noqa: F401  (re-exported)
from ._losses import OutputHead


class SymNetClassifier(ClassifierMixin, BaseSymNet):
    """Classifier built of five-element (Wuxing) ODE neurons.

    Each neuron is a small symmetric Lotka-Volterra system (see
    :class:`WuxingNeuron`); a neuron's signal is the displacement of its
    steady state from its fixed point.  Neurons are wired in layers like a
    multilayer perceptron through connection coefficients, which are the
    only trained parameters.  Training is backward signal propagation: the
    output error enters each neuron's reverse (mirrored) system, and every
    coefficient is adjusted from the two signals at its ends.

    Parameters
    ----------
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        Number of neurons in each hidden layer.
    coupling : {"rate", "flux"}, default="rate"
        How a neuron's input enters its input element: ``"rate"`` changes the
        element's growth rate (exact piecewise-linear response, ReLU-like);
        ``"flux"`` adds a bounded inflow (smooth, saturating response).
        This is the coupling of the hidden neurons; see ``output_coupling``.
    output_coupling : {"rate", "flux"} or None, default="flux"
        Coupling of the output neurons (None: ``coupling``).  Flux-coupled
        neurons with ``flux_bound="branch"`` never have a zero gain, so an
        output pair can always be moved back: training at large steps does not
        get stuck with dead outputs (``docs/model.md`` section 3b, measured on
        the real-data suite and the large-step cases of
        ``benchmarks/bench_reliability.py``).
    flux_bound : {"symmetric", "branch"}, default="branch"
        Flux-coupled neurons: ``"symmetric"`` (the specification's) bounds the
        inflow on both sides by 0.9 of the nearer end of the equilibrium branch
        (the fold below), which squeezes the long positive side about 200-fold;
        ``"branch"`` bounds each side by 0.9 of its own end, so the signal is
        not squeezed above (see :class:`WuxingNeuron`).
    readout : {"signal", "difference"}, default="difference"
        How output neurons make the logits: ``"signal"``, one output neuron
        per logit, ``z = output_scale * s``; ``"difference"``, a pair per
        logit, ``z = output_scale * (s_plus - s_minus)``.  A neuron's signal
        is bounded below (its output element cannot fall under zero), so with
        ``"signal"`` the loss lowers a wrong class's logit by driving its
        neuron towards its floor, where the gain vanishes (a rate neuron
        dies there); with ``"difference"`` it can raise the partner instead,
        and every logit stays movable in both directions.
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
        Element (0..4) whose displacement is the neuron's signal.  The child
        of the input element (``input_element + 1``) responds most.
    loss : {"log_loss", "squared_error"}, default="log_loss"
        Training loss on the output signals: log-loss of
        ``softmax(output_scale * s)``, or squared error to one-hot targets.
    output_scale : float or "auto", default="auto"
        ``beta`` in ``softmax(beta * s)``: converts signals into logits.
        ``"auto"``: for rate-coupled output neurons 2 with
        ``readout="difference"`` (a pair's difference spreads twice as far)
        and 4 with ``"signal"``; 20 for flux with the symmetric bound, whose
        signals are bounded to a narrow range (about -0.14..0.08 for the
        default constants) and need a larger scale to express confidence;
        4 for flux with ``flux_bound="branch"``.
    solver : {"adam", "sgd"}, default="adam"
        Optimiser of the coefficients.
    learning_rate_init : float, default=5e-3
        Step size of the first optimiser step.
    learning_rate_decay : float in (0, 1], default=0.85
        Factor by which the step size falls every ``decay_steps`` optimiser
        steps: step ``t`` (counted across ``partial_fit`` calls) uses
        ``learning_rate_init * max(learning_rate_decay ** (t / decay_steps),
        decay_floor)``.  1.0 keeps it constant, as MLPClassifier's Adam does.
        The default reaches MNIST's accuracy target in 10 epochs and keeps
        small data sets learning (``docs/choices.md``).
    decay_steps : int or None, default=500
        Optimiser steps per factor ``learning_rate_decay``; ``None`` counts
        epochs instead (epoch ``e`` uses ``learning_rate_decay ** e``).
        Counting steps makes the schedule independent of the data set's size.
    decay_floor : float in [0, 1], default=0.25
        The decay never takes the step size below ``decay_floor *
        learning_rate_init``.
    alpha : float, default=1e-4
        L2 penalty on the connection coefficients (scaled as MLPClassifier).
    batch_size : int or "auto", default="auto"
        Minibatch size; ``"auto"`` is ``min(200, n_samples)``.
    max_iter : int, default=200
        Maximum number of epochs (passes over the data).
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
        Hold out ``validation_fraction`` of the data (stratified) and stop when
        its accuracy stops improving; the best coefficients are kept.
    validation_fraction : float, default=0.1
        Held-out fraction for early stopping.
    coef_bound : float or None, default=None
        The paper's arctangent adjustment strategy: coefficients are
        ``coef_bound * (2/pi) * atan(W)`` of free parameters ``W``, so
        ``|coef| < coef_bound``.  None trains the coefficients directly.  It
        keeps most neurons alive at learning rates that kill them without it,
        and costs some accuracy at normal rates; near the start it scales the
        step by ``2 coef_bound / pi``, so values above ``pi/2`` enlarge it.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the loss (multiplied into ``sample_weight``).
    kink_start : float in [0, 1], default=0.5
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
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    coefs_ : list of ndarray
        ``coefs_[i]`` of shape (n_in, n_out): connection coefficients into
        layer ``i + 1``.
    intercepts_ : list of ndarray
        Bias coefficients (of a constant unit signal) of each layer.
    neuron_ : WuxingNeuron
        The neuron every hidden unit of the fitted network is.
    output_neuron_ : WuxingNeuron
        The neuron every output unit is (``output_coupling``).
    neuron_constants_ : list of ndarray
        Per layer of neurons (hidden layers, then the output layer), the
        constants ``K1, K2, K3, r`` of every unit, shape (n_units, 4) (None
        for an output layer without neurons).  Trained with
        ``neuron_params="shape"`` or ``"all"``; may be assigned.
    fixed_points_ : list of ndarray
        Per layer of neurons, every unit's fixed point ``r / K3``.
    dead_fraction_ : ndarray of shape (n_layers_ - 1,)
        Per layer of neurons (hidden layers, then the output layer): the
        fraction of (sample, neuron) pairs of the last epoch whose neuron sat
        on a zero-gain piece.  A :class:`DeadNeuronWarning` is raised when it
        is 1 for a layer or when an output neuron was dead on every sample.
    fixed_point_ : float
        The neurons' fixed point ``r / K3``.
    n_iter_ : int
        Epochs run by the last call.
    t_ : int
        Training samples seen over all calls.
    loss_ : float
        Mean training loss of the last epoch.
    loss_curve_ : list of float
        Training loss of every epoch.
    best_loss_ : float or None
        Lowest training loss (None with early stopping).
    validation_scores_ : list of float or None
        Validation accuracy of every epoch (early stopping only).
    best_validation_score_ : float or None
        Best validation accuracy (early stopping only).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names, when ``X`` had string column names.
    n_layers_ : int
        Number of layers, input and output included.
    n_outputs_ : int
        Number of output neurons (``n_classes``; 2 per label for multilabel,
        2 for binary problems; twice as many with ``readout="difference"``).
    output_scale_ : float
        The ``output_scale`` used (``"auto"`` resolved).
    out_activation_ : str
        ``"softmax"`` (probabilities are softmax of ``output_scale * s``
        within each group of output neurons).

    See Also
    --------
    sklearn.neural_network.MLPClassifier : the multilayer perceptron.
    WuxingNeuron : one neuron, its ODE and reverse system.

    Notes
    -----
    Binary problems use two competing output neurons (softmax over the pair)
    rather than one logistic neuron: a neuron's signal is bounded below (its
    output element cannot fall under zero), so one neuron alone could not
    express confident "negative" answers.  Multilabel problems use one such
    pair per label.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_symnet import SymNetClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = SymNetClassifier(hidden_layer_sizes=(32,), max_iter=20,
    ...                        random_state=0).fit(X / 16, y)
    >>> clf.score(X / 16, y) > 0.95
    True
    """


    _parameter_constraints = {
        **BaseSymNet._parameter_constraints,
        "readout": [StrOptions({"signal", "difference"})],
        "loss": [StrOptions({"log_loss", "squared_error"})],
        "class_weight": [StrOptions({"balanced"}), dict, None],
    }

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        coupling="rate",
        output_coupling="flux",
        flux_bound="branch",
        readout="difference",
        K1=0.3,
        K2=0.2,
        K3=1.0,
        r=1.0,
        input_element=0,
        output_element=1,
        loss="log_loss",
        output_scale="auto",
        solver="adam",
        learning_rate_init=5e-3,
        learning_rate_decay=0.85,
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
        kink_start=0.5,
        neuron_params="fixed",
        neuron_sharing="unit",
        neuron_solver="same",
        neuron_learning_rate=None,
        pid_gains=(1.0, 0.1, 0.0),
        pid_leak=0.9,
        pid_max_step=0.05,
        class_weight=None,
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
        self.loss = loss
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
        self.class_weight = class_weight
        self.n_jobs = n_jobs


    # ------------------------------------------------------------------
    # Public API
    # ------------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to data ``X`` and targets ``y``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input signals (scale features to a natural range, e.g. [0, 1]).
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels, or a label indicator matrix for multilabel problems.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights in the loss.

        Returns
        -------
        self : SymNetClassifier
            The fitted estimator.
        """
        return self._fit_atomic(X, y, sample_weight, None, incremental=False)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Run one epoch over ``X, y`` and keep the optimiser's state.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input signals.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights.
        classes : array-like of shape (n_classes,), default=None
            All classes; required on the first call (not for multilabel y).

        Returns
        -------
        self : SymNetClassifier
            The updated estimator.
        """
        # scikit-learn skips parameter validation for partial_fit once fitted;
        # invalid values set since then would otherwise be used silently.
        self._validate_params()
        return self._fit_atomic(X, y, sample_weight, classes, incremental=True)

    def predict_proba(self, X):
        """Class probabilities, ``softmax(output_scale * s)`` of the output signals.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input signals.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            For multilabel problems, the probability of each label.
        """
        return np.exp(self.predict_log_proba(X))

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`, computed stably.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input signals.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        Z = self._predict_outputs(X)
        logp = self._head().log_proba(Z)
        if self._multilabel:
            return logp[:, 1::2]
        return logp

    def predict(self, X):
        """Predict class labels (or label indicators for multilabel ``y``).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input signals.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_labels)
        """
        S = self._predict_outputs(X)
        if self._multilabel:
            return (S[:, 1::2] > S[:, 0::2]).astype(int)
        best = np.empty(S.shape[0], dtype=np.int64)
        _kernels.row_argmax(S, best)  # np.argmax(S, axis=1), faster
        return self.classes_[best]


    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.classifier_tags.multi_label = True
        return tags


    # ------------------------------------------------------------------
    # Hooks of BaseSymNet
    # ------------------------------------------------------------------
    def _make_head(self, n_outputs, readout, output_scale, state):
        if self.loss == "squared_error":  # targets of amplitude 1; softmax to predict
            return OutputHead(n_outputs, readout, 1.0, "squared")
        return OutputHead(n_outputs, readout, output_scale, "softmax", state["_group"])

    def _head(self):
        """The fitted head's prediction side: softmax groups of ``output_scale_``."""
        return OutputHead(self._n_head_outputs(), self._readout, self.output_scale_,
                          "softmax", self._group)

    def _validation_score(self, Z, Y, sw, state):
        if state["_multilabel"]:
            pred = (Z[:, 1::2] > Z[:, 0::2]).astype(int)
            true = (Y[:, 1::2] > 0.5).astype(int)
        else:
            pred = np.argmax(Z, axis=1)
            true = np.argmax(Y, axis=1)
        return accuracy_score(true, pred, sample_weight=sw)

    def _encode_targets(self, y, classes, incremental, first_pass):
        """Validate ``y``: one-hot targets in softmax groups, class indices, and
        the target state (``classes_``, the group size, multilabel or not)."""
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if y.ndim == 2:
            if type_of_target(y) != "multilabel-indicator":
                raise ValueError(
                    "SymNetClassifier supports 1-D class labels or a multilabel "
                    f"indicator matrix; got y of type {type_of_target(y)!r}."
                )
            n_labels = y.shape[1]
            if not first_pass and (not self._multilabel or self.classes_.shape[0] != n_labels):
                raise ValueError(
                    "y has a different number of labels than in the previous "
                    f"fit: {n_labels} vs {self.classes_.shape[0]}."
                )
            Y = np.empty((y.shape[0], 2 * n_labels), dtype=np.uint8)
            yb = np.asarray(y != 0, dtype=np.uint8)
            Y[:, 0::2] = 1 - yb
            Y[:, 1::2] = yb
            return Y, None, dict(classes_=np.arange(n_labels), _group=2, _multilabel=True,
                                  out_activation_="softmax")

        check_classification_targets(y)
        if incremental:
            if first_pass:
                if classes is None:
                    raise ValueError(
                        "classes must be passed on the first call to partial_fit."
                    )
                all_classes = unique_labels(classes)
            else:
                if classes is not None and not np.array_equal(
                    unique_labels(classes), self.classes_
                ):
                    raise ValueError(
                        f"`classes={unique_labels(classes)!r}` is not the same as on "
                        f"the last call to partial_fit, was: {self.classes_!r}."
                    )
                all_classes = self.classes_
            missing = np.setdiff1d(unique_labels(y), all_classes)
            if missing.size:
                raise ValueError(
                    f"`y` has classes not in `classes`: {missing!r}; the classes "
                    f"are {all_classes!r}."
                )
        elif first_pass:
            all_classes = unique_labels(y)
        else:  # warm start
            all_classes = unique_labels(y)
            if not np.array_equal(all_classes, self.classes_):
                raise ValueError(
                    "warm_start can only be used where `y` has the same classes "
                    f"as in the previous call to fit. Previously got "
                    f"{self.classes_}, `y` has {all_classes}."
                )
            all_classes = self.classes_
        if all_classes.shape[0] < 2:
            raise ValueError(
                "The number of classes has to be greater than one; got "
                f"{all_classes.shape[0]} class: {all_classes!r}."
            )
        if not first_pass and self._multilabel:
            raise ValueError("y is 1-D but the model was fitted on multilabel y.")
        y_idx = np.searchsorted(all_classes, y)
        K = all_classes.shape[0]
        Y = np.zeros((y.shape[0], K), dtype=np.uint8)  # one-hot, 0/1
        Y[np.arange(y.shape[0]), y_idx] = 1
        return Y, y_idx, dict(classes_=all_classes, _group=K, _multilabel=False,
                              out_activation_="softmax")

    def _fit_sample_weight(self, sample_weight, X, y_idx, state, incremental, dtype):
        """Sample weights times the class weights."""
        classes = state["classes_"]
        if sample_weight is None and self.class_weight is None:
            return None  # every weight is 1
        sw = _check_sample_weight(sample_weight, X, dtype=dtype,
                                  ensure_non_negative=True)
        if self.class_weight is not None:
            if y_idx is None:
                raise ValueError("class_weight is not supported for multilabel y.")
            if incremental and self.class_weight == "balanced":
                raise ValueError(
                    "class_weight 'balanced' is not supported for partial_fit: "
                    "pass the weights as a dict computed on all the data."
                )
            if isinstance(self.class_weight, dict):
                for key, w in self.class_weight.items():
                    if (isinstance(w, bool) or not isinstance(w, Real)
                            or not np.isfinite(w) or w < 0):
                        raise ValueError(
                            "class_weight must map classes to finite, non-negative "
                            f"weights; got {w!r} for class {key!r}."
                        )
            cw = compute_class_weight(self.class_weight, classes=classes,
                                      y=classes[y_idx])
            sw = sw * cw[y_idx].astype(dtype)
        return np.ascontiguousarray(sw, dtype=dtype)

