"""``fastprop.fit``: checks the inputs once, then calls one compiled kernel per epoch."""

import warnings

import numpy as np

from . import kernels
from .network import Network
from .reference import shuffle_generator
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
        Visit the samples in a fresh random order each epoch.
    seed : int, optional
        Seeds the initial weights and the shuffling: same seed, same result,
        bit for bit.
    init : {"xavier", "uniform"}
        Initial weights of a new network (see ``Network``).
    dtype : float32 or float64, optional
        Default: float32 if X is float32, else float64 (or the dtype of
        ``network``).

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
    hidden_given = hidden is not DEFAULT_HIDDEN
    hidden = check_hidden(hidden)
    if not isinstance(shuffle, (bool, np.bool_)):
        raise TypeError(f"shuffle must be True or False; got {shuffle!r}")

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
    Y = as_targets(Y, dt)
    check_rows(X, Y)
    check_target_range(Y, loss)

    if network is None:
        network = Network((X.shape[1], *hidden, Y.shape[1]), seed=seed, init=init, dtype=dt)
    else:
        _check_fits(network, X, Y, hidden if hidden_given else None)

    trainer = Trainer(
        network, X, Y, mode=mode, batch_size=batch_size, lr=lr, loss=loss,
        reduction=reduction, shuffle=shuffle, seed=seed,
    )
    trainer.train(epochs, tol)
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
    """Trains one network on one data set, one compiled call per epoch.

    Owns everything a fit needs between epochs: the workspace (allocated
    once), the shuffling generator, and a snapshot of the parameters taken
    before each epoch so divergence can be undone. ``fit`` builds one after
    checking its arguments; benchmarks and online-learning loops can hold one
    and call ``epoch`` themselves. X and Y must already be C-contiguous arrays
    of the network's dtype, with matching rows and sizes (``fit`` ensures it).
    """

    def __init__(
        self, network, X, Y, *, mode="minibatch", batch_size=32, lr=0.5, loss="mse",
        reduction="mean", shuffle=True, seed=None,
    ):
        n = X.shape[0]
        self.network, self.X, self.Y = network, X, Y
        self.mode = mode
        self.batch_size = n if mode == "batch" else min(batch_size, n)
        self.chunk = 1 if mode == "sgd" else min(self.batch_size, CHUNK)
        # Per-sample SGD keeps two rows: this sample's activations and the previous one's.
        self.ws = Workspace(network, 2 if mode == "sgd" else self.chunk)
        self.lr = network.dtype.type(lr)
        self.loss_code = LOSS_CODES[loss]
        self.mean = reduction == "mean"
        self.shuffle = shuffle
        self.rng = shuffle_generator(seed)
        self.order = np.arange(n, dtype=np.int64)
        self.snapshot = np.empty_like(network.params)

    def epoch(self):
        """Train one epoch; append its loss to ``network.history`` and return it."""
        net, ws = self.network, self.ws
        order = self.rng.permutation(self.X.shape[0]) if self.shuffle else self.order
        self.snapshot[...] = net.params
        if self.mode == "sgd":
            total = kernels.sgd_epoch(
                self.X, self.Y, order, net.params, net._sizes, net._offsets,
                ws.acts, ws.deltas, ws.act_off, self.lr, self.loss_code,
            )
        else:
            total = kernels.minibatch_epoch(
                self.X, self.Y, order, net.params, net._sizes, net._offsets, ws.grad,
                ws.acts, ws.deltas, ws.targets, ws.act_off, self.batch_size, self.chunk,
                self.lr, self.mean, self.loss_code,
            )
        if not np.isfinite(total):
            net.params[...] = self.snapshot
            raise DivergenceError(
                f"training diverged in epoch {len(net.history) + 1}: the loss became "
                f"non-finite with lr={float(self.lr)}; try a smaller lr. The network keeps "
                "the weights from the start of that epoch (error.network).",
                net,
            )
        loss = total / order.shape[0] if self.mean else total
        net.history.append(loss)
        return loss

    def train(self, epochs, tol=None):
        """Up to ``epochs`` epochs, stopping once the loss is at most ``tol``.

        Ctrl-C ends training after the epoch under way (which finishes inside
        the kernel) with a warning, and the network keeps its weights.
        """
        try:
            for _ in range(epochs):
                loss = self.epoch()
                if tol is not None and loss <= tol:
                    break
        except KeyboardInterrupt:
            if not np.isfinite(self.network.params).all():
                self.network.params[...] = self.snapshot
            warnings.warn(
                f"training interrupted after {len(self.network.history)} epochs; "
                "the network keeps its weights",
                UserWarning,
                stacklevel=3,
            )
        return self.network
