"""Every user-facing error (``src/fastprop/validation.py`` and its callers).

Each bad argument must raise a ValueError or TypeError whose message names the
argument, before any compiled code runs: the ``no_compiled_code`` fixture
replaces the entry points into ``fastprop.kernels`` with a function that fails
the test if called. A network passed in must come out of a refused call
untouched.
"""

import warnings

import numpy as np
import pytest

import fastprop
from conftest import random_problem
from fastprop import Network

KERNEL_ENTRY_POINTS = (
    "run_epochs", "run_epochs_whole", "run_epochs_rows", "run_epochs_parallel", "run_epochs_tiny", "sgd_epoch",
    "run_epochs_sgd", "run_epochs_deferred", "sgd_epoch_deferred",
    "predict_into", "add_gradient",
)


class CompiledCodeRan(AssertionError):
    pass


@pytest.fixture
def no_compiled_code(monkeypatch):
    def refuse(*args, **kwargs):
        raise CompiledCodeRan("a kernel ran before the arguments were checked")

    for name in KERNEL_ENTRY_POINTS:
        monkeypatch.setattr(fastprop.kernels, name, refuse)


def problem():
    """6 samples, 3 features, 2 outputs in (0.1, 0.9)."""
    return random_problem(6, 3, 2)


def test_stub_really_blocks_the_kernels(no_compiled_code):
    """Guards every test below: with valid arguments the stub is reached."""
    X, Y = problem()
    for mode in ("sgd", "minibatch", "batch"):
        with pytest.raises(CompiledCodeRan):
            fastprop.fit(X, Y, (3,), mode=mode, epochs=1)
    net = Network((3, 2))
    with pytest.raises(CompiledCodeRan):
        net.predict(X)
    with pytest.raises(CompiledCodeRan):
        fastprop.gradients(net, X, Y)


# --- fit: data ------------------------------------------------------------------------------------


def _with(X=None, Y=None, transform=None):
    """Case builder: replace X and/or Y of the standard problem (transform gets (X, Y))."""
    return {"X": X, "Y": Y, "transform": transform}


def _nan_at(A, index, value=np.nan):
    A = A.copy()
    A[index] = value
    return A


# name: (data change, error, match)
DATA_ERRORS = {
    "row-count-mismatch": (
        _with(transform=lambda X, Y: (X, Y[:5])), ValueError,
        r"X and Y must have the same number of rows; got 6 and 5",
    ),
    "row-count-mismatch-1d-Y": (
        _with(transform=lambda X, Y: (X, Y[:4, 0])), ValueError, "same number of rows; got 6 and 4",
    ),
    "X-1d": (
        _with(transform=lambda X, Y: (X[:, 0], Y)), ValueError,
        r"X must be 2-d \(samples, features\); got shape \(6,\).*reshape\(-1, 1\)",
    ),
    "X-0d": (_with(X=np.float64(0.5)), ValueError, r"X must be 2-d .*got shape \(\)"),
    "X-3d": (
        _with(transform=lambda X, Y: (X[:, :, None], Y)), ValueError,
        r"X must be 2-d .*got shape \(6, 3, 1\)",
    ),
    "Y-0d": (_with(Y=0.5), ValueError, r"Y must be 1-d or 2-d .*got shape \(\)"),
    "Y-3d": (
        _with(transform=lambda X, Y: (X, Y[:, :, None])), ValueError,
        r"Y must be 1-d or 2-d .*got shape \(6, 2, 1\)",
    ),
    "X-no-rows": (
        _with(X=np.empty((0, 3)), Y=np.empty((0, 2))), ValueError, r"X is empty: shape \(0, 3\)",
    ),
    "X-no-columns": (_with(X=np.empty((6, 0))), ValueError, r"X is empty: shape \(6, 0\)"),
    "X-empty-nested-list": (_with(X=[[]]), ValueError, r"X is empty"),
    "Y-no-columns": (_with(Y=np.empty((6, 0))), ValueError, r"Y is empty: shape \(6, 0\)"),
    "Y-empty-list": (_with(Y=[]), ValueError, r"Y is empty"),
    "X-nan": (
        _with(transform=lambda X, Y: (_nan_at(X, (2, 1)), Y)), ValueError,
        r"X contains NaN or inf \(first at index \(2, 1\)\)",
    ),
    "X-inf": (
        _with(transform=lambda X, Y: (_nan_at(X, (0, 0), np.inf), Y)), ValueError,
        r"X contains NaN or inf",
    ),
    "X-minus-inf-in-list": (
        _with(transform=lambda X, Y: (_nan_at(X, (5, 2), -np.inf).tolist(), Y)), ValueError,
        r"X contains NaN or inf \(first at index \(5, 2\)\)",
    ),
    "Y-nan": (
        _with(transform=lambda X, Y: (X, _nan_at(Y, (4, 1)))), ValueError,
        r"Y contains NaN or inf \(first at index \(4, 1\)\)",
    ),
    "Y-inf-1d": (
        _with(transform=lambda X, Y: (X, _nan_at(Y[:, 0], 3, np.inf))), ValueError,
        r"Y contains NaN or inf",
    ),
    "X-strings": (
        _with(transform=lambda X, Y: (X.astype(str), Y)), TypeError,
        r"X must hold numbers \(bool, int or float\); got dtype <U",
    ),
    "X-string-scalar": (_with(X="abc"), TypeError, "X must hold numbers"),
    "X-object-dtype": (
        _with(transform=lambda X, Y: (X.astype(object), Y)), TypeError,
        "X must hold numbers.*got dtype object",
    ),
    "X-complex": (
        _with(transform=lambda X, Y: (X + 0j, Y)), TypeError, "X must hold numbers.*complex128",
    ),
    "X-datetime": (
        _with(X=np.full((6, 3), np.datetime64("2024-01-01"))), TypeError, "X must hold numbers",
    ),
    "Y-strings": (
        _with(transform=lambda X, Y: (X, Y.astype(str))), TypeError, "Y must hold numbers",
    ),
    "X-ragged-list": (
        _with(X=[[0.1, 0.2, 0.3]] * 5 + [[0.1, 0.2]]), ValueError,
        "X must be a rectangular numeric array",
    ),
    "Y-ragged-list": (
        _with(Y=[[0.1, 0.2]] * 5 + [[0.1]]), ValueError, "Y must be a rectangular numeric array",
    ),
}


def apply(change):
    X, Y = problem()
    if change["transform"] is not None:
        X, Y = change["transform"](X, Y)
    if change["X"] is not None:
        X = change["X"]
    if change["Y"] is not None:
        Y = change["Y"]
    return X, Y


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [pytest.param(*case, id=name) for name, case in DATA_ERRORS.items()],
)
def test_fit_rejects_bad_data(change, error, match, no_compiled_code):
    X, Y = apply(change)
    with pytest.raises(error, match=match):
        fastprop.fit(X, Y, (3,), epochs=1)


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [pytest.param(*case, id=name) for name, case in DATA_ERRORS.items()],
)
def test_fit_with_network_rejects_bad_data_and_keeps_it(change, error, match, no_compiled_code):
    X, Y = apply(change)
    net = Network((3, 3, 2), seed=0)
    params = net.params.copy()
    with pytest.raises(error, match=match):
        fastprop.fit(X, Y, network=net, epochs=1)
    np.testing.assert_array_equal(net.params, params)
    assert net.history == []


@pytest.mark.parametrize(
    "Y_factor", [pytest.param(2.0, id="above-1"), pytest.param(-1.0, id="negative")]
)
def test_bce_targets_outside_unit_interval(Y_factor, no_compiled_code):
    X, Y = problem()
    with pytest.raises(ValueError, match=r"Y must lie in \[0, 1\] for loss='bce'; got values in"):
        fastprop.fit(X, Y * Y_factor, (3,), loss="bce", epochs=1)


# --- fit: options and numbers -------------------------------------------------------------------

# name: (keyword arguments, error, match)
ARGUMENT_ERRORS = {
    "lr-zero": ({"lr": 0}, ValueError, r"lr must be a finite number > 0; got 0"),
    "lr-negative": ({"lr": -0.1}, ValueError, r"lr must be a finite number > 0; got -0.1"),
    "lr-nan": ({"lr": float("nan")}, ValueError, "lr must be a finite number > 0; got nan"),
    "lr-inf": ({"lr": float("inf")}, ValueError, "lr must be a finite number > 0; got inf"),
    "lr-string": ({"lr": "0.1"}, TypeError, "lr must be a real number; got str '0.1'"),
    "lr-bool": ({"lr": True}, TypeError, "lr must be a real number; got bool True"),
    "lr-none": ({"lr": None}, TypeError, "lr must be a real number"),
    "lr-complex": ({"lr": 0.1j}, TypeError, "lr must be a real number"),
    "epochs-zero": ({"epochs": 0}, ValueError, "epochs must be >= 1; got 0"),
    "epochs-negative": ({"epochs": -3}, ValueError, "epochs must be >= 1; got -3"),
    "epochs-bool": ({"epochs": True}, TypeError, "epochs must be an integer; got bool True"),
    "epochs-float": ({"epochs": 2.0}, TypeError, "epochs must be an integer; got float 2.0"),
    "epochs-string": ({"epochs": "3"}, TypeError, "epochs must be an integer"),
    "epochs-none": ({"epochs": None}, TypeError, "epochs must be an integer"),
    "batch-size-zero": ({"batch_size": 0}, ValueError, "batch_size must be >= 1; got 0"),
    "batch-size-negative": ({"batch_size": -1}, ValueError, "batch_size must be >= 1"),
    "batch-size-bool": ({"batch_size": False}, TypeError, "batch_size must be an integer"),
    "batch-size-float": ({"batch_size": 1.5}, TypeError, "batch_size must be an integer"),
    "mode-unknown": (
        {"mode": "full"}, ValueError, "mode must be one of 'sgd', 'minibatch', 'batch'; got 'full'"
    ),
    "mode-wrong-case": ({"mode": "SGD"}, ValueError, "mode must be one of .*got 'SGD'"),
    "mode-none": ({"mode": None}, ValueError, "mode must be one of .*got None"),
    "loss-unknown": ({"loss": "mae"}, ValueError, "loss must be one of 'mse', 'bce'; got 'mae'"),
    "reduction-unknown": (
        {"reduction": "avg"}, ValueError, "reduction must be one of 'mean', 'sum'; got 'avg'"
    ),
    "init-unknown": (
        {"init": "he"}, ValueError, "init must be one of 'xavier', 'uniform'; got 'he'"
    ),
    "tol-negative": ({"tol": -1e-3}, ValueError, "tol must be a finite number >= 0 or None"),
    "tol-nan": ({"tol": float("nan")}, ValueError, "tol must be a finite number >= 0"),
    "tol-string": ({"tol": "0.1"}, TypeError, "tol must be a real number or None"),
    "tol-bool": ({"tol": True}, TypeError, "tol must be a real number or None"),
    "seed-negative": ({"seed": -1}, ValueError, "seed must be None or a non-negative"),
    "seed-float": ({"seed": 1.5}, TypeError, "seed must be None or a non-negative integer"),
    "seed-string": ({"seed": "1"}, TypeError, "seed must be None or a non-negative integer"),
    "seed-bool": ({"seed": True}, TypeError, "seed must be None or a non-negative integer"),
    "shuffle-string": ({"shuffle": "yes"}, TypeError, "shuffle must be True or False; got 'yes'"),
    "shuffle-none": ({"shuffle": None}, TypeError, "shuffle must be True or False"),
    "hidden-zero-width": ({"hidden": (0,)}, ValueError, r"hidden layer widths must be >= 1"),
    "hidden-zero-width-deep": (
        {"hidden": (3, 0, 2)}, ValueError, r"hidden layer widths must be >= 1; got \(3, 0, 2\)"
    ),
    "hidden-zero-int": ({"hidden": 0}, ValueError, r"hidden layer widths must be >= 1"),
    "hidden-negative": ({"hidden": [-2]}, ValueError, r"hidden layer widths must be >= 1"),
    "hidden-float": ({"hidden": (2.5,)}, TypeError, r"hidden must hold integer widths; got 2.5"),
    "hidden-bool": ({"hidden": (True,)}, TypeError, r"hidden must hold integer widths"),
    "hidden-string": ({"hidden": "abc"}, TypeError, r"hidden must hold integer widths"),
    "hidden-none": ({"hidden": None}, TypeError, r"hidden must be a sequence of layer widths"),
    "dtype-float16": (
        {"dtype": "float16"}, TypeError, "dtype must be float32 or float64; got float16"
    ),
    "dtype-np-float16": ({"dtype": np.float16}, TypeError, "dtype must be float32 or float64"),
    "dtype-int": ({"dtype": np.int32}, TypeError, "dtype must be float32 or float64"),
    "dtype-complex": ({"dtype": "complex128"}, TypeError, "dtype must be float32 or float64"),
    "dtype-nonsense": ({"dtype": "nonsense"}, TypeError, "dtype must be float32 or float64"),
    "network-not-a-network": (
        {"network": "net"}, TypeError, "network must be a fastprop.Network; got str"
    ),
    "network-list-of-arrays": (
        {"network": [np.ones((3, 2))]}, TypeError, "network must be a fastprop.Network; got list"
    ),
}


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [pytest.param(*case, id=name) for name, case in ARGUMENT_ERRORS.items()],
)
def test_fit_rejects_bad_arguments(kwargs, error, match, no_compiled_code):
    X, Y = problem()
    kwargs = {"epochs": 1, **kwargs}
    with pytest.raises(error, match=match):
        fastprop.fit(X, Y, **kwargs)


@pytest.mark.parametrize("mode", ["sgd", "minibatch", "batch"])
def test_every_mode_checks_batch_size(mode, no_compiled_code):
    """batch_size is checked even where it is unused, so a typo never waits for a mode switch."""
    X, Y = problem()
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        fastprop.fit(X, Y, (3,), mode=mode, batch_size=0)


# --- fit: network= that does not fit --------------------------------------------------------------

# name: (network layer sizes, network dtype, extra keyword arguments, error, match)
NETWORK_ERRORS = {
    "too-few-inputs": (
        (4, 3, 2), np.float64, {}, ValueError, "network= takes 4 inputs but X has 3 features"
    ),
    "too-many-outputs": (
        (3, 3, 1), np.float64, {}, ValueError, "network= has 1 outputs but Y has 2 columns"
    ),
    "hidden-differs": (
        (3, 3, 2), np.float64, {"hidden": (5,)}, ValueError,
        r"hidden=\(5,\) differs from the hidden layers \(3,\) of network=",
    ),
    "hidden-equal-to-default-differs": (
        (3, 3, 2), np.float64, {"hidden": (32,)}, ValueError,
        r"hidden=\(32,\) differs from the hidden layers \(3,\) of network=",
    ),
    "hidden-empty-differs": (
        (3, 3, 2), np.float64, {"hidden": ()}, ValueError, r"hidden=\(\) differs",
    ),
    "hidden-given-to-no-hidden-network": (
        (3, 2), np.float64, {"hidden": 4}, ValueError,
        r"hidden=\(4,\) differs from the hidden layers \(\) of network=",
    ),
    "dtype-differs": (
        (3, 3, 2), np.float64, {"dtype": np.float32}, ValueError,
        "dtype=float32 differs from the network's float64",
    ),
    "dtype-differs-float32-network": (
        (3, 3, 2), np.float32, {"dtype": "float64"}, ValueError,
        "dtype=float64 differs from the network's float32",
    ),
    "dtype-invalid-with-network": (
        (3, 3, 2), np.float64, {"dtype": "float16"}, TypeError, "dtype must be float32 or float64",
    ),
    "bce-targets-with-network": (
        (3, 3, 2), np.float64, {"loss": "bce", "Y_factor": 1.5}, ValueError,
        r"Y must lie in \[0, 1\] for loss='bce'",
    ),
}


@pytest.mark.parametrize(
    ("sizes", "net_dtype", "kwargs", "error", "match"),
    [pytest.param(*case, id=name) for name, case in NETWORK_ERRORS.items()],
)
def test_fit_rejects_network_that_does_not_fit(
    sizes, net_dtype, kwargs, error, match, no_compiled_code
):
    X, Y = problem()
    kwargs = dict(kwargs)
    Y = Y * kwargs.pop("Y_factor", 1.0)
    net = Network(sizes, seed=0, dtype=net_dtype)
    params = net.params.copy()
    net.history.append(0.25)
    with pytest.raises(error, match=match):
        fastprop.fit(X, Y, network=net, epochs=1, **kwargs)
    np.testing.assert_array_equal(net.params, params)
    assert net.history == [0.25]


# --- Network, predict, loss, gradients ----------------------------------------------------------

# name: (layer_sizes, keyword arguments, error, match)
NETWORK_CONSTRUCTION_ERRORS = {
    "zero-width-hidden": ((3, 0, 1), {}, ValueError, r"layer_sizes must all be >= 1"),
    "zero-inputs": ((0, 1), {}, ValueError, r"layer_sizes must all be >= 1"),
    "negative-width": ((3, -1, 1), {}, ValueError, r"layer_sizes must all be >= 1"),
    "one-size": ((3,), {}, ValueError, r"layer_sizes needs an input and an output size"),
    "no-sizes": ((), {}, ValueError, r"layer_sizes needs an input and an output size"),
    "float-size": ((3, 2.5), {}, TypeError, r"layer_sizes must hold integers; got 2.5"),
    "bool-size": ((3, True), {}, TypeError, r"layer_sizes must hold integers"),
    "not-a-sequence": (5, {}, TypeError, r"layer_sizes must be a sequence of integers"),
    "init-unknown": ((3, 1), {"init": "he"}, ValueError, "init must be one of"),
    "dtype-float16": ((3, 1), {"dtype": "float16"}, TypeError, "dtype must be float32 or float64"),
    "dtype-int": ((3, 1), {"dtype": int}, TypeError, "dtype must be float32 or float64"),
    "seed-string": ((3, 1), {"seed": "a"}, TypeError, "seed must be None or a non-negative"),
}


@pytest.mark.parametrize(
    ("sizes", "kwargs", "error", "match"),
    [pytest.param(*case, id=name) for name, case in NETWORK_CONSTRUCTION_ERRORS.items()],
)
def test_network_rejects_bad_construction(sizes, kwargs, error, match):
    with pytest.raises(error, match=match):
        Network(sizes, **kwargs)


# name: (X, error, match); the network is 3-2
PREDICT_ERRORS = {
    "too-many-features": (np.ones((5, 4)), ValueError, "X has 4 features but the network takes 3"),
    "too-few-features": (np.ones((5, 1)), ValueError, "X has 1 features but the network takes 3"),
    "1d": (np.ones(3), ValueError, r"X must be 2-d .*reshape\(-1, 1\)"),
    "3d": (np.ones((2, 3, 1)), ValueError, "X must be 2-d"),
    "no-rows": (np.ones((0, 3)), ValueError, "X is empty"),
    "nan": (np.array([[0.1, np.nan, 0.2]]), ValueError, "X contains NaN or inf"),
    "strings": (np.array([["a", "b", "c"]]), TypeError, "X must hold numbers"),
    "ragged": ([[1.0, 2.0, 3.0], [1.0]], ValueError, "X must be a rectangular numeric array"),
}


@pytest.mark.parametrize(
    ("X", "error", "match"),
    [pytest.param(*case, id=name) for name, case in PREDICT_ERRORS.items()],
)
def test_predict_rejects_bad_X(X, error, match, no_compiled_code):
    with pytest.raises(error, match=match):
        Network((3, 2), seed=0).predict(X)


# name: (change of (X, Y), keyword arguments, error, match); the network is 3-3-2
LOSS_ERRORS = {
    "loss-unknown": (None, {"loss": "mae"}, ValueError, "loss must be one of 'mse', 'bce'"),
    "reduction-unknown": (None, {"reduction": "none"}, ValueError, "reduction must be one of"),
    "rows-mismatch": (
        lambda X, Y: (X, Y[:3]), {}, ValueError, "same number of rows; got 6 and 3"
    ),
    "Y-wrong-columns": (
        lambda X, Y: (X, np.ones((6, 3)) / 2), {}, ValueError,
        "Y has 3 columns but the network has 2 outputs",
    ),
    "Y-1d-for-two-outputs": (
        lambda X, Y: (X, Y[:, 0]), {}, ValueError, "Y has 1 columns but the network has 2 outputs"
    ),
    "X-wrong-features": (
        lambda X, Y: (X[:, :2], Y), {}, ValueError, "X has 2 features but the network takes 3"
    ),
    "Y-nan": (lambda X, Y: (X, _nan_at(Y, (1, 1))), {}, ValueError, "Y contains NaN or inf"),
    "Y-3d": (lambda X, Y: (X, Y[:, :, None]), {}, ValueError, "Y must be 1-d or 2-d"),
    "Y-strings": (lambda X, Y: (X, Y.astype(str)), {}, TypeError, "Y must hold numbers"),
}


@pytest.mark.parametrize("method", ["loss", "gradients"])
@pytest.mark.parametrize(
    ("change", "kwargs", "error", "match"),
    [pytest.param(*case, id=name) for name, case in LOSS_ERRORS.items()],
)
def test_loss_and_gradients_reject_bad_arguments(
    change, kwargs, error, match, method, no_compiled_code
):
    X, Y = problem()
    if change is not None:
        X, Y = change(X, Y)
    net = Network((3, 3, 2), seed=0)
    call = net.loss if method == "loss" else lambda X, Y, **kw: fastprop.gradients(net, X, Y, **kw)
    with pytest.raises(error, match=match):
        call(X, Y, **kwargs)


@pytest.mark.parametrize("network", ["net", None, [np.ones((3, 2))]], ids=["str", "none", "list"])
def test_gradients_needs_a_network(network, no_compiled_code):
    X, Y = problem()
    with pytest.raises(TypeError, match="network must be a fastprop.Network"):
        fastprop.gradients(network, X, Y)


# --- warnings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("Y_factor", "Y_shift"),
    [pytest.param(2.0, 0.0, id="above-1"), pytest.param(1.0, -0.5, id="negative")],
)
def test_mse_targets_outside_unit_interval_warn_and_train(Y_factor, Y_shift):
    X, Y = problem()
    Y = Y * Y_factor + Y_shift
    with pytest.warns(UserWarning, match=r"Y has values in \[.*\] but a sigmoid output lies in "
                      r"\(0, 1\).*scale Y into \[0, 1\]") as record:
        net = fastprop.fit(X, Y, (3,), epochs=2, seed=0)
    assert len(record) == 1
    # stacklevel points at the caller's line, not at fastprop's internals.
    assert record[0].filename == __file__
    assert len(net.history) == 2
    assert np.isfinite(net.params).all()


def test_unit_interval_boundaries_do_not_warn():
    X, _ = problem()
    Y = np.array([[0.0, 1.0]] * 3 + [[1.0, 0.0]] * 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fastprop.fit(X, Y, (3,), epochs=1, seed=0)
        fastprop.fit(X, Y, (3,), epochs=1, seed=0, loss="bce")
        fastprop.fit(X, Y.astype(bool), (3,), epochs=1, seed=0, loss="bce")


def test_float32_overflow_of_lr_is_named(no_compiled_code):
    X, Y = problem()
    with pytest.raises(ValueError, match="lr=1e\\+100 overflows float32"):
        fastprop.fit(X, Y, (3,), epochs=1, lr=1e100, dtype=np.float32)


def test_float32_overflow_of_finite_X_is_named(no_compiled_code):
    X, Y = problem()
    X = X.copy()
    X[0, 0] = 1e39
    with pytest.raises(ValueError, match="X has values beyond the float32 range"):
        fastprop.fit(X, Y, (3,), epochs=1, dtype=np.float32)
