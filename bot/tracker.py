"""Task tracking: applies provider updates (callbacks and polls), polls pending tasks, times them out,
and hands finished tasks to delivery. Everything it decides is read from and written to the store."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import replace
from typing import Any, Protocol

from bot.background import wait_for_wake
from bot.delivery import Delivery
from bot.metrics import Metrics
from bot.models import Task, TaskKind, TaskState, TaskUpdate
from bot.providers.errors import ProviderError, TaskTimedOut, error_for_code
from bot.store import Store

log = logging.getLogger(__name__)

TASK_TIMEOUT = 30 * 60  # a task pending longer than this is failed
MAX_POLL_BACKOFF = 300.0
REDELIVERY_FIRST = 30.0  # a delivery Discord failed is tried again after this, doubling up to REDELIVERY_MAX
REDELIVERY_MAX = 600.0
PUBLISHERS = 4  # tasks whose Discord messages are being updated at once
RUSH_GAP = 0.02  # seconds without a callback that end a rush
RUSH_DEFER = 5.0  # the longest Discord work waits for a rush of callbacks to pause
QUIET_POLLS = 3  # with callbacks, poll once nothing was heard for this many poll intervals
SHUTDOWN_GRACE = 10.0  # seconds deliveries in flight get to finish when the bot stops; then they are cut
CONFIRM_RETRIES = (1.0, 2.0, 4.0, 8.0)  # the provider's record may lag its callback by a moment: read again
UNSURE_FOR = 15 * 60  # how long a submission whose answer was lost waits for a callback before it is refunded
# A live process's submit is answered (or given up, retries included) well within this; one older was cut off.
SUBMIT_LEASE = 180.0
# A process posting a result holds it (and its channel) this long, renewed while it works: if it dies, another
# takes over after at most this, well inside Discord's nonce window, so a post cut short is still not doubled.
DELIVERY_LEASE = 15.0
SWITCHED = (
    "The bot was switched to another Suno provider while this was being made, so it can't be followed any "
    "more. Your credits were refunded; try again."
)
INTERRUPTED = (
    "The bot restarted while sending this request to Suno, so the song was not started. Try again."
)
NEVER_CONFIRMED = (
    "Suno didn't answer when this was sent, and it never reported starting it within 15 minutes, so the bot "
    "gave up on it. Try again."
)


class StatusSource(Protocol):
    @property
    def name(self) -> str: ...

    async def status(self, kind: TaskKind, task_id: str) -> TaskUpdate: ...


class Tracker:
    """Moves tasks forward exactly once per stage and makes sure every finished task gets posted."""

    def __init__(
        self,
        store: Store,
        provider: StatusSource,
        delivery: Delivery,
        *,
        poll_interval: float,
        callbacks: bool = False,
        timeout: float = TASK_TIMEOUT,
        clock: Callable[[], float] = time.time,
        parallel_polls: int = 8,
        on_finished: Callable[[Task], Awaitable[None]] | None = None,
        shared: bool = False,
        owner: str | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._store = store
        self._provider = provider
        self._delivery = delivery
        self.poll_interval = poll_interval
        # With callbacks, polling is only the fallback for a provider gone quiet: the first poll waits this
        # long after the submit or the last callback (then every poll_interval). Without them, polls drive.
        self.quiet_after = poll_interval * QUIET_POLLS if callbacks else poll_interval
        self.timeout = timeout
        self.shutdown_grace = SHUTDOWN_GRACE
        self.confirm_retries = CONFIRM_RETRIES
        self._clock = clock
        self._polls = asyncio.Semaphore(parallel_polls)
        self._wake = asyncio.Event()
        self._locks: dict[int, asyncio.Lock] = {}
        self._to_publish: set[int] = set()  # publishes spawned and not started yet
        # Discord work runs a few at a time: a rush of callbacks is answered first, and published as it can.
        self._publishers = asyncio.Semaphore(PUBLISHERS)
        self._last_heard = 0.0
        self._calm: asyncio.Task[None] | None = None
        # Other processes may share the database: submissions cut off are those past their lease, not all.
        self._shared = shared
        self._metrics = metrics or Metrics()
        self.owner = owner or f"{socket.gethostname()}:{secrets.token_hex(4)}"  # this process, in the outbox
        self.submit_lease = SUBMIT_LEASE
        self.delivery_lease = DELIVERY_LEASE
        self._channels: dict[int, int] = {}  # channel id → this process's deliveries posting there now
        self._background: set[asyncio.Task[Any]] = set()
        # (task id, the provider id named, whether a finished result is expected) → the read in flight
        self._confirming: dict[tuple[int, str, bool], asyncio.Task[Task | None]] = {}
        self._callbacks = callbacks
        self._loop: asyncio.Task[None] | None = None
        self._on_finished = on_finished  # after a finished task was posted (the credits' audit log)

    # ----- lifecycle --------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Resume after a restart: submissions cut off before their answer wait for a callback to say whether
        the provider took them (without callbacks nothing can, so they fail and are refunded), post what
        finished while the bot was down, and start polling every pending task."""
        now = self._clock()
        if not self._shared:
            await self._store.reset_outbox()
        await self.cut_off(now - self.submit_lease if self._shared else now)
        for task in await self._store.pending_elsewhere(self._provider.name):
            await self.update(task.id, TaskUpdate(task.provider_task_id or "", TaskState.FAILED, reason=SWITCHED,
                                               error_message=f"started with {task.provider}"))
        for task_id in await self._store.deliverable(now):
            self._schedule_publish(task_id)
        self._loop = asyncio.create_task(self._run(), name="chorus-tracker")

    async def stop(self) -> None:
        if self._calm is not None:
            self._calm.cancel()
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)
            self._loop = None
        if self._background:
            _, pending = await asyncio.wait(set(self._background), timeout=self.shutdown_grace)
            for job in pending:
                job.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    def wake(self) -> None:
        """Re-check due polls and timeouts now (a task was added, or the clock moved)."""
        self._wake.set()

    def submitted(self, task_id: int) -> None:
        """A new task was accepted by the provider: show it as queued and schedule its polls."""
        self.wake()
        self._schedule_publish(task_id)

    # ----- updates ----------------------------------------------------------------------------------------

    async def update(self, task_id: int, update: TaskUpdate, *, called_back: bool = False,
                     only_from: TaskState | None = None) -> bool:
        """Apply one observation (callback or poll), or a decision (``only_from`` a given state). Returns
        whether it moved the task forward. A callback that moves it puts the next poll off (the provider is
        evidently calling back)."""
        if update.state is TaskState.FAILED and update.reason is None:
            error = error_for_code(update.error_code, update.error_message, failure=True)
            update = replace(update, reason=error.user_message)
        next_poll = self._clock() + self.quiet_after if called_back else None
        changed = await self._store.apply_update(task_id, update, next_poll_at=next_poll, only_from=only_from)
        if changed:
            log.info("task %s (%s): %s", task_id, update.task_id, update.state.value)
            self._schedule_publish(task_id)
        return changed

    async def confirm(self, task_id: int, provider_task_id: str, *, token: str | None = None,
                      finished: bool = True) -> Task | None:
        """A callback says the task moved on: read the provider's own record of it (over TLS, with our key)
        and apply what that says, never the callback's body. Calls for one task share one read. With
        ``finished`` (the callback said it is done) a record that lags behind is read again a few times. With
        ``token`` the task has no provider id yet (its submit's answer was lost, or is still on its way): the
        id is adopted only if the provider's record names this task's callback path. Returns the task as it
        is now (None if nothing could be confirmed)."""
        key = (task_id, provider_task_id, finished)
        running = self._confirming.get(key)
        if running is None:
            running = asyncio.create_task(self._confirm(task_id, provider_task_id, token, finished))
            self._confirming[key] = running
            self._background.add(running)  # stop() waits for it (or cuts it) like any background work
            running.add_done_callback(self._background.discard)
            running.add_done_callback(lambda _: self._confirming.pop(key, None))
        return await asyncio.shield(running)

    async def _confirm(self, task_id: int, provider_task_id: str, token: str | None, finished: bool) -> Task | None:
        await self._after_the_rush()  # answering the provider's callbacks comes first
        task = await self._store.get_task(task_id)
        if task is None or task.state.terminal:
            return task
        for delay in (0.0, *(self.confirm_retries if finished else ())):
            await asyncio.sleep(delay)
            try:
                update = await self._read(task.task_kind, provider_task_id, "confirm")
            except ProviderError as error:
                log.warning("task %s: could not confirm a callback (%s); polling will", task_id, error)
                return None
            if update.task_id != provider_task_id:
                log.warning("task %s: the record read for a callback names another task id; ignored", task_id)
                return None
            if token is not None:
                if not _names_token(update.callback_url, token):
                    log.warning("task %s: a callback named a provider task that is not this one's; ignored", task_id)
                    return None
                next_poll = self._clock() + self.quiet_after
                if not await self._store.mark_submitted(task_id, provider_task_id, next_poll):
                    return None
                log.info("task %s: the provider confirmed it took it, as %s", task_id, provider_task_id)
                token = None
            await self.update(task_id, update)
            if update.state.terminal:
                break
        return await self._store.get_task(task_id)

    async def mark_unsure(self, task_id: int) -> bool:
        """A submitted task whose answer was lost: it waits up to UNSURE_FOR for a callback to name it (see
        :meth:`confirm`), then is refunded. False if it is not a submission without a provider id."""
        if not await self._store.mark_unsure(task_id, UNSURE_FOR):
            return False
        self.submitted(task_id)  # its status message says so; the deadline is in the store like a poll's
        return True

    async def finished(self, task: Task) -> None:
        """Run the finished-task hook (the moderators' log) for a task settled outside the tracker."""
        if self._on_finished is not None:
            await self._on_finished(task)

    def heard(self) -> None:
        """A callback arrived (the endpoint tells us, answered or not)."""
        self._last_heard = time.monotonic()

    async def _after_the_rush(self) -> None:
        """While callbacks pour in, answering the provider comes first: Discord work waits for a pause in
        them (RUSH_GAP), for at most RUSH_DEFER. All waiting work shares one watcher."""
        if time.monotonic() - self._last_heard >= RUSH_GAP:
            return
        if self._calm is None or self._calm.done():
            self._calm = asyncio.create_task(self._watch_for_calm())
        await asyncio.shield(self._calm)  # one waiter cancelled must not cancel the watcher for the others

    async def _watch_for_calm(self) -> None:
        deadline = time.monotonic() + RUSH_DEFER
        while (gap := time.monotonic() - self._last_heard) < RUSH_GAP and time.monotonic() < deadline:
            await asyncio.sleep(RUSH_GAP - gap)

    def _schedule_publish(self, task_id: int) -> None:
        """Publish a task's state, unless a publish already waiting for it will show the latest anyway."""
        if task_id not in self._to_publish:
            self._to_publish.add(task_id)
            self.spawn(self._publish(task_id))

    async def _publish(self, task_id: int) -> None:
        """Show a task's current state in Discord. Serialized per task and always rendered from the store,
        so the last edit shows the latest state whatever order updates arrived in. A finished task is posted
        through the outbox: only by the process holding its lease and its channel's."""
        await self._after_the_rush()
        lock = self._locks.setdefault(task_id, asyncio.Lock())
        async with self._publishers, lock:
            self._to_publish.discard(task_id)  # from here on, a newer state needs a publish of its own
            task = await self._store.get_task(task_id)
            if task is None or task.delivered_at is not None:
                return
            if task.state.terminal:
                await self._deliver(task)
            else:
                try:
                    await self._delivery.refresh_status(task)
                    if self._shared:  # another process may have shown the final state before this edit landed
                        await self._show_final_again(task_id)
                except Exception:
                    log.exception("task %s: updating its status in Discord failed", task_id)
        if task.state.terminal:
            self._locks.pop(task_id, None)

    async def _deliver(self, task: Task) -> None:
        async with self._posting(task) as mine:
            if not mine:
                return
            task = await self._store.get_task(task.id) or task  # as it is now that it is ours
            if task.delivered_at is not None:
                return
            try:
                await self._delivery.deliver(task)
                if task.finished_at is not None:
                    self._metrics.delivery_seconds.observe(max(0.0, self._clock() - task.finished_at))
            except Exception:
                log.exception("task %s: posting to Discord failed", task.id)
                at = await self._store.delivery_failed(task.id, self.owner, _redelivery_delay)
                if at is not None:
                    log.info("task %s: delivery will be tried again in %.0fs", task.id, at - self._clock())
                self.wake()
                return
        if self._on_finished is not None:
            await self._on_finished(task)
        if self._shared:  # results for this channel that another process finished while we held it: ours now
            for task_id in await self._store.deliverable(self._clock(), channel_id=task.channel_id):
                self._schedule_publish(task_id)

    async def _show_final_again(self, task_id: int) -> None:
        latest = await self._store.get_task(task_id)
        if latest is not None and latest.state.terminal and latest.delivered_at is not None:
            await self._delivery.refresh_status(latest)

    @contextlib.asynccontextmanager
    async def _posting(self, task: Task) -> AsyncIterator[bool]:
        """Hold the task's delivery lease and its channel's (renewed meanwhile); yields False if another
        process holds either (it posts it), or the task is not due."""
        channel = task.channel_id
        until = self._clock() + self.delivery_lease
        if not await self._store.claim_channel(channel, self.owner, until):
            yield False
            return
        self._channels[channel] = self._channels.get(channel, 0) + 1
        renewing: asyncio.Task[None] | None = None
        done = False
        try:
            if not await self._store.claim_delivery(task.id, self.owner, until):
                yield False
                return
            renewing = asyncio.create_task(self._renew(task.id, channel, asyncio.current_task()))
            yield True
            done = True
        finally:
            if renewing is not None:
                renewing.cancel()
                await asyncio.gather(renewing, return_exceptions=True)
                if not done:  # cut short (the bot is stopping): another process may take it at once
                    await self._store.release_delivery(task.id, self.owner)
            self._channels[channel] -= 1
            if not self._channels[channel]:
                del self._channels[channel]
                await self._store.release_channel(channel, self.owner)

    async def _renew(self, task_id: int, channel: int, posting: asyncio.Task[Any] | None) -> None:
        """Keep the leases while the post runs. A lease lost anyway (this process was stalled longer than it)
        stops the post: another process has taken it and posts it (the nonces keep parts from doubling)."""
        while True:
            await asyncio.sleep(self.delivery_lease / 3)
            until = self._clock() + self.delivery_lease
            try:
                kept = (await self._store.renew_delivery(task_id, self.owner, until)
                        and await self._store.claim_channel(channel, self.owner, until))
            except Exception as error:  # a database blip: try again at the next renewal, well within the lease
                log.warning("task %s: could not renew its delivery lease (%s)", task_id, type(error).__name__)
                continue
            if not kept and posting is not None:
                log.warning("task %s: its delivery lease was lost; another process posts it", task_id)
                posting.cancel()
                return

    async def cut_off(self, sent_before: float, *, fail: bool = True) -> None:
        """Submissions whose process stopped before the provider's answer wait for a callback to say whether
        the provider took them (without callbacks nothing can, so they fail and are refunded, unless ``fail``
        is False: then they wait for their lease to end)."""
        for task in await self._store.unsent_submissions(sent_before):
            if self._callbacks:
                await self.mark_unsure(task.id)
            elif fail:
                await self.update(task.id, TaskUpdate("", TaskState.FAILED, reason=INTERRUPTED),
                                  only_from=TaskState.SUBMITTING)

    # ----- polling and timeouts ---------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self._tick()
                due = [at for at in (await self._store.next_poll_at(), await self._store.next_delivery_at())
                       if at is not None]
                delay = min(due) - self._clock() if due else self.poll_interval
            except Exception:
                log.exception("tracker tick failed")
                delay = self.poll_interval
            await wait_for_wake(self._wake, min(max(delay, 0.05), self.poll_interval))

    async def _tick(self) -> None:
        """Due work, each claimed in the store first, so with several processes each runs once."""
        now = self._clock()
        if self._shared:
            await self._store.forget_channel_leases(now)  # expired: their process stopped without letting go
        for task_id in await self._store.deliverable(now):  # retries, and posts a stopped process left
            self._schedule_publish(task_id)
        await self.cut_off(now - self.submit_lease)
        for task in await self._store.pending_since(now - self.timeout):
            if await self._store.claim_look(task, now + self.poll_interval):
                await self._expire(task)
        for task in await self._store.unsure_due(now):  # unless a callback adopted it meanwhile
            await self.update(task.id, TaskUpdate("", TaskState.FAILED, error_message="no callback after a lost "
                                                  "submit answer", reason=NEVER_CONFIRMED), only_from=TaskState.UNSURE)
        for task in await self._store.pending_due(now):
            # Claim the slot before polling, so a slow poll is never doubled (contract: ≤ 3 req/s per task).
            if await self._store.claim_look(task, now + self.poll_interval):
                self.spawn(self._poll(task))

    async def _expire(self, task: Task) -> None:
        """Fail a task pending too long, unless one last look shows the provider finished it (for example
        while the bot was down)."""
        if task.provider_task_id is not None:
            try:
                update = await self._read(task.task_kind, task.provider_task_id, "timeout")
            except ProviderError:
                update = None
            if update is not None and update.state.terminal and update.task_id == task.provider_task_id:
                await self.update(task.id, update)
                return
        error = TaskTimedOut(None, f"pending for more than {self.timeout / 60:.0f} minutes")
        await self.update(
            task.id,
            TaskUpdate(task.provider_task_id or "", TaskState.FAILED, error_message=error.detail,
                       reason=error.user_message),
        )

    async def _poll(self, task: Task) -> None:
        assert task.provider_task_id is not None
        try:
            update = await self._read(task.task_kind, task.provider_task_id, "poll")
        except ProviderError as error:
            delay = min(self.poll_interval * 4, MAX_POLL_BACKOFF)
            log.warning("task %s: poll failed (%s); next try in %.0fs", task.id, error, delay)
            await self._store.set_next_poll(task.id, self._clock() + delay)
            return
        if update.task_id != task.provider_task_id:
            log.warning("task %s: record-info answered for another task id; ignored", task.id)
            return
        await self.update(task.id, update)

    async def _read(self, kind: TaskKind, provider_task_id: str, reason: str) -> TaskUpdate:
        """Read a task's record at the provider (a few at a time), counted by why."""
        async with self._polls:
            try:
                update = await self._provider.status(kind, provider_task_id)
            except ProviderError:
                self._metrics.status_reads.labels(reason=reason, outcome="error").inc()
                raise
        self._metrics.status_reads.labels(reason=reason, outcome="ok").inc()
        return update

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Run Discord work in the background; :meth:`stop` waits for it (or cancels it after a grace)."""
        job = asyncio.create_task(coroutine)
        self._background.add(job)
        job.add_done_callback(self._background.discard)

    async def idle(self) -> None:
        """Wait until no Discord work is in flight (used by tests and benchmarks, and at shutdown)."""
        while self._background:
            await asyncio.gather(*set(self._background), return_exceptions=True)


def _redelivery_delay(failures: int) -> float:
    """A delivery Discord failed (5xx, a network error) is tried again later, backing off: what was posted is
    skipped and the post that was cut short carries the same nonce, so nothing is posted twice."""
    return min(REDELIVERY_FIRST * 2**failures, REDELIVERY_MAX)


def _names_token(callback_url: str | None, token: str) -> bool:
    """Whether a provider's record says it calls back to this task's own (secret) path."""
    return callback_url is not None and callback_url.rstrip("/").endswith(f"/callbacks/{token}")
