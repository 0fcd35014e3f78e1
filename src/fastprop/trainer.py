"""``fastprop.fit``: checks the inputs once, then calls one compiled kernel per epoch."""

import warnings

import numpy as np

from . import fitting, kernels
from .compile_lock import ensure_compiled
from .kernels.config import BLAS_MIN_MACS
from .kernels.deferred import BLOCKS, DEFER_ROWS, defers
from .kernels.parallel import _n_parts as n_parts
from .kernels.tiny import is_tiny
from .network import Network
from .reference import shuffle_generator
from .threads import KernelThreads, check_threads
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

# Rows per block when a batch's gradient is accumulated: large enough to keep
# the loops busy, small enough that the workspace stays in cache and does not
# grow with the data in full-batch mode.
CHUNK = 256

DEFAULT_HIDDEN = (32,)


class DivergenceError(FloatingPointError):
    """Training produced a non-finite loss or non-finite weights.

    ``network`` holds the weights from the start of the failing epoch, the
    last ones known to be finite.
    """

    def __init__(self, message, network):
        super().__init__(message)
        self.network = network


def fit(
    X,
    Y,
    hidden=DEFAULT_HIDDEN,
    *,
    network=None,
    mode="minibatch",
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
):
    """Train a dense sigmoid network on (X, Y) by backpropagation.

    Parameters
    ----------
    X : array_like, shape (n, n_features)
    Y : array_like, shape (n, n_outputs) or (n,)
        Targets; a sigmoid output lies in (0, 1), so scale them there.
    hidden : sequence of int
        Hidden layer widths; ``()`` for none.
    network : Network, optional
        Continue training this network, in place, instead of a new one.
    mode : {"sgd", "minibatch", "batch"}
        One sample, ``batch_size`` samples, or all samples per update.
    batch_size : int
        Samples per update in ``"minibatch"`` mode; larger than n means n.
    lr : float
        Learning rate η in ``W ← W - η ∂L/∂W``.
    epochs : int
        Maximum number of passes over the data.
    tol : float, optional
        Stop once an epoch's training loss is at most ``tol``.
    loss : {"mse", "bce"}
        ½ Σ (y - ŷ)², or binary cross-entropy.
    reduction : {"mean", "sum"}
        Whether gradients (and the reported loss) are averaged over the
        samples of a batch or summed.
    shuffle : bool
        Visit the samples in a fresh random order each epoch (a full batch,
        whose order would only reorder a sum, is always summed in order).
    seed : int, optional
        Seeds the initial weights and the shuffling: same seed, same result,
        bit for bit.
    init : {"xavier", "uniform"}
        Initial weights of a new network (see ``Network``).
    dtype : float32 or float64, optional
        Default: float32 if X is float32, else float64 (or the dtype of
        ``network``).
    classify : bool
        Y is 1-d class labels (ints, floats or strings): one output unit for
        two classes (the probability of the second), k units for k > 2; sets
        ``network.classes`` and records training accuracy in
        ``network.metrics["accuracy"]`` (each epoch when monitoring, else at
        the last one). Continuing a classifier, labels must be among its classes.
    scale : {None, "minmax", "standard"}
        Fit a ``Scaler`` on the training rows of X and store it as
        ``network.scaler``; the network applies it to every X from then on.
        Continuing a network that has a scaler reuses it.
    validation_split : float in (0, 1), optional
        Hold out this share of the rows (drawn from ``seed``) for validation.
    validation_data : (X_val, Y_val), optional
        Validation rows given directly (labels if ``classify``).
    patience : int >= 1, optional
        Stop after ``patience`` epochs without a lower validation loss (the
        training loss without validation data) and end with the weights of
        the best epoch.
    callback : callable, optional
        ``callback(epoch, logs)`` after every epoch; ``epoch`` counts from 1
        in this call; ``logs`` holds ``"loss"``, ``"epoch_seconds"``,
        ``"samples_per_s"``, ``"epochs"`` (the maximum) and, when measured,
        ``"val_loss"``, ``"accuracy"``, ``"val_accuracy"``. Returning True
        stops training.
    threads : int, optional
        Threads that mini-batch and full-batch gradients run on: all of
        Numba's pool by default (``NUMBA_NUM_THREADS``), or ``OMP_NUM_THREADS``
        when that is set and smaller (joblib's and Dask's workers set it so
        that processes running at once share the cores). A batch is split
        into up to 8 parts (fewer for small batches and networks), each
        computed with single-threaded BLAS for its large layers, and the
        result is the same, bit for bit, for any number of threads. A batch
        too small to split runs on one thread, and so does per-sample SGD,
        except for the block GEMMs of a large first layer's deferred updates
        (``kernels.deferred``), which use up to two.

    Validation, patience or a callback make fit run one compiled call per
    epoch and measure in between; without them many epochs run per call.
    Either way the shuffles and the history are the same. Validation loss
    uses ``loss`` and ``reduction``; ``network.metrics`` holds
    ``"val_loss"``, ``"accuracy"`` and ``"val_accuracy"``, each as long as
    ``history`` (NaN where not measured). Ctrl-C stops after the current
    epoch with a warning; the network keeps its weights (the best ones with
    ``patience``).

    Returns
    -------
    Network
        The trained network; ``history`` holds each epoch's loss, measured
        sample by sample (or batch by batch) as the epoch went.

    Raises
    ------
    DivergenceError
        If the loss becomes non-finite; the network keeps its last finite
        weights and is attached to the error.
    """
    for name, value in (("mode", mode), ("loss", loss), ("reduction", reduction), ("init", init)):
        check_option(name, value)
    lr = check_positive_real("lr", lr)
    epochs = check_int("epochs", epochs, 1)
    batch_size = check_int("batch_size", batch_size, 1)
    tol = check_tol(tol)
    seed = check_seed(seed)
    threads = check_threads(threads)
    hidden_given = hidden is not DEFAULT_HIDDEN
    hidden = check_hidden(hidden)
    if not isinstance(shuffle, (bool, np.bool_)):
        raise TypeError(f"shuffle must be True or False; got {shuffle!r}")
    fitting.check_options(classify, validation_split, validation_data, patience, callback, scale)

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
    X = as_inputs(X, dt)
    codes = classes = None
    if classify:
        Y, codes, classes = fitting.label_targets(Y, dt, network)
    else:
        Y = as_targets(Y, dt)
    check_rows(X, Y)
    check_target_range(Y, loss)
    if network is not None:
        _check_fits(network, X, Y, hidden if hidden_given else None)
    run = fitting.prepare(
        X, Y, codes, classes, network, scale=scale, validation_split=validation_split,
        validation_data=validation_data, seed=seed, loss=loss, reduction=reduction,
    )

    if network is None:
        network = Network((X.shape[1], *hidden, Y.shape[1]), seed=seed, init=init, dtype=dt)
    run.attach(network)

    trainer = Trainer(
        network, run.X, run.Y, mode=mode, batch_size=batch_size, lr=lr, loss=loss,
        reduction=reduction, shuffle=shuffle, seed=seed, threads=threads,
    )
    if run.val is not None or patience is not None or callback is not None:
        run.train(trainer, epochs, tol, patience, callback)
    else:
        epochs_before = len(network.history)
        try:
            trainer.train(epochs, tol)
        finally:
            fitting.pad_metrics(network)
        run.after_fast(network, epochs_before)
    return network


def _check_fits(network, X, Y, hidden):
    if X.shape[1] != network.n_inputs:
        raise ValueError(
            f"network= takes {network.n_inputs} inputs but X has {X.shape[1]} features"
        )
    if Y.shape[1] != network.n_outputs:
        raise ValueError(
            f"network= has {network.n_outputs} outputs but Y has {Y.shape[1]} columns"
        )
    net_hidden = tuple(network.layer_sizes[1:-1])
    if hidden is not None and hidden != net_hidden:
        raise ValueError(
            f"hidden={hidden} differs from the hidden layers {net_hidden} of network=; "
            "leave hidden out when continuing training"
        )


class Trainer:
    """Trains one network on one data set, many epochs per compiled call.

    Owns everything a fit needs between epochs: the workspace (allocated
    once), the shuffling generator, and the snapshot that undoes a diverging
    epoch. ``fit`` builds one after checking its arguments; benchmarks and
    online-learning loops can hold one and call ``epoch`` or ``train``
    themselves. X and Y must already be C-contiguous arrays of the network's
    dtype, with matching rows and sizes (``fit`` ensures it).

    ``train`` hands the kernel a block of epochs (at least ``BLOCK_SAMPLES``
    samples' worth, so a 4-sample problem runs thousands of epochs per call)
    and returns to Python between blocks. Each epoch's order is drawn exactly
    as ``reference.train`` draws it, so blocks never change the result (a
    full batch is summed in order: shuffling it would only reorder a sum).
    """

    BLOCK_SAMPLES = 1 << 16
    # A batch is split into at most MAX_PARTS parts that run on all cores, each
    # of at least MIN_PART_MACS multiply-adds of forward work (kernels.parallel).
    # Fixed numbers, not the thread count, so that results never depend on it.
    MAX_PARTS = 8
    MIN_PART_MACS = 1 << 18
    # Fewer parts when their workspaces would exceed this (wide networks).
    MAX_PART_BYTES = 256 << 20
    # Per-sample SGD with the first layer's updates deferred over blocks
    # (kernels.deferred) when the first layer is large; False: sample by sample.
    DEFER_SGD = True

    def __init__(
        self, network, X, Y, *, mode="minibatch", batch_size=32, lr=0.5, loss="mse",
        reduction="mean", shuffle=True, seed=None, threads=None,
    ):
        n = X.shape[0]
        self.network, self.X, self.Y = network, X, Y
        self.mode = mode
        self.batch_size = n if mode == "batch" else min(batch_size, n)
        self.chunk = 1 if mode == "sgd" else min(self.batch_size, CHUNK)
        sizes = network.layer_sizes
        self.n_weights = sum(sizes[l] * sizes[l + 1] for l in range(len(sizes) - 1))
        # Per-sample SGD keeps two rows (this sample's activations and the
        # previous one's), or BLOCKS blocks of rows when it defers the first
        # layer's updates (kernels.deferred).
        self.deferred = self.DEFER_SGD and mode == "sgd" and defers(sizes)
        rows = (BLOCKS * DEFER_ROWS if self.deferred else 2) if mode == "sgd" else self.chunk
        parts = 1 if mode == "sgd" else self._parts(network)
        self.ws = Workspace(network, rows, parts)
        # One hidden layer, every layer at most 4 wide (the 3-4-1 seeds problem):
        # kernels.run_epochs_tiny, whose loops are unrolled for that size.
        self.tiny = parts == 1 and is_tiny(sizes)
        # Whether a batch's block reaches a matrix product (tiles or BLAS) in
        # some layer; if not, unsplit batches run kernels.run_epochs_rows.
        self.products = mode != "sgd" and any(
            self.chunk * n_in * n_out >= BLAS_MIN_MACS
            for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)
        )
        self.threads = KernelThreads(
            check_threads(threads), splits=parts > 1 or self.deferred,
            uses_blas=self.deferred or self.products,
        )
        self.lr = network.dtype.type(lr)
        self.loss_code = LOSS_CODES[loss]
        self.mean = reduction == "mean"
        self.shuffle = shuffle
        self.rng = shuffle_generator(seed)
        self.max_block = max(1, self.BLOCK_SAMPLES // n)
        self.order = np.arange(n, dtype=np.int64)
        self.snapshot = np.empty_like(network.params)
        self.losses = np.empty(self.max_block, dtype=np.float64)

    def _parts(self, network):
        """Parts the largest batch is split into, as few as the memory cap requires."""
        parts = n_parts(self.batch_size, self.n_weights, self.MAX_PARTS, self.MIN_PART_MACS)
        sizes = network.layer_sizes
        per_part = network.dtype.itemsize * (network.params.size + 2 * self.chunk * sum(sizes))
        return max(1, min(parts, self.MAX_PART_BYTES // per_part))

    def _orders(self, epochs):
        # A full batch is visited in order even when shuffling: its order would
        # only reorder one sum (a rounding-level change), and drawing 16k
        # permutations per block cost the 3-4-1 problem ~7% of its epoch time.
        full_batch = self.mode != "sgd" and self.batch_size == self.order.shape[0]
        if epochs == 1 and (full_batch or not self.shuffle):
            # A view, not a copy: a full-batch epoch on a large data set adds
            # no memory that grows with the number of samples.
            return self.order.reshape(1, -1)
        rows = np.tile(self.order, (epochs, 1))
        shuffle = self.shuffle and not full_batch
        return self.rng.permuted(rows, axis=1) if shuffle else rows

    def _run(self, epochs, tol):
        """Up to ``epochs`` (<= max_block) epochs in one kernel call; returns the new losses."""
        net, ws = self.network, self.ws
        losses = self.losses[:epochs]
        # -1 marks epochs not run: a Ctrl-C that lands as the kernel returns
        # still leaves the finished epochs countable.
        losses[:] = -1.0
        orders = self._orders(epochs)
        try:
            with self.threads as pool:
                if self.tiny:
                    kernels.run_epochs_tiny(
                        self.X, self.Y, orders, net.params, net._sizes, ws.grad, ws.acts,
                        ws.deltas, self.snapshot, losses, self.mode == "sgd", self.batch_size,
                        self.lr, self.mean, self.loss_code, -1.0 if tol is None else tol,
                    )
                else:
                    if self.deferred:
                        run = (kernels.run_epochs_deferred_parallel if pool.parallel
                               else kernels.run_epochs_deferred)
                    elif self.mode == "sgd":
                        run = kernels.run_epochs_sgd
                    elif ws.parts == 1:
                        # Blocks too small for a matrix product anywhere: the
                        # chain without BLAS and the tiles (a shorter cold start).
                        run = kernels.run_epochs_whole if self.products else kernels.run_epochs_rows
                    else:
                        run = kernels.run_epochs_parallel if pool.parallel else kernels.run_epochs
                    args = (
                        self.X, self.Y, orders, net.params, net._sizes, net._offsets,
                        ws.partials, ws.part_acts, ws.part_deltas, ws.part_loss,
                        ws.act_off, self.snapshot, losses, self.mode == "sgd", self.batch_size,
                        self.chunk, self.n_weights, ws.parts, self.MIN_PART_MACS, self.lr,
                        self.mean, self.loss_code, -1.0 if tol is None else tol,
                    )
                    if run in (kernels.run_epochs_parallel, kernels.run_epochs_deferred_parallel):
                        # numba#10128: see compile_lock.py.
                        ensure_compiled(run, args)
                    run(*args)
        finally:
            done = losses[losses != -1.0]
            finite = done[np.isfinite(done)]
            net.history.extend(finite.tolist())
        if finite.size < done.size:
            raise DivergenceError(
                f"training diverged in epoch {len(net.history) + 1}: the loss became "
                f"non-finite with lr={float(self.lr)}; try a smaller lr. The network keeps "
                "the weights from the start of that epoch (error.network).",
                net,
            )
        return finite

    def epoch(self):
        """Train one epoch; append its loss to ``network.history`` and return it."""
        return float(self._run(1, None)[0])

    def train(self, epochs, tol=None):
        """Up to ``epochs`` epochs, stopping once an epoch's loss is at most ``tol``.

        Ctrl-C ends training with a warning once the kernel returns, and the
        network keeps its weights and the history of the epochs it finished.
        """
        left = epochs
        try:
            while left > 0:
                losses = self._run(min(left, self.max_block), tol)
                left -= losses.size
                if tol is not None and losses.size and losses[-1] <= tol:
                    break
        except KeyboardInterrupt:
            warnings.warn(
                f"training interrupted after {len(self.network.history)} epochs; "
                "the network keeps its weights",
                UserWarning,
                stacklevel=3,
            )
        return self.network
