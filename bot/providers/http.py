"""What every HTTP adapter shares: one aiohttp session, the ``{"code", "msg", "data"}`` envelope the three
providers use, their own reading of error codes, the submission rate and safe retries."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import aiohttp

from bot.models import Request, TaskState, TaskUpdate
from bot.providers.base import Capabilities
from bot.providers.errors import (
    Busy,
    ErrorTable,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    Unconfirmed,
)
from bot.providers.kie_parsing import as_int, first_str
from bot.providers.ratelimit import SlidingWindow
from bot.providers.validation import validate_request
from bot.redaction import Redactor, describe

log = logging.getLogger(__name__)

# Contract §5.2 (kie; sunoapi.org per 3P material): at most 20 new tasks per 10 s per account.
SUBMITS_PER_WINDOW = 20
SUBMIT_WINDOW = 10.0


@dataclass(frozen=True)
class LastAnswer:
    """When the provider last answered a call of ours, and whether that answer was a working one."""

    at: float
    ok: bool


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait before each retry of a refused submit; each tuple's length is its number of retries.

    Only answers that say the request was not taken are retried: a rate limit (not queued: wait a full
    window), maintenance or a server error, and a full concurrency limit (CQTAI's 429: wait for running tasks
    to finish). Timeouts and dropped connections never are: the provider may have taken the request."""

    rate_limited: tuple[float, ...] = (10.0, 10.0)
    server_error: tuple[float, ...] = (2.0, 5.0)
    busy: tuple[float, ...] = (15.0,) * 20  # up to 5 minutes for a slot


class ApiClient:
    """The HTTP side of an adapter. Subclasses set ``capabilities`` and ``errors`` and build the requests."""

    capabilities: Capabilities
    errors: ClassVar[ErrorTable]

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        capabilities: Capabilities | None = None,
        retry: RetryPolicy | None = None,
        limiter: SlidingWindow | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        timeout: float = 30.0,
    ) -> None:
        if capabilities is not None:
            self.capabilities = capabilities
        self.base_url = base_url.rstrip("/")
        self._redact = Redactor([api_key])
        self.retry = retry or RetryPolicy()
        self.last_answer: LastAnswer | None = None  # for /healthz
        # The bot's dispatcher paces submissions itself and sets this to None; used alone, the client keeps
        # within the documented rate on its own.
        self.limiter: SlidingWindow | None = limiter or SlidingWindow(SUBMITS_PER_WINDOW, SUBMIT_WINDOW)
        self._sleep = sleep
        self._session = aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
            timeout=aiohttp.ClientTimeout(total=timeout),
            raise_for_status=False,
        )

    @property
    def name(self) -> str:
        return self.capabilities.name

    async def close(self) -> None:
        await self._session.close()

    def validate(self, request: Request) -> None:
        """Raise :class:`InputError` naming what to change if this provider cannot take ``request``."""
        validate_request(request, self.capabilities)

    def explain(self, update: TaskUpdate) -> TaskUpdate:
        """Give a failed task's report the member's reason, read with this provider's codes; the provider's own
        words are kept without secrets it may have echoed."""
        if update.state is not TaskState.FAILED:
            return update
        update = replace(update, error_message=self._redact.optional(update.error_message))
        if update.reason is not None:
            return update
        error = self.errors.error(update.error_code, update.error_message, failure=True)
        return replace(update, reason=error.user_message)

    async def _submit(self, path: str, body: Mapping[str, Any]) -> Any:
        """POST a new task within the submission rate, retrying only what the provider did not take."""
        waits = {
            RateLimited: iter(self.retry.rate_limited),
            Busy: iter(self.retry.busy),
            ProviderError: iter(self.retry.server_error),
        }
        while True:
            try:
                async with self.limiter.slot() if self.limiter is not None else contextlib.nullcontext():
                    return await self._call("POST", path, json=body)
            except (RateLimited, Busy) as error:
                delay = next(waits[Busy if isinstance(error, Busy) else RateLimited], None)
                if delay is None:
                    raise
                log.warning("%s: submit refused (%s); retrying in %.0fs", self.name, error, delay)
            except ProviderError as error:
                # Only an explicit maintenance / server-error answer is safe to repeat: the provider said it
                # did not take the request. Timeouts, dropped connections and proxy error pages are not (it may
                # have).
                if (isinstance(error, Unconfirmed) or error.code not in (455, 500)
                        or (delay := next(waits[ProviderError], None)) is None):
                    raise
                log.warning("%s: submit failed with %s; retrying in %.0fs", self.name, error.code, delay)
            await self._sleep(delay)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        """One API call; checks both the HTTP status and the body ``code`` (contract §1, §7, §8)."""
        status, envelope = await self._request(method, path, json=json, params=params)
        return self._data(status, envelope)

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> tuple[int, Mapping[str, Any]]:
        """One API call: the HTTP status and the JSON envelope (raises if there is none)."""
        url = self.base_url + path
        try:
            async with self._session.request(method, url, json=json, params=params) as response:
                status = response.status
                try:
                    envelope = await response.json(content_type=None)
                except ValueError:
                    envelope = None
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as error:  # nothing was sent
            self.last_answer = LastAnswer(time.time(), ok=False)
            raise ProviderUnavailable(None, f"cannot connect to {self.base_url}: {describe(error)}") from None
        except (TimeoutError, aiohttp.ClientError) as error:  # sent, but the answer was lost: it may have been taken
            self.last_answer = LastAnswer(time.time(), ok=False)
            raise Unconfirmed(None, f"{method} {path}: no usable answer ({describe(error)})") from None
        code = as_int(envelope.get("code")) if isinstance(envelope, Mapping) else None
        # Answered: refusals and "not now" too. A 5xx, or its own code saying it is down or failing, is not ok.
        self.last_answer = LastAnswer(time.time(), ok=status < 500 and code not in (455, 500, 503))
        if not isinstance(envelope, Mapping):
            detail = f"HTTP {status} with a non-JSON body"
            if status >= 500:  # a proxy's error page: what happened behind it is unknown
                raise Unconfirmed(status, detail)
            raise self.errors.error(status if status >= 400 else None, detail)
        return status, envelope

    def _data(self, status: int, envelope: Mapping[str, Any]) -> Any:
        """The envelope's ``data``, or the typed error its ``code`` (or the HTTP status) stands for."""
        code = as_int(envelope.get("code"))
        message = self._redact(first_str(envelope, "msg")) or None  # it may echo our key or callback URL
        if status >= 400 or code not in (200, 0):
            raise self.errors.error(code if code is not None else status, message)
        return envelope.get("data")
