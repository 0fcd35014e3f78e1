"""The numbers of docs/backprop.md, computed by fastprop.

    python docs/worked_example.py            # print every block
    python docs/worked_example.py --check    # exit 1 if docs/backprop.md differs
    python docs/worked_example.py --update   # rewrite those blocks in docs/backprop.md

The problem is the teaching notes' one: four samples of three features, one
target each, and a 3-4-1 network of sigmoid units. Each block is computed
with the NumPy reference (``fastprop.reference``, the readable one) and
checked against the compiled kernel that implements the same equation; a
block states that they agree, and the script stops if they do not.

In backprop.md every block follows a marker line ``<!-- worked_example: NAME -->``
and sits in a fenced code block; ``sections()`` returns the text of each
block by NAME, and tests/test_docs.py runs ``--check`` so the page cannot
drift from what the code prints.
"""

import re
import sys
from pathlib import Path

import numpy as np

import fastprop
from fastprop import kernels, reference

DOC = Path(__file__).with_name("backprop.md")

X = np.array([[0.2, 0.4, 0.6], [0.3, 0.3, 0.1], [0.5, 0.4, 0.7], [0.8, 0.4, 0.1]])
Y = np.array([[0.8], [0.2], [0.4], [0.6]])
SEED = 0
LR = 5.0
RTOL, ATOL = 1e-12, 1e-14  # float64 kernel vs reference, as in tests/conftest.py


def fmt(a, decimals=6):
    """An array as text with a fixed number of decimals, the same on every machine."""
    a = np.asarray(a, dtype=np.float64)
    # -0.000000 and 0.000000 print alike.
    a = np.where(np.round(a, decimals) == 0, 0.0, a)
    return _rows(np.array2string(
        a, precision=decimals, floatmode="fixed", suppress_small=True, max_line_width=100,
        separator="  ",
    ))


def sci(a):
    """Small numbers (deltas, gradients) in scientific notation, 4 significant digits."""
    a = np.asarray(a, dtype=np.float64)
    return _rows(np.array2string(
        a, formatter={"float_kind": lambda v: f"{v: .3e}"}, max_line_width=100, separator="  ",
    ))


def _rows(text):
    """NumPy's text without brackets or trailing blanks."""
    lines = text.replace("[", " ").replace("]", " ").splitlines()
    return "\n".join(line.rstrip() for line in lines)


def agree(comp, ref, what):
    """Stop unless the kernel's ``comp`` matches the reference's ``ref``; say so."""
    np.testing.assert_allclose(comp, ref, rtol=RTOL, atol=ATOL, err_msg=what)
    return f"kernel {what} agrees with the reference (rtol {RTOL:g})"


def initial_network():
    # "uniform": every weight and bias from U[-1, 1), as in the teaching notes.
    return fastprop.Network((3, 4, 1), seed=SEED, init="uniform")


def sections():
    """Every block of backprop.md, by name, as the text that goes in the fence."""
    out = {}
    net = initial_network()
    W, b = [w.copy() for w in net.weights], [v.copy() for v in net.biases]

    out["weights"] = "\n".join([
        "W[0] (3 inputs x 4 hidden units)", fmt(W[0]),
        "b[0]", fmt(b[0]),
        "W[1] (4 hidden units x 1 output)", fmt(W[1]),
        "b[1]", fmt(b[1]),
    ])

    # --- forward pass ---------------------------------------------------------------------
    z1 = X @ W[0] + b[0]
    a1 = reference.forward_layer(X, W[0], b[0])
    comp_a1 = np.empty_like(a1)
    kernels.forward_layer(X, W[0], b[0], comp_a1)
    z2 = a1 @ W[1] + b[1]
    a2 = reference.forward_layer(a1, W[1], b[1])
    comp_a2 = np.empty_like(a2)
    kernels.forward_layer(a1, W[1], b[1], comp_a2)
    losses = reference.loss(a2, Y)
    out["forward"] = "\n".join([
        "z1 = X W[0] + b[0]   (one row per sample)", fmt(z1),
        "a1 = sigmoid(z1)", fmt(a1),
        agree(comp_a1, a1, "forward_layer"),
        "z2 = a1 W[1] + b[1]", fmt(z2),
        "y_hat = a2 = sigmoid(z2)", fmt(a2),
        "y", fmt(Y),
        agree(comp_a2, a2, "forward_layer"),
        "loss of each sample, 1/2 (y - y_hat)^2", fmt(losses),
        f"mean loss over the 4 samples: {losses.mean():.6f}",
        agree(net.predict(X), a2, "predict"),
    ])

    # --- backward pass --------------------------------------------------------------------
    d2 = reference.output_delta(a2, Y)
    comp_d2 = np.empty_like(d2)
    comp_total = kernels.output_delta(a2, Y, comp_d2, kernels.LOSS_MSE)
    d1 = reference.hidden_delta(d2, W[1], a1)
    comp_d1 = np.empty_like(d1)
    kernels.hidden_delta(d2, W[1], a1, comp_d1)
    out["deltas"] = "\n".join([
        "y_hat - y", fmt(a2 - Y),
        "y_hat (1 - y_hat)", fmt(a2 * (1 - a2)),
        "delta2 = (y_hat - y) * y_hat (1 - y_hat)", sci(d2),
        agree(comp_d2, d2, "output_delta"),
        agree(comp_total, losses.sum(), "output_delta loss"),
        "delta2 W[1]^T   (each sample's output delta sent back along the 4 weights)",
        sci(d2 @ W[1].T),
        "a1 (1 - a1)", fmt(a1 * (1 - a1)),
        "delta1 = (delta2 W[1]^T) * a1 (1 - a1)", sci(d1),
        agree(comp_d1, d1, "hidden_delta"),
    ])

    # --- gradients ------------------------------------------------------------------------
    m = X.shape[0]
    gW1, gb1 = reference.layer_gradients(a1, d2)
    gW0, gb0 = reference.layer_gradients(X, d1)
    comp_gW0, comp_gb0 = np.zeros_like(gW0), np.zeros_like(gb0)
    kernels.accumulate_gradient(X, d1, comp_gW0, comp_gb0)
    loss, grad_W, grad_b = reference.gradients(W, b, X, Y)
    comp_loss, comp_grad_W, comp_grad_b = fastprop.gradients(net, X, Y)
    out["gradients"] = "\n".join([
        "dL/dW[1] = a1^T delta2 / 4", sci(gW1 / m),
        "dL/db[1] = sum of delta2 over the samples / 4", sci(gb1 / m),
        "dL/dW[0] = X^T delta1 / 4", sci(gW0 / m),
        "dL/db[0] = sum of delta1 over the samples / 4", sci(gb0 / m),
        agree(comp_gW0, gW0, "accumulate_gradient"),
        agree(comp_grad_W[0], grad_W[0], "add_gradient (fastprop.gradients) W[0]"),
        agree(comp_grad_W[1], grad_W[1], "add_gradient (fastprop.gradients) W[1]"),
        agree(comp_grad_b[0], grad_b[0], "add_gradient (fastprop.gradients) b[0]"),
        agree(comp_loss, loss, "add_gradient (fastprop.gradients) loss"),
    ])
    np.testing.assert_allclose(grad_W[1], gW1 / m, rtol=RTOL)
    np.testing.assert_allclose(grad_W[0], gW0 / m, rtol=RTOL)

    # --- central differences: the gradient checked without calculus -----------------------
    h = 1e-6
    Wp = [w.copy() for w in W]
    Wp[0][0, 0] += h
    Wm = [w.copy() for w in W]
    Wm[0][0, 0] -= h
    up, _, _ = reference.gradients(Wp, b, X, Y)
    down, _, _ = reference.gradients(Wm, b, X, Y)
    numeric = (up - down) / (2 * h)
    out["check"] = "\n".join([
        f"L(W[0][0,0] + h) = {up:.12f}",
        f"L(W[0][0,0] - h) = {down:.12f}   (h = {h:g})",
        f"(difference) / 2h = {numeric: .6e}",
        f"dL/dW[0][0,0] by backpropagation = {grad_W[0][0, 0]: .6e}",
    ])
    assert abs(numeric - grad_W[0][0, 0]) < 1e-8

    # --- one step of gradient descent -----------------------------------------------------
    Ws, bs = [w.copy() for w in W], [v.copy() for v in b]
    reference.update(Ws, bs, grad_W, grad_b, LR)
    stepped = initial_network()
    history = reference.train(
        stepped.weights, stepped.biases, X, Y, mode="batch", lr=LR,
        epochs=1, shuffle=False,
    )
    new_loss = reference.loss(reference.forward(Ws, bs, X)[-1], Y).mean()
    one = fastprop.fit(X, Y, network=initial_network(), mode="batch", lr=LR, epochs=1,
                       shuffle=False)
    out["step"] = "\n".join([
        f"W[1] - {LR:g} dL/dW[1]", fmt(Ws[1]),
        f"b[1] - {LR:g} dL/db[1]", fmt(bs[1]),
        f"W[0] - {LR:g} dL/dW[0]", fmt(Ws[0]),
        f"mean loss before the step: {loss:.6f}",
        f"mean loss after the step:  {new_loss:.6f}",
        agree(one.params, stepped.params, "batch epoch (fastprop.fit, epochs=1)"),
        agree(one.history[0], history[0], "epoch loss"),
    ])

    # --- a whole training run -------------------------------------------------------------
    net = fastprop.fit(X, Y, network=initial_network(), mode="batch", lr=LR, epochs=5000,
                       tol=1e-5, seed=SEED)
    curve = net.history
    marks = [e for e in (1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
             if e <= len(curve)]
    if marks[-1] != len(curve):
        marks.append(len(curve))
    lines = [
        "fastprop.fit(X, Y, network=<the weights above>, mode='batch', lr=5.0,",
        "             epochs=5000, tol=1e-5, seed=0)",
        f"ran {len(curve)} epochs" + (" (stopped by tol)" if len(curve) < 5000 else ""),
        "epoch   mean loss",
    ]
    lines += [f"{e:5d}   {curve[e - 1]:.6f}" for e in marks]
    lines += ["predictions after training", fmt(net.predict(X)), "targets", fmt(Y)]
    out["training"] = "\n".join(lines)

    # --- the three modes ------------------------------------------------------------------
    rows = ["mode       updates per epoch   mean loss after 10, 100, 1000 epochs (lr 2)"]
    for mode, updates in (("sgd", 4), ("minibatch", 2), ("batch", 1)):
        run = fastprop.fit(X, Y, network=initial_network(), mode=mode, batch_size=2, lr=2.0,
                           epochs=1000, seed=SEED)
        losses = "  ".join(f"{run.history[e - 1]:.6f}" for e in (10, 100, 1000))
        rows.append(f"{mode:<9}  {updates:^17}   {losses}")
    out["modes"] = "\n".join(rows)
    return out


# --- backprop.md's blocks -----------------------------------------------------------------

MARKER = re.compile(r"<!-- worked_example: (\w+) -->\n```text\n(.*?)\n```", re.S)


def doc_blocks(text):
    return {m.group(1): m.group(2) for m in MARKER.finditer(text)}


def stale(text, blocks):
    """Names whose block in ``text`` differs from ``blocks`` (or is missing from it)."""
    found = doc_blocks(text)
    return [name for name in blocks if found.get(name) != blocks[name]]


def updated(text, blocks):
    return MARKER.sub(
        lambda m: f"<!-- worked_example: {m.group(1)} -->\n```text\n{blocks[m.group(1)]}\n```",
        text,
    )


def main(argv):
    blocks = sections()
    if "--check" in argv:
        names = stale(DOC.read_text(encoding="utf-8"), blocks)
        if names:
            print(f"{DOC} differs from this script in: {', '.join(names)}; "
                  f"run python {Path(__file__).name} --update", file=sys.stderr)
            return 1
        return 0
    if "--update" in argv:
        DOC.write_text(updated(DOC.read_text(encoding="utf-8"), blocks), encoding="utf-8")
        return 0
    for name, text in blocks.items():
        print(f"<!-- worked_example: {name} -->\n```text\n{text}\n```\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
