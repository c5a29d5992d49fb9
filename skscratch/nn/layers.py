"""Layers: a forward rule and its backward rule, side by side.

Each layer's ``forward`` caches what its ``backward`` needs (never recomputed),
and ``backward(dOut)`` returns ``dIn``, the gradient with respect to its input,
filling the gradients of its parameters on the way.
"""

import numpy as np

from ._xp import array_namespace, device
from .activations import get_activation


class Dense:
    """Affine layer ``Z = X W + b``.

    Backward, with ``dZ = dL/dZ`` of shape (n, n_out)::

        dW = X^T dZ        (n_in, n_out)
        db = sum_i dZ_i    (n_out,)
        dX = dZ W^T        (n, n_in)

    Parameters
    ----------
    n_in, n_out : int

    Attributes
    ----------
    W, dW : ndarray of shape (n_in, n_out)
    b, db : ndarray of shape (n_out,)
        Own arrays until :class:`~skscratch.nn.network.Network` rebinds them
        to views of its flat vectors.
    """

    def __init__(self, n_in, n_out):
        self.n_in, self.n_out = n_in, n_out
        self.W, self.dW = np.zeros((n_in, n_out)), np.zeros((n_in, n_out))
        self.b, self.db = np.zeros(n_out), np.zeros(n_out)

    def forward(self, X, training=False):
        self.X = X  # dW needs the input
        return X @ self.W + self.b

    def backward(self, dZ):
        self.dW[...] = self.X.T @ dZ
        self.db[...] = array_namespace(dZ).sum(dZ, axis=0)
        return dZ @ self.W.T

    def __repr__(self):
        return f"Dense({self.n_in}, {self.n_out})"


class ActivationLayer:
    """``A = f(Z)``; backward ``dZ = dA * f'(Z)`` (see :mod:`skscratch.nn.activations`).

    Parameters
    ----------
    activation : str or Activation
    """

    def __init__(self, activation):
        self.activation = get_activation(activation)

    def forward(self, Z, training=False):
        self.Z = Z
        self.A = self.activation.forward(Z)
        return self.A

    def backward(self, dA):
        return self.activation.backward(dA, self.Z, self.A)

    def __repr__(self):
        return f"ActivationLayer({self.activation.name!r})"


class Dropout:
    """Inverted dropout: ``Y = X * M`` with ``M = [U >= rate] / (1 - rate)``.

    Dividing by the keep probability during training keeps ``E[Y] = X``, so
    prediction uses the layer as the identity. Backward: ``dX = dY * M``.

    Parameters
    ----------
    rate : float in [0, 1)
        Probability of zeroing a unit.
    rng : numpy.random.Generator
        Source of the masks, drawn on the host whatever the array's device,
        so that a seed gives the same masks everywhere.
    """

    def __init__(self, rate, rng=None):
        self.rate = float(rate)
        self.rng = np.random.default_rng() if rng is None else rng

    def forward(self, X, training=False, mask=None):
        """``mask`` (shape of X), if given, replaces the random draw."""
        if not training:
            self.mask = None
            return X
        if mask is None:
            keep = self.rng.random(X.shape) >= self.rate
            mask = array_namespace(X).asarray(
                keep / (1 - self.rate), dtype=X.dtype, device=device(X)
            )
        self.mask = mask
        return X * mask

    def backward(self, dY):
        return dY if self.mask is None else dY * self.mask

    def __repr__(self):
        return f"Dropout({self.rate})"
