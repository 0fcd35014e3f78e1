"""A batch's gradient split into parts that run on all cores, with thread-count-free results.

A batch of m rows is cut into ``n_parts`` contiguous slices of its visiting
order (how many depends on m and the network, never on the number of
threads). Part p sums its slice's gradient into its own buffer
``partials[p]``; the parts are then added in the fixed order 0, 1, ..., so
every run gives the same bits whether one thread or eight did the work.
Nothing is ever added into a shared buffer inside ``prange``.

Each kernel is compiled twice from the same Python source (``config.twin``):
``*_parallel`` (the loops over parts and over parameter blocks are
``prange`` loops on Numba's thread pool) and the serial one, which the
trainer calls when it runs on one thread, when its batches are never split,
or while another Python thread holds the pool. Both give identical results,
and a process that never trains in parallel never compiles the parallel chain.
"""

import numpy as np
from numba import njit, prange

from .config import JIT_OPTIONS, twin
from .network import add_gradient, add_gradient_rows, all_finite, never_called
from .split import split_batch_step, split_batch_step_parallel

# Parameters per block of the parallel reduction: large enough to amortise a
# block's scheduling, small enough to spread a 100k-parameter net over threads.
REDUCE_BLOCK = 4096

# Rows per part. A part's gradient GEMM does one multiply-add per weight per
# row it holds, between a read and a write of that weight's partial sum, so
# parts of few rows are bound by memory: 784-128-64-10 batches of 256 ran
# 35% slower in 8 parts of 32 rows than in 2 of 128, on the same 2 cores.
# Beyond the first split, a part gets TARGET_PART_ROWS rows; two parts need
# only MIN_PART_ROWS each (mini-batches of 32 still use two cores).
MIN_PART_ROWS = 16
TARGET_PART_ROWS = 128

# Longest split batch updated by columns without gradient buffers
# (split.py). Measured epochs, float32, 2 threads, interleaved with the
# buffers' path: 784-128-64-10 mini-batch 32 ran at a median 116k samples/s
# against 92k, but mini-batch 256 at 147k against 195k and 64-32-10
# mini-batch 256 at 1.66M against 1.82M: over 256 rows the buffers' zeroing
# and reduction are cheap, and every column block re-reads all rows of A.
SPLIT_MAX_ROWS = 64


def _n_parts(m, n_weights, max_parts, min_part_macs):
    """How many parts a batch of m rows is cut into: a function of m and the network only."""
    by_rows = max(m // TARGET_PART_ROWS, min(2, m // MIN_PART_ROWS))
    by_work = (m * n_weights) // max(min_part_macs, 1)
    return max(1, min(max_parts, by_rows, by_work))


def _parts_gradient(
    X, Y, order, start, stop, theta, sizes, offsets, partials, part_acts, part_deltas,
    part_loss, act_off, chunk, n_parts, loss_kind,
):
    """Gradient of ``order[start:stop]`` in ``n_parts`` parts, part p into ``partials[p]``.

    partials (>= n_parts, n_params), part_acts, part_deltas (>= n_parts, ...):
    workspace rows, one per part, each laid out as in ``add_gradient``.
    part_loss (>= n_parts,) float64: written, each part's summed loss. The
    parts' sum equals ``add_gradient`` over the whole range up to the order
    of the additions.
    """
    m = stop - start
    for p in prange(n_parts):
        lo = start + (m * p) // n_parts
        hi = start + (m * (p + 1)) // n_parts
        g = partials[p]
        for i in range(g.shape[0]):
            g[i] = 0
        # Each part calls BLAS for its large layers, single-threaded (the
        # trainer holds OpenBLAS to one thread while parts run), so parts on
        # Numba's threads never wait on a second pool; the serial twin takes
        # the very same path, hence the same bits.
        part_loss[p] = add_gradient(
            X, Y, order, lo, hi, theta, sizes, offsets, g, part_acts[p], part_deltas[p],
            act_off, chunk, loss_kind,
        )


def _reduce_step(partials, n_parts, theta, step):
    """``theta -= step * (partials[0] + partials[1] + ...)``, added in that order.

    The sum is left in ``partials[0]``. Blocks of parameters are independent,
    so they spread over threads without changing a single bit.
    """
    n = theta.shape[0]
    n_blocks = (n + REDUCE_BLOCK - 1) // REDUCE_BLOCK
    for k in prange(n_blocks):
        lo = k * REDUCE_BLOCK
        hi = min(n, lo + REDUCE_BLOCK)
        g0 = partials[0, lo:hi]
        for p in range(1, n_parts):
            gp = partials[p, lo:hi]
            for i in range(hi - lo):
                g0[i] += gp[i]
        t = theta[lo:hi]
        for i in range(hi - lo):
            t[i] -= step * g0[i]


n_parts = njit(inline="always", **JIT_OPTIONS)(_n_parts)
parts_gradient = njit(**JIT_OPTIONS)(_parts_gradient)
parts_gradient_parallel = njit(parallel=True, **JIT_OPTIONS)(twin(_parts_gradient, "_parallel"))
reduce_step = njit(**JIT_OPTIONS)(_reduce_step)
reduce_step_parallel = njit(parallel=True, **JIT_OPTIONS)(twin(_reduce_step, "_parallel"))


@njit(**JIT_OPTIONS)
def batch_step(
    X, Y, order, start, stop, theta, sizes, offsets, partials, part_acts, part_deltas,
    part_loss, act_off, chunk, n_weights, max_parts, min_part_macs, step_scale, loss_kind,
):
    """One mini-batch update: gradient of ``order[start:stop]``, then ``theta -= step · grad``.

    ``step_scale`` is lr (sum) or lr / batch size (mean), in theta's dtype.
    A batch too small to split runs as one part, straight into
    ``partials[0]``, with no thread pool involved. A split batch of at most
    ``SPLIT_MAX_ROWS`` rows (within one block of ``chunk``) needs no
    gradient buffers at all (``split.split_batch_step``); a longer one sums
    each part's gradient into ``partials``. Returns the batch's summed loss at
    the weights before the update.
    """
    n_p = n_parts(stop - start, n_weights, max_parts, min_part_macs)
    if n_p == 1:
        g = partials[0]
        g[:] = 0
        total = add_gradient(
            X, Y, order, start, stop, theta, sizes, offsets, g, part_acts[0], part_deltas[0],
            act_off, chunk, loss_kind,
        )
        for i in range(theta.shape[0]):
            theta[i] -= step_scale * g[i]
        return total
    if stop - start <= min(chunk, SPLIT_MAX_ROWS):
        return split_batch_step(
            X, Y, order, start, stop, theta, sizes, offsets, part_acts[0], part_deltas[0],
            act_off, n_p, part_loss, step_scale, loss_kind,
        )
    parts_gradient(
        X, Y, order, start, stop, theta, sizes, offsets, partials, part_acts, part_deltas,
        part_loss, act_off, chunk, n_p, loss_kind,
    )
    reduce_step(partials, n_p, theta, step_scale)
    total = 0.0
    for p in range(n_p):
        total += part_loss[p]
    return total


@njit(**JIT_OPTIONS)
def parts_epoch(
    X, Y, order, theta, sizes, offsets, partials, part_acts, part_deltas, part_loss,
    act_off, batch_size, chunk, n_weights, max_parts, min_part_macs, lr, mean,
    loss_kind,
):
    """Mini-batch gradient descent over ``order`` with each batch split into parts.

    Full batch is ``batch_size >= n``. Matches ``reference.minibatch_epoch``
    up to the order in which a batch's gradient is summed. Returns the
    epoch's summed loss, or NaN if the parameters stopped being finite.
    """
    n = order.shape[0]
    total = 0.0
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        step = theta.dtype.type(lr / (stop - start) if mean else lr)
        total += batch_step(
            X, Y, order, start, stop, theta, sizes, offsets, partials, part_acts, part_deltas,
            part_loss, act_off, chunk, n_weights, max_parts, min_part_macs, step,
            loss_kind,
        )
    if not all_finite(theta):
        return np.nan
    return total


# The parallel chain: the same two kernels calling the parallel variants.
batch_step_parallel = njit(**JIT_OPTIONS)(
    twin(batch_step, "_parallel", parts_gradient=parts_gradient_parallel,
         reduce_step=reduce_step_parallel, split_batch_step=split_batch_step_parallel)
)
parts_epoch_parallel = njit(**JIT_OPTIONS)(
    twin(parts_epoch, "_parallel", batch_step=batch_step_parallel)
)


# The whole-batch chain, for trainers whose batches are never split
# (max_parts == 1): the parts kernels are not compiled into it, which keeps
# the first fit's compilation short.
batch_step_whole = njit(inline="always", **JIT_OPTIONS)(
    twin(batch_step, "_whole", parts_gradient=never_called, reduce_step=never_called,
         split_batch_step=never_called)
)
parts_epoch_whole = njit(inline="always", **JIT_OPTIONS)(
    twin(parts_epoch, "_whole", batch_step=batch_step_whole)
)
# The same for blocks too small for any matrix product (``network.add_gradient_rows``).
batch_step_rows = njit(inline="always", **JIT_OPTIONS)(
    twin(batch_step, "_rows", parts_gradient=never_called, reduce_step=never_called,
         split_batch_step=never_called, add_gradient=add_gradient_rows)
)
parts_epoch_rows = njit(inline="always", **JIT_OPTIONS)(
    twin(parts_epoch, "_rows", batch_step=batch_step_rows)
)
