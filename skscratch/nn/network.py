"""A feed-forward network over one flat parameter vector.

Every weight and bias lives in a single vector ``params`` (the ``theta`` of
the optimisation problem) and every gradient in ``grads``, same layout: all
weight matrices first (layer by layer, row-major), then all biases. The dense
layers' ``W``, ``b``, ``dW``, ``db`` are views into them, so backward writes
straight into ``grads`` and an optimizer updates the whole network with one
vector operation. This is also the layout of ``skscratch.core.Network``.

The objective on a batch is the weighted mean loss plus an L2 penalty on the
weights (not the biases)::

    J = sum_i w_i l_i / sum_i w_i + alpha / (2 sum_i w_i) * ||W||^2
"""

from itertools import pairwise

import numpy as np

from ._xp import array_namespace, device
from .activations import get_activation
from .layers import ActivationLayer, Dense, Dropout
from .losses import get_loss


class Network:
    """Layers applied in order, then the loss's output activation.

    Parameters
    ----------
    layers : list of layers
        ``Dense``, ``ActivationLayer``, ``Dropout``; input side first.
    loss : str or Loss
        Its output activation turns the last layer's scores into predictions.
    like : array, optional
        The parameters take this array's namespace, device and dtype (a
        PyTorch CUDA tensor puts the network on that GPU); by default,
        float64 NumPy arrays.

    Attributes
    ----------
    params, grads : array of shape (n_params,)
    n_weights : int
        The weights are ``params[:n_weights]``, the biases the rest.
    dense : list of Dense
    """

    def __init__(self, layers, loss, like=None):
        self.layers = list(layers)
        self.loss = get_loss(loss)
        self.output_activation = get_activation(self.loss.activation)
        self.dense = [layer for layer in self.layers if isinstance(layer, Dense)]
        self.n_weights = sum(d.n_in * d.n_out for d in self.dense)
        n_params = self.n_weights + sum(d.n_out for d in self.dense)
        like = np.zeros(0) if like is None else like
        xp = self.xp = array_namespace(like)
        self.params = xp.zeros(n_params, dtype=like.dtype, device=device(like))
        self.grads = xp.zeros_like(self.params)
        w_at, b_at = 0, self.n_weights
        for d in self.dense:
            shape = (d.n_in, d.n_out)
            w_end, b_end = w_at + d.n_in * d.n_out, b_at + d.n_out
            d.W = xp.reshape(self.params[w_at:w_end], shape)
            d.dW = xp.reshape(self.grads[w_at:w_end], shape)
            d.b, d.db = self.params[b_at:b_end], self.grads[b_at:b_end]
            w_at, b_at = w_end, b_end

    @classmethod
    def mlp(
        cls,
        layer_units,
        activation="relu",
        loss="log_loss",
        dropout=0.0,
        rng=None,
        like=None,
    ):
        """``Dense, Activation, [Dropout,] ..., Dense`` for
        ``layer_units = [n_features, hidden..., n_outputs]``; ``like`` as
        for the constructor."""
        layers = []
        for i, (n_in, n_out) in enumerate(pairwise(layer_units)):
            if i > 0:
                layers.append(ActivationLayer(activation))
                if dropout:
                    layers.append(Dropout(dropout, rng))
            layers.append(Dense(n_in, n_out))
        return cls(layers, loss, like)

    def initialize(self, random_state, factor=6.0):
        """Glorot-uniform: ``W, b ~ U(-r, r)``, ``r = sqrt(factor/(n_in + n_out))``.

        Layer by layer, weights then biases, from one generator: scikit-learn's
        order, so a ``RandomState(seed)`` gives its network. ``factor`` is 6,
        or 2 for a logistic hidden activation (a quarter of tanh's slope).
        The draws are made on the host, so a seed gives the same weights on
        every device.
        """
        for d in self.dense:
            bound = np.sqrt(factor / (d.n_in + d.n_out))
            d.W[...] = self.asarray(random_state.uniform(-bound, bound, d.W.shape))
            d.b[...] = self.asarray(random_state.uniform(-bound, bound, d.b.shape))

    def asarray(self, array):
        """``array`` moved to the parameters' namespace, device and dtype."""
        params = self.params
        return self.xp.asarray(array, dtype=params.dtype, device=device(params))

    def forward(self, X, training=False):
        """Scores ``Z`` of the last layer, shape (n_samples, n_outputs)."""
        for layer in self.layers:
            X = layer.forward(X, training=training)
        return X

    def backward(self, dZ):
        """Backpropagate ``dJ/dZ`` through every layer, filling ``grads``."""
        for layer in reversed(self.layers):
            dZ = layer.backward(dZ)
        return dZ

    def loss_and_gradient(self, X, Y, sample_weight=None, alpha=0.0):
        """Objective ``J`` on a batch; its gradient is left in ``grads``.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
            In the parameters' namespace, on their device, in their dtype.
        Y : array of shape (n_samples, n_outputs)
            Targets as the loss expects them (one-hot for ``log_loss``).
        sample_weight : array of shape (n_samples,), optional
        alpha : float
            L2 penalty strength.

        Returns
        -------
        J : float
        """
        P = self.output_activation.forward(self.forward(X, training=True))
        value = self.loss.value(Y, P, sample_weight)
        self.backward(self.loss.gradient(Y, P, sample_weight))
        if alpha:
            # The penalty is scaled like the loss, by the batch's total weight.
            total = X.shape[0] if sample_weight is None else self.xp.sum(sample_weight)
            strength = alpha / float(total)
            W = self.params[: self.n_weights]
            value += 0.5 * strength * float(self.xp.sum(W * W))
            self.grads[: self.n_weights] += strength * W
        return value

    def predict(self, X):
        """Predictions ``g(Z)``, shape (n_samples, n_outputs)."""
        return self.output_activation.forward(self.forward(X))
