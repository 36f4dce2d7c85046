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

    def spread(self, n: int) -> "Dataset":
        """``n`` windows spread over the classes (round robin: each class's first window, then each
        class's second, ...), in their original order. Test splits are often sorted by class, so the
        first ``n`` windows would be one or two classes only."""
        if n >= len(self.y):
            return self
        by_class = [np.flatnonzero(self.y == c) for c in np.unique(self.y)]
        picked: list[int] = []
        for rank in range(max(len(ix) for ix in by_class)):
            picked += [int(ix[rank]) for ix in by_class if rank < len(ix)]
        keep = np.sort(np.asarray(picked[:n]))
        return Dataset(self.name, self.split, self.x[keep], self.y[keep], self.class_names, self.sample_rate_hz,
                       self.lengths[keep], dict(self.meta))


def align_to_window(data: Dataset, window: int) -> Dataset:
    """Uneven series (``data.lengths``) re-aligned to *end* at step ``window``, zeros in front.

    The loaders pad uneven series at the end; a recurrent classifier reads its final state, so a series
    that ends early is followed by padding it must learn to ignore. Ending every series at the window's
    last step puts the padding first. A series longer than ``window`` keeps its last ``window`` steps.
    """
    if window < 1:
        raise WorkbenchError(f"--window must be ≥ 1, got {window}")
    x = np.zeros((data.num_windows, window, data.num_channels), dtype=np.float32)
    lengths = np.minimum(data.lengths, window)
    for i, n in enumerate(lengths):
        start = int(data.lengths[i]) - int(n)
        x[i, window - n:] = data.x[i, start:start + n]
    return Dataset(name=data.name, split=data.split, x=x, y=data.y, class_names=list(data.class_names),
                   sample_rate_hz=data.sample_rate_hz, lengths=lengths,
                   meta={**data.meta, "window_prep": {"window": window, "align": "end"}})


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
    """Load ``split`` ('train' or 'test') of the dataset called ``name``, or of a user's .npz/.csv file
    or folder of WAV files per class (``workbench.data.source`` also records where it came from)."""
    _import_sources()
    if split not in ("train", "test"):
        raise WorkbenchError(f"unknown split {split!r} (use 'train' or 'test')")
    from workbench.data.source import is_path, open_data

    if is_path(name):
        return open_data(name).split(split)
    loader = _LOADERS.get(name.lower())
    if loader is None:
        raise WorkbenchError(f"unknown dataset {name!r}; known: {', '.join(available())}")
    return loader(split)


def _import_sources() -> None:
    # Importing a source module registers its loaders.
    from workbench.data import (  # noqa: F401
        files,
        keywords,
        speech_commands,
        ucr,  # noqa: F401
    )
