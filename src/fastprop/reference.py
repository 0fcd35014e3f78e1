"""Backpropagation in plain NumPy: the readable specification of fastprop.

Every compiled kernel in ``fastprop.kernels`` is tested against a function
here, so this file states the math once, in the symbols of the equations:

- layer sizes ``n_0, n_1, ..., n_L``; ``W[l]`` has shape ``(n_l, n_{l+1})``
  and ``b[l]`` shape ``(n_{l+1},)`` (the code counts layers from 0);
- rows are samples, ``a[0] = X`` and ``a[l+1] = σ(a[l] @ W[l] + b[l])``;
- ``delta[l]`` is ∂L/∂z at layer l's output, ``grad_W[l] = a[l].T @ delta[l]``.

Nothing here is fast, and nothing here imports the kernels.
"""

import numpy as np

LOSSES = ("mse", "bce")
REDUCTIONS = ("mean", "sum")


# --- activation ---------------------------------------------------------------


def sigmoid(z):
    """σ(z) = 1 / (1 + e^-z), computed so that no finite z overflows.

    For z < 0 the same value is e^z / (1 + e^z); using e^-|z| in both cases
    keeps the exponential in (0, 1].
    """
    e = np.exp(-np.abs(z))
    s = 1 / (1 + e)
    return np.where(z >= 0, s, e * s)


def sigmoid_prime_from_output(a):
    """σ'(z) written with the stored output a = σ(z): σ' = a (1 - a)."""
    return a * (1 - a)


# --- loss -----------------------------------------------------------------------


def _clip_eps(y_hat):
    return np.finfo(y_hat.dtype).eps


def loss(y_hat, y, kind="mse"):
    """Loss of each sample (one value per row), before any reduction.

    mse: ½ Σ_k (y_k - ŷ_k)²
    bce: -Σ_k [y_k ln ŷ_k + (1 - y_k) ln(1 - ŷ_k)], with ŷ clipped to
         [eps, 1 - eps] so a saturated output costs a large finite amount.
    """
    if kind == "mse":
        return 0.5 * np.sum((y - y_hat) ** 2, axis=1)
    eps = _clip_eps(y_hat)
    p = np.clip(y_hat, eps, 1 - eps)
    return -np.sum(y * np.log(p) + (1 - y) * np.log(1 - p), axis=1)


def output_delta(y_hat, y, kind="mse"):
    """δ at the output, ∂L/∂z_L.

    mse: ∂L/∂ŷ = ŷ - y, times σ' = ŷ (1 - ŷ).
    bce: the σ' cancels against the loss's denominator, leaving ŷ - y.
    """
    if kind == "mse":
        return (y_hat - y) * sigmoid_prime_from_output(y_hat)
    return y_hat - y


# --- one layer's equations --------------------------------------------------------


def forward_layer(a_in, W, b):
    """a_out = σ(a_in W + b)."""
    return sigmoid(a_in @ W + b)


def hidden_delta(delta_next, W_next, a):
    """δ_l = (δ_{l+1} W_{l+1}ᵀ) ⊙ a_l (1 - a_l): the chain rule through one layer."""
    return (delta_next @ W_next.T) * sigmoid_prime_from_output(a)


def layer_gradients(a_in, delta):
    """∂L/∂W = a_inᵀ δ and ∂L/∂b = Σ_rows δ, summed over the rows of the batch."""
    return a_in.T @ delta, delta.sum(axis=0)


# --- the whole network ---------------------------------------------------------------


def forward(weights, biases, X):
    """All activations [a_0 = X, a_1, ..., a_L]: exactly what backward needs."""
    a = [X]
    for W, b in zip(weights, biases, strict=True):
        a.append(forward_layer(a[-1], W, b))
    return a


def backward(weights, a, Y, kind="mse"):
    """Deltas [δ_1, ..., δ_L], one per layer, from the output back to the first."""
    deltas = [output_delta(a[-1], Y, kind)]
    for l in range(len(weights) - 1, 0, -1):
        deltas.insert(0, hidden_delta(deltas[0], weights[l], a[l]))
    return deltas


def gradients(weights, biases, X, Y, kind="mse", reduction="mean"):
    """Loss and gradients of a batch: ``(loss, grad_W, grad_b)``.

    With ``reduction="mean"`` the loss and every gradient are divided by the
    number of rows m; with ``"sum"`` they are not.
    """
    a = forward(weights, biases, X)
    deltas = backward(weights, a, Y, kind)
    grads = [layer_gradients(a_in, d) for a_in, d in zip(a[:-1], deltas, strict=True)]
    grad_W = [g for g, _ in grads]
    grad_b = [g for _, g in grads]
    total = loss(a[-1], Y, kind).sum()
    if reduction == "mean":
        m = X.shape[0]
        return total / m, [g / m for g in grad_W], [g / m for g in grad_b]
    return total, grad_W, grad_b


def update(weights, biases, grad_W, grad_b, lr):
    """Gradient descent step, in place: W ← W - lr ∂L/∂W, b ← b - lr ∂L/∂b."""
    for W, b, gW, gb in zip(weights, biases, grad_W, grad_b, strict=True):
        W -= lr * gW
        b -= lr * gb


# --- epochs ----------------------------------------------------------------------------


def sgd_epoch(weights, biases, X, Y, order, lr, kind="mse"):
    """Per-sample gradient descent, visiting the samples in ``order``.

    Each sample is a batch of one (so mean and sum agree). Returns the epoch's
    summed loss, each sample measured before its own update.
    """
    total = 0.0
    for s in order:
        x, y = X[s : s + 1], Y[s : s + 1]
        sample_loss, gW, gb = gradients(weights, biases, x, y, kind, "sum")
        update(weights, biases, gW, gb, lr)
        total += sample_loss
    return total


def minibatch_epoch(weights, biases, X, Y, order, batch_size, lr, kind="mse", reduction="mean"):
    """Mini-batch gradient descent over consecutive slices of ``order``.

    The last batch may be smaller; with ``reduction="mean"`` its gradient is
    averaged over its own size. ``batch_size >= len(order)`` is full batch.
    Returns the epoch's summed loss, each batch measured before its update.
    """
    total = 0.0
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        batch_loss, gW, gb = gradients(weights, biases, X[rows], Y[rows], kind, reduction)
        update(weights, biases, gW, gb, lr)
        total += batch_loss * (len(rows) if reduction == "mean" else 1)
    return total


def epoch(weights, biases, X, Y, order, *, mode, batch_size, lr, kind="mse", reduction="mean"):
    """One epoch in any mode; returns the epoch loss with ``reduction`` applied."""
    if mode == "sgd":
        total = sgd_epoch(weights, biases, X, Y, order, lr, kind)
    else:
        size = len(order) if mode == "batch" else batch_size
        total = minibatch_epoch(weights, biases, X, Y, order, size, lr, kind, reduction)
    return total / len(order) if reduction == "mean" else total


def shuffle_generator(seed):
    """The generator that draws each epoch's order.

    It is a child of ``default_rng(seed)``, so the stream that initialises the
    weights from the same seed and the stream that shuffles are independent.
    """
    return np.random.default_rng(seed).spawn(1)[0]


def train(
    weights,
    biases,
    X,
    Y,
    *,
    mode="minibatch",
    batch_size=32,
    lr=0.5,
    epochs=100,
    tol=None,
    loss="mse",
    reduction="mean",
    shuffle=True,
    seed=None,
):
    """Train in place for up to ``epochs`` epochs; returns the per-epoch losses.

    With ``shuffle=True`` each epoch visits a fresh permutation drawn from
    ``shuffle_generator(seed)``, the same draws ``fastprop.fit`` makes, so
    both train identically from the same starting weights. A full batch is
    visited in order, shuffled or not, as fit does: its order would only
    reorder one sum. Stops early once an epoch's loss is at most ``tol``.
    """
    rng = shuffle_generator(seed)
    n = X.shape[0]
    full_batch = mode == "batch" or (mode == "minibatch" and batch_size >= n)
    history = []
    for _ in range(epochs):
        order = rng.permutation(n) if shuffle and not full_batch else np.arange(n)
        history.append(
            epoch(weights, biases, X, Y, order, mode=mode, batch_size=batch_size, lr=lr,
                  kind=loss, reduction=reduction)
        )
        if tol is not None and history[-1] <= tol:
            break
    return history
