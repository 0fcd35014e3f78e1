"""The process that compiles a kernel and every process that loads it from the disk cache train alike.

Numba caches a kernel's machine code on disk, and a later process loads it
instead of compiling. A kernel that calls another compiled as a function of
its own can run different code in the two cases (the cached copy is the
callee linked into the caller and optimised there). With ``reassoc`` among
the fast-math flags LLVM vectorised a sum differently in the two copies, 1
ulp apart: run_epochs_deferred, and later the parallel region of the
pipelined deferred SGD, trained to other bits in the process that compiled
them than in every later one. The kernels are now compiled without
``reassoc`` (kernels/config.py). Here one child process trains every kernel
chain the trainer has on an empty cache (compiling), a second one on that
cache (loading), and their parameters must be equal.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

TRAIN = r"""
import json, sys
import numpy as np
from fastprop import Network, Trainer

out = {}
# name: (layer sizes, mode, batch_size, threads, dtype); each picks one kernel
# chain. float64 throughout (each dtype compiles again, and CI pays it twice);
# the deferred chain, where the difference was found, also in float32.
CHAINS = {
    "sgd": ((12, 9, 3), "sgd", 1, 1, "float64"),
    "deferred": ((40, 256, 3), "sgd", 1, 1, "float64"),
    "deferred-parallel": ((40, 256, 3), "sgd", 1, 2, "float64"),
    "deferred-float32": ((40, 256, 3), "sgd", 1, 1, "float32"),
    "deferred-parallel-float32": ((40, 256, 3), "sgd", 1, 2, "float32"),
    "tiny": ((3, 4, 1), "minibatch", 4, 1, "float64"),
    "whole": ((12, 9, 3), "minibatch", 8, 1, "float64"),
    "split": ((40, 256, 3), "minibatch", 64, 1, "float64"),
    "split-parallel": ((40, 256, 3), "minibatch", 64, 2, "float64"),
    "parts": ((40, 256, 3), "batch", 1, 1, "float64"),
    "parts-parallel": ((40, 256, 3), "batch", 1, 2, "float64"),
}
Trainer.MIN_PART_MACS = 1
pool = __import__("numba").config.NUMBA_NUM_THREADS
for name, (sizes, mode, batch, threads, dtype) in CHAINS.items():
    # The same data for the same network, so that thread counts can be compared.
    rng = np.random.default_rng(list(sizes))
    n = 150
    X = rng.random((n, sizes[0])).astype(dtype)
    Y = (0.1 + 0.8 * rng.random((n, sizes[-1]))).astype(dtype)
    net = Network(sizes, seed=1, dtype=dtype)
    Trainer(net, X, Y, mode=mode, batch_size=batch, lr=0.3, seed=2,
            threads=min(threads, pool)).train(2)
    out[name] = net.params.astype(np.float64).tolist()
print("PARAMS" + json.dumps(out))
"""


def train_in_child(cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    proc = subprocess.run([sys.executable, "-c", TRAIN], env=env, capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("PARAMS")][-1]
    return json.loads(line[len("PARAMS"):])


@pytest.fixture(scope="module")
def compiled_and_loaded(tmp_path_factory):
    cache = tmp_path_factory.mktemp("numba-cache")
    compiled = train_in_child(cache)
    assert any(cache.rglob("*.nbi")), "the first process wrote no cache"
    return compiled, train_in_child(cache)


CHAINS = ["sgd", "deferred", "deferred-parallel", "deferred-float32",
          "deferred-parallel-float32", "tiny", "whole", "split", "split-parallel", "parts",
          "parts-parallel"]


@pytest.mark.parametrize("chain", CHAINS)
def test_loading_from_the_cache_trains_to_the_same_bits(compiled_and_loaded, chain):
    compiled, loaded = compiled_and_loaded
    np.testing.assert_array_equal(np.array(loaded[chain]), np.array(compiled[chain]),
                                  err_msg=chain)


@pytest.mark.parametrize("chain", ["deferred", "deferred-float32", "split", "parts"])
def test_thread_counts_agree_in_both_processes(compiled_and_loaded, chain):
    parallel = chain.replace("deferred", "deferred-parallel") if "deferred" in chain \
        else f"{chain}-parallel"
    for run in compiled_and_loaded:
        np.testing.assert_array_equal(run[chain], run[parallel], err_msg=chain)
