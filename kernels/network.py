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
from .layers import (
    accumulate_gradient,
    forward_layer,
    hidden_delta,
    output_delta,
)


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
def gather_rows(X, order, start, stop, out):
    """Copy rows ``X[order[start:stop]]`` into ``out`` (m, n_features), written."""
    for r in range(stop - start):
        src = X[order[start + r]]
        dst = out[r]
        for j in range(X.shape[1]):
            dst[j] = src[j]


@njit(**JIT_OPTIONS)
def forward_block(theta, sizes, offsets, acts, act_off, m):
    """Forward pass of the block already in layer 0 of ``acts``; fills every layer."""
    n_layers = sizes.shape[0] - 1
    for l in range(n_layers):
        forward_layer(
            block(acts, act_off, sizes, l, m),
            weights(theta, sizes, offsets, l),
            bias(theta, sizes, offsets, l),
            block(acts, act_off, sizes, l + 1, m),
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
        a0 = block(acts, act_off, sizes, 0, m)
        for r in range(m):
            for j in range(sizes[0]):
                a0[r, j] = X[start + r, j]
        forward_block(theta, sizes, offsets, acts, act_off, m)
        y_hat = block(acts, act_off, sizes, L, m)
        for r in range(m):
            for k in range(sizes[L]):
                out[start + r, k] = y_hat[r, k]


@njit(**JIT_OPTIONS)
def backward_block(theta, sizes, offsets, grad, acts, deltas, act_off, m):
    """Backpropagate the output delta already in ``deltas`` and add the gradient.

    Hidden deltas use the weights as they are in ``theta``; ``grad`` (same
    layout as theta) is modified in place.
    """
    L = sizes.shape[0] - 1
    for l in range(L - 1, -1, -1):
        d = block(deltas, act_off, sizes, l + 1, m)
        if l > 0:
            hidden_delta(
                d,
                weights(theta, sizes, offsets, l),
                block(acts, act_off, sizes, l, m),
                block(deltas, act_off, sizes, l, m),
            )
        accumulate_gradient(
            block(acts, act_off, sizes, l, m),
            d,
            weights(grad, sizes, offsets, l),
            bias(grad, sizes, offsets, l),
        )


@njit(**JIT_OPTIONS)
def add_gradient(
    X, Y, order, start, stop, theta, sizes, offsets, grad, acts, deltas, targets, act_off,
    chunk, loss_kind,
):
    """Add the summed gradient of samples ``order[start:stop]`` to ``grad``.

    Works ``chunk`` rows at a time so the workspace never grows with the batch.
    X (n, n_0), Y (n, n_L), order (n,) int64: read. theta: read.
    grad: modified in place. acts, deltas, targets (chunk * n_L,): workspace.
    Returns the summed loss of those samples at the current theta.
    Matches ``reference.gradients`` with ``reduction="sum"``.
    """
    L = sizes.shape[0] - 1
    n_out = sizes[L]
    total = 0.0
    for c0 in range(start, stop, chunk):
        m = min(chunk, stop - c0)
        gather_rows(X, order, c0, c0 + m, block(acts, act_off, sizes, 0, m))
        y = targets[: m * n_out].reshape((m, n_out))
        gather_rows(Y, order, c0, c0 + m, y)
        forward_block(theta, sizes, offsets, acts, act_off, m)
        total += output_delta(
            block(acts, act_off, sizes, L, m), y, block(deltas, act_off, sizes, L, m), loss_kind
        )
        backward_block(theta, sizes, offsets, grad, acts, deltas, act_off, m)
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
