"""Training on any array namespace: the estimators' bridge to skscratch.nn.

Under scikit-learn's array-API dispatch, an ``X`` that is not a NumPy array
(PyTorch on a GPU, CuPy, array-api-strict) trains on the reference engine,
:mod:`skscratch.nn`, whose arithmetic follows its input's namespace and
device. NumPy and SciPy-sparse input keep the fast backend,
:mod:`skscratch.core`.

Inputs are checked and targets encoded on the host, by the same code as for
NumPy input; every product of training and prediction then runs on ``X``'s
device. Random draws (initial weights, shuffles, dropout masks) are made on
the host by the estimator's generator, so a seed gives the same network on
every namespace.
"""

import copy
import importlib
import warnings
from itertools import pairwise

import numpy as np
import scipy.sparse as sp
from sklearn import get_config

from . import nn
from .nn._xp import array_namespace, device

try:  # scikit-learn >= 1.9
    from sklearn.utils._array_api import move_to
except ImportError:  # older: dispatch to non-NumPy arrays is not offered
    move_to = None


def supported():
    """Whether this scikit-learn can move arrays between namespaces."""
    return move_to is not None


def namespace_of(X):
    """``(xp, device)`` of ``X`` when it trains on the reference engine.

    Parameters
    ----------
    X : array-like or sparse matrix

    Returns
    -------
    space : tuple or None
        None for NumPy, sparse and array-like input, or without dispatch.
    """
    if not dispatching() or sp.issparse(X) or not _foreign_array(X):
        return None
    return array_namespace(X), device(X)


def dispatching():
    """Whether scikit-learn's array-API dispatch is on (and usable here)."""
    return supported() and get_config()["array_api_dispatch"]


def _foreign_array(a):
    # An array of another library: it speaks DLPack and is not NumPy's.
    return hasattr(a, "__dlpack__") and not isinstance(a, np.ndarray)


def on_host(*arrays):
    """Each array of another namespace copied to a NumPy array; anything
    else (NumPy arrays, lists, sparse matrices, None) as it is."""
    moved = tuple(
        move_to(a, xp=np, device="cpu") if _foreign_array(a) else a for a in arrays
    )
    return moved if len(moved) > 1 else moved[0]


def fitted_namespace(estimator):
    """``(xp, device)`` of a fitted estimator's ``coefs_``; None for NumPy."""
    coefs = estimator.__dict__.get("coefs_")
    if not coefs or not _foreign_array(coefs[0]):
        return None
    return array_namespace(coefs[0]), device(coefs[0])


def host_dtype(estimator):
    """The NumPy dtype of a fitted estimator's parameters, whatever their
    namespace."""
    return on_host(estimator.coefs_[0][:0, :0]).dtype


def check_same_namespace(estimator, X, method):
    """Raise, in scikit-learn's words, if ``X`` is not in the namespace and
    on the device of the fit (checked only under dispatch).

    Parameters
    ----------
    estimator : fitted _BaseScratchMLP
    X : array-like
    method : str
        The calling method, for the message.
    """
    if not dispatching():
        return
    fitted, given = fitted_namespace(estimator), namespace_of(X)
    names = [
        "numpy" if space is None else f"{space[0].__name__} on {space[1]}"
        for space in (fitted, given)
    ]
    if names[0] == names[1]:
        return
    raise ValueError(
        f"Inputs passed to {type(estimator).__name__}.{method}() must use the "
        "same namespace and the same device as those passed to fit(). The fit "
        f"used {names[0]}, {method} got {names[1]}. Move the model with "
        "sklearn.utils._array_api.move_estimator_to(estimator, xp, device)."
    )


def take_rows(A, index):
    """``A[index]`` for host indices, whatever ``A``'s namespace."""
    if not _foreign_array(A):
        return A[index]
    xp = array_namespace(A)
    return xp.take(A, xp.asarray(index, device=device(A)), axis=0)


def like_input(result, X):
    """``result`` (NumPy) moved to ``X``'s namespace and device, if it
    trains there; string labels stay NumPy."""
    space = namespace_of(X)
    if space is None or result.dtype.kind not in "biuf":
        return result
    return to_device(result, space)


class NamespaceNetwork:
    """The estimators' network on any namespace: a :class:`skscratch.nn.Network`
    with the members of :class:`skscratch.core.network.Network` that the
    estimators use.

    Parameters
    ----------
    layer_units : list of int
        ``[n_features, hidden..., n_outputs]``.
    hidden_activation : str or sequence of str
        One name for every hidden layer, or one per hidden layer.
    loss : skscratch.core.losses.Loss
        The estimator's loss; its name and output activation choose the
        :mod:`skscratch.nn` loss and the last layer.
    dropout : tuple of float
        Dropout rate after each hidden layer.
    like : array
        The parameters take its namespace, device and dtype.
    """

    def __init__(self, layer_units, hidden_activation, loss, dropout, like):
        n_hidden = len(layer_units) - 2
        activations = (
            list(hidden_activation)
            if isinstance(hidden_activation, list | tuple)
            else [hidden_activation] * n_hidden
        )
        rates = tuple(dropout or ()) or (0.0,) * n_hidden
        layers = []
        for i, (n_in, n_out) in enumerate(pairwise(layer_units)):
            if i > 0:
                layers.append(
                    nn.ActivationLayer(_reference_activation(activations[i - 1]))
                )
                if rates[i - 1]:
                    layers.append(nn.Dropout(rates[i - 1]))
            layers.append(nn.Dense(n_in, n_out))
        output = getattr(loss, "activation_name", None)
        if loss.name == "squared_error" and output not in (None, "identity"):
            # Squared error of a non-canonical output (the classifier's):
            # the output activation is a layer, and backpropagation goes
            # through its derivative.
            layers.append(nn.ActivationLayer(output))
        self.net = nn.Network(layers, _reference_loss(loss), like=like)
        self.loss = loss
        self.layer_units = list(layer_units)
        self.hidden_activation = hidden_activation
        self.dropout = tuple(dropout or ())

    @classmethod
    def from_host(cls, network, loss, like):
        """The NumPy ``network`` (skscratch.core) copied to ``like``'s device."""
        twin = cls(
            network.layer_units, network.hidden_activation, loss, network.dropout, like
        )  # loss: the estimator's, as for the constructor
        twin.set_parameters(network.coefs, network.intercepts)
        return twin

    @property
    def params(self):
        return self.net.params

    @property
    def n_weights(self):
        return self.net.n_weights

    @property
    def n_params(self):
        return self.params.shape[0]

    @property
    def coefs(self):
        return [d.W for d in self.net.dense]

    @property
    def intercepts(self):
        return [d.b for d in self.net.dense]

    @property
    def dropout_layers(self):
        return [layer for layer in self.net.layers if isinstance(layer, nn.Dropout)]

    def seed_dropout(self, seed):
        """One host generator draws every dropout layer's masks."""
        rng = np.random.default_rng(seed)
        for layer in self.dropout_layers:
            layer.rng = rng

    def set_parameters(self, coefs, intercepts):
        for dense, W, b in zip(self.net.dense, coefs, intercepts, strict=True):
            dense.W[...] = self.net.asarray(on_host(W) if _foreign(W, dense.W) else W)
            dense.b[...] = self.net.asarray(on_host(b) if _foreign(b, dense.b) else b)

    def is_bound_to(self, coefs, intercepts):
        return len(coefs) == len(self.net.dense) and all(
            W is d.W and b is d.b
            for d, W, b in zip(self.net.dense, coefs, intercepts, strict=True)
        )

    def all_finite(self):
        xp = self.net.xp
        return bool(xp.all(xp.isfinite(self.params)))

    def copy_params(self):
        return self.net.xp.asarray(self.params, copy=True)

    def predict(self, X, output_activation=None):
        """Network outputs for ``X`` (on the device), as a NumPy array."""
        return on_host(self.net.predict(X))


def _reference_loss(loss):
    """The :mod:`skscratch.nn` loss for a core loss: by name, or built from
    its parameters (huber's ``delta``, the grouped log-loss's group sizes)."""
    if loss.name == "huber":
        return nn.losses.huber_loss(loss.delta)
    if loss.name == "grouped_log_loss":
        return nn.losses.grouped_log_loss(loss.group_sizes)
    if loss.name not in nn.LOSSES:
        raise ValueError(
            f"The loss {loss.name!r} has no array-API implementation; fit "
            "on NumPy arrays instead."
        )
    return loss.name


def _reference_activation(activation):
    """The :mod:`skscratch.nn` activation for a hidden layer's activation."""
    if isinstance(activation, nn.Activation) or activation in nn.ACTIVATIONS:
        return activation
    raise ValueError(
        f"The activation {activation!r} runs on NumPy arrays only: it has no "
        "array-API implementation. Fit on NumPy arrays, or use a built-in "
        "activation."
    )


def _foreign(a, reference):
    """Whether ``a`` is not of ``reference``'s namespace (say, NumPy weights
    for a PyTorch network)."""
    return type(a) is not type(reference)


class NamespaceTrainer:
    """The mini-batch step on the device, with the interface of
    :class:`skscratch.core.parallel.DataParallel` that the epoch loop uses.

    ``X`` lives on the device; targets and sample weights come from the
    host and are moved there once.

    Parameters
    ----------
    network : NamespaceNetwork
    """

    check_rows = False  # X was checked on the host

    def __init__(self, network):
        self.network = network
        self._moved = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self._moved.clear()

    def on_device(self, a):
        """``a`` (NumPy, on the host) on the network's device, moved once."""
        if a is None or not isinstance(a, np.ndarray):
            return a
        key = id(a)
        if key not in self._moved:
            self._moved[key] = (a, self.network.net.asarray(a))
        return self._moved[key][1]

    def rows_of(self, a, rows):
        """The rows ``rows`` (slice or host indices) of the device array ``a``."""
        if isinstance(rows, slice):
            return a[rows, ...]
        net = self.network.net
        index = net.xp.asarray(rows, device=device(net.params))
        return net.xp.take(a, index, axis=0)

    def loss_and_gradient(
        self,
        X,
        Y,
        loss,
        *,
        alpha,
        sample_weight=None,
        rows=None,
        weight_sum=None,
        optimizer=None,
    ):
        """Objective on the batch ``rows``, then the optimizer's step.

        Returns
        -------
        J : float
        """
        rows = slice(None) if rows is None else rows
        arrays = (X, self.on_device(Y), self.on_device(sample_weight))
        Xb, Yb, swb = (None if a is None else self.rows_of(a, rows) for a in arrays)
        if isinstance(optimizer, nn.AdamW):
            alpha = 0.0  # decoupled: the optimizer shrinks the weights
        value = self.network.net.loss_and_gradient(Xb, Yb, swb, alpha)
        if optimizer is not None:
            optimizer.step(self.network.params, self.network.net.grads)
        return value

    def check_skipped_rows(self, X, rows):
        """Nothing to do: X was checked on the host."""

    def predict(self, X, output_activation=None):
        return self.network.predict(X)


def make_optimizer(estimator, network):
    """The :mod:`skscratch.nn` optimizer that ``estimator.solver`` names.

    Parameters
    ----------
    estimator : _BaseScratchMLP
    network : NamespaceNetwork

    Returns
    -------
    optimizer : skscratch.nn.optimizers.Optimizer
    """
    schedule = dict(schedule=estimator.learning_rate, power_t=estimator.power_t)
    lr = estimator.learning_rate_init
    if estimator.solver == "sgd":
        return nn.SGD(lr, estimator.momentum, estimator.nesterovs_momentum, **schedule)
    if estimator.solver == "rmsprop":
        return nn.RMSprop(lr, estimator.beta_2, estimator.epsilon, **schedule)
    adam = dict(
        beta_1=estimator.beta_1, beta_2=estimator.beta_2, epsilon=estimator.epsilon
    )
    if estimator.solver == "adamw":
        return nn.AdamW(
            lr,
            weight_decay=estimator.alpha,
            n_decayed=network.n_weights,
            **adam,
            **schedule,
        )
    return nn.Adam(lr, **adam)  # scikit-learn's Adam ignores the schedule


def minimize_lbfgs(
    network, X, Y, *, alpha, sample_weight, max_iter, max_fun, tol, callback
):
    """L-BFGS on the device: :func:`skscratch.nn.lbfgs.minimize_lbfgs`, with
    the targets and weights moved there once.

    Parameters and result as :func:`skscratch.core.lbfgs.minimize_lbfgs`.
    """
    trainer = NamespaceTrainer(network)
    return nn.minimize_lbfgs(
        network.net,
        X,
        trainer.on_device(Y),
        sample_weight=trainer.on_device(sample_weight),
        alpha=alpha,
        max_iter=max_iter,
        max_fun=max_fun,
        tol=tol,
        callback=callback,
        to_host=on_host,
    )


def inputs_on_host(estimator, X, y, sample_weight, first_pass):
    """The namespace ``X`` trains in, and the inputs on the host for checking.

    Under dispatch, ``y`` and ``sample_weight`` follow ``X`` whatever their
    own namespace, as scikit-learn's array-API estimators do.

    Parameters
    ----------
    estimator : _BaseScratchMLP
    X, y, sample_weight
        As given to ``fit`` or ``partial_fit``.
    first_pass : bool
        False when the fit continues the fitted network, which must then
        live in ``X``'s namespace.

    Returns
    -------
    space : tuple or None
        As :func:`namespace_of`.
    X, y, sample_weight
        NumPy arrays where they were arrays of another library.
    """
    if not supported() and get_config().get("array_api_dispatch") and _foreign_array(X):
        raise ValueError(
            "Training on arrays of another library under array_api_dispatch "
            "needs scikit-learn 1.9 or newer (its sklearn.utils._array_api."
            "move_to). Upgrade scikit-learn, or pass NumPy arrays."
        )
    space = namespace_of(X)
    if not first_pass:
        fitted = fitted_namespace(estimator)
        same = (fitted is None) == (space is None) and (
            space is None
            or (fitted[0].__name__, str(fitted[1]))
            == (space[0].__name__, str(space[1]))
        )
        if not same:
            raise ValueError(
                "Cannot continue training (warm_start or partial_fit) on data "
                "of another array namespace or device than the fitted model's. "
                "Fit from scratch, or move the data (or the model, with "
                "sklearn.utils._array_api.move_estimator_to) first."
            )
    if dispatching():
        X, y, sample_weight = on_host(X, y, sample_weight)
    return space, X, y, sample_weight


def to_device(X, space):
    """The checked host ``X`` on the device of ``space = (xp, device)``."""
    xp, where = space
    return xp.asarray(X, device=where)


# -- persistence: pickles hold NumPy arrays, whatever the fit's device --------

_WHERE = "_fitted_namespace"


def state_to_host(state):
    """A state for pickling with every array of another namespace as NumPy,
    and a note of where they lived, so that a model fitted on a GPU loads on
    a machine without one.

    Parameters
    ----------
    state : dict
        The estimator's ``__dict__`` (a copy: it is not modified).

    Returns
    -------
    state : dict
    """
    coefs = state.get("coefs_")
    if not coefs or not _foreign_array(coefs[0]):
        return state
    xp, where = array_namespace(coefs[0]), device(coefs[0])
    moved = [key for key, value in state.items() if _holds_foreign(value)]
    state = {
        key: _converted(value, on_host) if key in moved else value
        for key, value in state.items()
    }
    state[_WHERE] = (xp.__name__, str(where), moved)
    return state


def state_from_host(state):
    """Undo :func:`state_to_host`: the arrays back on their namespace and
    device, or left as NumPy, with a warning, where that is impossible here."""
    where = state.pop(_WHERE, None)
    if where is None:
        return state
    name, device_name, moved = where
    try:
        xp = importlib.import_module(name)
        target = _device_named(xp, device_name)
    except Exception as exc:  # no such library or device on this machine
        warnings.warn(
            f"This model was fitted on {name} ({device_name}), which is not "
            f"available here ({type(exc).__name__}: {exc}); it is loaded as a "
            "NumPy model.",
            UserWarning,
            stacklevel=3,
        )
        return state

    def back(a):
        return xp.asarray(a, device=target)

    return {
        key: _converted(value, back) if key in moved else value
        for key, value in state.items()
    }


def _device_named(xp, name):
    """The device of namespace ``xp`` that prints as ``name``: the name
    itself where the library takes names ("cuda:0"), else one of the
    devices it lists."""
    try:
        xp.asarray(np.zeros(1), device=name)
        return name
    except Exception:  # a device object, or no such device
        devices = {str(d): d for d in xp.__array_namespace_info__().devices()}
        return devices[name]


def _holds_foreign(value):
    """Whether ``value`` is, or holds, an array of another namespace."""
    if isinstance(value, list | tuple):
        return any(_holds_foreign(v) for v in value)
    if isinstance(value, nn.optimizers.Optimizer):
        return any(_holds_foreign(v) for v in vars(value).values())
    return _foreign_array(value)


def _converted(value, convert):
    """``value`` with ``convert`` applied to each array in it (inside lists,
    tuples and the reference engine's optimizers); the rest as it is."""
    if _foreign_array(value) or isinstance(value, np.ndarray):
        return convert(value)
    if isinstance(value, list | tuple):
        return type(value)(_converted(v, convert) for v in value)
    if isinstance(value, nn.optimizers.Optimizer):
        twin = copy.copy(value)
        twin.__dict__ = {k: _converted(v, convert) for k, v in vars(value).items()}
        return twin
    return value
