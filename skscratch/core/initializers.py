"""Weight initialisation.

Starting every weight at zero would make all units of a layer compute the same
thing and receive the same gradient forever; random weights break that
symmetry. Their scale matters too: too small and the signal fades layer after
layer, too large and activations saturate. Glorot and Bengio (2010) pick the
range so that the variance of activations and of gradients stays about the
same from layer to layer.
"""

import numpy as np


def glorot_uniform(fan_in, fan_out, random_state, factor=6.0):
    """Draw a weight matrix and a bias vector from ``U(-r, r)``.

    ``r = sqrt(factor / (fan_in + fan_out))``. Glorot's value is
    ``factor=6``; scikit-learn uses ``factor=2`` for the logistic activation,
    whose slope at 0 is a quarter of tanh's.

    Parameters
    ----------
    fan_in : int
        Number of inputs of the layer.
    fan_out : int
        Number of units of the layer.
    random_state : numpy.random.RandomState or numpy.random.Generator
        Source of randomness; never the global generator. The weights are drawn
        first, then the biases, as scikit-learn does, so the same seed gives
        the same network.
    factor : float, default=6.0

    Returns
    -------
    W : ndarray of shape (fan_in, fan_out), float64
    b : ndarray of shape (fan_out,), float64
    """
    bound = np.sqrt(factor / (fan_in + fan_out))
    W = random_state.uniform(-bound, bound, (fan_in, fan_out))
    b = random_state.uniform(-bound, bound, fan_out)
    return W, b


def glorot_factor(activation):
    """The ``factor`` scikit-learn pairs with a hidden activation.

    Parameters
    ----------
    activation : str

    Returns
    -------
    factor : float
    """
    return 2.0 if activation == "logistic" else 6.0
