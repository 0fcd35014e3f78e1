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
from fastprop.kernels.config import (
    TILE_MAX_BYTES,
    TILE_MAX_ROWS,
    TILE_WIDE_MAX_BYTES,
    TILE_WIDE_MAX_ROWS,
)
from fastprop.kernels.tiles import ROWS, TILE_BYTES, tile_add_at_b, tile_matmul_into
from numba import njit

from test_kernels_blas import assert_product_close

DTYPES = [np.float32, np.float64]


def _column_counts():
    """Columns around every tile width of either dtype (quarter, half, one and two vectors),
    and counts that take every width once before single columns."""
    counts = {1}
    for itemsize in (4, 8):
        lanes = TILE_BYTES // itemsize
        for width in {max(1, lanes // 4), max(1, lanes // 2), lanes, 2 * lanes}:
            counts |= {width - 1, width, width + 1}
        counts.add(2 * lanes + lanes + lanes // 2 + lanes // 4 + 1)
    return sorted(c for c in counts if c >= 1)


# Rows around the strip height, columns around each tile width.
ROW_COUNTS = [1, 2, ROWS - 1, ROWS, ROWS + 1, 2 * ROWS + 1, 32]
COLUMN_COUNTS = _column_counts()
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
    m, k, n = 31, 257, 2 * (TILE_BYTES // np.dtype(dtype).itemsize) * 3 + 5
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


# (rows, k, n), float32: at the row threshold; past it with a block narrower than a tile;
# at and past the wide blocks' row threshold; a weight block just over the byte threshold.
MAX_BYTES = TILE_WIDE_MAX_BYTES if blas.WIDE_TILES else TILE_MAX_BYTES
WIDE_MAX_ROWS = TILE_WIDE_MAX_ROWS if blas.WIDE_TILES else TILE_MAX_ROWS
TILE_WIDTH = 2 * TILE_BYTES // 4
DISPATCH = [
    (TILE_MAX_ROWS, 300, 40, True),
    (TILE_MAX_ROWS + 1, 300, TILE_WIDTH - 1, False),
    (WIDE_MAX_ROWS, 300, TILE_WIDTH, True),
    (WIDE_MAX_ROWS + 1, 300, TILE_WIDTH, False),
    (8, 1024, MAX_BYTES // (4 * 1024) + 1, False),
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


# The products of test_every_tile_shape_gives_the_same_bits, in a child process that
# compiles the tiles for the CPU without AVX-512 (6 rows by 32-byte vectors).
NARROW_CHILD = """
import sys
import numpy as np
from numba import njit
from fastprop.kernels.tiles import ROWS, TILE_BYTES, tile_add_at_b, tile_matmul_into

forward = njit(lambda A, W, Z: tile_matmul_into(A, W, Z))
update = njit(lambda A, D, G: tile_add_at_b(A, D, G))
data = dict(np.load(sys.argv[1]))
out = {"shape": np.array([ROWS, TILE_BYTES])}
for dtype in ("float32", "float64"):
    A, W, D, G = (data[f"{name}_{dtype}"] for name in "AWDG")
    Z = np.empty((A.shape[0], W.shape[1]), A.dtype)
    forward(A, W, Z)
    update(A, D, G)
    out[f"Z_{dtype}"], out[f"G_{dtype}"] = Z, G
np.savez(sys.argv[2], **out)
"""


def test_every_tile_shape_gives_the_same_bits(tmp_path):
    """The tile's shape depends on the CPU (``tiles._tile_shape``); its bits must not. A child
    compiles the tiles without AVX-512 and must get this process's products exactly."""
    import os
    import subprocess
    import sys

    from numba.core import codegen

    features = codegen.get_host_cpu_features().replace("+avx512", "-avx512")
    rng = np.random.default_rng(6)
    m, k, n = 37, 211, 77  # every strip and column remainder of either shape
    data = {}
    for dtype in DTYPES:
        name = np.dtype(dtype).name
        data[f"A_{name}"] = rng.standard_normal((m, k)).astype(dtype)
        data[f"W_{name}"] = rng.standard_normal((k, n)).astype(dtype)
        data[f"D_{name}"] = rng.standard_normal((m, n)).astype(dtype)
        data[f"G_{name}"] = rng.standard_normal((k, n)).astype(dtype)
    np.savez(tmp_path / "in.npz", **data)
    env = dict(os.environ, NUMBA_CPU_FEATURES=features, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    proc = subprocess.run(
        [sys.executable, "-c", NARROW_CHILD, str(tmp_path / "in.npz"), str(tmp_path / "out.npz")],
        env=env, capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    child = np.load(tmp_path / "out.npz")
    assert tuple(child["shape"]) == (6, 32)
    for dtype in DTYPES:
        name = np.dtype(dtype).name
        A, W, D, G = (data[f"{x}_{name}"].copy() for x in "AWDG")
        Z = np.empty((m, n), dtype)
        forward(A, W, Z)
        update(A, D, G)
        np.testing.assert_array_equal(Z, child[f"Z_{name}"])
        np.testing.assert_array_equal(G, child[f"G_{name}"])
