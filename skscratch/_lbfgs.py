"""The L-BFGS solver's fit: scipy's minimiser around the network's loss."""

import math
import warnings

from sklearn.exceptions import ConvergenceWarning

from . import _engines
from ._solvers import _diverged_message
from .callbacks import (
    EpochRecord,
    begin_callbacks,
    begin_epoch,
    call_callbacks,
    end_epochs,
)


def _fit_lbfgs(estimator, network, X, Y, sample_weight, timer):
    """Fit with L-BFGS, the full-batch solver.

    Parameters
    ----------
    estimator : _BaseScratchMLP
        Gives the solver's parameters; gets ``loss_curve_``, ``n_iter_``,
        ``loss_`` and ``best_loss_``.
    network : Network
        The network to train, bound to ``estimator.coefs_``.
    X : ndarray or sparse matrix of shape (n_samples, n_features)
    Y : ndarray of shape (n_samples, n_outputs)
        The encoded targets.
    sample_weight : ndarray of shape (n_samples,) or None
    timer : Timer
        Time since the fit began, for the callbacks' records.
    """

    def on_iteration(iteration, value):
        estimator.loss_curve_.append(value)
        if estimator.verbose:
            print(f"Iteration {iteration}, loss = {value:.8f}")
        record = EpochRecord(iteration, value, None, None, timer(), estimator.max_iter)
        if call_callbacks(estimator.callbacks, estimator, record):
            raise StopIteration  # scipy ends the optimisation here
        begin_epoch(estimator)

    begin_callbacks(estimator, X, Y, sample_weight, estimator.max_iter, lbfgs=True)
    try:
        result = _engines.minimize_lbfgs(
            network,
            X,
            Y,
            estimator._loss(),
            alpha=estimator.alpha,
            sample_weight=sample_weight,
            max_iter=estimator.max_iter,
            max_fun=estimator.max_fun,
            tol=estimator.tol,
            callback=on_iteration,
        )
    except KeyboardInterrupt:
        warnings.warn("Training interrupted by user.")
        return
    if not math.isfinite(result.fun):
        raise ValueError(_diverged_message(estimator))
    stopped_by_callback = result.status == 99
    if result.status != 0 and not stopped_by_callback:
        message = result.message
        if isinstance(message, bytes):
            message = message.decode("latin1")
        warnings.warn(
            f"lbfgs failed to converge after {result.nit} iteration(s) "
            f"(status={result.status}): {message}.\n\nIncrease the number of "
            "iterations (max_iter, max_fun) or scale the data, see "
            "https://scikit-learn.org/stable/modules/preprocessing.html",
            ConvergenceWarning,
        )
    estimator.n_iter_ = min(result.nit, estimator.max_iter)
    estimator.loss_ = float(result.fun)
    estimator.best_loss_ = min([*estimator.loss_curve_, estimator.loss_])
    end_epochs(estimator)
