"""A reference engine: the MLP written like the math.

It is plain on purpose: the docs teach from it, and the fast CPU backend
(:mod:`skscratch.core`) is tested against it. Its arithmetic follows the
array namespace of its input (NumPy, PyTorch, CuPy...), so the estimators
train on a GPU through it. It imports nothing from the rest of skscratch.
"""

from .activations import ACTIVATIONS, Activation, get_activation
from .gradcheck import gradient_check, numerical_gradient
from .layers import ActivationLayer, Dense, Dropout
from .lbfgs import minimize_lbfgs
from .losses import LOSSES, Loss, get_loss
from .network import Network
from .optimizers import SGD, Adam, AdamW, RMSprop, Schedule
from .train import train

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "SGD",
    "Activation",
    "ActivationLayer",
    "Adam",
    "AdamW",
    "Dense",
    "Dropout",
    "Loss",
    "Network",
    "RMSprop",
    "Schedule",
    "get_activation",
    "get_loss",
    "gradient_check",
    "minimize_lbfgs",
    "numerical_gradient",
    "train",
]
