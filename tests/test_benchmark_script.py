"""The benchmark script still runs, and its floors measure what they say.

``benchmarks/bench_mlp.py`` is not part of the package and its MNIST
workloads need data the tests do not have; these tests run what works on
generated data and on the digits, so the script does not rot unnoticed.
"""

import importlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = REPO_ROOT / "benchmarks" / "bench_mlp.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_mlp", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def parts(bench):
    """The script's sibling modules, as the script imported them."""
    names = ("workloads", "runner", "report", "machine")
    return SimpleNamespace(**{n: importlib.import_module(n) for n in names})


def test_floors_time_the_products_on_any_data(parts):
    X = np.random.default_rng(0).random((450, 30), dtype=np.float32)
    # 450 rows: two full batches of 200 and a tail of 50.
    epoch = parts.workloads.matmul_floor_epoch(X, (16, 8), 3, batch_size=200)
    predict = parts.workloads.matmul_floor_predict(X, (16, 8), 3)
    assert epoch > 0
    assert predict > 0


def test_blas_kernel_note_is_a_sentence_or_nothing(parts):
    note = parts.machine.blas_kernel_note()
    assert note is None or ("OpenBLAS" in note and "kernels" in note)


@pytest.mark.filterwarnings("ignore")
def test_lbfgs_workload_reports_a_ratio(bench, capsys):
    status = bench.main(
        [
            "--quick",
            "--workloads",
            "lbfgs_digits",
            "--impls",
            "skscratch,sklearn",
            "--repeats",
            "1",
        ]
    )
    assert status == 0
    report = capsys.readouterr().out
    timings = report.split("## Timings by core placement")[0]
    rows = [line for line in timings.splitlines() if line.startswith("| lbfgs")]
    assert [row.split("|")[3].strip() for row in rows] == ["skscratch", "sklearn"]
    # The reference's own ratio is exactly 1.
    assert rows[1].split("|")[7].strip() == "1.00x"
    assert "- OPENBLAS_CORETYPE:" in report
    # The core round trip after each run, when the compiled kernels exist,
    # and then the same runs by core placement.
    from skscratch.core import compiled

    assert ("## Timings by core placement" in report) == (
        compiled.spin_kernel() is not None
    )

    trips = rows[0].split("|")[10].strip()
    if compiled.spin_kernel() is None:
        assert trips == ""
    else:
        assert trips.endswith("(0/1 distant)") or trips.endswith("(1/1 distant)")
        assert float(trips.split()[0]) > 0


def test_placement_table_compares_runs_in_the_same_placement(parts):
    def run(impl, rep, seconds, trip):
        return parts.runner.Run("sgd", impl, rep, seconds, load=None, core_rtt_us=trip)

    results = parts.runner.Results(
        runs=[
            run("sklearn", 0, 0.50, 0.05),
            run("sklearn", 1, 0.60, 0.45),
            run("skscratch", 0, 0.25, 0.05),
            run("skscratch", 1, 0.36, 0.45),
            run("skscratch", 2, 0.38, 0.50),
        ]
    )
    rows = {
        cells[1]: cells
        for line in parts.report.placement_table(results, ["sgd"])[2:]
        for cells in [[c.strip() for c in line.split("|")[1:-1]]]
    }
    # Nearby: 0.25 against 0.50; distant: the median of 0.36 and 0.38
    # against 0.60, not against the overall median of scikit-learn's runs.
    nearby, distant = ["1", "0.25", "0.50x"], ["2", "0.37", "0.62x"]
    assert rows["skscratch"] == ["sgd", "skscratch", *nearby, *distant]
    assert rows["sklearn"][4] == rows["sklearn"][7] == "1.00x"
    # Without round trips (no compiled kernels), no table.
    for r in results.runs:
        r.core_rtt_us = None
    assert parts.report.placement_table(results, ["sgd"]) == []


def _git_checkout():
    return shutil.which("git") is not None and (REPO_ROOT / ".git").exists()


@pytest.mark.skipif(not _git_checkout(), reason="needs git and a git checkout")
def test_compare_ref_times_both_commits_side_by_side(tmp_path):
    head = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    out = tmp_path / "results.json"
    command = [sys.executable, str(SCRIPT), "--quick", "--repeats", "2"]
    command += ["--workloads", "lbfgs_digits", "--impls", "skscratch"]
    command += ["--compare-ref", "HEAD", "--json", str(out)]
    # Run from elsewhere, as a script; the NumPy code spares the workers
    # compiling the kernels of HEAD's fresh copy.
    env = dict(os.environ, SKSCRATCH_COMPILED="0")
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    report = done.stdout
    rows = [line for line in report.splitlines() if line.startswith("| lbfgs")]
    impls = [row.split("|")[3].strip() for row in rows[:2]]
    assert impls == ["skscratch", "skscratch@HEAD"]
    assert f"skscratch@HEAD is skscratch at commit {head[:12]}" in report
    compare = report.split("## skscratch against skscratch@HEAD")[1]
    row = next(line for line in compare.splitlines() if line.startswith("| lbfgs"))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[:2] == ["lbfgs_digits", "s/fit"]
    assert float(cells[4].rstrip("x")) > 0
    assert cells[5].endswith("x)")  # two repetitions, paired
    payload = json.loads(out.read_text())
    assert payload["compare"]["commit"] == head
    runs = {(r["impl"], r["rep"]) for r in payload["runs"]}
    assert {("skscratch", 1), ("skscratch@HEAD", 1)} <= runs


@pytest.mark.skipif(not _git_checkout(), reason="needs git and a git checkout")
def test_compare_ref_rejects_an_unknown_ref(bench, capsys):
    status = bench.main(
        ["--workloads", "lbfgs_digits", "--compare-ref", "no-such-ref-for-sure"]
    )
    assert status == 2
    assert "--compare-ref no-such-ref-for-sure" in capsys.readouterr().err
