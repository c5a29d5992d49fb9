"""Snapshots of a fitted estimator, so that a failed fit leaves it as it was."""

import copy


def _snapshot(estimator):
    """Copy the fitted state of ``estimator``.

    Parameters
    ----------
    estimator : _BaseScratchMLP
        The estimator about to be fitted.

    Returns
    -------
    saved : dict
        Deep copies of every attribute but the constructor parameters and
        the network, which :func:`_restore` rebuilds from ``coefs_``.
    """
    params = set(estimator._get_param_names())
    return {
        key: copy.deepcopy(value)
        for key, value in estimator.__dict__.items()
        if key not in params and key != "_network"
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
    state.update(saved)
    # One assignment: another thread never sees the model half-restored.
    estimator.__dict__ = state
    if "coefs_" in saved:
        estimator._network_for_training()
