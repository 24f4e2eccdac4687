"""Tests for the sandbox provider's deterministic media (bot/sandbox/media.py)."""

from __future__ import annotations

import math
import struct
import zlib
from array import array
from operator import sub

import pytest

from bot.sandbox import media
from bot.sandbox.media import (
    SPLIT_STEMS,
    cover_png,
    cover_rgb,
    synthesize_song,
    synthesize_stems,
    wav_duration,
)
from tests.bot.sandbox.audio import read_wav

FULL_SCALE = 32767
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def peak_and_rms(samples: array) -> tuple[int, float]:
    peak = max(max(samples), -min(samples))
    rms = math.sqrt(sum(x * x for x in samples) / len(samples))
    return peak, rms


def png_chunks(data: bytes) -> list[tuple[bytes, bytes, int]]:
    """(type, data, stored crc) for every chunk; asserts the layout is well formed."""
    assert data[:8] == PNG_SIGNATURE
    chunks = []
    pos = 8
    while pos < len(data):
        assert pos + 12 <= len(data), "truncated chunk"
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        tag = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        assert len(body) == length, "chunk body truncated"
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        chunks.append((tag, body, crc))
        pos += 12 + length
    assert pos == len(data)
    return chunks


def decode_png(data: bytes) -> tuple[int, int, list[bytes]]:
    chunks = png_chunks(data)
    header = next(body for tag, body, _ in chunks if tag == b"IHDR")
    width, height = struct.unpack(">II", header[:8])
    raw = zlib.decompress(b"".join(body for tag, body, _ in chunks if tag == b"IDAT"))
    stride = 1 + 3 * width
    rows = [raw[y * stride : (y + 1) * stride] for y in range(height)]
    return width, height, rows


@pytest.fixture(scope="module")
def default_song() -> bytes:
    return synthesize_song("a lofi song about rain#0")


# --------------------------------------------------------------------------
# synthesize_song / wav_duration
# --------------------------------------------------------------------------


def test_default_song_is_20s_mono_16bit_22050(default_song: bytes) -> None:
    params, samples = read_wav(default_song)
    assert default_song[:4] == b"RIFF" and default_song[8:12] == b"WAVE"
    assert params.nchannels == 1
    assert params.sampwidth == 2
    assert params.framerate == 22050
    assert params.comptype == "NONE"
    assert abs(params.nframes - 20.0 * 22050) <= 1
    assert len(samples) == params.nframes
    assert wav_duration(default_song) == pytest.approx(20.0, abs=1 / 22050)


@pytest.mark.parametrize(
    ("seconds", "sample_rate"),
    [(3.0, 22050), (2.5, 8000), (1.2345, 44100), (4.0, 48000), (0.01, 22050), (7.3, 16000)],
)
def test_frame_count_and_duration_match_request(seconds: float, sample_rate: int) -> None:
    data = synthesize_song("frames", seconds, sample_rate=sample_rate)
    params, samples = read_wav(data)
    assert params.nchannels == 1
    assert params.sampwidth == 2
    assert params.framerate == sample_rate
    assert abs(params.nframes - seconds * sample_rate) <= 1
    assert len(samples) == params.nframes
    assert wav_duration(data) == pytest.approx(params.nframes / sample_rate)
    assert abs(wav_duration(data) - seconds) <= 1 / sample_rate
    assert len(data) == 44 + 2 * params.nframes  # canonical 44-byte header + PCM


def test_same_seed_gives_identical_bytes(default_song: bytes) -> None:
    assert synthesize_song("a lofi song about rain#0") == default_song
    short = synthesize_song("x", 2.0, sample_rate=8000, instrumental=True)
    assert synthesize_song("x", 2.0, sample_rate=8000, instrumental=True) == short


def test_different_seeds_give_different_audio() -> None:
    songs = {synthesize_song(f"prompt#{i}", 3.0) for i in range(4)}
    assert len(songs) == 4


def test_instrumental_changes_the_audio() -> None:
    vocal = synthesize_song("same seed", 4.0)
    instrumental = synthesize_song("same seed", 4.0, instrumental=True)
    assert vocal != instrumental
    assert len(vocal) == len(instrumental)


@pytest.mark.parametrize("instrumental", [False, True])
@pytest.mark.parametrize("seed", ["a lofi song about rain#0", "epic rock#1", "", "ünïcødé 🎵"])
def test_audio_is_loud_enough_and_does_not_clip(seed: str, instrumental: bool) -> None:
    _, samples = read_wav(synthesize_song(seed, 6.0, instrumental=instrumental))
    peak, rms = peak_and_rms(samples)
    assert 0.30 * FULL_SCALE <= peak <= 0.95 * FULL_SCALE
    assert rms > 0.05 * FULL_SCALE
    # Music, not noise: white noise crosses zero about every other sample.
    crossings = sum(1 for a, b in zip(samples, samples[1:]) if (a < 0) != (b < 0))
    assert crossings / len(samples) < 0.15


def test_default_song_levels(default_song: bytes) -> None:
    _, samples = read_wav(default_song)
    peak, rms = peak_and_rms(samples)
    assert 0.30 * FULL_SCALE <= peak <= 0.95 * FULL_SCALE
    assert rms > 0.05 * FULL_SCALE


def test_fades_in_and_out(default_song: bytes) -> None:
    _, samples = read_wav(default_song)
    assert abs(samples[0]) < 200 and abs(samples[-1]) < 200
    head = max(abs(x) for x in samples[:50])
    middle = max(abs(x) for x in samples[len(samples) // 2 : len(samples) // 2 + 22050])
    tail = max(abs(x) for x in samples[-50:])
    assert head < middle / 10 and tail < middle / 10


def test_long_song_repeats_its_loop_but_stays_valid() -> None:
    # Longer than one full A-B-A-C cycle at any tempo, so the periodic path is used.
    data = synthesize_song("long one", 60.0, sample_rate=8000)
    params, samples = read_wav(data)
    assert params.nframes == 60 * 8000
    assert wav_duration(data) == pytest.approx(60.0)
    peak, rms = peak_and_rms(samples)
    assert 0.30 * FULL_SCALE <= peak <= 0.95 * FULL_SCALE
    assert rms > 0.05 * FULL_SCALE
    assert abs(samples[0]) < 200 and abs(samples[-1]) < 200
    assert synthesize_song("long one", 60.0, sample_rate=8000) == data


def test_wav_duration_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        wav_duration(b"definitely not a wav file")
    with pytest.raises(ValueError):
        wav_duration(b"")


@pytest.mark.parametrize("seconds", [0, -1, 0.0, -0.5, 600.01, 1e9, float("nan"), float("inf"), "20", None])
def test_invalid_seconds_raise_value_error(seconds: object) -> None:
    with pytest.raises(ValueError, match="seconds"):
        synthesize_song("seed", seconds)  # type: ignore[arg-type]


def test_maximum_seconds_is_accepted_by_validation() -> None:
    # 600 s is allowed; use the lowest sample rate to keep the test quick.
    data = synthesize_song("max", 600, sample_rate=8000)
    assert wav_duration(data) == pytest.approx(600.0)


@pytest.mark.parametrize("sample_rate", [0, -22050, 7999, 48001, 22050.0, True])
def test_invalid_sample_rate_raises_value_error(sample_rate: object) -> None:
    with pytest.raises(ValueError, match="sample_rate"):
        synthesize_song("seed", 1.0, sample_rate=sample_rate)  # type: ignore[arg-type]


# --------------------------------------------------------------------------
# synthesize_stems
# --------------------------------------------------------------------------

STEMS_SEED = "stems: a lofi song about rain#0"
STEMS_SECONDS = 3.0
STEMS_RATE = 11025
VOCAL_SONG_STEMS = {"vocals", "drums", "bass", "percussion", "strings"}
INSTRUMENTAL_SONG_STEMS = {"synth", "drums", "bass", "percussion", "strings"}


@pytest.fixture(scope="module", params=[False, True], ids=["vocal", "instrumental"])
def song_and_stems(request: pytest.FixtureRequest) -> tuple[bool, bytes, dict[str, bytes]]:
    """A short song and all of its stems (both separations at once)."""
    instrumental = request.param
    song = synthesize_song(STEMS_SEED, STEMS_SECONDS, sample_rate=STEMS_RATE, instrumental=instrumental)
    stems = synthesize_stems(
        STEMS_SEED,
        STEMS_SECONDS,
        ("instrumental", *SPLIT_STEMS),
        sample_rate=STEMS_RATE,
        instrumental=instrumental,
    )
    return instrumental, song, stems


def max_difference(song: array, parts: list[array]) -> int:
    """Largest per-sample difference between ``song`` and the sum of ``parts``."""
    return max(map(abs, map(sub, map(sum, zip(*parts)), song)))


def test_split_stems_constant() -> None:
    assert SPLIT_STEMS == (
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


def test_stems_are_wavs_as_long_as_the_song(song_and_stems: tuple[bool, bytes, dict[str, bytes]]) -> None:
    _, song, stems = song_and_stems
    song_params, _ = read_wav(song)
    assert stems, "a song has stems"
    for name, data in stems.items():
        params, samples = read_wav(data)
        assert data[:4] == b"RIFF" and data[8:12] == b"WAVE", name
        assert (params.nchannels, params.sampwidth, params.framerate) == (1, 2, STEMS_RATE), name
        assert params.nframes == song_params.nframes, name
        assert len(samples) == params.nframes, name
        assert len(data) == len(song), name
        assert wav_duration(data) == wav_duration(song)


def test_which_stems_exist(song_and_stems: tuple[bool, bytes, dict[str, bytes]]) -> None:
    instrumental, _, stems = song_and_stems
    expected = INSTRUMENTAL_SONG_STEMS if instrumental else VOCAL_SONG_STEMS
    assert set(stems) == expected | {"instrumental"}
    # The result follows the order asked for.
    assert list(stems) == [name for name in ("instrumental", *SPLIT_STEMS) if name in stems]
    for name, data in stems.items():
        peak, _ = peak_and_rms(read_wav(data)[1])
        assert peak > 0.02 * FULL_SCALE, f"{name} is (nearly) silent"
    assert len(set(stems.values())) == len(stems)


def test_vocals_plus_instrumental_is_the_song(song_and_stems: tuple[bool, bytes, dict[str, bytes]]) -> None:
    instrumental, song, stems = song_and_stems
    _, mix = read_wav(song)
    _, accompaniment = read_wav(stems["instrumental"])
    if instrumental:
        # Nothing is sung: the instrumental part is the whole song, byte for byte.
        assert "vocals" not in stems
        assert stems["instrumental"] == song
        return
    _, vocals = read_wav(stems["vocals"])
    assert max_difference(mix, [vocals, accompaniment]) <= 2
    # ... and that is a real split, not one part holding everything.
    assert max_difference(mix, [accompaniment]) > 0.1 * FULL_SCALE
    assert max_difference(mix, [vocals]) > 0.1 * FULL_SCALE


def test_split_stems_add_up_to_the_song(song_and_stems: tuple[bool, bytes, dict[str, bytes]]) -> None:
    _, song, stems = song_and_stems
    _, mix = read_wav(song)
    parts = [read_wav(data)[1] for name, data in stems.items() if name != "instrumental"]
    assert max_difference(mix, parts) <= 4
    # Leaving any one part out makes a clear difference.
    for i in range(len(parts)):
        assert max_difference(mix, parts[:i] + parts[i + 1 :]) > 100


def test_stems_add_up_over_a_long_song() -> None:
    # Several passes through the loop and every melody phrase, at a low rate to stay quick.
    seconds, rate = 21.0, 8000
    _, mix = read_wav(synthesize_song("long stems", seconds, sample_rate=rate))
    stems = synthesize_stems("long stems", seconds, ("instrumental", *SPLIT_STEMS), sample_rate=rate)
    samples = {name: read_wav(data)[1] for name, data in stems.items()}
    assert set(samples) == VOCAL_SONG_STEMS | {"instrumental"}
    assert all(len(part) == len(mix) == seconds * rate for part in samples.values())
    assert max_difference(mix, [samples["vocals"], samples["instrumental"]]) <= 2
    assert max_difference(mix, [part for name, part in samples.items() if name != "instrumental"]) <= 4


def test_instrumental_song_has_no_vocals() -> None:
    stems = synthesize_stems("no voice", 2.0, sample_rate=8000, instrumental=True)
    assert list(stems) == ["instrumental"]
    assert stems["instrumental"] == synthesize_song("no voice", 2.0, sample_rate=8000, instrumental=True)
    assert synthesize_stems("no voice", 2.0, ("vocals",), sample_rate=8000, instrumental=True) == {}


def test_default_stems_are_the_vocal_separation() -> None:
    stems = synthesize_stems("two stems", 2.0, sample_rate=8000)
    assert list(stems) == ["vocals", "instrumental"]


def test_absent_stems_are_left_out_and_order_is_kept() -> None:
    asked = ("guitar", "bass", "fx", "drums", "bass", "backing_vocals")
    stems = synthesize_stems("subset", 2.0, asked, sample_rate=8000)
    assert list(stems) == ["bass", "drums"]
    assert synthesize_stems("subset", 2.0, (), sample_rate=8000) == {}


def test_stems_are_deterministic_and_seed_dependent() -> None:
    first = synthesize_stems("same stems", 2.0, SPLIT_STEMS, sample_rate=8000)
    assert synthesize_stems("same stems", 2.0, SPLIT_STEMS, sample_rate=8000) == first
    other = synthesize_stems("other stems", 2.0, SPLIT_STEMS, sample_rate=8000)
    assert set(other) == set(first)
    assert all(other[name] != first[name] for name in first)


@pytest.mark.parametrize("stem", ["Vocals", "lead", "", "guitars", "instrumentals"])
def test_unknown_stem_raises_value_error(stem: str) -> None:
    with pytest.raises(ValueError, match="stem"):
        synthesize_stems("seed", 1.0, ("vocals", stem))


@pytest.mark.parametrize("stems", ["vocals", None, 3])
def test_stems_must_be_a_sequence_of_names(stems: object) -> None:
    with pytest.raises(TypeError):
        synthesize_stems("seed", 1.0, stems)  # type: ignore[arg-type]


def test_stems_validate_the_song_arguments() -> None:
    with pytest.raises(ValueError, match="seconds"):
        synthesize_stems("seed", 0)
    with pytest.raises(ValueError, match="sample_rate"):
        synthesize_stems("seed", 1.0, sample_rate=7999)
    with pytest.raises(TypeError):
        synthesize_stems(b"seed", 1.0)  # type: ignore[arg-type]


def test_pcm_conversion_clamps_out_of_range_samples() -> None:
    # A stem could in principle peak above the mix it is part of; it is clamped, not an error.
    assert media._to_pcm(iter([40000.0, -40000.0, 1.4, -2.6]), True).tolist() == [32767, -32768, 1, -3]
    assert media._to_pcm(iter([1.9, -1.9]), False).tolist() == [1, -1]


# --------------------------------------------------------------------------
# cover_png / cover_rgb
# --------------------------------------------------------------------------


@pytest.mark.parametrize("size", [16, 100, 512])
def test_cover_is_a_valid_rgb_png(size: int) -> None:
    data = cover_png("a lofi song about rain#0", size)
    assert data.startswith(PNG_SIGNATURE)
    chunks = png_chunks(data)
    for tag, body, crc in chunks:
        assert zlib.crc32(tag + body) & 0xFFFFFFFF == crc, f"bad CRC in {tag!r}"
    tags = [tag for tag, _, _ in chunks]
    assert tags[0] == b"IHDR" and tags[-1] == b"IEND" and b"IDAT" in tags
    header = chunks[0][1]
    assert len(header) == 13
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", header)
    assert (width, height) == (size, size)
    assert (depth, colour, compression, filtering, interlace) == (8, 2, 0, 0, 0)
    raw = zlib.decompress(b"".join(body for tag, body, _ in chunks if tag == b"IDAT"))
    assert len(raw) == height * (1 + 3 * width)
    assert all(raw[y * (1 + 3 * width)] <= 4 for y in range(height))  # valid filter bytes


@pytest.mark.parametrize("seed", ["a lofi song about rain#0", "x#1", "", "ünïcødé 🎵"])
def test_cover_is_not_a_flat_colour(seed: str) -> None:
    width, height, rows = decode_png(cover_png(seed, 128))
    assert all(row[0] == 0 for row in rows)  # written unfiltered, so pixels can be read directly
    pixels = {row[1 + 3 * x : 4 + 3 * x] for row in rows for x in range(width)}
    assert len(pixels) > 20
    # and it varies in both directions
    assert rows[0][1:] != rows[-1][1:]
    assert rows[height // 2][1:4] != rows[height // 2][-3:]


def test_cover_is_deterministic_and_seed_dependent() -> None:
    assert cover_png("seed one") == cover_png("seed one")
    assert cover_png("seed one", 64) == cover_png("seed one", 64)
    assert len({cover_png(f"seed {i}", 64) for i in range(5)}) == 5


def test_cover_default_size_is_512() -> None:
    width, height, _ = decode_png(cover_png("default"))
    assert (width, height) == (512, 512)


@pytest.mark.parametrize("size", [0, 15, -512, 2049, 10_000, 512.0, "512", None, True])
def test_invalid_cover_size_raises_value_error(size: object) -> None:
    with pytest.raises(ValueError, match="size"):
        cover_png("seed", size)  # type: ignore[arg-type]


def test_largest_cover_size_is_accepted() -> None:
    width, height, rows = decode_png(cover_png("big", 2048))
    assert (width, height) == (2048, 2048)
    assert len(rows) == 2048


def test_seed_must_be_a_string() -> None:
    with pytest.raises(TypeError):
        synthesize_song(123, 1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        cover_png(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        cover_rgb(b"bytes")  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [16, 100, 128])
def test_cover_rgb_is_size_squared_rgb(size: int) -> None:
    assert len(cover_rgb("a lofi song about rain#0", size)) == size * size * 3


@pytest.mark.parametrize(
    ("seed", "size"), [("a lofi song about rain#0", 64), ("x#1", 100), ("", 16), ("ünïcødé 🎵", 128)]
)
def test_cover_png_pixels_are_cover_rgb(seed: str, size: int) -> None:
    width, height, rows = decode_png(cover_png(seed, size))
    assert (width, height) == (size, size)
    assert all(row[0] == 0 for row in rows)  # unfiltered rows
    assert b"".join(row[1:] for row in rows) == cover_rgb(seed, size)


def test_cover_rgb_default_size_matches_png() -> None:
    _, _, rows = decode_png(cover_png("default"))
    assert b"".join(row[1:] for row in rows) == cover_rgb("default")


def test_cover_rgb_is_deterministic_and_seed_dependent() -> None:
    assert cover_rgb("seed one", 32) == cover_rgb("seed one", 32)
    assert cover_rgb("seed one", 32) != cover_rgb("seed two", 32)


@pytest.mark.parametrize("size", [0, 15, 2049, 512.0, "512", None, True])
def test_invalid_cover_rgb_size_raises_value_error(size: object) -> None:
    with pytest.raises(ValueError, match="size"):
        cover_rgb("seed", size)  # type: ignore[arg-type]
