"""``kernels.row_products``: a row times a weight matrix with the sums in registers.

Held to two things on every remainder of columns (whole blocks of four, two
and one vectors, and single columns past them, in either dtype):

- its bits are those of the plain loops (``row_product_python`` compiled
  with the kernels' own flags), so the row kernels' results did not move;
- its values are NumPy's, within rounding.

The intrinsic's loads and stores are unchecked, so every operand is a slice
of a larger array whose other elements must come out untouched.
"""

import numpy as np
import pytest
from numba import njit

from fastprop.kernels.config import JIT_OPTIONS
from fastprop.kernels.row_products import MAX_VECTORS, row_product, row_product_python
from fastprop.kernels.vector import lanes

DTYPES = [np.float32, np.float64]
# Around one, two and four vectors of either dtype (4 or 8 lanes), and past them.
COLUMN_COUNTS = [1, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 24, 31, 32, 33, 40, 63, 64, 65, 100]
DEPTHS = [1, 5, 33]
PAD = 3

spec = njit(**JIT_OPTIONS)(row_product_python)


@njit(**JIT_OPTIONS)
def compiled(step, a_in, W, z, a_prev, delta, lr):
    # The flag must reach row_product as a literal.
    if step:
        row_product(1, a_in, W, z, a_prev, delta, lr)
    else:
        row_product(0, a_in, W, z, a_prev, delta, lr)


def padded(rng, n, dtype, scale=1.0):
    """A length-n slice in the middle of a longer array: (slice, parent)."""
    parent = (scale * rng.standard_normal(n + 2 * PAD)).astype(dtype)
    return parent[PAD : PAD + n], parent


def operands(seed, n_in, n_out, dtype):
    rng = np.random.default_rng(seed)
    a_in, _ = padded(rng, n_in, dtype)
    a_prev, _ = padded(rng, n_in, dtype)
    delta, _ = padded(rng, n_out, dtype, 0.1)
    W, W_parent = padded(rng, n_in * n_out, dtype, 1 / np.sqrt(n_in))
    z, z_parent = padded(rng, n_out, dtype)
    return a_in, a_prev, delta, W_parent, z_parent, W, z


def run(fn, step, seed, n_in, n_out, dtype, lr):
    """Parents of W and z after ``fn``, and the inputs it was given."""
    a_in, a_prev, delta, W_parent, z_parent, W, z = operands(seed, n_in, n_out, dtype)
    inputs = (a_in.copy(), a_prev.copy(), delta.copy(), W_parent.copy(), z_parent.copy())
    fn(step, a_in, W, z, a_prev, delta, dtype(lr))
    np.testing.assert_array_equal(a_in, inputs[0])
    np.testing.assert_array_equal(a_prev, inputs[1])
    np.testing.assert_array_equal(delta, inputs[2])
    return W_parent, z_parent, inputs


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_in", DEPTHS)
@pytest.mark.parametrize("n_out", COLUMN_COUNTS)
@pytest.mark.parametrize("step", [0, 1], ids=["forward", "step"])
def test_row_product_has_the_loops_bits(step, n_out, n_in, dtype):
    W_new, z_new, before = run(compiled, step, 1, n_in, n_out, dtype, 0.37)
    W_spec, z_spec, _ = run(spec, step, 1, n_in, n_out, dtype, 0.37)
    np.testing.assert_array_equal(z_new, z_spec)
    np.testing.assert_array_equal(W_new, W_spec)
    # Nothing outside the slices was touched.
    for new, old in ((W_new, before[3]), (z_new, before[4])):
        np.testing.assert_array_equal(new[:PAD], old[:PAD])
        np.testing.assert_array_equal(new[-PAD:], old[-PAD:])
    if not step:
        np.testing.assert_array_equal(W_new, before[3])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_out", [1, 9, 33, 100])
@pytest.mark.parametrize("step", [0, 1], ids=["forward", "step"])
def test_row_product_matches_numpy(step, n_out, dtype):
    n_in, lr = 33, 0.37
    W_parent, z_parent, before = run(compiled, step, 2, n_in, n_out, dtype, lr)
    a_in, a_prev, delta, W0, z0 = (np.asarray(v, dtype=np.float64) for v in before)
    W0 = W0[PAD : PAD + n_in * n_out].reshape(n_in, n_out)
    z0 = z0[PAD : PAD + n_out]
    W_ref = W0 - step * lr * np.outer(a_prev, delta)
    z_ref = z0 + a_in @ W_ref
    rtol, atol = (1e-12, 1e-12) if dtype == np.float64 else (1e-5, 1e-5)
    W_new = W_parent[PAD : PAD + n_in * n_out].reshape(n_in, n_out)
    np.testing.assert_allclose(W_new, W_ref, rtol=rtol, atol=atol)
    np.testing.assert_allclose(z_parent[PAD : PAD + n_out], z_ref, rtol=rtol, atol=atol)


def test_column_counts_cover_every_block_path():
    """Each dtype meets whole blocks of 4, 2 and 1 vectors and single columns, alone and mixed."""
    for dtype in DTYPES:
        w = lanes(dtype)
        paths = set()
        for n in COLUMN_COUNTS:
            blocks4, rest = divmod(n, MAX_VECTORS * w)
            paths.add((blocks4 > 0, rest >= 2 * w, rest % (2 * w) >= w, rest % w > 0))
        assert len(paths) >= 10, (dtype, sorted(paths))
