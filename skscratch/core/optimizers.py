"""Stochastic gradient optimizers working on one flat parameter vector.

Each optimizer's :meth:`~Optimizer.step` takes the network's flat ``params``
and ``grads`` vectors (see :mod:`skscratch.core.network`) and updates
``params`` in place with a handful of whole-vector NumPy operations. Its state
(velocity, moment estimates) is a vector of the same shape, and a single
scratch vector stands in for every temporary, so a step allocates nothing.

A step is two parts: :meth:`~Optimizer.begin_step` computes the step's scalars
(Adam's bias-corrected rate) once, and :meth:`~Optimizer.update` applies the
element-wise rule to any block of the vector. Because every element is updated
independently, blocks can be updated in parallel threads
(:mod:`skscratch.core.parallel` does). ``update`` can also add the gradient
of an L2 penalty first (see :mod:`skscratch.core.penalty`): the compiled
kernels (:mod:`skscratch.core.compiled`) do it in the same pass over the
vectors.

The update rules are scikit-learn's, so a network trained here follows the
same trajectory as scikit-learn's MLP given the same gradients.
"""

import threading

import numpy as np

from . import compiled
from .memory import aligned_empty, aligned_zeros
from .penalty import add_l2_gradient

_workspace_lock = threading.Lock()


class LearningRateSchedule:
    """How the learning rate of plain SGD evolves.

    Parameters
    ----------
    learning_rate_init : float
        Initial learning rate.
    kind : {'constant', 'invscaling', 'adaptive'}, default='constant'
        - ``'constant'``: never changes.
        - ``'invscaling'``: after each epoch,
          ``learning_rate_init / (t + 1) ** power_t`` with ``t`` the number of
          samples seen so far.
        - ``'adaptive'``: divided by 5 each time training stalls (see
          :meth:`reduce_on_plateau`).
    power_t : float, default=0.5
        Exponent of ``'invscaling'``.

    Attributes
    ----------
    learning_rate : float
        Current learning rate.
    """

    def __init__(self, learning_rate_init, kind="constant", power_t=0.5):
        if kind not in ("constant", "invscaling", "adaptive"):
            raise ValueError(f"Unknown learning rate schedule {kind!r}.")
        self.learning_rate_init = float(learning_rate_init)
        self.kind = kind
        self.power_t = power_t
        self.learning_rate = self.learning_rate_init

    def iteration_ends(self, time_step):
        """Update the rate at the end of an epoch.

        Parameters
        ----------
        time_step : int
            Number of training samples seen so far.
        """
        if self.kind == "invscaling":
            self.learning_rate = (
                self.learning_rate_init / (time_step + 1) ** self.power_t
            )

    def reduce_on_plateau(self):
        """React to a stall in training.

        Returns
        -------
        keep_training : bool
            True when the rate was divided by 5 and training should go on;
            False when training should stop (the schedule is not adaptive, or
            the rate is already below 1e-6).
        """
        if self.kind != "adaptive" or self.learning_rate <= 1e-6:
            return False
        self.learning_rate /= 5.0
        return True


class Optimizer:
    """Base class of the stochastic optimizers.

    A subclass writes its rule in :meth:`_numpy_update` (and its scalars in
    :meth:`begin_step`); it may also provide a compiled version in
    :meth:`_compiled_update`. :meth:`update` picks one and handles the
    penalty.

    Parameters
    ----------
    params : ndarray of shape (n_params,)
        The vector that will be optimized (used for its shape and dtype).
    learning_rate_init : float
    """

    decoupled_weight_decay = False
    """bool: whether the optimizer applies the L2 penalty itself, as weight
    decay, instead of receiving its gradient (see :class:`AdamW`)."""

    def __init__(self, params, learning_rate_init):
        self.learning_rate_init = float(learning_rate_init)
        # Shape and dtype as plain Python values (a dtype string): persistence
        # formats such as skops trust those.
        self._workspace_spec = (tuple(params.shape), params.dtype.str)
        self._workspace = None

    @property
    def workspace(self):
        """ndarray: a vector the shape of the parameters that stands in for
        every temporary of the NumPy code's step, the L2 penalty's gradient
        included (see :meth:`update`). Allocated on first use: the compiled
        kernels need none, and it is as large as the parameters."""
        if self._workspace is None:
            with _workspace_lock:  # threads updating blocks share one vector
                if self._workspace is None:
                    self._workspace = aligned_empty(*self._workspace_spec)
        return self._workspace

    @property
    def learning_rate(self):
        """float: the current learning rate."""
        return self.learning_rate_init

    def step(self, params, grads):
        """Update ``params`` in place from ``grads``.

        Parameters
        ----------
        params : ndarray of shape (n_params,)
        grads : ndarray of shape (n_params,)
        """
        self.begin_step()
        self.update(params, grads)

    def begin_step_tentatively(self, weight_decay=0.0):
        """:meth:`begin_step` for a step that may still be called off.

        A training step split between threads begins the step before it
        knows whether every thread's share of the batch succeeded (see
        :class:`~skscratch.core.parallel.DataParallel`); when one failed,
        no parameter moves and the returned function puts the step counter
        and scalars back.

        Parameters
        ----------
        weight_decay : float, default=0.0

        Returns
        -------
        undo : callable
            Called without arguments, before any :meth:`update`.
        """
        # begin_step rebinds attributes (counters, scalars) and mutates no
        # array: a shallow copy of them is the state to restore.
        before = dict(vars(self))
        self.begin_step(weight_decay)

        def undo():
            vars(self).clear()
            vars(self).update(before)

        return undo

    def begin_step(self, weight_decay=0.0):
        """Advance the step counter and compute the step's scalars.

        Parameters
        ----------
        weight_decay : float, default=0.0
            Decay rate of the weights; only used by optimizers with
            ``decoupled_weight_decay``.
        """

    def update(self, params, grads, block=slice(None), penalty=0.0, n_penalised=0):
        """Apply the update rule to ``params[block]``.

        Parameters
        ----------
        params : ndarray of shape (n_params,)
        grads : ndarray of shape (n_params,)
        block : slice, default=slice(None)
            The part of the vectors to update; the optimizer's own state is
            read and written at the same positions.
        penalty : float, default=0.0
            Strength of an L2 penalty ``penalty/2 * ||params[:n_penalised]||^2``
            (a network's weights come before its biases). Its gradient,
            ``penalty * params``, is added to those entries of ``grads`` (in
            place) before the rule runs.
        n_penalised : int, default=0
            How many leading entries of the whole vector the penalty covers.
        """
        start, stop, _ = block.indices(params.size)
        # How many of the block's leading entries the penalty covers.
        n_block_penalised = (
            min(max(n_penalised - start, 0), stop - start) if penalty else 0
        )
        params, grads = params[block], grads[block]
        if self._compiled_update(params, grads, block, penalty, n_block_penalised):
            return
        if n_block_penalised:
            add_l2_gradient(
                grads[:n_block_penalised],
                params[:n_block_penalised],
                penalty,
                self.workspace[block][:n_block_penalised],
            )
        self._numpy_update(params, grads, block)

    kernel_name = None
    """str or None: the name of the rule's compiled kernel in
    :mod:`skscratch.core.compiled`, when it has one."""

    def uses_kernel(self, dtype):
        """Whether :meth:`update` runs a compiled kernel on vectors of
        ``dtype`` (see :func:`compiled.kernel <skscratch.core.compiled.kernel>`).

        Parameters
        ----------
        dtype : numpy dtype

        Returns
        -------
        uses_kernel : bool
        """
        return (
            self.kernel_name is not None
            and compiled.kernel(self.kernel_name, dtype) is not None
        )

    def _compiled_update(self, params, grads, block, penalty, n_penalised):
        """Run the rule's compiled kernel, which adds the penalty's gradient
        to the first ``n_penalised`` entries in the same pass; False when
        there is no kernel to run (see :func:`compiled.kernel
        <skscratch.core.compiled.kernel>`). ``params`` and ``grads`` are
        the block's views; ``block`` locates the optimizer's state."""
        return False

    def _numpy_update(self, params, grads, block):
        """The rule in NumPy, on the block's views ``params`` and ``grads``
        (the penalty's gradient is already in ``grads``)."""
        raise NotImplementedError

    def iteration_ends(self, time_step):
        """Called once per epoch with the number of samples seen so far."""

    def reduce_on_plateau(self):
        """Called when training stalls; True to keep training (see
        :meth:`LearningRateSchedule.reduce_on_plateau`)."""
        return False

    # The workspace holds nothing between steps: never pickled, re-created
    # when needed.
    def __getstate__(self):
        state = self.__dict__.copy()
        state["_workspace"] = None
        return state

    def __setstate__(self, state):
        state = dict(state)
        state.pop("workspace", None)  # pickled by skscratch 0.1.0 (always None)
        state["_workspace"] = None
        self.__dict__.update(state)
        for key, value in state.items():
            if isinstance(value, np.ndarray):
                # Back on a cache-line boundary (see skscratch.core.memory):
                # unpickled arrays are only 16-byte aligned.
                copy = self.__dict__[key] = aligned_empty(value.shape, value.dtype)
                copy[...] = value
                self.__dict__.setdefault(
                    "_workspace_spec", (tuple(value.shape), value.dtype.str)
                )


class SGD(Optimizer):
    """Stochastic gradient descent with (Nesterov) momentum.

    With velocity ``v`` (initially 0), learning rate ``lr`` and momentum
    ``mu``::

        v <- mu * v - lr * g
        theta <- theta + v                      (classical momentum)
        theta <- theta + mu * v - lr * g        (Nesterov momentum)

    The Nesterov form looks one step ahead along the new velocity.

    Parameters
    ----------
    params : ndarray of shape (n_params,)
    learning_rate_init : float, default=0.1
    lr_schedule : {'constant', 'invscaling', 'adaptive'}, default='constant'
        See :class:`LearningRateSchedule`.
    momentum : float, default=0.9
    nesterov : bool, default=True
    power_t : float, default=0.5
    """

    def __init__(
        self,
        params,
        learning_rate_init=0.1,
        lr_schedule="constant",
        momentum=0.9,
        nesterov=True,
        power_t=0.5,
    ):
        super().__init__(params, learning_rate_init)
        self.schedule = LearningRateSchedule(learning_rate_init, lr_schedule, power_t)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.velocity = aligned_zeros(params.shape, params.dtype)

    @property
    def learning_rate(self):
        return self.schedule.learning_rate

    kernel_name = "sgd"

    def _compiled_update(self, params, grads, block, penalty, n_penalised):
        loop = compiled.kernel(self.kernel_name, params.dtype)
        if loop is None:
            return False
        t = params.dtype.type
        v = self.velocity[block]
        lr, mu = self.learning_rate, self.momentum
        loop(params, grads, v, t(-lr), t(mu), self.nesterov, n_penalised, t(penalty))
        return True

    def _numpy_update(self, params, grads, block):
        v, s = self.velocity[block], self.workspace[block]
        lr, mu = self.learning_rate, self.momentum
        np.multiply(grads, -lr, out=s)  # s = -lr g
        v *= mu
        v += s  # v = mu v - lr g
        if self.nesterov:
            params += s
            np.multiply(v, mu, out=s)
            params += s  # theta += mu v - lr g
        else:
            params += v

    def iteration_ends(self, time_step):
        self.schedule.iteration_ends(time_step)

    def reduce_on_plateau(self):
        return self.schedule.reduce_on_plateau()


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2014).

    Running averages of the gradient and of its square, with bias correction
    folded into the step size::

        m <- beta_1 m + (1 - beta_1) g
        v <- beta_2 v + (1 - beta_2) g^2
        lr_t = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)
        theta <- theta - lr_t * m / (sqrt(v) + epsilon)

    To save two passes over the parameter vector per step, the state is kept
    as decayed *sums* ``S1 = m / (1 - beta_1)`` and ``S2 = v / (1 - beta_2)``,
    which update as ``S <- beta S + g`` (no ``(1 - beta)`` factor); the
    constants come back in the step::

        theta <- theta - c_t * S1 / (sqrt(S2) + epsilon / sqrt(1 - beta_2))
        c_t = lr_t * (1 - beta_1) / sqrt(1 - beta_2)

    which is the same update (scikit-learn's trajectory is reproduced to
    round-off).

    Parameters
    ----------
    params : ndarray of shape (n_params,)
    learning_rate_init : float, default=0.001
    beta_1 : float, default=0.9
    beta_2 : float, default=0.999
    epsilon : float, default=1e-8

    Attributes
    ----------
    t : int
        Number of steps taken.
    m, v : ndarray of shape (n_params,)
        First and second moment estimates (computed from the sums on access).
    """

    def __init__(
        self, params, learning_rate_init=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8
    ):
        super().__init__(params, learning_rate_init)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.t = 0
        self.grad_sum = aligned_zeros(params.shape, params.dtype)
        self.sq_grad_sum = aligned_zeros(params.shape, params.dtype)
        self._lr = self.learning_rate_init

    @property
    def m(self):
        return self.grad_sum * (1 - self.beta_1)

    @property
    def v(self):
        return self.sq_grad_sum * (1 - self.beta_2)

    @property
    def learning_rate(self):
        """float: the bias-corrected step size of the last step."""
        return self._lr

    def _base_rate(self):
        return self.learning_rate_init

    def begin_step(self, weight_decay=0.0):
        self.t += 1
        b1, b2 = self.beta_1, self.beta_2
        # A Python float, not a NumPy scalar: float32 vectors stay float32.
        self._lr = self._base_rate() * (1 - b2**self.t) ** 0.5 / (1 - b1**self.t)

    def _scalars(self):
        """The step's ``eps_hat`` and ``step`` (see the class docstring)."""
        root = (1 - self.beta_2) ** 0.5
        return self.epsilon / root, self._lr * (1 - self.beta_1) / root

    kernel_name = "adam"

    def _compiled_update(self, params, grads, block, penalty, n_penalised):
        loop = compiled.kernel(self.kernel_name, params.dtype)
        if loop is None:
            return False
        t = params.dtype.type
        eps_hat, step = self._scalars()
        loop(
            params,
            grads,
            self.grad_sum[block],
            self.sq_grad_sum[block],
            t(self.beta_1),
            t(self.beta_2),
            t(eps_hat),
            t(step),
            n_penalised,
            t(penalty),
            *compiled.adam_square_bounds(params.dtype),
        )
        return True

    def _numpy_update(self, params, grads, block):
        s1, s2 = self.grad_sum[block], self.sq_grad_sum[block]
        eps_hat, step = self._scalars()
        scratch = self.workspace[block]
        s1 *= self.beta_1
        s1 += grads
        np.multiply(grads, grads, out=scratch)
        s2 *= self.beta_2
        s2 += scratch
        np.sqrt(s2, out=scratch)
        scratch += eps_hat
        np.divide(s1, scratch, out=scratch)
        scratch *= step
        params -= scratch


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019).

    With Adam, an L2 penalty added to the gradient is divided by
    ``sqrt(v)`` like the rest of the gradient, so weights with large
    gradients are barely regularised. AdamW leaves the penalty out of the
    gradient and shrinks the weights directly::

        W <- W - lr * lambda * W          (then the Adam step)

    with ``lambda`` the weight decay (the estimators pass ``alpha``, with the
    meaning of PyTorch's ``weight_decay``). Biases are not decayed. ``lr``
    follows the learning-rate schedule.

    Parameters
    ----------
    params : ndarray of shape (n_params,)
    learning_rate_init : float, default=0.001
    beta_1, beta_2, epsilon : float
        As for :class:`Adam`.
    lr_schedule : {'constant', 'invscaling', 'adaptive'}, default='constant'
        See :class:`LearningRateSchedule`.
    power_t : float, default=0.5
    n_decayed : int, optional
        The first ``n_decayed`` entries of the vector are decayed (a
        network's weights, before its biases); all of them by default.
    """

    decoupled_weight_decay = True

    def __init__(
        self,
        params,
        learning_rate_init=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        lr_schedule="constant",
        power_t=0.5,
        n_decayed=None,
    ):
        super().__init__(params, learning_rate_init, beta_1, beta_2, epsilon)
        self.schedule = LearningRateSchedule(learning_rate_init, lr_schedule, power_t)
        self.n_decayed = params.size if n_decayed is None else int(n_decayed)
        self._shrink = 0.0

    @property
    def learning_rate(self):
        """float: the scheduled learning rate (before bias correction)."""
        return self.schedule.learning_rate

    def _base_rate(self):
        return self.schedule.learning_rate

    def begin_step(self, weight_decay=0.0):
        super().begin_step()
        self._shrink = self._base_rate() * weight_decay

    def update(self, params, grads, block=slice(None), penalty=0.0, n_penalised=0):
        start, stop, _ = block.indices(params.size)
        decayed = min(stop, self.n_decayed)
        if self._shrink and start < decayed:
            if penalty and start < n_penalised:
                # The penalty's gradient at the weights before the decay.
                end = min(stop, n_penalised)
                add_l2_gradient(
                    grads[start:end],
                    params[start:end],
                    penalty,
                    self.workspace[start:end],
                )
                penalty = 0.0
            params[start:decayed] *= 1.0 - self._shrink
        super().update(params, grads, block, penalty, n_penalised)

    def iteration_ends(self, time_step):
        self.schedule.iteration_ends(time_step)

    def reduce_on_plateau(self):
        return self.schedule.reduce_on_plateau()


class RMSprop(Optimizer):
    """RMSprop (Hinton, 2012), with Adam's bias correction.

    Each parameter's step is divided by a running root mean square of its
    gradients::

        v <- rho v + (1 - rho) g^2
        theta <- theta - lr * g / (sqrt(v / (1 - rho^t)) + epsilon)

    The correction ``1 - rho^t`` keeps the first steps from being too large
    while ``v`` is still close to its zero start. The state is kept as the
    decayed sum ``S = v / (1 - rho)`` (see :class:`Adam`). ``lr`` follows the
    learning-rate schedule.

    Parameters
    ----------
    params : ndarray of shape (n_params,)
    learning_rate_init : float, default=0.001
    rho : float, default=0.999
        Decay of the squared-gradient average (the estimators pass
        ``beta_2``).
    epsilon : float, default=1e-8
    lr_schedule : {'constant', 'invscaling', 'adaptive'}, default='constant'
    power_t : float, default=0.5
    """

    def __init__(
        self,
        params,
        learning_rate_init=0.001,
        rho=0.999,
        epsilon=1e-8,
        lr_schedule="constant",
        power_t=0.5,
    ):
        super().__init__(params, learning_rate_init)
        self.rho = float(rho)
        self.epsilon = float(epsilon)
        self.schedule = LearningRateSchedule(learning_rate_init, lr_schedule, power_t)
        self.t = 0
        self.sq_grad_sum = aligned_zeros(params.shape, params.dtype)
        self._step = self._eps = 0.0

    @property
    def learning_rate(self):
        return self.schedule.learning_rate

    @property
    def v(self):
        """Running mean of squared gradients (before bias correction)."""
        return self.sq_grad_sum * (1 - self.rho)

    def begin_step(self, weight_decay=0.0):
        self.t += 1
        # sqrt(v_hat) = k sqrt(S) with k = sqrt((1 - rho) / (1 - rho^t)).
        k = ((1 - self.rho) / (1 - self.rho**self.t)) ** 0.5
        self._step = self.learning_rate / k
        self._eps = self.epsilon / k

    def _numpy_update(self, params, grads, block):
        s2, scratch = self.sq_grad_sum[block], self.workspace[block]
        np.multiply(grads, grads, out=scratch)
        s2 *= self.rho
        s2 += scratch
        np.sqrt(s2, out=scratch)
        scratch += self._eps
        np.divide(grads, scratch, out=scratch)
        scratch *= self._step
        params -= scratch

    def iteration_ends(self, time_step):
        self.schedule.iteration_ends(time_step)

    def reduce_on_plateau(self):
        return self.schedule.reduce_on_plateau()


def make_optimizer(solver, params, **options):
    """Create the optimizer named like the estimators' ``solver`` values.

    Parameters
    ----------
    solver : {'sgd', 'adam', 'adamw', 'rmsprop'}
    params : ndarray of shape (n_params,)
    **options
        Keyword arguments of the optimizer class.

    Returns
    -------
    optimizer : Optimizer
    """
    classes = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop}
    if solver not in classes:
        raise ValueError(f"Unknown stochastic solver {solver!r}.")
    return classes[solver](params, **options)
