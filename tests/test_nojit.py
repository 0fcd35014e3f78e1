"""Every kernel on tiny shapes against the reference: the no-JIT stage of CI.

``tests/run.sh`` runs this file with ``NUMBA_DISABLE_JIT=1``: the kernels then
execute as plain Python, so an index error raises ``IndexError`` instead of
reading memory it should not, and coverage sees every line of ``kernels/``
(the figure CI prints). The same tests run compiled in the other stages.

Shapes are tiny so plain Python stays fast; the BLAS path is reached with the
smallest layer that crosses ``BLAS_MIN_MACS``, whatever its current value.
Results (``comp_*``) are held to ``fastprop.reference`` (``ref_*``).
"""

import math
import os

import numpy as np
import pytest

import fastprop
from conftest import assert_close, random_problem, tolerance
from fastprop import DivergenceError, Network, Trainer, kernels, reference
from fastprop.kernels.deferred import BLOCKS
from fastprop.workspace import Workspace

NO_JIT = os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0")

MODES = ["sgd", "minibatch", "batch"]
LOSSES = ["mse", "bce"]
REDUCTIONS = ["mean", "sum"]
LOSS_CODE = {"mse": kernels.LOSS_MSE, "bce": kernels.LOSS_BCE}

# Rows per block on the BLAS cases, and the smallest width whose square layer crosses the
# threshold at that block size: (w, w) with m * w * w >= BLAS_MIN_MACS.
BLAS_M = 8
BLAS_W = math.isqrt(-(-kernels.config.BLAS_MIN_MACS // BLAS_M) - 1) + 1

ARCHS = {
    "no-hidden-3-2": (3, 2),
    "one-hidden-3-4-2": (3, 4, 2),
    "single-units-1-1-1": (1, 1, 1),
    "deep-2-3-1-3-2": (2, 3, 1, 3, 2),
    # First two layers through BLAS (the second with a hidden delta), the last by rows.
    "blas": (BLAS_W, BLAS_W, BLAS_W, 2),
}
ARCH_PARAMS = [pytest.param(s, id=k) for k, s in ARCHS.items()]


def test_blas_case_crosses_the_threshold():
    W = BLAS_W
    assert BLAS_M * W * W >= kernels.config.BLAS_MIN_MACS
    assert BLAS_M * (W - 1) * (W - 1) < kernels.config.BLAS_MIN_MACS
    assert BLAS_M * W * 2 < kernels.config.BLAS_MIN_MACS  # the output layer runs by rows


def make_net(sizes, dtype, seed=0):
    # "uniform" also draws the biases, so a bias bug cannot hide behind zeros.
    return Network(sizes, seed=seed, init="uniform", dtype=dtype)


def problem(sizes, dtype, n=BLAS_M, seed=0):
    X, Y = random_problem(n, sizes[0], sizes[-1], dtype=dtype, seed=seed)
    # Scale wide inputs so that the sums entering the sigmoids stay of order one.
    return (X / np.sqrt(sizes[0])).astype(dtype), Y


# --- scalar and layer kernels ------------------------------------------------------------------


@pytest.mark.parametrize("z", [-30.0, -1.5, 0.0, 2.0, 40.0])
def test_sigmoid(z, dtype):
    one = dtype(1)
    comp = kernels.sigmoid(dtype(z), one)
    assert_close(comp, reference.sigmoid(np.array([z], dtype=dtype))[0], dtype, "sigmoid")


@pytest.mark.parametrize("loss", LOSSES)
def test_layer_kernels_match_reference(loss, dtype):
    rng = np.random.default_rng(0)
    m, n_in, n_out = 3, 4, 2
    a_in = rng.random((m, n_in)).astype(dtype)
    W = rng.uniform(-1, 1, (n_in, n_out)).astype(dtype)
    b = rng.uniform(-1, 1, n_out).astype(dtype)
    y = rng.random((m, n_out)).astype(dtype)

    comp_a = np.empty((m, n_out), dtype=dtype)
    kernels.forward_layer(a_in, W, b, comp_a)
    ref_a = reference.forward_layer(a_in, W, b)
    assert_close(comp_a, ref_a, dtype, "forward_layer")

    comp_delta = np.empty((m, n_out), dtype=dtype)
    comp_loss = kernels.output_delta(comp_a, y, comp_delta, LOSS_CODE[loss])
    assert_close(comp_delta, reference.output_delta(ref_a, y, loss), dtype, "output_delta")
    assert_close(comp_loss, reference.loss(ref_a, y, loss).sum(), dtype, "loss")

    comp_hidden = np.empty((m, n_in), dtype=dtype)
    kernels.hidden_delta(comp_delta, W, a_in, comp_hidden)
    assert_close(comp_hidden, reference.hidden_delta(comp_delta, W, a_in), dtype, "hidden_delta")

    comp_gW = np.zeros((n_in, n_out), dtype=dtype)
    comp_gb = np.zeros(n_out, dtype=dtype)
    kernels.accumulate_gradient(a_in, comp_delta, comp_gW, comp_gb)
    ref_gW, ref_gb = reference.layer_gradients(a_in, comp_delta)
    assert_close(comp_gW, ref_gW, dtype, "grad_W")
    assert_close(comp_gb, ref_gb, dtype, "grad_b")

    comp_W, comp_b = W.copy(), b.copy()
    kernels.step_outer(a_in[:1], comp_delta[:1], comp_W, comp_b, dtype(0.5))
    ref_W, ref_b = W.copy(), b.copy()
    gW, gb = reference.layer_gradients(a_in[:1], comp_delta[:1])
    reference.update([ref_W], [ref_b], [gW], [gb], dtype(0.5))
    assert_close(comp_W, ref_W, dtype, "step_outer W")
    assert_close(comp_b, ref_b, dtype, "step_outer b")


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_all_finite(value, dtype):
    x = np.ones(5, dtype=dtype)
    assert kernels.all_finite(x)
    x[3] = value
    assert not kernels.all_finite(x)


# --- network kernels through the public API ----------------------------------------------------


@pytest.mark.parametrize("sizes", ARCH_PARAMS)
def test_predict_matches_reference(sizes, dtype):
    net = make_net(sizes, dtype)
    X, _ = problem(sizes, dtype)
    ref_out = reference.forward(net.weights, net.biases, X)[-1]
    assert_close(net.predict(X), ref_out, dtype, "predict")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("sizes", ARCH_PARAMS)
def test_gradients_match_reference(sizes, loss, reduction, dtype):
    net = make_net(sizes, dtype)
    X, Y = problem(sizes, dtype)
    comp_loss, comp_W, comp_b = fastprop.gradients(net, X, Y, loss=loss, reduction=reduction)
    ref_loss, ref_W, ref_b = reference.gradients(net.weights, net.biases, X, Y, loss, reduction)
    assert_close(comp_loss, ref_loss, dtype, "loss")
    for l in range(len(ref_W)):
        assert_close(comp_W[l], ref_W[l], dtype, f"grad_W[{l}]")
        assert_close(comp_b[l], ref_b[l], dtype, f"grad_b[{l}]")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("sizes", ARCH_PARAMS)
def test_training_matches_reference(sizes, mode, loss, reduction, dtype):
    """Two shuffled epochs in each mode; 11 rows so minibatches of 4 leave a partial one."""
    net = make_net(sizes, dtype)
    n = 11 if sizes[0] < BLAS_W else BLAS_M  # the BLAS case keeps full blocks of BLAS_M rows
    X, Y = problem(sizes, dtype, n=n)
    batch_size = 4 if sizes[0] < BLAS_W else BLAS_M
    kwargs = dict(mode=mode, batch_size=batch_size, lr=0.7, epochs=2, loss=loss,
                  reduction=reduction, shuffle=True, seed=3)
    ref_W = [W.copy() for W in net.weights]
    ref_b = [b.copy() for b in net.biases]
    ref_history = reference.train(ref_W, ref_b, X, Y, **kwargs)
    comp_net = fastprop.fit(X, Y, network=net, **kwargs)
    assert_close(np.array(comp_net.history), np.array(ref_history), dtype, "history")
    # Trained parameters, not one step: 16 steps at lr 0.7 carry the last bits of
    # e^x (NumPy's SIMD exp in the reference, kernels.expf compiled) into up to
    # ~10 float32 ulps of the weights' scale, which the default atol (1e-6,
    # 8 ulps at 1.0) cuts through for the smallest weights. The scale of each
    # layer sets the floor instead.
    for l in range(len(ref_W)):
        for comp, ref, what in ((comp_net.weights[l], ref_W[l], f"weights[{l}]"),
                                (comp_net.biases[l], ref_b[l], f"biases[{l}]")):
            rtol, atol = tolerance(dtype)
            scale = max(1.0, float(np.abs(ref_W[l]).max()))
            np.testing.assert_allclose(comp, ref, rtol=rtol, atol=2 * atol * scale,
                                       err_msg=what)


@pytest.mark.parametrize("hidden", [(2,), (5,)], ids=["tiny-kernel", "generic-kernels"])
@pytest.mark.parametrize("mode", MODES)
def test_tol_stops_inside_the_kernel(mode, hidden):
    X, Y = random_problem(6, 3, 1)
    net = fastprop.fit(X, Y, hidden, mode=mode, batch_size=4, epochs=50, tol=1.0, seed=0)
    assert len(net.history) == 1


@pytest.mark.parametrize("mode", MODES)
def test_divergence_restores_the_epoch_start(mode, dtype):
    """A second epoch that overflows: NaN inside the kernel, weights of epoch 1 kept."""
    X, Y = random_problem(6, 3, 2, dtype=dtype)
    net = make_net((3, 2), dtype)
    trainer = Trainer(net, X, Y, mode=mode, batch_size=4, lr=1.0, loss="bce", seed=0)
    trainer.epoch()
    after_one = net.params.copy()
    X *= dtype(1e30 if dtype == np.float32 else 1e300)
    trainer.lr = dtype(1e30 if dtype == np.float32 else 1e300)
    # As plain Python the kernels overflow in NumPy scalars, which would warn.
    with np.errstate(all="ignore"), pytest.raises(DivergenceError, match="epoch 2"):
        trainer.epoch()
    np.testing.assert_array_equal(net.params, after_one)
    assert len(net.history) == 1


@pytest.mark.parametrize("per_sample", [True, False], ids=["sgd", "minibatch"])
def test_tiny_kernel_divergence_runs_the_earlier_epochs_again(per_sample, dtype):
    """run_epochs_tiny: epoch 3 reaches a row holding inf as its last sample.

    Its loss stays finite (saturated sigmoids) but W_0 does not; the kernel
    restores its start-of-call copy and runs epochs 1-2 again, exactly.
    """
    sizes, n = (3, 4, 2), 6
    X, Y = random_problem(n, 3, 2, dtype=dtype)
    X[5, 0] = np.inf
    orders = np.array([[0, 1, 2, 3, 4, 0], [4, 3, 2, 1, 0, 1], [0, 1, 2, 3, 4, 5],
                       [0, 1, 2, 3, 4, 5]], dtype=np.int64)

    def run(net, epochs):
        ws = Workspace(net, 4)
        losses = np.full(4, -1.0)
        with np.errstate(all="ignore"):  # plain Python: NumPy scalars warn on inf · 0
            done = kernels.run_epochs_tiny(
                X, Y, orders[:epochs], net.params, net._sizes, ws.grad, ws.acts, ws.deltas,
                np.empty_like(net.params), losses, per_sample, 4, dtype(0.5), True,
                LOSS_CODE["bce"], -1.0,
            )
        return done, losses

    clean, net = make_net(sizes, dtype), make_net(sizes, dtype)
    _, clean_losses = run(clean, 2)
    done, losses = run(net, 4)
    assert done == 3
    np.testing.assert_array_equal(losses[:2], clean_losses[:2])
    assert np.isnan(losses[2]) and losses[3] == -1.0
    np.testing.assert_array_equal(net.params, clean.params)


def test_this_stage_really_runs_without_jit():
    """Under NUMBA_DISABLE_JIT the kernels are the Python functions themselves."""
    if NO_JIT:
        assert not hasattr(kernels.run_epochs, "signatures")
    else:
        assert hasattr(kernels.run_epochs, "signatures")


# One output unit: of two blocks of its bias, one is empty; one hidden unit: of two blocks
# of the output layer's rows, one is empty.
@pytest.mark.parametrize("sizes", [(3, 4, 1), (3, 1, 2), (BLAS_W, BLAS_W, BLAS_W, 2)],
                         ids=["rows", "one-hidden-unit", "blas"])
@pytest.mark.parametrize("threads", [1, 2], ids=["serial-twin", "parallel-twin"])
@pytest.mark.parametrize("mode", ["minibatch", "batch"])
def test_split_batches_match_reference(mode, threads, sizes, dtype, monkeypatch):
    # Batches of 32 cut into 2 parts of 16 rows (kernels/parallel.py; a batch
    # of 32 within its block of 32 rows goes through kernels/split.py, the
    # full batch of 40, in blocks of 16 rows, through the parts' gradient
    # buffers); with 2 threads the trainer calls the *_parallel twins, whose
    # prange loops run as plain range loops here.
    monkeypatch.setattr(Trainer, "MIN_PART_MACS", 1)
    if mode == "batch":
        monkeypatch.setattr(fastprop.trainer, "CHUNK", 16)
    net = make_net(sizes, dtype)
    X, Y = random_problem(40, sizes[0], sizes[-1], dtype=dtype, seed=1)
    ref_W = [W.copy() for W in net.weights]
    ref_b = [b.copy() for b in net.biases]
    trainer = Trainer(net, X, Y, mode=mode, batch_size=32, lr=0.5, shuffle=False,
                      threads=min(threads, fastprop.threads.max_threads()))
    assert trainer.ws.parts == 2
    comp_loss = trainer.epoch()
    # reference.epoch reports the epoch's loss as Trainer.epoch does (mean reduction).
    ref_loss = reference.epoch(ref_W, ref_b, X, Y, np.arange(40), mode=mode, batch_size=32,
                               lr=dtype(0.5))
    assert_close(comp_loss, ref_loss, dtype, "epoch loss")
    for comp_W, W in zip(net.weights, ref_W, strict=True):
        assert_close(comp_W, W, dtype, "weights")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("sizes", [(3, 4, 2), (BLAS_W, BLAS_W, BLAS_W, 2)], ids=["rows", "blas"])
@pytest.mark.parametrize("chain", ["whole", "rows"])
def test_whole_batch_epoch_kernel_matches_reference(sizes, reduction, dtype, chain):
    """The whole-batch epoch kernels called directly, with buffers laid out as their docstring
    says. The rows chain never calls a matrix product, so it is right for any size too."""
    net = make_net(sizes, dtype)
    n, batch_size = 2 * BLAS_M + 3, BLAS_M  # two full batches and a partial one
    X, Y = problem(sizes, dtype, n=n)
    order = np.random.default_rng(2).permutation(n).astype(np.int64)
    chunk = BLAS_M
    widths = np.array(sizes, dtype=np.int64)
    act_off = np.concatenate(([0], np.cumsum(widths[:-1]))).astype(np.int64) * chunk
    acts = np.zeros((1, chunk * int(widths.sum())), dtype=dtype)
    deltas = np.zeros_like(acts)
    partials = np.zeros((1, net.params.size), dtype=dtype)
    n_weights = sum(W.size for W in net.weights)
    ref_W = [W.copy() for W in net.weights]
    ref_b = [b.copy() for b in net.biases]
    ref_total = reference.minibatch_epoch(ref_W, ref_b, X, Y, order, batch_size, dtype(0.5),
                                          "mse", reduction)
    comp_total = getattr(kernels.parallel, f"parts_epoch_{chain}")(
        X, Y, order, net.params, net._sizes, net._offsets, partials, acts, deltas, np.zeros(1),
        act_off, batch_size, chunk, n_weights, 1, 1, 0.5, reduction == "mean", kernels.LOSS_MSE,
    )
    assert_close(comp_total, ref_total, dtype, "epoch loss")
    for l in range(len(ref_W)):
        assert_close(net.weights[l], ref_W[l], dtype, f"weights[{l}]")
        assert_close(net.biases[l], ref_b[l], dtype, f"biases[{l}]")


def test_whole_batch_epoch_kernel_returns_nan_on_overflow():
    sizes = (3, 2)
    net = make_net(sizes, np.float64)
    X, Y = problem(sizes, np.float64, n=4)
    X *= 1e300
    widths = np.array(sizes, dtype=np.int64)
    act_off = np.concatenate(([0], np.cumsum(widths[:-1]))).astype(np.int64) * 4
    acts = np.zeros((1, 4 * int(widths.sum())))
    with np.errstate(all="ignore"):  # as plain Python the overflow happens in NumPy scalars
        total = kernels.parallel.parts_epoch_whole(
            X, Y, np.arange(4, dtype=np.int64), net.params, net._sizes, net._offsets,
            np.zeros((1, net.params.size)), acts, np.zeros_like(acts), np.zeros(1), act_off,
            4, 4, 6, 1, 1, 1e300, True, kernels.LOSS_BCE,
        )
    assert np.isnan(total)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("sizes", [(3, 2), (3, 4, 2), (4, 3, 2, 2)], ids=["no-hidden", "one", "two"])
def test_deferred_sgd_epoch_matches_reference(sizes, loss, dtype):
    """kernels.deferred: blocks of 3 rows over 8 samples (3, 3, 2), two shuffled epochs."""
    net = make_net(sizes, dtype)
    X, Y = problem(sizes, dtype, n=8)
    ws = Workspace(net, BLOCKS * 3)
    ref_W = [W.copy() for W in net.weights]
    ref_b = [b.copy() for b in net.biases]
    rng = np.random.default_rng(5)
    for _ in range(2):
        order = rng.permutation(8).astype(np.int64)
        comp = kernels.sgd_epoch_deferred(X, Y, order, net.params, net._sizes, net._offsets,
                                          ws.acts, ws.deltas, ws.act_off, dtype(0.7),
                                          LOSS_CODE[loss])
        ref = reference.sgd_epoch(ref_W, ref_b, X, Y, order, dtype(0.7), loss)
        assert_close(comp, ref, dtype, "epoch loss")
    for l in range(len(ref_W)):
        assert_close(net.weights[l], ref_W[l], dtype, f"weights[{l}]")
        assert_close(net.biases[l], ref_b[l], dtype, f"biases[{l}]")


def test_deferred_sgd_epoch_returns_nan_on_overflow():
    sizes = (3, 2)
    net = make_net(sizes, np.float64)
    X, Y = problem(sizes, np.float64, n=4)
    X *= 1e300
    ws = Workspace(net, 6)
    with np.errstate(all="ignore"):
        total = kernels.sgd_epoch_deferred(
            X, Y, np.arange(4, dtype=np.int64), net.params, net._sizes, net._offsets, ws.acts,
            ws.deltas, ws.act_off, 1e300, kernels.LOSS_BCE,
        )
    assert np.isnan(total)


def test_deferred_sgd_epoch_over_no_samples_changes_nothing(dtype):
    sizes = (3, 4, 2)
    net = make_net(sizes, dtype)
    X, Y = problem(sizes, dtype, n=4)
    before = net.params.copy()
    ws = Workspace(net, BLOCKS * 3)
    total = kernels.sgd_epoch_deferred(X, Y, np.zeros(0, dtype=np.int64), net.params, net._sizes,
                                       net._offsets, ws.acts, ws.deltas, ws.act_off, dtype(0.5),
                                       kernels.LOSS_MSE)
    assert total == 0.0
    np.testing.assert_array_equal(net.params, before)


@pytest.mark.parametrize("n", range(0, 21))
def test_dot_spec_is_the_dot_product(n, dtype):
    """kernels.vector.dot (without JIT: its spec, dot_python) on every remainder path."""
    from numba import njit

    from fastprop.kernels.vector import dot

    # An intrinsic runs only inside compiled code.
    call = dot if NO_JIT else njit(lambda a, b: dot(a, b))
    rng = np.random.default_rng(n)
    x, y = rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)
    assert_close(call(x, y), float(np.dot(x.astype(np.float64), y.astype(np.float64))), dtype,
                 "dot")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_exp_spec_runs_as_python(dtype):
    """kernels.expf's e^x, as plain Python (coverage) and compiled: close to e^x."""
    from numba import njit

    from fastprop.kernels import expf

    # The last two arguments: a result just above 0 (float64: a subnormal), then 0.
    spec, last_above_zero, zero, rtol = {
        "float32": (expf.expf_nonpositive, expf.X_MIN, -90.0, 3e-7),
        "float64": (expf.exp_nonpositive_64, -745.0, expf.X_MIN_64 - 1, 3e-16),
    }[dtype]
    call = spec if NO_JIT else njit(spec)
    x = np.array([0.0, -0.5, -1.0, -10.0, -80.0, last_above_zero, zero], dtype=dtype)
    got = np.array([call(v) for v in x], dtype=dtype)
    np.testing.assert_allclose(got[:-2], np.exp(x[:-2].astype(np.float64)), rtol=rtol)
    assert 0 < got[-2] < 4 * np.finfo(dtype).smallest_normal
    assert got[-1] == 0 and np.isnan(call(x.dtype.type(np.nan)))


def test_tile_shape_follows_the_cpu_features_numba_compiles_for(monkeypatch):
    """AVX-512's 32 vector registers hold the 8 x 2 x 64 B tile; without them, 6 x 2 x 32 B."""
    from numba.core import config

    from fastprop.kernels import tiles

    monkeypatch.setattr(config, "CPU_FEATURES", "+avx2,+fma,-avx512f")
    assert tiles._tile_shape() == (6, 32)
    monkeypatch.setattr(config, "CPU_FEATURES", "+avx2,+fma,+avx512f")
    assert tiles._tile_shape() == (8, 64)


@pytest.mark.parametrize(("m", "k", "n"), [(1, 1, 1), (7, 3, 17)])
def test_tile_products_are_the_products(m, k, n, dtype):
    """kernels.tiles' products (without JIT: their NumPy stand-ins) write A @ W, add Aᵀ D."""
    from fastprop.kernels.blas import use_tiles
    from fastprop.kernels.tiles import tile_add_at_b, tile_matmul_into

    rng = np.random.default_rng(m)
    A, W = rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)
    D, G = rng.standard_normal((m, n)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)
    A64, W64, D64, G64 = (v.astype(np.float64) for v in (A, W, D, G))
    Z = np.full((m, n), np.nan, dtype)
    tile_matmul_into(A, W, Z)
    tile_add_at_b(A, D, G)
    assert_close(Z, A64 @ W64, dtype, "A @ W")
    assert_close(G, G64 + A64.T @ D64, dtype, "G + A.T @ D")
    config = kernels.config
    # Past TILE_MAX_ROWS only a block at least one tile wide stays on the tiles.
    narrow = np.empty((k, 1), dtype)
    assert use_tiles(m, W) and not use_tiles(config.TILE_MAX_ROWS + 1, narrow)
    most = config.TILE_WIDE_MAX_BYTES if kernels.blas.WIDE_TILES else config.TILE_MAX_BYTES
    assert not use_tiles(m, np.empty((most // W.itemsize + 1, 1), dtype))
