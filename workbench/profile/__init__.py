"""Profile stage: the record of one run (see ../shared/DESIGN.md, "Contract: profile").

A profile is a JSON document: schema version, provenance, board/target/backend, model, dataset,
``metrics`` (each ``{value, unit, source}``) and per-window records. Written atomically and never
overwritten silently.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from workbench import __version__
from workbench.errors import WorkbenchError
from workbench.paths import checkout

SCHEMA = "workbench-profile"
SCHEMA_VERSION = 1

# Where a number came from. The first nine are measurement sources of the design contract; the
# output sources name whose logits an accuracy or agreement figure was computed from
# (reference-output: the numpy integer reference of an int plan, workbench/quantize).
# micropython-gc: heap bytes a MicroPython device reports (gc.mem_alloc() deltas); file-size: bytes
# of the files deployed to a MicroPython board's filesystem. estimate-cm4-trm: cycles from the
# Cortex-M4 TRM's timing tables applied to the executed instructions (workbench/targets/cm4_timing.py),
# never measured cycles.
SOURCES = (
    "dwt-cycles", "systick-cycles", "qemu-icount-instructions", "qemu-plugin-instructions",
    "renode-virtual-time", "static-elf", "stack-paint", "host-wallclock", "estimate",
    "device-output", "host-output", "torch-output", "micropython-ticks-us", "reference-output",
    "micropython-gc", "file-size", "estimate-cm4-trm",
)
COST_UNITS = ("instructions", "cycles", "ns", "us")


def metric(value, unit: str, source: str) -> dict:
    if source not in SOURCES:
        raise ValueError(f"unknown metric source {source!r}")
    return {"value": value, "unit": unit, "source": source}


def git_state() -> dict:
    """The checkout's commit and whether it has uncommitted changes (None for an installed wheel)."""
    root = checkout()
    if root is None:
        return {"commit": None, "dirty": None}
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=5).stdout.strip() or None
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                    capture_output=True, text=True, timeout=5).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        commit, dirty = None, None
    return {"commit": commit, "dirty": dirty}


def provenance(tool_versions: dict[str, str]) -> dict:
    import numpy
    versions = {"workbench": __version__, "python": platform.python_version(), "numpy": numpy.__version__}
    try:
        import torch
        versions["torch"] = torch.__version__
    except ImportError:
        pass
    versions.update(tool_versions)
    return {"created_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "git": git_state(),
            "versions": versions, "host": platform.node()}


def new_profile(*, board: str, target: dict, backend: str, model: dict, dataset: dict, metrics: dict,
                windows: list[dict], tool_versions: dict[str, str], extra: dict | None = None) -> dict:
    p = {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, **provenance(tool_versions), "board": board,
         "target": target, "backend": backend, "model": model, "dataset": dataset, "metrics": metrics,
         "windows": windows}
    if extra:
        p["extra"] = extra
    validate(p, "<new profile>")
    return p


REQUIRED = ("schema", "schema_version", "created_utc", "git", "versions", "board", "target", "backend", "model",
            "dataset", "metrics")


def validate(p, where: str) -> None:
    """Check ``p`` against the profile schema (``schema.py``); a violation is a one-line WorkbenchError."""
    from workbench.profile.schema import check

    check(p, where, schema=SCHEMA, version=SCHEMA_VERSION, sources=SOURCES)


def check_out(path: str | os.PathLike, force: bool = False) -> Path:
    """Refuse, before any slow work, a profile path that cannot be written or would be replaced
    unasked: the one check of every command that writes a profile."""
    from workbench.filesystem import check_output_file

    path = Path(path)
    if path.is_file() and not force:
        raise WorkbenchError(f"{path} exists; choose another --out or pass --force to replace it")
    return check_output_file(path, "profile")


def profile_json(p: dict) -> str:
    """Strict JSON (no NaN or Infinity, which strict parsers refuse): a non-finite number in a
    profile is a bug of the code that put it there, not something to write."""
    try:
        return json.dumps(p, indent=1, allow_nan=False) + "\n"
    except ValueError as exc:
        raise ValueError(f"profile holds a non-finite number: {exc}") from None


def write_profile(p: dict, path: str | os.PathLike, *, force: bool = False) -> Path:
    """Write atomically (temp file + rename); refuse to replace an existing file unless ``force``."""
    from workbench.filesystem import write_atomic

    path = check_out(path, force)
    return write_atomic(path, profile_json(p), what="write the profile")


def fallback_paths(path: Path) -> list[Path]:
    """Where a measured profile goes when its own path cannot take it: the system's temp folder, then
    the profiles folder and the working folder (any of them may be on another, healthy disk)."""
    from workbench.paths import profiles_dir

    name = f"workbench-rescued-{os.getpid()}-{Path(path).name}"
    return [Path(tempfile.gettempdir()) / name, profiles_dir() / name, Path.cwd() / name]


def save_measured(p: dict, path: str | os.PathLike, *, force: bool = False) -> Path:
    """``write_profile`` for a profile that took a measurement to make: if it cannot be written (the
    disk filled up, the folder became read-only), it goes to a fallback file, and the one-line error
    names that file, so a measured result is never lost."""
    from workbench.filesystem import write_atomic

    try:
        return write_profile(p, path, force=force)
    except WorkbenchError as first:
        text = profile_json(p)
        for rescue in fallback_paths(Path(path)):
            try:
                write_atomic(rescue, text, what="write the profile")
            except WorkbenchError:
                continue
            raise WorkbenchError(f"{first}; the measured profile is saved in {rescue}") from None
        raise WorkbenchError(f"{first}; no fallback folder could take the profile either") from None


def _non_finite(name: str):
    raise ValueError(name)


def load_profile(path: str | os.PathLike) -> dict:
    from workbench.filesystem import not_regular

    path = Path(path)
    kind = not_regular(path)
    if kind and kind != "a folder":       # a pipe or a device would block or never end
        raise WorkbenchError(f"profile {path} is {kind}, not a file")
    try:
        p = json.loads(path.read_text(), parse_constant=_non_finite)
    except ValueError as exc:
        if not isinstance(exc, (json.JSONDecodeError, UnicodeDecodeError)):
            raise WorkbenchError(f"profile {path} is not strict JSON: it holds {exc} (strict parsers refuse "
                                 "it)") from None
        why = f"{exc.msg} at line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
        raise WorkbenchError(f"profile {path} is not valid JSON (truncated or corrupt: {why})") from None
    except FileNotFoundError:
        raise WorkbenchError(f"profile {path} not found") from None
    except IsADirectoryError:
        raise WorkbenchError(f"profile {path} is a folder, not a file") from None
    validate(p, str(path))
    return p


def default_profile_path(board: str, model: dict) -> Path:
    from workbench.paths import profiles_dir

    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    cells = "-".join(model.get("cells", []))
    return profiles_dir() / f"{stamp}-{board}-{model.get('family')}-{cells}-{model.get('quantization')}.json"
