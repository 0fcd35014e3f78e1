"""Cold start: a fresh interpreter imports fastprop and runs a first small fit.

The only benchmarks that time compilation, on purpose: with an empty Numba
cache (what a new user, or the first run after a kernel edit, pays), and with
a cache that an earlier process filled (every later run). Each sample is a new
interpreter (asv's ``timeraw_``), and the timed code sets ``NUMBA_CACHE_DIR``
before anything imports numba.

The ``track_`` figures split the same run as the interpreter's own clocks
see it: seconds to import fastprop (numpy and numba included) and seconds of
the first fit (with a warm cache: Numba's one-time set-up, which imports
scipy.linalg, plus loading the one cached kernel the fit calls), and, for the
empty cache, the CPU seconds of the whole interpreter, which a busy machine
inflates far less than wall time (the compile itself runs on one thread).
"""

import json
import os
import shutil
import tempfile
from functools import lru_cache

from .harness import run_python

# The first fit a user runs: the teaching notes' 4-sample problem with every
# default (hidden=(32,), mini-batch, float64; a 3-4-1 network would take the
# tiny networks' own kernel instead), one epoch.
FIRST_FIT_IMPORTS = """
import numpy as np
import fastprop
"""
FIRST_FIT_CALL = """
X = np.array([[0.2, 0.4, 0.6], [0.3, 0.3, 0.1], [0.5, 0.4, 0.7], [0.8, 0.4, 0.1]])
Y = np.array([[0.8], [0.2], [0.4], [0.6]])
fastprop.fit(X, Y, epochs=1, seed=0)
"""
FIRST_FIT = FIRST_FIT_IMPORTS + FIRST_FIT_CALL

# FIRST_FIT with the child's own clock readings printed as JSON.
TIMED_FIRST_FIT = f"""
import json, os, time
t0 = time.perf_counter()
{FIRST_FIT_IMPORTS}
t1 = time.perf_counter()
{FIRST_FIT_CALL}
t2 = time.perf_counter()
cpu = os.times()
print(json.dumps({{"import": t1 - t0, "first_fit": t2 - t1, "cpu": cpu.user + cpu.system}}))
"""


def _with_cache_dir(cache_dir_expr):
    """Timed code: point Numba at ``cache_dir_expr`` (a Python expression), then fit."""
    return f"import os, tempfile\nos.environ['NUMBA_CACHE_DIR'] = {cache_dir_expr}\n{FIRST_FIT}"


def _timed_first_fit(cache_dir):
    """TIMED_FIRST_FIT's readings from a fresh interpreter that uses ``cache_dir``."""
    return json.loads(run_python(TIMED_FIRST_FIT, env={"NUMBA_CACHE_DIR": cache_dir}))


@lru_cache(maxsize=1)
def _primed_cache_dir():
    """A Numba cache dir that one earlier interpreter filled by running FIRST_FIT.

    Created in the working directory, which asv makes fresh for each benchmark
    run and deletes afterwards; memoised so that asv re-running setup before
    every sample does not re-prime it.
    """
    cache_dir = tempfile.mkdtemp(prefix="fastprop-numba-warm-", dir=os.getcwd())
    run_python(FIRST_FIT, env={"NUMBA_CACHE_DIR": cache_dir})
    return cache_dir


class _Startup:
    # A sample is one interpreter; no asv warm-up run (it would be a discarded
    # sample). Empty cache: about 6.5 s a sample here, warm: under 1.5 s.
    warmup_time = 0
    repeat = (1, 5, 20.0)
    min_run_count = 1
    rounds = 2
    timeout = 300


class StartupEmptyCache(_Startup):
    """Import + first fit, compiling every kernel it needs."""

    def setup(self):
        # Each sample makes its own empty cache dir under this root, so no
        # sample finds what an earlier one compiled.
        self.root = tempfile.mkdtemp(prefix="fastprop-numba-cold-", dir=os.getcwd())

    def teardown(self):
        shutil.rmtree(self.root, ignore_errors=True)

    def timeraw_import_and_first_fit(self):
        return _with_cache_dir(f"tempfile.mkdtemp(dir={self.root!r})")


class StartupWarmCache(_Startup):
    """Import + first fit, loading every kernel from Numba's disk cache."""

    def setup(self):
        self.cache_dir = _primed_cache_dir()

    def timeraw_import_and_first_fit(self):
        return _with_cache_dir(repr(self.cache_dir))


class StartupEmptyCacheCPU(_Startup):
    """CPU seconds of an interpreter that imports fastprop and compiles its first fit."""

    unit = "seconds"

    def setup(self):
        self.root = tempfile.mkdtemp(prefix="fastprop-numba-cold-", dir=os.getcwd())

    def teardown(self):
        shutil.rmtree(self.root, ignore_errors=True)

    def track_cpu_seconds(self):
        return _timed_first_fit(tempfile.mkdtemp(dir=self.root))["cpu"]


class StartupWarmCacheParts(_Startup):
    """Import and first fit with a warm cache, each on the child's own clock."""

    unit = "seconds"

    def setup(self):
        self.cache_dir = _primed_cache_dir()

    def track_import_seconds(self):
        return _timed_first_fit(self.cache_dir)["import"]

    def track_first_fit_seconds(self):
        return _timed_first_fit(self.cache_dir)["first_fit"]
