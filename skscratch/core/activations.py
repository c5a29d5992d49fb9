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
