"""DataFrames (pandas, polars) and metadata routing of sample_weight.

Feature names must behave exactly as with scikit-learn's own MLP: the same
``feature_names_in_``, the same warnings and errors, with the class name the
only difference.
"""

import re
import warnings

import numpy as np
import pytest
import sklearn
from sklearn.base import clone
from sklearn.exceptions import UnsetMetadataPassedError
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.fixes import parse_version

from skscratch import ScratchMLPClassifier, ScratchMLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
PAIRS = [
    (ScratchMLPClassifier, MLPClassifier),
    (ScratchMLPRegressor, MLPRegressor),
]


def _frame(library, X, columns=COLUMNS):
    if library == "pandas":
        pd = pytest.importorskip("pandas", reason="needs pandas (the test extra)")
        return pd.DataFrame(X, columns=columns)
    pl = pytest.importorskip(
        "polars", reason='needs the polars extra: pip install "skscratch[polars]"'
    )
    return pl.DataFrame(X, schema=columns)


def _select(library, frame, columns):
    return frame[columns] if library == "pandas" else frame.select(columns)


def _target(library, values):
    if library == "pandas":
        import pandas as pd

        return pd.Series(values, name="target")
    import polars as pl

    return pl.Series("target", values)


def _outcome(call):
    """What ``call()`` does about feature names: the messages of the
    warnings it gives and of the error it raises, if any."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            call()
            error = None
        except ValueError as exc:
            error = str(exc)
    messages = [str(w.message) for w in caught if "feature names" in str(w.message)]
    return messages, error


@pytest.mark.parametrize("library", ["pandas", "polars"])
@pytest.mark.parametrize(("ours", "theirs"), PAIRS)
def test_feature_names_as_scikit_learn(library, ours, theirs, iris):
    X, y = iris
    df = _frame(library, X)
    target = _target(library, y if ours is ScratchMLPClassifier else X[:, 0])
    params = dict(hidden_layer_sizes=(4,), max_iter=3, random_state=0)
    ours, theirs = ours(**params).fit(df, target), theirs(**params).fit(df, target)
    np.testing.assert_array_equal(ours.feature_names_in_, COLUMNS)
    assert ours.feature_names_in_.dtype == object  # as scikit-learn stores them
    assert ours.n_features_in_ == 4

    renamed = _frame(library, X, ["length", *COLUMNS[1:]])
    reordered = _select(library, df, COLUMNS[::-1])
    without_names = np.asarray(X)
    cases = {
        "same names": lambda est: est.predict(df),
        "no names": lambda est: est.predict(without_names),
        "renamed": lambda est: est.predict(renamed),
        "reordered": lambda est: est.predict(reordered),
        "partial_fit renamed": lambda est: (
            clone(est)
            .set_params(solver="sgd")
            .fit(df, target)
            .partial_fit(renamed, target)
        ),
    }
    for case, call in cases.items():
        warned, error = _outcome(lambda call=call: call(ours))
        # The same messages as scikit-learn's, up to the class name.
        theirs_warned, theirs_error = _outcome(lambda call=call: call(theirs))
        ours_name, theirs_name = type(ours).__name__, type(theirs).__name__
        assert [m.replace(ours_name, theirs_name) for m in warned] == theirs_warned
        assert (error and error.replace(ours_name, theirs_name)) == theirs_error
        if case == "same names":
            assert (warned, error) == ([], None)
        elif case == "no names":
            assert re.search("does not have valid feature names", warned[0])
            assert error is None
        else:  # scikit-learn makes mismatched names an error, not a warning
            assert "feature names should match" in error

    # Fitted without names, given names: a warning, as scikit-learn gives.
    plain = clone(ours).fit(without_names, np.asarray(target))
    with pytest.warns(UserWarning, match="fitted without feature names"):
        plain.predict(df)


@pytest.mark.parametrize("library", ["pandas", "polars"])
def test_dataframes_give_the_model_numpy_gives(library, iris):
    X, y = iris
    X = X.astype(np.float32)
    df = _frame(library, X)
    params = dict(hidden_layer_sizes=(4,), max_iter=5, random_state=0)
    from_frame = ScratchMLPClassifier(**params).fit(df, _target(library, y))
    # A float32 frame trains a float32 network, from polars too (whose column
    # types scikit-learn's check_array does not read: its own MLP goes
    # float64 there).
    sklearn_dtype = MLPClassifier(**params).fit(df, y).coefs_[0].dtype
    assert sklearn_dtype == (np.float32 if library == "pandas" else np.float64)
    assert from_frame.coefs_[0].dtype == np.float32
    from_array = ScratchMLPClassifier(**params).fit(X, y)
    np.testing.assert_array_equal(from_frame.coefs_[0], from_array.coefs_[0])
    np.testing.assert_array_equal(
        from_frame.predict_proba(df), from_array.predict_proba(X)
    )
    assert from_frame.predict_proba(df).dtype == np.float32


# -- metadata routing --------------------------------------------------------------


@pytest.fixture
def routing():
    with sklearn.config_context(enable_metadata_routing=True):
        yield


def _weighted_problem(iris):
    X, y = iris
    weights = np.random.RandomState(0).randint(0, 4, size=len(y)).astype(float)
    return X, y, weights


@pytest.mark.usefixtures("routing")
@pytest.mark.parametrize("Estimator", [ScratchMLPClassifier, ScratchMLPRegressor])
def test_sample_weight_routes_through_pipeline_and_grid_search(Estimator, iris):
    X, y, w = _weighted_problem(iris)
    if Estimator is ScratchMLPRegressor:
        y = X[:, 0] - X[:, 1]
    est = Estimator(
        solver="lbfgs", hidden_layer_sizes=(5,), max_iter=30, random_state=0
    )
    name = type(est).__name__.lower()

    def pipeline(requested):
        return make_pipeline(
            StandardScaler().set_fit_request(sample_weight=False),
            clone(est)
            .set_fit_request(sample_weight=requested)
            .set_score_request(sample_weight=requested),
        )

    # Through a Pipeline: the weights reach our fit, and only it.
    routed = pipeline(True).fit(X, y, sample_weight=w)
    with sklearn.config_context(enable_metadata_routing=False):
        by_hand = make_pipeline(StandardScaler(), clone(est)).fit(
            X, y, **{f"{name}__sample_weight": w}
        )
        unweighted = make_pipeline(StandardScaler(), clone(est)).fit(X, y)
    np.testing.assert_array_equal(routed[-1].coefs_[0], by_hand[-1].coefs_[0])
    assert not np.array_equal(routed[-1].coefs_[0], unweighted[-1].coefs_[0])

    # Through GridSearchCV around that Pipeline: to fit and to score on every
    # split, and to the final refit.
    if parse_version(sklearn.__version__) < parse_version("1.8"):
        pytest.skip(
            "scikit-learn < 1.8 asks Pipeline.score itself for a score request "
            "under GridSearchCV, whatever the final step (its own MLP too)"
        )
    grid = {f"{name}__alpha": [1e-4, 1e-1]}
    cv = KFold(3, shuffle=True, random_state=0)
    search = GridSearchCV(pipeline(True), grid, cv=cv).fit(X, y, sample_weight=w)
    unweighted = GridSearchCV(pipeline(True), grid, cv=cv).fit(X, y)
    assert not np.array_equal(
        search.cv_results_["mean_test_score"],
        unweighted.cv_results_["mean_test_score"],
    )
    best = search.best_params_[f"{name}__alpha"]
    with sklearn.config_context(enable_metadata_routing=False):
        refit = make_pipeline(StandardScaler(), clone(est).set_params(alpha=best))
        refit.fit(X, y, **{f"{name}__sample_weight": w})
        # The score of the first split, by hand, with the weights.
        train, test = next(cv.split(X))
        first = make_pipeline(StandardScaler(), clone(est).set_params(alpha=1e-4))
        first.fit(X[train], y[train], **{f"{name}__sample_weight": w[train]})
        score = first.score(X[test], y[test], sample_weight=w[test])
    np.testing.assert_array_equal(
        search.best_estimator_[-1].coefs_[0], refit[-1].coefs_[0]
    )
    assert search.cv_results_["split0_test_score"][0] == pytest.approx(score)


@pytest.mark.usefixtures("routing")
def test_unrequested_sample_weight_is_an_error_as_in_scikit_learn(iris):
    X, y, w = _weighted_problem(iris)
    pipe = make_pipeline(
        StandardScaler().set_fit_request(sample_weight=False),
        ScratchMLPClassifier(max_iter=2),
    )
    with pytest.raises(UnsetMetadataPassedError):
        pipe.fit(X, y, sample_weight=w)
    # partial_fit has its own request, like scikit-learn's estimators.
    est = ScratchMLPClassifier().set_partial_fit_request(sample_weight=True)
    assert est.get_metadata_routing().consumes("partial_fit", ["sample_weight"]) == {
        "sample_weight"
    }
