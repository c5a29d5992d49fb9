"""Calls running at the same time in several threads of one process: each
gives the numbers it gives alone, and the process's BLAS settings end as they
began, whatever the interleaving.

The overlaps are forced, not hoped for: a fit held in another thread by its
own callback (:class:`_HeldFit`) sits inside its training, and so inside the
one-thread BLAS limit its threads share (see
:class:`~skscratch.core.parallel.DataParallel`), for as long as a test needs;
and a reader of an estimator that another thread is fitting is run at every
line of the fitting code (:func:`_between_every_line`).
"""

import copy
import pickle
import random
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from sklearn.base import clone
from threadpoolctl import threadpool_info, threadpool_limits

from skscratch import (
    ScratchMLPClassifier,
    _base,
    _engines,
    _namespaces,
    _solvers,
    _state,
    _stochastic,
    _targets,
    _validation,
)
from skscratch import _lbfgs as lbfgs_module
from skscratch.core import build_mlp, compiled
from skscratch.core import parallel as par
from skscratch.core.compressed import worth_compressing
from skscratch.core.parallel import DataParallel, available_threads, plan_threads
from skscratch.core.rows import NonFiniteRowsError

# Seconds any wait may take before the test fails instead of hanging.
TIMEOUT = 60


def _thread_settings():
    """Every thread pool threadpoolctl sees, with its thread count."""
    return [(info["filepath"], info["num_threads"]) for info in threadpool_info()]


def _needs_two_threads():
    if available_threads() < 2:
        pytest.skip("needs two cores and BLAS allowed more than one thread")


def _needs_compressed_rows():
    if not compiled.available():
        pytest.skip("needs Numba: pip install 'skscratch[fast]'")


def _dense_problem(n=2000, n_features=20, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_features))
    return X, (X[:, 0] * X[:, 1] > 0).astype(int)


def _mostly_zeros(n, n_features, dtype=np.float64, seed=0):
    """Rows with about 10% nonzero entries: the first layer gets them
    compressed (skscratch.core.compressed)."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, n_features)) * (rng.random((n, n_features)) < 0.1)
    X = X.astype(dtype)
    return X, (X[:, :10].sum(axis=1) > X[:, 10:20].sum(axis=1)).astype(int)


def _lbfgs(**params):
    params = {"max_iter": 30, **params}
    return ScratchMLPClassifier(
        hidden_layer_sizes=(32,), solver="lbfgs", random_state=0, **params
    )


def _adam_on_compressed_rows(**params):
    # 400 inputs and 256 units: 200-row batches times 103 000 parameters
    # pass MIN_COMPRESSED_BATCH_WORK, so each batch is split between threads.
    params = {"max_iter": 2, **params}
    return ScratchMLPClassifier(hidden_layer_sizes=(256,), random_state=0, **params)


def _models_equal(a, b):
    return all(
        np.array_equal(p, q)
        for p, q in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_, strict=True)
    )


class _HeldFit:
    """A fit running in another thread, paused at the end of its first
    iteration (inside its training, so inside the shared BLAS limit) from
    :meth:`start` until :meth:`stop`. Its thread lives on until :meth:`join`.
    """

    def __init__(self, estimator, X, y):
        self.inside = threading.Event()
        self.release = threading.Event()
        self.finished = threading.Event()
        self.leave = threading.Event()
        self.error = None
        self.estimator = estimator.set_params(callbacks=[self._pause])
        self._thread = threading.Thread(target=self._fit, args=(X, y), daemon=True)

    def _pause(self, estimator, record):
        self.inside.set()
        if not self.release.wait(TIMEOUT):
            raise TimeoutError("the held fit was never released")

    def _fit(self, X, y):
        try:
            self.estimator.fit(X, y)
        except BaseException as exc:
            self.error = exc
        finally:
            self.inside.set()
            self.finished.set()
            self.leave.wait(TIMEOUT)

    def start(self):
        self._thread.start()
        assert self.inside.wait(TIMEOUT)
        if self.error is not None:
            raise self.error
        return self

    def stop(self):
        """Let the fit end; its thread stays."""
        self.release.set()
        assert self.finished.wait(TIMEOUT)
        if self.error is not None:
            raise self.error

    def join(self):
        self.leave.set()
        self._thread.join(TIMEOUT)
        assert not self._thread.is_alive()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        try:
            self.stop()
        finally:
            self.join()


def _held_lbfgs_fit():
    X, y = _dense_problem(n=300, n_features=10, seed=1)
    return _HeldFit(_lbfgs(max_iter=5), X, y)


def _held_fit(kind):
    if kind == "lbfgs":
        return _held_lbfgs_fit()
    X, y = _mostly_zeros(1000, 400, seed=1)
    return _HeldFit(_adam_on_compressed_rows(max_iter=1), X, y)


# -- the process's BLAS settings -------------------------------------------


def test_overlapping_fits_give_blas_back_its_thread_counts():
    """The second fit enters while the first holds BLAS at one thread and
    leaves after it: that fit must not restore the first one's limit; and
    it must restore BLAS's own counts, although the thread that set the
    limit is still alive."""
    before = _thread_settings()
    first = _held_lbfgs_fit().start()
    try:
        second = _held_lbfgs_fit().start()
        try:
            first.stop()
            second.stop()
            assert _thread_settings() == before
        finally:
            second.join()
    finally:
        first.join()
    assert _thread_settings() == before


def test_the_shared_limit_restores_each_library_exactly():
    """Libraries set to different counts get each its own back, when the
    last holder (not the first) leaves."""
    controller = par._blas_controller()
    if controller is None or not controller.lib_controllers:
        pytest.skip("needs threadpoolctl and a BLAS library it controls")
    libs = controller.lib_controllers
    original = [lib.num_threads for lib in libs]
    wanted = [k % 2 + 1 for k in range(len(libs))]  # 1, 2, 1, ...
    first_in, second_in, first_out = (threading.Event() for _ in range(3))

    def first():
        with par._blas_limit:
            first_in.set()
            assert second_in.wait(TIMEOUT)
        first_out.set()

    def second():
        assert first_in.wait(TIMEOUT)
        with par._blas_limit:
            second_in.set()
            assert first_out.wait(TIMEOUT)
            assert [lib.num_threads for lib in libs] == [1] * len(libs)

    try:
        for lib, n in zip(libs, wanted, strict=True):
            par._set_num_threads(lib, n)
        with ThreadPoolExecutor(2) as pool:
            for future in [pool.submit(first), pool.submit(second)]:
                future.result(TIMEOUT)
        assert [lib.num_threads for lib in libs] == wanted
    finally:
        for lib, n in zip(libs, original, strict=True):
            par._set_num_threads(lib, n)


def test_many_overlapping_fits_and_predictions_leave_blas_as_it_was():
    _needs_compressed_rows()
    X, y = _dense_problem()
    X_wide, y_wide = _mostly_zeros(500, 100, np.float32)
    predictor = ScratchMLPClassifier(
        hidden_layer_sizes=(64,), max_iter=1, random_state=0
    ).fit(X_wide, y_wide)
    X_predict, _ = _mostly_zeros(5000, 100, np.float32, seed=2)
    delays = random.Random(0)
    before, n_threads = _thread_settings(), threading.active_count()

    def call(start, delay, kind):
        start.wait()
        threading.Event().wait(delay)
        if kind == "fit":
            return _lbfgs(max_iter=10).fit(X, y)
        return predictor.predict_proba(X_predict)

    for _ in range(3):  # each round is another interleaving
        calls = [(delays.uniform(0, 0.03), kind) for kind in ["fit", "predict"] * 12]
        start = threading.Barrier(len(calls), timeout=TIMEOUT)
        with ThreadPoolExecutor(len(calls)) as pool:
            futures = [pool.submit(call, start, *c) for c in calls]
            for future in futures:
                future.result(TIMEOUT)
        assert _thread_settings() == before
        assert threading.active_count() == n_threads


def test_an_error_in_a_worker_leaves_blas_and_threads_as_they_were():
    """A NaN in the rows of the worker's share of the first batch: the fit
    fails with scikit-learn's error, raised in the worker and handed over,
    and neither the BLAS limit nor a worker thread outlives it."""
    _needs_compressed_rows()
    _needs_two_threads()
    X, y = _mostly_zeros(1000, 400)
    X[150, 3] = np.nan  # in the second half of the first 200-row batch
    settings, n_threads = _thread_settings(), threading.active_count()
    estimator = _adam_on_compressed_rows(shuffle=False)
    with pytest.raises(ValueError, match="NaN"):
        estimator.fit(X, y)
    assert _thread_settings() == settings
    assert threading.active_count() == n_threads
    # The same straight through DataParallel, with the limit held meanwhile
    # by a fit in another thread.
    net = build_mlp([400, 256, 1], "relu")
    net.initialize(np.random.default_rng(0))
    Y = y[:, None].astype(float)
    trainer = DataParallel(net, 2, compress_rows=True, check_rows=True)
    with _held_lbfgs_fit(), pytest.raises(NonFiniteRowsError), trainer:
        trainer.loss_and_gradient(X, Y, "log_loss", rows=slice(0, 200))
    assert _thread_settings() == settings
    assert threading.active_count() == n_threads


def test_a_worker_that_fails_to_start_leaves_blas_and_threads_as_they_were(
    monkeypatch,
):
    """The first worker started, the second could not: the first stops and
    the BLAS limit taken on entry is given back."""
    settings, n_threads = _thread_settings(), threading.active_count()
    started = []
    real_init = par._Worker.__init__

    def init(self, poll=True):
        if started:
            raise RuntimeError("can't start new thread")
        real_init(self, poll)
        started.append(self)

    monkeypatch.setattr(par._Worker, "__init__", init)
    net = build_mlp([4, 8, 2], "tanh")
    with pytest.raises(RuntimeError, match="new thread"), DataParallel(net, 3):
        pass  # pragma: no cover - never entered
    assert started and not started[0]._thread.is_alive()
    assert threading.active_count() == n_threads
    assert _thread_settings() == settings


# -- the same numbers beside other calls -------------------------------------


@pytest.mark.parametrize("other", ["lbfgs", "adam"])
@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_a_fit_gives_the_same_bits_beside_another_fit(solver, other):
    """Another thread's fit, held inside its training, has BLAS limited to
    one thread all along this fit: the threads planned, and so every bit of
    the model, must be those of the fit alone."""
    _needs_two_threads()
    if solver == "adam" or other == "adam":
        _needs_compressed_rows()
    if solver == "lbfgs":
        X, y = _dense_problem()
        make = _lbfgs
        n_params = 20 * 32 + 32 + 32 + 1
        assert plan_threads(X.shape[0], n_params, full_batch=True) > 1
    else:
        X, y = _mostly_zeros(1000, 400)
        make = _adam_on_compressed_rows
        n_params = 400 * 256 + 256 + 256 + 1
        assert worth_compressing(X, X.dtype, 256)
        assert plan_threads(200, n_params, compressed_input=True) > 1
    alone = make().fit(X, y)
    with _held_fit(other):
        beside = make().fit(X, y)
    assert beside.n_iter_ == alone.n_iter_
    assert _models_equal(beside, alone)


def test_concurrent_predictions_give_the_serial_bits():
    """24 predictions at once on rows that are mostly zeros (each splits its
    rows between two threads and compresses them for the first layer), in
    float32, where a product summed another way shows in the last bits:
    784 inputs, more than BLAS sums in one block."""
    _needs_compressed_rows()
    _needs_two_threads()
    X_fit, y = _mostly_zeros(500, 784, np.float32)
    estimator = ScratchMLPClassifier(
        hidden_layer_sizes=(64,), max_iter=1, random_state=0
    ).fit(X_fit, y)
    X, _ = _mostly_zeros(5000, 784, np.float32, seed=3)
    assert worth_compressing(X, np.float32, 64)
    serial = estimator.predict_proba(X)
    start = threading.Barrier(8, timeout=TIMEOUT)

    def predict(k):
        if k < 8:
            start.wait()  # the first eight surely overlap
        return estimator.predict_proba(X)

    # And the BLAS limit held all along by a fit in another thread.
    with _held_lbfgs_fit(), ThreadPoolExecutor(8) as pool:
        results = list(pool.map(predict, range(24), timeout=TIMEOUT))
    differing = [k for k, r in enumerate(results) if not np.array_equal(r, serial)]
    assert differing == []


def test_partial_fit_on_two_estimators_at_once_gives_the_serial_models():
    _needs_compressed_rows()
    _needs_two_threads()
    X, y = _mostly_zeros(1000, 400)
    batches = [slice(k, k + 400) for k in (0, 300, 600)]

    def train(estimator, meet=None):
        for rows in batches:
            if meet is not None:
                meet.wait()  # each call starts with the other thread's
            estimator.partial_fit(X[rows], y[rows], classes=[0, 1])
        return estimator

    serial = [train(_adam_on_compressed_rows()) for _ in range(2)]
    meet = threading.Barrier(2, timeout=TIMEOUT)
    with ThreadPoolExecutor(2) as pool:
        futures = [
            pool.submit(train, _adam_on_compressed_rows(), meet) for _ in range(2)
        ]
        together = [f.result(TIMEOUT) for f in futures]
    for a, b in zip(together, serial, strict=True):
        assert _models_equal(a, b)


def test_reading_an_estimator_while_it_is_refitted():
    """Predicting with, pickling, copying and cloning an estimator while
    another thread fits it again: the readers never fail, and the new fit
    ends with the model it makes alone."""
    X, y = _dense_problem()
    reference = _lbfgs().fit(X, y)
    estimator = _lbfgs(max_iter=5).fit(X, y)
    done = threading.Event()
    errors = []

    def read():
        while not done.is_set():
            try:
                assert estimator.predict_proba(X[:50]).shape == (50, 2)
                pickle.loads(pickle.dumps(estimator))
                copy.deepcopy(estimator)
                clone(estimator)
            except BaseException as exc:
                errors.append(exc)
                return

    readers = [threading.Thread(target=read) for _ in range(2)]
    for reader in readers:
        reader.start()
    try:
        estimator.set_params(max_iter=30).fit(X, y)
    finally:
        done.set()
        for reader in readers:
            reader.join(TIMEOUT)
    assert errors == []
    assert _models_equal(estimator, reference)


# The files whose every line _between_every_line checks: the fit's own code.
_FIT_FILES = {
    module.__file__
    for module in (
        _base,
        _engines,
        lbfgs_module,
        _namespaces,
        _solvers,
        _state,
        _stochastic,
        _targets,
        _validation,
    )
}


def _between_every_line(call, check):
    """Run ``call()``, and ``check()`` at every line it runs in the
    estimators' fitting modules (skscratch/_base.py and the modules its fit
    calls): what a thread switching in there would see."""

    def trace(frame, event, arg):
        if frame.f_code.co_filename not in _FIT_FILES:
            return None

        def each_line(frame, event, arg):
            if event == "line":
                check()
            return each_line

        return each_line

    tracer = sys.gettrace()
    sys.settrace(trace)
    try:
        return call()
    finally:
        sys.settrace(tracer)


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_predicting_at_any_line_of_a_refit_changes_nothing(solver):
    """The same reading as above, at every line of the estimator's code that
    a fit runs: each prediction works, and the fit ends with its model."""
    X, y = _dense_problem(n=300, n_features=10)
    params = {"solver": solver, "max_iter": 5, "random_state": 0}
    reference = ScratchMLPClassifier((16,), **params).fit(X, y)
    estimator = ScratchMLPClassifier((16,), **params).fit(X, y)
    estimator.coefs_[0][...] += 1.0  # the refit starts afresh all the same
    errors = []

    def check():
        try:
            assert estimator.predict_proba(X[:5]).shape == (5, 2)
        except BaseException as exc:
            errors.append(exc)

    _between_every_line(lambda: estimator.fit(X, y), check)
    assert errors == []
    assert _models_equal(estimator, reference)


def test_a_failed_partial_fit_never_disturbs_predictions_in_other_threads():
    """scikit-learn's partial_fit rejects a NaN before it changes anything,
    so a thread predicting meanwhile gets the model's predictions. A
    prediction at every line of the failed call must get them too."""
    X, y = _dense_problem(n=300, n_features=10)
    estimator = ScratchMLPClassifier(
        hidden_layer_sizes=(16,), max_iter=5, random_state=0
    ).fit(X, y)
    expected = estimator.predict_proba(X[:10])
    bad = X.copy()
    bad[0, 0] = np.nan
    errors = []

    def check():
        try:
            assert np.array_equal(estimator.predict_proba(X[:10]), expected)
        except BaseException as exc:
            errors.append(exc)

    def fail():
        with pytest.raises(ValueError, match="NaN"):
            estimator.partial_fit(bad, y)

    _between_every_line(fail, check)
    assert errors == []


# -- planning ------------------------------------------------------------------


def test_planning_reads_the_limits_in_force_outside_the_shared_one():
    """While the shared limit holds, planning reads the thread counts it
    saved; a limit the caller set before still counts."""
    _needs_two_threads()
    n = available_threads()
    with par._blas_limit:
        assert available_threads() == n
        with par._blas_limit:  # nested, as a prediction in a callback
            assert available_threads() == n
        assert available_threads() == n
    with threadpool_limits(limits=1, user_api="blas"), par._blas_limit:
        assert available_threads() == 1
    assert available_threads() == n
