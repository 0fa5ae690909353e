"""SymNetClassifier: the scikit-learn estimator on top of the SymNet network."""

import copy
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state, compute_class_weight
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import (
    check_classification_targets,
    type_of_target,
    unique_labels,
)
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from ._network import (
    SymNetwork,
    layer_kernels,
    make_input,
    output_signals,
    readout_outputs,
)
from ._neuron import WuxingNeuron
from ._optim import AdamOptimizer, ArctanBound, SGDOptimizer

# output_scale="auto", by (output coupling, readout): measured on digits, MNIST
# and the real-data suite (docs/choices.md)
AUTO_OUTPUT_SCALE = {
    ("rate", "signal"): 4.0,
    ("rate", "difference"): 2.0,  # a pair's difference spreads twice as far
    ("flux", "signal"): 20.0,
    ("flux", "difference"): 20.0,
    ("flux-branch", "signal"): 4.0,
    ("flux-branch", "difference"): 4.0,
}



class DeadNeuronWarning(ConvergenceWarning):
    """A whole layer, or an output neuron, sat on a zero-gain piece for every
    sample of the last epoch: backward signal propagation cannot move it."""


NON_FINITE_MESSAGE = (
    "Solver produced non-finite parameter weights. The input data may contain large "
    "values and need to be preprocessed, or the learning rate is too large."
)


def _group_log_softmax(Z, group):
    """Log-softmax of ``Z`` within contiguous groups of columns."""
    n, m = Z.shape
    Zg = Z.reshape(n, m // group, group)
    Zg = Zg - Zg.max(axis=2, keepdims=True)
    Zg = Zg - np.log(np.exp(Zg).sum(axis=2, keepdims=True))
    return Zg.reshape(n, m)


class SymNetClassifier(ClassifierMixin, BaseEstimator):
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
    output_coupling : {"rate", "flux"} or None, default=None
        Coupling of the output neurons; None uses ``coupling``.  Measured in
        ``benchmarks/bench_reliability.py`` and the suite (``docs/model.md``
        section 3b): no mixed choice beat the single coupling as a default;
        flux output neurons with the symmetric bound saturate and are the
        weakest choice at large steps.  For large steps use
        ``coupling="flux", flux_bound="branch"``.
    flux_bound : {"symmetric", "branch"}, default="symmetric"
        Flux-coupled neurons: ``"symmetric"`` bounds the inflow on both sides
        by 0.9 of the nearer end of the equilibrium branch (the fold below);
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
    learning_rate_init : float, default=3e-3
        Step size of the first epoch.
    learning_rate_decay : float, default=1.0
        Factor applied to the step size after every epoch (epochs counted
        across ``partial_fit`` calls): epoch ``e`` uses
        ``learning_rate_init * learning_rate_decay ** e``.  1.0 keeps it
        constant, as MLPClassifier's Adam does.
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
    n_jobs : int or None, default=None
        OpenMP threads for the kernels; None uses all available cores (as
        limited by ``OMP_NUM_THREADS`` or threadpoolctl).  Results do not
        depend on it.

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
        "hidden_layer_sizes": [
            "array-like",
            Interval(Integral, 1, None, closed="left"),
        ],
        "coupling": [StrOptions({"rate", "flux"})],
        "output_coupling": [StrOptions({"rate", "flux"}), None],
        "flux_bound": [StrOptions({"symmetric", "branch"})],
        "readout": [StrOptions({"signal", "difference"})],
        "K1": [Interval(Real, None, None, closed="neither")],
        "K2": [Interval(Real, None, None, closed="neither")],
        "K3": [Interval(Real, 0, None, closed="neither")],
        "r": [Interval(Real, 0, None, closed="neither")],
        "input_element": [Interval(Integral, 0, 4, closed="both")],
        "output_element": [Interval(Integral, 0, 4, closed="both")],
        "loss": [StrOptions({"log_loss", "squared_error"})],
        "output_scale": [StrOptions({"auto"}), Interval(Real, 0, None, closed="neither")],
        "solver": [StrOptions({"adam", "sgd"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "learning_rate_decay": [Interval(Real, 0, 1, closed="right")],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "coef_bound": [Interval(Real, 0, None, closed="neither"), None],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "n_jobs": [Integral, None],
    }

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        coupling="rate",
        output_coupling=None,
        flux_bound="symmetric",
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
        learning_rate_init=3e-3,
        learning_rate_decay=1.0,
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
        S = self._outputs(X)
        logp = _group_log_softmax(self.output_scale_ * S.astype(np.float64),
                                  self._group)
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
        S = self._outputs(X)
        if self._multilabel:
            return (S[:, 1::2] > S[:, 0::2]).astype(int)
        return self.classes_[np.argmax(S, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.classifier_tags.multi_label = True
        return tags

    # ------------------------------------------------------------------
    # Internals
    # ------------------------------------------------------------------
    def _output_signals(self, X):
        check_is_fitted(self)
        dtype = self._free.dtype  # the model's own dtype, as MLPClassifier casts
        X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False,
                          dtype=dtype)
        coefs, intercepts = self._user_coefficients(dtype)
        return output_signals(X, coefs, intercepts, self._kernels(), self._n_threads())

    def _outputs(self, X):
        """The logits' signals: output signals, or their pair differences."""
        return readout_outputs(self._output_signals(X), self._readout)

    def _user_coefficients(self, dtype):
        """``coefs_`` and ``intercepts_`` as the user sees them (they may have
        been assigned), checked against the fitted shapes and made C-ordered
        in the model's dtype."""
        units = self._layer_units
        n = len(units) - 1
        coefs, intercepts = list(self.coefs_), list(self.intercepts_)
        if len(coefs) != n or len(intercepts) != n:
            raise ValueError(
                f"coefs_ and intercepts_ must hold {n} arrays each (one per layer), "
                f"got {len(coefs)} and {len(intercepts)}."
            )
        out_c, out_i = [], []
        for i, (W, b) in enumerate(zip(coefs, intercepts)):
            W, b = np.asarray(W), np.asarray(b)
            if W.shape != (units[i], units[i + 1]) or b.shape != (units[i + 1],):
                raise ValueError(
                    f"coefs_[{i}] must have shape {(units[i], units[i + 1])} and "
                    f"intercepts_[{i}] shape {(units[i + 1],)}; got {W.shape} and "
                    f"{b.shape}."
                )
            if not (np.all(np.isfinite(W)) and np.all(np.isfinite(b))):
                raise ValueError(f"coefs_[{i}] or intercepts_[{i}] contains NaN or inf.")
            out_c.append(np.ascontiguousarray(W, dtype=dtype))
            out_i.append(np.ascontiguousarray(b, dtype=dtype))
        return out_c, out_i

    def _start_params(self, net, dtype):
        """Free parameters to continue from: the fitted ones, or those of
        ``coefs_`` / ``intercepts_`` where the user assigned new values."""
        coefs, intercepts = self._user_coefficients(dtype)
        flat = np.concatenate([W.ravel() for W in coefs] + intercepts)
        if self.coef_bound is None:
            net.set_params(flat)
            return
        if self.coef_bound == self._fitted_bound:
            net.set_params(self._free.astype(dtype))
            if np.array_equal(net.coef, flat):
                return  # unchanged: keep the exact free parameters
        net.set_params(ArctanBound(self.coef_bound).to_free(flat))

    def _kernels(self):
        return layer_kernels(len(self._layer_units) - 1, self.neuron_, self.output_neuron_)

    def _n_threads(self):
        if self.n_jobs == 0:
            raise ValueError(
                "n_jobs == 0 is invalid: use None or -1 for all cores, or a positive "
                "number of threads."
            )
        return _openmp_effective_n_threads(self.n_jobs)

    def _fit_atomic(self, X, y, sample_weight, classes, incremental):
        """Run :meth:`_fit` so that a failing call leaves ``self`` as it was."""
        saved = dict(self.__dict__)
        try:
            self._fit(X, y, sample_weight, classes, incremental)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise
        return self

    def _targets(self, y, classes, incremental, first_pass):
        """Validate ``y``; return (Y one-hot in groups, y_index, group, multilabel)."""
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
            Y = np.empty((y.shape[0], 2 * n_labels))
            yb = np.asarray(y != 0, dtype=float)
            Y[:, 0::2] = 1.0 - yb
            Y[:, 1::2] = yb
            return Y, None, np.arange(n_labels), 2, True

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
        Y = np.zeros((y.shape[0], K))
        Y[np.arange(y.shape[0]), y_idx] = 1.0
        return Y, y_idx, all_classes, K, False

    def _sample_weight(self, sample_weight, X, y_idx, classes, incremental, dtype):
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

    def _fit(self, X, y, sample_weight, classes, incremental):
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        hidden = np.atleast_1d(np.asarray(self.hidden_layer_sizes))
        if hidden.size == 0:  # no hidden layer: a network of output neurons only
            hidden = hidden.astype(np.int64)
        if hidden.ndim != 1 or not np.issubdtype(hidden.dtype, np.integer) or np.any(
            hidden <= 0
        ):
            raise ValueError(
                "hidden_layer_sizes must be a sequence of positive integers, got "
                f"{self.hidden_layer_sizes!r}."
            )
        fitted = hasattr(self, "coefs_")
        first_pass = not fitted or (not incremental and not self.warm_start)

        X, y = validate_data(
            self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
            dtype=(np.float64, np.float32), reset=first_pass, y_numeric=False,
        )
        if not first_pass and X.dtype != self._free.dtype:
            X = X.astype(self._free.dtype)
        dtype = X.dtype
        Y, y_idx, all_classes, group, multilabel = self._targets(
            np.asarray(y), classes, incremental, first_pass
        )
        Y = np.ascontiguousarray(Y, dtype=dtype)
        sw = self._sample_weight(sample_weight, X, y_idx, all_classes, incremental,
                                 dtype)
        n_outputs = Y.shape[1]

        if incremental and not first_pass:
            # partial_fit continues the fitted network
            neuron, output_neuron = self.neuron_, self.output_neuron_
        else:  # fit (warm or not) builds the neurons of the current parameters
            kw = dict(K1=self.K1, K2=self.K2, K3=self.K3, r=self.r,
                      input_element=self.input_element,
                      output_element=self.output_element, flux_bound=self.flux_bound)
            neuron = WuxingNeuron(coupling=self.coupling, **kw)
            out_coupling = self.output_coupling or self.coupling
            output_neuron = (neuron if out_coupling == self.coupling
                             else WuxingNeuron(coupling=out_coupling, **kw))
            if not (neuron.responds and output_neuron.responds):
                raise ValueError(
                    f"With K1={self.K1!r} and K2={self.K2!r} the output element "
                    f"(output_element={self.output_element}) never responds to the "
                    f"input at input_element={self.input_element}: every neuron's "
                    "signal would be constant and the network could not learn. Use "
                    "other K1, K2 (non-zero coupling) or another output_element."
                )
        if first_pass:
            readout = self.readout
            rng = check_random_state(self.random_state)
            width = 2 * n_outputs if readout == "difference" else n_outputs
            layer_units = [X.shape[1], *[int(h) for h in hidden], width]
        else:
            readout = self._readout  # the fitted network's output layer
            if not incremental and self.readout != readout:
                raise ValueError(
                    "warm_start needs the same readout as the fitted model: "
                    f"{readout!r} vs {self.readout!r}."
                )
            rng = copy.deepcopy(self._random_state)
            layer_units = [X.shape[1], *self._layer_units[1:]]
            if not incremental and list(layer_units[1:-1]) != [int(h) for h in hidden]:
                raise ValueError(
                    "warm_start needs the same hidden_layer_sizes as the fitted "
                    f"model: {layer_units[1:-1]} vs {list(hidden)}."
                )

        n_threads = self._n_threads()
        if self.output_scale == "auto":
            key = output_neuron.coupling
            if key == "flux" and output_neuron.flux_bound == "branch":
                key = "flux-branch"
            output_scale = AUTO_OUTPUT_SCALE[key, readout]
        else:
            output_scale = float(self.output_scale)
        net = SymNetwork(
            layer_units, neuron, dtype, group, self.loss == "squared_error",
            output_scale, self.alpha, self.coef_bound, n_threads,
            output_neuron=output_neuron, readout=readout,
        )
        if first_pass:
            net.initialize(rng)
        else:
            self._start_params(net, dtype)

        if incremental and not first_pass and self._optimizer_matches(net):
            optimizer = self._optimizer.copy()
        elif self.solver == "adam":
            optimizer = AdamOptimizer(net.n_params, dtype, self.learning_rate_init,
                                      self.beta_1, self.beta_2, self.epsilon,
                                      self.learning_rate_decay)
        else:
            optimizer = SGDOptimizer(net.n_params, dtype, self.learning_rate_init,
                                     self.momentum, self.nesterovs_momentum,
                                     self.learning_rate_decay)

        # validation split for early stopping
        if self.early_stopping:
            tr, va = self._validation_split(X.shape[0], y_idx, rng)
            if va.shape[0] < 2:
                raise ValueError(
                    "The validation set is too small. Increase "
                    "'validation_fraction' or the size of your dataset."
                )
            train_rows = np.sort(tr).astype(np.int64)
            X_val, sw_val = X[va], sw[va]
            y_val = Y[va]
        else:
            train_rows = np.arange(X.shape[0], dtype=np.int64)

        n_train = train_rows.shape[0]
        if self.batch_size == "auto":
            batch_size = min(200, n_train)
        else:
            if self.batch_size > n_train:
                warnings.warn(
                    "Got `batch_size` less than 1 or larger than sample size. It "
                    "is going to be clipped"
                )
            batch_size = int(np.clip(self.batch_size, 1, n_train))

        source = make_input(X, batch_size)

        # training history (continued across warm starts and partial_fit)
        if first_pass:
            loss_curve, t = [], 0
            best_loss = np.inf
            val_scores = [] if self.early_stopping else None
            best_val = -np.inf if self.early_stopping else None
        else:
            loss_curve, t = list(self.loss_curve_), self.t_
            best_loss = self.best_loss_ if self.best_loss_ is not None else np.inf
            val_scores = (list(self.validation_scores_)
                          if self.validation_scores_ is not None else None)
            best_val = self.best_validation_score_
            if self.early_stopping and val_scores is None:
                val_scores, best_val = [], -np.inf
        no_improvement = 0
        best_free = None
        n_iter = 0
        with net.thread_limits():
            for _ in range(self.max_iter):
                order = rng.permutation(train_rows) if self.shuffle else train_rows
                loss = net.train_epoch(source, Y, sw, order, batch_size, optimizer)
                optimizer.end_epoch()
                if not (np.isfinite(loss) and np.all(np.isfinite(net.free))):
                    raise ValueError(NON_FINITE_MESSAGE)
                n_iter += 1
                t += n_train
                loss_curve.append(loss)
                if self.verbose:
                    print(f"Iteration {n_iter}, loss = {loss:.8f}")
                if self.early_stopping:
                    S_val = net.outputs(X_val)
                    if multilabel:
                        pred = (S_val[:, 1::2] > S_val[:, 0::2]).astype(int)
                        true = (y_val[:, 1::2] > 0.5).astype(int)
                    else:
                        pred = np.argmax(S_val, axis=1)
                        true = np.argmax(y_val, axis=1)
                    score = accuracy_score(true, pred, sample_weight=sw_val)
                    val_scores.append(score)
                    if self.verbose:
                        print(f"Validation score: {score:f}")
                    no_improvement = no_improvement + 1 if score < best_val + self.tol else 0
                    if score > best_val:
                        best_val = score
                        best_free = net.free.copy()
                else:
                    no_improvement = no_improvement + 1 if loss > best_loss - self.tol else 0
                    best_loss = min(best_loss, loss)
                if no_improvement > self.n_iter_no_change:
                    if self.verbose:
                        what = ("Validation score" if self.early_stopping
                                else "Training loss")
                        print(f"{what} did not improve more than tol={self.tol:f} for "
                              f"{self.n_iter_no_change} consecutive epochs. Stopping.")
                    break
                if incremental:
                    break
                if n_iter == self.max_iter:
                    warnings.warn(
                        f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) "
                        "reached and the optimization hasn't converged yet.",
                        ConvergenceWarning,
                    )
        if best_free is not None:
            net.set_params(best_free)
        # The epoch's loss is measured before its last step: make sure the final
        # coefficients still give finite signals (a diverging solver may not).
        try:
            net.output_signals(X[train_rows[:256]])
        except ValueError:
            raise ValueError(NON_FINITE_MESSAGE) from None

        # publish the new state in one go
        self.coefs_, self.intercepts_ = net.publish()
        self._free = net.free.copy()
        self._fitted_bound = self.coef_bound
        self._optimizer = optimizer
        self._random_state = rng
        self._group = group
        self._multilabel = multilabel
        self.classes_ = all_classes
        self.neuron_ = neuron
        self.output_neuron_ = output_neuron
        self.dead_fraction_ = net.dead_fraction()
        self._warn_dead(net)
        self.fixed_point_ = neuron.fixed_point
        self.output_scale_ = output_scale
        self.n_outputs_ = layer_units[-1]
        self._readout = readout
        self.n_layers_ = len(layer_units)
        self._layer_units = list(layer_units)
        self.out_activation_ = "softmax"
        self.n_iter_ = n_iter
        self.t_ = t
        self.loss_ = loss_curve[-1]
        self.loss_curve_ = loss_curve
        if self.early_stopping:
            self.validation_scores_ = val_scores
            self.best_validation_score_ = best_val
            self.best_loss_ = None
        else:
            self.validation_scores_ = val_scores
            self.best_validation_score_ = best_val
            self.best_loss_ = best_loss

    def _warn_dead(self, net):
        """Warn when backward signal propagation cannot move part of the net."""
        n = net.dead_samples
        dead_layers = [i + 1 for i, c in enumerate(net.dead_counts[:-1])
                       if n and np.all(c == n)]
        dead_out = np.flatnonzero(net.dead_counts[-1] == n) if n else []
        if dead_layers:
            warnings.warn(
                f"Every neuron of hidden layer(s) {dead_layers} sat on a zero-gain "
                "piece for every sample of the last epoch: no error signal passes "
                "them and the network cannot learn. Lower learning_rate_init, or "
                "train at large steps with coupling='flux', flux_bound='branch' "
                "(flux neurons never have a zero gain).", DeadNeuronWarning,
            )
        if len(dead_out):
            warnings.warn(
                f"Output neuron(s) {[int(k) for k in dead_out]} sat on a zero-gain piece for every "
                "sample of the last epoch and cannot recover (a rate-coupled neuron "
                "whose input element is extinct has zero gain). Lower "
                "learning_rate_init, or use coupling='flux', flux_bound='branch'.",
                DeadNeuronWarning,
            )

    def _validation_split(self, n_samples, y_idx, rng):
        """Train / validation rows for early stopping: stratified where the
        validation set can hold every class (and each class has two samples),
        otherwise a plain random split, as MLPClassifier does for multiclass."""
        idx = np.arange(n_samples)
        n_val = int(np.ceil(self.validation_fraction * n_samples))
        stratify = None
        if y_idx is not None:
            counts = np.bincount(y_idx)
            counts = counts[counts > 0]
            n_cls = counts.shape[0]
            if counts.min() >= 2 and n_cls <= n_val <= n_samples - n_cls:
                stratify = y_idx
        if n_val < 2 or n_samples - n_val < 1:
            raise ValueError(
                f"The validation set is too small: validation_fraction="
                f"{self.validation_fraction} of {n_samples} samples leaves {n_val} for "
                "early_stopping=True. Increase 'validation_fraction' or the size of "
                "your dataset, or set early_stopping=False."
            )
        return train_test_split(idx, random_state=rng, test_size=n_val, stratify=stratify)

    def _optimizer_matches(self, net):
        opt = getattr(self, "_optimizer", None)
        kind = AdamOptimizer if self.solver == "adam" else SGDOptimizer
        arr = getattr(opt, "ms", getattr(opt, "velocities", None))
        return (isinstance(opt, kind) and arr is not None
                and arr.shape[0] == net.n_params and arr.dtype == net.dtype)
