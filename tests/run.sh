#!/usr/bin/env bash
# The project's test command (README, .ci/run): installs fastprop with its test
# extras into a virtualenv of its own, then runs every check CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${FASTPROP_TEST_VENV:-.venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
py="$venv/bin/python"
"$py" -m pip install --quiet --disable-pip-version-check --upgrade pip
# A local path is always rebuilt, so the tests see the working tree as installed.
"$py" -m pip install --quiet --disable-pip-version-check ".[test]"

# Numba's cache does not notice edits in other files: start from an empty one.
NUMBA_CACHE_DIR="$(mktemp -d)"
export NUMBA_CACHE_DIR
trap 'rm -rf "$NUMBA_CACHE_DIR"' EXIT

"$py" -m pytest "$@"
