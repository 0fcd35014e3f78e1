"""Epochs per second on the teaching notes' 3-4-1 problem, against FANN's 2.36M.

    python asv_bench/seeds_speed.py [--epochs 100000] [--repeats 7] [--kernel]

Times ``Trainer(net, X, Y, mode=..., lr=0.5, seed=0).train(epochs, tol=None)``
(the ``seeds`` workload of ``benchmarks/common.py``: 4 samples, 3-4-1) for
full batch, mini-batch 2 and per-sample SGD, in float32 and float64, after a
warm-up call, and prints the median over the repeats of epochs/s and its
ratio to FANN's 2.36M epochs/s, by the wall clock and by the CPU time of
the training thread. ``--kernel`` also times one block's kernel
call alone (``Trainer._run`` without the Python around it), to separate the
Python overhead from the compiled epochs. Prints the load average too: on a
shared machine the figures move with it.
"""

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchmarks.common import WORKLOADS, data  # noqa: E402

from fastprop import Network, Trainer  # noqa: E402

FANN_EPOCHS_PER_S = 2.36e6

# label: (mode, batch_size)
CASES = {"batch": ("batch", 4), "mb2": ("minibatch", 2), "sgd": ("sgd", 1)}


def trainer(mode, batch_size, dtype):
    w = WORKLOADS["seeds"]
    X, Y = data("seeds", dtype)
    net = Network(w.layer_sizes, seed=0, dtype=dtype)
    return Trainer(net, X, Y, mode=mode, batch_size=batch_size, lr=w.lr, seed=0)


def train_rate(mode, batch_size, dtype, epochs, repeats):
    """Median epochs/s over the repeats: by the wall clock, and by this thread's CPU time.

    The second leaves out the time other processes held the core, which on
    a shared machine moves the first by tens of percent from run to run.
    """
    wall, cpu = [], []
    for _ in range(repeats + 1):  # the first run warms up (and loads or compiles)
        tr = trainer(mode, batch_size, dtype)
        t0, c0 = time.perf_counter(), time.thread_time()
        tr.train(epochs, tol=None)
        wall.append(epochs / (time.perf_counter() - t0))
        cpu.append(epochs / max(time.thread_time() - c0, 1e-9))
        assert len(tr.network.history) == epochs
    return statistics.median(wall[1:]), statistics.median(cpu[1:])


def kernel_rate(mode, batch_size, dtype, repeats):
    """One block (Trainer.max_block epochs) through the kernel alone, arguments prepared."""
    from fastprop import kernels

    tr = trainer(mode, batch_size, dtype)
    E = tr.max_block
    orders = tr._orders(E)
    net, ws = tr.network, tr.ws
    if getattr(tr, "tiny", False):  # older trees have no run_epochs_tiny
        run = kernels.run_epochs_tiny
        args = (
            tr.X, tr.Y, orders, net.params, net._sizes, ws.grad, ws.acts, ws.deltas,
            tr.snapshot, tr.losses, mode == "sgd", tr.batch_size, tr.lr, tr.mean,
            tr.loss_code, -1.0,
        )
    else:
        run = kernels.run_epochs_whole if ws.parts == 1 else kernels.run_epochs
        args = (
            tr.X, tr.Y, orders, net.params, net._sizes, net._offsets, ws.partials,
            ws.part_acts, ws.part_deltas, ws.part_loss, ws.act_off, tr.snapshot, tr.losses,
            mode == "sgd", tr.batch_size, tr.chunk, tr.n_weights, ws.parts,
            tr.MIN_PART_MACS, tr.lr, tr.mean, tr.loss_code, -1.0,
        )
    run(*args)
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run(*args)
        rates.append(E / (time.perf_counter() - t0))
    return statistics.median(rates)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=100_000)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--kernel", action="store_true", help="also time the kernel call alone")
    p.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    p.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    args = p.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} (cores: {os.cpu_count()})")
    print(f"{'case':6s} {'dtype':8s} {'epochs/s':>12s} {'x FANN':>7s} {'CPU ep/s':>12s} "
          f"{'x FANN':>7s}", end="")
    print(f" {'kernel ep/s':>12s} {'x FANN':>7s}" if args.kernel else "")
    for label in args.cases:
        mode, bs = CASES[label]
        for dtype in args.dtypes:
            dt = np.dtype(dtype)
            r, c = train_rate(mode, bs, dt, args.epochs, args.repeats)
            line = (f"{label:6s} {dtype:8s} {r:12,.0f} {r / FANN_EPOCHS_PER_S:7.2f} "
                    f"{c:12,.0f} {c / FANN_EPOCHS_PER_S:7.2f}")
            if args.kernel:
                k = kernel_rate(mode, bs, dt, args.repeats)
                line += f" {k:12,.0f} {k / FANN_EPOCHS_PER_S:7.2f}"
            print(line, flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
