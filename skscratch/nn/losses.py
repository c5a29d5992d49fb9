"""Losses, each paired with its output activation.

The network's last layer gives scores ``Z``; the output activation ``g``
turns them into predictions ``P = g(Z)``; the loss ``l_i(y_i, p_i)`` compares
each row with its target. The objective is the weighted mean

    J = sum_i w_i l_i / sum_i w_i        (w_i = 1 without sample weights).

For the canonical pairs (the loss is a negative log-likelihood and ``g`` its
inverse link) the chain rule through ``g`` collapses to

    dl_i / dz_i = p_i - y_i,

so ``dJ/dZ = w_i (P - Y) / sum w``, and backprop never needs ``g``'s Jacobian.

=================  ==========  ======================================  ==========
loss               output      per-sample ``l_i``                      dl/dz
=================  ==========  ======================================  ==========
squared_error      identity    ``1/2 mean_k (p - y)^2``                (p-y)/K
log_loss           softmax     ``-sum_k y log p``                      p - y
binary_log_loss    logistic    ``-sum_k y log p + (1-y) log(1-p)``     p - y
poisson            exp         ``sum_k y log(y/p) - y + p``            p - y
absolute_error     identity    ``mean_k |p - y|``                      sign/K
huber              identity    ``mean_k huber_delta(p - y)``           clip/K
=================  ==========  ======================================  ==========

(``K`` is the number of outputs: those losses average over outputs.)

A multiclass-multioutput classifier has one softmax per output, each over
its own group of columns: :func:`grouped_log_loss` sums the groups'
cross-entropies, ``-sum_k y log p`` over all columns again, and each group
being a canonical pair, ``dl/dz = p - y`` still.
"""

from ._xp import array_namespace, device
from .activations import grouped_softmax_activation


def _clip(p):
    # log(0) would be infinite for a confident wrong prediction.
    xp = array_namespace(p)
    eps = xp.finfo(p.dtype).eps
    return xp.clip(p, eps, 1 - eps)


def _xlogy(x, y):
    """``x log y``, taken as 0 where ``x = 0`` (even where ``y = 0``)."""
    xp = array_namespace(x, y)
    positive = x != 0
    return xp.where(positive, x * xp.log(xp.where(positive, y, 1.0)), 0.0)


def _weights(Y, sample_weight):
    """``sample_weight``, or ones: shape (n,), on Y's device and dtype."""
    if sample_weight is not None:
        return sample_weight
    xp = array_namespace(Y)
    return xp.ones(Y.shape[0], dtype=Y.dtype, device=device(Y))


class Loss:
    """A per-sample loss, its output activation and ``dl/dz``.

    Parameters
    ----------
    name : str
    activation : str or Activation
        The paired output activation, or its name.
    per_sample : callable
        ``(Y, P) -> l`` with Y, P of shape (n, K) and l of shape (n,).
    gradient : callable
        ``(Y, P) -> dl/dZ`` of shape (n, K), unweighted.
    """

    def __init__(self, name, activation, per_sample, gradient):
        self.name = name
        self.activation = activation
        self.per_sample = per_sample
        self.gradient_per_sample = gradient

    def value(self, Y, P, sample_weight=None):
        """The weighted mean ``J``; a float."""
        xp, w = array_namespace(Y), _weights(Y, sample_weight)
        return float(xp.sum(w * self.per_sample(Y, P)) / xp.sum(w))

    def gradient(self, Y, P, sample_weight=None):
        """``dJ/dZ`` of shape (n, K): each row's ``dl/dz`` times ``w_i / sum w``."""
        xp, w = array_namespace(Y), _weights(Y, sample_weight)
        return self.gradient_per_sample(Y, P) * (w / xp.sum(w))[:, None]

    def __repr__(self):
        return f"Loss({self.name!r})"


def squared_error(Y, P):
    return 0.5 * array_namespace(P).mean((P - Y) ** 2, axis=1)


def squared_error_gradient(Y, P):
    return (P - Y) / Y.shape[1]


def log_loss(Y, P):
    xp = array_namespace(P)
    return -xp.sum(Y * xp.log(_clip(P)), axis=1)


def binary_log_loss(Y, P):
    p = _clip(P)
    return -array_namespace(P).sum(_xlogy(Y, p) + _xlogy(1 - Y, 1 - p), axis=1)


def poisson(Y, P):
    # y log(y/p) - y + p, with 0 log 0 = 0; half the Poisson deviance.
    xp = array_namespace(P)
    p = xp.clip(P, xp.finfo(P.dtype).smallest_normal, None)
    return xp.sum(_xlogy(Y, Y) - _xlogy(Y, p) - Y + P, axis=1)


def canonical_gradient(Y, P):
    return P - Y


def absolute_error(Y, P):
    return array_namespace(P).mean(abs(P - Y), axis=1)


def absolute_error_gradient(Y, P):
    return array_namespace(P).sign(P - Y) / Y.shape[1]


def huber(Y, P, delta=1.0):
    xp = array_namespace(P)
    r = abs(P - Y)
    quadratic = xp.clip(r, None, delta)
    # r^2/2 up to delta, then linear with slope delta.
    return xp.mean(0.5 * quadratic**2 + delta * (r - quadratic), axis=1)


def huber_gradient(Y, P, delta=1.0):
    return array_namespace(P).clip(P - Y, -delta, delta) / Y.shape[1]


def huber_loss(delta=1.0):
    """The Huber loss with threshold ``delta`` (``LOSSES['huber']``: 1)."""
    return Loss(
        "huber",
        "identity",
        lambda Y, P: huber(Y, P, delta),
        lambda Y, P: huber_gradient(Y, P, delta),
    )


def grouped_log_loss(group_sizes):
    """One softmax per group of columns, their cross-entropies summed
    (multiclass-multioutput); ``group_sizes``: the classes of each output."""
    return Loss(
        "grouped_log_loss",
        grouped_softmax_activation(group_sizes),
        log_loss,
        canonical_gradient,
    )


LOSSES = {
    "squared_error": Loss(
        "squared_error", "identity", squared_error, squared_error_gradient
    ),
    "log_loss": Loss("log_loss", "softmax", log_loss, canonical_gradient),
    "binary_log_loss": Loss(
        "binary_log_loss", "logistic", binary_log_loss, canonical_gradient
    ),
    "poisson": Loss("poisson", "exp", poisson, canonical_gradient),
    "absolute_error": Loss(
        "absolute_error", "identity", absolute_error, absolute_error_gradient
    ),
    "huber": huber_loss(1.0),
}
"""dict: every loss by name."""


def get_loss(name):
    """The :class:`Loss` called ``name`` (a Loss is returned as is)."""
    return name if isinstance(name, Loss) else LOSSES[name]
