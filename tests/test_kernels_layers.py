"""Layer kernels (``kernels/layers.py``, ``kernels/scalar.py``) called directly.

Each kernel gets preallocated outputs and is compared with its twin in
``fastprop.reference`` (results named ``ref_*`` and ``comp_*``), in float64 and
float32, over shapes that break index arithmetic: one row, odd rows, a single
unit in or out, and 300 columns.
"""

import re
import warnings

import numpy as np
import pytest
from fastprop.kernels.config import FASTMATH
from fastprop.kernels.expf import exp_nonpositive_64
from numba import njit

from conftest import assert_close
from fastprop import kernels, reference

# (m rows, n_in, n_out) of one layer; hidden_delta reads them as (m, n, n_next).
SHAPES = {
    "1row-1in-1out": (1, 1, 1),
    "1row-4in-3out": (1, 4, 3),
    "7rows-1in-5out": (7, 1, 5),
    "7rows-5in-1out": (7, 5, 1),
    "3rows-300in-2out": (3, 300, 2),
    "5rows-4in-300out": (5, 4, 300),
    "13rows-7in-9out": (13, 7, 9),
}
SHAPE_PARAMS = [pytest.param(s, id=k) for k, s in SHAPES.items()]
LOSS_PARAMS = [
    pytest.param("mse", kernels.LOSS_MSE, id="mse"),
    pytest.param("bce", kernels.LOSS_BCE, id="bce"),
]


def unit_interval(rng, shape, dtype):
    """Values in (0.01, 0.99): activations of a sigmoid that is not saturated."""
    return (0.01 + 0.98 * rng.random(shape)).astype(dtype)


def scaled_normal(rng, shape, fan_in, dtype):
    """N(0, 1/fan_in): keeps sums over 300 terms of order one."""
    return (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(dtype)


def copies(*arrays):
    return [a.copy() for a in arrays]


def assert_unchanged(before, after):
    for i, (b, a) in enumerate(zip(before, after, strict=True)):
        np.testing.assert_array_equal(a, b, err_msg=f"input {i} was modified")


# --- forward_layer ---------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPE_PARAMS)
def test_forward_layer_matches_reference(shape, dtype):
    m, n_in, n_out = shape
    rng = np.random.default_rng(m * 1000 + n_in * 10 + n_out)
    a_in = rng.random((m, n_in)).astype(dtype)
    W = scaled_normal(rng, (n_in, n_out), n_in, dtype)
    b = rng.standard_normal(n_out).astype(dtype)
    before = copies(a_in, W, b)
    # NaN-filled so that an entry the kernel forgets to write shows up.
    comp_a = np.full((m, n_out), np.nan, dtype=dtype)

    kernels.forward_layer(a_in, W, b, comp_a)
    ref_a = reference.forward_layer(a_in, W, b)

    assert comp_a.dtype == dtype
    assert_close(comp_a, ref_a, dtype, "a_out")
    assert_unchanged(before, [a_in, W, b])


def sigmoid_through_forward_layer(z):
    """σ(z) by the kernel: a one-input layer with W = 1, b = 0 computes z exactly."""
    dtype = z.dtype
    a_in = np.ascontiguousarray(z.reshape(-1, 1))
    out = np.empty_like(a_in)
    kernels.forward_layer(a_in, np.ones((1, 1), dtype), np.zeros(1, dtype), out)
    return out[:, 0]


def sigmoid_with_exp_64(z):
    """``reference.sigmoid``'s formula with the kernels' float64 exp, compiled on its own.

    That exp (``kernels.expf.exp_nonpositive_64``) and NumPy's differ in the
    last bit for some arguments, so ``reference.sigmoid`` itself can only be
    matched to 2 ulp; with the same exp the kernel must match bit for bit.
    """
    exp_64 = njit(fastmath=FASTMATH)(exp_nonpositive_64)
    e = np.array([exp_64(-abs(float(v))) for v in z], dtype=z.dtype)
    s = 1 / (1 + e)
    return np.where(z >= 0, s, e * s)


SIGMOID_Z = np.concatenate(
    [
        np.linspace(-1e4, 1e4, 2001),  # saturated on both sides
        np.linspace(-40.0, 40.0, 8001),  # where σ moves
        [0.0, -0.0, 1e-30, -1e-30, 1e4, -1e4, 709.0, -709.0, 800.0, -800.0],
    ]
)


def test_sigmoid_extreme_arguments(dtype):
    z = SIGMOID_Z.astype(dtype)
    before = z.copy()
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        comp_s = sigmoid_through_forward_layer(z)
        ref_s = reference.sigmoid(z)

    assert comp_s.dtype == dtype
    assert np.isfinite(comp_s).all()
    assert ((comp_s >= 0) & (comp_s <= 1)).all()
    assert np.all(np.diff(comp_s[:2001]) >= 0), "σ must be non-decreasing"
    assert (comp_s[z == 1e4] == 1).all() and (comp_s[z == -1e4] == 0).all()
    assert (comp_s[z == 0] == 0.5).all()
    # σ(-z) = 1 - σ(z)
    assert_close(comp_s[2001:10002][::-1], 1 - comp_s[2001:10002], dtype, "symmetry")
    assert_close(comp_s, ref_s, dtype, "sigmoid vs reference")
    if dtype == np.float64:
        np.testing.assert_array_equal(comp_s, sigmoid_with_exp_64(z))
        np.testing.assert_array_max_ulp(comp_s, ref_s, maxulp=2)
    np.testing.assert_array_equal(z, before)


# --- output_delta -------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "loss_kind"), LOSS_PARAMS)
@pytest.mark.parametrize("shape", SHAPE_PARAMS)
def test_output_delta_matches_reference(shape, kind, loss_kind, dtype):
    m, _, n_out = shape
    rng = np.random.default_rng(m * 31 + n_out + loss_kind)
    y_hat = unit_interval(rng, (m, n_out), dtype)
    y = rng.random((m, n_out)).astype(dtype)
    before = copies(y_hat, y)
    comp_delta = np.full((m, n_out), np.nan, dtype=dtype)

    comp_loss = kernels.output_delta(y_hat, y, comp_delta, loss_kind)
    ref_delta = reference.output_delta(y_hat, y, kind)
    ref_loss = reference.loss(y_hat, y, kind).sum()

    assert comp_delta.dtype == dtype
    assert_close(comp_delta, ref_delta, dtype, "delta")
    assert_close(comp_loss, ref_loss, dtype, "summed loss")
    assert_unchanged(before, [y_hat, y])


@pytest.mark.parametrize(("kind", "loss_kind"), LOSS_PARAMS)
def test_loss_finite_when_outputs_saturate(kind, loss_kind, dtype):
    # Outputs exactly 0 and 1 against both targets: ln 0 must be clipped away.
    y_hat = np.array([[0.0, 1.0, 0.0, 1.0], [1.0, 0.0, 0.5, 1.0]], dtype=dtype)
    y = np.array([[1.0, 0.0, 0.0, 1.0], [1.0, 1.0, 0.25, 0.0]], dtype=dtype)
    comp_delta = np.empty_like(y_hat)

    with np.errstate(all="raise"):
        comp_loss = kernels.output_delta(y_hat, y, comp_delta, loss_kind)
        ref_loss = reference.loss(y_hat, y, kind).sum()

    assert np.isfinite(comp_loss)
    assert np.isfinite(comp_delta).all()
    assert_close(comp_loss, ref_loss, dtype, "loss at saturated outputs")
    assert_close(comp_delta, reference.output_delta(y_hat, y, kind), dtype, "delta")
    if kind == "bce":
        # Four units are wrong by a full 1: each costs -ln(eps), large but finite.
        eps = np.finfo(dtype).eps
        assert 4 * -np.log(eps) < comp_loss < 4 * -np.log(eps) + 1


# --- hidden_delta -------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPE_PARAMS)
def test_hidden_delta_matches_reference(shape, dtype):
    m, n, n_next = shape
    rng = np.random.default_rng(m * 7 + n * 3 + n_next)
    delta_next = (0.1 * rng.standard_normal((m, n_next))).astype(dtype)
    W_next = scaled_normal(rng, (n, n_next), n_next, dtype)
    a = unit_interval(rng, (m, n), dtype)
    before = copies(delta_next, W_next, a)
    comp_delta = np.full((m, n), np.nan, dtype=dtype)

    kernels.hidden_delta(delta_next, W_next, a, comp_delta)
    ref_delta = reference.hidden_delta(delta_next, W_next, a)

    assert comp_delta.dtype == dtype
    assert_close(comp_delta, ref_delta, dtype, "hidden delta")
    assert_unchanged(before, [delta_next, W_next, a])


# --- accumulate_gradient ----------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPE_PARAMS)
def test_accumulate_gradient_adds_to_buffers(shape, dtype):
    m, n_in, n_out = shape
    rng = np.random.default_rng(m * 11 + n_in * 5 + n_out)
    a_in = unit_interval(rng, (m, n_in), dtype)
    delta = (0.1 * rng.standard_normal((m, n_out))).astype(dtype)
    # Start from non-zero buffers: the kernel adds, it does not overwrite.
    grad_W0 = (0.1 * rng.standard_normal((n_in, n_out))).astype(dtype)
    grad_b0 = (0.1 * rng.standard_normal(n_out)).astype(dtype)
    comp_gW, comp_gb = grad_W0.copy(), grad_b0.copy()
    before = copies(a_in, delta)

    kernels.accumulate_gradient(a_in, delta, comp_gW, comp_gb)
    ref_gW, ref_gb = reference.layer_gradients(a_in, delta)

    assert comp_gW.dtype == dtype and comp_gb.dtype == dtype
    assert_close(comp_gW, grad_W0 + ref_gW, dtype, "grad_W")
    assert_close(comp_gb, grad_b0 + ref_gb, dtype, "grad_b")
    assert_unchanged(before, [a_in, delta])


# --- step_outer -------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPE_PARAMS)
def test_step_outer_matches_reference_update(shape, dtype):
    _, n_in, n_out = shape  # one sample: the kernel reads row 0 only
    rng = np.random.default_rng(n_in * 13 + n_out)
    a_in = unit_interval(rng, (1, n_in), dtype)
    delta = (0.1 * rng.standard_normal((1, n_out))).astype(dtype)
    W0 = scaled_normal(rng, (n_in, n_out), n_in, dtype)
    b0 = rng.standard_normal(n_out).astype(dtype)
    lr = dtype(0.3)
    comp_W, comp_b = W0.copy(), b0.copy()
    ref_W, ref_b = W0.copy(), b0.copy()
    before = copies(a_in, delta)

    kernels.step_outer(a_in, delta, comp_W, comp_b, lr)
    gW, gb = reference.layer_gradients(a_in, delta)
    reference.update([ref_W], [ref_b], [gW], [gb], lr)

    assert comp_W.dtype == dtype and comp_b.dtype == dtype
    assert_close(comp_W, ref_W, dtype, "W")
    assert_close(comp_b, ref_b, dtype, "b")
    assert not np.array_equal(comp_W, W0), "the step must move the weights"
    assert_unchanged(before, [a_in, delta])


# --- float32 stays float32 inside the kernels --------------------------------------------


def _float32_args(name):
    f = np.float32
    a, W, b = np.full((2, 3), 0.5, f), np.full((3, 4), 0.1, f), np.zeros(4, f)
    d, out3, out4 = np.full((2, 4), 0.1, f), np.empty((2, 3), f), np.empty((2, 4), f)
    return {
        "forward_layer": (a, W, b, out4),
        "hidden_delta": (d, W, a, out3),
        "accumulate_gradient": (a, d, W, b),
        "step_outer": (a[:1], d[:1], W, b, f(0.1)),
    }[name]


@pytest.mark.parametrize(
    "name", ["forward_layer", "hidden_delta", "accumulate_gradient", "step_outer"]
)
def test_float32_kernel_does_no_float64_arithmetic(name):
    """A float64 constant in a float32 kernel silently promotes the arithmetic.

    The kernel is recompiled from its Python source with the same options but
    no disk cache (Numba cannot show the IR of cached code), and the LLVM IR
    of the kernel body (not the Python wrapper, which reads Python floats as
    doubles) must not mention ``double`` at all.
    """
    fresh = njit(**{**kernels.JIT_OPTIONS, "cache": False})(getattr(kernels, name).py_func)
    fresh(*_float32_args(name))
    ir = fresh.inspect_llvm(fresh.signatures[0])
    bodies = re.findall(r"^define [^\n]*@_ZN8fastprop7kernels[^\n]*\{$.*?^\}$", ir, re.M | re.S)
    assert bodies, "kernel body not found in the LLVM IR"
    for body in bodies:
        doubles = [line.strip() for line in body.splitlines() if "double" in line]
        assert not doubles, f"{name} computes in float64 for float32 input: {doubles[:3]}"
