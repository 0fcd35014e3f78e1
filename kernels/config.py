"""The one home of the compiler flags every kernel is built with.

``nnan`` and ``ninf`` are left out on purpose: with them LLVM may assume no NaN
or inf ever appears, and the divergence checks (``x != x``, ``abs(x) == inf``)
would be folded away. What is kept lets LLVM contract to FMA and reorder sums,
which is what vectorises the dot products.
"""

FASTMATH = {"nsz", "arcp", "contract", "reassoc"}

# nogil lets two Python threads train two networks at once.
JIT_OPTIONS = {"nogil": True, "cache": True, "fastmath": FASTMATH}

# A layer's block goes to BLAS (np.dot) once it costs this many multiply-adds;
# below it the fused row loops win, since a BLAS call costs ~1 µs to set up.
BLAS_MIN_MACS = 1 << 15

# A threshold no layer reaches: every layer runs the fused row loops.
NO_BLAS = 1 << 62
