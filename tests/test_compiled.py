"""The compiled optimizer kernels against the NumPy code they replace.

:mod:`skscratch.core.compiled` promises the NumPy code's numbers bit for bit;
these tests hold it to that, on raw vectors, through blocks (as the
data-parallel trainer's threads update them) and through whole fits. They
need Numba (the ``fast`` extra), except the last one, which checks what a
machine without it gets.
"""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits

from skscratch import ScratchMLPClassifier
from skscratch.core import SGD, Adam, AdamW, build_mlp, compiled

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
        if use_compiled:
            # In two blocks, as the data-parallel trainer's threads do.
            optimizer.update(params, g, slice(0, 512))
            optimizer.update(params, g, slice(512, None))
        else:
            with compiled.disabled():
                optimizer.update(params, g)
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
def test_kernels_compile_without_a_disk_cache(monkeypatch):
    # Numba refuses to cache when it finds no writable directory; the kernels
    # are then compiled in each process instead.
    import numba

    real_njit = numba.njit

    def njit(**options):
        if options.get("cache"):
            raise RuntimeError("cannot cache function: no locator available")
        return real_njit(**options)

    monkeypatch.setattr(numba, "njit", njit)
    kernels = compiled._build_kernels()
    grads = np.ones(3)
    kernels["l2_gradient"](grads, np.full(3, 2.0), 0.25)
    np.testing.assert_array_equal(grads, 1.5)


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
