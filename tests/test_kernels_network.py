"""Whole-network kernels (``kernels/network.py``) called directly.

The flat layout comes from ``fastprop.Network`` and the buffers from
``fastprop.workspace.Workspace``; results (``comp_*``) are compared with
``reference.forward`` and ``reference.gradients(..., reduction="sum")``
(``ref_*``), with chunk sizes that do and do not divide the row count.
"""

import numpy as np
import pytest

from conftest import assert_close, random_problem
from fastprop import Network, kernels, reference
from fastprop.workspace import LOSS_CODES, Workspace

N = 17  # prime: no chunk size below divides it

ARCHS = {
    "no-hidden-5-3": (5, 3),
    "single-units-1-1-1": (1, 1, 1),
    "deep-narrow-4-2-2-2-2-3": (4, 2, 2, 2, 2, 3),
    "wide-20-150-7": (20, 150, 7),
}
ARCH_PARAMS = [pytest.param(s, id=k) for k, s in ARCHS.items()]
CHUNK_PARAMS = [
    pytest.param(1, id="chunk1"),
    pytest.param(3, id="chunk3"),
    pytest.param(7, id="chunk7"),
    pytest.param(N, id="chunk-n"),
    pytest.param(N + 5, id="chunk-over-n"),
]
LOSS_PARAMS = [pytest.param("mse", id="mse"), pytest.param("bce", id="bce")]


def make_net(sizes, dtype, seed=0):
    # "uniform" also draws the biases, so a bias bug cannot hide behind zeros.
    return Network(sizes, seed=seed, init="uniform", dtype=dtype)


def unflatten(flat, sizes, offsets):
    """The documented layout: at offsets[l], W_l row-major, then b_l."""
    Ws, bs = [], []
    for l, start in enumerate(offsets):
        n_in, n_out = sizes[l], sizes[l + 1]
        Ws.append(flat[start : start + n_in * n_out].reshape(n_in, n_out))
        bs.append(flat[start + n_in * n_out : start + n_in * n_out + n_out])
    return Ws, bs


def nontrivial_order(n, seed=1):
    order = np.random.default_rng(seed).permutation(n).astype(np.int64)
    assert not np.array_equal(order, np.arange(n))
    return order


def predict(net, X, ws):
    # NaN-filled so that a row the kernel forgets to write shows up.
    out = np.full((X.shape[0], net.n_outputs), np.nan, dtype=net.dtype)
    kernels.predict_into(
        X, net.params, net._sizes, net._offsets, out, ws.acts, ws.act_off, ws.chunk
    )
    return out


def add_gradient(net, X, Y, order, start, stop, ws, grad, loss):
    return kernels.add_gradient(
        X, Y, order, start, stop, net.params, net._sizes, net._offsets, grad,
        ws.acts, ws.deltas, ws.act_off, ws.chunk, LOSS_CODES[loss],
    )


# --- layout ------------------------------------------------------------------------------


@pytest.mark.parametrize("sizes", ARCH_PARAMS)
def test_network_views_follow_the_kernel_layout(sizes):
    net = make_net(sizes, np.float64)
    Ws, bs = unflatten(net.params, net.layer_sizes, net._offsets)
    assert net._sizes.dtype == np.int64 and net._offsets.dtype == np.int64
    assert net.params.flags.c_contiguous
    for W, W_view, b, b_view in zip(Ws, net.weights, bs, net.biases, strict=True):
        np.testing.assert_array_equal(W, W_view)
        np.testing.assert_array_equal(b, b_view)
    assert net._offsets[-1] + Ws[-1].size + bs[-1].size == net.params.size


# --- predict_into -------------------------------------------------------------------------


@pytest.mark.parametrize("chunk", CHUNK_PARAMS)
@pytest.mark.parametrize("sizes", ARCH_PARAMS)
def test_predict_into_matches_reference_forward(sizes, chunk, dtype):
    net = make_net(sizes, dtype)
    X, _ = random_problem(N, sizes[0], sizes[-1], dtype)
    ws = Workspace(net, chunk)
    before = [X.copy(), net.params.copy()]

    comp_y = predict(net, X, ws)
    ref_y = reference.forward(net.weights, net.biases, X)[-1]

    assert comp_y.dtype == dtype
    assert_close(comp_y, ref_y, dtype, "network output")
    np.testing.assert_array_equal(X, before[0])
    np.testing.assert_array_equal(net.params, before[1])


def test_predict_into_one_row(dtype):
    net = make_net(ARCHS["deep-narrow-4-2-2-2-2-3"], dtype)
    X, _ = random_problem(1, 4, 3, dtype)
    comp_y = predict(net, X, Workspace(net, 1))
    assert_close(comp_y, reference.forward(net.weights, net.biases, X)[-1], dtype)


@pytest.mark.parametrize("chunk", [pytest.param(3, id="chunk3"), pytest.param(N, id="chunk-n")])
def test_predict_into_reused_workspace_is_identical(chunk, dtype):
    net = make_net(ARCHS["wide-20-150-7"], dtype)
    X, _ = random_problem(N, 20, 7, dtype, seed=1)
    X_other, _ = random_problem(N + 4, 20, 7, dtype, seed=2)
    ws = Workspace(net, chunk)

    first = predict(net, X, ws)
    predict(net, X_other, ws)  # leaves other values in every block
    again = predict(net, X, ws)
    fresh = predict(net, X, Workspace(net, chunk))

    np.testing.assert_array_equal(again, first)
    np.testing.assert_array_equal(fresh, first)


# --- forward_block --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("m", "chunk"),
    [pytest.param(1, 1, id="1of1"), pytest.param(5, 8, id="5of8"), pytest.param(8, 8, id="8of8")],
)
@pytest.mark.parametrize("sizes", ARCH_PARAMS)
def test_forward_block_fills_every_layer(sizes, m, chunk, dtype):
    net = make_net(sizes, dtype)
    X, _ = random_problem(m, sizes[0], sizes[-1], dtype)
    ws = Workspace(net, chunk)
    ws.acts[:] = np.nan  # every layer's block must be overwritten
    ws.acts[ws.act_off[0] : ws.act_off[0] + X.size] = X.ravel()

    kernels.forward_block(net.params, net._sizes, net._offsets, ws.acts, ws.act_off, m)
    ref_a = reference.forward(net.weights, net.biases, X)

    for l, ref_a_l in enumerate(ref_a):
        start = ws.act_off[l]
        comp_a_l = ws.acts[start : start + m * sizes[l]].reshape(m, sizes[l])
        assert_close(comp_a_l, ref_a_l, dtype, f"a[{l}]")


# --- add_gradient ----------------------------------------------------------------------------


@pytest.mark.parametrize("loss", LOSS_PARAMS)
@pytest.mark.parametrize("chunk", CHUNK_PARAMS)
@pytest.mark.parametrize("sizes", ARCH_PARAMS)
def test_add_gradient_matches_reference_sum(sizes, chunk, loss, dtype):
    net = make_net(sizes, dtype)
    X, Y = random_problem(N, sizes[0], sizes[-1], dtype)
    order = nontrivial_order(N)
    ws = Workspace(net, chunk)
    before = [X.copy(), Y.copy(), order.copy(), net.params.copy()]
    comp_grad = np.zeros_like(net.params)

    comp_loss = add_gradient(net, X, Y, order, 0, N, ws, comp_grad, loss)
    rows = order  # all of them, in the permuted order
    ref_loss, ref_gW, ref_gb = reference.gradients(
        net.weights, net.biases, X[rows], Y[rows], loss, "sum"
    )

    comp_gW, comp_gb = unflatten(comp_grad, sizes, net._offsets)
    assert comp_grad.dtype == dtype
    assert_close(comp_loss, ref_loss, dtype, "summed loss")
    for l in range(len(sizes) - 1):
        assert_close(comp_gW[l], ref_gW[l], dtype, f"grad_W[{l}]")
        assert_close(comp_gb[l], ref_gb[l], dtype, f"grad_b[{l}]")
    for b, a in zip(before, [X, Y, order, net.params], strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("start", "stop"),
    [pytest.param(5, 12, id="middle"), pytest.param(16, 17, id="last-one"),
     pytest.param(0, 1, id="first-one"), pytest.param(4, 4, id="empty")],
)
def test_add_gradient_slice_of_order_adds_to_grad(start, stop, dtype):
    sizes = ARCHS["deep-narrow-4-2-2-2-2-3"]
    net = make_net(sizes, dtype)
    X, Y = random_problem(N, sizes[0], sizes[-1], dtype)
    order = nontrivial_order(N)
    ws = Workspace(net, 3)
    grad0 = np.random.default_rng(5).standard_normal(net.params.size).astype(dtype)
    comp_grad = grad0.copy()

    comp_loss = add_gradient(net, X, Y, order, start, stop, ws, comp_grad, "mse")
    rows = order[start:stop]
    ref_loss, ref_gW, ref_gb = reference.gradients(
        net.weights, net.biases, X[rows], Y[rows], "mse", "sum"
    )

    ref_grad = grad0.copy()
    ref_W, ref_b = unflatten(ref_grad, sizes, net._offsets)
    for l in range(len(sizes) - 1):
        ref_W[l] += ref_gW[l]
        ref_b[l] += ref_gb[l]
    assert_close(comp_loss, ref_loss, dtype, "summed loss of the slice")
    assert_close(comp_grad, ref_grad, dtype, "grad0 + gradient of the slice")


@pytest.mark.parametrize("loss", LOSS_PARAMS)
def test_add_gradient_reused_workspace_is_identical(loss, dtype):
    sizes = ARCHS["wide-20-150-7"]
    net = make_net(sizes, dtype)
    X, Y = random_problem(N, 20, 7, dtype)
    X2, Y2 = random_problem(N, 20, 7, dtype, seed=9)
    order = nontrivial_order(N)
    ws = Workspace(net, 7)

    g1 = np.zeros_like(net.params)
    l1 = add_gradient(net, X, Y, order, 0, N, ws, g1, loss)
    add_gradient(net, X2, Y2, order, 0, N, ws, np.zeros_like(net.params), loss)
    g2 = np.zeros_like(net.params)
    l2 = add_gradient(net, X, Y, order, 0, N, ws, g2, loss)
    g3 = np.zeros_like(net.params)
    l3 = add_gradient(net, X, Y, order, 0, N, Workspace(net, 7), g3, loss)

    assert l1 == l2 == l3
    np.testing.assert_array_equal(g2, g1)
    np.testing.assert_array_equal(g3, g1)


def test_add_gradient_order_equals_permuted_data(dtype):
    """Visiting X in ``order`` is the same as visiting ``X[order]`` in order."""
    sizes = ARCHS["deep-narrow-4-2-2-2-2-3"]
    net = make_net(sizes, dtype)
    X, Y = random_problem(N, sizes[0], sizes[-1], dtype)
    order = nontrivial_order(N)
    ws = Workspace(net, N)  # one block, so the summation order is the same
    g_perm, g_copy = np.zeros_like(net.params), np.zeros_like(net.params)

    l_perm = add_gradient(net, X, Y, order, 0, N, ws, g_perm, "bce")
    l_copy = add_gradient(
        net, np.ascontiguousarray(X[order]), np.ascontiguousarray(Y[order]),
        np.arange(N, dtype=np.int64), 0, N, ws, g_copy, "bce",
    )

    assert l_perm == l_copy
    np.testing.assert_array_equal(g_perm, g_copy)


# --- all_finite --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf], ids=["nan", "+inf", "-inf"])
@pytest.mark.parametrize("where", [0, 500, 1022, 1023], ids=["first", "middle", "penult", "last"])
def test_all_finite_detects_non_finite_anywhere(value, where, dtype):
    x = np.linspace(-3, 3, 1024).astype(dtype)
    x[where] = value
    assert not kernels.all_finite(x)


@pytest.mark.parametrize("size", [1, 7, 1024], ids=["size1", "size7", "size1024"])
def test_all_finite_accepts_finite(size, dtype):
    info = np.finfo(dtype)
    x = np.resize(np.array([0, -0.0, info.max, -info.max, info.tiny, info.smallest_subnormal,
                            1.5, -2.5], dtype=dtype), size)
    assert kernels.all_finite(x)
    assert kernels.all_finite(np.zeros(0, dtype=dtype))


def test_all_finite_on_network_params(dtype):
    net = make_net(ARCHS["wide-20-150-7"], dtype)
    assert kernels.all_finite(net.params)
    net.biases[-1][-1] = np.nan
    assert not kernels.all_finite(net.params)


# --- the BLAS path ---------------------------------------------------------------------------

# Layers whose block costs at least BLAS_MIN_MACS multiply-adds go through
# np.dot; these shapes mix both paths within one network.
BLAS_ARCHS = {
    "all-blas-40-64-32": ((40, 64, 32), 32),
    "blas-then-rows-40-64-32-16": ((40, 64, 32, 16), 32),
    "rows-then-blas-3-40-1024-3": ((3, 40, 1024, 3), 32),
}


BLAS_PARAMS = [pytest.param(*v, id=k) for k, v in BLAS_ARCHS.items()]


def blas_layers(sizes, chunk):
    return [chunk * sizes[l] * sizes[l + 1] >= kernels.config.BLAS_MIN_MACS
            for l in range(len(sizes) - 1)]


@pytest.mark.parametrize("n", [pytest.param(32, id="one-block"), pytest.param(77, id="3-blocks")])
@pytest.mark.parametrize("loss", LOSS_PARAMS)
@pytest.mark.parametrize(("sizes", "chunk"), BLAS_PARAMS)
def test_add_gradient_blas_path_matches_reference(sizes, chunk, loss, n, dtype):
    assert any(blas_layers(sizes, chunk)), "the case must exercise BLAS"
    net = make_net(sizes, dtype)
    # Small weights keep the sigmoids off their flat ends, so the deltas are not ~0.
    net.params[...] *= dtype(0.1)
    X, Y = random_problem(n, sizes[0], sizes[-1], dtype)
    order = nontrivial_order(n)
    ws = Workspace(net, chunk)
    comp_grad = np.full_like(net.params, 0.25)  # adds to what is there
    comp_loss = add_gradient(net, X, Y, order, 0, n, ws, comp_grad, loss)
    ref_loss, ref_gW, ref_gb = reference.gradients(
        net.weights, net.biases, X[order], Y[order], loss, "sum"
    )
    comp_gW, comp_gb = unflatten(comp_grad - dtype(0.25), sizes, net._offsets)
    assert_close(comp_loss, ref_loss, dtype, "summed loss")
    for l in range(len(sizes) - 1):
        assert_close(comp_gW[l], ref_gW[l], dtype, f"grad_W[{l}]")
        assert_close(comp_gb[l], ref_gb[l], dtype, f"grad_b[{l}]")


@pytest.mark.parametrize(("sizes", "chunk"), BLAS_PARAMS)
def test_predict_blas_path_matches_reference(sizes, chunk, dtype):
    net = make_net(sizes, dtype)
    net.params[...] *= dtype(0.1)
    X, _ = random_problem(77, sizes[0], sizes[-1], dtype)
    comp_y = predict(net, X, Workspace(net, chunk))
    assert_close(comp_y, reference.forward(net.weights, net.biases, X)[-1], dtype, "output")
