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
"""

import sys
import time
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
    """Call every callback; True when one of them asks to stop.

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
    return stop


def end_callbacks(callbacks, estimator):
    """Tell every callback that has an ``on_train_end`` method that training
    is over.

    Parameters
    ----------
    callbacks : list of callable or None
    estimator : estimator
    """
    for callback in callbacks or ():
        on_train_end = getattr(callback, "on_train_end", None)
        if on_train_end is not None:
            on_train_end(estimator)


class Timer:
    """Seconds since creation; what ``EpochRecord.elapsed`` measures."""

    def __init__(self):
        self._start = time.perf_counter()

    def __call__(self):
        return time.perf_counter() - self._start


__all__ = ["EpochRecord", "History", "ProgressBar", "call_callbacks", "end_callbacks"]
