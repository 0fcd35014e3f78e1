"""JAX, its strongest form: a whole epoch jitted, ``lax.scan`` over the batches.

Per-sample SGD is a scan over single samples, full batch a scan of one step;
a last partial batch is one more step inside the same compiled epoch. The
shuffle is drawn inside the compiled epoch too, so one epoch is one call.
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax


def setup(threads):
    # float64 is needed for the correctness check; float32 arrays stay float32.
    jax.config.update("jax_enable_x64", True)
    cpu = jax.devices("cpu")
    return f"jax {jax.__version__} ({len(cpu)} CPU device, threads set through XLA_FLAGS/affinity)"


def _forward(params, x):
    a = x
    for W, b in params:
        a = jax.nn.sigmoid(a @ W + b)
    return a


def _loss(params, x, y):
    # ½ Σ (y - ŷ)² averaged over the batch: fastprop's "mse" with "mean".
    return 0.5 * ((y - _forward(params, x)) ** 2).sum() / x.shape[0]


def _compile_epoch(n, batch_size, lr, shuffle):
    n_batches, rest = divmod(n, batch_size)

    def step(params, rows, X, Y):
        grads = jax.grad(_loss)(params, X[rows], Y[rows])
        return jax.tree.map(lambda p, g: p - lr * g, params, grads)

    def epoch(params, key, X, Y):
        key, sub = jax.random.split(key)
        order = jax.random.permutation(sub, n) if shuffle else jnp.arange(n)
        full = order[: n_batches * batch_size].reshape(n_batches, batch_size)
        params, _ = lax.scan(lambda p, rows: (step(p, rows, X, Y), None), params, full)
        if rest:  # static: the shapes are known when tracing
            params = step(params, order[n_batches * batch_size :], X, Y)
        return params, key

    return jax.jit(epoch, donate_argnums=(0, 1))


class Runner:
    def __init__(self, net, X, Y, *, mode, batch_size, lr, shuffle, seed):
        self.state = (
            tuple((jax.device_put(W.copy()), jax.device_put(b.copy()))
                  for W, b in zip(net.weights, net.biases, strict=True)),
            jax.random.key(seed),
        )
        self.X, self.Y = jax.device_put(X), jax.device_put(Y)
        self.epoch_fn = _compile_epoch(X.shape[0], batch_size, lr, shuffle)

    def epoch(self):
        self.state = self.epoch_fn(*self.state, self.X, self.Y)
        jax.block_until_ready(self.state)

    def params(self):
        layers = self.state[0]
        return [np.asarray(W) for W, _ in layers], [np.asarray(b) for _, b in layers]


make = Runner
