"""Cache-line aligned allocation of the core's vectors and buffers."""

import pickle

import numpy as np
import pytest

from skscratch.core import build_mlp, compiled
from skscratch.core.memory import CACHE_LINE, SMALL, aligned_empty, aligned_zeros
from skscratch.core.optimizers import SGD, Adam, AdamW, RMSprop


def _offset(array):
    return array.ctypes.data % CACHE_LINE


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "shape", [0, 1, 7, 4096, np.int64(5000), 235146, (3, 5), (200, 784), (0, 4)]
)
def test_aligned_arrays_have_the_shape_dtype_and_alignment_asked_for(shape, dtype):
    for _ in range(5):  # several allocations: NumPy's own offsets vary
        empty = aligned_empty(shape, dtype)
        zeros = aligned_zeros(shape, dtype)
        expected = (int(shape),) if np.ndim(shape) == 0 else shape
        for array in (empty, zeros):
            assert array.shape == expected
            assert array.dtype == dtype
            assert array.flags.c_contiguous and array.flags.writeable
            if array.nbytes >= SMALL:
                assert _offset(array) == 0
            else:  # too small to be worth it: as NumPy allocates it
                assert array.base is None
        assert not zeros.any()
        # Writes go where a plain array's would.
        empty[...] = np.arange(empty.size, dtype=dtype).reshape(expected)
        assert np.array_equal(empty.ravel(), np.arange(empty.size, dtype=dtype))


def test_other_alignments():
    for alignment in (16, 32, 128, 4096):
        array = aligned_empty(SMALL, np.float64, alignment=alignment)
        assert array.ctypes.data % alignment == 0


def test_network_vectors_and_layer_buffers_are_aligned():
    net = build_mlp([784, 256, 128, 10], "relu", dtype=np.float32)
    assert _offset(net.params) == 0
    assert _offset(net.grads) == 0
    assert _offset(net.penalty_scratch()) == 0
    X = np.random.default_rng(0).random((200, 784), dtype=np.float32)
    Y = np.eye(10, dtype=np.float32)[np.arange(200) % 10]
    net.loss_and_gradient(X, Y, "log_loss", alpha=1e-4)
    # The hidden layers' outputs (the last one's, 200 x 10, is too small to
    # be aligned).
    for layer in net.dense_layers[:-1]:
        assert _offset(layer._out.rows(200, layer.n_out, net.dtype)) == 0


def _state_arrays(optimizer):
    return {
        k: v
        for k, v in vars(optimizer).items()
        if isinstance(v, np.ndarray) and k != "_workspace"
    }


@pytest.mark.parametrize(
    "make",
    [
        lambda p: SGD(p, 0.1, momentum=0.9),
        lambda p: Adam(p),
        lambda p: AdamW(p),
        lambda p: RMSprop(p),
    ],
    ids=["sgd", "adam", "adamw", "rmsprop"],
)
def test_optimizer_state_is_aligned_and_stays_so_through_pickle(make):
    params = aligned_zeros(SMALL // 4 + 1, np.float32)
    optimizer = make(params)
    grads = np.linspace(-1, 1, params.size, dtype=np.float32)
    optimizer.begin_step()
    optimizer.update(params, grads, slice(None))
    assert _offset(optimizer.workspace) == 0  # scratch space, made on demand
    state = _state_arrays(optimizer)
    assert state and all(_offset(v) == 0 for v in state.values())

    copy = pickle.loads(pickle.dumps(optimizer))
    assert copy._workspace is None  # never pickled
    copied = _state_arrays(copy)
    assert copied.keys() == state.keys()
    for key, value in copied.items():
        assert _offset(value) == 0, key
        np.testing.assert_array_equal(value, state[key])
    # The copy goes on exactly as the original does.
    twin = params.copy()
    for opt, p in ((optimizer, params), (copy, twin)):
        opt.begin_step()
        opt.update(p, grads, slice(None))
    np.testing.assert_array_equal(params, twin)


@pytest.mark.parametrize("make", [lambda p: SGD(p, 0.1, momentum=0.9), Adam])
def test_optimizer_workspace_is_only_made_for_the_numpy_code(make):
    # The compiled kernels need no scratch vector: none is allocated (it is
    # as large as the parameters). The NumPy code makes it on first use.
    runs = {}
    for use_kernels in (True, False):
        params = np.ones(5000)
        grads = np.linspace(-1, 1, 5000)  # the penalty is added in place
        optimizer = make(params)
        optimizer.begin_step()
        if use_kernels:
            if not compiled.available():
                continue
            optimizer.update(params, grads, penalty=0.1, n_penalised=3000)
            assert optimizer._workspace is None
        else:
            with compiled.disabled():
                optimizer.update(params, grads, penalty=0.1, n_penalised=3000)
            assert optimizer._workspace is not None
        runs[use_kernels] = params
    if len(runs) == 2:
        np.testing.assert_array_equal(runs[True], runs[False])


def test_stochastic_training_allocates_no_penalty_scratch():
    # The L2 term's gradient goes into the optimizer's pass: the network's
    # scratch vector for it is only for L-BFGS (no optimizer).
    from sklearn.datasets import load_digits

    from skscratch import ScratchMLPClassifier

    X, y = load_digits(return_X_y=True)
    clf = ScratchMLPClassifier(hidden_layer_sizes=(20,), max_iter=2, random_state=0)
    with pytest.warns(Warning):
        clf.fit(X, y)
    assert clf._network_for_training()._scratch is None


def test_epoch_shuffle_is_in_place_with_scikit_learns_order():
    from sklearn.utils import shuffle

    from skscratch._base import _shuffled

    ours, reference = np.random.RandomState(3), np.random.RandomState(3)
    sample_idx = np.arange(1000, dtype=np.intp)
    expected = sample_idx.copy()
    for _ in range(3):
        expected = shuffle(expected, random_state=reference)
        result = _shuffled(sample_idx, ours)
        assert result is sample_idx  # no new index arrays at each epoch
        np.testing.assert_array_equal(result, expected)
