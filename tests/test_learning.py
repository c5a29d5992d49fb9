"""Learning real data, side by side with scikit-learn's MLP.

Both estimators are fitted in the test with the same parameters. Because the
loop draws the same random numbers in the same order and applies the same
updates, the two usually agree to round-off; the contract tested is the one
users care about: the held-out score is within one point of scikit-learn's.
"""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import StandardScaler

from skscratch import ScratchMLPClassifier, ScratchMLPRegressor

CASES = {
    "digits": (load_digits, "clf", dict(max_iter=200)),
    "iris": (load_iris, "clf", dict(solver="lbfgs", max_iter=500)),
    "breast_cancer": (load_breast_cancer, "clf", dict(hidden_layer_sizes=(50,))),
    "diabetes": (
        load_diabetes,
        "reg",
        dict(solver="sgd", hidden_layer_sizes=(20,), max_iter=300),
    ),
    "diabetes_lbfgs": (
        load_diabetes,
        "reg",
        dict(solver="lbfgs", hidden_layer_sizes=(5,), alpha=1.0, max_iter=100),
    ),
}


def _split(loader):
    X, y = loader(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


@pytest.mark.parametrize("name", sorted(CASES))
def test_score_within_one_point_of_sklearn(name):
    loader, kind, params = CASES[name]
    X_train, X_test, y_train, y_test = _split(loader)
    ours_cls, theirs_cls = (
        (ScratchMLPClassifier, MLPClassifier)
        if kind == "clf"
        else (ScratchMLPRegressor, MLPRegressor)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = ours_cls(random_state=0, **params).fit(X_train, y_train)
        theirs = theirs_cls(random_state=0, **params).fit(X_train, y_train)
    ours_score = ours.score(X_test, y_test)
    theirs_score = theirs.score(X_test, y_test)
    print(f"{name}: skscratch {ours_score:.4f}  scikit-learn {theirs_score:.4f}")
    assert abs(ours_score - theirs_score) <= 0.01
    # And it actually learned something.
    # And it learned something (R^2 of a linear model on this split is 0.36).
    floor = {"digits": 0.95, "iris": 0.9, "breast_cancer": 0.95}
    assert ours_score >= floor.get(name, 0.25)


@pytest.mark.parametrize(
    "params",
    [
        dict(solver="adam"),
        dict(solver="sgd", learning_rate_init=0.05),
        dict(solver="sgd", nesterovs_momentum=False, learning_rate="invscaling"),
        dict(solver="adam", batch_size=64, alpha=0.1, activation="tanh"),
        dict(solver="sgd", shuffle=False, activation="logistic"),
    ],
    ids=lambda p: "-".join(f"{k}={v}" for k, v in p.items()),
)
def test_same_training_trajectory_as_sklearn(params):
    """Same seed, same data: same loss after every epoch as scikit-learn."""
    X_train, _, y_train, _ = _split(load_iris)
    kwargs = dict(hidden_layer_sizes=(16, 8), max_iter=15, random_state=3, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = ScratchMLPClassifier(**kwargs).fit(X_train, y_train)
        theirs = MLPClassifier(**kwargs).fit(X_train, y_train)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)
    ours_params = ours.coefs_ + ours.intercepts_
    for a, b in zip(ours_params, theirs.coefs_ + theirs.intercepts_, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-10)


def test_same_regression_trajectory_as_sklearn_poisson():
    X, y = load_diabetes(return_X_y=True)
    kwargs = dict(loss="poisson", hidden_layer_sizes=(10,), max_iter=10, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = ScratchMLPRegressor(**kwargs).fit(X, y)
        theirs = MLPRegressor(**kwargs).fit(X, y)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-7)


def test_multi_output_lbfgs_minimises_the_loss_it_reports():
    """With the gradient of the reported loss, L-BFGS converges on a
    multi-output problem: no warning, the reported ``loss_`` is the objective
    at the returned weights, and the gradient there is a tiny fraction of
    where it started."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 5))
    Y = np.column_stack([X[:, 0] * X[:, 1], np.sin(X[:, 2]), X[:, 3] - X[:, 4]])
    params = dict(hidden_layer_sizes=(20,), solver="lbfgs", random_state=0)
    start = ScratchMLPRegressor(**params, max_iter=1).fit(X, Y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        reg = ScratchMLPRegressor(**params, max_iter=5000).fit(X, Y)
    initial_grad = _max_gradient(start, X, Y)
    net = reg._network
    objective = net.loss_and_gradient(X, Y, "squared_error", alpha=reg.alpha)
    assert reg.loss_ == pytest.approx(objective, rel=1e-12)
    assert np.abs(net.grads).max() < 1e-2 * initial_grad
    assert reg.score(X, Y) > 0.95


def _max_gradient(reg, X, Y):
    net = reg._network
    net.loss_and_gradient(X, Y, "squared_error", alpha=reg.alpha)
    return np.abs(net.grads).max()
