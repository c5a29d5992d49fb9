"""The classifier's ``loss='squared_error'``: logistic outputs fitted to
one-hot (or indicator) targets by squared error, the cost of the tutorials
skscratch grew from (docs/from_the_tutorials.rst).

Its gradient goes through the output activation's derivative (no ``p - y``
shortcut): checked against finite differences, in the core and on a fitted
classifier's own network, and against the reference engine built from
separate Dense and logistic layers. Then every way of training it, its
``predict_proba``, its misuse, and the default left as it was.
"""

import warnings

import numpy as np
import pytest
from scipy.special import expit
from sklearn.datasets import load_digits, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils._param_validation import InvalidParameterError

from skscratch import MLPClassifier, ScratchMLPClassifier, _targets
from skscratch.core import build_mlp, check_gradients, compiled
from skscratch.core.losses import SquaredError

TOLERANCE = 1e-6

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def digits01():
    """Digits scaled to [0, 1], as the tutorials scale MNIST's pixels."""
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=0.25, stratify=y, random_state=0)


def _seed_002(**params):
    """The network of seed 002, on 8x8 digits: 64-16-16-10, logistic
    everywhere, squared error, plain SGD."""
    settings = dict(
        hidden_layer_sizes=(16, 16),
        activation="logistic",
        loss="squared_error",
        solver="sgd",
        momentum=0.0,
        learning_rate="constant",
        learning_rate_init=30.0,
        batch_size=10,
        alpha=0.0,
        max_iter=20,
        n_iter_no_change=1000,
        random_state=0,
    )
    settings.update(params)
    return MLPClassifier(**settings)


# -- the gradient --------------------------------------------------------------


@pytest.mark.parametrize("activation", ["identity", "logistic", "softmax"])
def test_gradient_wrt_scores_matches_finite_differences(activation):
    loss = SquaredError(activation)
    rng = np.random.default_rng(0)
    Z = rng.normal(scale=2.0, size=(5, 4))
    Y = np.eye(4)[rng.integers(0, 4, 5)]

    def total(z):
        return loss.total(Y, loss.activation.forward(z.copy(), out=np.empty_like(z)))

    P = loss.activation.forward(Z.copy(), out=np.empty_like(Z))
    analytic = loss.gradient(Y, P, out=np.empty_like(Z))
    numeric = np.empty_like(Z)
    h = 1e-6
    for idx in np.ndindex(Z.shape):
        up, down = Z.copy(), Z.copy()
        up[idx] += h
        down[idx] -= h
        numeric[idx] = (total(up) - total(down)) / (2 * h)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)


def test_logistic_gradient_is_the_tutorial_term_not_p_minus_y():
    """``(a - y) a (1 - a) / K``: seed 002's ``2 (a - y) sigma'(z)`` over
    ``2 K``. The canonical shortcut ``(a - y) / K`` is a different vector."""
    rng = np.random.default_rng(1)
    Z = rng.normal(size=(6, 10))
    Y = np.eye(10)[rng.integers(0, 10, 6)]
    A = expit(Z)
    gradient = SquaredError("logistic").gradient(Y, A, out=np.empty_like(Z))
    tutorial = 2 * (A - Y) * A * (1 - A)
    np.testing.assert_allclose(gradient, tutorial / (2 * 10), rtol=1e-12)
    assert not np.allclose(gradient, (A - Y) / 10)


@pytest.mark.parametrize("activation", ["identity", "logistic", "softmax"])
def test_network_gradient_matches_finite_differences(activation):
    """Backpropagation through the whole network, with the L2 penalty and
    sample weights."""
    rng = np.random.default_rng(2)
    net = build_mlp([5, 7, 6, 3], "logistic")
    net.initialize(rng)
    X = rng.normal(size=(9, 5))
    Y = np.eye(3)[rng.integers(0, 3, 9)]
    sw = rng.uniform(0.2, 2.0, 9)
    result = check_gradients(
        net, X, Y, SquaredError(activation), alpha=0.3, sample_weight=sw
    )
    assert result.indices.size == net.n_params
    assert result.max_rel_error < TOLERANCE, str(result)


@pytest.mark.parametrize("target", ["multiclass", "binary", "multilabel"])
def test_fitted_classifier_gradient_matches_finite_differences(target):
    """The loss and network a fitted classifier trains with, checked as is."""
    X, y = load_iris(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    if target == "binary":
        y = y == 2
    elif target == "multilabel":
        y = np.column_stack([y == 0, y == 1, X[:, 0] > 0]).astype(int)
    clf = MLPClassifier(
        (6,), activation="tanh", loss="squared_error", max_iter=5, random_state=0
    ).fit(X, y)
    assert clf.out_activation_ == "logistic"
    Y = _targets.encode(np.asarray(y), clf.classes_, X.dtype)
    result = check_gradients(clf._network, X[:30], Y[:30], clf._loss(), alpha=0.01)
    assert result.max_rel_error < TOLERANCE, str(result)


# -- learning -------------------------------------------------------------------


def test_seed_002_network_learns_digits(digits01):
    X_train, X_test, y_train, y_test = digits01
    clf = _seed_002().fit(X_train, y_train)
    assert clf.out_activation_ == "logistic"
    assert [c.shape for c in clf.coefs_] == [(64, 16), (16, 16), (16, 10)]
    assert clf.score(X_test, y_test) >= 0.90
    assert clf.loss_curve_[-1] < clf.loss_curve_[0] / 10


def test_loss_is_half_the_mean_squared_error_of_the_logistic_outputs(digits01):
    X_train, _, y_train, _ = digits01
    clf = MLPClassifier(
        (16,),
        loss="squared_error",
        solver="lbfgs",
        alpha=0.0,
        max_iter=30,
        random_state=0,
    ).fit(X_train, y_train)
    Y = np.eye(10)[y_train]
    outputs = clf._forward(X_train)
    assert clf.loss_ == pytest.approx(0.5 * np.mean((outputs - Y) ** 2), rel=1e-10)


@pytest.mark.parametrize(
    "params",
    [
        dict(solver="sgd", learning_rate_init=2.0, momentum=0.9),
        dict(solver="adam", learning_rate_init=0.01),
        dict(solver="lbfgs"),
        dict(solver="adamw", learning_rate_init=0.01, alpha=1e-3),
        dict(solver="rmsprop", learning_rate_init=0.01),
        dict(solver="adam", learning_rate_init=0.01, dropout=0.1),
        dict(solver="adam", learning_rate_init=0.01, early_stopping=True),
        dict(
            solver="sgd",
            learning_rate_init=2.0,
            early_stopping=True,
            early_stopping_metric="loss",
        ),
    ],
    ids=lambda p: "-".join(f"{k}={v}" for k, v in p.items()),
)
def test_every_solver_and_option_learns(digits01, params):
    X_train, X_test, y_train, y_test = digits01
    clf = MLPClassifier(
        (32,), loss="squared_error", max_iter=60, random_state=0, **params
    ).fit(X_train, y_train)
    assert clf.score(X_test, y_test) > 0.9
    if params.get("early_stopping"):
        assert len(clf.validation_loss_curve_) == clf.n_iter_
        assert clf.best_validation_loss_ == min(clf.validation_loss_curve_)


def test_partial_fit_is_fit_one_epoch_at_a_time(digits01):
    X_train, _, y_train, _ = digits01
    params = dict(
        hidden_layer_sizes=(16,),
        loss="squared_error",
        solver="sgd",
        learning_rate_init=1.0,
        shuffle=False,
        random_state=0,
    )
    fitted = MLPClassifier(max_iter=3, n_iter_no_change=100, **params).fit(
        X_train, y_train
    )
    stepped = MLPClassifier(**params)
    for _ in range(3):
        stepped.partial_fit(X_train, y_train, classes=np.arange(10))
    np.testing.assert_allclose(stepped.loss_curve_, fitted.loss_curve_, rtol=1e-12)
    for a, b in zip(stepped.coefs_, fitted.coefs_, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize("solver", ["lbfgs", "sgd"])
def test_integer_sample_weights_act_like_repeated_rows(digits01, solver):
    X_train, _, y_train, _ = digits01
    X, y = X_train[:200], y_train[:200]
    counts = np.random.default_rng(0).integers(0, 3, len(y))
    params = dict(
        hidden_layer_sizes=(8,),
        loss="squared_error",
        solver=solver,
        max_iter=10,
        shuffle=False,
        batch_size=len(y),
        random_state=0,
    )
    weighted = MLPClassifier(**params).fit(X, y, sample_weight=counts)
    # Full batches (the stochastic solver's one batch holds every row), so
    # repeating the rows changes nothing but the order of the sums.
    repeated = MLPClassifier(**{**params, "batch_size": int(counts.sum())})
    repeated.fit(np.repeat(X, counts, axis=0), np.repeat(y, counts))
    assert repeated.classes_.size == weighted.classes_.size == 10
    np.testing.assert_allclose(weighted.loss_curve_, repeated.loss_curve_, rtol=1e-8)


def test_reference_engine_with_separate_logistic_layers_gives_the_same_fit():
    """skscratch.nn: Dense and logistic ActivationLayer objects, the last
    layer's logistic included, under the identity-output squared error; the
    same shuffles and steps as the estimator."""
    from skscratch import nn

    X, y = load_iris(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    est = MLPClassifier(
        (8,),
        activation="logistic",
        loss="squared_error",
        solver="sgd",
        momentum=0.0,
        learning_rate_init=0.5,
        batch_size=16,
        max_iter=4,
        n_iter_no_change=100,
        tol=0.0,
        alpha=1e-3,
        random_state=0,
    ).fit(X, y)

    rs = np.random.RandomState(0)  # init, then one shuffle per epoch, as fit
    net = nn.Network(
        [
            nn.Dense(4, 8),
            nn.ActivationLayer("logistic"),
            nn.Dense(8, 3),
            nn.ActivationLayer("logistic"),
        ],
        "squared_error",
    )
    net.initialize(rs, factor=2.0)  # Glorot's factor for logistic units
    Y = LabelBinarizer().fit_transform(y).astype(float)
    curve = nn.train(
        net,
        nn.SGD(learning_rate=0.5, momentum=0.0),
        X,
        Y,
        epochs=4,
        batch_size=16,
        alpha=1e-3,
        rng=rs,
        tol=0.0,
        n_iter_no_change=100,
    )
    np.testing.assert_allclose(curve, est.loss_curve_, rtol=1e-10)
    np.testing.assert_allclose(
        net.params[: net.n_weights],
        np.concatenate([c.ravel() for c in est.coefs_]),
        rtol=1e-9,
        atol=1e-12,
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_kernels_and_numpy_give_the_same_fit(digits01, monkeypatch, dtype):
    """No compiled kernel knows the loss; with the kernels loaded (when Numba
    is installed) or switched off by SKSCRATCH_COMPILED=0, the same numbers."""
    X_train, _, y_train, _ = digits01
    X = X_train.astype(dtype)
    compiled.load()  # a no-op without Numba: both fits then run NumPy
    fits = []
    for switch in ("1", "0"):
        monkeypatch.setenv(compiled.ENV_VAR, switch)
        fits.append(_seed_002(max_iter=3, hidden_layer_sizes=(32, 16)).fit(X, y_train))
    fast, reference = fits
    assert fast.coefs_[0].dtype == dtype
    assert fast.loss_curve_ == reference.loss_curve_
    for a, b in zip(fast.coefs_, reference.coefs_, strict=True):
        np.testing.assert_array_equal(a, b)


# -- predictions ------------------------------------------------------------------


def test_multiclass_predict_proba_is_the_normalised_logistic_outputs(digits01):
    X_train, X_test, y_train, _ = digits01
    clf = _seed_002(max_iter=5).fit(X_train, y_train)
    outputs = clf._forward(X_test)
    proba = clf.predict_proba(X_test)
    expected = outputs / outputs.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(proba, expected, atol=1e-15)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(
        clf.classes_[proba.argmax(axis=1)], clf.predict(X_test)
    )
    np.testing.assert_allclose(clf.predict_log_proba(X_test), np.log(proba))


def test_binary_and_multilabel_probabilities_are_the_logistic_outputs():
    X, y = load_iris(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    binary = MLPClassifier((6,), loss="squared_error", solver="lbfgs", random_state=0)
    binary.fit(X, y == 2)
    p = binary._forward(X)[:, 0]
    # Equal up to predict_proba's clip to [eps, 1 - eps].
    np.testing.assert_allclose(
        binary.predict_proba(X), np.column_stack([1 - p, p]), atol=1e-15
    )
    assert binary.score(X, y == 2) > 0.9

    Y = np.column_stack([y == 0, y == 1, y == 2, X[:, 0] > 0]).astype(int)
    multilabel = MLPClassifier(
        (8,), loss="squared_error", solver="lbfgs", random_state=0
    )
    multilabel.fit(X, Y)
    np.testing.assert_allclose(
        multilabel.predict_proba(X), multilabel._forward(X), atol=1e-15
    )
    np.testing.assert_array_equal(multilabel.predict(X), multilabel._forward(X) > 0.5)


# -- misuse ------------------------------------------------------------------------


@pytest.mark.parametrize("loss", ["squared_loss", "mse", "poisson", "huber", None])
def test_unknown_loss_is_refused(loss):
    X, y = load_iris(return_X_y=True)
    with pytest.raises(InvalidParameterError, match="'loss' parameter"):
        MLPClassifier(loss=loss).fit(X, y)


def test_activation_whose_derivative_needs_its_input_is_refused():
    with pytest.raises(ValueError, match="'gelu' needs its input"):
        SquaredError("gelu")


@pytest.mark.parametrize("how", ["warm_start", "partial_fit"])
def test_switching_loss_of_a_fitted_multiclass_network_is_refused(how):
    X, y = load_iris(return_X_y=True)
    clf = MLPClassifier((4,), solver="sgd", max_iter=2, random_state=0)
    clf.fit(X, y)
    before = [c.copy() for c in clf.coefs_]
    clf.set_params(loss="squared_error", warm_start=how == "warm_start")
    with pytest.raises(ValueError, match="softmax output layer.*needs a logistic"):
        if how == "warm_start":
            clf.fit(X, y)
        else:
            clf.partial_fit(X, y)
    for a, b in zip(before, clf.coefs_, strict=True):
        np.testing.assert_array_equal(a, b)  # a failed fit changes nothing


def test_binary_network_may_continue_under_the_other_loss():
    """Both losses give a binary target the same logistic output layer."""
    X, y = load_iris(return_X_y=True)
    clf = MLPClassifier((4,), solver="sgd", max_iter=2, random_state=0)
    clf.fit(X, y == 0)
    clf.set_params(loss="squared_error", warm_start=True).fit(X, y == 0)
    assert len(clf.loss_curve_) == 4 and clf.out_activation_ == "logistic"


# -- the default is scikit-learn's, unchanged ----------------------------------------


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_log_loss_default_is_unchanged(solver):
    X, y = load_iris(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    params = dict(
        hidden_layer_sizes=(16, 8), solver=solver, max_iter=15, random_state=3
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        default = ScratchMLPClassifier(**params).fit(X, y)
        explicit = ScratchMLPClassifier(loss="log_loss", **params).fit(X, y)
        theirs = SklearnMLPClassifier(**params).fit(X, y)
    assert default.out_activation_ == "softmax"
    assert default.loss_curve_ == explicit.loss_curve_
    for a, b in zip(default.coefs_, explicit.coefs_, strict=True):
        np.testing.assert_array_equal(a, b)
    # scikit-learn records no loss curve for lbfgs: its final loss then.
    their_curve = getattr(theirs, "loss_curve_", None) or [theirs.loss_]
    np.testing.assert_allclose(
        default.loss_curve_[-len(their_curve) :], their_curve, rtol=1e-9
    )
    np.testing.assert_allclose(
        default.predict_proba(X), theirs.predict_proba(X), rtol=1e-7
    )


# -- export -------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("target", ["multiclass", "binary", "multilabel"])
def test_onnx_export_matches_predict_and_predict_proba(dtype, target):
    reason = 'needs the onnx extra: pip install "skscratch[onnx]"'
    skl2onnx = pytest.importorskip("skl2onnx", reason=reason)
    ort = pytest.importorskip("onnxruntime", reason=reason)
    onnx_module = pytest.importorskip("skscratch.onnx", reason=reason)

    X, y = load_iris(return_X_y=True)
    X = ((X - X.mean(axis=0)) / X.std(axis=0)).astype(dtype)
    if target == "binary":
        y = np.where(y == 2, "virginica", "other")
    elif target == "multilabel":
        y = np.column_stack([y == 0, y == 1, X[:, 0] > 0]).astype(int)
    clf = MLPClassifier(
        (8,),
        activation="logistic",
        loss="squared_error",
        solver="lbfgs",
        random_state=0,
    ).fit(X, y)
    # onnxruntime has no float64 Clip at the oldest opset (11).
    opsets = (onnx_module.MIN_OPSET, None) if dtype == np.float32 else (None,)
    for opset in opsets:
        onx = skl2onnx.to_onnx(
            clf, X[:1], options={"zipmap": False}, target_opset=opset
        )
        session = ort.InferenceSession(
            onx.SerializeToString(), providers=["CPUExecutionProvider"]
        )
        label, proba = session.run(None, {session.get_inputs()[0].name: X})
        np.testing.assert_array_equal(label, clf.predict(X))
        atol = 1e-6 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=0, atol=atol)
