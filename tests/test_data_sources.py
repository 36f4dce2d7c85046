"""Data sources: log-mel front-end, synthetic keywords, a Speech Commands folder, user .npz/.csv files."""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from workbench.data import features, load_dataset
from workbench.errors import WorkbenchError

HAVE_ESPEAK = shutil.which("espeak-ng") is not None
needs_espeak = pytest.mark.skipif(not HAVE_ESPEAK, reason="needs espeak-ng")
SR = features.SAMPLE_RATE


def tone(freq: float, seconds: float = 1.0, amp: float = 0.5, sr: int = SR) -> np.ndarray:
    return amp * np.sin(2 * np.pi * freq * np.arange(int(seconds * sr)) / sr)


def one_line_error(excinfo, *needles: str) -> str:
    msg = str(excinfo.value)
    assert "\n" not in msg
    for n in needles:
        assert n in msg, (n, msg)
    return msg


# --- log-mel ---------------------------------------------------------------------------------------
# An independent float64 log-mel, written from the front-end's stated parameters (features.py's docstring:
# 25 ms periodic-Hann frames every 10 ms, end-padded, 512-point DFT, power |X|^2 / 512, 32 HTK mel
# triangles 20 Hz - 8 kHz at the exact bin frequencies, natural log floored at 1e-6). The DFT is an explicit
# cos/sin sum, not an FFT; nothing here calls features except for the function under test.

def htk_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def htk_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_triangles(n_mels=32, n_fft=512, sr=16000, f_lo=20.0, f_hi=8000.0):
    """[n_mels, n_fft // 2 + 1]: triangle k rises from edge k to 1 at edge k+1, falls to 0 at edge k+2."""
    edges = htk_hz(np.linspace(htk_mel(f_lo), htk_mel(f_hi), n_mels + 2))
    freqs = np.arange(n_fft // 2 + 1) * sr / n_fft
    fb = np.zeros((n_mels, len(freqs)))
    for k in range(n_mels):
        lo, mid, hi = edges[k], edges[k + 1], edges[k + 2]
        for b, f in enumerate(freqs):
            if lo < f <= mid:
                fb[k, b] = (f - lo) / (mid - lo)
            elif mid < f < hi:
                fb[k, b] = (hi - f) / (hi - mid)
    return fb


def reference_log_mel(audio, win=400, hop=160, n_fft=512):
    audio = np.asarray(audio, dtype=np.float64)
    frames = 1 + int(np.ceil((len(audio) - win) / hop))
    padded = np.concatenate([audio, np.zeros((frames - 1) * hop + win - len(audio))])
    n = np.arange(win)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / win)           # periodic Hann
    k = np.arange(n_fft // 2 + 1)
    angle = 2 * np.pi * np.outer(n, k) / n_fft                  # frame zero-padded to n_fft: only n < win count
    cos, sin = np.cos(angle), np.sin(angle)
    fb = mel_triangles()
    out = np.empty((frames, fb.shape[0]))
    for i in range(frames):
        x = padded[i * hop:i * hop + win] * window
        power = ((x @ cos) ** 2 + (x @ sin) ** 2) / n_fft
        out[i] = np.log(np.maximum(fb @ power, 1e-6))
    return out


# The output is float32 of values |v| <= 14 (half an ulp: 4.8e-7); measured max |features - reference| over the
# clips below: 4.7e-7, the float32 rounding. The tolerance is 4x that (the float64 parts differ by ~1e-12).
LOG_MEL_ATOL = 2e-6


def test_log_mel_equals_an_independent_float64_computation():
    rng = np.random.default_rng(5)
    clips = np.stack([tone(440), tone(2500, amp=0.2) + 0.05 * rng.standard_normal(SR), 0.3 * rng.standard_normal(SR)])
    batch = features.log_mel_batch(clips)
    assert batch.shape == (3, 99, 32) and batch.dtype == np.float32
    assert features.num_frames(16000) == 99
    for clip, got in zip(clips, batch):
        np.testing.assert_allclose(got, reference_log_mel(clip), atol=LOG_MEL_ATOL, rtol=0)
        single = features.log_mel(clip.astype(np.float32))        # a float32 clip, as the keyword cache holds
        assert single.shape == (99, 32) and single.dtype == np.float32
        np.testing.assert_allclose(single, reference_log_mel(clip.astype(np.float32)), atol=LOG_MEL_ATOL, rtol=0)


def test_mel_filterbank_is_the_htk_triangles():
    np.testing.assert_allclose(features.mel_filterbank(), mel_triangles(), atol=1e-12, rtol=0)


@pytest.mark.parametrize("freq", [300.0, 1000.0, 3000.0, 6000.0])
def test_pure_tone_lands_in_its_mel_band(freq):
    out = features.log_mel(tone(freq))
    centres = htk_hz(np.linspace(htk_mel(20.0), htk_mel(8000.0), 34))[1:-1]      # the HTK band peaks
    nearest = int(np.argmin(np.abs(centres - freq)))
    assert int(np.argmax(out.mean(axis=0))) == nearest
    # Far bands see only the window's side lobes.
    assert out.mean(axis=0)[nearest] - out.mean(axis=0)[(nearest + 10) % 32] > 8.0


def test_silence_hits_the_log_floor_not_minus_infinity():
    out = features.log_mel(np.zeros(16000))
    np.testing.assert_allclose(out, np.log(features.LOG_FLOOR), rtol=1e-6)


def test_every_mel_filter_covers_some_bins():
    assert np.all(mel_triangles().max(axis=1) > 0.3)      # so no band of the features is empty


def test_resampler_keeps_the_band_and_removes_what_would_alias():
    kept = features.resample(tone(1000, sr=22050, amp=1.0), 22050, 16000)
    assert len(kept) == 16000
    np.testing.assert_allclose(kept[200:-200], tone(1000, amp=1.0)[200:-200], atol=1e-3)
    # 10 kHz is above the new Nyquist (8 kHz): it must vanish, not fold down to 6 kHz.
    folded = features.resample(tone(10000, sr=22050, amp=1.0), 22050, 16000)
    assert np.max(np.abs(folded[200:-200])) < 1e-3


# --- synthetic keywords --------------------------------------------------------------------------------

def tiny_config():
    from workbench.data.keywords import Config

    return Config(seed=7, clips_per_class=4, test_fraction=0.25, keywords=("yes", "no"), unknown_words=("cat", "dog"),
                  accents=("en-us",), train_variants=("m2", "f1"), test_variants=("klatt2",))


@needs_espeak
def test_keywords_tiny_generation_is_deterministic_and_splits_by_voice(tmp_path, monkeypatch):
    from workbench.data import keywords

    cfg = tiny_config()
    runs = []
    for i, workers in enumerate((1, 2)):
        monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / f"cache{i}"))
        keywords.generate(cfg, workers=workers, progress=False)
        runs.append((keywords.load_keywords("train", cfg), keywords.load_keywords("test", cfg)))
    (train, test), (train2, test2) = runs
    for a, b in ((train, train2), (test, test2)):
        assert a.x.tobytes() == b.x.tobytes() and a.y.tobytes() == b.y.tobytes()
        for key in a.meta["clips"]:
            assert a.meta["clips"][key].tobytes() == b.meta["clips"][key].tobytes()
    assert train.class_names == ["yes", "no", "unknown", "silence"]
    assert train.x.shape == (12, 99, 32) and test.x.shape == (4, 99, 32)
    assert np.bincount(train.y).tolist() == [3, 3, 3, 3] and np.bincount(test.y).tolist() == [1, 1, 1, 1]
    assert train.sample_rate_hz == 100.0
    assert set(train.meta["voices"]) == {"en-us+m2", "en-us+f1"}
    assert set(test.meta["voices"]) == {"en-us+klatt2"}
    silence = test.meta["clips"]["word"] == ""
    assert np.all(np.isnan(test.meta["clips"]["snr_db"][silence]))
    # Any clip's raw audio re-renders to exactly the stored features.
    audio = keywords.clip_audio("test", 0, cfg)
    assert audio.shape == (16000,) and audio.dtype == np.float32
    np.testing.assert_array_equal(features.log_mel(audio), test.x[0])


@needs_espeak
def test_keywords_cache_is_reused_until_the_generator_version_changes(tmp_path, monkeypatch):
    from workbench.data import keywords

    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path))
    cfg = tiny_config()
    npz = keywords.ensure_generated(cfg, progress=False)
    stamp = npz.stat().st_mtime_ns
    keywords.load_keywords("train", cfg)
    assert npz.stat().st_mtime_ns == stamp
    monkeypatch.setattr(keywords, "GENERATOR_VERSION", keywords.GENERATOR_VERSION + 1)
    assert not keywords._manifest_is_current(*keywords.cache_paths(cfg)[::-1])


@needs_espeak
def test_default_voices_really_differ():
    # espeak-ng ignores some "+variant" suffixes silently (e.g. after "en-gb"); a voice that renders
    # like another would leak training speakers into the test split.
    from workbench.data import keywords

    cfg = keywords.DEFAULT

    def render(voice):
        return subprocess.run(["espeak-ng", "-v", voice, "--stdout", "seven left"], capture_output=True,
                              check=True).stdout

    variants = [*cfg.train_variants, *cfg.test_variants]
    assert len({render(f"en+{v}") for v in variants}) == len(variants)
    assert len({render(f"{a}+f2") for a in cfg.accents}) == len(cfg.accents)
    assert all(render(f"{a}+m3") != render(f"{a}+f2") for a in cfg.accents)
    assert not set(cfg.voices("train")) & set(cfg.voices("test"))


def test_keyword_noises_are_seeded_and_unit_rms():
    from workbench.data.keywords import NOISE_KINDS, make_noise

    for kind in NOISE_KINDS:
        a = make_noise(kind, 16000, np.random.default_rng(3))
        b = make_noise(kind, 16000, np.random.default_rng(3))
        assert a.tobytes() == b.tobytes()
        assert abs(np.sqrt(np.mean(a**2)) - 1.0) < 1e-9


# --- Speech Commands folder ---------------------------------------------------------------------------

KW = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]


def write_wav(path: Path, audio: np.ndarray, sr: int = SR, width: int = 2, channels: int = 1) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pcm = np.round(np.clip(audio, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(sr)
        w.writeframes(np.repeat(pcm, channels).tobytes() if width == 2 else pcm.astype("<i1").tobytes())


def make_speech_commands(root: Path) -> None:
    """Every keyword + two unknown words; speakers s0, s1 train, s2 validation, s3 test; 0.6 s tones."""
    test, val = [], []
    for w, word in enumerate([*KW, "cat", "dog"]):
        for s in range(4):
            rel = f"{word}/s{s}abc_nohash_0.wav"
            write_wav(root / rel, tone(200.0 + 250.0 * w, seconds=0.6, amp=0.3))
            (val if s == 2 else test if s == 3 else []).append(rel)
    rng = np.random.default_rng(0)
    for name in ("white_noise", "pink_noise"):
        write_wav(root / "_background_noise_" / f"{name}.wav", 0.1 * rng.standard_normal(6 * SR))
    (root / "_background_noise_" / "README.md").write_text("not audio")
    (root / "testing_list.txt").write_text("\n".join(test) + "\n")
    (root / "validation_list.txt").write_text("\n".join(val) + "\n")


def test_speech_commands_folder_loads_with_labels_and_splits(tmp_path, monkeypatch):
    root = tmp_path / "sc"
    make_speech_commands(root)
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("WORKBENCH_SPEECH_COMMANDS", str(root))
    train, test = load_dataset("speech_commands", "train"), load_dataset("speech_commands", "test")
    assert train.class_names == [*KW, "unknown", "silence"]
    assert train.x.shape[1:] == (99, 32) and train.sample_rate_hz == 100.0
    # Train: 3 clips per keyword (s0, s1, s2), unknown subsampled to 3 of 6, silence 3.
    assert np.bincount(train.y, minlength=12).tolist() == [3] * 12
    assert np.bincount(test.y, minlength=12).tolist() == [1] * 12
    for ds, speakers in ((train, {"s0abc", "s1abc", "s2abc"}), (test, {"s3abc"})):
        words = [p.split("/")[0] for p in ds.meta["path"]]
        for word, label in zip(words, ds.y):
            expected = KW.index(word) if word in KW else 10 if word != "_background_noise_" else 11
            assert label == expected
        assert set(ds.meta["speaker"]) - {""} == speakers
    assert train.meta["validation"].sum() == 10 + np.sum(
        [p.startswith(("cat/s2", "dog/s2")) for p in train.meta["path"]])
    assert not test.meta["validation"].any()
    # Each keyword's tone lands in a different band; silence is broadband noise.
    assert np.argmax(train.x[train.y == 0].mean(axis=(0, 1))) != np.argmax(train.x[train.y == 9].mean(axis=(0, 1)))
    # Cached: a second load gives the same arrays.
    again = load_dataset("speech_commands", "train")
    assert again.x.tobytes() == train.x.tobytes()


def test_speech_commands_errors_are_one_line(tmp_path, monkeypatch):
    from workbench.data.speech_commands import load_speech_commands

    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("WORKBENCH_SPEECH_COMMANDS", raising=False)
    with pytest.raises(WorkbenchError) as e:
        load_speech_commands("train")
    one_line_error(e, "WORKBENCH_SPEECH_COMMANDS")
    with pytest.raises(WorkbenchError) as e:
        load_speech_commands("train", root=tmp_path / "nowhere")
    one_line_error(e, "not found", "nowhere")

    root = tmp_path / "sc"
    make_speech_commands(root)
    (root / "testing_list.txt").unlink()
    with pytest.raises(WorkbenchError) as e:
        load_speech_commands("train", root=root)
    one_line_error(e, "testing_list.txt")

    make_speech_commands(root)
    write_wav(root / "yes" / "s0abc_nohash_0.wav", tone(300, 0.5), channels=2)
    with pytest.raises(WorkbenchError) as e:
        load_speech_commands("train", root=root)
    one_line_error(e, "s0abc_nohash_0.wav", "mono")

    make_speech_commands(root)
    with (root / "testing_list.txt").open("a") as f:
        f.write("yes/ghost_nohash_0.wav\n")
    with pytest.raises(WorkbenchError) as e:
        load_speech_commands("train", root=root)
    one_line_error(e, "ghost_nohash_0.wav")


# --- user files ---------------------------------------------------------------------------------------

def test_npz_round_trip_with_test_split_and_names(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 20, 3)).astype(np.float32), np.array([0, 1, 2, 0, 1, 2])
    xt, yt = rng.standard_normal((3, 20, 3)).astype(np.float32), np.array([2, 1, 0])
    path = tmp_path / "walk.npz"
    np.savez(path, x=x, y=y, x_test=xt, y_test=yt, class_names=np.array(["sit", "walk", "run"]),
             sample_rate_hz=np.array(50.0))
    train, test = load_dataset(str(path), "train"), load_dataset(str(path), "test")
    np.testing.assert_array_equal(train.x, x)
    np.testing.assert_array_equal(test.y, yt)
    assert train.class_names == ["sit", "walk", "run"] and train.sample_rate_hz == 50.0
    assert train.name == "walk" and test.split == "test"


def test_npz_univariate_string_labels_and_sibling_test_file(tmp_path):
    np.savez(tmp_path / "ecg_train.npz", x=np.ones((4, 10)), y=np.array(["b", "a", "b", "a"]))
    np.savez(tmp_path / "ecg_test.npz", x=np.zeros((2, 10)), y=np.array(["c", "a"]))
    train = load_dataset(str(tmp_path / "ecg_train.npz"), "train")
    test = load_dataset(str(tmp_path / "ecg_train.npz"), "test")
    assert train.x.shape == (4, 10, 1)
    assert train.class_names == test.class_names == ["a", "b", "c"]
    assert train.y.tolist() == [1, 0, 1, 0] and test.y.tolist() == [2, 0]


def test_csv_round_trip_with_header_and_sibling(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 4, 2)).round(4)
    labels = ["10", "2", "10", "2", "7"]
    rows = [",".join([lab, *map(repr, win.reshape(-1).tolist())]) for lab, win in zip(labels, x)]
    header = "label," + ",".join(f"t{t}c{c}" for t in range(4) for c in range(2))
    text = "# channels=2 sample_rate_hz=25\n" + header + "\n" + "\n".join(rows) + "\n"
    (tmp_path / "gest_train.csv").write_text(text)
    (tmp_path / "gest_test.csv").write_text("# channels=2\n" + rows[0] + "\n")
    train = load_dataset(str(tmp_path / "gest_train.csv"), "train")
    np.testing.assert_allclose(train.x, x.astype(np.float32))
    assert train.class_names == ["2", "7", "10"]  # integer labels sort numerically
    assert train.y.tolist() == [2, 0, 2, 0, 1] and train.sample_rate_hz == 25.0
    test = load_dataset(str(tmp_path / "gest_test.csv"), "test")
    assert test.y.tolist() == [2] and test.x.shape == (1, 4, 2)


MALFORMED_CSV = {
    "no_directive.csv": ("a,1,2\n", ":1:", "channels=C"),
    "ragged.csv": ("# channels=1\na,1,2\nb,1\n", ":3:", "expected 2"),
    "bad_number.csv": ("# channels=1\na,1,x\n", ":2:", "'x'"),
    "not_multiple.csv": ("# channels=2\na,1,2,3\n", ":2:", "multiple"),
    "empty.csv": ("# channels=1\n", "no data rows"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED_CSV))
def test_malformed_csv_is_a_one_line_error(tmp_path, name):
    text, *needles = MALFORMED_CSV[name]
    (tmp_path / name).write_text(text)
    with pytest.raises(WorkbenchError) as e:
        load_dataset(str(tmp_path / name), "train")
    one_line_error(e, name, *needles)


def test_malformed_npz_is_a_one_line_error(tmp_path):
    cases = {
        "no_y.npz": (dict(x=np.ones((2, 3, 1))), "missing array 'y'"),
        "bad_shape.npz": (dict(x=np.ones((2, 3, 1, 1)), y=np.zeros(2, int)), "[N, T, C]"),
        "count.npz": (dict(x=np.ones((2, 3)), y=np.zeros(3, int)), "N = 2"),
        "nan.npz": (dict(x=np.full((2, 3), np.nan), y=np.zeros(2, int)), "NaN"),
        "objects.npz": (dict(x=np.array([[1.0], "a"], dtype=object), y=np.zeros(2, int)), "Python objects"),
        "label_range.npz": (dict(x=np.ones((2, 3)), y=np.array([0, 5]), class_names=np.array(["a", "b"])), "0..1"),
    }
    for name, (arrays, needle) in cases.items():
        np.savez(tmp_path / name, **arrays)
        with pytest.raises(WorkbenchError) as e:
            load_dataset(str(tmp_path / name), "train")
        one_line_error(e, name, needle)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(WorkbenchError) as e:
        load_dataset(str(tmp_path / "junk.npz"), "train")
    one_line_error(e, "junk.npz", "not a readable")
    np.savez(tmp_path / "train_only.npz", x=np.ones((2, 3)), y=np.zeros(2, int))
    with pytest.raises(WorkbenchError) as e:
        load_dataset(str(tmp_path / "train_only.npz"), "test")
    one_line_error(e, "train_only.npz", "no test split")
    with pytest.raises(WorkbenchError) as e:
        load_dataset(str(tmp_path / "missing.npz"), "train")
    one_line_error(e, "missing.npz", "not found")
