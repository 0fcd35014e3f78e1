"""Peak memory of one full-batch epoch on a large data set.

fastprop accumulates a full batch's gradient ``CHUNK`` rows at a time, so its
workspace does not grow with the data; the reference holds every layer's
activations for all samples at once. asv's ``peakmem_`` reports the peak
resident set of the whole process (interpreter, NumPy, Numba, the data and
the epoch), so compare figures across impl and commits, not to zero.
"""

from fastprop import Network, Trainer

from .common import MEMORY_WORKLOADS, WORKLOADS, memory_data
from .harness import DTYPES, SEED, ReferenceTrainer, run_python

# Loads the full-batch kernel for one dtype into Numba's disk cache, in
# another interpreter: compiling in the measured process would put LLVM's
# memory into its peak.
_PRIME = """
import numpy as np
from fastprop import Network, Trainer
dt = np.dtype({dtype!r})
X, Y = np.zeros((4, 3), dt), np.zeros((4, 1), dt)
Trainer(Network((3, 2, 1), seed=0, dtype=dt), X, Y, mode="batch").epoch()
"""


class PeakMemFullBatch:
    """Process peak RSS after one full-batch epoch (data and imports included)."""

    params = [["fastprop", "reference"], ["digits200k", "mnist"], DTYPES]
    param_names = ["impl", "workload", "dtype"]
    timeout = 300

    def setup(self, impl, workload, dtype):
        w = MEMORY_WORKLOADS.get(workload) or WORKLOADS[workload]
        if impl == "fastprop":
            run_python(_PRIME.format(dtype=dtype))
        X, Y = memory_data(workload, dtype)
        network = Network(w.layer_sizes, seed=SEED, dtype=dtype)
        if impl == "fastprop":
            self.trainer = Trainer(network, X, Y, mode="batch", lr=w.lr, shuffle=True, seed=SEED)
        else:
            self.trainer = ReferenceTrainer(
                network, X, Y, mode="batch", batch_size=None, lr=w.lr, seed=SEED
            )

    def peakmem_epoch(self, impl, workload, dtype):
        self.trainer.epoch()
