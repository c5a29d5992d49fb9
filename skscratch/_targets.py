"""The classifier's targets: labels to the network's outputs and back.

Label handling is scikit-learn's (a LabelBinarizer's classes and types),
with shortcuts that give the same results faster: integer labels counted in
one pass instead of hashed by every check, and one-hot targets built directly
in the network's dtype.
"""

import numpy as np
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import unique_labels


def encode(y, classes, dtype, counted=None):
    """Targets as the loss wants them: one column per class (multiclass),
    one 0/1 column (binary), the indicator matrix (multilabel).

    Built directly in the network's dtype: LabelBinarizer.transform would
    first make an int64 matrix, 8 bytes per sample and class. ``counted``
    is :func:`count_integer_labels`'s result for ``y``, if it has one.
    """
    if y.ndim == 2:  # multilabel indicator
        return np.asarray(y, dtype=dtype)
    if len(classes) <= 2:
        positive = classes[-1] if len(classes) == 2 else None
        return (y == positive).astype(dtype).reshape(-1, 1)
    if counted is None:
        index = np.searchsorted(classes, y)
    else:
        labels, inverse = counted
        index = np.searchsorted(classes, labels)[inverse]
    Y = np.zeros((y.shape[0], len(classes)), dtype=dtype)
    Y[np.arange(y.shape[0]), index] = 1
    return Y


def set_classes(estimator, y, classes, from_partial_fit=False, labels=None):
    """Fit ``estimator``'s label binarizer and set its ``classes_``;
    ``labels``: the
    sorted distinct labels of a 1-D integer ``y``, if already known
    (:func:`count_integer_labels`)."""
    if labels is not None and not from_partial_fit:
        # The counted labels say what fit would find (no second pass).
        binarizer = binarizer_for_labels(labels)
    elif y.ndim == 2:  # multilabel indicator
        binarizer = LabelBinarizer().fit(y)
        if classes is not None and not np.array_equal(
            np.asarray(classes), binarizer.classes_
        ):
            raise ValueError(
                f"For a multilabel indicator y, `classes` must be "
                f"{binarizer.classes_.tolist()} (the column indices), got "
                f"{np.asarray(classes).tolist()}."
            )
    elif from_partial_fit:  # classes checked by _check_partial_fit_classes
        binarizer = LabelBinarizer().fit(classes)
        check_known_labels(y, binarizer.classes_, labels)
    else:
        binarizer = LabelBinarizer().fit(y)
    estimator._label_binarizer = binarizer
    estimator.classes_ = binarizer.classes_


def check_partial_fit_classes(estimator, y, classes):
    """``partial_fit``'s checks of ``classes``, made before the data are
    validated, where scikit-learn makes them: a call with both wrong
    gets the same error.

    The first call needs ``classes``, except with a multilabel indicator
    ``y`` (a skscratch addition: its labels are its columns); a later
    call may repeat them, but not change them.
    """
    if not hasattr(estimator, "classes_"):
        if classes is None and not (np.ndim(y) == 2 and np.shape(y)[1] > 1):
            raise ValueError("classes must be passed on the first call to partial_fit.")
    elif classes is not None and not np.array_equal(
        unique_labels(classes), estimator.classes_
    ):
        raise ValueError(
            f"`classes={np.asarray(classes)!r}` is not the same as on the "
            f"last call to partial_fit, was: {estimator.classes_!r}"
        )


def check_classes_compatible(estimator, y, incremental, labels=None):
    """Refuse labels a continued fit cannot take: with ``warm_start``, other
    classes than the fitted ones; with ``partial_fit``, unknown ones."""
    if labels is None:
        labels = unique_labels(y)
    if estimator.warm_start and not incremental:
        if set(labels) != set(estimator.classes_):
            raise ValueError(
                "warm_start can only be used where `y` has the same classes as "
                f"in the previous call to fit. Previously got {estimator.classes_}, "
                f"`y` has {labels}"
            )
    else:
        check_known_labels(y, estimator.classes_, labels)


def check_known_labels(y, classes, labels=None):
    """Refuse labels of ``y`` (``labels``, if known) not among ``classes``."""
    if labels is None:
        labels = unique_labels(y)
    if len(np.setdiff1d(labels, classes, assume_unique=True)):
        raise ValueError(
            f"`y` has classes not in `self.classes_`. `self.classes_` has "
            f"{classes}. 'y' has {labels}."
        )


def class_weighted(estimator, sample_weight, Y, incremental):
    """``sample_weight`` times the weight of each sample's class
    (``estimator.class_weight``); as it is without class weights."""
    if estimator.class_weight is None:
        return sample_weight
    if estimator._label_binarizer.y_type_.startswith("multilabel"):
        raise ValueError(
            "class_weight is not supported for multilabel targets; pass "
            "sample_weight instead."
        )
    if incremental and estimator.class_weight == "balanced":
        raise ValueError(
            "class_weight='balanced' is not supported by partial_fit: one "
            "chunk does not tell the class frequencies of the whole data. "
            "Compute them once with sklearn.utils.class_weight."
            "compute_class_weight('balanced', classes=classes, y=y) on the "
            "full target (or a large sample of it) and pass the result as a "
            "dict."
        )
    index = Y[:, 0].astype(np.intp) if Y.shape[1] == 1 else Y.argmax(axis=1)
    per_class = compute_class_weight(
        estimator.class_weight, classes=estimator.classes_, y=estimator.classes_[index]
    )
    weights = per_class[index].astype(Y.dtype)
    if sample_weight is not None:
        weights *= sample_weight
    if not weights.any():
        raise ValueError(
            "The class weights give every sample a weight of zero: at least "
            "one sample needs a positive weight to fit on."
        )
    return weights


def labels_from_outputs(estimator, outputs):
    """Labels from the network's outputs (or from encoded targets), as
    the label binarizer's ``inverse_transform`` gives them.

    Its rules, applied directly: the class of the largest output
    (multiclass; the first on ties), or an output above 0.5 (binary, each
    label of a multilabel model). Its checks cost a third of a one-row
    ``predict``.
    """
    binarizer, classes = estimator._label_binarizer, estimator.classes_
    y_type = getattr(binarizer, "y_type_", None)
    if getattr(binarizer, "sparse_input_", True):  # it returns sparse labels
        y_type = None
    if y_type == "multiclass" and outputs.shape[1] == len(classes) > 2:
        return classes.take(outputs.argmax(axis=1))
    if y_type == "binary" and outputs.shape[1] == 1 and len(classes) == 2:
        return classes.take((outputs[:, 0] > 0.5).astype(np.intp))
    if y_type == "multilabel-indicator":
        return (outputs > 0.5).astype(np.intp)
    return binarizer.inverse_transform(
        outputs.ravel() if estimator.n_outputs_ == 1 else outputs
    )


def binarizer_for_labels(labels):
    """A :class:`~sklearn.preprocessing.LabelBinarizer` in the state its
    ``fit`` leaves on a 1-D integer target whose distinct labels are
    ``labels``.

    For such a target the outcome of ``fit`` is known in advance: those
    classes, and the type ``'binary'`` (up to two labels) or
    ``'multiclass'``. ``fit`` would find it by checking and classifying the
    target again, a noticeable part of a short fit's set-up.

    Parameters
    ----------
    labels : ndarray of shape (n_labels,)
        Sorted, distinct, of the target's integer dtype
        (:func:`count_integer_labels`).

    Returns
    -------
    binarizer : LabelBinarizer
    """
    binarizer = LabelBinarizer()
    binarizer.y_type_ = "binary" if len(labels) <= 2 else "multiclass"
    binarizer.sparse_input_ = False
    binarizer.classes_ = labels
    return binarizer


def count_integer_labels(y):
    """The distinct labels of a 1-D integer ``y`` and where each sample's is
    among them, found by counting; None for any other ``y``.

    scikit-learn's checks find a target's labels by hashing it, once per
    check: four times in a fit. Integer labels in a range no wider than
    ``y`` is long (class numbers, as a rule) are counted in one pass
    instead, several times faster. Such a ``y`` is always a binary or
    multiclass target,
    so scikit-learn's check of the target type has nothing to reject.

    Parameters
    ----------
    y : ndarray

    Returns
    -------
    labels : ndarray of shape (n_labels,)
        Sorted, of ``y``'s dtype.
    inverse : ndarray of int of shape (n_samples,)
        ``labels[inverse]`` is ``y``.
    """
    if y.ndim != 1 or y.dtype.kind not in "iu" or y.size == 0:
        return None
    low, high = int(y.min()), int(y.max())
    if high - low > max(y.size, 1024) or high > np.iinfo(np.intp).max:
        return None
    offset = y.astype(np.intp)
    offset -= low
    present = np.flatnonzero(np.bincount(offset))
    position = np.zeros(high - low + 1, np.intp)
    position[present] = np.arange(present.size)
    return (present + low).astype(y.dtype), position[offset]
