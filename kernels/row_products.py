"""One sample's row times a weight matrix, each output's sum held in a register.

The row kernels of per-sample SGD (``layers.forward_row`` and
``step_forward_row``) add ``x_i · W[i, j]`` into ``z[j]`` for i = 0, 1, ...
Written as loops over ``z`` in memory, LLVM cannot keep ``z`` in registers
(it may alias ``W``), so every step of every sum was a load, an FMA and a
store, and the next step waited for the store to be forwarded: ~10 cycles a
row for the few vectors of a small layer. On one core here (float32), a
step of 128 x 64 weights took 1.7 µs and 64 x 32 0.44 µs.

``_block`` keeps up to four vectors of ``z`` in registers while it runs down
the rows of ``W``, updating each weight on the way when asked (the previous
sample's ``W -= (lr a_prev_i) δ``, fused as in ``step_forward_row``). The
columns past the last whole vector each keep their sum in a scalar
register. Every element sees the same operations in the same order as in
the loops (its update, then one multiply-add per row in row order, from the
value ``z`` held on entry), so the bits are the loops' bits:
``tests/test_kernels_rows.py`` holds them to ``row_product_python`` exactly.
"""

from llvmlite import ir
from numba import config, njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from .config import JIT_OPTIONS
from .vector import VECTOR_BYTES, _is_vector

# Vectors of z in registers at once: with the update, four accumulators, four
# deltas, four loaded weights and two broadcasts take 14 of AVX2's 16.
MAX_VECTORS = 4


@intrinsic(prefer_literal=True)
def _block(typingctx, V, STEP, a_in, a_prev, lr, delta, W, z, j0):  # pragma: no cover
    """Columns ``j0 : j0 + V·lanes`` of ``z += a_in @ W`` (W flat, rows of ``len(z)``).

    STEP (literal) 1: each weight is first updated, ``W[i, j] -= (lr · a_prev[i]) ·
    delta[j]``, and the product uses the new value; 0: a_prev, lr and delta are
    not read. Nothing is bounds-checked: the caller keeps the columns inside z.
    """
    if not (isinstance(V, types.IntegerLiteral) and isinstance(STEP, types.IntegerLiteral)):
        return None
    arrays = (a_in, a_prev, delta, W, z)
    if not all(_is_vector(t) and t.dtype == z.dtype for t in arrays):
        return None
    nvec, step = V.literal_value, STEP.literal_value
    dtype = z.dtype
    sig = types.void(V, STEP, a_in, a_prev, lr, delta, W, z, j0)

    def codegen(context, builder, signature, args):
        tys = signature.args
        fty = context.get_value_type(dtype)
        size = context.get_abi_sizeof(fty)
        lanes = VECTOR_BYTES // size
        vty = ir.VectorType(fty, lanes)
        intp = context.get_value_type(types.intp)
        fmuladd = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(vty, [vty] * 3),
            f"llvm.fmuladd.v{lanes}{'f32' if size == 4 else 'f64'}")

        def array(i):
            return context.make_array(tys[i])(context, builder, args[i])

        def const(v):
            return ir.Constant(intp, v)

        def vptr(base, off):
            return builder.bitcast(builder.gep(base, [off]), vty.as_pointer())

        def splat(s):
            one = builder.insert_element(ir.Constant(vty, ir.Undefined), s,
                                         ir.Constant(ir.IntType(32), 0))
            return builder.shuffle_vector(one, ir.Constant(vty, ir.Undefined), ir.Constant(
                ir.VectorType(ir.IntType(32), lanes), [0] * lanes))

        x_arr, z_arr = array(2), array(7)
        x_d, p_d, d_d, w_d, z_d = x_arr.data, array(3).data, array(5).data, array(6).data, z_arr.data
        n_in = builder.extract_value(x_arr.shape, 0)
        n_out = builder.extract_value(z_arr.shape, 0)
        j0_ = context.cast(builder, args[8], tys[8], types.intp)
        cols = [builder.add(j0_, const(v * lanes)) for v in range(nvec)]
        acc = [cgutils.alloca_once_value(builder, builder.load(vptr(z_d, c), align=size))
               for c in cols]
        if step:
            lr_ = context.cast(builder, args[4], tys[4], dtype)
            deltas = [builder.load(vptr(d_d, c), align=size) for c in cols]
        with cgutils.for_range(builder, n_in) as loop:
            i = loop.index
            x = splat(builder.load(builder.gep(x_d, [i])))
            if step:
                minus_c = splat(builder.fneg(builder.fmul(lr_, builder.load(builder.gep(p_d, [i])))))
            row = builder.mul(i, n_out)
            for v in range(nvec):
                ptr = vptr(w_d, builder.add(row, cols[v]))
                w = builder.load(ptr, align=size)
                if step:
                    w = builder.call(fmuladd, [minus_c, deltas[v], w])
                    builder.store(w, ptr, align=size)
                builder.store(builder.call(fmuladd, [x, w, builder.load(acc[v])]), acc[v])
        for v in range(nvec):
            builder.store(builder.load(acc[v]), vptr(z_d, cols[v]), align=size)
        return context.get_dummy_value()

    return sig, codegen


def row_product_python(STEP, a_in, W, z, a_prev, delta, lr):
    """``z += a_in @ W``, W flat (n_in * n_out); with STEP, each weight first takes the
    update ``W[i, j] -= (lr · a_prev[i]) · delta[j]`` and the product uses its new value.

    The loops, in the order every element's operations happen: the spec of
    ``row_product``, and what runs without JIT.
    """
    n_out = z.shape[0]
    for i in range(a_in.shape[0]):
        x = a_in[i]
        c = lr * a_prev[i] if STEP else lr
        w = W[i * n_out : (i + 1) * n_out]
        for j in range(n_out):
            if STEP:
                w[j] = w[j] - c * delta[j]
            z[j] += x * w[j]


@njit(inline="always", **JIT_OPTIONS)
def row_product(STEP, a_in, W, z, a_prev, delta, lr):  # pragma: no cover  (no-JIT: the spec)
    """``row_product_python``, with the sums in registers: blocks of four, two and one
    vectors of columns, then the columns left one at a time."""
    lanes = VECTOR_BYTES // z.itemsize
    n_out = z.shape[0]
    j = 0
    while n_out - j >= MAX_VECTORS * lanes:
        _block(MAX_VECTORS, STEP, a_in, a_prev, lr, delta, W, z, j)
        j += MAX_VECTORS * lanes
    if n_out - j >= 2 * lanes:
        _block(2, STEP, a_in, a_prev, lr, delta, W, z, j)
        j += 2 * lanes
    if n_out - j >= lanes:
        _block(1, STEP, a_in, a_prev, lr, delta, W, z, j)
        j += lanes
    for jj in range(j, n_out):
        s = z[jj]
        if STEP:
            d = delta[jj]
            for i in range(a_in.shape[0]):
                w = W[i * n_out + jj] - (lr * a_prev[i]) * d
                W[i * n_out + jj] = w
                s += a_in[i] * w
        else:
            for i in range(a_in.shape[0]):
                s += a_in[i] * W[i * n_out + jj]
        z[jj] = s


if config.DISABLE_JIT:
    row_product = row_product_python  # noqa: F811
