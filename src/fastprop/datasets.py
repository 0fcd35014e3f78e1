"""Bundled data and the small helpers every classification example needs.

The 8x8 digits (UCI "Optical Recognition of Handwritten Digits", CC BY 4.0)
ship inside the package, so examples and tests run without a network.
"""

from importlib.resources import files

import numpy as np

from .validation import check_dtype

__all__ = ["accuracy", "load_digits", "one_hot", "train_test_split"]


def load_digits(*, dtype=np.float64):
    """The 1,797 handwritten digits as ``(X, y)``.

    Returns
    -------
    X : ndarray, shape (1797, 64)
        Pixel intensities scaled from 0..16 to [0, 1], in ``dtype``.
    y : ndarray of int64, shape (1797,)
        The digit shown, 0..9.
    """
    dt = check_dtype(dtype)
    with (files("fastprop") / "data" / "digits.npz").open("rb") as fh, np.load(
        fh, allow_pickle=False
    ) as npz:
        images, labels = npz["images"], npz["labels"]
    return (images / 16).astype(dt), labels.astype(np.int64)


def _as_labels(labels):
    arr = np.asarray(labels)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"labels must be integers; got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"labels must be 1-d; got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError("labels is empty")
    if arr.dtype.kind == "f" and not (np.isfinite(arr).all() and (arr == np.round(arr)).all()):
        raise ValueError("labels must be whole numbers; got NaN, inf or fractional values")
    if (arr < 0).any():
        raise ValueError(f"labels must be >= 0; got {arr.min()}")
    return arr.astype(np.int64)


def one_hot(labels, n_classes=None, *, dtype=np.float64):
    """``(n, n_classes)`` matrix with 1 in column ``labels[i]`` of row i, 0 elsewhere."""
    idx = _as_labels(labels)
    if n_classes is None:
        n_classes = int(idx.max()) + 1
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)):
        raise TypeError(f"n_classes must be an integer; got {n_classes!r}")
    if n_classes < 1 or idx.max() >= n_classes:
        raise ValueError(
            f"n_classes must be >= 1 and above every label; got {n_classes} with "
            f"largest label {idx.max()}"
        )
    out = np.zeros((idx.size, n_classes), dtype=check_dtype(dtype))
    out[np.arange(idx.size), idx] = 1
    return out


def train_test_split(X, y, *, test_fraction=0.25, seed=0):
    """A seeded random split: ``(X_train, X_test, y_train, y_test)``."""
    X, y = np.asarray(X), np.asarray(y)
    if X.shape[:1] != y.shape[:1]:
        raise ValueError(f"X and y must have the same number of rows; got {len(X)} and {len(y)}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must lie strictly between 0 and 1; got {test_fraction}")
    n = X.shape[0]
    n_test = int(round(n * test_fraction))
    if n_test == 0 or n_test == n:
        raise ValueError(
            f"test_fraction={test_fraction} of {n} samples leaves one part empty"
        )
    perm = np.random.default_rng(seed).permutation(n)
    test, train = perm[:n_test], perm[n_test:]
    return X[train], X[test], y[train], y[test]


def accuracy(y_true, y_pred):
    """Fraction of matching labels; 2-d inputs (one-hot, probabilities) are argmaxed."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.ndim == 2:
        y_true = y_true.argmax(axis=1)
    if y_pred.ndim == 2:
        y_pred = y_pred.argmax(axis=1)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred differ in length: {y_true.shape} and {y_pred.shape}")
    if y_true.size == 0:
        raise ValueError("accuracy of an empty set is undefined")
    return float(np.mean(y_true == y_pred))
