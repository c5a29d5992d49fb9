"""Bad input gets a clear error, and a failed call loses nothing.

For each kind of bad input: the error type and a readable message, then the
guarantee that a model fitted before the failing call is exactly as it was.
"""

import contextlib
import copy
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_diabetes, load_iris
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import (
    InvalidParameterError,
    validate_parameter_constraints,
)

from skscratch import ScratchMLPClassifier, ScratchMLPRegressor, _base
from skscratch.core import Network, compiled

needs_numba = pytest.mark.skipif(
    not compiled.available(),
    reason="needs the fast extra: pip install 'skscratch[fast]'",
)

X_IRIS, Y_IRIS = load_iris(return_X_y=True)
X_IRIS = StandardScaler().fit_transform(X_IRIS)

BAD_X = {
    "nan": (np.where(np.eye(150, 4) == 1, np.nan, X_IRIS), "contains NaN"),
    "inf": (np.where(np.eye(150, 4) == 1, np.inf, X_IRIS), "contains infinity"),
    "empty": (np.empty((0, 4)), "0 sample"),
    "1-D": (X_IRIS[:, 0], "Expected 2D array"),
    "object": (np.array([["a", "b", "c", "d"]] * 150, dtype=object), "convert"),
    "complex": (X_IRIS + 1j, "Complex data not supported"),
}


def _fitted(**kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return ScratchMLPClassifier(max_iter=5, random_state=0, **kwargs).fit(
            X_IRIS, Y_IRIS
        )


def _state(est):
    """Everything a failed call could have damaged, as comparable values."""
    return {
        key: copy.deepcopy(value)
        for key, value in vars(est).items()
        if key not in ("_network", "_random_state")
    }


def _assert_unchanged(est, before, proba_before):
    after = _state(est)
    assert set(after) == set(before)
    for key, value in before.items():
        if isinstance(value, list) and value and isinstance(value[0], np.ndarray):
            for a, b in zip(value, after[key], strict=True):
                np.testing.assert_array_equal(a, b)
        elif isinstance(value, np.ndarray):
            np.testing.assert_array_equal(value, after[key])
        elif key == "_optimizer":
            state = "m" if hasattr(value, "m") else "velocity"  # Adam or SGD
            np.testing.assert_array_equal(
                getattr(value, state), getattr(after[key], state)
            )
            assert getattr(value, "t", None) == getattr(after[key], "t", None)
        elif key != "_label_binarizer":
            assert value == after[key], key
    np.testing.assert_array_equal(est.predict_proba(X_IRIS), proba_before)


@pytest.mark.parametrize("kind", sorted(BAD_X))
@pytest.mark.parametrize("method", ["fit", "partial_fit", "predict"])
def test_bad_X_is_rejected_and_loses_nothing(kind, method):
    X, message = BAD_X[kind]
    est = _fitted()
    before, proba = _state(est), est.predict_proba(X_IRIS)
    y = Y_IRIS[: X.shape[0]] if X.ndim == 2 else Y_IRIS
    with pytest.raises(ValueError, match=message):
        if method == "predict":
            est.predict(X)
        else:
            getattr(est, method)(X, y)
    _assert_unchanged(est, before, proba)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("layout", ["dense32", "dense64", "fortran", "csr"])
@pytest.mark.parametrize("method", ["fit", "predict_proba"])
@pytest.mark.parametrize("kernels", [True, False], ids=["compiled", "numpy"])
def test_non_finite_X_gets_scikit_learns_own_message(value, layout, method, kernels):
    """skscratch checks finiteness with a compiled pass of its own (in the
    last element too, past the kernel's blocks of 64), then lets
    scikit-learn's check word the error: the messages match MLPClassifier's
    exactly, with the kernels or without."""
    X = X_IRIS[:130].copy()  # 520 values: not a multiple of 64
    X[-1, -1] = value
    if layout == "dense32":
        X = X.astype(np.float32)
    elif layout == "fortran":
        X = np.asfortranarray(X)
    elif layout == "csr":
        X = sp.csr_matrix(X)
    y = Y_IRIS[:130]
    messages = []
    for cls in (ScratchMLPClassifier, MLPClassifier):
        est = cls(max_iter=2, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            if method == "predict_proba":
                est.fit(X_IRIS[:130].astype(X.dtype), y)
        switch = contextlib.nullcontext() if kernels else compiled.disabled()
        with switch, pytest.raises(ValueError) as info:
            if method == "fit":
                est.fit(X, y)
            else:
                est.predict_proba(X)
        messages.append(str(info.value).replace(cls.__name__, "<estimator>"))
    assert messages[0] == messages[1]
    assert ("NaN" if np.isnan(value) else "infinity") in messages[0]


def test_wrong_number_of_features():
    est = _fitted()
    before, proba = _state(est), est.predict_proba(X_IRIS)
    for call in (
        lambda: est.predict(X_IRIS[:, :3]),
        lambda: est.predict_proba(X_IRIS[:, :3]),
        lambda: est.partial_fit(X_IRIS[:, :3], Y_IRIS),
    ):
        with pytest.raises(ValueError, match="has 3 features, but .* expecting 4"):
            call()
    _assert_unchanged(est, before, proba)


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(activation="softsign"), "'activation' parameter"),
        (dict(solver="newton"), "'solver' parameter"),
        (dict(alpha=-1.0), "'alpha' parameter"),
        (dict(batch_size=0), "'batch_size' parameter"),
        (dict(learning_rate="cyclic"), "'learning_rate' parameter"),
        (dict(learning_rate_init=0.0), "'learning_rate_init' parameter"),
        (dict(max_iter=0), "'max_iter' parameter"),
        (dict(momentum=1.5), "'momentum' parameter"),
        (dict(validation_fraction=1.0), "'validation_fraction' parameter"),
        (dict(beta_1=1.0), "'beta_1' parameter"),
        (dict(epsilon=0.0), "'epsilon' parameter"),
        (dict(n_iter_no_change=0), "'n_iter_no_change' parameter"),
        (dict(shuffle="yes"), "'shuffle' parameter"),
        (dict(hidden_layer_sizes="big"), "'hidden_layer_sizes' parameter"),
    ],
)
def test_invalid_parameters_raise_invalid_parameter_error(params, match):
    with pytest.raises(InvalidParameterError, match=match):
        ScratchMLPClassifier(**params).fit(X_IRIS, Y_IRIS)


@pytest.mark.parametrize("Estimator", [ScratchMLPClassifier, ScratchMLPRegressor])
def test_parameter_check_accepts_and_rejects_as_scikit_learns(Estimator):
    """The estimators check their parameters on constraints built once per
    class; what passes, what fails and the message are still scikit-learn's
    ``validate_parameter_constraints``'s, for every constrained parameter."""
    values = [None, 0, 1, -1, 0.5, 1.0, 1.5, np.inf, np.int64(3), True, "auto"]
    values += ["relu", "adam", "balanced", "score", "huber", (5,), [], {}, "x"]
    values += [print, np.random.RandomState(0)]
    for name in Estimator._parameter_constraints:
        for value in values:
            est = Estimator(**{name: value})
            try:
                validate_parameter_constraints(
                    Estimator._parameter_constraints,
                    est.get_params(deep=False),
                    caller_name=Estimator.__name__,
                )
            except InvalidParameterError as expected:
                with pytest.raises(InvalidParameterError) as raised:
                    est._validate_params()
                assert str(raised.value) == str(expected)
            else:
                est._validate_params()


@pytest.mark.parametrize(
    "sizes, match",
    [((5, 0), "must be > 0"), ((5, -2), "must be > 0"), ((5, 2.5), "integers")],
)
def test_invalid_hidden_layer_sizes(sizes, match):
    with pytest.raises(ValueError, match=match):
        ScratchMLPClassifier(hidden_layer_sizes=sizes).fit(X_IRIS, Y_IRIS)


def test_invalid_regressor_loss():
    with pytest.raises(InvalidParameterError, match="'loss' parameter"):
        ScratchMLPRegressor(loss="huber_typo").fit(X_IRIS, X_IRIS[:, 0])


def test_negative_targets_for_poisson():
    X, y = load_diabetes(return_X_y=True)
    with pytest.raises(ValueError, match="negative, which is not allowed"):
        ScratchMLPRegressor(loss="poisson").fit(X, y - y.mean())


@pytest.mark.parametrize(
    "sample_weight, match",
    [
        (np.zeros(150), "all zero"),
        (-np.ones(150), "Negative values"),
        (np.ones(3), r"sample_weight.shape == \(3,\), expected \(150,\)"),
        (np.ones((150, 2)), "1D array"),
        (np.r_[np.nan, np.ones(149)], "NaN"),
    ],
)
def test_bad_sample_weights(sample_weight, match):
    est = _fitted()
    before, proba = _state(est), est.predict_proba(X_IRIS)
    with pytest.raises(ValueError, match=match):
        est.partial_fit(X_IRIS, Y_IRIS, sample_weight=sample_weight)
    _assert_unchanged(est, before, proba)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_scalar_sample_weight_means_the_same_weight_for_every_row():
    est = ScratchMLPClassifier(solver="lbfgs", max_iter=20, random_state=0)
    a = est.fit(X_IRIS, Y_IRIS, sample_weight=3.0).predict_proba(X_IRIS)
    b = est.fit(X_IRIS, Y_IRIS, sample_weight=np.full(150, 3.0)).predict_proba(X_IRIS)
    np.testing.assert_array_equal(a, b)


def test_classifier_rejects_continuous_targets():
    with pytest.raises(ValueError, match="Unknown label type"):
        ScratchMLPClassifier().fit(X_IRIS, X_IRIS[:, 0])


def test_partial_fit_needs_classes_first():
    with pytest.raises(ValueError, match="classes must be passed"):
        ScratchMLPClassifier().partial_fit(X_IRIS, Y_IRIS)
    with pytest.raises(ValueError, match="classes must be passed"):
        ScratchMLPClassifier().partial_fit(X_IRIS, Y_IRIS[:, None])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_partial_fit_checks_classes_before_the_data_as_scikit_learn():
    """With both ``classes`` and ``X`` wrong, partial_fit reports what
    scikit-learn's does: ``classes`` first, and nothing changes."""
    X_bad = X_IRIS.copy()
    X_bad[3, 1] = np.nan
    for Estimator in (ScratchMLPClassifier, MLPClassifier):
        with pytest.raises(ValueError, match="classes must be passed"):
            Estimator().partial_fit(X_bad, Y_IRIS)
        with pytest.raises(ValueError, match="classes must be passed"):
            Estimator().partial_fit(X_IRIS[:, :3], Y_IRIS)
        est = Estimator(random_state=0).partial_fit(X_IRIS, Y_IRIS, classes=[0, 1, 2])
        for X in (X_bad, X_IRIS[:, :3]):
            with pytest.raises(ValueError, match="is not the same as on"):
                est.partial_fit(X, Y_IRIS, classes=[0, 1, 2, 3])
        # Repeating the same classes is allowed.
        est.partial_fit(X_IRIS, Y_IRIS, classes=[2, 1, 0])
    est = ScratchMLPClassifier(random_state=0)
    est.partial_fit(X_IRIS, Y_IRIS, classes=[0, 1, 2])
    before, proba = _state(est), est.predict_proba(X_IRIS)
    with pytest.raises(ValueError, match="is not the same as on"):
        est.partial_fit(X_bad, Y_IRIS, classes=[0, 1])
    _assert_unchanged(est, before, proba)
    # A multilabel indicator target needs no classes (a skscratch addition).
    Y_multi = np.eye(3, dtype=int)[Y_IRIS]
    Y_multi[::2, 0] = 1
    assert ScratchMLPClassifier().partial_fit(X_IRIS, Y_multi).classes_.size == 3


def test_partial_fit_refuses_early_stopping():
    with pytest.raises(ValueError, match="early_stopping"):
        ScratchMLPClassifier(early_stopping=True).partial_fit(
            X_IRIS, Y_IRIS, classes=[0, 1, 2]
        )


def test_unfitted_model_raises_not_fitted_error():
    for method in ("predict", "predict_proba", "predict_log_proba"):
        with pytest.raises(NotFittedError):
            getattr(ScratchMLPClassifier(), method)(X_IRIS)
    with pytest.raises(NotFittedError):
        ScratchMLPRegressor().predict(X_IRIS)


@pytest.mark.parametrize(
    "params",
    [
        dict(solver="sgd", learning_rate_init=1e6),
        dict(solver="sgd", learning_rate="invscaling", learning_rate_init=1e5),
    ],
)
# Overflow on the way to the non-finite loss is what this test provokes.
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_non_finite_divergence_raises_and_keeps_the_previous_model(params):
    X, y = load_diabetes(return_X_y=True)
    y = y * 1e3
    reg = ScratchMLPRegressor(max_iter=5, random_state=0, learning_rate_init=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, y)
    before = [c.copy() for c in reg.coefs_]
    pred = reg.predict(X)
    reg.set_params(warm_start=True, max_iter=100, **params)
    with pytest.raises(ValueError, match="diverged.*learning_rate_init"):
        reg.fit(X, y)
    for a, b in zip(before, reg.coefs_, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(reg.predict(X), pred)
    assert np.isfinite(reg.predict(X)).all()


def test_failed_first_fit_leaves_the_estimator_unfitted():
    X, y = load_diabetes(return_X_y=True)
    reg = ScratchMLPRegressor(solver="sgd", learning_rate_init=1e6, random_state=0)
    with pytest.raises(ValueError, match="diverged"):
        reg.fit(X, y * 1e3)
    assert not hasattr(reg, "coefs_")
    with pytest.raises(NotFittedError):
        reg.predict(X)


def test_lbfgs_divergence_raises():
    X, y = load_diabetes(return_X_y=True)
    with pytest.raises(ValueError, match="diverged.*scale the input data"):
        ScratchMLPRegressor(solver="lbfgs", random_state=0).fit(X * 1e150, y)


def test_exploding_but_finite_loss_warns():
    X, y = load_diabetes(return_X_y=True)
    reg = ScratchMLPRegressor(
        solver="sgd", learning_rate_init=10, max_iter=5, random_state=0
    )
    with pytest.warns(ConvergenceWarning, match="optimisation is diverging"):
        reg.fit(X, y * 1e3)


def _spy_upfront_checks(monkeypatch):
    """Count the passes over all of X that validation makes."""
    calls = []
    real = _base._assert_finite
    monkeypatch.setattr(
        _base, "_assert_finite", lambda X, est: calls.append(X.shape) or real(X, est)
    )
    return calls


@needs_numba
@pytest.mark.parametrize("row", [0, 77, 149])
@pytest.mark.parametrize(
    "options",
    [
        dict(),
        dict(solver="sgd", batch_size=7),
        dict(shuffle=False, batch_size=50),
        dict(hidden_layer_sizes=(128,), batch_size=150),
    ],
    ids=["adam", "sgd-batch-7", "no-shuffle", "one-batch"],
)
@pytest.mark.parametrize("method", ["fit", "partial_fit", "warm_start"])
def test_the_first_epoch_checks_the_rows_it_takes(method, options, row, monkeypatch):
    """Stochastic solvers leave the NaN/infinity check to their first epoch,
    which reads every row anyway: a bad value in any row, whatever batch it
    falls in, still gets scikit-learn's error, and the failed call loses
    nothing (here, on a model fitted before)."""
    X = X_IRIS.astype(np.float32)
    est = _fitted(**options, warm_start=method == "warm_start")
    before, proba = _state(est), est.predict_proba(X_IRIS)
    upfront = _spy_upfront_checks(monkeypatch)
    bad = X.copy()
    bad[row, 3] = np.nan
    method = "fit" if method == "warm_start" else method
    with pytest.raises(ValueError, match="Input X contains NaN") as info:
        getattr(est, method)(bad, Y_IRIS)
    assert info.value.__suppress_context__  # no internal error in the trace
    assert len(upfront) == 1  # after the epoch found the bad row, to word it
    _assert_unchanged(est, before, proba)
    # Finite data: no pass of its own.
    upfront.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        getattr(est, method)(X, Y_IRIS)
    assert not upfront


@needs_numba
@pytest.mark.parametrize(
    "options, checked_upfront",
    [
        (dict(solver="lbfgs"), True),
        (dict(early_stopping=True), True),  # validation rows are never taken
        (dict(), False),
    ],
)
def test_which_fits_leave_the_check_to_training(options, checked_upfront, monkeypatch):
    upfront = _spy_upfront_checks(monkeypatch)
    X = X_IRIS.astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ScratchMLPClassifier(max_iter=2, random_state=0, **options).fit(X, Y_IRIS)
        assert bool(upfront) == checked_upfront
        upfront.clear()
        # Sparse or Fortran-ordered data are checked first, as before.
        ScratchMLPClassifier(max_iter=2, random_state=0).fit(sp.csr_matrix(X), Y_IRIS)
        ScratchMLPClassifier(max_iter=2, random_state=0).fit(
            np.asfortranarray(X), Y_IRIS
        )
        assert len(upfront) == 2
        # Without the kernels too.
        with compiled.disabled():
            ScratchMLPRegressor(max_iter=2, random_state=0).fit(X, Y_IRIS)
        assert len(upfront) == 3


@needs_numba
def test_rows_of_a_skipped_batch_are_checked_too():
    X = X_IRIS.astype(np.float32)
    X[3, 0] = np.inf
    weights = np.ones(150)
    weights[:10] = 0  # the first batch has nothing to learn from
    est = ScratchMLPRegressor(shuffle=False, batch_size=10, max_iter=2)
    with pytest.raises(ValueError, match="Input X contains infinity"):
        est.fit(X, Y_IRIS, sample_weight=weights)
    assert not hasattr(est, "coefs_")


@needs_numba
@pytest.mark.parametrize("interruption", [RuntimeError, KeyboardInterrupt])
def test_a_fit_stopped_before_it_saw_every_row_still_reports_bad_values(
    interruption, monkeypatch
):
    """An error in the first epoch, before it took the bad row (here in the
    last batch), gives the NaN error, as validation would have first; so does
    an interruption, after which a fit would otherwise return."""
    X = X_IRIS.astype(np.float32)
    calls = []
    real = Network.loss_and_gradient

    def failing(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise interruption("stop")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Network, "loss_and_gradient", failing)
    bad = X.copy()
    bad[-1, 0] = np.nan
    est = ScratchMLPClassifier(shuffle=False, batch_size=50, max_iter=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "interrupted by user"
        with pytest.raises(ValueError, match="Input X contains NaN"):
            est.fit(bad, Y_IRIS)
        assert not hasattr(est, "coefs_")
        # On finite data, the same stop is what it always was.
        calls.clear()
        if interruption is KeyboardInterrupt:
            est.fit(X, Y_IRIS)
            assert est.n_iter_ == 0
        else:
            with pytest.raises(RuntimeError, match="stop"):
                est.fit(X, Y_IRIS)


@pytest.mark.parametrize("layout", ["dense32", "csr"])
@pytest.mark.parametrize(
    "case",
    [
        "continuous-y",
        "y-with-nan",
        "negative-poisson-y",
        "short-y",
        "partial-fit-features",
        "new-class",
    ],
)
def test_bad_X_is_reported_before_bad_y(case, layout):
    """When both X and y are wrong, the error is about X's NaN, as in
    scikit-learn, which checks X's values before y and the feature count;
    skscratch checks them later (after y, or during the first epoch), so a
    failed validation looks at X first."""
    from sklearn.neural_network import MLPRegressor

    X = X_IRIS.astype(np.float32)
    bad = X.copy()
    bad[5, 2] = np.nan
    if layout == "csr":
        bad = sp.csr_matrix(bad)
    y, method, regressor, options = Y_IRIS, "fit", False, {}
    if case == "continuous-y":
        y = Y_IRIS + 0.5
    elif case == "y-with-nan":
        y, regressor = np.where(np.arange(150) == 9, np.nan, Y_IRIS), True
    elif case == "negative-poisson-y":
        y, regressor, options = Y_IRIS - 1.0, True, {"loss": "poisson"}
    elif case == "short-y":
        y = Y_IRIS[:-1]
    messages = []
    for ours in (True, False):
        if regressor:
            cls = ScratchMLPRegressor if ours else MLPRegressor
        else:
            cls = ScratchMLPClassifier if ours else MLPClassifier
        if options and not ours:  # scikit-learn's MLP has no Poisson loss
            cls, options = MLPRegressor, {}
        est = cls(max_iter=2, random_state=0, **options)
        if case in ("partial-fit-features", "new-class"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                est.partial_fit(
                    X[:, :3] if case == "partial-fit-features" else X,
                    np.minimum(Y_IRIS, 1),
                    classes=[0, 1],
                )
            method = "partial_fit"
        with pytest.raises(ValueError) as info:
            getattr(est, method)(bad, y)
        messages.append(str(info.value).replace(cls.__name__, "<estimator>"))
        if ours:
            error = info.value  # no y error in the trace:
            assert error.__context__ is None or error.__suppress_context__
    assert messages[0].startswith("Input X contains NaN"), messages[0]
    assert messages[0] == messages[1]
