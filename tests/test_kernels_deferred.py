"""``kernels.sgd_epoch_deferred``: per-sample SGD with W_0's updates applied once per block.

Held to ``reference.sgd_epoch`` (which updates every weight after every
sample) over several shuffled epochs, on blocks that do and do not divide
the data, with and without hidden layers; the gradient it applies is checked
against finite differences of the loss, and ``Trainer``/``fit`` are checked
to choose it for large first layers only.
"""

import numpy as np
import pytest

from conftest import assert_close, random_problem
from fastprop import Network, fit, kernels, reference
from fastprop.kernels.deferred import BLOCKS, DEFER_MIN_WEIGHTS, DEFER_ROWS, defers
from fastprop.threads import KernelThreads, max_threads
from fastprop.trainer import Trainer
from fastprop.workspace import LOSS_CODES, Workspace

N_EPOCHS = 3

# name: (layer sizes, n samples, samples per block K); the workspace has BLOCKS K rows.
CASES = {
    "no-hidden-blocks-4-4-3": ((5, 3), 11, 4),
    "one-hidden-block-2": ((3, 4, 2), 9, 2),
    "two-hidden-blocks-5-5-5": ((6, 9, 4, 3), 15, 5),
    "deep-odd-blocks-7-7-1": ((8, 5, 3, 3, 2), 15, 7),
    "block-larger-than-n": ((40, 7, 2), 6, 32),
    "production-block-partial": ((40, 210, 6, 3), 75, DEFER_ROWS),
}
LOSS_PARAMS = [pytest.param("mse", id="mse"), pytest.param("bce", id="bce")]


def make_net(sizes, dtype, seed=0):
    return Network(sizes, seed=seed, init="uniform", dtype=dtype)


def deferred_epoch(net, X, Y, order, ws, lr, loss, kernel=kernels.sgd_epoch_deferred):
    return kernel(
        X, Y, order, net.params, net._sizes, net._offsets, ws.acts, ws.deltas, ws.act_off,
        net.dtype.type(lr), LOSS_CODES[loss],
    )


def params_close(comp, ref, dtype, what):
    """float64: to rounding. float32: a tenth of a percent looser than conftest's tolerance.

    In float32 the block's 32 updates are summed before they reach W_0, so
    the two runs round differently; over 225 steps with lr 0.5 a weight of
    the production-size case drifted 1.3e-6 (conftest allows 1e-6 + 1e-5 |w|).
    ``test_float32_error_is_that_of_per_sample_sgd`` bounds the drift
    against the float64 truth instead.
    """
    if dtype == np.float64:
        assert_close(comp, ref, dtype, what)
    else:
        np.testing.assert_allclose(comp, ref, rtol=1e-4, atol=1e-5, err_msg=what)


def flatten(Ws, bs):
    return np.concatenate([np.concatenate([W.ravel(), b]) for W, b in zip(Ws, bs, strict=True)])


@pytest.mark.parametrize("loss", LOSS_PARAMS)
@pytest.mark.parametrize(("sizes", "n", "rows"), [pytest.param(*c, id=k) for k, c in CASES.items()])
def test_deferred_epoch_matches_reference(sizes, n, rows, loss, dtype):
    net = make_net(sizes, dtype)
    X, Y = random_problem(n, sizes[0], sizes[-1], dtype)
    ref_W, ref_b = [W.copy() for W in net.weights], [b.copy() for b in net.biases]
    ws = Workspace(net, BLOCKS * rows)
    X0, Y0 = X.copy(), Y.copy()
    rng = np.random.default_rng(3)
    for epoch in range(N_EPOCHS):
        order = rng.permutation(n).astype(np.int64)
        comp_loss = deferred_epoch(net, X, Y, order, ws, 0.5, loss)
        ref_loss = reference.sgd_epoch(ref_W, ref_b, X, Y, order, dtype(0.5), loss)
        assert_close(comp_loss, ref_loss, dtype, f"loss of epoch {epoch}")
        params_close(net.params, flatten(ref_W, ref_b), dtype, f"params after epoch {epoch}")
    assert net.params.dtype == dtype
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(Y, Y0)


def test_deferred_epoch_agrees_with_sgd_epoch_when_updates_are_large(dtype):
    """A large lr makes every deferred correction matter: W_0 moves a lot within a block."""
    sizes, n = (6, 9, 4, 3), 20
    X, Y = random_problem(n, 6, 3, dtype, seed=2)
    order = np.random.default_rng(1).permutation(n).astype(np.int64)
    a, b = make_net(sizes, dtype), make_net(sizes, dtype)
    loss_a = deferred_epoch(a, X, Y, order, Workspace(a, BLOCKS * 6), 4.0, "mse")
    loss_b = kernels.sgd_epoch(X, Y, order, b.params, b._sizes, b._offsets, *_two_rows(b),
                               dtype(4.0), LOSS_CODES["mse"])
    start = make_net(sizes, dtype).params
    assert np.max(np.abs(b.params - start)) > 0.1, "lr too small to test the corrections"
    assert_close(loss_a, loss_b, dtype, "loss")
    assert_close(a.params, b.params, dtype, "params")


def _two_rows(net):
    ws = Workspace(net, 2)
    return ws.acts, ws.deltas, ws.act_off


def test_deferred_step_is_the_finite_difference_gradient():
    """One sample, one step: (θ - θ') / lr is ∂L/∂θ, checked by central differences."""
    dtype = np.float64
    sizes = (5, 4, 3)
    net = make_net(sizes, dtype, seed=7)
    X, Y = random_problem(1, 5, 3, dtype, seed=7)
    theta = net.params.copy()
    lr = 1e-3
    deferred_epoch(net, X, Y, np.zeros(1, dtype=np.int64), Workspace(net, BLOCKS * 4), lr, "mse")
    applied = (theta - net.params) / lr

    probe = make_net(sizes, dtype, seed=7)

    def loss_at(params):
        probe.params[:] = params
        return np.sum(reference.loss(reference.forward(probe.weights, probe.biases, X)[-1], Y, "mse"))

    h = 1e-6
    numeric = np.empty_like(theta)
    for i in range(theta.size):
        up, down = theta.copy(), theta.copy()
        up[i] += h
        down[i] -= h
        numeric[i] = (loss_at(up) - loss_at(down)) / (2 * h)
    np.testing.assert_allclose(applied, numeric, rtol=1e-6, atol=1e-9)


def test_deferred_epoch_returns_nan_when_weights_overflow(dtype):
    lr, scale = (1e300, 1e14) if dtype == np.float64 else (1e30, 1e14)
    sizes, n = (3, 4, 2), 16
    X, Y = random_problem(n, 3, 2, dtype)
    X = (X * dtype(scale)).astype(dtype)
    net = make_net(sizes, dtype)
    net.weights[0][...] = 0
    total = deferred_epoch(net, X, Y, np.arange(n, dtype=np.int64), Workspace(net, BLOCKS * 3), lr, "bce")
    assert np.isnan(total)
    assert not kernels.all_finite(net.params)


def test_defers_only_large_first_layers():
    assert defers((784, 128, 64, 10))
    assert defers((DEFER_ROWS, DEFER_MIN_WEIGHTS // DEFER_ROWS, 2))
    assert not defers((DEFER_ROWS, DEFER_MIN_WEIGHTS // DEFER_ROWS - 1, 2))
    assert not defers((64, 32, 10))  # fits in L1: sgd_epoch's fused loops win
    assert not defers((16, 4096, 10))  # fewer inputs than rows per block


def test_deferral_can_be_switched_off(monkeypatch):
    X, Y = random_problem(10, 40, 3)
    assert Trainer(Network((40, 256, 3), seed=0), X, Y, mode="sgd", seed=0).deferred
    monkeypatch.setattr(Trainer, "DEFER_SGD", False)
    assert not Trainer(Network((40, 256, 3), seed=0), X, Y, mode="sgd", seed=0).deferred


@pytest.mark.parametrize(("sizes", "deferred"), [((40, 256, 3), True), ((40, 8, 3), False)])
def test_trainer_chooses_the_deferred_kernel_for_large_first_layers(sizes, deferred):
    net = Network(sizes, seed=0)
    X, Y = random_problem(10, sizes[0], sizes[-1])
    trainer = Trainer(net, X, Y, mode="sgd", seed=0)
    assert trainer.deferred is deferred
    # Its GEMMs run with OpenBLAS held to one thread, whose float32 bits differ from two's.
    assert trainer.threads.uses_blas is deferred
    assert not Trainer(net, X, Y, mode="minibatch", seed=0).deferred


def test_fit_sgd_on_a_large_first_layer_matches_reference_train(dtype):
    """The user's path, several epochs run in one compiled call, against the textbook loop."""
    sizes = (40, 256, 3)
    X, Y = random_problem(70, 40, 3, dtype, seed=4)
    net = fit(X, Y, sizes[1:-1], mode="sgd", lr=0.3, epochs=4, seed=11, dtype=dtype)
    ref = Network(sizes, seed=11, dtype=dtype)
    ref_W, ref_b = [W.copy() for W in ref.weights], [b.copy() for b in ref.biases]
    history = reference.train(ref_W, ref_b, X, Y, mode="sgd", lr=dtype(0.3), epochs=4, seed=11)
    assert_close(np.array(net.history), np.array(history), dtype, "history")
    assert_close(net.params, flatten(ref_W, ref_b), dtype, "params")


def test_parallel_twin_gives_the_same_bits(dtype):
    """The boundary GEMMs in column blocks on the thread pool, or one after the other."""
    sizes, n = (40, 210, 6, 3), 75
    X, Y = random_problem(n, 40, 3, dtype, seed=6)
    order = np.random.default_rng(2).permutation(n).astype(np.int64)
    results = []
    for kernel, threads in ((kernels.sgd_epoch_deferred, 1),
                            (kernels.sgd_epoch_deferred_parallel, max_threads())):
        net = make_net(sizes, dtype)
        with KernelThreads(threads, uses_blas=True):
            total = deferred_epoch(net, X, Y, order, Workspace(net, BLOCKS * DEFER_ROWS), 0.5,
                                   "mse", kernel)
        results.append((total, net.params))
    assert results[0][0] == results[1][0]
    np.testing.assert_array_equal(results[0][1], results[1][1])


@pytest.mark.parametrize("threads", [1, 2])
def test_fit_sgd_does_not_depend_on_the_thread_count(threads, dtype):
    X, Y = random_problem(80, 40, 3, dtype, seed=8)
    one = fit(X, Y, (256,), mode="sgd", lr=0.3, epochs=2, seed=1, dtype=dtype, threads=1)
    net = fit(X, Y, (256,), mode="sgd", lr=0.3, epochs=2, seed=1, dtype=dtype,
              threads=min(threads, max_threads()))
    np.testing.assert_array_equal(net.params, one.params)
    assert net.history == one.history


def test_float32_error_is_that_of_per_sample_sgd():
    """Against the float64 run, float32 deferral errs no more than float32 ``sgd_epoch`` does."""
    sizes, n = (40, 210, 6, 3), 75
    X64, Y64 = random_problem(n, 40, 3, np.float64, seed=9)
    X32, Y32 = X64.astype(np.float32), Y64.astype(np.float32)
    truth = make_net(sizes, np.float64)
    deferred, per_sample = make_net(sizes, np.float32), make_net(sizes, np.float32)
    rng = np.random.default_rng(4)
    for _ in range(N_EPOCHS):
        order = rng.permutation(n).astype(np.int64)
        deferred_epoch(truth, X64, Y64, order, Workspace(truth, BLOCKS * DEFER_ROWS), 0.5, "bce")
        deferred_epoch(deferred, X32, Y32, order, Workspace(deferred, BLOCKS * DEFER_ROWS), 0.5,
                       "bce")
        kernels.sgd_epoch(X32, Y32, order, per_sample.params, per_sample._sizes,
                          per_sample._offsets, *_two_rows(per_sample), np.float32(0.5),
                          LOSS_CODES["bce"])
    # W_0, the weights whose updates are deferred.
    err_deferred = np.max(np.abs(deferred.weights[0] - truth.weights[0]))
    err_per_sample = np.max(np.abs(per_sample.weights[0] - truth.weights[0]))
    assert 0 < err_per_sample < 1e-4
    assert err_deferred <= 2 * err_per_sample
