"""The training loop, written once."""

import numpy as np


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
    X : ndarray of shape (n_samples, n_features)
    Y : ndarray of shape (n_samples, n_outputs)
    epochs, batch_size : int
    alpha : float
        L2 penalty strength.
    sample_weight : ndarray of shape (n_samples,), optional
    rng : numpy.random.RandomState or Generator
        Draws the shuffles (a ``RandomState`` makes scikit-learn's draws).
    shuffle : bool
    tol : float
    n_iter_no_change : int

    Returns
    -------
    loss_curve : list of float
        Each epoch's weighted mean of its batches' objectives.
    """
    n = len(X)
    w = np.ones(n) if sample_weight is None else sample_weight
    order, curve, best, stalled = np.arange(n), [], np.inf, 0
    for _ in range(epochs):
        if shuffle:
            order = rng.permutation(order)  # composes with the last epoch's
        total = 0.0
        for start in range(0, n, batch_size):
            rows = order[start : start + batch_size]
            sw = None if sample_weight is None else w[rows]
            # forward -> loss -> backward (gradient left in network.grads)
            loss = network.loss_and_gradient(X[rows], Y[rows], sw, alpha)
            optimizer.step(network.params, network.grads)
            total += loss * w[rows].sum()  # batch means -> epoch mean
        curve.append(total / w.sum())
        stalled = stalled + 1 if curve[-1] > best - tol else 0
        best = min(best, curve[-1])
        optimizer.iteration_ends(n * len(curve))
        if stalled > n_iter_no_change:
            if not optimizer.reduce_on_plateau():
                break
            stalled = 0
    return curve
