"""Activation functions, each forward rule written beside its derivative.

An activation ``f`` maps a layer's pre-activation ``Z`` to its output
``A = f(Z)``, element by element (softmax: row by row).

Convention: every derivative is a function ``derivative(z, a)`` of both the
input ``z`` and the output ``a = f(z)`` and uses whichever gives the textbook
form (``logistic' = a (1 - a)``, ``gelu' = Phi(z) + z phi(z)``). Passing both
costs nothing, since the layer caches both in its forward pass.

Backpropagation is the chain rule ``dL/dZ = dL/dA * f'(Z)`` for the
element-wise functions; softmax's derivative is a full Jacobian per row,
``J = diag(a) - a a^T``, so its ``backward`` is a Jacobian-vector product.
"""

import math

import numpy as np
from scipy.special import erf, expit


class Activation:
    """An activation: ``forward(z)`` and ``derivative(z, a)``.

    Parameters
    ----------
    name : str
    forward : callable
        ``z -> a``, arrays of shape (n_samples, n_units).
    derivative : callable
        ``(z, a) -> f'(z)``, same shape (element-wise functions).
    """

    def __init__(self, name, forward, derivative):
        self.name = name
        self.forward = forward
        self.derivative = derivative

    def backward(self, grad_a, z, a):
        """``dL/dZ`` from ``dL/dA``; all arrays of shape (n_samples, n_units)."""
        return grad_a * self.derivative(z, a)

    def __repr__(self):
        return f"Activation({self.name!r})"


class _Softmax(Activation):
    """Softmax: the derivative is a Jacobian per row, shape (n, k, k)."""

    def backward(self, grad_a, z, a):
        return np.einsum("nij,nj->ni", self.derivative(z, a), grad_a)


# --- the pairs: f(z) and f'(z) side by side --------------------------------


def identity(z):
    return z.copy()


def identity_derivative(z, a):
    return np.ones_like(z)


def logistic(z):
    return expit(z)  # 1 / (1 + exp(-z)), without overflow


def logistic_derivative(z, a):
    return a * (1 - a)


def tanh(z):
    return np.tanh(z)


def tanh_derivative(z, a):
    return 1 - a * a


def relu(z):
    return np.maximum(z, 0)


def relu_derivative(z, a):
    return (z > 0).astype(z.dtype)  # 0 at z = 0, as scikit-learn


LEAKY_SLOPE = 0.01


def leaky_relu(z):
    return np.where(z > 0, z, LEAKY_SLOPE * z)


def leaky_relu_derivative(z, a):
    return np.where(z > 0, 1.0, LEAKY_SLOPE)


def elu(z):
    return np.where(z > 0, z, np.expm1(np.minimum(z, 0)))


def elu_derivative(z, a):
    return np.where(z > 0, 1.0, a + 1)  # exp(z) = a + 1 for z <= 0


def _normal_cdf(z):
    return 0.5 * (1 + erf(z / math.sqrt(2)))


def gelu(z):
    return z * _normal_cdf(z)


def gelu_derivative(z, a):
    return _normal_cdf(z) + z * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def softplus(z):
    return np.logaddexp(0, z)  # log(1 + exp(z)), without overflow


def softplus_derivative(z, a):
    return expit(z)


def silu(z):
    return z * expit(z)


def silu_derivative(z, a):
    s = expit(z)
    return s + z * s * (1 - s)


def exp(z):
    return np.exp(z)


def exp_derivative(z, a):
    return a


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))  # shift: no overflow
    return e / e.sum(axis=1, keepdims=True)


def softmax_derivative(z, a):
    """Jacobian ``diag(a) - a a^T`` of each row, shape (n, k, k)."""
    return np.einsum("ni,ij->nij", a, np.eye(a.shape[1])) - np.einsum(
        "ni,nj->nij", a, a
    )


ACTIVATIONS = {
    name: Activation(name, globals()[name], globals()[name + "_derivative"])
    for name in (
        "identity",
        "logistic",
        "tanh",
        "relu",
        "leaky_relu",
        "elu",
        "gelu",
        "softplus",
        "silu",
        "exp",
    )
}
ACTIVATIONS["softmax"] = _Softmax("softmax", softmax, softmax_derivative)
"""dict: every activation by the name the estimators use."""


def get_activation(name):
    """The :class:`Activation` called ``name`` (an Activation is returned as is)."""
    return name if isinstance(name, Activation) else ACTIVATIONS[name]
