"""Compressed rows: the first layer's products on the nonzero entries only.

The compiled kernels must give the dense products up to rounding, whatever
the block (empty rows, dense rows, NaN, more nonzeros than the first guess),
and the estimators must take that path exactly when it is meant to pay, with
the results of the dense path.
"""

import types

import numpy as np
import pytest
import scipy.sparse as sp

from skscratch import ScratchMLPClassifier, ScratchMLPRegressor, _base, _engines
from skscratch.core import build_mlp, compiled, compressed, parallel
from skscratch.core.compressed import (
    CompressedRows,
    nonzero_fraction,
    worth_compressing,
)
from skscratch.core.layers import Dense
from skscratch.core.optimizers import Adam
from skscratch.core.parallel import DataParallel, plan_threads

pytestmark = pytest.mark.skipif(
    not compiled.available(), reason="needs Numba: pip install 'skscratch[fast]'"
)


def _mostly_zeros(n_rows, n_cols, density, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0.1, 1.0, size=(n_rows, n_cols))
    X[rng.random((n_rows, n_cols)) >= density] = 0.0
    return X.astype(dtype)


def _tolerance(dtype):
    return {"rtol": 1e-5, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-12}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_products_match_the_dense_ones(dtype):
    X = _mostly_zeros(37, 90, 0.2, dtype)
    X[3] = 0.0  # an empty row
    X[5] = np.arange(1, 91)  # a row without zeros
    X[:, 7] = 0.0  # an empty column
    rng = np.random.default_rng(1)
    # 13 and 6 output columns: not multiples of the vector width.
    W = rng.normal(size=(90, 13)).astype(dtype)
    D = rng.normal(size=(37, 6)).astype(dtype)
    block = CompressedRows().compress(X)
    assert block.shape == X.shape
    assert block.nnz == np.count_nonzero(X)
    np.testing.assert_array_equal(block.toarray(), X)
    out = np.empty((37, 13), dtype)
    np.testing.assert_allclose(block.dot(W, out), X @ W, **_tolerance(dtype))
    grad = np.empty((90, 6), dtype)
    np.testing.assert_allclose(
        block.transpose_dot(D, grad), X.T @ D, **_tolerance(dtype)
    )
    assert np.all(grad[7] == 0)


def _tile_widths():
    """Output widths that take each path of the tiled kernel: pairs of full
    tiles, one full tile, the smaller tiles, single vectors, and columns
    left over by all of them."""
    lanes = compiled._VECTOR_BYTES // 4  # float32 entries per vector
    tile = compiled._MAX_VECTORS * lanes
    return [1, lanes - 1, lanes, 3 * lanes + 1, tile, 2 * tile, 5 * tile - 1]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_products_match_the_dense_ones_at_every_tile_width(dtype):
    compiled.kernel("sparse_dot", dtype)  # sets the tile shape
    X = _mostly_zeros(29, 70, 0.2, dtype)
    X[4] = 0.0
    block = CompressedRows().compress(X)
    rng = np.random.default_rng(3)
    for n_out in _tile_widths():
        W = rng.normal(size=(70, n_out)).astype(dtype)
        out = np.full((29, n_out), np.nan, dtype)
        np.testing.assert_allclose(block.dot(W, out), X @ W, **_tolerance(dtype))
        assert (out[4] == 0).all()
        D = rng.normal(size=(29, n_out)).astype(dtype)
        grad = np.full((70, n_out), np.nan, dtype)
        np.testing.assert_allclose(
            block.transpose_dot(D, grad), X.T @ D, **_tolerance(dtype)
        )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rows_taken_straight_from_the_data(dtype):
    # 150 columns: whole vectors of either dtype, then a few single entries.
    X = _mostly_zeros(50, 150, 0.2, dtype)
    X[9] = 0.0
    X[11] = np.arange(1, 151)  # no zero at all
    rows = np.random.default_rng(4).permutation(50)[:30]
    rows[[3, 4, 5]] = [9, 11, rows[7]]  # an empty row, a full one, a repeat
    block = CompressedRows()
    for taken in (rows, rows.astype(np.int32), [0, 49, 1]):
        block.compress(X, taken)
        assert block.shape == (len(taken), 150)
        assert block.finite
        np.testing.assert_array_equal(block.toarray(), X[taken])
    # No rows at all.
    assert CompressedRows().compress(X, np.array([], dtype=int)).nnz == 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_loop_without_vector_steps_stores_the_same(dtype):
    """CPUs without AVX-512 compress entry by entry: that loop, compiled
    here with the vector step off, stores what the kernel of this machine
    does, including NaN, with too little room, and with a bad value."""
    import numba

    kernel = compiled.kernel("compress_rows", dtype)
    scalar_loop = types.FunctionType(
        compiled.compress_rows_loop.__code__,
        {**vars(compiled), "_COMPRESS_BYTES": 0},
    )
    scalar = numba.njit(error_model="numpy")(scalar_loop)
    X = _mostly_zeros(30, 150, 0.3, dtype)
    X[4, 20] = np.nan
    X[5, 149] = 1.0
    rows = np.random.default_rng(8).permutation(30)
    nnz = np.count_nonzero(X)
    for capacity, finite in [(X.size, False), (nnz // 2, False), (X.size, True)]:
        if finite:
            X[4, 20] = 0.0
            nnz = np.count_nonzero(X)
        results = []
        for compress in (kernel, scalar):
            arrays = (
                np.empty(31, np.int32),
                np.empty(capacity, np.int32),
                np.full(capacity, np.nan, dtype),
            )
            results.append((compress(X, rows, *arrays), arrays))
        (count, found), arrays = results[0]
        assert (count, found) == (nnz, finite) == results[1][0]
        stored = min(count, capacity)
        for a, b in zip(arrays, results[1][1], strict=True):
            np.testing.assert_array_equal(a[: max(stored, 31)], b[: max(stored, 31)])


def test_one_object_serves_blocks_of_any_size_and_density():
    block = CompressedRows()
    W = np.random.default_rng(2).normal(size=(80, 5))
    # Sparse first (sizes the arrays), then denser than the first guess,
    # then smaller: the arrays grow, and old entries never leak in.
    for n_rows, density in [(50, 0.1), (50, 0.9), (10, 1.0), (60, 0.0), (3, 0.3)]:
        X = _mostly_zeros(n_rows, 80, density, seed=n_rows)
        block.compress(X)
        np.testing.assert_array_equal(block.toarray(), X)
        np.testing.assert_allclose(block.dot(W, np.empty((n_rows, 5))), X @ W)
        D = np.ones((n_rows, 5))
        np.testing.assert_allclose(block.transpose_dot(D, np.empty((80, 5))), X.T @ D)


def test_nan_is_kept_and_propagates():
    X = np.zeros((2, 70))
    X[0, 3] = np.nan
    block = CompressedRows().compress(X)
    out = block.dot(np.ones((70, 4)), np.empty((2, 4)))
    assert np.isnan(out[0]).all()
    assert (out[1] == 0).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("column", [0, 37, 69])  # in a vector step, or after
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_compressing_tells_whether_the_block_is_finite(value, column, dtype):
    block = CompressedRows()
    X = _mostly_zeros(40, 70, 0.2, dtype)
    assert block.compress(X).finite
    X[39, column] = value
    assert not block.compress(X).finite
    assert not block.compress(X, np.array([2, 39, 5])).finite
    assert block.compress(X, np.array([2, 38, 5])).finite
    # Also when the first guess of the arrays' size was too small.
    dense = np.ones((40, 70))
    dense[0, 0] = value
    assert not CompressedRows().compress(dense).finite
    assert CompressedRows().compress(np.ones((40, 70))).finite


def test_compress_rejects_what_the_kernels_cannot_read():
    with pytest.raises(RuntimeError, match="C-contiguous float32 or float64"):
        CompressedRows().compress(np.zeros((4, 70), dtype=np.int64))
    with pytest.raises(RuntimeError, match="C-contiguous"):
        CompressedRows().compress(np.zeros((4, 70), order="F"))


def test_switching_the_kernels_off_falls_back_to_the_dense_products():
    X = _mostly_zeros(20, 70, 0.2)
    W = np.random.default_rng(3).normal(size=(70, 3))
    block = CompressedRows().compress(X)
    with compiled.disabled():
        np.testing.assert_allclose(block.dot(W, np.empty((20, 3))), X @ W)
        D = np.ones((20, 3))
        np.testing.assert_allclose(block.transpose_dot(D, np.empty((70, 3))), X.T @ D)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dense_layer_gradients_match_the_dense_input(dtype):
    X = _mostly_zeros(30, 100, 0.15, dtype)
    rng = np.random.default_rng(4)
    layers = []
    for _ in range(2):
        layer = Dense(100, 8, dtype=dtype)
        layer.W[...] = rng.normal(size=(100, 8))
        layer.b[...] = rng.normal(size=8)
        layers.append(layer)
    layers[1].W[...] = layers[0].W
    layers[1].b[...] = layers[0].b
    D = rng.normal(size=(30, 8)).astype(dtype)
    dense_out = layers[0].forward(X).copy()
    layers[0].backward(D)
    block = CompressedRows().compress(X)
    np.testing.assert_allclose(layers[1].forward(block), dense_out, **_tolerance(dtype))
    grad_in = layers[1].backward(D)
    np.testing.assert_allclose(layers[1].dW, layers[0].dW, **_tolerance(dtype))
    np.testing.assert_allclose(layers[1].db, layers[0].db, **_tolerance(dtype))
    # The input gradient does not involve X: the same either way.
    np.testing.assert_allclose(grad_in, D @ layers[0].W.T, **_tolerance(dtype))


def test_nonzero_fraction_and_the_decision():
    X = _mostly_zeros(3000, 100, 0.2)
    assert nonzero_fraction(X) == pytest.approx(0.2, abs=0.02)
    assert nonzero_fraction(np.zeros((0, 5))) == 1.0
    assert worth_compressing(X, X.dtype, 128)
    # Too dense, too few units or features, another dtype, not a dense array.
    assert not worth_compressing(_mostly_zeros(300, 100, 0.5), X.dtype, 128)
    assert not worth_compressing(X, X.dtype, compressed.MIN_UNITS - 1)
    assert not worth_compressing(X[:, : compressed.MIN_FEATURES - 1], X.dtype, 128)
    assert not worth_compressing(X, np.float32, 128)
    assert worth_compressing(X.astype(np.float32), np.float32, 128)
    assert not worth_compressing(sp.csr_matrix(X), X.dtype, 128)
    assert not worth_compressing(X.astype(int), int, 128)
    with compiled.disabled():
        assert not worth_compressing(X, X.dtype, 128)


@pytest.mark.parametrize("with_weights", [False, True])
def test_data_parallel_with_compressed_rows_matches_the_network(with_weights):
    X = _mostly_zeros(120, 80, 0.2)
    Y = np.eye(3)[np.arange(120) % 3]
    w = np.random.default_rng(5).uniform(0.5, 2, 120) if with_weights else None
    rows = np.random.default_rng(6).permutation(120)[:64]

    def make():
        net = build_mlp([80, 32, 3], "relu")
        net.initialize(np.random.default_rng(0))
        return net

    reference, net = make(), make()
    weight_sum = float(64 if w is None else w[rows].sum())
    expected = reference.loss_and_gradient(
        X[rows], Y[rows], "log_loss", 1e-3, None if w is None else w[rows]
    )
    with DataParallel(net, n_threads=2, compress_rows=True) as dp:
        value = dp.loss_and_gradient(
            X, Y, "log_loss", 1e-3, w, rows=rows, weight_sum=weight_sum
        )
        assert isinstance(net.layers[0]._x, CompressedRows)
        np.testing.assert_allclose(value, expected, rtol=1e-12)
        np.testing.assert_allclose(net.grads, reference.grads, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(
            dp.predict(X, "softmax"), reference.predict(X, "softmax"), rtol=1e-12
        )
    # Optimizer steps on each side: the same parameters.
    reference_opt = Adam(reference.params, learning_rate_init=0.01)
    opt = Adam(net.params, learning_rate_init=0.01)
    with DataParallel(net, n_threads=2, compress_rows=True) as dp:
        for batch in (rows, rows[::-1], np.arange(120)):
            dp.loss_and_gradient(X, Y, "log_loss", 1e-3, rows=batch, optimizer=opt)
            reference.loss_and_gradient(X[batch], Y[batch], "log_loss", 1e-3)
            reference_opt.step(reference.params, reference.grads)
    np.testing.assert_allclose(net.params, reference.params, rtol=1e-9, atol=1e-14)


def test_compressed_input_splits_mini_batches_with_enough_work():
    assert plan_threads(200, 235_000, 4, max_threads=2, compressed_input=True) == 2
    assert plan_threads(200, 235_000, 4, max_threads=1, compressed_input=True) == 1
    assert plan_threads(32, 235_000, 4, max_threads=2, compressed_input=True) == 1
    # A (64,) network on MNIST: one thread at batch 200, two at 1000.
    assert plan_threads(200, 50_890, 4, max_threads=2, compressed_input=True) == 1
    assert plan_threads(1000, 50_890, 4, max_threads=2, compressed_input=True) == 2


def _spy_compressed_trainers(monkeypatch, threads=None):
    """The ``compress_rows`` of every trainer made (``threads`` collects
    their ``n_threads``)."""
    used = []
    threads = [] if threads is None else threads
    real_init = DataParallel.__init__

    def init(self, network, n_threads=1, limit_blas=None, compress_rows=False, **kw):
        used.append(compress_rows)
        threads.append(n_threads)
        real_init(self, network, n_threads, limit_blas, compress_rows, **kw)

    monkeypatch.setattr(DataParallel, "__init__", init)
    return used


@pytest.mark.parametrize("split", [False, True], ids=["one_thread", "two_threads"])
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_estimators_train_the_same_with_and_without_compression(
    monkeypatch, solver, split
):
    X = _mostly_zeros(600, 100, 0.15)
    y = (X[:, :10].sum(axis=1) > X[:, 10:20].sum(axis=1)).astype(int)
    w = np.random.default_rng(7).uniform(0.5, 2, 600)
    threads = []
    used = _spy_compressed_trainers(monkeypatch, threads)
    if split:
        monkeypatch.setattr(parallel, "MIN_COMPRESSED_BATCH_WORK", 0)
        monkeypatch.setattr(parallel, "available_threads", lambda: 2)
    params = dict(
        hidden_layer_sizes=(128,),
        solver=solver,
        batch_size=100,
        max_iter=30,
        learning_rate_init=0.01,
        random_state=0,
    )
    clf = ScratchMLPClassifier(**params).fit(X, y, sample_weight=w)
    assert used == [True]
    assert threads == [2 if split else 1]
    monkeypatch.setattr(compressed, "MAX_DENSITY", 0.0)
    dense = ScratchMLPClassifier(**params).fit(X, y, sample_weight=w)
    assert used == [True, False]
    for a, b in zip(
        clf.coefs_ + clf.intercepts_, dense.coefs_ + dense.intercepts_, strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(clf.loss_curve_, dense.loss_curve_, rtol=1e-9)
    assert clf.score(X, y) > 0.85  # chance: 0.5


def test_large_predictions_split_and_compress(monkeypatch):
    X = _mostly_zeros(3000, 100, 0.2, np.float32)
    y = X[:, :10].sum(axis=1)
    reg = ScratchMLPRegressor(hidden_layer_sizes=(128,), max_iter=5, random_state=0)
    reg.fit(X, y)
    expected = reg._network_for_training().predict(X, reg.out_activation_)
    used = _spy_compressed_trainers(monkeypatch)
    monkeypatch.setattr(_engines, "MIN_SPLIT_PREDICT_ROWS", 1000)
    monkeypatch.setattr(_engines, "available_threads", lambda: 2)
    np.testing.assert_allclose(reg.predict(X), expected.ravel(), rtol=1e-5, atol=1e-6)
    assert used == [True]
    # Below the threshold, or on dense rows, the plain path.
    reg.predict(X[:999])
    reg.predict(X + 1)
    assert used == [True]


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_large_predictions_check_the_values_as_they_compress(monkeypatch, value):
    # No separate pass over X: the compression finds the bad value, and the
    # error is scikit-learn's, as for a small X.
    X = _mostly_zeros(3000, 100, 0.2, np.float32)
    clf = ScratchMLPClassifier(hidden_layer_sizes=(128,), max_iter=2, random_state=0)
    clf.fit(X, (X[:, 0] > 0).astype(int))
    monkeypatch.setattr(_engines, "MIN_SPLIT_PREDICT_ROWS", 1000)
    monkeypatch.setattr(_engines, "available_threads", lambda: 2)
    passes = []
    real_check = _base._assert_finite

    def counted_check(*args):
        passes.append(1)
        real_check(*args)

    monkeypatch.setattr(_base, "_assert_finite", counted_check)
    clf.predict_proba(X)
    assert passes == []
    bad = X.copy()
    bad[2999, 99] = value
    word = "NaN" if np.isnan(value) else "infinity"
    for method in (clf.predict, clf.predict_proba, clf.predict_log_proba):
        with pytest.raises(ValueError, match=f"Input X contains {word}") as info:
            method(bad)
        assert info.value.__cause__ is None
        with pytest.raises(ValueError, match=f"Input X contains {word}"):
            method(bad[-999:])  # the plain path


def test_early_stopping_and_partial_fit_on_compressed_rows(monkeypatch):
    # The validation predictions go through the trainer (compressed too),
    # and partial_fit decides per call: the same numbers as the dense path.
    X = _mostly_zeros(800, 100, 0.15)
    y = (X[:, :10].sum(axis=1) > X[:, 10:20].sum(axis=1)).astype(int)
    params = dict(hidden_layer_sizes=(128,), batch_size=100, random_state=0)
    used = _spy_compressed_trainers(monkeypatch)
    runs = []
    for max_density in (compressed.MAX_DENSITY, 0.0):
        monkeypatch.setattr(compressed, "MAX_DENSITY", max_density)
        stopped = ScratchMLPClassifier(
            early_stopping=True, max_iter=15, n_iter_no_change=100, **params
        ).fit(X, y)
        incremental = ScratchMLPClassifier(**params)
        for start in range(0, 800, 400):
            batch = slice(start, start + 400)
            incremental.partial_fit(X[batch], y[batch], classes=[0, 1])
        runs.append((stopped, incremental))
    assert used == [True, True, True, False, False, False]
    (a, b), (c, d) = runs
    np.testing.assert_allclose(a.validation_scores_, c.validation_scores_)
    np.testing.assert_allclose(a.loss_curve_, c.loss_curve_, rtol=1e-9)
    np.testing.assert_allclose(b.coefs_[0], d.coefs_[0], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_training_on_compressed_rows_rejects_non_finite_values(monkeypatch, method):
    """The first epoch checks the rows as it compresses them: a bad value in
    a late batch raises scikit-learn's error and leaves the model as it was."""
    X = _mostly_zeros(600, 100, 0.15)
    y = (X[:, :10].sum(axis=1) > X[:, 10:20].sum(axis=1)).astype(int)
    used = _spy_compressed_trainers(monkeypatch)
    clf = ScratchMLPClassifier(
        hidden_layer_sizes=(64,), batch_size=100, max_iter=3, random_state=0
    ).fit(X, y)
    before = [a.copy() for a in clf.coefs_ + clf.intercepts_]
    proba = clf.predict_proba(X)
    bad = X.copy()
    bad[450, 3] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        getattr(clf, method)(bad, y)
    assert used == [True, True]
    for a, b in zip(clf.coefs_ + clf.intercepts_, before, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(clf.predict_proba(X), proba)
