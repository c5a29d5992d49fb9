"""The implementations timed against each other, and their thread pools.

"skscratch" runs as installed: with the compiled kernels when Numba is
there. "skscratch-numpy" is the same estimator with the kernels switched off
(``skscratch.core.compiled.disabled``), i.e. NumPy alone. "sklearn" is
scikit-learn's ``MLPClassifier`` and "torch" the eager PyTorch loop below.
"""

import itertools
import math
import os

import numpy as np


class TorchMLPClassifier:
    """Eager PyTorch CPU training loop with an MLPClassifier-like interface.

    Mirrors what scikit-learn does so the work is comparable: Glorot-uniform
    initialisation of weights and biases (bound ``sqrt(6 / (fan_in +
    fan_out))``), mean cross-entropy over the mini-batch, the L2 penalty added
    to the weight gradients (not the biases) as ``alpha * W / batch_rows``,
    rows reshuffled every epoch, float32 throughout.
    """

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        *,
        solver="adam",
        alpha=1e-4,
        batch_size=200,
        learning_rate_init=1e-3,
        max_iter=200,
        shuffle=True,
        random_state=None,
        momentum=0.9,
        nesterovs_momentum=True,
        activation="relu",
    ):
        if activation != "relu" or solver not in ("adam", "sgd"):
            raise ValueError("TorchMLPClassifier supports relu with adam or sgd")
        self.hidden_layer_sizes = hidden_layer_sizes
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.activation = activation

    def _build(self, sizes):
        import torch

        layers = []
        for fan_in, fan_out in itertools.pairwise(sizes):
            linear = torch.nn.Linear(fan_in, fan_out)
            bound = math.sqrt(6.0 / (fan_in + fan_out))
            with torch.no_grad():
                linear.weight.uniform_(-bound, bound)
                linear.bias.uniform_(-bound, bound)
            layers += [linear, torch.nn.ReLU()]
        return torch.nn.Sequential(*layers[:-1])  # no ReLU after the output

    def _optimizer(self, model):
        import torch

        if self.solver == "adam":
            return torch.optim.Adam(
                model.parameters(),
                lr=self.learning_rate_init,
                betas=(0.9, 0.999),
                eps=1e-8,
                weight_decay=0,
            )
        return torch.optim.SGD(
            model.parameters(),
            lr=self.learning_rate_init,
            momentum=self.momentum,
            nesterov=self.nesterovs_momentum,
        )

    def fit(self, X, y):
        import torch

        seed = 0 if self.random_state is None else int(self.random_state)
        torch.manual_seed(seed)
        X_t = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        y_t = torch.from_numpy(y_idx.astype(np.int64))
        n_samples = X_t.shape[0]
        sizes = [X_t.shape[1], *self.hidden_layer_sizes, len(self.classes_)]
        model = self._build(sizes)
        weights = [m.weight for m in model if isinstance(m, torch.nn.Linear)]
        optimizer = self._optimizer(model)
        loss_fn = torch.nn.CrossEntropyLoss()
        generator = torch.Generator().manual_seed(seed)
        batch = max(1, min(self.batch_size, n_samples))
        for _ in range(self.max_iter):
            if self.shuffle:
                order = torch.randperm(n_samples, generator=generator)
            else:
                order = torch.arange(n_samples)
            for start in range(0, n_samples, batch):
                idx = order[start : start + batch]
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(model(X_t[idx]), y_t[idx])
                loss.backward()
                if self.alpha:
                    with torch.no_grad():
                        for w in weights:
                            w.grad.add_(w, alpha=self.alpha / len(idx))
                optimizer.step()
        self.model_ = model
        self.n_iter_ = self.max_iter
        return self

    def predict_proba(self, X):
        import torch

        X_t = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
        with torch.inference_mode():
            return torch.softmax(self.model_(X_t), dim=1).numpy()

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def _numpy_only_class():
    from skscratch import ScratchMLPClassifier
    from skscratch.core import compiled

    class NumpyOnlyScratchMLPClassifier(ScratchMLPClassifier):
        """skscratch with its optimizers' NumPy code, not the Numba kernels."""

        def fit(self, X, y, **kwargs):
            with compiled.disabled():
                return super().fit(X, y, **kwargs)

    return NumpyOnlyScratchMLPClassifier


def _import_impl(name, notes):
    """The estimator class of implementation ``name``, or None (with a note)."""
    if name == "skscratch":
        from skscratch import ScratchMLPClassifier

        return ScratchMLPClassifier
    if name == "skscratch-numpy":
        from skscratch.core import compiled

        if not compiled.available():
            notes.append(
                "skscratch-numpy skipped: Numba is not installed, so "
                "skscratch itself runs its NumPy code"
            )
            return None
        return _numpy_only_class()
    if name == "sklearn":
        from sklearn.neural_network import MLPClassifier

        return MLPClassifier
    if name == "torch":
        import torch  # noqa: F401

        return TorchMLPClassifier
    raise ValueError(f"unknown implementation {name!r}")


def available_impls(requested):
    """Return ``(classes, notes)``: estimator classes that import, and why not."""
    classes, notes = {}, []
    for name in requested:
        try:
            cls = _import_impl(name, notes)
        except ImportError as exc:
            notes.append(f"{name} skipped: not importable ({exc})")
            continue
        if cls is not None:
            classes[name] = cls
    return classes, notes


def blas_threads():
    """Number of threads of the BLAS numpy uses (None if unknown)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    counts = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    return max(counts) if counts else None


def limit_threads(n):
    """Cap every BLAS / OpenMP pool loaded so far at ``n`` threads."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(n)  # stays in force for the rest of the process


def configure_torch():
    """Match PyTorch's intra-op threads to the BLAS thread count."""
    import torch

    n = blas_threads() or os.cpu_count() or 1
    torch.set_num_threads(n)
    return n
