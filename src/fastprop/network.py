"""The network: layer sizes and one flat parameter buffer with per-layer views."""

import numpy as np

from . import kernels
from .validation import (
    _as_numeric_array,
    as_inputs,
    as_targets,
    check_dtype,
    check_layer_sizes,
    check_option,
    check_rows,
    check_seed,
)
from .workspace import LOSS_CODES, Workspace, aligned_zeros, parameter_offsets

# Rows per block when predicting: bounds the workspace for any number of samples.
PREDICT_CHUNK = 256


class Network:
    """A dense feed-forward network of sigmoid units.

    Parameters
    ----------
    layer_sizes : sequence of int
        ``(n_0, n_1, ..., n_L)``: inputs, hidden widths, outputs; each >= 1.
    seed : int or None
        Seed of ``numpy.random.default_rng`` for the initial weights.
    init : {"xavier", "uniform"}
        ``"xavier"``: Glorot uniform with the sigmoid bound
        ``4 * sqrt(6 / (n_in + n_out))`` and zero biases. ``"uniform"``:
        weights and biases drawn from U[-1, 1), as in the teaching notes.
    dtype : float32 or float64

    Attributes
    ----------
    weights, biases : list of ndarray
        ``weights[l]`` is ``(n_l, n_{l+1})`` and ``biases[l]`` is
        ``(n_{l+1},)``; all are views into ``params``, so writing into them
        changes the network.
    params : ndarray
        The flat buffer the kernels train in place.
    history : list of float
        Training loss of every epoch this network was trained for.
    metrics : dict of str to list of float
        Further per-epoch figures recorded by ``fit`` (``"val_loss"``,
        ``"accuracy"``, ``"val_accuracy"``), each as long as ``history``,
        NaN for epochs where it was not measured.
    scaler : fastprop.scaling.Scaler or None
        Input scaling fitted by ``fit(scale=...)``; applied to every X this
        network is given, so callers always pass raw inputs.
    classes : ndarray or None
        Class labels of a classifier (``fit(classify=True)``), sorted; output
        unit k stands for ``classes[k]`` (one unit for two classes: the
        probability of ``classes[1]``).
    """

    def __init__(self, layer_sizes, *, seed=None, init="xavier", dtype=np.float64):
        sizes = check_layer_sizes(layer_sizes)
        check_option("init", init)
        self._setup(sizes, check_dtype(dtype))
        rng = np.random.default_rng(check_seed(seed))
        for W, b in zip(self.weights, self.biases, strict=True):
            if init == "xavier":
                bound = 4 * np.sqrt(6 / (W.shape[0] + W.shape[1]))
                W[...] = rng.uniform(-bound, bound, size=W.shape)
                b[...] = 0
            else:
                W[...] = rng.uniform(-1, 1, size=W.shape)
                b[...] = rng.uniform(-1, 1, size=b.shape)

    def _setup(self, sizes, dtype):
        self.layer_sizes = sizes
        self.dtype = dtype
        self._sizes = np.array(sizes, dtype=np.int64)
        self._offsets, total = parameter_offsets(sizes)
        self.params = aligned_zeros(total, dtype)
        self._link_views()
        self.history = []
        self.metrics = {}
        self.scaler = None
        self.classes = None

    def _link_views(self):
        """``weights`` and ``biases`` as per-layer views into ``params``."""
        sizes = self.layer_sizes
        self.weights, self.biases = [], []
        for l, start in enumerate(self._offsets):
            n_in, n_out = sizes[l], sizes[l + 1]
            self.weights.append(self.params[start : start + n_in * n_out].reshape(n_in, n_out))
            self.biases.append(self.params[start + n_in * n_out : start + n_in * n_out + n_out])

    def __getstate__(self):
        # Pickle would store the per-layer views as arrays of their own, so an
        # unpickled network would train ``params`` while ``weights`` stayed
        # put; the views are rebuilt from ``params`` instead.
        state = self.__dict__.copy()
        del state["weights"], state["biases"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        params = aligned_zeros(self.params.size, self.params.dtype)
        params[...] = self.params
        self.params = params
        self._link_views()

    @classmethod
    def from_arrays(cls, weights, biases, *, dtype=None):
        """A network holding copies of the given weight matrices and bias vectors.

        ``weights[l]`` must be ``(n_l, n_{l+1})`` and ``biases[l]``
        ``(n_{l+1},)``, consecutive layers matching. The dtype is the given
        one, else float32 if every array is float32, else float64.
        """
        # Each array by name, so that a ragged or non-numeric one says which it is.
        weights = [_as_numeric_array(W, f"weights[{l}]") for l, W in enumerate(weights)]
        biases = [_as_numeric_array(b, f"biases[{l}]") for l, b in enumerate(biases)]
        if len(weights) == 0 or len(weights) != len(biases):
            raise ValueError(
                f"weights and biases must be non-empty lists of equal length; "
                f"got {len(weights)} and {len(biases)}"
            )
        sizes = []
        for l, (W, b) in enumerate(zip(weights, biases, strict=True)):
            if W.ndim != 2:
                raise ValueError(f"weights[{l}] must be 2-d; got shape {W.shape}")
            if sizes and W.shape[0] != sizes[-1]:
                raise ValueError(
                    f"weights[{l}] must have {sizes[-1]} rows to follow weights[{l - 1}]; "
                    f"got shape {W.shape}"
                )
            sizes = sizes or [W.shape[0]]
            if b.shape != (W.shape[1],):
                raise ValueError(f"biases[{l}] must have shape ({W.shape[1]},); got {b.shape}")
            sizes.append(W.shape[1])
        if dtype is None:
            all32 = all(a.dtype.newbyteorder("=") == np.float32 for a in weights + biases)
            dtype = np.float32 if all32 else np.float64
        net = cls.__new__(cls)
        net._setup(check_layer_sizes(sizes, "layer sizes of weights"), check_dtype(dtype))
        for l, (W, b) in enumerate(zip(weights, biases, strict=True)):
            net.weights[l][...] = as_inputs(W, net.dtype, name=f"weights[{l}]")
            net.biases[l][...] = as_targets(b, net.dtype, name=f"biases[{l}]").ravel()
        return net

    @property
    def n_inputs(self):
        return self.layer_sizes[0]

    @property
    def n_outputs(self):
        return self.layer_sizes[-1]

    def __repr__(self):
        sizes = "-".join(str(s) for s in self.layer_sizes)
        return f"Network({sizes}, dtype={self.dtype.name}, epochs_trained={len(self.history)})"

    def copy(self):
        """An independent copy (parameters and history)."""
        net = Network.from_arrays(self.weights, self.biases, dtype=self.dtype)
        net.history = list(self.history)
        net.metrics = {name: list(values) for name, values in self.metrics.items()}
        net.scaler = None if self.scaler is None else self.scaler.copy()
        net.classes = None if self.classes is None else self.classes.copy()
        return net

    def _inputs(self, X):
        X = as_inputs(X, self.dtype)
        if X.shape[1] != self.n_inputs:
            raise ValueError(
                f"X has {X.shape[1]} features but the network takes {self.n_inputs} inputs"
            )
        if self.scaler is not None:
            X = self.scaler.transform(X)
        return X

    def predict(self, X):
        """Network output σ(... σ(X W_0 + b_0) ...) for each row of X: ``(n, n_L)``.

        X is raw input: the network's ``scaler``, if any, is applied first.
        """
        X = self._inputs(X)
        out = np.empty((X.shape[0], self.n_outputs), dtype=self.dtype)
        ws = Workspace(self, min(PREDICT_CHUNK, X.shape[0]))
        kernels.predict_into(
            X, self.params, self._sizes, self._offsets, out, ws.acts, ws.act_off, ws.chunk
        )
        # Finite weights and inputs give finite outputs unless a sum overflows to
        # inf - inf (inputs near the dtype's max): never hand back NaN silently.
        if not np.isfinite(out).all():
            raise ValueError(
                f"X has values so large that the network's sums overflow {self.dtype.name}; "
                "scale X"
            )
        return out

    def loss(self, X, Y, loss="mse", reduction="mean"):
        """Loss on (X, Y), summed over samples or averaged (``reduction``)."""
        value, _, _ = gradients(self, X, Y, loss=loss, reduction=reduction)
        return value

    def predict_proba(self, X):
        """Class probabilities, ``(n, n_classes)``, each row summing to 1.

        One output unit p gives the columns ``[1 - p, p]``; k units are
        divided by their row sum.
        """
        p = self.predict(X)
        if self.n_outputs == 1:
            return np.hstack([1 - p, p])
        total = p.sum(axis=1, keepdims=True)
        # float32 sigmoids of very negative inputs can all round to 0.
        empty = total[:, 0] == 0
        p[empty], total[empty] = 1, self.n_outputs
        return p / total

    def predict_classes(self, X):
        """Predicted labels: ``classes[k]`` of the largest output (p >= 0.5 for one unit).

        Without ``classes`` (a network not trained with ``classify=True``)
        the int64 indices k are returned.
        """
        p = self.predict(X)
        if self.n_outputs == 1:
            idx = (p[:, 0] >= 0.5).astype(np.int64)
        else:
            idx = p.argmax(axis=1)
        return idx if self.classes is None else self.classes[idx]

    def save(self, path):
        """Write the network to ``path`` as a ``.npz`` file, atomically.

        See ``fastprop.io`` for the layout; ``fastprop.load(path)`` reads it
        back exactly.
        """
        from .io import save

        save(self, path)


def gradients(network, X, Y, *, loss="mse", reduction="mean"):
    """Loss and gradients of ``network`` on a batch, by the compiled kernels.

    Returns ``(loss, grad_weights, grad_biases)``: the lists of arrays shaped
    like ``network.weights`` and ``network.biases``. With ``reduction="mean"``
    all are divided by the number of samples. The tool for gradient checks
    against ``fastprop.reference.gradients`` or finite differences.
    """
    if not isinstance(network, Network):
        raise TypeError(f"network must be a fastprop.Network; got {type(network).__name__}")
    check_option("loss", loss)
    check_option("reduction", reduction)
    X = network._inputs(X)
    Y = as_targets(Y, network.dtype)
    check_rows(X, Y)
    if Y.shape[1] != network.n_outputs:
        raise ValueError(
            f"Y has {Y.shape[1]} columns but the network has {network.n_outputs} outputs"
        )
    n = X.shape[0]
    ws = Workspace(network, min(PREDICT_CHUNK, n))
    grad = np.zeros_like(network.params)
    order = np.arange(n, dtype=np.int64)
    total = kernels.add_gradient(
        X, Y, order, 0, n, network.params, network._sizes, network._offsets, grad,
        ws.acts, ws.deltas, ws.act_off, ws.chunk, LOSS_CODES[loss],
    )
    if not (np.isfinite(total) and np.isfinite(grad).all()):
        raise ValueError(
            f"the loss or its gradient overflowed {network.dtype.name}: X or Y hold values "
            "too large; scale X and bring Y into [0, 1]"
        )
    if reduction == "mean":
        total /= n
        grad /= n
    view = Network.__new__(Network)
    view._setup(network.layer_sizes, network.dtype)
    view.params[...] = grad
    return float(total), view.weights, view.biases
