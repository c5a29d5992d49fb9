"""Hidden-layer embeddings: a fitted MLP as a feature extractor.

:class:`MLPEmbedding` is a transformer that fits a multi-layer perceptron
and turns new data into the activations of one of its hidden layers, as
asked in scikit-learn's issues #8291 and #9468. It is a step like any other:

>>> from sklearn.datasets import load_digits
>>> from sklearn.linear_model import LogisticRegression
>>> from sklearn.pipeline import make_pipeline
>>> from skscratch import MLPClassifier, MLPEmbedding
>>> X, y = load_digits(return_X_y=True)
>>> mlp = MLPClassifier(hidden_layer_sizes=(64, 16), max_iter=50, random_state=0)
>>> model = make_pipeline(MLPEmbedding(mlp), LogisticRegression(max_iter=1000))
>>> model.fit(X / 16, y).score(X / 16, y) > 0.9
True
>>> model[0].get_feature_names_out()[:3].tolist()
['mlp_h2_0', 'mlp_h2_1', 'mlp_h2_2']

Why a wrapper, and not a ``transform`` method on the estimators: scikit-learn
decides what an estimator is by its methods. A classifier with ``transform``
is a transformer too, so ``check_estimator`` would hold it to the
transformer contract (``set_output``, ``get_feature_names_out``, dtypes),
which scikit-learn's MLP, that ours replaces, does not meet; a pipeline
ending in it would gain a ``transform`` it never had; and a step that can
both predict and transform is ambiguous in a pipeline (does
``make_pipeline(MLPClassifier(), LogisticRegression())`` feed the next step
predictions or embeddings?). A separate transformer keeps the drop-in
estimators exactly scikit-learn's, passes the transformer checks on its own,
and says what it does in its name.
"""

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context, clone
from sklearn.frozen import FrozenEstimator
from sklearn.utils import get_tags
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.validation import (
    _check_feature_names_in,
    check_is_fitted,
    validate_data,
)

from .callbacks import _SklearnCallbackSupport, sub_estimator_fit
from .core.activations import Activation, get_activation
from .core.layers import ActivationLayer, Dense
from .core.network import Network

__all__ = ["MLPEmbedding"]


class MLPEmbedding(_SklearnCallbackSupport, TransformerMixin, BaseEstimator):
    """The activations of a hidden layer of a multi-layer perceptron, as a
    transformer.

    ``fit`` fits a clone of ``estimator``; ``transform`` runs new data
    through its first layers and returns the activations of hidden layer
    ``layer``: learned features, e.g. for a linear model or gradient boosting
    downstream. The columns are named ``mlp_h{k}_{j}``: unit ``j`` of hidden
    layer ``k``, counted from 1 as in ``n_layers_`` (layer 0 is the input).

    An MLP fitted already is used as is when wrapped in
    :class:`sklearn.frozen.FrozenEstimator`, scikit-learn's replacement for
    ``prefit`` options: ``fit`` then only checks it and learns the input's
    width and column names.

    Parameters
    ----------
    estimator : estimator
        The network to fit: :class:`~skscratch.MLPClassifier`,
        :class:`~skscratch.MLPRegressor` (or scikit-learn's own), or one of
        them fitted already inside :class:`~sklearn.frozen.FrozenEstimator`.
        Anything whose fit sets ``coefs_``, ``intercepts_`` and
        ``activation`` as those do.
    layer : int, default=-1
        Which hidden layer: ``1`` for the first, up to the number of hidden
        layers (``len(hidden_layer_sizes)``); negative values count back from
        the last (``-1``). Checked against the fitted network.

    Attributes
    ----------
    estimator_ : estimator
        The fitted network (``estimator`` itself when frozen).
    layer_ : int
        The hidden layer transformed to, counted from 1.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features seen during ``fit``, when they all are strings.

    See Also
    --------
    MLPClassifier : A network whose hidden layers learn to separate classes.
    MLPRegressor : A network whose hidden layers learn to predict targets.

    Notes
    -----
    The activations are computed from the fitted ``coefs_``,
    ``intercepts_`` and activation, with the same dense and activation
    layers (:mod:`skscratch.core`) that make the network's predictions:
    ``a_k = f_k(a_{k-1} @ coefs_[k-1] + intercepts_[k-1])`` from ``a_0 = X``.
    Dropout, used only in training, plays no part. The output keeps the
    network's dtype: float32 for a network fitted on float32 data.

    A separate transformer rather than a ``transform`` method on the
    estimators: scikit-learn would take a classifier with ``transform`` for
    a transformer too, holding it to checks scikit-learn's own MLP does not
    meet and making a pipeline step ambiguous (predictions or embeddings?),
    while this keeps the drop-in estimators exactly scikit-learn's and
    passes the transformer checks itself. See the module's documentation.

    Scikit-learn's callbacks (``set_callbacks``, scikit-learn 1.9 and later)
    set on it, or on a meta-estimator around it, reach the network it fits
    as they reach a pipeline's steps.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skscratch import MLPClassifier, MLPEmbedding
    >>> X, y = load_iris(return_X_y=True)
    >>> mlp = MLPClassifier(hidden_layer_sizes=(8, 4), solver="lbfgs", random_state=0)
    >>> embedding = MLPEmbedding(mlp, layer=1).fit(X, y)
    >>> embedding.transform(X).shape
    (150, 8)
    >>> embedding.get_feature_names_out()[:2].tolist()
    ['mlp_h1_0', 'mlp_h1_1']
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit"])],
        # Counted from 1, or back from -1: 0 would be the input itself.
        "layer": [
            Interval(Integral, 1, None, closed="left"),
            Interval(Integral, None, -1, closed="right"),
        ],
    }

    def __init__(self, estimator, *, layer=-1):
        self.estimator = estimator
        self.layer = layer

    # The wrapped estimator validates its own parameters when it is fitted.
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None, **fit_params):
        """Fit a clone of ``estimator`` on ``X`` and ``y``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets, as ``estimator`` takes them (ignored when it is frozen).
        **fit_params : dict
            Passed on to ``estimator.fit``, e.g. ``sample_weight``.

        Returns
        -------
        self : MLPEmbedding
            The fitted transformer.
        """
        estimator = clone(self.estimator)
        if isinstance(estimator, FrozenEstimator):
            # Not fitted again: no training for callbacks to follow.
            fitted = estimator.fit(X, y)
        else:
            if y is None:
                raise ValueError(
                    f"{type(self).__name__} requires y to be passed, but the "
                    "target y is None: it fits its estimator on y. To use a "
                    "fitted network as it is, wrap it in "
                    "sklearn.frozen.FrozenEstimator."
                )
            sizes = getattr(estimator, "hidden_layer_sizes", None)
            if sizes is not None:  # a wrong layer fails before a wasted fit
                _layer_number(self.layer, np.size(sizes))
            with sub_estimator_fit(self, estimator, X, y):
                fitted = estimator.fit(X, y, **fit_params)
        # Learn the input's width and column names without converting X:
        # the estimator has checked its values.
        validate_data(self, X, skip_check_array=True)
        self.layer_ = _hidden_layer(fitted, self.layer)
        if fitted.coefs_[0].shape[0] != self.n_features_in_:
            raise ValueError(
                f"X has {self.n_features_in_} features, but the frozen network "
                f"takes {fitted.coefs_[0].shape[0]}."
            )
        self.estimator_ = fitted
        return self

    def transform(self, X):
        """The activations of hidden layer ``layer_`` for ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The data to embed.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_units)
            One column per unit of the layer, in the network's dtype.
        """
        check_is_fitted(self)
        coefs = self.estimator_.coefs_
        X = validate_data(
            self, X, accept_sparse="csr", dtype=coefs[0].dtype, reset=False
        )
        network = _truncated_network(self.estimator_, self.layer_)
        activation = _hidden_layer_activations(self.estimator_)[self.layer_ - 1]
        return network.predict(X, activation)

    def get_feature_names_out(self, input_features=None):
        """Names of the output columns: ``mlp_h{k}_{j}`` for unit ``j`` of
        hidden layer ``k``.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Only checked against the names seen in ``fit``.

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        check_is_fitted(self)
        _check_feature_names_in(self, input_features)
        width = self.estimator_.coefs_[self.layer_ - 1].shape[1]
        return np.asarray(
            [f"mlp_h{self.layer_}_{j}" for j in range(width)], dtype=object
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator)
        tags.input_tags.sparse = inner.input_tags.sparse
        tags.target_tags.required = not isinstance(self.estimator, FrozenEstimator)
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


def _hidden_layer(mlp, layer):
    """``layer`` counted from 1 among the hidden layers of the fitted
    ``mlp``; a ``TypeError`` if ``mlp`` is not a multi-layer perceptron."""
    for name in ("coefs_", "intercepts_", "activation"):
        if not hasattr(mlp, name):
            raise TypeError(
                f"MLPEmbedding needs a multi-layer perceptron; {type(mlp).__name__} "
                f"has no {name!r} once fitted."
            )
    return _layer_number(layer, len(mlp.coefs_) - 1)


def _layer_number(layer, n_hidden):
    """``layer`` counted from 1 among ``n_hidden`` hidden layers, or a
    ``ValueError`` saying which values it can take."""
    if n_hidden < 1:
        raise ValueError("The network has no hidden layer to take activations from.")
    if not (1 <= layer <= n_hidden or -n_hidden <= layer <= -1):
        raise ValueError(
            f"layer={layer} is out of range: the network has {n_hidden} hidden "
            f"layer(s), so layer must be in 1..{n_hidden} or -{n_hidden}..-1."
        )
    return layer if layer > 0 else n_hidden + 1 + layer


def _hidden_layer_activations(mlp):
    """The activation after each hidden layer of the fitted ``mlp``.

    The one place that knows how a network records its activations: one
    name or :class:`~skscratch.core.activations.Activation` for every layer,
    or one per layer. skscratch's estimators keep what they were fitted with
    (``activation`` may have been changed since); scikit-learn's use
    ``activation``.

    Parameters
    ----------
    mlp : estimator
        A fitted multi-layer perceptron.

    Returns
    -------
    activations : list of Activation
        One per hidden layer, input side first.
    """
    spec = getattr(mlp, "_hidden_activation", mlp.activation)
    n_hidden = len(mlp.coefs_) - 1
    if isinstance(spec, str | Activation):
        return [get_activation(spec)] * n_hidden
    return [get_activation(entry) for entry in spec]


def _truncated_network(mlp, layer):
    """The first ``layer`` dense layers of the fitted ``mlp``, each but the
    last followed by its activation, holding copies of its parameters.

    The last activation is left to :meth:`Network.predict`, which applies
    it as the output activation: the whole forward pass is the core's.

    Parameters
    ----------
    mlp : estimator
        A fitted multi-layer perceptron.
    layer : int
        Hidden layer counted from 1.

    Returns
    -------
    network : Network
    """
    coefs, intercepts = mlp.coefs_[:layer], mlp.intercepts_[:layer]
    activations = _hidden_layer_activations(mlp)
    dtype = coefs[0].dtype
    layers = []
    for k, W in enumerate(coefs):
        if k > 0:
            layers.append(ActivationLayer(activations[k - 1]))
        layers.append(Dense(W.shape[0], W.shape[1], dtype=dtype))
    network = Network(layers, dtype=dtype)
    network.set_parameters(coefs, intercepts)
    return network
