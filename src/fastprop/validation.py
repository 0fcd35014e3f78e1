"""Checks for everything a user hands to fastprop.

Each message names the argument, what was expected and what arrived. The
kernels assume what is checked here: C-contiguous, finite, one float dtype.
"""

import numbers
import sys
import warnings

import numpy as np

# The closed sets of option values, checked in one place.
OPTIONS = {
    "mode": ("sgd", "minibatch", "batch"),
    "loss": ("mse", "bce"),
    "reduction": ("mean", "sum"),
    "init": ("xavier", "uniform"),
}

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_option(name, value):
    allowed = OPTIONS[name]
    if not isinstance(value, str) or value not in allowed:
        choices = ", ".join(repr(v) for v in allowed)
        raise ValueError(f"{name} must be one of {choices}; got {value!r}")
    return value


def check_dtype(dtype, name="dtype"):
    """The float dtype to train in: float32 or float64."""
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"{name} must be float32 or float64; got {dtype!r}") from exc
    if dt.newbyteorder("=") not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be float32 or float64; got {dt}")
    return dt.newbyteorder("=")


def resolve_dtype(dtype, X_dtype):
    """Default float64, unless X is float32; an explicit dtype wins."""
    if dtype is not None:
        return check_dtype(dtype)
    if X_dtype is not None and np.dtype(X_dtype).newbyteorder("=") == np.float32:
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer; got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}")
    return int(value)


def _as_float(name, value):
    """A real number (int, Fraction, NumPy scalar...) as a float; too big a one is a ValueError."""
    try:
        return float(value)
    except OverflowError as exc:
        raise ValueError(f"{name} is beyond the float64 range; got {str(value)[:30]}...") from exc


def check_positive_real(name, value, dtype=np.float64):
    """A finite number > 0 that stays finite in ``dtype``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {type(value).__name__} {value!r}")
    value = _as_float(name, value)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0; got {value}")
    if value > float(np.finfo(dtype).max):
        raise ValueError(f"{name}={value} overflows {np.dtype(dtype).name}")
    return float(value)


def check_tol(tol):
    if tol is None:
        return None
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real):
        raise TypeError(f"tol must be a real number or None; got {type(tol).__name__} {tol!r}")
    tol = _as_float("tol", tol)
    if not np.isfinite(tol) or tol < 0:
        raise ValueError(f"tol must be a finite number >= 0 or None; got {tol}")
    return float(tol)


def check_seed(seed):
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be None or a non-negative integer; got {seed!r}")
    if seed < 0:
        raise ValueError(f"seed must be None or a non-negative integer; got {seed}")
    return int(seed)


def check_layer_sizes(sizes, name="layer_sizes"):
    """A sequence of at least two positive integers."""
    try:
        sizes = tuple(sizes)
    except TypeError as exc:
        raise TypeError(f"{name} must be a sequence of integers; got {sizes!r}") from exc
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral):
            raise TypeError(f"{name} must hold integers; got {s!r} in {sizes!r}")
        if s < 1:
            raise ValueError(f"{name} must all be >= 1 (no zero-width layer); got {sizes!r}")
    if len(sizes) < 2:
        raise ValueError(f"{name} needs an input and an output size; got {sizes!r}")
    sizes = tuple(int(s) for s in sizes)
    # Offsets into the flat buffer are int64 and its bytes must be addressable: past
    # that NumPy would fail with an OverflowError or a message that names nothing.
    total = sum(n_in * n_out + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=False))
    if total * 8 > sys.maxsize:
        raise ValueError(
            f"{name} {sizes!r} need about 10^{len(str(total)) - 1} parameters, "
            "more than can be addressed"
        )
    return sizes


def check_hidden(hidden):
    if isinstance(hidden, numbers.Integral) and not isinstance(hidden, bool):
        hidden = (hidden,)
    try:
        hidden = tuple(hidden)
    except TypeError as exc:
        raise TypeError(f"hidden must be a sequence of layer widths; got {hidden!r}") from exc
    for h in hidden:
        if isinstance(h, bool) or not isinstance(h, numbers.Integral):
            raise TypeError(f"hidden must hold integer widths; got {h!r} in {hidden!r}")
        if h < 1:
            raise ValueError(f"hidden layer widths must be >= 1; got {hidden!r}")
    return tuple(int(h) for h in hidden)


def _as_numeric_array(value, name):
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:
        # numpy refuses ragged nested lists with a ValueError of its own.
        raise ValueError(f"{name} must be a rectangular numeric array: {exc}") from exc
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers (bool, int or float); got dtype {arr.dtype}")
    return arr


def as_inputs(X, dtype, name="X"):
    """X as a C-contiguous, writeable (n, n_features) array of ``dtype``.

    The caller's own array comes back when it already fits (the kernels only
    read it); a read-only one is copied, since Numba would otherwise compile
    every kernel a second time for read-only arrays.
    """
    arr = _as_numeric_array(X, name)
    if arr.ndim != 2:
        hint = " (use X.reshape(-1, 1) for one feature)" if arr.ndim == 1 else ""
        raise ValueError(f"{name} must be 2-d (samples, features); got shape {arr.shape}{hint}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {arr.shape}")
    return _cast(arr, dtype, name)


def as_targets(Y, dtype, name="Y"):
    """Y as (n, n_outputs); a 1-d Y means one output."""
    arr = _as_numeric_array(Y, name)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 1-d or 2-d (samples, outputs); got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {arr.shape}")
    return _cast(arr, dtype, name)


def _cast(arr, dtype, name):
    with np.errstate(over="ignore"):
        out = np.require(arr, dtype=dtype, requirements=["C", "W"])
    if not np.isfinite(out).all() and arr.dtype.kind == "f" and np.isfinite(arr).all():
        limit = np.finfo(dtype).max
        raise ValueError(
            f"{name} has values beyond the {np.dtype(dtype).name} range (±{limit:.3g})"
        )
    _check_finite(out, name)
    return out


def _check_finite(arr, name):
    if not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(
            f"{name} contains NaN or inf (first at index {tuple(int(i) for i in bad)}); "
            "remove or impute those values"
        )


def check_rows(X, Y):
    if X.shape[0] != Y.shape[0]:
        raise ValueError(
            f"X and Y must have the same number of rows; got {X.shape[0]} and {Y.shape[0]}"
        )


def check_target_range(Y, loss):
    """bce needs probabilities; mse can only be approached by a sigmoid output."""
    lo, hi = float(Y.min()), float(Y.max())
    if lo >= 0 and hi <= 1:
        return
    if loss == "bce":
        raise ValueError(f"Y must lie in [0, 1] for loss='bce'; got values in [{lo}, {hi}]")
    warnings.warn(
        f"Y has values in [{lo}, {hi}] but a sigmoid output lies in (0, 1): those targets "
        "cannot be reached; scale Y into [0, 1]",
        UserWarning,
        stacklevel=3,
    )
