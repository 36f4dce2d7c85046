"""Profiles on disk: load many (files or folders), and a keyed store for sweeps.

A sweep's store is a folder where each configuration's key names one profile file. A file there
is complete or absent (profiles are written with temp file + rename), so "done" is "the file exists
and passes the schema"; a leftover temp file of an interrupted write is removed and its configuration
runs again. A profile that exists but fails the schema is refused, never overwritten.
"""

from __future__ import annotations

import os
from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.profile import load_profile, write_profile


def expand(paths) -> list[Path]:
    """Files as given; a folder stands for the ``*.json`` profiles in it and its subfolders (a sweep's
    folder, profiles/baselines, ...), hidden files and folders left out."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(q for q in p.rglob("*.json")
                           if not any(part.startswith(".") for part in q.relative_to(p).parts))
            if not found:
                raise WorkbenchError(f"{p}: no profiles (*.json) in this folder")
            out += found
        else:
            out.append(p)
    return out


def load_many(paths) -> list[tuple[Path, dict]]:
    """Load and validate every profile; the first bad one is a one-line error naming it."""
    files = expand(paths)
    if not files:
        raise WorkbenchError("no profiles given")
    return [(f, load_profile(f)) for f in files]


class ProfileStore:
    """One folder; ``key`` -> ``<folder>/<key>.json``."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def clean_partial(self) -> list[Path]:
        """Remove temp files left by writes that were interrupted (``.<name>.json.<pid>.<random>``),
        not those of a writer still at work (another sweep into the same folder)."""
        from workbench.filesystem import remove_stale_temps

        return remove_stale_temps(self.folder, ".*.json.*") if self.folder.is_dir() else []

    def done(self, key: str) -> bool:
        path = self.path(key)
        if not path.exists():
            return False
        load_profile(path)   # raises a one-line error if it is not a valid profile
        return True

    def put(self, key: str, profile: dict) -> Path:
        return write_profile(profile, self.path(key))

    def load(self, key: str) -> dict:
        return load_profile(self.path(key))
