"""Client for the kie.ai Suno API (contract §1–5). The sandbox provider speaks the same protocol."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.models import (
    MODELS,
    STEM_MODES,
    CoverRequest,
    ExportRequest,
    ExtendRequest,
    LyricsRequest,
    MusicRequest,
    Request,
    StemsRequest,
    TaskKind,
    TaskUpdate,
)
from bot.providers.errors import InputError, ProviderError, ProviderUnavailable, RateLimited, error_for_code
from bot.providers.kie_parsing import MalformedCallback, as_int, parse_callback, parse_status
from bot.providers.ratelimit import SlidingWindow

__all__ = ["KieClient", "MalformedCallback", "RetryPolicy", "request_body", "validate_request"]

log = logging.getLogger(__name__)

# Contract §1.1. Titles are capped at 80 everywhere (the safest reading).
NON_CUSTOM_PROMPT_LIMIT = 500
TITLE_LIMIT = 80
LYRICS_PROMPT_LIMIT = 200
VIDEO_AUTHOR_LIMIT = 50
LYRICS_LIMITS = {"V4": 3000, "V4_5": 5000, "V4_5PLUS": 5000, "V4_5ALL": 5000, "V5": 5000}
STYLE_LIMITS = {"V4": 200, "V4_5": 1000, "V4_5PLUS": 1000, "V4_5ALL": 1000, "V5": 1000}

# Contract §5.2: at most 20 new generation requests per 10 s per account.
SUBMITS_PER_WINDOW = 20
SUBMIT_WINDOW = 10.0

# Where each kind of task is submitted and read back (contract §2).
SUBMIT_PATHS = {
    TaskKind.GENERATE: "/api/v1/generate",
    TaskKind.COMPOSE: "/api/v1/generate",
    TaskKind.EXTEND: "/api/v1/generate/extend",
    TaskKind.UPLOAD_EXTEND: "/api/v1/generate/upload-extend",
    TaskKind.COVER: "/api/v1/generate/upload-cover",
    TaskKind.LYRICS: "/api/v1/lyrics",
    TaskKind.STEMS: "/api/v1/vocal-removal/generate",
    TaskKind.WAV: "/api/v1/wav/generate",
    TaskKind.VIDEO: "/api/v1/mp4/generate",
}
STATUS_PATHS = {
    **{kind: "/api/v1/generate/record-info" for kind in TaskKind if kind.makes_music},
    TaskKind.LYRICS: "/api/v1/lyrics/record-info",
    TaskKind.STEMS: "/api/v1/vocal-removal/record-info",
    TaskKind.WAV: "/api/v1/wav/record-info",
    TaskKind.VIDEO: "/api/v1/mp4/record-info",
}


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait before each retry; the tuple's length is the number of retries."""

    rate_limited: tuple[float, ...] = (10.0, 10.0)  # a 429 means "not queued": wait a full window
    server_error: tuple[float, ...] = (2.0, 5.0)


class KieClient:
    """One aiohttp session to a kie.ai-protocol server: input validation, submits, polls, callback parsing."""

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

    def validate(self, request: Request) -> None:
        """Raise :class:`InputError` naming what to change if ``request`` breaks a documented limit."""
        validate_request(request)

    async def submit(self, request: Request, callback_url: str) -> str:
        """Submit any task; returns the provider's task id. Never re-submits after an ambiguous failure."""
        self.validate(request)
        data = await self._submit(SUBMIT_PATHS[request.kind], request_body(request, callback_url))
        task_id = data.get("taskId") if isinstance(data, Mapping) else None
        if not isinstance(task_id, str) or not task_id:
            raise ProviderUnavailable(None, f"submit answered without a taskId: {data!r}")
        return task_id

    async def status(self, kind: TaskKind, task_id: str) -> TaskUpdate:
        """Read a task's record-info (contract §4)."""
        data = await self._call("GET", STATUS_PATHS[kind], params={"taskId": task_id})
        if not isinstance(data, Mapping):
            raise ProviderUnavailable(None, "record-info answered without data")
        return parse_status(kind, task_id, data)

    def parse_callback(self, kind: TaskKind, body: Any) -> TaskUpdate:
        return parse_callback(kind, body)

    async def credits(self) -> int:
        """The provider account's remaining credits (GET /api/v1/chat/credit, contract §2 row 17)."""
        data = await self._call("GET", "/api/v1/chat/credit")
        value = as_int(data)
        if value is None:
            raise ProviderUnavailable(None, f"credit endpoint answered {data!r}")
        return value

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
        code = as_int(envelope.get("code"))
        message = envelope.get("msg") if isinstance(envelope.get("msg"), str) else None
        if status >= 400 or code not in (200, 0):
            raise error_for_code(code if code is not None else status, message)
        return envelope.get("data")


# ----- validation (contract §1.1, §2.1, §2.2) ---------------------------------------------------------------


def validate_request(request: Request) -> None:
    """Check a request against the documented limits; raise InputError saying what to change."""
    if isinstance(request, (MusicRequest, ExtendRequest, CoverRequest)) and request.model not in MODELS:
        raise InputError(f"Unknown model {request.model!r}. Pick one of: {', '.join(MODELS)}.")
    if isinstance(request, MusicRequest):
        _validate_music(request)
    elif isinstance(request, ExtendRequest):
        _validate_extend(request)
    elif isinstance(request, CoverRequest):
        _validate_cover(request)
    elif isinstance(request, LyricsRequest):
        if not request.prompt.strip():
            raise InputError("Say what the lyrics should be about, for example \u201ca rainy Monday in Paris\u201d.")
        _check_length("The lyrics idea", request.prompt.strip(), LYRICS_PROMPT_LIMIT)
    elif isinstance(request, StemsRequest):
        if request.mode not in STEM_MODES:
            raise InputError("Choose vocals (vocals + instrumental) or all (every instrument).")
    elif isinstance(request, ExportRequest):
        _check_length("The author name", request.author, VIDEO_AUTHOR_LIMIT)


def _validate_music(request: MusicRequest) -> None:
    if not request.custom_mode:
        _check_idea(request.prompt, "Your idea",
                    "Describe the song you want, for example \u201ca cheerful ukulele song about Mondays\u201d.")
        return
    _check_custom(request.title, request.style, request.prompt, request.instrumental, request.model,
                  "Write the lyrics, or choose instrumental if the song should have no vocals.")
    if request.vocal_gender not in (None, "m", "f"):
        raise InputError("Vocal gender must be male or female.")


def _validate_extend(request: ExtendRequest) -> None:
    if request.continue_at is not None:
        if request.continue_at <= 0:
            raise InputError("continue_at is in seconds and must be more than 0.")
        if request.source_duration is not None and request.continue_at >= request.source_duration:
            raise InputError(
                f"continue_at must be less than the track's length ({request.source_duration:.0f} s); "
                f"you gave {request.continue_at:g}."
            )
    if request.upload_url and request.continue_at is None:
        raise InputError("Say where to continue the upload from: continue_at, in seconds (e.g. 60).")
    needs_lyrics = request.default_params or bool(request.upload_url)
    if needs_lyrics and not request.instrumental and not request.prompt.strip():
        raise InputError(
            "Give lyrics for the new part (write [Instrumental] for none): Suno needs them when the start "
            "point, style or title changes, and for uploads."
        )
    if request.prompt:
        _check_length(f"The lyrics (model {request.model})", request.prompt, LYRICS_LIMITS[request.model])
    if request.default_params:
        _require_title_and_style(request.title, request.style, request.model)
        if request.continue_at is None:
            raise InputError("Say where to continue from: continue_at, in seconds.")


def _validate_cover(request: CoverRequest) -> None:
    if not request.custom_mode:
        _check_idea(request.prompt, "The style description",
                    "Describe the new style, for example \u201cacoustic bossa nova, soft male vocals\u201d.")
        return
    _check_custom(request.title, request.style, request.prompt, request.instrumental, request.model,
                  "Give the lyrics to sing, or choose instrumental.")


def _check_idea(prompt: str, what: str, missing: str) -> None:
    """Simple mode: a description of at most 500 characters."""
    if not prompt.strip():
        raise InputError(missing)
    _check_length(what, prompt.strip(), NON_CUSTOM_PROMPT_LIMIT)


def _check_custom(title: str, style: str, lyrics: str, instrumental: bool, model: str, missing: str) -> None:
    """Custom mode: title and style, and lyrics unless instrumental, within the model's limits."""
    _require_title_and_style(title, style, model)
    if not instrumental:
        if not lyrics.strip():
            raise InputError(missing)
        _check_length(f"The lyrics (model {model})", lyrics, LYRICS_LIMITS[model])


def _require_title_and_style(title: str, style: str, model: str) -> None:
    if not title.strip():
        raise InputError("Give the song a title.")
    _check_length("The title", title, TITLE_LIMIT)
    if not style.strip():
        raise InputError("Describe the style, for example \u201cdreamy lo-fi hip hop, soft female vocals\u201d.")
    _check_length(f"The style (model {model})", style, STYLE_LIMITS[model])


def _check_length(what: str, text: str, limit: int) -> None:
    if len(text) > limit:
        raise InputError(
            f"{what} is {len(text)} characters; Suno takes at most {limit}. "
            f"Shorten it by {len(text) - limit} and try again."
        )


# ----- request bodies (contract §2) -------------------------------------------------------------------------


def request_body(request: Request, callback_url: str) -> dict[str, Any]:
    """The JSON body that submits ``request``."""
    if isinstance(request, MusicRequest):
        return _music_body(request, callback_url)
    if isinstance(request, ExtendRequest):
        return _extend_body(request, callback_url)
    if isinstance(request, CoverRequest):
        return _cover_body(request, callback_url)
    if isinstance(request, LyricsRequest):
        return {"prompt": request.prompt.strip(), "callBackUrl": callback_url}
    if isinstance(request, StemsRequest):
        return {"taskId": request.source_task_id, "audioId": request.audio_id, "type": STEM_MODES[request.mode],
                "callBackUrl": callback_url}
    if isinstance(request, ExportRequest):
        body = {"taskId": request.source_task_id, "audioId": request.audio_id, "callBackUrl": callback_url}
        if request.format == "video" and request.author.strip():
            body["author"] = request.author.strip()
        return body
    raise TypeError(f"no body for {type(request).__name__}")


def _music_body(request: MusicRequest, callback_url: str) -> dict[str, Any]:
    """POST /api/v1/generate (contract §2.1 mode rules)."""
    body = _with_mode({"model": request.model, "callBackUrl": callback_url}, request.custom_mode, request.prompt,
                      request.style, request.title, request.instrumental, request.negative_tags)
    if request.custom_mode and request.vocal_gender:
        body["vocalGender"] = request.vocal_gender
    return body


def _extend_body(request: ExtendRequest, callback_url: str) -> dict[str, Any]:
    """POST /api/v1/generate/extend or /upload-extend (contract §2.2)."""
    body: dict[str, Any] = {"defaultParamFlag": request.default_params, "model": request.model,
                            "callBackUrl": callback_url}
    if request.upload_url:
        body.update(uploadUrl=request.upload_url, instrumental=request.instrumental,
                    continueAt=request.continue_at)
        if request.prompt.strip():
            body["prompt"] = request.prompt.strip()
    else:
        body["audioId"] = request.audio_id
    if request.default_params:
        body.update(prompt=request.prompt.strip(), style=request.style.strip(), title=request.title.strip(),
                    continueAt=request.continue_at)
        if request.negative_tags.strip():
            body["negativeTags"] = request.negative_tags.strip()
    return body


def _cover_body(request: CoverRequest, callback_url: str) -> dict[str, Any]:
    """POST /api/v1/generate/upload-cover (contract §2 row 3, §2.1 mode rules)."""
    return _with_mode({"uploadUrl": request.upload_url, "model": request.model, "callBackUrl": callback_url},
                      request.custom_mode, request.prompt, request.style, request.title, request.instrumental,
                      request.negative_tags)


def _with_mode(
    body: dict[str, Any], custom: bool, prompt: str, style: str, title: str, instrumental: bool, negative_tags: str
) -> dict[str, Any]:
    """Simple mode sends only the description; custom mode style, title and (unless instrumental) lyrics."""
    body.update(customMode=custom, instrumental=instrumental)
    if not custom:
        body["prompt"] = prompt.strip()
    else:
        body.update(_custom_fields(style, title, prompt, instrumental, negative_tags))
    return body


def _custom_fields(style: str, title: str, lyrics: str, instrumental: bool, negative_tags: str) -> dict[str, Any]:
    fields: dict[str, Any] = {"style": style.strip(), "title": title.strip()}
    if not instrumental:
        fields["prompt"] = lyrics.strip()
    if negative_tags.strip():
        fields["negativeTags"] = negative_tags.strip()
    return fields
