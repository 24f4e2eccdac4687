"""A tiny, standard, playable MP4 "music video" written in pure Python.

The sandbox provider simulates Suno's "music video (MP4)" export.  The video is
the song's cover shown as a still image for the whole song, with the song as
the audio track.  To stay simple (standard library only, no codec libraries)
while remaining playable by browsers and Discord's client, the file uses:

* **Video** - H.264 *Constrained Baseline* (profile_idc 66, constraint_set0/1
  flags), one SPS and one PPS (CAVLC).  The first frame is an IDR picture whose
  macroblocks are all ``I_PCM`` (``mb_type`` 25 in an I slice: the raw 8-bit
  YCbCr 4:2:0 samples after byte alignment, so no transform or entropy coding is
  needed).  Every later frame is a P slice whose macroblocks are all skipped
  (``mb_skip_run`` = number of macroblocks), i.e. an exact copy of the previous
  picture.  Frames run at ``fps`` (1 by default), so the file is little more
  than one raw picture plus the audio.
* **Audio** - FLAC in ISO BMFF (sample entry ``fLaC`` with a ``dfLa`` box
  holding STREAMINFO, per the "Encapsulation of FLAC in ISO Base Media File
  Format" spec), one FLAC frame per MP4 sample, fixed block size of 4096
  samples, VERBATIM subframes (lossless, no compression).  Frame headers carry
  the CRC-8 and every frame ends with its CRC-16.
* **Container** - ``ftyp`` (isom; isom/iso2/avc1/mp41), then ``moov`` (fast
  start: the index precedes the media), then ``mdat`` with video and audio
  interleaved about once per second.

Only :func:`still_video` is public.
"""

from __future__ import annotations

import hashlib
import io
import re
import struct
import sys
import wave
from array import array
from functools import lru_cache

__all__ = ["still_video"]

FLAC_BLOCK_SIZE = 4096
MAX_FPS = 60

_MOVIE_TIMESCALE = 1000
_LITTLE_ENDIAN = sys.byteorder == "little"


# --------------------------------------------------------------------------
# Bit writing (H.264 RBSP)
# --------------------------------------------------------------------------


class _BitWriter:
    """MSB-first bit writer backed by one Python integer (headers are short)."""

    __slots__ = ("_value", "_bits")

    def __init__(self) -> None:
        self._value = 0
        self._bits = 0

    def u(self, nbits: int, value: int) -> None:
        """Unsigned fixed-length field u(n)."""
        if value < 0 or value >> nbits:
            raise ValueError(f"{value} does not fit in {nbits} bits")
        self._value = (self._value << nbits) | value
        self._bits += nbits

    def flag(self, value: bool | int) -> None:
        self.u(1, 1 if value else 0)

    def ue(self, value: int) -> None:
        """Unsigned exp-Golomb ue(v): (len-1) zero bits, then value+1 in len bits."""
        if value < 0:
            raise ValueError(f"ue(v) needs a non-negative value, got {value}")
        code = value + 1
        self.u(2 * code.bit_length() - 1, code)

    def se(self, value: int) -> None:
        """Signed exp-Golomb se(v): 1, -1, 2, -2, ... map to 1, 2, 3, 4, ..."""
        self.ue(2 * value - 1 if value > 0 else -2 * value)

    def align_zero(self) -> None:
        """Zero bits up to the next byte boundary (e.g. pcm_alignment_zero_bit)."""
        self.u(-self._bits % 8, 0)

    def trailing_bits(self) -> None:
        """rbsp_trailing_bits(): rbsp_stop_one_bit then zero bits to alignment."""
        self.u(1, 1)
        self.align_zero()

    def getvalue(self) -> bytes:
        if self._bits % 8:
            raise ValueError("bit stream is not byte aligned")
        return self._value.to_bytes(self._bits // 8, "big")


# Three zero-ish bytes that would look like (or break) a start code get an
# emulation_prevention_three_byte: 00 00 0x (x <= 3)  ->  00 00 03 0x.
_EMULATION = re.compile(b"\x00\x00(?=[\x00-\x03])")


def _nal(nal_ref_idc: int, nal_unit_type: int, rbsp: bytes) -> bytes:
    """A NAL unit (header byte + escaped payload) from an RBSP."""
    payload = _EMULATION.sub(b"\x00\x00\x03", rbsp)
    if payload.endswith(b"\x00"):  # cannot happen after rbsp_trailing_bits, but be strict
        payload += b"\x03"
    return bytes([(nal_ref_idc << 5) | nal_unit_type]) + payload


# --------------------------------------------------------------------------
# H.264 parameter sets and slices
# --------------------------------------------------------------------------

_PROFILE_BASELINE = 66
_CONSTRAINT_FLAGS = 0xC0  # constraint_set0_flag | constraint_set1_flag -> Constrained Baseline
_LOG2_MAX_FRAME_NUM = 16

_NAL_SLICE = 1
_NAL_IDR = 5
_NAL_SPS = 7
_NAL_PPS = 8

_MB_TYPE_I_PCM = 25
_SLICE_P = 5  # 5/7: P/I and every slice of the picture has the same type
_SLICE_I = 7

# Table A-1: level_idc, MaxMBPS, MaxFS, MaxDpbMbs, MaxBR (kbit/s), MaxCPB (kbit)
_LEVELS = (
    (10, 1485, 99, 396, 64, 175),
    (11, 3000, 396, 900, 192, 500),
    (12, 6000, 396, 2376, 384, 1000),
    (13, 11880, 396, 2376, 768, 2000),
    (20, 11880, 396, 2376, 2000, 2000),
    (21, 19800, 792, 4752, 4000, 4000),
    (22, 20250, 1620, 8100, 4000, 4000),
    (30, 40500, 1620, 8100, 10000, 10000),
    (31, 108000, 3600, 18000, 14000, 14000),
    (32, 216000, 5120, 20480, 20000, 20000),
    (40, 245760, 8192, 32768, 20000, 25000),
    (41, 245760, 8192, 32768, 50000, 62500),
    (42, 522240, 8704, 34816, 50000, 62500),
    (50, 589824, 22080, 110400, 135000, 135000),
    (51, 983040, 36864, 184320, 240000, 240000),
    (52, 2073600, 36864, 184320, 240000, 240000),
)


def _level_idc(mb_width: int, mb_height: int, fps: int, picture_bytes: int) -> int:
    """The lowest level whose frame size, rates and buffer fit an I_PCM stream."""
    mbs = mb_width * mb_height
    bits = picture_bytes * 8
    for level, max_mbps, max_fs, max_dpb_mbs, max_br, max_cpb in _LEVELS:
        if (
            mbs <= max_fs
            and mb_width * mb_width <= 8 * max_fs
            and mb_height * mb_height <= 8 * max_fs
            and mbs * fps <= max_mbps
            and mbs <= max_dpb_mbs
            and bits <= max_cpb * 1000
            and bits <= max_br * 1000
        ):
            return level
    return _LEVELS[-1][0]


def _sps(mb_width: int, mb_height: int, fps: int, level_idc: int) -> bytes:
    w = _BitWriter()
    w.u(8, _PROFILE_BASELINE)
    w.u(8, _CONSTRAINT_FLAGS)
    w.u(8, level_idc)
    w.ue(0)  # seq_parameter_set_id
    w.ue(_LOG2_MAX_FRAME_NUM - 4)  # log2_max_frame_num_minus4
    w.ue(2)  # pic_order_cnt_type 2: output order = decoding order
    w.ue(1)  # max_num_ref_frames
    w.flag(0)  # gaps_in_frame_num_value_allowed_flag
    w.ue(mb_width - 1)  # pic_width_in_mbs_minus1
    w.ue(mb_height - 1)  # pic_height_in_map_units_minus1
    w.flag(1)  # frame_mbs_only_flag
    w.flag(1)  # direct_8x8_inference_flag
    w.flag(0)  # frame_cropping_flag
    w.flag(1)  # vui_parameters_present_flag
    # vui_parameters()
    w.flag(0)  # aspect_ratio_info_present_flag
    w.flag(0)  # overscan_info_present_flag
    w.flag(1)  # video_signal_type_present_flag
    w.u(3, 5)  # video_format: unspecified
    w.flag(0)  # video_full_range_flag: limited ("TV") range
    w.flag(1)  # colour_description_present_flag
    w.u(8, 6)  # colour_primaries: SMPTE 170M
    w.u(8, 6)  # transfer_characteristics: SMPTE 170M
    w.u(8, 6)  # matrix_coefficients: SMPTE 170M / BT.601
    w.flag(0)  # chroma_loc_info_present_flag
    w.flag(1)  # timing_info_present_flag
    w.u(32, 1)  # num_units_in_tick
    w.u(32, 2 * fps)  # time_scale (two ticks per frame)
    w.flag(1)  # fixed_frame_rate_flag
    w.flag(0)  # nal_hrd_parameters_present_flag
    w.flag(0)  # vcl_hrd_parameters_present_flag
    w.flag(0)  # pic_struct_present_flag
    w.flag(1)  # bitstream_restriction_flag
    w.flag(1)  # motion_vectors_over_pic_boundaries_flag
    w.ue(0)  # max_bytes_per_pic_denom (no limit)
    w.ue(0)  # max_bits_per_mb_denom (no limit)
    w.ue(15)  # log2_max_mv_length_horizontal
    w.ue(15)  # log2_max_mv_length_vertical
    w.ue(0)  # max_num_reorder_frames
    w.ue(1)  # max_dec_frame_buffering
    w.trailing_bits()
    return _nal(3, _NAL_SPS, w.getvalue())


def _pps() -> bytes:
    w = _BitWriter()
    w.ue(0)  # pic_parameter_set_id
    w.ue(0)  # seq_parameter_set_id
    w.flag(0)  # entropy_coding_mode_flag: CAVLC
    w.flag(0)  # bottom_field_pic_order_in_frame_present_flag
    w.ue(0)  # num_slice_groups_minus1
    w.ue(0)  # num_ref_idx_l0_default_active_minus1
    w.ue(0)  # num_ref_idx_l1_default_active_minus1
    w.flag(0)  # weighted_pred_flag
    w.u(2, 0)  # weighted_bipred_idc
    w.se(0)  # pic_init_qp_minus26
    w.se(0)  # pic_init_qs_minus26
    w.se(0)  # chroma_qp_index_offset
    w.flag(1)  # deblocking_filter_control_present_flag
    w.flag(0)  # constrained_intra_pred_flag
    w.flag(0)  # redundant_pic_cnt_present_flag
    w.trailing_bits()
    return _nal(3, _NAL_PPS, w.getvalue())


def _slice_header(w: _BitWriter, *, idr: bool, frame_num: int) -> None:
    w.ue(0)  # first_mb_in_slice
    w.ue(_SLICE_I if idr else _SLICE_P)  # slice_type
    w.ue(0)  # pic_parameter_set_id
    w.u(_LOG2_MAX_FRAME_NUM, frame_num)  # frame_num
    if idr:
        w.ue(0)  # idr_pic_id
    else:
        w.flag(0)  # num_ref_idx_active_override_flag
        w.flag(0)  # ref_pic_list_modification_flag_l0
    # dec_ref_pic_marking() (every picture is a reference picture)
    if idr:
        w.flag(0)  # no_output_of_prior_pics_flag
        w.flag(0)  # long_term_reference_flag
    else:
        w.flag(0)  # adaptive_ref_pic_marking_mode_flag: sliding window
    w.se(0)  # slice_qp_delta
    w.ue(1)  # disable_deblocking_filter_idc: off


def _idr_slice(macroblocks: list[bytes]) -> bytes:
    """An IDR picture of I_PCM macroblocks (each item: 256 Y + 64 Cb + 64 Cr bytes)."""
    w = _BitWriter()
    _slice_header(w, idr=True, frame_num=0)
    w.ue(_MB_TYPE_I_PCM)
    w.align_zero()  # pcm_alignment_zero_bit
    head = w.getvalue()
    # Every later macroblock starts byte aligned: ue(25) = 0000 1101 0, then 7 zero bits.
    w = _BitWriter()
    w.ue(_MB_TYPE_I_PCM)
    w.align_zero()
    prefix = w.getvalue()
    # prefix.join(...) = mb0 + prefix + mb1 + prefix + ...; then rbsp_slice_trailing_bits after
    # the byte-aligned last macroblock: 1000 0000.
    rbsp = head + prefix.join(macroblocks) + b"\x80"
    return _nal(3, _NAL_IDR, rbsp)


def _skip_slice(frame_num: int, macroblock_count: int) -> bytes:
    """A P picture in which every macroblock is P_Skip (a copy of the reference)."""
    w = _BitWriter()
    _slice_header(w, idr=False, frame_num=frame_num)
    w.ue(macroblock_count)  # mb_skip_run; then more_rbsp_data() is false
    w.trailing_bits()
    return _nal(2, _NAL_SLICE, w.getvalue())


# --------------------------------------------------------------------------
# RGB -> YCbCr 4:2:0 (BT.601, limited range) and macroblock layout
# --------------------------------------------------------------------------


def _lanes(plane: bytes, width: int) -> int:
    """The bytes of ``plane`` as one big integer with one ``width``-byte lane per byte (big-endian).

    Arithmetic on such integers works on every lane at once (at C speed) as long as every lane of the
    final result stays within 0 .. 256**width - 1, so nothing carries or borrows across lanes.
    """
    buf = bytearray(width * len(plane))
    buf[width - 1 :: width] = plane
    return int.from_bytes(buf, "big")


def _splat(value: int, width: int, count: int) -> int:
    """``value`` in each of ``count`` lanes of ``width`` bytes."""
    return int.from_bytes(value.to_bytes(width, "big") * count, "big")


def _ycbcr420(rgb: bytes, width: int, height: int) -> tuple[bytes, bytes, bytes]:
    """Planar Y (width x height) and Cb, Cr (width/2 x height/2), BT.601 limited range.

    Integer BT.601 with 8 fractional bits; chroma from the sums of the 2x2 RGB blocks:
        Y  = (( 66 R + 129 G +  25 B + 128) >> 8) + 16             R, G, B: one pixel (0..255)
        Cb = ((-38 R -  74 G + 112 B + 512) >> 10) + 128           R, G, B: 2x2 sums (0..1020)
        Cr = ((112 R -  94 G -  18 B + 512) >> 10) + 128
    computed with one multi-precision integer per plane (see :func:`_lanes`): Y in 16-bit lanes whose
    high byte is the result (>> 8), Cb/Cr scaled by 64 in 24-bit lanes whose top byte is the result (>> 10).
    """
    n = width * height
    y = 66 * _lanes(rgb[0::3], 2) + 129 * _lanes(rgb[1::3], 2) + 25 * _lanes(rgb[2::3], 2)
    y += _splat(128 + (16 << 8), 2, n)  # every lane: 4224 .. 60324 < 2**16
    luma = y.to_bytes(2 * n, "big")[0::2]

    stride = 3 * width
    even = b"".join([rgb[i : i + stride] for i in range(0, len(rgb), 2 * stride)])
    odd = b"".join([rgb[i : i + stride] for i in range(stride, len(rgb), 2 * stride)])
    # 2x2 sums: columns 2k and 2k+1 (6 bytes apart per pixel pair) of rows 2j and 2j+1.
    sr, sg, sb = (
        _lanes(even[c::6], 3) + _lanes(even[c + 3 :: 6], 3) + _lanes(odd[c::6], 3) + _lanes(odd[c + 3 :: 6], 3)
        for c in range(3)
    )
    m = n // 4
    offset = _splat(64 * (512 + (128 << 10)), 3, m)
    cb = 64 * (112 * sb - 38 * sr - 74 * sg) + offset  # every lane: 64 * (17344 .. 245824) < 2**24
    cr = 64 * (112 * sr - 94 * sg - 18 * sb) + offset
    return luma, cb.to_bytes(3 * m, "big")[0::3], cr.to_bytes(3 * m, "big")[0::3]


def _pcm_macroblocks(rgb: bytes, width: int, height: int) -> list[bytes]:
    """I_PCM sample blocks in macroblock raster order: 16x16 Y, 8x8 Cb, 8x8 Cr."""
    luma, cb, cr = _ycbcr420(rgb, width, height)
    cw = width // 2
    blocks = []
    for mby in range(height // 16):
        yrows = [luma[(mby * 16 + j) * width : (mby * 16 + j + 1) * width] for j in range(16)]
        brows = [cb[(mby * 8 + j) * cw : (mby * 8 + j + 1) * cw] for j in range(8)]
        rrows = [cr[(mby * 8 + j) * cw : (mby * 8 + j + 1) * cw] for j in range(8)]
        for mbx in range(width // 16):
            x, cx = mbx * 16, mbx * 8
            parts = [row[x : x + 16] for row in yrows]
            parts += [row[cx : cx + 8] for row in brows]
            parts += [row[cx : cx + 8] for row in rrows]
            blocks.append(b"".join(parts))
    return blocks


# --------------------------------------------------------------------------
# FLAC (VERBATIM subframes, fixed block size)
# --------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _crc8_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        table.append(crc)
    return tuple(table)


def _crc8(data: bytes) -> int:
    """CRC-8, polynomial x^8 + x^2 + x + 1, initial value 0 (FLAC frame header)."""
    table = _crc8_table()
    crc = 0
    for byte in data:
        crc = table[crc ^ byte]
    return crc


# CRC-16 by parity: the CRC is linear over GF(2), CRC(M) = M(x) * x^16 mod P(x) = XOR of s_p over the set
# bits p of M (p counted from the last bit), s_p = x^(p+16) mod P.  So bit j of the CRC is the parity of
# (M & mask_j), where bit p of mask_j is bit j of s_p.  P = x^16 + x^15 + x^2 + 1 = (x + 1)(x^15 + x + 1)
# with x^15 + x + 1 primitive, so s_p repeats every 32767 bits: M is first folded to that length.
# Big-integer AND and bit_count() run at C speed, about 4x faster than a table-driven Python loop.
_CRC16_POLY = 0x8005
_CRC16_PERIOD = 32767


@lru_cache(maxsize=1)
def _crc16_masks() -> tuple[int, ...]:
    top = bytearray(_CRC16_PERIOD)  # bit 15 of s_p, as ASCII digits
    s = _CRC16_POLY  # s_0 = x^16 mod P
    for p in range(_CRC16_PERIOD):
        if s & 0x8000:
            top[p] = 0x31
            s = ((s << 1) & 0xFFFF) ^ _CRC16_POLY
        else:
            top[p] = 0x30
            s <<= 1
    if s != _CRC16_POLY:
        raise AssertionError("CRC-16 sequence period mismatch")
    mask15 = int(top[::-1], 2)
    full = (1 << _CRC16_PERIOD) - 1
    # s_(p+1) = x * s_p mod P: bit j of s_(p+1) = bit j-1 of s_p ^ (bit 15 of s_p if bit j of P)
    masks = []
    previous = 0
    for j in range(16):
        feed = previous ^ (mask15 if (_CRC16_POLY >> j) & 1 else 0)
        previous = ((_CRC16_POLY >> j) & 1) | ((feed << 1) & full)
        masks.append(previous)
    if masks[15] != mask15:
        raise AssertionError("CRC-16 mask recurrence mismatch")
    return tuple(masks)


def _crc16(data: bytes) -> int:
    """CRC-16, polynomial x^16 + x^15 + x^2 + 1, initial value 0 (FLAC frame footer)."""
    value = int.from_bytes(data, "big")
    fold = (1 << _CRC16_PERIOD) - 1
    while value >> _CRC16_PERIOD:
        value = (value & fold) ^ (value >> _CRC16_PERIOD)
    crc = 0
    for j, mask in enumerate(_crc16_masks()):
        crc |= ((value & mask).bit_count() & 1) << j
    return crc


def _utf8_number(n: int) -> bytes:
    """FLAC's extended UTF-8 coding of a frame number (up to 36 bits)."""
    if n < 0x80:
        return bytes([n])
    for length, limit in ((2, 0x800), (3, 0x10000), (4, 0x200000), (5, 0x4000000), (6, 0x80000000), (7, 1 << 36)):
        if n < limit:
            break
    else:
        raise ValueError(f"frame number {n} is too large")
    tail = [0x80 | ((n >> (6 * i)) & 0x3F) for i in range(length - 2, -1, -1)]
    lead = ((0xFF00 >> length) & 0xFF) | (n >> (6 * (length - 1)))
    return bytes([lead & 0xFF] + tail)


_BLOCK_SIZE_CODES = {192: 1, 576: 2, 1152: 3, 2304: 4, 4608: 5, **{256 << k: 8 + k for k in range(8)}}
_SAMPLE_RATE_CODES = {
    88200: 1, 176400: 2, 192000: 3, 8000: 4, 16000: 5, 22050: 6, 24000: 7,
    32000: 8, 44100: 9, 48000: 10, 96000: 11,
}


def _flac_frame_header(frame_number: int, block_size: int, sample_rate: int, channels: int) -> bytes:
    extra = b""
    bs_code = _BLOCK_SIZE_CODES.get(block_size)
    if bs_code is None:
        if block_size <= 256:
            bs_code, extra = 6, bytes([block_size - 1])
        else:
            bs_code, extra = 7, struct.pack(">H", block_size - 1)
    sr_code = _SAMPLE_RATE_CODES.get(sample_rate)
    if sr_code is None:
        if sample_rate % 1000 == 0 and sample_rate // 1000 < 256:
            sr_code, extra = 12, extra + bytes([sample_rate // 1000])
        elif sample_rate < 65536:
            sr_code, extra = 13, extra + struct.pack(">H", sample_rate)
        elif sample_rate % 10 == 0 and sample_rate // 10 < 65536:
            sr_code, extra = 14, extra + struct.pack(">H", sample_rate // 10)
        else:
            sr_code = 0  # "get from STREAMINFO"
    header = (
        b"\xff\xf8"  # sync code 0b11111111111110, reserved 0, fixed block size
        + bytes([(bs_code << 4) | sr_code, ((channels - 1) << 4) | (4 << 1)])  # independent channels, 16 bit
        + _utf8_number(frame_number)
        + extra
    )
    return header + bytes([_crc8(header)])


def _flac_frames(pcm: bytes, channels: int, sample_rate: int) -> list[bytes]:
    """FLAC frames (VERBATIM subframes) for interleaved little-endian 16-bit PCM."""
    samples = array("h")
    samples.frombytes(pcm)
    if not _LITTLE_ENDIAN:
        samples.byteswap()  # now native values
    planes = [samples[c::channels] for c in range(channels)]
    for plane in planes:
        if _LITTLE_ENDIAN:
            plane.byteswap()  # FLAC samples are big-endian
    planes_bytes = [plane.tobytes() for plane in planes]
    total = len(samples) // channels
    frames = []
    for number, start in enumerate(range(0, total, FLAC_BLOCK_SIZE)):
        size = min(FLAC_BLOCK_SIZE, total - start)
        parts = [_flac_frame_header(number, size, sample_rate, channels)]
        for plane in planes_bytes:
            parts.append(b"\x02")  # subframe header: padding 0, type 000001 (VERBATIM), no wasted bits
            parts.append(plane[2 * start : 2 * (start + size)])
        body = b"".join(parts)
        frames.append(body + struct.pack(">H", _crc16(body)))
    return frames


def _streaminfo(sample_rate: int, channels: int, total: int, frames: list[bytes], md5: bytes) -> bytes:
    sizes = [len(f) for f in frames]
    packed = (sample_rate << 44) | ((channels - 1) << 41) | ((16 - 1) << 36) | total
    return (
        struct.pack(">HH", FLAC_BLOCK_SIZE, FLAC_BLOCK_SIZE)
        + min(sizes).to_bytes(3, "big")
        + max(sizes).to_bytes(3, "big")
        + packed.to_bytes(8, "big")
        + md5
    )


# --------------------------------------------------------------------------
# ISO BMFF boxes
# --------------------------------------------------------------------------


def _box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return struct.pack(">I", 8 + len(body)) + kind + body


def _full_box(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags), *payload)


_MATRIX = struct.pack(">9I", 0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000)
_LANGUAGE_UND = ((ord("u") - 0x60) << 10) | ((ord("n") - 0x60) << 5) | (ord("d") - 0x60)


def _mvhd(duration: int, next_track_id: int) -> bytes:
    return _full_box(
        b"mvhd", 0, 0,
        struct.pack(">IIII", 0, 0, _MOVIE_TIMESCALE, duration),
        struct.pack(">IH", 0x00010000, 0x0100),  # rate 1.0, volume 1.0
        bytes(10),  # reserved
        _MATRIX,
        bytes(24),  # pre_defined
        struct.pack(">I", next_track_id),
    )


def _tkhd(track_id: int, duration: int, *, volume: int, width: int, height: int) -> bytes:
    return _full_box(
        b"tkhd", 0, 0x000003,  # track_enabled | track_in_movie
        struct.pack(">IIIII", 0, 0, track_id, 0, duration),
        bytes(8),  # reserved
        struct.pack(">hhhH", 0, 0, volume, 0),  # layer, alternate_group, volume, reserved
        _MATRIX,
        struct.pack(">II", width << 16, height << 16),
    )


def _mdhd(timescale: int, duration: int) -> bytes:
    return _full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, timescale, duration, _LANGUAGE_UND, 0))


def _hdlr(handler: bytes, name: str) -> bytes:
    return _full_box(b"hdlr", 0, 0, struct.pack(">I4s12x", 0, handler), name.encode() + b"\x00")


def _dinf() -> bytes:
    return _box(b"dinf", _full_box(b"dref", 0, 0, struct.pack(">I", 1), _full_box(b"url ", 0, 1)))


def _stts(durations: list[int]) -> bytes:
    runs: list[list[int]] = []
    for d in durations:
        if runs and runs[-1][1] == d:
            runs[-1][0] += 1
        else:
            runs.append([1, d])
    return _full_box(b"stts", 0, 0, struct.pack(">I", len(runs)), *(struct.pack(">II", n, d) for n, d in runs))


def _stsc(chunk_counts: list[int]) -> bytes:
    runs = []
    for index, count in enumerate(chunk_counts, 1):
        if not runs or runs[-1][1] != count:
            runs.append((index, count))
    return _full_box(
        b"stsc", 0, 0, struct.pack(">I", len(runs)), *(struct.pack(">III", first, n, 1) for first, n in runs)
    )


def _stsz(sizes: list[int]) -> bytes:
    if len(set(sizes)) == 1:
        return _full_box(b"stsz", 0, 0, struct.pack(">II", sizes[0], len(sizes)))
    return _full_box(b"stsz", 0, 0, struct.pack(">II", 0, len(sizes)), struct.pack(f">{len(sizes)}I", *sizes))


def _stco(offsets: list[int]) -> bytes:
    return _full_box(b"stco", 0, 0, struct.pack(f">I{len(offsets)}I", len(offsets), *offsets))


def _avc1(width: int, height: int, sps: bytes, pps: bytes) -> bytes:
    avcc = _box(
        b"avcC",
        bytes([1, sps[1], sps[2], sps[3], 0xFC | 3, 0xE0 | 1]),  # version, profile, compat, level, 4-byte lengths, 1 SPS
        struct.pack(">H", len(sps)), sps,
        bytes([1]), struct.pack(">H", len(pps)), pps,
    )
    name = b"Chorus still H.264"
    return _box(
        b"avc1",
        bytes(6), struct.pack(">H", 1),  # reserved, data_reference_index
        bytes(16),  # pre_defined, reserved, pre_defined[3]
        struct.pack(">HHIII", width, height, 0x00480000, 0x00480000, 0),  # 72 dpi, reserved
        struct.pack(">H", 1),  # frame_count
        bytes([len(name)]) + name.ljust(31, b"\x00"),  # compressorname
        struct.pack(">Hh", 0x0018, -1),  # depth, pre_defined
        avcc,
    )


def _flac_entry(channels: int, sample_rate: int, streaminfo: bytes) -> bytes:
    dfla = _full_box(b"dfLa", 0, 0, bytes([0x80]) + len(streaminfo).to_bytes(3, "big"), streaminfo)  # last block, type 0
    return _box(
        b"fLaC",
        bytes(6), struct.pack(">H", 1),  # reserved, data_reference_index
        bytes(8),  # reserved
        struct.pack(">HHHH", channels, 16, 0, 0),  # channelcount, samplesize, pre_defined, reserved
        struct.pack(">I", sample_rate << 16 if sample_rate < 65536 else 0),
        dfla,
    )


def _trak(
    track_id: int, duration: int, timescale: int, media_duration: int, handler: bytes, name: str,
    media_header: bytes, sample_entry: bytes, durations: list[int], sizes: list[int],
    chunk_counts: list[int], offsets: list[int], *, sync: list[int] | None = None,
    volume: int = 0, width: int = 0, height: int = 0,
) -> bytes:
    tables = [
        _full_box(b"stsd", 0, 0, struct.pack(">I", 1), sample_entry),
        _stts(durations),
    ]
    if sync is not None:
        tables.append(_full_box(b"stss", 0, 0, struct.pack(f">I{len(sync)}I", len(sync), *sync)))
    tables += [_stsc(chunk_counts), _stsz(sizes), _stco(offsets)]
    return _box(
        b"trak",
        _tkhd(track_id, duration, volume=volume, width=width, height=height),
        _box(
            b"mdia",
            _mdhd(timescale, media_duration),
            _hdlr(handler, name),
            _box(b"minf", media_header, _dinf(), _box(b"stbl", *tables)),
        ),
    )


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------


def _read_wav(wav: bytes) -> tuple[int, int, bytes]:
    try:
        with wave.open(io.BytesIO(bytes(wav)), "rb") as reader:
            channels = reader.getnchannels()
            width = reader.getsampwidth()
            rate = reader.getframerate()
            pcm = reader.readframes(reader.getnframes())
    except (wave.Error, EOFError, struct.error) as exc:
        raise ValueError(f"not a readable PCM WAV file: {exc}") from exc
    if width != 2:
        raise ValueError(f"only 16-bit PCM WAV is supported, got {8 * width}-bit samples")
    if channels not in (1, 2):
        raise ValueError(f"only mono or stereo WAV is supported, got {channels} channels")
    if not 1 <= rate < 1 << 20:
        raise ValueError(f"unsupported WAV sample rate: {rate}")
    pcm = pcm[: len(pcm) - len(pcm) % (2 * channels)]
    if not pcm:
        raise ValueError("the WAV file holds no audio samples")
    return channels, rate, pcm


def still_video(rgb: bytes, width: int, height: int, wav: bytes, *, fps: int = 1) -> bytes:
    """An MP4 (ISO BMFF) with an H.264 video track showing the RGB image for the WAV's duration and the WAV's
    audio (16-bit PCM, mono or stereo) as a FLAC audio track.

    ``rgb`` holds ``width * height`` 8-bit RGB triples, row by row, top row first.  ``width`` and ``height``
    must be positive multiples of 16.  The video runs at ``fps`` frames per second (1 to 60) and lasts a
    whole number of frames, at least as long as the audio.  Raises ``ValueError`` for bad arguments.
    """
    for name, value in (("width", width), ("height", height), ("fps", fps)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be an int, got {value!r}")
    if width <= 0 or height <= 0 or width % 16 or height % 16:
        raise ValueError(f"width and height must be positive multiples of 16, got {width}x{height}")
    if not 1 <= fps <= MAX_FPS:
        raise ValueError(f"fps must be between 1 and {MAX_FPS}, got {fps}")
    rgb = bytes(rgb)
    if len(rgb) != width * height * 3:
        raise ValueError(f"expected {width * height * 3} bytes of RGB for {width}x{height}, got {len(rgb)}")
    channels, sample_rate, pcm = _read_wav(wav)
    total = len(pcm) // (2 * channels)

    # ---- video samples
    mb_width, mb_height = width // 16, height // 16
    mb_count = mb_width * mb_height
    idr = _idr_slice(_pcm_macroblocks(rgb, width, height))
    frame_count = max(1, -(-total * fps // sample_rate))  # ceil: the video covers the audio
    video = [idr] + [_skip_slice(i % (1 << _LOG2_MAX_FRAME_NUM), mb_count) for i in range(1, frame_count)]
    video = [struct.pack(">I", len(nal)) + nal for nal in video]  # 4-byte NAL lengths (avcC)
    sps = _sps(mb_width, mb_height, fps, _level_idc(mb_width, mb_height, fps, len(idr)))
    pps = _pps()
    video_timescale = 1000 * fps
    frame_delta = 1000

    # ---- audio samples
    audio = _flac_frames(pcm, channels, sample_rate)
    streaminfo = _streaminfo(sample_rate, channels, total, audio, hashlib.md5(pcm).digest())
    audio_durations = [min(FLAC_BLOCK_SIZE, total - i * FLAC_BLOCK_SIZE) for i in range(len(audio))]

    # ---- interleave: each video frame is a chunk, followed by the audio frames that start before the next one
    layout: list[tuple[int, int, int]] = []  # (track 0/1, first sample, sample count), in mdat order
    next_audio = 0
    for i in range(frame_count):
        layout.append((0, i, 1))
        first = next_audio
        if i == frame_count - 1:
            next_audio = len(audio)
        else:
            end_sample = (i + 1) * sample_rate  # audio samples starting before (i + 1) / fps seconds
            while next_audio < len(audio) and next_audio * FLAC_BLOCK_SIZE * fps < end_sample:
                next_audio += 1
        if next_audio > first:
            layout.append((1, first, next_audio - first))

    samples = (video, audio)
    chunk_offsets: tuple[list[int], list[int]] = ([], [])
    chunk_counts: tuple[list[int], list[int]] = ([], [])
    position = 0
    for track, first, count in layout:
        chunk_offsets[track].append(position)
        chunk_counts[track].append(count)
        position += sum(len(s) for s in samples[track][first : first + count])
    mdat_size = 8 + position

    video_duration = -(-frame_count * _MOVIE_TIMESCALE // fps)
    audio_duration = -(-total * _MOVIE_TIMESCALE // sample_rate)

    def moov(base: int) -> bytes:
        return _box(
            b"moov",
            _mvhd(max(video_duration, audio_duration), 3),
            _trak(
                1, video_duration, video_timescale, frame_count * frame_delta, b"vide", "VideoHandler",
                _full_box(b"vmhd", 0, 1, bytes(8)),
                _avc1(width, height, sps, pps),
                [frame_delta] * frame_count, [len(s) for s in video],
                chunk_counts[0], [base + o for o in chunk_offsets[0]], sync=[1],
                width=width, height=height,
            ),
            _trak(
                2, audio_duration, sample_rate, total, b"soun", "SoundHandler",
                _full_box(b"smhd", 0, 0, bytes(4)),
                _flac_entry(channels, sample_rate, streaminfo),
                audio_durations, [len(s) for s in audio],
                chunk_counts[1], [base + o for o in chunk_offsets[1]], volume=0x0100,
            ),
        )

    ftyp = _box(b"ftyp", b"isom", struct.pack(">I", 0x200), b"isom", b"iso2", b"avc1", b"mp41")
    base = len(ftyp) + len(moov(0)) + 8  # offsets are stored in fixed-size fields
    if base + mdat_size > 0xFFFFFFFF:
        raise ValueError("the video would exceed 4 GiB")
    parts = [ftyp, moov(base), struct.pack(">I", mdat_size), b"mdat"]
    for track, first, count in layout:
        parts.extend(samples[track][first : first + count])
    return b"".join(parts)
