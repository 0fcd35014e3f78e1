"""Kill tests: SIGKILL and SIGINT at random moments during saves and ``fastprop train``.

Run as a script (``tests/test_faults.py`` does, in a subprocess):

    python tests/kill_zygote.py save  --signal KILL --rounds 200 --dir DIR
    python tests/kill_zygote.py train --signal INT  --rounds 40  --dir DIR

This process imports fastprop once and then forks a child per round (a
fresh interpreter per kill would spend seconds importing Numba), so it never
starts Numba's thread pool itself (``NUMBA_NUM_THREADS=1`` is expected).

``save``: the child saves two different networks A and B to one path, in
turn, forever; after a random delay the signal arrives. Then the file must
load and be exactly A or exactly B: never torn, never missing.

``train``: the child runs ``fastprop train`` (``cli.main``) over an existing
model; the signal arrives somewhere between start-up and the final save.
Then the file must load: exactly the model that was there before, or a new
complete one (which then becomes the "before" of the next round).

The last line is the summary the test quotes::

    kills: save SIGKILL 200 run, 0 models lost (old 96, new 104), 31 temporary files left
"""

import argparse
import os
import random
import signal
import sys
import time

import numpy as np

import fastprop
from fastprop import cli


def same(a, b):
    return (
        a.layer_sizes == b.layer_sizes and a.dtype == b.dtype
        and np.array_equal(a.params, b.params) and a.history == b.history
    )


def temporaries(directory, name):
    return [f for f in os.listdir(directory) if f.startswith(f".{name}.") and f.endswith(".tmp")]


def run_child(body):
    """Fork; the child runs ``body`` and never returns into this process's code.

    SIGINT is blocked across the fork: Python's at-fork hooks (reseeding
    ``random``) swallow a KeyboardInterrupt raised inside them, which would
    leave a child that ignored its Ctrl-C for reasons of this harness only.
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    pid = os.fork()
    if pid == 0:
        try:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
            body()
        except BaseException:  # noqa: BLE001 - a KeyboardInterrupt is how SIGINT ends it
            os._exit(3)
        os._exit(0)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    return pid


def kill_after(pid, delay, signum):
    """Signal the child after ``delay`` s; True if it ended by itself within 2 s after.

    A SIGINT can land where Python swallows the KeyboardInterrupt (a ``__del__``,
    say) and the child then keeps going: it gets a SIGKILL after 2 s.
    """
    time.sleep(delay)
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass  # it finished first: still a valid round
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return True
        time.sleep(0.005)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return False


def judge(path, old, is_new):
    """What a kill left at ``path``: ``"old"``, ``"new"`` or ``"lost"``, and the model read.

    ``is_new(model)`` says whether the child could have written ``model``. A
    file that does not load is put back to ``old`` so the next round starts
    from a good one.
    """
    try:
        back = fastprop.load(path)
    except (ValueError, OSError) as exc:
        print(f"lost: {exc}")
        old.save(path)
        return "lost", None
    if same(back, old):
        return "old", back
    if is_new(back):
        return "new", back
    print(f"lost: the file loads but holds a model the child cannot have written: {back!r}")
    return "lost", back


def save_rounds(args, rng):
    directory = args.dir
    path = os.path.join(directory, "net.npz")
    X = np.random.default_rng(0).random((64, 40))
    Y = np.random.default_rng(1).random((64, 10))
    A = fastprop.fit(X, Y, (200,), epochs=3, seed=1, threads=1)
    B = fastprop.fit(X, Y, (200,), epochs=4, seed=2, threads=1)
    A.save(path)
    t0 = time.perf_counter()
    for _ in range(5):
        A.save(path)
    per_save = (time.perf_counter() - t0) / 5

    def alternate():
        while True:
            B.save(path)
            A.save(path)

    counts = {"lost": 0, "old": 0, "new": 0}
    survived = 0
    for _ in range(args.rounds):
        pid = run_child(alternate)
        if not kill_after(pid, rng.uniform(0, 4 * per_save), args.signum):
            survived += 1
        verdict, _ = judge(path, A, lambda back: same(back, B))
        counts[verdict] += 1
    left = len(temporaries(directory, "net.npz"))
    return counts["lost"], counts["old"], counts["new"], left, (
        f"{per_save * 1e3:.1f} ms per save; {survived} children kept saving after the signal"
    )


def train_rounds(args, rng):
    directory = args.dir
    data = os.path.join(directory, "data.csv")
    out = os.path.join(directory, "model.npz")
    gen = np.random.default_rng(3)
    X = gen.random((400, 6))
    y = (X[:, 0] + X[:, 1] > 1).astype(int)
    with open(data, "w") as f:
        f.write(",".join([f"x{i}" for i in range(6)] + ["label"]) + "\n")
        for row, label in zip(X, y, strict=True):
            f.write(",".join(f"{v:.6f}" for v in row) + f",{label}\n")

    def argv(seed):
        return ["train", data, "--out", out, "--hidden", "16", "--epochs", str(args.epochs),
                "--seed", str(seed), "--quiet"]

    # Two complete runs in this process: the first compiles what the children use, the
    # second times a warm run, the span the signal is aimed at.
    assert cli.main(argv(0)) == 0
    t0 = time.perf_counter()
    assert cli.main(argv(0)) == 0
    per_run = time.perf_counter() - t0
    before = fastprop.load(out)
    t0 = time.perf_counter()
    before.save(os.path.join(directory, "timing.npz"))
    per_save = time.perf_counter() - t0
    counts = {"lost": 0, "old": 0, "new": 0}
    survived = 0

    def written_by_train(back):
        return back.layer_sizes == before.layer_sizes and np.isfinite(back.params).all() and (
            1 <= len(back.history) <= args.epochs
        )

    for r in range(args.rounds):
        seed = r + 1
        # Odd rounds aim at the final save: the child says when it begins.
        read_end, write_end = os.pipe()

        def child(seed=seed, aimed=r % 2 == 1, write_end=write_end):
            if aimed:
                save = fastprop.Network.save

                def announced(self, path):
                    os.write(write_end, b"s")
                    return save(self, path)

                fastprop.Network.save = announced
            sys.exit(cli.main(argv(seed)))

        pid = run_child(child)
        os.close(write_end)
        if r % 2 == 1:
            os.read(read_end, 1)  # b"" if the child ended without saving
            delay = rng.uniform(0, 3 * per_save)
        else:
            delay = rng.uniform(0, 1.5) * per_run
        os.close(read_end)
        if not kill_after(pid, delay, args.signum):
            survived += 1
        verdict, back = judge(out, before, written_by_train)
        counts[verdict] += 1
        if verdict == "new":
            before = back
    left = len(temporaries(directory, "model.npz"))
    return counts["lost"], counts["old"], counts["new"], left, (
        f"{per_run:.2f} s per complete run, {per_save * 1e3:.1f} ms per save; {survived} "
        "children kept going after the signal"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("save", "train"))
    parser.add_argument("--signal", choices=("KILL", "INT"), default="KILL")
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=300, help="train: epochs per run")
    parser.add_argument("--dir", required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    args.signum = getattr(signal, f"SIG{args.signal}")
    rng = random.Random(args.seed)
    rounds = save_rounds if args.what == "save" else train_rounds
    lost, old, new, left, timing = rounds(args, rng)
    print(f"kills: {args.what} SIG{args.signal} {args.rounds} run, {lost} models lost "
          f"(old {old}, new {new}), {left} temporary files left; {timing}")
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
