"""Multiclass-multioutput classification: one softmax per output.

A 2-D ``y`` whose columns each hold the labels of one output (scikit-learn
#8417, #26762) trains one network whose output layer has a softmax over each
output's classes (:class:`skscratch.core.GroupedSoftmax`), the outputs'
cross-entropies summed (:class:`skscratch.core.GroupedLogLoss`). These tests
check that it learns, that its gradient is right in both engines, and that
the estimator behaves as scikit-learn's multi-output trees do.
"""

import pickle
import warnings
from contextlib import nullcontext

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.multioutput import MultiOutputClassifier
from sklearn.tree import DecisionTreeClassifier

from skscratch import MLPClassifier, _namespaces, nn
from skscratch.core import (
    GroupedLogLoss,
    GroupedSoftmax,
    build_mlp,
    check_gradients,
    compiled,
)

GROUPS = (4, 2, 3)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


@pytest.fixture(scope="module")
def digits():
    """Digits with two outputs: the digit (10 classes) and digit % 3 (3)."""
    X, d = load_digits(return_X_y=True)
    y = np.column_stack([d, d % 3])
    return train_test_split(X / 16, y, test_size=0.3, random_state=0)


@pytest.fixture(scope="module")
def iris():
    """Iris with a second output, the sepal length in three bins."""
    X, species = load_iris(return_X_y=True)
    size = np.digitize(X[:, 0], [5.4, 6.3])
    return X, np.column_stack([species, size])


def _one_hot_groups(rng, n_samples, sizes=GROUPS):
    return np.hstack([np.eye(k)[rng.integers(0, k, n_samples)] for k in sizes])


# -- the math -----------------------------------------------------------------


def test_grouped_softmax_is_a_softmax_per_group():
    act = GroupedSoftmax(GROUPS)
    z = np.random.default_rng(0).normal(scale=3, size=(5, sum(GROUPS)))
    p = act.forward(z.copy(), out=np.empty_like(z))
    softmax = nn.ACTIVATIONS["softmax"].forward
    start = 0
    for size in GROUPS:
        group = slice(start, start + size)
        np.testing.assert_allclose(p[:, group], softmax(z[:, group]), rtol=1e-14)
        start += size
    # Huge scores: shifted by each group's maximum, nothing overflows.
    huge = np.array([[1e300, 0, -1e300, 5, 1000, 1000, 0, 0, -1e308]])
    p = act.forward(huge, out=huge)
    assert np.isfinite(p).all()
    np.testing.assert_allclose(
        [p[0, :4].sum(), p[0, 4:6].sum(), p[0, 6:].sum()], 1.0, rtol=1e-15
    )


@pytest.mark.parametrize("use_compiled", [True, False])
def test_grouped_softmax_backward_is_the_jacobian_vector_product(use_compiled):
    act = GroupedSoftmax(GROUPS)
    rng = np.random.default_rng(1)
    z = rng.normal(size=(4, sum(GROUPS)))
    g = rng.normal(size=z.shape)
    with nullcontext() if use_compiled else compiled.disabled():
        a = act.forward(z.copy(), out=np.empty_like(z))
        analytic = act.backward(g.copy(), a)
        h = 1e-6
        numeric = np.empty_like(z)
        for idx in np.ndindex(z.shape):
            zp, zm = z.copy(), z.copy()
            zp[idx] += h
            zm[idx] -= h
            up = act.forward(zp, out=np.empty_like(z))
            down = act.forward(zm, out=np.empty_like(z))
            numeric[idx] = np.dot(g[idx[0]], up[idx[0]] - down[idx[0]]) / (2 * h)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-7, atol=1e-10)


def test_grouped_log_loss_gradient_is_p_minus_y():
    loss = GroupedLogLoss(GROUPS)
    rng = np.random.default_rng(2)
    y = _one_hot_groups(rng, 5)
    z = rng.normal(size=y.shape)

    def total(scores):
        p = loss.activation.forward(scores.copy(), out=np.empty_like(scores))
        return loss.total(y, p)

    p = loss.activation.forward(z.copy(), out=np.empty_like(z))
    analytic = loss.gradient(y, p, out=np.empty_like(z))
    np.testing.assert_allclose(analytic, p - y)
    numeric = np.empty_like(z)
    for idx in np.ndindex(z.shape):
        zp, zm = z.copy(), z.copy()
        zp[idx] += 1e-6
        zm[idx] -= 1e-6
        numeric[idx] = (total(zp) - total(zm)) / 2e-6
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)
    # The sum of each output's own log-loss.
    per_output = sum(
        -np.log(p[np.arange(5), start + y[:, start : start + k].argmax(axis=1)]).sum()
        for start, k in ((0, 4), (4, 2), (6, 3))
    )
    assert loss.total(y, p) == pytest.approx(per_output, rel=1e-12)


@pytest.mark.parametrize("use_compiled", [True, False])
@pytest.mark.parametrize("activation", ["relu", "tanh", ("logistic", "gelu")])
def test_network_gradient_with_grouped_log_loss(activation, use_compiled):
    """The whole core network, with penalty and sample weights."""
    rng = np.random.default_rng(3)
    net = build_mlp([4, 6, 5, sum(GROUPS)], activation)
    net.initialize(rng)
    X = rng.normal(size=(7, 4))
    Y = _one_hot_groups(rng, 7)
    sw = rng.random(7) + 0.1
    with nullcontext() if use_compiled else compiled.disabled():
        result = check_gradients(
            net, X, Y, GroupedLogLoss(GROUPS), alpha=0.3, sample_weight=sw
        )
    assert result.indices.size == net.n_params
    assert result.max_rel_error < 1e-6, str(result)


def test_reference_engine_gradient_with_grouped_log_loss():
    rng = np.random.default_rng(4)
    loss = nn.losses.grouped_log_loss(GROUPS)
    net = nn.Network.mlp([4, 5, sum(GROUPS)], "tanh", loss=loss, rng=rng)
    X = rng.normal(size=(6, 4))
    Y = _one_hot_groups(rng, 6)
    sw = rng.random(6) + 0.1
    assert nn.gradient_check(net, X, Y, sample_weight=sw, alpha=0.2) < 1e-6


def test_both_engines_agree_on_the_grouped_log_loss():
    rng = np.random.default_rng(5)
    core = build_mlp([4, 5, sum(GROUPS)], "relu")
    core.initialize(rng)
    ref = nn.Network.mlp(
        [4, 5, sum(GROUPS)], "relu", nn.losses.grouped_log_loss(GROUPS)
    )
    for dense, W, b in zip(ref.dense, core.coefs, core.intercepts, strict=True):
        dense.W[...] = W
        dense.b[...] = b
    X = rng.normal(size=(8, 4))
    Y = _one_hot_groups(rng, 8)
    value = core.loss_and_gradient(X, Y, GroupedLogLoss(GROUPS), alpha=0.1)
    assert ref.loss_and_gradient(X, Y, alpha=0.1) == pytest.approx(value, rel=1e-12)
    np.testing.assert_allclose(ref.grads, core.grads, rtol=1e-10, atol=1e-14)
    # The reference activation's Jacobian-vector product is the core's.
    act = nn.activations.grouped_softmax_activation(GROUPS)
    z, g = rng.normal(size=(3, 9)), rng.normal(size=(3, 9))
    a = act.forward(z)
    fast = GroupedSoftmax(GROUPS)
    np.testing.assert_allclose(fast.forward(z.copy(), np.empty_like(z)), a, rtol=1e-14)
    np.testing.assert_allclose(
        fast.backward(g.copy(), a.copy()), act.backward(g, z, a), rtol=1e-12
    )


# -- the estimator ------------------------------------------------------------


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_learns_digit_and_remainder(digits, solver):
    X_train, X_test, y_train, y_test = digits
    clf = MLPClassifier(hidden_layer_sizes=(64,), solver=solver, random_state=0)
    clf.fit(X_train, y_train)
    per_output = (clf.predict(X_test) == y_test).mean(axis=0)
    # Chance is 0.1 and 1/3.
    assert per_output[0] > 0.9 and per_output[1] > 0.9, per_output
    assert clf.score(X_test, y_test) > 0.85


def test_fitted_attributes_and_output_types(digits):
    X_train, X_test, y_train, _ = digits
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=20, random_state=0)
    clf.fit(X_train, y_train)
    assert isinstance(clf.classes_, list) and len(clf.classes_) == 2
    np.testing.assert_array_equal(clf.classes_[0], np.arange(10))
    np.testing.assert_array_equal(clf.classes_[1], np.arange(3))
    assert clf.n_outputs_ == 13 and clf.out_activation_ == "grouped_softmax"
    y_pred = clf.predict(X_test)
    assert y_pred.shape == (X_test.shape[0], 2) and y_pred.dtype == y_train.dtype
    proba = clf.predict_proba(X_test)
    assert isinstance(proba, list) and [p.shape[1] for p in proba] == [10, 3]
    for k, p in enumerate(proba):
        np.testing.assert_allclose(p.sum(axis=1), 1.0)
        np.testing.assert_array_equal(clf.classes_[k][p.argmax(axis=1)], y_pred[:, k])
    log_proba = clf.predict_log_proba(X_test)
    assert isinstance(log_proba, list)
    for p, log_p in zip(proba, log_proba, strict=True):
        np.testing.assert_allclose(log_p, np.log(p))


def test_predict_follows_the_multi_output_trees(iris):
    """String labels: the same classes_, dtype and shapes as a tree's."""
    X, y = iris
    names = np.array(["setosa", "versicolor", "virginica"])[y[:, 0]]
    y_str = np.column_stack([names, np.array(["short", "mid", "long"])[y[:, 1]]])
    clf = MLPClassifier(solver="lbfgs", random_state=0).fit(X, y_str)
    tree = DecisionTreeClassifier(random_state=0).fit(X, y_str)
    for ours, theirs in zip(clf.classes_, tree.classes_, strict=True):
        np.testing.assert_array_equal(ours, theirs)
    assert clf.predict(X).dtype == tree.predict(X).dtype
    assert [p.shape for p in clf.predict_proba(X)] == [
        p.shape for p in tree.predict_proba(X)
    ]


def test_score_is_multi_output_classifiers_subset_accuracy(iris):
    X, y = iris
    clf = MLPClassifier(hidden_layer_sizes=(5,), max_iter=30, random_state=0)
    clf.fit(X, y)
    exact = np.all(clf.predict(X) == y, axis=1)
    assert 0 < exact.mean() < 1  # a partly right model: the score means something
    assert clf.score(X, y) == pytest.approx(exact.mean())
    # MultiOutputClassifier.score computes it the same way.
    other = MultiOutputClassifier(DecisionTreeClassifier(max_depth=1)).fit(X, y)
    assert other.score(X, y) == pytest.approx(
        np.all(other.predict(X) == y, axis=1).mean()
    )
    weights = np.random.default_rng(0).random(len(y))
    assert clf.score(X, y, sample_weight=weights) == pytest.approx(
        np.average(exact, weights=weights)
    )
    with pytest.raises(ValueError, match="one column per output"):
        clf.score(X, y[:, 0])


def test_partial_fit_with_classes_per_output(iris):
    X, y = iris
    clf = MLPClassifier(hidden_layer_sizes=(8,), random_state=0)
    for _ in range(3):
        clf.partial_fit(X, y, classes=[[0, 1, 2], [0, 1, 2]])
    clf.partial_fit(X[:10], y[:10])  # later calls may omit them
    assert len(clf.loss_curve_) == 4 and len(clf.classes_) == 2
    # A first chunk may lack classes that the declared ones announce.
    seen_later = MLPClassifier(random_state=0).partial_fit(
        X[:50], y[:50], classes=[[0, 1, 2], [0, 1, 2]]
    )
    assert [len(c) for c in seen_later.classes_] == [3, 3]
    assert seen_later.predict_proba(X[:2])[0].shape == (2, 3)


def test_partial_fit_with_string_classes_of_each_output(iris):
    X, y = iris
    names = [["a", "b", "c"], ["short", "middle", "long"]]
    y_str = np.column_stack([np.array(c)[y[:, k]] for k, c in enumerate(names)])
    clf = MLPClassifier(hidden_layer_sizes=(4,), random_state=0)
    clf.partial_fit(X, y_str, classes=names)
    assert [c.tolist() for c in clf.classes_] == [sorted(c) for c in names]
    y_pred = clf.predict(X[:3])
    # The outputs' classes have different lengths: their common dtype.
    assert y_pred.dtype == np.dtype("<U6") and y_pred.shape == (3, 2)
    assert set(y_pred[:, 1]) <= set(names[1])


@pytest.mark.parametrize(
    "classes, message",
    [
        (None, "one array of classes per output"),
        ([0, 1, 2], "one array of classes per output"),
        ([[0, 1, 2]], "one per output, but y has shape"),
        ([[0, 1, 2], [0]], "Output 1 of y has a single class"),
        ([[0, 1, 2], [0, 1]], "Output 1 of `y` has classes not in"),
    ],
)
def test_partial_fit_misuse(iris, classes, message):
    X, y = iris
    with pytest.raises(ValueError, match=message):
        MLPClassifier().partial_fit(X, y, classes=classes)


def test_continued_training_refuses_other_targets(iris):
    X, y = iris
    clf = MLPClassifier(hidden_layer_sizes=(4,), random_state=0)
    clf.partial_fit(X, y, classes=[[0, 1, 2], [0, 1, 2]])
    with pytest.raises(ValueError, match="not the same as on the last call"):
        clf.partial_fit(X, y, classes=[[0, 1, 2], [0, 1, 3]])
    with pytest.raises(ValueError, match="not the same as on the last call"):
        clf.partial_fit(X, y, classes=[[0, 1, 2], [0, 1]])
    with pytest.raises(ValueError, match="has 2 outputs"):
        clf.partial_fit(X, np.column_stack([y, y[:, :1]]))
    with pytest.raises(ValueError, match="has 2 outputs"):
        clf.partial_fit(X, y[:, 0])
    with pytest.raises(ValueError, match="classes not in"):
        clf.partial_fit(X, y + 1)
    warm = MLPClassifier(hidden_layer_sizes=(4,), max_iter=5, warm_start=True)
    warm.fit(X, y).fit(X, y)
    assert len(warm.loss_curve_) == 10
    with pytest.raises(ValueError, match="warm_start can only be used"):
        warm.fit(X[y[:, 1] != 2], y[y[:, 1] != 2])


def test_fit_misuse(iris):
    X, y = iris
    single = np.column_stack([y[:, 0], np.full(len(y), 7)])
    with pytest.raises(ValueError, match="Output 1 of y has a single class"):
        MLPClassifier().fit(X, single)
    with pytest.raises(ValueError, match="squared_error.*multiclass-multioutput"):
        MLPClassifier(loss="squared_error").fit(X, y)
    with pytest.raises(ValueError, match="class_weight is not supported"):
        MLPClassifier(class_weight="balanced").fit(X, y)


def test_sample_weight_of_zero_drops_rows(iris):
    X, y = iris
    weights = np.ones(len(y))
    weights[::3] = 0
    kept = weights > 0
    est = MLPClassifier(
        hidden_layer_sizes=(5,), solver="lbfgs", max_iter=10, random_state=0
    )
    weighted = clone(est).fit(X, y, sample_weight=weights)
    dropped = clone(est).fit(X[kept], y[kept])
    for W, W_ref in zip(weighted.coefs_, dropped.coefs_, strict=True):
        np.testing.assert_allclose(W, W_ref, rtol=1e-6, atol=1e-8)


def test_early_stopping_scores_the_exact_matches(digits):
    X_train, _, y_train, _ = digits
    clf = MLPClassifier(
        hidden_layer_sizes=(32,),
        early_stopping=True,
        learning_rate_init=0.01,
        max_iter=15,
        random_state=0,
    ).fit(X_train, y_train)
    assert len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_) > 0.5
    # Stratified on each row's combination of labels: (digit 0, remainder
    # 1) and (0, 0) are two groups, then (0, 1) again.
    Y = np.eye(13)[[0, 0, 0]] + np.eye(13)[[11, 10, 11]]
    first, second, third = clf._stratification_groups(Y).tolist()
    assert first == third != second


def test_compiled_and_numpy_paths_agree(iris, monkeypatch):
    """Bit for bit, with the Numba kernels (bias, relu, Adam) and without."""
    if not compiled.available():
        pytest.skip("needs the fast extra: pip install 'skscratch[fast]'")
    compiled.load()  # a job that finds the kernels loaded uses them
    X, y = iris
    est = MLPClassifier(hidden_layer_sizes=(6,), max_iter=10, random_state=0)
    fast = clone(est).fit(X, y)
    monkeypatch.setenv("SKSCRATCH_COMPILED", "0")
    plain = clone(est).fit(X, y)
    np.testing.assert_array_equal(plain.loss_curve_, fast.loss_curve_)
    for W, W_ref in zip(plain.coefs_, fast.coefs_, strict=True):
        np.testing.assert_array_equal(W, W_ref)


def test_clone_pickle_and_skops(iris):
    X, y = iris
    clf = MLPClassifier(hidden_layer_sizes=(5,), max_iter=20, random_state=0)
    clf.fit(X, y)
    assert clone(clf).get_params() == clf.get_params()
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict(X), clf.predict(X))
    np.testing.assert_array_equal(restored.predict_proba(X)[1], clf.predict_proba(X)[1])
    restored.partial_fit(X, y)  # still trainable
    pytest.importorskip("skops")
    import skscratch.skops as skops

    loaded = skops.loads(skops.dumps(clf))
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    assert [c.tolist() for c in loaded.classes_] == [c.tolist() for c in clf.classes_]


def test_onnx_export_is_a_clear_error(iris):
    pytest.importorskip("skl2onnx")
    pytest.importorskip("onnx")
    from skl2onnx import to_onnx

    import skscratch.onnx  # noqa: F401 (registers the converters)

    X, y = iris
    clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=5).fit(X, y)
    with pytest.raises(NotImplementedError, match="multiclass-multioutput"):
        to_onnx(clf, X[:1].astype(np.float32))


def test_binary_columns_stay_multilabel(iris):
    X, y = iris
    indicator = np.column_stack([y[:, 0] == 0, y[:, 1] == 2]).astype(int)
    clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=5).fit(X, indicator)
    assert isinstance(clf.classes_, np.ndarray) and clf.out_activation_ == "logistic"
    assert clf.predict_proba(X).shape == (len(X), 2)


@pytest.mark.skipif(not _namespaces.supported(), reason="needs scikit-learn >= 1.9")
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_array_api_dispatch_matches_numpy(iris, solver):
    torch = pytest.importorskip("torch")
    from sklearn import config_context

    X, y = iris
    est = MLPClassifier(hidden_layer_sizes=(7,), solver=solver, max_iter=6)
    est.set_params(random_state=0)
    reference = clone(est).fit(X, y)
    X_t, y_t = torch.asarray(X), torch.asarray(y)
    with config_context(array_api_dispatch=True):
        fitted = clone(est).fit(X_t, y_t)
        proba = fitted.predict_proba(X_t)
        labels = fitted.predict(X_t)
        score = fitted.score(X_t, y_t)
    np.testing.assert_allclose(fitted.loss_curve_, reference.loss_curve_, rtol=1e-10)
    for ours, theirs in zip(proba, reference.predict_proba(X), strict=True):
        assert isinstance(ours, torch.Tensor)
        np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(labels.numpy(), reference.predict(X))
    assert score == pytest.approx(reference.score(X, y))
