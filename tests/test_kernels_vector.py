"""``kernels.vector.dot``: right, in its one written order, wherever it is compiled."""

import numpy as np
import pytest
from numba import njit
from numba.core.errors import TypingError

from fastprop.kernels.vector import dot, dot_python, dots, dots_python, lanes


@njit
def dot_call(x, y):
    return dot(x, y)


@njit
def dot_rows(X, y, out):
    # dot inlined into a loop of another shape: the sums must not change with the caller.
    for i in range(X.shape[0]):
        out[i] = dot(X[i], y)


# Every remainder around the lane and double-lane widths of both dtypes.
LENGTHS = list(range(0, 35)) + [63, 64, 65, 100, 784, 1023]
DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", LENGTHS)
def test_dot_matches_an_exact_sum(dtype, n):
    rng = np.random.default_rng(n)
    x = rng.standard_normal(n).astype(dtype)
    y = rng.standard_normal(n).astype(dtype)
    exact = float(np.dot(x.astype(np.longdouble), y.astype(np.longdouble)))
    got = dot_call(x, y)
    assert isinstance(got, (float, np.floating))
    eps = np.finfo(dtype).eps
    # Worst-case bound of a summation of n products in any order.
    assert abs(got - exact) <= (n + 1) * eps * float(np.abs(x) @ np.abs(y)) + 1e-300


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 100])
def test_dot_adds_in_the_order_of_its_python_spec(dtype, n):
    """With y = 1 every product is exact, so a fused and an unfused multiply-add round alike,
    and only the order of additions can tell the compiled dot from its spec. Values of
    wildly different sizes make almost every other order give other bits."""
    rng = np.random.default_rng(100 + n)
    x = (rng.standard_normal(n) * 10.0 ** rng.integers(-6, 7, n)).astype(dtype)
    y = np.ones(n, dtype)
    assert dot_call(x, y) == dot_python(x, y)


def test_the_order_is_not_the_naive_one():
    # 1e8 + 1 - 1e8 in float32 loses the 1 in left-to-right order; in lanes it survives.
    w = lanes(np.float32)
    x = np.zeros(2 * w, np.float32)
    x[0], x[1], x[w] = 1e8, 1.0, -1e8
    y = np.ones_like(x)
    naive = np.float32(0)
    for v in x:
        naive = np.float32(naive + v)
    assert naive == 0.0
    assert dot_call(x, y) == dot_python(x, y) == 1.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_dot_gives_the_same_bits_in_every_caller(dtype):
    rng = np.random.default_rng(7)
    X = rng.standard_normal((13, 77)).astype(dtype)
    y = rng.standard_normal(77).astype(dtype)
    out = np.empty(13, dtype)
    dot_rows(X, y, out)
    np.testing.assert_array_equal(out, [dot_call(X[i], y) for i in range(13)])


def test_dot_propagates_nan_and_inf():
    x = np.ones(20, np.float32)
    y = np.ones(20, np.float32)
    x[3] = np.nan
    assert np.isnan(dot_call(x, y))
    x[3] = np.inf
    assert dot_call(x, y) == np.inf


@pytest.mark.parametrize("x, y", [
    (np.ones(8, np.float32), np.ones(8, np.float64)),    # mixed dtypes
    (np.ones(16, np.float32)[::2], np.ones(8, np.float32)),  # not contiguous
    (np.ones((2, 4), np.float32), np.ones(8, np.float32)),   # not a vector
    (np.ones(8, np.int64), np.ones(8, np.int64)),        # not floating point
])
def test_dot_refuses_what_it_cannot_read_at_compile_time(x, y):
    with pytest.raises(TypingError):
        dot_call(x, y)


def test_dot_of_different_lengths_stops_at_the_shorter():
    # The generated loads are unchecked: a short y must not be read past its end.
    x = np.arange(1, 10, dtype=np.float32)
    assert dot_call(x, np.ones(8, np.float32)) == dot_call(x[:8], np.ones(8, np.float32)) == 36
    assert dot_call(np.ones(8, np.float32), x) == 36


# --- dots: several rows of a flat matrix at once -------------------------------------


@njit
def dots_call(R, x, W, i0, out):
    # R must reach dots as a literal.
    if R == 1:
        dots(1, x, W, i0, out)
    elif R == 2:
        dots(2, x, W, i0, out)
    elif R == 3:
        dots(3, x, W, i0, out)
    else:
        dots(4, x, W, i0, out)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 10, 15, 16, 17, 31, 33, 64, 100])
@pytest.mark.parametrize("R", [1, 2, 3, 4])
def test_dots_gives_each_row_the_bits_of_dot(R, n, dtype):
    """Rows i0 .. i0 + R - 1 of a flat (rows, n) matrix, each with exactly ``dot``'s sum,
    written to out[i0 + r] and nowhere else."""
    rng = np.random.default_rng(10 * n + R)
    rows, i0 = R + 3, 2
    x = (rng.standard_normal(n) * 10.0 ** rng.integers(-3, 4, n)).astype(dtype)
    W = rng.standard_normal(rows * n).astype(dtype)
    out = rng.standard_normal(rows + 2).astype(dtype)
    before = out.copy()
    dots_call(R, x, W, i0, out[1:-1])
    got = out[1:-1]
    for i in range(rows):
        if i0 <= i < i0 + R:
            assert got[i] == dot_call(x, W[i * n : (i + 1) * n]), i
        else:
            assert got[i] == before[1 + i], i
    assert out[0] == before[0] and out[-1] == before[-1]
    spec = before[1:-1].copy()
    dots_python(R, x, W, i0, spec)
    np.testing.assert_allclose(got, spec, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-30)
