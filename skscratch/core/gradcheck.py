"""Checking backpropagation against finite differences.

The derivative of the objective ``J`` along parameter ``theta_j`` can be
estimated without any calculus, by nudging that one parameter both ways::

    dJ/dtheta_j ~ (J(theta + h e_j) - J(theta - h e_j)) / (2 h)

The error of this central difference shrinks like ``h^2``. It costs two
evaluations of ``J`` per parameter, far too slow for training, but it is an
independent witness: if backpropagation and the finite differences agree to
many digits, the chain rule was applied correctly.
"""

from dataclasses import dataclass

import numpy as np


@dataclass
class GradientCheck:
    """Result of :func:`check_gradients`.

    Attributes
    ----------
    analytic : ndarray of shape (n_checked,)
        Gradient components from backpropagation.
    numeric : ndarray of shape (n_checked,)
        The same components from central differences.
    indices : ndarray of shape (n_checked,)
        Which entries of ``network.params`` were checked.
    max_abs_error : float
        Largest ``|analytic - numeric|``.
    max_rel_error : float
        Largest ``|analytic - numeric| / max(|analytic|, |numeric|, floor)``
        where ``floor`` is ``1e-3`` times the largest gradient component, so
        that components that are zero up to round-off do not dominate.
    """

    analytic: np.ndarray
    numeric: np.ndarray
    indices: np.ndarray
    max_abs_error: float
    max_rel_error: float

    def __str__(self):
        return (
            f"GradientCheck({self.indices.size} parameters: "
            f"max abs error {self.max_abs_error:.3g}, "
            f"max rel error {self.max_rel_error:.3g})"
        )


def check_gradients(
    network,
    X,
    Y,
    loss,
    *,
    alpha=0.0,
    sample_weight=None,
    step=None,
    max_params=None,
    random_state=None,
):
    """Compare the network's backpropagated gradient with finite differences.

    Parameters
    ----------
    network : Network
        Its parameters are left as they were. Use float64 for meaningful
        results: float32 round-off swamps the finite differences.
    X : ndarray of shape (n_samples, n_features)
    Y : ndarray of shape (n_samples, n_outputs)
    loss : str or Loss
    alpha : float, default=0.0
        L2 penalty strength (checked too).
    sample_weight : ndarray of shape (n_samples,), optional
    step : float, optional
        Finite difference step ``h``; defaults to ``eps ** (1/3)`` scaled by
        the parameter's magnitude, the usual balance between truncation and
        round-off for central differences.
    max_params : int, optional
        Check only this many randomly chosen parameters (all by default).
    random_state : int or numpy.random.Generator, optional
        Used to choose the parameters when ``max_params`` is set.

    Returns
    -------
    result : GradientCheck
    """
    params = network.params
    original = params.copy()
    try:
        network.loss_and_gradient(X, Y, loss, alpha=alpha, sample_weight=sample_weight)
        full = network.grads.copy()
        indices = np.arange(params.size)
        if max_params is not None and max_params < params.size:
            rng = np.random.default_rng(random_state)
            indices = np.sort(rng.choice(params.size, size=max_params, replace=False))

        base = np.finfo(params.dtype).eps ** (1 / 3)
        numeric = np.empty(indices.size)
        for k, j in enumerate(indices):
            h = step if step is not None else base * max(1.0, abs(original[j]))
            params[j] = original[j] + h
            up = network.loss_and_gradient(
                X, Y, loss, alpha=alpha, sample_weight=sample_weight
            )
            params[j] = original[j] - h
            down = network.loss_and_gradient(
                X, Y, loss, alpha=alpha, sample_weight=sample_weight
            )
            params[j] = original[j]
            numeric[k] = (up - down) / (2 * h)
    finally:
        params[...] = original
        network.loss_and_gradient(X, Y, loss, alpha=alpha, sample_weight=sample_weight)

    analytic = full[indices].astype(np.float64)
    abs_err = np.abs(analytic - numeric)
    floor = 1e-3 * max(np.abs(analytic).max(initial=0.0), np.finfo(np.float64).tiny)
    denom = np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), floor)
    return GradientCheck(
        analytic=analytic,
        numeric=numeric,
        indices=indices,
        max_abs_error=float(abs_err.max(initial=0.0)),
        max_rel_error=float((abs_err / denom).max(initial=0.0)),
    )
