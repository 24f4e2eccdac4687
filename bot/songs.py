"""The song service: validate a request, store it with its owner, submit it, and start tracking it.

Cogs call this; it calls the provider. Nothing here knows about interactions.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.audit import AuditLog
from bot.credits import GuildPolicy, next_period, operation_of, period_start
from bot.delivery import Delivery, Destination
from bot.dispatcher import Dispatcher
from bot.formatting import member_text
from bot.models import (
    ExportRequest,
    Place,
    Request,
    ResultFile,
    Task,
    TaskState,
    TaskUpdate,
)
from bot.providers.base import Provider
from bot.providers.errors import InputError, ProviderError
from bot.rules import Refused, check_member, check_words
from bot.store import Admission, Allowance, NewTask, Store
from bot.tracker import Tracker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Origin:
    """Where a request came from: the results go back to the same channel, to the same member."""

    guild_id: int | None
    channel_id: int
    user_id: int
    upload_limit: int
    role_ids: frozenset[int] = frozenset()
    parent_channel_id: int | None = None  # a thread's channel
    private_thread: bool = False  # the thread is private: only its members (and thread managers) read it
    dm_channel_id: int | None = None  # the member's DMs, when they want their results there (/settings)

    def allowance(self, policy: GuildPolicy, now: float) -> Allowance:
        return Allowance(policy.allowance_for(self.role_ids), period_start(policy.period, now))

    @property
    def result_channel(self) -> int:
        """Where the results go: the member's DMs if they asked for them, else where they asked."""
        return self.dm_channel_id or self.channel_id

    def destination(self) -> Destination:
        """Where a result for this request is posted when there is no status message to reply to."""
        guild = None if self.dm_channel_id else self.guild_id
        return Destination(guild, self.result_channel, self.user_id, self.upload_limit)

    def new_task(self, provider: str, token: str, request: Request) -> NewTask:
        private = self.dm_channel_id is not None
        public_thread = self.parent_channel_id if not (private or self.private_thread) else None
        return NewTask(provider, token, self.guild_id, self.result_channel, self.user_id, request, self.upload_limit,
                       private=private, thread_parent_id=public_thread)


@dataclass(frozen=True)
class Started:
    """What :meth:`SongService.submit` did: started ``task``, or ``reused`` an earlier one (re-posting its
    result as ``reposted_message_id`` if it had finished)."""

    task: Task
    reused: bool = False
    reposted_message_id: int | None = None
    place: Place | None = None  # waiting its turn in the submission queue: where, and when it should start


class SongService:
    def __init__(
        self,
        store: Store,
        provider: Provider,
        tracker: Tracker,
        delivery: Delivery,
        audit: AuditLog,
        dispatcher: Dispatcher,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._provider = provider
        self._tracker = tracker
        self._delivery = delivery
        self._audit = audit
        self._dispatcher = dispatcher
        self._clock = clock

    def validate(self, request: Request) -> None:
        """Raise InputError with what to change, before anything is posted or sent."""
        self._provider.validate(request)

    async def submit(self, request: Request, origin: Origin) -> Started:
        """Store the task with its owner, post its status message, submit it, and start tracking it.

        On a refused submit the status message is removed, the task is stored as failed (and delivered: the
        caller explains it privately) and the ProviderError propagates. Raises discord.Forbidden, before
        anything is submitted, if the bot cannot post in the channel.

        Checks, in order, and answers with the first that applies (raising :class:`Refused`): the member is
        blocked, the channel is not allowed, a blocklisted word, a running cap, the balance. A request for a
        result already paid for (the same stems, WAV or video of the same track) is never submitted again:
        a finished one is re-posted here, a pending one is pointed to, and neither costs anything."""
        guild_id = origin.guild_id or 0
        policy = await self._store.policy(guild_id)
        await self._check_rules(guild_id, request, origin)
        if request.reuse_key is not None:
            earlier = await self._store.reusable(request.reuse_key)
            if earlier is not None and earlier.state is TaskState.SUCCEEDED:
                message_id = await self._delivery.post_files(earlier, origin.destination())
                log.info("task %s: result reused for %s", earlier.id, request.reuse_key)
                return Started(earlier, reused=True, reposted_message_id=message_id)
            if earlier is not None:
                return Started(earlier, reused=True)
        free = await self._free_file(request)
        if free is not None:
            return await self._post_free(request, origin, free)
        if getattr(request, "source_expired", False):
            raise InputError("Suno deleted this track's files after 14 days, so it can't make new stems, a WAV or "
                             "a video of it any more. You can still cover or extend it.")
        operation = operation_of(request)
        cost = policy.cost(operation)
        token = secrets.token_urlsafe(24)
        new = origin.new_task(self._provider.name, token, request)
        admission = await self._store.admit(
            new, cost=cost, operation=operation, allowance=origin.allowance(policy, self._clock()),
            member_cap=policy.member_running, guild_cap=policy.guild_running,
        )
        if admission.task is None:
            raise Refused(self._refusal(admission, policy, cost, origin.user_id))
        task = admission.task
        self._tracker.spawn(self._audit.spent(task, cost, admission.balance))
        await self._post_status(task)
        try:
            place = await self._dispatcher.send_now_or_queue(task)
        except ProviderError as error:
            log.info("task %s: submit refused: %s", task.id, error)
            await self._fail(task, error.code, error.detail, reason=error.user_message)
            await self._delivery.delete_status(task)
            raise
        except Exception as error:
            log.exception("task %s: submit crashed", task.id)
            await self._fail(task, None, type(error).__name__)
            await self._delivery.delete_status(task)
            raise
        refreshed = await self._store.get_task(task.id)
        assert refreshed is not None
        if place is not None:
            await self._delivery.refresh_status(refreshed, place=place)
        return Started(refreshed, place=place)

    async def _free_file(self, request: Request) -> ResultFile | None:
        """A music video the provider already made with the song at no cost (CQTAI's clips carry one), to
        post instead of paying for an export."""
        if not isinstance(request, ExportRequest) or request.format not in self._provider.capabilities.free_exports \
                or request.source_expired:
            return None
        found = await self._store.track_by_audio_id(request.audio_id)
        if found is None or found[0].provider != self._provider.name:
            return None
        url = found[0].tracks[found[1]].video_url
        return ResultFile("Video", url) if url else None

    async def _post_free(self, request: Request, origin: Origin, file: ResultFile) -> Started:
        """Post a result that needs no request to the provider (and costs nothing) as a task of its own."""
        new = origin.new_task(self._provider.name, secrets.token_urlsafe(24), request)
        task = await self._store.create_task(new)
        await self._post_status(task)
        provider_task_id = f"free:{task.id}"  # unique, as the provider's ids are
        await self._store.mark_submitted(task.id, provider_task_id, next_poll_at=self._clock() + 3600)
        await self._tracker.update(task.id, TaskUpdate(provider_task_id, TaskState.SUCCEEDED, files=(file,)))
        log.info("task %s: %s posted from the song's own files, at no cost", task.id, request.reuse_key)
        refreshed = await self._store.get_task(task.id)
        assert refreshed is not None
        return Started(refreshed)

    async def _post_status(self, task: Task) -> None:
        """The new task's status message, recorded on it; a task whose message cannot be posted fails
        (refunded) and the error goes on to the member's answer."""
        try:
            status = await self._delivery.post_status(task)
        except Exception as error:
            await self._fail(task, None, f"could not post the status message: {error}")
            raise
        await self._store.set_status_message(task.id, status.id)
        task.status_message_id = status.id

    async def _fail(self, task: Task, code: int | None, detail: str, *, reason: str | None = None) -> None:
        """Record a request that never started (its credits come back); the member is told in the
        interaction, so it counts as delivered."""
        await self._store.apply_update(
            task.id, TaskUpdate("", TaskState.FAILED, error_code=code, error_message=detail,
                                reason=reason or "it could not be started")
        )
        await self._store.mark_delivered(task.id)
        await self._audit.task_finished(task)

    async def _check_rules(self, guild_id: int, request: Request, origin: Origin) -> None:
        await check_member(self._store, guild_id, origin.user_id, origin.channel_id, origin.parent_channel_id)
        await check_words(self._store, guild_id, request)

    def _refusal(self, admission: Admission, policy: GuildPolicy, cost: int, user_id: int) -> str:
        if admission.refused == "balance":
            refill = int(next_period(policy.period, self._clock()))
            return (f"That costs {cost} credit{'s' if cost != 1 else ''} and you have {admission.balance}. "
                    f"Your allowance refills <t:{refill}:R>; a moderator can also grant you more. "
                    "See `/credits`.")
        # Only the member's own requests are listed: other members' prompts are theirs.
        mine = [task for task in admission.running if task.user_id == user_id]
        lines = "\n".join(
            f"\u2022 #{task.id} \u201c{member_text(task.request.summary, 60)}\u201d, started "
            f"<t:{int(task.created_at)}:R>" for task in mine
        )
        if admission.refused == "member":
            return (f"You already have {len(mine)} requests running (the limit is "
                    f"{policy.member_running}). Try again when one finishes:\n{lines}")
        yours = f" Yours:\n{lines}" if mine else ""
        return (f"This server already has {len(admission.running)} requests running (the limit is "
                f"{policy.guild_running}). Try again when one finishes.{yours}")
