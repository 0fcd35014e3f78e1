"""Workloads shared by every benchmark and by ``asv_bench/compare.py``.

Fixed seeds, so every run sees the same data. Only ever append to WORKLOADS:
renaming or changing one breaks the comparison with every earlier result.
"""

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

# The teaching notes' 4-sample, 3-feature problem (3-4-1 network).
SEED_X = np.array([[0.2, 0.4, 0.6], [0.3, 0.3, 0.1], [0.5, 0.4, 0.7], [0.8, 0.4, 0.1]])
SEED_Y = np.array([[0.8], [0.2], [0.4], [0.6]])


@dataclass(frozen=True)
class Workload:
    name: str
    layer_sizes: tuple
    n_samples: int
    lr: float
    description: str

    @property
    def hidden(self):
        return self.layer_sizes[1:-1]

    @property
    def n_weights(self):
        s = self.layer_sizes
        return sum(s[i] * s[i + 1] for i in range(len(s) - 1))

    @property
    def flops_per_sample(self):
        """Training costs about 6 FLOPs per weight per sample (forward, delta, gradient)."""
        return 6 * self.n_weights


WORKLOADS = {
    w.name: w
    for w in [
        Workload("seeds", (3, 4, 1), 4, 0.5, "the teaching notes' 3-4-1 net on 4 samples"),
        Workload("digits", (64, 32, 10), 1797, 0.5, "64-32-10 on the 8x8 digits"),
        Workload("mnist", (784, 128, 64, 10), 10_000, 0.5, "784-128-64-10, MNIST-shaped"),
        Workload("wide", (1024, 1024, 1024, 10), 8_192, 0.1, "1024-1024-1024-10, BLAS-bound"),
    ]
}


@lru_cache(maxsize=None)
def _data64(name):
    w = WORKLOADS[name]
    if name == "seeds":
        return SEED_X.copy(), SEED_Y.copy()
    if name == "digits":
        from fastprop.datasets import load_digits, one_hot

        X, y = load_digits()
        return X, one_hot(y, 10)
    rng = np.random.default_rng(20261122)
    X = rng.random((w.n_samples, w.layer_sizes[0]))
    labels = rng.integers(0, w.layer_sizes[-1], size=w.n_samples)
    Y = np.eye(w.layer_sizes[-1])[labels]
    return X, Y


def data(name, dtype=np.float64):
    """(X, Y) of a workload as C-contiguous arrays of ``dtype`` (fresh copies)."""
    X, Y = _data64(name)
    return np.ascontiguousarray(X, dtype=dtype), np.ascontiguousarray(Y, dtype=dtype)


# Training modes timed everywhere: (label, fastprop mode, batch size).
MODES = {
    "sgd": ("sgd", 1),
    "mb32": ("minibatch", 32),
    "mb256": ("minibatch", 256),
    "full": ("batch", None),
}
