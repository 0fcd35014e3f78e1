"""``kernels.expf``: the float32 e^x the sigmoid uses, against float64 NumPy."""

import numpy as np
import pytest
from numba import njit

from fastprop.kernels.config import FASTMATH
from fastprop.kernels.expf import X_MIN, exp_nonpositive, expf_nonpositive
from fastprop.kernels.scalar import sigmoid
from fastprop.reference import sigmoid as reference_sigmoid


@njit
def exp_all(x, out):
    for i in range(x.shape[0]):
        out[i] = exp_nonpositive(x[i])


@njit
def sigmoid_all(z, out):
    one = z.dtype.type(1)
    for i in range(z.shape[0]):
        out[i] = sigmoid(z[i], one)


def ulps(a, exact):
    """|a - exact| in units of the last place of float32 at ``exact``."""
    return np.abs(a.astype(np.float64) - exact) / np.spacing(exact.astype(np.float32)).astype(
        np.float64)


def test_expf_is_within_two_ulp_down_to_the_smallest_normal():
    x = -np.linspace(0, -X_MIN, 2_000_001).astype(np.float32)
    out = np.empty_like(x)
    exp_all(x, out)
    assert out.dtype == np.float32
    assert ulps(out, np.exp(x.astype(np.float64))).max() <= 2


def test_expf_edges():
    x = np.array([0.0, -0.0, -1e-30, X_MIN, -87.5, -100.0, -1e30, -np.inf, np.nan],
                 dtype=np.float32)
    out = np.empty_like(x)
    exp_all(x, out)
    assert out[0] == out[1] == out[2] == 1.0
    assert 0 < out[3] < 1.2e-38
    assert (out[4:8] == 0).all()
    assert np.isnan(out[8])


def test_the_python_twin_computes_the_same_values():
    x = -np.linspace(0, 90, 9001).astype(np.float32)
    out = np.empty_like(x)
    exp_all(x, out)
    twin = njit(fastmath=FASTMATH)(expf_nonpositive)  # compiled on its own, same flags
    np.testing.assert_array_equal(out, [twin(v) for v in x])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_stays_within_float32_tolerance_of_the_reference(dtype):
    z = np.linspace(-60, 60, 120_001).astype(dtype)
    out = np.empty_like(z)
    sigmoid_all(z, out)
    ref = reference_sigmoid(z.astype(np.float64))
    tol = 4 * np.finfo(dtype).eps
    np.testing.assert_allclose(out, ref, rtol=tol, atol=np.finfo(dtype).tiny)
