"""The compiled kernels against the NumPy code they replace.

:mod:`skscratch.core.compiled` promises the NumPy code's numbers bit for bit;
these tests hold it to that: the optimizers on raw vectors, through blocks (as
the data-parallel trainer's threads update them) and with the L2 penalty's
gradient folded in; the forward pass's bias, relu and softmax, including
NaN, infinities and signed zeros; and whole fits. They need Numba (the
``fast`` extra), except the ones that check what a machine without it gets.
"""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits

from skscratch import ScratchMLPClassifier
from skscratch.core import SGD, Adam, AdamW, Dense, build_mlp, compiled, get_activation
from skscratch.core.activations import MAX_ROW_MAX_KERNEL_COLUMNS

needs_numba = pytest.mark.skipif(
    not compiled.available(),
    reason="needs the fast extra: pip install 'skscratch[fast]'",
)


def _trajectory(make, dtype, use_compiled):
    rng = np.random.default_rng(0)
    params = rng.normal(size=1001).astype(dtype)
    optimizer = make(params)
    gradients = np.random.default_rng(1)
    for _ in range(25):
        g = gradients.normal(size=params.size).astype(dtype)
        optimizer.begin_step(weight_decay=1e-2)
        # An L2 penalty on the first 700 entries (a network's weights).
        penalty = dict(penalty=0.25, n_penalised=700)
        if use_compiled:
            # In two blocks, as the data-parallel trainer's threads do; the
            # first ends inside the penalised part.
            optimizer.update(params, g, slice(0, 512), **penalty)
            optimizer.update(params, g, slice(512, None), **penalty)
        else:
            with compiled.disabled():
                optimizer.update(params, g, **penalty)
    return params, optimizer


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "make",
    [
        lambda p: Adam(p, 1e-3),
        lambda p: Adam(p, 0.05, beta_1=0.0, beta_2=0.5, epsilon=1e-3),
        lambda p: AdamW(p, 1e-3, n_decayed=600),
        lambda p: SGD(p, 0.1, momentum=0.9, nesterov=True),
        lambda p: SGD(p, 0.1, momentum=0.5, nesterov=False),
        lambda p: SGD(p, 0.1, momentum=0.0),
    ],
    ids=["adam", "adam-other-betas", "adamw", "nesterov", "momentum", "plain"],
)
def test_compiled_kernels_give_the_numpy_code_bit_for_bit(make, dtype):
    ours, opt_a = _trajectory(make, dtype, use_compiled=True)
    reference, opt_b = _trajectory(make, dtype, use_compiled=False)
    assert ours.dtype == dtype
    np.testing.assert_array_equal(ours, reference)
    for name in ("grad_sum", "sq_grad_sum", "velocity"):
        if hasattr(opt_a, name):
            np.testing.assert_array_equal(getattr(opt_a, name), getattr(opt_b, name))


@needs_numba
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_compiled_kernels_train_the_same_estimator(solver):
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    params = dict(hidden_layer_sizes=(32,), solver=solver, max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = ScratchMLPClassifier(**params).fit(X, y)
        with compiled.disabled():
            reference = ScratchMLPClassifier(**params).fit(X, y)
    for a, b in zip(
        fast.coefs_ + fast.intercepts_,
        reference.coefs_ + reference.intercepts_,
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
    assert fast.loss_curve_ == reference.loss_curve_


@needs_numba
def test_without_a_writable_cache_the_kernels_cache_in_a_private_directory(
    monkeypatch, tmp_path
):
    # Numba refuses to cache when it finds no writable directory (a read-only
    # install and home directory): the kernels then cache in one of the
    # temporary directory's, instead of compiling in every process.
    import numba

    real_njit = numba.njit

    def njit(*args, **options):
        if options.get("cache") and not numba.config.CACHE_DIR:
            raise RuntimeError("cannot cache function: no locator available")
        return real_njit(*args, **options)

    monkeypatch.setattr(numba, "njit", njit)
    monkeypatch.setattr(numba.config, "CACHE_DIR", "")  # NUMBA_CACHE_DIR unset
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kernels = compiled._build_kernels()
    assert not numba.config.CACHE_DIR  # as it was: other code's caches stay
    grads = np.ones(3)
    kernels["l2_gradient"](grads, np.full(3, 2.0), 0.25)
    np.testing.assert_array_equal(grads, 1.5)
    assert list(tmp_path.glob("skscratch-numba-*/**/*l2_gradient*.nbi"))


@needs_numba
def test_other_dtypes_run_the_numpy_code():
    assert compiled.kernel("adam", np.float16) is None
    params = np.ones(4, dtype=np.float16)
    Adam(params, 0.1).step(params, np.ones(4, dtype=np.float16))
    assert params.dtype == np.float16
    np.testing.assert_allclose(params, 0.9, rtol=1e-3)


@needs_numba
def test_compiled_switches(monkeypatch):
    assert compiled.enabled()
    assert compiled.kernel("adam", np.float32) is not None
    with compiled.disabled():
        with compiled.disabled():
            assert not compiled.enabled()
        assert not compiled.enabled()
        assert compiled.kernel("sgd", np.float64) is None
    assert compiled.enabled()
    monkeypatch.setenv(compiled.ENV_VAR, "0")
    assert not compiled.enabled()
    monkeypatch.setenv(compiled.ENV_VAR, "1")
    assert compiled.enabled()


@needs_numba
def test_environment_is_read_when_a_fit_or_prediction_starts(monkeypatch, iris):
    # Kernel lookups use the value read last (reading the environment at
    # each of a training step's lookups cost more than the lookup itself);
    # every fit, partial_fit and prediction reads it again.
    X, y = iris
    compiled.read_environment()
    monkeypatch.setenv(compiled.ENV_VAR, "0")
    assert compiled.kernel("adam", np.float64) is not None  # not read yet
    clf = ScratchMLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, y)
    assert compiled.kernel("adam", np.float64) is None
    monkeypatch.setenv(compiled.ENV_VAR, "1")
    clf.predict(X)
    assert compiled.kernel("adam", np.float64) is not None
    monkeypatch.delenv(compiled.ENV_VAR)
    assert compiled.enabled()  # enabled() reads it too


def test_without_numba_the_numpy_code_runs(monkeypatch):
    # What a machine without Numba sees: no kernels, and optimizers that
    # still step.
    monkeypatch.setattr(compiled, "_kernels", False)
    assert not compiled.available()
    assert not compiled.enabled()
    assert compiled.kernel("adam", np.float64) is None
    params = np.ones(4)
    Adam(params, 0.1).step(params, np.ones(4))
    np.testing.assert_allclose(params, 0.9)


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_l2_gradient_gives_the_numpy_code_bit_for_bit(dtype):
    results = []
    for use_compiled in (True, False):
        net = build_mlp([7, 5, 3], "relu", dtype=dtype)
        net.initialize(np.random.default_rng(0))
        net.grads[:] = np.random.default_rng(1).normal(size=net.n_params)
        if use_compiled:
            value = net.add_penalty(0.37, slice(3, None))
        else:
            with compiled.disabled():
                value = net.add_penalty(0.37, slice(3, None))
        results.append((value, net.grads.copy()))
    assert results[0][0] == results[1][0]
    np.testing.assert_array_equal(results[0][1], results[1][1])


def _both(fn):
    """``fn()`` with the kernels, then with the NumPy code."""
    fast = fn()
    with compiled.disabled():
        reference = fn()
    return fast, reference


def _kernels_requested(monkeypatch, fn):
    """The names of the kernels ``fn()`` asks :func:`compiled.kernel_for` for."""
    names = []
    real = compiled.kernel_for

    def spy(name, *arrays):
        names.append(name)
        return real(name, *arrays)

    monkeypatch.setattr(compiled, "kernel_for", spy)
    fn()
    monkeypatch.setattr(compiled, "kernel_for", real)
    return names


def _assert_same_bits(a, b):
    assert a.dtype == b.dtype and a.shape == b.shape
    # Compares NaN payloads and the sign of zeros too.
    np.testing.assert_array_equal(a.view(f"u{a.itemsize}"), b.view(f"u{b.itemsize}"))


def _awkward(dtype, shape):
    """Values with NaN, infinities, both zeros and ties in some rows."""
    z = np.random.default_rng(0).normal(size=shape).astype(dtype)
    z[0, :3] = [np.nan, np.inf, -np.inf]
    z[1, :] = -np.inf
    z[2, :] = 0.0
    z[2, ::2] = -0.0
    z[3, :] = 7.0
    z[4, -1] = np.nan
    z[5, :2] = np.inf
    return z


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("in_place", [True, False])
@pytest.mark.parametrize("with_mask", [True, False], ids=["training", "inference"])
def test_relu_kernels_give_the_numpy_code_bit_for_bit(dtype, in_place, with_mask):
    relu = get_activation("relu")

    def run():
        z = _awkward(dtype, (9, 37))
        out = z if in_place else np.empty_like(z)
        mask = np.full_like(z, 5.0)
        with np.errstate(invalid="ignore"):  # relu(-inf) = -inf * 0 is NaN
            relu.forward(z, out=out, derivative=mask if with_mask else None)
        return np.concatenate([out, mask, z])

    _assert_same_bits(*_both(run))


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("in_place", [True, False])
@pytest.mark.parametrize("n_columns", [10, MAX_ROW_MAX_KERNEL_COLUMNS])
def test_softmax_kernel_gives_the_numpy_code_bit_for_bit(
    dtype, in_place, n_columns, monkeypatch
):
    softmax = get_activation("softmax")

    def run():
        z = _awkward(dtype, (8, n_columns))
        out = z if in_place else np.empty_like(z)
        with np.errstate(all="ignore"):
            return softmax.forward(z, out=out).copy()

    fast, reference = _both(run)
    _assert_same_bits(fast, reference)
    assert "subtract_row_max" in _kernels_requested(monkeypatch, run)
    assert np.isnan(fast[[0, 1, 4]]).all()  # NaN or all -inf rows
    np.testing.assert_allclose(fast[6:].sum(axis=1), 1, rtol=1e-6)


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bias_kernel_gives_the_numpy_code_bit_for_bit(dtype, monkeypatch):
    def run():
        layer = Dense(6, 11, dtype=dtype)
        rng = np.random.default_rng(0)
        layer.W[...] = rng.normal(size=layer.W.shape)
        layer.b[...] = rng.normal(size=layer.b.shape)
        layer.b[0] = np.inf
        return layer.forward(rng.normal(size=(500, 6)).astype(dtype)).copy()

    _assert_same_bits(*_both(run))
    assert "add_bias" in _kernels_requested(monkeypatch, run)


def test_wide_softmax_rows_use_the_numpy_code(monkeypatch):
    # Where the kernel was measured slower (see the constant's comment).
    z = np.zeros((3, MAX_ROW_MAX_KERNEL_COLUMNS + 1))
    softmax = get_activation("softmax")
    requested = _kernels_requested(monkeypatch, lambda: softmax.forward(z, out=z))
    assert "subtract_row_max" not in requested
    np.testing.assert_allclose(z, 1 / z.shape[1])


@needs_numba
def test_kernels_are_only_used_on_contiguous_arrays_of_one_dtype():
    a = np.zeros((4, 6))
    assert compiled.kernel_for("relu_with_mask", a, np.zeros((4, 6))) is not None
    assert compiled.kernel_for("relu_with_mask", a[:, ::2], np.zeros((4, 3))) is None
    assert compiled.kernel_for("relu_with_mask", a, a.astype(np.float32)) is None
    assert compiled.kernel_for("relu", a.astype(np.float16)) is None
    # And the layers still compute on such arrays, with NumPy.
    relu = get_activation("relu")
    z = np.arange(-6.0, 6.0).reshape(3, 4)[:, ::2]
    mask = np.empty_like(z)
    out = relu.forward(z, out=np.empty_like(z), derivative=mask)
    np.testing.assert_array_equal(out, np.maximum(z, 0))
    np.testing.assert_array_equal(mask, z > 0)
    np.testing.assert_array_equal(relu.forward(z, np.empty_like(z)), out)


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_kernel_skips_subnormal_squares_without_changing_a_bit(dtype):
    # Gradients whose squares are subnormal (what the L2 term leaves on
    # weights that no data moves), against sums of squares on both sides
    # of the bound below which the kernel still adds them.
    square_min, sum_min = compiled.adam_square_bounds(np.dtype(dtype))
    info = np.finfo(dtype)
    tiny_g = [square_min, square_min * 0.75, -square_min / 3, info.tiny, 0.0, -0.0]
    sums = [0.0, info.tiny, sum_min, sum_min * 0.99, sum_min * 1.01, 1e-3]
    grads = np.array([g for g in tiny_g for _ in sums] + [np.nan, np.inf, 0.1], dtype)
    sq_sums = np.array([s for _ in tiny_g for s in sums] + [1e-3] * 3, dtype)
    rng = np.random.default_rng(0)
    start = rng.normal(size=grads.size).astype(dtype)

    def run():
        params = start.copy()
        optimizer = Adam(params, 1e-3)
        optimizer.sq_grad_sum[:] = sq_sums
        optimizer.grad_sum[:] = grads
        with np.errstate(all="ignore"):
            for _ in range(3):
                optimizer.begin_step()
                optimizer.update(params, grads.copy(), penalty=0.5, n_penalised=4)
        return np.concatenate([params, optimizer.grad_sum, optimizer.sq_grad_sum])

    fast, reference = _both(run)
    _assert_same_bits(fast, reference)


@needs_numba
def test_long_adam_run_with_subnormal_squares_matches_the_numpy_code():
    # Digits has blank pixels: their weights feel only the L2 term, shrink
    # fast under Adam, and after a thousand steps their gradients square to
    # subnormal numbers, the case adam_loop shortcuts.
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    params = dict(hidden_layer_sizes=(16,), batch_size=16, max_iter=12, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = ScratchMLPClassifier(**params).fit(X, y)
        with compiled.disabled():
            reference = ScratchMLPClassifier(**params).fit(X, y)
    square_min, _ = compiled.adam_square_bounds(np.dtype(np.float32))
    penalty_gradient = np.abs(fast.coefs_[0]) * (fast.alpha / 16)
    assert (penalty_gradient < square_min).sum() > 30  # the case was met
    for a, b in zip(
        fast.coefs_ + fast.intercepts_,
        reference.coefs_ + reference.intercepts_,
        strict=True,
    ):
        _assert_same_bits(a, b)
    assert fast.loss_curve_ == reference.loss_curve_


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [0, 1, 63, 64, 65, 1000])
def test_all_finite_kernel_finds_every_non_finite_value(dtype, size):
    check = compiled.kernel("all_finite", dtype)
    values = np.random.default_rng(0).normal(size=size).astype(dtype)
    assert check(values)
    for position in range(size):  # every lane of the blocks, and the tail
        for bad in (np.nan, np.inf, -np.inf):
            spoiled = values.copy()
            spoiled[position] = bad
            assert not check(spoiled)
    # The largest finite values and signed zeros are finite: no overflow.
    finfo = np.finfo(dtype)
    assert check(np.array([finfo.max, -finfo.max, finfo.tiny / 2, -0.0] * 50, dtype))


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index_dtype", [np.int32, np.intp])
def test_take_rows_kernel_copies_rows_and_finds_every_non_finite_value(
    dtype, index_dtype
):
    take = compiled.kernel("take_rows", dtype)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 37)).astype(dtype)  # rows not a multiple of a lane
    rows = rng.permutation(50)[:20].astype(index_dtype)
    out = np.full((20, 37), -1, dtype)
    assert take(X, rows, out)
    _assert_same_bits(out, X[rows])
    for i, j in [(0, 0), (7, 18), (19, 36)]:  # first, middle, last value taken
        for bad in (np.nan, np.inf, -np.inf):
            spoiled = X.copy()
            spoiled[rows[i], j] = bad
            assert not take(spoiled, rows, out)
            _assert_same_bits(out, spoiled[rows])
    # A bad value in a row not taken goes unseen, as it should.
    spoiled = X.copy()
    spoiled[np.setdiff1d(np.arange(50), rows)[0], 0] = np.nan
    assert take(spoiled, rows, out)
    # The largest finite values and signed zeros are finite: no overflow, even
    # though this kernel alone may regroup its sum.
    finfo = np.finfo(dtype)
    extreme = np.array([finfo.max, -finfo.max, finfo.tiny / 2, -0.0] * 100, dtype)
    extreme = extreme.reshape(20, 20)
    assert take(extreme, np.arange(20, dtype=index_dtype), np.empty_like(extreme))
