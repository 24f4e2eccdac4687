"""bot/midi.py: instrument/note lists (kie's MIDI shape) written as Standard MIDI Files, read back by an
independent parser."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

import pytest

from bot.midi import GM_PROGRAMS, write_midi


@dataclass
class Track:
    name: str = ""
    programs: list[tuple[int, int]] = field(default_factory=list)  # (channel, program)
    notes: list[tuple[int, int, int, int, int]] = field(default_factory=list)  # (channel, pitch, on, off, velocity)
    tempo: int | None = None  # microseconds a beat
    signature: tuple[int, int] | None = None
    ended: bool = False


def _vlq(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    while True:
        byte = data[pos]
        pos += 1
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value, pos


def parse_midi(data: bytes) -> tuple[int, int, list[Track]]:
    """(format, ticks per beat, tracks) of a Standard MIDI File; asserts it is well formed."""
    assert data[:4] == b"MThd"
    length, fmt, count, division = struct.unpack(">IHHH", data[4:14])
    assert length == 6
    pos = 14
    tracks = []
    for _ in range(count):
        assert data[pos:pos + 4] == b"MTrk"
        (size,) = struct.unpack(">I", data[pos + 4:pos + 8])
        body = data[pos + 8:pos + 8 + size]
        assert len(body) == size
        pos += 8 + size
        track = Track()
        sounding: dict[tuple[int, int], tuple[int, int]] = {}
        at, i, status = 0, 0, 0
        while i < len(body):
            delta, i = _vlq(body, i)
            at += delta
            if body[i] & 0x80:
                status = body[i]
                i += 1
            if status == 0xFF:
                kind = body[i]
                length, i = _vlq(body, i + 1)
                payload = body[i:i + length]
                i += length
                if kind == 0x03:
                    track.name = payload.decode()
                elif kind == 0x51:
                    track.tempo = int.from_bytes(payload, "big")
                elif kind == 0x58:
                    track.signature = (payload[0], 2 ** payload[1])
                elif kind == 0x2F:
                    track.ended = True
                    assert i == len(body), "end of track is the last event"
                continue
            kind, channel = status & 0xF0, status & 0x0F
            if kind == 0xC0:
                track.programs.append((channel, body[i]))
                i += 1
                continue
            pitch, velocity = body[i], body[i + 1]
            i += 2
            if kind == 0x90 and velocity > 0:
                assert (channel, pitch) not in sounding, "a key is struck while it still sounds"
                sounding[(channel, pitch)] = (at, velocity)
            elif kind in (0x80, 0x90):
                on, struck = sounding.pop((channel, pitch))
                track.notes.append((channel, pitch, on, at, struck))
        assert not sounding, "every note is released"
        assert track.ended
        tracks.append(track)
    assert pos == len(data)
    return fmt, division, tracks


def seconds(tick: int, division: int = 480, bpm: float = 120.0) -> float:
    return tick / division * 60.0 / bpm


INSTRUMENTS: list[dict[str, Any]] = [
    {"name": "Electric Bass (finger)",
     "notes": [{"pitch": 44, "start": 7.6875, "end": 7.911458333333333, "velocity": 1},
               {"pitch": 40, "start": "0.5", "end": "1.25", "velocity": 0.5}]},
    {"name": "Drums", "notes": [{"pitch": 36, "start": 0.0, "end": 0.1, "velocity": 0.9},
                                {"pitch": 42, "start": 0.25, "end": 0.28, "velocity": 0.4}]},
    {"name": "Lead Vocals", "notes": [{"pitch": 67, "start": 0.0, "end": 1.0, "velocity": 0.8}]},
]


def test_a_kie_instrument_list_becomes_a_format_1_file_with_a_track_each() -> None:
    fmt, division, tracks = parse_midi(write_midi(INSTRUMENTS))
    assert (fmt, division) == (1, 480)
    assert len(tracks) == 1 + len(INSTRUMENTS)
    tempo_track, bass, drums, vocals = tracks
    assert tempo_track.tempo == 500_000 and tempo_track.signature == (4, 4) and not tempo_track.notes
    assert [bass.name, drums.name, vocals.name] == ["Electric Bass (finger)", "Drums", "Lead Vocals"]
    # GM names give their program; drums play on channel 10 (9 from 0) with no program; other names are guessed
    assert bass.programs == [(0, GM_PROGRAMS.index("Electric Bass (finger)"))]
    assert drums.programs == [] and {n[0] for n in drums.notes} == {9}
    assert vocals.programs == [(1, GM_PROGRAMS.index("Voice Oohs"))]


def test_notes_keep_their_times_pitches_and_velocities() -> None:
    _, division, tracks = parse_midi(write_midi(INSTRUMENTS))
    bass = sorted(tracks[1].notes, key=lambda n: n[2])
    assert [n[1] for n in bass] == [40, 44]
    for (_, _, on, off, velocity), note in zip(bass, sorted(INSTRUMENTS[0]["notes"],
                                                                      key=lambda n: float(n["start"]))):
        assert abs(seconds(on, division) - float(note["start"])) <= 0.5 / 960
        assert abs(seconds(off, division) - float(note["end"])) <= 0.5 / 960
        assert velocity == round(float(note["velocity"]) * 127)


def test_the_tempo_sets_the_grid_but_not_the_timing() -> None:
    _, division, tracks = parse_midi(write_midi(INSTRUMENTS, bpm=90, ticks_per_beat=96))
    assert division == 96 and tracks[0].tempo == round(60_000_000 / 90)
    on = min(n[2] for n in tracks[1].notes)
    assert abs(seconds(on, 96, 90) - 0.5) < 0.01


def test_overlapping_notes_of_one_key_are_cut_and_bad_notes_skipped() -> None:
    notes: list[Any] = [
        {"pitch": 60, "start": 0.0, "end": 1.0, "velocity": 0.5},
        {"pitch": 60, "start": 0.5, "end": 1.5, "velocity": 0.5},  # the first is cut here
        {"pitch": 60, "start": 0.5, "end": 0.7, "velocity": 0.5},  # the same key struck twice at once: one note
        {"pitch": 64, "start": 0.2, "end": 0.2, "velocity": 100},  # zero length: one tick; a MIDI velocity
        {"pitch": 200, "start": 0.0, "end": 1.0},  # out of range
        {"pitch": 62, "start": "soon", "end": 1.0},  # unreadable
        {"pitch": 61, "start": -1.0, "end": 1.0},  # before the start
        "not a note",
    ]
    _, _, tracks = parse_midi(write_midi([{"name": "Piano", "notes": notes}]))
    by_pitch: dict[int, list[tuple[int, int, int]]] = {}
    for _, pitch, on, off, velocity in sorted(tracks[1].notes, key=lambda n: n[2]):
        by_pitch.setdefault(pitch, []).append((on, off, velocity))
    assert sorted(by_pitch) == [60, 64]
    assert by_pitch[60] == [(0, 480, 64), (480, 1440, 64)]
    assert by_pitch[64] == [(192, 193, 100)]
    assert tracks[1].programs == [(0, 0)]


def test_explicit_programs_drum_flags_and_many_instruments() -> None:
    instruments: list[dict[str, Any]] = [{"name": f"part {n}", "notes": [{"pitch": 60, "start": n, "end": n + 1, "velocity": 0.7}]}
                   for n in range(17)]
    instruments.append({"name": "Cowbell", "drums": True, "notes": [{"pitch": 56, "start": 0, "end": 0.1}]})
    instruments.append({"name": "Whatever", "program": 40, "notes": []})
    _, _, tracks = parse_midi(write_midi(instruments))
    channels = [track.notes[0][0] for track in tracks[1:18]]
    assert 9 not in channels and len(set(channels[:15])) == 15  # channel 10 is kept for drums
    assert tracks[18].notes[0][0] == 9 and tracks[18].notes[0][4] == 100  # no velocity given: 100
    assert tracks[19].programs == [(2, 40)]  # the 18th melodic instrument: channels wrap round (0-8, 10-15)
    assert tracks[19].notes == []


def test_an_empty_list_is_a_valid_file() -> None:
    fmt, _, tracks = parse_midi(write_midi([]))
    assert fmt == 1 and len(tracks) == 1


@pytest.mark.parametrize("kwargs", [{"bpm": 0}, {"bpm": float("nan")}, {"ticks_per_beat": 10},
                                    {"time_signature": (4, 3)}])
def test_unusable_settings_raise_value_error(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        write_midi(INSTRUMENTS, **kwargs)


def test_instruments_must_be_mappings_with_notes() -> None:
    with pytest.raises(TypeError):
        write_midi(["Drums"])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        write_midi([{"name": "Drums", "notes": 5}])  # notes are not a list
