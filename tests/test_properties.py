"""Property-based tests (hypothesis): random problems against the reference.

Hypothesis draws an architecture (0-4 hidden layers, widths 1-70), data, a
mode, batch size, loss, reduction, dtype, learning rate, shuffling and seed;
then

- compiled training (``fastprop.fit`` or ``Trainer`` epoch by epoch, in
  blocks of any size) equals ``reference.train`` from the same weights;
- ``fastprop.gradients`` equals ``reference.gradients`` and, in float64,
  central differences of the reference loss along random directions and
  single coordinates.

The profile comes from ``FASTPROP_HYPOTHESIS_PROFILE`` (``conftest.py``): "ci"
by default (25 derandomized examples per test), "long" on demand. The kernels
are compiled per dtype, not per shape, so examples do not recompile.
"""

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

import fastprop
from conftest import tolerance
from fastprop import Network, Trainer, reference

MODES = ("sgd", "minibatch", "batch")
DTYPES = (np.float64, np.float32)


@st.composite
def architectures(draw, max_width=70):
    hidden = draw(st.lists(st.integers(1, max_width), min_size=0, max_size=4))
    n_in = draw(st.integers(1, max_width))
    n_out = draw(st.integers(1, min(max_width, 12)))
    return (n_in, *hidden, n_out)


@st.composite
def datasets(draw, sizes, dtype, max_rows=40):
    """(X, Y): rows drawn from one of several input distributions; Y in [0, 1]."""
    n = draw(st.integers(1, max_rows))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["unit", "normal", "binary", "constant"]))
    shape = (n, sizes[0])
    if kind == "unit":
        X = rng.random(shape)
    elif kind == "normal":
        X = rng.standard_normal(shape) * draw(st.sampled_from([0.1, 1.0, 3.0]))
    elif kind == "binary":
        X = rng.integers(0, 2, shape).astype(float)
    else:
        X = np.full(shape, draw(st.sampled_from([0.0, 1.0, -0.5])))
    # Sums over wide layers stay of order one, as with any sensible scaling of inputs.
    X /= np.sqrt(sizes[0])
    y_kind = draw(st.sampled_from(["unit", "binary"]))
    Y = rng.random((n, sizes[-1])) if y_kind == "unit" else rng.integers(0, 2, (n, sizes[-1]))
    return X.astype(dtype), Y.astype(dtype)


def assert_close(comp, ref, dtype, what="", rtol=None):
    """conftest's tolerances (or a larger ``rtol``), atol scaled to the array's largest value.

    An element can be small only by cancellation (a weight that drifted near
    0), so its rounding error is that of the array's scale, as in a normwise
    comparison.
    """
    base_rtol, atol = tolerance(dtype)
    rtol = max(base_rtol, rtol or 0.0)
    ref = np.asarray(ref)
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    np.testing.assert_allclose(comp, ref, rtol=rtol, atol=max(atol, rtol * scale), err_msg=what)


def update_count(n, options):
    """Parameter updates a training run makes: per sample, per batch or per epoch."""
    mode, epochs = options["mode"], options["epochs"]
    per_epoch = {"sgd": n, "minibatch": -(-n // options["batch_size"]), "batch": 1}[mode]
    return per_epoch * epochs


def normwise_difference(arrays, refs):
    return max(
        float(np.max(np.abs(a - r))) / max(float(np.max(np.abs(r))), 1e-30)
        for a, r in zip(arrays, refs, strict=True)
    )


def training_tolerance(net, X, Y, options, ref_W, ref_b, ref_history):
    """How far two correct implementations may drift apart on this problem.

    Two roundings differ (fastmath contracts to FMA and reorders sums, NumPy
    does neither), and every update carries the earlier differences forward,
    amplified by lr times the loss curvature. So: conftest's rtol once per
    update, or 100 times the drift of the reference itself when its starting
    weights are moved by a few units in the last place, whichever is larger.
    Some random problems are that ill-conditioned (xavier's sigmoid bound,
    lr = 2, per-sample steps); a real bug, a wrong index or a missing term, is
    off by orders of magnitude more.
    """
    dtype = net.dtype.type
    rng = np.random.default_rng(0)
    eps = np.finfo(dtype).eps
    per_W = [(W * (1 + 4 * eps * rng.standard_normal(W.shape))).astype(dtype) for W in net.weights]
    per_b = [b.copy() for b in net.biases]
    per_history = reference.train(per_W, per_b, X, Y, **options)
    drift = normwise_difference(
        [*per_W, *per_b, np.array(per_history)], [*ref_W, *ref_b, np.array(ref_history)]
    )
    return max(tolerance(dtype)[0] * update_count(X.shape[0], options), 100 * drift)


def copy_params(net):
    return [W.copy() for W in net.weights], [b.copy() for b in net.biases]


@st.composite
def training_problems(draw):
    dtype = draw(st.sampled_from(DTYPES))
    sizes = draw(architectures())
    X, Y = draw(datasets(sizes, dtype))
    n = X.shape[0]
    options = dict(
        mode=draw(st.sampled_from(MODES)),
        batch_size=draw(st.integers(1, n + 3)),
        lr=draw(st.sampled_from([0.01, 0.1, 0.5, 1.0, 2.0])),
        epochs=draw(st.integers(1, 3)),
        loss=draw(st.sampled_from(["mse", "bce"])),
        reduction=draw(st.sampled_from(["mean", "sum"])),
        shuffle=draw(st.booleans()),
        seed=draw(st.integers(0, 2**31)),
    )
    init = draw(st.sampled_from(["xavier", "uniform"]))
    net = Network(sizes, seed=draw(st.integers(0, 1000)), init=init, dtype=dtype)
    driver = draw(st.sampled_from(["fit", "trainer-epochs", "trainer-blocks"]))
    block = draw(st.integers(1, 3))
    return net, X, Y, options, driver, block


def train_compiled(net, X, Y, options, driver, block):
    if driver == "fit":
        fastprop.fit(X, Y, network=net, **options)
        return
    kwargs = {k: v for k, v in options.items() if k != "epochs"}
    trainer = Trainer(net, X, Y, **kwargs)
    if driver == "trainer-epochs":
        for _ in range(options["epochs"]):
            trainer.epoch()
    else:
        # A few epochs per compiled call: block boundaries must not change the result.
        trainer.max_block = block
        trainer.train(options["epochs"])


@given(training_problems())
def test_training_equals_reference(problem):
    net, X, Y, options, driver, block = problem
    dtype = net.dtype.type
    ref_W, ref_b = copy_params(net)
    ref_history = reference.train(ref_W, ref_b, X, Y, **options)
    # The sum reduction on many rows, or a large lr, can push a sigmoid into saturation,
    # where float32 roundings are amplified; such runs are not this test's subject.
    assume(all(np.isfinite(h) for h in ref_history))
    rtol = training_tolerance(net, X, Y, options, ref_W, ref_b, ref_history)
    train_compiled(net, X, Y, options, driver, block)
    assert len(net.history) == len(ref_history) == options["epochs"]
    assert_close(np.array(net.history), np.array(ref_history), dtype, "history", rtol)
    for l in range(len(ref_W)):
        assert net.weights[l].dtype == np.dtype(dtype)
        assert_close(net.weights[l], ref_W[l], dtype, f"weights[{l}]", rtol)
        assert_close(net.biases[l], ref_b[l], dtype, f"biases[{l}]", rtol)


@st.composite
def gradient_problems(draw, dtype=None):
    dtype = dtype or draw(st.sampled_from(DTYPES))
    sizes = draw(architectures())
    X, Y = draw(datasets(sizes, dtype))
    net = Network(sizes, seed=draw(st.integers(0, 1000)), init="xavier", dtype=dtype)
    loss = draw(st.sampled_from(["mse", "bce"]))
    reduction = draw(st.sampled_from(["mean", "sum"]))
    return net, X, Y, loss, reduction, draw(st.integers(0, 2**32 - 1))


@given(gradient_problems())
def test_gradients_equal_reference(problem):
    net, X, Y, loss, reduction, _ = problem
    comp_loss, comp_W, comp_b = fastprop.gradients(net, X, Y, loss=loss, reduction=reduction)
    ref_loss, ref_W, ref_b = reference.gradients(net.weights, net.biases, X, Y, loss, reduction)
    dtype = net.dtype.type
    assert_close(comp_loss, ref_loss, dtype, "loss")
    for l in range(len(ref_W)):
        assert_close(comp_W[l], ref_W[l], dtype, f"grad_W[{l}]")
        assert_close(comp_b[l], ref_b[l], dtype, f"grad_b[{l}]")


def reference_loss(net, params, X, Y, loss, reduction):
    """The reference loss at another parameter vector of ``net``'s layout."""
    probe = Network.from_arrays(net.weights, net.biases)
    probe.params[...] = params
    y_hat = reference.forward(probe.weights, probe.biases, X)[-1]
    total = reference.loss(y_hat, Y, loss).sum()
    return total / X.shape[0] if reduction == "mean" else total


@given(gradient_problems(dtype=np.float64))
def test_gradients_equal_central_differences(problem):
    """float64: along 2 random directions and 3 coordinates, to O(h²) plus rounding."""
    net, X, Y, loss, reduction, seed = problem
    y_hat = reference.forward(net.weights, net.biases, X)[-1]
    if loss == "bce":
        # The bce clip at eps makes the loss flat where an output rounds to 0 or 1.
        eps = 1e-6
        assume(((y_hat > eps) & (y_hat < 1 - eps)).all())
    _, comp_W, comp_b = fastprop.gradients(net, X, Y, loss=loss, reduction=reduction)
    flat_grad = Network.from_arrays(comp_W, comp_b).params
    theta = net.params.copy()
    rng = np.random.default_rng(seed)
    directions = [rng.standard_normal(theta.size) for _ in range(2)]
    for i in rng.choice(theta.size, size=min(3, theta.size), replace=False):
        e = np.zeros(theta.size)
        e[i] = 1.0
        directions.append(e)
    h = 1e-5
    for v in directions:
        v = v / np.linalg.norm(v)
        up = reference_loss(net, theta + h * v, X, Y, loss, reduction)
        down = reference_loss(net, theta - h * v, X, Y, loss, reduction)
        fd = (up - down) / (2 * h)
        exact = flat_grad @ v
        # Truncation error ~h² times third derivatives, rounding ~eps·L/h.
        scale = abs(up) + abs(down) + 1.0
        assert abs(fd - exact) <= 1e-6 * scale + 1e-6 * abs(exact), (fd, exact)
    np.testing.assert_array_equal(net.params, theta)  # gradients left the network alone
