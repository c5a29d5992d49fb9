"""Optional compiled versions of the element-wise steps of training.

An optimizer step in NumPy is a series of whole-vector operations: Adam's is
ten, each one a pass over the 235 000 parameters of an MNIST network, and
one of them a square root that NumPy computes slowly. With the (256, 128)
MNIST network of the benchmark, on two CPU cores, that step is a sixth of
the training time. The same rule written as one loop and compiled with
`Numba <https://numba.pydata.org>`_ reads each vector once and is five times
faster. The loop also adds the L2
penalty's gradient on its way, which NumPy does in two more passes.

The forward pass has three smaller steps of the same kind, where NumPy pays
more for its generality than for the arithmetic: adding the bias row to a
batch (broadcasting), relu with its mask (two passes), and the maximum of each
row before softmax (a reduction over a few columns, mostly set-up). Each is one
short loop here, several times faster (see :ref:`perf-compiled`).

Numba is an optional dependency (``pip install "skscratch[fast]"``). Once
the kernels are loaded (:func:`load`, which the estimators call for the
jobs where the kernels pay; nothing but it and :func:`available` imports
Numba),
:class:`~skscratch.core.optimizers.Adam` (and AdamW),
:class:`~skscratch.core.optimizers.SGD`, the L2 penalty
(:mod:`skscratch.core.penalty`), :class:`~skscratch.core.layers.Dense`,
:class:`~skscratch.core.activations.ReLU` and
:class:`~skscratch.core.activations.Softmax` use these kernels; the
estimators check their input for NaN and infinities with one
(:func:`all_finite_loop`, or :func:`take_rows_loop` as the first epoch
gathers each batch), and the threads of
:class:`~skscratch.core.parallel.DataParallel` wait for each other with
another (:func:`spin_until_loop`). Otherwise, or inside :func:`disabled`,
or when the environment variable ``SKSCRATCH_COMPILED`` is ``0`` (read
when an estimator's fit or prediction starts: :func:`read_environment`), they run
their NumPy code, which stays the reference implementation (the input check
is then scikit-learn's, and the threads sleep on locks).

The kernels perform exactly the NumPy code's floating point operations, in
the same order and in the arrays' dtype (no fused multiply-add, no
approximate square root; a maximum does not depend on the order), so both
give bit-identical results, and a compiled run follows scikit-learn's
trajectory as closely as the NumPy one (``tests/test_compiled.py`` checks
both). The one operation left out, in Adam's kernel, is the square of a
gradient too small to change the sum it is added to (see :func:`adam_loop`):
it changes no bit, and it spares the CPU's slow path for subnormal numbers,
which otherwise doubled the cost of Adam's step from the third MNIST epoch
on. Functions whose compiled result could differ in the last bit (``exp``,
``log``, sums) are left to NumPy.

The one exception is the first layer's products on compressed rows
(:mod:`skscratch.core.compressed`): they have no NumPy counterpart to match
(BLAS's order of summation is its own), and agree with the dense products to
rounding. Their inner loop is written in LLVM's own terms (``_tile_sum``),
with multiply-adds that are fused where the CPU has the instruction, since
Numba's loops cannot keep a stretch of the output row in registers. So is
the vector step that compresses the rows with AVX-512's compress
instructions (``_vector_compression``), which Numba has no words for; it
stores exactly what the loop over single entries does.

The first call for a dtype compiles the kernel, in about half a second;
Numba caches the result on disk, and later processes import Numba and load
the kernels in about half a second too (see :func:`load` for where the
cache goes when the package's directory is read-only). The kernels are
compiled for the CPU that Numba compiles for (``NUMBA_CPU_NAME``,
``NUMBA_CPU_FEATURES``), which need not be this one. They release the GIL,
so threads updating different blocks of the parameter vector run in
parallel.
"""

import functools
import os
import platform
import stat
import tempfile
import threading
import warnings
from contextlib import contextmanager

import numpy as np

ENV_VAR = "SKSCRATCH_COMPILED"
_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

_lock = threading.Lock()
_kernels = None  # False: Numba missing; else a dict of compiled functions
_disabled_depth = 0  # how many disabled() blocks are active
# SKSCRATCH_COMPILED == "0", as last read by read_environment() (None: not
# read yet). A training step looks kernels up about a dozen times, and
# reading the environment costs more than the rest of the lookup.
_env_off = None


def adam_loop(
    params,
    grads,
    s1,
    s2,
    beta_1,
    beta_2,
    eps_hat,
    step,
    n_penalised,
    strength,
    square_min,
    sum_min,
):
    """Adam's update (see :class:`~skscratch.core.optimizers.Adam`) as one
    loop: the NumPy code's operations, one element at a time.

    ``s1``, ``s2`` are the decayed sums of the gradients and of their
    squares. The first ``n_penalised`` gradients first get the L2 penalty's
    gradient ``strength * params`` added (and written back, as
    :func:`~skscratch.core.penalty.add_l2_gradient` would). ``square_min``
    and ``sum_min`` come from :func:`adam_square_bounds`. Every scalar but
    ``n_penalised`` must have the vectors' dtype.
    """
    zero = grads.dtype.type(0)

    def rule(i, g):
        m = s1[i] * beta_1 + g  # s1 *= beta_1; s1 += g
        decayed = s2[i] * beta_2  # s2 *= beta_2
        # When |g| < square_min, g * g is below the smallest normal number,
        # less than half a unit in the last place of any sum of at least
        # sum_min: adding it leaves the sum as it is, so it is skipped. The
        # CPU computes subnormal results on a slow path, and Adam with an L2
        # term meets them on every weight that only the penalty moves (the
        # weights of pixels blank or nearly so: on MNIST, half the network
        # after 4 epochs).
        h = zero if abs(g) < square_min and decayed >= sum_min else g
        v = decayed + h * h  # s2 += g * g
        s1[i] = m
        s2[i] = v
        params[i] -= m / (np.sqrt(v) + eps_hat) * step

    # Two loops rather than one with a test on i: about 10% faster.
    for i in range(n_penalised):
        g = grads[i] + params[i] * strength
        grads[i] = g
        rule(i, g)
    for i in range(n_penalised, params.shape[0]):
        rule(i, grads[i])


@functools.lru_cache
def adam_square_bounds(dtype):
    """``square_min`` and ``sum_min`` of :func:`adam_loop` for ``dtype``.

    Below ``square_min = 2**(e/2)``, with ``2**e`` the smallest normal
    number, a square rounds to at most ``2**e``. A sum of at least
    ``sum_min = 2**(e + p + 2)``, with ``p`` the fraction bits (23 for
    float32), has a last place of at least ``2**(e + 2)``: adding such a
    square, less than half of it, rounds back to the sum.

    Parameters
    ----------
    dtype : numpy dtype
        float32 or float64.

    Returns
    -------
    square_min, sum_min : numpy scalars of ``dtype``
    """
    info = np.finfo(dtype)
    t = np.dtype(dtype).type
    return t(2.0 ** (info.minexp // 2)), t(2.0 ** (info.minexp + info.nmant + 2))


def sgd_loop(
    params, grads, velocity, minus_lr, momentum, nesterov, n_penalised, strength
):
    """SGD with momentum (see :class:`~skscratch.core.optimizers.SGD`) as
    one pass, with the L2 gradient added first as in :func:`adam_loop`;
    every scalar but ``n_penalised`` must have the vectors' dtype."""

    def rule(i, g):
        s = g * minus_lr  # s = -lr g
        v = velocity[i] * momentum + s  # v *= momentum; v += s
        velocity[i] = v
        if nesterov:
            params[i] = (params[i] + s) + v * momentum
        else:
            params[i] += v

    for i in range(n_penalised):
        g = grads[i] + params[i] * strength
        grads[i] = g
        rule(i, g)
    for i in range(n_penalised, params.shape[0]):
        rule(i, grads[i])


def l2_gradient_loop(grads, weights, strength):
    """Add the L2 penalty's gradient ``strength * W`` to ``grads`` (see
    :func:`~skscratch.core.penalty.add_l2_gradient`) in one pass."""
    for i in range(grads.shape[0]):
        grads[i] += weights[i] * strength


def add_bias_loop(z, bias):
    """``z += bias`` on every row of the C-ordered matrix ``z``."""
    n_rows, n_cols = z.shape
    for i in range(n_rows):
        for j in range(n_cols):
            z[i, j] += bias[j]


def relu_loop(values):
    """relu of the flat vector ``values``, in place (see
    :meth:`ReLU.forward <skscratch.core.activations.ReLU.forward>`)."""
    one, zero = values.dtype.type(1), values.dtype.type(0)
    for i in range(values.shape[0]):
        values[i] *= one if values[i] > 0 else zero


def relu_with_mask_loop(values, mask):
    """relu of the flat vector ``values``, in place, with its derivative,
    the mask ``values > 0`` as 1.0 / 0.0, written into ``mask``.

    In place on purpose, like :func:`relu_loop`: with separate input and
    output arrays that may be the same, the compiled loop checks for overlap
    and, finding it, runs without SIMD, four times slower.
    """
    one, zero = mask.dtype.type(1), mask.dtype.type(0)
    for i in range(values.shape[0]):
        d = one if values[i] > 0 else zero
        mask[i] = d
        values[i] *= d


def subtract_row_max_loop(z, out):
    """``out = z - max(z, axis=1)`` for a C-ordered matrix (``out`` may be
    ``z``); a NaN in a row makes that row's maximum NaN, as in NumPy."""
    n_rows, n_cols = z.shape
    for i in range(n_rows):
        top = z[i, 0]
        for j in range(1, n_cols):
            v = z[i, j]
            if v > top or v != v:
                top = v
            if top != top:
                break
        for j in range(n_cols):
            out[i, j] = z[i, j] - top


def all_finite_loop(values):
    """Whether the flat vector ``values`` holds neither NaN nor infinity.

    A finite number times zero is zero; NaN or an infinity times zero is NaN.
    The products are summed in 64 independent running sums, which the
    compiler keeps in SIMD registers: the pass runs at the speed of memory,
    where a test and a branch per element would not (see
    :ref:`perf-validation`).
    """
    lanes = 64
    zero = values.dtype.type(0)
    sums = np.zeros(lanes, values.dtype)
    n = values.shape[0]
    end = n - n % lanes
    for start in range(0, end, lanes):
        for k in range(lanes):
            sums[k] += values[start + k] * zero
    total = zero
    for i in range(end, n):
        total += values[i] * zero
    for k in range(lanes):
        total += sums[k]
    return total == zero


def prefetch_row_loop(X, i):
    """Ask for the cache lines of row ``i`` of the C-ordered matrix ``X``.

    :func:`take_rows_loop` and :func:`compress_rows_loop` call it on the
    next row of a batch while they work on the current one: a batch's rows
    are scattered, and the hardware prefetcher only learns a row's stream
    once it has started.
    """
    n_cols = X.shape[1]
    line = max(1, 64 // X.itemsize)  # entries per cache line
    for j in range(0, n_cols, line):
        _prefetch(X, i, j)
    _prefetch(X, i, n_cols - 1)


def take_rows_loop(X, rows, out):
    """Copy rows ``rows`` of the C-ordered matrix ``X`` into ``out`` (a
    batch's gather) and tell whether they hold neither NaN nor infinity.

    The test is :func:`all_finite_loop`'s, a sum of every value times zero,
    made on each value on its way from ``X`` to ``out``. The copy waits on
    memory, so the test adds nothing to its time (see
    :ref:`perf-validation`). This kernel alone is
    compiled with reassociation allowed, which lets the sum run in SIMD
    lanes; the copy itself is exact, and the sum's terms are zeros and
    NaNs, whose total is zero exactly when every term is, in any order. A
    NaN can never be missed: that would need the no-NaN assumption, which
    stays off. Should the compiler ever regroup the terms so that finite
    values overflow, the caller's confirmation with NumPy
    (:func:`skscratch.core.rows.take_rows`) turns that into time lost, not
    a false error.
    """
    n_rows, n_cols = rows.shape[0], X.shape[1]
    zero = X.dtype.type(0)
    total = zero
    for i in range(n_rows):
        if i + 1 < n_rows:
            _prefetch_row(X, rows[i + 1])  # while this one is copied
        r = rows[i]
        for j in range(n_cols):
            v = X[r, j]
            out[i, j] = v
            total += v * zero
    return total == zero


def compress_rows_loop(X, rows, indptr, indices, values):
    """Store rows ``rows`` of the C-ordered matrix ``X``, in that order, by
    their nonzero entries (compressed sparse rows): the ``r``-th row's are
    ``values[indptr[r]:indptr[r+1]]`` in the columns ``indices[...]``.

    Returns the number of nonzero entries, and whether the rows hold neither
    NaN nor infinity (tested on each value on its way, which costs next to
    nothing; a separate pass over ``X`` would cost as much as the
    compression). Entries are only written while they fit in ``values``; a
    count larger than its size means the caller must grow the arrays and
    call again. NaN counts as nonzero.

    Taking a batch's rows here, straight from the training data, saves the
    gather into a buffer that compressing would then read again (see
    :ref:`perf-compressed`).

    With AVX-512, each stretch of 64 bytes of a row is compressed by the
    CPU's own instruction (``_vector_compression``), several times faster
    than the loop over single entries that other CPUs run, which writes
    every entry and moves on only past a nonzero (no branch to mispredict).
    """
    n_rows, n_cols = rows.shape[0], X.shape[1]
    capacity = values.shape[0]
    lanes = _COMPRESS_BYTES // X.itemsize  # 0: no vector compression here
    n_vector_cols = n_cols - n_cols % lanes if lanes else 0
    bad = np.zeros(1, np.int32)  # or-ed NaN/infinity bits of the vectors
    zero = X.dtype.type(0)
    total = zero
    nnz = 0
    indptr[0] = 0
    for r in range(n_rows):
        if r + 1 < n_rows:
            _prefetch_row(X, rows[r + 1])  # while this one is compressed
        i = rows[r]
        if nnz + n_cols <= capacity:
            # Room for the whole row: the vector steps store whole vectors,
            # and the loop below writes every entry; both move the count on
            # only past the nonzeros, which later writes then overwrite.
            if n_vector_cols:
                nnz = _compress_vectors(
                    X, i, n_vector_cols // lanes, indices, values, nnz, bad
                )
            for j in range(n_vector_cols, n_cols):
                v = X[i, j]
                indices[nnz] = j
                values[nnz] = v
                total += v * zero
                nnz += v != 0
        else:
            for j in range(n_cols):
                v = X[i, j]
                total += v * zero
                if v != 0:
                    if nnz < capacity:
                        indices[nnz] = j
                        values[nnz] = v
                    nnz += 1
        indptr[r + 1] = nnz
    return nnz, total == zero and bad[0] == 0


def sparse_dot_loop(indptr, indices, values, W, out):
    """``out = X @ W`` for ``X`` stored as by :func:`compress_rows_loop`.

    Row ``i`` of the result is the sum of the rows of ``W`` picked by the
    nonzero entries of row ``i`` of ``X``, scaled by them. The columns are
    taken in tiles of as many vectors as the CPU has registers to spare
    (:func:`vector_shape`): a tile of a result row is summed in registers
    over all of the row's entries and stored once, where a loop over all the
    columns reads and writes the row in memory once per group of entries
    (see :ref:`perf-compressed`).
    The columns are the outer loop, two tiles at a time, so that a wide
    layer's rows of ``W`` are read in stretches of two tiles, whose cache
    lines the hardware fetches together. Columns left over by the full
    tiles take smaller ones, then a plain loop.

    Given the column-wise form of :func:`transpose_compressed_loop`
    (``colptr``, ``rows``, ``cvalues``) and ``D`` in place of ``W``, the
    same loop computes ``X.T @ D``: row ``j`` of the result sums the rows of
    ``D`` picked by column ``j``'s nonzero entries.
    """
    n_rows, n_out = out.shape
    lanes = _VECTOR_BYTES // out.itemsize  # entries of a vector register
    tile = _MAX_VECTORS * lanes
    col = 0
    while col + 2 * tile <= n_out:
        for i in range(n_rows):
            start, stop = indptr[i], indptr[i + 1]
            _tile_sum_max(out, i, col, W, indices, values, start, stop)
            _tile_sum_max(out, i, col + tile, W, indices, values, start, stop)
        col += 2 * tile
    if col + tile <= n_out:
        for i in range(n_rows):
            _tile_sum_max(out, i, col, W, indices, values, indptr[i], indptr[i + 1])
        col += tile
    # What is left is narrower than a full tile: tiles of half as many
    # vectors, then a quarter... then single entries. (With 8-vector tiles,
    # the 8-vector step below is dead code, folded away by the compiler.)
    if col + 8 * lanes <= n_out and _MAX_VECTORS > 8:
        for i in range(n_rows):
            _tile_sum_8(out, i, col, W, indices, values, indptr[i], indptr[i + 1])
        col += 8 * lanes
    if col + 4 * lanes <= n_out:
        for i in range(n_rows):
            _tile_sum_4(out, i, col, W, indices, values, indptr[i], indptr[i + 1])
        col += 4 * lanes
    if col + 2 * lanes <= n_out:
        for i in range(n_rows):
            _tile_sum_2(out, i, col, W, indices, values, indptr[i], indptr[i + 1])
        col += 2 * lanes
    if col + lanes <= n_out:
        for i in range(n_rows):
            _tile_sum_1(out, i, col, W, indices, values, indptr[i], indptr[i + 1])
        col += lanes
    if col < n_out:
        zero = out.dtype.type(0)
        for i in range(n_rows):
            o = out[i]
            for k in range(col, n_out):
                o[k] = zero
            for p in range(indptr[i], indptr[i + 1]):
                v = values[p]
                w = W[indices[p]]
                for k in range(col, n_out):
                    o[k] += v * w[k]


def transpose_compressed_loop(indptr, indices, values, colptr, rows, cvalues):
    """The column-wise form (compressed sparse columns) of the rows stored by
    :func:`compress_rows_loop`: column ``j``'s nonzero entries are
    ``cvalues[colptr[j]:colptr[j+1]]``, in the rows ``rows[...]``, in order.
    ``colptr`` has one entry more than ``X`` has columns."""
    n_cols = colptr.shape[0] - 1
    n_rows = indptr.shape[0] - 1
    for j in range(n_cols + 1):
        colptr[j] = 0
    for p in range(indptr[n_rows]):
        colptr[indices[p] + 1] += 1
    for j in range(n_cols):
        colptr[j + 1] += colptr[j]
    # colptr[j] serves as column j's write position, which leaves it at the
    # start of column j + 1; shifting by one afterwards restores the starts.
    for i in range(n_rows):
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            q = colptr[j]
            rows[q] = i
            cvalues[q] = values[p]
            colptr[j] = q + 1
    for j in range(n_cols, 0, -1):
        colptr[j] = colptr[j - 1]
    colptr[0] = 0


# Set by _build_kernels: an atomic read of an int64 array's first element,
# the CPU's spin-loop hint, a prefetch of a matrix entry's cache line, the
# tile sums of sparse_dot_loop with 1, 2, 4, 8 and _MAX_VECTORS vectors
# (Numba intrinsics: Numba has none of them on the CPU), and the compiled
# spin_until_loop and prefetch_row_loop, which other kernels call.
_atomic_load = _cpu_relax = _prefetch = _spin_until = _prefetch_row = None
_tile_sum_1 = _tile_sum_2 = _tile_sum_4 = _tile_sum_8 = _tile_sum_max = None
# Also set by _build_kernels, from vector_shape() and compress_vector_bytes(),
# with compress_rows_loop's vector step.
_VECTOR_BYTES, _MAX_VECTORS = 16, 8
_COMPRESS_BYTES = 0
_compress_vectors = None

# The spin-loop hint, as an LLVM intrinsic (x86's PAUSE): it tells the core
# that the thread is polling, which spares the execution resources a sibling
# hyperthread is using. Elsewhere the loop polls without it.
_RELAX_INTRINSIC = (
    "llvm.x86.sse2.pause"
    if platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")
    else None
)


def spin_until_loop(counter, target, max_reads):
    """Wait until ``counter[0] >= target``, reading it at most ``max_reads``
    times; return whether it got there.

    ``counter`` is a one-element int64 array that another thread increments.
    The compiled loop runs without the GIL, and each read is an atomic load
    with acquire ordering, which the compiler may neither drop nor hoist out
    of the loop. See :class:`~skscratch.core.parallel._Worker` for why a
    thread polls instead of sleeping on a lock.
    """
    for _ in range(max_reads):
        if _atomic_load(counter) >= target:
            return True
        _cpu_relax()
    return False


def ping_pong_loop(counter, me, start, stop, max_reads):
    """One side of a ping-pong between two threads over ``counter[0]``.

    For ``i`` in ``range(start, stop)``, thread ``me`` (0 or 1) waits until
    the counter reads ``2 * i + me``, then writes ``2 * i + me + 1``, which
    is what the other side waits for. One iteration on each side is a round
    trip of the counter's cache line between the threads' cores: see
    :func:`~skscratch.core.parallel.core_round_trip`. Each wait is
    :func:`spin_until_loop`, the one the training threads use. Returns False
    if a wait gave up after ``max_reads`` reads.
    """
    for i in range(start, stop):
        # The other side writes 2 * i + me and then waits for our answer, so
        # the counter cannot pass the target: "at least" means "equal" here.
        target = 2 * i + me
        if not _spin_until(counter, target, max_reads):
            return False
        counter[0] = target + 1
    return True


def _define_intrinsics():
    global _atomic_load, _cpu_relax, _prefetch
    from llvmlite import ir
    from numba.core import cgutils, types
    from numba.extending import intrinsic

    @intrinsic
    def atomic_load(typingctx, counter):
        sig = types.int64(counter)

        def codegen(context, builder, signature, args):
            array = context.make_array(signature.args[0])(context, builder, args[0])
            return builder.load_atomic(array.data, ordering="acquire", align=8)

        return sig, codegen

    @intrinsic
    def cpu_relax(typingctx):
        def codegen(context, builder, signature, args):
            if _RELAX_INTRINSIC is not None:
                hint = ir.FunctionType(ir.VoidType(), [])
                fn = cgutils.get_or_insert_function(
                    builder.module, hint, _RELAX_INTRINSIC
                )
                builder.call(fn, [])
            return context.get_dummy_value()

        return types.void(), codegen

    @intrinsic
    def prefetch(typingctx, matrix, i, j):
        sig = types.void(matrix, i, j)

        def codegen(context, builder, signature, args):
            # llvm.prefetch(address, read, keep in every cache level, data);
            # a hint, which compiles to nothing where the CPU has none.
            matrix_type = signature.args[0]
            array = context.make_array(matrix_type)(context, builder, args[0])
            indices = [
                context.cast(builder, index, index_type, types.intp)
                for index, index_type in zip(args[1:], signature.args[1:], strict=True)
            ]
            address = cgutils.get_item_pointer(
                context, builder, matrix_type, array, indices, wraparound=False
            )
            byte_pointer = ir.IntType(8).as_pointer()
            int32 = ir.IntType(32)
            fn = builder.module.declare_intrinsic(
                "llvm.prefetch",
                [byte_pointer],
                ir.FunctionType(ir.VoidType(), [byte_pointer, int32, int32, int32]),
            )
            flags = [ir.Constant(int32, v) for v in (0, 3, 1)]
            builder.call(fn, [builder.bitcast(address, byte_pointer), *flags])
            return context.get_dummy_value()

        return sig, codegen

    _atomic_load, _cpu_relax, _prefetch = atomic_load, cpu_relax, prefetch

    global _VECTOR_BYTES, _MAX_VECTORS
    global _tile_sum_1, _tile_sum_2, _tile_sum_4, _tile_sum_8, _tile_sum_max
    _VECTOR_BYTES, _MAX_VECTORS = vector_shape()
    _tile_sum_1, _tile_sum_2, _tile_sum_4, _tile_sum_8 = (
        _tile_sum(n, _VECTOR_BYTES) for n in (1, 2, 4, 8)
    )
    _tile_sum_max = _tile_sum(_MAX_VECTORS, _VECTOR_BYTES)

    global _COMPRESS_BYTES, _compress_vectors
    _COMPRESS_BYTES = compress_vector_bytes()
    if _COMPRESS_BYTES:
        _compress_vectors = _vector_compression(_COMPRESS_BYTES)
    else:
        # Never called (compress_rows_loop has no vector step then), but the
        # name must compile.
        import numba

        _compress_vectors = numba.njit(
            lambda X, i, n_vectors, indices, values, nnz, bad: nnz
        )


def _target_cpu_features():
    """The CPU features LLVM compiles Numba's code for, as
    ``{"avx512f": True, ...}``: only those known to be on count.

    LLVM takes a CPU name and a string of ``+feature`` and ``-feature``
    entries that change that CPU's own features. Numba passes the name from
    ``NUMBA_CPU_NAME`` (this CPU's by default), and either the string in
    ``NUMBA_CPU_FEATURES`` (empty for ``NUMBA_CPU_NAME=generic``) or one of
    its own, which lists every feature of this CPU (the AVX ones off with
    ``NUMBA_ENABLE_AVX=0``). Only the string is read: what a CPU name brings
    is not known here (nor what LLVM takes this CPU to be), so with a
    string of the user's, only the features it turns on count. A feature
    wrongly taken to be there aborts the process (LLVM cannot compile its
    instructions), one wrongly taken to be missing costs speed.
    """
    import numba
    from numba.core import codegen

    entries = numba.config.CPU_FEATURES
    if entries is None:
        entries = codegen.get_host_cpu_features()
    features = {}
    for entry in entries.split(","):
        entry = entry.strip()
        if len(entry) > 1 and entry[0] in "+-":
            features[entry[1:]] = entry[0] == "+"
    return features


# x86 features by what they need on in LLVM's terms (disabling one disables
# those built on it): AVX's 32-byte vectors, AVX-512's 64-byte ones, and the
# compress instructions on 8 indices (AVX512VL).
_AVX = ("sse2", "sse3", "ssse3", "sse4.1", "sse4.2", "avx")
_AVX512 = (*_AVX, "avx2", "fma", "f16c", "avx512f")
_AVX512_COMPRESS = (*_AVX512, "avx512vl")


def _target_has(*names):
    """Whether the target CPU (:func:`_target_cpu_features`) has all of
    these features."""
    features = _target_cpu_features()
    return all(features.get(name) for name in names)


def vector_shape():
    """The vectors :func:`sparse_dot_loop`'s tiles are made of: their size in
    bytes (the target CPU's vector registers: 64 with AVX-512, 32 with AVX,
    else 16) and how many of them a tile may take (16 of AVX-512's 32
    registers, else 8 of 16), leaving the rest for the row of ``W`` being
    added.

    Returns
    -------
    vector_bytes, max_vectors : int
    """
    if _target_has(*_AVX512):
        return 64, 16
    if _target_has(*_AVX):
        return 32, 8
    return 16, 8


def _tile_sum(n_vectors, vector_bytes):
    """A Numba intrinsic ``tile_sum(out, i, col, W, indices, values, start,
    stop)``: ``out[i, col:col + m] = sum over p in [start, stop) of
    values[p] * W[indices[p], col:col + m]``, ``m`` being ``n_vectors``
    vectors of ``vector_bytes``.

    The ``m`` sums are LLVM vectors held in registers for the whole loop
    over ``p`` (Numba's loops leave them in memory), each term one
    multiply-add (``llvm.fmuladd``: fused where the CPU can). ``W`` and
    ``out`` must be C-ordered, ``indices`` and ``values`` contiguous.
    """
    from llvmlite import ir
    from numba.core import cgutils, types
    from numba.extending import intrinsic

    @intrinsic
    def tile_sum(typingctx, out, i, col, W, indices, values, start, stop):
        sig = types.void(out, i, col, W, indices, values, start, stop)

        def codegen(context, builder, signature, args):
            out_type, _, _, W_type, indices_type, values_type = signature.args[:6]
            out_ = context.make_array(out_type)(context, builder, args[0])
            W_ = context.make_array(W_type)(context, builder, args[3])
            indices_ = context.make_array(indices_type)(context, builder, args[4])
            values_ = context.make_array(values_type)(context, builder, args[5])
            i, col, start, stop = (
                context.cast(builder, args[k], signature.args[k], types.intp)
                for k in (1, 2, 6, 7)
            )
            intp = context.get_value_type(types.intp)
            entry = context.get_value_type(W_type.dtype)
            itemsize = context.get_abi_sizeof(entry)
            lanes = vector_bytes // itemsize
            vector = ir.VectorType(entry, lanes)
            byte_pointer = ir.IntType(8).as_pointer()
            name = f"llvm.fmuladd.v{lanes}{'f32' if itemsize == 4 else 'f64'}"
            fmuladd = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(vector, [vector] * 3), name
            )

            def vectors_at(row_start):
                """Pointers to the tile's vectors from a row's first byte."""
                return [
                    builder.bitcast(
                        builder.gep(row_start, [ir.Constant(intp, k * vector_bytes)]),
                        vector.as_pointer(),
                    )
                    for k in range(n_vectors)
                ]

            col_bytes = builder.mul(col, ir.Constant(intp, itemsize))
            W_tile = builder.gep(builder.bitcast(W_.data, byte_pointer), [col_bytes])
            W_row_bytes = cgutils.unpack_tuple(builder, W_.strides)[0]
            zeros = ir.Constant(vector, [0.0] * lanes)
            # Allocas that LLVM turns into registers: nothing takes their address.
            sums = [cgutils.alloca_once_value(builder, zeros) for _ in range(n_vectors)]
            broadcast = ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes)
            with cgutils.for_range(builder, builder.sub(stop, start)) as loop:
                p = builder.add(start, loop.index)
                j = builder.load(builder.gep(indices_.data, [p]))
                j = builder.sext(j, intp) if j.type.width < intp.width else j
                v = builder.load(builder.gep(values_.data, [p]))
                v = builder.insert_element(
                    ir.Constant(vector, None), v, ir.Constant(ir.IntType(32), 0)
                )
                v = builder.shuffle_vector(v, ir.Constant(vector, None), broadcast)
                row = builder.gep(W_tile, [builder.mul(j, W_row_bytes)])
                for s, w in zip(sums, vectors_at(row), strict=True):
                    w = builder.load(w, align=itemsize)
                    builder.store(builder.call(fmuladd, [v, w, builder.load(s)]), s)
            out_row_bytes = cgutils.unpack_tuple(builder, out_.strides)[0]
            out_row = builder.gep(
                builder.bitcast(out_.data, byte_pointer),
                [builder.add(builder.mul(i, out_row_bytes), col_bytes)],
            )
            for s, o in zip(sums, vectors_at(out_row), strict=True):
                builder.store(builder.load(s), o, align=itemsize)
            return context.get_dummy_value()

        return sig, codegen

    return tile_sum


def compress_vector_bytes():
    """The vectors of :func:`compress_rows_loop`'s vector step, in bytes: 64
    where the target CPU has AVX-512's compress instructions for 32-bit and
    64-bit entries (AVX512F, and AVX512VL for the 8 indices of 8 float64
    values), else 0 (no vector step).

    Returns
    -------
    vector_bytes : int
    """
    return 64 if _target_has(*_AVX512_COMPRESS) else 0


def _vector_compression(vector_bytes):
    """A Numba intrinsic ``compress_vectors(X, i, n_vectors, indices, values,
    nnz, bad)``: the first ``n_vectors`` vectors of ``vector_bytes`` of row
    ``i`` of ``X``, each stored by its nonzero entries at ``values[nnz:]``
    and their columns at ``indices[nnz:]`` (int32); returns the new count.

    Each vector's nonzero entries are packed to its front in a register
    (AVX-512's ``vcompressps``/``vcompresspd`` in their register form: the
    form that stores to memory is slower on some CPUs, see
    :ref:`perf-not-kept`), and the whole vector is
    stored; the entries past the packed ones are overwritten by the next
    store, so the arrays need ``n_vectors`` vectors' worth of room from
    ``nnz``. A vector's NaN and infinity lanes are or-ed into ``bad[0]``
    (int32): a mask operation, where a floating-point sum of ``v * 0``
    would chain each vector's step on the previous one's addition.
    """
    from llvmlite import ir
    from numba.core import cgutils, types
    from numba.core.errors import TypingError
    from numba.extending import intrinsic

    @intrinsic
    def compress_vectors(typingctx, X, i, n_vectors, indices, values, nnz, bad):
        if indices.dtype != types.int32 or bad.dtype != types.int32:
            raise TypingError("compress_vectors takes int32 indices and flags")
        sig = types.intp(X, i, n_vectors, indices, values, nnz, bad)

        def codegen(context, builder, signature, args):
            X_type, _, _, indices_type, values_type, _, bad_type = signature.args
            X_ = context.make_array(X_type)(context, builder, args[0])
            indices_ = context.make_array(indices_type)(context, builder, args[3])
            values_ = context.make_array(values_type)(context, builder, args[4])
            bad_ = context.make_array(bad_type)(context, builder, args[6])
            i, n_vectors, nnz = (
                context.cast(builder, args[k], signature.args[k], types.intp)
                for k in (1, 2, 5)
            )
            intp = context.get_value_type(types.intp)
            entry = context.get_value_type(X_type.dtype)
            itemsize = context.get_abi_sizeof(entry)
            lanes = vector_bytes // itemsize
            int32 = ir.IntType(32)
            vector = ir.VectorType(entry, lanes)
            columns = ir.VectorType(int32, lanes)
            mask = ir.VectorType(ir.IntType(1), lanes)
            bitmask = ir.IntType(lanes)  # a mask's lanes as the bits of an int
            kind = "f32" if itemsize == 4 else "f64"

            def declare(name, return_type, *arg_types):
                return cgutils.get_or_insert_function(
                    builder.module, ir.FunctionType(return_type, arg_types), name
                )

            compress_entries = declare(
                f"llvm.x86.avx512.mask.compress.v{lanes}{kind}",
                vector,
                vector,
                vector,
                mask,
            )
            compress_columns = declare(
                f"llvm.x86.avx512.mask.compress.v{lanes}i32",
                columns,
                columns,
                columns,
                mask,
            )
            popcount = declare("llvm.ctpop.i32", int32, int32)
            fabs = declare(f"llvm.fabs.v{lanes}{kind}", vector, vector)

            row_bytes = cgutils.unpack_tuple(builder, X_.strides)[0]
            row = builder.gep(
                builder.bitcast(X_.data, ir.IntType(8).as_pointer()),
                [builder.mul(i, row_bytes)],
            )
            row = builder.bitcast(row, vector.as_pointer())
            zeros = ir.Constant(vector, [0.0] * lanes)
            infinities = ir.Constant(vector, [float("inf")] * lanes)
            no_columns = ir.Constant(columns, [0] * lanes)
            first_columns = ir.Constant(columns, list(range(lanes)))
            broadcast = ir.Constant(columns, [0] * lanes)
            count = cgutils.alloca_once_value(builder, nnz)
            bad_bits = cgutils.alloca_once_value(builder, ir.Constant(int32, 0))
            with cgutils.for_range(builder, n_vectors) as loop:
                v = builder.load(builder.gep(row, [loop.index]), align=itemsize)
                nonzero = builder.fcmp_unordered("!=", v, zeros)  # NaN too
                # |v| == inf, or unordered (NaN).
                not_finite = builder.fcmp_unordered(
                    "==", builder.call(fabs, [v]), infinities
                )
                bits = builder.zext(builder.bitcast(not_finite, bitmask), int32)
                builder.store(builder.or_(builder.load(bad_bits), bits), bad_bits)
                first = builder.trunc(
                    builder.mul(loop.index, ir.Constant(intp, lanes)), int32
                )
                first = builder.insert_element(
                    ir.Constant(columns, None), first, ir.Constant(int32, 0)
                )
                first = builder.shuffle_vector(
                    first, ir.Constant(columns, None), broadcast
                )
                k = builder.load(count)
                packed = builder.call(compress_entries, [v, zeros, nonzero])
                packed_columns = builder.call(
                    compress_columns,
                    [builder.add(first, first_columns), no_columns, nonzero],
                )
                value_at = builder.bitcast(
                    builder.gep(values_.data, [k]), vector.as_pointer()
                )
                column_at = builder.bitcast(
                    builder.gep(indices_.data, [k]), columns.as_pointer()
                )
                builder.store(packed, value_at, align=itemsize)
                builder.store(packed_columns, column_at, align=4)
                n_nonzero = builder.call(
                    popcount,
                    [builder.zext(builder.bitcast(nonzero, bitmask), int32)],
                )
                builder.store(builder.add(k, builder.zext(n_nonzero, intp)), count)
            flags = builder.or_(builder.load(bad_.data), builder.load(bad_bits))
            builder.store(flags, bad_.data)
            return builder.load(count)

        return sig, codegen

    return compress_vectors


class CacheWarning(UserWarning):
    """Numba found no writable directory for its on-disk cache: the kernels
    are compiled again in every process."""


def _build_kernels():
    """The compiled kernels, by name, or False where Numba cannot run them."""
    import numba

    if numba.config.DISABLE_JIT:
        # NUMBA_DISABLE_JIT makes njit return the Python functions, which
        # cannot call the intrinsics: behave as without Numba.
        return False
    _define_intrinsics()

    def compile_all(cache):
        # error_model="numpy": a division by zero gives inf/nan as in NumPy
        # instead of raising, which also lets the loop be vectorised. No
        # fastmath: it would allow fused multiply-adds and reordered arithmetic
        # (take_rows alone allows reordering, for a sum where order cannot
        # matter; see its docstring).
        global _spin_until, _prefetch_row
        jit = numba.njit(error_model="numpy", nogil=True, cache=cache)
        _spin_until = jit(spin_until_loop)
        # Inlined where it is called: a call per row costs more than the
        # prefetch saves (see docs/performance/history.rst).
        _prefetch_row = numba.njit(inline="always", nogil=True, cache=cache)(
            prefetch_row_loop
        )
        return {
            "adam": jit(adam_loop),
            "sgd": jit(sgd_loop),
            "l2_gradient": jit(l2_gradient_loop),
            "add_bias": jit(add_bias_loop),
            "relu": jit(relu_loop),
            "relu_with_mask": jit(relu_with_mask_loop),
            "subtract_row_max": jit(subtract_row_max_loop),
            "all_finite": jit(all_finite_loop),
            "take_rows": numba.njit(
                error_model="numpy", nogil=True, cache=cache, fastmath={"reassoc"}
            )(take_rows_loop),
            "compress_rows": jit(compress_rows_loop),
            "sparse_dot": jit(sparse_dot_loop),
            "transpose_compressed": jit(transpose_compressed_loop),
            "spin_until": _spin_until,
            "ping_pong": jit(ping_pong_loop),
        }

    try:
        return compile_all(cache=True)
    except RuntimeError:
        # Numba raises this when neither the package's __pycache__ nor its
        # user-wide directory (~/.cache/numba) is writable: a read-only
        # install and home directory.
        pass
    cache_dir = _private_cache_dir()
    if cache_dir is not None:
        saved = numba.config.CACHE_DIR
        # Read as each function is decorated; restored so that other
        # libraries' caches stay where their users expect them.
        numba.config.CACHE_DIR = cache_dir
        try:
            return compile_all(cache=True)
        except RuntimeError:
            pass
        finally:
            numba.config.CACHE_DIR = saved
    warnings.warn(
        "skscratch found no writable directory for Numba's cache (the "
        "package's __pycache__, ~/.cache/numba and the temporary directory "
        "are not), so its compiled kernels are compiled again in every "
        "process, which adds seconds to the first fit. Set NUMBA_CACHE_DIR to "
        "a writable directory to keep them.",
        CacheWarning,
        stacklevel=2,
    )
    return compile_all(cache=False)


def _private_cache_dir():
    """A directory for Numba's cache in the temporary directory, that only
    this user can write to, or None where there is none.

    Numba loads its cache files as code: a directory of this predictable
    name that another user created, or could write to, is not used.
    """
    try:
        user = os.getuid() if hasattr(os, "getuid") else os.getlogin()
        path = os.path.join(tempfile.gettempdir(), f"skscratch-numba-{user}")
        os.makedirs(path, mode=0o700, exist_ok=True)
        info = os.lstat(path)
        if hasattr(os, "getuid") and (
            not stat.S_ISDIR(info.st_mode)
            or info.st_uid != os.getuid()
            or info.st_mode & 0o077
        ):
            return None
        tempfile.TemporaryFile(dir=path).close()
    except OSError:
        return None
    return path


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
    """Whether Numba can run the kernels here: it can be imported, and
    ``NUMBA_DISABLE_JIT`` is not set. The first call imports Numba and loads
    the kernels, as :func:`load` does, whatever ``SKSCRATCH_COMPILED`` says.

    Returns
    -------
    available : bool
    """
    return bool(_load())


def load():
    """Import Numba and load the kernels, unless they are switched off
    (``SKSCRATCH_COMPILED`` is ``0``, as :func:`read_environment` read it
    last, or a :func:`disabled` block is active).

    Nothing else in skscratch imports Numba: :func:`kernel` only hands out
    kernels already loaded. The estimators call this at the start of a job
    in which the kernels save more time than loading them costs (importing
    Numba and loading the kernels from its cache takes over half a second,
    and over 100 MB of memory), and for every job whose numbers depend on
    them: on mostly-zero rows (see :mod:`skscratch.core.compressed`), or
    with a network whose mini-batches the NumPy code would split between
    threads (see :func:`~skscratch.core.parallel.plan_threads`). Since the
    kernels otherwise give the NumPy code's numbers bit for bit, a job that
    finds them loaded uses them.
    Call this (or :func:`available`) to use them with the core's classes
    directly.

    Returns
    -------
    enabled : bool
        Whether the kernels are now in use (see :func:`enabled`).
    """
    off = _env_off if _env_off is not None else read_environment()
    if off or _disabled_depth:
        return False
    return bool(_load())


def read_environment():
    """Read ``SKSCRATCH_COMPILED`` again.

    :func:`kernel` uses the value read last, so that the lookups of a
    training loop do not read the environment each time. The estimators call
    this at the start of every ``fit``, ``partial_fit`` and prediction, and
    :func:`enabled` calls it too: a change of the variable counts from the
    next of those calls on.

    Returns
    -------
    off : bool
        Whether the variable switches the kernels off (its value is ``0``).
    """
    global _env_off
    _env_off = os.environ.get(ENV_VAR) == "0"
    return _env_off


def enabled():
    """Whether optimizers use the compiled kernels right now: they are
    loaded (see :func:`load`), ``SKSCRATCH_COMPILED`` is not ``0`` (read
    again by this call) and no :func:`disabled` block is active. Imports
    nothing.

    Returns
    -------
    enabled : bool
    """
    if read_environment() or _disabled_depth:
        return False
    return bool(_kernels)


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
    """The compiled kernel ``name`` for arrays of ``dtype``, or None when the
    NumPy code should run: kernels are not loaded (see :func:`load`) or off
    (see :func:`enabled`; the environment variable as
    :func:`read_environment` read it last), or the dtype is not float32 or
    float64, the two the kernels are tested on.

    ``name`` is the function's name without ``_loop``: ``'adam'``, ``'sgd'``,
    ``'l2_gradient'``, ``'add_bias'``, ``'relu'``, ``'relu_with_mask'``,
    ``'subtract_row_max'``, ``'all_finite'`` (input validation),
    ``'take_rows'`` (a batch's gather, see :mod:`skscratch.core.rows`), or one of the
    compressed-rows kernels used by :mod:`skscratch.core.compressed`:
    ``'compress_rows'``, ``'sparse_dot'``, ``'transpose_compressed'``, or
    ``'ping_pong'`` (for :func:`~skscratch.core.parallel.core_round_trip`,
    which checks with :func:`spin_kernel` that its intrinsics work).
    """
    off = _env_off if _env_off is not None else read_environment()
    if not _kernels or off or _disabled_depth or np.dtype(dtype) not in _DTYPES:
        return None
    return _kernels[name]


_spin_works = None  # whether spin_until compiled and ran (None: not tried yet)


def spin_kernel():
    """The compiled :func:`spin_until_loop`, or None when kernels are not
    loaded or off, or it cannot be compiled here.

    The first call with the kernels loaded compiles it (or loads it from
    Numba's cache) and runs it once, in the calling thread: a worker thread
    that met a compilation error while waiting for its first task would
    leave its caller waiting for ever.

    Returns
    -------
    spin_until : callable or None
    """
    global _spin_works
    if not enabled():
        return None
    spin = _kernels["spin_until"]
    if _spin_works is None:
        try:
            _spin_works = bool(spin(np.ones(1, np.int64), 1, 1))
        except Exception:  # an LLVM without the intrinsics, for instance
            _spin_works = False
    return spin if _spin_works else None


def kernel_for(name, *arrays):
    """:func:`kernel` ``name`` for these arrays, or None when the NumPy code
    should run: also when they do not all share one dtype or are not all
    C-contiguous (the kernels index them as plain row-major blocks).

    Parameters
    ----------
    name : str
    *arrays : ndarray

    Returns
    -------
    kernel : callable or None
    """
    dtype = arrays[0].dtype
    for a in arrays:
        if a.dtype != dtype or not a.flags.c_contiguous:
            return None
    return kernel(name, dtype)
