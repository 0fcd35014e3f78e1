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

The samples need none of W_0, so the GEMMs run beside them, one block
ahead: while one thread runs block b's samples, the other applies block
b-1's update to W_0 and takes block b+1's products ``P = X_{b+1} W_0``,
its Gram matrix and its cross products with block b's rows,
``C = X_b X_{b+1}ᵀ``. Block b's own update is not in P yet; after both
threads finish, ``X_{b+1} W_0 = P - lr Cᵀ Δ_b`` (a K x K x n_1 product)
puts it in. The GEMM work is split by W_0's columns: the samples' thread
takes ``split_column`` of them after its samples, so that both threads end
together (a function of the network, never of the thread count).
``sgd_epoch_deferred_parallel`` runs the two threads' work on Numba's
pool, the serial twin one after the other, with the same bits.

Workspace: ``Workspace(net, BLOCKS K)`` for blocks of K samples. Layer 0's
rows of ``acts`` hold four blocks of data rows (block b-1's, still needed
by its update, b's, b+1's and b+2's, gathered during block b), layer 1's
rows of ``acts`` and ``deltas`` two blocks of first-layer activations and
deltas (b's, and b+1's products or b-1's deltas), and the unused layer-0
rows of ``deltas`` the two Gram matrices and the cross products. The
output layer keeps a row of acts per sample too (its loss is added up
after the block), and the layers between use rows 0 and 1 as
``sgd_epoch`` does.
"""

import numpy as np
from numba import njit, prange

from .blas import add_at_b, matmul_bt_into, matmul_into
from .config import JIT_OPTIONS, twin
from .layers import (
    forward_row,
    hidden_delta_row,
    loss_row,
    output_delta_only_row,
    step_forward_row,
    step_row,
)
from .network import all_finite, bias, block, flat_weights, gather_rows, row, weights
from .scalar import sigmoid
from .vector import lanes

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

# Column blocks of W_0 for the epoch's first products and last update: a
# fixed number, not the thread count, so that the bits never depend on it.
N_COLS = 2

# split_column's unit: the tiles' width in float32, two vectors of columns
# (two float64 tiles).
TILE_COLUMNS = 2 * lanes(np.float32)

# Blocks of data rows in the workspace: the last block's (its update is
# applied during the current block), the current one's, the next one's, and
# the one after, which the samples' thread gathers during the current block
# (between blocks, on one thread, that gather took 0.31 µs a sample of 6.5).
BLOCKS = 4


def defers(layer_sizes):
    """Whether per-sample SGD on these layer sizes runs ``sgd_epoch_deferred``."""
    n0, n1 = layer_sizes[0], layer_sizes[1]
    return n0 >= DEFER_ROWS and n0 * n1 >= DEFER_MIN_WEIGHTS


@njit(inline="always", **JIT_OPTIONS)
def _act_row(acts, act_off, sizes, l, z0, t):
    """Sample t's activations of layer l: layer 1 and the output layer keep a row per sample
    (from row z0), the layers between two."""
    keep = l == 1 or l == sizes.shape[0] - 1
    return row(acts, act_off, sizes, l, z0 + t if keep else t % 2)


@njit(inline="always", **JIT_OPTIONS)
def _delta_row(deltas, act_off, sizes, l, z0, t):
    """Sample t's deltas of layer l: layer 1 keeps a row per sample (from row z0), deeper
    layers one."""
    return row(deltas, act_off, sizes, l, z0 + t if l == 1 else 0)


@njit(inline="always", **JIT_OPTIONS)
def _slot(X_all, K, b):
    """The K data rows of block b (b >= -1) in the workspace's ``BLOCKS`` slots."""
    s = (b + BLOCKS) % BLOCKS
    return X_all[s * K : s * K + K]


@njit(inline="always", **JIT_OPTIONS)
def _square(deltas, K, slot, rows, cols):
    """Slot ``slot`` (0, 1: Gram matrices; 2: the cross products) of K² values, as (rows, cols)."""
    return deltas[slot * K * K : slot * K * K + rows * cols].reshape((rows, cols))


@njit(**JIT_OPTIONS)
def _columns(W0, c0, c1, X_last, D_last, m_last, X_next, P_next, m_next):
    """Columns c0:c1 of W_0: the update from the rows ``X_last``, then ``P_next = X_next W_0``."""
    if c1 > c0:
        Wc = W0[:, c0:c1]
        if m_last > 0:
            add_at_b(X_last[:m_last], D_last[:m_last, c0:c1], Wc)
        if m_next > 0:
            matmul_into(X_next[:m_next], Wc, P_next[:m_next, c0:c1])


def _boundary_gemms(X_last, D_last, m_last, X_next, Z_next, G_next, m_next, W0):
    """``W0 += X_lastᵀ D_last`` (D_last already scaled by -lr), then ``Z_next = X_next W0``
    and ``G_next = X_next X_nextᵀ``, each over the first ``m_*`` rows (0: skipped).

    The epoch's first products and its last update. Column block c of W0 is
    updated, then multiplied, by the same iteration, and the Gram matrix is
    cut into blocks of rows: no two iterations write the same element.
    """
    n1 = W0.shape[1]
    for c in prange(N_COLS):
        c0, c1 = (n1 * c) // N_COLS, (n1 * (c + 1)) // N_COLS
        r0, r1 = (m_next * c) // N_COLS, (m_next * (c + 1)) // N_COLS
        _columns(W0, c0, c1, X_last, D_last, m_last, X_next, Z_next, m_next)
        if r1 > r0:
            matmul_bt_into(X_next[r0:r1], X_next[:m_next], G_next[r0:r1])


boundary_gemms = njit(**JIT_OPTIONS)(_boundary_gemms)
boundary_gemms_parallel = njit(parallel=True, **JIT_OPTIONS)(
    twin(_boundary_gemms, "_parallel")
)


@njit(**JIT_OPTIONS)
def split_column(sizes, K):
    """W_0's columns ``[0, split)`` go to the samples' thread after its samples, the rest to
    the other thread, so that both finish a block together.

    Estimated per sample, in multiply-adds: the samples' work (deeper layers
    forward, backward and update, the corrections, and 20 per sigmoid; all at
    about a third of a GEMM's rate, hence x3) against the block GEMMs (2 n_0
    per column of W_0: its update and its product; 2 K n_0 for the Gram and
    cross products, on the other thread). A function of the network only.
    The split falls on a multiple of 16 columns, whole float32 tiles (two
    float64 ones), for each thread's columns to run on whole tiles: at 65 of
    784-128-64-10's 128, the single columns left over made the block 1.6-1.8x
    slower than at 48 or 64.

    The row kernels' sums now stay in registers (``row_products``,
    ``vector.dots``), which made the samples 1.6x faster in float32, but the
    estimate is kept: in parallel, float32 ran 48 and 64 within this box's
    noise of each other (5.2-6.7 µs a sample), and float64 ran best from 32
    to 48 (13-17 µs).
    """
    n0, n1 = sizes[0], sizes[1]
    deep, units = 0, 0
    for l in range(1, sizes.shape[0] - 1):
        deep += sizes[l] * sizes[l + 1]
        units += sizes[l + 1]
    samples = 3 * (3 * deep + (K // 2) * n1 + 20 * (n1 + units))
    c = (2 * n0 * n1 + 2 * K * n0 - samples) // (4 * n0)
    c = (c + TILE_COLUMNS // 2) // TILE_COLUMNS * TILE_COLUMNS
    return max(0, min(n1, c))


@njit(**JIT_OPTIONS)
def _block_samples(Y, order, s0, m, theta, sizes, offsets, acts, deltas, act_off, z0, G, lr,
                   loss_kind):
    """The m samples of a block, from their first-layer products (rows z0: of layer 1's acts).

    Leaves their first-layer deltas in deltas' layer-1 rows z0:, scaled by
    -lr, for the block's W_0 update, and their outputs in the output layer's
    rows z0: of acts (``block_loss``); updates every other parameter.
    """
    L = sizes.shape[0] - 1
    n1 = sizes[1]
    one = theta.dtype.type(1)
    b0 = bias(theta, sizes, offsets, 0)
    for t in range(m):
        a1 = _act_row(acts, act_off, sizes, 1, z0, t)
        g = G[t]
        for k in range(t):
            c = lr * g[k]
            d = _delta_row(deltas, act_off, sizes, 1, z0, k)
            for j in range(n1):
                a1[j] -= c * d[j]
        for j in range(n1):
            a1[j] = sigmoid(a1[j] + b0[j], one)
        for l in range(1, L):
            W = flat_weights(theta, sizes, offsets, l)
            b = bias(theta, sizes, offsets, l)
            z = _act_row(acts, act_off, sizes, l + 1, z0, t)
            if t == 0:
                forward_row(_act_row(acts, act_off, sizes, l, z0, t), W, b, z)
            else:
                step_forward_row(
                    _act_row(acts, act_off, sizes, l, z0, t - 1),
                    _delta_row(deltas, act_off, sizes, l + 1, z0, t), lr,
                    _act_row(acts, act_off, sizes, l, z0, t), W, b, z,
                )
        # Its loss is added after the block (block_loss), outside the parallel region.
        output_delta_only_row(
            _act_row(acts, act_off, sizes, L, z0, t), Y[order[s0 + t]],
            _delta_row(deltas, act_off, sizes, L, z0, t), loss_kind,
        )
        for l in range(L - 1, 0, -1):
            hidden_delta_row(
                _delta_row(deltas, act_off, sizes, l + 1, z0, t),
                flat_weights(theta, sizes, offsets, l),
                _act_row(acts, act_off, sizes, l, z0, t),
                _delta_row(deltas, act_off, sizes, l, z0, t),
            )
        d = _delta_row(deltas, act_off, sizes, 1, z0, t)
        for j in range(n1):
            b0[j] -= lr * d[j]
    # The deeper layers' pending update of the block's last sample: nothing
    # carries over to the next block.
    for l in range(1, L):
        step_row(
            _act_row(acts, act_off, sizes, l, z0, m - 1),
            _delta_row(deltas, act_off, sizes, l + 1, z0, m - 1), lr,
            flat_weights(theta, sizes, offsets, l), bias(theta, sizes, offsets, l),
        )
    for t in range(m):
        d = _delta_row(deltas, act_off, sizes, 1, z0, t)
        for j in range(n1):
            d[j] *= -lr


@njit(inline="always", **JIT_OPTIONS)
def block_loss(Y, order, s0, m, acts, act_off, sizes, z0, loss_kind):
    """The summed loss of a block's m samples, from the outputs ``_block_samples`` left.

    Added after the block, on the calling thread: a sum inside the parallel
    region would be a prange reduction, which allocates on every call.
    """
    L = sizes.shape[0] - 1
    total = 0.0
    for t in range(m):
        total += loss_row(_act_row(acts, act_off, sizes, L, z0, t), Y[order[s0 + t]], loss_kind)
    return total


def _block_region(X, Y, order, b, n, theta, sizes, offsets, acts, deltas, act_off, lr,
                  loss_kind, split):
    """Block b's samples on one thread while the other runs the GEMMs for block b + 1.

    Task 0: the samples, then the data rows of block b + 2 (into the slot
    that block b - 2 left), then columns ``[0, split)``; task 1: columns
    ``[split, n_1)``, then the next block's Gram matrix and its products with
    this block's rows. Columns of W_0: the previous block's update, then the
    next block's product. The samples read none of W_0 or the data rows, and
    task 1 does not read block b + 2's slot, so nothing one task writes is
    read by the other.
    """
    n0, n1 = sizes[0], sizes[1]
    K = act_off[1] // (BLOCKS * n0)
    nb = (n + K - 1) // K
    s0 = b * K
    m = min(K, n - s0)
    m_last = K if b > 0 else 0
    m_next = min(K, n - s0 - K) if b + 1 < nb else 0
    W0 = weights(theta, sizes, offsets, 0)
    X_all = block(acts, act_off, sizes, 0, BLOCKS * K)
    X_cur = _slot(X_all, K, b)
    X_last = _slot(X_all, K, b - 1)
    X_next = _slot(X_all, K, b + 1)
    X_after = _slot(X_all, K, b + 2)
    m_after = min(K, n - s0 - 2 * K) if b + 2 < nb else 0
    z0, z1 = (b % 2) * K, ((b + 1) % 2) * K
    P_next = block(acts, act_off, sizes, 1, 2 * K)[z1 : z1 + K]
    D_last = block(deltas, act_off, sizes, 1, 2 * K)[z1 : z1 + K]
    G = _square(deltas, K, b % 2, m, m)
    for task in prange(2):
        if task == 0:
            _block_samples(Y, order, s0, m, theta, sizes, offsets, acts, deltas, act_off, z0,
                           G, lr, loss_kind)
            if m_after > 0:
                gather_rows(X, order, s0 + 2 * K, X_after[:m_after])
            _columns(W0, 0, split, X_last, D_last, m_last, X_next, P_next, m_next)
        else:
            _columns(W0, split, n1, X_last, D_last, m_last, X_next, P_next, m_next)
            if m_next > 0:
                matmul_bt_into(X_next[:m_next], X_next[:m_next],
                               _square(deltas, K, (b + 1) % 2, m_next, m_next))
                matmul_bt_into(X_cur[:m], X_next[:m_next], _square(deltas, K, 2, m, m_next))


# Functions of their own, not inlined: inlining the samples into the prange
# body took Numba 29 s to compile (its IR inliner copies the body again and
# again), against 5 s this way. Linking them is safe for the bits since the
# kernels are compiled without reassoc (config.py).
block_region = njit(**JIT_OPTIONS)(_block_region)
block_region_parallel = njit(parallel=True, **JIT_OPTIONS)(twin(_block_region, "_parallel"))


@njit(**JIT_OPTIONS)
def sgd_epoch_deferred(X, Y, order, theta, sizes, offsets, acts, deltas, act_off, lr, loss_kind):
    """``epochs.sgd_epoch`` with W_0's updates applied once per block of K samples.

    Same arguments and result as ``sgd_epoch``; the workspace has
    ``BLOCKS * K`` rows (K = ``act_off[1] // (BLOCKS sizes[0])``). Matches
    ``reference.sgd_epoch``.
    """
    n0 = sizes[0]
    K = act_off[1] // (BLOCKS * n0)
    n = order.shape[0]
    if n == 0:
        return 0.0
    nb = (n + K - 1) // K
    lr = theta.dtype.type(lr)
    split = split_column(sizes, K)
    W0 = weights(theta, sizes, offsets, 0)
    X_all = block(acts, act_off, sizes, 0, BLOCKS * K)
    A1 = block(acts, act_off, sizes, 1, 2 * K)
    D1 = block(deltas, act_off, sizes, 1, 2 * K)
    m = min(K, n)
    gather_rows(X, order, 0, X_all[:m])
    # Every call with the same argument types (no literal 0 for m_last): one
    # specialisation of boundary_gemms serves them all.
    none = n - n
    boundary_gemms(X_all[K:], D1, none, X_all[:K], A1, _square(deltas, K, 0, m, m), m, W0)
    if nb > 1:
        gather_rows(X, order, K, X_all[K : K + min(K, n - K)])
    total = 0.0
    for b in range(nb):
        block_region(X, Y, order, b, n, theta, sizes, offsets, acts, deltas, act_off, lr,
                     loss_kind, split)
        s0 = b * K
        m = min(K, n - s0)
        z0, z1 = (b % 2) * K, ((b + 1) % 2) * K
        total += block_loss(Y, order, s0, m, acts, act_off, sizes, z0, loss_kind)
        if b + 1 < nb:
            # The next block's products, taken before this block's update, get it now:
            # X_next W_0 += (X_b X_nextᵀ)ᵀ (-lr D_b).
            m_next = min(K, n - s0 - K)
            add_at_b(_square(deltas, K, 2, m, m_next), D1[z0 : z0 + m],
                     A1[z1 : z1 + m_next])
    # The last block's update.
    z_last = ((nb - 1) % 2) * K
    boundary_gemms(_slot(X_all, K, nb - 1), D1[z_last : z_last + K], n - (nb - 1) * K,
                   X_all[:K], A1, _square(deltas, K, 0, 0, 0), none, W0)
    if not all_finite(theta):
        return np.nan
    return total


sgd_epoch_deferred_parallel = njit(**JIT_OPTIONS)(
    twin(sgd_epoch_deferred, "_parallel", boundary_gemms=boundary_gemms_parallel,
         block_region=block_region_parallel)
)
