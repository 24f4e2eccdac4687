"""The work that processes sharing one database coordinate through it: the delivery outbox (who posts a
finished task's result, until when, how often it failed), each channel's poster, and the provider's submit
rate window. With SQLite (one process) the same tables serve as the outbox and the window."""

from __future__ import annotations

from collections.abc import Callable

from bot.models import TaskState
from bot.store.db import Tx
from bot.store.tasks import TaskStore

_FINISHED = (TaskState.SUCCEEDED.value, TaskState.FAILED.value)
_FINISHED_SQL = "(?, ?)"


class SharedWorkStore(TaskStore):
    # ----- the delivery outbox: finished tasks not posted yet ----------------------------------------------

    async def deliverable(self, now: float, limit: int = 1000, *, channel_id: int | None = None) -> list[int]:
        """Finished tasks not posted yet (in one channel, if given) that nobody is posting (no lease, or an
        expired one) and whose next try has come."""
        where, params = ("AND channel_id = ?", (channel_id,)) if channel_id is not None else ("", ())
        rows = await self._rows(
            f"""SELECT id FROM tasks WHERE delivered_at IS NULL AND state IN {_FINISHED_SQL}
                AND (delivery_lease IS NULL OR delivery_lease < ?) AND COALESCE(delivery_next, 0) <= ? {where}
                ORDER BY id LIMIT ?""", (*_FINISHED, now, now, *params, limit))
        return [row[0] for row in rows]

    async def next_delivery_at(self) -> float | None:
        """When the next delivery that waits (a retry, or another process's lease on it or on its channel
        ending) is due."""
        now = self._clock()  # only times to come: what is due now was looked at, or waits for a lease to end
        task = await self._value(
            f"""SELECT MIN(CASE WHEN COALESCE(delivery_lease, 0) > COALESCE(delivery_next, 0)
                           THEN delivery_lease ELSE delivery_next END)
                FROM tasks WHERE delivered_at IS NULL AND state IN {_FINISHED_SQL}
                AND (delivery_lease > ? OR delivery_next > ?)""", (*_FINISHED, now, now))
        channel = await self._value("SELECT MIN(until) FROM channel_leases WHERE until > ?", (now,))
        due = [float(value) for value in (task, channel) if value is not None]
        return min(due) if due else None

    async def claim_delivery(self, task_id: int, owner: str, until: float) -> bool:
        """Take the posting of a finished task until ``until`` (renewed while it runs); False if it is posted,
        not due yet, or another live process holds it."""
        now = self._clock()
        changed = await self._execute(
            f"""UPDATE tasks SET delivery_owner = ?, delivery_lease = ?
                WHERE id = ? AND delivered_at IS NULL AND state IN {_FINISHED_SQL}
                AND (delivery_owner = ? OR delivery_lease IS NULL OR delivery_lease < ?)
                AND COALESCE(delivery_next, 0) <= ?""",
            (owner, until, task_id, *_FINISHED, owner, now, now))
        return changed == 1

    async def renew_delivery(self, task_id: int, owner: str, until: float) -> bool:
        changed = await self._execute(
            "UPDATE tasks SET delivery_lease = ? WHERE id = ? AND delivery_owner = ? AND delivered_at IS NULL",
            (until, task_id, owner))
        return changed == 1

    async def release_delivery(self, task_id: int, owner: str) -> None:
        await self._execute("UPDATE tasks SET delivery_owner = NULL, delivery_lease = NULL "
                            "WHERE id = ? AND delivery_owner = ?", (task_id, owner))

    async def delivery_failed(self, task_id: int, owner: str, backoff: Callable[[int], float]) -> float | None:
        """Give the posting back, to be tried again after ``backoff(failures so far)`` seconds; returns when."""
        rows = await self._rows("SELECT delivery_attempts FROM tasks WHERE id = ? AND delivery_owner = ?",
                                (task_id, owner))
        if not rows:
            return None
        at = self._clock() + backoff(int(rows[0][0]))
        await self._execute(
            """UPDATE tasks SET delivery_owner = NULL, delivery_lease = NULL, delivery_attempts = delivery_attempts + 1,
                   delivery_next = ? WHERE id = ? AND delivery_owner = ?""", (at, task_id, owner))
        return at

    async def reset_outbox(self) -> None:
        """Only this process uses the database and it just started: no posting is in progress, and what waits
        for a retry is tried now."""
        async def run(tx: Tx) -> None:
            await tx.execute("""UPDATE tasks SET delivery_owner = NULL, delivery_lease = NULL, delivery_next = NULL
                                WHERE delivered_at IS NULL AND (delivery_owner IS NOT NULL OR delivery_next IS NOT NULL)""")
            await tx.execute("DELETE FROM channel_leases")
        await self._db.write(run)

    async def claim_channel(self, channel_id: int, owner: str, until: float) -> bool:
        """Post in a channel as its only poster until ``until`` (renewable); False while another process
        holds it."""
        rows = await self._db.write(lambda tx: tx.rows(
            """INSERT INTO channel_leases (channel_id, owner, until) VALUES (?, ?, ?)
               ON CONFLICT (channel_id) DO UPDATE SET owner = excluded.owner, until = excluded.until
               WHERE channel_leases.owner = excluded.owner OR channel_leases.until < ?
               RETURNING owner""", (channel_id, owner, until, self._clock())))
        return bool(rows)

    async def forget_channel_leases(self, now: float) -> None:
        await self._execute("DELETE FROM channel_leases WHERE until < ?", (now,))

    async def release_channel(self, channel_id: int, owner: str) -> None:
        await self._execute("DELETE FROM channel_leases WHERE channel_id = ? AND owner = ?", (channel_id, owner))

    # ----- the provider's submit rate, shared by every process ---------------------------------------------

    async def take_slot(self, at: float, limit: int, window: float, unanswered_for: float) -> int | None:
        """A place for a submission about to be sent, if the shared window has one: fewer than ``limit``
        submissions answered in the last ``window`` seconds or sent without an answer in the last
        ``window + unanswered_for``, by any process. Decided and written down in one serialized transaction,
        before the send. Returns its id (None: the window is full). Slots older than an hour are forgotten."""
        async with self.transaction() as tx:
            used = await tx.value(
                "SELECT COUNT(*) FROM provider_slots WHERE (answered = 1 AND at > ?) OR (answered = 0 AND at > ?)",
                (at - window, at - window - unanswered_for))
            if int(used) >= limit:
                return None
            await tx.execute("DELETE FROM provider_slots WHERE at < ?", (at - 3600,))
            return int(await tx.value("INSERT INTO provider_slots (at) VALUES (?) RETURNING id", (at,)))

    async def answer_slot(self, slot: int, at: float) -> None:
        """The provider answered (or the send was given up): the submission counts from ``at``."""
        await self._execute("UPDATE provider_slots SET at = ?, answered = 1 WHERE id = ?", (at, slot))

    async def rate_window(self, since: float, unanswered_since: float) -> tuple[list[float], int]:
        """The submissions answered since ``since`` (when), and those sent since ``unanswered_since`` whose
        answer never came (how many), by any process."""
        rows = await self._rows(
            "SELECT at, answered FROM provider_slots WHERE at > ? ORDER BY at", (min(since, unanswered_since),))
        answered = [float(row[0]) for row in rows if row[1] and row[0] > since]
        return answered, sum(1 for row in rows if not row[1] and row[0] > unanswered_since)
