"""scikit-learn's MLPRegressor, one ``partial_fit`` per epoch.

Not the same math, and the table says so: the output layer is the identity
(sklearn has no sigmoid output for regression) and the L2 penalty alpha is
set to 0 (sklearn still computes the weights' squared norm every batch).
Everything else matches: logistic hidden units, ½ squared error averaged over
the batch, plain SGD with a constant lr, the same batch size, a reshuffle per
epoch.
"""

import numpy as np
import sklearn
from sklearn.neural_network import MLPRegressor


def setup(threads):
    return f"scikit-learn {sklearn.__version__} (NumPy's BLAS)"


class Runner:
    def __init__(self, net, X, Y, *, mode, batch_size, lr, shuffle, seed):
        # One output column goes in as a vector, as sklearn expects for a single target.
        self.X, self.Y = X, (Y[:, 0] if Y.shape[1] == 1 else Y)
        self.model = MLPRegressor(
            hidden_layer_sizes=net.layer_sizes[1:-1], activation="logistic", solver="sgd",
            momentum=0.0, nesterovs_momentum=False, learning_rate="constant",
            learning_rate_init=lr, alpha=0.0, batch_size=min(batch_size, X.shape[0]),
            shuffle=shuffle, max_iter=1, warm_start=True,
            # A RandomState, not an int: partial_fit re-seeds from an int on
            # every call, which would visit the samples in the same order each epoch.
            random_state=np.random.RandomState(seed),
        )
        # partial_fit creates the weights; one batch is the cheapest way to get
        # them, then they are overwritten in place (the optimizer holds these arrays).
        rows = slice(0, min(batch_size, X.shape[0]))
        self.model.partial_fit(self.X[rows], self.Y[rows])
        ours = net.weights + net.biases
        for dst, src in zip(self.model.coefs_ + self.model.intercepts_, ours, strict=True):
            dst[...] = src

    def epoch(self):
        # A diverging fit ends in sklearn's ValueError about non-finite weights;
        # NumPy's overflow warnings on the way add nothing.
        with np.errstate(over="ignore", invalid="ignore"):
            try:
                self.model.partial_fit(self.X, self.Y)
            except ValueError as err:
                if "non-finite" not in str(err):
                    raise
                raise FloatingPointError(
                    f"diverged at lr={self.model.learning_rate_init} (its identity output "
                    "layer lacks the sigmoid's damping)"
                ) from err

    def params(self):
        return [W.copy() for W in self.model.coefs_], [b.copy() for b in self.model.intercepts_]


make = Runner
