"""The NumPy reference itself, and the compiled gradient users check against.

Everything else is tested against ``fastprop.reference``, so here the
reference is held to central differences and to one 3-2-1 network whose every
number was worked out by hand.
"""

import numpy as np
import pytest

from conftest import random_problem
from fastprop import Network, gradients, reference

EPS = 1e-6
# Central differences are exact to O(EPS²) ≈ 1e-12 but lose ~1e-16 / EPS ≈ 1e-10
# of the loss to rounding; atol covers gradient entries that are nearly zero.
FD_RTOL, FD_ATOL = 1e-6, 1e-8

ARCHS = {
    "no-hidden-3-2": (3, 2),
    "1-hidden-3-4-2": (3, 4, 2),
    "2-hidden-3-4-3-2": (3, 4, 3, 2),
}
ARCH_PARAMS = [pytest.param(s, id=k) for k, s in ARCHS.items()]
LOSS_PARAMS = [pytest.param("mse", id="mse"), pytest.param("bce", id="bce")]
REDUCTION_PARAMS = [pytest.param("mean", id="mean"), pytest.param("sum", id="sum")]


def random_params(sizes, seed=0):
    rng = np.random.default_rng(seed)
    pairs = zip(sizes[:-1], sizes[1:], strict=True)
    Ws = [rng.uniform(-1, 1, (n_in, n_out)) for n_in, n_out in pairs]
    bs = [rng.uniform(-1, 1, n_out) for n_out in sizes[1:]]
    return Ws, bs


def central_differences(loss_fn, params):
    """∂loss/∂p for every entry of every array in ``params``, perturbed in place."""
    grads = []
    for P in params:
        g = np.zeros_like(P)
        for idx in np.ndindex(P.shape):
            p0 = P[idx]
            P[idx] = p0 + EPS
            up = loss_fn()
            P[idx] = p0 - EPS
            down = loss_fn()
            P[idx] = p0
            g[idx] = (up - down) / (2 * EPS)
        grads.append(g)
    return grads


# --- (1) central differences of reference.gradients -----------------------------------


@pytest.mark.parametrize("reduction", REDUCTION_PARAMS)
@pytest.mark.parametrize("loss", LOSS_PARAMS)
@pytest.mark.parametrize("sizes", ARCH_PARAMS)
def test_reference_gradients_match_central_differences(sizes, loss, reduction):
    Ws, bs = random_params(sizes)
    X, Y = random_problem(5, sizes[0], sizes[-1])

    ref_loss, ref_gW, ref_gb = reference.gradients(Ws, bs, X, Y, loss, reduction)
    fd = central_differences(
        lambda: reference.gradients(Ws, bs, X, Y, loss, reduction)[0], Ws + bs
    )

    m = X.shape[0]
    per_sample = reference.loss(reference.forward(Ws, bs, X)[-1], Y, loss)
    np.testing.assert_allclose(ref_loss, per_sample.sum() / (m if reduction == "mean" else 1))
    for l, (gW, gb) in enumerate(zip(ref_gW, ref_gb, strict=True)):
        assert gW.shape == Ws[l].shape and gb.shape == bs[l].shape
        np.testing.assert_allclose(gW, fd[l], rtol=FD_RTOL, atol=FD_ATOL, err_msg=f"W[{l}]")
        np.testing.assert_allclose(
            gb, fd[len(Ws) + l], rtol=FD_RTOL, atol=FD_ATOL, err_msg=f"b[{l}]"
        )


# --- (2) the compiled fastprop.gradients against differences of network.loss ----------


@pytest.mark.parametrize("reduction", REDUCTION_PARAMS)
@pytest.mark.parametrize("loss", LOSS_PARAMS)
@pytest.mark.parametrize("sizes", ARCH_PARAMS)
def test_compiled_gradients_match_central_differences(sizes, loss, reduction):
    net = Network(sizes, seed=1, init="uniform")
    X, Y = random_problem(7, sizes[0], sizes[-1], seed=1)

    comp_loss, comp_gW, comp_gb = gradients(net, X, Y, loss=loss, reduction=reduction)
    # net.weights / net.biases are views into net.params: perturbing them moves the network.
    fd = central_differences(
        lambda: net.loss(X, Y, loss=loss, reduction=reduction), net.weights + net.biases
    )
    ref_loss, ref_gW, ref_gb = reference.gradients(net.weights, net.biases, X, Y, loss, reduction)

    assert isinstance(comp_loss, float)
    np.testing.assert_allclose(comp_loss, ref_loss, rtol=1e-12)
    n_layers = len(sizes) - 1
    for l in range(n_layers):
        np.testing.assert_allclose(comp_gW[l], fd[l], rtol=FD_RTOL, atol=FD_ATOL)
        np.testing.assert_allclose(comp_gb[l], fd[n_layers + l], rtol=FD_RTOL, atol=FD_ATOL)
        np.testing.assert_allclose(comp_gW[l], ref_gW[l], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(comp_gb[l], ref_gb[l], rtol=1e-12, atol=1e-14)


# --- (3) one 3-2-1 network worked by hand ------------------------------------------------
#
# Two samples; the second is all zeros so only the biases carry it. σ(z) = 1/(1+e^-z);
# the exponentials were taken to 30 digits and every number below is rounded to 17.
# Layer 0: W0 is (3 inputs, 2 hidden), b0 (2,); layer 1: W1 is (2, 1), b1 (1,).

HAND_X = np.array([[1.0, 0.5, -1.0], [0.0, 0.0, 0.0]])
HAND_Y = np.array([[0.25], [0.75]])
HAND_W0 = np.array([[0.5, -0.5], [1.0, 0.0], [0.0, 0.25]])
HAND_B0 = np.array([0.0, 0.5])
HAND_W1 = np.array([[1.0], [-2.0]])
HAND_B1 = np.array([0.5])
HAND_LR = 0.5
HAND_RTOL = 1e-9

# z1 = x W0 + b0
#   sample 1: [1(0.5) + 0.5(1) + (-1)(0) + 0,  1(-0.5) + 0.5(0) + (-1)(0.25) + 0.5] = [1, -0.25]
#   sample 2: b0 = [0, 0.5]
Z1 = np.array([[1.0, -0.25], [0.0, 0.5]])
# a1 = σ(z1)
#   σ(1)     = 1 / (1 + 0.36787944117144232) = 1 / 1.3678794411714423 = 0.73105857863000488
#   σ(-0.25) = 1 / (1 + 1.2840254166877415)  = 1 / 2.2840254166877415 = 0.43782349911420190
#   σ(0)     = 0.5
#   σ(0.5)   = 1 / (1 + 0.60653065971263342) = 1 / 1.6065306597126334 = 0.62245933120185457
A1 = np.array([[0.73105857863000488, 0.43782349911420190], [0.5, 0.62245933120185457]])
# z2 = a1 W1 + b1
#   sample 1: 0.73105857863000488(1) + 0.43782349911420190(-2) + 0.5 = 0.35541158040160109
#   sample 2: 0.5(1) + 0.62245933120185457(-2) + 0.5                 = -0.24491866240370913
Z2 = np.array([[0.35541158040160109], [-0.24491866240370913]])
# a2 = σ(z2)
#   sample 1: 1 / (1 + 0.70088491334191684) = 0.58792925503418648   (1 - a2 = 0.41207074496581352)
#   sample 2: 1 / (1 + 1.2775173987844324)  = 0.43907458205751790   (1 - a2 = 0.56092541794248210)
A2 = np.array([[0.58792925503418648], [0.43907458205751790]])

# mse per sample: ½ (y - a2)²
#   sample 1: ½ (0.25 - 0.58792925503418648)² = ½ (0.33792925503418648)² = 0.057098090703980126
#   sample 2: ½ (0.75 - 0.43907458205751790)² = ½ (0.31092541794248210)² = 0.048337307761353584
LOSS_MSE = np.array([0.057098090703980126, 0.048337307761353584])
# bce per sample: -[y ln a2 + (1 - y) ln(1 - a2)]
#   sample 1: -[0.25 (-0.53114865288959839) + 0.75 (-0.88656023329119948)] = 0.79770733819079920
#   sample 2: -[0.75 (-0.82308598954515940) + 0.25 (-0.57816732714145027)] = 0.76185632394423211
LOSS_BCE = np.array([0.79770733819079920, 0.76185632394423211])

# δ2 (mse) = (a2 - y) a2 (1 - a2)
#   sample 1:  0.33792925503418648 (0.58792925503418648) (0.41207074496581352)
#            =  0.081869595511949267
#   sample 2: -0.31092541794248210 (0.43907458205751790) (0.56092541794248210)
#            = -0.076577228389742483
DELTA2_MSE = np.array([[0.081869595511949267], [-0.076577228389742483]])
# δ2 (bce) = a2 - y
DELTA2_BCE = np.array([[0.33792925503418648], [-0.31092541794248210]])
# σ'(z1) = a1 (1 - a1)
#   sample 1: [0.73105857863000488 (0.26894142136999512), 0.43782349911420190 (0.56217650088579810)]
#           = [0.19661193324148185, 0.24613408273759835]
#   sample 2: [0.5 (0.5), 0.62245933120185457 (0.37754066879814543)]
#           = [0.25, 0.23500371220159449]
# δ1 (mse) = (δ2 W1ᵀ) ⊙ σ'(z1)
#   sample 1: [ 0.081869595511949267 (1) (0.19661193324148185),
#               0.081869595511949267 (-2) (0.24613408273759835)]
#           = [ 0.016096539447302492, -0.040301795590863662]
#   sample 2: [-0.076577228389742483 (1) (0.25),
#              -0.076577228389742483 (-2) (0.23500371220159449)]
#           = [-0.019144307097435621,  0.035991865883397627]
DELTA1_MSE = np.array(
    [[0.016096539447302492, -0.040301795590863662], [-0.019144307097435621, 0.035991865883397627]]
)

# Gradients, mse, mean over the 2 samples:
# grad_W1 = a1ᵀ δ2 / 2
#   [0.73105857863000488 (0.081869595511949267) + 0.5 (-0.076577228389742483)] / 2
#     = (0.059851470127979058 - 0.038288614194871242) / 2 =  0.010781427966553908
#   [0.43782349911420190 (0.081869595511949267) + 0.62245933120185457 (-0.076577228389742483)] / 2
#     = (0.035844432778105987 - 0.047666210368770777) / 2 = -0.0059108887953323947
GRAD_W1 = np.array([[0.010781427966553908], [-0.0059108887953323947]])
# grad_b1 = (0.081869595511949267 - 0.076577228389742483) / 2 = 0.0026461835611033916
GRAD_B1 = np.array([0.0026461835611033916])
# grad_W0 = xᵀ δ1 / 2; sample 2 has x = 0, so row i is x_i (sample 1) δ1 (sample 1) / 2:
#   x_1 =  1  : [ 0.016096539447302492, -0.040301795590863662] / 2
#   x_2 =  0.5: [ 0.016096539447302492, -0.040301795590863662] / 4
#   x_3 = -1  : [-0.016096539447302492,  0.040301795590863662] / 2
GRAD_W0 = np.array(
    [
        [0.0080482697236512458, -0.020150897795431831],
        [0.0040241348618256229, -0.010075448897715916],
        [-0.0080482697236512458, 0.020150897795431831],
    ]
)
# grad_b0 = (δ1 sample 1 + δ1 sample 2) / 2
#   [( 0.016096539447302492 - 0.019144307097435621) / 2,
#    (-0.040301795590863662 + 0.035991865883397627) / 2]
GRAD_B0 = np.array([-0.0015238838250665647, -0.0021549648537330176])
# mean mse = (0.057098090703980126 + 0.048337307761353584) / 2
LOSS_MSE_MEAN = 0.052717699232666855

# One step W ← W - 0.5 grad_W:
#   W1 = [1 - 0.5 (0.010781427966553908), -2 - 0.5 (-0.0059108887953323947)]
#      = [1 - 0.0053907139832769540, -2 + 0.0029554443976661973]
NEW_W1 = np.array([[0.99460928601672305], [-1.9970445556023338]])
#   b1 = 0.5 - 0.5 (0.0026461835611033916) = 0.5 - 0.0013230917805516958
NEW_B1 = np.array([0.49867690821944830])
#   W0 = W0 - 0.5 GRAD_W0
#      = [[0.5 - 0.0040241348618256229, -0.5 + 0.010075448897715916],
#         [1   - 0.0020120674309128114,  0   + 0.0050377244488579578],
#         [0   + 0.0040241348618256229,  0.25 - 0.010075448897715916]]
NEW_W0 = np.array(
    [
        [0.49597586513817438, -0.48992455110228408],
        [0.99798793256908719, 0.0050377244488579578],
        [0.0040241348618256229, 0.23992455110228408],
    ]
)
#   b0 = [0 + 0.00076194191253328234, 0.5 + 0.0010774824268665088]
NEW_B0 = np.array([0.00076194191253328234, 0.50107748242686651])


def hand_params():
    return [HAND_W0.copy(), HAND_W1.copy()], [HAND_B0.copy(), HAND_B1.copy()]


def assert_hand(actual, expected, what):
    np.testing.assert_allclose(actual, expected, rtol=HAND_RTOL, atol=0, err_msg=what)


def test_hand_network_forward():
    Ws, bs = hand_params()
    a = reference.forward(Ws, bs, HAND_X)

    assert len(a) == 3
    np.testing.assert_array_equal(a[0], HAND_X)
    # The z's above are what the layers compute, and σ of them is what forward keeps.
    assert_hand(HAND_X @ HAND_W0 + HAND_B0, Z1, "z1")
    assert_hand(A1 @ HAND_W1 + HAND_B1, Z2, "z2")
    assert_hand(reference.sigmoid(Z1), A1, "σ(z1)")
    assert_hand(a[1], A1, "a1")
    assert_hand(a[2], A2, "a2")


def test_hand_network_losses():
    Ws, bs = hand_params()
    a2 = reference.forward(Ws, bs, HAND_X)[-1]
    assert_hand(reference.loss(a2, HAND_Y, "mse"), LOSS_MSE, "mse per sample")
    assert_hand(reference.loss(a2, HAND_Y, "bce"), LOSS_BCE, "bce per sample")


def test_hand_network_backward():
    Ws, bs = hand_params()
    a = reference.forward(Ws, bs, HAND_X)

    deltas = reference.backward(Ws, a, HAND_Y, "mse")
    assert len(deltas) == 2
    assert_hand(deltas[1], DELTA2_MSE, "δ2 mse")
    assert_hand(deltas[0], DELTA1_MSE, "δ1 mse")
    assert_hand(reference.backward(Ws, a, HAND_Y, "bce")[1], DELTA2_BCE, "δ2 bce")


def test_hand_network_gradients():
    Ws, bs = hand_params()

    loss_mean, gW, gb = reference.gradients(Ws, bs, HAND_X, HAND_Y, "mse", "mean")
    loss_sum, gW_sum, gb_sum = reference.gradients(Ws, bs, HAND_X, HAND_Y, "mse", "sum")

    assert_hand(loss_mean, LOSS_MSE_MEAN, "mean loss")
    for actual, expected, what in [
        (gW[0], GRAD_W0, "grad_W0"),
        (gb[0], GRAD_B0, "grad_b0"),
        (gW[1], GRAD_W1, "grad_W1"),
        (gb[1], GRAD_B1, "grad_b1"),
    ]:
        assert_hand(actual, expected, what)
    # "sum" is the same without the division by the 2 samples.
    assert_hand(loss_sum, 2 * LOSS_MSE_MEAN, "summed loss")
    for actual, expected in zip(gW_sum + gb_sum, [GRAD_W0, GRAD_W1, GRAD_B0, GRAD_B1], strict=True):
        assert_hand(actual, 2 * expected, "summed gradient")
    # The hand numbers did not touch the parameters.
    np.testing.assert_array_equal(Ws[0], HAND_W0)


def test_hand_network_update():
    Ws, bs = hand_params()
    _, gW, gb = reference.gradients(Ws, bs, HAND_X, HAND_Y, "mse", "mean")

    reference.update(Ws, bs, gW, gb, HAND_LR)

    assert_hand(Ws[0], NEW_W0, "W0 after one step")
    assert_hand(bs[0], NEW_B0, "b0 after one step")
    assert_hand(Ws[1], NEW_W1, "W1 after one step")
    assert_hand(bs[1], NEW_B1, "b1 after one step")


def test_hand_network_one_full_batch_epoch():
    """An epoch of one batch of both samples is exactly that one step."""
    Ws, bs = hand_params()
    order = np.arange(2)
    total = reference.minibatch_epoch(Ws, bs, HAND_X, HAND_Y, order, 2, HAND_LR, "mse", "mean")
    assert_hand(total, LOSS_MSE.sum(), "summed loss of the epoch")
    assert_hand(Ws[0], NEW_W0, "W0")
    assert_hand(bs[1], NEW_B1, "b1")


def test_hand_network_compiled_gradients():
    """fastprop.gradients reproduces the hand numbers too."""
    net = Network.from_arrays([HAND_W0, HAND_W1], [HAND_B0, HAND_B1])
    comp_loss, comp_gW, comp_gb = gradients(net, HAND_X, HAND_Y, loss="mse", reduction="mean")
    assert_hand(comp_loss, LOSS_MSE_MEAN, "mean loss")
    assert_hand(comp_gW[0], GRAD_W0, "grad_W0")
    assert_hand(comp_gW[1], GRAD_W1, "grad_W1")
    assert_hand(comp_gb[0], GRAD_B0, "grad_b0")
    assert_hand(comp_gb[1], GRAD_B1, "grad_b1")
    assert_hand(net.predict(HAND_X), A2, "a2")


# --- (4) reference.train stops at tol ------------------------------------------------------


@pytest.mark.parametrize("mode", ["sgd", "minibatch", "batch"])
def test_reference_train_stops_once_loss_reaches_tol(mode):
    X, Y = random_problem(20, 3, 2, seed=2)
    settings = dict(mode=mode, batch_size=8, lr=2.0, seed=5)

    Ws_full, bs_full = random_params((3, 4, 2), seed=3)
    full = reference.train(Ws_full, bs_full, X, Y, epochs=10, **settings)
    stop_at = 3  # the 4th epoch's loss is the first at or below tol
    tol = full[stop_at]
    assert len(full) == 10
    assert min(full[:stop_at]) > tol, "precondition: the loss must fall over the first epochs"

    Ws, bs = random_params((3, 4, 2), seed=3)
    history = reference.train(Ws, bs, X, Y, epochs=10, tol=tol, **settings)

    Ws_4, bs_4 = random_params((3, 4, 2), seed=3)
    reference.train(Ws_4, bs_4, X, Y, epochs=stop_at + 1, **settings)

    assert history == full[: stop_at + 1]
    assert history[-1] <= tol
    for W, W_4 in zip(Ws + bs, Ws_4 + bs_4, strict=True):
        np.testing.assert_array_equal(W, W_4)


def test_reference_train_runs_every_epoch_when_tol_is_not_reached():
    X, Y = random_problem(20, 3, 2, seed=2)
    Ws, bs = random_params((3, 4, 2), seed=3)
    history = reference.train(Ws, bs, X, Y, epochs=6, tol=1e-12, lr=0.5, seed=5)
    assert len(history) == 6
    assert min(history) > 1e-12
