"""scikit-learn's own estimator checks, with no expected failures.

The defaults are what ``check_estimator`` would see from a user; the other
configurations cover the remaining solvers and a deeper tanh network, which go
through different code paths (full-batch L-BFGS, momentum SGD, several hidden
layers), and skscratch's additions (new solvers, activations, losses,
callbacks). Every classifier configuration also runs scikit-learn's
class-weight check, since ``class_weight`` is a parameter. Dropout is left
out: fitting on repeated rows draws different masks than fitting on weighted
rows, so scikit-learn's sample-weight equivalence check cannot hold for it.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skscratch import ScratchMLPClassifier, ScratchMLPRegressor


def _every_epoch(estimator, record):
    """A callback that never stops training (stateless, so that fit does not
    change the estimator's parameters, which a check verifies)."""
    return record.epoch < 0


ESTIMATORS = [
    ScratchMLPClassifier(),
    ScratchMLPRegressor(),
    ScratchMLPClassifier(solver="lbfgs"),
    ScratchMLPClassifier(solver="sgd"),
    ScratchMLPRegressor(solver="lbfgs"),
    ScratchMLPRegressor(solver="sgd", learning_rate_init=0.01),
    ScratchMLPClassifier(hidden_layer_sizes=(8, 6), activation="tanh"),
    # skscratch's additions keep the contract too.
    ScratchMLPClassifier(solver="adamw", activation="gelu"),
    ScratchMLPClassifier(
        solver="rmsprop", activation="elu", early_stopping_metric="loss"
    ),
    ScratchMLPRegressor(loss="huber", activation="silu", solver="adamw"),
    ScratchMLPRegressor(loss="absolute_error", activation="leaky_relu"),
    ScratchMLPClassifier(activation="softplus", callbacks=[_every_epoch]),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
