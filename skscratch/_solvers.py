"""The solvers' names, and what a fit says when its optimisation diverges."""

import warnings

from sklearn.exceptions import ConvergenceWarning

SOLVERS = ("adam", "sgd", "lbfgs", "adamw", "rmsprop")

_STOCHASTIC_SOLVERS = ("sgd", "adam", "adamw", "rmsprop")


def _warn_if_loss_exploded(curve, estimator):
    """A finite but exploding loss is divergence too: say so."""
    if len(curve) >= 2 and curve[-1] > 10 * curve[0] + 1e-12:
        warnings.warn(
            f"The training loss grew from {curve[0]:.4g} (first epoch of this fit) "
            f"to {curve[-1]:.4g}: the optimisation is diverging. Lower "
            f"learning_rate_init (now {estimator.learning_rate_init}) or scale "
            "the input data (e.g. with StandardScaler).",
            ConvergenceWarning,
        )


def _diverged_message(estimator):
    advice = "scale the input data (e.g. with StandardScaler) or increase alpha"
    if estimator.solver in _STOCHASTIC_SOLVERS:
        advice = (
            f"lower learning_rate_init (now {estimator.learning_rate_init}), " + advice
        )
    return (
        "The training diverged: the loss or the weights became non-finite "
        f"(inf or NaN). Try to {advice}. The estimator was left as it was "
        "before this call."
    )
