"""Data files a user brings: ``.npz`` and ``.csv`` windows, and the atomic writers the caches use.

``.npz`` (``numpy.savez``; no pickled objects):

- ``x``: float windows ``[N, T, C]``, or ``[N, T]`` for a univariate series (read as C = 1).
- ``y``: ``[N]`` labels: integer class indices ``0..K-1``, or strings (class names).
- ``class_names`` (optional): ``[K]`` strings. With integer ``y`` it names the indices (default
  ``"0".."K-1"``); with string ``y`` it fixes the class order (default: sorted).
- ``x_test``, ``y_test`` (optional): the test split in the same file.
- ``lengths``, ``lengths_test`` (optional): true lengths of end-padded uneven windows.
- ``sample_rate_hz`` (optional): a scalar.

``.csv`` (text, one window per line):

- line 1 is required and reads ``# channels=C``; it may add ``sample_rate_hz=R`` (space separated).
- an optional header line whose first field is ``label`` (the rest of it is ignored).
- every other non-blank line not starting with ``#``: ``label,v0,v1,...`` with the window's values
  time-major: ``t0c0,t0c1,...,t0c{C-1},t1c0,...``; all lines hold the same number of values, a
  multiple of C. Labels are text (no commas); classes are ordered numerically if every label is an
  integer, else alphabetically.

Splits: a file holds the train split. The test split is ``x_test``/``y_test`` inside an ``.npz``, or
else a sibling file: ``walk_train.csv`` ↔ ``walk_test.csv``, and ``walk.csv`` → ``walk_test.csv``.
Both splits share one class list, built from both files.
"""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

import numpy as np

from workbench.data import Dataset
from workbench.data.checks import Split, array_split, checked_splits
from workbench.errors import WorkbenchError

SUFFIXES = (".npz", ".csv")


def load_file(path: str, split: str) -> Dataset:
    """Load ``split`` ('train' or 'test') from a user's ``.npz`` or ``.csv`` file (format above)."""
    train, test, _ = load_splits(path)
    if split == "test" and test is None:
        raise no_test_split(path)
    return train if split == "train" else test


def no_test_split(path: str | os.PathLike) -> WorkbenchError:
    p = Path(path)
    return WorkbenchError(f"{split_path(p, 'train')}: no test split (add x_test/y_test, or a file named "
                          f"{split_path(p, 'test').name})")


def load_splits(path: str | os.PathLike) -> tuple[Dataset, Dataset | None, list[Path]]:
    """Both splits of a user's file (the test split None when there is none), checked
    (``workbench.data.checks``), and the files they were read from (train first)."""
    p = Path(path)
    if p.suffix.lower() not in SUFFIXES:
        raise WorkbenchError(f"{p}: not a data file (use .npz or .csv)")
    train_path = split_path(p, "train")
    if not train_path.is_file():
        raise WorkbenchError(f"{train_path}: file not found")
    reader = _read_npz if p.suffix.lower() == ".npz" else _read_csv
    parts = reader(train_path)
    files = [train_path]
    if parts.get("test") is None:
        test_path = split_path(p, "test")
        if test_path.is_file() and test_path != train_path:
            parts["test"] = reader(test_path)["train"]
            files.append(test_path)
    train, test = checked_splits(train_path.stem, parts["train"], parts.get("test"), parts.get("class_names"),
                                 parts.get("sample_rate_hz"), meta={"source": "user file", "path": str(train_path)})
    return train, test, files


def split_path(path: Path, split: str) -> Path:
    """The file that holds ``split`` under the sibling rule in the module docstring."""
    m = re.match(r"^(.*)_(train|test)$", path.stem, flags=re.IGNORECASE)
    if m:
        return path.with_name(f"{m.group(1)}_{split}{path.suffix}")
    return path if split == "train" else path.with_name(f"{path.stem}_test{path.suffix}")


# --- .npz -----------------------------------------------------------------------------------------

def _read_npz(path: Path) -> dict:
    # np.load takes a non-zip file for a pickle and would blame "pickled data": say what it is.
    if not zipfile.is_zipfile(path):
        raise WorkbenchError(f"{path}: not a readable .npz (not a zip archive written by numpy.savez)")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except ValueError as exc:
        if "pickle" in str(exc):
            raise WorkbenchError(f"{path}: holds Python objects; save plain numeric or string arrays") from None
        raise WorkbenchError(f"{path}: not a readable .npz ({exc})") from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise WorkbenchError(f"{path}: not a readable .npz ({type(exc).__name__})") from None
    for key in ("x", "y"):
        if key not in arrays:
            raise WorkbenchError(f"{path}: missing array '{key}' (has: {', '.join(sorted(arrays)) or 'nothing'})")
    parts: dict = {"train": _npz_split(path, arrays, "x", "y", "lengths"), "test": None}
    if ("x_test" in arrays) != ("y_test" in arrays):
        raise WorkbenchError(f"{path}: x_test and y_test must come together")
    if "x_test" in arrays:
        parts["test"] = _npz_split(path, arrays, "x_test", "y_test", "lengths_test")
    if "class_names" in arrays:
        names = arrays["class_names"]
        if names.ndim != 1 or names.dtype.kind not in "US":
            raise WorkbenchError(f"{path}: class_names must be a 1-D array of strings")
        parts["class_names"] = [str(n) for n in names]
    if "sample_rate_hz" in arrays:
        rate = arrays["sample_rate_hz"]
        if rate.size != 1 or rate.dtype.kind not in "iuf" or not 0 < float(rate.ravel()[0]) < float("inf"):
            raise WorkbenchError(f"{path}: sample_rate_hz must be one positive number")
        parts["sample_rate_hz"] = float(rate.ravel()[0])
    return parts


def _npz_split(path: Path, arrays: dict, xk: str, yk: str, lk: str) -> Split:
    return array_split(arrays[xk], arrays[yk], arrays.get(lk), xk, yk, lk, where=f"{path}: ")


# --- .csv -----------------------------------------------------------------------------------------

_DIRECTIVE = re.compile(r"^#\s*channels\s*=\s*(\d+)((?:\s+\w+\s*=\s*\S+)*)\s*$")


def _read_csv(path: Path) -> dict:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise WorkbenchError(f"{path}: cannot read ({type(exc).__name__})") from None
    m = _DIRECTIVE.match(lines[0].strip()) if lines else None
    if not m:
        raise WorkbenchError(f"{path}:1: the first line must be '# channels=C' (e.g. '# channels=3')")
    channels = int(m.group(1))
    if channels < 1:
        raise WorkbenchError(f"{path}:1: channels must be at least 1")
    options = dict(re.findall(r"(\w+)\s*=\s*(\S+)", m.group(2)))
    parts: dict = {"test": None}
    if "sample_rate_hz" in options:
        try:
            rate = float(options.pop("sample_rate_hz"))
        except ValueError:
            rate = float("nan")
        if not 0 < rate < float("inf"):
            raise WorkbenchError(f"{path}:1: sample_rate_hz must be one positive number")
        parts["sample_rate_hz"] = rate
    if options:
        raise WorkbenchError(f"{path}:1: unknown setting {', '.join(options)} (known: channels, sample_rate_hz)")
    labels, rows, linenos, width = [], [], [], None
    for lineno, raw in enumerate(lines[1:], 2):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = [f.strip() for f in line.split(",")]
        if not rows and not labels and fields[0].lower() == "label":
            continue  # header
        values = fields[1:]
        if not fields[0]:
            raise WorkbenchError(f"{path}:{lineno}: empty label")
        if width is None:
            width = len(values)
            if width == 0 or width % channels:
                raise WorkbenchError(f"{path}:{lineno}: {width} values is not a positive multiple of "
                                     f"channels={channels}")
        elif len(values) != width:
            raise WorkbenchError(f"{path}:{lineno}: {len(values)} values, expected {width} like the first row")
        try:
            rows.append([float(v) for v in values])
        except ValueError:
            bad = next(i for i, v in enumerate(values) if not _is_float(v))
            raise WorkbenchError(f"{path}:{lineno}: value {bad + 2} ({values[bad]!r}) is not a number") from None
        labels.append(fields[0])
        linenos.append(lineno)
    if not rows:
        raise WorkbenchError(f"{path}: no data rows")
    x = np.array(rows, dtype=np.float64).reshape(len(rows), -1, channels)

    def at(i: int, t: int, c: int) -> str:     # the value's field on its line (the label is field 1)
        return f"{path}:{linenos[i]}: value {2 + t * channels + c}"

    parts["train"] = Split(x, np.array(labels), None, str(path), at, lambda i: f"{path}:{linenos[i]}: label",
                           f"{path}: labels")
    return parts


def _is_float(v: str) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return False


# --- atomic writers (for the caches) ------------------------------------------------------------------

def save_npz_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez`` to a temporary file then rename: a reader never sees a half-written cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
