"""Loopback fake of the kie.ai Suno API, for end-to-end tests.

Written only from ``/work/shared/reference/suno-api-contract.md`` (and the
seed docs it cites), independently of the bot's own provider code, so that
end-to-end tests exercise the bot's real HTTP client against an independent
reading of the contract. Where the contract is silent on a detail of the later endpoints
(marked [docs] below), the public docs.kie.ai / docs.sunoapi.org pages (and their mirrors)
for that endpoint were read for it; every such choice is listed under "Decisions" below.

Covered surface (kie.ai):

* music family (contract §2 rows 1-4, §2.1, §2.2, §1.1), all polled at
  ``GET /api/v1/generate/record-info`` (§4.1, 3 req/s per task §5.2):

  - ``POST /api/v1/generate``               kind ``"generate"``
  - ``POST /api/v1/generate/extend``        kind ``"extend"`` (source = a known track)
  - ``POST /api/v1/generate/upload-extend`` kind ``"upload_extend"`` (fetches ``uploadUrl``)
  - ``POST /api/v1/generate/upload-cover``  kind ``"upload_cover"`` (fetches ``uploadUrl``)
  - ``POST /api/v1/generate/add-instrumental`` kind ``"add_instrumental"`` (§1, §2 row 5; fetches ``uploadUrl``)
  - ``POST /api/v1/generate/add-vocals``    kind ``"add_vocals"`` (§1, §2 row 6; fetches ``uploadUrl``)
  - ``POST /api/v1/generate/mashup``        kind ``"mashup"`` (§2 row 24; fetches both ``uploadUrlList`` URLs)
  - ``POST /api/v1/generate/replace-section`` kind ``"replace_section"`` (§2 row 22, §2.5, §3.1)
  - ``POST /api/v1/generate/sounds``        kind ``"sounds"`` (sound effects; [docs] generate-sounds, see
    "Decisions"): ``prompt`` (<= 500), ``model`` V5 | V5_5, ``soundLoop``, ``soundTempo`` (1-300 or null),
    ``soundKey`` (Any, Cm ... B), ``grabLyrics``, optional ``callBackUrl``; the effective settings are
    ``Task.sound`` / ``Submission.sound`` (:class:`SoundSettings`); two short instrumental tracks.

  callbacks text -> first -> complete / error (§3.1); upload-cover / upload-extend tracks carry
  ``source_*``. replace_section has one callback, "complete" (one track) or "error" (with a string
  ``data.error``); its ``callBackUrl`` is optional (no callback at all without one).
* ``POST /api/v1/lyrics`` + ``GET /api/v1/lyrics/record-info``            kind ``"lyrics"`` (§3.2, §4.2)
* ``POST /api/v1/vocal-removal/generate`` + ``GET .../record-info``       kind ``"separation"`` (§2.3, §3.2, §4.3)
* ``POST /api/v1/wav/generate`` + ``GET /api/v1/wav/record-info``         kind ``"wav"`` (§3.2, §4.4)
* ``POST /api/v1/mp4/generate`` + ``GET /api/v1/mp4/record-info``         kind ``"mp4"`` (§3.2, §4.4)
* ``POST /api/v1/suno/cover/generate`` + ``GET /api/v1/suno/cover/record-info`` kind ``"cover_image"``
  (§2 rows 20-21, §2.5, §3.2, §4.4): ``cover_image_count`` PNGs (2); callback ``data{taskId, images}``
  (camelCase); integer ``successFlag`` 0 pending / 1 success / 2 generating (:meth:`FakeKie.mark_generating`)
  / 3 failed; asking again for the same music task answers 400 + ``data{taskId: <existing>}``, unbilled.
* ``POST /api/v1/midi/generate`` + ``GET /api/v1/midi/record-info``       kind ``"midi"`` (§2 row 23, §3.2,
  §4.4): source = a finished split_stem separation (``midi_requires_split_stem``), optional ``audioId`` =
  one of its ``originData[].id``; callback ``data{taskId, state, instruments}``; integer ``successFlag``
  0 pending / 1 success / 2 create failed / 3 MIDI failed; ``midiData{state, instruments}``; record-info
  ``audioId`` = the requested one, else the separated music track's.
* synchronous (no task, no callback; the answer's ``data`` is the result), kinds for
  ``fail_next_submit`` / ``submissions_of`` only:

  - ``POST /api/v1/generate/get-timestamped-lyrics`` ``"timestamped_lyrics"`` (§2 row 15, §2.4):
    ``data{alignedWords[{word,success,startS,endS,palign}], waveformData, hootCer, isStreamed}``
    (see :meth:`FakeKie.timestamped_lyrics` / :meth:`FakeKie.set_timestamped_lyrics`).
  - ``POST /api/v1/style/generate``         ``"style_boost"`` (§2 row 16, §2.4): ``data{taskId, param,
    result, creditsConsumed, creditsRemaining, successFlag:"1", errorCode, errorMessage, createTime}``
    (see :meth:`FakeKie.style_result` / :meth:`FakeKie.set_style_result`).
  - ``POST /api/v1/generate/generate-persona`` ``"persona"`` (§2 row 19, §2.5): ``data{personaId, name,
    description}``; 409 "Persona already exists" per audioId; the source must be a finished music task
    of a model above V3_5; vocalStart / vocalEnd default 0 / 30, window 10-30 s. The ``personaId`` is
    then accepted on generate / upload-cover (custom mode) and extend / upload-extend
    (``defaultParamFlag`` true), with ``personaModel`` (``voice_persona`` V5 only); an unknown id is
    404 "personaId not found". ``Task.persona_id`` / ``persona_model`` record it; ``FakeKie.personas`` /
    :meth:`FakeKie.persona_for` / :meth:`FakeKie.add_persona` (scripted, no HTTP).
* tuning options (§1, seed 003): ``styleWeight`` / ``weirdnessConstraint`` / ``audioWeight`` (numbers
  0-1, 2 decimals) and ``vocalGender`` (m|f) are range-checked on generate, extend, upload-cover,
  upload-extend, add-instrumental, add-vocals and mashup, and recorded in ``Task.tuning``.
* ``GET  /api/v1/chat/credit``            credits (§2 row 17). Billing: ``costs`` prices kinds
  (separation by ``type``); kie's prices are UNCONFIRMED (§6) so kie bills nothing by default; a priced
  request the balance cannot cover answers 402 "Insufficient credits" and is not counted;
  ``charges`` / ``refunds`` / ``refund_on_failure`` as on the sunoapi.org flavour.
* rate window (§5.2): every submit endpoint above, the synchronous ones included, shares the
  20-per-10-s window (``rate_exempt_kinds`` takes kinds out of it); refused requests do not count.
* webhook signing                         X-Webhook-Timestamp / -Signature (§5.5), every callback; for the
  camelCase callbacks (cover, MIDI) the signed id is ``data.taskId`` (UNCONFIRMED in §5.5).
* files: the fake hosts the "CDN" files it hands out, under ``/files/{task_id}/{name}`` and
  ``/stream/{task_id}/{n}``: track ``n`` (0-based position in ``sunoData``) is ``{n}.mp3`` /
  ``{n}.jpeg``; upload sources ``source.mp3`` / ``source.jpeg`` / ``/stream/{id}/source``;
  stems ``{stem}.mp3`` (e.g. ``vocal.mp3``); WAV ``audio.wav``; video ``video.mp4``; cover
  images ``{n}.png``.
* not implemented: Suno voice ``/api/v1/voice/*`` (named by 3P notes only, "not needed", §2), kie's newer
  ``/api/v1/jobs/createTask`` form of generate-sounds, ``split_stem_advanced`` (UNCONFIRMED, §2.3), the
  file-upload host.

Decisions where the contract is silent (or the docs disagree), for the later endpoints:

* add-instrumental / add-vocals: ``model`` optional, default V4_5PLUS; title <= 80 [docs]; tags / style
  <= 1000 and add-vocals prompt <= 5000 (§1.1 for V4_5PLUS/V5); ``negativeTags`` must be present but may
  be empty. Two tracks each; add-instrumental tracks have no lyrics (``prompt`` "", the fake cannot know
  the upload's words); no ``source_*`` fields (§3.1 documents them for upload-cover/-extend only);
  ``add_vocals_omit_tags`` drops ``tags`` (§3.1 "may lack tags"). ``operationType`` in record-info is the
  kind's name (the §4.1 enum lists only the four original kinds: UNCONFIRMED).
* mashup: ``instrumental`` optional (default false); generate's mode rules, with the per-model title
  limits of extend (80 / 100) [docs]; two tracks.
* replace-section: ONE track (the callback example shows one [docs]) with the source's duration, its
  lyrics = ``fullLyrics`` or else ``prompt``; ``model`` = the source's; prompt / tags / title / fullLyrics
  limits of the source model (title as on extend); the range must also end within the track; a source
  whose files expired (:meth:`FakeKie.expire`) is 404, as for extend. ``parentMusicId`` = the audioId.
* timestamped lyrics: the source must be finished (422 otherwise, like separation); words are derived
  from ``Track.prompt`` (each gets an equal slot of the duration, ``endS`` at 90 % of it, ``palign`` 0,
  ``[Section]`` markers glued to the next word); instrumental = empty lyrics = ``alignedWords: []``.
* style boost: no length limit documented; the result is "<tags> with layered production, ...".
* persona: an empty ``personaId`` counts as absent; a personaId outside custom mode (or with
  ``defaultParamFlag`` false) is refused 422 rather than ignored; the persona window must also end
  within the track; a persona of an expired source is 404.
* cover image: the music task must be finished (the docs only "recommend" it: the fake refuses 422);
  a failed cover frees the slot; record-info times are ISO strings as in the docs' example.
* sounds (docs.kie.ai/cn/suno-api/generate-sounds, docs.sunoapi.org/suno-api/generate-sounds): ``model`` V5
  (sunoapi.org: "Sounds tasks only support V5") or V5_5 (the docs.api.box mirror); ``prompt`` required, <= 500
  (a length excess is a :class:`TooLong`); ``soundLoop`` / ``grabLyrics`` booleans (default false; null is
  refused, only absence means the default); ``soundTempo`` an integer 1-300 (BPM; absent or null = Auto, not a
  float); ``soundKey`` one of ``SOUND_KEYS`` (case-sensitive, default "Any"); ``callBackUrl`` optional (the docs
  mark only prompt / model required: no callback at all without one). The docs show no record-info or
  callback of their own, so a sounds task is a music-family task like mashup: record-info
  ``operationType`` "sounds", text -> first -> complete callbacks, two instrumental tracks (``prompt`` "")
  of ``sound_durations`` (7.5 / 15.0 s), title from the prompt, ``tags`` "sound effect" plus "loop", "<n> BPM"
  and the key when set. ``grabLyrics`` is only recorded (a sound effect has no lyrics to fetch).
* MIDI: the contract/docs require "a completed vocal separation" without naming a type (and warn that
  ``midiData`` may be empty after split_stem); this fake, as briefed, refuses separate_vocal (422) unless
  ``midi_requires_split_stem`` is False. Instrument names / notes are invented, one instrument per stem.

Every API answer is the kie envelope ``{"code", "msg", "data"}``; errors are
HTTP 200 with an error ``code`` in the body, except the scripted HTTP-500
responses (``fail_next_submit(500, ..., http_status=500)``).

Provider flavours sharing kie's backend (``sunoapi_fake.FakeSunoApi``) subclass FakeKie and
override the "flavour hooks" (``_middlewares``, ``_reject_code``, ``_admit``, ``_on_accepted``,
``_poll_rate_limit_envelope``, ``CREDIT_PATH``, ``INSUFFICIENT_CREDITS``) and the knobs
``text_limits`` / ``lyrics_record_info_key`` / ``separation_key`` / ``costs``; their defaults are
kie's behaviour.

Only ``"complete"`` and ``"error"`` exist for the non-music kinds and replace_section;
``"text"`` and ``"first"`` are stages of the other music kinds.

Typical use::

    async with FakeKie() as kie:
        kie.auto_callbacks = False
        ...  # point the bot's client at kie.base_url with kie.api_key
        await kie.advance(task_id, "text")
        await kie.advance(task_id, "complete")
"""

from __future__ import annotations

import asyncio
import base64
import collections
import hashlib
import hmac
import json
import re
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, NamedTuple
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

__all__ = [
    "SOUND_KEYS",
    "SOUND_MODELS",
    "ApiCall",
    "CannedError",
    "Delivery",
    "FakeKie",
    "Kind",
    "LyricsVariant",
    "ManualClock",
    "Persona",
    "SoundSettings",
    "Stage",
    "StyleResult",
    "Submission",
    "Task",
    "TextLimits",
    "TooLong",
    "Track",
    "UploadFetch",
]

# --------------------------------------------------------------------------
# Contract constants
# --------------------------------------------------------------------------

Stage = Literal["text", "first", "complete", "error"]
BACKLOG: Final = 4096  # accept queue: bot processes in a rush open many connections at once
SUCCESS_STAGES: Final[tuple[str, ...]] = ("text", "first", "complete")

Kind = Literal[
    "generate", "extend", "upload_extend", "upload_cover", "add_instrumental", "add_vocals", "mashup",
    "replace_section", "sounds", "lyrics", "separation", "wav", "mp4", "cover_image", "midi",
]  # fmt: skip
# Music family (§3.1): tracks, polled at /api/v1/generate/record-info.
MUSIC_KINDS: Final[tuple[str, ...]] = (
    "generate", "extend", "upload_extend", "upload_cover", "add_instrumental", "add_vocals", "mashup",
    "replace_section", "sounds",
)  # fmt: skip
# Tracks carry source_audio_url / source_stream_audio_url / source_image_url (§3.1).
UPLOAD_KINDS: Final[tuple[str, ...]] = ("upload_extend", "upload_cover")
# Kinds whose submit makes the fake GET the caller's audio (uploadUrl, or both uploadUrlList entries).
FETCH_KINDS: Final[tuple[str, ...]] = (*UPLOAD_KINDS, "add_instrumental", "add_vocals", "mashup")
# Kinds with a single "complete" callback (everything but the text -> first -> complete music kinds).
COMPLETE_ONLY_KINDS: Final[tuple[str, ...]] = (
    "replace_section", "lyrics", "separation", "wav", "mp4", "cover_image", "midi",
)  # fmt: skip
KINDS: Final[tuple[str, ...]] = (*MUSIC_KINDS, "lyrics", "separation", "wav", "mp4", "cover_image", "midi")
# Synchronous endpoints (§2.4, §2.5): no task, no callback; the answer carries the result.
SYNC_KINDS: Final[tuple[str, ...]] = ("timestamped_lyrics", "style_boost", "persona")
ALL_KINDS: Final[tuple[str, ...]] = (*KINDS, *SYNC_KINDS)

# §4.1 status enum.
PENDING: Final = "PENDING"
TEXT_SUCCESS: Final = "TEXT_SUCCESS"
FIRST_SUCCESS: Final = "FIRST_SUCCESS"
SUCCESS: Final = "SUCCESS"
# Cover image only: §4.4 names an integer successFlag 2 = "generating" (see FakeKie.mark_generating).
GENERATING: Final = "GENERATING"
FAILURE_STATUSES: Final[frozenset[str]] = frozenset(
    {"CREATE_TASK_FAILED", "GENERATE_AUDIO_FAILED", "CALLBACK_EXCEPTION", "SENSITIVE_WORD_ERROR"}
)
# Failure values of ``status`` / ``successFlag`` per kind (§4.1-§4.4).
FAILURE_STATUSES_BY_KIND: Final[dict[str, frozenset[str]]] = {
    **{kind: FAILURE_STATUSES for kind in MUSIC_KINDS},
    "lyrics": frozenset(
        {"CREATE_TASK_FAILED", "GENERATE_LYRICS_FAILED", "CALLBACK_EXCEPTION", "SENSITIVE_WORD_ERROR"}
    ),
    "separation": frozenset({"CREATE_TASK_FAILED", "GENERATE_AUDIO_FAILED", "CALLBACK_EXCEPTION"}),
    "wav": frozenset({"CREATE_TASK_FAILED", "GENERATE_WAV_FAILED", "CALLBACK_EXCEPTION"}),
    "mp4": frozenset({"CREATE_TASK_FAILED", "GENERATE_MP4_FAILED"}),
    "cover_image": frozenset({"CREATE_TASK_FAILED", "GENERATE_COVER_FAILED"}),
    "midi": frozenset({"CREATE_TASK_FAILED", "GENERATE_MIDI_FAILED"}),
}
# §4.4: cover and MIDI record-info report ``successFlag`` as an integer, with different meanings for 2.
_INT_FLAGS: Final[dict[str, dict[str, int]]] = {
    "cover_image": {PENDING: 0, SUCCESS: 1, GENERATING: 2, "CREATE_TASK_FAILED": 3, "GENERATE_COVER_FAILED": 3},
    "midi": {PENDING: 0, SUCCESS: 1, "CREATE_TASK_FAILED": 2, "GENERATE_MIDI_FAILED": 3},
}
_STAGE_STATUS: Final[dict[str, str]] = {
    "text": TEXT_SUCCESS,
    "first": FIRST_SUCCESS,
    "complete": SUCCESS,
}
_STATUS_RANK: Final[dict[str, int]] = {PENDING: 0, TEXT_SUCCESS: 1, GENERATING: 1, FIRST_SUCCESS: 2, SUCCESS: 3}

# Callback "msg" per stage. Only the complete one is quoted by the contract.
_STAGE_MSG: Final[dict[str, str]] = {
    "text": "Text generation completed successfully.",
    "first": "First track generation completed successfully.",
    "complete": "All generated successfully.",
}
LYRICS_SUCCESS_MSG: Final = "All generated successfully."  # the contract elides the lyrics msg
SEPARATION_SUCCESS_MSG: Final = "vocal Removal generated successfully."  # §3.2 (CN page; EN elides it)
COVER_SUCCESS_MSG: Final = "success"  # §3.2 cover image
MIDI_SUCCESS_MSG: Final = "success"  # §3.2 gives the MIDI data shape only; "success" as the other kinds
# §3.1: the replace-section failure callback carries this string under data.error.
REPLACE_SECTION_ERROR: Final = "Generation failed due to technical issues"

# (code, msg, record-info status) used by fail() / fail_next_task() when not given.
_DEFAULT_FAILURE: Final[dict[str, tuple[int, str, str]]] = {
    **{kind: (501, "Audio generation failed", "GENERATE_AUDIO_FAILED") for kind in MUSIC_KINDS},
    "lyrics": (400, "Song Description flagged for moderation", "GENERATE_LYRICS_FAILED"),
    "separation": (500, "Vocal separation failed", "GENERATE_AUDIO_FAILED"),  # split_stem: see below
    "wav": (500, "WAV generation failed", "GENERATE_WAV_FAILED"),
    "mp4": (500, "MP4 generation failed", "GENERATE_MP4_FAILED"),
    "cover_image": (501, "Cover generation failed", "GENERATE_COVER_FAILED"),
    "midi": (500, "MIDI generation failed", "GENERATE_MIDI_FAILED"),
}
SPLIT_STEM_FAILURE_MSG: Final = "Instrument separation failed"


@dataclass(frozen=True)
class ModelLimits:
    """§1.1 limits for /generate (custom-mode prompt and style; title is 80 for all)."""

    custom_prompt: int
    style: int


# §1.1 / OpenAPI enum (seed 003). V3_5 and V5_5 are UNCONFIRMED there, so rejected.
MODEL_LIMITS: Final[dict[str, ModelLimits]] = {
    "V4": ModelLimits(custom_prompt=3000, style=200),
    "V4_5": ModelLimits(custom_prompt=5000, style=1000),
    "V4_5PLUS": ModelLimits(custom_prompt=5000, style=1000),
    "V4_5ALL": ModelLimits(custom_prompt=5000, style=1000),
    "V5": ModelLimits(custom_prompt=5000, style=1000),
}
NON_CUSTOM_PROMPT_MAX: Final = 500
TITLE_MAX: Final = 80
# §1.1: title on extend / upload-cover / upload-extend.
EXTEND_TITLE_MAX: Final[dict[str, int]] = {"V4": 80, "V4_5": 100, "V4_5PLUS": 100, "V4_5ALL": 80, "V5": 100}
LYRICS_PROMPT_MAX: Final = 200
MP4_FIELD_MAX: Final = 50
# add-instrumental / add-vocals (§1, §2 rows 5-6): models V4_5PLUS | V5, default V4_5PLUS; title 80.
ADD_MODELS: Final[tuple[str, ...]] = ("V4_5PLUS", "V5")
ADD_DEFAULT_MODEL: Final = "V4_5PLUS"
ADD_TITLE_MAX: Final = 80
# replace-section (§2.5): the replaced range is 6-60 s and at most half the track.
REPLACE_MIN_S: Final = 6.0
REPLACE_MAX_S: Final = 60.0
REPLACE_MAX_FRACTION: Final = 0.5
# generate-persona (§2.5): vocalStart default 0, vocalEnd default 30, window 10-30 s.
PERSONA_DEFAULT_WINDOW: Final[tuple[float, float]] = (0.0, 30.0)
PERSONA_MIN_WINDOW: Final = 10.0
PERSONA_MAX_WINDOW: Final = 30.0
PERSONA_MODELS: Final[tuple[str, ...]] = ("style_persona", "voice_persona")  # voice_persona: V5 only (§1)
TUNING_FIELDS: Final[tuple[str, ...]] = ("styleWeight", "weirdnessConstraint", "audioWeight", "vocalGender")
DEFAULT_COVER_IMAGES: Final = 2  # §2.5 "usually 2 images"
# generate-sounds [docs]: prompt <= 500; V5 (sunoapi.org) or V5_5 (docs.api.box); BPM 1-300; the key enum.
SOUND_MODELS: Final[tuple[str, ...]] = ("V5", "V5_5")
SOUND_PROMPT_MAX: Final = 500
SOUND_TEMPO_MIN: Final = 1
SOUND_TEMPO_MAX: Final = 300
SOUND_KEYS: Final[tuple[str, ...]] = (
    "Any", "Cm", "C#m", "Dm", "D#m", "Em", "Fm", "F#m", "Gm", "G#m", "Am", "A#m", "Bm",
    "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B",
)  # fmt: skip
SOUND_DEFAULT_KEY: Final = "Any"
DEFAULT_SOUND_DURATIONS: Final[tuple[float, float]] = (7.5, 15.0)  # invented: a sound effect is short


@dataclass(frozen=True)
class TextLimits:
    """Accepted models and text limits applied by the validators (kie: §1.1).

    A provider flavour of the fake (e.g. sunoapi.org, §7) swaps in its own table via
    ``FakeKie.text_limits``."""

    models: Mapping[str, ModelLimits]  # accepted ``model`` values -> custom-mode prompt / style limits
    non_custom_prompt: int
    generate_title: Mapping[str, int]  # title on /generate, per model
    extend_title: Mapping[str, int]  # title on extend / upload-cover / upload-extend, per model
    lyrics_prompt: int = LYRICS_PROMPT_MAX


KIE_TEXT_LIMITS: Final = TextLimits(
    models=MODEL_LIMITS,
    non_custom_prompt=NON_CUSTOM_PROMPT_MAX,
    generate_title={model: TITLE_MAX for model in MODEL_LIMITS},
    extend_title=EXTEND_TITLE_MAX,
    lyrics_prompt=LYRICS_PROMPT_MAX,
)


class TooLong(str):
    """A validation problem that is a text-length excess (still a plain ``str`` message).

    kie answers these with the same code as other validation problems (422); flavours
    can tell them apart (sunoapi.org answers 413)."""


SEPARATION_TYPES: Final[tuple[str, ...]] = ("separate_vocal", "split_stem")

UNAUTHORIZED_MSG: Final = "You do not have access permissions"
SUBMIT_RATE_MSG: Final = "Rate Limited - request limit exceeded (20 generation requests per 10 seconds)"
LYRICS_RATE_MSG: Final = "Call frequency too high"
POLL_RATE_MSG: Final = "Rate Limited - request limit exceeded (3 requests per second per task)"
FETCH_FAILED_MSG: Final = "Failed to fetch the music data"
MODEL_MISMATCH_MSG: Final = "Model version must match the source audio's model version"
WAV_EXISTS_MSG: Final = "WAV record already exists"
PERSONA_EXISTS_MSG: Final = "Persona already exists"  # §2.5 (409)
COVER_EXISTS_MSG: Final = "Cover already generated for this task"  # §2.5 (400 + the existing taskId)
INSUFFICIENT_CREDITS_MSG: Final = "Insufficient credits"  # kie 402 (§5.1); only when ``costs`` prices a kind

DEFAULT_AUDIO_SIZE: Final = 20 * 1024
DEFAULT_IMAGE_SIZE: Final = 2 * 1024
DEFAULT_STEM_SIZE: Final = 16 * 1024
DEFAULT_WAV_SIZE: Final = 64 * 1024
DEFAULT_VIDEO_SIZE: Final = 48 * 1024
DEFAULT_DURATIONS: Final[tuple[float, float]] = (198.44, 228.28)  # the callback example's values
DEFAULT_UPLOAD_DURATION: Final = 180.0

# Stem name -> (callback key, record-info key, originData stem_type_group_name). §3.2 / §4.3.
STEM_FIELDS: Final[dict[str, tuple[str | None, str, str]]] = {
    "instrumental": ("instrumental_url", "instrumentalUrl", "Instrumental"),
    "vocal": ("vocal_url", "vocalUrl", "Vocals"),
    "backing_vocals": ("backing_vocals_url", "backingVocalsUrl", "Backing Vocals"),
    "drums": ("drums_url", "drumsUrl", "Drums"),
    "bass": ("bass_url", "bassUrl", "Bass"),
    "guitar": ("guitar_url", "guitarUrl", "Guitar"),
    "piano": (None, "pianoUrl", "Piano"),  # record-info only; never filled by the fake
    "keyboard": ("keyboard_url", "keyboardUrl", "Keyboard"),
    "percussion": ("percussion_url", "percussionUrl", "Percussion"),
    "strings": ("strings_url", "stringsUrl", "Strings"),
    "synth": ("synth_url", "synthUrl", "Synth"),
    "fx": ("fx_url", "fxUrl", "FX"),
    "brass": ("brass_url", "brassUrl", "Brass"),
    "woodwinds": ("woodwinds_url", "woodwindsUrl", "Woodwinds"),
}
# Stem -> the General MIDI instrument name the fake reports for it in MIDI results (invented; the docs'
# examples show "Drums" and "Electric Bass (finger)").
MIDI_INSTRUMENTS: Final[dict[str, str]] = {
    "instrumental": "Acoustic Grand Piano",
    "vocal": "Synth Voice",
    "backing_vocals": "Choir Aahs",
    "drums": "Drums",
    "bass": "Electric Bass (finger)",
    "guitar": "Acoustic Guitar (steel)",
    "piano": "Acoustic Grand Piano",
    "keyboard": "Electric Piano 1",
    "percussion": "Percussive Organ",
    "strings": "String Ensemble 1",
    "synth": "Lead 1 (square)",
    "fx": "FX 1 (rain)",
    "brass": "Brass Section",
    "woodwinds": "Flute",
}
SEPARATE_VOCAL_STEMS: Final[tuple[str, ...]] = ("instrumental", "vocal")
# The 12 split_stem callback fields, in the EN page's order.
SPLIT_STEMS: Final[tuple[str, ...]] = (
    "vocal", "backing_vocals", "bass", "brass", "drums", "fx",
    "guitar", "keyboard", "percussion", "strings", "synth", "woodwinds",
)  # fmt: skip


# --------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------


@dataclass
class Track:
    """One generated song. ``index`` is its position in sunoData / the callback list."""

    index: int
    audio_id: str
    title: str
    tags: str
    duration: float
    model_name: str
    prompt: str
    create_time: str  # "YYYY-MM-DD HH:MM:SS", as in the contract's examples


class SoundSettings(NamedTuple):
    """The effective settings of a generate-sounds request (the documented defaults filled in)."""

    loop: bool = False  # soundLoop
    tempo: int | None = None  # soundTempo (BPM); None = Auto
    key: str = SOUND_DEFAULT_KEY  # soundKey
    grab_lyrics: bool = False  # grabLyrics


def sound_settings(body: Mapping[str, Any]) -> SoundSettings:
    """:class:`SoundSettings` of a (valid) generate-sounds body."""
    return SoundSettings(
        loop=bool(body.get("soundLoop", False)),
        tempo=body.get("soundTempo"),
        key=str(body.get("soundKey", SOUND_DEFAULT_KEY)),
        grab_lyrics=bool(body.get("grabLyrics", False)),
    )


@dataclass
class LyricsVariant:
    """One lyrics result (§3.2 / §4.2); tests may edit these before "complete"."""

    text: str
    title: str
    status: str = "complete"  # "complete" | "failed"
    error_message: str = ""


@dataclass
class Task:
    task_id: str
    body: dict[str, Any]
    callback_url: str
    tracks: list[Track]
    audio_size: int
    status: str = PENDING
    # Furthest success stage reached ("text" / "first" / "complete"); drives sunoData.
    stage: str | None = None
    error_code: int | None = None
    error_message: str | None = None
    audio_overrides: dict[int, bytes] = field(default_factory=dict)
    image_overrides: dict[int, bytes] = field(default_factory=dict)
    kind: str = "generate"
    model: str = ""
    # extend: the track being extended; separation / wav / mp4: the track being processed.
    source_task_id: str | None = None
    source_audio_id: str | None = None
    # upload_extend / upload_cover: what the fake fetched from uploadUrl.
    upload_bytes: bytes | None = None
    # separation
    separation_type: str | None = None
    stems: tuple[str, ...] = ()
    stem_ids: dict[str, str] = field(default_factory=dict)
    # lyrics
    lyrics: list[LyricsVariant] = field(default_factory=list)
    # Size of generated non-track files (stems / wav / video) of this task.
    file_size: int = 0
    # Per-file overrides keyed by file name ("vocal.mp3", "audio.wav", ...): bytes, or a size.
    file_overrides: dict[str, bytes | int] = field(default_factory=dict)
    result_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_at: float = 0.0  # wall clock seconds
    completed_at: float | None = None
    # Track URLs the fake hands out instead of its own (n, "audio" | "stream" | "image") → URL: an expired file,
    # or a provider naming an address the bot must not fetch.
    url_overrides: dict[tuple[int, str], str] = field(default_factory=dict)
    # generate / extend / upload-cover / upload-extend: the persona applied (personaModel defaults to
    # "style_persona" when a personaId is given).
    persona_id: str | None = None
    persona_model: str | None = None
    # The tuning options the request carried (styleWeight, weirdnessConstraint, audioWeight, vocalGender).
    tuning: dict[str, Any] = field(default_factory=dict)
    # mashup: the two files fetched from uploadUrlList, in order.
    upload_list: list[bytes] = field(default_factory=list)
    # cover_image: how many PNGs the task yields (fixed at creation from FakeKie.cover_image_count).
    image_count: int = 0
    # midi: the instruments the result reports (None = derived from the separation's stems; see set_midi).
    midi_instruments: list[dict[str, Any]] | None = None
    # sounds: soundLoop / soundTempo / soundKey / grabLyrics as requested (defaults filled in).
    sound: SoundSettings | None = None

    @property
    def done(self) -> bool:
        """Its results are in the record: SUCCESS, or CALLBACK_EXCEPTION (§4.1) once it finished."""
        return self.status == SUCCESS or (self.status == "CALLBACK_EXCEPTION" and self.stage == "complete")

    @property
    def failed(self) -> bool:
        return self.status not in _STATUS_RANK

    @property
    def is_music(self) -> bool:
        return self.kind in MUSIC_KINDS

    @property
    def upload_size(self) -> int | None:
        """Length of the bytes fetched from ``uploadUrl`` (upload kinds only)."""
        return None if self.upload_bytes is None else len(self.upload_bytes)


@dataclass
class Persona:
    """A persona made by POST /api/v1/generate/generate-persona (or :meth:`FakeKie.add_persona`), §2.5."""

    persona_id: str
    name: str
    description: str
    task_id: str  # the music task
    audio_id: str  # the track (one persona per audioId)
    vocal_start: float
    vocal_end: float
    style: str | None = None
    model: str = ""  # the source task's model


class StyleResult(NamedTuple):
    """What POST /api/v1/style/generate answers for a content (§2.4); see :meth:`FakeKie.set_style_result`."""

    result: str
    success_flag: str = "1"  # "0" pending / "1" success / "2" failed
    error_code: int | None = None
    error_message: str | None = None


@dataclass(frozen=True)
class Submission:
    """An accepted submit (any kind). For a synchronous kind ``task_id`` is the id its answer names:
    the style-boost ``taskId``, the ``personaId``, or a fake request id for timestamped lyrics."""

    task_id: str
    body: dict[str, Any]  # the request's JSON, as sent
    at: float  # FakeKie.clock() at acceptance
    kind: str = "generate"

    @property
    def sound(self) -> SoundSettings | None:
        """sounds: the soundLoop / soundTempo / soundKey / grabLyrics sent, defaults filled in (else None)."""
        return sound_settings(self.body) if self.kind == "sounds" else None


@dataclass(frozen=True)
class UploadFetch:
    """One GET of an ``uploadUrl`` by the fake (status 0 = could not connect / timed out)."""

    url: str
    status: int
    size: int | None  # bytes received when status is 2xx
    error: str | None


@dataclass(frozen=True)
class ApiCall:
    """Every request to /api/* (accepted or not): what the client sent and what it got."""

    method: str
    path_qs: str
    http_status: int
    code: int


@dataclass(frozen=True)
class CannedError:
    code: int
    msg: str
    http_status: int = 200
    data: Any = None
    kind: str | None = None  # None: the next request of any kind
    headers: Mapping[str, str] | None = None  # extra response headers (e.g. a malformed, oversized one)
    page: str | None = None  # an HTML page instead of the envelope (a proxy's error page)


@dataclass(frozen=True)
class _TaskFailurePlan:
    code: int | None
    msg: str | None
    status: str | None
    after: str | None
    kind: str | None


class _Reject(NamedTuple):
    code: int
    msg: str
    data: Any = None  # the envelope's data (e.g. the existing cover's taskId)


class Delivery(NamedTuple):
    """The callback receiver's answer (status 0 = could not connect / timed out)."""

    status: int
    body: str


class ManualClock:
    """Injectable clock for the rate limits: ``fake.clock = clk = ManualClock(); clk.advance(10)``."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class _SlidingWindow:
    def __init__(self) -> None:
        self._times: collections.deque[float] = collections.deque()

    def count(self, now: float, window: float) -> int:
        while self._times and self._times[0] <= now - window:
            self._times.popleft()
        return len(self._times)

    def add(self, now: float) -> None:
        self._times.append(now)


# --------------------------------------------------------------------------
# The fake
# --------------------------------------------------------------------------


def _envelope(code: int, msg: str, data: Any = None) -> dict[str, Any]:
    return {"code": code, "msg": msg, "data": data}


def _blob(seed: str, size: int, prefix: bytes = b"") -> bytes:
    """Deterministic bytes of exactly ``size`` length."""
    block = b"".join(hashlib.sha256(f"{seed}:{i}".encode()).digest() for i in range(128))  # 4 KiB
    body = block * (max(size - len(prefix), 0) // len(block) + 1)
    return (prefix + body)[:size]


_MP3_PREFIX: Final = b"ID3\x04\x00\x00\x00\x00\x00\x00"
_MP4_PREFIX: Final = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
_PNG_PREFIX: Final = b"\x89PNG\r\n\x1a\n"

# Submit path -> kind; record-info path -> the kinds it can see.
_SUBMIT_ROUTES: Final[dict[str, str]] = {
    "/api/v1/generate": "generate",
    "/api/v1/generate/extend": "extend",
    "/api/v1/generate/upload-extend": "upload_extend",
    "/api/v1/generate/upload-cover": "upload_cover",
    "/api/v1/lyrics": "lyrics",
    "/api/v1/vocal-removal/generate": "separation",
    "/api/v1/wav/generate": "wav",
    "/api/v1/mp4/generate": "mp4",
    "/api/v1/generate/add-instrumental": "add_instrumental",
    "/api/v1/generate/add-vocals": "add_vocals",
    "/api/v1/generate/mashup": "mashup",
    "/api/v1/generate/replace-section": "replace_section",
    "/api/v1/generate/sounds": "sounds",
    "/api/v1/suno/cover/generate": "cover_image",
    "/api/v1/midi/generate": "midi",
    "/api/v1/generate/get-timestamped-lyrics": "timestamped_lyrics",
    "/api/v1/style/generate": "style_boost",
    "/api/v1/generate/generate-persona": "persona",
}
_POLL_ROUTES: Final[dict[str, tuple[str, ...]]] = {
    "/api/v1/generate/record-info": MUSIC_KINDS,
    "/api/v1/lyrics/record-info": ("lyrics",),
    "/api/v1/vocal-removal/record-info": ("separation",),
    "/api/v1/wav/record-info": ("wav",),
    "/api/v1/mp4/record-info": ("mp4",),
    "/api/v1/suno/cover/record-info": ("cover_image",),
    "/api/v1/midi/record-info": ("midi",),
}


class FakeKie:
    """aiohttp server on 127.0.0.1 imitating api.kie.ai's Suno endpoints."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        hmac_key: str | bytes | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.api_key: str = api_key or secrets.token_hex(16)
        # §5.5: when set, every callback is signed.
        self.hmac_key: str | bytes | None = hmac_key
        # Clock for rate limits (injectable); wall clock for createTime and the webhook timestamp.
        self.clock: Callable[[], float] = clock
        self.wall_clock: Callable[[], float] = wall_clock

        # Behaviour knobs.
        self.auto_callbacks: bool = True
        self.auto_stages: tuple[str, ...] = SUCCESS_STAGES  # music only; e.g. ("complete",) per §2.1
        self.stage_delay: float = 0.0  # seconds slept before each auto stage
        self.audio_size: int = DEFAULT_AUDIO_SIZE  # for tasks created from now on
        self.image_size: int = DEFAULT_IMAGE_SIZE
        self.stem_size: int = DEFAULT_STEM_SIZE  # for separation tasks created from now on
        self.wav_size: int = DEFAULT_WAV_SIZE  # for WAV tasks created from now on
        self.video_size: int = DEFAULT_VIDEO_SIZE  # for MP4 tasks created from now on
        self.track_durations: tuple[float, float] = DEFAULT_DURATIONS
        self.sound_durations: tuple[float, ...] = DEFAULT_SOUND_DURATIONS  # sounds tasks' tracks (one per entry)
        # Duration the fake attributes to any fetched upload (bounds continueAt on upload-extend).
        self.upload_duration: float = DEFAULT_UPLOAD_DURATION
        self.upload_fetch_timeout: float = 10.0
        # At FIRST_SUCCESS / in the "first" callback, is track 0's audioUrl already filled?
        self.first_stage_has_audio_url: bool = False
        # §3.1: the extend page shows ``"data": []`` in the error callback instead of null.
        self.extend_error_data_list: bool = False
        self.lyrics_variants: int = 2  # 2 or 3 per §2 row 7
        # §3.2: the EN page says vocal_separation_info, the CN page / sunoapi.org vocal_removal_info.
        self.separation_key: str = "vocal_separation_info"
        # split_stem: which of SPLIT_STEMS come back (tasks created from now on).
        self.split_stems: tuple[str, ...] = SPLIT_STEMS
        # split_stem callback: absent stems as ``null`` (False) or left out of the object (True).
        self.omit_absent_stems: bool = False
        # §3.2 quirk: mp4 success is 200 in the callback example, 0 in the schema.
        self.mp4_success_code: int = 200
        # §5.1 lyrics table: 405 "rate limit exceeded" or 430 "call frequency too high".
        self.lyrics_rate_limit_code: int = 430
        # §1.1 accepted models and text limits used by submit validation.
        self.text_limits: TextLimits = KIE_TEXT_LIMITS
        # §4.2: lyrics record-info results live under response[<this key>] (kie: "data").
        self.lyrics_record_info_key: str = "data"
        self.credits: int = 1000
        # Credits an accepted request costs, by kind (separation: by ``type``, "separate_vocal" /
        # "split_stem"); unlisted kinds are free. kie's prices are UNCONFIRMED (§6), so kie bills nothing
        # unless a test prices a kind; a flavour (sunoapi.org) sets its own table. A priced request the
        # balance cannot cover is refused (kie: 402 "Insufficient credits") and not counted.
        self.costs: dict[str, int] = {}
        self.refund_on_failure: bool = False  # give a failed task's credits back (before its error callback)
        # (max requests, window seconds); None disables the limit. Shared by every submit endpoint, the
        # synchronous ones (timestamped lyrics, style boost, persona) included, except ``rate_exempt_kinds``.
        self.submit_rate_limit: tuple[int, float] | None = (20, 10.0)
        self.rate_exempt_kinds: set[str] = set()
        self.poll_rate_limit: tuple[int, float] | None = (3, 1.0)
        self.callback_timeout: float = 15.0  # §5.4
        # §3.1: add-vocals track items "may lack tags": True leaves ``tags`` out of callbacks / record-info.
        self.add_vocals_omit_tags: bool = False
        # §3.1: data.error of a replace-section failure callback.
        self.replace_section_error: str = REPLACE_SECTION_ERROR
        self.cover_image_count: int = DEFAULT_COVER_IMAGES  # PNGs per cover task (tasks created from now on)
        # MIDI needs a finished separation (§2 row 23); by default only a split_stem one is accepted
        # (the docs themselves name no type, see the module doc). False also accepts separate_vocal.
        self.midi_requires_split_stem: bool = True
        # §3.2: MIDI note start/end "may be string or number": True sends them as strings in callbacks.
        self.midi_times_as_strings: bool = False

        # Observations.
        self.submissions: list[Submission] = []  # accepted submits of every kind
        self.tasks: dict[str, Task] = {}
        self.polls: dict[str, int] = {}
        self.downloads: list[str] = []
        self.uploads: list[UploadFetch] = []
        self.callback_results: list[tuple[str, str, int]] = []
        self.api_calls: list[ApiCall] = []
        self.personas: dict[str, Persona] = {}  # personaId -> persona
        self.charges: dict[str, int] = {}  # task (or answer) id -> credits deducted when it was accepted
        self.refunds: dict[str, int] = {}  # task id -> credits given back
        # Exceptions raised inside auto-callback runs; drain() re-raises the first one.
        self.background_errors: list[BaseException] = []

        self._submit_failures: list[CannedError] = []
        # accepted submits whose answer is then lost: (when to drop it, set once the task exists)
        self._lost_answers: list[tuple[asyncio.Event | None, asyncio.Event]] = []
        self._poll_failures: list[CannedError] = []
        self._task_failures: list[_TaskFailurePlan] = []
        self._tracks_by_id: dict[str, tuple[str, int]] = {}
        self._expired: set[str] = set()  # tasks whose files the retention deleted (see expire)
        self._aligned: dict[str, dict[str, Any]] = {}  # audioId -> scripted timestamped-lyrics answer
        self._style_results: dict[str, StyleResult] = {}  # content -> scripted style-boost answer
        self._submit_window = _SlidingWindow()
        self._poll_windows: dict[str, _SlidingWindow] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._port: int | None = None

    # ---------------------------------------------------------------- lifecycle

    # §2 row 17. A flavour with another credits path overrides this.
    CREDIT_PATH: str = "/api/v1/chat/credit"

    async def start(self) -> None:
        app = web.Application(middlewares=self._middlewares())
        for path, kind in _SUBMIT_ROUTES.items():
            app.router.add_post(path, self._submit_handler(kind))
        for path, kinds in _POLL_ROUTES.items():
            app.router.add_get(path, self._poll_handler(kinds))
        app.router.add_get(self.CREDIT_PATH, self._handle_credit)
        app.router.add_get("/files/{task_id}/{name}", self._handle_file)
        app.router.add_get("/stream/{task_id}/{n}", self._handle_stream)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=BACKLOG)
        await site.start()
        self._port = int(self._runner.addresses[0][1])
        self._session = aiohttp.ClientSession()

    async def stop(self) -> None:
        for bg in list(self._background):
            bg.cancel()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        self._background.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeKie:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        if self._port is None:
            raise RuntimeError("FakeKie not started")
        return f"http://127.0.0.1:{self._port}"

    async def drain(self) -> None:
        """Wait until every background (auto-callback) run has finished.

        Re-raises the first exception an auto run hit (callback delivery problems are
        not exceptions: they show up as status 0 in ``callback_results``)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)
        if self.background_errors:
            raise self.background_errors[0]

    # ---------------------------------------------------------------- scripting

    def fail_next_submit(
        self, code: int, msg: str, *, http_status: int = 200, data: Any = None, kind: str | None = None,
        headers: Mapping[str, str] | None = None, page: str | None = None,
    ) -> None:
        """Queue a canned envelope ``{"code", "msg", "data"}`` for the next authorised submit
        (of ``kind`` if given, else of any kind), with extra response ``headers`` if given, or an HTML ``page``
        instead of the envelope (as a proxy in front of the provider would answer). ``kind`` may also be a
        synchronous kind ("timestamped_lyrics", "style_boost", "persona")."""
        _check_kind(kind, sync_ok=True)
        self._submit_failures.append(CannedError(code, msg, http_status, data, kind, headers, page))

    def lose_next_submit_answer(self, *, hold: asyncio.Event | None = None) -> asyncio.Event:
        """The next accepted submit creates its task (and will call back), but the connection drops before the
        answer leaves (once ``hold`` is set, if given): the client cannot know whether it was taken. Returns
        an event set once that task exists."""
        taken = asyncio.Event()
        self._lost_answers.append((hold, taken))
        return taken

    def fail_next_poll(self, code: int, msg: str, *, http_status: int = 200, kind: str | None = None,
                       headers: Mapping[str, str] | None = None) -> None:
        """Queue a canned envelope for the next authorised record-info request (for a task of
        ``kind`` if given; a kind-filtered entry only fires once the taskId is resolved)."""
        _check_kind(kind)
        self._poll_failures.append(CannedError(code, msg, http_status, None, kind, headers))

    def fail_next_task(
        self,
        code: int | None = None,
        msg: str | None = None,
        *,
        status: str | None = None,
        after: str | None = None,
        kind: str | None = None,
    ) -> None:
        """With auto_callbacks: the next accepted task (of ``kind`` if given) runs auto stages
        up to and including ``after`` (None = none; music only) and then fails like :meth:`fail`.
        ``code`` / ``msg`` / ``status`` default per kind (see :meth:`fail`)."""
        _check_kind(kind)
        if status is not None:
            allowed = FAILURE_STATUSES_BY_KIND[kind] if kind else frozenset().union(*FAILURE_STATUSES_BY_KIND.values())
            if status not in allowed:
                raise ValueError(f"not a failure status{f' for {kind}' if kind else ''}: {status}")
        self._task_failures.append(_TaskFailurePlan(code, msg, status, after, kind))

    def set_audio(self, task_id: str, n: int, data: bytes) -> None:
        self._task(task_id).audio_overrides[n] = data

    def set_image(self, task_id: str, n: int, data: bytes) -> None:
        self._task(task_id).image_overrides[n] = data

    def set_track_url(self, task_id: str, n: int, which: str, url: str) -> None:
        """Name ``url`` as track ``n``'s ``which`` ("audio", "stream" or "image") URL in callbacks and
        record-info from now on."""
        if which not in ("audio", "stream", "image"):
            raise ValueError(f"unknown URL kind {which!r}")
        self._task(task_id).url_overrides[(n, which)] = url

    def expire(self, task_id: str) -> None:
        """The retention ran out for ``task_id`` (14 days, contract §5.3): its files answer 404 from now on,
        and its tracks can no longer be extended by audio id, have a section replaced or give a persona (404)."""
        self._task(task_id)
        self._expired.add(task_id)

    def set_file_bytes(self, url: str, data: bytes) -> None:
        """Serve ``data`` at ``url`` (any URL the fake hands out) from now on."""
        task, name = self._resolve_url(url)
        self._set_override(task, name, data)

    def set_file_size(self, url: str, size: int) -> None:
        """Serve generated content of exactly ``size`` bytes at ``url`` from now on."""
        task, name = self._resolve_url(url)
        self._set_override(task, name, size)

    def mark_generating(self, task_id: str) -> None:
        """A cover task is being generated: its record-info ``successFlag`` becomes 2 (§4.4) until it
        completes or fails. Cover tasks only (MIDI's 2 means "create failed")."""
        task = self._task(task_id)
        if task.kind != "cover_image":
            raise ValueError(f"only cover_image tasks have a 'generating' state (not {task.kind})")
        if not task.failed and task.status == PENDING:
            task.status = GENERATING

    def set_midi(self, task_id: str, instruments: list[dict[str, Any]]) -> None:
        """The instruments (``[{name, notes:[{pitch,start,end,velocity}]}]``) a MIDI task reports; ``[]`` gives
        the empty ``midiData`` the docs warn about after split_stem (§4.4)."""
        task = self._task(task_id)
        if task.kind != "midi":
            raise ValueError(f"task {task_id} is a {task.kind} task, not midi")
        task.midi_instruments = [dict(i) for i in instruments]

    def add_persona(
        self, audio_id: str, name: str = "Fake Persona", description: str = "A persona made by the fake", *,
        vocal_start: float = PERSONA_DEFAULT_WINDOW[0], vocal_end: float = PERSONA_DEFAULT_WINDOW[1],
        style: str | None = None, persona_id: str | None = None,
    ) -> Persona:
        """Register a persona for a known track without the HTTP call (no checks, no billing); returns it.
        Its ``persona_id`` is then accepted as ``personaId``."""
        task, _ = self.find_track(audio_id)
        persona = Persona(persona_id or secrets.token_hex(16), name, description, task.task_id, audio_id,
                          vocal_start, vocal_end, style, task.model)
        self.personas[persona.persona_id] = persona
        return persona

    def set_timestamped_lyrics(
        self, audio_id: str, aligned_words: list[dict[str, Any]], *, waveform_data: list[float] | None = None,
        hoot_cer: float | None = None, is_streamed: bool | None = None,
    ) -> None:
        """What get-timestamped-lyrics answers for ``audio_id`` from now on (§2.4): ``aligned_words`` as
        ``[{word, success, startS, endS, palign}]``; the other fields keep their derived values unless given.
        Without this the words are derived from the track's lyrics (``Track.prompt``, editable) spread over its
        duration; see :meth:`timestamped_lyrics`."""
        self.find_track(audio_id)
        answer = self._derived_timestamped_lyrics(audio_id)
        answer["alignedWords"] = [dict(w) for w in aligned_words]
        if waveform_data is not None:
            answer["waveformData"] = list(waveform_data)
        if hoot_cer is not None:
            answer["hootCer"] = hoot_cer
        if is_streamed is not None:
            answer["isStreamed"] = is_streamed
        self._aligned[audio_id] = answer

    def set_style_result(
        self, content: str, result: str, *, success_flag: str = "1", error_code: int | None = None,
        error_message: str | None = None,
    ) -> None:
        """What POST /api/v1/style/generate answers for ``content`` from now on (default: derived, see
        :meth:`style_result`); e.g. ``success_flag="2"`` for a failed boost inside a code-200 answer."""
        self._style_results[content] = StyleResult(result, success_flag, error_code, error_message)

    # ---------------------------------------------------------------- inspection

    def task(self, task_id: str) -> Task:
        return self._task(task_id)

    @property
    def last_task_id(self) -> str:
        """The task id of the last accepted submit that made a task (synchronous kinds make none)."""
        for sub in reversed(self.submissions):
            if sub.kind not in SYNC_KINDS:
                return sub.task_id
        raise LookupError("no accepted submissions yet")

    def submissions_of(self, kind: str) -> list[Submission]:
        _check_kind(kind, sync_ok=True)
        return [s for s in self.submissions if s.kind == kind]

    def cost_of(self, kind: str, body: Mapping[str, Any]) -> int:
        """Credits an accepted request of ``kind`` costs (separation: by ``type``); 0 when unpriced."""
        key = str(body.get("type")) if kind == "separation" else kind
        return self.costs.get(key, 0)

    def persona_for(self, audio_id: str) -> Persona | None:
        """The persona made from ``audio_id``, if any (one per audioId, §2.5)."""
        return next((p for p in self.personas.values() if p.audio_id == audio_id), None)

    def cover_task_for(self, music_task_id: str) -> Task | None:
        """The live (not failed) cover-image task of a music task, if any (one cover set per task, §2.5)."""
        return next(
            (t for t in self.tasks.values()
             if t.kind == "cover_image" and t.source_task_id == music_task_id and not t.failed),
            None,
        )  # fmt: skip

    def timestamped_lyrics(self, audio_id: str) -> dict[str, Any]:
        """The ``data`` get-timestamped-lyrics answers for ``audio_id`` (§2.4): scripted by
        :meth:`set_timestamped_lyrics`, else derived from the track's lyrics - every word of ``Track.prompt``
        (a ``[Section]`` marker is glued to the word after it, as ``"[Verse]\\nword"``) gets an equal slot of
        the track's duration: ``startS = i*slot``, ``endS = (i+0.9)*slot`` (2 decimals), ``success`` true,
        ``palign`` 0. An instrumental track (empty lyrics) has no words."""
        self.find_track(audio_id)
        if audio_id in self._aligned:
            return json.loads(json.dumps(self._aligned[audio_id]))
        return self._derived_timestamped_lyrics(audio_id)

    def style_result(self, content: str) -> StyleResult:
        """What a style boost of ``content`` answers: scripted by :meth:`set_style_result`, else a richer text
        derived from it (the comma-separated tags, joined, plus a fixed description)."""
        if content in self._style_results:
            return self._style_results[content]
        return StyleResult(_boost_style(content))

    def midi_instruments(self, task_id: str) -> list[dict[str, Any]]:
        """The instruments a MIDI task reports (scripted by :meth:`set_midi`, else derived from the stems)."""
        task = self._task(task_id)
        if task.kind != "midi":
            raise ValueError(f"task {task_id} is a {task.kind} task, not midi")
        if task.midi_instruments is not None:
            return [dict(i) for i in task.midi_instruments]
        return _derive_midi(task, self._task(str(task.source_task_id)))

    @property
    def separations(self) -> list[Submission]:
        """Accepted POST /api/v1/vocal-removal/generate requests."""
        return self.submissions_of("separation")

    def separation_count(self, audio_id: str, type: str | None = None) -> int:  # noqa: A002 - the API's name
        """How many separations were accepted for ``audio_id`` (of ``type`` if given)."""
        return sum(
            1
            for s in self.separations
            if s.body.get("audioId") == audio_id and (type is None or s.body.get("type") == type)
        )

    def separation_counts(self) -> collections.Counter[tuple[str, str]]:
        """Accepted separations per (audioId, type)."""
        return collections.Counter((str(s.body.get("audioId")), str(s.body.get("type"))) for s in self.separations)

    def find_track(self, audio_id: str) -> tuple[Task, Track]:
        """The music task and track an ``audioId`` belongs to."""
        try:
            task_id, n = self._tracks_by_id[audio_id]
        except KeyError:
            raise KeyError(f"unknown audioId {audio_id!r}") from None
        task = self._task(task_id)
        return task, task.tracks[n]

    def audio_bytes(self, task_id: str, n: int) -> bytes:
        task = self._task(task_id)
        if n in task.audio_overrides:
            return task.audio_overrides[n]
        return _blob(f"audio:{task_id}:{n}", task.audio_size, prefix=_MP3_PREFIX)

    def image_bytes(self, task_id: str, n: int) -> bytes:
        task = self._task(task_id)
        if n in task.image_overrides:
            return task.image_overrides[n]
        return _jpeg(f"image:{task_id}:{n}", self.image_size)

    def file_bytes(self, url: str) -> bytes:
        """The bytes the fake serves at ``url`` (absolute URL or path) - any file it hands out."""
        task, name = self._resolve_url(url)
        found = self._file(task, name)
        if found is None:
            raise KeyError(f"no file at {url!r}")
        return found[0]

    def file_urls(self, task_id: str) -> list[str]:
        """Every result-file URL of the task (tracks' mp3/jpeg, sources, stems, wav, video)."""
        task = self._task(task_id)
        urls: list[str] = []
        if task.is_music:
            for t in task.tracks:
                urls += [self.audio_url(task_id, t.index), self.image_url(task_id, t.index)]
            if task.kind in UPLOAD_KINDS:
                urls += [self.source_audio_url(task_id), self.source_image_url(task_id)]
        elif task.kind == "separation":
            urls += [self.stem_url(task_id, s) for s in task.stems]
        elif task.kind == "wav":
            urls.append(self.wav_url(task_id))
        elif task.kind == "mp4":
            urls.append(self.video_url(task_id))
        elif task.kind == "cover_image":
            urls += [self.cover_image_url(task_id, n) for n in range(task.image_count)]
        return urls

    def audio_url(self, task_id: str, n: int) -> str:
        return f"{self.base_url}/files/{task_id}/{n}.mp3"

    def image_url(self, task_id: str, n: int) -> str:
        return f"{self.base_url}/files/{task_id}/{n}.jpeg"

    def stream_url(self, task_id: str, n: int) -> str:
        return f"{self.base_url}/stream/{task_id}/{n}"

    def source_audio_url(self, task_id: str) -> str:
        return f"{self.base_url}/files/{task_id}/source.mp3"

    def source_stream_url(self, task_id: str) -> str:
        return f"{self.base_url}/stream/{task_id}/source"

    def source_image_url(self, task_id: str) -> str:
        return f"{self.base_url}/files/{task_id}/source.jpeg"

    def stem_url(self, task_id: str, stem: str) -> str:
        return f"{self.base_url}/files/{task_id}/{stem}.mp3"

    def wav_url(self, task_id: str) -> str:
        return f"{self.base_url}/files/{task_id}/audio.wav"

    def video_url(self, task_id: str) -> str:
        return f"{self.base_url}/files/{task_id}/video.mp4"

    def cover_image_url(self, task_id: str, n: int) -> str:
        return f"{self.base_url}/files/{task_id}/{n}.png"

    # ---------------------------------------------------------------- signing

    def sign(self, task_id: str, timestamp: int | str) -> str:
        """§5.5: base64(HMAC-SHA256(key, f"{task_id}.{timestamp}"))."""
        if self.hmac_key is None:
            raise RuntimeError("hmac_key is not set")
        key = self.hmac_key.encode() if isinstance(self.hmac_key, str) else self.hmac_key
        digest = hmac.new(key, f"{task_id}.{timestamp}".encode(), hashlib.sha256).digest()
        return base64.b64encode(digest).decode("ascii")

    def signed_headers(self, task_id: str, timestamp: int | None = None) -> dict[str, str]:
        """Headers a callback would carry (signature ones only if hmac_key is set)."""
        headers = {"Content-Type": "application/json"}
        if self.hmac_key is not None:
            ts = str(int(self.wall_clock()) if timestamp is None else timestamp)
            headers["X-Webhook-Timestamp"] = ts
            headers["X-Webhook-Signature"] = self.sign(task_id, ts)
        return headers

    # ---------------------------------------------------------------- task control

    def callback_body(self, task_id: str, stage: str) -> dict[str, Any]:
        """The callback JSON for ``stage``: §3.1 for the music kinds ("text", "first",
        "complete", "error"; replace_section: "complete", "error"), §3.2 for the others
        ("complete", "error")."""
        task = self._task(task_id)
        if stage == "error":
            return self._error_body(task)
        if task.kind in COMPLETE_ONLY_KINDS and stage != "complete":
            raise ValueError(f"unknown stage {stage!r} for a {task.kind} task (use 'complete' or 'error')")
        if not task.is_music:
            return self._complete_body(task)
        if stage not in _STAGE_MSG:
            raise ValueError(f"unknown stage {stage!r}")
        tracks = [self._track_snake(task, t, stage) for t in self._visible_tracks(task, stage)]
        return _envelope(200, _STAGE_MSG[stage], {"callbackType": stage, "task_id": task_id, "data": tracks})

    async def advance(self, task_id: str, stage: str, *, deliver: bool = True) -> Delivery | None:
        """Move the task to ``stage`` (record-info changes) and POST that stage's callback.

        Non-music kinds (and replace_section) only have "complete". Status never moves backwards and
        a failed task stays failed; the callback is still delivered in those cases (useful for
        out-of-order / late-callback tests). A task submitted without a callBackUrl (replace-section
        allows that, §2.5) changes state and delivers nothing (returns None).
        """
        task = self._task(task_id)
        if stage not in _STAGE_STATUS:
            raise ValueError(f"unknown stage {stage!r} (use fail() for errors)")
        if task.kind in COMPLETE_ONLY_KINDS and stage != "complete":
            raise ValueError(f"stage {stage!r} is music-only (the text/first/complete kinds); "
                             f"a {task.kind} task only has 'complete'")
        new_status = _STAGE_STATUS[stage]
        if not task.failed and _STATUS_RANK[new_status] > _STATUS_RANK[task.status]:
            task.status = new_status
            task.stage = stage
            if new_status == SUCCESS:
                task.completed_at = self.wall_clock()
        if not deliver or not task.callback_url:
            return None
        return await self._deliver(task, stage)

    async def fail(
        self,
        task_id: str,
        code: int | None = None,
        msg: str | None = None,
        status: str | None = None,
        deliver: bool = True,
    ) -> Delivery | None:
        """Put the task in a failure status and POST the error callback.

        Defaults per kind: music 501 "Audio generation failed" GENERATE_AUDIO_FAILED;
        lyrics 400 "Song Description flagged for moderation" GENERATE_LYRICS_FAILED;
        separation 500 "Vocal separation failed" / "Instrument separation failed"
        GENERATE_AUDIO_FAILED; wav 500 GENERATE_WAV_FAILED; mp4 500 GENERATE_MP4_FAILED;
        cover_image 501 "Cover generation failed" GENERATE_COVER_FAILED (successFlag 3);
        midi 500 "MIDI generation failed" GENERATE_MIDI_FAILED (successFlag 3; CREATE_TASK_FAILED is 2).
        With ``refund_on_failure`` the task's charge is given back (once) before the callback.
        """
        task = self._task(task_id)
        d_code, d_msg, d_status = self._failure_defaults(task)
        status = d_status if status is None else status
        if status not in FAILURE_STATUSES_BY_KIND[task.kind]:
            raise ValueError(f"not a failure status for {task.kind}: {status}")
        task.status = status
        task.error_code = d_code if code is None else code
        task.error_message = d_msg if msg is None else msg
        if self.refund_on_failure and task_id not in self.refunds:
            amount = self.charges.get(task_id, 0)
            self.refunds[task_id] = amount
            self.credits += amount
        if not deliver or not task.callback_url:
            return None
        return await self._deliver(task, "error")

    def finish_without_callback(self, task_id: str) -> None:
        """The task finishes but its callback cannot be delivered (e.g. a poll-only callBackUrl that never
        resolves): record-info shows ``CALLBACK_EXCEPTION`` (§4.1-§4.4) with the finished results. Cover and
        MIDI record-info have no such value (integer successFlag): they show 1 (success)."""
        task = self._task(task_id)
        status = SUCCESS if task.kind in _INT_FLAGS else "CALLBACK_EXCEPTION"
        task.status, task.stage, task.completed_at = status, "complete", self.wall_clock()

    async def resend(self, task_id: str, stage: str) -> Delivery:
        """Re-POST a stage's callback without changing state (duplicate delivery)."""
        task = self._task(task_id)
        if not task.callback_url:
            raise ValueError(f"task {task_id} was submitted without a callBackUrl")
        return await self._deliver(task, stage)

    # ---------------------------------------------------------------- flavour hooks
    # Defaults keep kie.ai's behaviour; provider flavours (sunoapi_fake.py) override them.

    def _middlewares(self) -> list[Callable[..., Awaitable[web.StreamResponse]]]:
        """aiohttp middlewares of the fake's app (kie: none)."""
        return []

    def _reject_code(self, code: int, msg: str) -> int:
        """Body ``code`` for a rejection the fake decides itself (never for scripted ones)."""
        return code

    # The refusal of a priced request the balance cannot cover (kie: 402, §5.1).
    INSUFFICIENT_CREDITS: tuple[int, str] = (402, INSUFFICIENT_CREDITS_MSG)

    def _admit(self, kind: str, body: dict[str, Any]) -> _Reject | None:
        """Last check of a valid, in-rate submit before it is accepted: the balance covers its cost."""
        cost = self.cost_of(kind, body)
        if cost > 0 and cost > self.credits:
            return _Reject(*self.INSUFFICIENT_CREDITS)
        return None

    def _on_accepted(self, task: Task) -> None:
        """Called once per accepted submit, right after its task is created and charged (kie: no-op)."""

    def _poll_rate_limit_envelope(self) -> dict[str, Any]:
        """Answer to a record-info request over the per-task poll rate (kie: 429)."""
        return _envelope(429, POLL_RATE_MSG)

    # ---------------------------------------------------------------- HTTP handlers

    def _submit_handler(self, kind: str) -> Callable[[web.Request], Coroutine[Any, Any, web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            return await self._handle_submit(request, kind)

        return handle

    def _poll_handler(self, kinds: tuple[str, ...]) -> Callable[[web.Request], Coroutine[Any, Any, web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            return await self._handle_record_info(request, kinds)

        return handle

    async def _handle_submit(self, request: web.Request, kind: str) -> web.StreamResponse:
        if not self._authorized(request):
            return self._reply(request, _envelope(401, UNAUTHORIZED_MSG))
        canned = _pop_matching(self._submit_failures, kind)
        if canned is not None and canned.page is not None:
            self.api_calls.append(ApiCall(request.method, request.path_qs, canned.http_status, canned.code))
            return web.Response(text=canned.page, status=canned.http_status, content_type="text/html")
        if canned is not None:
            return self._reply(request, _envelope(canned.code, canned.msg, canned.data), canned.http_status,
                               canned.headers)

        if self._rate_limited(kind):
            return self._reply(request, self._rate_limit_envelope(kind))

        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            msg = "Invalid request body: not valid JSON"
            return self._reply(request, _envelope(self._reject_code(400, msg), msg))
        if not isinstance(body, dict):
            msg = "Invalid request body: expected a JSON object"
            return self._reply(request, _envelope(self._reject_code(400, msg), msg))

        prepared = await self._prepare(kind, body)
        if isinstance(prepared, _Reject):
            code = self._reject_code(prepared.code, prepared.msg)
            return self._reply(request, _envelope(code, prepared.msg, prepared.data))
        # The upload fetch awaited: re-check the window right before counting this request.
        if self._rate_limited(kind):
            return self._reply(request, self._rate_limit_envelope(kind))
        refused = self._admit(kind, body)
        if refused is not None:
            return self._reply(request, _envelope(refused.code, refused.msg, refused.data))

        now = self.clock()
        if kind not in self.rate_exempt_kinds:
            self._submit_window.add(now)
        if kind in SYNC_KINDS:
            answer_id, data = self._answer_sync(kind, body, prepared)
            self.submissions.append(Submission(answer_id, body, now, kind))
            return self._reply(request, _envelope(200, "success", data))
        task = self._create_task(kind, body, **prepared)
        self._charge(task.task_id, kind, body)
        self.submissions.append(Submission(task.task_id, body, now, kind))
        self._on_accepted(task)
        if self._lost_answers:
            hold, taken = self._lost_answers.pop(0)
            taken.set()
            if hold is not None:
                await hold.wait()
            assert request.transport is not None
            request.transport.abort()
            if self.auto_callbacks:  # the task runs whether or not its answer arrived
                self._spawn(self._auto_run(task))
            return web.Response(status=200)  # never sent: the connection is gone

        response = self._reply(request, _envelope(200, "success", {"taskId": task.task_id}))
        if not self.auto_callbacks:
            return response
        # Flush the submit answer before the first callback can leave.
        try:
            await response.prepare(request)
            await response.write_eof()
        except ConnectionError:  # the client is gone (killed mid-submit): the task runs all the same
            pass
        self._spawn(self._auto_run(task))
        return response

    async def _handle_record_info(self, request: web.Request, kinds: tuple[str, ...]) -> web.Response:
        if not self._authorized(request):
            return self._reply(request, _envelope(401, UNAUTHORIZED_MSG))
        canned = _pop_matching(self._poll_failures, None, any_only=True)
        if canned is not None:
            return self._reply(request, _envelope(canned.code, canned.msg, canned.data), canned.http_status,
                               canned.headers)
        task_id = request.query.get("taskId", "")
        if not task_id:
            msg = "taskId is required"
            return self._reply(request, _envelope(self._reject_code(422, msg), msg))
        task = self.tasks.get(task_id)
        if task is None or task.kind not in kinds:
            msg = f"Task not found: {task_id}"
            return self._reply(request, _envelope(self._reject_code(404, msg), msg))
        canned = _pop_matching(self._poll_failures, task.kind, kind_only=True)
        if canned is not None:
            return self._reply(request, _envelope(canned.code, canned.msg, canned.data), canned.http_status,
                               canned.headers)

        self.polls[task_id] = self.polls.get(task_id, 0) + 1
        if self.poll_rate_limit is not None:
            limit, window = self.poll_rate_limit
            now = self.clock()
            win = self._poll_windows.setdefault(task_id, _SlidingWindow())
            if win.count(now, window) >= limit:
                return self._reply(request, self._poll_rate_limit_envelope())
            win.add(now)
        return self._reply(request, _envelope(200, "success", self.record_info_data(task_id)))

    async def _handle_credit(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._reply(request, _envelope(401, UNAUTHORIZED_MSG))
        return self._reply(request, _envelope(200, "success", self.credits))

    async def _handle_file(self, request: web.Request) -> web.Response:
        task = self.tasks.get(request.match_info["task_id"])
        if request.match_info["task_id"] in self._expired:
            raise web.HTTPNotFound()
        found = self._file(task, request.match_info["name"]) if task is not None else None
        if found is None:
            raise web.HTTPNotFound()
        return self._serve(request, *found)

    async def _handle_stream(self, request: web.Request) -> web.Response:
        task = self.tasks.get(request.match_info["task_id"])
        if request.match_info["task_id"] in self._expired:
            raise web.HTTPNotFound()
        n = request.match_info["n"]
        found = None
        if task is not None and task.is_music and (n == "source" or n.isdigit()):
            found = self._file(task, f"{n}.mp3")
        if found is None:
            raise web.HTTPNotFound()
        return self._serve(request, *found)

    # ---------------------------------------------------------------- submit preparation

    async def _prepare(self, kind: str, body: dict[str, Any]) -> _Reject | dict[str, Any]:
        """Validate a submit; on success return extra keyword arguments for _create_task (for a
        synchronous kind: what _answer_sync needs)."""
        if kind == "generate":
            problem = validate_generate(body, limits=self.text_limits)
            return _Reject(422, problem) if problem else self._check_persona(kind, body)
        if kind == "extend":
            problem = validate_extend(body, limits=self.text_limits)
            if problem:
                return _Reject(422, problem)
            if body["audioId"] not in self._tracks_by_id or self._tracks_by_id[body["audioId"]][0] in self._expired:
                return _Reject(404, f"audioId not found: {body['audioId']}")
            source_task, source = self.find_track(body["audioId"])
            if body["model"] != source_task.model:
                return _Reject(422, MODEL_MISMATCH_MSG)
            reject = _check_continue_at(body, source.duration)
            if reject:
                return reject
            persona = self._check_persona(kind, body)
            if isinstance(persona, _Reject):
                return persona
            return {"source_task_id": source_task.task_id, "source_audio_id": source.audio_id, **persona}
        if kind in FETCH_KINDS:
            problem = _FETCH_VALIDATORS[kind](body, limits=self.text_limits)
            if problem:
                return _Reject(422, problem)
            persona = self._check_persona(kind, body) if kind in UPLOAD_KINDS else {}
            if isinstance(persona, _Reject):
                return persona
            urls = [str(u) for u in body["uploadUrlList"]] if kind == "mashup" else [str(body["uploadUrl"])]
            fetched: list[bytes] = []
            for url in urls:
                data = await self._fetch_upload(url)
                if data is None:
                    return _Reject(451, FETCH_FAILED_MSG)
                fetched.append(data)
            if kind == "upload_extend":
                reject = _check_continue_at(body, self.upload_duration)
                if reject:
                    return reject
            if kind == "mashup":
                return {"upload_list": fetched}
            return {"upload_bytes": fetched[0], **persona}
        if kind == "lyrics":
            return validate_lyrics(body, limits=self.text_limits) or {}
        if kind == "replace_section":
            return self._prepare_replace_section(body)
        if kind == "sounds":
            problem = validate_sounds(body)
            return _Reject(422, problem) if problem else {"sound": sound_settings(body)}
        if kind == "cover_image":
            return self._prepare_cover(body)
        if kind == "midi":
            return self._prepare_midi(body)
        if kind in SYNC_KINDS:
            return self._prepare_sync(kind, body)
        # separation / wav / mp4: taskId + audioId of a finished music track.
        problem = validate_track_request(kind, body)
        if problem:
            return _Reject(422, problem)
        source_task = self.tasks.get(body["taskId"])
        if source_task is None or not source_task.is_music:
            return _Reject(404, f"Task not found: {body['taskId']}")
        if not any(t.audio_id == body["audioId"] for t in source_task.tracks):
            return _Reject(404, f"audioId {body['audioId']} not found in task {body['taskId']}")
        if source_task.status != SUCCESS:
            return _Reject(422, f"The music task {body['taskId']} has not completed successfully")
        if kind == "wav" and any(
            t.kind == "wav" and t.source_audio_id == body["audioId"] and not t.failed for t in self.tasks.values()
        ):
            return _Reject(409, WAV_EXISTS_MSG)
        return {"source_task_id": source_task.task_id, "source_audio_id": body["audioId"]}

    def _check_persona(self, kind: str, body: dict[str, Any]) -> _Reject | dict[str, Any]:
        """``personaId`` (+ ``personaModel``) on generate / extend / upload-cover / upload-extend (§1, §2.2,
        §2.5): custom mode only (extend / upload-extend: ``defaultParamFlag`` true), a known persona, and
        ``voice_persona`` only with V5. An empty personaId counts as absent."""
        persona_id = body.get("personaId")
        if not persona_id:
            return {}
        if kind in ("extend", "upload_extend"):
            if body.get("defaultParamFlag") is not True:
                return _Reject(422, "personaId is only available with defaultParamFlag true")
        elif body.get("customMode") is not True:
            return _Reject(422, "personaId is only available in custom mode (customMode true)")
        if persona_id not in self.personas:
            return _Reject(404, f"personaId not found: {persona_id}")
        persona_model = body.get("personaModel") or PERSONA_MODELS[0]
        if persona_model == "voice_persona" and body.get("model") != "V5":
            return _Reject(422, "personaModel voice_persona is only available with model V5")
        return {"persona_id": persona_id, "persona_model": persona_model}

    def _find_music(self, task_id: str, audio_id: str, *, check_expired: bool = False) -> _Reject | tuple[Task, Track]:
        """A finished music task and one of its tracks (404 unknown, 422 not finished)."""
        task = self.tasks.get(task_id)
        if task is None or not task.is_music:
            return _Reject(404, f"Task not found: {task_id}")
        track = next((t for t in task.tracks if t.audio_id == audio_id), None)
        if track is None:
            return _Reject(404, f"audioId {audio_id} not found in task {task_id}")
        if check_expired and task_id in self._expired:
            return _Reject(404, f"audioId not found: {audio_id} (the music has expired)")
        if not task.done:
            return _Reject(422, f"The music task {task_id} has not completed successfully")
        return task, track

    def _prepare_replace_section(self, body: dict[str, Any]) -> _Reject | dict[str, Any]:
        problem = validate_replace_section(body)
        if problem:
            return _Reject(422, problem)
        found = self._find_music(body["taskId"], body["audioId"], check_expired=True)
        if isinstance(found, _Reject):
            return found
        source_task, track = found
        problem = _check_replace_range(body, track.duration) or _check_replace_text(
            body, source_task.model, self.text_limits
        )
        if problem:
            return _Reject(422, problem)
        return {"source_task_id": source_task.task_id, "source_audio_id": track.audio_id, "model": source_task.model}

    def _prepare_cover(self, body: dict[str, Any]) -> _Reject | dict[str, Any]:
        problem = _check_ids(body, ("taskId",)) or _check_callback(body, required=True)
        if problem:
            return _Reject(422, problem)
        source = self.tasks.get(body["taskId"])
        if source is None or not source.is_music:
            return _Reject(404, f"Task not found: {body['taskId']}")
        if not source.done:
            return _Reject(422, f"The music task {body['taskId']} has not completed successfully")
        existing = self.cover_task_for(source.task_id)
        if existing is not None:
            return _Reject(400, COVER_EXISTS_MSG, {"taskId": existing.task_id})
        return {"source_task_id": source.task_id}

    def _prepare_midi(self, body: dict[str, Any]) -> _Reject | dict[str, Any]:
        problem = _check_ids(body, ("taskId",)) or _check_callback(body, required=True)
        if not problem and body.get("audioId") is not None:
            problem = _check_ids(body, ("audioId",))
        if problem:
            return _Reject(422, problem)
        separation = self.tasks.get(body["taskId"])
        if separation is None or separation.kind != "separation":
            return _Reject(404, f"Separation task not found: {body['taskId']}")
        if not separation.done:
            return _Reject(422, f"The separation task {body['taskId']} has not completed successfully")
        if self.midi_requires_split_stem and separation.separation_type != "split_stem":
            return _Reject(
                422, f"MIDI generation needs a split_stem separation (task {body['taskId']} is "
                     f"{separation.separation_type})",
            )  # fmt: skip
        audio_id = body.get("audioId")
        if audio_id is not None and audio_id not in separation.stem_ids.values():
            return _Reject(404, f"audioId {audio_id} not found in separation {body['taskId']}")
        return {"source_task_id": separation.task_id, "source_audio_id": audio_id}

    def _prepare_sync(self, kind: str, body: dict[str, Any]) -> _Reject | dict[str, Any]:
        if kind == "style_boost":
            content = body.get("content")
            if content is not None and not isinstance(content, str):
                return _Reject(422, "content must be a string")
            if not content or not content.strip():
                return _Reject(422, "content is required")
            return {}
        if kind == "timestamped_lyrics":
            problem = _check_ids(body, ("taskId", "audioId"))
            if problem:
                return _Reject(422, problem)
            found = self._find_music(body["taskId"], body["audioId"])
            return found if isinstance(found, _Reject) else {"audio_id": found[1].audio_id}
        # persona
        problem = validate_persona(body)
        if problem:
            return _Reject(422, problem)
        found = self._find_music(body["taskId"], body["audioId"], check_expired=True)
        if isinstance(found, _Reject):
            return found
        source_task, track = found
        if source_task.model in PRE_PERSONA_MODELS:
            return _Reject(422, f"Persona needs a model above V3_5 (the source task used {source_task.model})")
        start, end = _persona_window(body)
        if end > track.duration:
            return _Reject(422, f"vocalEnd must not exceed the track's duration ({track.duration} s)")
        if self.persona_for(track.audio_id) is not None:
            return _Reject(409, PERSONA_EXISTS_MSG)
        return {"task": source_task, "track": track, "vocal_start": start, "vocal_end": end}

    def _answer_sync(self, kind: str, body: dict[str, Any], prepared: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Charge an accepted synchronous request and build its answer's ``data``: (answer id, data)."""
        if kind == "persona":
            task, track = prepared["task"], prepared["track"]
            style = body.get("style")
            persona = Persona(
                secrets.token_hex(16), str(body["name"]), str(body["description"]), task.task_id, track.audio_id,
                prepared["vocal_start"], prepared["vocal_end"], style if isinstance(style, str) else None, task.model,
            )  # fmt: skip
            self.personas[persona.persona_id] = persona
            self._charge(persona.persona_id, kind, body)
            return persona.persona_id, {
                "personaId": persona.persona_id, "name": persona.name, "description": persona.description,
            }  # fmt: skip
        answer_id = secrets.token_hex(16)
        cost = self._charge(answer_id, kind, body)
        if kind == "timestamped_lyrics":
            return answer_id, self.timestamped_lyrics(prepared["audio_id"])
        result = self.style_result(str(body["content"]))
        return answer_id, {
            "taskId": answer_id,
            "param": json.dumps(body),
            "result": result.result,
            "creditsConsumed": cost,
            "creditsRemaining": self.credits,
            "successFlag": result.success_flag,
            "errorCode": result.error_code,
            "errorMessage": result.error_message,
            "createTime": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.wall_clock())),
        }

    def _charge(self, charge_id: str, kind: str, body: Mapping[str, Any]) -> int:
        """Deduct an accepted request's cost (recorded in ``charges`` when priced); returns the cost."""
        cost = self.cost_of(kind, body)
        if cost:
            self.credits -= cost
            self.charges[charge_id] = cost
        return cost

    def _derived_timestamped_lyrics(self, audio_id: str) -> dict[str, Any]:
        _, track = self.find_track(audio_id)
        words = _split_lyrics(track.prompt)
        slot = track.duration / len(words) if words else 0.0
        digest = hashlib.sha256(f"waveform:{audio_id}".encode()).digest()
        return {
            "alignedWords": [
                {"word": w, "success": True, "startS": round(i * slot, 2), "endS": round((i + 0.9) * slot, 2),
                 "palign": 0}
                for i, w in enumerate(words)
            ],
            "waveformData": [round(b / 255, 3) for b in digest * 2],
            "hootCer": round(digest[0] / 1000, 3),
            "isStreamed": False,
        }

    async def _fetch_upload(self, url: str) -> bytes | None:
        if self._session is None:
            raise RuntimeError("FakeKie not started")
        try:
            async with self._session.get(
                url, timeout=aiohttp.ClientTimeout(total=self.upload_fetch_timeout)
            ) as resp:
                data = await resp.read()
                status = resp.status
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            self.uploads.append(UploadFetch(url, 0, None, f"{type(exc).__name__}: {exc}"))
            return None
        if not 200 <= status < 300:
            self.uploads.append(UploadFetch(url, status, None, f"HTTP {status}"))
            return None
        if not data:
            self.uploads.append(UploadFetch(url, status, 0, "empty body"))
            return None
        self.uploads.append(UploadFetch(url, status, len(data), None))
        return data

    def _rate_limited(self, kind: str) -> bool:
        if self.submit_rate_limit is None or kind in self.rate_exempt_kinds:
            return False
        limit, window = self.submit_rate_limit
        return self._submit_window.count(self.clock(), window) >= limit

    def _rate_limit_envelope(self, kind: str) -> dict[str, Any]:
        if kind == "lyrics":
            return _envelope(self.lyrics_rate_limit_code, LYRICS_RATE_MSG)
        return _envelope(429, SUBMIT_RATE_MSG)

    # ---------------------------------------------------------------- record-info

    def record_info_data(self, task_id: str) -> dict[str, Any]:
        """The record-info ``data`` object for the task's current state (§4.1-§4.4 by kind)."""
        task = self._task(task_id)
        if task.is_music:
            return self._music_record_info(task)
        if task.kind == "lyrics":
            return self._lyrics_record_info(task)
        if task.kind == "cover_image":
            return self._cover_record_info(task)
        if task.kind == "midi":
            return self._midi_record_info(task)
        return self._flag_record_info(task)

    def _music_record_info(self, task: Task) -> dict[str, Any]:
        stage = task.stage or ""
        tracks = [self._track_camel(task, t, stage) for t in self._visible_tracks(task, stage)]
        return {
            "taskId": task.task_id,
            "parentMusicId": task.source_audio_id if task.kind in ("extend", "replace_section") else "",
            "param": json.dumps(task.body),
            "response": {"taskId": task.task_id, "sunoData": tracks},
            "status": task.status,
            "type": "GENERATE",
            "operationType": task.kind,
            "errorCode": task.error_code,
            "errorMessage": task.error_message,
        }

    def _lyrics_record_info(self, task: Task) -> dict[str, Any]:
        response = None
        if task.done:
            response = {
                "taskId": task.task_id,
                self.lyrics_record_info_key: [
                    {"text": v.text, "title": v.title, "status": v.status, "errorMessage": v.error_message}
                    for v in task.lyrics
                ],
            }
        return {
            "taskId": task.task_id,
            "param": json.dumps(task.body),
            "response": response,
            "status": task.status,
            "type": "LYRICS",
            "errorCode": task.error_code,
            "errorMessage": task.error_message,
        }

    def _flag_record_info(self, task: Task) -> dict[str, Any]:
        """separation / wav / mp4: ``successFlag`` + a camelCase ``response`` (null until SUCCESS)."""
        response: dict[str, Any] | None = None
        if task.done:
            if task.kind == "separation":
                response = self._separation_response(task)
            elif task.kind == "wav":
                response = {"audioWavUrl": self.wav_url(task.task_id)}
            else:
                response = {"videoUrl": self.video_url(task.task_id)}
        data: dict[str, Any] = {
            "taskId": task.task_id,
            "musicId": task.source_audio_id,
            "callbackUrl": task.callback_url,
        }
        if task.kind == "separation":
            data["musicIndex"] = self._source_index(task)
        data.update(
            {
                "completeTime": None if task.completed_at is None else int(task.completed_at * 1000),
                "response": response,
                "successFlag": task.status,
                "createTime": int(task.created_at * 1000),
                "errorCode": task.error_code,
                "errorMessage": task.error_message,
            }
        )
        return data

    def _cover_record_info(self, task: Task) -> dict[str, Any]:
        """§4.4 cover: integer ``successFlag``, ``response.images`` (null until done), ``parentTaskId``.
        The times are ISO strings as in the cover-details example (the other kinds use epoch ms)."""
        return {
            "taskId": task.task_id,
            "parentTaskId": task.source_task_id,
            "callbackUrl": task.callback_url,
            "completeTime": None if task.completed_at is None else _iso(task.completed_at),
            "response": {"images": self._cover_images(task)} if task.done else None,
            "successFlag": _INT_FLAGS["cover_image"][task.status],
            "createTime": _iso(task.created_at),
            "errorCode": task.error_code,
            "errorMessage": task.error_message,
        }

    def _midi_record_info(self, task: Task) -> dict[str, Any]:
        """§4.4 MIDI: integer ``successFlag``, ``midiData{state, instruments}`` (null until done)."""
        midi = {"state": "complete", "instruments": self.midi_instruments(task.task_id)} if task.done else None
        return {
            "taskId": task.task_id,
            "recordTaskId": -1,
            # The requested originData id; without one, the music track the separation was made from.
            "audioId": task.source_audio_id or self._task(str(task.source_task_id)).source_audio_id,
            "callbackUrl": task.callback_url,
            "completeTime": None if task.completed_at is None else int(task.completed_at * 1000),
            "midiData": midi,
            "successFlag": _INT_FLAGS["midi"][task.status],
            "createTime": int(task.created_at * 1000),
            "errorCode": task.error_code,
            "errorMessage": task.error_message,
        }

    def _cover_images(self, task: Task) -> list[str]:
        return [self.cover_image_url(task.task_id, n) for n in range(task.image_count)]

    def _separation_response(self, task: Task) -> dict[str, Any]:
        source_duration = self._source_track(task).duration
        response: dict[str, Any] = {
            "id": task.result_id,
            "originUrl": "",
            "originData": [
                {
                    "id": task.stem_ids[stem],
                    "audio_url": self.stem_url(task.task_id, stem),
                    "duration": source_duration,
                    "stem_type_group_name": STEM_FIELDS[stem][2],
                }
                for stem in task.stems
            ],
        }
        for stem, (_, camel, _) in STEM_FIELDS.items():
            response[camel] = self.stem_url(task.task_id, stem) if stem in task.stems else None
        return response

    # ---------------------------------------------------------------- callbacks

    def _complete_body(self, task: Task) -> dict[str, Any]:
        tid = task.task_id
        if task.kind == "lyrics":
            variants = [
                {"text": v.text, "title": v.title, "status": v.status, "error_message": v.error_message}
                for v in task.lyrics
            ]
            return _envelope(200, LYRICS_SUCCESS_MSG, {"callbackType": "complete", "task_id": tid, "data": variants})
        if task.kind == "separation":
            info: dict[str, Any] = {}
            if task.separation_type == "separate_vocal":
                names = ("instrumental", "origin", "vocal")
            else:
                names = ("origin", *SPLIT_STEMS)
            for stem in names:
                if stem == "origin":
                    info["origin_url"] = ""
                elif stem in task.stems:
                    info[f"{stem}_url"] = self.stem_url(tid, stem)
                elif not self.omit_absent_stems:
                    info[f"{stem}_url"] = None
            return _envelope(200, SEPARATION_SUCCESS_MSG, {"task_id": tid, self.separation_key: info})
        if task.kind == "wav":
            return _envelope(200, "success", {"audioWavUrl": self.wav_url(tid), "task_id": tid})
        if task.kind == "cover_image":
            return _envelope(200, COVER_SUCCESS_MSG, {"taskId": tid, "images": self._cover_images(task)})
        if task.kind == "midi":
            instruments = self.midi_instruments(tid)
            if self.midi_times_as_strings:
                instruments = [
                    {**i, "notes": [{**n, "start": str(n["start"]), "end": str(n["end"])} for n in i["notes"]]}
                    for i in instruments
                ]
            return _envelope(200, MIDI_SUCCESS_MSG, {"taskId": tid, "state": "complete", "instruments": instruments})
        return _envelope(self.mp4_success_code, "success", {"task_id": tid, "video_url": self.video_url(tid)})

    def _error_body(self, task: Task) -> dict[str, Any]:
        d_code, d_msg, _ = self._failure_defaults(task)
        code = task.error_code if task.error_code is not None else d_code
        msg = task.error_message if task.error_message is not None else d_msg
        tid = task.task_id
        if task.kind == "replace_section":  # §3.1: a string under data.error, no track list
            return _envelope(code, msg, {"callbackType": "error", "task_id": tid, "error": self.replace_section_error})
        if task.is_music:
            data = [] if task.kind == "extend" and self.extend_error_data_list else None
            return _envelope(code, msg, {"callbackType": "error", "task_id": tid, "data": data})
        if task.kind == "cover_image":
            return _envelope(code, msg, {"taskId": tid, "images": None})
        if task.kind == "midi":
            return _envelope(code, msg, {"taskId": tid})
        if task.kind == "lyrics":
            return _envelope(code, msg, {"callbackType": "complete", "task_id": tid, "data": None})
        if task.kind == "separation":
            return _envelope(code, msg, {"task_id": tid, self.separation_key: None})
        if task.kind == "wav":
            return _envelope(code, msg, {"audioWavUrl": None, "task_id": tid})
        return _envelope(code, msg, {"task_id": tid, "video_url": None})

    def _failure_defaults(self, task: Task) -> tuple[int, str, str]:
        code, msg, status = _DEFAULT_FAILURE[task.kind]
        if task.kind == "separation" and task.separation_type == "split_stem":
            msg = SPLIT_STEM_FAILURE_MSG
        return code, msg, status

    # ---------------------------------------------------------------- internals

    def _task(self, task_id: str) -> Task:
        try:
            return self.tasks[task_id]
        except KeyError:
            raise KeyError(f"unknown task {task_id!r}") from None

    def _authorized(self, request: web.Request) -> bool:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip(), self.api_key)

    def _reply(self, request: web.Request, payload: dict[str, Any], http_status: int = 200,
               headers: Mapping[str, str] | None = None) -> web.Response:
        self.api_calls.append(ApiCall(request.method, request.path_qs, http_status, int(payload["code"])))
        return web.json_response(payload, status=http_status, headers=headers)

    def _serve(self, request: web.Request, data: bytes, content_type: str) -> web.Response:
        if request.method == "GET":
            self.downloads.append(request.path)
        # web.Response sets Content-Length from the body.
        return web.Response(body=data, content_type=content_type)

    def _resolve_url(self, url: str) -> tuple[Task, str]:
        """Map a served URL (or path) to (task, canonical file name)."""
        parts = urlsplit(url).path.split("/")
        if len(parts) != 4 or parts[0] != "" or parts[1] not in ("files", "stream"):
            raise KeyError(f"not a file URL of the fake: {url!r}")
        task = self.tasks.get(parts[2])
        if task is None:
            raise KeyError(f"unknown task in {url!r}")
        name = parts[3] if parts[1] == "files" else f"{parts[3]}.mp3"
        if self._file(task, name) is None:
            raise KeyError(f"no file at {url!r}")
        return task, name

    def _set_override(self, task: Task, name: str, value: bytes | int) -> None:
        stem, _, ext = name.rpartition(".")
        n = self._track_index(task, stem)
        if n is not None:
            if ext == "mp3":
                audio = _blob(f"audio:{task.task_id}:{n}", value, _MP3_PREFIX) if isinstance(value, int) else value
                task.audio_overrides[n] = audio
            else:
                task.image_overrides[n] = _jpeg(f"image:{task.task_id}:{n}", value) if isinstance(value, int) else value
            return
        task.file_overrides[name] = value

    def _file(self, task: Task | None, name: str) -> tuple[bytes, str] | None:
        """(content, content type) of a file of ``task``, or None if it has no such file."""
        if task is None:
            return None
        stem, dot, ext = name.rpartition(".")
        if not dot:
            return None
        if task.is_music:
            n = self._track_index(task, stem)
            if n is not None and ext == "mp3":
                return self.audio_bytes(task.task_id, n), "audio/mpeg"
            if n is not None and ext == "jpeg":
                return self.image_bytes(task.task_id, n), "image/jpeg"
            if task.kind not in UPLOAD_KINDS or stem != "source" or ext not in ("mp3", "jpeg"):
                return None
            if ext == "mp3":
                upload = task.upload_bytes or b""
                seed = f"source-audio:{task.task_id}"

                def source_audio(size: int | None) -> bytes:
                    return upload if size is None else _blob(seed, size, _MP3_PREFIX)

                return self._with_override(task, name, source_audio, None), "audio/mpeg"
            seed = f"source-image:{task.task_id}"
            return self._with_override(task, name, lambda size: _jpeg(seed, size), self.image_size), "image/jpeg"
        if task.kind == "separation" and ext == "mp3" and stem in task.stems:
            seed = f"stem:{task.task_id}:{stem}"
            data = self._with_override(task, name, lambda size: _blob(seed, size, _MP3_PREFIX), task.file_size)
            return data, "audio/mpeg"
        if task.kind == "wav" and name == "audio.wav":
            return self._with_override(task, name, lambda size: _wav(task.task_id, size), task.file_size), "audio/wav"
        if task.kind == "mp4" and name == "video.mp4":
            seed = f"video:{task.task_id}"
            data = self._with_override(task, name, lambda size: _blob(seed, size, _MP4_PREFIX), task.file_size)
            return data, "video/mp4"
        if task.kind == "cover_image" and ext == "png" and stem.isdigit() and int(stem) < task.image_count:
            seed = f"cover:{task.task_id}:{stem}"
            data = self._with_override(task, name, lambda size: _blob(seed, size, _PNG_PREFIX), task.file_size)
            return data, "image/png"
        return None

    @staticmethod
    def _with_override(task: Task, name: str, make: Callable[[Any], bytes], size: int | None) -> bytes:
        """The override for ``name`` if it is bytes, else ``make(override size or size)``."""
        override = task.file_overrides.get(name)
        if isinstance(override, bytes):
            return override
        return make(size if override is None else override)

    @staticmethod
    def _track_index(task: Task | None, text: str) -> int | None:
        if task is None or not text.isdigit():
            return None
        n = int(text)
        return n if 0 <= n < len(task.tracks) else None

    def _source_track(self, task: Task) -> Track:
        if task.source_audio_id is None:
            raise ValueError(f"task {task.task_id} has no source track")
        return self.find_track(task.source_audio_id)[1]

    def _source_index(self, task: Task) -> int:
        return self._source_track(task).index

    def _create_task(self, kind: str, body: dict[str, Any], **extra: Any) -> Task:
        task_id = secrets.token_hex(16)
        now = self.wall_clock()
        # replace-section takes the source's model; add-instrumental / add-vocals default to V4_5PLUS.
        model = extra.pop("model", None) or body.get("model") or (
            ADD_DEFAULT_MODEL if kind in ("add_instrumental", "add_vocals") else ""
        )
        task = Task(
            task_id,
            body,
            str(body.get("callBackUrl") or ""),  # optional on replace-section only (§2.5)
            [],
            self.audio_size,
            kind=kind,
            model=str(model),
            created_at=now,
            tuning={name: body[name] for name in TUNING_FIELDS if body.get(name) is not None},
            **extra,
        )
        if task.is_music:
            task.tracks = self._make_tracks(task, now)
            for track in task.tracks:
                self._tracks_by_id[track.audio_id] = (task_id, track.index)
        elif kind == "lyrics":
            task.lyrics = _make_lyrics(str(body["prompt"]), self.lyrics_variants)
        elif kind == "separation":
            task.separation_type = str(body["type"])
            if task.separation_type == "separate_vocal":
                task.stems = SEPARATE_VOCAL_STEMS
            else:
                unknown = set(self.split_stems) - set(SPLIT_STEMS)
                if unknown:
                    raise ValueError(f"split_stems has unknown stems: {sorted(unknown)}")
                task.stems = tuple(s for s in SPLIT_STEMS if s in self.split_stems)
            task.stem_ids = {stem: str(uuid.uuid4()) for stem in task.stems}
            task.file_size = self.stem_size
        elif kind == "wav":
            task.file_size = self.wav_size
        elif kind == "mp4":
            task.file_size = self.video_size
        elif kind == "cover_image":
            task.image_count = self.cover_image_count
            task.file_size = self.image_size
        self.tasks[task_id] = task
        return task

    def _make_tracks(self, task: Task, now: float) -> list[Track]:
        body = task.body
        prompt = str(body.get("prompt") or "")
        source = self.find_track(task.source_audio_id)[1] if task.source_audio_id else None
        if task.kind in ("extend", "upload_extend"):
            if body["defaultParamFlag"] is True:
                title, tags = str(body["title"]), str(body["style"])
                lyrics = "" if body.get("instrumental") is True else prompt
            elif source is not None:  # extend inheriting the source's parameters
                title, tags, lyrics = source.title, source.tags, source.prompt
            else:  # upload-extend inheriting: only the prompt is known
                title, tags = _title_from(prompt), "fake, extended"
                lyrics = "" if body.get("instrumental") is True else prompt
        elif task.kind == "add_instrumental":  # the upload's own vocals are unknown to the fake: no lyrics
            title, tags, lyrics = str(body["title"]), str(body["tags"]), ""
        elif task.kind == "add_vocals":
            title, tags, lyrics = str(body["title"]), str(body["style"]), prompt
        elif task.kind == "replace_section":  # the whole song, with the section replaced
            title, tags = str(body["title"]), str(body["tags"])
            lyrics = str(body.get("fullLyrics") or prompt)
        elif task.kind == "sounds":  # a sound effect: no lyrics
            sound = task.sound or SoundSettings()
            extras = ["loop"] if sound.loop else []
            extras += [f"{sound.tempo} BPM"] if sound.tempo is not None else []
            extras += [sound.key] if sound.key != SOUND_DEFAULT_KEY else []
            title, tags, lyrics = _title_from(prompt), ", ".join(["sound effect", *extras]), ""
        elif body["customMode"] is True:  # generate / upload-cover / mashup
            title, tags = str(body["title"]), str(body["style"])
            lyrics = "" if body.get("instrumental") is True else prompt
        else:
            title, tags = _title_from(prompt), "fake, generated"
            lyrics = "" if body.get("instrumental") is True else f"[Verse]\n{prompt}\n[Chorus]\n{title}"
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now))
        model_name = "chirp-" + task.model.lower().replace("_", "-")
        # replace-section: one track (the callback example shows one), as long as the source.
        if task.kind == "replace_section" and source:
            durations = [source.duration]
        elif task.kind == "sounds":
            durations = list(self.sound_durations)
        else:
            durations = list(self.track_durations)
        return [
            Track(
                index=i,
                audio_id=str(uuid.uuid4()),
                title=title,
                tags=tags,
                duration=duration,
                model_name=model_name,
                prompt=lyrics,
                create_time=created,
            )
            for i, duration in enumerate(durations)
        ]

    def _visible_tracks(self, task: Task, stage: str) -> list[Track]:
        if stage == "complete":
            return task.tracks
        if stage == "first":
            return task.tracks[:1]
        return []

    def _track_urls(self, task: Task, track: Track, stage: str) -> tuple[str, str, str]:
        n = track.index
        audio = task.url_overrides.get((n, "audio"), self.audio_url(task.task_id, n))
        if stage == "first" and not self.first_stage_has_audio_url:
            audio = ""
        return (audio, task.url_overrides.get((n, "stream"), self.stream_url(task.task_id, n)),
                task.url_overrides.get((n, "image"), self.image_url(task.task_id, n)))

    def _track_snake(self, task: Task, track: Track, stage: str) -> dict[str, Any]:
        audio, stream, image = self._track_urls(task, track, stage)
        item: dict[str, Any] = {
            "id": track.audio_id,
            "audio_url": audio,
            "stream_audio_url": stream,
            "image_url": image,
            "prompt": track.prompt,
            "model_name": track.model_name,
            "title": track.title,
            "tags": track.tags,
            "createTime": track.create_time,
            "duration": track.duration,
        }
        if task.kind in UPLOAD_KINDS:
            item["source_audio_url"] = self.source_audio_url(task.task_id)
            item["source_stream_audio_url"] = self.source_stream_url(task.task_id)
            item["source_image_url"] = self.source_image_url(task.task_id)
        if task.kind == "add_vocals" and self.add_vocals_omit_tags:
            del item["tags"]
        return item

    def _track_camel(self, task: Task, track: Track, stage: str) -> dict[str, Any]:
        audio, stream, image = self._track_urls(task, track, stage)
        item: dict[str, Any] = {
            "id": track.audio_id,
            "audioUrl": audio,
            "streamAudioUrl": stream,
            "imageUrl": image,
            "prompt": track.prompt,
            "modelName": track.model_name,
            "title": track.title,
            "tags": track.tags,
            "createTime": track.create_time,
            "duration": track.duration,
        }
        if task.kind == "add_vocals" and self.add_vocals_omit_tags:
            del item["tags"]
        return item

    async def _deliver(self, task: Task, stage: str) -> Delivery:
        body = self.callback_body(task.task_id, stage)
        # §5.5: sign the body's task id - data.task_id, or data.taskId for cover / MIDI (UNCONFIRMED).
        data = body["data"]
        headers = self.signed_headers(str(data["task_id"] if "task_id" in data else data["taskId"]))
        if self._session is None:
            raise RuntimeError("FakeKie not started")
        try:
            async with self._session.post(
                task.callback_url,
                data=json.dumps(body).encode(),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.callback_timeout),
            ) as resp:
                delivery = Delivery(resp.status, await resp.text())
        except (TimeoutError, aiohttp.ClientError) as exc:
            delivery = Delivery(0, f"{type(exc).__name__}: {exc}")
        self.callback_results.append((task.task_id, stage, delivery.status))
        return delivery

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        bg = asyncio.get_running_loop().create_task(coro)
        self._background.add(bg)
        bg.add_done_callback(self._background_done)

    def _background_done(self, bg: asyncio.Task[None]) -> None:
        self._background.discard(bg)
        if not bg.cancelled() and bg.exception() is not None:
            self.background_errors.append(bg.exception())  # type: ignore[arg-type]

    def _pop_task_failure(self, kind: str) -> _TaskFailurePlan | None:
        for i, plan in enumerate(self._task_failures):
            if plan.kind is None or plan.kind == kind:
                return self._task_failures.pop(i)
        return None

    async def _auto_run(self, task: Task) -> None:
        plan = self._pop_task_failure(task.kind)
        stages = ("complete",) if task.kind in COMPLETE_ONLY_KINDS else self.auto_stages
        if plan is not None:
            stages = stages[: stages.index(plan.after) + 1] if plan.after in stages else ()
        for stage in stages:
            await asyncio.sleep(self.stage_delay)  # 0 still yields, so the submit answer goes first
            if task.failed:
                return
            await self.advance(task.task_id, stage)
        if plan is not None:
            await asyncio.sleep(self.stage_delay)
            await self.fail(task.task_id, plan.code, plan.msg, plan.status)


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def _check_kind(kind: str | None, *, sync_ok: bool = False) -> None:
    allowed = ALL_KINDS if sync_ok else KINDS
    if kind is not None and kind not in allowed:
        raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(allowed)}")


def _pop_matching(
    queue: list[CannedError], kind: str | None, *, any_only: bool = False, kind_only: bool = False
) -> CannedError | None:
    """Pop the first queued entry that applies: kind None matches everything."""
    for i, canned in enumerate(queue):
        if canned.kind is None:
            if kind_only:
                continue
            return queue.pop(i)
        if not any_only and canned.kind == kind:
            return queue.pop(i)
    return None


def _jpeg(seed: str, size: int) -> bytes:
    return _blob(seed, max(size - 2, 0), prefix=b"\xff\xd8\xff\xe0") + b"\xff\xd9"[: max(size, 0)]


def _wav(task_id: str, size: int) -> bytes:
    header = b"RIFF" + max(size - 8, 0).to_bytes(4, "little") + b"WAVEfmt "
    return _blob(f"wav:{task_id}", size, prefix=header)


def _iso(seconds: float) -> str:
    """Epoch seconds as the cover-details example's ``2025-01-15T10:35:27.000Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int(seconds * 1000) % 1000:03d}Z"


_LYRIC_TOKEN: Final = re.compile(r"\[[^\]\n]*\]|\S+")


def _split_lyrics(lyrics: str) -> list[str]:
    """The words of ``lyrics``; a ``[Section]`` marker is glued to the next word (``"[Verse]\\nNight"``)."""
    words: list[str] = []
    marker = ""
    for token in _LYRIC_TOKEN.findall(lyrics):
        if token.startswith("[") and token.endswith("]"):
            marker += token + "\n"
        else:
            words.append(marker + token)
            marker = ""
    if marker:
        words.append(marker.rstrip("\n"))
    return words


def _boost_style(content: str) -> str:
    """A richer style text derived from ``content`` (deterministic)."""
    tags = [t.strip() for t in content.split(",") if t.strip()] or [content.strip()]
    lead = " ".join(tags).lower()
    return (f"{lead[:1].upper()}{lead[1:]} with layered production, expressive dynamics, a warm mix and a "
            f"clear, memorable hook")


def _derive_midi(task: Task, separation: Task) -> list[dict[str, Any]]:
    """Instruments of a MIDI task: one per stem of the separation (only the requested one when an audioId
    was given), each with 8 notes derived from the stem id."""
    stems = [s for s in separation.stems if task.source_audio_id in (None, separation.stem_ids[s])]
    instruments = []
    for stem in stems:
        digest = hashlib.sha256(f"midi:{separation.stem_ids[stem]}".encode()).digest()
        notes = [
            {"pitch": 36 + digest[i] % 48, "start": round(i * 0.5 + digest[i + 8] / 1024, 4),
             "end": round(i * 0.5 + 0.4 + digest[i + 8] / 1024, 4), "velocity": round(0.5 + digest[i + 16] / 512, 3)}
            for i in range(8)
        ]  # fmt: skip
        instruments.append({"name": MIDI_INSTRUMENTS[stem], "notes": notes})
    return instruments


def _title_from(prompt: str) -> str:
    return " ".join(prompt.split()[:4]).title()[:TITLE_MAX] or "Untitled"


def _make_lyrics(prompt: str, count: int) -> list[LyricsVariant]:
    title = _title_from(prompt)
    return [
        LyricsVariant(
            text=f"[Verse]\n{prompt}\n[Chorus]\n{title}, take {i + 1}\n[Outro]\n{title}",
            title=title if i == 0 else f"{title} ({i + 1})",
        )
        for i in range(count)
    ]


def _check_continue_at(body: dict[str, Any], duration: float) -> _Reject | None:
    value = body.get("continueAt")
    if value is not None and not value < duration:
        return _Reject(422, f"continueAt must be less than the source audio's duration ({duration} s)")
    return None


# --------------------------------------------------------------------------
# Validation (§1.1, §2.1, §2.2, §2.3, seed 003 schema)
# --------------------------------------------------------------------------

_OPTIONAL_WEIGHTS: Final = ("styleWeight", "weirdnessConstraint", "audioWeight")
_STRING_FIELDS: Final = ("prompt", "style", "title", "negativeTags", "personaId")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://"))


def _check_required(body: dict[str, Any], names: tuple[str, ...]) -> str | None:
    for name in names:
        if body.get(name) is None:
            return f"{name} is required"
    return None


def _check_base(
    body: dict[str, Any], required: tuple[str, ...], bools: tuple[str, ...], limits: TextLimits = KIE_TEXT_LIMITS
) -> str | None:
    """Required fields, booleans, model, callBackUrl, string-typed text fields."""
    problem = _check_required(body, required)
    if problem:
        return problem
    for name in bools:
        if not isinstance(body[name], bool):
            return f"{name} must be a boolean"
    if "model" in required and body["model"] not in limits.models:
        return f"model must be one of {', '.join(limits.models)} (got {body['model']!r})"
    for name in ("uploadUrl", "callBackUrl"):
        if name in required and not _is_url(body[name]):
            return f"{name} must be an http(s) URL"
    for name in _STRING_FIELDS:
        if body.get(name) is not None and not isinstance(body[name], str):
            return f"{name} must be a string"
    return None


def _check_tuning(body: dict[str, Any]) -> str | None:
    if body.get("vocalGender") is not None and body["vocalGender"] not in ("m", "f"):
        return "vocalGender must be 'm' or 'f'"
    if body.get("personaModel") is not None and body["personaModel"] not in ("style_persona", "voice_persona"):
        return "personaModel must be 'style_persona' or 'voice_persona'"
    for name in _OPTIONAL_WEIGHTS:
        value = body.get(name)
        if value is None:
            continue
        if not _is_number(value) or not 0 <= value <= 1:
            return f"{name} must be a number between 0 and 1"
        if abs(value * 100 - round(value * 100)) > 1e-6:
            return f"{name} allows at most 2 decimal places"
    return None


def _check_new_params(
    body: dict[str, Any], *, prompt_required: bool, text_limits: TextLimits = KIE_TEXT_LIMITS
) -> str | None:
    """Custom-mode style fields (§2.1 / §2.2 defaultParamFlag:true) and their §1.1 limits."""
    model = body["model"]
    limits = text_limits.models[model]
    title_max = text_limits.extend_title[model]
    prompt: str = body.get("prompt") or ""
    style: str = body.get("style") or ""
    title: str = body.get("title") or ""
    if not style.strip():
        return "style is required"
    if not title.strip():
        return "title is required"
    if prompt_required and not prompt.strip():
        return "prompt is required"
    if len(prompt) > limits.custom_prompt:
        return TooLong(f"prompt exceeds {limits.custom_prompt} characters for {model} (got {len(prompt)})")
    if len(style) > limits.style:
        return TooLong(f"style exceeds {limits.style} characters for {model} (got {len(style)})")
    if len(title) > title_max:
        return TooLong(f"title exceeds {title_max} characters for {model} (got {len(title)})")
    return None


def _check_continue_at_shape(body: dict[str, Any], *, required: bool) -> str | None:
    value = body.get("continueAt")
    if value is None:
        return "continueAt is required" if required else None
    if not _is_number(value) or not value > 0:
        return "continueAt must be a number of seconds greater than 0"
    return None


def validate_generate(
    body: dict[str, Any], *, title_max: int | None = None, limits: TextLimits = KIE_TEXT_LIMITS
) -> str | None:
    """Return a message naming the first problem, or None if the body is acceptable.

    ``title_max`` None: ``limits.generate_title`` of the model (kie: 80 for all)."""
    problem = _check_base(
        body, ("customMode", "instrumental", "model", "callBackUrl"), ("customMode", "instrumental"), limits
    )
    if problem:
        return problem
    model = body["model"]
    prompt: str = body.get("prompt") or ""
    style: str = body.get("style") or ""
    title: str = body.get("title") or ""

    if body["customMode"]:
        model_limits = limits.models[model]
        if title_max is None:
            title_max = limits.generate_title[model]
        if not style.strip():
            return "style is required in custom mode"
        if not title.strip():
            return "title is required in custom mode"
        if not body["instrumental"] and not prompt.strip():
            return "prompt (lyrics) is required in custom mode when instrumental is false"
        if len(prompt) > model_limits.custom_prompt:
            return TooLong(f"prompt exceeds {model_limits.custom_prompt} characters for {model} (got {len(prompt)})")
        if len(style) > model_limits.style:
            return TooLong(f"style exceeds {model_limits.style} characters for {model} (got {len(style)})")
        if len(title) > title_max:
            return TooLong(f"title exceeds {title_max} characters (got {len(title)})")
    else:
        # Non-custom: only prompt matters; other fields are ignored per the schema text.
        if not prompt.strip():
            return "prompt is required in non-custom mode"
        if len(prompt) > limits.non_custom_prompt:
            return TooLong(
                f"prompt exceeds {limits.non_custom_prompt} characters in non-custom mode (got {len(prompt)})"
            )
    return _check_tuning(body)


def validate_extend(body: dict[str, Any], *, limits: TextLimits = KIE_TEXT_LIMITS) -> str | None:
    """§2 row 2, §2.2 - shape only (the source track / model match are checked by the fake)."""
    problem = _check_base(
        body, ("defaultParamFlag", "audioId", "model", "callBackUrl"), ("defaultParamFlag",), limits
    )
    if problem:
        return problem
    if not isinstance(body["audioId"], str) or not body["audioId"].strip():
        return "audioId must be a non-empty string"
    if body.get("instrumental") is not None and not isinstance(body["instrumental"], bool):
        return "instrumental must be a boolean"
    if body["defaultParamFlag"]:
        problem = _check_new_params(body, prompt_required=True, text_limits=limits)
        if problem:
            return problem
    problem = _check_continue_at_shape(body, required=body["defaultParamFlag"])
    return problem or _check_tuning(body)


def validate_upload_extend(body: dict[str, Any], *, limits: TextLimits = KIE_TEXT_LIMITS) -> str | None:
    """§2 row 4, §2.2."""
    required = ("uploadUrl", "defaultParamFlag", "instrumental", "continueAt", "model", "callBackUrl")
    problem = _check_base(body, required, ("defaultParamFlag", "instrumental"), limits)
    if problem:
        return problem
    if body["defaultParamFlag"]:
        problem = _check_new_params(body, prompt_required=True, text_limits=limits)
    else:
        prompt: str = body.get("prompt") or ""
        limit = limits.models[body["model"]].custom_prompt
        if not prompt.strip():
            problem = "prompt is required"
        elif len(prompt) > limit:
            problem = TooLong(f"prompt exceeds {limit} characters for {body['model']} (got {len(prompt)})")
    if problem:
        return problem
    problem = _check_continue_at_shape(body, required=True)
    return problem or _check_tuning(body)


def validate_upload_cover(body: dict[str, Any], *, limits: TextLimits = KIE_TEXT_LIMITS) -> str | None:
    """§2 row 3: uploadUrl plus the §2.1 generate mode rules (title limit per §1.1)."""
    problem = _check_base(body, ("uploadUrl",), (), limits)
    if problem:
        return problem
    model = body.get("model")
    title_max = limits.extend_title.get(model, TITLE_MAX) if isinstance(model, str) else TITLE_MAX
    return validate_generate(body, title_max=title_max, limits=limits)


def validate_lyrics(body: dict[str, Any], *, limits: TextLimits = KIE_TEXT_LIMITS) -> _Reject | None:
    """§2 row 7 with the lyrics-page code table (§5.1): 400 invalid, 413 too long."""
    prompt = body.get("prompt")
    if prompt is None or not isinstance(prompt, str) or not prompt.strip():
        return _Reject(400, "prompt is required")
    if len(prompt) > limits.lyrics_prompt:
        return _Reject(413, TooLong(f"prompt exceeds {limits.lyrics_prompt} characters (got {len(prompt)})"))
    if body.get("callBackUrl") is None:
        return _Reject(400, "callBackUrl is required")
    if not _is_url(body["callBackUrl"]):
        return _Reject(400, "callBackUrl must be an http(s) URL")
    return None


def validate_track_request(kind: str, body: dict[str, Any]) -> str | None:
    """separation / wav / mp4 bodies (§2 rows 9, 11, 13; §2.3) - shape only."""
    required: tuple[str, ...] = ("taskId", "audioId", "callBackUrl")
    if kind == "separation":
        required += ("type",)
    problem = _check_required(body, required)
    if problem:
        return problem
    for name in ("taskId", "audioId"):
        if not isinstance(body[name], str) or not body[name].strip():
            return f"{name} must be a non-empty string"
    if not _is_url(body["callBackUrl"]):
        return "callBackUrl must be an http(s) URL"
    if kind == "separation" and body["type"] not in SEPARATION_TYPES:
        return f"type must be one of {', '.join(SEPARATION_TYPES)} (got {body['type']!r})"
    if kind == "mp4":
        for name in ("author", "domainName"):
            value = body.get(name)
            if value is None:
                continue
            if not isinstance(value, str):
                return f"{name} must be a string"
            if len(value) > MP4_FIELD_MAX:
                return f"{name} exceeds {MP4_FIELD_MAX} characters (got {len(value)})"
    return None


# --------------------------------------------------------------------------
# Validation of the later endpoints (§1, §2 rows 5, 6, 15, 16, 19-24, §2.4, §2.5)
# --------------------------------------------------------------------------

# §2.5: personas need a source model "above v3.5" (only sunoapi.org still accepts V3_5, §7).
PRE_PERSONA_MODELS: Final[tuple[str, ...]] = ("V3_5",)
_FALLBACK_LIMITS: Final = ModelLimits(custom_prompt=5000, style=1000)


def _check_ids(body: dict[str, Any], names: tuple[str, ...]) -> str | None:
    """Required, non-empty string fields."""
    problem = _check_required(body, names)
    if problem:
        return problem
    for name in names:
        if not isinstance(body[name], str) or not body[name].strip():
            return f"{name} must be a non-empty string"
    return None


def _check_callback(body: dict[str, Any], *, required: bool) -> str | None:
    value = body.get("callBackUrl")
    if value is None:
        return "callBackUrl is required" if required else None
    return None if _is_url(value) else "callBackUrl must be an http(s) URL"


def _check_text(body: dict[str, Any], name: str, limit: int | None, *, required: bool = True,
                blank_ok: bool = False) -> str | None:
    """A string field: present (if ``required``), non-blank (unless ``blank_ok``), at most ``limit`` long."""
    value = body.get(name)
    if value is None:
        return f"{name} is required" if required else None
    if not isinstance(value, str):
        return f"{name} must be a string"
    if required and not blank_ok and not value.strip():
        return f"{name} is required"
    if limit is not None and len(value) > limit:
        return TooLong(f"{name} exceeds {limit} characters (got {len(value)})")
    return None


def _add_limits(body: dict[str, Any], limits: TextLimits) -> tuple[str | None, ModelLimits]:
    """add-instrumental / add-vocals ``model`` (optional, V4_5PLUS | V5) and its §1.1 text limits."""
    model = body.get("model")
    if model is not None and model not in ADD_MODELS:
        return f"model must be one of {', '.join(ADD_MODELS)} (got {model!r})", _FALLBACK_LIMITS
    return None, limits.models.get(model or ADD_DEFAULT_MODEL, _FALLBACK_LIMITS)


def validate_add_instrumental(body: dict[str, Any], *, limits: TextLimits = KIE_TEXT_LIMITS) -> str | None:
    """§2 row 5: uploadUrl, title (<= 80), tags, negativeTags (may be empty), callBackUrl; model V4_5PLUS | V5."""
    problem = _check_base(body, ("uploadUrl", "title", "tags", "negativeTags", "callBackUrl"), (), limits)
    if problem:
        return problem
    problem, model_limits = _add_limits(body, limits)
    return (
        problem
        or _check_text(body, "title", ADD_TITLE_MAX)
        or _check_text(body, "tags", model_limits.style)
        or _check_text(body, "negativeTags", model_limits.style, blank_ok=True)
        or _check_tuning(body)
    )


def validate_add_vocals(body: dict[str, Any], *, limits: TextLimits = KIE_TEXT_LIMITS) -> str | None:
    """§2 row 6: uploadUrl, prompt, title (<= 80), style, negativeTags (may be empty), callBackUrl;
    model V4_5PLUS | V5."""
    required = ("uploadUrl", "prompt", "title", "style", "negativeTags", "callBackUrl")
    problem = _check_base(body, required, (), limits)
    if problem:
        return problem
    problem, model_limits = _add_limits(body, limits)
    return (
        problem
        or _check_text(body, "prompt", model_limits.custom_prompt)
        or _check_text(body, "style", model_limits.style)
        or _check_text(body, "title", ADD_TITLE_MAX)
        or _check_text(body, "negativeTags", model_limits.style, blank_ok=True)
        or _check_tuning(body)
    )


def validate_mashup(body: dict[str, Any], *, limits: TextLimits = KIE_TEXT_LIMITS) -> str | None:
    """§2 row 24: uploadUrlList of exactly 2 URLs plus generate's fields and mode rules (§2.1); ``instrumental``
    optional (default false); title limits per model as on extend (sunoapi.org's mashup page)."""
    problem = _check_required(body, ("uploadUrlList",))
    if problem:
        return problem
    urls = body["uploadUrlList"]
    if not isinstance(urls, list) or len(urls) != 2:
        return "uploadUrlList must be a list of exactly 2 URLs"
    if not all(_is_url(url) for url in urls):
        return "uploadUrlList entries must be http(s) URLs"
    instrumental = body.get("instrumental", False)
    if not isinstance(instrumental, bool):
        return "instrumental must be a boolean"
    model = body.get("model")
    title_max = limits.extend_title.get(model, TITLE_MAX) if isinstance(model, str) else TITLE_MAX
    return validate_generate({**body, "instrumental": instrumental}, title_max=title_max, limits=limits)


def validate_sounds(body: dict[str, Any]) -> str | None:
    """generate-sounds [docs]: prompt (<= 500), model V5 | V5_5, optional soundLoop / grabLyrics (booleans),
    soundTempo (integer BPM 1-300, or null = Auto), soundKey (``SOUND_KEYS``), callBackUrl (http(s) URL)."""
    problem = _check_text(body, "prompt", SOUND_PROMPT_MAX)
    if problem:
        return problem
    model = body.get("model")
    if model is None:
        return "model is required"
    if model not in SOUND_MODELS:
        return f"model must be one of {', '.join(SOUND_MODELS)} for sounds (got {model!r})"
    for name in ("soundLoop", "grabLyrics"):
        if name in body and not isinstance(body[name], bool):
            return f"{name} must be a boolean (got {body[name]!r})"
    tempo = body.get("soundTempo")
    if tempo is not None:
        if not isinstance(tempo, int) or isinstance(tempo, bool):
            return f"soundTempo must be an integer (BPM) or null (got {tempo!r})"
        if not SOUND_TEMPO_MIN <= tempo <= SOUND_TEMPO_MAX:
            return f"soundTempo must be between {SOUND_TEMPO_MIN} and {SOUND_TEMPO_MAX} BPM (got {tempo})"
    if "soundKey" in body and body["soundKey"] not in SOUND_KEYS:
        return f"soundKey must be one of {', '.join(SOUND_KEYS)} (got {body['soundKey']!r})"
    return _check_callback(body, required=False)


def _two_decimals(value: float) -> bool:
    return abs(value * 100 - round(value * 100)) <= 1e-6


def validate_replace_section(body: dict[str, Any]) -> str | None:
    """§2 row 22, §2.5 - shape (the source track's duration and model limits are checked by the fake)."""
    problem = (
        _check_ids(body, ("taskId", "audioId"))
        or _check_text(body, "prompt", None)
        or _check_text(body, "tags", None)
        or _check_text(body, "title", None)
        or _check_required(body, ("infillStartS", "infillEndS"))
        or _check_text(body, "negativeTags", None, required=False)
        or _check_text(body, "fullLyrics", None, required=False)
        or _check_callback(body, required=False)
    )
    if problem:
        return problem
    for name in ("infillStartS", "infillEndS"):
        value = body[name]
        if not _is_number(value) or value < 0:
            return f"{name} must be a number of seconds (>= 0)"
        if not _two_decimals(value):
            return f"{name} allows at most 2 decimal places"
    start, end = body["infillStartS"], body["infillEndS"]
    if not start < end:
        return "infillStartS must be less than infillEndS"
    length = round(end - start, 2)
    if not REPLACE_MIN_S <= length <= REPLACE_MAX_S:
        return (f"the replaced range (infillEndS - infillStartS) must be between {REPLACE_MIN_S:g} and "
                f"{REPLACE_MAX_S:g} seconds (got {length:g})")
    return None


def _check_replace_range(body: dict[str, Any], duration: float) -> str | None:
    start, end = body["infillStartS"], body["infillEndS"]
    if end > duration:
        return f"infillEndS must not exceed the track's duration ({duration} s)"
    if round(end - start, 2) > duration * REPLACE_MAX_FRACTION:
        return f"the replaced range must not exceed 50% of the track's duration ({duration} s)"
    return None


def _check_replace_text(body: dict[str, Any], model: str, limits: TextLimits) -> str | None:
    """§1.1 limits of the source's model: prompt / fullLyrics as custom lyrics, tags as style, title as on
    extend."""
    model_limits = limits.models.get(model, _FALLBACK_LIMITS)
    return (
        _check_text(body, "prompt", model_limits.custom_prompt)
        or _check_text(body, "tags", model_limits.style)
        or _check_text(body, "title", limits.extend_title.get(model, TITLE_MAX))
        or _check_text(body, "fullLyrics", model_limits.custom_prompt, required=False)
    )


def _persona_window(body: dict[str, Any]) -> tuple[float, float]:
    start = body.get("vocalStart")
    end = body.get("vocalEnd")
    return (PERSONA_DEFAULT_WINDOW[0] if start is None else float(start),
            PERSONA_DEFAULT_WINDOW[1] if end is None else float(end))  # fmt: skip


def validate_persona(body: dict[str, Any]) -> str | None:
    """§2 row 19, §2.5 - shape: taskId, audioId, name, description; optional style, vocalStart (0), vocalEnd
    (30), a 10-30 s window. (The docs print the keys as ``' vocalStart'``, a typo: the fake reads
    ``vocalStart`` / ``vocalEnd``.)"""
    problem = _check_ids(body, ("taskId", "audioId", "name", "description")) or _check_text(
        body, "style", None, required=False
    )
    if problem:
        return problem
    for name in ("vocalStart", "vocalEnd"):
        value = body.get(name)
        if value is not None and (not _is_number(value) or value < 0):
            return f"{name} must be a number of seconds (>= 0)"
    start, end = _persona_window(body)
    if not start < end:
        return "vocalStart must be less than vocalEnd"
    if not PERSONA_MIN_WINDOW <= end - start <= PERSONA_MAX_WINDOW:
        return (f"the vocal window (vocalEnd - vocalStart) must be between {PERSONA_MIN_WINDOW:g} and "
                f"{PERSONA_MAX_WINDOW:g} seconds (got {end - start:g})")
    return None


_FETCH_VALIDATORS: Final[dict[str, Callable[..., str | None]]] = {
    "upload_extend": validate_upload_extend,
    "upload_cover": validate_upload_cover,
    "add_instrumental": validate_add_instrumental,
    "add_vocals": validate_add_vocals,
    "mashup": validate_mashup,
}
