"""``python -m skscratch``: train an MLP from the command line.

By default it trains a classifier on scikit-learn's bundled handwritten digits
(8x8 images), printing the loss after every epoch and the test accuracy at
the end. Options choose another bundled data set, the architecture and the
solver.
"""

import argparse
import sys
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from . import ScratchMLPClassifier, ScratchMLPRegressor, __version__

DATASETS = ("digits", "iris", "breast_cancer", "diabetes")


def _load(name):
    """Return ``X, y, is_classification, description`` for a bundled set."""
    from sklearn import datasets

    loader = getattr(datasets, f"load_{name}")
    X, y = loader(return_X_y=True)
    return X, y, name != "diabetes"


def _hidden_layer_sizes(text):
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers such as 100 or 256,128; got {text!r}"
        ) from None
    if any(size <= 0 for size in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be positive: {text!r}")
    return sizes


def build_parser():
    """The argument parser of ``python -m skscratch``."""
    parser = argparse.ArgumentParser(
        prog="python -m skscratch",
        description="Train a skscratch multi-layer perceptron and report its "
        "test score.",
    )
    parser.add_argument(
        "--dataset",
        choices=DATASETS,
        default="digits",
        help="bundled scikit-learn data set (default: digits)",
    )
    parser.add_argument(
        "--hidden",
        type=_hidden_layer_sizes,
        default=(100,),
        metavar="SIZES",
        help="hidden layer sizes, comma-separated (default: 100)",
    )
    parser.add_argument(
        "--activation",
        default="relu",
        choices=["identity", "logistic", "tanh", "relu"],
        help="hidden activation (default: relu)",
    )
    parser.add_argument(
        "--solver",
        default="adam",
        choices=["adam", "sgd", "lbfgs"],
        help="optimizer (default: adam)",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=50,
        help="maximum number of epochs / iterations (default: 50)",
    )
    parser.add_argument(
        "--learning-rate",
        type=float,
        default=1e-3,
        help="initial learning rate of adam and sgd (default: 0.001)",
    )
    parser.add_argument("--alpha", type=float, default=1e-4, help="L2 penalty")
    parser.add_argument(
        "--test-size",
        type=float,
        default=0.25,
        help="share of the data held out for testing (default: 0.25)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument(
        "--quiet", action="store_true", help="do not print the loss of every epoch"
    )
    parser.add_argument("--version", action="version", version=__version__)
    return parser


def main(argv=None):
    """Run the command line; returns the process exit status."""
    args = build_parser().parse_args(argv)
    if not 0 < args.test_size < 1:
        print("error: --test-size must be between 0 and 1", file=sys.stderr)
        return 2
    if args.epochs < 1:
        print("error: --epochs must be at least 1", file=sys.stderr)
        return 2

    X, y, is_classification = _load(args.dataset)
    X_train, X_test, y_train, y_test = train_test_split(
        X,
        y,
        test_size=args.test_size,
        random_state=args.seed,
        stratify=y if is_classification else None,
    )
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

    estimator_class = ScratchMLPClassifier if is_classification else ScratchMLPRegressor
    model = estimator_class(
        hidden_layer_sizes=args.hidden,
        activation=args.activation,
        solver=args.solver,
        alpha=args.alpha,
        learning_rate_init=args.learning_rate,
        max_iter=args.epochs,
        random_state=args.seed,
        verbose=not args.quiet,
    )
    print(
        f"skscratch {__version__}: {estimator_class.__name__} on {args.dataset} "
        f"({X_train.shape[0]} training / {X_test.shape[0]} test samples, "
        f"{X.shape[1]} features), hidden layers {args.hidden}, {args.solver}"
    )
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(X_train, y_train)
    elapsed = time.perf_counter() - start
    for warning in caught:
        if issubclass(warning.category, ConvergenceWarning):
            print(f"note: {warning.message}")

    score = model.score(X_test, y_test)
    metric = "accuracy" if is_classification else "R^2"
    print(
        f"trained {model.n_iter_} iterations in {elapsed:.2f} s, "
        f"final loss {model.loss_:.4f}"
    )
    print(f"test {metric}: {score:.4f}")
    if is_classification:
        errors = int(np.sum(model.predict(X_test) != y_test))
        print(f"misclassified: {errors} of {len(y_test)}")
    return 0
