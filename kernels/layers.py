"""Layer kernels: the equations of backpropagation for one layer.

Row kernels (``*_row``) work on one sample's 1-d vectors and are the
primitives; the 2-d kernels apply them to each row of a block. Rows are
samples and ``W`` is ``(n_in, n_out)``, so every inner loop runs along a
contiguous row of ``W`` with plain ``range`` indices, which LLVM vectorises.

Row kernels take ``W`` flattened (``n_in * n_out``, row-major) and slice its
rows: per-sample SGD calls them for every sample and layer, and building a
2-d view costs ~30 ns each time, more than a small layer's arithmetic. They
are inlined into their callers for the same reason.
"""

from numba import njit

from .config import JIT_OPTIONS
from .row_products import row_product
from .scalar import clip_eps, output_delta_term, sample_loss_term, sigmoid
from .vector import dot, dots

# Row kernels run once per sample and layer: inline them where they are called.
ROW_OPTIONS = dict(JIT_OPTIONS, inline="always")

# Hidden deltas take the dot products of this many rows of W at once
# (``vector.dots``): one row's short dot is a chain of dependent adds, and
# several in step keep the FMA units busy.
DOT_ROWS = 4


@njit(**ROW_OPTIONS)
def forward_row(a_in, W, b, z):
    """Fused forward of one sample: ``z = σ(a_in @ W + b)``.

    a_in (n_in,), W (n_in * n_out,) flat, b (n_out,): read. z (n_out,): written.
    Matches ``reference.forward_layer``.
    """
    one = W.dtype.type(1)
    for j in range(z.shape[0]):
        z[j] = b[j]
    row_product(0, a_in, W, z, a_in, z, one)
    for j in range(z.shape[0]):
        z[j] = sigmoid(z[j], one)


@njit(**ROW_OPTIONS)
def step_forward_row(a_prev, delta, lr, a_in, W, b, z):
    """The previous sample's update fused with the next sample's forward pass.

    In one sweep over ``W``: ``W -= lr · a_prevᵀ δ``, ``b -= lr · δ``, and
    ``z = σ(a_in @ W + b)`` with the updated values. Per-sample SGD thus
    reads and writes each weight once per sample instead of three times.
    a_prev (n_in,), delta (n_out,), a_in (n_in,): read.
    W (n_in * n_out,) flat, b: modified in place. z (n_out,): written.
    Equals ``step_row`` followed by ``forward_row``.
    """
    one = W.dtype.type(1)
    for j in range(z.shape[0]):
        b[j] -= lr * delta[j]
        z[j] = b[j]
    row_product(1, a_in, W, z, a_prev, delta, lr)
    for j in range(z.shape[0]):
        z[j] = sigmoid(z[j], one)


@njit(**ROW_OPTIONS)
def step_row(a_in, delta, lr, W, b):
    """One sample's update: ``W -= lr · a_inᵀ δ``, ``b -= lr · δ``.

    a_in (n_in,), delta (n_out,): read. W (n_in * n_out,) flat, b: modified in place.
    Matches ``reference.update`` with ``reference.layer_gradients`` of one row.
    """
    n_out = delta.shape[0]
    for i in range(a_in.shape[0]):
        c = lr * a_in[i]
        w = W[i * n_out : (i + 1) * n_out]
        for j in range(n_out):
            w[j] -= c * delta[j]
    for j in range(n_out):
        b[j] -= lr * delta[j]


@njit(**ROW_OPTIONS)
def loss_row(y_hat, y, loss_kind):
    """One sample's loss, its units' terms added in order, in float64.

    y_hat, y (n_out,): read. Matches ``reference.loss`` of one row.
    """
    one = y_hat.dtype.type(1)
    eps = clip_eps(y_hat)
    total = 0.0
    for k in range(y_hat.shape[0]):
        total += sample_loss_term(y_hat[k], y[k], loss_kind, eps, one)
    return total


@njit(**ROW_OPTIONS)
def output_delta_only_row(y_hat, y, delta, loss_kind):
    """Output delta of one sample, without its loss.

    y_hat, y (n_out,): read. delta (n_out,): written, ∂L/∂z at the output.
    Matches ``reference.output_delta``.
    """
    one = y_hat.dtype.type(1)
    for k in range(y_hat.shape[0]):
        delta[k] = output_delta_term(y_hat[k], y[k], loss_kind, one)


@njit(**ROW_OPTIONS)
def output_delta_row(y_hat, y, delta, loss_kind):
    """Output delta of one sample (``output_delta_only_row``); returns its loss (``loss_row``).

    Matches ``reference.output_delta`` and ``reference.loss``.
    """
    output_delta_only_row(y_hat, y, delta, loss_kind)
    return loss_row(y_hat, y, loss_kind)


@njit(**ROW_OPTIONS)
def hidden_delta_row(delta_next, W_next, a, delta):
    """One sample's hidden delta: ``delta = (delta_next @ W_nextᵀ) ⊙ a (1 - a)``.

    delta_next (n_next,), W_next (n * n_next,) flat, a (n,): read. delta (n,): written.
    Matches ``reference.hidden_delta``.
    """
    one = a.dtype.type(1)
    n_next = delta_next.shape[0]
    n = a.shape[0]
    i = 0
    while n - i >= DOT_ROWS:
        dots(DOT_ROWS, delta_next, W_next, i, delta)
        i += DOT_ROWS
    for r in range(i, n):
        delta[r] = dot(delta_next, W_next[r * n_next : (r + 1) * n_next])
    for r in range(n):
        delta[r] = delta[r] * a[r] * (one - a[r])


@njit(**ROW_OPTIONS)
def accumulate_row(a_in, delta, grad_W, grad_b):
    """Add one sample's gradient: ``grad_W += a_inᵀ δ`` (grad_W flat), ``grad_b += δ``."""
    n_out = delta.shape[0]
    for i in range(a_in.shape[0]):
        x = a_in[i]
        g = grad_W[i * n_out : (i + 1) * n_out]
        for j in range(n_out):
            g[j] += x * delta[j]
    for j in range(n_out):
        grad_b[j] += delta[j]


# --- blocks of rows ----------------------------------------------------------------
# Each equation over a block, shaped like its ``reference`` twin, so that it can
# be checked (and read) one equation at a time. The training kernels call the
# row kernels above, or BLAS for large layers (``network.py``), directly.


@njit(**JIT_OPTIONS)
def forward_layer(a_in, W, b, a_out):
    """``a_out = σ(a_in @ W + b)`` for a block: a_in (m, n_in) read, a_out (m, n_out) written."""
    W = W.reshape(-1)
    for r in range(a_in.shape[0]):
        forward_row(a_in[r], W, b, a_out[r])


@njit(**JIT_OPTIONS)
def output_delta(y_hat, y, delta, loss_kind):
    """Output deltas of a block (m, n_out); returns the loss summed over its rows."""
    total = 0.0
    for r in range(y_hat.shape[0]):
        total += output_delta_row(y_hat[r], y[r], delta[r], loss_kind)
    return total


@njit(**JIT_OPTIONS)
def hidden_delta(delta_next, W_next, a, delta):
    """Hidden deltas of a block: delta_next (m, n_next), a (m, n) read; delta (m, n) written."""
    W_next = W_next.reshape(-1)
    for r in range(a.shape[0]):
        hidden_delta_row(delta_next[r], W_next, a[r], delta[r])


@njit(**JIT_OPTIONS)
def accumulate_gradient(a_in, delta, grad_W, grad_b):
    """Add a block's summed gradient: ``grad_W += a_inᵀ @ delta``, ``grad_b += Σ_rows delta``."""
    grad_W = grad_W.reshape(-1)
    for r in range(a_in.shape[0]):
        accumulate_row(a_in[r], delta[r], grad_W, grad_b)


@njit(**JIT_OPTIONS)
def step_outer(a_in, delta, W, b, lr):
    """A one-row block's update applied to the weights: a_in (1, n_in), delta (1, n_out)."""
    step_row(a_in[0], delta[0], lr, W.reshape(-1), b)
