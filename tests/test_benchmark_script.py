"""The benchmark script still runs, and its floors measure what they say.

``benchmarks/bench_mlp.py`` is not part of the package and its MNIST
workloads need data the tests do not have; these tests run what works on
generated data and on the digits, so the script does not rot unnoticed.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_mlp.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_mlp", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_floors_time_the_products_on_any_data(bench):
    X = np.random.default_rng(0).random((450, 30), dtype=np.float32)
    # 450 rows: two full batches of 200 and a tail of 50.
    epoch = bench.matmul_floor_epoch(X, (16, 8), 3, batch_size=200)
    predict = bench.matmul_floor_predict(X, (16, 8), 3)
    assert epoch > 0
    assert predict > 0


def test_blas_kernel_note_is_a_sentence_or_nothing(bench):
    note = bench.blas_kernel_note()
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


def test_placement_table_compares_runs_in_the_same_placement(bench):
    def run(impl, rep, seconds, trip):
        return bench.Run("sgd", impl, rep, seconds, load=None, core_rtt_us=trip)

    results = bench.Results(
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
        for line in bench.placement_table(results, ["sgd"])[2:]
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
    assert bench.placement_table(results, ["sgd"]) == []
