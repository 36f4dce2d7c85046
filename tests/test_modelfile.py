"""The model file: read here from its documented layout byte for byte, written again identically, and
every way it can be broken (a flipped byte anywhere in the weights included) gives a one-line error."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import torch

from tests.conftest import tiny_model
from workbench.errors import WorkbenchError
from workbench.models import modelfile


def read_layout(data: bytes):
    """The layout modelfile.py documents: magic, uint32 version, uint32 header length, JSON header, payload."""
    assert data[:8] == b"WBMODEL\0"
    version, hlen = struct.unpack("<II", data[8:16])
    return version, json.loads(data[16:16 + hlen]), data[16 + hlen:]


def test_file_holds_every_weight_byte_for_byte_and_round_trips(tmp_path):
    model = tiny_model(cells=("lstm", "gru"))
    path = modelfile.save(modelfile.from_module(model, {"dataset": "x"}), tmp_path / "m.wbm")
    data = path.read_bytes()
    version, header, payload = read_layout(data)
    assert version == 1 and header["format"] == "workbench-model" and header["format_version"] == 1
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
    start = len(data) - len(payload)
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
