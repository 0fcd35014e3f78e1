#!/usr/bin/env bash
# The project's test command (README, .ci/run): installs fastprop with its test
# extras into a virtualenv of its own, then runs every check CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${FASTPROP_TEST_VENV:-.venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
py="$venv/bin/python"
venv_abs="$(cd "$venv" && pwd)"
"$py" -m pip install --quiet --disable-pip-version-check --upgrade pip
# A local path is always rebuilt, so the tests see the working tree as installed.
# bench: asv, so that a broken benchmark fails CI (asv check below, tests/test_benchmarks.py).
"$py" -m pip install --quiet --disable-pip-version-check ".[test,bench]"

# Numba's cache does not notice edits in other files: start from an empty one.
NUMBA_CACHE_DIR="$(mktemp -d)"
export NUMBA_CACHE_DIR
trap 'rm -rf "$NUMBA_CACHE_DIR"' EXIT

# asv imports every benchmark module and checks its structure (no timing).
(cd asv_bench && "$venv_abs/bin/asv" check --python=same)

# Three pytest stages; extra arguments (bash tests/run.sh -k epochs -x) go to
# stages 1 and 2, and FASTPROP_TEST_STAGES picks stages (default "1 2 3").
# Each stage prints its wall time.
stages="${FASTPROP_TEST_STAGES:-1 2 3}"
scratch="$(mktemp -d)"
bg_pid=""
trap '[ -z "$bg_pid" ] || kill -- "-$bg_pid" 2>/dev/null; rm -rf "$NUMBA_CACHE_DIR" "$scratch"' EXIT
# Ctrl-C stops the run (and, through the EXIT trap, the background stage)
# instead of counting as one stage's failure and waiting for the others.
trap 'exit 130' INT
trap 'exit 143' TERM
# Returns the command's status: called as "timed ... || failed=1", set -e is off inside,
# and a function that ended on its echo returned 0 for a failed stage (until session 10,
# every stage 1b or 2 failure passed CI).
timed() {  # timed NAME COMMAND...: run, then print the stage's wall time
    local name="$1" start=$SECONDS rc=0
    shift
    "$@" || rc=$?
    echo "== stage $name: $((SECONDS - start)) s"
    return "$rc"
}

# Stage 1: the suite as users run it, in two pytest processes at once. Six
# files spend almost all their time compiling kernel chains, on one core,
# most of it in child interpreters of their own (test_allocations.py,
# test_cache_bits.py, test_kernels_parallel.py: 390 of stage 1's 550 s on the
# CI box when run in one process; test_compile_lock.py, about 45 s;
# test_benchmarks.py, 150 s of asv benchmarks compiling the chains they time;
# test_concurrency.py, 100 s of children compiling the chains whose bits it
# compares, moved here in session 12 when stages 1b and 2 took 742 s to 1a's 500);
# they run in the background (stage 1a) while the rest of stage 1 and then
# stage 2 use the other core. Their output is printed when they finish; a
# failure in either fails the run. Stage 1a compiles into a Numba cache of
# its own: its tests call parallel kernels directly, past the trainer's
# compile lock (fastprop/compile_lock.py, numba#10128), and sharing stage
# 1b's cache segfaulted test_kernels_parallel.py here.
heavy=(tests/test_allocations.py tests/test_cache_bits.py tests/test_kernels_parallel.py
       tests/test_compile_lock.py tests/test_benchmarks.py tests/test_concurrency.py)
heavy_ignore=()
for f in "${heavy[@]}"; do heavy_ignore+=("--ignore=$f"); done
failed=0
case " $stages " in *" 1 "*)
    # Monitor mode gives the background job a process group of its own, which
    # the EXIT trap kills (its test processes too) if this script stops early.
    set -m
    bash -c 'start=$SECONDS; rc=0; "$@" || rc=$?
             echo "== stage 1a (pytest: the compile-heavy files): $((SECONDS - start)) s"
             exit "$rc"' _ \
        env NUMBA_CACHE_DIR="$scratch/stage1a-cache" \
        "$py" -m pytest -p no:cacheprovider --durations=5 "${heavy[@]}" "$@" \
        >"$scratch/stage1a.log" 2>&1 &
    bg_pid=$!
    set +m
    timed "1b (pytest: every other file)" "$py" -m pytest --durations=15 "${heavy_ignore[@]}" "$@" \
        || failed=1 ;;
esac

# Stage 2: the kernels' tests again with every array index checked (Numba
# checks no bounds by default, so a shape bug would read or write out of
# bounds silently); a fresh cache, since the checks are compiled in; child
# interpreters inherit the setting. Every test file runs except those about
# the plumbing around the kernels (command line, Dask, asv, files, plots,
# estimators, start-up, kill safety, the compile lock, the bits across
# threads and processes: test_concurrency.py, 100 s of stage 1b, compiling
# in child interpreters; the parallel kernels' own index paths are in
# test_kernels_parallel.py), which train through
# the same kernels the remaining files drive on crafted shapes, and the two
# that compile every kernel chain in a child of their own (test_cache_bits.py
# compares compiled and cached bits, test_allocations.py counts allocations:
# 100-180 s each on the CI box). Stage 1 runs them all; without them stage 2
# keeps CI within its 15 minutes.
stage2_skips=(cache_bits allocations compile_lock cli distributed benchmarks faults startup plot
              io tabular sklearn progress backprop_doc config reference scaling concurrency)
stage2_ignore=()
for name in "${stage2_skips[@]}"; do stage2_ignore+=("--ignore=tests/test_$name.py"); done
case " $stages " in *" 2 "*)
    timed "2 (pytest, NUMBA_BOUNDSCHECK=1)" \
        env NUMBA_BOUNDSCHECK=1 NUMBA_CACHE_DIR="$scratch/boundscheck-cache" \
        "$py" -m pytest "${stage2_ignore[@]}" "$@" || failed=1 ;;
esac

if [ -n "$bg_pid" ]; then
    # Exit status 5: the extra arguments (-k ...) selected none of its tests.
    rc=0
    wait "$bg_pid" || rc=$?
    bg_pid=""
    cat "$scratch/stage1a.log"
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ]; then failed=1; fi
fi

# Stage 3: the kernels as plain Python (NUMBA_DISABLE_JIT=1) on tiny inputs,
# with their line coverage. Coverage measures the installed fastprop/kernels/
# and reports it as kernels/ ([tool.coverage.paths] in pyproject.toml). It is
# given that directory, not the module name: a dotted --cov imports the parent
# package early and NumPy then refuses to load twice.
case " $stages " in *" 3 "*)
    kernels_dir="$("$py" -c 'import importlib.util as u, os
print(os.path.dirname(u.find_spec("fastprop.kernels").origin))')"
    timed "3 (pytest tests/test_nojit.py, NUMBA_DISABLE_JIT=1, coverage)" \
        env NUMBA_DISABLE_JIT=1 COVERAGE_FILE="$scratch/coverage" \
        "$py" -m pytest tests/test_nojit.py -q -p no:cacheprovider \
        --cov="$kernels_dir" --cov-report=term-missing || failed=1
    echo "== kernels/ line coverage without JIT: $(COVERAGE_FILE="$scratch/coverage" \
        "$py" -m coverage report --format=total)%" ;;
esac
exit "$failed"
