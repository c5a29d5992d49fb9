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
    python benchmarks/bench_mlp.py --workloads sgd --compare-ref HEAD~1

This file is the command line; the work is done by its sibling modules:
``workloads`` (data, parameters, floors), ``implementations``, ``runner``
(interleaved timing), ``memory_probe``, ``machine``, ``report`` and
``compare_ref``.
"""

import argparse
import json
import sys
from pathlib import Path

# The sibling modules import each other by name, wherever this file is run from.
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))

import compare_ref
import numpy as np
from implementations import available_impls, configure_torch, limit_threads
from machine import blas_kernel_note, machine_info
from memory_probe import memory_probe, run_memory
from report import report, write_json
from runner import (
    Results,
    load_average,
    load_kernels,
    run_fit_workload,
    run_predict_workload,
    run_sweep,
)
from settings import (
    ALL_IMPLS,
    ALL_WORKLOADS,
    MNIST_WORKLOADS,
    NUMPY_VARIANT_WORKLOADS,
    REPO_ROOT,
    TORCH_WORKLOADS,
    Config,
    default_data_dir,
    log,
)
from workloads import digits_split, load_mnist_or_exit

EXIT_BAD_REF = 2

# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def build_parser():
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
    parser.add_argument(
        "--compare-ref",
        metavar="GIT_REF",
        help="also time skscratch as of this git commit (e.g. HEAD, HEAD~1, a "
        "branch), as the implementation skscratch@GIT_REF, interleaved with "
        "the current code; both then run in worker processes",
    )
    parser.add_argument("--memory-probe", help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--skscratch-path", help=argparse.SUPPRESS)
    return parser


def parse_args(argv=None):
    parser = build_parser()
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
    if args.compare_ref is not None and "skscratch" not in args.impls:
        parser.error("--compare-ref needs skscratch among --impls")
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


# ---------------------------------------------------------------------------
# One benchmark run
# ---------------------------------------------------------------------------


def _put_skscratch_on_path(skscratch_path):
    """Measure this checkout's skscratch, installed or not (or, in a worker,
    the one under ``skscratch_path``)."""
    if skscratch_path:
        sys.path.insert(0, skscratch_path)
    elif str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))


def _implementations(args, cfg, results, comparison):
    """The estimator classes to time, by name; notes go into ``results``."""
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
    if comparison is not None and "skscratch" in classes:
        load_kernels()  # for the core round trip, measured in this process
        classes = comparison.replace(classes)
        results.notes += comparison.notes()
    return classes


def _load_mnist(cfg, workloads):
    """MNIST by dtype, for the workloads that need it (None if none does)."""
    if not MNIST_WORKLOADS & set(workloads):
        return None
    mnist = {}
    for dtype in (np.float32, np.float64):
        if dtype == np.float64 and "adam64" not in workloads:
            continue
        mnist[dtype] = load_mnist_or_exit(
            cfg.data_dir, dtype, cfg.train_rows, cfg.test_rows
        )
    log(f"MNIST loaded from {cfg.data_dir}")
    return mnist


def _contenders(classes, workload):
    """The implementations that run ``workload``."""

    def runs(name):
        if name == "torch":
            return workload in TORCH_WORKLOADS
        if name == "skscratch-numpy":
            return workload in NUMPY_VARIANT_WORKLOADS
        return True

    return {k: v for k, v in classes.items() if runs(k)}


def _run_workloads(workloads, classes, mnist, cfg, results, sources):
    for workload in workloads:
        log(f"== {workload}")
        picked = _contenders(classes, workload)
        if workload == "lbfgs_digits":
            run_fit_workload(workload, picked, digits_split(), cfg, results)
        elif workload == "predict_proba":
            run_predict_workload(picked, mnist[np.float32], cfg, results)
        elif workload == "sweep":
            run_sweep(picked, mnist[np.float32], cfg, results)
        else:
            dtype = np.float64 if workload == "adam64" else np.float32
            run_fit_workload(workload, picked, mnist[dtype], cfg, results)
        if workload == "adam32":
            run_memory(list(picked), cfg, results, sources)


def _benchmark(args, cfg, comparison):
    workloads = [w for w in ALL_WORKLOADS if w in args.workloads]
    load_start = load_average()
    results = Results()
    classes = _implementations(args, cfg, results, comparison)
    mnist = _load_mnist(cfg, workloads)
    sources = comparison.sources() if comparison else None
    _run_workloads(workloads, classes, mnist, cfg, results, sources)

    info = machine_info()
    info["load_start"], info["load_end"] = load_start, load_average()
    kernel_note = blas_kernel_note()
    if kernel_note:
        results.notes.append(kernel_note)
    sys.stdout.write(report(info, cfg, results, workloads))
    if args.json:
        extra = {"compare": comparison.as_json()} if comparison else None
        write_json(args.json, info, cfg, results, workloads, extra)
        log(f"raw results written to {args.json}")
    return 0


def main(argv=None):
    args = parse_args(argv)
    _put_skscratch_on_path(args.skscratch_path)
    cfg = make_config(args)
    if args.worker:
        return compare_ref.serve(cfg.threads)
    if args.memory_probe:
        print(json.dumps(memory_probe(args.memory_probe, cfg)))
        return 0
    if args.compare_ref is None:
        return _benchmark(args, cfg, None)
    try:
        comparison = compare_ref.Comparison(args.compare_ref, cfg.threads)
    except compare_ref.CompareError as exc:
        log(f"error: --compare-ref {args.compare_ref}: {exc}")
        return EXIT_BAD_REF
    with comparison:
        return _benchmark(args, cfg, comparison)


if __name__ == "__main__":
    sys.exit(main())
