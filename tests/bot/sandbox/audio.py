"""Measuring the sandbox's audio in tests: reading its WAVs, loudness, likeness and pitch."""

from __future__ import annotations

import io
import math
import sys
import wave
from array import array
from collections.abc import Sequence

from bot.sandbox import studio

SR = studio.SAMPLE_RATE


def read_wav(data: bytes) -> tuple[wave._wave_params, array]:
    """The WAV's parameters and its samples as signed 16-bit integers."""
    with wave.open(io.BytesIO(data), "rb") as wav:
        params = wav.getparams()
        frames = wav.readframes(params.nframes)
    samples = array("h")
    samples.frombytes(frames)
    if sys.byteorder == "big":  # pragma: no cover - WAV data is little-endian
        samples.byteswap()
    return params, samples


def samples(wav: bytes) -> array:
    """The samples of a track the studio made (mono, 16-bit, at its sample rate)."""
    params, pcm = read_wav(wav)
    assert (params.nchannels, params.sampwidth, params.framerate) == (1, 2, SR)
    return pcm


def wav_seconds(wav: bytes) -> float:
    return len(samples(wav)) / SR


def rms(pcm: Sequence[float], start: float = 0.0, end: float | None = None) -> float:
    """The root mean square of ``pcm`` from ``start`` to ``end`` seconds (0 for an empty stretch)."""
    window = pcm[int(start * SR):len(pcm) if end is None else int(end * SR)]
    return math.sqrt(sum(x * x for x in window) / len(window)) if len(window) else 0.0


def correlation(a: Sequence[float], b: Sequence[float]) -> float:
    """The normalised correlation of ``a`` and ``b`` over the shorter one's length (0 if either is silent)."""
    n = min(len(a), len(b))
    dot = sum(x * y for x, y in zip(a[:n], b[:n]))
    norm = math.sqrt(sum(x * x for x in a[:n]) * sum(y * y for y in b[:n]))
    return dot / norm if norm else 0.0


def goertzel(window: Sequence[float], freq: float) -> float:
    """Power of ``freq`` in ``window``."""
    coeff = 2 * math.cos(2 * math.pi * freq / SR)
    s1 = s2 = 0.0
    for x in window:
        s1, s2 = x + coeff * s1 - s2, s1
    return s1 * s1 + s2 * s2 - coeff * s1 * s2


def sounds_pitch(window: Sequence[float], pitch: int) -> bool:
    """Whether ``window`` rings at MIDI ``pitch``: over four times the power there as 1.5 semitones above it."""
    freq = 440.0 * 2 ** ((pitch - 69) / 12)
    return goertzel(window, freq) > 4 * goertzel(window, freq * 2 ** (1.5 / 12))
