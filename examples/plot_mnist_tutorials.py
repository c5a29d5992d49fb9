"""
The tutorials' networks on MNIST
================================

skscratch grew from five "neural network from scratch" documents (see
:doc:`/from_the_tutorials`). Each trains its own network its own way; this
example trains each of them on MNIST for a few epochs, with the estimator
call (or, for the layered NumPy network of seed 000, the
:mod:`skscratch.nn` lines) that builds the same thing, and records the
training loss and the test accuracy after every epoch.

The tutorials fix the networks, the costs and the update rules, not always
the sizes or the learning rates; where they leave one open, the value used
here is stated. The runs are kept short (three to ten epochs each; five
and a half minutes in all, measured on two CPU cores shared with other jobs,
most of it the per-sample run and the reference engine's), so the
accuracies are those of short runs.

The documentation shows this example without running it. To regenerate its
figure, ``docs/_static/mnist_tutorials.png``, and the numbers quoted on the
page, run from the repository's root::

    SKSCRATCH_MNIST_DIR=/path/to/mnist python examples/plot_mnist_tutorials.py
    cp mnist_tutorials.png docs/_static/

The example needs the four MNIST IDX files (``train-images-idx3-ubyte.gz``
and so on). It reads them from the directory named by the
``SKSCRATCH_MNIST_DIR`` environment variable, or else from
``../shared/datasets/mnist`` beside the repository.
"""

# %%
# Load MNIST
# ----------
# Pixels scaled to [0, 1], as the tutorials scale them; float32.

import os
import sys
import time
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from skscratch import MLPClassifier, nn
from skscratch.datasets import load_mnist


def mnist_dir():
    """$SKSCRATCH_MNIST_DIR, else ../shared/datasets/mnist beside the repo."""
    if os.environ.get("SKSCRATCH_MNIST_DIR"):
        return Path(os.environ["SKSCRATCH_MNIST_DIR"])
    here = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
    return here.parent.parent / "shared" / "datasets" / "mnist"


try:
    X_train, y_train, X_test, y_test = load_mnist(mnist_dir())
except FileNotFoundError as exc:
    sys.exit(
        f"This example needs MNIST. {exc}\nSet SKSCRATCH_MNIST_DIR to the "
        "directory holding the four files, e.g. SKSCRATCH_MNIST_DIR=/data/mnist "
        "python examples/plot_mnist_tutorials.py"
    )
print(X_train.shape, X_test.shape)
warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter is the plan


# %%
# The estimator runs
# ------------------
# A callback scores the test set after every epoch. Every run uses plain
# SGD (no momentum, a constant learning rate, no L2 penalty), as the
# tutorials do.


def run_estimator(epochs, **params):
    """Fit for ``epochs`` epochs; the loss curve, the test accuracy after
    each epoch and the seconds of training (scoring excluded)."""
    accuracy, scoring = [], [0.0]

    def score_test_set(estimator, record):
        start = time.perf_counter()
        accuracy.append(estimator.score(X_test, y_test))
        scoring[0] += time.perf_counter() - start

    clf = MLPClassifier(
        solver="sgd",
        momentum=0.0,
        learning_rate="constant",
        alpha=0.0,
        max_iter=epochs,
        n_iter_no_change=epochs + 1,  # always run every epoch
        random_state=0,
        callbacks=[score_test_set],
        **params,
    )
    start = time.perf_counter()
    clf.fit(X_train, y_train)
    return clf.loss_curve_, accuracy, time.perf_counter() - start - scoring[0]


runs = {}
# Seed 001: one hidden layer (64 logistic units here; the text leaves H open),
# softmax output, the error r - y, an update after every sample.
runs["001: 784-64-10, softmax, per sample"] = run_estimator(
    3, hidden_layer_sizes=(64,), activation="logistic", batch_size=1,
    learning_rate_init=0.05,
)  # fmt: skip
# Seed 002 exactly: 784-16-16-10, logistic everywhere, squared error, plain
# SGD. Its loop averages the gradient over the whole training set per step;
# mini-batches of 10 reach the same network's accuracy in far fewer epochs.
runs["002: 784-16-16-10, squared error"] = run_estimator(
    10, hidden_layer_sizes=(16, 16), activation="logistic", loss="squared_error",
    batch_size=10, learning_rate_init=10.0,
)  # fmt: skip
# The same network and steps with cross-entropy: the learning rate is the
# squared error's divided by the 10 outputs, whose mean the squared error
# takes, so that the output layer's derivative is the only difference.
runs["002 with cross-entropy instead"] = run_estimator(
    10, hidden_layer_sizes=(16, 16), activation="logistic", batch_size=10,
    learning_rate_init=1.0,
)  # fmt: skip
# Seed 003: 784-128-10, relu then softmax with cross-entropy, mini-batches
# (64 here, with learning rate 0.1: the text fixes neither).
runs["003: 784-128-10, relu, mini-batch"] = run_estimator(
    10, hidden_layer_sizes=(128,), activation="relu", batch_size=64,
    learning_rate_init=0.1,
)  # fmt: skip


# %%
# Seed 000 with the reference engine
# ----------------------------------
# The CS189 network is built from layer objects, each with a forward pass
# that caches its input and a backward pass that returns ``dL/dX`` after
# filling ``dL/dW`` and ``dL/db``: exactly :mod:`skscratch.nn`'s ``Dense``
# and ``ActivationLayer``. Two relu layers (128 and 64 units; the post leaves
# the sizes open), softmax cross-entropy, mini-batches of 128.


def run_reference(epochs, batch_size=128, learning_rate=0.1):
    rng = np.random.RandomState(0)
    net = nn.Network(
        [
            nn.Dense(784, 128),
            nn.ActivationLayer("relu"),
            nn.Dense(128, 64),
            nn.ActivationLayer("relu"),
            nn.Dense(64, 10),
        ],
        "log_loss",
    )
    net.initialize(rng)
    optimizer = nn.SGD(learning_rate=learning_rate, momentum=0.0)
    X = X_train.astype(np.float64)
    Y = np.eye(10)[y_train]
    curve, accuracy, seconds = [], [], 0.0
    for _ in range(epochs):
        start = time.perf_counter()
        curve += nn.train(
            net, optimizer, X, Y, epochs=1, batch_size=batch_size, rng=rng
        )
        seconds += time.perf_counter() - start
        predicted = net.predict(X_test.astype(np.float64)).argmax(axis=1)
        accuracy.append(float((predicted == y_test).mean()))
    return curve, accuracy, seconds


runs["000: nn layers, 784-128-64-10"] = run_reference(3)

for name, (curve, accuracy, seconds) in runs.items():
    print(
        f"{name}: {len(curve)} epochs in {seconds:.1f} s, final training loss "
        f"{curve[-1]:.4f}, test accuracy {accuracy[-1]:.4f}"
    )

# %%
# Seed 002's first epoch, squared error against cross-entropy
# -----------------------------------------------------------
# An epoch of MNIST is 6000 steps of 10 images: enough for both losses to
# reach about the same accuracy by the end of it. The difference is at the
# start: the same network, fed its first 20 000 images 1000 at a time with
# ``partial_fit``, scored on the test set after each.

CHUNK, SEEN = 1000, 20_000
first_epoch = {}
for loss, learning_rate in (("squared_error", 10.0), ("log_loss", 1.0)):
    clf = MLPClassifier(
        hidden_layer_sizes=(16, 16), activation="logistic", loss=loss,
        solver="sgd", momentum=0.0, learning_rate_init=learning_rate,
        batch_size=10, alpha=0.0, random_state=0,
    )  # fmt: skip
    accuracy = []
    for start in range(0, SEEN, CHUNK):
        rows = slice(start, start + CHUNK)
        clf.partial_fit(X_train[rows], y_train[rows], classes=np.arange(10))
        accuracy.append(clf.score(X_test, y_test))
    first_epoch[loss] = accuracy
    print(
        f"002 with {loss}, test accuracy after 2000, 5000, 10 000 and 20 000 "
        f"images: {accuracy[1]:.3f}, {accuracy[4]:.3f}, {accuracy[9]:.3f}, "
        f"{accuracy[-1]:.3f}"
    )

# %%
# Loss curves and test accuracy
# -----------------------------
# The losses are in their own units (the squared error is a mean over the
# ten outputs, the cross-entropy a sum), so each curve is shown relative to
# its first epoch; the test accuracies compare directly. Right, seed 002's
# network over its first 20 000 images.
#
# .. image:: /_static/mnist_tutorials.png
#    :alt: loss curves and test accuracy of the tutorials' networks on MNIST

fig, (ax_loss, ax_acc, ax_first) = plt.subplots(
    1, 3, figsize=(16, 4.5), layout="constrained"
)
for name, (curve, accuracy, _) in runs.items():
    epochs = np.arange(1, len(curve) + 1)
    style = "--" if "instead" in name else "-"
    ax_loss.plot(epochs, np.array(curve) / curve[0], style, marker=".", label=name)
    ax_acc.plot(epochs, accuracy, style, marker=".", label=name)
ax_loss.set(
    xlabel="epoch", ylabel="training loss / first epoch's (log scale)", yscale="log"
)
ax_acc.set(xlabel="epoch", ylabel="test accuracy")
ax_acc.set_ylim(0.85, 1.0)
ax_acc.legend(loc="lower right", fontsize=8)
images = np.arange(CHUNK, SEEN + 1, CHUNK)
ax_first.plot(images, first_epoch["squared_error"], marker=".", color="C1",
              label="squared error, learning rate 10")  # fmt: skip
ax_first.plot(images, first_epoch["log_loss"], "--", marker=".", color="C2",
              label="cross-entropy, learning rate 1")  # fmt: skip
ax_first.set(xlabel="training images seen", ylabel="test accuracy",
             title="002's network, start of the first epoch")  # fmt: skip
ax_first.legend(loc="lower right", fontsize=8)
for ax in (ax_loss, ax_acc, ax_first):
    ax.grid(True, alpha=0.3)
fig.suptitle("The tutorials' networks on MNIST: plain SGD, a few epochs")
fig.savefig("mnist_tutorials.png", dpi=100)
# sphinx_gallery_thumbnail_path = "_static/mnist_tutorials.png"
