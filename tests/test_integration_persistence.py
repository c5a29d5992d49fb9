"""Persistence: skops (safe, no pickle), pickle and joblib round trips.

A model that comes back must predict exactly as before and, for the
stochastic solvers, continue training exactly as the original would.
"""

import io
import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skscratch import ScratchMLPClassifier, ScratchMLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

kw = dict(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
ESTIMATORS = {
    "classifier-adam": ScratchMLPClassifier(**kw),
    "classifier-lbfgs": ScratchMLPClassifier(solver="lbfgs", **kw),
    "classifier-sgd-dropout": ScratchMLPClassifier(
        solver="sgd", learning_rate="adaptive", dropout=0.2, **kw
    ),
    "classifier-strings-float32": ScratchMLPClassifier(activation="gelu", **kw),
    "classifier-multilabel": ScratchMLPClassifier(solver="rmsprop", **kw),
    "regressor-adamw": ScratchMLPRegressor(solver="adamw", activation="elu", **kw),
    "regressor-poisson-lbfgs": ScratchMLPRegressor(
        loss="poisson", solver="lbfgs", **kw
    ),
}


def _fitted(name, iris):
    X, y = iris
    if "strings" in name:
        X, y = X.astype(np.float32), np.array(["setosa", "versicolor", "virginica"])[y]
    elif "multilabel" in name:
        y = np.column_stack([y == 0, y == 1, X[:, 0] > 0]).astype(int)
    elif "poisson" in name:
        y = np.exp(X[:, 0])
    elif "regressor" in name:
        y = X[:, :2] @ [1.0, -2.0]
    return clone(ESTIMATORS[name]).fit(X, y), X, y


def _assert_same_model(restored, original, X, y):
    assert type(restored) is type(original)
    assert restored.get_params() == original.get_params()
    np.testing.assert_array_equal(restored.predict(X), original.predict(X))
    for ours, theirs in zip(
        restored.coefs_ + restored.intercepts_,
        original.coefs_ + original.intercepts_,
        strict=True,
    ):
        assert ours.dtype == theirs.dtype
        np.testing.assert_array_equal(ours, theirs)
    if hasattr(original, "predict_proba"):
        np.testing.assert_array_equal(
            restored.predict_proba(X), original.predict_proba(X)
        )
        np.testing.assert_array_equal(restored.classes_, original.classes_)
    # The network was rebuilt around the loaded weights, and the optimizer
    # state survived: one more epoch changes both models identically.
    assert restored._network.is_bound_to(restored.coefs_, restored.intercepts_)
    if hasattr(original, "partial_fit"):
        restored.partial_fit(X, y)
        original.partial_fit(X, y)
        np.testing.assert_array_equal(restored.predict(X), original.predict(X))
        assert restored.loss_curve_ == original.loss_curve_


# -- skops ---------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_skops_round_trip_reports_only_our_types(name, iris, tmp_path):
    sio = pytest.importorskip(
        "skops.io", reason='needs the skops extra: pip install "skscratch[skops]"'
    )
    from skscratch.skops import TRUSTED_TYPES

    model, X, y = _fitted(name, iris)
    path = tmp_path / "model.skops"
    sio.dump(model, path)
    untrusted = sio.get_untrusted_types(file=path)
    print(name, "untrusted types:", untrusted)
    # Only skscratch's own types need trusting: the estimator class, and the
    # optimizer state the stochastic solvers keep for partial_fit.
    assert f"{type(model).__module__}.{type(model).__name__}" in untrusted
    assert set(untrusted) <= set(TRUSTED_TYPES)
    assert ("skscratch.core.optimizers" in " ".join(untrusted)) == (
        model.solver != "lbfgs"
    )
    # Untrusted, it does not load; trusted by name, it does, unchanged.
    with pytest.raises(TypeError, match="Untrusted types"):
        sio.load(path)
    restored = sio.load(path, trusted=untrusted)
    _assert_same_model(restored, model, X, y)


def test_skscratch_skops_helpers_trust_our_types_and_nothing_else(iris, tmp_path):
    pytest.importorskip(
        "skops.io", reason='needs the skops extra: pip install "skscratch[skops]"'
    )
    from skops.io.exceptions import UntrustedTypesFoundException

    from skscratch.skops import dump, dumps, load, loads

    model, X, y = _fitted("classifier-sgd-dropout", iris)
    path = tmp_path / "model.skops"
    dump(model, path)
    _assert_same_model(load(path), model, X, y)

    # In a pipeline, next to scikit-learn's (trusted) transformers.
    pipe = make_pipeline(StandardScaler(), clone(model)).fit(X, y)
    restored = loads(dumps(pipe))
    np.testing.assert_array_equal(restored.predict(X), pipe.predict(X))

    # Anything else still needs the caller's word: here a callback class.
    from skscratch.callbacks import History

    with_callback = clone(model).set_params(callbacks=[History()]).fit(X, y)
    data = dumps(with_callback)
    with pytest.raises(UntrustedTypesFoundException, match="History"):
        loads(data)
    trusted = ["skscratch.callbacks.History", "skscratch.callbacks.EpochRecord"]
    restored = loads(data, trusted=trusted)
    np.testing.assert_array_equal(restored.predict(X), with_callback.predict(X))
    assert restored.callbacks[0].records == with_callback.callbacks[0].records


# -- pickle and joblib ------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_pickle_round_trip(name, iris):
    model, X, y = _fitted(name, iris)
    restored = pickle.loads(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
    _assert_same_model(restored, model, X, y)


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_joblib_round_trip(name, iris, tmp_path):
    joblib = pytest.importorskip("joblib")  # scikit-learn's own dependency
    model, X, y = _fitted(name, iris)
    path = tmp_path / "model.joblib"
    joblib.dump(model, path, compress=3)
    _assert_same_model(joblib.load(path), model, X, y)
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    buffer.seek(0)
    _assert_same_model(joblib.load(buffer), model, X, y)
