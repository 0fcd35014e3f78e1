"""Buffers the kernels work in, sized once per fit and reused every epoch."""

import numpy as np

from . import kernels

LOSS_CODES = {"mse": kernels.LOSS_MSE, "bce": kernels.LOSS_BCE}


def parameter_offsets(sizes):
    """Start of each layer's ``W_l`` in the flat buffer (``b_l`` follows it), and the total."""
    offsets = np.zeros(len(sizes) - 1, dtype=np.int64)
    total = 0
    for l in range(len(sizes) - 1):
        offsets[l] = total
        total += sizes[l] * sizes[l + 1] + sizes[l + 1]
    return offsets, total


class Workspace:
    """Activations, deltas and a gradient for blocks of ``chunk`` rows.

    ``acts`` holds every layer's block, layer l starting at ``act_off[l]``;
    ``deltas`` shares those offsets (its layer-0 part is unused). Memory is
    ``chunk * sum(layer_sizes)`` floats twice, whatever the number of samples.
    """

    def __init__(self, network, chunk):
        sizes = network.layer_sizes
        self.chunk = int(max(1, chunk))
        widths = np.array(sizes, dtype=np.int64)
        self.act_off = np.concatenate(([0], np.cumsum(widths[:-1]))).astype(np.int64) * self.chunk
        total = self.chunk * int(widths.sum())
        self.acts = np.zeros(total, dtype=network.dtype)
        self.deltas = np.zeros(total, dtype=network.dtype)
        self.grad = np.zeros_like(network.params)
        # BLAS writes a layer's gradient here before it is added to grad.
        largest_W = max(sizes[l] * sizes[l + 1] for l in range(len(sizes) - 1))
        self.scratch = np.zeros(largest_W, dtype=network.dtype)
