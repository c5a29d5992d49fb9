"""
Training and validation loss curves
===================================

With ``early_stopping=True`` the estimator holds out ``validation_fraction`` of
the training data and evaluates the network on it after every epoch. Besides
scikit-learn's ``validation_scores_`` (accuracy here), skscratch records the
loss on the held-out data in ``validation_loss_curve_``, next to the training
loss in ``loss_curve_``. The gap between the two curves is the overfitting.

``early_stopping_metric="loss"`` stops on the validation loss instead of the
accuracy, and the weights of the best epoch are restored at the end. A
:class:`~skscratch.callbacks.History` callback keeps the same numbers, with
the time of every epoch, while training runs.
"""

# %%
# Fit with a held-out validation set
# ----------------------------------

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skscratch import MLPClassifier
from skscratch.callbacks import History

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

history = History()
clf = MLPClassifier(
    hidden_layer_sizes=(128,),
    learning_rate_init=0.01,
    alpha=0.0,
    early_stopping=True,
    early_stopping_metric="loss",
    validation_fraction=0.2,
    n_iter_no_change=10,
    callbacks=[history],
    random_state=0,
)
clf.fit(X_train, y_train)
best_epoch = int(np.argmin(clf.validation_loss_curve_)) + 1
print(f"stopped after {clf.n_iter_} epochs; best validation loss at epoch {best_epoch}")
print(f"test accuracy with the restored weights: {clf.score(X_test, y_test):.3f}")
print(f"{history.records[-1].elapsed:.2f} s of training")

# %%
# The curves
# ----------
# The validation loss bottoms out after a few epochs and then creeps up while
# the training loss keeps falling: the network starts to memorise the training
# rows. (In the first epochs the training loss lies *above* the validation
# loss: it is the average over the epoch's mini-batches, taken while the
# weights were still improving, whereas the validation loss is measured at the
# end of the epoch.)

epochs = np.arange(1, clf.n_iter_ + 1)
fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
ax_loss.plot(epochs, clf.loss_curve_, label="training loss")
ax_loss.plot(epochs, clf.validation_loss_curve_, label="validation loss")
ax_loss.axvline(best_epoch, color="0.5", ls=":", label=f"best epoch ({best_epoch})")
ax_loss.set(xlabel="epoch", ylabel="log-loss (log scale)", yscale="log")
ax_loss.legend()
ax_loss.grid(True, alpha=0.3)

ax_acc.plot(epochs, clf.validation_scores_, color="C1")
ax_acc.axvline(best_epoch, color="0.5", ls=":")
ax_acc.set(xlabel="epoch", ylabel="validation accuracy")
ax_acc.grid(True, alpha=0.3)
fig.suptitle("Digits, one hidden layer of 128 units, Adam")
fig.tight_layout()
fig.savefig("loss_curves.png", dpi=100)
