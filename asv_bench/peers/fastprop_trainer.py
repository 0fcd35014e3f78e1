"""fastprop itself: ``Trainer.epoch``, one compiled call per epoch."""

import numpy as np

import fastprop
from fastprop import Trainer, kernels


def setup(threads):
    from fastprop.threads import max_threads

    # The kernels' own threading, not the --threads request, decides the cores used:
    # Numba's pool runs the parts of a batch, each part single-threaded BLAS.
    return (
        f"fastprop {fastprop.__version__}: Numba kernels; batches split into <= "
        f"{Trainer.MAX_PARTS} parts on {max_threads()} Numba threads; within a part, "
        f"layer blocks of >= {kernels.config.BLAS_MIN_MACS} multiply-adds via matrix products "
        f"(register tiles up to {kernels.config.TILE_MAX_ROWS} rows through a weight block of "
        f"<= {kernels.config.TILE_MAX_BYTES >> 10} KB, else single-threaded BLAS), smaller "
        "ones by fused row loops"
    )


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
