"""
Squared error or cross-entropy: the same network, two losses
============================================================

Seed 002 of the tutorials skscratch grew from (see
:doc:`/from_the_tutorials`) trains a network of logistic units, output layer
included, on the squared error of its outputs against one-hot targets.
``MLPClassifier(loss="squared_error")`` builds that network. Here it is
trained side by side with the same network on the cross-entropy
(``loss="log_loss"``, scikit-learn's), on scikit-learn's 8x8 digits: same
hidden layers, same initial weights, same mini-batches, same plain SGD.

The only difference left is the derivative of the loss with respect to an
output unit's score ``z``. For the cross-entropy it is the error ``a - y``.
For the squared error (with scikit-learn's convention ``1/2 mean_k (a_k -
y_k)^2`` over the ``K = 10`` outputs) it is ``(a - y) a (1 - a) / K``: the
logistic's derivative ``sigma'(z) = a (1 - a)`` multiplies the error. The
factor ``1 / K`` is a convention, undone here by a learning rate ``K`` times
larger; ``sigma'(z)`` is not: it is at most 1/4, and close to 0 wherever the
output saturates, so a unit that is confidently *wrong* (``a`` near 0 for the
true class) barely learns. That is why the cross-entropy learns faster.

:doc:`/from_the_tutorials` shows this example's figure from
``docs/_static/squared_error_vs_cross_entropy.png``; regenerate it (about
10 seconds) from the repository's root with::

    python examples/plot_squared_error_vs_cross_entropy.py
    cp squared_error_vs_cross_entropy.png docs/_static/
"""

# %%
# The output gradient of each loss
# --------------------------------
# For the true class (``y = 1``), as a function of the output's score ``z``.

import matplotlib.pyplot as plt
import numpy as np
from scipy.special import expit
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skscratch import MLPClassifier

z = np.linspace(-8, 8, 401)
a = expit(z)
cross_entropy_gradient = a - 1  # d/dz of -log(a)
squared_error_gradient = (a - 1) * a * (1 - a)  # d/dz of (a - 1)^2 / 2
for score in (-6.0, -2.0, 0.0):
    s = expit(score)
    print(
        f"z = {score:+.0f}: cross-entropy {s - 1:+.4f}, "
        f"squared error {(s - 1) * s * (1 - s):+.4f}"
    )

# %%
# Train both
# ----------
# 64-16-16-10 with logistic hidden units, mini-batches of 10, no momentum, a
# constant learning rate: 1.0 for the cross-entropy, 10 times that for the
# squared error (its mean over the 10 outputs divides its gradient by 10).
# ``partial_fit`` runs one epoch at a time, so that the test accuracy can be
# read after each.

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X / 16.0, y, test_size=0.25, stratify=y, random_state=0
)
EPOCHS = 30
K = 10


def train(loss, learning_rate):
    clf = MLPClassifier(
        hidden_layer_sizes=(16, 16),
        activation="logistic",
        loss=loss,
        solver="sgd",
        momentum=0.0,
        learning_rate="constant",
        learning_rate_init=learning_rate,
        batch_size=10,
        alpha=0.0,
        random_state=0,
    )
    accuracy = []
    for _ in range(EPOCHS):
        clf.partial_fit(X_train, y_train, classes=np.arange(K))
        accuracy.append(clf.score(X_test, y_test))
    return accuracy


results = {
    "cross-entropy (log_loss), softmax output": train("log_loss", 1.0),
    "squared error, logistic output": train("squared_error", 1.0 * K),
}
for name, accuracy in results.items():
    reached = next((i + 1 for i, s in enumerate(accuracy) if s >= 0.9), None)
    print(
        f"{name}: test accuracy {accuracy[0]:.3f} after 1 epoch, "
        f"{accuracy[-1]:.3f} after {EPOCHS}; 90 % first reached at epoch {reached}"
    )

# %%
# Side by side
# ------------
# Left, the derivative of each loss with respect to the true class's score:
# the squared error's vanishes where the output is confidently wrong (``z``
# very negative), exactly where the cross-entropy's is largest. Right, what
# that does to training: the same network, the same steps.

fig, (ax_grad, ax_acc) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
ax_grad.plot(z, cross_entropy_gradient, label=r"cross-entropy: $a - y$")
ax_grad.plot(z, squared_error_gradient, label=r"squared error: $(a - y)\,a(1 - a)$")
ax_grad.axhline(0, color="0.6", lw=0.8)
ax_grad.set(
    xlabel="score z of the true class's output (y = 1)",
    ylabel="dl / dz (squared error times K)",
    title="Output-layer gradient",
)
ax_grad.legend(loc="lower right")
epochs = np.arange(1, EPOCHS + 1)
for name, accuracy in results.items():
    ax_acc.plot(epochs, accuracy, marker=".", label=name)
ax_acc.set(
    xlabel="epoch",
    ylabel="test accuracy",
    title="64-16-16-10 logistic network, plain SGD",
)
ax_acc.legend(loc="lower right")
for ax in (ax_grad, ax_acc):
    ax.grid(True, alpha=0.3)
fig.savefig("squared_error_vs_cross_entropy.png", dpi=100)
