"""Epoch kernels: one compiled call trains one whole epoch.

Python draws the visiting order (a permutation, or ``arange`` without
shuffling) and allocates every buffer once per fit; these kernels allocate
nothing. Each returns the epoch's summed loss, measured sample by sample at the
weights in force when the sample was seen, or NaN if the parameters stopped
being finite, so the caller can restore its snapshot and report divergence.
"""

import numpy as np
from numba import njit

from .config import JIT_OPTIONS, twin
from .deferred import sgd_epoch_deferred, sgd_epoch_deferred_parallel
from .layers import forward_row, hidden_delta_row, output_delta_row, step_forward_row, step_row
from .network import all_finite, bias, flat_weights, never_called, row
from .parallel import parts_epoch, parts_epoch_parallel, parts_epoch_rows, parts_epoch_whole


@njit(**JIT_OPTIONS)
def sgd_epoch(X, Y, order, theta, sizes, offsets, acts, deltas, act_off, lr, loss_kind):
    """Per-sample gradient descent over the samples in ``order``.

    Same result as, for each sample in turn: forward; output delta; hidden
    deltas from the last layer down, each with W_l *before* its update; then
    the update of every layer. The update of sample k is deferred and fused
    with the forward pass of sample k+1 (``step_forward_row``), so each weight
    is read and written once per sample; the last update is applied at the end.
    Activations alternate between two rows of ``acts`` (this sample's, and the
    previous one's still needed by its deferred update).

    X (n, n_0), Y (n, n_L), order (n,) int64: read.
    theta: modified in place.
    acts, deltas: workspace of at least two rows (``Workspace(net, 2)``).
    Matches ``reference.sgd_epoch``.
    """
    L = sizes.shape[0] - 1
    lr = theta.dtype.type(lr)  # a float64 lr would promote every update
    total = 0.0
    n = order.shape[0]
    for k in range(n):
        cur, prev = k % 2, 1 - k % 2
        s = order[k]
        a0 = row(acts, act_off, sizes, 0, cur)
        x = X[s]
        for j in range(sizes[0]):
            a0[j] = x[j]
        for l in range(L):
            W = flat_weights(theta, sizes, offsets, l)
            b = bias(theta, sizes, offsets, l)
            z = row(acts, act_off, sizes, l + 1, cur)
            if k == 0:
                forward_row(row(acts, act_off, sizes, l, cur), W, b, z)
            else:
                step_forward_row(
                    row(acts, act_off, sizes, l, prev), row(deltas, act_off, sizes, l + 1, 0), lr,
                    row(acts, act_off, sizes, l, cur), W, b, z,
                )
        total += output_delta_row(
            row(acts, act_off, sizes, L, cur), Y[s], row(deltas, act_off, sizes, L, 0), loss_kind
        )
        for l in range(L - 1, 0, -1):
            hidden_delta_row(
                row(deltas, act_off, sizes, l + 1, 0),
                flat_weights(theta, sizes, offsets, l),
                row(acts, act_off, sizes, l, cur),
                row(deltas, act_off, sizes, l, 0),
            )
    last = (n - 1) % 2
    for l in range(L):
        step_row(
            row(acts, act_off, sizes, l, last), row(deltas, act_off, sizes, l + 1, 0), lr,
            flat_weights(theta, sizes, offsets, l), bias(theta, sizes, offsets, l),
        )
    if not all_finite(theta):
        return np.nan
    return total


@njit(**JIT_OPTIONS)
def run_epochs(
    X, Y, orders, theta, sizes, offsets, partials, part_acts, part_deltas, part_loss,
    act_off, snapshot, losses,
    per_sample, batch_size, chunk, n_weights, max_parts, min_part_macs, lr, mean, loss_kind,
    tol,
):
    """Several epochs in one call, so that tiny networks are not paced by Python.

    Epoch e visits ``orders[e]``, per sample (``per_sample``) or in batches,
    each batch cut into parts as ``parallel.parts_epoch`` does
    (``run_epochs_parallel`` runs the parts on Numba's thread pool, with the
    same result; ``run_epochs_whole`` is for batches never split, and
    compiles neither the parts kernels nor sgd_epoch; ``run_epochs_sgd`` is
    for per-sample SGD only).
    Its loss (divided by n when ``mean``) goes to ``losses[e]``. Stops after
    the first epoch whose loss is <= ``tol`` (pass a negative tol to never
    stop), or after a diverging epoch: then ``theta`` is restored from
    ``snapshot`` (its value before that epoch) and ``losses[e]`` is NaN.
    Returns the number of epochs run; entries after it are left untouched.

    X, Y, orders (E, n) int64: read. theta: modified in place.
    partials, part_acts, part_deltas, part_loss: workspace, one
    row per part (per-sample SGD uses row 0). snapshot (like theta): workspace.
    losses (>= E,) float64: written.
    """
    n = orders.shape[1]
    for e in range(orders.shape[0]):
        # Element loops, not ``snapshot[:] = theta``: a slice assignment makes
        # Numba compile its shape-mismatch message (string formatting), about
        # 2 s of every cold start.
        for p in range(theta.shape[0]):
            snapshot[p] = theta[p]
        if per_sample:
            total = sgd_epoch(X, Y, orders[e], theta, sizes, offsets, part_acts[0],
                              part_deltas[0], act_off, lr, loss_kind)
        else:
            total = parts_epoch(
                X, Y, orders[e], theta, sizes, offsets, partials, part_acts, part_deltas,
                part_loss, act_off, batch_size, chunk, n_weights, max_parts,
                min_part_macs, lr, mean, loss_kind,
            )
        if total != total:
            for p in range(theta.shape[0]):
                theta[p] = snapshot[p]
            losses[e] = np.nan
            return e + 1
        loss = total / n if mean else total
        losses[e] = loss
        if loss <= tol:
            return e + 1
    return orders.shape[0]


run_epochs_parallel = njit(**JIT_OPTIONS)(
    twin(run_epochs, "_parallel", parts_epoch=parts_epoch_parallel)
)


# One chain per kind of trainer, each compiling only what it calls (a cold
# default fit compiled sgd_epoch into its batch chain: ~3 s of CPU).
run_epochs_whole = njit(**JIT_OPTIONS)(
    twin(run_epochs, "_whole", parts_epoch=parts_epoch_whole, sgd_epoch=never_called)
)
# Batches never split whose blocks are all too small for a matrix product
# (the trainer checks): the default first fit. A cold start compiled BLAS's
# and the tiles' calls into run_epochs_whole although it never reached them.
run_epochs_rows = njit(**JIT_OPTIONS)(
    twin(run_epochs, "_rows", parts_epoch=parts_epoch_rows, sgd_epoch=never_called)
)
run_epochs_sgd = njit(**JIT_OPTIONS)(
    twin(run_epochs, "_sgd", parts_epoch=never_called)
)
# Per-sample SGD on a network whose first layer is large (``deferred.py``).
run_epochs_deferred = njit(**JIT_OPTIONS)(
    twin(run_epochs, "_deferred", parts_epoch=never_called, sgd_epoch=sgd_epoch_deferred)
)
run_epochs_deferred_parallel = njit(**JIT_OPTIONS)(
    twin(run_epochs, "_deferred_parallel", parts_epoch=never_called,
         sgd_epoch=sgd_epoch_deferred_parallel)
)
