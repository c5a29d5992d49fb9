"""Taking a batch's rows out of the training data, checked on the way.

A stochastic solver's epoch visits the rows of ``X`` in a shuffled order,
batch by batch: each batch is a contiguous piece of the epoch's permutation,
whose rows are copied (gathered) into a buffer that the layers then read.

Input validation rejects NaN and infinities, which takes a pass over all of
``X`` before training starts, at the speed of memory. The first epoch reads
every row anyway, so the check can ride along: :func:`take_rows` tests the
values as it copies them, in the same compiled loop
(:func:`~skscratch.core.compiled.take_rows_loop`), where the test costs
nothing next to the copy; the gathers then take less time than NumPy's
``take`` alone, let alone ``take`` plus the separate pass (see
:ref:`perf-validation`).

The estimators use this when they can (a dense C-ordered ``X``, compiled
kernels, no validation split; see :func:`checks_while_taking`): a batch with
a bad value raises :class:`NonFiniteRowsError` before any of its rows reach
the network, and the estimator rolls back what the earlier batches of the
epoch changed and raises scikit-learn's error instead.
"""

import numpy as np

from . import compiled


class NonFiniteRowsError(ValueError):
    """Rows taken for a batch, or a block of rows compressed for a
    prediction, hold NaN or an infinity."""

    def __init__(self, message="The rows taken hold NaN or infinity."):
        super().__init__(message)


def checks_while_taking(X):
    """Whether :func:`take_rows` can check rows of ``X`` at no extra cost.

    Parameters
    ----------
    X : object
        The training data.

    Returns
    -------
    cheap : bool
        True for a 2-D, C-ordered float32 or float64 ndarray while the
        compiled kernels are loaded and on (see
        :func:`skscratch.core.compiled.kernel`).
    """
    return (
        isinstance(X, np.ndarray)
        and X.ndim == 2
        and X.flags.c_contiguous
        and compiled.kernel("take_rows", X.dtype) is not None
    )


def take_rows(A, rows, out, check_finite=False):
    """``out[...] = A[rows]``, optionally checked for NaN and infinities.

    Parameters
    ----------
    A : ndarray of shape (n_samples, ...)
        The data.
    rows : ndarray of int of shape (n_rows,)
        Valid row indices (not checked).
    out : ndarray of shape (n_rows, ...)
        Where the rows go, of ``A``'s dtype.
    check_finite : bool, default=False
        Raise :class:`NonFiniteRowsError` if a value taken is NaN or
        infinite.

    Returns
    -------
    out : ndarray of shape (n_rows, ...)
    """
    kernel = None
    if check_finite and A.ndim == 2 and A.flags.c_contiguous and out.flags.c_contiguous:
        kernel = compiled.kernel("take_rows", A.dtype)
    if kernel is not None:
        finite = kernel(A, rows, out)
    else:
        # NumPy's take, when nothing is to be checked: as fast as the kernel
        # on MNIST rows, faster on narrow ones such as one-hot targets.
        # mode="clip" skips the bounds-checking pass; the rows are valid.
        np.take(A, rows, axis=0, out=out, mode="clip")
        finite = not check_finite  # False: still to be checked
    if not finite:
        # A False from the kernel is confirmed before raising (see
        # take_rows_loop).
        check_finite_rows(out)
    return out


def check_finite_rows(block):
    """Raise :class:`NonFiniteRowsError` if ``block`` holds NaN or infinity.

    For rows that are not gathered: a slice of ``X`` when the epoch does not
    shuffle, or a batch the training loop skips.

    Parameters
    ----------
    block : ndarray
    """
    if not all_finite(block):
        raise NonFiniteRowsError()


def all_finite(A):
    """Whether ``A`` holds neither NaN nor infinity.

    Parameters
    ----------
    A : ndarray

    Returns
    -------
    finite : bool
    """
    check = compiled.kernel_for("all_finite", A)
    if check is not None:
        return bool(check(A.reshape(-1)))
    return bool(np.isfinite(A).all())
