"""The GEMM wrappers of kernels/blas.py against NumPy's matmul, on odd shapes too."""

import numpy as np
import pytest
from fastprop.kernels.blas import add_at_b, matmul_bt_into, matmul_into

from conftest import tolerance

# (m, k, n): single elements, sizes that are no multiple of any vector width or
# GEMM tile, and one of the benchmark's layer shapes.
SHAPES = [(1, 1, 1), (1, 7, 3), (5, 3, 7), (33, 17, 9), (17, 1, 65), (256, 784, 128)]


def operands(m, k, n, dtype, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, k)).astype(dtype)
    W = rng.standard_normal((k, n)).astype(dtype)
    D = rng.standard_normal((m, n)).astype(dtype)
    return A, W, D


def assert_product_close(comp, ref, magnitude, dtype, what):
    """Within rtol of the sum of |terms| (a dot product's forward-error scale), element-wise.

    Relative to the result alone, a sum of 784 float32 terms that nearly cancel
    may miss by far more than rtol while every term was rounded correctly.
    """
    rtol, atol = tolerance(dtype)
    excess = np.abs(comp - ref) - (rtol * magnitude + atol)
    assert excess.max() <= 0, f"{what}: off by up to {excess.max():.3g} beyond rtol * sum|terms|"


@pytest.mark.parametrize(("m", "k", "n"), SHAPES)
def test_matmul_into_is_a_times_w(m, k, n, dtype):
    A, W, _ = operands(m, k, n, dtype)
    Z = np.full((m, n), np.nan, dtype)  # every element must be written, none read
    matmul_into(A, W, Z)
    A64, W64 = A.astype(np.float64), W.astype(np.float64)
    assert_product_close(Z, A64 @ W64, np.abs(A64) @ np.abs(W64), dtype, "A @ W")


@pytest.mark.parametrize(("m", "k", "n"), SHAPES)
def test_matmul_bt_into_is_d_times_w_transposed(m, k, n, dtype):
    _, W, D = operands(m, k, n, dtype)
    P = np.full((m, k), np.nan, dtype)
    matmul_bt_into(D, W, P)
    D64, W64 = D.astype(np.float64), W.astype(np.float64)
    assert_product_close(P, D64 @ W64.T, np.abs(D64) @ np.abs(W64).T, dtype, "D @ W.T")


@pytest.mark.parametrize(("m", "k", "n"), SHAPES)
def test_add_at_b_adds_to_what_is_there(m, k, n, dtype):
    A, _, D = operands(m, k, n, dtype)
    G = np.random.default_rng(1).standard_normal((k, n)).astype(dtype)
    A64, D64, G64 = A.astype(np.float64), D.astype(np.float64), G.astype(np.float64)
    add_at_b(A, D, G)
    magnitude = np.abs(G64) + np.abs(A64).T @ np.abs(D64)
    assert_product_close(G, G64 + A64.T @ D64, magnitude, dtype, "G + A.T @ D")


def test_products_leave_their_inputs_untouched():
    A, W, D = operands(9, 5, 4, np.float64)
    copies = [A.copy(), W.copy(), D.copy()]
    matmul_into(A, W, np.empty((9, 4)))
    matmul_bt_into(D, W, np.empty((9, 5)))
    add_at_b(A, D, np.zeros((5, 4)))
    for before, after in zip(copies, (A, W, D), strict=True):
        np.testing.assert_array_equal(before, after)

