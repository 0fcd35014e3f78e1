"""``fastprop.Scaler`` and ``fit(scale=...)`` (``src/fastprop/scaling.py``).

The scaler maps training columns to [0, 1] or mean 0 / std 1 without
dividing by zero on constant columns; the network applies it in predict,
predict_proba, predict_classes, loss, gradients and later fits, so a scaled
network on raw X behaves exactly like an unscaled one on scaled X.
"""

import numpy as np
import pytest

import fastprop
from fastprop import Scaler


def data(n=40, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.random(n) * 1000 - 300, rng.random(n) * 1e-3, np.full(n, 7.0)])
    Y = (rng.random(n) > 0.5).astype(float)
    return X.astype(dtype), Y


@pytest.mark.parametrize("kind", ["minmax", "standard"])
def test_fit_and_transform(kind, dtype):
    X, _ = data(dtype=dtype)
    before = X.copy()
    scaler = Scaler.fit(X, kind)
    Z = scaler.transform(X)
    np.testing.assert_array_equal(X, before)
    assert Z.dtype == np.dtype(dtype) and Z.flags.c_contiguous
    assert scaler.shift.dtype == scaler.scale.dtype == np.float64
    tol = 1e-5 if dtype == np.float32 else 1e-12
    if kind == "minmax":
        np.testing.assert_allclose(Z[:, :2].min(axis=0), 0, atol=tol)
        np.testing.assert_allclose(Z[:, :2].max(axis=0), 1, atol=tol)
    else:
        np.testing.assert_allclose(Z[:, :2].mean(axis=0), 0, atol=tol)
        np.testing.assert_allclose(Z[:, :2].std(axis=0), 1, atol=10 * tol)
    # The constant column keeps scale 1 (no division by zero, no warning) and maps to 0.
    assert scaler.scale[2] == 1.0
    np.testing.assert_array_equal(Z[:, 2], 0)


def test_transform_overflowing_float32_is_an_error():
    scaler = Scaler("standard", [0.0], [1e-300])
    with pytest.raises(ValueError, match="scaled by the stored standard scaler leaves the float32"):
        scaler.transform(np.ones((2, 1), np.float32))
    with pytest.raises(ValueError, match="X must have 1 columns for this scaler; got shape"):
        scaler.transform(np.ones((2, 3)))


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        (("robust", [0.0], [1.0]), ValueError, "scale must be None or one of 'minmax', 'standard'"),
        ((None, [0.0], [1.0]), ValueError, "kind must be 'minmax' or 'standard'; got None"),
        (("minmax", [0.0, 1.0], [1.0]), ValueError, "same shape"),
        (("minmax", [0.0], [0.0]), ValueError, "scale must be > 0"),
        (("minmax", [np.nan], [1.0]), ValueError, "shift contains NaN"),
        (("minmax", [], []), ValueError, "non-empty 1-d"),
    ],
)
def test_scaler_arguments(args, error, match):
    with pytest.raises(error, match=match):
        Scaler(*args)


def test_equality_and_copy():
    s = Scaler.fit(data()[0], "minmax")
    c = s.copy()
    assert c == s and c is not s and c.shift is not s.shift
    assert c != Scaler.fit(data()[0], "standard")
    assert (s == 3) is False
    assert repr(s) == "Scaler('minmax', n_features=3)"


@pytest.mark.parametrize("kind", ["minmax", "standard"])
def test_network_applies_its_scaler_everywhere(kind, dtype):
    X, Y = data(dtype=dtype)
    net = fastprop.fit(X, Y, hidden=(4,), scale=kind, epochs=3, seed=0, classify=True)
    assert net.scaler == Scaler.fit(X, kind)
    plain = net.copy()
    plain.scaler = plain.classes = None
    Z = net.scaler.transform(X)
    np.testing.assert_array_equal(net.predict(X), plain.predict(Z))
    np.testing.assert_array_equal(net.predict_proba(X), plain.predict_proba(Z))
    np.testing.assert_array_equal(net.predict_classes(X), net.classes[plain.predict_classes(Z)])
    Y2 = Y.reshape(-1, 1)
    assert net.loss(X, Y2) == plain.loss(Z, Y2)
    loss, gW, gb = fastprop.gradients(net, X, Y2)
    loss_p, gW_p, gb_p = fastprop.gradients(plain, Z, Y2)
    assert loss == loss_p
    for a, b in zip(gW + gb, gW_p + gb_p, strict=True):
        np.testing.assert_array_equal(a, b)


def test_training_and_continuing_use_the_scaled_inputs():
    X, Y = data()
    net = fastprop.fit(X, Y, hidden=(4,), scale="standard", epochs=4, seed=0)
    Z = net.scaler.transform(X)
    ref = fastprop.fit(Z, Y, hidden=(4,), epochs=4, seed=0)
    assert net.history == ref.history
    np.testing.assert_array_equal(net.params, ref.params)
    scaler = net.scaler.copy()
    # Continuing reuses the stored scaler (not refitted on the new rows), given or not.
    fastprop.fit(X[:20] * 3, Y[:20], network=net, epochs=2, seed=1)
    fastprop.fit(X[:20] * 3, Y[:20], network=net, scale="standard", epochs=2, seed=2)
    fastprop.fit(scaler.transform(X[:20] * 3), Y[:20], network=ref, epochs=2, seed=1)
    fastprop.fit(scaler.transform(X[:20] * 3), Y[:20], network=ref, epochs=2, seed=2)
    assert net.scaler == scaler
    np.testing.assert_array_equal(net.params, ref.params)


def test_scaler_fitted_on_training_rows_only():
    X, Y = data()
    X_val = X[:5] * 100
    net = fastprop.fit(X, Y, hidden=(2,), scale="minmax", validation_data=(X_val, Y[:5]),
                       epochs=2, seed=0)
    assert net.scaler == Scaler.fit(X, "minmax")


def test_scale_arguments():
    X, Y = data()
    with pytest.raises(ValueError, match="scale must be None or one of 'minmax', 'standard'"):
        fastprop.fit(X, Y, scale="robust", epochs=1)
    with pytest.raises(ValueError, match="scale must be None or one of"):
        fastprop.fit(X, Y, scale=True, epochs=1)
    net = fastprop.fit(X, Y, hidden=(2,), epochs=1, seed=0)
    with pytest.raises(ValueError, match="scale='minmax' cannot be added to network="):
        fastprop.fit(X, Y, network=net, scale="minmax", epochs=1)
    assert net.scaler is None
    net = fastprop.fit(X, Y, hidden=(2,), epochs=1, seed=0, scale="minmax")
    with pytest.raises(ValueError, match="scale='standard' differs from network='s stored"):
        fastprop.fit(X, Y, network=net, scale="standard", epochs=1)
    assert net.scaler.kind == "minmax" and len(net.history) == 1
