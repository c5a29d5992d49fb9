"""Full-batch training with L-BFGS.

L-BFGS is a quasi-Newton method: from the last few gradients it builds an
approximation of the inverse Hessian and moves along the resulting direction
with a line search. It needs the objective as a function of one vector, which
is exactly what the network's flat parameter vector is. scipy's L-BFGS-B
implementation does the optimisation; this module only connects it to a
:class:`~skscratch.core.network.Network`.
"""

import numpy as np
import scipy.optimize

from .parallel import DataParallel


def minimize_lbfgs(
    network,
    X,
    Y,
    loss,
    *,
    alpha=0.0,
    sample_weight=None,
    max_iter=200,
    max_fun=15000,
    tol=1e-4,
    callback=None,
    n_threads=1,
):
    """Minimise the network's objective on the whole data set.

    scipy works in float64; the network keeps its own dtype. Each evaluation
    copies scipy's point into ``network.params`` (one vector copy: no packing),
    computes the objective and its gradient in the network's precision, and
    hands scipy a float64 copy of the gradient.

    Parameters
    ----------
    network : Network
        Trained in place, starting from its current parameters.
    X : ndarray or sparse matrix of shape (n_samples, n_features)
    Y : ndarray of shape (n_samples, n_outputs)
    loss : str or Loss
    alpha : float, default=0.0
        L2 penalty strength.
    sample_weight : ndarray of shape (n_samples,), optional
    max_iter : int, default=200
        Maximum number of L-BFGS iterations.
    max_fun : int, default=15000
        Maximum number of objective evaluations.
    tol : float, default=1e-4
        Stop when the largest gradient component falls below ``tol``.
    callback : callable, optional
        ``callback(iteration, objective)`` after every iteration; it may raise
        ``StopIteration`` to end the optimisation early.
    n_threads : int, default=1
        Threads sharing each evaluation (see
        :class:`~skscratch.core.parallel.DataParallel`).

    Returns
    -------
    result : scipy.optimize.OptimizeResult
        ``network.params`` holds ``result.x`` on return.
    """
    params = network.params
    # One BLAS thread per evaluating thread, whatever n_threads: see
    # DataParallel's limit_blas.
    evaluator = DataParallel(network, n_threads, limit_blas=True, poll=False)

    def objective(theta):
        params[...] = theta
        value = evaluator.loss_and_gradient(
            X, Y, loss, alpha=alpha, sample_weight=sample_weight
        )
        # A copy: scipy keeps gradients between calls, and network.grads is
        # overwritten by the next evaluation.
        return value, network.grads.astype(np.float64)

    iteration = 0

    def on_iteration(intermediate_result):
        nonlocal iteration
        iteration += 1
        if callback is not None:
            callback(iteration, float(intermediate_result.fun))

    with evaluator:
        result = scipy.optimize.minimize(
            objective,
            params.astype(np.float64),
            method="L-BFGS-B",
            jac=True,
            callback=on_iteration,
            options={"maxiter": max_iter, "maxfun": max_fun, "gtol": tol},
        )
    params[...] = result.x
    return result
