"""
Quick start: swap the import
============================

``ScratchMLPClassifier`` takes the same parameters as scikit-learn's
``MLPClassifier``, so trying it is a one-line change. Here it learns
scikit-learn's bundled 8x8 handwritten digits; the figure shows the loss of
every epoch and a few test digits with the predicted label.
"""

# %%
# Load the data and fit
# ---------------------
# The only change from a scikit-learn script is the import line. With
# ``early_stopping=True`` a tenth of the training data is held out, and training
# stops once the accuracy there has not improved for 10 epochs.

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

# from sklearn.neural_network import MLPClassifier
from skscratch import ScratchMLPClassifier as MLPClassifier

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

# A 3x6 mosaic of test digits, each with its predicted label.
predicted = model.predict(X_test[:18])
ax_digits.axis("off")
ax_digits.set_title("Test digits and predictions (red: wrong)")
for k in range(18):
    inset = ax_digits.inset_axes([(k % 6) / 6, 1 - (k // 6 + 1) / 3, 1 / 6, 1 / 3.4])
    inset.imshow(X_test[k].reshape(8, 8), cmap="gray_r")
    inset.set_xticks([])
    inset.set_yticks([])
    wrong = predicted[k] != y_test[k]
    inset.set_title(str(predicted[k]), fontsize=9, color="red" if wrong else "black")
fig.savefig("quickstart.png", dpi=100)
