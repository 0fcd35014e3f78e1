"""Row-major matrix products on BLAS's GEMM, with the accumulate (beta = 1) that np.dot lacks.

Products of few rows through a weight block that fits in L2 go to
``tiles.py`` instead (``use_tiles``): at those sizes BLAS spends a third of
its time copying its operands.

Numba's own np.dot calls BLAS through ``numba_xxgemm`` (a C helper that
forwards to SciPy's ``cython_blas``) with beta fixed at 0, so a product that
should be added to a gradient had to be written to scratch and added in a
second pass over the whole matrix. These kernels call the same helper, by
name, so the machine code stays cacheable, with the transposes and beta each
product needs.

BLAS is column-major; a row-major (r, c) matrix is its (c, r) transpose
there, so each product below is issued as the transposed product.
"""

from llvmlite import ir
from numba import config, njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from .config import (
    JIT_OPTIONS,
    TILE_MAX_BYTES,
    TILE_MAX_ROWS,
    TILE_WIDE_MAX_BYTES,
    TILE_WIDE_MAX_ROWS,
)
from .tiles import TILE_BYTES, tile_add_at_b, tile_matmul_into
from .tiles import ld as _ld

# AVX-512's tile shape (tiles.py), which also takes longer blocks.
WIDE_TILES = TILE_BYTES == 64

_N, _T = ord("n"), ord("t")


# The intrinsic's body runs inside the compiler, so the no-JIT stage cannot cover it.
@intrinsic
def _gemm(typingctx, transa, transb, m, n, k, a, lda, b, ldb, beta, c, ldc):  # pragma: no cover
    """Column-major ``c = a' b' + beta c`` (' as ``transa``/``transb`` say), alpha = 1.

    a, b, c: arrays of one float dtype, passed as their data pointers;
    transa, transb: ``ord("n")`` or ``ord("t")``; beta: any real.
    """
    dtype = c.dtype
    sig = types.intc(transa, transb, m, n, k, a, lda, b, ldb, beta, c, ldc)

    def codegen(context, builder, signature, args):
        ll_char = ir.IntType(8)
        ll_void_p = ir.IntType(8).as_pointer()
        intp_t = context.get_value_type(types.intp)
        fnty = ir.FunctionType(ir.IntType(32), [
            ll_char, ll_char, ll_char, intp_t, intp_t, intp_t,
            ll_void_p, ll_void_p, intp_t, ll_void_p, intp_t, ll_void_p, ll_void_p, intp_t,
        ])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "numba_xxgemm")
        tra, trb, m_, n_, k_, a_, lda_, b_, ldb_, beta_, c_, ldc_ = args
        tys = signature.args

        def char(v, ty):
            return builder.trunc(context.cast(builder, v, ty, types.intp), ll_char)

        def integer(v, ty):
            return context.cast(builder, v, ty, types.intp)

        def data(v, ty):
            return builder.bitcast(context.make_array(ty)(context, builder, v).data, ll_void_p)

        def slot(v, ty):
            value = context.cast(builder, v, ty, dtype)
            return builder.bitcast(cgutils.alloca_once_value(builder, value), ll_void_p)

        one = context.get_constant(dtype, 1.0)
        alpha = builder.bitcast(cgutils.alloca_once_value(builder, one), ll_void_p)
        kind = ir.Constant(ll_char, ord("s" if dtype == types.float32 else "d"))
        return builder.call(fn, (
            kind, char(tra, tys[0]), char(trb, tys[1]),
            integer(m_, tys[2]), integer(n_, tys[3]), integer(k_, tys[4]),
            alpha, data(a_, tys[5]), integer(lda_, tys[6]), data(b_, tys[7]),
            integer(ldb_, tys[8]), slot(beta_, tys[9]), data(c_, tys[10]),
            integer(ldc_, tys[11]),
        ))

    return sig, codegen


# Every operand is row-major with contiguous rows: a C-contiguous array, or a
# block of its columns (``W[:, c0:c1]``), whose rows keep the parent's stride.


@njit(inline="always", **JIT_OPTIONS)
def use_tiles(m, W):
    """Whether a product over m rows of A with the (k, n) weight block W runs on tiles.py.

    Few rows, and W small enough to stay in L2 while every strip of rows
    reads all of it: a 2 MB block (1024-1024-1024-10's half of W_0) streamed
    from L3, each row in another 4 KB page, ran at 0.6-0.7x of BLAS (AVX2
    tiles). AVX-512's tiles take blocks of up to ``TILE_WIDE_MAX_BYTES``,
    and up to ``TILE_WIDE_MAX_ROWS`` rows when W is at least one tile wide.
    """
    if W.shape[0] * W.shape[1] * W.itemsize > (TILE_WIDE_MAX_BYTES if WIDE_TILES
                                                else TILE_MAX_BYTES):
        return False
    if m <= TILE_MAX_ROWS:
        return True
    return WIDE_TILES and m <= TILE_WIDE_MAX_ROWS and W.shape[1] * W.itemsize >= 2 * TILE_BYTES


@njit(inline="always", **JIT_OPTIONS)
def gemm_matmul_into(A, W, Z):  # pragma: no cover  (no-JIT: below)
    """``Z = A @ W`` by BLAS: A (m, k), W (k, n), Z (m, n)."""
    m, k = A.shape
    n = W.shape[1]
    _gemm(_N, _N, n, m, k, W, _ld(W), A, _ld(A), 0.0, Z, _ld(Z))


@njit(inline="always", **JIT_OPTIONS)
def matmul_into(A, W, Z):  # pragma: no cover  (no-JIT: below)
    """``Z = A @ W``: A (m, k), W (k, n), Z (m, n); on tiles or BLAS (``use_tiles``)."""
    if use_tiles(A.shape[0], W):
        tile_matmul_into(A, W, Z)
    else:
        gemm_matmul_into(A, W, Z)


@njit(inline="always", **JIT_OPTIONS)
def matmul_bt_into(D, W, P):  # pragma: no cover  (no-JIT: below)
    """``P = D @ W.T``: D (m, n), W (k, n), P (m, k)."""
    m, n = D.shape
    k = W.shape[0]
    _gemm(_T, _N, k, m, n, W, _ld(W), D, _ld(D), 0.0, P, _ld(P))


@njit(inline="always", **JIT_OPTIONS)
def gemm_add_at_b(A, D, G):  # pragma: no cover  (no-JIT: below)
    """``G += A.T @ D`` by BLAS: A (m, k), D (m, n), G (k, n)."""
    m, k = A.shape
    n = D.shape[1]
    _gemm(_N, _T, n, k, m, D, _ld(D), A, _ld(A), 1.0, G, _ld(G))


@njit(inline="always", **JIT_OPTIONS)
def add_at_b(A, D, G):  # pragma: no cover  (no-JIT: below)
    """``G += A.T @ D``: A (m, k), D (m, n), G (k, n); on tiles or BLAS (``use_tiles``)."""
    if use_tiles(A.shape[0], G):
        tile_add_at_b(A, D, G)
    else:
        gemm_add_at_b(A, D, G)


if config.DISABLE_JIT:
    # Without the compiler an intrinsic cannot run: the same products in NumPy.
    def matmul_into(A, W, Z):  # noqa: F811
        Z[...] = A @ W

    def matmul_bt_into(D, W, P):  # noqa: F811
        P[...] = D @ W.T

    def add_at_b(A, D, G):  # noqa: F811
        G += A.T @ D

    gemm_matmul_into, gemm_add_at_b = matmul_into, add_at_b
