"""Compiler flags have one home (``kernels/config.py``) and every kernel uses it.

Not for NUMBA_DISABLE_JIT runs: there are no dispatchers to inspect.
"""

import inspect
import re

from numba.core.registry import CPUDispatcher

import fastprop.kernels as kernels
from fastprop.kernels import config, epochs, layers, network, parallel, scalar

MODULES = [epochs, layers, network, parallel, scalar]


def dispatchers():
    for module in MODULES:
        for name, obj in vars(module).items():
            if isinstance(obj, CPUDispatcher) and obj.py_func.__module__ == module.__name__:
                yield f"{module.__name__}.{name}", obj


def test_no_kernel_hard_codes_fastmath():
    for module in MODULES:
        source = inspect.getsource(module)
        assert not re.search(r"fastmath\s*=\s*(True|\{)", source), module.__name__


def test_every_kernel_uses_the_flag_set_without_nnan_or_ninf():
    assert not {"nnan", "ninf", "fast"} & config.FASTMATH
    seen = 0
    for name, dispatcher in dispatchers():
        options = dispatcher.targetoptions
        assert options.get("fastmath") == config.FASTMATH, name
        # cache=True is a dispatcher option: its cache object is a real one.
        assert type(dispatcher._cache).__name__ != "NullCache", name
        seen += 1
    assert seen >= 20


def test_parallel_only_where_named_so():
    for name, dispatcher in dispatchers():
        parallel = bool(dispatcher.targetoptions.get("parallel", False))
        if parallel:
            assert name.endswith("_parallel"), name
    assert kernels.parallel.reduce_step_parallel.targetoptions["parallel"]
