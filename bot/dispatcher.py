"""The submission queue's dispatcher: sends waiting tasks to the provider as fast as its rate allows and no
faster, in a fair order, and keeps members told of their place.

Fair order is round robin: across servers (the one served longest ago first), within a server across members
(likewise), and first come first served within a member. A provider answer that says "not now" (a rate or
concurrency limit) puts the task back at its place and pauses sending for the provider's window: it is not a
failure and costs the member nothing. The queue is the tasks table (state "waiting"), so it survives restarts.

With several processes on one database, only the leader (see coordination.py) sends; the others put tasks in
the queue and wake it. The rate window (when each recent submission counted) and the pause are kept in the
database, so a new leader starts from the old one's budget; submissions the old leader had in flight count as
made just now. Places and start times are computed from the same tables in every process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from bot.background import BackgroundLoop, wait_for_wake
from bot.coordination import Leadership
from bot.delivery import Delivery
from bot.metrics import Metrics
from bot.models import Place, Task, TaskState, TaskUpdate
from bot.providers.base import Provider
from bot.providers.errors import Busy, ProviderError, RateLimited, Unconfirmed
from bot.providers.ratelimit import SlidingWindow
from bot.store import Store, Waiting
from bot.tracker import Tracker

log = logging.getLogger(__name__)

# kie requires a callBackUrl. Without a public endpoint the bot polls, and gives the provider an address
# under the reserved .invalid domain (RFC 2606), which never resolves, so no callback leaves their side.
POLL_ONLY_CALLBACK = "https://poll-only.invalid/callbacks"
BUSY_PAUSE = 15.0  # a full concurrency limit: wait this long for running tasks to finish
REFRESH_EVERY = 10.0  # seconds between updates of the waiting members' places
PAUSE_KEY = "provider_paused_until"  # the provider's "not now", in the meta table when the database is shared
FOLLOWER_WAIT = 2.0  # seconds a process that does not send waits for the leader to send a request first in line
# The longest a submit can take, retries included (bot/providers/http.py: 30 s per try, server errors retried
# after 2 and 5 s): a slot whose answer never came counts in the rate window this much longer.
SEND_TIMEOUT = 120.0


@dataclass(frozen=True)
class Slot:
    """A submission's place in the rate, held while it is sent; ``shared_id`` is its row in the database's
    window when processes share it."""

    shared_id: int | None


def callback_url(base: str | None, token: str) -> str:
    """Where the provider reports a task's progress (the per-task secret path on our endpoint)."""
    return POLL_ONLY_CALLBACK if base is None else f"{base}/callbacks/{token}"


def fair_order(waiting: list[Waiting], guilds_served: dict[int, float],
               members_served: dict[tuple[int, int], float]) -> list[Waiting]:
    """Round robin across servers, then members, first come first served within a member."""
    by_guild: dict[int, dict[int, deque[Waiting]]] = {}
    for task in waiting:  # oldest first
        by_guild.setdefault(task.guild_id, {}).setdefault(task.user_id, deque()).append(task)

    def members(guild: int) -> deque[deque[Waiting]]:
        queues = by_guild[guild]
        order = sorted(queues, key=lambda user: (members_served.get((guild, user), float("-inf")),
                                                 queues[user][0].id))
        return deque(queues[user] for user in order)

    guild_order = sorted(by_guild, key=lambda guild: (guilds_served.get(guild, float("-inf")),
                                                      min(q[0].id for q in by_guild[guild].values())))
    rotations = deque((guild, members(guild)) for guild in guild_order)
    ordered: list[Waiting] = []
    while rotations:
        guild, queues = rotations.popleft()
        queue = queues.popleft()
        ordered.append(queue.popleft())
        if queue:
            queues.append(queue)
        if queues:
            rotations.append((guild, queues))
    return ordered


class Dispatcher(BackgroundLoop):
    loop_name = "chorus-dispatcher"

    def __init__(
        self,
        store: Store,
        provider: Provider,
        tracker: Tracker,
        delivery: Delivery,
        limiter: SlidingWindow,
        *,
        callback_url: Callable[[str], str],
        called_back: bool,
        clock: Callable[[], float] = time.time,
        leadership: Leadership | None = None,
        shared: bool = False,
        metrics: Metrics | None = None,
    ) -> None:
        super().__init__()
        self._store = store
        self._provider = provider
        self._tracker = tracker
        self._delivery = delivery
        self.limiter = limiter
        self._callback_url = callback_url
        self._called_back = called_back  # can a callback still tell us about a submit whose answer was lost?
        self._clock = clock
        self._paused_until = 0.0
        self._sending = asyncio.Lock()
        self._shown: dict[int, tuple[Place, float]] = {}  # each waiting task's status message: place, when
        self._shared = shared  # other processes use the database: the rate window and pause live there
        self._metrics = metrics or Metrics()
        self._leadership = leadership or Leadership()
        self._leadership.on_change(self._leadership_changed)
        self._leadership.on_queue(self.wake)
        self._inherited = not shared  # alone on its database, there is no other leader's budget to take over
        self._taking_over = asyncio.Lock()


    # ----- a new task --------------------------------------------------------------------------------------

    async def send_now_or_queue(self, task: Task) -> Place | None:
        """Send ``task`` at once if nobody waits ahead of it and the rate allows (None: sent; a refusal raises
        ProviderError), else leave it in the queue and return its place."""
        if not await self._leading():  # the leader sends it; its place is the same seen from here
            await self._leadership.queued()
            await self._load_window()
            place = self._place_in(await self._order(), task.id)
            if place is not None and place.position == 1 and self._can_send() and await self._sent_soon(task.id):
                return None
            return place
        async with self._sending:
            order = await self._order()
            first = bool(order) and order[0].id == task.id
            claimed = first and self._leadership.is_leader and self._can_send() and await self._store.claim(task.id)
            slot = await self._take_slot(task.id) if claimed else None
        # Sent outside the lock: a slow answer holds this member's reply, not the queue.
        if slot is not None and await self._send(task, slot):
            return None
        self.wake()
        place = self._place_in(await self._order(), task.id)
        if place is not None:  # shown with the answer; its first change is shown at once
            self._shown[task.id] = (place, float("-inf"))
        return place

    async def _sent_soon(self, task_id: int) -> bool:
        """In a process that does not send: give the leader a moment to send a task first in line, so the
        member's answer says it started, as the leader's own would."""
        deadline = time.monotonic() + FOLLOWER_WAIT
        while time.monotonic() < deadline:
            task = await self._store.get_task(task_id)
            if task is None or task.state is not TaskState.WAITING:
                return task is not None
            await asyncio.sleep(0.05)
        return False

    async def tool_turn(self) -> None:
        """Wait for a place in the provider's submission rate for a tool (a persona, timed lyrics, a style
        boost: the provider counts them too), counted now. Only the request counts, so the place is not held
        while the answer comes (CQTAI runs tools as tasks the adapter polls, up to two minutes). In a bot of
        several processes it is this process's view of the window (the leader's sends keep to the shared
        one)."""
        async with self.limiter.slot():
            pass

    async def cancel(self, task: Task, reason: str) -> bool:
        """Take a waiting task out of the line with a full refund; False if it was already sent (the provider
        has no cancel). Its status message says so; nothing is posted in the channel."""
        async with self._sending:
            if not await self._store.cancel_waiting(task.id, reason):
                return False
        self._shown.pop(task.id, None)
        await self._store.mark_delivered(task.id)
        cancelled = await self._store.get_task(task.id)
        if cancelled is not None:
            self._tracker.spawn(self._delivery.refresh_status(cancelled))
            self._tracker.spawn(self._tracker.finished(cancelled))
        self.wake()
        return True

    async def places(self) -> dict[int, Place]:
        """Every waiting task's place in line and start time."""
        if not self._leadership.is_leader:
            await self._load_window()
        order = await self._order()
        starts = self._start_times(len(order))
        return {waiting.id: Place(position + 1, starts[position]) for position, waiting in enumerate(order)}

    def _place_in(self, order: list[Waiting], task_id: int) -> Place | None:
        position = next((n for n, waiting in enumerate(order) if waiting.id == task_id), None)
        if position is None:
            return None
        return Place(position + 1, self._start_times(position + 1)[position])

    # ----- the loop ----------------------------------------------------------------------------------------

    def _leadership_changed(self, leading: bool) -> None:
        if self._shared:
            self._inherited = False
        self.wake()

    async def _load_window(self) -> None:
        """Take the shared rate window and pause from the database: the submissions answered in the last
        window, when they were answered, and those sent without an answer yet (another process is sending
        them, or died doing so) as if counted now; the provider counted each no later than that."""
        if not self._shared:
            return
        now = self._clock()
        window = self.limiter.window
        answered, unanswered = await self._store.rate_window(now - window, now - window - SEND_TIMEOUT)
        self.limiter.restore(answered + [now] * unanswered)
        self._paused_until = float(await self._store.get_meta(PAUSE_KEY) or 0.0)

    async def _leading(self) -> bool:
        """Whether this process sends: it leads, and has taken over (the first to ask, the loop or a member's
        request just after this process became the leader, does that)."""
        if not self._leadership.is_leader:
            return False
        async with self._taking_over:
            if not self._inherited:
                await self._take_over()
                self._inherited = True
        return True

    async def _take_over(self) -> None:
        """Just became the leader: only a leader sends, so submissions still without an answer were the last
        leader's. They are marked unsure at once: a callback at their path adopts them, whichever process gets
        it, and an answer that still reaches a live old leader does too. (Without callbacks nothing could
        adopt them, so they wait for their lease before being failed.) The rate budget is the shared one."""
        await self._load_window()
        if self._shared:
            await self._tracker.cut_off(self._clock(), fail=False)

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                if not self._leadership.is_leader:
                    delay = 60.0  # a follower sends nothing; leadership or a wake-up ends the wait
                else:
                    await self._leading()
                    delay = await self._dispatch_due()
                    delay = min(delay, await self._refresh_places())
            except Exception:
                log.exception("dispatcher round failed")
                delay = 5.0
            await wait_for_wake(self._wake, delay)

    async def _dispatch_due(self) -> float:
        """Start sending what the rate allows now (the sends run side by side, each holding its slot of the
        rate from the start); returns how long to wait before the next try."""
        while True:
            async with self._sending:
                if not self._leadership.is_leader:
                    return 60.0
                order = await self._order()
                if not order:
                    return 60.0
                if not self._can_send():
                    return max(0.05, self._wait_time())
                head = order[0]
                if not await self._store.claim(head.id):
                    continue
                slot = await self._take_slot(head.id)
                if slot is None:
                    return max(0.05, self._wait_time())
                task = await self._store.get_task(head.id)
                assert task is not None
                self._tracker.spawn(self._send_claimed(task, slot))

    async def _take_slot(self, task_id: int) -> Slot | None:
        """Hold one submission's place in the rate for a claimed task (free now, as far as this process knows),
        counted at once. With a shared database the database decides, in a serialized transaction that counts
        every process's recent submissions, and writes it down before the send, so no two leaders (an old one
        cut off from the database, a new one) can exceed the rate together, and a later leader counts it even
        if this process dies before the answer. None: the window is full after all (the task is back in line,
        the window reloaded)."""
        await self.limiter.acquire()
        if not self._shared:
            return Slot(None)
        try:
            shared_id = await self._store.take_slot(self._clock(), self.limiter.limit, self.limiter.window,
                                                    SEND_TIMEOUT)
        except BaseException:
            self.limiter.release()
            await self._store.requeue(task_id)
            raise
        if shared_id is None:
            self.limiter.release()
            await self._store.requeue(task_id)
            await self._load_window()
            return None
        return Slot(shared_id)

    async def _answer_slot(self, slot: int, stamp: float) -> None:
        try:
            await self._store.answer_slot(slot, stamp)
        except Exception as error:  # it still counts (as unanswered, for SEND_TIMEOUT longer): nothing is lost
            log.warning("could not record a submission's answer time (%s)", type(error).__name__)

    async def _send_claimed(self, task: Task, slot: Slot) -> None:
        try:
            await self._send(task, slot)
        except Exception as error:  # the member's interaction is over: told in the channel, refunded
            await self._refused(task, error)
        finally:
            self.wake()

    async def _refused(self, task: Task, error: Exception) -> None:
        if isinstance(error, ProviderError):
            log.info("task %s: submit refused: %s", task.id, error)
            update = TaskUpdate("", TaskState.FAILED, error_code=error.code, error_message=error.detail,
                                reason=error.user_message)
        else:
            log.error("task %s: submit crashed", task.id, exc_info=error)
            update = TaskUpdate("", TaskState.FAILED, error_message=type(error).__name__,
                                reason="it could not be sent to Suno. Try again.")
        await self._tracker.update(task.id, update)

    def _can_send(self) -> bool:
        return self._clock() >= self._paused_until and self.limiter.delay() == 0

    def _wait_time(self) -> float:
        return max(self._paused_until - self._clock(), self.limiter.delay())

    async def _send(self, task: Task, slot: Slot) -> bool:
        """Send a claimed task within the rate (the slot counts from the provider's answer). True: the
        provider took it, or may have (its answer was lost: the task waits, unsure, for a callback to tell).
        False: it said "not now" (back in line, sending paused). A refusal raises ProviderError; the caller
        records it."""
        try:
            provider_task_id = await self._provider.submit(task.request, self._callback_url(task.callback_token))
        except (RateLimited, Busy) as error:
            self._count("not_now", error)
            pause = BUSY_PAUSE if isinstance(error, Busy) else self.limiter.window
            self._paused_until = self._clock() + pause
            if self._shared:
                await self._store.set_meta(PAUSE_KEY, repr(self._paused_until))
            await self._store.requeue(task.id)
            log.warning("%s said not now (%s): task %s back in line, sending paused %.0fs", self._provider.name,
                        error, task.id, pause)
            return False
        except Unconfirmed as error:
            self._count("unconfirmed", error)
            # Never sent again (that could bill twice): a callback at the task's path will name it, or it is
            # refunded after a while. Without callbacks nothing can name it, so it fails (and is refunded) now.
            if not self._called_back:
                raise
            if await self._tracker.mark_unsure(task.id):
                log.warning("task %s: %s; waiting for a callback to tell whether it started", task.id, error)
            else:
                now = await self._store.get_task(task.id)
                if now is not None and now.state is TaskState.UNSURE:  # a new leader already said so
                    log.warning("task %s: %s; waiting for a callback to tell whether it started", task.id, error)
                elif now is None or now.provider_task_id is None:
                    raise
                else:
                    log.info("task %s: its answer was lost, but a callback already confirmed it", task.id)
                    self._tracker.submitted(task.id)
            self._shown.pop(task.id, None)
            return True
        except ProviderError as error:
            self._count("refused", error)
            raise
        finally:
            stamp = self.limiter.release()
            if slot.shared_id is not None:  # every process counts it from its answer now
                await self._answer_slot(slot.shared_id, stamp)
        self._metrics.submissions.labels(outcome="accepted", code="").inc()
        if not await self._store.mark_submitted(task.id, provider_task_id,
                                                self._clock() + self._tracker.quiet_after,
                                                token=task.callback_token, kind=task.task_kind):
            log.error("task %s: the provider took it as %s, but it was given up meanwhile", task.id, provider_task_id)
            return True
        log.info("task %s: submitted as %s", task.id, provider_task_id)
        self._shown.pop(task.id, None)
        self._tracker.submitted(task.id)
        return True

    def _count(self, outcome: str, error: ProviderError) -> None:
        self._metrics.submissions.labels(outcome=outcome, code="" if error.code is None else str(error.code)).inc()

    async def _order(self) -> list[Waiting]:
        waiting = await self._store.waiting()
        if len(waiting) <= 1:
            return waiting
        guilds, members = await self._store.last_served(task.guild_id for task in waiting)
        return fair_order(waiting, guilds, members)

    def _start_times(self, count: int) -> list[float]:
        """Unix times at which the next ``count`` in line should start (after a pause, if one is on)."""
        now = self._clock()
        pause = max(0.0, self._paused_until - now)
        return [now + max(pause, wait) for wait in self.limiter.schedule(count)]

    async def _refresh_places(self) -> float:
        """Show each waiting member their current place where it changed; a status message is edited at most
        every REFRESH_EVERY seconds (its first change at once). Returns when a held-back change is due."""
        order = await self._order()
        starts = self._start_times(len(order))
        now = self._clock()
        due = float("inf")
        for position, waiting in enumerate(order):
            place = Place(position + 1, starts[position])
            shown = self._shown.get(waiting.id)
            if shown is not None and shown[0].position == place.position:
                continue
            if shown is not None and now - shown[1] < REFRESH_EVERY:
                due = min(due, shown[1] + REFRESH_EVERY)
                continue
            task = await self._store.get_task(waiting.id)
            if task is not None and task.state is TaskState.WAITING:
                self._shown[waiting.id] = (place, now)
                self._tracker.spawn(self._delivery.refresh_status(task, place=place))
        return due - now
