"""Loader for the MNIST handwritten digits stored as IDX files.

MNIST is not downloaded by this package. Point :func:`load_mnist` at a
directory holding the four IDX files of the MNIST distribution, either by
passing ``data_dir`` or by setting the ``SKSCRATCH_MNIST_DIR`` environment
variable. Each file may be gzipped (``.gz``) or plain.
"""

import gzip
import os
from pathlib import Path

import numpy as np

__all__ = ["MNIST_ENV_VAR", "MNIST_FILES", "load_mnist", "mnist_dir_from_env"]

#: Environment variable consulted when ``data_dir`` is not given.
MNIST_ENV_VAR = "SKSCRATCH_MNIST_DIR"

#: Base names of the four IDX files (each may also carry a ``.gz`` suffix).
MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

_IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
_LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension
_SIDE = 28
_N_CLASSES = 10


def mnist_dir_from_env():
    """Return the MNIST directory named by ``SKSCRATCH_MNIST_DIR``.

    Returns
    -------
    path : pathlib.Path or None
        The directory from the environment variable, or ``None`` when the
        variable is unset or empty. The directory is not checked to exist.
    """
    value = os.environ.get(MNIST_ENV_VAR, "").strip()
    return Path(value).expanduser() if value else None


def _how_to_fix():
    return (
        "Pass load_mnist(data_dir=...) or set the environment variable "
        f"{MNIST_ENV_VAR} to a directory containing the four IDX files from "
        "the MNIST distribution (gzipped '.gz' or uncompressed): "
        + ", ".join(MNIST_FILES)
        + "."
    )


def _resolve_dir(data_dir):
    if data_dir is not None:
        return Path(data_dir).expanduser()
    from_env = mnist_dir_from_env()
    if from_env is None:
        raise FileNotFoundError(
            "No MNIST directory given: data_dir is None and "
            f"{MNIST_ENV_VAR} is not set. " + _how_to_fix()
        )
    return from_env


def _locate(directory, base):
    """Return the path of ``base`` (plain preferred) or ``base.gz``, or None."""
    for name in (base, base + ".gz"):
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def _read_bytes(path):
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                return fh.read()
        return path.read_bytes()
    except (OSError, EOFError) as exc:
        # gzip.BadGzipFile is an OSError; a cut-off stream raises EOFError.
        raise ValueError(f"Cannot read MNIST file {path}: {exc}") from exc


def _parse_idx(path, magic, expected_shape_tail):
    """Parse an unsigned-byte IDX file into an array of shape (n, *tail)."""
    data = _read_bytes(path)
    ndim = 1 + len(expected_shape_tail)
    header_size = 4 * (1 + ndim)
    if len(data) < header_size:
        raise ValueError(
            f"MNIST file {path} is truncated: {len(data)} bytes, shorter than "
            f"its {header_size}-byte IDX header."
        )
    header = np.frombuffer(data, dtype=">u4", count=1 + ndim)
    if int(header[0]) != magic:
        raise ValueError(
            f"MNIST file {path} has magic number {int(header[0])}, expected "
            f"{magic}; it is not the expected IDX file or it is corrupt."
        )
    shape = tuple(int(d) for d in header[1:])
    if shape[1:] != tuple(expected_shape_tail):
        raise ValueError(
            f"MNIST file {path} has dimensions {shape}, expected "
            f"(n, {', '.join(map(str, expected_shape_tail))})."
        )
    n_payload = int(np.prod(shape))
    n_present = len(data) - header_size
    if n_present != n_payload:
        problem = "truncated" if n_present < n_payload else "has trailing data"
        raise ValueError(
            f"MNIST file {path} is {problem}: header announces {n_payload} "
            f"bytes of data for shape {shape}, found {n_present}."
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header_size).reshape(shape)


def _load_split(images_path, labels_path, dtype, scale):
    images = _parse_idx(images_path, _IMAGES_MAGIC, (_SIDE, _SIDE))
    labels = _parse_idx(labels_path, _LABELS_MAGIC, ())
    if images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"MNIST files disagree: {images_path} holds {images.shape[0]} "
            f"images but {labels_path} holds {labels.shape[0]} labels."
        )
    if labels.size and labels.max() >= _N_CLASSES:
        raise ValueError(
            f"MNIST file {labels_path} holds label {int(labels.max())}; "
            f"labels must be 0..{_N_CLASSES - 1}."
        )
    X = images.reshape(images.shape[0], _SIDE * _SIDE).astype(dtype)
    if scale:
        X /= 255
    return X, labels.astype(np.int64)


def load_mnist(data_dir=None, *, dtype=np.float32, scale=True):
    """Load MNIST from the four IDX files in a local directory.

    Parameters
    ----------
    data_dir : str or path-like, default=None
        Directory containing ``train-images-idx3-ubyte``,
        ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` and
        ``t10k-labels-idx1-ubyte``, each plain or gzipped (``.gz``; the plain
        file is used when both exist). When ``None``, the directory named by
        the ``SKSCRATCH_MNIST_DIR`` environment variable is used.
    dtype : numpy dtype, default=np.float32
        dtype of the returned feature matrices. Must be floating when
        ``scale`` is True; with ``scale=False`` e.g. ``np.uint8`` is allowed.
    scale : bool, default=True
        If True, pixel values are divided by 255 so they lie in [0, 1].
        If False, the raw values 0..255 are returned (converted to ``dtype``).

    Returns
    -------
    X_train : ndarray of shape (60000, 784)
        Training images, one flattened 28x28 image per row, in ``dtype``.
    y_train : ndarray of shape (60000,)
        Training labels 0..9, dtype int64.
    X_test : ndarray of shape (10000, 784)
        Test images, in ``dtype``.
    y_test : ndarray of shape (10000,)
        Test labels 0..9, dtype int64.

    Raises
    ------
    FileNotFoundError
        If no directory is given and ``SKSCRATCH_MNIST_DIR`` is unset, or if
        any of the four files is missing from the directory.
    ValueError
        If ``scale`` is True and ``dtype`` is not floating, or if a file is
        corrupt or truncated: wrong magic number, unexpected dimensions, size
        not matching its header, labels outside 0..9, or image and label
        counts that disagree. The message names the offending file.

    Notes
    -----
    The row counts above are those of the standard distribution. They are
    read from the file headers, so smaller IDX files of the same layout load
    as well.
    """
    dtype = np.dtype(dtype)
    if scale and dtype.kind != "f":
        raise ValueError(f"scale=True needs a floating dtype, got {dtype}.")
    directory = _resolve_dir(data_dir)
    paths = {base: _locate(directory, base) for base in MNIST_FILES}
    missing = [base for base, path in paths.items() if path is None]
    if missing:
        where = (
            f"directory {directory}"
            if directory.is_dir()
            else f"{directory} (which is not an existing directory)"
        )
        raise FileNotFoundError(
            "MNIST files not found: "
            + ", ".join(f"{base}[.gz]" for base in missing)
            + f" missing in {where}. "
            + _how_to_fix()
        )
    X_train, y_train = _load_split(
        paths["train-images-idx3-ubyte"],
        paths["train-labels-idx1-ubyte"],
        dtype,
        scale,
    )
    X_test, y_test = _load_split(
        paths["t10k-images-idx3-ubyte"],
        paths["t10k-labels-idx1-ubyte"],
        dtype,
        scale,
    )
    return X_train, y_train, X_test, y_test
