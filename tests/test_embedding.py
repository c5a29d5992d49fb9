"""MLPEmbedding: a hidden layer's activations as a transformer."""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.datasets import load_digits, make_regression
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError
from threadpoolctl import threadpool_limits

from skscratch import MLPClassifier, MLPEmbedding, MLPRegressor

ACTIVATIONS = {
    "relu": lambda z: np.maximum(z, 0),
    "tanh": np.tanh,
    "logistic": lambda z: 1 / (1 + np.exp(-z)),
    "identity": lambda z: z,
}


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16, y, test_size=0.3, random_state=0, stratify=y)


@pytest.fixture(scope="module")
def fitted(digits):
    """An embedding of the last of two hidden layers, fitted on digits."""
    X_train, _, y_train, _ = digits
    mlp = MLPClassifier(hidden_layer_sizes=(32, 16), max_iter=60, random_state=0)
    return MLPEmbedding(mlp).fit(X_train, y_train)


def _by_hand(mlp, X, layer):
    """Hidden layer ``layer``'s activations, one matrix product at a time."""
    f = ACTIVATIONS[mlp.activation]
    a = X
    for W, b in zip(mlp.coefs_[:layer], mlp.intercepts_[:layer], strict=True):
        a = f(a @ W + b)
    return a


def test_embeddings_feed_a_linear_model_and_gradient_boosting(digits):
    X_train, X_test, y_train, y_test = digits
    mlp = MLPClassifier(hidden_layer_sizes=(64, 16), max_iter=100, random_state=0)
    linear = make_pipeline(
        MLPEmbedding(mlp), StandardScaler(), LogisticRegression(max_iter=500)
    )
    assert linear.fit(X_train, y_train).score(X_test, y_test) > 0.93
    # The same 16 learned features carry the classes for gradient boosting
    # too, far beyond chance (0.1). One OpenMP thread: on a busy machine
    # more spin far longer than they save.
    boosted = make_pipeline(
        MLPEmbedding(FrozenEstimator(linear[0].estimator_)),
        HistGradientBoostingClassifier(max_iter=30, random_state=0),
    )
    with threadpool_limits(1, "openmp"):
        assert boosted.fit(X_train, y_train).score(X_test, y_test) > 0.9


@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
@pytest.mark.parametrize("layer", [1, 2, 3, -1, -3])
def test_transform_equals_the_layer_computed_by_hand(activation, layer):
    rng = np.random.RandomState(0)
    X, y = rng.normal(size=(60, 5)), rng.randint(3, size=60)
    mlp = MLPClassifier(
        hidden_layer_sizes=(7, 6, 4),
        activation=activation,
        solver="lbfgs",
        max_iter=20,
        random_state=0,
    )
    embedding = MLPEmbedding(mlp, layer=layer).fit(X, y)
    k = layer if layer > 0 else 4 + layer
    assert embedding.layer_ == k
    expected = _by_hand(embedding.estimator_, X, k)
    Z = embedding.transform(X)
    assert Z.shape == (60, (7, 6, 4)[k - 1])
    assert_allclose(Z, expected, rtol=1e-12, atol=1e-12)
    assert_allclose(embedding.transform(sp.csr_matrix(X)), expected, atol=1e-12)


def test_float32_stays_float32_and_regressors_work():
    X, y = make_regression(n_samples=80, n_features=6, random_state=0)
    X = X.astype(np.float32)
    mlp = MLPRegressor(hidden_layer_sizes=(5,), solver="lbfgs", random_state=0)
    embedding = MLPEmbedding(mlp).fit(X, y / 100)
    Z = embedding.transform(X)
    assert Z.dtype == np.float32
    expected = _by_hand(embedding.estimator_, X.astype(np.float64), 1)
    assert_allclose(Z, expected, rtol=1e-4, atol=1e-5)


def test_a_frozen_fitted_network_is_used_as_it_is(digits, fitted):
    X_train, X_test, _, _ = digits
    mlp = fitted.estimator_
    before = [W.copy() for W in mlp.coefs_]
    frozen = MLPEmbedding(FrozenEstimator(mlp), layer=1).fit(X_train)
    assert all(np.array_equal(a, b) for a, b in zip(before, mlp.coefs_, strict=True))
    assert_allclose(frozen.transform(X_test), _by_hand(mlp, X_test, 1))
    # scikit-learn's own MLP has the same fitted attributes.
    theirs = SklearnMLPClassifier(hidden_layer_sizes=(9,), max_iter=300, random_state=0)
    theirs.fit(X_train, digits[2])
    embedding = MLPEmbedding(FrozenEstimator(theirs)).fit(X_train)
    assert_allclose(embedding.transform(X_test), _by_hand(theirs, X_test, 1))


@pytest.mark.parametrize("library", ["pandas", "polars"])
def test_set_output_names_the_columns(digits, fitted, library):
    frame = pytest.importorskip(library)
    X_train, X_test, _, _ = digits
    embedding = clone(fitted).set_output(transform=library)
    embedding.set_params(estimator=FrozenEstimator(fitted.estimator_)).fit(X_train)
    names = [f"mlp_h2_{j}" for j in range(16)]
    out = embedding.transform(X_test)
    assert isinstance(out, frame.DataFrame)
    assert list(out.columns) == names
    assert_allclose(np.asarray(out), fitted.transform(X_test))
    assert_array_equal(embedding.get_feature_names_out(), names)


def test_set_output_in_a_pipeline_with_named_input_columns(digits):
    pd = pytest.importorskip("pandas")
    X_train, X_test, y_train, y_test = digits
    columns = [f"pixel{i}" for i in range(64)]
    X_train = pd.DataFrame(X_train, columns=columns)
    X_test = pd.DataFrame(X_test, columns=columns)
    mlp = MLPClassifier(hidden_layer_sizes=(24,), max_iter=60, random_state=0)
    model = make_pipeline(MLPEmbedding(mlp, layer=1), LogisticRegression(max_iter=2000))
    model.set_output(transform="pandas")
    model.fit(X_train, y_train)
    assert model.score(X_test, y_test) > 0.9
    assert_array_equal(model[0].feature_names_in_, columns)
    assert list(model[:-1].transform(X_test).columns) == [
        f"mlp_h1_{j}" for j in range(24)
    ]
    assert_array_equal(
        model[:-1].get_feature_names_out(columns)[:2], ["mlp_h1_0", "mlp_h1_1"]
    )
    with pytest.raises(ValueError, match="input_features is not equal"):
        model[0].get_feature_names_out(["a"] * 64)


def test_clone_and_pickle(digits, fitted):
    X_test = digits[1]
    copy = clone(fitted)
    assert not hasattr(copy, "estimator_")
    assert copy.get_params()["layer"] == -1
    assert copy.estimator is not fitted.estimator
    restored = pickle.loads(pickle.dumps(fitted))
    assert_array_equal(restored.transform(X_test), fitted.transform(X_test))


def test_skops_round_trip(digits, fitted):
    pytest.importorskip("skops")
    from skscratch.skops import dumps, loads

    X_test = digits[1]
    restored = loads(dumps(fitted))
    assert_array_equal(restored.transform(X_test), fitted.transform(X_test))


@pytest.mark.parametrize("layer", [3, -3, 7])
def test_layer_out_of_range(digits, fitted, layer):
    X_train, _, y_train, _ = digits
    mlp = MLPClassifier(hidden_layer_sizes=(8, 4), max_iter=2, random_state=0)
    embedding = MLPEmbedding(mlp, layer=layer)
    with pytest.raises(ValueError, match=r"out of range: the network has 2 hidden"):
        embedding.fit(X_train, y_train)
    assert not hasattr(embedding, "estimator_")
    # Checked against the fitted network too, when it comes fitted.
    frozen = MLPEmbedding(FrozenEstimator(fitted.estimator_), layer=layer)
    with pytest.raises(ValueError, match=r"out of range: the network has 2 hidden"):
        frozen.fit(X_train)


def test_misuse_errors(digits, fitted):
    X_train, X_test, y_train, _ = digits
    mlp = MLPClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=0)
    with pytest.raises(NotFittedError):
        MLPEmbedding(mlp).transform(X_test)
    with pytest.raises(NotFittedError):
        MLPEmbedding(mlp).get_feature_names_out()
    with pytest.raises(InvalidParameterError, match="layer"):
        MLPEmbedding(mlp, layer=0).fit(X_train, y_train)
    with pytest.raises(ValueError, match="requires y to be passed"):
        MLPEmbedding(mlp).fit(X_train)
    with pytest.raises(NotFittedError):  # a frozen network must be fitted
        MLPEmbedding(FrozenEstimator(mlp)).fit(X_train)
    with pytest.raises(ValueError, match="64 features"):
        fitted.transform(X_test[:, :10])
    frozen = FrozenEstimator(fitted.estimator_)
    with pytest.raises(ValueError, match="the frozen network takes 64"):
        MLPEmbedding(frozen).fit(X_train[:, :10])
    with pytest.raises(TypeError, match="needs a multi-layer perceptron"):
        MLPEmbedding(LogisticRegression()).fit(X_train, y_train)
