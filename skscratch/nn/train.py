"""The training loop, written once."""

import numpy as np

from ._xp import array_namespace, device


def train(
    network,
    optimizer,
    X,
    Y,
    *,
    epochs,
    batch_size=200,
    alpha=0.0,
    sample_weight=None,
    rng=None,
    shuffle=True,
    tol=1e-4,
    n_iter_no_change=10,
):
    """Mini-batch training: per epoch, shuffle, then per batch forward ->
    loss -> backward -> step. Stops early as scikit-learn does: after more
    than ``n_iter_no_change`` epochs without the loss improving by ``tol``
    (unless the schedule can still lower the rate).

    Parameters
    ----------
    network : Network
    optimizer : Optimizer
    X : array of shape (n_samples, n_features)
        Of any namespace, on any device, like the network's parameters.
    Y : array of shape (n_samples, n_outputs)
    epochs, batch_size : int
    alpha : float
        L2 penalty strength.
    sample_weight : array of shape (n_samples,), optional
    rng : numpy.random.RandomState or Generator
        Draws the shuffles on the host (a ``RandomState`` makes
        scikit-learn's draws), so a seed gives the same order everywhere.
    shuffle : bool
    tol : float
    n_iter_no_change : int

    Returns
    -------
    loss_curve : list of float
        Each epoch's weighted mean of its batches' objectives.
    """
    xp, n = array_namespace(X), X.shape[0]
    w = sample_weight
    if sample_weight is None:
        w = xp.ones(n, dtype=X.dtype, device=device(X))
    order, curve, best, stalled = np.arange(n), [], np.inf, 0
    for _ in range(epochs):
        if shuffle:
            order = rng.permutation(order)  # composes with the last epoch's
        total = 0.0
        for start in range(0, n, batch_size):
            rows = xp.asarray(order[start : start + batch_size], device=device(X))
            Xb, Yb, wb = (xp.take(a, rows, axis=0) for a in (X, Y, w))
            sw = None if sample_weight is None else wb
            # forward -> loss -> backward (gradient left in network.grads)
            loss = network.loss_and_gradient(Xb, Yb, sw, alpha)
            optimizer.step(network.params, network.grads)
            total += loss * float(xp.sum(wb))  # batch means -> epoch mean
        curve.append(total / float(xp.sum(w)))
        stalled = stalled + 1 if curve[-1] > best - tol else 0
        best = min(best, curve[-1])
        optimizer.iteration_ends(n * len(curve))
        if stalled > n_iter_no_change:
            if not optimizer.reduce_on_plateau():
                break
            stalled = 0
    return curve
