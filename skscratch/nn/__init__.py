"""A reference engine: the MLP written like the math, in NumPy only.

It is slow and plain on purpose: the docs teach from it, and the fast engine
(:mod:`skscratch.core`) is tested against it. It imports nothing from the rest
of skscratch.
"""

from .activations import ACTIVATIONS, Activation, get_activation
from .gradcheck import gradient_check, numerical_gradient
from .layers import ActivationLayer, Dense, Dropout
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
    "numerical_gradient",
    "train",
]
