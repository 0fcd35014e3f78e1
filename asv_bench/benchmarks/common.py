"""Workloads shared by every benchmark and by ``asv_bench/compare.py``.

Fixed seeds, so every run sees the same data. Only ever append to WORKLOADS:
renaming or changing one breaks the comparison with every earlier result.
"""

from dataclasses import dataclass
from functools import cache

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


@cache
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


# --- Appended for the peak-memory benchmarks (bench_memory.py) ---------------------
# Kept out of WORKLOADS so that loops over it (the epoch grid, compare.py) do not
# pick up a 200,000-sample set.
MEMORY_WORKLOADS = {
    w.name: w
    for w in [
        Workload(
            "digits200k", (64, 32, 10), 200_000, 0.5,
            "64-32-10 on 200,000 synthetic digits-shaped samples",
        ),
        Workload(
            "digits1m", (64, 32, 10), 1_000_000, 0.5,
            "64-32-10 on 1,000,000 synthetic digits-shaped samples",
        ),
    ]
}


def memory_data(name, dtype=np.float64):
    """(X, Y) of a synthetic workload, drawn directly in ``dtype`` and not cached.

    For peak-memory figures: no float64 master copy stays alive (or is ever
    made), so the process peak holds exactly one copy of the data. ``name`` is
    from MEMORY_WORKLOADS or a synthetic entry of WORKLOADS ("mnist", "wide");
    the values are random like ``data``'s but not the same numbers.
    """
    w = MEMORY_WORKLOADS.get(name) or WORKLOADS[name]
    if name in ("seeds", "digits"):
        raise ValueError(f"memory_data draws synthetic data; {name!r} is a real data set")
    dtype = np.dtype(dtype)
    rng = np.random.default_rng(20261122)
    n, n_in, n_out = w.n_samples, w.layer_sizes[0], w.layer_sizes[-1]
    X = rng.random((n, n_in), dtype=dtype)
    Y = np.zeros((n, n_out), dtype=dtype)
    Y[np.arange(n), rng.integers(0, n_out, size=n)] = 1
    return X, Y
