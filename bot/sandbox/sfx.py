"""Short synthesized sound effects for the sandbox's ``/api/v1/generate/sounds`` (Suno "Sounds").

A prompt picks the kind of effect by its words (rain and wind textures, sweeps and zaps, bells and chimes,
drum hits, or else a little arpeggio riff); the seed picks the details. ``soundKey`` sets the key of the
pitched kinds, ``soundTempo`` the pulse of the rhythmic ones, and ``soundLoop`` makes the effect a whole
number of beats that repeats seamlessly (events ring over the end into the start; textures are crossfaded
into themselves) instead of a one-shot that fades out. Everything is deterministic from the seed.
"""

from __future__ import annotations

import math
from itertools import accumulate, repeat
from operator import add, mul
from typing import NamedTuple

from bot.sandbox import media
from bot.sandbox.media import Note

__all__ = ["SOUND_KEYS", "Effect", "effect_gain", "parse_key", "sound_seconds", "sound_traits", "synthesize_sound"]

# soundKey values (kie/sunoapi.org docs): "Any", then the minor and the major keys.
_PITCH_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
SOUND_KEYS: tuple[str, ...] = ("Any", *(f"{name}m" for name in _PITCH_NAMES), *_PITCH_NAMES)

_KIND_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("texture", ("rain", "wind", "ocean", "wave", "sea", "noise", "static", "storm", "fire", "crackl", "ambien",
                 "water", "stream", "river", "forest", "crowd", "room tone", "hiss")),
    ("sweep", ("laser", "zap", "whoosh", "swoosh", "riser", "sweep", "siren", "swish", "transition", "sci-fi")),
    ("bell", ("chime", "bell", "ding", "coin", "notification", "ping", "beep", "alert", "success", "pickup")),
    ("hits", ("drum", "kick", "snare", "beat", "hit", "impact", "boom", "thud", "knock", "clap", "punch", "slam")),
)
_MAX_LOOP_SECONDS = 12.0
_FADE_OUT = 0.3  # s, the end of a one-shot


class Effect(NamedTuple):
    """A rendered effect: its kind, its samples (float, not yet scaled) and the notes it plays."""

    kind: str
    samples: list[float]
    notes: dict[str, list[Note]]


def parse_key(name: str) -> tuple[int, bool] | None:
    """(pitch class, minor?) of a soundKey such as "D#m" or "F"; None for "Any"."""
    if name not in SOUND_KEYS:
        raise ValueError(f"soundKey must be one of {', '.join(SOUND_KEYS)}")
    if name == "Any":
        return None
    return _PITCH_NAMES.index(name.removesuffix("m")), name.endswith("m")


def _kind(prompt: str) -> str:
    text = prompt.lower()
    for kind, words in _KIND_WORDS:
        if any(word in text for word in words):
            return kind
    return "riff"


def sound_seconds(seed: str, *, loop: bool, bpm: int | None) -> float:
    """How long the effect of ``seed`` is: a loop of whole beats (at most 12 s) at the tempo the effect plays
    (sound_traits), or a 2.5-6 s one-shot."""
    if not loop:
        return round(2.5 + media._Rng(seed, "chorus-sandbox-sound-length").uniform(0.0, 3.5), 2)
    _, _, tempo = sound_traits(seed, bpm=bpm)
    beat = 60.0 / tempo
    beats = 8 if 8 * beat <= _MAX_LOOP_SECONDS else max(1, math.floor(_MAX_LOOP_SECONDS / beat))
    return min(_MAX_LOOP_SECONDS, beats * beat)


def synthesize_sound(
    seed: str, prompt: str, seconds: float, *, loop: bool = False, bpm: int | None = None,
    key: tuple[int, bool] | None = None, sample_rate: int = 22050,
) -> Effect:
    """The effect for ``prompt`` as float samples of ``seconds`` (see the module notes)."""
    rng = media._Rng(seed, "chorus-sandbox-sound")
    sr = sample_rate
    total = max(1, round(seconds * sr))
    tonic, minor, tempo = _basics(rng, bpm, key)
    kind = _kind(prompt)
    buffer = [0.0] * total
    notes: dict[str, list[Note]] = {}
    if kind == "texture":
        _texture(buffer, rng, sr, loop)
    elif kind == "sweep":
        _sweep(buffer, rng, sr)
    elif kind == "hits":
        notes["drums"] = _hits(buffer, rng, sr, tempo, loop)
    else:
        notes["fx"] = _pitched(buffer, rng, sr, tempo, tonic, minor, bell=kind == "bell", loop=loop)
    if not loop:
        fade = min(int(_FADE_OUT * sr), total // 2)
        buffer[total - fade:] = map(mul, buffer[total - fade:], media._fade_out_curve(fade))
    return Effect(kind, buffer, notes)


def sound_traits(seed: str, *, bpm: int | None = None, key: tuple[int, bool] | None = None) -> tuple[int, bool, int]:
    """(key as a pitch class, minor?, tempo) of the effect synthesize_sound(seed, ...) makes."""
    return _basics(media._Rng(seed, "chorus-sandbox-sound"), bpm, key)


def _basics(rng: media._Rng, bpm: int | None, key: tuple[int, bool] | None) -> tuple[int, bool, int]:
    tempo = bpm or 90 + rng.below(41)
    tonic, minor = key if key is not None else (rng.below(12), rng.below(3) == 0)
    return tonic, minor, tempo


def _texture(buffer: list[float], rng: media._Rng, sr: int, loop: bool) -> None:
    """Filtered noise that swells slowly, with droplets for rain; crossfaded into itself when looping."""
    total = len(buffer)
    overlap = min(int(0.5 * sr), total // 2) if loop else 0
    count = total + overlap
    smooth = rng.uniform(0.05, 0.35)  # one-pole low-pass coefficient: lower is darker
    noise = media._noise(count, 1 + rng.below(1 << 30))
    filtered = list(accumulate(noise, lambda y, x: y + smooth * (x - y)))
    period = count / sr / max(1, round(count / sr / rng.uniform(3.0, 7.0)))  # whole swells over the length
    swell = [0.55 + 0.45 * math.sin(2 * math.pi * i / (period * sr)) for i in range(0, count, 64)]
    gains = [swell[i >> 6] for i in range(count)]
    texture = list(map(mul, filtered, gains))
    for _ in range(int(count / sr * rng.uniform(2.0, 9.0))):  # droplets: short high blips
        start = rng.below(max(1, count - 800))
        freq = rng.uniform(1800.0, 4200.0)
        blip = [math.sin(2 * math.pi * freq * i / sr) * 0.25 * math.exp(-i / (0.004 * sr)) for i in range(400)]
        texture[start:start + 400] = map(add, texture[start:start + 400], blip)
    if overlap:
        head = list(map(mul, texture[:overlap], media._ramp_up(overlap)))
        tail = list(map(mul, texture[total:], media._ramp_down(overlap)))
        texture[:overlap] = map(add, head, tail)
    buffer[:] = texture[:total]


def _sweep(buffer: list[float], rng: media._Rng, sr: int) -> None:
    """A gliding tone (up or down) with a breath of noise."""
    total = len(buffer)
    lo, hi = rng.uniform(120.0, 400.0), rng.uniform(900.0, 3200.0)
    up = rng.below(2) == 0
    start, end = (lo, hi) if up else (hi, lo)
    ratio = (end / start) ** (1.0 / max(1, total - 1))
    steps = accumulate(repeat(ratio, total - 1), mul, initial=2 * math.pi * start / sr)
    phase = accumulate(steps)
    envelope = [math.sin(math.pi * min(1.0, i / total)) for i in range(total)]
    tone = map(mul, map(math.sin, phase), envelope)
    air = map(mul, media._noise(total, 4242), envelope)
    buffer[:] = map(add, map(mul, tone, repeat(0.6)), map(mul, air, repeat(0.08)))


def _hits(buffer: list[float], rng: media._Rng, sr: int, tempo: int, loop: bool) -> list[Note]:
    """Kick, snare and hat hits on the beat grid (a groove when looping, an impact otherwise)."""
    kit = media._drum_kit(sr)  # kick, snare, hi-hat
    keys = tuple(pitch for pitch, _ in media._DRUM_KEYS)  # their General MIDI keys
    eighth = round(sr * 30.0 / tempo)
    notes = []
    if loop:
        pattern = rng.choice(media._DRUM_PATTERNS)
        for bar_start in range(0, len(buffer), 8 * eighth):
            for positions, sound, pitch in zip(pattern, kit, keys):
                for pos in positions:
                    at = bar_start + pos * eighth
                    if at < len(buffer):
                        media._mix(buffer, at, sound)  # wraps round: the loop rings into its start
                        notes.append(Note(pitch, at / sr, min(len(buffer), at + len(sound)) / sr, 1.0))
    else:
        for at, drum in ((0, 0), (0, 1), (eighth, 0)):  # kick and snare together, then a kick
            sound, pitch = kit[drum], keys[drum]
            if at < len(buffer):
                end = min(len(buffer), at + len(sound))
                buffer[at:end] = map(add, buffer[at:end], map(mul, sound[: end - at], repeat(1.6)))
                notes.append(Note(pitch, at / sr, end / sr, 1.0))
    notes.sort(key=lambda n: (n.start, n.pitch))
    return notes


def _pitched(
    buffer: list[float], rng: media._Rng, sr: int, tempo: int, tonic: int, minor: bool, *, bell: bool, loop: bool
) -> list[Note]:
    """A bell motif (two to four notes, high up) or an eighth-note arpeggio riff in the key."""
    scale = media._MINOR if minor else media._MAJOR
    eighth = round(sr * 30.0 / tempo)
    triad = (0, 2, 4, 7, 4, 2)
    if bell:
        base, step, count = 72 + tonic, 2 * eighth, 2 + rng.below(3)
        degrees = [rng.choice((0, 2, 4, 7)) for _ in range(count)]
    else:
        base, step = 60 + tonic, eighth
        count = max(1, len(buffer) // step) if loop else 8
        degrees = [triad[i % len(triad)] for i in range(count)]
    notes = []
    for i, degree in enumerate(degrees):
        at = i * step
        if at >= len(buffer):
            break
        pitch = media._scale_pitch(base, scale, degree)
        length = min(4 * step if bell else 2 * step, len(buffer))
        sound = media._note("pluck", pitch, length, sr)
        if loop:
            media._mix(buffer, at, sound)  # wraps round: the loop rings into its start
        else:
            _add_cut(buffer, at, sound)
        notes.append(Note(pitch, at / sr, min(len(buffer), at + length) / sr, 0.8))
    return notes


def _add_cut(buffer: list[float], at: int, sound: list[float]) -> None:
    end = min(len(buffer), at + len(sound))
    buffer[at:end] = map(add, buffer[at:end], sound[: end - at])


def effect_gain(effect: Effect) -> float:
    """The scale that brings the effect's peak to 80 % of full scale (as a song's)."""
    return media._gain_to_peak(media._peak(effect.samples))
