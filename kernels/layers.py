"""Layer-level kernels: the four equations of backpropagation on one layer.

Rows are samples; ``W`` is ``(n_in, n_out)``. Every inner loop runs over the
last, contiguous axis of a 2-d view with plain ``range`` indices so that LLVM
can vectorise it.
"""

from numba import njit

from .config import JIT_OPTIONS
from .scalar import output_delta_term, sample_loss_term, sigmoid


@njit(**JIT_OPTIONS)
def forward_layer(a_in, W, b, a_out):
    """Fused forward: ``a_out = σ(a_in @ W + b)`` in one pass over ``a_out``.

    a_in  : (m, n_in)  read.
    W     : (n_in, n_out) read.
    b     : (n_out,) read.
    a_out : (m, n_out) written.
    Matches ``reference.forward`` for one layer.
    """
    m, n_in = a_in.shape
    n_out = W.shape[1]
    one = W.dtype.type(1)
    for r in range(m):
        z = a_out[r]
        for j in range(n_out):
            z[j] = b[j]
        for i in range(n_in):
            x = a_in[r, i]
            w = W[i]
            for j in range(n_out):
                z[j] += x * w[j]
        for j in range(n_out):
            z[j] = sigmoid(z[j], one)


@njit(**JIT_OPTIONS)
def output_delta(y_hat, y, delta, loss_kind):
    """Output delta and summed loss of a block of samples.

    y_hat : (m, n_out) read, the network's output.
    y     : (m, n_out) read, the targets.
    delta : (m, n_out) written, ∂L/∂z at the output.
    Returns the loss summed over the block (no reduction).
    Matches ``reference.output_delta`` and ``reference.loss``.
    """
    m, n_out = y_hat.shape
    one = y_hat.dtype.type(1)
    # Machine epsilon of the dtype: the clip that keeps bce finite.
    eps = y_hat.dtype.type(2.220446049250313e-16 if y_hat.itemsize == 8 else 1.1920929e-07)
    total = 0.0
    for r in range(m):
        for k in range(n_out):
            total += sample_loss_term(y_hat[r, k], y[r, k], loss_kind, eps, one)
            delta[r, k] = output_delta_term(y_hat[r, k], y[r, k], loss_kind, one)
    return total


@njit(**JIT_OPTIONS)
def hidden_delta(delta_next, W_next, a, delta):
    """Hidden delta: ``delta = (delta_next @ W_nextᵀ) ⊙ a (1 - a)``.

    delta_next : (m, n_next) read.
    W_next     : (n, n_next) read, the weights leaving this layer.
    a          : (m, n) read, this layer's activation.
    delta      : (m, n) written.
    Matches ``reference.hidden_delta``.
    """
    m, n = a.shape
    n_next = W_next.shape[1]
    one = a.dtype.type(1)
    for r in range(m):
        d = delta_next[r]
        for i in range(n):
            w = W_next[i]
            s = a.dtype.type(0)
            for j in range(n_next):
                s += d[j] * w[j]
            delta[r, i] = s * a[r, i] * (one - a[r, i])


@njit(**JIT_OPTIONS)
def accumulate_gradient(a_in, delta, grad_W, grad_b):
    """Add this block's gradient: ``grad_W += a_inᵀ @ delta``, ``grad_b += Σ_rows delta``.

    a_in   : (m, n_in) read.
    delta  : (m, n_out) read.
    grad_W : (n_in, n_out) modified in place.
    grad_b : (n_out,) modified in place.
    Matches ``reference.layer_gradients`` (summed, before any reduction).
    """
    m, n_in = a_in.shape
    n_out = delta.shape[1]
    for r in range(m):
        d = delta[r]
        for i in range(n_in):
            x = a_in[r, i]
            g = grad_W[i]
            for j in range(n_out):
                g[j] += x * d[j]
        for j in range(n_out):
            grad_b[j] += d[j]


@njit(**JIT_OPTIONS)
def step_outer(a_in, delta, W, b, lr):
    """One sample's update applied straight to the weights.

    ``W -= lr · a_inᵀ δ``, ``b -= lr · δ`` for a single row, which spares the
    per-sample SGD loop a gradient buffer.
    a_in  : (1, n_in) read.
    delta : (1, n_out) read.
    W, b  : modified in place.
    """
    n_in = a_in.shape[1]
    n_out = delta.shape[1]
    d = delta[0]
    for i in range(n_in):
        x = lr * a_in[0, i]
        w = W[i]
        for j in range(n_out):
            w[j] -= x * d[j]
    for j in range(n_out):
        b[j] -= lr * d[j]
