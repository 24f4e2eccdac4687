"""The sandbox's studio operations on real audio: add instrumental, add vocals, mashup, replace section and
sounds, plus what is derived from any track (its stems, its notes, its timed lyrics, its waveform).

A track's audio is described by a *recipe*:

* :class:`Song` - a song synthesized from a seed (media.synthesize_song), with its options and its lyrics;
* :class:`Sound` - a sound effect (sfx.synthesize_sound);
* :class:`Overlay` - an upload with synthesized parts around it: add-instrumental (the upload is the
  voice, the song's band plays under it) and add-vocals (the upload is the band, the song's sung lead on top);
* :class:`Mashup` - two uploads taking turns (every two bars, crossfaded, the other one softly under),
  glued by the song's drums, bass and hi-hat and, unless instrumental, its sung lead;
* :class:`Splice` - a source recipe with a section replaced by the same stretch of another song in the
  same key and tempo, crossfaded in and out (replace section).

Every recipe is rendered from *parts* (stems) that add up to the mix, each as long as the track: 32-bit
samples holding 16-bit values times 256 (room to add many parts, and a fraction), processed with
:mod:`audioop` at C speed (standard library up to Python 3.12; from 3.13 the ``audioop-lts`` package, which
discord.py requires there), short crossfades in Python. The mix is scaled to 80 % of full scale and every stem
by the same gain, so stems add up to the song as the media module's do. An upload the sandbox cannot decode
(anything but WAV) is stood in for by synthesized audio, so the result is always real and playable.

:func:`notes` lists what each stem plays (from the synthesizer's own notes, so MIDI matches the audio) and
:func:`aligned_words` puts the lyrics on the sung notes (so timed lyrics match the audio).
"""

from __future__ import annotations

import io
import re
import struct
import sys
import warnings
import wave
from array import array
from collections.abc import Iterable, Sequence
from itertools import repeat
from operator import add, mul
from typing import NamedTuple

with warnings.catch_warnings():  # deprecated in the standard library, kept alive as audioop-lts (see above)
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

from bot import karaoke
from bot.sandbox import media, sfx
from bot.sandbox.media import Note, SongOptions

__all__ = [
    "SAMPLE_RATE", "Mashup", "Overlay", "Recipe", "Song", "Sound", "Splice", "Word", "aligned_words", "boost_style",
    "decode_wav", "duration", "notes", "pcm_from_bytes", "pcm_to_bytes", "render", "stems", "traits", "waveform",
]

SAMPLE_RATE = 22050
MAX_UPLOAD_SECONDS = 90.0
CROSSFADE = 0.25  # s, where a replaced section meets the song, and between mashup sections
_UPLOAD_FADE = 0.005  # s, at both ends of an upload (no click where it was cut)
_GLUE_GAIN = 0.6  # the song's drums, bass and hi-hat under a mashup
_UNDER = 0.3  # the mashup source that is not leading, relative to the one that is
_VOCAL_STEMS = ("vocals", "backing_vocals")
_LAST_WORD = 1.0  # s before a song's end: its fade-out has left a sixth of the level
_ORDER = {name: n for n, name in enumerate(("vocals", "instrumental", *media.SPLIT_STEMS))}
_LITTLE_ENDIAN = sys.byteorder == "little"
_WIDTH = 4  # bytes per sample of a part
_UNIT = 256  # a part sample holds a 16-bit value times this
_INT32 = "i" if array("i").itemsize == 4 else "l"


# ----- recipes ----------------------------------------------------------------------------------------------


class Song(NamedTuple):
    """A synthesized song; ``lyrics`` are what its lead sings (only used to time them)."""

    seed: str
    seconds: float
    instrumental: bool = False
    options: SongOptions | None = None
    lyrics: str = ""


class Sound(NamedTuple):
    """A sound effect (see sfx)."""

    seed: str
    prompt: str
    seconds: float
    loop: bool = False
    bpm: int | None = None
    key: tuple[int, bool] | None = None


class Overlay(NamedTuple):
    """An upload with synthesized parts: ``role`` "vocals" (the upload is the voice: add-instrumental) or
    "instrumental" (the upload is the band: add-vocals). ``upload`` is 16-bit mono PCM at SAMPLE_RATE, or None
    when it could not be decoded (the song's own part stands in). ``weight`` (0-1) is the upload's level."""

    song: Song
    upload: array | None
    role: str
    weight: float = 0.5


class Mashup(NamedTuple):
    """Two uploads (or stand-ins) taking turns over the song's rhythm section."""

    song: Song
    uploads: tuple[array | None, array | None]
    weight: float = 0.5


class Splice(NamedTuple):
    """``source`` with ``start``-``end`` (seconds) taken from ``replacement`` (a song of the same length)."""

    source: Recipe
    replacement: Song
    start: float
    end: float


Recipe = Song | Sound | Overlay | Mashup | Splice
Parts = dict[str, bytes]


class Word(NamedTuple):
    """A sung word and when it is sung (seconds)."""

    word: str
    start: float
    end: float


# ----- uploads ----------------------------------------------------------------------------------------------


def decode_wav(data: bytes, *, max_seconds: float = MAX_UPLOAD_SECONDS, sample_rate: int = SAMPLE_RATE) -> array | None:
    """The audio of a RIFF/WAVE file as 16-bit mono PCM at ``sample_rate`` (at most ``max_seconds``), or None
    if ``data`` is not a WAV this can read. Reads integer PCM of 8, 16, 24 or 32 bits and 32-bit float, any
    number of channels (mixed down) and any rate (resampled with linear interpolation)."""
    info = _wav_chunks(bytes(data))
    if info is None:
        return None
    fmt, channels, rate, bits, frames = info
    width = bits // 8
    keep = min(len(frames) // (width * channels), int(max_seconds * rate)) * width * channels
    if keep == 0:
        return None
    try:
        raw = _to_int16(frames[:keep], fmt, width)
    except (ValueError, OverflowError):  # NaN or infinite float samples
        return None
    if channels == 2:
        raw = audioop.tomono(raw, 2, 0.5, 0.5)
    elif channels > 2:
        lanes = array("h", raw)
        total = array("l", lanes[0::channels])
        for lane in range(1, channels):
            total = array("l", map(add, total, lanes[lane::channels]))
        raw = array("h", map(int.__floordiv__, total, repeat(channels))).tobytes()
    if rate != sample_rate:
        raw = audioop.ratecv(raw, 2, 1, rate, sample_rate, None)[0]
    pcm = array("h")
    pcm.frombytes(raw)
    return pcm or None


def _wav_chunks(data: bytes) -> tuple[int, int, int, int, bytes] | None:
    """(format, channels, rate, bits, sample bytes) of a WAV, or None."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    pos, fmt, frames = 12, None, None
    while pos + 8 <= len(data):
        tag, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = data[pos + 8:pos + 8 + size]
        if tag == b"fmt " and len(body) >= 16:
            fmt = struct.unpack("<HHIIHH", body[:16])
            if fmt[0] == 0xFFFE and len(body) >= 26:  # WAVE_FORMAT_EXTENSIBLE: the sub-format's first two bytes
                fmt = (struct.unpack("<H", body[24:26])[0], *fmt[1:])
        elif tag == b"data":
            frames = body  # a streamed file may claim more than it holds: keep what is there
        pos += 8 + size + (size & 1)
    if fmt is None or frames is None:
        return None
    audio_format, channels, rate, _, _, bits = fmt
    if audio_format not in (1, 3) or not 1 <= channels <= 16 or not 1000 <= rate <= 384000:
        return None
    if (audio_format, bits) not in ((1, 8), (1, 16), (1, 24), (1, 32), (3, 32)):
        return None
    return audio_format, channels, rate, bits, frames


def _to_int16(raw: bytes, fmt: int, width: int) -> bytes:
    """Little-endian samples as native 16-bit ones."""
    if fmt == 3:  # 32-bit float
        floats = array("f")
        floats.frombytes(raw)
        if not _LITTLE_ENDIAN:
            floats.byteswap()
        clamped = map(max, repeat(-1.0), map(min, repeat(32767 / 32768), floats))
        return array("h", map(round, map(mul, clamped, repeat(32768.0)))).tobytes()
    if not _LITTLE_ENDIAN and width > 1:
        raw = audioop.byteswap(raw, width)
    if width == 1:  # WAV's 8-bit samples are unsigned
        raw = audioop.bias(raw, 1, -128)
    return raw if width == 2 else audioop.lin2lin(raw, width, 2)


def pcm_to_bytes(pcm: array) -> bytes:
    """16-bit PCM as little-endian bytes (for storing an upload)."""
    if _LITTLE_ENDIAN:
        return pcm.tobytes()
    copy = array("h", pcm)
    copy.byteswap()
    return copy.tobytes()


def pcm_from_bytes(data: bytes) -> array:
    pcm = array("h")
    pcm.frombytes(data[: len(data) // 2 * 2])
    if not _LITTLE_ENDIAN:
        pcm.byteswap()
    return pcm


# ----- rendering --------------------------------------------------------------------------------------------


def duration(recipe: Recipe) -> float:
    if isinstance(recipe, (Song, Sound)):
        return recipe.seconds
    if isinstance(recipe, Splice):
        return duration(recipe.source)
    return recipe.song.seconds


def render(recipe: Recipe) -> bytes:
    """The track as a WAV (16-bit mono, SAMPLE_RATE); a plain Song is exactly media.synthesize_song's."""
    if isinstance(recipe, Song):
        return media.synthesize_song(recipe.seed, recipe.seconds, instrumental=recipe.instrumental,
                                     options=recipe.options)
    parts = _parts(recipe, split=False)
    mix = _sum(parts.values(), _total(duration(recipe)))
    return _wav(mix, _gain(mix))


def stems(recipe: Recipe, names: Sequence[str]) -> dict[str, bytes]:
    """The track's stems among ``names`` (media's stem names) that it has, each a WAV as long as the track,
    scaled like the track so they add up to it. ("vocals", "instrumental") is the two-stem separation, any
    other set the split one."""
    if isinstance(recipe, Song):
        return media.synthesize_stems(recipe.seed, recipe.seconds, names, instrumental=recipe.instrumental,
                                      options=recipe.options)
    split = any(name not in ("vocals", "instrumental") for name in names)
    parts = _parts(recipe, split=split)
    gain = _gain(_sum(parts.values(), _total(duration(recipe))))
    return {name: _wav(parts[name], gain) for name in names if name in parts and audioop.max(parts[name], _WIDTH)}


def _parts(recipe: Recipe, *, split: bool) -> Parts:
    """The recipe's parts: split stems (media.SPLIT_STEMS) or "vocals" and "instrumental"."""
    total = _total(duration(recipe))
    if isinstance(recipe, Song):
        names = media.SPLIT_STEMS if split else ("vocals", "instrumental")
        wavs = media.synthesize_stems(recipe.seed, recipe.seconds, names, instrumental=recipe.instrumental,
                                      options=recipe.options)
        return {name: _fit(_from_wav(wav), total) for name, wav in wavs.items()}
    if isinstance(recipe, Sound):
        effect = _effect(recipe)
        pcm = media._to_pcm(map(mul, effect.samples, repeat(sfx.effect_gain(effect))), True)
        return {"fx" if split else "instrumental": _fit(_from_pcm(pcm), total)}
    if isinstance(recipe, Overlay):
        return _overlay_parts(recipe, total, split)
    if isinstance(recipe, Mashup):
        return _mashup_parts(recipe, total, split)
    return _splice_parts(recipe, total, split)


def _overlay_parts(recipe: Overlay, total: int, split: bool) -> Parts:
    song = _parts(recipe.song, split=split)
    voice = {name: part for name, part in song.items() if name in _VOCAL_STEMS}
    band = {name: part for name, part in song.items() if name not in _VOCAL_STEMS}
    replaced = voice if recipe.role == "vocals" else band
    if recipe.upload is None:  # a stand-in: the song's own part
        return _ordered({**voice, **band})
    # The upload takes the level of the part it stands for (louder or softer with the weight).
    level = audioop.rms(_sum(replaced.values(), total), _WIDTH) / _UNIT if replaced else 0.0
    upload = _upload_part(recipe.upload, total, recipe.weight, rms=level)
    if recipe.role == "vocals":  # add-instrumental: the upload sings, the song's band plays
        return _ordered({**band, "vocals": upload})
    # add-vocals: the upload is the band, the song's lead sings over it
    return _ordered({**voice, "fx" if split else "instrumental": upload})


def _mashup_parts(recipe: Mashup, total: int, split: bool) -> Parts:
    song = recipe.song
    parts = _parts(song, split=True)
    key, minor, bpm = traits(song)
    sources = []
    for n, upload in enumerate(recipe.uploads):
        if upload is not None:
            sources.append(_upload_part(_looped(upload, total), total, recipe.weight))
        else:  # a stand-in in the song's key and tempo
            stand_in = media.synthesize_song(f"{song.seed}:source{n}", song.seconds, instrumental=True,
                                             options=SongOptions(key=key, minor=minor, bpm=bpm))
            sources.append(_fit(_from_wav(stand_in), total))
    blend = _alternate(sources[0], sources[1], 16 * round(SAMPLE_RATE * 30.0 / bpm))
    glue = {name: audioop.mul(parts[name], _WIDTH, _GLUE_GAIN) for name in ("drums", "bass", "percussion")
            if name in parts}
    voice = {"vocals": parts["vocals"]} if "vocals" in parts and not song.instrumental else {}
    if split:
        return _ordered({**voice, **glue, "fx": blend})
    return _ordered({**voice, "instrumental": _sum([*glue.values(), blend], total)})


def _splice_parts(recipe: Splice, total: int, split: bool) -> Parts:
    source = _parts(recipe.source, split=split)
    replacement = _parts(recipe.replacement, split=split)
    start, end = round(recipe.start * SAMPLE_RATE), round(recipe.end * SAMPLE_RATE)
    fade = round(CROSSFADE * SAMPLE_RATE)
    into, out_of = max(0, start - fade), min(total, end + fade)
    silence = bytes(_WIDTH * total)
    result = {}
    for name in {**source, **replacement}:
        old, new = source.get(name, silence), _fit(replacement.get(name, silence), total)
        result[name] = b"".join((
            _span(old, 0, into),
            _crossfade(_span(old, into, start), _span(new, into, start)),
            _span(new, start, end),
            _crossfade(_span(new, end, out_of), _span(old, end, out_of)),
            _span(old, out_of, total),
        ))
    return _ordered(result)


def _alternate(first: bytes, second: bytes, section: int) -> bytes:
    """``first`` and ``second`` taking turns every ``section`` samples (the other at _UNDER), crossfaded."""
    total = len(first) // _WIDTH
    fade = min(round(CROSSFADE * SAMPLE_RATE), section // 2)
    pieces = []
    lead = True
    for at in range(0, total, section):
        stop = min(total, at + section)
        a, b = _span(first, at, stop), _span(second, at, stop)
        leading, under = (a, b) if lead else (b, a)
        glide = min(fade, stop - at) if at else 0
        if glide:  # the new leader rises from _UNDER to 1 while the old one falls
            rising = _weighted(_span(leading, 0, glide), _UNDER, 1.0)
            falling = _weighted(_span(under, 0, glide), 1.0, _UNDER)
            pieces.append(audioop.add(rising, falling, _WIDTH))
        steady = audioop.add(_span(leading, glide, stop - at), audioop.mul(_span(under, glide, stop - at), _WIDTH,
                                                                           _UNDER), _WIDTH)
        pieces.append(steady)
        lead = not lead
    return b"".join(pieces)


def _upload_part(upload: array, total: int, weight: float, *, rms: float = 0.0) -> bytes:
    """An upload as a part: cut or padded to ``total``, faded at its ends, at ``rms`` (16-bit units) times
    0.5-1.5 by ``weight``, or (``rms`` 0) with its peak at 40-100 % of the song's."""
    length = min(len(upload), total)
    part = _from_pcm(upload[:length])
    fade = min(round(_UPLOAD_FADE * SAMPLE_RATE), length // 2)
    if fade:
        part = b"".join((_weighted(_span(part, 0, fade), 0.0, 1.0), _span(part, fade, length - fade),
                         _weighted(_span(part, length - fade, length), 1.0, 0.0)))
    own = audioop.rms(part, _WIDTH) / _UNIT
    peak = audioop.max(part, _WIDTH) / _UNIT
    if rms and own:
        part = audioop.mul(part, _WIDTH, min(rms * (0.5 + weight) / own, 4 * media._PEAK / peak))
    elif peak:
        part = audioop.mul(part, _WIDTH, media._PEAK * (0.4 + 0.6 * weight) / peak)
    return _fit(part, total)


def _looped(upload: array, total: int) -> array:
    """``upload`` repeated to at least ``total`` samples (a short source keeps taking its turns)."""
    return upload * -(-total // len(upload)) if 0 < len(upload) < total else upload


def _effect(recipe: Sound) -> sfx.Effect:
    return sfx.synthesize_sound(recipe.seed, recipe.prompt, recipe.seconds, loop=recipe.loop, bpm=recipe.bpm,
                                key=recipe.key)


# ----- what is played and sung ------------------------------------------------------------------------------


def traits(recipe: Recipe) -> tuple[int, bool, int]:
    """(key as a pitch class, minor?, tempo) of the recipe's synthesized music."""
    if isinstance(recipe, Song):
        return media.song_traits(recipe.seed, recipe.seconds, instrumental=recipe.instrumental,
                                 options=recipe.options)
    if isinstance(recipe, Sound):
        return sfx.sound_traits(recipe.seed, bpm=recipe.bpm, key=recipe.key)
    if isinstance(recipe, Splice):
        return traits(recipe.source)
    return traits(recipe.song)


def notes(recipe: Recipe) -> dict[str, list[Note]]:
    """The notes each stem of the track plays (stem name → notes in time order); parts that come from an
    upload have none (the sandbox does not transcribe audio)."""
    if isinstance(recipe, Song):
        return media.song_notes(recipe.seed, recipe.seconds, instrumental=recipe.instrumental,
                                options=recipe.options)
    if isinstance(recipe, Sound):
        return _effect(recipe).notes
    if isinstance(recipe, Overlay):
        played = notes(recipe.song)
        if recipe.upload is None:
            return played
        keep = (lambda name: name not in _VOCAL_STEMS) if recipe.role == "vocals" else (lambda name: name in _VOCAL_STEMS)
        return {name: found for name, found in played.items() if keep(name)}
    if isinstance(recipe, Mashup):
        played = notes(recipe.song)
        wanted = ("drums", "bass", "percussion") + (() if recipe.song.instrumental else ("vocals",))
        return _ordered({name: found for name, found in played.items() if name in wanted})
    outside = {name: _outside(found, recipe.start, recipe.end) for name, found in notes(recipe.source).items()}
    inside = {name: _inside(found, recipe.start, recipe.end) for name, found in notes(recipe.replacement).items()}
    merged = {}
    for name in {**outside, **inside}:
        found = sorted(outside.get(name, []) + inside.get(name, []), key=lambda n: (n.start, n.pitch))
        if found:
            merged[name] = found
    return _ordered(merged)


def _outside(found: list[Note], start: float, end: float) -> list[Note]:
    """Notes outside ``start``-``end``, those running into it cut at its edges."""
    kept = []
    for note in found:
        if note.end <= start or note.start >= end:
            kept.append(note)
        elif note.start < start:
            kept.append(note._replace(end=start))
        elif note.end > end:
            kept.append(note._replace(start=end))
    return kept


def _inside(found: list[Note], start: float, end: float) -> list[Note]:
    return [note._replace(end=min(note.end, end)) for note in found if start <= note.start < end]


def aligned_words(recipe: Recipe) -> list[Word]:
    """The track's lyrics word by word on its sung notes, so a word starts when its first note starts and ends
    when its last note ends (a word on one or more notes, or several words sharing a note). Each line of the
    lyrics is sung on two bars of the lead (a half phrase); lyrics with more lines than the song has half
    phrases are spread word by word over all its notes instead, so every word is sung. Section headers
    ("[Chorus]") and line breaks are carried in front of the next word, as Suno does ("[Chorus]\\nSing"). An
    instrumental track, or a voice the sandbox did not sing (an uploaded one), has no words."""
    if isinstance(recipe, Song):
        if recipe.instrumental or not recipe.lyrics.strip():
            return []
        return _align(recipe.lyrics, _sung_units(recipe))
    if isinstance(recipe, Sound):
        return []
    if isinstance(recipe, Overlay):
        return aligned_words(recipe.song) if recipe.role == "instrumental" or recipe.upload is None else []
    if isinstance(recipe, Mashup):
        return aligned_words(recipe.song)
    kept = [word for word in aligned_words(recipe.source) if word.end <= recipe.start or word.start >= recipe.end]
    song = recipe.replacement
    if song.instrumental or not song.lyrics.strip():
        return kept
    new = _align(song.lyrics, [_inside(unit, recipe.start, recipe.end) for unit in _sung_units(song)])
    merged = sorted(kept + new, key=lambda word: word.start)
    # Where the new lines begin, and where the song's own lines come back, a new line begins.
    after = next((word for word in kept if word.start >= recipe.end), None)
    starts = {id(word) for word in (new[:1] + ([after] if after is not None else []))}
    return [_new_line(word) if n and id(word) in starts else word for n, word in enumerate(merged)]


def _new_line(word: Word) -> Word:
    return word if word.word.startswith("\n") else word._replace(word="\n" + word.word)


def _sung_units(song: Song) -> list[list[Note]]:
    """The song's lead in two-bar stretches (what one line of lyrics is sung on), without what the song's
    fade-out makes inaudible: no word starts in its last 1.5 s or lasts into its last second."""
    last = song.seconds - _LAST_WORD
    units = media.lead_phrases(song.seed, song.seconds, instrumental=False, options=song.options, bars=2)
    return [[note._replace(end=min(note.end, last)) for note in unit if note.start < last - 0.5] for unit in units]


def _lyric_lines(lyrics: str) -> list[list[str]]:
    """The words of each sung line; the first word carries what comes before it as Suno writes it: a line
    break (but on the first line) and any section headers ("[Chorus]\\nSing")."""
    lines: list[list[str]] = []
    pending = ""
    for raw in lyrics.splitlines():
        line = raw.strip()
        if not line:
            continue
        if karaoke.SECTION.match(line):
            pending += line + "\n"
            continue
        words = line.split()
        lines.append([("\n" if lines else "") + pending + words[0], *words[1:]])
        pending = ""
    return lines


def _align(lyrics: str, units: Sequence[Sequence[Note]]) -> list[Word]:
    """Lyrics on sung notes: a line per unit while there are enough units, else all words over all notes."""
    sung = [list(unit) for unit in units if unit]
    lines = _lyric_lines(lyrics)
    if not sung or not lines:
        return []
    if len(lines) <= len(sung):
        pairs = list(zip(lines, sung))
    else:
        pairs = [([word for line in lines for word in line], [note for unit in sung for note in unit])]
    words: list[Word] = []
    for tokens, notes in pairs:
        words += _spread(tokens, notes)
    return words


def _spread(tokens: list[str], notes: list[Note]) -> list[Word]:
    """Words in order over notes in order: a word on one or more notes, or several words sharing a note."""
    count, size = len(tokens), len(notes)
    if count <= size:
        return [Word(token, notes[j * size // count].start, notes[(j + 1) * size // count - 1].end)
                for j, token in enumerate(tokens)]
    words = []
    for k, note in enumerate(notes):
        group = tokens[k * count // size:(k + 1) * count // size]
        step = (note.end - note.start) / len(group)
        words += [Word(token, note.start + i * step, note.start + (i + 1) * step) for i, token in enumerate(group)]
    return words


def waveform(wav: bytes, points: int = 200) -> list[float]:
    """The track's loudness outline: the peak of each of ``points`` equal stretches, 0-1 of full scale."""
    with wave.open(io.BytesIO(wav)) as reader:
        pcm = pcm_from_bytes(reader.readframes(reader.getnframes()))
    if not pcm:
        return []
    size = max(1, -(-len(pcm) // points))
    return [round(media._peak(chunk) / 32768, 3)
            for chunk in (pcm[at:at + size] for at in range(0, len(pcm), size))]


# ----- boost style ------------------------------------------------------------------------------------------

_MOODS = ("luminous", "brooding", "playful", "bittersweet", "driving", "dreamy", "defiant", "tender", "hypnotic",
          "euphoric", "wistful", "cinematic")
_TEXTURES = ("shimmering synth pads", "warm Rhodes chords", "crisp fingerpicked guitar", "lush string swells",
             "gritty analog bass", "glassy plucked arpeggios", "soft felt piano", "punchy brass stabs",
             "airy flute lines", "detuned tape keys")
_VOCALS = ("breathy intimate vocals", "soaring belted chorus", "layered harmonies", "half-spoken verses",
           "falsetto hooks", "call-and-response backing vocals", "smoky low vocals", "bright airy vocals")
_PRODUCTION = ("tight punchy drums", "wide stereo reverb", "sidechained groove", "lo-fi tape saturation",
               "crisp modern mix", "vintage room sound", "deep sub-bass", "swung hi-hats", "big cinematic build")


def boost_style(content: str) -> str:
    """A richer, deterministic style description built on ``content`` ("Pop, Mysterious")."""
    tags = [tag.strip() for tag in re.split(r"[,;/\n]+", content) if tag.strip()]
    rng = media._Rng(" ".join(tag.lower() for tag in tags), "chorus-sandbox-boost")
    minor, bpm = media._style_hints(content)
    tempo = bpm or 78 + rng.below(63)
    mode = "minor" if (minor if minor is not None else rng.below(3) == 0) else "major"
    genre = ", ".join(tags[:4]).lower() or "pop"
    first = rng.below(len(_PRODUCTION))
    second = (first + 1 + rng.below(len(_PRODUCTION) - 1)) % len(_PRODUCTION)
    return (f"{rng.choice(_MOODS).capitalize()} {genre} with {rng.choice(_TEXTURES)}, {rng.choice(_VOCALS)} "
            f"and {_PRODUCTION[first]}; {tempo} BPM in a {mode} key, {_PRODUCTION[second]}")


# ----- helpers ----------------------------------------------------------------------------------------------


def _total(seconds: float) -> int:
    return max(1, round(seconds * SAMPLE_RATE))


def _span(part: bytes, lo: int, hi: int) -> bytes:
    """Samples ``lo:hi`` of a part."""
    return part[lo * _WIDTH:hi * _WIDTH]


def _fit(part: bytes, total: int) -> bytes:
    size = total * _WIDTH
    return part[:size] if len(part) >= size else part + bytes(size - len(part))


def _from_pcm(pcm: array) -> bytes:
    """16-bit samples as a part."""
    return audioop.mul(audioop.lin2lin(pcm.tobytes(), 2, _WIDTH), _WIDTH, _UNIT / 65536)


def _from_wav(wav: bytes) -> bytes:
    with wave.open(io.BytesIO(wav)) as reader:
        return _from_pcm(pcm_from_bytes(reader.readframes(reader.getnframes())))


def _weighted(part: bytes, first: float, last: float) -> bytes:
    """A short stretch of a part times a gain going linearly from ``first`` to ``last``."""
    samples = array(_INT32)
    samples.frombytes(part)
    count = len(samples)
    if count == 0:
        return b""
    step = (last - first) / count
    gains = [first + step * n for n in range(count)]
    return array(_INT32, map(round, map(mul, samples, gains))).tobytes()


def _crossfade(leaving: bytes, coming: bytes) -> bytes:
    """``leaving`` fading out while ``coming`` fades in (both as long)."""
    return audioop.add(_weighted(leaving, 1.0, 0.0), _weighted(coming, 0.0, 1.0), _WIDTH) if leaving else b""


def _sum(parts: Iterable[bytes], total: int) -> bytes:
    mix = bytes(_WIDTH * total)
    for part in parts:
        mix = audioop.add(mix, part, _WIDTH)
    return mix


def _gain(mix: bytes) -> float:
    """The scale that brings the mix's peak to media._PEAK (16-bit units)."""
    return media._gain_to_peak(audioop.max(mix, _WIDTH) / _UNIT)


def _wav(part: bytes, gain: float) -> bytes:
    """A part times ``gain`` as a 16-bit WAV."""
    pcm = array("h")
    pcm.frombytes(audioop.lin2lin(audioop.mul(part, _WIDTH, gain * 65536 / _UNIT), _WIDTH, 2))
    return media._wav_bytes(pcm, SAMPLE_RATE)


def _ordered(parts: dict) -> dict:
    return {name: parts[name] for name in sorted(parts, key=lambda name: _ORDER.get(name, len(_ORDER)))}
