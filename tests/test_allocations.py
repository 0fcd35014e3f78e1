"""The epoch kernels allocate nothing per sample.

Numba's runtime counts every allocation when ``NUMBA_NRT_STATS=1`` is set
before numba is imported, so the measurement runs in a fresh interpreter and
reports through stdout. A call from Python unboxes each array argument into
one NRT MemInfo; that per-call cost is measured on an empty ``@njit`` function
taking the same arguments, and an epoch must cost exactly that, whether it
sees n samples, 4n samples, or runs several epochs in a row.
"""

import json
import os
import subprocess
import sys

import pytest

MEASURE = r"""
import json, sys
import numpy as np
from numba import njit
from numba.core.runtime import rtsys
from fastprop import Network, kernels
from fastprop.kernels.deferred import BLOCKS
from fastprop.workspace import Workspace

N = 50
EPOCHS = 3


def counters():
    s = rtsys.get_allocation_stats()
    return np.array([s.alloc, s.free, s.mi_alloc, s.mi_free], dtype=np.int64)


def cost(f, *args):
    before = counters()
    f(*args)
    return (counters() - before).tolist()


@njit
def empty_sgd(X, Y, order, theta, sizes, offsets, acts, deltas, act_off, lr, loss_kind):
    return 0.0


@njit
def empty_minibatch(X, Y, order, theta, sizes, offsets, partials, part_acts, part_deltas,
                    part_loss, act_off, batch_size, chunk, n_weights, max_parts, min_part_macs,
                    lr, mean, loss_kind):
    return 0.0


@njit
def allocating_sgd(X, Y, order, theta, sizes, offsets, acts, deltas, act_off, lr, loss_kind):
    # The control: one small array per sample, as a careless kernel would make.
    total = 0.0
    for k in range(order.shape[0]):
        tmp = np.empty(acts.shape[0], dtype=theta.dtype)
        tmp[:] = lr
        total += tmp[0]
    return total


def measure(dtype, sizes, mode, batch_size=None, chunk=None):
    net = Network(sizes, seed=0, dtype=dtype)
    rng = np.random.default_rng(0)
    X = rng.random((4 * N, sizes[0])).astype(dtype)
    Y = (0.1 + 0.8 * rng.random((4 * N, sizes[-1]))).astype(dtype)
    lr = dtype(0.1)
    if mode == "minibatch":
        ws = Workspace(net, chunk)

        def args(n):
            order = rng.permutation(n).astype(np.int64)
            return (X, Y, order, net.params, net._sizes, net._offsets, ws.partials,
                    ws.part_acts, ws.part_deltas, ws.part_loss, ws.act_off,
                    min(batch_size, n), ws.chunk, 1, 1, 1, lr, True, kernels.LOSS_MSE)

        kernel, empty = kernels.parallel.parts_epoch_whole, empty_minibatch
    else:
        # sgd keeps two rows; the deferred kernel two blocks of 4 (blocks 4, ..., 4, 2).
        ws = Workspace(net, BLOCKS * 4 if mode == "deferred" else 2)

        def args(n):
            order = rng.permutation(n).astype(np.int64)
            return (X, Y, order, net.params, net._sizes, net._offsets, ws.acts, ws.deltas,
                    ws.act_off, lr, kernels.LOSS_BCE)

        kernel = {"allocating": allocating_sgd,
                  "deferred": kernels.sgd_epoch_deferred}.get(mode, kernels.sgd_epoch)
        empty = empty_sgd
    # Compile (or load from cache) outside the measurement.
    empty(*args(N))
    kernel(*args(N))
    several = args(4 * N)
    before = counters()
    for _ in range(EPOCHS):
        kernel(*several)
    after = counters()
    return {
        "baseline": cost(empty, *args(N)),
        "n": cost(kernel, *args(N)),
        "4n": cost(kernel, *args(4 * N)),
        "epochs": ((after - before) // EPOCHS).tolist(),
        "epochs_total": (after - before).tolist(),
        "finite": bool(np.isfinite(net.params).all()),
    }


@njit
def empty_run(X, Y, orders, theta, sizes, offsets, partials, part_acts, part_deltas,
              part_loss, act_off, snapshot, losses, per_sample, batch_size, chunk,
              n_weights, max_parts, min_part_macs, lr, mean, loss_kind, tol):
    return 0


def measure_run_epochs(dtype, per_sample, parts=1, parallel=False, deferred=False, chunk=16,
                       rows=False):
    # run_epochs: one call of 1 epoch and one of 20 cost what the call unboxes,
    # also when each batch is split into parts on Numba's thread pool.
    sizes = (8, 16, 3)
    net = Network(sizes, seed=0, dtype=dtype)
    rng = np.random.default_rng(0)
    X = rng.random((N, sizes[0])).astype(dtype)
    Y = (0.1 + 0.8 * rng.random((N, sizes[-1]))).astype(dtype)
    ws = Workspace(net, (BLOCKS * 4 if deferred else 2) if per_sample else chunk, parts)
    snapshot = np.empty_like(net.params)
    losses = np.empty(20)

    def args(epochs):
        orders = rng.permuted(np.tile(np.arange(N), (epochs, 1)), axis=1)
        return (X, Y, orders, net.params, net._sizes, net._offsets, ws.partials, ws.part_acts,
                ws.part_deltas, ws.part_loss, ws.act_off, snapshot, losses,
                per_sample, 32, ws.chunk, 1, ws.parts, 1, dtype(0.1), True, kernels.LOSS_MSE,
                -1.0)

    # The kernel Trainer calls for this workspace.
    if parallel and deferred:
        kernel = kernels.run_epochs_deferred_parallel
    elif parallel:
        kernel = kernels.run_epochs_parallel
    elif deferred:
        kernel = kernels.run_epochs_deferred
    elif rows:
        kernel = kernels.run_epochs_rows
    else:
        kernel = (kernels.run_epochs_sgd if per_sample
                  else kernels.run_epochs_whole if parts == 1 else kernels.run_epochs)
    empty_run(*args(1))
    kernel(*args(1))
    return {
        "baseline": cost(empty_run, *args(1)),
        "one": cost(kernel, *args(1)),
        "twenty": cost(kernel, *args(20)),
        "finite": bool(np.isfinite(net.params).all()),
    }


@njit
def empty_tiny(X, Y, orders, theta, sizes, grad, acts, deltas, snapshot, losses, per_sample,
               batch_size, lr, mean, loss_kind, tol):
    return 0


def measure_run_tiny(dtype, per_sample):
    # run_epochs_tiny (one hidden layer, widths <= 4), batches of 3 with a partial last one.
    sizes = (3, 4, 2)
    net = Network(sizes, seed=0, dtype=dtype)
    rng = np.random.default_rng(0)
    X = rng.random((N, sizes[0])).astype(dtype)
    Y = (0.1 + 0.8 * rng.random((N, sizes[-1]))).astype(dtype)
    ws = Workspace(net, 2 if per_sample else 3)
    snapshot = np.empty_like(net.params)
    losses = np.empty(20)

    def args(epochs):
        orders = rng.permuted(np.tile(np.arange(N), (epochs, 1)), axis=1)
        return (X, Y, orders, net.params, net._sizes, ws.grad, ws.acts, ws.deltas, snapshot,
                losses, per_sample, 3, dtype(0.1), True, kernels.LOSS_MSE, -1.0)

    empty_tiny(*args(1))
    kernels.run_epochs_tiny(*args(1))
    return {
        "baseline": cost(empty_tiny, *args(1)),
        "one": cost(kernels.run_epochs_tiny, *args(1)),
        "twenty": cost(kernels.run_epochs_tiny, *args(20)),
        "finite": bool(np.isfinite(net.params).all()),
    }


results = {}
for dtype in (np.float64, np.float32):
    dn = np.dtype(dtype).name
    results[f"run-tiny-sgd-{dn}"] = measure_run_tiny(dtype, True)
    results[f"run-tiny-minibatch-{dn}"] = measure_run_tiny(dtype, False)
    results[f"run-sgd-{dn}"] = measure_run_epochs(dtype, True)
    results[f"run-minibatch-{dn}"] = measure_run_epochs(dtype, False)
    # Blocks of 8 rows, below BLAS_MIN_MACS in every layer: the rows chain.
    results[f"run-rows-{dn}"] = measure_run_epochs(dtype, False, chunk=8, rows=True)
    results[f"run-deferred-{dn}"] = measure_run_epochs(dtype, True, deferred=True)
    if dtype == np.float32:
        # Its samples and GEMMs run side by side in a prange region: a sum inside it
        # would allocate on every block. One dtype: each costs a compilation.
        results[f"run-deferred-parallel-{dn}"] = measure_run_epochs(
            dtype, True, deferred=True, parallel=True)
    # Batches of 32 in two parts of 16 rows: the serial twin and the parallel kernel.
    results[f"run-parts-{dn}"] = measure_run_epochs(dtype, False, parts=2)
    results[f"run-parallel-{dn}"] = measure_run_epochs(dtype, False, parts=2, parallel=True)
    # The same batches within one block of 32 rows: kernels/split.py, both twins.
    results[f"run-split-{dn}"] = measure_run_epochs(dtype, False, parts=2, chunk=32)
    results[f"run-split-parallel-{dn}"] = measure_run_epochs(dtype, False, parts=2,
                                                             parallel=True, chunk=32)
for dtype in (np.float64, np.float32):
    dn = np.dtype(dtype).name
    results[f"sgd-{dn}"] = measure(dtype, (8, 16, 3), "sgd")
    results[f"deferred-{dn}"] = measure(dtype, (8, 16, 3), "deferred")
    results[f"minibatch-batch32-{dn}"] = measure(dtype, (8, 16, 3), "minibatch", 32, 32)
    # Full batch, accumulated 16 rows at a time.
    results[f"fullbatch-chunk16-{dn}"] = measure(dtype, (8, 16, 3), "minibatch", 10**6, 16)
results["allocating-control"] = measure(np.float64, (8, 16, 3), "allocating")
print("RESULTS" + json.dumps(results))
"""

CASES = [
    f"{kind}-{dt}"
    for dt in ("float64", "float32")
    for kind in ("sgd", "deferred", "minibatch-batch32", "fullbatch-chunk16")
]


@pytest.fixture(scope="module")
def allocations():
    env = dict(os.environ, NUMBA_NRT_STATS="1")
    proc = subprocess.run(
        [sys.executable, "-c", MEASURE], env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULTS")][-1]
    return json.loads(line[len("RESULTS") :])


def test_counters_see_per_sample_allocations(allocations):
    """The measurement works: a kernel that allocates per sample is caught."""
    r = allocations["allocating-control"]
    # alloc: one per sample on top of the per-call unboxing (50 and 200 samples).
    assert r["n"][0] - r["baseline"][0] == 50
    assert r["4n"][0] - r["baseline"][0] == 200
    assert r["baseline"][2] > 0, "unboxing arrays should be counted as MemInfo allocations"


@pytest.mark.parametrize("case", CASES)
def test_epoch_kernel_allocates_only_what_the_call_unboxes(allocations, case):
    r = allocations[case]
    assert r["finite"]
    assert r["baseline"][0] > 0
    # alloc, free, mi_alloc, mi_free: each equal to an empty function's cost...
    assert r["n"] == r["baseline"], f"{case}: {r['n']} allocations vs {r['baseline']}"
    # ...whatever the number of samples, and epoch after epoch.
    assert r["4n"] == r["baseline"]
    assert r["epochs"] == r["baseline"]
    assert r["epochs_total"] == [3 * v for v in r["baseline"]]
    # Everything allocated is freed again.
    assert r["n"][0] == r["n"][1] and r["n"][2] == r["n"][3]


@pytest.mark.parametrize(
    "case",
    [
        f"run-{m}-{dt}"
        for dt in ("float64", "float32")
        for m in ("sgd", "deferred", "minibatch", "rows", "parts", "parallel", "split",
                  "split-parallel", "tiny-sgd", "tiny-minibatch")
    ] + ["run-deferred-parallel-float32"],
)
def test_run_epochs_allocates_only_what_the_call_unboxes(allocations, case):
    r = allocations[case]
    assert r["finite"]
    assert r["one"] == r["baseline"], f"{case}: {r['one']} vs {r['baseline']}"
    assert r["twenty"] == r["baseline"], f"{case}: 20 epochs cost {r['twenty']}"
