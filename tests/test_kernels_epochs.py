"""Epoch kernels (``kernels/epochs.py``) called directly, as ``Trainer.epoch`` calls them.

Weights after each epoch and the returned summed loss (``comp_*``) are
compared with ``reference.sgd_epoch`` / ``reference.minibatch_epoch``
(``ref_*``) over several consecutive epochs with fixed, shuffled orders.
"""

import numpy as np
import pytest

from conftest import assert_close, random_problem
from fastprop import Network, kernels, reference
from fastprop.kernels import tiny
from fastprop.workspace import LOSS_CODES, Workspace

N_EPOCHS = 3

ARCHS = {
    "no-hidden-5-3": (5, 3),
    "single-units-1-1-1": (1, 1, 1),
    "deep-narrow-4-2-2-2-2-3": (4, 2, 2, 2, 2, 3),
    "wide-20-150-7": (20, 150, 7),
}
LOSS_PARAMS = [pytest.param("mse", id="mse"), pytest.param("bce", id="bce")]
REDUCTION_PARAMS = [pytest.param(True, id="mean"), pytest.param(False, id="sum")]

# name: (layer sizes, n samples, batch_size, chunk)
MINIBATCH_CASES = {
    "no-hidden-batch4-partial": ((5, 3), 17, 4, 4),
    "single-units-batch1": ((1, 1, 1), 9, 1, 1),
    "deep-narrow-batch5-chunk2-partial": ((4, 2, 2, 2, 2, 3), 23, 5, 2),
    "wide-batch16-partial": ((20, 150, 7), 40, 16, 16),
    "odd-batch7-chunk3-partial": ((3, 4, 2), 30, 7, 3),
    "full-batch-chunk7": ((3, 4, 2), 25, 25, 7),
    "batch-over-n-chunk-over-n": ((3, 4, 2), 25, 1000, 64),
}


def make_net(sizes, dtype, seed=0):
    return Network(sizes, seed=seed, init="uniform", dtype=dtype)


def orders(n, epochs=N_EPOCHS, seed=3):
    """A different fixed permutation per epoch, as a shuffling Trainer would draw."""
    rng = np.random.default_rng(seed)
    out = [rng.permutation(n).astype(np.int64) for _ in range(epochs)]
    assert not np.array_equal(out[0], np.arange(n))
    return out


def ref_params(net):
    return [W.copy() for W in net.weights], [b.copy() for b in net.biases]


def flatten(Ws, bs):
    return np.concatenate([np.concatenate([W.ravel(), b]) for W, b in zip(Ws, bs, strict=True)])


def sgd_epoch(net, X, Y, order, ws, lr, loss):
    return kernels.sgd_epoch(
        X, Y, order, net.params, net._sizes, net._offsets,
        ws.acts, ws.deltas, ws.act_off, net.dtype.type(lr), LOSS_CODES[loss],
    )


def minibatch_epoch(net, X, Y, order, ws, batch_size, lr, mean, loss):
    """A mini-batch epoch with every batch in one part (the whole-batch chain)."""
    n_weights = sum(W.size for W in net.weights)
    return kernels.parallel.parts_epoch_whole(
        X, Y, order, net.params, net._sizes, net._offsets, ws.partials, ws.part_acts,
        ws.part_deltas, ws.part_loss, ws.act_off, batch_size, ws.chunk, n_weights, 1, 1,
        net.dtype.type(lr), mean, LOSS_CODES[loss],
    )


# --- sgd_epoch ------------------------------------------------------------------------------


@pytest.mark.parametrize("loss", LOSS_PARAMS)
@pytest.mark.parametrize("sizes", [pytest.param(s, id=k) for k, s in ARCHS.items()])
def test_sgd_epoch_matches_reference(sizes, loss, dtype):
    n = 13
    net = make_net(sizes, dtype)
    X, Y = random_problem(n, sizes[0], sizes[-1], dtype)
    ref_W, ref_b = ref_params(net)
    ws = Workspace(net, 2)  # sgd keeps two rows
    lr = 0.5
    X0, Y0 = X.copy(), Y.copy()

    for epoch, order in enumerate(orders(n)):
        order0 = order.copy()
        comp_loss = sgd_epoch(net, X, Y, order, ws, lr, loss)
        ref_loss = reference.sgd_epoch(ref_W, ref_b, X, Y, order, dtype(lr), loss)
        assert_close(comp_loss, ref_loss, dtype, f"loss of epoch {epoch}")
        assert_close(net.params, flatten(ref_W, ref_b), dtype, f"params after epoch {epoch}")
        np.testing.assert_array_equal(order, order0)

    assert net.params.dtype == dtype
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(Y, Y0)


def test_sgd_hidden_delta_uses_weights_before_their_update():
    """δ_{l} is computed with W_{l+1} as it was when the sample went forward.

    The variant that updates W_{l+1} first and then backpropagates through the
    new weights is written out here; with a large lr the two differ clearly,
    and the kernel must agree with the reference, not with the variant.
    """
    dtype = np.float64
    sizes = (2, 3, 2)
    net = make_net(sizes, dtype, seed=4)
    X, Y = random_problem(6, 2, 2, dtype, seed=4)
    order = np.arange(6, dtype=np.int64)
    lr = 4.0
    ref_W, ref_b = ref_params(net)
    late_W, late_b = ref_params(net)

    comp_loss = sgd_epoch(net, X, Y, order, Workspace(net, 2), lr, "mse")
    ref_loss = reference.sgd_epoch(ref_W, ref_b, X, Y, order, lr, "mse")
    for s in order:
        x, y = X[s : s + 1], Y[s : s + 1]
        a = reference.forward(late_W, late_b, x)
        delta_out = reference.output_delta(a[2], y)
        gW1, gb1 = reference.layer_gradients(a[1], delta_out)
        reference.update(late_W[1:], late_b[1:], [gW1], [gb1], lr)
        delta_hidden = reference.hidden_delta(delta_out, late_W[1], a[1])  # the new W_1
        gW0, gb0 = reference.layer_gradients(a[0], delta_hidden)
        reference.update(late_W[:1], late_b[:1], [gW0], [gb0], lr)

    comp = net.params
    ref, late = flatten(ref_W, ref_b), flatten(late_W, late_b)
    assert np.max(np.abs(late - ref)) > 1e-3, "this network does not tell the two rules apart"
    assert_close(comp, ref, dtype, "params")
    assert_close(comp_loss, ref_loss, dtype, "loss")


# --- minibatch_epoch --------------------------------------------------------------------------


@pytest.mark.parametrize("mean", REDUCTION_PARAMS)
@pytest.mark.parametrize("loss", LOSS_PARAMS)
@pytest.mark.parametrize(
    ("sizes", "n", "batch_size", "chunk"),
    [pytest.param(*case, id=k) for k, case in MINIBATCH_CASES.items()],
)
def test_minibatch_epoch_matches_reference(sizes, n, batch_size, chunk, loss, mean, dtype):
    net = make_net(sizes, dtype)
    X, Y = random_problem(n, sizes[0], sizes[-1], dtype)
    ref_W, ref_b = ref_params(net)
    ws = Workspace(net, chunk)
    # Summed gradients grow with the batch; scale lr so both reductions take sane steps.
    lr = 0.5 if mean else 0.5 / min(batch_size, n)
    reduction = "mean" if mean else "sum"
    X0, Y0 = X.copy(), Y.copy()

    for epoch, order in enumerate(orders(n)):
        comp_loss = minibatch_epoch(net, X, Y, order, ws, batch_size, lr, mean, loss)
        ref_loss = reference.minibatch_epoch(
            ref_W, ref_b, X, Y, order, batch_size, dtype(lr), loss, reduction
        )
        assert_close(comp_loss, ref_loss, dtype, f"loss of epoch {epoch}")
        assert_close(net.params, flatten(ref_W, ref_b), dtype, f"params after epoch {epoch}")

    assert net.params.dtype == dtype
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(Y, Y0)


def test_minibatch_batch1_equals_sgd(dtype):
    """Batches of one take exactly the per-sample steps of SGD (mean = sum there)."""
    sizes = (4, 2, 2, 2, 2, 3)
    n = 11
    X, Y = random_problem(n, 4, 3, dtype)
    order = orders(n)[0]
    net_sgd, net_mb = make_net(sizes, dtype), make_net(sizes, dtype)

    loss_sgd = sgd_epoch(net_sgd, X, Y, order, Workspace(net_sgd, 2), 0.5, "bce")
    loss_mb = minibatch_epoch(net_mb, X, Y, order, Workspace(net_mb, 1), 1, 0.5, True, "bce")

    assert_close(loss_mb, loss_sgd, dtype, "loss")
    assert_close(net_mb.params, net_sgd.params, dtype, "params")


def test_minibatch_chunk_does_not_change_the_result(dtype):
    """Chunking only splits a batch's sum: chunk 1, 3 and the whole batch agree."""
    sizes = (20, 150, 7)
    n = 29
    X, Y = random_problem(n, 20, 7, dtype)
    order = orders(n)[0]
    results = []
    for chunk in (1, 3, 16):
        net = make_net(sizes, dtype)
        total = minibatch_epoch(net, X, Y, order, Workspace(net, chunk), 16, 0.5, True, "mse")
        results.append((total, net.params))
    for total, params in results[1:]:
        assert_close(total, results[0][0], dtype, "loss")
        assert_close(params, results[0][1], dtype, "params")


def test_minibatch_reused_workspace_is_identical(dtype):
    sizes = (4, 2, 2, 2, 2, 3)
    n = 23
    X, Y = random_problem(n, 4, 3, dtype)
    order = orders(n)[0]
    net_a, net_b = make_net(sizes, dtype), make_net(sizes, dtype)
    ws = Workspace(net_a, 4)

    # Dirty the workspace (including grad) with an epoch of another network.
    other = make_net(sizes, dtype, seed=8)
    minibatch_epoch(other, X, Y, orders(n, seed=9)[0], ws, 5, 0.5, False, "bce")
    loss_a = minibatch_epoch(net_a, X, Y, order, ws, 5, 0.5, True, "mse")
    loss_b = minibatch_epoch(net_b, X, Y, order, Workspace(net_b, 4), 5, 0.5, True, "mse")

    assert loss_a == loss_b
    np.testing.assert_array_equal(net_a.params, net_b.params)


# --- divergence ---------------------------------------------------------------------------


# lr and input scale whose product overflows the dtype once multiplied by a delta.
HUGE = {np.dtype(np.float64): (1e300, 1e14), np.dtype(np.float32): (1e30, 1e14)}

DIVERGING = {
    # bce keeps the output delta ŷ - y non-zero however saturated the output is.
    "no-hidden-bce": ((3, 2), "bce"),
    # W_0 starts at zero so the hidden layer is not saturated by the huge inputs
    # and its delta (hence the W_0 gradient) is not zero either.
    "hidden-mse": ((3, 4, 2), "mse"),
}


@pytest.mark.parametrize(("sizes", "loss"), [pytest.param(*v, id=k) for k, v in DIVERGING.items()])
@pytest.mark.parametrize("mode", ["sgd", "minibatch", "batch"])
def test_epoch_returns_nan_when_weights_overflow(mode, sizes, loss, dtype):
    lr, scale = HUGE[np.dtype(dtype)]
    n = 16
    X, Y = random_problem(n, sizes[0], sizes[-1], dtype)
    X = (X * dtype(scale)).astype(dtype)
    net = make_net(sizes, dtype)
    net.weights[0][...] = 0
    order = np.arange(n, dtype=np.int64)

    if mode == "sgd":
        total = sgd_epoch(net, X, Y, order, Workspace(net, 2), lr, loss)
    else:
        batch = 4 if mode == "minibatch" else n
        total = minibatch_epoch(net, X, Y, order, Workspace(net, 4), batch, lr, True, loss)

    assert isinstance(total, float)
    assert np.isnan(total), "a diverged epoch must return NaN"
    assert not np.isfinite(total)  # what Trainer.epoch tests
    assert not np.isfinite(net.params).all()
    assert not kernels.all_finite(net.params)


@pytest.mark.parametrize("mode", ["sgd", "minibatch"])
def test_epoch_stays_finite_with_sane_lr_on_the_same_data(mode, dtype):
    """The control for the test above: the large inputs alone do not give NaN."""
    sizes = (3, 4, 2)
    n = 16
    X, Y = random_problem(n, 3, 2, dtype)
    X = (X * dtype(1e14)).astype(dtype)
    net = make_net(sizes, dtype)
    net.weights[0][...] = 0
    order = np.arange(n, dtype=np.int64)
    if mode == "sgd":
        total = sgd_epoch(net, X, Y, order, Workspace(net, 2), 1e-16, "mse")
    else:
        total = minibatch_epoch(net, X, Y, order, Workspace(net, 4), 4, 1e-16, True, "mse")
    assert np.isfinite(total)
    assert kernels.all_finite(net.params)


# --- run_epochs -----------------------------------------------------------------------------


def run_epochs(
    net, X, Y, orders_, ws, *, per_sample, batch_size, lr, mean, loss, tol, parallel=False
):
    snapshot = np.empty_like(net.params)
    losses = np.full(orders_.shape[0] + 2, -1.0)
    kernel = kernels.run_epochs_parallel if parallel else kernels.run_epochs
    done = kernel(
        X, Y, orders_, net.params, net._sizes, net._offsets, ws.partials, ws.part_acts,
        ws.part_deltas, ws.part_loss, ws.act_off, snapshot, losses,
        per_sample, batch_size, ws.chunk, 1, ws.parts, 1, net.dtype.type(lr), mean,
        LOSS_CODES[loss], tol,
    )
    return done, losses


@pytest.mark.parametrize(
    ("mode", "batch_size", "chunk"),
    [("sgd", 1, 2), ("minibatch", 4, 3), ("batch", 11, 5)],
)
@pytest.mark.parametrize("mean", REDUCTION_PARAMS)
def test_run_epochs_matches_reference_epoch_by_epoch(mode, batch_size, chunk, mean, dtype):
    sizes, n = (3, 4, 2), 11
    net = make_net(sizes, dtype)
    X, Y = random_problem(n, sizes[0], sizes[-1], dtype)
    ref_W, ref_b = ref_params(net)
    orders_ = np.array(orders(n, epochs=5))
    done, comp_losses = run_epochs(
        net, X, Y, orders_, Workspace(net, chunk), per_sample=mode == "sgd",
        batch_size=batch_size, lr=0.5, mean=mean, loss="mse", tol=-1.0,
    )
    reduction = "mean" if mean else "sum"
    ref_losses = [
        reference.epoch(ref_W, ref_b, X, Y, order, mode=mode, batch_size=batch_size,
                        lr=dtype(0.5), reduction=reduction)
        for order in orders_
    ]
    assert done == 5
    assert_close(comp_losses[:5], ref_losses, dtype, "epoch losses")
    assert (comp_losses[5:] == -1.0).all(), "entries past the last epoch must stay untouched"
    assert_close(net.params, flatten(ref_W, ref_b), dtype, "weights after 5 epochs")


def test_run_epochs_stops_at_tol_inside_the_block():
    sizes, n = (3, 4, 1), 4
    net = make_net(sizes, np.float64)
    X, Y = random_problem(n, 3, 1)
    orders_ = np.tile(np.arange(n, dtype=np.int64), (200, 1))
    free_net = net.copy()
    _, all_losses = run_epochs(
        free_net, X, Y, orders_, Workspace(free_net, 4), per_sample=False, batch_size=n,
        lr=2.0, mean=True, loss="mse", tol=-1.0,
    )
    tol = all_losses[57]  # stop exactly after epoch 58 (losses fall monotonically here)
    assert all_losses[56] > tol
    done, losses = run_epochs(
        net, X, Y, orders_, Workspace(net, 4), per_sample=False, batch_size=n, lr=2.0,
        mean=True, loss="mse", tol=tol,
    )
    assert done == 58
    np.testing.assert_array_equal(losses[:58], all_losses[:58])
    assert (losses[58:] == -1.0).all()


@pytest.mark.parametrize("per_sample", [True, False], ids=["sgd", "minibatch"])
def test_run_epochs_divergence_restores_the_epochs_start(per_sample):
    """A first finite epoch, then data that overflows (as in DIVERGING above)."""
    sizes, n = (3, 2), 16
    lr, scale = HUGE[np.dtype(np.float64)]
    net = make_net(sizes, np.float64)
    X, Y = random_problem(n, 3, 2)
    orders_ = np.tile(np.arange(n, dtype=np.int64), (4, 1))
    ws = Workspace(net, 4)
    done, _ = run_epochs(net, X, Y, orders_[:1], ws, per_sample=per_sample, batch_size=4,
                         lr=0.5, mean=True, loss="bce", tol=-1.0)
    assert done == 1
    before = net.params.copy()
    done, losses = run_epochs(net, X * scale, Y, orders_, ws, per_sample=per_sample,
                              batch_size=4, lr=lr, mean=True, loss="bce", tol=-1.0)
    assert done == 1
    assert np.isnan(losses[0])
    assert (losses[1:] == -1.0).all()
    np.testing.assert_array_equal(net.params, before)


# --- run_epochs_tiny ----------------------------------------------------------------------------

TINY_ARCHS = {
    "seeds-3-4-1": (3, 4, 1),
    "single-units-1-1-1": (1, 1, 1),
    "widest-4-4-4": (4, 4, 4),
    "odd-2-3-2": (2, 3, 2),
}


def run_tiny(net, X, Y, orders_, ws, *, per_sample, batch_size, lr, mean, loss, tol):
    snapshot = np.empty_like(net.params)
    losses = np.full(orders_.shape[0] + 2, -1.0)
    done = kernels.run_epochs_tiny(
        X, Y, orders_, net.params, net._sizes, ws.grad, ws.acts, ws.deltas, snapshot, losses,
        per_sample, batch_size, net.dtype.type(lr), mean, LOSS_CODES[loss], tol,
    )
    return done, losses


def test_tiny_covers_one_hidden_layer_up_to_width_4():
    assert all(tiny.is_tiny(sizes) for sizes in TINY_ARCHS.values())
    assert not tiny.is_tiny((3, 5, 1)), "a layer wider than TINY_WIDTH"
    assert not tiny.is_tiny((3, 1)), "no hidden layer"
    assert not tiny.is_tiny((2, 2, 2, 1)), "two hidden layers"


@pytest.mark.parametrize("loss", LOSS_PARAMS)
@pytest.mark.parametrize("mean", REDUCTION_PARAMS)
@pytest.mark.parametrize(
    ("mode", "batch_size"), [("sgd", 1), ("minibatch", 4), ("batch", 11)]
)
@pytest.mark.parametrize("sizes", [pytest.param(s, id=k) for k, s in TINY_ARCHS.items()])
def test_run_epochs_tiny_matches_reference_epoch_by_epoch(sizes, mode, batch_size, mean, loss,
                                                          dtype):
    n = 11  # batches of 4: the last one partial
    net = make_net(sizes, dtype)
    X, Y = random_problem(n, sizes[0], sizes[-1], dtype)
    X0, Y0 = X.copy(), Y.copy()
    ref_W, ref_b = ref_params(net)
    orders_ = np.array(orders(n, epochs=5))
    lr = 0.5 if mean or mode == "sgd" else 0.5 / batch_size
    done, comp_losses = run_tiny(
        net, X, Y, orders_, Workspace(net, 2), per_sample=mode == "sgd",
        batch_size=batch_size, lr=lr, mean=mean, loss=loss, tol=-1.0,
    )
    reduction = "mean" if mean else "sum"
    ref_losses = [
        reference.epoch(ref_W, ref_b, X, Y, order, mode=mode, batch_size=batch_size,
                        lr=dtype(lr), kind=loss, reduction=reduction)
        for order in orders_
    ]
    assert done == 5
    assert_close(comp_losses[:5], ref_losses, dtype, "epoch losses")
    assert (comp_losses[5:] == -1.0).all(), "entries past the last epoch must stay untouched"
    assert_close(net.params, flatten(ref_W, ref_b), dtype, "weights after 5 epochs")
    assert net.params.dtype == dtype
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(Y, Y0)


def test_run_epochs_tiny_stops_at_tol_inside_the_block():
    net = make_net((3, 4, 1), np.float64)
    X, Y = random_problem(4, 3, 1)
    orders_ = np.tile(np.arange(4, dtype=np.int64), (200, 1))
    free_net = net.copy()
    kwargs = dict(per_sample=False, batch_size=4, lr=2.0, mean=True, loss="mse")
    _, all_losses = run_tiny(free_net, X, Y, orders_, Workspace(free_net, 4), tol=-1.0, **kwargs)
    tol = all_losses[57]  # stop exactly after epoch 58 (losses fall monotonically here)
    assert all_losses[56] > tol
    done, losses = run_tiny(net, X, Y, orders_, Workspace(net, 4), tol=tol, **kwargs)
    assert done == 58
    np.testing.assert_array_equal(losses[:58], all_losses[:58])
    assert (losses[58:] == -1.0).all()


@pytest.mark.parametrize("per_sample", [True, False], ids=["sgd", "minibatch"])
def test_run_epochs_tiny_divergence_restores_that_epochs_start(per_sample, dtype):
    """Three finite epochs, then one whose last sample holds an inf.

    That sample's hidden units saturate (σ(±inf) is 0 or 1), so its loss is
    finite, but its update turns W_0 non-finite (inf · 0): only the weights
    show the divergence. The kernel copies theta only at the start of the
    call, so restoring the start of epoch 4 means running epochs 1-3 again:
    their bits must come back exactly.
    """
    sizes, n = (3, 4, 2), 6
    net = make_net(sizes, dtype)
    X, Y = random_problem(n, 3, 2, dtype)
    X[5, 0] = np.inf  # row 5 comes last in epoch 4 (and in its last batch)
    finite_rows = np.array([[0, 1, 2, 3, 4, 0], [4, 3, 2, 1, 0, 1], [2, 0, 4, 1, 3, 2]])
    orders_ = np.vstack([finite_rows, np.tile(np.arange(n), (3, 1))]).astype(np.int64)
    kwargs = dict(per_sample=per_sample, batch_size=4, lr=0.5, mean=True, loss="bce", tol=-1.0)
    clean = net.copy()
    _, clean_losses = run_tiny(clean, X, Y, orders_[:3], Workspace(clean, 4), **kwargs)
    done, losses = run_tiny(net, X, Y, orders_, Workspace(net, 4), **kwargs)
    assert done == 4
    np.testing.assert_array_equal(losses[:3], clean_losses[:3])
    assert np.isnan(losses[3])
    assert (losses[4:] == -1.0).all()
    np.testing.assert_array_equal(net.params, clean.params)
