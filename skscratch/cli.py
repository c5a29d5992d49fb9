"""``python -m skscratch``: train an MLP from the command line.

By default it trains a classifier on scikit-learn's bundled handwritten digits
(8x8 images), printing the loss after every epoch and the test accuracy at
the end. Options choose the data (another bundled set, MNIST from a directory
of IDX files, or a CSV file with a target column), the network, the solver and
the training schedule; ``--compare-sklearn`` also fits scikit-learn's MLP with
the same parameters and prints both side by side, ``--progress`` shows a
progress bar and ``--plot FILE.png`` saves the training curves.

The inputs are standardised, and a regression's targets too (in a
:class:`~sklearn.pipeline.Pipeline` and a
:class:`~sklearn.compose.TransformedTargetRegressor`), unless ``--no-scale``.
Every error is reported as argparse reports a bad option, with exit status 2
(1 when training fails).

Examples
--------
The command line is a function, so it can be called from Python too; it
returns the process exit status:

>>> from skscratch.cli import main
>>> main(["--dataset", "iris", "--hidden", "16", "--epochs", "200", "--quiet"])
... # doctest: +ELLIPSIS
skscratch ...: ScratchMLPClassifier on iris (112 training / 38 test samples, ...
...
test accuracy: ...
misclassified: ... of 38
0
"""

import argparse
import csv
import os
import time
import warnings
from importlib import metadata
from numbers import Integral, Real
from pathlib import Path

import numpy as np
from sklearn.compose import TransformedTargetRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import Interval

from . import (
    HIDDEN_ACTIVATIONS,
    REGRESSION_LOSSES,
    SOLVERS,
    ScratchMLPClassifier,
    ScratchMLPRegressor,
    __version__,
)
from .datasets import MNIST_ENV_VAR

#: Data sets bundled with scikit-learn, by the name ``--dataset`` takes.
BUNDLED_DATASETS = ("digits", "iris", "breast_cancer", "diabetes")
DATASETS = (*BUNDLED_DATASETS, "mnist")

# What the estimators accept (ACTIVATIONS is the estimators' HIDDEN_ACTIVATIONS);
# scikit-learn's MLP knows only the first four activations, the first three
# solvers and the first two regression losses.
ACTIVATIONS = HIDDEN_ACTIVATIONS
_SKLEARN_ACTIVATIONS = ACTIVATIONS[:4]
_SKLEARN_SOLVERS = SOLVERS[:3]
_SKLEARN_LOSSES = REGRESSION_LOSSES[:2]
# What the classifier's ``loss`` accepts, its default first.
CLASSIFICATION_LOSSES = ("log_loss", "squared_error")

# A numeric CSV target with at most this many distinct integer values is taken
# as class labels when --task is auto.
_MAX_AUTO_CLASSES = 20

_PLOT_HINT = 'the --plot option needs matplotlib: pip install "skscratch[plot]"'


class UsageError(Exception):
    """A problem the user fixes in the command line (exit status 2)."""


# -- argument types ------------------------------------------------------------


def _hidden_layer_sizes(text):
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers such as 100 or 256,128; got {text!r}"
        ) from None
    if not sizes:
        raise argparse.ArgumentTypeError("expected at least one layer size")
    if any(size <= 0 for size in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be >= 1; got {text!r}")
    return sizes


def _dropout(text):
    try:
        rates = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a rate such as 0.2, or one per hidden layer such as "
            f"0.2,0.1; got {text!r}"
        ) from None
    if not rates or not all(0 <= rate < 1 for rate in rates):
        raise argparse.ArgumentTypeError(f"dropout rates must be in [0, 1): {text!r}")
    return rates[0] if len(rates) == 1 else rates


def _bound_text(interval):
    """The bound as the messages and the help state it: ``> 0``, ``in [0, 1)``."""
    low, high, closed = interval.left, interval.right, interval.closed
    if high is None:
        return f"{'>=' if closed == 'left' else '>'} {low}"
    left = "[" if closed in ("left", "both") else "("
    right = "]" if closed in ("right", "both") else ")"
    return f"in {left}{low}, {high}{right}"


def _number(interval):
    """An argument type for a number within scikit-learn's ``interval``
    (an :class:`~sklearn.utils._param_validation.Interval`), which checks it.

    The returned function's ``bound`` attribute is the text its messages use,
    so that the help, the error and the check all come from the interval.
    """
    kind = int if interval.type is Integral else float
    noun = "an integer" if kind is int else "a number"
    bound = _bound_text(interval)

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {noun} {bound}; got {text!r}"
            ) from None
        if value not in interval:  # NaN is inside no interval
            raise argparse.ArgumentTypeError(f"must be {bound}; got {text!r}")
        return value

    parse.bound = bound
    return parse


def _estimator_bound(name):
    """The interval the estimators' ``_parameter_constraints`` give ``name``."""
    constraints = ScratchMLPClassifier._parameter_constraints[name]
    return _number(next(c for c in constraints if isinstance(c, Interval)))


# The options that set an estimator parameter take that parameter's interval
# from the estimators' constraints (scikit-learn's own); tests/test_cli.py
# checks that both accept the same edge values.
_EPOCHS = _estimator_bound("max_iter")
_BATCH = _estimator_bound("batch_size")  # besides "auto"
_LEARNING_RATE = _estimator_bound("learning_rate_init")
_ALPHA = _estimator_bound("alpha")
_N_ITER_NO_CHANGE = _estimator_bound("n_iter_no_change")
_SEED = _number(Interval(Integral, 0, 2**32 - 1, closed="both"))  # random_state
# validation_fraction: the estimators accept [0, 1), but the option only acts
# with --early-stopping, whose fit refuses 0 (no validation data); a bound
# that lets 0 through only to refuse it later is what this avoids.
_VALIDATION_FRACTION = _number(Interval(Real, 0, 1, closed="neither"))
# train_test_split's float test_size.
_TEST_SIZE = _number(Interval(Real, 0, 1, closed="neither"))


def _batch_size(text):
    if text == "auto":
        return text
    try:
        int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected 'auto' or an integer {_BATCH.bound}; got {text!r}"
        ) from None
    return _BATCH(text)


_DESCRIPTION = """\
Train a skscratch multi-layer perceptron and report its test score.

Without options: a classifier on scikit-learn's bundled 8x8 digits, printing
the loss of every epoch. The inputs are standardised, and so are the targets
of a regression (its test score is on the original scale); --no-scale turns
both off."""

_EPILOG = """\
examples:
  python -m skscratch --dataset iris --solver lbfgs
  python -m skscratch --dataset diabetes --epochs 20
  python -m skscratch --compare-sklearn --plot curves.png
  python -m skscratch --dataset mnist --data-dir DIR --hidden 256,128 --progress
  python -m skscratch --csv houses.csv --target price"""


def version_text():
    """What ``--version`` prints: skscratch's version and its dependencies'.

    Numba's version comes from the installed package's metadata: importing
    Numba would take a noticeable part of a second.

    Returns
    -------
    text : str
        ``skscratch X.Y.Z (scikit-learn A.B.C, numpy D.E.F, numba G.H.I)``,
        with ``numba none`` when Numba is not installed.
    """
    import sklearn

    try:
        numba = metadata.version("numba")
    except metadata.PackageNotFoundError:
        numba = "none"
    return (
        f"skscratch {__version__} (scikit-learn {sklearn.__version__}, "
        f"numpy {np.__version__}, numba {numba})"
    )


def build_parser():
    """The argument parser of ``python -m skscratch``.

    Returns
    -------
    parser : argparse.ArgumentParser
    """
    parser = argparse.ArgumentParser(
        prog="python -m skscratch",
        # Short, so that an error message is not lost under the synopsis of
        # every option; --help lists them.
        usage="%(prog)s [options]",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        # Keeps the line breaks of the description and of the examples.
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_data_options(parser.add_argument_group("data"))
    _add_model_options(parser.add_argument_group("model"))
    _add_training_options(parser.add_argument_group("training"))
    _add_output_options(parser.add_argument_group("output"))
    return parser


def _add_data_options(data):
    data.add_argument(
        "--dataset",
        choices=DATASETS,
        default="digits",
        help="a data set bundled with scikit-learn, or mnist (read from "
        "--data-dir) (default: digits)",
    )
    data.add_argument(
        "--data-dir",
        metavar="DIR",
        help="directory of the four MNIST IDX files (gzipped or not); default: "
        f"the {MNIST_ENV_VAR} environment variable",
    )
    data.add_argument(
        "--csv",
        metavar="FILE",
        help="train on a CSV file with a header row instead (numeric feature "
        "columns; overrides --dataset)",
    )
    data.add_argument(
        "--target",
        metavar="COLUMN",
        help="name of the target column of --csv (default: the last column)",
    )
    data.add_argument(
        "--task",
        choices=("auto", "classification", "regression"),
        default="auto",
        help="what to do with a --csv target: auto means classification when "
        f"the target is text or has at most {_MAX_AUTO_CLASSES} distinct integer "
        "values, regression otherwise (default: auto)",
    )
    data.add_argument(
        "--test-size",
        type=_TEST_SIZE,
        default=0.25,
        metavar="FRACTION",
        help=f"share of the data held out for testing, {_TEST_SIZE.bound}; "
        "MNIST uses its own test set (default: 0.25)",
    )
    data.add_argument(
        "--no-scale",
        dest="scale",
        action="store_false",
        help="do not standardise the inputs, nor the targets of a regression "
        "(MNIST's pixels, already in [0, 1], never are)",
    )
    data.add_argument(
        "--float32",
        action="store_true",
        help="train in single precision (about twice as fast); MNIST always does",
    )


def _add_model_options(model):
    model.add_argument(
        "--hidden",
        type=_hidden_layer_sizes,
        default=(100,),
        metavar="SIZES",
        help="hidden layer sizes, comma-separated (default: 100)",
    )
    model.add_argument(
        "--activation",
        default="relu",
        choices=ACTIVATIONS,
        help="hidden activation (default: relu)",
    )
    model.add_argument(
        "--dropout",
        type=_dropout,
        default=0.0,
        metavar="RATE",
        help="dropout rate after the hidden layers, in [0, 1), one for all or "
        "one per layer comma-separated (default: 0)",
    )
    model.add_argument(
        "--loss",
        choices=tuple(dict.fromkeys(CLASSIFICATION_LOSSES + REGRESSION_LOSSES)),
        default=None,
        help="loss to minimise: log_loss (default) or squared_error (of "
        "logistic outputs) for a classification; squared_error (default), "
        "poisson, absolute_error or huber for a regression",
    )


def _add_training_options(training):
    training.add_argument(
        "--solver",
        default="adam",
        choices=SOLVERS,
        help="optimizer (default: adam)",
    )
    training.add_argument(
        "--epochs",
        type=_EPOCHS,
        default=50,
        metavar="N",
        help=f"maximum number of epochs / iterations, {_EPOCHS.bound} (default: 50)",
    )
    training.add_argument(
        "--batch-size",
        type=_batch_size,
        default="auto",
        metavar="N",
        help=f"mini-batch size, {_BATCH.bound}, or auto for min(200, n_samples) "
        "(default: auto)",
    )
    training.add_argument(
        "--learning-rate",
        type=_LEARNING_RATE,
        default=1e-3,
        metavar="LR",
        help="initial learning rate of the stochastic solvers, "
        f"{_LEARNING_RATE.bound} (default: 0.001)",
    )
    training.add_argument(
        "--alpha",
        type=_ALPHA,
        default=1e-4,
        help=f"L2 penalty, {_ALPHA.bound} (default: 0.0001)",
    )
    training.add_argument(
        "--early-stopping",
        action="store_true",
        help="hold out part of the training data and stop when the validation "
        "score stops improving (stochastic solvers)",
    )
    training.add_argument(
        "--validation-fraction",
        type=_VALIDATION_FRACTION,
        default=0.1,
        metavar="FRACTION",
        help="share of the training data held out by --early-stopping, "
        f"{_VALIDATION_FRACTION.bound} (default: 0.1)",
    )
    training.add_argument(
        "--n-iter-no-change",
        type=_N_ITER_NO_CHANGE,
        default=10,
        metavar="N",
        help="epochs without improvement before stopping, "
        f"{_N_ITER_NO_CHANGE.bound} (default: 10)",
    )
    training.add_argument(
        "--seed",
        type=_SEED,
        default=0,
        metavar="N",
        help=f"random seed, {_SEED.bound} (default: 0)",
    )


def _add_output_options(output):
    output.add_argument(
        "--compare-sklearn",
        action="store_true",
        help="also fit scikit-learn's MLP with the same parameters and print "
        "both side by side",
    )
    output.add_argument(
        "--progress",
        action="store_true",
        help="show a progress bar instead of a line per epoch",
    )
    output.add_argument(
        "--plot",
        metavar="FILE.png",
        help="save the training curves to this image file (needs matplotlib)",
    )
    output.add_argument(
        "--quiet", action="store_true", help="do not print the loss of every epoch"
    )
    output.add_argument(
        "--version",
        action="version",
        version=version_text(),
        help="print the versions of skscratch, scikit-learn, NumPy and Numba",
    )


# -- data ----------------------------------------------------------------------


class Dataset:
    """Training and test data, ready for an estimator.

    Parameters
    ----------
    name : str
        How to call it in the output.
    X_train, X_test : ndarray of shape (n_samples, n_features)
    y_train, y_test : ndarray of shape (n_samples,)
    is_classification : bool
    scale : bool, default=True
        Whether standardising the features makes sense (MNIST's pixels come
        in [0, 1] already).
    """

    def __init__(
        self, name, X_train, X_test, y_train, y_test, is_classification, scale=True
    ):
        self.name = name
        self.X_train, self.X_test = X_train, X_test
        self.y_train, self.y_test = y_train, y_test
        self.is_classification = is_classification
        self.standardize = scale


def _split(name, X, y, is_classification, args):
    X_train, X_test, y_train, y_test = train_test_split(
        X,
        y,
        test_size=args.test_size,
        random_state=args.seed,
        stratify=y if is_classification else None,
    )
    return Dataset(name, X_train, X_test, y_train, y_test, is_classification)


def _load_bundled(name, args):
    from sklearn import datasets

    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    return _split(name, X, y, name != "diabetes", args)


def _load_mnist(args):
    from .datasets import load_mnist

    data_dir = args.data_dir
    if data_dir is None and not os.environ.get(MNIST_ENV_VAR, "").strip():
        raise UsageError(
            "--dataset mnist needs the MNIST files: pass --data-dir DIR or set "
            f"{MNIST_ENV_VAR}=DIR, where DIR holds train-images-idx3-ubyte, "
            "train-labels-idx1-ubyte, t10k-images-idx3-ubyte and "
            "t10k-labels-idx1-ubyte (each may be gzipped)."
        )
    try:
        X_train, y_train, X_test, y_test = load_mnist(data_dir)
    except FileNotFoundError as exc:
        # The loader's advice is about its own arguments; give the CLI's.
        found = str(exc).split(" Pass load_mnist(")[0]
        raise UsageError(
            f"{found} Point --data-dir (or {MNIST_ENV_VAR}) at the directory "
            "holding them."
        ) from None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    # Pixels come scaled to [0, 1]; standardising would blow up the nearly
    # constant border pixels.
    return Dataset("mnist", X_train, X_test, y_train, y_test, True, scale=False)


def _as_float(values):
    """The values as floats, or None if one of them is not a number."""
    try:
        return np.array([float(v) for v in values])
    except ValueError:
        return None


def _read_csv(path):
    """The header and the data rows of a CSV file (blank lines skipped)."""
    if not path.is_file():
        problem = "is a directory" if path.is_dir() else "does not exist"
        raise UsageError(f"--csv: {path} {problem}")
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = [row for row in csv.reader(fh) if any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UsageError(f"--csv: cannot read {path}: {exc}") from None
    if len(rows) < 2:
        raise UsageError(f"--csv: {path} needs a header row and at least one data row")
    header = [name.strip() for name in rows[0]]
    if len(header) < 2:
        raise UsageError(
            f"--csv: {path} has a single column; it needs feature columns and a "
            "target column, separated by commas"
        )
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise UsageError(
                f"--csv: line {line} of {path} has {len(row)} fields, the header "
                f"has {len(header)}"
            )
    return header, rows[1:]


def _csv_target(raw_y, target, task):
    """The target column as labels or numbers, and whether it is a
    classification."""
    if not all(raw_y):
        raise UsageError(f"--target: column {target!r} has empty (missing) values")
    numeric_y = _as_float(raw_y)
    integral = (
        numeric_y is not None
        and np.isfinite(numeric_y).all()
        and bool(np.all(numeric_y == np.round(numeric_y)))
    )
    if task == "auto":
        is_classification = numeric_y is None or (
            integral and np.unique(numeric_y).size <= _MAX_AUTO_CLASSES
        )
    else:
        is_classification = task == "classification"
    if not is_classification:
        if numeric_y is None or not np.isfinite(numeric_y).all():
            raise UsageError(
                f"--target: column {target!r} must be numeric for a regression "
                "(use --task classification for class labels)"
            )
        return numeric_y, False
    if numeric_y is None:
        y = np.asarray(raw_y)
    else:
        y = numeric_y.astype(np.int64) if integral else numeric_y
    if np.unique(y).size < 2:
        raise UsageError(f"--target: column {target!r} holds a single class")
    return y, True


def _load_csv(args):
    path = Path(args.csv)
    header, rows = _read_csv(path)
    target = args.target if args.target is not None else header[-1]
    if target not in header:
        raise UsageError(
            f"--target: no column {target!r} in {path}; its columns are "
            + ", ".join(repr(name) for name in header)
        )
    columns = list(zip(*rows, strict=True))
    t = header.index(target)
    features = []
    for j, name in enumerate(header):
        if j == t:
            continue
        values = _as_float(columns[j])
        if values is None or not np.isfinite(values).all():
            raise UsageError(
                f"--csv: feature column {name!r} of {path} must hold numbers "
                "only (no text, no empty or missing values)"
            )
        features.append(values)
    X = np.column_stack(features)
    raw_y = [value.strip() for value in columns[t]]
    y, is_classification = _csv_target(raw_y, target, args.task)
    task = "classification" if is_classification else "regression"
    name = f"{path.name} (target {target!r}, {task})"
    try:
        return _split(name, X, y, is_classification, args)
    except ValueError as exc:
        # train_test_split refuses e.g. to stratify a class with one sample.
        raise UsageError(
            f"--csv: cannot split {path} into train and test: {exc}"
        ) from None


def load_data(args):
    """Load and split the data the parsed arguments ask for.

    Parameters
    ----------
    args : argparse.Namespace
        As returned by ``build_parser().parse_args()``.

    Returns
    -------
    data : Dataset
        In the requested precision, not yet standardised: the models of
        :func:`make_models` do that, fitted on the training part.

    Raises
    ------
    UsageError
        For a missing file, a bad column name or unusable data.
    """
    if args.csv is not None:
        data = _load_csv(args)
    elif args.dataset == "mnist":
        data = _load_mnist(args)
    else:
        data = _load_bundled(args.dataset, args)
    dtype = np.float32 if args.float32 or args.dataset == "mnist" else np.float64
    data.X_train = data.X_train.astype(dtype, copy=False)
    data.X_test = data.X_test.astype(dtype, copy=False)
    return data


# -- models ----------------------------------------------------------------------


def _common_params(args):
    """Parameters that mean the same to skscratch and to scikit-learn."""
    return dict(
        hidden_layer_sizes=args.hidden,
        activation=args.activation,
        solver=args.solver,
        alpha=args.alpha,
        batch_size=args.batch_size,
        learning_rate_init=args.learning_rate,
        max_iter=args.epochs,
        early_stopping=args.early_stopping,
        validation_fraction=args.validation_fraction,
        n_iter_no_change=args.n_iter_no_change,
        random_state=args.seed,
    )


def make_models(args, is_classification, scale_inputs=True):
    """The skscratch model, and scikit-learn's twin with ``--compare-sklearn``
    (else None), both scaled as the arguments ask.

    Unless ``--no-scale``, the MLP follows a ``StandardScaler`` in a
    :class:`~sklearn.pipeline.Pipeline`, and a regression's targets are
    standardised too by a
    :class:`~sklearn.compose.TransformedTargetRegressor`, whose predictions
    and score are on the original scale. :func:`fitted_mlp` finds the MLP
    inside.

    Parameters
    ----------
    args : argparse.Namespace
    is_classification : bool
    scale_inputs : bool, default=True
        False where the data need no standardising (MNIST's pixels).

    Returns
    -------
    ours : estimator
        A ScratchMLPClassifier or ScratchMLPRegressor, wrapped when scaled.
    theirs : estimator or None
        scikit-learn's MLPClassifier or MLPRegressor, wrapped the same way.
    """
    from .callbacks import History, ProgressBar

    params = _common_params(args)
    # History gives the first epoch's time; see _training_line.
    callbacks = [ProgressBar(), History()] if args.progress else [History()]
    # One line per epoch, unless a progress bar or the side-by-side table of
    # --compare-sklearn shows the epochs instead.
    verbose = not (args.quiet or args.progress or args.compare_sklearn)
    extra = dict(dropout=args.dropout, callbacks=callbacks, verbose=verbose)
    if is_classification:
        ours = ScratchMLPClassifier(loss=args.loss, **params, **extra)
    else:
        ours = ScratchMLPRegressor(loss=args.loss, **params, **extra)
    scale_inputs = scale_inputs and args.scale
    scale_targets = args.scale and not is_classification
    ours = _scaled(ours, scale_inputs, scale_targets, args.loss)
    if not args.compare_sklearn:
        return ours, None

    from sklearn.neural_network import MLPClassifier, MLPRegressor

    if is_classification:
        theirs = MLPClassifier(**params)
    elif args.loss == "squared_error":
        # Left to the default: MLPRegressor takes ``loss`` only since 1.7.
        theirs = MLPRegressor(**params)
    else:
        theirs = MLPRegressor(loss=args.loss, **params)
    return ours, _scaled(theirs, scale_inputs, scale_targets, args.loss)


def _scaled(mlp, scale_inputs, scale_targets, loss):
    model = mlp
    if scale_inputs:
        model = Pipeline([("scale", StandardScaler()), ("mlp", model)])
    if scale_targets:
        # The Poisson loss needs targets >= 0: divide by their spread only.
        transformer = StandardScaler(with_mean=loss != "poisson")
        model = TransformedTargetRegressor(regressor=model, transformer=transformer)
    return model


def fitted_mlp(model):
    """The MLP inside a model of :func:`make_models`.

    Parameters
    ----------
    model : estimator
        An MLP, a Pipeline ending with one, or a TransformedTargetRegressor
        of either.

    Returns
    -------
    mlp : estimator
        The MLP that was fitted: a TransformedTargetRegressor fits a clone
        (``regressor_``) of the one it was given.
    """
    if isinstance(model, TransformedTargetRegressor):
        model = getattr(model, "regressor_", model.regressor)
    if isinstance(model, Pipeline):
        model = model[-1]
    return model


def _resolve_loss(loss, is_classification):
    """The ``--loss`` to train with: the task's default when none was given.

    Parameters
    ----------
    loss : str or None
        As parsed.
    is_classification : bool

    Returns
    -------
    loss : str

    Raises
    ------
    UsageError
        For a loss the task's estimator does not have.
    """
    allowed = CLASSIFICATION_LOSSES if is_classification else REGRESSION_LOSSES
    if loss is None:
        return allowed[0]
    if loss not in allowed:
        task = "classification" if is_classification else "regression"
        raise UsageError(
            f"--loss {loss} does not apply to a {task}; choose from "
            + ", ".join(allowed)
        )
    return loss


def _check_comparable(args, is_classification):
    """Refuse --compare-sklearn with options scikit-learn's MLP lacks."""
    problems = []
    if args.activation not in _SKLEARN_ACTIVATIONS:
        problems.append(f"--activation {args.activation}")
    if args.solver not in _SKLEARN_SOLVERS:
        problems.append(f"--solver {args.solver}")
    if np.any(np.asarray(args.dropout) > 0):
        problems.append("--dropout")
    if args.loss not in (("log_loss",) if is_classification else _SKLEARN_LOSSES):
        problems.append(f"--loss {args.loss}")
    if problems:
        raise UsageError(
            "--compare-sklearn: scikit-learn's MLP has no "
            + ", ".join(problems)
            + " (skscratch additions); drop them to compare"
        )


def _fit(model, X, y):
    """Fit, timing it; returns the seconds and the convergence messages."""
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(X, y)
    elapsed = time.perf_counter() - start
    notes = []
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            # One line per message: scikit-learn's L-BFGS warning spans several.
            notes.append(" ".join(str(w.message).split()))
        else:  # not ours to judge: show it as Python would have
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    return elapsed, notes


# -- output ------------------------------------------------------------------------


def _print_epoch_table(ours, theirs):
    """The loss of every epoch of both fits, side by side."""
    ours_curve = list(ours.loss_curve_)
    theirs_curve = list(getattr(theirs, "loss_curve_", None) or [])
    if not theirs_curve:
        print("(scikit-learn records no loss curve for this solver)")
    print(f"{'epoch':>5}  {'skscratch loss':>14}  {'scikit-learn loss':>17}")
    for i in range(max(len(ours_curve), len(theirs_curve))):
        a = f"{ours_curve[i]:.8f}" if i < len(ours_curve) else "-"
        b = f"{theirs_curve[i]:.8f}" if i < len(theirs_curve) else "-"
        print(f"{i + 1:>5}  {a:>14}  {b:>17}")


def _print_comparison(rows):
    width = max(len(label) for label, _, _ in rows)
    print(f"{'':<{width}}  {'skscratch':>12}  {'scikit-learn':>12}")
    for label, a, b in rows:
        print(f"{label:<{width}}  {a:>12}  {b:>12}")


def _check_plot_target(path):
    """Fail before training, not after, when --plot cannot be honoured."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError(_PLOT_HINT) from None
    from matplotlib.backend_bases import FigureCanvasBase

    target = Path(path)
    suffix = target.suffix.lower().lstrip(".")
    formats = FigureCanvasBase.get_supported_filetypes()
    if suffix not in formats:
        raise UsageError(
            f"--plot: cannot tell the image format of {path!r} from its "
            f"extension; use one of {', '.join('.' + f for f in sorted(formats))}"
        )
    if not target.parent.is_dir():
        raise UsageError(f"--plot: directory {target.parent} does not exist")


def plot_training_curves(path, ours, theirs=None, title=""):
    """Save the loss curve (and validation curves, if any) as an image.

    Uses a bare :class:`matplotlib.figure.Figure`, never ``pyplot``, so it
    changes no global matplotlib state and needs no display.

    Parameters
    ----------
    path : str or path-like
        Image file; the format follows the extension.
    ours : fitted ScratchMLPClassifier or ScratchMLPRegressor
    theirs : fitted scikit-learn MLP, optional
        Drawn beside ours, dashed.
    title : str, default=""
    """
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(_PLOT_HINT) from None

    val_scores = getattr(ours, "validation_scores_", None)
    fig = Figure(figsize=(9 if val_scores else 6, 4), layout="constrained")
    axes = fig.subplots(1, 2 if val_scores else 1, squeeze=False)[0]
    ax = axes[0]
    epochs = np.arange(1, len(ours.loss_curve_) + 1)
    ax.plot(epochs, ours.loss_curve_, label="skscratch: training loss")
    val_loss = getattr(ours, "validation_loss_curve_", None)
    if val_loss:
        ax.plot(epochs, val_loss, label="skscratch: validation loss")
    their_curve = getattr(theirs, "loss_curve_", None) if theirs is not None else None
    if their_curve:
        ax.plot(
            np.arange(1, len(their_curve) + 1),
            their_curve,
            "--",
            label="scikit-learn: training loss",
        )
    ax.set_xlabel("epoch" if ours.solver != "lbfgs" else "iteration")
    ax.set_ylabel("loss")
    low, high = min(ours.loss_curve_), max(ours.loss_curve_)
    if low > 0 and high > 10 * low:
        # A log scale only helps when the loss spans more than a decade.
        ax.set_yscale("log")
    ax.legend()
    ax.grid(True, alpha=0.3)
    if val_scores:
        metric = "accuracy" if hasattr(ours, "classes_") else "R^2"
        axes[1].plot(epochs, val_scores, label="skscratch", color="C1")
        their_scores = getattr(theirs, "validation_scores_", None)
        if their_scores:
            axes[1].plot(
                np.arange(1, len(their_scores) + 1),
                their_scores,
                "--",
                label="scikit-learn",
                color="C2",
            )
        axes[1].set_xlabel("epoch")
        axes[1].set_ylabel(f"validation {metric}")
        axes[1].legend()
        axes[1].grid(True, alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=100)


# -- main --------------------------------------------------------------------------


def _check_args(args):
    """Check the options that depend on each other (each option's own bounds
    are checked by its argument type)."""
    if args.target is not None and args.csv is None:
        raise UsageError("--target only applies to --csv")
    if args.data_dir is not None and (args.csv is not None or args.dataset != "mnist"):
        raise UsageError("--data-dir only applies to --dataset mnist")
    n_rates = np.size(args.dropout)
    if n_rates > 1 and n_rates != len(args.hidden):
        raise UsageError(
            f"--dropout: {n_rates} rates for {len(args.hidden)} hidden layers; "
            "give one rate, or one per hidden layer"
        )
    if args.plot is not None:
        _check_plot_target(args.plot)


def _load(parser, args):
    """The data and the seconds it took to load; a usage error ends the run
    the way argparse ends one for a bad option."""
    try:
        _check_args(args)
        start = time.perf_counter()
        data = load_data(args)
        seconds = time.perf_counter() - start
        args.loss = _resolve_loss(args.loss, data.is_classification)
        if args.compare_sklearn:
            _check_comparable(args, data.is_classification)
    except UsageError as exc:
        parser.error(str(exc))
    return data, seconds


def _scaling_text(model, data):
    """How the inputs and targets reach the MLP, for the first line."""
    if not data.standardize:
        return "pixels in [0, 1]"  # MNIST, never standardised
    if isinstance(model, TransformedTargetRegressor):
        return "standardised inputs and targets"
    return "standardised inputs" if isinstance(model, Pipeline) else "unscaled"


def _train(parser, args, ours, theirs, data):
    """Fit our model (and scikit-learn's): their times and convergence notes,
    and whether our fit started Numba. A failed fit ends the run with
    status 1."""
    from .core import compiled

    # The estimators load Numba's kernels themselves, for the jobs where
    # they pay, within the first epoch: note when that happened.
    numba_before = compiled.enabled()
    try:
        ours_fit = _fit(ours, data.X_train, data.y_train)
        numba_started = not numba_before and compiled.enabled()
        theirs_fit = None
        if theirs is not None:
            theirs_fit = _fit(theirs, data.X_train, data.y_train)
    except ValueError as exc:
        parser.exit(1, f"{parser.prog}: error: training failed: {exc}\n")
    finally:
        if args.progress:
            # A run stopped early leaves the bar's line open.
            fitted_mlp(ours).callbacks[0].close()
    return ours_fit, theirs_fit, numba_started


def _training_line(mlp, seconds, numba_started):
    """``trained in B s (N epochs: first C s, rest D s), final loss L``.

    The first epoch stands apart: it includes any start-up within the fit,
    such as loading Numba and the compiled kernels (``numba_started``). A
    progress bar, which opens as it ends, shows the rest.
    """
    from .callbacks import History

    unit = "iteration" if mlp.solver == "lbfgs" else "epoch"
    detail = f"{mlp.n_iter_} {unit}{'s' if mlp.n_iter_ != 1 else ''}"
    records = next(cb for cb in mlp.callbacks if isinstance(cb, History)).records
    if records and mlp.n_iter_ > 1:
        first = records[0].elapsed
        loading = " with Numba start-up" if numba_started else ""
        detail += f": first {first:.2f} s{loading}, rest {seconds - first:.2f} s"
    return f"trained in {seconds:.2f} s ({detail}), final loss {mlp.loss_:.4f}"


def _report(args, data, ours, theirs, fits):
    """Print the convergence notes, the times, the scores and the plot."""
    (elapsed, notes), their_fit, numba_started = fits
    mlp = fitted_mlp(ours)
    for note in notes:
        print(f"note: {note}")
    metric = "accuracy" if data.is_classification else "R^2"
    score = ours.score(data.X_test, data.y_test)
    print(_training_line(mlp, elapsed, numba_started))
    if theirs is None:
        print(f"test {metric}: {score:.4f}")
    else:
        their_elapsed, their_notes = their_fit
        their_mlp = fitted_mlp(theirs)
        for note in their_notes:
            print(f"note (scikit-learn): {note}")
        if not args.quiet:
            _print_epoch_table(mlp, their_mlp)
        their_score = theirs.score(data.X_test, data.y_test)
        _print_comparison(
            [
                ("fit time (s)", f"{elapsed:.2f}", f"{their_elapsed:.2f}"),
                ("iterations", str(mlp.n_iter_), str(their_mlp.n_iter_)),
                ("final loss", f"{mlp.loss_:.4f}", f"{their_mlp.loss_:.4f}"),
                (f"test {metric}", f"{score:.4f}", f"{their_score:.4f}"),
            ]
        )
    if data.is_classification:
        errors = int(np.sum(ours.predict(data.X_test) != data.y_test))
        print(f"misclassified: {errors} of {len(data.y_test)}")
    elif score < 0 and not args.scale:
        print("note: a negative R^2 often means unscaled data; drop --no-scale")
    if args.plot is not None:
        title = f"{type(mlp).__name__} on {data.name}"
        their_mlp = fitted_mlp(theirs) if theirs is not None else None
        plot_training_curves(args.plot, mlp, their_mlp, title=title)
        print(f"training curves saved to {args.plot}")


def _run(parser, argv):
    args = parser.parse_args(argv)
    data, load_seconds = _load(parser, args)
    ours, theirs = make_models(args, data.is_classification, data.standardize)
    n_train, n_features = data.X_train.shape
    print(
        f"skscratch {__version__}: {type(fitted_mlp(ours)).__name__} on "
        f"{data.name} ({n_train} training / {data.X_test.shape[0]} test samples, "
        f"{n_features} features), hidden layers {args.hidden}, {args.solver}, "
        f"{_scaling_text(ours, data)}"
    )
    # The fit's time, printed after it, leaves the loading out.
    print(f"loaded data in {load_seconds:.2f} s")
    fits = _train(parser, args, ours, theirs, data)
    _report(args, data, ours, theirs, fits)
    return 0


def main(argv=None):
    """Run the command line.

    Parameters
    ----------
    argv : list of str, optional
        The arguments; ``sys.argv[1:]`` by default.

    Returns
    -------
    status : int
        0 on success (``--help`` and ``--version`` included), 2 for a bad
        command line (bad option or value, missing file, bad column name),
        1 when training fails. Every error is reported on standard error the
        way argparse reports a bad option: the usage line, then
        ``python -m skscratch: error: ...``.
    """
    parser = build_parser()
    try:
        return _run(parser, argv)
    except SystemExit as exc:
        # argparse exits for --help, --version and errors (and _run's errors
        # go the same way); as a function, main returns the status instead.
        return 0 if exc.code is None else exc.code
