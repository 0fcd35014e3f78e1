"""Time fastprop against NumPy, PyTorch, JAX and scikit-learn on the shared workloads.

    python asv_bench/compare.py [--workloads ...] [--modes ...] [--dtype float32|float64]
        [--repeats 5] [--markdown out.md] [--plot out.png] [--threads N [N ...]]

Every system trains the networks of ``benchmarks/common.py`` in the modes of
``MODES``, starting from the same weights: sigmoid units, ½ Σ (y - ŷ)²
averaged over the batch, plain gradient descent, the same lr and batch size,
a fresh shuffle each epoch (scikit-learn differs in its output layer; the
table says so). Before timing, one unshuffled float64 epoch per workload and
mode checks that the peers compute what fastprop computes.

How it times: per workload and mode, every system is built and warmed up
(compilation included) first; then the repeats go round-robin over the
systems, so drifts in machine speed hit all of them alike. A measurement is
one epoch, or enough back-to-back epochs to last ``MIN_MEASURE`` seconds; a
cell is the median. A system whose epoch would take longer than ``--cap``
seconds is timed on a sub-epoch of ``SUB_EPOCH_ROWS`` samples instead and
marked ``~``. The peers live in ``peers/``, one module each.

Several thread counts (``--threads 1 2``) give every system its best one:
the whole comparison runs once per count, each in a fresh process (a
library's thread pool is sized when it is imported), and each cell keeps
the system's fastest count, written after the figure ("84.6k @1t"). JAX's
jitted epoch, for one, is faster on one thread than on two on this
project's machine for per-sample SGD and mini-batches of 32.

Nothing that starts a thread pool (NumPy, Numba, torch, JAX) is imported at
module level: the thread counts from the command line must be in the
environment first.
"""

import argparse
import math
import os
import statistics
import sys
import time
from dataclasses import dataclass

MIN_MEASURE = 0.1  # s; tiny epochs are repeated back to back until a measurement lasts this long
SUB_EPOCH_ROWS = 256  # samples timed instead of a whole epoch that would exceed --cap
CHECK_ROWS = 100  # samples in the correctness check: batches of 32 leave a partial one
CHECK_TOL = 1e-6
# Idle gap between measurements: a thread pool keeps spinning for a moment after
# its work (OpenMP, OpenBLAS, Eigen), which would steal cores from the next system.
# 0.05 s was too short: with torch in the run, fastprop's single-threaded SGD
# on the digits measured 636k samples/s, and torch's full batch 1.0M; with
# 0.3 s, 901k and 1.7M (each alone: 942k and about the same 1.7M).
PAUSE = 0.3
CEILING_SIZE = 2048
SKLEARN_NOTE = (
    "sklearn: MLPRegressor's output layer is the identity, not a sigmoid (hidden layers are "
    "logistic), so its math differs from the others in the last layer; its L2 penalty alpha "
    "is set to 0 (it still computes the weights' squared norm every batch)."
)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workloads", nargs="+", default=["seeds", "digits", "mnist", "wide"])
    p.add_argument("--modes", nargs="+", default=["sgd", "mb32", "mb256", "full"])
    p.add_argument("--systems", nargs="+", default=None,
                   help="subset of fastprop numpy-ref torch jax sklearn fastprop-f64 (default: "
                        "all installed but fastprop-f64, fastprop in float64 whatever --dtype)")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, nargs="+", default=None,
                   help="default: all cores; several: one run each, every cell at its "
                        "system's fastest count")
    p.add_argument("--json", metavar="OUT.json", help=argparse.SUPPRESS)  # one count's results
    p.add_argument("--cap", type=float, default=20.0,
                   help="seconds; slower epochs are timed on a sub-epoch and marked ~")
    p.add_argument("--markdown", metavar="OUT.md")
    p.add_argument("--plot", metavar="OUT.png")
    return p.parse_args(argv)


def set_threads(threads):
    """Give every thread pool ``threads`` threads; call before NumPy, torch or JAX is imported."""
    cpus = sorted(os.sched_getaffinity(0))
    threads = threads or len(cpus)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(threads)
    # XLA has no thread-count flag: one thread switches Eigen's pool off, and any
    # smaller count is enforced by the CPU affinity, by which XLA sizes its pool.
    if threads == 1:
        os.environ["XLA_FLAGS"] = (
            os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false"
        ).strip()
    if threads < len(cpus):
        os.sched_setaffinity(0, cpus[:threads])
    return threads, len(cpus)


# --- timing ---------------------------------------------------------------------


def time_epochs(epoch, number=1):
    """Seconds per epoch over ``number`` back-to-back calls of ``epoch``."""
    start = time.perf_counter()
    for _ in range(number):
        epoch()
    return (time.perf_counter() - start) / number


@dataclass
class Cell:
    """One system's timings of one workload and mode."""

    seconds: list  # per measurement, seconds per (sub-)epoch
    rows: int  # samples per timed (sub-)epoch
    n: int  # samples per epoch
    threads: int = 0  # the thread count it was measured at, when several were tried

    @property
    def samples_per_s(self):
        return self.rows / statistics.median(self.seconds)

    @property
    def epoch_seconds(self):
        return self.n / self.samples_per_s

    @property
    def extrapolated(self):
        return self.rows < self.n


def effective_batch(mode, batch_size, n):
    return n if mode == "batch" else min(batch_size, n)


def sub_epoch_rows(n, batch_size):
    """Samples in a sub-epoch: whole batches (one of SUB_EPOCH_ROWS in full batch), or None."""
    rows = SUB_EPOCH_ROWS if batch_size >= n else SUB_EPOCH_ROWS // batch_size * batch_size
    return rows if 0 < rows < n else None


def prepare(peer, net, X, Y, mode, batch_size, lr, cap):
    """A warmed-up runner, the samples it trains on, and the epochs per measurement.

    When the data has room for a sub-epoch, one is timed first to estimate the
    full epoch; above ``cap`` seconds the sub-epoch runner is kept.
    """
    n = X.shape[0]
    estimate = None
    rows = sub_epoch_rows(n, batch_size)
    if rows:
        probe = peer.make(net, X[:rows], Y[:rows], mode=mode, batch_size=min(batch_size, rows),
                          lr=lr, shuffle=True, seed=1)
        probe.epoch()  # compiles
        estimate = time_epochs(probe.epoch) * n / rows
        if estimate > cap:
            return probe, rows, 1
    runner = peer.make(net, X, Y, mode=mode, batch_size=batch_size, lr=lr, shuffle=True, seed=1)
    runner.epoch()  # compiles
    if estimate is None or estimate < 10 * MIN_MEASURE:
        estimate = time_epochs(runner.epoch)
    return runner, n, max(1, math.ceil(MIN_MEASURE / estimate))


def time_cell(systems, net, X, Y, mode, batch_size, lr, repeats, cap):
    """Cells of every system for one workload and mode, measured round-robin."""
    ready, failed = {}, {}
    for name, peer in systems.items():
        try:
            ready[name] = prepare(peer, net, X, Y, mode, batch_size, lr, cap)
        except Exception as err:  # one broken peer must not end the whole comparison
            failed[name] = f"{type(err).__name__}: {str(err).splitlines()[0][:160]}"
    seconds = {name: [] for name in ready}
    names = list(ready)
    for r in range(repeats):
        for name in names[r % len(names):] + names[: r % len(names)]:  # rotate who goes first
            runner, _, number = ready[name]
            seconds[name].append(time_epochs(runner.epoch, number))
            time.sleep(PAUSE)
    cells = {name: Cell(seconds[name], ready[name][1], X.shape[0]) for name in ready}
    return cells, failed


# --- machine ceiling and correctness --------------------------------------------


def matmul_ceiling(dtype, size=CEILING_SIZE, repeats=5):
    """GFLOP/s of NumPy's ``A @ B`` on two size² matrices, median of ``repeats``."""
    import numpy as np

    rng = np.random.default_rng(0)
    A, B = (rng.random((size, size)).astype(dtype) for _ in range(2))
    A @ B  # warm-up: thread pool start, page faults
    times = [time_epochs(lambda: A @ B) for _ in range(repeats)]
    return 2 * size**3 / statistics.median(times) / 1e9


def check_same_math(systems, workloads):
    """Max |parameter difference| from fastprop after one unshuffled float64 epoch.

    On the first CHECK_ROWS samples of each workload, in every mode; returns
    ``{workload: {system: max_diff}}``, plus ``"moved"``: how far fastprop's
    weights moved from their start, so a zero difference means something.
    """
    import numpy as np
    from benchmarks.common import MODES, WORKLOADS, data

    import fastprop

    out = {}
    for wname in workloads:
        w = WORKLOADS[wname]
        X, Y = (np.ascontiguousarray(a[:CHECK_ROWS]) for a in data(wname, np.float64))
        net = fastprop.Network(w.layer_sizes, seed=0, dtype=np.float64)
        start = np.concatenate([a.ravel() for a in net.weights + net.biases])
        diffs = {}
        for mode, batch_size in MODES.values():
            flat = {}
            for name, peer in systems.items():
                if name == "sklearn":
                    continue
                runner = peer.make(net, X, Y, mode=mode, lr=w.lr, shuffle=False, seed=0,
                                   batch_size=effective_batch(mode, batch_size or 1, len(X)))
                runner.epoch()
                weights, biases = runner.params()
                flat[name] = np.concatenate([np.ravel(a) for a in weights + biases])
            for name, params in flat.items():
                diff = float(np.max(np.abs(params - flat["fastprop"])))
                diffs[name] = max(diffs.get(name, 0.0), diff)
            moved = float(np.max(np.abs(flat["fastprop"] - start)))
            diffs["moved"] = max(diffs.get("moved", 0.0), moved)
        out[wname] = diffs
    return out


# --- report ------------------------------------------------------------------------


def si(x):
    """Three significant digits and a k/M/G suffix: 999.6k rounds up to "1M", not "1e+03k"."""
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if float(f"{x:.3g}") >= factor:
            return f"{float(f'{x / factor:.3g}'):g}{suffix}"
    return f"{float(f'{x:.3g}'):g}"


def cell_text(cell, base, epochs_too):
    if cell is None:
        return "-"
    text = ("~" if cell.extrapolated else "") + si(cell.samples_per_s)
    if cell.threads:
        text += f" @{cell.threads}t"
    if epochs_too:
        text += f", {si(1 / cell.epoch_seconds)} ep/s"
    if base is not None:
        text += f" ({cell.samples_per_s / base.samples_per_s:.2f}x)"
    return text


def render(header, rows, markdown):
    """An aligned text table, or a Markdown one."""
    if markdown:
        lines = [header, ["---"] * len(header), *rows]
        return "\n".join("| " + " | ".join(row) + " |" for row in lines)
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    fmt = lambda row: "  ".join(c.rjust(w) if i else c.ljust(w)  # noqa: E731
                                for i, (c, w) in enumerate(zip(row, widths, strict=True)))
    return "\n".join([fmt(header), fmt(["-" * w for w in widths]), *map(fmt, rows)])


def report(results, systems, workloads, modes, ceilings, dtype, notes, markdown=False):
    """The ceiling and fastprop's GFLOP/s, then one table per workload, then the notes."""
    from benchmarks.common import WORKLOADS

    heading = (lambda s: f"### {s}") if markdown else (lambda s: s)
    out = [heading("Machine and fastprop's arithmetic rate"), ""]
    out.append(
        f"NumPy matmul ceiling ({CEILING_SIZE}² @ {CEILING_SIZE}², median of 5, the higher of "
        "the run's start and end): "
        f"float32 {ceilings['float32']:.1f} GFLOP/s, float64 {ceilings['float64']:.1f} GFLOP/s. "
        f"fastprop at 6 × n_weights FLOP per sample, GFLOP/s (% of the {dtype} ceiling):"
    )
    out.append("")
    rows = []
    for wname in workloads:
        row = [wname]
        for mode in modes:
            cell = results.get(("fastprop", wname, mode))
            if cell is None:
                row.append("-")
                continue
            gflops = cell.samples_per_s * WORKLOADS[wname].flops_per_sample / 1e9
            row.append(f"{gflops:.3g} ({100 * gflops / ceilings[dtype]:.1f}%)")
        rows.append(row)
    out += [render(["workload", *modes], rows, markdown), ""]
    for wname in workloads:
        w = WORKLOADS[wname]
        sizes = "-".join(map(str, w.layer_sizes))
        out.append(heading(f"{wname}: {sizes}, {w.n_samples} samples, lr {w.lr}, {dtype}"))
        out.append("")
        rows = []
        for name in systems:
            row = [name]
            for mode in modes:
                base = results.get(("fastprop", wname, mode))
                row.append(cell_text(results.get((name, wname, mode)), base, wname == "seeds"))
            rows.append(row)
        out += [render(["samples/s (x fastprop)", *modes], rows, markdown), ""]
    out.append(heading("Notes"))
    out.append("")
    out += [f"- {note}" for note in notes]
    return "\n".join(out) + "\n"


def plot(results, systems, workloads, modes, path, title):
    """Grouped bars, log samples/s: one group per workload × mode, one bar per system."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = [(w, m) for w in workloads for m in modes]
    fig, ax = plt.subplots(figsize=(max(8.0, 0.8 * len(columns)), 4.8))
    width = 0.8 / len(systems)
    for i, name in enumerate(systems):
        cells = [(j, results.get((name, *col))) for j, col in enumerate(columns)]
        cells = [(j, c) for j, c in cells if c is not None]
        xs = [j + (i - (len(systems) - 1) / 2) * width for j, _ in cells]
        bars = ax.bar(xs, [c.samples_per_s for _, c in cells], width, label=name, color=f"C{i}")
        for bar, (_, c) in zip(bars, cells, strict=True):
            if c.extrapolated:
                bar.set_hatch("//")
    for k in range(1, len(workloads)):
        ax.axvline(k * len(modes) - 0.5, color="grey", lw=0.5)
    ax.set_yscale("log")
    rates = [c.samples_per_s for c in results.values()]
    if rates:
        ax.set_ylim(bottom=min(rates) / 3)  # the slowest bar stays visible
    ax.set_xticks(range(len(columns)), [f"{w}\n{m}" for w, m in columns], fontsize=8)
    ax.set_ylabel("samples / s (log scale)")
    ax.set_title(title + "  (hatched: extrapolated from a sub-epoch)", fontsize=10)
    ax.grid(axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# --- main ------------------------------------------------------------------------------


def child_argv(args, threads, json_path):
    """This command's arguments for one thread count, its results written to ``json_path``."""
    argv = [os.path.abspath(__file__), "--workloads", *args.workloads, "--modes", *args.modes,
            "--dtype", args.dtype, "--repeats", str(args.repeats), "--cap", str(args.cap),
            "--threads", str(threads), "--json", json_path]
    return argv + (["--systems", *args.systems] if args.systems else [])


def best_of_threads(runs):
    """Per (system, workload, mode), the cell of the fastest thread count: ``{key: Cell}``.

    runs: ``{threads: {key: Cell}}``.
    """
    best = {}
    for threads, cells in sorted(runs.items()):
        for key, cell in cells.items():
            cell = Cell(cell.seconds, cell.rows, cell.n, threads)
            if key not in best or cell.samples_per_s > best[key].samples_per_s:
                best[key] = cell
    return best


def sweep_threads(args):
    """The comparison once per thread count in ``args.threads``, then the best of each cell."""
    import json
    import subprocess
    import tempfile

    started = time.perf_counter()
    runs, ceilings, run_notes, names = {}, {}, {}, []
    with tempfile.TemporaryDirectory() as tmp:
        for threads in args.threads:
            path = os.path.join(tmp, f"{threads}.json")
            print(f"==== --threads {threads}: a run of its own ====", flush=True)
            subprocess.run([sys.executable, *child_argv(args, threads, path)], check=True)
            with open(path) as f:
                run = json.load(f)
            runs[threads] = {tuple(key): Cell(*cell) for key, *cell in run["cells"]}
            # The machine's ceiling is that of its most threads; the notes say what each run saw.
            ceilings = {dt: max(ceilings.get(dt, 0.0), c) for dt, c in run["ceilings"].items()}
            run_notes[threads] = run["notes"]
            names += [name for name in run["systems"] if name not in names]
    # A note every run made is said once; the others (load, wall time) per run.
    shared = [n for n in run_notes[args.threads[0]] if all(n in r for r in run_notes.values())]
    notes = [f"Thread counts tried: {', '.join(map(str, args.threads))}, one run each; each "
             "cell is its system's fastest count (@Nt), and the ratios are to fastprop's "
             "fastest.", *shared]
    notes += [f"--threads {t}: {n}" for t, r in run_notes.items() for n in r if n not in shared]
    notes.append(f"Wall time of all runs: {(time.perf_counter() - started) / 60:.1f} min.")
    results = best_of_threads(runs)
    print("\n==== every system at its fastest thread count ====\n")
    print(report(results, names, args.workloads, args.modes, ceilings, args.dtype, notes))
    write_outputs(args, results, names, ceilings, notes,
                  f"fastprop vs peers, {args.dtype}, best of {'/'.join(map(str, args.threads))} "
                  "threads")


def write_outputs(args, results, names, ceilings, notes, title):
    """The Markdown table and the plot, when asked for."""
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(report(results, names, args.workloads, args.modes, ceilings, args.dtype,
                           notes, markdown=True))
        print(f"wrote {args.markdown}")
    if args.plot:
        plot(results, names, args.workloads, args.modes, args.plot, title)
        print(f"wrote {args.plot}")


def main(argv=None):
    args = parse_args(argv)
    if args.threads and len(args.threads) > 1:
        return sweep_threads(args)
    threads, cores = set_threads(args.threads[0] if args.threads else None)
    started = time.perf_counter()

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import numpy as np
    import peers
    from benchmarks.common import MODES, WORKLOADS, data

    import fastprop

    for option, given, known in (("workloads", args.workloads, WORKLOADS),
                                 ("modes", args.modes, MODES),
                                 ("systems", args.systems or [], peers.MODULES)):
        unknown = sorted(set(given) - set(known))
        if unknown:
            sys.exit(f"--{option}: unknown {unknown}; choose from {list(known)}")
    dtype = np.dtype(args.dtype)

    load_before = os.getloadavg()[0]
    print(f"Threads: {threads} of {cores} cores (OMP/OPENBLAS/MKL/NUMBA_NUM_THREADS={threads}, "
          f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '(default: every core in the affinity)')}, "
          f"CPU affinity {sorted(os.sched_getaffinity(0))}); "
          f"1-minute load average {load_before:.2f}")
    if load_before > 0.5:
        print("  warning: other processes are using the CPU; the timings will be noisy")
    systems, notes = {}, []
    for name in args.systems or peers.DEFAULT:
        try:
            peer = peers.load(name)
        except ImportError as err:
            print(f"  {name:9s} skipped: not importable ({err})")
            notes.append(f"{name}: not installed here ({err}); its row is left out.")
            continue
        print(f"  {name:9s} {peer.setup(threads)}")
        systems[name] = peer
    if "fastprop" not in systems:
        sys.exit("fastprop must be among --systems: every ratio is taken against it")

    print(f"  BLAS pools: {peers.blas_pools()}")
    ceilings = {dt: matmul_ceiling(np.dtype(dt)) for dt in ("float32", "float64")}
    print(f"NumPy matmul ceiling ({CEILING_SIZE}², {threads} threads): "
          f"float32 {ceilings['float32']:.1f} GFLOP/s, float64 {ceilings['float64']:.1f} GFLOP/s")

    print(f"\nSame-math check: one unshuffled float64 epoch on the first {CHECK_ROWS} samples, "
          f"every mode; max |parameter - fastprop's| (pass if <= {CHECK_TOL:g}):")
    check = check_same_math(systems, args.workloads)
    verdicts = []
    for wname, diffs in check.items():
        parts = [f"{name} {d:.1e} {'ok' if d <= CHECK_TOL else 'MISMATCH'}"
                 for name, d in diffs.items() if name not in ("fastprop", "moved")]
        line = f"{wname}: " + ", ".join(parts) + f" (weights moved up to {diffs['moved']:.1e})"
        print("  " + line)
        verdicts.append(line)
    notes.append("Same-math check (max |parameter - fastprop's| after one unshuffled float64 "
                 f"epoch on {CHECK_ROWS} samples, worst mode): " + "; ".join(verdicts) + ".")

    print(f"\nTiming {args.dtype}, {args.repeats} repeats round-robin, cap {args.cap:g} s/epoch:")
    results = {}
    for wname in args.workloads:
        w = WORKLOADS[wname]
        X, Y = data(wname, dtype)
        net = fastprop.Network(w.layer_sizes, seed=0, dtype=dtype)
        for label in args.modes:
            mode, batch_size = MODES[label]
            batch = effective_batch(mode, batch_size or 1, len(X))
            cells, failed = time_cell(systems, net, X, Y, mode, batch, w.lr, args.repeats,
                                      args.cap)
            results.update({(name, wname, label): c for name, c in cells.items()})
            notes += [f"{name} on {wname}/{label} failed: {msg}" for name, msg in failed.items()]
            print(f"  {wname}/{label}: " + ", ".join(
                f"{name} {'~' if c.extrapolated else ''}{si(c.samples_per_s)}/s"
                for name, c in cells.items()), flush=True)

    # Measured again at the end: other load can only lower a ceiling, so keep the higher.
    for dt, first in list(ceilings.items()):
        ceilings[dt] = max(first, matmul_ceiling(np.dtype(dt)))
    print(f"NumPy matmul ceiling again: float32 {ceilings['float32']:.1f}, "
          f"float64 {ceilings['float64']:.1f} GFLOP/s (the higher of start and end)")
    notes += [
        "Cells: median samples/s over the repeats (seeds: also epochs/s), and in brackets "
        "that system's samples/s over fastprop's (above 1x: faster than fastprop).",
        f"~: one epoch would take over {args.cap:g} s; timed on a sub-epoch of the first "
        f"{SUB_EPOCH_ROWS} samples (in full-batch mode one batch of {SUB_EPOCH_ROWS}) and "
        "extrapolated. -: not run.",
        "fastprop: Trainer.epoch, one compiled call per epoch; numpy-ref: "
        "fastprop.reference.epoch; torch: eager nn.Linear + Sigmoid, torch.optim.SGD without "
        "momentum, a Python loop over batches; jax: the whole epoch jitted (shuffle and "
        "lax.scan over batches, a partial last batch as one more step).",
        SKLEARN_NOTE,
        f"Warm-up and compilation are excluded; {PAUSE:g} s idle between measurements lets "
        "each library's thread pool go quiet before the next system runs.",
        f"Wall time of this run: {(time.perf_counter() - started) / 60:.1f} min; 1-minute load "
        f"average {load_before:.2f} at the start, {os.getloadavg()[0]:.2f} at the end (this run "
        f"alone adds up to {threads}; more means other processes shared the cores).",
    ]
    if "sklearn" not in systems:
        notes.remove(SKLEARN_NOTE)
    names = list(systems)
    print("\n" + report(results, names, args.workloads, args.modes, ceilings, args.dtype, notes))
    if args.json:
        import json

        with open(args.json, "w") as f:
            json.dump({"cells": [[list(key), c.seconds, c.rows, c.n] for key, c in results.items()],
                       "ceilings": ceilings, "notes": notes, "systems": names}, f)
    write_outputs(args, results, names, ceilings, notes,
                  f"fastprop vs peers, {args.dtype}, {threads} threads")


if __name__ == "__main__":
    main()
