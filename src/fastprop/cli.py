"""The ``fastprop`` command: ``demo``, ``train``, ``predict`` and ``info``.

``fastprop`` (the console script) and ``python -m fastprop`` run ``main``;
without a subcommand they run ``demo``.

Exit codes: 0 done; 1 training or an output failed (divergence, a file that
cannot be written); 2 a usage or data error (bad option, missing file,
unknown column, non-numeric value, ...); 130 interrupted by Ctrl-C (``train``
saves the model first). Errors are one line on stderr; ``--debug`` adds the
traceback.
"""

import argparse
import math
import os
import signal
import sys
import traceback
import warnings

import numpy as np

from . import datasets
from .progress import ProgressBar
from .tabular import DataError, parse_columns, read_table
from .trainer import DivergenceError

PROG = "fastprop"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 0, 1, 2, 130, 141

# The demo: (mode, batch size, learning rate, epochs), settings that reach > 94 %
# held-out accuracy on the digits. Cross-entropy: with ½ squared error,
# full-batch descent stalls on saturated sigmoid outputs for hundreds of epochs
# (its output delta carries ŷ(1 - ŷ)).
DEMO_RUNS = (
    ("sgd", 1, 0.1, 10),
    ("minibatch", 32, 1.0, 20),
    ("batch", None, 2.0, 200),
)
DEMO_HIDDEN = (32,)
DEMO_QUICK_SCALE = 0.05
DEMO_PLOT = "fastprop-demo.png"


class UsageError(Exception):
    """A bad command line: shown as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (the usage is a ``--help`` away)."""

    def error(self, message):
        raise UsageError(f"{message} (see {self.prog} --help)")


# --- option types ------------------------------------------------------------------------------


def _hidden(text):
    """``64,32`` -> (64, 32); ``none`` or ``""`` -> () (no hidden layer)."""
    if text.strip().lower() in ("", "none", "0"):
        return ()
    try:
        sizes = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected layer widths such as 64,32 (or 'none'); got {text!r}"
        ) from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"layer widths must be >= 1; got {text!r}")
    return sizes


def _int_at_least(minimum):
    """An argparse type: a whole number >= ``minimum``."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a whole number; got {text!r}"
            ) from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}; got {value}")
        return value

    return parse


_positive_int = _int_at_least(1)
_non_negative_int = _int_at_least(0)


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number; got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0; got {text!r}")
    return value


def _fraction(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number; got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must lie strictly between 0 and 1; got {text!r}")
    return value


# --- the parser --------------------------------------------------------------------------------


def build_parser():
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--quiet", "-q", action="store_true",
                        help="no progress bar and no summary; errors only")
    common.add_argument("--debug", action="store_true",
                        help="show the Python traceback of an error")

    parser = _Parser(
        prog=PROG,
        description="Fast backpropagation for dense sigmoid networks: train, predict, inspect. "
        "Without a command, runs the demo.",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"fastprop {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    demo = sub.add_parser(
        "demo", parents=[common], help="train 64-32-10 on the bundled digits in each mode",
        description="Train a 64-32-10 network on the bundled handwritten digits in each of the "
        "three modes; print a summary table and write the loss curves as a PNG.",
    )
    demo.add_argument("--seed", type=_non_negative_int, default=0, help="default 0")
    demo.add_argument("--plot", metavar="PNG", default=DEMO_PLOT,
                      help=f"where to write the loss curves (default {DEMO_PLOT}); "
                      "'none' to skip")
    demo.add_argument("--epochs-scale", type=_positive_float, default=1.0, metavar="F",
                      help="multiply every mode's epochs by F (at least 1 epoch each)")
    demo.add_argument("--quick", action="store_const", const=DEMO_QUICK_SCALE,
                      dest="epochs_scale", help=f"same as --epochs-scale {DEMO_QUICK_SCALE}")

    train = sub.add_parser(
        "train", parents=[common], help="train a network on a CSV, NPZ or NPY file",
        description="Train a network on DATA and save it. DATA is a CSV file with a header row "
        "(every column but the targets is a feature), an .npz file with arrays X and Y, or a "
        ".npy array (targets picked by column index). Integer or text targets mean "
        "classification (one-hot encoded, decoded again by predict); numbers with a fraction "
        "mean regression, whose targets must lie in [0, 1] like a sigmoid output.",
    )
    train.add_argument("data", metavar="DATA", help=".csv, .tsv, .npz or .npy")
    _add_columns(train, "target columns, by name or 0-based index (negative: from the end); "
                 "default: the last column")
    kind = train.add_mutually_exclusive_group()
    kind.add_argument("--classify", dest="classify", action="store_const", const=True,
                      help="treat the target as class labels (default: when integers or text)")
    kind.add_argument("--regress", dest="classify", action="store_const", const=False,
                      help="treat the targets as numbers to fit")
    train.add_argument("--hidden", type=_hidden, default=(32,), metavar="W[,W...]",
                       help="hidden layer widths, e.g. 64,32; 'none' for no hidden layer "
                       "(default 32)")
    train.add_argument("--mode", choices=("sgd", "minibatch", "batch"), default="minibatch")
    train.add_argument("--batch-size", type=_positive_int, default=32, metavar="N",
                       help="samples per update in minibatch mode (default 32)")
    train.add_argument("--lr", type=_positive_float, default=0.5, help="learning rate (0.5)")
    train.add_argument("--epochs", type=_positive_int, default=100, help="at most (100)")
    train.add_argument("--tol", type=float, default=None,
                       help="stop once an epoch's training loss is at most this")
    train.add_argument("--loss", choices=("mse", "bce"), default=None,
                       help="default: bce to classify, mse to regress")
    train.add_argument("--seed", type=_non_negative_int, default=0,
                       help="seeds weights, shuffling and the validation split (0)")
    train.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    train.add_argument("--scale", choices=("minmax", "standard", "none"), default="minmax",
                       help="feature scaling fitted on the training rows and saved with the "
                       "model (minmax)")
    train.add_argument("--validation-split", type=_fraction, default=None, metavar="F",
                       help="hold out this share of the rows to measure validation loss")
    train.add_argument("--patience", type=_positive_int, default=None, metavar="N",
                       help="stop after N epochs without a better validation loss (training "
                       "loss without validation) and keep the best weights")
    train.add_argument("--out", "-o", default="model.npz", metavar="MODEL",
                       help="where to save the model (model.npz)")
    train.add_argument("--plot", metavar="PNG", default=None,
                       help="also write the loss curves as a PNG (needs matplotlib)")

    predict = sub.add_parser(
        "predict", parents=[common], help="predict with a saved model",
        description="Predict every row of DATA with a saved model and write a CSV: a column "
        "'prediction' (class labels for a classifier; prediction_0, ... for several outputs). "
        "DATA must hold exactly the model's input columns, in training order; name target "
        "columns to drop with --target. When targets are present (--target, or Y in an .npz), "
        "the accuracy or loss is reported on stderr.",
    )
    predict.add_argument("model", metavar="MODEL", help="a model saved by fastprop train")
    predict.add_argument("data", metavar="DATA", help=".csv, .tsv, .npz or .npy")
    _add_columns(predict, "columns to drop (targets), by name or 0-based index; "
                 "default: none")
    predict.add_argument("--out", "-o", default="-", metavar="CSV",
                         help="where to write the predictions (default: stdout)")
    predict.add_argument("--proba", action="store_true",
                         help="also write each class's probability (classifiers)")

    info = sub.add_parser("info", parents=[common], help="describe a saved model",
                          description="Describe a model saved by fastprop train.")
    info.add_argument("model", metavar="MODEL")
    return parser


def _add_columns(parser, help_target):
    parser.add_argument("--target", "-t", metavar="COL[,COL]", default=None, help=help_target)
    parser.add_argument("--x-name", default="X", metavar="NAME",
                        help="features array in an .npz file (X)")
    parser.add_argument("--y-name", default="Y", metavar="NAME",
                        help="targets array in an .npz file (Y)")


# --- main --------------------------------------------------------------------------------------


def _say(*parts, stream=None):
    print(*parts, file=sys.stdout if stream is None else stream, flush=True)


def _error(message):
    _say(f"{PROG}: error: {message}", stream=sys.stderr)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    _say(f"{PROG}: warning: {message}", stream=sys.stderr)


def main(argv=None):
    """Run the command line; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # No subcommand (or only demo options): the demo, as `python -m fastprop` always ran it.
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv.insert(0, "demo")
    debug = "--debug" in argv
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        _error(exc)
        return EXIT_USAGE
    command = {"demo": run_demo, "train": run_train, "predict": run_predict, "info": run_info}
    previous = warnings.showwarning
    warnings.showwarning = _show_warning
    try:
        return command[args.command](args)
    except (UsageError, DataError) as exc:
        _failed(exc, debug)
        return EXIT_USAGE
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`fastprop predict ... | head`): stop quietly, and keep
        # Python from complaining again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except DivergenceError as exc:
        _failed(exc, debug)
        return EXIT_FAILED
    except (ValueError, TypeError) as exc:
        # The library's checks name the argument, what was expected and what arrived.
        _failed(exc, debug)
        return EXIT_USAGE
    except (OSError, ImportError) as exc:
        # A file that cannot be written, matplotlib missing: the message says which.
        _failed(exc, debug)
        return EXIT_FAILED
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, not a traceback
        _failed(exc, debug, internal=True)
        return EXIT_FAILED
    finally:
        warnings.showwarning = previous


def _failed(exc, debug, internal=False):
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    text = str(exc) or type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        # Without the "[Errno 13]" prefix.
        text = exc.strerror if exc.filename is None else f"{exc.filename}: {exc.strerror}"
    if internal:
        text = f"{type(exc).__name__}: {text}"
        if not debug:
            text += " (run again with --debug for the traceback)"
    _error(text)


# --- demo --------------------------------------------------------------------------------------


class _Recorder:
    """A fit callback: keeps each epoch's samples/s and drives the progress bar."""

    def __init__(self, bar=None, stop=None):
        self.bar = bar
        self.stop = stop
        self.rates = []
        self.epochs_seen = 0

    def __call__(self, epoch, logs):
        self.epochs_seen = epoch
        rate = logs.get("samples_per_s")
        if rate is not None:
            self.rates.append(float(rate))
        if self.bar is not None:
            self.bar(epoch, logs)
        return bool(self.stop and self.stop.requested)

    def steady_rate(self):
        """Median samples/s, the first epoch (which compiles) left out when there are others."""
        rates = self.rates[1:] if len(self.rates) > 1 else self.rates
        return float(np.median(rates)) if rates else float("nan")


def run_demo(args):
    from . import fit

    out = sys.stdout
    X, y = datasets.load_digits()
    X_train, X_test, y_train, y_test = datasets.train_test_split(
        X, y, test_fraction=0.25, seed=args.seed
    )
    sizes = "-".join(str(s) for s in (X.shape[1], *DEMO_HIDDEN, 10))
    if not args.quiet:
        _say(f"digits: {X_train.shape[0]} training and {X_test.shape[0]} held-out samples, "
             f"network {sizes}, cross-entropy loss", stream=out)
    rows, networks = [], {}
    for mode, batch_size, lr, epochs in DEMO_RUNS:
        epochs = max(1, round(epochs * args.epochs_scale))
        label = mode if batch_size is None or mode == "sgd" else f"{mode} (batch {batch_size})"
        bar = None if args.quiet else ProgressBar(epochs)
        rec = _Recorder(bar)
        try:
            net = fit(
                X_train, y_train, hidden=DEMO_HIDDEN, classify=True, mode=mode,
                batch_size=batch_size or 1, lr=lr, epochs=epochs, loss="bce", seed=args.seed,
                validation_data=(X_test, y_test), callback=rec,
            )
        finally:
            if bar is not None:
                bar.close()
        networks[label] = net
        rows.append((label, len(net.history), net.history[-1],
                     datasets.accuracy(y_test, net.predict_classes(X_test)), rec.steady_rate()))
    if not args.quiet:
        _say(f"\n{'mode':<22}{'epochs':>6}  {'final loss':>10}  {'held-out acc':>12}  "
             f"{'samples/s':>12}", stream=out)
        for label, epochs, loss, acc, rate in rows:
            _say(f"{label:<22}{epochs:>6}  {loss:10.5f}  {acc:12.2%}  {rate:12,.0f}", stream=out)
    if args.plot.lower() != "none":
        _demo_plot(networks, args.plot, args.quiet)
    return EXIT_OK


def _demo_plot(networks, path, quiet):
    """One PNG comparing the modes: loss per epoch (training and held-out) and held-out accuracy.

    ``plot_history`` draws one network; the demo's point is the comparison, so
    it draws all three on shared axes, epochs on a log scale (10 to 200).
    """
    try:
        from matplotlib.figure import Figure
    except ImportError:
        _say(f"{PROG}: no loss-curve PNG: matplotlib is not installed "
             "(pip install 'fastprop[plot]')", stream=sys.stderr)
        return
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax_loss, ax_acc = fig.subplots(1, 2)
    for (label, net), color in zip(networks.items(), ("C0", "C1", "C2"), strict=False):
        epochs = np.arange(1, len(net.history) + 1)
        ax_loss.plot(epochs, net.history, color=color, label=f"{label}, training")
        for ax, key, style in ((ax_loss, "val_loss", "--"), (ax_acc, "val_accuracy", "-")):
            values = np.asarray(net.metrics.get(key, []), dtype=float)
            if values.size == epochs.size:
                seen = np.isfinite(values)
                name = f"{label}, held-out" if ax is ax_loss else label
                ax.plot(epochs[seen], values[seen], style, color=color, label=name,
                        marker="o" if seen.sum() < 3 else None)
    ax_loss.set(xscale="log", xlabel="epoch", ylabel="cross-entropy loss",
                title="Loss per epoch")
    ax_acc.set(xscale="log", xlabel="epoch", ylabel="accuracy", ylim=(0, 1.02),
               title="Held-out accuracy")
    ax_loss.legend(fontsize="small")
    ax_acc.legend(fontsize="small", loc="lower right")
    fig.suptitle("fastprop demo: 64-32-10 on the bundled digits")
    fig.savefig(path, dpi=100)
    if not quiet:
        _say(f"loss curves: {path}")


# --- train -------------------------------------------------------------------------------------


class _StopRequest:
    """SIGINT handler for training: Ctrl-C stops fit after the current epoch.

    With a callback (``polled=True``) the first Ctrl-C only sets ``requested``
    and the callback asks fit to stop once the epoch ends; a second one raises
    KeyboardInterrupt at once. Without a callback (fit's fast path, many
    epochs per compiled call) the first Ctrl-C raises KeyboardInterrupt, which
    fit turns into a clean stop as soon as the compiled call returns. Either
    way the network keeps its weights (the best ones with patience).
    """

    def __init__(self, polled):
        self.polled = polled
        self.requested = False
        self.previous = None

    def __enter__(self):
        self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc):
        signal.signal(signal.SIGINT, self.previous)
        return False

    def _handle(self, signum, frame):
        first = not self.requested
        self.requested = True
        if first and self.polled:
            _say(f"\n{PROG}: stopping after this epoch (Ctrl-C again to stop at once)",
                 stream=sys.stderr)
            return
        raise KeyboardInterrupt


# A progress bar needs a callback, and a callback makes fit run one compiled
# call per epoch, which costs ~0.1 ms of Python per epoch. Below this many
# rows x parameters an epoch is shorter than that: the fit runs on the fast
# path without a bar (it is over in moments anyway).
BAR_MIN_WORK = 250_000


def _n_params(n_inputs, hidden, n_outputs):
    sizes = (n_inputs, *hidden, n_outputs)
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=True))


def _training_targets(table, classify, source):
    """(Y for fit, classify) from the table and --classify/--regress."""
    names = ", ".join(repr(n) for n in table.target_names)
    if classify is None:
        classify = table.target_kind in ("int", "str") and len(table.target_names) == 1
    if classify:
        if table.Y.ndim == 2 and table.Y.shape[1] != 1:
            raise UsageError(
                f"--classify needs one target column; {source} gives {table.Y.shape[1]} ({names})"
            )
        return table.Y.reshape(-1), True
    if table.target_kind == "str":
        raise UsageError(
            f"target column {names} of {source} holds text; it can only be class labels "
            "(leave out --regress)"
        )
    return table.Y.astype(np.float64).reshape(table.X.shape[0], -1), False


def run_train(args):
    from . import fit

    table = read_table(args.data, target=parse_columns(args.target), need_target=True,
                       x_name=args.x_name, y_name=args.y_name)
    Y, classify = _training_targets(table, args.classify, args.data)
    loss = args.loss or ("bce" if classify else "mse")
    out_dir = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(out_dir):
        raise UsageError(f"--out {args.out}: directory {out_dir} does not exist")
    if args.plot is not None:
        _check_plotting()
    # Validation or patience make fit measure after every epoch anyway: the bar is free.
    per_epoch = args.validation_split is not None or args.patience is not None
    if classify:
        n_classes = np.unique(Y).size
        n_outputs = 1 if n_classes == 2 else n_classes
    else:
        n_outputs = Y.shape[1]
    work = table.X.shape[0] * _n_params(table.X.shape[1], args.hidden, n_outputs)
    bar = None if args.quiet else ProgressBar(args.epochs)
    if bar is not None and not (per_epoch or work >= BAR_MIN_WORK):
        bar.enabled = False
    polled = per_epoch or (bar is not None and bar.enabled)
    with _StopRequest(polled) as stop, warnings.catch_warnings():
        # fit's own notice of a Ctrl-C; ours below says where the model went.
        warnings.filterwarnings("ignore", "training interrupted", UserWarning)
        rec = _Recorder(bar, stop)
        try:
            net = fit(
                table.X, Y, hidden=args.hidden, mode=args.mode, batch_size=args.batch_size,
                lr=args.lr, epochs=args.epochs, tol=args.tol, loss=loss, seed=args.seed,
                dtype=args.dtype, classify=classify,
                scale=None if args.scale == "none" else args.scale,
                validation_split=args.validation_split, patience=args.patience,
                callback=rec if polled else None,
            )
        except KeyboardInterrupt:
            _error("interrupted before training began; nothing was saved")
            return EXIT_INTERRUPTED
        finally:
            if bar is not None:
                bar.close()
        interrupted = stop.requested
    if interrupted and not net.history:
        # Nothing was learned: do not replace a model that may already be at --out.
        _error("interrupted before the first epoch finished; nothing was saved")
        return EXIT_INTERRUPTED
    net.save(args.out)
    if interrupted:
        _say(f"{PROG}: interrupted after {len(net.history)} epochs; the model "
             f"({'best' if args.patience else 'last'} weights) is saved in {args.out}",
             stream=sys.stderr)
    elif not args.quiet:
        _summary(net, table, classify, args)
    if args.plot is not None:
        from .plot import plot_history

        plot_history(net, args.plot)
        if not args.quiet:
            _say(f"loss curves: {args.plot}")
    return EXIT_INTERRUPTED if interrupted else EXIT_OK


def _check_plotting():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError(
            "--plot needs matplotlib, which is not installed: pip install 'fastprop[plot]'"
        ) from None


def _last(values):
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return finite[-1] if finite else None


def _summary(net, table, classify, args):
    sizes = "-".join(str(s) for s in net.layer_sizes)
    what = (f"classifier over {len(net.classes)} classes" if classify
            else f"regression of {len(table.target_names)} target(s)")
    targets = ", ".join(table.target_names)
    rows = f"{table.X.shape[0]} rows of {args.data}"
    if args.validation_split:
        held = int(round(table.X.shape[0] * args.validation_split))
        rows += f" ({held} held out for validation)"
    _say(f"trained {sizes} ({what}: {targets}) on {rows}")
    parts = [f"epochs {len(net.history)}", f"loss {net.history[-1]:.5g}"]
    for key, label, pct in (("val_loss", "val loss", False), ("accuracy", "accuracy", True),
                            ("val_accuracy", "val accuracy", True)):
        value = _last(net.metrics.get(key, []))
        if value is not None:
            parts.append(f"{label} {value:.2%}" if pct else f"{label} {value:.5g}")
    _say("  ".join(parts))
    _say(f"saved {args.out}")


# --- predict -----------------------------------------------------------------------------------


def _load_model(path):
    from . import load

    try:
        return load(path)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, not a model file") from None


def run_predict(args):
    net = _load_model(args.model)
    table = read_table(args.data, target=parse_columns(args.target), need_target=False,
                       x_name=args.x_name, y_name=args.y_name, n_features=net.n_inputs)
    X = table.X.astype(net.dtype)
    header, columns = [], []
    if net.classes is not None:
        header.append("prediction")
        columns.append([str(v) for v in net.predict_classes(X)])
        if args.proba:
            proba = net.predict_proba(X)
            for k, label in enumerate(net.classes):
                header.append(f"p_{label}")
                columns.append([_number(v) for v in proba[:, k]])
    else:
        if args.proba:
            raise UsageError("--proba needs a classifier; this model does regression")
        out = net.predict(X)
        names = ["prediction"] if out.shape[1] == 1 else [
            f"prediction_{k}" for k in range(out.shape[1])
        ]
        header.extend(names)
        columns.extend([_number(v) for v in out[:, k]] for k in range(out.shape[1]))
    _write_csv(args.out, header, columns)
    if table.Y is not None and not args.quiet:
        _score(net, X, table, args)
    return EXIT_OK


def _number(v):
    """Shortest text that reads back as the same float32 or float64."""
    return str(v.item() if isinstance(v, np.float64) else v)


def _write_csv(path, header, columns):
    import csv

    rows = zip(*columns, strict=True)
    if path == "-":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        return
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)
        os.replace(tmp, path)
    except OSError as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise DataError(f"cannot write {path}: {exc.strerror or exc}") from None


def _score(net, X, table, args):
    if net.classes is not None:
        y = table.Y.reshape(-1)
        if y.dtype.kind != net.classes.dtype.kind and not (
            y.dtype.kind in "iuf" and net.classes.dtype.kind in "iufb"
        ):
            return
        acc = float(np.mean(net.predict_classes(X) == y.astype(net.classes.dtype)))
        _say(f"accuracy {acc:.2%} on {len(y)} rows", stream=sys.stderr)
    elif table.target_kind != "str" and table.Y.size == X.shape[0] * net.n_outputs:
        err = net.predict(X).astype(np.float64) - table.Y.reshape(X.shape[0], -1)
        _say(f"mean squared error {float(np.mean(err**2)):.5g} on {X.shape[0]} rows",
             stream=sys.stderr)


# --- info --------------------------------------------------------------------------------------


def run_info(args):
    net = _load_model(args.model)
    sizes = "-".join(str(s) for s in net.layer_sizes)
    lines = [
        f"model        {args.model}",
        f"layers       {sizes} ({net.params.size:,} parameters), {net.dtype.name}",
        f"epochs       {len(net.history)}",
    ]
    if net.history:
        lines.append(f"final loss   {net.history[-1]:.6g}")
    for key, label, pct in (("val_loss", "val loss", False), ("accuracy", "accuracy", True),
                            ("val_accuracy", "val acc", True)):
        value = _last(net.metrics.get(key, []))
        if value is not None:
            lines.append(f"{label:<13}{value:.2%}" if pct else f"{label:<13}{value:.6g}")
    if net.scaler is None:
        lines.append("scaler       none")
    else:
        lines.append(f"scaler       {net.scaler.kind} ({net.scaler.n_features} features)")
    if net.classes is None:
        lines.append("task         regression (no classes)")
    else:
        shown = ", ".join(str(c) for c in net.classes[:20])
        more = f", ... ({len(net.classes)} in all)" if len(net.classes) > 20 else ""
        lines.append(f"classes      {shown}{more}")
    _say("\n".join(lines))
    return EXIT_OK
