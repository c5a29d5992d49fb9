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
"""

import numpy as np
from scipy.special import xlogy


def _clip(p):
    # log(0) would be infinite for a confident wrong prediction.
    eps = np.finfo(p.dtype).eps
    return np.clip(p, eps, 1 - eps)


class Loss:
    """A per-sample loss, its output activation and ``dl/dz``.

    Parameters
    ----------
    name : str
    activation : str
        Name of the paired output activation.
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
        w = np.ones(len(Y)) if sample_weight is None else sample_weight
        return float(np.dot(w, self.per_sample(Y, P)) / w.sum())

    def gradient(self, Y, P, sample_weight=None):
        """``dJ/dZ`` of shape (n, K): each row's ``dl/dz`` times ``w_i / sum w``."""
        w = np.ones(len(Y)) if sample_weight is None else sample_weight
        return self.gradient_per_sample(Y, P) * (w / w.sum())[:, None]

    def __repr__(self):
        return f"Loss({self.name!r})"


def squared_error(Y, P):
    return 0.5 * ((P - Y) ** 2).mean(axis=1)


def squared_error_gradient(Y, P):
    return (P - Y) / Y.shape[1]


def log_loss(Y, P):
    return -(Y * np.log(_clip(P))).sum(axis=1)


def binary_log_loss(Y, P):
    p = _clip(P)
    return -(xlogy(Y, p) + xlogy(1 - Y, 1 - p)).sum(axis=1)


def poisson(Y, P):
    # y log(y/p) - y + p, with 0 log 0 = 0; half the Poisson deviance.
    p = np.maximum(P, np.finfo(P.dtype).tiny)
    return (xlogy(Y, Y) - xlogy(Y, p) - Y + P).sum(axis=1)


def canonical_gradient(Y, P):
    return P - Y


def absolute_error(Y, P):
    return np.abs(P - Y).mean(axis=1)


def absolute_error_gradient(Y, P):
    return np.sign(P - Y) / Y.shape[1]


HUBER_DELTA = 1.0


def huber(Y, P):
    r = np.abs(P - Y)
    quadratic = np.minimum(r, HUBER_DELTA)
    # r^2/2 up to delta, then linear with slope delta.
    return (0.5 * quadratic**2 + HUBER_DELTA * (r - quadratic)).mean(axis=1)


def huber_gradient(Y, P):
    return np.clip(P - Y, -HUBER_DELTA, HUBER_DELTA) / Y.shape[1]


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
    "huber": Loss("huber", "identity", huber, huber_gradient),
}
"""dict: every loss by name."""


def get_loss(name):
    """The :class:`Loss` called ``name`` (a Loss is returned as is)."""
    return name if isinstance(name, Loss) else LOSSES[name]
