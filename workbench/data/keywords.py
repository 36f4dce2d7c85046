"""Synthetic spoken keywords: an offline stand-in for Google Speech Commands (12-class KWS).

Each one-second 16 kHz clip is one word spoken by Debian's ``espeak-ng`` (22.05 kHz output, resampled
in numpy), placed at a random time in the second and mixed with synthetic background noise. Classes:
the ten Speech Commands keywords, ``unknown`` (twenty other Speech Commands words) and ``silence``
(noise only). Features are the 32 × 99 log-mel frames of ``features.log_mel``.

Variety: a *voice* is an espeak-ng accent (8 English ones) with a voice variant (50 of espeak-ng's
timbre presets: ``+m2``, ``+f3``, ``+klatt4``, ``+Andy``, ...), and every clip draws its own speaking
rate (``-s`` words per minute), pitch (``-p``), vocal-tract length (formants scaled by 0.88–1.12 by
reading the samples at a different rate), sentence punctuation (which changes the intonation), level,
time offset, noise kind and signal-to-noise ratio.

Split rule: by voice variant, never by clip. Test clips are spoken only by variants that no training
clip uses (each of them in all 8 accents), so the test measures generalisation to unseen speakers
the way Speech Commands' speaker-hashed split does.

Determinism: the plan (every random choice, including each clip's noise seed) is drawn in the parent
from ``numpy`` generators seeded by ``(seed, split, class)``; workers only render. espeak-ng is
deterministic for fixed arguments, so the same seed and espeak-ng version give the same arrays byte
for byte, whatever the number of worker processes.

Generated once and cached as ``cache_dir()/keywords-v1/<config key>.npz`` plus a JSON manifest; it is
regenerated only when missing, or when the generator version or the espeak-ng version changes.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from pathlib import Path

import numpy as np

from workbench.data import Dataset, features, register
from workbench.data.files import save_npz_atomic, write_text_atomic
from workbench.errors import WorkbenchError
from workbench.paths import cache_dir

# Bump when anything changes what a given config renders (plan, noise, mixing, features).
GENERATOR_VERSION = 1
CACHE_FOLDER = "keywords-v1"

KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
# The other twenty Speech Commands words: the "unknown" class speaks one of them per clip.
UNKNOWN_WORDS = ("bed", "bird", "cat", "dog", "eight", "five", "four", "happy", "house", "marvin", "nine",
                 "one", "seven", "sheila", "six", "three", "tree", "two", "wow", "zero")
UNKNOWN, SILENCE = "unknown", "silence"

# espeak-ng's English accents built on its own formant synthesiser (the mb-* MBROLA voices need the
# separate mbrola package and are left out). British is named "en", not "en-gb": espeak-ng 1.51
# silently ignores a "+variant" after "en-gb" (every en-gb+X renders like plain en-gb), which would
# make every "unseen" test voice in that accent identical to the training ones.
ACCENTS = ("en", "en-us", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd", "en-029", "en-us-nyc")
# Voice variants (``espeak-ng --voices=variant``), each checked to render differently from the
# others ("klatt6" and "caleb" are byte-identical to "klatt" and left out). Test variants are held
# out from training entirely; they are chosen across families (male presets, female presets, the
# Klatt synthesiser) so the test is neither all-easy nor all-exotic.
TRAIN_VARIANTS = ("m2", "m3", "m4", "m6", "m7", "m8", "Alex", "Andy", "benjamin", "edward", "Gene", "max", "john",
                  "paul", "rob", "robert", "boris", "adam", "Hugo", "iven", "Lee", "Michael", "Mike", "quincy",
                  "f1", "f3", "f4", "f5", "aunty", "linda", "steph", "Alicia", "Andrea", "shelby",
                  "klatt", "klatt2", "klatt4", "klatt5", "zac", "Jacky")
TEST_VARIANTS = ("m5", "david", "travis", "norbert", "victor", "f2", "Annie", "belinda", "anika", "klatt3")

NOISE_KINDS = ("white", "pink", "brown", "hum", "babble")
PUNCTUATION = ("", ".", "?", "!")  # statement, question and exclamation contours
ESPEAK_RATE = 22050
SPLITS = ("train", "test")


@dataclass(frozen=True)
class Config:
    """Everything that decides the generated arrays (the cache key hashes it)."""

    seed: int = 0
    # train + test, per class. 800 gives 600 training clips per class: at 300 a small GRU reached only
    # ~83 % on unseen voices (train 94 %), so the data, not the task, was the limit.
    clips_per_class: int = 800
    test_fraction: float = 0.25
    keywords: tuple[str, ...] = KEYWORDS
    unknown_words: tuple[str, ...] = UNKNOWN_WORDS
    accents: tuple[str, ...] = ACCENTS
    train_variants: tuple[str, ...] = TRAIN_VARIANTS
    test_variants: tuple[str, ...] = TEST_VARIANTS
    speed_wpm: tuple[int, int] = (120, 230)  # espeak-ng default 175; 120 still fits "marvin" in 1 s
    pitch: tuple[int, int] = (15, 85)  # espeak-ng 0..99, default 50
    # Vocal-tract length: the speech is read as if sampled at scale × 22.05 kHz, which moves every
    # formant (and the pitch) by that factor. espeak-ng's presets move formants in fixed steps; with
    # only those, a model met unseen presets' formant positions at test time and fell to ~80 %
    # (train 90 %). Adult speakers differ by about ±12 % in vocal-tract length.
    formant_scale: tuple[float, float] = (0.88, 1.12)
    level_dbfs: tuple[float, float] = (-32.0, -16.0)  # RMS of the spoken part
    snr_db: tuple[float, float] = (5.0, 20.0)
    silence_dbfs: tuple[float, float] = (-60.0, -25.0)  # noise RMS of silence clips

    @property
    def class_names(self) -> list[str]:
        return [*self.keywords, UNKNOWN, SILENCE]

    def voices(self, split: str) -> list[str]:
        variants = self.train_variants if split == "train" else self.test_variants
        return [f"{a}+{v}" for a in self.accents for v in variants]

    def key(self) -> str:
        blob = json.dumps({"v": GENERATOR_VERSION, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


DEFAULT = Config()


@dataclass(frozen=True)
class ClipSpec:
    """Every choice needed to render one clip; stored per clip so any clip can be re-rendered."""

    split: str
    label: int
    word: str  # "" for silence
    text: str  # what espeak-ng speaks (word + punctuation)
    voice: str  # accent+variant, "" for silence
    speed: int
    pitch: int
    read_rate_hz: int  # espeak-ng's 22050 Hz samples are read at this rate (formant scaling)
    level_dbfs: float  # speech RMS, or noise RMS for silence
    snr_db: float  # NaN for silence
    noise_kind: str
    offset_frac: float  # where the word starts within the free part of the second
    noise_seed: int


# --- planning (parent process, all randomness) -----------------------------------------------------

def plan_clips(config: Config = DEFAULT) -> list[ClipSpec]:
    """The full list of clips, train then test, class by class."""
    if set(config.train_variants) & set(config.test_variants):
        raise WorkbenchError("keywords config: a voice variant is in both the train and the test list")
    n_test = int(round(config.clips_per_class * config.test_fraction))
    counts = {"train": config.clips_per_class - n_test, "test": n_test}
    specs: list[ClipSpec] = []
    for s, split in enumerate(SPLITS):
        voices = config.voices(split)
        for label, name in enumerate(config.class_names):
            # One generator per (seed, split, class): changing one class's count leaves the others alone.
            rng = np.random.default_rng([config.seed, s, label])
            specs.extend(_plan_class(rng, split, label, name, counts[split], voices, config))
    return specs


def _plan_class(rng: np.random.Generator, split: str, label: int, name: str, n: int, voices: list[str],
                config: Config) -> list[ClipSpec]:
    # Voices are dealt from reshuffled decks so every voice speaks about equally often.
    deck = np.concatenate([rng.permutation(len(voices)) for _ in range(-(-n // len(voices)))])[:n]
    out = []
    for i in range(n):
        kind = NOISE_KINDS[rng.integers(len(NOISE_KINDS))]
        seed = int(rng.integers(2**63))
        if name == SILENCE:
            out.append(ClipSpec(split, label, "", "", "", 0, 0, 0, float(rng.uniform(*config.silence_dbfs)),
                                float("nan"), kind, 0.0, seed))
            continue
        word = name if name != UNKNOWN else config.unknown_words[rng.integers(len(config.unknown_words))]
        text = word + PUNCTUATION[rng.integers(len(PUNCTUATION))]
        out.append(ClipSpec(split, label, word, text, voices[deck[i]],
                            int(rng.integers(config.speed_wpm[0], config.speed_wpm[1] + 1)),
                            int(rng.integers(config.pitch[0], config.pitch[1] + 1)),
                            _read_rate(rng, config.formant_scale),
                            float(rng.uniform(*config.level_dbfs)), float(rng.uniform(*config.snr_db)),
                            kind, float(rng.random()), seed))
    return out


def _read_rate(rng: np.random.Generator, scale: tuple[float, float]) -> int:
    # Rates on a 50 Hz grid share a factor of 50 with 16 kHz, so the resampler's polyphase table
    # has at most 320 phases whatever the rate.
    lo, hi = (int(round(ESPEAK_RATE * (f - 1.0) / 50)) for f in scale)
    return ESPEAK_RATE + 50 * int(rng.integers(lo, hi + 1))


# --- espeak-ng ----------------------------------------------------------------------------------------

def espeak_binary() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise WorkbenchError("espeak-ng not found (needed to generate the keywords data set): "
                             "apt-get install --no-install-recommends espeak-ng")
    return exe


@lru_cache(maxsize=1)
def espeak_version() -> str:
    out = subprocess.run([espeak_binary(), "--version"], capture_output=True, text=True, check=False).stdout
    m = re.search(r"(\d+\.\d+(?:\.\d+)?)", out)
    return m.group(1) if m else out.strip()


def speak(text: str, voice: str, speed: int, pitch: int, read_rate: int = ESPEAK_RATE) -> np.ndarray:
    """espeak-ng's rendering of ``text`` at 16 kHz (float64, [-1, 1]), trimmed of silence.

    ``read_rate`` other than 22050 scales all frequencies by ``read_rate / 22050`` (and durations
    by the inverse): a longer or shorter vocal tract.
    """
    proc = subprocess.run([espeak_binary(), "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", text],
                          capture_output=True, check=False)
    if proc.returncode != 0:
        raise WorkbenchError(f"espeak-ng -v {voice} failed: {proc.stderr.decode(errors='replace').strip()}")
    # Trim before resampling: espeak-ng's trailing pause is a third of its output and resampling
    # is the costliest numpy step per clip.
    speech = trim(_wav_samples(proc.stdout), frame=ESPEAK_RATE // 100)
    return features.resample(speech, read_rate, features.SAMPLE_RATE)


def _wav_samples(wav: bytes) -> np.ndarray:
    # With --stdout espeak-ng cannot seek back to fill in the sizes, so the header's lengths are
    # placeholders: take every byte after the 'data' chunk id instead of trusting them.
    pos = wav.find(b"data", 12)
    if wav[:4] != b"RIFF" or pos < 0:
        raise WorkbenchError("espeak-ng produced no WAV data")
    data = wav[pos + 8:]
    return features.pcm16_to_float(data[: len(data) // 2 * 2])


def trim(audio: np.ndarray, threshold_db: float = -40.0, frame: int = 160) -> np.ndarray:
    """Cut the leading and trailing silence espeak-ng adds (frames 40 dB below the loudest)."""
    n = len(audio) // frame
    if n == 0:
        return audio
    energy = np.mean(audio[: n * frame].reshape(n, frame) ** 2, axis=1)
    active = np.nonzero(energy > energy.max() * 10 ** (threshold_db / 10))[0]
    return audio[active[0] * frame: (active[-1] + 1) * frame]


# --- noise ------------------------------------------------------------------------------------------

def make_noise(kind: str, n: int, rng: np.random.Generator, sr: int = features.SAMPLE_RATE) -> np.ndarray:
    """Unit-RMS background noise of ``kind`` (one of NOISE_KINDS)."""
    if kind == "white":
        x = rng.standard_normal(n)
    elif kind in ("pink", "brown"):
        x = _coloured(rng.standard_normal(n), sr, 0.5 if kind == "pink" else 1.0)
    elif kind == "hum":
        x = _hum(n, rng, sr)
    elif kind == "babble":
        x = _babble(n, rng, sr)
    else:
        raise ValueError(f"unknown noise kind {kind!r}")
    return x / np.sqrt(np.mean(x**2))


def _coloured(white: np.ndarray, sr: int, exponent: float) -> np.ndarray:
    """1/f^(2·exponent) power spectrum; flat below 20 Hz so brown noise does not become a DC drift."""
    freqs = np.fft.rfftfreq(len(white), 1.0 / sr)
    return np.fft.irfft(np.fft.rfft(white) / np.maximum(freqs, 20.0) ** exponent, n=len(white))


def _hum(n: int, rng: np.random.Generator, sr: int) -> np.ndarray:
    """Mains hum: 50 or 60 Hz and its harmonics with random strengths, over a faint hiss."""
    f0 = 50.0 if rng.random() < 0.5 else 60.0
    k = np.arange(1, 13)[:, None]
    amp = rng.uniform(0.2, 1.0, (12, 1)) / k
    phase = rng.uniform(0, 2 * np.pi, (12, 1))
    t = np.arange(n)[None, :] / sr
    tone = np.sum(amp * np.sin(2 * np.pi * f0 * k * t + phase), axis=0)
    return tone / np.sqrt(np.mean(tone**2)) + 0.05 * rng.standard_normal(n)


def _babble(n: int, rng: np.random.Generator, sr: int, talkers: tuple[int, int] = (4, 8)) -> np.ndarray:
    """Speech-shaped babble: talkers of formant-filtered noise, each modulated at a syllable rate."""
    k = int(rng.integers(talkers[0], talkers[1] + 1))
    freqs = np.fft.rfftfreq(n, 1.0 / sr)
    formants = np.stack([rng.uniform(300, 900, k), rng.uniform(900, 2300, k), rng.uniform(2300, 3300, k)], 1)
    shape = np.sum(np.exp(-0.5 * ((freqs[None, None, :] - formants[:, :, None]) / 150.0) ** 2), axis=1)
    shape = (shape + 0.05) / np.maximum(freqs, 100.0) ** 0.5  # formant peaks on a falling slope
    voices = np.fft.irfft(np.fft.rfft(rng.standard_normal((k, n)), axis=1) * shape, n=n, axis=1)
    voices /= np.sqrt(np.mean(voices**2, axis=1, keepdims=True))
    rate = rng.uniform(3.0, 6.0, (k, 1))  # syllables per second
    t = np.arange(n)[None, :] / sr
    envelope = np.maximum(0.0, np.sin(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi, (k, 1)))) ** 2
    return np.sum(rng.uniform(0.5, 1.0, (k, 1)) * voices * envelope, axis=0)


# --- rendering (workers) -----------------------------------------------------------------------------

def render_clip(spec: ClipSpec) -> np.ndarray:
    """The one-second 16 kHz clip of ``spec`` as float32, quantised to 16-bit like a recording."""
    n = features.CLIP_SAMPLES
    rng = np.random.default_rng(spec.noise_seed)
    noise = make_noise(spec.noise_kind, n, rng)
    if not spec.word:
        audio = noise * 10 ** (spec.level_dbfs / 20)
    else:
        speech = speak(spec.text, spec.voice, spec.speed, spec.pitch, spec.read_rate_hz)
        if len(speech) > n:  # only at extreme rates; keep the middle
            cut = (len(speech) - n) // 2
            speech = speech[cut: cut + n]
        rms = np.sqrt(np.mean(speech**2))
        speech = speech * (10 ** (spec.level_dbfs / 20) / rms)
        start = int(round(spec.offset_frac * (n - len(speech))))
        audio = np.zeros(n)
        audio[start: start + len(speech)] = speech
        # SNR is speech power over the spoken part against noise power: a short word in a long
        # clip is not penalised for the silence around it.
        audio += noise * (10 ** (spec.level_dbfs / 20) / 10 ** (spec.snr_db / 20))
    return (np.round(np.clip(audio, -1.0, 32767 / 32768) * 32768) / 32768).astype(np.float32)


def _features_of(spec: ClipSpec) -> np.ndarray:
    return features.log_mel(render_clip(spec))


# --- generation and cache -----------------------------------------------------------------------------

def cache_paths(config: Config = DEFAULT) -> tuple[Path, Path]:
    folder = cache_dir() / CACHE_FOLDER
    return folder / f"{config.key()}.npz", folder / f"{config.key()}.json"


def generate(config: Config = DEFAULT, workers: int | None = None, progress: bool = True) -> dict:
    """Render every clip, write the .npz and its manifest, and return the manifest."""
    espeak_binary()
    specs = plan_clips(config)
    workers = max(1, min(workers or os.cpu_count() or 1, 2 * (os.cpu_count() or 1)))
    t0 = time.perf_counter()
    feats = np.empty((len(specs), features.CLIP_FRAMES, features.N_MELS), dtype=np.float32)
    for i, f in enumerate(_render_all(specs, workers, progress)):
        feats[i] = f
    seconds = time.perf_counter() - t0
    arrays = {"x": feats, "y": np.array([s.label for s in specs], dtype=np.int64)}
    for f in fields(ClipSpec):
        values = [getattr(s, f.name) for s in specs]
        arrays[f.name] = np.array(values, dtype=np.uint64 if f.name == "noise_seed" else None)
    npz, manifest_path = cache_paths(config)
    save_npz_atomic(npz, arrays)
    manifest = {
        "generator_version": GENERATOR_VERSION,
        "espeak_ng_version": espeak_version(),
        "config_key": config.key(),
        "config": asdict(config),
        "class_names": config.class_names,
        "clips": len(specs),
        "counts": {sp: {c: int(np.sum((arrays["split"] == sp) & (arrays["y"] == k)))
                        for k, c in enumerate(config.class_names)} for sp in SPLITS},
        "voices": {sp: config.voices(sp) for sp in SPLITS},
        "features": "log-mel 32 x 99 (workbench.data.features), float32 [N, 99, 32]",
        "generation_seconds": round(seconds, 1),
        "workers": workers,
        "npz": npz.name,
        "npz_sha256": hashlib.sha256(npz.read_bytes()).hexdigest(),
    }
    write_text_atomic(manifest_path, json.dumps(manifest, indent=2) + "\n")
    return manifest


def _render_all(specs: list[ClipSpec], workers: int, progress: bool):
    """Yield features in plan order, rendering on ``workers`` processes behind a progress bar."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    # The pool is forked before rich starts its refresh thread: forking a threaded process is unsafe.
    pool = None
    if workers > 1:
        pool = multiprocessing.get_context("fork" if os.name == "posix" else "spawn").Pool(workers)
    bar = Progress(TextColumn("generating keywords"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   disable=not progress)
    try:
        with bar:
            task = bar.add_task("clips", total=len(specs))
            # imap keeps plan order; each clip depends only on its own spec, so the result does not
            # depend on how the clips were shared among workers.
            results = pool.imap(_features_of, specs, chunksize=8) if pool else map(_features_of, specs)
            for f in results:
                bar.advance(task)
                yield f
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()


def _manifest_is_current(manifest_path: Path, npz: Path) -> bool:
    if not (npz.is_file() and manifest_path.is_file()):
        return False
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        return False
    if manifest.get("generator_version") != GENERATOR_VERSION:
        return False
    # A different espeak-ng renders different audio; without espeak-ng the cache is all there is.
    if shutil.which("espeak-ng") and manifest.get("espeak_ng_version") != espeak_version():
        return False
    return True


def is_cached(config: Config = DEFAULT) -> bool:
    """Whether loading ``config`` reads the cache as it is (no generation)."""
    npz, manifest_path = cache_paths(config)
    return _manifest_is_current(manifest_path, npz)


def ensure_generated(config: Config = DEFAULT, workers: int | None = None, progress: bool = True) -> Path:
    if not is_cached(config):
        generate(config, workers=workers, progress=progress)
    return cache_paths(config)[0]


def load_arrays(config: Config = DEFAULT) -> dict[str, np.ndarray]:
    """Every array of the cache (shared between calls: treat as read-only)."""
    npz = ensure_generated(config)
    return _read_cache(str(npz), npz.stat().st_mtime_ns)


@lru_cache(maxsize=2)
def _read_cache(npz: str, stamp: int) -> dict[str, np.ndarray]:
    # Keyed by modification time too, so a regenerated cache is read afresh; loading the train and
    # then the test split reads the ~120 MB file once.
    try:
        with np.load(npz, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise WorkbenchError(f"{npz}: unreadable keywords cache ({exc}); delete it to regenerate") from None


def load_keywords(split: str, config: Config = DEFAULT) -> Dataset:
    arrays = load_arrays(config)
    mask = arrays["split"] == split
    npz, manifest_path = cache_paths(config)
    clip_meta = {f.name: arrays[f.name][mask] for f in fields(ClipSpec) if f.name not in ("split", "label")}
    voices = sorted({str(v) for v in clip_meta["voice"]} - {""})
    return Dataset(
        name="keywords", split=split, x=arrays["x"][mask], y=arrays["y"][mask], class_names=config.class_names,
        sample_rate_hz=features.SAMPLE_RATE / features.HOP_LENGTH,  # frames per second: 100
        meta={"source": "synthetic keywords: espeak-ng voices + numpy noise, log-mel features",
              "generator_version": GENERATOR_VERSION, "espeak_ng_version": _cached_espeak_version(manifest_path),
              "config_key": config.key(), "cache": str(npz), "voices": voices,
              "clips": clip_meta})


def _cached_espeak_version(manifest_path: Path) -> str | None:
    try:
        return json.loads(manifest_path.read_text()).get("espeak_ng_version")
    except (OSError, ValueError):
        return None


def spec_at(split: str, index: int, config: Config = DEFAULT) -> ClipSpec:
    """The plan of clip ``index`` of ``split`` (the same order as the Dataset's rows)."""
    specs = [s for s in plan_clips(config) if s.split == split]
    if not 0 <= index < len(specs):
        raise WorkbenchError(f"keywords {split}: no clip {index} (there are {len(specs)})")
    return specs[index]


def clip_audio(split: str, index: int, config: Config = DEFAULT) -> np.ndarray:
    """Raw one-second 16 kHz audio (float32) of a clip, re-rendered from its plan (~20 ms)."""
    return render_clip(spec_at(split, index, config))


@register("keywords")
def _load(split: str) -> Dataset:
    return load_keywords(split)
