"""
Decision boundaries of each activation
======================================

The hidden activation shapes the functions a network can draw. On a 2-D toy
problem (two interleaved half-moons) the same small network is trained with
each of skscratch's ten hidden activations, and the figure shows the
predicted probability of the second class over the plane.

``identity`` makes the whole network linear, so its boundary is a straight
line whatever the depth; ``relu`` and its relatives (``leaky_relu``, ``elu``)
draw piecewise-linear boundaries with visible corners; ``logistic``,
``tanh``, ``softplus``, ``gelu``, ``silu`` and ``mish`` draw smooth curves.
"""

# %%
# Train one network per activation
# --------------------------------

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_moons
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from skscratch import HIDDEN_ACTIVATIONS, MLPClassifier

X, y = make_moons(n_samples=300, noise=0.25, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

activations = HIDDEN_ACTIVATIONS  # every one the estimators offer
# L-BFGS would polish the smooth networks for many more iterations, with no
# visible change to the boundary: cap it, and silence the warning the cap
# triggers.
warnings.simplefilter("ignore", ConvergenceWarning)
models = {}
for name in activations:
    models[name] = MLPClassifier(
        hidden_layer_sizes=(16, 16),
        activation=name,
        solver="lbfgs",
        alpha=0.05,
        max_iter=300,
        random_state=0,
    ).fit(X_train, y_train)
    print(f"{name:>10}: test accuracy {models[name].score(X_test, y_test):.3f}")

# %%
# The probability of class 1 over the plane
# -----------------------------------------

xx, yy = np.meshgrid(np.linspace(-2, 3, 200), np.linspace(-1.5, 2, 200))
grid = np.c_[xx.ravel(), yy.ravel()]
fig, axes = plt.subplots(2, 5, figsize=(16, 7), sharex=True, sharey=True)
for ax, (name, model) in zip(axes.ravel(), models.items(), strict=True):
    proba = model.predict_proba(grid)[:, 1].reshape(xx.shape)
    ax.contourf(xx, yy, proba, levels=np.linspace(0, 1, 11), cmap="RdBu", alpha=0.8)
    ax.contour(xx, yy, proba, levels=[0.5], colors="black", linewidths=1)
    ax.scatter(*X_train.T, c=y_train, cmap="RdBu", edgecolors="k", s=12, lw=0.5)
    ax.set_title(f"{name} (test {model.score(X_test, y_test):.2f})")
fig.suptitle("Two moons, hidden layers (16, 16), L-BFGS")
fig.tight_layout()
fig.savefig("activations.png", dpi=100)
