"""What the two estimators share: parameters, validation, the training loops.

The estimators are thin. They validate input, encode targets, build a
:class:`~skscratch.core.network.Network`, and run an epoch loop around the
core's ``loss_and_gradient`` and optimizer ``step``. The arithmetic is in
:mod:`skscratch.core`.

The loop follows scikit-learn's MLP step by step (same random draws in the
same order, same stopping rules, same messages) so that swapping the import
changes nothing but speed.
"""

import functools
import warnings
from abc import ABC, abstractmethod
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.utils import assert_all_finite, check_array, check_random_state
from sklearn.utils._param_validation import (
    Interval,
    Options,
    StrOptions,
    make_constraint,
)
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _engines, _namespaces
from ._lbfgs import _fit_lbfgs
from ._solvers import (
    _STOCHASTIC_SOLVERS,
    SOLVERS,
    _diverged_message,
    _warn_if_loss_exploded,
)
from ._state import _restore, _snapshot
from ._stochastic import (
    _batch_size,
    _run_epochs,
    _shuffled,  # noqa: F401 (tests import it from here)
)
from ._validation import _split_validation, _start_validation_record
from .callbacks import Timer, _SklearnCallbackSupport, end_callbacks
from .core import compiled
from .core.activations import (
    ACTIVATIONS,
    Activation,
    check_derivative,
    hidden_activations,
)
from .core.initializers import INITIALIZERS

# The values the estimators accept; scikit-learn's MLP knows the first four
# activations, the first three solvers and the first two regression losses.
HIDDEN_ACTIVATIONS = (
    "identity",
    "logistic",
    "tanh",
    "relu",
    "leaky_relu",
    "elu",
    "gelu",
    "softplus",
    "silu",
    "mish",
)
REGRESSION_LOSSES = ("squared_error", "poisson", "absolute_error", "huber")


class _BaseScratchMLP(_SklearnCallbackSupport, BaseEstimator, ABC):
    """Base class of :class:`MLPClassifier` and
    :class:`MLPRegressor`; not for direct use."""

    _parameter_constraints: dict = {
        "hidden_layer_sizes": [
            "array-like",
            Interval(Integral, 1, None, closed="left"),
        ],
        # A name, an activation object, or one of them per hidden layer.
        "activation": [StrOptions(set(HIDDEN_ACTIVATIONS)), Activation, list, tuple],
        "solver": [StrOptions(set(SOLVERS))],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
        ],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [
            Interval(Integral, 1, None, closed="left"),
            Options(Real, {np.inf}),
        ],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left"), "array-like"],
        "early_stopping_metric": [StrOptions({"score", "loss"})],
        "callbacks": [list, tuple, None],
        "init": [StrOptions(set(INITIALIZERS))],
    }

    # -- hooks of the two estimators ---------------------------------------

    @abstractmethod
    def _validate_input(
        self, X, y, incremental, reset, classes=None, defer_finite=False
    ):
        """Validate ``X`` and encode ``y``.

        Returns ``X`` (float32 or float64, dense or CSR) and ``Y``, a 2-D
        float array of the same dtype, as the loss expects it. With
        ``defer_finite``, see :meth:`_check_data`.
        """

    @abstractmethod
    def _loss(self):
        """The core :class:`~skscratch.core.losses.Loss` to train with."""

    @abstractmethod
    def _decode_targets(self, Y):
        """Turn encoded targets back into what ``score`` compares with."""

    @abstractmethod
    def _score_function(self):
        """``metric(y_true, y_pred, sample_weight=None)`` for early stopping."""

    def _adjust_sample_weight(self, sample_weight, Y, incremental):
        """Fold other per-sample weights (class weights) into sample_weight."""
        return sample_weight

    def _check_data(
        self, X, y="no_validation", defer_finite=False, check_finite=True, **kwargs
    ):
        """``validate_data``, with its NaN/infinity check on ``X`` made by
        :func:`_assert_finite`.

        With ``defer_finite``, an ``X`` whose rows the first epoch can check
        as it takes them (:func:`~skscratch.core.rows.checks_while_taking`)
        is left unchecked here; with ``check_finite=False``, any ``X`` is.
        The caller then owes that check.
        """
        # Every fit, partial_fit and prediction starts here: the moment to
        # read SKSCRATCH_COMPILED, which the kernel lookups of the training
        # loop then take as read.
        compiled.read_environment()
        out = validate_data(self, X, y, ensure_all_finite=False, **kwargs)
        no_y = isinstance(y, str) and y == "no_validation"
        X = out if no_y else out[0]
        if not no_y:  # before the fit's first kernel lookups, below
            hidden = _check_hidden_layer_sizes(self.hidden_layer_sizes)
            _engines.prepare_backend(X, out[1], hidden, self.max_iter)
        if check_finite and not (defer_finite and _engines.checks_while_taking(X)):
            _assert_finite(X, self)
        return out

    # -- fitting -----------------------------------------------------------

    def _fit(self, X, y, sample_weight=None, incremental=False, classes=None):
        """Fit, or continue fitting; on any error the estimator is left as
        it was before the call."""
        hidden_layer_sizes = _check_hidden_layer_sizes(self.hidden_layer_sizes)
        first_pass = not hasattr(self, "coefs_") or (
            not self.warm_start and not incremental
        )
        saved = _snapshot(self)
        space, X, y, sample_weight = _namespaces.inputs_on_host(
            self, X, y, sample_weight, first_pass
        )
        # Stochastic solvers read every row of X in their first epoch: they
        # check X for NaN and infinities then, as they take each batch
        # (skscratch.core.rows), instead of in a pass of its own. Not with a
        # validation split, whose rows the training loop never takes.
        defer_finite = (
            space is None
            and self.solver in _STOCHASTIC_SOLVERS
            and not self.early_stopping
        )
        unchecked = False  # whether X's finiteness is still to be checked
        try:
            try:
                X, Y = self._validate_input(
                    X,
                    y,
                    incremental,
                    reset=first_pass,
                    classes=classes,
                    defer_finite=defer_finite,
                )
            except ValueError:
                if y is not None:
                    _raise_if_not_finite(X, self)
                raise
            unchecked = defer_finite and _engines.checks_while_taking(X)
            sample_weight = _check_sample_weight(sample_weight, X)
            sample_weight = self._adjust_sample_weight(sample_weight, Y, incremental)
            layer_units = [X.shape[1], *hidden_layer_sizes, Y.shape[1]]
            _check_activation(self.activation, len(hidden_layer_sizes))
            self._dropout = _dropout_rates(self.dropout, len(hidden_layer_sizes))
            if any(self._dropout) and self.solver not in _STOCHASTIC_SOLVERS:
                raise ValueError(
                    "dropout needs a stochastic solver ('sgd', 'adam', 'adamw' or "
                    "'rmsprop'): L-BFGS compares the objective between evaluations, "
                    "and fresh dropout masks would change it every time."
                )
            self._random_state = _check_random_state(self.random_state)
            # Parameters take X's namespace, device and dtype ("like").
            like = None if space is None else _namespaces.to_device(X[:0], space)
            if first_pass:
                self._initialize(Y, layer_units, X.dtype, like=like)
            else:
                self._check_continuation(layer_units)
            network = self._network_for_training()
            if space is not None:
                X = _namespaces.to_device(X, space)  # trains on X's device
            if network.dropout_layers:
                # Drawn only when there is dropout, so that without it the
                # random draws stay scikit-learn's.
                network.seed_dropout(self._random_state.randint(np.iinfo(np.int32).max))
            timer = Timer()
            try:
                if self.solver in _STOCHASTIC_SOLVERS:
                    self._fit_stochastic(
                        network, X, Y, sample_weight, incremental, timer, unchecked
                    )
                else:
                    _fit_lbfgs(self, network, X, Y, sample_weight, timer)
            finally:
                end_callbacks(self.callbacks, self)
            if not _engines.all_finite(network):
                raise ValueError(_diverged_message(self))
        except BaseException:
            _restore(self, saved)
            if unchecked:
                # Whatever stopped the fit (bad rows found by the first epoch,
                # or an error before it saw them all), an X holding NaN or
                # infinity gets scikit-learn's error, as when validation
                # checks it first.
                _raise_if_not_finite(X, self)
            raise
        return self

    def _initialize(self, Y, layer_units, dtype, like=None):
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = Y.shape[1]
        self.n_layers_ = len(layer_units)
        self.out_activation_ = self._output_activation()
        self._hidden_activation = _activation_spec(self.activation)
        network = _engines.build_network(
            layer_units,
            self._hidden_activation,
            dtype=dtype,
            dropout=self._dropout,
            init=self.init,
            rng=self._random_state,
            loss=self._loss(),
            like=like,
        )
        self._bind(network)
        self.__dict__.pop("_optimizer", None)
        self.__dict__.pop("_best_params", None)
        self.loss_curve_ = []
        self._no_improvement_count = 0
        if self.early_stopping and self.solver in _STOCHASTIC_SOLVERS:
            self.best_loss_ = None
            _start_validation_record(self)
        else:
            self.best_loss_ = np.inf
            self.validation_scores_ = None
            self.best_validation_score_ = None
            self.validation_loss_curve_ = None
            self.best_validation_loss_ = None

    def _check_continuation(self, layer_units):
        fitted_units = [self.coefs_[0].shape[0]] + [c.shape[1] for c in self.coefs_]
        if fitted_units != layer_units:
            raise ValueError(
                f"Cannot continue training: the fitted network has layer sizes "
                f"{fitted_units} but this call needs {layer_units} (input, "
                "hidden_layer_sizes, outputs). Fit from scratch with "
                "warm_start=False, or keep hidden_layer_sizes and the data's "
                "shape as they were."
            )
        self._hidden_activation = _activation_spec(self.activation)

    def _fit_stochastic(
        self, network, X, Y, sample_weight, incremental, timer, check_rows=False
    ):
        params = network.params
        if not incremental or not hasattr(self, "_optimizer"):
            self._optimizer = _engines.make_optimizer(self, network)
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        validation = None
        if self.early_stopping:
            if self.validation_scores_ is None:
                # Early stopping switched on for a warm start: start its record.
                _start_validation_record(self)
            if not hasattr(self, "_best_params"):
                self._best_params = _engines.copy_params(network)
            X, Y, sample_weight, X_val, Y_val, sw_val = _split_validation(
                self, X, Y, sample_weight
            )
            validation = (X_val, Y_val, self._decode_targets(Y_val), sw_val)

        batch_size = _batch_size(self, X.shape[0])
        trainer = _engines.make_trainer(network, X, batch_size, check_rows)
        with trainer:
            try:
                _run_epochs(
                    self,
                    trainer,
                    X,
                    Y,
                    sample_weight,
                    batch_size,
                    validation,
                    incremental,
                    timer,
                )
            except KeyboardInterrupt:
                warnings.warn("Training interrupted by user.")
                if trainer.check_rows:  # stopped before it saw every row
                    _assert_finite(X, self)

        if self.early_stopping:
            params[...] = self._best_params
        this_fit = self.loss_curve_[len(self.loss_curve_) - self.n_iter_ :]
        _warn_if_loss_exploded(this_fit, self)

    def _stratification_groups(self, Y):
        """Labels to stratify the validation split on, or None."""
        return None

    # -- the network behind coefs_ / intercepts_ ------------------------------

    def _bind(self, network):
        """Make ``coefs_``/``intercepts_`` the views into ``network``."""
        self._network = network
        self.coefs_ = network.coefs
        self.intercepts_ = network.intercepts

    def _network_for_training(self):
        """The network holding ``coefs_``; rebuilt if the user replaced them
        or the hidden activation changed."""
        network = self.__dict__.get("_network")
        dropout = getattr(self, "_dropout", None)
        if (
            network is None
            or network.hidden_activation != self._hidden_activation
            or (dropout is not None and network.dropout != dropout)
            or not network.is_bound_to(self.coefs_, self.intercepts_)
        ):
            network = _engines.network_from(
                self.coefs_,
                self.intercepts_,
                self._hidden_activation,
                dropout,
                self._loss(),
            )
            self._bind(network)
        return network

    def _forward(self, X, check_input=True, method="predict"):
        """Network output (output activation applied) for ``X``, as a
        NumPy array whatever the namespace ``X`` is computed in; ``method``
        names the caller in errors."""
        check_is_fitted(self)
        _namespaces.check_same_namespace(self, X, method)
        network = self._network_for_training()
        if isinstance(network, _namespaces.NamespaceNetwork):
            X = _namespaces.on_host(X)  # checked on the host, as in fit
            if check_input:
                dtype = _namespaces.host_dtype(self)
                X = self._check_data(X, accept_sparse=False, dtype=dtype, reset=False)
            return _engines.predict(network, network.net.asarray(X), None)
        dtype = self.coefs_[0].dtype
        if check_input:
            X = self._check_data(
                X, accept_sparse="csr", dtype=dtype, reset=False, check_finite=False
            )
        elif X.dtype != dtype:
            X = X.astype(dtype)
        split = _engines.prediction_checks_values(network, X)
        if check_input and not split:
            _assert_finite(X, self)
        try:
            return _engines.predict(network, X, self._output_function(), split=split)
        except _engines.NonFiniteRowsError:
            _raise_if_not_finite(X, self)
            raise

    def _output_function(self):
        """The output activation predictions go through: ``out_activation_``,
        or an activation object where the name alone does not define it."""
        return self.out_activation_

    def __getstate__(self):
        state = super().__getstate__()
        if state is self.__dict__:
            state = state.copy()
        state.pop("_network", None)
        return _namespaces.state_to_host(state)

    def __setstate__(self, state):
        super().__setstate__(_namespaces.state_from_host(state))
        if "coefs_" in self.__dict__ and "_hidden_activation" in self.__dict__:
            self._network_for_training()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        # Non-NumPy arrays train on the reference engine (skscratch.nn).
        tags.array_api_support = _namespaces.supported()
        return tags

    def __sklearn_is_fitted__(self):
        # What check_is_fitted asks. Without this method it lists every
        # attribute ending in "_", a few times slower.
        return "coefs_" in self.__dict__

    def _validate_params(self):
        # What fit and partial_fit call first (scikit-learn's _fit_context).
        # scikit-learn's version rebuilds every constraint object and reads
        # the parameters through get_params at each call, about 1% of a short
        # fit; the constraints are built once per class here instead. A
        # parameter that fails them goes to scikit-learn's version, for its
        # error and message.
        for name, constraints in _constraints_of(type(self)):
            value = getattr(self, name)
            if not any(c.is_satisfied_by(value) for c in constraints):
                super()._validate_params()  # raises InvalidParameterError


@functools.cache
def _constraints_of(cls):
    """``(name, constraint objects)`` for each constructor parameter of
    ``cls`` that its ``_parameter_constraints`` constrains, as scikit-learn's
    ``validate_parameter_constraints`` builds them."""
    names = cls._get_param_names()
    return tuple(
        (name, tuple(make_constraint(c) for c in constraints))
        for name, constraints in cls._parameter_constraints.items()
        if name in names and not _no_validation(constraints)
    )


def _no_validation(constraints):
    return isinstance(constraints, str) and constraints == "no_validation"


def _assert_finite(X, estimator):
    """Raise scikit-learn's error if the validated ``X`` holds NaN or an
    infinity.

    The compiled pass (:func:`~skscratch.core.compiled.all_finite_loop`)
    proves a dense array or a CSR matrix's values finite in about 60% of the
    time scikit-learn's check takes. When it finds a non-finite value, or
    cannot run, scikit-learn's own check runs, so the error and its message
    are the ones ``validate_data`` gives.
    """
    values = X.data if sp.issparse(X) else X
    check = compiled.kernel_for("all_finite", values)
    if check is not None and check(values.reshape(-1)):
        return
    assert_all_finite(
        X, allow_nan=False, estimator_name=type(estimator).__name__, input_name="X"
    )


def _raise_if_not_finite(X, estimator):
    """Raise scikit-learn's NaN/infinity error, with no other error chained
    to it, if ``X`` (as given to ``fit``, or validated) holds such a value;
    return quietly otherwise, or if ``X`` is not even numeric (its own error
    is then the one to report).

    For the error paths of a fit whose check of ``X``'s values has not run.
    scikit-learn checks them before anything about ``y`` (its values, its
    length, its classes) or the number of features, while
    :meth:`_BaseScratchMLP._check_data` checks them after ``validate_data``
    has looked at ``y``, or leaves them to the first epoch: when a later
    check fails, or the first epoch stops before it has taken every row,
    this gives scikit-learn's error as validation would have.
    """
    try:
        X = check_array(
            X,
            accept_sparse="csr",
            dtype=(np.float64, np.float32),
            ensure_all_finite=False,
        )
    except (TypeError, ValueError):
        return
    try:
        _assert_finite(X, estimator)
    except ValueError as error:
        raise error from None


def _fit_dtypes(X):
    """The float dtypes ``fit`` accepts, in order of preference.

    float32 and float64 input keep their precision (any other input becomes
    float64). scikit-learn's validation sees that for arrays and pandas
    DataFrames, but turns a float32 polars DataFrame (or another dataframe
    whose ``dtypes`` it does not read) into float64: look at its columns here.
    """
    dtypes = getattr(X, "dtypes", None)
    if isinstance(dtypes, list) and dtypes and all(str(d) == "Float32" for d in dtypes):
        return (np.float32, np.float64)
    return (np.float64, np.float32)


def _store_init_arguments(estimator, arguments):
    """Set every constructor argument (``locals()`` of ``__init__``) as an
    attribute of the same name."""
    for name, value in arguments.items():
        if name not in ("self", "__class__"):
            setattr(estimator, name, value)


def _check_hidden_layer_sizes(hidden_layer_sizes):
    sizes = hidden_layer_sizes
    if not hasattr(sizes, "__iter__"):
        sizes = [sizes]
    sizes = list(sizes)
    for size in sizes:
        if not isinstance(size, Integral | np.integer) or isinstance(size, bool):
            raise ValueError(
                f"hidden_layer_sizes must contain integers, got {hidden_layer_sizes!r}."
            )
    if any(size <= 0 for size in sizes):
        raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}.")
    return [int(size) for size in sizes]


def _activation_spec(activation):
    """The ``activation`` parameter as the network records it: a name or an
    activation object as is, a list or tuple as a tuple."""
    return tuple(activation) if isinstance(activation, list | tuple) else activation


def _check_activation(activation, n_hidden):
    """Check the ``activation`` parameter against the hidden layers, and the
    derivative of every activation that is not a built-in one by finite
    differences; raise ``ValueError`` otherwise."""
    for entry in {id(a): a for a in hidden_activations(activation, n_hidden)}.values():
        if entry is not ACTIVATIONS.get(entry.name):
            check_derivative(entry)


def _dropout_rates(dropout, n_hidden):
    """One dropout rate per hidden layer, from a number or a sequence."""
    if isinstance(dropout, Real):
        return (float(dropout),) * n_hidden
    rates = tuple(np.asarray(dropout, dtype=float).ravel())
    if len(rates) != n_hidden:
        raise ValueError(
            f"dropout must be a number or one rate per hidden layer: got "
            f"{len(rates)} rates for {n_hidden} hidden layers."
        )
    if not all(0 <= r < 1 for r in rates):
        raise ValueError(f"Every dropout rate must be in [0, 1), got {list(rates)}.")
    return rates


def _check_random_state(random_state):
    # scikit-learn maps None to NumPy's global generator; we never touch it and
    # draw from a fresh, OS-seeded one instead.
    if random_state is None:
        return np.random.RandomState()
    return check_random_state(random_state)


def _check_sample_weight(sample_weight, X):
    """Validate sample weights: 1-D, one per row, finite, non-negative, not
    all zero. Returned in X's dtype."""
    if sample_weight is None:
        return None
    n_samples = X.shape[0]
    if isinstance(sample_weight, Real):
        sample_weight = np.full(n_samples, sample_weight, dtype=X.dtype)
    sample_weight = check_array(
        sample_weight,
        ensure_2d=False,
        dtype=X.dtype,
        input_name="sample_weight",
    )
    if sample_weight.ndim != 1:
        raise ValueError(
            f"Sample weights must be 1D array or scalar, got shape "
            f"{sample_weight.shape}."
        )
    if sample_weight.shape[0] != n_samples:
        raise ValueError(
            f"sample_weight.shape == {sample_weight.shape}, expected ({n_samples},)!"
        )
    if (sample_weight < 0).any():
        raise ValueError("Negative values in data passed to `sample_weight`.")
    if not sample_weight.any():
        raise ValueError(
            "Sample weights are all zero: at least one sample needs a positive "
            "weight to fit on."
        )
    return sample_weight


def _renamed(cls):
    """``cls`` under skscratch's own name, ``Scratch`` before its name.

    A subclass that changes nothing but the name: ``make_pipeline`` names
    its step after it, and models saved under it keep loading.

    Parameters
    ----------
    cls : type
        :class:`MLPClassifier` or :class:`MLPRegressor`.

    Returns
    -------
    renamed : type
    """
    name = f"Scratch{cls.__name__}"
    doc = f"""skscratch's own name for :class:`{cls.__name__}`: the same estimator.

    The same parameters, defaults, attributes and methods; only the name
    differs, so that :func:`~sklearn.pipeline.make_pipeline` names its step
    ``{name.lower()}``. Import :class:`{cls.__name__}` to swap scikit-learn's
    estimator for this one without changing step names or grids.

    See Also
    --------
    {cls.__name__} : The same estimator, under scikit-learn's name.

    Examples
    --------
    >>> from skscratch import {cls.__name__}, {name}
    >>> issubclass({name}, {cls.__name__})
    True
    """
    namespace = {"__doc__": doc, "__module__": cls.__module__, "__qualname__": name}
    return type(name, (cls,), namespace)
