"""A folder of WAV files per class, ``<root>/<class>/*.wav`` (the layout of Speech Commands and most
keyword sets), through the keyword front-end: 32 log-mel energies per 10 ms frame (``features``).

- Classes: the sub-folders holding at least one ``.wav``, sorted by name; folders whose name starts
  with ``_`` or ``.`` are not classes (``_background_noise_``).
- Clips: 16-bit PCM mono at any rate (resampled to 16 kHz), zero-padded at the end or cut to one
  second, so every window is 99 frames × 32 mel bands (``features.CLIP_FRAMES``, ``features.N_MELS``).
- Splits: the clips ``<root>/testing_list.txt`` lists (one ``<class>/<file>.wav`` per line, as in
  Speech Commands) are the test split; without that file, every fifth clip of each class in name
  order (the 5th, 10th, ...) is.
- The folder's ``sha256`` (``folder_digest``): sha256 of the lines ``<class>/<file>.wav\\0<sha256 of
  the file>\\n`` of every clip in that order, then of ``testing_list.txt`` if there is one. A model
  file records it; the features are cached under it, so a changed clip is read again.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from workbench.data import Dataset, features
from workbench.data.checks import Split, checked_splits
from workbench.data.files import save_npz_atomic
from workbench.errors import WorkbenchError

CACHE_FOLDER = "wav-folder-v1"
TEST_LIST = "testing_list.txt"
TEST_EVERY = 5
FRONT_END = {"features": "log-mel", "sample_rate_hz": features.SAMPLE_RATE, "clip_samples": features.CLIP_SAMPLES,
             "n_mels": features.N_MELS, "win": features.WIN_LENGTH, "hop": features.HOP_LENGTH, "n_fft": features.N_FFT}


def scan(root: Path) -> tuple[list[str], list[str]]:
    """(class names, every clip as ``<class>/<file>.wav``, sorted); checks the layout."""
    if not root.is_dir():
        raise WorkbenchError(f"{root}: no such folder")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith(("_", "."))
                     and any(f.suffix.lower() == ".wav" for f in d.iterdir()))
    if not classes:
        raise WorkbenchError(f"{root}: no class folders with .wav files (expected {root}/<class>/*.wav)")
    clips = [f"{c}/{f.name}" for c in classes for f in sorted((root / c).iterdir())
             if f.suffix.lower() == ".wav" and f.is_file()]
    return classes, clips


def folder_digest(root: Path, clips: list[str] | None = None) -> str:
    """The folder's content hash (module docstring)."""
    clips = scan(root)[1] if clips is None else clips
    h = hashlib.sha256()
    for rel in clips:
        h.update(f"{rel}\0{file_digest(root / rel)}\n".encode())
    if (root / TEST_LIST).is_file():
        h.update((root / TEST_LIST).read_bytes())
    return h.hexdigest()


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _test_clips(root: Path, clips: list[str]) -> set[str]:
    listed = root / TEST_LIST
    if listed.is_file():
        entries = {ln.strip() for ln in listed.read_text(encoding="utf-8").splitlines() if ln.strip()}
        unknown = sorted(entries - set(clips))
        if unknown:
            raise WorkbenchError(f"{listed}: lists {unknown[0]}, which is not a clip of a class folder")
        return entries
    by_class: dict[str, list[str]] = {}
    for rel in clips:
        by_class.setdefault(rel.split("/", 1)[0], []).append(rel)
    return {rel for group in by_class.values() for rel in group[TEST_EVERY - 1::TEST_EVERY]}


def _features(root: Path, clips: list[str]) -> np.ndarray:
    from workbench.data.speech_commands import read_wav

    out = np.empty((len(clips), features.CLIP_FRAMES, features.N_MELS), dtype=np.float32)
    for start in range(0, len(clips), 256):
        batch = clips[start:start + 256]
        audio = np.stack([features.fit_clip(read_wav(root / rel)) for rel in batch])
        out[start:start + len(batch)] = features.log_mel_batch(audio)
    return out


def load_folder(path: str | Path) -> tuple[Dataset, Dataset | None, str]:
    """Both splits of a WAV folder (the test split None if no clip falls in it) and its digest."""
    from workbench.paths import cache_dir

    root = Path(path)
    classes, clips = scan(root)
    digest = folder_digest(root, clips)
    cache = cache_dir() / CACHE_FOLDER / f"{digest[:16]}.npz"
    x = None
    if cache.is_file():
        try:
            with np.load(cache, allow_pickle=False) as z:
                if list(z["clips"]) == clips:
                    x = z["x"]
        except (OSError, ValueError, KeyError):
            x = None          # a damaged cache is rebuilt
    if x is None:
        x = _features(root, clips)
        save_npz_atomic(cache, {"x": x, "clips": np.array(clips)})
    y = np.array([classes.index(rel.split("/", 1)[0]) for rel in clips], dtype=np.int64)
    in_test = _test_clips(root, clips)
    test = np.array([rel in in_test for rel in clips])

    def split(mask: np.ndarray, what: str) -> Split | None:
        if not mask.any():
            return None
        rels = [c for c, m in zip(clips, mask) if m]
        return Split(x[mask], y[mask], None, what, lambda i, t, c: f"{root / rels[i]}: frame {t}, mel band {c}",
                     lambda i: f"{root / rels[i]}: class", f"{root}: classes")

    train_split = split(~test, f"{root}: training clips")
    if train_split is None:
        raise WorkbenchError(f"{root}: every clip is in the test split; nothing to train on")
    train, test_ds = checked_splits(root.name, train_split, split(test, f"{root}: test clips"), classes,
                                    features.SAMPLE_RATE / features.HOP_LENGTH,
                                    meta={"source": "WAV folder, log-mel features", "path": str(root)})
    return train, test_ds, digest
