"""``kernels.expf``: the e^x the sigmoid uses, float32 against float64 NumPy, float64 against
long double."""

import numpy as np
import pytest
from numba import njit

from fastprop.kernels.config import FASTMATH
from fastprop.kernels.expf import (
    X_MIN,
    X_MIN_64,
    exp_nonpositive,
    exp_nonpositive_64,
    expf_nonpositive,
)
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


@pytest.mark.parametrize(("dtype", "spec", "lowest"), [
    (np.float32, expf_nonpositive, 90.0), (np.float64, exp_nonpositive_64, 750.0)])
def test_the_python_twin_computes_the_same_values(dtype, spec, lowest):
    x = -np.linspace(0, lowest, 9001).astype(dtype)
    out = np.empty_like(x)
    exp_all(x, out)
    twin = njit(fastmath=FASTMATH)(spec)  # compiled on its own, same flags
    np.testing.assert_array_equal(out, [twin(v) for v in x])


# Long double carries 64 bits of mantissa on x86, 11 more than float64: enough to
# count a float64's error in ulps. Elsewhere it may be float64 itself.
EXTENDED = np.finfo(np.longdouble).nmant >= 60


def ulps_64(a, x):
    """|a - e^x| in units of the last place of float64 at e^x (2^-1074 for subnormals)."""
    exact = np.exp(x.astype(np.longdouble))
    return np.abs(a.astype(np.longdouble) - exact) / np.spacing(exact.astype(np.float64))


@pytest.mark.skipif(not EXTENDED, reason="needs an extended long double to count ulps")
def test_exp_64_is_within_one_ulp_down_to_the_smallest_subnormal():
    rng = np.random.default_rng(0)
    x = -np.concatenate([
        np.linspace(0, -X_MIN_64, 2_000_001),
        rng.random(1_000_000) * 40,  # where the sigmoid moves
        np.linspace(700, 745.1, 100_001),  # the subnormal results
    ])
    out = np.empty_like(x)
    exp_all(x, out)
    assert out.dtype == np.float64
    assert ulps_64(out, x).max() < 1


def test_exp_64_edges():
    tiny = np.float64(5e-324)  # 2^-1074
    x = np.array([0.0, -0.0, -1e-300, -745.0, -745.1, X_MIN_64, -746.0, -1e300, -np.inf,
                  np.nan])
    out = np.empty_like(x)
    exp_all(x, out)
    assert out[0] == out[1] == out[2] == 1.0
    assert out[3] == tiny and out[4] == tiny  # e^-745.1 = 0.6 of 2^-1074: rounds up
    assert (out[5:9] == 0).all()
    assert np.isnan(out[9])
    # Where glibc's exp is exact or nearly, the polynomial agrees to the bit.
    y = -np.array([1.0, 0.5, 2.0, 10.0, 100.0, 700.0])
    got = np.empty_like(y)
    exp_all(y, got)
    np.testing.assert_array_max_ulp(got, np.exp(y), maxulp=1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_stays_within_float32_tolerance_of_the_reference(dtype):
    z = np.linspace(-60, 60, 120_001).astype(dtype)
    out = np.empty_like(z)
    sigmoid_all(z, out)
    ref = reference_sigmoid(z.astype(np.float64))
    tol = 4 * np.finfo(dtype).eps
    np.testing.assert_allclose(out, ref, rtol=tol, atol=np.finfo(dtype).tiny)
