"""Standard MIDI files from instrument/note lists, in pure Python.

Suno's MIDI export (kie.ai ``/api/v1/midi/...``, contract §3.2, §4.4) does not hand over a ``.mid`` file but
a list of instruments, each with its notes::

    [{"name": "Electric Bass (finger)",
      "notes": [{"pitch": 44, "start": 7.6875, "end": 7.9114, "velocity": 1}, ...]}, ...]

with times in seconds (numbers, or numbers written as strings) and a velocity from 0 to 1. :func:`write_midi`
turns such a list, from any provider or from the sandbox, into a Standard MIDI File that every DAW and
player opens:

* format 1: a first track with the tempo and time signature, then one track per instrument (named after it);
* each instrument gets a channel and a program: its name is looked up among the 128 General MIDI program
  names (``"Electric Bass (finger)"`` → 33), else guessed from words in it ("bass", "piano", "string",
  "vocal", ...); names with "drum" or "percussion" (or ``"drums": True``) play on channel 10, the GM kit, and
  an explicit ``"program"`` (0-127) wins over the name;
* seconds become ticks at ``bpm`` (120 by default: 960 ticks a second with 480 ticks a beat), so the notes
  keep their exact timing; pass the song's tempo to line them up with a DAW's bar grid;
* a velocity from 0 to 1 is scaled to 1-127 (a value above 1 is taken as a MIDI velocity already);
* overlapping notes of the same pitch in one instrument are cut where the next one starts (MIDI cannot
  hold one key twice), notes shorter than a tick last one tick, and notes that cannot be read are skipped.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["GM_PROGRAMS", "write_midi"]

# The General MIDI level 1 program names, by program number (0-127).
GM_PROGRAMS: tuple[str, ...] = (
    "Acoustic Grand Piano", "Bright Acoustic Piano", "Electric Grand Piano", "Honky-tonk Piano",
    "Electric Piano 1", "Electric Piano 2", "Harpsichord", "Clavinet",
    "Celesta", "Glockenspiel", "Music Box", "Vibraphone", "Marimba", "Xylophone", "Tubular Bells", "Dulcimer",
    "Drawbar Organ", "Percussive Organ", "Rock Organ", "Church Organ", "Reed Organ", "Accordion", "Harmonica",
    "Tango Accordion",
    "Acoustic Guitar (nylon)", "Acoustic Guitar (steel)", "Electric Guitar (jazz)", "Electric Guitar (clean)",
    "Electric Guitar (muted)", "Overdriven Guitar", "Distortion Guitar", "Guitar Harmonics",
    "Acoustic Bass", "Electric Bass (finger)", "Electric Bass (pick)", "Fretless Bass", "Slap Bass 1",
    "Slap Bass 2", "Synth Bass 1", "Synth Bass 2",
    "Violin", "Viola", "Cello", "Contrabass", "Tremolo Strings", "Pizzicato Strings", "Orchestral Harp",
    "Timpani",
    "String Ensemble 1", "String Ensemble 2", "Synth Strings 1", "Synth Strings 2", "Choir Aahs", "Voice Oohs",
    "Synth Voice", "Orchestra Hit",
    "Trumpet", "Trombone", "Tuba", "Muted Trumpet", "French Horn", "Brass Section", "Synth Brass 1",
    "Synth Brass 2",
    "Soprano Sax", "Alto Sax", "Tenor Sax", "Baritone Sax", "Oboe", "English Horn", "Bassoon", "Clarinet",
    "Piccolo", "Flute", "Recorder", "Pan Flute", "Blown Bottle", "Shakuhachi", "Whistle", "Ocarina",
    "Lead 1 (square)", "Lead 2 (sawtooth)", "Lead 3 (calliope)", "Lead 4 (chiff)", "Lead 5 (charang)",
    "Lead 6 (voice)", "Lead 7 (fifths)", "Lead 8 (bass + lead)",
    "Pad 1 (new age)", "Pad 2 (warm)", "Pad 3 (polysynth)", "Pad 4 (choir)", "Pad 5 (bowed)",
    "Pad 6 (metallic)", "Pad 7 (halo)", "Pad 8 (sweep)",
    "FX 1 (rain)", "FX 2 (soundtrack)", "FX 3 (crystal)", "FX 4 (atmosphere)", "FX 5 (brightness)",
    "FX 6 (goblins)", "FX 7 (echoes)", "FX 8 (sci-fi)",
    "Sitar", "Banjo", "Shamisen", "Koto", "Kalimba", "Bagpipe", "Fiddle", "Shanai",
    "Tinkle Bell", "Agogo", "Steel Drums", "Woodblock", "Taiko Drum", "Melodic Tom", "Synth Drum",
    "Reverse Cymbal",
    "Guitar Fret Noise", "Breath Noise", "Seashore", "Bird Tweet", "Telephone Ring", "Helicopter", "Applause",
    "Gunshot",
)

# Words that suggest a program when a name is not a GM name (first match wins).
_PROGRAM_WORDS: tuple[tuple[str, int], ...] = (
    ("bass", 33), ("piano", 0), ("keys", 4), ("keyboard", 4), ("organ", 16), ("guitar", 25), ("string", 48),
    ("violin", 40), ("cello", 42), ("choir", 52), ("backing", 52), ("vocal", 53), ("voice", 53), ("sing", 53),
    ("brass", 61), ("trumpet", 56), ("horn", 60), ("sax", 65), ("woodwind", 73), ("flute", 73),
    ("clarinet", 71), ("synth", 81), ("lead", 80), ("pad", 89), ("bell", 14), ("fx", 99), ("effect", 99),
)
_DRUM_WORDS = ("drum", "percussion", "kit")
_DRUM_CHANNEL = 9  # channel 10, counted from 1
_MAX_TICK = 0x0FFFFFFF  # the largest delta time a variable-length quantity can hold


def write_midi(
    instruments: Iterable[Mapping[str, Any]],
    *,
    bpm: float = 120.0,
    ticks_per_beat: int = 480,
    time_signature: tuple[int, int] = (4, 4),
) -> bytes:
    """A Standard MIDI File (format 1) playing ``instruments``: ``[{"name", "notes": [{"pitch", "start",
    "end", "velocity"}, ...]}, ...]``, times in seconds, velocity 0-1 (see the module notes). Optional keys
    of an instrument: ``"program"`` (0-127) and ``"drums"`` (bool). An instrument without playable notes
    still gets its (empty) track, so the file lists every instrument given.

    Raises ValueError for an unusable ``bpm``, ``ticks_per_beat`` or ``time_signature``, TypeError for an
    instrument that is not a mapping with a list of notes."""
    if not (isinstance(bpm, (int, float)) and math.isfinite(bpm) and 1.0 <= bpm <= 1000.0):
        raise ValueError(f"bpm must be between 1 and 1000, got {bpm!r}")
    if isinstance(ticks_per_beat, bool) or not isinstance(ticks_per_beat, int) or not 24 <= ticks_per_beat <= 0x7FFF:
        raise ValueError(f"ticks_per_beat must be an int between 24 and 32767, got {ticks_per_beat!r}")
    numerator, denominator = time_signature
    if not (1 <= numerator <= 255 and denominator in (1, 2, 4, 8, 16, 32)):
        raise ValueError(f"time_signature must be (1-255, a power of two up to 32), got {time_signature!r}")
    ticks_per_second = bpm / 60.0 * ticks_per_beat
    tracks = [_tempo_track(bpm, numerator, denominator)]
    melodic = 0
    for instrument in instruments:
        if not isinstance(instrument, Mapping) or not isinstance(instrument.get("notes", []), Sequence):
            raise TypeError("each instrument must be a mapping with a list of notes")
        name = str(instrument.get("name") or "Instrument")
        drums = _is_drums(instrument, name)
        if drums:
            channel = _DRUM_CHANNEL
        else:
            channel = melodic % 15
            channel += channel >= _DRUM_CHANNEL  # skip channel 10
            melodic += 1
        notes = _ticked_notes(instrument.get("notes", []), ticks_per_second)
        tracks.append(_instrument_track(name, channel, None if drums else _program(instrument, name), notes))
    header = struct.pack(">4sIHHH", b"MThd", 6, 1, len(tracks), ticks_per_beat)
    return header + b"".join(struct.pack(">4sI", b"MTrk", len(track)) + track for track in tracks)


# ----- instruments ------------------------------------------------------------------------------------------


def _is_drums(instrument: Mapping[str, Any], name: str) -> bool:
    if isinstance(instrument.get("drums"), bool):
        return bool(instrument["drums"])
    lowered = name.lower()
    return lowered not in _GM_LOOKUP and any(word in lowered for word in _DRUM_WORDS)


_GM_LOOKUP = {name.lower(): number for number, name in enumerate(GM_PROGRAMS)}


def _program(instrument: Mapping[str, Any], name: str) -> int:
    program = instrument.get("program")
    if isinstance(program, int) and not isinstance(program, bool) and 0 <= program <= 127:
        return program
    lowered = name.lower().strip()
    if lowered in _GM_LOOKUP:
        return _GM_LOOKUP[lowered]
    words = re.sub(r"[^a-z]+", " ", lowered)
    return next((number for word, number in _PROGRAM_WORDS if word in words), 0)


# ----- notes ------------------------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    """A finite number from a number or a numeric string (kie sends both), else None."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _velocity(value: Any) -> int:
    number = _number(value)
    if number is None:
        return 100
    scaled = number * 127 if number <= 1.0 else number
    return max(1, min(127, round(scaled)))


def _ticked_notes(notes: Sequence[Any], ticks_per_second: float) -> list[tuple[int, int, int, int]]:
    """(start tick, end tick, pitch, velocity) of the readable notes, same-pitch overlaps cut."""
    ticked = []
    for note in notes:
        if not isinstance(note, Mapping):
            continue
        pitch, start, end = _number(note.get("pitch")), _number(note.get("start")), _number(note.get("end"))
        if pitch is None or start is None or end is None or not 0 <= round(pitch) <= 127 or start < 0:
            continue
        lo = min(_MAX_TICK - 1, round(start * ticks_per_second))
        hi = min(_MAX_TICK, max(lo + 1, round(end * ticks_per_second)))
        ticked.append((lo, hi, round(pitch), _velocity(note.get("velocity"))))
    ticked.sort()
    cut = []
    next_start: dict[int, int] = {}
    for lo, hi, pitch, velocity in reversed(ticked):  # latest first: each note knows the next of its pitch
        following = next_start.get(pitch)
        if following is not None:
            if following <= lo:
                continue  # the same key struck twice at once: one note
            hi = min(hi, following)
        next_start[pitch] = lo
        cut.append((lo, hi, pitch, velocity))
    return cut[::-1]


# ----- encoding ---------------------------------------------------------------------------------------------


def _vlq(value: int) -> bytes:
    """A MIDI variable-length quantity (7 bits a byte, most significant first)."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def _meta(kind: int, data: bytes) -> bytes:
    return bytes((0xFF, kind)) + _vlq(len(data)) + data


_END_OF_TRACK = _meta(0x2F, b"")


def _tempo_track(bpm: float, numerator: int, denominator: int) -> bytes:
    microseconds = max(1, min(0xFFFFFF, round(60_000_000 / bpm)))
    signature = bytes((numerator, denominator.bit_length() - 1, 24, 8))
    return b"".join((b"\x00", _meta(0x51, microseconds.to_bytes(3, "big")), b"\x00", _meta(0x58, signature),
                     b"\x00", _END_OF_TRACK))


def _instrument_track(name: str, channel: int, program: int | None, notes: list[tuple[int, int, int, int]]) -> bytes:
    events: list[tuple[int, int, bytes]] = []  # (tick, order, message); at one tick note-offs come first
    for lo, hi, pitch, velocity in notes:
        events.append((lo, 1, bytes((0x90 | channel, pitch, velocity))))
        events.append((hi, 0, bytes((0x80 | channel, pitch, 0))))
    events.sort(key=lambda event: (event[0], event[1]))
    out = [b"\x00", _meta(0x03, name.encode("utf-8")[:127])]
    if program is not None:
        out += [b"\x00", bytes((0xC0 | channel, program))]
    now = 0
    for tick, _, message in events:
        out += [_vlq(tick - now), message]
        now = tick
    out += [b"\x00", _END_OF_TRACK]
    return b"".join(out)
