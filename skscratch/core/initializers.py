"""Weight initialisation.

Starting every weight at zero would make all units of a layer compute the same
thing and receive the same gradient forever; random weights break that
symmetry. Their scale matters too: too small and the signal fades layer after
layer, too large and activations saturate. Each scheme here draws from
``U(-r, r)``, whose variance is ``r^2 / 3``, and picks ``r`` for a family of
activations:

- ``'glorot'`` (Glorot and Bengio, 2010): ``r = sqrt(6 / (fan_in +
  fan_out))``. Keeps the variance of activations *and* of gradients about
  the same from layer to layer for activations with slope 1 around 0: tanh,
  identity (and, with scikit-learn's smaller factor, logistic). It is
  scikit-learn's scheme, and the default.
- ``'he'`` (He et al., 2015): ``r = sqrt(6 / fan_in)``, variance ``2 /
  fan_in``. relu zeroes half of its inputs and so halves the variance of the
  signal at every layer; twice the variance makes up for it. For relu and its
  relatives (leaky_relu, elu, gelu, silu, mish), whose deep networks fade
  from Glorot's scale.
- ``'lecun'`` (LeCun et al., 1998): ``r = sqrt(3 / fan_in)``, variance ``1 /
  fan_in``. Keeps the variance of the forward signal of a slope-1 activation
  from its inputs alone: LeCun's advice for tanh, and the variance that
  self-normalising activations (selu, as a custom activation) need.

Every scheme draws the weights, then the biases from the same range, in the
same order and the same number of draws, so the random stream after
initialisation is the same whichever scheme is used.
"""

import numpy as np

from .activations import Logistic

INITIALIZERS = ("glorot", "he", "lecun")
"""tuple of str: the schemes :func:`init_bound` knows."""


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
    return uniform(
        fan_in, fan_out, random_state, init_bound("glorot", fan_in, fan_out, factor)
    )


def uniform(fan_in, fan_out, random_state, bound):
    """Draw a weight matrix, then a bias vector, from ``U(-bound, bound)``.

    Parameters
    ----------
    fan_in : int
    fan_out : int
    random_state : numpy.random.RandomState or numpy.random.Generator
    bound : float

    Returns
    -------
    W : ndarray of shape (fan_in, fan_out), float64
    b : ndarray of shape (fan_out,), float64
    """
    W = random_state.uniform(-bound, bound, (fan_in, fan_out))
    b = random_state.uniform(-bound, bound, fan_out)
    return W, b


def init_bound(init, fan_in, fan_out, factor=6.0):
    """The half-width ``r`` of the uniform range of a scheme.

    Parameters
    ----------
    init : {'glorot', 'he', 'lecun'}
        See the module docstring.
    fan_in : int
        Number of inputs of the layer.
    fan_out : int
        Number of units of the layer.
    factor : float, default=6.0
        Glorot's numerator (see :func:`glorot_uniform`); the other schemes
        ignore it.

    Returns
    -------
    bound : float
    """
    if init == "glorot":
        return np.sqrt(factor / (fan_in + fan_out))
    if init == "he":
        return np.sqrt(6.0 / fan_in)
    if init == "lecun":
        return np.sqrt(3.0 / fan_in)
    raise ValueError(f"Unknown init {init!r}; expected one of {list(INITIALIZERS)}.")


def glorot_factor(activation):
    """The ``factor`` scikit-learn pairs with a hidden activation.

    Parameters
    ----------
    activation : str or Activation

    Returns
    -------
    factor : float
    """
    is_logistic = activation == "logistic" or type(activation) is Logistic
    return 2.0 if is_logistic else 6.0


def glorot_factors(activations, n_layers):
    """Glorot's ``factor`` for every dense layer of a perceptron.

    Each hidden layer takes the factor of the activation that follows it,
    and the output layer that of the last hidden layer, which with one
    activation for every layer is scikit-learn's choice (its factor for all
    layers).

    Parameters
    ----------
    activations : str, Activation, or sequence of them
        One hidden activation for all hidden layers, or one per hidden layer.
    n_layers : int
        Number of dense layers (hidden layers + 1).

    Returns
    -------
    factors : list of float of length n_layers
    """
    if isinstance(activations, str) or not hasattr(activations, "__iter__"):
        return [glorot_factor(activations)] * n_layers
    factors = [glorot_factor(a) for a in activations]
    return [*factors, factors[-1] if factors else 6.0]
