"""Tests for the sandbox provider's still-image music video writer (bot/sandbox/video.py).

The file is checked by re-parsing it independently: the ISO BMFF box tree, the sample tables, the H.264
parameter sets and slices (including the I_PCM samples of the first picture) and every FLAC frame.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import random
import struct
import wave
from array import array

import pytest

from bot.sandbox import video as video_module
from bot.sandbox.video import FLAC_BLOCK_SIZE, still_video

# --------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------


def make_wav(seconds: float, sample_rate: int = 22050, channels: int = 1, *, seed: int = 1, width: int = 2) -> bytes:
    rng = random.Random(seed)
    frames = round(seconds * sample_rate)
    if width == 2:
        samples = array("h", (rng.randrange(-32768, 32768) for _ in range(frames * channels)))
        if samples.itemsize != 2:  # pragma: no cover - exotic platforms
            raise RuntimeError("array('h') is not 16-bit")
        if struct.pack("=h", 1) != struct.pack("<h", 1):  # pragma: no cover - big-endian hosts
            samples.byteswap()
        data = samples.tobytes()
    else:
        data = bytes(rng.randrange(256) for _ in range(frames * channels * width))
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(width)
        wav.setframerate(sample_rate)
        wav.writeframes(data)
    return out.getvalue()


def wav_samples(data: bytes) -> tuple[int, int, list[int]]:
    """(channels, sample_rate, interleaved samples) of a 16-bit WAV."""
    with wave.open(io.BytesIO(data), "rb") as wav:
        channels, rate = wav.getnchannels(), wav.getframerate()
        pcm = wav.readframes(wav.getnframes())
    return channels, rate, list(struct.unpack(f"<{len(pcm) // 2}h", pcm))


def make_rgb(width: int, height: int, *, seed: int = 7) -> bytes:
    """Gradients, a hard-edged square and some noise: every colour component gets exercised."""
    rng = random.Random(seed)
    out = bytearray()
    for y in range(height):
        for x in range(width):
            if width // 4 <= x < width // 2 and height // 4 <= y < height // 2:
                out += bytes((250, 10, 40))
            elif (x + y) % 7 == 0:
                out += bytes(rng.randrange(256) for _ in range(3))
            else:
                out += bytes((x * 255 // max(1, width - 1), y * 255 // max(1, height - 1), (x * y) % 256))
    return bytes(out)


# --------------------------------------------------------------------------
# ISO BMFF parsing
# --------------------------------------------------------------------------

CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"dinf", b"edts"}


class Box:
    def __init__(self, kind: bytes, start: int, size: int, header: int, data: bytes) -> None:
        self.kind, self.start, self.size, self.header = kind, start, size, header
        self.payload = data[start + header : start + size]
        self.payload_start = start + header
        self.children: list[Box] = parse_boxes(data, start + header, start + size) if kind in CONTAINERS else []

    def find(self, *path: bytes) -> Box:
        found = self.find_all(*path)
        assert len(found) == 1, (path, len(found))
        return found[0]

    def find_all(self, *path: bytes) -> list[Box]:
        level = [self]
        for kind in path:
            level = [c for b in level for c in b.children if c.kind == kind]
        return level


def parse_boxes(data: bytes, start: int, end: int) -> list[Box]:
    boxes = []
    pos = start
    while pos < end:
        assert end - pos >= 8, "truncated box header"
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        header = 8
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
            header = 16
        elif size == 0:
            size = end - pos
        assert size >= header and pos + size <= end, (kind, size)
        boxes.append(Box(kind, pos, size, header, data))
        pos += size
    assert pos == end
    return boxes


def full_box(box: Box) -> tuple[int, int, bytes]:
    version_flags = struct.unpack(">I", box.payload[:4])[0]
    return version_flags >> 24, version_flags & 0xFFFFFF, box.payload[4:]


class Track:
    def __init__(self, trak: Box) -> None:
        self.trak = trak
        stbl = trak.find(b"mdia", b"minf", b"stbl")
        _, _, hdlr = full_box(trak.find(b"mdia", b"hdlr"))
        self.handler = hdlr[4:8]
        version, _, mdhd = full_box(trak.find(b"mdia", b"mdhd"))
        assert version == 0
        self.timescale, self.duration = struct.unpack(">II", mdhd[8:16])
        version, flags, tkhd = full_box(trak.find(b"tkhd"))
        assert version == 0 and flags & 1, "track must be enabled"
        self.track_id, _, self.movie_duration = struct.unpack(">III", tkhd[8:20])
        self.tkhd_width, self.tkhd_height = (v >> 16 for v in struct.unpack(">II", tkhd[72:80]))

        _, _, stsd = full_box(stbl.find(b"stsd"))
        assert struct.unpack(">I", stsd[:4])[0] == 1
        self.entry = parse_boxes(stsd, 4, len(stsd))[0]
        self.entry_bytes = stsd

        _, _, stts = full_box(stbl.find(b"stts"))
        (count,) = struct.unpack(">I", stts[:4])
        self.durations = []
        for i in range(count):
            n, delta = struct.unpack(">II", stts[4 + 8 * i : 12 + 8 * i])
            self.durations += [delta] * n

        _, _, stsz = full_box(stbl.find(b"stsz"))
        size, count = struct.unpack(">II", stsz[:8])
        self.sizes = [size] * count if size else list(struct.unpack(f">{count}I", stsz[8 : 8 + 4 * count]))

        _, _, stco = full_box(stbl.find(b"stco"))
        (count,) = struct.unpack(">I", stco[:4])
        chunk_offsets = struct.unpack(f">{count}I", stco[4 : 4 + 4 * count])

        _, _, stsc = full_box(stbl.find(b"stsc"))
        (count,) = struct.unpack(">I", stsc[:4])
        runs = [struct.unpack(">III", stsc[4 + 12 * i : 16 + 12 * i]) for i in range(count)]
        assert runs and runs[0][0] == 1
        per_chunk = []
        for i, (first, n, description) in enumerate(runs):
            assert description == 1
            last = runs[i + 1][0] - 1 if i + 1 < len(runs) else len(chunk_offsets)
            per_chunk += [n] * (last - first + 1)
        assert len(per_chunk) == len(chunk_offsets)
        self.chunk_offsets = chunk_offsets
        self.offsets = []
        for offset, n in zip(chunk_offsets, per_chunk):
            for _ in range(n):
                self.offsets.append(offset)
                offset += self.sizes[len(self.offsets) - 1]
        assert len(self.offsets) == len(self.sizes) == len(self.durations)

        stss = stbl.find_all(b"stss")
        if stss:
            _, _, body = full_box(stss[0])
            (count,) = struct.unpack(">I", body[:4])
            self.sync = list(struct.unpack(f">{count}I", body[4 : 4 + 4 * count]))
        else:
            self.sync = None

    def samples(self, data: bytes) -> list[bytes]:
        return [data[o : o + s] for o, s in zip(self.offsets, self.sizes)]


class Movie:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.boxes = parse_boxes(data, 0, len(data))
        self.moov = next(b for b in self.boxes if b.kind == b"moov")
        self.mdat = next(b for b in self.boxes if b.kind == b"mdat")
        version, _, mvhd = full_box(self.moov.find(b"mvhd"))
        assert version == 0
        self.timescale, self.duration = struct.unpack(">II", mvhd[8:16])
        self.next_track_id = struct.unpack(">I", mvhd[-4:])[0]
        self.tracks = [Track(t) for t in self.moov.find_all(b"trak")]
        self.video = next(t for t in self.tracks if t.handler == b"vide")
        self.audio = next(t for t in self.tracks if t.handler == b"soun")


# --------------------------------------------------------------------------
# H.264 parsing
# --------------------------------------------------------------------------


def unescape(payload: bytes) -> bytes:
    """NAL payload -> RBSP (drop emulation_prevention_three_byte)."""
    out = bytearray()
    zeros = 0
    for byte in payload:
        if zeros >= 2 and byte == 3:
            zeros = 0
            continue
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def assert_no_start_code_emulation(payload: bytes) -> None:
    """00 00 00/01/02 must never occur, and 00 00 03 is always an escape (so a byte <= 03 follows it)."""
    for i in range(len(payload) - 2):
        if payload[i] == 0 and payload[i + 1] == 0:
            assert payload[i + 2] >= 3, f"unescaped 00 00 {payload[i + 2]:02x} at {i}"
            if payload[i + 2] == 3 and i + 3 < len(payload):
                assert payload[i + 3] <= 3, f"00 00 03 {payload[i + 3]:02x} at {i} is not an escape"


class BitReader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def u(self, n: int) -> int:
        value = 0
        for _ in range(n):
            value = (value << 1) | ((self.data[self.pos >> 3] >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return value

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k % 2 else -(k // 2)

    def align(self) -> None:
        while self.pos % 8:
            assert self.u(1) == 0, "alignment bits must be zero"

    def trailing(self) -> None:
        assert self.u(1) == 1, "rbsp_stop_one_bit"
        self.align()
        assert self.pos == 8 * len(self.data), "data after rbsp_trailing_bits"


def nal_units(sample: bytes) -> list[bytes]:
    units, pos = [], 0
    while pos < len(sample):
        (length,) = struct.unpack(">I", sample[pos : pos + 4])
        units.append(sample[pos + 4 : pos + 4 + length])
        pos += 4 + length
    assert pos == len(sample)
    return units


def parse_sps(nal: bytes) -> dict:
    assert nal[0] & 0x1F == 7
    r = BitReader(unescape(nal[1:]))
    sps = {"profile_idc": r.u(8), "constraints": r.u(8), "level_idc": r.u(8), "sps_id": r.ue()}
    assert sps["profile_idc"] == 66  # no chroma_format_idc etc. for Baseline
    sps["log2_max_frame_num"] = r.ue() + 4
    sps["poc_type"] = r.ue()
    assert sps["poc_type"] == 2
    sps["max_num_ref_frames"] = r.ue()
    sps["gaps"] = r.u(1)
    sps["mb_width"] = r.ue() + 1
    sps["mb_height"] = r.ue() + 1
    sps["frame_mbs_only"] = r.u(1)
    sps["direct_8x8"] = r.u(1)
    sps["cropping"] = r.u(1)
    assert sps["frame_mbs_only"] == 1 and sps["cropping"] == 0
    if r.u(1):  # VUI
        assert r.u(1) == 0 and r.u(1) == 0  # aspect ratio, overscan
        if r.u(1):
            r.u(3)
            sps["full_range"] = r.u(1)
            if r.u(1):
                sps["colour"] = (r.u(8), r.u(8), r.u(8))
        assert r.u(1) == 0  # chroma loc
        if r.u(1):
            sps["num_units_in_tick"], sps["time_scale"], sps["fixed_rate"] = r.u(32), r.u(32), r.u(1)
        assert r.u(1) == 0 and r.u(1) == 0  # no HRD
        r.u(1)  # pic_struct_present_flag
        if r.u(1):
            r.u(1)
            for _ in range(4):
                r.ue()
            sps["max_num_reorder_frames"], sps["max_dec_frame_buffering"] = r.ue(), r.ue()
    r.trailing()
    return sps


def parse_pps(nal: bytes) -> dict:
    assert nal[0] & 0x1F == 8
    r = BitReader(unescape(nal[1:]))
    pps = {"pps_id": r.ue(), "sps_id": r.ue(), "cabac": r.u(1), "bottom_field_poc": r.u(1), "slice_groups": r.ue() + 1}
    pps["num_ref_idx_l0"] = r.ue() + 1
    r.ue()
    pps["weighted"] = (r.u(1), r.u(2))
    pps["qp"] = r.se() + 26
    r.se()
    r.se()
    pps["deblocking_control"] = r.u(1)
    pps["constrained_intra"] = r.u(1)
    pps["redundant_pic_cnt"] = r.u(1)
    r.trailing()
    return pps


def parse_slice_header(r: BitReader, nal_type: int, nal_ref_idc: int, sps: dict) -> dict:
    header = {"first_mb": r.ue(), "slice_type": r.ue(), "pps_id": r.ue()}
    header["frame_num"] = r.u(sps["log2_max_frame_num"])
    if nal_type == 5:
        header["idr_pic_id"] = r.ue()
    if header["slice_type"] % 5 == 0:  # P
        assert r.u(1) == 0  # num_ref_idx_active_override_flag
        assert r.u(1) == 0  # ref_pic_list_modification_flag_l0
    if nal_ref_idc:
        if nal_type == 5:
            r.u(1)
            assert r.u(1) == 0
        else:
            assert r.u(1) == 0
    header["qp_delta"] = r.se()
    header["deblocking"] = r.ue()
    if header["deblocking"] != 1:
        r.se()
        r.se()
    return header


def decode_idr(nal: bytes, sps: dict) -> tuple[bytes, bytes, bytes]:
    """Y, Cb, Cr planes of an IDR picture made of I_PCM macroblocks."""
    assert nal[0] & 0x1F == 5 and nal[0] >> 5 != 0
    assert_no_start_code_emulation(nal[1:])
    rbsp = unescape(nal[1:])
    r = BitReader(rbsp)
    header = parse_slice_header(r, 5, nal[0] >> 5, sps)
    assert header["first_mb"] == 0 and header["slice_type"] % 5 == 2 and header["frame_num"] == 0
    mbw, mbh = sps["mb_width"], sps["mb_height"]
    width, height = 16 * mbw, 16 * mbh
    luma = bytearray(width * height)
    cb = bytearray(width * height // 4)
    cr = bytearray(width * height // 4)
    for mb in range(mbw * mbh):
        assert r.ue() == 25, "mb_type must be I_PCM"
        r.align()
        pos = r.pos // 8
        block = rbsp[pos : pos + 384]
        r.pos += 384 * 8
        mx, my = mb % mbw, mb // mbw
        for j in range(16):
            row = (16 * my + j) * width + 16 * mx
            luma[row : row + 16] = block[16 * j : 16 * j + 16]
        for j in range(8):
            row = (8 * my + j) * (width // 2) + 8 * mx
            cb[row : row + 8] = block[256 + 8 * j : 256 + 8 * j + 8]
            cr[row : row + 8] = block[320 + 8 * j : 320 + 8 * j + 8]
    r.trailing()
    return bytes(luma), bytes(cb), bytes(cr)


def reference_ycbcr(rgb: bytes, width: int, height: int) -> tuple[bytes, bytes, bytes]:
    """Straightforward per-pixel BT.601 limited-range conversion, chroma from 2x2 averages."""

    def px(x: int, y: int) -> tuple[int, int, int]:
        i = 3 * (y * width + x)
        return rgb[i], rgb[i + 1], rgb[i + 2]

    luma = bytes(
        ((66 * r + 129 * g + 25 * b + 128) >> 8) + 16 for y in range(height) for x in range(width) for r, g, b in [px(x, y)]
    )
    cb, cr = bytearray(), bytearray()
    for y in range(0, height, 2):
        for x in range(0, width, 2):
            quad = [px(x, y), px(x + 1, y), px(x, y + 1), px(x + 1, y + 1)]
            r, g, b = (sum(p[c] for p in quad) / 4 for c in range(3))
            # Integer form of 128 + (-0.148 R - 0.291 G + 0.439 B), 8 fractional bits.
            cb.append(math.floor((-38 * r - 74 * g + 112 * b + 128) / 256) + 128)
            cr.append(math.floor((112 * r - 94 * g - 18 * b + 128) / 256) + 128)
    return luma, bytes(cb), bytes(cr)


# --------------------------------------------------------------------------
# FLAC parsing
# --------------------------------------------------------------------------


def crc8_bitwise(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def crc16_bitwise(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def read_utf8_number(data: bytes, pos: int) -> tuple[int, int]:
    first = data[pos]
    if first < 0x80:
        return first, pos + 1
    length = 8 - (first ^ 0xFF).bit_length()  # number of leading one bits
    assert 2 <= length <= 7
    value = first & (0x7F >> length)
    for i in range(1, length):
        assert data[pos + i] & 0xC0 == 0x80
        value = (value << 6) | (data[pos + i] & 0x3F)
    return value, pos + length


BLOCK_SIZES = {1: 192, 2: 576, 3: 1152, 4: 2304, 5: 4608, **{8 + k: 256 << k for k in range(8)}}
SAMPLE_RATES = {1: 88200, 2: 176400, 3: 192000, 4: 8000, 5: 16000, 6: 22050, 7: 24000, 8: 32000, 9: 44100, 10: 48000, 11: 96000}


def parse_flac_frame(frame: bytes, streaminfo_rate: int) -> dict:
    """Header fields and per-channel samples of a FLAC frame with VERBATIM 16-bit subframes."""
    assert frame[0] == 0xFF and frame[1] == 0xF8, "sync code + fixed-blocksize strategy"
    bs_code, sr_code = frame[2] >> 4, frame[2] & 0x0F
    channel_code, size_code, reserved = frame[3] >> 4, (frame[3] >> 1) & 7, frame[3] & 1
    assert channel_code in (0, 1) and size_code == 4 and reserved == 0
    number, pos = read_utf8_number(frame, 4)
    if bs_code == 6:
        block = frame[pos] + 1
        pos += 1
    elif bs_code == 7:
        block = struct.unpack(">H", frame[pos : pos + 2])[0] + 1
        pos += 2
    else:
        block = BLOCK_SIZES[bs_code]
    if sr_code == 0:
        rate = streaminfo_rate
    elif sr_code == 12:
        rate = frame[pos] * 1000
        pos += 1
    elif sr_code in (13, 14):
        rate = struct.unpack(">H", frame[pos : pos + 2])[0] * (10 if sr_code == 14 else 1)
        pos += 2
    else:
        rate = SAMPLE_RATES[sr_code]
    assert frame[pos] == crc8_bitwise(frame[:pos]), "CRC-8 of the frame header"
    pos += 1
    channels = []
    for _ in range(channel_code + 1):
        assert frame[pos] == 0x02, "VERBATIM subframe without wasted bits"
        pos += 1
        channels.append(list(struct.unpack(f">{block}h", frame[pos : pos + 2 * block])))
        pos += 2 * block
    assert len(frame) == pos + 2
    assert struct.unpack(">H", frame[pos:])[0] == crc16_bitwise(frame[:pos]), "CRC-16 of the frame"
    return {"number": number, "block": block, "rate": rate, "channels": channels}


def parse_streaminfo(dfla: bytes) -> dict:
    version, flags, body = dfla[0], dfla[1:4], dfla[4:]
    assert version == 0 and flags == b"\x00\x00\x00"
    assert body[0] == 0x80, "one metadata block, STREAMINFO, marked last"
    assert int.from_bytes(body[1:4], "big") == 34 and len(body) == 38
    info = body[4:]
    packed = int.from_bytes(info[10:18], "big")
    return {
        "min_block": struct.unpack(">H", info[0:2])[0],
        "max_block": struct.unpack(">H", info[2:4])[0],
        "min_frame": int.from_bytes(info[4:7], "big"),
        "max_frame": int.from_bytes(info[7:10], "big"),
        "rate": packed >> 44,
        "channels": ((packed >> 41) & 7) + 1,
        "bits": ((packed >> 36) & 31) + 1,
        "total": packed & ((1 << 36) - 1),
        "md5": info[18:34],
    }


# --------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------

RGB_32 = make_rgb(32, 32)
WAV_MONO = make_wav(2.3, 22050, 1)  # not a whole number of seconds, nor of FLAC blocks


@pytest.fixture(scope="module")
def mono_movie() -> Movie:
    return Movie(still_video(RGB_32, 32, 32, WAV_MONO))


# --------------------------------------------------------------------------
# container
# --------------------------------------------------------------------------


def test_top_level_layout_is_ftyp_moov_mdat(mono_movie: Movie) -> None:
    kinds = [b.kind for b in mono_movie.boxes]
    assert kinds == [b"ftyp", b"moov", b"mdat"]  # fast start: moov before mdat
    ftyp = mono_movie.boxes[0].payload
    assert ftyp[:4] == b"isom"
    brands = {ftyp[i : i + 4] for i in range(8, len(ftyp), 4)}
    assert {b"isom", b"iso2", b"avc1", b"mp41"} <= brands
    assert sum(b.size for b in mono_movie.boxes) == len(mono_movie.data)


def test_two_tracks_with_consistent_headers(mono_movie: Movie) -> None:
    movie = mono_movie
    assert len(movie.tracks) == 2
    assert sorted(t.track_id for t in movie.tracks) == [1, 2]
    assert movie.next_track_id == 3
    assert {t.handler for t in movie.tracks} == {b"vide", b"soun"}
    assert movie.video.trak.find_all(b"mdia", b"minf", b"vmhd")
    assert movie.audio.trak.find_all(b"mdia", b"minf", b"smhd")
    assert (movie.video.tkhd_width, movie.video.tkhd_height) == (32, 32)
    assert (movie.audio.tkhd_width, movie.audio.tkhd_height) == (0, 0)
    for track in movie.tracks:
        assert sum(track.durations) == track.duration
        # tkhd duration is the media duration in the movie timescale (rounded up)
        assert track.movie_duration == math.ceil(track.duration * movie.timescale / track.timescale)
    assert movie.duration == max(t.movie_duration for t in movie.tracks)


def test_durations_match_the_wav_and_fps(mono_movie: Movie) -> None:
    movie = mono_movie
    channels, rate, samples = wav_samples(WAV_MONO)
    frames = len(samples) // channels
    audio_seconds = frames / rate
    assert movie.audio.timescale == rate
    assert movie.audio.duration == frames
    assert movie.audio.durations == [FLAC_BLOCK_SIZE] * (frames // FLAC_BLOCK_SIZE) + [frames % FLAC_BLOCK_SIZE]
    video = movie.video
    assert len(video.sizes) == math.ceil(audio_seconds * 1) == 3
    assert len(set(video.durations)) == 1
    assert video.duration / video.timescale == len(video.sizes)  # 1 fps
    assert audio_seconds <= video.duration / video.timescale < audio_seconds + 1
    assert video.sync == [1]


@pytest.mark.parametrize("fps", [2, 5, 30])
def test_frame_count_covers_the_audio_at_any_fps(fps: int) -> None:
    wav = make_wav(1.25, 8000, 1)
    movie = Movie(still_video(make_rgb(16, 16), 16, 16, wav, fps=fps))
    frames = math.ceil(1.25 * fps)
    assert len(movie.video.sizes) == frames
    assert movie.video.duration / movie.video.timescale == pytest.approx(frames / fps)
    assert movie.video.duration * movie.audio.timescale >= movie.audio.duration * movie.video.timescale
    sps = parse_sps(parse_avcc(movie.video)[0])
    assert sps["time_scale"] == 2 * fps * sps["num_units_in_tick"]


def test_sample_offsets_point_inside_mdat_and_tile_it(mono_movie: Movie) -> None:
    movie = mono_movie
    mdat = movie.mdat
    spans = []
    for track in movie.tracks:
        for offset, size in zip(track.offsets, track.sizes):
            assert mdat.payload_start <= offset and offset + size <= mdat.start + mdat.size
            spans.append((offset, size))
    spans.sort()
    position = mdat.payload_start
    for offset, size in spans:
        assert offset == position, "samples must not overlap or leave gaps"
        position += size
    assert position == mdat.start + mdat.size
    # the first chunk of each track starts with that track's first sample
    assert movie.data[movie.video.chunk_offsets[0] + 4] & 0x1F == 5  # after the 4-byte NAL length: IDR
    assert movie.data[movie.audio.chunk_offsets[0] : movie.audio.chunk_offsets[0] + 2] == b"\xff\xf8"
    # interleaved: the audio does not all come after the video
    assert min(movie.audio.offsets) < max(movie.video.offsets)


# --------------------------------------------------------------------------
# H.264
# --------------------------------------------------------------------------


def parse_avcc(track: Track) -> tuple[bytes, bytes]:
    entry = track.entry
    assert entry.kind == b"avc1"
    body = entry.payload
    assert struct.unpack(">H", body[6:8])[0] == 1  # data_reference_index
    assert struct.unpack(">HH", body[24:28]) == (track.tkhd_width, track.tkhd_height)
    avcc = parse_boxes(body, 78, len(body))
    assert [b.kind for b in avcc] == [b"avcC"]
    c = avcc[0].payload
    assert c[0] == 1 and c[1] == 66 and c[2] & 0x40, "configuration version 1, Constrained Baseline"
    assert c[4] == 0xFF, "4-byte NAL lengths"
    assert c[5] == 0xE1, "one SPS"
    sps_len = struct.unpack(">H", c[6:8])[0]
    sps = c[8 : 8 + sps_len]
    pos = 8 + sps_len
    assert c[pos] == 1, "one PPS"
    pps_len = struct.unpack(">H", c[pos + 1 : pos + 3])[0]
    pps = c[pos + 3 : pos + 3 + pps_len]
    assert pos + 3 + pps_len == len(c)
    assert (c[1], c[2], c[3]) == (sps[1], sps[2], sps[3])
    return sps, pps


def test_parameter_sets_are_constrained_baseline_cavlc(mono_movie: Movie) -> None:
    sps_nal, pps_nal = parse_avcc(mono_movie.video)
    assert sps_nal[0] == 0x67 and pps_nal[0] == 0x68  # nal_ref_idc 3, types 7 and 8
    sps = parse_sps(sps_nal)
    assert sps["profile_idc"] == 66
    assert sps["constraints"] & 0x40, "constraint_set1_flag"
    assert (sps["mb_width"], sps["mb_height"]) == (2, 2)
    assert sps["max_num_ref_frames"] == 1
    assert sps.get("colour") == (6, 6, 6) and sps.get("full_range") == 0
    assert sps.get("max_num_reorder_frames") == 0
    pps = parse_pps(pps_nal)
    assert pps["cabac"] == 0 and pps["slice_groups"] == 1 and pps["weighted"] == (0, 0)


def test_first_picture_is_an_i_pcm_idr_of_the_image(mono_movie: Movie) -> None:
    sps = parse_sps(parse_avcc(mono_movie.video)[0])
    first = mono_movie.video.samples(mono_movie.data)[0]
    units = nal_units(first)
    assert len(units) == 1
    assert units[0][0] & 0x1F == 5  # IDR slice
    planes = decode_idr(units[0], sps)
    assert planes == reference_ycbcr(RGB_32, 32, 32)


def test_later_pictures_skip_every_macroblock(mono_movie: Movie) -> None:
    sps = parse_sps(parse_avcc(mono_movie.video)[0])
    later = mono_movie.video.samples(mono_movie.data)[1:]
    assert later
    for index, sample in enumerate(later, 1):
        (nal,) = nal_units(sample)
        assert nal[0] & 0x1F == 1 and nal[0] >> 5 != 0  # non-IDR reference slice
        assert_no_start_code_emulation(nal[1:])
        r = BitReader(unescape(nal[1:]))
        header = parse_slice_header(r, 1, nal[0] >> 5, sps)
        assert header["slice_type"] % 5 == 0 and header["frame_num"] == index
        assert r.ue() == sps["mb_width"] * sps["mb_height"]  # mb_skip_run
        r.trailing()


def test_wide_picture_layout_and_level() -> None:
    rgb = make_rgb(48, 16, seed=3)
    movie = Movie(still_video(rgb, 48, 16, make_wav(0.5, 8000, 1)))
    sps = parse_sps(parse_avcc(movie.video)[0])
    assert (sps["mb_width"], sps["mb_height"]) == (3, 1)
    assert sps["level_idc"] == 10
    (nal,) = nal_units(movie.video.samples(movie.data)[0])
    assert decode_idr(nal, sps) == reference_ycbcr(rgb, 48, 16)


def test_level_grows_with_the_picture() -> None:
    assert video_module._level_idc(2, 2, 1, 1600) == 10
    assert video_module._level_idc(32, 32, 1, 32 * 32 * 386) == 22  # 512 x 512
    assert video_module._level_idc(80, 45, 30, 80 * 45 * 386) == 31  # 1280 x 720
    assert video_module._level_idc(128, 128, 1, 128 * 128 * 386) == 50  # 2048 x 2048


def test_exp_golomb_codes() -> None:
    def bits(*ops: tuple[str, int]) -> str:
        w = video_module._BitWriter()
        for op, value in ops:
            getattr(w, op)(value)
        w.align_zero()
        data = w.getvalue()
        return "".join(f"{b:08b}" for b in data)

    assert bits(("ue", 0)).startswith("1")
    assert bits(("ue", 1), ("ue", 2)).startswith("010011")
    assert bits(("ue", 3), ("ue", 25)).startswith("00100" + "000011010")
    assert bits(("se", 1), ("se", -1), ("se", 2), ("se", 0)).startswith("010" + "011" + "00100" + "1")
    w = video_module._BitWriter()
    w.u(3, 0b101)
    w.trailing_bits()
    assert w.getvalue() == bytes([0b10110000])


def test_emulation_prevention() -> None:
    rbsp = b"\x00\x00\x00\x00\x00\x01\x00\x00\x02\x00\x00\x03\x00\x00\x04\x80"
    nal = video_module._nal(3, 5, rbsp)
    assert nal[0] == 0x65
    assert nal[1:] == b"\x00\x00\x03\x00\x00\x03\x00\x01\x00\x00\x03\x02\x00\x00\x03\x03\x00\x00\x04\x80"
    assert_no_start_code_emulation(nal[1:])
    assert unescape(nal[1:]) == rbsp
    rng = random.Random(5)
    for _ in range(50):
        data = bytes(rng.choice((0, 0, 0, 1, 2, 3, 255)) for _ in range(rng.randrange(1, 64))) + b"\x80"
        payload = video_module._nal(3, 1, data)[1:]
        assert_no_start_code_emulation(payload)
        assert unescape(payload) == data


# --------------------------------------------------------------------------
# FLAC
# --------------------------------------------------------------------------


def flac_entry(track: Track) -> tuple[int, int, int, dict]:
    entry = track.entry
    assert entry.kind == b"fLaC"
    body = entry.payload
    assert struct.unpack(">H", body[6:8])[0] == 1  # data_reference_index
    channels, sample_size = struct.unpack(">HH", body[16:20])
    rate = struct.unpack(">I", body[24:28])[0] >> 16
    children = parse_boxes(body, 28, len(body))
    assert [b.kind for b in children] == [b"dfLa"]
    return channels, sample_size, rate, parse_streaminfo(children[0].payload)


def check_audio(movie: Movie, wav: bytes) -> None:
    channels, rate, samples = wav_samples(wav)
    total = len(samples) // channels
    entry_channels, sample_size, entry_rate, info = flac_entry(movie.audio)
    assert (entry_channels, sample_size, entry_rate) == (channels, 16, rate)
    assert (info["rate"], info["channels"], info["bits"], info["total"]) == (rate, channels, 16, total)
    assert info["min_block"] == info["max_block"] == FLAC_BLOCK_SIZE
    with wave.open(io.BytesIO(wav), "rb") as reader:
        assert info["md5"] == hashlib.md5(reader.readframes(reader.getnframes())).digest()
    frames = movie.audio.samples(movie.data)
    assert info["min_frame"] == min(map(len, frames)) and info["max_frame"] == max(map(len, frames))
    decoded: list[list[int]] = [[] for _ in range(channels)]
    for number, (frame, duration) in enumerate(zip(frames, movie.audio.durations)):
        parsed = parse_flac_frame(frame, rate)
        assert parsed["number"] == number
        assert parsed["block"] == duration
        assert parsed["rate"] == rate
        assert len(parsed["channels"]) == channels
        for c in range(channels):
            decoded[c] += parsed["channels"][c]
    for c in range(channels):
        assert decoded[c] == samples[c::channels], f"channel {c} differs from the WAV"


def test_flac_frames_verify_and_hold_the_wav_samples(mono_movie: Movie) -> None:
    check_audio(mono_movie, WAV_MONO)


@pytest.mark.parametrize(
    "rate, channels, seconds",
    [(44100, 2, 0.25), (48000, 1, 0.1), (11025, 2, 0.2), (12000, 1, 0.1), (8000, 1, 0.001)],
)
def test_flac_for_other_rates_and_stereo(rate: int, channels: int, seconds: float) -> None:
    wav = make_wav(seconds, rate, channels, seed=rate + channels)
    movie = Movie(still_video(make_rgb(16, 16), 16, 16, wav))
    check_audio(movie, wav)
    assert len(movie.video.sizes) == 1
    assert movie.video.duration / movie.video.timescale >= seconds


def test_crc16_matches_a_bitwise_reference() -> None:
    rng = random.Random(9)
    for length in (0, 1, 2, 3, 17, 4095, 4097, 8199, 16390):  # > 4095 bytes exercises the period folding
        data = os.urandom(length) if length > 64 else bytes(rng.randrange(256) for _ in range(length))
        assert video_module._crc16(data) == crc16_bitwise(data), length
    assert video_module._crc16(b"123456789") == 0xFEE8  # CRC-16/UMTS (a.k.a. BUYPASS) check value
    assert video_module._crc8(b"123456789") == 0xF4  # CRC-8/SMBUS check value


def test_utf8_frame_numbers() -> None:
    for n in (0, 1, 0x7F, 0x80, 0x7FF, 0x800, 0xD7FF, 0xFFFF, 0x10000, 0x10FFFF):
        assert video_module._utf8_number(n) == chr(n).encode("utf-8")
    for n in (0x1FFFFF, 0x200000, 0x3FFFFFF, 0x4000000, 0x7FFFFFFF):
        assert read_utf8_number(video_module._utf8_number(n), 0) == (n, len(video_module._utf8_number(n)))


# --------------------------------------------------------------------------
# API
# --------------------------------------------------------------------------


def test_output_is_deterministic() -> None:
    wav = make_wav(0.3, 8000, 2)
    assert still_video(RGB_32, 32, 32, wav) == still_video(bytearray(RGB_32), 32, 32, wav)


@pytest.mark.parametrize("width, height", [(0, 16), (16, 0), (15, 16), (16, 24), (-16, 16), (33, 32)])
def test_dimensions_must_be_positive_multiples_of_16(width: int, height: int) -> None:
    with pytest.raises(ValueError):
        still_video(bytes(max(0, width * height * 3)), width, height, WAV_MONO)


def test_other_bad_arguments_raise_value_error() -> None:
    with pytest.raises(ValueError):
        still_video(RGB_32[:-1], 32, 32, WAV_MONO)  # wrong RGB length
    with pytest.raises(ValueError):
        still_video(RGB_32, 32.0, 32, WAV_MONO)  # type: ignore[arg-type]
    for fps in (0, -1, 61):
        with pytest.raises(ValueError):
            still_video(RGB_32, 32, 32, WAV_MONO, fps=fps)
    with pytest.raises(ValueError):
        still_video(RGB_32, 32, 32, b"not a wav file")
    with pytest.raises(ValueError):
        still_video(RGB_32, 32, 32, make_wav(0.1, 8000, 1, width=1))  # 8-bit PCM
    with pytest.raises(ValueError):
        still_video(RGB_32, 32, 32, make_wav(0.0, 8000, 1))  # no samples
