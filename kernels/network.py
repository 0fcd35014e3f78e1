"""Whole-network kernels over the flat parameter buffer.

Layout shared with ``fastprop.network``: ``theta`` holds, for each layer l,
``W_l`` (``sizes[l] * sizes[l+1]`` values, row-major) followed by ``b_l``
(``sizes[l+1]`` values), starting at ``offsets[l]``. A gradient buffer has the
same layout, so one flat loop updates every parameter.

Workspaces hold one block of at most ``chunk`` rows per layer: layer l's rows
start at ``act_off[l]`` in ``acts`` (and in ``deltas``, whose layer-0 part is
unused). Views over a block's first ``m`` rows are contiguous for any m.
"""

from numba import njit

from .config import JIT_OPTIONS
from .layers import accumulate_row, forward_row, hidden_delta_row, output_delta_row


@njit(inline="always", **JIT_OPTIONS)
def weights(theta, sizes, offsets, l):
    start = offsets[l]
    return theta[start : start + sizes[l] * sizes[l + 1]].reshape((sizes[l], sizes[l + 1]))


@njit(inline="always", **JIT_OPTIONS)
def bias(theta, sizes, offsets, l):
    start = offsets[l] + sizes[l] * sizes[l + 1]
    return theta[start : start + sizes[l + 1]]


@njit(inline="always", **JIT_OPTIONS)
def flat_weights(theta, sizes, offsets, l):
    """W_l as its flat row-major slice: what the row kernels take (no 2-d view to build)."""
    start = offsets[l]
    return theta[start : start + sizes[l] * sizes[l + 1]]


@njit(inline="always", **JIT_OPTIONS)
def row(buf, act_off, sizes, l, r):
    """Row r of layer l's block in a workspace buffer, as a 1-d slice."""
    start = act_off[l] + r * sizes[l]
    return buf[start : start + sizes[l]]


@njit(inline="always", **JIT_OPTIONS)
def block(buf, act_off, sizes, l, m):
    start = act_off[l]
    return buf[start : start + m * sizes[l]].reshape((m, sizes[l]))


@njit(**JIT_OPTIONS)
def forward_block(theta, sizes, offsets, acts, act_off, m):
    """Forward pass of the first ``m`` rows already in layer 0 of ``acts``; fills every layer."""
    L = sizes.shape[0] - 1
    for r in range(m):
        for l in range(L):
            forward_row(
                row(acts, act_off, sizes, l, r),
                flat_weights(theta, sizes, offsets, l),
                bias(theta, sizes, offsets, l),
                row(acts, act_off, sizes, l + 1, r),
            )


@njit(**JIT_OPTIONS)
def predict_into(X, theta, sizes, offsets, out, acts, act_off, chunk):
    """Network output for every row of X, ``chunk`` rows at a time.

    X    : (n, sizes[0]) read.
    theta: read.
    out  : (n, sizes[-1]) written.
    acts : workspace.
    Matches ``reference.forward(...)[-1]``.
    """
    n = X.shape[0]
    L = sizes.shape[0] - 1
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        for r in range(m):
            a0 = row(acts, act_off, sizes, 0, r)
            x = X[start + r]
            for j in range(sizes[0]):
                a0[j] = x[j]
        forward_block(theta, sizes, offsets, acts, act_off, m)
        for r in range(m):
            y_hat = row(acts, act_off, sizes, L, r)
            o = out[start + r]
            for k in range(sizes[L]):
                o[k] = y_hat[k]


@njit(**JIT_OPTIONS)
def add_gradient(
    X, Y, order, start, stop, theta, sizes, offsets, grad, acts, deltas, act_off,
    chunk, loss_kind,
):
    """Add the summed gradient of samples ``order[start:stop]`` to ``grad``.

    Works ``chunk`` rows at a time so the workspace never grows with the batch.
    X (n, n_0), Y (n, n_L), order (n,) int64: read. theta: read.
    grad: modified in place (same layout as theta). acts, deltas: workspace.
    Returns the summed loss of those samples at the current theta.
    Matches ``reference.gradients`` with ``reduction="sum"``.
    """
    L = sizes.shape[0] - 1
    total = 0.0
    for c0 in range(start, stop, chunk):
        m = min(chunk, stop - c0)
        for r in range(m):
            a0 = row(acts, act_off, sizes, 0, r)
            x = X[order[c0 + r]]
            for j in range(sizes[0]):
                a0[j] = x[j]
        forward_block(theta, sizes, offsets, acts, act_off, m)
        for r in range(m):
            total += output_delta_row(
                row(acts, act_off, sizes, L, r), Y[order[c0 + r]],
                row(deltas, act_off, sizes, L, r), loss_kind,
            )
            for l in range(L - 1, -1, -1):
                d = row(deltas, act_off, sizes, l + 1, r)
                a = row(acts, act_off, sizes, l, r)
                if l > 0:
                    hidden_delta_row(
                        d, flat_weights(theta, sizes, offsets, l), a,
                        row(deltas, act_off, sizes, l, r),
                    )
                accumulate_row(
                    a, d, flat_weights(grad, sizes, offsets, l), bias(grad, sizes, offsets, l)
                )
    return total


@njit(**JIT_OPTIONS)
def all_finite(x):
    """True when no value of the flat array ``x`` is NaN or ±inf."""
    for i in range(x.shape[0]):
        v = x[i]
        # v - v is NaN exactly when v is NaN or inf.
        if v - v != 0:
            return False
    return True
