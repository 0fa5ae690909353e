"""scikit-learn's callback API (sklearn.callback, scikit-learn >= 1.9): a fit
is a root task ("fit" / "partial_fit") with one subtask per epoch.

Skipped with a scikit-learn without sklearn.callback (1.6 to 1.8), where the
rest of the suite runs the estimators through the inert fallback of
sklearn_symnet/_callbacks.py.
"""

import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_iris, make_friedman1
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler

import sklearn_symnet
from sklearn_symnet import SymNetClassifier, SymNetRegressor

callback = pytest.importorskip("sklearn.callback")  # scikit-learn >= 1.9

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


class Recorder:
    """Records every hook call: (hook, estimator name, task name, task id, the
    hook's data).  With ``propagate`` it is an auto-propagated callback, set
    on a meta-estimator and passed down to the SymNet estimators."""

    def __init__(self, stop_after=None, propagate=False):
        self.log = []
        self.stop_after = stop_after
        if propagate:
            self.max_propagation_depth = None

    def setup(self, estimator, context):
        self.log.append(("setup", context.estimator_name, context.task_name, None, None))

    def teardown(self, estimator, context):
        self.log.append(("teardown", context.estimator_name, context.task_name, None, None))

    def _record(self, hook, context, **data):
        self.log.append((hook, context.estimator_name, context.task_name, context.task_id,
                         data))

    def on_fit_task_begin(self, estimator, context, *, X=None, y=None, metadata=None,
                          fitted_estimator=None):
        self._record("begin", context, X=X, y=y, metadata=metadata,
                     fitted=fitted_estimator, parent=context.parent)

    def on_fit_task_end(self, estimator, context, *, X=None, y=None, metadata=None,
                        fitted_estimator=None):
        self._record("end", context, X=X, y=y, metadata=metadata,
                     fitted=fitted_estimator, parent=context.parent)
        return (self.stop_after is not None and context.task_name == "epoch"
                and context.task_id + 1 == self.stop_after)

    def events(self, estimator_name=None):
        return [e[:4] for e in self.log if estimator_name in (None, e[1])]

    def epoch_ends(self):
        return [e for e in self.log if e[0] == "end" and e[2] == "epoch"]


def _iris():
    X, y = load_iris(return_X_y=True)
    return X / X.max(axis=0), y


def _friedman():
    return make_friedman1(n_samples=150, n_features=5, random_state=0)


ESTIMATORS = [
    ("classifier", lambda **kw: SymNetClassifier(hidden_layer_sizes=(8,), random_state=0,
                                                 learning_rate_init=0.05, **kw), _iris),
    ("regressor", lambda **kw: SymNetRegressor(hidden_layer_sizes=(8,), random_state=0,
                                               **kw), _friedman),
]
IDS = [e[0] for e in ESTIMATORS]


def _same_model(a, b):
    for u, v in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_array_equal(u, v)


def test_the_estimators_take_callbacks():
    for est in (SymNetClassifier(), SymNetRegressor()):
        assert isinstance(est, callback.CallbackSupportMixin)
        assert est.set_callbacks(Recorder()) is est


@pytest.mark.parametrize("name, make, data", ESTIMATORS, ids=IDS)
def test_fit_is_one_task_per_epoch(name, make, data):
    X, y = data()
    rec = Recorder()
    sw = np.linspace(0.5, 1.5, X.shape[0])
    est = make(max_iter=4).set_callbacks(rec).fit(X, y, sample_weight=sw)
    est_name = type(est).__name__
    epochs = [e for i in range(4) for e in (("begin", est_name, "epoch", i),
                                            ("end", est_name, "epoch", i))]
    assert rec.events() == ([("setup", est_name, "fit", None), ("begin", est_name, "fit", 0)]
                            + epochs
                            + [("end", est_name, "fit", 0), ("teardown", est_name, "fit", None)])
    for _, _, task, _, data_ in rec.log[1:-1]:
        # every task gets the user's data and sample weights
        assert data_["X"] is X and data_["y"] is y
        assert data_["metadata"]["sample_weight"] is sw
        if task == "epoch":
            assert data_["parent"].task_name == "fit"
    # the fit's own state holds nothing of the callbacks' once it returns
    assert not any(k.startswith(("_callback", "_symnet_epoch")) for k in vars(est))


@pytest.mark.parametrize("name, make, data", ESTIMATORS, ids=IDS)
def test_fitted_estimator_of_an_epoch_is_the_model_after_it(name, make, data):
    X, y = data()
    rec = Recorder()
    est = make(max_iter=3).set_callbacks(rec).fit(X, y)
    ends = rec.epoch_ends()
    assert len(ends) == 3
    for k, (*_, data_) in enumerate(ends):
        fitted = data_["fitted"]
        assert fitted is not est and fitted.n_iter_ == k + 1
        assert len(fitted.loss_curve_) == k + 1
        # bit-identical to a fit stopped after k + 1 epochs
        short = make(max_iter=k + 1).fit(X, y)
        _same_model(fitted, short)
        np.testing.assert_array_equal(fitted.predict(X), short.predict(X))
        assert fitted.loss_curve_ == short.loss_curve_
        # every fitted attribute, as the fit stopped there publishes it
        assert fitted.n_outputs_ == short.n_outputs_
        assert fitted.best_loss_ == short.best_loss_ and fitted.t_ == short.t_
    # the next epoch begins from the model the previous one ended with
    begins = [e for e in rec.log if e[0] == "begin" and e[2] == "epoch"]
    assert begins[0][4]["fitted"] is None  # nothing fitted before the first epoch
    for (*_, b), (*_, e) in zip(begins[1:], ends[:-1]):
        _same_model(b["fitted"], e["fitted"])
    # the last epoch's model is the fitted one, and callbacks did not change it
    _same_model(ends[-1][4]["fitted"], est)
    plain = make(max_iter=3).fit(X, y)
    _same_model(est, plain)
    assert est.loss_curve_ == plain.loss_curve_


@pytest.mark.parametrize("name, make, data", ESTIMATORS, ids=IDS)
def test_partial_fit_is_one_epoch_task(name, make, data):
    X, y = data()
    rec = Recorder()
    est = make().set_callbacks(rec)
    kw = {"classes": np.unique(y)} if name == "classifier" else {}
    est.partial_fit(X, y, **kw)
    est.partial_fit(X, y)
    est_name = type(est).__name__
    one = [("setup", est_name, "partial_fit", None), ("begin", est_name, "partial_fit", 0),
           ("begin", est_name, "epoch", 0), ("end", est_name, "epoch", 0),
           ("end", est_name, "partial_fit", 0), ("teardown", est_name, "partial_fit", None)]
    assert rec.events() == one + one
    assert [e[4]["fitted"].t_ for e in rec.epoch_ends()] == [X.shape[0], 2 * X.shape[0]]
    assert rec.epoch_ends()[-1][4]["fitted"].loss_curve_ == est.loss_curve_


@pytest.mark.parametrize("early_stopping", [False, True], ids=["loss", "validation"])
def test_stopping_early_closes_the_epoch_that_did_not_run(early_stopping):
    X, y = _iris()
    rec = Recorder()
    est = SymNetClassifier(hidden_layer_sizes=(8,), max_iter=50, tol=10.0,
                           n_iter_no_change=2, early_stopping=early_stopping,
                           random_state=0).set_callbacks(rec).fit(X, y)
    n = est.n_iter_
    assert n == 4 < est.max_iter  # one better epoch, then n_iter_no_change + 1 worse
    begins = [e for e in rec.log if e[0] == "begin" and e[2] == "epoch"]
    ends = rec.epoch_ends()
    assert [e[3] for e in begins] == [e[3] for e in ends] == list(range(n + 1))
    assert all(e[4]["fitted"] is not None for e in ends[:n])
    last = ends[n][4]  # begun, never run: an empty task
    assert last["X"] is None and last["fitted"] is None
    if early_stopping:
        scores = [e[4]["fitted"].validation_scores_ for e in ends[:n]]
        assert scores == [est.validation_scores_[: k + 1] for k in range(n)]


def test_a_callback_can_stop_the_fit():
    X, y = _iris()
    rec = Recorder(stop_after=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # not "max_iter reached"
        est = SymNetClassifier(hidden_layer_sizes=(8,), max_iter=10,
                               random_state=0).set_callbacks(rec).fit(X, y)
    assert est.n_iter_ == 3 and len(est.loss_curve_) == 3
    assert [e[3] for e in rec.epoch_ends()] == [0, 1, 2]  # no epoch begun after
    _same_model(est, SymNetClassifier(hidden_layer_sizes=(8,), max_iter=3,
                                      random_state=0).fit(X, y))


def test_a_failing_fit_tears_the_callbacks_down():
    X, y = _iris()
    rec = Recorder()
    est = SymNetClassifier(max_iter=3).set_callbacks(rec)
    X_bad = X.copy()
    X_bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        est.fit(X_bad, y)
    # X is not scanned before training: the first epoch's first-layer product
    # finds the NaN, and the callbacks are torn down from there
    assert rec.events() == [("setup", "SymNetClassifier", "fit", None),
                            ("begin", "SymNetClassifier", "fit", 0),
                            ("begin", "SymNetClassifier", "epoch", 0),
                            ("teardown", "SymNetClassifier", "fit", None)]
    assert not hasattr(est, "coefs_")
    assert set(vars(est)) == set(vars(SymNetClassifier(max_iter=3))) | {"_skl_callbacks"}
    est.fit(X, y)  # and the estimator fits afterwards
    assert len(rec.epoch_ends()) == 3


def test_verbose_still_prints_mlp_lines(capsys):
    X, y = _iris()
    SymNetClassifier(hidden_layer_sizes=(8,), max_iter=3, verbose=True,
                     random_state=0).set_callbacks(Recorder()).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(",")[0] for line in lines] == [f"Iteration {k}" for k in (1, 2, 3)]
    assert all(", loss = " in line for line in lines)


@pytest.mark.parametrize("in_pipeline", [False, True], ids=["estimator", "pipeline"])
def test_grid_search_propagates_callbacks_into_the_epochs(in_pipeline):
    X, y = _iris()
    est = SymNetClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    grid = {"K1": [0.3, 0.8]}
    if in_pipeline:
        est = Pipeline([("scale", MinMaxScaler()), ("clf", est)])
        grid = {"clf__K1": grid["K1"]}
    rec = Recorder(propagate=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The estimator MinMaxScaler does not")
        warnings.filterwarnings("error", message="The estimator SymNet.* does not support")
        gs = GridSearchCV(est, grid, cv=2).set_callbacks(rec).fit(X, y)
    ends = rec.epoch_ends()
    assert len(ends) == (2 * 2 + 1) * 3  # (candidates x folds + refit) x epochs
    assert {e[1] for e in ends} == {"SymNetClassifier"}
    fits = [e for e in rec.log if e[0] == "end" and e[1] == "SymNetClassifier"
            and e[2] == "fit"]
    assert len(fits) == 5
    # each SymNet fit is attached to the search's task tree
    for *_, data_ in ends:
        assert data_["parent"].task_name == "fit"
        assert data_["parent"].root_uuid == ends[0][4]["parent"].root_uuid
    refit = ends[-1][4]["fitted"]
    best = gs.best_estimator_[-1] if in_pipeline else gs.best_estimator_
    _same_model(refit, best)


def test_scoring_monitor_logs_every_epoch():
    X, y = _iris()
    monitor = callback.ScoringMonitor(scoring="accuracy")
    SymNetClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0,
                     learning_rate_init=0.05).set_callbacks(monitor).fit(X, y)
    rows = [r for r in monitor.get_logs().data if r["task_name"] == "epoch"]
    assert [r["task_id"] for r in rows] == [0, 1, 2]
    for k, row in enumerate(rows):
        short = SymNetClassifier(hidden_layer_sizes=(8,), max_iter=k + 1, random_state=0,
                                 learning_rate_init=0.05).fit(X, y)
        assert row["accuracy"] == short.score(X, y)


def test_scoring_monitor_in_a_parallel_grid_search():
    """Callbacks of SymNet fits run in joblib's worker processes report back."""
    X, y = _iris()
    monitor = callback.ScoringMonitor(scoring="accuracy")
    est = SymNetClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=0)
    GridSearchCV(est.set_callbacks(monitor), {"K1": [0.3, 0.8]}, cv=2,
                 n_jobs=2).fit(X, y)
    rows = [r for r in monitor.get_logs(select="all")[-1].data
            if r["task_name"] == "epoch"]
    assert len(rows) == (2 * 2 + 1) * 2
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in rows)


def test_progress_bar(capsys):
    pytest.importorskip("rich")
    X, y = _iris()
    est = SymNetClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    GridSearchCV(est, {"K1": [0.3, 0.8]}, cv=2).set_callbacks(
        callback.ProgressBar(max_propagation_depth=None)).fit(X, y)
    out = capsys.readouterr().out
    assert "GridSearchCV - fit" in out
    assert "SymNetClassifier - fit" in out
    assert "100%" in out


def test_without_sklearn_callback_the_estimators_are_as_before(tmp_path):
    """scikit-learn 1.6 - 1.8 have no sklearn.callback: the support is inert."""
    package_parent = str(Path(sklearn_symnet.__file__).resolve().parents[1])
    code = textwrap.dedent(f"""
        import sys, warnings
        sys.path.insert(0, {package_parent!r})
        import sklearn_symnet  # scikit-learn's modules it needs, imported as usual
        for name in [m for m in sys.modules if m.startswith("sklearn_symnet")]:
            del sys.modules[name]
        saved = sys.modules["sklearn.callback"]
        sys.modules["sklearn.callback"] = None  # importing it fails, as before 1.9
        from sklearn_symnet import _callbacks, SymNetClassifier
        sys.modules["sklearn.callback"] = saved  # scikit-learn's own code needs it
        assert not _callbacks.HAS_CALLBACKS
        warnings.simplefilter("ignore")
        from sklearn.datasets import load_iris
        X, y = load_iris(return_X_y=True)
        est = SymNetClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
        assert not hasattr(est, "set_callbacks")
        est.fit(X / 8, y).partial_fit(X / 8, y)
        print(repr(est.coefs_[0].sum()))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    X, y = load_iris(return_X_y=True)
    est = SymNetClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    est.fit(X / 8, y).partial_fit(X / 8, y)
    assert out.stdout.strip() == repr(est.coefs_[0].sum())
