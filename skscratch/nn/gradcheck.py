"""Finite-difference checks: an independent witness of backpropagation.

The central difference ``(f(x + h e_j) - f(x - h e_j)) / (2 h)`` estimates
``df/dx_j`` with an error that shrinks like ``h^2``, without any calculus.
"""

from ._xp import array_namespace


def numerical_gradient(f, x, h=1e-6):
    """Central-difference gradient of the scalar function ``f`` at ``x``.

    Parameters
    ----------
    f : callable
        ``x -> float``; ``x`` is modified during the call and restored.
    x : array of any shape and floating dtype, of any namespace
    h : float

    Returns
    -------
    grad : array, shape, dtype and namespace of ``x``
    """
    xp = array_namespace(x)
    grad = xp.zeros_like(x)
    flat, out = xp.reshape(x, (-1,)), xp.reshape(grad, (-1,))
    for j in range(flat.shape[0]):
        saved = float(flat[j])  # a number: an element of a tensor is a view
        flat[j] = saved + h
        up = f(x)
        flat[j] = saved - h
        down = f(x)
        flat[j] = saved
        out[j] = (up - down) / (2 * h)
    return grad


def relative_error(a, b):
    """``max |a - b| / max(|a|, |b|, 1e-8)`` over all entries."""
    xp = array_namespace(a, b)
    scale = xp.clip(xp.maximum(abs(a), abs(b)), 1e-8, None)
    return float(xp.max(abs(a - b) / scale))


def gradient_check(network, X, Y, sample_weight=None, alpha=0.0, h=1e-6):
    """Compare ``network.loss_and_gradient``'s gradient with finite differences.

    Parameters
    ----------
    network : Network
        Without dropout (fresh masks would change the objective).
    X, Y : ndarray
    sample_weight : ndarray, optional
    alpha : float

    Returns
    -------
    max_rel_error : float
    """
    network.loss_and_gradient(X, Y, sample_weight, alpha)
    analytic = array_namespace(network.grads).asarray(network.grads, copy=True)

    def objective(params):
        return network.loss_and_gradient(X, Y, sample_weight, alpha)

    numeric = numerical_gradient(objective, network.params, h)
    return relative_error(analytic, numeric)
