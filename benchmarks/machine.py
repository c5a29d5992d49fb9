"""The machine a benchmark ran on: CPU, library versions, thread pools and
the OpenBLAS kernels in use, for the report's header."""

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np

# OpenBLAS core types whose kernels use AVX-512.
AVX512_CORETYPES = {"skylakex", "cooperlake", "sapphirerapids"}


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
    AVX-512 on a CPU that has it slow every implementation's matrix products
    alike, but those then weigh more in each fit, so the ratios change too.
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


def _thread_pools():
    """One line per thread pool threadpoolctl sees (else NumPy's BLAS)."""
    pools = []
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
            pools.append(f"{name} ({', '.join(d for d in details if d)})")
    except ImportError:
        pass
    if not pools:
        try:
            deps = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
            pools.append(f"{deps.get('name')} {deps.get('version')}")
        except (KeyError, TypeError, ValueError):
            pools.append("unknown")
    return pools


def machine_info():
    model, physical = _cpu_model()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
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
        "blas": _thread_pools(),
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
        "optimizer_code": _optimizer_code(),
    }
