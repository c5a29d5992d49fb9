"""scikit-learn's own estimator checks, with no expected failures.

The defaults are what ``check_estimator`` would see from a user; the other
configurations cover the remaining solvers and a deeper tanh network, which go
through different code paths (full-batch L-BFGS, momentum SGD, several hidden
layers).
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skscratch import ScratchMLPClassifier, ScratchMLPRegressor

ESTIMATORS = [
    ScratchMLPClassifier(),
    ScratchMLPRegressor(),
    ScratchMLPClassifier(solver="lbfgs"),
    ScratchMLPClassifier(solver="sgd"),
    ScratchMLPRegressor(solver="lbfgs"),
    ScratchMLPRegressor(solver="sgd", learning_rate_init=0.01),
    ScratchMLPClassifier(hidden_layer_sizes=(8, 6), activation="tanh"),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
