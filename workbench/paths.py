"""Where things live: the firmware and board files the tool reads, the folders it writes.

Two ways to have workbench:

- a checkout (``pip install -e .``, or ``python -m workbench.cli`` inside it): firmware/, boards/ and
  zephyr/ are the checkout's, and everything the product writes (build/, profiles/, .cache/) stays
  inside it, so a clean clone starts from nothing and caches nothing elsewhere;
- an installed wheel (``pip install sharnn-workbench``): the wheel carries firmware/, boards/ and zephyr/
  in ``workbench/_resources`` (setup.py puts them there), and what the product writes goes to
  ``$XDG_DATA_HOME/workbench`` (``~/.local/share/workbench``).

``WORKBENCH_HOME`` overrides the folder written to, and is where boards/ (and firmware/, when it has
one) are read from.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
RESOURCES_DIR = PACKAGE_DIR / "_resources"       # an installed wheel's copy of firmware/, boards/, zephyr/


def checkout() -> Path | None:
    """The source checkout this package runs from, or None when it is installed from a wheel."""
    root = PACKAGE_DIR.parent
    return root if (root / "pyproject.toml").is_file() and (root / "firmware" / "sharnn").is_dir() else None


def resources_root() -> Path:
    """The folder that holds firmware/, boards/ and zephyr/ as shipped: the checkout or the wheel's copy."""
    return checkout() or RESOURCES_DIR


def project_root() -> Path:
    """The folder the product writes into (build/, profiles/, .cache/): WORKBENCH_HOME, else the
    checkout, else the user's data folder (module docstring)."""
    env = os.environ.get("WORKBENCH_HOME")
    if env:
        return Path(env).resolve()
    root = checkout()
    if root is not None:
        return root
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data_home) / "workbench"


def firmware_dir() -> Path:
    home = os.environ.get("WORKBENCH_HOME")
    if home and (Path(home) / "firmware").is_dir():
        return Path(home).resolve() / "firmware"
    return resources_root() / "firmware"


def boards_dir() -> Path:
    home = os.environ.get("WORKBENCH_HOME")
    return Path(home).resolve() / "boards" if home else resources_root() / "boards"


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
