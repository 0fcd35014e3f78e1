"""Buffers the kernels work in, sized once per fit and reused every epoch."""

import numpy as np

from . import kernels

LOSS_CODES = {"mse": kernels.LOSS_MSE, "bce": kernels.LOSS_BCE}


# Cache-line alignment of the buffers the kernels stream through. A vector load
# that straddles two lines costs two: with params at 16 bytes past a line (what
# NumPy's allocator gave), the register tiles' first-layer products of
# 784-128-64-10 mini-batches of 32 took 116 µs against 98 on an aligned copy
# (float32, one core).
ALIGN_BYTES = 64


def aligned_zeros(shape, dtype):
    """``np.zeros(shape, dtype)`` whose data starts on an ``ALIGN_BYTES`` boundary."""
    dtype = np.dtype(dtype)
    n = int(np.prod(shape, dtype=np.int64))
    raw = np.zeros(n * dtype.itemsize + ALIGN_BYTES, dtype=np.uint8)
    start = -raw.ctypes.data % ALIGN_BYTES
    return raw[start : start + n * dtype.itemsize].view(dtype).reshape(shape)


def parameter_offsets(sizes):
    """Start of each layer's ``W_l`` in the flat buffer (``b_l`` follows it), and the total."""
    offsets = np.zeros(len(sizes) - 1, dtype=np.int64)
    total = 0
    for l in range(len(sizes) - 1):
        offsets[l] = total
        total += sizes[l] * sizes[l + 1] + sizes[l + 1]
    return offsets, total


class Workspace:
    """Activations, deltas and a gradient for blocks of ``chunk`` rows, once per part.

    ``acts`` holds every layer's block, layer l starting at ``act_off[l]``;
    ``deltas`` shares those offsets (its layer-0 part is unused). A batch
    split into ``parts`` (see ``kernels.parallel``) gives each part a row of
    ``part_acts``, ``part_deltas`` and ``partials`` (its gradient);
    ``acts``, ``deltas`` and ``grad`` are part 0's.
    Memory is ``parts * (2 * chunk * sum(layer_sizes) + n_params)``
    floats, whatever the number of samples.
    """

    def __init__(self, network, chunk, parts=1):
        sizes = network.layer_sizes
        self.chunk = int(max(1, chunk))
        self.parts = int(max(1, parts))
        widths = np.array(sizes, dtype=np.int64)
        self.act_off = np.concatenate(([0], np.cumsum(widths[:-1]))).astype(np.int64) * self.chunk
        total = self.chunk * int(widths.sum())
        self.part_acts = aligned_zeros((self.parts, total), network.dtype)
        self.part_deltas = aligned_zeros((self.parts, total), network.dtype)
        self.partials = aligned_zeros((self.parts, network.params.size), network.dtype)
        self.part_loss = np.zeros(self.parts, dtype=np.float64)
        self.acts, self.deltas = self.part_acts[0], self.part_deltas[0]
        self.grad = self.partials[0]
