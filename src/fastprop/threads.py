"""Which threads the kernels run on.

Batches are split into parts that run on Numba's thread pool; each part
computes its large layers with BLAS (OpenBLAS through SciPy), its small ones
with fused row loops. OpenBLAS's own threads fight any other pool on the
same cores (measured on this 2-core box under load: a 784-128-64-10
mini-batch-32 epoch ran 2.3x slower with OpenBLAS on 2 threads than on 1),
so while a kernel runs every OpenBLAS in the process is held to one thread
through its own ``openblas_set_num_threads`` (threadpoolctl's limit did not
take effect on SciPy's OpenBLAS here), and given its count back afterwards.
The number of parts never depends on the thread count, so results are the
same bits for any ``threads``.
"""

import ctypes
import numbers
import os
import threading

import numba

# One parallel launch at a time: Numba's "workqueue" threading layer (the
# fallback when neither OpenMP nor TBB is present) aborts the process if two
# Python threads launch parallel kernels at once. A thread that finds the
# pool busy runs the serial twin instead, with the same result.
_POOL = threading.Lock()

def max_threads():
    """The most threads the kernels can use: Numba's pool size (NUMBA_NUM_THREADS)."""
    return numba.config.NUMBA_NUM_THREADS


def default_threads():
    """Threads for ``threads=None``: the pool, or fewer when ``OMP_NUM_THREADS`` asks for fewer.

    joblib's process workers (scikit-learn's ``n_jobs``) and Dask's nannies
    set OMP_NUM_THREADS so that the processes they run at once share the
    cores. Ignoring it oversubscribes them, and OpenMP threads spinning at
    every step then starve each other: two 784-128-64-10 mini-batch-32 fits
    at once on 2 cores ran at 2k samples/s each, against 77k alone.
    """
    try:
        hint = int(os.environ.get("OMP_NUM_THREADS", ""))
    except ValueError:
        hint = 0
    pool = max_threads()
    return min(pool, hint) if hint >= 1 else pool


def check_threads(threads):
    """``threads`` as an int in [1, max_threads()], or None for ``default_threads()``."""
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, numbers.Integral):
        raise TypeError(f"threads must be None or a positive integer; got {threads!r}")
    if not 1 <= threads <= max_threads():
        raise ValueError(
            f"threads must be between 1 and {max_threads()} (NUMBA_NUM_THREADS); got {threads}"
        )
    return int(threads)


_openblas = None


def _openblas_thread_setters():
    """``(set, get)`` ctypes functions of every OpenBLAS loaded, found once."""
    global _openblas
    if _openblas is None:
        # Numba's np.dot reaches BLAS through SciPy: load it before looking.
        import scipy.linalg.cython_blas  # noqa: F401
        from threadpoolctl import ThreadpoolController

        found = []
        for lib in ThreadpoolController().select(internal_api="openblas").lib_controllers:
            dll = ctypes.CDLL(lib.filepath)
            for prefix in ("scipy_openblas_", "openblas_"):
                for suffix in ("", "64_"):
                    names = (f"{prefix}set_num_threads{suffix}", f"{prefix}get_num_threads{suffix}")
                    if all(hasattr(dll, name) for name in names):
                        found.append(tuple(getattr(dll, name) for name in names))
                        break
                else:
                    continue
                break
        _openblas = found
    return _openblas


class _BlasPin:
    """OpenBLAS held to one thread while any kernel runs, in any Python thread.

    Counted, so that the last kernel to finish gives OpenBLAS its own count
    back: with a plain save-and-restore per call, the first of two
    overlapping calls would restore the count under the second one's feet.
    One thread always, never ``threads``: OpenBLAS's float32 GEMM gives
    other bits on 2 threads than on 1 (measured here), and results must not
    depend on the thread count.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._users = 0
        self._restore = ()

    def acquire(self):
        with self._lock:
            if self._users == 0:
                setters = _openblas_thread_setters()
                self._restore = [(set_, get()) for set_, get in setters]
                for set_, _ in setters:
                    set_(1)
            self._users += 1

    def release(self):
        with self._lock:
            self._users -= 1
            if self._users == 0:
                for set_, n in self._restore:
                    set_(n)
                self._restore = ()


_BLAS_PIN = _BlasPin()


class KernelThreads:
    """Context for one kernel call: Numba's thread count set, the pool held, BLAS on one thread.

    ``parallel`` tells the kernel whether to use the pool: False with one
    thread, for a trainer whose batches are never split (``splits`` False),
    or while another Python thread holds it. ``uses_blas``: the kernel calls
    BLAS, so OpenBLAS is held to one thread for the call (other Python
    threads calling SciPy's BLAS meanwhile get one thread too).
    """

    def __init__(self, threads, splits=True, uses_blas=False):
        self.threads = default_threads() if threads is None else threads
        self.use_pool = splits and self.threads > 1
        self.uses_blas = uses_blas
        self.parallel = False
        self._pinned = False

    def __enter__(self):
        self.parallel = self.use_pool and _POOL.acquire(blocking=False)
        if self.parallel:
            numba.set_num_threads(self.threads)  # thread-local in Numba
        if self.uses_blas:
            _BLAS_PIN.acquire()
            self._pinned = True
        return self

    def __exit__(self, *exc):
        if self._pinned:
            _BLAS_PIN.release()
            self._pinned = False
        if self.parallel:
            _POOL.release()
        return False
