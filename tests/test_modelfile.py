"""The model file: round trip, and every way it can be broken gives a one-line error."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.conftest import tiny_model
from workbench.errors import WorkbenchError
from workbench.models import modelfile


def test_roundtrip_gives_the_same_outputs(tmp_path):
    model = tiny_model(cells=("lstm", "gru"))
    path = modelfile.save(modelfile.from_module(model, {"dataset": "x"}), tmp_path / "m.wbm")
    mf = modelfile.load(path)
    assert mf.meta == {"dataset": "x"}
    x = torch.randn(3, 100, 6)
    with torch.no_grad():
        assert torch.equal(model(x), mf.build()(x))


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[:-7], "corrupt"),
    (lambda b: b[:-100] + bytes(100), "checksum mismatch"),
    (lambda b: b"XXXXXXXX" + b[8:], "bad magic"),
    (lambda b: b[:12] + b"\xff\xff\x00\x00" + b[16:], "corrupt"),
    (lambda b: b[:8] + b"\x09\x00\x00\x00" + b[12:], "format version 9"),
])
def test_damaged_files_are_refused(tmp_path, damage, message):
    path = modelfile.save(modelfile.from_module(tiny_model()), tmp_path / "m.wbm")
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(WorkbenchError, match=message):
        modelfile.load(path)


def test_missing_file(tmp_path):
    with pytest.raises(WorkbenchError, match="not found"):
        modelfile.load(tmp_path / "nope.wbm")


def test_content_hash_follows_weights():
    a = modelfile.from_module(tiny_model(seed=0))
    b = modelfile.from_module(tiny_model(seed=1))
    assert a.content_hash != b.content_hash
    assert a.content_hash == modelfile.from_module(tiny_model(seed=0)).content_hash
    assert np.array_equal(a.tensors["fc.weight"], modelfile.from_module(tiny_model(seed=0)).tensors["fc.weight"])


def _header_span(data: bytes) -> tuple[int, int]:
    import struct

    (hlen,) = struct.unpack_from("<I", data, 12)
    return 16, 16 + hlen


def test_the_checksum_covers_every_byte(tmp_path):
    """Format 2: a bit flipped anywhere (metadata included) or a byte appended is refused."""
    path = modelfile.save(modelfile.from_module(tiny_model(), {"dataset": "BasicMotions", "note": "abcdef"}),
                          tmp_path / "m.wbm")
    good = path.read_bytes()
    start, end = _header_span(good)
    meta_at = good.index(b"abcdef", start, end)
    for where in (meta_at, start + 1, end + 5, len(good) - 40, len(good) - 1):
        bad = bytearray(good)
        bad[where] ^= 0x02                           # "abcdef" -> "cbcdef": still valid JSON
        path.write_bytes(bytes(bad))
        with pytest.raises(WorkbenchError, match="is corrupt"):
            modelfile.load(path)
    path.write_bytes(good + b"junk")
    with pytest.raises(WorkbenchError, match=r"is corrupt \(4 bytes after the end of its data\)"):
        modelfile.load(path)
    path.write_bytes(good)
    assert modelfile.load(path).meta["note"] == "abcdef"


def test_format_1_files_still_load_but_not_with_junk(tmp_path):
    import hashlib
    import struct

    mf = modelfile.from_module(tiny_model(), {"dataset": "BasicMotions"})
    v2 = modelfile.save(mf, tmp_path / "m.wbm").read_bytes()[:-32]
    v1 = v2[:8] + struct.pack("<I", 1) + v2[12:]       # the same layout without the trailer
    (tmp_path / "v1.wbm").write_bytes(v1)
    assert modelfile.load(tmp_path / "v1.wbm").content_hash == mf.content_hash
    (tmp_path / "v1.wbm").write_bytes(v1 + hashlib.sha256(v1).digest())
    with pytest.raises(WorkbenchError, match=r"32 bytes after the end of its data"):
        modelfile.load(tmp_path / "v1.wbm")


@pytest.mark.parametrize("change, message", [
    ({"k": 0}, "k=0: the brick size must be a whole number of at least 1"),
    ({"k": None}, "its config has no k (the brick size)"),
    ({"window": None}, "its config has no window (the window length T)"),
    ({"window": "100"}, "window='100': the window length T must be a whole number of at least 1"),
    ({"k": 7}, "brick size k=7 does not divide the window length T=100"),
    ({"num_classes": 5}, "fc.weight is 4x8; its config says 5x8 (num_classes=5 x hidden 8)"),
    ({"input_dim": 3}, "norm.mean is 6; its config says 3 (input_dim=3)"),
    ({"hidden": [8]}, "family sharnn needs 2 cell(s) and hidden size(s)"),
    ({"cells": ["gru", "rnn9"]}, "unknown cell 'rnn9'"),
    ({"family": "cnn"}, "unknown model family 'cnn'"),
])
def test_one_validation_refuses_models_that_make_no_sense(tmp_path, change, message):
    mf = modelfile.from_module(tiny_model(), {"dataset": "BasicMotions"})
    for key, value in change.items():
        if value is None:
            del mf.config[key]
        else:
            mf.config[key] = value
    path = modelfile.save(mf, tmp_path / "m.wbm")
    with pytest.raises(WorkbenchError) as e:
        modelfile.load(path)
    assert str(e.value).startswith(f"model file {path} is invalid: ") and message in str(e.value), str(e.value)


def test_non_finite_weights_are_refused(tmp_path):
    mf = modelfile.from_module(tiny_model())
    mf.tensors["cell1.rnn.weight_hh_l0"][0, :2] = [np.inf, np.nan]
    path = modelfile.save(mf, tmp_path / "m.wbm")
    with pytest.raises(WorkbenchError, match=r"tensor cell1.rnn.weight_hh_l0 holds 2 non-finite value\(s\) \(NaN "
                                             r"or infinity\) of 192"):
        modelfile.load(path)


@pytest.mark.parametrize("path, kind", [("/dev/zero", "a character device"), ("fifo", "a named pipe")])
def test_a_device_or_a_pipe_is_refused_without_reading_it(tmp_path, path, kind):
    import os

    if path == "fifo":
        path = tmp_path / "m.wbm"
        os.mkfifo(path)
    with pytest.raises(WorkbenchError, match=f"model file {path} is {kind}, not a file"):
        modelfile.load(path)
