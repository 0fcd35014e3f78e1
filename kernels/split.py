"""A batch that fits in one workspace block, split by columns and rows forward, by rows updating.

``parallel.batch_step`` used to give each part of a mini-batch its own
gradient buffer, zeroed per batch and then reduced: on 784-128-64-10 with
batches of 32 that reduction ate the second core's gain, and on
1024-1024-1024-10 with batches of 256 each part zeroed and summed 8.4 MB
per batch. When all m rows of a batch fit in one block of the workspace,
no gradient buffer is needed (``parallel.batch_step`` takes this path up to
``SPLIT_MAX_ROWS`` rows, where it measured faster):

0. when the first layer goes to a matrix product: its forward pass for all
   m rows, by column blocks of W_0 (``first_layer_columns``);
1. rows: part p runs forward and backward for its slice of rows, into the
   block's rows, and leaves its deltas times -step (every part reads the
   weights, none writes them);
2. update: part c adds ``A[:, i] ᵀ D`` over all m rows to its block i of
   each layer's rows of W, in place (one product with beta = 1 straight into
   the weights), and ``Σ_rows D[:, j]`` to its block j of the biases.

The row and column blocks are a function of m and the network (``n_parts``),
never of the thread count; ``*_parallel`` twins run them on Numba's pool,
the serial ones one after the other, with the same bits.
"""

from numba import njit, prange

from .blas import add_at_b, matmul_bt_into, matmul_into
from .config import JIT_OPTIONS, twin
from .layers import forward_row, hidden_delta_row, output_delta_row
from .network import (
    add_bias_sigmoid,
    add_bias_sigmoid_row,
    bias,
    block,
    flat_weights,
    gather_rows,
    row,
    times_sigmoid_prime,
    use_blas,
    weights,
)


@njit(**JIT_OPTIONS)
def forward_backward_rows(X, Y, order, start, lo, hi, theta, sizes, offsets, acts, deltas,
                          act_off, m, first, loss_kind, step):
    """Forward and backward of the batch rows ``lo:hi`` (of m), samples ``order[start + r]``.

    Writes those rows of every layer's activations, and of its deltas times
    ``-step`` (what ``update_phase`` adds), in the block of m rows; reads
    theta. ``first`` = 1: the input rows and the first layer's activations
    are already in the block (``first_layer_columns``), the forward pass
    starts at layer 1. Returns their summed loss.
    """
    L = sizes.shape[0] - 1
    rows = hi - lo
    if first == 0:
        gather_rows(X, order, start + lo, block(acts, act_off, sizes, 0, m)[lo:hi])
    for l in range(first, L):
        b = bias(theta, sizes, offsets, l)
        if use_blas(rows, sizes[l], sizes[l + 1]):
            Z = block(acts, act_off, sizes, l + 1, m)[lo:hi]
            matmul_into(block(acts, act_off, sizes, l, m)[lo:hi], weights(theta, sizes, offsets, l),
                        Z)
            add_bias_sigmoid(Z, b)
        else:
            W = flat_weights(theta, sizes, offsets, l)
            for r in range(lo, hi):
                forward_row(row(acts, act_off, sizes, l, r), W, b,
                            row(acts, act_off, sizes, l + 1, r))
    total = 0.0
    for r in range(lo, hi):
        total += output_delta_row(row(acts, act_off, sizes, L, r), Y[order[start + r]],
                                  row(deltas, act_off, sizes, L, r), loss_kind)
    for l in range(L - 1, 0, -1):
        if use_blas(rows, sizes[l], sizes[l + 1]):
            D_prev = block(deltas, act_off, sizes, l, m)[lo:hi]
            matmul_bt_into(block(deltas, act_off, sizes, l + 1, m)[lo:hi],
                           weights(theta, sizes, offsets, l), D_prev)
            times_sigmoid_prime(D_prev, block(acts, act_off, sizes, l, m)[lo:hi])
        else:
            W = flat_weights(theta, sizes, offsets, l)
            for r in range(lo, hi):
                hidden_delta_row(row(deltas, act_off, sizes, l + 1, r), W,
                                 row(acts, act_off, sizes, l, r), row(deltas, act_off, sizes, l, r))
    # Scaled only now: every hidden delta above came from the unscaled ones.
    for l in range(1, L + 1):
        for r in range(lo, hi):
            d = row(deltas, act_off, sizes, l, r)
            for j in range(sizes[l]):
                d[j] *= -step
    return total


def _first_layer_columns(theta, sizes, offsets, acts, act_off, m, n_p):
    """Phase 0 (``first`` = 1): column block c of the first layer's activations, all m rows.

    Each part reads its own columns of W_0, so only a quarter of W_0 crosses
    between two cores per batch (the rows the other core updated, in this
    part's columns), where splitting the forward pass by rows had every core
    read all of W_0, half of it just written by the other core.
    """
    n1 = sizes[1]
    A = block(acts, act_off, sizes, 0, m)
    for c in prange(n_p):
        c0, c1 = (n1 * c) // n_p, (n1 * (c + 1)) // n_p
        if c1 > c0:
            matmul_into(A, weights(theta, sizes, offsets, 0)[:, c0:c1],
                        block(acts, act_off, sizes, 1, m)[:, c0:c1])
            b = bias(theta, sizes, offsets, 0)[c0:c1]
            # Each row's columns as a slice of the flat buffer, whose type
            # Numba knows contiguous: through the 2-d column block, the
            # sigmoid ran scalar (784-128-64-10, batches of 32: 28 of 120 µs).
            for r in range(m):
                start = act_off[1] + r * n1
                add_bias_sigmoid_row(acts[start + c0 : start + c1], b)


def _rows_phase(X, Y, order, start, m, theta, sizes, offsets, acts, deltas, act_off, n_p,
                part_loss, first, loss_kind, step):
    """Phase 1: part p's slice of rows forward and backward; its loss to ``part_loss[p]``."""
    for p in prange(n_p):
        part_loss[p] = forward_backward_rows(
            X, Y, order, start, (m * p) // n_p, (m * (p + 1)) // n_p, theta, sizes, offsets,
            acts, deltas, act_off, m, first, loss_kind, step,
        )


def _update_phase(theta, sizes, offsets, acts, deltas, act_off, m, n_p):
    """Phase 2: part c adds ``Aᵀ D`` (D holds -step times the deltas) to its block of each
    layer's rows of W, and ``Σ_rows D`` to its block of the biases.

    Blocks of rows, not columns: each part writes one contiguous stretch of
    W. Two parts writing the two column halves of every row of W_0 (rows of
    512 bytes) ran their products 1.2-1.3x slower than one part alone; two
    blocks of rows, each as fast as alone (784-128-64-10, mini-batches of 32:
    this phase 70 -> 49 µs a batch on two threads).
    """
    L = sizes.shape[0] - 1
    for c in prange(n_p):
        for l in range(L):
            n_in, n_out = sizes[l], sizes[l + 1]
            D = block(deltas, act_off, sizes, l + 1, m)
            j0, j1 = (n_out * c) // n_p, (n_out * (c + 1)) // n_p
            b = bias(theta, sizes, offsets, l)
            for j in range(j0, j1):
                s = D.dtype.type(0)
                for r in range(m):
                    s += D[r, j]
                b[j] += s
            i0, i1 = (n_in * c) // n_p, (n_in * (c + 1)) // n_p
            if i1 == i0:
                continue
            A = block(acts, act_off, sizes, l, m)[:, i0:i1]
            Wr = weights(theta, sizes, offsets, l)[i0:i1]
            if use_blas(m, i1 - i0, n_out):
                add_at_b(A, D, Wr)
            else:
                for r in range(m):
                    a = A[r]
                    d = D[r]
                    for i in range(i1 - i0):
                        x = a[i]
                        w = Wr[i]
                        for j in range(n_out):
                            w[j] += x * d[j]


first_layer_columns = njit(**JIT_OPTIONS)(_first_layer_columns)
first_layer_columns_parallel = njit(parallel=True, **JIT_OPTIONS)(
    twin(_first_layer_columns, "_parallel")
)
rows_phase = njit(**JIT_OPTIONS)(_rows_phase)
rows_phase_parallel = njit(parallel=True, **JIT_OPTIONS)(twin(_rows_phase, "_parallel"))
update_phase = njit(**JIT_OPTIONS)(_update_phase)
update_phase_parallel = njit(parallel=True, **JIT_OPTIONS)(twin(_update_phase, "_parallel"))


@njit(**JIT_OPTIONS)
def split_batch_step(X, Y, order, start, stop, theta, sizes, offsets, acts, deltas, act_off,
                     n_p, part_loss, step, loss_kind):
    """One update from the batch ``order[start:stop]`` (at most the block's rows), in n_p parts.

    ``step`` is lr (sum) or lr / batch size (mean). Returns the batch's
    summed loss at the weights before the update, the parts' losses added
    in order. Matches ``reference.minibatch_epoch``'s step up to the order
    of additions.
    """
    m = stop - start
    first = 0
    if use_blas(m, sizes[0], sizes[1]):
        first = 1
        gather_rows(X, order, start, block(acts, act_off, sizes, 0, m))
        first_layer_columns(theta, sizes, offsets, acts, act_off, m, n_p)
    rows_phase(X, Y, order, start, m, theta, sizes, offsets, acts, deltas, act_off, n_p,
               part_loss, first, loss_kind, step)
    update_phase(theta, sizes, offsets, acts, deltas, act_off, m, n_p)
    total = 0.0
    for p in range(n_p):
        total += part_loss[p]
    return total


split_batch_step_parallel = njit(**JIT_OPTIONS)(
    twin(split_batch_step, "_parallel", first_layer_columns=first_layer_columns_parallel,
         rows_phase=rows_phase_parallel,
         update_phase=update_phase_parallel)
)
