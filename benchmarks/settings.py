"""What the benchmark runs: names of workloads and implementations, the
networks' shapes, and the settings of one run (:class:`Config`)."""

import os
import sys
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
# Child processes (memory probes, --compare-ref workers) run the command line.
SCRIPT = BENCH_DIR / "bench_mlp.py"

# "skscratch-numpy" is skscratch with its compiled kernels switched off.
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

# Round trips above this many microseconds mean the threads ran on distant
# cores (see "Core round trip" in the README).
DISTANT_CORES_US = 0.2

EXIT_NO_DATA = 2


def ref_label(ref):
    """The implementation name of skscratch as of git ``ref``."""
    return f"skscratch@{ref}"


def is_ref_build(name):
    """Whether ``name`` is skscratch at another commit (``--compare-ref``)."""
    return name.startswith("skscratch@")


def runs_skscratch_model(name):
    """Whether ``name`` fits skscratch's own model with its kernels as they are."""
    return name == "skscratch" or is_ref_build(name)


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


def log(message):
    """Progress output goes to stderr so stdout stays a clean table."""
    print(message, file=sys.stderr, flush=True)


def default_data_dir():
    env = os.environ.get("SKSCRATCH_MNIST_DIR", "").strip()
    if env:
        return env
    shared = REPO_ROOT.parent / "shared" / "datasets" / "mnist"
    return str(shared) if shared.is_dir() else None
