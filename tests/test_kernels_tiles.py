"""``kernels.tiles``: the register-tiled products against NumPy, on every remainder shape.

The tiles' loads and stores are unchecked (even under NUMBA_BOUNDSCHECK), so
each product here writes into a block of a larger array whose other
elements must come out untouched, and reads operands that are blocks of
larger arrays too. The tiles' other promise, that an element's bits do not
depend on which tile, row strip or column block computed it, is what keeps
split batches thread-count free; it is checked exactly.
"""

import numpy as np
import pytest
from fastprop.kernels import blas
from fastprop.kernels.config import TILE_MAX_BYTES, TILE_MAX_ROWS
from fastprop.kernels.tiles import ROWS, tile_add_at_b, tile_matmul_into
from fastprop.kernels.vector import lanes
from numba import njit

from test_kernels_blas import assert_product_close

DTYPES = [np.float32, np.float64]
# Rows around the strip height, columns around one and two vectors of either dtype.
ROW_COUNTS = [1, 2, ROWS - 1, ROWS, ROWS + 1, 2 * ROWS + 1, 32]
COLUMN_COUNTS = [1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 24, 33]
DEPTHS = [1, 2, 13, 100]


@njit
def forward(A, W, Z):
    tile_matmul_into(A, W, Z)


@njit
def update(A, D, G):
    tile_add_at_b(A, D, G)


def block_of(rng, rows, cols, dtype, pad=(1, 2)):
    """A (rows, cols) block of columns inside a wider parent: (block, parent, column offset)."""
    left, right = pad
    parent = rng.standard_normal((rows, left + cols + right)).astype(dtype)
    return parent[:, left : left + cols], parent, left


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m", ROW_COUNTS)
@pytest.mark.parametrize("n", COLUMN_COUNTS)
def test_forward_is_a_times_w_and_writes_only_its_block(dtype, m, n):
    rng = np.random.default_rng(1000 * m + n)
    for k in DEPTHS:
        A, _, _ = block_of(rng, m, k, dtype, pad=(3, 1))
        W, _, _ = block_of(rng, k, n, dtype)
        Z, parent, left = block_of(rng, m, n, dtype, pad=(2, 5))
        before = parent.copy()
        Z[...] = np.nan  # every element written, none read
        forward(A, W, Z)
        A64, W64 = A.astype(np.float64), W.astype(np.float64)
        assert_product_close(Z, A64 @ W64, np.abs(A64) @ np.abs(W64), dtype, f"k={k}")
        outside = np.ones(parent.shape, bool)
        outside[:, left : left + n] = False
        assert np.array_equal(parent[outside], before[outside]), f"k={k}: wrote outside Z"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m", ROW_COUNTS)
@pytest.mark.parametrize("n", COLUMN_COUNTS)
def test_update_adds_a_transposed_times_d_and_writes_only_its_block(dtype, m, n):
    rng = np.random.default_rng(2000 * m + n)
    for k in DEPTHS:
        A, _, _ = block_of(rng, m, k, dtype, pad=(2, 3))
        D, _, _ = block_of(rng, m, n, dtype, pad=(1, 4))
        G, parent, left = block_of(rng, k, n, dtype, pad=(3, 2))
        before = parent.copy()
        G0 = G.astype(np.float64)
        update(A, D, G)
        A64, D64 = A.astype(np.float64), D.astype(np.float64)
        magnitude = np.abs(G0) + np.abs(A64).T @ np.abs(D64)
        assert_product_close(G, G0 + A64.T @ D64, magnitude, dtype, f"k={k}")
        outside = np.ones(parent.shape, bool)
        outside[:, left : left + n] = False
        assert np.array_equal(parent[outside], before[outside]), f"k={k}: wrote outside G"


@pytest.mark.parametrize("dtype", DTYPES)
def test_update_adds_the_finished_sum_once(dtype):
    """G += Aᵀ D adds the whole product to G in one rounding: G + (the product the forward
    tile writes), exactly, not G updated row by row of D (one rounding per row)."""
    rng = np.random.default_rng(3)
    m, k, n = 32, 40, 24
    A = rng.standard_normal((m, k)).astype(dtype)
    D = (rng.standard_normal((m, n)) * 1e-3).astype(dtype)
    G = rng.standard_normal((k, n)).astype(dtype)
    product = np.empty((k, n), dtype)
    forward(np.ascontiguousarray(A.T), D, product)
    expected = G + product
    update(A, D, G)
    assert np.array_equal(G, expected)


@pytest.mark.parametrize("dtype", DTYPES)
def test_an_element_has_the_same_bits_in_any_block(dtype):
    """Column blocks and row slices of a product give exactly the bits of the whole product:
    split batches rely on it for results that do not depend on the thread count."""
    rng = np.random.default_rng(4)
    m, k, n = 31, 257, 2 * lanes(dtype) * 3 + 5
    A = rng.standard_normal((m, k)).astype(dtype)
    W = rng.standard_normal((k, n)).astype(dtype)
    whole = np.empty((m, n), dtype)
    forward(A, W, whole)
    pieces = np.empty((m, n), dtype)
    for c0, c1 in ((0, 7), (7, 30), (30, n)):
        for r0, r1 in ((0, 5), (5, 19), (19, m)):
            forward(A[r0:r1], W[:, c0:c1], pieces[r0:r1, c0:c1])
    assert np.array_equal(pieces, whole)


@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_and_inf_reach_the_result(dtype):
    A = np.ones((7, 5), dtype)
    W = np.ones((5, 17), dtype)
    A[2, 3] = np.nan
    W[1, 16] = np.inf
    Z = np.zeros((7, 17), dtype)
    forward(A, W, Z)
    assert np.isnan(Z[2]).all()
    assert np.isinf(Z[np.arange(7) != 2, 16]).all()
    assert np.isfinite(Z[np.arange(7) != 2, :16]).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_empty_products_change_nothing(dtype):
    Z = np.full((0, 5), 7, dtype)
    forward(np.ones((0, 3), dtype), np.ones((3, 5), dtype), Z)
    G = np.full((3, 5), 7, dtype)
    update(np.ones((0, 3), dtype), np.ones((0, 5), dtype), G)
    assert (G == 7).all()
    Z = np.full((4, 5), 7, dtype)
    forward(np.ones((4, 0), dtype), np.ones((0, 5), dtype), Z)
    assert (Z == 0).all()  # a sum over nothing is zero


# (rows, k, n): at the row threshold, one row past it, and a weight block just over the
# byte threshold (float32).
DISPATCH = [
    (TILE_MAX_ROWS, 300, 40, True),
    (TILE_MAX_ROWS + 1, 300, 40, False),
    (8, 1024, TILE_MAX_BYTES // (4 * 1024) + 1, False),
]


@pytest.mark.parametrize(("m", "k", "n", "tiled"), DISPATCH)
def test_blas_wrappers_take_the_tiles_for_few_rows_and_a_block_in_l2(m, k, n, tiled):
    """Where ``use_tiles`` says so the wrappers give the tiles' exact bits; elsewhere BLAS's.

    (Whether BLAS's bits differ from the tiles' depends on its kernels: OpenBLAS's
    SkylakeX kernels sum these shapes in the tiles' order, its Haswell ones do not.
    So each side is checked against its own path, not against the other.)"""
    rng = np.random.default_rng(5)
    A = rng.standard_normal((m, k)).astype(np.float32)
    W = rng.standard_normal((k, n)).astype(np.float32)
    assert blas.use_tiles(m, W) == tiled
    Z, T = np.empty((m, n), np.float32), np.empty((m, n), np.float32)
    blas.matmul_into(A, W, Z)
    (forward if tiled else blas.gemm_matmul_into)(A, W, T)
    np.testing.assert_array_equal(Z, T)
    G, H = np.zeros((k, n), np.float32), np.zeros((k, n), np.float32)
    blas.add_at_b(A, T, G)
    (update if tiled else blas.gemm_add_at_b)(A, T, H)
    np.testing.assert_array_equal(G, H)
