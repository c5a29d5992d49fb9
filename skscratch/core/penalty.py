"""The L2 penalty on the weights: its value and its gradient.

The objective the estimators minimise adds ``strength/2 * ||W||^2`` to the
mean loss, with ``W`` every weight (never a bias) and ``strength`` the
estimator's ``alpha`` divided by the batch's total sample weight. Its
gradient with respect to a weight ``w`` is ``strength * w``.

The two parts are used in different places: the value goes into the reported
loss (:meth:`Network.add_penalty
<skscratch.core.network.Network.add_penalty>`), and the gradient is added to
the loss gradient either by the network (for L-BFGS) or by an optimizer,
which can fold it into its own pass over the vectors (see
:meth:`Optimizer.update <skscratch.core.optimizers.Optimizer.update>`).
"""

import numpy as np

from . import compiled


def l2_penalty(weights, strength):
    """``strength/2 * ||weights||^2``.

    Parameters
    ----------
    weights : ndarray of shape (n_weights,)
    strength : float

    Returns
    -------
    penalty : float
    """
    return 0.5 * strength * float(np.dot(weights, weights))


def add_l2_gradient(grads, weights, strength, scratch):
    """Add the penalty's gradient ``strength * weights`` to ``grads``.

    Parameters
    ----------
    grads : ndarray of shape (n_weights,)
        Modified in place.
    weights : ndarray of shape (n_weights,)
    strength : float
    scratch : ndarray of shape (n_weights,)
        A free vector for the product (unused by the compiled kernel).
    """
    loop = compiled.kernel("l2_gradient", weights.dtype)
    if loop is not None:  # the same arithmetic in one pass
        loop(grads, weights, weights.dtype.type(strength))
        return
    np.multiply(weights, strength, out=scratch)
    grads += scratch
