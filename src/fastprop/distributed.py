"""Training on a Dask cluster: data partitioned across workers, weights on the client.

``fit`` trains one network on data held as Dask arrays (NumPy arrays are
split by rows and scattered first). The data stay where they are: each
worker runs fastprop's compiled kernels on its own partitions, and only
weights, gradients and losses travel.

Modes
-----
``"batch"``
    Full-batch gradient descent. Every step, each partition's summed
    gradient is computed where the partition lives, the partial sums are
    added by a binary tree over the partitions in row order (a fixed order,
    so a fit is deterministic), and the client applies the update
    ``W <- W - lr * g / n`` once. This is ``fastprop.fit(mode="batch")``
    with the sum taken in another order: float64 results agree with it to
    about 1e-12 relative.
``"minibatch"``
    Large mini-batch gradient descent. An epoch has
    ``S = ceil(n / batch_size)`` steps, as on one machine; partition p (of
    ``n_p`` rows) is cut into S consecutive near-equal slices (rows
    ``k * n_p // S`` to ``(k + 1) * n_p // S``), and step k's batch is the
    union of every partition's slice k, so each step draws on every worker
    and batches hold about ``batch_size`` rows. With ``reduction="mean"``
    the step divides by that batch's own size. ``shuffle=True`` permutes
    each partition's rows every epoch (never across partitions), from a
    stream seeded by ``(seed, epoch, partition)``.
``"average"``
    Model averaging (local SGD). Each round, every partition trains its own
    copy of the network for ``sync_every`` epochs over its own rows with the
    compiled trainer (``local_mode="sgd"`` per sample, or ``"minibatch"``
    with ``batch_size``), then the copies are averaged, weighted by
    partition size, and the average starts the next round. One partition
    is plain single-machine training. ``history`` gets one entry per epoch:
    the size-weighted mean of the partitions' local epoch losses. ``tol``
    is checked at the end of each round.

The cluster
-----------
``client=None`` uses the current client (``distributed.get_client()``),
for instance ``Client("tcp://scheduler:8786")`` or ``Client(LocalCluster())``.
Workers compile fastprop's kernels once, when they first join a fit
(a worker plugin, ``WarmKernels``), and keep them for every later task; point
``NUMBA_CACHE_DIR`` of every worker at a shared directory so a worker loads
the compiled code from disk instead of compiling it again.

The partitions stay on the workers they were prepared on and every step's
tasks are pinned there, so a worker that leaves the cluster takes its rows
with it: the client checks the workers while it waits and raises
``WorkerLostError`` (the network keeps its last finished epoch) instead of
waiting for that worker forever.
"""

import inspect
import itertools
import numbers
import time
import warnings
from concurrent.futures import CancelledError
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np

try:
    import dask.array as da
    from distributed import (
        Client,
        KilledWorker,
        WorkerPlugin,
        futures_of,
        get_client,
        get_worker,
        wait,
    )
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "fastprop.distributed needs Dask: pip install 'fastprop[dask]'"
    ) from exc

from . import datasets, fitting, kernels
from .fitting import encode, targets
from .kernels.deferred import DEFER_MIN_WEIGHTS, DEFER_ROWS
from .network import Network
from .scaling import Scaler
from .threads import check_threads, default_threads
from .trainer import CHUNK, DEFAULT_HIDDEN, DivergenceError, Trainer, _check_fits
from .trainer import fit as _local_fit
from .validation import (
    as_inputs,
    as_targets,
    check_dtype,
    check_hidden,
    check_int,
    check_option,
    check_positive_real,
    check_rows,
    check_seed,
    check_target_range,
    check_tol,
    resolve_dtype,
)
from .workspace import LOSS_CODES, Workspace

__all__ = [
    "SweepResult", "WarmKernels", "WorkerLostError", "fit", "partition_gradient", "sweep",
    "warm_kernels",
]

MODES = ("batch", "minibatch", "average")
LOCAL_MODES = ("sgd", "minibatch")


# ---------------------------------------------------------------- the one gradient call


def _shell(sizes, dtype, params):
    """A Network of ``sizes`` holding a writeable copy of ``params`` (no initialisation)."""
    net = Network.__new__(Network)
    net._setup(tuple(sizes), np.dtype(dtype))
    net.params[...] = params
    return net


def partition_gradient(params, sizes, X, Y, loss, order=None, start=0, stop=None):
    """Summed loss and flat gradient of the rows ``order[start:stop]`` of one partition.

    The only place ``fastprop.distributed`` calls the compiled gradient
    (``kernels.add_gradient``), the way ``fastprop.gradients`` does.

    Parameters
    ----------
    params : ndarray, flat
        The network's parameters (``Network.params`` layout); only read.
    sizes : tuple of int
        Layer sizes.
    X, Y : ndarray, (n, sizes[0]) and (n, sizes[-1])
        C-contiguous, writeable, of the dtype to train in.
    loss : {"mse", "bce"}
    order : ndarray of int64, optional
        Row order; default ``arange(n)``.
    start, stop : int
        The slice of ``order`` to use; default all of it.

    Returns
    -------
    summed_loss : float
    grad : ndarray like params
        Summed (not averaged) over the rows.
    """
    net = _shell(sizes, X.dtype, params)
    if order is None:
        order = np.arange(X.shape[0], dtype=np.int64)
    stop = order.shape[0] if stop is None else stop
    ws = Workspace(net, min(CHUNK, max(1, stop - start)))
    total = kernels.add_gradient(
        X, Y, order, start, stop, net.params, net._sizes, net._offsets, ws.grad,
        ws.acts, ws.deltas, ws.act_off, ws.chunk, LOSS_CODES[loss],
    )
    return float(total), ws.grad


# ---------------------------------------------------------------- warm kernels


def warm_kernels():
    """Compile (or load from Numba's cache) every kernel a distributed fit calls.

    Runs a tiny fit of each kind in float64 and float32 on the calling
    process; cheap once the process has compiled them. Returns the number
    of compiled signatures (see ``_signature_count``).
    """
    rng = np.random.default_rng(0)
    for dt in (np.float64, np.float32):
        X = rng.random((6, 3)).astype(dt)
        Y = rng.random((6, 2)).astype(dt)
        # A hidden layer wider than 4: a (3, 2, 2) net would train with
        # run_epochs_tiny and leave run_epochs_whole cold.
        net = Network((3, 5, 2), seed=0, dtype=dt)
        partition_gradient(net.params, net.layer_sizes, X, Y, "mse")
        for mode in ("sgd", "batch"):
            Trainer(net, X, Y, mode=mode, seed=0).train(1)
        net.predict(X)
        # Per-sample SGD on a large first layer: run_epochs_deferred, both twins;
        # a batch through it reaches matrix products: run_epochs_whole.
        wide = Network((DEFER_ROWS, DEFER_MIN_WEIGHTS // DEFER_ROWS, 2), seed=0, dtype=dt)
        Xw = rng.random((6, DEFER_ROWS)).astype(dt)
        Trainer(wide, Xw, Y, mode="batch", seed=0).train(1)
        for threads in {1, default_threads()}:
            Trainer(wide, Xw, Y, mode="sgd", seed=0, threads=threads).train(1)
    return _signature_count()


def _signature_count():
    """How many signatures the kernels a distributed fit uses are compiled for."""
    # run_epochs_rows and run_epochs_whole: what a Trainer whose batches are
    # never split calls (the local trainers here are small), run_epochs_sgd a
    # per-sample one (run_epochs_deferred and its parallel twin if its first
    # layer is large); run_epochs and its parallel twin serve split ones.
    used = (kernels.add_gradient, kernels.run_epochs_rows, kernels.run_epochs_whole,
            kernels.run_epochs_sgd,
            kernels.run_epochs_deferred, kernels.run_epochs_deferred_parallel,
            kernels.run_epochs, kernels.run_epochs_parallel, kernels.predict_into)
    return sum(len(k.signatures) for k in used)


class WarmKernels(WorkerPlugin):
    """Worker plugin: compile fastprop's kernels once per worker process, at setup.

    Registered by ``fit`` and ``sweep`` on the client's cluster; it also runs
    on workers that join later. Every later task reuses the compiled code.
    """

    name = "fastprop-warm-kernels"

    def setup(self, worker):
        worker.fastprop_signatures = warm_kernels()


def _warm(client):
    client.register_plugin(WarmKernels())


# ---------------------------------------------------------------- client and arguments


def _get_client(client):
    if client is not None:
        if not isinstance(client, Client):
            raise TypeError(
                f"client must be a dask.distributed.Client or None; got {type(client).__name__}"
            )
        return client
    try:
        return get_client()
    except ValueError as exc:
        raise ValueError(
            "no Dask client: pass client=, or connect one first, e.g. "
            "Client('tcp://scheduler:8786') or Client(LocalCluster())"
        ) from exc


def _check_choice(name, value, allowed):
    if not isinstance(value, str) or value not in allowed:
        choices = ", ".join(repr(v) for v in allowed)
        raise ValueError(f"{name} must be one of {choices}; got {value!r}")
    return value


def _workers(client):
    """Worker addresses with their thread counts, in a fixed (sorted) order."""
    nthreads = client.nthreads()
    if not nthreads:
        raise ValueError("the Dask cluster has no workers")
    return sorted(nthreads.items())


# ---------------------------------------------------------------- partitions on the workers


class _Part:
    """One partition as it lives on a worker: X and Y ready for the kernels.

    With ``classify=True`` Y holds the raw labels until ``_encode_part``
    replaces them by targets and keeps their class indices as ``codes``.
    """

    def __init__(self, X, Y, codes=None):
        self.X, self.Y, self.codes = X, Y, codes
        self.n = X.shape[0]
        self.order = np.arange(self.n, dtype=np.int64)


def _check_finite_block(arr, name, row0):
    """fastprop's NaN/inf message, with the row counted in the whole array."""
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        index = (int(bad[0]) + row0, *(int(i) for i in bad[1:]))
        raise ValueError(
            f"{name} contains NaN or inf (first at index {index}); remove or impute those values"
        )


def _prepare(X, Y, dtype, row0, labels=False):
    """On the worker: check a partition for NaN/inf and cast it once (a writeable copy)."""
    X, Y = np.asarray(X), np.asarray(Y)
    _check_finite_block(X, "X", row0)
    if labels:
        return _Part(as_inputs(X, dtype), fitting._labels(Y, "Y"))
    _check_finite_block(Y, "Y", row0)
    return _Part(as_inputs(X, dtype), as_targets(Y, dtype))


def _part_stats(part):
    return part.n, float(part.Y.min()), float(part.Y.max()), part.Y.shape[1]


def _part_classes(part):
    return np.unique(part.Y)


def _encode_part(part, classes, dtype):
    """Labels to targets, as ``fastprop.fit(classify=True)`` makes them."""
    codes = encode(part.Y, classes, "Y")
    return _Part(part.X, targets(codes, classes.size, dtype), codes)


def _take(part, rows):
    """The rows (a boolean mask) of a partition, as a partition of their own."""
    codes = None if part.codes is None else part.codes[rows]
    return _Part(part.X[rows], part.Y[rows], codes)


def _column_sums(part):
    X = part.X.astype(np.float64)
    return X.sum(axis=0), X.min(axis=0), X.max(axis=0)


def _column_squares(part, mean):
    d = part.X.astype(np.float64) - mean
    return (d * d).sum(axis=0)


def _scale_part(part, scaler):
    return _Part(scaler.transform(part.X), part.Y, part.codes)


def _fit_scaler(client, parts, sizes, kind):
    """``Scaler.fit(kind)`` on the rows of all partitions, computed where they live.

    Minimum and maximum are exact; mean and standard deviation take the two
    passes ``numpy.mean`` and ``numpy.std`` take (the mean, then the mean
    squared deviation from it), with partial sums added per partition.
    """
    first = client.gather(client.map(_column_sums, parts, pure=False))
    if kind == "minmax":
        shift = np.min([f[1] for f in first], axis=0)
        return Scaler.from_stats(kind, shift, np.max([f[2] for f in first], axis=0) - shift)
    n = sum(sizes)
    mean = sum(f[0] for f in first) / n
    squares = client.gather(client.map(_column_squares, parts, mean=mean, pure=False))
    return Scaler.from_stats(kind, mean, np.sqrt(sum(squares) / n))


def _check_dask_array(arr, name, targets, labels=False):
    """The checks ``as_inputs``/``as_targets`` (``fitting._labels`` for class labels)
    make that need no data, same messages."""
    if labels:
        if arr.ndim != 1:
            raise ValueError(
                f"{name} must be 1-d class labels with classify=True; got shape {arr.shape}"
            )
        if arr.dtype.kind not in "biufUO":
            raise TypeError(
                f"{name} must hold numbers or strings as class labels; got dtype {arr.dtype}"
            )
    elif arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers (bool, int or float); got dtype {arr.dtype}")
    if targets and not labels:
        if arr.ndim not in (1, 2):
            raise ValueError(
                f"{name} must be 1-d or 2-d (samples, outputs); got shape {arr.shape}"
            )
        if arr.ndim == 1:
            arr = arr.reshape(-1, 1)
    elif not targets and arr.ndim != 2:
        hint = " (use X.reshape(-1, 1) for one feature)" if arr.ndim == 1 else ""
        raise ValueError(f"{name} must be 2-d (samples, features); got shape {arr.shape}{hint}")
    if any(np.isnan(c) for c in arr.chunks[0]):
        arr = arr.compute_chunk_sizes()
    if arr.shape[0] == 0 or (arr.ndim == 2 and arr.shape[1] == 0):
        raise ValueError(f"{name} is empty: shape {arr.shape}")
    return arr


# How a lost worker can show before the scheduler has dropped it: a failed transfer
# (CommClosedError is an OSError), a task cancelled for lost inputs, or a task whose
# worker died while running it.
_LOSS_SIGNS = (OSError, CancelledError, KilledWorker)


class WorkerLostError(RuntimeError):
    """A worker holding part of the data left the cluster during a distributed fit.

    Its partitions are gone, so the fit stops; ``network`` keeps the weights
    of the last finished epoch (round, in ``"average"`` mode).
    """

    def __init__(self, message, network):
        super().__init__(message)
        self.network = network


class _Data:
    """Partitions of (X, Y) held on the workers, in row order."""

    #: Seconds between two checks that the data's workers are still there.
    POLL = 1.0

    def __init__(self, client, parts, sizes):
        self.client, self.parts = client, parts
        with client.as_current():
            wait(parts)
        for p in parts:
            if p.status == "error":
                p.result()  # raises the partition's error (a scaled X out of range)
        who = client.who_has(parts)
        self.workers = [who[p.key][0] for p in parts]
        self.sizes = list(sizes)
        self.n = sum(self.sizes)

    def submit(self, i, func, *args):
        """Run ``func(*args)`` on the worker that holds partition ``i``."""
        return self.client.submit(
            func, *args, workers=[self.workers[i]], allow_other_workers=False, pure=False
        )

    def check(self, network, patience=0.0):
        """Raise WorkerLostError if a worker holding partitions has left the cluster.

        ``patience``: seconds to give the scheduler to notice a loss (a
        transfer can fail before the scheduler has dropped the worker)."""
        deadline = time.perf_counter() + patience
        while True:
            gone = sorted(set(self.workers) - set(self.client.nthreads()))
            if gone or time.perf_counter() >= deadline:
                break
            time.sleep(0.1)
        if gone:
            parts = [i for i, w in enumerate(self.workers) if w in gone]
            raise WorkerLostError(
                f"worker {', '.join(gone)} left the cluster during the fit, with "
                f"partitions {parts} of the data; the fit stops. The network keeps the "
                f"weights of its last finished epoch ({len(network.history)} in "
                "history; error.network): call fit again with network=error.network "
                "to continue",
                network,
            )

    def result(self, future, network):
        """``future.result()``, or WorkerLostError once a worker of the data is gone.

        Tasks are pinned to the partitions' workers, so without this check a
        fit whose worker died would wait for it forever.
        """
        while True:
            try:
                return future.result(timeout=self.POLL)
            except TimeoutError:
                self.check(network)

    def evaluate(self, network, loss):
        """Summed ``loss`` of the network on all partitions, and the rows it classifies right."""
        sizes = network.layer_sizes
        try:
            futures = [
                self.submit(j, _evaluate_task, network.params, sizes, part, loss)
                for j, part in enumerate(self.parts)
            ]
            results = [self.result(f, network) for f in futures]
        except _LOSS_SIGNS:
            self.check(network, patience=5 * self.POLL)
            raise
        return sum(r[0] for r in results), sum(r[1] for r in results)


def _evaluate_task(params, sizes, part, loss):
    total, _ = partition_gradient(params, sizes, part.X, part.Y, loss)
    correct = 0
    if part.codes is not None:
        p = _shell(sizes, part.X.dtype, params).predict(part.X)
        idx = p[:, 0] >= 0.5 if p.shape[1] == 1 else p.argmax(axis=1)
        correct = int(np.count_nonzero(idx == part.codes))
    return total, correct


def _distribute(client, X, Y, dt, labels):
    """Check X and Y and leave one prepared ``_Part`` per row block on the workers.

    Returns the partitions' futures and the number of features."""
    if isinstance(X, da.Array) or isinstance(Y, da.Array):
        X = X if isinstance(X, da.Array) else da.from_array(np.asarray(X))
        Y = Y if isinstance(Y, da.Array) else da.from_array(np.asarray(Y))
        X = _check_dask_array(X, "X", targets=False)
        Y = _check_dask_array(Y, "Y", targets=True, labels=labels)
        check_rows(X, Y)
        X = X.rechunk({1: -1})
        Y = Y.rechunk({0: X.chunks[0]} if labels else {0: X.chunks[0], 1: -1})
        X, Y = client.persist([X, Y])
        xf = {f.key: f for f in futures_of(X)}
        yf = {f.key: f for f in futures_of(Y)}
        xkeys = [k[0] for k in X.__dask_keys__()]
        ykeys = Y.__dask_keys__() if labels else [k[0] for k in Y.__dask_keys__()]
        starts = np.concatenate(([0], np.cumsum(X.chunks[0])))
        blocks = [
            (xf[xk], yf[yk], int(starts[i]))
            for i, (xk, yk) in enumerate(zip(xkeys, ykeys, strict=True))
            if X.chunks[0][i] > 0
        ]
        parts = [
            client.submit(_prepare, xb, yb, dt, row0, labels, pure=False)
            for xb, yb, row0 in blocks
        ]
    else:
        # In memory here: check it exactly as fastprop.fit does, then split by rows
        # into one block per worker thread, consecutive blocks on the same worker.
        X = as_inputs(X, dt)
        Y = fitting._labels(Y, "Y") if labels else as_targets(Y, dt)
        check_rows(X, Y)
        workers = _workers(client)
        slots = [addr for addr, threads in workers for _ in range(threads)]
        k = min(len(slots), X.shape[0])
        bounds = [X.shape[0] * i // k for i in range(k + 1)]
        parts = []
        for i in range(k):
            a, b = bounds[i], bounds[i + 1]
            xb, yb = client.scatter([X[a:b], Y[a:b]], workers=[slots[i]], hash=False)
            # The scattered copies arrive read-only; _prepare makes the kernels' copy.
            parts.append(
                client.submit(_prepare, xb, yb, dt, a, labels, workers=[slots[i]], pure=False)
            )
    return parts, X.shape[1]


# ---------------------------------------------------------------- tasks


def _gradient_task(state, sizes, part, loss, order, start, stop):
    t0 = time.perf_counter()
    order = part.order if order is None else order
    total, grad = partition_gradient(state[0], sizes, part.X, part.Y, loss, order, start, stop)
    return total, grad, {get_worker().address: time.perf_counter() - t0}


def _merge_times(a, b):
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0.0) + v
    return out


def _add_gradients(a, b):
    return a[0] + b[0], a[1] + b[1], _merge_times(a[2], b[2])


def _update_task(state, total, step):
    """The gradient step ``theta - step * g``, in the dtype of theta; the new state."""
    theta = state[0]
    loss, grad, times = total
    with np.errstate(over="ignore", invalid="ignore"):
        # Overflow shows as inf; the client reports it as divergence.
        new = theta - theta.dtype.type(step) * grad
    return new, [loss], times


def _shuffled_order(part, entropy, epoch, index):
    return np.random.default_rng([entropy, epoch, index]).permutation(part.n).astype(np.int64)


def _local_train_task(state, sizes, part, settings, seed, epochs):
    t0 = time.perf_counter()
    net = _shell(sizes, part.X.dtype, state[0])
    diverged = False
    try:
        Trainer(net, part.X, part.Y, seed=seed, **settings).train(epochs)
    except DivergenceError:
        diverged = True
    losses = np.zeros(epochs)
    losses[: len(net.history)] = net.history
    w = float(part.n)
    times = {get_worker().address: time.perf_counter() - t0}
    return w * net.params.astype(np.float64), w * losses, w, diverged, times


def _add_averages(a, b):
    return a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] or b[3], _merge_times(a[4], b[4])


def _average_task(total, dtype):
    """The size-weighted mean of the local models (None if one diverged); the new state."""
    wparams, wlosses, w, diverged, times = total
    if diverged:
        return None, [], times
    with np.errstate(over="ignore", invalid="ignore"):
        return (wparams / w).astype(dtype), (wlosses / w).tolist(), times


def _tree(client, futures, combine):
    """Combine futures pairwise, level by level, in their given order."""
    while len(futures) > 1:
        level = [
            client.submit(combine, futures[i], futures[i + 1], pure=False)
            for i in range(0, len(futures) - 1, 2)
        ]
        if len(futures) % 2:
            level.append(futures[-1])
        futures = level
    return futures[0]


# ---------------------------------------------------------------- fit


def fit(
    X,
    Y,
    hidden=DEFAULT_HIDDEN,
    *,
    client=None,
    mode="batch",
    network=None,
    batch_size=32,
    lr=0.5,
    epochs=100,
    tol=None,
    loss="mse",
    reduction="mean",
    shuffle=True,
    seed=None,
    init="xavier",
    dtype=None,
    classify=False,
    scale=None,
    validation_split=None,
    validation_data=None,
    patience=None,
    callback=None,
    threads=None,
    sync_every=1,
    local_mode="minibatch",
    timings=None,
):
    """Train a network on data spread over a Dask cluster.

    Parameters
    ----------
    X : dask.array.Array or array_like, shape (n, n_features)
        A Dask array is used as partitioned (its row chunks are the
        partitions); a NumPy array is checked here, split by rows into one
        block per worker thread and scattered.
    Y : dask.array.Array or array_like, shape (n, n_outputs) or (n,)
    client : distributed.Client, optional
        Default: the current client.
    mode : {"batch", "minibatch", "average"}
        See the module docstring for what each computes.
    sync_every : int
        ``mode="average"``: local epochs between two averages.
    local_mode : {"sgd", "minibatch"}
        ``mode="average"``: how each partition trains its copy.
    timings : list, optional
        If given, one ``(wall_seconds, worker_seconds)`` pair is appended per
        step (per round in ``"average"``): the step's time on the client and
        the compute time of the busiest worker. For benchmarks.
    hidden, network, batch_size, lr, epochs, tol, loss, reduction, shuffle, seed, init, dtype
        As in ``fastprop.fit``. ``shuffle`` changes nothing in ``"batch"`` mode.
    validation_data, patience, callback
        As in ``fastprop.fit`` (``validation_data`` as arrays on the client);
        with them the client steps one epoch at a time and measures between
        epochs. ``mode="average"`` then needs ``sync_every=1``.
    threads : int, optional
        ``mode="average"``: Numba threads of each partition's local trainer;
        default 1, since a Dask worker thread stands for one core. The other
        modes run one gradient task per partition on one thread each.
    classify, scale, validation_split
        As in ``fastprop.fit``, computed where the data are: the classes are
        the union of each partition's distinct labels, and the labels are
        encoded on the workers; the scaler's column statistics (min/max, or
        mean and standard deviation in two passes) are added up from the
        partitions of the training rows, and the workers scale their rows
        once; ``validation_split`` holds out the same rows as ``fastprop.fit``
        with the same seed, cut out of each partition on its worker, and the
        validation loss and accuracies are measured there every epoch. A
        ``network=`` with a scaler has it applied the same way.

    Returns
    -------
    Network
        The trained network, on the client; ``history`` holds each epoch's loss.

    Raises
    ------
    DivergenceError
        If the loss becomes non-finite; the network keeps the weights from
        the start of that epoch (``"average"``: of that round).
    WorkerLostError
        If a worker holding partitions leaves the cluster during training
        (noticed about a second after the scheduler drops it); the network
        keeps the weights of its last finished epoch (round).
    """
    client = _get_client(client)
    _check_choice("mode", mode, MODES)
    _check_choice("local_mode", local_mode, LOCAL_MODES)
    for name, value in (("loss", loss), ("reduction", reduction), ("init", init)):
        check_option(name, value)
    lr = check_positive_real("lr", lr)
    epochs = check_int("epochs", epochs, 1)
    batch_size = check_int("batch_size", batch_size, 1)
    sync_every = check_int("sync_every", sync_every, 1)
    tol = check_tol(tol)
    seed = check_seed(seed)
    hidden_given = hidden is not DEFAULT_HIDDEN
    hidden = check_hidden(hidden)
    if not isinstance(shuffle, (bool, np.bool_)):
        raise TypeError(f"shuffle must be True or False; got {shuffle!r}")
    fitting.check_options(classify, validation_split, validation_data, patience, callback, scale)
    threads = 1 if threads is None else check_threads(threads)
    monitor = (
        validation_data is not None or validation_split is not None or patience is not None
        or callback is not None
    )
    if monitor and mode == "average" and sync_every != 1:
        raise ValueError(
            f"validation_data, patience and callback act after every epoch: with "
            f"mode='average' they need sync_every=1; got sync_every={sync_every}"
        )
    if timings is not None and not isinstance(timings, list):
        raise TypeError(f"timings must be a list or None; got {type(timings).__name__}")
    if network is not None:
        if not isinstance(network, Network):
            raise TypeError(f"network must be a fastprop.Network; got {type(network).__name__}")
        if dtype is not None and check_dtype(dtype) != network.dtype:
            raise ValueError(
                f"dtype={np.dtype(dtype).name} differs from the network's {network.dtype.name}"
            )
        dt = network.dtype
    else:
        dt = resolve_dtype(dtype, getattr(X, "dtype", None))
    check_positive_real("lr", lr, dt)

    _warm(client)
    parts, n_features = _distribute(client, X, Y, dt, bool(classify))
    classes = None
    if classify:
        # The classes as fastprop.fit finds them (and its messages), from each
        # partition's distinct labels; then encoded where the labels are.
        uniques = client.gather(client.map(_part_classes, parts, pure=False))
        _, _, classes = fitting.label_targets(np.concatenate(uniques), dt, network)
        parts = [client.submit(_encode_part, p, classes, dt, pure=False) for p in parts]
    stats = client.gather(client.map(_part_stats, parts, pure=False))
    sizes = [st[0] for st in stats]
    check_target_range(np.array([min(st[1] for st in stats), max(st[2] for st in stats)]), loss)
    n_outputs = stats[0][3]
    shapes = (np.empty((0, n_features), dt), np.empty((0, n_outputs), dt))
    if network is not None:
        _check_fits(network, *shapes, hidden if hidden_given else None)
    # Checks scale= against network='s scaler and the validation data, as fastprop.fit does.
    monitoring = fitting.prepare(
        *shapes, None, classes, network, scale=None if network is None else scale,
        validation_split=None, validation_data=validation_data, seed=seed, loss=loss,
        reduction=reduction,
    )
    held = None
    if validation_split is not None:
        # The rows fastprop.fit holds out, cut out of each partition where it lives.
        _, held_rows = fitting.split_rows(sum(sizes), validation_split, seed)
        mask = np.zeros(sum(sizes), dtype=bool)
        mask[held_rows] = True
        bounds = np.concatenate(([0], np.cumsum(sizes)))
        cuts = [mask[bounds[j] : bounds[j + 1]] for j in range(len(parts))]
        held = [(client.submit(_take, p, m, pure=False), int(m.sum()))
                for p, m in zip(parts, cuts, strict=True) if m.any()]
        parts = [(client.submit(_take, p, ~m, pure=False), int((~m).sum()))
                 for p, m in zip(parts, cuts, strict=True) if not m.all()]
        (parts, sizes), (held, held_sizes) = (
            ([p for p, _ in pk], [k for _, k in pk]) for pk in (parts, held)
        )
    if scale is not None and monitoring.scaler is None:
        monitoring.scaler = _fit_scaler(client, parts, sizes, scale)
    if monitoring.scaler is not None:
        parts = [client.submit(_scale_part, p, monitoring.scaler, pure=False) for p in parts]
        if held is not None:
            held = [client.submit(_scale_part, p, monitoring.scaler, pure=False) for p in held]
    data = _Data(client, parts, sizes)
    held = None if held is None else _Data(client, held, held_sizes)
    monitoring = _Monitor(monitoring, data, held, bool(classify))
    if network is None:
        network = Network((n_features, *hidden, n_outputs), seed=seed, init=init, dtype=dt)
    monitoring.attach(network)

    entropy = seed if seed is not None else int(np.random.SeedSequence().entropy)
    run = _Run(data, network, lr, loss, reduction == "mean", timings)
    if mode == "average":
        settings = dict(
            mode=local_mode, batch_size=batch_size, lr=lr, loss=loss, reduction=reduction,
            shuffle=shuffle, threads=threads,
        )

        def train(first, epochs, tol):
            run.average(epochs, tol, 1 if monitor else sync_every, settings, entropy, first)
    else:
        steps = 1 if mode == "batch" else -(-data.n // batch_size)

        def train(first, epochs, tol):
            run.descend(epochs, tol, steps, shuffle and mode == "minibatch", entropy, first)

    if monitor:
        stepper = _Stepper(run, data.n, lambda first: train(first, 1, None))
        monitoring.train(stepper, epochs, tol, patience, callback)
        return network
    epochs_before = len(network.history)
    try:
        train(0, epochs, tol)
    except KeyboardInterrupt:
        warnings.warn(
            f"training interrupted after {len(network.history)} epochs; "
            "the network keeps its weights",
            UserWarning,
            stacklevel=2,
        )
    finally:
        fitting.pad_metrics(network)
    monitoring.after_fast(network, epochs_before)
    return network


class _Monitor(fitting.Run):
    """``fitting.Run`` whose accuracy and held-out loss are measured on the workers."""

    def __init__(self, run, data, held, classify):
        self.__dict__.update(vars(run))
        self.data, self.held, self.classify = data, held, classify

    def _data_accuracy(self, network):
        return self.data.evaluate(network, self.loss)[1] / self.data.n

    def measure(self, network, logs):
        if self.classify:
            logs["accuracy"] = self._data_accuracy(network)
        super().measure(network, logs)  # validation_data, on the client
        if self.held is not None:
            total, correct = self.held.evaluate(network, self.loss)
            logs["val_loss"] = total / self.held.n if self.reduction == "mean" else total
            if self.classify:
                logs["val_accuracy"] = correct / self.held.n

    def after_fast(self, network, epochs_before):
        fitting.pad_metrics(network)
        if self.classify and len(network.history) > epochs_before:
            fitting.record(network, "accuracy", self._data_accuracy(network))


class _Run:
    """The client's side of one distributed fit: the steps in flight, history, stopping.

    A step is a chain of tasks: the partitions' gradients (or local
    trainings), the tree that adds them, and one task that applies the
    update and returns the new *state* ``(params, losses, times)``. The next
    step's tasks take that state as it sits on a worker, so the client never
    sends the weights; it submits up to ``WINDOW`` steps ahead and reads each
    state back in order (the weights it needs for ``history``, ``tol`` and
    divergence), which hides its round trip to the cluster. Steps that turn
    out not to be needed (``tol`` reached, divergence) are cancelled, so the
    result is the same as stepping one at a time.
    """

    WINDOW = 4

    def __init__(self, data, network, lr, loss, mean, timings):
        self.data, self.net = data, network
        self.client = data.client
        self.lr, self.loss, self.mean, self.timings = lr, loss, mean, timings
        self.sizes = network.layer_sizes

    def _run(self, n_steps, submit, finish):
        """Submit steps ``0..n_steps-1`` with ``submit(i, state)``; ``finish(result)``
        gets each new state in order and returns True to stop."""
        client = self.client
        inflight, i = [], 0
        t_last = time.perf_counter()
        try:
            [state] = client.scatter([(self.net.params.copy(), [], {})], hash=False)
            while i < n_steps or inflight:
                while i < n_steps and len(inflight) < self.WINDOW:
                    state = submit(i, state)
                    inflight.append(state)
                    i += 1
                result = self.data.result(inflight.pop(0), self.net)
                now = time.perf_counter()
                if self.timings is not None:
                    self.timings.append((now - t_last, max(result[2].values(), default=0.0)))
                t_last = now
                if finish(result):
                    return
        except _LOSS_SIGNS:
            self.data.check(self.net, patience=5 * self.data.POLL)
            raise
        finally:
            # Dropping the futures lets the scheduler forget the steps still queued.
            # Client.cancel on them was followed, once in CI, by the scheduler
            # removing this client and releasing its scattered data, so that the
            # next fit lost its partitions (or waited on them for ever).
            inflight.clear()

    def _diverged(self, what):
        raise DivergenceError(
            f"training diverged in epoch {len(self.net.history) + 1}: the loss became "
            f"non-finite with lr={self.lr}; try a smaller lr. The network keeps the weights "
            f"from the start of that {what} (error.network).",
            self.net,
        )

    def descend(self, epochs, tol, steps, shuffle, entropy, first=0):
        """Gradient descent, ``steps`` updates per epoch over slices of every partition.

        ``first`` numbers the first epoch (it picks the shuffles)."""
        data, net = self.data, self.net
        orders = {}
        epoch_total, done = [0.0], [0]

        def submit(i, state):
            epoch, k = divmod(i, steps)
            epoch += first
            if k == 0:
                orders.pop(epoch - 2, None)
                orders[epoch] = [
                    data.submit(j, _shuffled_order, part, entropy, epoch, j) if shuffle else None
                    for j, part in enumerate(data.parts)
                ]
            grads, m = [], 0
            for j, part in enumerate(data.parts):
                n_p = data.sizes[j]
                start, stop = k * n_p // steps, (k + 1) * n_p // steps
                if stop > start:
                    m += stop - start
                    grads.append(data.submit(
                        j, _gradient_task, state, self.sizes, part, self.loss, orders[epoch][j],
                        start, stop,
                    ))
            total = _tree(self.client, grads, _add_gradients)
            step = float(self.lr / m if self.mean else self.lr)
            return self.client.submit(_update_task, state, total, step, pure=False)

        def finish(result):
            params, (step_loss,), _ = result
            epoch_total[0] += step_loss
            done[0] += 1
            if done[0] % steps:
                return False
            total = epoch_total[0]
            epoch_total[0] = 0.0
            if total != total or not kernels.all_finite(params):
                self._diverged("epoch")
            net.params[...] = params
            loss = total / data.n if self.mean else total
            net.history.append(loss)
            return tol is not None and loss <= tol

        self._run(epochs * steps, submit, finish)

    def average(self, epochs, tol, sync_every, settings, entropy, first=0):
        """Rounds of local training on every partition, then a size-weighted average.

        ``first`` numbers the first round (it picks the local seeds)."""
        data, net = self.data, self.net
        rounds = [min(sync_every, epochs - e) for e in range(0, epochs, sync_every)]

        def submit(r, state):
            results = []
            for j, part in enumerate(data.parts):
                seed = int(np.random.SeedSequence([entropy, first + r, j]).generate_state(1)[0])
                results.append(data.submit(
                    j, _local_train_task, state, self.sizes, part, settings, seed, rounds[r]
                ))
            total = _tree(self.client, results, _add_averages)
            return self.client.submit(_average_task, total, net.dtype, pure=False)

        def finish(result):
            params, losses, _ = result
            if params is None or not kernels.all_finite(params):
                self._diverged("round")
            net.params[...] = params
            net.history.extend(losses)
            return tol is not None and losses[-1] <= tol

        self._run(len(rounds), submit, finish)


class _Stepper:
    """What ``fitting.Run.train`` drives when fit monitors: one distributed epoch per call."""

    def __init__(self, run, n, step):
        self.network = run.net
        self.X = SimpleNamespace(shape=(n,))  # Run.train reads the number of rows
        self.step, self.done = step, 0

    def epoch(self):
        self.step(self.done)
        self.done += 1
        return self.network.history[-1]


# ---------------------------------------------------------------- sweep


@dataclass(frozen=True)
class SweepResult:
    """One trained network of a sweep.

    ``settings`` are the fit keyword arguments; ``score`` is the validation
    loss (the setting's loss, averaged over the validation rows), lower is
    better, ``inf`` if training diverged (then ``error`` says so and
    ``network`` holds its last finite weights).
    """

    settings: dict
    network: Network = field(repr=False)
    score: float
    error: str | None = None


# Whatever fastprop.fit takes besides the data.
_FIT_ARGUMENTS = tuple(inspect.signature(_local_fit).parameters)[2:]


def _settings_list(settings):
    """A list of dicts, or a dict of lists expanded to its grid (in the dict's order)."""
    if isinstance(settings, dict):
        for key, values in settings.items():
            if not isinstance(values, (list, tuple)):
                raise TypeError(
                    f"settings[{key!r}] must be a list of values to try; got {values!r}"
                )
        keys = list(settings)
        grid = [dict(zip(keys, combo, strict=True)) for combo in itertools.product(
            *(settings[k] for k in keys))]
    elif isinstance(settings, (list, tuple)):
        grid = list(settings)
        for i, s in enumerate(grid):
            if not isinstance(s, dict):
                raise TypeError(f"settings[{i}] must be a dict of fit arguments; got {s!r}")
    else:
        raise TypeError(
            "settings must be a list of dicts of fit arguments or a dict of lists (a grid); "
            f"got {type(settings).__name__}"
        )
    if not grid:
        raise ValueError("settings is empty: give at least one set of fit arguments")
    for i, s in enumerate(grid):
        unknown = sorted(set(s) - set(_FIT_ARGUMENTS))
        if unknown:
            raise TypeError(
                f"settings[{i}] has unknown fit arguments {unknown}; "
                f"allowed: {', '.join(_FIT_ARGUMENTS)}"
            )
    return grid


def _split(X, Y, fraction, seed):
    """The data checked as ``fastprop.fit`` checks them, split into training and validation."""
    X = as_inputs(X, resolve_dtype(None, getattr(X, "dtype", None)))
    # Y as given: class labels (classify=True) are not numbers; each fit checks it.
    Y = np.asarray(Y)
    if Y.ndim == 0:
        raise ValueError(f"Y must be 1-d or 2-d (samples, outputs); got shape {Y.shape}")
    check_rows(X, Y)
    n = X.shape[0]
    n_val = int(round(n * fraction))
    if n_val == 0 or n_val == n:
        raise ValueError(f"validation_split={fraction} of {n} samples leaves one part empty")
    return datasets.train_test_split(X, Y, test_fraction=fraction, seed=seed)


def _sweep_task(split, index, setting):
    X_train, X_val, Y_train, Y_val = split
    setting = dict(setting)
    if isinstance(setting.get("network"), Network):
        setting["network"] = setting["network"].copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        try:
            net = _local_fit(X_train, Y_train, **setting)
        except DivergenceError as exc:
            return index, exc.network, float("inf"), str(exc)
        except (ValueError, TypeError) as exc:
            return index, None, None, exc
    if net.classes is not None:
        try:
            codes = encode(Y_val, net.classes, "Y")
        except ValueError as exc:  # a validation label the training rows never had
            return index, net, float("inf"), str(exc)
        Y_val = targets(codes, net.classes.size, net.dtype)
    score = net.loss(X_val, Y_val, loss=setting.get("loss", "mse"))
    return index, net, score, None


def sweep(settings, X, Y, *, client=None, validation_split=0.2, seed=0):
    """Train many networks at once on a Dask cluster; best validation loss first.

    Each network is an ordinary single-machine ``fastprop.fit`` run as one
    task, so the networks train in parallel, one per worker thread; the data
    (which must fit in one worker's memory) are sent to each worker once.

    Parameters
    ----------
    settings : list of dict, or dict of lists
        Keyword arguments of ``fastprop.fit``, one dict per network; a dict
        of lists is the grid of every combination.
    X, Y : array_like or dask.array.Array
    client : distributed.Client, optional
        Default: the current client.
    validation_split : float
        Share of the rows held out for scoring, strictly between 0 and 1.
    seed : int
        Seed of the random training/validation split.

    Returns
    -------
    list of SweepResult
        Sorted by ``score`` (validation loss), best first; ties keep the
        order of ``settings``.
    """
    client = _get_client(client)
    grid = _settings_list(settings)
    if isinstance(validation_split, bool) or not isinstance(validation_split, numbers.Real):
        raise TypeError(f"validation_split must be a real number; got {validation_split!r}")
    if not 0 < validation_split < 1:
        raise ValueError(
            f"validation_split must lie strictly between 0 and 1; got {validation_split}"
        )
    seed = check_seed(seed)
    _warm(client)
    if isinstance(X, da.Array) or isinstance(Y, da.Array):
        X, Y = client.compute([da.asarray(X), da.asarray(Y)])
        split = client.submit(_split, X, Y, validation_split, seed, pure=False)
    else:
        # Checked and split here, then sent once to every worker.
        split = _split(X, Y, validation_split, seed)
        [split] = client.scatter([split], broadcast=True, hash=False)
    tasks = [client.submit(_sweep_task, split, i, s, pure=False) for i, s in enumerate(grid)]
    results = []
    for index, net, score, error in client.gather(tasks):
        if isinstance(error, Exception):
            client.cancel(tasks)
            raise type(error)(f"settings[{index}]: {error}") from error
        results.append(SweepResult(grid[index], net, float(score), error))
    return sorted(results, key=lambda r: r.score)
