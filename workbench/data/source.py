"""A data set with both splits and the record of where it came from; finding a model's data again.

``open_data(spec)`` takes what ``--dataset`` takes: a bundled name (``BasicMotions``, ``keywords``),
a ``.npz``/``.csv`` file, or a folder of WAV files per class. ``from_arrays`` takes numpy arrays (the
Python API). Each gives a ``Data`` whose ``record`` says where it came from:

- ``{"source": "bundled", "name": "BasicMotions"}``;
- ``{"source": "file", "format": "npz"|"csv", "path": <as given>, "abspath": ..., "sha256": <of the
  file, as sha256sum prints it>}``, plus ``"test_file": {"path", "sha256"}`` when the test split is a
  sibling file;
- ``{"source": "wav-folder", "format": "wav", "path", "abspath", "sha256": <wavfolder.folder_digest>,
  "front_end": {...}}``;
- ``{"source": "arrays", "sha256": <of the checked arrays>}``.

A model file keeps that record in ``meta["data"]``, with the windowing it was trained on (T,
channels, normalisation; ``model_record``). ``model_data`` finds that data again: a bundled set by its
name, a file or folder at its path as given, else at its absolute path, and only when its sha256 is the
recorded one; otherwise one line says what was expected and how to point at it. A user file's name is
never looked up among the bundled names.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench.data import Dataset
from workbench.errors import WorkbenchError

NORMALISATION = "per channel, (x - mean) / std of the training split, applied inside the model"
POINT_AT = "pass --dataset PATH (Python: data=)"


@dataclass
class Data:
    """Both splits of one data set (``test`` None when it has none) and where it came from."""

    name: str
    train: Dataset
    test: Dataset | None
    record: dict

    def split(self, split: str) -> Dataset:
        if split not in ("train", "test"):
            raise WorkbenchError(f"unknown split {split!r} (use 'train' or 'test')")
        if split == "test" and self.test is None:
            if self.record.get("source") == "file":
                from workbench.data.files import no_test_split

                raise no_test_split(self.record["path"])
            raise WorkbenchError(f"{describe(self.record)}: no test split")
        return self.train if split == "train" else self.test

    def matches(self, record: dict | None) -> bool:
        """This is the data ``record`` describes (same bundled name, or same content)."""
        if not record:
            return False
        if record.get("source") == "bundled":
            return self.record.get("source") == "bundled" and self.record["name"].lower() == record["name"].lower()
        return "sha256" in record and self.record.get("sha256") == record["sha256"]


def describe(record: dict) -> str:
    return record.get("path") or record.get("name") or f"arrays (sha256 {record.get('sha256', '')[:12]})"


def is_path(spec: str | os.PathLike) -> bool:
    """``spec`` names a file or folder rather than a bundled data set."""
    text = str(spec)
    return Path(text).is_dir() or Path(text).suffix.lower() in (".npz", ".csv") or os.sep in text or "/" in text


def open_data(spec: str | os.PathLike | Data) -> Data:
    """Both splits of a bundled name, a .npz/.csv file or a WAV folder, with their record."""
    if isinstance(spec, Data):
        return spec
    text = str(spec)
    path = Path(text)
    if path.is_dir():
        from workbench.data.wavfolder import FRONT_END, load_folder

        train, test, digest = load_folder(path)
        record = {"source": "wav-folder", "format": "wav", "path": text, "abspath": str(path.resolve()),
                  "sha256": digest, "front_end": dict(FRONT_END)}
        return _with_record(train.name, train, test, record)
    if path.suffix.lower() in (".npz", ".csv"):
        from workbench.data.files import load_splits

        train, test, files = load_splits(path)
        record = {"source": "file", "format": path.suffix.lower()[1:], "path": text,
                  "abspath": str(files[0].resolve()), "sha256": file_sha256(files[0])}
        if len(files) > 1:
            record["test_file"] = {"path": str(files[1]), "sha256": file_sha256(files[1])}
        return _with_record(train.name, train, test, record)
    if is_path(text):
        raise WorkbenchError(f"{text}: no such file or folder (a data set is a bundled name, a .npz or .csv file, "
                             "or a folder of WAV files per class)")
    from workbench.data import load_dataset

    train = load_dataset(text, "train")
    return _with_record(train.name, train, load_dataset(text, "test"), {"source": "bundled", "name": train.name})


def from_arrays(x, y, x_test=None, y_test=None, *, class_names=None, sample_rate_hz: float | None = None,
                lengths=None, lengths_test=None, name: str = "arrays") -> Data:
    """Windows and labels from Python: ``x[N, T, C]`` (or ``[N, T]``), ``y[N]`` class indices or names,
    optionally a test split, class names, a sample rate, true lengths. Checked as a file is."""
    from workbench.data.checks import array_split, checked_splits

    if (x_test is None) != (y_test is None):
        raise WorkbenchError("x_test and y_test must come together")
    names = None if class_names is None else [str(n) for n in class_names]
    test = array_split(x_test, y_test, lengths_test, "x_test", "y_test", "lengths_test") if x_test is not None \
        else None
    train, test_ds = checked_splits(name, array_split(x, y, lengths), test, names, sample_rate_hz,
                                    meta={"source": "arrays"})
    h = hashlib.sha256()
    for ds in (train, test_ds):
        if ds is not None:
            h.update(np.ascontiguousarray(ds.x).tobytes() + ds.y.astype("<i8").tobytes())
    h.update("\0".join(train.class_names).encode())
    return _with_record(name, train, test_ds, {"source": "arrays", "sha256": h.hexdigest()})


def _with_record(name: str, train: Dataset, test: Dataset | None, record: dict) -> Data:
    for ds in (train, test):
        if ds is not None:
            ds.meta["provenance"] = record
    return Data(name, train, test, record)


def file_sha256(path: Path) -> str:
    from workbench.data.wavfolder import file_digest

    return file_digest(path)


def model_record(data: Data, window: int, channels: int) -> dict:
    """What a model file keeps of the data it was trained on (``meta["data"]``)."""
    return {**data.record, "window": window, "channels": channels, "normalisation": NORMALISATION}


def dataset_name(data: Data) -> str | None:
    """``meta["dataset"]``: the bundled name, or a file's or folder's path as given (never a file's stem,
    which could be mistaken for a bundled name); None for arrays."""
    return data.record.get("name") or data.record.get("path")


def model_data(meta: dict, given: str | os.PathLike | Data | None = None, *, model: str = "the model") -> Data:
    """The data a model runs on: ``given`` (``--dataset``, or a Data) if any, else the data its file
    records, found again and checked (module docstring)."""
    if given is not None:
        return open_data(given)
    record = meta.get("data")
    if record is None:                      # a model file from before records: a bundled name at most
        name = meta.get("dataset")
        if not name:
            raise WorkbenchError("the model file does not name its dataset: pass --dataset")
        if is_path(name):
            return open_data(name)
        from workbench.data import available

        if str(name).lower() not in available():
            raise WorkbenchError(f"{model} names data set '{name}', which is not a bundled data set (the model file "
                                 f"predates recorded data paths): {POINT_AT} with the file it was trained on")
        return open_data(name)
    source = record.get("source")
    if source == "bundled":
        return open_data(record["name"])
    if source == "arrays":
        raise WorkbenchError(f"{model} was trained on arrays passed from Python (sha256 {record['sha256'][:12]}): "
                             f"{POINT_AT} with that data")
    return open_data(_locate(record, model))


def _locate(record: dict, model: str) -> str:
    """The recorded file or folder where it is (the path as given, else the absolute one), if its
    content is the recorded content."""
    digest = record["sha256"]
    found = []
    for candidate in dict.fromkeys([record["path"], record.get("abspath", record["path"])]):
        if Path(candidate).exists():
            now = _content_sha256(Path(candidate), record)
            if now == digest:
                return candidate
            found.append((candidate, now))
    kind = "folder" if record.get("source") == "wav-folder" else "file"
    if not found:
        raise WorkbenchError(f"{model} was trained on {record['path']} (sha256 {digest[:12]}), which is not there "
                             f"any more: {POINT_AT} where that {kind} is now")
    path, now = found[0]
    raise WorkbenchError(f"{model} was trained on {record['path']} with sha256 {digest[:12]}, but {path} now has "
                         f"sha256 {now[:12]} (changed since training): {POINT_AT} with the data it was trained on")


def _content_sha256(path: Path, record: dict) -> str:
    if record.get("source") == "wav-folder":
        from workbench.data.wavfolder import folder_digest

        return folder_digest(path) if path.is_dir() else ""
    if not path.is_file():
        return ""
    from workbench.data.files import split_path

    return file_sha256(split_path(path, "train"))


def calibration_data(meta: dict, given: str | os.PathLike | Data | None = None,
                     calibration: str | os.PathLike | Data | None = None, *, model: str = "the model") -> Dataset:
    """Windows to calibrate an int16 plan on: ``calibration``'s training split if given, else the
    training split of the data the model was trained on (``given`` when it is that data)."""
    if calibration is not None:
        return open_data(calibration).train
    record = meta.get("data")
    if given is not None and not isinstance(given, Data):
        given = open_data(given)
    if given is not None and (given.matches(record) or (record is None and not meta.get("dataset"))):
        return given.train
    try:
        return model_data(meta, model=model).train
    except WorkbenchError as exc:
        raise WorkbenchError(f"{exc} (or --calibration FILE to calibrate the int16 plan on other data)") from None
