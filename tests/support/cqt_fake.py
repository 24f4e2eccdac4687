"""Loopback fake of the CQTAI Suno API (``https://api.cqtai.com``), for end-to-end tests.

Written only from the provider's documentation, independently of the bot's own provider code, so
that tests exercise the bot's real HTTP client against an independent reading of the contract:
``/work/shared/reference/suno-api-contract.md`` §8 and §6, seed 004 (C-INTRO, the
www.cqtai.com/docs/suno intro page), C-PAGES (www.cqtai.com/docs/suno/{export, lyrics,
inspiration, gen-stem-all}) and C-APIFOX (the older cqtai apifox OpenAPI export, which gives the
request fields of ``replace_section``, ``replace_merge``, ``persona``, ``upsample_tags``,
``timeline`` and ``downbeats`` but none of their result shapes).

Covered surface
---------------

* ``POST /api/cqt/generator/suno`` with ``Authorization: Bearer <key>`` and a JSON body whose
  ``task`` picks the capability. Accepted: ``{"code":200,"msg":"success","data":"<taskId>"}``
  (``data`` is a **bare string**). Every task is asynchronous (C-INTRO: "You first get a taskId
  back"); its result is read with the query endpoint. Tasks (request fields; result shape):

  - ``create``, ``extend`` (``clipId, continueAt``), ``cover`` (``clipId``), ``upload_extend``
    (``audioUrl, continueAt``), ``upload_cover`` (``audioUrl``), ``inspiration`` (``model,
    playlistId, prompt?``; C-PAGES:inspiration): ``model, customMode, makeInstrumental, prompt,
    tags, negativeTags, title`` plus the options ``vocalGender`` (``"m"|"f"``), ``styleWeight``,
    ``weirdnessConstraint``, ``audioWeight`` (numbers 0–1, C-APIFOX "范围 0–1"), ``personaId``
    (must name a persona of this fake) and ``artistClipId`` (must name a clip). Result: two raw
    Suno clips ``[{id, title, status, audio_url, image_url, image_large_url, video_url,
    model_name, metadata{duration, tags, prompt, type, control_sliders?}, created_at}]``.
  - ``replace_section`` (``taskId, clipId, tags, title, infillLyrics, rangeStartS, rangeEndS``;
    C-APIFOX "修改音乐片段": "the output is the segment audio; then call replace_merge"). Result:
    two segment clips (``metadata.type:"infill"``, ``infill_start_s`` / ``infill_end_s``,
    ``edited_clip_id`` = the source clip, ``edit_session_id`` = the segment's own ``id``,
    ``duration`` = the range's length, ``video_url`` ""). Then ``replace_merge`` (``clipId,
    editSessionId``; C-APIFOX "音乐片段合并": editSessionId is "the segment audio obtained from
    replace_section"). Result: one merged clip (``metadata.type:"concat"``, the source's
    duration, lyrics = the source's with the words timed inside the range replaced by
    ``infillLyrics``).
  - ``persona`` (``taskId, clipId, name, description``; C-APIFOX "创建角色"). Result per
    ``persona_shape``: ``"suno"`` -> ``{"id", "name", "description", "root_clip_id",
    "image_s3_id"}``, ``"kie"`` -> ``{"personaId", "name", "description"}``. The id becomes
    usable as ``personaId`` once the task has succeeded (see :attr:`FakeCqt.personas`).
  - ``upsample_tags`` (``prompt``; C-APIFOX "获取tags", C-INTRO "Enhance Tags"). Result
    ``{"upsampled_tags": <boosted style text>, "request_id"}`` (see :func:`boost_tags`).
  - ``timeline`` (``clipId``; C-PAGES:export, result shape documented there):
    ``{"aligned_words": [{"word", "success", "start_s", "end_s", "p_align"}]}`` derived
    deterministically from the clip's lyrics and duration (:func:`aligned_words`);
    instrumental clips (no lyrics) give ``[]``.
  - ``downbeats`` (``clipId``; C-PAGES:export, C-APIFOX "获取节拍"). Result
    ``{"downbeats": [[time_s, beat_in_bar], ...]}`` at ``downbeats_bpm`` in 4/4
    (:func:`downbeats`).
  - ``gen_stem_two`` / ``gen_stem_all`` (``clipId``), ``lyrics`` (``prompt``), ``wav`` / ``mp4``
    (``clipId``).

  Any other ``task`` -> ``{"code":400,"msg":"unsupported task: X"}``.
* ``GET /api/cqt/info/suno?id=<taskId>`` ->
  ``{"code":200,"msg":"success","data":{"id","taskType","status","errorMsg","param","result",
  "createTime","completeTime"}}``; unknown id -> ``{"code":404,"msg":"task not found"}``.
* Every other ``/api/*`` request -> HTTP 404 ``{"code":404,"msg":"not found: METHOD path"}``
  (e.g. the older ``/api/cqt/v2/sunoinfo`` path is *not* served).
* Files: every URL the fake hands out is served under ``/files/{task_id}/{name}``:
  song clip ``n`` (music tasks, replace_section segments, replace_merge) -> ``{n}.mp3`` (ID3
  header), ``{n}.jpeg`` / ``{n}_large.jpeg`` (JPEG), ``{n}.mp4`` (ftyp; not for segments);
  stems -> ``{stem}.mp3`` (``vocals``, ``backing_vocals``, ``instrumental``, ``drums`` ...);
  wav export -> ``audio.wav`` (RIFF); mp4 export -> ``video.mp4``.
* "Free" exports (C-PAGES:export: "creation tasks auto-generate these for free"; §8: result
  clips carry ``video_url``): every song clip's ``video_url`` points at its ``{n}.mp4``, served
  as soon as the task has succeeded, at no charge beyond the song's 30 credits. A test reads it
  from the info answer (``result[n]["video_url"]``) or fake-side with
  ``fake.clip(clip_id)[1]["video_url"]`` and ``fake.file_bytes(url)``. The docs name no clip
  field for an auto-generated WAV, timeline or downbeats, so clips carry none; the explicit
  ``wav`` / ``mp4`` / ``timeline`` / ``downbeats`` tasks cost 2 credits each.
* Errors (seed 004 "Common Errors"): 401 "Unauthorized"; 402 "insufficient credits";
  429 "Task limit reached" (concurrency: tasks not yet succeeded/failed, every task type
  counts); 451 "artist name not allowed" / "content moderation"; 400 for bad requests (message
  names the field). Every answer is the envelope ``{"code","msg","data"}`` with HTTP 200,
  except canned failures given another ``http_status`` and the catch-all 404 above.
* Credits (:attr:`FakeCqt.costs`, default :data:`COSTS`; C-INTRO / §6: "30 for a song, 10 for a
  sound effect, 60–150 for stem separation, 1–4 for small tools (lyrics/tags/export)"; C-PAGES:
  export "2 credits each"): song (create / extend / cover / upload_* / inspiration) 30,
  gen_stem_two 60, gen_stem_all 150, lyrics / wav / mp4 / timeline / downbeats 2,
  replace_section 30, replace_merge 2, persona 2, upsample_tags 2; deducted on acceptance,
  refunded when the task fails ("auto-refunded if a task fails").

Submit checks, in order: auth (401) -> JSON object (400) -> canned failure -> ``task`` known
(400) -> field shape and ranges (400) -> references: clipId / continueAt against the clip,
taskId / editSessionId / personaId / artistClipId / playlistId, the replace range (400) ->
blocked words (451) -> ``audioUrl`` fetched over HTTP (400 "audio download failed") -> credits
(402) -> concurrency (429) -> task created (status ``"queued"``).

Not documented, so not implemented (any of these ``task`` names -> 400 "unsupported task"; the
bot should hide these commands on CQTAI): add instrumental and add vocals (C-INTRO lists them;
only a 3P mirror, docs.pmock.com, names ``add_instrumental`` / ``add_vocals``, with its own
nested ``range`` / ``controls`` fields and ``chirp-*`` models, not CQTAI's wire format), reuse
style (3P ``use_styles_lyrics``), mashup, sample, sound effects (C-INTRO prices them at 10; no
task name, no fields), remaster, cover image, standalone video, custom model, upload audio,
merge clips.

UNCONFIRMED guesses (the docs do not show them; tests built on them may need changing once
real CQTAI traffic is seen):

* the status enum ``queued`` -> ``processing`` -> ``succeeded`` | ``failed`` (§8 only
  confirms ``succeeded``; the rest is what 3P clients map);
* music clips while ``processing``: ``status:"streaming"``, empty ``audio_url`` /
  ``video_url``, ``metadata.duration`` null; ``errorMsg`` is null unless failed;
* ``lyrics`` result: ``lyrics_shape="list"`` -> ``[{"title","text","status":"complete"}] x2``,
  ``"object"`` -> ``{"title","text"}``;
* ``wav`` / ``mp4`` results: ``export_shape="object"`` -> ``{"wav_file_url"}`` /
  ``{"video_url"}``, ``"clip"`` -> ``[{"id": clipId, "title", "status", "audio_url"|"video_url"}]``;
* stems: ``gen_stem_two`` clips use ``metadata.stem_task:"two"`` (``"twelve"`` for
  ``gen_stem_all`` is from C-PAGES), ``metadata.type:"gen_stem"`` and ``stem_from_id``;
* ``model_name``: v55 -> chirp-v55, v50 -> chirp-v50, v45+ -> chirp-v45plus, v45 -> chirp-v45,
  v40 -> chirp-v40 (§8 only shows ``chirp-v50``);
* times: ``createTime`` / ``completeTime`` "YYYY-MM-DD HH:MM:SS" in UTC; clip ``created_at``
  ISO 8601 with ``Z``;
* a failed task: envelope code 200 with ``status:"failed"`` and ``errorMsg``; ``fail(...,
  code=500)`` instead answers the info request with envelope ``{"code":500,"msg":msg}`` (still
  carrying the task object), the other reading of the "500 failed / timeout" row;
* limits: title 80; tags 200 (v40) / 1000; custom lyrics 3000 (v40) / 5000; non-custom prompt
  400; no limit on the ``lyrics`` / ``upsample_tags`` prompt or on persona texts;
  ``customMode`` / ``makeInstrumental`` default to false when absent; ``cover`` /
  ``upload_cover`` follow ``create``'s mode rules; extend's ``model`` need not match the source
  clip's; ``styleWeight`` / ``weirdnessConstraint`` / ``audioWeight`` are range-checked 0–1
  inclusive but more than 2 decimals are accepted (C-APIFOX: "保留两位小数", a format hint);
  ``personaId`` is accepted in either mode (kie restricts it to custom mode; CQTAI's
  inspiration page lists it without a mode) and a blank one is refused like an unknown one;
* the prices of replace_section (30, a song-length generation listed under "Music Creation"),
  replace_merge (2, like the "Merge Clips" helper), persona (2) and upsample_tags (2, "1–4 for
  small tools (lyrics/tags/export)");
* ``replace_section``: the C-APIFOX schema marks all seven fields required (it marks optional
  ones required elsewhere too), so the fake requires them all (``infillLyrics`` non-blank); the
  range bounds are kie's (K-DUMP:replace-section), not CQTAI's: ``0 <= rangeStartS <
  rangeEndS <= duration``, length ``replace_min_s``–``replace_max_s`` (6–60 s) and at most
  ``replace_max_fraction`` (50 %) of the clip; ``taskId`` must be the succeeded task that
  made ``clipId``, and the clip must be a song (not a stem or a segment); ``tags`` follows the
  source model's limit; two segments per task, as for a song; the segment clip's own ``id`` is
  the ``editSessionId`` (also copied to ``metadata.edit_session_id``);
* ``replace_merge``: ``editSessionId`` must be a segment of a succeeded ``replace_section`` of
  that same ``clipId``; one merged clip;
* ``persona``: ``taskId`` must be the succeeded task that made ``clipId`` (kie: "the source
  task must be finished"), a song clip; kie's one-persona-per-clip rule (409) is *not*
  applied; the result shape (``persona_shape``);
* ``upsample_tags`` result keys (the raw Suno answer ``{upsampled_tags, request_id}`` as 3P
  Suno proxies show it) and text;
* ``downbeats`` result (3P Suno proxies show ``downbeats: [[time_s, beat], ...]`` per clip);
  ``timeline`` / ``downbeats`` of a clip are computed when the task completes;
* ``inspiration``: any non-blank ``playlistId`` unless ``playlist_ids`` is set.

Typical use::

    async with FakeCqt() as cqt:
        ...  # point the bot's client at cqt.base_url with cqt.api_key
        cqt.advance(task_id, "processing")
        cqt.complete(task_id)
        persona_id = cqt.add_persona(name="Nova")  # a ready personaId, no persona task needed
"""

from __future__ import annotations

import copy
import hmac
import json
import math
import re
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from tests.support.kie_fake import (
    _MP3_PREFIX,
    _MP4_PREFIX,
    ApiCall,
    ManualClock,
    UploadFetch,
    _blob,
    _jpeg,
    _wav,
)

__all__ = [
    "ApiCall",
    "CannedError",
    "FakeCqt",
    "ManualClock",
    "Persona",
    "Submission",
    "Task",
    "UploadFetch",
    "aligned_words",
    "boost_tags",
    "downbeats",
    "validate_body",
]

# --------------------------------------------------------------------------
# Contract constants (§8, seed 004)
# --------------------------------------------------------------------------

MODELS: Final[tuple[str, ...]] = ("v55", "v50", "v45+", "v45", "v40")
MODEL_NAMES: Final[dict[str, str]] = {
    "v55": "chirp-v55",
    "v50": "chirp-v50",
    "v45+": "chirp-v45plus",
    "v45": "chirp-v45",
    "v40": "chirp-v40",
}
# Tasks whose result is two new songs (C-APIFOX, C-PAGES:inspiration).
MUSIC_TASKS: Final[tuple[str, ...]] = ("create", "extend", "cover", "upload_extend", "upload_cover", "inspiration")
STEM_TASKS: Final[tuple[str, ...]] = ("gen_stem_two", "gen_stem_all")
EXPORT_TASKS: Final[tuple[str, ...]] = ("wav", "mp4")
ANALYSIS_TASKS: Final[tuple[str, ...]] = ("timeline", "downbeats")  # C-PAGES:export, clip-less results
EDIT_TASKS: Final[tuple[str, ...]] = ("replace_section", "replace_merge")  # C-APIFOX, two steps
TASKS: Final[tuple[str, ...]] = (
    *MUSIC_TASKS, *STEM_TASKS, "lyrics", *EXPORT_TASKS, *ANALYSIS_TASKS, *EDIT_TASKS, "persona", "upsample_tags",
)  # fmt: skip
# Tasks whose body names an existing clip in clipId.
CLIP_TASKS: Final[tuple[str, ...]] = (
    "extend", "cover", *STEM_TASKS, *EXPORT_TASKS, *ANALYSIS_TASKS, *EDIT_TASKS, "persona",
)  # fmt: skip
UPLOAD_TASKS: Final[tuple[str, ...]] = ("upload_extend", "upload_cover")
# Tasks whose result is a list of song clips served as mp3 / jpeg (/ mp4) files.
SONG_TASKS: Final[tuple[str, ...]] = (*MUSIC_TASKS, *EDIT_TASKS)
# Tasks whose clips can be edited (replace_section) or made into a persona: songs, not stems or segments.
EDITABLE_TASKS: Final[tuple[str, ...]] = (*MUSIC_TASKS, "replace_merge")
# Tasks that accept personaId (kie: generate / extend / upload-cover / upload-extend; C-PAGES:inspiration).
PERSONA_TASKS: Final[tuple[str, ...]] = MUSIC_TASKS
COSTS: Final[dict[str, int]] = {
    **{t: 30 for t in MUSIC_TASKS},
    "gen_stem_two": 60,
    "gen_stem_all": 150,
    "lyrics": 2,
    "wav": 2,
    "mp4": 2,
    "timeline": 2,
    "downbeats": 2,
    "replace_section": 30,  # UNCONFIRMED
    "replace_merge": 2,  # UNCONFIRMED
    "persona": 2,  # UNCONFIRMED
    "upsample_tags": 2,  # UNCONFIRMED
}

QUEUED: Final = "queued"
PROCESSING: Final = "processing"
SUCCEEDED: Final = "succeeded"
FAILED: Final = "failed"
PENDING_STATUSES: Final[tuple[str, ...]] = (QUEUED, PROCESSING)
TERMINAL_STATUSES: Final[tuple[str, ...]] = (SUCCEEDED, FAILED)

NON_CUSTOM_PROMPT_MAX: Final = 400
TITLE_MAX: Final = 80


def tags_max(model: str) -> int:
    return 200 if model == "v40" else 1000


def lyrics_max(model: str) -> int:
    return 3000 if model == "v40" else 5000


# Field names of kie.ai / sunoapi.org that CQTAI spells differently (§8): sent by mistake -> 400.
KIE_FIELDS: Final[tuple[str, ...]] = ("instrumental", "style", "audioId", "uploadUrl")
_STRING_FIELDS: Final[tuple[str, ...]] = (
    "model", "prompt", "tags", "negativeTags", "title", "vocalGender", "clipId", "audioUrl", "personaId",
    "artistClipId", "playlistId", "taskId", "infillLyrics", "editSessionId", "name", "description",
)  # fmt: skip
_BOOL_FIELDS: Final[tuple[str, ...]] = ("customMode", "makeInstrumental")
# The "advanced" sliders: numbers 0–1 (C-APIFOX "范围 0–1，保留两位小数", C-PAGES:inspiration "number(0~1)").
SLIDER_FIELDS: Final[tuple[str, ...]] = ("styleWeight", "weirdnessConstraint", "audioWeight")
_NUMBER_FIELDS: Final[tuple[str, ...]] = (*SLIDER_FIELDS, "rangeStartS", "rangeEndS")
_SLIDER_METADATA: Final[dict[str, str]] = {
    "styleWeight": "style_weight",
    "weirdnessConstraint": "weirdness_constraint",
    "audioWeight": "audio_weight",
}  # C-APIFOX result schema: metadata.control_sliders
_SCREENED_FIELDS: Final[tuple[str, ...]] = ("prompt", "tags", "title", "infillLyrics")

# Stem name -> file slug. gen_stem_all's twelve, in the brief's / C-PAGES order.
STEMS_TWO: Final[tuple[str, ...]] = ("Vocals", "Instrumental")
STEMS_ALL: Final[tuple[str, ...]] = (
    "Vocals", "Backing Vocals", "Drums", "Bass", "Guitar", "Keyboard",
    "Percussion", "Strings", "Synth", "FX", "Brass", "Woodwinds",
)  # fmt: skip
STEM_TASK_NAME: Final[dict[str, str]] = {"gen_stem_two": "two", "gen_stem_all": "twelve"}

UNAUTHORIZED_MSG: Final = "Unauthorized"
TASK_LIMIT_MSG: Final = "Task limit reached"
CREDITS_MSG: Final = "insufficient credits"
ARTIST_MSG: Final = "artist name not allowed"
MODERATION_MSG: Final = "content moderation"
NOT_FOUND_MSG: Final = "task not found"
CLIP_NOT_FOUND_MSG: Final = "clip not found"
PERSONA_NOT_FOUND_MSG: Final = "persona not found"
PLAYLIST_NOT_FOUND_MSG: Final = "playlist not found"
DOWNLOAD_FAILED_MSG: Final = "audio download failed"

DEFAULT_AUDIO_SIZE: Final = 20 * 1024
DEFAULT_IMAGE_SIZE: Final = 2 * 1024
DEFAULT_FILE_SIZE: Final = 48 * 1024
DEFAULT_DURATIONS: Final[tuple[float, float]] = (198.44, 228.28)
DEFAULT_EXTEND_BY: Final[tuple[float, float]] = (60.0, 75.5)
DEFAULT_UPLOAD_DURATION: Final = 180.0
DEFAULT_BPM: Final = 120.0
# replace_section range bounds: kie's (K-DUMP:replace-section), UNCONFIRMED for CQTAI.
REPLACE_MIN_S: Final = 6.0
REPLACE_MAX_S: Final = 60.0
REPLACE_MAX_FRACTION: Final = 0.5


# --------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------


@dataclass
class Task:
    task_id: str
    task: str  # the body's "task" (taskType)
    body: dict[str, Any]
    status: str = QUEUED
    result: Any = None  # set by complete(); what the info answer shows once "succeeded"
    created_at: float = 0.0  # wall clock seconds
    completed_at: float | None = None
    error_msg: str | None = None
    error_code: int | None = None  # fail(code=...): the info answer's envelope code
    cost: int = 0
    refunded: bool = False
    model: str = ""
    # Clips this task generates (music / stems), in their final "complete" shape. Tests may edit them.
    clips: list[dict[str, Any]] = field(default_factory=list)
    source_clip_id: str | None = None  # clipId of extend / cover / stems / exports / replace_* / persona
    upload_bytes: bytes | None = None  # upload_extend / upload_cover: what the fake fetched
    # The create options as sent (None when absent), recorded for tests.
    vocal_gender: str | None = None
    style_weight: float | None = None
    weirdness_constraint: float | None = None
    audio_weight: float | None = None
    persona_id: str | None = None  # the personaId a song task applied (a known persona)
    new_persona_id: str | None = None  # persona task: the id it creates (usable once it has succeeded)
    segment_id: str | None = None  # replace_merge: the editSessionId (a replace_section segment clip)
    audio_size: int = DEFAULT_AUDIO_SIZE
    image_size: int = DEFAULT_IMAGE_SIZE
    file_size: int = DEFAULT_FILE_SIZE
    file_overrides: dict[str, bytes] = field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def is_music(self) -> bool:
        """Whether the result is a list of song clips (music tasks, replace_section, replace_merge)."""
        return self.task in SONG_TASKS


@dataclass(frozen=True)
class Persona:
    """A persona usable as ``personaId``: made by a succeeded ``persona`` task or :meth:`FakeCqt.add_persona`."""

    persona_id: str
    name: str
    description: str
    clip_id: str | None  # the clip it was made from
    task_id: str | None  # the persona task that made it (None: add_persona())


@dataclass(frozen=True)
class Submission:
    """An accepted submit."""

    task_id: str
    body: dict[str, Any]
    at: float  # FakeCqt.clock() at acceptance
    task: str


@dataclass(frozen=True)
class CannedError:
    code: int
    msg: str
    http_status: int = 200
    data: Any = None
    task: str | None = None  # None: the next submit of any task


class _Reject(Exception):
    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


# --------------------------------------------------------------------------
# Validation (shape only; clip lookup and the audioUrl fetch are done by the fake)
# --------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _present(body: dict[str, Any], name: str) -> bool:
    return body.get(name) is not None


def validate_body(body: dict[str, Any]) -> str | None:
    """The first problem with a submit body (a message naming the field), or None.

    ``body["task"]`` must already be one of :data:`TASKS`."""
    task = body["task"]
    for name in KIE_FIELDS:
        if name in body:
            return f"unknown field: {name}"
    for name in _STRING_FIELDS:
        if _present(body, name) and not isinstance(body[name], str):
            return f"{name} must be a string"
    for name in _BOOL_FIELDS:
        if _present(body, name) and not isinstance(body[name], bool):
            return f"{name} must be a boolean"
    for name in _NUMBER_FIELDS:
        if _present(body, name) and not _is_number(body[name]):
            return f"{name} must be a number"
    for name in SLIDER_FIELDS:
        if _present(body, name) and not 0 <= body[name] <= 1:
            return f"{name} must be between 0 and 1 (got {body[name]})"
    if _present(body, "vocalGender") and body["vocalGender"] not in ("m", "f"):
        return f"vocalGender must be 'm' or 'f' (got {body['vocalGender']!r})"

    if task in MUSIC_TASKS:
        if not _present(body, "model"):
            return "model is required"
        if body["model"] not in MODELS:
            return f"model must be one of {', '.join(MODELS)} (got {body['model']!r})"
    if task in CLIP_TASKS and not (body.get("clipId") or "").strip():
        return "clipId is required"
    if task in UPLOAD_TASKS:
        url = body.get("audioUrl") or ""
        if not url.strip():
            return "audioUrl is required"
        if not url.startswith(("http://", "https://")):
            return "audioUrl must be an http(s) URL"
    if task in ("extend", "upload_extend"):
        value = body.get("continueAt")
        if value is None:
            return "continueAt is required"
        if not _is_number(value) or not value > 0:
            return "continueAt must be a number of seconds greater than 0"
        return _check_optional_texts(body)
    if task in ("create", "cover", "upload_cover"):
        return _check_mode(body)
    if task == "inspiration":
        if not _filled(body, "playlistId"):
            return "playlistId is required"
        return _check_optional_texts(body)
    if task in ("lyrics", "upsample_tags") and not _filled(body, "prompt"):
        return "prompt is required"
    if task == "replace_section":
        return _check_replace_section(body)
    if task == "replace_merge" and not _filled(body, "editSessionId"):
        return "editSessionId is required"
    if task == "persona":
        for name in ("taskId", "name", "description"):
            if not _filled(body, name):
                return f"{name} is required"
    return None


def _filled(body: dict[str, Any], name: str) -> bool:
    """``body[name]`` is a non-blank string (its type was checked before)."""
    return bool((body.get(name) or "").strip())


def _check_replace_section(body: dict[str, Any]) -> str | None:
    """replace_section's own fields (C-APIFOX lists all seven as required); the range against the
    clip's duration is checked by the fake."""
    for name in ("taskId", "tags", "title", "infillLyrics"):
        if not _filled(body, name):
            return f"{name} is required"
    for name in ("rangeStartS", "rangeEndS"):
        if not _present(body, name):
            return f"{name} is required"
    start, end = body["rangeStartS"], body["rangeEndS"]
    if start < 0:
        return f"rangeStartS must be 0 or more (got {start})"
    if not end > start:
        return f"rangeEndS must be greater than rangeStartS (got {start}–{end})"
    title: str = body["title"]
    if len(title) > TITLE_MAX:
        return f"title exceeds {TITLE_MAX} characters (got {len(title)})"
    return None


def _check_mode(body: dict[str, Any]) -> str | None:
    """create's rules (also cover / upload_cover): custom vs non-custom mode."""
    prompt: str = body.get("prompt") or ""
    if body.get("customMode") is True:
        title: str = body.get("title") or ""
        tags: str = body.get("tags") or ""
        if not title.strip():
            return "title is required in custom mode"
        if not tags.strip():
            return "tags is required in custom mode"
        if body.get("makeInstrumental") is not True and not prompt.strip():
            return "prompt (lyrics) is required in custom mode unless makeInstrumental is true"
        return _check_optional_texts(body)
    if not prompt.strip():
        return "prompt is required in non-custom mode"
    if len(prompt) > NON_CUSTOM_PROMPT_MAX:
        return f"prompt exceeds {NON_CUSTOM_PROMPT_MAX} characters in non-custom mode (got {len(prompt)})"
    return None


def _check_optional_texts(body: dict[str, Any]) -> str | None:
    """Length limits of title / tags / prompt (lyrics) when given (custom mode, extend)."""
    model: str = body["model"]
    title: str = body.get("title") or ""
    tags: str = body.get("tags") or ""
    prompt: str = body.get("prompt") or ""
    if len(title) > TITLE_MAX:
        return f"title exceeds {TITLE_MAX} characters (got {len(title)})"
    if len(tags) > tags_max(model):
        return f"tags exceeds {tags_max(model)} characters for {model} (got {len(tags)})"
    if len(prompt) > lyrics_max(model):
        return f"prompt exceeds {lyrics_max(model)} characters for {model} (got {len(prompt)})"
    return None


# --------------------------------------------------------------------------
# The fake
# --------------------------------------------------------------------------


def _envelope(code: int, msg: str, data: Any = None) -> dict[str, Any]:
    return {"code": code, "msg": msg, "data": data}


def _fmt_time(wall: float | None) -> str | None:
    return None if wall is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(wall))


def _iso(wall: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(wall)) + f".{int(wall * 1000) % 1000:03d}Z"


def _title_from(prompt: str) -> str:
    return " ".join(prompt.split()[:4]).title()[:TITLE_MAX] or "Untitled"


def _slug(stem: str) -> str:
    return stem.lower().replace(" ", "_")


def _word_pattern(words: set[str]) -> re.Pattern[str] | None:
    if not words:
        return None
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


# A timeline word: any section labels ("[Verse 1]\n") glued to the next word, then the word and the
# whitespace after it, as in C-PAGES:export's example ("[Verse 1]\nRed ", "eyes ", ..., "night\n").
_TIMELINE_WORD: Final = re.compile(r"(?:\[[^\]\n]*\]\s*)*\S+\s*")


def aligned_words(lyrics: str, duration: float) -> list[dict[str, Any]]:
    """The ``timeline`` result's ``aligned_words`` for a clip with these lyrics and duration.

    Deterministic: the words (``"".join(word) == lyrics.lstrip()``) share the span from 5 % to
    95 % of the duration in equal slots, each sung for the first 80 % of its slot; times are
    rounded to 5 decimals; ``success`` true, ``p_align`` 0.99 (C-PAGES:export's example values).
    No lyrics (an instrumental) -> ``[]``."""
    words = _TIMELINE_WORD.findall(lyrics)
    if not words:
        return []
    first, slot = duration * 0.05, duration * 0.9 / len(words)
    return [
        {
            "word": word,
            "success": True,
            "start_s": round(first + i * slot, 5),
            "end_s": round(first + i * slot + slot * 0.8, 5),
            "p_align": 0.99,
        }
        for i, word in enumerate(words)
    ]


def downbeats(duration: float, bpm: float = DEFAULT_BPM) -> list[list[float]]:
    """The ``downbeats`` result's list: ``[time_s, beat_in_bar]`` for every beat of a 4/4 bar at
    ``bpm`` from 0 up to (not including) ``duration``; times rounded to 5 decimals. UNCONFIRMED shape."""
    beat = 60.0 / bpm
    count = math.ceil(duration / beat) if duration > 0 else 0
    return [[round(i * beat, 5), i % 4 + 1] for i in range(count)]


def boost_tags(prompt: str) -> str:
    """The fake's deterministic ``upsample_tags`` text for ``prompt`` (it always contains it)."""
    return (
        f"{prompt.strip()}, driven by a clean guitar riff, tight bass and crisp drums; "
        "verses with subtle synth textures, a catchy chorus lifted by layered harmonies"
    )


def _merge_lyrics(lyrics: str, duration: float, start: float, end: float, infill: str) -> str:
    """The source's lyrics with every word timed (by :func:`aligned_words`) inside or across
    ``[start, end]`` replaced by ``infill``."""
    words = aligned_words(lyrics, duration)
    before = "".join(w["word"] for w in words if w["end_s"] <= start)
    after = "".join(w["word"] for w in words if w["start_s"] >= end)
    middle = infill if not after or infill[-1:].isspace() else infill + "\n"
    return before + middle + after


class FakeCqt:
    """aiohttp server on 127.0.0.1 imitating api.cqtai.com's Suno endpoints."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.api_key: str = api_key or secrets.token_hex(16)
        self.clock: Callable[[], float] = clock  # Submission.at
        self.wall_clock: Callable[[], float] = wall_clock  # createTime / completeTime / created_at

        # Knobs.
        self.max_running: int | None = 5
        self.credits: int = 10_000
        self.blocked_words: set[str] = {"taylor swift", "drake"}  # -> 451 "artist name not allowed"
        self.moderated_words: set[str] = set()  # -> 451 "content moderation"
        self.auto_complete_after_polls: int | None = None
        self.lyrics_shape: str = "list"  # "list" | "object"
        self.export_shape: str = "object"  # "object" | "clip"
        self.audio_size: int = DEFAULT_AUDIO_SIZE  # mp3 of clips and stems (tasks created from now on)
        self.image_size: int = DEFAULT_IMAGE_SIZE  # jpeg covers
        self.file_size: int = DEFAULT_FILE_SIZE  # wav / mp4 exports and clips' video_url
        self.durations: tuple[float, float] = DEFAULT_DURATIONS  # create / cover / upload_cover clips
        self.extend_by: tuple[float, float] = DEFAULT_EXTEND_BY  # extend clips: source duration + this
        self.upload_duration: float = DEFAULT_UPLOAD_DURATION  # bounds continueAt on upload_extend
        self.upload_fetch_timeout: float = 10.0
        self.costs: dict[str, int] = dict(COSTS)  # credits per task type
        self.persona_shape: str = "suno"  # "suno" | "kie": the persona task's result
        self.downbeats_bpm: float = DEFAULT_BPM  # tempo of the downbeats results
        self.replace_min_s: float = REPLACE_MIN_S  # replace_section range length bounds (kie's)
        self.replace_max_s: float = REPLACE_MAX_S
        self.replace_max_fraction: float = REPLACE_MAX_FRACTION  # of the clip's duration
        self.playlist_ids: set[str] | None = None  # inspiration: None accepts any playlistId

        # Observations.
        self.submissions: list[Submission] = []
        self.tasks: dict[str, Task] = {}
        self.polls: dict[str, int] = {}
        self.api_calls: list[ApiCall] = []
        self.downloads: list[str] = []  # absolute URLs of files fetched (GET) from the fake
        self.uploads: list[UploadFetch] = []  # the fake's GETs of audioUrl
        self.personas: dict[str, Persona] = {}  # usable personaIds

        self._submit_failures: list[CannedError] = []
        self._poll_failures: list[CannedError] = []
        self._clips: dict[str, tuple[str, int]] = {}  # clip id -> (task id, index in task.clips)
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._port: int | None = None

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/cqt/generator/suno", self._handle_submit)
        app.router.add_get("/api/cqt/info/suno", self._handle_info)
        app.router.add_route("*", "/api/{tail:.*}", self._handle_unknown_api)
        app.router.add_get("/files/{task_id}/{name}", self._handle_file)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = int(self._runner.addresses[0][1])
        self._session = aiohttp.ClientSession()

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeCqt:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        if self._port is None:
            raise RuntimeError("FakeCqt not started")
        return f"http://127.0.0.1:{self._port}"

    # ---------------------------------------------------------------- scripting

    def fail_next_submit(
        self, code: int, msg: str, *, http_status: int = 200, data: Any = None, task: str | None = None
    ) -> None:
        """Answer the next authorised, JSON-valid submit (whose ``task`` is ``task`` if given)
        with ``{"code", "msg", "data"}`` at ``http_status``; no task is created."""
        if task is not None and task not in TASKS:
            raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
        self._submit_failures.append(CannedError(code, msg, http_status, data, task))

    def fail_next_poll(self, code: int, msg: str, *, http_status: int = 200) -> None:
        """Answer the next authorised info request with ``{"code", "msg", "data": null}``
        (not counted in ``polls``)."""
        self._poll_failures.append(CannedError(code, msg, http_status))

    def advance(self, task_id: str, status: str = PROCESSING) -> None:
        """Move a pending task to ``"queued"`` or ``"processing"``."""
        task = self._task(task_id)
        if status not in PENDING_STATUSES:
            raise ValueError(f"advance() takes 'queued' or 'processing', not {status!r}; use complete()/fail()")
        if task.terminal:
            raise ValueError(f"task {task_id} is already {task.status}")
        task.status = status

    def complete(self, task_id: str) -> None:
        """-> ``"succeeded"`` with its result (shape per task type and the shape knobs)."""
        task = self._task(task_id)
        if task.status == SUCCEEDED:
            return
        if task.status == FAILED:
            raise ValueError(f"task {task_id} has failed")
        task.result = self._build_result(task)
        task.status = SUCCEEDED
        task.completed_at = self.wall_clock()
        if task.new_persona_id is not None:
            self.personas[task.new_persona_id] = Persona(
                task.new_persona_id,
                str(task.body["name"]),
                str(task.body["description"]),
                task.source_clip_id,
                task.task_id,
            )

    def fail(self, task_id: str, msg: str = "failed", code: int | None = None) -> None:
        """-> ``"failed"`` with ``errorMsg=msg`` and ``result`` null; the task's credits are refunded.

        ``code`` None: info answers envelope code 200. Otherwise info answers with envelope
        ``{"code": code, "msg": msg}`` (and the task object as ``data``)."""
        task = self._task(task_id)
        if task.status == SUCCEEDED:
            raise ValueError(f"task {task_id} has already succeeded")
        task.status = FAILED
        task.error_msg = msg
        task.error_code = code
        task.result = None
        task.completed_at = self.wall_clock()
        if not task.refunded:
            self.credits += task.cost
            task.refunded = True

    def set_file_bytes(self, url: str, data: bytes) -> None:
        """Serve ``data`` at ``url`` (any file URL the fake hands out) from now on."""
        task, name = self._resolve_url(url)
        task.file_overrides[name] = data

    def add_persona(self, name: str = "Test Persona", description: str = "", *, clip_id: str | None = None) -> str:
        """Register a persona directly (no ``persona`` task, no credits) and return its id, usable
        as ``personaId`` at once. ``clip_id``, if given, must be a known clip."""
        if clip_id is not None:
            self.clip(clip_id)
        persona_id = str(uuid.uuid4())
        self.personas[persona_id] = Persona(persona_id, name, description, clip_id, None)
        return persona_id

    # ---------------------------------------------------------------- inspection

    def task(self, task_id: str) -> Task:
        return self._task(task_id)

    @property
    def last_task_id(self) -> str:
        if not self.submissions:
            raise LookupError("no accepted submissions yet")
        return self.submissions[-1].task_id

    def submissions_of(self, task: str) -> list[Submission]:
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
        return [s for s in self.submissions if s.task == task]

    def clip(self, clip_id: str) -> tuple[Task, dict[str, Any]]:
        """The task that generated ``clip_id`` and the clip (its final, "complete" shape)."""
        try:
            task_id, index = self._clips[clip_id]
        except KeyError:
            raise KeyError(f"unknown clip {clip_id!r}") from None
        task = self._task(task_id)
        return task, task.clips[index]

    def segments(self, task_id: str) -> list[str]:
        """The segment clip ids (= editSessionIds) of a ``replace_section`` task, known at submit."""
        task = self._task(task_id)
        if task.task != "replace_section":
            raise ValueError(f"task {task_id} is a {task.task} task, not replace_section")
        return [clip["id"] for clip in task.clips]

    def timeline(self, clip_id: str) -> list[dict[str, Any]]:
        """What a ``timeline`` task of ``clip_id`` would give as ``aligned_words`` now."""
        clip = self.clip(clip_id)[1]
        return aligned_words(clip["metadata"]["prompt"] or "", clip["metadata"]["duration"])

    def running_count(self) -> int:
        return sum(1 for t in self.tasks.values() if not t.terminal)

    def file_url(self, task_id: str, name: str) -> str:
        task = self._task(task_id)
        if self._file(task, name) is None:
            raise KeyError(f"task {task_id} has no file {name!r}")
        return f"{self.base_url}/files/{task_id}/{name}"

    def file_bytes(self, url: str) -> bytes:
        """The bytes served at ``url`` (absolute URL or path)."""
        task, name = self._resolve_url(url)
        found = self._file(task, name)
        assert found is not None
        return found[0]

    def info_data(self, task_id: str) -> dict[str, Any]:
        """The info answer's ``data`` object for the task's current state."""
        task = self._task(task_id)
        result: Any = None
        if task.status == SUCCEEDED:
            result = task.result
        elif task.status == PROCESSING and task.is_music:
            result = [self._streaming(c) for c in task.clips]
        return {
            "id": task.task_id,
            "taskType": task.task,
            "status": task.status,
            "errorMsg": task.error_msg if task.status == FAILED else None,
            "param": task.body,
            "result": result,
            "createTime": _fmt_time(task.created_at),
            "completeTime": _fmt_time(task.completed_at) if task.terminal else None,
        }

    # ---------------------------------------------------------------- HTTP handlers

    async def _handle_submit(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._reply(request, _envelope(401, UNAUTHORIZED_MSG))
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return self._reply(request, _envelope(400, "invalid JSON body"))
        if not isinstance(body, dict):
            return self._reply(request, _envelope(400, "invalid JSON body: expected an object"))
        canned = self._pop_submit_failure(body.get("task"))
        if canned is not None:
            return self._reply(request, _envelope(canned.code, canned.msg, canned.data), canned.http_status)
        try:
            task = await self._accept(body)
        except _Reject as reject:
            return self._reply(request, _envelope(reject.code, reject.msg))
        return self._reply(request, _envelope(200, "success", task.task_id))

    async def _handle_info(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._reply(request, _envelope(401, UNAUTHORIZED_MSG))
        if self._poll_failures:
            canned = self._poll_failures.pop(0)
            return self._reply(request, _envelope(canned.code, canned.msg, canned.data), canned.http_status)
        task_id = request.query.get("id", "")
        if not task_id:
            return self._reply(request, _envelope(400, "id is required"))
        task = self.tasks.get(task_id)
        if task is None:
            return self._reply(request, _envelope(404, NOT_FOUND_MSG))
        self.polls[task_id] = self.polls.get(task_id, 0) + 1
        n = self.auto_complete_after_polls
        if n is not None and not task.terminal:
            if self.polls[task_id] >= n:
                self.complete(task_id)
            else:
                task.status = PROCESSING
        data = self.info_data(task_id)
        if task.status == FAILED and task.error_code is not None:
            return self._reply(request, _envelope(task.error_code, task.error_msg or "failed", data))
        return self._reply(request, _envelope(200, "success", data))

    async def _handle_unknown_api(self, request: web.Request) -> web.Response:
        return self._reply(request, _envelope(404, f"not found: {request.method} {request.path}"), 404)

    async def _handle_file(self, request: web.Request) -> web.Response:
        task = self.tasks.get(request.match_info["task_id"])
        found = self._file(task, request.match_info["name"]) if task is not None else None
        if found is None:
            raise web.HTTPNotFound()
        if request.method == "GET":
            self.downloads.append(f"{self.base_url}{request.path}")
        return web.Response(body=found[0], content_type=found[1])

    # ---------------------------------------------------------------- submit

    async def _accept(self, body: dict[str, Any]) -> Task:
        kind = body.get("task")
        if kind is None:
            raise _Reject(400, "task is required")
        if kind not in TASKS:
            raise _Reject(400, f"unsupported task: {kind}")
        problem = validate_body(body)
        if problem:
            raise _Reject(400, problem)

        source_clip_id: str | None = None
        if kind in CLIP_TASKS:
            source_clip_id = str(body["clipId"])
            found = self._clips.get(source_clip_id)
            if found is None or self.tasks[found[0]].status == FAILED:
                raise _Reject(400, CLIP_NOT_FOUND_MSG)
            if kind == "extend":
                self._check_continue_at(body, self.clip(source_clip_id)[1]["metadata"]["duration"])
            if kind in ("replace_section", "persona"):
                self._check_source_task(str(body["taskId"]), source_clip_id)
            if kind == "replace_section":
                self._check_range(body, source_clip_id)
            if kind == "replace_merge":
                self._check_segment(str(body["editSessionId"]), source_clip_id)
        if kind in PERSONA_TASKS:
            self._check_song_references(kind, body)

        self._screen(body)

        upload: bytes | None = None
        if kind in UPLOAD_TASKS:
            upload = await self._fetch_upload(str(body["audioUrl"]))
            if upload is None:
                raise _Reject(400, DOWNLOAD_FAILED_MSG)
            if kind == "upload_extend":
                self._check_continue_at(body, self.upload_duration)

        # No await from here on: the credit and slot checks and the creation are atomic.
        cost = self.costs[kind]
        if self.credits < cost:
            raise _Reject(402, CREDITS_MSG)
        if self.max_running is not None and self.running_count() >= self.max_running:
            raise _Reject(429, TASK_LIMIT_MSG)
        self.credits -= cost
        task = self._create_task(kind, body, cost, source_clip_id, upload)
        self.submissions.append(Submission(task.task_id, body, self.clock(), kind))
        return task

    def _check_source_task(self, task_id: str, clip_id: str) -> None:
        """replace_section / persona: ``taskId`` is the succeeded task that made ``clipId``, a song."""
        source = self.tasks.get(task_id)
        if source is None:
            raise _Reject(400, NOT_FOUND_MSG)
        if source.status != SUCCEEDED:
            raise _Reject(400, f"task {task_id} has not succeeded (status {source.status})")
        if self._clips[clip_id][0] != task_id:
            raise _Reject(400, "clipId is not a clip of taskId")
        if source.task not in EDITABLE_TASKS:
            raise _Reject(400, f"clipId must be a song clip, not the result of a {source.task} task")

    def _check_range(self, body: dict[str, Any], clip_id: str) -> None:
        """replace_section: ``tags`` against the source model's limit, the range against the clip
        (bounds UNCONFIRMED: kie's 6–60 s and at most 50 %, see the knobs)."""
        source_task, clip = self.clip(clip_id)
        tags: str = body["tags"]
        limit = tags_max(source_task.model)
        if len(tags) > limit:
            raise _Reject(400, f"tags exceeds {limit} characters for {source_task.model} (got {len(tags)})")
        duration: float = clip["metadata"]["duration"]
        start, end = body["rangeStartS"], body["rangeEndS"]
        if end > duration:
            raise _Reject(400, f"rangeEndS must not exceed the clip's duration ({duration} s)")
        length = round(end - start, 6)
        if not self.replace_min_s <= length <= self.replace_max_s:
            raise _Reject(
                400, f"the range must be {self.replace_min_s:g}–{self.replace_max_s:g} s long (got {length:g} s)"
            )
        if length > duration * self.replace_max_fraction:
            raise _Reject(
                400,
                f"the range must be at most {self.replace_max_fraction:.0%} of the clip "
                f"({duration} s; got {length:g} s)",
            )

    def _check_segment(self, segment_id: str, clip_id: str) -> None:
        """replace_merge: ``editSessionId`` is a segment of a succeeded replace_section of ``clipId``."""
        found = self._clips.get(segment_id)
        if found is None or self.tasks[found[0]].task != "replace_section":
            raise _Reject(400, "edit session not found")
        segment_task = self.tasks[found[0]]
        if segment_task.status != SUCCEEDED:
            raise _Reject(400, f"edit session not ready (replace_section task is {segment_task.status})")
        if segment_task.source_clip_id != clip_id:
            raise _Reject(400, "editSessionId is a segment of another clip")

    def _check_song_references(self, kind: str, body: dict[str, Any]) -> None:
        """personaId / artistClipId / playlistId of a song task."""
        if _present(body, "personaId") and body["personaId"] not in self.personas:
            raise _Reject(400, PERSONA_NOT_FOUND_MSG)
        if _present(body, "artistClipId"):
            found = self._clips.get(body["artistClipId"])
            if found is None or self.tasks[found[0]].status == FAILED:
                raise _Reject(400, "artist clip not found")
        if kind == "inspiration" and self.playlist_ids is not None and body["playlistId"] not in self.playlist_ids:
            raise _Reject(400, PLAYLIST_NOT_FOUND_MSG)

    @staticmethod
    def _check_continue_at(body: dict[str, Any], duration: float) -> None:
        if not body["continueAt"] < duration:
            raise _Reject(400, f"continueAt must be less than the clip's duration ({duration} s)")

    def _screen(self, body: dict[str, Any]) -> None:
        texts = [body[name] for name in _SCREENED_FIELDS if isinstance(body.get(name), str)]
        for words, msg in ((self.blocked_words, ARTIST_MSG), (self.moderated_words, MODERATION_MSG)):
            pattern = _word_pattern(words)
            if pattern is not None and any(pattern.search(text) for text in texts):
                raise _Reject(451, msg)

    async def _fetch_upload(self, url: str) -> bytes | None:
        if self._session is None:
            raise RuntimeError("FakeCqt not started")
        try:
            async with self._session.get(url, timeout=aiohttp.ClientTimeout(total=self.upload_fetch_timeout)) as r:
                data = await r.read()
                status = r.status
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

    def _pop_submit_failure(self, kind: Any) -> CannedError | None:
        for i, canned in enumerate(self._submit_failures):
            if canned.task is None or canned.task == kind:
                return self._submit_failures.pop(i)
        return None

    # ---------------------------------------------------------------- tasks and results

    def _create_task(
        self, kind: str, body: dict[str, Any], cost: int, source_clip_id: str | None, upload: bytes | None
    ) -> Task:
        task_id = uuid.uuid4().hex
        now = self.wall_clock()
        model = str(body.get("model") or "")
        if source_clip_id is not None and not model:
            model = self.clip(source_clip_id)[0].model
        task = Task(
            task_id,
            kind,
            body,
            created_at=now,
            cost=cost,
            model=model,
            source_clip_id=source_clip_id,
            upload_bytes=upload,
            audio_size=self.audio_size,
            image_size=self.image_size,
            file_size=self.file_size,
            vocal_gender=body.get("vocalGender"),
            style_weight=body.get("styleWeight"),
            weirdness_constraint=body.get("weirdnessConstraint"),
            audio_weight=body.get("audioWeight"),
            persona_id=body.get("personaId") if kind in PERSONA_TASKS else None,
            new_persona_id=str(uuid.uuid4()) if kind == "persona" else None,
            segment_id=str(body["editSessionId"]) if kind == "replace_merge" else None,
        )
        if kind in MUSIC_TASKS:
            task.clips = self._music_clips(task, now)
        elif kind in STEM_TASKS:
            task.clips = self._stem_clips(task, now)
        elif kind == "replace_section":
            task.clips = self._segment_clips(task, now)
        elif kind == "replace_merge":
            task.clips = self._merged_clips(task, now)
        self.tasks[task_id] = task
        for index, clip in enumerate(task.clips):
            self._clips[clip["id"]] = (task_id, index)
        return task

    def _music_clips(self, task: Task, now: float) -> list[dict[str, Any]]:
        body = task.body
        prompt: str = body.get("prompt") or ""
        instrumental = body.get("makeInstrumental") is True
        source = self.clip(task.source_clip_id)[1] if task.source_clip_id else None
        custom = body.get("customMode") is True
        if task.task in ("extend", "upload_extend"):
            base_title = source["title"] if source else _title_from(prompt) if prompt else "Uploaded Audio"
            title = body.get("title") or base_title
            tags = body.get("tags") or (source["metadata"]["tags"] if source else "fake, extended")
            lyrics = "" if instrumental else prompt or (source["metadata"]["prompt"] if source else "")
            base = source["metadata"]["duration"] if source else self.upload_duration
            durations = [base + extra for extra in self.extend_by]
        elif task.task == "inspiration":
            title = _title_from(prompt) if prompt.strip() else "Inspiration"
            tags = "fake, inspired"
            lyrics = "" if instrumental else f"[Verse]\n{prompt or 'a song from the playlist'}\n[Chorus]\n{title}"
            durations = list(self.durations)
        elif custom:
            title, tags = str(body["title"]), str(body["tags"])
            lyrics = "" if instrumental else prompt
            durations = list(self.durations)
        else:
            title = source["title"] if source else _title_from(prompt)
            tags = "fake, generated"
            lyrics = "" if instrumental else f"[Verse]\n{prompt}\n[Chorus]\n{title}"
            durations = list(self.durations)
        extra: dict[str, Any] = {"type": "gen"}
        if task.task == "extend":
            extra.update(continue_clip_id=task.source_clip_id, continue_at=body["continueAt"])
        sliders = {meta: body[name] for name, meta in _SLIDER_METADATA.items() if _present(body, name)}
        if sliders:
            extra["control_sliders"] = sliders
        return [
            self._song_clip(task, n, now, title, tags, lyrics, duration, MODEL_NAMES[task.model], extra)
            for n, duration in enumerate(durations)
        ]

    def _segment_clips(self, task: Task, now: float) -> list[dict[str, Any]]:
        """replace_section: two segments of the range's length; each one's id is an editSessionId."""
        assert task.source_clip_id is not None
        body, source = task.body, self.clip(task.source_clip_id)[1]
        start, end = body["rangeStartS"], body["rangeEndS"]
        extra = {
            "type": "infill",
            "infill": True,
            "infill_start_s": start,
            "infill_end_s": end,
            "edited_clip_id": task.source_clip_id,
        }
        title, tags, lyrics = str(body["title"]), str(body["tags"]), str(body["infillLyrics"])
        length = round(end - start, 2)
        clips = [
            self._song_clip(task, n, now, title, tags, lyrics, length, source["model_name"], extra, video=False)
            for n in range(2)
        ]
        for clip in clips:
            clip["metadata"]["edit_session_id"] = clip["id"]
        return clips

    def _merged_clips(self, task: Task, now: float) -> list[dict[str, Any]]:
        """replace_merge: the source clip with the segment's range replaced; the source's length."""
        assert task.source_clip_id is not None and task.segment_id is not None
        source = self.clip(task.source_clip_id)[1]
        segment_task, segment = self.clip(task.segment_id)
        meta = source["metadata"]
        start, end = segment_task.body["rangeStartS"], segment_task.body["rangeEndS"]
        lyrics = _merge_lyrics(meta["prompt"] or "", meta["duration"], start, end, segment["metadata"]["prompt"])
        extra = {"type": "concat", "edited_clip_id": task.source_clip_id, "edit_session_id": task.segment_id}
        title, tags = segment["title"], segment["metadata"]["tags"]
        return [self._song_clip(task, 0, now, title, tags, lyrics, meta["duration"], source["model_name"], extra)]

    def _song_clip(
        self,
        task: Task,
        n: int,
        now: float,
        title: str,
        tags: str,
        lyrics: str,
        duration: float,
        model_name: str,
        extra: dict[str, Any],
        *,
        video: bool = True,
    ) -> dict[str, Any]:
        """Song clip ``n`` of ``task`` (files ``{n}.mp3``, ``{n}.jpeg``, ``{n}_large.jpeg``, ``{n}.mp4``)."""
        url = f"{self.base_url}/files/{task.task_id}"
        return {
            "id": str(uuid.uuid4()),
            "title": title,
            "status": "complete",
            "audio_url": f"{url}/{n}.mp3",
            "image_url": f"{url}/{n}.jpeg",
            "image_large_url": f"{url}/{n}_large.jpeg",
            "video_url": f"{url}/{n}.mp4" if video else "",
            "model_name": model_name,
            "metadata": {"duration": duration, "tags": tags, "prompt": lyrics, **copy.deepcopy(extra)},
            "created_at": _iso(now),
        }

    def _stem_clips(self, task: Task, now: float) -> list[dict[str, Any]]:
        assert task.source_clip_id is not None
        source = self.clip(task.source_clip_id)[1]
        stems = STEMS_TWO if task.task == "gen_stem_two" else STEMS_ALL
        return [
            {
                "id": str(uuid.uuid4()),
                "title": f"{source['title']} ({stem})",
                "status": "complete",
                "audio_url": f"{self.base_url}/files/{task.task_id}/{_slug(stem)}.mp3",
                "image_url": source["image_url"],
                "image_large_url": source["image_large_url"],
                "video_url": "",
                "model_name": source["model_name"],
                "metadata": {
                    "duration": source["metadata"]["duration"],
                    "tags": source["metadata"]["tags"],
                    "prompt": "",
                    "type": "gen_stem",
                    "stem_from_id": task.source_clip_id,
                    "stem_task": STEM_TASK_NAME[task.task],
                    "stem_type_group_name": stem,
                },
                "created_at": _iso(now),
            }
            for stem in stems
        ]

    @staticmethod
    def _streaming(clip: dict[str, Any]) -> dict[str, Any]:
        item = copy.deepcopy(clip)
        item.update(status="streaming", audio_url="", video_url="")
        item["metadata"]["duration"] = None
        return item

    def _build_result(self, task: Task) -> Any:
        if task.clips:
            return copy.deepcopy(task.clips)
        if task.task == "lyrics":
            prompt = str(task.body["prompt"])
            title = _title_from(prompt)
            variants = [
                {
                    "title": title if i == 0 else f"{title} ({i + 1})",
                    "text": f"[Verse]\n{prompt}\n[Chorus]\n{title}, take {i + 1}\n[Outro]\n{title}",
                    "status": "complete",
                }
                for i in range(2)
            ]
            if self.lyrics_shape == "list":
                return variants
            if self.lyrics_shape == "object":
                return {"title": variants[0]["title"], "text": variants[0]["text"]}
            raise ValueError(f"lyrics_shape must be 'list' or 'object', not {self.lyrics_shape!r}")
        if task.task == "upsample_tags":
            return {"upsampled_tags": boost_tags(str(task.body["prompt"])), "request_id": str(uuid.uuid4())}
        if task.task == "persona":
            return self._persona_result(task)
        if task.task == "timeline":
            assert task.source_clip_id is not None
            return {"aligned_words": self.timeline(task.source_clip_id)}
        if task.task == "downbeats":
            assert task.source_clip_id is not None
            duration = self.clip(task.source_clip_id)[1]["metadata"]["duration"]
            return {"downbeats": downbeats(duration, self.downbeats_bpm)}
        # wav / mp4
        is_wav = task.task == "wav"
        url = f"{self.base_url}/files/{task.task_id}/{'audio.wav' if is_wav else 'video.mp4'}"
        if self.export_shape == "object":
            return {"wav_file_url": url} if is_wav else {"video_url": url}
        if self.export_shape == "clip":
            assert task.source_clip_id is not None
            source = self.clip(task.source_clip_id)[1]
            key = "audio_url" if is_wav else "video_url"
            return [{"id": task.source_clip_id, "title": source["title"], "status": "complete", key: url}]
        raise ValueError(f"export_shape must be 'object' or 'clip', not {self.export_shape!r}")

    def _persona_result(self, task: Task) -> dict[str, Any]:
        assert task.new_persona_id is not None and task.source_clip_id is not None
        name, description = task.body["name"], task.body["description"]
        if self.persona_shape == "suno":
            return {
                "id": task.new_persona_id,
                "name": name,
                "description": description,
                "root_clip_id": task.source_clip_id,
                "image_s3_id": self.clip(task.source_clip_id)[1]["image_url"],
            }
        if self.persona_shape == "kie":
            return {"personaId": task.new_persona_id, "name": name, "description": description}
        raise ValueError(f"persona_shape must be 'suno' or 'kie', not {self.persona_shape!r}")

    # ---------------------------------------------------------------- files

    def _file(self, task: Task | None, name: str) -> tuple[bytes, str] | None:
        """(content, content type) of a file of ``task``, or None if it has no such file."""
        if task is None:
            return None
        kind = self._file_kind(task, name)
        if kind is None:
            return None
        content_type, make = kind
        override = task.file_overrides.get(name)
        return (override if override is not None else make()), content_type

    def _file_kind(self, task: Task, name: str) -> tuple[str, Callable[[], bytes]] | None:
        seed = f"{task.task_id}:{name}"
        stem, dot, ext = name.rpartition(".")
        if not dot:
            return None
        if task.is_music:
            index, _, large = stem.partition("_")
            if not index.isdigit() or int(index) >= len(task.clips) or large not in ("", "large"):
                return None
            if large:
                return ("image/jpeg", lambda: _jpeg(seed, task.image_size)) if ext == "jpeg" else None
            if ext == "mp3":
                return "audio/mpeg", lambda: _blob(seed, task.audio_size, _MP3_PREFIX)
            if ext == "jpeg":
                return "image/jpeg", lambda: _jpeg(seed, task.image_size)
            if ext == "mp4" and task.task != "replace_section":  # segments have no video
                return "video/mp4", lambda: _blob(seed, task.file_size, _MP4_PREFIX)
            return None
        if task.task in STEM_TASKS:
            stems = STEMS_TWO if task.task == "gen_stem_two" else STEMS_ALL
            if ext == "mp3" and stem in {_slug(s) for s in stems}:
                return "audio/mpeg", lambda: _blob(seed, task.audio_size, _MP3_PREFIX)
            return None
        if task.task == "wav" and name == "audio.wav":
            return "audio/wav", lambda: _wav(seed, task.file_size)
        if task.task == "mp4" and name == "video.mp4":
            return "video/mp4", lambda: _blob(seed, task.file_size, _MP4_PREFIX)
        return None

    def _resolve_url(self, url: str) -> tuple[Task, str]:
        parts = urlsplit(url).path.split("/")
        if len(parts) != 4 or parts[0] != "" or parts[1] != "files":
            raise KeyError(f"not a file URL of the fake: {url!r}")
        task = self.tasks.get(parts[2])
        if task is None or self._file(task, parts[3]) is None:
            raise KeyError(f"no file at {url!r}")
        return task, parts[3]

    # ---------------------------------------------------------------- internals

    def _task(self, task_id: str) -> Task:
        try:
            return self.tasks[task_id]
        except KeyError:
            raise KeyError(f"unknown task {task_id!r}") from None

    def _authorized(self, request: web.Request) -> bool:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), self.api_key.encode())

    def _reply(self, request: web.Request, payload: dict[str, Any], http_status: int = 200) -> web.Response:
        self.api_calls.append(ApiCall(request.method, request.path_qs, http_status, int(payload["code"])))
        return web.json_response(payload, status=http_status)
