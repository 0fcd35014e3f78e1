"""e^x for x <= 0 in float32 and float64, in arithmetic LLVM can vectorise.

Numba calls libm's ``expf`` for ``np.exp``, one element at a time (no SVML
in pip's llvmlite), so every loop of sigmoids ran scalar: 4.2 ns a unit, 8%
of a 784-128-64-10 mini-batch step and more on smaller networks. Here
e^x = 2^k e^r with k = round(x / ln 2) and |r| <= ln 2 / 2: r comes from a
two-constant (Cody-Waite) reduction, e^r from its Taylor polynomial of
degree 7 (truncation error 5e-9, below float32's half ulp), and 2^k from
the exponent bits; all in float32 (the kernels never widen a float32
network's arithmetic), within 1.3 ulp of the exact value. Only x <= 0 is
needed (the sigmoid takes e^-|z|); x below float32's smallest normal
result gives 0, NaN stays NaN.

float64 (``exp_nonpositive_64``) takes the same path with a degree-13
polynomial (truncation error 4e-18) and k split over two powers of two, so
that results down to the smallest subnormal, 2^-1074, round once: within
0.9 ulp of the exact value, where glibc's exp is within 0.51. It replaced
libm's exp at 7.0 ns a unit against 1.2 (a 256-row block's sigmoids; they were
a quarter of a float64 784-128-64-10 forward pass).
"""

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import config
from numba.extending import intrinsic, overload

from .config import FASTMATH

# ln 2 in two parts: k * LN2_HI is exact for the k that occur (|k| <= 126).
LN2_HI = 0.693359375
LN2_LO = -2.12194440e-4
LOG2_E = 1.44269504088896341
# Below this e^x is under float32's smallest normal number, 2^-126.
X_MIN = -87.33654
# 1/k! for k = 7, ..., 2.
C7, C6, C5, C4, C3, C2 = 1 / 5040, 1 / 720, 1 / 120, 1 / 24, 1 / 6, 1 / 2


# Per float type: its integer twin, exponent bias and mantissa bits.
_FORMATS = {np.dtype(np.float32): (np.int32, 127, 23), np.dtype(np.float64): (np.int64, 1023, 52)}


def _pow2_python(k, like):
    """2^k in the float type of ``like``, for an integer k in its normal range."""
    dtype = np.asarray(like).dtype
    int_type, bias, mantissa = _FORMATS[dtype]
    return np.array((int(k) + bias) << mantissa, dtype=int_type).view(dtype)[()]


# Code generation runs only when compiling; _pow2_python is its twin.
@intrinsic
def _pow2_jit(typingctx, k, like):  # pragma: no cover
    """2^k in ``like``'s float type from the exponent bits; k an integer in its normal range
    ([-126, 127] in float32, [-1022, 1023] in float64). k may be an int32 for float64 too:
    a float64 becomes an int32 in one vector instruction on AVX2, an int64 only with
    AVX-512."""
    if not isinstance(k, types.Integer) or like not in (types.float32, types.float64):
        return None
    wide = like == types.float64
    _, bias, mantissa = _FORMATS[np.dtype(np.float64 if wide else np.float32)]

    def codegen(context, builder, sig, args):
        int_type = ir.IntType(64 if wide else 32)
        kk = context.cast(builder, args[0], sig.args[0], types.int64 if wide else types.int32)
        bits = builder.shl(builder.add(kk, ir.Constant(int_type, bias)),
                           ir.Constant(int_type, mantissa))
        return builder.bitcast(bits, ir.DoubleType() if wide else ir.FloatType())

    return like(k, like), codegen


pow2 = _pow2_python if config.DISABLE_JIT else _pow2_jit

# fdlibm's split of ln 2: k * LN2_HI_64 is exact for |k| < 2^11.
LN2_HI_64 = 6.93147180369123816490e-01
LN2_LO_64 = 1.90821492927058770002e-10
# Below this e^x is under half of float64's smallest subnormal, 2^-1074: 0.
X_MIN_64 = -745.2
# 1/k! for k = 13, ..., 2.
D13, D12, D11, D10, D9, D8, D7, D6, D5, D4, D3, D2 = (
    1 / 6227020800, 1 / 479001600, 1 / 39916800, 1 / 3628800, 1 / 362880, 1 / 40320,
    1 / 5040, 1 / 720, 1 / 120, 1 / 24, 1 / 6, 1 / 2,
)


def expf_nonpositive(x):
    """e^x for a float32 x <= 0, within 1.3 ulp; 0 below ``X_MIN``, NaN kept."""
    f = np.float32
    xc = x if x >= f(X_MIN) else f(0)  # NaN fails the test too; it is returned below
    k = np.floor(xc * f(LOG2_E) + f(0.5))
    r = (xc - k * f(LN2_HI)) - k * f(LN2_LO)
    # Horner's rule, unrolled: a loop over a tuple becomes a switch in Numba,
    # which stops LLVM from vectorising the caller's loop.
    p = f(C7)
    p = p * r + f(C6)
    p = p * r + f(C5)
    p = p * r + f(C4)
    p = p * r + f(C3)
    p = p * r + f(C2)
    p = (p * r + f(1)) * r + f(1)
    e = p * pow2(np.int32(k), p)
    e = e if x >= f(X_MIN) else f(0)
    return x if x != x else e


def exp_nonpositive_64(x):
    """e^x for a float64 x <= 0, within 0.9 ulp, subnormal results included; NaN kept."""
    xc = x if x >= X_MIN_64 else 0.0
    k = np.floor(xc * LOG2_E + 0.5)
    r = (xc - k * LN2_HI_64) - k * LN2_LO_64
    p = D13
    p = p * r + D12
    p = p * r + D11
    p = p * r + D10
    p = p * r + D9
    p = p * r + D8
    p = p * r + D7
    p = p * r + D6
    p = p * r + D5
    p = p * r + D4
    p = p * r + D3
    p = p * r + D2
    p = (p * r + 1.0) * r + 1.0
    # 2^k as 2^k1 2^(k - k1): each factor is a normal number for k down to
    # -1075, and a subnormal result is rounded once, by the second product.
    ki = np.int32(k)
    k1 = ki >> 1
    e = (p * pow2(k1, p)) * pow2(ki - k1, p)
    e = e if x >= X_MIN_64 else 0.0
    return x if x != x else e


def exp_nonpositive(x):
    """e^x for x <= 0: compiled, ``expf_nonpositive`` or ``exp_nonpositive_64``.

    As plain Python (CI's no-JIT stage, whose subject is indexing and coverage)
    it is NumPy's exp in both, so that those tests meet the reference's
    roundings; tests/test_kernels_expf.py holds the Python ``expf_nonpositive``
    and ``exp_nonpositive_64`` to the compiled ones.
    """
    return np.exp(x)


@overload(exp_nonpositive,
          jit_options={"fastmath": FASTMATH, "error_model": "numpy"})
def _ol_exp_nonpositive(x):  # pragma: no cover  (typing runs only when compiling)
    if x == types.float32:
        return expf_nonpositive
    if x == types.float64:
        return exp_nonpositive_64
    return lambda x: np.exp(x)
