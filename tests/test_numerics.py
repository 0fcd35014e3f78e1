"""Numerical safety through the whole pipeline, compiled and reference.

``test_kernels_layers.py`` holds the sigmoid (through ``forward_layer``) and
the output deltas at saturation kernel by kernel; ``test_trainer.py`` holds
divergence on the first epochs. Here: networks whose pre-activations reach
|z| = 1e4 and whose outputs are exactly 0 or 1, through predict, loss,
gradients and training, in both dtypes and with both losses; float32 inputs
of large magnitude; and divergence inside one compiled block of many epochs.

"Warning-free" means: warnings are errors (pytest's config) and NumPy raises
on overflow, invalid operations and division by zero. Underflow is allowed:
σ(-1e4) = e^-1e4 / (1 + e^-1e4) rounds to 0, which is the correctly rounded
value, and products of small deltas underflow the same way.
"""

import numpy as np
import pytest

import fastprop
from conftest import assert_close
from fastprop import DivergenceError, Network, Trainer, reference

MODES = ["sgd", "minibatch", "batch"]
LOSSES = ["mse", "bce"]
STRICT = dict(over="raise", invalid="raise", divide="raise", under="ignore")


def saturated_network(dtype, z_max=1e4):
    """A 3-4-2 network whose pre-activations on [0, 1] inputs span about ±z_max.

    Hidden unit j sees z = ±z_max·x_j-ish; the outputs see ±z_max/4 per hidden
    unit, so with the inputs below every output is exactly 0 or 1.
    """
    W0 = np.array([[1, -1, 0, 0], [0, 0, 1, -1], [1, 1, -1, -1]], dtype=np.float64) * z_max
    b0 = np.array([-z_max / 2, z_max / 2, 0, 0])
    W1 = np.array([[1, -1], [-1, 1], [1, -1], [-1, 1]], dtype=np.float64) * z_max / 4
    b1 = np.array([z_max / 8, -z_max / 8])
    return Network.from_arrays([W0, W1], [b0, b1], dtype=dtype)


def saturated_inputs(dtype):
    X = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 1.0], [1.0, 1.0, 1.0],
                  [0.25, 0.75, 0.5], [1.0, 0.0, 1.0]], dtype=dtype)
    # Targets against and with the saturated outputs: ln 0 must be clipped away.
    Y = np.array([[1, 0], [0, 1], [1, 1], [0, 0], [1, 0], [0.5, 0.5]], dtype=dtype)
    return X, Y


@pytest.mark.parametrize("z_max", [1e2, 1e3, 1e4])
def test_predict_at_huge_preactivations(z_max, dtype):
    net = saturated_network(dtype, z_max)
    X, _ = saturated_inputs(dtype)
    with np.errstate(**STRICT):
        comp_out = net.predict(X)
        a = reference.forward(net.weights, net.biases, X)
    assert comp_out.dtype == dtype
    assert np.isfinite(comp_out).all() and ((comp_out >= 0) & (comp_out <= 1)).all()
    assert_close(comp_out, a[-1], dtype, "predict vs reference")
    if z_max == 1e4:
        # The pre-activations really are that large, and the outputs really saturate.
        z_hidden = X @ net.weights[0] + net.biases[0]
        assert np.abs(z_hidden).max() >= 1e4
        assert np.isin(comp_out, [0, 1]).mean() > 0.5


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("loss", LOSSES)
def test_loss_and_gradients_at_saturated_outputs(loss, reduction, dtype):
    """Outputs exactly 0 or 1, wrong by a full 1: large finite loss, finite gradients."""
    net = saturated_network(dtype)
    X, Y = saturated_inputs(dtype)
    with np.errstate(**STRICT):
        comp_loss, comp_W, comp_b = fastprop.gradients(net, X, Y, loss=loss, reduction=reduction)
        ref_loss, ref_W, ref_b = reference.gradients(
            net.weights, net.biases, X, Y, loss, reduction
        )
    assert np.isfinite(comp_loss)
    assert_close(comp_loss, ref_loss, dtype, "loss")
    for l in range(2):
        assert np.isfinite(comp_W[l]).all() and np.isfinite(comp_b[l]).all()
        assert_close(comp_W[l], ref_W[l], dtype, f"grad_W[{l}]")
        assert_close(comp_b[l], ref_b[l], dtype, f"grad_b[{l}]")
    y_hat = net.predict(X)
    wrong = np.sum(np.abs(y_hat - Y) == 1)
    assert wrong >= 2
    if loss == "bce":
        # Each fully wrong unit costs -ln(eps): large but finite, the clip at work.
        per_unit = -np.log(np.finfo(dtype).eps)
        total = comp_loss * (X.shape[0] if reduction == "mean" else 1)
        assert wrong * per_unit <= total < (wrong + 1) * per_unit + Y.size


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("mode", MODES)
def test_training_from_saturation_stays_finite(mode, loss, dtype):
    """Epochs that start with outputs at exactly 0 and 1 train like the reference."""
    net = saturated_network(dtype)
    X, Y = saturated_inputs(dtype)
    options = dict(mode=mode, batch_size=4, lr=0.5, epochs=3, loss=loss, seed=0)
    ref_W = [W.copy() for W in net.weights]
    ref_b = [b.copy() for b in net.biases]
    with np.errstate(**STRICT):
        ref_history = reference.train(ref_W, ref_b, X, Y, **options)
        fastprop.fit(X, Y, network=net, **options)
    assert np.isfinite(net.params).all() and np.isfinite(net.history).all()
    assert_close(np.array(net.history), np.array(ref_history), dtype, "history")
    for l in range(2):
        assert_close(net.weights[l], ref_W[l], dtype, f"weights[{l}]")


# --- float32 inputs of large magnitude -----------------------------------------------------------


@pytest.mark.parametrize("magnitude", [1e4, 1e15, 1e30, 3e38])
@pytest.mark.parametrize("mode", MODES)
def test_float32_large_inputs_train_or_diverge_cleanly(mode, magnitude):
    """float32 X up to its max: finite weights, or a DivergenceError with the weights kept."""
    rng = np.random.default_rng(0)
    X = (rng.uniform(-1, 1, (10, 3)) * magnitude).astype(np.float32)
    assert np.isfinite(X).all()
    Y = rng.integers(0, 2, (10, 1)).astype(np.float32)
    start = Network((3, 4, 1), seed=0, dtype=np.float32)
    net = start.copy()
    try:
        fastprop.fit(X, Y, network=net, mode=mode, batch_size=4, lr=0.5, epochs=5,
                     loss="bce", seed=0)
    except DivergenceError as err:
        assert "smaller lr" in str(err)
        assert err.network is net
    assert net.params.dtype == np.float32
    assert np.isfinite(net.params).all()
    assert np.isfinite(net.history).all()
    out = net.predict(X)
    assert out.dtype == np.float32 and np.isfinite(out).all()


def test_float32_large_inputs_match_the_reference():
    """Saturating but not diverging: the kernels still do the reference's arithmetic."""
    rng = np.random.default_rng(1)
    X = (rng.uniform(-1, 1, (9, 3)) * 1e6).astype(np.float32)
    Y = rng.integers(0, 2, (9, 2)).astype(np.float32)
    net = Network((3, 3, 2), seed=0, dtype=np.float32)
    options = dict(mode="minibatch", batch_size=4, lr=1e-3, epochs=2, loss="bce", seed=0)
    ref_W = [W.copy() for W in net.weights]
    ref_b = [b.copy() for b in net.biases]
    with np.errstate(**STRICT):
        ref_history = reference.train(ref_W, ref_b, X, Y, **options)
    fastprop.fit(X, Y, network=net, **options)
    assert_close(np.array(net.history), np.array(ref_history), np.float32, "history")
    for l in range(2):
        assert_close(net.weights[l], ref_W[l], np.float32, f"weights[{l}]")


# --- divergence inside one compiled block ---------------------------------------------------------

# (dtype, mode, data seed, lr, epoch that diverges): found by search; each runs finite
# epochs first, then overflows, all inside one kernel call of up to 30 epochs.
LATE_DIVERGENCE = [
    pytest.param(np.float32, "batch", 0, 1e38, 3, id="float32-batch"),
    pytest.param(np.float32, "minibatch", 1, 1e38, 14, id="float32-minibatch"),
    pytest.param(np.float32, "sgd", 1, 3e38, 4, id="float32-sgd"),
    pytest.param(np.float64, "batch", 0, 1e308, 3, id="float64-batch"),
    pytest.param(np.float64, "minibatch", 1, 5e307, 14, id="float64-minibatch"),
    pytest.param(np.float64, "sgd", 0, 1e308, 21, id="float64-sgd"),
]


def late_divergence_problem(dtype, mode, seed, lr):
    rng = np.random.default_rng(seed)
    X = rng.random((6, 2)).astype(dtype)
    Y = rng.integers(0, 2, (6, 1)).astype(dtype)
    net = Network((2, 1), seed=seed, dtype=dtype)
    kwargs = dict(mode=mode, batch_size=4, lr=lr, loss="bce", reduction="sum", seed=0)
    return net, X, Y, kwargs


@pytest.mark.parametrize(("dtype", "mode", "seed", "lr", "bad_epoch"), LATE_DIVERGENCE)
def test_divergence_inside_a_block_keeps_the_last_finite_epoch(dtype, mode, seed, lr, bad_epoch):
    net, X, Y, kwargs = late_divergence_problem(dtype, mode, seed, lr)
    # The same epochs one compiled call each: the weights after the last good epoch.
    step_net = net.copy()
    stepper = Trainer(step_net, X, Y, **kwargs)
    for _ in range(bad_epoch - 1):
        stepper.epoch()
    with pytest.raises(DivergenceError, match=f"epoch {bad_epoch}"):
        stepper.epoch()

    trainer = Trainer(net, X, Y, **kwargs)
    assert trainer.max_block >= 30  # all 30 epochs go to the kernel in one call
    with pytest.raises(DivergenceError) as info:
        trainer.train(30)
    message = str(info.value)
    assert f"training diverged in epoch {bad_epoch}: the loss became non-finite" in message
    assert f"lr={float(dtype(lr))}" in message and "try a smaller lr" in message
    assert "keeps the weights from the start of that epoch" in message
    assert info.value.network is net
    assert len(net.history) == bad_epoch - 1
    assert np.isfinite(net.history).all() and np.isfinite(net.params).all()
    np.testing.assert_array_equal(net.params, step_net.params)
    assert net.history == step_net.history
