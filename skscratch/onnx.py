"""ONNX export of the skscratch estimators, through skl2onnx.

Importing this module registers a shape calculator and a converter for
:class:`~skscratch.MLPClassifier` and
:class:`~skscratch.MLPRegressor` (under both their names) with skl2onnx. From then on
``skl2onnx.to_onnx`` (or ``convert_sklearn``) converts them like any
scikit-learn model, alone or inside a ``Pipeline``::

    import skscratch.onnx  # registers the converters
    from skl2onnx import to_onnx

    onx = to_onnx(model, X[:1].astype(np.float32))

The graph is the fitted network, written to give what the estimator's
methods give:

- one ``MatMul`` and ``Add`` per layer, the hidden activation the network
  was trained with, then the output activation;
- the arithmetic runs in the dtype of ``coefs_`` (float32 for a model fitted
  on float32 data, float64 otherwise) whatever the input tensor's type, as
  ``predict`` does: a float64 model fed float32 data gives the labels
  ``predict`` gives;
- float outputs come in the input's float type (double for double input,
  float otherwise), skl2onnx's convention for scikit-learn models;
- a classifier has two outputs, ``label`` (``predict``) and
  ``probabilities`` (``predict_proba``: logistic outputs clipped to
  ``[eps, 1 - eps]``, both columns ``[1 - p, p]`` for a binary model).
  Labels are int64 for integer, boolean or float classes and strings for
  string classes; a multilabel model's label is the int64 indicator matrix;
- a regressor has one output, ``variable``, of shape
  ``(n_samples, n_outputs)``.

Classifiers take skl2onnx's options: ``zipmap`` (True by default, which
turns the probabilities into one ``{label: probability}`` dict per sample;
False keeps the matrix; ``"columns"`` gives one output per class),
``output_class_labels`` and ``nocl`` (labels are class indices).

Every built-in hidden activation converts, one per hidden layer when
``activation`` is a tuple (mish as ``z * tanh(softplus(z))``, since ONNX's
``Mish`` needs opset 18); a :class:`~skscratch.CustomActivation` does not
(ONNX cannot run Python code): converting raises ``NotImplementedError``,
as it does for a multiclass-multioutput classifier.
onnxruntime has no float64 kernel for ``Elu``, ``Softplus`` and ``Erf``, and
``LeakyRelu`` takes its slope as a float32 attribute; so a float64 graph
writes leaky_relu, elu, softplus and mish with elementary operators, and
evaluates gelu's ``Erf`` in float32: a float64 gelu model agrees with
``predict`` to about 1e-7 instead of to rounding.
"""

import numbers

import numpy as np

try:
    from onnx import TensorProto
    from skl2onnx import update_registered_converter
    from skl2onnx.common.data_types import (
        DoubleTensorType,
        FloatTensorType,
        Int64TensorType,
        StringTensorType,
    )
    from skl2onnx.common.utils import check_input_and_output_numbers
except ImportError as exc:  # pragma: no cover - exercised without the extra
    raise ImportError(
        "skscratch.onnx needs skl2onnx and onnx (and onnxruntime to run the "
        'exported models). Install them with: pip install "skscratch[onnx]"'
    ) from exc

from . import _namespaces, _targets
from ._base import HIDDEN_ACTIVATIONS
from ._classifier import MLPClassifier, ScratchMLPClassifier
from ._regressor import MLPRegressor, ScratchMLPRegressor
from .core.activations import ACTIVATIONS, hidden_activations

__all__ = ["MIN_OPSET"]

MIN_OPSET = 11
"""int: the oldest ONNX opset the converters can target (``Clip`` takes its
bounds as inputs from opset 11 on)."""

_PROTO = {
    np.dtype(np.float32): TensorProto.FLOAT,
    np.dtype(np.float64): TensorProto.DOUBLE,
}


class _Graph:
    """Adds nodes and constants for one operator, with unique names.

    Parameters
    ----------
    scope, container
        skl2onnx's naming scope and node container for the operator.
    dtype : numpy dtype
        The dtype the network computes in; constants are made in it.
    """

    def __init__(self, scope, container, dtype):
        self.scope = scope
        self.container = container
        self.dtype = np.dtype(dtype)
        self.proto = _PROTO[self.dtype]

    def node(self, op_type, inputs, output=None, **attrs):
        """Add an ``op_type`` node; return the name of its output."""
        if isinstance(inputs, str):
            inputs = [inputs]
        if output is None:
            output = self.scope.get_unique_variable_name(op_type.lower())
        self.container.add_node(
            op_type,
            list(inputs),
            [output],
            name=self.scope.get_unique_operator_name(op_type),
            **attrs,
        )
        return output

    def const(self, value, dtype=None, seed="c"):
        """Add a constant tensor (in the graph's dtype by default)."""
        value = np.asarray(value, dtype=self.dtype if dtype is None else dtype)
        name = self.scope.get_unique_variable_name(seed)
        if value.dtype.kind in "OUS":
            proto, content = (
                TensorProto.STRING,
                [str(v).encode() for v in value.ravel()],
            )
        elif value.dtype == np.int64:
            proto, content = TensorProto.INT64, value.ravel()
        else:
            proto, content = _PROTO[value.dtype], value.ravel()
        self.container.add_initializer(name, proto, list(value.shape), content)
        return name

    def cast(self, name, to, output=None):
        return self.node("Cast", name, output, to=to)

    def scalar_op(self, op_type, name, value):
        """``op_type(name, value)`` with ``value`` a constant of the graph's
        dtype (broadcast)."""
        return self.node(op_type, [name, self.const(value)])


# -- activations ------------------------------------------------------------
# Each writes the nodes of f(z) and returns the output's name. They follow the
# NumPy code in skscratch.core.activations operation by operation, so that the
# graph rounds as ``predict`` does wherever onnxruntime's kernels allow.


def _identity(g, z):
    return z


def _logistic(g, z):
    return g.node("Sigmoid", z)


def _tanh(g, z):
    return g.node("Tanh", z)


def _relu(g, z):
    return g.node("Relu", z)


def _leaky_relu(g, z):
    if g.dtype == np.float32:
        return g.node("LeakyRelu", z, alpha=0.01)
    # LeakyRelu's slope is a float32 attribute, 0.01 rounded to float32, and
    # onnxruntime has no float64 PRelu: z * (1 if z > 0 else 0.01), as NumPy.
    factor = g.node(
        "Where", [g.scalar_op("Greater", z, 0.0), g.const(1.0), g.const(0.01)]
    )
    return g.node("Mul", [z, factor])


def _elu(g, z):
    if g.dtype == np.float32:
        return g.node("Elu", z, alpha=1.0)
    # No float64 Elu kernel in onnxruntime: z if z > 0 else exp(min(z, 0)) - 1.
    negative = g.scalar_op("Sub", g.node("Exp", g.scalar_op("Min", z, 0.0)), 1.0)
    return g.node("Where", [g.scalar_op("Greater", z, 0.0), z, negative])


def _softplus(g, z):
    if g.dtype == np.float32:
        return g.node("Softplus", z)
    # No float64 Softplus kernel: the overflow-free max(z, 0) + log(1 +
    # exp(-|z|)) that NumPy's logaddexp(0, z) computes.
    tail = g.node("Exp", g.node("Neg", g.node("Abs", z)))
    return g.node(
        "Add", [g.node("Relu", z), g.node("Log", g.scalar_op("Add", tail, 1.0))]
    )


def _gelu(g, z):
    scaled = g.scalar_op("Mul", z, 1 / np.sqrt(2))
    if g.dtype == np.float32:
        erf = g.node("Erf", scaled)
    else:
        # onnxruntime has no float64 Erf: evaluate it in float32 (its value is
        # bounded by 1, so this costs about 1e-7 absolute at most).
        erf = g.node("Erf", g.cast(scaled, TensorProto.FLOAT))
        erf = g.cast(erf, TensorProto.DOUBLE)
    cdf = g.scalar_op("Mul", g.scalar_op("Add", erf, 1.0), 0.5)
    return g.node("Mul", [z, cdf])


def _silu(g, z):
    return g.node("Mul", [z, g.node("Sigmoid", z)])


def _mish(g, z):
    # z * tanh(softplus(z)), softplus as above (ONNX's Mish needs opset 18).
    return g.node("Mul", [z, g.node("Tanh", _softplus(g, z))])


def _softmax(g, z):
    return g.node("Softmax", z, axis=1)


def _exp(g, z):
    return g.node("Exp", z)


_ACTIVATIONS = {
    "identity": _identity,
    "logistic": _logistic,
    "tanh": _tanh,
    "relu": _relu,
    "leaky_relu": _leaky_relu,
    "elu": _elu,
    "gelu": _gelu,
    "softplus": _softplus,
    "silu": _silu,
    "mish": _mish,
    "softmax": _softmax,
    "exp": _exp,
}


def _activation_names(model):
    """The name of each layer's activation, hidden layers then the output.

    Raises ``NotImplementedError`` for an activation ONNX cannot express: a
    custom Python one (:class:`skscratch.CustomActivation`), or a name this
    module does not know.
    """
    hidden = getattr(model, "_hidden_activation", model.activation)
    names = []
    for i, entry in enumerate(hidden_activations(hidden, len(model.coefs_) - 1)):
        if entry is not ACTIVATIONS.get(entry.name):
            raise NotImplementedError(
                f"skscratch.onnx cannot convert the custom activation {entry!r} "
                f"of hidden layer {i + 1}: ONNX cannot run Python code. Refit "
                f"with built-in activations ({', '.join(HIDDEN_ACTIVATIONS)}) to "
                "export the model."
            )
        names.append(entry.name)
    names.append(model.out_activation_)
    for name in names:
        if name not in _ACTIVATIONS:
            raise NotImplementedError(
                f"skscratch.onnx cannot convert the activation {name!r}; it "
                f"knows {sorted(_ACTIVATIONS)}."
            )
    return names


def _forward(g, model, input_name):
    """Nodes of the network's forward pass; returns the output's name."""
    names = _activation_names(model)
    a = g.cast(input_name, g.proto)
    layers = zip(model.coefs_, model.intercepts_, names, strict=True)
    for W, b, name in layers:
        # A model fitted on another array namespace (a GPU) exports the same.
        W, b = _namespaces.on_host(W, b)
        z = g.node("MatMul", [a, g.const(W, seed="coefficient")])
        z = g.node("Add", [z, g.const(b.reshape(1, -1), seed="intercept")])
        a = _ACTIVATIONS[name](g, z)
    return a


def _compute_dtype(model):
    dtype = _namespaces.host_dtype(model)
    if dtype not in _PROTO:
        raise TypeError(f"Cannot export a network with {dtype} weights.")
    return dtype


def _float_output_type(operator):
    """The float type of the outputs: double for double input, else float
    (skl2onnx's convention for scikit-learn models)."""
    if isinstance(operator.inputs[0].type, DoubleTensorType):
        return DoubleTensorType, TensorProto.DOUBLE
    return FloatTensorType, TensorProto.FLOAT


def _check_input(operator):
    model = operator.raw_operator
    shape = operator.inputs[0].type.shape
    n_features = shape[1] if shape is not None and len(shape) == 2 else None
    if isinstance(n_features, numbers.Integral) and n_features != model.n_features_in_:
        raise ValueError(
            f"The ONNX input has {shape[1]} features but {type(model).__name__} "
            f"was fitted with {model.n_features_in_}."
        )


# -- classifier -------------------------------------------------------------


def _is_multilabel(model):
    return model._label_binarizer.y_type_.startswith("multilabel")


def _label_classes(scope, model):
    """``classes_`` as ONNX can hold them: int64 or strings; with skl2onnx's
    ``nocl`` option, the class indices instead.

    Returns
    -------
    classes : ndarray of int64 or of str
    """
    classes = np.asarray(model.classes_)
    if scope.get_options(model, dict(nocl=False))["nocl"]:
        return np.arange(len(classes), dtype=np.int64)
    if classes.dtype.kind in "biu":
        return classes.astype(np.int64)
    if classes.dtype.kind == "f":
        # scikit-learn only accepts integral floats as class labels.
        return classes.astype(np.int64)
    if all(isinstance(c, str) for c in classes):
        return classes.astype(str)
    if all(isinstance(c, numbers.Integral) for c in classes):
        return classes.astype(np.int64)
    raise TypeError(
        "skscratch.onnx exports class labels that are all integers or all "
        f"strings; got {classes!r}."
    )


def _check_single_output(model):
    # Its outputs would be a list of probability matrices, which neither
    # this converter nor skl2onnx's classifier parser (zipmap) writes.
    if _targets.is_multioutput(model):
        raise NotImplementedError(
            "skscratch.onnx cannot convert a multiclass-multioutput "
            "classifier (fitted on a y with one column of labels per output)."
        )


def _classifier_shapes(operator):
    """Shape calculator: ``label`` and ``probabilities``."""
    _check_single_output(operator.raw_operator)
    check_input_and_output_numbers(operator, input_count_range=1, output_count_range=2)
    _check_input(operator)
    model = operator.raw_operator
    n = operator.inputs[0].get_first_dimension()
    float_type, _ = _float_output_type(operator)
    if _is_multilabel(model):
        operator.outputs[0].type = Int64TensorType([n, model.n_outputs_])
        operator.outputs[1].type = float_type([n, model.n_outputs_])
        return
    classes = _label_classes(operator.scope_inst, model)
    label_type = StringTensorType if classes.dtype.kind == "U" else Int64TensorType
    operator.outputs[0].type = label_type([n])
    operator.outputs[1].type = float_type([n, len(classes)])


def _convert_classifier(scope, operator, container):
    """Converter: the network, then labels and probabilities as ``predict``
    and ``predict_proba`` compute them."""
    model = operator.raw_operator
    _check_opset(container)
    _check_single_output(model)
    if len(model.classes_) < 2 and not _is_multilabel(model):
        raise ValueError(
            "This classifier was fitted on a single class; it always predicts "
            "it, and skscratch.onnx does not export such a model."
        )
    g = _Graph(scope, container, _compute_dtype(model))
    _, out_proto = _float_output_type(operator)
    label_out, proba_out = operator.outputs[0].full_name, operator.outputs[1].full_name
    p = _forward(g, model, operator.inputs[0].full_name)

    # Labels, from the unclipped outputs as in predict.
    if _is_multilabel(model):
        g.cast(g.scalar_op("Greater", p, 0.5), TensorProto.INT64, output=label_out)
    else:
        if model.n_outputs_ == 1:  # binary: classes_[p > 0.5]
            index = g.cast(g.scalar_op("Greater", p, 0.5), TensorProto.INT64)
            index = g.node("Reshape", [index, g.const([-1], dtype=np.int64)])
        else:  # multiclass: classes_[argmax]; ArgMax, like NumPy, takes the first
            index = g.node("ArgMax", p, axis=1, keepdims=0)
        classes = _label_classes(scope, model)
        g.node("Gather", [g.const(classes, classes.dtype, "classes"), index], label_out)

    # Probabilities, as predict_proba returns them.
    if model.out_activation_ == "logistic":
        eps = np.finfo(g.dtype).eps
        p = g.node("Clip", [p, g.const(eps), g.const(1 - eps)])
        if model.n_outputs_ == 1:
            p = g.node("Concat", [g.node("Sub", [g.const([[1.0]]), p]), p], axis=1)
        elif model._one_logistic_per_class():  # loss='squared_error'
            # Row sums as a product with ones: ReduceSum's axes moved from
            # attribute to input at opset 13.
            ones = g.const(np.ones((model.n_outputs_, 1)))
            p = g.node("Div", [p, g.node("MatMul", [p, ones])])
    if out_proto == g.proto:
        g.node("Identity", p, proba_out)
    else:
        g.cast(p, out_proto, output=proba_out)


# -- regressor --------------------------------------------------------------


def _regressor_shapes(operator):
    """Shape calculator: one ``variable`` of shape (n_samples, n_outputs)."""
    check_input_and_output_numbers(operator, input_count_range=1, output_count_range=1)
    _check_input(operator)
    model = operator.raw_operator
    float_type, _ = _float_output_type(operator)
    n = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = float_type([n, model.n_outputs_])


def _convert_regressor(scope, operator, container):
    """Converter: the network's output, as ``predict`` computes it."""
    model = operator.raw_operator
    _check_opset(container)
    g = _Graph(scope, container, _compute_dtype(model))
    _, out_proto = _float_output_type(operator)
    y = _forward(g, model, operator.inputs[0].full_name)
    out = operator.outputs[0].full_name
    if out_proto == g.proto:
        g.node("Identity", y, out)
    else:
        g.cast(y, out_proto, output=out)


def _check_opset(container):
    opset = container.target_opset
    if opset is not None and opset < MIN_OPSET:
        raise RuntimeError(
            f"skscratch.onnx needs target_opset >= {MIN_OPSET}, got {opset}."
        )


# Both names of each estimator: type lookups in skl2onnx are exact.
for _classifier in (MLPClassifier, ScratchMLPClassifier):
    update_registered_converter(
        _classifier,
        "SkscratchMLPClassifier",
        _classifier_shapes,
        _convert_classifier,
        # skl2onnx's classifier parser, which registering "zipmap" selects,
        # applies zipmap and output_class_labels; nocl is ours (labels become
        # the class indices).
        options={
            "zipmap": [True, False, "columns"],
            "output_class_labels": [False, True],
            "nocl": [False, True],
        },
    )
for _regressor in (MLPRegressor, ScratchMLPRegressor):
    update_registered_converter(
        _regressor,
        "SkscratchMLPRegressor",
        _regressor_shapes,
        _convert_regressor,
    )
