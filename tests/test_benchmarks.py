"""The asv suite (``asv_bench/benchmarks``) runs: every benchmark class, once, on small workloads.

asv itself only discovers benchmarks when it runs them, so a broken setup or
a renamed fastprop API would otherwise surface on the next benchmark run, not
in CI. This calls each class the way asv does (``setup``, the measured method,
``teardown``) on the parameter combinations that take well under a second,
and checks what comes back. Nothing here looks at a time. ``tests/run.sh``
also runs ``asv check`` on the whole suite.
"""

import itertools
import sys
from pathlib import Path

import numpy as np
import pytest

import fastprop
from fastprop import reference

ASV_DIR = Path(__file__).resolve().parent.parent / "asv_bench"
sys.path.insert(0, str(ASV_DIR))

from benchmarks import (  # noqa: E402
    bench_epochs,
    bench_kernels,
    bench_memory,
    bench_startup,
    common,
    harness,
)

SMALL_WORKLOADS = ("seeds", "digits")


def measured_methods(cls):
    prefixes = ("time_", "track_", "peakmem_", "timeraw_", "mem_")
    return [name for name in dir(cls) if name.startswith(prefixes)]


def small_params(cls):
    """Every parameter combination of ``cls`` whose workload is a small one."""
    names = getattr(cls, "param_names", [])
    if not names:
        return [()]
    combos = itertools.product(*cls.params)
    if "workload" not in names:
        return list(combos)
    w = names.index("workload")
    return [c for c in combos if c[w] in SMALL_WORKLOADS]


def run_like_asv(cls, params):
    bench = cls()
    bench.setup(*params)
    try:
        return [getattr(bench, m)(*params) for m in measured_methods(cls)]
    finally:
        if hasattr(bench, "teardown"):
            bench.teardown(*params)


EPOCH_CLASSES = [
    obj for name, obj in vars(bench_epochs).items()
    if isinstance(obj, type) and name.startswith(("Time", "Ratio"))
]


def test_every_epoch_class_is_collected():
    names = {cls.__name__ for cls in EPOCH_CLASSES}
    for mode in ("SGD", "MiniBatch", "FullBatch"):
        assert {f"Time{mode}", f"TimeReference{mode}", f"Ratio{mode}"} <= names


@pytest.mark.parametrize(
    ("cls", "params"),
    [(cls, p) for cls in EPOCH_CLASSES for p in small_params(cls)],
    ids=lambda v: v.__name__ if isinstance(v, type) else "-".join(map(str, v)),
)
def test_epoch_benchmark_runs(cls, params, monkeypatch):
    # A ratio measures at least three pairs; keep each as short as a single epoch.
    monkeypatch.setattr(harness, "SAMPLE_SECONDS", 0.0)
    results = run_like_asv(cls, params)
    assert results, f"{cls.__name__} has no measured method"
    if cls.__name__.startswith("Ratio"):
        (ratio,) = results
        # fastprop time over reference time: positive and finite (no claim on its size).
        assert np.isfinite(ratio) and ratio > 0
    bench = cls()
    bench.setup(*params)
    trainer = getattr(bench, "trainer", None) or bench.fast
    assert trainer.epoch() >= 0  # the warm trainer keeps training finitely


def test_too_slow_combinations_are_skipped_not_run():
    impl, mode, workload, dtype = sorted(harness.TOO_SLOW)[0]
    with pytest.raises(NotImplementedError, match="not benchmarked"):
        harness.skip_if_too_slow(impl, mode, workload, dtype)


@pytest.mark.parametrize("impl", ["fastprop", "reference"])
def test_peak_memory_benchmark_runs(impl):
    # The smallest memory workload in one dtype; the 200k-sample set is for asv runs.
    run_like_asv(bench_memory.PeakMemFullBatch, (impl, "mnist", "float32"))


def test_epoch_extra_memory_benchmark_sees_the_reference_hold_every_activation():
    extra = {}
    for impl in ("fastprop", "reference"):
        (extra[impl],) = run_like_asv(
            bench_memory.TrackEpochExtraMemory, (impl, "digits200k", "float32")
        )
    # The reference keeps 200,000 rows of activations and deltas (over 100 MiB);
    # fastprop's chunks and parts hold a few hundred rows.
    assert 0 <= extra["fastprop"] < extra["reference"]
    assert extra["reference"] > 100


def test_startup_benchmark_code_runs_in_a_fresh_interpreter(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # asv's working dir: the primed cache is made there
    bench = bench_startup.StartupWarmCache()
    bench.setup()  # primes a cache dir in a child interpreter: the cold compile path
    harness.run_python(bench.timeraw_import_and_first_fit())
    # The split figures come from the child's own clocks, one fresh child each.
    parts = bench_startup.StartupWarmCacheParts()
    parts.setup()
    assert parts.cache_dir == bench.cache_dir
    assert parts.track_import_seconds() > 0
    assert parts.track_first_fit_seconds() > 0


def test_workloads_are_fixed_seed_data():
    for name in ("seeds", "digits", "mnist"):
        X1, Y1 = common.data(name)
        X2, Y2 = common.data(name)
        np.testing.assert_array_equal(X1, X2)
        np.testing.assert_array_equal(Y1, Y2)
        w = common.WORKLOADS[name]
        assert X1.shape == (w.n_samples, w.layer_sizes[0])
        assert Y1.shape == (w.n_samples, w.layer_sizes[-1])


def test_compare_table_numbers_round_into_the_next_suffix():
    import compare  # asv_bench/compare.py, the comparison command

    assert compare.si(999_600) == "1M"  # not "1e+03k"
    assert compare.si(999.6) == "1k"
    assert compare.si(1_234_567) == "1.23M"
    assert compare.si(56_512) == "56.5k"
    assert compare.si(42) == "42"
    assert compare.si(0.5) == "0.5"


KERNEL_CASES = [
    (cls, p) for cls in (bench_kernels.TimeLayerGemm, bench_kernels.TimePartsGradient)
    for p in small_params(cls)
] + [(bench_kernels.RatioLayerGemm, ("256x64x32", dtype, op))
     for dtype in harness.DTYPES for op in bench_kernels.OPS]


@pytest.mark.parametrize(
    ("cls", "params"), KERNEL_CASES,
    ids=lambda v: v.__name__ if isinstance(v, type) else "-".join(map(str, v)),
)
def test_kernel_benchmark_runs(cls, params):
    results = run_like_asv(cls, params)
    assert results, f"{cls.__name__} has no measured method"
    if cls is bench_kernels.RatioLayerGemm:
        (ratio,) = results
        assert np.isfinite(ratio) and ratio > 0


def test_parts_benchmark_computes_the_gradient():
    bench = bench_kernels.TimePartsGradient()
    bench.setup("digits-1797", "float64", "parallel")
    bench.time_gradient("digits-1797", "float64", "parallel")
    assert bench.n_parts > 1, "the benchmark must exercise the parts"
    grad = bench.ws.partials[: bench.n_parts].sum(axis=0)
    net = bench.net
    _, ref_gW, _ = reference.gradients(net.weights, net.biases, bench.X, bench.Y, "mse", "sum")
    np.testing.assert_allclose(grad[: ref_gW[0].size], ref_gW[0].ravel(), rtol=1e-10, atol=1e-12)


def test_compare_keeps_each_systems_fastest_thread_count():
    import compare

    key_fp, key_jax = ("fastprop", "mnist", "mb32"), ("jax", "mnist", "mb32")
    cell = compare.Cell
    runs = {
        1: {key_fp: cell([2.0, 1.0, 3.0], 100, 100), key_jax: cell([1.0], 100, 100)},
        2: {key_fp: cell([0.5], 100, 100), key_jax: cell([4.0], 100, 100)},
    }
    best = compare.best_of_threads(runs)
    assert (best[key_fp].threads, best[key_fp].samples_per_s) == (2, 200.0)
    assert (best[key_jax].threads, best[key_jax].samples_per_s) == (1, 100.0)
    assert compare.cell_text(best[key_jax], best[key_fp], False) == "100 @1t (0.50x)"
    # One count given: the cell carries no thread mark.
    assert compare.cell_text(runs[1][key_jax], None, False) == "100"


def test_compare_runs_each_thread_count_with_the_same_options():
    import compare

    args = compare.parse_args(["--threads", "1", "2", "--workloads", "digits", "--modes", "sgd",
                               "--systems", "fastprop", "jax", "--repeats", "2"])
    assert args.threads == [1, 2]
    child = compare.parse_args(compare.child_argv(args, 1, "out.json")[1:])
    assert (child.threads, child.json, child.workloads, child.modes, child.systems,
            child.repeats, child.dtype) == ([1], "out.json", ["digits"], ["sgd"],
                                            ["fastprop", "jax"], 2, "float32")


def test_compare_float64_peer_trains_fastprops_network_in_float64():
    """``--systems fastprop fastprop-f64``: the same weights and data, trained in float64."""
    import peers

    X, Y = (np.ascontiguousarray(a[:100]) for a in common.data("digits", np.float32))
    net = fastprop.Network(common.WORKLOADS["digits"].layer_sizes, seed=0, dtype=np.float32)
    kwargs = dict(mode="minibatch", batch_size=32, lr=0.5, shuffle=False, seed=0)
    f64 = peers.load("fastprop-f64").make(net, X, Y, **kwargs)
    f64.epoch()
    weights, _ = f64.params()
    assert weights[0].dtype == np.float64
    assert net.weights[0].dtype == np.float32  # the run's network is left alone
    # The same epoch by fastprop's own peer, from the same weights made float64.
    net64 = fastprop.Network.from_arrays(net.weights, net.biases, dtype=np.float64)
    ref = peers.load("fastprop").make(net64, X.astype(np.float64), Y.astype(np.float64),
                                      **kwargs)
    ref.epoch()
    np.testing.assert_array_equal(weights[0], ref.params()[0][0])
    assert "fastprop-f64" in peers.MODULES and "fastprop-f64" not in peers.DEFAULT


@pytest.mark.parametrize("case", ["sgd", "wide", "float64"])
def test_gap_profiles_run(case, capsys):
    """``asv_bench/profile_gaps.py``, the profiles the README quotes for unmet targets, runs."""
    import profile_gaps

    result = profile_gaps.main([case, "--quick"])
    times = [result] if isinstance(result, dict) else list(result)
    assert all(s > 0 and np.isfinite(s) for t in times for s in t.values())
    assert "GMAC/s" in capsys.readouterr().out
