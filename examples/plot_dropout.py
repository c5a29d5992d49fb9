"""
Dropout against overfitting
===========================

A wide network trained on few, noisy samples memorises them: its training loss
goes to zero while the loss on new data climbs back up. *Dropout* fights this
by zeroing a random share of the hidden units at every training step (and
scaling the others up to compensate), so that no unit can count on any
particular other one; at prediction time the whole network is used.

Two identical networks are trained on 100 noisy two-moons points, one with
``dropout=0.5`` and one without, for a fixed number of epochs and with no L2
penalty. A callback measures the loss on 1000 fresh points after every epoch.
"""

# %%
# A callback that tracks the test loss
# ------------------------------------
# Callbacks get the estimator after every epoch, so they can evaluate it on
# any data they like.

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_moons
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import log_loss

from skscratch import MLPClassifier

X, y = make_moons(n_samples=1100, noise=0.35, random_state=0)
X_train, y_train, X_test, y_test = X[:100], y[:100], X[100:], y[100:]


class TestLoss:
    """Record the log-loss on (X, y) after every epoch."""

    def __init__(self, X, y):
        self.X, self.y = X, y
        self.losses = []

    def __call__(self, estimator, record):
        self.losses.append(log_loss(self.y, estimator.predict_proba(self.X)))


# %%
# With and without dropout
# ------------------------
# Both runs go to ``max_iter`` on purpose (``n_iter_no_change`` is set out of
# the way, and the warning about reaching ``max_iter`` silenced), to show what
# happens when training goes on too long.

warnings.simplefilter("ignore", ConvergenceWarning)

runs = {}
for rate in (0.0, 0.5):
    tracker = TestLoss(X_test, y_test)
    clf = MLPClassifier(
        hidden_layer_sizes=(256, 256),
        dropout=rate,
        alpha=0.0,
        learning_rate_init=0.003,
        max_iter=200,
        n_iter_no_change=1000,
        callbacks=[tracker],
        random_state=0,
    )
    clf.fit(X_train, y_train)
    runs[rate] = (clf, tracker)
    print(
        f"dropout={rate}: training loss {clf.loss_:.3f}, test loss "
        f"{tracker.losses[-1]:.3f} (lowest {min(tracker.losses):.3f}), "
        f"test accuracy {clf.score(X_test, y_test):.3f}"
    )

# %%
# Boundaries and curves
# ---------------------
# Without dropout the boundary bends around single noisy points; with dropout
# it stays closer to the two moons. Dropout does not stop overfitting by
# itself here, it slows it down: the test loss of the network without dropout
# climbs far faster. (The training loss with dropout is measured on the
# perturbed networks, hence higher.) Combined with ``early_stopping``, which
# picks the epoch with the best validation score, the gap matters less; on
# larger data, dropout also lets a wide network reach a better minimum.

xx, yy = np.meshgrid(np.linspace(-2, 3, 200), np.linspace(-1.5, 2, 200))
grid = np.c_[xx.ravel(), yy.ravel()]
fig, axes = plt.subplots(1, 3, figsize=(14, 4))
colors = {0.0: "C3", 0.5: "C0"}
for ax, (rate, (clf, _)) in zip(axes[:2], runs.items(), strict=True):
    proba = clf.predict_proba(grid)[:, 1].reshape(xx.shape)
    ax.contourf(xx, yy, proba, levels=np.linspace(0, 1, 11), cmap="RdBu", alpha=0.8)
    ax.contour(xx, yy, proba, levels=[0.5], colors="black", linewidths=1)
    ax.scatter(*X_train.T, c=y_train, cmap="RdBu", edgecolors="k", s=15, lw=0.5)
    ax.set_title(f"dropout={rate}: test accuracy {clf.score(X_test, y_test):.3f}")

ax = axes[2]
for rate, (clf, tracker) in runs.items():
    epochs = np.arange(1, clf.n_iter_ + 1)
    color = colors[rate]
    ax.plot(epochs, clf.loss_curve_, color=color, ls="--", label=f"{rate}: train")
    ax.plot(epochs, tracker.losses, color=color, label=f"{rate}: test")
ax.set(xlabel="epoch", ylabel="log-loss (log scale)", yscale="log")
ax.legend(title="dropout")
ax.grid(True, alpha=0.3)
fig.suptitle("100 noisy two-moons points, hidden layers (256, 256), Adam, no L2")
fig.tight_layout()
fig.savefig("dropout.png", dpi=100)
