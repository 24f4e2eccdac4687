"""Loopback fake of the kie.ai Suno API, for end-to-end tests.

Written only from ``/work/shared/reference/suno-api-contract.md`` (and the
seed docs it cites), independently of the bot's own provider code, so that
end-to-end tests exercise the bot's real HTTP client against an independent
reading of the contract.

Covered surface (kie.ai):

* music family (contract §2 rows 1-4, §2.1, §2.2, §1.1), all polled at
  ``GET /api/v1/generate/record-info`` (§4.1, 3 req/s per task §5.2):

  - ``POST /api/v1/generate``               kind ``"generate"``
  - ``POST /api/v1/generate/extend``        kind ``"extend"`` (source = a known track)
  - ``POST /api/v1/generate/upload-extend`` kind ``"upload_extend"`` (fetches ``uploadUrl``)
  - ``POST /api/v1/generate/upload-cover``  kind ``"upload_cover"`` (fetches ``uploadUrl``)

  callbacks text -> first -> complete / error (§3.1); upload tracks carry ``source_*``.
* ``POST /api/v1/lyrics`` + ``GET /api/v1/lyrics/record-info``            kind ``"lyrics"`` (§3.2, §4.2)
* ``POST /api/v1/vocal-removal/generate`` + ``GET .../record-info``       kind ``"separation"`` (§2.3, §3.2, §4.3)
* ``POST /api/v1/wav/generate`` + ``GET /api/v1/wav/record-info``         kind ``"wav"`` (§3.2, §4.4)
* ``POST /api/v1/mp4/generate`` + ``GET /api/v1/mp4/record-info``         kind ``"mp4"`` (§3.2, §4.4)
* ``GET  /api/v1/chat/credit``            credits (§2 row 17)
* webhook signing                         X-Webhook-Timestamp / -Signature (§5.5), every callback
* files: the fake hosts the "CDN" files it hands out, under ``/files/{task_id}/{name}`` and
  ``/stream/{task_id}/{n}``: track ``n`` (0-based position in ``sunoData``) is ``{n}.mp3`` /
  ``{n}.jpeg``; upload sources ``source.mp3`` / ``source.jpeg`` / ``/stream/{id}/source``;
  stems ``{stem}.mp3`` (e.g. ``vocal.mp3``); WAV ``audio.wav``; video ``video.mp4``.

Every API answer is the kie envelope ``{"code", "msg", "data"}``; errors are
HTTP 200 with an error ``code`` in the body, except the scripted HTTP-500
responses (``fail_next_submit(500, ..., http_status=500)``).

Provider flavours sharing kie's backend (``sunoapi_fake.FakeSunoApi``) subclass FakeKie and
override the "flavour hooks" (``_middlewares``, ``_reject_code``, ``_admit``, ``_on_accepted``,
``_poll_rate_limit_envelope``, ``CREDIT_PATH``) and the knobs ``text_limits`` /
``lyrics_record_info_key`` / ``separation_key``; their defaults are kie's behaviour.

Only ``"complete"`` and ``"error"`` exist for the non-music kinds; ``"text"`` and
``"first"`` are music-only stages.

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
    "ApiCall",
    "CannedError",
    "Delivery",
    "FakeKie",
    "Kind",
    "LyricsVariant",
    "ManualClock",
    "Stage",
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

Kind = Literal["generate", "extend", "upload_extend", "upload_cover", "lyrics", "separation", "wav", "mp4"]
MUSIC_KINDS: Final[tuple[str, ...]] = ("generate", "extend", "upload_extend", "upload_cover")
UPLOAD_KINDS: Final[tuple[str, ...]] = ("upload_extend", "upload_cover")
KINDS: Final[tuple[str, ...]] = (*MUSIC_KINDS, "lyrics", "separation", "wav", "mp4")

# §4.1 status enum.
PENDING: Final = "PENDING"
TEXT_SUCCESS: Final = "TEXT_SUCCESS"
FIRST_SUCCESS: Final = "FIRST_SUCCESS"
SUCCESS: Final = "SUCCESS"
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
}
_STAGE_STATUS: Final[dict[str, str]] = {
    "text": TEXT_SUCCESS,
    "first": FIRST_SUCCESS,
    "complete": SUCCESS,
}
_STATUS_RANK: Final[dict[str, int]] = {PENDING: 0, TEXT_SUCCESS: 1, FIRST_SUCCESS: 2, SUCCESS: 3}

# Callback "msg" per stage. Only the complete one is quoted by the contract.
_STAGE_MSG: Final[dict[str, str]] = {
    "text": "Text generation completed successfully.",
    "first": "First track generation completed successfully.",
    "complete": "All generated successfully.",
}
LYRICS_SUCCESS_MSG: Final = "All generated successfully."  # the contract elides the lyrics msg
SEPARATION_SUCCESS_MSG: Final = "vocal Removal generated successfully."  # §3.2 (CN page; EN elides it)

# (code, msg, record-info status) used by fail() / fail_next_task() when not given.
_DEFAULT_FAILURE: Final[dict[str, tuple[int, str, str]]] = {
    **{kind: (501, "Audio generation failed", "GENERATE_AUDIO_FAILED") for kind in MUSIC_KINDS},
    "lyrics": (400, "Song Description flagged for moderation", "GENERATE_LYRICS_FAILED"),
    "separation": (500, "Vocal separation failed", "GENERATE_AUDIO_FAILED"),  # split_stem: see below
    "wav": (500, "WAV generation failed", "GENERATE_WAV_FAILED"),
    "mp4": (500, "MP4 generation failed", "GENERATE_MP4_FAILED"),
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


@dataclass(frozen=True)
class Submission:
    """An accepted submit (any kind)."""

    task_id: str
    body: dict[str, Any]
    at: float  # FakeKie.clock() at acceptance
    kind: str = "generate"


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
}
_POLL_ROUTES: Final[dict[str, tuple[str, ...]]] = {
    "/api/v1/generate/record-info": MUSIC_KINDS,
    "/api/v1/lyrics/record-info": ("lyrics",),
    "/api/v1/vocal-removal/record-info": ("separation",),
    "/api/v1/wav/record-info": ("wav",),
    "/api/v1/mp4/record-info": ("mp4",),
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
        # (max requests, window seconds); None disables the limit. Shared by every submit endpoint.
        self.submit_rate_limit: tuple[int, float] | None = (20, 10.0)
        self.poll_rate_limit: tuple[int, float] | None = (3, 1.0)
        self.callback_timeout: float = 15.0  # §5.4

        # Observations.
        self.submissions: list[Submission] = []  # accepted submits of every kind
        self.tasks: dict[str, Task] = {}
        self.polls: dict[str, int] = {}
        self.downloads: list[str] = []
        self.uploads: list[UploadFetch] = []
        self.callback_results: list[tuple[str, str, int]] = []
        self.api_calls: list[ApiCall] = []
        # Exceptions raised inside auto-callback runs; drain() re-raises the first one.
        self.background_errors: list[BaseException] = []

        self._submit_failures: list[CannedError] = []
        # accepted submits whose answer is then lost: (when to drop it, set once the task exists)
        self._lost_answers: list[tuple[asyncio.Event | None, asyncio.Event]] = []
        self._poll_failures: list[CannedError] = []
        self._task_failures: list[_TaskFailurePlan] = []
        self._tracks_by_id: dict[str, tuple[str, int]] = {}
        self._expired: set[str] = set()  # tasks whose files the retention deleted (see expire)
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
        instead of the envelope (as a proxy in front of the provider would answer)."""
        _check_kind(kind)
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
        and its tracks can no longer be extended by audio id."""
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

    # ---------------------------------------------------------------- inspection

    def task(self, task_id: str) -> Task:
        return self._task(task_id)

    @property
    def last_task_id(self) -> str:
        if not self.submissions:
            raise LookupError("no accepted submissions yet")
        return self.submissions[-1].task_id

    def submissions_of(self, kind: str) -> list[Submission]:
        _check_kind(kind)
        return [s for s in self.submissions if s.kind == kind]

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
        "complete", "error"), §3.2 for the others ("complete", "error")."""
        task = self._task(task_id)
        if stage == "error":
            return self._error_body(task)
        if not task.is_music:
            if stage != "complete":
                raise ValueError(f"unknown stage {stage!r} for a {task.kind} task (use 'complete' or 'error')")
            return self._complete_body(task)
        if stage not in _STAGE_MSG:
            raise ValueError(f"unknown stage {stage!r}")
        tracks = [self._track_snake(task, t, stage) for t in self._visible_tracks(task, stage)]
        return _envelope(200, _STAGE_MSG[stage], {"callbackType": stage, "task_id": task_id, "data": tracks})

    async def advance(self, task_id: str, stage: str, *, deliver: bool = True) -> Delivery | None:
        """Move the task to ``stage`` (record-info changes) and POST that stage's callback.

        Non-music kinds only have "complete". Status never moves backwards and a failed
        task stays failed; the callback is still delivered in those cases (useful for
        out-of-order / late-callback tests).
        """
        task = self._task(task_id)
        if stage not in _STAGE_STATUS:
            raise ValueError(f"unknown stage {stage!r} (use fail() for errors)")
        if not task.is_music and stage != "complete":
            raise ValueError(f"stage {stage!r} is music-only; a {task.kind} task only has 'complete'")
        new_status = _STAGE_STATUS[stage]
        if not task.failed and _STATUS_RANK[new_status] > _STATUS_RANK[task.status]:
            task.status = new_status
            task.stage = stage
            if new_status == SUCCESS:
                task.completed_at = self.wall_clock()
        if not deliver:
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
        GENERATE_AUDIO_FAILED; wav 500 GENERATE_WAV_FAILED; mp4 500 GENERATE_MP4_FAILED.
        """
        task = self._task(task_id)
        d_code, d_msg, d_status = self._failure_defaults(task)
        status = d_status if status is None else status
        if status not in FAILURE_STATUSES_BY_KIND[task.kind]:
            raise ValueError(f"not a failure status for {task.kind}: {status}")
        task.status = status
        task.error_code = d_code if code is None else code
        task.error_message = d_msg if msg is None else msg
        if not deliver:
            return None
        return await self._deliver(task, "error")

    def finish_without_callback(self, task_id: str) -> None:
        """The task finishes but its callback cannot be delivered (e.g. a poll-only callBackUrl that never
        resolves): record-info shows ``CALLBACK_EXCEPTION`` (§4.1-§4.4) with the finished results."""
        task = self._task(task_id)
        task.status, task.stage, task.completed_at = "CALLBACK_EXCEPTION", "complete", self.wall_clock()

    async def resend(self, task_id: str, stage: str) -> Delivery:
        """Re-POST a stage's callback without changing state (duplicate delivery)."""
        return await self._deliver(self._task(task_id), stage)

    # ---------------------------------------------------------------- flavour hooks
    # Defaults keep kie.ai's behaviour; provider flavours (sunoapi_fake.py) override them.

    def _middlewares(self) -> list[Callable[..., Awaitable[web.StreamResponse]]]:
        """aiohttp middlewares of the fake's app (kie: none)."""
        return []

    def _reject_code(self, code: int, msg: str) -> int:
        """Body ``code`` for a rejection the fake decides itself (never for scripted ones)."""
        return code

    def _admit(self, kind: str, body: dict[str, Any]) -> _Reject | None:
        """Last check of a valid, in-rate submit before it is accepted (kie: always admitted)."""
        return None

    def _on_accepted(self, task: Task) -> None:
        """Called once per accepted submit, right after its task is created (kie: no-op)."""

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

        if self._rate_limited():
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
            return self._reply(request, _envelope(self._reject_code(*prepared), prepared.msg))
        # The upload fetch awaited: re-check the window right before counting this request.
        if self._rate_limited():
            return self._reply(request, self._rate_limit_envelope(kind))
        refused = self._admit(kind, body)
        if refused is not None:
            return self._reply(request, _envelope(refused.code, refused.msg))

        now = self.clock()
        self._submit_window.add(now)
        task = self._create_task(kind, body, **prepared)
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
        """Validate a submit; on success return extra keyword arguments for _create_task."""
        if kind == "generate":
            problem = validate_generate(body, limits=self.text_limits)
            return _Reject(422, problem) if problem else {}
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
            return {"source_task_id": source_task.task_id, "source_audio_id": source.audio_id}
        if kind in UPLOAD_KINDS:
            validate = validate_upload_extend if kind == "upload_extend" else validate_upload_cover
            problem = validate(body, limits=self.text_limits)
            if problem:
                return _Reject(422, problem)
            fetched = await self._fetch_upload(str(body["uploadUrl"]))
            if fetched is None:
                return _Reject(451, FETCH_FAILED_MSG)
            if kind == "upload_extend":
                reject = _check_continue_at(body, self.upload_duration)
                if reject:
                    return reject
            return {"upload_bytes": fetched}
        if kind == "lyrics":
            return validate_lyrics(body, limits=self.text_limits) or {}
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

    def _rate_limited(self) -> bool:
        if self.submit_rate_limit is None:
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
        return self._flag_record_info(task)

    def _music_record_info(self, task: Task) -> dict[str, Any]:
        stage = task.stage or ""
        tracks = [self._track_camel(task, t, stage) for t in self._visible_tracks(task, stage)]
        return {
            "taskId": task.task_id,
            "parentMusicId": task.source_audio_id if task.kind == "extend" else "",
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
        return _envelope(self.mp4_success_code, "success", {"task_id": tid, "video_url": self.video_url(tid)})

    def _error_body(self, task: Task) -> dict[str, Any]:
        d_code, d_msg, _ = self._failure_defaults(task)
        code = task.error_code if task.error_code is not None else d_code
        msg = task.error_message if task.error_message is not None else d_msg
        tid = task.task_id
        if task.is_music:
            data = [] if task.kind == "extend" and self.extend_error_data_list else None
            return _envelope(code, msg, {"callbackType": "error", "task_id": tid, "data": data})
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
        task = Task(
            task_id,
            body,
            str(body["callBackUrl"]),
            [],
            self.audio_size,
            kind=kind,
            model=str(body.get("model") or ""),
            created_at=now,
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
        elif body["customMode"] is True:  # generate / upload-cover
            title, tags = str(body["title"]), str(body["style"])
            lyrics = "" if body["instrumental"] is True else prompt
        else:
            title, tags = _title_from(prompt), "fake, generated"
            lyrics = "" if body["instrumental"] is True else f"[Verse]\n{prompt}\n[Chorus]\n{title}"
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now))
        model_name = "chirp-" + task.model.lower().replace("_", "-")
        return [
            Track(
                index=i,
                audio_id=str(uuid.uuid4()),
                title=title,
                tags=tags,
                duration=self.track_durations[i],
                model_name=model_name,
                prompt=lyrics,
                create_time=created,
            )
            for i in range(2)
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
        return item

    def _track_camel(self, task: Task, track: Track, stage: str) -> dict[str, Any]:
        audio, stream, image = self._track_urls(task, track, stage)
        return {
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

    async def _deliver(self, task: Task, stage: str) -> Delivery:
        body = self.callback_body(task.task_id, stage)
        headers = self.signed_headers(str(body["data"]["task_id"]))
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
        stages = self.auto_stages if task.is_music else ("complete",)
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


def _check_kind(kind: str | None) -> None:
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")


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
