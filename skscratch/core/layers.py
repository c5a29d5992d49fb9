"""Layers: the dense (fully connected) layer and the activation layer.

Both work on mini-batches stored row-wise: ``X`` has shape
``(n_samples, n_features)``, one sample per row, so each step of the forward
and backward pass is a single matrix product over the whole batch.

A layer's ``forward`` keeps what its ``backward`` will need (a reference, not
a copy), and ``backward(grad_output)`` returns ``grad_input``, the gradient of
the loss with respect to the layer's input, after filling the gradients of the
layer's own parameters.

Output and gradient arrays are buffers owned by the layer and reused from one
batch to the next (a batch of ``n`` rows uses the first ``n`` rows of a buffer
at least that tall), so a training loop allocates nothing per batch. The
returned arrays are therefore only valid until the layer's next call, and one
layer must not train in two threads at once. Inference can be made
thread-safe: ``forward(x, training=False, workspace=...)`` writes into the
caller's workspace and touches no state of the layer (``Network.predict`` does
this).
"""

import numpy as np
import scipy.sparse as sp

from . import compiled
from .activations import get_activation
from .compressed import CompressedRows
from .memory import aligned_empty


def _is_sparse(x):
    """``sp.issparse(x)``, answered at once for a NumPy array (the usual
    case): SciPy's test is an abstract-base-class check, several times
    slower."""
    return not isinstance(x, np.ndarray) and sp.issparse(x)


class _Buffer:
    """A reusable 2-D array; ``rows(n)`` returns its first ``n`` rows.

    Row slices of a C-ordered array are contiguous, which ``np.dot(..., out=)``
    requires.
    """

    __slots__ = ("_array",)

    def __init__(self):
        self._array = None

    def rows(self, n_rows, n_cols, dtype):
        a = self._array
        if a is None or a.shape[0] < n_rows or a.shape[1] != n_cols or a.dtype != dtype:
            a = self._array = aligned_empty((n_rows, n_cols), dtype)
        return a[:n_rows]

    def release(self):
        self._array = None


class Layer:
    """Base class: a differentiable step of the network.

    Attributes
    ----------
    n_params : int
        Number of trainable parameters (0 for layers without any).
    """

    n_params = 0

    def forward(self, x, training=True, workspace=None):
        """Compute the layer's output for a batch.

        Parameters
        ----------
        x : ndarray, sparse matrix or CompressedRows of shape (n_samples, n_in)
            A :class:`~skscratch.core.compressed.CompressedRows` block is
            accepted by :class:`Dense` only.
        training : bool, default=True
            When True, keep what :meth:`backward` needs.
        workspace : _Buffer, optional
            Where to write the output instead of the layer's own buffer.

        Returns
        -------
        y : ndarray of shape (n_samples, n_out)
        """
        raise NotImplementedError

    def backward(self, grad_output):
        """Backpropagate through the layer.

        Parameters
        ----------
        grad_output : ndarray of shape (n_samples, n_out)
            Gradient of the loss with respect to this layer's output.

        Returns
        -------
        grad_input : ndarray of shape (n_samples, n_in) or None
            Gradient with respect to the input; None when the layer was told
            that nobody needs it (the first layer of a network).
        """
        raise NotImplementedError

    def release_buffers(self):
        """Drop the cached batch and the work buffers (they are re-created
        on the next call)."""

    def clone_structure(self):
        """A new layer of the same kind and shape, without parameters of its
        own worth keeping (a :class:`~skscratch.core.network.Network` binds
        them)."""
        raise NotImplementedError

    def _writable_grad(self, grad_output):
        """The incoming gradient, to be scaled in place: itself when the
        layer is ``inplace`` (a network's own buffer), else a copy in the
        layer's ``_grad`` buffer, so a caller's array is never modified."""
        if self.inplace:
            return grad_output
        grad = self._grad.rows(*grad_output.shape, grad_output.dtype)
        np.copyto(grad, grad_output)
        return grad

    def __getstate__(self):
        # Pickle the parameters, never the cached batch or the work buffers.
        state = self.__dict__.copy()
        for key, value in state.items():
            if isinstance(value, _Buffer):
                state[key] = _Buffer()
        for key in ("_x", "_a", "_z", "_ones_vector", "_mask", "_derivative"):
            if key in state:
                state[key] = None
        return state


class Dense(Layer):
    """Fully connected layer ``Y = X W + b``.

    Parameters
    ----------
    n_in : int
        Number of input features.
    n_out : int
        Number of output units.
    dtype : numpy dtype, default=np.float64
        Floating point type of the parameters and buffers.

    Attributes
    ----------
    W : ndarray of shape (n_in, n_out)
        Weights (``coefs_[i]`` in the estimators).
    b : ndarray of shape (n_out,)
        Biases (``intercepts_[i]``).
    dW, db : ndarray
        Gradients of the loss with respect to ``W`` and ``b``, same shapes,
        filled by :meth:`backward`.
    needs_input_grad : bool
        Whether :meth:`backward` computes the gradient with respect to its
        input. A network's first layer does not: the input is data, and that
        product is the costliest one of the backward pass.

    Notes
    -----
    With ``D = dL/dY`` of shape ``(n_samples, n_out)``, the chain rule gives,
    summed over the batch:

    - ``dL/dW = X^T D``: entry ``(j, k)`` is ``sum_i x_ij d_ik``, since
      ``y_ik`` depends on ``w_jk`` through ``x_ij`` only;
    - ``dL/db = sum_i D_i``: the bias enters every row with coefficient 1;
    - ``dL/dX = D W^T``: ``x_ij`` feeds every ``y_ik`` with weight ``w_jk``.

    When a :class:`~skscratch.core.network.Network` owns the layer, ``W``,
    ``b``, ``dW`` and ``db`` are views into the network's flat parameter and
    gradient vectors.
    """

    def __init__(self, n_in, n_out, dtype=np.float64):
        self.n_in = int(n_in)
        self.n_out = int(n_out)
        self.dtype = np.dtype(dtype)
        self.needs_input_grad = True
        self.bind(
            np.zeros((self.n_in, self.n_out), self.dtype),
            np.zeros(self.n_out, self.dtype),
            np.zeros((self.n_in, self.n_out), self.dtype),
            np.zeros(self.n_out, self.dtype),
        )
        self._x = None
        self._out = _Buffer()
        self._grad_in = _Buffer()
        self._ones_vector = None

    @property
    def n_params(self):
        return self.n_in * self.n_out + self.n_out

    def bind(self, W, b, dW, db):
        """Use the given arrays as parameters and gradients (no copy).

        Parameters
        ----------
        W, dW : ndarray of shape (n_in, n_out)
        b, db : ndarray of shape (n_out,)
        """
        for name, arr, shape in (
            ("W", W, (self.n_in, self.n_out)),
            ("b", b, (self.n_out,)),
            ("dW", dW, (self.n_in, self.n_out)),
            ("db", db, (self.n_out,)),
        ):
            if arr.shape != shape:
                raise ValueError(f"{name} must have shape {shape}, got {arr.shape}.")
        self.W, self.b, self.dW, self.db = W, b, dW, db

    def forward(self, x, training=True, workspace=None):
        out = (workspace or self._out).rows(x.shape[0], self.n_out, self.dtype)
        if isinstance(x, CompressedRows):
            x.dot(self.W, out)
        elif _is_sparse(x):
            out[...] = x @ self.W
        else:
            np.dot(x, self.W, out=out)
        # The compiled addition beats NumPy's broadcasting one at every size,
        # lookup included, so it always runs (see docs/performance/design.rst).
        add_bias = compiled.kernel_for("add_bias", out, self.b)
        if add_bias is not None:
            add_bias(out, self.b)
        else:
            out += self.b
        if training:
            self._x = x
        return out

    def backward(self, grad_output):
        x = self._x
        if x is None:
            raise RuntimeError("backward called without a training forward pass.")
        if isinstance(x, CompressedRows):
            x.transpose_dot(grad_output, self.dW)
        elif _is_sparse(x):
            self.dW[...] = x.T @ grad_output
        else:
            np.dot(x.T, grad_output, out=self.dW)
        # Column sums as a matrix-vector product with ones: BLAS does it in a
        # third of the time np.sum(axis=0) takes on a row-major batch.
        np.dot(self._ones(grad_output.shape[0]), grad_output, out=self.db)
        if not self.needs_input_grad:
            return None
        grad_in = self._grad_in.rows(grad_output.shape[0], self.n_in, self.dtype)
        return np.dot(grad_output, self.W.T, out=grad_in)

    def release_buffers(self):
        self._x = None
        self._out.release()
        self._grad_in.release()
        self._ones_vector = None

    def _ones(self, n):
        ones = self._ones_vector
        if ones is None or ones.size < n or ones.dtype != self.dtype:
            ones = self._ones_vector = np.ones(n, dtype=self.dtype)
        return ones[:n]

    def clone_structure(self):
        return Dense(self.n_in, self.n_out, dtype=self.dtype)

    def __repr__(self):
        return f"Dense(n_in={self.n_in}, n_out={self.n_out})"


class ActivationLayer(Layer):
    """Applies an activation function element-wise.

    Parameters
    ----------
    activation : str or Activation
        Name from :data:`skscratch.core.activations.ACTIVATIONS`, or an
        activation object.
    inplace : bool, default=False
        Overwrite the input with the output in the forward pass, and the
        incoming gradient in the backward pass, instead of using buffers of
        its own. A network sets this when the layer follows a dense layer,
        whose output buffer nobody else reads; it is off by default so that a
        layer used on its own never modifies the caller's arrays.
    """

    def __init__(self, activation, inplace=False):
        self.activation = get_activation(activation)
        self.inplace = inplace
        self._a = None
        self._z = None
        self._derivative = None
        self._out = _Buffer()
        self._grad = _Buffer()
        self._derivative_buffer = _Buffer()

    def forward(self, x, training=True, workspace=None):
        f = self.activation
        if self.inplace and not f.needs_input:
            out = x
        else:
            out = (workspace or self._out).rows(x.shape[0], x.shape[1], x.dtype)
        if training and f.keeps_derivative:
            # Keep f'(z), computed along the way, for backward.
            self._derivative = self._derivative_buffer.rows(*x.shape, x.dtype)
            f.forward(x, out=out, derivative=self._derivative)
        else:
            f.forward(x, out=out)
        if training:
            self._a = out
            self._z = x if f.needs_input else None
        return out

    def backward(self, grad_output):
        if self._a is None:
            raise RuntimeError("backward called without a training forward pass.")
        grad = self._writable_grad(grad_output)
        if self._derivative is not None:
            return self.activation.backward(
                grad, self._a, self._z, derivative=self._derivative
            )
        return self.activation.backward(grad, self._a, self._z)

    def release_buffers(self):
        self._a = self._z = self._derivative = None
        self._out.release()
        self._grad.release()
        self._derivative_buffer.release()

    def clone_structure(self):
        return ActivationLayer(self.activation, inplace=self.inplace)

    def __repr__(self):
        return f"ActivationLayer({self.activation.name!r})"


class Dropout(Layer):
    """Inverted dropout.

    In training, each unit of the input is kept with probability
    ``1 - rate`` and multiplied by ``1 / (1 - rate)``, or set to zero. The
    rescaling keeps the expected value of every unit unchanged, so at
    prediction time (``training=False``) the layer does nothing at all.

    Backward multiplies the gradient by the same mask: a dropped unit passes
    no gradient back, a kept one passes it scaled by ``1 / (1 - rate)``.

    Parameters
    ----------
    rate : float
        Probability of dropping a unit, in [0, 1).
    random_state : int, numpy.random.Generator or SeedSequence, optional
        Seeds the layer's own generator (never the global one).
    """

    def __init__(self, rate, random_state=None):
        if not 0 <= rate < 1:
            raise ValueError(f"The dropout rate must be in [0, 1), got {rate}.")
        self.rate = float(rate)
        self.rng = np.random.default_rng(random_state)
        self.inplace = False
        self._mask_buffer = _Buffer()
        self._out = _Buffer()
        self._grad = _Buffer()
        self._mask = None

    def seed(self, random_state):
        """Restart the layer's generator from ``random_state``."""
        self.rng = np.random.default_rng(random_state)

    def forward(self, x, training=True, workspace=None):
        if not training:
            return x
        if self.rate == 0:
            self._mask = None
            return x
        keep = 1.0 - self.rate
        mask = self._mask_buffer.rows(*x.shape, x.dtype)
        # u in [0, 1): floor(u + keep) is 1 with probability keep, else 0.
        self.rng.random(out=mask, dtype=x.dtype)
        mask += keep
        np.floor(mask, out=mask)
        mask *= 1.0 / keep
        self._mask = mask
        # A buffer of our own: the activation before us reads its output in
        # its backward pass, so it must not be scaled in place.
        out = (workspace or self._out).rows(*x.shape, x.dtype)
        return np.multiply(x, mask, out=out)

    def backward(self, grad_output):
        if self._mask is None:
            return grad_output
        grad = self._writable_grad(grad_output)
        grad *= self._mask
        return grad

    def release_buffers(self):
        self._mask = None
        self._mask_buffer.release()
        self._out.release()
        self._grad.release()

    def clone_structure(self):
        # An independent stream for each replica (one per thread).
        return Dropout(self.rate, random_state=self.rng.spawn(1)[0])

    def __repr__(self):
        return f"Dropout({self.rate})"
