"""The model file: one versioned, checksummed file that loads without the training code.

Layout (all little-endian):

    8 bytes   magic b"WBMODEL\\0"
    4 bytes   format version (uint32)
    4 bytes   header length H (uint32)
    H bytes   header, UTF-8 JSON: config, metadata, tensor table, sha256 of the model (below)
    ...       payload: the tensors' raw bytes, in table order, nothing between or after them
    32 bytes  (format 2) sha256 of every byte before it

The trailing checksum covers every byte of the file (metadata included), and the payload must end
exactly where the table says: a flipped bit anywhere or junk appended is refused. The header's
``sha256`` (``content_hash``: the canonical JSON of ``config`` and the tensors) identifies the model
everywhere downstream (firmware handshake, profiles); format 1 files (no trailer) still load, checked
by it alone.

``load`` also checks that the model makes sense (``validate``), so every command that takes a model
file refuses the same broken ones in one line, before any work.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from workbench.errors import WorkbenchError
from workbench.filesystem import not_regular, write_atomic

MAGIC = b"WBMODEL\0"
FORMAT_VERSION = 2
READS = (1, 2)            # format versions this workbench reads
TRAILER = 32              # format 2: sha256 of every byte before it


@dataclass
class ModelFile:
    config: dict
    tensors: dict[str, np.ndarray]
    meta: dict = field(default_factory=dict)

    @property
    def content_hash(self) -> str:
        return _digest(self.config, self.tensors)

    def state_dict(self):
        import torch

        return {k: torch.from_numpy(np.array(v)) for k, v in self.tensors.items()}

    def build(self):
        """The torch module with these weights (eval mode)."""
        from workbench.models.sharnn import build_model

        model = build_model(self.config)
        try:
            model.load_state_dict(self.state_dict())
        except RuntimeError as exc:
            raise WorkbenchError(f"model file weights do not fit its config: {str(exc).splitlines()[0]}") from None
        return model.eval()


def _digest(config: dict, tensors: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256(json.dumps(config, sort_keys=True).encode())
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name])
        h.update(f"{name}:{arr.dtype.str}:{arr.shape}".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def from_module(model, meta: dict | None = None) -> ModelFile:
    tensors = {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}
    return ModelFile(config=model.config(), tensors=tensors, meta=dict(meta or {}))


def save(mf: ModelFile, path: str | os.PathLike) -> Path:
    path = Path(path)
    table, chunks, offset = [], [], 0
    for name in sorted(mf.tensors):
        arr = np.ascontiguousarray(mf.tensors[name])
        if arr.dtype.byteorder == ">":
            arr = arr.astype(arr.dtype.newbyteorder("<"))
        raw = arr.tobytes()
        table.append({"name": name, "dtype": arr.dtype.str, "shape": list(arr.shape), "offset": offset,
                      "nbytes": len(raw)})
        chunks.append(raw)
        offset += len(raw)
    header = {"format": "workbench-model", "format_version": FORMAT_VERSION, "config": mf.config,
              "meta": mf.meta, "tensors": table, "sha256": mf.content_hash}
    blob = json.dumps(header, indent=1, sort_keys=True, allow_nan=False).encode()
    data = MAGIC + struct.pack("<II", FORMAT_VERSION, len(blob)) + blob + b"".join(chunks)
    return write_atomic(path, data + hashlib.sha256(data).digest(), what="write the model file")


def load(path: str | os.PathLike) -> ModelFile:
    """Read, verify (checksum over every byte) and validate a model file; a broken one is one line."""
    path = Path(path)
    kind = not_regular(path)
    if kind and kind != "a folder":       # a pipe or a device would block or never end
        raise WorkbenchError(f"model file {path} is {kind}, not a file")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise WorkbenchError(f"model file {path} not found") from None
    except OSError as exc:
        raise WorkbenchError(f"model file {path} cannot be read: {exc.strerror}") from None
    if len(data) < 16 or data[:8] != MAGIC:
        raise WorkbenchError(f"model file {path} is not a workbench model (bad magic)")
    version, hlen = struct.unpack_from("<II", data, 8)
    if version not in READS:
        raise WorkbenchError(f"model file {path} has format version {version}; this workbench reads "
                             f"{', '.join(map(str, READS))}")
    body, trailer = (data[:-TRAILER], data[-TRAILER:]) if version >= 2 else (data, None)
    try:
        header = json.loads(body[16:16 + hlen].decode(), parse_constant=_refuse_constant)
        payload = body[16 + hlen:]
        tensors, end = {}, 0
        for t in header["tensors"]:
            raw = payload[t["offset"]:t["offset"] + t["nbytes"]]
            if len(raw) != t["nbytes"]:
                raise ValueError("truncated")
            tensors[t["name"]] = np.frombuffer(raw, dtype=np.dtype(t["dtype"])).reshape(t["shape"]).copy()
            end = max(end, t["offset"] + t["nbytes"])
        mf = ModelFile(config=header["config"], tensors=tensors, meta=header.get("meta", {}))
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise WorkbenchError(f"model file {path} is corrupt (unreadable header or truncated data)") from None
    if len(payload) != end:
        raise WorkbenchError(f"model file {path} is corrupt ({len(payload) - end} bytes after the end of its data)")
    if trailer is not None and hashlib.sha256(body).digest() != trailer:
        raise WorkbenchError(f"model file {path} is corrupt (checksum mismatch)")
    if mf.content_hash != header.get("sha256"):
        raise WorkbenchError(f"model file {path} is corrupt (checksum mismatch)")
    validate(mf, path)
    return mf


def _refuse_constant(name: str):
    raise ValueError(f"non-standard JSON constant {name}")


def validate(mf: ModelFile, path: str | os.PathLike = "<model>") -> ModelFile:
    """What every command needs of a model, checked once (``load`` calls it): a known family with its
    levels, positive sizes, a window the brick size divides, an output layer as wide as num_classes,
    finite weights. Refused in one line naming the file."""
    from workbench.models.families import FAMILY_LEVELS, check_cells

    def bad(why: str) -> WorkbenchError:
        return WorkbenchError(f"model file {path} is invalid: {why}")

    cfg = mf.config
    if not isinstance(cfg, dict):
        raise bad("its config is not a table")
    family = cfg.get("family")
    if family not in FAMILY_LEVELS:
        raise bad(f"unknown model family {family!r} (known: {', '.join(FAMILY_LEVELS)})")
    required = {"window": "the window length T", "input_dim": "the channels per step",
                "num_classes": "the number of classes", **({"k": "the brick size"} if family == "sharnn" else {})}
    for name, what in required.items():
        value = cfg.get(name)
        if value is None:
            raise bad(f"its config has no {name} ({what})")
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise bad(f"{name}={value!r}: {what} must be a whole number of at least 1")
    if family == "sharnn" and cfg["window"] % cfg["k"]:
        raise bad(f"brick size k={cfg['k']} does not divide the window length T={cfg['window']}")
    levels = FAMILY_LEVELS[family]
    cells, hidden = cfg.get("cells"), cfg.get("hidden")
    if not isinstance(cells, list) or not isinstance(hidden, list) or len(cells) != levels or len(hidden) != levels:
        raise bad(f"family {family} needs {levels} cell(s) and hidden size(s); config has cells={cells!r} "
                  f"hidden={hidden!r}")
    try:
        check_cells(cells)
    except WorkbenchError as exc:
        raise bad(str(exc)) from None
    if any(not isinstance(h, int) or isinstance(h, bool) or h < 1 for h in hidden):
        raise bad(f"hidden sizes {hidden!r} must be whole numbers of at least 1")
    classes, top, dim = cfg["num_classes"], hidden[-1], cfg["input_dim"]
    expect = {"fc.weight": ((classes, top), f"num_classes={classes} x hidden {top}"),
              "fc.bias": ((classes,), f"num_classes={classes}"),
              "norm.mean": ((dim,), f"input_dim={dim}"), "norm.inv_std": ((dim,), f"input_dim={dim}")}
    for name, (shape, because) in expect.items():
        if name not in mf.tensors:
            raise bad(f"its weights have no {name}")
        got = tuple(np.shape(mf.tensors[name]))
        if got != shape:
            raise bad(f"{name} is {'x'.join(map(str, got))}; its config says {'x'.join(map(str, shape))} "
                      f"({because})")
    for name, arr in sorted(mf.tensors.items()):
        arr = np.asarray(arr)
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            count = int((~np.isfinite(arr)).sum())
            raise bad(f"tensor {name} holds {count} non-finite value(s) (NaN or infinity) of {arr.size}")
    return mf
