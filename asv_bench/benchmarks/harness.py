"""Warm trainers and timing settings shared by the benchmark modules.

asv re-runs ``setup`` (after ``teardown``) before every sample, not only once
per process. The builders here are memoised per process, so only the first
``setup`` of a process pays for data, network, compilation and the warm-up
epoch; later ones hand back the same warm trainer, which simply carries on
training. Every sample therefore times a steady-state epoch, and a slow
workload is not warmed up again before each of its samples.
"""

import os
import subprocess
import sys
import time
from functools import lru_cache

import numpy as np

from fastprop import Network, Trainer, reference

from .common import MODES, WORKLOADS, data

# Seeds both the initial weights and the shuffling of every benchmark.
SEED = 0

# Grid of the epoch benchmarks (names from common.WORKLOADS).
WORKLOAD_NAMES = ["seeds", "digits", "mnist", "wide"]
DTYPES = ["float32", "float64"]
BATCH_SIZES = [32, 256]

# An epoch slower than this is not benchmarked (setup raises
# NotImplementedError, which asv reports as skipped). Every combination was
# timed once on the 2-core development machine (NumPy 2.4, OpenBLAS with 2
# threads) when the suite was written; only these exceed it:
#   reference, wide, sgd: a full epoch took 240 s (float32) and 372 s
#   (float64) with other work on the machine; 52 s and 84 s extrapolated from
#   512 samples on an idle one. 8,192 per-sample updates of two 1024x1024
#   matrices, each a rank-1 GEMM plus NumPy temporaries.
# fastprop's slowest, per-sample SGD on wide float64, took 19 s per epoch at
# 828bbdd and 12.5 s at a01f6b8 (BLAS for large layers), so it stays in.
MAX_EPOCH_SECONDS = 30
TOO_SLOW = {
    ("reference", "sgd", "wide", "float32"),
    ("reference", "sgd", "wide", "float64"),
}

# Target duration of one asv sample: fast epochs are batched ``number`` at a
# time so that a sample is long enough to time reliably.
SAMPLE_SECONDS = 0.02
MAX_NUMBER = 10_000


def skip_if_too_slow(impl, mode_label, workload, dtype):
    """Raise NotImplementedError (asv: skipped) for the combinations in TOO_SLOW."""
    if (impl, mode_label, workload, dtype) in TOO_SLOW:
        raise NotImplementedError(
            f"{impl} {mode_label} epoch on {workload!r} ({dtype}) takes more than "
            f"{MAX_EPOCH_SECONDS} s; not benchmarked"
        )


class ReferenceTrainer:
    """The NumPy reference driven like ``fastprop.Trainer``.

    Same initial weights (copied from ``network``), same shuffling stream, one
    epoch per call, and the epoch's permutation is drawn inside ``epoch`` as
    ``Trainer.epoch`` draws it, so both timed bodies do the same work.
    """

    def __init__(self, network, X, Y, *, mode, batch_size, lr, seed):
        self.weights = [W.copy() for W in network.weights]
        self.biases = [b.copy() for b in network.biases]
        self.X, self.Y = X, Y
        self.mode = mode
        self.batch_size = X.shape[0] if batch_size is None else batch_size
        self.lr = lr
        self.rng = reference.shuffle_generator(seed)

    def epoch(self):
        order = self.rng.permutation(self.X.shape[0])
        return reference.epoch(
            self.weights, self.biases, self.X, self.Y, order,
            mode=self.mode, batch_size=self.batch_size, lr=self.lr,
        )


def build_trainer(impl, mode_label, workload, dtype, threads=None):
    """A fresh trainer of ``impl`` ("fastprop" or "reference"); no epoch run yet.

    ``threads``: fastprop's thread count (None: all of Numba's threads).
    """
    w = WORKLOADS[workload]
    mode, batch_size = MODES[mode_label]
    X, Y = data(workload, np.dtype(dtype))
    network = Network(w.layer_sizes, seed=SEED, dtype=dtype)
    if impl == "fastprop":
        return Trainer(
            network, X, Y, mode=mode, batch_size=batch_size or 1, lr=w.lr,
            shuffle=True, seed=SEED, threads=threads,
        )
    return ReferenceTrainer(network, X, Y, mode=mode, batch_size=batch_size, lr=w.lr, seed=SEED)


def epoch_seconds(trainer):
    t0 = time.perf_counter()
    trainer.epoch()
    return time.perf_counter() - t0


@lru_cache(maxsize=2)
def warm_trainer(impl, mode_label, workload, dtype):
    """``(trainer, seconds)``: a trainer that has run its warm-up epoch.

    The warm-up epoch compiles the epoch kernel for this dtype (or loads it
    from Numba's disk cache) and touches every buffer once. ``seconds``
    estimates one steady epoch: a second epoch is timed when the first was
    short, else the warm-up epoch (compilation included) stands in for it.
    """
    skip_if_too_slow(impl, mode_label, workload, dtype)
    trainer = build_trainer(impl, mode_label, workload, dtype)
    seconds = epoch_seconds(trainer)
    if seconds < 1.0:
        seconds = epoch_seconds(trainer)
    return trainer, seconds


def number_for(seconds):
    """Epochs per asv sample so that one sample lasts about SAMPLE_SECONDS."""
    return int(min(MAX_NUMBER, max(1, SAMPLE_SECONDS // max(seconds, 1e-9))))


class EpochTiming:
    """Sampling settings of every ``time_epoch`` benchmark.

    ``warmup_time = 0``: setup has already run the warm-up epoch. One sample
    is enough for a slow epoch (``min_run_count = 1``); fast ones take up to
    10 samples or 5 s per round, two rounds in separate processes. ``number``
    is set per combination in ``setup`` (asv re-reads it after ``setup``);
    ``asv run --quick`` overrides all of this with one epoch, one round.
    The timeout covers one round of the slowest combination (data, warm-up
    epoch and one timed epoch of wide/float64, under 45 s here) with margin.
    """

    warmup_time = 0
    repeat = (1, 10, 5.0)
    min_run_count = 1
    rounds = 2
    number = 1
    timeout = 300

    def _warm(self, impl, mode_label, workload, dtype):
        self.trainer, seconds = warm_trainer(impl, mode_label, workload, dtype)
        self.number = number_for(seconds)


def run_python(code, env=None, timeout=600):
    """Run ``code`` in a fresh interpreter (this one's executable); return its stdout."""
    child_env = dict(os.environ)
    child_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-c", code], env=child_env, capture_output=True, text=True,
        timeout=timeout, check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"child interpreter failed:\n{proc.stderr}")
    return proc.stdout
