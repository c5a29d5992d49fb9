"""Behaviour of the estimators: the scikit-learn contract beyond the checks."""

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.datasets import (
    load_iris,
    make_classification,
    make_multilabel_classification,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import LabelBinarizer, StandardScaler
from sklearn.utils.multiclass import unique_labels

import skscratch._validation as validation_module
from skscratch import ScratchMLPClassifier, ScratchMLPRegressor
from skscratch._targets import binarizer_for_labels as _binarizer_for_labels
from skscratch._targets import count_integer_labels as _count_integer_labels

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _params(est):
    return [p.copy() for p in est.coefs_ + est.intercepts_]


# -- reproducibility, persistence, composition --------------------------------


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_same_random_state_gives_identical_models(iris, solver):
    X, y = iris
    a = ScratchMLPClassifier(solver=solver, max_iter=20, random_state=7).fit(X, y)
    b = ScratchMLPClassifier(solver=solver, max_iter=20, random_state=7).fit(X, y)
    c = ScratchMLPClassifier(solver=solver, max_iter=20, random_state=8).fit(X, y)
    for pa, pb in zip(_params(a), _params(b), strict=True):
        np.testing.assert_array_equal(pa, pb)
    assert a.loss_curve_ == b.loss_curve_
    assert not np.array_equal(a.coefs_[0], c.coefs_[0])


def test_random_state_none_never_touches_the_global_generator(iris):
    X, y = iris
    np.random.seed(123)
    state = np.random.get_state()
    ScratchMLPClassifier(max_iter=3).fit(X, y)
    after = np.random.get_state()
    assert state[0] == after[0] and np.array_equal(state[1], after[1])
    assert state[2:] == after[2:]


@pytest.mark.parametrize(
    "est",
    [
        ScratchMLPClassifier(max_iter=10, random_state=0),
        ScratchMLPClassifier(solver="lbfgs", max_iter=10, random_state=0),
        ScratchMLPRegressor(max_iter=10, random_state=0),
    ],
)
def test_pickle_round_trip_predicts_identically_and_keeps_training(est, iris):
    X, y = iris
    target = y if isinstance(est, ScratchMLPClassifier) else X[:, 0]
    est = clone(est).fit(X, target)
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(restored.predict(X), est.predict(X))
    # coefs_ are live views of the network again, not stale copies.
    assert restored._network.is_bound_to(restored.coefs_, restored.intercepts_)
    if est.solver != "lbfgs":
        # The optimizer state survived: continuing gives the same model.
        est.partial_fit(X, target)
        restored.partial_fit(X, target)
        np.testing.assert_array_equal(restored.predict(X), est.predict(X))


def test_pickle_does_not_store_the_weights_twice(iris):
    X, y = iris
    est = ScratchMLPClassifier(hidden_layer_sizes=(500,), max_iter=2).fit(X, y)
    param_bytes = sum(p.nbytes for p in est.coefs_ + est.intercepts_)
    # The parameters once, plus Adam's two moment vectors, plus small change.
    assert len(pickle.dumps(est)) < 3 * param_bytes + 10_000


def test_pipeline_grid_search_and_cross_val_score(iris):
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(
        StandardScaler(), ScratchMLPClassifier(solver="lbfgs", random_state=0)
    )
    grid = GridSearchCV(
        pipe,
        {
            "scratchmlpclassifier__hidden_layer_sizes": [(5,), (20,)],
            "scratchmlpclassifier__alpha": [1e-4, 1.0],
        },
        cv=3,
    ).fit(X, y)
    assert grid.best_score_ > 0.9
    assert len(grid.cv_results_["params"]) == 4
    scores = cross_val_score(pipe, X, y, cv=5)
    assert scores.shape == (5,) and scores.mean() > 0.9


def test_clone_gives_an_unfitted_copy_with_the_same_params(iris):
    X, y = iris
    est = ScratchMLPClassifier(hidden_layer_sizes=(7, 3), alpha=0.5).fit(X, y)
    copy = clone(est)
    assert copy.get_params() == est.get_params()
    assert not hasattr(copy, "coefs_")


def test_constructor_signature_matches_sklearn():
    import inspect

    from sklearn.neural_network import MLPClassifier, MLPRegressor

    for ours, theirs in (
        (ScratchMLPClassifier, MLPClassifier),
        (ScratchMLPRegressor, MLPRegressor),
    ):
        a = inspect.signature(ours.__init__).parameters
        b = inspect.signature(theirs.__init__).parameters
        # scikit-learn's parameters, in order, with the same defaults and
        # kinds; skscratch's own come after them, keyword-only.
        assert list(a)[: len(b)] == list(b)
        for name in b:
            assert a[name].default == b[name].default, name
            assert a[name].kind == b[name].kind, name
        for name in list(a)[len(b) :]:
            assert a[name].kind == inspect.Parameter.KEYWORD_ONLY, name


def test_fitted_attributes_match_sklearn(iris):
    from sklearn.neural_network import MLPClassifier

    X, y = iris
    ours = ScratchMLPClassifier(max_iter=5, random_state=0).fit(X, y)
    theirs = MLPClassifier(max_iter=5, random_state=0).fit(X, y)
    public = {k for k in vars(theirs) if k.endswith("_") and not k.startswith("_")}
    assert public <= set(vars(ours))
    for name in ("n_layers_", "n_outputs_", "out_activation_", "n_iter_", "t_"):
        assert getattr(ours, name) == getattr(theirs, name)
    np.testing.assert_array_equal(ours.classes_, theirs.classes_)


# -- data types and target kinds ---------------------------------------------


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_float32_stays_float32_end_to_end(iris, solver):
    X, y = iris
    X32 = X.astype(np.float32)
    clf = ScratchMLPClassifier(solver=solver, max_iter=10, random_state=0).fit(X32, y)
    assert all(c.dtype == np.float32 for c in clf.coefs_ + clf.intercepts_)
    assert clf._network.params.dtype == np.float32
    assert clf.predict_proba(X32).dtype == np.float32
    reg = ScratchMLPRegressor(solver=solver, max_iter=10, random_state=0)
    reg.fit(X32, X[:, 0])
    assert reg.predict(X32).dtype == np.float32
    # The float32 model agrees with the float64 one to float32 precision.
    clf64 = ScratchMLPClassifier(solver=solver, max_iter=10, random_state=0).fit(X, y)
    np.testing.assert_allclose(
        clf.predict_proba(X32), clf64.predict_proba(X), atol=2e-3
    )


def test_float64_stays_float64(iris):
    X, y = iris
    clf = ScratchMLPClassifier(max_iter=5).fit(X, y)
    assert clf.coefs_[0].dtype == np.float64
    assert clf.predict_proba(X.astype(np.float32)).dtype == np.float64


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_sparse_input_matches_dense(iris, fmt):
    X, y = iris
    Xs = sp.csr_matrix(X) if fmt == "csr" else sp.csc_matrix(X)
    for solver in ("adam", "lbfgs"):
        dense = ScratchMLPClassifier(solver=solver, max_iter=10, random_state=0)
        sparse = clone(dense)
        dense.fit(X, y)
        sparse.fit(Xs, y)
        np.testing.assert_allclose(
            sparse.predict_proba(Xs), dense.predict_proba(X), rtol=1e-9, atol=1e-12
        )


def test_binary_with_string_labels(iris):
    X, y = iris
    mask = y < 2
    labels = np.where(y[mask] == 0, "setosa", "versicolor")
    clf = ScratchMLPClassifier(max_iter=50, random_state=0).fit(X[mask], labels)
    assert clf.out_activation_ == "logistic" and clf.n_outputs_ == 1
    assert list(clf.classes_) == ["setosa", "versicolor"]
    proba = clf.predict_proba(X[mask])
    assert proba.shape == (mask.sum(), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    assert set(clf.predict(X[mask])) <= {"setosa", "versicolor"}
    assert clf.score(X[mask], labels) == 1.0


def test_multiclass_uses_softmax(iris):
    X, y = iris
    clf = ScratchMLPClassifier(max_iter=50, random_state=0).fit(X, y)
    assert clf.out_activation_ == "softmax" and clf.n_outputs_ == 3
    np.testing.assert_allclose(clf.predict_proba(X).sum(axis=1), 1)
    np.testing.assert_allclose(
        clf.predict_log_proba(X), np.log(clf.predict_proba(X)), rtol=1e-12
    )


def test_multilabel_fit_predict_and_proba():
    X, Y = make_multilabel_classification(300, n_classes=4, random_state=0)
    clf = ScratchMLPClassifier(solver="lbfgs", max_iter=300, random_state=0)
    clf.fit(X, Y)
    assert clf.out_activation_ == "logistic" and clf.n_outputs_ == 4
    assert clf.predict(X).shape == Y.shape
    proba = clf.predict_proba(X)
    assert proba.shape == Y.shape
    assert ((proba > 0) & (proba < 1)).all()
    assert clf.score(X, Y) > 0.8  # exact-match accuracy on training data


@pytest.mark.parametrize(
    "kind", ["binary-str", "binary-int", "multiclass-str", "multilabel", "one-class"]
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_predicted_labels_are_the_label_binarizers(kind, dtype):
    """predict decodes the outputs itself, as LabelBinarizer.inverse_transform
    does: the same labels and dtype, ties and outputs of exactly 0.5
    included."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4)).astype(dtype)
    y = {
        "binary-str": np.array(["no", "yes"])[np.arange(60) % 2],
        "binary-int": np.array([-3, 7])[np.arange(60) % 2],
        "multiclass-str": np.array(["b", "a", "c", "d"])[np.arange(60) % 4],
        "multilabel": (rng.random((60, 3)) > 0.5).astype(int),
        "one-class": np.full(60, 4),
    }[kind]
    clf = ScratchMLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0)
    clf.fit(X, y)
    n_out = clf.n_outputs_
    # Outputs as the network gives them, then ties and values at 0.5.
    crafted = [
        clf._forward(X),
        np.full((4, n_out), 0.5, dtype),
        np.array([[0.25, 0.25, 0.5, 0.5]] * 2, dtype)[:, :n_out],
        np.nextafter(np.full((3, n_out), 0.5, dtype), dtype(1)),
    ]
    binarizer = clf._label_binarizer
    for outputs in crafted:
        expected = binarizer.inverse_transform(
            outputs.ravel() if n_out == 1 else outputs
        )
        got = clf._outputs_to_predictions(outputs)
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(
        clf.predict(X), clf._outputs_to_predictions(crafted[0])
    )


def test_multilabel_partial_fit_without_classes():
    """scikit-learn's partial_fit rejects multilabel targets (#12505)."""
    X, Y = make_multilabel_classification(300, n_classes=4, random_state=0)
    clf = ScratchMLPClassifier(random_state=0, learning_rate_init=0.01)
    losses = []
    for _ in range(30):
        for chunk in np.array_split(np.arange(300), 3):
            clf.partial_fit(X[chunk], Y[chunk])
        losses.append(clf.loss_)
    assert clf.n_outputs_ == 4
    np.testing.assert_array_equal(clf.classes_, np.arange(4))
    assert losses[-1] < 0.7 * losses[0]
    clf.partial_fit(X[:10], Y[:10], classes=np.arange(4))
    with pytest.raises(ValueError, match="column indices"):
        ScratchMLPClassifier().partial_fit(X, Y, classes=[0, 1])


def test_multi_output_regression(diabetes):
    X, y = diabetes
    Y = np.column_stack([y, 2 * y + 1]) / 100
    reg = ScratchMLPRegressor(solver="lbfgs", max_iter=200, random_state=0).fit(X, Y)
    assert reg.n_outputs_ == 2
    pred = reg.predict(X)
    assert pred.shape == (X.shape[0], 2)
    assert reg.score(X, Y) > 0.5


def test_poisson_predictions_are_positive(diabetes):
    X, y = diabetes
    reg = ScratchMLPRegressor(loss="poisson", max_iter=50, random_state=0).fit(X, y)
    assert reg.out_activation_ == "exp"
    assert (reg.predict(X) > 0).all()


def test_hidden_layer_sizes_forms(iris):
    X, y = iris
    for sizes, n_layers in [(5, 3), ([4, 3], 4), (np.array([6]), 3), ((), 2)]:
        clf = ScratchMLPClassifier(hidden_layer_sizes=sizes, max_iter=5).fit(X, y)
        assert clf.n_layers_ == n_layers
        assert len(clf.coefs_) == n_layers - 1


def test_user_assigned_coefs_are_used(iris):
    X, y = iris
    clf = ScratchMLPClassifier(max_iter=5, random_state=0).fit(X, y)
    new_coefs = [np.zeros_like(c) for c in clf.coefs_]
    new_intercepts = [np.zeros_like(b) for b in clf.intercepts_]
    clf.coefs_, clf.intercepts_ = new_coefs, new_intercepts
    np.testing.assert_allclose(clf.predict_proba(X), 1 / 3)


# -- sample weights ----------------------------------------------------------


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
@pytest.mark.filterwarnings("ignore:Got `batch_size`:UserWarning")
def test_integer_weights_equal_repeated_rows(iris, solver):
    X, y = iris
    rng = np.random.RandomState(0)
    sw = rng.randint(0, 4, size=X.shape[0])
    kwargs = dict(solver=solver, max_iter=30, random_state=0, shuffle=False)
    kwargs["batch_size"] = 1000  # one batch: the weighted sum equals the sum
    weighted = ScratchMLPClassifier(**kwargs).fit(X, y, sample_weight=sw)
    repeated = ScratchMLPClassifier(**kwargs).fit(
        np.repeat(X, sw, axis=0), np.repeat(y, sw)
    )
    np.testing.assert_allclose(
        weighted.predict_proba(X), repeated.predict_proba(X), rtol=1e-6, atol=1e-9
    )
    assert weighted.loss_ == pytest.approx(repeated.loss_, rel=1e-9)


def test_sample_weight_changes_the_fit_and_score(iris):
    X, y = iris
    sw = np.where(y == 2, 10.0, 1.0)
    a = ScratchMLPClassifier(solver="lbfgs", random_state=0).fit(X, y)
    b = ScratchMLPClassifier(solver="lbfgs", random_state=0).fit(X, y, sample_weight=sw)
    assert not np.allclose(a.coefs_[0], b.coefs_[0])
    assert b.score(X, y, sample_weight=sw) == pytest.approx(
        np.average(b.predict(X) == y, weights=sw)
    )


def test_batches_with_only_zero_weights_are_skipped(iris):
    X, y = iris
    sw = np.ones(len(y))
    sw[:100] = 0  # with shuffle=False, the first 10-row batches weigh nothing
    clf = ScratchMLPClassifier(
        batch_size=10, shuffle=False, max_iter=5, random_state=0
    ).fit(X, y, sample_weight=sw)
    assert np.isfinite(clf.loss_curve_).all()


# -- stopping, early stopping, warm start, partial_fit -----------------------


def test_early_stopping_restores_the_best_weights(monkeypatch, iris):
    X, y = iris
    seen = {}
    real_split = validation_module.train_test_split

    def recording_split(*args, **kwargs):
        seen["stratify"] = kwargs.get("stratify")
        seen["result"] = real_split(*args, **kwargs)
        return seen["result"]

    monkeypatch.setattr(validation_module, "train_test_split", recording_split)
    clf = ScratchMLPClassifier(
        early_stopping=True,
        validation_fraction=0.2,
        n_iter_no_change=5,
        max_iter=500,
        learning_rate_init=0.05,
        random_state=0,
    ).fit(X, y)
    _, val = seen["result"]
    assert clf.n_iter_ < 500
    assert len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert clf.best_loss_ is None
    # The returned weights are the best epoch's, not the last one's.
    assert clf.score(X[val], y[val]) == pytest.approx(clf.best_validation_score_)
    # Multiclass targets are stratified: 30 held out, 10 of each class.
    assert seen["stratify"] is not None
    np.testing.assert_array_equal(np.bincount(y[val]), [10, 10, 10])


def test_early_stopping_regressor_uses_r2(diabetes):
    X, y = diabetes
    reg = ScratchMLPRegressor(
        early_stopping=True, learning_rate_init=0.01, max_iter=300, random_state=0
    ).fit(X, y)
    assert reg.best_validation_score_ == max(reg.validation_scores_)
    assert -1 < reg.best_validation_score_ < 1


def test_early_stopping_with_too_small_validation_set_is_explained():
    X, y = make_classification(10, random_state=0)
    with pytest.raises(ValueError, match="validation set is too small"):
        ScratchMLPClassifier(early_stopping=True, validation_fraction=0.1).fit(X, y)


def test_training_stops_when_loss_stalls(iris):
    X, y = iris
    clf = ScratchMLPClassifier(tol=10.0, n_iter_no_change=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf.fit(X, y)
    # Epoch 1 improves on +inf; epochs 2-5 cannot improve by 10, and the
    # count must exceed n_iter_no_change=3 to stop, as in scikit-learn.
    assert clf.n_iter_ == 5


def test_max_iter_raises_convergence_warning(iris):
    X, y = iris
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        ScratchMLPClassifier(max_iter=2).fit(X, y)
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        ScratchMLPClassifier(solver="lbfgs", max_iter=2).fit(X, y)


def test_adaptive_learning_rate_is_reduced(iris, capsys):
    X, y = iris
    clf = ScratchMLPClassifier(
        solver="sgd",
        learning_rate="adaptive",
        tol=10.0,
        n_iter_no_change=2,
        max_iter=20,
        verbose=True,
        random_state=0,
    ).fit(X, y)
    out = capsys.readouterr().out
    assert "Setting learning rate to 0.000200" in out
    assert "Learning rate too small. Stopping." in out
    assert clf._optimizer.learning_rate < 1e-6


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_verbose_prints_every_iteration_for_every_solver(iris, capsys, solver):
    X, y = iris
    clf = ScratchMLPClassifier(solver=solver, max_iter=3, verbose=True).fit(X, y)
    lines = [
        line for line in capsys.readouterr().out.splitlines() if "Iteration" in line
    ]
    assert len(lines) == clf.n_iter_ == 3
    assert lines[0].startswith("Iteration 1, loss = ")


def test_not_verbose_prints_nothing(iris, capsys):
    X, y = iris
    for solver in ("adam", "lbfgs"):
        ScratchMLPClassifier(solver=solver, max_iter=3).fit(X, y)
    assert capsys.readouterr().out == ""


def test_warm_start_continues_from_previous_weights(iris):
    X, y = iris
    clf = ScratchMLPClassifier(max_iter=5, warm_start=True, random_state=0).fit(X, y)
    first = clf.loss_curve_[:]
    clf.fit(X, y)
    assert len(clf.loss_curve_) == 10
    assert clf.loss_curve_[:5] == first
    assert clf.loss_curve_[5] < first[-1]
    with pytest.raises(ValueError, match="warm_start can only be used"):
        clf.fit(X[y < 2], y[y < 2])


def test_warm_start_with_a_different_architecture_is_explained(iris):
    X, y = iris
    clf = ScratchMLPClassifier(max_iter=2, warm_start=True).fit(X, y)
    clf.set_params(hidden_layer_sizes=(7,))
    with pytest.raises(ValueError, match="Cannot continue training"):
        clf.fit(X, y)


def test_partial_fit_updates_and_counts(iris):
    X, y = iris
    clf = ScratchMLPClassifier(random_state=0)
    clf.partial_fit(X[:50], y[:50], classes=[0, 1, 2])
    assert clf.n_iter_ == 1 and clf.t_ == 50
    clf.partial_fit(X[50:], y[50:])
    assert clf.t_ == 150
    assert len(clf.loss_curve_) == 2
    with pytest.raises(ValueError, match="not in `self.classes_`"):
        clf.partial_fit(X[:3], [0, 1, 5])
    with pytest.raises(ValueError, match="not the same as on the last call"):
        clf.partial_fit(X[:3], [0, 1, 2], classes=[0, 1, 2, 3])


def test_partial_fit_learns_over_many_calls(diabetes):
    X, y = diabetes
    reg = ScratchMLPRegressor(learning_rate_init=0.01, random_state=0)
    reg.partial_fit(X, y)
    first = reg.score(X, y)
    for _ in range(60):
        reg.partial_fit(X, y)
    assert first < 0 < 0.4 < reg.score(X, y)


def test_partial_fit_is_not_available_for_lbfgs():
    assert not hasattr(ScratchMLPClassifier(solver="lbfgs"), "partial_fit")
    assert not hasattr(ScratchMLPRegressor(solver="lbfgs"), "partial_fit")
    assert hasattr(ScratchMLPRegressor(solver="sgd"), "partial_fit")


# -- feature names -------------------------------------------------------------


def test_dataframe_feature_names(iris):
    pd = pytest.importorskip("pandas")
    X, y = iris
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    clf = ScratchMLPClassifier(max_iter=5).fit(df, y)
    np.testing.assert_array_equal(clf.feature_names_in_, ["a", "b", "c", "d"])
    with pytest.raises(ValueError, match="feature names should match"):
        clf.predict(df.rename(columns={"a": "z"}))
    with pytest.warns(UserWarning, match="fitted with feature names"):
        clf.predict(X)


@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_predictions_from_several_threads_at_once(activation):
    """Prediction writes into buffers of its own call, never into the
    layers' shared ones: threads (dask's default scheduler) can share one
    fitted model."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.RandomState(0)
    X = rng.randn(4000, 20)
    y = (X[:, 0] + X[:, 1] ** 2 > 1).astype(int)
    clf = ScratchMLPClassifier(
        hidden_layer_sizes=(64, 32), activation=activation, max_iter=3, random_state=0
    ).fit(X, y)
    expected = clf.predict_proba(X)
    chunks = np.array_split(X, 40)
    with ThreadPoolExecutor(4) as pool:
        for _ in range(5):
            got = np.concatenate(list(pool.map(clf.predict_proba, chunks)))
            np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int32, np.int64, np.uint64])
def test_integer_labels_are_counted_as_scikit_learn_finds_them(dtype):
    rng = np.random.default_rng(0)
    label_sets = [[3, 100, 7], [0, 1], [5], [9, 0, 4, 2]]
    if np.dtype(dtype).kind == "i":
        label_sets.append([-128 if dtype == np.int8 else -900, -3, 0, 120])
    for values in label_sets:
        y = rng.choice(values, 500).astype(dtype)
        labels, inverse = _count_integer_labels(y)
        expected, expected_inverse = np.unique(y, return_inverse=True)
        assert labels.dtype == y.dtype
        np.testing.assert_array_equal(labels, expected)
        np.testing.assert_array_equal(inverse, expected_inverse)
        np.testing.assert_array_equal(labels, unique_labels(y))
        # The binarizer built from them is the one fit would give: the same
        # fitted state (no attribute missing or extra), the same encoding.
        built, fitted = _binarizer_for_labels(labels), LabelBinarizer().fit(y)
        assert sorted(vars(built)) == sorted(vars(fitted))
        assert built.y_type_ == fitted.y_type_
        assert built.sparse_input_ is fitted.sparse_input_
        assert built.classes_.dtype == fitted.classes_.dtype
        np.testing.assert_array_equal(built.classes_, fitted.classes_)
        Y = fitted.transform(y)
        np.testing.assert_array_equal(built.transform(y), Y)
        np.testing.assert_array_equal(built.inverse_transform(Y), y)
    # Left to scikit-learn: ranges wider than y is long, other kinds, 2-D.
    assert _count_integer_labels(np.array([0, 10**6] * 10)) is None
    assert _count_integer_labels(np.array([2**63 + 1, 2**63 + 2], np.uint64)) is None
    assert _count_integer_labels(np.array([0.0, 1.0])) is None
    assert _count_integer_labels(np.array([True, False])) is None
    assert _count_integer_labels(np.array(["a", "b"])) is None
    assert _count_integer_labels(np.zeros((4, 2), int)) is None


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_counted_labels_train_exactly_as_hashed_ones(iris):
    """Integer labels take the counting path, strings scikit-learn's: with
    the same order of classes, the same model, bit for bit."""
    X, y = iris
    params = dict(max_iter=5, random_state=0)
    counted = ScratchMLPClassifier(**params).fit(X, y.astype(np.int16))
    hashed = ScratchMLPClassifier(**params).fit(X, y.astype(str))
    reference = MLPClassifier(**params).fit(X, y.astype(np.int16))
    np.testing.assert_array_equal(counted.classes_, reference.classes_)
    assert counted.classes_.dtype == reference.classes_.dtype
    assert counted._label_binarizer.y_type_ == reference._label_binarizer.y_type_
    for a, b in zip(counted.coefs_, hashed.coefs_, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(counted.predict_proba(X), hashed.predict_proba(X))
    # A partial fit whose first batch lacks a class keeps every class's column.
    partial = ScratchMLPClassifier(random_state=0)
    partial.partial_fit(X[y > 0], y[y > 0] * 10, classes=[0, 10, 20, 30])
    partial.partial_fit(X, y * 10)
    assert partial.predict_proba(X).shape == (150, 4)
    np.testing.assert_array_equal(partial.classes_, [0, 10, 20, 30])
    with pytest.raises(ValueError, match="not in `self.classes_`"):
        partial.partial_fit(X[:3], [0, 10, 40])
