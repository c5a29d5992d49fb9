"""MLPClassifier (also ScratchMLPClassifier): scikit-learn's MLPClassifier, drop-in."""

import numpy as np
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.metrics import accuracy_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import column_or_1d

from ._base import (
    _STOCHASTIC_SOLVERS,
    _BaseScratchMLP,
    _fit_dtypes,
    _renamed,
    _store_init_arguments,
)
from .core import get_loss


class MLPClassifier(ClassifierMixin, _BaseScratchMLP):
    """Multi-layer perceptron classifier trained by backpropagation.

    Same parameters, defaults, attributes and behaviour as scikit-learn's
    :class:`~sklearn.neural_network.MLPClassifier`; the network underneath is
    :mod:`skscratch.core`. It minimises the log-loss: softmax cross-entropy
    for multiclass targets, logistic cross-entropy for binary and multilabel
    (indicator matrix) targets.

    Parameters
    ----------
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        Number of units of each hidden layer.
    activation : {'identity', 'logistic', 'tanh', 'relu', 'leaky_relu', \
            'elu', 'gelu', 'softplus', 'silu'}, default='relu'
        Activation function of the hidden layers. The last five are
        skscratch additions: ``leaky_relu`` (slope 0.01 below zero), ``elu``
        (``exp(z) - 1`` below zero), ``gelu`` (``z * Phi(z)``, exact),
        ``softplus`` (``log(1 + exp(z))``) and ``silu`` (``z * logistic(z)``).
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
        ``partial_fit`` nor for multilabel targets (skscratch addition).
    early_stopping_metric : {'score', 'loss'}, default='score'
        What ``early_stopping`` watches on the held-out data: the accuracy
        (scikit-learn's behaviour) or the loss (skscratch addition).
    callbacks : list of callable, default=None
        Called as ``callback(estimator, record)`` after every epoch (every
        iteration for ``'lbfgs'``), with a
        :class:`skscratch.callbacks.EpochRecord`; returning True stops
        training. See :mod:`skscratch.callbacks` (skscratch addition).

    Attributes
    ----------
    classes_ : ndarray or list of ndarray of shape (n_classes,)
        Class labels.
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
        Number of output units.
    out_activation_ : str
        Output activation: ``'softmax'`` (multiclass) or ``'logistic'``
        (binary, multilabel).

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
        dropout=0.0,
        class_weight=None,
        early_stopping_metric="score",
        callbacks=None,
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
        y : array-like of shape (n_samples,) or (n_samples, n_classes)
            Class labels, or a binary indicator matrix (multilabel).
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
        y : array-like of shape (n_samples,) or (n_samples, n_classes)
        sample_weight : array-like of shape (n_samples,), default=None
        classes : array-like of shape (n_classes,), default=None
            Every class that will ever appear. Required on the first call for
            class labels; for a multilabel indicator matrix it may be omitted
            (the labels are its columns).

        Returns
        -------
        self : MLPClassifier
        """
        self._check_partial_fit_classes(y, classes)
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
        y : ndarray of shape (n_samples,) or (n_samples, n_classes)
            Predicted labels (an indicator matrix for multilabel models).
        """
        return self._outputs_to_predictions(self._forward(X))

    def predict_proba(self, X):
        """Probability estimates.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``. For multilabel models, the
            probability of each label independently.
        """
        proba = self._forward(X)
        if self.out_activation_ == "logistic":
            # The logistic function rounds to exactly 0 or 1 far from the
            # decision boundary; keep each label's probability strictly inside
            # (0, 1) so that its log and its complement stay informative.
            eps = np.finfo(proba.dtype).eps
            np.clip(proba, eps, 1 - eps, out=proba)
        if self.n_outputs_ == 1:
            p = proba[:, 0]
            return np.column_stack([1 - p, p])
        return proba

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        proba = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            return np.log(proba, out=proba)

    # -- hooks ----------------------------------------------------------------

    def _validate_input(
        self, X, y, incremental, reset, classes=None, defer_finite=False
    ):
        dtype = _fit_dtypes(X) if reset else self.coefs_[0].dtype
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
        counted = _count_integer_labels(y)
        if counted is None:
            check_classification_targets(y)  # integer labels always pass it
            labels = None
        else:
            labels = counted[0]

        if incremental and not hasattr(self, "classes_"):
            self._set_classes(y, classes, from_partial_fit=True, labels=labels)
        elif not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._set_classes(y, None, labels=labels)
        else:
            self._check_classes_compatible(y, incremental, labels=labels)
        return X, self._encode(y, X.dtype, counted)

    def _encode(self, y, dtype, counted=None):
        """Targets as the loss wants them: one column per class (multiclass),
        one 0/1 column (binary), the indicator matrix (multilabel).

        Built directly in the network's dtype: LabelBinarizer.transform would
        first make an int64 matrix, 8 bytes per sample and class. ``counted``
        is :func:`_count_integer_labels`'s result for ``y``, if it has one.
        """
        if y.ndim == 2:  # multilabel indicator
            return np.asarray(y, dtype=dtype)
        classes = self.classes_
        if len(classes) <= 2:
            positive = classes[-1] if len(classes) == 2 else None
            return (y == positive).astype(dtype).reshape(-1, 1)
        if counted is None:
            index = np.searchsorted(classes, y)
        else:
            labels, inverse = counted
            index = np.searchsorted(classes, labels)[inverse]
        Y = np.zeros((y.shape[0], len(classes)), dtype=dtype)
        Y[np.arange(y.shape[0]), index] = 1
        return Y

    def _set_classes(self, y, classes, from_partial_fit=False, labels=None):
        """Fit the label binarizer and set ``classes_``; ``labels``: the
        sorted distinct labels of a 1-D integer ``y``, if already known
        (:func:`_count_integer_labels`)."""
        if labels is not None and not from_partial_fit:
            # The counted labels say what fit would find (no second pass).
            binarizer = _binarizer_for_labels(labels)
        elif y.ndim == 2:  # multilabel indicator
            binarizer = LabelBinarizer().fit(y)
            if classes is not None and not np.array_equal(
                np.asarray(classes), binarizer.classes_
            ):
                raise ValueError(
                    f"For a multilabel indicator y, `classes` must be "
                    f"{binarizer.classes_.tolist()} (the column indices), got "
                    f"{np.asarray(classes).tolist()}."
                )
        elif from_partial_fit:  # classes checked by _check_partial_fit_classes
            binarizer = LabelBinarizer().fit(classes)
            self._check_known_labels(y, binarizer.classes_, labels)
        else:
            binarizer = LabelBinarizer().fit(y)
        self._label_binarizer = binarizer
        self.classes_ = binarizer.classes_

    def _check_partial_fit_classes(self, y, classes):
        """``partial_fit``'s checks of ``classes``, made before the data are
        validated, where scikit-learn makes them: a call with both wrong
        gets the same error.

        The first call needs ``classes``, except with a multilabel indicator
        ``y`` (a skscratch addition: its labels are its columns); a later
        call may repeat them, but not change them.
        """
        if not hasattr(self, "classes_"):
            if classes is None and not (np.ndim(y) == 2 and np.shape(y)[1] > 1):
                raise ValueError(
                    "classes must be passed on the first call to partial_fit."
                )
        elif classes is not None and not np.array_equal(
            unique_labels(classes), self.classes_
        ):
            raise ValueError(
                f"`classes={np.asarray(classes)!r}` is not the same as on the "
                f"last call to partial_fit, was: {self.classes_!r}"
            )

    def _check_classes_compatible(self, y, incremental, labels=None):
        if labels is None:
            labels = unique_labels(y)
        if self.warm_start and not incremental:
            if set(labels) != set(self.classes_):
                raise ValueError(
                    "warm_start can only be used where `y` has the same classes as "
                    f"in the previous call to fit. Previously got {self.classes_}, "
                    f"`y` has {labels}"
                )
        else:
            self._check_known_labels(y, self.classes_, labels)

    @staticmethod
    def _check_known_labels(y, classes, labels=None):
        if labels is None:
            labels = unique_labels(y)
        if len(np.setdiff1d(labels, classes, assume_unique=True)):
            raise ValueError(
                f"`y` has classes not in `self.classes_`. `self.classes_` has "
                f"{classes}. 'y' has {labels}."
            )

    def _loss(self):
        return get_loss(
            "log_loss" if self.out_activation_ == "softmax" else "binary_log_loss"
        )

    def _adjust_sample_weight(self, sample_weight, Y, incremental):
        if self.class_weight is None:
            return sample_weight
        if self._label_binarizer.y_type_.startswith("multilabel"):
            raise ValueError(
                "class_weight is not supported for multilabel targets; pass "
                "sample_weight instead."
            )
        if incremental and self.class_weight == "balanced":
            raise ValueError(
                "class_weight='balanced' is not supported by partial_fit: one "
                "chunk does not tell the class frequencies of the whole data. "
                "Compute them once with sklearn.utils.class_weight."
                "compute_class_weight('balanced', classes=classes, y=y) on the "
                "full target (or a large sample of it) and pass the result as a "
                "dict."
            )
        index = Y[:, 0].astype(np.intp) if Y.shape[1] == 1 else Y.argmax(axis=1)
        per_class = compute_class_weight(
            self.class_weight, classes=self.classes_, y=self.classes_[index]
        )
        weights = per_class[index].astype(Y.dtype)
        if sample_weight is not None:
            weights *= sample_weight
        if not weights.any():
            raise ValueError(
                "The class weights give every sample a weight of zero: at least "
                "one sample needs a positive weight to fit on."
            )
        return weights

    def _output_activation(self):
        if self._label_binarizer.y_type_ == "multiclass":
            return "softmax"
        return "logistic"

    def _outputs_to_predictions(self, outputs):
        """Labels from the network's outputs (or from encoded targets), as
        the label binarizer's ``inverse_transform`` gives them.

        Its rules, applied directly: the class of the largest output
        (multiclass; the first on ties), or an output above 0.5 (binary, each
        label of a multilabel model). Its checks cost a third of a one-row
        ``predict``.
        """
        binarizer, classes = self._label_binarizer, self.classes_
        y_type = getattr(binarizer, "y_type_", None)
        if getattr(binarizer, "sparse_input_", True):  # it returns sparse labels
            y_type = None
        if y_type == "multiclass" and outputs.shape[1] == len(classes) > 2:
            return classes.take(outputs.argmax(axis=1))
        if y_type == "binary" and outputs.shape[1] == 1 and len(classes) == 2:
            return classes.take((outputs[:, 0] > 0.5).astype(np.intp))
        if y_type == "multilabel-indicator":
            return (outputs > 0.5).astype(np.intp)
        return binarizer.inverse_transform(
            outputs.ravel() if self.n_outputs_ == 1 else outputs
        )

    def _decode_targets(self, Y):
        return self._outputs_to_predictions(Y)

    def _score_function(self):
        return accuracy_score

    def _stratification_groups(self, Y):
        if Y.shape[1] == 1:
            return Y[:, 0]
        if self.out_activation_ == "softmax":
            return Y.argmax(axis=1)
        # Multilabel: each distinct combination of labels is a group.
        return np.unique(Y, axis=0, return_inverse=True)[1].ravel()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


def _binarizer_for_labels(labels):
    """A :class:`~sklearn.preprocessing.LabelBinarizer` in the state its
    ``fit`` leaves on a 1-D integer target whose distinct labels are
    ``labels``.

    For such a target the outcome of ``fit`` is known in advance: those
    classes, and the type ``'binary'`` (up to two labels) or
    ``'multiclass'``. ``fit`` would find it by checking and classifying the
    target again, a noticeable part of a short fit's set-up.

    Parameters
    ----------
    labels : ndarray of shape (n_labels,)
        Sorted, distinct, of the target's integer dtype
        (:func:`_count_integer_labels`).

    Returns
    -------
    binarizer : LabelBinarizer
    """
    binarizer = LabelBinarizer()
    binarizer.y_type_ = "binary" if len(labels) <= 2 else "multiclass"
    binarizer.sparse_input_ = False
    binarizer.classes_ = labels
    return binarizer


def _count_integer_labels(y):
    """The distinct labels of a 1-D integer ``y`` and where each sample's is
    among them, found by counting; None for any other ``y``.

    scikit-learn's checks find a target's labels by hashing it, once per
    check: four times in a fit. Integer labels in a range no wider than
    ``y`` is long (class numbers, as a rule) are counted in one pass
    instead, several times faster. Such a ``y`` is always a binary or
    multiclass target,
    so scikit-learn's check of the target type has nothing to reject.

    Parameters
    ----------
    y : ndarray

    Returns
    -------
    labels : ndarray of shape (n_labels,)
        Sorted, of ``y``'s dtype.
    inverse : ndarray of int of shape (n_samples,)
        ``labels[inverse]`` is ``y``.
    """
    if y.ndim != 1 or y.dtype.kind not in "iu" or y.size == 0:
        return None
    low, high = int(y.min()), int(y.max())
    if high - low > max(y.size, 1024) or high > np.iinfo(np.intp).max:
        return None
    offset = y.astype(np.intp)
    offset -= low
    present = np.flatnonzero(np.bincount(offset))
    position = np.zeros(high - low + 1, np.intp)
    position[present] = np.arange(present.size)
    return (present + low).astype(y.dtype), position[offset]


ScratchMLPClassifier = _renamed(MLPClassifier)
