"""Tests of the reference engine skscratch.nn: gradients against finite
differences, optimizer steps by hand, and agreement with the production
engine (skscratch.core) and the estimators."""

import ast
import pathlib
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.preprocessing import LabelBinarizer, StandardScaler

import skscratch
from skscratch import core
from skscratch.nn import (
    ACTIVATIONS,
    LOSSES,
    SGD,
    Adam,
    AdamW,
    Dense,
    Dropout,
    Network,
    RMSprop,
    Schedule,
    gradient_check,
    numerical_gradient,
    train,
)
from skscratch.nn.gradcheck import relative_error

NN_DIR = pathlib.Path(skscratch.__file__).parent / "nn"


def _targets(loss, rng, n, k):
    """Targets of shape (n, k) valid for ``loss``."""
    if loss == "log_loss":
        return np.eye(k)[rng.integers(0, k, n)]
    if loss == "binary_log_loss":
        return rng.integers(0, 2, (n, k)).astype(float)
    if loss == "poisson":
        return rng.poisson(2.0, (n, k)).astype(float)
    return rng.normal(size=(n, k))


# -- 1. finite differences ---------------------------------------------------


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_derivative(name):
    f = ACTIVATIONS[name]
    rng = np.random.default_rng(0)
    # Away from relu's kink at 0, where the derivative is not defined.
    z = rng.uniform(0.1, 2.0, (4, 3)) * rng.choice([-1, 1], (4, 3))
    g = rng.normal(size=z.shape)  # dL/dA, to check backward as a whole

    def objective(zz):
        return float(np.sum(g * f.forward(zz)))

    numeric = numerical_gradient(objective, z.copy())
    analytic = f.backward(g, z, f.forward(z))
    assert relative_error(analytic, numeric) < 1e-6
    if name != "softmax":  # element-wise: derivative is d a_ij / d z_ij
        num_deriv = (f.forward(z + 1e-6) - f.forward(z - 1e-6)) / 2e-6
        assert relative_error(f.derivative(z, f.forward(z)), num_deriv) < 1e-6


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_gradient_wrt_scores(name):
    loss = LOSSES[name]
    g = ACTIVATIONS[loss.activation]
    rng = np.random.default_rng(1)
    Z = rng.normal(size=(6, 3))
    Y = _targets(name, rng, 6, 3)
    if name in ("absolute_error", "huber"):
        Y = Z + rng.choice([-1, 1], Z.shape) * rng.uniform(0.2, 3.0, Z.shape)
    w = rng.uniform(0.5, 2.0, 6)

    numeric = numerical_gradient(lambda z: loss.value(Y, g.forward(z), w), Z.copy())
    assert relative_error(loss.gradient(Y, g.forward(Z), w), numeric) < 1e-6


def test_dense_gradients():
    rng = np.random.default_rng(2)
    layer = Dense(4, 3)
    layer.W[...], layer.b[...] = rng.normal(size=(4, 3)), rng.normal(size=3)
    X, G = rng.normal(size=(5, 4)), rng.normal(size=(5, 3))

    def objective(_):
        return float(np.sum(G * layer.forward(X)))

    layer.forward(X)
    dX = layer.backward(G)
    assert relative_error(layer.dW, numerical_gradient(objective, layer.W)) < 1e-7
    assert relative_error(layer.db, numerical_gradient(objective, layer.b)) < 1e-7
    assert relative_error(dX, numerical_gradient(objective, X)) < 1e-7


def test_dropout_gradient_with_fixed_mask():
    rng = np.random.default_rng(3)
    layer = Dropout(0.5, rng)
    X, G = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    layer.forward(X, training=True)
    mask = layer.mask
    assert set(np.unique(mask)) <= {0.0, 2.0}  # inverted: kept units x 1/(1-p)

    def objective(x):
        return float(np.sum(G * layer.forward(x, training=True, mask=mask)))

    numeric = numerical_gradient(objective, X.copy())
    layer.forward(X, training=True, mask=mask)
    assert relative_error(layer.backward(G), numeric) < 1e-7
    assert layer.forward(X) is X  # identity at prediction


@pytest.mark.parametrize(
    "activation, loss",
    [
        ("tanh", "log_loss"),
        ("logistic", "binary_log_loss"),
        ("gelu", "poisson"),
        ("silu", "squared_error"),
        ("elu", "huber"),
        ("softplus", "squared_error"),
    ],
)
def test_network_gradient_with_l2(activation, loss):
    rng = np.random.default_rng(4)
    net = Network.mlp([3, 5, 4, 2], activation, loss)
    net.initialize(rng)
    X, Y = rng.normal(size=(7, 3)), _targets(loss, rng, 7, 2)
    w = rng.uniform(0.5, 2.0, 7)
    assert gradient_check(net, X, Y, alpha=0.3) < 1e-6
    assert gradient_check(net, X, Y, sample_weight=w, alpha=0.3) < 1e-6


# -- 2. optimizer steps by hand ----------------------------------------------


def test_sgd_momentum_by_hand():
    p, g = np.array([1.0, -2.0]), np.array([0.5, 1.0])
    opt = SGD(learning_rate=0.1, momentum=0.9, nesterov=False)
    opt.step(p, g)  # v = -0.1 g = [-0.05, -0.1]
    np.testing.assert_allclose(p, [0.95, -2.1], rtol=1e-15)
    opt.step(p, g)  # v = 0.9 v - 0.1 g = [-0.095, -0.19]
    np.testing.assert_allclose(p, [0.855, -2.29], rtol=1e-15)


def test_sgd_nesterov_by_hand():
    p, g = np.array([1.0, -2.0]), np.array([0.5, 1.0])
    opt = SGD(learning_rate=0.1, momentum=0.9, nesterov=True)
    opt.step(p, g)  # v = [-0.05, -0.1]; p += 0.9 v - 0.1 g = [-0.095, -0.19]
    np.testing.assert_allclose(p, [0.905, -2.19], rtol=1e-15)
    opt.step(p, g)  # v = [-0.095, -0.19]; p += [-0.1355, -0.271]
    np.testing.assert_allclose(p, [0.7695, -2.461], rtol=1e-14)


def test_adam_by_hand():
    p, g = np.array([1.0, -2.0]), np.array([0.5, -1.0])
    opt = Adam(learning_rate=0.1, beta_1=0.9, beta_2=0.999, epsilon=0.0)
    # t=1: m = 0.1 g, v = 0.001 g^2, lr_t = 0.1 sqrt(0.001) / 0.1:
    # step = lr_t * 0.1 g / (sqrt(0.001) |g|) = 0.1 sign(g).
    opt.step(p, g)
    np.testing.assert_allclose(p, [0.9, -1.9], rtol=1e-14)
    # t=2 with g2 = [1, 1] on the first coordinate:
    # m = 0.09*0.5 + 0.1*1 = 0.145, v = 0.999*0.00025 + 0.001*1 = 0.00124975,
    # lr_t = 0.1 sqrt(1 - 0.998001) / 0.19.
    opt.step(p, np.array([1.0, 1.0]))
    lr_t = 0.1 * np.sqrt(1 - 0.999**2) / (1 - 0.9**2)
    expected0 = 0.9 - lr_t * 0.145 / np.sqrt(0.00124975)
    np.testing.assert_allclose(p[0], expected0, rtol=1e-13)
    # By hand: lr_t = 0.1 * 0.044710 / 0.19 = 0.023532, m / sqrt(v) = 0.145 /
    # 0.035352 = 4.1016, so the step is 0.096518.
    assert abs(p[0] - 0.803482) < 1e-6


def test_adamw_and_rmsprop_first_step():
    p = np.array([1.0, 3.0])
    AdamW(learning_rate=0.1, weight_decay=0.5, n_decayed=1, epsilon=0.0).step(
        p, np.array([2.0, -1.0])
    )
    # decay the weight by 1 - 0.05, then Adam's first step, lr * sign(g)
    np.testing.assert_allclose(p, [0.95 - 0.1, 3.1], rtol=1e-14)
    q = np.array([1.0, 3.0])
    RMSprop(learning_rate=0.1, epsilon=0.0).step(q, np.array([2.0, -1.0]))
    np.testing.assert_allclose(q, [0.9, 3.1], rtol=1e-14)  # v_hat = g^2


def test_schedules():
    s = Schedule(0.1, "invscaling", power_t=0.5)
    s.iteration_ends(99)
    assert s.lr == pytest.approx(0.01)
    a = Schedule(0.1, "adaptive")
    assert a.reduce_on_plateau() and a.lr == pytest.approx(0.02)
    assert not Schedule(0.1).reduce_on_plateau()


# -- 3. reference == production engine ---------------------------------------


@pytest.mark.parametrize(
    "activation, loss",
    [
        ("relu", "log_loss"),
        ("tanh", "binary_log_loss"),
        ("logistic", "squared_error"),
        ("gelu", "poisson"),
        ("silu", "huber"),
        ("elu", "absolute_error"),
    ],
)
@pytest.mark.parametrize("weighted", [False, True])
def test_matches_production_engine(activation, loss, weighted):
    rng = np.random.default_rng(5)
    units = [6, 9, 7, 3]
    prod = core.build_mlp(units, activation)
    prod.initialize(np.random.RandomState(0))
    ref = Network.mlp(units, activation, loss)
    ref.params[...] = prod.params  # same layout: weights, then biases
    X, Y = rng.normal(size=(20, 6)), _targets(loss, rng, 20, 3)
    w = rng.uniform(0.5, 2.0, 20) if weighted else None

    value_p = prod.loss_and_gradient(X, Y, loss, alpha=0.7, sample_weight=w)
    value_r = ref.loss_and_gradient(X, Y, w, alpha=0.7)
    assert value_r == pytest.approx(value_p, rel=1e-12)
    np.testing.assert_allclose(ref.grads, prod.grads, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(
        ref.predict(X), prod.predict(X, ref.loss.activation), rtol=1e-12
    )


def test_initialization_matches_production():
    prod = core.build_mlp([4, 8, 3], "logistic")
    prod.initialize(np.random.RandomState(42), factor=2.0)
    ref = Network.mlp([4, 8, 3], "logistic")
    ref.initialize(np.random.RandomState(42), factor=2.0)
    np.testing.assert_array_equal(ref.params, prod.params)


# -- 4. reference training == estimator --------------------------------------


def _iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.mark.parametrize(
    "solver, nesterov, weighted",
    [
        ("sgd", True, False),
        ("sgd", False, False),
        ("adam", True, False),
        ("sgd", True, True),
        ("adam", True, True),
    ],
)
def test_train_reproduces_estimator_loss_curve(solver, nesterov, weighted):
    X, y = _iris()
    w = np.random.default_rng(0).uniform(0.5, 2.0, len(y)) if weighted else None
    kwargs = dict(
        hidden_layer_sizes=(8,),
        solver=solver,
        batch_size=32,
        max_iter=3,
        tol=0.0,
        n_iter_no_change=100,
        random_state=0,
        shuffle=True,
        alpha=1e-3,
        learning_rate_init=0.01,
        nesterovs_momentum=nesterov,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning after 3 epochs
        est = skscratch.MLPClassifier(**kwargs).fit(X, y, sample_weight=w)

    rs = np.random.RandomState(0)  # init, then one shuffle per epoch, as fit
    net = Network.mlp([4, 8, 3], "relu", "log_loss")
    net.initialize(rs, factor=6.0)
    if solver == "sgd":
        opt = SGD(learning_rate=0.01, momentum=0.9, nesterov=nesterov)
    else:
        opt = Adam(learning_rate=0.01)
    Y = LabelBinarizer().fit_transform(y).astype(float)
    curve = train(
        net,
        opt,
        X,
        Y,
        epochs=3,
        batch_size=32,
        alpha=1e-3,
        rng=rs,
        sample_weight=w,
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


@pytest.mark.parametrize(
    "loss, solver",
    [
        ("squared_error", "adam"),
        ("poisson", "sgd"),
        ("huber", "sgd"),
        ("absolute_error", "adam"),
        ("squared_error", "adamw"),
        ("huber", "rmsprop"),
    ],
)
def test_train_reproduces_regressor_loss_curve(loss, solver):
    rng = np.random.default_rng(6)
    X = rng.normal(size=(90, 5))
    y = X @ rng.normal(size=5) * 0.3
    y = rng.poisson(np.exp(y)).astype(float) if loss == "poisson" else 3 * y
    kwargs = dict(
        hidden_layer_sizes=(6,),
        activation="tanh",
        solver=solver,
        loss=loss,
        batch_size=20,
        max_iter=4,
        tol=0.0,
        n_iter_no_change=100,
        random_state=1,
        learning_rate="invscaling",
        learning_rate_init=0.01,
        power_t=0.25,
        alpha=1e-2,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = skscratch.MLPRegressor(**kwargs).fit(X, y)

    rs = np.random.RandomState(1)
    net = Network.mlp([5, 6, 1], "tanh", loss)
    net.initialize(rs)
    schedule = dict(schedule="invscaling", power_t=0.25)
    alpha = 1e-2  # an L2 penalty in the objective, except for AdamW:
    if solver == "sgd":
        opt = SGD(0.01, **schedule)
    elif solver == "adam":
        opt = Adam(0.01)  # scikit-learn's Adam ignores the schedule
    elif solver == "adamw":  # decoupled decay, no penalty term
        opt = AdamW(0.01, weight_decay=alpha, n_decayed=net.n_weights, **schedule)
        alpha = 0.0
    else:
        opt = RMSprop(0.01, rho=0.999, epsilon=1e-8, **schedule)
    curve = train(
        net,
        opt,
        X,
        y[:, None],
        epochs=4,
        batch_size=20,
        alpha=alpha,
        rng=rs,
        tol=0.0,
        n_iter_no_change=100,
    )
    np.testing.assert_allclose(curve, est.loss_curve_, rtol=1e-10)


# -- 5. no imports from the rest of skscratch --------------------------------


def test_reference_imports_only_numpy_scipy_stdlib():
    # The one exception: _xp.py takes array_api_compat from scikit-learn's
    # vendored copy, to give each array's namespace.
    allowed = {("_xp.py", "sklearn.externals.array_api_compat")}
    for path in sorted(NN_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level > 0:  # relative: must stay inside skscratch/nn
                    assert node.level == 1, f"{path.name} leaves skscratch.nn"
                    continue
                names = [node.module]
            else:
                continue
            for name in names:
                if (path.name, name) in allowed:
                    continue
                top = name.split(".")[0]
                assert top not in ("skscratch", "sklearn", "numba"), (path.name, name)
                assert top in ("numpy", "scipy", "math", "itertools"), (path.name, name)


# -- 6. it learns ------------------------------------------------------------


def test_learns_xor():
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    Y = np.array([[0], [1], [1], [0]], dtype=float)
    net = Network.mlp([2, 8, 1], "tanh", "binary_log_loss")
    net.initialize(np.random.RandomState(0))
    curve = train(
        net,
        Adam(learning_rate=0.05),
        X,
        Y,
        epochs=500,
        batch_size=4,
        rng=np.random.RandomState(0),
        tol=0.0,
        n_iter_no_change=1000,
    )
    assert curve[-1] < 0.05
    np.testing.assert_array_equal(net.predict(X) > 0.5, Y > 0.5)


def test_learns_iris_with_dropout():
    X, y = _iris()
    Y = LabelBinarizer().fit_transform(y).astype(float)
    rng = np.random.default_rng(0)
    net = Network.mlp([4, 16, 3], "relu", "log_loss", dropout=0.1, rng=rng)
    net.initialize(np.random.RandomState(0))
    curve = train(
        net, Adam(learning_rate=0.01), X, Y, epochs=100, batch_size=16, rng=rng
    )
    assert curve[-1] < curve[0]
    accuracy = np.mean(net.predict(X).argmax(axis=1) == y)
    assert accuracy > 0.95


def test_train_reproduces_adaptive_schedule_and_stopping():
    X, y = _iris()
    kwargs = dict(
        hidden_layer_sizes=(8,),
        solver="sgd",
        batch_size=50,
        max_iter=40,
        tol=0.05,
        n_iter_no_change=2,
        random_state=3,
        momentum=0.5,
        learning_rate="adaptive",
        learning_rate_init=0.5,
        alpha=0.0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = skscratch.MLPClassifier(**kwargs).fit(X, y)

    rs = np.random.RandomState(3)
    net = Network.mlp([4, 8, 3], "relu", "log_loss")
    net.initialize(rs)
    opt = SGD(0.5, momentum=0.5, schedule="adaptive")
    Y = LabelBinarizer().fit_transform(y).astype(float)
    curve = train(
        net, opt, X, Y, epochs=40, batch_size=50, rng=rs, tol=0.05, n_iter_no_change=2
    )
    assert 3 < len(curve) < 40  # stopped early, after lowering the rate
    assert opt.schedule.lr < 0.5
    np.testing.assert_allclose(curve, est.loss_curve_, rtol=1e-10)
