"""fastprop in float64 whatever the run's ``--dtype``: float64 against float32 in one run.

Not among the default systems: ``--systems fastprop fastprop-f64`` times the
float32 and the float64 Trainer round-robin on the same workloads, so the
ratio in the table is float64's samples/s over float32's from one run (the
project's target: at least half where compute-bound). Same starting weights
and data, converted to float64 before the timing starts.
"""

import numpy as np

import fastprop

from . import fastprop_trainer


def setup(threads):
    return "fastprop's Trainer with its network and data in float64"


class Runner(fastprop_trainer.Runner):
    def __init__(self, net, X, Y, **kwargs):
        net64 = fastprop.Network.from_arrays(net.weights, net.biases, dtype=np.float64)
        super().__init__(net64, np.ascontiguousarray(X, dtype=np.float64),
                         np.ascontiguousarray(Y, dtype=np.float64), **kwargs)


make = Runner
