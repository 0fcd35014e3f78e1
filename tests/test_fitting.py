"""``fit``'s classification, validation, early stopping and callbacks (``src/fastprop/fitting.py``).

The per-epoch path draws the same shuffles as the fast path, so a callback
that never stops changes nothing; validation loss is the compiled
``Network.loss`` on the held-out rows; patience ends with the weights of the
best epoch; Ctrl-C keeps the work done.
"""

import math

import numpy as np
import pytest

import fastprop
from conftest import random_problem
from fastprop import Network


def blobs(n=60, k=3, seed=0, labels=None):
    """k separable clusters in 2-d; labels[k] names cluster k."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    X = rng.normal(0, 0.3, (n, 2)) + np.column_stack([np.cos(y * 2.1), np.sin(y * 2.1)])
    return X, (y if labels is None else np.asarray(labels)[y])


def same_network(a, b):
    assert a.history == b.history
    np.testing.assert_array_equal(a.params, b.params)


# --- the per-epoch path ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["sgd", "minibatch", "batch"])
def test_callback_that_never_stops_changes_nothing(mode):
    X, Y = random_problem(23, 3, 2)
    kwargs = dict(hidden=(4,), mode=mode, batch_size=5, epochs=7, seed=3, lr=0.7)
    seen = []
    monitored = fastprop.fit(X, Y, callback=lambda e, logs: seen.append((e, logs)), **kwargs)
    fast = fastprop.fit(X, Y, **kwargs)
    same_network(monitored, fast)
    assert monitored.metrics == fast.metrics == {}
    assert [e for e, _ in seen] == list(range(1, 8))
    for (_, logs), loss in zip(seen, fast.history, strict=True):
        assert logs["loss"] == loss
        assert logs["epochs"] == 7
        assert logs["epoch_seconds"] > 0 and logs["samples_per_s"] > 0
        assert set(logs) == {"loss", "epochs", "epoch_seconds", "samples_per_s"}


def test_tol_stops_the_per_epoch_path_like_the_fast_path():
    X, Y = random_problem(8, 3, 1)
    kwargs = dict(hidden=(3,), mode="batch", lr=5.0, epochs=3000, tol=0.01, seed=0)
    fast = fastprop.fit(X, Y, **kwargs)
    assert len(fast.history) < 3000
    same_network(fastprop.fit(X, Y, callback=lambda e, logs: False, **kwargs), fast)


@pytest.mark.parametrize("answer", [True, np.bool_(True)], ids=["True", "np.True_"])
def test_callback_returning_true_stops(answer):
    X, Y = random_problem(10, 2, 1)
    net = fastprop.fit(X, Y, hidden=(2,), epochs=50, seed=0,
                       callback=lambda e, logs: answer if e == 3 else None)
    assert len(net.history) == 3
    same_network(net, fastprop.fit(X, Y, hidden=(2,), epochs=3, seed=0))


def test_callback_bad_answer_and_not_callable():
    X, Y = random_problem(10, 2, 1)
    with pytest.raises(TypeError, match=r"callback must return True \(stop\), False or None; got str"):
        fastprop.fit(X, Y, epochs=5, callback=lambda e, logs: "stop")
    with pytest.raises(TypeError, match=r"callback must be callable as callback\(epoch, logs\); got"):
        fastprop.fit(X, Y, epochs=5, callback=3)


def test_callback_error_propagates_with_metrics_aligned():
    X, Y = random_problem(10, 2, 1)
    net = Network((2, 2, 1), seed=0)

    def boom(epoch, logs):
        if epoch == 2:
            raise RuntimeError("from the callback")

    with pytest.raises(RuntimeError, match="from the callback"):
        fastprop.fit(X, Y, network=net, validation_data=(X, Y), epochs=5, callback=boom)
    assert len(net.history) == len(net.metrics["val_loss"]) == 2


# --- validation ---------------------------------------------------------------------------------


def test_validation_data_loss_is_the_network_loss():
    X, Y = random_problem(30, 3, 2)
    X_val, Y_val = random_problem(9, 3, 2, seed=1)
    seen = []
    net = fastprop.fit(X, Y, hidden=(4,), validation_data=(X_val, Y_val), epochs=5, seed=0,
                       loss="bce", reduction="sum", callback=lambda e, logs: seen.append(logs))
    assert len(net.metrics["val_loss"]) == len(net.history) == 5
    assert net.metrics["val_loss"][-1] == net.loss(X_val, Y_val, loss="bce", reduction="sum")
    assert [logs["val_loss"] for logs in seen] == net.metrics["val_loss"]
    # Monitoring does not change the training.
    same_network(net, fastprop.fit(X, Y, hidden=(4,), epochs=5, seed=0, loss="bce",
                                   reduction="sum"))


def test_validation_split_holds_out_seeded_rows():
    X, Y = random_problem(40, 3, 1)
    net = fastprop.fit(X, Y, hidden=(3,), validation_split=0.25, epochs=4, seed=7)
    # The documented draw: a child stream of the seed, independent of weights and shuffles.
    perm = np.random.default_rng(7).spawn(2)[1].permutation(40)
    held, train = np.sort(perm[:10]), np.sort(perm[10:])
    ref = fastprop.fit(X[train], Y[train], hidden=(3,), validation_data=(X[held], Y[held]),
                       epochs=4, seed=7)
    same_network(net, ref)
    assert net.metrics == ref.metrics
    again = fastprop.fit(X, Y, hidden=(3,), validation_split=0.25, epochs=4, seed=7)
    assert again.metrics == net.metrics


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"validation_split": 0.0}, ValueError, "strictly between 0 and 1; got 0.0"),
        ({"validation_split": 1}, ValueError, "strictly between 0 and 1; got 1"),
        ({"validation_split": True}, TypeError, "validation_split must be a number"),
        ({"validation_split": "0.2"}, TypeError, "validation_split must be a number"),
        ({"validation_split": 0.01}, ValueError, "0.01 of 10 samples leaves"),
        ({"validation_split": 0.99}, ValueError, "0.99 of 10 samples leaves"),
        ({"validation_split": 0.2, "validation_data": "x"}, ValueError, "not both"),
        ({"validation_data": [1, 2, 3]}, TypeError, "validation_data must be a pair"),
        ({"validation_data": np.zeros((2, 3))}, TypeError, "must be a pair .*ndarray"),
        ({"validation_data": (np.zeros((2, 3)), np.zeros(2))}, ValueError,
         "validation_data\\[0\\] has 3 features but X has 2"),
        ({"validation_data": (np.zeros((2, 2)), np.zeros((2, 2)))}, ValueError,
         "validation_data\\[1\\] has 2 columns but Y has 1"),
        ({"validation_data": (np.zeros((2, 2)), np.zeros(3))}, ValueError,
         "as many rows in X_val as in Y_val; got 2 and 3"),
        ({"validation_data": (np.full((2, 2), np.nan), np.zeros(2))}, ValueError,
         "validation_data\\[0\\] contains NaN"),
        ({"validation_data": (np.zeros((2, 2)), np.full(2, 2.0)), "loss": "bce"}, ValueError,
         "validation_data\\[1\\] must lie in \\[0, 1\\] for loss='bce'"),
        ({"patience": 0}, ValueError, "patience must be >= 1; got 0"),
        ({"patience": 2.5}, TypeError, "patience must be an integer"),
        ({"classify": 1}, TypeError, "classify must be True or False"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    X, Y = random_problem(10, 2, 1)
    with pytest.raises(error, match=match):
        fastprop.fit(X, Y, epochs=2, **kwargs)


# --- early stopping -----------------------------------------------------------------------------


def test_patience_restores_the_weights_of_the_best_epoch():
    X, Y = random_problem(30, 3, 1, seed=0)
    # Validation targets that training moves away from: val_loss soon rises.
    X_val, Y_val = X[:10], 1 - Y[:10]
    net = Network((3, 6, 1), seed=0)
    snapshots = []
    fastprop.fit(X, Y, network=net, validation_data=(X_val, Y_val), patience=3, epochs=200,
                 lr=2.0, seed=0, callback=lambda e, logs: snapshots.append(net.params.copy()))
    val = net.metrics["val_loss"]
    best = int(np.argmin(val))
    assert len(net.history) == len(val) == len(snapshots) == best + 1 + 3 < 200
    np.testing.assert_array_equal(net.params, snapshots[best])
    assert net.loss(X_val, Y_val) == val[best]


def test_patience_without_validation_watches_the_training_loss():
    X, Y = random_problem(20, 3, 1)
    net = Network((3, 4, 1), seed=0)
    snapshots = []
    fastprop.fit(X, Y, network=net, patience=2, epochs=300, mode="sgd", lr=40.0, seed=0,
                 callback=lambda e, logs: snapshots.append(net.params.copy()))
    assert len(net.history) < 300
    best = int(np.argmin(net.history))
    assert len(net.history) == best + 1 + 2
    np.testing.assert_array_equal(net.params, snapshots[best])


def test_ctrl_c_keeps_the_best_weights_and_the_history():
    X, Y = random_problem(30, 3, 1)
    X_val, Y_val = X[:10], 1 - Y[:10]
    net = Network((3, 6, 1), seed=0)
    snapshots = []

    def interrupt(epoch, logs):
        snapshots.append(net.params.copy())
        if epoch == 4:
            raise KeyboardInterrupt

    with pytest.warns(UserWarning, match="interrupted after 4 epochs .*best epoch"):
        out = fastprop.fit(X, Y, network=net, validation_data=(X_val, Y_val), patience=50,
                           epochs=100, lr=2.0, seed=0, callback=interrupt)
    assert out is net
    assert len(net.history) == len(net.metrics["val_loss"]) == 4
    np.testing.assert_array_equal(net.params, snapshots[int(np.argmin(net.metrics["val_loss"]))])


def test_ctrl_c_without_patience_keeps_the_last_weights():
    X, Y = random_problem(10, 2, 1)
    net = Network((2, 2, 1), seed=0)
    snapshots = []

    def interrupt(epoch, logs):
        snapshots.append(net.params.copy())
        if epoch == 2:
            raise KeyboardInterrupt

    message = "interrupted after 2 epochs of this fit; the network keeps its weights"
    with pytest.warns(UserWarning, match=message):
        fastprop.fit(X, Y, network=net, epochs=10, seed=0, callback=interrupt)
    np.testing.assert_array_equal(net.params, snapshots[-1])


def test_divergence_in_the_per_epoch_path_keeps_metrics_aligned():
    X, Y = random_problem(12, 3, 2)
    X_val, Y_val = random_problem(4, 3, 2, seed=1)
    net = Network((3, 2), seed=0)

    def blow_up(epoch, logs):
        if epoch == 1:
            X[...] *= 1e250  # fit trains on this very array: the next update overflows

    with pytest.raises(fastprop.DivergenceError, match="epoch 2"):
        fastprop.fit(X, Y, network=net, mode="batch", loss="bce", lr=1e110, epochs=5,
                     validation_data=(X_val, Y_val), callback=blow_up)
    assert len(net.history) == len(net.metrics["val_loss"]) == 1
    assert np.isfinite(net.params).all()


# --- classification -----------------------------------------------------------------------------


def test_classify_with_string_labels():
    X, y = blobs(labels=["pear", "apple", "fig"])
    net = fastprop.fit(X, y, hidden=(8,), classify=True, validation_split=0.2, epochs=60,
                       lr=2.0, seed=0)
    assert net.classes.tolist() == ["apple", "fig", "pear"]
    assert net.classes.dtype.kind == "U"
    assert net.n_outputs == 3
    proba = net.predict_proba(X)
    assert proba.shape == (60, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    predicted = net.predict_classes(X)
    np.testing.assert_array_equal(predicted, net.classes[proba.argmax(axis=1)])
    assert fastprop.datasets.accuracy(y, predicted) > 0.9
    for name in ("val_loss", "accuracy", "val_accuracy"):
        assert len(net.metrics[name]) == len(net.history)
        assert all(np.isfinite(net.metrics[name]))
    assert net.metrics["accuracy"][-1] == np.mean(predicted[_train_rows(60, 0.2, 0)] ==
                                                  y[_train_rows(60, 0.2, 0)])


def _train_rows(n, fraction, seed):
    perm = np.random.default_rng(seed).spawn(2)[1].permutation(n)
    return np.sort(perm[int(round(n * fraction)):])


def test_binary_classes_use_one_unit():
    X, y = blobs(k=2, labels=[10, -4])
    net = fastprop.fit(X, y, hidden=(4,), classify=True, epochs=20, lr=2.0, seed=0)
    assert net.n_outputs == 1
    assert net.classes.tolist() == [-4, 10]
    p = net.predict(X)[:, 0]
    np.testing.assert_array_equal(net.predict_proba(X), np.column_stack([1 - p, p]))
    np.testing.assert_array_equal(net.predict_classes(X), np.where(p >= 0.5, 10, -4))
    # Fast path: accuracy measured at the last epoch only.
    acc = net.metrics["accuracy"]
    assert len(acc) == 20 and all(math.isnan(a) for a in acc[:-1])
    assert acc[-1] == np.mean(net.predict_classes(X) == y)
    assert set(net.metrics) == {"accuracy"}


def test_object_array_of_strings_is_accepted():
    X, y = blobs(k=2, labels=["no", "yes"])
    net = fastprop.fit(X, y.astype(object), hidden=(2,), classify=True, epochs=2, seed=0)
    assert net.classes.dtype.kind == "U"


def test_continuing_a_classifier_keeps_its_classes():
    X, y = blobs(labels=["a", "b", "c"])
    net = fastprop.fit(X, y, hidden=(4,), classify=True, epochs=3, seed=0)
    only_a = y == "a"
    fastprop.fit(X[only_a], y[only_a], network=net, classify=True, epochs=2,
                 validation_data=(X, y), seed=1)
    assert net.classes.tolist() == ["a", "b", "c"]
    assert len(net.history) == len(net.metrics["accuracy"]) == len(net.metrics["val_loss"]) == 5
    assert math.isnan(net.metrics["val_loss"][0]) and math.isnan(net.metrics["accuracy"][0])
    assert np.isfinite(net.metrics["accuracy"][2:]).all()


def test_network_without_classes_gets_them():
    X, y = blobs(k=2)
    net = fastprop.fit(X, y.astype(float), hidden=(2,), epochs=1, seed=0)
    assert net.classes is None
    assert set(net.predict_classes(X).tolist()) <= {0, 1}
    fastprop.fit(X, y, network=net, classify=True, epochs=1)
    assert net.classes.tolist() == [0, 1]


@pytest.mark.parametrize(
    ("y", "error", "match"),
    [
        (np.zeros((60, 2)), ValueError, "Y must be 1-d class labels with classify=True"),
        (np.ones(60), ValueError, "at least two classes for classify=True; got only \\[1.0\\]"),
        (np.array([1, "a"] * 30, dtype=object), TypeError, "numbers or strings .*object"),
        (np.array([b"a", b"b"] * 30), TypeError, "numbers or strings .*S1"),
        (np.array([0.0, np.nan] * 30), ValueError, "Y contains NaN or inf; class labels"),
        (np.array([], dtype=int), ValueError, "Y is empty"),
    ],
    ids=["2-d", "one-class", "mixed-object", "bytes", "nan", "empty"],
)
def test_bad_labels(y, error, match):
    X = np.zeros((max(len(y), 1), 2))
    with pytest.raises(error, match=match):
        fastprop.fit(X, y, classify=True, epochs=1)


def test_labels_must_match_the_network():
    X, y = blobs(labels=["a", "b", "c"])
    net = fastprop.fit(X, y, hidden=(2,), classify=True, epochs=1, seed=0)
    before = net.params.copy()
    with pytest.raises(ValueError, match="Y has labels that are not among .*\\['d'\\]"):
        fastprop.fit(X[:2], ["a", "d"], network=net, classify=True, epochs=1)
    with pytest.raises(ValueError, match="Y holds int64 labels but the classes are <U1"):
        fastprop.fit(X[:2], [1, 2], network=net, classify=True, epochs=1)
    with pytest.raises(ValueError, match="validation_data\\[1\\] has labels that are not among"):
        fastprop.fit(X, y, network=net, classify=True, epochs=1, validation_data=(X[:1], ["z"]))
    np.testing.assert_array_equal(net.params, before)
    plain = Network((2, 3), seed=0)
    with pytest.raises(ValueError, match=r"network= has 3 outputs but Y has 2 classes \(needs 1\)"):
        fastprop.fit(X, y == "a", network=plain, classify=True, epochs=1)
    assert plain.classes is None
