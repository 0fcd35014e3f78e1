"""A live one-line progress bar for long fits, used as a ``fit`` callback.

``ProgressBar(epochs)`` is a callable ``(epoch, logs) -> None``: hand it to
``fastprop.fit(..., callback=bar)`` and call ``bar.close()`` afterwards. It
redraws one line on stderr with the epoch, the training and validation loss,
samples per second and the estimated time left:

    epoch  40/200 [####................] ETA 0:12  loss 0.04123  val 0.05012  81,234 samples/s

It draws only on a terminal (``stream.isatty()``), so logs and pipes stay
clean, and at most every ``min_interval`` seconds, so a fit of thousands of
tiny epochs pays one clock read per epoch and no output.
"""

import math
import shutil
import sys
import time

__all__ = ["ProgressBar", "format_seconds"]


def format_seconds(seconds):
    """``m:ss`` or ``h:mm:ss``; ``?`` for an unknown or absurd duration."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0 or seconds > 360000:
        return "?"
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _is_terminal(stream):
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class ProgressBar:
    """Redraws one status line per call, throttled, on a terminal only.

    Parameters
    ----------
    epochs : int, optional
        The number of epochs requested; default ``logs["epochs"]``.
    stream : file-like, default sys.stderr
    enabled : bool, optional
        Force drawing on or off; default: only when ``stream`` is a terminal.
    min_interval : float
        Seconds between redraws; the last epoch is always drawn.
    clock : callable
        Returns seconds (``time.monotonic``); replaceable in tests.
    """

    BAR_WIDTH = 20

    def __init__(self, epochs=None, *, stream=None, enabled=None, min_interval=0.1,
                 clock=time.monotonic):
        self.stream = sys.stderr if stream is None else stream
        self.enabled = _is_terminal(self.stream) if enabled is None else bool(enabled)
        self.epochs = epochs
        self.min_interval = min_interval
        self.clock = clock
        self.start = clock()
        self.last_time = self.start
        self.last_draw = None
        self.seconds_per_epoch = None
        self.width = 0
        self.drawn = False

    def __call__(self, epoch, logs):
        now = self.clock()
        # A moving average of wall time per epoch (fit's own work between
        # epochs included) gives the ETA; the first epoch, which includes
        # compilation, is soon outweighed.
        dt = now - self.last_time
        self.last_time = now
        if self.seconds_per_epoch is None:
            self.seconds_per_epoch = dt
        else:
            self.seconds_per_epoch += 0.2 * (dt - self.seconds_per_epoch)
        if not self.enabled:
            return None
        total = self.epochs or logs.get("epochs")
        last = total is not None and epoch >= total
        if not last and self.last_draw is not None and now - self.last_draw < self.min_interval:
            return None
        self.last_draw = now
        self._write(self.render(epoch, logs, total))
        return None

    def render(self, epoch, logs, total=None):
        """The status line for ``epoch`` (1-based) with ``logs`` from ``fit``.

        The most useful figures come first, so a narrow terminal cuts the least.
        """
        parts = []
        if total:
            done = min(1.0, epoch / total)
            filled = int(done * self.BAR_WIDTH)
            bar = "#" * filled + "." * (self.BAR_WIDTH - filled)
            left = max(0, total - epoch)
            eta = format_seconds(left * (self.seconds_per_epoch or 0.0))
            parts.append(f"epoch {epoch:>{len(str(total))}}/{total} [{bar}] ETA {eta}")
        else:
            parts.append(f"epoch {epoch}")
        for key, label in (("loss", "loss"), ("val_loss", "val"), ("val_accuracy", "val acc")):
            value = logs.get(key)
            if value is not None and math.isfinite(value):
                parts.append(f"{label} {value:.1%}" if key.endswith("accuracy") else
                             f"{label} {value:.4g}")
        rate = logs.get("samples_per_s")
        if rate is not None and math.isfinite(rate):
            parts.append(f"{rate:,.0f} samples/s")
        return "  ".join(parts)

    def _write(self, line):
        columns = shutil.get_terminal_size((100, 24)).columns
        line = line[: max(10, columns - 1)]
        pad = " " * max(0, self.width - len(line))
        self.width = len(line)
        self.stream.write("\r" + line + pad)
        self.stream.flush()
        self.drawn = True

    def close(self):
        """End the status line so later output starts on a fresh one."""
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False
