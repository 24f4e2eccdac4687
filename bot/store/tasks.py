"""Tasks with their owners, and their tracks."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields
from typing import Any

from bot.models import (
    PENDING_STATES,
    Lyrics,
    Request,
    ResultFile,
    Task,
    TaskKind,
    TaskState,
    TaskUpdate,
    Track,
    request_from_json,
)
from bot.store.base import StoreBase
from bot.store.db import Database, Tx, UniqueViolation

_PENDING = tuple(state.value for state in PENDING_STATES)
_PENDING_SQL = "(" + ", ".join("?" for _ in _PENDING) + ")"
_TRACK_FIELDS = (
    "audio_url", "stream_url", "image_url", "title", "tags", "duration", "lyrics", "model_name", "created",
    "video_url",
)


@dataclass(frozen=True)
class NewTask:
    """A task about to be submitted: who asked, where, for what."""

    provider: str
    callback_token: str
    guild_id: int | None
    channel_id: int
    user_id: int
    request: Request
    upload_limit: int
    private: bool = False  # channel_id is the member's DM channel
    thread_parent_id: int | None = None  # asked in a public thread: its channel


@dataclass(frozen=True)
class Waiting:
    """A task in the submission queue: whose it is."""

    id: int
    guild_id: int
    user_id: int


@dataclass(frozen=True)
class FinishedTrack:
    """A finished track as the track pickers list it: when it was made, whose it is and where it was posted."""

    track: Track
    made: float
    user_id: int
    channel_id: int
    thread_parent_id: int | None
    private: bool  # sent to its owner by DM


TARGETS_KEPT = 10_000  # callback targets remembered in memory (the oldest are forgotten first)


@dataclass
class CallbackTarget:
    """A task as the callback endpoint sees it: its id, kind, provider id and furthest known state."""

    id: int
    kind: TaskKind
    provider_task_id: str | None
    state: TaskState


class TaskStore(StoreBase):
    """Tasks with their owners, and their tracks."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        super().__init__(db, clock)
        self._targets: dict[str, CallbackTarget] = {}

    # ----- tasks ------------------------------------------------------------------------------------------

    async def create_task(self, new: NewTask) -> Task:
        """Store a task that costs nothing (credits are taken by ``admit``)."""
        async with self.transaction() as db:
            task_id = await self._insert_task(db, new)
        task = await self.get_task(task_id)
        assert task is not None
        return task

    async def _insert_task(self, db: Tx, new: NewTask) -> int:
        """Insert inside a caller's transaction."""
        now = self._clock()
        task_id = await db.value(
            """INSERT INTO tasks (kind, provider, callback_token, guild_id, channel_id, user_id,
                   params, reuse_key, state, upload_limit, created_at, updated_at, private, thread_parent_id)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
            (
                new.request.kind.value, new.provider, new.callback_token, new.guild_id, new.channel_id,
                new.user_id, new.request.to_json(), new.request.reuse_key, TaskState.SUBMITTING.value,
                new.upload_limit, now, now, int(new.private), new.thread_parent_id,
            ),
        )
        return int(task_id)

    async def mark_submitted(
        self, task_id: int, provider_task_id: str, next_poll_at: float, *, token: str | None = None,
        kind: TaskKind | None = None,
    ) -> bool:
        """Record the provider's task id (from its answer, or adopted from a confirmed callback); the task becomes
        queued unless a callback already moved it on. False if the task has another id, or the id is another
        task's. With its callback ``token`` and ``kind``, its callbacks will not need to read it back."""
        now = self._clock()
        sent = (TaskState.SUBMITTING.value, TaskState.UNSURE.value)

        try:
            changed = await self._execute(
                """UPDATE tasks SET provider_task_id = ?, next_poll_at = ?, updated_at = ?,
                       state = CASE WHEN state IN (?, ?) THEN ? ELSE state END
                   WHERE id = ? AND (provider_task_id = ? OR (provider_task_id IS NULL AND state IN (?, ?)))""",
                (provider_task_id, next_poll_at, now, *sent, TaskState.QUEUED.value, task_id, provider_task_id,
                 *sent),
            )
        except UniqueViolation:  # another task has this provider id
            return False
        recorded = changed == 1
        if recorded and token is not None and kind is not None:
            self._remember(token, CallbackTarget(task_id, kind, provider_task_id, TaskState.QUEUED))
        return recorded

    async def mark_unsure(self, task_id: int, wait: float) -> bool:
        """The submit's answer was lost (the provider may have taken it): wait for a callback to tell, at most
        ``wait`` seconds from when it was sent (its next look, like a poll's, is ``next_poll_at``)."""
        changed = await self._execute(
            """UPDATE tasks SET state = ?, updated_at = ?, next_poll_at = COALESCE(submitted_at, created_at) + ?
               WHERE id = ? AND state = ? AND provider_task_id IS NULL""",
            (TaskState.UNSURE.value, self._clock(), wait, task_id, TaskState.SUBMITTING.value),
        )
        return changed == 1

    async def unsure_due(self, now: float) -> list[Task]:
        """Unconfirmed submissions whose wait for a callback is over (they are refunded)."""
        return await self._many("SELECT * FROM tasks WHERE state = ? AND next_poll_at <= ? ORDER BY id",
                                (TaskState.UNSURE.value, now))

    async def apply_update(self, task_id: int, update: TaskUpdate, *, next_poll_at: float | None = None,
                           only_from: TaskState | None = None) -> bool:
        """Move a task forward to ``update.state`` if that is further than where it is (and, with
        ``only_from``, only from that state); store its tracks.

        Returns whether anything changed. Stages that repeat or arrive out of order change nothing, so
        callbacks and polls can race freely. The move to a final state settles the task's credits in the same
        transaction, so that happens exactly once too. ``next_poll_at`` moves the next poll (a callback was
        heard: polling can wait).
        """
        now = self._clock()
        changed: bool = await self._db.write(
            lambda tx: self._apply_update(tx, task_id, update, next_poll_at, now, only_from=only_from))
        return changed

    async def cancel_waiting(self, task_id: int, reason: str) -> bool:
        """Fail a task that is still waiting its turn (its credits come back); False if it was already sent."""
        return await self.apply_update(task_id, TaskUpdate("", TaskState.FAILED, reason=reason),
                                       only_from=TaskState.WAITING)

    async def _apply_update(
        self, tx: Tx, task_id: int, update: TaskUpdate, next_poll_at: float | None, now: float,
        *, only_from: TaskState | None = None,
    ) -> bool:
        """:meth:`apply_update`'s statements, inside its write."""
        new = update.state
        allowed = tuple(state.value for state in PENDING_STATES
                        if state.rank < new.rank and (only_from is None or state is only_from))
        if not allowed:
            return False
        changed = await tx.execute(
            f"""UPDATE tasks SET state = ?, updated_at = ?, finished_at = COALESCE(?, finished_at),
                    error_code = ?, error_message = ?, reason = ?, next_poll_at = COALESCE(?, next_poll_at)
                WHERE id = ? AND state IN ({", ".join("?" for _ in allowed)})""",
            (new.value, now, now if new.terminal else None, update.error_code, update.error_message,
             update.reason, next_poll_at, task_id, *allowed),
        )
        if changed != 1:
            return False
        if update.tracks:
            await tx.executemany(UPSERT_TRACKS, _track_rows(task_id, update.tracks))
        if update.lyrics or update.files or update.midi:
            await tx.execute("UPDATE tasks SET result = ? WHERE id = ?", (_result_json(update), task_id))
        if new.terminal:
            await self._settle(tx, task_id, update, now)
        return True

    async def _settle(self, tx: Tx, task_id: int, update: TaskUpdate, now: float) -> None:
        """Called inside the transaction that finishes a task (credits override it)."""

    async def get_task(self, task_id: int) -> Task | None:
        return await self._one("SELECT * FROM tasks WHERE id = ?", (task_id,))

    async def callback_target(self, token: str) -> CallbackTarget | None:
        """What a callback needs to know about its task: remembered from its submit (or read once, without
        tracks), so the callbacks of a rush cost no reads. The furthest state seen is kept on it."""
        target = self._targets.get(token)
        if target is not None and target.provider_task_id is not None:
            return target
        rows = await self._rows("SELECT id, kind, provider_task_id, state FROM tasks WHERE callback_token = ?",
                                (token,))
        if not rows:
            return None
        row = rows[0]
        target = CallbackTarget(row["id"], TaskKind(row["kind"]), row["provider_task_id"], TaskState(row["state"]))
        self._remember(token, target)
        return target

    def _remember(self, token: str, target: CallbackTarget) -> None:
        self._targets[token] = target
        while len(self._targets) > TARGETS_KEPT:
            del self._targets[next(iter(self._targets))]

    async def pending_due(self, now: float) -> list[Task]:
        """Pending tasks with a provider task id whose next poll time has come."""
        return await self._many(
            f"""SELECT * FROM tasks WHERE state IN {_PENDING_SQL} AND provider_task_id IS NOT NULL
                AND next_poll_at <= ? ORDER BY next_poll_at""",
            (*_PENDING, now),
        )

    async def next_poll_at(self) -> float | None:
        """When the next pending task is due a look: a poll, or the end of an unconfirmed one's wait."""
        return await self._value(f"SELECT MIN(next_poll_at) FROM tasks WHERE state IN {_PENDING_SQL}", _PENDING)

    async def set_next_poll(self, task_id: int, when: float) -> None:
        await self._execute("UPDATE tasks SET next_poll_at = ? WHERE id = ?", (when, task_id))

    async def claim_look(self, task: Task, when: float) -> bool:
        """Take the task's due look (a poll or its timeout) by moving its next one to ``when``; False if
        another process took it first (its next look is no longer what ``task`` says)."""
        changed = await self._execute("UPDATE tasks SET next_poll_at = ? WHERE id = ? AND next_poll_at IS ?",
                                      (when, task.id, task.next_poll_at))
        return changed == 1

    async def pending_since(self, cutoff: float) -> list[Task]:
        """Tasks sent to the provider before ``cutoff`` and still pending (candidates for the timeout); the
        time spent waiting in the queue does not count, and unconfirmed ones have a deadline of their own."""
        return await self._many(
            f"""SELECT * FROM tasks WHERE state IN {_PENDING_SQL} AND state NOT IN (?, ?)
                AND COALESCE(submitted_at, created_at) < ? ORDER BY id""",
            (*_PENDING, TaskState.WAITING.value, TaskState.UNSURE.value, cutoff),
        )

    # ----- the submission queue ----------------------------------------------------------------------------

    async def pending_of(self, guild_id: int, user_id: int | None) -> list[Task]:
        """A server's pending tasks (waiting or running), or one member's there."""
        where, params = ("AND user_id = ?", (user_id,)) if user_id is not None else ("", ())
        return await self._many(
            f"SELECT * FROM tasks WHERE COALESCE(guild_id, 0) = ? AND state IN {_PENDING_SQL} {where} ORDER BY id",
            (guild_id, *_PENDING, *params),
        )

    async def waiting(self) -> list[Waiting]:
        """Every task waiting its turn, oldest first."""
        rows = await self._rows("SELECT id, guild_id, user_id FROM tasks WHERE state = ? ORDER BY id",
                                (TaskState.WAITING.value,))
        return [Waiting(row["id"], row["guild_id"] or 0, row["user_id"]) for row in rows]

    async def last_served(self, guilds: Iterable[int]) -> tuple[dict[int, float], dict[tuple[int, int], float]]:
        """When each of ``guilds`` and each member there last had a task sent (for round-robin order)."""
        wanted = sorted(set(guilds))
        rows = await self._rows(
            f"""SELECT COALESCE(guild_id, 0) AS guild, user_id, MAX(submitted_at) AS at FROM tasks
                WHERE COALESCE(guild_id, 0) IN ({", ".join("?" for _ in wanted)}) AND submitted_at IS NOT NULL
                GROUP BY guild, user_id""", tuple(wanted))
        members = {(row["guild"], row["user_id"]): row["at"] for row in rows}
        guilds: dict[int, float] = {}
        for (guild, _), at in members.items():
            guilds[guild] = max(guilds.get(guild, at), at)
        return guilds, members

    async def claim(self, task_id: int) -> bool:
        """Take a waiting task out of the queue to send it; False if it is not waiting any more."""
        changed = await self._execute(
            "UPDATE tasks SET state = ?, submitted_at = ?, updated_at = ? WHERE id = ? AND state = ?",
            (TaskState.SUBMITTING.value, self._clock(), self._clock(), task_id, TaskState.WAITING.value),
        )
        return changed == 1

    async def requeue(self, task_id: int) -> None:
        """Put a task the provider did not take (rate or concurrency limit) back at its place."""
        await self._execute(
            "UPDATE tasks SET state = ?, submitted_at = NULL WHERE id = ? AND state = ? AND provider_task_id IS NULL",
            (TaskState.WAITING.value, task_id, TaskState.SUBMITTING.value),
        )

    async def unsent_submissions(self, sent_before: float) -> list[Task]:
        """Tasks whose submit, sent before ``sent_before``, never got an answer: the process sending it stopped
        in between (a live one's submit takes less than its lease)."""
        return await self._many(
            """SELECT * FROM tasks WHERE state = ? AND provider_task_id IS NULL
               AND COALESCE(submitted_at, created_at) < ? ORDER BY id""",
            (TaskState.SUBMITTING.value, sent_before),
        )

    async def pending_elsewhere(self, provider: str) -> list[Task]:
        """Pending tasks started with another provider (the bot was switched to ``provider`` since)."""
        return await self._many(
            f"SELECT * FROM tasks WHERE state IN {_PENDING_SQL} AND provider != ? ORDER BY id",
            (*_PENDING, provider),
        )

    async def mark_delivered(self, task_id: int) -> None:
        await self._execute("UPDATE tasks SET delivered_at = ?, delivery_lease = NULL WHERE id = ?",
                            (self._clock(), task_id))

    async def mark_unposted(self, task_id: int, why: str) -> None:
        """The result could not be posted in its channel: keep it, and never try that channel again."""
        await self._execute("UPDATE tasks SET unposted = ?, delivered_at = ? WHERE id = ?",
                            (why, self._clock(), task_id))

    async def mark_told(self, task_id: int) -> None:
        await self._execute("UPDATE tasks SET told_at = ? WHERE id = ?", (self._clock(), task_id))

    async def untold(self, guild_id: int | None, user_id: int) -> list[Task]:
        """The member's results that could not be posted and that they have not been told about."""
        return await self._many(
            "SELECT * FROM tasks WHERE unposted IS NOT NULL AND told_at IS NULL AND user_id = ? AND guild_id IS ? "
            "ORDER BY id", (user_id, guild_id),
        )

    async def set_status_message(self, task_id: int, message_id: int | None) -> None:
        await self._execute("UPDATE tasks SET status_message_id = ? WHERE id = ?", (message_id, task_id))

    async def set_track_message(self, task_id: int, audio_id: str, message_id: int) -> None:
        await self._execute(
            "UPDATE tracks SET message_id = ? WHERE task_id = ? AND audio_id = ?", (message_id, task_id, audio_id)
        )

    async def set_posted_parts(self, task_id: int, parts: int) -> None:
        """How many result messages (lyrics variants, batches of files) were posted, to resume after a cut."""
        await self._execute("UPDATE tasks SET posted_parts = ? WHERE id = ?", (parts, task_id))

    async def reusable(self, reuse_key: str) -> Task | None:
        """The newest task for the same paid-for result that did not fail (pending or finished)."""
        return await self._one(
            "SELECT * FROM tasks WHERE reuse_key = ? AND state != ? ORDER BY id DESC LIMIT 1",
            (reuse_key, TaskState.FAILED.value),
        )

    async def recent_tasks(self, guild_id: int, user_id: int, *, limit: int, offset: int = 0) -> list[Task]:
        """A member's tasks in a server, newest first."""
        return await self._many(
            "SELECT * FROM tasks WHERE guild_id = ? AND user_id = ? ORDER BY id DESC LIMIT ? OFFSET ?",
            (guild_id, user_id, limit, offset),
        )

    async def count_tasks(self, guild_id: int, user_id: int) -> int:
        return int(await self._value("SELECT COUNT(*) FROM tasks WHERE guild_id = ? AND user_id = ?",
                                     (guild_id, user_id)))

    async def finished_tracks(
        self, guild_id: int, user_id: int | None, *, query: str = "", limit: int = 25, since: float = 0.0,
        sounds: bool = False,
    ) -> list[FinishedTrack]:
        """A member's finished tracks in a server (``user_id`` None: every member's that were posted there),
        newest first; ``query`` filters titles (for autocomplete), ``since`` leaves out tracks requested
        earlier; sound effects only with ``sounds``."""
        pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        whose, who = (("tasks.user_id = ?", (user_id,)) if user_id is not None
                      else ("tracks.message_id IS NOT NULL AND tasks.private = 0", ()))
        rows = await self._rows(
            f"""SELECT tracks.*, COALESCE(tasks.finished_at, tasks.created_at) AS made, tasks.user_id AS owner,
                      tasks.channel_id AS posted_in, tasks.thread_parent_id, tasks.private FROM tracks
               JOIN tasks ON tasks.id = tracks.task_id
               WHERE tasks.guild_id = ? AND {whose} AND tasks.state = ? AND tasks.created_at >= ?
                 AND tasks.deleted_at IS NULL AND LOWER(tracks.title) LIKE LOWER(?) ESCAPE '\\'
                 {"" if sounds else f"AND tasks.kind <> '{TaskKind.SOUND.value}'"}
               ORDER BY made DESC, tracks.position LIMIT ?""",
            (guild_id, *who, TaskState.SUCCEEDED.value, since, pattern, limit),
        )
        return [FinishedTrack(_track(row), row["made"], row["owner"], row["posted_in"], row["thread_parent_id"],
                              bool(row["private"])) for row in rows]

    async def track_by_audio_id(self, audio_id: str) -> tuple[Task, int] | None:
        """The finished task that made a track, and the track's position in it."""
        rows = await self._rows(
            """SELECT tracks.task_id, tracks.position FROM tracks JOIN tasks ON tasks.id = tracks.task_id
               WHERE tracks.audio_id = ? AND tasks.state = ? AND tasks.deleted_at IS NULL
               ORDER BY tasks.id DESC LIMIT 1""",
            (audio_id, TaskState.SUCCEEDED.value),
        )
        if not rows:
            return None
        row = rows[0]
        task = await self.get_task(row[0])
        return (task, row[1]) if task is not None else None

    async def tracks(self, task_id: int) -> list[Track]:
        return [_track(row) for row in await self._rows(
            "SELECT * FROM tracks WHERE task_id = ? ORDER BY position", (task_id,))]

    async def count_by_kind_state(self) -> list[tuple[str, str, int]]:
        return [(row[0], row[1], int(row[2])) for row in await self._rows(
            "SELECT kind, state, COUNT(*) FROM tasks GROUP BY kind, state ORDER BY kind, state")]

    async def queue_stats(self) -> tuple[int, float | None]:
        """How many requests wait their turn, and when the oldest was made."""
        rows = await self._rows("SELECT COUNT(*), MIN(created_at) FROM tasks WHERE state = ?",
                                (TaskState.WAITING.value,))
        return int(rows[0][0]), (float(rows[0][1]) if rows[0][1] is not None else None)

    async def count_by_state(self) -> dict[str, int]:
        return {state: count for state, count in await self._rows("SELECT state, COUNT(*) FROM tasks GROUP BY state")}

    # ----- helpers ----------------------------------------------------------------------------------------

    async def _one(self, sql: str, params: tuple[Any, ...]) -> Task | None:
        tasks = await self._many(sql, params)
        return tasks[0] if tasks else None

    async def _many(self, sql: str, params: tuple[Any, ...]) -> list[Task]:
        tasks = [_task(row) for row in await self._rows(sql, params)]
        for task in tasks:
            task.tracks = await self.tracks(task.id)
        return tasks


_DERIVED = ("request", "state", "tracks", "lyrics", "files", "midi", "posted_parts")
_TASK_COLUMNS = tuple(f.name for f in fields(Task) if f.name not in _DERIVED)


def _task(row: Any) -> Task:
    result = json.loads(row["result"]) if row["result"] else {}
    return Task(
        request=request_from_json(row["kind"], row["params"]),
        state=TaskState(row["state"]),
        lyrics=[Lyrics(**item) for item in result.get("lyrics", [])],
        files=[ResultFile(**item) for item in result.get("files", [])],
        midi=list(result.get("midi", [])),
        posted_parts=row["posted_parts"],
        **{name: row[name] for name in _TASK_COLUMNS},
    )


UPSERT_TRACKS = f"""INSERT INTO tracks (task_id, position, audio_id, {", ".join(_TRACK_FIELDS)})
    VALUES (?, ?, ?, {", ".join("?" for _ in _TRACK_FIELDS)})
    ON CONFLICT (task_id, audio_id) DO UPDATE SET
    {", ".join(f"{name} = excluded.{name}" for name in ("position", *_TRACK_FIELDS))}"""


def _track_rows(task_id: int, tracks: Iterable[Track]) -> list[tuple[Any, ...]]:
    return [(task_id, position, track.audio_id, *(getattr(track, name) for name in _TRACK_FIELDS))
            for position, track in enumerate(tracks)]


def _result_json(update: TaskUpdate) -> str:
    return json.dumps(
        {"lyrics": [asdict(item) for item in update.lyrics], "files": [asdict(item) for item in update.files],
         "midi": list(update.midi)}
    )


def _track(row: Any) -> Track:
    return Track(audio_id=row["audio_id"], message_id=row["message_id"], **{name: row[name] for name in _TRACK_FIELDS})
