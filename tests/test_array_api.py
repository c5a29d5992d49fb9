"""Array-API dispatch: the estimators on array-api-strict and PyTorch (CPU).

Under ``sklearn.config_context(array_api_dispatch=True)``, non-NumPy input
trains on the reference engine in its own namespace. The same seed gives the
same initial weights and shuffles as NumPy input, so the fitted models agree
with the NumPy ones to rounding (float64) or to float32 precision.
"""

import pickle
import warnings

import numpy as np
import pytest
from sklearn import clone, config_context
from sklearn.datasets import make_classification, make_regression
from sklearn.model_selection import GridSearchCV

from skscratch import MLPClassifier, MLPRegressor, _namespaces, nn

if not _namespaces.supported():
    pytest.skip("array-API dispatch needs scikit-learn >= 1.9", allow_module_level=True)
try:
    from sklearn.utils._array_api import _check_array_api_dispatch

    _check_array_api_dispatch(True)
except (ImportError, RuntimeError) as exc:  # SciPy imported without its mode
    pytest.skip(str(exc), allow_module_level=True)

from sklearn.utils._array_api import (
    get_namespace_and_device,
    move_estimator_to,
)


def _strict():
    xp = pytest.importorskip("array_api_strict")
    return xp, xp.Device("CPU_DEVICE")


def _torch():
    torch = pytest.importorskip("torch")
    return torch, "cpu"


NAMESPACES = {"array_api_strict": _strict, "torch": _torch}
TOLERANCE = {"float64": 1e-10, "float32": 2e-4}


def _to(name, dtype, *arrays):
    """``arrays`` as ``name``'s arrays (floats in ``dtype``), on its CPU."""
    xp, device = NAMESPACES[name]()
    out = []
    for a in arrays:
        a = np.asarray(a)
        if a.dtype.kind == "f":
            a = a.astype(dtype)
        out.append(xp.asarray(a, device=device))
    return out


def _host(a):
    return _namespaces.on_host(a)


def _classification(n_classes=3):
    X, y = make_classification(
        n_samples=80,
        n_features=6,
        n_informative=4,
        n_classes=n_classes,
        random_state=0,
    )
    return X, y


def _fit_both(est, X, y, name, dtype, **fit_params):
    """The NumPy fit and the dispatched fit of ``est`` on the same data."""
    X = X.astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = clone(est).fit(X, y, **fit_params)
        moved = {k: _to(name, dtype, v)[0] for k, v in fit_params.items()}
        X_xp, y_xp = _to(name, dtype, X, y)
        with config_context(array_api_dispatch=True):
            fitted = clone(est).fit(X_xp, y_xp, **moved)
    return reference, fitted, X_xp


@pytest.mark.parametrize("name", sorted(NAMESPACES))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("solver", ["sgd", "adam", "adamw", "rmsprop", "lbfgs"])
def test_classifier_matches_numpy(name, dtype, solver):
    X, y = _classification()
    est = MLPClassifier(
        hidden_layer_sizes=(7, 5), solver=solver, max_iter=6, random_state=0
    )
    reference, fitted, X_xp = _fit_both(est, X, y, name, dtype)
    tol = TOLERANCE[dtype]
    np.testing.assert_allclose(fitted.loss_curve_, reference.loss_curve_, rtol=tol)
    for W, W_ref in zip(fitted.coefs_, reference.coefs_, strict=True):
        np.testing.assert_allclose(_host(W), W_ref, rtol=tol, atol=tol)
    with config_context(array_api_dispatch=True):
        proba = fitted.predict_proba(X_xp)
        log_proba = fitted.predict_log_proba(X_xp)
        labels = fitted.predict(X_xp)
    X_np = X.astype(dtype)
    np.testing.assert_allclose(
        _host(proba), reference.predict_proba(X_np), rtol=tol, atol=tol
    )
    np.testing.assert_allclose(
        _host(log_proba), reference.predict_log_proba(X_np), rtol=10 * tol, atol=tol
    )
    np.testing.assert_array_equal(_host(labels), reference.predict(X_np))


@pytest.mark.parametrize("name", sorted(NAMESPACES))
@pytest.mark.parametrize("activation", sorted(set(nn.ACTIVATIONS) - {"softmax", "exp"}))
def test_every_activation_matches_numpy(name, activation):
    X, y = make_regression(n_samples=60, n_features=5, random_state=0)
    est = MLPRegressor(
        hidden_layer_sizes=(6,), activation=activation, max_iter=4, random_state=0
    )
    reference, fitted, X_xp = _fit_both(est, X, y / 100, name, "float64")
    np.testing.assert_allclose(fitted.loss_curve_, reference.loss_curve_, rtol=1e-10)
    with config_context(array_api_dispatch=True):
        pred = fitted.predict(X_xp)
    np.testing.assert_allclose(_host(pred), reference.predict(X), rtol=1e-9)


@pytest.mark.parametrize("name", sorted(NAMESPACES))
@pytest.mark.parametrize(
    "est",
    [
        MLPRegressor(loss="poisson", solver="lbfgs"),
        MLPRegressor(loss="absolute_error", solver="sgd"),
        MLPRegressor(loss="huber", solver="adam", alpha=0.1, huber_delta=0.5),
        MLPClassifier(loss="squared_error", activation="logistic"),
        MLPClassifier(class_weight="balanced", solver="sgd"),
    ],
    ids=["poisson", "absolute_error", "huber", "clf-squared_error", "class_weight"],
)
def test_every_loss_and_weighting_matches_numpy(name, est):
    if isinstance(est, MLPClassifier):
        X, y = _classification(n_classes=2)
    else:
        X, y = make_regression(n_samples=60, n_features=5, random_state=0)
        y = np.abs(y) / 100
    est = clone(est).set_params(hidden_layer_sizes=(6,), max_iter=5, random_state=0)
    sample_weight = np.linspace(0.5, 2.0, len(y))
    reference, fitted, _ = _fit_both(
        est, X, y, name, "float64", sample_weight=sample_weight
    )
    np.testing.assert_allclose(fitted.loss_curve_, reference.loss_curve_, rtol=1e-9)


@pytest.mark.parametrize("name", sorted(NAMESPACES))
def test_fitted_attributes_and_outputs_live_in_the_input_namespace(name):
    X, y = _classification()
    X_xp, y_xp = _to(name, "float32", X, y)
    _, device = NAMESPACES[name]()
    with config_context(array_api_dispatch=True):
        est = MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(X_xp, y_xp)
        outputs = [est.predict(X_xp), est.predict_proba(X_xp), *est.coefs_]
        outputs += est.intercepts_
        for a in outputs:
            a_xp, _, a_device = get_namespace_and_device(a)
            assert a_xp.__name__ == get_namespace_and_device(X_xp)[0].__name__
            assert str(a_device) == str(device)
        assert isinstance(est.score(X_xp, y_xp), float)
    assert all(isinstance(v, float) for v in est.loss_curve_)
    assert _host(est.coefs_[0]).dtype == np.float32
    assert isinstance(est.classes_, np.ndarray)  # encoded on the host


@pytest.mark.parametrize("name", sorted(NAMESPACES))
def test_partial_fit_warm_start_and_early_stopping(name):
    X, y = _classification()
    X_xp, y_xp = _to(name, "float64", X, y)
    with config_context(array_api_dispatch=True), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = MLPClassifier(hidden_layer_sizes=(5,), random_state=0)
        est.partial_fit(X_xp, y_xp, classes=np.unique(y))
        est.partial_fit(X_xp, y_xp)
        assert est.n_iter_ == 1 and len(est.loss_curve_) == 2
        warm = MLPClassifier(max_iter=3, warm_start=True, random_state=0)
        warm.fit(X_xp, y_xp).fit(X_xp, y_xp)
        assert len(warm.loss_curve_) == 6
        stopped = MLPClassifier(
            early_stopping=True, max_iter=30, random_state=0, n_iter_no_change=2
        ).fit(X_xp, y_xp)
    reference = MLPClassifier(
        early_stopping=True, max_iter=30, random_state=0, n_iter_no_change=2
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference.fit(X, y)
    np.testing.assert_allclose(
        stopped.validation_scores_, reference.validation_scores_, rtol=1e-12
    )
    np.testing.assert_allclose(_host(stopped.coefs_[0]), reference.coefs_[0])


@pytest.mark.parametrize("name", sorted(NAMESPACES))
def test_dropout_and_callbacks_run_on_the_namespace(name):
    X, y = _classification()
    X_xp, y_xp = _to(name, "float64", X, y)
    seen = []
    est = MLPClassifier(
        hidden_layer_sizes=(16,),
        dropout=0.2,
        batch_size=16,
        learning_rate_init=0.01,
        max_iter=40,
        random_state=0,
        callbacks=[lambda est, record: seen.append(record.epoch)],
    )
    with config_context(array_api_dispatch=True), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X_xp, y_xp)
        assert est.score(X_xp, y_xp) > 0.8
    assert seen == list(range(1, est.n_iter_ + 1))


@pytest.mark.parametrize("name", sorted(NAMESPACES))
def test_mixing_namespaces_is_a_clear_error(name):
    X, y = _classification()
    X_xp, y_xp = _to(name, "float64", X, y)
    est = MLPClassifier(max_iter=2, random_state=0)
    with config_context(array_api_dispatch=True), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X_xp, y_xp)
        with pytest.raises(ValueError, match="must use the same namespace"):
            est.predict(X)
        with pytest.raises(ValueError, match="Cannot continue training"):
            est.partial_fit(X, y)
        numpy_model = MLPClassifier(max_iter=2, random_state=0).fit(X, y)
        with pytest.raises(ValueError, match="must use the same namespace"):
            numpy_model.predict_proba(X_xp)
    # The failed partial_fit left the model as it was.
    assert len(est.loss_curve_) == 2


def test_y_and_sample_weight_follow_x():
    torch = pytest.importorskip("torch")
    X, y = _classification()
    with config_context(array_api_dispatch=True), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = MLPClassifier(max_iter=3, random_state=0)
        est.fit(torch.asarray(X), y, sample_weight=np.ones(len(y)))
        assert isinstance(est.coefs_[0], torch.Tensor)
        numpy_fit = MLPClassifier(max_iter=3, random_state=0)
        numpy_fit.fit(X, torch.asarray(y), sample_weight=torch.ones(len(y)))
        assert isinstance(numpy_fit.coefs_[0], np.ndarray)


def test_grid_search_under_dispatch():
    torch = pytest.importorskip("torch")
    X, y = _classification()
    grid = GridSearchCV(
        MLPClassifier(max_iter=20, random_state=0),
        {"alpha": [1e-4, 1e-1]},
        cv=3,
    )
    with config_context(array_api_dispatch=True), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        grid.fit(torch.asarray(X), torch.asarray(y))
        assert isinstance(grid.predict(torch.asarray(X)), torch.Tensor)
    assert isinstance(grid.best_estimator_.coefs_[0], torch.Tensor)


def test_pickle_and_move_to_numpy():
    torch = pytest.importorskip("torch")
    X, y = _classification()
    X_t, y_t = torch.asarray(X), torch.asarray(y)
    with config_context(array_api_dispatch=True), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = MLPClassifier(max_iter=5, random_state=0).fit(X_t, y_t)
        expected = _host(est.predict_proba(X_t))
        loaded = pickle.loads(pickle.dumps(est))
        np.testing.assert_array_equal(_host(loaded.predict_proba(X_t)), expected)
    on_numpy = move_estimator_to(est, np, "cpu")
    assert isinstance(on_numpy.coefs_[0], np.ndarray)
    np.testing.assert_allclose(on_numpy.predict_proba(X), expected, rtol=1e-12)


def test_custom_activation_under_dispatch_is_a_clear_error():
    torch = pytest.importorskip("torch")
    X, y = _classification()
    from skscratch import CustomActivation

    # Named like a built-in: it must not be taken for the built-in.
    square = CustomActivation(np.square, lambda z, a: 2 * z, name="relu")
    est = MLPClassifier(activation=square, max_iter=2, random_state=0)
    with (
        config_context(array_api_dispatch=True),
        pytest.raises(ValueError, match="NumPy arrays only"),
    ):
        est.fit(torch.asarray(X), torch.asarray(y))
    assert not hasattr(est, "coefs_")


def test_a_pickle_holds_numpy_and_loads_where_the_device_is_missing():
    torch = pytest.importorskip("torch")
    X, y = _classification()
    X_t, y_t = torch.asarray(X), torch.asarray(y)
    with config_context(array_api_dispatch=True), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = MLPClassifier(max_iter=3, random_state=0).fit(X_t, y_t)
        expected = _host(est.predict_proba(X_t))
    state = est.__getstate__()
    assert isinstance(state["coefs_"][0], np.ndarray)
    assert isinstance(state["_optimizer"].m, np.ndarray)
    # As on a machine without that GPU: the model loads on NumPy, and says so.
    name, _, moved = state["_fitted_namespace"]
    state["_fitted_namespace"] = (name, "cuda:7", moved)
    lost = MLPClassifier.__new__(MLPClassifier)
    with pytest.warns(UserWarning, match="loaded as a NumPy model"):
        lost.__setstate__(state)
    assert isinstance(lost.coefs_[0], np.ndarray)
    np.testing.assert_allclose(lost.predict_proba(X), expected, rtol=1e-12)
    # Where the device exists, it goes back there, optimizer state included.
    back = pickle.loads(pickle.dumps(est))
    assert isinstance(back.coefs_[0], torch.Tensor)
    assert isinstance(back._optimizer.m, torch.Tensor)
    with config_context(array_api_dispatch=True), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        back.partial_fit(X_t, y_t)  # continues where it stopped
    assert back.n_iter_ == 1


def test_onnx_export_of_a_torch_fitted_model():
    torch = pytest.importorskip("torch")
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("skl2onnx")
    from skl2onnx import to_onnx

    import skscratch.onnx  # noqa: F401 (registers the converters)

    X, y = _classification()
    X32 = X.astype(np.float32)
    with config_context(array_api_dispatch=True), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = MLPClassifier(max_iter=5, random_state=0)
        est.fit(torch.asarray(X32), torch.asarray(y))
        expected = _host(est.predict_proba(torch.asarray(X32)))
    onx = to_onnx(est, X32[:1], options={id(est): {"zipmap": False}})
    session = ort.InferenceSession(onx.SerializeToString())
    _, proba = session.run(None, {session.get_inputs()[0].name: X32})
    np.testing.assert_allclose(proba, expected, rtol=1e-5, atol=1e-6)


def test_skops_round_trip_of_a_torch_fitted_model():
    torch = pytest.importorskip("torch")
    pytest.importorskip("skops")
    from skscratch.skops import dumps, loads

    X, y = _classification()
    X_t = torch.asarray(X)
    with config_context(array_api_dispatch=True), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = MLPClassifier(max_iter=3, random_state=0).fit(X_t, torch.asarray(y))
        back = loads(dumps(est))
        assert isinstance(back.coefs_[0], torch.Tensor)
        np.testing.assert_array_equal(
            _host(back.predict_proba(X_t)), _host(est.predict_proba(X_t))
        )


def test_dispatch_needs_scikit_learn_1_9(monkeypatch):
    torch = pytest.importorskip("torch")
    X, y = _classification()
    monkeypatch.setattr(_namespaces, "move_to", None)  # as scikit-learn < 1.9
    est = MLPClassifier(max_iter=2, random_state=0)
    with (
        config_context(array_api_dispatch=True),
        pytest.raises(ValueError, match="needs scikit-learn 1.9"),
    ):
        est.fit(torch.asarray(X), torch.asarray(y))
    assert not hasattr(est, "coefs_")
