"""Loss functions, each paired with the output activation that makes its
gradient simple.

A network's last dense layer produces raw scores ``Z``; the output activation
turns them into predictions ``P = g(Z)`` and the loss compares ``P`` with the
targets ``Y``. For the five pairs below, the derivative of the loss with
respect to ``Z`` collapses to the prediction error ``P - Y`` (the loss is the
negative log-likelihood of an exponential family and ``g`` its canonical
inverse link), so backpropagation never needs the Jacobian of ``g``:

=====================  ==================  =================================
loss                   output activation   per-sample loss ``l_i``
=====================  ==================  =================================
``squared_error``      identity            ``1/2 * mean_k (p_ik - y_ik)^2``
``log_loss``           softmax             ``- sum_k y_ik log p_ik``
``binary_log_loss``    logistic            ``- sum_k [y log p + (1-y) log(1-p)]``
``poisson``            exp                 ``sum_k [y log(y/p) - y + p]``
``grouped_log_loss``   grouped softmax     ``- sum_k y_ik log p_ik``
=====================  ==================  =================================

The last, :class:`GroupedLogLoss`, is one softmax and its cross-entropy per
group of columns (one group per output of a multiclass-multioutput
classifier), the groups' losses summed; it takes the group sizes, so it is
built where needed rather than listed in :data:`LOSSES`.

The squared error averages over outputs (as scikit-learn reports it), so its
gradient is ``(P - Y) / n_outputs``; the others sum over outputs and their
gradient is exactly ``P - Y``.

The squared error can also sit on a non-canonical output activation,
``SquaredError("logistic")`` (the classifier's ``loss="squared_error"``, the
cost of many "from scratch" tutorials) or ``SquaredError("softmax")``. There
``P - Y`` is *not* the gradient: the chain rule goes through the activation's
derivative, ``(P - Y) * g'(Z) / n_outputs`` (for the logistic,
``(p - y) p (1 - p) / n_outputs``), which vanishes wherever the output
saturates, right or wrong.

Two robust regression losses complete the set, also averaged over outputs with
an identity output: ``absolute_error`` (``mean_k |p - y|``, gradient
``sign(p - y)``) and ``huber`` (half the square of the error up to ``delta``,
linear beyond, so outliers pull with a bounded force, gradient
``clip(p - y, -delta, delta)``).

Every loss object has the same two methods:

``total(y_true, y_pred, sample_weight=None)``
    ``sum_i w_i * l_i``, a Python float. The network divides by the total
    weight; keeping the sum here lets mini-batches be combined exactly.
``gradient(y_true, y_pred, out)``
    ``d l_i / d z_i`` for every sample (unweighted), written into ``out``.
"""

import numpy as np
from scipy.special import xlogy

from .activations import GroupedSoftmax, get_activation


def _clip_probabilities(p):
    # log(0) would make the loss infinite for a confident wrong prediction;
    # clipping to [eps, 1 - eps] keeps it large but finite.
    eps = np.finfo(p.dtype).eps
    return np.clip(p, eps, 1 - eps)


def _weighted_sum(per_sample, sample_weight):
    if sample_weight is None:
        return float(per_sample.sum(dtype=np.float64))
    return float(np.dot(per_sample.astype(np.float64), sample_weight))


class Loss:
    """Base class of the losses.

    Attributes
    ----------
    name : str
        The loss's name (scikit-learn's spelling).
    activation : Activation
        The output activation paired with this loss.
    """

    name = "loss"
    activation_name = "identity"

    @property
    def activation(self):
        return get_activation(self.activation_name)

    def per_sample(self, y_true, y_pred):
        """Per-sample loss ``l_i``.

        Parameters
        ----------
        y_true : ndarray of shape (n_samples, n_outputs)
        y_pred : ndarray of shape (n_samples, n_outputs)
            Predictions, i.e. the output activation applied to the scores.

        Returns
        -------
        loss : ndarray of shape (n_samples,)
        """
        raise NotImplementedError

    def total(self, y_true, y_pred, sample_weight=None):
        """Weighted sum of the per-sample losses, ``sum_i w_i l_i``.

        Parameters
        ----------
        y_true : ndarray of shape (n_samples, n_outputs)
        y_pred : ndarray of shape (n_samples, n_outputs)
        sample_weight : ndarray of shape (n_samples,), optional

        Returns
        -------
        total : float
        """
        return _weighted_sum(self.per_sample(y_true, y_pred), sample_weight)

    def gradient(self, y_true, y_pred, out):
        """Gradient of ``l_i`` with respect to the raw scores ``z_i``.

        Parameters
        ----------
        y_true : ndarray of shape (n_samples, n_outputs)
        y_pred : ndarray of shape (n_samples, n_outputs)
        out : ndarray of shape (n_samples, n_outputs)
            Where to write the gradient.

        Returns
        -------
        out : ndarray of shape (n_samples, n_outputs)
        """
        # The canonical-link identity d l / d z = p - y (see module docstring).
        return np.subtract(y_pred, y_true, out=out)

    def __repr__(self):
        return f"{type(self).__name__}()"


class SquaredError(Loss):
    """Half the squared error, averaged over outputs.

    Per sample, ``l_i = 1/2 * mean_k (p_ik - y_ik)^2`` with ``P = g(Z)``:
    scikit-learn's convention, whose factor ``1/2`` cancels the 2 of the
    derivative. The tutorials' ``C = sum_k (a_k - y_k)^2`` is ``2 K`` times
    this loss (``K`` outputs), so plain gradient descent on it with step
    ``eta`` is gradient descent on this one with step ``2 K eta``.

    Parameters
    ----------
    activation : str or Activation, default='identity'
        The output activation ``g``: ``'identity'``, ``'logistic'``,
        ``'softmax'``, or any activation whose derivative follows from its
        output. With ``'identity'`` (regression) the gradient with respect
        to the scores is ``(P - Y) / K``. With any other ``g`` it is
        ``(P - Y) * g'(Z) / K``, through ``g``'s derivative (for the
        logistic, ``(p - y) p (1 - p) / K``, the ``2 (a - y) sigma'(z)`` of
        the tutorials up to the factor ``2 K``):
        ``P - Y`` alone is the gradient only for the canonical pairs of the
        module docstring.
    """

    name = "squared_error"

    def __init__(self, activation="identity"):
        activation = get_activation(activation)
        if activation.needs_input:
            # gradient() sees the predictions only, not the scores.
            raise ValueError(
                f"SquaredError needs an output activation whose derivative "
                f"follows from its output; {activation.name!r} needs its input."
            )
        self.activation_name = activation.name

    def per_sample(self, y_true, y_pred):
        diff = y_pred - y_true
        return 0.5 * np.einsum("ij,ij->i", diff, diff) / y_true.shape[1]

    def gradient(self, y_true, y_pred, out):
        np.subtract(y_pred, y_true, out=out)
        if y_true.shape[1] > 1:
            # The loss is a mean over outputs, so its gradient carries
            # 1 / n_outputs. scikit-learn omits this factor (its issue #8349),
            # which makes its lbfgs gradient disagree with the loss it reports.
            out *= 1.0 / y_true.shape[1]
        if self.activation_name != "identity":
            # Not a canonical pair: dl/dz = dl/dp * g'(z), which the
            # activation's backward multiplies in from its output alone.
            self.activation.backward(out, y_pred)
        return out

    def __repr__(self):
        if self.activation_name == "identity":
            return "SquaredError()"
        return f"SquaredError({self.activation_name!r})"


class LogLoss(Loss):
    """Categorical cross-entropy on softmax probabilities (multiclass)."""

    name = "log_loss"
    activation_name = "softmax"

    def per_sample(self, y_true, y_pred):
        # The clip makes log(p) finite, so y log(p) is already 0 where y is 0:
        # no need for xlogy's test of every element (about 40% faster).
        log_p = np.log(_clip_probabilities(y_pred))
        return -np.einsum("ij,ij->i", y_true, log_p)


class GroupedLogLoss(LogLoss):
    """Cross-entropy of one softmax per output, summed over the outputs
    (multiclass-multioutput classification).

    Output ``k`` owns ``group_sizes[k]`` consecutive columns of the one-hot
    targets and of the scores;
    :class:`~skscratch.core.activations.GroupedSoftmax` turns each group of
    scores into that output's class probabilities. Per sample,
    ``l_i = - sum_k sum_{c in group k} y_ic log p_ic``: each output's
    log-loss, summed. Each group is a canonical pair
    (softmax and its cross-entropy), and the groups do not interact, so the
    gradient with respect to the scores is ``p - y`` as for
    :class:`LogLoss`. With a single group it is :class:`LogLoss`.

    Parameters
    ----------
    group_sizes : sequence of int
        Number of classes of each output, in column order.
    """

    name = "grouped_log_loss"
    activation_name = "grouped_softmax"

    def __init__(self, group_sizes):
        self._activation = GroupedSoftmax(group_sizes)

    @property
    def group_sizes(self):
        """tuple of int: the number of columns of each output."""
        return self._activation.group_sizes

    @property
    def activation(self):
        return self._activation

    def __repr__(self):
        return f"{type(self).__name__}({self.group_sizes})"


class BinaryLogLoss(Loss):
    """Binary cross-entropy on logistic probabilities, summed over outputs
    (binary and multilabel classification)."""

    name = "binary_log_loss"
    activation_name = "logistic"

    def per_sample(self, y_true, y_pred):
        p = _clip_probabilities(y_pred)
        return -(xlogy(y_true, p) + xlogy(1 - y_true, 1 - p)).sum(axis=1)


class PoissonLoss(Loss):
    """Half the Poisson deviance, summed over outputs; exponential output.

    The output ``exp(z)`` is always positive, so predictions are valid Poisson
    means; the targets must be non-negative.
    """

    name = "poisson"
    activation_name = "exp"

    def per_sample(self, y_true, y_pred):
        # y log(y / p) written as xlogy(y, y) - xlogy(y, p): no division, and
        # the clip keeps log(p) finite if exp(z) underflowed to 0.
        p = np.maximum(y_pred, np.finfo(y_pred.dtype).tiny)
        dev = xlogy(y_true, y_true) - xlogy(y_true, p) - y_true + y_pred
        return dev.sum(axis=1)


class AbsoluteError(Loss):
    """Absolute error averaged over outputs; identity output.

    Its minimiser is the conditional median, so it is not dragged by outliers.
    The derivative at exactly zero error is taken as 0.
    """

    name = "absolute_error"
    activation_name = "identity"

    def per_sample(self, y_true, y_pred):
        return np.abs(y_pred - y_true).mean(axis=1)

    def gradient(self, y_true, y_pred, out):
        np.subtract(y_pred, y_true, out=out)
        np.sign(out, out=out)
        out *= 1.0 / y_true.shape[1]
        return out


class HuberLoss(Loss):
    """Huber loss averaged over outputs; identity output.

    Per output, with ``r = p - y``: ``r^2 / 2`` when ``|r| <= delta``, else
    ``delta (|r| - delta / 2)``. Both pieces and their slopes meet at
    ``|r| = delta``; for a large ``delta`` it is the squared error.

    Parameters
    ----------
    delta : float, default=1.0
        Where the quadratic part ends, in units of the target.
    """

    name = "huber"
    activation_name = "identity"

    def __init__(self, delta=1.0):
        if not delta > 0:
            raise ValueError(f"delta must be positive, got {delta}.")
        self.delta = float(delta)

    def per_sample(self, y_true, y_pred):
        r = np.abs(y_pred - y_true)
        quadratic = np.minimum(r, self.delta)
        # r^2/2 inside; outside, delta^2/2 + delta (r - delta).
        loss = 0.5 * quadratic * quadratic + self.delta * (r - quadratic)
        return loss.mean(axis=1)

    def gradient(self, y_true, y_pred, out):
        np.subtract(y_pred, y_true, out=out)
        np.clip(out, -self.delta, self.delta, out=out)
        out *= 1.0 / y_true.shape[1]
        return out

    def __repr__(self):
        return f"HuberLoss(delta={self.delta})"


LOSSES = {
    cls.name: cls()
    for cls in (
        SquaredError,
        LogLoss,
        BinaryLogLoss,
        PoissonLoss,
        AbsoluteError,
        HuberLoss,
    )
}
"""dict: every loss, keyed by name."""


def get_loss(name):
    """Return the loss called ``name`` (or ``name`` itself if it is a Loss).

    Parameters
    ----------
    name : str or Loss

    Returns
    -------
    loss : Loss
    """
    if isinstance(name, Loss):
        return name
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(
            f"Unknown loss {name!r}; expected one of {sorted(LOSSES)}."
        ) from None
