"""The model file: one versioned, checksummed file that loads without the training code.

Layout (all little-endian):

    8 bytes   magic b"WBMODEL\\0"
    4 bytes   format version (uint32)
    4 bytes   header length H (uint32)
    H bytes   header, UTF-8 JSON: config, metadata, tensor table, sha256 of the payload
    ...       payload: the tensors' raw bytes, in table order

The header's ``sha256`` covers the payload and the canonical JSON of ``config``; a file whose bytes
do not match is refused. ``content_hash`` identifies the model everywhere downstream (firmware
handshake, profiles).
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

MAGIC = b"WBMODEL\0"
FORMAT_VERSION = 1


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
    blob = json.dumps(header, indent=1, sort_keys=True).encode()
    data = MAGIC + struct.pack("<II", FORMAT_VERSION, len(blob)) + blob + b"".join(chunks)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def load(path: str | os.PathLike) -> ModelFile:
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise WorkbenchError(f"model file {path} not found") from None
    except OSError as exc:
        raise WorkbenchError(f"model file {path} cannot be read: {exc.strerror}") from None
    if len(data) < 16 or data[:8] != MAGIC:
        raise WorkbenchError(f"model file {path} is not a workbench model (bad magic)")
    version, hlen = struct.unpack_from("<II", data, 8)
    if version != FORMAT_VERSION:
        raise WorkbenchError(f"model file {path} has format version {version}; this workbench reads {FORMAT_VERSION}")
    try:
        header = json.loads(data[16:16 + hlen].decode())
        payload = data[16 + hlen:]
        tensors = {}
        for t in header["tensors"]:
            raw = payload[t["offset"]:t["offset"] + t["nbytes"]]
            if len(raw) != t["nbytes"]:
                raise ValueError("truncated")
            tensors[t["name"]] = np.frombuffer(raw, dtype=np.dtype(t["dtype"])).reshape(t["shape"]).copy()
        mf = ModelFile(config=header["config"], tensors=tensors, meta=header.get("meta", {}))
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise WorkbenchError(f"model file {path} is corrupt (unreadable header or truncated data)") from None
    if mf.content_hash != header.get("sha256"):
        raise WorkbenchError(f"model file {path} is corrupt (checksum mismatch)")
    return mf
