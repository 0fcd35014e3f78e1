"""Batches split into parts (``kernels/parallel.py``): same math as the reference, same bits
for any thread count.

``comp_*`` results of ``parts_epoch`` (serial twin and ``parallel=True``) are
compared with ``reference.minibatch_epoch`` (``ref_*``) over several epochs, on
shapes that leave uneven parts and partial batches, with small and BLAS-sized
layers. Then the promise the split exists for: the parallel kernel, the serial
twin, and ``Trainer`` with 1 or 2 threads all give identical weights.
"""

import numpy as np
import pytest

import fastprop
from conftest import assert_close, random_problem
from fastprop import Network, Trainer, kernels, reference
from fastprop.kernels.parallel import MIN_PART_ROWS, TARGET_PART_ROWS, _n_parts
from fastprop.threads import max_threads
from fastprop.workspace import LOSS_CODES, Workspace

# name: (layer sizes, n samples, batch_size, chunk, parts)
CASES = {
    "two-parts-partial-batch": ((3, 4, 2), 70, 40, 8, 2),
    "three-uneven-parts-chunk5": ((5, 7, 3), 100, 50, 5, 3),
    "eight-parts-full-batch": ((4, 6, 6, 2), 200, 200, 16, 8),
    "no-hidden-four-parts": ((6, 3), 90, 64, 7, 4),
    "blas-layers-two-parts": ((40, 300, 5), 96, 64, 16, 2),
    # A batch within one block of chunk rows: split by rows, then by columns (kernels/split.py).
    "split-two-parts": ((3, 4, 2), 70, 32, 32, 2),
    "split-partial-last-batch": ((5, 7, 3), 100, 48, 48, 3),
    "split-no-hidden": ((6, 3), 90, 64, 64, 4),
    "split-blas-layers": ((40, 300, 5), 96, 64, 64, 2),
    # The first layer forward by column blocks (split.first_layer_columns): odd widths, three
    # uneven column blocks, a last batch of 4 rows; and a first layer that is the output layer.
    "split-first-layer-columns-odd": ((37, 301, 7), 100, 48, 48, 3),
    "split-first-layer-is-output": ((200, 171), 90, 64, 64, 2),
}
EPOCHS = 3


def parts_epoch(net, X, Y, order, ws, batch_size, lr, mean, loss, parallel):
    n_weights = sum(W.size for W in net.weights)
    kernel = kernels.parts_epoch_parallel if parallel else kernels.parts_epoch
    return kernel(
        X, Y, order, net.params, net._sizes, net._offsets, ws.partials, ws.part_acts,
        ws.part_deltas, ws.part_loss, ws.act_off, batch_size, ws.chunk,
        n_weights, ws.parts, 1, net.dtype.type(lr), mean, LOSS_CODES[loss],
    )


def flat(Ws, bs):
    return np.concatenate([np.concatenate([W.ravel(), b]) for W, b in zip(Ws, bs, strict=True)])


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])
@pytest.mark.parametrize("loss", ["mse", "bce"])
def test_parts_epoch_matches_reference(case, parallel, loss, dtype):
    sizes, n, batch_size, chunk, parts = CASES[case]
    net = Network(sizes, seed=1, init="uniform", dtype=dtype)
    X, Y = random_problem(n, sizes[0], sizes[-1], dtype, seed=2)
    ref_W = [W.copy() for W in net.weights]
    ref_b = [b.copy() for b in net.biases]
    ws = Workspace(net, chunk, parts)
    rng = np.random.default_rng(5)
    for e in range(EPOCHS):
        order = rng.permutation(n).astype(np.int64)
        comp_loss = parts_epoch(net, X, Y, order, ws, batch_size, 0.5, True, loss, parallel)
        ref_loss = reference.minibatch_epoch(
            ref_W, ref_b, X, Y, order, batch_size, dtype(0.5), kind=loss, reduction="mean"
        )
        assert_close(comp_loss, ref_loss, dtype, f"epoch {e} summed loss")
        assert_close(net.params, flat(ref_W, ref_b), dtype, f"weights after epoch {e}")


@pytest.mark.parametrize("case", list(CASES))
def test_parallel_and_serial_parts_give_identical_bits(case, dtype):
    sizes, n, batch_size, chunk, parts = CASES[case]
    X, Y = random_problem(n, sizes[0], sizes[-1], dtype, seed=2)
    nets = [Network(sizes, seed=1, dtype=dtype) for _ in range(2)]
    for net, parallel in zip(nets, (False, True), strict=True):
        ws = Workspace(net, chunk, parts)
        for e in range(EPOCHS):
            order = np.random.default_rng(e).permutation(n).astype(np.int64)
            parts_epoch(net, X, Y, order, ws, batch_size, 0.5, False, "mse", parallel)
    np.testing.assert_array_equal(nets[0].params, nets[1].params)


def test_part_count_depends_on_batch_and_network_only():
    assert _n_parts(1, 10**6, 8, 1) == 1
    assert _n_parts(MIN_PART_ROWS * 2 - 1, 10**6, 8, 1) == 1
    assert _n_parts(MIN_PART_ROWS * 2, 10**6, 8, 1) == 2  # the first split: small parts
    assert _n_parts(TARGET_PART_ROWS * 3, 10**6, 8, 1) == 3  # then parts of full size
    assert _n_parts(TARGET_PART_ROWS * 3 - 1, 10**6, 8, 1) == 2
    assert _n_parts(10**6, 10**6, 8, 1) == 8
    # Too little work per part: fewer parts.
    assert _n_parts(1024, 100, 8, 100 * 512) == 2
    for m in range(1, 300):
        p = _n_parts(m, 5000, 8, 1 << 18)
        assert 1 <= p <= 8 and (p == 1 or m // p >= MIN_PART_ROWS)
        assert p <= 2 or m // p >= TARGET_PART_ROWS


@pytest.mark.skipif(max_threads() < 2, reason="needs a thread pool of at least 2")
@pytest.mark.parametrize("mode", ["minibatch", "batch"])
def test_trainer_results_do_not_depend_on_threads(mode, dtype, monkeypatch):
    # Small enough for CI, split anyway: every batch of 64 becomes 4 parts.
    monkeypatch.setattr(Trainer, "MIN_PART_MACS", 1)
    X, Y = random_problem(300, 12, 3, dtype, seed=4)
    params = []
    for threads in (1, 2, None):
        net = Network((12, 20, 3), seed=0, dtype=dtype)
        trainer = Trainer(net, X, Y, mode=mode, batch_size=64, lr=0.5, seed=7, threads=threads)
        assert trainer.ws.parts > 1
        for _ in range(3):
            trainer.epoch()
        params.append(net.params.copy())
    np.testing.assert_array_equal(params[0], params[1])
    np.testing.assert_array_equal(params[0], params[2])


def test_fit_matches_reference_when_batches_are_split(monkeypatch):
    monkeypatch.setattr(Trainer, "MIN_PART_MACS", 1)
    X, Y = random_problem(150, 5, 2, np.float64, seed=8)
    net = Network((5, 9, 2), seed=3)
    ref_W = [W.copy() for W in net.weights]
    ref_b = [b.copy() for b in net.biases]
    fastprop.fit(X, Y, network=net, mode="minibatch", batch_size=64, lr=0.5, epochs=4, seed=2)
    ref_history = reference.train(
        ref_W, ref_b, X, Y, mode="minibatch", batch_size=64, lr=0.5, epochs=4, seed=2
    )
    assert_close(np.array(net.history), np.array(ref_history), np.float64, "history")
    assert_close(net.params, flat(ref_W, ref_b), np.float64, "weights")


@pytest.mark.parametrize(
    ("threads", "error", "match"),
    [
        (0, ValueError, "threads must be between 1 and"),
        (10**6, ValueError, "threads must be between 1 and"),
        (1.5, TypeError, "threads must be None or a positive integer"),
        (True, TypeError, "threads must be None or a positive integer"),
    ],
)
def test_bad_thread_counts_are_named(threads, error, match):
    X, Y = random_problem(10, 2, 1)
    with pytest.raises(error, match=match):
        fastprop.fit(X, Y, hidden=(3,), epochs=1, threads=threads)
    with pytest.raises(error, match=match):
        Trainer(Network((2, 3, 1)), X, Y, threads=threads)


WARM_BOTH = """
import numpy as np
from fastprop import Network, kernels
from fastprop.workspace import Workspace
net = Network((3, 4, 1), seed=0)
ws = Workspace(net, 4, 2)
X, Y = np.random.rand(40, 3), np.random.rand(40, 1)
order = np.arange(40)
for kernel in (kernels.parts_epoch, kernels.parts_epoch_parallel):
    kernel(X, Y, order, net.params, net._sizes, net._offsets, ws.partials, ws.part_acts,
           ws.part_deltas, ws.part_loss, ws.act_off, 40, 4, 16, 2, 1,
           0.1, True, 0)
"""


def test_parallel_twins_have_cache_files_of_their_own(tmp_path):
    # Numba keys its disk cache by function name and signature, not by options:
    # a twin under the same name would load the serial machine code (numba#6845).
    import os
    import subprocess
    import sys

    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    subprocess.run([sys.executable, "-c", WARM_BOTH], env=env, check=True)
    names = {f.split("-")[0] for _, _, files in os.walk(tmp_path) for f in files
             if f.endswith(".nbi")}
    for kernel in ("parts_gradient", "reduce_step", "batch_step", "parts_epoch"):
        serial = [n for n in names if n.endswith(f".{kernel}") or n.endswith(f"._{kernel}")]
        parallel = [n for n in names if n.endswith(f"{kernel}_parallel")]
        assert serial and parallel, f"{kernel}: cache index files {sorted(names)}"
    assert kernels.parts_epoch_parallel is not kernels.parts_epoch
    assert kernels.parallel.parts_gradient_parallel.targetoptions["parallel"]
    assert not kernels.parallel.parts_gradient.targetoptions.get("parallel", False)


def blas_counts():
    from fastprop.threads import _openblas_thread_setters

    setters = _openblas_thread_setters()
    if not setters:
        pytest.skip("no OpenBLAS in this process (another BLAS is not managed)")
    return [get() for _, get in setters]


@pytest.mark.parametrize("threads", [None, 1, 2])
def test_openblas_is_held_to_one_thread_and_given_back(threads):
    # One thread whatever `threads` says: OpenBLAS's float32 GEMM gives other
    # bits on 2 threads than on 1, so more would make results depend on it.
    from fastprop.threads import KernelThreads, max_threads

    if threads and threads > max_threads():
        pytest.skip("needs NUMBA_NUM_THREADS >= 2")
    before = blas_counts()
    with KernelThreads(threads, splits=False, uses_blas=True):
        assert blas_counts() == [1] * len(before)
    assert blas_counts() == before
    with KernelThreads(threads, splits=False, uses_blas=False):
        assert blas_counts() == before  # no BLAS, nothing touched


def test_overlapping_kernel_calls_keep_blas_held_until_the_last_ends():
    from fastprop.threads import KernelThreads

    before = blas_counts()
    first = KernelThreads(None, uses_blas=True)
    second = KernelThreads(None, uses_blas=True)
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)  # the first call ends while the second still runs
    assert blas_counts() == [1] * len(before)
    second.__exit__(None, None, None)
    assert blas_counts() == before


def test_trainer_holds_blas_only_when_its_layers_use_it():
    from fastprop.kernels.config import BLAS_MIN_MACS

    X, Y = random_problem(300, 64, 10)
    big = Trainer(Network((64, 32, 10)), X, Y, batch_size=256)
    assert 256 * 64 * 32 >= BLAS_MIN_MACS and big.threads.uses_blas
    small = Trainer(Network((64, 32, 10)), X, Y, mode="sgd")
    assert not small.threads.uses_blas


@pytest.mark.parametrize(("hint", "expected"), [
    (None, "pool"), ("1", 1), ("64", "pool"), ("0", "pool"), ("two", "pool"), ("", "pool"),
])
def test_default_threads_follow_omp_num_threads_when_smaller(hint, expected, monkeypatch):
    from fastprop.threads import KernelThreads, default_threads

    if hint is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", hint)
    want = max_threads() if expected == "pool" else expected
    assert default_threads() == want
    assert KernelThreads(None).threads == want
    assert KernelThreads(None).use_pool == (want > 1)
    assert KernelThreads(max_threads()).threads == max_threads()  # an explicit count wins


@pytest.mark.skipif(max_threads() < 2, reason="needs a thread pool of at least 2")
def test_omp_num_threads_one_trains_serially_to_the_same_bits(monkeypatch):
    X, Y = random_problem(512, 24, 3)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    pooled = fastprop.fit(X, Y, (40,), mode="batch", epochs=3, seed=0)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    trainer = Trainer(Network((24, 40, 3)), X, Y, mode="batch")
    assert trainer.ws.parts > 1 and not trainer.threads.use_pool
    alone = fastprop.fit(X, Y, (40,), mode="batch", epochs=3, seed=0)
    np.testing.assert_array_equal(alone.params, pooled.params)
