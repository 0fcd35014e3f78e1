"""The one home of the compiler flags every kernel is built with, and of ``twin``.

Of LLVM's fast-math flags, the kernels keep ``contract`` (a multiply and an
add may fuse into one FMA), ``nsz`` and ``arcp``. Left out on purpose:

- ``nnan`` and ``ninf``: with them LLVM may assume no NaN or inf ever
  appears, and the divergence checks (``x != x``, ``abs(x) == inf``) would be
  folded away;
- ``reassoc``: with it LLVM reorders sums to vectorise them, and may do so
  differently each time it optimises the same code. Numba optimises a
  callee once on its own and again inside every caller it is linked into
  (the copy the disk cache keeps), and a sum vectorised two ways gave 1 ulp
  apart: a fit's bits depended on which process compiled the kernel. Sums
  that need vector speed say their order themselves (``vector.dot``).
"""

FASTMATH = {"nsz", "arcp", "contract"}

# nogil lets two Python threads train two networks at once. error_model
# "numpy": a float division by zero gives inf or NaN, as in NumPy, instead of
# a check and a raise of ZeroDivisionError around every division. The check
# is a branch out of the loop, which kept LLVM from vectorising any loop with
# a division in it: the sigmoid's (float32: 4.2 ns a unit, 0.9 ns without).
# No kernel divides by a value that can be zero (validation.py rejects empty
# data), and a NaN would still reach the divergence check.
JIT_OPTIONS = {"nogil": True, "cache": True, "fastmath": FASTMATH, "error_model": "numpy"}

# A layer's block goes to a matrix product (blas.matmul_into and add_at_b:
# tiles.py's register tiles or BLAS) once it costs this many multiply-adds;
# below it the fused row loops. At 1 << 15, right for BLAS (~1 µs to set up a
# call), 64-32-10's output layer ran by rows: with the tiles taking blocks
# from 2048 multiply-adds, 64-32-10 mini-batches of 32 trained 2.2-2.3x
# faster (float32; float64 1.6x), 784-128-64-10's 1.27x.
BLAS_MIN_MACS = 1 << 11

# Products over at most TILE_MAX_ROWS rows of a block, through a weight block
# of at most TILE_MAX_BYTES, run on tiles.py's register tiles, not BLAS
# (blas.use_tiles). float32, one core, a 784 x 64 column block of W_0 (asv
# TimeTiles): forward at 16/32/64 rows 32-43/30-34/33-46 GMAC/s against
# BLAS's 17/25/32, at 128 rows both ~36-44; a 1024 x 512 block at 32 rows 18
# against 25 (the block no longer stays in L2; 1 MB of L2 a core here).
TILE_MAX_ROWS = 64
TILE_MAX_BYTES = 512 << 10

# With AVX-512's tile (8 rows by two 64-byte vectors, tiles.py), products up
# to this many rows still run on the tiles when the weight block is at least
# one tile wide. Zen 4, one core, float32, GMAC/s tiles against BLAS: 784 x
# 64 and 784 x 128 blocks at 128 and 256 rows 51-57 against 42-48; but a
# 1024 x 10 block at 128 rows 15 and 6 against 22 and 16 (single columns).
# Epochs, 2 threads, paired: 784-128-64-10 mini-batch 256 and full batch
# 1.15x; 64-32-10 mini-batch 256 0.92x with the 10-wide layer on tiles too.
# Those tiles also take weight blocks of up to TILE_WIDE_MAX_BYTES (float64,
# 784 x 128, 800 KB: 27-28 GMAC/s against BLAS's 22-24).
TILE_WIDE_MAX_ROWS = 256
TILE_WIDE_MAX_BYTES = 1 << 20


def twin(py_func, suffix, **callees):
    """``py_func`` under another name, calling ``callees`` in place of the same-named globals.

    How a serial kernel gets its parallel variant from the same source: the
    twin of ``f`` calls ``g_parallel`` wherever ``f`` calls ``g``. The new
    name matters too: Numba names a function's disk-cache files after its
    qualified name and keys their index by signature, not by compiler
    options (numba#6845), so two dispatchers built from one function would
    load each other's machine code and the "parallel" kernel could silently
    be the serial one.
    """
    import types

    # A dispatcher's Python function; under NUMBA_DISABLE_JIT njit returns it as is.
    py_func = getattr(py_func, "py_func", py_func)
    namespace = dict(py_func.__globals__, **callees)
    copy = types.FunctionType(
        py_func.__code__, namespace, py_func.__name__ + suffix, py_func.__defaults__,
        py_func.__closure__,
    )
    copy.__qualname__ = py_func.__qualname__ + suffix
    copy.__module__ = py_func.__module__
    copy.__doc__ = py_func.__doc__
    return copy
