"""Concurrency and determinism: threads, processes and thread counts.

- Two Python threads training different networks at once (the kernels are
  compiled ``nogil``) give, bit for bit, what each gives alone.
- Two processes training at once likewise.
- The same seed gives bit-identical weights and history across runs,
  processes, Numba thread counts (``NUMBA_NUM_THREADS`` 1 and 2, and
  ``threads=``) and BLAS thread counts (``OMP_NUM_THREADS`` /
  ``OPENBLAS_NUM_THREADS`` 1 and 2), on problems that take every path: the
  per-sample row kernels, mini-batches split into parts on the thread pool,
  and layers large enough for BLAS.

Each problem's result is summarised by a SHA-256 of its parameters and
history, computed the same way in this process and in the children.
"""

import hashlib
import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import fastprop
from fastprop import kernels

# name: (n, layer widths, dtype, fit keywords). Small enough for CI, large enough that
# "big" sends its layers to BLAS and its mini-batches into parts on the thread pool.
PROBLEMS = {
    "sgd-3-4-1": (40, (3, 4, 1), "float64", dict(mode="sgd", epochs=30)),
    "minibatch-20-16-3": (300, (20, 16, 3), "float32", dict(mode="minibatch", batch_size=64,
                                                             epochs=6)),
    "big-64-128-10": (1024, (64, 128, 10), "float32", dict(mode="minibatch", batch_size=256,
                                                           epochs=3)),
    "batch-48-96-4": (512, (48, 96, 4), "float64", dict(mode="batch", epochs=4, lr=2.0)),
}

# Run in a child interpreter: the same digests, printed as JSON.
CHILD = """
import json, sys
sys.path.insert(0, {tests!r})
import test_concurrency as t
names = json.loads(sys.argv[1])
threads = json.loads(sys.argv[2])
print(json.dumps({{n: t.digest(n, threads) for n in names}}))
"""


def problem_data(name):
    n, sizes, dtype, _ = PROBLEMS[name]
    rng = np.random.default_rng(len(name))
    X = rng.random((n, sizes[0])).astype(dtype)
    Y = rng.random((n, sizes[-1])).astype(dtype)
    return X, Y


def train(name, threads=None):
    _, sizes, _, kwargs = PROBLEMS[name]
    X, Y = problem_data(name)
    return fastprop.fit(X, Y, sizes[1:-1], seed=7, loss="bce", threads=threads,
                        **{"lr": 0.5, **kwargs})


def digest(name, threads=None):
    net = train(name, threads)
    h = hashlib.sha256(net.params.tobytes())
    h.update(np.array(net.history, dtype=np.float64).tobytes())
    return h.hexdigest()


def child_digests(names, env_extra, threads=None):
    env = dict(os.environ, **env_extra)
    code = CHILD.format(tests=os.path.dirname(os.path.abspath(__file__)))
    return subprocess.Popen(
        [sys.executable, "-c", code, json.dumps(names), json.dumps(threads)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def collect(proc, timeout=600):
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def alone():
    """Each problem trained alone in this process: the digests everything is held to."""
    return {name: digest(name) for name in PROBLEMS}


def test_big_problem_takes_the_blas_and_parts_paths():
    _, sizes, _, kwargs = PROBLEMS["big-64-128-10"]
    rows = min(kwargs["batch_size"], 256)
    assert rows * sizes[0] * sizes[1] >= kernels.config.BLAS_MIN_MACS
    assert kernels.run_epochs.targetoptions["nogil"]


def test_small_problem_takes_the_tiny_kernel():
    _, sizes, _, _ = PROBLEMS["sgd-3-4-1"]
    assert kernels.tiny.is_tiny(sizes)
    assert kernels.run_epochs_tiny.targetoptions["nogil"]


def test_same_seed_same_bits_across_runs(alone):
    for name in PROBLEMS:
        assert digest(name) == alone[name], name


@pytest.mark.parametrize("threads", [1, 2])
def test_threads_argument_does_not_change_the_bits(alone, threads):
    if threads > fastprop.threads.max_threads():
        pytest.skip("needs NUMBA_NUM_THREADS >= 2")  # the subprocess test below still runs
    for name in PROBLEMS:
        assert digest(name, threads) == alone[name], name


def test_two_threads_at_once_equal_each_alone(alone):
    names = ["big-64-128-10", "batch-48-96-4", "sgd-3-4-1", "minibatch-20-16-3"]
    results = {}
    barrier = threading.Barrier(2)

    def worker(mine):
        barrier.wait()  # start together, so the kernels really overlap
        for name in mine:
            results[name] = digest(name)

    pairs = [names[0::2], names[1::2]]
    workers = [threading.Thread(target=worker, args=(p,)) for p in pairs]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=600)
    assert not any(w.is_alive() for w in workers)
    assert results == {name: alone[name] for name in names}


@pytest.mark.processes
def test_two_processes_at_once_equal_each_alone(alone):
    first = child_digests(["big-64-128-10", "sgd-3-4-1"], {})
    second = child_digests(["batch-48-96-4", "minibatch-20-16-3"], {})
    results = {**collect(first), **collect(second)}
    assert results == alone


# Thread counts for Numba's pool and for BLAS (OpenMP or OpenBLAS's own pool).
THREAD_ENVS = {
    "all-1": {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
              "MKL_NUM_THREADS": "1"},
    "all-2": {"NUMBA_NUM_THREADS": "2", "OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2",
              "MKL_NUM_THREADS": "2"},
    "numba-1-blas-2": {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "2",
                       "OPENBLAS_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"},
}


@pytest.mark.processes
def test_same_bits_for_every_thread_count(alone):
    procs = {key: child_digests(list(PROBLEMS), env) for key, env in THREAD_ENVS.items()}
    # threads=1 on a pool of two (all-2 ran threads=None, which is 2).
    procs["all-2-threads=1"] = child_digests(list(PROBLEMS), THREAD_ENVS["all-2"], threads=1)
    for key, proc in procs.items():
        assert collect(proc) == alone, key


@pytest.mark.processes
def test_blas_thread_count_alone_does_not_change_a_large_product():
    """SciPy's BLAS (which Numba's np.dot calls) gives the same bits on 1 and 2 threads."""
    code = (
        "import numpy as np, hashlib\n"
        "from scipy.linalg import blas\n"
        "rng = np.random.default_rng(0)\n"
        "A = rng.random((256, 512)); B = rng.random((512, 384))\n"
        "C = blas.dgemm(1.0, A, B); G = blas.dgemm(1.0, A, A, trans_a=1)\n"
        "S = blas.sgemm(1.0, A.astype(np.float32), B.astype(np.float32))\n"
        "print(hashlib.sha256(C.tobytes() + G.tobytes() + S.tobytes()).hexdigest())\n"
    )
    outs = []
    for n in ("1", "2"):
        env = dict(os.environ, OMP_NUM_THREADS=n, OPENBLAS_NUM_THREADS=n, MKL_NUM_THREADS=n)
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        outs.append(proc.stdout.strip())
    assert outs[0] == outs[1]
