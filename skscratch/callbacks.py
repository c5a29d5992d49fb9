"""Callbacks: code that runs at the end of every epoch.

Pass a list of them to the estimators' ``callbacks`` parameter. Each is
called as ``callback(estimator, record)`` after every epoch of the stochastic
solvers and every iteration of L-BFGS, where ``record`` is an
:class:`EpochRecord`. A callback that returns ``True`` stops training after
that epoch (the estimator keeps the weights it has, or the best ones with
``early_stopping``).

Any function with that signature works; two are provided:
:class:`ProgressBar` and :class:`History`. A callback object may also have an
``on_train_end(estimator)`` method, called once when training ends, however it
ends (last epoch, early stopping, a callback's request, or an error).

For example, recording every epoch and stopping after the fifth:

>>> from sklearn.datasets import load_digits
>>> from skscratch import ScratchMLPClassifier
>>> from skscratch.callbacks import History
>>> X, y = load_digits(return_X_y=True)
>>> history = History()
>>> def stop_at_five(estimator, record):
...     return record.epoch >= 5
>>> clf = ScratchMLPClassifier(callbacks=[history, stop_at_five], random_state=0)
>>> clf.fit(X / 16, y).n_iter_
5
>>> [round(r.loss, 2) for r in history.records][:2]
[2.33, 2.12]

scikit-learn's callbacks
------------------------
From scikit-learn 1.9 the estimators also take scikit-learn's own callbacks
(:mod:`sklearn.callback`) through ``set_callbacks``, directly or from a
meta-estimator that passes them on (``GridSearchCV``, ``Pipeline``, ...).
For scikit-learn, a fit is a task whose subtasks are its epochs (``'epoch'``)
or its L-BFGS iterations (``'lbfgs-iter'``), so its ``ProgressBar`` shows the
epochs under each fit of a search and its ``ScoringMonitor`` scores the model
after every epoch. Before scikit-learn 1.9 there is no ``set_callbacks``, and
nothing else changes.

The two kinds share one loop: after an epoch, :func:`call_callbacks` calls
the ``callbacks`` parameter's, then ends the epoch's task for scikit-learn's,
and either kind can stop training (``True`` from a callback, or from an
``on_fit_task_end`` hook). Use ``callbacks=`` for what knows skscratch's
:class:`EpochRecord` (the loss, the validation score and loss, the time);
use ``set_callbacks`` for scikit-learn's callbacks and those written to its
protocol, which see the fitted model at each epoch and the task tree of
nested estimators. ``set_callbacks`` is a method, not a parameter:
``get_params`` does not list it, and ``clone`` passes the callbacks on by
reference.
"""

import copy
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class EpochRecord:
    """What happened in one epoch (one iteration for L-BFGS).

    Attributes
    ----------
    epoch : int
        Epoch number within this call to ``fit`` or ``partial_fit``, from 1.
    loss : float
        Training loss of the epoch (with the L2 penalty), as in
        ``loss_curve_``.
    validation_loss : float or None
        Loss on the held-out data with ``early_stopping``, else None.
    validation_score : float or None
        Score on the held-out data with ``early_stopping``, else None.
    elapsed : float
        Seconds since the call to ``fit`` / ``partial_fit`` started.
    max_epochs : int
        The estimator's ``max_iter`` (1 for ``partial_fit``).
    """

    epoch: int
    loss: float
    validation_loss: float | None
    validation_score: float | None
    elapsed: float
    max_epochs: int


class History:
    """Keeps every :class:`EpochRecord` it is given.

    Attributes
    ----------
    records : list of EpochRecord
        In order; successive fits append to the same list.

    Examples
    --------
    >>> history = History()
    >>> history(None, EpochRecord(1, 0.5, None, None, 0.1, 10))
    >>> history.as_dict()["loss"]
    [0.5]
    """

    def __init__(self):
        self.records = []

    def __call__(self, estimator, record):
        self.records.append(record)

    def as_dict(self):
        """The records as columns, e.g. for ``pandas.DataFrame(...)``.

        Returns
        -------
        columns : dict of str to list
        """
        fields = EpochRecord.__dataclass_fields__
        return {name: [getattr(r, name) for r in self.records] for name in fields}

    def __repr__(self):
        return f"History({len(self.records)} records)"


class ProgressBar:
    """A progress bar over the epochs.

    Uses `tqdm <https://tqdm.github.io>`_ when it is installed, and a plain
    one-line display (rewritten in place with a carriage return) otherwise.

    Parameters
    ----------
    file : file-like, optional
        Where to write; ``sys.stderr`` by default (looked up at each fit, so
        redirected streams are honoured).
    use_tqdm : bool, optional
        Force (True) or avoid (False) tqdm; by default, tqdm if importable.
    """

    def __init__(self, file=None, use_tqdm=None):
        self.file = file
        self.use_tqdm = use_tqdm
        self._bar = None
        self._owner = None

    def __call__(self, estimator, record):
        stream = self.file if self.file is not None else sys.stderr
        if record.epoch == 1 or self._owner is not estimator:
            self._start(estimator, record, stream)
        postfix = {"loss": f"{record.loss:.4f}"}
        if record.validation_score is not None:
            postfix["val_score"] = f"{record.validation_score:.4f}"
        if record.validation_loss is not None:
            postfix["val_loss"] = f"{record.validation_loss:.4f}"
        if self._bar is not None:
            self._bar.set_postfix(postfix, refresh=False)
            self._bar.update(1)
        else:
            details = " ".join(f"{k}={v}" for k, v in postfix.items())
            stream.write(
                f"\repoch {record.epoch}/{record.max_epochs} {details} "
                f"[{record.elapsed:.1f}s]"
            )
            stream.flush()
        if record.epoch >= record.max_epochs:
            self.close()

    def _start(self, estimator, record, stream):
        """Open a bar for a new fit (tqdm), or just remember who owns it."""
        self.close()
        self._owner = estimator
        if self.use_tqdm is not False:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                if self.use_tqdm:
                    raise ImportError(
                        "ProgressBar(use_tqdm=True) needs tqdm: pip install tqdm "
                        "(or pip install 'skscratch[progress]')."
                    ) from None
            else:
                self._bar = tqdm(
                    total=record.max_epochs,
                    file=stream,
                    desc=type(estimator).__name__,
                    unit="epoch",
                    leave=True,
                )
                return

    def on_train_end(self, estimator):
        """Close the bar when training ends before ``max_epochs``."""
        self.close()

    def close(self):
        """End the current bar (done for you when training ends)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self._owner is not None:
            stream = self.file if self.file is not None else sys.stderr
            stream.write("\n")
            stream.flush()
        self._owner = None

    # A bar in progress is not state worth copying or pickling, and a stream
    # (sys.stderr) cannot be deep-copied: scikit-learn's clone() deep-copies
    # parameters, so share the stream and start afresh.
    def __deepcopy__(self, memo):
        return type(self)(file=self.file, use_tqdm=self.use_tqdm)

    def __getstate__(self):
        return {"file": None, "use_tqdm": self.use_tqdm, "_bar": None, "_owner": None}

    def __repr__(self):
        return f"ProgressBar(use_tqdm={self.use_tqdm!r})"


def call_callbacks(callbacks, estimator, record):
    """Call every callback at the end of an epoch; True when one of them asks
    to stop.

    The one place the training loops report an epoch: the ``callbacks``
    given to the estimator first, then (scikit-learn 1.9 and later) the
    epoch's task ends for the callbacks set with ``set_callbacks``, whose
    ``on_fit_task_end`` may ask to stop as well.

    Parameters
    ----------
    callbacks : list of callable or None
    estimator : estimator
    record : EpochRecord

    Returns
    -------
    stop : bool
    """
    stop = False
    for callback in callbacks or ():
        if callback(estimator, record) is True:
            stop = True
    run = getattr(estimator, "__dict__", {}).get(_RUN)
    if run is not None and run.end_task():
        stop = True
    return stop


def end_callbacks(callbacks, estimator):
    """Tell every callback that has an ``on_train_end`` method that training
    is over, and (scikit-learn 1.9 and later) end the fit's task for the
    callbacks set with ``set_callbacks``.

    Parameters
    ----------
    callbacks : list of callable or None
    estimator : estimator
    """
    run = getattr(estimator, "__dict__", {}).pop(_RUN, None)
    for callback in callbacks or ():
        on_train_end = getattr(callback, "on_train_end", None)
        if on_train_end is not None:
            on_train_end(estimator)
    if run is not None:
        run.end()


# -- scikit-learn's callback API (scikit-learn 1.9 and later) ------------------

try:
    from sklearn.callback import CallbackSupportMixin as _SklearnCallbackSupport
except ImportError:  # scikit-learn < 1.9: no callback API, so nothing to add

    class _SklearnCallbackSupport:
        """Stands in for ``sklearn.callback.CallbackSupportMixin`` before
        scikit-learn 1.9: adds nothing."""


SKLEARN_CALLBACKS = hasattr(_SklearnCallbackSupport, "set_callbacks")
"""bool: whether this scikit-learn has the callback API (``set_callbacks``)."""

# What scikit-learn's callback machinery keeps on an estimator while it is
# fitted (or nested in a meta-estimator): the live plumbing of a run, which a
# failed fit must neither copy nor roll back (see skscratch._state).
FIT_CALLBACK_ATTRIBUTES = (
    "_skl_callbacks",
    "_parent_callback_ctx",
    "_callback_fit_ctx",
    "_skl_callbacks_to_teardown",
)

# Where the run of the fit in progress waits between the calls below.
_RUN = "_skscratch_callback_run"


class _SklearnRun:
    """scikit-learn's callback context for one fit: a root task for the fit
    and one subtask per epoch (per L-BFGS iteration).

    Parameters
    ----------
    estimator : _BaseScratchMLP
        The estimator being fitted, inside its ``fit`` or ``partial_fit``.
    X : ndarray or sparse matrix of shape (n_samples, n_features)
        The rows trained on.
    Y : ndarray of shape (n_samples, n_outputs)
        Their encoded targets.
    sample_weight : ndarray of shape (n_samples,) or None
    max_tasks : int
        The most subtasks the fit can have.
    task_name : str
        What each subtask is called.
    """

    def __init__(self, estimator, X, Y, sample_weight, max_tasks, task_name):
        self.estimator = estimator
        self.task_name = task_name
        self.X = X
        self._Y = Y
        self._y = None
        self.metadata = (
            None if sample_weight is None else {"sample_weight": sample_weight}
        )
        # Per-epoch tasks only when a callback can see them: with none set,
        # the root still links this fit into a meta-estimator's task tree.
        self.watched = bool(getattr(estimator, "_skl_callbacks", None))
        self.task = None
        self.succeeded = False
        self.root = estimator._init_callback_context(max_subtasks=max_tasks)
        self.root.call_on_fit_task_begin(
            estimator=estimator, X=X, y=self.y, metadata=self.metadata
        )

    def y(self):
        """The targets as ``score`` compares them, decoded once on demand."""
        if self._y is None:
            self._y = self.estimator._decode_targets(self._Y)
        return self._y

    def snapshot(self):
        """The fitted attributes of the model as it stands (copies, since
        training goes on changing the weights in place)."""
        # deepcopy: copies arrays of any namespace (NumPy's, or on a device).
        return {
            "coefs_": copy.deepcopy(list(self.estimator.coefs_)),
            "intercepts_": copy.deepcopy(list(self.estimator.intercepts_)),
            # The hooks get the validated array, without column names: do
            # not let the model warn that it was fitted with some.
            "feature_names_in_": None,
        }

    def begin_task(self):
        if self.watched:
            self.task = self.root.subcontext(task_name=self.task_name)
            self.task.call_on_fit_task_begin(
                estimator=self.estimator, X=self.X, y=self.y, metadata=self.metadata
            )

    def end_task(self, bare=False):
        """End the open subtask; True when a callback asks to stop."""
        task, self.task = self.task, None
        if task is None:
            return False
        if bare:  # a task that never ran: nothing to report on
            return task.call_on_fit_task_end(estimator=self.estimator)
        return task.call_on_fit_task_end(
            estimator=self.estimator,
            X=self.X,
            y=self.y,
            metadata=self.metadata,
            reconstruction_attributes=self.snapshot,
        )

    def end(self):
        """End the fit's root task, reporting on the final model if the
        training succeeded (a failed fit's teardown is left to scikit-learn)."""
        if self.succeeded:
            self.root.call_on_fit_task_end(
                estimator=self.estimator,
                X=self.X,
                y=self.y,
                metadata=self.metadata,
                reconstruction_attributes={"feature_names_in_": None},
            )


def begin_callbacks(estimator, X, Y, sample_weight, max_epochs, lbfgs=False):
    """Open scikit-learn's callback context for a fit (scikit-learn 1.9 and
    later; nothing otherwise), before its first epoch.

    The fit is a task whose subtasks are its epochs (``'epoch'``), or its
    L-BFGS iterations (``'lbfgs-iter'``, begun ahead as scikit-learn's
    ``LogisticRegression`` does, so one more).

    Parameters
    ----------
    estimator : _BaseScratchMLP
        The estimator being fitted, inside its ``fit`` or ``partial_fit``.
    X : ndarray or sparse matrix of shape (n_samples, n_features)
        The rows trained on.
    Y : ndarray of shape (n_samples, n_outputs)
        Their encoded targets.
    sample_weight : ndarray of shape (n_samples,) or None
    max_epochs : int
        The most epochs (iterations) this call can run.
    lbfgs : bool, default=False
        Whether the iterations are L-BFGS's, whose first one begins now.
    """
    if not hasattr(estimator, "_init_callback_context"):
        return
    task_name = "lbfgs-iter" if lbfgs else "epoch"
    run = _SklearnRun(estimator, X, Y, sample_weight, max_epochs + lbfgs, task_name)
    estimator.__dict__[_RUN] = run
    if lbfgs:
        run.begin_task()


def begin_epoch(estimator):
    """Tell scikit-learn's callbacks that an epoch (an L-BFGS iteration)
    begins.

    Parameters
    ----------
    estimator : _BaseScratchMLP
    """
    run = estimator.__dict__.get(_RUN)
    if run is not None:
        run.begin_task()


def end_epochs(estimator):
    """Record that the training loop ended without an error, so that
    :func:`end_callbacks` reports the final model to scikit-learn's callbacks.

    Parameters
    ----------
    estimator : _BaseScratchMLP
    """
    run = estimator.__dict__.get(_RUN)
    if run is not None:
        run.end_task(bare=True)  # L-BFGS's iteration begun ahead, never run
        run.succeeded = True


@contextmanager
def sub_estimator_fit(estimator, sub_estimator, X, y):
    """Run a meta-estimator's fit of ``sub_estimator`` as the one subtask of
    its fit task, so that scikit-learn's callbacks (1.9 and later) reach the
    sub-estimator as they reach a pipeline's steps; nothing otherwise.

    Parameters
    ----------
    estimator : estimator
        The meta-estimator, inside its ``fit``.
    sub_estimator : estimator
        The estimator it fits in the ``with`` block.
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or (n_samples, n_outputs) or None
    """
    if not hasattr(estimator, "_init_callback_context"):
        yield
        return
    root = estimator._init_callback_context(max_subtasks=1)
    root.call_on_fit_task_begin(estimator=estimator, X=X, y=y)
    task = root.subcontext(task_name="fit-estimator")
    with task.propagate_callback_context(sub_estimator):
        task.call_on_fit_task_begin(estimator=estimator, X=X, y=y)
        yield
        task.call_on_fit_task_end(estimator=estimator, X=X, y=y)
    root.call_on_fit_task_end(estimator=estimator, X=X, y=y)


class Timer:
    """Seconds since creation; what ``EpochRecord.elapsed`` measures."""

    def __init__(self):
        self._start = time.perf_counter()

    def __call__(self):
        return time.perf_counter() - self._start


__all__ = [
    "SKLEARN_CALLBACKS",
    "EpochRecord",
    "History",
    "ProgressBar",
    "begin_callbacks",
    "begin_epoch",
    "call_callbacks",
    "end_callbacks",
    "end_epochs",
    "sub_estimator_fit",
]
