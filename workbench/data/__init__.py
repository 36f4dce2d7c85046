"""Data stage: every source yields a ``Dataset`` of fixed-length windows.

Sources register a loader by name; ``load_dataset(name, split)`` is the only entry point the rest of
the pipeline uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from workbench.errors import WorkbenchError


@dataclass
class Dataset:
    """Windows ``x[N, T, C]`` (float32) with integer labels ``y[N]``.

    ``lengths[N]`` holds each window's true length when the source has uneven series (they are padded
    at the end with zeros to T); it equals T everywhere otherwise.
    """

    name: str
    split: str
    x: np.ndarray
    y: np.ndarray
    class_names: list[str]
    sample_rate_hz: float | None = None
    lengths: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.x = np.ascontiguousarray(self.x, dtype=np.float32)
        self.y = np.asarray(self.y, dtype=np.int64)
        if self.x.ndim != 3:
            raise WorkbenchError(f"dataset {self.name}: x must be [N, T, C], got shape {self.x.shape}")
        if len(self.y) != len(self.x):
            raise WorkbenchError(f"dataset {self.name}: {len(self.x)} windows but {len(self.y)} labels")
        if self.lengths is None:
            self.lengths = np.full(len(self.x), self.x.shape[1], dtype=np.int64)

    @property
    def num_windows(self) -> int:
        return int(self.x.shape[0])

    @property
    def window_length(self) -> int:
        return int(self.x.shape[1])

    @property
    def num_channels(self) -> int:
        return int(self.x.shape[2])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


Loader = Callable[[str], Dataset]
_LOADERS: dict[str, Loader] = {}


def register(name: str):
    """Decorator: register ``fn(split) -> Dataset`` under ``name`` (case-insensitive)."""

    def deco(fn: Loader) -> Loader:
        _LOADERS[name.lower()] = fn
        return fn

    return deco


def available() -> list[str]:
    _import_sources()
    return sorted(_LOADERS)


def load_dataset(name: str, split: str) -> Dataset:
    """Load ``split`` ('train' or 'test') of the dataset called ``name``, or a user .npz/.csv path."""
    _import_sources()
    if split not in ("train", "test"):
        raise WorkbenchError(f"unknown split {split!r} (use 'train' or 'test')")
    if name.lower().endswith((".npz", ".csv")):
        from workbench.data.files import load_file

        return load_file(name, split)
    loader = _LOADERS.get(name.lower())
    if loader is None:
        raise WorkbenchError(f"unknown dataset {name!r}; known: {', '.join(available())}")
    return loader(split)


def _import_sources() -> None:
    # Importing a source module registers its loaders.
    from workbench.data import ucr  # noqa: F401
    from workbench.data import files, keywords, speech_commands  # noqa: F401
