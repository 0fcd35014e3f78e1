"""Per-sample SGD with the first layer's updates deferred over a block of samples.

Per-sample SGD on 784-128-64-10 is bound by memory, not arithmetic: every
sample reads W_0 (100k weights, 400 KB in float32, beyond L2 of one core) to
go forward and writes it back to apply its update, about 45 GB/s of cache
traffic for 200k multiply-adds. But the first layer's inputs are the data
rows themselves, known before the block starts, and updates are rank one.
With W_0 the first layer's weights at the start of a block of K samples and
δ_k the delta of its outputs for sample k, the weights in force at sample t
of the block are

    W_0 - lr Σ_{k<t} x_kᵀ δ_k,   so   x_t · W^{(t)} = (x_t · W_0) - lr Σ_{k<t} (x_t · x_k) δ_k.

The products ``X_block @ W_0`` and the Gram matrix ``X_block @ X_blockᵀ`` are
two GEMMs at the block's start; each sample then adds its t corrections of
n_1 values, and the block ends with one rank-K GEMM update ``W_0 -= lr
X_blockᵀ Δ``. Nothing is approximated: the losses and weights are those of
``epochs.sgd_epoch`` and ``reference.sgd_epoch``, up to the order of the
additions. The other layers and the first layer's bias are updated sample by
sample, as in ``sgd_epoch``; their pending updates are flushed at the end of
every block, so nothing carries over from one block to the next.

Workspace: ``Workspace(net, K)`` with K >= 2 rows and K <= n_0. Layer 0's
rows of ``acts`` hold the block's data rows, layer 1's rows of ``acts`` and
``deltas`` hold every sample's first-layer activations and deltas, and the
unused layer-0 rows of ``deltas`` hold the Gram matrix. Deeper layers use
rows 0 and 1 as ``sgd_epoch`` does.
"""

import numpy as np
from numba import njit

from .blas import add_at_b, matmul_bt_into, matmul_into
from .config import JIT_OPTIONS
from .layers import forward_row, hidden_delta_row, output_delta_row, step_forward_row, step_row
from .network import all_finite, bias, block, flat_weights, row, weights
from .scalar import sigmoid

# Samples per block: 32 ran 784-128-64-10 faster than 16, 64 or 128 (74k
# samples/s against 66k, 72k, 67k in float32): shorter blocks pay GEMM set-up
# and packing of W_0 more often, longer ones a Gram matrix and corrections
# that grow with K.
DEFER_ROWS = 32

# First layers smaller than this stay with ``sgd_epoch``, whose fused loops
# keep a first layer that fits in L1 there (64-32-10: 0.95x deferred;
# 64-128-10, 8192 weights: 1.12x; 256-64-10: 1.38x; 784-128-64-10: 1.5-2x).
DEFER_MIN_WEIGHTS = 8192


def defers(layer_sizes):
    """Whether per-sample SGD on these layer sizes runs ``sgd_epoch_deferred``."""
    n0, n1 = layer_sizes[0], layer_sizes[1]
    return n0 >= DEFER_ROWS and n0 * n1 >= DEFER_MIN_WEIGHTS


@njit(inline="always", **JIT_OPTIONS)
def _act_row(acts, act_off, sizes, l, t):
    """Sample t's activations of layer l: layer 1 keeps a row per sample, deeper layers two."""
    return row(acts, act_off, sizes, l, t if l == 1 else t % 2)


@njit(inline="always", **JIT_OPTIONS)
def _delta_row(deltas, act_off, sizes, l, t):
    """Sample t's deltas of layer l: layer 1 keeps a row per sample, deeper layers one."""
    return row(deltas, act_off, sizes, l, t if l == 1 else 0)


@njit(**JIT_OPTIONS)
def sgd_epoch_deferred(X, Y, order, theta, sizes, offsets, acts, deltas, act_off, lr, loss_kind):
    """``epochs.sgd_epoch`` with W_0's updates applied once per block of K samples.

    Same arguments and result as ``sgd_epoch``; K is the workspace's row
    count (``act_off[1] // sizes[0]``). Matches ``reference.sgd_epoch``.
    """
    L = sizes.shape[0] - 1
    n0, n1 = sizes[0], sizes[1]
    K = act_off[1] // n0
    lr = theta.dtype.type(lr)
    one = theta.dtype.type(1)
    W0 = weights(theta, sizes, offsets, 0)
    b0 = bias(theta, sizes, offsets, 0)
    total = 0.0
    n = order.shape[0]
    for s0 in range(0, n, K):
        m = min(K, n - s0)
        Xb = block(acts, act_off, sizes, 0, m)
        for r in range(m):
            x = X[order[s0 + r]]
            xb = Xb[r]
            for j in range(n0):
                xb[j] = x[j]
        A1 = block(acts, act_off, sizes, 1, m)
        D1 = block(deltas, act_off, sizes, 1, m)
        G = deltas[: m * m].reshape((m, m))
        matmul_into(Xb, W0, A1)
        matmul_bt_into(Xb, Xb, G)
        for t in range(m):
            a1 = A1[t]
            g = G[t]
            for k in range(t):
                c = lr * g[k]
                d = D1[k]
                for j in range(n1):
                    a1[j] -= c * d[j]
            for j in range(n1):
                a1[j] = sigmoid(a1[j] + b0[j], one)
            for l in range(1, L):
                W = flat_weights(theta, sizes, offsets, l)
                b = bias(theta, sizes, offsets, l)
                z = _act_row(acts, act_off, sizes, l + 1, t)
                if t == 0:
                    forward_row(_act_row(acts, act_off, sizes, l, t), W, b, z)
                else:
                    step_forward_row(
                        _act_row(acts, act_off, sizes, l, t - 1),
                        _delta_row(deltas, act_off, sizes, l + 1, t), lr,
                        _act_row(acts, act_off, sizes, l, t), W, b, z,
                    )
            total += output_delta_row(
                _act_row(acts, act_off, sizes, L, t), Y[order[s0 + t]],
                _delta_row(deltas, act_off, sizes, L, t), loss_kind,
            )
            for l in range(L - 1, 0, -1):
                hidden_delta_row(
                    _delta_row(deltas, act_off, sizes, l + 1, t),
                    flat_weights(theta, sizes, offsets, l),
                    _act_row(acts, act_off, sizes, l, t),
                    _delta_row(deltas, act_off, sizes, l, t),
                )
            d = D1[t]
            for j in range(n1):
                b0[j] -= lr * d[j]
        # Flush: the deeper layers' pending update of the block's last sample,
        # then W_0 -= lr Xbᵀ D1 as one GEMM (D1 scaled first: the GEMM adds).
        for l in range(1, L):
            step_row(
                _act_row(acts, act_off, sizes, l, m - 1),
                _delta_row(deltas, act_off, sizes, l + 1, m - 1), lr,
                flat_weights(theta, sizes, offsets, l), bias(theta, sizes, offsets, l),
            )
        for t in range(m):
            d = D1[t]
            for j in range(n1):
                d[j] *= -lr
        add_at_b(Xb, D1, W0)
    if not all_finite(theta):
        return np.nan
    return total
