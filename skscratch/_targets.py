"""The classifier's targets: labels to the network's outputs and back.

Label handling is scikit-learn's (a LabelBinarizer's classes and types),
with shortcuts that give the same results faster: integer labels counted in
one pass instead of hashed by every check, and one-hot targets built directly
in the network's dtype.

A multiclass-multioutput target (``type_of_target(y) ==
"multiclass-multioutput"``: a 2-D ``y`` whose columns are outputs, each
with its own classes) is encoded one-hot per output, the outputs' columns
side by side; ``classes_`` is then a list with each output's classes, as in
scikit-learn's multi-output trees.
"""

import numpy as np
from sklearn.preprocessing import LabelBinarizer, LabelEncoder
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import type_of_target, unique_labels

MULTIOUTPUT = "multiclass-multioutput"


def encode(y, classes, dtype, counted=None):
    """Targets as the loss wants them: one column per class (multiclass),
    one 0/1 column (binary), the indicator matrix (multilabel).

    Built directly in the network's dtype: LabelBinarizer.transform would
    first make an int64 matrix, 8 bytes per sample and class. ``counted``
    is :func:`count_integer_labels`'s result for ``y``, if it has one.
    """
    if isinstance(classes, list):  # one array of classes per output
        return encode_multioutput(y, classes, dtype)
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
    per_output = per_output_classes(classes) if from_partial_fit else None
    if per_output is not None or (labels is None and is_multioutput_target(y)):
        if from_partial_fit and per_output is None:
            raise ValueError(
                "For a multiclass-multioutput y, partial_fit needs `classes` as "
                "a list with one array of classes per output (column of y), "
                f"got {classes!r}."
            )
        set_multioutput_classes(estimator, y, per_output)
        return
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
    elif classes is not None and not _same_classes(estimator, classes):
        # One array per output may be ragged, which np.asarray refuses.
        shown = classes if is_multioutput(estimator) else np.asarray(classes)
        raise ValueError(
            f"`classes={shown!r}` is not the same as on the "
            f"last call to partial_fit, was: {estimator.classes_!r}"
        )


def check_classes_compatible(estimator, y, incremental, labels=None):
    """Refuse labels a continued fit cannot take: with ``warm_start``, other
    classes than the fitted ones; with ``partial_fit``, unknown ones."""
    if is_multioutput(estimator):
        check_multioutput_labels(estimator, y, incremental)
        return
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
    y_type = estimator._label_binarizer.y_type_
    if y_type.startswith("multilabel") or y_type == MULTIOUTPUT:
        raise ValueError(
            f"class_weight is not supported for {y_type.removesuffix('-indicator')} "
            "targets; pass sample_weight instead."
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
    if y_type == MULTIOUTPUT:
        return multioutput_labels(outputs, classes)
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


# -- multiclass-multioutput ---------------------------------------------------


def is_multioutput(estimator):
    """Whether ``estimator`` was fitted on a multiclass-multioutput target."""
    binarizer = estimator.__dict__.get("_label_binarizer")
    return getattr(binarizer, "y_type_", None) == MULTIOUTPUT


def is_multioutput_target(y):
    """Whether the validated ``y`` is multiclass-multioutput (a 2-D ``y``
    whose columns are all 0/1 is multilabel instead)."""
    return y.ndim == 2 and y.shape[1] > 1 and type_of_target(y) == MULTIOUTPUT


def per_output_classes(classes):
    """``partial_fit``'s ``classes`` as one sorted array per output, when
    given that way (a sequence of 1-D array-likes); None otherwise."""
    if classes is None or isinstance(classes, str):
        return None
    entries = list(classes)
    if not entries or not all(np.ndim(entry) == 1 for entry in entries):
        return None
    return [LabelEncoder().fit(np.asarray(entry)).classes_ for entry in entries]


def _same_classes(estimator, classes):
    """Whether ``partial_fit``'s ``classes`` are the fitted ones."""
    if not is_multioutput(estimator):
        return np.array_equal(unique_labels(classes), estimator.classes_)
    given = per_output_classes(classes)
    return given is not None and [c.tolist() for c in given] == [
        c.tolist() for c in estimator.classes_
    ]


def set_multioutput_classes(estimator, y, classes=None):
    """Record a multiclass-multioutput target's classes: ``classes_``, a list
    of arrays, and a label binarizer marked with the target type.

    Parameters
    ----------
    estimator : MLPClassifier
    y : ndarray of shape (n_samples, n_outputs)
    classes : list of ndarray of shape (n_classes_k,), default=None
        Each output's sorted classes (``partial_fit``); by default those
        found in each column of ``y``.

    Raises
    ------
    ValueError
        If ``y`` is not 2-D with one column per entry of ``classes``, an
        output has fewer than 2 classes, or ``y`` has labels not among
        ``classes``.
    """
    given = classes is not None
    if not given:
        classes = [LabelEncoder().fit(y[:, k]).classes_ for k in range(y.shape[1])]
    elif y.ndim != 2 or y.shape[1] != len(classes):
        raise ValueError(
            f"`classes` has {len(classes)} arrays, one per output, but y has "
            f"shape {y.shape}: a multiclass-multioutput y needs one column per "
            "output."
        )
    for k, output_classes in enumerate(classes):
        if len(output_classes) < 2:
            raise ValueError(
                f"Output {k} of y has a single class, {output_classes.tolist()}: "
                "each output of a multiclass-multioutput target needs at least "
                "2 classes" + (" (pass them all in `classes`)." if given else ".")
            )
    # The estimator reads the target type from its label binarizer; this one
    # only records it (its transform is never called for this type).
    binarizer = LabelBinarizer()
    binarizer.y_type_ = MULTIOUTPUT
    binarizer.sparse_input_ = False
    binarizer.classes_ = classes
    estimator._label_binarizer = binarizer
    estimator.classes_ = classes
    if given:
        check_multioutput_labels(estimator, y, incremental=True)


def check_multioutput_labels(estimator, y, incremental):
    """Refuse a ``y`` a multi-output model cannot train on: another number of
    outputs, unknown labels, or (``warm_start``) other classes."""
    classes = estimator.classes_
    if y.ndim != 2 or y.shape[1] != len(classes):
        raise ValueError(
            f"This classifier has {len(classes)} outputs (a multiclass-"
            f"multioutput target); y has shape {y.shape}."
        )
    exact = estimator.warm_start and not incremental
    for k, output_classes in enumerate(classes):
        labels = unique_labels(y[:, k])
        if exact and set(labels) != set(output_classes):
            raise ValueError(
                "warm_start can only be used where `y` has the same classes as "
                f"in the previous call to fit. Output {k} previously had "
                f"{output_classes}, `y` has {labels}."
            )
        if len(np.setdiff1d(labels, output_classes, assume_unique=True)):
            raise ValueError(
                f"Output {k} of `y` has classes not in `self.classes_[{k}]`: "
                f"{np.setdiff1d(labels, output_classes, assume_unique=True)}; "
                f"`self.classes_[{k}]` is {output_classes}."
            )


def encode_multioutput(y, classes, dtype):
    """One-hot targets per output, side by side: output ``k``'s classes
    take ``len(classes[k])`` columns, after those of the outputs before it.

    Parameters
    ----------
    y : ndarray of shape (n_samples, n_outputs)
        Labels, each column among its output's classes.
    classes : list of ndarray of shape (n_classes_k,)
    dtype : numpy dtype

    Returns
    -------
    Y : ndarray of shape (n_samples, sum_k n_classes_k)
    """
    n_samples = y.shape[0]
    Y = np.zeros((n_samples, sum(len(c) for c in classes)), dtype=dtype)
    rows, offset = np.arange(n_samples), 0
    for k, output_classes in enumerate(classes):
        Y[rows, offset + np.searchsorted(output_classes, y[:, k])] = 1
        offset += len(output_classes)
    return Y


def split_groups(outputs, classes):
    """The columns of each output, as a list of views of ``outputs``
    (n_samples, sum_k n_classes_k) of shapes (n_samples, n_classes_k)."""
    ends = np.cumsum([len(c) for c in classes])
    return np.split(outputs, ends[:-1], axis=1)


def multioutput_labels(outputs, classes):
    """Each output's class of largest output (the first on ties), as
    scikit-learn's multi-output trees predict.

    Returns
    -------
    y : ndarray of shape (n_samples, n_outputs)
        Of the classes' dtype, or their common one (object for mixed types).
    """
    dtypes = {c.dtype for c in classes}
    try:
        dtype = np.result_type(*dtypes)
    except TypeError:  # e.g. numbers and strings: NumPy promotes neither
        dtype = np.dtype(object)
    y = np.empty((outputs.shape[0], len(classes)), dtype=dtype)
    for k, group in enumerate(split_groups(outputs, classes)):
        y[:, k] = classes[k].take(group.argmax(axis=1))
    return y


def exact_match_accuracy(y_true, y_pred, sample_weight=None):
    """Share of the samples whose every output is right (subset accuracy).

    scikit-learn's ``accuracy_score`` refuses multiclass-multioutput
    targets; this is :meth:`sklearn.multioutput.MultiOutputClassifier.score`,
    weighted by ``sample_weight`` when given.

    Parameters
    ----------
    y_true : array-like of shape (n_samples, n_outputs)
    y_pred : ndarray of shape (n_samples, n_outputs)
    sample_weight : array-like of shape (n_samples,), default=None

    Returns
    -------
    score : float
    """
    y_true = np.asarray(y_true)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y has shape {y_true.shape}; this classifier's predictions have "
            f"shape {y_pred.shape} (one column per output)."
        )
    return float(np.average(np.all(y_true == y_pred, axis=1), weights=sample_weight))
