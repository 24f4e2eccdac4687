"""The song service: validate a request, store it with its owner, submit it, and start tracking it.

Cogs call this; it calls the provider. Nothing here knows about interactions.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from bot.delivery import Delivery, Destination
from bot.models import Request, Task, TaskState, TaskUpdate
from bot.providers.errors import ProviderError
from bot.store import Store
from bot.tracker import Tracker

log = logging.getLogger(__name__)

# kie requires a callBackUrl. Without a public endpoint the bot polls, and gives the provider an address
# under the reserved .invalid domain (RFC 2606), which never resolves, so no callback leaves their side.
POLL_ONLY_CALLBACK = "https://poll-only.invalid/callbacks"


class Provider(Protocol):
    name: str

    def validate(self, request: Request) -> None: ...

    async def submit(self, request: Request, callback_url: str) -> str: ...


@dataclass(frozen=True)
class Origin:
    """Where a request came from: the results go back to the same channel, to the same member."""

    guild_id: int | None
    channel_id: int
    user_id: int
    upload_limit: int


@dataclass(frozen=True)
class Started:
    """What :meth:`SongService.submit` did: started ``task``, or ``reused`` an earlier one (re-posting its
    result as ``reposted_message_id`` if it had finished)."""

    task: Task
    reused: bool = False
    reposted_message_id: int | None = None


class SongService:
    def __init__(
        self,
        store: Store,
        provider: Provider,
        tracker: Tracker,
        delivery: Delivery,
        *,
        callback_base: str | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._provider = provider
        self._tracker = tracker
        self._delivery = delivery
        self._callback_base = callback_base
        self._clock = clock

    def validate(self, request: Request) -> None:
        """Raise InputError with what to change, before anything is posted or sent."""
        self._provider.validate(request)

    def callback_url(self, token: str) -> str:
        if self._callback_base is None:
            return POLL_ONLY_CALLBACK
        return f"{self._callback_base}/callbacks/{token}"

    async def submit(self, request: Request, origin: Origin) -> Started:
        """Store the task with its owner, post its status message, submit it, and start tracking it.

        On a refused submit the status message is removed, the task is stored as failed (and delivered: the
        caller explains it privately) and the ProviderError propagates. Raises discord.Forbidden, before
        anything is submitted, if the bot cannot post in the channel.

        A request for a result already paid for (the same stems, WAV or video of the same track) is never
        submitted again: a finished one is re-posted here, a pending one is pointed to."""
        if request.reuse_key is not None:
            earlier = await self._store.reusable(request.reuse_key)
            if earlier is not None and earlier.state is TaskState.SUCCEEDED:
                destination = Destination(origin.guild_id, origin.channel_id, origin.user_id, origin.upload_limit)
                message_id = await self._delivery.post_files(earlier, destination)
                log.info("task %s: result reused for %s", earlier.id, request.reuse_key)
                return Started(earlier, reused=True, reposted_message_id=message_id)
            if earlier is not None:
                return Started(earlier, reused=True)
        token = secrets.token_urlsafe(24)
        task = await self._store.create_task(
            provider=self._provider.name,
            callback_token=token,
            guild_id=origin.guild_id,
            channel_id=origin.channel_id,
            user_id=origin.user_id,
            request=request,
            upload_limit=origin.upload_limit,
        )
        try:
            status = await self._delivery.post_status(task)
        except Exception as error:
            await self._fail(task, None, f"could not post the status message: {error}")
            raise
        await self._store.set_status_message(task.id, status.id)
        task.status_message_id = status.id
        try:
            provider_task_id = await self._provider.submit(request, self.callback_url(token))
        except ProviderError as error:
            log.info("task %s: submit refused: %s", task.id, error)
            await self._fail(task, error.code, error.detail, reason=error.user_message)
            await self._delivery.delete_status(task)
            raise
        except Exception as error:
            log.exception("task %s: submit crashed", task.id)
            await self._fail(task, None, repr(error))
            await self._delivery.delete_status(task)
            raise
        await self._store.mark_submitted(task.id, provider_task_id, self._clock() + self._tracker.poll_interval)
        log.info("task %s: submitted as %s", task.id, provider_task_id)
        self._tracker.submitted(task.id)
        refreshed = await self._store.get_task(task.id)
        assert refreshed is not None
        return Started(refreshed)

    async def _fail(self, task: Task, code: int | None, detail: str, *, reason: str | None = None) -> None:
        """Record a request that never started; the member is told in the interaction, so it is delivered."""
        await self._store.apply_update(
            task.id, TaskUpdate("", TaskState.FAILED, error_code=code, error_message=detail, reason=reason)
        )
        await self._store.mark_delivered(task.id)
