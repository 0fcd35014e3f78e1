"""What ``import fastprop`` loads: no optional library, no module a plain fit does not need.

The optional parts (``fastprop.distributed``, ``fastprop.sklearn``, the
CLI's table reader, ``plot_history``'s matplotlib) import their libraries only
when used, so a plain ``import fastprop`` stays as fast as numba allows and
works without the extras installed. Checked in a fresh interpreter, since
this test process has imported everything already.
"""

import json
import subprocess
import sys

import pytest

NOT_AT_IMPORT = (
    # Optional extras: dask, scikit-learn, matplotlib; pandas comes with dask.
    "dask", "distributed", "sklearn", "matplotlib", "pandas",
    # Found only when a kernel first holds OpenBLAS to one thread.
    "threadpoolctl",
    # fastprop's optional modules.
    "fastprop.cli", "fastprop.distributed", "fastprop.sklearn", "fastprop.tabular",
    "fastprop.progress",
)

pytestmark = pytest.mark.processes


def modules_after(code):
    """The names in ``sys.modules`` of a fresh interpreter after running ``code``."""
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout
    return set(json.loads(out.splitlines()[-1]))


def test_import_fastprop_loads_no_optional_library_or_module():
    loaded = modules_after("import fastprop")
    assert "fastprop.kernels" in loaded  # the check itself sees fastprop's modules
    assert sorted(loaded.intersection(NOT_AT_IMPORT)) == []


def test_optional_modules_still_import_on_request():
    loaded = modules_after("import fastprop.sklearn, fastprop.cli")
    assert {"fastprop.sklearn", "sklearn", "fastprop.cli", "fastprop.tabular"} <= loaded
