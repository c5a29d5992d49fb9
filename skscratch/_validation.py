"""Early stopping's held-out data: the split, its scores, its bookkeeping."""

import math

import numpy as np
from sklearn.model_selection import train_test_split

from ._namespaces import take_rows


def _start_validation_record(estimator):
    """Empty the validation curves and reset the best values seen.

    Parameters
    ----------
    estimator : _BaseScratchMLP
        The estimator that starts early stopping.
    """
    estimator.validation_scores_ = []
    estimator.best_validation_score_ = -np.inf
    estimator.validation_loss_curve_ = []
    estimator.best_validation_loss_ = np.inf


def _split_validation(estimator, X, Y, sample_weight):
    """Hold out ``validation_fraction`` of the rows, stratified when the
    targets allow it.

    Parameters
    ----------
    estimator : _BaseScratchMLP
        Gives ``validation_fraction``, the random state and the groups to
        stratify on (``_stratification_groups``).
    X : ndarray or sparse matrix of shape (n_samples, n_features)
    Y : ndarray of shape (n_samples, n_outputs)
        The encoded targets.
    sample_weight : ndarray of shape (n_samples,) or None

    Returns
    -------
    X_train, Y_train, sw_train, X_val, Y_val, sw_val
        The two parts of each input (weights None where none were given).
    """
    n_samples = X.shape[0]
    n_val = math.ceil(estimator.validation_fraction * n_samples)
    if estimator.validation_fraction == 0 or n_val < 2 or n_samples - n_val < 1:
        raise ValueError(
            "The validation set is too small. Increase 'validation_fraction' "
            "or the size of your dataset."
        )
    groups = estimator._stratification_groups(Y)
    if groups is not None:
        _, counts = np.unique(groups, return_counts=True)
        n_groups = counts.size
        if counts.min() < 2 or n_val < n_groups or n_samples - n_val < n_groups:
            groups = None
    train, val = train_test_split(
        np.arange(n_samples),
        random_state=estimator._random_state,
        test_size=estimator.validation_fraction,
        stratify=groups,
    )
    sw_train = sw_val = None
    if sample_weight is not None:
        sw_train, sw_val = sample_weight[train], sample_weight[val]
    X_train, X_val = take_rows(X, train), take_rows(X, val)
    return X_train, Y[train], sw_train, X_val, Y[val], sw_val


def _evaluate_validation(estimator, trainer, X, Y, y, sample_weight):
    """Score (accuracy or R^2) and loss (without penalty) on held-out data.

    Parameters
    ----------
    estimator : _BaseScratchMLP
    trainer : DataParallel
        Predicts with the network being trained.
    X, Y, y, sample_weight
        The held-out rows, their encoded and decoded targets and weights.

    Returns
    -------
    score, loss : float
        NaN for either when the predictions are not finite.
    """
    outputs = trainer.predict(X, estimator._output_function())
    loss = estimator._loss()
    weight_sum = X.shape[0] if sample_weight is None else sample_weight.sum()
    with np.errstate(all="ignore"):
        value = loss.total(Y, outputs, sample_weight) / float(weight_sum)
    y_pred = estimator._outputs_to_predictions(outputs)
    if np.issubdtype(y_pred.dtype, np.floating) and not np.isfinite(y_pred).all():
        return np.nan, np.nan
    score = float(estimator._score_function()(y, y_pred, sample_weight=sample_weight))
    return score, float(value)


def _update_no_improvement_count(estimator, trainer, validation):
    """Count the epochs without progress, and keep the best weights.

    Parameters
    ----------
    estimator : _BaseScratchMLP
        Its ``loss_curve_`` ends with the epoch just trained.
    trainer : DataParallel
    validation : tuple or None
        ``(X, Y, y, sample_weight)`` held out for early stopping; None
        without early stopping, when the training loss is watched instead.

    Returns
    -------
    score, loss : float or None
        The epoch's validation score and loss (None without early stopping).
    """
    if validation is None:
        last = estimator.loss_curve_[-1]
        if last > estimator.best_loss_ - estimator.tol:
            estimator._no_improvement_count += 1
        else:
            estimator._no_improvement_count = 0
        if last < estimator.best_loss_:
            estimator.best_loss_ = last
        return None, None

    score, loss = _evaluate_validation(estimator, trainer, *validation)
    estimator.validation_scores_.append(score)
    estimator.validation_loss_curve_.append(loss)
    if estimator.verbose:
        print(f"Validation score: {score:f}")  # scikit-learn's line
        print(f"Validation loss: {loss:.8f}")
    if estimator.early_stopping_metric == "loss":
        improved = loss < estimator.best_validation_loss_ - estimator.tol
        best = loss < estimator.best_validation_loss_
    else:
        improved = not score < estimator.best_validation_score_ + estimator.tol
        best = score > estimator.best_validation_score_
    count = estimator._no_improvement_count
    estimator._no_improvement_count = 0 if improved else count + 1
    if best:
        estimator._best_params[...] = trainer.network.params
    estimator.best_validation_score_ = max(estimator.best_validation_score_, score)
    estimator.best_validation_loss_ = min(estimator.best_validation_loss_, loss)
    return score, loss
