"""L-BFGS glue: SciPy's quasi-Newton search over the flat parameter vector.

Full-batch training needs only ``J(theta)`` and its gradient, which
:meth:`Network.loss_and_gradient` computes; SciPy's L-BFGS-B searches over
``theta`` on the host, in float64, while the objective is evaluated wherever
the network's arrays live.
"""

import numpy as np
import scipy.optimize


def minimize_lbfgs(
    network,
    X,
    Y,
    *,
    sample_weight=None,
    alpha=0.0,
    max_iter=200,
    max_fun=15000,
    tol=1e-4,
    callback=None,
    to_host=np.asarray,
):
    """Minimise the network's objective on the whole data set with L-BFGS.

    Parameters
    ----------
    network : Network
        Trained in place, from its current parameters.
    X : array of shape (n_samples, n_features)
    Y : array of shape (n_samples, n_outputs)
    sample_weight : array of shape (n_samples,), optional
    alpha : float
        L2 penalty strength.
    max_iter, max_fun : int
        Most iterations, most objective evaluations.
    tol : float
        Stop once the largest gradient component is below ``tol``.
    callback : callable, optional
        ``callback(iteration, J)`` after each iteration; raising
        ``StopIteration`` ends the search.
    to_host : callable
        Copies an array of the network's namespace to a NumPy array (the
        default serves NumPy and CPU arrays).

    Returns
    -------
    result : scipy.optimize.OptimizeResult
        ``network.params`` holds ``result.x`` on return.
    """

    def objective(theta):
        network.params[...] = network.asarray(theta)
        J = network.loss_and_gradient(X, Y, sample_weight, alpha)
        return J, np.asarray(to_host(network.grads), dtype=np.float64)

    iteration = 0

    def on_iteration(intermediate_result):
        nonlocal iteration
        iteration += 1
        if callback is not None:
            callback(iteration, float(intermediate_result.fun))

    result = scipy.optimize.minimize(
        objective,
        np.asarray(to_host(network.params), dtype=np.float64),
        method="L-BFGS-B",
        jac=True,
        callback=on_iteration,
        options={"maxiter": max_iter, "maxfun": max_fun, "gtol": tol},
    )
    network.params[...] = network.asarray(result.x)
    return result
