"""The device benchmark runs on the CPU, on generated data, and reports
every contender.

``benchmarks/bench_device.py`` is meant for a GPU; with ``--device cpu`` the
same code runs on torch's CPU tensors, so the script does not rot on
machines without one. Timings are never checked, only the report's shape.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
from skscratch import _namespaces

if not _namespaces.supported():
    pytest.skip("array-API dispatch needs scikit-learn >= 1.9", allow_module_level=True)

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = REPO_ROOT / "benchmarks" / "bench_device.py"
IMPLS = ["skscratch-torch", "torch-loop", "skscratch-cpu"]


def _run(tmp_path, *options):
    # Run from elsewhere, as a script: it sets SCIPY_ARRAY_API itself.
    command = [sys.executable, str(SCRIPT), "--device", "cpu", *options]
    return subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=300
    )


def _cells(line):
    return [c.strip() for c in line.split("|")[1:-1]]


@pytest.mark.filterwarnings("ignore")
def test_quick_cpu_run_reports_every_contender(tmp_path):
    out, raw = tmp_path / "report.md", tmp_path / "results.json"
    # A narrow "wide" network and one thread keep it to seconds.
    options = ["--quick", "--synthetic", "--repeats", "1", "--mnist-rows", "400"]
    options += ["--width", "64", "--threads", "1"]
    done = _run(tmp_path, *options, "--out", str(out), "--json", str(raw))
    assert done.returncode == 0, done.stderr
    report = done.stdout
    assert out.read_text() == report
    assert report.startswith("# skscratch device benchmark")
    assert "- device: cpu" in report
    timings = report.split("## Seconds per epoch")[1].split("## torch.matmul")[0]
    rows = [_cells(line) for line in timings.splitlines() if line.startswith("| ")]
    rows = rows[1:]  # the header
    assert [r[1] for r in rows] == IMPLS * 2
    assert [r[0].split()[0] for r in rows] == ["mnist"] * 3 + ["wide"] * 3
    for cells in rows:
        assert float(cells[4]) > 0  # seconds per epoch
        assert float(cells[8]) > 0  # GFLOP/s
    # The hand-written loop is the reference of the ratios.
    assert rows[1][6] == rows[4][6] == "1.00x"
    # Only the wide network is set against torch.matmul, on every row on the CPU.
    assert all(r[9] == "" for r in rows[:3])
    assert all(r[9].endswith("%") for r in rows[3:])
    assert "| cpu | 64x64 @ 64x64 float32 |" in report

    payload = json.loads(raw.read_text())
    assert payload["config"]["device"] == "cpu"
    assert payload["config"]["rows"] == 1024
    summary = payload["summary"]
    assert [f["impl"] for f in summary["wide"]["fits"]] == IMPLS
    assert summary["mnist"]["matmul"] is None
    assert summary["wide"]["matmul"]["gflops"] > 0
    impls = {(r["workload"], r["impl"]) for r in payload["runs"]}
    assert ("wide", "torch.matmul") in impls
    assert len(payload["runs"]) == 7  # one repetition, 3 + 3 fits and a matmul


def test_missing_mnist_names_the_way_out(tmp_path):
    done = _run(tmp_path, "--quick", "--data-dir", str(tmp_path / "nothing"))
    assert done.returncode == 2
    assert "--synthetic" in done.stderr


def test_epoch_flops_count_three_products_per_layer(monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    import device_contenders

    sizes = device_contenders.layer_sizes("wide", 4096)
    assert sizes == [784, 4096, 4096, 10]
    flops = device_contenders.epoch_flops(1024, sizes)
    assert flops == 6 * 1024 * (784 * 4096 + 4096 * 4096 + 4096 * 10)
