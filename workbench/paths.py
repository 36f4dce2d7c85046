"""Where things live: the project tree, the build and cache folders.

Everything the product writes stays inside the project tree unless WORKBENCH_HOME says otherwise,
so a clean clone starts from nothing and caches nothing elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def project_root() -> Path:
    """The checkout that holds firmware/, boards/ and profiles/ (the package is installed editable)."""
    env = os.environ.get("WORKBENCH_HOME")
    if env:
        return Path(env).resolve()
    return PACKAGE_DIR.parent


def firmware_dir() -> Path:
    return project_root() / "firmware"


def boards_dir() -> Path:
    return project_root() / "boards"


def profiles_dir() -> Path:
    return project_root() / "profiles"


def build_dir() -> Path:
    d = project_root() / "build"
    d.mkdir(parents=True, exist_ok=True)
    return d


def cache_dir() -> Path:
    d = Path(os.environ.get("WORKBENCH_CACHE", project_root() / ".cache"))
    d.mkdir(parents=True, exist_ok=True)
    return d
