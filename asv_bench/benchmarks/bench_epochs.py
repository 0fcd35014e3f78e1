"""One training epoch per mode: fastprop, the NumPy reference, and their ratio.

Every ``time_epoch`` is a single ``epoch()`` call of a trainer that ``setup``
built from fixed seeds and already ran for one warm-up epoch, so compilation
(or loading from Numba's cache) is never timed. Throughput for reports is
``common.WORKLOADS[workload].n_samples / time``.

Skipped (``NotImplementedError`` in setup, see ``harness.TOO_SLOW``): the
reference's per-sample SGD epoch on "wide" (minutes per epoch), and
therefore also its ratio.
"""

import statistics
import time

import numpy as np

from .harness import (
    BATCH_SIZES,
    DTYPES,
    SEED,
    WORKLOAD_NAMES,
    EpochTiming,
    build_trainer,
    epoch_seconds,
    number_for,
    skip_if_too_slow,
    warm_trainer,
)

# --- fastprop ---------------------------------------------------------------------


class TimeSGD(EpochTiming):
    """Per-sample gradient descent: one update per sample."""

    params = [WORKLOAD_NAMES, DTYPES]
    param_names = ["workload", "dtype"]

    def setup(self, workload, dtype):
        self._warm("fastprop", "sgd", workload, dtype)

    def time_epoch(self, workload, dtype):
        self.trainer.epoch()


class TimeMiniBatch(EpochTiming):
    """Mini-batch gradient descent, one update per ``batch_size`` samples."""

    params = [WORKLOAD_NAMES, DTYPES, BATCH_SIZES]
    param_names = ["workload", "dtype", "batch_size"]

    def setup(self, workload, dtype, batch_size):
        self._warm("fastprop", f"mb{batch_size}", workload, dtype)

    def time_epoch(self, workload, dtype, batch_size):
        self.trainer.epoch()


class TimeFullBatch(EpochTiming):
    """Full-batch gradient descent: one update per epoch."""

    params = [WORKLOAD_NAMES, DTYPES]
    param_names = ["workload", "dtype"]

    def setup(self, workload, dtype):
        self._warm("fastprop", "full", workload, dtype)

    def time_epoch(self, workload, dtype):
        self.trainer.epoch()


# --- the NumPy reference, same grid -----------------------------------------------


class TimeReferenceSGD(EpochTiming):
    """``fastprop.reference`` per-sample SGD (skips wide: over 30 s per epoch)."""

    params = [WORKLOAD_NAMES, DTYPES]
    param_names = ["workload", "dtype"]

    def setup(self, workload, dtype):
        self._warm("reference", "sgd", workload, dtype)

    def time_epoch(self, workload, dtype):
        self.trainer.epoch()


class TimeReferenceMiniBatch(EpochTiming):
    """``fastprop.reference`` mini-batch gradient descent."""

    params = [WORKLOAD_NAMES, DTYPES, BATCH_SIZES]
    param_names = ["workload", "dtype", "batch_size"]

    def setup(self, workload, dtype, batch_size):
        self._warm("reference", f"mb{batch_size}", workload, dtype)

    def time_epoch(self, workload, dtype, batch_size):
        self.trainer.epoch()


class TimeReferenceFullBatch(EpochTiming):
    """``fastprop.reference`` full-batch gradient descent."""

    params = [WORKLOAD_NAMES, DTYPES]
    param_names = ["workload", "dtype"]

    def setup(self, workload, dtype):
        self._warm("reference", "full", workload, dtype)

    def time_epoch(self, workload, dtype):
        self.trainer.epoch()


# --- fastprop time / reference time, measured side by side ------------------------

# Interleaved (fastprop, reference) measurements per figure: at least 3, more
# while they fit in RATIO_BUDGET seconds, at most 7.
RATIO_MIN_PAIRS = 3
RATIO_MAX_PAIRS = 7
RATIO_BUDGET = 30.0


def _mean_epoch_seconds(trainer, number):
    t0 = time.perf_counter()
    for _ in range(number):
        trainer.epoch()
    return (time.perf_counter() - t0) / number


class _Ratio:
    """fastprop epoch time / reference epoch time; below 1 means fastprop is faster.

    Both trainers are built and warmed up in setup; the track function then
    times them alternately in this one process (so drift in machine load hits
    both alike) and divides the medians. Each measurement runs enough epochs
    back to back to last about harness.SAMPLE_SECONDS.
    """

    unit = "ratio"
    # Slowest figure (wide, float64, minibatch): two warm-ups plus three
    # pairs of about 22 s + 4 s, roughly 2 minutes here.
    timeout = 480

    def _setup(self, mode_label, workload, dtype):
        skip_if_too_slow("reference", mode_label, workload, dtype)
        self.fast, t_fast = warm_trainer("fastprop", mode_label, workload, dtype)
        self.ref, t_ref = warm_trainer("reference", mode_label, workload, dtype)
        self.n_fast, self.n_ref = number_for(t_fast), number_for(t_ref)
        pairs = int(RATIO_BUDGET // (t_fast * self.n_fast + t_ref * self.n_ref))
        self.pairs = min(RATIO_MAX_PAIRS, max(RATIO_MIN_PAIRS, pairs))

    def _ratio(self):
        fast, ref = [], []
        for _ in range(self.pairs):
            fast.append(_mean_epoch_seconds(self.fast, self.n_fast))
            ref.append(_mean_epoch_seconds(self.ref, self.n_ref))
        return statistics.median(fast) / statistics.median(ref)


class RatioSGD(_Ratio):
    params = [WORKLOAD_NAMES, DTYPES]
    param_names = ["workload", "dtype"]

    def setup(self, workload, dtype):
        self._setup("sgd", workload, dtype)

    def track_ratio_sgd(self, workload, dtype):
        return self._ratio()


class RatioMiniBatch(_Ratio):
    params = [WORKLOAD_NAMES, DTYPES, BATCH_SIZES]
    param_names = ["workload", "dtype", "batch_size"]

    def setup(self, workload, dtype, batch_size):
        self._setup(f"mb{batch_size}", workload, dtype)

    def track_ratio_minibatch(self, workload, dtype, batch_size):
        return self._ratio()


class RatioFullBatch(_Ratio):
    params = [WORKLOAD_NAMES, DTYPES]
    param_names = ["workload", "dtype"]

    def setup(self, workload, dtype):
        self._setup("full", workload, dtype)

    def track_ratio_fullbatch(self, workload, dtype):
        return self._ratio()


# --- the parallel parts (kernels/parallel.py): one thread vs every thread ------------


class TimeThreads(EpochTiming):
    """Mini-batch 256 and full batch with the batch split into parts, on 1 or all threads.

    Same parts, same bits either way: the ratio of the two is what the
    thread pool buys (``threads=0`` stands for all of Numba's threads).
    """

    params = [["digits", "mnist"], DTYPES, ["mb256", "full"], [1, 0]]
    param_names = ["workload", "dtype", "mode", "threads"]

    def setup(self, workload, dtype, mode, threads):
        self.trainer = build_trainer("fastprop", mode, workload, dtype, threads or None)
        self.trainer.epoch()
        seconds = epoch_seconds(self.trainer)
        self.number = number_for(seconds)

    def time_epoch(self, workload, dtype, mode, threads):
        self.trainer.epoch()


# --- the 3-4-1 seeds problem the way fit trains it: many epochs per kernel call ------

SEEDS_TRAIN_EPOCHS = 10_000
# label: (fastprop mode, batch size)
SEEDS_TRAIN_MODES = {"sgd": ("sgd", 1), "mb2": ("minibatch", 2), "full": ("batch", 4)}


class TimeSeedsTrain(EpochTiming):
    """``Trainer.train(10_000)`` on the seeds problem: ``kernels.run_epochs_tiny``.

    One ``epoch()`` call of a 4-sample problem (``TimeSGD`` and the others
    above) times mostly Python; ``train`` hands the kernel thousands of
    epochs per call, as ``fit`` does. Epochs/s for reports: 10,000 / time.
    FANN trains this problem at 2.36M epochs/s (``asv_bench/seeds_speed.py``
    prints the ratio).
    """

    params = [DTYPES, list(SEEDS_TRAIN_MODES)]
    param_names = ["dtype", "mode"]

    def setup(self, dtype, mode):
        from fastprop import Network, Trainer

        from .common import WORKLOADS, data

        w = WORKLOADS["seeds"]
        X, Y = data("seeds", dtype)
        fp_mode, batch_size = SEEDS_TRAIN_MODES[mode]
        self.trainer = Trainer(
            Network(w.layer_sizes, seed=0, dtype=dtype), X, Y, mode=fp_mode,
            batch_size=batch_size, lr=w.lr, seed=0,
        )
        self.trainer.train(SEEDS_TRAIN_EPOCHS)  # compiles (or loads) the kernel

    def time_train(self, dtype, mode):
        self.trainer.train(SEEDS_TRAIN_EPOCHS)


# --- the rows chain: small networks whose blocks never reach a matrix product --------


class TimeRowsChain(EpochTiming):
    """Mini-batches through ``kernels.run_epochs_rows``, the chain with neither BLAS nor the
    tiles compiled in (the path of ``fit``'s default small networks): an 8-16-8-1 network
    on 4,096 samples, batches of 4 and 8, every layer's block under ``BLAS_MIN_MACS``.
    ``setup`` refuses to time anything else if the trainer stops choosing that chain."""

    params = [DTYPES, [4, 8]]
    param_names = ["dtype", "batch_size"]

    def setup(self, dtype, batch_size):
        from fastprop import Network, Trainer

        rng = np.random.default_rng(SEED)
        X = rng.random((4096, 8)).astype(dtype)
        Y = (0.1 + 0.8 * rng.random((4096, 1))).astype(dtype)
        self.trainer = Trainer(Network((8, 16, 8, 1), seed=SEED, dtype=dtype), X, Y,
                               mode="minibatch", batch_size=batch_size, lr=0.5, seed=SEED)
        if self.trainer.products or self.trainer.ws.parts != 1:
            raise RuntimeError("this trainer no longer runs kernels.run_epochs_rows")
        self.trainer.epoch()  # compiles (or loads) the chain
        self.number = number_for(epoch_seconds(self.trainer))

    def time_epoch(self, dtype, batch_size):
        self.trainer.epoch()
