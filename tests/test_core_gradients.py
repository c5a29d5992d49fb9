"""Finite-difference checks of every derivative the core computes.

Each test compares an analytic gradient with central differences in float64.
A wrong sign, a missing factor or a transposed product shows up as a relative
error of order 1; correct code agrees to about 1e-7 or better.
"""

from itertools import pairwise

import numpy as np
import pytest

from skscratch._base import HIDDEN_ACTIVATIONS
from skscratch.core import (
    ACTIVATIONS,
    LOSSES,
    ActivationLayer,
    Dense,
    Network,
    build_mlp,
    check_gradients,
    get_loss,
)

TOLERANCE = 1e-6


def _targets(loss, n_samples, n_outputs, rng):
    if loss == "log_loss":
        return np.eye(n_outputs)[rng.integers(0, n_outputs, n_samples)]
    if loss == "binary_log_loss":
        return (rng.random((n_samples, n_outputs)) > 0.5).astype(float)
    if loss == "poisson":
        return rng.poisson(2.0, (n_samples, n_outputs)).astype(float)
    if loss in ("absolute_error", "huber"):
        # Far from the network's outputs (which stay within a few units), so
        # no error sits on absolute_error's kink, and huber sees errors on
        # both sides of its delta.
        return rng.normal(scale=3.0, size=(n_samples, n_outputs)) + 0.37
    return rng.normal(size=(n_samples, n_outputs))


def _numeric_elementwise(f, z, h=1e-6):
    return (f(z + h) - f(z - h)) / (2 * h)


@pytest.mark.parametrize("name", [*HIDDEN_ACTIVATIONS, "exp"])
def test_activation_derivative_matches_finite_differences(name):
    act = ACTIVATIONS[name]
    rng = np.random.default_rng(0)
    z = rng.normal(scale=2.0, size=(6, 5))
    z[np.abs(z) < 1e-3] = 0.5  # keep relu's kink out of the finite differences

    def f(v):
        return act.forward(v.copy(), out=np.empty_like(v))

    a = f(z)
    grad = rng.normal(size=z.shape)
    analytic = act.backward(grad.copy(), a, z)
    numeric = grad * _numeric_elementwise(f, z)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-7, atol=1e-9)
    if act.keeps_derivative:
        # The derivative forward hands to backward is the same derivative.
        kept = np.full_like(z, np.nan)
        a_kept = act.forward(z.copy(), out=np.empty_like(z), derivative=kept)
        np.testing.assert_array_equal(a_kept, a)
        np.testing.assert_allclose(
            act.backward(grad.copy(), a, z, derivative=kept),
            numeric,
            rtol=1e-7,
            atol=1e-9,
        )


def test_softmax_backward_is_the_jacobian_vector_product():
    act = ACTIVATIONS["softmax"]
    rng = np.random.default_rng(1)
    z = rng.normal(size=(4, 5))
    g = rng.normal(size=(4, 5))
    a = act.forward(z.copy(), out=np.empty_like(z))
    analytic = act.backward(g.copy(), a)
    h = 1e-6
    numeric = np.empty_like(z)
    for i in range(z.shape[0]):
        for k in range(z.shape[1]):
            zp, zm = z.copy(), z.copy()
            zp[i, k] += h
            zm[i, k] -= h
            ap = act.forward(zp, out=np.empty_like(z))
            am = act.forward(zm, out=np.empty_like(z))
            numeric[i, k] = np.dot(g[i], ap[i] - am[i]) / (2 * h)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-7, atol=1e-10)


def test_softmax_is_stable_for_huge_scores():
    act = ACTIVATIONS["softmax"]
    z = np.array([[1000.0, 1000.0, -1000.0], [1e300, 0.0, -1e300]])
    p = act.forward(z.copy(), out=np.empty_like(z))
    assert np.isfinite(p).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_allclose(p[0], [0.5, 0.5, 0.0], atol=1e-300)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_gradient_matches_finite_differences(name):
    """d(sum of per-sample losses)/dz equals the loss's ``gradient``."""
    loss = get_loss(name)
    rng = np.random.default_rng(2)
    n_outputs = 1 if name == "binary_log_loss" else 3
    y = _targets(name, 5, n_outputs, rng)
    z = rng.normal(size=(5, n_outputs))

    def total(zz):
        p = loss.activation.forward(zz.copy(), out=np.empty_like(zz))
        return loss.total(y, p)

    p = loss.activation.forward(z.copy(), out=np.empty_like(z))
    analytic = loss.gradient(y, p, out=np.empty_like(z))
    numeric = np.empty_like(z)
    h = 1e-6
    for idx in np.ndindex(z.shape):
        zp, zm = z.copy(), z.copy()
        zp[idx] += h
        zm[idx] -= h
        numeric[idx] = (total(zp) - total(zm)) / (2 * h)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)


def test_losses_match_hand_computed_values():
    y = np.array([[0.0, 1.0], [1.0, 0.0]])
    p = np.array([[0.2, 0.8], [0.6, 0.4]])
    expected_log = -(np.log(0.8) + np.log(0.6))
    assert get_loss("log_loss").total(y, p) == pytest.approx(expected_log)
    yb, pb = np.array([[1.0], [0.0]]), np.array([[0.9], [0.3]])
    assert get_loss("binary_log_loss").total(yb, pb) == pytest.approx(
        -(np.log(0.9) + np.log(0.7))
    )
    # Squared error is halved and averaged over outputs: (1 + 4) / 2 / 2.
    assert get_loss("squared_error").total(
        np.array([[0.0, 0.0]]), np.array([[1.0, 2.0]])
    ) == pytest.approx(1.25)
    # Poisson deviance / 2 of y=2 at mean 1: 2 log 2 - 2 + 1.
    assert get_loss("poisson").total(np.array([[2.0]]), np.array([[1.0]])) == (
        pytest.approx(2 * np.log(2) - 1)
    )
    # Weighted: sum_i w_i l_i.
    assert get_loss("log_loss").total(y, p, np.array([2.0, 0.0])) == pytest.approx(
        -2 * np.log(0.8)
    )


def test_log_losses_stay_finite_for_certain_wrong_predictions():
    y = np.array([[1.0, 0.0]])
    p = np.array([[0.0, 1.0]])
    assert np.isfinite(get_loss("log_loss").total(y, p))
    assert np.isfinite(get_loss("binary_log_loss").total(y[:, :1], p[:, :1]))


def test_dense_layer_backward_matches_finite_differences():
    rng = np.random.default_rng(3)
    layer = Dense(4, 3)
    layer.W[...] = rng.normal(size=(4, 3))
    layer.b[...] = rng.normal(size=3)
    x = rng.normal(size=(5, 4))
    g = rng.normal(size=(5, 3))  # dL/dY for L = sum(g * Y)

    def L():
        return float(np.sum(g * layer.forward(x.copy(), training=False)))

    layer.forward(x, training=True)
    grad_x = layer.backward(g).copy()
    dW, db = layer.dW.copy(), layer.db.copy()
    np.testing.assert_allclose(dW, x.T @ g)
    np.testing.assert_allclose(db, g.sum(axis=0))
    np.testing.assert_allclose(grad_x, g @ layer.W.T)
    h = 1e-6
    for arr, analytic in ((layer.W, dW), (layer.b, db)):
        for idx in np.ndindex(arr.shape):
            old = arr[idx]
            arr[idx] = old + h
            up = L()
            arr[idx] = old - h
            down = L()
            arr[idx] = old
            assert (up - down) / (2 * h) == pytest.approx(analytic[idx], rel=1e-6)


@pytest.mark.parametrize("activation", HIDDEN_ACTIVATIONS)
@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_network_gradient_every_activation_and_loss(activation, loss):
    """The whole network, with penalty and sample weights, for every pair."""
    rng = np.random.default_rng(4)
    n_outputs = 3
    net = build_mlp([4, 6, 5, n_outputs], activation)
    net.initialize(rng)
    X = rng.normal(size=(7, 4))
    Y = _targets(loss, 7, n_outputs, rng)
    sw = rng.random(7) + 0.1
    result = check_gradients(net, X, Y, loss, alpha=0.3, sample_weight=sw)
    assert result.indices.size == net.n_params
    assert result.max_rel_error < TOLERANCE, str(result)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_multi_output_squared_error_gradient_matches_reported_loss():
    """scikit-learn's multi-output squared-error gradient is n_outputs times
    the gradient of the loss it reports (its issue #8349); ours matches."""
    from sklearn.neural_network import MLPRegressor

    rng = np.random.default_rng(5)
    X = rng.normal(size=(20, 3))
    Y = rng.normal(size=(20, 4))
    net = build_mlp([3, 5, 4], "tanh")
    net.initialize(rng)
    result = check_gradients(net, X, Y, "squared_error", alpha=1e-3)
    assert result.max_rel_error < TOLERANCE, str(result)

    # scikit-learn's loss for the same parameters is ours, its gradient is not.
    # Its private _backprop is the only way to read that gradient.
    sk = MLPRegressor(hidden_layer_sizes=(5,), activation="tanh", alpha=1e-3)
    sk.fit(X, Y, sample_weight=None)  # only to set up its internal attributes
    if not hasattr(sk, "_backprop"):
        pytest.skip("scikit-learn's private _backprop is gone")
    sk.coefs_ = [c.copy() for c in net.coefs]
    sk.intercepts_ = [b.copy() for b in net.intercepts]
    sk.n_layers_, sk.out_activation_ = 3, "identity"
    units = [3, 5, 4]
    acts = [X] + [None] * 2
    deltas = [None] * 2
    coef_grads = [np.empty((a, b)) for a, b in pairwise(units)]
    icpt_grads = [np.empty(b) for b in units[1:]]
    sk_loss, coef_grads, icpt_grads = sk._backprop(
        X, Y, None, acts, deltas, coef_grads, icpt_grads
    )
    ours = net.loss_and_gradient(X, Y, "squared_error", alpha=1e-3)
    assert ours == pytest.approx(sk_loss, rel=1e-12)
    ours_output_bias = net.dense_layers[-1].db
    np.testing.assert_allclose(icpt_grads[-1], 4 * ours_output_bias, rtol=1e-10)


def test_hand_built_network_with_softmax_layer_and_unfused_gradient():
    """A network ending in an explicit softmax layer backpropagates through
    the softmax Jacobian; the result equals the fused ``p - y`` shortcut."""
    rng = np.random.default_rng(6)
    X = rng.normal(size=(5, 4))
    Y = np.eye(3)[rng.integers(0, 3, 5)]
    fused = Network([Dense(4, 6), ActivationLayer("tanh"), Dense(6, 3)])
    fused.initialize(rng)
    fused.loss_and_gradient(X, Y, "log_loss")

    explicit = Network(
        [Dense(4, 6), ActivationLayer("tanh"), Dense(6, 3), ActivationLayer("softmax")]
    )
    explicit.params[...] = fused.params
    p = explicit.forward(X, training=True)
    # Cross-entropy gradient with respect to the probabilities: -y / p / n.
    explicit.backward(-Y / p / X.shape[0])
    np.testing.assert_allclose(explicit.grads, fused.grads, rtol=1e-9, atol=1e-12)


def test_gradient_check_flags_a_wrong_gradient():
    """The checker itself must be able to fail."""
    rng = np.random.default_rng(7)
    net = build_mlp([3, 4, 2], "relu")
    net.initialize(rng)
    X = rng.normal(size=(6, 3))
    Y = np.eye(2)[rng.integers(0, 2, 6)]
    original = net.loss_and_gradient

    def wrong(*args, **kwargs):
        value = original(*args, **kwargs)
        net.grads[0] *= 2.0
        return value

    net.loss_and_gradient = wrong
    assert check_gradients(net, X, Y, "log_loss").max_rel_error > 0.1


def test_gradient_check_on_a_subset_and_restores_parameters():
    rng = np.random.default_rng(8)
    net = build_mlp([3, 4, 2], "tanh")
    net.initialize(rng)
    before = net.params.copy()
    X = rng.normal(size=(6, 3))
    Y = np.eye(2)[rng.integers(0, 2, 6)]
    result = check_gradients(net, X, Y, "log_loss", max_params=5, random_state=0)
    assert result.indices.size == 5
    assert result.max_rel_error < TOLERANCE
    np.testing.assert_array_equal(net.params, before)


@pytest.mark.parametrize("name", ["leaky_relu", "elu", "gelu", "softplus", "silu"])
def test_new_activations_match_their_definitions(name):
    from scipy.special import erf, expit

    z = np.linspace(-6, 6, 49)[:, None]
    expected = {
        "leaky_relu": np.where(z > 0, z, 0.01 * z),
        "elu": np.where(z > 0, z, np.exp(z) - 1),
        "gelu": 0.5 * z * (1 + erf(z / np.sqrt(2))),
        "softplus": np.log1p(np.exp(z)),
        "silu": z * expit(z),
    }[name]
    out = ACTIVATIONS[name].forward(z.copy(), out=np.empty_like(z))
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-15)
    # In place gives the same, and large inputs do not overflow.
    inplace = z.copy()
    ACTIVATIONS[name].forward(inplace, out=inplace)
    np.testing.assert_allclose(inplace, expected, rtol=1e-12, atol=1e-15)
    big = np.array([[1000.0, -1000.0]])
    assert np.isfinite(ACTIVATIONS[name].forward(big, out=np.empty_like(big))).all()


@pytest.mark.parametrize("delta", [0.1, 1.0, 50.0])
def test_huber_gradient_and_limits(delta):
    from skscratch.core.losses import HuberLoss

    loss = HuberLoss(delta)
    rng = np.random.default_rng(9)
    y = rng.normal(scale=2, size=(30, 2))
    z = rng.normal(size=(30, 2))
    analytic = loss.gradient(y, z, out=np.empty_like(z))
    h = 1e-6
    numeric = np.empty_like(z)
    for idx in np.ndindex(z.shape):
        zp, zm = z.copy(), z.copy()
        zp[idx] += h
        zm[idx] -= h
        numeric[idx] = (loss.total(y, zp) - loss.total(y, zm)) / (2 * h)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)
    if delta == 50.0:  # every error inside delta: it is the squared error
        assert loss.total(y, z) == pytest.approx(get_loss("squared_error").total(y, z))
    with pytest.raises(ValueError, match="delta must be positive"):
        HuberLoss(0)


def test_dropout_layer_forward_backward():
    from skscratch.core import Dropout

    layer = Dropout(0.25, random_state=0)
    x = np.ones((400, 50))
    out = layer.forward(x, training=True).copy()
    kept = out != 0
    # Inverted dropout: survivors scaled by 1/(1 - rate), about 75% kept.
    np.testing.assert_allclose(out[kept], 1 / 0.75)
    assert abs(kept.mean() - 0.75) < 0.01
    grad = layer.backward(np.full_like(x, 2.0))
    np.testing.assert_allclose(grad, np.where(kept, 2 / 0.75, 0.0))
    assert np.array_equal(x, np.ones((400, 50)))  # input untouched
    # Off at prediction time: the input itself comes back.
    assert layer.forward(x, training=False) is x
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        Dropout(1.0)


def test_network_gradient_with_dropout_and_a_fixed_mask():
    """With the mask frozen (same seed before every evaluation), dropout is
    a fixed linear map and finite differences apply."""
    rng = np.random.default_rng(10)
    net = build_mlp([5, 8, 6, 3], "tanh", dropout=[0.3, 0.5])
    net.initialize(rng)
    X = rng.normal(size=(9, 5))
    Y = np.eye(3)[rng.integers(0, 3, 9)]
    original = net.loss_and_gradient

    def frozen(*args, **kwargs):
        net.seed_dropout(123)
        return original(*args, **kwargs)

    net.loss_and_gradient = frozen
    result = check_gradients(net, X, Y, "log_loss", alpha=0.1)
    assert result.max_rel_error < TOLERANCE, str(result)
    assert len(net.dropout_layers) == 2
