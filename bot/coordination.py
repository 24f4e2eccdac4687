"""Who does the account-wide work when several processes share one database.

The provider's submit rate is one budget for the whole bot, so one process sends (the leader) and the others
only put tasks in the queue and wake it. Leadership is a PostgreSQL session advisory lock held on a
connection of its own: when the leader dies its connection drops, the lock is free, and another process
takes it within LEADER_RETRY seconds. With SQLite there is one process, and it leads.

Wake-ups between processes are PostgreSQL notifications (LISTEN/NOTIFY) on the same connection; they only
save a wait, since every loop also looks at the database on its own schedule.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

LEADER_RETRY = 1.0  # seconds between a follower's tries for the lock (and the leader's connection checks)
LEADER_LOCK = 0x43686F7275730010
QUEUE_CHANNEL = "chorus_queue"  # a task was put in the queue: the leader should look


class Leadership:
    """One process, one database: always the leader."""

    is_leader = True

    def __init__(self) -> None:
        self._on_change: list[Callable[[bool], None]] = []
        self._on_queue: list[Callable[[], None]] = []

    def on_change(self, callback: Callable[[bool], None]) -> None:
        """``callback(is_leader)`` when leadership is gained or lost."""
        self._on_change.append(callback)

    def on_queue(self, callback: Callable[[], None]) -> None:
        """``callback()`` when any process put a task in the queue (leaders only)."""
        self._on_queue.append(callback)

    async def start(self) -> None:
        for callback in self._on_change:
            callback(True)

    async def stop(self) -> None:
        pass

    async def queued(self) -> None:
        """Tell the leader a task waits (the leader is this process: its own wake-up does)."""

    def _changed(self, leading: bool) -> None:
        self.is_leader = leading
        for callback in self._on_change:
            callback(leading)


class PostgresLeadership(Leadership):
    """Leadership by a session advisory lock on a dedicated connection."""

    is_leader = False

    def __init__(self, dsn: str, notify: Callable[[str], Awaitable[None]]) -> None:
        super().__init__()
        self._dsn = dsn
        self._notify = notify  # sends a notification through the store's pool
        self._conn: Any = None  # asyncpg.Connection (asyncpg is imported only for PostgreSQL)
        self._loop: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Try for the lock once before returning (a lone process leads from its first command), then keep
        trying in the background."""
        await self._try()
        self._loop = asyncio.create_task(self._run(), name="chorus-leadership")

    async def stop(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)
        await self._drop(stopping=True)

    async def queued(self) -> None:
        if not self.is_leader:
            with contextlib.suppress(Exception):
                await self._notify(QUEUE_CHANNEL)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(LEADER_RETRY)
            await self._try()

    async def _try(self) -> None:
        """Take the lock if it is free (or check that the connection holding it is alive)."""
        import asyncpg

        try:
            if self._conn is None:  # named, so pg_stat_activity (with pg_locks) shows which process leads
                conn = await asyncpg.connect(self._dsn, server_settings={
                    "application_name": f"chorus-{os.getpid()}",
                    # A leader whose machine vanished (no TCP close) loses the lock within ~15 s, not hours.
                    "tcp_keepalives_idle": "5", "tcp_keepalives_interval": "2", "tcp_keepalives_count": "4",
                })
                self._conn = conn
                await conn.add_listener(QUEUE_CHANNEL, self._heard)
            conn = self._conn
            if self.is_leader:  # still connected (so still holding the lock), or give the lead up at once
                await conn.fetchval("SELECT 1", timeout=3 * LEADER_RETRY)
            elif await conn.fetchval("SELECT pg_try_advisory_lock($1)", LEADER_LOCK, timeout=3 * LEADER_RETRY):
                log.info("this process now sends to the provider (leader)")
                self._changed(True)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.warning("leadership connection lost (%s); reconnecting", type(error).__name__)
            await self._drop()

    def _heard(self, *_: object) -> None:
        if self.is_leader:
            for callback in self._on_queue:
                callback()

    async def _drop(self, *, stopping: bool = False) -> None:
        conn, self._conn = self._conn, None
        if self.is_leader:
            log.log(logging.INFO if stopping else logging.WARNING, "this process no longer sends to the provider")
            self._changed(False)
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()
