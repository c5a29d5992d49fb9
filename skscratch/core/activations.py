"""Activation functions, each written beside its derivative.

An activation ``f`` is applied element-wise (softmax row-wise) to the
pre-activation ``Z`` of a layer, giving its output ``A = f(Z)``.

Backpropagation through an activation is the chain rule with a diagonal
Jacobian: ``dL/dZ = dL/dA * f'(Z)``, an element-wise product. Softmax is the
exception, its Jacobian is a full matrix per sample, handled in
:class:`Softmax`.

Every function works **in place** when asked to: the forward pass overwrites
the pre-activation buffer with the output, and the backward pass multiplies the
incoming gradient buffer by the derivative. That is why most derivatives here
are written in terms of the *output* ``A`` rather than the input ``Z``: once
the forward pass has overwritten ``Z``, ``A`` is all that is left, and for
these functions it is all that is needed (``relu'(z) = [a > 0]``,
``logistic'(z) = a (1 - a)``, ``tanh'(z) = 1 - a^2``).

Each activation is a small stateless object with

``forward(z, out)``
    write ``f(z)`` into ``out`` (``out`` may be ``z`` itself) and return it;
``backward(grad, a, z=None)``
    multiply ``grad`` in place by ``f'(z)``, given the output ``a`` (and the
    input ``z`` for activations whose ``needs_input`` is True), return it.

An activation whose forward pass computes ``f'(z)`` anyway (relu's mask
``z > 0``) sets ``keeps_derivative``: its ``forward`` then also accepts a
``derivative`` array to write ``f'(z)`` into, and its ``backward`` a
``derivative`` to multiply by, so backward does not compute it a second time.

An activation of one's own need not follow this in-place protocol:
:class:`CustomActivation` takes a plain ``function(z)`` and
``derivative(z, a)`` and adapts them to it, and :func:`check_derivative`
compares such a derivative with finite differences of its function (the
estimators run it when they fit). :func:`hidden_activations` turns the
estimators' ``activation`` parameter, one activation or one per hidden layer,
into the list the network is built from.
"""

import math

import numpy as np
from scipy.special import erf, expit

from . import compiled


class Activation:
    """Base class of the element-wise activation functions.

    Attributes
    ----------
    name : str
        The name used for this activation in the estimators' ``activation``
        parameter (and ``out_activation_``).
    needs_input : bool
        True when the derivative needs the pre-activation ``z``. The layer that
        runs this activation then keeps ``z`` instead of overwriting it.
    keeps_derivative : bool
        True when ``forward`` can hand ``f'(z)`` to ``backward`` (see the
        module docstring).
    """

    name = "activation"
    needs_input = False
    keeps_derivative = False

    def forward(self, z, out):
        """Compute ``f(z)``.

        Parameters
        ----------
        z : ndarray of shape (n_samples, n_units)
            Pre-activation values.
        out : ndarray of shape (n_samples, n_units)
            Where to write the result; may be ``z`` itself.

        Returns
        -------
        out : ndarray of shape (n_samples, n_units)
        """
        raise NotImplementedError

    def backward(self, grad, a, z=None):
        """Multiply ``grad`` in place by the derivative ``f'(z)``.

        Parameters
        ----------
        grad : ndarray of shape (n_samples, n_units)
            Gradient of the loss with respect to the output ``a``; overwritten
            with the gradient with respect to ``z``.
        a : ndarray of shape (n_samples, n_units)
            Output of :meth:`forward`.
        z : ndarray of shape (n_samples, n_units), optional
            Input of :meth:`forward`; only read when ``needs_input``.

        Returns
        -------
        grad : ndarray of shape (n_samples, n_units)
        """
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}()"


class Identity(Activation):
    """``f(z) = z`` and ``f'(z) = 1``: nothing to do in either direction."""

    name = "identity"

    def forward(self, z, out):
        if out is not z:
            np.copyto(out, z)
        return out

    def backward(self, grad, a, z=None):
        return grad


class Logistic(Activation):
    """``f(z) = 1 / (1 + exp(-z))`` and ``f'(z) = a (1 - a)``."""

    name = "logistic"

    def forward(self, z, out):
        # scipy's expit never overflows, unlike a literal 1 / (1 + exp(-z)).
        return expit(z, out=out)

    def backward(self, grad, a, z=None):
        grad *= a
        grad *= 1 - a
        return grad


class Tanh(Activation):
    """``f(z) = tanh(z)`` and ``f'(z) = 1 - a^2``."""

    name = "tanh"

    def forward(self, z, out):
        return np.tanh(z, out=out)

    def backward(self, grad, a, z=None):
        grad *= 1 - a * a
        return grad


class ReLU(Activation):
    """``f(z) = max(z, 0)`` and ``f'(z) = 1 if z > 0 else 0``.

    The derivative at exactly 0 is taken as 0, which is also what makes it
    readable from the output: ``a > 0`` exactly when ``z > 0``.
    """

    name = "relu"
    keeps_derivative = True

    def forward(self, z, out, derivative=None):
        # With Numba, one compiled pass, in place (see compiled.relu_loop).
        kernel_name = "relu" if derivative is None else "relu_with_mask"
        arrays = (out,) if derivative is None else (out, derivative)
        loop = compiled.kernel_for(kernel_name, *arrays)
        if loop is not None and z.dtype == out.dtype:
            if out is not z:
                np.copyto(out, z)
            loop(*(a.reshape(-1) for a in arrays))
            return out
        # Multiplying by the mask z > 0 is nearly twice as fast as
        # np.maximum(z, 0), which pays for NaN handling it does not need here:
        # a NaN still comes out as NaN (NaN * 0 is NaN).
        if derivative is None:
            return np.multiply(z, z > 0, out=out)
        # The mask is the derivative. Kept as floats (1.0 / 0.0): multiplying
        # by a float array is almost three times faster than by a boolean one,
        # which NumPy converts element by element.
        np.greater(z, 0, out=derivative)
        return np.multiply(z, derivative, out=out)

    def backward(self, grad, a, z=None, derivative=None):
        # Boolean indexing (grad[a == 0] = 0) would gather and scatter, and
        # np.copyto(..., where=) is ten times slower than a mask multiply.
        mask = a > 0 if derivative is None else derivative
        return np.multiply(grad, mask, out=grad)


class Exp(Activation):
    """``f(z) = exp(z)`` and ``f'(z) = a``; the inverse link of Poisson."""

    name = "exp"

    def forward(self, z, out):
        return np.exp(z, out=out)

    def backward(self, grad, a, z=None):
        grad *= a
        return grad


# Softmax's compiled row maximum is faster than NumPy's up to about this many
# columns: it tests each entry for NaN, which keeps the compiler from
# vectorizing the loop, while NumPy's reduction is vectorized but slow to set
# up for short rows (see docs/performance/design.rst).
MAX_ROW_MAX_KERNEL_COLUMNS = 48


class Softmax(Activation):
    """Row-wise ``f(z)_k = exp(z_k) / sum_j exp(z_j)``.

    Forward subtracts each row's maximum before exponentiating; softmax is
    unchanged by that shift and the largest exponent becomes ``exp(0) = 1``,
    so nothing overflows.

    Backward multiplies by the Jacobian ``J = diag(a) - a a^T`` of each row.
    ``J`` is symmetric, so ``J g = a * g - a (a . g) = a * (g - a . g)``: one
    dot product per row instead of an ``n_units x n_units`` matrix. When
    softmax feeds a cross-entropy loss, the two derivatives cancel into
    ``a - y``; :class:`skscratch.core.losses.LogLoss` uses that shortcut.
    """

    name = "softmax"

    def forward(self, z, out):
        loop = None
        if z.shape[1] <= MAX_ROW_MAX_KERNEL_COLUMNS:
            loop = compiled.kernel_for("subtract_row_max", z, out)
        if loop is not None:
            # NumPy's max over a few columns costs more than the rest of
            # softmax together; a maximum is exact, so the result is the same.
            loop(z, out)
        else:
            np.subtract(z, z.max(axis=1, keepdims=True), out=out)
        np.exp(out, out=out)
        # Row sums as a matrix-vector product: on the few columns of an output
        # layer, BLAS is twice as fast as sum(axis=1).
        out /= np.dot(out, np.ones(out.shape[1], dtype=out.dtype))[:, np.newaxis]
        return out

    def backward(self, grad, a, z=None):
        row_dot = np.einsum("ij,ij->i", grad, a)
        grad -= row_dot[:, np.newaxis]
        grad *= a
        return grad


class GroupedSoftmax(Activation):
    """Softmax within each group of consecutive columns.

    The output layer of a multiclass-multioutput classifier: output ``k`` owns
    ``group_sizes[k]`` consecutive columns, one per class, and each row of
    each group is a probability distribution over that output's classes,
    independent of the other groups. Per group, ``f(z)_c = exp(z_c) /
    sum_{j in group} exp(z_j)``, shifted by the group's maximum so that
    nothing overflows.

    The Jacobian is block diagonal, one softmax Jacobian ``diag(a) - a a^T``
    per group, so backward is :class:`Softmax`'s with the dot product taken
    within each group: ``a * (g - (a . g)_group)``. Paired with the summed
    cross-entropy of the groups
    (:class:`skscratch.core.losses.GroupedLogLoss`), the derivative with
    respect to the scores is again ``a - y``.

    Parameters
    ----------
    group_sizes : sequence of int
        Number of columns of each group, in order; each at least 1.
    """

    name = "grouped_softmax"

    def __init__(self, group_sizes):
        sizes = tuple(int(size) for size in group_sizes)
        if not sizes or min(sizes) < 1:
            raise ValueError(
                f"group_sizes must be a non-empty sequence of positive "
                f"integers; got {tuple(group_sizes)!r}."
            )
        self.group_sizes = sizes
        # First column of each group: where NumPy's reduceat starts a block.
        self._starts = np.cumsum((0, *sizes[:-1]))

    def _per_column(self, per_group):
        """Each group's value (n_samples, n_groups) repeated over its
        columns (n_samples, sum(group_sizes))."""
        return np.repeat(per_group, self.group_sizes, axis=1)

    def _check_width(self, z):
        if z.shape[1] != sum(self.group_sizes):
            raise ValueError(
                f"GroupedSoftmax{self.group_sizes} needs "
                f"{sum(self.group_sizes)} columns, got {z.shape[1]}."
            )

    def forward(self, z, out):
        self._check_width(z)
        group_max = np.maximum.reduceat(z, self._starts, axis=1)
        np.subtract(z, self._per_column(group_max), out=out)
        np.exp(out, out=out)
        out /= self._per_column(np.add.reduceat(out, self._starts, axis=1))
        return out

    def backward(self, grad, a, z=None):
        self._check_width(grad)
        group_dot = np.add.reduceat(grad * a, self._starts, axis=1)
        grad -= self._per_column(group_dot)
        grad *= a
        return grad

    def __eq__(self, other):
        # Equal groups, equal function: a pickled copy is "the same".
        if type(other) is not type(self):
            return NotImplemented
        return self.group_sizes == other.group_sizes

    def __hash__(self):
        return hash((type(self), self.group_sizes))

    def __repr__(self):
        return f"{type(self).__name__}({self.group_sizes})"


class LeakyReLU(Activation):
    """``f(z) = z if z > 0 else 0.01 z`` and ``f'(z) = 1 if z > 0 else 0.01``.

    Unlike relu, a unit whose input stays negative still gets a (small)
    gradient, so it can come back to life.
    """

    name = "leaky_relu"
    slope = 0.01

    def forward(self, z, out):
        # z * (slope + (1 - slope) [z > 0]) in two passes.
        factor = np.where(z > 0, 1.0, self.slope).astype(z.dtype, copy=False)
        return np.multiply(z, factor, out=out)

    def backward(self, grad, a, z=None):
        # Output and input have the same sign, so the output tells the branch.
        grad *= np.where(a > 0, 1.0, self.slope).astype(grad.dtype, copy=False)
        return grad


class ELU(Activation):
    """``f(z) = z if z > 0 else exp(z) - 1`` and ``f'(z) = 1 if z > 0 else
    exp(z) = a + 1``.

    Smooth for negative inputs, with outputs that can be negative (down to -1),
    which keeps the mean activation near zero.
    """

    name = "elu"

    def forward(self, z, out):
        negative = np.expm1(np.minimum(z, 0))  # exp(z) - 1 where z < 0, else 0
        if out is not z:
            np.copyto(out, z)
        np.copyto(out, negative, where=negative < 0)
        return out

    def backward(self, grad, a, z=None):
        grad *= np.where(a > 0, 1.0, a + 1).astype(grad.dtype, copy=False)
        return grad


class Softplus(Activation):
    """``f(z) = log(1 + exp(z))`` and ``f'(z) = logistic(z) = 1 - exp(-a)``.

    A smooth relu. Computed as ``logaddexp(0, z)``, which does not overflow.
    The derivative comes from the output: ``exp(-softplus(z)) = 1 -
    logistic(z)``.
    """

    name = "softplus"

    def forward(self, z, out):
        return np.logaddexp(0, z, out=out)

    def backward(self, grad, a, z=None):
        grad *= -np.expm1(-a)
        return grad


class GELU(Activation):
    """``f(z) = z * Phi(z)`` with ``Phi`` the standard normal CDF, and
    ``f'(z) = Phi(z) + z * phi(z)`` with ``phi`` its density.

    The exact form, ``Phi(z) = (1 + erf(z / sqrt(2))) / 2``. The derivative
    needs ``z``, so the layer keeps its input.
    """

    name = "gelu"
    needs_input = True

    def forward(self, z, out):
        return np.multiply(z, _normal_cdf(z), out=out)

    def backward(self, grad, a, z=None):
        density = np.exp(-0.5 * z * z)
        density *= 1 / math.sqrt(2 * math.pi)
        density *= z
        density += _normal_cdf(z)
        grad *= density
        return grad


def _normal_cdf(z):
    """``Phi(z) = (1 + erf(z / sqrt(2))) / 2``, in z's dtype."""
    cdf = erf(z * (1 / math.sqrt(2)))
    cdf += 1
    cdf *= 0.5
    return cdf


class SiLU(Activation):
    """``f(z) = z * logistic(z)`` (also called swish) and
    ``f'(z) = s + z s (1 - s)`` with ``s = logistic(z)``.

    The derivative needs ``z``, so the layer keeps its input.
    """

    name = "silu"
    needs_input = True

    def forward(self, z, out):
        return np.multiply(z, expit(z), out=out)

    def backward(self, grad, a, z=None):
        s = expit(z)
        # s + z s (1 - s) = s + a (1 - s), with a = z s the output.
        factor = a * (1 - s)
        factor += s
        grad *= factor
        return grad


class Mish(Activation):
    """``f(z) = z * tanh(softplus(z))`` and
    ``f'(z) = t + z s (1 - t^2)`` with ``t = tanh(softplus(z))`` and
    ``s = logistic(z)``, the derivative of ``softplus``.

    A smooth, non-monotonic relu (Misra, 2019), close to silu. Softplus is
    computed as ``logaddexp(0, z)``, so nothing overflows; the derivative
    needs ``z``, so the layer keeps its input.
    """

    name = "mish"
    needs_input = True

    def forward(self, z, out):
        if out is z:
            # z is still needed after the softplus: a temporary for tanh.
            out *= np.tanh(np.logaddexp(0, z))
            return out
        np.logaddexp(0, z, out=out)
        np.tanh(out, out=out)
        out *= z
        return out

    def backward(self, grad, a, z=None):
        t = np.tanh(np.logaddexp(0, z))
        # t + z s (1 - t^2), built in one temporary.
        factor = t * t
        np.subtract(1, factor, out=factor)
        factor *= expit(z)
        factor *= z
        factor += t
        grad *= factor
        return grad


ACTIVATIONS = {
    cls.name: cls()
    for cls in (
        Identity,
        Logistic,
        Tanh,
        ReLU,
        Exp,
        Softmax,
        LeakyReLU,
        ELU,
        Softplus,
        GELU,
        SiLU,
        Mish,
    )
}
"""dict: every activation, keyed by the name the estimators' parameters use."""


def get_activation(name):
    """Return the activation called ``name``.

    Parameters
    ----------
    name : str or Activation
        A key of :data:`ACTIVATIONS`, or an :class:`Activation` (returned as is).

    Returns
    -------
    activation : Activation
    """
    if isinstance(name, Activation):
        return name
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(
            f"Unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}."
        ) from None


class CustomActivation(Activation):
    """An element-wise activation made of a function and its derivative.

    The way to give the estimators an activation of your own:
    ``MLPClassifier(activation=CustomActivation(f, df))``, or one entry of a
    per-layer tuple. The estimators check ``derivative`` against finite
    differences of ``function`` on [-10, 10] when they fit (see
    :func:`check_derivative`), and raise a ``ValueError`` if the two
    disagree.

    Parameters
    ----------
    function : callable
        ``function(z)`` returns ``f(z)``, an array of z's shape, element by
        element; ``z`` is an ndarray of shape (n_samples, n_units). It must
        not modify ``z``.
    derivative : callable
        ``derivative(z, a)`` returns ``f'(z)``, an array of z's shape, given
        the input ``z`` and the output ``a = function(z)`` (so that it can use
        whichever is cheaper, as ``logistic'(z) = a (1 - a)`` does). It must
        modify neither.
    name : str, optional
        Shown in reprs and error messages; by default ``function.__name__``.

    Notes
    -----
    A model holding a custom activation pickles (and clones) when
    ``function`` and ``derivative`` do: functions defined at the top level of
    a module, not lambdas nor closures. Its functions run in NumPy, never in
    the compiled kernels, and ONNX export refuses it (ONNX cannot run Python
    code).

    Examples
    --------
    >>> import numpy as np
    >>> from skscratch import CustomActivation
    >>> def square_plus(z):
    ...     return 0.5 * (z + np.sqrt(z * z + 4))
    >>> def square_plus_derivative(z, a):
    ...     return 0.5 * (1 + z / np.sqrt(z * z + 4))
    >>> act = CustomActivation(square_plus, square_plus_derivative)
    >>> act
    CustomActivation(square_plus, square_plus_derivative, name='square_plus')
    >>> check_derivative(act)  # silent: the derivative is right
    """

    # The user's derivative takes z, so the layer keeps its input.
    needs_input = True

    def __init__(self, function, derivative, name=None):
        if not callable(function) or not callable(derivative):
            raise TypeError(
                "CustomActivation needs two callables, function(z) and "
                f"derivative(z, a); got {function!r} and {derivative!r}."
            )
        self.function = function
        self.derivative = derivative
        self.name = str(name) if name is not None else _callable_name(function)

    def forward(self, z, out):
        np.copyto(out, self.function(z), casting="same_kind")
        return out

    def backward(self, grad, a, z=None):
        np.multiply(grad, self.derivative(z, a), out=grad, casting="same_kind")
        return grad

    def __eq__(self, other):
        # Equal when built from the same functions: a clone or an unpickled
        # copy of an estimator then has "the same" activation.
        if type(other) is not type(self):
            return NotImplemented
        return (self.function, self.derivative, self.name) == (
            other.function,
            other.derivative,
            other.name,
        )

    def __hash__(self):
        return hash((type(self), self.function, self.derivative, self.name))

    def __repr__(self):
        function = _callable_name(self.function)
        derivative = _callable_name(self.derivative)
        return f"{type(self).__name__}({function}, {derivative}, name={self.name!r})"


def _callable_name(function):
    return getattr(function, "__name__", type(function).__name__)


def hidden_activations(activation, n_hidden):
    """One activation per hidden layer, from a single one or a sequence.

    Parameters
    ----------
    activation : str, Activation, or sequence of str or Activation
        One activation for every hidden layer, or one per hidden layer.
    n_hidden : int
        Number of hidden layers.

    Returns
    -------
    activations : list of Activation of length n_hidden

    Raises
    ------
    ValueError
        If a name is unknown, an entry is neither a name nor an
        :class:`Activation`, or a sequence's length is not ``n_hidden``.
    """
    if isinstance(activation, str | Activation):
        return [get_activation(activation)] * n_hidden
    try:
        entries = list(activation)
    except TypeError:
        raise ValueError(
            "activation must be an activation name, an Activation or a sequence "
            f"of them (one per hidden layer); got {activation!r}."
        ) from None
    if len(entries) != n_hidden:
        raise ValueError(
            f"activation has {len(entries)} entries but the network has "
            f"{n_hidden} hidden layers: give one activation for all of them, "
            "or exactly one per hidden layer (as in hidden_layer_sizes)."
        )
    for entry in entries:
        if not isinstance(entry, str | Activation):
            raise ValueError(
                "Each entry of activation must be an activation name or an "
                f"Activation (such as CustomActivation); got {entry!r}."
            )
    return [get_activation(entry) for entry in entries]


# Shifted by 0.01 off the multiples of 1/8 so that no point lies within a
# finite-difference step of a common kink (relu's at 0, a clip's at +-1, 3 or
# 6), where derivative and finite differences legitimately differ.
_CHECK_POINTS = (np.linspace(-10.0, 10.0, 161) + 0.01).reshape(23, 7)


def check_derivative(activation, rtol=1e-4, atol=1e-6):
    """Check an element-wise activation's backward pass by finite differences.

    Compares ``backward`` with central differences of ``forward`` on 161
    points of [-10, 10], in float64.

    Parameters
    ----------
    activation : Activation
        An element-wise activation, such as a :class:`CustomActivation`.
    rtol, atol : float, default=1e-4, 1e-6
        A point passes when ``|analytic - numeric| <= atol + rtol *
        max(|analytic|, |numeric|)``.

    Raises
    ------
    ValueError
        If ``forward`` does not return finite values of its input's shape,
        or the derivative disagrees with the finite differences somewhere;
        the message names the first such point.
    """
    z = _CHECK_POINTS

    def f(values):
        return activation.forward(values.copy(), out=np.empty_like(values))

    # A custom function's own output, before forward broadcasts it into z's
    # shape (a scalar would pass unnoticed otherwise).
    raw = (
        activation.function(z.copy())
        if isinstance(activation, CustomActivation)
        else f(z)
    )
    if np.shape(raw) != z.shape or not np.isfinite(raw).all():
        raise ValueError(
            f"The activation {activation.name!r} must return finite values of "
            f"its input's shape: on inputs of shape {z.shape} in [-10, 10] it "
            f"returned shape {np.shape(raw)}, finite: {bool(np.isfinite(raw).all())}."
        )
    a = f(z)
    analytic = activation.backward(np.ones_like(z), a.copy(), z.copy())
    step = 1e-6 * np.maximum(1.0, np.abs(z))
    numeric = (f(z + step) - f(z - step)) / (2 * step)
    scale = np.maximum(np.abs(analytic), np.abs(numeric))
    bad = ~(np.abs(analytic - numeric) <= atol + rtol * scale)
    if bad.any():
        i = np.flatnonzero(bad)[0]
        raise ValueError(
            f"The derivative of the activation {activation.name!r} does not "
            f"match its function: at z = {z.flat[i]:.4g} it gives "
            f"{analytic.flat[i]:.6g}, finite differences of the function give "
            f"{numeric.flat[i]:.6g} (wrong at {bad.sum()} of {z.size} points "
            "checked in [-10, 10]). The derivative is called as "
            "derivative(z, a) with a = function(z) and must return f'(z) "
            "element by element."
        )
