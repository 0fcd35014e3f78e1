"""API fuzzing: ``tests/fuzz_api.py`` in a subprocess, and the bugs it found.

The fuzzer throws random and malformed arguments at ``fit``, ``Network``,
``Network.from_arrays``, ``predict``, ``loss``, ``gradients``, ``load`` and the
command line (see its docstring for the catalogue and the promise each case is
held to). It runs in a child interpreter so that a crash (a segfault in a kernel, say) fails this
test instead of killing pytest; the case count goes to the run's summary
("fastprop trust figures"). CI runs 2,000 cases; the long profile
(``FASTPROP_HYPOTHESIS_PROFILE=long``) runs 50,000 with other seeds.
"""

import fractions
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastprop
from conftest import LONG, REPORT
from fastprop import Network, kernels

FUZZER = Path(__file__).with_name("fuzz_api.py")


def run_python(args, timeout=600):
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=timeout
    )


def describe_exit(proc):
    """A failed child's exit: the signal that killed it, or its status, with its output."""
    if proc.returncode < 0:
        how = f"killed by {signal.Signals(-proc.returncode).name}"
    else:
        how = f"exit status {proc.returncode}"
    return f"{how}\n--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-4000:]}"


@pytest.mark.parametrize("seed", [0, 1] if LONG else [0])
def test_fuzz_public_api(seed):
    cases = 25_000 if LONG else 2_000
    proc = run_python([str(FUZZER), "--cases", str(cases), "--seed", str(seed)])
    assert proc.returncode == 0, describe_exit(proc)
    summary = proc.stdout.strip().splitlines()[-1]
    assert summary.startswith(f"fuzz: {cases} cases"), summary
    assert summary.endswith(", 0 failures"), summary
    REPORT.append(f"{summary} (seed {seed})")


@pytest.mark.processes
def test_a_crashing_child_is_reported_not_fatal():
    """The harness sees a segfault as a failing exit, with the signal named."""
    proc = run_python(["-c", "import ctypes; ctypes.string_at(0)"], timeout=60)
    assert proc.returncode == -signal.SIGSEGV
    assert "killed by SIGSEGV" in describe_exit(proc)


# --- what the fuzzer found ---------------------------------------------------------------------


@pytest.mark.parametrize("sizes", [(2**70, 1), (1, 10**12, 10**12), (3, 2**62, 1)])
def test_layer_sizes_beyond_addressable_memory(sizes):
    """Used to leak an OverflowError, or NumPy's "Maximum allowed dimension exceeded"."""
    with pytest.raises(ValueError, match=r"layer_sizes .* more than can be addressed"):
        Network(sizes)


def test_hidden_beyond_addressable_memory():
    with pytest.raises(ValueError, match=r"layer_sizes \(3, 4611686018427387904, 1\) need"):
        fastprop.fit(np.zeros((2, 3)), np.zeros(2), hidden=(2**62,), epochs=1)


@pytest.mark.parametrize("which", ["weights", "biases"])
def test_from_arrays_names_a_ragged_array(which):
    net = Network((2, 3, 1), seed=0)
    arrays = {"weights": list(net.weights), "biases": list(net.biases)}
    arrays[which][1] = [[0.1], [0.2, 0.3]]
    with pytest.raises(ValueError, match=rf"{which}\[1\] must be a rectangular numeric array"):
        Network.from_arrays(arrays["weights"], arrays["biases"])


def test_from_arrays_names_a_non_numeric_array():
    net = Network((2, 1), seed=0)
    with pytest.raises(TypeError, match=r"biases\[0\] must hold numbers"):
        Network.from_arrays(net.weights, [np.array(["0.5"])])


def test_lr_and_tol_may_be_any_real_number():
    """A Fraction used to reach np.isfinite, which raised NumPy's own TypeError."""
    X = np.random.default_rng(0).random((6, 2))
    Y = X[:, :1] / 2
    a = fastprop.fit(X, Y, (2,), lr=fractions.Fraction(1, 4), tol=fractions.Fraction(1, 10**9),
                     epochs=3, seed=0)
    b = fastprop.fit(X, Y, (2,), lr=0.25, tol=1e-9, epochs=3, seed=0)
    np.testing.assert_array_equal(a.params, b.params)


@pytest.mark.parametrize("name", ["lr", "tol"])
def test_int_beyond_float_range(name):
    X = np.random.default_rng(0).random((4, 2))
    with pytest.raises(ValueError, match=rf"{name} is beyond the float64 range"):
        fastprop.fit(X, X[:, :1], (2,), epochs=1, **{name: 10**400})


def blas_network():
    """A first layer that always runs on BLAS (its float64 weights larger than any block the
    register tiles take, kernels.tiles), its weights all 2."""
    wide = kernels.config.TILE_WIDE_MAX_BYTES // (8 * 1024) + 1
    net = Network((1024, wide, 1), seed=0)
    net.weights[0][...] = 2.0
    return net


def huge_rows(net):
    """Rows of ±1.7e308 whose first-layer sums BLAS adds up as inf - inf, a NaN.

    A chain of fused multiply-adds from finite operands saturates at one infinity (each
    product is exact, so ``fma(x, w, -inf)`` stays -inf): the NaN needs two of BLAS's partial
    sums to overflow apart, and which sums those are depends on its kernels. The first sign
    pattern does it on both of OpenBLAS's kernels seen here (Haswell: blocks of the
    reduction; SkylakeX: interleaved accumulators); the others are for kernels not seen yet.
    """
    from fastprop.kernels import blas

    width = net.layer_sizes[0]
    k = np.arange(width)
    signs = [
        np.where((k < width // 2) & (k % 2 == 0), -1.0, 1.0),  # alternating, then positive
        np.where(k % 2 == 0, -1.0, 1.0),
        np.where(k < width // 2, -1.0, 1.0),
        np.where(k % 4 < 2, -1.0, 1.0),
    ]
    for sign in signs:
        X = np.tile(1.7e308 * sign, (kernels.config.TILE_MAX_ROWS + 1, 1))
        Z = np.empty((X.shape[0], net.weights[0].shape[1]))
        blas.gemm_matmul_into(X, net.weights[0], Z)
        if np.isnan(Z).any():
            return X
    pytest.fail("no sign pattern made this BLAS's sums meet as inf - inf")


def test_predict_overflow_is_an_error_not_nan():
    """Inputs near the float64 max: BLAS's partial sums meet as inf - inf, a NaN output."""
    net = blas_network()
    X = huge_rows(net)
    with pytest.raises(ValueError, match="X has values so large that the network's sums overflow"):
        net.predict(X)
    assert np.isfinite(net.predict(X / 1e300)).all()


def test_loss_and_gradients_overflow_is_an_error_not_inf():
    net = Network((2, 1), seed=0)
    X = np.ones((1, 2))
    with pytest.raises(ValueError, match=r"the loss or its gradient overflowed .* scale X"):
        net.loss(X, [[1e200]])
    big = blas_network()
    X = huge_rows(big)
    with pytest.raises(ValueError, match="overflowed float64: X or Y hold values too large"):
        fastprop.gradients(big, X, np.full((X.shape[0], 1), 0.5))
