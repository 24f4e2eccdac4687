"""Group commit for the writes that come in floods (callbacks and polls moving tasks forward).

aiosqlite sends every statement to its thread and back; a task update is several statements, so a rush of
callbacks would queue behind each other's round trips. Instead, updates that arrive together are applied
together: one hop to a worker thread of their own, one transaction, each update in a savepoint (so one that
fails leaves the others). The worker has its own connection to the same database (WAL lets the bot's main
connection keep reading meanwhile; SQLite serializes the writers, waiting up to busy_timeout).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

Work = Callable[[Any], Coroutine[Any, Any, Any]]
BATCH = 500  # writes per transaction at most


def run_to_end(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that never suspends (its awaits are all synchronous statements) and return its value."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise RuntimeError("a batched write awaited something other than its own statements")


class BatchWriter:
    def __init__(self, connect: Callable[[], sqlite3.Connection], wrap: Callable[[sqlite3.Connection], Any]) -> None:
        self._connect = connect
        self._wrap = wrap
        self._conn: sqlite3.Connection | None = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="chorus-db-writer")
        self._waiting: list[tuple[Work, asyncio.Future[Any]]] = []
        self._draining: asyncio.Task[None] | None = None

    async def run(self, work: Work) -> Any:
        """Run ``work(tx)`` inside a transaction shared with the writes waiting alongside it."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append((work, future))
        if self._draining is None or self._draining.done():
            self._draining = asyncio.create_task(self._drain())
        return await future

    async def close(self) -> None:
        if self._draining is not None:
            await asyncio.gather(self._draining, return_exceptions=True)
        if self._conn is not None:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._conn.close)
        self._executor.shutdown(wait=True)

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiting:
            batch, self._waiting = self._waiting[:BATCH], self._waiting[BATCH:]
            try:
                outcomes = await loop.run_in_executor(self._executor, self._apply, [work for work, _ in batch])
            except Exception as error:  # the transaction itself failed (e.g. the database stayed locked)
                outcomes = [error] * len(batch)
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if isinstance(outcome, Exception):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)

    def _apply(self, works: list[Work]) -> list[Any]:
        """In the worker thread: one transaction, a savepoint per write."""
        if self._conn is None:
            self._conn = self._connect()
        conn = self._conn
        tx = self._wrap(conn)
        conn.execute("BEGIN IMMEDIATE")
        outcomes: list[Any] = []
        try:
            for work in works:
                conn.execute("SAVEPOINT one")
                try:
                    outcomes.append(run_to_end(work(tx)))
                except Exception as error:
                    conn.execute("ROLLBACK TO one")
                    outcomes.append(error)
                conn.execute("RELEASE one")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return outcomes
