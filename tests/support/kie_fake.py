"""Loopback fake of the kie.ai Suno API, for end-to-end tests.

Written only from ``/work/shared/reference/suno-api-contract.md`` (and the
seed docs it cites), independently of the bot's own provider code, so that
end-to-end tests exercise the bot's real HTTP client against an independent
reading of the contract.

Covered surface (kie.ai):

* ``POST /api/v1/generate``               submit (contract §2, §2.1, §1.1)
* ``GET  /api/v1/generate/record-info``   poll (§4.1), 3 req/s per task (§5.2)
* ``GET  /api/v1/chat/credit``            credits (§2 row 17)
* callbacks to ``callBackUrl``            text -> first -> complete / error (§3.1)
* webhook signing                         X-Webhook-Timestamp / -Signature (§5.5)
* ``GET /files/{task_id}/{n}.mp3|.jpeg`` and ``GET /stream/{task_id}/{n}``:
  the fake hosts the "CDN" files it hands out (``n`` is the 0-based track
  index, i.e. the position in ``sunoData``).

Every API answer is the kie envelope ``{"code", "msg", "data"}``; errors are
HTTP 200 with an error ``code`` in the body, except the scripted HTTP-500
responses (``fail_next_submit(500, ..., http_status=500)``).

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
from dataclasses import dataclass, field
from collections.abc import Callable, Coroutine
from typing import Any, Final, Literal, NamedTuple

import aiohttp
from aiohttp import web

__all__ = [
    "ApiCall",
    "CannedError",
    "Delivery",
    "FakeKie",
    "ManualClock",
    "Stage",
    "Submission",
    "Task",
    "Track",
]

# --------------------------------------------------------------------------
# Contract constants
# --------------------------------------------------------------------------

Stage = Literal["text", "first", "complete", "error"]
SUCCESS_STAGES: Final[tuple[str, ...]] = ("text", "first", "complete")

# §4.1 status enum.
PENDING: Final = "PENDING"
TEXT_SUCCESS: Final = "TEXT_SUCCESS"
FIRST_SUCCESS: Final = "FIRST_SUCCESS"
SUCCESS: Final = "SUCCESS"
FAILURE_STATUSES: Final[frozenset[str]] = frozenset(
    {"CREATE_TASK_FAILED", "GENERATE_AUDIO_FAILED", "CALLBACK_EXCEPTION", "SENSITIVE_WORD_ERROR"}
)
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

UNAUTHORIZED_MSG: Final = "You do not have access permissions"
SUBMIT_RATE_MSG: Final = "Rate Limited - request limit exceeded (20 generation requests per 10 seconds)"
POLL_RATE_MSG: Final = "Rate Limited - request limit exceeded (3 requests per second per task)"

DEFAULT_AUDIO_SIZE: Final = 20 * 1024
DEFAULT_IMAGE_SIZE: Final = 2 * 1024
DEFAULT_DURATIONS: Final[tuple[float, float]] = (198.44, 228.28)  # the callback example's values


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

    @property
    def failed(self) -> bool:
        return self.status in FAILURE_STATUSES


@dataclass(frozen=True)
class Submission:
    """An accepted POST /api/v1/generate."""

    task_id: str
    body: dict[str, Any]
    at: float  # FakeKie.clock() at acceptance


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


@dataclass(frozen=True)
class _TaskFailurePlan:
    code: int
    msg: str
    status: str
    after: str | None


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
    body = block * (size // len(block) + 1)
    return (prefix + body)[:size]


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
        self.auto_stages: tuple[str, ...] = SUCCESS_STAGES  # e.g. ("complete",) per §2.1 "may skip"
        self.stage_delay: float = 0.0  # seconds slept before each auto stage
        self.audio_size: int = DEFAULT_AUDIO_SIZE  # for tasks created from now on
        self.image_size: int = DEFAULT_IMAGE_SIZE
        self.track_durations: tuple[float, float] = DEFAULT_DURATIONS
        # At FIRST_SUCCESS / in the "first" callback, is track 0's audioUrl already filled?
        self.first_stage_has_audio_url: bool = False
        self.credits: int = 1000
        # (max requests, window seconds); None disables the limit.
        self.submit_rate_limit: tuple[int, float] | None = (20, 10.0)
        self.poll_rate_limit: tuple[int, float] | None = (3, 1.0)
        self.callback_timeout: float = 15.0  # §5.4

        # Observations.
        self.submissions: list[Submission] = []
        self.tasks: dict[str, Task] = {}
        self.polls: dict[str, int] = {}
        self.downloads: list[str] = []
        self.callback_results: list[tuple[str, str, int]] = []
        self.api_calls: list[ApiCall] = []
        # Exceptions raised inside auto-callback runs; drain() re-raises the first one.
        self.background_errors: list[BaseException] = []

        self._submit_failures: collections.deque[CannedError] = collections.deque()
        self._poll_failures: collections.deque[CannedError] = collections.deque()
        self._task_failures: collections.deque[_TaskFailurePlan] = collections.deque()
        self._submit_window = _SlidingWindow()
        self._poll_windows: dict[str, _SlidingWindow] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._port: int | None = None

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/v1/generate", self._handle_generate)
        app.router.add_get("/api/v1/generate/record-info", self._handle_record_info)
        app.router.add_get("/api/v1/chat/credit", self._handle_credit)
        app.router.add_get("/files/{task_id}/{name}", self._handle_file)
        app.router.add_get("/stream/{task_id}/{n}", self._handle_stream)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
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

    def fail_next_submit(self, code: int, msg: str, *, http_status: int = 200, data: Any = None) -> None:
        """Queue a canned envelope ``{"code", "msg", "data"}`` for the next authorised submit."""
        self._submit_failures.append(CannedError(code, msg, http_status, data))

    def fail_next_poll(self, code: int, msg: str, *, http_status: int = 200) -> None:
        """Queue a canned envelope for the next authorised record-info request."""
        self._poll_failures.append(CannedError(code, msg, http_status))

    def fail_next_task(
        self,
        code: int = 501,
        msg: str = "Audio generation failed",
        *,
        status: str = "GENERATE_AUDIO_FAILED",
        after: str | None = None,
    ) -> None:
        """With auto_callbacks: the next accepted task runs auto stages up to and including
        ``after`` (None = none) and then fails like :meth:`fail`."""
        if status not in FAILURE_STATUSES:
            raise ValueError(f"not a failure status: {status}")
        self._task_failures.append(_TaskFailurePlan(code, msg, status, after))

    def set_audio(self, task_id: str, n: int, data: bytes) -> None:
        self._task(task_id).audio_overrides[n] = data

    def set_image(self, task_id: str, n: int, data: bytes) -> None:
        self._task(task_id).image_overrides[n] = data

    # ---------------------------------------------------------------- inspection

    def task(self, task_id: str) -> Task:
        return self._task(task_id)

    @property
    def last_task_id(self) -> str:
        if not self.submissions:
            raise LookupError("no accepted submissions yet")
        return self.submissions[-1].task_id

    def audio_bytes(self, task_id: str, n: int) -> bytes:
        task = self._task(task_id)
        if n in task.audio_overrides:
            return task.audio_overrides[n]
        return _blob(f"audio:{task_id}:{n}", task.audio_size, prefix=b"ID3\x04\x00\x00\x00\x00\x00\x00")

    def image_bytes(self, task_id: str, n: int) -> bytes:
        task = self._task(task_id)
        if n in task.image_overrides:
            return task.image_overrides[n]
        body = _blob(f"image:{task_id}:{n}", max(self.image_size - 6, 0), prefix=b"\xff\xd8\xff\xe0")
        return body + b"\xff\xd9"

    def audio_url(self, task_id: str, n: int) -> str:
        return f"{self.base_url}/files/{task_id}/{n}.mp3"

    def image_url(self, task_id: str, n: int) -> str:
        return f"{self.base_url}/files/{task_id}/{n}.jpeg"

    def stream_url(self, task_id: str, n: int) -> str:
        return f"{self.base_url}/stream/{task_id}/{n}"

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
        """The §3.1 callback JSON for ``stage`` ("text", "first", "complete" or "error")."""
        task = self._task(task_id)
        if stage == "error":
            code = task.error_code if task.error_code is not None else 501
            msg = task.error_message if task.error_message is not None else "Audio generation failed"
            return _envelope(code, msg, {"callbackType": "error", "task_id": task_id, "data": None})
        if stage not in _STAGE_MSG:
            raise ValueError(f"unknown stage {stage!r}")
        tracks = [self._track_snake(task, t, stage) for t in self._visible_tracks(task, stage)]
        return _envelope(200, _STAGE_MSG[stage], {"callbackType": stage, "task_id": task_id, "data": tracks})

    async def advance(self, task_id: str, stage: str, *, deliver: bool = True) -> Delivery | None:
        """Move the task to ``stage`` (record-info changes) and POST that stage's callback.

        Status never moves backwards and a failed task stays failed; the callback is
        still delivered in those cases (useful for out-of-order / late-callback tests).
        """
        task = self._task(task_id)
        if stage not in _STAGE_STATUS:
            raise ValueError(f"unknown stage {stage!r} (use fail() for errors)")
        new_status = _STAGE_STATUS[stage]
        if not task.failed and _STATUS_RANK[new_status] > _STATUS_RANK[task.status]:
            task.status = new_status
            task.stage = stage
        if not deliver:
            return None
        return await self._deliver(task, stage)

    async def fail(
        self,
        task_id: str,
        code: int = 501,
        msg: str = "Audio generation failed",
        status: str = "GENERATE_AUDIO_FAILED",
        deliver: bool = True,
    ) -> Delivery | None:
        """Put the task in a §4.1 failure status and POST the error callback."""
        if status not in FAILURE_STATUSES:
            raise ValueError(f"not a failure status: {status}")
        task = self._task(task_id)
        task.status = status
        task.error_code = code
        task.error_message = msg
        if not deliver:
            return None
        return await self._deliver(task, "error")

    async def resend(self, task_id: str, stage: str) -> Delivery:
        """Re-POST a stage's callback without changing state (duplicate delivery)."""
        return await self._deliver(self._task(task_id), stage)

    # ---------------------------------------------------------------- HTTP handlers

    async def _handle_generate(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return self._reply(request, _envelope(401, UNAUTHORIZED_MSG))
        if self._submit_failures:
            canned = self._submit_failures.popleft()
            return self._reply(request, _envelope(canned.code, canned.msg, canned.data), canned.http_status)

        now = self.clock()
        if self.submit_rate_limit is not None:
            limit, window = self.submit_rate_limit
            if self._submit_window.count(now, window) >= limit:
                return self._reply(request, _envelope(429, SUBMIT_RATE_MSG))

        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return self._reply(request, _envelope(400, "Invalid request body: not valid JSON"))
        if not isinstance(body, dict):
            return self._reply(request, _envelope(400, "Invalid request body: expected a JSON object"))
        problem = validate_generate(body)
        if problem is not None:
            return self._reply(request, _envelope(422, problem))

        self._submit_window.add(now)
        task = self._create_task(body)
        self.submissions.append(Submission(task.task_id, body, now))

        response = self._reply(request, _envelope(200, "success", {"taskId": task.task_id}))
        if not self.auto_callbacks:
            return response
        # Flush the submit answer before the first callback can leave.
        await response.prepare(request)
        await response.write_eof()
        self._spawn(self._auto_run(task))
        return response

    async def _handle_record_info(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._reply(request, _envelope(401, UNAUTHORIZED_MSG))
        if self._poll_failures:
            canned = self._poll_failures.popleft()
            return self._reply(request, _envelope(canned.code, canned.msg, canned.data), canned.http_status)
        task_id = request.query.get("taskId", "")
        if not task_id:
            return self._reply(request, _envelope(422, "taskId is required"))
        task = self.tasks.get(task_id)
        if task is None:
            return self._reply(request, _envelope(404, f"Task not found: {task_id}"))

        self.polls[task_id] = self.polls.get(task_id, 0) + 1
        if self.poll_rate_limit is not None:
            limit, window = self.poll_rate_limit
            now = self.clock()
            win = self._poll_windows.setdefault(task_id, _SlidingWindow())
            if win.count(now, window) >= limit:
                return self._reply(request, _envelope(429, POLL_RATE_MSG))
            win.add(now)
        return self._reply(request, _envelope(200, "success", self.record_info_data(task_id)))

    async def _handle_credit(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._reply(request, _envelope(401, UNAUTHORIZED_MSG))
        return self._reply(request, _envelope(200, "success", self.credits))

    async def _handle_file(self, request: web.Request) -> web.Response:
        task_id = request.match_info["task_id"]
        stem, dot, ext = request.match_info["name"].rpartition(".")
        task = self.tasks.get(task_id)
        n = self._track_index(task, stem) if dot else None
        if task is None or n is None or ext not in ("mp3", "jpeg"):
            raise web.HTTPNotFound()
        if ext == "mp3":
            return self._serve(request, self.audio_bytes(task_id, n), "audio/mpeg")
        return self._serve(request, self.image_bytes(task_id, n), "image/jpeg")

    async def _handle_stream(self, request: web.Request) -> web.Response:
        task_id = request.match_info["task_id"]
        task = self.tasks.get(task_id)
        n = self._track_index(task, request.match_info["n"])
        if task is None or n is None:
            raise web.HTTPNotFound()
        return self._serve(request, self.audio_bytes(task_id, n), "audio/mpeg")

    # ---------------------------------------------------------------- internals

    def record_info_data(self, task_id: str) -> dict[str, Any]:
        """The §4.1 ``data`` object for the task's current state."""
        task = self._task(task_id)
        stage = task.stage or ""
        tracks = [self._track_camel(task, t, stage) for t in self._visible_tracks(task, stage)]
        return {
            "taskId": task_id,
            "parentMusicId": "",
            "param": json.dumps(task.body),
            "response": {"taskId": task_id, "sunoData": tracks},
            "status": task.status,
            "type": "GENERATE",
            "operationType": "generate",
            "errorCode": task.error_code,
            "errorMessage": task.error_message,
        }

    def _task(self, task_id: str) -> Task:
        try:
            return self.tasks[task_id]
        except KeyError:
            raise KeyError(f"unknown task {task_id!r}") from None

    def _authorized(self, request: web.Request) -> bool:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip(), self.api_key)

    def _reply(self, request: web.Request, payload: dict[str, Any], http_status: int = 200) -> web.Response:
        self.api_calls.append(ApiCall(request.method, request.path_qs, http_status, int(payload["code"])))
        return web.json_response(payload, status=http_status)

    def _serve(self, request: web.Request, data: bytes, content_type: str) -> web.Response:
        if request.method == "GET":
            self.downloads.append(request.path)
        # web.Response sets Content-Length from the body.
        return web.Response(body=data, content_type=content_type)

    @staticmethod
    def _track_index(task: Task | None, text: str) -> int | None:
        if task is None or not text.isdigit():
            return None
        n = int(text)
        return n if 0 <= n < len(task.tracks) else None

    def _create_task(self, body: dict[str, Any]) -> Task:
        task_id = secrets.token_hex(16)
        model = body["model"]
        custom = body["customMode"] is True
        instrumental = body["instrumental"] is True
        prompt = str(body.get("prompt") or "")
        if custom:
            title = str(body["title"])
            tags = str(body["style"])
            lyrics = "" if instrumental else prompt
        else:
            words = prompt.split()
            title = " ".join(words[:4]).title()[:TITLE_MAX] or "Untitled"
            tags = "fake, generated"
            lyrics = "" if instrumental else f"[Verse]\n{prompt}\n[Chorus]\n{title}"
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.wall_clock()))
        model_name = "chirp-" + model.lower().replace("_", "-")
        tracks = [
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
        task = Task(task_id, body, str(body["callBackUrl"]), tracks, self.audio_size)
        self.tasks[task_id] = task
        return task

    def _visible_tracks(self, task: Task, stage: str) -> list[Track]:
        if stage == "complete":
            return task.tracks
        if stage == "first":
            return task.tracks[:1]
        return []

    def _track_urls(self, task: Task, track: Track, stage: str) -> tuple[str, str, str]:
        n = track.index
        audio = self.audio_url(task.task_id, n)
        if stage == "first" and not self.first_stage_has_audio_url:
            audio = ""
        return audio, self.stream_url(task.task_id, n), self.image_url(task.task_id, n)

    def _track_snake(self, task: Task, track: Track, stage: str) -> dict[str, Any]:
        audio, stream, image = self._track_urls(task, track, stage)
        return {
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
        headers = self.signed_headers(task.task_id)
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
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
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

    async def _auto_run(self, task: Task) -> None:
        plan = self._task_failures.popleft() if self._task_failures else None
        stages = self.auto_stages
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
# Validation (§1.1, §2.1, seed 003 schema)
# --------------------------------------------------------------------------

_OPTIONAL_WEIGHTS: Final = ("styleWeight", "weirdnessConstraint", "audioWeight")


def validate_generate(body: dict[str, Any]) -> str | None:
    """Return a message naming the first problem, or None if the body is acceptable."""
    for name in ("customMode", "instrumental", "model", "callBackUrl"):
        if body.get(name) is None:
            return f"{name} is required"
    for name in ("customMode", "instrumental"):
        if not isinstance(body[name], bool):
            return f"{name} must be a boolean"
    model = body["model"]
    if model not in MODEL_LIMITS:
        return f"model must be one of {', '.join(MODEL_LIMITS)} (got {model!r})"
    url = body["callBackUrl"]
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return "callBackUrl must be an http(s) URL"

    for name in ("prompt", "style", "title", "negativeTags", "personaId"):
        if body.get(name) is not None and not isinstance(body[name], str):
            return f"{name} must be a string"
    prompt: str = body.get("prompt") or ""
    style: str = body.get("style") or ""
    title: str = body.get("title") or ""

    if body["customMode"]:
        limits = MODEL_LIMITS[model]
        if not style.strip():
            return "style is required in custom mode"
        if not title.strip():
            return "title is required in custom mode"
        if not body["instrumental"] and not prompt.strip():
            return "prompt (lyrics) is required in custom mode when instrumental is false"
        if len(prompt) > limits.custom_prompt:
            return f"prompt exceeds {limits.custom_prompt} characters for {model} (got {len(prompt)})"
        if len(style) > limits.style:
            return f"style exceeds {limits.style} characters for {model} (got {len(style)})"
        if len(title) > TITLE_MAX:
            return f"title exceeds {TITLE_MAX} characters (got {len(title)})"
    else:
        # Non-custom: only prompt matters; other fields are ignored per the schema text.
        if not prompt.strip():
            return "prompt is required in non-custom mode"
        if len(prompt) > NON_CUSTOM_PROMPT_MAX:
            return f"prompt exceeds {NON_CUSTOM_PROMPT_MAX} characters in non-custom mode (got {len(prompt)})"

    if body.get("vocalGender") is not None and body["vocalGender"] not in ("m", "f"):
        return "vocalGender must be 'm' or 'f'"
    if body.get("personaModel") is not None and body["personaModel"] not in ("style_persona", "voice_persona"):
        return "personaModel must be 'style_persona' or 'voice_persona'"
    for name in _OPTIONAL_WEIGHTS:
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            return f"{name} must be a number between 0 and 1"
        if abs(value * 100 - round(value * 100)) > 1e-6:
            return f"{name} allows at most 2 decimal places"
    return None
