"""scikit-learn estimators around ``fastprop.fit``: a classifier and a regressor.

Install with ``pip install fastprop[sklearn]``. Both estimators follow the
scikit-learn conventions: ``__init__`` only stores its arguments, ``fit``
returns the estimator, fitted attributes end in ``_``, and the whole
``check_estimator`` suite runs against them in ``tests/test_sklearn.py``.
They train with ``fastprop.fit``; the fitted ``network_`` is a plain
``fastprop.Network``.

Every output of a fastprop network is a sigmoid, so it lies in (0, 1). The
classifier needs nothing more: one output unit gives the probability of the
second class of two, k units score k classes. The regressor maps each target
column affinely onto [0.1, 0.9] for training (the map is fitted on the
training targets and stored as ``y_scale_`` and ``y_offset_``) and maps the
outputs back in ``predict``, so any real targets can be learned.
"""

import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .trainer import fit as _fastprop_fit

# Targets of the regressor are trained on [TARGET_LOW, TARGET_HIGH]: inside
# (0, 1), where a sigmoid can actually reach them, with room to predict a
# little beyond the range seen in training.
TARGET_LOW, TARGET_HIGH = 0.1, 0.9

# A random_state that is not an int is turned into a fastprop seed in [0, 2**31).
SEED_BOUND = 2**31 - 1


class _FastpropEstimator(BaseEstimator):
    """What the classifier and the regressor share: parameters, fit, partial_fit."""

    # The loss fastprop trains with when ``loss=None``.
    _default_loss = "mse"

    def __init__(
        self,
        hidden=(32,),
        *,
        mode="minibatch",
        batch_size=32,
        lr=1.0,
        epochs=200,
        tol=None,
        loss=None,
        reduction="mean",
        shuffle=True,
        random_state=None,
        init="xavier",
        scale=None,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        warm_start=False,
        dtype=None,
        threads=None,
    ):
        self.hidden = hidden
        self.mode = mode
        self.batch_size = batch_size
        self.lr = lr
        self.epochs = epochs
        self.tol = tol
        self.loss = loss
        self.reduction = reduction
        self.shuffle = shuffle
        self.random_state = random_state
        self.init = init
        self.scale = scale
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.warm_start = warm_start
        self.dtype = dtype
        self.threads = threads

    # --- subclass hooks ------------------------------------------------------------

    def _check_targets(self, y, first, classes=None):
        """Validated targets -> (n, n_outputs) array in [0, 1]; sets the target attributes."""
        raise NotImplementedError

    # --- parameters --------------------------------------------------------------

    def _seed(self):
        """The fastprop seed for this fit: an int random_state as is, else drawn from it."""
        rs = self.random_state
        if rs is None:
            return None
        message = f"random_state must be None, an int >= 0 or a RandomState; got {rs!r}"
        if isinstance(rs, numbers.Integral) and not isinstance(rs, bool):
            if rs < 0:
                raise ValueError(message)
            return int(rs)
        try:
            return int(check_random_state(rs).randint(SEED_BOUND))
        except ValueError as exc:
            raise ValueError(message) from exc

    def _fit_options(self):
        """Keyword arguments for ``fastprop.fit`` from the estimator's parameters."""
        for name in ("shuffle", "early_stopping", "warm_start"):
            value = getattr(self, name)
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"{name} must be True or False; got {value!r}")
        options = dict(
            mode=self.mode, batch_size=self.batch_size, lr=self.lr, tol=self.tol,
            loss=self._default_loss if self.loss is None else self.loss,
            reduction=self.reduction, shuffle=self.shuffle, init=self.init,
            threads=self.threads,
        )
        if self.scale is not None:
            options["scale"] = self.scale
        if self.early_stopping:
            fraction = self.validation_fraction
            if (
                isinstance(fraction, bool) or not isinstance(fraction, numbers.Real)
                or not 0 < fraction < 1
            ):
                raise ValueError(
                    f"validation_fraction must be a number in (0, 1); got {fraction!r}"
                )
            patience = self.n_iter_no_change
            if isinstance(patience, bool) or not isinstance(patience, numbers.Integral):
                raise TypeError(f"n_iter_no_change must be an integer; got {patience!r}")
            if patience < 1:
                raise ValueError(f"n_iter_no_change must be >= 1; got {patience}")
            options["validation_split"] = float(fraction)
            options["patience"] = int(patience)
        return options

    def _validate(self, X, y, reset):
        return validate_data(
            self, X, y, reset=reset, dtype=(np.float64, np.float32),
            multi_output=self._multi_output, y_numeric=not self._is_classifier,
        )

    # --- training ------------------------------------------------------------------

    def fit(self, X, y):
        """Train a new network on (X, y) for up to ``epochs`` epochs.

        With ``warm_start=True`` and a previous fit, training continues from
        the fitted network instead.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)

        Returns
        -------
        self
        """
        return self._train(X, y, self.epochs, keep=self.warm_start, partial=False)

    def _train(self, X, y, epochs, *, keep, partial, classes=None):
        """Validate, encode the targets, and run ``fastprop.fit`` for ``epochs`` epochs.

        ``keep``: continue from ``network_`` if there is one. ``partial``:
        one epoch of online learning, which has no held-out data to watch.
        """
        options = self._fit_options()
        seed = self._seed()
        keep = keep and hasattr(self, "network_")
        if partial:
            options.pop("validation_split", None)
            options.pop("patience", None)
        if keep:
            # The network keeps the scaler fitted on the data of the first call.
            options.pop("scale", None)
            if seed is not None:
                # A fresh shuffle on every call, still reproducible from random_state.
                seed = (seed + len(self.network_.history)) % SEED_BOUND
        X, y = self._validate(X, y, reset=not keep)
        Y = self._check_targets(y, first=not keep, classes=classes)
        if keep:
            network = _fastprop_fit(
                X, Y, network=self.network_, epochs=epochs, seed=seed, dtype=self.dtype,
                **options,
            )
        else:
            network = _fastprop_fit(
                X, Y, self.hidden, epochs=epochs, seed=seed, dtype=self.dtype, **options
            )
        self._fitted(network)
        return self

    def _fitted(self, network):
        self.network_ = network
        self.n_outputs_ = network.n_outputs
        self.loss_curve_ = list(network.history)
        self.n_iter_ = len(network.history)
        if "val_loss" in network.metrics:
            self.validation_loss_curve_ = list(network.metrics["val_loss"])
        else:  # nothing left over from an earlier fit with early stopping
            self.__dict__.pop("validation_loss_curve_", None)

    # --- fitted attributes -------------------------------------------------------

    @property
    def coefs_(self):
        """Weight matrices of the fitted network: ``coefs_[l]`` is ``(n_l, n_{l+1})``."""
        check_is_fitted(self)
        return self.network_.weights

    @property
    def intercepts_(self):
        """Bias vectors of the fitted network: ``intercepts_[l]`` is ``(n_{l+1},)``."""
        check_is_fitted(self)
        return self.network_.biases

    def _inputs(self, X):
        check_is_fitted(self)
        return validate_data(self, X, reset=False, dtype=(np.float64, np.float32))


class FastpropClassifier(ClassifierMixin, _FastpropEstimator):
    """A sigmoid network classifier trained by fastprop's compiled backpropagation.

    Two classes use one output unit (the probability of ``classes_[1]``);
    k > 2 classes use k units, one-hot targets, and ``predict_proba``
    divides the k outputs by their sum.

    Parameters
    ----------
    hidden : tuple of int, default=(32,)
        Hidden layer widths; ``()`` for none.
    mode : {"minibatch", "sgd", "batch"}, default="minibatch"
        Samples per update: ``batch_size``, one, or all.
    batch_size : int, default=32
    lr : float, default=1.0
        Learning rate.
    epochs : int, default=200
        Maximum number of passes over the data in ``fit``.
    tol : float or None, default=None
        Stop once an epoch's training loss is at most ``tol`` (fastprop's
        meaning, not scikit-learn's "improvement by tol").
    loss : {"bce", "mse"} or None, default=None
        None means ``"bce"``, binary cross-entropy of every output unit.
    reduction : {"mean", "sum"}, default="mean"
    shuffle : bool, default=True
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the shuffling and the validation split.
    init : {"xavier", "uniform"}, default="xavier"
    scale : {None, "minmax", "standard"}, default=None
        Input scaling fitted by ``fastprop.fit`` and kept in the network.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the rows and stop after
        ``n_iter_no_change`` epochs without a lower validation loss; the
        best weights are kept.
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=10
    warm_start : bool, default=False
        ``fit`` continues training the fitted network instead of a new one.
    dtype : {None, float32, float64}, default=None
        None: float32 for float32 X, float64 otherwise.
    threads : int or None, default=None
        Threads for mini-batch and full-batch gradients (None: all of
        Numba's pool); the result does not depend on it. Set 1 when a
        search already runs estimators in parallel (``n_jobs``).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    network_ : fastprop.Network
    coefs_, intercepts_ : list of ndarray
        The network's weight matrices and bias vectors (views into it).
    n_iter_ : int
        Epochs the network has been trained for, over all calls.
    loss_curve_ : list of float
        Training loss of each of those epochs.
    validation_loss_curve_ : list of float
        Validation loss per epoch (only with ``early_stopping``).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when fitted on a DataFrame with string column names.
    n_outputs_ : int
    """

    _default_loss = "bce"
    _is_classifier = True
    _multi_output = False

    def _check_targets(self, y, first, classes=None):
        check_classification_targets(y)
        if classes is not None:
            classes = np.unique(np.asarray(classes))
            if not first and not np.array_equal(classes, self.classes_):
                raise ValueError(
                    f"classes={classes.tolist()!r} differs from the classes of the first "
                    f"partial_fit call, {self.classes_.tolist()!r}"
                )
        if first:
            classes = np.unique(y) if classes is None else classes
            if classes.size < 2:
                only = classes.tolist()[0]
                raise ValueError(
                    f"a classifier needs at least 2 classes; got only one class, {only!r}"
                )
            self.classes_ = classes
        idx = self._class_index(y)
        if self.classes_.size == 2:
            return (idx == 1).astype(np.float64).reshape(-1, 1)
        Y = np.zeros((y.shape[0], self.classes_.size))
        Y[np.arange(y.shape[0]), idx] = 1
        return Y

    def _class_index(self, y):
        """Position of each label of y in ``classes_``; a ValueError for labels not in it."""
        try:
            idx = np.minimum(np.searchsorted(self.classes_, y), self.classes_.size - 1)
            known = self.classes_[idx] == y
        except TypeError:  # labels that do not compare with the classes (str vs int)
            known = np.zeros(y.shape[0], dtype=bool)
        if not known.all():
            unknown = np.unique(y[~known]).tolist()
            raise ValueError(
                f"y has labels {unknown!r} that are not among the classes "
                f"{self.classes_.tolist()!r} the classifier was first fitted with"
            )
        return idx

    def partial_fit(self, X, y, classes=None):
        """Train one epoch on (X, y), continuing from the current network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        classes : array-like of shape (n_classes,), optional
            Every class y will ever hold; required on the first call, since
            one batch may not show them all.

        Returns
        -------
        self
        """
        if classes is None and not hasattr(self, "network_"):
            raise ValueError("classes must be passed on the first call to partial_fit")
        return self._train(X, y, 1, keep=True, partial=True, classes=classes)

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes), rows summing to 1.

        Two classes: ``[1 - p, p]`` from the one output p; k classes: the k
        outputs divided by their sum (``Network.predict_proba``).
        """
        X = self._inputs(X)  # first: NotFittedError before any fitted attribute is read
        return self.network_.predict_proba(X)

    def predict_log_proba(self, X):
        """Natural log of ``predict_proba``."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """The most probable class of each sample."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


class FastpropRegressor(RegressorMixin, _FastpropEstimator):
    """A sigmoid network regressor trained by fastprop's compiled backpropagation.

    Targets may be any real numbers: each column of y is mapped affinely so
    that its training minimum and maximum land on 0.1 and 0.9, the network
    learns the mapped targets, and ``predict`` maps the outputs back. The
    prediction therefore lies within the training range widened by an eighth
    of it on each side. With ``partial_fit`` the map is fixed by the first
    call; later targets that fall outside [0, 1] after mapping are clipped to
    it (with a warning), so give the first call representative data.

    Parameters are those of ``FastpropClassifier``, except that
    ``loss=None`` means ``"mse"`` (½ Σ (y - ŷ)² on the mapped targets).

    Attributes
    ----------
    y_scale_, y_offset_ : ndarray of shape (n_outputs,)
        The target map: the network is trained on ``y * y_scale_ + y_offset_``.
    network_, coefs_, intercepts_, n_iter_, loss_curve_, n_features_in_,
    feature_names_in_, n_outputs_, validation_loss_curve_
        As for ``FastpropClassifier``.
    """

    _is_classifier = False
    _multi_output = True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _check_targets(self, y, first, classes=None):
        Y = np.asarray(y, dtype=np.float64)
        self._y_1d = Y.ndim == 1 if first else self._y_1d
        Y = Y.reshape(Y.shape[0], -1)
        if first:
            lo, hi = Y.min(axis=0), Y.max(axis=0)
            span = hi - lo
            flat = span == 0
            # A constant column maps to the middle of the range.
            scale = (TARGET_HIGH - TARGET_LOW) / np.where(flat, 1.0, span)
            self.y_scale_ = np.where(flat, 1.0, scale)
            self.y_offset_ = np.where(flat, 0.5 - lo, TARGET_LOW - lo * scale)
        elif Y.shape[1] != self.y_scale_.shape[0]:
            raise ValueError(
                f"y has {Y.shape[1]} columns but the regressor was fitted with "
                f"{self.y_scale_.shape[0]}"
            )
        T = Y * self.y_scale_ + self.y_offset_
        if not first and (T.min() < 0 or T.max() > 1):
            warnings.warn(
                "y has values beyond the range the target map was fitted on (first call); "
                "they were clipped to what the network can output",
                UserWarning,
                stacklevel=4,
            )
            T = np.clip(T, 0, 1)
        return T

    def partial_fit(self, X, y):
        """Train one epoch on (X, y), continuing from the current network.

        The first call fixes the target map (see the class docstring).

        Returns
        -------
        self
        """
        return self._train(X, y, 1, keep=True, partial=True)

    def predict(self, X):
        """Predicted targets: shape (n_samples,) for a 1-d y in fit, else (n_samples, n_outputs)."""
        X = self._inputs(X)
        out = self.network_.predict(X).astype(np.float64)
        y = (out - self.y_offset_) / self.y_scale_
        return y.ravel() if y.shape[1] == 1 and self._y_1d else y
