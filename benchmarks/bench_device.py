"""Benchmark skscratch on a device: PyTorch tensors on a GPU (or the CPU)
under scikit-learn's array-API dispatch.

Three contenders train the same network in one process, interleaved (the
order rotates between repetitions): skscratch fitted on torch tensors on
``--device`` inside ``sklearn.config_context(array_api_dispatch=True)``, a
hand-written PyTorch eager loop of the same network on the same device, and
skscratch's NumPy CPU path. The wide workload also times ``torch.matmul``
on the device, for the fraction of its throughput the fits reach. The
Markdown report goes to stdout (and ``--out``), progress to stderr. See
``benchmarks/README.md``, "Device benchmark".

Usage::

    python benchmarks/bench_device.py                    # cuda if present, else cpu
    python benchmarks/bench_device.py --device cpu --quick
    python benchmarks/bench_device.py --device cuda --json r.json --out r.md
"""

import os
import sys
from pathlib import Path

# scikit-learn's dispatch needs SciPy's array-API mode, which SciPy reads once,
# when it is imported: so before anything below imports it.
os.environ["SCIPY_ARRAY_API"] = "1"

# The sibling modules import each other by name, wherever this file is run from.
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))

import argparse
import gc
from dataclasses import dataclass, field

import device_contenders as dc
import numpy as np
from device_report import DeviceRun, markdown, write_json
from implementations import configure_torch, limit_threads
from machine import machine_info
from runner import load_average, rotated, settle
from settings import REPO_ROOT, default_data_dir, log
from workloads import load_mnist_or_exit, stochastic_params


@dataclass
class DeviceConfig:
    device: str
    repeats: int
    epochs: int
    mnist_rows: int
    rows: int
    width: int
    quick: bool
    synthetic: bool
    data_dir: str | None
    settle: float
    workloads: list
    impls: list
    threads: int | None = None
    torch_threads: int | None = None


@dataclass
class DeviceData:
    """One workload's training data, on the host and on the device."""

    X_host: np.ndarray
    y_host: np.ndarray
    X: object  # float32 tensor on the device
    y: object  # int64 class indices on the device


@dataclass
class DeviceResults:
    runs: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    failed: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def _comma_list(allowed):
    def parse(text):
        names = [n.strip() for n in text.split(",") if n.strip()]
        unknown = sorted(set(names) - set(allowed))
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown: {', '.join(unknown)}")
        return [n for n in allowed if n in names]

    return parse


def build_parser():
    parser = argparse.ArgumentParser(
        description="Benchmark skscratch on PyTorch tensors on a device against "
        "a hand-written PyTorch loop and skscratch's NumPy CPU path.",
    )
    add = parser.add_argument
    add("--device", choices=("cpu", "cuda"), help="default: cuda if available")
    add("--repeats", type=int, help="repetitions (default 5 on cuda, 3 on cpu)")
    add("--epochs", type=int, help="epochs per fit (default 2 on cuda, 1 on cpu)")
    add("--rows", type=int, help="wide workload's rows (16384 cuda, 2048 cpu)")
    add("--mnist-rows", type=int, help="mnist workload's rows (60000 cuda, 10000 cpu)")
    add("--width", type=int, default=4096, help="wide network's width")
    add(
        "--workloads",
        type=_comma_list(dc.WORKLOADS),
        default=list(dc.WORKLOADS),
        help="comma list from: " + ",".join(dc.WORKLOADS),
    )
    add(
        "--impls",
        type=_comma_list(dc.DEVICE_IMPLS),
        default=list(dc.DEVICE_IMPLS),
        help="comma list from: " + ",".join(dc.DEVICE_IMPLS),
    )
    add("--threads", type=int, help="cap BLAS and torch CPU threads at N")
    add("--settle", type=float, help="seconds of idle before each run (0.2)")
    add("--quick", action="store_true", help="smoke test: small data, 2 repeats")
    add("--synthetic", action="store_true", help="generated MNIST-like data")
    add(
        "--data-dir",
        default=default_data_dir(),
        help="MNIST directory (default: $SKSCRATCH_MNIST_DIR, else "
        "<repo>/../shared/datasets/mnist if it exists)",
    )
    add("--json", metavar="FILE", help="also write raw results as JSON")
    add("--out", metavar="FILE", help="also write the Markdown report here")
    return parser


def parse_args(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    for option in ("repeats", "epochs", "rows", "mnist_rows", "width", "threads"):
        value = getattr(args, option)
        if value is not None and value < 1:
            parser.error(f"--{option.replace('_', '-')} must be at least 1")
    if args.settle is not None and args.settle < 0:
        parser.error("--settle must not be negative")
    return args


def default_device():
    """cuda where PyTorch sees a GPU, else cpu."""
    return "cuda" if dc.import_torch().cuda.is_available() else "cpu"


def make_config(args):
    device = args.device or default_device()
    gpu, quick = device == "cuda", args.quick
    return DeviceConfig(
        device=device,
        repeats=args.repeats or (2 if quick else 5 if gpu else 3),
        epochs=args.epochs or (2 if gpu and not quick else 1),
        mnist_rows=args.mnist_rows or (2000 if quick else 60000 if gpu else 10000),
        rows=args.rows or (1024 if quick else 16384 if gpu else 2048),
        width=args.width,
        quick=quick,
        synthetic=args.synthetic,
        data_dir=args.data_dir,
        settle=args.settle if args.settle is not None else (0.0 if quick else 0.2),
        workloads=args.workloads,
        impls=args.impls,
        threads=args.threads,
    )


# ---------------------------------------------------------------------------
# Data and contenders
# ---------------------------------------------------------------------------


def load_data(cfg):
    """``(X, y)`` on the host: MNIST's training rows, or generated ones."""
    rows = max(cfg.mnist_rows, cfg.rows)
    if cfg.synthetic:
        return dc.synthetic_mnist(rows)
    hint = "run with --synthetic (generated data, no MNIST needed)"
    X, y, _, _ = load_mnist_or_exit(cfg.data_dir, np.float32, rows, 0, hint=hint)
    log(f"MNIST loaded from {cfg.data_dir}")
    return X, y.astype(np.int64)


def on_device(torch, device, X, y):
    """``X`` and ``y`` as they are, and copied to ``device``."""
    X, y = np.ascontiguousarray(X), np.ascontiguousarray(y)
    X_dev, y_dev = (torch.from_numpy(a).to(device) for a in (X, y))
    return DeviceData(X, y, X_dev, y_dev)


def _contenders(cfg, results):
    """The selected contenders that can run here (a note for each that cannot)."""
    from skscratch import _namespaces

    names = list(cfg.impls)
    if dc.SKSCRATCH_TORCH in names and not _namespaces.supported():
        names.remove(dc.SKSCRATCH_TORCH)
        results.notes.append(
            f"{dc.SKSCRATCH_TORCH} skipped: array-API dispatch to torch tensors "
            "needs scikit-learn >= 1.9"
        )
    return names


def _setup_threads(cfg, torch):
    if cfg.threads:
        limit_threads(cfg.threads)
        torch.set_num_threads(cfg.threads)
        cfg.torch_threads = cfg.threads
    else:
        cfg.torch_threads = configure_torch()


# ---------------------------------------------------------------------------
# One workload, interleaved
# ---------------------------------------------------------------------------


def _params(cfg, workload):
    hidden, batch = dc.workload_shape(workload, cfg.width)
    return dict(
        stochastic_params("adam32", cfg.epochs),
        hidden_layer_sizes=hidden,
        batch_size=batch,
    )


def _fail(results, workload, name, exc, names):
    message = f"{type(exc).__name__}: {exc}"
    log(f"  !! {name} failed on {workload}: {message}")
    results.failed.setdefault(workload, {})[name] = message
    names.remove(name)


def _warm_up(workload, names, params, data, ctx):
    """One untimed fit of each contender on one batch (CUDA context, cuBLAS
    handles, Numba kernels)."""
    rows = min(len(data.X_host), params["batch_size"])
    small = DeviceData(*(a[:rows] for a in (data.X_host, data.y_host, data.X, data.y)))
    for name in list(names):
        try:
            dc.timed_fit(name, dict(params, max_iter=1), small, ctx.sync)
        except Exception as exc:  # report it and go on
            _fail(ctx.results, workload, name, exc, names)


def _time_one(workload, name, rep, params, data, ctx):
    if name == dc.MATMUL:
        seconds = ctx.matmul()
        run = DeviceRun(workload, name, rep, seconds, products=ctx.matmul.count)
    else:
        fit_s, n_iter, loss = dc.timed_fit(name, params, data, ctx.sync)
        per_epoch = fit_s / max(n_iter, 1)
        rows = len(data.X_host)
        run = DeviceRun(workload, name, rep, per_epoch, fit_s, n_iter, loss, rows)
    ctx.results.runs.append(run)
    log(f"  rep {rep + 1}/{ctx.cfg.repeats} {name}: {run.seconds:.4g} s")


def run_workload(workload, names, data, ctx):
    """Interleaved repetitions of every contender (and, for the wide
    network, ``torch.matmul``) on ``data``."""
    params = _params(ctx.cfg, workload)
    names = list(names)
    _warm_up(workload, names, params, data, ctx)
    if workload == "wide":
        ctx.matmul()  # warm-up, and finds how many products one timing takes
        names.append(dc.MATMUL)
    for rep in range(ctx.cfg.repeats):
        for name in rotated(names, rep):
            if name not in names:
                continue  # failed in an earlier repetition
            settle(ctx.cfg)
            try:
                _time_one(workload, name, rep, params, data, ctx)
            except Exception as exc:  # report it and go on
                _fail(ctx.results, workload, name, exc, names)


@dataclass
class Context:
    cfg: DeviceConfig
    results: DeviceResults
    sync: object
    matmul: object = None


def _run_all(cfg, torch, results, X, y):
    sync = dc.synchronizer(torch, cfg.device)
    ctx = Context(cfg, results, sync)
    names = _contenders(cfg, results)
    for workload in cfg.workloads:
        rows = cfg.mnist_rows if workload == "mnist" else cfg.rows
        log(f"== {workload} ({min(rows, len(X))} rows on {cfg.device})")
        data = on_device(torch, cfg.device, X[:rows], y[:rows])
        if workload == "wide":
            ctx.matmul = dc.MatmulTimer(torch, cfg.device, cfg.width, sync)
        run_workload(workload, names, data, ctx)
        del data
        ctx.matmul = None
        gc.collect()
        if cfg.device == "cuda":
            torch.cuda.empty_cache()


def device_info(torch, device):
    """The device's name and PyTorch's float32 settings, for the header."""
    info = {
        "device": device,
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
    }
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        info.update(
            name=props.name,
            memory_gib=round(props.total_memory / 1024**3, 1),
            cuda=torch.version.cuda,
            allow_tf32=getattr(torch.backends.cuda.matmul, "allow_tf32", None),
        )
    return info


def main(argv=None):
    args = parse_args(argv)
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))  # this checkout's skscratch
    cfg = make_config(args)
    X, y = load_data(cfg)  # missing data ends the run before torch is imported
    torch = dc.import_torch()
    if cfg.device == "cuda" and not torch.cuda.is_available():
        log("error: --device cuda, but this PyTorch sees no CUDA device")
        return 2
    load_start = load_average()
    _setup_threads(cfg, torch)
    device = device_info(torch, cfg.device)  # before the runs: a failure costs none
    results = DeviceResults()
    _run_all(cfg, torch, results, X, y)
    info = machine_info()
    info["load_start"], info["load_end"] = load_start, load_average()
    info["device"] = device
    text = markdown(info, cfg, results)
    sys.stdout.write(text)
    if args.out:
        Path(args.out).write_text(text)
    if args.json:
        write_json(args.json, info, cfg, results)
        log(f"raw results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
