"""fastprop: fast backpropagation for dense sigmoid networks on the CPU.

``fastprop.fit`` trains; ``fastprop.reference`` is the same math in plain
NumPy; ``fastprop.kernels`` is the compiled core both are held to.
"""

from . import datasets, reference
from .network import Network, gradients
from .trainer import DivergenceError, Trainer, fit

__all__ = ["DivergenceError", "Network", "Trainer", "datasets", "fit", "gradients", "reference"]
__version__ = "0.1.0"
