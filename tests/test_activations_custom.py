"""Per-layer and custom activations, mish, and the ``init`` schemes.

With their defaults nothing changes: the default initialisation is
scikit-learn's bit for bit, and a tuple repeating one activation trains the
same network as that activation's name.
"""

import pickle
import warnings

import numpy as np
import pytest
from scipy.special import expit
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from skscratch import (
    CustomActivation,
    MLPClassifier,
    ScratchMLPClassifier,
    ScratchMLPRegressor,
)
from skscratch.core import (
    ACTIVATIONS,
    build_mlp,
    check_derivative,
    check_gradients,
    compiled,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


# Module-level functions, so that models holding them pickle.
def square_plus(z):
    """A smooth relu: (z + sqrt(z^2 + 4)) / 2."""
    return 0.5 * (z + np.sqrt(z * z + 4))


def square_plus_derivative(z, a):
    return 0.5 * (1 + z / np.sqrt(z * z + 4))


def square_plus_wrong_derivative(z, a):
    # Forgets the 1/2: twice the true slope.
    return 1 + z / np.sqrt(z * z + 4)


def softsign(z):
    return z / (1 + np.abs(z))


def softsign_derivative(z, a):
    # From the output: 1 / (1 + |z|)^2 = (1 - |a|)^2.
    return (1 - np.abs(a)) ** 2


SQUARE_PLUS = CustomActivation(square_plus, square_plus_derivative)
SOFTSIGN = CustomActivation(softsign, softsign_derivative, name="softsign")


def _split(loader):
    X, y = loader(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


def _initial_weights(estimator_class, X, y, **params):
    """The weights an estimator starts from: one sgd epoch with a step so
    small that no weight changes by a bit."""
    params = dict(max_iter=1, solver="sgd", learning_rate_init=1e-300, **params)
    model = estimator_class(**params).fit(X, y)
    return model.coefs_, model.intercepts_


# -- mish ----------------------------------------------------------------------


def test_mish_is_its_definition_with_its_exact_derivative():
    mish = ACTIVATIONS["mish"]
    z = np.linspace(-8, 8, 97)[:, None] + 0.003
    softplus = np.log1p(np.exp(z))
    expected = z * np.tanh(softplus)
    np.testing.assert_allclose(
        mish.forward(z.copy(), out=np.empty_like(z)), expected, rtol=1e-12
    )
    inplace = z.copy()
    mish.forward(inplace, out=inplace)
    np.testing.assert_array_equal(inplace, mish.forward(z, out=np.empty_like(z)))

    # f'(z) = tanh(sp) + z sigma(z) sech^2(sp), against finite differences.
    t = np.tanh(softplus)
    exact = t + z * expit(z) * (1 - t * t)
    h = 1e-6
    numeric = (z + h) * np.tanh(np.log1p(np.exp(z + h)))
    numeric -= (z - h) * np.tanh(np.log1p(np.exp(z - h)))
    numeric /= 2 * h
    np.testing.assert_allclose(exact, numeric, rtol=1e-7, atol=1e-9)
    grad = np.linspace(-1, 1, z.size).reshape(z.shape)
    backward = mish.backward(grad.copy(), expected, z.copy())
    np.testing.assert_allclose(backward, grad * exact, rtol=1e-12, atol=1e-15)
    check_derivative(mish)  # the fit-time check passes it too

    big = np.array([[1000.0, -1000.0, 0.0]])
    out = mish.forward(big, out=np.empty_like(big))
    np.testing.assert_array_equal(out, [[1000.0, -0.0, 0.0]])
    assert np.isfinite(mish.backward(np.ones_like(big), out, big)).all()


# -- gradients through per-layer and custom activations ------------------------


@pytest.mark.parametrize(
    "activations",
    [
        ("mish", "mish"),
        ("relu", "mish"),
        ("tanh", SQUARE_PLUS),
        (SOFTSIGN, "gelu"),
        (SQUARE_PLUS, SOFTSIGN),
    ],
    ids=str,
)
@pytest.mark.parametrize("loss", ["log_loss", "squared_error"])
def test_network_gradient_with_per_layer_and_custom_activations(activations, loss):
    rng = np.random.default_rng(7)
    net = build_mlp([4, 6, 5, 3], activations)
    layers = [layer.activation for layer in net.layers[1::2]]
    assert layers == [ACTIVATIONS.get(a, a) for a in activations]
    net.initialize(rng)
    X = rng.normal(size=(9, 4))
    if loss == "log_loss":
        Y = np.eye(3)[rng.integers(0, 3, 9)]
    else:
        Y = rng.normal(size=(9, 3))
    result = check_gradients(net, X, Y, loss, alpha=0.2, sample_weight=rng.random(9))
    assert result.indices.size == net.n_params
    assert result.max_rel_error < 1e-6, str(result)


def test_gradient_of_a_fitted_estimator_with_a_custom_activation(iris):
    X, y = iris
    model = ScratchMLPClassifier(
        hidden_layer_sizes=(7, 5),
        activation=(SQUARE_PLUS, "mish"),
        solver="lbfgs",
        max_iter=3,  # far from the optimum, where the gradient is still large
        random_state=0,
    ).fit(X, y)
    Y = np.eye(3)[y]
    result = check_gradients(model._network, X[::5], Y[::5], "log_loss", alpha=1e-4)
    assert result.max_rel_error < 1e-6, str(result)


# -- learning ------------------------------------------------------------------


def test_per_layer_tuple_learns_digits():
    X_train, X_test, y_train, y_test = _split(load_digits)
    model = MLPClassifier(
        hidden_layer_sizes=(64, 32),
        activation=("relu", "tanh"),
        max_iter=60,
        random_state=0,
    ).fit(X_train, y_train)
    assert model.score(X_test, y_test) > 0.95
    assert [
        type(layer.activation).__name__ for layer in model._network.layers[1::2]
    ] == [
        "ReLU",
        "Tanh",
    ]


def test_mish_learns_breast_cancer():
    X_train, X_test, y_train, y_test = _split(load_breast_cancer)
    model = MLPClassifier(
        hidden_layer_sizes=(16,), activation="mish", max_iter=200, random_state=0
    ).fit(X_train, y_train)
    assert model.score(X_test, y_test) > 0.95


def test_custom_activation_learns_wine_and_regression(diabetes):
    X_train, X_test, y_train, y_test = _split(load_wine)
    model = MLPClassifier(
        hidden_layer_sizes=(16, 8),
        activation=[SQUARE_PLUS, SOFTSIGN],
        solver="lbfgs",
        random_state=0,
    ).fit(X_train, y_train)
    assert model.score(X_test, y_test) > 0.9
    X, y = diabetes
    reg = ScratchMLPRegressor(
        hidden_layer_sizes=(16,),
        activation=SOFTSIGN,
        solver="lbfgs",
        max_iter=300,
        random_state=0,
    ).fit(X, y)
    assert reg.score(X, y) > 0.45  # a linear model's R^2 here is 0.52


def test_a_tuple_repeating_one_activation_trains_that_activation(iris):
    X, y = iris
    params = dict(hidden_layer_sizes=(8, 6), max_iter=20, random_state=3)
    for name in ("logistic", "relu"):
        single = ScratchMLPClassifier(activation=name, **params).fit(X, y)
        tupled = ScratchMLPClassifier(activation=(name, name), **params).fit(X, y)
        assert tupled.loss_curve_ == single.loss_curve_
        for a, b in zip(single.coefs_, tupled.coefs_, strict=True):
            np.testing.assert_array_equal(a, b)


def test_warm_start_and_partial_fit_follow_the_activation_parameter(iris):
    X, y = iris
    model = ScratchMLPClassifier(
        hidden_layer_sizes=(6, 4), activation=("relu", SOFTSIGN), random_state=0
    )
    model.partial_fit(X, y, classes=[0, 1, 2])
    model.partial_fit(X, y)
    assert model._network.layers[3].activation is SOFTSIGN
    model.set_params(activation=["mish", "tanh"], warm_start=True, max_iter=3)
    model.fit(X, y)
    names = [layer.activation.name for layer in model._network.layers[1::2]]
    assert names == ["mish", "tanh"]
    assert model._hidden_activation == ("mish", "tanh")


@pytest.mark.skipif(not compiled.available(), reason="needs numba")
def test_custom_activation_runs_with_and_without_the_compiled_kernels(monkeypatch):
    # Loaded kernels serve the relu, the bias additions and the optimizer;
    # the custom activation runs its NumPy functions either way.
    compiled.load()
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    params = dict(
        hidden_layer_sizes=(32, 16),
        activation=("relu", SQUARE_PLUS),
        learning_rate_init=0.01,
        max_iter=5,
        random_state=0,
    )
    fast = ScratchMLPClassifier(**params).fit(X, y)
    monkeypatch.setenv(compiled.ENV_VAR, "0")
    plain = ScratchMLPClassifier(**params).fit(X, y)
    assert fast.coefs_[0].dtype == np.float32
    assert fast.loss_curve_ == plain.loss_curve_
    np.testing.assert_array_equal(fast.predict_proba(X), plain.predict_proba(X))
    assert fast.score(X, y) > 0.8


# -- misuse --------------------------------------------------------------------


def test_a_wrong_derivative_is_refused_at_fit_and_leaves_the_model(iris):
    X, y = iris
    wrong = CustomActivation(square_plus, square_plus_wrong_derivative)
    model = ScratchMLPClassifier(hidden_layer_sizes=(5,), random_state=0)
    model.fit(X, y)
    coefs = [c.copy() for c in model.coefs_]
    model.set_params(activation=wrong)
    with pytest.raises(ValueError, match="derivative of the activation 'square_plus'"):
        model.fit(X, y)
    for a, b in zip(model.coefs_, coefs, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=r"at z = .* finite differences"):
        ScratchMLPRegressor(hidden_layer_sizes=(4, 3), activation=("relu", wrong)).fit(
            X, y
        )


@pytest.mark.parametrize(
    "function, match",
    [
        (lambda z: float(np.sum(z)), "input's shape"),  # not element-wise
        (lambda z: np.where(z > 0, z, np.inf), r"finite: False"),
    ],
)
def test_a_function_of_the_wrong_shape_or_not_finite_is_refused(iris, function, match):
    X, y = iris
    act = CustomActivation(function, square_plus_derivative, name="bad")
    with pytest.raises(ValueError, match=match):
        ScratchMLPClassifier(hidden_layer_sizes=(3,), activation=act).fit(X, y)


def test_custom_activation_needs_callables():
    with pytest.raises(TypeError, match="two callables"):
        CustomActivation(square_plus, "not a function")


@pytest.mark.parametrize(
    "sizes, activation, match",
    [
        ((5,), ("relu", "tanh"), "2 entries but the network has 1 hidden layers"),
        ((5, 4, 3), ["relu", "tanh"], "2 entries but the network has 3"),
        ((5, 4), ("relu", "swish"), "Unknown activation 'swish'"),
        ((5, 4), ("relu", 3), "Each entry of activation"),
        ((5, 4), ("relu", ("tanh",)), "Each entry of activation"),
    ],
)
def test_a_tuple_that_does_not_fit_the_hidden_layers_is_refused(
    iris, sizes, activation, match
):
    X, y = iris
    with pytest.raises(ValueError, match=match):
        ScratchMLPClassifier(hidden_layer_sizes=sizes, activation=activation).fit(X, y)


@pytest.mark.parametrize("activation", ["swish", 3, print, None])
def test_other_activation_values_fail_the_parameter_check(iris, activation):
    X, y = iris
    with pytest.raises(InvalidParameterError, match="'activation' parameter"):
        ScratchMLPClassifier(activation=activation).fit(X, y)


def test_unknown_init_fails_the_parameter_check(iris):
    X, y = iris
    with pytest.raises(InvalidParameterError, match="'init' parameter"):
        ScratchMLPClassifier(init="xavier").fit(X, y)


# -- clone, pickle, skops ------------------------------------------------------


def test_clone_and_pickle_keep_per_layer_and_custom_activations(iris):
    X, y = iris
    model = ScratchMLPClassifier(
        hidden_layer_sizes=(6, 5),
        activation=(SQUARE_PLUS, "mish"),
        init="he",
        max_iter=30,
        random_state=0,
    ).fit(X, y)
    copy = clone(model)
    assert copy.get_params() == model.get_params()
    assert copy.activation[0] == SQUARE_PLUS and not hasattr(copy, "coefs_")
    assert "CustomActivation(square_plus, square_plus_derivative" in repr(model)

    restored = pickle.loads(pickle.dumps(model))
    assert restored.activation == model.activation
    np.testing.assert_array_equal(restored.predict_proba(X), model.predict_proba(X))
    restored.partial_fit(X, y)  # training goes on, with the same activations
    assert restored._network.layers[1].activation == SQUARE_PLUS

    closure = CustomActivation(lambda z: z, lambda z, a: np.ones_like(z), name="id")
    model = ScratchMLPClassifier(hidden_layer_sizes=(3,), activation=closure)
    with pytest.raises((pickle.PicklingError, AttributeError)):
        pickle.dumps(model.fit(X, y))


def test_skops_needs_the_custom_functions_trusted_by_name(iris, tmp_path):
    pytest.importorskip("skops.io", reason="needs the skops extra")
    from skops.io.exceptions import UntrustedTypesFoundException

    from skscratch.skops import TRUSTED_TYPES, dump, load

    X, y = iris
    model = ScratchMLPClassifier(
        hidden_layer_sizes=(4,), activation=(SOFTSIGN,), max_iter=5, random_state=0
    ).fit(X, y)
    path = tmp_path / "model.skops"
    dump(model, path)
    assert "skscratch.core.activations.CustomActivation" in TRUSTED_TYPES
    with pytest.raises(UntrustedTypesFoundException, match="softsign"):
        load(path)
    names = [
        f"{softsign.__module__}.{f.__name__}" for f in (softsign, softsign_derivative)
    ]
    restored = load(path, trusted=names)
    np.testing.assert_array_equal(restored.predict_proba(X), model.predict_proba(X))
    assert restored.activation[0] == SOFTSIGN


# -- ONNX ----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_onnx_exports_per_layer_activations_with_mish(iris, dtype):
    skl2onnx = pytest.importorskip("skl2onnx")
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("skscratch.onnx")
    X, y = iris
    X = X.astype(dtype)
    model = ScratchMLPClassifier(
        hidden_layer_sizes=(8, 6, 5),
        activation=("mish", "elu", "tanh"),
        max_iter=50,
        random_state=0,
    ).fit(X, y)
    onx = skl2onnx.to_onnx(model, X[:1], options={"zipmap": False})
    session = ort.InferenceSession(
        onx.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    label, proba = session.run(None, {session.get_inputs()[0].name: X})
    np.testing.assert_array_equal(label, model.predict(X))
    atol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(proba, model.predict_proba(X), atol=atol)


def test_onnx_refuses_a_custom_activation_clearly(iris):
    skl2onnx = pytest.importorskip("skl2onnx")
    pytest.importorskip("skscratch.onnx")
    X, y = iris
    model = ScratchMLPClassifier(
        hidden_layer_sizes=(4, 3), activation=("relu", SOFTSIGN), max_iter=5
    ).fit(X, y)
    with pytest.raises(NotImplementedError, match="custom activation .*hidden layer 2"):
        skl2onnx.to_onnx(model, X[:1].astype(np.float32))


# -- init ----------------------------------------------------------------------


@pytest.mark.parametrize("activation", ["relu", "logistic", "tanh"])
def test_default_init_is_scikit_learns_bit_for_bit(iris, activation):
    X, y = iris
    params = dict(hidden_layer_sizes=(7, 5), activation=activation, random_state=3)
    ours = _initial_weights(ScratchMLPClassifier, X, y, **params)
    theirs = _initial_weights(SklearnMLPClassifier, X, y, **params)
    explicit = _initial_weights(ScratchMLPClassifier, X, y, init="glorot", **params)
    for a, b, c in zip(
        ours[0] + ours[1], theirs[0] + theirs[1], explicit[0] + explicit[1], strict=True
    ):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize(
    "init, bound",
    [
        ("he", lambda fan_in: np.sqrt(6 / fan_in)),
        ("lecun", lambda fan_in: np.sqrt(3 / fan_in)),
    ],
)
def test_he_and_lecun_draw_the_formula_from_the_same_stream(digits, init, bound):
    X, y = digits
    sizes = (200, 50)
    coefs, intercepts = _initial_weights(
        ScratchMLPClassifier, X, y, hidden_layer_sizes=sizes, init=init, random_state=0
    )
    # The same draws as scikit-learn's Glorot, in the same order, scaled.
    rng = np.random.RandomState(0)
    for W, b, fan_in in zip(coefs, intercepts, (64, *sizes), strict=True):
        r = bound(fan_in)
        np.testing.assert_array_equal(W, rng.uniform(-r, r, W.shape))
        np.testing.assert_array_equal(b, rng.uniform(-r, r, b.shape))
        # U(-r, r) has variance r^2 / 3: 2 / fan_in for he, 1 / fan_in for lecun.
        expected_var = (2.0 if init == "he" else 1.0) / fan_in
        assert abs(W.var() / expected_var - 1) < 0.1
        assert np.abs(W).max() <= r
    # Whatever the scheme, the random stream afterwards is the same.
    after = {}
    for scheme in ("glorot", init):
        rs = np.random.RandomState(5)
        build_mlp([6, 4, 2], "relu").initialize(rs, init=scheme)
        after[scheme] = rs.random_sample(3)
    np.testing.assert_array_equal(after["glorot"], after[init])


def test_he_init_keeps_a_deep_relu_network_alive():
    # Glorot's scale lets the signal of a deep, narrow-to-wide relu network
    # fade; He's keeps its variance (the reason to choose it for relu).
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 100))
    spread = {}
    for init in ("glorot", "he"):
        net = build_mlp([100] + [100] * 12 + [1], "relu")
        net.initialize(np.random.RandomState(0), init=init)
        spread[init] = float(np.std(net.predict(X, "identity")))
    assert spread["he"] > 10 * spread["glorot"]


def test_init_he_and_per_layer_tuple_train_well(iris):
    X, y = iris
    model = ScratchMLPClassifier(
        hidden_layer_sizes=(16, 8, 8),
        activation=("relu", "mish", "leaky_relu"),
        init="he",
        solver="lbfgs",
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    assert model.score(X, y) > 0.95


def test_he_and_lecun_rescue_the_logistic_network_of_issue_31235():
    # scikit-learn issue #31235's reproducer: from scikit-learn's Glorot start
    # (its factor 2 for logistic) the (20, 20) logistic network predicts one
    # constant; the larger He and LeCun starts learn the curved boundary.
    rng = np.random.RandomState(1)
    X = rng.random_sample((500, 2))
    y = (X[:, 0] + (2 * (X[:, 1] - 0.5)) ** 2 - 0.75 >= 0).astype(int)
    params = dict(hidden_layer_sizes=(20, 20), activation="logistic", random_state=42)
    collapsed = MLPClassifier(**params).fit(X, y)
    assert collapsed.predict_proba(X)[:, 1].std() < 0.01
    assert collapsed.score(X, y) == max(y.mean(), 1 - y.mean())
    for init in ("he", "lecun"):
        model = MLPClassifier(init=init, **params).fit(X, y)
        assert model.predict_proba(X)[:, 1].std() > 0.1
        assert model.score(X, y) > 0.7
