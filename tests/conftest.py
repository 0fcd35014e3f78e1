"""Shared tolerances and fixtures.

Kernel-vs-reference agreement is checked with ``assert_close``: float64 to
rounding, float32 to what 24-bit arithmetic allows after a few epochs.
"""

import os

import numpy as np
import pytest
from hypothesis import settings

# Hypothesis profiles for the property and fuzz tests: "ci" (default) is small and
# derandomized, so CI is bounded and repeatable; "long" searches much further, on
# demand: FASTPROP_HYPOTHESIS_PROFILE=long python -m pytest tests/test_properties.py
settings.register_profile("ci", max_examples=25, derandomize=True, deadline=None, database=None)
settings.register_profile("long", max_examples=2000, deadline=None, database=None)
settings.load_profile(os.environ.get("FASTPROP_HYPOTHESIS_PROFILE", "ci"))
LONG = os.environ.get("FASTPROP_HYPOTHESIS_PROFILE") == "long"

# Figures that tests report (fuzz cases tried, kills run, models lost), printed at the
# end of the run so that they can be quoted: ``REPORT.append("fuzz: ...")``.
REPORT = []


def pytest_terminal_summary(terminalreporter):
    if REPORT:
        terminalreporter.section("fastprop trust figures")
        for line in REPORT:
            terminalreporter.write_line(line)

# rtol, atol per dtype: the one place tolerances are defined.
TOLERANCES = {
    np.dtype(np.float64): (1e-12, 1e-14),
    np.dtype(np.float32): (1e-5, 1e-6),
}

DTYPES = [np.float64, np.float32]


def tolerance(dtype):
    return TOLERANCES[np.dtype(dtype)]


def assert_close(comp, ref, dtype, what=""):
    """float64 elementwise; float32 with ``atol`` at least ``rtol`` times ``ref``'s largest
    magnitude: a float32 sum is off by a few units of its terms' magnitude, not of its own,
    so an element that cancels to near zero (a weight of 0.027 among weights of 1, after an
    epoch of updates) keeps the error of its terms. The element that showed it: 1.3e-6 apart
    on OpenBLAS's SkylakeX kernels, whose sums the NumPy reference runs on."""
    rtol, atol = tolerance(dtype)
    if np.dtype(dtype) == np.float32 and np.size(ref):
        atol = max(atol, rtol * float(np.max(np.abs(ref))))
    np.testing.assert_allclose(comp, ref, rtol=rtol, atol=atol, err_msg=what)


def random_problem(n, n_in, n_out, dtype=np.float64, seed=0):
    """Inputs in [0, 1) and targets in (0.1, 0.9): a sigmoid output can reach them."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, n_in)).astype(dtype)
    Y = (0.1 + 0.8 * rng.random((n, n_out))).astype(dtype)
    return X, Y


@pytest.fixture(params=DTYPES, ids=["float64", "float32"])
def dtype(request):
    return request.param
