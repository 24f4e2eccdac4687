"""Client for the kie.ai Suno API (contract §1–5). The sandbox provider speaks the same protocol."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.models import MODELS, MusicRequest, TaskState, TaskUpdate, Track
from bot.providers.errors import InputError, ProviderError, ProviderUnavailable, RateLimited, error_for_code
from bot.providers.ratelimit import SlidingWindow

log = logging.getLogger(__name__)

# Contract §1.1. Titles are capped at 80 everywhere (the safest reading).
NON_CUSTOM_PROMPT_LIMIT = 500
TITLE_LIMIT = 80
LYRICS_LIMITS = {"V4": 3000, "V4_5": 5000, "V4_5PLUS": 5000, "V4_5ALL": 5000, "V5": 5000}
STYLE_LIMITS = {"V4": 200, "V4_5": 1000, "V4_5PLUS": 1000, "V4_5ALL": 1000, "V5": 1000}

# Contract §5.2: at most 20 new generation requests per 10 s per account.
SUBMITS_PER_WINDOW = 20
SUBMIT_WINDOW = 10.0

_MUSIC_STATES = {
    "PENDING": TaskState.QUEUED,
    "TEXT_SUCCESS": TaskState.TEXT,
    "FIRST_SUCCESS": TaskState.FIRST,
    "SUCCESS": TaskState.SUCCEEDED,
    "CREATE_TASK_FAILED": TaskState.FAILED,
    "GENERATE_AUDIO_FAILED": TaskState.FAILED,
    "CALLBACK_EXCEPTION": TaskState.FAILED,
    "SENSITIVE_WORD_ERROR": TaskState.FAILED,
}
_CALLBACK_STAGES = {"text": TaskState.TEXT, "first": TaskState.FIRST, "complete": TaskState.SUCCEEDED}


class MalformedCallback(ValueError):
    """A callback body that does not have the documented shape."""


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait before each retry; the tuple's length is the number of retries."""

    rate_limited: tuple[float, ...] = (10.0, 10.0)  # a 429 means "not queued": wait a full window
    server_error: tuple[float, ...] = (2.0, 5.0)


class KieClient:
    """One aiohttp session to a kie.ai-protocol server; input validation, submits, polls and callback parsing."""

    name = "kie"

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        retry: RetryPolicy | None = None,
        limiter: SlidingWindow | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        timeout: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.limiter = limiter or SlidingWindow(SUBMITS_PER_WINDOW, SUBMIT_WINDOW)
        self._sleep = sleep
        self._session = aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
            timeout=aiohttp.ClientTimeout(total=timeout),
            raise_for_status=False,
        )

    async def close(self) -> None:
        await self._session.close()

    # ----- validation -------------------------------------------------------------------------------------

    def validate(self, request: MusicRequest) -> None:
        """Raise :class:`InputError` naming what to change if ``request`` breaks a documented limit."""
        validate_request(request)

    # ----- submit and poll --------------------------------------------------------------------------------

    async def generate(self, request: MusicRequest, callback_url: str) -> str:
        """Submit a generation; returns the provider's task id. Never re-submits after an ambiguous failure."""
        self.validate(request)
        body = generate_body(request, callback_url)
        data = await self._submit("/api/v1/generate", body)
        task_id = data.get("taskId") if isinstance(data, Mapping) else None
        if not isinstance(task_id, str) or not task_id:
            raise ProviderUnavailable(None, f"submit answered without a taskId: {data!r}")
        return task_id

    async def music_status(self, task_id: str) -> TaskUpdate:
        """Read ``record-info`` for a music task (contract §4.1)."""
        data = await self._call("GET", "/api/v1/generate/record-info", params={"taskId": task_id})
        if not isinstance(data, Mapping):
            raise ProviderUnavailable(None, "record-info answered without data")
        return parse_record_info(task_id, data)

    def parse_callback(self, body: Any) -> TaskUpdate:
        return parse_callback(body)

    async def _submit(self, path: str, body: dict[str, Any]) -> Any:
        rate_limited = iter(self.retry.rate_limited)
        server_error = iter(self.retry.server_error)
        while True:
            await self.limiter.acquire()
            try:
                return await self._call("POST", path, json=body)
            except RateLimited as error:
                # Rejected and not queued (contract §5.2): safe to send again after a full window.
                delay = next(rate_limited, None)
                if delay is None:
                    raise
                log.warning("submit rate limited (%s); retrying in %.0fs", error.detail, delay)
            except ProviderError as error:
                # Only an explicit maintenance / server-error answer is safe to repeat: the provider said it
                # did not take the request. Timeouts and dropped connections are not (it may have).
                if error.code not in (455, 500) or (delay := next(server_error, None)) is None:
                    raise
                log.warning("submit failed with %s; retrying in %.0fs", error.code, delay)
            await self._sleep(delay)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        """One API call; checks both the HTTP status and the body ``code`` (contract §1)."""
        url = self.base_url + path
        try:
            async with self._session.request(method, url, json=json, params=params) as response:
                status = response.status
                try:
                    envelope = await response.json(content_type=None)
                except ValueError:
                    envelope = None
        except aiohttp.ClientConnectorError as error:
            raise ProviderUnavailable(None, f"cannot connect to {self.base_url}: {error.os_error}") from error
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            raise ProviderUnavailable(None, f"{method} {path} failed: {error!r}") from error
        if not isinstance(envelope, Mapping):
            raise error_for_code(status if status >= 400 else None, f"HTTP {status} with a non-JSON body")
        code = _as_int(envelope.get("code"))
        message = envelope.get("msg") if isinstance(envelope.get("msg"), str) else None
        if status >= 400 or code not in (200, 0):
            raise error_for_code(code if code is not None else status, message)
        return envelope.get("data")


def validate_request(request: MusicRequest) -> None:
    """Check a generate request against the documented limits (contract §1.1, §2.1)."""
    if request.model not in MODELS:
        raise InputError(f"Unknown model {request.model!r}. Pick one of: {', '.join(MODELS)}.")
    if not request.custom_mode:
        prompt = request.prompt.strip()
        if not prompt:
            raise InputError("Describe the song you want, for example \u201ca cheerful ukulele song about Mondays\u201d.")
        _check_length("Your idea", prompt, NON_CUSTOM_PROMPT_LIMIT)
        return
    if not request.title.strip():
        raise InputError("Give the song a title.")
    _check_length("The title", request.title, TITLE_LIMIT)
    if not request.style.strip():
        raise InputError("Describe the style, for example \u201cdreamy lo-fi hip hop, soft female vocals\u201d.")
    _check_length(f"The style (model {request.model})", request.style, STYLE_LIMITS[request.model])
    if not request.instrumental:
        if not request.prompt.strip():
            raise InputError("Write the lyrics, or choose instrumental if the song should have no vocals.")
        _check_length(f"The lyrics (model {request.model})", request.prompt, LYRICS_LIMITS[request.model])
    if request.vocal_gender not in (None, "m", "f"):
        raise InputError("Vocal gender must be male or female.")


def _check_length(what: str, text: str, limit: int) -> None:
    if len(text) > limit:
        raise InputError(
            f"{what} is {len(text)} characters; Suno takes at most {limit}. "
            f"Shorten it by {len(text) - limit} and try again."
        )


def generate_body(request: MusicRequest, callback_url: str) -> dict[str, Any]:
    """The JSON body of POST /api/v1/generate (contract §2.1 mode rules)."""
    body: dict[str, Any] = {
        "customMode": request.custom_mode,
        "instrumental": request.instrumental,
        "model": request.model,
        "callBackUrl": callback_url,
    }
    if not request.custom_mode:
        body["prompt"] = request.prompt.strip()
        return body
    body["style"] = request.style.strip()
    body["title"] = request.title.strip()
    if not request.instrumental:
        body["prompt"] = request.prompt.strip()
    if request.negative_tags.strip():
        body["negativeTags"] = request.negative_tags.strip()
    if request.vocal_gender:
        body["vocalGender"] = request.vocal_gender
    return body


# ----- parsing ----------------------------------------------------------------------------------------------


def parse_callback(body: Any) -> TaskUpdate:
    """Normalize a music-family callback (contract §3.1); raises :class:`MalformedCallback`."""
    if not isinstance(body, Mapping):
        raise MalformedCallback("body is not a JSON object")
    data = body.get("data")
    if not isinstance(data, Mapping):
        raise MalformedCallback("missing data object")
    task_id = _first_str(data, "task_id", "taskId") or _first_str(body, "taskId", "task_id")
    if not task_id:
        raise MalformedCallback("missing task id")
    code = _as_int(body.get("code"))
    if code is None:
        raise MalformedCallback("missing code")
    message = body.get("msg") if isinstance(body.get("msg"), str) else None
    stage = _first_str(data, "callbackType", "callback_type")
    if stage == "error" or code not in (200, 0):
        detail = message or (data.get("error") if isinstance(data.get("error"), str) else None)
        return TaskUpdate(task_id, TaskState.FAILED, error_code=code, error_message=detail)
    if stage not in _CALLBACK_STAGES:
        raise MalformedCallback(f"unknown callbackType {stage!r}")
    items = data.get("data")
    if items is None:
        items = []
    if not isinstance(items, list):
        raise MalformedCallback("data.data is not a list")
    tracks = parse_tracks(items)
    state = _CALLBACK_STAGES[stage]
    if state is TaskState.SUCCEEDED and not tracks:
        raise MalformedCallback("complete callback without tracks")
    return TaskUpdate(task_id, state, tracks)


def parse_record_info(task_id: str, data: Mapping[str, Any]) -> TaskUpdate:
    """Normalize ``record-info`` data (contract §4.1): ``response.sunoData`` (camelCase) or ``response.data``."""
    status = data.get("status")
    state = _MUSIC_STATES.get(status, TaskState.QUEUED) if isinstance(status, str) else TaskState.QUEUED
    response = data.get("response")
    items: Any = []
    if isinstance(response, Mapping):
        items = response.get("sunoData") or response.get("data") or []
    tracks = parse_tracks(items if isinstance(items, list) else [])
    if state is TaskState.FAILED:
        message = data.get("errorMessage") if isinstance(data.get("errorMessage"), str) else None
        return TaskUpdate(
            _first_str(data, "taskId") or task_id,
            TaskState.FAILED,
            error_code=_as_int(data.get("errorCode")),
            error_message=message or str(status),
        )
    if state is TaskState.SUCCEEDED and not tracks:
        state = TaskState.FIRST  # keep polling until the tracks are listed
    return TaskUpdate(_first_str(data, "taskId") or task_id, state, tracks)


def parse_tracks(items: Sequence[Any]) -> tuple[Track, ...]:
    tracks = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        audio_id = _first_str(item, "id", "audioId", "audio_id")
        if not audio_id:
            continue
        tracks.append(
            Track(
                audio_id=audio_id,
                audio_url=_first_str(item, "audio_url", "audioUrl"),
                stream_url=_first_str(item, "stream_audio_url", "streamAudioUrl"),
                image_url=_first_str(item, "image_url", "imageUrl"),
                title=_first_str(item, "title"),
                tags=_first_str(item, "tags"),
                duration=_as_float(item.get("duration")),
                lyrics=_first_str(item, "prompt", "lyrics"),
                model_name=_first_str(item, "model_name", "modelName"),
                created=_first_str(item, "createTime", "create_time"),
            )
        )
    return tuple(tracks)


def _first_str(mapping: Mapping[str, Any], *keys: str) -> str:
    for key in keys:
        value = mapping.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
    return ""


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None
