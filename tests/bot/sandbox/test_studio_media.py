"""The media behind the sandbox's studio operations: song options (vocalGender, weirdness, style weight,
personas), the notes a song plays, uploads decoded, mixes (add-instrumental, add-vocals, mashup, replace
section), sound effects and timed lyrics — checked on the audio itself."""

from __future__ import annotations

import math
import struct
from array import array
from itertools import pairwise

import pytest

from bot.sandbox import media, sfx, studio
from bot.sandbox.media import SongOptions
from tests.bot.sandbox.audio import SR, correlation, rms, samples, sounds_pitch

SEED = "studio: a song about lanterns#0"
SECONDS = 12.0
LYRICS = "[Verse]\nLanterns glow along the bay\nI hum the night away\n[Chorus]\nShine on, shine on\nTill dawn"


def wav_file(pcm: list[int], *, rate: int = SR, channels: int = 1, width: int = 2, fmt: int = 1,
             extensible: bool = False) -> bytes:
    """A WAV written by hand (formats the wave module cannot write: float, extensible)."""
    if fmt == 3:
        frames = struct.pack(f"<{len(pcm)}f", *(x / 32768 for x in pcm))
    elif width == 1:
        frames = bytes((x >> 8) + 128 for x in pcm)
    else:
        frames = b"".join((x << (8 * (width - 2))).to_bytes(width, "little", signed=True) for x in pcm)
    block = width * channels
    if extensible:
        body = struct.pack("<HHIIHHHHI", 0xFFFE, channels, rate, rate * block, block, 8 * width, 22, 8 * width, 0)
        body += struct.pack("<H", fmt) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    else:
        body = struct.pack("<HHIIHH", fmt, channels, rate, rate * block, block, 8 * width)
    chunks = b"fmt " + struct.pack("<I", len(body)) + body + b"LIST\x04\x00\x00\x00abcd"
    chunks += b"data" + struct.pack("<I", len(frames)) + frames
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


# ----- options ---------------------------------------------------------------------------------------------


def test_default_options_are_the_seed_alone() -> None:
    assert media.synthesize_song(SEED, SECONDS, options=SongOptions()) == media.synthesize_song(SEED, SECONDS)
    assert media.synthesize_stems(SEED, SECONDS, options=SongOptions()) == media.synthesize_stems(SEED, SECONDS)


def test_vocal_gender_moves_the_lead_an_octave_and_changes_its_voice() -> None:
    low = media.song_notes(SEED, SECONDS, options=SongOptions(register="m"))
    high = media.song_notes(SEED, SECONDS, options=SongOptions(register="f"))
    assert [n.pitch + 12 for n in low["vocals"]] == [n.pitch for n in high["vocals"]]
    assert low["bass"] == high["bass"]  # only the singer changes
    key = media.song_traits(SEED, SECONDS)[0]
    assert all(48 + key - 5 <= n.pitch <= 48 + key + 17 for n in low["vocals"])
    songs = {media.synthesize_song(SEED, SECONDS, options=SongOptions(register=r)) for r in (None, "m", "f")}
    assert len(songs) == 3


def test_a_persona_voice_is_deterministic_and_audible() -> None:
    voice = media.voice_from_seed("persona-1")
    assert voice == media.voice_from_seed("persona-1") != media.voice_from_seed("persona-2")
    sung = media.synthesize_stems(SEED, SECONDS, ("vocals",), options=SongOptions(voice=voice))["vocals"]
    plain = media.synthesize_stems(SEED, SECONDS, ("vocals",))["vocals"]
    assert sung != plain
    assert media.song_notes(SEED, SECONDS, options=SongOptions(voice=voice)) == media.song_notes(SEED, SECONDS)


def test_weirdness_brings_odd_rhythms_then_odd_modes() -> None:
    plain = media.song_notes(SEED, SECONDS)["vocals"]
    odd = media.song_notes(SEED, SECONDS, options=SongOptions(weirdness=0.5))["vocals"]
    assert odd != plain
    modes = set()
    for n in range(12):
        seed = f"weird#{n}"
        key, minor, _ = media.song_traits(seed, SECONDS)
        scale = set(media._MINOR if minor else media._MAJOR)
        weird = media.song_notes(seed, SECONDS, options=SongOptions(weirdness=1.0))
        classes = {(note.pitch - key) % 12 for notes in weird.values() if notes is not weird.get("drums")
                   for note in notes if notes is not weird.get("percussion")}
        modes.add(frozenset(classes) <= scale)
    assert False in modes  # some very weird songs leave plain major and minor
    media.synthesize_song("weird#0", 6.0, options=SongOptions(weirdness=1.0))  # and still render


def test_style_weight_follows_the_style_words() -> None:
    _, _, seed_bpm = media.song_traits(SEED, SECONDS)
    assert media.song_traits(SEED, SECONDS, options=SongOptions(style="slow dark ballad", style_weight=1.0))[1:] == (
        True, 72)
    half = media.song_traits(SEED, SECONDS, options=SongOptions(style="fast dance", style_weight=0.5))[2]
    assert half == round(seed_bpm + (150 - seed_bpm) * 0.5)
    assert media.song_traits(SEED, SECONDS, options=SongOptions(style="fast dance"))[2] == seed_bpm  # no weight
    band_heavy = media.synthesize_stems(SEED, SECONDS, options=SongOptions(style_weight=1.0))
    voice_heavy = media.synthesize_stems(SEED, SECONDS, options=SongOptions(style_weight=0.0))
    def ratio(stems: dict[str, bytes]) -> float:
        return rms(samples(stems["vocals"])) / rms(samples(stems["instrumental"]))

    assert ratio(voice_heavy) > 2 * ratio(band_heavy)


@pytest.mark.parametrize("options", [SongOptions(key=12), SongOptions(bpm=10), SongOptions(register="x"),
                                     SongOptions(weirdness=2.0), SongOptions(style_weight=-0.1)])
def test_bad_options_raise_value_error(options: SongOptions) -> None:
    with pytest.raises(ValueError):
        media.synthesize_song(SEED, 2.0, options=options)


# ----- the notes a song plays are the notes you hear -------------------------------------------------------


@pytest.mark.parametrize("instrumental", [False, True])
def test_song_notes_match_the_stems(instrumental: bool) -> None:
    played = media.song_notes(SEED, SECONDS, instrumental=instrumental)
    stems = media.synthesize_stems(SEED, SECONDS, media.SPLIT_STEMS, instrumental=instrumental)
    assert set(played) == set(stems)
    lead = "synth" if instrumental else "vocals"
    audio = samples(stems[lead])
    checked = 0
    for note in played[lead]:
        if note.end - note.start < 0.15 or note.start < 0.6 or note.end > SECONDS - 2.6:
            continue  # fades
        window = audio[int((note.start + 0.05) * SR):int((note.end - 0.03) * SR)]
        assert sounds_pitch(window, note.pitch), note
        checked += 1
    assert checked >= 5
    bass = samples(stems["bass"])
    for note in played["bass"][2:8]:
        window = bass[int((note.start + 0.01) * SR):int((note.start + 0.12) * SR)]
        assert sounds_pitch(window, note.pitch), note
    kicks = [n for n in played["drums"] if n.pitch == 36 and 0.6 < n.start < SECONDS - 3]
    drums = samples(stems["drums"])
    for note in kicks[:4]:
        assert rms(drums, note.start, note.start + 0.05) > 4 * rms(drums, note.start - 0.03, note.start)


def test_lead_phrases_are_the_song_slots_in_the_form_a_a_b_c() -> None:
    phrases = media.lead_phrases(SEED, 40.0)
    key, _, bpm = media.song_traits(SEED, 40.0)
    loop = 32 * round(SR * 30 / bpm)  # samples in a slot: four bars of eighth notes on the sample grid

    def slot(k: int) -> list[tuple[int, int, int]]:
        """(pitch, start, end) of slot k's notes in samples, moved back to the song's start."""
        return [(n.pitch, round(n.start * SR) - k * loop, round(n.end * SR) - k * loop) for n in phrases[k]]

    assert len(phrases) == -(-round(40.0 * SR) // loop) == 5
    for k in range(len(phrases)):
        assert phrases[k] and all(0 <= start < loop for _, start, _ in slot(k)), k  # each note in its own slot
    assert slot(1) == slot(0)  # A A: the second slot sings the first one's phrase again
    assert slot(2) != slot(0) and slot(3) not in (slot(0), slot(2))  # then B and C
    assert (phrases[3][-1].pitch - key) % 12 == 0  # C comes home to the tonic
    starts = [(pitch, start) for pitch, start, _ in slot(4)]
    assert starts == [(pitch, start) for pitch, start, _ in slot(0)][: len(starts)]  # A again, cut by the end
    assert [note for phrase in phrases for note in phrase] == media.song_notes(SEED, 40.0)["vocals"]


# ----- uploads ---------------------------------------------------------------------------------------------

RAMP = [int(20000 * math.sin(2 * math.pi * 441 * n / SR)) for n in range(SR // 2)]


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_integer_wavs_of_any_width_decode(width: int) -> None:
    pcm = decoded(wav_file(RAMP, width=width))
    assert len(pcm) == len(RAMP)
    tolerance = 256 if width == 1 else 1
    assert max(abs(a - b) for a, b in zip(pcm, RAMP)) <= tolerance


def decoded(data: bytes, **kwargs: float) -> array:
    pcm = studio.decode_wav(data, **kwargs)  # type: ignore[arg-type]
    assert pcm is not None
    return pcm


def test_float_extensible_stereo_and_other_rates_decode() -> None:
    assert max(abs(a - b) for a, b in zip(decoded(wav_file(RAMP, fmt=3, width=4)), RAMP)) <= 1
    assert list(decoded(wav_file(RAMP, extensible=True))) == RAMP
    stereo = [x for sample in RAMP for x in (sample, sample // 2)]
    mixed = decoded(wav_file(stereo, channels=2))
    assert len(mixed) == len(RAMP) and abs(mixed[100] - (RAMP[100] + RAMP[100] // 2) // 2) <= 1
    doubled = [x for sample in RAMP for x in (sample, sample)]
    assert len(decoded(wav_file(doubled, rate=2 * SR))) == len(RAMP)
    assert abs(len(decoded(wav_file(RAMP, rate=8000))) - len(RAMP) * SR // 8000) <= 2
    assert len(decoded(wav_file(RAMP * 4), max_seconds=1.0)) == SR


@pytest.mark.parametrize("data", [b"", b"RIFF" + b"\0" * 5000, b"ID3\x03mp3 data", wav_file([], width=2),
                                  wav_file(RAMP, width=2)[:40]])
def test_what_is_not_a_readable_wav_decodes_to_none(data: bytes) -> None:
    assert studio.decode_wav(data) is None


# ----- mixes -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def voice() -> array:
    """An uploaded "vocal": the lead of another song."""
    pcm = studio.decode_wav(media.synthesize_stems("uploaded voice#0", SECONDS, ("vocals",))["vocals"])
    assert pcm is not None
    return pcm


@pytest.fixture(scope="module")
def band() -> array:
    pcm = studio.decode_wav(media.synthesize_song("uploaded band#0", SECONDS, instrumental=True))
    assert pcm is not None
    return pcm


def projection_residual(mix: array, part: array) -> tuple[float, float]:
    """(correlation of mix and part, share of the mix's energy that is not the part)."""
    n = min(len(mix), len(part))
    dot = sum(x * y for x, y in zip(mix[:n], part[:n]))
    scale = dot / sum(y * y for y in part[:n])
    rest = sum((x - scale * y) ** 2 for x, y in zip(mix[:n], part[:n]))
    return correlation(mix, part), rest / sum(x * x for x in mix[:n])


def test_add_instrumental_plays_a_band_under_the_voice(voice: array) -> None:
    song = studio.Song("accompaniment#0", SECONDS)
    recipe = studio.Overlay(song, voice, "vocals")
    mix = samples(studio.render(recipe))
    assert len(mix) == round(SECONDS * SR)
    corr, rest = projection_residual(mix, voice)
    assert corr > 0.3 and rest > 0.3  # the voice is there, and so is a good deal else
    stems = studio.stems(recipe, ("vocals", "instrumental"))
    assert correlation(samples(stems["vocals"]), voice) > 0.999  # the voice is the upload
    band_only = samples(stems["instrumental"])
    assert correlation(band_only, samples(media.synthesize_stems(song.seed, SECONDS)["instrumental"])) > 0.999
    total = [a + b for a, b in zip(samples(stems["vocals"]), band_only)]
    assert max(abs(a - b) for a, b in zip(total, mix)) <= 2  # the stems add up to the track
    split = studio.stems(recipe, media.SPLIT_STEMS)
    assert set(split) == {"vocals", "drums", "bass", "percussion", "strings"}
    assert "vocals" not in studio.notes(recipe) and studio.aligned_words(recipe) == []


def test_add_vocals_sings_over_the_band(band: array) -> None:
    song = studio.Song("singer#0", SECONDS, lyrics=LYRICS)
    recipe = studio.Overlay(song, band, "instrumental", weight=0.9)
    mix = samples(studio.render(recipe))
    corr, rest = projection_residual(mix, band)
    assert corr > 0.3 and rest > 0.1
    sung = samples(media.synthesize_stems(song.seed, SECONDS, ("vocals",))["vocals"])
    assert correlation(samples(studio.stems(recipe, ("vocals",))["vocals"]), sung) > 0.999
    assert set(studio.stems(recipe, media.SPLIT_STEMS)) == {"vocals", "fx"}
    assert list(studio.notes(recipe)) == ["vocals"]
    assert studio.aligned_words(recipe) == studio.aligned_words(song)
    louder = samples(studio.render(recipe._replace(weight=0.0)))
    assert projection_residual(louder, band)[1] > rest  # audioWeight sets the upload's level


def test_an_upload_that_cannot_be_read_is_stood_in_for() -> None:
    song = studio.Song("stand-in#0", SECONDS, lyrics=LYRICS)
    assert studio.render(studio.Overlay(song, None, "instrumental")) == studio.render(
        studio.Overlay(song, None, "vocals"))
    assert correlation(samples(studio.render(studio.Overlay(song, None, "vocals"))),
                       samples(media.synthesize_song(song.seed, SECONDS))) > 0.999


def test_a_mashup_takes_turns_between_its_sources(voice: array, band: array) -> None:
    song = studio.Song("mashup#0", SECONDS, instrumental=True)
    recipe = studio.Mashup(song, (band, voice[: SR * 5]))
    mix = samples(studio.render(recipe))
    assert len(mix) == round(SECONDS * SR)
    _, _, bpm = studio.traits(song)
    section = 16 * round(SR * 30 / bpm) / SR
    first = [correlation(mix[int(a * SR):int((a + section) * SR)], band[int(a * SR):int((a + section) * SR)])
             for a in (0.0, section)]
    assert first[0] > first[1] + 0.1  # the first source leads the first section, not the second
    split = studio.stems(recipe, media.SPLIT_STEMS)
    assert set(split) == {"drums", "bass", "percussion", "fx"}  # instrumental: no lead sung
    assert set(studio.notes(recipe)) == {"drums", "bass", "percussion"}
    sung = studio.Mashup(song._replace(instrumental=False, lyrics=LYRICS), (None, None))
    assert "vocals" in studio.stems(sung, ("vocals", "instrumental")) and studio.aligned_words(sung)


def test_replace_section_changes_only_the_section() -> None:
    source = studio.Song("source#0", 24.0, lyrics=LYRICS)
    key, minor, bpm = studio.traits(source)
    new = studio.Song("new#0", 24.0, options=SongOptions(key=key, minor=minor, bpm=bpm), lyrics="Brand new words\nhere")
    recipe = studio.Splice(source, new, 6.0, 13.0)
    mix, old = samples(studio.render(recipe)), samples(studio.render(source))
    fade = studio.CROSSFADE
    before = correlation(mix[: int((6.0 - fade) * SR)], old[: int((6.0 - fade) * SR)])
    after = correlation(mix[int((13.0 + fade) * SR):], old[int((13.0 + fade) * SR):])
    inside = correlation(mix[int(6.0 * SR):int(13.0 * SR)], old[int(6.0 * SR):int(13.0 * SR)])
    assert before > 0.999 and after > 0.999 and inside < 0.6
    stems = studio.stems(recipe, ("vocals", "instrumental"))
    total = [a + b for a, b in zip(samples(stems["vocals"]), samples(stems["instrumental"]))]
    assert max(abs(a - b) for a, b in zip(total, mix)) <= 2
    words = studio.aligned_words(recipe)
    inside_words = [w.word.strip("\n") for w in words if 6.0 <= w.start < 13.0]
    assert inside_words[:3] == ["Brand", "new", "words"]
    assert all(w.end <= 6.0 or w.start >= 6.0 for w in words)
    played = studio.notes(recipe)["vocals"]
    assert all(n.end <= 6.0 or n.start >= 6.0 for n in played)
    assert all(n.end <= 13.0 or n.start >= 13.0 for n in played)


# ----- sounds ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("prompt", ["soft rain on a roof", "laser zap", "coin pickup chime", "big drum hit",
                                    "a happy little synth"])
def test_sounds_are_short_and_loops_are_seamless(prompt: str) -> None:
    seconds = sfx.sound_seconds("fx#0", loop=True, bpm=120)
    assert seconds == pytest.approx(4.0)
    loop = samples(studio.render(studio.Sound("fx#0", prompt, seconds, True, 120, sfx.parse_key("D#m"))))
    assert len(loop) == round(seconds * SR) and rms(loop) > 500
    steps = max(abs(loop[n + 1] - loop[n]) for n in range(len(loop) - 1))
    assert abs(loop[0] - loop[-1]) <= steps
    shot = sfx.sound_seconds("fx#1", loop=False, bpm=None)
    assert 2.5 <= shot <= 6.0
    once = samples(studio.render(studio.Sound("fx#1", prompt, shot)))
    assert rms(once, shot - 0.05) < rms(once) / 4  # a one-shot fades out


def test_a_loop_without_a_tempo_is_whole_beats_at_its_own_tempo() -> None:
    for n in range(6):
        seed = f"fx-loop#{n}"
        seconds = sfx.sound_seconds(seed, loop=True, bpm=None)
        _, _, tempo = studio.traits(studio.Sound(seed, "big drum loop", seconds, True))
        beats = seconds * tempo / 60
        assert beats == pytest.approx(round(beats), abs=1e-9) and round(beats) >= 1, (seed, seconds, tempo)


def test_pitched_sounds_are_in_their_key() -> None:
    effect = sfx.synthesize_sound("fx#2", "notification chime", 3.0, key=(2, False))
    assert effect.kind == "bell" and effect.notes["fx"]
    assert {(n.pitch - 2) % 12 for n in effect.notes["fx"]} <= set(media._MAJOR)
    assert sfx.parse_key("Any") is None and sfx.parse_key("C#m") == (1, True)
    with pytest.raises(ValueError):
        sfx.parse_key("H")


# ----- lyrics on the sung notes ----------------------------------------------------------------------------


def test_words_sit_on_the_sung_phrases() -> None:
    song = studio.Song(SEED, 40.0, lyrics=LYRICS)
    words = studio.aligned_words(song)
    tokens = [token for line in LYRICS.splitlines() if not line.startswith("[") for token in line.split()]
    assert [w.word.split("\n")[-1] for w in words] == tokens
    assert words[0].word == "[Verse]\nLanterns" and words[5].word == "\nI"
    assert words[10].word == "\n[Chorus]\nShine"  # after the verse's two lines of five words
    phrases = media.lead_phrases(SEED, 40.0)
    sung = [(n.start, n.end) for phrase in phrases for n in phrase]
    for word in words:
        assert any(abs(word.start - start) < 1e-9 for start, _ in sung)  # a word starts with a note
        assert any(abs(word.end - end) < 1e-9 for _, end in sung)
        assert 0 <= word.start < word.end <= 40.0
    assert all(a.end <= b.start + 1e-9 for a, b in pairwise(words))
    assert studio.aligned_words(song._replace(instrumental=True)) == []


def test_more_words_than_notes_share_them() -> None:
    many = " ".join(f"w{n}" for n in range(60))
    words = studio.aligned_words(studio.Song(SEED, SECONDS, lyrics=many))
    phrase = next(unit for unit in media.lead_phrases(SEED, SECONDS, bars=2) if unit)
    assert len(words) == 60
    assert words[0].start == phrase[0].start and words[-1].end == pytest.approx(phrase[-1].end)


def test_long_lyrics_are_all_sung_on_a_short_song() -> None:
    lyrics = "\n".join(f"line {n} goes like this" for n in range(30))
    words = studio.aligned_words(studio.Song(SEED, 8.0, lyrics=lyrics))
    assert len(words) == 30 * 5 and words[5].word == "\nline"
    assert all(a.end <= b.start + 1e-9 for a, b in pairwise(words)) and words[-1].end <= 8.0


def test_waveform_outlines_the_track() -> None:
    outline = studio.waveform(media.synthesize_song(SEED, SECONDS), 50)
    assert len(outline) == 50 and all(0 <= x <= 1 for x in outline)
    assert max(outline) == pytest.approx(0.8, abs=0.01) and outline[0] < max(outline)


def test_boosted_styles_are_deterministic() -> None:
    text = studio.boost_style("Pop, Mysterious")
    assert text == studio.boost_style("pop,  mysterious") and text != studio.boost_style("Jazz")
    assert "pop, mysterious" in text and "BPM" in text and "minor key" in text
