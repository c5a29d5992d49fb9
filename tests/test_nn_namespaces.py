"""The reference engine on other array namespaces: the same numbers as on
NumPy, gradients checked by finite differences in the namespace itself."""

import numpy as np
import pytest

from skscratch import nn


def _strict():
    return pytest.importorskip("array_api_strict")


def _torch():
    return pytest.importorskip("torch")


NAMESPACES = {"array_api_strict": _strict, "torch": _torch}


def _host(a):
    try:
        return np.asarray(a)
    except (TypeError, RuntimeError):  # array-api-strict forbids __array__
        return np.from_dlpack(a)


def _targets(loss, rng, n, k):
    if loss == "log_loss":
        return np.eye(k)[rng.integers(0, k, n)]
    if loss == "binary_log_loss":
        return rng.integers(0, 2, (n, k)).astype(float)
    if loss == "poisson":
        return rng.poisson(2.0, (n, k)).astype(float)
    return rng.normal(size=(n, k))


def _network(activation, loss, like):
    net = nn.Network.mlp([4, 5, 3], activation, loss, like=like)
    net.initialize(np.random.RandomState(0), factor=2.0)
    return net


@pytest.mark.parametrize("name", sorted(NAMESPACES))
@pytest.mark.parametrize("activation", sorted(set(nn.ACTIVATIONS) - {"softmax"}))
def test_gradient_check_in_the_namespace(name, activation):
    xp = NAMESPACES[name]()
    rng = np.random.default_rng(0)
    X = xp.asarray(rng.uniform(0.1, 1.0, (6, 4)))
    Y = xp.asarray(_targets("log_loss", rng, 6, 3))
    net = _network(activation, "log_loss", like=X)
    assert nn.gradient_check(net, X, Y, alpha=0.3) < 1e-6


@pytest.mark.parametrize("name", sorted(NAMESPACES))
@pytest.mark.parametrize("loss", sorted(nn.LOSSES))
def test_every_loss_trains_as_on_numpy(name, loss):
    xp = NAMESPACES[name]()
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 4))
    Y = _targets(loss, rng, 40, 3)
    sw = rng.uniform(0.5, 2.0, 40)
    curves, outputs = [], []
    for to in (np.asarray, xp.asarray):
        net = _network("tanh", loss, like=to(np.zeros(0)))
        curve = nn.train(
            net,
            nn.Adam(0.01),
            to(X),
            to(Y),
            epochs=3,
            batch_size=16,
            alpha=0.1,
            sample_weight=to(sw),
            rng=np.random.RandomState(2),
        )
        curves.append(curve)
        outputs.append(_host(net.predict(to(X))))
    np.testing.assert_allclose(curves[1], curves[0], rtol=1e-12)
    np.testing.assert_allclose(outputs[1], outputs[0], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", sorted(NAMESPACES))
def test_lbfgs_glue_matches_numpy(name):
    xp = NAMESPACES[name]()
    rng = np.random.default_rng(3)
    X = rng.normal(size=(30, 4))
    Y = _targets("log_loss", rng, 30, 3)
    results = []
    for to in (np.asarray, xp.asarray):
        net = _network("relu", "log_loss", like=to(np.zeros(0)))
        result = nn.minimize_lbfgs(
            net, to(X), to(Y), alpha=0.1, max_iter=15, to_host=_host
        )
        results.append((result.fun, _host(net.params)))
    assert results[1][0] == pytest.approx(results[0][0], rel=1e-10)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-8, atol=1e-10)
