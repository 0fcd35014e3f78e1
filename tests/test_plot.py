"""``fastprop.plot_history`` (``src/fastprop/plot.py``): curves drawn from history and metrics."""

import sys

import matplotlib.figure
import numpy as np
import pytest

import fastprop
from conftest import random_problem
from fastprop import Network


def lines(ax):
    return {line.get_label(): line for line in ax.get_lines()}


def test_loss_and_validation_curves(tmp_path):
    X, Y = random_problem(20, 3, 1)
    net = fastprop.fit(X, Y, hidden=(3,), validation_split=0.25, epochs=6, seed=0)
    path = tmp_path / "history.png"
    fig = fastprop.plot_history(net, path)
    assert isinstance(fig, matplotlib.figure.Figure)
    assert len(fig.axes) == 1
    curves = lines(fig.axes[0])
    assert set(curves) == {"training", "validation"}
    np.testing.assert_array_equal(curves["training"].get_xdata(), np.arange(1, 7))
    np.testing.assert_array_equal(curves["training"].get_ydata(), net.history)
    np.testing.assert_array_equal(curves["validation"].get_ydata(), net.metrics["val_loss"])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_accuracy_panel_skips_unmeasured_epochs():
    rng = np.random.default_rng(0)
    X = rng.random((30, 2))
    y = np.where(X[:, 0] > 0.5, "big", "small")
    net = fastprop.fit(X, y, hidden=(2,), classify=True, epochs=5, seed=0)
    fig = fastprop.plot_history(net)
    assert len(fig.axes) == 2
    acc = lines(fig.axes[1])["training"]
    # The fast path measures accuracy at the last epoch only: one point.
    np.testing.assert_array_equal(acc.get_xdata(), [5])
    assert acc.get_ydata()[0] == net.metrics["accuracy"][-1]
    assert acc.get_marker() == "o"


def test_plot_history_errors(monkeypatch):
    with pytest.raises(ValueError, match="no training history to plot"):
        fastprop.plot_history(Network((2, 1)))
    with pytest.raises(TypeError, match="network must be a fastprop.Network; got list"):
        fastprop.plot_history([0.3, 0.2])
    net = Network((2, 1))
    net.history = [0.5]
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"needs matplotlib: pip install fastprop\[plot\]"):
        fastprop.plot_history(net)
