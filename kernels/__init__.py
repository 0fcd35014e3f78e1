"""fastprop's compiled core: Numba kernels over preallocated arrays.

Arithmetic only: no validation, no printing, no allocation inside an epoch.
``fastprop`` checks and casts every input before calling in here.
"""

from .config import FASTMATH, JIT_OPTIONS
from .deferred import sgd_epoch_deferred, sgd_epoch_deferred_parallel
from .epochs import (
    run_epochs,
    run_epochs_deferred,
    run_epochs_deferred_parallel,
    run_epochs_parallel,
    run_epochs_rows,
    run_epochs_sgd,
    run_epochs_whole,
    sgd_epoch,
)
from .layers import accumulate_gradient, forward_layer, hidden_delta, output_delta, step_outer
from .network import add_gradient, all_finite, forward_block, predict_into
from .parallel import batch_step, parts_epoch, parts_epoch_parallel
from .scalar import LOSS_BCE, LOSS_MSE, sigmoid
from .tiny import run_epochs_tiny

__all__ = [
    "FASTMATH",
    "JIT_OPTIONS",
    "LOSS_BCE",
    "LOSS_MSE",
    "accumulate_gradient",
    "add_gradient",
    "all_finite",
    "batch_step",
    "forward_block",
    "forward_layer",
    "hidden_delta",
    "output_delta",
    "parts_epoch",
    "parts_epoch_parallel",
    "predict_into",
    "run_epochs",
    "run_epochs_deferred",
    "run_epochs_deferred_parallel",
    "run_epochs_parallel",
    "run_epochs_rows",
    "run_epochs_sgd",
    "run_epochs_tiny",
    "run_epochs_whole",
    "sgd_epoch",
    "sgd_epoch_deferred",
    "sgd_epoch_deferred_parallel",
    "sigmoid",
    "step_outer",
]
