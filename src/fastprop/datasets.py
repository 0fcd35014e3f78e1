"""Bundled data and the small helpers every classification example needs: the 8x8
handwritten digits (UCI "Optical Recognition of Handwritten Digits", CC BY 4.0) ship
inside the package as ``data/digits.npz``, so examples, benchmarks and tests run
without a network or scikit-learn, together with one-hot encoding, a seeded
train/test split and classification accuracy, all in plain NumPy.
"""

import numbers
from importlib.resources import files

import numpy as np

from .validation import check_dtype

__all__ = ["accuracy", "load_digits", "one_hot", "train_test_split"]


def _read_digits(source):
    """``(images, labels)`` as stored: uint8 (1797, 64) in 0..16 and uint8 (1797,)."""
    with np.load(source, allow_pickle=False) as npz:
        return npz["images"], npz["labels"]


def load_digits(*, dtype=np.float64):
    """Load the 1,797 bundled 8x8 handwritten digits.

    Parameters
    ----------
    dtype : {numpy.float64, numpy.float32}, default numpy.float64
        Float dtype of the returned pixels.

    Returns
    -------
    X : ndarray, shape (1797, 64)
        Pixel intensities scaled from 0..16 to [0, 1], in ``dtype``; row i is
        image i read row by row.
    y : ndarray of int64, shape (1797,)
        The digit shown, 0..9.

    Raises
    ------
    TypeError
        If ``dtype`` is not float32 or float64.

    Notes
    -----
    Each call reads the file again and returns new arrays, so callers may
    modify them freely.
    """
    dt = check_dtype(dtype)
    with (files("fastprop") / "data" / "digits.npz").open("rb") as fh:
        images, labels = _read_digits(fh)
    return (images / 16).astype(dt), labels.astype(np.int64)


def _as_labels(labels):
    """Validate class labels and return them as a 1-d int64 array."""
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
    """Encode class labels as one-hot rows.

    Parameters
    ----------
    labels : array_like, shape (n,)
        Non-negative class indices: an integer array, or floats that are
        exactly whole numbers.
    n_classes : int, optional
        Number of columns; must exceed every label. Default ``max(labels) + 1``.
    dtype : {numpy.float64, numpy.float32}, default numpy.float64
        Float dtype of the result.

    Returns
    -------
    ndarray, shape (n, n_classes)
        1 in column ``labels[i]`` of row i, 0 elsewhere.

    Raises
    ------
    TypeError
        If ``labels`` is not numeric, ``n_classes`` is not an integer, or
        ``dtype`` is not float32 or float64.
    ValueError
        If ``labels`` is not 1-d, is empty, or holds negative, fractional,
        NaN or infinite values; or if ``n_classes`` is < 1 or not above
        every label.

    Examples
    --------
    >>> one_hot([2, 0], 3)
    array([[0., 0., 1.],
           [1., 0., 0.]])
    """
    idx = _as_labels(labels)
    if n_classes is None:
        n_classes = int(idx.max()) + 1
    if isinstance(n_classes, bool) or not isinstance(n_classes, numbers.Integral):
        raise TypeError(f"n_classes must be an integer; got {n_classes!r}")
    if n_classes < 1 or idx.max() >= n_classes:
        raise ValueError(
            f"n_classes must be >= 1 and above every label; got {n_classes} with "
            f"largest label {idx.max()}"
        )
    out = np.zeros((idx.size, int(n_classes)), dtype=check_dtype(dtype))
    out[np.arange(idx.size), idx] = 1
    return out


def train_test_split(X, y, *, test_fraction=0.25, seed=0):
    """Split samples at random into a training and a test part.

    Parameters
    ----------
    X : array_like, shape (n, ...)
        Samples, one per row.
    y : array_like, shape (n, ...)
        Targets, one per row of ``X``.
    test_fraction : float, default 0.25
        Share of the rows that go to the test part, strictly between 0 and 1;
        the test part gets ``round(n * test_fraction)`` rows.
    seed : int, default 0
        Seed for ``numpy.random.default_rng``; the same seed gives the same split.

    Returns
    -------
    X_train, X_test, y_train, y_test : ndarray
        The rows of ``X`` and ``y`` in the same shuffled order, split in two.

    Raises
    ------
    ValueError
        If ``X`` and ``y`` have different numbers of rows, ``test_fraction`` is
        not strictly between 0 and 1, or it leaves either part empty.
    """
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim == 0 or y.ndim == 0:
        raise ValueError(f"X and y must have at least one dimension; got {X.shape} and {y.shape}")
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X and y must have the same number of rows; got {len(X)} and {len(y)}")
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, numbers.Real):
        raise TypeError(f"test_fraction must be a real number; got {test_fraction!r}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must lie strictly between 0 and 1; got {test_fraction}")
    n = X.shape[0]
    n_test = int(round(n * test_fraction))
    if n_test == 0 or n_test == n:
        raise ValueError(f"test_fraction={test_fraction} of {n} samples leaves one part empty")
    perm = np.random.default_rng(seed).permutation(n)
    test, train = perm[:n_test], perm[n_test:]
    return X[train], X[test], y[train], y[test]


def accuracy(y_true, y_pred):
    """Fraction of predictions that match the true labels.

    Parameters
    ----------
    y_true, y_pred : array_like, shape (n,) or (n, n_classes)
        Class labels, or one-hot / probability matrices, which are reduced to
        labels with ``argmax`` along axis 1.

    Returns
    -------
    float
        Share of positions where the labels agree, in [0, 1].

    Raises
    ------
    ValueError
        If the inputs are not 1-d or 2-d, differ in length, or are empty.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    for name, arr in (("y_true", y_true), ("y_pred", y_pred)):
        if arr.ndim not in (1, 2):
            raise ValueError(f"{name} must be 1-d labels or a 2-d matrix; got shape {arr.shape}")
    if y_true.shape[0] != y_pred.shape[0]:
        raise ValueError(f"y_true and y_pred differ in length: {len(y_true)} and {len(y_pred)}")
    if y_true.shape[0] == 0:
        raise ValueError("accuracy of an empty set is undefined")
    if y_true.ndim == 2:
        y_true = y_true.argmax(axis=1)
    if y_pred.ndim == 2:
        y_pred = y_pred.argmax(axis=1)
    return float(np.mean(y_true == y_pred))
