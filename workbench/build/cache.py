"""Cached build products, verified before use.

A build product that a later run reuses (the host kernel library, the QEMU plugin, the firmware's
objects and ELF) is stamped when it is made: ``<file>.stamp`` records a hash of its inputs and the
sha256 of its bytes. Before reuse the bytes are hashed again; a product that was truncated (a full
disk, a killed build) or changed since is rebuilt instead of loaded. Loading a truncated shared
library is a SIGBUS with nothing printed, so this check runs before every load.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from workbench.filesystem import write_atomic

STAMP = ".stamp"
OUTPUTS = "outputs.stamp"      # a folder of products built together (make's objects and ELF)


def digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def stamp_path(product: Path) -> Path:
    return product.with_name(product.name + STAMP)


def stamp(product: Path, inputs: str) -> None:
    """Record that ``product`` was built from ``inputs`` (a hash of them) and what its bytes are."""
    write_atomic(stamp_path(product), json.dumps({"inputs": inputs, "sha256": digest(product)}) + "\n",
                 what="write the build stamp")


def intact(product: Path, inputs: str) -> bool:
    """True when ``product`` exists, was built from ``inputs`` and its bytes are the ones stamped."""
    try:
        record = json.loads(stamp_path(product).read_text())
        return record.get("inputs") == inputs and record.get("sha256") == digest(product)
    except (OSError, ValueError, AttributeError):
        return False


def stamp_outputs(folder: Path, products: list[Path]) -> None:
    """Record the bytes of every product of one build in ``folder`` (after the build succeeded)."""
    record = {str(p.relative_to(folder)): digest(p) for p in sorted(products)}
    write_atomic(folder / OUTPUTS, json.dumps(record, indent=1) + "\n", what="write the build stamp")


def drop_damaged_outputs(folder: Path, products: list[Path]) -> list[Path]:
    """Before an incremental build in ``folder``: remove every product whose bytes are not the ones
    stamped (make then rebuilds exactly those), or every product if there is no stamp (a build that
    was killed, or one from before stamps). The stamp itself is removed until the build succeeds.
    Returns what was removed."""
    try:
        record = json.loads((folder / OUTPUTS).read_text())
    except (OSError, ValueError):
        record = None
    (folder / OUTPUTS).unlink(missing_ok=True)
    removed = []
    for p in products:
        if not p.exists():
            continue
        key = str(p.relative_to(folder))
        if not isinstance(record, dict) or record.get(key) != digest(p):
            p.unlink()
            removed.append(p)
    return removed
