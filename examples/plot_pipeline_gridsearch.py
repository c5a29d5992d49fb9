"""
Pipeline and grid search
========================

The estimators are ordinary scikit-learn estimators: they go into a
``Pipeline``, get cloned and refitted by ``GridSearchCV``, and expose their
parameters as ``step__param``. Here a grid search picks the hidden layer size
and the L2 penalty ``alpha`` of a classifier on the digits, by 3-fold
cross-validation, and the figure shows the mean validation accuracy of every
combination.
"""

# %%
# The search
# ----------
# L-BFGS is the fast solver for a data set this small: each of the
# 3 x 3 x 3 = 27 fits takes a fraction of a second. With little penalty it
# could go on driving the training loss toward zero long after the validation
# accuracy has settled, so ``max_iter`` caps it, and the convergence warning
# that the cap triggers in those fits is silenced.

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skscratch import MLPClassifier

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)
pipe = make_pipeline(
    StandardScaler(),
    MLPClassifier(solver="lbfgs", max_iter=200, random_state=0),
)
sizes = [(8,), (32,), (128,)]
alphas = [1e-4, 1e-1, 1e1]
search = GridSearchCV(
    pipe,
    {
        "mlpclassifier__hidden_layer_sizes": sizes,
        "mlpclassifier__alpha": alphas,
    },
    cv=3,
)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    search.fit(X_train, y_train)
print("best parameters:", search.best_params_)
print(f"test accuracy of the refitted pipeline: {search.score(X_test, y_test):.3f}")

# %%
# Every combination
# -----------------
# ``cv_results_`` lists the combinations in the order of the grid:
# ``alpha`` varies slowest because its key sorts first.

scores = search.cv_results_["mean_test_score"].reshape(len(alphas), len(sizes))
fig, ax = plt.subplots(figsize=(5.5, 4))
image = ax.imshow(scores, cmap="viridis")
ax.set_xticks(range(len(sizes)), [str(s[0]) for s in sizes])
ax.set_yticks(range(len(alphas)), [f"{a:g}" for a in alphas])
ax.set(xlabel="hidden units", ylabel="alpha (L2 penalty)")
ax.set_title("Mean cross-validated accuracy")
for (i, j), value in np.ndenumerate(scores):
    ax.text(j, i, f"{value:.3f}", ha="center", va="center", color="white")
fig.colorbar(image)
fig.tight_layout()
fig.savefig("pipeline_gridsearch.png", dpi=100)
