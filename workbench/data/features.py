"""Audio front-end in numpy: WAV bytes → 16 kHz float audio → log-mel features.

The features follow the front-end the ShaRNN paper's keyword-spotting experiments used (EdgeML's
``python_speech_features``-style log filterbank): 32 log-mel energies per 25 ms frame, 10 ms hop,
512-point FFT, 99 frames for a one-second clip.

Framing (why 99 frames): frames start every ``hop`` samples while the window still starts inside the
clip, and the last frame is completed with zeros: ``n_frames = 1 + ceil((n - win) / hop)``. For
16000 samples that is 1 + ceil(97.5) = 99, the clip being zero-padded at the end to 98·160 + 400 =
16080 samples. No centre padding, so frame ``i`` covers samples ``[160 i, 160 i + 400)``.

Spectrum: periodic Hann window (the spectral-analysis convention of ``torch.hann_window`` and
``scipy.signal.get_window``), 400 samples zero-padded to a 512-point real FFT, power ``|X|² / 512``.

Mel filterbank: HTK formula ``mel = 2595 log10(1 + f / 700)``, 32 triangles with peak 1 spaced evenly
in mel between 20 Hz and 8 kHz, evaluated at the exact FFT bin frequencies (not snapped to bins, so no
filter is ever empty). The upper edge is the Nyquist frequency rather than 4 kHz because the
fricatives that tell several keywords apart (/s/ in "yes", "stop", "six", "seven"; /f/ in "off",
"four", "five") carry most of their energy between 4 and 8 kHz.

Log: natural log of the filter energies floored at ``1e-6`` (audio in [-1, 1]), so digital silence
gives a finite -13.8 instead of -inf.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

SAMPLE_RATE = 16000
WIN_LENGTH = 400  # 25 ms
HOP_LENGTH = 160  # 10 ms
N_FFT = 512
N_MELS = 32
F_MIN = 20.0
F_MAX = 8000.0
LOG_FLOOR = 1e-6
CLIP_SAMPLES = SAMPLE_RATE  # one second
CLIP_FRAMES = 99

# Batches of clips are framed and transformed this many at a time: bounds the [B, 99, 257] complex
# spectrum to a few tens of MB whatever N is.
_BATCH = 256


def num_frames(n_samples: int, win: int = WIN_LENGTH, hop: int = HOP_LENGTH) -> int:
    """Frames for ``n_samples`` under the end-padded framing above (99 for one second)."""
    if n_samples <= win:
        return 1
    return 1 + math.ceil((n_samples - win) / hop)


def hz_to_mel(f):
    """HTK mel scale."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_edges_hz(n_mels: int = N_MELS, f_min: float = F_MIN, f_max: float = F_MAX) -> np.ndarray:
    """The ``n_mels + 2`` band edges in Hz; filter ``k`` rises from edge k, peaks at k+1, falls to k+2."""
    return mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))


def mel_centres_hz(n_mels: int = N_MELS, f_min: float = F_MIN, f_max: float = F_MAX) -> np.ndarray:
    return mel_edges_hz(n_mels, f_min, f_max)[1:-1]


@lru_cache(maxsize=8)
def mel_filterbank(n_mels: int = N_MELS, n_fft: int = N_FFT, sample_rate: int = SAMPLE_RATE,
                   f_min: float = F_MIN, f_max: float = F_MAX) -> np.ndarray:
    """Triangular filters ``[n_mels, n_fft // 2 + 1]`` (float64, peak 1, read-only)."""
    edges = mel_edges_hz(n_mels, f_min, f_max)
    bins = np.arange(n_fft // 2 + 1) * (sample_rate / n_fft)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins - lo) / (mid - lo)
    falling = (hi - bins) / (hi - mid)
    fb = np.maximum(0.0, np.minimum(rising, falling))
    fb.setflags(write=False)
    return fb


@lru_cache(maxsize=8)
def hann(n: int) -> np.ndarray:
    """Periodic Hann window of length n."""
    w = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)
    w.setflags(write=False)
    return w


def frame(audio: np.ndarray, win: int = WIN_LENGTH, hop: int = HOP_LENGTH) -> np.ndarray:
    """``[..., n]`` → ``[..., frames, win]`` views after zero-padding the end (see module docstring)."""
    n = audio.shape[-1]
    frames = num_frames(n, win, hop)
    total = (frames - 1) * hop + win
    if total > n:
        pad = [(0, 0)] * (audio.ndim - 1) + [(0, total - n)]
        audio = np.pad(audio, pad)
    return np.lib.stride_tricks.sliding_window_view(audio, win, axis=-1)[..., ::hop, :]


def log_mel_batch(audio: np.ndarray, sample_rate: int = SAMPLE_RATE, n_mels: int = N_MELS,
                  n_fft: int = N_FFT, win: int = WIN_LENGTH, hop: int = HOP_LENGTH,
                  f_min: float = F_MIN, f_max: float = F_MAX, floor: float = LOG_FLOOR) -> np.ndarray:
    """``audio[N, samples]`` (float, [-1, 1]) → ``float32[N, frames, n_mels]`` (``[N, 99, 32]`` for 1 s)."""
    audio = np.asarray(audio, dtype=np.float64)
    if audio.ndim != 2:
        raise ValueError(f"log_mel_batch expects [N, samples], got shape {audio.shape}")
    # A contiguous copy: numpy's matmul falls off its BLAS path for a read-only transposed view (40x).
    fb_t = np.ascontiguousarray(mel_filterbank(n_mels, n_fft, sample_rate, f_min, f_max).T)
    window = hann(win)
    out = np.empty((audio.shape[0], num_frames(audio.shape[1], win, hop), n_mels), dtype=np.float32)
    for start in range(0, audio.shape[0], _BATCH):
        frames = frame(audio[start:start + _BATCH], win, hop) * window
        spec = np.fft.rfft(frames, n=n_fft, axis=-1)
        power = (spec.real ** 2 + spec.imag ** 2) / n_fft
        out[start:start + _BATCH] = np.log(np.maximum(power @ fb_t, floor))
    return out


def log_mel(audio: np.ndarray, **kwargs) -> np.ndarray:
    """One clip: ``audio[16000]`` → ``float32[99, 32]``; keyword arguments as for ``log_mel_batch``."""
    audio = np.asarray(audio)
    if audio.ndim != 1:
        raise ValueError(f"log_mel expects a 1-D clip, got shape {audio.shape}")
    return log_mel_batch(audio[None, :], **kwargs)[0]


# --- resampling -------------------------------------------------------------------------------------

@lru_cache(maxsize=256)
def _polyphase_table(up: int, down: int, zero_crossings: int, rolloff: float,
                     beta: float) -> tuple[np.ndarray, int]:
    """Kaiser-windowed sinc low-pass sampled at the ``up`` fractional phases of the output grid.

    Row ``p`` holds the taps for an output instant that falls ``p / up`` of an input sample after
    input sample ``floor(t)``; tap ``j`` multiplies input sample ``floor(t) - half + 1 + j``.
    """
    cutoff = rolloff * min(1.0, up / down)  # fraction of the input Nyquist; below the output's
    half = int(math.ceil(zero_crossings / cutoff))
    offsets = np.arange(-half + 1, half + 1)  # input sample index relative to floor(t)
    frac = np.arange(up)[:, None] / up
    dist = offsets[None, :] - frac  # input sample time minus output time, in input samples
    # Kaiser window evaluated at the exact (fractional) tap positions, zero beyond ±half.
    window = np.i0(beta * np.sqrt(np.clip(1.0 - (dist / half) ** 2, 0.0, None))) / np.i0(beta)
    taps = cutoff * np.sinc(cutoff * dist) * window
    # Each phase sums to 1 so DC passes unchanged whatever the phase.
    taps /= taps.sum(axis=1, keepdims=True)
    taps.setflags(write=False)
    return taps, half


def resample(audio: np.ndarray, rate_in: int, rate_out: int = SAMPLE_RATE, zero_crossings: int = 16,
             rolloff: float = 0.94, beta: float = 8.6) -> np.ndarray:
    """Band-limited resampling of a 1-D signal by the rational factor ``rate_out / rate_in``.

    A polyphase windowed-sinc filter (Kaiser, β = 8.6: ~-80 dB stop band) whose cut-off sits at
    ``rolloff`` of the lower Nyquist frequency, so nothing above 8 kHz folds back when 22.05 kHz
    speech is brought to 16 kHz. Output sample ``n`` sits at input time ``n · rate_in / rate_out``;
    the signal is taken as zero outside its ends.
    """
    audio = np.asarray(audio, dtype=np.float64)
    if rate_in == rate_out:
        return audio.copy()
    g = math.gcd(rate_in, rate_out)
    up, down = rate_out // g, rate_in // g
    taps, half = _polyphase_table(up, down, zero_crossings, rolloff, beta)
    n_out = (len(audio) * up) // down
    pos = np.arange(n_out, dtype=np.int64) * down  # output times in units of 1/up input samples
    base, phase = pos // up, pos % up
    padded = np.pad(audio, (half, half + 1))
    idx = base[:, None] + np.arange(2 * half)[None, :] + 1  # +half shift of the pad, -half+1 offset
    return np.einsum("ij,ij->i", padded[idx], taps[phase])


# --- WAV bytes ----------------------------------------------------------------------------------------

def pcm16_to_float(raw: bytes | np.ndarray) -> np.ndarray:
    """Little-endian 16-bit PCM → float64 in [-1, 1)."""
    return np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32768.0


def fit_clip(audio: np.ndarray, n: int = CLIP_SAMPLES) -> np.ndarray:
    """Zero-pad at the end or truncate to exactly ``n`` samples (Speech Commands convention)."""
    if len(audio) >= n:
        return audio[:n]
    return np.pad(audio, (0, n - len(audio)))
