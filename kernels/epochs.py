"""Epoch kernels: one compiled call trains one whole epoch.

Python draws the visiting order (a permutation, or ``arange`` without
shuffling) and allocates every buffer once per fit; these kernels allocate
nothing. Each returns the epoch's summed loss, measured sample by sample at the
weights in force when the sample was seen, or NaN if the parameters stopped
being finite, so the caller can restore its snapshot and report divergence.
"""

import numpy as np
from numba import njit

from .config import JIT_OPTIONS
from .layers import forward_layer, hidden_delta, output_delta, step_outer
from .network import add_gradient, all_finite, bias, block, weights


@njit(**JIT_OPTIONS)
def sgd_epoch(X, Y, order, theta, sizes, offsets, acts, deltas, act_off, lr, loss_kind):
    """Per-sample gradient descent over the samples in ``order``.

    For each sample: forward, output delta, then from the last layer down the
    hidden delta of layer l-1 (with W_l *before* its update) and the update of
    W_l, b_l. No gradient buffer is needed.
    X (n, n_0), Y (n, n_L), order (n,) int64: read.
    theta: modified in place. acts, deltas: workspace of at least one row.
    Matches ``reference.sgd_epoch``.
    """
    L = sizes.shape[0] - 1
    lr = theta.dtype.type(lr)  # a float64 lr would promote every update
    total = 0.0
    for k in range(order.shape[0]):
        s = order[k]
        a0 = block(acts, act_off, sizes, 0, 1)
        for j in range(sizes[0]):
            a0[0, j] = X[s, j]
        for l in range(L):
            forward_layer(
                block(acts, act_off, sizes, l, 1),
                weights(theta, sizes, offsets, l),
                bias(theta, sizes, offsets, l),
                block(acts, act_off, sizes, l + 1, 1),
            )
        total += output_delta(
            block(acts, act_off, sizes, L, 1),
            Y[s : s + 1],
            block(deltas, act_off, sizes, L, 1),
            loss_kind,
        )
        for l in range(L - 1, -1, -1):
            W = weights(theta, sizes, offsets, l)
            d = block(deltas, act_off, sizes, l + 1, 1)
            if l > 0:
                hidden_delta(d, W, block(acts, act_off, sizes, l, 1), block(deltas, act_off, sizes, l, 1))
            step_outer(block(acts, act_off, sizes, l, 1), d, W, bias(theta, sizes, offsets, l), lr)
    if not all_finite(theta):
        return np.nan
    return total


@njit(**JIT_OPTIONS)
def minibatch_epoch(
    X, Y, order, theta, sizes, offsets, grad, acts, deltas, targets, act_off,
    batch_size, chunk, lr, mean,
    loss_kind,
):
    """Mini-batch gradient descent; full batch is ``batch_size >= n``.

    Batches are consecutive slices of ``order``, the last one partial. Each
    batch's gradient is summed ``chunk`` rows at a time into ``grad``, divided
    by the batch's own size when ``mean``, then applied to every parameter.
    X (n, n_0), Y (n, n_L), order (n,) int64: read.
    theta: modified in place. grad, acts, deltas, targets: workspace.
    Matches ``reference.minibatch_epoch``.
    """
    n = order.shape[0]
    total = 0.0
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        grad[:] = 0
        total += add_gradient(
            X, Y, order, start, stop, theta, sizes, offsets, grad, acts, deltas, targets,
            act_off, chunk, loss_kind,
        )
        step = theta.dtype.type(lr / (stop - start) if mean else lr)
        for p in range(theta.shape[0]):
            theta[p] -= step * grad[p]
    if not all_finite(theta):
        return np.nan
    return total
