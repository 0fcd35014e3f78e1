"""The systems ``compare.py`` times, one module each, all with the same two functions.

``setup(threads)``
    Set the library's thread count and return a one-line description
    (version, threads). Importing the module imports the library, so
    ``load`` raises ImportError when it is not installed, and the comparison
    then skips that system with a note.
``make(net, X, Y, *, mode, batch_size, lr, shuffle, seed)``
    A runner that starts from the weights of the fastprop ``Network`` ``net``
    and trains on (X, Y): ``runner.epoch()`` trains exactly one epoch and
    returns once the work is done; ``runner.params()`` returns
    ``(weights, biases)`` as NumPy arrays in fastprop's layout (``W`` is
    ``(n_in, n_out)``). ``mode`` is fastprop's ("sgd", "minibatch",
    "batch"); ``batch_size`` is already the effective one (1 for "sgd", n for
    "batch"), so peers need only it.
"""

import importlib

# Display name -> module; fastprop first, as every ratio is taken against it.
MODULES = {
    "fastprop": "fastprop_trainer",
    "numpy-ref": "numpy_reference",
    "torch": "torch_eager",
    "jax": "jax_scan",
    "sklearn": "sklearn_mlp",
    "fastprop-f64": "fastprop_float64",
}
# Run only when named in --systems: fastprop again, in float64 (its module says why).
DEFAULT = [name for name in MODULES if name != "fastprop-f64"]


def blas_pools():
    """The BLAS libraries loaded in this process and their thread counts, as one line."""
    from threadpoolctl import threadpool_info

    pools = [f"{p['internal_api']} {p['version']} ({p['filepath'].rsplit('/', 1)[-1]}): "
             f"{p['num_threads']} threads" for p in threadpool_info() if p["user_api"] == "blas"]
    return "; ".join(pools) or "no BLAS found"


def load(name):
    """The peer module behind a display name; ImportError if its library is missing."""
    return importlib.import_module(f"{__name__}.{MODULES[name]}")
