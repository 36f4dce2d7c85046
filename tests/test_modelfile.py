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
