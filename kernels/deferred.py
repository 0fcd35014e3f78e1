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

The GEMMs at a block boundary (the last block's update, then the next
block's products) work on ``N_COLS`` blocks of W_0's columns and of the Gram
matrix's rows, which are independent: ``sgd_epoch_deferred_parallel`` runs
them on Numba's thread pool, the serial twin one after the other, with the
same bits either way. The samples themselves run on one thread.

Workspace: ``Workspace(net, 2 K)`` for blocks of K samples. Layer 0's rows
of ``acts`` hold two blocks of data rows (the last block's, still needed by
its update, and the next one's), layer 1's rows of ``acts`` and ``deltas``
hold each sample's first-layer activations and deltas, and the unused
layer-0 rows of ``deltas`` hold the Gram matrix. Deeper layers use rows 0
and 1 as ``sgd_epoch`` does.
"""

import numpy as np
from numba import njit, prange

from .blas import add_at_b, matmul_bt_into, matmul_into
from .config import JIT_OPTIONS, twin
from .layers import forward_row, hidden_delta_row, output_delta_row, step_forward_row, step_row
from .network import all_finite, bias, block, flat_weights, gather_rows, row, weights
from .scalar import sigmoid

# Samples per block. Shorter blocks pay GEMM set-up and packing of W_0 more
# often, longer ones a Gram matrix and corrections that grow with K. With
# OpenBLAS on one thread and the boundary GEMMs on two, 32 was best in
# float64 on 784-128-64-10 (64k samples/s; 64: 55k, 128: 42k) and in float32
# on 256-64-10 (375k; 281k, 248k); on 784-128-64-10 in float32 32, 64 and
# 128 were within this box's noise (76-102k).
DEFER_ROWS = 32

# First layers smaller than this stay with ``sgd_epoch``, whose fused loops
# keep a first layer that fits in L1 there (64-32-10: 0.95x deferred;
# 64-128-10, 8192 weights: 1.12x; 256-64-10: 1.38x; 784-128-64-10: 1.5-2x).
DEFER_MIN_WEIGHTS = 8192

# Column blocks of W_0 at a block boundary: a fixed number, not the thread
# count, so that the bits never depend on it.
N_COLS = 2


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


def _boundary_gemms(X_last, D_last, m_last, X_next, Z_next, G_next, m_next, W0):
    """``W0 += X_lastᵀ D_last`` (D_last already scaled by -lr), then ``Z_next = X_next W0``
    and ``G_next = X_next X_nextᵀ``, each over the first ``m_*`` rows (0: skipped).

    Column block c of W0 is updated, then multiplied, by the same iteration,
    and the Gram matrix is cut into blocks of rows: no two iterations write
    the same element.
    """
    n1 = W0.shape[1]
    for c in prange(N_COLS):
        c0, c1 = (n1 * c) // N_COLS, (n1 * (c + 1)) // N_COLS
        r0, r1 = (m_next * c) // N_COLS, (m_next * (c + 1)) // N_COLS
        if c1 > c0:
            Wc = W0[:, c0:c1]
            if m_last > 0:
                add_at_b(X_last[:m_last], D_last[:m_last, c0:c1], Wc)
            if m_next > 0:
                matmul_into(X_next[:m_next], Wc, Z_next[:m_next, c0:c1])
        if r1 > r0:
            matmul_bt_into(X_next[r0:r1], X_next[:m_next], G_next[r0:r1])


boundary_gemms = njit(**JIT_OPTIONS)(_boundary_gemms)
boundary_gemms_parallel = njit(parallel=True, **JIT_OPTIONS)(
    twin(_boundary_gemms, "_parallel")
)


# Inlined into its caller (Numba IR), not linked as a function of its own: as
# a separate function, run_epochs_deferred ran one version of its code in the
# process that compiled it and another, loaded from the disk cache, in every
# later process, and their reassociated sums differed by 1 ulp (a fit's bits
# then depended on which process compiled it; tests/test_cache_bits.py).
@njit(inline="always", **JIT_OPTIONS)
def sgd_epoch_deferred(X, Y, order, theta, sizes, offsets, acts, deltas, act_off, lr, loss_kind):
    """``epochs.sgd_epoch`` with W_0's updates applied once per block of K samples.

    Same arguments and result as ``sgd_epoch``; the workspace has 2 K rows
    (K = ``act_off[1] // (2 sizes[0])``). Matches ``reference.sgd_epoch``.
    """
    L = sizes.shape[0] - 1
    n0, n1 = sizes[0], sizes[1]
    K = act_off[1] // (2 * n0)
    lr = theta.dtype.type(lr)
    one = theta.dtype.type(1)
    W0 = weights(theta, sizes, offsets, 0)
    b0 = bias(theta, sizes, offsets, 0)
    X_two = block(acts, act_off, sizes, 0, 2 * K)
    A1 = block(acts, act_off, sizes, 1, K)
    D1 = block(deltas, act_off, sizes, 1, K)
    total = 0.0
    n = order.shape[0]
    m = min(K, n)
    G = deltas[: m * m].reshape((m, m))
    gather_rows(X, order, 0, X_two[:m])
    # Every call with the same argument types (no literal 0 for m_last): one
    # specialisation of boundary_gemms serves them all.
    m_last = n - n
    boundary_gemms(X_two[K:], D1, m_last, X_two[:K], A1, G, m, W0)
    for s0 in range(0, n, K):
        half = ((s0 // K) % 2) * K
        Xb = X_two[half : half + K]
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
        # The deeper layers' pending update of the block's last sample; then
        # W_0's update (D1 scaled first: the GEMM adds) with the next block's
        # products, while the next block's rows go to the other half of X_two.
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
        m_last = m
        m = min(K, n - s0 - K) if s0 + K < n else 0
        X_next = X_two[K - half : 2 * K - half]
        gather_rows(X, order, s0 + K, X_next[:m])
        G = deltas[: m * m].reshape((m, m))
        boundary_gemms(Xb, D1, m_last, X_next, A1, G, m, W0)
    if not all_finite(theta):
        return np.nan
    return total


sgd_epoch_deferred_parallel = njit(inline="always", **JIT_OPTIONS)(
    twin(sgd_epoch_deferred, "_parallel", boundary_gemms=boundary_gemms_parallel)
)
