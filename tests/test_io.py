"""``Network.save`` and ``fastprop.load`` (``src/fastprop/io.py``).

Exact round trip for every dtype and shape with history, metrics, scaler and
classes; the documented layout; truncated, bit-flipped, foreign,
wrong-version, pickle-holding and inconsistent files rejected with a
ValueError that names the problem; an interrupted or failing save leaves
the old file intact.
"""

import errno
import io
import os
import pathlib
import zipfile

import numpy as np
import pytest

import fastprop
from fastprop import Network, Scaler

ARCHS = {
    "no-hidden-4-3": (4, 3),
    "single-units-1-1-1": (1, 1, 1),
    "one-hidden-3-5-2": (3, 5, 2),
    "deep-narrow-3-2-2-2-1": (3, 2, 2, 2, 1),
}
ARCH_PARAMS = [pytest.param(s, id=k) for k, s in ARCHS.items()]


def trained_like(sizes, dtype, *, classes=None, scaler="standard", epochs=3):
    """A network with every optional part filled in, as a fit would leave it."""
    net = Network(sizes, seed=1, dtype=dtype)
    rng = np.random.default_rng(2)
    # Values from the whole float range, so a lossy cast would show.
    exponents = rng.integers(-30, 30, net.params.size)
    net.params[:] = (rng.standard_normal(net.params.size) * 10.0**exponents).astype(dtype)
    net.history = rng.random(epochs).tolist()
    net.metrics = {"val_loss": rng.random(epochs).tolist(), "accuracy": [np.nan] * epochs}
    if scaler is not None:
        net.scaler = Scaler.fit(rng.random((7, sizes[0])) * 100, scaler)
    net.classes = classes
    return net


def assert_same(a, b):
    assert a.layer_sizes == b.layer_sizes
    assert a.dtype == b.dtype
    assert a.params.dtype == b.params.dtype
    np.testing.assert_array_equal(a.params, b.params)
    assert a.history == b.history
    assert a.metrics.keys() == b.metrics.keys()
    for name in a.metrics:
        np.testing.assert_array_equal(a.metrics[name], b.metrics[name])
    assert a.scaler == b.scaler
    if a.classes is None:
        assert b.classes is None
    else:
        assert a.classes.dtype == b.classes.dtype
        np.testing.assert_array_equal(a.classes, b.classes)


@pytest.fixture
def saved(tmp_path):
    net = trained_like((3, 5, 2), np.float64, classes=None)
    path = tmp_path / "net.npz"
    net.save(path)
    return net, path


# --- round trip --------------------------------------------------------------------------------


@pytest.mark.parametrize("scaler", [None, "minmax", "standard"])
@pytest.mark.parametrize("sizes", ARCH_PARAMS)
def test_round_trip_every_dtype_and_shape(tmp_path, sizes, dtype, scaler):
    net = trained_like(sizes, dtype, scaler=scaler)
    path = tmp_path / "net.npz"
    net.save(path)
    back = fastprop.load(path)
    assert_same(net, back)
    X = np.random.default_rng(0).random((5, sizes[0]))
    np.testing.assert_array_equal(back.predict(X), net.predict(X))


@pytest.mark.parametrize(
    ("classes", "outputs"),
    [
        (np.array([3, 7], dtype=np.int32), 1),
        (np.array([-1, 0, 5], dtype=np.int64), 3),
        (np.array(["cat", "dog", "emu", "yak"]), 4),
        (np.array([0.5, 2.5]), 1),
        (np.array([False, True]), 1),
    ],
    ids=["int32-binary", "int64-3", "str-4", "float-binary", "bool"],
)
def test_round_trip_classes(tmp_path, classes, outputs):
    net = trained_like((2, 3, outputs), np.float32, classes=classes)
    path = tmp_path / "clf.npz"
    net.save(str(path))
    back = fastprop.load(str(path))
    assert_same(net, back)
    X = np.random.default_rng(0).random((6, 2))
    np.testing.assert_array_equal(back.predict_classes(X), net.predict_classes(X))
    assert set(back.predict_classes(X).tolist()) <= set(classes.tolist())


def test_fresh_network_round_trip(tmp_path):
    net = Network((2, 2), seed=0)
    net.save(tmp_path / "fresh.npz")
    back = fastprop.load(tmp_path / "fresh.npz")
    assert_same(net, back)
    assert back.history == [] and back.metrics == {}
    assert back.scaler is None and back.classes is None


def test_metrics_shorter_than_history_are_padded_with_nan(tmp_path):
    net = Network((2, 1), seed=0)
    net.history = [0.3, 0.2, 0.1]
    net.metrics = {"val_loss": [0.5]}
    net.save(tmp_path / "n.npz")
    np.testing.assert_array_equal(
        fastprop.load(tmp_path / "n.npz").metrics["val_loss"], [0.5, np.nan, np.nan]
    )


def test_documented_layout(saved):
    net, path = saved
    with np.load(path, allow_pickle=False) as npz:
        assert sorted(npz.files) == sorted(
            ["format", "format_version", "layer_sizes", "dtype", "W_0", "W_1", "b_0", "b_1",
             "history", "metric_names", "metric_values", "scaler_kind", "scaler_shift",
             "scaler_scale", "classes"]
        )
        assert str(npz["format"]) == "fastprop-network"
        assert int(npz["format_version"]) == 1
        assert npz["layer_sizes"].dtype == np.int64
        assert npz["layer_sizes"].tolist() == [3, 5, 2]
        assert str(npz["dtype"]) == "float64"
        np.testing.assert_array_equal(npz["W_1"], net.weights[1])
        np.testing.assert_array_equal(npz["b_0"], net.biases[0])
        assert npz["history"].tolist() == net.history
        assert npz["metric_names"].tolist() == ["val_loss", "accuracy"]
        assert npz["metric_values"].shape == (2, 3)
        assert str(npz["scaler_kind"]) == "standard"
        assert npz["classes"].size == 0


def test_save_replaces_an_existing_file_and_leaves_no_temporary(saved, tmp_path):
    _, path = saved
    other = Network((3, 1), seed=5)
    other.save(path)
    assert_same(other, fastprop.load(path))
    assert os.listdir(tmp_path) == ["net.npz"]


# --- failing saves -----------------------------------------------------------------------------


def _fail_replace(*args, **kwargs):
    raise PermissionError(errno.EACCES, "Permission denied")


def _disk_full(fd):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize(
    ("target", "replacement", "error", "match"),
    [
        ("os.replace", _fail_replace, PermissionError, "cannot save .*Permission denied"),
        ("os.fsync", _disk_full, OSError, "cannot save .*No space left.*unchanged"),
    ],
    ids=["rename-denied", "disk-full"],
)
def test_failed_save_keeps_the_old_file(saved, tmp_path, monkeypatch, target, replacement,
                                        error, match):
    net, path = saved
    before = path.read_bytes()
    monkeypatch.setattr(target, replacement)
    with pytest.raises(error, match=match) as info:
        Network((3, 1), seed=5).save(path)
    monkeypatch.undo()
    assert info.value.errno in (errno.EACCES, errno.ENOSPC)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["net.npz"]
    assert_same(net, fastprop.load(path))


def test_interrupted_save_keeps_the_old_file(saved, tmp_path, monkeypatch):
    _, path = saved
    before = path.read_bytes()

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupt)
    with pytest.raises(KeyboardInterrupt):
        Network((3, 1), seed=5).save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["net.npz"]


def test_save_into_a_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="cannot save the network to .*missing"):
        Network((2, 1)).save(tmp_path / "missing" / "net.npz")


def test_save_onto_a_directory(tmp_path):
    (tmp_path / "adir").mkdir()
    with pytest.raises(OSError, match="cannot save the network to .*adir"):
        Network((2, 1)).save(tmp_path / "adir")
    assert os.listdir(tmp_path) == ["adir"]


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (lambda n: setattr(n, "classes", np.array([1, "a"], dtype=object)), ValueError,
         "classes.*numbers or strings"),
        (lambda n: setattr(n, "classes", np.array([1, 2, 3])), ValueError,
         "3 classes do not match 1 output"),
        (lambda n: setattr(n, "classes", np.array([1, 1])), ValueError, "distinct"),
        (lambda n: setattr(n, "metrics", {"val_loss": [1.0, 2.0]}), ValueError,
         "2 values but history only 0"),
        (lambda n: setattr(n, "metrics", {3: []}), ValueError, "metrics names"),
        (lambda n: setattr(n, "scaler", "minmax"), ValueError, "Scaler"),
        (lambda n: n.params.__setitem__(0, np.nan), ValueError, "W_0.*NaN or inf"),
    ],
    ids=["object-classes", "classes-vs-outputs", "repeated-classes", "long-metrics",
         "metric-name", "scaler-type", "nan-weight"],
)
def test_save_rejects_an_inconsistent_network(tmp_path, change, error, match):
    net = Network((2, 1), seed=0)
    change(net)
    with pytest.raises(error, match="cannot save the network: .*" + match):
        net.save(tmp_path / "bad.npz")
    assert os.listdir(tmp_path) == []


def test_save_and_load_argument_types(tmp_path):
    with pytest.raises(TypeError, match="network must be a fastprop.Network; got int"):
        fastprop.io.save(42, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="path must be a str or os.PathLike; got int"):
        Network((2, 1)).save(123)
    with pytest.raises(TypeError, match="path must be a str or os.PathLike; got list"):
        fastprop.load([])
    with pytest.raises(FileNotFoundError):
        fastprop.load(tmp_path / "nothing.npz")


# --- rejected files ----------------------------------------------------------------------------


@pytest.mark.parametrize("keep", [0, 3, 10, 100, 0.5, -22, -1], ids=str)
def test_truncated_file_rejected(saved, keep):
    _, path = saved
    data = path.read_bytes()
    n = int(len(data) * keep) if isinstance(keep, float) else keep % len(data)
    path.write_bytes(data[:n])
    match = "empty file" if n == 0 else "cannot load .*(truncated or corrupt|not an .npz)"
    with pytest.raises(ValueError, match=match):
        fastprop.load(path)


def test_flipped_bit_in_weights_rejected(tmp_path):
    net = Network((20, 10, 1), seed=0)
    path = tmp_path / "net.npz"
    net.save(path)
    data = bytearray(path.read_bytes())
    at = data.find(net.weights[0].tobytes())
    assert at > 0
    data[at + 100] ^= 0x04
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="truncated or corrupt.*CRC"):
        fastprop.load(path)


def test_every_single_bit_flip_is_rejected_or_harmless(tmp_path):
    """Wherever one bit flips, load raises a ValueError or returns the very same network.

    (A flip in a zip timestamp, say, changes nothing that is read.)
    """
    net = trained_like((2, 2, 1), np.float64, classes=np.array(["no", "yes"]))
    path = tmp_path / "net.npz"
    net.save(path)
    data = path.read_bytes()
    bad = tmp_path / "bad.npz"
    rejected = 0
    for i in range(0, len(data), 11):
        flipped = bytearray(data)
        flipped[i] ^= 1 << (i % 8)
        bad.write_bytes(bytes(flipped))
        try:
            back = fastprop.load(bad)
        except ValueError as exc:
            assert str(exc).startswith("cannot load")
            rejected += 1
        else:
            assert_same(net, back)
    assert rejected > len(data) // 22


def test_npy_file_rejected(tmp_path):
    path = tmp_path / "w.npy"
    np.save(path, np.zeros(3))
    with pytest.raises(ValueError, match="single .npy array, not a fastprop network"):
        fastprop.load(path)


def test_text_file_rejected(tmp_path):
    path = tmp_path / "net.npz"
    path.write_text("layer_sizes: 3 5 2\n")
    with pytest.raises(ValueError, match=r"not a fastprop network \(not an .npz"):
        fastprop.load(path)


def test_foreign_npz_rejected(tmp_path):
    path = tmp_path / "digits.npz"
    np.savez(path, images=np.zeros((2, 64)), labels=np.zeros(2))
    with pytest.raises(ValueError, match="no 'format' entry .*images, labels"):
        fastprop.load(path)


def test_zip_with_other_members_rejected(tmp_path):
    path = tmp_path / "net.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("README.txt", "hello")
    with pytest.raises(ValueError, match="unexpected member 'README.txt'"):
        fastprop.load(path)


def entries_of(path):
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def rewrite(path, **changes):
    """Save again with some entries replaced (None: removed)."""
    entries = entries_of(path)
    for key, value in changes.items():
        if value is None:
            del entries[key]
        else:
            entries[key] = value
    # np.savez would append .npz to a str name without it; a file object keeps the path.
    with open(path, "wb") as fh:
        np.savez(fh, **entries)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"format": np.array("keras-model")}, "format is 'keras-model'"),
        ({"format_version": np.array(2)}, "format version 2 is not supported.*newer"),
        ({"format_version": np.array(0)}, "format version 0 is not supported"),
        ({"format_version": None}, "'format_version' is missing"),
        ({"classes": np.array([1, "a"], dtype=object)}, "'classes' holds Python objects"),
        ({"history": np.array([{"a": 1}], dtype=object)}, "'history' holds Python objects"),
        ({"layer_sizes": np.array([3])}, "at least two"),
        ({"layer_sizes": np.array([3, 0, 2])}, "layer_sizes must be >= 1"),
        ({"layer_sizes": np.array([3.0, 5.0, 2.0])}, "'layer_sizes' must hold integers"),
        ({"layer_sizes": np.array([3, 6, 2])}, "'W_0' must have shape \\(3, 6\\); got \\(3, 5\\)"),
        ({"layer_sizes": np.array([3, 2])}, "unexpected entries .*W_1, b_1"),
        ({"b_1": None}, "missing for layer sizes .*b_1"),
        ({"extra": np.zeros(1)}, "unexpected entries .*extra"),
        ({"dtype": np.array("float16")}, "dtype must be 'float32' or 'float64'; got 'float16'"),
        ({"W_1": np.zeros((5, 2), np.float32)}, "'W_1' must be float64 like the network"),
        ({"W_1": np.zeros((5, 2), np.int64)}, "'W_1' must hold float64"),
        ({"b_0": np.full(5, np.inf)}, "'b_0' contains NaN or inf"),
        ({"W_0": np.full((3, 5), np.nan)}, "'W_0' contains NaN or inf"),
        ({"history": np.array([0.1, np.nan])}, "finite losses"),
        ({"history": np.zeros(3, np.float32)}, "1-d float64"),
        ({"metric_values": np.zeros((2, 4))}, "'metric_values' must have shape \\(2, 3\\)"),
        ({"metric_names": np.array(["a", "a"])}, "distinct non-empty"),
        ({"scaler_kind": np.array("robust")}, "scaler: .*'robust'"),
        ({"scaler_scale": np.zeros(3)}, "scaler: scale must be > 0"),
        ({"scaler_shift": np.zeros(2)}, "'scaler_shift' must have shape \\(3,\\)"),
        ({"scaler_kind": np.array("none")}, "'scaler_shift' must have shape \\(0,\\)"),
        ({"classes": np.array(["a", "b", "c"])}, "3 classes do not match 2 output units"),
        ({"classes": np.array(["a", "a"])}, "distinct"),
        ({"classes": np.array([np.nan, 1.0])}, "classes contains NaN"),
        ({"classes": np.array([[1, 2]])}, "classes must be 1-d"),
    ],
    ids=lambda v: None if isinstance(v, str) else "-".join(v) if isinstance(v, dict) else None,
)
def test_inconsistent_file_rejected(saved, changes, match):
    _, path = saved
    rewrite(path, **changes)
    with pytest.raises(ValueError, match="cannot load .*" + match):
        fastprop.load(path)


def _npy_header(shape, descr="<f8"):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": descr, "fortran_order": False, "shape": shape}
    )
    return buf.getvalue()


def test_huge_declared_layer_is_not_allocated(saved):
    """A header claiming 80 GB of weights is refused before any allocation."""
    _, path = saved
    rewrite(path, layer_sizes=np.array([100_000, 100_000, 2]),
            scaler_shift=np.zeros(100_000), scaler_scale=np.ones(100_000))
    with zipfile.ZipFile(path, "a") as zf:
        names = zf.namelist()
    entries = entries_of(path)
    with zipfile.ZipFile(path, "w") as zf:
        for name in names:
            key = name[:-4]
            if key == "W_0":
                zf.writestr(name, _npy_header((100_000, 100_000)) + b"\0" * 64)
            else:
                buf = io.BytesIO()
                np.lib.format.write_array(buf, entries[key], allow_pickle=False)
                zf.writestr(name, buf.getvalue())
    with pytest.raises(ValueError, match="'W_0' declares 80000000000 bytes .* holds"):
        fastprop.load(path)


def test_lying_zip_directory_is_not_trusted(saved):
    """A stored member whose directory entry claims 400 MB is refused before allocation."""
    _, path = saved
    rewrite(path, layer_sizes=np.array([5000, 10_000, 2]),
            scaler_shift=np.zeros(5000), scaler_scale=np.ones(5000))
    entries = entries_of(path)
    header = _npy_header((5000, 10_000))
    with zipfile.ZipFile(path, "w") as zf:
        for key, value in entries.items():
            if key == "W_0":
                zf.writestr("W_0.npy", header + b"\0" * 64)
            else:
                buf = io.BytesIO()
                np.lib.format.write_array(buf, value)
                zf.writestr(key + ".npy", buf.getvalue())
    data = bytearray(path.read_bytes())
    # Central directory entry of W_0.npy: uncompressed size at offset 24.
    at = data.index(b"PK\x01\x02")
    while data[at + 46 : at + 46 + 7] != b"W_0.npy":
        at = data.index(b"PK\x01\x02", at + 4)
    data[at + 24 : at + 28] = (len(header) + 400_000_000).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="'W_0.npy' claims 400000.* bytes, more than its"):
        fastprop.load(path)


def test_other_compression_methods_rejected(saved):
    _, path = saved
    entries = entries_of(path)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_BZIP2) as zf:
        for key, value in entries.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, value)
            zf.writestr(key + ".npy", buf.getvalue())
    with pytest.raises(ValueError, match="compression method 12; only stored and deflated"):
        fastprop.load(path)


def test_compressed_npz_loads(saved):
    net, path = saved
    entries = entries_of(path)
    np.savez_compressed(path, **entries)
    assert_same(net, fastprop.load(path))


def test_unsupported_npy_version_rejected(saved):
    _, path = saved
    entries = entries_of(path)
    with zipfile.ZipFile(path, "w") as zf:
        for key, value in entries.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, value, version=(3, 0) if key == "history" else None)
            zf.writestr(key + ".npy", buf.getvalue())
    with pytest.raises(ValueError, match="'history' uses .npy format \\(3, 0\\)"):
        fastprop.load(path)


def test_load_accepts_pathlib_and_str(saved):
    net, path = saved
    assert_same(net, fastprop.load(str(path)))
    assert_same(net, fastprop.load(pathlib.Path(path)))
