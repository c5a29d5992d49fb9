"""MLPClassifier (also ScratchMLPClassifier): scikit-learn's MLPClassifier, drop-in."""

import numpy as np
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.metrics import accuracy_score
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d

from . import _namespaces, _targets
from ._base import (
    _STOCHASTIC_SOLVERS,
    _BaseScratchMLP,
    _fit_dtypes,
    _renamed,
    _store_init_arguments,
)
from .core import get_loss
from .core.losses import GroupedLogLoss, SquaredError

# loss='squared_error': one logistic output per class, fitted to the one-hot
# (or indicator) targets by squared error.
_LOGISTIC_SQUARED_ERROR = SquaredError("logistic")


class MLPClassifier(ClassifierMixin, _BaseScratchMLP):
    """Multi-layer perceptron classifier trained by backpropagation.

    Same parameters, defaults, attributes and behaviour as scikit-learn's
    :class:`~sklearn.neural_network.MLPClassifier`; the network underneath is
    :mod:`skscratch.core`. By default it minimises the log-loss: softmax
    cross-entropy for multiclass targets, logistic cross-entropy for binary
    and multilabel (indicator matrix) targets, and for multiclass-multioutput
    targets (a 2-D ``y``, each column an output with its own classes) one
    softmax per output, their cross-entropies summed (skscratch addition).
    With ``loss='squared_error'``
    it minimises the squared error of logistic outputs instead, the cost of
    many "from scratch" tutorials (see :doc:`/from_the_tutorials`).

    Parameters
    ----------
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        Number of units of each hidden layer.
    activation : {'identity', 'logistic', 'tanh', 'relu', 'leaky_relu', \
            'elu', 'gelu', 'softplus', 'silu', 'mish'}, CustomActivation \
            or tuple of shape (n_layers - 2,), default='relu'
        Activation function of the hidden layers. The last six names are
        skscratch additions: ``leaky_relu`` (slope 0.01 below zero), ``elu``
        (``exp(z) - 1`` below zero), ``gelu`` (``z * Phi(z)``, exact),
        ``softplus`` (``log(1 + exp(z))``), ``silu`` (``z * logistic(z)``)
        and ``mish`` (``z * tanh(softplus(z))``). Also skscratch additions:

        - a tuple (or list) with one entry per hidden layer, e.g.
          ``('relu', 'tanh')`` for ``hidden_layer_sizes=(64, 32)``;
        - an activation of your own, :class:`skscratch.CustomActivation`
          ``(function, derivative)`` with ``function(z)`` returning ``f(z)``
          and ``derivative(z, a)`` returning ``f'(z)`` element-wise (``a =
          f(z)``), alone or as an entry of the tuple. ``fit`` checks the
          derivative by finite differences and raises a ``ValueError`` when
          it is wrong. Define both functions at the top level of a module
          for the model to pickle; ONNX export refuses it.
    solver : {'lbfgs', 'sgd', 'adam', 'adamw', 'rmsprop'}, default='adam'
        - ``'lbfgs'``: full-batch quasi-Newton optimisation (scipy's
          L-BFGS-B); often best on small data sets.
        - ``'sgd'``: mini-batch stochastic gradient descent with momentum.
        - ``'adam'``: mini-batch Adam.
        - ``'adamw'``: Adam with decoupled weight decay: ``alpha`` shrinks the
          weights directly instead of entering the gradient that Adam
          rescales (skscratch addition).
        - ``'rmsprop'``: RMSprop with bias correction, decay ``beta_2``
          (skscratch addition).
    alpha : float, default=0.0001
        Strength of the L2 penalty, divided by the (weighted) number of
        samples when added to the loss.
    batch_size : int or 'auto', default='auto'
        Mini-batch size of the stochastic solvers; ``'auto'`` is
        ``min(200, n_samples)``. Ignored by ``'lbfgs'``.
    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        Learning rate schedule of ``'sgd'`` (and of ``'adamw'`` and
        ``'rmsprop'``; plain ``'adam'`` ignores it, as in scikit-learn):

        - ``'constant'``: ``learning_rate_init`` throughout;
        - ``'invscaling'``: ``learning_rate_init / pow(t, power_t)`` with
          ``t`` the number of samples seen;
        - ``'adaptive'``: divided by 5 each time ``n_iter_no_change``
          consecutive epochs fail to improve by ``tol``.
    learning_rate_init : float, default=0.001
        Initial step size of ``'sgd'`` and ``'adam'``.
    power_t : float, default=0.5
        Exponent of the ``'invscaling'`` schedule.
    max_iter : int, default=200
        Maximum number of epochs (stochastic solvers) or iterations
        (``'lbfgs'``).
    shuffle : bool, default=True
        Shuffle the samples before every epoch (stochastic solvers).
    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialisation, the shuffling and the validation
        split. ``None`` draws from a fresh, OS-seeded generator (never from
        NumPy's global one).
    tol : float, default=1e-4
        Tolerance of the stopping rule: training stops once the loss (or the
        validation score) fails to improve by at least ``tol`` for
        ``n_iter_no_change`` epochs; for ``'lbfgs'``, the gradient tolerance.
    verbose : bool, default=False
        Print the loss after every iteration, for every solver.
    warm_start : bool, default=False
        Start from the previous solution instead of a new random network.
    momentum : float, default=0.9
        Momentum of ``'sgd'``, between 0 and 1.
    nesterovs_momentum : bool, default=True
        Use Nesterov's momentum (``'sgd'`` with ``momentum > 0``).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (stratified
        whenever the classes allow it, multiclass included) and stop when the
        validation accuracy stops improving; the best weights are restored.
    validation_fraction : float, default=0.1
        Share of the training data held out for early stopping.
    beta_1 : float, default=0.9
        Decay of Adam's first moment estimate, in [0, 1).
    beta_2 : float, default=0.999
        Decay of Adam's second moment estimate, in [0, 1).
    epsilon : float, default=1e-8
        Adam's numerical stability constant.
    n_iter_no_change : int, default=10
        Number of epochs without improvement by ``tol`` before stopping.
    max_fun : int, default=15000
        Maximum number of loss evaluations of ``'lbfgs'``.
    loss : {'log_loss', 'squared_error'}, default='log_loss'
        What training minimises (skscratch addition for ``'squared_error'``):

        - ``'log_loss'``: the cross-entropy of softmax (multiclass) or
          logistic (binary, multilabel) outputs, scikit-learn's loss. Its
          gradient with respect to the output scores is ``p - y``.
        - ``'squared_error'``: ``1/2 * mean_k (a_k - y_k)^2``, scikit-learn's
          convention, of one logistic output per class (one for binary
          targets) against the one-hot or indicator targets. Its gradient
          goes through the logistic's derivative, ``(a - y) a (1 - a) / K``
          for ``K`` outputs (the tutorials' ``2 (a - y) sigma'(z)`` over
          ``2 K``), not ``p - y``, which holds only for the canonical pairs;
          it vanishes where an output saturates, so this loss learns more
          slowly. :meth:`predict_proba` normalises multiclass outputs.
          Not available for multiclass-multioutput targets.
    dropout : float or array-like of shape (n_layers - 2,), default=0.0
        Inverted dropout after the hidden layers: in training, each hidden
        unit is zeroed with this probability (one rate for all hidden layers,
        or one per layer) and the others scaled up to compensate; prediction
        uses the whole network. Reproducible with ``random_state``
        (skscratch addition).
    class_weight : dict, 'balanced' or None, default=None
        Weights of the classes, multiplied into ``sample_weight`` as
        scikit-learn's linear models do. ``'balanced'`` uses
        ``n_samples / (n_classes * np.bincount(y))``; not available in
        ``partial_fit`` nor for multilabel and multiclass-multioutput
        targets (skscratch addition).
    early_stopping_metric : {'score', 'loss'}, default='score'
        What ``early_stopping`` watches on the held-out data: the accuracy
        (scikit-learn's behaviour) or the loss (skscratch addition).
    callbacks : list of callable, default=None
        Called as ``callback(estimator, record)`` after every epoch (every
        iteration for ``'lbfgs'``), with a
        :class:`skscratch.callbacks.EpochRecord`; returning True stops
        training. See :mod:`skscratch.callbacks` (skscratch addition).
    init : {'glorot', 'he', 'lecun'}, default='glorot'
        How the initial weights and biases are drawn, all from ``U(-r, r)``
        (skscratch addition for ``'he'`` and ``'lecun'``):

        - ``'glorot'``: ``r = sqrt(6 / (fan_in + fan_out))`` (``2`` instead
          of ``6`` for ``'logistic'``), scikit-learn's. Suits tanh, logistic
          and identity, whose slope near 0 is what Glorot's scale assumes.
        - ``'he'``: ``r = sqrt(6 / fan_in)``, variance ``2 / fan_in``. Suits
          relu and its relatives (leaky_relu, elu, gelu, silu, mish): relu
          zeroes half its inputs, so twice the variance keeps the signal
          from fading layer after layer in deep networks.
        - ``'lecun'``: ``r = sqrt(3 / fan_in)``, variance ``1 / fan_in``.
          Suits tanh (LeCun's advice) and self-normalising activations (selu,
          as a :class:`skscratch.CustomActivation`), which need this
          variance: it keeps the forward variance of slope-1 activations.

        Every scheme makes the same random draws in the same order, so the
        shuffles that follow are the same whichever is chosen. A logistic
        network that Glorot's small start leaves predicting a constant
        (scikit-learn issue #31235) can learn from ``'lecun'`` or ``'he'``.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,) or list of ndarray
        Class labels; for a multiclass-multioutput target, a list with the
        classes of each output, as in scikit-learn's multi-output trees.
    loss_ : float
        Loss (with the penalty) at the end of training.
    best_loss_ : float or None
        Smallest loss reached; None with ``early_stopping``.
    loss_curve_ : list of float
        Loss after each epoch (after each iteration for ``'lbfgs'``).
    validation_scores_ : list of float or None
        Validation accuracy after each epoch with ``early_stopping``.
    best_validation_score_ : float or None
        Best validation accuracy with ``early_stopping``.
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
        Number of output units: for a multiclass-multioutput target, the
        total number of classes of all outputs (not the number of outputs,
        ``len(classes_)``).
    out_activation_ : str
        Output activation: ``'softmax'`` (multiclass with ``'log_loss'``),
        ``'grouped_softmax'`` (multiclass-multioutput: a softmax over each
        output's columns) or ``'logistic'`` (binary, multilabel, and every
        target with ``'squared_error'``).

    See Also
    --------
    MLPRegressor : The regression counterpart.
    sklearn.neural_network.MLPClassifier : The estimator this one replaces.
    ScratchMLPClassifier : The same estimator under skscratch's own name.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skscratch import MLPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifier(solver="lbfgs", random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:1]).shape
    (1, 3)
    >>> bool(clf.score(X, y) > 0.95)
    True
    """

    _parameter_constraints: dict = {
        **_BaseScratchMLP._parameter_constraints,
        "loss": [StrOptions({"log_loss", "squared_error"})],
        "class_weight": [StrOptions({"balanced"}), dict, None],
    }

    def __init__(
        self,
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
        loss="log_loss",
        dropout=0.0,
        class_weight=None,
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
            Class labels; a binary indicator matrix (multilabel); or one
            column of labels per output, each with at least 2 classes
            (multiclass-multioutput, as ``type_of_target`` names it).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; integer weights act like repeated rows.

        Returns
        -------
        self : MLPClassifier
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(lambda est: est.solver in _STOCHASTIC_SOLVERS)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Update the model with one epoch over the given data.

        Only available for the stochastic solvers (``'sgd'``, ``'adam'``).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None
        classes : array-like of shape (n_classes,) or list, default=None
            Every class that will ever appear. Required on the first call for
            class labels; for a multilabel indicator matrix it may be omitted
            (the labels are its columns). For a multiclass-multioutput
            ``y``, a list with one array-like of classes per output (column
            of ``y``).

        Returns
        -------
        self : MLPClassifier
        """
        _targets.check_partial_fit_classes(self, y, classes)
        return self._fit(
            X, y, sample_weight=sample_weight, incremental=True, classes=classes
        )

    def predict(self, X):
        """Predict class labels.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Predicted labels (an indicator matrix for multilabel models; one
            column per output for multiclass-multioutput ones, in the
            common dtype of the outputs' classes, object if they have none).
        """
        y = self._outputs_to_predictions(self._forward(X))
        return _namespaces.like_input(y, X)

    def predict_proba(self, X):
        """Probability estimates.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        With ``loss='squared_error'`` and more than two classes, each
        logistic output estimates its class's probability against the rest
        (the squared error is a proper scoring rule) but nothing makes them
        sum to 1: they are divided by their sum, row by row, which keeps
        their order. Numbers in (0, 1) summing to 1, not calibrated ones.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes) or list of ndarray
            Columns in the order of ``classes_``. For multilabel models, the
            probability of each label independently. For multiclass-
            multioutput models, a list with one array of shape
            (n_samples, n_classes_k) per output.
        """
        proba = self._probabilities(X, "predict_proba")
        if isinstance(proba, list):
            return [_namespaces.like_input(p, X) for p in proba]
        return _namespaces.like_input(proba, X)

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes) or list of ndarray
            A list, one array per output, for multiclass-multioutput models.
        """
        proba = self._probabilities(X, "predict_log_proba")
        groups = proba if isinstance(proba, list) else [proba]
        with np.errstate(divide="ignore"):
            logs = [_namespaces.like_input(np.log(p, out=p), X) for p in groups]
        return logs if isinstance(proba, list) else logs[0]

    def _probabilities(self, X, method):
        """:meth:`predict_proba`'s result as NumPy arrays, before it goes to
        ``X``'s namespace (so that its logarithm is taken on the host too);
        ``method`` names the caller in errors."""
        proba = self._forward(X, method=method)
        if _targets.is_multioutput(self):
            return [
                group.copy() for group in _targets.split_groups(proba, self.classes_)
            ]
        if self.out_activation_ == "logistic":
            # The logistic function rounds to exactly 0 or 1 far from the
            # decision boundary; keep each label's probability strictly inside
            # (0, 1) so that its log and its complement stay informative.
            eps = np.finfo(proba.dtype).eps
            np.clip(proba, eps, 1 - eps, out=proba)
            if self._one_logistic_per_class():
                proba /= proba.sum(axis=1, keepdims=True)
        if self.n_outputs_ == 1:
            p = proba[:, 0]
            proba = np.column_stack([1 - p, p])
        return proba

    def score(self, X, y, sample_weight=None):
        """Mean accuracy on the given data and labels.

        For multiclass-multioutput models (which scikit-learn's
        ``accuracy_score`` refuses) the subset accuracy: the share of
        samples whose every output is right, the score of
        :class:`sklearn.multioutput.MultiOutputClassifier` (weighted here
        by ``sample_weight``). Otherwise scikit-learn's ``score``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            True labels.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
        """
        if not _targets.is_multioutput(self):
            return super().score(X, y, sample_weight=sample_weight)
        y_pred = _namespaces.on_host(self.predict(X))
        y, sample_weight = _namespaces.on_host(y, sample_weight)
        return _targets.exact_match_accuracy(y, y_pred, sample_weight)

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
            dtype=dtype,
            reset=reset,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        counted = _targets.count_integer_labels(y)
        if counted is None:
            check_classification_targets(y)  # integer labels always pass it
            labels = None
        else:
            labels = counted[0]

        if incremental and not hasattr(self, "classes_"):
            _targets.set_classes(self, y, classes, from_partial_fit=True, labels=labels)
        elif not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            _targets.set_classes(self, y, None, labels=labels)
        else:
            _targets.check_classes_compatible(self, y, incremental, labels=labels)
        if not reset and self._output_activation() != self.out_activation_:
            raise ValueError(
                f"Cannot continue training with loss={self.loss!r}: the fitted "
                f"network has a {self.out_activation_} output layer, and this "
                f"loss needs a {self._output_activation()} one. Fit from "
                "scratch (warm_start=False), or keep the loss it was fitted with."
            )
        return X, _targets.encode(y, self.classes_, X.dtype, counted)

    def _loss(self):
        if self.out_activation_ == "grouped_softmax":
            return GroupedLogLoss([len(c) for c in self.classes_])
        if self.loss == "squared_error":
            return _LOGISTIC_SQUARED_ERROR
        return get_loss(
            "log_loss" if self.out_activation_ == "softmax" else "binary_log_loss"
        )

    def _adjust_sample_weight(self, sample_weight, Y, incremental):
        return _targets.class_weighted(self, sample_weight, Y, incremental)

    def _output_activation(self):
        if _targets.is_multioutput(self):
            if self.loss != "log_loss":
                raise ValueError(
                    f"loss={self.loss!r} does not support multiclass-multioutput "
                    "targets; use loss='log_loss' (one softmax per output)."
                )
            return "grouped_softmax"
        if self._label_binarizer.y_type_ == "multiclass" and self.loss == "log_loss":
            return "softmax"
        return "logistic"

    def _one_logistic_per_class(self):
        """Whether the fitted network has one logistic output per class of a
        multiclass target (``loss='squared_error'``)."""
        return (
            self.out_activation_ == "logistic"
            and self._label_binarizer.y_type_ == "multiclass"
        )

    def _outputs_to_predictions(self, outputs):
        """Labels from the network's outputs (or from encoded targets)."""
        return _targets.labels_from_outputs(self, outputs)

    def _decode_targets(self, Y):
        return self._outputs_to_predictions(Y)

    def _output_function(self):
        if self.out_activation_ == "grouped_softmax":
            return self._loss().activation  # the groups' sizes define it
        return self.out_activation_

    def _score_function(self):
        if _targets.is_multioutput(self):
            return _targets.exact_match_accuracy
        return accuracy_score

    def _stratification_groups(self, Y):
        if Y.shape[1] == 1:
            return Y[:, 0]
        if self._label_binarizer.y_type_ == "multiclass":
            return Y.argmax(axis=1)
        # Multilabel and multiclass-multioutput: each distinct combination of
        # labels is a group.
        return np.unique(Y, axis=0, return_inverse=True)[1].ravel()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        # A 2-D y of several outputs (multilabel, multiclass-multioutput).
        tags.target_tags.multi_output = True
        return tags


ScratchMLPClassifier = _renamed(MLPClassifier)
