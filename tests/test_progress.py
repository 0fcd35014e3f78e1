"""``fastprop.progress``: the live progress line (drawn on terminals only, throttled)."""

import io
import os

import pytest

from fastprop.progress import ProgressBar, format_seconds


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class TTY(io.StringIO):
    def isatty(self):
        return True


LOGS = {"loss": 0.123456, "val_loss": 0.2, "samples_per_s": 12345.6, "epochs": 10}


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0:00"), (59.6, "1:00"), (61, "1:01"), (3725, "1:02:05"), (None, "?"),
     (float("nan"), "?"), (float("inf"), "?"), (-1, "?")],
)
def test_format_seconds(seconds, text):
    assert format_seconds(seconds) == text


def test_render_has_epoch_losses_rate_and_eta():
    clock = FakeClock()
    bar = ProgressBar(10, stream=TTY(), clock=clock)
    clock.now = 2.0
    bar(1, LOGS)
    line = bar.render(1, LOGS, 10)
    # 9 epochs left at 2 s each
    assert line == (
        "epoch  1/10 [##..................] ETA 0:18  loss 0.1235  val 0.2  12,346 samples/s"
    )


def test_render_without_total_or_validation():
    bar = ProgressBar(stream=TTY())
    line = bar.render(3, {"loss": 0.5})
    assert line == "epoch 3  loss 0.5"


def test_render_skips_nan_validation_and_shows_accuracy():
    bar = ProgressBar(stream=TTY())
    line = bar.render(2, {"loss": 0.5, "val_loss": float("nan"), "val_accuracy": 0.875}, 4)
    assert "val " not in line.replace("val acc", "")
    assert "val acc 87.5%" in line


def test_draws_on_a_terminal_throttled_and_always_the_last_epoch():
    clock, out = FakeClock(), TTY()
    bar = ProgressBar(10, stream=out, clock=clock, min_interval=0.1)
    for epoch in range(1, 11):
        clock.now += 0.03  # 30 ms per epoch: draws at epochs 1, 5 and 9, and the last one
        bar(epoch, LOGS)
    text = out.getvalue()
    assert text.count("\r") == 4
    assert "epoch  5/10" in text and "epoch  9/10" in text and "epoch 10/10" in text
    assert "epoch  2/10" not in text
    bar.close()
    assert out.getvalue().endswith("\n")


def test_a_shorter_line_erases_the_longer_one():
    clock, out = FakeClock(), TTY()
    bar = ProgressBar(stream=out, clock=clock, min_interval=0)
    bar(1, {"loss": 0.5, "samples_per_s": 1e6})
    first = out.getvalue()
    bar(2, {"loss": 0.5})
    second = out.getvalue()[len(first):]
    assert len(second) == len(first)


def test_silent_when_not_a_terminal():
    out = io.StringIO()
    bar = ProgressBar(10, stream=out)
    assert not bar.enabled
    for epoch in range(1, 11):
        assert bar(epoch, LOGS) is None
    bar.close()
    assert out.getvalue() == ""


def test_enabled_overrides_the_terminal_check():
    out = TTY()
    bar = ProgressBar(2, stream=out, enabled=False)
    bar(2, LOGS)
    assert out.getvalue() == ""
    out = io.StringIO()
    bar = ProgressBar(2, stream=out, enabled=True)
    bar(2, LOGS)
    assert "epoch 2/2" in out.getvalue()


def test_closed_stream_counts_as_no_terminal():
    with open(os.devnull, "w") as out:
        pass
    assert not ProgressBar(stream=out).enabled
