"""Optimizer steps checked against values computed by hand.

Every test runs twice: with the optimizers' NumPy code, and with the
compiled kernels of :mod:`skscratch.core.compiled` (skipped when Numba is not
installed), which must give the same numbers.
"""

import numpy as np
import pytest

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


def test_penalty_gradient_is_added_before_the_rule():
    # SGD without momentum, lr 0.1, penalty 0.5 on the first entry only:
    # g0 = 0.2 + 0.5 * 1.0 = 0.7 -> p0 = 1 - 0.07 = 0.93; g1 = 0.2 -> p1 = 1.98.
    params = np.array([1.0, 2.0])
    grads = np.array([0.2, 0.2])
    opt = SGD(params, learning_rate_init=0.1, momentum=0.0)
    opt.begin_step()
    opt.update(params, grads, penalty=0.5, n_penalised=1)
    np.testing.assert_allclose(params, [0.93, 1.98])
    # The gradient vector holds the penalised gradient afterwards.
    np.testing.assert_allclose(grads, [0.7, 0.2])


@pytest.mark.parametrize("cls", [SGD, Adam, AdamW, RMSprop])
def test_penalised_update_equals_adding_the_gradient_first(cls):
    """In blocks that straddle the end of the penalised part, as the
    data-parallel trainer's threads call it."""
    rng = np.random.default_rng(0)
    start = rng.normal(size=50)
    grads = rng.normal(size=(3, 50))
    fused, reference = start.copy(), start.copy()
    a, b = cls(fused, learning_rate_init=0.05), cls(reference, learning_rate_init=0.05)
    for g in grads:
        a.begin_step(weight_decay=0.1)
        ga = g.copy()
        a.update(fused, ga, slice(0, 20), penalty=0.3, n_penalised=30)
        a.update(fused, ga, slice(20, 50), penalty=0.3, n_penalised=30)
        b.begin_step(weight_decay=0.1)
        gb = g.copy()
        gb[:30] += reference[:30] * 0.3
        b.update(reference, gb)
        np.testing.assert_array_equal(ga, gb)
    np.testing.assert_array_equal(fused, reference)


@pytest.mark.parametrize("cls", [SGD, Adam, AdamW, RMSprop])
def test_a_tentative_step_that_is_called_off_leaves_no_trace(cls):
    """The data-parallel trainer begins a step before it knows whether
    every thread's share succeeded; undone, the next steps are those of an
    optimizer that never began it."""
    rng = np.random.default_rng(0)
    grads = [rng.normal(size=6) for _ in range(3)]
    params = rng.normal(size=6)
    reference = params.copy()
    called_off = cls(params, learning_rate_init=0.05)
    plain = cls(reference, learning_rate_init=0.05)
    for g in grads:
        undo = called_off.begin_step_tentatively(weight_decay=0.1)
        undo()
        called_off.begin_step_tentatively(weight_decay=0.1)
        called_off.update(params, g)
        plain.begin_step(weight_decay=0.1)
        plain.update(reference, g)
    np.testing.assert_array_equal(params, reference)
    assert getattr(called_off, "t", 3) == getattr(plain, "t", 3) == 3
