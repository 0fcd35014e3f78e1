"""fastprop itself: ``Trainer.epoch``, one compiled call per epoch."""

import numpy as np

import fastprop
from fastprop import Trainer, kernels


def setup(threads):
    parallel = any(
        k.targetoptions.get("parallel", False)
        for k in (kernels.sgd_epoch, kernels.minibatch_epoch)
    )
    # The kernels' own threading, not the --threads request, decides the cores used:
    # Numba prange threads if compiled parallel, BLAS threads where layers call np.dot.
    text = f"fastprop {fastprop.__version__}: Numba kernels, parallel={parallel}"
    min_macs = getattr(kernels.config, "BLAS_MIN_MACS", None)
    if min_macs is not None:
        text += f"; layers of >= {min_macs} multiply-adds per block via np.dot (BLAS)"
    return text


class Runner:
    def __init__(self, net, X, Y, *, mode, batch_size, lr, shuffle, seed):
        self.net = net.copy()
        self.trainer = Trainer(
            self.net, X, Y, mode=mode, batch_size=batch_size, lr=lr, shuffle=shuffle, seed=seed
        )

    def epoch(self):
        self.trainer.epoch()

    def params(self):
        return [np.array(W) for W in self.net.weights], [np.array(b) for b in self.net.biases]


make = Runner
