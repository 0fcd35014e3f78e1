"""One process at a time compiles fastprop's parallel kernels into a Numba cache.

Numba compiles a ``prange`` kernel into a function and a gufunc, cached in
two files whose names carry a version counter that depends on what the
process compiled before (numba#10128). Two processes compiling the same
parallel kernel at once into one cache directory (Dask workers sharing
``NUMBA_CACHE_DIR``, parallel jobs on a cold cache) can leave a function
file of one compilation beside a gufunc file of the other, and every
process that loads that pair later crashes with a segmentation fault. It
happened in this project's CI, with two pytest processes sharing a cache.

So before a parallel kernel's first call in a process, ``ensure_compiled``
takes an exclusive ``flock`` on ``fastprop-compile.lock`` in the cache
directory (the temporary directory when Numba caches beside the sources)
and compiles or loads the kernel for the call's types while holding it:
the first process compiles and writes the cache, the others wait and load.
Where ``flock`` is missing (Windows) or the lock file cannot be created,
compilation goes unguarded, as Numba's own does.
"""

import contextlib
import os
import tempfile

from numba.core import config

try:
    import fcntl
except ImportError:  # pragma: no cover  (Windows)
    fcntl = None

LOCK_NAME = "fastprop-compile.lock"


def lock_path():
    """The lock file shared by every process that uses the same Numba cache."""
    return os.path.join(config.CACHE_DIR or tempfile.gettempdir(), LOCK_NAME)


@contextlib.contextmanager
def compile_lock():
    """Hold the exclusive cross-process compile lock for the ``with`` block."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    path = lock_path()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        handle = open(path, "a")  # noqa: SIM115  (closed below, after the unlock)
    except OSError:
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_compiled(kernel, args):
    """Compile (or load from the cache) ``kernel`` for ``args``' types under the lock.

    Costs one type lookup per argument when the kernel is already compiled
    for them in this process, which is every call but the first.
    """
    overloads = getattr(kernel, "overloads", None)
    if overloads is None:  # NUMBA_DISABLE_JIT: a plain Python function
        return
    sig = tuple(kernel.typeof_pyval(a) for a in args)
    if sig in overloads:
        return
    with compile_lock():
        kernel.compile(sig)
