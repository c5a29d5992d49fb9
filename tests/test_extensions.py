"""The features beyond scikit-learn's MLP: dropout, class weights, more
activations, losses and optimizers, validation loss, callbacks."""

import io
import pickle
import sys
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.class_weight import compute_sample_weight

import skscratch._validation as validation_module
from skscratch import ScratchMLPClassifier, ScratchMLPRegressor
from skscratch.callbacks import EpochRecord, History, ProgressBar

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


# -- dropout -------------------------------------------------------------------


def test_dropout_is_off_at_prediction_time(digits):
    X, y = digits
    clf = ScratchMLPClassifier(
        hidden_layer_sizes=(64, 32), dropout=0.3, max_iter=20, random_state=0
    ).fit(X, y)
    assert len(clf._network.dropout_layers) == 2
    first = clf.predict_proba(X)
    np.testing.assert_array_equal(clf.predict_proba(X), first)
    # Prediction is the plain network: recompute it from coefs_ by hand.
    a = X
    for W, b in zip(clf.coefs_[:-1], clf.intercepts_[:-1], strict=True):
        a = np.maximum(a @ W + b, 0)
    z = a @ clf.coefs_[-1] + clf.intercepts_[-1]
    p = np.exp(z - z.max(axis=1, keepdims=True))
    np.testing.assert_allclose(first, p / p.sum(axis=1, keepdims=True), rtol=1e-10)


def test_dropout_is_reproducible_and_matters(digits):
    X, y = digits
    kwargs = dict(hidden_layer_sizes=(32,), max_iter=5)
    a = ScratchMLPClassifier(dropout=0.5, random_state=1, **kwargs).fit(X, y)
    b = ScratchMLPClassifier(dropout=0.5, random_state=1, **kwargs).fit(X, y)
    c = ScratchMLPClassifier(dropout=0.5, random_state=2, **kwargs).fit(X, y)
    plain = ScratchMLPClassifier(dropout=0.0, random_state=1, **kwargs).fit(X, y)
    np.testing.assert_array_equal(a.coefs_[0], b.coefs_[0])
    assert a.loss_curve_ == b.loss_curve_
    assert not np.array_equal(a.coefs_[0], c.coefs_[0])
    assert not np.array_equal(a.coefs_[0], plain.coefs_[0])


def test_dropout_per_layer_and_pickle(digits):
    X, y = digits
    clf = ScratchMLPClassifier(
        hidden_layer_sizes=(32, 16), dropout=[0.2, 0.0], max_iter=3, random_state=0
    ).fit(X, y)
    assert [layer.rate for layer in clf._network.dropout_layers] == [0.2]
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict(X), clf.predict(X))
    # Training continues with dropout after unpickling.
    restored.partial_fit(X, y)
    assert restored._network.dropout == (0.2, 0.0)


@pytest.mark.parametrize(
    "dropout, error, match",
    [
        (1.0, InvalidParameterError, "'dropout' parameter"),
        (-0.1, InvalidParameterError, "'dropout' parameter"),
        ([0.1, 0.2, 0.3], ValueError, "one rate per hidden layer"),
        ([0.1, 1.5], ValueError, r"must be in \[0, 1\)"),
    ],
)
def test_dropout_is_validated(iris, dropout, error, match):
    X, y = iris
    with pytest.raises(error, match=match):
        ScratchMLPClassifier(hidden_layer_sizes=(8, 8), dropout=dropout).fit(X, y)


def test_dropout_needs_a_stochastic_solver(iris):
    X, y = iris
    with pytest.raises(ValueError, match="dropout needs a stochastic solver"):
        ScratchMLPClassifier(solver="lbfgs", dropout=0.2).fit(X, y)
    # A rate of zero is no dropout at all.
    ScratchMLPClassifier(solver="lbfgs", dropout=0.0, max_iter=5).fit(X, y)


# -- class_weight ------------------------------------------------------------


def _imbalanced():
    return make_classification(
        n_samples=400, weights=[0.9, 0.1], n_features=6, random_state=0
    )


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_balanced_class_weight_equals_the_sample_weight(solver):
    X, y = _imbalanced()
    kwargs = dict(solver=solver, max_iter=50, random_state=0)
    a = ScratchMLPClassifier(class_weight="balanced", **kwargs).fit(X, y)
    b = ScratchMLPClassifier(**kwargs).fit(
        X, y, sample_weight=compute_sample_weight("balanced", y)
    )
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), rtol=1e-10)


def test_class_weight_dict_multiplies_sample_weight(iris):
    X, y = iris
    cw = {0: 2.0, 1: 0.5, 2: 1.0}
    sw = np.linspace(0.5, 1.5, len(y))
    kwargs = dict(solver="lbfgs", max_iter=30, random_state=0)
    a = ScratchMLPClassifier(class_weight=cw, **kwargs).fit(X, y, sample_weight=sw)
    equivalent = sw * np.array([cw[c] for c in y])
    b = ScratchMLPClassifier(**kwargs).fit(X, y, sample_weight=equivalent)
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), rtol=1e-10)


def test_balanced_class_weight_helps_the_minority_class():
    from sklearn.metrics import recall_score

    X, y = _imbalanced()
    kwargs = dict(solver="lbfgs", alpha=1.0, max_iter=200, random_state=0)
    plain = ScratchMLPClassifier(**kwargs).fit(X, y)
    balanced = ScratchMLPClassifier(class_weight="balanced", **kwargs).fit(X, y)
    assert recall_score(y, balanced.predict(X)) > recall_score(y, plain.predict(X))


def test_class_weight_errors(iris):
    from sklearn.datasets import make_multilabel_classification

    X, y = iris
    with pytest.raises(ValueError, match="not supported by partial_fit"):
        ScratchMLPClassifier(class_weight="balanced").partial_fit(
            X, y, classes=[0, 1, 2]
        )
    # A dict works with partial_fit.
    ScratchMLPClassifier(class_weight={0: 1, 1: 2, 2: 1}).partial_fit(
        X, y, classes=[0, 1, 2]
    )
    Xm, Ym = make_multilabel_classification(50, random_state=0)
    with pytest.raises(ValueError, match="not supported for multilabel"):
        ScratchMLPClassifier(class_weight="balanced").fit(Xm, Ym)
    with pytest.raises(ValueError, match="not in class_weight|are not in"):
        ScratchMLPClassifier(class_weight={0: 1, 7: 2}).fit(X, y)
    with pytest.raises(ValueError, match="weight of zero"):
        ScratchMLPClassifier(class_weight={0: 0, 1: 0, 2: 0}).fit(X, y)
    with pytest.raises(InvalidParameterError, match="'class_weight' parameter"):
        ScratchMLPClassifier(class_weight="auto").fit(X, y)


# -- activations, losses, optimizers -----------------------------------------


@pytest.mark.parametrize(
    "activation", ["leaky_relu", "elu", "gelu", "softplus", "silu"]
)
def test_new_activations_learn_digits(digits, activation):
    X, y = digits
    clf = ScratchMLPClassifier(
        hidden_layer_sizes=(32,), activation=activation, max_iter=40, random_state=0
    ).fit(X[:1200], y[:1200])
    assert clf.score(X[1200:], y[1200:]) > 0.9


def test_absolute_error_fits_the_median_and_huber_resists_outliers():
    rng = np.random.default_rng(0)
    # No hidden layer, constant input: the model is a constant, fitted to the
    # median by absolute_error and to the mean by squared_error.
    X = np.ones((501, 1))
    y = rng.exponential(scale=2.0, size=501)
    common = dict(hidden_layer_sizes=(), solver="lbfgs", alpha=0.0, max_iter=500)
    mae = ScratchMLPRegressor(loss="absolute_error", **common).fit(X, y)
    mse = ScratchMLPRegressor(loss="squared_error", **common).fit(X, y)
    assert mae.predict(X[:1])[0] == pytest.approx(np.median(y), abs=0.05)
    assert mse.predict(X[:1])[0] == pytest.approx(np.mean(y), abs=1e-3)

    # A line with 5% wild outliers: huber stays close to the line.
    x = rng.uniform(-2, 2, size=(400, 1))
    line = 3 * x[:, 0] + 1
    noisy = line + rng.normal(scale=0.1, size=400)
    noisy[::20] += 100
    kwargs = dict(hidden_layer_sizes=(), solver="lbfgs", alpha=0.0, max_iter=1000)
    huber = ScratchMLPRegressor(loss="huber", huber_delta=1.0, **kwargs).fit(x, noisy)
    squared = ScratchMLPRegressor(loss="squared_error", **kwargs).fit(x, noisy)
    assert np.abs(huber.predict(x) - line).mean() < 0.5
    assert np.abs(squared.predict(x) - line).mean() > 3


def test_huber_delta_is_validated():
    X = np.ones((10, 1))
    with pytest.raises(InvalidParameterError, match="'huber_delta' parameter"):
        ScratchMLPRegressor(loss="huber", huber_delta=0).fit(X, np.arange(10.0))


@pytest.mark.parametrize("solver", ["adamw", "rmsprop"])
def test_new_optimizers_learn_digits_as_well_as_adam(digits, solver):
    X, y = digits
    kwargs = dict(hidden_layer_sizes=(64,), max_iter=30, random_state=0)
    clf = ScratchMLPClassifier(solver=solver, **kwargs).fit(X[:1200], y[:1200])
    adam = ScratchMLPClassifier(solver="adam", **kwargs).fit(X[:1200], y[:1200])
    score = clf.score(X[1200:], y[1200:])
    assert score > 0.88  # the last 597 digits are the harder ones
    assert score >= adam.score(X[1200:], y[1200:]) - 0.02
    assert (
        type(clf._optimizer).__name__
        == {"adamw": "AdamW", "rmsprop": "RMSprop"}[solver]
    )


def test_adamw_decays_the_weights_instead_of_penalising(digits):
    from skscratch.core import AdamW, build_mlp
    from skscratch.core.parallel import DataParallel

    X, y = digits
    kwargs = dict(hidden_layer_sizes=(32,), solver="adamw", max_iter=10)
    decayed = ScratchMLPClassifier(alpha=1.0, random_state=0, **kwargs).fit(X, y)
    free = ScratchMLPClassifier(alpha=0.0, random_state=0, **kwargs).fit(X, y)
    assert np.abs(decayed.coefs_[0]).mean() < 0.95 * np.abs(free.coefs_[0]).mean()
    # Without decay, AdamW is Adam.
    adam = ScratchMLPClassifier(
        alpha=0.0, random_state=0, **{**kwargs, "solver": "adam"}
    )
    np.testing.assert_allclose(adam.fit(X, y).coefs_[0], free.coefs_[0], rtol=1e-12)
    # The objective has no penalty term, and each step shrinks the weights by
    # lr * alpha before Adam's update.
    net = build_mlp([64, 8, 10], "relu")
    net.initialize(np.random.default_rng(0))
    Y = np.eye(10)[y]
    plain = net.loss_and_gradient(X, Y, "log_loss")
    opt = AdamW(net.params, learning_rate_init=0.01, n_decayed=net.n_weights)
    before = net.params.copy()
    with DataParallel(net) as dp:
        value = dp.loss_and_gradient(X, Y, "log_loss", alpha=2.0, optimizer=opt)
    assert value == pytest.approx(plain)
    step = net.params - before
    decay = np.zeros_like(step)
    decay[: net.n_weights] = -0.01 * 2.0 * before[: net.n_weights]
    # What is left after the decay is a first Adam step: at most lr (0.01)
    # per parameter. Without the right decay it would exceed that.
    assert np.abs(step - decay).max() <= 0.01 * (1 + 1e-6)
    assert np.abs(step).max() > 0.01


@pytest.mark.parametrize("solver", ["adamw", "rmsprop"])
def test_schedules_apply_to_the_new_optimizers(iris, solver, capsys):
    X, y = iris
    ScratchMLPClassifier(
        solver=solver,
        learning_rate="adaptive",
        tol=10.0,
        n_iter_no_change=2,
        max_iter=30,
        verbose=True,
    ).fit(X, y)
    assert "Setting learning rate to 0.000200" in capsys.readouterr().out


# -- validation loss -----------------------------------------------------------


@pytest.mark.parametrize("metric", ["score", "loss"])
def test_validation_loss_is_recorded_and_can_be_watched(monkeypatch, digits, metric):
    X, y = digits
    seen = {}
    real_split = validation_module.train_test_split

    def recording_split(*args, **kwargs):
        seen["split"] = real_split(*args, **kwargs)
        return seen["split"]

    monkeypatch.setattr(validation_module, "train_test_split", recording_split)
    clf = ScratchMLPClassifier(
        hidden_layer_sizes=(64,),
        early_stopping=True,
        early_stopping_metric=metric,
        learning_rate_init=0.01,
        n_iter_no_change=3,
        max_iter=200,
        random_state=0,
    ).fit(X, y)
    _, val = seen["split"]
    assert len(clf.validation_loss_curve_) == len(clf.validation_scores_)
    assert len(clf.validation_loss_curve_) == clf.n_iter_ < 200
    assert clf.best_validation_loss_ == min(clf.validation_loss_curve_)
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    # The returned weights are the best epoch's for the watched metric.
    proba = clf.predict_proba(X[val])
    val_loss = -np.log(proba[np.arange(len(val)), y[val]]).mean()
    if metric == "loss":
        assert val_loss == pytest.approx(clf.best_validation_loss_, rel=1e-9)
    else:
        assert clf.score(X[val], y[val]) == pytest.approx(clf.best_validation_score_)
        best_epoch = int(np.argmax(clf.validation_scores_))
        assert val_loss == pytest.approx(clf.validation_loss_curve_[best_epoch])


def test_no_validation_curves_without_early_stopping(iris):
    X, y = iris
    clf = ScratchMLPClassifier(max_iter=3).fit(X, y)
    assert clf.validation_loss_curve_ is None
    assert clf.best_validation_loss_ is None


def test_early_stopping_metric_is_validated(iris):
    X, y = iris
    with pytest.raises(InvalidParameterError, match="'early_stopping_metric'"):
        ScratchMLPClassifier(early_stopping_metric="accuracy").fit(X, y)


# -- callbacks -------------------------------------------------------------


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs", "rmsprop"])
def test_a_callback_stops_training_at_the_epoch_it_chose(iris, solver):
    X, y = iris
    seen = []

    def stop_at_four(estimator, record):
        seen.append(record.epoch)
        return record.epoch == 4

    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = ScratchMLPClassifier(
            solver=solver, max_iter=100, callbacks=[stop_at_four], random_state=0
        ).fit(X, y)
    assert seen == [1, 2, 3, 4]
    assert len(clf.loss_curve_) == 4
    if solver != "lbfgs":
        assert clf.n_iter_ == 4


def test_records_carry_the_epoch(iris):
    X, y = iris
    history = History()
    clf = ScratchMLPClassifier(
        max_iter=6, early_stopping=True, n_iter_no_change=100, callbacks=[history]
    ).fit(X, y)
    records = history.records
    assert [r.epoch for r in records] == [1, 2, 3, 4, 5, 6]
    assert [r.loss for r in records] == clf.loss_curve_
    assert [r.validation_score for r in records] == clf.validation_scores_
    assert [r.validation_loss for r in records] == clf.validation_loss_curve_
    elapsed = [r.elapsed for r in records]
    assert elapsed == sorted(elapsed) and elapsed[0] > 0
    assert all(r.max_epochs == 6 for r in records)
    columns = history.as_dict()
    assert columns["epoch"] == [1, 2, 3, 4, 5, 6]
    # Without early stopping, no validation numbers.
    history = History()
    ScratchMLPClassifier(max_iter=2, callbacks=[history]).fit(X, y)
    assert history.records[0].validation_loss is None
    assert isinstance(history.records[0], EpochRecord)


def test_progress_bar_plain_display_to_a_stream(iris):
    X, y = iris
    stream = io.StringIO()
    ScratchMLPClassifier(
        max_iter=3, callbacks=[ProgressBar(file=stream, use_tqdm=False)]
    ).fit(X, y)
    out = stream.getvalue()
    assert "\repoch 1/3 loss=" in out and "\repoch 3/3 loss=" in out
    assert out.endswith("\n")


def test_progress_bar_line_ends_when_training_stops_early(iris):
    X, y = iris
    stream = io.StringIO()
    ended = []

    class Watcher:
        def __call__(self, estimator, record):
            return record.epoch == 2

        def on_train_end(self, estimator):
            ended.append(estimator.n_iter_)

    ScratchMLPClassifier(
        max_iter=50, callbacks=[ProgressBar(file=stream, use_tqdm=False), Watcher()]
    ).fit(X, y)
    assert stream.getvalue().endswith("\n") and "epoch 2/50" in stream.getvalue()
    assert ended == [2]


def test_progress_bar_with_tqdm(iris):
    pytest.importorskip("tqdm")
    X, y = iris
    stream = io.StringIO()
    ScratchMLPClassifier(
        max_iter=3, callbacks=[ProgressBar(file=stream, use_tqdm=True)]
    ).fit(X, y)
    out = stream.getvalue()
    assert "3/3" in out and "ScratchMLPClassifier" in out


def test_progress_bar_without_tqdm_says_how_to_get_it(monkeypatch, iris):
    X, y = iris
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    bar = ProgressBar(file=io.StringIO(), use_tqdm=True)
    with pytest.raises(ImportError, match="pip install tqdm"):
        ScratchMLPClassifier(max_iter=2, callbacks=[bar]).fit(X, y)
    # With the default, it falls back to the plain display.
    stream = io.StringIO()
    ScratchMLPClassifier(max_iter=2, callbacks=[ProgressBar(file=stream)]).fit(X, y)
    assert "epoch 2/2" in stream.getvalue()


def test_estimators_with_callbacks_clone_and_pickle(iris):
    X, y = iris
    clf = ScratchMLPClassifier(max_iter=2, callbacks=[ProgressBar(), History()])
    copy = clone(clf)
    assert isinstance(copy.callbacks[0], ProgressBar)
    copy.set_params(callbacks=[ProgressBar(file=io.StringIO())]).fit(X, y)
    restored = pickle.loads(pickle.dumps(copy))
    np.testing.assert_array_equal(restored.predict(X), copy.predict(X))


def test_callbacks_are_validated(iris):
    X, y = iris
    with pytest.raises(InvalidParameterError, match="'callbacks' parameter"):
        ScratchMLPClassifier(callbacks=print).fit(X, y)


def test_float32_lbfgs(iris):
    X, y = iris
    clf = ScratchMLPClassifier(solver="lbfgs", max_iter=50).fit(X.astype(np.float32), y)
    assert clf.coefs_[0].dtype == np.float32
    assert clf.score(X.astype(np.float32), y) > 0.95
