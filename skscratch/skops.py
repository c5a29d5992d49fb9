"""Safe persistence of the skscratch estimators with skops.

``skops.io`` stores a model without pickle and, when loading, refuses every
type it does not know to be safe unless the caller trusts it by name. A
fitted skscratch estimator contains two kinds of types skops does not know:
the estimator class itself and, after a stochastic solver has run, the
optimizer state kept for ``partial_fit`` and ``warm_start`` (for example
``skscratch.core.optimizers.Adam``). Both are plain containers of NumPy
arrays and numbers, rebuilt without running any code from the file.

A model fitted with a :class:`~skscratch.CustomActivation` also holds that
object, which only refers to the user's ``function`` and ``derivative``
(trusted here). skops reports the two functions under their own names
(``mymodule.my_function``) and never trusts them by default, since loading
imports their module: pass them in ``trusted`` once you have checked that the
file names the functions you expect.

This module lists those types (:data:`TRUSTED_TYPES`) and loads a file only
when every type skops reports as untrusted is one of them (or one the caller
trusts explicitly)::

    from skscratch.skops import dump, load

    dump(model, "model.skops")
    model = load("model.skops")

The same with skops alone::

    import skops.io as sio
    from skscratch.skops import TRUSTED_TYPES

    sio.dump(model, "model.skops")
    print(sio.get_untrusted_types(file="model.skops"))  # review them
    model = sio.load("model.skops", trusted=list(TRUSTED_TYPES))
"""

try:
    import skops.io as sio
    from skops.io.exceptions import UntrustedTypesFoundException
except ImportError as exc:  # pragma: no cover - exercised without the extra
    raise ImportError(
        'skscratch.skops needs skops. Install it with: pip install "skscratch[skops]"'
    ) from exc

from . import nn
from ._classifier import MLPClassifier, ScratchMLPClassifier
from ._regressor import MLPRegressor, ScratchMLPRegressor
from .core import optimizers
from .core.activations import CustomActivation
from .embedding import MLPEmbedding

__all__ = ["TRUSTED_TYPES", "dump", "dumps", "load", "loads"]


def _qualified_name(cls):
    # The name skops reports for a type: module and qualified class name.
    return f"{cls.__module__}.{cls.__qualname__}"


TRUSTED_TYPES = tuple(
    sorted(
        _qualified_name(cls)
        for cls in (
            MLPClassifier,
            MLPEmbedding,
            MLPRegressor,
            ScratchMLPClassifier,
            ScratchMLPRegressor,
            optimizers.SGD,
            optimizers.Adam,
            optimizers.AdamW,
            optimizers.RMSprop,
            optimizers.LearningRateSchedule,
            # A model fitted on another array namespace keeps the reference
            # engine's optimizers (their arrays saved as NumPy's).
            nn.SGD,
            nn.Adam,
            nn.AdamW,
            nn.RMSprop,
            nn.Schedule,
            CustomActivation,
        )
    )
)
"""tuple of str: the skscratch types a saved estimator may hold, as
:func:`skops.io.get_untrusted_types` names them."""


def dump(estimator, file):
    """Save ``estimator`` in the skops format.

    Parameters
    ----------
    estimator : object
        Usually a fitted skscratch estimator, or a pipeline holding one.
    file : str, path or binary file object
        Where to write; ``.skops`` is the usual extension.
    """
    sio.dump(estimator, file)


def dumps(estimator):
    """Return ``estimator`` in the skops format, as bytes.

    Parameters
    ----------
    estimator : object

    Returns
    -------
    data : bytes
    """
    return sio.dumps(estimator)


def load(file, trusted=()):
    """Load a file written by :func:`dump` (or ``skops.io.dump``).

    Parameters
    ----------
    file : str or path
        The file to read.
    trusted : sequence of str, default=()
        Types to trust on top of :data:`TRUSTED_TYPES` (for example a
        callback class of your own), by their fully qualified names.

    Returns
    -------
    estimator : object

    Raises
    ------
    skops.io.exceptions.UntrustedTypesFoundException
        If the file holds a type skops does not trust that is neither one of
        skscratch's nor in ``trusted``; nothing is built from the file then.
    """
    untrusted = sio.get_untrusted_types(file=file)
    return sio.load(file, trusted=_checked(untrusted, trusted))


def loads(data, trusted=()):
    """Load bytes returned by :func:`dumps` (or ``skops.io.dumps``).

    Parameters
    ----------
    data : bytes
    trusted : sequence of str, default=()
        See :func:`load`.

    Returns
    -------
    estimator : object
    """
    untrusted = sio.get_untrusted_types(data=data)
    return sio.loads(data, trusted=_checked(untrusted, trusted))


def _checked(untrusted, trusted):
    """The types to pass to skops: the reported ones, once each is known to be
    skscratch's own or trusted by the caller."""
    if isinstance(trusted, str):
        trusted = [trusted]
    allowed = set(TRUSTED_TYPES) | set(trusted)
    unknown = [name for name in untrusted if name not in allowed]
    if unknown:
        raise UntrustedTypesFoundException(unknown)
    return list(untrusted)
