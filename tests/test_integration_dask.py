"""Dask: hyperparameter search on a distributed cluster through joblib, and
out-of-core training with dask-ml's ``Incremental`` over many chunks.

The cluster is a ``LocalCluster`` of two worker processes that this module
starts and closes itself, listening on the loopback interface only.
"""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification, make_regression
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import StandardScaler

from skscratch import ScratchMLPClassifier, ScratchMLPRegressor

REASON = 'needs the dask extra: pip install "skscratch[dask]"'
joblib = pytest.importorskip("joblib", reason=REASON)
dask = pytest.importorskip("dask", reason=REASON)
da = pytest.importorskip("dask.array", reason=REASON)
distributed = pytest.importorskip("distributed", reason=REASON)
wrappers = pytest.importorskip("dask_ml.wrappers", reason=REASON)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

N_CHUNKS = 8
CHUNK = 100


@pytest.fixture(scope="module")
def cluster():
    """Two single-threaded worker processes on 127.0.0.1, no dashboard."""
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        yield cluster


# -- distributed grid search ----------------------------------------------------


def test_grid_search_runs_on_the_cluster_and_matches_a_local_search(cluster):
    X, y = make_classification(n_samples=150, n_features=6, random_state=0)
    X = StandardScaler().fit_transform(X)
    search = GridSearchCV(
        ScratchMLPClassifier(solver="lbfgs", max_iter=50, random_state=0),
        {"hidden_layer_sizes": [(4,), (8,)], "alpha": [1e-4, 1e-1]},
        cv=3,
        n_jobs=-1,
    )
    with distributed.Client(cluster) as client:
        workers = set(client.scheduler_info()["workers"])
        assert len(workers) == 2
        assert all(w.startswith("tcp://127.0.0.1:") for w in workers)
        with (
            distributed.get_task_stream(client) as tasks,
            joblib.parallel_backend("dask"),
        ):
            on_cluster = clone(search).fit(X, y)
    # The 12 fits (4 candidates x 3 folds) ran as tasks on both workers...
    assert {task["worker"] for task in tasks.data} == workers
    # ...and gave exactly what a search in this process gives.
    local = clone(search).set_params(n_jobs=None).fit(X, y)
    np.testing.assert_array_equal(
        on_cluster.cv_results_["mean_test_score"],
        local.cv_results_["mean_test_score"],
    )
    assert on_cluster.best_params_ == local.best_params_
    np.testing.assert_array_equal(
        on_cluster.best_estimator_.coefs_[0], local.best_estimator_.coefs_[0]
    )


# -- out-of-core training -------------------------------------------------------


def _classification():
    X, y = make_classification(
        n_samples=N_CHUNKS * CHUNK + 400,
        n_features=10,
        n_informative=6,
        n_classes=3,
        class_sep=1.5,
        random_state=0,
    )
    X = StandardScaler().fit_transform(X)
    return X[:-400], y[:-400], X[-400:], y[-400:]


def _regression():
    X, y = make_regression(
        n_samples=N_CHUNKS * CHUNK + 400, n_features=10, noise=5, random_state=0
    )
    X = StandardScaler().fit_transform(X)
    y = (y - y.mean()) / y.std()
    return X[:-400], y[:-400], X[-400:], y[-400:]


CASES = {
    "classifier": (
        _classification,
        ScratchMLPClassifier(
            hidden_layer_sizes=(16,),
            batch_size=20,
            learning_rate_init=0.01,
            random_state=0,
        ),
        {"classes": [0, 1, 2]},
    ),
    "regressor": (
        _regression,
        ScratchMLPRegressor(
            hidden_layer_sizes=(16,),
            batch_size=20,
            learning_rate_init=0.01,
            random_state=0,
        ),
        {},
    ),
}


def _in_memory(estimator, X, y, X_test, y_test, fit_params):
    """partial_fit over the same chunks in the same order, in memory; the
    held-out score after each chunk."""
    estimator = clone(estimator)
    scores = []
    for start in range(0, X.shape[0], CHUNK):
        rows = slice(start, start + CHUNK)
        estimator.partial_fit(X[rows], y[rows], **fit_params)
        scores.append(estimator.score(X_test, y_test))
    return estimator, scores


def _incremental(estimator, X, y, fit_params):
    """dask-ml's Incremental over a Dask array, one chunk per partial_fit,
    in block order."""
    X = da.from_array(X, chunks=(CHUNK, X.shape[1]))
    y = da.from_array(y, chunks=CHUNK)
    assert X.numblocks[0] == X.shape[0] // CHUNK
    model = wrappers.Incremental(estimator, shuffle_blocks=False)
    return model.fit(X, y, **fit_params)


@pytest.mark.parametrize("scheduler", ["threads", "distributed"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_incremental_keeps_learning_and_matches_in_memory_partial_fit(
    case, scheduler, request
):
    make_data, estimator, fit_params = CASES[case]
    X, y, X_test, y_test = make_data()
    reference, reference_scores = _in_memory(
        estimator, X, y, X_test, y_test, fit_params
    )

    def scores_per_chunk():
        # The Incremental model after its first k chunks, for every k: its
        # held-out score after each chunk.
        return [
            _incremental(estimator, X[: k * CHUNK], y[: k * CHUNK], fit_params).score(
                X_test, y_test
            )
            for k in range(1, N_CHUNKS + 1)
        ]

    if scheduler == "distributed":
        # The model travels between worker processes as a pickle between
        # chunks: that must not change a thing either.
        with distributed.Client(request.getfixturevalue("cluster")):
            model = _incremental(estimator, X, y, fit_params)
            scores = scores_per_chunk()
    else:
        model = _incremental(estimator, X, y, fit_params)
        scores = scores_per_chunk()

    fitted = model.estimator_
    assert fitted.t_ == N_CHUNKS * CHUNK
    assert len(fitted.loss_curve_) == N_CHUNKS  # one epoch per chunk
    # The same updates in the same order: the same model, bit for bit.
    assert fitted.loss_curve_ == reference.loss_curve_
    for ours, theirs in zip(
        fitted.coefs_ + fitted.intercepts_,
        reference.coefs_ + reference.intercepts_,
        strict=True,
    ):
        np.testing.assert_array_equal(ours, theirs)
    assert scores == reference_scores
    # It keeps learning from chunk to chunk: the held-out score rises.
    print(f"{case} ({scheduler}) held-out score per chunk:", np.round(scores, 4))
    assert scores[-1] > scores[0] + 0.1
    assert scores[-1] == max(scores) or scores[-1] > max(scores) - 0.02
    assert np.mean(np.diff(scores) > 0) >= 0.5
    # Predictions on a Dask array come back lazily, block by block, with
    # dask's default threaded scheduler predicting several blocks at once
    # with the one estimator.
    X_dask = da.from_array(X_test, chunks=(CHUNK, X_test.shape[1]))
    predicted = model.predict(X_dask).compute(scheduler="threads")
    np.testing.assert_array_equal(predicted, reference.predict(X_test))
