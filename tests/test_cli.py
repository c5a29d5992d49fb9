"""The command line, run in-process and once as a real subprocess."""

import gzip
import re
import struct
import subprocess
import sys
import time

import numpy as np
import pytest

from skscratch.cli import main


def test_default_run_trains_on_digits(capsys):
    assert main(["--epochs", "30"]) == 0
    out = capsys.readouterr().out
    assert "ScratchMLPClassifier on digits" in out
    assert out.splitlines()[0].endswith(", adam, standardised inputs")
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
        (["--hidden", "10,0"], "layer sizes must be >= 1"),
        (["--dataset", "cifar"], "invalid choice"),
        (["--solver", "newton"], "invalid choice"),
    ],
)
def test_bad_options_are_explained(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--test-size", "1.5"], "argument --test-size: must be in (0, 1)"),
        (["--epochs", "0"], "argument --epochs: must be >= 1"),
    ],
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


# -- data sources -------------------------------------------------------------


def _write_csv(path, header, rows):
    lines = [",".join(header)] + [",".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def flowers_csv(tmp_path):
    """Iris as a CSV file with a text target column in the middle."""
    from sklearn.datasets import load_iris

    iris = load_iris()
    names = ["sepal_length", "sepal_width", "species", "petal_length", "petal_width"]
    rows = []
    for x, label in zip(iris.data, iris.target, strict=True):
        rows.append([x[0], x[1], iris.target_names[label], x[2], x[3]])
    return _write_csv(tmp_path / "flowers.csv", names, rows)


def test_csv_with_text_target_is_a_classification(flowers_csv, capsys):
    argv = ["--csv", str(flowers_csv), "--target", "species", "--solver", "lbfgs"]
    assert main([*argv, "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "ScratchMLPClassifier on flowers.csv (target 'species'" in out
    assert "4 features" in out
    assert float(out.split("test accuracy: ")[1].split()[0]) > 0.85


def test_csv_numeric_target_defaults_to_last_column_regression(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = X @ [1.0, -2.0, 0.5] + 0.1 * rng.normal(size=200)
    path = _write_csv(tmp_path / "lin.csv", ["a", "b", "c", "y"], np.c_[X, y])
    assert main(["--csv", str(path), "--solver", "lbfgs", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "ScratchMLPRegressor on lin.csv (target 'y', regression)" in out
    assert float(out.split("test R^2: ")[1].split()[0]) > 0.9


def test_csv_task_can_be_forced(flowers_csv, tmp_path, capsys):
    path = _write_csv(
        tmp_path / "counts.csv", ["x", "n"], [[i / 10, i % 3] for i in range(60)]
    )
    assert main(["--csv", str(path), "--task", "regression", "--epochs", "2"]) == 0
    assert "ScratchMLPRegressor" in capsys.readouterr().out
    argv = ["--csv", str(flowers_csv), "--target", "species", "--task", "regression"]
    assert main(argv) == 2
    assert "must be numeric for a regression" in capsys.readouterr().err


@pytest.mark.parametrize(
    "make_argv, message",
    [
        (lambda d: ["--csv", str(d / "nope.csv")], "does not exist"),
        (lambda d: ["--csv", str(d)], "is a directory"),
        (
            lambda d: ["--csv", str(d / "flowers.csv"), "--target", "colour"],
            "no column 'colour'",
        ),
        (lambda d: ["--csv", str(d / "flowers.csv")], "'species' of"),
        (lambda d: ["--csv", str(d / "ragged.csv")], "line 3"),
        (lambda d: ["--csv", str(d / "empty.csv")], "at least one data row"),
        (lambda d: ["--csv", str(d / "holes.csv")], "empty (missing) values"),
        (lambda d: ["--target", "y"], "--target only applies to --csv"),
    ],
)
def test_bad_csv_is_explained(flowers_csv, tmp_path, make_argv, message, capsys):
    _write_csv(tmp_path / "ragged.csv", ["a", "b"], [[1, 2], [3]])
    _write_csv(tmp_path / "empty.csv", ["a", "b"], [])
    _write_csv(tmp_path / "holes.csv", ["a", "b"], [[1, "x"], [2, ""], [3, "y"]])
    assert main(make_argv(tmp_path)) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: python -m skscratch")
    assert "python -m skscratch: error: " in err
    assert message in err


def test_bad_column_name_lists_the_columns(flowers_csv, capsys):
    assert main(["--csv", str(flowers_csv), "--target", "Species"]) == 2
    err = capsys.readouterr().err
    assert "'sepal_length', 'sepal_width', 'species'" in err


def _write_tiny_mnist(directory, n_train=60, n_test=20):
    """Four gzipped IDX files of random 28x28 images whose label is visible:
    image k has a bright square at a position given by its label."""
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % 10
        images = rng.integers(0, 30, size=(n, 28, 28))
        for k, label in enumerate(labels):
            images[k, 2 * label : 2 * label + 4, 4:10] = 255
        images = images.astype(np.uint8)
        with gzip.open(directory / f"{prefix}-images-idx3-ubyte.gz", "wb") as fh:
            fh.write(struct.pack(">IIII", 2051, n, 28, 28) + images.tobytes())
        with gzip.open(directory / f"{prefix}-labels-idx1-ubyte.gz", "wb") as fh:
            fh.write(struct.pack(">II", 2049, n) + labels.astype(np.uint8).tobytes())


def test_mnist_from_data_dir_and_from_environment(tmp_path, monkeypatch, capsys):
    _write_tiny_mnist(tmp_path)
    monkeypatch.delenv("SKSCRATCH_MNIST_DIR", raising=False)
    argv = ["--dataset", "mnist", "--hidden", "16", "--epochs", "20", "--quiet"]
    assert main([*argv, "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "on mnist (60 training / 20 test samples, 784 features)" in out
    assert "test accuracy: " in out

    monkeypatch.setenv("SKSCRATCH_MNIST_DIR", str(tmp_path))
    assert main(argv) == 0
    assert "on mnist (60 training" in capsys.readouterr().out


def test_missing_mnist_says_where_to_put_it(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("SKSCRATCH_MNIST_DIR", raising=False)
    assert main(["--dataset", "mnist"]) == 2
    err = capsys.readouterr().err
    assert "--data-dir" in err and "SKSCRATCH_MNIST_DIR" in err
    assert main(["--dataset", "mnist", "--data-dir", str(tmp_path / "none")]) == 2
    assert "MNIST files not found" in capsys.readouterr().err
    assert main(["--data-dir", str(tmp_path)]) == 2
    assert "only applies to --dataset mnist" in capsys.readouterr().err


# -- model and training options --------------------------------------------------


def test_skscratch_options_reach_the_estimator(capsys):
    argv = [
        "--dataset",
        "breast_cancer",
        "--hidden",
        "32,16",
        "--activation",
        "gelu",
        "--solver",
        "adamw",
        "--dropout",
        "0.2,0.1",
        "--early-stopping",
        "--validation-fraction",
        "0.2",
        "--n-iter-no-change",
        "3",
        "--batch-size",
        "64",
        "--learning-rate",
        "0.01",
        "--float32",
        "--epochs",
        "15",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "hidden layers (32, 16), adamw" in out
    assert "Validation score: " in out
    assert float(out.split("test accuracy: ")[1].split()[0]) > 0.9


def test_regression_loss_option(capsys):
    argv = ["--dataset", "diabetes", "--loss", "huber", "--epochs", "5", "--quiet"]
    assert main(argv) == 0
    assert "ScratchMLPRegressor on diabetes" in capsys.readouterr().out


def test_classification_squared_error_loss(capsys):
    """Seed 002's network on the digits: logistic everywhere, squared error
    of the logistic outputs, plain SGD."""
    argv = [
        "--hidden", "16,16", "--activation", "logistic", "--loss", "squared_error",
        "--solver", "sgd", "--learning-rate", "1", "--batch-size", "10",
        "--epochs", "20", "--quiet",
    ]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "ScratchMLPClassifier on digits" in out
    assert float(out.split("test accuracy: ")[1].split()[0]) > 0.9


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--loss", "huber"], "--loss huber does not apply to a classification"),
        (["--loss", "poisson"], "choose from log_loss, squared_error"),
        (
            ["--dataset", "diabetes", "--loss", "log_loss"],
            "--loss log_loss does not apply to a regression",
        ),
    ],
)
def test_loss_that_does_not_fit_the_task_is_refused(argv, message, capsys):
    assert main([*argv, "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.splitlines()[-1].startswith("python -m skscratch: error: --loss")
    assert "Iteration" not in capsys.readouterr().out  # refused before training


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--dropout", "1.5"], "dropout rates must be in [0, 1)"),
        (["--dropout", "a"], "expected a rate"),
        (["--batch-size", "0"], "argument --batch-size: must be >= 1"),
        (["--activation", "swish"], "invalid choice"),
        (["--loss", "cauchy"], "invalid choice"),
        (["--alpha", "-1"], "must be >= 0"),
        (["--learning-rate", "0"], "must be > 0"),
        (["--validation-fraction", "1"], "must be in (0, 1)"),
        (["--task", "clustering"], "invalid choice"),
    ],
)
def test_bad_new_options_are_explained(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_one_dropout_rate_per_hidden_layer(capsys):
    assert main(["--hidden", "10", "--dropout", "0.1,0.2"]) == 2
    assert "2 rates for 1 hidden layers" in capsys.readouterr().err


# -- output: comparison, progress bar, plot ----------------------------------------


def test_compare_sklearn_prints_both_side_by_side(capsys):
    assert main(["--compare-sklearn", "--epochs", "5"]) == 0
    out = capsys.readouterr().out
    assert "skscratch loss" in out and "scikit-learn loss" in out
    assert "Iteration 1" not in out  # the table replaces the per-epoch lines
    # Same seed, same parameters: the same trajectory as scikit-learn.
    first = next(line for line in out.splitlines() if line.split()[:1] == ["1"])
    ours, theirs = (float(v) for v in first.split()[1:])
    assert ours == pytest.approx(theirs, rel=1e-6)
    table = out[out.index("fit time (s)") :]
    for row in ("iterations", "final loss", "test accuracy"):
        assert row in table
    assert "5" in table.split("iterations")[1].splitlines()[0]


def test_compare_sklearn_quiet_regression(capsys):
    argv = ["--dataset", "diabetes", "--solver", "lbfgs", "--epochs", "20"]
    assert main([*argv, "--compare-sklearn", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "scikit-learn loss" not in out
    assert "test R^2" in out.split("fit time (s)")[1]


@pytest.mark.parametrize(
    "extra, named",
    [
        (["--activation", "elu"], "--activation elu"),
        (["--solver", "rmsprop"], "--solver rmsprop"),
        (["--dropout", "0.5"], "--dropout"),
        (["--dataset", "diabetes", "--loss", "huber"], "--loss huber"),
        (["--loss", "squared_error"], "--loss squared_error"),
    ],
)
def test_compare_sklearn_refuses_skscratch_only_options(extra, named, capsys):
    assert main(["--compare-sklearn", *extra]) == 2
    err = capsys.readouterr().err
    assert "scikit-learn's MLP has no" in err and named in err


def test_progress_bar_replaces_epoch_lines(capsys):
    assert main(["--dataset", "iris", "--epochs", "4", "--progress"]) == 0
    captured = capsys.readouterr()
    assert "Iteration" not in captured.out
    assert "test accuracy" in captured.out
    assert "4/4" in captured.err


def test_plot_saves_training_curves(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    target = tmp_path / "curves.png"
    argv = ["--dataset", "iris", "--epochs", "15", "--quiet", "--early-stopping"]
    assert main([*argv, "--compare-sklearn", "--plot", str(target)]) == 0
    assert f"training curves saved to {target}" in capsys.readouterr().out
    assert target.read_bytes().startswith(b"\x89PNG")


def test_plot_target_is_checked_before_training(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert main(["--plot", str(tmp_path / "curves.nope")]) == 2
    assert "cannot tell the image format" in capsys.readouterr().err
    assert main(["--plot", str(tmp_path / "missing" / "curves.png")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_plot_without_matplotlib_says_what_to_install(monkeypatch, capsys):
    # A None entry in sys.modules makes the import fail, as if not installed.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(["--plot", "curves.png"]) == 2
    assert 'pip install "skscratch[plot]"' in capsys.readouterr().err


# -- scaling ------------------------------------------------------------------------


def _r2(out):
    return float(out.split("test R^2: ")[1].split()[0])


def test_regression_standardises_inputs_and_targets(capsys):
    # Unscaled, diabetes's targets (25 to 346) gave a test R^2 of -4.35.
    assert main(["--dataset", "diabetes", "--epochs", "20"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].endswith(", standardised inputs and targets")
    assert "Iteration 20, loss = " in out  # the MLP inside still reports
    assert _r2(out) > 0.3

    assert main(["--dataset", "diabetes", "--epochs", "20", "--no-scale"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].endswith(", unscaled")
    assert _r2(out) < 0
    assert "drop --no-scale" in out


@pytest.fixture
def houses_csv(tmp_path):
    """House prices (about 1e5 to 9e5) from four features on their own scales."""
    rng = np.random.default_rng(1)
    n = 600
    sqft = rng.uniform(500, 4000, n)
    bedrooms = rng.integers(1, 6, n)
    age = rng.uniform(0, 80, n)
    lot = rng.uniform(1000, 20000, n)
    price = 50_000 + 150 * sqft + 12_000 * bedrooms - 900 * age + 3 * lot
    price += rng.normal(0, 25_000, n)
    rows = np.c_[sqft, bedrooms, age, lot, price].round(2)
    names = ["sqft", "bedrooms", "age", "lot", "price"]
    return _write_csv(tmp_path / "houses.csv", names, rows)


def test_large_csv_targets_are_standardised(houses_csv, capsys):
    # Unscaled, such a file gave a test R^2 of -6.77, final loss 5.6e10.
    argv = ["--csv", str(houses_csv), "--target", "price", "--quiet"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert _r2(out) > 0.9
    final_loss = float(out.split("final loss ")[1].split()[0])
    assert final_loss < 1  # the loss of the standardised targets


def test_scaled_regression_reaches_the_mlp(tmp_path, capsys):
    # The progress bar and the plot need the fitted MLP, which the
    # TransformedTargetRegressor holds as a clone.
    pytest.importorskip("matplotlib")
    target = tmp_path / "curves.png"
    argv = ["--dataset", "diabetes", "--epochs", "4", "--progress"]
    assert main([*argv, "--plot", str(target)]) == 0
    captured = capsys.readouterr()
    assert "4/4" in captured.err
    assert target.read_bytes().startswith(b"\x89PNG")
    # Poisson's targets must stay >= 0: they are divided by their spread only.
    argv = ["--dataset", "diabetes", "--loss", "poisson", "--epochs", "20"]
    assert main([*argv, "--quiet"]) == 0
    assert _r2(capsys.readouterr().out) > 0


# -- one error format, one bound per option ---------------------------------------


@pytest.mark.parametrize(
    "make_argv, status, message",
    [
        (lambda d: ["--solver", "newton"], 2, "argument --solver: invalid choice"),
        (lambda d: ["--epochs", "x"], 2, "argument --epochs: expected an integer"),
        (lambda d: ["--csv", str(d / "nope.csv")], 2, "--csv: "),
        (lambda d: ["--csv", str(d / "t.csv"), "--target", "z"], 2, "no column 'z'"),
        (lambda d: ["--target", "y"], 2, "--target only applies to --csv"),
        (lambda d: ["--compare-sklearn", "--dropout", "0.5"], 2, "--compare-sklearn"),
        (
            lambda d: ["--csv", str(d / "t.csv"), "--early-stopping"],
            1,
            "training failed: The validation set is too small",
        ),
    ],
)
def test_every_error_has_argparse_format(make_argv, status, message, tmp_path, capsys):
    _write_csv(tmp_path / "t.csv", ["x", "y"], [[i, i * 0.37] for i in range(8)])
    assert main(make_argv(tmp_path)) == status
    err = capsys.readouterr().err.splitlines()
    if status == 2:  # a command-line mistake: the usage, as argparse gives it
        assert err[0] == "usage: python -m skscratch [options]"
    assert err[-1].startswith("python -m skscratch: error: ")
    assert message in err[-1]


# Each option, the estimator parameter it sets, values at the edge of its bound
# that it accepts, and values beyond the edge.
BOUNDS = [
    ("--learning-rate", "learning_rate_init", ["1e-9", "1"], ["0", "-1"], "> 0"),
    ("--alpha", "alpha", ["0", "2.5"], ["-0.001", "-1"], ">= 0"),
    ("--epochs", "max_iter", ["1", "7"], ["0", "-1"], ">= 1"),
    ("--batch-size", "batch_size", ["1", "auto"], ["0", "-3"], ">= 1"),
    ("--n-iter-no-change", "n_iter_no_change", ["1"], ["0", "-1"], ">= 1"),
    ("--seed", "random_state", ["0", str(2**32 - 1)], ["-1", str(2**32)], "in [0,"),
    ("--validation-fraction", "validation_fraction", ["0.01", "0.99"], ["1", "2"], ""),
]


def _parse_error(argv, capsys):
    assert main(argv) == 2
    return capsys.readouterr().err.splitlines()[-1]


def _number(text):
    try:
        return int(text)
    except ValueError:
        return float(text)


@pytest.mark.parametrize("option, param, accepted, refused, bound", BOUNDS)
def test_option_bounds_match_the_estimator(option, param, accepted, refused, bound):
    from sklearn.utils._param_validation import InvalidParameterError

    from skscratch import ScratchMLPRegressor
    from skscratch.cli import build_parser

    parser = build_parser()
    dest = option.lstrip("-").replace("-", "_")
    for text in accepted:
        value = getattr(parser.parse_args([option, text]), dest)
        ScratchMLPRegressor(**{param: value})._validate_params()
    for text in refused:
        with pytest.raises(SystemExit):
            parser.parse_args([option, text])
        with pytest.raises(InvalidParameterError):
            ScratchMLPRegressor(**{param: _number(text)})._validate_params()


@pytest.mark.parametrize("option, param, accepted, refused, bound", BOUNDS)
def test_each_bound_is_stated_once(option, param, accepted, refused, bound, capsys):
    from skscratch.cli import build_parser

    # --learning-rate -1 said "must be >= 0", and 0 then "must be > 0".
    messages = [_parse_error([option, text], capsys) for text in refused]
    stated = {m.split(": must be ")[1].split("; got")[0] for m in messages}
    assert len(stated) == 1, messages
    (stated,) = stated
    assert stated.startswith(bound)
    # The same words for a value that is not a number, and in the help.
    assert f"{stated}; got 'x'" in _parse_error([option, "x"], capsys)
    help_text = " ".join(build_parser().format_help().split())
    assert f"{stated} (default" in help_text or f"{stated}, or auto" in help_text


def test_validation_fraction_refuses_zero_at_once(capsys):
    # The estimators accept validation_fraction=0 but their fit refuses it
    # with early stopping, the one place the option acts: the CLI refuses it
    # up front, with the same bound as for 1.
    assert "must be in (0, 1)" in _parse_error(["--validation-fraction", "0"], capsys)


# -- version, help, timing -----------------------------------------------------------


def test_version_names_the_dependencies():
    # A fresh process: whether Numba was imported must not depend on other tests.
    code = (
        "import sys\n"
        "from skscratch.cli import main\n"
        "before = 'numba' in sys.modules\n"
        "status = main(['--version'])\n"
        "print('numba imported:', 'numba' in sys.modules and not before)\n"
        "print('status:', status)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    lines = result.stdout.splitlines()
    version = r"\d+\.\d+(\.\d+)?\S*"
    pattern = (
        rf"skscratch {version} \(scikit-learn {version}, numpy {version}, "
        rf"numba ({version}|none)\)"
    )
    assert re.fullmatch(pattern, lines[0]), lines[0]
    assert lines[1:] == ["numba imported: False", "status: 0"]


def test_version_without_numba(monkeypatch):
    from importlib import metadata

    from skscratch import cli

    real = metadata.version

    def version(name):
        if name == "numba":
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(metadata, "version", version)
    assert cli.version_text().endswith(", numba none)")


def test_help_epilog_has_one_example_per_line():
    from skscratch.cli import build_parser

    text = build_parser().format_help()
    assert " | " not in text
    examples = text.split("\nexamples:\n")[1].splitlines()
    assert len(examples) >= 4
    assert all(line.startswith("  python -m skscratch ") for line in examples)


def test_timing_separates_loading_from_training(monkeypatch, capsys):
    from skscratch import cli

    real_load = cli.load_data

    def slow_load(args):
        time.sleep(1.0)
        return real_load(args)

    monkeypatch.setattr(cli, "load_data", slow_load)
    assert main(["--dataset", "iris", "--hidden", "8", "--epochs", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    loaded = next(line for line in lines if line.startswith("loaded data in "))
    match = re.fullmatch(r"loaded data in (\d+\.\d\d) s", loaded)
    assert match and float(match[1]) >= 1.0
    trained = next(line for line in lines if line.startswith("trained in "))
    number = r"(\d+\.\d\d)"
    pattern = (
        rf"trained in {number} s \(3 epochs: first {number} s( with Numba start-up)?, "
        rf"rest {number} s\), final loss \d+\.\d{{4}}"
    )
    match = re.fullmatch(pattern, trained)
    assert match, trained
    assert float(match[1]) < 1.0  # the fit alone, not the loading
    assert float(match[2]) + float(match[4]) == pytest.approx(float(match[1]), abs=0.02)
