"""Strict readers for the data files the command line takes: CSV, NPZ and NPY.

Every problem is a ``DataError`` whose message names the file and, where it
applies, the row and the column, so the command line can show it as one line:

- CSV (``.csv``; ``.tsv`` is read with tabs): a header row is required; every
  other non-blank row must have as many fields as the header. Rows are counted
  from 1 after the header; the message gives the file's line number as well.
  Feature values must be finite numbers. Target values may be numbers or
  labels (any text).
- NPZ: the array named ``X`` (features, 2-d) and, when targets are needed,
  ``Y`` (1-d or 2-d); other names can be given.
- NPY: one 2-d numeric array; target columns are picked by index.

Columns are chosen by name (CSV header) or 0-based index; negative indices
count from the end (``-1`` is the last column). A name wins over an index
when a header holds a name such as ``"0"``.
"""

import csv
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["DataError", "Table", "parse_columns", "read_csv", "read_table"]

_INTEGER = re.compile(r"^[+-]?\d+$")


class DataError(ValueError):
    """A data file that cannot be used; the message says where and why."""


@dataclass
class Table:
    """Features and targets read from one file.

    Attributes
    ----------
    X : ndarray of float64, shape (n, n_features)
    Y : ndarray or None
        ``(n, n_targets)`` float64 for numeric targets, ``(n,)`` int64 or str
        for a single column of labels; None when no targets were asked for
        or present.
    feature_names, target_names : list of str
    target_kind : {"float", "int", "str", None}
        What the target values look like: the command line treats ``"int"``
        (integers, booleans as 0/1) and ``"str"`` as class labels unless told
        otherwise.
    """

    X: np.ndarray
    Y: np.ndarray | None
    feature_names: list = field(default_factory=list)
    target_names: list = field(default_factory=list)
    target_kind: str | None = None


def parse_columns(spec):
    """Split a ``COL[,COL...]`` option value into its items (names or indices)."""
    if spec is None:
        return None
    items = [s.strip() for s in str(spec).split(",")]
    if not items or any(s == "" for s in items):
        raise DataError(f"column list {spec!r} has an empty item; write e.g. 'y' or 'a,b' or '-1'")
    return items


def _resolve(items, names, source, option):
    """Column indices (0-based, in the given order) of names or integer indices."""
    n = len(names)
    out = []
    for item in items:
        if item in names:
            j = names.index(item)
        elif _INTEGER.match(item):
            j = int(item)
            if not -n <= j < n:
                raise DataError(
                    f"{source}: column index {j} in {option} is out of range for {n} columns "
                    f"(0..{n - 1}, or -{n}..-1 from the end)"
                )
            j %= n
        else:
            shown = ", ".join(repr(s) for s in names[:20]) + (", ..." if n > 20 else "")
            raise DataError(f"{source}: unknown column {item!r} in {option}; columns are {shown}")
        if j in out:
            raise DataError(f"{source}: column {names[j]!r} is named twice in {option}")
        out.append(j)
    return out


def read_csv(path, *, delimiter=","):
    """Header and data rows of a CSV file, checked for shape.

    Returns
    -------
    header : list of str
        Column names, stripped of surrounding spaces.
    rows : list of (line_number, list of str)
        The non-blank data rows with the file line each starts on.

    Raises
    ------
    DataError
        If the file is missing, unreadable, not text, empty, has a blank,
        empty or duplicate column name, has no data rows, or a row whose
        field count differs from the header's.
    """
    source = str(path)
    try:
        fh = open(path, newline="", encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"{source}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{source}: is a directory, not a data file") from None
    except OSError as exc:
        raise DataError(f"{source}: cannot open: {exc.strerror}") from None
    with fh:
        reader = csv.reader(fh, delimiter=delimiter, strict=True)
        try:
            header = next(reader, None)
            while header is not None and not any(f.strip() for f in header):
                header = next(reader, None)
            if header is None:
                raise DataError(
                    f"{source}: the file is empty; expected a header row of column names"
                )
            header = [h.strip() for h in header]
            for j, name in enumerate(header):
                if name == "":
                    raise DataError(f"{source}: column {j} of the header has no name")
                if name in header[:j]:
                    raise DataError(f"{source}: the header names column {name!r} twice")
            if all(_is_number(h) for h in header):
                raise DataError(
                    f"{source}: the first row holds only numbers ({', '.join(header[:5])}"
                    f"{', ...' if len(header) > 5 else ''}); a header row of column names "
                    "is required"
                )
            rows = []
            start = reader.line_num + 1
            for fields in reader:
                if any(f.strip() for f in fields):
                    if len(fields) != len(header):
                        raise DataError(
                            f"{source}, row {len(rows) + 1} (line {start}): {len(fields)} fields, "
                            f"but the header has {len(header)} columns"
                        )
                    rows.append((start, fields))
                start = reader.line_num + 1
        except csv.Error as exc:
            raise DataError(
                f"{source}, line {reader.line_num}: cannot parse the row: {exc}"
            ) from None
        except UnicodeDecodeError:
            raise DataError(f"{source}: not a UTF-8 text file (is it a CSV file?)") from None
    if not rows:
        raise DataError(f"{source}: the header is followed by no data rows")
    return header, rows


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _numeric_column(values, rows, name, source):
    """One feature column as finite float64; the first bad cell is named."""
    try:
        col = np.array(values, dtype=np.float64)
    except ValueError:
        col = None
    if col is not None and np.isfinite(col).all():
        return col
    for i, text in enumerate(values):
        where = f"{source}, row {i + 1} (line {rows[i][0]})"
        if text.strip() == "":
            raise DataError(f"{where}: empty value in column {name!r}")
        try:
            value = float(text)
        except ValueError:
            raise DataError(
                f"{where}: non-numeric value {text.strip()!r} in column {name!r}"
            ) from None
        if not np.isfinite(value):
            raise DataError(
                f"{where}: value {text.strip()!r} in column {name!r} is not a finite number; "
                "remove or impute it"
            )
    raise AssertionError("unreachable: a column failed to convert but every cell converts")


def _target_columns(columns, rows, names, source):
    """Targets as (Y, kind): labels when one column is not all floats, else floats."""
    for name, values in zip(names, columns, strict=True):
        for i, text in enumerate(values):
            if text.strip() == "":
                raise DataError(
                    f"{source}, row {i + 1} (line {rows[i][0]}): empty value in target "
                    f"column {name!r}"
                )
    stripped = [[t.strip() for t in values] for values in columns]
    if len(stripped) == 1 and all(_INTEGER.match(t) for t in stripped[0]):
        return np.array([int(t) for t in stripped[0]], dtype=np.int64), "int"
    numeric = [all(_is_number(t) for t in col) for col in stripped]
    if all(numeric):
        Y = np.array(stripped, dtype=np.float64).T
        if not np.isfinite(Y).all():
            i, j = (int(k) for k in np.argwhere(~np.isfinite(Y))[0])
            raise DataError(
                f"{source}, row {i + 1} (line {rows[i][0]}): value {stripped[j][i]!r} in target "
                f"column {names[j]!r} is not a finite number"
            )
        return Y, "float"
    if len(stripped) == 1:
        return np.array(stripped[0], dtype=str), "str"
    bad = names[numeric.index(False)]
    raise DataError(
        f"{source}: target column {bad!r} holds text; labels (class names) work with a single "
        "target column only"
    )


def _from_csv(path, target, need_target, delimiter, n_features):
    source = str(path)
    header, rows = read_csv(path, delimiter=delimiter)
    columns = list(zip(*(fields for _, fields in rows), strict=True))
    if target is not None:
        t_idx = _resolve(target, header, source, "--target")
    elif need_target:
        t_idx = [len(header) - 1]
    else:
        t_idx = []
    f_idx = [j for j in range(len(header)) if j not in t_idx]
    _check_count(len(f_idx), n_features, source, target)
    if not f_idx:
        raise DataError(f"{source}: no feature columns left once the targets are taken out")
    X = np.empty((len(rows), len(f_idx)), dtype=np.float64)
    for k, j in enumerate(f_idx):
        X[:, k] = _numeric_column(columns[j], rows, header[j], source)
    Y, kind = (None, None)
    if t_idx:
        Y, kind = _target_columns(
            [columns[j] for j in t_idx], rows, [header[j] for j in t_idx], source
        )
    return Table(X, Y, [header[j] for j in f_idx], [header[j] for j in t_idx], kind)


def _check_count(count, expected, source, target):
    if expected is None or count == expected:
        return
    hint = ""
    if count > expected and target is None:
        hint = "; name the target columns to drop with --target"
    raise DataError(
        f"{source} gives {count} feature columns but the model takes {expected} inputs{hint}"
    )


def _open_npy(path):
    source = str(path)
    try:
        arr = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"{source}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{source}: is a directory, not a data file") from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        # A text or foreign file looks like pickled data to numpy; object arrays
        # and truncated files are refused with a ValueError as well.
        reason = str(exc).split(". ")[0]
        raise DataError(f"{source}: not a readable NumPy array file ({reason})") from None
    return arr


def _kind(arr):
    return {"b": "bool", "i": "int", "u": "int", "f": "float", "U": "str", "S": "str"}.get(
        arr.dtype.kind
    )


def _checked_features(arr, source, what):
    if arr.dtype.kind not in "biuf":
        raise DataError(f"{source}: {what} must hold numbers; got dtype {arr.dtype}")
    if arr.ndim != 2:
        hint = " (one feature per column)" if arr.ndim == 1 else ""
        raise DataError(
            f"{source}: {what} must be 2-d (samples, features); got shape {arr.shape}{hint}"
        )
    if 0 in arr.shape:
        raise DataError(f"{source}: {what} is empty: shape {arr.shape}")
    X = arr.astype(np.float64)
    if not np.isfinite(X).all():
        i, j = (int(k) for k in np.argwhere(~np.isfinite(X))[0])
        raise DataError(
            f"{source}: {what} holds NaN or inf at row {i}, column {j}; remove or impute it"
        )
    return X


def _from_npz(path, x_name, y_name, need_target, n_features):
    source = str(path)
    data = _open_npy(path)
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise DataError(
            f"{source}: a .npz file must be a NumPy archive (np.savez); this is a single array"
        )
    with data:
        names = list(data.files)
        shown = ", ".join(repr(s) for s in names) or "none"
        if x_name not in names:
            raise DataError(
                f"{source}: no array {x_name!r} (arrays: {shown}); choose one with --x-name"
            )
        try:
            arr = data[x_name]
            Y = None
            if y_name in names:
                Y = data[y_name]
            elif need_target:
                raise DataError(
                    f"{source}: no array {y_name!r} (arrays: {shown}); choose one with --y-name"
                )
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            reason = str(exc).split(". ")[0]
            raise DataError(f"{source}: cannot read its arrays ({reason})") from None
    if arr.ndim == 2:
        _check_count(arr.shape[1], n_features, source, "")
    X = _checked_features(arr, source, f"array {x_name!r}")
    kind = None
    if Y is not None:
        if Y.ndim not in (1, 2) or Y.shape[0] != X.shape[0]:
            raise DataError(
                f"{source}: array {y_name!r} must be 1-d or 2-d with {X.shape[0]} rows like "
                f"{x_name!r}; got shape {Y.shape}"
            )
        kind = _kind(Y)
        if kind is None:
            raise DataError(f"{source}: array {y_name!r} has unsupported dtype {Y.dtype}")
        if Y.ndim == 2 and Y.shape[1] == 1:
            Y = Y[:, 0]
        if Y.ndim == 2:
            # Several target columns are numbers to fit, never labels.
            if kind == "str":
                raise DataError(
                    f"{source}: array {y_name!r} holds text in {Y.shape[1]} columns; labels "
                    "work with a single target column only"
                )
            kind = "float"
        if kind == "float":
            Y = Y.astype(np.float64).reshape(X.shape[0], -1)
            if not np.isfinite(Y).all():
                raise DataError(f"{source}: array {y_name!r} holds NaN or inf; remove or impute it")
        elif kind == "str":
            Y = Y.astype(str)
        else:
            Y, kind = Y.astype(np.int64), "int"
    t_names = [] if Y is None else [y_name]
    return Table(X, Y, [f"{x_name}[{j}]" for j in range(X.shape[1])], t_names, kind)


def _from_npy(path, target, need_target, n_features):
    source = str(path)
    arr = _open_npy(path)
    if isinstance(arr, np.lib.npyio.NpzFile):
        arr.close()
        raise DataError(
            f"{source}: is a NumPy archive (.npz), not a single array; rename it to .npz"
        )
    data = _checked_features(arr, source, "the array")
    names = [str(j) for j in range(data.shape[1])]
    if target is not None:
        t_idx = _resolve(target, names, source, "--target")
    elif need_target:
        t_idx = [data.shape[1] - 1]
    else:
        t_idx = []
    f_idx = [j for j in range(data.shape[1]) if j not in t_idx]
    _check_count(len(f_idx), n_features, source, target)
    if not f_idx:
        raise DataError(f"{source}: no feature columns left once the targets are taken out")
    Y, kind = None, None
    if t_idx:
        Y = data[:, t_idx]
        kind = "float"
        if arr.dtype.kind in "biu" and len(t_idx) == 1:
            Y, kind = arr[:, t_idx[0]].astype(np.int64), "int"
    return Table(
        np.ascontiguousarray(data[:, f_idx]), Y, [f"column {j}" for j in f_idx],
        [f"column {j}" for j in t_idx], kind,
    )


def read_table(path, *, target=None, need_target=True, x_name="X", y_name="Y", n_features=None):
    """Read features and targets from a CSV, NPZ or NPY file.

    Parameters
    ----------
    path : str or Path
        ``.csv``, ``.tsv``, ``.npz`` or ``.npy``.
    target : list of str, optional
        Target columns (names or 0-based indices) for CSV and NPY files; by
        default the last column when ``need_target`` is set. Every other
        column is a feature. Ignored for NPZ, whose targets are ``y_name``.
    need_target : bool
        False when only features are needed (prediction): then CSV and NPY
        columns are all features unless ``target`` names columns to drop,
        and an NPZ file may lack ``y_name``.
    x_name, y_name : str
        Array names inside an NPZ file.
    n_features : int, optional
        The number of feature columns a model takes; a file with another
        number is refused before any value is converted (a target column
        left among the features would otherwise show up as non-numeric).

    Returns
    -------
    Table

    Raises
    ------
    DataError
        For any file that cannot be read as described; the message names the
        file and, where it applies, the row and column.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        return _from_csv(p, target, need_target, "\t" if suffix == ".tsv" else ",", n_features)
    if suffix == ".npz":
        return _from_npz(p, x_name, y_name, need_target, n_features)
    if suffix == ".npy":
        return _from_npy(p, target, need_target, n_features)
    raise DataError(
        f"{path}: unknown file type {suffix or '(no extension)'!r}; DATA must be .csv, .tsv, "
        ".npz or .npy"
    )
