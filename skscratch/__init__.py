"""skscratch: scikit-learn's MLP, rebuilt on a from-scratch NumPy core.

``MLPClassifier`` and ``MLPRegressor`` take the same parameters and expose the
same attributes as ``sklearn.neural_network.MLPClassifier`` and
``MLPRegressor``, under the same names, so swapping the import is enough.
``ScratchMLPClassifier`` and ``ScratchMLPRegressor`` are the same estimators
under skscratch's own names. :mod:`skscratch.core` is the backpropagation
engine beneath them, usable on its own.
"""

from ._base import HIDDEN_ACTIVATIONS, REGRESSION_LOSSES, SOLVERS
from ._classifier import MLPClassifier, ScratchMLPClassifier
from ._regressor import MLPRegressor, ScratchMLPRegressor
from .core.activations import CustomActivation
from .embedding import MLPEmbedding

__version__ = "0.1.0"

__all__ = [
    "HIDDEN_ACTIVATIONS",
    "REGRESSION_LOSSES",
    "SOLVERS",
    "CustomActivation",
    "MLPClassifier",
    "MLPEmbedding",
    "MLPRegressor",
    "ScratchMLPClassifier",
    "ScratchMLPRegressor",
    "__version__",
]
