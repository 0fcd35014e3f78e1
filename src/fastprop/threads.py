"""Which threads the kernels run on.

Batches are split into parts that run on Numba's thread pool; large layers
call BLAS (OpenBLAS) from inside those parts. Two pools on the same cores
fight (measured here: OpenBLAS with 2 threads under a busy machine ran a
784-128-64-10 epoch 10x slower than with 1), so while a kernel runs BLAS is
held to one thread and Numba's pool alone spreads the work. The number of
parts never depends on the thread count, so results are the same bits for
any ``threads``.
"""

import numbers
import threading

import numba

# One parallel launch at a time: Numba's "workqueue" threading layer (the
# fallback when neither OpenMP nor TBB is present) aborts the process if two
# Python threads launch parallel kernels at once. A thread that finds the
# pool busy runs the serial twin instead, with the same result.
_POOL = threading.Lock()

_blas = None


def max_threads():
    """The most threads the kernels can use: Numba's pool size (NUMBA_NUM_THREADS)."""
    return numba.config.NUMBA_NUM_THREADS


def check_threads(threads):
    """``threads`` as an int in [1, max_threads()], or None for all of them."""
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, numbers.Integral):
        raise TypeError(f"threads must be None or a positive integer; got {threads!r}")
    if not 1 <= threads <= max_threads():
        raise ValueError(
            f"threads must be between 1 and {max_threads()} (NUMBA_NUM_THREADS); got {threads}"
        )
    return int(threads)


def _blas_libraries():
    """threadpoolctl controllers of every BLAS in the process, found once."""
    global _blas
    if _blas is None:
        # Numba's np.dot reaches BLAS through SciPy: load it before looking.
        import scipy.linalg.cython_blas  # noqa: F401
        from threadpoolctl import ThreadpoolController

        _blas = ThreadpoolController().select(user_api="blas").lib_controllers
    return _blas


class KernelThreads:
    """Context for one kernel call: Numba's thread count set, BLAS held to one thread.

    ``parallel`` tells the kernel whether to use the pool (False with one
    thread, or while another Python thread holds it).
    """

    def __init__(self, threads, uses_blas):
        self.threads = max_threads() if threads is None else threads
        self.uses_blas = uses_blas
        self.parallel = False

    def __enter__(self):
        self.parallel = self.threads > 1 and _POOL.acquire(blocking=False)
        if self.parallel:
            numba.set_num_threads(self.threads)  # thread-local in Numba
        self._restore = []
        if self.uses_blas:
            for lib in _blas_libraries():
                if lib.num_threads != 1:
                    self._restore.append((lib, lib.num_threads))
                    lib.set_num_threads(1)
        return self

    def __exit__(self, *exc):
        for lib, n in self._restore:
            lib.set_num_threads(n)
        if self.parallel:
            _POOL.release()
        return False
