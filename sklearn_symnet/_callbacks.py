"""Support of scikit-learn's (experimental) callback API: one task per epoch.

scikit-learn 1.9 added :mod:`sklearn.callback`: an estimator that inherits
``CallbackSupportMixin`` takes callbacks with ``set_callbacks`` (e.g.
``ProgressBar``, ``ScoringMonitor``), and meta-estimators such as
``GridSearchCV`` and ``Pipeline`` propagate theirs into it.  A fit is a tree of
tasks: here the root task is the call (``"fit"`` or ``"partial_fit"``) and its
subtasks are the epochs (``"epoch"``, at most ``max_iter`` of them; one for
``partial_fit``).  Each epoch task begins before the epoch runs and ends after
it with the training data, the sample weights and, lazily, a fitted copy of the
estimator as it is at that point (``fitted_estimator``: at every epoch's end and
at the begin of every epoch but the first); a callback whose ``on_fit_task_end``
returns True stops the fit after that epoch.

Everything lives here, so that the estimators need only

* :class:`CallbackSupport` among their bases,
* :func:`with_fit_callbacks` on the method that runs one fit
  (``BaseSymNet._fit_atomic``),
* ``self._callback_epochs_begin(history, target_state, *publish_args)`` once,
  just before the epoch loop (``publish_args``: the arguments of
  ``BaseSymNet._publish`` after the history, the target state and the epoch
  count), and
* ``if self._callback_epoch_end(n_iter): break`` once per epoch, after its
  bookkeeping and before the stopping tests.

With a scikit-learn without :mod:`sklearn.callback` (1.6 to 1.8) the class is
an inert mixin and the decorator returns the method unchanged: nothing changes.
An estimator without callbacks takes the same path as before too (one
attribute look-up per fit and per epoch).
"""

import copy
import functools
import inspect

try:  # scikit-learn >= 1.9
    from sklearn.callback import CallbackSupportMixin, with_callbacks
except ImportError:  # pragma: no cover - exercised with scikit-learn < 1.9
    CallbackSupportMixin = None
    with_callbacks = None

HAS_CALLBACKS = CallbackSupportMixin is not None

__all__ = ["HAS_CALLBACKS", "CallbackSupport", "with_fit_callbacks"]

_TASKS = "_symnet_epoch_tasks"  # the running fit's epoch tasks (during a fit only)


def _no_tasks():
    return None


class _EpochTasks:
    """The epoch subtasks of one fit: begun and ended around each epoch."""

    def __init__(self, context, X, y, metadata, max_epochs):
        self.context = context
        self.X, self.y, self.metadata = X, y, metadata
        self.max_epochs = max_epochs
        self.n_begun = 0
        self.current = None
        self.history = self.target_state = None
        self.publish_args = ()

    def __reduce__(self):
        # A callback may ship the estimator to another process mid-fit: the
        # running fit's state (data, network) stays here.
        return (_no_tasks, ())

    def _hooks(self, reconstruction):
        return dict(X=self.X, y=self.y, metadata=self.metadata,
                    reconstruction_attributes=reconstruction)

    def start(self, estimator, history, target_state, publish_args):
        self.history, self.target_state = history, target_state
        self.publish_args = publish_args
        # no fitted copy before the first epoch: the network has not run yet
        self._begin(estimator, None)

    def _begin(self, estimator, reconstruction):
        if self.n_begun >= self.max_epochs:
            self.current = None
            return
        self.n_begun += 1
        self.current = self.context.subcontext(task_name="epoch")
        self.current.call_on_fit_task_begin(estimator=estimator,
                                            **self._hooks(reconstruction))

    def end(self, estimator, n_iter):
        """End the running epoch (the ``n_iter``-th of this call) and begin the
        next one; True where a callback asks to stop."""
        if self.current is None:  # pragma: no cover - more epochs than announced
            return False
        # computed once, shared by this epoch's end and the next one's begin
        reconstruction = functools.cache(functools.partial(self._attributes, estimator,
                                                           n_iter))
        stop = self.current.call_on_fit_task_end(estimator=estimator,
                                                 **self._hooks(reconstruction))
        self.current = None
        if not stop:
            self._begin(estimator, reconstruction)
        return bool(stop)

    def close(self, estimator):
        """End an epoch begun but not run (the fit stopped before it) as an
        empty task, so that every begin has its end."""
        if self.current is not None:
            self.current.call_on_fit_task_end(estimator=estimator)
            self.current = None

    def _attributes(self, estimator, n_iter):
        """The fitted attributes of ``estimator`` as they would be were the fit
        to stop now (copies: training goes on with the network's arrays)."""
        scratch = copy.copy(estimator)
        scratch.__dict__.pop(_TASKS, None)
        scratch._publish(self.history, self.target_state, n_iter, *self.publish_args)
        old = estimator.__dict__
        new = {key: value for key, value in scratch.__dict__.items()
               if key not in old or old[key] is not value}
        new.pop("_table_cache", None)  # rebuilt from neuron_constants_ when needed
        new = copy.deepcopy(new)
        new[_TASKS] = None  # the copy is not the running fit
        return new


if HAS_CALLBACKS:

    class CallbackSupport(CallbackSupportMixin):
        """scikit-learn's ``CallbackSupportMixin`` (``set_callbacks``) and the
        two calls of the epoch loop."""

        def _callback_epochs_begin(self, history, target_state, *publish_args):
            """Just before the epoch loop: begin the first epoch's task."""
            tasks = self.__dict__.get(_TASKS)
            if tasks is not None:
                tasks.start(self, history, target_state, publish_args)

        def _callback_epoch_end(self, n_iter):
            """After each epoch: end its task (and begin the next one).  Returns
            True where a callback asks the fit to stop."""
            tasks = self.__dict__.get(_TASKS)
            return tasks is not None and tasks.end(self, n_iter)

    def with_fit_callbacks(fit_method):
        """Decorate the method that runs one fit, ``(self, X, y, sample_weight,
        classes, incremental)``: the root task of the callbacks around it, the
        callbacks' setup and teardown (via :func:`sklearn.callback.with_callbacks`),
        and the epoch tasks' bookkeeping."""
        signature = inspect.signature(fit_method)

        @with_callbacks
        def fit_with_callbacks(self, *args, **kwargs):
            call = signature.bind(self, *args, **kwargs)
            call.apply_defaults()
            arg = call.arguments
            X, y, sample_weight = arg["X"], arg["y"], arg.get("sample_weight")
            incremental = bool(arg.get("incremental", False))
            metadata = None if sample_weight is None else {"sample_weight": sample_weight}
            max_epochs = 1 if incremental else int(self.max_iter)
            context = self._init_callback_context(
                task_name="partial_fit" if incremental else "fit", max_subtasks=max_epochs)
            context.call_on_fit_task_begin(estimator=self, X=X, y=y, metadata=metadata)
            tasks = _EpochTasks(context, X, y, metadata, max_epochs)
            self.__dict__[_TASKS] = tasks
            try:
                result = fit_method(self, *args, **kwargs)
            finally:
                self.__dict__.pop(_TASKS, None)
            tasks.close(self)
            context.call_on_fit_task_end(estimator=self, X=X, y=y, metadata=metadata,
                                         reconstruction_attributes={})
            return result

        @functools.wraps(fit_method)
        def wrapper(self, *args, **kwargs):
            if not getattr(self, "_skl_callbacks", None):  # no callbacks: as before
                return fit_method(self, *args, **kwargs)
            return fit_with_callbacks(self, *args, **kwargs)

        return wrapper

else:  # pragma: no cover - scikit-learn < 1.9

    class CallbackSupport:
        """Inert without :mod:`sklearn.callback` (scikit-learn < 1.9)."""

        def _callback_epochs_begin(self, history, target_state, *publish_args):
            pass

        def _callback_epoch_end(self, n_iter):
            return False

    def with_fit_callbacks(fit_method):
        """Without :mod:`sklearn.callback`: the method itself."""
        return fit_method
