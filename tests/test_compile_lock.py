"""Processes sharing a Numba cache compile fastprop's parallel kernels one at a time.

numba#10128 (see ``fastprop/compile_lock.py``): two processes compiling
the same parallel kernel into one cache can leave files that crash every
later process. Here a child process on an empty cache must wait for the
lock the test holds before it compiles, then train normally.
"""

import os
import subprocess
import sys
import time

import numba
import numpy as np
import pytest

from fastprop import compile_lock

fcntl = pytest.importorskip("fcntl")

CHILD = r"""
import numpy as np
from fastprop import Network, Trainer
rng = np.random.default_rng(0)
X = rng.random((200, 40))
Y = 0.1 + 0.8 * rng.random((200, 3))
# Batches of 64 on a 40-256-3 net: split into parts, the parallel chain.
trainer = Trainer(Network((40, 256, 3), seed=0), X, Y, mode="minibatch", batch_size=64,
                  threads=2)
print("ready", flush=True)
print("loss", trainer.epoch(), flush=True)
"""


def blocked_on_flock(pid):
    """Whether ``pid`` waits for a flock (Linux lists waiters as '->' lines in /proc/locks)."""
    with open("/proc/locks") as f:
        for line in f:
            fields = line.split()
            if "->" in fields and "FLOCK" in fields and str(pid) in fields:
                return True
    return False


@pytest.mark.skipif(not os.path.exists("/proc/locks"), reason="needs Linux's /proc/locks")
@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two Numba threads")
def test_a_cold_process_waits_for_the_lock_before_compiling(tmp_path):
    cache = tmp_path / "numba-cache"
    cache.mkdir()
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    with open(cache / compile_lock.LOCK_NAME, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        child = subprocess.Popen([sys.executable, "-c", CHILD], env=env, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 600
            while not blocked_on_flock(child.pid):
                assert child.poll() is None, child.communicate()
                assert time.monotonic() < deadline, "the child never asked for the lock"
                time.sleep(0.05)
            # Waiting for the lock, the child has compiled no parallel kernel.
            assert not list(cache.rglob("*run_epochs_parallel*"))
        finally:
            fcntl.flock(held, fcntl.LOCK_UN)
        out, err = child.communicate(timeout=600)
    assert child.returncode == 0, err
    assert "ready" in out
    loss = float(out.split("loss")[1])
    assert np.isfinite(loss) and loss > 0
    # Released, it compiled and cached the kernel.
    assert list(cache.rglob("*run_epochs_parallel*.nbi"))


def test_an_unusable_lock_location_only_skips_the_lock(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    # A directory cannot be made under a file: the lock is skipped, not an error.
    monkeypatch.setattr(compile_lock, "lock_path", lambda: str(blocker / "sub" / "x.lock"))
    ran = []
    with compile_lock.compile_lock():
        ran.append(True)
    assert ran == [True]


def test_the_lock_is_taken_once_per_signature(monkeypatch):
    taken = []
    real = compile_lock.compile_lock

    def counting():
        taken.append(True)
        return real()

    monkeypatch.setattr(compile_lock, "compile_lock", counting)

    @numba.njit
    def twice(x):
        return 2 * x

    compile_lock.ensure_compiled(twice, (1.0,))
    compile_lock.ensure_compiled(twice, (3.0,))
    assert len(taken) == 1
    compile_lock.ensure_compiled(twice, (np.arange(3),))
    assert len(taken) == 2
    assert twice(2.0) == 4.0
