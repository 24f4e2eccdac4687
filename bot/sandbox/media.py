"""Deterministic stand-in media for the built-in sandbox music provider.

The sandbox provider simulates Suno without calling it, but the bot still needs
real files to upload: a playable song and a cover image.  Everything here is
derived from a *seed* string (e.g. the prompt plus the track index) through
SHA-256, so the same seed always yields the same bytes.

* :func:`synthesize_song` renders the song as a WAV file;
* :func:`synthesize_stems` renders the separate parts of that same song (for
  stem separation): each voice is rendered once and the stems are gathered
  from the same voices the song is mixed from, at the song's scale;
* :func:`cover_png` draws the cover, and :func:`cover_rgb` gives the same
  picture as raw RGB pixels (for the music-video encoder);
* :func:`song_notes`, :func:`lead_phrases` and :func:`song_traits` tell what a
  song plays (every note of every stem, in seconds) without rendering it, so
  MIDI and timed lyrics can match the audio exactly.

A song can be steered with :class:`SongOptions` (key, mode, tempo, where the
lead sings, its :class:`Voice`, "weirdness", style adherence); the default
options give exactly the song of the seed alone.

Only the standard library is used, and the synthesiser is written for speed
in pure Python:

* every steady tone is played from a cached wavetable holding a whole number
  of periods, tiled with :func:`itertools.cycle`; the pad plays a whole
  just-intonation triad from a single table;
* the sung lead slices a fine voice table with a per-block stride, which
  gives it a vibrato without any per-sample Python code;
* all per-sample arithmetic runs in C-level ``map``/``operator`` calls, and
  tracks are concatenated rather than mixed sample by sample;
* the song is a four-bar accompaniment loop under melody phrases A A B C, so
  each distinct four-bar slot is mixed, measured and converted to PCM once and
  repeats are plain copies (likewise each distinct bar or loop of a stem).
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import math
import struct
import wave
import zlib
from array import array
from fractions import Fraction
from functools import lru_cache
from itertools import accumulate, cycle, islice, repeat
from operator import add, mod, mul, sub, truediv
from typing import Callable, Hashable, Iterable, NamedTuple, Sequence

__all__ = [
    "DEFAULT_VOICE", "GENDER_VOICES", "SPLIT_STEMS", "Note", "SongOptions", "Voice", "cover_png", "cover_rgb",
    "lead_phrases", "song_notes", "song_traits", "synthesize_song", "synthesize_stems", "voice_from_seed",
    "wav_duration",
]

MAX_SECONDS = 600.0
MIN_SAMPLE_RATE = 8000
MAX_SAMPLE_RATE = 48000
MIN_COVER_SIZE = 16
MAX_COVER_SIZE = 2048

_TWO_PI = 2.0 * math.pi
_PEAK = 0.8 * 32767  # normalisation target: 80 % of int16 full scale


# --------------------------------------------------------------------------
# Deterministic randomness
# --------------------------------------------------------------------------


class _Rng:
    """Tiny PRNG driven by SHA-256 in counter mode (stable across Python versions)."""

    def __init__(self, seed: str, domain: str) -> None:
        self._key = hashlib.sha256(
            domain.encode() + b"\x00" + seed.encode("utf-8", "surrogatepass")
        ).digest()
        self._counter = 0
        self._words: list[int] = []

    def _word(self) -> int:
        if not self._words:
            block = hashlib.sha256(self._key + self._counter.to_bytes(8, "big")).digest()
            self._counter += 1
            self._words = list(struct.unpack(">8I", block))
        return self._words.pop()

    def below(self, n: int) -> int:
        """An integer in ``range(n)``."""
        return self._word() % n

    def uniform(self, lo: float, hi: float) -> float:
        return lo + (hi - lo) * (self._word() / 4294967296.0)

    def choice(self, seq: Sequence):
        return seq[self.below(len(seq))]


# --------------------------------------------------------------------------
# Music
# --------------------------------------------------------------------------

_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 10)

# Four-chord progressions as (0-based) scale degrees.
_MAJOR_PROGRESSIONS = (
    (0, 4, 5, 3),  # I  V  vi IV
    (5, 3, 0, 4),  # vi IV I  V
    (0, 5, 3, 4),  # I  vi IV V
    (0, 3, 5, 4),  # I  IV vi V
    (0, 3, 0, 4),  # I  IV I  V
    (3, 0, 4, 5),  # IV I  V  vi
    (0, 2, 3, 4),  # I  iii IV V
)
_MINOR_PROGRESSIONS = (
    (0, 5, 2, 6),  # i   VI  III VII
    (0, 3, 5, 4),  # i   iv  VI  v
    (0, 6, 5, 6),  # i   VII VI  VII
    (0, 5, 3, 6),  # i   VI  iv  VII
    (0, 3, 6, 2),  # i   iv  VII III
)

# Melody rhythms for one 4/4 bar in eighth notes; negative values are rests.
_RHYTHMS = (
    (2, 2, 2, 2),
    (3, 1, 2, 2),
    (2, 1, 1, 2, 2),
    (4, 2, 2),
    (1, 1, 2, 1, 1, 2),
    (2, 2, 4),
    (3, 3, 2),
    (2, 2, 1, 1, 2),
    (2, 2, 2, -2),
    (3, 1, 4),
    (-2, 2, 2, 2),
    (1, 1, 1, 1, 4),
)
_ENDING_RHYTHMS = ((2, 2, 4), (4, 4), (3, 1, 4), (2, 6), (2, 2, 2, 2))
_STEPS = (-2, -1, -1, -1, 1, 1, 1, 2, 0, 3, -3)
# Added to the pools above when a song is asked to be "weird": syncopations and leaps.
_ODD_RHYTHMS = ((3, 3, 2), (1, 2, 1, 2, 2), (-1, 3, 1, 3), (3, 2, 3), (1, 1, 1, 3, 2), (-3, 1, 1, 3), (5, 3))
_LEAPS = (-5, -4, 4, 5, 6, -6)
# Modes a "very weird" song uses instead of plain major or minor (every triad of them is major, minor or
# diminished, so the pad's just-intonation tables still fit).
_ODD_MODES = {
    False: ((0, 2, 4, 6, 7, 9, 11), (0, 2, 4, 5, 7, 9, 10)),  # Lydian, Mixolydian
    True: ((0, 1, 3, 5, 7, 8, 10), (0, 2, 3, 5, 7, 9, 10)),  # Phrygian, Dorian
}
_WEIRD_RHYTHMS = 1 / 3  # weirdness from which the melody uses odd rhythms and leaps
_WEIRD_MODE = 2 / 3  # weirdness from which the song is in an unusual mode

# Bass patterns: (start eighth, length in eighths, interval above the chord root).
_BASS_PATTERNS = (
    ((0, 4, 0), (4, 4, 0)),
    ((0, 2, 0), (2, 2, 0), (4, 2, 7), (6, 2, 0)),
    ((0, 3, 0), (3, 1, 0), (4, 4, 0)),
    ((0, 6, 0), (6, 2, 7)),
    ((0, 2, 0), (2, 2, 12), (4, 2, 0), (6, 2, 12)),
    ((0, 3, 0), (3, 3, 7), (6, 2, 12)),
)
# Drum patterns: (kick eighths, snare eighths, hi-hat eighths).
_DRUM_PATTERNS = (
    ((0, 4), (2, 6), (0, 1, 2, 3, 4, 5, 6, 7)),
    ((0, 3, 4), (2, 6), (1, 3, 5, 7)),
    ((0, 4, 5), (2, 6), (0, 1, 2, 3, 4, 5, 6, 7)),
    ((0, 5), (2, 6), (0, 2, 4, 6)),
    ((0, 4), (6,), (1, 3, 5, 7)),
    ((0,), (), (0, 2, 4, 6)),  # sparse, almost ambient
)

# Wavetable instruments: (harmonic recipe as (harmonic, relative amplitude), level).
_INSTRUMENTS = {
    "bass": (((1, 1.0), (2, 0.4), (3, 0.12)), 0.42),
    "pad": (((1, 1.0), (2, 0.2), (3, 0.12), (4, 0.05)), 0.075),
    "pluck": (((1, 1.0), (2, 0.5), (3, 0.22), (4, 0.14), (6, 0.06)), 0.40),
}
# Decaying envelopes: (attack s, decay time-constant s, release s).
_ENVELOPES = {
    "bass": (0.006, 0.55, 0.03),
    "pluck": (0.004, 0.28, 0.025),
}
_PAD_ATTACK = 0.15  # s; the pad sustains at a constant level in between
_PAD_RELEASE = 0.3  # s; each chord rings this far into the next bar
_VOICE_LEVEL = 0.45
_VOICE_ATTACK = 0.045
_VOICE_RELEASE = 0.08
_VOICE_TABLE_SIZE = 1 << 14
_VOICE_BLOCK = 256  # samples per constant-pitch block of the sung lead
_VIBRATO_HZ = 5.5
_VIBRATO_DEPTH = 0.014  # relative frequency deviation (about +/- 24 cents)
_TABLE_TARGET = 2048  # approximate wavetable length in samples
_FADE_IN = 0.5  # s
_FADE_OUT = 2.5  # s
MIN_BPM = 30
MAX_BPM = 300


class Voice(NamedTuple):
    """The timbre of the sung lead: its harmonic recipe ``(harmonic, amplitude)`` and its vibrato."""

    partials: tuple[tuple[int, float], ...]
    vibrato_hz: float
    vibrato_depth: float  # relative frequency deviation


DEFAULT_VOICE = Voice(((1, 1.0), (2, 0.65), (3, 0.3), (4, 0.12), (5, 0.05)), _VIBRATO_HZ, _VIBRATO_DEPTH)
# vocalGender: a brighter, quicker-vibrato voice high up, a darker, slower one low down.
GENDER_VOICES = {
    "f": Voice(((1, 1.0), (2, 0.8), (3, 0.45), (4, 0.2), (6, 0.08)), 6.1, 0.017),
    "m": Voice(((1, 1.0), (2, 0.45), (3, 0.42), (4, 0.26), (5, 0.14)), 4.9, 0.011),
}


def voice_from_seed(seed: str) -> Voice:
    """A distinct, deterministic voice for ``seed`` (e.g. a persona): harmonics and vibrato drawn from it."""
    rng = _Rng(seed, "chorus-sandbox-voice")
    partials = ((1, 1.0), (2, round(rng.uniform(0.25, 0.95), 2)), (3, round(rng.uniform(0.08, 0.55), 2)),
                (4, round(rng.uniform(0.03, 0.3), 2)), (5, round(rng.uniform(0.0, 0.16), 2)))
    return Voice(partials, round(rng.uniform(4.4, 6.6), 2), round(rng.uniform(0.007, 0.024), 3))


class SongOptions(NamedTuple):
    """What a request may steer in a song (every field's default leaves the seed's own choice).

    ``key`` is the tonic's pitch class (0 = C), ``minor`` the mode, ``bpm`` the tempo; ``register`` ("m" or
    "f") puts the lead low or high and gives it that register's voice unless ``voice`` is set (a persona);
    ``weirdness`` (0-1) brings odd rhythms and leaps from 1/3 and an unusual mode from 2/3; ``style_weight``
    (0-1), when given, makes tempo and mode follow words of ``style`` ("slow", "dark", ...) that much and
    shifts the balance from the lead (0) to the band (1)."""

    key: int | None = None
    minor: bool | None = None
    bpm: int | None = None
    register: str | None = None
    voice: Voice | None = None
    weirdness: float = 0.0
    style: str = ""
    style_weight: float | None = None


class Note(NamedTuple):
    """A note a stem plays: MIDI pitch, start and end in seconds, velocity 0-1."""

    pitch: int
    start: float
    end: float
    velocity: float


def _midi_hz(midi: float) -> float:
    return 440.0 * 2.0 ** ((midi - 69.0) / 12.0)


def _sine_period(length: int) -> list[float]:
    """One period of a sine wave in ``length`` samples."""
    return list(map(math.sin, map(mul, range(length), repeat(_TWO_PI / length))))


def _harmonic(master: list[float], step: int) -> Iterable[float]:
    """``sin(step * x)`` sampled like ``master`` (one period of ``sin(x)``)."""
    length = len(master)
    if step * length <= 1 << 18:
        return (master * step)[::step]  # element j is master[(step * j) % length]
    return map(master.__getitem__, map(mod, range(0, step * length, step), repeat(length)))


def _harmonic_sum(master: list[float], partials: Sequence[tuple[int, float]], level: float) -> list[float]:
    """Sum of harmonics of a sine period ``master``, scaled to peak ``level`` at most."""
    norm = level / sum(a for _, a in partials)
    table = [0.0] * len(master)
    for harmonic, amp in partials:
        table = list(map(add, table, map(mul, _harmonic(master, harmonic), repeat(amp * norm))))
    return table


@lru_cache(maxsize=128)
def _wavetable(kind: str, midi: int, sample_rate: int) -> tuple[float, ...]:
    """A table holding a whole number of periods of the given tone (level included).

    The table length ``L`` and cycle count ``k`` are chosen so that
    ``k * sample_rate / L`` is within 0.5/L (a fraction of a cent) of the
    wanted frequency, so tiling the table plays the note in tune.
    """
    freq = _midi_hz(midi)
    cycles = max(1, round(freq * _TABLE_TARGET / sample_rate))
    length = max(2, round(cycles * sample_rate / freq))
    master = _sine_period(length)
    partials, level = _INSTRUMENTS[kind]
    # Leave out harmonics that would alias above the Nyquist frequency.
    partials = tuple((h, a) for h, a in partials if h * freq < 0.45 * sample_rate) or partials[:1]
    # The table holds ``cycles`` periods, so harmonic h is ``sin(h * cycles * x)``.
    return tuple(_harmonic_sum(master, [(h * cycles, a) for h, a in partials], level))


@lru_cache(maxsize=8)
def _voice_table(partials: tuple[tuple[int, float], ...] = DEFAULT_VOICE.partials) -> tuple[float, ...]:
    """A fine-grained period of a vowel-ish tone (strong 2nd harmonic), stored three times over.

    The voice is played by slicing this table with an integer stride per short
    block, so the pitch can follow a vibrato while staying at C speed.
    """
    size = _VOICE_TABLE_SIZE
    master = _sine_period(size)
    return tuple(_harmonic_sum(master, partials, _VOICE_LEVEL) * 3)


# Just-intonation ratios for chord intervals (semitones above the root).  A
# justly tuned triad is exactly periodic over a short span, so a whole chord
# fits in one wavetable, and it sounds smooth (no beating) as a sustained pad.
_JUST_RATIOS = {0: Fraction(1), 3: Fraction(6, 5), 4: Fraction(5, 4), 6: Fraction(7, 5), 7: Fraction(3, 2)}


@lru_cache(maxsize=128)
def _chord_table(root_midi: int, tones: tuple[tuple[int, int], ...], sample_rate: int) -> tuple[float, ...]:
    """Whole periods of a pad chord; ``tones`` are (interval, octave shift) pairs."""
    ratios = [_JUST_RATIOS[interval] * Fraction(2) ** octave for interval, octave in tones]
    denominator = math.lcm(*(r.denominator for r in ratios))
    numerators = [int(r * denominator) for r in ratios]
    common = math.gcd(*numerators)
    multiples = [n // common for n in numerators]  # tone i = multiples[i] * f0
    f0 = _midi_hz(root_midi) * common / denominator
    cycles = max(1, round(f0 * _TABLE_TARGET / sample_rate))
    length = max(2, round(cycles * sample_rate / f0))
    master = _sine_period(length)
    partials, level = _INSTRUMENTS["pad"]
    table = [0.0] * length
    for multiple in multiples:
        freq = multiple * f0
        usable = tuple((h, a) for h, a in partials if h * freq < 0.45 * sample_rate) or partials[:1]
        norm = level / sum(a for _, a in usable)
        for harmonic, amp in usable:
            step = cycles * multiple * harmonic
            table = list(map(add, table, map(mul, _harmonic(master, step), repeat(amp * norm))))
    return tuple(table)


@lru_cache(maxsize=24)
def _envelope(kind: str, n: int, sample_rate: int) -> tuple[float, ...]:
    """Linear attack, exponential decay, linear release (click-free), peak 1."""
    attack_s, decay_s, release_s = _ENVELOPES[kind]
    factor = math.exp(-1.0 / (decay_s * sample_rate))
    env = list(accumulate(repeat(factor, n - 1), mul, initial=1.0))
    attack = max(1, min(int(attack_s * sample_rate), n // 2))
    release = max(1, min(int(release_s * sample_rate), n - attack))
    env[:attack] = map(mul, env[:attack], _ramp_up(attack))
    env[n - release :] = map(mul, env[n - release :], _ramp_down(release))
    return tuple(env)


@lru_cache(maxsize=64)
def _ramp_up(n: int) -> tuple[float, ...]:
    """``n`` gains rising linearly from 0 (exclusive of 1)."""
    return tuple(map(truediv, range(n), repeat(float(n))))


@lru_cache(maxsize=64)
def _ramp_down(n: int) -> tuple[float, ...]:
    """``n`` gains falling linearly to exactly 0."""
    return tuple(map(truediv, range(n - 1, -1, -1), repeat(float(n))))


@lru_cache(maxsize=16)
def _fade_out_curve(n: int) -> tuple[float, ...]:
    """``n`` gains falling quadratically to exactly 0 (a gentle musical fade)."""
    ramp = _ramp_down(n)
    return tuple(map(mul, ramp, ramp))


def _shape(samples: list[float], attack: int, release: int) -> list[float]:
    """Apply linear attack/release ramps to the ends of ``samples`` in place."""
    n = len(samples)
    attack = max(1, min(attack, n // 2))
    release = max(1, min(release, n - attack))
    samples[:attack] = map(mul, samples[:attack], _ramp_up(attack))
    samples[n - release :] = map(mul, samples[n - release :], _ramp_down(release))
    return samples


def _noise(count: int, state: int) -> list[float]:
    """Deterministic white noise in [-1, 1) from a linear congruential generator."""
    out = []
    for _ in range(count):
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        out.append(state / 1073741824.0 - 1.0)
    return out


def _decay(count: int, seconds: float, sample_rate: int, level: float = 1.0) -> list[float]:
    """``level * exp(-t / seconds)`` for ``count`` samples."""
    factor = math.exp(-1.0 / (seconds * sample_rate))
    return list(accumulate(repeat(factor, count - 1), mul, initial=level))


@lru_cache(maxsize=8)
def _drum_kit(sample_rate: int) -> tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]:
    """Kick, snare and hi-hat one-shots (deterministic, click-free onsets)."""
    sr = sample_rate
    step = _TWO_PI / sr
    # Kick: a sine sweeping from ~125 Hz down to 45 Hz with a fast decay.
    n = int(0.16 * sr)
    freq = map(add, repeat(45.0 * step), _decay(n, 0.03, sr, 80.0 * step))
    kick = list(map(mul, map(math.sin, accumulate(freq)), _decay(n, 0.08, sr, 0.55)))
    # Snare: softened noise plus a short 185 Hz body.
    n = int(0.14 * sr)
    raw = _noise(n + 1, 12345)
    noise = map(mul, map(add, raw, raw[1:]), _decay(n, 0.045, sr, 0.08))
    body_phase = map(mul, range(n), repeat(185.0 * step))
    body = map(mul, map(math.sin, body_phase), _decay(n, 0.05, sr, 0.12))
    snare = list(map(add, noise, body))
    # Hi-hat: differentiated (high-passed) noise, very short.
    n = int(0.035 * sr)
    raw = _noise(n + 1, 987654)
    hat = list(map(mul, map(sub, raw[1:], raw), _decay(n, 0.012, sr, 0.05)))
    for sound in (kick, snare, hat):
        _shape(sound, 16, int(0.02 * sr))
    return tuple(kick), tuple(snare), tuple(hat)


def _mix(buf: list[float], start: int, samples: Sequence[float]) -> None:
    """Add ``samples`` into ``buf`` at ``start`` (wrapping round past the end)."""
    size = len(buf)
    count = len(samples)
    pos = start % size
    done = 0
    while done < count:
        take = min(count - done, size - pos)
        piece = samples[done : done + take] if (done or take < count) else samples
        buf[pos : pos + take] = map(add, buf[pos : pos + take], piece)
        done += take
        pos = 0


def _pad_to(track: list[float], length: int) -> None:
    """Extend ``track`` with silence up to ``length`` samples."""
    if len(track) < length:
        track += [0.0] * (length - len(track))


def _fit(track: list[float], length: int) -> list[float]:
    """``track`` cut or padded with silence to exactly ``length`` samples."""
    del track[length:]
    _pad_to(track, length)
    return track


def _tone(kind: str, midi: int, sr: int, lo: int, hi: int) -> Iterable[float]:
    """Samples ``lo:hi`` of a steady wavetable tone."""
    return islice(cycle(_wavetable(kind, midi, sr)), lo, hi)


def _note(kind: str, midi: int, n: int, sr: int) -> list[float]:
    """``n`` samples of a decaying wavetable instrument (bass, pluck)."""
    return list(map(mul, _tone(kind, midi, sr, 0, n), _envelope(kind, n, sr)))


def _sung_note(midi: int, n: int, sr: int, voice: Voice = DEFAULT_VOICE) -> list[float]:
    """A sung-ish note: vowel timbre with a delayed vibrato (pitch updated every block).

    Each block is one strided slice of the voice table, continuing exactly where
    the previous block stopped (no phase jumps); the stride is chosen so the
    played phase keeps tracking the ideal, vibrato-modulated phase.
    """
    table = _voice_table(voice.partials)
    size = _VOICE_TABLE_SIZE
    base_inc = _midi_hz(midi) * size / sr  # table steps per sample at the nominal pitch
    vib_w = _TWO_PI * voice.vibrato_hz
    # stride * block must stay within two table lengths so a slice never runs off the end
    block = max(1, min(_VOICE_BLOCK, int(2 * size / (base_inc * (1 + voice.vibrato_depth) + 2))))
    tone: list[float] = []
    ideal = 0.0
    played = 0
    for s in range(0, n, block):
        t = (s + block / 2) / sr
        depth = voice.vibrato_depth * min(1.0, max(0.0, (t - 0.12) / 0.3))
        ideal += block * base_inc * (1.0 + depth * math.sin(vib_w * t))
        stride = max(1, round((ideal - played) / block))
        i0 = played % size
        tone += table[i0 : i0 + stride * block : stride]
        played += stride * block
    _fit(tone, n)
    return _shape(tone, int(_VOICE_ATTACK * sr), int(_VOICE_RELEASE * sr))


def _melody_phrase(
    rng: _Rng, degrees: Sequence[int], low: int, high: int, start: int, end_on_tonic: bool,
    rhythms: Sequence[tuple[int, ...]] = _RHYTHMS, steps: Sequence[int] = _STEPS,
) -> list[tuple[int, int, int]]:
    """Notes ``(start eighth, length in eighths, scale index)`` for one phrase (a bar per chord)."""
    notes: list[tuple[int, int, int]] = []
    prev = start
    centre = (low + high) // 2
    for bar, degree in enumerate(degrees):
        last_bar = bar == len(degrees) - 1
        rhythm = rng.choice(_ENDING_RHYTHMS if last_bar else rhythms)
        chord = {degree % 7, (degree + 2) % 7, (degree + 4) % 7}
        pos = bar * 8
        first = True
        for value in rhythm:
            length = abs(value)
            if value > 0:
                if first or length >= 3:
                    # strong or long notes land on chord tones, close to the previous note
                    tones = sorted(
                        (i for i in range(low, high + 1) if i % 7 in chord),
                        key=lambda i: (abs(i - prev), i),
                    )
                    idx = tones[min(len(tones) - 1, rng.choice((0, 0, 0, 1, 1, 2)))]
                else:
                    step = rng.choice(steps)
                    if prev > centre + 2 and step > 0 and rng.below(2):
                        step = -step
                    elif prev < centre - 2 and step < 0 and rng.below(2):
                        step = -step
                    idx = prev + step
                    if not low <= idx <= high:
                        idx = prev - step
                notes.append((pos, length, idx))
                prev = idx
                first = False
            pos += length
    if end_on_tonic and notes:
        pos, length, idx = notes[-1]
        tonics = [i for i in range(low, high + 1) if i % 7 == 0]
        notes[-1] = (pos, length, min(tonics, key=lambda i: (abs(i - idx), i)))
    return notes


def _validate_options(options: SongOptions | None) -> SongOptions:
    if options is None:
        return SongOptions()
    if not isinstance(options, SongOptions):
        raise TypeError(f"options must be SongOptions, not {type(options).__name__}")
    if options.key is not None and options.key not in range(12):
        raise ValueError(f"key must be a pitch class 0-11, got {options.key!r}")
    if options.bpm is not None and not MIN_BPM <= options.bpm <= MAX_BPM:
        raise ValueError(f"bpm must be between {MIN_BPM} and {MAX_BPM}, got {options.bpm!r}")
    if options.register not in (None, "m", "f"):
        raise ValueError(f"register must be 'm', 'f' or None, got {options.register!r}")
    if not 0.0 <= options.weirdness <= 1.0:
        raise ValueError(f"weirdness must be between 0 and 1, got {options.weirdness!r}")
    if options.style_weight is not None and not 0.0 <= options.style_weight <= 1.0:
        raise ValueError(f"style_weight must be between 0 and 1, got {options.style_weight!r}")
    return options


# Words of a style that suggest a mode or a tempo (used only when a style weight is given).
_MINOR_WORDS = ("dark", "sad", "melanch", "minor", "moody", "gloomy", "haunting", "mysterious", "noir", "gothic")
_MAJOR_WORDS = ("happy", "bright", "cheerful", "sunny", "upbeat", "joy", "major", "uplifting", "playful")
_SLOW_WORDS = ("slow", "ballad", "ambient", "chill", "lo-fi", "lofi", "calm", "relax", "downtempo", "lullaby")
_FAST_WORDS = ("fast", "dance", "edm", "punk", "drum and bass", "dnb", "energetic", "upbeat", "techno", "hyper")


def _style_hints(style: str) -> tuple[bool | None, int | None]:
    """(minor?, tempo) the words of ``style`` suggest, each None if they suggest nothing."""
    text = style.lower()
    dark = any(word in text for word in _MINOR_WORDS)
    bright = any(word in text for word in _MAJOR_WORDS)
    slow = any(word in text for word in _SLOW_WORDS)
    fast = any(word in text for word in _FAST_WORDS)
    return (dark if dark != bright else None), (72 if slow and not fast else 150 if fast and not slow else None)


def _validate_song_args(seed: str, seconds: float, sample_rate: int) -> None:
    if not isinstance(seed, str):
        raise TypeError(f"seed must be a str, not {type(seed).__name__}")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise ValueError(f"seconds must be a number, got {seconds!r}")
    if not 0 < seconds <= MAX_SECONDS:  # also rejects NaN
        raise ValueError(f"seconds must be > 0 and <= {MAX_SECONDS:g}, got {seconds!r}")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int):
        raise ValueError(f"sample_rate must be an int, got {sample_rate!r}")
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise ValueError(
            f"sample_rate must be between {MIN_SAMPLE_RATE} and {MAX_SAMPLE_RATE} Hz, got {sample_rate}"
        )


def _peak(samples: Sequence[float]) -> float:
    return max(max(samples), -min(samples)) if samples else 0.0


def _gain_to_peak(peak: float) -> float:
    """The scale that brings a peak of ``peak`` to _PEAK (0 for silence)."""
    return _PEAK / peak if peak > 0 else 0.0


# --------------------------------------------------------------------------
# Arrangement, voices and stems
# --------------------------------------------------------------------------

# Every name synthesize_stems accepts: "instrumental" (the song without its
# lead voice, for ``separate_vocal``) and the ``split_stem`` parts.
SPLIT_STEMS: tuple[str, ...] = (
    "vocals",
    "backing_vocals",
    "drums",
    "bass",
    "guitar",
    "keyboard",
    "percussion",
    "strings",
    "synth",
    "fx",
    "brass",
    "woodwinds",
)
_STEM_NAMES = frozenset(SPLIT_STEMS) | {"instrumental"}

# How the synthesiser's voices map onto stem names:
#   sung lead (a normal song)           -> "vocals"
#   bell-like pluck lead (instrumental) -> "synth"   (there is no "vocals" then)
#   sustained just-intonation pad       -> "strings" (a soft, slow-attack string pad)
#   bass                                -> "bass"
#   kick and snare                      -> "drums"
#   hi-hat                              -> "percussion"
# "instrumental" is everything but the sung lead (for an instrumental song: the
# whole song).  backing_vocals, guitar, keyboard, fx, brass and woodwinds are
# not in the arrangement (a harmony line would change every existing song), so
# they are never returned.
_DRUM_STEMS = ("drums", "drums", "percussion")  # kick, snare, hi-hat (the order of _drum_kit)
# General MIDI drum keys of the kit: kick, snare, closed hi-hat (the order of _drum_kit).
_DRUM_KEYS = ((36, "kick"), (38, "snare"), (42, "hat"))

_FORM = (0, 0, 1, 2)  # melody phrases A A B C, the last one coming home to the tonic


class _Arrangement(NamedTuple):
    """The musical decisions drawn from a seed; every voice is rendered from these."""

    sr: int
    total: int  # song length in samples
    key: int
    scale: tuple[int, ...]
    progression: tuple[int, ...]  # one chord (scale degree) per bar of the loop
    eighth: int  # samples per eighth note
    bass_pattern: tuple[tuple[int, int, int], ...]
    drums: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]
    phrases: tuple[list[tuple[int, int, int]], ...]
    lead_tonic: int
    instrumental: bool
    minor: bool = False
    bpm: int = 120
    voice: Voice = DEFAULT_VOICE
    lead_gain: float = 1.0

    @property
    def bar(self) -> int:
        return 8 * self.eighth

    @property
    def loop(self) -> int:
        """One pass through the progression (the accompaniment's period)."""
        return len(self.progression) * self.bar


def _arrange(
    seed: str, seconds: float, sample_rate: int, instrumental: bool, options: SongOptions | None = None
) -> _Arrangement:
    sr = sample_rate
    opts = _validate_options(options)
    rng = _Rng(seed, "chorus-sandbox-song")
    # Every draw is made whatever the options, so the options change only what they steer.
    key = rng.below(12)
    minor = rng.below(3) == 0
    # Only a style weight lets the style's words steer: the mode from 0.5, the tempo that much.
    hint_minor, hint_bpm = _style_hints(opts.style) if opts.style_weight is not None else (None, None)
    weight = opts.style_weight or 0.0
    if opts.key is not None:
        key = opts.key
    if opts.minor is not None:
        minor = opts.minor
    elif hint_minor is not None and weight >= 0.5:
        minor = hint_minor
    scale = _MINOR if minor else _MAJOR
    if opts.weirdness >= _WEIRD_MODE:
        scale = _Rng(seed, "chorus-sandbox-weird").choice(_ODD_MODES[minor])
    progression = rng.choice(_MINOR_PROGRESSIONS if minor else _MAJOR_PROGRESSIONS)
    bpm = 80 + rng.below(61)
    if opts.bpm is not None:
        bpm = opts.bpm
    elif hint_bpm is not None:
        bpm = round(bpm + (hint_bpm - bpm) * weight)
    bass_pattern = rng.choice(_BASS_PATTERNS)
    drums = rng.choice(_DRUM_PATTERNS)
    rhythms, steps = (_RHYTHMS + _ODD_RHYTHMS, _STEPS + _LEAPS) if opts.weirdness >= _WEIRD_RHYTHMS else (_RHYTHMS, _STEPS)
    # Melody as scale indices around a tonic near middle C.
    low, high = -2, 9
    phrases = (
        _melody_phrase(rng, progression, low, high, rng.choice((0, 2, 4, 7)), False, rhythms, steps),
        _melody_phrase(rng, progression, low, high, rng.choice((2, 4, 7)), False, rhythms, steps),
        _melody_phrase(rng, progression, low, high, rng.choice((4, 7)), True, rhythms, steps),
    )
    lead_tonic = 60 + key if key <= 5 else 48 + key
    if opts.register == "f":
        lead_tonic = 60 + key  # C4-B4: the upper register
    elif opts.register == "m":
        lead_tonic = 48 + key  # C3-B3: an octave below
    if instrumental:
        lead_tonic += 12  # a bell-like pluck an octave up instead of the "voice"
    voice = opts.voice or GENDER_VOICES.get(opts.register or "", DEFAULT_VOICE)
    lead_gain = 1.0 if opts.style_weight is None else 1.5 - opts.style_weight
    return _Arrangement(
        sr=sr,
        total=max(1, round(seconds * sr)),
        key=key,
        scale=scale,
        progression=progression,
        eighth=round(sr * 30.0 / bpm),
        bass_pattern=bass_pattern,
        drums=drums,
        phrases=phrases,
        lead_tonic=lead_tonic,
        instrumental=instrumental,
        minor=minor,
        bpm=bpm,
        voice=voice,
        lead_gain=lead_gain,
    )


def _scale_pitch(tonic: int, scale: Sequence[int], index: int) -> int:
    """The MIDI pitch of scale index ``index`` above ``tonic`` (7 is the tonic an octave up, -1 the seventh
    degree below the tonic)."""
    return tonic + 12 * (index // 7) + scale[index % 7]


def _lead_pitch(a: _Arrangement, index: int) -> int:
    """The MIDI pitch the lead plays for a melody note's scale index."""
    return _scale_pitch(a.lead_tonic, a.scale, index)


def _bass_line(a: _Arrangement, degree: int) -> list[tuple[int, int, int]]:
    """``(start eighth, length in eighths, MIDI pitch)`` of the bass notes of a bar on the chord on ``degree``."""
    root_pc = (a.key + a.scale[degree]) % 12
    return [(start, length, 36 + root_pc + interval) for start, length, interval in a.bass_pattern]


def _pad_voicing(a: _Arrangement, degree: int) -> list[int]:
    """The MIDI pitches of the pad's triad on ``degree`` (root, third, fifth), each voiced between F#3 and F4."""
    return [54 + ((a.key + a.scale[(degree + step) % 7]) % 12 - 54) % 12 for step in (0, 2, 4)]


def _bass_bar(a: _Arrangement, degree: int, cache: dict[tuple[int, int], list[float]]) -> list[float]:
    """One bar of the bass line under the chord on ``degree``."""
    bass: list[float] = []
    for start, length, pitch in _bass_line(a, degree):
        note = (pitch, length * a.eighth)
        if note not in cache:
            cache[note] = _note("bass", note[0], note[1], a.sr)
        _pad_to(bass, start * a.eighth)
        bass += cache[note]
    return _fit(bass, a.bar)


def _pad_table(a: _Arrangement, degree: int) -> tuple[float, ...]:
    """The pad's wavetable for the chord on ``degree``: the triad voiced between F#3 and F4."""
    voiced = _pad_voicing(a, degree)
    root = voiced[0]
    tones = []
    for midi in voiced:
        interval = (midi - root) % 12
        tones.append((interval, (midi - root - interval) // 12))
    return _chord_table(root, tuple(tones), a.sr)


class _Hit(NamedTuple):
    """A drum hit in a bar: its stem, its start (samples into the bar), its sound (cut at the bar's end), its
    General MIDI key and the kit voice that plays it ("kick", "snare" or "hat")."""

    stem: str
    start: int
    sound: Sequence[float]
    pitch: int
    voice: str


def _drum_hits(a: _Arrangement) -> list[_Hit]:
    """Every drum hit in a bar, in mixing order."""
    bar = a.bar
    hits = []
    for positions, sound, stem, (pitch, voice) in zip(a.drums, _drum_kit(a.sr), _DRUM_STEMS, _DRUM_KEYS):
        for pos in positions:
            start = pos * a.eighth
            hits.append(_Hit(stem, start, sound[: bar - start], pitch, voice))
    return hits


def _lead(a: _Arrangement, phrase_no: int, length: int, cache: dict[tuple[int, int], list[float]]) -> list[float]:
    """The first ``length`` samples of a melody phrase, sung (or plucked, for an instrumental)."""
    lead: list[float] = []
    for start, eighths, idx in a.phrases[phrase_no]:
        if start * a.eighth >= length:
            break
        note = (_lead_pitch(a, idx), eighths * a.eighth)
        if note not in cache:
            if a.instrumental:
                cache[note] = _note("pluck", note[0], note[1], a.sr)
            else:
                cache[note] = _sung_note(note[0], note[1], a.sr, a.voice)
        _pad_to(lead, start * a.eighth)
        lead += cache[note]
    _fit(lead, length)
    return lead if a.lead_gain == 1.0 else list(map(mul, lead, repeat(a.lead_gain)))


def _loop_of_bars(
    a: _Arrangement, blocks: dict[int, list[float]], length: int, tails: dict[int, list[float]] | None = None
) -> list[float]:
    """The first ``length`` samples of the loop built from per-chord bars; each chord's
    ``tail`` (if given) rings into the next bar, the last one into the loop's first bar."""
    bar, loop = a.bar, a.loop
    bars = [degree for b, degree in enumerate(a.progression) if b * bar < length]
    out: list[float] = []
    for degree in bars:
        out += blocks[degree]
    del out[length:]
    if tails is not None:
        for b, degree in enumerate(bars):
            pos = (b + 1) * bar % loop
            if pos < length:
                _mix(out, pos, tails[degree][: length - pos])
    return out


def _same_block(slot: int) -> int:
    return 0


class _Track(NamedTuple):
    """A voice, stem or the whole mix laid out in repeating slots (before fades and scaling):
    song samples ``[k * period, (k + 1) * period)`` play ``blocks[key(k)]``."""

    blocks: dict
    period: int
    key: Callable[[int], Hashable]

    def pieces(self, lo: int, hi: int) -> Iterable[tuple[Hashable, int, int]]:
        """(block key, start, stop) ranges making up song samples ``lo:hi``."""
        period = self.period
        for k in range(lo // period, (hi - 1) // period + 1):
            base = k * period
            yield self.key(k), max(lo, base) - base, min(hi, base + period) - base

    def samples(self, lo: int, hi: int) -> list[float]:
        out: list[float] = []
        for key, a, b in self.pieces(lo, hi):
            out += self.blocks[key][a:b]
        return out

    def audible(self, total: int) -> bool:
        """Whether anything at all sounds in the first ``total`` samples."""
        return any(any(self.blocks[key][a:b]) for key, a, b in self.pieces(0, total))


def _render(a: _Arrangement, stems: Iterable[str] = ()) -> tuple[_Track, dict[str, _Track]]:
    """The song's mix and the tracks of the requested ``stems`` (among those it has).

    Each voice is rendered once; the song is mixed from those voices and each stem
    is gathered from the same voices, so stems add up to the song (up to float
    rounding).  The song is a four-bar accompaniment loop under melody phrases
    A A B C: only the distinct pieces are built, repeats are laid out by _Track.
    """
    wanted = set(stems)
    sr, bar, loop, total = a.sr, a.bar, a.loop, a.total

    # --- accompaniment: a four-bar loop, built bar by bar ---------------------
    # Bars on the same chord are identical (bass, pad and drums), so each distinct
    # chord is rendered once, as a single pass of C-level additions.
    acc_len = min(loop, total)
    pad_attack = max(1, min(int(_PAD_ATTACK * sr), bar))
    pad_release = int(_PAD_RELEASE * sr)
    hits = _drum_hits(a)
    bass_notes: dict[tuple[int, int], list[float]] = {}
    bar_audio: dict[int, list[float]] = {}
    bass_bars: dict[int, list[float]] = {}
    pad_bars: dict[int, list[float]] = {}
    pad_tails: dict[int, list[float]] = {}
    for b, degree in enumerate(a.progression):
        if b * bar >= acc_len or degree in bar_audio:
            continue
        bass = bass_bars[degree] = _bass_bar(a, degree, bass_notes)
        table = _pad_table(a, degree)
        audio = list(map(add, islice(cycle(table), bar), bass))
        # Fade the pad in over its attack by subtracting (1 - ramp) * pad.
        head = list(map(mul, islice(cycle(table), pad_attack), _ramp_down(pad_attack)))
        audio[:pad_attack] = map(sub, audio[:pad_attack], head)
        for hit in hits:
            _mix(audio, hit.start, hit.sound)
        bar_audio[degree] = audio
        ringing = islice(cycle(table), bar, bar + pad_release)
        pad_tails[degree] = list(map(mul, ringing, _ramp_down(pad_release)))
        if "strings" in wanted:
            pad = list(islice(cycle(table), bar))
            pad[:pad_attack] = map(sub, pad[:pad_attack], head)
            pad_bars[degree] = pad
    accomp = _loop_of_bars(a, bar_audio, acc_len, pad_tails)

    # --- melody and mix: the song is the slot sequence A A B C A A B C ... ----
    # Each slot is the accompaniment loop plus one four-bar melody phrase; a phrase
    # is built as long as its longest appearance (only the last slot can be short).
    slots = -(-total // loop)  # slot k covers samples [k * loop, (k + 1) * loop)

    def phrase_of(k: int) -> int:
        return _FORM[k % len(_FORM)]

    notes: dict[tuple[int, int], list[float]] = {}
    leads: dict[int, list[float]] = {}
    mixed: dict[int, list[float]] = {}  # phrase -> accompaniment + lead
    for k in range(min(slots, len(_FORM))):
        phrase_no = phrase_of(k)
        needed = max(min(loop, total - j * loop) for j in range(k, slots, len(_FORM)))
        if len(mixed.get(phrase_no, ())) >= needed:
            continue
        leads[phrase_no] = _lead(a, phrase_no, needed, notes)
        mixed[phrase_no] = list(map(add, accomp, leads[phrase_no]))
    song = _Track(mixed, loop, phrase_of)

    # --- stems: the same voices, gathered by stem name --------------------------
    parts: dict[str, _Track] = {}
    if wanted & {"instrumental", "vocals", "synth"}:
        parts["synth" if a.instrumental else "vocals"] = _Track(leads, loop, phrase_of)
        parts["instrumental"] = song if a.instrumental else _Track({0: accomp}, loop, _same_block)
    if "bass" in wanted:
        progression = a.progression
        parts["bass"] = _Track(bass_bars, bar, lambda k: progression[k % len(progression)])
    if "strings" in wanted:
        parts["strings"] = _Track({0: _loop_of_bars(a, pad_bars, acc_len, pad_tails)}, loop, _same_block)
    for stem in {"drums", "percussion"} & wanted:
        block = [0.0] * bar
        for hit in hits:
            if hit.stem == stem:
                _mix(block, hit.start, hit.sound)
        parts[stem] = _Track({0: block}, bar, _same_block)
    return song, {name: track for name, track in parts.items() if name in wanted}


def _fade_lengths(total: int, sr: int) -> tuple[int, int]:
    return min(int(_FADE_IN * sr), total // 4), min(int(_FADE_OUT * sr), total // 3)


@lru_cache(maxsize=4)
def _scaled_fades(fade_in: int, fade_out: int, gain: float) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The fade-in and fade-out gain curves times ``gain`` (shared by all stems of a song)."""
    return (
        tuple(map(mul, _ramp_up(fade_in), repeat(gain))),
        tuple(map(mul, _fade_out_curve(fade_out), repeat(gain))),
    )


class _Faded:
    """A track over the song's length, cut into fade-in, body and fade-out, ready to scale to PCM.

    Between the fades the song is made of slots; a block that appears whole
    somewhere is measured once, a block used at least once over is converted
    once, and the pieces of it reuse that.
    """

    def __init__(self, track: _Track, total: int, sr: int) -> None:
        self.fade_in, self.fade_out = fade_in, fade_out = _fade_lengths(total, sr)
        self.blocks = track.blocks
        self.head = track.samples(0, fade_in)  # before the fades are applied
        self.tail = track.samples(total - fade_out, total) if fade_out else []
        self.body = list(track.pieces(fade_in, total - fade_out)) if total - fade_out > fade_in else []
        self.whole = {key for key, a, b in self.body if a == 0 and b == len(self.blocks[key])}
        # Convert a block in one go when its pieces add up to at least the block
        # (e.g. a slow song's loop cut by both fades): the pieces are then slices.
        covered: dict[Hashable, int] = {}
        for key, a, b in self.body:
            covered[key] = covered.get(key, 0) + b - a
        self.convert_whole = {key for key, n in covered.items() if n >= len(self.blocks[key])}
        self._faded: tuple[list[float], list[float]] | None = None

    def faded_ends(self) -> tuple[list[float], list[float]]:
        """The head and tail with the fade-in and fade-out applied."""
        if self._faded is None:
            self._faded = (
                list(map(mul, self.head, _ramp_up(self.fade_in))),
                list(map(mul, self.tail, _fade_out_curve(self.fade_out))),
            )
        return self._faded

    def peak(self) -> float:
        head, tail = self.faded_ends()
        peak = max([_peak(head), _peak(tail)] + [_peak(self.blocks[key]) for key in self.whole])
        for key, a, b in self.body:
            if key not in self.whole:
                peak = max(peak, _peak(self.blocks[key][a:b]))
        return peak

    def gain(self) -> float:
        """The scale that normalises this track's peak to _PEAK."""
        return _gain_to_peak(self.peak())

    def pcm(self, gain: float, rounded: bool = False) -> array:
        """16-bit samples of the faded track times ``gain``: truncated toward zero (the song's
        historical conversion, kept bit for bit) or, if ``rounded``, rounded to nearest."""
        scale = repeat(gain)
        if rounded:  # fade curves pre-multiplied by the gain: one multiplication per sample
            head_curve, tail_curve = _scaled_fades(self.fade_in, self.fade_out, gain)
            head = map(mul, self.head, head_curve)
            tail = map(mul, self.tail, tail_curve)
        else:
            faded_head, faded_tail = self.faded_ends()
            head = map(mul, faded_head, scale)
            tail = map(mul, faded_tail, scale)
        converted = {key: _to_pcm(map(mul, self.blocks[key], scale), rounded) for key in self.convert_whole}
        pcm = _to_pcm(head, rounded)
        for key, a, b in self.body:
            if key in converted:
                block = converted[key]
                pcm += block if a == 0 and b == len(block) else block[a:b]
            else:
                pcm += _to_pcm(map(mul, self.blocks[key][a:b], scale), rounded)
        pcm += _to_pcm(tail, rounded)
        return pcm


def _to_pcm(scaled: Iterable[float], rounded: bool) -> array:
    """Already scaled float samples as 16-bit PCM (clamped, should a stem ever exceed full scale)."""
    # float.__round__ (round half to even), called directly, is as fast as truncation.
    values = list(map(float.__round__ if rounded else math.trunc, scaled))
    pcm = array("h")
    try:
        pcm.fromlist(values)
    except OverflowError:  # a stem can in principle peak above the mix it is part of
        pcm.fromlist(list(map(max, repeat(-32768), map(min, repeat(32767), values))))
    return pcm


def _wav_bytes(pcm: array, sample_rate: int) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(pcm.tobytes())  # native order; ``wave`` swaps on big-endian hosts
    return out.getvalue()


def synthesize_song(
    seed: str, seconds: float = 20.0, *, sample_rate: int = 22050, instrumental: bool = False,
    options: SongOptions | None = None,
) -> bytes:
    """A short, pleasant, deterministic piece of music as a complete RIFF/WAVE file (PCM 16-bit mono)."""
    _validate_song_args(seed, seconds, sample_rate)
    arrangement = _arrange(seed, seconds, sample_rate, instrumental, options)
    song, _ = _render(arrangement)
    faded = _Faded(song, arrangement.total, sample_rate)
    return _wav_bytes(faded.pcm(faded.gain()), sample_rate)


def synthesize_stems(
    seed: str,
    seconds: float = 20.0,
    stems: Sequence[str] = ("vocals", "instrumental"),
    *,
    sample_rate: int = 22050,
    instrumental: bool = False,
    options: SongOptions | None = None,
) -> dict[str, bytes]:
    """The separate parts of exactly the song synthesize_song(seed, seconds, ...) makes, each a WAV of the same length.

    "instrumental" is everything but the lead voice; the other names are the
    split_stem parts (SPLIT_STEMS).  Parts the arrangement does not have are left
    out of the result (so the caller learns which stems exist); the result keeps
    the order of ``stems``.  The parts line up sample for sample with the song and
    share its scale, so vocals + instrumental, or the sum of the split parts, is
    the song to within a few LSB (stems are rounded to nearest, the song truncated).

    Voices map to stems as: sung lead -> "vocals"; the pluck lead of an
    instrumental song -> "synth" (and there is no "vocals"); chord pad ->
    "strings"; bass -> "bass"; kick and snare -> "drums"; hi-hat -> "percussion".
    A typical song has vocals, drums, bass, percussion and strings; an
    instrumental one has drums, bass, percussion, strings and synth.  For an
    instrumental song "instrumental" is the song itself, byte for byte.
    """
    _validate_song_args(seed, seconds, sample_rate)
    if isinstance(stems, (str, bytes)) or not isinstance(stems, Iterable):
        raise TypeError(f"stems must be a sequence of stem names, not {type(stems).__name__}")
    names = list(dict.fromkeys(stems))
    for name in names:
        if name not in _STEM_NAMES:
            valid = ", ".join(("instrumental",) + SPLIT_STEMS)
            raise ValueError(f"unknown stem {name!r}; expected one of: {valid}")
    arrangement = _arrange(seed, seconds, sample_rate, instrumental, options)
    total = arrangement.total
    song, parts = _render(arrangement, names)
    gain = _Faded(song, total, sample_rate).gain()
    result: dict[str, bytes] = {}
    for name in names:
        track = parts.get(name)
        if track is None or not track.audible(total):
            continue
        # The song itself (an instrumental's "instrumental") keeps synthesize_song's exact bytes.
        pcm = _Faded(track, total, sample_rate).pcm(gain, rounded=track is not song)
        result[name] = _wav_bytes(pcm, sample_rate)
    return result


# Velocities (0-1) of the notes song_notes reports, per voice.
_VELOCITIES = {"lead": 0.8, "bass": 0.75, "pad": 0.5, "kick": 1.0, "snare": 0.9, "hat": 0.55}


def _lead_notes(a: _Arrangement, bars: int = 4) -> list[list[Note]]:
    """The lead's notes, cut where the song ends, grouped by the ``bars``-bar stretch they start in (with 4,
    the slots: one phrase each)."""
    sr, loop, total = a.sr, a.loop, a.total
    span = bars * a.bar
    groups: list[list[Note]] = [[] for _ in range(-(-total // span))]
    for k in range(-(-total // loop)):
        base = k * loop
        for start, eighths, idx in a.phrases[_FORM[k % len(_FORM)]]:
            lo = base + start * a.eighth
            if lo >= total:
                break
            hi = min(base + (start + eighths) * a.eighth, total)
            groups[lo // span].append(Note(_lead_pitch(a, idx), lo / sr, hi / sr, _VELOCITIES["lead"]))
    return groups


def _accompaniment_notes(a: _Arrangement) -> dict[str, list[Note]]:
    """The notes of the bass, the pad ("strings") and the kit ("drums", "percussion"), bar by bar."""
    sr, bar, total = a.sr, a.bar, a.total
    hits = _drum_hits(a)
    notes: dict[str, list[Note]] = {"bass": [], "strings": [], "drums": [], "percussion": []}
    for b in range(-(-total // bar)):
        base = b * bar
        end = min(base + bar, total)
        degree = a.progression[b % len(a.progression)]
        for start, length, pitch in _bass_line(a, degree):
            lo = base + start * a.eighth
            if lo < end:
                hi = min(lo + length * a.eighth, end)
                notes["bass"].append(Note(pitch, lo / sr, hi / sr, _VELOCITIES["bass"]))
        for pitch in _pad_voicing(a, degree):
            notes["strings"].append(Note(pitch, base / sr, end / sr, _VELOCITIES["pad"]))
        for hit in hits:  # a hit's sound is already cut at its bar's end
            lo = base + hit.start
            if lo < end:
                hi = min(lo + len(hit.sound), end)
                notes[hit.stem].append(Note(hit.pitch, lo / sr, hi / sr, _VELOCITIES[hit.voice]))
    return {stem: sorted(found, key=lambda n: (n.start, n.pitch)) for stem, found in notes.items() if found}


def song_notes(
    seed: str, seconds: float = 20.0, *, sample_rate: int = 22050, instrumental: bool = False,
    options: SongOptions | None = None,
) -> dict[str, list[Note]]:
    """Every note of the song synthesize_song(seed, seconds, ...) plays, by the stem that plays it.

    The keys are synthesize_stems' stem names: "vocals" (the sung lead; "synth" for an instrumental's
    pluck lead), "bass", "strings" (the pad's triad, a note per chord tone and bar), "drums" (kick 36 and
    snare 38, General MIDI drum keys) and "percussion" (closed hi-hat 42). Times are in seconds, lined up
    with the audio sample for sample (a note lasts as long as it sounds before the next one or its bar
    end); velocities are 0-1. Nothing is rendered, so this is cheap."""
    _validate_song_args(seed, seconds, sample_rate)
    a = _arrange(seed, seconds, sample_rate, instrumental, options)
    lead = [note for phrase in _lead_notes(a) for note in phrase]
    result = {"synth" if instrumental else "vocals": lead} if lead else {}
    result.update(_accompaniment_notes(a))
    return result


def lead_phrases(
    seed: str, seconds: float = 20.0, *, sample_rate: int = 22050, instrumental: bool = False,
    options: SongOptions | None = None, bars: int = 4,
) -> list[list[Note]]:
    """The lead's notes of synthesize_song(seed, seconds, ...) in time order, as one list per ``bars`` bars of
    the song (by where a note starts). With 4, a list per slot: phrases A A B C over and over; 2 gives half
    phrases. A list may be empty (a rest), the last one cut short."""
    _validate_song_args(seed, seconds, sample_rate)
    if isinstance(bars, bool) or not isinstance(bars, int) or bars < 1:
        raise ValueError(f"bars must be a positive int, got {bars!r}")
    return _lead_notes(_arrange(seed, seconds, sample_rate, instrumental, options), bars)


def song_traits(
    seed: str, seconds: float = 20.0, *, sample_rate: int = 22050, instrumental: bool = False,
    options: SongOptions | None = None,
) -> tuple[int, bool, int]:
    """(key as a pitch class, minor?, tempo in BPM) of the song synthesize_song(seed, seconds, ...) makes."""
    _validate_song_args(seed, seconds, sample_rate)
    a = _arrange(seed, seconds, sample_rate, instrumental, options)
    return a.key, a.minor, a.bpm


def wav_duration(data: bytes) -> float:
    """Duration in seconds of a WAV produced by synthesize_song (read from its header)."""
    try:
        with wave.open(io.BytesIO(bytes(data)), "rb") as wav:
            frames = wav.getnframes()
            rate = wav.getframerate()
    except (wave.Error, EOFError, struct.error) as exc:
        raise ValueError(f"not a readable WAV file: {exc}") from exc
    if rate <= 0:
        raise ValueError(f"WAV header has an invalid sample rate: {rate}")
    return frames / rate


# --------------------------------------------------------------------------
# Cover image
# --------------------------------------------------------------------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _hsv(h: float, s: float, v: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
    return round(r * 255), round(g * 255), round(b * 255)


def _lerp(a: Sequence[int], b: Sequence[int], t: float) -> tuple[int, int, int]:
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def _validate_cover_args(seed: str, size: int) -> None:
    if not isinstance(seed, str):
        raise TypeError(f"seed must be a str, not {type(seed).__name__}")
    if isinstance(size, bool) or not isinstance(size, int):
        raise ValueError(f"size must be an int, got {size!r}")
    if not MIN_COVER_SIZE <= size <= MAX_COVER_SIZE:
        raise ValueError(f"size must be between {MIN_COVER_SIZE} and {MAX_COVER_SIZE} pixels, got {size}")


def _cover_rows(seed: str, size: int) -> list[bytearray]:
    """The cover picture as ``size`` rows of 8-bit RGB pixels, top row first (arguments already checked)."""
    rng = _Rng(seed, "chorus-sandbox-cover")
    w = h = size
    hue = rng.uniform(0.0, 1.0)
    hue2 = hue + rng.choice((0.08, -0.1, 0.5, 0.33, 0.15))
    dark = _hsv(hue, rng.uniform(0.55, 0.85), rng.uniform(0.22, 0.42))
    light = _hsv(hue2, rng.uniform(0.4, 0.7), rng.uniform(0.78, 0.96))
    accents = [
        _hsv(hue + 0.5, rng.uniform(0.25, 0.55), rng.uniform(0.9, 1.0)),
        _hsv(hue2 + 0.12, rng.uniform(0.5, 0.8), rng.uniform(0.85, 1.0)),
        (255, 255, 255),
    ]
    mirrored = rng.below(2) == 1

    # Everything drawn is a function of the diagonal index d = x + y (or its mirror),
    # so each fill is a "strip" of w + h - 1 pixels and a row span is one slice of it.
    diag = w + h - 1
    base = []
    for d in range(diag):
        t = d / (diag - 1)
        t = t * t * (3.0 - 2.0 * t)  # smoothstep
        base.append(_lerp(dark, light, t))

    def strip(colour: Sequence[int] | None, alpha: float) -> bytes:
        pixels = base if colour is None else [_lerp(p, colour, alpha) for p in base]
        if mirrored:
            pixels = pixels[::-1]
        return bytes(v for p in pixels for v in p)

    # shapes: (strip, list of spans per row) collected as draw commands
    commands: list[tuple[bytes, int, int, int]] = []  # (strip, y, x0, x1) inclusive

    def disc(cx: float, cy: float, r: float, fill: bytes, inner: float = 0.0) -> None:
        y_lo = max(0, math.ceil(cy - r))
        y_hi = min(h - 1, math.floor(cy + r))
        for y in range(y_lo, y_hi + 1):
            dy = y - cy
            dx = math.sqrt(max(0.0, r * r - dy * dy))
            x0 = max(0, math.ceil(cx - dx))
            x1 = min(w - 1, math.floor(cx + dx))
            if x0 > x1:
                continue
            if inner > 0 and abs(dy) < inner:
                di = math.sqrt(inner * inner - dy * dy)
                left_end = min(x1, math.ceil(cx - di) - 1)
                right_start = max(x0, math.floor(cx + di) + 1)
                if left_end >= x0:
                    commands.append((fill, y, x0, left_end))
                if right_start <= x1:
                    commands.append((fill, y, right_start, x1))
            else:
                commands.append((fill, y, x0, x1))

    # Translucent circles and rings, big ones first.
    circles = []
    for _ in range(3 + rng.below(3)):
        r = rng.uniform(0.08, 0.38) * size
        circles.append((r, rng.uniform(0.0, 1.0) * w, rng.uniform(0.0, 1.0) * h))
    circles.sort(reverse=True)
    for r, cx, cy in circles:
        fill = strip(rng.choice(accents), rng.uniform(0.18, 0.45))
        ring = rng.below(3) == 0
        disc(cx, cy, r, fill, inner=r * rng.uniform(0.6, 0.85) if ring else 0.0)

    # A record with grooves and a label, or an equaliser in the lower part.
    if rng.below(2):
        cx, cy = rng.uniform(0.35, 0.65) * w, rng.uniform(0.35, 0.65) * h
        r = rng.uniform(0.22, 0.32) * size
        vinyl = strip((18, 18, 22), 0.88)
        groove = strip((60, 60, 70), 0.8)
        disc(cx, cy, r, vinyl)
        rings = 4 + rng.below(4)
        for i in range(rings):
            rr = r * (0.95 - 0.55 * i / rings)
            disc(cx, cy, rr, groove, inner=max(0.0, rr - max(1.0, size / 256)))
        disc(cx, cy, r * 0.34, strip(rng.choice(accents[:2]), 0.85))
        disc(cx, cy, max(1.0, r * 0.04), strip((10, 10, 12), 0.95))
    else:
        bars = 10 + rng.below(15)
        slot = w / bars
        gap = max(1, int(slot * 0.25))
        fill = strip(rng.choice(accents), rng.uniform(0.45, 0.7))
        floor = h - 1 - int(h * 0.08)
        for i in range(bars):
            x0 = int(i * slot) + gap // 2
            x1 = int((i + 1) * slot) - gap // 2 - 1
            if x1 < x0:
                continue
            top = floor - int(rng.uniform(0.05, 0.45) * h)
            for y in range(max(0, top), floor + 1):
                commands.append((fill, y, x0, x1))

    background = strip(None, 0.0)
    by_row: list[list[tuple[bytes, int, int]]] = [[] for _ in range(h)]
    for fill, y, x0, x1 in commands:
        by_row[y].append((fill, x0, x1))

    rows = []
    for y in range(h):
        # Row pixel x sits at strip index x + y (or, mirrored, at (h-1-y) + x of the reversed strip).
        offset = 3 * (h - 1 - y if mirrored else y)
        row = bytearray(background[offset : offset + 3 * w])
        for fill, x0, x1 in by_row[y]:
            row[3 * x0 : 3 * x1 + 3] = fill[offset + 3 * x0 : offset + 3 * x1 + 3]
        rows.append(row)
    return rows


def cover_rgb(seed: str, size: int = 512) -> bytes:
    """The same picture as cover_png(seed, size), as raw 8-bit RGB rows (size*size*3 bytes, top row first)."""
    _validate_cover_args(seed, size)
    return b"".join(_cover_rows(seed, size))


def cover_png(seed: str, size: int = 512) -> bytes:
    """A deterministic cover image as a valid PNG (8-bit RGB, non-interlaced); its pixels are cover_rgb's."""
    _validate_cover_args(seed, size)
    w = h = size
    raw = b"\x00".join([b"", *_cover_rows(seed, size)])  # each row preceded by filter type 0 (None)
    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"".join(
        (
            _PNG_SIGNATURE,
            _png_chunk(b"IHDR", header),
            _png_chunk(b"IDAT", zlib.compress(raw, 6)),
            _png_chunk(b"IEND", b""),
        )
    )
