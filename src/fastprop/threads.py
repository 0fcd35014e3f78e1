"""Which threads the kernels run on.

Batches split into parts run on Numba's thread pool, with the fused row
loops only: OpenBLAS called from each part would bring its own pool onto the
same cores, and OpenBLAS cannot reliably be held to one thread at run time
(here ``openblas_set_num_threads(1)`` through threadpoolctl still ran 2
threads, and an unsplit 64-32-10 batch of 256 rows took 8 ms instead of
20 us on a busy machine). The number of parts never depends on the thread
count, so results are the same bits for any ``threads``.
"""

import numbers
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


class KernelThreads:
    """Context for one kernel call: Numba's thread count set, the pool held.

    ``parallel`` tells the kernel whether to use the pool: False with one
    thread, for a trainer whose batches are never split (``splits`` False:
    then entering costs nothing), or while another Python thread holds it.
    """

    def __init__(self, threads, splits=True):
        self.threads = max_threads() if threads is None else threads
        self.use_pool = splits and self.threads > 1
        self.parallel = False

    def __enter__(self):
        self.parallel = self.use_pool and _POOL.acquire(blocking=False)
        if self.parallel:
            numba.set_num_threads(self.threads)  # thread-local in Numba
        return self

    def __exit__(self, *exc):
        if self.parallel:
            _POOL.release()
        return False
