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
        f"({_tiles()}, else single-threaded BLAS), smaller ones by fused row loops"
    )


def _tiles():
    """Which products the register tiles take on this CPU (kernels.blas.use_tiles)."""
    config, blas = kernels.config, kernels.blas
    rows, vector = kernels.tiles.ROWS, kernels.tiles.TILE_BYTES
    if not blas.WIDE_TILES:
        return (f"register tiles of {rows} rows x 2 x {vector} B up to {config.TILE_MAX_ROWS} "
                f"rows through a weight block of <= {config.TILE_MAX_BYTES >> 10} KB")
    return (f"register tiles of {rows} rows x 2 x {vector} B through a weight block of "
            f"<= {config.TILE_WIDE_MAX_BYTES >> 10} KB, up to {config.TILE_MAX_ROWS} rows, or "
            f"{config.TILE_WIDE_MAX_ROWS} for a block at least a tile wide")


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
