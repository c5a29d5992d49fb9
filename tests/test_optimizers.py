"""Optimizer steps checked against values computed by hand.

Every test runs twice: with the optimizers' NumPy code, and with the
compiled kernels of :mod:`skscratch.core.compiled` (skipped when Numba is not
installed), which must give the same numbers.
"""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits

from skscratch import ScratchMLPClassifier
from skscratch.core import (
    SGD,
    Adam,
    AdamW,
    LearningRateSchedule,
    RMSprop,
    compiled,
    make_optimizer,
)

NEEDS_NUMBA = "needs the fast extra: pip install 'skscratch[fast]'"


@pytest.fixture(autouse=True, params=["numpy", "compiled"])
def optimizer_code(request):
    """Which implementation of the update rules the test runs."""
    if request.param == "numpy":
        with compiled.disabled():
            yield request.param
    else:
        if not compiled.available():
            pytest.skip(NEEDS_NUMBA)
        yield request.param


def _run(optimizer, params, gradients):
    for g in gradients:
        optimizer.step(params, np.asarray(g, dtype=params.dtype))
    return params


def test_sgd_classical_momentum_two_steps():
    # v1 = -0.1 g = [-0.05, 0.1];              p1 = [0.95, 2.1]
    # v2 = 0.9 v1 - 0.1 g = [-0.095, 0.19];    p2 = [0.855, 2.29]
    params = np.array([1.0, 2.0])
    opt = SGD(params, learning_rate_init=0.1, momentum=0.9, nesterov=False)
    _run(opt, params, [[0.5, -1.0]])
    np.testing.assert_allclose(params, [0.95, 2.1])
    _run(opt, params, [[0.5, -1.0]])
    np.testing.assert_allclose(params, [0.855, 2.29])
    np.testing.assert_allclose(opt.velocity, [-0.095, 0.19])


def test_sgd_nesterov_momentum_two_steps():
    # step 1: v = [-0.05, 0.1]; p += 0.9 v - 0.1 g = [-0.095, 0.19]
    # step 2: v = [-0.095, 0.19]; p += 0.9 v - 0.1 g = [-0.1355, 0.271]
    params = np.array([1.0, 2.0])
    opt = SGD(params, learning_rate_init=0.1, momentum=0.9, nesterov=True)
    _run(opt, params, [[0.5, -1.0]])
    np.testing.assert_allclose(params, [0.905, 2.19])
    _run(opt, params, [[0.5, -1.0]])
    np.testing.assert_allclose(params, [0.7695, 2.461])


def test_sgd_without_momentum_is_plain_gradient_descent():
    params = np.array([3.0])
    opt = SGD(params, learning_rate_init=0.5, momentum=0.0)
    _run(opt, params, [[2.0], [2.0]])
    np.testing.assert_allclose(params, [1.0])


def test_adam_two_steps():
    # Step 1 with bias correction moves by exactly lr (minus the epsilon effect):
    # m = 0.05, v = 0.00025, lr_1 = 0.1 sqrt(0.001) / 0.1, update 0.1.
    # Step 2 with g = -1: m = -0.055, v = 0.00124975,
    # lr_2 = 0.1 sqrt(1 - 0.999^2) / (1 - 0.9^2) = 0.0235316725...
    params = np.array([1.0])
    opt = Adam(params, learning_rate_init=0.1)
    _run(opt, params, [[0.5]])
    assert params[0] == pytest.approx(0.9000000632455132, rel=1e-12)
    _run(opt, params, [[-1.0]])
    assert params[0] == pytest.approx(0.9366104055930933, rel=1e-12)
    assert opt.m[0] == pytest.approx(-0.055)
    assert opt.v[0] == pytest.approx(0.00124975)
    # The stored decayed sums: m / (1 - beta_1) and v / (1 - beta_2).
    assert opt.grad_sum[0] == pytest.approx(-0.55)
    assert opt.sq_grad_sum[0] == pytest.approx(1.24975)
    assert opt.learning_rate == pytest.approx(0.023531672532745275)
    assert opt.t == 2


def test_optimizers_update_in_place_and_keep_float32():
    for solver in ("sgd", "adam"):
        params = np.ones(5, dtype=np.float32)
        opt = make_optimizer(solver, params, learning_rate_init=0.01)
        before = params.ctypes.data
        opt.step(params, np.full(5, 0.3, dtype=np.float32))
        assert params.dtype == np.float32
        assert params.ctypes.data == before
        assert (params < 1).all()


def test_invscaling_schedule():
    sched = LearningRateSchedule(0.1, "invscaling", power_t=0.5)
    sched.iteration_ends(99)
    assert sched.learning_rate == pytest.approx(0.01)
    assert not sched.reduce_on_plateau()


def test_adaptive_schedule_divides_by_five_until_tiny():
    sched = LearningRateSchedule(1e-4, "adaptive")
    assert sched.reduce_on_plateau()
    assert sched.learning_rate == pytest.approx(2e-5)
    steps = 1
    while sched.reduce_on_plateau():
        steps += 1
    assert sched.learning_rate <= 1e-6
    assert steps == 3  # 2e-5, 4e-6, 8e-7, then stop


def test_constant_schedule_never_changes():
    sched = LearningRateSchedule(0.3, "constant")
    sched.iteration_ends(1000)
    assert sched.learning_rate == 0.3
    assert not sched.reduce_on_plateau()


def test_sgd_uses_its_schedule():
    params = np.zeros(1)
    opt = SGD(params, learning_rate_init=1.0, lr_schedule="invscaling", momentum=0.0)
    opt.iteration_ends(3)
    opt.step(params, np.array([1.0]))
    np.testing.assert_allclose(params, [-0.5])  # lr = 1 / sqrt(4)


def test_unknown_solver_and_schedule_are_rejected():
    with pytest.raises(ValueError, match="Unknown stochastic solver"):
        make_optimizer("rmsprop_typo", np.zeros(2))
    with pytest.raises(ValueError, match="Unknown learning rate schedule"):
        LearningRateSchedule(0.1, "cyclic")


def test_rmsprop_two_steps():
    # Step 1: S = g^2 = 0.25, v_hat = 0.1 * 0.25 / 0.1 = 0.25: a step of lr.
    # Step 2 (g = -1): S = 0.9 * 0.25 + 1 = 1.225,
    # v_hat = 0.1 * 1.225 / (1 - 0.81) = 0.6447..., step = 0.1 / 0.80296.
    from skscratch.core import RMSprop

    params = np.array([1.0])
    opt = RMSprop(params, learning_rate_init=0.1, rho=0.9)
    _run(opt, params, [[0.5]])
    assert params[0] == pytest.approx(0.900000002, rel=1e-12)
    _run(opt, params, [[-1.0]])
    assert params[0] == pytest.approx(1.0245399702644273, rel=1e-12)
    assert opt.v[0] == pytest.approx(0.1225)


def test_adamw_decays_weights_not_biases():
    # Entry 0 is a weight (n_decayed=1), entry 1 a bias. Shrink factor
    # lr * weight_decay = 0.1 * 0.5, then the same Adam step for both.
    from skscratch.core import AdamW

    params = np.array([1.0, 2.0])
    opt = AdamW(params, learning_rate_init=0.1, n_decayed=1)
    opt.begin_step(weight_decay=0.5)
    opt.update(params, np.array([0.5, 0.5]))
    np.testing.assert_allclose(
        params, [0.8500000632455131, 1.9000000632455132], rtol=1e-12
    )
    assert opt.decoupled_weight_decay and not Adam.decoupled_weight_decay


def test_adamw_and_rmsprop_follow_their_schedule():
    from skscratch.core import AdamW, RMSprop

    for cls in (AdamW, RMSprop):
        opt = cls(np.zeros(3), learning_rate_init=0.1, lr_schedule="invscaling")
        opt.iteration_ends(99)
        assert opt.schedule.learning_rate == pytest.approx(0.01)
        adaptive = cls(np.zeros(3), learning_rate_init=0.1, lr_schedule="adaptive")
        assert adaptive.reduce_on_plateau()
        assert adaptive.schedule.learning_rate == pytest.approx(0.02)


def test_block_updates_equal_a_whole_update():
    """Updating two blocks is the same as updating the whole vector (what
    the data-parallel trainer relies on)."""
    rng = np.random.default_rng(0)
    for cls in (SGD, Adam, AdamW, RMSprop):
        whole, split = rng.normal(size=50), None
        split = whole.copy()
        grads = rng.normal(size=50)
        a, b = cls(whole, learning_rate_init=0.05), cls(split, learning_rate_init=0.05)
        for _ in range(3):
            a.begin_step(weight_decay=0.1)
            a.update(whole, grads)
            b.begin_step(weight_decay=0.1)
            b.update(split, grads, slice(0, 20))
            b.update(split, grads, slice(20, 50))
        np.testing.assert_array_equal(whole, split)


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
def test_compiled_kernels_give_the_numpy_code_bit_for_bit(make, dtype, optimizer_code):
    if optimizer_code == "numpy":
        pytest.skip("compares the two implementations once")
    ours, opt_a = _trajectory(make, dtype, use_compiled=True)
    reference, opt_b = _trajectory(make, dtype, use_compiled=False)
    assert ours.dtype == dtype
    np.testing.assert_array_equal(ours, reference)
    for name in ("grad_sum", "sq_grad_sum", "velocity"):
        if hasattr(opt_a, name):
            np.testing.assert_array_equal(getattr(opt_a, name), getattr(opt_b, name))


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_compiled_kernels_train_the_same_estimator(solver, optimizer_code):
    if optimizer_code == "numpy":
        pytest.skip("compares the two implementations once")
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


def test_compiled_switches(monkeypatch, optimizer_code):
    if optimizer_code == "numpy":
        pytest.skip("checks the switches once")
    assert compiled.enabled()
    assert compiled.kernel("adam") is not None
    with compiled.disabled():
        with compiled.disabled():
            assert not compiled.enabled()
        assert not compiled.enabled()
        assert compiled.kernel("sgd") is None
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
    assert compiled.kernel("adam") is None
    params = np.ones(4)
    Adam(params, 0.1).step(params, np.ones(4))
    np.testing.assert_allclose(params, 0.9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_l2_gradient_gives_the_numpy_code_bit_for_bit(dtype, optimizer_code):
    from skscratch.core import build_mlp

    if optimizer_code == "numpy":
        pytest.skip("compares the two implementations once")
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
