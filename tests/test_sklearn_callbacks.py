"""scikit-learn's own callback API (``sklearn.callback``, 1.9 and later) on
the MLPs, alongside their ``callbacks`` parameter."""

import pickle
import re
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import sklearn
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.fixes import parse_version

from skscratch import MLPClassifier, MLPEmbedding, MLPRegressor
from skscratch.callbacks import History

SKLEARN_1_9 = parse_version(sklearn.__version__).release[:2] >= (1, 9)
needs_sklearn_callbacks = pytest.mark.skipif(
    not SKLEARN_1_9, reason="scikit-learn's callback API is new in 1.9"
)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:360], y[:360]


class Recorder:
    """A scikit-learn callback, set on one estimator only, that keeps
    ``(hook, estimator, task)`` for every hook call, and asks to stop once
    ``stop_after`` epochs ended."""

    def __init__(self, stop_after=None):
        self.stop_after = stop_after
        self.calls = []

    def setup(self, estimator, context):
        self.calls.append(("setup", type(estimator).__name__, context.task_name))

    def on_fit_task_begin(self, estimator, context):
        self.calls.append(("begin", type(estimator).__name__, context.task_name))

    def on_fit_task_end(self, estimator, context, *, fitted_estimator=None):
        scored = fitted_estimator is not None
        self.calls.append(("end", type(estimator).__name__, context.task_name, scored))
        return self.stop_after is not None and self.count("end", "epoch") >= (
            self.stop_after
        )

    def teardown(self, estimator, context):
        self.calls.append(("teardown", type(estimator).__name__, context.task_name))

    def count(self, hook, task_name):
        return sum(c[0] == hook and c[2] == task_name for c in self.calls)


class PropagatedRecorder(Recorder):
    """The same, set on a meta-estimator and passed on to every estimator
    inside it."""

    max_propagation_depth = None


def _search(solver, max_iter=4):
    mlp = MLPClassifier(
        hidden_layer_sizes=(8,), solver=solver, max_iter=max_iter, random_state=0
    )
    return GridSearchCV(
        make_pipeline(StandardScaler(), mlp),
        {"mlpclassifier__alpha": [1e-4, 1e-1]},
        cv=2,
    )


@needs_sklearn_callbacks
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_progress_bar_of_a_nested_search_goes_down_to_the_epochs(
    digits, solver, capsys
):
    pytest.importorskip("rich")
    from sklearn.callback import ProgressBar

    X, y = digits
    search = _search(solver).set_callbacks(ProgressBar(max_propagation_depth=None))
    search.fit(X, y)
    out = capsys.readouterr().out
    # 2 candidates x 2 folds, then the refit: one bar per fit of the MLP.
    bars = re.findall(r"Pipeline - fit-final-estimator \| MLPClassifier - fit", out)
    assert len(bars) == 5
    assert "100%" in out
    assert not re.search(r"\b[0-9]{1,2}%", out)  # every bar completed


@needs_sklearn_callbacks
@pytest.mark.parametrize(
    ("solver", "task_name"), [("adam", "epoch"), ("lbfgs", "lbfgs-iter")]
)
def test_the_task_tree_reaches_every_epoch_and_iteration(digits, solver, task_name):
    X, y = digits
    recorder = PropagatedRecorder()
    search = _search(solver, max_iter=3).set_callbacks(recorder)
    search.fit(X, y)
    n_iter = search.best_estimator_[-1].n_iter_
    assert n_iter == 3
    # Every task begun ends, and each of the 5 fits has its epochs.
    assert recorder.count("begin", task_name) == recorder.count("end", task_name)
    scored = [c for c in recorder.calls if c[:3] == ("end", "MLPClassifier", task_name)]
    assert sum(c[3] for c in scored) == 5 * n_iter
    if solver == "lbfgs":  # begun ahead, as LogisticRegression's: one never runs
        assert len(scored) == 5 * (n_iter + 1)
    assert recorder.count("end", "fit") >= 5
    # Set up and torn down once, by the search.
    assert [c[1] for c in recorder.calls if c[0] in ("setup", "teardown")] == [
        "GridSearchCV",
        "GridSearchCV",
    ]


@needs_sklearn_callbacks
@pytest.mark.parametrize("solver", ["sgd", "lbfgs"])
def test_scoring_monitor_watches_the_epochs(digits, solver):
    from sklearn.callback import ScoringMonitor

    X, y = digits
    X = X / 16
    monitor = ScoringMonitor(scoring="accuracy")
    clf = MLPClassifier(
        hidden_layer_sizes=(16,),
        solver=solver,
        learning_rate_init=0.1,
        max_iter=6,
        random_state=0,
    ).set_callbacks(monitor)
    clf.fit(X, y)
    log = monitor.get_logs().data
    epochs = [row["accuracy"] for row in log if row["task_id_path"] != (0,)]
    assert len(epochs) == clf.n_iter_ == 6
    assert epochs[-1] > epochs[0] + 0.2  # it learns, epoch by epoch
    # The last epoch's model is the fitted one, and so is the fit's row.
    final = [row["accuracy"] for row in log if row["task_id_path"] == (0,)]
    assert final == [clf.score(X, y)]
    assert epochs[-1] == pytest.approx(clf.score(X, y))


@needs_sklearn_callbacks
def test_scoring_monitor_on_a_model_fitted_with_column_names(digits):
    pd = pytest.importorskip("pandas")
    from sklearn.callback import ScoringMonitor

    X, y = digits
    X = pd.DataFrame(X / 16, columns=[f"pixel{i}" for i in range(64)])
    monitor = ScoringMonitor(scoring="accuracy")
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    with warnings.catch_warnings():
        # The hooks score the validated array: no warning that the model
        # was fitted with feature names, epoch after epoch.
        warnings.filterwarnings("error", message=".*feature names")
        clf.set_callbacks(monitor).fit(X, y)
    assert len(monitor.get_logs().data) == 3 + 1
    assert list(clf.feature_names_in_[:2]) == ["pixel0", "pixel1"]


@needs_sklearn_callbacks
def test_scoring_monitor_on_the_mlp_inside_a_search(digits):
    from sklearn.callback import ScoringMonitor

    X, y = digits
    monitor = ScoringMonitor(scoring="accuracy")
    search = _search("adam", max_iter=3)
    search.estimator[-1].set_callbacks(monitor)
    search.fit(X, y)
    log = monitor.get_logs()
    assert log.estimator_name == "GridSearchCV"  # one run: the search's
    epochs = [row for row in log.data if row["task_name"] == "epoch"]
    assert len(epochs) == 5 * 3
    assert {row["estimator_name"] for row in epochs} == {"MLPClassifier"}
    assert all(0 <= row["accuracy"] <= 1 for row in epochs)


@needs_sklearn_callbacks
def test_both_kinds_of_callbacks_share_one_loop(digits):
    X, y = digits
    history = History()
    recorder = Recorder(stop_after=2)
    clf = MLPRegressor(
        hidden_layer_sizes=(8,), max_iter=10, callbacks=[history], random_state=0
    ).set_callbacks(recorder)
    clf.fit(X / 16, y)
    # scikit-learn's callback asked to stop after the second epoch: the same
    # loop that reports to ours stopped there.
    assert clf.n_iter_ == 2
    assert [r.epoch for r in history.records] == [1, 2]
    assert recorder.count("end", "epoch") == 2
    # Ours can stop it too, with scikit-learn's callbacks told.
    recorder = Recorder()
    clf = MLPRegressor(
        hidden_layer_sizes=(8,),
        max_iter=10,
        callbacks=[lambda est, record: record.epoch == 3],
        random_state=0,
    ).set_callbacks(recorder)
    clf.fit(X / 16, y)
    assert clf.n_iter_ == 3
    assert recorder.count("end", "epoch") == 3
    assert recorder.count("end", "fit") == 1


@needs_sklearn_callbacks
def test_partial_fit_is_a_task_of_one_epoch(digits):
    X, y = digits
    recorder = Recorder()
    clf = MLPClassifier(hidden_layer_sizes=(8,), random_state=0)
    clf.set_callbacks(recorder)
    clf.partial_fit(X / 16, y, classes=np.unique(y))
    clf.partial_fit(X / 16, y)
    assert recorder.count("end", "epoch") == 2
    assert recorder.count("setup", "fit") == recorder.count("teardown", "fit") == 2


@needs_sklearn_callbacks
def test_a_failed_fit_tears_the_callbacks_down(digits):
    X, y = digits
    recorder = Recorder()

    def fail_at_two(estimator, record):
        if record.epoch == 2:
            raise RuntimeError("stop here")

    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    clf.set_callbacks(recorder).fit(X / 16, y)
    before = [W.copy() for W in clf.coefs_]
    clf.set_params(callbacks=[fail_at_two], random_state=1)
    with pytest.raises(RuntimeError, match="stop here"):
        clf.fit(X / 16, y)
    # Left as it was, callbacks included, and scikit-learn's torn down.
    assert all(np.array_equal(a, b) for a, b in zip(before, clf.coefs_, strict=True))
    assert clf._skl_callbacks == [recorder]
    assert not hasattr(clf, "_callback_fit_ctx")
    assert recorder.count("teardown", "fit") == 2


@needs_sklearn_callbacks
def test_set_callbacks_is_no_parameter_and_survives_clone_and_pickle(digits):
    from sklearn.callback import ScoringMonitor

    X, y = digits
    monitor = ScoringMonitor(scoring="accuracy")
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    assert clf.set_callbacks(monitor) is clf
    assert "set_callbacks" not in clf.get_params()
    assert "_skl_callbacks" not in clf.get_params()
    assert clone(clf)._skl_callbacks[0] is monitor  # by reference, as designed
    clf.fit(X / 16, y)
    restored = pickle.loads(pickle.dumps(clf))
    assert np.array_equal(restored.predict(X / 16), clf.predict(X / 16))
    assert isinstance(restored._skl_callbacks[0], ScoringMonitor)
    with pytest.raises(TypeError, match="FitCallback protocol"):
        clf.set_callbacks(History())  # ours go to the callbacks parameter


@needs_sklearn_callbacks
def test_the_embedding_passes_callbacks_on_to_its_network(digits):
    X, y = digits
    recorder = PropagatedRecorder()
    mlp = MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    MLPEmbedding(mlp).set_callbacks(recorder).fit(X / 16, y)
    assert recorder.count("end", "epoch") == 3
    assert ("end", "MLPEmbedding", "fit", False) in recorder.calls


@needs_sklearn_callbacks
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")
@pytest.mark.filterwarnings("ignore:'mkldnn' is no longer used")
def test_estimator_checks_pass_with_callbacks_set():
    from sklearn.utils.estimator_checks import check_estimator

    recorder = Recorder()
    clf = MLPClassifier(hidden_layer_sizes=(5,), solver="lbfgs", random_state=0)
    results = check_estimator(clf.set_callbacks(recorder), on_fail=None)
    failed = [r["check_name"] for r in results if r["status"] == "failed"]
    assert failed == []
    assert recorder.count("end", "lbfgs-iter") > 0  # the checks' fits reported


def test_without_the_callback_api_nothing_is_added():
    # scikit-learn < 1.9, simulated where a newer one is installed: the
    # package imports, fits, and runs its own callbacks; set_callbacks is
    # simply absent.
    script = textwrap.dedent(
        """
        # scikit-learn's own estimators need the mixin: import them first.
        import sklearn.callback, sklearn.model_selection, sklearn.pipeline
        del sklearn.callback.CallbackSupportMixin  # as before scikit-learn 1.9
        import numpy as np
        from skscratch import MLPClassifier, MLPEmbedding
        from skscratch.callbacks import SKLEARN_CALLBACKS, History
        assert not SKLEARN_CALLBACKS
        history = History()
        X = np.random.RandomState(0).normal(size=(40, 3))
        y = (X[:, 0] > 0).astype(int)
        for solver in ("adam", "lbfgs"):
            clf = MLPClassifier(
                hidden_layer_sizes=(4,), max_iter=3, solver=solver,
                callbacks=[history], random_state=0,
            )
            clf.fit(X, y)
            assert not hasattr(clf, "set_callbacks")
        MLPEmbedding(clf).fit(X, y).transform(X)
        assert len(history.records) == 6, history.records
        print("ok")
        """
    )
    if not SKLEARN_1_9:
        script = script.replace(
            "import sklearn.callback, sklearn.model_selection, sklearn.pipeline", "pass"
        ).replace("del sklearn.callback.CallbackSupportMixin", "pass")
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
