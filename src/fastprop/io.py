"""Saving and loading networks: ``Network.save(path)`` and ``fastprop.load(path)``.

A saved network is an uncompressed ``.npz`` archive (a zip of ``.npy``
arrays, readable with ``numpy.load(path, allow_pickle=False)`` from any
language with a zip and an ``.npy`` reader). Format version 1 holds exactly
these entries, every one always present:

==================  ===========================  ==========================================
entry               dtype, shape                 meaning
==================  ===========================  ==========================================
``format``          str, ()                      ``"fastprop-network"``
``format_version``  int64, ()                    ``1``
``layer_sizes``     int64, (L+1,)                ``(n_0, ..., n_L)``
``dtype``           str, ()                      ``"float32"`` or ``"float64"``
``W_0`` ...         dtype, (n_l, n_{l+1})        weights of layer l, for l = 0 .. L-1
``b_0`` ...         dtype, (n_{l+1},)            biases of layer l
``history``         float64, (E,)                training loss of each epoch
``metric_names``    str, (k,)                    names of ``network.metrics``
``metric_values``   float64, (k, E)              their values, NaN where not measured
``scaler_kind``     str, ()                      ``"none"``, ``"minmax"`` or ``"standard"``
``scaler_shift``    float64, (n_0,) or (0,)      ``network.scaler.shift`` (empty: no scaler)
``scaler_scale``    float64, (n_0,) or (0,)      ``network.scaler.scale``
``classes``         int, float, bool or str,     class labels of a classifier, sorted
                    (K,) or (0,)                 (empty: not a classifier)
==================  ===========================  ==========================================

Writing is atomic: the archive goes to a temporary file in the target's
directory, is flushed and fsync'ed, then renamed over the target with
``os.replace``; if anything fails (disk full, no permission, Ctrl-C) the
temporary file is removed and an existing file at ``path`` is untouched.

Reading never unpickles. Each entry's ``.npy`` header is checked (dtype,
shape against ``layer_sizes``, size against the archive) before any memory
is allocated for it, zip checksums are verified, and a file that is not a
fastprop network, is truncated or corrupt, has another format version or is
inconsistent (shapes, dtypes, non-finite weights, ...) raises a ValueError
that says what is wrong.
"""

import contextlib
import lzma
import os
import secrets
import struct
import zipfile
import zlib

import numpy as np

from .network import Network
from .scaling import Scaler

FORMAT = "fastprop-network"
FORMAT_VERSION = 1
NO_SCALER = "none"
FIXED_ENTRIES = (
    "format", "format_version", "layer_sizes", "dtype", "history", "metric_names",
    "metric_values", "scaler_kind", "scaler_shift", "scaler_scale", "classes",
)
FLOAT_NAMES = {"float32": np.dtype(np.float32), "float64": np.dtype(np.float64)}
# Kinds of label dtype a classifier may have: bool, int, uint, float, str.
LABEL_KINDS = "biufU"
# Deflate never expands data more than about 1032-fold: a member cannot hold
# more than this many bytes per compressed byte, whatever its header claims.
MAX_DEFLATE_RATIO = 1032

# What a damaged zip or .npy can raise while being read; all mean "corrupt".
_CORRUPT = (
    zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, OSError, RuntimeError,
    NotImplementedError, struct.error, OverflowError, KeyError, ValueError, SyntaxError,
    MemoryError,
)


class _BadFile(ValueError):
    """A readable archive whose content is not a valid fastprop network."""


def _fspath(path):
    try:
        return os.fspath(path)
    except TypeError:
        raise TypeError(f"path must be a str or os.PathLike; got {type(path).__name__}") from None


# --- network <-> entries -------------------------------------------------------------------------


def _entries(network):
    """The arrays of format version 1 for ``network`` (not yet checked)."""
    history = np.array(network.history, dtype=np.float64).reshape(-1)
    n_epochs = history.size
    names = list(network.metrics)
    if not all(isinstance(name, str) and name for name in names):
        raise _BadFile(f"metrics names must be non-empty strings; got {names}")
    values = np.full((len(names), n_epochs), np.nan)
    for i, name in enumerate(names):
        v = np.array(network.metrics[name], dtype=np.float64).reshape(-1)
        if v.size > n_epochs:
            raise _BadFile(
                f"metrics[{name!r}] has {v.size} values but history only {n_epochs} epochs"
            )
        # Epochs trained without measuring this metric (say, by Trainer.epoch)
        # count as not measured, as fit records them.
        values[i, : v.size] = v
    scaler = network.scaler
    if scaler is not None and not isinstance(scaler, Scaler):
        raise _BadFile(f"scaler must be a fastprop.scaling.Scaler; got {type(scaler).__name__}")
    classes = np.zeros(0, dtype=np.int64) if network.classes is None else np.asarray(
        network.classes
    )
    entries = {
        "format": np.array(FORMAT),
        "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
        "layer_sizes": np.array(network.layer_sizes, dtype=np.int64),
        "dtype": np.array(np.dtype(network.dtype).name),
        "history": history,
        "metric_names": np.array(names, dtype=str).reshape(-1),
        "metric_values": values,
        "scaler_kind": np.array(NO_SCALER if scaler is None else scaler.kind),
        "scaler_shift": np.zeros(0) if scaler is None else scaler.shift,
        "scaler_scale": np.zeros(0) if scaler is None else scaler.scale,
        "classes": classes,
    }
    for l, (W, b) in enumerate(zip(network.weights, network.biases, strict=True)):
        entries[f"W_{l}"] = W
        entries[f"b_{l}"] = b
    return entries


def _expect(entries, key, shape, kinds, what):
    arr = entries[key]
    if arr.dtype.kind not in kinds or arr.dtype.hasobject:
        raise _BadFile(f"entry {key!r} must hold {what}; got dtype {arr.dtype}")
    if shape is not None and arr.shape != shape:
        raise _BadFile(f"entry {key!r} must have shape {shape}; got {arr.shape}")
    return arr


def _check_header(entries):
    """``format`` and ``format_version``: is this a file this fastprop reads?"""
    if "format" not in entries:
        raise _BadFile(
            "not a fastprop network: it has no 'format' entry (entries: "
            f"{', '.join(sorted(entries)) or 'none'})"
        )
    fmt = _expect(entries, "format", (), "U", "a string")
    if str(fmt) != FORMAT:
        raise _BadFile(f"not a fastprop network: format is {str(fmt)!r}, not {FORMAT!r}")
    if "format_version" not in entries:
        raise _BadFile("entry 'format_version' is missing")
    version = int(_expect(entries, "format_version", (), "iu", "an integer"))
    if version != FORMAT_VERSION:
        newer = " (written by a newer fastprop: upgrade)" if version > FORMAT_VERSION else ""
        raise _BadFile(
            f"format version {version} is not supported; this fastprop reads version "
            f"{FORMAT_VERSION}{newer}"
        )


def _layer_sizes(entries):
    sizes = _expect(entries, "layer_sizes", None, "iu", "integers")
    if sizes.ndim != 1 or sizes.size < 2 or (sizes < 1).any():
        raise _BadFile(f"layer_sizes must be >= 1 and at least two of them; got {sizes.tolist()}")
    return tuple(int(s) for s in sizes)


def _expected_entries(sizes):
    layers = [f"{p}_{l}" for l in range(len(sizes) - 1) for p in ("W", "b")]
    return set(FIXED_ENTRIES) | set(layers)


def _check_names(entries, sizes):
    expected = _expected_entries(sizes)
    missing = sorted(expected - set(entries))
    if missing:
        raise _BadFile(f"entries missing for layer sizes {sizes}: {', '.join(missing)}")
    extra = sorted(set(entries) - expected)
    if extra:
        raise _BadFile(f"unexpected entries for layer sizes {sizes}: {', '.join(extra)}")


def _build(entries):
    """The Network the entries describe, after checking every one of them."""
    _check_header(entries)
    sizes = _layer_sizes(entries)
    _check_names(entries, sizes)
    name = str(_expect(entries, "dtype", (), "U", "a string"))
    if name not in FLOAT_NAMES:
        raise _BadFile(f"dtype must be 'float32' or 'float64'; got {name!r}")
    dt = FLOAT_NAMES[name]
    net = Network.__new__(Network)
    net._setup(sizes, dt)
    for l in range(len(sizes) - 1):
        for key, shape, out in (
            (f"W_{l}", (sizes[l], sizes[l + 1]), net.weights[l]),
            (f"b_{l}", (sizes[l + 1],), net.biases[l]),
        ):
            arr = _expect(entries, key, shape, "f", name)
            if arr.dtype.newbyteorder("=") != dt:
                raise _BadFile(f"entry {key!r} must be {name} like the network; got {arr.dtype}")
            if not np.isfinite(arr).all():
                raise _BadFile(f"entry {key!r} contains NaN or inf")
            out[...] = arr

    history = _expect(entries, "history", None, "f", "float64 losses")
    if history.ndim != 1 or history.dtype.itemsize != 8 or not np.isfinite(history).all():
        raise _BadFile("history must be a 1-d float64 array of finite losses")
    net.history = history.tolist()
    n_epochs = history.size

    names = _expect(entries, "metric_names", None, "U", "strings")
    if names.ndim != 1 or len(set(names.tolist())) != names.size or "" in names.tolist():
        raise _BadFile(f"metric_names must be distinct non-empty strings; got {names.tolist()}")
    values = _expect(entries, "metric_values", (names.size, n_epochs), "f", "float64 values")
    if values.dtype.itemsize != 8:
        raise _BadFile(f"metric_values must be float64; got {values.dtype}")
    net.metrics = {str(k): v.tolist() for k, v in zip(names, values, strict=True)}

    kind = str(_expect(entries, "scaler_kind", (), "U", "a string"))
    n_shift = 0 if kind == NO_SCALER else sizes[0]
    shift = _expect(entries, "scaler_shift", (n_shift,), "f", "float64 values")
    scale = _expect(entries, "scaler_scale", (n_shift,), "f", "float64 values")
    if kind != NO_SCALER:
        try:
            net.scaler = Scaler(kind, shift, scale)
        except ValueError as exc:
            raise _BadFile(f"scaler: {exc}") from None

    classes = _expect(entries, "classes", None, LABEL_KINDS, "numbers or strings")
    if classes.ndim != 1:
        raise _BadFile(f"classes must be 1-d; got shape {classes.shape}")
    if classes.size:
        if classes.dtype.kind == "f" and not np.isfinite(classes).all():
            raise _BadFile("classes contains NaN or inf")
        if np.unique(classes).size != classes.size:
            raise _BadFile(f"classes must be distinct; got {classes.tolist()}")
        units = 1 if classes.size == 2 else classes.size
        if classes.size < 2 or units != sizes[-1]:
            raise _BadFile(
                f"{classes.size} classes do not match {sizes[-1]} output units "
                "(2 classes need 1 unit, k > 2 classes k units)"
            )
        net.classes = classes.copy()
    return net


# --- save ----------------------------------------------------------------------------------------


def save(network, path):
    """Write ``network`` to ``path`` (exactly that name) as an ``.npz`` archive, atomically.

    Parameters
    ----------
    network : Network
    path : str or os.PathLike
        The file to create or replace. Its directory must exist.

    Raises
    ------
    TypeError
        If ``network`` is not a Network or ``path`` not a path.
    ValueError
        If the network is inconsistent (say, ``classes`` holding Python
        objects or not matching the outputs); nothing is written.
    OSError
        If writing fails (no permission, disk full, ...); the message names
        the path, and an existing file there is left as it was.
    """
    if not isinstance(network, Network):
        raise TypeError(f"network must be a fastprop.Network; got {type(network).__name__}")
    path = _fspath(path)
    try:
        entries = _entries(network)
        _build(entries)
    except _BadFile as exc:
        raise ValueError(f"cannot save the network: {exc}") from None
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    try:
        # 0o666 lets the umask decide the mode, as for any new file.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise _save_error(exc, path) from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **entries)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise _save_error(exc, path) from exc
        raise
    # Make the rename itself durable; not every file system allows it.
    with contextlib.suppress(OSError):
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _save_error(exc, path):
    message = (
        f"cannot save the network to {path!r}: {exc.strerror or exc}; "
        "an existing file there is unchanged"
    )
    if exc.errno is None:
        return type(exc)(message)
    return type(exc)(exc.errno, message)


# --- load ----------------------------------------------------------------------------------------


def load(path):
    """Read a network written by ``Network.save``.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    Network
        Weights, biases, dtype, history, metrics, scaler and classes exactly
        as saved.

    Raises
    ------
    ValueError
        If the file is not a fastprop network (another ``.npz``, a ``.npy``,
        anything else), has an unsupported format version, is truncated or
        corrupt, holds pickled objects, or is inconsistent; the message says
        which.
    OSError
        If the file cannot be opened (FileNotFoundError, PermissionError, ...).
    """
    path = _fspath(path)
    with open(path, "rb") as fh:
        magic = fh.read(6)
        if magic.startswith(b"\x93NUMPY"):
            raise ValueError(
                f"cannot load {path!r}: it is a single .npy array, not a fastprop network (.npz)"
            )
        if not magic.startswith(b"PK\x03\x04"):
            what = "an empty file" if not magic else "not an .npz (zip) archive"
            raise ValueError(f"cannot load {path!r}: not a fastprop network ({what})")
        fh.seek(0)
        size = os.fstat(fh.fileno()).st_size
        try:
            with zipfile.ZipFile(fh) as zf:
                return _build(_read_entries(zf, size))
        except _BadFile as exc:
            raise ValueError(f"cannot load {path!r}: {exc}") from None
        except _CORRUPT as exc:
            raise ValueError(
                f"cannot load {path!r}: the file is truncated or corrupt "
                f"({type(exc).__name__}: {exc})"
            ) from exc


def _read_entries(zf, archive_size):
    """Every entry of the archive, each checked by its header before it is read."""
    infos = {}
    for info in zf.infolist():
        if not info.filename.endswith(".npy"):
            raise _BadFile(f"not a fastprop network: unexpected member {info.filename!r}")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _BadFile(
                f"member {info.filename!r} uses zip compression method {info.compress_type}; "
                "only stored and deflated members are read"
            )
        # The sizes in the zip directory are claims too: bound them by the file.
        ratio = MAX_DEFLATE_RATIO if info.compress_type == zipfile.ZIP_DEFLATED else 1
        if info.file_size > ratio * min(info.compress_size, archive_size):
            raise _BadFile(
                f"member {info.filename!r} claims {info.file_size} bytes, more than its "
                f"{info.compress_size} stored bytes can hold"
            )
        key = info.filename[:-4]
        if key in infos:
            raise _BadFile(f"entry {key!r} appears twice")
        infos[key] = info
    if "format" not in infos:
        raise _BadFile(
            "not a fastprop network: it has no 'format' entry (entries: "
            f"{', '.join(sorted(infos)) or 'none'})"
        )
    entries = {}
    for key in ("format", "format_version"):
        if key in infos:
            entries[key] = _read_array(zf, infos[key], max_bytes=1024)
    _check_header(entries)
    entries["layer_sizes"] = _read_array(zf, infos.get("layer_sizes"), "layer_sizes", ndim=1)
    sizes = _layer_sizes(entries)
    _check_names(infos, sizes)
    for key in sorted(set(infos) - set(entries)):
        shape = None
        if key.startswith("W_"):
            l = int(key[2:])
            shape = (sizes[l], sizes[l + 1])
        elif key.startswith("b_"):
            shape = (sizes[int(key[2:]) + 1],)
        entries[key] = _read_array(zf, infos[key], key, shape=shape)
    return entries


def _read_array(zf, info, key=None, *, shape=None, ndim=None, max_bytes=None):
    """One ``.npy`` member; header checked (no objects, expected shape, size) before reading."""
    if info is None:
        raise _BadFile(f"entry {key!r} is missing")
    key = info.filename[:-4]
    with zf.open(info) as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            header = np.lib.format.read_array_header_1_0(fh)
        elif version == (2, 0):
            header = np.lib.format.read_array_header_2_0(fh)
        else:
            raise _BadFile(f"entry {key!r} uses .npy format {version}, not 1.0 or 2.0")
        arr_shape, fortran, dtype = header
        if dtype.hasobject:
            raise _BadFile(
                f"entry {key!r} holds Python objects (dtype {dtype}); fastprop never unpickles"
            )
        if shape is not None and arr_shape != shape:
            raise _BadFile(f"entry {key!r} must have shape {shape}; got {arr_shape}")
        if ndim is not None and len(arr_shape) != ndim:
            raise _BadFile(f"entry {key!r} must be {ndim}-d; got shape {arr_shape}")
        nbytes = int(np.prod(arr_shape, dtype=np.float64)) * dtype.itemsize
        # The bytes must be in the archive before we allocate room for them.
        if nbytes > info.file_size or (max_bytes is not None and nbytes > max_bytes):
            raise _BadFile(
                f"entry {key!r} declares {nbytes} bytes of data but the archive member holds "
                f"{info.file_size}"
            )
        buf = bytearray(nbytes)
        if fh.readinto(buf) != nbytes:
            raise _BadFile(f"entry {key!r} is truncated")
        # Reading to the end makes zipfile verify the member's CRC-32.
        if fh.read(1):
            raise _BadFile(f"entry {key!r} has bytes after its data")
    arr = np.frombuffer(buf, dtype=dtype)
    return arr.reshape(arr_shape, order="F" if fortran else "C")
