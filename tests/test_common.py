"""scikit-learn's own estimator checks, with no expected failures.

The defaults are what ``check_estimator`` would see from a user; the other
configurations cover the remaining solvers and a deeper tanh network, which go
through different code paths (full-batch L-BFGS, momentum SGD, several hidden
layers), and skscratch's additions (new solvers, activations, losses,
callbacks, the classifier's squared error, per-layer activations, He's
initialisation). Every classifier configuration
also runs scikit-learn's class-weight check, since ``class_weight`` is a
parameter. Dropout is left
out: fitting on repeated rows draws different masks than fitting on weighted
rows, so scikit-learn's sample-weight equivalence check cannot hold for it.
"""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from skscratch import (
    MLPClassifier,
    MLPEmbedding,
    MLPRegressor,
    ScratchMLPClassifier,
    ScratchMLPRegressor,
)


def _every_epoch(estimator, record):
    """A callback that never stops training (stateless, so that fit does not
    change the estimator's parameters, which a check verifies)."""
    return record.epoch < 0


ESTIMATORS = [
    # The drop-in names with their defaults, then skscratch's own names (the
    # same estimators) on the other configurations, each covering several
    # code paths at once to keep the suite quick.
    MLPClassifier(),
    MLPRegressor(),
    ScratchMLPClassifier(solver="lbfgs"),
    ScratchMLPClassifier(solver="sgd", hidden_layer_sizes=(8, 6), activation="tanh"),
    ScratchMLPRegressor(solver="lbfgs", activation="softplus"),
    ScratchMLPRegressor(
        solver="sgd",
        learning_rate_init=0.01,
        loss="absolute_error",
        activation="leaky_relu",
    ),
    # skscratch's additions keep the contract too.
    ScratchMLPClassifier(solver="adamw", activation="gelu", callbacks=[_every_epoch]),
    ScratchMLPClassifier(
        solver="rmsprop", activation="elu", early_stopping_metric="loss"
    ),
    ScratchMLPRegressor(loss="huber", activation="silu", solver="adamw"),
    # One activation per hidden layer (mish among them), and He's initialisation.
    ScratchMLPClassifier(hidden_layer_sizes=(8, 6), activation=("relu", "mish")),
    ScratchMLPRegressor(solver="lbfgs", activation="leaky_relu", init="he"),
    # Squared error of logistic outputs, normalised by predict_proba.
    ScratchMLPClassifier(loss="squared_error", activation="logistic", solver="lbfgs"),
]

# The embedding transformer, around a classifier and a deeper regressor: it is
# held to the transformer contract (set_output, feature names, dtypes).
ESTIMATORS += [
    MLPEmbedding(ScratchMLPClassifier(hidden_layer_sizes=(6,), random_state=0)),
    MLPEmbedding(
        ScratchMLPRegressor(hidden_layer_sizes=(8, 4), solver="lbfgs", random_state=0),
        layer=1,
    ),
]


# The checks' unscaled data makes sgd at learning rate 0.01 diverge, which the
# regressor reports with a warning (scikit-learn's stays silent).
@pytest.mark.filterwarnings(
    "ignore:The training loss grew:sklearn.exceptions.ConvergenceWarning"
)
@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
