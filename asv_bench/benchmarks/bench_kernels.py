"""Kernel variants timed alone: the GEMM wrappers, and a batch's gradient in parts.

``TimeLayerGemm`` times one layer's product through ``kernels.blas`` against
what the kernels did before it (``np.dot`` into a scratch matrix and, for the
gradient, a second pass adding it in), on layer blocks of the benchmark
networks; ``RatioLayerGemm`` tracks the wrapper's time over that baseline,
measured in one process. ``TimePartsGradient`` times a batch's gradient on
the serial and the parallel twin of ``parts_gradient``. ``TimeSgdEpoch`` and
``RatioSgdDeferred`` time a per-sample SGD epoch on ``sgd_epoch`` and on
``sgd_epoch_deferred`` (first layer's updates applied once per block) and its
parallel twin. ``TimeBatchStep`` times one split mini-batch update through
the parts' gradient buffers (``parts_gradient`` + ``reduce_step``) and
through ``split.split_batch_step`` (rows, then columns, no buffers).
``TimeElementwise`` times the sigmoid and the hidden deltas' dot products.
``TimeTiles`` and ``RatioTiles`` time the register-tiled products
(``kernels.tiles``) against BLAS on the blocks a split mini-batch multiplies.
``TimeRowKernels`` and ``RatioRowKernels`` time per-sample SGD's row kernels
on the layers it runs them on: the update fused with the next forward pass
with its sums in registers (``kernels.row_products``) against the plain
loops, and the hidden deltas' dot products four rows at a time
(``vector.dots``) against one row at a time.
"""

import statistics
import time

import numpy as np
from numba import njit
from fastprop.kernels import (
    blas,
    parallel,
    split,
    tiles,
    sgd_epoch,
    sgd_epoch_deferred,
    sgd_epoch_deferred_parallel,
)
from fastprop.kernels.deferred import BLOCKS, DEFER_ROWS
from fastprop.kernels.config import JIT_OPTIONS
from fastprop.kernels.layers import hidden_delta_row
from fastprop.kernels.row_products import row_product, row_product_python
from fastprop.kernels.vector import dot
from fastprop.kernels.scalar import sigmoid

from fastprop import Network
from fastprop.threads import KernelThreads
from fastprop.workspace import Workspace

from .harness import DTYPES

# (rows, n_in, n_out): a block of 256 and of 32 rows through mnist's first
# layer, and a block of 256 through digits' first layer.
LAYER_SHAPES = ["256x784x128", "32x784x128", "256x64x32"]
OPS = ["forward", "delta", "gradient"]


def _operands(shape, dtype):
    m, n_in, n_out = (int(v) for v in shape.split("x"))
    rng = np.random.default_rng(0)
    A = rng.random((m, n_in)).astype(dtype)
    W = rng.standard_normal((n_in, n_out)).astype(dtype)
    D = rng.standard_normal((m, n_out)).astype(dtype)
    return A, W, D


def _median_ratio(ours, baseline, calls=1, rounds=5):
    """Median over ``rounds`` of the time of ``calls`` calls of ``ours`` over the same of
    ``baseline``, the two run back to back."""
    ratios = []
    for _ in range(rounds):
        times = []
        for f in (ours, baseline):
            start = time.perf_counter()
            for _ in range(calls):
                f()
            times.append(time.perf_counter() - start)
        ratios.append(times[0] / times[1])
    return statistics.median(ratios)


class _Gemm:
    def setup(self, shape, dtype, op):
        A, W, D = _operands(shape, dtype)
        Z = np.empty((A.shape[0], W.shape[1]), dtype)
        P = np.empty_like(A)
        G = np.zeros_like(W)
        scratch = np.empty_like(W)

        def baseline_gradient():
            np.dot(A.T, D, scratch)
            np.add(G, scratch, out=G)

        self.ours = {
            "forward": lambda: blas.matmul_into(A, W, Z),
            "delta": lambda: blas.matmul_bt_into(D, W, P),
            "gradient": lambda: blas.add_at_b(A, D, G),
        }[op]
        self.baseline = {
            "forward": lambda: np.dot(A, W, Z),
            "delta": lambda: np.dot(D, W.T, P),
            "gradient": baseline_gradient,
        }[op]
        self.ours()  # compiles, or loads from the cache
        self.baseline()


class TimeLayerGemm(_Gemm):
    params = [LAYER_SHAPES, DTYPES, OPS]
    param_names = ["shape", "dtype", "op"]

    def time_product(self, shape, dtype, op):
        self.ours()


class RatioLayerGemm(_Gemm):
    """kernels.blas time over np.dot's (plus the add pass for the gradient); below 1 is faster."""

    params = [LAYER_SHAPES, DTYPES, OPS]
    param_names = ["shape", "dtype", "op"]
    unit = "ratio"

    def track_ratio(self, shape, dtype, op):
        return _median_ratio(self.ours, self.baseline, calls=20)


class TimePartsGradient:
    """A batch's gradient in parts: the serial twin against the parallel one."""

    params = [["digits-1797", "mnist-256", "mnist-10000"], DTYPES, ["serial", "parallel"]]
    param_names = ["batch", "dtype", "twin"]

    SIZES = {"digits": (64, 32, 10), "mnist": (784, 128, 64, 10)}

    def setup(self, batch, dtype, twin):
        name, m = batch.split("-")
        m = int(m)
        sizes = self.SIZES[name]
        net = Network(sizes, seed=0, dtype=dtype)
        rng = np.random.default_rng(0)
        self.X = rng.random((m, sizes[0])).astype(dtype)
        self.Y = rng.random((m, sizes[-1])).astype(dtype)
        n_weights = sum(W.size for W in net.weights)
        self.n_parts = parallel._n_parts(m, n_weights, 8, 1 << 18)
        self.ws = Workspace(net, min(m, 256), self.n_parts)
        self.net, self.m = net, m
        self.order = np.arange(m, dtype=np.int64)
        self.kernel = (parallel.parts_gradient_parallel if twin == "parallel"
                       else parallel.parts_gradient)
        # As the trainer runs it: OpenBLAS on one thread inside the parts.
        self.threads = KernelThreads(None if twin == "parallel" else 1, uses_blas=True)
        self.time_gradient(batch, dtype, twin)  # compiles, or loads from the cache

    def time_gradient(self, batch, dtype, twin):
        ws, net = self.ws, self.net
        with self.threads:
            self.kernel(
                self.X, self.Y, self.order, 0, self.m, net.params, net._sizes, net._offsets,
                ws.partials, ws.part_acts, ws.part_deltas, ws.part_loss, ws.act_off, ws.chunk,
                self.n_parts, 0,
            )


class _SgdEpoch:
    SIZES = {"digits": (64, 32, 10), "mnist": (784, 128, 64, 10), "256-64-10": (256, 64, 10)}
    N = 2000

    def setup(self, network, dtype, kernel=None):  # noqa: ARG002  (asv passes every param)
        sizes = self.SIZES[network]
        rng = np.random.default_rng(0)
        self.X = rng.random((self.N, sizes[0])).astype(dtype)
        self.Y = (0.1 + 0.8 * rng.random((self.N, sizes[-1]))).astype(dtype)
        self.order = rng.permutation(self.N).astype(np.int64)
        self.runs = {}
        for name, f, rows, threads in (
            ("sgd_epoch", sgd_epoch, 2, 1),
            ("sgd_epoch_deferred", sgd_epoch_deferred, BLOCKS * DEFER_ROWS, 1),
            ("sgd_epoch_deferred_parallel", sgd_epoch_deferred_parallel, BLOCKS * DEFER_ROWS, None),
        ):
            net = Network(sizes, seed=0, dtype=dtype)
            ws = Workspace(net, rows)
            args = (self.X, self.Y, self.order, net.params, net._sizes, net._offsets, ws.acts,
                    ws.deltas, ws.act_off, net.dtype.type(0.05), 0)
            # As the trainer runs them: OpenBLAS on one thread.
            self.runs[name] = (f, args, KernelThreads(threads, uses_blas=True))
            self.run(name)  # compiles, or loads from the cache

    def run(self, name):
        f, args, threads = self.runs[name]
        with threads:
            f(*args)


class TimeSgdEpoch(_SgdEpoch):
    """One per-sample SGD epoch of 2,000 samples on each SGD kernel."""

    params = [list(_SgdEpoch.SIZES), DTYPES,
              ["sgd_epoch", "sgd_epoch_deferred", "sgd_epoch_deferred_parallel"]]
    param_names = ["network", "dtype", "kernel"]

    def time_epoch(self, network, dtype, kernel):
        self.run(kernel)


class RatioSgdDeferred(_SgdEpoch):
    """A deferred kernel's epoch time over sgd_epoch's, in one process; below 1 is faster."""

    params = [list(_SgdEpoch.SIZES), DTYPES,
              ["sgd_epoch_deferred", "sgd_epoch_deferred_parallel"]]
    param_names = ["network", "dtype", "kernel"]
    unit = "ratio"

    def track_ratio(self, network, dtype, kernel):
        return _median_ratio(lambda: self.run(kernel), lambda: self.run("sgd_epoch"))


class TimeBatchStep:
    """One mini-batch update in parts: gradient buffers reduced, or split (rows, then columns)."""

    params = [["mnist-32", "mnist-256", "wide-256"], DTYPES, ["buffers", "split"],
              ["serial", "parallel"]]
    param_names = ["batch", "dtype", "path", "twin"]

    SIZES = {"mnist": (784, 128, 64, 10), "wide": (1024, 1024, 1024, 10)}

    def setup(self, batch, dtype, path, twin):
        name, m = batch.split("-")
        m = int(m)
        sizes = self.SIZES[name]
        net = Network(sizes, seed=0, dtype=dtype)
        rng = np.random.default_rng(0)
        X = rng.random((m, sizes[0])).astype(dtype)
        Y = (0.1 + 0.8 * rng.random((m, sizes[-1]))).astype(dtype)
        n_weights = sum(W.size for W in net.weights)
        n_p = parallel._n_parts(m, n_weights, 8, 1 << 18)
        ws = Workspace(net, m, n_p)
        order = np.arange(m, dtype=np.int64)
        step = net.dtype.type(1e-4)
        par = twin == "parallel"
        if path == "split":
            kernel = split.split_batch_step_parallel if par else split.split_batch_step

            def run():
                kernel(X, Y, order, 0, m, net.params, net._sizes, net._offsets, ws.acts,
                       ws.deltas, ws.act_off, n_p, ws.part_loss, step, 0)
        else:
            gradient = parallel.parts_gradient_parallel if par else parallel.parts_gradient
            reduce = parallel.reduce_step_parallel if par else parallel.reduce_step

            def run():
                gradient(X, Y, order, 0, m, net.params, net._sizes, net._offsets, ws.partials,
                         ws.part_acts, ws.part_deltas, ws.part_loss, ws.act_off, ws.chunk, n_p, 0)
                reduce(ws.partials, n_p, net.params, step)

        self.run = run
        self.threads = KernelThreads(None if par else 1, uses_blas=True)
        with self.threads:
            run()  # compiles, or loads from the cache

    def time_step(self, batch, dtype, path, twin):
        with self.threads:
            self.run()


# The kernels' compiler flags (config.JIT_OPTIONS) but no disk cache: an inlined callee
# is compiled with its caller's flags, and under njit's defaults (Python's error
# model: a zero-division check around the sigmoid's division) these loops ran
# scalar, 6.7 ns a float32 sigmoid against 0.5 in the kernels.
BENCH_JIT = dict(JIT_OPTIONS, cache=False)


@njit(**BENCH_JIT)
def _sigmoid_rows(Z, out, reps):
    one = Z.dtype.type(1)
    for _ in range(reps):
        for r in range(Z.shape[0]):
            z, o = Z[r], out[r]
            for j in range(Z.shape[1]):
                o[j] = sigmoid(z[j], one)


@njit(**BENCH_JIT)
def _hidden_deltas(D_next, W, A, D, reps):
    flat = W.reshape(-1)
    for _ in range(reps):
        for r in range(A.shape[0]):
            hidden_delta_row(D_next[r], flat, A[r], D[r])


class TimeElementwise:
    """The two row kernels rewritten for vector speed: the sigmoid (``kernels.expf``'s e^x,
    a polynomial in each dtype) over a 32 x 202 block (784-128-64-10's units of a
    mini-batch of 32), and the hidden deltas' fixed-order dot products
    (``kernels.vector.dot``) of 32 rows through a 128 x 64 layer."""

    params = (DTYPES,)
    param_names = ["dtype"]

    def setup(self, dtype):
        rng = np.random.default_rng(0)
        self.Z = (8 * rng.standard_normal((32, 202))).astype(dtype)
        self.out = np.empty_like(self.Z)
        self.D_next = rng.standard_normal((32, 64)).astype(dtype)
        self.W = rng.standard_normal((128, 64)).astype(dtype)
        self.A = rng.random((32, 128)).astype(dtype)
        self.D = np.empty_like(self.A)
        _sigmoid_rows(self.Z, self.out, 1)
        _hidden_deltas(self.D_next, self.W, self.A, self.D, 1)

    def time_sigmoid(self, dtype):
        _sigmoid_rows(self.Z, self.out, 1)

    def time_hidden_delta(self, dtype):
        _hidden_deltas(self.D_next, self.W, self.A, self.D, 1)


# (rows, n_in, columns): a split mini-batch's first-layer products on 784-128-64-10,
# one core's block of W_0's columns (64 of 128), at the batch sizes around the
# tiles' threshold (config.TILE_MAX_ROWS); a 128-row part of a mini-batch of 256
# through all of W_0, on AVX-512's tiles up to config.TILE_WIDE_MAX_ROWS; and
# 1024-1024-1024-10's, 512 of 1024.
TILE_SHAPES = ["16x784x64", "32x784x64", "64x784x64", "128x784x64", "128x784x128",
               "32x1024x512"]


class _Tiles:
    def setup(self, shape, dtype, op, impl):
        m, k, n = (int(v) for v in shape.split("x"))
        rng = np.random.default_rng(0)
        A = rng.random((m, k)).astype(dtype)
        W = (0.01 * rng.standard_normal((k, 2 * n))).astype(dtype)[:, :n]
        Z = np.empty((m, 2 * n), dtype)[:, :n]
        D = (1e-6 * rng.standard_normal((m, n))).astype(dtype)
        self.call = {
            ("forward", "tiles"): lambda: tiles.tile_matmul_into(A, W, Z),
            ("forward", "blas"): lambda: blas.gemm_matmul_into(A, W, Z),
            ("gradient", "tiles"): lambda: tiles.tile_add_at_b(A, D, W),
            ("gradient", "blas"): lambda: blas.gemm_add_at_b(A, D, W),
        }
        self.op, self.impl = op, impl
        with KernelThreads(1, splits=False, uses_blas=True):
            for f in self.call.values():
                f()  # compiles, or loads from the cache


class TimeTiles(_Tiles):
    """One product on one thread (BLAS held to one thread, as the kernels hold it)."""

    params = [TILE_SHAPES, DTYPES, ["forward", "gradient"], ["tiles", "blas"]]
    param_names = ["shape", "dtype", "op", "impl"]

    def time_product(self, shape, dtype, op, impl):
        with KernelThreads(1, splits=False, uses_blas=True):
            self.call[op, impl]()


class RatioTiles(_Tiles):
    """The tiles' time over BLAS's, both on one thread in one process; below 1: tiles faster."""

    params = [TILE_SHAPES, DTYPES, ["forward", "gradient"]]
    param_names = ["shape", "dtype", "op"]
    unit = "ratio"

    def setup(self, shape, dtype, op):
        super().setup(shape, dtype, op, "tiles")

    def track_ratio(self, shape, dtype, op):
        with KernelThreads(1, splits=False, uses_blas=True):
            return _median_ratio(self.call[op, "tiles"], self.call[op, "blas"], calls=20)


# (n_in, n_out) of the deeper layers per-sample SGD runs by rows: 784-128-64-10's
# 128 x 64 and 64 x 10, 64-32-10's 64 x 32 and 32 x 10.
ROW_SHAPES = ["128x64", "64x10", "64x32", "32x10"]
_step_loops = njit(**JIT_OPTIONS)(row_product_python)


@njit(**JIT_OPTIONS)
def _row_kernel(op, impl, a_in, W, z, a_prev, delta, lr, a, reps):
    n_next = delta.shape[0]
    for _ in range(reps):
        if op == 0 and impl == 0:
            row_product(1, a_in, W, z, a_prev, delta, lr)
        elif op == 0:
            _step_loops(1, a_in, W, z, a_prev, delta, lr)
        elif impl == 0:
            hidden_delta_row(delta, W, a, a_prev)
        else:
            for i in range(a.shape[0]):
                s = dot(delta, W[i * n_next : (i + 1) * n_next])
                a_prev[i] = s * a[i] * (1 - a[i])


class _RowKernels:
    def setup(self, shape, dtype, op, impl):
        n_in, n_out = (int(v) for v in shape.split("x"))
        rng = np.random.default_rng(0)
        self.args = (
            rng.random(n_in).astype(dtype),
            (0.1 * rng.standard_normal(n_in * n_out)).astype(dtype),
            np.zeros(n_out, dtype),
            rng.random(n_in).astype(dtype),
            (1e-3 * rng.standard_normal(n_out)).astype(dtype),
            np.dtype(dtype).type(1e-6),
            rng.random(n_in).astype(dtype),
        )
        self.op = ["step_forward", "hidden_delta"].index(op)
        for i in (0, 1):
            _row_kernel(self.op, i, *self.args, 1)

    def run(self, impl, reps):
        _row_kernel(self.op, impl, *self.args, reps)


class TimeRowKernels(_RowKernels):
    """100 calls of a row kernel: "new" as the kernels run it, "old" the loops it replaced."""

    params = [ROW_SHAPES, DTYPES, ["step_forward", "hidden_delta"], ["new", "old"]]
    param_names = ["shape", "dtype", "op", "impl"]

    def time_kernel(self, shape, dtype, op, impl):
        self.run(["new", "old"].index(impl), 100)


class RatioRowKernels(_RowKernels):
    """The row kernel's time over the loops it replaced, in one process; below 1: faster."""

    params = [ROW_SHAPES, DTYPES, ["step_forward", "hidden_delta"]]
    param_names = ["shape", "dtype", "op"]
    unit = "ratio"

    def setup(self, shape, dtype, op):
        super().setup(shape, dtype, op, "new")

    def track_ratio(self, shape, dtype, op):
        return _median_ratio(lambda: self.run(0, 2000), lambda: self.run(1, 2000))
