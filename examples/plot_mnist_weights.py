"""
What the first layer looks at (MNIST)
=====================================

Each hidden unit of the first layer computes ``x . w + b``: a weighted sum of
the 784 pixels of the image. Its weight vector ``w`` (a column of
``coefs_[0]``) has one entry per pixel, so it can be drawn as a 28x28 image:
red pixels push the unit up, blue ones push it down. After training, the
units have become stroke and blob detectors.

This example needs the MNIST files; see :ref:`the MNIST example
<sphx_glr_auto_examples_plot_mnist.py>` for where they are looked for.
"""

# %%
# Find and load MNIST
# -------------------

import os
import sys
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from skscratch import MLPClassifier
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
        "python examples/plot_mnist_weights.py"
    )

# %%
# A small network, a few epochs
# -----------------------------
# A stronger L2 penalty than the default keeps the weights of pixels that are
# always blank (the border) near zero, which makes the pictures cleaner. Eight
# epochs are enough for the patterns to form (training is stopped before it
# has converged, so the warning that says so is silenced).

warnings.simplefilter("ignore", ConvergenceWarning)

clf = MLPClassifier(
    hidden_layer_sizes=(64,),
    alpha=1.0,
    max_iter=8,
    random_state=0,
)
clf.fit(X_train, y_train)
print(f"test accuracy: {clf.score(X_test, y_test):.4f}")

# %%
# The 64 weight vectors as images
# -------------------------------
# Each picture has its own colour scale, symmetric around 0 (white): a few
# units have much larger weights than the others and would wash them out.
#
# The documentation shows this example without running it; this is the
# figure it draws:
#
# .. image:: /_static/mnist_weights.png
#    :alt: 64 first-layer weight vectors drawn as 28x28 images

W = clf.coefs_[0]  # shape (784, 64): one column per hidden unit
fig, axes = plt.subplots(8, 8, figsize=(8, 8.4))
for k, ax in enumerate(axes.ravel()):
    limit = np.abs(W[:, k]).max()
    ax.imshow(W[:, k].reshape(28, 28), cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle("First-layer weights of a 784-64-10 network trained on MNIST")
fig.tight_layout()
fig.savefig("mnist_weights.png", dpi=100)
# sphinx_gallery_thumbnail_path = "_static/mnist_weights.png"
