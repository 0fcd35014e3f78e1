"""The ``fastprop`` command line (``src/fastprop/cli.py``), end to end.

Each test writes its own data, runs the command as a user would and checks
the exit code, the output and the files written. ``run`` starts a subprocess
(``python -m fastprop ...``): the demo, one train/info/predict round, the
console script, Ctrl-C and two errors go through it. ``call`` runs the same
``main(argv)`` in this process, which saves an interpreter start and a
kernel load per case, for the many other cases. Errors must be one line on
stderr with no traceback (unless ``--debug``). The Ctrl-C test runs ``train``
with stderr on a pseudo-terminal, waits until the progress bar shows finished
epochs, sends SIGINT and checks that a loadable model was saved.
"""

import csv
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import fastprop
from fastprop import cli
from fastprop.cli import main

TIMEOUT = 300  # generous: the first fit in a fresh Numba cache compiles the kernels


def run(*args, cwd, check_code=0):
    proc = subprocess.run(
        [sys.executable, "-m", "fastprop", *map(str, args)], cwd=cwd, capture_output=True,
        text=True, timeout=TIMEOUT, env={**os.environ, "COLUMNS": "120"},
    )
    if check_code is not None:
        assert proc.returncode == check_code, (proc.returncode, proc.stdout, proc.stderr)
    return proc


@pytest.fixture
def call(capsys, monkeypatch):
    """``main(argv)`` in this process, in ``cwd``; the result looks like ``run``'s."""

    def call(*args, cwd, check_code=0):
        monkeypatch.chdir(cwd)
        args = [str(a) for a in args]
        code = main(args)
        out, err = capsys.readouterr()
        if check_code is not None:
            assert code == check_code, (code, out, err)
        return subprocess.CompletedProcess(args, code, out, err)

    return call


def assert_one_line_error(proc, pattern, code=2):
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    err = proc.stderr.strip()
    assert "\n" not in err, err
    assert "Traceback" not in err
    assert err.startswith("fastprop: error: "), err
    assert re.search(pattern, err), err


def write_csv(path, header, rows):
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def regression_csv(tmp_path):
    """y = 0.1 + 0.8 * u / 10 with u in [0, 10] and a noise feature in the thousands."""
    rng = np.random.default_rng(0)
    u, noise = rng.uniform(0, 10, 200), rng.uniform(1000, 5000, 200)
    y = 0.1 + 0.08 * u
    return write_csv(tmp_path / "reg.csv", ["u", "noise", "y"], zip(u, noise, y, strict=True))


@pytest.fixture
def labels_csv(tmp_path):
    """Three well separated clusters named by colour; the label is the first column."""
    rng = np.random.default_rng(1)
    centres = {"red": (0, 0), "green": (10, 0), "blue": (5, 9)}
    rows = []
    for i in range(150):
        name = list(centres)[i % 3]
        cx, cy = centres[name]
        rows.append((name, cx + rng.normal(0, 1.0), cy + rng.normal(0, 1.0)))
    return write_csv(tmp_path / "colours.csv", ["colour", "x", "y"], rows)


# --- demo ---------------------------------------------------------------------------------------


def test_demo_without_a_command_prints_the_table_and_writes_the_png(tmp_path):
    # No subcommand (only demo options) runs the demo, as `python -m fastprop` always did.
    proc = run("--quick", "--plot", "curves.png", cwd=tmp_path)
    out = proc.stdout
    assert "digits: 1348 training and 449 held-out samples, network 64-32-10" in out
    assert re.search(r"mode\s+epochs\s+final loss\s+held-out acc\s+samples/s", out)
    for label in ("sgd", r"minibatch \(batch 32\)", "batch"):
        assert re.search(rf"^{label}\s+\d+\s+[\d.]+\s+\d+\.\d\d%\s+[\d,]+$", out, re.M), out
    assert "loss curves: curves.png" in out
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_console_script_is_installed(tmp_path):
    script = Path(sys.executable).parent / "fastprop"
    proc = subprocess.run([str(script), "--version"], capture_output=True, text=True,
                          timeout=TIMEOUT, cwd=tmp_path)
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"fastprop {fastprop.__version__}"


# --- train, info, predict -----------------------------------------------------------------------


def test_train_info_predict_regression(tmp_path, regression_csv):
    proc = run("train", regression_csv, "--target", "y", "--hidden", "8", "--epochs", "150",
               "--lr", "1", "--validation-split", "0.2", "--out", "m.npz", cwd=tmp_path)
    lines = proc.stdout.splitlines()
    assert lines[0] == (f"trained 2-8-1 (regression of 1 target(s): y) on 200 rows of "
                        f"{regression_csv} (40 held out for validation)")
    assert re.match(r"epochs 150  loss \S+  val loss \S+$", lines[1])
    assert lines[2] == "saved m.npz"
    assert proc.stderr == ""  # not a terminal: no progress bar

    net = fastprop.load(tmp_path / "m.npz")
    assert net.layer_sizes == (2, 8, 1) and len(net.history) == 150
    assert net.scaler.kind == "minmax" and net.classes is None

    info = run("info", "m.npz", cwd=tmp_path).stdout
    assert re.search(r"^layers\s+2-8-1 \(33 parameters\), float64$", info, re.M)
    assert re.search(r"^epochs\s+150$", info, re.M)
    assert re.search(r"^scaler\s+minmax \(2 features\)$", info, re.M)
    assert re.search(r"^task\s+regression", info, re.M)
    assert re.search(r"^val loss\s+\S+$", info, re.M)

    proc = run("predict", "m.npz", regression_csv, "--target", "y", "--out", "pred.csv",
               cwd=tmp_path)
    assert proc.stdout == ""
    mse = float(re.fullmatch(r"mean squared error (\S+) on 200 rows\n", proc.stderr).group(1))
    with open(tmp_path / "pred.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["prediction"] and len(rows) == 201
    pred = np.array([float(r[0]) for r in rows[1:]])
    np.testing.assert_allclose(pred, net.predict(np.loadtxt(regression_csv, delimiter=",",
                               skiprows=1)[:, :2]).ravel(), rtol=1e-12)
    # The targets span 0.1..0.9 (variance 0.053): the fit explains most of it.
    assert mse < 0.01


def test_train_predict_text_labels(tmp_path, labels_csv, call):
    proc = call("train", labels_csv, "--target", "colour", "--hidden", "8", "--epochs", "60",
               "--lr", "1", "--validation-split", "0.2", "--patience", "10", "--plot", "c.png",
               "--out", "m.npz", cwd=tmp_path)
    assert "classifier over 3 classes: colour" in proc.stdout
    assert re.search(r"val accuracy \d+\.\d\d%", proc.stdout)
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    net = fastprop.load(tmp_path / "m.npz")
    assert net.classes.tolist() == ["blue", "green", "red"] and net.n_outputs == 3

    info = call("info", "m.npz", cwd=tmp_path).stdout
    assert re.search(r"^classes\s+blue, green, red$", info, re.M)

    # Predictions to stdout, the label column dropped by name; probabilities on request.
    proc = call("predict", "m.npz", labels_csv, "--target", "colour", "--proba", cwd=tmp_path)
    rows = list(csv.reader(proc.stdout.splitlines()))
    assert rows[0] == ["prediction", "p_blue", "p_green", "p_red"] and len(rows) == 151
    with open(labels_csv, newline="") as fh:
        truth = [r[0] for r in list(csv.reader(fh))[1:]]
    predicted = [r[0] for r in rows[1:]]
    assert np.mean(np.array(predicted) == np.array(truth)) > 0.9
    np.testing.assert_allclose([sum(map(float, r[1:])) for r in rows[1:]], 1.0, rtol=1e-9)
    acc = float(re.fullmatch(r"accuracy (\S+)% on 150 rows\n", proc.stderr).group(1))
    assert acc > 90

    # Only the features: exactly the model's inputs.
    features = write_csv(tmp_path / "new.csv", ["x", "y"], [(0.2, -0.1), (9.5, 0.3)])
    proc = call("predict", "m.npz", features, "--out", "p.csv", cwd=tmp_path)
    assert (tmp_path / "p.csv").read_text() == "prediction\nred\ngreen\n"
    assert proc.stderr == ""

    # The training file without --target has one column too many.
    proc = call("predict", "m.npz", labels_csv, cwd=tmp_path, check_code=None)
    assert_one_line_error(proc, r"gives 3 feature columns but the model takes 2 inputs; name "
                          r"the target columns to drop with --target")
    proc = call("predict", "m.npz", labels_csv, "--target", "colour", "--out", "nodir/p.csv",
                cwd=tmp_path, check_code=None)
    assert_one_line_error(proc, r"cannot write nodir/p\.csv: No such file or directory")


def test_train_npz_integer_labels_quiet(tmp_path, call):
    rng = np.random.default_rng(2)
    X = rng.uniform(0, 1, (60, 3))
    y = (X[:, 0] > 0.5).astype(np.int64)
    np.savez(tmp_path / "d.npz", X=X, Y=y)
    proc = call("train", "d.npz", "--epochs", "5", "--quiet", "--out", "m.npz", cwd=tmp_path)
    assert proc.stdout == "" and proc.stderr == ""
    net = fastprop.load(tmp_path / "m.npz")
    assert net.classes.tolist() == [0, 1] and net.n_outputs == 1
    proc = call("predict", "m.npz", "d.npz", "--quiet", cwd=tmp_path)
    assert proc.stdout.splitlines()[0] == "prediction"
    assert set(proc.stdout.splitlines()[1:]) <= {"0", "1"}


# --- errors -------------------------------------------------------------------------------------


@pytest.fixture
def bad_files(tmp_path):
    write_csv(tmp_path / "ok.csv", ["a", "b", "y"], [(1, 2, 0.5), (3, 4, 0.25)])
    (tmp_path / "text.csv").write_text("a,b,y\n1,2,0.5\n3,x7,0.25\n")
    (tmp_path / "ragged.csv").write_text("a,b,y\n1,2,0.5\n3,4\n")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "labels.csv").write_text("a,y\n1,cat\n2,dog\n")
    write_csv(tmp_path / "huge.csv", ["a", "b", "y"], [(1e200, -3e200, 0.5), (2e200, 1e200, 0.25)])
    return tmp_path


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (["train", "missing.csv"], r"missing\.csv: no such file"),
        (["train", "ok.csv", "--target", "nope"], r"unknown column 'nope' in --target; "
         r"columns are 'a', 'b', 'y'"),
        (["train", "text.csv"], r"text\.csv, row 2 \(line 3\): non-numeric value 'x7' in "
         r"column 'b'"),
        (["train", "ragged.csv"], r"ragged\.csv, row 2 \(line 3\): 2 fields, but the header "
         r"has 3"),
        (["train", "empty.csv"], r"empty\.csv: the file is empty"),
        (["train", "labels.csv", "--regress"], r"target column 'y' of labels\.csv holds text"),
        (["train", "ok.csv", "--target", "a,b", "--classify"],
         r"--classify needs one target column; ok\.csv gives 2 \('a', 'b'\)"),
        (["train", "labels.csv", "--classify", "--regress"],
         r"argument --regress: not allowed with argument --classify"),
        (["train", "ok.csv", "--mode", "fast"], r"argument --mode: invalid choice: 'fast'"),
        (["train", "ok.csv", "--hidden", "64,x"], r"argument --hidden: expected layer widths"),
        (["train", "ok.csv", "--epochs", "0"], r"argument --epochs: must be >= 1; got 0"),
        (["train", "ok.csv", "--validation-split", "1.5"],
         r"--validation-split: must lie strictly between 0 and 1"),
        (["train", "ok.csv", "--out", "nodir/m.npz"], r"--out nodir/m\.npz: directory .* "
         r"does not exist"),
        (["train"], r"the following arguments are required: DATA \(see fastprop train --help\)"),
        (["fly"], r"argument COMMAND: invalid choice: 'fly'"),
        (["info", "missing.npz"], r"missing\.npz: no such file"),
        (["info", "ok.csv"], r"cannot load 'ok\.csv': not a fastprop network"),
        (["predict", "ok.csv", "ok.csv"], r"cannot load 'ok\.csv'"),
    ],
    ids=lambda v: "-".join(v) if isinstance(v, list) else None,
)
def test_errors_are_one_line(bad_files, call, args, pattern):
    assert_one_line_error(call(*args, cwd=bad_files, check_code=None), pattern)


@pytest.mark.parametrize(
    ("args", "pattern"),
    [(["train", "missing.csv"], r"missing\.csv: no such file"),
     (["train", "ok.csv", "--mode", "fast"], r"argument --mode: invalid choice: 'fast'")],
    ids=["missing-file", "bad-option"],
)
def test_errors_in_a_subprocess(bad_files, args, pattern):
    assert_one_line_error(run(*args, cwd=bad_files, check_code=None), pattern)


def test_debug_shows_the_traceback(bad_files, call):
    proc = call("train", "text.csv", "--debug", cwd=bad_files, check_code=2)
    assert "Traceback (most recent call last)" in proc.stderr
    assert proc.stderr.rstrip().endswith("non-numeric value 'x7' in column 'b'")


def test_library_validation_message_reaches_the_user(bad_files, call):
    # --tol is passed through to fit, whose own check names the argument.
    proc = call("train", "ok.csv", "--tol", "-1", cwd=bad_files, check_code=None)
    assert_one_line_error(proc, r"tol must be a finite number >= 0 or None; got -1\.0")


def test_divergence_is_one_line_with_exit_code_1(bad_files, call):
    # Inputs and a learning rate whose product overflows float64 in the first update.
    proc = call("train", "huge.csv", "--lr", "1e200", "--hidden", "none", "--scale", "none",
               "--loss", "bce", "--epochs", "3", cwd=bad_files, check_code=None)
    assert_one_line_error(proc, r"training diverged in epoch \d+.*try a smaller lr", code=1)
    assert not (bad_files / "model.npz").exists()


# --- Ctrl-C -------------------------------------------------------------------------------------


def test_sigint_saves_a_loadable_model(tmp_path):
    pty = pytest.importorskip("pty")
    rng = np.random.default_rng(3)
    X = rng.uniform(0, 1, (2000, 8))
    y = 0.1 + 0.8 * X.mean(axis=1)
    write_csv(tmp_path / "big.csv", [f"x{j}" for j in range(8)] + ["y"],
              np.column_stack([X, y]).tolist())
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "fastprop", "train", "big.csv", "--mode", "sgd", "--epochs",
         "1000000", "--hidden", "32", "--out", "m.npz"],
        cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave,
        env={**os.environ, "COLUMNS": "200"},
    )
    os.close(slave)
    seen = b""
    try:
        # Wait until the progress bar shows two finished epochs: compilation is over
        # and training is under way.
        deadline = time.monotonic() + TIMEOUT
        while not re.search(rb"epoch +([2-9]|\d\d+)/1000000", seen):
            assert time.monotonic() < deadline, seen
            assert proc.poll() is None, (proc.returncode, seen)
            if select.select([master], [], [], 1.0)[0]:
                seen += os.read(master, 65536)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=TIMEOUT)
        while True:
            try:
                ready = select.select([master], [], [], 0.5)[0]
                if not ready:
                    break
                chunk = os.read(master, 65536)
            except OSError:  # EIO once the child's side is closed
                break
            if not chunk:
                break
            seen += chunk
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    err = seen.decode()
    assert proc.returncode == 130, (proc.returncode, out, err)
    assert "stopping after this epoch" in err
    assert re.search(r"interrupted after \d+ epochs; the model \(last weights\) is saved in "
                     r"m\.npz", err), err
    assert "Traceback" not in err
    net = fastprop.load(tmp_path / "m.npz")
    assert 2 <= len(net.history) < 1000000
    assert net.layer_sizes == (8, 32, 1)


def test_stop_request_polled_then_at_once(capsys):
    # What was there before (Python's default, or SIG_IGN in a background job) comes back.
    before = signal.getsignal(signal.SIGINT)
    with cli._StopRequest(polled=True) as stop:
        stop._handle(signal.SIGINT, None)  # the first Ctrl-C only asks
        assert stop.requested
        assert "stopping after this epoch (Ctrl-C again to stop at once)" in capsys.readouterr().err
        with pytest.raises(KeyboardInterrupt):
            stop._handle(signal.SIGINT, None)
    with cli._StopRequest(polled=False) as stop:  # fit's fast path: interrupt it at once
        with pytest.raises(KeyboardInterrupt):
            stop._handle(signal.SIGINT, None)
        assert stop.requested
    assert signal.getsignal(signal.SIGINT) is before


@pytest.mark.parametrize(
    ("extra", "polled"),
    [([], False), (["--validation-split", "0.5"], True), (["--patience", "3"], True)],
)
def test_tiny_fits_keep_the_fast_path(bad_files, call, monkeypatch, extra, polled):
    # A callback costs fit its many-epochs-per-call path: only when it measures anyway
    # (validation, patience) or when a visible bar is worth it (not here: no terminal).
    seen = {}
    real_fit = fastprop.fit

    def spy(*args, **kwargs):
        seen["callback"] = kwargs["callback"]
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(fastprop, "fit", spy)
    call("train", "ok.csv", "--epochs", "3", "--quiet", *extra, cwd=bad_files)
    assert (seen["callback"] is not None) == polled
    assert len(fastprop.load(bad_files / "model.npz").history) == 3


def test_without_matplotlib_the_demo_says_how_to_get_the_png(tmp_path, monkeypatch, capsys):
    # A plain `pip install .` has no matplotlib: the demo still prints its table
    # (run_demo plots last) and then says how to get the PNG, without failing.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    cli._demo_plot({}, tmp_path / "demo.png", quiet=False)
    out, err = capsys.readouterr()
    assert out == ""
    assert err == ("fastprop: no loss-curve PNG: matplotlib is not installed "
                   "(pip install 'fastprop[plot]')\n")
    assert not (tmp_path / "demo.png").exists()


def test_without_matplotlib_train_plot_is_refused_before_training(bad_files, call, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    proc = call("train", "ok.csv", "--plot", "c.png", cwd=bad_files, check_code=None)
    assert_one_line_error(proc, r"--plot needs matplotlib, which is not installed: pip install "
                          r"'fastprop\[plot\]'")
    assert not (bad_files / "model.npz").exists()


def test_proba_needs_a_classifier(bad_files, call):
    call("train", "ok.csv", "--epochs", "1", "--quiet", cwd=bad_files)
    proc = call("predict", "model.npz", "ok.csv", "--target", "y", "--proba", cwd=bad_files,
                check_code=None)
    assert_one_line_error(proc, r"--proba needs a classifier; this model does regression")
