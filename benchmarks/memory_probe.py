"""Memory of one adam32 fit, measured in a fresh child process per
implementation so that the timing process's own allocations never count."""

import gc
import json
import subprocess
import sys
import tracemalloc

import numpy as np
from implementations import available_impls, configure_torch, limit_threads
from runner import fit_quietly, load_kernels
from settings import SCRIPT, is_ref_build, log
from workloads import load_mnist_or_exit, stochastic_params


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
    if impl == "skscratch":
        # As in the timed runs: the kernels are loaded before any fit, so the
        # probe measures the fit, not Numba's import.
        load_kernels()
    # A tiny fit of another shape pays one-time costs without pre-touching
    # the real fit's buffers.
    tiny = dict(params, hidden_layer_sizes=(3,), batch_size=8, max_iter=1)
    fit_quietly(classes[impl](**tiny), X[:32, :20], y[:32])
    gc.collect()
    out = {}
    # The untraced fit comes first: tracemalloc's bookkeeping would inflate RSS.
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


def _probe_command(impl, cfg, sources):
    """The command line of the child process that probes ``impl``."""
    probed = "skscratch" if is_ref_build(impl) else impl
    cmd = [sys.executable, str(SCRIPT), "--memory-probe", probed]
    cmd += ["--data-dir", str(cfg.data_dir), "--epochs", str(cfg.epochs)]
    if impl in sources:
        cmd += ["--skscratch-path", str(sources[impl])]
    if cfg.quick:
        cmd.append("--quick")
    if cfg.threads:
        cmd += ["--threads", str(cfg.threads)]
    return cmd


def run_memory(impls, cfg, results, sources=None):
    """Probe every implementation; ``sources`` maps a ``skscratch@REF``
    implementation to the directory its skscratch is imported from."""
    for impl in impls:
        log(f"  memory probe: {impl} (fresh process)")
        cmd = _probe_command(impl, cfg, sources or {})
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        try:
            results.memory[impl] = json.loads(proc.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            tail = (proc.stderr or "").strip().splitlines()[-1:]
            results.memory[impl] = {"error": f"probe failed: {' '.join(tail)}"}
