"""``fastprop.Network`` and ``fastprop.gradients`` (``src/fastprop/network.py``).

Construction and the flat parameter layout; ``from_arrays``; ``predict``,
``loss`` and ``gradients`` (``comp_*``) against ``fastprop.reference``
(``ref_*``), including more rows than one internal block of 256.
"""

import pickle

import numpy as np
import pytest

import fastprop
from conftest import assert_close, random_problem
from fastprop import Network, reference

ARCHS = {
    "no-hidden-4-3": (4, 3),
    "single-units-1-1-1": (1, 1, 1),
    "one-hidden-3-5-2": (3, 5, 2),
    "deep-narrow-3-2-2-2-1": (3, 2, 2, 2, 1),
    "wide-6-40-3": (6, 40, 3),
}
ARCH_PARAMS = [pytest.param(s, id=k) for k, s in ARCHS.items()]

# Rows either side of the 256-row block predict and gradients work in.
ROW_COUNTS = [1, 7, 256, 257, 600]


def flatten(weights, biases):
    """The documented layout of ``params``: W_0 row-major, b_0, W_1, b_1, ..."""
    parts = [np.concatenate([W.ravel(), b]) for W, b in zip(weights, biases, strict=True)]
    return np.concatenate(parts)


# --- construction -----------------------------------------------------------------------------


@pytest.mark.parametrize("sizes", ARCH_PARAMS)
def test_construction_sizes_and_layout(sizes, dtype):
    net = Network(sizes, seed=0, dtype=dtype)
    assert net.layer_sizes == tuple(sizes)
    assert isinstance(net.layer_sizes, tuple)
    assert net.n_inputs == sizes[0]
    assert net.n_outputs == sizes[-1]
    assert net.dtype == np.dtype(dtype)
    assert net.history == []
    n_params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    assert net.params.shape == (n_params,)
    assert net.params.dtype == np.dtype(dtype)
    assert net.params.flags.c_contiguous
    assert len(net.weights) == len(net.biases) == len(sizes) - 1
    for l, (W, b) in enumerate(zip(net.weights, net.biases, strict=True)):
        assert W.shape == (sizes[l], sizes[l + 1])
        assert b.shape == (sizes[l + 1],)
        assert W.dtype == b.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(flatten(net.weights, net.biases), net.params)


def test_views_share_memory_with_params():
    net = Network((3, 4, 2), seed=0)
    for W, b in zip(net.weights, net.biases, strict=True):
        assert np.shares_memory(W, net.params)
        assert np.shares_memory(b, net.params)
    net.weights[1][2, 1] = 123.0
    net.biases[0][3] = -7.0
    assert 123.0 in net.params
    assert -7.0 in net.params
    net.params[:] = 0.5
    assert all((W == 0.5).all() for W in net.weights)
    assert all((b == 0.5).all() for b in net.biases)
    # Views do not overlap each other.
    arrays = net.weights + net.biases
    for i, a in enumerate(arrays):
        for c in arrays[i + 1 :]:
            assert not np.shares_memory(a, c)


@pytest.mark.parametrize("sizes", [(784, 128, 64, 10), (3, 4, 1), (5, 3)])
def test_params_and_workspace_start_on_a_cache_line(sizes, dtype, tmp_path):
    """The kernels' vector loads of W_0 split across cache lines otherwise (workspace.py)."""
    from fastprop.workspace import ALIGN_BYTES, Workspace

    net = Network(sizes, seed=0, dtype=dtype)
    copies = [
        net,
        pickle.loads(pickle.dumps(net)),
        Network.from_arrays(net.weights, net.biases),
    ]
    net.save(tmp_path / "net.npz")
    copies.append(fastprop.load(tmp_path / "net.npz"))
    for copy in copies:
        assert copy.params.ctypes.data % ALIGN_BYTES == 0
        np.testing.assert_array_equal(copy.params, net.params)
        assert np.shares_memory(copy.weights[0], copy.params)
    ws = Workspace(net, 7, 3)
    for buf in (ws.part_acts, ws.part_deltas, ws.partials):
        assert buf.ctypes.data % ALIGN_BYTES == 0
        assert buf.flags.c_contiguous and not buf.any()


@pytest.mark.parametrize(
    "sizes", [(64, 32, 10), (3, 4, 1), (1, 1)], ids=["64-32-10", "3-4-1", "1-1"]
)
def test_xavier_init_bound_and_zero_biases(sizes, dtype):
    net = Network(sizes, seed=0, init="xavier", dtype=dtype)
    for W, b in zip(net.weights, net.biases, strict=True):
        bound = 4 * np.sqrt(6 / (W.shape[0] + W.shape[1]))
        assert np.abs(W).max() <= bound * (1 + 1e-7)
        np.testing.assert_array_equal(b, 0)
        if W.size >= 100:
            # Drawn from the whole interval, not a narrower one.
            assert np.abs(W).max() > 0.9 * bound
            assert W.min() < 0 < W.max()


def test_xavier_is_the_default_init():
    np.testing.assert_array_equal(
        Network((5, 7, 2), seed=3).params, Network((5, 7, 2), seed=3, init="xavier").params
    )


def test_uniform_init_in_minus_one_one(dtype):
    net = Network((20, 30, 10), seed=0, init="uniform", dtype=dtype)
    for W, b in zip(net.weights, net.biases, strict=True):
        assert W.min() >= -1 and W.max() < 1
        assert b.min() >= -1 and b.max() < 1
        assert W.min() < -0.9 and W.max() > 0.9  # the whole interval is used
        assert np.count_nonzero(b) == b.size  # biases are drawn too


def test_seeded_init_is_deterministic():
    a = Network((4, 6, 3), seed=5)
    b = Network((4, 6, 3), seed=5)
    c = Network((4, 6, 3), seed=6)
    np.testing.assert_array_equal(a.params, b.params)
    assert not np.array_equal(a.params, c.params)
    assert not np.array_equal(Network((4, 6, 3)).params, Network((4, 6, 3)).params)


def test_float32_init_matches_float64_init_rounded():
    net64 = Network((4, 6, 3), seed=5)
    net32 = Network((4, 6, 3), seed=5, dtype=np.float32)
    np.testing.assert_array_equal(net32.params, net64.params.astype(np.float32))


def test_layer_sizes_accepts_any_int_sequence():
    assert Network([3, np.int64(4), 2]).layer_sizes == (3, 4, 2)
    assert Network(np.array([3, 2])).layer_sizes == (3, 2)
    assert all(type(s) is int for s in Network(np.array([3, 2])).layer_sizes)


# --- from_arrays ----------------------------------------------------------------------------------


@pytest.mark.parametrize("sizes", ARCH_PARAMS)
def test_from_arrays_round_trip(sizes, dtype):
    net = Network(sizes, seed=1, init="uniform", dtype=dtype)
    net.history.append(0.5)
    comp = Network.from_arrays(net.weights, net.biases)
    assert comp.layer_sizes == net.layer_sizes
    assert comp.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(comp.params, net.params)
    assert comp.history == []  # a fresh network, only the parameters are taken
    assert not np.shares_memory(comp.params, net.params)
    comp.params[:] = 0
    assert np.count_nonzero(net.params) == net.params.size


def test_from_arrays_dtype_rules():
    W32 = [np.ones((2, 3), np.float32)]
    b32 = [np.zeros(3, np.float32)]
    assert Network.from_arrays(W32, b32).dtype == np.float32
    assert Network.from_arrays(W32, [np.zeros(3)]).dtype == np.float64  # mixed -> float64
    assert Network.from_arrays([np.ones((2, 3), int)], [np.zeros(3, int)]).dtype == np.float64
    assert Network.from_arrays(W32, b32, dtype=np.float64).dtype == np.float64
    assert Network.from_arrays([np.ones((2, 3))], [np.zeros(3)], dtype="float32").dtype == (
        np.float32
    )


def test_from_arrays_accepts_nested_lists_and_views():
    comp = Network.from_arrays([[[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]], [[0.7, 0.8]])
    assert comp.layer_sizes == (3, 2)
    np.testing.assert_array_equal(comp.weights[0], [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]])
    np.testing.assert_array_equal(comp.biases[0], [0.7, 0.8])
    big = np.arange(24.0).reshape(4, 6)
    comp = Network.from_arrays(
        [big[::2, ::2], np.asfortranarray(np.ones((3, 1)))], [big[0, :3], [1]]
    )
    assert comp.layer_sizes == (2, 3, 1)
    np.testing.assert_array_equal(comp.weights[0], big[::2, ::2])


# name: (weights, biases, keyword arguments, error, match)
FROM_ARRAYS_ERRORS = {
    "empty": ([], [], {}, ValueError, "non-empty lists of equal length"),
    "length-mismatch": (
        [np.ones((2, 3)), np.ones((3, 1))], [np.ones(3)], {}, ValueError,
        "equal length; got 2 and 1",
    ),
    "weights-1d": ([np.ones(3)], [np.ones(3)], {}, ValueError, r"weights\[0\] must be 2-d"),
    "weights-3d": (
        [np.ones((2, 3, 1))], [np.ones(3)], {}, ValueError, r"weights\[0\] must be 2-d",
    ),
    "layers-do-not-chain": (
        [np.ones((2, 3)), np.ones((4, 1))], [np.ones(3), np.ones(1)], {}, ValueError,
        r"weights\[1\] must have 3 rows to follow weights\[0\]; got shape \(4, 1\)",
    ),
    "bias-wrong-length": (
        [np.ones((2, 3))], [np.ones(2)], {}, ValueError, r"biases\[0\] must have shape \(3,\)",
    ),
    "bias-2d": (
        [np.ones((2, 3))], [np.ones((1, 3))], {}, ValueError, r"biases\[0\] must have shape",
    ),
    "zero-width-layer": ([np.ones((2, 0))], [np.ones(0)], {}, ValueError, ">= 1"),
    "nan-weight": (
        [np.array([[np.nan, 1.0]])], [np.ones(2)], {}, ValueError,
        r"weights\[0\] contains NaN or inf",
    ),
    "inf-bias": (
        [np.ones((1, 2))], [np.array([0.0, np.inf])], {}, ValueError,
        r"biases\[0\] contains NaN or inf",
    ),
    "string-weights": (
        [np.array([["a", "b"]])], [np.ones(2)], {}, TypeError, r"weights\[0\] must hold numbers",
    ),
    "float16-dtype": (
        [np.ones((1, 2))], [np.ones(2)], {"dtype": np.float16}, TypeError,
        "dtype must be float32 or float64",
    ),
}


@pytest.mark.parametrize(
    ("weights", "biases", "kwargs", "error", "match"),
    [pytest.param(*case, id=name) for name, case in FROM_ARRAYS_ERRORS.items()],
)
def test_from_arrays_errors(weights, biases, kwargs, error, match):
    with pytest.raises(error, match=match):
        Network.from_arrays(weights, biases, **kwargs)


# --- predict --------------------------------------------------------------------------------------


def ref_predict(net, X):
    weights = [W.astype(np.float64) for W in net.weights]
    biases = [b.astype(np.float64) for b in net.biases]
    return reference.forward(weights, biases, np.asarray(X, dtype=np.float64))[-1]


@pytest.mark.parametrize("n", ROW_COUNTS, ids=[f"n{n}" for n in ROW_COUNTS])
@pytest.mark.parametrize("sizes", ARCH_PARAMS)
def test_predict_matches_reference(sizes, n, dtype):
    net = Network(sizes, seed=2, init="uniform", dtype=dtype)
    X, _ = random_problem(n, sizes[0], 1, dtype=dtype, seed=n)
    comp_out = net.predict(X)
    ref_out = reference.forward(net.weights, net.biases, X)[-1]
    assert comp_out.shape == (n, sizes[-1])
    assert comp_out.dtype == np.dtype(dtype)
    assert comp_out.flags.c_contiguous
    assert_close(comp_out, ref_out, dtype)
    # float32 is also close to the exact (float64) forward pass of the same weights.
    assert_close(comp_out, ref_predict(net, X).astype(dtype), dtype)


def test_predict_rows_are_independent_of_blocking():
    """Row i's output does not depend on which 256-row block it falls in."""
    net = Network((5, 7, 3), seed=0)
    X, _ = random_problem(600, 5, 1)
    comp_all = net.predict(X)
    for start, stop in [(0, 1), (255, 258), (300, 600), (599, 600)]:
        np.testing.assert_array_equal(net.predict(X[start:stop]), comp_all[start:stop])


def test_predict_is_repeatable_and_pure():
    net = Network((3, 4, 2), seed=0)
    X, _ = random_problem(300, 3, 1)
    params = net.params.copy()
    first = net.predict(X)
    second = net.predict(X)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(net.params, params)
    assert net.history == []
    assert not np.shares_memory(first, second)


def test_predict_accepts_lists_and_layouts():
    net = Network((3, 2), seed=0)
    X, _ = random_problem(9, 3, 1)
    expected = net.predict(X)
    np.testing.assert_array_equal(net.predict(X.tolist()), expected)
    np.testing.assert_array_equal(net.predict(np.asfortranarray(X)), expected)
    np.testing.assert_array_equal(net.predict(X.astype(">f8")), expected)
    np.testing.assert_array_equal(net.predict(np.repeat(X, 2, axis=1)[:, ::2]), expected)


def test_predict_float32_network_casts_float64_inputs():
    net = Network((3, 2), seed=0, dtype=np.float32)
    X, _ = random_problem(9, 3, 1)
    comp_out = net.predict(X)
    assert comp_out.dtype == np.float32
    np.testing.assert_array_equal(comp_out, net.predict(X.astype(np.float32)))


def test_saturated_sigmoid_stays_finite():
    net = Network.from_arrays([np.array([[1e3], [-1e3]])], [np.zeros(1)])
    out = net.predict([[1.0, 0.0], [0.0, 1.0], [1e3, 0.0], [0.0, 1e3]])
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out.ravel(), [1.0, 0.0, 1.0, 0.0], atol=1e-300)


# --- loss and gradients ---------------------------------------------------------------------------


def ref_loss(net, X, Y, kind, reduction):
    Y = np.asarray(Y).reshape(X.shape[0], -1)
    total = reference.loss(reference.forward(net.weights, net.biases, X)[-1], Y, kind).sum()
    return total / X.shape[0] if reduction == "mean" else total


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("loss", ["mse", "bce"])
@pytest.mark.parametrize("n", [5, 600], ids=["n5", "n600"])
def test_loss_matches_reference(n, loss, reduction, dtype):
    net = Network((4, 6, 3), seed=0, init="uniform", dtype=dtype)
    X, Y = random_problem(n, 4, 3, dtype=dtype, seed=1)
    comp_loss = net.loss(X, Y, loss=loss, reduction=reduction)
    assert isinstance(comp_loss, float)
    assert_close(comp_loss, ref_loss(net, X, Y, loss, reduction), dtype)


def test_loss_defaults_are_mse_mean():
    net = Network((3, 2), seed=0)
    X, Y = random_problem(8, 3, 2)
    assert net.loss(X, Y) == net.loss(X, Y, loss="mse", reduction="mean")
    assert_close(net.loss(X, Y, reduction="sum"), 8 * net.loss(X, Y), np.float64)


def test_bce_loss_of_saturated_output_is_large_but_finite():
    net = Network.from_arrays([np.array([[1e4]])], [np.zeros(1)])
    comp_loss = net.loss([[1.0]], [0.0], loss="bce")
    assert np.isfinite(comp_loss)
    assert comp_loss == pytest.approx(-np.log(np.finfo(np.float64).eps), rel=1e-9)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("loss", ["mse", "bce"])
@pytest.mark.parametrize("sizes", ARCH_PARAMS)
def test_gradients_match_reference(sizes, loss, reduction, dtype):
    net = Network(sizes, seed=3, init="uniform", dtype=dtype)
    X, Y = random_problem(11, sizes[0], sizes[-1], dtype=dtype, seed=4)
    comp_loss, comp_W, comp_b = fastprop.gradients(net, X, Y, loss=loss, reduction=reduction)
    ref_loss_, ref_W, ref_b = reference.gradients(net.weights, net.biases, X, Y, loss, reduction)
    assert isinstance(comp_loss, float)
    assert_close(comp_loss, ref_loss_, dtype, "loss")
    assert len(comp_W) == len(comp_b) == len(sizes) - 1
    for l in range(len(sizes) - 1):
        assert comp_W[l].shape == net.weights[l].shape
        assert comp_b[l].shape == net.biases[l].shape
        assert comp_W[l].dtype == comp_b[l].dtype == np.dtype(dtype)
        assert_close(comp_W[l], ref_W[l], dtype, f"grad_W[{l}]")
        assert_close(comp_b[l], ref_b[l], dtype, f"grad_b[{l}]")


@pytest.mark.parametrize("n", [256, 257, 600], ids=["n256", "n257", "n600"])
def test_gradients_over_several_blocks(n, dtype):
    net = Network((5, 8, 2), seed=3, init="uniform", dtype=dtype)
    X, Y = random_problem(n, 5, 2, dtype=dtype, seed=n)
    for loss in ("mse", "bce"):
        comp_loss, comp_W, comp_b = fastprop.gradients(net, X, Y, loss=loss, reduction="sum")
        ref_loss_, ref_W, ref_b = reference.gradients(
            net.weights, net.biases, X, Y, loss, "sum"
        )
        assert_close(comp_loss, ref_loss_, dtype, "loss")
        for l in range(2):
            assert_close(comp_W[l], ref_W[l], dtype, f"grad_W[{l}]")
            assert_close(comp_b[l], ref_b[l], dtype, f"grad_b[{l}]")


@pytest.mark.parametrize("loss", ["mse", "bce"])
def test_gradients_central_difference(loss):
    """The compiled gradient is the derivative of the compiled loss."""
    net = Network((3, 4, 2), seed=0, init="uniform")
    X, Y = random_problem(6, 3, 2, seed=2)
    _, comp_W, comp_b = fastprop.gradients(net, X, Y, loss=loss)
    comp = flatten(comp_W, comp_b)
    h = 1e-6
    numeric = np.empty_like(net.params)
    for p in range(net.params.size):
        saved = net.params[p]
        net.params[p] = saved + h
        up = net.loss(X, Y, loss=loss)
        net.params[p] = saved - h
        down = net.loss(X, Y, loss=loss)
        net.params[p] = saved
        numeric[p] = (up - down) / (2 * h)
    np.testing.assert_allclose(comp, numeric, rtol=1e-6, atol=1e-9)


def test_gradients_leave_network_and_inputs_untouched():
    net = Network((3, 4, 2), seed=0)
    X, Y = random_problem(6, 3, 2)
    params, X0, Y0 = net.params.copy(), X.copy(), Y.copy()
    _, grad_W, grad_b = fastprop.gradients(net, X, Y)
    np.testing.assert_array_equal(net.params, params)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(Y, Y0)
    assert net.history == []
    assert not any(np.shares_memory(g, net.params) for g in grad_W + grad_b)


def test_gradients_step_lowers_the_loss():
    net = Network((3, 4, 2), seed=0)
    X, Y = random_problem(6, 3, 2)
    before, grad_W, grad_b = fastprop.gradients(net, X, Y)
    for W, b, gW, gb in zip(net.weights, net.biases, grad_W, grad_b, strict=True):
        W -= 0.1 * gW
        b -= 0.1 * gb
    assert net.loss(X, Y) < before


# --- copy and repr ------------------------------------------------------------------------------


def test_copy_is_independent(dtype):
    X, Y = random_problem(10, 3, 2, dtype=dtype)
    net = fastprop.fit(X, Y, (4,), epochs=2, seed=0)
    dup = net.copy()
    assert dup is not net
    assert dup.dtype == net.dtype
    assert dup.layer_sizes == net.layer_sizes
    np.testing.assert_array_equal(dup.params, net.params)
    assert dup.history == net.history
    assert dup.history is not net.history
    assert not np.shares_memory(dup.params, net.params)
    assert all(np.shares_memory(W, dup.params) for W in dup.weights)
    params = net.params.copy()
    fastprop.fit(X, Y, network=dup, epochs=1, seed=0)
    dup.weights[0][0, 0] = 99.0
    np.testing.assert_array_equal(net.params, params)
    assert len(net.history) == 2
    assert len(dup.history) == 3


def test_repr():
    net = Network((3, 4, 1), seed=0)
    assert repr(net) == "Network(3-4-1, dtype=float64, epochs_trained=0)"
    net32 = Network((2, 1), dtype=np.float32)
    assert repr(net32) == "Network(2-1, dtype=float32, epochs_trained=0)"
    X, Y = random_problem(5, 3, 1)
    fastprop.fit(X, Y, network=net, epochs=3, seed=0)
    assert repr(net) == "Network(3-4-1, dtype=float64, epochs_trained=3)"


def test_pickle_keeps_weights_as_views_of_params():
    X, Y = random_problem(8, 3, 2)
    net = fastprop.fit(X, Y, hidden=(4,), epochs=3, seed=0)
    copy = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(copy.predict(X), net.predict(X))
    assert copy.history == net.history
    # Training the copy moves its weights: they still alias its params.
    before = copy.weights[0].copy()
    fastprop.fit(X, Y, network=copy, epochs=1, seed=0)
    assert not np.array_equal(copy.weights[0], before)
    for l, (W, b) in enumerate(zip(copy.weights, copy.biases, strict=True)):
        assert np.shares_memory(W, copy.params) and np.shares_memory(b, copy.params), l
