"""MLPRegressor (also ScratchMLPRegressor): scikit-learn's MLPRegressor, drop-in."""

from numbers import Real

from sklearn.base import RegressorMixin, _fit_context
from sklearn.metrics import r2_score
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import column_or_1d

from . import _namespaces
from ._base import (
    _STOCHASTIC_SOLVERS,
    REGRESSION_LOSSES,
    _BaseScratchMLP,
    _fit_dtypes,
    _renamed,
    _store_init_arguments,
)
from .core import get_loss
from .core.losses import HuberLoss


class MLPRegressor(RegressorMixin, _BaseScratchMLP):
    """Multi-layer perceptron regressor trained by backpropagation.

    Same parameters, defaults, attributes and behaviour as scikit-learn's
    :class:`~sklearn.neural_network.MLPRegressor`; the network underneath is
    :mod:`skscratch.core`. Single- and multi-output targets.

    Parameters
    ----------
    loss : {'squared_error', 'poisson', 'absolute_error', 'huber'}, \
            default='squared_error'
        - ``'squared_error'``: half the squared error, averaged over outputs,
          with an identity output layer.
        - ``'poisson'``: half the Poisson deviance with an exponential output
          layer (a log link), for counts and rates; needs ``y >= 0``.
        - ``'absolute_error'``: absolute error averaged over outputs; fits
          the conditional median (skscratch addition).
        - ``'huber'``: squared error for errors up to ``huber_delta``, linear
          beyond; robust to outliers (skscratch addition).
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        Number of units of each hidden layer.
    activation : {'identity', 'logistic', 'tanh', 'relu', 'leaky_relu', \
            'elu', 'gelu', 'softplus', 'silu', 'mish'}, CustomActivation \
            or tuple of shape (n_layers - 2,), default='relu'
        Activation function of the hidden layers: one for all, or one per
        hidden layer, each a name or a :class:`skscratch.CustomActivation`;
        see :class:`MLPClassifier`.
    solver : {'lbfgs', 'sgd', 'adam', 'adamw', 'rmsprop'}, default='adam'
        Optimiser; see :class:`MLPClassifier`.
    alpha : float, default=0.0001
        Strength of the L2 penalty.
    batch_size : int or 'auto', default='auto'
        Mini-batch size; ``'auto'`` is ``min(200, n_samples)``.
    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        Learning rate schedule of ``'sgd'`` (and of ``'adamw'`` and
        ``'rmsprop'``; plain ``'adam'`` ignores it, as in scikit-learn).
    learning_rate_init : float, default=0.001
        Initial step size of ``'sgd'`` and ``'adam'``.
    power_t : float, default=0.5
        Exponent of the ``'invscaling'`` schedule.
    max_iter : int, default=200
        Maximum number of epochs (stochastic solvers) or iterations
        (``'lbfgs'``).
    shuffle : bool, default=True
        Shuffle the samples before every epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, shuffling and the validation split; ``None``
        uses a fresh OS-seeded generator.
    tol : float, default=1e-4
        Tolerance of the stopping rule.
    verbose : bool, default=False
        Print the loss after every iteration, for every solver.
    warm_start : bool, default=False
        Start from the previous solution.
    momentum : float, default=0.9
        Momentum of ``'sgd'``.
    nesterovs_momentum : bool, default=True
        Use Nesterov's momentum.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data and stop when the
        validation R^2 stops improving; the best weights are restored.
    validation_fraction : float, default=0.1
        Share of the training data held out for early stopping.
    beta_1 : float, default=0.9
        Decay of Adam's first moment estimate.
    beta_2 : float, default=0.999
        Decay of Adam's second moment estimate.
    epsilon : float, default=1e-8
        Adam's numerical stability constant.
    n_iter_no_change : int, default=10
        Number of epochs without improvement by ``tol`` before stopping.
    max_fun : int, default=15000
        Maximum number of loss evaluations of ``'lbfgs'``.
    huber_delta : float, default=1.0
        For ``loss='huber'``: errors up to this size are squared, larger ones
        count linearly (skscratch addition).
    dropout : float or array-like of shape (n_layers - 2,), default=0.0
        Inverted dropout after the hidden layers; see
        :class:`MLPClassifier` (skscratch addition).
    early_stopping_metric : {'score', 'loss'}, default='score'
        What ``early_stopping`` watches on the held-out data: R^2
        (scikit-learn's behaviour) or the loss (skscratch addition).
    callbacks : list of callable, default=None
        Called after every epoch; see :mod:`skscratch.callbacks`
        (skscratch addition).
    init : {'glorot', 'he', 'lecun'}, default='glorot'
        How the initial weights are drawn: ``'glorot'`` (scikit-learn's,
        for tanh, logistic and identity), ``'he'`` (variance ``2 /
        fan_in``, for relu and its relatives) or ``'lecun'`` (variance ``1
        / fan_in``, for tanh and self-normalising activations such as selu);
        see :class:`MLPClassifier` (skscratch addition).

    Attributes
    ----------
    loss_ : float
        Loss (with the penalty) at the end of training.
    best_loss_ : float or None
        Smallest loss reached; None with ``early_stopping``.
    loss_curve_ : list of float
        Loss after each epoch (each iteration for ``'lbfgs'``).
    validation_scores_ : list of float or None
        Validation R^2 after each epoch with ``early_stopping``.
    best_validation_score_ : float or None
        Best validation R^2 with ``early_stopping``.
    validation_loss_curve_ : list of float or None
        Loss (without the L2 penalty) on the held-out data after each epoch
        with ``early_stopping``.
    best_validation_loss_ : float or None
        Smallest validation loss with ``early_stopping``.
    t_ : int
        Number of training samples seen by the solver.
    coefs_ : list of ndarray of shape (n_units_in, n_units_out)
        Weight matrix of each layer.
    intercepts_ : list of ndarray of shape (n_units_out,)
        Bias vector of each layer.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Feature names seen during fit, when X has string column names.
    n_iter_ : int
        Number of iterations the solver ran.
    n_layers_ : int
        Number of layers, input and output included.
    n_outputs_ : int
        Number of outputs.
    out_activation_ : str
        ``'identity'`` (squared error) or ``'exp'`` (Poisson).

    Notes
    -----
    With several outputs, the squared error is averaged over them, and the
    gradient is that of this average. scikit-learn's gradient is n_outputs
    times too large there (its issue #8349), which misleads L-BFGS; this one
    matches the reported loss.

    See Also
    --------
    MLPClassifier : The classification counterpart.
    sklearn.neural_network.MLPRegressor : The estimator this one replaces.
    ScratchMLPRegressor : The same estimator under skscratch's own name.

    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from skscratch import MLPRegressor
    >>> X, y = make_regression(n_samples=200, n_features=5, noise=1, random_state=0)
    >>> reg = MLPRegressor(solver="lbfgs", tol=0.1, random_state=0)
    >>> bool(reg.fit(X, y).score(X, y) > 0.99)
    True
    """

    _parameter_constraints: dict = {
        **_BaseScratchMLP._parameter_constraints,
        "loss": [StrOptions(set(REGRESSION_LOSSES))],
        "huber_delta": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        huber_delta=1.0,
        dropout=0.0,
        early_stopping_metric="score",
        callbacks=None,
        init="glorot",
    ):
        # scikit-learn's convention: __init__ only stores its arguments,
        # unchanged, under the same names; fit validates them.
        _store_init_arguments(self, locals())

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to ``X`` and ``y``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; float32 data trains a float32 network.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Target values (non-negative for ``loss='poisson'``).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; integer weights act like repeated rows.

        Returns
        -------
        self : MLPRegressor
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(lambda est: est.solver in _STOCHASTIC_SOLVERS)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Update the model with one epoch over the given data.

        Only available for the stochastic solvers (``'sgd'``, ``'adam'``).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : MLPRegressor
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict(self, X):
        """Predict target values.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        y = self._outputs_to_predictions(self._forward(X))
        return _namespaces.like_input(y, X)

    # -- hooks ----------------------------------------------------------------

    def _validate_input(
        self, X, y, incremental, reset, classes=None, defer_finite=False
    ):
        dtype = _fit_dtypes(X) if reset else _namespaces.host_dtype(self)
        X, y = self._check_data(
            X,
            y,
            defer_finite=defer_finite,
            accept_sparse="csr",
            multi_output=True,
            y_numeric=True,
            dtype=dtype,
            reset=reset,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and (y < 0).any():
            raise ValueError(
                "Some value(s) of y are negative, which is not allowed for "
                "loss='poisson': it models counts or rates, y >= 0."
            )
        Y = y.reshape(y.shape[0], -1).astype(X.dtype, copy=False)
        return X, Y

    def _loss(self):
        if self.loss == "huber":
            return HuberLoss(self.huber_delta)
        return get_loss(self.loss)

    def _output_activation(self):
        return "exp" if self.loss == "poisson" else "identity"

    def _outputs_to_predictions(self, outputs):
        return outputs.ravel() if outputs.shape[1] == 1 else outputs

    def _decode_targets(self, Y):
        return self._outputs_to_predictions(Y)

    def _score_function(self):
        return r2_score

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.positive_only = self.loss == "poisson"
        return tags


ScratchMLPRegressor = _renamed(MLPRegressor)
