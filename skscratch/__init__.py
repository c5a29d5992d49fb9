"""skscratch: scikit-learn's MLP, rebuilt on a from-scratch NumPy core.

``ScratchMLPClassifier`` and ``ScratchMLPRegressor`` take the same parameters
and expose the same attributes as ``sklearn.neural_network.MLPClassifier`` and
``MLPRegressor``; :mod:`skscratch.core` is the backpropagation engine beneath
them, usable on its own.
"""

from ._base import HIDDEN_ACTIVATIONS, REGRESSION_LOSSES, SOLVERS
from ._classifier import ScratchMLPClassifier
from ._regressor import ScratchMLPRegressor

__version__ = "0.1.0"

__all__ = [
    "HIDDEN_ACTIVATIONS",
    "REGRESSION_LOSSES",
    "SOLVERS",
    "ScratchMLPClassifier",
    "ScratchMLPRegressor",
    "__version__",
]
