"""Tests for skscratch.datasets.load_mnist on tiny IDX files made here."""

import gzip
import struct

import numpy as np
import pytest

from skscratch.datasets import MNIST_ENV_VAR, load_mnist, mnist_dir_from_env

N_TRAIN = 5
N_TEST = 3


def _idx_bytes(array, magic):
    """Encode a uint8 array as an IDX file: magic, dims (big-endian), data."""
    array = np.asarray(array, dtype=np.uint8)
    header = struct.pack(">I", magic) + b"".join(
        struct.pack(">I", d) for d in array.shape
    )
    return header + array.tobytes()


def _fake_split(n, seed):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    # Make sure the extremes are present so scaling is visible.
    images[0, 0, 0] = 0
    images[0, 0, 1] = 255
    labels = (np.arange(n) * 3 + seed) % 10
    return images, labels.astype(np.uint8)


def _write(path, payload, gz):
    if gz:
        with gzip.open(str(path) + ".gz", "wb") as fh:
            fh.write(payload)
    else:
        path.write_bytes(payload)


def write_mnist(directory, gz=True, overrides=None):
    """Write four tiny IDX files; ``overrides`` maps base name to raw bytes."""
    overrides = overrides or {}
    train = _fake_split(N_TRAIN, seed=1)
    test = _fake_split(N_TEST, seed=2)
    files = {
        "train-images-idx3-ubyte": _idx_bytes(train[0], 2051),
        "train-labels-idx1-ubyte": _idx_bytes(train[1], 2049),
        "t10k-images-idx3-ubyte": _idx_bytes(test[0], 2051),
        "t10k-labels-idx1-ubyte": _idx_bytes(test[1], 2049),
    }
    files.update(overrides)
    for base, payload in files.items():
        _write(directory / base, payload, gz)
    return train, test


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv(MNIST_ENV_VAR, raising=False)


@pytest.mark.parametrize("gz", [True, False])
def test_loads_shapes_dtypes_values(tmp_path, gz):
    (train_img, train_lab), (test_img, test_lab) = write_mnist(tmp_path, gz=gz)
    X_train, y_train, X_test, y_test = load_mnist(tmp_path)

    assert X_train.shape == (N_TRAIN, 784)
    assert X_test.shape == (N_TEST, 784)
    assert y_train.shape == (N_TRAIN,)
    assert y_test.shape == (N_TEST,)
    assert X_train.dtype == np.float32 and X_test.dtype == np.float32
    assert y_train.dtype == np.int64 and y_test.dtype == np.int64

    np.testing.assert_array_equal(y_train, [1, 4, 7, 0, 3])
    np.testing.assert_array_equal(y_test, [2, 5, 8])
    np.testing.assert_array_equal(y_train, train_lab)
    np.testing.assert_array_equal(y_test, test_lab)
    # Row i is image i flattened row-major, divided by 255.
    expected = train_img.reshape(N_TRAIN, 784).astype(np.float32) / 255
    np.testing.assert_array_equal(X_train, expected)
    np.testing.assert_array_equal(
        X_test, test_img.reshape(N_TEST, 784).astype(np.float32) / 255
    )
    assert X_train[0, 0] == 0.0
    assert X_train[0, 1] == 1.0
    assert X_train.min() >= 0.0 and X_train.max() <= 1.0


def test_unscaled_and_float64(tmp_path):
    (train_img, _), _ = write_mnist(tmp_path)
    X_train, _, X_test, _ = load_mnist(tmp_path, dtype=np.float64, scale=False)
    assert X_train.dtype == np.float64 and X_test.dtype == np.float64
    np.testing.assert_array_equal(X_train, train_img.reshape(N_TRAIN, 784))
    assert X_train[0, 1] == 255.0

    X64, _, _, _ = load_mnist(tmp_path, dtype=np.float64)
    np.testing.assert_allclose(X64 * 255, train_img.reshape(N_TRAIN, 784))


def test_uint8_without_scaling_and_rejected_with_scaling(tmp_path):
    (train_img, _), _ = write_mnist(tmp_path)
    X_train, _, _, _ = load_mnist(tmp_path, dtype=np.uint8, scale=False)
    assert X_train.dtype == np.uint8
    np.testing.assert_array_equal(X_train, train_img.reshape(N_TRAIN, 784))
    with pytest.raises(ValueError, match="floating dtype"):
        load_mnist(tmp_path, dtype=np.uint8)


def test_mixed_plain_and_gzipped_and_str_path(tmp_path):
    write_mnist(tmp_path, gz=True)
    # Replace one gzipped file by its plain version only.
    gz_path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    with gzip.open(gz_path, "rb") as fh:
        (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(fh.read())
    gz_path.unlink()
    _, _, _, y_test = load_mnist(str(tmp_path))
    np.testing.assert_array_equal(y_test, [2, 5, 8])


def test_plain_file_preferred_over_gz(tmp_path):
    write_mnist(tmp_path, gz=True)
    other = np.array([9, 9, 9], dtype=np.uint8)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx_bytes(other, 2049))
    _, _, _, y_test = load_mnist(tmp_path)
    np.testing.assert_array_equal(y_test, [9, 9, 9])


def test_env_var_used_when_no_data_dir(tmp_path, monkeypatch):
    write_mnist(tmp_path)
    assert mnist_dir_from_env() is None
    monkeypatch.setenv(MNIST_ENV_VAR, str(tmp_path))
    assert mnist_dir_from_env() == tmp_path
    X_train, y_train, _, _ = load_mnist()
    assert X_train.shape == (N_TRAIN, 784)
    np.testing.assert_array_equal(y_train, [1, 4, 7, 0, 3])


def test_explicit_data_dir_wins_over_env(tmp_path, monkeypatch):
    good = tmp_path / "good"
    good.mkdir()
    write_mnist(good)
    monkeypatch.setenv(MNIST_ENV_VAR, str(tmp_path / "nowhere"))
    X_train, _, _, _ = load_mnist(good)
    assert X_train.shape == (N_TRAIN, 784)


def test_no_dir_and_no_env_explains_fix():
    with pytest.raises(FileNotFoundError) as info:
        load_mnist()
    message = str(info.value)
    assert MNIST_ENV_VAR in message
    assert "data_dir" in message
    assert "train-images-idx3-ubyte" in message
    assert "MNIST distribution" in message


def test_empty_env_var_counts_as_unset(monkeypatch):
    monkeypatch.setenv(MNIST_ENV_VAR, "  ")
    assert mnist_dir_from_env() is None
    with pytest.raises(FileNotFoundError, match=MNIST_ENV_VAR):
        load_mnist()


def test_missing_files_message_names_files_and_directory(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte.gz").unlink()
    (tmp_path / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError) as info:
        load_mnist(tmp_path)
    message = str(info.value)
    assert "t10k-images-idx3-ubyte" in message.split("missing")[0]
    assert "train-labels-idx1-ubyte" in message.split("missing")[0]
    assert "train-images-idx3-ubyte[.gz]" not in message
    assert str(tmp_path) in message
    assert MNIST_ENV_VAR in message and "data_dir" in message


def test_nonexistent_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="not an existing directory"):
        load_mnist(tmp_path / "does-not-exist")


def _images(n):
    return np.zeros((n, 28, 28), dtype=np.uint8)


@pytest.mark.parametrize(
    "base, payload, pattern",
    [
        # Labels magic number in an images file.
        ("train-images-idx3-ubyte", _idx_bytes(_images(N_TRAIN), 2049), "magic"),
        ("t10k-labels-idx1-ubyte", _idx_bytes(np.zeros(N_TEST), 2051), "magic"),
        # Wrong image size (27x28).
        (
            "train-images-idx3-ubyte",
            _idx_bytes(np.zeros((N_TRAIN, 27, 28)), 2051),
            "dimensions",
        ),
        # Header shorter than 16 bytes.
        ("train-images-idx3-ubyte", b"\x00\x00\x08\x03\x00", "truncated"),
        # Data cut off after the header.
        (
            "t10k-images-idx3-ubyte",
            _idx_bytes(_images(N_TEST), 2051)[:-10],
            "truncated",
        ),
        # Extra bytes after the announced data.
        (
            "t10k-labels-idx1-ubyte",
            _idx_bytes(np.zeros(N_TEST), 2049) + b"\x00",
            "trailing",
        ),
        # Label outside 0..9.
        (
            "train-labels-idx1-ubyte",
            _idx_bytes(np.array([0, 1, 2, 3, 12]), 2049),
            "label 12",
        ),
        # Label count disagrees with image count.
        ("train-labels-idx1-ubyte", _idx_bytes(np.zeros(4), 2049), "disagree"),
    ],
)
@pytest.mark.parametrize("gz", [True, False])
def test_corrupt_files_raise_value_error_naming_file(
    tmp_path, base, payload, pattern, gz
):
    write_mnist(tmp_path, gz=gz, overrides={base: payload})
    with pytest.raises(ValueError, match=pattern) as info:
        load_mnist(tmp_path)
    assert base in str(info.value)


def test_truncated_gzip_stream_raises_value_error(tmp_path):
    write_mnist(tmp_path, gz=True)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(ValueError, match="train-images-idx3-ubyte"):
        load_mnist(tmp_path)


def test_not_gzip_despite_suffix_raises_value_error(tmp_path):
    write_mnist(tmp_path, gz=True)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte"):
        load_mnist(tmp_path)
