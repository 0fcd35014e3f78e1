"""Full-batch epochs on a Dask LocalCluster against one process (not part of CI).

For MNIST-shaped data (784 inputs, 10 outputs, ``--hidden`` units) and a
growing number of rows, prints per epoch: the wall time of one
``fastprop.distributed.fit(mode="batch")`` step with 1 and 2 workers (one
thread each), the compute time of the busiest worker, and the communication
overhead (step time minus that compute time: scheduling, sending the weights,
the tree reduction of the gradients, the update on the client); beside it
the single-process ``fastprop`` batch epoch on one thread (``Trainer``), and
the same process running the workers' kernel (``partition_gradient``) on all
rows plus the update. Speed-up is against the ``Trainer`` epoch.

The data are generated on the workers (``dask.array.random``), so the client
never holds them; the single-process run generates its own copy.

    python asv_bench/distributed_scaling.py                 # 10k, 40k, 160k rows
    python asv_bench/distributed_scaling.py --rows 10000 --epochs 3
"""

import os

# One BLAS thread in this process too, as Dask's nanny sets for its workers:
# the single-process figure is then one core, like one worker. (Measured here
# on a busy 2-core machine: OpenBLAS with its default threads made the
# 10k-row epoch 10x slower.)
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import inspect  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import dask.array as da  # noqa: E402
import numpy as np  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402

import fastprop  # noqa: E402
from fastprop import distributed as fd  # noqa: E402

N_IN, N_OUT = 784, 10


def cluster_data(n, workers):
    """X in [0, 1), Y in [0.1, 0.9), one row block per worker, made on the workers."""
    rs = da.random.RandomState(0)
    chunks = (-(-n // workers), N_IN)
    X = rs.random_sample((n, N_IN), chunks=chunks)
    Y = 0.1 + 0.8 * rs.random_sample((n, N_OUT), chunks=(chunks[0], N_OUT))
    return X, Y


def local_epoch(n, hidden, epochs):
    rng = np.random.default_rng(0)
    X = rng.random((n, N_IN))
    Y = 0.1 + 0.8 * rng.random((n, N_OUT))
    net = fastprop.Network((N_IN, *hidden, N_OUT), seed=0)
    kw = {"threads": 1} if "threads" in inspect.signature(fastprop.Trainer).parameters else {}
    trainer = fastprop.Trainer(net, X, Y, mode="batch", lr=1.0, shuffle=False, **kw)
    trainer.epoch()  # compile / load, first touch
    times, same_kernel = [], []
    for _ in range(epochs):
        t0 = time.perf_counter()
        trainer.epoch()
        times.append(time.perf_counter() - t0)
        # The kernel the workers run, on all rows in this process, and the update.
        t0 = time.perf_counter()
        _, grad = fd.partition_gradient(net.params, net.layer_sizes, X, Y, "mse")
        net.params -= (1.0 / n) * grad
        same_kernel.append(time.perf_counter() - t0)
    return statistics.median(times), statistics.median(same_kernel)


def cluster_epoch(client, n, workers, hidden, epochs):
    X, Y = cluster_data(n, workers)
    timings = []
    fd.fit(X, Y, hidden, client=client, mode="batch", lr=1.0, epochs=epochs + 1, seed=0,
           timings=timings)
    steps = timings[1:]  # the first step also waits for the data to settle
    wall = statistics.median(t for t, _ in steps)
    compute = statistics.median(c for _, c in steps)
    return wall, compute


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 40_000, 160_000])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--hidden", type=int, nargs="+", default=[32])
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    hidden = tuple(args.hidden)

    fd.warm_kernels()  # fill the Numba cache the workers load from
    results = {}
    for n in args.rows:
        results[n, 0] = local_epoch(n, hidden, args.epochs)
    for w in args.workers:
        with (
            LocalCluster(n_workers=w, threads_per_worker=1, processes=True,
                         dashboard_address=None) as cluster,
            Client(cluster) as client,
        ):
            for n in args.rows:
                results[n, w] = cluster_epoch(client, n, w, hidden, args.epochs)

    sizes = "-".join(str(s) for s in (N_IN, *hidden, N_OUT))
    print(f"\nfull-batch epoch, {sizes} float64, median of {args.epochs} epochs (seconds)\n")
    head = "| rows | 1 process: fit | same kernel |"
    rule = "|---:|---:|---:|"
    for w in args.workers:
        head += f" {w} worker{'s' * (w > 1)}: epoch | compute | overhead | speed-up |"
        rule += "---:|---:|---:|---:|"
    print(head)
    print(rule)
    for n in args.rows:
        local, same = results[n, 0]
        line = f"| {n:,} | {local:.3f} | {same:.3f} |"
        for w in args.workers:
            wall, compute = results[n, w]
            line += f" {wall:.3f} | {compute:.3f} | {wall - compute:.3f} | {local / wall:.2f}x |"
        print(line)


if __name__ == "__main__":
    main()
