"""Snapshots of a fitted estimator, so that a failed fit leaves it as it was."""

import copy

from .callbacks import FIT_CALLBACK_ATTRIBUTES


def _snapshot(estimator):
    """Copy the fitted state of ``estimator``.

    Parameters
    ----------
    estimator : _BaseScratchMLP
        The estimator about to be fitted.

    Returns
    -------
    saved : dict
        Deep copies of every attribute but the constructor parameters, the
        network, which :func:`_restore` rebuilds from ``coefs_``, and
        scikit-learn's callback plumbing, which belongs to the run.
    """
    skipped = {*estimator._get_param_names(), "_network", *FIT_CALLBACK_ATTRIBUTES}
    return {
        key: copy.deepcopy(value)
        for key, value in estimator.__dict__.items()
        if key not in skipped
    }


def _restore(estimator, saved):
    """Put back the state :func:`_snapshot` copied.

    Parameters
    ----------
    estimator : _BaseScratchMLP
        The estimator whose fit failed.
    saved : dict
        What :func:`_snapshot` returned before the fit.
    """
    state = {key: getattr(estimator, key) for key in estimator._get_param_names()}
    # scikit-learn tears its callbacks down after the fit, from these.
    live = estimator.__dict__
    state.update({key: live[key] for key in FIT_CALLBACK_ATTRIBUTES if key in live})
    state.update(saved)
    # One assignment: another thread never sees the model half-restored.
    estimator.__dict__ = state
    if "coefs_" in saved:
        estimator._network_for_training()
