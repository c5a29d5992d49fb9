"""Benchmark skscratch's MLP against scikit-learn (and PyTorch when installed).

Every implementation runs the same workloads in one process, interleaved:
each repetition fits every implementation once, rotating the order between
repetitions, so slow drift of the machine (thermal, other load) affects all
of them alike. Results are printed to stdout as Markdown tables (progress goes
to stderr). See ``benchmarks/README.md`` for what each column means.

Usage::

    python benchmarks/bench_mlp.py                  # everything, ~6 min on 2 cores
    python benchmarks/bench_mlp.py --quick          # smoke test, ~1 minute
    python benchmarks/bench_mlp.py --workloads adam32 --impls sklearn,torch
"""

import argparse
import gc
import itertools
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]

# "skscratch" runs as installed: with the compiled optimizer kernels when
# Numba is there. "skscratch-numpy" is the same estimator with the kernels
# switched off (skscratch.core.compiled.disabled), i.e. NumPy alone.
ALL_IMPLS = ("skscratch", "skscratch-numpy", "sklearn", "torch")
# Workloads where the two skscratch variants differ (an optimizer runs).
NUMPY_VARIANT_WORKLOADS = {"adam32", "adam64", "sgd"}
ALL_WORKLOADS = ("adam32", "adam64", "sgd", "lbfgs_digits", "predict_proba", "sweep")
MNIST_WORKLOADS = {"adam32", "adam64", "sgd", "predict_proba", "sweep"}
# PyTorch has a training loop here only for the stochastic MNIST workloads.
TORCH_WORKLOADS = {"adam32", "sgd", "predict_proba"}
# Workloads timed beside their matrix-product floor (the sweep has one per point).
FLOOR_WORKLOADS = {"adam32", "adam64", "sgd", "predict_proba"}
FLOOR = "floor"  # pseudo-implementation: matrix products only
FLOOR_LABEL = "floor (matmul only)"

RANDOM_STATE = 0
HIDDEN = (256, 128)
SWEEP_WIDTHS = (64, 256, 1024)
SWEEP_BATCHES = (32, 200, 1000)

EXIT_NO_DATA = 2


def log(message):
    """Progress output goes to stderr so stdout stays a clean table."""
    print(message, file=sys.stderr, flush=True)


def load_average():
    """1-minute load average (None where unsupported)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


# Core round trips above this many microseconds mean the two threads ran on
# distant cores (0.04-0.06 us on this benchmark's VM most of the time, 0.4-0.5
# in its slow phases; see core_round_trip_us).
DISTANT_CORES_US = 0.2


def core_round_trip_us():
    """Round trip of a cache line between two threads' cores, in
    microseconds (``skscratch.core.parallel.core_round_trip``; None without
    Numba).

    Measured after every timed run and reported beside the timings: on a VM
    whose host sometimes runs the two virtual CPUs on distant cores, it tells
    which runs met that phase, where skscratch's two-thread training loop
    loses about half its speed (see docs/performance.rst).
    """
    try:
        from skscratch.core.parallel import core_round_trip

        seconds = core_round_trip()
    except Exception:  # an older skscratch, or no skscratch at all
        return None
    return None if seconds is None else round(seconds * 1e6, 3)


# ---------------------------------------------------------------------------
# Implementations
# ---------------------------------------------------------------------------


class TorchMLPClassifier:
    """Eager PyTorch CPU training loop with an MLPClassifier-like interface.

    Mirrors what scikit-learn does so the work is comparable: Glorot-uniform
    initialisation of weights and biases (bound ``sqrt(6 / (fan_in +
    fan_out))``), mean cross-entropy over the mini-batch, the L2 penalty added
    to the weight gradients (not the biases) as ``alpha * W / batch_rows``,
    rows reshuffled every epoch, float32 throughout.
    """

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        *,
        solver="adam",
        alpha=1e-4,
        batch_size=200,
        learning_rate_init=1e-3,
        max_iter=200,
        shuffle=True,
        random_state=None,
        momentum=0.9,
        nesterovs_momentum=True,
        activation="relu",
    ):
        if activation != "relu" or solver not in ("adam", "sgd"):
            raise ValueError("TorchMLPClassifier supports relu with adam or sgd")
        self.hidden_layer_sizes = hidden_layer_sizes
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.activation = activation

    def _build(self, sizes):
        import torch

        layers = []
        for fan_in, fan_out in itertools.pairwise(sizes):
            linear = torch.nn.Linear(fan_in, fan_out)
            bound = math.sqrt(6.0 / (fan_in + fan_out))
            with torch.no_grad():
                linear.weight.uniform_(-bound, bound)
                linear.bias.uniform_(-bound, bound)
            layers += [linear, torch.nn.ReLU()]
        return torch.nn.Sequential(*layers[:-1])  # no ReLU after the output

    def fit(self, X, y):
        import torch

        seed = 0 if self.random_state is None else int(self.random_state)
        torch.manual_seed(seed)
        X_t = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        y_t = torch.from_numpy(y_idx.astype(np.int64))
        n_samples = X_t.shape[0]
        sizes = [X_t.shape[1], *self.hidden_layer_sizes, len(self.classes_)]
        model = self._build(sizes)
        weights = [m.weight for m in model if isinstance(m, torch.nn.Linear)]
        if self.solver == "adam":
            optimizer = torch.optim.Adam(
                model.parameters(),
                lr=self.learning_rate_init,
                betas=(0.9, 0.999),
                eps=1e-8,
                weight_decay=0,
            )
        else:
            optimizer = torch.optim.SGD(
                model.parameters(),
                lr=self.learning_rate_init,
                momentum=self.momentum,
                nesterov=self.nesterovs_momentum,
            )
        loss_fn = torch.nn.CrossEntropyLoss()
        generator = torch.Generator().manual_seed(seed)
        batch = max(1, min(self.batch_size, n_samples))
        for _ in range(self.max_iter):
            if self.shuffle:
                order = torch.randperm(n_samples, generator=generator)
            else:
                order = torch.arange(n_samples)
            for start in range(0, n_samples, batch):
                idx = order[start : start + batch]
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(model(X_t[idx]), y_t[idx])
                loss.backward()
                if self.alpha:
                    with torch.no_grad():
                        for w in weights:
                            w.grad.add_(w, alpha=self.alpha / len(idx))
                optimizer.step()
        self.model_ = model
        self.n_iter_ = self.max_iter
        return self

    def predict_proba(self, X):
        import torch

        X_t = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
        with torch.inference_mode():
            return torch.softmax(self.model_(X_t), dim=1).numpy()

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def _numpy_only_class():
    from skscratch import ScratchMLPClassifier
    from skscratch.core import compiled

    class NumpyOnlyScratchMLPClassifier(ScratchMLPClassifier):
        """skscratch with its optimizers' NumPy code, not the Numba kernels."""

        def fit(self, X, y, **kwargs):
            with compiled.disabled():
                return super().fit(X, y, **kwargs)

    return NumpyOnlyScratchMLPClassifier


def available_impls(requested):
    """Return ``(classes, notes)``: estimator classes that import, and why not."""
    classes, notes = {}, []
    for name in requested:
        try:
            if name == "skscratch":
                from skscratch import ScratchMLPClassifier as cls
            elif name == "skscratch-numpy":
                from skscratch.core import compiled

                if not compiled.available():
                    notes.append(
                        "skscratch-numpy skipped: Numba is not installed, so "
                        "skscratch itself runs its NumPy code"
                    )
                    continue
                cls = _numpy_only_class()
            elif name == "sklearn":
                from sklearn.neural_network import MLPClassifier as cls
            elif name == "torch":
                import torch  # noqa: F401

                cls = TorchMLPClassifier
            else:
                raise ValueError(f"unknown implementation {name!r}")
        except ImportError as exc:
            notes.append(f"{name} skipped: not importable ({exc})")
            continue
        classes[name] = cls
    return classes, notes


def blas_threads():
    """Number of threads of the BLAS numpy uses (None if unknown)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    counts = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    return max(counts) if counts else None


def limit_threads(n):
    """Cap every BLAS / OpenMP pool loaded so far at ``n`` threads."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(n)  # stays in force for the rest of the process


def configure_torch():
    """Match PyTorch's intra-op threads to the BLAS thread count."""
    import torch

    n = blas_threads() or os.cpu_count() or 1
    torch.set_num_threads(n)
    return n


def settle(cfg):
    """Prepare a timed call: collect garbage, then let the cores go idle.

    After a multi-threaded call, OpenBLAS keeps its idle threads spinning
    for about 0.1 s (measured here: 11 ticks of CPU time on the other core
    after one 500 x 500 product). A run that starts within that window
    shares a core with a thread left busy by whichever run came before it;
    for skscratch's two-thread training loop that cost 35-70 ms per 2-epoch
    fit. Waiting ``cfg.settle`` seconds gives every implementation the same
    idle start.
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
        return time.perf_counter() - start


def accuracy(estimator, X, y):
    return float(np.mean(estimator.predict(X) == y))


# ---------------------------------------------------------------------------
# Matrix-product floor
# ---------------------------------------------------------------------------


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
        rng.standard_normal((a, b)).astype(dtype) * 0.05
        for a, b in itertools.pairwise(sizes)
    ]


def matmul_floor_epoch(X, hidden, n_out, batch_size):
    """Seconds for only the matrix products of one epoch of the network.

    Per mini-batch of contiguous rows of ``X``: forward ``X@W1, H1@W2, ...``,
    weight gradients ``X.T@D1, H1.T@D2, ...`` and input gradients
    ``D_k@W_k.T`` for every layer but the first, all with ``np.matmul`` into
    preallocated buffers. Nothing else (activations, loss, updates, shuffling)
    is done, so a real implementation cannot beat this number.

    Every array, ``X`` included (copied before the clock starts), begins on a
    cache line, as skscratch's buffers do: BLAS runs 1-2% faster on such
    arrays than on NumPy's 16-byte aligned ones, and the floor must not give
    that away.
    """
    from skscratch.core.memory import aligned_empty

    dtype = X.dtype
    X = _aligned_copy(X)
    rng = np.random.default_rng(RANDOM_STATE)
    sizes = [X.shape[1], *hidden, n_out]
    weights = [_aligned_copy(w) for w in _floor_weights(sizes, dtype, rng)]
    weight_grads = [aligned_empty(w.shape, dtype) for w in weights]

    def buffers(rows):
        acts = [aligned_empty((rows, s), dtype) for s in sizes[1:]]
        deltas = [
            _aligned_copy(rng.standard_normal((rows, s)).astype(dtype))
            for s in sizes[1:]
        ]
        back = [aligned_empty((rows, s), dtype) for s in sizes[1:-1]]
        return acts, deltas, back

    n = X.shape[0]
    full = buffers(batch_size)
    tail = buffers(n % batch_size) if n % batch_size else None
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
    weights = [_aligned_copy(w) for w in _floor_weights(sizes, X.dtype, rng)]
    outputs = [aligned_empty((X.shape[0], s), X.dtype) for s in sizes[1:]]
    start = time.perf_counter()
    inputs = [X, *outputs[:-1]]
    for k, w in enumerate(weights):
        np.matmul(inputs[k], w, out=outputs[k])
    return time.perf_counter() - start


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------


def default_data_dir():
    env = os.environ.get("SKSCRATCH_MNIST_DIR", "").strip()
    if env:
        return env
    shared = REPO_ROOT.parent / "shared" / "datasets" / "mnist"
    return str(shared) if shared.is_dir() else None


def load_mnist_or_exit(data_dir, dtype, n_train, n_test):
    """Load (a prefix of) MNIST; on missing/corrupt data explain and exit 2."""
    from skscratch.datasets import load_mnist

    try:
        X_train, y_train, X_test, y_test = load_mnist(data_dir, dtype=dtype)
    except (FileNotFoundError, ValueError) as exc:
        print(
            f"error: MNIST is needed for the selected workloads.\n{exc}\n"
            "Run with --data-dir DIR, or set SKSCRATCH_MNIST_DIR, or select only "
            "--workloads lbfgs_digits (no MNIST needed).",
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


# ---------------------------------------------------------------------------
# Measurement records
# ---------------------------------------------------------------------------


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


def rotated(items, rep):
    items = list(items)
    if not items:
        return items
    k = rep % len(items)
    return items[k:] + items[:k]


def stochastic_params(workload, epochs):
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


def run_fit_workload(workload, classes, data, cfg, results):
    """Interleaved repeated fits; seconds per epoch (or per fit for lbfgs)."""
    X_train, y_train, X_test, y_test = data
    if workload == "lbfgs_digits":
        params = {
            "hidden_layer_sizes": (100,),
            "solver": "lbfgs",
            "max_iter": cfg.lbfgs_iter,
            "random_state": RANDOM_STATE,
        }
    else:
        params = stochastic_params(workload, cfg.epochs)
    classes = dict(classes)
    warm_up(classes, params, X_train, y_train, results, workload)
    contenders = list(classes)
    if workload in FLOOR_WORKLOADS:
        contenders.append(FLOOR)
    for rep in range(cfg.repeats):
        for name in rotated(contenders, rep):
            if name not in classes and name != FLOOR:
                continue  # failed in an earlier repetition
            settle(cfg)
            if name == FLOOR:
                secs = [
                    matmul_floor_epoch(X_train, HIDDEN, 10, params["batch_size"])
                    for _ in range(cfg.epochs)
                ]
                per = sum(secs) / len(secs)
                results.runs.append(Run(workload, FLOOR, rep, per, sum(secs)))
                log(f"  rep {rep + 1}/{cfg.repeats} floor: {per:.3f} s/epoch")
                continue
            try:
                estimator = classes[name](**params)
                fit_s = fit_quietly(estimator, X_train, y_train)
                n_iter = int(estimator.n_iter_)
                acc = accuracy(estimator, X_test, y_test)
            except Exception as exc:  # report it and go on
                _fail(results, workload, name, exc)
                del classes[name]
                continue
            per = fit_s if workload == "lbfgs_digits" else fit_s / max(n_iter, 1)
            results.runs.append(Run(workload, name, rep, per, fit_s, n_iter, acc))
            log(
                f"  rep {rep + 1}/{cfg.repeats} {name}: fit {fit_s:.2f} s, "
                f"{n_iter} iter, acc {acc:.4f}"
            )


def run_predict_workload(classes, data, cfg, results):
    """Seconds per predict_proba call on the test set, many calls each."""
    workload = "predict_proba"
    X_train, y_train, X_test, y_test = data
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
    accs = {name: accuracy(m, X_test, y_test) for name, m in models.items()}
    matmul_floor_predict(X_test, HIDDEN, 10)  # warm-up, like the models
    for rep in range(cfg.repeats):
        for name in rotated([*models, FLOOR], rep):
            times = []
            # The cores settle before each block of calls; within a block,
            # each call follows one of the same implementation.
            settle(cfg)
            for _ in range(cfg.predict_calls):
                gc.collect()
                if name == FLOOR:
                    times.append(matmul_floor_predict(X_test, HIDDEN, 10))
                    continue
                start = time.perf_counter()
                models[name].predict_proba(X_test)
                times.append(time.perf_counter() - start)
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


def run_sweep(classes, data, cfg, results):
    """One-hidden-layer adam fits over a width x batch-size grid (1 epoch)."""
    workload = "sweep"
    X_train, y_train, _, _ = data
    X, y = X_train[: cfg.sweep_rows], y_train[: cfg.sweep_rows]
    classes = {k: v for k, v in classes.items() if k in ("skscratch", "sklearn")}
    base = dict(stochastic_params("adam32", 1), hidden_layer_sizes=(64,))
    warm_up(classes, base, X, y, results, workload)
    for width in SWEEP_WIDTHS:
        for batch in SWEEP_BATCHES:
            params = dict(base, hidden_layer_sizes=(width,), batch_size=batch)
            point = (width, batch)
            for rep in range(cfg.repeats):
                for name in rotated([*classes, FLOOR], rep):
                    if name == FLOOR:
                        settle(cfg)
                        secs = matmul_floor_epoch(X, (width,), 10, batch)
                        results.runs.append(
                            Run(workload, FLOOR, rep, secs, secs, 1, point=point)
                        )
                        continue
                    if name not in classes:
                        continue
                    settle(cfg)
                    try:
                        fit_s = fit_quietly(classes[name](**params), X, y)
                    except Exception as exc:  # report it and go on
                        _fail(results, workload, name, exc)
                        del classes[name]
                        continue
                    results.runs.append(
                        Run(workload, name, rep, fit_s, fit_s, 1, point=point)
                    )
                    log(f"  width {width} batch {batch} {name}: {fit_s:.2f} s")


# ---------------------------------------------------------------------------
# Memory (separate fresh processes, never mixed with timing)
# ---------------------------------------------------------------------------


def _proc_status_kib(key):
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss():
    """Reset VmHWM (Linux: write 5 to clear_refs). Returns True on success."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def memory_probe(impl, cfg):
    """Run in a child process: measure what one adam32 fit allocates.

    Returns a dict with the tracemalloc peak (bytes) of a fit and the growth
    of the resident-set high-water mark during another, untraced fit.
    """
    classes, _ = available_impls([impl])
    if impl not in classes:
        return {"error": "not importable"}
    if cfg.threads:
        limit_threads(cfg.threads)
    if impl == "torch":
        configure_torch()
    X, y, _, _ = load_mnist_or_exit(cfg.data_dir, np.float32, cfg.train_rows, 0)
    params = stochastic_params("adam32", cfg.epochs)
    # Warm up on a tiny, differently shaped problem: this pays one-time costs
    # (lazy imports, thread pools) without pre-touching the real fit's buffers.
    tiny = dict(params, hidden_layer_sizes=(3,), batch_size=8, max_iter=1)
    fit_quietly(classes[impl](**tiny), X[:32, :20], y[:32])
    gc.collect()
    out = {}
    # First an untraced fit for the resident-set high-water mark, then a
    # traced one (tracemalloc's own bookkeeping would inflate the RSS).
    rss_before = _proc_status_kib("VmRSS")
    if rss_before is not None and _reset_peak_rss():
        fit_quietly(classes[impl](**params), X, y)
        out["rss_growth"] = 1024 * (_proc_status_kib("VmHWM") - rss_before)
    gc.collect()
    tracemalloc.start()
    fit_quietly(classes[impl](**params), X, y)
    out["tracemalloc_peak"] = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    out["data_bytes"] = int(X.nbytes)
    return out


def run_memory(impls, cfg, results):
    for impl in impls:
        log(f"  memory probe: {impl} (fresh process)")
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--memory-probe",
            impl,
            "--data-dir",
            str(cfg.data_dir),
            "--epochs",
            str(cfg.epochs),
        ]
        if cfg.quick:
            cmd.append("--quick")
        if cfg.threads:
            cmd += ["--threads", str(cfg.threads)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        try:
            results.memory[impl] = json.loads(proc.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            tail = (proc.stderr or "").strip().splitlines()[-1:]
            results.memory[impl] = {"error": f"probe failed: {' '.join(tail)}"}


# ---------------------------------------------------------------------------
# Machine description and report
# ---------------------------------------------------------------------------


def _cpuinfo():
    """``(key, value)`` pairs of /proc/cpuinfo, in order (none where it is
    unavailable)."""
    try:
        with open("/proc/cpuinfo") as fh:
            lines = fh.readlines()
    except OSError:
        return []
    pairs = (line.partition(":") for line in lines)
    return [(key.strip(), value.strip()) for key, _, value in pairs]


def _cpu_model():
    physical = set()
    model = None
    current_physical = None
    for key, value in _cpuinfo():
        if key == "model name" and model is None:
            model = value
        elif key == "physical id":
            current_physical = value
        elif key == "core id":
            physical.add((current_physical, value))
    return model or platform.processor() or "unknown", len(physical) or None


def _cpu_flags():
    """The CPU feature flags of /proc/cpuinfo (empty where unavailable)."""
    return next((set(v.split()) for k, v in _cpuinfo() if k == "flags"), set())


# OpenBLAS core types whose kernels use AVX-512.
AVX512_CORETYPES = {"skylakex", "cooperlake", "sapphirerapids"}


def _openblas_coretypes(env=None):
    """The kernel sets ("architecture") of the OpenBLAS libraries loaded by
    NumPy and SciPy: in this process, or in a fresh one run with ``env``."""
    if env is None:
        from threadpoolctl import threadpool_info

        infos = threadpool_info()
    else:
        code = (
            "import json, numpy, scipy.linalg; "
            "from threadpoolctl import threadpool_info; "
            "print(json.dumps(threadpool_info()))"
        )
        done = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        infos = json.loads(done.stdout)
    return sorted(
        {
            lib["architecture"]
            for lib in infos
            if lib.get("internal_api") == "openblas" and lib.get("architecture")
        }
    )


def blas_kernel_note():
    """A note when OpenBLAS runs kernels older than the CPU has, or None.

    OpenBLAS picks its kernels when it is loaded: from ``OPENBLAS_CORETYPE``
    if the environment sets it, else from the CPU model. Kernels without
    AVX-512 on a CPU that has it leave half of each vector unit idle. That
    slows every implementation's matrix products alike, but they then weigh
    more in each fit, so the ratios change too.
    """
    if "avx512f" not in _cpu_flags():
        return None
    try:
        current = _openblas_coretypes()
    except ImportError:
        return None
    if not current or all(c.lower() in AVX512_CORETYPES for c in current):
        return None
    forced = os.environ.get("OPENBLAS_CORETYPE")
    if not forced:
        return (
            f"OpenBLAS runs its {'/'.join(current)} kernels on this AVX-512 CPU "
            "(it did not recognise the model; for AMD Zen 5 see OpenBLAS issue "
            "#6029). `OPENBLAS_CORETYPE=SkylakeX` selects the AVX-512 kernels"
        )
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    try:
        own = "/".join(_openblas_coretypes(env)) or "unknown"
    except (OSError, subprocess.SubprocessError, ValueError):
        own = "unknown"
    return (
        f"the environment sets OPENBLAS_CORETYPE={forced}, so OpenBLAS runs its "
        f"{'/'.join(current)} kernels on this AVX-512 CPU; left to detect the "
        f"CPU itself, it picks {own} (checked in a subprocess without the "
        "variable)"
    )


def _version(module):
    try:
        return __import__(module).__version__
    except (ImportError, AttributeError):
        return None


def _optimizer_code():
    try:
        from skscratch.core import compiled
    except ImportError:
        return "n/a"
    if compiled.enabled():
        return "compiled with Numba (skscratch-numpy: the NumPy code)"
    return "NumPy code (Numba not installed or switched off)"


def machine_info():
    model, physical = _cpu_model()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    info = {
        "cpu": model,
        "logical_cores": os.cpu_count(),
        "physical_cores": physical,
        "usable_cores": usable,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": _version("scipy"),
        "scikit-learn": _version("sklearn"),
        "torch": _version("torch"),
        "numba": _version("numba"),
        "skscratch": _version("skscratch"),
        "blas": [],
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
        "optimizer_code": _optimizer_code(),
    }
    try:
        from threadpoolctl import threadpool_info

        for lib in threadpool_info():
            details = [
                lib.get("user_api"),
                lib.get("architecture"),
                lib.get("threading_layer"),
                f"threads={lib.get('num_threads')}",
                Path(lib.get("filepath", "")).name,
            ]
            name = " ".join(
                str(x) for x in (lib.get("internal_api"), lib.get("version")) if x
            )
            info["blas"].append(f"{name} ({', '.join(d for d in details if d)})")
    except ImportError:
        pass
    if not info["blas"]:
        try:
            deps = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
            info["blas"].append(f"{deps.get('name')} {deps.get('version')}")
        except (KeyError, TypeError, ValueError):
            info["blas"].append("unknown")
    return info


def _fmt(x):
    if x is None:
        return ""
    return f"{x:.3g}" if abs(x) < 100 else f"{x:.0f}"


UNITS = {
    "adam32": ("s/epoch", 1.0, "float32"),
    "adam64": ("s/epoch", 1.0, "float64"),
    "sgd": ("s/epoch", 1.0, "float32"),
    "lbfgs_digits": ("s/fit", 1.0, "float64"),
    "predict_proba": ("ms/call", 1e3, "float32"),
}


def _table_impls(results, workload):
    """The implementations with runs of ``workload``, in the tables' order."""
    return [i for i in (*ALL_IMPLS, FLOOR) if results.values(workload, i)]


def timing_table(results, workloads):
    lines = [
        (
            "| workload | dtype | impl | unit | median | min-max | vs sklearn "
            "| vs floor | accuracy | core round trip (us) |"
        ),
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for workload in workloads:
        if workload not in UNITS:
            continue
        unit, scale, dtype = UNITS[workload]
        impls = _table_impls(results, workload)
        medians = {i: statistics.median(results.values(workload, i)) for i in impls}
        ref = medians.get("sklearn")
        floor = medians.get(FLOOR)
        for impl in impls:
            vals = results.values(workload, impl)
            accs = [
                r.accuracy
                for r in results.runs
                if r.workload == workload and r.impl == impl and r.accuracy is not None
            ]
            med = medians[impl]
            # The floor's ratio is the lowest any NumPy implementation can reach.
            vs_ref = f"{med / ref:.2f}x" if ref else ""
            vs_floor = f"{med / floor:.2f}x" if floor else ""
            label = FLOOR_LABEL if impl == FLOOR else impl
            lines.append(
                f"| {workload} | {dtype} | {label} | {unit} | {_fmt(med * scale)} "
                f"| {_fmt(min(vals) * scale)}-{_fmt(max(vals) * scale)} "
                f"| {vs_ref} | {vs_floor} "
                f"| {f'{statistics.median(accs):.4f}' if accs else ''} "
                f"| {_round_trips(results, workload, impl)} |"
            )
        for impl, message in results.failed.get(workload, {}).items():
            lines.append(
                f"| {workload} | {dtype} | {impl} | failed | | | | | {message} | |"
            )
    return lines


def _placement(run):
    """'nearby', 'distant' or None (no round trip measured) for a run."""
    if run.core_rtt_us is None:
        return None
    return "distant" if run.core_rtt_us > DISTANT_CORES_US else "nearby"


def _round_trips(results, workload, impl):
    """Median core round trip after this row's runs, and how many of them
    found the threads on distant cores."""
    runs = [
        r
        for r in results.runs
        if r.workload == workload and r.impl == impl and _placement(r) is not None
    ]
    if not runs:
        return ""
    distant = sum(_placement(r) == "distant" for r in runs)
    trips = [r.core_rtt_us for r in runs]
    return f"{statistics.median(trips):.2f} ({distant}/{len(trips)} distant)"


def _placement_medians(results, workload, impl, point=None):
    """Median seconds and run count per core placement of these runs."""
    by_place = {"nearby": [], "distant": []}
    for r in results.runs:
        if r.workload == workload and r.impl == impl and r.point == point:
            place = _placement(r)
            if place is not None:
                by_place[place].append(r.seconds)
    return {
        place: (statistics.median(vals) if vals else None, len(vals))
        for place, vals in by_place.items()
    }


def placement_table(results, workloads):
    """Medians and ratios to scikit-learn computed within each core placement.

    The two virtual CPUs of the benchmark's VM run on nearby or distant cores
    in phases of seconds to minutes, and every two-thread loop is slower in
    the distant phase. An overall median can set skscratch's runs in one
    phase against scikit-learn's in the other; here each implementation's
    runs are compared with scikit-learn's runs in the same placement.
    Returns no lines when no run has a round trip.
    """
    if not any(_placement(r) for r in results.runs):
        return []
    lines = [
        (
            "| workload | impl | nearby runs | nearby median | nearby vs sklearn "
            "| distant runs | distant median | distant vs sklearn |"
        ),
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for workload in workloads:
        if workload not in UNITS:
            continue
        _, scale, _ = UNITS[workload]
        impls = _table_impls(results, workload)
        ref = _placement_medians(results, workload, "sklearn")
        for impl in impls:
            cells = []
            for place, (med, count) in _placement_medians(
                results, workload, impl
            ).items():
                ref_med = ref[place][0]
                ratio = f"{med / ref_med:.2f}x" if med and ref_med else ""
                cells += [str(count), _fmt(med * scale) if med else "", ratio]
            label = FLOOR_LABEL if impl == FLOOR else impl
            lines.append(f"| {workload} | {label} | " + " | ".join(cells) + " |")
    return lines


def memory_table(results):
    mib = 1024.0**2
    lines = [
        (
            "| impl | tracemalloc peak during fit (MiB) | peak RSS growth (MiB) "
            "| data X (MiB) |"
        ),
        "|---|---:|---:|---:|",
    ]
    for impl, m in results.memory.items():
        if "error" in m:
            lines.append(f"| {impl} | {m['error']} | | |")
            continue
        tm = m.get("tracemalloc_peak")
        rss = m.get("rss_growth")
        lines.append(
            f"| {impl} | {_fmt(tm / mib) if tm is not None else 'n/a'} "
            f"| {_fmt(rss / mib) if rss is not None else 'n/a'} "
            f"| {_fmt(m['data_bytes'] / mib)} |"
        )
    return lines


def sweep_tables(results):
    def grid(title, cell):
        rows = [
            f"{title}",
            "",
            "| width \\ batch | " + " | ".join(map(str, SWEEP_BATCHES)) + " |",
            "|---|" + "---:|" * len(SWEEP_BATCHES),
        ]
        for w in SWEEP_WIDTHS:
            cells = [cell((w, b)) for b in SWEEP_BATCHES]
            rows.append(f"| {w} | " + " | ".join(cells) + " |")
        return [*rows, ""]

    def med(impl, point):
        vals = results.values("sweep", impl, point)
        return statistics.median(vals) if vals else None

    def ratio(impl):
        def cell(point):
            a, b = med(impl, point), med("sklearn", point)
            return f"{a / b:.2f}x" if a and b else "n/a"

        return cell

    def placement_ratio(point):
        mine = _placement_medians(results, "sweep", "skscratch", point)
        ref = _placement_medians(results, "sweep", "sklearn", point)
        cells = []
        for place in ("nearby", "distant"):
            (a, n_a), (b, n_b) = mine[place], ref[place]
            cells.append(f"{a / b:.2f}x ({n_a}/{n_b})" if a and b else "n/a")
        return " / ".join(cells)

    lines = grid("Ratio skscratch / sklearn (median fit seconds):", ratio("skscratch"))
    if any(_placement(r) for r in results.runs if r.workload == "sweep"):
        lines += grid(
            "The same ratio within each core placement, nearby / distant (runs "
            "of skscratch/sklearn in brackets):",
            placement_ratio,
        )
    if any(r.impl == FLOOR and r.workload == "sweep" for r in results.runs):
        lines += grid(
            "Ratio floor / sklearn: the lowest ratio reachable with dense "
            "products, doing only the matrix products of the epoch (see the "
            "benchmark's README):",
            ratio(FLOOR),
        )
    for impl in ("skscratch", "sklearn", FLOOR):
        if any(r.impl == impl and r.workload == "sweep" for r in results.runs):
            label = FLOOR_LABEL if impl == FLOOR else impl
            lines += grid(
                f"{label} median seconds:",
                lambda p, impl=impl: _fmt(med(impl, p)) or "n/a",
            )
    return lines


def report(info, cfg, results, workloads):
    out = ["# skscratch MLP benchmark", ""]
    cores = (
        f"{info['logical_cores']} logical, {info['physical_cores'] or '?'} physical, "
        f"{info['usable_cores']} usable"
    )
    out += [
        f"- CPU: {info['cpu']} ({cores})",
        f"- {info['platform']}, Python {info['python']}",
        "- versions: "
        + ", ".join(
            f"{k} {info[k] or 'n/a'}"
            for k in ("numpy", "scipy", "scikit-learn", "torch", "numba", "skscratch")
        ),
        "- BLAS / thread pools: " + "; ".join(info["blas"]),
        f"- OPENBLAS_CORETYPE: {info.get('openblas_coretype') or 'not set'}",
        f"- skscratch's optimizer steps: {info.get('optimizer_code')}",
        f"- torch threads: {cfg.torch_threads or 'n/a'}",
        "- core round trip: a cache line between two threads' cores and "
        "back, measured after every timed run; above "
        f"{DISTANT_CORES_US} us the two threads ran on distant cores, where "
        "skscratch's two-thread training loop is slower (see the benchmark's "
        "README)",
        f"- 1-min load average: {info.get('load_start')} at start, "
        f"{info.get('load_end')} at end (other work on the machine skews timings)",
        f"- settings: repeats={cfg.repeats}, epochs={cfg.epochs}, "
        f"MNIST rows train={cfg.train_rows} test={cfg.test_rows}, "
        f"sweep rows={cfg.sweep_rows}, predict calls/rep={cfg.predict_calls}, "
        f"lbfgs max_iter={cfg.lbfgs_iter}, settle={cfg.settle:g} s, "
        f"random_state={RANDOM_STATE}" + (" (--quick)" if cfg.quick else ""),
    ]
    out += [f"- note: {n}" for n in results.notes]
    out.append("")
    if any(w in UNITS for w in workloads):
        out += ["## Timings", "", *timing_table(results, workloads), ""]
        by_place = placement_table(results, workloads)
        if by_place:
            out += [
                "## Timings by core placement",
                "",
                "Each implementation's runs compared with scikit-learn's runs "
                "made in the same core placement (see the round trip above).",
                "",
                *by_place,
                "",
            ]
    if results.memory:
        out += [
            "## Memory (adam32 fit, beyond the data)",
            "",
            *memory_table(results),
            "",
        ]
    if "sweep" in workloads:
        title = "one hidden layer, adam, float32, 1 epoch"
        out += [
            f"## Sweep: {title} on {cfg.sweep_rows} rows",
            "",
            *sweep_tables(results),
        ]
    return "\n".join(out).rstrip() + "\n"


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


@dataclass
class Config:
    data_dir: str | None
    repeats: int
    epochs: int
    quick: bool
    train_rows: int
    test_rows: int
    sweep_rows: int
    predict_calls: int
    lbfgs_iter: int
    settle: float = 0.0
    threads: int | None = None
    torch_threads: int | None = None


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Benchmark skscratch vs scikit-learn (and PyTorch) MLPs.",
    )
    parser.add_argument(
        "--data-dir",
        default=default_data_dir(),
        help="MNIST directory (default: $SKSCRATCH_MNIST_DIR, else "
        "<repo>/../shared/datasets/mnist if it exists)",
    )
    parser.add_argument("--repeats", type=int, help="repetitions (default 5)")
    parser.add_argument("--epochs", type=int, help="epochs per fit (default 5)")
    parser.add_argument(
        "--workloads",
        default=",".join(ALL_WORKLOADS),
        help="comma list from: " + ",".join(ALL_WORKLOADS),
    )
    parser.add_argument(
        "--impls",
        default=",".join(ALL_IMPLS),
        help="comma list of implementations (missing ones are skipped)",
    )
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch")
    parser.add_argument(
        "--threads",
        type=int,
        help="limit BLAS/OpenMP (and torch) threads to N via threadpoolctl "
        "(default: leave the libraries' own setting)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: 2 repeats, 1 epoch, 5000/2000 MNIST rows",
    )
    parser.add_argument(
        "--settle",
        type=float,
        help="seconds to wait before each timed run, so that no idle BLAS "
        "thread of the previous run still spins (default 0.2; 0 with --quick)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write raw results")
    parser.add_argument("--memory-probe", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for option in ("workloads", "impls"):
        names = [n.strip() for n in getattr(args, option).split(",") if n.strip()]
        allowed = ALL_WORKLOADS if option == "workloads" else ALL_IMPLS
        unknown = sorted(set(names) - set(allowed))
        if unknown:
            parser.error(f"unknown {option}: {', '.join(unknown)}")
        setattr(args, option, names)
    if args.no_torch and "torch" in args.impls:
        args.impls.remove("torch")
    for option in ("repeats", "epochs", "threads"):
        value = getattr(args, option)
        if value is not None and value < 1:
            parser.error(f"--{option} must be at least 1")
    if args.settle is not None and args.settle < 0:
        parser.error("--settle must not be negative")
    return args


def make_config(args):
    quick = args.quick
    return Config(
        data_dir=args.data_dir,
        repeats=args.repeats or (2 if quick else 5),
        epochs=args.epochs or (1 if quick else 5),
        quick=quick,
        train_rows=5000 if quick else 60000,
        test_rows=2000 if quick else 10000,
        sweep_rows=2000 if quick else 20000,
        predict_calls=3 if quick else 10,
        lbfgs_iter=50 if quick else 200,
        settle=args.settle if args.settle is not None else (0.0 if quick else 0.2),
        threads=args.threads,
    )


def main(argv=None):
    if str(REPO_ROOT) not in sys.path:
        # Measure this checkout's skscratch, installed or not.
        sys.path.insert(0, str(REPO_ROOT))
    args = parse_args(argv)
    cfg = make_config(args)
    if args.memory_probe:
        print(json.dumps(memory_probe(args.memory_probe, cfg)))
        return 0

    workloads = [w for w in ALL_WORKLOADS if w in args.workloads]
    load_start = load_average()
    results = Results()
    classes, notes = available_impls(args.impls)
    if cfg.threads:
        limit_threads(cfg.threads)  # after the imports that load the libraries
    results.notes += notes
    for note in notes:
        log(note)
    if "sklearn" not in classes:
        results.notes.append("sklearn not selected: no 'vs sklearn' ratios")
    if "torch" in classes:
        cfg.torch_threads = configure_torch()
        results.notes.append(
            "torch runs only adam32, sgd and predict_proba; its L2 term is "
            "added to the weight gradients as scikit-learn does"
        )

    mnist = None
    if MNIST_WORKLOADS & set(workloads):
        mnist = {}
        for dtype in (np.float32, np.float64):
            if dtype == np.float64 and "adam64" not in workloads:
                continue
            mnist[dtype] = load_mnist_or_exit(
                cfg.data_dir, dtype, cfg.train_rows, cfg.test_rows
            )
        log(f"MNIST loaded from {cfg.data_dir}")

    def pick(workload):
        def runs(name):
            if name == "torch":
                return workload in TORCH_WORKLOADS
            if name == "skscratch-numpy":
                return workload in NUMPY_VARIANT_WORKLOADS
            return True

        return {k: v for k, v in classes.items() if runs(k)}

    for workload in workloads:
        log(f"== {workload}")
        if workload == "lbfgs_digits":
            run_fit_workload(workload, pick(workload), digits_split(), cfg, results)
        elif workload == "predict_proba":
            run_predict_workload(pick(workload), mnist[np.float32], cfg, results)
        elif workload == "sweep":
            run_sweep(pick(workload), mnist[np.float32], cfg, results)
        else:
            dtype = np.float64 if workload == "adam64" else np.float32
            run_fit_workload(workload, pick(workload), mnist[dtype], cfg, results)
        if workload == "adam32":
            run_memory(list(pick(workload)), cfg, results)

    info = machine_info()
    info["load_start"], info["load_end"] = load_start, load_average()
    kernel_note = blas_kernel_note()
    if kernel_note:
        results.notes.append(kernel_note)
    sys.stdout.write(report(info, cfg, results, workloads))
    if args.json:
        payload = {
            "machine": info,
            "config": asdict(cfg),
            "workloads": workloads,
            "notes": results.notes,
            "failed": results.failed,
            "memory": results.memory,
            "runs": [asdict(r) for r in results.runs],
        }
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
        log(f"raw results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
