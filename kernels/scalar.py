"""Scalar math shared by the kernels: activation, loss and their derivatives.

Each function receives ``one`` (the constant 1 in the array dtype) so that a
float32 kernel never silently promotes to float64.
"""

import numpy as np
from numba import njit

from .config import JIT_OPTIONS
from .expf import exp_nonpositive

LOSS_MSE = 0
LOSS_BCE = 1


@njit(inline="always", **JIT_OPTIONS)
def sigmoid_of(z, e, one):
    """σ(z) given e = e^-|z|: 1 / (1 + e) for z >= 0, e / (1 + e) below.

    e lies in (0, 1], so neither branch can overflow for any finite z.
    """
    s = one / (one + e)
    return s if z >= 0 else e * s


@njit(inline="always", **JIT_OPTIONS)
def sigmoid(z, one):
    """σ(z) = 1 / (1 + e^-z), without overflow for any finite z; e^-|z| from
    ``expf.exp_nonpositive``, which vectorises. Matches ``reference.sigmoid``."""
    return sigmoid_of(z, exp_nonpositive(-abs(z)), one)


@njit(inline="always", **JIT_OPTIONS)
def sigmoid_libm(z, one):
    """``sigmoid`` with libm's exp, for loops too short to vectorise (the tiny
    networks' kernel, 4 units a layer): one scalar call of libm's expf is cheaper
    than the polynomial (3-4-1 float32 full batch: 2.88M epochs/s against 2.42M)."""
    return sigmoid_of(z, np.exp(-abs(z)), one)


@njit(inline="always", **JIT_OPTIONS)
def sample_loss_term(y_hat, y, loss_kind, eps, one):
    """One output unit's contribution to the per-sample loss.

    mse: ½ (y - ŷ)².  bce: -[y ln ŷ + (1 - y) ln(1 - ŷ)], with ŷ clipped to
    [eps, 1 - eps] so that a saturated output gives a large finite loss rather
    than inf. Matches ``reference.loss``.
    """
    if loss_kind == LOSS_MSE:
        d = y - y_hat
        return (one / (one + one)) * d * d
    p = min(max(y_hat, eps), one - eps)
    return -(y * np.log(p) + (one - y) * np.log(one - p))


@njit(inline="always", **JIT_OPTIONS)
def output_delta_term(y_hat, y, loss_kind, one):
    """∂L/∂z at one output unit: mse (ŷ - y) ŷ (1 - ŷ); bce ŷ - y."""
    if loss_kind == LOSS_MSE:
        return (y_hat - y) * y_hat * (one - y_hat)
    return y_hat - y


@njit(inline="always", **JIT_OPTIONS)
def clip_eps(arr):
    """Machine epsilon of ``arr``'s dtype: the clip that keeps bce finite."""
    return arr.dtype.type(2.220446049250313e-16 if arr.itemsize == 8 else 1.1920929e-07)
