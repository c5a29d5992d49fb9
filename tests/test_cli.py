"""The command line, run in-process and once as a real subprocess."""

import subprocess
import sys

import pytest

from skscratch.cli import main


def test_default_run_trains_on_digits(capsys):
    assert main(["--epochs", "30"]) == 0
    out = capsys.readouterr().out
    assert "ScratchMLPClassifier on digits" in out
    assert "Iteration 1, loss = " in out and "Iteration 30, loss = " in out
    accuracy = float(out.split("test accuracy: ")[1].split()[0])
    assert accuracy > 0.9


def test_regression_dataset_reports_r2(capsys):
    assert main(["--dataset", "diabetes", "--solver", "lbfgs", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "ScratchMLPRegressor on diabetes" in out
    assert "Iteration" not in out
    assert "test R^2: " in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--hidden", "10,x"], "comma-separated integers"),
        (["--hidden", "10,0"], "must be positive"),
        (["--dataset", "cifar"], "invalid choice"),
        (["--solver", "newton"], "invalid choice"),
    ],
)
def test_bad_options_are_explained(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [(["--test-size", "1.5"], "--test-size"), (["--epochs", "0"], "--epochs")],
)
def test_bad_values_exit_with_status_2(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_python_dash_m_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "skscratch", "--epochs", "5", "--quiet"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "test accuracy: " in result.stdout
