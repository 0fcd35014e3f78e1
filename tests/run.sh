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

"$py" -m pytest "$@"
