"""The seam between the estimators and the two engines.

The estimators check inputs, encode targets and run the epoch loop; whatever
computes goes through this module, which picks the engine:

- NumPy and SciPy-sparse input train on the fast CPU backend,
  :mod:`skscratch.core` (in-place NumPy, optional Numba kernels, threads,
  compressed rows), with the policy that decides when each of those pays;
- arrays of another namespace (PyTorch, CuPy, array-api-strict, under
  scikit-learn's array-API dispatch) train on the reference engine,
  :mod:`skscratch.nn`, through :mod:`skscratch._namespaces`.

Both implement the same steps, and ``tests/test_nn_reference.py`` checks
that they give the same numbers.
"""

import itertools

import numpy as np

from . import _namespaces
from .core import build_mlp, compiled
from .core import make_optimizer as _core_optimizer
from .core import minimize_lbfgs as _core_lbfgs
from .core.compressed import worth_compressing
from .core.initializers import glorot_factors
from .core.parallel import (
    MIN_PARAM_BYTES,
    DataParallel,
    available_threads,
    plan_threads,
)
from .core.rows import NonFiniteRowsError, checks_while_taking

__all__ = [
    "NonFiniteRowsError",
    "all_finite",
    "build_network",
    "checks_while_taking",
    "compiled_pays",
    "copy_params",
    "make_optimizer",
    "make_trainer",
    "minimize_lbfgs",
    "network_from",
    "predict",
    "prediction_checks_values",
]

# Predictions on mostly-zero rows are split between two threads, each with
# compressed rows (see skscratch.core.compressed), from this many rows, twice
# the break-even point, so that the hand-overs never cost more than they save.
MIN_SPLIT_PREDICT_ROWS = 4096
# Rows trained on (at most: max_iter passes) times parameters from which the
# compiled kernels save more time than loading them costs (see compiled_pays):
# between the break-even points of a small network and of MNIST's (256, 128).
MIN_COMPILED_WORK = 3 * 10**10


def _on_reference(network):
    return isinstance(network, _namespaces.NamespaceNetwork)


def build_network(layer_units, activation, *, dtype, dropout, init, rng, loss, like):
    """A freshly initialised network.

    The weights are drawn on the host, by the backend's initialiser, whatever
    the engine, so that a seed gives the same network everywhere.

    Parameters
    ----------
    layer_units : list of int
        ``[n_features, hidden..., n_outputs]``.
    activation : str, activation object, or tuple of them
        The hidden layers' activation(s).
    dtype : numpy dtype
    dropout : tuple of float
    init : {'glorot', 'he', 'lecun'}
    rng : numpy.random.RandomState
    loss : skscratch.core.losses.Loss
        The estimator's loss (the reference engine builds its output from it).
    like : array or None
        An array of the namespace and device to train on; None for NumPy.

    Returns
    -------
    network : Network or NamespaceNetwork
    """
    network = build_mlp(layer_units, activation, dtype=dtype, dropout=dropout)
    factors = glorot_factors(activation, len(layer_units) - 1)
    network.initialize(rng, factor=factors, init=init)
    if like is None:
        return network
    return _namespaces.NamespaceNetwork.from_host(network, loss, like)


def network_from(coefs, intercepts, activation, dropout, loss):
    """The network of the given weights, on their namespace and device.

    Parameters
    ----------
    coefs, intercepts : list of arrays
        As the estimators' fitted attributes.
    activation, dropout, loss
        As for :func:`build_network`.

    Returns
    -------
    network : Network or NamespaceNetwork
    """
    units = [coefs[0].shape[0]] + [c.shape[1] for c in coefs]
    if isinstance(coefs[0], np.ndarray):
        network = build_mlp(units, activation, dtype=coefs[0].dtype, dropout=dropout)
    else:
        network = _namespaces.NamespaceNetwork(
            units, activation, loss, dropout, like=coefs[0]
        )
    network.set_parameters(coefs, intercepts)
    return network


def make_trainer(network, X, batch_size, check_rows=False):
    """What computes a mini-batch's gradient and steps the optimizer.

    Parameters
    ----------
    network : Network or NamespaceNetwork
    X : ndarray, sparse matrix or array of another namespace
        The training rows.
    batch_size : int
    check_rows : bool
        Whether the first epoch checks the rows it takes for NaN and
        infinity (the backend only: the reference engine's input was
        checked on the host).

    Returns
    -------
    trainer : DataParallel or NamespaceTrainer
    """
    if _on_reference(network):
        return _namespaces.NamespaceTrainer(network)
    compress = worth_compressing(X, network.dtype, network.layer_units[1])
    n_threads = plan_threads(
        batch_size,
        network.n_params,
        network.dtype.itemsize,
        compressed_input=compress,
    )
    return DataParallel(
        network, n_threads, compress_rows=compress, check_rows=check_rows
    )


def make_optimizer(estimator, network):
    """The optimizer that ``estimator.solver`` names, for ``network``.

    Parameters
    ----------
    estimator : _BaseScratchMLP
        Gives the solver and its parameters.
    network : Network or NamespaceNetwork

    Returns
    -------
    optimizer : skscratch.core.optimizers.Optimizer or skscratch.nn optimizer
    """
    if _on_reference(network):
        return _namespaces.make_optimizer(estimator, network)
    params = network.params
    schedule = dict(lr_schedule=estimator.learning_rate, power_t=estimator.power_t)
    if estimator.solver == "sgd":
        return _core_optimizer(
            "sgd",
            params,
            learning_rate_init=estimator.learning_rate_init,
            momentum=estimator.momentum,
            nesterov=estimator.nesterovs_momentum,
            **schedule,
        )
    if estimator.solver == "rmsprop":
        return _core_optimizer(
            "rmsprop",
            params,
            learning_rate_init=estimator.learning_rate_init,
            rho=estimator.beta_2,
            epsilon=estimator.epsilon,
            **schedule,
        )
    adam = dict(
        learning_rate_init=estimator.learning_rate_init,
        beta_1=estimator.beta_1,
        beta_2=estimator.beta_2,
        epsilon=estimator.epsilon,
    )
    if estimator.solver == "adamw":
        return _core_optimizer(
            "adamw", params, n_decayed=network.n_weights, **adam, **schedule
        )
    # Plain Adam ignores learning_rate, as scikit-learn's does.
    return _core_optimizer("adam", params, **adam)


def minimize_lbfgs(network, X, Y, loss, **options):
    """L-BFGS on the whole data set, on the network's engine.

    Parameters
    ----------
    network : Network or NamespaceNetwork
    X, Y : arrays
        The rows and encoded targets.
    loss : skscratch.core.losses.Loss
    **options
        ``alpha``, ``sample_weight``, ``max_iter``, ``max_fun``, ``tol``,
        ``callback``, as for :func:`skscratch.core.lbfgs.minimize_lbfgs`.

    Returns
    -------
    result : scipy.optimize.OptimizeResult
    """
    if _on_reference(network):
        return _namespaces.minimize_lbfgs(network, X, Y, **options)
    n_threads = plan_threads(X.shape[0], network.n_params, full_batch=True)
    return _core_lbfgs(network, X, Y, loss, n_threads=n_threads, **options)


def prediction_checks_values(network, X):
    """Whether :func:`predict` checks ``X`` for NaN and infinity on its way
    (the split prediction compresses the rows, which tests every value), so
    that no separate pass is needed."""
    return (
        not _on_reference(network)
        and X.shape[0] >= MIN_SPLIT_PREDICT_ROWS
        and available_threads() > 1
        and worth_compressing(X, network.dtype, network.layer_units[1])
    )


def predict(network, X, out_activation, split=None):
    """The network's outputs for ``X``, as a NumPy array.

    Parameters
    ----------
    network : Network or NamespaceNetwork
    X : ndarray or sparse matrix (backend), array of the network's namespace
    out_activation : str or Activation
    split : bool, optional
        :func:`prediction_checks_values`'s answer for ``network`` and ``X``,
        if the caller has it already.

    Returns
    -------
    outputs : ndarray of shape (n_samples, n_outputs)

    Raises
    ------
    NonFiniteRowsError
        From the split prediction, on a NaN or an infinity in ``X``.
    """
    if _on_reference(network):
        return network.predict(X)
    if split is None:
        split = prediction_checks_values(network, X)
    if split:
        # The compressed first layer's products run on one core each: two
        # threads, each with a share of the rows.
        with DataParallel(network, n_threads=2, compress_rows=True) as dp:
            return dp.predict(X, out_activation)
    # Otherwise prediction is nearly all matrix products, which BLAS already
    # runs on every core: no thread splitting.
    return network.predict(X, out_activation)


def all_finite(network):
    """Whether every parameter of ``network`` is finite."""
    if _on_reference(network):
        return network.all_finite()
    return bool(np.isfinite(network.params).all())


def copy_params(network):
    """A copy of ``network``'s flat parameter vector, in its namespace."""
    if _on_reference(network):
        return network.copy_params()
    return network.params.copy()


def compiled_pays(X, y, hidden_layer_sizes, max_iter):
    """Whether a fit on ``X``, ``y`` loads the compiled kernels
    (:func:`skscratch.core.compiled.load`), which only pays where they save
    more time than importing Numba and loading them takes, in proportion to
    the rows trained on times the parameters.

    A network whose mini-batches the NumPy code would split between threads
    (see :func:`~skscratch.core.parallel.plan_threads`) loads them too,
    since the split adds the gradients in another order: its results must
    not depend on whether an earlier job loaded the kernels. (An input worth
    compressing loads them itself: see
    :func:`~skscratch.core.compressed.worth_compressing`.)

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
    hidden_layer_sizes : tuple of int
    max_iter : int
    """
    units = [X.shape[1], *hidden_layer_sizes]
    units.append(y.shape[1] if y.ndim == 2 else 1)  # a class count is not known yet
    n_params = sum((a + 1) * b for a, b in itertools.pairwise(units))
    return (
        X.shape[0] * max_iter * n_params >= MIN_COMPILED_WORK
        or n_params * X.dtype.itemsize >= MIN_PARAM_BYTES
    )


def prepare_backend(X, y, hidden_layer_sizes, max_iter):
    """Load the compiled kernels if this fit's size makes them pay, before
    the fit's first kernel lookups."""
    if compiled_pays(X, y, hidden_layer_sizes, max_iter):
        compiled.load()
