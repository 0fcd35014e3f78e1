"""Soak run: many short fits and many epochs, watching the process's memory.

Not part of CI (it takes a minute or more); run it by hand after changes to
the kernels, the trainer or the workspace:

    python tests/soak.py                  # 10^4 fits, 10^5 epochs
    python tests/soak.py --fits 1000 --epochs 10000

Phase 1 makes ``--fits`` short fits (fresh networks, every mode, both
dtypes, with a predict and a gradients call each); phase 2 calls
``Trainer.epoch`` ``--epochs`` times on one network, one compiled call per
epoch, the path with the most calls per unit of work. The resident set size
(``/proc/self/statm``) is sampled as it goes, and Numba's runtime allocation
counters are read at the end of each phase. Memory is "steady" when, after
the first tenth of a phase (warm-up: compilation, caches, first workspaces),
RSS grows by less than ``--tolerance-mb`` and the counters show no
allocations left unfreed. Exit status 1 otherwise.
"""

import argparse
import os
import sys
import time

os.environ.setdefault("NUMBA_NRT_STATS", "1")  # before Numba is imported

import numpy as np  # noqa: E402
from numba.core.runtime import rtsys  # noqa: E402

import fastprop  # noqa: E402
from fastprop import Network, Trainer  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


def nrt_outstanding():
    """Allocations minus frees in Numba's runtime (meminfos too): 0 when nothing leaks."""
    s = rtsys.get_allocation_stats()
    return s.alloc - s.free, s.mi_alloc - s.mi_free


def report(name, samples, count, unit, tolerance_mb):
    """Print the phase's RSS trace; return True when memory was steady after warm-up."""
    counts = np.array([c for c, _ in samples], dtype=float)
    rss = np.array([r for _, r in samples])
    warm = counts >= count / 10
    start, end, peak = rss[warm][0], rss[-1], rss[warm].max()
    slope = np.polyfit(counts[warm], rss[warm], 1)[0] if warm.sum() > 2 else 0.0
    steady = end - start < tolerance_mb
    print(f"{name}: {count} {unit}; RSS after warm-up {start:.1f} MB, end {end:.1f} MB, "
          f"peak {peak:.1f} MB; growth {end - start:+.2f} MB "
          f"({slope * 2**20 * 1000:+.1f} bytes per 1000 {unit}) -> "
          f"{'steady' if steady else 'GROWING'}")
    print("  trace (count: MB): " + ", ".join(f"{int(c)}: {r:.1f}" for c, r in samples))
    return steady


def phase_fits(n_fits, every, rng):
    X64 = rng.random((24, 5))
    Y64 = rng.random((24, 2))
    data = {np.float64: (X64, Y64), np.float32: (X64.astype(np.float32), Y64.astype(np.float32))}
    modes = ("sgd", "minibatch", "batch")
    samples = []
    for i in range(n_fits):
        dtype = (np.float64, np.float32)[i % 2]
        X, Y = data[dtype]
        net = fastprop.fit(X, Y, (6, 3), mode=modes[i % 3], batch_size=8, lr=0.5, epochs=5,
                           loss=("mse", "bce")[i % 2], seed=i)
        net.predict(X)
        fastprop.gradients(net, X, Y)
        if i % every == 0 or i == n_fits - 1:
            samples.append((i + 1, rss_mb()))
    return samples


def phase_epochs(n_epochs, every, rng, clear_history=False):
    X = rng.random((32, 8))
    Y = rng.random((32, 3))
    net = Network((8, 16, 3), seed=0)
    trainer = Trainer(net, X, Y, mode="minibatch", batch_size=8, lr=0.1, seed=0)
    samples = []
    kept = 0
    for e in range(n_epochs):
        trainer.epoch()
        if e % every == 0 or e == n_epochs - 1:
            samples.append((e + 1, rss_mb()))
            if clear_history:
                kept += len(net.history)
                net.history.clear()
    assert kept + len(net.history) == n_epochs and np.isfinite(net.params).all()
    # history is a list of floats that grows by design (a float object plus its list slot).
    return samples, len(net.history)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fits", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=100_000)
    parser.add_argument("--clear-history", action="store_true",
                        help="empty network.history at each sample, so that RSS shows the rest")
    parser.add_argument("--tolerance-mb", type=float, default=8.0,
                        help="RSS growth after warm-up that still counts as steady")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    print(f"start: RSS {rss_mb():.1f} MB (fastprop imported)")
    t0 = time.perf_counter()
    fit_samples = phase_fits(args.fits, max(1, args.fits // 20), rng)
    fits_left = nrt_outstanding()
    t1 = time.perf_counter()
    epoch_samples, history_len = phase_epochs(args.epochs, max(1, args.epochs // 20), rng,
                                              args.clear_history)
    epochs_left = nrt_outstanding()
    t2 = time.perf_counter()
    ok = report("fits", fit_samples, args.fits, "fits", args.tolerance_mb)
    print(f"  {t1 - t0:.1f} s; Numba runtime allocations not freed (blocks, meminfos): "
          f"{fits_left}")
    # The history list itself grows ~32 bytes per epoch (a float object and its slot).
    history_mb = history_len * 32 / 2**20
    ok &= report("epochs", epoch_samples, args.epochs, "epochs",
                 args.tolerance_mb + history_mb)
    print(f"  {t2 - t1:.1f} s; history list ~{history_mb:.1f} MB by design; Numba runtime "
          f"allocations not freed (blocks, meminfos): {epochs_left}")
    ok &= fits_left == epochs_left  # phase 2 left nothing behind in the runtime either
    print(f"end: RSS {rss_mb():.1f} MB; memory {'steady' if ok else 'NOT steady'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
