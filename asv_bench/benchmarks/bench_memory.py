"""Peak memory of one full-batch epoch on a large data set.

fastprop accumulates a full batch's gradient ``CHUNK`` rows at a time, so its
workspace does not grow with the data; the reference holds every layer's
activations for all samples at once. asv's ``peakmem_`` reports the peak
resident set of the whole process (interpreter, NumPy, Numba, the data and
the epoch), so compare figures across impl and commits, not to zero;
``TrackEpochExtraMemory`` isolates what the epoch itself adds.
"""

import os

from fastprop import Network, Trainer

from .common import MEMORY_WORKLOADS, WORKLOADS, memory_data
from .harness import DTYPES, SEED, ReferenceTrainer, run_python

# Loads the full-batch kernel for one dtype into Numba's disk cache, in
# another interpreter: compiling in the measured process would put LLVM's
# memory into its peak.
# Enough rows that the batch is split into parts: the parallel chain is the
# one a large full batch runs.
_PRIME = """
import numpy as np
import os

from fastprop import Network, Trainer
dt = np.dtype({dtype!r})
X, Y = np.zeros((4096, 64), dt), np.zeros((4096, 10), dt)
Trainer(Network((64, 32, 10), seed=0, dtype=dt), X, Y, mode="batch").epoch()
"""

# One full-batch epoch in a fresh interpreter: the resident set just before
# it and the process peak after it, in MiB. Their difference is the memory
# the epoch itself added; the data set's own size is printed too.
_EXTRA = """
import resource
import sys
sys.path.insert(0, {bench_dir!r})
import numpy as np
from benchmarks.common import MEMORY_WORKLOADS, memory_data
from benchmarks.bench_memory import _PRIME, make_trainer
PRIME = _PRIME.format(dtype={dtype!r})

def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20

def peak_mib():
    # VmHWM: the peak resident set since the last reset below.
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024

if {impl!r} == "fastprop":
    # Load the kernels from the cache first: linking them takes memory too.
    exec(PRIME)
X, Y = memory_data({workload!r}, {dtype!r})
trainer = make_trainer({impl!r}, {workload!r}, {dtype!r}, X, Y)
before = rss_mib()
# Reset the peak to the current resident set (Linux >= 4.0), so that the
# transient arrays of drawing the data do not count as the epoch's.
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
trainer.epoch()
peak = peak_mib()
print(before, peak, (X.nbytes + Y.nbytes) / 2**20)
"""


class PeakMemFullBatch:
    """Process peak RSS after one full-batch epoch (data and imports included)."""

    params = [["fastprop", "reference"], ["digits200k", "digits1m", "mnist"], DTYPES]
    param_names = ["impl", "workload", "dtype"]
    timeout = 300

    def setup(self, impl, workload, dtype):
        if impl == "fastprop":
            run_python(_PRIME.format(dtype=dtype))
        X, Y = memory_data(workload, dtype)
        self.trainer = make_trainer(impl, workload, dtype, X, Y)

    def peakmem_epoch(self, impl, workload, dtype):
        self.trainer.epoch()


def make_trainer(impl, workload, dtype, X, Y):
    """A full-batch trainer of ``impl`` on a memory workload's (X, Y)."""
    w = MEMORY_WORKLOADS.get(workload) or WORKLOADS[workload]
    network = Network(w.layer_sizes, seed=SEED, dtype=dtype)
    if impl == "fastprop":
        return Trainer(network, X, Y, mode="batch", lr=w.lr, shuffle=True, seed=SEED)
    return ReferenceTrainer(network, X, Y, mode="batch", batch_size=None, lr=w.lr, seed=SEED)


class TrackEpochExtraMemory:
    """MiB a full-batch epoch adds to the process peak beyond the data: flat for fastprop.

    Measured in a fresh interpreter per sample (the peak resident set during
    the epoch, Linux's VmHWM after a reset, minus the resident set just
    before it), so imports, compilation and the data set are not counted.
    200,000 against 1,000,000 samples shows whether the epoch's memory grows
    with the data.
    """

    params = [["fastprop", "reference"], ["digits200k", "digits1m"], ["float32"]]
    param_names = ["impl", "workload", "dtype"]
    unit = "MiB"
    timeout = 600

    def setup(self, impl, workload, dtype):
        if impl == "fastprop":
            run_python(_PRIME.format(dtype=dtype))

    def track_extra_mib(self, impl, workload, dtype):
        bench_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        out = run_python(_EXTRA.format(
            bench_dir=bench_dir, impl=impl, workload=workload, dtype=dtype
        ))
        before, peak, _ = (float(v) for v in out.split())
        return peak - before
