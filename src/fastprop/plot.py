"""``fastprop.plot_history``: training and validation curves with matplotlib.

matplotlib is an optional dependency (``pip install fastprop[plot]``); it is
imported only when a plot is drawn. The figure is built without pyplot, so
no window opens and no global figure state is touched: show it in a notebook
by leaving it as a cell's value, or pass ``path`` to write a file.
"""

import numpy as np

from .network import Network


def plot_history(network, path=None):
    """Draw the loss (and accuracy, if recorded) of every epoch ``network`` was trained for.

    Parameters
    ----------
    network : Network
        A trained network: ``history`` and ``metrics`` are plotted, the
        training loss next to ``"val_loss"``, and a second panel with
        ``"accuracy"`` / ``"val_accuracy"`` when a classifier recorded them.
        Epochs where a metric was not measured (NaN) are left out.
    path : str or os.PathLike, optional
        Also save the figure there; the format follows the extension
        (``.png``, ``.svg``, ``.pdf``, ...).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ImportError
        If matplotlib is not installed.
    ValueError
        If the network has not been trained (empty ``history``).
    """
    if not isinstance(network, Network):
        raise TypeError(f"network must be a fastprop.Network; got {type(network).__name__}")
    if not network.history:
        raise ValueError("network has no training history to plot; train it with fastprop.fit")
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(
            "fastprop.plot_history needs matplotlib: pip install fastprop[plot]"
        ) from exc

    epochs = np.arange(1, len(network.history) + 1)
    metrics = network.metrics
    accuracy = [name for name in ("accuracy", "val_accuracy") if _measured(metrics.get(name))]
    fig = Figure(figsize=(10 if accuracy else 6, 4), layout="constrained")
    axes = fig.subplots(1, 2 if accuracy else 1, squeeze=False)[0]

    ax = axes[0]
    _curve(ax, epochs, network.history, "training")
    _curve(ax, epochs, metrics.get("val_loss"), "validation")
    ax.set(xlabel="epoch", ylabel="loss", title="Loss")
    ax.legend()
    if accuracy:
        ax = axes[1]
        for name in accuracy:
            _curve(ax, epochs, metrics[name], "training" if name == "accuracy" else "validation")
        ax.set(xlabel="epoch", ylabel="accuracy", title="Accuracy")
        ax.set_ylim(0, 1.02)
        ax.legend()
    if path is not None:
        fig.savefig(path)
    return fig


def _measured(values):
    return values is not None and bool(np.isfinite(np.asarray(values, dtype=float)).any())


def _curve(ax, epochs, values, label):
    if not _measured(values):
        return
    values = np.asarray(values, dtype=float)
    seen = np.isfinite(values)
    # Scattered measurements (say, accuracy only at the last epoch) show as points.
    marker = "o" if seen.sum() < max(2, values.size // 2) else None
    ax.plot(epochs[seen], values[seen], label=label, marker=marker)
