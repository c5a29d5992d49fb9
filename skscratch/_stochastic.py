"""The stochastic solvers' epoch loop: mini-batches, records, stopping rules."""

import math
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ._solvers import _diverged_message
from ._validation import _update_no_improvement_count
from .callbacks import (
    EpochRecord,
    begin_callbacks,
    begin_epoch,
    call_callbacks,
    end_epochs,
)


def _batch_size(estimator, n_samples):
    """The mini-batch size ``estimator.batch_size`` gives for ``n_samples``
    rows, clipped to ``[1, n_samples]`` with scikit-learn's warning."""
    if estimator.batch_size == "auto":
        return min(200, n_samples)
    if estimator.batch_size > n_samples:
        warnings.warn(
            "Got `batch_size` less than 1 or larger than sample size. It is "
            "going to be clipped"
        )
    return int(np.clip(estimator.batch_size, 1, n_samples))


def _shuffled(sample_idx, random_state):
    """``sample_idx`` permuted with the draws scikit-learn's ``shuffle`` makes,
    so the same seed visits the rows in the same order.

    scikit-learn shuffles ``arange(n)`` and indexes with it; shuffling
    ``sample_idx`` in place makes the same swaps (they depend on the draws
    only), so it gives the same order without two more index arrays.
    """
    random_state.shuffle(sample_idx)
    return sample_idx


def _run_epochs(
    estimator, trainer, X, Y, sample_weight, batch_size, validation, incremental, timer
):
    """The epoch loop: for each epoch, train, record, check whether to stop.

    Parameters
    ----------
    estimator : _BaseScratchMLP
        The estimator being fitted; its optimizer is ``_optimizer``.
    trainer : DataParallel
        Computes the mini-batches' gradients and steps the optimizer.
    X : ndarray or sparse matrix of shape (n_samples, n_features)
    Y : ndarray of shape (n_samples, n_outputs)
        The encoded targets.
    sample_weight : ndarray of shape (n_samples,) or None
    batch_size : int
    validation : tuple or None
        ``(X, Y, y, sample_weight)`` held out for early stopping, or None.
    incremental : bool
        Whether this is ``partial_fit``, which trains one epoch.
    timer : Timer
        Time since the fit began, for the callbacks' records.
    """
    n_samples = X.shape[0]
    total_weight = n_samples if sample_weight is None else sample_weight.sum()
    loss = estimator._loss()
    # Pointer-sized indices: NumPy's shuffle has a faster loop for items
    # of that size, and makes the same draws whatever the dtype.
    sample_idx = np.arange(n_samples, dtype=np.intp)
    estimator.n_iter_ = 0
    max_epochs = 1 if incremental else estimator.max_iter
    begin_callbacks(estimator, X, Y, sample_weight, max_epochs)
    for _ in range(estimator.max_iter):
        begin_epoch(estimator)
        if estimator.shuffle:
            sample_idx = _shuffled(sample_idx, estimator._random_state)
        accumulated_loss = _train_one_epoch(
            estimator, trainer, X, Y, sample_weight, loss, sample_idx, batch_size
        )
        trainer.check_rows = False  # every row has been checked
        record = _end_epoch(
            estimator,
            trainer,
            accumulated_loss / total_weight,
            n_samples,
            validation,
            incremental,
            timer,
        )
        if call_callbacks(estimator.callbacks, estimator, record):
            break
        if _stops_for_no_improvement(estimator, validation):
            break
        if incremental:
            break
        if estimator.n_iter_ == estimator.max_iter:
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({estimator.max_iter}) "
                "reached and the optimization hasn't converged yet.",
                ConvergenceWarning,
            )
    end_epochs(estimator)


def _train_one_epoch(
    estimator, trainer, X, Y, sample_weight, loss, sample_idx, batch_size
):
    """One pass over the rows, a mini-batch at a time.

    Parameters
    ----------
    estimator, trainer, X, Y, sample_weight, batch_size
        As for :func:`_run_epochs`.
    loss : Loss
        The core loss to train with.
    sample_idx : ndarray of intp
        This epoch's order of the rows (used when ``estimator.shuffle``).

    Returns
    -------
    accumulated_loss : float
        The sum over the batches of their loss times their weight.
    """
    n_samples = X.shape[0]
    accumulated_loss = 0.0
    for start in range(0, n_samples, batch_size):
        stop = min(start + batch_size, n_samples)
        # A contiguous piece of this epoch's permutation; the trainer
        # gathers those rows into buffers it reuses.
        rows = sample_idx[start:stop] if estimator.shuffle else slice(start, stop)
        batch_weight = (
            stop - start if sample_weight is None else float(sample_weight[rows].sum())
        )
        if batch_weight == 0:
            # Only zero-weight rows: nothing to learn, but X's values
            # must still be finite.
            trainer.check_skipped_rows(X, rows)
            continue
        batch_loss = trainer.loss_and_gradient(
            X,
            Y,
            loss,
            alpha=estimator.alpha,
            sample_weight=sample_weight,
            rows=rows,
            weight_sum=batch_weight,
            optimizer=estimator._optimizer,
        )
        if not math.isfinite(batch_loss):
            raise ValueError(_diverged_message(estimator))
        accumulated_loss += batch_loss * batch_weight
    return accumulated_loss


def _end_epoch(
    estimator, trainer, epoch_loss, n_samples, validation, incremental, timer
):
    """The bookkeeping after an epoch: curves, counters, the optimizer's
    schedule.

    Parameters
    ----------
    estimator, trainer, validation, incremental, timer
        As for :func:`_run_epochs`.
    epoch_loss : float
        The epoch's mean training loss.
    n_samples : int
        The rows trained on in the epoch.

    Returns
    -------
    record : EpochRecord
        What the callbacks are given.
    """
    estimator.n_iter_ += 1
    estimator.loss_ = epoch_loss
    estimator.t_ += n_samples
    estimator.loss_curve_.append(estimator.loss_)
    if estimator.verbose:
        print(f"Iteration {estimator.n_iter_}, loss = {estimator.loss_:.8f}")

    validation_score, validation_loss = _update_no_improvement_count(
        estimator, trainer, validation
    )
    estimator._optimizer.iteration_ends(estimator.t_)

    return EpochRecord(
        epoch=estimator.n_iter_,
        loss=estimator.loss_,
        validation_loss=validation_loss,
        validation_score=validation_score,
        elapsed=timer(),
        max_epochs=1 if incremental else estimator.max_iter,
    )


def _stops_for_no_improvement(estimator, validation):
    """Whether ``n_iter_no_change`` epochs without progress end the fit.

    An adaptive learning rate is lowered instead, while it can be.

    Parameters
    ----------
    estimator : _BaseScratchMLP
    validation : tuple or None
        As for :func:`_run_epochs`: says which quantity is watched.

    Returns
    -------
    stop : bool
    """
    if estimator._no_improvement_count <= estimator.n_iter_no_change:
        return False
    watched = "Training loss"
    if validation is not None:
        watched = (
            "Validation loss"
            if estimator.early_stopping_metric == "loss"
            else "Validation score"
        )
    msg = (
        f"{watched} did not improve more than tol={estimator.tol:f} for "
        f"{estimator.n_iter_no_change} consecutive epochs."
    )
    if estimator._optimizer.reduce_on_plateau():
        if estimator.verbose:
            print(
                f"{msg} Setting learning rate to {estimator._optimizer.learning_rate:f}"
            )
        estimator._no_improvement_count = 0
        return False
    if estimator.verbose:
        too_small = estimator.solver == "sgd" and (
            estimator.learning_rate == "adaptive"
        )
        print(msg + (" Learning rate too small." if too_small else "") + " Stopping.")
    return True
