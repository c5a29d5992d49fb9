"""The workloads: their data, their models' parameters, and their
matrix-product floors (the products alone, which no dense implementation
can beat)."""

import itertools
import sys
import time

import numpy as np
from settings import EXIT_NO_DATA, HIDDEN, RANDOM_STATE

NO_MNIST_HINT = "select only --workloads lbfgs_digits (no MNIST needed)"


def load_mnist_or_exit(data_dir, dtype, n_train, n_test, hint=NO_MNIST_HINT):
    """Load (a prefix of) MNIST; on missing/corrupt data explain and exit 2.

    ``hint`` ends the message: how the calling script runs without MNIST.
    """
    from skscratch.datasets import load_mnist

    try:
        X_train, y_train, X_test, y_test = load_mnist(data_dir, dtype=dtype)
    except (FileNotFoundError, ValueError) as exc:
        print(
            f"error: MNIST is needed for the selected workloads.\n{exc}\n"
            f"Run with --data-dir DIR, or set SKSCRATCH_MNIST_DIR, or {hint}.",
            file=sys.stderr,
        )
        sys.exit(EXIT_NO_DATA)
    return (
        np.ascontiguousarray(X_train[:n_train]),
        y_train[:n_train],
        np.ascontiguousarray(X_test[:n_test]),
        y_test[:n_test],
    )


def digits_split():
    """Standardised sklearn digits with a fixed stratified 75/25 split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=RANDOM_STATE, stratify=y
    )
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), y_train, scaler.transform(X_test), y_test


def stochastic_params(workload, epochs):
    """Parameters of the adam32/adam64/sgd fits (and the sweep's base)."""
    params = {
        "hidden_layer_sizes": HIDDEN,
        "activation": "relu",
        "solver": "adam",
        "batch_size": 200,
        "learning_rate_init": 1e-3,
        "alpha": 1e-4,
        "max_iter": epochs,
        "shuffle": True,
        "random_state": RANDOM_STATE,
    }
    if workload == "sgd":
        params.update(
            solver="sgd",
            momentum=0.9,
            nesterovs_momentum=True,
            learning_rate_init=0.01,
        )
    return params


def lbfgs_params(max_iter):
    """Parameters of the lbfgs_digits fits."""
    return {
        "hidden_layer_sizes": (100,),
        "solver": "lbfgs",
        "max_iter": max_iter,
        "random_state": RANDOM_STATE,
    }


def _aligned_copy(a):
    """``a`` copied into an array that starts on a cache line."""
    from skscratch.core.memory import aligned_empty

    copy = aligned_empty(a.shape, a.dtype)
    copy[...] = a
    return copy


def _floor_weights(sizes, dtype, rng):
    """Random weight matrices for the floor's products (values don't matter,
    shapes and dtype do)."""
    return [
        _aligned_copy(rng.standard_normal((a, b)).astype(dtype) * 0.05)
        for a, b in itertools.pairwise(sizes)
    ]


def _floor_buffers(rows, sizes, dtype, rng):
    """Activations, deltas and input gradients of one batch of ``rows``."""
    from skscratch.core.memory import aligned_empty

    acts = [aligned_empty((rows, s), dtype) for s in sizes[1:]]
    deltas = [
        _aligned_copy(rng.standard_normal((rows, s)).astype(dtype)) for s in sizes[1:]
    ]
    back = [aligned_empty((rows, s), dtype) for s in sizes[1:-1]]
    return acts, deltas, back


def matmul_floor_epoch(X, hidden, n_out, batch_size):
    """Seconds for only the matrix products of one epoch of the network.

    Per mini-batch of contiguous rows of ``X``: forward ``X@W1, H1@W2, ...``,
    weight gradients ``X.T@D1, H1.T@D2, ...`` and input gradients
    ``D_k@W_k.T`` for every layer but the first, all with ``np.matmul`` into
    preallocated buffers. Nothing else (activations, loss, updates, shuffling)
    is done, so a real implementation cannot beat this number.

    Every array, ``X`` included (copied before the clock starts), begins on a
    cache line, as skscratch's buffers do, so that the floor does not give
    away BLAS's gain on such arrays.
    """
    from skscratch.core.memory import aligned_empty

    dtype = X.dtype
    X = _aligned_copy(X)
    rng = np.random.default_rng(RANDOM_STATE)
    sizes = [X.shape[1], *hidden, n_out]
    weights = _floor_weights(sizes, dtype, rng)
    weight_grads = [aligned_empty(w.shape, dtype) for w in weights]
    n = X.shape[0]
    full = _floor_buffers(batch_size, sizes, dtype, rng)
    tail = _floor_buffers(n % batch_size, sizes, dtype, rng) if n % batch_size else None
    start = time.perf_counter()
    for lo in range(0, n, batch_size):
        xb = X[lo : lo + batch_size]
        acts, deltas, back = full if xb.shape[0] == batch_size else tail
        inputs = [xb, *acts[:-1]]
        for k, w in enumerate(weights):
            np.matmul(inputs[k], w, out=acts[k])
        for k in range(len(weights) - 1, -1, -1):
            np.matmul(inputs[k].T, deltas[k], out=weight_grads[k])
            if k > 0:
                np.matmul(deltas[k], weights[k].T, out=back[k - 1])
    return time.perf_counter() - start


def matmul_floor_predict(X, hidden, n_out):
    """Seconds for only the forward matrix products of a prediction on ``X``.

    One ``np.matmul`` per layer over all the rows, into preallocated outputs:
    no bias, activation or softmax, so no prediction can be faster. Arrays
    aligned on cache lines, as in :func:`matmul_floor_epoch`.
    """
    from skscratch.core.memory import aligned_empty

    X = _aligned_copy(X)
    sizes = [X.shape[1], *hidden, n_out]
    rng = np.random.default_rng(RANDOM_STATE)
    weights = _floor_weights(sizes, X.dtype, rng)
    outputs = [aligned_empty((X.shape[0], s), X.dtype) for s in sizes[1:]]
    start = time.perf_counter()
    inputs = [X, *outputs[:-1]]
    for k, w in enumerate(weights):
        np.matmul(inputs[k], w, out=outputs[k])
    return time.perf_counter() - start
