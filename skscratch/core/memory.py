"""Arrays that start on a cache-line boundary.

NumPy aligns a new array's data to 16 bytes only, so a large array starts at
an address that is some multiple of 16 modulo 64, a different one from one
allocation to the next. A loop that reads several such vectors 32 bytes at a
time (AVX2; 64 with AVX-512) then has some of its loads straddle two cache
lines. Adam's compiled step, which streams the parameters, the gradients and
the two decayed sums, takes 10-20% longer then, by an amount that changes
from one fit to the next (see :ref:`perf-aligned`).

Matrix products gain too, less: 1-2% for an MNIST-sized network's products
on aligned operands and outputs. The parameter, gradient and optimizer-state
vectors, the layers' work buffers and the gathered batches are therefore
allocated here.
"""

import math

import numpy as np

CACHE_LINE = 64
# Below this many bytes an array is returned as NumPy allocates it: a loop
# over it is too short for split loads to matter, and aligning costs a few
# microseconds per allocation (a prediction on one row allocates several).
SMALL = 16384


def aligned_empty(shape, dtype, alignment=CACHE_LINE):
    """An uninitialised C-ordered array whose data starts at a multiple of
    ``alignment`` bytes (when it holds at least :data:`SMALL` bytes).

    Parameters
    ----------
    shape : int or tuple of int
    dtype : numpy dtype
    alignment : int, default=64
        In bytes; a multiple of the dtype's size.

    Returns
    -------
    array : ndarray of shape ``shape``
        A view into a slightly larger byte buffer (its ``base``), which it
        keeps alive; a plain array below :data:`SMALL` bytes.
    """
    dtype = np.dtype(dtype)
    shape = (int(shape),) if isinstance(shape, int | np.integer) else tuple(shape)
    n_bytes = math.prod(shape) * dtype.itemsize
    if n_bytes < SMALL:
        return np.empty(shape, dtype)
    raw = np.empty(n_bytes + alignment, dtype=np.uint8)
    start = -raw.__array_interface__["data"][0] % alignment
    return raw[start : start + n_bytes].view(dtype).reshape(shape)


def aligned_zeros(shape, dtype, alignment=CACHE_LINE):
    """Like :func:`aligned_empty`, filled with zeros.

    Parameters
    ----------
    shape : int or tuple of int
    dtype : numpy dtype
    alignment : int, default=64

    Returns
    -------
    array : ndarray of shape ``shape``
    """
    array = aligned_empty(shape, dtype, alignment)
    array.fill(0)
    return array
