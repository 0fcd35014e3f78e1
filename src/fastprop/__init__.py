"""fastprop: fast backpropagation for dense sigmoid networks on the CPU.

``fastprop.fit`` trains; ``fastprop.reference`` is the same math in plain
NumPy; ``fastprop.kernels`` is the compiled core both are held to.
"""

from . import datasets, reference
from .io import load
from .network import Network, gradients
from .plot import plot_history
from .scaling import Scaler
from .trainer import DivergenceError, Trainer, fit

__all__ = [
    "DivergenceError", "Network", "Scaler", "Trainer", "datasets", "fit", "gradients", "load",
    "plot_history", "reference",
]
__version__ = "0.1.0"
