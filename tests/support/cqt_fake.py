"""Loopback fake of the CQTAI Suno API (``https://api.cqtai.com``), for end-to-end tests.

Written only from ``/work/shared/reference/suno-api-contract.md`` §8 (and seed 004, the
www.cqtai.com/docs/suno intro page), independently of the bot's own provider code, so that
tests exercise the bot's real HTTP client against an independent reading of the contract.

Covered surface
---------------

* ``POST /api/cqt/generator/suno`` with ``Authorization: Bearer <key>`` and a JSON body whose
  ``task`` picks the capability. Accepted: ``{"code":200,"msg":"success","data":"<taskId>"}``
  (``data`` is a **bare string**). Tasks: ``create``, ``extend``, ``cover``, ``upload_extend``,
  ``upload_cover``, ``gen_stem_two``, ``gen_stem_all``, ``lyrics``, ``wav``, ``mp4``; any other
  ``task`` -> ``{"code":400,"msg":"unsupported task: X"}``.
* ``GET /api/cqt/info/suno?id=<taskId>`` ->
  ``{"code":200,"msg":"success","data":{"id","taskType","status","errorMsg","param","result",
  "createTime","completeTime"}}``; unknown id -> ``{"code":404,"msg":"task not found"}``.
* Every other ``/api/*`` request -> HTTP 404 ``{"code":404,"msg":"not found: METHOD path"}``
  (e.g. the older ``/api/cqt/v2/sunoinfo`` path is *not* served).
* Files: every URL the fake hands out is served under ``/files/{task_id}/{name}``:
  music clip ``n`` -> ``{n}.mp3`` (ID3 header), ``{n}.jpeg`` / ``{n}_large.jpeg`` (JPEG),
  ``{n}.mp4`` (ftyp); stems -> ``{stem}.mp3`` (``vocals``, ``backing_vocals``, ``instrumental``,
  ``drums`` ...); wav export -> ``audio.wav`` (RIFF); mp4 export -> ``video.mp4``.
* Errors (seed 004 "Common Errors"): 401 "Unauthorized"; 402 "insufficient credits";
  429 "Task limit reached" (concurrency: tasks not yet succeeded/failed); 451 "artist name not
  allowed" / "content moderation"; 400 for bad requests (message names the field).
  Every answer is the envelope ``{"code","msg","data"}`` with HTTP 200, except canned failures
  given another ``http_status`` and the catch-all 404 above.
* Credits (seed 004 / §6): song 30, gen_stem_two 60, gen_stem_all 150, lyrics / wav / mp4 2;
  deducted on acceptance, refunded when the task fails ("auto-refunded if a task fails").

Submit checks, in order: auth (401) -> JSON object (400) -> canned failure -> ``task`` known
(400) -> field shape (400) -> clipId / continueAt against the clip (400) -> blocked words (451)
-> ``audioUrl`` fetched over HTTP (400 "audio download failed") -> credits (402) ->
concurrency (429) -> task created (status ``"queued"``).

UNCONFIRMED guesses (the contract does not show them; tests built on them may need changing
once real CQTAI traffic is seen):

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
  400; no limit on the ``lyrics`` prompt; ``styleWeight`` / ``weirdnessConstraint`` /
  ``audioWeight`` only type-checked (numbers); ``customMode`` / ``makeInstrumental`` default
  to false when absent; ``cover`` / ``upload_cover`` follow ``create``'s mode rules; extend's
  ``model`` need not match the source clip's.

Typical use::

    async with FakeCqt() as cqt:
        ...  # point the bot's client at cqt.base_url with cqt.api_key
        cqt.advance(task_id, "processing")
        cqt.complete(task_id)
"""

from __future__ import annotations

import copy
import hmac
import json
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
    "Submission",
    "Task",
    "UploadFetch",
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
MUSIC_TASKS: Final[tuple[str, ...]] = ("create", "extend", "cover", "upload_extend", "upload_cover")
STEM_TASKS: Final[tuple[str, ...]] = ("gen_stem_two", "gen_stem_all")
EXPORT_TASKS: Final[tuple[str, ...]] = ("wav", "mp4")
TASKS: Final[tuple[str, ...]] = (*MUSIC_TASKS, *STEM_TASKS, "lyrics", *EXPORT_TASKS)
CLIP_TASKS: Final[tuple[str, ...]] = ("extend", "cover", *STEM_TASKS, *EXPORT_TASKS)
UPLOAD_TASKS: Final[tuple[str, ...]] = ("upload_extend", "upload_cover")
COSTS: Final[dict[str, int]] = {
    **{t: 30 for t in MUSIC_TASKS},
    "gen_stem_two": 60,
    "gen_stem_all": 150,
    "lyrics": 2,
    "wav": 2,
    "mp4": 2,
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
    "model", "prompt", "tags", "negativeTags", "title", "vocalGender", "clipId", "audioUrl",
)  # fmt: skip
_BOOL_FIELDS: Final[tuple[str, ...]] = ("customMode", "makeInstrumental")
_NUMBER_FIELDS: Final[tuple[str, ...]] = ("styleWeight", "weirdnessConstraint", "audioWeight")
_SCREENED_FIELDS: Final[tuple[str, ...]] = ("prompt", "tags", "title")

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
DOWNLOAD_FAILED_MSG: Final = "audio download failed"

DEFAULT_AUDIO_SIZE: Final = 20 * 1024
DEFAULT_IMAGE_SIZE: Final = 2 * 1024
DEFAULT_FILE_SIZE: Final = 48 * 1024
DEFAULT_DURATIONS: Final[tuple[float, float]] = (198.44, 228.28)
DEFAULT_EXTEND_BY: Final[tuple[float, float]] = (60.0, 75.5)
DEFAULT_UPLOAD_DURATION: Final = 180.0


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
    source_clip_id: str | None = None  # extend / cover / stems / wav / mp4
    upload_bytes: bytes | None = None  # upload_extend / upload_cover: what the fake fetched
    audio_size: int = DEFAULT_AUDIO_SIZE
    image_size: int = DEFAULT_IMAGE_SIZE
    file_size: int = DEFAULT_FILE_SIZE
    file_overrides: dict[str, bytes] = field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def is_music(self) -> bool:
        return self.task in MUSIC_TASKS


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
    if task == "lyrics" and not (body.get("prompt") or "").strip():
        return "prompt is required"
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

        # Observations.
        self.submissions: list[Submission] = []
        self.tasks: dict[str, Task] = {}
        self.polls: dict[str, int] = {}
        self.api_calls: list[ApiCall] = []
        self.downloads: list[str] = []  # absolute URLs of files fetched (GET) from the fake
        self.uploads: list[UploadFetch] = []  # the fake's GETs of audioUrl

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

        self._screen(body)

        upload: bytes | None = None
        if kind in UPLOAD_TASKS:
            upload = await self._fetch_upload(str(body["audioUrl"]))
            if upload is None:
                raise _Reject(400, DOWNLOAD_FAILED_MSG)
            if kind == "upload_extend":
                self._check_continue_at(body, self.upload_duration)

        # No await from here on: the credit and slot checks and the creation are atomic.
        cost = COSTS[kind]
        if self.credits < cost:
            raise _Reject(402, CREDITS_MSG)
        if self.max_running is not None and self.running_count() >= self.max_running:
            raise _Reject(429, TASK_LIMIT_MSG)
        self.credits -= cost
        task = self._create_task(kind, body, cost, source_clip_id, upload)
        self.submissions.append(Submission(task.task_id, body, self.clock(), kind))
        return task

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
        )
        if kind in MUSIC_TASKS:
            task.clips = self._music_clips(task, now)
        elif kind in STEM_TASKS:
            task.clips = self._stem_clips(task, now)
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
        elif custom:
            title, tags = str(body["title"]), str(body["tags"])
            lyrics = "" if instrumental else prompt
            durations = list(self.durations)
        else:
            title = source["title"] if source else _title_from(prompt)
            tags = "fake, generated"
            lyrics = "" if instrumental else f"[Verse]\n{prompt}\n[Chorus]\n{title}"
            durations = list(self.durations)
        clips = []
        for n, duration in enumerate(durations):
            metadata: dict[str, Any] = {"duration": duration, "tags": tags, "prompt": lyrics, "type": "gen"}
            if task.task == "extend":
                metadata["continue_clip_id"] = task.source_clip_id
                metadata["continue_at"] = body["continueAt"]
            url = f"{self.base_url}/files/{task.task_id}"
            clips.append(
                {
                    "id": str(uuid.uuid4()),
                    "title": title,
                    "status": "complete",
                    "audio_url": f"{url}/{n}.mp3",
                    "image_url": f"{url}/{n}.jpeg",
                    "image_large_url": f"{url}/{n}_large.jpeg",
                    "video_url": f"{url}/{n}.mp4",
                    "model_name": MODEL_NAMES[task.model],
                    "metadata": metadata,
                    "created_at": _iso(now),
                }
            )
        return clips

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
            if ext == "mp4":
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
