"""Checks of a user's windows and labels at load time, before any training: one line naming the file,
the first bad position and what is wrong.

The model computes in float32 and normalises its input per channel inside itself
(``(x - mean) * inv_std``, the training split's statistics, ``normalization_stats``). So the values
are checked as the model will see them: after the cast to float32 (a NaN or an infinity in the file;
a finite value that float32 cannot hold, such as 1e39) and after normalisation (a value that becomes
infinite there). Values beyond ``MAX_ABS`` are refused too: training multiplies windows by random
gains, adds jitter scaled by the standard deviation and subtracts the mean, all in float32, and a value
near float32's largest (3e38) overflows there and leaves every weight NaN.

``at(i, t, c)`` and ``label_at(i)`` are the source's way of naming a position (``x[3, 5, 1]`` in an
``.npz``, ``file.csv:7: value 12`` in a ``.csv``), so every message points into the user's file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from workbench.data import Dataset
from workbench.errors import WorkbenchError

FLOAT32_MAX = float(np.finfo(np.float32).max)
MAX_ABS = FLOAT32_MAX / 16      # room for float32 gains, jitter and mean subtraction in training
MAX_CLASSES = 1000
STD_FLOOR = 1e-6                # a channel whose standard deviation is below this is left unscaled

Position = Callable[[int, int, int], str]
LabelPosition = Callable[[int], str]


def check_values(x: np.ndarray, at: Position, what: str) -> np.ndarray:
    """``x[N, T, C]`` as read (any numeric dtype) -> float32, refusing an empty array, NaN, infinities,
    values float32 cannot hold and values beyond ``MAX_ABS``. ``what``: the array's name and file."""
    if x.dtype.kind not in "iuf":
        raise WorkbenchError(f"{what} must be numeric, got dtype {x.dtype}")
    n, t, c = x.shape
    if n == 0 or t == 0 or c == 0:
        empty = "no windows" if n == 0 else ("windows of 0 steps" if t == 0 else "0 channels")
        raise WorkbenchError(f"{what} holds {empty} (shape [{n}, {t}, {c}])")
    if x.dtype.kind == "f":
        bad = ~np.isfinite(x)
        if bad.any():
            i, s, ch = map(int, np.argwhere(bad)[0])
            v = float(x[i, s, ch])
            raise WorkbenchError(f"{at(i, s, ch)} is {'NaN' if np.isnan(v) else 'infinite'}")
    with np.errstate(over="ignore"):
        x32 = x.astype(np.float32)
    over = ~np.isfinite(x32)
    if over.any():
        i, s, ch = map(int, np.argwhere(over)[0])
        raise WorkbenchError(f"{at(i, s, ch)} = {float(x[i, s, ch]):g} overflows float32 (largest {FLOAT32_MAX:.3g})")
    big = np.abs(x32) > MAX_ABS
    if big.any():
        i, s, ch = map(int, np.argwhere(big)[0])
        raise WorkbenchError(f"{at(i, s, ch)} = {float(x32[i, s, ch]):g} is out of range: values must lie within "
                             f"±{MAX_ABS:.2g} (float32's largest / 16), the room float32 training needs")
    return x32


def normalization_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of windows ``x[N, T, C]`` (float64; a channel that
    barely varies keeps std 1): what a model's ``Normalize`` layer is set to from its training split."""
    flat = x.reshape(-1, x.shape[-1]).astype(np.float64)
    mean, std = flat.mean(axis=0), flat.std(axis=0)
    std[std < STD_FLOOR] = 1.0
    return mean, std


def check_normalised(x32: np.ndarray, mean: np.ndarray, std: np.ndarray, at: Position) -> None:
    """The windows after the model's normalisation, in its float32 arithmetic, stay finite."""
    m32, inv32 = mean.astype(np.float32), (1.0 / std).astype(np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        z = (x32 - m32) * inv32
    bad = ~np.isfinite(z)
    if bad.any():
        i, s, c = map(int, np.argwhere(bad)[0])
        raise WorkbenchError(f"{at(i, s, c)} = {float(x32[i, s, c]):g} overflows float32 after normalisation by the "
                             f"training split (channel {c}: mean {mean[c]:g}, std {std[c]:g})")


def check_class_count(count: int, train_windows: int, what: str) -> None:
    if count > MAX_CLASSES or count > train_windows:
        raise WorkbenchError(f"{what}: {count:,} classes for {train_windows:,} training windows: labels must be class "
                             f"indices 0..K-1 or class names (at most {MAX_CLASSES:,} classes, and no more than "
                             "training windows)")


def check_class_indices(labels: np.ndarray, names: list[str] | None, label_at: LabelPosition) -> None:
    """Numeric labels must be class indices: refuse the first NaN, fraction, negative number, or one
    beyond ``names`` (when the classes are named)."""
    values = labels.astype(np.float64)
    ok = np.isfinite(values) & (values == np.round(values)) & (values >= 0)
    if ok.all() and names is not None and values.max() >= len(names):
        i = int(np.flatnonzero(values >= len(names))[0])
        raise WorkbenchError(f"{label_at(i)} = {labels[i]} is not a class index: class_names names {len(names)} "
                             f"classes (0..{len(names) - 1})")
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise WorkbenchError(f"{label_at(i)} = {labels[i]} is not a class index (an integer 0..K-1) or a class name")


def class_names_of(labels: np.ndarray, names: list[str], label_at: LabelPosition) -> np.ndarray:
    """String labels -> int64 indices into ``names``, refusing the first empty or unknown one."""
    lookup = {n: i for i, n in enumerate(names)}
    out = np.empty(len(labels), dtype=np.int64)
    for i, v in enumerate(labels):
        s = str(v)
        if not s.strip():
            raise WorkbenchError(f"{label_at(i)} is an empty label")
        if s not in lookup:
            raise WorkbenchError(f"{label_at(i)} = {s!r} is not in class_names")
        out[i] = lookup[s]
    return out


@dataclass
class Split:
    """One split as a source read it, before the checks: windows ``x[N, T, C]`` in the file's dtype,
    labels in the file's type, optional true lengths, and how to name positions in it."""

    x: np.ndarray
    labels: np.ndarray
    lengths: np.ndarray | None
    what: str                    # "walk.npz: x_test", "walk_test.csv": what the messages call the windows
    at: Position
    label_at: LabelPosition
    labels_what: str = "labels"  # "walk.npz: y": what the messages call the labels


def array_split(x, y, lengths, xk: str = "x", yk: str = "y", lk: str = "lengths", where: str = "") -> Split:
    """A split from arrays (an ``.npz``'s, or Python's): ``x[N, T, C]`` or ``[N, T]`` (one channel),
    ``y[N]``, optional ``lengths[N]``; ``xk``/``yk``/``lk`` name them and ``where`` (``"walk.npz: "``)
    their file in the messages."""
    x, y = np.asarray(x), np.asarray(y)
    if x.dtype.kind not in "iuf":
        raise WorkbenchError(f"{where}{xk} must be numeric, got dtype {x.dtype}")
    univariate = x.ndim == 2
    if univariate:
        x = x[:, :, None]
    if x.ndim != 3:
        raise WorkbenchError(f"{where}{xk} must be [N, T, C] or [N, T], got shape {list(np.shape(x))}")
    if y.ndim != 1 or len(y) != len(x):
        raise WorkbenchError(f"{where}{yk} must be [N] with N = {len(x)} (from {xk}), got shape {list(y.shape)}")
    if lengths is not None:
        lengths = np.asarray(lengths)
        if lengths.shape != (len(x),) or lengths.dtype.kind not in "iu" or np.any(lengths < 1) \
                or np.any(lengths > x.shape[1]):
            raise WorkbenchError(f"{where}{lk} must be [N] integers in 1..T")

    def at(i: int, t: int, c: int) -> str:
        return f"{where}{xk}[{i}, {t}]" if univariate else f"{where}{xk}[{i}, {t}, {c}]"

    return Split(x, y, lengths, f"{where}{xk}", at, lambda i: f"{where}{yk}[{i}]", f"{where}{yk}")


def checked_splits(name: str, train: Split, test: Split | None, class_names: list[str] | None = None,
                   sample_rate_hz: float | None = None, meta: dict | None = None) -> tuple[Dataset, Dataset | None]:
    """The two splits as Datasets once every check above holds: values, shapes between the splits,
    labels (one class list for both), the number of classes, and the normalised values."""
    splits = [s for s in (train, test) if s is not None]
    xs = [check_values(s.x, s.at, s.what) for s in splits]
    if len(xs) == 2 and xs[1].shape[1:] != xs[0].shape[1:]:
        (_, t1, c1), (_, t0, c0) = xs[1].shape, xs[0].shape
        raise WorkbenchError(f"{test.what}: windows are [T={t1}, C={c1}] but the training windows are "
                             f"[T={t0}, C={c0}]: both splits need the same steps and channels")
    names, ys = _labels(splits, class_names)
    mean, std = normalization_stats(xs[0])
    for s, x in zip(splits, xs):
        check_normalised(x, mean, std, s.at)
    out = [Dataset(name=name, split=split, x=x, y=y, class_names=names, sample_rate_hz=sample_rate_hz,
                   lengths=s.lengths, meta=dict(meta or {}))
           for split, s, x, y in zip(("train", "test"), splits, xs, ys)]
    return out[0], (out[1] if len(out) > 1 else None)


def _labels(splits: list[Split], names: list[str] | None) -> tuple[list[str], list[np.ndarray]]:
    """One class list for every split, and each split's labels as indices into it."""
    kinds = {s.labels.dtype.kind for s in splits}
    train_windows = len(splits[0].labels)
    what = splits[0].labels_what
    if kinds <= {"i", "u", "f"}:
        for s in splits:
            check_class_indices(s.labels, names, s.label_at)
        count = len(names) if names is not None else int(max(float(s.labels.max()) for s in splits)) + 1
        check_class_count(count, train_windows, what)
        return names or [str(i) for i in range(count)], [s.labels.astype(np.int64) for s in splits]
    if not kinds <= {"U", "S"}:
        got = ", ".join(sorted({s.labels.dtype.name for s in splits}))
        raise WorkbenchError(f"{what} must be integers (class indices) or strings (class names), got {got}")
    if names is None:
        seen = sorted({str(v) for s in splits for v in s.labels})
        numeric = all(re.fullmatch(r"[+-]?\d+", v) for v in seen)
        names = sorted(seen, key=int) if numeric else seen
    check_class_count(len(names), train_windows, what)
    return names, [class_names_of(s.labels, names, s.label_at) for s in splits]
