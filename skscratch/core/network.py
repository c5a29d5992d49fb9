"""The network: a stack of layers whose parameters live in one flat vector.

All trainable parameters of a :class:`Network` are stored in a single
contiguous array ``params`` (the vector ``theta`` of the optimisation problem),
and all gradients in a second one, ``grads``, with the same layout. Each dense
layer's ``W``, ``b``, ``dW`` and ``db`` are *views* into them. So:

- the backward pass writes every gradient straight into ``grads``;
- an optimizer updates ``params`` with a few whole-vector operations, in
  place, instead of looping over a list of arrays;
- L-BFGS, which wants a function of one vector, reads and writes ``params``
  directly: there is nothing to pack or unpack.

The layout puts all weight matrices first (layer by layer, row-major) and all
bias vectors after them, so the L2 penalty, which applies to weights only, is
one operation on the prefix ``params[:n_weights]``.
"""

from itertools import pairwise

import numpy as np
import scipy.sparse as sp

from .activations import get_activation, hidden_activations
from .compressed import CompressedRows
from .initializers import init_bound, uniform
from .layers import ActivationLayer, Dense, Dropout, _Buffer
from .losses import get_loss
from .memory import aligned_empty, aligned_zeros
from .penalty import add_l2_gradient, l2_penalty
from .rows import NonFiniteRowsError


class Network:
    """A feed-forward network: layers applied in order.

    Parameters
    ----------
    layers : list of Layer
        The layers, input first. Dense layers get their parameters re-bound to
        views of ``params`` (their current values are kept). An activation
        layer that directly follows a dense layer is switched to in-place mode.
    dtype : numpy dtype, default=np.float64
        Floating point type of parameters, gradients and buffers.

    Attributes
    ----------
    params : ndarray of shape (n_params,)
        Every weight then every bias, flattened.
    grads : ndarray of shape (n_params,)
        Gradient of the last :meth:`loss_and_gradient` call, same layout.
    n_weights : int
        Length of the weight part, ``params[:n_weights]``.
    dense_layers : list of Dense
    """

    def __init__(self, layers, dtype=np.float64, params=None):
        self.layers = list(layers)
        self.dtype = np.dtype(dtype)
        self.dense_layers = [layer for layer in self.layers if isinstance(layer, Dense)]
        if not self.dense_layers:
            raise ValueError("A network needs at least one Dense layer.")
        n_weights = sum(d.n_in * d.n_out for d in self.dense_layers)
        n_biases = sum(d.n_out for d in self.dense_layers)
        self.n_weights = n_weights
        shared = params is not None
        if shared:
            if params.shape != (n_weights + n_biases,) or params.dtype != self.dtype:
                raise ValueError("params does not fit these layers.")
            self.params = params
        else:
            self.params = aligned_zeros(n_weights + n_biases, self.dtype)
        self.grads = aligned_zeros(self.params.shape, self.dtype)
        w_at, b_at = 0, n_weights
        for d in self.dense_layers:
            w_end, b_end = w_at + d.n_in * d.n_out, b_at + d.n_out
            shape = (d.n_in, d.n_out)
            W = self.params[w_at:w_end].reshape(shape)
            b = self.params[b_at:b_end]
            if not shared:
                W[...], b[...] = d.W, d.b
            d.dtype = self.dtype
            d.bind(W, b, self.grads[w_at:w_end].reshape(shape), self.grads[b_at:b_end])
            w_at, b_at = w_end, b_end
        for prev, layer in pairwise(self.layers):
            if isinstance(layer, ActivationLayer) and isinstance(prev, Dense):
                layer.inplace = True
            if isinstance(layer, Dropout):
                # Its incoming gradient is a buffer of the network's.
                layer.inplace = True
        # Nobody needs the gradient with respect to the data.
        first = self.layers[0]
        if isinstance(first, Dense):
            first.needs_input_grad = False
        self._delta = _Buffer()
        self._scratch = None
        self.hidden_activation = None
        self.dropout = ()

    # -- parameters ---------------------------------------------------------

    @property
    def n_params(self):
        return self.params.size

    @property
    def coefs(self):
        """list of ndarray: the weight matrices (views into ``params``)."""
        return [d.W for d in self.dense_layers]

    @property
    def intercepts(self):
        """list of ndarray: the bias vectors (views into ``params``)."""
        return [d.b for d in self.dense_layers]

    @property
    def layer_units(self):
        """list of int: input width, then each dense layer's width."""
        return [self.dense_layers[0].n_in] + [d.n_out for d in self.dense_layers]

    def set_parameters(self, coefs, intercepts):
        """Copy weights and biases into ``params``.

        Parameters
        ----------
        coefs : list of ndarray of shape (n_in, n_out)
        intercepts : list of ndarray of shape (n_out,)
        """
        if len(coefs) != len(self.dense_layers) or len(intercepts) != len(coefs):
            raise ValueError(
                f"Expected {len(self.dense_layers)} weight matrices and bias "
                f"vectors, got {len(coefs)} and {len(intercepts)}."
            )
        for d, W, b in zip(self.dense_layers, coefs, intercepts, strict=True):
            if np.shape(W) != d.W.shape or np.shape(b) != d.b.shape:
                raise ValueError(
                    f"Parameter shapes {np.shape(W)}, {np.shape(b)} do not match "
                    f"layer {d!r}."
                )
            d.W[...] = W
            d.b[...] = b

    def replica(self):
        """A network with the same layers that shares ``params`` but has
        its own gradients and work buffers.

        Several replicas can run forward and backward passes on different rows
        of a batch at the same time (one per thread), each writing its own
        gradient, which are then summed (see :mod:`skscratch.core.parallel`).

        Returns
        -------
        replica : Network
        """
        layers = [layer.clone_structure() for layer in self.layers]
        twin = type(self)(layers, dtype=self.dtype, params=self.params)
        twin.hidden_activation = self.hidden_activation
        twin.dropout = self.dropout
        return twin

    def is_bound_to(self, coefs, intercepts):
        """Whether ``coefs``/``intercepts`` are exactly this network's views."""
        return (
            len(coefs) == len(self.dense_layers)
            and len(intercepts) == len(self.dense_layers)
            and all(
                W is d.W and b is d.b
                for d, W, b in zip(self.dense_layers, coefs, intercepts, strict=True)
            )
        )

    @property
    def dropout_layers(self):
        """list of Dropout: the dropout layers, input side first."""
        return [layer for layer in self.layers if isinstance(layer, Dropout)]

    def seed_dropout(self, seed):
        """Give every dropout layer its own stream derived from ``seed``.

        Parameters
        ----------
        seed : int or numpy.random.SeedSequence
        """
        layers = self.dropout_layers
        children = np.random.SeedSequence(seed).spawn(len(layers))
        for layer, child in zip(layers, children, strict=True):
            layer.seed(child)

    def initialize(self, random_state, factor=6.0, init="glorot"):
        """Draw every weight and bias from a uniform distribution.

        Layers are drawn in order, weights before biases, from the same
        generator, so a given seed gives the same network as scikit-learn
        (with ``init='glorot'``), and every scheme leaves the generator in
        the same state.

        Parameters
        ----------
        random_state : numpy.random.RandomState or numpy.random.Generator
        factor : float or sequence of float, default=6.0
            Glorot's factor (see
            :func:`~skscratch.core.initializers.glorot_uniform`), for every
            dense layer or one per dense layer.
        init : {'glorot', 'he', 'lecun'}, default='glorot'
            The scheme; see :mod:`skscratch.core.initializers`.
        """
        n = len(self.dense_layers)
        factors = [factor] * n if np.ndim(factor) == 0 else list(factor)
        if len(factors) != n:
            raise ValueError(f"Expected {n} factors (one per dense layer).")
        for d, f in zip(self.dense_layers, factors, strict=True):
            bound = init_bound(init, d.n_in, d.n_out, f)
            d.W[...], d.b[...] = uniform(d.n_in, d.n_out, random_state, bound)

    # -- passes -------------------------------------------------------------

    def forward(self, X, training=False, workspaces=None):
        """Run every layer on a batch.

        Parameters
        ----------
        X : ndarray or sparse matrix of shape (n_samples, n_features)
        training : bool, default=False
            Keep what :meth:`backward` needs.
        workspaces : list of _Buffer, optional
            One per layer, to write the outputs into instead of the layers'
            own buffers (see :meth:`predict`).

        Returns
        -------
        out : ndarray of shape (n_samples, n_outputs)
            The last layer's output (a buffer of that layer, or of the
            workspace: valid until the next call).
        """
        out = X
        for k, layer in enumerate(self.layers):
            workspace = None if workspaces is None else workspaces[k]
            out = layer.forward(out, training=training, workspace=workspace)
        return out

    def backward(self, grad_output):
        """Backpropagate ``grad_output`` through every layer, last first.

        Fills ``grads``. Needs a preceding ``forward(..., training=True)``.

        Parameters
        ----------
        grad_output : ndarray of shape (n_samples, n_outputs)
            Gradient of the loss with respect to the network's output.

        Returns
        -------
        grad_input : ndarray of shape (n_samples, n_features) or None
            None when the first layer is dense (nobody needs it).
        """
        grad = grad_output
        for layer in reversed(self.layers):
            grad = layer.backward(grad)
        return grad

    def loss_and_gradient(
        self, X, Y, loss, alpha=0.0, sample_weight=None, weight_sum=None
    ):
        """Objective value on a batch, with its gradient left in ``grads``.

        The objective is the weighted mean loss plus an L2 penalty::

            J = sum_i w_i l_i / sum_i w_i + alpha * ||W||^2 / (2 sum_i w_i)

        (``w_i = 1`` without sample weights), so integer weights act exactly
        like repeated rows.

        Parameters
        ----------
        X : ndarray or sparse matrix of shape (n_samples, n_features)
        Y : ndarray of shape (n_samples, n_outputs)
            Targets, encoded as the loss expects (one-hot for ``log_loss``).
        loss : str or Loss
            The loss; its output activation is applied to the last layer.
        alpha : float, default=0.0
            L2 penalty strength.
        sample_weight : ndarray of shape (n_samples,), optional
            Non-negative weights with a positive sum.
        weight_sum : float, optional
            The ``sum_i w_i`` to divide by; by default the weight of these
            rows. Passing the weight of a whole batch while giving only some
            of its rows computes that part's share of the batch objective,
            which is how batches are split between threads.

        Returns
        -------
        value : float
            The objective ``J``.
        """
        loss = get_loss(loss)
        n = X.shape[0]
        z = self.forward(X, training=True)
        y_pred = loss.activation.forward(z, out=z)
        if weight_sum is None:
            weight_sum = float(n if sample_weight is None else sample_weight.sum())
        value = loss.total(Y, y_pred, sample_weight) / weight_sum

        # Output error: d J / d z_i = w_i (p_i - y_i) / sum(w), computed on the
        # small (n, n_outputs) matrix so every gradient below is already
        # divided by the total weight.
        delta = self._delta.rows(n, y_pred.shape[1], self.dtype)
        loss.gradient(Y, y_pred, out=delta)
        if sample_weight is not None:
            delta *= sample_weight[:, np.newaxis]
        delta *= 1.0 / weight_sum
        self.backward(delta)

        if alpha:
            value += self.add_penalty(alpha / weight_sum)
        return value

    def add_penalty(self, strength, block=slice(None)):
        """Add the L2 penalty ``strength/2 * ||W||^2``'s gradient to
        ``grads``, and return its value.

        Parameters
        ----------
        strength : float
            ``alpha / sum_i w_i``.
        block : slice, default=slice(None)
            Only the part of the parameter vector in this block (the biases,
            which are not penalised, are skipped).

        Returns
        -------
        penalty : float
            The block's share of ``strength/2 * ||W||^2``.
        """
        start, stop = self._weight_range(block)
        if start >= stop:
            return 0.0
        weights = self.params[start:stop]
        scratch = self.penalty_scratch()[start:stop]
        add_l2_gradient(self.grads[start:stop], weights, strength, scratch)
        return l2_penalty(weights, strength)

    def penalty(self, strength, block=slice(None)):
        """The value of :meth:`add_penalty`, without touching ``grads`` (for
        an optimizer that adds the gradient itself).

        Parameters
        ----------
        strength : float
        block : slice, default=slice(None)

        Returns
        -------
        penalty : float
        """
        start, stop = self._weight_range(block)
        if start >= stop:
            return 0.0
        return l2_penalty(self.params[start:stop], strength)

    def _weight_range(self, block):
        """Start and stop of the part of ``block`` that holds weights (the
        biases come after them)."""
        start, stop, _ = block.indices(self.params.size)
        return start, min(stop, self.n_weights)

    def penalty_scratch(self):
        """The work vector of :meth:`add_penalty` (allocated on first use; a
        caller about to run blocks in parallel threads asks for it first)."""
        if self._scratch is None:
            self._scratch = aligned_empty(self.n_weights, self.dtype)
        return self._scratch

    def predict(self, X, output_activation, batch_size=4096, compress_rows=False):
        """Network output, with the output activation applied, for any number
        of rows.

        Rows are processed in blocks of ``batch_size`` so the work buffers stay
        bounded whatever ``n_samples`` is. Those buffers belong to this call,
        so several threads can predict with one network at once.

        Parameters
        ----------
        X : ndarray or sparse matrix of shape (n_samples, n_features)
        output_activation : str or Activation
        batch_size : int, default=4096
        compress_rows : bool, default=False
            Store each block of a dense ``X`` by its nonzero entries before
            the first layer (see :mod:`skscratch.core.compressed`); the first
            layer must be dense. Compressing also tests the values: a block
            holding NaN or infinity raises
            :class:`~skscratch.core.rows.NonFiniteRowsError`, so the
            caller need not check ``X`` beforehand.

        Returns
        -------
        y : ndarray of shape (n_samples, n_outputs)
            A new array.
        """
        f = get_activation(output_activation)
        n = X.shape[0]
        workspaces = [_Buffer() for _ in self.layers]
        # One compressed block, reused by every block of this call.
        compressed = CompressedRows() if compress_rows and not sp.issparse(X) else None

        def rows(start, stop):
            """Rows ``start:stop`` of X, as the first layer takes them."""
            if compressed is not None:
                block = compressed.compress(np.ascontiguousarray(X[start:stop]))
                if not block.finite:
                    raise NonFiniteRowsError()
                return block
            return X if stop - start == n else X[start:stop]

        if n <= batch_size:
            # One block: the last layer's output is a buffer of this call, so
            # the output activation can run on it in place and it can be
            # returned as is (no copy, and X is not sliced: a sparse slice is
            # a copy).
            z = self.forward(rows(0, n), training=False, workspaces=workspaces)
            if z is not X:
                return f.forward(z, out=z)
        out = np.empty((n, self.dense_layers[-1].n_out), dtype=self.dtype)
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            z = self.forward(rows(start, stop), training=False, workspaces=workspaces)
            f.forward(z, out=out[start:stop])
        return out

    def release_buffers(self):
        """Free the work buffers of every layer (they come back on demand)."""
        for layer in self.layers:
            layer.release_buffers()
        self._delta.release()
        self._scratch = None

    def __reduce__(self):
        # Rebuild from the layers: the flat vectors and the views into them
        # are re-created, which pickling the views one by one would not do.
        return (
            type(self),
            (self.layers, self.dtype),
            {"hidden_activation": self.hidden_activation, "dropout": self.dropout},
        )

    def __repr__(self):
        inner = ", ".join(repr(layer) for layer in self.layers)
        return f"Network([{inner}], dtype={self.dtype})"


def build_mlp(layer_units, hidden_activation, dtype=np.float64, dropout=None):
    """Build the multi-layer perceptron the estimators train.

    Parameters
    ----------
    layer_units : list of int
        ``[n_features, hidden_1, ..., hidden_k, n_outputs]``.
    hidden_activation : str, Activation, or sequence of them
        Activation after each hidden dense layer: one for all of them, or
        one per hidden layer (``k`` entries). The output activation is not
        part of the network: it belongs to the loss.
    dtype : numpy dtype, default=np.float64
    dropout : sequence of float, optional
        Dropout rate after each hidden layer (``k`` values); a rate of 0 adds
        no layer.

    Returns
    -------
    network : Network
        ``Dense, Activation, [Dropout,] Dense, ..., Dense``.
    """
    n_hidden = len(layer_units) - 2
    rates = tuple(float(r) for r in dropout) if dropout is not None else ()
    rates = rates or (0.0,) * n_hidden
    if len(rates) != n_hidden:
        raise ValueError(
            f"Expected {n_hidden} dropout rates (one per hidden layer), got "
            f"{len(rates)}."
        )
    activations = hidden_activations(hidden_activation, n_hidden)
    layers = []
    for i, (n_in, n_out) in enumerate(pairwise(layer_units)):
        if i > 0:
            layers.append(ActivationLayer(activations[i - 1]))
            if rates[i - 1] > 0:
                layers.append(Dropout(rates[i - 1]))
        layers.append(Dense(n_in, n_out, dtype=dtype))
    network = Network(layers, dtype=dtype)
    # Recorded so an estimator can tell whether this network still matches
    # its ``activation`` and ``dropout`` parameters.
    network.hidden_activation = _activation_spec(hidden_activation)
    network.dropout = rates
    return network


def _activation_spec(hidden_activation):
    """What :attr:`Network.hidden_activation` records: a name or an activation
    object as given, a sequence as a tuple (of names or objects)."""
    if isinstance(hidden_activation, str):
        return get_activation(hidden_activation).name
    if hasattr(hidden_activation, "__iter__"):
        return tuple(hidden_activation)
    return hidden_activation
