"""Stochastic optimizers, each ``step(params, grads)`` updating the flat
parameter vector in place. The rules are scikit-learn's, so a network follows
the same trajectory as scikit-learn's (and skscratch's) MLP. The state
(velocity, moments) lives in the parameters' namespace, on their device.
"""

import math

from ._xp import array_namespace


class Schedule:
    """The learning rate over epochs, as scikit-learn's ``learning_rate``.

    - ``'constant'``: ``lr = lr0`` forever.
    - ``'invscaling'``: after each epoch, ``lr = lr0 / (t + 1) ** power_t``
      with ``t`` the number of samples seen so far.
    - ``'adaptive'``: ``lr / 5`` each time training stalls
      (:meth:`reduce_on_plateau`), stopping once ``lr <= 1e-6``.
    """

    def __init__(self, learning_rate=0.001, kind="constant", power_t=0.5):
        self.lr0 = self.lr = float(learning_rate)
        self.kind, self.power_t = kind, power_t

    def iteration_ends(self, samples_seen):
        if self.kind == "invscaling":
            self.lr = self.lr0 / (samples_seen + 1) ** self.power_t

    def reduce_on_plateau(self):
        """True to keep training (the rate was divided by 5)."""
        if self.kind != "adaptive" or self.lr <= 1e-6:
            return False
        self.lr /= 5.0
        return True


class Optimizer:
    """Base class: holds a :class:`Schedule`; ``step`` is the update rule."""

    def __init__(self, learning_rate, schedule="constant", power_t=0.5):
        self.schedule = Schedule(learning_rate, schedule, power_t)

    @property
    def learning_rate(self):
        """The current learning rate."""
        return self.schedule.lr

    def iteration_ends(self, samples_seen):
        """Called at the end of each epoch."""
        self.schedule.iteration_ends(samples_seen)

    def reduce_on_plateau(self):
        return self.schedule.reduce_on_plateau()


class SGD(Optimizer):
    """SGD with momentum ``mu``; the velocity ``v`` starts at 0.

    The update::

        v     <- mu v - lr g
        theta <- theta + v                  (classical momentum)
        theta <- theta + mu v - lr g        (Nesterov: a look-ahead along v)
    """

    def __init__(self, learning_rate=0.1, momentum=0.9, nesterov=True, **schedule):
        super().__init__(learning_rate, **schedule)
        self.momentum, self.nesterov, self.v = momentum, nesterov, None

    def step(self, params, grads):
        lr, mu = self.schedule.lr, self.momentum
        self.v = (
            array_namespace(params).zeros_like(params) if self.v is None else self.v
        )
        self.v = mu * self.v - lr * grads
        params += mu * self.v - lr * grads if self.nesterov else self.v


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), with scikit-learn's placement of ``epsilon``::

        m <- beta_1 m + (1 - beta_1) g           (mean of g)
        v <- beta_2 v + (1 - beta_2) g^2         (mean of g^2)
        lr_t = lr sqrt(1 - beta_2^t) / (1 - beta_1^t)
        theta <- theta - lr_t m / (sqrt(v) + epsilon)

    ``lr_t`` folds the bias corrections ``m / (1 - beta_1^t)`` and
    ``v / (1 - beta_2^t)`` into the rate (the paper's "efficient" form, section
    2); it equals the textbook ``lr m_hat / (sqrt(v_hat) + eps_hat)`` with
    ``eps_hat = epsilon sqrt(1 - beta_2^t)``. The learning rate is constant.
    """

    def __init__(
        self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8, **schedule
    ):
        super().__init__(learning_rate, **schedule)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.t, self.m, self.v = 0, None, None

    def step(self, params, grads):
        b1, b2 = self.beta_1, self.beta_2
        xp = array_namespace(params)
        if self.m is None:
            self.m, self.v = xp.zeros_like(params), xp.zeros_like(params)
        self.t += 1
        self.m = b1 * self.m + (1 - b1) * grads
        self.v = b2 * self.v + (1 - b2) * grads**2
        lr_t = self.schedule.lr * math.sqrt(1 - b2**self.t) / (1 - b1**self.t)
        params -= lr_t * self.m / (xp.sqrt(self.v) + self.epsilon)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019)::

        theta[:n_decayed] <- (1 - lr weight_decay) theta[:n_decayed]
        then the Adam step on theta.

    The decay shrinks weights directly instead of passing through Adam's
    ``1 / sqrt(v)`` scaling, so every weight is regularised alike; biases
    (after ``n_decayed``) are not decayed.
    """

    def __init__(self, learning_rate=0.001, weight_decay=0.0, n_decayed=None, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.weight_decay, self.n_decayed = weight_decay, n_decayed

    def step(self, params, grads):
        params[: self.n_decayed] *= 1 - self.schedule.lr * self.weight_decay
        super().step(params, grads)


class RMSprop(Optimizer):
    """RMSprop (Hinton, 2012) with Adam's bias correction of ``v``.

    The update::

        v <- rho v + (1 - rho) g^2
        theta <- theta - lr g / (sqrt(v / (1 - rho^t)) + epsilon)
    """

    def __init__(self, learning_rate=0.001, rho=0.999, epsilon=1e-8, **schedule):
        super().__init__(learning_rate, **schedule)
        self.rho, self.epsilon, self.t, self.v = rho, epsilon, 0, None

    def step(self, params, grads):
        xp = array_namespace(params)
        self.v = xp.zeros_like(params) if self.v is None else self.v
        self.t += 1
        self.v = self.rho * self.v + (1 - self.rho) * grads**2
        v_hat = self.v / (1 - self.rho**self.t)
        params -= self.schedule.lr * grads / (xp.sqrt(v_hat) + self.epsilon)
