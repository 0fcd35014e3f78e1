"""The profiles behind the comparison's unmet targets: where the time of each case goes.

    python asv_bench/profile_gaps.py sgd      # 784-128-64-10 per sample: the deferred tasks
    python asv_bench/profile_gaps.py wide     # 1024³-10, mini-batch 256: a step, its GEMMs
    python asv_bench/profile_gaps.py float64  # one 256-row block, float32 and float64

Each figure is the median of interleaved repeats in one process (this
project's machine drifts by a third within minutes, so only figures taken
side by side compare). ``--quick`` runs every case once on small shapes
(tests/test_benchmarks.py does, so that the script keeps up with the
kernels it calls).

sgd: per-sample SGD on 784-128-64-10 defers W_0's updates over blocks of
K samples (``kernels.deferred``): one thread runs the block's samples, the
other the GEMMs for the next block; µs a sample for each task alone, both
tasks on two threads, and a whole epoch. The GEMMs do one multiply-add per
weight of W_0 twice a sample (its update and its product) at a core's peak
rate, so they, not the samples, set the pace.

wide: a mini-batch of 256 is cut into two parts of 128 rows, each on one
core with single-threaded OpenBLAS over 4 MB weight blocks; the parts'
gradients are then summed and applied (``reduce``). Also OpenBLAS's rate
on one part's three products, and on the whole batch's with two threads
(one part, no reduction: the path not taken).

float64: forward, backward and both (``add_gradient``, with the gather of
the data rows) over one 256-row block, one thread, in GMAC/s: float64's
vector FMA does half of float32's multiply-adds per instruction.
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def median_times(calls, repeats, number):
    """{name: median seconds a call}, the calls timed in turns ``repeats`` times."""
    for f in calls.values():
        f()
    times = {name: [] for name in calls}
    for _ in range(repeats):
        for name, f in calls.items():
            start = time.perf_counter()
            for _ in range(number):
                f()
            times[name].append((time.perf_counter() - start) / number)
    return {name: float(np.median(v)) for name, v in times.items()}


def profile_sgd(quick):
    from fastprop.kernels import deferred
    from fastprop.kernels.blas import matmul_bt_into
    from fastprop.kernels.network import block, weights

    from fastprop import Network, Trainer
    from fastprop.threads import KernelThreads

    sizes = (128, 64, 8, 4) if quick else (784, 128, 64, 10)
    n = 256 if quick else 8192
    rng = np.random.default_rng(0)
    X = rng.random((n, sizes[0])).astype(np.float32)
    Y = (0.1 + 0.8 * rng.random((n, sizes[-1]))).astype(np.float32)
    net = Network(sizes, seed=0, dtype=np.float32)
    trainer = Trainer(net, X, Y, mode="sgd", lr=0.01, threads=2, seed=0)
    assert trainer.deferred, "this network no longer takes the deferred path"
    trainer.epoch()
    ws, theta, sz, off = trainer.ws, net.params, net._sizes, net._offsets
    acts, deltas, ao = ws.acts, ws.deltas, ws.act_off
    K, n1 = deferred.DEFER_ROWS, sizes[1]
    split = deferred.split_column(sz, K)
    order = np.arange(n, dtype=np.int64)
    lr = net.dtype.type(0.01)
    W0 = weights(theta, sz, off, 0)
    X_all = block(acts, ao, sz, 0, deferred.BLOCKS * K)
    X_last, X_cur, X_next = X_all[:K], X_all[K : 2 * K], X_all[2 * K : 3 * K]
    P_next = block(acts, ao, sz, 1, 2 * K)[:K]
    D_last = block(deltas, ao, sz, 1, 2 * K)[:K]
    G = deferred._square(deltas, K, 1, K, K)
    G[...] = 0
    b = 1  # a block with a block before and after it
    calls = {
        "samples": lambda: deferred._block_samples(
            Y, order, K, K, theta, sz, off, acts, deltas, ao, K, G, lr, 0),
        f"W_0 columns [0, {split})": lambda: deferred._columns(
            W0, 0, split, X_last, D_last, K, X_next, P_next, K),
        f"W_0 columns [{split}, {n1})": lambda: deferred._columns(
            W0, split, n1, X_last, D_last, K, X_next, P_next, K),
        "Gram and cross products": lambda: (
            matmul_bt_into(X_next, X_next, deferred._square(deltas, K, 0, K, K)),
            matmul_bt_into(X_cur, X_next, deferred._square(deltas, K, 2, K, K))),
        "block, one thread": lambda: deferred.block_region(
            X, Y, order, b, n, theta, sz, off, acts, deltas, ao, lr, 0, split),
        "block, two threads": lambda: deferred.block_region_parallel(
            X, Y, order, b, n, theta, sz, off, acts, deltas, ao, lr, 0, split),
    }
    with KernelThreads(2, splits=True, uses_blas=True):
        t = median_times(calls, 1 if quick else 11, 1 if quick else 50)
    epoch = median_times({"epoch": trainer.epoch}, 1 if quick else 5, 1)["epoch"]
    print(f"Per-sample SGD, {'-'.join(map(str, sizes))} float32, blocks of {K} samples, "
          f"W_0's columns split at {split} of {n1}; µs a sample:")
    for name, s in t.items():
        print(f"  {name:28s} {s / K * 1e6:6.2f}")
    print(f"  {'whole epoch':28s} {epoch / n * 1e6:6.2f}  ({n / epoch / 1e3:.0f}k samples/s)")
    macs = 2 * sizes[0] * n1  # W_0's update and product, per sample
    cols = sum(s for name, s in t.items() if name.startswith("W_0")) / K
    print(f"  the W_0 GEMMs: {macs / cols / 1e9:.1f} GMAC/s over both column blocks")
    return t


def profile_wide(quick):
    from fastprop.kernels import parallel, split
    from threadpoolctl import threadpool_limits

    from fastprop import Network
    from fastprop.threads import KernelThreads
    from fastprop.workspace import Workspace

    m, width = (32, 64) if quick else (256, 1024)
    sizes = (width, width, width, 10)
    rng = np.random.default_rng(0)
    X = rng.random((m, width), dtype=np.float32)
    Y = (0.1 + 0.8 * rng.random((m, 10))).astype(np.float32)
    order = np.arange(m, dtype=np.int64)
    net, one = Network(sizes, seed=0, dtype=np.float32), Network(sizes, seed=0, dtype=np.float32)
    step = net.dtype.type(1e-4)
    ws, ws1 = Workspace(net, m, 2), Workspace(one, m, 1)
    th, sz, off = net.params, net._sizes, net._offsets

    def gradient():
        parallel.parts_gradient_parallel(
            X, Y, order, 0, m, th, sz, off, ws.partials, ws.part_acts, ws.part_deltas,
            ws.part_loss, ws.act_off, ws.chunk, 2, 0)

    def one_part():  # every product over the batch's 256 rows, OpenBLAS on two threads
        split.split_batch_step(X, Y, order, 0, m, one.params, one._sizes, one._offsets,
                               ws1.acts, ws1.deltas, ws1.act_off, 1, ws1.part_loss, step, 0)

    repeats, number = (1, 1) if quick else (9, 5)
    with KernelThreads(2, splits=True, uses_blas=True):
        t = median_times({
            "parts' gradients (2 x 128 rows)": gradient,
            "reduce and update": lambda: parallel.reduce_step_parallel(ws.partials, 2, th, step),
        }, repeats, number)
    with threadpool_limits(2, "blas"):
        t.update(median_times({"one part, OpenBLAS 2 threads": one_part}, repeats, number))
    half = m // 2
    A, D, W = X[:half], rng.random((half, width), dtype=np.float32), net.weights[1].copy()
    Z, P, Gw = np.empty((half, width), np.float32), np.empty((half, width), np.float32), \
        np.zeros_like(W)
    with threadpool_limits(1, "blas"):
        gemm = median_times({
            "A W (forward)": lambda: np.matmul(A, W, out=Z),
            "D Wᵀ (delta)": lambda: np.matmul(D, W.T, out=P),
            "Aᵀ D (gradient)": lambda: np.matmul(A.T, D, out=Gw),
        }, repeats, number)
    print(f"{'-'.join(map(str, sizes))} float32, mini-batch {m}, two threads; ms a step:")
    step_ms = t["parts' gradients (2 x 128 rows)"] + t["reduce and update"]
    for name, s in t.items():
        print(f"  {name:34s} {s * 1e3:7.2f}")
    print(f"  {'step as trained (the two above)':34s} {step_ms * 1e3:7.2f}  "
          f"({m / step_ms / 1e3:.1f}k samples/s)")
    print(f"OpenBLAS on one thread, {half} rows through {width} x {width}, GMAC/s:")
    for name, s in gemm.items():
        print(f"  {name:34s} {half * width * width / s / 1e9:7.1f}")
    return t, gemm


def profile_float64(quick):
    from fastprop.kernels.network import add_gradient, backward_block, block, forward_block

    from fastprop import Network
    from fastprop.threads import KernelThreads
    from fastprop.workspace import Workspace

    sizes = (64, 32, 10) if quick else (784, 128, 64, 10)
    m = 32 if quick else 256
    calls = {}
    # Multiply-adds a row: forward, and backward (every layer's gradient, and the
    # deltas through every layer but the first).
    fwd = sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    bwd = fwd + sum(a * b for a, b in zip(sizes[1:-1], sizes[2:], strict=True))
    macs = {"forward": fwd, "backward": bwd, "add_gradient": fwd + bwd}
    for dtype in ("float32", "float64"):
        net = Network(sizes, seed=0, dtype=dtype)
        ws = Workspace(net, m, 1)
        rng = np.random.default_rng(0)
        X = rng.random((m, sizes[0])).astype(dtype)
        Y = (0.1 + 0.8 * rng.random((m, sizes[-1]))).astype(dtype)
        order = np.arange(m, dtype=np.int64)
        grad = np.zeros_like(net.params)
        th, sz, off, acts, deltas, ao = (net.params, net._sizes, net._offsets, ws.acts,
                                         ws.deltas, ws.act_off)
        block(acts, ao, sz, 0, m)[:] = X
        calls[(dtype, "forward")] = lambda th=th, sz=sz, off=off, acts=acts, ao=ao: (
            forward_block(th, sz, off, acts, ao, m))
        calls[(dtype, "backward")] = (
            lambda th=th, sz=sz, off=off, g=grad, acts=acts, deltas=deltas, ao=ao:
            backward_block(th, sz, off, g, acts, deltas, ao, m))
        calls[(dtype, "add_gradient")] = (
            lambda X=X, Y=Y, order=order, th=th, sz=sz, off=off, g=grad, acts=acts,
            deltas=deltas, ao=ao: add_gradient(X, Y, order, 0, m, th, sz, off, g, acts,
                                               deltas, ao, m, 0))
    with KernelThreads(1, uses_blas=True):
        t = median_times(calls, 1 if quick else 15, 1 if quick else 20)
    print(f"One {m}-row block of {'-'.join(map(str, sizes))}, one thread; µs and GMAC/s:")
    for what in ("forward", "backward", "add_gradient"):
        s32, s64 = t[("float32", what)], t[("float64", what)]
        r32, r64 = (m * macs[what] / s / 1e9 for s in (s32, s64))
        print(f"  {what:13s} float32 {s32 * 1e6:7.0f} µs {r32:5.1f}   float64 "
              f"{s64 * 1e6:7.0f} µs {r64:5.1f}   float64 / float32 speed {s32 / s64:.3f}")
    return t


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("case", choices=["sgd", "wide", "float64"])
    p.add_argument("--quick", action="store_true", help="small shapes, one repeat (a smoke test)")
    args = p.parse_args(argv)
    return {"sgd": profile_sgd, "wide": profile_wide, "float64": profile_float64}[args.case](
        args.quick)


if __name__ == "__main__":
    main()
