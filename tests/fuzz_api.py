"""API fuzzer: random and malformed arguments to fastprop's public calls.

Run as a script (``tests/test_fuzz.py`` runs it in a subprocess, so that an
interpreter crash is seen as a failing exit status rather than a dead pytest):

    python tests/fuzz_api.py --cases 2000 --seed 0

Each case calls one of ``fit``, ``Network``, ``Network.from_arrays``,
``predict``, ``loss``, ``gradients`` or ``load`` on a small valid problem with
one or two arguments replaced by a mutation drawn from a catalogue, each with
an expected outcome:

- ``same``: a layout or type change with an exact twin (a list, a view, a
  Fortran-ordered, read-only or big-endian copy, ints, ``np.int64`` epochs,
  ...): the call must succeed and give bit for bit what the twin gives;
- ``bad``: must raise ValueError or TypeError whose message names the argument;
- ``wild`` (huge, tiny or extreme values): either succeeds with finite
  results or raises ValueError, TypeError or ``fastprop.DivergenceError``;
- ``memory`` (layer sizes that fit int64 but not in memory): ValueError or
  MemoryError, fast (the address space is limited);
- ``damaged`` (a saved model truncated, bit-flipped, overwritten, padded):
  ``ValueError("cannot load ...")`` or exactly the saved network;
- ``cli``: ``fastprop train/predict/info`` (``cli.main``) with random, mostly
  wrong options and files: an exit code 0, 1 or 2 and never a traceback.

A warning other than a UserWarning (a NumPy overflow leaking out, say) is a
failure too. The last line printed is the summary that the test quotes::

    fuzz: 2000 cases (same 700, bad 900, wild 400), 0 failures
"""

import argparse
import contextlib
import faulthandler
import io
import math
import os
import resource
import shutil
import sys
import tempfile
import traceback
import warnings

import numpy as np

try:
    import pandas
except ImportError:  # pandas is optional: its cases are then left out
    pandas = None

faulthandler.enable()

import fastprop  # noqa: E402
from fastprop import DivergenceError, Network  # noqa: E402

ALLOWED = (ValueError, TypeError)


class Case:
    def __init__(self, target, kwargs, twin_kwargs, kind, about, name):
        self.target, self.kwargs, self.twin_kwargs = target, kwargs, twin_kwargs
        self.kind, self.about, self.name = kind, about, name


# --- array mutations -----------------------------------------------------------------------------


def canonical(value):
    """The plain twin of an array-like: native byte order, C order, writeable, own memory."""
    arr = np.asarray(value)
    if arr.dtype.kind == "f" and arr.dtype.itemsize == 4:
        return np.array(arr, dtype=np.float32, order="C")
    return np.array(arr, dtype=np.float64, order="C")


def strided_cols(A):
    big = np.full((A.shape[0], 2 * A.shape[1] + 1), -7.0, dtype=A.dtype)
    big[:, 1::2] = A
    return big[:, 1::2]


def strided_rows(A):
    big = np.full((2 * A.shape[0], *A.shape[1:]), -7.0, dtype=A.dtype)
    big[::2] = A
    return big[::2]


def read_only(A):
    B = np.array(A)
    B.flags.writeable = False
    return B


def ragged(A):
    rows = A.tolist()
    if A.ndim != 2:
        return [[1.0, 2.0], [3.0]]
    rows[-1] = rows[-1][:-1] if len(rows[-1]) > 1 else rows[-1] + [0.5]
    if len(rows) == 1:
        rows.append([0.1] * (A.shape[1] + 1))
    return rows


def with_value(A, value, rng):
    B = np.array(A, dtype=np.float64)
    idx = tuple(int(rng.integers(0, s)) for s in B.shape)
    B[idx] = value
    return B


def same_arrays(A, rng):
    """Layout and type changes of a float64 array that must not change any result."""
    out = {
        "list": A.tolist(),
        "tuple-rows": tuple(tuple(r) if np.ndim(r) else r for r in A.tolist()),
        "fortran": np.asfortranarray(A),
        "readonly": read_only(A),
        "big-endian-f8": A.astype(">f8"),
        "strided-rows": strided_rows(A),
        "float16": A.astype(np.float16),
        "longdouble": A.astype(np.longdouble),
        "negative-zero": np.where(A == 0, -0.0, A),
    }
    if pandas is not None:
        out["pandas"] = pandas.DataFrame(A) if A.ndim == 2 else pandas.Series(A)
    if A.ndim == 2:
        out["strided-cols"] = strided_cols(A)
        out["fortran-strided"] = np.asfortranarray(strided_cols(A))
        out["transposed-copy-T"] = np.ascontiguousarray(A.T).T
    return out


def int_arrays(A):
    """Integer and bool versions of a [0, 1] array (whole numbers: an exact twin)."""
    return {
        "bool": A > 0.5,
        "int8": (A > 0.5).astype(np.int8),
        "uint64": (A > 0.5).astype(np.uint64),
        "int64-big-endian": (A > 0.5).astype(">i8"),
    }


def bad_arrays(A, name, rng, *, allow_1d):
    """Malformed versions of array A that must raise ValueError or TypeError."""
    out = {
        "3d": A[None] if A.ndim == 2 else A[None, None],
        "0d-array": np.array(0.5),
        "0d-scalar": 0.5,
        "empty-rows": A[:0],
        "nan": with_value(A, np.nan, rng),
        "inf": with_value(A, np.inf, rng),
        "-inf": with_value(A, -np.inf, rng),
        "complex": A.astype(complex),
        "complex-zero-imag": A.astype(np.complex64),
        "object": A.astype(object),
        "str": A.astype(str),
        "bytes": A.astype("S8"),
        "datetime": np.zeros(A.shape, dtype="datetime64[s]"),
        "timedelta": np.zeros(A.shape, dtype="timedelta64[ms]"),
        "structured": np.zeros(A.shape[0], dtype=[("a", "f8"), ("b", "f8")]),
        "ragged": ragged(A),
        "ragged-nested": [[[0.1]], [0.2]],
        "none": None,
        "string": "1,2,3",
        "dict": {"a": 1},
        "set": {1.0, 2.0},
        "list-with-none": [[None] * (A.shape[1] if A.ndim == 2 else 1)] * A.shape[0],
        "list-with-str": [["0.5"] * (A.shape[1] if A.ndim == 2 else 1)] * A.shape[0],
        "nan-in-list": [[math.nan] * (A.shape[1] if A.ndim == 2 else 1)] * A.shape[0],
        "empty-list": [],
    }
    if A.ndim == 2:
        out["empty-cols"] = A[:, :0]
        if not allow_1d:
            out["1d"] = A[:, 0].copy()
    return out


def wild_arrays(A, rng):
    """Extreme values: may train or diverge, never crash or return non-finite results."""
    return {
        "huge-1e300": A * 1e300,
        "max-float64": np.full(A.shape, np.finfo(np.float64).max),
        "min-float64": np.full(A.shape, -np.finfo(np.float64).max),
        "mixed-huge-signs": np.where(rng.random(A.shape) < 0.5, -1.0, 1.0) * 1e308,
        "huge-1e39-beyond-float32": A * 1e39,
        "tiny-1e-300": A * 1e-300,
        "subnormal": np.full(A.shape, 5e-324),
        "negative": -A,
        "large-1e6": A * 1e6,
        "float32-max": np.full(A.shape, np.finfo(np.float32).max, dtype=np.float32),
        "uint64-max": np.full(A.shape, np.iinfo(np.uint64).max, dtype=np.uint64),
        "int64-min": np.full(A.shape, np.iinfo(np.int64).min, dtype=np.int64),
    }


# --- scalar mutations ----------------------------------------------------------------------------

# name: (value, twin); the twin is what the value must behave exactly like.
SAME_SCALARS = {
    "lr": {"np.float64": (np.float64(0.3), 0.3), "int": (1, 1.0), "np.int64": (np.int64(1), 1.0),
           "fraction": (__import__("fractions").Fraction(1, 4), 0.25)},
    "epochs": {"np.int64": (np.int64(2), 2), "np.uint8": (np.uint8(2), 2)},
    "batch_size": {"huge": (10**18, 10**6), "np.int32": (np.int32(3), 3)},
    "seed": {"np.int64": (np.int64(5), 5), "big": (2**200, 2**200)},
    "shuffle": {"np.bool_": (np.bool_(False), False)},
    "tol": {"zero": (0, 0.0), "np.float32": (np.float32(0.5), float(np.float32(0.5)))},
    "hidden": {"int": (3, (3,)), "list": ([2, 2], (2, 2)), "np.array": (np.array([2, 1]), (2, 1)),
               "np.int64": ((np.int64(2),), (2,)), "generator": None},
    "threads": {"one": (1, None), "np.int64": (np.int64(1), None)},
    "dtype": {"str": ("float64", np.float64), "big-endian": (">f8", np.float64),
              "np.dtype": (np.dtype("float32"), np.float32), "char": ("f", np.float32)},
}

BAD_SCALARS = {
    "lr": [0, -1.0, math.nan, math.inf, -math.inf, "0.1", None, True, 1j, 1e309, [0.1],
           np.array([0.1, 0.2]), 10**400, __import__("decimal").Decimal("0.1")],
    "epochs": [0, -1, 1.5, "2", None, True, 2.0, np.float64(2)],
    "batch_size": [0, -3, 2.5, None, "a", False],
    "mode": ["SGD", "", None, 1, b"sgd", "mini-batch"],
    "loss": ["MSE", "l2", None, 0],
    "reduction": ["avg", None, 1],
    "init": ["he", None, 0],
    "tol": [-1.0, math.nan, math.inf, "x", True, 1j, 10**400],
    "seed": [-1, 1.5, "1", True, [1, 2]],
    "shuffle": [1, "yes", None, 0.0],
    "dtype": [int, "int32", complex, object, "float16", "nonsense", 5, np.int64, "f2"],
    "hidden": [(0,), (-1,), (2.5,), "3", None, (True,), [[2]], 0, (2, 0), 1.0],
    "network": ["net", 5, np.zeros(3)],
    "threads": [0, -1, "2", 1.5, True, 10**6],
    "scale": ["zscore", 1, True],
    "validation_split": [0, 1, -0.1, 1.5, "0.2", math.nan, True],
    "patience": [0, -1, 1.5, "3"],
    "classify": ["yes", 1, None],
}

WILD_SCALARS = {
    "lr": [1e300, 1e-300, 5e-324, 1e30, 1e6, 1e39],
    "tol": [1e300, 5e-324],
    "batch_size": [1, 10**12],
    "hidden": [(70, 1, 70), (1,) * 6],
    # Options that must work (or refuse a too-small problem clearly).
    "scale": ["minmax", "standard"],
    "validation_split": [0.3, 0.5],
    "patience": [1, 2],
    "classify": [True],
}


# --- cases ---------------------------------------------------------------------------------------


def base_problem(rng):
    n = int(rng.integers(1, 9))
    n_in = int(rng.integers(1, 5))
    n_out = int(rng.integers(1, 4))
    X = rng.random((n, n_in))
    Y = 0.1 + 0.8 * rng.random((n, n_out))
    return X, Y


def fit_kwargs(rng, X, Y):
    return dict(
        X=X, Y=Y, hidden=(int(rng.integers(1, 4)),),
        mode=str(rng.choice(["sgd", "minibatch", "batch"])),
        batch_size=int(rng.integers(1, 5)), lr=0.5, epochs=int(rng.integers(1, 3)),
        loss=str(rng.choice(["mse", "bce"])), reduction=str(rng.choice(["mean", "sum"])),
        shuffle=bool(rng.integers(0, 2)), seed=int(rng.integers(0, 100)),
    )


def pick(rng, mapping):
    key = list(mapping)[int(rng.integers(0, len(mapping)))]
    return key, mapping[key]


def array_mutation(rng, A, name, *, allow_1d=False, unit=True):
    """One mutation of array A: (value, kind, twin, label)."""
    r = rng.random()
    if r < 0.35:
        label, value = pick(rng, same_arrays(A, rng))
        return value, "same", canonical(value), label
    if r < 0.45 and unit:
        label, value = pick(rng, int_arrays(A))
        return value, "same", canonical(value), label
    if r < 0.8:
        label, value = pick(rng, bad_arrays(A, name, rng, allow_1d=allow_1d))
        return value, "bad", None, label
    label, value = pick(rng, wild_arrays(A, rng))
    return value, "wild", None, label


def fit_case(rng):
    X, Y = base_problem(rng)
    kwargs = fit_kwargs(rng, X, Y)
    twin = dict(kwargs)
    r = rng.random()
    if r < 0.5:
        name = str(rng.choice(["X", "Y"]))
        A = kwargs[name]
        if name == "Y" and rng.random() < 0.3:
            A = (A > 0.5).astype(np.float64)  # 0/1 targets, so int and bool twins are exact
            kwargs["Y"] = twin["Y"] = A
        # A fresh fit reads a 1-d Y as one output, whatever Y was.
        value, kind, tw, label = array_mutation(
            rng, A, name, allow_1d=(name == "Y"), unit=(name == "X" or not (A % 1).any()),
        )
        kwargs[name] = value
        if kind == "same":
            twin[name] = tw
        return Case("fit", kwargs, twin, kind, name, f"fit {name}={label}")
    if r < 0.6:
        # Rows that do not match, or features that do not match a network being continued.
        net = Network((X.shape[1], 2, Y.shape[1]), seed=0)
        if rng.random() < 0.5:
            kwargs["Y"] = Y[:-1] if Y.shape[0] > 1 else np.vstack([Y, Y])
            return Case("fit", kwargs, None, "bad", "rows", "fit rows differ")
        kwargs["network"] = net
        kwargs.pop("hidden")
        kwargs["X"] = np.hstack([X, X])
        return Case("fit", kwargs, None, "bad", "network", "fit network features differ")
    name, options = pick(rng, BAD_SCALARS | {k: None for k in SAME_SCALARS})
    s = rng.random()
    if name in SAME_SCALARS and (s < 0.4 or name not in BAD_SCALARS):
        label, pair = pick(rng, SAME_SCALARS[name])
        if pair is None:  # a generator of widths
            kwargs["hidden"] = (w for w in (2, 1))
            twin["hidden"] = (2, 1)
        else:
            kwargs[name], twin[name] = pair
        if name == "dtype":
            twin["X"] = X.astype(twin[name])
        return Case("fit", kwargs, twin, "same", name, f"fit {name}={label}")
    if name in WILD_SCALARS and s < 0.6:
        value = WILD_SCALARS[name][int(rng.integers(0, len(WILD_SCALARS[name])))]
        kwargs[name] = value
        if name == "classify":
            kwargs["Y"] = rng.integers(0, 3, size=X.shape[0])
        if name == "patience":
            kwargs["validation_split"] = 0.5
        return Case("fit", kwargs, None, "wild", name, f"fit {name}={value!r}")
    values = BAD_SCALARS[name]
    value = values[int(rng.integers(0, len(values)))]
    kwargs[name] = value
    if name == "network":
        kwargs.pop("hidden")
    return Case("fit", kwargs, None, "bad", name, f"fit {name}={value!r}")


def network_case(rng):
    sizes = tuple(int(s) for s in rng.integers(1, 5, size=int(rng.integers(2, 5))))
    kwargs = dict(layer_sizes=sizes, seed=int(rng.integers(0, 100)),
                  init=str(rng.choice(["xavier", "uniform"])),
                  dtype=[np.float64, np.float32][int(rng.integers(0, 2))])
    twin = dict(kwargs)
    r = rng.random()
    if r < 0.3:
        label, (value, tw) = pick(rng, {
            "list": (list(sizes), sizes), "np.array": (np.array(sizes), sizes),
            "np.int32": (tuple(np.int32(s) for s in sizes), sizes),
            "generator": ((s for s in sizes), sizes),
        })
        kwargs["layer_sizes"], twin["layer_sizes"] = value, tw
        return Case("Network", kwargs, twin, "same", "layer_sizes", f"Network sizes={label}")
    if r < 0.35:
        # Fits int64 but not in memory (8e12 bytes): MemoryError, fast under the rlimit.
        kwargs["layer_sizes"] = (1, 10**6, 10**6)
        return Case("Network", kwargs, None, "memory", "layer_sizes", "Network sizes=huge")
    if r < 0.75:
        value = [
            (3,), (), (0, 1), (-1, 2), (2.0, 1), "21", None, 5, (True, 1), (2, None),
            np.array([[2, 1]]), (1, 10**12, 10**12), (2**70, 1), [1.5, 2],
        ][int(rng.integers(0, 14))]
        kwargs["layer_sizes"] = value
        return Case("Network", kwargs, None, "bad", "layer_sizes", f"Network sizes={value!r}")
    name = str(rng.choice(["seed", "init", "dtype"]))
    values = BAD_SCALARS[name]
    kwargs[name] = values[int(rng.integers(0, len(values)))]
    return Case("Network", kwargs, None, "bad", name, f"Network {name}={kwargs[name]!r}")


def from_arrays_case(rng):
    sizes = tuple(int(s) for s in rng.integers(1, 5, size=int(rng.integers(2, 4))))
    net = Network(sizes, seed=0, init="uniform")
    weights = [W.copy() for W in net.weights]
    biases = [b.copy() for b in net.biases]
    twin = dict(weights=weights, biases=biases)
    l = int(rng.integers(0, len(weights)))
    which = str(rng.choice(["weights", "biases"]))
    arrays = dict(weights=list(weights), biases=list(biases))
    A = arrays[which][l]
    r = rng.random()
    if r < 0.3:
        label, value = pick(rng, same_arrays(A, rng))
        if label in ("float16", "longdouble"):  # these change the values or the result dtype
            label, value = "fortran", np.asfortranarray(A)
        arrays[which][l] = value
        tw = dict(weights=list(weights), biases=list(biases))
        tw[which][l] = canonical(value)
        return Case("from_arrays", arrays, tw, "same", which, f"from_arrays {which}={label}")
    if r < 0.4:
        arrays[which] = arrays[which][:-1] if len(arrays[which]) > 1 else []
        return Case("from_arrays", arrays, None, "bad", which, f"from_arrays short {which}")
    if r < 0.5:
        arrays[which][l] = np.ones((*A.shape[:-1], A.shape[-1] + 1))
        return Case("from_arrays", arrays, None, "bad", which, f"from_arrays {which} shape")
    label, value = pick(rng, bad_arrays(A, which, rng, allow_1d=(which == "biases")))
    if which == "biases" and label in ("0d-array", "0d-scalar") and A.shape == (1,):
        label, value = "nan", with_value(A, np.nan, rng)
    arrays[which][l] = value
    return Case("from_arrays", arrays, twin, "bad", f"{which}[{l}]", f"from_arrays {which}={label}")


def model_case(rng, target):
    """predict, loss or gradients of a fixed small network."""
    X, Y = base_problem(rng)
    net = Network((X.shape[1], 3, Y.shape[1]), seed=1, init="uniform",
                  dtype=[np.float64, np.float32][int(rng.integers(0, 2))])
    kwargs = dict(network=net, X=X)
    if target != "predict":
        kwargs.update(Y=Y, loss=str(rng.choice(["mse", "bce"])),
                      reduction=str(rng.choice(["mean", "sum"])))
    twin = dict(kwargs)
    names = {"predict": ["X"], "loss": ["X", "Y", "loss", "reduction"],
             "gradients": ["X", "Y", "loss", "reduction", "network"]}[target]
    name = names[int(rng.integers(0, len(names)))]
    if name in ("loss", "reduction"):
        values = BAD_SCALARS[name]
        kwargs[name] = values[int(rng.integers(0, len(values)))]
        return Case(target, kwargs, None, "bad", name, f"{target} {name}={kwargs[name]!r}")
    if name == "network":
        kwargs["network"] = BAD_SCALARS["network"][int(rng.integers(0, 3))]
        return Case(target, kwargs, None, "bad", "network", f"{target} network=bad")
    A = kwargs[name]
    if rng.random() < 0.15:
        value = np.hstack([A, A])  # columns the network does not have
        kwargs[name] = value
        return Case(target, kwargs, None, "bad", name, f"{target} {name}=wrong-columns")
    value, kind, tw, label = array_mutation(
        rng, A, name, allow_1d=(name == "Y" and Y.shape[1] == 1), unit=(name == "X"),
    )
    kwargs[name] = value
    if kind == "same":
        twin[name] = tw
    return Case(target, kwargs, twin, kind, name, f"{target} {name}={label}")


LOAD_STATE = {}


def load_case(rng):
    """A saved model's file, damaged at random, or a path that is not a path."""
    if "dir" not in LOAD_STATE:
        LOAD_STATE["dir"] = tempfile.mkdtemp(prefix="fastprop-fuzz-")
        net = fastprop.fit(*base_problem(np.random.default_rng(0)), (3,), epochs=2, seed=0)
        good = os.path.join(LOAD_STATE["dir"], "good.npz")
        net.save(good)
        with open(good, "rb") as f:
            LOAD_STATE["bytes"], LOAD_STATE["net"] = f.read(), net
    data = bytearray(LOAD_STATE["bytes"])
    r = rng.random()
    if r < 0.1:
        value = [None, 5, 1.5, b"\0", ["a"], LOAD_STATE["dir"], "/nonexistent/x.npz"][
            int(rng.integers(0, 7))]
        return Case("load", dict(path=value), None, "bad", "path", f"load path={value!r}")
    how = ["truncate", "flip-bits", "overwrite-chunk", "append-junk", "insert-junk",
           "zero-chunk"][int(rng.integers(0, 6))]
    n = len(data)
    if how == "truncate":
        data = data[: int(rng.integers(0, n))]
    elif how == "flip-bits":
        for _ in range(int(rng.integers(1, 9))):
            i = int(rng.integers(0, n))
            data[i] ^= 1 << int(rng.integers(0, 8))
    elif how in ("overwrite-chunk", "zero-chunk"):
        i = int(rng.integers(0, n))
        k = int(rng.integers(1, 64))
        chunk = rng.integers(0, 256, k, dtype=np.uint8).tobytes() if how[0] == "o" else bytes(k)
        data[i : i + k] = chunk
    elif how == "append-junk":
        data += rng.integers(0, 256, int(rng.integers(1, 200)), dtype=np.uint8).tobytes()
    else:
        i = int(rng.integers(0, n))
        data[i:i] = rng.integers(0, 256, int(rng.integers(1, 50)), dtype=np.uint8).tobytes()
    path = os.path.join(LOAD_STATE["dir"], "damaged.npz")
    with open(path, "wb") as f:
        f.write(bytes(data))
    return Case("load", dict(path=path), None, "damaged", "path", f"load {how}")


def cli_files():
    """Data and model files the command-line cases point at (made once)."""
    if "cli" not in LOAD_STATE:
        load_case(np.random.default_rng(0))  # makes the directory and good.npz
        d = LOAD_STATE["dir"]
        rng = np.random.default_rng(1)
        X = rng.random((20, 3))
        with open(os.path.join(d, "reg.csv"), "w") as f:
            f.write("a,b,c,y\n" + "".join(f"{a},{b},{c},{a / 2}\n" for a, b, c in X))
        with open(os.path.join(d, "cls.csv"), "w") as f:
            f.write("a,b,c,label\n" + "".join(
                f"{a},{b},{c},{'yes' if a > 0.5 else 'no'}\n" for a, b, c in X))
        with open(os.path.join(d, "bad.csv"), "w") as f:
            f.write("a,b,y\n1,2\nx,,3\n1e400,nan,0.5\n")
        np.savez(os.path.join(d, "arrays.npz"), X=X, Y=X[:, :1] / 2)
        with open(os.path.join(d, "empty.csv"), "w"):
            pass
        LOAD_STATE["cli"] = d
    return LOAD_STATE["cli"]


CLI_VALUES = ["0", "-1", "1", "3", "0.5", "1e400", "nan", "inf", "abc", "", "2,2", "none",
              "-", "--", "10000000000000000000000", "\x00", "é"]


def cli_case(rng):
    """``fastprop train/predict/info`` with random (often wrong) options and files."""
    d = cli_files()
    files = [os.path.join(d, f) for f in ("reg.csv", "cls.csv", "bad.csv", "arrays.npz",
                                            "empty.csv", "good.npz", "damaged.npz")]
    files += [d, os.path.join(d, "missing.csv")]
    command = ["train", "predict", "info", "nonsense", "--version"][int(rng.integers(0, 5))]
    argv = [command]
    options = {
        "train": ["--hidden", "--mode", "--batch-size", "--lr", "--epochs", "--tol", "--loss",
                  "--seed", "--dtype", "--scale", "--validation-split", "--patience",
                  "--target", "--classify", "--regress", "--plot"],
        "predict": ["--target", "--out"],
        "info": [],
    }.get(command, [])
    if command in ("predict", "info"):
        argv.append(files[int(rng.integers(0, len(files)))])
    if command in ("train", "predict"):
        argv.append(files[int(rng.integers(0, len(files)))])
    for _ in range(int(rng.integers(0, 4))):
        if not options:
            break
        opt = options[int(rng.integers(0, len(options)))]
        argv.append(opt)
        if opt not in ("--classify", "--regress"):
            argv.append(CLI_VALUES[int(rng.integers(0, len(CLI_VALUES)))])
    if command == "train":
        argv += ["--out", os.path.join(d, "out.npz"), "--epochs", "2"]
        if "--plot" in argv:
            argv[argv.index("--plot") + 1] = os.path.join(d, "p.png")
    if command == "predict" and "--out" in argv:
        argv[argv.index("--out") + 1] = os.path.join(d, "pred.csv")
    argv.append("--quiet")
    return Case("cli", dict(argv=argv), None, "cli", "argv", "cli " + " ".join(argv[:6]))


def check_cli(case):
    """An exit code, one line of error at most, and never a traceback."""
    from fastprop import cli

    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the command line shows them as one line
                code = cli.main(case.kwargs["argv"])
    except SystemExit as exc:  # argparse: usage errors and --version
        code = exc.code
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__} escaped: {exc}\n{traceback.format_exc()}"
    if code not in (0, 1, 2) and code is not None:
        return f"exit code {code!r}"
    if "Traceback" in err.getvalue():
        return f"traceback printed: {err.getvalue()[-500:]}"
    return None


# --- running a case ------------------------------------------------------------------------------


def call(target, kw):
    kw = dict(kw)
    if target == "fit":
        return fastprop.fit(kw.pop("X"), kw.pop("Y"), **kw)
    if target == "Network":
        return Network(kw.pop("layer_sizes"), **kw)
    if target == "from_arrays":
        return Network.from_arrays(kw["weights"], kw["biases"])
    if target == "load":
        return fastprop.load(kw["path"])
    net = kw.pop("network")
    if target == "predict":
        return net.predict(kw["X"])
    if target == "loss":
        return net.loss(kw["X"], kw["Y"], loss=kw["loss"], reduction=kw["reduction"])
    return fastprop.gradients(net, kw["X"], kw["Y"], loss=kw["loss"], reduction=kw["reduction"])


def flat(result):
    """Every number a call returned, as float arrays (the network's parameters and history)."""
    if isinstance(result, Network):
        return [result.params, np.array(result.history, dtype=np.float64)]
    if isinstance(result, tuple):  # gradients
        return [np.array([result[0]]), *result[1], *result[2]]
    return [np.asarray(result, dtype=np.float64)]


def check_case(case):
    """None if the case behaved as promised, else a description of what went wrong."""
    if case.kind == "cli":
        return check_cli(case)
    if case.kind == "memory":
        try:
            call(case.target, case.kwargs)
        except (ValueError, MemoryError) as exc:
            return None if str(exc).strip() else "empty message"
        return "allocated 8e12 bytes?"
    if case.kind == "damaged":
        # A damaged file: "cannot load ..." or, if the damage hit nothing that is read
        # (a zip timestamp, junk after the archive), exactly the saved network.
        try:
            back = call(case.target, case.kwargs)
        except ValueError as exc:
            return None if str(exc).startswith("cannot load") else f"unclear: {exc}"
        except Exception as exc:  # noqa: BLE001
            return f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
        net = LOAD_STATE["net"]
        if back.layer_sizes == net.layer_sizes and np.array_equal(back.params, net.params) \
                and back.history == net.history:
            return None
        return "a damaged file loaded as a different network"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = call(case.target, case.kwargs)
            error = None
        except Exception as exc:  # noqa: BLE001 - classified below
            result, error = None, exc
    stray = [w for w in caught if not issubclass(w.category, UserWarning)]
    if stray:
        return f"warning {stray[0].category.__name__}: {stray[0].message}"
    if error is not None:
        if isinstance(error, DivergenceError) and case.kind == "wild":
            return None if "diverged" in str(error) else f"unclear DivergenceError: {error}"
        allowed = (*ALLOWED, OSError) if case.target == "load" else ALLOWED  # documented
        if not isinstance(error, allowed) or isinstance(error, DivergenceError):
            return f"{type(error).__name__}: {error}\n{traceback.format_exc()}"
        if case.kind == "same":
            return f"raised for a valid twin: {type(error).__name__}: {error}"
        if not str(error).strip():
            return f"empty {type(error).__name__} message"
        about = case.about.split("[")[0]
        if case.target == "from_arrays":
            about = "weights" if "weights" in str(error) else "biases"
        if case.target == "load":
            about = "path" if isinstance(error, TypeError) else ""
        if case.kind == "bad" and about not in str(error) and about != "rows":
            return f"message does not name {case.about!r}: {error}"
        return None
    if case.kind == "bad":
        return f"accepted: returned {type(result).__name__}"
    values = flat(result)
    if not all(np.isfinite(v).all() for v in values):
        return "returned non-finite numbers"
    if case.kind == "same":
        expected = flat(call(case.target, case.twin_kwargs))
        for got, want in zip(values, expected, strict=True):
            if got.dtype != want.dtype or not np.array_equal(got, want):
                return f"differs from its twin (dtype {got.dtype} vs {want.dtype})"
    return None


MAKERS = {
    "fit": fit_case, "Network": network_case, "from_arrays": from_arrays_case,
    "predict": lambda rng: model_case(rng, "predict"),
    "loss": lambda rng: model_case(rng, "loss"),
    "gradients": lambda rng: model_case(rng, "gradients"),
    "load": load_case,
    "cli": cli_case,
}
WEIGHTS = {"fit": 0.4, "Network": 0.1, "from_arrays": 0.1, "predict": 0.1, "loss": 0.05,
           "gradients": 0.1, "load": 0.15, "cli": 0.05}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--memory-gb", type=float, default=8.0,
                        help="address-space limit, so a huge allocation fails fast")
    args = parser.parse_args(argv)
    limit = int(args.memory_gb * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    rng = np.random.default_rng(args.seed)
    targets = list(WEIGHTS)
    p = np.array([WEIGHTS[t] for t in targets])
    counts = {"same": 0, "bad": 0, "wild": 0, "memory": 0, "damaged": 0, "cli": 0}
    failures = []
    for i in range(args.cases):
        target = targets[int(rng.choice(len(targets), p=p / p.sum()))]
        case = MAKERS[target](rng)
        counts[case.kind] += 1
        problem = check_case(case)
        if problem is not None:
            failures.append(f"case {i} [{case.kind}] {case.name}: {problem}")
    if "dir" in LOAD_STATE:
        shutil.rmtree(LOAD_STATE["dir"], ignore_errors=True)
    for f in failures[:50]:
        print(f)
    tally = ", ".join(f"{k} {v}" for k, v in counts.items())
    print(f"fuzz: {args.cases} cases ({tally}), {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
