"""A local Google Speech Commands folder → the 12-class keyword task with 32 × 99 log-mel features.

Layout (as Google ships it):

    <root>/<word>/<speaker>_nohash_<n>.wav        16-bit PCM mono 16 kHz, at most one second
    <root>/_background_noise_/*.wav               long noise recordings
    <root>/validation_list.txt, testing_list.txt  one ``<word>/<file>.wav`` per line

The folder is ``root=`` or ``$WORKBENCH_SPEECH_COMMANDS``. Classes are those of the synthetic
``keywords`` set: the ten keywords, ``unknown`` (every other word folder) and ``silence``.

Splits: ``test`` is ``testing_list.txt``; ``train`` is every other clip, *including* the validation
list (``meta["validation"]`` marks those rows, so a trainer can hold them out). Clips shorter than a
second are zero-padded at the end (the dataset's convention).

Balance, as the usual 12-class setup does it: ``unknown`` is a seeded subsample of the other words
with as many clips as the average keyword class of the split, and ``silence`` has that many clips
too, cut at seeded random offsets from the background-noise files at a random gain in [0.1, 1].
Silence never leaks between splits: the first 80 % of every noise file feeds train, the last 20 % test.

Features are cached under ``cache_dir()/speech_commands-v1`` keyed by the folder's path and every
file's size and modification time, so the 100k clips are read once.
"""

from __future__ import annotations

import hashlib
import json
import os
import wave
from pathlib import Path

import numpy as np

from workbench.data import Dataset, features, register
from workbench.data.files import save_npz_atomic
from workbench.data.keywords import KEYWORDS, SILENCE, UNKNOWN
from workbench.errors import WorkbenchError
from workbench.paths import cache_dir

ENV_VAR = "WORKBENCH_SPEECH_COMMANDS"
LOADER_VERSION = 1
CACHE_FOLDER = "speech_commands-v1"
NOISE_DIR = "_background_noise_"
CLASS_NAMES = [*KEYWORDS, UNKNOWN, SILENCE]
TRAIN_NOISE_FRACTION = 0.8
SILENCE_GAIN = (0.1, 1.0)
_CHUNK = 512  # clips read and featurised at a time (bounds memory for the full 105k-clip set)


def resolve_root(root: str | os.PathLike | None = None) -> Path:
    value = root if root is not None else os.environ.get(ENV_VAR)
    if not value:
        raise WorkbenchError(f"no Speech Commands folder: set {ENV_VAR}=<folder> (it holds yes/, no/, ..., "
                             "_background_noise_/, testing_list.txt)")
    path = Path(value).expanduser()
    if not path.is_dir():
        raise WorkbenchError(f"Speech Commands folder not found: {path}")
    return path.resolve()


def read_wav(path: Path) -> np.ndarray:
    """A 16-bit PCM mono WAV as float64 at 16 kHz (other rates are resampled)."""
    try:
        with wave.open(str(path), "rb") as w:
            if w.getsampwidth() != 2 or w.getnchannels() != 1:
                raise WorkbenchError(f"{path}: expected 16-bit PCM mono, got {8 * w.getsampwidth()}-bit "
                                     f"with {w.getnchannels()} channels")
            rate, raw = w.getframerate(), w.readframes(w.getnframes())
    except (wave.Error, EOFError, OSError) as exc:
        raise WorkbenchError(f"{path}: not a readable WAV file ({exc})") from None
    audio = features.pcm16_to_float(raw)
    return audio if rate == features.SAMPLE_RATE else features.resample(audio, rate, features.SAMPLE_RATE)


# --- folder scan ------------------------------------------------------------------------------------

def scan(root: Path) -> tuple[list[str], list[Path]]:
    """Every clip (as ``word/file.wav``, sorted) and every background-noise file; checks the layout."""
    for name in ("testing_list.txt", "validation_list.txt"):
        if not (root / name).is_file():
            raise WorkbenchError(f"{root}: not a Speech Commands folder (no {name})")
    if not (root / NOISE_DIR).is_dir():
        raise WorkbenchError(f"{root}: not a Speech Commands folder (no {NOISE_DIR}/)")
    missing = [k for k in KEYWORDS if not (root / k).is_dir()]
    if missing:
        raise WorkbenchError(f"{root}: no folder for keyword(s) {', '.join(missing)}")
    clips = sorted(f"{d.name}/{f.name}" for d in root.iterdir() if d.is_dir() and d.name != NOISE_DIR
                   and not d.name.startswith(".") for f in d.iterdir() if f.suffix.lower() == ".wav")
    noise = sorted(p for p in (root / NOISE_DIR).iterdir() if p.suffix.lower() == ".wav")
    if not noise:
        raise WorkbenchError(f"{root}/{NOISE_DIR}: no .wav files (needed for the silence class)")
    return clips, noise


def read_list(root: Path, name: str, clips: set[str]) -> set[str]:
    entries = {ln.strip() for ln in (root / name).read_text(encoding="utf-8").splitlines() if ln.strip()}
    unknown = sorted(entries - clips)
    if unknown:
        raise WorkbenchError(f"{root / name}: lists {unknown[0]}, which is not in the folder"
                             + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""))
    return entries


def label_of(rel: str) -> int:
    word = rel.split("/", 1)[0]
    return KEYWORDS.index(word) if word in KEYWORDS else CLASS_NAMES.index(UNKNOWN)


def speaker_of(rel: str) -> str:
    return rel.split("/", 1)[1].split("_nohash_", 1)[0]


# --- assembling a split -----------------------------------------------------------------------------

def _select(rels: list[str], rng: np.random.Generator) -> tuple[list[str], int]:
    """Keyword clips all kept, unknown subsampled to the mean keyword count; returns (clips, that count)."""
    labels = np.array([label_of(r) for r in rels], dtype=np.int64)
    per_class = int(round(np.mean([np.sum(labels == k) for k in range(len(KEYWORDS))]))) if rels else 0
    unknown = np.nonzero(labels == len(KEYWORDS))[0]
    keep_unknown = np.sort(rng.permutation(unknown)[:per_class])
    keep = np.sort(np.concatenate([np.nonzero(labels < len(KEYWORDS))[0], keep_unknown]))
    return [rels[i] for i in keep], per_class


def _silence(noise: list[np.ndarray], split: str, count: int, rng: np.random.Generator, source: Path) -> np.ndarray:
    """``count`` one-second windows from this split's part of each noise recording, random gain."""
    n = features.CLIP_SAMPLES
    regions = []
    for audio in noise:
        cut = int(len(audio) * TRAIN_NOISE_FRACTION)
        seg = audio[:cut] if split == "train" else audio[cut:]
        if len(seg) >= n:
            regions.append(seg)
    if count and not regions:
        raise WorkbenchError(f"{source}: background-noise files too short to cut one-second {split} silence "
                             f"(each needs ≥ {n / features.SAMPLE_RATE / (1 - TRAIN_NOISE_FRACTION):.0f} s)")
    out = np.zeros((count, n))
    weights = np.array([len(r) - n + 1 for r in regions], dtype=np.float64)
    which = rng.choice(len(regions), size=count, p=weights / weights.sum()) if count else []
    for i, r in enumerate(which):
        start = int(rng.integers(len(regions[r]) - n + 1))
        out[i] = regions[r][start: start + n] * rng.uniform(*SILENCE_GAIN)
    return out


def _featurise(root: Path, rels: list[str]) -> np.ndarray:
    from rich.progress import Progress

    x = np.empty((len(rels), features.CLIP_FRAMES, features.N_MELS), dtype=np.float32)
    with Progress(disable=len(rels) < 5000) as bar:
        task = bar.add_task("reading Speech Commands", total=len(rels))
        for start in range(0, len(rels), _CHUNK):
            batch = rels[start:start + _CHUNK]
            audio = np.stack([features.fit_clip(read_wav(root / r)) for r in batch])
            x[start:start + len(batch)] = features.log_mel_batch(audio)
            bar.advance(task, len(batch))
    return x


def build(root: Path, seed: int = 0) -> dict[str, np.ndarray]:
    """Features, labels and per-clip facts for both splits (rows: train then test)."""
    clips, noise_files = scan(root)
    clip_set = set(clips)
    test_list = read_list(root, "testing_list.txt", clip_set)
    val_list = read_list(root, "validation_list.txt", clip_set)
    noise = [read_wav(p) for p in noise_files]
    parts = []
    for s, split in enumerate(("train", "test")):
        rng = np.random.default_rng([seed, s])
        rels = [c for c in clips if (c in test_list) == (split == "test")]
        rels, per_class = _select(rels, rng)
        x = np.concatenate([_featurise(root, rels),
                            features.log_mel_batch(_silence(noise, split, per_class, rng, root / NOISE_DIR))])
        n_sil = len(x) - len(rels)
        parts.append({
            "x": x,
            "y": np.array([label_of(r) for r in rels] + [CLASS_NAMES.index(SILENCE)] * n_sil, dtype=np.int64),
            "split": np.array([split] * len(x)),
            "path": np.array(rels + [f"{NOISE_DIR}/"] * n_sil),
            "speaker": np.array([speaker_of(r) for r in rels] + [""] * n_sil),
            "validation": np.array([r in val_list for r in rels] + [False] * n_sil),
        })
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _cache_key(root: Path, seed: int) -> str:
    h = hashlib.sha256(json.dumps({"v": LOADER_VERSION, "root": str(root), "seed": seed}).encode())
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            st = os.stat(os.path.join(dirpath, name))
            h.update(f"{os.path.relpath(os.path.join(dirpath, name), root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def load_arrays(root: Path, seed: int = 0) -> dict[str, np.ndarray]:
    npz = cache_dir() / CACHE_FOLDER / f"{_cache_key(root, seed)}.npz"
    if npz.is_file():
        try:
            with np.load(npz, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError):
            pass  # a damaged cache is rebuilt below
    arrays = build(root, seed)
    save_npz_atomic(npz, arrays)
    return arrays


def load_speech_commands(split: str, root: str | os.PathLike | None = None, seed: int = 0) -> Dataset:
    path = resolve_root(root)
    arrays = load_arrays(path, seed)
    mask = arrays["split"] == split
    return Dataset(name="speech_commands", split=split, x=arrays["x"][mask], y=arrays["y"][mask],
                   class_names=list(CLASS_NAMES), sample_rate_hz=features.SAMPLE_RATE / features.HOP_LENGTH,
                   meta={"source": "Google Speech Commands (local folder), log-mel features", "root": str(path),
                         "seed": seed, "path": arrays["path"][mask], "speaker": arrays["speaker"][mask],
                         "validation": arrays["validation"][mask]})


@register("speech_commands")
def _load(split: str) -> Dataset:
    return load_speech_commands(split)
