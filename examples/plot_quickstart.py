"""
Quick start: swap the import
============================

skscratch's ``MLPClassifier`` has the same name and takes the same parameters
as scikit-learn's, so trying it is a one-line change. Here it learns
scikit-learn's bundled 8x8 handwritten digits; the figure shows the loss of
every epoch and a few test digits with the predicted label, the misclassified
ones among them in red.
"""

# %%
# Load the data and fit
# ---------------------
# The only change from a scikit-learn script is the import line. With
# ``early_stopping=True`` a tenth of the training data is held out, and training
# stops once the accuracy there has not improved for 10 epochs.

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

# from sklearn.neural_network import MLPClassifier
from skscratch import MLPClassifier

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)
model = make_pipeline(
    StandardScaler(),
    MLPClassifier(learning_rate_init=0.005, early_stopping=True, random_state=0),
)
model.fit(X_train, y_train)
mlp = model[-1]
print(f"{mlp.n_iter_} epochs, test accuracy {model.score(X_test, y_test):.3f}")

# %%
# What was learned
# ----------------
# The fitted estimator has scikit-learn's attributes: ``loss_curve_``,
# ``coefs_``, ``intercepts_``, ``n_iter_``...

print("weight shapes:", [w.shape for w in mlp.coefs_])

fig, (ax_loss, ax_digits) = plt.subplots(
    1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [1, 1.2]}
)
ax_loss.plot(range(1, mlp.n_iter_ + 1), mlp.loss_curve_)
ax_loss.set(xlabel="epoch", ylabel="training loss (log scale)", yscale="log")
ax_loss.set_title("Loss of every epoch")
ax_loss.grid(True, alpha=0.3)

# A 3x6 mosaic of test digits, each with its predicted label: up to six of the
# misclassified ones, in red with the true label in brackets, among correctly
# classified ones, in the order of the test set.
predicted = model.predict(X_test)
wrong = np.flatnonzero(predicted != y_test)
right = np.flatnonzero(predicted == y_test)
shown_wrong = wrong[:6]
shown = np.sort(np.concatenate([shown_wrong, right[: 18 - len(shown_wrong)]]))
print(f"{len(wrong)} of {len(y_test)} test digits misclassified")

ax_digits.axis("off")
if len(wrong):
    title = (
        "Test digits and predicted labels\n"
        f"red: wrong (true label in brackets), {len(wrong)} of {len(y_test)}"
    )
else:
    title = f"Test digits and predictions\nall {len(y_test)} correct"
ax_digits.set_title(title)
for k, i in enumerate(shown):
    inset = ax_digits.inset_axes([(k % 6) / 6, 1 - (k // 6 + 1) / 3, 1 / 6, 1 / 3.4])
    inset.imshow(X_test[i].reshape(8, 8), cmap="gray_r")
    inset.set_xticks([])
    inset.set_yticks([])
    if predicted[i] == y_test[i]:
        inset.set_title(str(predicted[i]), fontsize=9, color="black")
    else:
        label = f"{predicted[i]} ({y_test[i]})"
        inset.set_title(label, fontsize=9, color="red", fontweight="bold")
fig.savefig("quickstart.png", dpi=100)
