"""Input scaling fitted on the training inputs and stored with the network.

A sigmoid unit saturates once its input is large, so features measured in
thousands train badly next to features in [0, 1]. ``fit(..., scale=...)``
fits a ``Scaler`` on the training rows, keeps it as ``network.scaler`` and
the network applies it to every X it is given afterwards (``predict``,
``predict_proba``, ``predict_classes``, ``loss``, ``gradients`` and later
fits), so callers always pass raw inputs.
"""

import numpy as np

from .validation import _check_finite

#: The kinds of scaling ``fit(scale=...)`` accepts.
KINDS = ("minmax", "standard")


def check_scale(scale):
    """``scale=`` of ``fit``: None or one of ``KINDS``."""
    if scale is None:
        return None
    if not isinstance(scale, str) or scale not in KINDS:
        choices = ", ".join(repr(k) for k in KINDS)
        raise ValueError(f"scale must be None or one of {choices}; got {scale!r}")
    return scale


class Scaler:
    """``transform(X) = (X - shift) / scale``, column by column.

    Parameters
    ----------
    kind : {"minmax", "standard"}
        ``"minmax"`` maps each training column onto [0, 1] (shift = min,
        scale = max - min); ``"standard"`` to mean 0 and standard deviation 1
        (shift = mean, scale = std).
    shift, scale : array_like, shape (n_features,)
        Finite; every ``scale`` > 0. A constant training column gets
        ``scale = 1`` (it would otherwise divide by zero), so it maps to 0.

    Attributes
    ----------
    kind : str
    shift, scale : ndarray of float64, shape (n_features,)
    """

    def __init__(self, kind, shift, scale):
        self.kind = check_scale(kind)
        if self.kind is None:
            raise ValueError("kind must be 'minmax' or 'standard'; got None")
        self.shift = np.array(shift, dtype=np.float64)
        self.scale = np.array(scale, dtype=np.float64)
        for name, arr in (("shift", self.shift), ("scale", self.scale)):
            if arr.ndim != 1 or arr.size == 0:
                raise ValueError(f"{name} must be a non-empty 1-d array; got shape {arr.shape}")
            _check_finite(arr, name)
        if self.shift.shape != self.scale.shape:
            raise ValueError(
                f"shift and scale must have the same shape; got {self.shift.shape} and "
                f"{self.scale.shape}"
            )
        if (self.scale <= 0).any():
            raise ValueError(f"scale must be > 0 everywhere; got minimum {self.scale.min()}")

    @classmethod
    def fit(cls, X, kind):
        """The scaler of ``kind`` fitted on the columns of ``X`` (2-d, finite)."""
        kind = check_scale(kind)
        X = np.asarray(X, dtype=np.float64)
        if kind == "minmax":
            shift = X.min(axis=0)
            scale = X.max(axis=0) - shift
        else:
            shift = X.mean(axis=0)
            scale = X.std(axis=0)
        return cls.from_stats(kind, shift, scale)

    @classmethod
    def from_stats(cls, kind, shift, spread):
        """The scaler of ``kind`` from column statistics computed elsewhere (e.g. on a
        cluster): ``shift, spread`` are ``min, max - min`` or ``mean, std``."""
        scale = np.array(spread, dtype=np.float64)
        # A constant column (or one whose spread underflows) keeps its scale:
        # dividing by zero would turn it into NaN.
        scale[~(scale > np.finfo(np.float64).tiny)] = 1.0
        return cls(kind, shift, scale)

    @property
    def n_features(self):
        return self.shift.size

    def transform(self, X):
        """``(X - shift) / scale`` as a new C-contiguous array of X's float dtype.

        X must be a 2-d float32 or float64 array with ``n_features`` columns
        (the network checks this before calling). Values far outside the
        training range can overflow float32: that raises a ValueError rather
        than handing inf to the kernels.
        """
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(
                f"X must have {self.n_features} columns for this scaler; got shape {X.shape}"
            )
        dt = X.dtype
        with np.errstate(over="ignore"):
            out = ((X - self.shift) / self.scale).astype(dt, order="C")
        if not np.isfinite(out).all():
            raise ValueError(
                f"X scaled by the stored {self.kind} scaler leaves the {dt.name} range; "
                "the inputs lie far outside the training data"
            )
        return out

    def copy(self):
        return Scaler(self.kind, self.shift, self.scale)

    def __eq__(self, other):
        if not isinstance(other, Scaler):
            return NotImplemented
        return (
            self.kind == other.kind
            and np.array_equal(self.shift, other.shift)
            and np.array_equal(self.scale, other.scale)
        )

    __hash__ = None

    def __repr__(self):
        return f"Scaler({self.kind!r}, n_features={self.n_features})"
