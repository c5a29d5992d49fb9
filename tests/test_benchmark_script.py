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
    rows = [line for line in report.splitlines() if line.startswith("| lbfgs")]
    assert [row.split("|")[3].strip() for row in rows] == ["skscratch", "sklearn"]
    # The reference's own ratio is exactly 1.
    assert rows[1].split("|")[7].strip() == "1.00x"
    assert "- OPENBLAS_CORETYPE:" in report
    # The core round trip after each run, when the compiled kernels exist.
    from skscratch.core import compiled

    trips = rows[0].split("|")[10].strip()
    if compiled.spin_kernel() is None:
        assert trips == ""
    else:
        assert trips.endswith("(0/1 distant)") or trips.endswith("(1/1 distant)")
        assert float(trips.split()[0]) > 0
