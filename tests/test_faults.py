"""Faults: processes killed while saving or training, and hostile model files.

``test_io.py`` covers single bit flips, truncation, lying headers and failed
saves through monkeypatched calls. Here:

- real signals: ``tests/kill_zygote.py`` forks children that save two models
  in turn, or run ``fastprop train`` over an existing model, and SIGKILLs or
  SIGINTs them at random moments; afterwards the file must load and be the
  old or a new complete model. Kills run and models lost go to the run's
  summary. CI: 200 + 100 kills during saves, 40 + 40 during train; the long
  profile ten times more;
- files that try to run code (pickles in every place a pickle could hide):
  a payload that would create a marker file, which must never appear;
- zip bombs: memory stays bounded (peak RSS measured in a child process);
- real write failures: a file-size limit (EFBIG, like a full disk) and a
  directory the process may not write into (EACCES): a clear OSError, the
  old file intact, no temporary file left.
"""

import io
import os
import pickle
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import fastprop
from conftest import LONG, REPORT
from fastprop import Network, cli

HERE = Path(__file__).parent
SCALE = 10 if LONG else 1


def run_zygote(tmp_path, what, sig, rounds):
    env = dict(os.environ, NUMBA_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, str(HERE / "kill_zygote.py"), what, "--signal", sig, "--rounds",
         str(rounds), "--dir", str(tmp_path)],
        capture_output=True, text=True, timeout=1800, env=env,
    )
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    assert proc.returncode == 0, f"{proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert summary.startswith(f"kills: {what} SIG{sig} {rounds} run, 0 models lost"), summary
    REPORT.append(summary)
    return summary


@pytest.mark.processes
@pytest.mark.parametrize(("sig", "rounds"), [("KILL", 200), ("INT", 100)])
def test_killed_save_leaves_the_old_or_the_new_model(tmp_path, sig, rounds):
    run_zygote(tmp_path, "save", sig, rounds * SCALE)


@pytest.mark.processes
@pytest.mark.parametrize("sig", ["KILL", "INT"])
def test_killed_train_leaves_a_complete_model(tmp_path, sig):
    run_zygote(tmp_path, "train", sig, 40 * SCALE)


def test_ctrl_c_before_the_first_epoch_keeps_the_old_model(tmp_path, monkeypatch, capsys):
    """Used to save the untrained network over the model already at --out."""
    rng = np.random.default_rng(0)
    data = tmp_path / "d.csv"
    rows = rng.random((30, 3))
    data.write_text("a,b,y\n" + "".join(f"{a:.4f},{b:.4f},{y:.4f}\n" for a, b, y in rows))
    out = tmp_path / "model.npz"
    old = Network((2, 4, 1), seed=9)
    old.history = [0.5]
    old.save(out)
    before = out.read_bytes()

    def interrupted_run(self, epochs, tol):
        os.kill(os.getpid(), signal.SIGINT)  # lands in fastprop train's handler
        raise AssertionError("the SIGINT handler should have raised KeyboardInterrupt")

    monkeypatch.setattr(fastprop.Trainer, "_run", interrupted_run)
    code = cli.main(["train", str(data), "--out", str(out), "--hidden", "4", "--quiet"])
    assert code == cli.EXIT_INTERRUPTED
    assert "interrupted before the first epoch finished; nothing was saved" in (
        capsys.readouterr().err
    )
    assert out.read_bytes() == before


# --- files that try to run code ------------------------------------------------------------------


class Payload:
    """Unpickling this creates ``marker``: the proof that a pickle was executed."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def npy_bytes(value, allow_pickle=False):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, value, allow_pickle=allow_pickle)
    return buf.getvalue()


def saved_entries(tmp_path):
    net = Network((3, 2, 1), seed=0)
    path = tmp_path / "good.npz"
    net.save(path)
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def hostile_files(tmp_path, marker):
    """name -> bytes of a file that carries the payload somewhere."""
    entries = saved_entries(tmp_path)
    evil = np.empty(1, dtype=object)
    evil[0] = Payload(marker)
    evil_npy = npy_bytes(evil, allow_pickle=True)
    files = {"raw-pickle": pickle.dumps(Payload(marker))}
    for member in ("format.npy", "W_0.npy", "classes.npy", "history.npy"):
        members = dict(entries)
        members[member] = evil_npy
        files[f"object-array-as-{member}"] = zip_bytes(members)
    files["extra-pickle-member"] = zip_bytes({**entries, "evil.pkl": pickle.dumps(Payload(marker))})
    files["extra-object-npy"] = zip_bytes({**entries, "evil.npy": evil_npy})
    # An object array whose header claims a float dtype, pickle bytes after it.
    header = npy_bytes(np.zeros((3, 2)))[:128]
    files["pickle-behind-float-header"] = zip_bytes(
        {**entries, "W_0.npy": header + pickle.dumps(Payload(marker))}
    )
    files["npy-object-file"] = evil_npy
    return files


def zip_bytes(members, compression=zipfile.ZIP_STORED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_no_pickle_is_ever_executed(tmp_path):
    marker = tmp_path / "pwned"
    files = hostile_files(tmp_path, marker)
    for name, data in files.items():
        path = tmp_path / f"{name}.npz"
        path.write_bytes(data)
        with pytest.raises(ValueError, match="cannot load"):
            fastprop.load(path)
        assert not marker.exists(), f"{name}: the payload ran"
    # The payload is live: unpickling it the way np.load(allow_pickle=True) would does run it.
    pickle.loads(files["raw-pickle"])
    assert marker.exists()
    REPORT.append(f"hostile files: {len(files)} pickle carriers rejected, no payload ran")


# --- zip bombs ------------------------------------------------------------------------------------

BOMB_CHILD = """
import resource, sys, fastprop
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    fastprop.load(sys.argv[1])
    outcome = "loaded"
except ValueError as exc:
    outcome = "ValueError: " + str(exc)[:200]
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print((after - before) // 1024, outcome)
"""


def bomb_files(tmp_path):
    """Deflated members that expand ~1000-fold: behind a small header, and as extra members."""
    entries = saved_entries(tmp_path)
    zeros = b"\0" * (128 * 2**20)  # 128 MB that deflate to ~125 kB
    trailing = dict(entries)
    trailing["W_0.npy"] = entries["W_0.npy"] + zeros
    extra = {**entries, "bomb.npy": npy_bytes(np.zeros(0))[:128] + zeros}
    return {
        "bytes-behind-a-small-header": zip_bytes(trailing, zipfile.ZIP_DEFLATED),
        "extra-member": zip_bytes(extra, zipfile.ZIP_DEFLATED),
    }


@pytest.mark.processes
def test_zip_bombs_are_refused_in_bounded_memory(tmp_path):
    for name, data in bomb_files(tmp_path).items():
        path = tmp_path / f"{name}.npz"
        path.write_bytes(data)
        assert len(data) < 2**20  # a small file...
        proc = subprocess.run([sys.executable, "-c", BOMB_CHILD, str(path)],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        grown_mb, outcome = proc.stdout.strip().split(" ", 1)
        assert outcome.startswith("ValueError: cannot load"), outcome
        # ...that would expand to 128 MB: the loader must not inflate it.
        assert int(grown_mb) < 32, (name, grown_mb)
        REPORT.append(f"zip bomb {name}: {len(data) // 1024} kB file, peak RSS "
                      f"+{grown_mb} MB while refusing it")


# --- real write failures ------------------------------------------------------------------------

FULL_CHILD = """
import os, resource, signal, sys
import numpy as np
import fastprop
path = sys.argv[1]
small = fastprop.Network((2, 1), seed=0)
small.save(path)
before = open(path, "rb").read()
# A file-size limit below the new model's size: the write fails with EFBIG as on a full
# disk (the signal that would kill the process is ignored, as a disk-full write is not).
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (len(before) + 4096, resource.RLIM_INFINITY))
try:
    fastprop.Network((100, 100, 1), seed=1).save(path)
    print("saved?!")
except OSError as exc:
    print("OSError", exc)
print("intact" if open(path, "rb").read() == before else "CHANGED")
print(sorted(os.listdir(os.path.dirname(path))))
"""


@pytest.mark.processes
def test_write_failure_mid_save_keeps_the_old_file(tmp_path):
    """A real failing write (file-size limit, like a full disk), not a monkeypatched one."""
    proc = subprocess.run([sys.executable, "-c", FULL_CHILD, str(tmp_path / "net.npz")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    error, intact, listing = proc.stdout.strip().splitlines()[-3:]
    assert error.startswith("OSError") and "cannot save the network to" in error, error
    assert "File too large" in error and "an existing file there is unchanged" in error
    assert intact == "intact"
    assert listing == "['net.npz']"  # the temporary file was removed


DENIED_CHILD = """
import os, sys
import fastprop
path = sys.argv[1]
if os.geteuid() == 0:
    os.setgid(65534)  # root ignores permissions: become nobody, who may not write here
    os.setuid(65534)
else:
    os.chmod(os.path.dirname(path), 0o500)
try:
    fastprop.Network((3, 1), seed=1).save(path)
    print("saved?!")
except PermissionError as exc:
    print("PermissionError", exc)
"""


@pytest.mark.processes
def test_permission_denied_keeps_the_old_file(tmp_path):
    """A real EACCES: a directory the saving process may not write into."""
    path = tmp_path / "net.npz"
    Network((2, 1), seed=0).save(path)
    before = path.read_bytes()
    tmp_path.chmod(0o755)
    try:
        proc = subprocess.run([sys.executable, "-c", DENIED_CHILD, str(path)],
                              capture_output=True, text=True, timeout=300)
    finally:
        tmp_path.chmod(0o700)
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = proc.stdout.strip().splitlines()[-1]
    assert line.startswith("PermissionError") and "cannot save the network to" in line, line
    assert "Permission denied" in line and "unchanged" in line
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["net.npz"]
