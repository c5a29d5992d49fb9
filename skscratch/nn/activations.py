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

from scipy.special import erf

from ._xp import array_namespace, device


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
        # J g for each row: a batched matrix-vector product.
        return (self.derivative(z, a) @ grad_a[:, :, None])[:, :, 0]


# --- the pairs: f(z) and f'(z) side by side --------------------------------
# Each takes its namespace ``xp`` from its input (NumPy, PyTorch...).


def identity(z):
    return array_namespace(z).asarray(z, copy=True)


def identity_derivative(z, a):
    return array_namespace(z).ones_like(z)


def logistic(z):
    # 1 / (1 + exp(-z)), written so that no exp overflows.
    xp = array_namespace(z)
    e = xp.exp(-xp.abs(z))
    return xp.where(z >= 0, 1 / (1 + e), e / (1 + e))


def logistic_derivative(z, a):
    return a * (1 - a)


def tanh(z):
    return array_namespace(z).tanh(z)


def tanh_derivative(z, a):
    return 1 - a * a


def relu(z):
    xp = array_namespace(z)
    return xp.maximum(z, xp.zeros_like(z))


def relu_derivative(z, a):
    xp = array_namespace(z)
    return xp.astype(z > 0, z.dtype)  # 0 at z = 0, as scikit-learn


LEAKY_SLOPE = 0.01


def leaky_relu(z):
    return array_namespace(z).where(z > 0, z, LEAKY_SLOPE * z)


def leaky_relu_derivative(z, a):
    xp = array_namespace(z)
    return xp.where(z > 0, xp.ones_like(z), xp.full_like(z, LEAKY_SLOPE))


def elu(z):
    xp = array_namespace(z)
    return xp.where(z > 0, z, xp.expm1(xp.minimum(z, xp.zeros_like(z))))


def elu_derivative(z, a):
    xp = array_namespace(z)
    return xp.where(z > 0, xp.ones_like(z), a + 1)  # exp(z) = a + 1 for z <= 0


def _erf(z):
    # SciPy's erf follows NumPy, PyTorch and CuPy arrays onto their device
    # (with SCIPY_ARRAY_API=1); other arrays go through their default device.
    xp = array_namespace(z)
    try:
        out = erf(z)
    except (TypeError, RuntimeError, ValueError):
        out = erf(z.to_device(xp.__array_namespace_info__().default_device()))
    return xp.asarray(out, device=device(z))


def _normal_cdf(z):
    return 0.5 * (1 + _erf(z / math.sqrt(2)))


def gelu(z):
    return z * _normal_cdf(z)


def gelu_derivative(z, a):
    xp = array_namespace(z)
    return _normal_cdf(z) + z * xp.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def softplus(z):
    xp = array_namespace(z)
    return xp.logaddexp(xp.zeros_like(z), z)  # log(1 + exp(z)), no overflow


def softplus_derivative(z, a):
    return logistic(z)


def silu(z):
    return z * logistic(z)


def silu_derivative(z, a):
    s = logistic(z)
    return s + z * s * (1 - s)


def mish(z):
    return z * array_namespace(z).tanh(softplus(z))


def mish_derivative(z, a):
    t = array_namespace(z).tanh(softplus(z))
    return t + z * logistic(z) * (1 - t * t)  # softplus' = logistic


def exp(z):
    return array_namespace(z).exp(z)


def exp_derivative(z, a):
    return a


def softmax(z):
    xp = array_namespace(z)
    e = xp.exp(z - xp.max(z, axis=1, keepdims=True))  # shift: no overflow
    return e / xp.sum(e, axis=1, keepdims=True)


def softmax_derivative(z, a):
    """Jacobian ``diag(a) - a a^T`` of each row, shape (n, k, k)."""
    xp = array_namespace(a)
    eye = xp.eye(a.shape[1], dtype=a.dtype, device=device(a))
    return a[:, :, None] * eye - a[:, :, None] * a[:, None, :]


def grouped_softmax(z, group_sizes):
    """Softmax within each group of consecutive columns (one group per output
    of a multiclass-multioutput classifier)."""
    xp = array_namespace(z)
    groups, start = [], 0
    for size in group_sizes:
        groups.append(softmax(z[:, start : start + size]))
        start += size
    return xp.concat(groups, axis=1)


def grouped_softmax_derivative(z, a, group_sizes):
    """Block-diagonal Jacobian, shape (n, k, k): softmax's ``diag(a) - a a^T``
    within each group, 0 between groups (they do not interact)."""
    xp = array_namespace(a)
    owner = [k for k, size in enumerate(group_sizes) for _ in range(size)]
    owner = xp.asarray(owner, device=device(a))
    same_group = xp.astype(owner[:, None] == owner[None, :], a.dtype)
    return softmax_derivative(z, a) * same_group


class _GroupedSoftmax(_Softmax):
    """Softmax over each group of ``group_sizes`` columns: its pair of
    functions with the group sizes filled in."""

    def __init__(self, group_sizes):
        self.name = "grouped_softmax"
        self.group_sizes = tuple(int(size) for size in group_sizes)

    def forward(self, z):
        return grouped_softmax(z, self.group_sizes)

    def derivative(self, z, a):
        return grouped_softmax_derivative(z, a, self.group_sizes)

    def __repr__(self):
        return f"Activation('grouped_softmax', group_sizes={self.group_sizes})"


def grouped_softmax_activation(group_sizes):
    """The grouped softmax for ``group_sizes`` (columns of each group, in
    order), as an :class:`Activation` whose backward is a Jacobian-vector
    product."""
    return _GroupedSoftmax(group_sizes)


ACTIVATIONS = {
    **{
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
            "mish",
            "exp",
        )
    },
    "softmax": _Softmax("softmax", softmax, softmax_derivative),
}
"""dict: every activation by the name the estimators use."""


def get_activation(name):
    """The :class:`Activation` called ``name`` (an Activation is returned as is)."""
    return name if isinstance(name, Activation) else ACTIVATIONS[name]
