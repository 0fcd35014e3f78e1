"""Epoch kernels for tiny networks: one hidden layer, every layer at most TINY_WIDTH wide.

On the teaching notes' 3-4-1 network a per-sample step is about 40
multiply-adds and 5 exponentials, less work than the generic kernels spend
on running loops of runtime length (3, 4 and 1 iterations: loop set-up,
vector-or-scalar dispatch, alias checks) and on views of rows. Here every
loop runs over the constant TINY_WIDTH with a guard (``if j < n1``), which
LLVM unrolls completely, and every view is taken once per call, outside the
epoch loop. The operations are those of ``epochs.sgd_epoch`` and
``parallel.parts_epoch`` with one part, in the same order (each gradient
sums its rows in visiting order, each loss is summed per sample, then per
batch, then per epoch), but the results agree with those kernels to
rounding, not bit for bit: LLVM fuses multiply-adds differently in the
unrolled loops (3-4-1, one epoch: 4e-16 relative in float64). A network
always trains with the same kernel, so its results never depend on block
sizes or threads.
"""

import numpy as np
from numba import njit

from .config import JIT_OPTIONS
from .network import all_finite
from .scalar import clip_eps, output_delta_term, sample_loss_term, sigmoid_libm

# Widest layer these kernels take. The loops run to this constant whatever the
# network, so a wider bound costs every tiny network time (8 ran the 3-4-1
# epoch ~20% slower than 4).
TINY_WIDTH = 4


def is_tiny(layer_sizes):
    """Whether ``run_epochs_tiny`` can train a network of these layer sizes."""
    return len(layer_sizes) == 3 and max(layer_sizes) <= TINY_WIDTH


@njit(**JIT_OPTIONS)
def run_epochs_tiny(
    X, Y, orders, theta, sizes, grad, acts, deltas, snapshot, losses,
    per_sample, batch_size, lr, mean, loss_kind, tol,
):
    """``epochs.run_epochs`` for a network that ``is_tiny``: same epochs, same stopping rule.

    Epoch e visits ``orders[e]``, per sample (``per_sample``) or in batches of
    ``batch_size`` (the last one partial), and its loss (divided by n when
    ``mean``) goes to ``losses[e]``. Stops after the first epoch whose loss is
    <= ``tol`` (a negative tol never stops), or after a diverging epoch: then
    ``theta`` holds its value before that epoch and ``losses[e]`` is NaN.
    Returns the number of epochs run; entries of ``losses`` after it are
    left untouched.

    ``theta`` is copied to ``snapshot`` once, at the start; an epoch that
    leaves it non-finite restores that copy and runs the block's earlier
    epochs again (the kernel is deterministic, so they end on the same bits),
    rather than copying theta before every epoch.

    X (n, n_0), Y (n, n_2), orders (E, n) int64, sizes (3,) int64: read.
    theta: modified in place. grad (like theta), acts, deltas (>= sum(sizes)),
    snapshot (like theta): workspace. losses (>= E,) float64: written.
    Matches ``reference.sgd_epoch`` / ``reference.minibatch_epoch``.
    """
    # One loop body for every mode, written out rather than split into helper
    # kernels: an inlined helper that takes arrays increfs and decrefs each of
    # them per call (atomic operations), which cost more than the arithmetic.
    B = TINY_WIDTH
    n0, n1, n2 = sizes[0], sizes[1], sizes[2]
    o1 = n0 * n1 + n1
    W0, b0 = theta[: n0 * n1], theta[n0 * n1 : o1]
    W1, b1 = theta[o1 : o1 + n1 * n2], theta[o1 + n1 * n2 : o1 + n1 * n2 + n2]
    gW0, gb0 = grad[: n0 * n1], grad[n0 * n1 : o1]
    gW1, gb1 = grad[o1 : o1 + n1 * n2], grad[o1 + n1 * n2 : o1 + n1 * n2 + n2]
    a1, a2 = acts[n0 : n0 + n1], acts[n0 + n1 : n0 + n1 + n2]
    d1, d2 = deltas[n0 : n0 + n1], deltas[n0 + n1 : n0 + n1 + n2]
    lr = theta.dtype.type(lr)
    one = theta.dtype.type(1)
    eps = clip_eps(theta)
    n = orders.shape[1]
    size = 1 if per_sample else min(batch_size, n)
    for i in range(theta.shape[0]):
        snapshot[i] = theta[i]
    # After a divergence in epoch `failed`, epochs 0 .. failed-1 run again from
    # the snapshot; `stop` is where the current pass ends.
    failed = -1
    stop = orders.shape[0]
    e = 0
    while e < stop:
        total = 0.0
        batch = 0.0
        m = 0  # samples of the current batch seen so far
        for k in range(n):
            s = orders[e, k]
            if m == 0 and not per_sample:
                for i in range(grad.shape[0]):
                    grad[i] = 0
            # Forward: a1 = σ(x W0 + b0), a2 = σ(a1 W1 + b1).
            for j in range(B):
                if j < n1:
                    a1[j] = b0[j]
            for i in range(B):
                if i < n0:
                    x = X[s, i]
                    for j in range(B):
                        if j < n1:
                            a1[j] += x * W0[i * n1 + j]
            for j in range(B):
                if j < n1:
                    a1[j] = sigmoid_libm(a1[j], one)
            for j in range(B):
                if j < n2:
                    a2[j] = b1[j]
            for i in range(B):
                if i < n1:
                    x = a1[i]
                    for j in range(B):
                        if j < n2:
                            a2[j] += x * W1[i * n2 + j]
            for j in range(B):
                if j < n2:
                    a2[j] = sigmoid_libm(a2[j], one)
            # Loss and output delta, then the hidden delta with W1 before any update.
            sample = 0.0
            for j in range(B):
                if j < n2:
                    sample += sample_loss_term(a2[j], Y[s, j], loss_kind, eps, one)
                    d2[j] = output_delta_term(a2[j], Y[s, j], loss_kind, one)
            batch += sample
            for i in range(B):
                if i < n1:
                    acc = theta.dtype.type(0)
                    for j in range(B):
                        if j < n2:
                            acc += d2[j] * W1[i * n2 + j]
                    d1[i] = acc * a1[i] * (one - a1[i])
            m += 1
            if per_sample:
                # W -= lr · a_inᵀ δ, b -= lr · δ, layer by layer.
                for i in range(B):
                    if i < n1:
                        c = lr * a1[i]
                        for j in range(B):
                            if j < n2:
                                W1[i * n2 + j] -= c * d2[j]
                for j in range(B):
                    if j < n2:
                        b1[j] -= lr * d2[j]
                for i in range(B):
                    if i < n0:
                        c = lr * X[s, i]
                        for j in range(B):
                            if j < n1:
                                W0[i * n1 + j] -= c * d1[j]
                for j in range(B):
                    if j < n1:
                        b0[j] -= lr * d1[j]
            else:
                # grad += a_inᵀ δ (rows added in visiting order), and at the
                # batch's end theta -= step · grad.
                for i in range(B):
                    if i < n1:
                        x = a1[i]
                        for j in range(B):
                            if j < n2:
                                gW1[i * n2 + j] += x * d2[j]
                for j in range(B):
                    if j < n2:
                        gb1[j] += d2[j]
                for i in range(B):
                    if i < n0:
                        x = X[s, i]
                        for j in range(B):
                            if j < n1:
                                gW0[i * n1 + j] += x * d1[j]
                for j in range(B):
                    if j < n1:
                        gb0[j] += d1[j]
            if m == size or k == n - 1:
                if not per_sample:
                    step = theta.dtype.type(lr / m if mean else lr)
                    for i in range(theta.shape[0]):
                        theta[i] -= step * grad[i]
                total += batch
                batch = 0.0
                m = 0
        e += 1
        if failed >= 0:
            continue
        if total != total or not all_finite(theta):
            failed = e - 1
            losses[failed] = np.nan
            for i in range(theta.shape[0]):
                theta[i] = snapshot[i]
            stop, e = failed, 0
            continue
        loss = total / n if mean else total
        losses[e - 1] = loss
        if loss <= tol:
            return e
    return failed + 1 if failed >= 0 else stop
