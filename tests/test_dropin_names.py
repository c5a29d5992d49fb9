"""The drop-in names: code written for scikit-learn's MLP runs unchanged when
only the import is swapped, step names and parameter grids included."""

import pickle

import pytest
import sklearn.neural_network
from sklearn.base import clone
from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skscratch
from skscratch import (
    MLPClassifier,
    MLPRegressor,
    ScratchMLPClassifier,
    ScratchMLPRegressor,
)

# A script written for scikit-learn; {module} is the only thing that changes.
SCRIPT = """
from {module} import MLPClassifier
from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

X, y = load_iris(return_X_y=True)
pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=300, random_state=0))
search = GridSearchCV(pipe, {{"mlpclassifier__alpha": [1e-4, 1e-2]}}, cv=2)
search.fit(X, y)
result = (sorted(search.best_params_), list(search.best_estimator_.named_steps))
"""


def _run(module):
    namespace = {}
    exec(SCRIPT.format(module=module), namespace)
    return namespace["result"]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_scikit_learn_script_runs_with_only_the_import_changed():
    assert _run("skscratch") == _run("sklearn.neural_network")


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (MLPClassifier, sklearn.neural_network.MLPClassifier),
        (MLPRegressor, sklearn.neural_network.MLPRegressor),
    ],
)
def test_names_reprs_and_step_names_match_scikit_learn(ours, theirs):
    assert ours.__name__ == theirs.__name__
    assert repr(ours()) == repr(theirs())
    assert list(make_pipeline(ours()).named_steps) == list(
        make_pipeline(theirs()).named_steps
    )
    assert ours().__class__.__name__ in ours()._repr_html_()


@pytest.mark.parametrize(
    ("scratch", "dropin"),
    [(ScratchMLPClassifier, MLPClassifier), (ScratchMLPRegressor, MLPRegressor)],
)
def test_skscratch_names_are_the_same_estimators(scratch, dropin):
    assert issubclass(scratch, dropin)
    assert scratch().get_params() == dropin().get_params()
    assert make_pipeline(scratch()).steps[0][0] == scratch.__name__.lower()
    assert type(clone(scratch(alpha=0.5))) is scratch
    assert {"MLPClassifier", "ScratchMLPClassifier"} <= set(skscratch.__all__)


def test_both_names_fit_the_same_model_and_pickle_as_themselves():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    a = MLPClassifier(solver="lbfgs", max_iter=50, random_state=0).fit(X, y)
    b = ScratchMLPClassifier(solver="lbfgs", max_iter=50, random_state=0).fit(X, y)
    for left, right in zip(a.coefs_, b.coefs_, strict=True):
        assert (left == right).all()
    restored = pickle.loads(pickle.dumps(b))
    assert type(restored) is ScratchMLPClassifier
    assert (restored.predict_proba(X) == b.predict_proba(X)).all()


def test_grid_over_drop_in_step_name():
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(solver="lbfgs"))
    search = GridSearchCV(pipe, {"mlpclassifier__alpha": [1e-3, 1.0]}, cv=2)
    search.fit(X, y)
    assert set(search.best_params_) == {"mlpclassifier__alpha"}
