"""``fastprop.fit`` and ``fastprop.Trainer`` (``src/fastprop/trainer.py``) through the public API.

Training results (``comp_*``) are compared with ``reference.train`` (``ref_*``)
started from copies of the same weights: every mode, loss and reduction, the
shapes that break code, shuffled and unshuffled. Then what the API promises
around the kernels: dtypes, determinism, untouched inputs, every input layout,
continuation, early stopping and divergence.
"""

import numpy as np
import pytest

import fastprop
from conftest import assert_close, random_problem
from fastprop import DivergenceError, Network, Trainer, reference

MODES = ["sgd", "minibatch", "batch"]
LOSSES = ["mse", "bce"]
REDUCTIONS = ["mean", "sum"]


def ref_train(net, X, Y, **kwargs):
    """``reference.train`` on copies of ``net``'s parameters: ``(ref_W, ref_b, ref_history)``."""
    ref_W = [W.copy() for W in net.weights]
    ref_b = [b.copy() for b in net.biases]
    ref_history = reference.train(ref_W, ref_b, X, Y, **kwargs)
    return ref_W, ref_b, ref_history


def assert_matches_reference(comp_net, ref_W, ref_b, ref_history, dtype):
    assert len(comp_net.history) == len(ref_history)
    assert_close(np.array(comp_net.history), np.array(ref_history), dtype, "history")
    for l, (comp_W, comp_b, W, b) in enumerate(
        zip(comp_net.weights, comp_net.biases, ref_W, ref_b, strict=True)
    ):
        assert comp_W.dtype == np.dtype(dtype)
        assert_close(comp_W, W, dtype, f"weights[{l}]")
        assert_close(comp_b, b, dtype, f"biases[{l}]")


def fit_vs_reference(X, Y, hidden, dtype, *, init="uniform", start_seed=0, **kwargs):
    """Train a copy with ``fit(network=...)`` and with the reference; compare."""
    net = Network((X.shape[1], *hidden, Y.shape[1]), seed=start_seed, init=init, dtype=dtype)
    ref_W, ref_b, ref_history = ref_train(net, X, Y, **kwargs)
    comp_net = fastprop.fit(X, Y, network=net, **kwargs)
    assert comp_net is net
    assert_matches_reference(comp_net, ref_W, ref_b, ref_history, dtype)
    return comp_net


# --- fit against the reference ---------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("mode", MODES)
def test_fit_matches_reference_every_mode_loss_reduction(mode, loss, reduction, dtype):
    X, Y = random_problem(23, 4, 3, dtype=dtype, seed=1)
    fit_vs_reference(
        X, Y, (5,), dtype, mode=mode, loss=loss, reduction=reduction, batch_size=7,
        lr=0.7, epochs=3, shuffle=True, seed=11,
    )


# name: (n samples, hidden, mode, batch_size, epochs, shuffle)
SHAPE_CASES = {
    "no-hidden": (13, (), "minibatch", 4, 3, True),
    "single-hidden-unit": (13, (1,), "minibatch", 4, 3, True),
    "deep-narrow-2-2-2": (17, (2, 2, 2), "minibatch", 5, 3, True),
    "wide-40": (17, (40,), "minibatch", 5, 3, True),
    "batch-1": (11, (3,), "minibatch", 1, 2, True),
    "odd-batch-partial-last": (23, (3,), "minibatch", 5, 3, True),
    "batch-divides-n": (24, (3,), "minibatch", 8, 3, True),
    "batch-over-n": (9, (3,), "minibatch", 100, 3, True),
    "full-batch-over-chunk-600": (600, (3,), "batch", 32, 2, False),
    "minibatch-300-chunked-partial": (600, (3,), "minibatch", 300, 2, True),
    "sgd-several-epochs": (15, (4,), "sgd", 32, 6, True),
    "no-hidden-sgd": (15, (), "sgd", 32, 3, True),
    "deep-narrow-sgd": (15, (2, 2, 2), "sgd", 32, 3, True),
    "batch-no-shuffle": (19, (4,), "batch", 32, 5, False),
    "minibatch-no-shuffle": (19, (4,), "minibatch", 6, 4, False),
    "sgd-no-shuffle": (19, (4,), "sgd", 32, 4, False),
    "single-sample": (1, (3,), "minibatch", 32, 3, True),
}


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize(
    ("n", "hidden", "mode", "batch_size", "epochs", "shuffle"),
    [pytest.param(*case, id=name) for name, case in SHAPE_CASES.items()],
)
def test_fit_matches_reference_shapes(n, hidden, mode, batch_size, epochs, shuffle, loss, dtype):
    X, Y = random_problem(n, 3, 2, dtype=dtype, seed=n)
    fit_vs_reference(
        X, Y, hidden, dtype, mode=mode, batch_size=batch_size, lr=0.9, epochs=epochs,
        loss=loss, shuffle=shuffle, seed=5,
    )


@pytest.mark.parametrize("init", ["xavier", "uniform"])
@pytest.mark.parametrize("mode", MODES)
def test_fresh_fit_equals_reference_from_seeded_network(mode, init, dtype):
    """fit(seed=s) initialises like Network(seed=s) and shuffles like reference.train(seed=s)."""
    X, Y = random_problem(20, 3, 2, dtype=dtype, seed=2)
    start = Network((3, 6, 2), seed=42, init=init, dtype=dtype)
    ref_W, ref_b, ref_history = ref_train(
        start, X, Y, mode=mode, batch_size=6, lr=0.5, epochs=3, shuffle=True, seed=42
    )
    comp_net = fastprop.fit(
        X, Y, (6,), mode=mode, batch_size=6, lr=0.5, epochs=3, seed=42, init=init
    )
    assert comp_net.layer_sizes == (3, 6, 2)
    assert_matches_reference(comp_net, ref_W, ref_b, ref_history, dtype)


def test_shuffle_changes_the_result():
    """Guards the shuffled comparisons above: shuffling must actually reorder the samples."""
    X, Y = random_problem(20, 3, 2)
    start = Network((3, 4, 2), seed=0)
    shuffled = fastprop.fit(X, Y, network=start.copy(), batch_size=5, epochs=2, seed=1)
    ordered = fastprop.fit(X, Y, network=start.copy(), batch_size=5, epochs=2, shuffle=False)
    assert not np.array_equal(shuffled.params, ordered.params)


def test_minibatch_of_one_equals_sgd(dtype):
    X, Y = random_problem(12, 3, 2, dtype=dtype, seed=4)
    start = Network((3, 4, 2), seed=3, dtype=dtype)
    sgd = fastprop.fit(X, Y, network=start.copy(), mode="sgd", epochs=3, seed=9)
    mb1 = fastprop.fit(X, Y, network=start.copy(), mode="minibatch", batch_size=1, epochs=3, seed=9)
    assert_close(mb1.params, sgd.params, dtype)
    assert_close(mb1.history, sgd.history, dtype)


def test_batch_size_over_n_is_full_batch(dtype):
    X, Y = random_problem(12, 3, 2, dtype=dtype, seed=4)
    start = Network((3, 4, 2), seed=3, dtype=dtype)
    big = fastprop.fit(X, Y, network=start.copy(), batch_size=1000, epochs=3, seed=9)
    full = fastprop.fit(X, Y, network=start.copy(), mode="batch", epochs=3, seed=9)
    np.testing.assert_array_equal(big.params, full.params)
    assert big.history == full.history


@pytest.mark.parametrize("mode", MODES)
def test_sum_is_mean_with_lr_scaled_by_batch(mode):
    """reduction="sum" with lr is reduction="mean" with lr * batch size (sgd: identical)."""
    X, Y = random_problem(16, 3, 2, seed=6)
    start = Network((3, 4, 2), seed=2)
    size = {"sgd": 1, "minibatch": 4, "batch": 16}[mode]
    summed = fastprop.fit(
        X, Y, network=start.copy(), mode=mode, batch_size=4, lr=0.1, reduction="sum", seed=3,
        epochs=3,
    )
    mean = fastprop.fit(
        X, Y, network=start.copy(), mode=mode, batch_size=4, lr=0.1 * size, reduction="mean",
        seed=3, epochs=3,
    )
    np.testing.assert_allclose(summed.params, mean.params, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.array(summed.history) / 16, mean.history, rtol=1e-10)


# --- dtypes ------------------------------------------------------------------------------------


def test_float32_stays_float32():
    X, Y = random_problem(20, 3, 2, dtype=np.float32)
    net = fastprop.fit(X, Y, (4,), epochs=2, seed=0)
    assert net.dtype == np.float32
    assert net.params.dtype == np.float32
    assert all(W.dtype == np.float32 for W in net.weights)
    assert all(b.dtype == np.float32 for b in net.biases)
    assert net.predict(X).dtype == np.float32
    _, grad_W, grad_b = fastprop.gradients(net, X, Y)
    assert all(g.dtype == np.float32 for g in grad_W + grad_b)
    assert all(np.isfinite(h) for h in net.history)


@pytest.mark.parametrize(
    ("X_dtype", "dtype", "expected"),
    [
        pytest.param(np.float64, None, np.float64, id="float64-default"),
        pytest.param(np.float32, None, np.float32, id="float32-input-default"),
        pytest.param(np.int64, None, np.float64, id="int-input-default"),
        pytest.param(np.float16, None, np.float64, id="float16-input-default"),
        pytest.param(np.float64, np.float32, np.float32, id="explicit-float32"),
        pytest.param(np.float32, np.float64, np.float64, id="explicit-float64-wins"),
        pytest.param(np.float64, "float32", np.float32, id="dtype-as-string"),
        pytest.param(">f4", None, np.float32, id="big-endian-float32-input"),
    ],
)
def test_dtype_resolution(X_dtype, dtype, expected):
    X, Y = random_problem(10, 3, 1)
    X = (X * 4).astype(X_dtype)
    net = fastprop.fit(X, Y, (2,), epochs=1, seed=0, dtype=dtype)
    assert net.dtype == np.dtype(expected)
    assert net.params.dtype == np.dtype(expected)


def test_network_dtype_wins_when_continuing():
    X, Y = random_problem(10, 3, 1)  # float64 data
    net = Network((3, 2, 1), seed=0, dtype=np.float32)
    fastprop.fit(X, Y, network=net, epochs=2, seed=0)
    assert net.params.dtype == np.float32
    assert len(net.history) == 2


# --- determinism ----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_same_seed_is_bit_identical(mode, dtype):
    X, Y = random_problem(30, 4, 2, dtype=dtype)
    a = fastprop.fit(X, Y, (5,), mode=mode, batch_size=7, epochs=3, seed=123)
    b = fastprop.fit(X, Y, (5,), mode=mode, batch_size=7, epochs=3, seed=123)
    np.testing.assert_array_equal(a.params, b.params)
    assert a.history == b.history


@pytest.mark.parametrize("mode", MODES)
def test_different_seeds_differ(mode):
    X, Y = random_problem(30, 4, 2)
    a = fastprop.fit(X, Y, (5,), mode=mode, batch_size=7, epochs=2, seed=1)
    b = fastprop.fit(X, Y, (5,), mode=mode, batch_size=7, epochs=2, seed=2)
    assert not np.array_equal(a.params, b.params)
    # The same starting weights with another shuffling seed also differ (not for full batch).
    if mode != "batch":
        start = Network((4, 5, 2), seed=0)
        c = fastprop.fit(X, Y, network=start.copy(), mode=mode, batch_size=7, epochs=2, seed=1)
        d = fastprop.fit(X, Y, network=start.copy(), mode=mode, batch_size=7, epochs=2, seed=2)
        assert not np.array_equal(c.params, d.params)


def test_no_seed_gives_fresh_randomness():
    X, Y = random_problem(10, 3, 1)
    a = fastprop.fit(X, Y, (4,), epochs=1)
    b = fastprop.fit(X, Y, (4,), epochs=1)
    assert not np.array_equal(a.params, b.params)


# --- inputs: untouched, any layout -----------------------------------------------------------


def test_inputs_are_not_modified(dtype):
    X, Y = random_problem(25, 4, 2, dtype=dtype)
    X_copy, Y_copy = X.copy(), Y.copy()
    start = Network((4, 3, 2), seed=0, dtype=dtype)
    start_W = [W.copy() for W in start.weights]
    start_b = [b.copy() for b in start.biases]
    net = Network.from_arrays(start_W, start_b)
    for mode in MODES:
        fastprop.fit(X, Y, network=net, mode=mode, batch_size=4, epochs=2, seed=0)
    fastprop.fit(X, Y, (3,), epochs=2, seed=0)
    net.predict(X)
    net.loss(X, Y)
    fastprop.gradients(net, X, Y)
    np.testing.assert_array_equal(X, X_copy)
    np.testing.assert_array_equal(Y, Y_copy)
    # from_arrays copied: the arrays it was given are not trained in place.
    for W, b, W0, b0 in zip(start_W, start_b, start.weights, start.biases, strict=True):
        np.testing.assert_array_equal(W, W0)
        np.testing.assert_array_equal(b, b0)
    assert not np.array_equal(net.params, start.params)


def test_trained_network_does_not_alias_caller_arrays():
    """The kernels train into the network's own buffer, never into a view of X or Y."""
    X, Y = random_problem(10, 3, 1)
    net = fastprop.fit(X, Y, (2,), epochs=1, seed=0)
    assert not np.shares_memory(net.params, X)
    assert not np.shares_memory(net.params, Y)


def test_read_only_inputs():
    # float64 only: read-only arrays reach the kernels as such and compile a signature of their
    # own, which costs seconds per dtype on an empty cache.
    X, Y = random_problem(20, 3, 2)
    expected = fastprop.fit(X, Y, (4,), epochs=2, seed=0)
    X_ro, Y_ro = X.copy(), Y.copy()
    X_ro.setflags(write=False)
    Y_ro.setflags(write=False)
    comp_net = fastprop.fit(X_ro, Y_ro, (4,), epochs=2, seed=0)
    np.testing.assert_array_equal(comp_net.params, expected.params)
    np.testing.assert_array_equal(comp_net.predict(X_ro), expected.predict(X))
    assert comp_net.loss(X_ro, Y_ro) == expected.loss(X, Y)
    # A network built from read-only arrays is still trainable.
    W = [w.copy() for w in expected.weights]
    b = [v.copy() for v in expected.biases]
    for a in W + b:
        a.setflags(write=False)
    fastprop.fit(X_ro, Y_ro, network=Network.from_arrays(W, b), epochs=1, seed=0)


def _wide(X):
    """X spread over every other column of a twice-as-wide array: a non-contiguous view."""
    wide = np.zeros((X.shape[0], 2 * X.shape[1]), dtype=X.dtype)
    wide[:, ::2] = X
    return wide[:, ::2]


LAYOUTS = {
    "non-contiguous-columns": lambda A: _wide(A),
    "non-contiguous-rows": lambda A: np.repeat(A, 2, axis=0)[::2],
    "fortran-order": np.asfortranarray,
    "big-endian": lambda A: A.astype(A.dtype.newbyteorder(">")),
    "list": lambda A: A.tolist(),
    "tuple-of-tuples": lambda A: tuple(tuple(row) for row in A.tolist()),
}


@pytest.mark.parametrize("layout", [pytest.param(f, id=k) for k, f in LAYOUTS.items()])
def test_input_layouts_give_identical_results(layout):
    X, Y = random_problem(21, 4, 2)
    X_in, Y_in = layout(X), layout(Y)
    if isinstance(X_in, np.ndarray):
        np.testing.assert_array_equal(X_in, X)
    expected = fastprop.fit(X, Y, (3,), batch_size=5, epochs=2, seed=0)
    comp_net = fastprop.fit(X_in, Y_in, (3,), batch_size=5, epochs=2, seed=0)
    assert comp_net.dtype == np.float64
    np.testing.assert_array_equal(comp_net.params, expected.params)
    assert comp_net.history == expected.history
    np.testing.assert_array_equal(comp_net.predict(X_in), expected.predict(X))
    assert comp_net.loss(X_in, Y_in) == expected.loss(X, Y)
    comp_grads = fastprop.gradients(comp_net, X_in, Y_in)
    ref_grads = fastprop.gradients(expected, X, Y)
    assert comp_grads[0] == ref_grads[0]
    comp_arrays = comp_grads[1] + comp_grads[2]
    ref_arrays = ref_grads[1] + ref_grads[2]
    for comp_g, ref_g in zip(comp_arrays, ref_arrays, strict=True):
        np.testing.assert_array_equal(comp_g, ref_g)


def test_float32_non_contiguous_and_fortran():
    X, Y = random_problem(21, 4, 2, dtype=np.float32)
    expected = fastprop.fit(X, Y, (3,), epochs=2, seed=0)
    for X_in in (_wide(X), np.asfortranarray(X)):
        comp_net = fastprop.fit(X_in, Y, (3,), epochs=2, seed=0)
        assert comp_net.dtype == np.float32
        np.testing.assert_array_equal(comp_net.params, expected.params)


def test_integer_and_bool_inputs():
    rng = np.random.default_rng(0)
    X_int = rng.integers(0, 3, size=(16, 3))
    Y_bool = rng.random((16, 1)) < 0.5
    expected = fastprop.fit(
        X_int.astype(np.float64), Y_bool.astype(np.float64), (3,), loss="bce", epochs=2, seed=0
    )
    comp_net = fastprop.fit(X_int, Y_bool, (3,), loss="bce", epochs=2, seed=0)
    assert comp_net.dtype == np.float64
    np.testing.assert_array_equal(comp_net.params, expected.params)
    np.testing.assert_array_equal(comp_net.predict(X_int), expected.predict(X_int.astype(float)))


def test_one_dimensional_Y_means_one_output(dtype):
    X, Y = random_problem(15, 3, 1, dtype=dtype)
    net_2d = fastprop.fit(X, Y, (3,), epochs=2, seed=0)
    net_1d = fastprop.fit(X, Y.ravel(), (3,), epochs=2, seed=0)
    assert net_1d.layer_sizes == (3, 3, 1)
    np.testing.assert_array_equal(net_1d.params, net_2d.params)
    assert net_1d.loss(X, Y.ravel()) == net_2d.loss(X, Y)


def test_hidden_as_int_and_list():
    X, Y = random_problem(10, 3, 2)
    assert fastprop.fit(X, Y, 4, epochs=1, seed=0).layer_sizes == (3, 4, 2)
    assert fastprop.fit(X, Y, [4, 5], epochs=1, seed=0).layer_sizes == (3, 4, 5, 2)
    assert fastprop.fit(X, Y, (), epochs=1, seed=0).layer_sizes == (3, 2)
    assert fastprop.fit(X, Y, epochs=1, seed=0).layer_sizes == (3, 32, 2)


# --- continuing training ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_continuation_equals_training_in_one_go(mode, dtype):
    X, Y = random_problem(20, 3, 2, dtype=dtype)
    once = fastprop.fit(X, Y, (4,), mode=mode, batch_size=6, epochs=5, shuffle=False, seed=7)
    net = fastprop.fit(X, Y, (4,), mode=mode, batch_size=6, epochs=3, shuffle=False, seed=7)
    params_ref = net.params
    returned = fastprop.fit(X, Y, network=net, mode=mode, batch_size=6, epochs=2, shuffle=False)
    assert returned is net
    assert net.params is params_ref  # trained in place, views still valid
    assert all(np.shares_memory(W, net.params) for W in net.weights)
    assert len(net.history) == 5
    np.testing.assert_array_equal(net.params, once.params)
    assert net.history == once.history


def test_continuation_with_shuffle_equals_reference_from_current_weights(dtype):
    X, Y = random_problem(20, 3, 2, dtype=dtype)
    net = fastprop.fit(X, Y, (4,), batch_size=6, epochs=2, seed=7)
    history_before = list(net.history)
    ref_W, ref_b, ref_history = ref_train(
        net, X, Y, mode="minibatch", batch_size=6, lr=0.5, epochs=3, shuffle=True, seed=8
    )
    fastprop.fit(X, Y, network=net, batch_size=6, epochs=3, seed=8)
    assert net.history[:2] == history_before
    assert len(net.history) == 5
    assert_close(np.array(net.history[2:]), np.array(ref_history), dtype, "history")
    for l in range(2):
        assert_close(net.weights[l], ref_W[l], dtype, f"weights[{l}]")
        assert_close(net.biases[l], ref_b[l], dtype, f"biases[{l}]")


def test_continuation_accepts_matching_hidden():
    X, Y = random_problem(10, 3, 2)
    net = Network((3, 4, 5, 2), seed=0)
    fastprop.fit(X, Y, (4, 5), network=net, epochs=1)
    fastprop.fit(X, Y, [4, 5], network=net, epochs=1)
    assert len(net.history) == 2


# --- tol ---------------------------------------------------------------------------------------

TEACHING_X = np.array([[0.2, 0.4, 0.6], [0.3, 0.3, 0.1], [0.5, 0.4, 0.7], [0.8, 0.4, 0.1]])
TEACHING_Y = np.array([[0.8], [0.2], [0.4], [0.6]])


@pytest.mark.parametrize("mode", MODES)
def test_tol_stops_early(mode):
    tol = 1e-3
    net = fastprop.fit(
        TEACHING_X, TEACHING_Y, (4,), mode=mode, batch_size=2, lr=10.0, epochs=5000, tol=tol,
        seed=0,
    )
    assert 1 < len(net.history) < 5000
    assert net.history[-1] <= tol
    assert all(h > tol for h in net.history[:-1])


def test_tol_matches_reference():
    start = Network((3, 4, 1), seed=1, init="uniform")
    kwargs = dict(mode="batch", lr=10.0, epochs=3000, tol=1e-3, shuffle=False)
    ref_W, ref_b, ref_history = ref_train(start, TEACHING_X, TEACHING_Y, **kwargs)
    comp_net = fastprop.fit(TEACHING_X, TEACHING_Y, network=start, **kwargs)
    assert len(ref_history) < 3000
    assert_matches_reference(comp_net, ref_W, ref_b, ref_history, np.float64)


def test_tol_reached_in_first_epoch_stops_after_one():
    net = fastprop.fit(TEACHING_X, TEACHING_Y, (4,), epochs=50, tol=1e6, seed=0)
    assert len(net.history) == 1


def test_tol_zero_and_none_run_every_epoch():
    for tol in (None, 0, 0.0):
        net = fastprop.fit(TEACHING_X, TEACHING_Y, (4,), epochs=7, tol=tol, seed=0)
        assert len(net.history) == 7


def test_tol_with_sum_reduction_compares_the_summed_loss():
    start = Network((3, 4, 1), seed=0)
    net = fastprop.fit(
        TEACHING_X, TEACHING_Y, network=start.copy(), mode="batch", lr=2.0, epochs=5000,
        tol=4e-3, reduction="sum",
    )
    # Full batch: the first epoch's loss is the starting network's summed loss.
    assert_close(net.history[0], start.loss(TEACHING_X, TEACHING_Y, reduction="sum"), np.float64)
    assert 1 < len(net.history) < 5000
    assert net.history[-1] <= 4e-3 < net.history[-2]


# --- divergence ----------------------------------------------------------------------------------

# Inputs and a learning rate whose product overflows the dtype in the first update.
HUGE = {np.float64: 1e200, np.float32: 1e20}


@pytest.mark.parametrize("mode", MODES)
def test_divergence_raises_and_keeps_last_finite_weights(mode, dtype):
    X, Y = random_problem(12, 3, 2, dtype=dtype)
    net = fastprop.fit(X, Y, (), mode=mode, batch_size=5, loss="bce", epochs=2, seed=0)
    before = net.params.copy()
    history_before = list(net.history)
    params_ref = net.params
    huge = HUGE[dtype]
    with pytest.raises(DivergenceError, match=r"(?s)diverged in epoch 3.*non-finite.*smaller lr"):
        fastprop.fit(
            X * dtype(huge), Y, network=net, mode=mode, batch_size=5, loss="bce", lr=huge,
            epochs=4, seed=0,
        )
    assert np.isfinite(net.params).all()
    np.testing.assert_array_equal(net.params, before)
    assert net.params is params_ref
    assert all(np.shares_memory(W, net.params) for W in net.weights)
    assert net.history == history_before


def test_divergence_error_carries_the_network():
    X, Y = random_problem(12, 3, 2)
    with pytest.raises(DivergenceError) as info:
        fastprop.fit(X * 1e200, Y, (), loss="bce", lr=1e200, epochs=3, seed=0)
    err = info.value
    assert isinstance(err.network, Network)
    assert err.network.layer_sizes == (3, 2)
    assert err.network.history == []
    # Diverged in the first epoch: the network keeps its initial weights.
    np.testing.assert_array_equal(err.network.params, Network((3, 2), seed=0).params)
    assert "lr=1e+200" in str(err)
    assert isinstance(err, ArithmeticError)


@pytest.mark.parametrize("mode", MODES)
def test_trainer_divergence_restores_the_epoch_start(mode):
    """Two good epochs, then one that overflows: the weights after epoch 2 are kept."""
    X, Y = random_problem(12, 3, 2)
    net = Network((3, 2), seed=0)
    trainer = Trainer(net, X, Y, mode=mode, batch_size=5, lr=1e110, loss="bce", seed=0)
    trainer.train(2)
    assert len(net.history) == 2
    after_two = net.params.copy()
    assert np.isfinite(after_two).all()
    assert not np.array_equal(after_two, Network((3, 2), seed=0).params)
    X *= 1e250  # the trainer holds X itself: the next epoch's update overflows
    with pytest.raises(DivergenceError, match="epoch 3") as info:
        trainer.epoch()
    assert info.value.network is net
    np.testing.assert_array_equal(net.params, after_two)
    assert len(net.history) == 2


# --- Trainer used directly ----------------------------------------------------------------------


@pytest.mark.parametrize("shuffle", [True, False], ids=["shuffle", "no-shuffle"])
@pytest.mark.parametrize("mode", MODES)
def test_trainer_epochs_equal_fit(mode, shuffle, dtype):
    X, Y = random_problem(19, 3, 2, dtype=dtype)
    start = Network((3, 4, 2), seed=0, dtype=dtype)
    kwargs = dict(mode=mode, batch_size=5, lr=0.8, loss="bce", reduction="sum", shuffle=shuffle)
    expected = fastprop.fit(X, Y, network=start.copy(), epochs=2, seed=3, **kwargs)
    net = start.copy()
    trainer = Trainer(net, X, Y, seed=3, **kwargs)
    first = trainer.epoch()
    second = trainer.epoch()
    assert net.history == [first, second]
    np.testing.assert_array_equal(net.params, expected.params)
    assert net.history == expected.history


def test_trainer_reuses_its_workspace_with_identical_results():
    """Epochs from one Trainer equal epochs from fresh Trainers started where it stood."""
    X, Y = random_problem(19, 3, 2)
    net = Network((3, 4, 2), seed=0)
    trainer = Trainer(net, X, Y, mode="minibatch", batch_size=5, shuffle=False)
    other = net.copy()
    for _ in range(3):
        trainer.epoch()
        Trainer(other, X, Y, mode="minibatch", batch_size=5, shuffle=False).epoch()
        np.testing.assert_array_equal(net.params, other.params)
    assert net.history == other.history


def test_trainer_train_returns_network_and_honours_tol():
    net = Network((3, 4, 1), seed=0)
    trainer = Trainer(net, TEACHING_X, TEACHING_Y, mode="batch", lr=10.0)
    assert trainer.train(3) is net
    assert len(net.history) == 3
    trainer.train(5000, tol=1e-3)
    assert 3 < len(net.history) < 5003
    assert net.history[-1] <= 1e-3


# hidden: the kernel a trainer of that network calls (its batches are never split).
INTERRUPTED_KERNELS = {
    (3,): "run_epochs_tiny", (5,): "run_epochs_rows", (200,): "run_epochs_whole",
}


@pytest.mark.parametrize(("hidden", "kernel"), list(INTERRUPTED_KERNELS.items()))
def test_keyboard_interrupt_keeps_weights(hidden, kernel, monkeypatch):
    """Ctrl-C during training: a warning, and the epochs finished so far are kept.

    The interrupt is raised as the kernel returns after two epochs of its
    block, which is where Python delivers a Ctrl-C that arrived inside it.
    """
    X, Y = random_problem(12, 3, 2)
    expected = fastprop.fit(X, Y, hidden, epochs=2, seed=0)
    assert Trainer(expected, X, Y).tiny == (kernel == "run_epochs_tiny")
    real = getattr(fastprop.kernels, kernel)

    def interrupted_on_third(*args):
        args = list(args)
        args[2] = args[2][:2]  # orders: only two epochs get done
        real(*args)
        raise KeyboardInterrupt

    monkeypatch.setattr(fastprop.kernels, kernel, interrupted_on_third)
    with pytest.warns(UserWarning, match="interrupted after 2 epochs"):
        net = fastprop.fit(X, Y, hidden, epochs=10, seed=0)
    assert len(net.history) == 2
    np.testing.assert_array_equal(net.params, expected.params)


@pytest.mark.parametrize("mode", ["sgd", "minibatch", "batch"])
def test_epoch_blocks_do_not_change_the_result(mode, monkeypatch):
    """Many epochs per kernel call give the very same weights as one per call."""
    X, Y = random_problem(10, 3, 2)
    one_call = fastprop.fit(X, Y, (4,), mode=mode, batch_size=3, epochs=25, seed=7)
    monkeypatch.setattr(Trainer, "BLOCK_SAMPLES", 10 * 4)  # blocks of 4 epochs, last one 1
    blocks = fastprop.fit(X, Y, (4,), mode=mode, batch_size=3, epochs=25, seed=7)
    monkeypatch.setattr(Trainer, "BLOCK_SAMPLES", 1)  # one epoch per call
    single = fastprop.fit(X, Y, (4,), mode=mode, batch_size=3, epochs=25, seed=7)
    np.testing.assert_array_equal(blocks.params, one_call.params)
    np.testing.assert_array_equal(single.params, one_call.params)
    assert blocks.history == one_call.history == single.history


def test_tol_stops_mid_block_at_the_same_epoch(monkeypatch):
    X, Y = random_problem(4, 3, 1)
    net = fastprop.fit(X, Y, (4,), mode="batch", lr=5.0, epochs=3000, tol=1e-3, seed=0)
    monkeypatch.setattr(Trainer, "BLOCK_SAMPLES", 4 * 7)
    other = fastprop.fit(X, Y, (4,), mode="batch", lr=5.0, epochs=3000, tol=1e-3, seed=0)
    assert len(net.history) < 3000
    assert net.history[-1] <= 1e-3 < net.history[-2]
    assert other.history == net.history
