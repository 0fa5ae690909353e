"""BaseSymNet: what SymNetClassifier and SymNetRegressor share.

The parameters and their constraints, a short ``_fit`` orchestrator (validate,
build or continue the network, the epoch loop with early stopping and the
best parameters, publish the fitted state in one step), the prediction
plumbing, and the hooks each estimator fills in: its targets
(:meth:`_encode_targets`), its output head (:meth:`_make_head`), its
sample weights and its validation score.
"""

import copy
import warnings
from abc import ABCMeta, abstractmethod
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import (
    _check_sample_weight,
    assert_all_finite,
    check_is_fitted,
    validate_data,
)

from . import _kernels
from ._callbacks import CallbackSupport, with_fit_callbacks
from ._inputs import training_input
from ._losses import OutputHead
from ._network import SignalOverflowError, SymNetwork
from ._neuron import WuxingNeuron
from ._optim import (
    AdamOptimizer,
    ArctanBound,
    ConstantParameters,
    PIDController,
    SegmentedOptimizer,
    SGDOptimizer,
)
from ._tables import LinearTable, NeuronTable
from ._threads import LoadMonitor, blas_single_thread, prediction_threads


class DeadNeuronWarning(ConvergenceWarning):
    """A whole layer, or an output neuron, sat on a zero-gain piece for every
    sample of the last epoch: backward signal propagation cannot move it."""


NON_FINITE_MESSAGE = (
    "Solver produced non-finite parameter weights. The input data may contain large "
    "values and need to be preprocessed, or the learning rate is too large."
)

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


class BaseSymNet(CallbackSupport, BaseEstimator, metaclass=ABCMeta):
    """Base class of the SymNet estimators (not for direct use)."""

    _parameter_constraints = {
        "hidden_layer_sizes": [
            "array-like",
            Interval(Integral, 1, None, closed="left"),
        ],
        "coupling": [StrOptions({"rate", "flux"})],
        "output_coupling": [StrOptions({"rate", "flux"}), None],
        "flux_bound": [StrOptions({"symmetric", "branch"})],
        "K1": [Interval(Real, None, None, closed="neither")],
        "K2": [Interval(Real, None, None, closed="neither")],
        "K3": [Interval(Real, 0, None, closed="neither")],
        "r": [Interval(Real, 0, None, closed="neither")],
        "input_element": [Interval(Integral, 0, 4, closed="both")],
        "output_element": [Interval(Integral, 0, 4, closed="both")],
        "output_scale": [StrOptions({"auto"}), Interval(Real, 0, None, closed="neither")],
        "solver": [StrOptions({"adam", "sgd"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "learning_rate_decay": [Interval(Real, 0, 1, closed="right")],
        "decay_steps": [Interval(Integral, 1, None, closed="left"), None],
        "decay_floor": [Interval(Real, 0, 1, closed="both")],
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
        "kink_start": [Interval(Real, 0, 1, closed="both")],
        "neuron_params": [StrOptions({"fixed", "shape", "all"})],
        "neuron_sharing": [StrOptions({"unit", "layer"})],
        "neuron_solver": [StrOptions({"same", "pid"})],
        "neuron_learning_rate": [Interval(Real, 0, None, closed="neither"), None],
        "pid_gains": ["array-like"],
        "pid_leak": [Interval(Real, 0, 1, closed="left")],
        "pid_max_step": [Interval(Real, 0, None, closed="right")],
        "n_jobs": [Integral, None],
    }

    # ------------------------------------------------------------------
    # Hooks
    # ------------------------------------------------------------------
    @abstractmethod
    def _encode_targets(self, y, classes, incremental, first_pass):
        """Validate ``y``; return ``(Y, y_idx, state)``: float targets of shape
        (n, n_outputs), class indices for stratification and class weights
        (or None), and the fitted target state to publish (a dict)."""

    @abstractmethod
    def _make_head(self, n_outputs, readout, output_scale, state):
        """The :class:`OutputHead` of the network."""

    @abstractmethod
    def _validation_score(self, Z, Y, sw, state):
        """Score of the scaled outputs ``Z`` against targets ``Y`` (early
        stopping); ``state`` is the target state of :meth:`_encode_targets`."""

    def _fit_sample_weight(self, sample_weight, X, y_idx, state, incremental, dtype):
        """Sample weights of the loss (None: every weight is 1)."""
        if sample_weight is None:
            return None
        sw = _check_sample_weight(sample_weight, X, dtype=dtype, ensure_non_negative=True)
        return np.ascontiguousarray(sw, dtype=dtype)

    def _transform_targets(self, Y, sw, state):
        """The targets the network learns (may complete ``state``)."""
        return Y

    def _auto_output_scale(self, coupling, flux_bound, readout):
        key = "flux-branch" if coupling == "flux" and flux_bound == "branch" else coupling
        return AUTO_OUTPUT_SCALE.get((key, readout), 1.0)

    # ------------------------------------------------------------------
    # Fitting
    # ------------------------------------------------------------------
    @with_fit_callbacks
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

    def _hidden_sizes(self):
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
        return [int(h) for h in hidden]

    def _new_tables(self, n_hidden_layers, readout):
        """The neurons of a new network, from the parameters."""
        theta = [[self.K1, self.K2, self.K3, self.r]]
        hc, oc = self.coupling, self.output_coupling or self.coupling
        a, b, fb = self.input_element, self.output_element, self.flux_bound
        hidden = NeuronTable(theta, hc, a, b, fb)
        out = hidden if oc == hc else NeuronTable(theta, oc, a, b, fb)
        for table in (hidden, out):
            if not table.responds[0]:
                raise ValueError(
                    f"With K1={self.K1!r} and K2={self.K2!r} the output element "
                    f"(output_element={self.output_element}) never responds to the "
                    f"input at input_element={self.input_element}: every neuron's "
                    "signal would be constant and the network could not learn. Use "
                    "other K1, K2 (non-zero coupling) or another output_element."
                )
        last = LinearTable() if readout == "linear" else out
        return [hidden] * n_hidden_layers + [last]

    def _fit(self, X, y, sample_weight, classes, incremental):
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        hidden = self._hidden_sizes()
        fitted = hasattr(self, "coefs_")
        first_pass = not fitted or (not incremental and not self.warm_start)
        # X is not scanned for NaN and inf here: the first layer's product finds
        # them, minibatch by minibatch (_row_checker); y is checked as usual
        X, y = validate_data(
            self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
            dtype=(np.float64, np.float32), reset=first_pass, y_numeric=False,
            ensure_all_finite=False,
        )
        if not first_pass and X.dtype != self._free.dtype:
            X = X.astype(self._free.dtype)
        dtype = X.dtype
        Y, y_idx, target_state = self._encode_targets(np.asarray(y), classes, incremental,
                                                     first_pass)
        sw = self._fit_sample_weight(sample_weight, X, y_idx, target_state, incremental,
                                     dtype)
        Y = self._transform_targets(Y, sw, target_state)
        # class targets are 0/1: kept as bytes (a minibatch is cast when taken)
        Y = np.ascontiguousarray(Y, dtype=np.uint8 if Y.dtype == np.uint8 else dtype)
        n_outputs = Y.shape[1]

        if first_pass:
            readout = self.readout
            rng = check_random_state(self.random_state)
        else:
            readout = self._readout  # the fitted network's output layer
            if not incremental and self.readout != readout:
                raise ValueError(
                    "warm_start needs the same readout as the fitted model: "
                    f"{readout!r} vs {self.readout!r}."
                )
            rng = copy.deepcopy(self._random_state)
        head_width = 2 * n_outputs if readout == "difference" else n_outputs
        layer_units = [X.shape[1], *hidden, head_width]
        if not first_pass and list(self._layer_units[1:]) != layer_units[1:]:
            raise ValueError(
                "warm_start needs the same hidden_layer_sizes as the fitted model: "
                f"{self._layer_units[1:-1]} vs {hidden}."
            )
        train_constants = self.neuron_params != "fixed"
        if not first_pass and (incremental or train_constants):
            # partial_fit continues the fitted network; a warm fit that trains
            # the constants continues from the fitted (or assigned) ones
            tables = self._fitted_tables()
        else:  # fit (warm or not) builds the neurons of the current parameters
            tables = self._new_tables(len(hidden), readout)
        constants = None
        if train_constants:
            tables, constants = self._trained_constants(tables, layer_units[1:])
        out_table = tables[-1]
        if self.output_scale == "auto":
            kind = ("linear" if readout == "linear" else out_table.coupling)
            output_scale = self._auto_output_scale(kind, self.flux_bound, readout)
        else:
            output_scale = float(self.output_scale)
        head = self._make_head(n_outputs, readout, output_scale, target_state)
        monitor = LoadMonitor(self.n_jobs)  # read once per epoch, by the epoch loop
        net = SymNetwork(layer_units, tables, head, dtype, self.alpha, self.coef_bound,
                         monitor.n_threads, constants)
        if first_pass:
            net.initialize(rng, self.kink_start)
        else:
            self._start_params(net, dtype)
        optimizer = self._make_optimizer(net, dtype)
        if incremental and not first_pass:
            self._continue_optimizer(optimizer)

        # validation split for early stopping
        if self.early_stopping:
            tr, va = self._validation_split(X.shape[0], y_idx, rng)
            train_rows = np.sort(tr).astype(np.int64)
            X_val = X[va]
            val = (X_val, Y[va], None if sw is None else sw[va], target_state,
                   self._row_checker(X_val))
        else:
            train_rows = np.arange(X.shape[0], dtype=np.int64)
            val = None
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

        history = self._history(first_pass)
        del y_idx  # not needed any more (memory)
        target_state.setdefault("n_outputs_", layer_units[-1])
        self._callback_epochs_begin(history, target_state, net, optimizer, rng, readout,
                                    output_scale, layer_units)
        try:
            source = training_input(X, batch_size, layer_units[1])
            n_iter = self._epochs(net, optimizer, source, Y, sw, train_rows, batch_size, rng,
                                  val, history, incremental, monitor, self._row_checker(X))
            # The epoch's loss is measured before its last step: make sure the
            # final coefficients still give finite signals (a diverging solver
            # may not).
            net.predict_outputs(X[:32])
        except SignalOverflowError:
            raise ValueError(NON_FINITE_MESSAGE) from None

        # publish the new state in one go
        self._publish(history, target_state, n_iter, net, optimizer, rng, readout,
                      output_scale, layer_units)
        self._warn_dead(net)

    def _trained_constants(self, tables, widths):
        """Tables of their own per layer (one row per unit, or one per layer)
        and the parameterisation of the constants each layer trains."""
        reference = np.array([[self.K1, self.K2, self.K3, self.r]], dtype=np.float64)
        out_tables, constants = [], []
        for table, m in zip(tables, widths):
            if table.coupling == "linear":
                out_tables.append(table)
                constants.append(None)
                continue
            start = np.broadcast_to(table.constants, (m, 4))
            if self.neuron_sharing == "layer":
                start = start.mean(axis=0, keepdims=True)
            out_tables.append(NeuronTable(start, table.coupling, table.a, table.b,
                                          table.flux_bound))
            constants.append(ConstantParameters(start, self.neuron_params, reference))
        return out_tables, constants

    def _make_optimizer(self, net, dtype):
        """The coefficients' optimiser, and the constants' (same kind or PID)."""
        n_const = net.n_params - net.n_weights
        schedule = (self.learning_rate_decay, self.decay_steps, self.decay_floor)

        def make(n, lr):
            if self.solver == "adam":
                return AdamOptimizer(n, dtype, lr, self.beta_1, self.beta_2, self.epsilon,
                                     *schedule)
            return SGDOptimizer(n, dtype, lr, self.momentum, self.nesterovs_momentum,
                                *schedule)

        weights = make(net.n_weights, self.learning_rate_init)
        constants = None
        if n_const:
            lr = (self.neuron_learning_rate if self.neuron_learning_rate is not None
                  else self.learning_rate_init)
            if self.neuron_solver == "pid":
                gains = np.asarray(self.pid_gains, dtype=np.float64)
                if gains.shape != (3,) or not np.all(np.isfinite(gains)) or np.any(
                        gains < 0):
                    raise ValueError(
                        "pid_gains must be three finite, non-negative numbers (kp, ki, kd) "
                        f"in units of the constants' learning rate, got {self.pid_gains!r}."
                    )
                kp, ki, kd = lr * gains
                constants = PIDController(n_const, kp, ki, kd, self.pid_leak,
                                          self.pid_max_step)
            else:
                constants = make(n_const, lr)
        return SegmentedOptimizer(weights, constants, net.n_weights)

    def _continue_optimizer(self, optimizer):
        """partial_fit keeps the optimisers' state where it still fits."""
        state = getattr(self, "_optimizer_state", None)
        if isinstance(state, dict):
            optimizer.load_state(state)

    def _history(self, first_pass):
        """The training history, continued across warm starts and partial_fit."""
        if first_pass:
            h = dict(loss_curve=[], t=0, best_loss=np.inf, val_scores=None, best_val=None)
        else:
            h = dict(loss_curve=list(self.loss_curve_), t=self.t_,
                     best_loss=self.best_loss_ if self.best_loss_ is not None else np.inf,
                     val_scores=(list(self.validation_scores_)
                                 if self.validation_scores_ is not None else None),
                     best_val=self.best_validation_score_)
        if self.early_stopping and h["val_scores"] is None:
            h["val_scores"], h["best_val"] = [], -np.inf
        return h

    def _epochs(self, net, optimizer, source, Y, sw, train_rows, batch_size, rng, val,
                h, incremental, monitor, check_rows):
        """The epoch loop: shuffling, stopping, the best parameters.  Returns
        the number of epochs run; updates the history ``h``.  Raises
        :class:`SignalOverflowError` where the signals overflow, and
        ``check_rows(rows)``'s error where a minibatch's rows of X are not
        finite."""
        n_train = train_rows.shape[0]
        no_improvement = 0
        best_free = None
        n_iter = 0
        order = train_rows  # sorted; shuffled in place, epoch by epoch
        # BLAS held to one thread: the kernels' OpenMP threads do all the
        # parallel work (split by shape, so n_jobs never changes a result)
        with blas_single_thread():
            for _ in range(self.max_iter):
                net.n_threads = monitor.threads()  # the machine's load, epoch by epoch
                if self.shuffle:  # rng.permutation(train_rows), without a copy:
                    order.sort()  # the sorted rows again
                    rng.shuffle(order)
                loss = net.train_epoch(source, Y, sw, order, batch_size, optimizer,
                                       check_rows)
                optimizer.end_epoch()
                if not (np.isfinite(loss) and np.all(np.isfinite(net.free))):
                    raise ValueError(NON_FINITE_MESSAGE)
                n_iter += 1
                h["t"] += n_train
                h["loss_curve"].append(loss)
                if self.verbose:
                    print(f"Iteration {n_iter}, loss = {loss:.8f}")
                if val is not None:
                    X_val, Y_val, sw_val, state, check_val = val
                    Z = net.head.scale * net.predict_outputs(X_val, check_val)
                    score = self._validation_score(Z, Y_val, sw_val, state)
                    h["val_scores"].append(score)
                    if self.verbose:
                        print(f"Validation score: {score:f}")
                    no_improvement = (no_improvement + 1
                                      if score < h["best_val"] + self.tol else 0)
                    if score > h["best_val"]:
                        h["best_val"] = score
                        best_free = net.free.copy()
                else:
                    no_improvement = (no_improvement + 1
                                      if loss > h["best_loss"] - self.tol else 0)
                    h["best_loss"] = min(h["best_loss"], loss)
                if self._callback_epoch_end(n_iter):
                    break  # a callback asked to stop
                if no_improvement > self.n_iter_no_change:
                    if self.verbose:
                        what = "Validation score" if val is not None else "Training loss"
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
            net.set_free(best_free)
        return n_iter

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

    # ------------------------------------------------------------------
    # The fitted state
    # ------------------------------------------------------------------
    def _publish(self, history, target_state, n_iter, net, optimizer, rng, readout,
                 output_scale, layer_units):
        """Set every fitted attribute from a fit's state: at its end, and for
        the fitted copies its callbacks get after each epoch."""
        for key, value in target_state.items():
            setattr(self, key, value)
        self.n_iter_ = n_iter
        self.t_ = history["t"]
        self.loss_curve_ = list(history["loss_curve"])
        self.loss_ = self.loss_curve_[-1]
        self.validation_scores_ = (None if history["val_scores"] is None
                                   else list(history["val_scores"]))
        self.best_validation_score_ = history["best_val"]
        self.best_loss_ = None if self.early_stopping else history["best_loss"]
        self.coefs_, self.intercepts_ = net.publish()
        self.neuron_constants_ = net.layer_constants()
        self._layer_couplings = [t.coupling for t in net.tables]
        neurons = [t for t in net.tables if t.coupling != "linear"]
        if neurons:  # the elements of the network's neurons (fitted or new)
            self._elements = (neurons[0].a, neurons[0].b)
            self._flux_bound = neurons[0].flux_bound
        else:  # pragma: no cover - a network without neurons keeps the parameters
            self._elements = (int(self.input_element), int(self.output_element))
            self._flux_bound = self.flux_bound
        self._free = net.free  # the network is not used again: no copy
        self._fitted_bound = self.coef_bound
        self._optimizer_state = optimizer.state()
        self._random_state = rng
        self._readout = readout
        self.output_scale_ = output_scale
        self.n_layers_ = len(layer_units)
        self._layer_units = list(layer_units)
        self.dead_fraction_ = net.dead_fraction()
        self._table_cache = (self._constants_key(), net.tables)

    @staticmethod
    def _neuron_of(constants, coupling, elements, flux_bound):
        K1, K2, K3, r = (float(v) for v in constants)
        return WuxingNeuron(K1, K2, K3, r, coupling=coupling, input_element=elements[0],
                            output_element=elements[1], flux_bound=flux_bound)

    @property
    def neuron_(self):
        """:class:`WuxingNeuron` of the first layer's first unit (every hidden
        unit's, where the neurons' constants are not trained)."""
        check_is_fitted(self)
        return self._neuron_of(self.neuron_constants_[0][0], self._layer_couplings[0],
                               self._elements, self._flux_bound)

    @property
    def output_neuron_(self):
        """:class:`WuxingNeuron` of the first output unit (None with
        ``readout="linear"``, whose output layer has no neurons)."""
        check_is_fitted(self)
        if self.neuron_constants_[-1] is None:
            return None
        return self._neuron_of(self.neuron_constants_[-1][0], self._layer_couplings[-1],
                               self._elements, self._flux_bound)

    @property
    def fixed_points_(self):
        """Per layer, the fixed points ``r / K3`` of :attr:`neuron_constants_`
        (None for a layer without neurons)."""
        check_is_fitted(self)
        return [None if c is None else np.asarray(c)[:, 3] / np.asarray(c)[:, 2]
                for c in self.neuron_constants_]

    @property
    def fixed_point_(self):
        """Fixed point ``r / K3`` of :attr:`neuron_`."""
        return self.neuron_.fixed_point

    def _constants_key(self):
        return tuple(None if c is None else np.asarray(c, dtype=np.float64).tobytes()
                     for c in self.neuron_constants_)

    def _fitted_tables(self):
        """The fitted network's neuron tables (rebuilt where ``neuron_constants_``
        was assigned; cached)."""
        key = self._constants_key()
        cache = getattr(self, "_table_cache", None)
        if cache is not None and cache[0] == key:
            return cache[1]
        units = self._layer_units[1:]
        if len(self.neuron_constants_) != len(units):
            raise ValueError(
                f"neuron_constants_ must hold {len(units)} entries (one per layer of "
                f"neurons), got {len(self.neuron_constants_)}."
            )
        tables = []
        a, b = self._elements
        for i, (c, coupling, m) in enumerate(zip(self.neuron_constants_,
                                                 self._layer_couplings, units)):
            if coupling == "linear":
                tables.append(LinearTable())
                continue
            c = np.asarray(c, dtype=np.float64)
            if c.shape != (m, 4) or not np.all(np.isfinite(c)) or np.any(c[:, 2:] <= 0):
                raise ValueError(
                    f"neuron_constants_[{i}] must be finite, of shape {(m, 4)}, with "
                    "K3 > 0 and r > 0 (columns K1, K2, K3, r)."
                )
            shared = np.all(c == c[0])
            tables.append(NeuronTable(c[:1] if shared else c, coupling, a, b,
                                      self._flux_bound))
        self._table_cache = (key, tables)
        return tables

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_table_cache", None)  # derived from neuron_constants_
        return state

    def __setstate__(self, state):
        # estimators pickled before ``decay_steps`` and ``decay_floor`` existed
        # decayed their step per epoch, without a floor: they keep doing so
        if "learning_rate_decay" in state:
            state.setdefault("decay_steps", None)
            state.setdefault("decay_floor", 0.0)
        super().__setstate__(state)

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
            W = np.ascontiguousarray(W, dtype=dtype)
            b = np.ascontiguousarray(b, dtype=dtype)
            # (a kernel's count: no temporary arrays, a quarter of np.isfinite's time)
            if _kernels.count_non_finite(W) or _kernels.count_non_finite(b.reshape(1, -1)):
                raise ValueError(f"coefs_[{i}] or intercepts_[{i}] contains NaN or inf.")
            out_c.append(W)
            out_i.append(b)
        return out_c, out_i

    def _start_params(self, net, dtype):
        """Free parameters to continue from: the fitted ones, or those of
        ``coefs_`` / ``intercepts_`` where the user assigned new values."""
        coefs, intercepts = self._user_coefficients(dtype)
        flat = np.concatenate([W.ravel() for W in coefs] + intercepts)
        free = np.zeros(net.n_params, dtype=dtype)
        w = slice(0, net.n_weights)
        if self.coef_bound is None:
            free[w] = flat
        elif self.coef_bound == self._fitted_bound and np.array_equal(
                self._bounded(self._free[w].astype(dtype)), flat):
            free[w] = self._free[w]  # unchanged: keep the exact free parameters
        else:
            free[w] = ArctanBound(self.coef_bound).to_free(flat)
        net.constants_to_free(free)  # trained constants continue from the tables'
        net.set_free(free)

    def _bounded(self, free):
        out = np.empty_like(free)
        ArctanBound(self._fitted_bound).to_coef(free, out)
        return out

    def _row_checker(self, X):
        """``check(rows)`` or ``check(start, stop)``: scikit-learn's finiteness
        check and message for those rows of ``X``.  NaN and inf in ``X`` are
        found by the first layer's product (every one reaches all inputs of its
        row), so ``X`` is never scanned whole: only rows whose inputs are not
        finite are checked, in fit, partial_fit and prediction alike."""
        def check(rows, stop=None):
            part = X[rows] if stop is None else X[rows:stop]
            assert_all_finite(part.data if sp.issparse(part) else part, allow_nan=False,
                              estimator_name=type(self).__name__, input_name="X")
        return check

    def _predict_outputs(self, X):
        """The head's outputs ``z`` (before ``output_scale_``) for ``X``."""
        check_is_fitted(self)
        dtype = self._free.dtype  # the model's own dtype, as MLPClassifier casts
        X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False, dtype=dtype,
                          ensure_all_finite=False)  # (see _row_checker)
        net = self._fitted_network(dtype, X.shape[0])
        return net.predict_outputs(X, self._row_checker(X))

    def layer_signals(self, X):
        """Look inside the fitted network: every layer's inputs, signals and gains.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input signals.

        Returns
        -------
        layers : list of Bunch
            One per layer of neurons (hidden layers, then the output layer),
            each with ``inputs`` (the neurons' inputs ``u``), ``signals``
            (their steady-state displacements ``s``), ``gains`` (``ds/du``
            from the reverse system) and ``dead`` (``gains == 0``: on a
            zero-gain piece), arrays of shape (n_samples, n_units).

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from sklearn_symnet import SymNetClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = SymNetClassifier(hidden_layer_sizes=(8,), max_iter=50,
        ...                        random_state=0).fit(X, y)
        >>> [layer.signals.shape for layer in clf.layer_signals(X[:5])]
        [(5, 8), (5, 6)]
        """
        check_is_fitted(self)
        dtype = self._free.dtype
        X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False, dtype=dtype)
        U, S, G = self._fitted_network(dtype, X.shape[0]).layer_signals(X)
        return [Bunch(inputs=u, signals=s, gains=g, dead=g == 0) for u, s, g in zip(U, S, G)]

    def _fitted_network(self, dtype, n_rows):
        """A network of the fitted (or assigned) coefficients, for prediction
        of ``n_rows`` rows."""
        coefs, intercepts = self._user_coefficients(dtype)
        head = OutputHead(self._n_head_outputs(), self._readout, self.output_scale_,
                          "squared")
        net = SymNetwork(self._layer_units, self._fitted_tables(), head, dtype, 0.0, None,
                         prediction_threads(self.n_jobs, n_rows * self._layer_units[0]
                                            * self._layer_units[1]), parameters=False)
        # prediction only reads the coefficients: the checked arrays themselves
        net.coefs, net.intercepts = coefs, intercepts
        return net

    def _n_head_outputs(self):
        width = self._layer_units[-1]
        return width // 2 if self._readout == "difference" else width

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
                "train at large steps with coupling='flux' (flux neurons never have a "
                "zero gain) or kink_start=0.", DeadNeuronWarning,
            )
        if len(dead_out):
            warnings.warn(
                f"Output neuron(s) {[int(k) for k in dead_out]} sat on a zero-gain piece "
                "for every sample of the last epoch and cannot recover (a rate-coupled "
                "neuron whose input element is extinct has zero gain). Lower "
                "learning_rate_init, or use flux-coupled output neurons "
                "(output_coupling='flux', flux_bound='branch').",
                DeadNeuronWarning,
            )

