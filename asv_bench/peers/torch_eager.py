"""PyTorch on the CPU, eager: nn.Linear + sigmoid layers, plain SGD, a Python loop over batches."""

import torch
from torch import nn


def setup(threads):
    torch.set_num_threads(threads)
    return f"torch {torch.__version__} (set_num_threads({threads}) -> {torch.get_num_threads()})"


class Runner:
    def __init__(self, net, X, Y, *, mode, batch_size, lr, shuffle, seed):
        layers = []
        for W, b in zip(net.weights, net.biases, strict=True):
            linear = nn.Linear(W.shape[0], W.shape[1], dtype=getattr(torch, net.dtype.name))
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(W.T.copy()))  # Linear stores (out, in)
                linear.bias.copy_(torch.from_numpy(b.copy()))
            layers += [linear, nn.Sigmoid()]
        self.model = nn.Sequential(*layers)
        # Plain gradient descent: no momentum, dampening or weight decay.
        self.opt = torch.optim.SGD(self.model.parameters(), lr=lr, momentum=0.0)
        self.X, self.Y = torch.from_numpy(X), torch.from_numpy(Y)
        self.batch_size, self.shuffle = batch_size, shuffle
        self.gen = torch.Generator().manual_seed(seed)

    def epoch(self):
        n = self.X.shape[0]
        order = torch.randperm(n, generator=self.gen) if self.shuffle else torch.arange(n)
        for start in range(0, n, self.batch_size):
            rows = order[start : start + self.batch_size]
            x, y = self.X[rows], self.Y[rows]
            # ½ Σ (y - ŷ)² averaged over the batch: fastprop's "mse" with "mean".
            loss = 0.5 * (self.model(x) - y).pow(2).sum() / x.shape[0]
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()

    def params(self):
        linears = self.model[::2]
        return ([m.weight.detach().numpy().T.copy() for m in linears],
                [m.bias.detach().numpy().copy() for m in linears])


make = Runner
