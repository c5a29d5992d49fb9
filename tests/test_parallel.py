"""Data-parallel evaluation gives the serial results, whatever the threads."""

from contextlib import ExitStack

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from skscratch import ScratchMLPClassifier, ScratchMLPRegressor
from skscratch.core import SGD, Adam, build_mlp, compiled
from skscratch.core import parallel as par
from skscratch.core.parallel import DataParallel, available_threads, plan_threads
from skscratch.core.rows import NonFiniteRowsError, checks_while_taking, take_rows


def _problem(n=300, n_features=12, n_outputs=4, seed=0):
    rng = np.random.default_rng(seed)
    net = build_mlp([n_features, 32, 16, n_outputs], "tanh")
    net.initialize(rng)
    X = rng.normal(size=(n, n_features))
    Y = np.eye(n_outputs)[rng.integers(0, n_outputs, n)]
    sw = rng.random(n) + 0.5
    return net, X, Y, sw


# One thread takes a direct path of its own; two and three split the work.
@pytest.mark.parametrize("n_threads", [1, 2, 3])
@pytest.mark.parametrize("rows", ["all", "slice", "indices"])
def test_objective_and_gradient_match_the_serial_ones(n_threads, rows):
    net, X, Y, sw = _problem()
    selection = {
        "all": None,
        "slice": slice(20, 250),
        "indices": np.random.default_rng(1).permutation(300)[:200],
    }[rows]
    if selection is None:
        X_ref, Y_ref, sw_ref = X, Y, sw
    else:
        X_ref, Y_ref, sw_ref = X[selection], Y[selection], sw[selection]
    expected = net.loss_and_gradient(X_ref, Y_ref, "log_loss", 0.3, sw_ref)
    expected_grads = net.grads.copy()
    net.grads[...] = np.nan  # the parallel run must overwrite every entry
    with DataParallel(net, n_threads) as dp:
        value = dp.loss_and_gradient(
            X, Y, "log_loss", alpha=0.3, sample_weight=sw, rows=selection
        )
    assert value == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(net.grads, expected_grads, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("kernels", [True, False], ids=["compiled", "numpy"])
@pytest.mark.parametrize("n_threads", [1, 2, 3])
@pytest.mark.parametrize("optimizer_class", [Adam, SGD])
def test_optimizer_steps_match_the_serial_ones(
    optimizer_class, n_threads, kernels, monkeypatch
):
    # Each thread sums and updates its block of the parameters in the same
    # task as its forward and backward pass: one task per worker and batch,
    # with the compiled optimizer step and with NumPy's.
    if kernels and not compiled.available():
        pytest.skip("needs the fast extra: pip install 'skscratch[fast]'")
    serial_net, X, Y, _ = _problem()
    parallel_net, _, _, _ = _problem()
    serial_opt = optimizer_class(serial_net.params, learning_rate_init=0.01)
    parallel_opt = optimizer_class(parallel_net.params, learning_rate_init=0.01)
    batches = [slice(0, 150), np.arange(150, 300), slice(0, 300)]
    tasks = []
    real_submit = par._Worker.submit
    monkeypatch.setattr(
        par._Worker,
        "submit",
        lambda self, task: tasks.append(task) or real_submit(self, task),
    )
    with ExitStack() as stack:
        if not kernels:
            stack.enter_context(compiled.disabled())
        with DataParallel(parallel_net, n_threads) as dp:
            for rows in batches:
                value = dp.loss_and_gradient(
                    X, Y, "log_loss", alpha=1e-3, rows=rows, optimizer=parallel_opt
                )
                expected = serial_net.loss_and_gradient(
                    X[rows], Y[rows], "log_loss", alpha=1e-3
                )
                assert value == pytest.approx(expected, rel=1e-12)
                serial_opt.step(serial_net.params, serial_net.grads)
        assert parallel_opt.uses_kernel(np.float64) == kernels
    np.testing.assert_allclose(parallel_net.params, serial_net.params, rtol=1e-9)
    # The tasks handed over, not counting the one closing each worker.
    n_closing = n_threads - 1
    assert len(tasks) - n_closing == (n_threads - 1) * len(batches)


def test_updating_by_blocks_gives_the_numbers_of_one_thread_updating(monkeypatch):
    """Each thread updating its block changes no number: every entry of a
    step is computed on its own, from the gradients summed in the same order.
    The reference gives the calling thread the whole parameter vector and
    the worker an empty block (the rows are still split)."""
    real_blocks = par._blocks

    def one_block(n, parts, align=16):
        if align == 1:  # the rows' split
            return real_blocks(n, parts, align)
        return [slice(0, n)] + [slice(n, n)] * (parts - 1)

    results = []
    for whole in (True, False):
        with monkeypatch.context() as m:
            if whole:
                m.setattr(par, "_blocks", one_block)
            net, X, Y, _ = _problem(n=400)
            optimizer = Adam(net.params, learning_rate_init=0.01)
            with DataParallel(net, 2) as dp:
                values = [
                    dp.loss_and_gradient(
                        X, Y, "log_loss", alpha=1e-3, rows=rows, optimizer=optimizer
                    )
                    for rows in (slice(0, 200), np.arange(399, 99, -2), slice(100, 400))
                ]
        results.append((values, net.params.copy(), optimizer.grad_sum.copy()))
    (v1, p1, m1), (v2, p2, m2) = results
    assert v1 == v2
    np.testing.assert_array_equal(p1, p2)
    np.testing.assert_array_equal(m1, m2)


@pytest.mark.parametrize(
    "kernels, compress",
    [(True, False), (True, True), (False, False)],
    ids=["compiled", "compressed", "numpy"],
)
@pytest.mark.parametrize("n_threads", [1, 2, 3])
@pytest.mark.parametrize("rows", ["slice", "indices"])
@pytest.mark.parametrize("share", ["calling thread", "worker"])
def test_checked_rows_stop_a_step_before_it_changes_anything(
    share, rows, n_threads, kernels, compress
):
    """Whichever thread's share holds the bad row, no thread updates its
    block and the optimizer takes no step. Also when the rows go straight
    into their compressed form, which checks them on the way."""
    if compress and not compiled.available():
        pytest.skip("needs Numba: pip install 'skscratch[fast]'")
    net, X, Y, _ = _problem()
    batch = slice(20, 250) if rows == "slice" else np.arange(300)[::-2].copy()
    # The first row of the calling thread's share, or the last of the other's.
    bad_row = np.arange(300)[batch][0 if share == "calling thread" else -1]
    X[bad_row, 5] = np.nan
    other = np.setdiff1d(np.arange(300), [bad_row])[:100]
    optimizer = Adam(net.params, learning_rate_init=0.1)
    optimizer.t = 3
    optimizer.grad_sum[:] = 0.5
    before = net.params.copy()
    with ExitStack() as stack:
        if not kernels:
            stack.enter_context(compiled.disabled())
        dp = stack.enter_context(
            DataParallel(net, n_threads, check_rows=True, compress_rows=compress)
        )
        with pytest.raises(NonFiniteRowsError):
            dp.loss_and_gradient(X, Y, "log_loss", rows=batch, optimizer=optimizer)
        np.testing.assert_array_equal(net.params, before)
        assert optimizer.t == 3
        assert np.all(optimizer.grad_sum == 0.5)
        # The threads are ready for the next step.
        assert np.isfinite(
            dp.loss_and_gradient(X, Y, "log_loss", rows=other, optimizer=optimizer)
        )
        assert optimizer.t == 4
        # Rows not taken are not looked at.
        value = dp.loss_and_gradient(X, Y, "log_loss", rows=other)
        assert np.isfinite(value)
        with pytest.raises(NonFiniteRowsError):
            dp.check_skipped_rows(X, batch)
        # Unchecked, the bad value goes through: checking is the caller's call.
        dp.check_rows = False
        dp.check_skipped_rows(X, batch)
        assert np.isnan(dp.loss_and_gradient(X, Y, "log_loss", rows=batch))


def test_take_rows_checks_only_when_asked():
    X = np.arange(40.0).reshape(10, 4)
    X[7, 3] = np.inf
    out = np.empty((3, 4))
    np.testing.assert_array_equal(take_rows(X, np.array([1, 7, 0]), out), X[[1, 7, 0]])
    assert take_rows(X, np.array([2, 3, 4]), out, check_finite=True) is out
    with pytest.raises(NonFiniteRowsError, match="NaN or infinity"):
        take_rows(X, np.array([2, 7, 4]), out, check_finite=True)
    # A Fortran-ordered X is taken by NumPy, and checked all the same.
    with pytest.raises(NonFiniteRowsError):
        take_rows(np.asfortranarray(X), np.array([7]), out[:1], check_finite=True)
    assert not checks_while_taking(np.asfortranarray(X))
    assert not checks_while_taking(X[:, 0])
    assert not checks_while_taking(X.astype(np.float16))
    with compiled.disabled():
        assert not checks_while_taking(X)
    # available() first: it loads the kernels that checks_while_taking asks for.
    assert compiled.available() == checks_while_taking(X)


def test_predict_matches_the_serial_one():
    net, X, _, _ = _problem(n=1000)
    expected = net.predict(X, "softmax")
    with DataParallel(net, 2) as dp:
        np.testing.assert_allclose(dp.predict(X, "softmax"), expected, rtol=1e-12)


def test_an_error_in_a_worker_reaches_the_caller_and_threads_stop():
    import threading

    net, X, Y, _ = _problem()
    before = threading.active_count()
    with pytest.raises(ValueError), DataParallel(net, 2) as dp:
        # Y is too short for the second half of the rows: the worker fails.
        dp.loss_and_gradient(X, Y[:200], "log_loss")
    assert threading.active_count() == before


@pytest.mark.parametrize("spin", [True, False], ids=["polling", "locks only"])
def test_worker_runs_tasks_in_order_and_hands_errors_back(spin, monkeypatch):
    """The worker's hand-over, with the compiled polling and with the locks
    alone (no Numba, or kernels switched off): every task runs once, in
    order, and an exception reaches the caller without stopping the worker.
    Short and long waits both happen: tasks that return at once, and tasks
    that outlast the polling (so each side also sleeps on its lock)."""
    import time

    if spin and (not compiled.available() or compiled.spin_kernel() is None):
        pytest.skip("needs the fast extra: pip install 'skscratch[fast]'")
    if not spin:
        monkeypatch.setattr(compiled, "spin_kernel", lambda: None)
    monkeypatch.setattr(par, "SPIN_READS", 1000)  # some 30 microseconds
    worker = par._Worker()
    assert (worker._spin is not None) == spin
    seen = []
    try:
        for k in range(200):
            if k % 50 == 49:
                time.sleep(0.002)  # the worker waits past its polling
            if k % 40 == 39:
                worker.submit(lambda: 1 / 0)
                with pytest.raises(ZeroDivisionError):
                    worker.result()
                continue
            delay = 0.002 if k % 30 == 29 else 0.0  # the caller waits long
            worker.submit(lambda k=k, delay=delay: (time.sleep(delay), k)[1])
            seen.append(worker.result())
    finally:
        worker.close()
    assert seen == [k for k in range(200) if k % 40 != 39]
    assert not worker._thread.is_alive()


def test_lbfgs_workers_sleep_without_polling(monkeypatch):
    """L-BFGS's evaluations are far apart: its worker threads go straight
    to their locks (polling made its digits fits 10% slower)."""
    from sklearn.datasets import load_digits

    if available_threads() < 2:
        pytest.skip("needs two cores")
    polls = []
    init = par._Worker.__init__

    def spy(self, poll=True):
        polls.append(poll)
        init(self, poll)

    monkeypatch.setattr(par._Worker, "__init__", spy)
    X, y = load_digits(return_X_y=True)
    ScratchMLPClassifier(solver="lbfgs", max_iter=5, random_state=0).fit(X, y)
    assert polls and not any(polls)


def test_spin_kernel_sees_another_threads_count():
    """The compiled wait re-reads the counter on every pass: a count that
    another thread makes while it polls ends the wait (were the read hoisted
    out of the loop, it would poll to the end and return False)."""
    import threading
    import time

    spin = compiled.spin_kernel() if compiled.available() else None
    if spin is None:
        pytest.skip("needs the fast extra: pip install 'skscratch[fast]'")
    counter = np.zeros(1, np.int64)
    assert spin(counter, 0, 1)
    assert not spin(counter, 1, 1000)

    def count_later():
        time.sleep(0.01)
        counter[0] = 3

    thread = threading.Thread(target=count_later)
    thread.start()
    try:
        # About 27 ns per read here: a budget of about 3 s for a count
        # made after 10 ms.
        assert spin(counter, 2, 10**8)
    finally:
        thread.join()


def test_core_round_trip():
    if not compiled.available() or compiled.spin_kernel() is None:
        pytest.skip("needs the fast extra: pip install 'skscratch[fast]'")
    ping_pong = compiled.kernel("ping_pong", np.float64)
    counter = np.zeros(1, np.int64)
    # Alone, side 1 waits for a 1 that never comes and gives up; side 0
    # finds its 0 and writes 1, then waits for a 2.
    assert not ping_pong(counter, 1, 0, 1, 1000)
    assert not ping_pong(counter, 0, 0, 2, 1000)
    assert counter[0] == 1
    seconds = par.core_round_trip(n=2000)
    # Nanoseconds to microseconds on real machines; anything from a
    # millisecond on would mean the loops do not spin on the cache line.
    assert 0 < seconds < 1e-3
    with compiled.disabled():
        assert par.core_round_trip() is None


def test_plan_threads_rules():
    # The rules for the NumPy optimizer code (see the next test for the
    # compiled kernels).
    with compiled.disabled():
        _check_plan_threads_rules()


def test_compiled_kernels_never_split_mini_batches():
    if not compiled.available():
        pytest.skip("needs the fast extra: pip install 'skscratch[fast]'")
    assert plan_threads(1000, 500_000, 8, max_threads=2) == 1
    assert plan_threads(200, 235_000, 8, max_threads=2) == 1
    # Full batches (L-BFGS) have no optimizer step to speak of: unchanged.
    assert plan_threads(1800, 7_500, full_batch=True, max_threads=2) == 2


def _check_plan_threads_rules():
    # A small network never splits a mini-batch...
    assert plan_threads(1000, 50_000, 8, max_threads=8) == 1
    # ... a large one does, limited by rows and by the cores.
    assert plan_threads(1000, 500_000, 8, max_threads=2) == 2
    assert plan_threads(64, 500_000, 8, max_threads=8) == 2
    # At most two threads for mini-batches (what was measured to pay), more
    # for full batches.
    assert plan_threads(1000, 500_000, 8, max_threads=8) == 2
    assert plan_threads(1000, 500_000, full_batch=True, max_threads=8) == 8
    assert plan_threads(10, 500_000, 8, max_threads=8) == 1
    # float32 halves the bytes.
    assert plan_threads(200, 235_000, 8, max_threads=2) == 2
    assert plan_threads(200, 235_000, 4, max_threads=2) == 1
    # Full batches split as soon as there is real work.
    assert plan_threads(1800, 7_500, full_batch=True, max_threads=2) == 2
    assert plan_threads(150, 500, full_batch=True, max_threads=2) == 1
    assert plan_threads(10**6, 10**6, 8, max_threads=1) == 1


def test_a_caller_limiting_blas_gets_one_thread():
    with threadpool_limits(limits=1, user_api="blas"):
        assert available_threads() == 1
        assert plan_threads(10**5, 10**6, full_batch=True) == 1


def test_estimators_give_the_same_model_with_and_without_threads(monkeypatch):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 30))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    Yreg = np.column_stack([X[:, 0] ** 2, np.sin(X[:, 1])])
    models = {}
    used = []
    real_enter = DataParallel.__enter__

    def spying_enter(self):
        used.append(self.n_threads)
        return real_enter(self)

    monkeypatch.setattr(DataParallel, "__enter__", spying_enter)
    # With the compiled optimizer kernels, mini-batches are never split;
    # the NumPy code's planning is the one under test here.
    monkeypatch.setenv(compiled.ENV_VAR, "0")
    for threads in (1, 2):
        monkeypatch.setattr(par, "available_threads", lambda t=threads: t)
        # A low bar so that this small problem takes the parallel path.
        monkeypatch.setattr(par, "MIN_PARAM_BYTES", 0)
        clf = ScratchMLPClassifier(
            hidden_layer_sizes=(40,), max_iter=15, random_state=0
        ).fit(X, y)
        reg = ScratchMLPRegressor(
            hidden_layer_sizes=(40,), solver="lbfgs", max_iter=50, random_state=0
        ).fit(X, Yreg)
        models[threads] = (clf, reg)
    # adam then lbfgs, first serial then on two threads
    assert used == [1, 1, 2, 2]
    (c1, r1), (c2, r2) = models[1], models[2]
    np.testing.assert_allclose(c2.loss_curve_, c1.loss_curve_, rtol=1e-9)
    np.testing.assert_allclose(c2.predict_proba(X), c1.predict_proba(X), rtol=1e-7)
    assert r2.n_iter_ == r1.n_iter_
    np.testing.assert_allclose(r2.predict(X), r1.predict(X), rtol=1e-6, atol=1e-9)


def test_optimizers_without_a_kernel_say_so():
    from skscratch.core.optimizers import RMSprop

    params = np.zeros(10)
    assert not RMSprop(params, learning_rate_init=0.01).uses_kernel(np.float64)
    with compiled.disabled():
        assert not Adam(params, learning_rate_init=0.01).uses_kernel(np.float64)


def test_a_spin_kernel_that_fails_to_compile_leaves_the_locks(monkeypatch):
    """If the compiled wait cannot be built here, spin_kernel says so up
    front, in the calling thread, and the worker sleeps on its locks."""
    if not compiled.available():
        pytest.skip("needs the fast extra: pip install 'skscratch[fast]'")

    def broken(*args):
        raise RuntimeError("no such intrinsic")

    monkeypatch.setattr(compiled, "_spin_works", None)
    monkeypatch.setitem(compiled._load(), "spin_until", broken)
    assert compiled.spin_kernel() is None
    worker = par._Worker()
    try:
        worker.submit(lambda: 42)
        assert worker.result() == 42
    finally:
        worker.close()
