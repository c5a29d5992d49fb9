"""Skipping the zeros of the input: batches stored by their nonzero entries.

The first layer's two matrix products, ``X W`` forward and ``X^T D`` for the
weight gradient, carry most of a network's arithmetic when the input is
wide (80% of it for MNIST's 784 pixels and a (256, 128) network). When most
entries of ``X`` are zero (MNIST: 81% of the pixels; one-hot encoded
features in a dense array), most of that arithmetic multiplies by zero. Storing a
batch as its nonzero entries (compressed sparse rows, and the column-wise form
for ``X^T D``) lets compiled kernels (:mod:`skscratch.core.compiled`) do only
the rest.

Those kernels do fewer multiplications per cycle than BLAS's dense kernels
(each entry's row of ``W`` comes from the caches, where BLAS reuses what it
loaded), and compressing a batch costs a pass over it, so they pay only on
inputs that are mostly zeros (:data:`MAX_DENSITY`) feeding a wide enough
first layer (:data:`MIN_UNITS`). They then pay even on one core against
BLAS's dense products on two (see :ref:`perf-compressed`).

The kernels add the products' terms in another order than BLAS does, so the
results agree with the dense path to rounding, not bit for bit.
:func:`worth_compressing` decides; without Numba, nothing is compressed.
"""

import numpy as np

from . import compiled

# Fraction of nonzero entries up to which compressing pays, with a margin:
# at MNIST's 0.196 a training epoch is about 20% faster; the gain shrinks as
# the density grows, since the kernels' work grows with it and BLAS's does not.
MAX_DENSITY = 0.25
# Narrower inputs leave the first layer too little work to pay for the pass.
MIN_FEATURES = 64
# Nor do narrower first layers; from 64 units the skipped products outweigh
# the compression at every batch size (see docs/performance/design.rst).
MIN_UNITS = 64
# Rows sampled to estimate the density, in evenly spaced blocks: NumPy
# counts a view of every k-th row on its slow path for non-contiguous arrays,
# a cost each large prediction would pay (see docs/performance/design.rst).
SAMPLE_ROWS = 1024
SAMPLE_BLOCKS = 16


def nonzero_fraction(X, max_rows=SAMPLE_ROWS):
    """Fraction of nonzero entries of ``X``, estimated on
    :data:`SAMPLE_BLOCKS` evenly spaced blocks of consecutive rows.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    max_rows : int, default=1024
        At most this many rows are read; all of them when ``X`` has no more.

    Returns
    -------
    fraction : float
        In [0, 1]; 1.0 for an empty ``X``.
    """
    if X.size == 0:
        return 1.0
    n_rows = X.shape[0]
    if n_rows <= max_rows:
        return np.count_nonzero(X) / X.size
    block = max(1, max_rows // SAMPLE_BLOCKS)
    starts = np.linspace(0, n_rows - block, SAMPLE_BLOCKS).astype(np.intp)
    count = sum(np.count_nonzero(X[start : start + block]) for start in starts)
    return count / (SAMPLE_BLOCKS * block * X.shape[1])


def compressible(X, dtype, n_units):
    """What :func:`worth_compressing` decides from the data alone: whether
    the compiled kernels would pay on batches of ``X``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        The network's input. Only a dense NumPy array of the network's dtype
        with at least :data:`MIN_FEATURES` columns qualifies (a SciPy sparse
        matrix goes through SciPy's products).
    dtype : numpy dtype
        The dtype of the network's parameters.
    n_units : int
        Outputs of the first layer; at least :data:`MIN_UNITS`.

    Returns
    -------
    compressible : bool
        True when at most :data:`MAX_DENSITY` of the sampled entries are
        nonzero, and the rest qualifies.
    """
    if not (
        isinstance(X, np.ndarray)
        and X.ndim == 2
        and X.dtype == dtype
        and np.dtype(dtype) in (np.float32, np.float64)
        and X.shape[1] >= MIN_FEATURES
        and n_units >= MIN_UNITS
    ):
        return False
    return nonzero_fraction(X) <= MAX_DENSITY


def worth_compressing(X, dtype, n_units):
    """Whether batches of ``X`` should be compressed before the first layer;
    loads the compiled kernels (:func:`skscratch.core.compiled.load`) when
    they should.

    Whether ``X`` is compressed changes the last bits of the results, so it
    depends on the data alone (:func:`compressible`), and on Numba and
    ``SKSCRATCH_COMPILED``, never on whether an earlier job happened to load
    the kernels.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        The network's input (see :func:`compressible`).
    dtype : numpy dtype
        The dtype of the network's parameters.
    n_units : int
        Outputs of the first layer.

    Returns
    -------
    worth_it : bool
        True when ``X`` is :func:`compressible` and the compiled kernels
        are enabled.
    """
    return compressible(X, dtype, n_units) and compiled.load()


class CompressedRows:
    """A block of rows of a dense matrix, stored by its nonzero entries.

    The object is a reusable buffer: :meth:`compress` overwrites it with a
    new block, and its arrays grow when a block has more nonzero entries
    than they hold, so a training loop allocates nothing per batch.
    :class:`~skscratch.core.layers.Dense` accepts it as its input.

    Attributes
    ----------
    shape : tuple of int
        ``(n_rows, n_cols)`` of the block.
    dtype : numpy dtype
    nnz : int
        Number of nonzero entries.
    finite : bool
        Whether the block holds neither NaN nor infinity (tested as it is
        compressed).
    """

    def __init__(self):
        self.shape = (0, 0)
        self.dtype = None
        self.nnz = 0
        self.finite = True
        self._indptr = self._indices = self._values = None
        self._colptr = self._rows = self._cvalues = None
        self._has_columns = False

    def compress(self, X, rows=None):
        """Store rows of ``X``.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_cols)
            C-contiguous, float32 or float64.
        rows : ndarray of int of shape (n_rows,), optional
            Which rows, in this order (a batch's rows, taken straight from
            the training data); valid indices, not checked. All of them by
            default.

        Returns
        -------
        self : CompressedRows
        """
        kernel = compiled.kernel_for("compress_rows", X)
        if kernel is None or X.ndim != 2:
            raise RuntimeError(
                "Compressing rows needs the compiled kernels (Numba) and a "
                "C-contiguous float32 or float64 matrix."
            )
        if rows is None:
            rows = np.arange(X.shape[0], dtype=np.intp)
        else:
            rows = np.asarray(rows, dtype=np.intp)
        n_rows, n_cols = rows.shape[0], X.shape[1]
        if self._indptr is None or self._indptr.shape[0] < n_rows + 1:
            self._indptr = np.empty(n_rows + 1, np.int32)
        if self._values is None or self._values.dtype != X.dtype:
            # A first guess with room for a little more than MAX_DENSITY;
            # grown below when a block needs more.
            self._allocate(int(n_rows * n_cols * MAX_DENSITY * 1.25) + n_cols, X.dtype)
        indptr = self._indptr[: n_rows + 1]
        nnz, finite = kernel(X, rows, indptr, self._indices, self._values)
        if nnz > self._values.shape[0]:
            self._allocate(nnz + nnz // 4, X.dtype)
            nnz, finite = kernel(X, rows, indptr, self._indices, self._values)
        self.shape = (n_rows, n_cols)
        self.dtype = X.dtype
        self.nnz = int(nnz)
        self.finite = bool(finite)
        self._has_columns = False
        return self

    def _allocate(self, capacity, dtype):
        self._indices = np.empty(capacity, np.int32)
        self._values = np.empty(capacity, dtype)
        self._rows = np.empty(capacity, np.int32)
        self._cvalues = np.empty(capacity, dtype)

    def dot(self, W, out):
        """``out = X @ W``.

        Parameters
        ----------
        W : ndarray of shape (n_cols, n_out)
            C-contiguous, of the block's dtype.
        out : ndarray of shape (n_rows, n_out)
            C-contiguous.

        Returns
        -------
        out : ndarray of shape (n_rows, n_out)
        """
        kernel = compiled.kernel_for("sparse_dot", self._values, W, out)
        if kernel is None:  # kernels switched off since the block was made
            return np.dot(self.toarray(), W, out=out)
        kernel(self._indptr[: self.shape[0] + 1], self._indices, self._values, W, out)
        return out

    def transpose_dot(self, D, out):
        """``out = X.T @ D`` (the weight gradient of a dense layer).

        Parameters
        ----------
        D : ndarray of shape (n_rows, n_out)
        out : ndarray of shape (n_cols, n_out)
            C-contiguous.

        Returns
        -------
        out : ndarray of shape (n_cols, n_out)
        """
        n_cols = self.shape[1]
        D = np.ascontiguousarray(D)
        # X.T @ D is the row-wise product on X's column-wise form.
        kernel = compiled.kernel_for("sparse_dot", self._cvalues, D, out)
        if kernel is None:  # kernels switched off since the block was made
            return np.dot(self.toarray().T, D, out=out)
        if not self._has_columns:
            if self._colptr is None or self._colptr.shape[0] != n_cols + 1:
                self._colptr = np.empty(n_cols + 1, np.int32)
            compiled.kernel("transpose_compressed", self.dtype)(
                self._indptr[: self.shape[0] + 1],
                self._indices,
                self._values,
                self._colptr,
                self._rows,
                self._cvalues,
            )
            self._has_columns = True
        kernel(self._colptr, self._rows, self._cvalues, D, out)
        return out

    def toarray(self):
        """The block as a dense array (for checks and debugging).

        Returns
        -------
        X : ndarray of shape (n_rows, n_cols)
        """
        n_rows = self.shape[0]
        X = np.zeros(self.shape, self.dtype)
        counts = np.diff(self._indptr[: n_rows + 1])
        X[np.repeat(np.arange(n_rows), counts), self._indices[: self.nnz]] = (
            self._values[: self.nnz]
        )
        return X

    def __repr__(self):
        return f"CompressedRows(shape={self.shape}, nnz={self.nnz})"
