"""UCR/UEA time-series archives in the ``.ts`` format, read from the files the aeon wheel ships.

aeon itself is never imported: its wheel is only a carrier of the data files, found through
``importlib.util.find_spec``. The ``.ts`` format: ``#`` comments, ``@key value`` header lines up to
``@data``, then one case per line: dimensions separated by ``:``, values by ``,``, the class label last.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

from workbench.data import Dataset, register
from workbench.errors import WorkbenchError

# Sample rates where the archive documents them (BasicMotions: "sampled once every tenth of a second").
SAMPLE_RATES = {"BasicMotions": 10.0}


def aeon_data_dir() -> Path:
    spec = importlib.util.find_spec("aeon")
    if spec is None or not spec.submodule_search_locations:
        raise WorkbenchError("the UCR/UEA files come from the aeon wheel: pip install --no-deps aeon==1.6.0")
    return Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"


def archive_names() -> list[str]:
    """Every classification archive the wheel ships as a TRAIN/TEST pair of ``.ts`` files."""
    root = aeon_data_dir()
    return sorted(p.name for p in root.iterdir()
                  if (p / f"{p.name}_TRAIN.ts").is_file() and (p / f"{p.name}_TEST.ts").is_file()
                  and _declares_classes(p / f"{p.name}_TRAIN.ts"))


def _declares_classes(path: Path) -> bool:
    """Regression archives (no ``@classLabel true``) share the folder; they are not classification sets."""
    with path.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            low = line.strip().lower()
            if low.startswith("@classlabel"):
                return low.split()[1:2] == ["true"]
            if low.startswith("@data"):
                return False
    return False


def parse_ts(text: str, source: str = "<ts>") -> tuple[list[np.ndarray], list[str], list[str]]:
    """Parse ``.ts`` text into (series list of [T_i, C] arrays, labels, declared class names)."""
    header: dict[str, str] = {}
    series: list[np.ndarray] = []
    labels: list[str] = []
    in_data = False
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            if not line.startswith("@"):
                raise WorkbenchError(f"{source}:{lineno}: expected a @header line before @data")
            key, _, value = line[1:].partition(" ")
            key = key.lower()
            if key == "data":
                in_data = True
            else:
                header[key] = value.strip()
            continue
        parts = line.split(":")
        if len(parts) < 2:
            raise WorkbenchError(f"{source}:{lineno}: a case needs at least one dimension and a label")
        labels.append(parts[-1].strip())
        try:
            dims = [np.array([float(v) if v not in ("?", "NaN") else np.nan for v in p.split(",")],
                             dtype=np.float64) for p in parts[:-1]]
        except ValueError as exc:
            raise WorkbenchError(f"{source}:{lineno}: bad number ({exc})") from None
        length = len(dims[0])
        if any(len(d) != length for d in dims):
            raise WorkbenchError(f"{source}:{lineno}: dimensions of one case differ in length")
        series.append(np.stack(dims, axis=1))
    if not in_data:
        raise WorkbenchError(f"{source}: no @data section")
    if not series:
        raise WorkbenchError(f"{source}: no cases after @data")
    class_line = header.get("classlabel", "")
    tokens = class_line.split()
    declared = tokens[1:] if tokens and tokens[0].lower() == "true" else []
    channels = {s.shape[1] for s in series}
    if len(channels) != 1:
        raise WorkbenchError(f"{source}: cases have different numbers of dimensions {sorted(channels)}")
    return series, labels, declared


def pad_series(series: list[np.ndarray], length: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Stack uneven series into [N, T, C] padded at the end with zeros; NaNs become 0."""
    lengths = np.array([len(s) for s in series], dtype=np.int64)
    t = int(length if length is not None else lengths.max())
    c = series[0].shape[1]
    x = np.zeros((len(series), t, c), dtype=np.float32)
    for i, s in enumerate(series):
        n = min(len(s), t)
        x[i, :n] = np.nan_to_num(s[:n])
    return x, np.minimum(lengths, t)


@lru_cache(maxsize=None)
def _load_pair(name: str) -> tuple[Dataset, Dataset]:
    root = aeon_data_dir() / name
    parsed = {}
    for split in ("train", "test"):
        path = root / f"{name}_{split.upper()}.ts"
        if not path.is_file():
            raise WorkbenchError(f"{path}: not found in the aeon wheel")
        parsed[split] = parse_ts(path.read_text(encoding="utf-8", errors="replace"), str(path))
    declared = parsed["train"][2]
    seen = sorted(set(parsed["train"][1]) | set(parsed["test"][1]))
    class_names = declared if declared and set(seen) <= set(declared) else seen
    index = {c: i for i, c in enumerate(class_names)}
    # Both splits share one padded length so a model trained on one runs on the other.
    t = max(max(len(s) for s in parsed[sp][0]) for sp in parsed)
    out = []
    for split in ("train", "test"):
        series, labels, _ = parsed[split]
        x, lengths = pad_series(series, t)
        y = np.array([index[l] for l in labels], dtype=np.int64)
        out.append(Dataset(name=name, split=split, x=x, y=y, class_names=list(class_names),
                           sample_rate_hz=SAMPLE_RATES.get(name), lengths=lengths,
                           meta={"source": "UCR/UEA archive (aeon wheel)", "path": str(root)}))
    return out[0], out[1]


def load_ucr(name: str, split: str) -> Dataset:
    train, test = _load_pair(name)
    return train if split == "train" else test


def _register_all() -> None:
    try:
        names = archive_names()
    except WorkbenchError:
        names = ["BasicMotions"]  # registered anyway so the error says how to get the data
    for n in names:
        register(n)(lambda split, _n=n: load_ucr(_n, split))


_register_all()
