"""skscratch's fast CPU backend: backpropagation in in-place NumPy.

This package knows nothing of scikit-learn. The estimators train NumPy and
SciPy-sparse input on it; it computes the same steps as the reference engine,
:mod:`skscratch.nn` (which the documentation teaches from), with reused
buffers, optional Numba kernels, threads and compressed rows, and is tested
equal to it:

- :mod:`~skscratch.core.activations`: activation functions beside their
  derivatives;
- :mod:`~skscratch.core.losses`: losses paired with their output activation;
- :mod:`~skscratch.core.layers`: the dense, activation and dropout layers,
  each with ``forward`` and ``backward``;
- :mod:`~skscratch.core.network`: layers stacked over one flat parameter
  vector, the objective and its gradient;
- :mod:`~skscratch.core.initializers`: Glorot, He and LeCun initialisation;
- :mod:`~skscratch.core.optimizers`: SGD with momentum, Adam, AdamW, RMSprop;
- :mod:`~skscratch.core.penalty`: the L2 penalty's value and gradient;
- :mod:`~skscratch.core.compiled`: the update rules and a few element-wise
  steps of the forward pass compiled with Numba when it is installed
  (optional, bit-identical, faster);
- :mod:`~skscratch.core.lbfgs`: full-batch L-BFGS through scipy;
- :mod:`~skscratch.core.gradcheck`: finite-difference gradient checks;
- :mod:`~skscratch.core.parallel`: one batch on several cores;
- :mod:`~skscratch.core.rows`: a batch's rows taken out of the data, checked
  for NaN and infinities on the way when asked;
- :mod:`~skscratch.core.memory`: arrays aligned on cache lines.

For example, a two-layer network built by hand, its gradient on a batch, and
that gradient checked against finite differences:

>>> import numpy as np
>>> from skscratch.core import ActivationLayer, Dense, Network, check_gradients
>>> rng = np.random.default_rng(0)
>>> net = Network([Dense(4, 8), ActivationLayer("tanh"), Dense(8, 3)])
>>> net.initialize(rng)
>>> X = rng.normal(size=(5, 4))
>>> Y = np.eye(3)[[0, 1, 2, 0, 1]]
>>> loss = net.loss_and_gradient(X, Y, "log_loss")
>>> check_gradients(net, X, Y, "log_loss").max_rel_error < 1e-6
True
"""

from .activations import (
    ACTIVATIONS,
    Activation,
    CustomActivation,
    GroupedSoftmax,
    check_derivative,
    get_activation,
)
from .gradcheck import GradientCheck, check_gradients
from .initializers import glorot_uniform, init_bound
from .layers import ActivationLayer, Dense, Dropout, Layer
from .lbfgs import minimize_lbfgs
from .losses import LOSSES, GroupedLogLoss, Loss, get_loss
from .network import Network, build_mlp
from .optimizers import (
    SGD,
    Adam,
    AdamW,
    LearningRateSchedule,
    Optimizer,
    RMSprop,
    make_optimizer,
)

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "SGD",
    "Activation",
    "ActivationLayer",
    "Adam",
    "AdamW",
    "CustomActivation",
    "Dense",
    "Dropout",
    "GradientCheck",
    "GroupedLogLoss",
    "GroupedSoftmax",
    "Layer",
    "LearningRateSchedule",
    "Loss",
    "Network",
    "Optimizer",
    "RMSprop",
    "build_mlp",
    "check_derivative",
    "check_gradients",
    "get_activation",
    "get_loss",
    "glorot_uniform",
    "init_bound",
    "make_optimizer",
    "minimize_lbfgs",
]
