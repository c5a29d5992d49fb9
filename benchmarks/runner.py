"""Running the workloads: interleaved, repeated timings and what is recorded
beside each of them (load average, core round trip).

Every repetition runs every implementation once, in an order that rotates
between repetitions, so slow drift of the machine affects all of them alike.
"""

import gc
import os
import statistics
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
from settings import (
    FLOOR,
    FLOOR_WORKLOADS,
    HIDDEN,
    SWEEP_BATCHES,
    SWEEP_WIDTHS,
    log,
    runs_skscratch_model,
)
from workloads import (
    lbfgs_params,
    matmul_floor_epoch,
    matmul_floor_predict,
    stochastic_params,
)

# ---------------------------------------------------------------------------
# Diagnostics recorded with every run
# ---------------------------------------------------------------------------


def load_average():
    """1-minute load average (None where unsupported)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def core_round_trip_us():
    """Round trip of a cache line between two threads' cores, in
    microseconds (``skscratch.core.parallel.core_round_trip``; None without
    Numba).

    Measured after every timed run: on a VM whose host sometimes runs the
    two virtual CPUs on distant cores, it tells which runs met that phase,
    where skscratch's two-thread training loop is much slower.
    """
    try:
        from skscratch.core.parallel import core_round_trip

        seconds = core_round_trip()
    except Exception:  # an older skscratch, or no skscratch at all
        return None
    return None if seconds is None else round(seconds * 1e6, 3)


def load_kernels():
    """Load skscratch's compiled kernels where Numba can run them, so that
    every later job finds them loaded."""
    try:
        from skscratch.core import compiled

        compiled.load()
    except (ImportError, AttributeError):  # no skscratch, or an older one
        pass


@dataclass
class Run:
    """One timed measurement."""

    workload: str
    impl: str
    rep: int
    seconds: float  # the quantity reported (per epoch, per fit or per call)
    fit_seconds: float | None = None
    n_iter: int | None = None
    accuracy: float | None = None
    point: tuple | None = None  # sweep grid point (width, batch)
    load: float | None = field(default_factory=load_average)
    core_rtt_us: float | None = field(default_factory=core_round_trip_us)


@dataclass
class Results:
    runs: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    memory: dict = field(default_factory=dict)
    failed: dict = field(default_factory=dict)

    def values(self, workload, impl, point=None):
        return [
            r.seconds
            for r in self.runs
            if r.workload == workload and r.impl == impl and r.point == point
        ]


# ---------------------------------------------------------------------------
# One timed call
# ---------------------------------------------------------------------------


def settle(cfg):
    """Prepare a timed call: collect garbage, then let the cores go idle.

    After a multi-threaded call OpenBLAS keeps its idle threads spinning for
    about 0.1 s, and a run started within that window shares a core with
    them; waiting ``cfg.settle`` seconds gives every implementation the same
    idle start (see "Idle cores" in the README).
    """
    gc.collect()
    if cfg.settle:
        time.sleep(cfg.settle)


def fit_quietly(estimator, X, y):
    """Fit and return wall seconds, silencing max_iter convergence warnings."""
    with warnings.catch_warnings():
        try:
            from sklearn.exceptions import ConvergenceWarning

            warnings.simplefilter("ignore", ConvergenceWarning)
        except ImportError:
            pass
        warnings.filterwarnings("ignore", message=".*[Mm]aximum iteration")
        start = time.perf_counter()
        estimator.fit(X, y)
        elapsed = time.perf_counter() - start
    # A model in a worker process times its fit there, without the pipe.
    return getattr(estimator, "worker_fit_seconds", elapsed)


def timed_predict_proba(model, X):
    """Seconds of one ``predict_proba`` call on ``X``."""
    start = time.perf_counter()
    model.predict_proba(X)
    elapsed = time.perf_counter() - start
    # A model in a worker process times its call there, without the pipe.
    return getattr(model, "worker_call_seconds", elapsed)


def accuracy(estimator, X, y):
    return float(np.mean(estimator.predict(X) == y))


def rotated(items, rep):
    items = list(items)
    if not items:
        return items
    k = rep % len(items)
    return items[k:] + items[:k]


def _fail(results, workload, impl, exc):
    message = f"{type(exc).__name__}: {exc}"
    log(f"  !! {impl} failed on {workload}: {message}")
    results.failed.setdefault(workload, {})[impl] = message


def warm_up(classes, params, X, y, results, workload):
    """One short untimed fit per implementation (imports, BLAS threads, caches)."""
    small = dict(params, max_iter=1)
    rows = min(len(X), 2000)
    for name, cls in list(classes.items()):
        try:
            fit_quietly(cls(**small), X[:rows], y[:rows])
        except Exception as exc:  # report it and go on
            _fail(results, workload, name, exc)
            del classes[name]


# ---------------------------------------------------------------------------
# Workloads, interleaved
# ---------------------------------------------------------------------------


def _time_floor_epochs(workload, rep, data, cfg, params, results):
    X_train = data[0]
    secs = [
        matmul_floor_epoch(X_train, HIDDEN, 10, params["batch_size"])
        for _ in range(cfg.epochs)
    ]
    per = sum(secs) / len(secs)
    results.runs.append(Run(workload, FLOOR, rep, per, sum(secs)))
    log(f"  rep {rep + 1}/{cfg.repeats} floor: {per:.3f} s/epoch")


def _time_fit(workload, rep, name, classes, data, cfg, params, results):
    """One timed fit of ``name``; a failing implementation is dropped."""
    X_train, y_train, X_test, y_test = data
    try:
        estimator = classes[name](**params)
        fit_s = fit_quietly(estimator, X_train, y_train)
        n_iter = int(estimator.n_iter_)
        acc = accuracy(estimator, X_test, y_test)
    except Exception as exc:  # report it and go on
        _fail(results, workload, name, exc)
        del classes[name]
        return
    per = fit_s if workload == "lbfgs_digits" else fit_s / max(n_iter, 1)
    results.runs.append(Run(workload, name, rep, per, fit_s, n_iter, acc))
    log(
        f"  rep {rep + 1}/{cfg.repeats} {name}: fit {fit_s:.2f} s, "
        f"{n_iter} iter, acc {acc:.4f}"
    )


def run_fit_workload(workload, classes, data, cfg, results):
    """Interleaved repeated fits; seconds per epoch (or per fit for lbfgs)."""
    if workload == "lbfgs_digits":
        params = lbfgs_params(cfg.lbfgs_iter)
    else:
        params = stochastic_params(workload, cfg.epochs)
    classes = dict(classes)
    warm_up(classes, params, data[0], data[1], results, workload)
    contenders = list(classes)
    if workload in FLOOR_WORKLOADS:
        contenders.append(FLOOR)
    for rep in range(cfg.repeats):
        for name in rotated(contenders, rep):
            if name not in classes and name != FLOOR:
                continue  # failed in an earlier repetition
            settle(cfg)
            if name == FLOOR:
                _time_floor_epochs(workload, rep, data, cfg, params, results)
            else:
                _time_fit(workload, rep, name, classes, data, cfg, params, results)


def _fit_for_prediction(classes, data, results, workload):
    """One fitted model per implementation, after one warm-up call each."""
    X_train, y_train, X_test, _ = data
    params = stochastic_params("adam32", 1)
    models = {}
    for name, cls in classes.items():
        try:
            estimator = cls(**params)
            fit_quietly(estimator, X_train, y_train)
            estimator.predict_proba(X_test)  # warm-up call
            models[name] = estimator
        except Exception as exc:  # report it and go on
            _fail(results, workload, name, exc)
    return models


def run_predict_workload(classes, data, cfg, results):
    """Seconds per predict_proba call on the test set, many calls each."""
    workload = "predict_proba"
    _, _, X_test, y_test = data
    models = _fit_for_prediction(classes, data, results, workload)
    accs = {name: accuracy(m, X_test, y_test) for name, m in models.items()}
    matmul_floor_predict(X_test, HIDDEN, 10)  # warm-up, like the models
    for rep in range(cfg.repeats):
        for name in rotated([*models, FLOOR], rep):
            times = []
            # Settled once per block: within it, calls follow calls of the same one.
            settle(cfg)
            for _ in range(cfg.predict_calls):
                gc.collect()
                if name == FLOOR:
                    times.append(matmul_floor_predict(X_test, HIDDEN, 10))
                else:
                    times.append(timed_predict_proba(models[name], X_test))
            acc = accs.get(name)  # None for the floor
            # One round trip for the block: its calls all ended at this moment.
            trip = core_round_trip_us()
            results.runs += [
                Run(workload, name, rep, t, accuracy=acc, core_rtt_us=trip)
                for t in times
            ]
            log(
                f"  rep {rep + 1}/{cfg.repeats} {name}: "
                f"{1e3 * statistics.median(times):.2f} ms/call"
            )


def _sweep_point(classes, X, y, point, params, cfg, results):
    """Every repetition of one (width, batch) point of the sweep."""
    workload = "sweep"
    width, batch = point
    for rep in range(cfg.repeats):
        for name in rotated([*classes, FLOOR], rep):
            if name != FLOOR and name not in classes:
                continue
            settle(cfg)
            if name == FLOOR:
                secs = matmul_floor_epoch(X, (width,), 10, batch)
                results.runs.append(
                    Run(workload, FLOOR, rep, secs, secs, 1, point=point)
                )
                continue
            try:
                fit_s = fit_quietly(classes[name](**params), X, y)
            except Exception as exc:  # report it and go on
                _fail(results, workload, name, exc)
                del classes[name]
                continue
            results.runs.append(Run(workload, name, rep, fit_s, fit_s, 1, point=point))
            log(f"  width {width} batch {batch} {name}: {fit_s:.2f} s")


def run_sweep(classes, data, cfg, results):
    """One-hidden-layer adam fits over a width x batch-size grid (1 epoch)."""
    X_train, y_train, _, _ = data
    X, y = X_train[: cfg.sweep_rows], y_train[: cfg.sweep_rows]
    classes = {
        k: v for k, v in classes.items() if runs_skscratch_model(k) or k == "sklearn"
    }
    base = dict(stochastic_params("adam32", 1), hidden_layer_sizes=(64,))
    warm_up(classes, base, X, y, results, "sweep")
    for width in SWEEP_WIDTHS:
        for batch in SWEEP_BATCHES:
            params = dict(base, hidden_layer_sizes=(width,), batch_size=batch)
            _sweep_point(classes, X, y, (width, batch), params, cfg, results)
