"""The model file: read here from its documented layout byte for byte, written again identically, and
every way it can be broken (a flipped byte anywhere in the weights included) gives a one-line error."""

from __future__ import annotations

import hashlib
import json
import os
import struct

import numpy as np
import pytest
import torch

from tests.conftest import tiny_model
from workbench.errors import WorkbenchError
from workbench.models import modelfile


def read_layout(data: bytes):
    """The layout modelfile.py documents: magic, uint32 version, uint32 header length, JSON header, payload,
    and (format 2) the sha256 of every byte before it."""
    assert data[:8] == b"WBMODEL\0"
    version, hlen = struct.unpack("<II", data[8:16])
    if version >= 2:
        assert hashlib.sha256(data[:-32]).digest() == data[-32:]
        data = data[:-32]
    return version, json.loads(data[16:16 + hlen]), data[16 + hlen:]


def test_file_holds_every_weight_byte_for_byte_and_round_trips(tmp_path):
    model = tiny_model(cells=("lstm", "gru"))
    path = modelfile.save(modelfile.from_module(model, {"dataset": "x"}), tmp_path / "m.wbm")
    data = path.read_bytes()
    version, header, payload = read_layout(data)
    assert version == 2 and header["format"] == "workbench-model" and header["format_version"] == 2
    assert header["config"] == model.config() and header["meta"] == {"dataset": "x"}
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    table = {t["name"]: t for t in header["tensors"]}
    assert set(table) == set(state)
    offset = 0
    for name in sorted(state):              # tensors sit back to back, in name order
        t, want = table[name], state[name]
        assert (t["dtype"], t["shape"], t["offset"], t["nbytes"]) == ("<f4", list(want.shape), offset, want.nbytes)
        assert payload[offset:offset + want.nbytes] == want.astype("<f4").tobytes()
        offset += want.nbytes
    assert len(payload) == offset

    mf = modelfile.load(path)
    assert mf.meta == {"dataset": "x"} and mf.content_hash == header["sha256"]
    assert modelfile.save(mf, tmp_path / "again.wbm").read_bytes() == data     # loaded and saved: the same bytes
    x = torch.randn(3, 100, 6)
    with torch.no_grad():
        assert torch.equal(model(x), mf.build()(x))


def test_a_flipped_byte_in_any_weight_is_refused(tmp_path):
    path = modelfile.save(modelfile.from_module(tiny_model()), tmp_path / "m.wbm")
    data = path.read_bytes()
    _, header, payload = read_layout(data)
    start = len(data) - 32 - len(payload)
    for t in header["tensors"]:
        for at in {t["offset"], t["offset"] + t["nbytes"] - 1}:      # first and last byte of every tensor
            damaged = bytearray(data)
            damaged[start + at] ^= 0x01
            path.write_bytes(bytes(damaged))
            with pytest.raises(WorkbenchError, match=r"is corrupt \(checksum mismatch\)$"):
                modelfile.load(path)


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


def test_a_changed_config_is_refused(tmp_path):
    """The checksum covers the config too: a header edited to another class count does not load."""
    path = modelfile.save(modelfile.from_module(tiny_model()), tmp_path / "m.wbm")
    data = path.read_bytes()
    _, header, payload = read_layout(data)
    header["config"]["num_classes"] = 5
    blob = json.dumps(header).encode()
    path.write_bytes(b"WBMODEL\0" + struct.pack("<II", 1, len(blob)) + blob + payload)
    with pytest.raises(WorkbenchError, match=r"checksum mismatch"):
        modelfile.load(path)


def test_missing_file(tmp_path):
    with pytest.raises(WorkbenchError, match="not found"):
        modelfile.load(tmp_path / "nope.wbm")


def test_content_hash_follows_every_weight_bit_and_not_the_tensor_order():
    mf = modelfile.from_module(tiny_model(seed=0))
    base = mf.content_hash
    assert len(base) == 64 and int(base, 16) >= 0                 # a sha256, hex
    for name, arr in mf.tensors.items():                          # one ulp in the first entry of any tensor
        nudged = dict(mf.tensors)
        flat = arr.copy().reshape(-1)
        flat[0] = np.nextafter(flat[0], np.float32(np.inf))
        nudged[name] = flat.reshape(arr.shape)
        assert modelfile.ModelFile(mf.config, nudged).content_hash != base, name
    reordered = dict(reversed(list(mf.tensors.items())))
    assert modelfile.ModelFile(mf.config, reordered, {"other": "meta"}).content_hash == base
    assert modelfile.ModelFile({**mf.config, "num_classes": 5}, mf.tensors).content_hash != base


def _header_span(data: bytes) -> tuple[int, int]:
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
    if path == "fifo":
        path = tmp_path / "m.wbm"
        os.mkfifo(path)
    with pytest.raises(WorkbenchError, match=f"model file {path} is {kind}, not a file"):
        modelfile.load(path)
