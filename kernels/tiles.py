"""Matrix products of few rows, computed from the operands where they lie (no packing).

OpenBLAS copies ("packs") both operands of every GEMM into its own layout
before multiplying. For a block of 32 rows through a 784x64 column block of
W_0 that copy (50k weights per call) costs as much as a third of the
product: 25 GMAC/s forward and 33 updating, on one core of this project's
first machine, where the core does ~47. The products here read W, A and D in
place: a register tile of ``ROWS`` rows by two vectors of columns runs down
the whole reduction with fused multiply-adds, and is written (or added) once
at the end. Measured on the same shapes: 39 and 35 µs for what OpenBLAS did
in 66 and 48 (``asv_bench`` ``TimeTiles``).

The tile's shape follows the vector registers of the CPU Numba compiles for
(``_tile_shape``): with AVX2's 16, 6 rows by two 32-byte vectors (12
accumulators, two loaded vectors and one broadcast: 15 registers); with
AVX-512's 32, 8 rows by two 64-byte vectors (16 accumulators). On a Zen 4
core, one process, the two interleaved: 8 x 2 x 64 B ran 1.04-1.43x faster
than 6 x 2 x 32 B in float32 (48-58 GMAC/s, near the core's peak) and 1.04-1.25x
in float64; 6, 10, 12 and 14 rows of 64 B, and 8, 10, 12 of 32 B, were
slower (each shape compiled into one process, timed in turns).

Every element of the result is one chain of multiply-adds in reduction
order, from zero, then added to the destination or written to it: the same
bits whatever tile shape, column block or thread computed it, and on any CPU
with FMA. ``blas.use_tiles`` sends products of at most ``TILE_MAX_ROWS`` rows
through a weight block of at most ``TILE_MAX_BYTES`` here; with AVX-512's
tile, blocks of up to ``TILE_WIDE_MAX_BYTES``, and up to
``TILE_WIDE_MAX_ROWS`` rows for a block at least a tile wide.
"""

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils, codegen, config
from numba.extending import intrinsic

from .config import JIT_OPTIONS


def _tile_shape():
    """(rows, vector bytes) of the main tile for the CPU features Numba compiles with."""
    features = config.CPU_FEATURES
    if features is None:
        features = codegen.get_host_cpu_features()
    if "+avx512f" in features.split(","):
        return 8, 64
    return 6, 32


# Rows of the main tile, and the bytes of each of its two vectors of columns.
# Numba's disk cache keys machine code by the CPU features too, so a cache
# never serves one shape's code where the other was chosen.
ROWS, TILE_BYTES = _tile_shape()

# ``_tile``'s ``S`` for a one-column tile (a vector of one lane).
SCALAR = 8


# The intrinsic's body runs inside the compiler: the no-JIT stage runs the NumPy spec.
@intrinsic(prefer_literal=True)
def _tile(typingctx, R, V, S, A, a_off, sar, sak, B, b_off, ldb, C, c_off, ldc,  # pragma: no cover
          K, add):
    """``C[r, j] (+)= Σ_k A[a_off + r·sar + k·sak] · B[b_off + k·ldb + j]`` for r < R.

    R: rows to write, 1 to ``ROWS``; the tile always computes ``ROWS`` rows,
    rows from R on repeating row R - 1 (read, never written), so that one
    compiled tile serves every row count. V (literal): 2 or 1 vectors of
    columns; S (literal): each of ``TILE_BYTES >> S`` bytes (S = ``SCALAR``:
    one lane, a single column). A, B, C: arrays of one float dtype,
    addressed in elements from their first element (rows contiguous, any row
    stride); C's element (r, j) is at ``c_off + r·ldc + j``. K: reduction
    length. add: 0 writes the sum, 1 adds it to C. Nothing is bounds-checked:
    the callers' loops are what keep every index inside the arrays.
    """
    if not (isinstance(V, types.IntegerLiteral) and isinstance(S, types.IntegerLiteral)):
        return None
    rows, vecs, shift = ROWS, V.literal_value, S.literal_value
    dtype = C.dtype
    sig = types.void(R, V, S, A, a_off, sar, sak, B, b_off, ldb, C, c_off, ldc, K, add)

    def codegen(context, builder, signature, args):
        tys = signature.args
        fty = context.get_value_type(dtype)
        size = context.get_abi_sizeof(fty)
        lanes = max(1, (TILE_BYTES >> shift) // size)
        vty = ir.VectorType(fty, lanes)
        intp = context.get_value_type(types.intp)
        suffix = "f32" if size == 4 else "f64"
        fmuladd = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(vty, [vty] * 3), f"llvm.fmuladd.v{lanes}{suffix}")

        def data(i):
            return context.make_array(tys[i])(context, builder, args[i]).data

        def integer(i):
            return context.cast(builder, args[i], tys[i], types.intp)

        def const(v):
            return ir.Constant(intp, v)

        def vload(base, off):
            return builder.load(builder.bitcast(builder.gep(base, [off]), vty.as_pointer()),
                                align=size)

        a_data, b_data, c_data = data(3), data(7), data(10)
        r_, a_off_, sar_, sak_, b_off_, ldb_, c_off_, ldc_, k_ = (
            integer(i) for i in (0, 4, 5, 6, 8, 9, 11, 12, 13))
        # Row r reads row min(r, R - 1) of A: in bounds for any R >= 1.
        a_rows = [builder.add(a_off_, builder.mul(
            builder.select(builder.icmp_signed("<", const(r), r_), const(r),
                           builder.sub(r_, const(1))), sar_)) for r in range(rows)]
        zero = ir.Constant(vty, [ir.Constant(fty, 0.0)] * lanes)
        acc = [[cgutils.alloca_once_value(builder, zero) for _ in range(vecs)]
               for _ in range(rows)]
        with cgutils.for_range(builder, k_) as loop:
            k = loop.index
            b_row = builder.add(b_off_, builder.mul(k, ldb_))
            b = [vload(b_data, builder.add(b_row, const(v * lanes))) for v in range(vecs)]
            a_k = builder.mul(k, sak_)
            for r in range(rows):
                a = builder.load(builder.gep(a_data, [builder.add(a_rows[r], a_k)]))
                splat = builder.insert_element(ir.Constant(vty, ir.Undefined), a,
                                               ir.Constant(ir.IntType(32), 0))
                splat = builder.shuffle_vector(splat, ir.Constant(vty, ir.Undefined),
                                               ir.Constant(ir.VectorType(ir.IntType(32), lanes),
                                                           [0] * lanes))
                for v in range(vecs):
                    builder.store(builder.call(fmuladd, [splat, b[v], builder.load(acc[r][v])]),
                                  acc[r][v])
        adding = builder.icmp_signed("!=", context.cast(builder, args[14], tys[14], types.intp),
                                     const(0))
        done = builder.append_basic_block("rows_written")
        for r in range(rows):
            if r > 0:
                # Rows from R on only repeat row R - 1: not written.
                more = builder.append_basic_block(f"row_{r}")
                builder.cbranch(builder.icmp_signed(">=", const(r), r_), done, more)
                builder.position_at_end(more)
            c_row = builder.add(c_off_, builder.mul(const(r), ldc_))
            for v in range(vecs):
                ptr = builder.bitcast(builder.gep(c_data, [builder.add(c_row, const(v * lanes))]),
                                      vty.as_pointer())
                total = builder.load(acc[r][v])
                with builder.if_then(adding):
                    builder.store(builder.fadd(builder.load(ptr, align=size), total), ptr,
                                  align=size)
                with builder.if_then(builder.not_(adding)):
                    builder.store(total, ptr, align=size)
        builder.branch(done)
        builder.position_at_end(done)
        return context.get_dummy_value()

    return sig, codegen


@njit(**JIT_OPTIONS)
def _product(A, a_off, sar, sak, B, b_off, ldb, C, c_off, ldc, M, N, K, add):  # pragma: no cover
    """``C (+)= op(A) B``: M x N result, reduction K, addressed as ``_tile`` says.

    Strips of ``ROWS`` rows (the last one shorter), each in tiles of two
    vectors of columns, then at most one each of a whole, a half and a
    quarter vector, then single columns. Each strip reads all of B: fast
    while B stays in L2 (``blas.use_tiles``).
    """
    lanes = TILE_BYTES // C.itemsize
    for i in range(0, M, ROWS):
        R = min(ROWS, M - i)
        a_i, c_i = a_off + i * sar, c_off + i * ldc
        j = 0
        while N - j >= 2 * lanes:
            _tile(R, 2, 0, A, a_i, sar, sak, B, b_off + j, ldb, C, c_i + j, ldc, K, add)
            j += 2 * lanes
        if N - j >= lanes:
            _tile(R, 1, 0, A, a_i, sar, sak, B, b_off + j, ldb, C, c_i + j, ldc, K, add)
            j += lanes
        if lanes >= 4 and N - j >= lanes // 2:
            _tile(R, 1, 1, A, a_i, sar, sak, B, b_off + j, ldb, C, c_i + j, ldc, K, add)
            j += lanes // 2
        if lanes >= 8 and N - j >= lanes // 4:
            _tile(R, 1, 2, A, a_i, sar, sak, B, b_off + j, ldb, C, c_i + j, ldc, K, add)
            j += lanes // 4
        while j < N:
            _tile(R, 1, SCALAR, A, a_i, sar, sak, B, b_off + j, ldb, C, c_i + j, ldc, K, add)
            j += 1


@njit(inline="always", **JIT_OPTIONS)
def ld(X):  # pragma: no cover  (no-JIT: the products' stand-ins below)
    """Distance between X's rows, in elements: the leading dimension of a row-major matrix
    with contiguous rows (a C-contiguous array, or a block of its columns)."""
    return X.strides[0] // X.itemsize


@njit(inline="always", **JIT_OPTIONS)
def tile_matmul_into(A, W, Z):  # pragma: no cover  (no-JIT: below)
    """``Z = A @ W``: A (m, k), W (k, n), Z (m, n); rows contiguous, any row strides."""
    m, k = A.shape
    n = W.shape[1]
    _product(A, 0, ld(A), 1, W, 0, ld(W), Z, 0, ld(Z), m, n, k, 0)


@njit(inline="always", **JIT_OPTIONS)
def tile_add_at_b(A, D, G):  # pragma: no cover  (no-JIT: below)
    """``G += A.T @ D``: A (m, k), D (m, n), G (k, n); rows contiguous, any row strides."""
    m, k = A.shape
    n = D.shape[1]
    _product(A, 0, 1, ld(A), D, 0, ld(D), G, 0, ld(G), k, n, m, 1)


if config.DISABLE_JIT:
    def tile_matmul_into(A, W, Z):  # noqa: F811
        Z[...] = A @ W

    def tile_add_at_b(A, D, G):  # noqa: F811
        G += A.T @ D
