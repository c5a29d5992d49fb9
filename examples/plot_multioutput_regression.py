"""
Multi-output regression
=======================

One network can predict several targets at once: the output layer gets one
unit per target, and the hidden layers are shared. Here the input is an angle
``t`` and the three targets are noisy samples of ``sin t``, ``cos t`` and
``sin 2t``; skscratch's ``MLPRegressor`` learns all three curves together.

scikit-learn's ``MLPRegressor`` reports the squared error averaged over the
outputs, but its gradient is that of the *sum* (scikit-learn issue #8349),
so with L-BFGS, which trusts the gradient to match the loss, it takes
different steps. skscratch's gradient matches the loss it reports; both are
fitted below for comparison.
"""

# %%
# Data: three targets per sample
# ------------------------------

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn import neural_network
from sklearn.exceptions import ConvergenceWarning

from skscratch import MLPRegressor

rng = np.random.default_rng(0)
t_train = rng.uniform(-np.pi, np.pi, size=300)
curves = {
    "sin t": np.sin,
    "cos t": np.cos,
    "sin 2t": lambda t: np.sin(2 * t),
}
Y_train = np.column_stack([f(t_train) for f in curves.values()])
Y_train += 0.1 * rng.normal(size=Y_train.shape)
X_train = t_train[:, np.newaxis]
print("X:", X_train.shape, " Y:", Y_train.shape)

# %%
# One network, three outputs
# --------------------------

params = dict(
    hidden_layer_sizes=(32, 32),
    activation="tanh",
    solver="lbfgs",
    max_iter=300,
    random_state=0,
)
with warnings.catch_warnings():
    # Both fits use up max_iter while the loss still creeps down by less than
    # the noise could justify; each would warn about it.
    warnings.simplefilter("ignore", ConvergenceWarning)
    ours = MLPRegressor(**params).fit(X_train, Y_train)
    theirs = neural_network.MLPRegressor(**params).fit(X_train, Y_train)
print("output layer weights:", ours.coefs_[-1].shape, "(one column per target)")
print(f"skscratch:    {ours.n_iter_} iterations, loss {ours.loss_:.5f}")
print(f"scikit-learn: {theirs.n_iter_} iterations, loss {theirs.loss_:.5f}")

# %%
# The fitted curves
# -----------------
# The top row shows the three fitted curves; where the two fits agree, the
# thin dashed line of scikit-learn's runs along the middle of skscratch's wide
# pale one. The bottom row shows what is hard to see above: each fit's error
# against the noise-free curve.

t = np.linspace(-np.pi, np.pi, 400)
ours_pred = ours.predict(t[:, np.newaxis])
theirs_pred = theirs.predict(t[:, np.newaxis])
fig, axes = plt.subplots(
    2,
    3,
    figsize=(12, 6),
    sharex=True,
    sharey="row",
    layout="constrained",
    gridspec_kw={"height_ratios": [2, 1]},
)
for k, (name, f) in enumerate(curves.items()):
    ax, ax_err = axes[:, k]
    truth = f(t)
    ax.scatter(t_train, Y_train[:, k], s=6, color="0.75", label="training data")
    ax.plot(t, truth, color="black", lw=1, label="truth")
    ax.plot(t, ours_pred[:, k], color="C0", lw=5, alpha=0.45, label="skscratch")
    ax.plot(t, theirs_pred[:, k], "--", color="C1", lw=1.5, label="scikit-learn")
    ax.set_title(name)
    ax_err.axhline(0, color="black", lw=1)
    ax_err.plot(t, ours_pred[:, k] - truth, color="C0", lw=2, label="skscratch")
    ax_err.plot(
        t, theirs_pred[:, k] - truth, "--", color="C1", lw=1.5, label="scikit-learn"
    )
    ax_err.set_xlabel("t")
axes[0, 0].set_ylabel("target")
axes[1, 0].set_ylabel("prediction - truth")
handles, labels = axes[0, 0].get_legend_handles_labels()
fig.legend(handles, labels, loc="outside lower center", ncols=4, fontsize=9)
fig.savefig("multioutput_regression.png", dpi=100)
