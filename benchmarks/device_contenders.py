"""What ``bench_device.py`` times: skscratch on PyTorch tensors under
scikit-learn's array-API dispatch, a hand-written PyTorch loop of the same
network on the same device, skscratch's NumPy CPU path, and ``torch.matmul``
alone, each with the device synchronised around the clock."""

import itertools
import math
import sys
import time
import warnings

import numpy as np
from implementations import TorchMLPClassifier
from settings import EXIT_NO_DATA, HIDDEN, RANDOM_STATE

# skscratch on torch tensors (dispatch), the hand-written loop, skscratch on NumPy.
SKSCRATCH_TORCH = "skscratch-torch"
TORCH_LOOP = "torch-loop"
SKSCRATCH_CPU = "skscratch-cpu"
DEVICE_IMPLS = (SKSCRATCH_TORCH, TORCH_LOOP, SKSCRATCH_CPU)
MATMUL = "torch.matmul"

N_CLASSES = 10
N_FEATURES = 784
WORKLOADS = ("mnist", "wide")
MNIST_BATCH = 200
WIDE_BATCH = 1024


def workload_shape(workload, width):
    """``(hidden_layer_sizes, batch_size)`` of a workload."""
    if workload == "mnist":
        return HIDDEN, MNIST_BATCH
    return (width, width), WIDE_BATCH


def layer_sizes(workload, width):
    """Units of every layer, inputs and outputs included."""
    return [N_FEATURES, *workload_shape(workload, width)[0], N_CLASSES]


def import_torch():
    """PyTorch, or exit 2 saying how to install it."""
    try:
        import torch
    except ImportError:
        print(
            "error: bench_device.py needs PyTorch. Install it with `pip install "
            "torch` (for the CPU build alone: `pip install torch --index-url "
            "https://download.pytorch.org/whl/cpu`).",
            file=sys.stderr,
        )
        sys.exit(EXIT_NO_DATA)
    return torch


def synchronizer(torch, device):
    """A function that waits for the device's queued work (a no-op on CPU).

    CUDA calls return before their kernels finish, so a clock read without
    it would time the queueing, not the work.
    """
    if torch.device(device).type == "cuda":
        return torch.cuda.synchronize
    return lambda: None


def synthetic_mnist(rows, seed=RANDOM_STATE):
    """MNIST-shaped data without MNIST: 784 pixels in [0, 1), about 80 %
    zeros as in MNIST, and 10 classes that a linear model can learn."""
    rng = np.random.default_rng(seed)
    X = rng.random((rows, N_FEATURES), dtype=np.float32)
    X *= rng.random((rows, N_FEATURES)) < 0.2
    W = rng.standard_normal((N_FEATURES, N_CLASSES))
    y = np.argmax(X @ W, axis=1).astype(np.int64)
    return X, y


def _quietly(fit):
    """Run ``fit()`` without max_iter convergence warnings."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Mm]aximum iteration")
        return fit()


class TorchDeviceLoop(TorchMLPClassifier):
    """The benchmark's PyTorch loop (network, initialisation, optimizer and
    L2 term of :class:`implementations.TorchMLPClassifier`) trained on
    tensors that already are on the device.

    ``X`` is float32 and ``y`` holds class indices, both on one device;
    batches are gathered by index from a permutation drawn there, so no
    transfer happens within an epoch. The epoch's objective is read back once
    per epoch, as ``loss_curve_``; its L2 term uses the epoch's last weights.
    """

    def fit(self, X, y):
        import torch

        seed = 0 if self.random_state is None else int(self.random_state)
        torch.manual_seed(seed)
        n = X.shape[0]
        sizes = [X.shape[1], *self.hidden_layer_sizes, N_CLASSES]
        model = self._build(sizes).to(X.device)
        weights = [m.weight for m in model if isinstance(m, torch.nn.Linear)]
        optimizer = self._optimizer(model)
        loss_fn = torch.nn.CrossEntropyLoss()
        generator = torch.Generator(device=X.device).manual_seed(seed)
        batch = max(1, min(self.batch_size, n))
        self.loss_curve_ = []
        for _ in range(self.max_iter):
            order = torch.randperm(n, device=X.device, generator=generator)
            total = torch.zeros((), device=X.device)
            for start in range(0, n, batch):
                idx = order[start : start + batch]
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(model(X[idx]), y[idx])
                loss.backward()
                with torch.no_grad():
                    for w in weights:
                        w.grad.add_(w, alpha=self.alpha / len(idx))
                optimizer.step()
                total += loss.detach() * len(idx)
            with torch.no_grad():
                squares = sum(w.pow(2).sum() for w in weights)
            penalty = 0.5 * self.alpha * squares * math.ceil(n / batch) / n
            self.loss_curve_.append(float(total / n + penalty))
        self.model_ = model
        self.n_iter_ = self.max_iter
        return self


def _fit_skscratch_torch(params, data):
    from sklearn import config_context

    from skscratch import ScratchMLPClassifier

    with config_context(array_api_dispatch=True):
        return ScratchMLPClassifier(**params).fit(data.X, data.y)


def _fit_torch_loop(params, data):
    return TorchDeviceLoop(**params).fit(data.X, data.y)


def _fit_skscratch_cpu(params, data):
    from skscratch import ScratchMLPClassifier

    return ScratchMLPClassifier(**params).fit(data.X_host, data.y_host)


FITS = {
    SKSCRATCH_TORCH: _fit_skscratch_torch,
    TORCH_LOOP: _fit_torch_loop,
    SKSCRATCH_CPU: _fit_skscratch_cpu,
}


def timed_fit(name, params, data, sync):
    """Fit contender ``name``; return ``(seconds, n_iter, last loss)``.

    The device is synchronised before the clock starts and before it stops.
    """
    sync()
    start = time.perf_counter()
    model = _quietly(lambda: FITS[name](params, data))
    sync()
    seconds = time.perf_counter() - start
    return seconds, int(model.n_iter_), float(model.loss_curve_[-1])


class MatmulTimer:
    """Seconds of one ``torch.matmul`` of two ``size`` x ``size`` float32
    matrices on the device: the device's own matrix-product throughput.

    Parameters
    ----------
    torch : module
    device : str
    size : int
    sync : callable
        Waits for the device (see :func:`synchronizer`).
    min_seconds : float
        Products are repeated until one timing lasts this long, so that a
        fast device is not timed by its launch latency.
    """

    def __init__(self, torch, device, size, sync, min_seconds=0.2):
        generator = torch.Generator().manual_seed(RANDOM_STATE)
        a, b = (torch.randn(size, size, generator=generator) for _ in range(2))
        self.a, self.b = a.to(device), b.to(device)
        self.out = torch.empty_like(self.a)
        self.torch, self.sync, self.min_seconds = torch, sync, min_seconds
        self.count = 1
        self.flops = 2.0 * size**3

    def _time(self, count):
        self.sync()
        start = time.perf_counter()
        for _ in range(count):
            self.torch.matmul(self.a, self.b, out=self.out)
        self.sync()
        return time.perf_counter() - start

    def __call__(self):
        """Seconds per product (the first call also finds the repeat count)."""
        seconds = self._time(self.count)
        while seconds < self.min_seconds:
            self.count = max(2 * self.count, math.ceil(self.min_seconds / seconds))
            seconds = self._time(self.count)
        return seconds / self.count


def epoch_flops(rows, sizes):
    """Floating-point operations of one epoch's forward and backward
    products: 2 per multiply-add, 3 products (forward, weight gradient,
    input gradient) per layer, so 6 * rows * sum(in * out)."""
    return 6.0 * rows * sum(a * b for a, b in itertools.pairwise(sizes))
