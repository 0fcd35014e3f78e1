"""What ``fit`` does around the compiled epochs: class labels, input scaling,
held-out validation, early stopping and the per-epoch callback.

``fit`` checks its arguments, calls ``prepare`` (labels to targets, the
validation rows, the scaler), then either hands every epoch to
``Trainer.train`` in blocks (nothing to watch between epochs: the fast path)
or runs ``Run.train``, which calls ``Trainer.epoch`` once per epoch and
measures, records and decides between them. Both draw the same shuffles, so
a callback that never stops changes nothing in the result.
"""

import math
import numbers
import time
import warnings

import numpy as np

from .datasets import one_hot
from .scaling import Scaler, check_scale
from .validation import as_inputs, as_targets, check_int

#: Per-epoch figures ``fit`` may record in ``network.metrics``.
METRICS = ("val_loss", "accuracy", "val_accuracy")


def check_options(classify, validation_split, validation_data, patience, callback, scale):
    """The new keywords of ``fit``, checked before any data is touched."""
    if not isinstance(classify, (bool, np.bool_)):
        raise TypeError(f"classify must be True or False; got {classify!r}")
    check_scale(scale)
    if validation_split is not None:
        if isinstance(validation_split, bool) or not isinstance(validation_split, numbers.Real):
            raise TypeError(
                f"validation_split must be a number in (0, 1) or None; got {validation_split!r}"
            )
        if not 0 < validation_split < 1:
            raise ValueError(
                f"validation_split must lie strictly between 0 and 1; got {validation_split}"
            )
        if validation_data is not None:
            raise ValueError("give validation_split or validation_data, not both")
    if validation_data is not None and (
        not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2
    ):
        raise TypeError(
            "validation_data must be a pair (X_val, Y_val); got "
            f"{type(validation_data).__name__}"
        )
    if patience is not None:
        check_int("patience", patience, 1)
    if callback is not None and not callable(callback):
        raise TypeError(
            f"callback must be callable as callback(epoch, logs); got {type(callback).__name__}"
        )


# --- labels ---------------------------------------------------------------------------------------


def _labels(y, name):
    """y as a 1-d array of numbers or str (never object)."""
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(
            f"{name} must be 1-d class labels with classify=True; got shape {arr.shape}"
        )
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    if arr.dtype.kind == "O" and all(isinstance(v, str) for v in arr):
        # pandas keeps strings in object arrays.
        arr = arr.astype(str)
    if arr.dtype.kind not in "biufU":
        raise TypeError(
            f"{name} must hold numbers or strings as class labels; got dtype {arr.dtype}"
        )
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or inf; class labels must be finite")
    return arr


def encode(y, classes, name):
    """Indices of the labels ``y`` in the sorted ``classes``."""
    arr = _labels(y, name)
    if (arr.dtype.kind == "U") != (classes.dtype.kind == "U"):
        raise ValueError(
            f"{name} holds {arr.dtype} labels but the classes are {classes.dtype} "
            f"({classes.tolist()[:10]})"
        )
    idx = np.minimum(np.searchsorted(classes, arr), classes.size - 1)
    unknown = classes[idx] != arr
    if unknown.any():
        raise ValueError(
            f"{name} has labels that are not among the network's classes "
            f"{classes.tolist()[:10]}: {np.unique(arr[unknown]).tolist()[:10]}"
        )
    return idx.astype(np.int64)


def targets(codes, n_classes, dtype):
    """One output unit (P(classes[1])) for two classes, else one-hot rows."""
    if n_classes == 2:
        return (codes == 1).astype(dtype).reshape(-1, 1)
    return one_hot(codes, n_classes, dtype=dtype)


def label_targets(y, dtype, network):
    """``(Y, codes, classes)`` for ``fit(classify=True)``."""
    classes = None if network is None else network.classes
    if classes is None:
        arr = _labels(y, "Y")
        classes, codes = np.unique(arr, return_inverse=True)
        if classes.size < 2:
            raise ValueError(
                f"Y needs at least two classes for classify=True; got only {classes.tolist()}"
            )
        codes = codes.reshape(-1).astype(np.int64)
        units = 1 if classes.size == 2 else classes.size
        if network is not None and network.n_outputs != units:
            raise ValueError(
                f"network= has {network.n_outputs} outputs but Y has {classes.size} classes "
                f"(needs {units})"
            )
    else:
        codes = encode(y, classes, "Y")
    return targets(codes, classes.size, dtype), codes, classes


# --- preparation ----------------------------------------------------------------------------------


class Run:
    """One fit's prepared data and its per-epoch bookkeeping."""

    def __init__(self, X, Y, codes, classes, scaler, val, loss, reduction):
        self.X_raw, self.codes = X, codes
        self.X = X if scaler is None else scaler.transform(X)
        self.Y = Y
        self.classes, self.scaler = classes, scaler
        # (X_val raw, Y_val, codes_val or None) or None
        self.val = val
        self.loss, self.reduction = loss, reduction

    def attach(self, network):
        network.scaler = self.scaler
        if self.classes is not None:
            network.classes = self.classes

    # -- measuring --

    def _accuracy(self, network, X, codes):
        p = network.predict(X)
        idx = p[:, 0] >= 0.5 if p.shape[1] == 1 else p.argmax(axis=1)
        return float(np.mean(idx == codes))

    def measure(self, network, logs):
        if self.codes is not None:
            logs["accuracy"] = self._accuracy(network, self.X_raw, self.codes)
        if self.val is not None:
            X_val, Y_val, codes_val = self.val
            logs["val_loss"] = network.loss(X_val, Y_val, loss=self.loss, reduction=self.reduction)
            if codes_val is not None:
                logs["val_accuracy"] = self._accuracy(network, X_val, codes_val)

    # -- training --

    def after_fast(self, network, epochs_before):
        """After ``Trainer.train``: training accuracy at the last epoch, metrics aligned."""
        pad_metrics(network)
        if self.codes is not None and len(network.history) > epochs_before:
            record(network, "accuracy", self._accuracy(network, self.X_raw, self.codes))

    def train(self, trainer, epochs, tol, patience, callback):
        """Up to ``epochs`` epochs, one compiled call each, measuring between them."""
        network = trainer.network
        n = trainer.X.shape[0]
        best, best_params, best_epoch, wait = math.inf, None, 0, 0
        epochs_before = len(network.history)
        try:
            for epoch in range(1, epochs + 1):
                start = time.perf_counter()
                loss_value = trainer.epoch()
                seconds = time.perf_counter() - start
                logs = {
                    "loss": loss_value,
                    "epoch_seconds": seconds,
                    "samples_per_s": n / seconds if seconds > 0 else math.inf,
                    "epochs": epochs,
                }
                self.measure(network, logs)
                for name in METRICS:
                    if name in logs:
                        record(network, name, logs[name])
                stop = tol is not None and loss_value <= tol
                if patience is not None:
                    monitored = logs.get("val_loss", loss_value)
                    if monitored < best:
                        best, best_epoch, wait = monitored, epoch, 0
                        best_params = network.params.copy()
                    else:
                        wait += 1
                        stop = stop or wait >= patience
                if callback is not None:
                    answer = callback(epoch, logs)
                    if answer is not None and not isinstance(answer, (bool, np.bool_)):
                        raise TypeError(
                            "callback must return True (stop), False or None; got "
                            f"{type(answer).__name__} {answer!r}"
                        )
                    stop = stop or bool(answer)
                if stop:
                    break
        except KeyboardInterrupt:
            kept = "its weights"
            if best_params is not None:
                kept = f"the weights of its best epoch ({best_epoch} of this fit)"
            done = len(network.history) - epochs_before
            warnings.warn(
                f"training interrupted after {done} epochs of this fit; the network keeps {kept}",
                UserWarning,
                stacklevel=3,
            )
        finally:
            pad_metrics(network)
        if best_params is not None:
            network.params[...] = best_params
        return network


def record(network, name, value):
    """Set metric ``name`` for the network's last epoch, NaN for any epoch before it lacks."""
    values = network.metrics.setdefault(name, [])
    values.extend([math.nan] * (len(network.history) - len(values)))
    values[-1] = float(value)


def pad_metrics(network):
    """Make every metric as long as ``history`` (NaN: not measured)."""
    for values in network.metrics.values():
        values.extend([math.nan] * (len(network.history) - len(values)))


def split_rows(n, validation_split, seed):
    """``(train, held)``: sorted indices of the rows ``fit(validation_split=...)``
    trains on and holds out."""
    n_val = int(round(n * validation_split))
    if n_val < 1 or n_val >= n:
        raise ValueError(
            f"validation_split={validation_split} of {n} samples leaves the training or "
            "the validation part empty"
        )
    # A child stream of the seed, independent of the weights' and the shuffling's.
    perm = np.random.default_rng(seed).spawn(2)[1].permutation(n)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def prepare(X, Y, codes, classes, network, *, scale, validation_split, validation_data, seed,
            loss, reduction):
    """Split off validation rows, cast validation data, fit or reuse the scaler.

    Everything that can reject the arguments happens here, before the
    network is touched.
    """
    dt = X.dtype
    scaler = None if network is None else network.scaler
    if network is not None and scale is not None:
        if scaler is None:
            raise ValueError(
                f"scale={scale!r} cannot be added to network=, which was trained on unscaled "
                "inputs; leave scale out when continuing training"
            )
        if scaler.kind != scale:
            raise ValueError(
                f"scale={scale!r} differs from network='s stored {scaler.kind!r} scaler; leave "
                "scale out when continuing training"
            )
    val = None
    if validation_split is not None:
        train, held = split_rows(X.shape[0], validation_split, seed)
        val = (X[held], Y[held], None if codes is None else codes[held])
        X, Y = X[train], Y[train]
        codes = None if codes is None else codes[train]
    elif validation_data is not None:
        X_val = as_inputs(validation_data[0], dt, name="validation_data[0]")
        if X_val.shape[1] != X.shape[1]:
            raise ValueError(
                f"validation_data[0] has {X_val.shape[1]} features but X has {X.shape[1]}"
            )
        if classes is not None:
            codes_val = encode(validation_data[1], classes, "validation_data[1]")
            Y_val = targets(codes_val, classes.size, dt)
        else:
            codes_val = None
            Y_val = as_targets(validation_data[1], dt, name="validation_data[1]")
            if Y_val.shape[1] != Y.shape[1]:
                raise ValueError(
                    f"validation_data[1] has {Y_val.shape[1]} columns but Y has {Y.shape[1]}"
                )
        if X_val.shape[0] != Y_val.shape[0]:
            raise ValueError(
                "validation_data must have as many rows in X_val as in Y_val; got "
                f"{X_val.shape[0]} and {Y_val.shape[0]}"
            )
        if loss == "bce" and not (Y_val.min() >= 0 and Y_val.max() <= 1):
            raise ValueError(
                "validation_data[1] must lie in [0, 1] for loss='bce'; got values in "
                f"[{Y_val.min()}, {Y_val.max()}]"
            )
        val = (X_val, Y_val, codes_val)
    if scaler is None and scale is not None:
        scaler = Scaler.fit(X, scale)
    return Run(X, Y, codes, classes, scaler, val, loss, reduction)
