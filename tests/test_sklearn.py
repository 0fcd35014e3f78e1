"""``fastprop.sklearn``: scikit-learn's own estimator checks, then what users do with the
estimators: pipelines, grid search in two processes, cross-validation, pickling, online
learning, warm starts, early stopping, and the errors of each parameter.
"""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris, make_regression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import fastprop
from fastprop.sklearn import FastpropClassifier, FastpropRegressor

# --- scikit-learn's check suite -------------------------------------------------------
# Every check passes with the default parameters, so none is marked as expected to fail.


@parametrize_with_checks([FastpropClassifier(), FastpropRegressor()])
def test_sklearn_check(estimator, check, monkeypatch):
    # The array API check skips itself unless SCIPY_ARRAY_API is set; with
    # NumPy inputs it only reads the variable when it runs.
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")
    check(estimator)


# --- data ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def regression():
    """Targets far outside (0, 1): 1000 plus a linear signal with a spread of hundreds."""
    X, y = make_regression(n_samples=120, n_features=4, noise=1.0, random_state=0)
    return StandardScaler().fit_transform(X), 1000 + 3 * y


# --- classifier ----------------------------------------------------------------------


def test_classifier_fitted_attributes(iris):
    X, y = iris
    clf = FastpropClassifier(hidden=(8,), epochs=40, random_state=0).fit(X, y)
    assert clf.classes_.tolist() == [0, 1, 2]
    assert clf.n_features_in_ == 4 and clf.n_outputs_ == 3
    assert [W.shape for W in clf.coefs_] == [(4, 8), (8, 3)]
    assert [b.shape for b in clf.intercepts_] == [(8,), (3,)]
    assert clf.n_iter_ == 40 and len(clf.loss_curve_) == 40
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]
    assert isinstance(clf.network_, fastprop.Network)
    # coefs_ are the network's own weights, not copies.
    np.testing.assert_array_equal(clf.coefs_[0], clf.network_.weights[0])
    assert np.shares_memory(clf.coefs_[0], clf.network_.params)
    proba = clf.predict_proba(X)
    assert proba.shape == (150, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])
    assert clf.score(X, y) > 0.9


def test_classifier_string_labels_and_binary(iris):
    X, y = iris
    keep = y > 0
    names = np.array(["setosa", "versicolor", "virginica"])[y[keep]]
    clf = FastpropClassifier(hidden=(8,), epochs=60, random_state=0).fit(X[keep], names)
    assert clf.classes_.tolist() == ["versicolor", "virginica"]
    assert clf.network_.n_outputs == 1  # two classes: one unit, p(classes_[1])
    p = clf.network_.predict(X[keep])[:, 0]
    np.testing.assert_allclose(clf.predict_proba(X[keep]), np.column_stack([1 - p, p]))
    assert set(clf.predict(X[keep])) <= {"versicolor", "virginica"}
    assert clf.score(X[keep], names) > 0.85


def test_classifier_partial_fit_learns_online(iris):
    X, y = iris
    rng = np.random.default_rng(0)
    clf = FastpropClassifier(hidden=(8,), random_state=0)
    for step in range(30):
        rows = rng.choice(150, size=30, replace=False)
        clf.partial_fit(X[rows], y[rows], classes=[0, 1, 2] if step == 0 else None)
    assert clf.n_iter_ == 30 and len(clf.loss_curve_) == 30
    assert clf.score(X, y) > 0.8
    # A batch holding only some of the classes is fine once classes_ is known.
    clf.partial_fit(X[y == 2], y[y == 2])
    assert clf.n_iter_ == 31


def test_classifier_partial_fit_errors(iris):
    X, y = iris
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        FastpropClassifier().partial_fit(X, y)
    clf = FastpropClassifier(hidden=(4,)).partial_fit(X, y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match=r"classes=\[0, 1\] differs from the classes"):
        clf.partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match=r"y has labels \[7\] that are not among the classes"):
        clf.partial_fit(X[:2], [0, 7])
    with pytest.raises(ValueError, match=r"y has labels \['a'\] that are not among"):
        clf.partial_fit(X[:2], ["a", "a"])
    with pytest.raises(ValueError, match="X has 3 features, but FastpropClassifier is expecting 4"):
        clf.partial_fit(X[:, :3], y)
    with pytest.raises(ValueError, match="needs at least 2 classes; got only one class, 1"):
        FastpropClassifier().partial_fit(X[:3], [1, 1, 1], classes=[1])


def test_classifier_one_class_is_an_error(iris):
    X, _ = iris
    with pytest.raises(ValueError, match="needs at least 2 classes; got only one class, 3"):
        FastpropClassifier().fit(X[:5], [3] * 5)


def test_classifier_warm_start_continues(iris):
    X, y = iris
    clf = FastpropClassifier(hidden=(8,), epochs=10, warm_start=True, random_state=0).fit(X, y)
    first = clf.network_
    clf.fit(X, y)
    assert clf.network_ is first and clf.n_iter_ == 20
    # Without warm_start, fit starts again from new weights.
    clf.set_params(warm_start=False).fit(X, y)
    assert clf.network_ is not first and clf.n_iter_ == 10
    clf.set_params(warm_start=True)
    with pytest.raises(ValueError, match=r"y has labels \[5\] that are not among the classes"):
        clf.fit(X, np.where(y == 2, 5, y))


def test_early_stopping_keeps_the_best_epoch(iris):
    X, y = iris
    clf = FastpropClassifier(
        hidden=(8,), epochs=500, early_stopping=True, validation_fraction=0.2,
        n_iter_no_change=5, random_state=0,
    ).fit(X, y)
    curve = clf.validation_loss_curve_
    assert clf.n_iter_ < 500 and len(curve) == len(clf.loss_curve_) == clf.n_iter_
    # Stopped after 5 epochs without a lower validation loss.
    assert int(np.argmin(curve)) == clf.n_iter_ - 6
    # partial_fit has no held-out rows: it trains one epoch on what it is given.
    clf.partial_fit(X, y)
    assert clf.n_iter_ == len(curve) + 1
    # A new fit without early stopping leaves no validation curve behind.
    clf.set_params(early_stopping=False, epochs=3).fit(X, y)
    assert not hasattr(clf, "validation_loss_curve_")


def test_scale_standardises_raw_inputs():
    X, y = load_iris(return_X_y=True)
    clf = FastpropClassifier(hidden=(8,), epochs=100, scale="standard", random_state=0)
    clf.fit(X, y)
    scaler = clf.network_.scaler
    assert scaler is not None and clf.score(X, y) > 0.9
    clf.partial_fit(X, y)  # continuing keeps the scaler fitted by fit
    assert clf.network_.scaler is scaler
    with pytest.raises(ValueError, match="scale must be None or one of"):
        FastpropClassifier(scale="log").fit(X, y)


# --- regressor -----------------------------------------------------------------------


def test_regressor_learns_targets_outside_the_unit_interval(regression):
    X, y = regression
    reg = FastpropRegressor(hidden=(16,), epochs=300, random_state=0).fit(X, y)
    # The map sends the training minimum to 0.1 and the maximum to 0.9.
    np.testing.assert_allclose(y.min() * reg.y_scale_ + reg.y_offset_, [0.1])
    np.testing.assert_allclose(y.max() * reg.y_scale_ + reg.y_offset_, [0.9])
    pred = reg.predict(X)
    assert pred.shape == (120,) and pred.dtype == np.float64
    assert reg.score(X, y) > 0.9
    # predict inverts the map applied for training.
    out = reg.network_.predict(X)[:, 0]
    np.testing.assert_allclose(pred, (out - reg.y_offset_[0]) / reg.y_scale_[0])


def test_regressor_multioutput_and_constant_column(regression):
    X, y = regression
    Y = np.column_stack([y, -y / 100, np.full_like(y, 7.0)])
    reg = FastpropRegressor(hidden=(16,), epochs=200, random_state=0).fit(X, Y)
    pred = reg.predict(X)
    assert pred.shape == (120, 3) and reg.n_outputs_ == 3
    # A constant target maps to the middle of the sigmoid's range and back.
    np.testing.assert_allclose(7.0 * reg.y_scale_[2] + reg.y_offset_[2], 0.5)
    assert np.abs(pred[:, 2] - 7.0).max() < 0.1
    assert reg.score(X, Y) > 0.6
    # A 2-d y of one column predicts 2-d.
    assert FastpropRegressor(epochs=2).fit(X, y[:, None]).predict(X).shape == (120, 1)


def test_regressor_partial_fit_and_out_of_range_targets(regression):
    X, y = regression
    reg = FastpropRegressor(hidden=(16,), random_state=0)
    for _ in range(60):
        reg.partial_fit(X, y)
    assert reg.n_iter_ == 60 and reg.score(X, y) > 0.5
    with pytest.warns(UserWarning, match="beyond the range the target map was fitted on"):
        reg.partial_fit(X[:4], y[:4] + 10 * (y.max() - y.min()))
    with pytest.raises(ValueError, match="y has 2 columns but the regressor was fitted with 1"):
        reg.partial_fit(X, np.column_stack([y, y]))


# --- with scikit-learn's tools ------------------------------------------------------


def test_pipeline_and_cross_val_score():
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(
        StandardScaler(), FastpropClassifier(hidden=(8,), epochs=60, random_state=0)
    )
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.8


def test_grid_search_in_two_processes(regression):
    X, y = regression
    search = GridSearchCV(
        FastpropRegressor(hidden=(8,), epochs=50, random_state=0, threads=1),
        {"lr": [0.5, 2.0], "mode": ["minibatch", "batch"]},
        cv=2,
        n_jobs=2,
    )
    search.fit(X, y)
    assert len(search.cv_results_["params"]) == 4
    assert search.best_params_ == {"lr": 2.0, "mode": "minibatch"}
    assert search.best_estimator_.score(X, y) > 0.8


@pytest.mark.parametrize("cls", [FastpropClassifier, FastpropRegressor])
def test_pickle_round_trip_keeps_training(cls, iris):
    X, y = iris
    est = cls(hidden=(8,), epochs=20, random_state=0).fit(X, y)
    copy = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(copy.predict(X), est.predict(X))
    assert copy.loss_curve_ == est.loss_curve_
    # The unpickled estimator trains on: its coefs_ still are the network's weights.
    before = [W.copy() for W in copy.coefs_]
    copy.partial_fit(X, y)
    assert copy.n_iter_ == 21
    assert not np.array_equal(copy.coefs_[0], before[0])
    assert np.shares_memory(copy.coefs_[0], copy.network_.params)


def test_dataframe_feature_names(iris):
    X, y = iris
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    clf = FastpropClassifier(hidden=(4,), epochs=5, random_state=0).fit(frame, y)
    assert clf.feature_names_in_.tolist() == ["a", "b", "c", "d"]
    np.testing.assert_array_equal(clf.predict(frame), clf.network_.predict(X).argmax(axis=1))
    with pytest.raises(ValueError, match="The feature names should match"):
        clf.predict(frame.rename(columns={"a": "z"}))


# --- parameters ------------------------------------------------------------------------


def test_same_random_state_same_model(iris):
    X, y = iris
    a = FastpropClassifier(hidden=(6,), epochs=5, random_state=3).fit(X, y)
    b = FastpropClassifier(hidden=(6,), epochs=5, random_state=3).fit(X, y)
    np.testing.assert_array_equal(a.network_.params, b.network_.params)
    c = FastpropClassifier(hidden=(6,), epochs=5, random_state=np.random.RandomState(3))
    assert c.fit(X, y).n_iter_ == 5


def test_float32_data_trains_in_float32(iris):
    X, y = iris
    clf = FastpropClassifier(hidden=(4,), epochs=3, random_state=0).fit(X.astype(np.float32), y)
    assert clf.network_.dtype == np.float32
    clf = FastpropClassifier(hidden=(4,), epochs=3, dtype=np.float32).fit(X, y)
    assert clf.network_.dtype == np.float32 and clf.predict_proba(X).dtype == np.float32


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"random_state": -1}, ValueError, "random_state must be None, an int >= 0"),
        ({"random_state": "x"}, ValueError, "random_state must be None, an int >= 0"),
        ({"shuffle": 1}, TypeError, "shuffle must be True or False"),
        ({"warm_start": "yes"}, TypeError, "warm_start must be True or False"),
        ({"early_stopping": None}, TypeError, "early_stopping must be True or False"),
        ({"early_stopping": True, "validation_fraction": 1.0}, ValueError,
         r"validation_fraction must be a number in \(0, 1\)"),
        ({"early_stopping": True, "n_iter_no_change": 2.5}, TypeError,
         "n_iter_no_change must be an integer"),
        ({"early_stopping": True, "n_iter_no_change": 0}, ValueError,
         "n_iter_no_change must be >= 1"),
        # The parameters fastprop.fit shares are checked there, under the same names.
        ({"mode": "full"}, ValueError, "mode must be one of"),
        ({"lr": -1.0}, ValueError, "lr must be a finite number > 0"),
        ({"epochs": 0}, ValueError, "epochs must be >= 1"),
        ({"hidden": (0,)}, ValueError, "hidden layer widths must be >= 1"),
        ({"loss": "hinge"}, ValueError, "loss must be one of"),
        ({"dtype": np.int32}, TypeError, "dtype must be float32 or float64"),
        ({"threads": 0}, ValueError, "threads must be between 1 and"),
    ],
)
def test_bad_parameters_are_named(params, error, match, iris):
    X, y = iris
    with pytest.raises(error, match=match):
        FastpropClassifier(**params).fit(X, y)
