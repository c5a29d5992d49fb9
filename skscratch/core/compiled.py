"""Optional compiled versions of the optimizers' element-wise updates
(and of the L2 penalty's gradient, added just before them).

An optimizer step in NumPy is a series of whole-vector operations: Adam's is
ten, each one a pass over the 235 000 parameters of an MNIST network, and
one of them a square root that NumPy computes slowly. With the (256, 128)
MNIST network of the benchmark, on two CPU cores, that step is a sixth of
the training time. The same rule written as one loop and compiled with
`Numba <https://numba.pydata.org>`_ reads each vector once and is five times
faster (42 against 210 microseconds in float32).

Numba is an optional dependency (``pip install "skscratch[fast]"``). When it
is installed, :class:`~skscratch.core.optimizers.Adam` (and AdamW),
:class:`~skscratch.core.optimizers.SGD` and
:meth:`Network.add_penalty <skscratch.core.network.Network.add_penalty>` use
these kernels; otherwise, or
inside :func:`disabled`, or when the environment variable
``SKSCRATCH_COMPILED`` is ``0``, they run their NumPy code, which stays the
reference implementation.

The kernels perform exactly the NumPy code's floating point operations, in
the same order and in the vectors' dtype (no fused multiply-add, no
approximate square root), so both give bit-identical parameters, and a
compiled run follows scikit-learn's trajectory as closely as the NumPy one
(``tests/test_optimizers.py`` checks both).

The first call for a dtype compiles the kernel, in about half a second;
Numba caches the result on disk, and later processes load it in about a
quarter of a second. The kernels release the GIL, so threads updating
different blocks of the parameter vector run in parallel.
"""

import os
import threading
from contextlib import contextmanager

import numpy as np

ENV_VAR = "SKSCRATCH_COMPILED"
_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

_lock = threading.Lock()
_kernels = None  # False: Numba missing; else a dict of compiled functions
_disabled_depth = 0  # how many disabled() blocks are active


def adam_loop(params, grads, s1, s2, beta_1, beta_2, eps_hat, step):
    """Adam's update (see :class:`~skscratch.core.optimizers.Adam`) as one
    loop: the NumPy code's operations, one element at a time.

    ``s1``, ``s2`` are the decayed sums of the gradients and of their
    squares; every scalar must have the vectors' dtype.
    """
    for i in range(params.shape[0]):
        g = grads[i]
        m = s1[i] * beta_1 + g  # s1 *= beta_1; s1 += g
        v = s2[i] * beta_2 + g * g  # s2 *= beta_2; s2 += g * g
        s1[i] = m
        s2[i] = v
        params[i] -= m / (np.sqrt(v) + eps_hat) * step


def sgd_loop(params, grads, velocity, minus_lr, momentum, nesterov):
    """SGD with momentum (see :class:`~skscratch.core.optimizers.SGD`) as
    one loop; every scalar must have the vectors' dtype."""
    for i in range(params.shape[0]):
        s = grads[i] * minus_lr  # s = -lr g
        v = velocity[i] * momentum + s  # v *= momentum; v += s
        velocity[i] = v
        if nesterov:
            params[i] = (params[i] + s) + v * momentum
        else:
            params[i] += v


def l2_gradient_loop(grads, weights, strength):
    """Add the L2 penalty's gradient ``strength * W`` to ``grads`` (see
    :meth:`~skscratch.core.network.Network.add_penalty`) in one pass."""
    for i in range(grads.shape[0]):
        grads[i] += weights[i] * strength


def _build_kernels():
    import numba

    def compile_all(cache):
        # error_model="numpy": a division by zero gives inf/nan as in NumPy
        # instead of raising, which also lets the loop be vectorised. No
        # fastmath: it would allow fused multiply-adds and reordered arithmetic.
        jit = numba.njit(error_model="numpy", nogil=True, cache=cache)
        return {
            "adam": jit(adam_loop),
            "sgd": jit(sgd_loop),
            "l2_gradient": jit(l2_gradient_loop),
        }

    try:
        return compile_all(cache=True)
    except RuntimeError:
        # No writable place for Numba's on-disk cache (a read-only install
        # and home directory): compile in every process instead.
        return compile_all(cache=False)


def _load():
    global _kernels
    if _kernels is None:
        with _lock:
            if _kernels is None:
                try:
                    _kernels = _build_kernels()
                except ImportError:
                    _kernels = False
    return _kernels


def available():
    """Whether Numba can be imported, so the kernels can be used.

    Returns
    -------
    available : bool
    """
    return bool(_load())


def enabled():
    """Whether optimizers use the compiled kernels right now: Numba is
    installed, ``SKSCRATCH_COMPILED`` is not ``0`` and no :func:`disabled`
    block is active.

    Returns
    -------
    enabled : bool
    """
    if _disabled_depth or os.environ.get(ENV_VAR) == "0":
        return False
    return available()


@contextmanager
def disabled():
    """Run the optimizers' NumPy code inside the block.

    The switch is process-wide (the threads of
    :class:`~skscratch.core.parallel.DataParallel` follow it too); it is meant
    for comparisons and tests, since both paths give the same numbers.

    Examples
    --------
    >>> from skscratch.core import compiled
    >>> with compiled.disabled():
    ...     compiled.enabled()
    False
    """
    global _disabled_depth
    with _lock:
        _disabled_depth += 1
    try:
        yield
    finally:
        with _lock:
            _disabled_depth -= 1


def kernel(name, dtype):
    """The compiled kernel ``name`` (``'adam'``, ``'sgd'`` or
    ``'l2_gradient'``) for vectors of ``dtype``, or None when the NumPy code
    should run: kernels are off (see :func:`enabled`), or the dtype is not
    float32 or float64, the two the kernels are tested on."""
    if np.dtype(dtype) not in _DTYPES or not enabled():
        return None
    return _load()[name]
