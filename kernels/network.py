"""Whole-network kernels over the flat parameter buffer.

Layout shared with ``fastprop.network``: ``theta`` holds, for each layer l,
``W_l`` (``sizes[l] * sizes[l+1]`` values, row-major) followed by ``b_l``
(``sizes[l+1]`` values), starting at ``offsets[l]``. A gradient buffer has the
same layout, so one flat loop updates every parameter.

Workspaces hold one block of at most ``chunk`` rows per layer: layer l's rows
start at ``act_off[l]`` in ``acts`` (and in ``deltas``, whose layer-0 part is
unused). Views over a block's first ``m`` rows are contiguous for any m.
"""

import numpy as np
from numba import njit

from .blas import add_at_b, matmul_bt_into, matmul_into
from .config import BLAS_MIN_MACS, JIT_OPTIONS, twin
from .layers import accumulate_row, forward_row, hidden_delta_row, output_delta_row
from .scalar import sigmoid


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


@njit(inline="always", **JIT_OPTIONS)
def gather_rows(X, order, start, A):
    """``A[r] = X[order[start + r]]`` for every row r of the block A: a batch's inputs."""
    for r in range(A.shape[0]):
        x = X[order[start + r]]
        a = A[r]
        for j in range(x.shape[0]):
            a[j] = x[j]


@njit(inline="always", **JIT_OPTIONS)
def use_blas(m, n_in, n_out):
    """Whether a block of m rows through an (n_in, n_out) layer goes to BLAS."""
    return m * n_in * n_out >= BLAS_MIN_MACS


@njit(**JIT_OPTIONS)
def forward_block(theta, sizes, offsets, acts, act_off, m):
    """Forward pass of the first ``m`` rows already in layer 0 of ``acts``; fills every layer.

    A large layer is one BLAS matrix product followed by one fused
    bias-and-sigmoid pass; a small one runs ``forward_row`` row by row.
    """
    L = sizes.shape[0] - 1
    for l in range(L):
        b = bias(theta, sizes, offsets, l)
        if use_blas(m, sizes[l], sizes[l + 1]):
            Z = block(acts, act_off, sizes, l + 1, m)
            matmul_into(block(acts, act_off, sizes, l, m), weights(theta, sizes, offsets, l), Z)
            add_bias_sigmoid(Z, b)
        else:
            W = flat_weights(theta, sizes, offsets, l)
            for r in range(m):
                a_out = row(acts, act_off, sizes, l + 1, r)
                forward_row(row(acts, act_off, sizes, l, r), W, b, a_out)


@njit(inline="always", **JIT_OPTIONS)
def add_bias_sigmoid(Z, b):
    """``Z = σ(Z + b)`` in place, row by row: the second half of a BLAS forward.

    Z's rows must be contiguous in Numba's type as well (a C array, or a
    block of its rows): on a block of columns (layout "A") the loop runs
    scalar, 15x slower; ``add_bias_sigmoid_row`` takes such a block's rows.
    """
    for r in range(Z.shape[0]):
        add_bias_sigmoid_row(Z[r], b)


@njit(inline="always", **JIT_OPTIONS)
def add_bias_sigmoid_row(z, b):
    """``z = σ(z + b)`` in place, over one contiguous row."""
    one = z.dtype.type(1)
    for j in range(z.shape[0]):
        z[j] = sigmoid(z[j] + b[j], one)


@njit(**JIT_OPTIONS)
def backward_block(theta, sizes, offsets, grad, acts, deltas, act_off, m):
    """Backpropagate the output deltas of the block's ``m`` rows and add their gradient.

    ``deltas`` holds the output layer's deltas; hidden deltas are written
    layer by layer with the weights in ``theta``. A large layer's gradient
    is added to ``grad`` by BLAS itself (GEMM with beta = 1).
    """
    L = sizes.shape[0] - 1
    for l in range(L - 1, -1, -1):
        n_in, n_out = sizes[l], sizes[l + 1]
        gb = bias(grad, sizes, offsets, l)
        if use_blas(m, n_in, n_out):
            A = block(acts, act_off, sizes, l, m)
            D = block(deltas, act_off, sizes, l + 1, m)
            if l > 0:
                D_prev = block(deltas, act_off, sizes, l, m)
                matmul_bt_into(D, weights(theta, sizes, offsets, l), D_prev)
                times_sigmoid_prime(D_prev, A)
            add_at_b(A, D, weights(grad, sizes, offsets, l))
            for r in range(m):
                d = D[r]
                for j in range(n_out):
                    gb[j] += d[j]
        else:
            W = flat_weights(theta, sizes, offsets, l)
            gW = flat_weights(grad, sizes, offsets, l)
            for r in range(m):
                d = row(deltas, act_off, sizes, l + 1, r)
                a = row(acts, act_off, sizes, l, r)
                if l > 0:
                    hidden_delta_row(d, W, a, row(deltas, act_off, sizes, l, r))
                accumulate_row(a, d, gW, gb)


@njit(inline="always", **JIT_OPTIONS)
def times_sigmoid_prime(D, A):
    """``D *= A (1 - A)`` in place: the second half of a BLAS hidden delta."""
    one = A.dtype.type(1)
    for r in range(D.shape[0]):
        d = D[r]
        a = A[r]
        for j in range(D.shape[1]):
            d[j] *= a[j] * (one - a[j])


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
    X, Y, order, start, stop, theta, sizes, offsets, grad, acts, deltas, act_off, chunk,
    loss_kind,
):
    """Add the summed gradient of samples ``order[start:stop]`` to ``grad``.

    Works ``chunk`` rows at a time so the workspace never grows with the batch.
    X (n, n_0), Y (n, n_L), order (n,) int64: read. theta: read.
    grad: modified in place (same layout as theta).
    acts, deltas: workspace.
    Returns the summed loss of those samples at the current theta.
    Matches ``reference.gradients`` with ``reduction="sum"``.
    """
    L = sizes.shape[0] - 1
    total = 0.0
    for c0 in range(start, stop, chunk):
        m = min(chunk, stop - c0)
        gather_rows(X, order, c0, block(acts, act_off, sizes, 0, m))
        forward_block(theta, sizes, offsets, acts, act_off, m)
        for r in range(m):
            total += output_delta_row(
                row(acts, act_off, sizes, L, r), Y[order[c0 + r]],
                row(deltas, act_off, sizes, L, r), loss_kind,
            )
        backward_block(theta, sizes, offsets, grad, acts, deltas, act_off, m)
    return total


@njit(inline="always", **JIT_OPTIONS)
def all_finite(x):
    """True when no value of the flat array ``x`` is NaN or ±inf."""
    for i in range(x.shape[0]):
        # isfinite compares bits; arithmetic tests such as v - v would raise
        # the FE_INVALID flag on inf, which NumPy may later report as a warning.
        if not np.isfinite(x[i]):
            return False
    return True


@njit(**JIT_OPTIONS)
def never_called(*args):  # pragma: no cover  (its callers are twins that never reach it)
    """Stands in for a kernel that a twin chain (``config.twin``) never calls: not compiled in."""
    return 0.0


@njit(inline="always", **JIT_OPTIONS)
def no_blas(m, n_in, n_out):
    """``use_blas`` for the rows chain: every layer by the fused row loops."""
    return False


# The rows chain: ``add_gradient`` with every layer on the fused row loops,
# for trainers whose blocks never reach ``BLAS_MIN_MACS`` multiply-adds (the
# trainer checks). Neither BLAS nor the register tiles are compiled into it:
# they were most of a cold first fit's compilation.
forward_block_rows = njit(**JIT_OPTIONS)(
    twin(forward_block, "_rows", use_blas=no_blas, matmul_into=never_called)
)
backward_block_rows = njit(**JIT_OPTIONS)(
    twin(backward_block, "_rows", use_blas=no_blas, matmul_bt_into=never_called,
         add_at_b=never_called)
)
add_gradient_rows = njit(**JIT_OPTIONS)(
    twin(add_gradient, "_rows", forward_block=forward_block_rows,
         backward_block=backward_block_rows)
)
