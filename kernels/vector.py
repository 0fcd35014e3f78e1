"""A dot product whose additions happen in one fixed order, at vector speed.

The kernels are compiled without ``reassoc`` (``config.FASTMATH``), so LLVM
adds every sum in the order the source writes it. That is what keeps a
fit's bits independent of where a kernel was compiled: with ``reassoc``,
LLVM vectorised a reduction one way in the function it was compiled in and
another way once that function was linked into, and optimised again with,
its caller (the copy Numba's disk cache keeps), and the sums came out 1 ulp
apart. Without it, a scalar reduction is one long chain of dependent adds,
3-8x slower for the hidden deltas' dot products, so ``dot`` spells out the
vector order itself: ``LANES`` partial sums, each lane over every
``LANES``-th element, two vectors of them in flight, then the lanes added
pairwise (halves, then quarters, ...) and the tail added one by one. The
order depends on the dtype only, never on the caller or the CPU.
"""

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils, config
from numba.extending import intrinsic

# Lanes of a 256-bit vector (AVX2; on AVX-512 LLVM runs them as is, on
# narrower units it splits them, the order of additions staying the same).
VECTOR_BYTES = 32


def lanes(dtype):
    """Partial sums ``dot`` keeps for arrays of this dtype."""
    return VECTOR_BYTES // np.dtype(dtype).itemsize


def dot_python(x, y):
    """``dot`` in plain Python, in the same order: the spec, and what runs without JIT.

    The compiled ``dot`` fuses each multiply-add (one rounding, where the CPU
    has FMA); this one rounds twice, so the two can differ in the last bit.
    """
    n, w = min(x.shape[0], y.shape[0]), lanes(x.dtype)
    one = x.dtype.type
    acc = [[one(0)] * w, [one(0)] * w]
    n2 = n - n % (2 * w)
    for j in range(0, n2, 2 * w):
        for v in range(2):
            for u in range(w):
                acc[v][u] = one(acc[v][u] + x[j + v * w + u] * y[j + v * w + u])
    lane = [one(acc[0][u] + acc[1][u]) for u in range(w)]
    nv = n - n % w
    if nv > n2:
        lane = [one(lane[u] + x[n2 + u] * y[n2 + u]) for u in range(w)]
    while len(lane) > 1:
        half = len(lane) // 2
        lane = [one(lane[u] + lane[u + half]) for u in range(half)]
    s = lane[0]
    for j in range(nv, n):
        s = one(s + x[j] * y[j])
    return s


def _is_vector(t):  # pragma: no cover (typing runs only when compiling)
    return (isinstance(t, types.Array) and t.ndim == 1 and t.layout == "C"
            and t.dtype in (types.float32, types.float64))


def _emit_dots(context, builder, fty, x_data, row_data, n):  # pragma: no cover
    """IR for ``x · y_r`` in ``dot_python``'s order, for every row pointer in ``row_data``
    at once (their loads share x's, and their chains overlap); returns the sums."""
    itemsize = context.get_abi_sizeof(fty)
    w = VECTOR_BYTES // itemsize
    vty = ir.VectorType(fty, w)
    module = builder.module
    suffix = "f32" if itemsize == 4 else "f64"
    fmuladd_v = cgutils.get_or_insert_function(
        module, ir.FunctionType(vty, [vty] * 3), f"llvm.fmuladd.v{w}{suffix}")
    fmuladd_s = cgutils.get_or_insert_function(
        module, ir.FunctionType(fty, [fty] * 3), f"llvm.fmuladd.{suffix}")
    intp = n.type

    def load_v(ptr, j):
        p = builder.bitcast(builder.gep(ptr, [j]), vty.as_pointer())
        return builder.load(p, align=itemsize)

    zero_v = ir.Constant(vty, [ir.Constant(fty, 0.0)] * w)
    acc = [[cgutils.alloca_once_value(builder, zero_v) for _ in range(2)] for _ in row_data]
    step2 = ir.Constant(intp, 2 * w)
    n2 = builder.sub(n, builder.srem(n, step2))
    with cgutils.for_range_slice(builder, ir.Constant(intp, 0), n2, step2) as (j, _):
        j1 = builder.add(j, ir.Constant(intp, w))
        x0, x1 = load_v(x_data, j), load_v(x_data, j1)
        for y, (a0, a1) in zip(row_data, acc):
            builder.store(builder.call(fmuladd_v, [x0, load_v(y, j), builder.load(a0)]), a0)
            builder.store(builder.call(fmuladd_v, [x1, load_v(y, j1), builder.load(a1)]), a1)
    lanes = [cgutils.alloca_once_value(builder, builder.fadd(builder.load(a0), builder.load(a1)))
             for a0, a1 in acc]
    nv = builder.sub(n, builder.srem(n, ir.Constant(intp, w)))
    with builder.if_then(builder.icmp_signed(">", nv, n2)):
        x0 = load_v(x_data, n2)
        for y, lane in zip(row_data, lanes):
            builder.store(builder.call(fmuladd_v, [x0, load_v(y, n2), builder.load(lane)]), lane)
    sums = []
    for lane in lanes:
        v = builder.load(lane)
        width = w
        while width > 1:
            half = width // 2
            mask = ir.VectorType(ir.IntType(32), half)
            lo = builder.shuffle_vector(v, v, ir.Constant(mask, list(range(half))))
            hi = builder.shuffle_vector(v, v, ir.Constant(mask, list(range(half, width))))
            v = builder.fadd(lo, hi)
            width = half
        sums.append(cgutils.alloca_once_value(
            builder, builder.extract_element(v, ir.Constant(ir.IntType(32), 0))))
    with cgutils.for_range_slice(builder, nv, n, ir.Constant(intp, 1)) as (j, _):
        x = builder.load(builder.gep(x_data, [j]))
        for y, s in zip(row_data, sums):
            builder.store(builder.call(fmuladd_s, [x, builder.load(builder.gep(y, [j])),
                                                   builder.load(s)]), s)
    return [builder.load(s) for s in sums]


# Code generation runs only when compiling: CI's no-JIT stage, which measures
# the kernels' coverage, runs dot_python instead.
@intrinsic
def _dot(typingctx, x, y):  # pragma: no cover
    if not (_is_vector(x) and _is_vector(y) and x.dtype == y.dtype):
        return None
    sig = x.dtype(x, y)

    def codegen(context, builder, sig, args):
        xa = context.make_array(sig.args[0])(context, builder, args[0])
        ya = context.make_array(sig.args[1])(context, builder, args[1])
        nx = builder.extract_value(xa.shape, 0)
        ny = builder.extract_value(ya.shape, 0)
        n = builder.select(builder.icmp_signed("<", nx, ny), nx, ny)
        fty = context.get_value_type(sig.return_type)
        return _emit_dots(context, builder, fty, xa.data, [ya.data], n)[0]

    return sig, codegen


@intrinsic(prefer_literal=True)
def _dots(typingctx, R, x, W, i0, out):  # pragma: no cover
    """``out[i0 + r] = x · W[(i0 + r) n : (i0 + r + 1) n]`` for r < R (literal), n = len(x):
    rows of a flat matrix, each in ``dot``'s order. Unchecked, as ``dot``."""
    if not (isinstance(R, types.IntegerLiteral) and all(
            _is_vector(t) and t.dtype == x.dtype for t in (x, W, out))):
        return None
    rows = R.literal_value
    sig = types.void(R, x, W, i0, out)

    def codegen(context, builder, signature, args):
        tys = signature.args
        xa, wa, oa = (context.make_array(tys[i])(context, builder, args[i]) for i in (1, 2, 4))
        n = builder.extract_value(xa.shape, 0)
        first = context.cast(builder, args[3], tys[3], types.intp)
        rows_at = [builder.add(first, ir.Constant(n.type, r)) for r in range(rows)]
        row_data = [builder.gep(wa.data, [builder.mul(i, n)]) for i in rows_at]
        fty = context.get_value_type(x.dtype)
        for i, s in zip(rows_at, _emit_dots(context, builder, fty, xa.data, row_data, n)):
            builder.store(s, builder.gep(oa.data, [i]))
        return context.get_dummy_value()

    return sig, codegen


def dots_python(R, x, W, i0, out):
    """``dots`` in plain Python: each row's ``dot_python``."""
    n = x.shape[0]
    for i in range(i0, i0 + R):
        out[i] = dot_python(x, W[i * n : (i + 1) * n])


# Without JIT an intrinsic cannot run; the kernels then call the spec. (Not an
# njit wrapper: slicing both arguments to one length cost ~5 ns a call, 8% of
# a per-sample SGD step that calls dot 200 times.)
dot = dot_python if config.DISABLE_JIT else _dot
dots = dots_python if config.DISABLE_JIT else _dots
dot.__doc__ = """``x · y`` for two contiguous 1-d float arrays of one dtype, in the order of
``dot_python``, over their first ``min(len(x), len(y))`` elements: the generated
loads are unchecked, even under NUMBA_BOUNDSCHECK, so they never go past the
shorter one. (Not an error: a raise inside a kernel's ``prange`` loop keeps Numba
from running that loop in parallel.)"""
