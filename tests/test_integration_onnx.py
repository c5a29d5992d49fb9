"""ONNX export: ``skl2onnx.to_onnx`` on skscratch models, run in onnxruntime.

Labels must equal ``predict`` exactly; probabilities and regression outputs
must equal ``predict_proba`` / ``predict`` within 1e-5 in float32 (and to
rounding in float64, but for gelu, whose ``Erf`` runs in float32).
"""

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skscratch import ScratchMLPClassifier, ScratchMLPRegressor
from skscratch._base import HIDDEN_ACTIVATIONS

REASON = 'needs the onnx extra: pip install "skscratch[onnx]"'
skl2onnx = pytest.importorskip("skl2onnx", reason=REASON)
ort = pytest.importorskip("onnxruntime", reason=REASON)
skscratch_onnx = pytest.importorskip("skscratch.onnx", reason=REASON)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

TASKS = ("binary", "multiclass", "multilabel", "regression", "poisson")
TOLERANCE = {np.float32: 1e-5, np.float64: 1e-12}


def _data(task, dtype, n=200, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 5))
    if task == "binary":  # string labels
        y = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    elif task == "multiclass":  # integer labels that are not 0..n-1
        y = np.array([-1, 3, 10])[np.digitize(X[:, 0] - X[:, 2], [-0.5, 0.5])]
    elif task == "multilabel":
        y = (X[:, :3] + 0.5 * X[:, 3:4] > 0).astype(int)
    elif task == "regression":  # two outputs
        y = np.column_stack([X[:, 0] - 2 * X[:, 1], np.sin(X[:, 2])])
    else:  # poisson: counts
        y = rng.poisson(np.exp(0.5 * X[:, 0]))
    return X.astype(dtype), y


def _model(task, activation, dtype, **params):
    X, y = _data(task, dtype)
    params = (
        dict(
            hidden_layer_sizes=(8, 6),
            activation=activation,
            max_iter=40,
            random_state=0,
        )
        | params
    )
    if task == "poisson":
        model = ScratchMLPRegressor(loss="poisson", **params)
    elif task == "regression":
        model = ScratchMLPRegressor(**params)
    else:
        model = ScratchMLPClassifier(**params)
    return model.fit(X, y), X


def _to_onnx(model, X, **kwargs):
    """The model's graph for inputs like X; a classifier's probabilities as a
    plain matrix (zipmap off)."""
    if isinstance(model, ScratchMLPClassifier):
        kwargs.setdefault("options", {"zipmap": False})
    return skl2onnx.to_onnx(model, X[:1], **kwargs)


def _run(onx, X):
    session = ort.InferenceSession(
        onx.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    return session.run(None, {session.get_inputs()[0].name: X})


def _check_outputs(model, X, outputs, atol):
    """Compare the ONNX outputs with the model's; return the largest
    difference of the float outputs."""
    if isinstance(model, ScratchMLPClassifier):
        label, proba = outputs
        expected = model.predict(X)
        assert label.shape == expected.shape
        np.testing.assert_array_equal(label, expected)  # exactly
        expected_proba = model.predict_proba(X)
        assert proba.shape == expected_proba.shape
        got, want = proba, expected_proba
    else:
        (got,) = outputs
        want = model.predict(X).reshape(X.shape[0], -1)
        assert got.shape == (X.shape[0], model.n_outputs_)
    diff = float(np.abs(got.astype(np.float64) - want).max())
    assert diff <= atol, diff
    return diff


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("activation", HIDDEN_ACTIVATIONS)
def test_float32_model_matches_onnxruntime(activation, task):
    model, X = _model(task, activation, np.float32)
    assert model.coefs_[0].dtype == np.float32
    onx = _to_onnx(model, X)
    outputs = _run(onx, X)
    assert all(o.dtype != np.float64 for o in outputs)
    diff = _check_outputs(model, X, outputs, atol=TOLERANCE[np.float32])
    print(f"float32 {activation:>10} {task:>10}: max abs diff {diff:.2e}")


@pytest.mark.parametrize("task", ["multiclass", "binary", "regression"])
@pytest.mark.parametrize("activation", HIDDEN_ACTIVATIONS)
def test_float64_model_matches_onnxruntime(activation, task):
    model, X = _model(task, activation, np.float64)
    onx = _to_onnx(model, X)
    # onnxruntime has no float64 Erf: gelu's runs in float32 (see the module).
    atol = 1e-6 if activation == "gelu" else TOLERANCE[np.float64]
    diff = _check_outputs(model, X, _run(onx, X), atol=atol)
    print(f"float64 {activation:>10} {task:>10}: max abs diff {diff:.2e}")


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_float64_model_fed_float32_predicts_as_in_python(task):
    # The graph computes in the model's dtype, as predict does; only the float
    # outputs come back in the input's type.
    model, X = _model(task, "tanh", np.float64)
    X32 = X.astype(np.float32)
    onx = _to_onnx(model, X32)
    outputs = _run(onx, X32)
    assert outputs[-1].dtype == np.float32
    _check_outputs(model, X32, outputs, atol=1e-6)


@pytest.mark.parametrize("loss", ["absolute_error", "huber"])
def test_regression_losses(loss):
    model, X = _model("regression", "relu", np.float32, loss=loss)
    _check_outputs(model, X, _run(skl2onnx.to_onnx(model, X[:1]), X), atol=1e-5)


def test_default_zipmap_and_classifier_options():
    model, X = _model("multiclass", "relu", np.float32)
    # skl2onnx's default for classifiers: one {label: probability} per row.
    label, rows = _run(skl2onnx.to_onnx(model, X[:1]), X)
    np.testing.assert_array_equal(label, model.predict(X))
    proba = np.array([[row[c] for c in model.classes_] for row in rows])
    np.testing.assert_allclose(proba, model.predict_proba(X), atol=1e-5)

    options = {"zipmap": False, "output_class_labels": True}
    _, _, classes = _run(skl2onnx.to_onnx(model, X[:1], options=options), X)
    np.testing.assert_array_equal(classes, model.classes_)

    options = {"zipmap": False, "nocl": True}
    index, _ = _run(skl2onnx.to_onnx(model, X[:1], options=options), X)
    np.testing.assert_array_equal(model.classes_[index], model.predict(X))


@pytest.mark.parametrize(
    "labels", [[False, True], [0.0, 1.0, 2.0], np.array(["a", "b"], dtype=object)]
)
def test_other_label_types(labels):
    X, _ = _data("multiclass", np.float32)
    y = np.asarray(labels)[
        np.digitize(X[:, 0], np.linspace(-0.5, 0.5, len(labels) - 1))
    ]
    model = ScratchMLPClassifier(hidden_layer_sizes=(4,), max_iter=20, random_state=0)
    model.fit(X, y)
    label, _ = _run(_to_onnx(model, X), X)
    # Booleans and floats come back as int64, object strings as strings.
    np.testing.assert_array_equal(label, model.predict(X))


def test_in_a_pipeline():
    X, y = _data("regression", np.float32)
    X = X * 10 + 3
    pipe = make_pipeline(
        StandardScaler(),
        ScratchMLPRegressor(hidden_layer_sizes=(8,), max_iter=40, random_state=0),
    ).fit(X, y)
    (got,) = _run(skl2onnx.to_onnx(pipe, X[:1]), X)
    np.testing.assert_allclose(got, pipe.predict(X), atol=1e-5)


def test_partial_fit_model_and_changed_activation_parameter():
    # _hidden_activation, the one the network was trained with, is exported,
    # even after the parameter was changed without refitting.
    X, y = _data("binary", np.float32)
    model = ScratchMLPClassifier(hidden_layer_sizes=(6,), activation="silu")
    model.partial_fit(X, y, classes=["no", "yes"])
    model.set_params(activation="relu")
    label, proba = _run(_to_onnx(model, X), X)
    _check_outputs(model, X, (label, proba), atol=1e-5)


def test_errors():
    model, X = _model("multiclass", "relu", np.float32)
    with pytest.raises(ValueError, match="3 features but .* fitted with 5"):
        skl2onnx.to_onnx(model, X[:1, :3])
    with pytest.raises(RuntimeError, match="target_opset >= 11"):
        skl2onnx.to_onnx(model, X[:1], target_opset=10)
    single = ScratchMLPClassifier(max_iter=2).fit(X, np.zeros(len(X), dtype=int))
    with pytest.raises(ValueError, match="single class"):
        skl2onnx.to_onnx(single, X[:1], options={"zipmap": False})


def test_oldest_supported_opset():
    for activation in HIDDEN_ACTIVATIONS:
        model, X = _model("binary", activation, np.float32)
        onx = _to_onnx(model, X, target_opset=skscratch_onnx.MIN_OPSET)
        _check_outputs(model, X, _run(onx, X), atol=1e-5)
