"""The store's footing: the database (SQLite or PostgreSQL), migrations, and small metadata."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Self

from bot.store.db import Database, Params, SqliteDatabase, Tx
from bot.store.schema import MIGRATIONS


def is_postgres_url(target: str | Path) -> bool:
    return str(target).startswith(("postgresql://", "postgres://"))


async def open_database(target: Path | str) -> Database:
    """A ``postgresql://`` URL (asyncpg), or the path of a SQLite file (folders are created)."""
    if is_postgres_url(target):
        from bot.store.postgres import (
            PostgresDatabase,  # asyncpg is needed only for PostgreSQL
        )

        return await PostgresDatabase.open(str(target))
    if str(target) == ":memory:":  # one in-memory database shared by the bot's two connections
        return await SqliteDatabase.open(f"file:chorus-{secrets.token_hex(8)}?mode=memory&cache=shared")
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    return await SqliteDatabase.open(Path(target).resolve().as_uri())


class StoreBase:
    """Reads, writes and serialized transactions on one :class:`Database`."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    @classmethod
    async def open(cls, target: Path | str, clock: Callable[[], float] = time.time) -> Self:
        """Open the database and apply pending migrations."""
        db = await open_database(target)
        try:
            await db.migrate(MIGRATIONS)
        except BaseException:
            await db.close()
            raise
        return cls(db, clock)

    @property
    def database(self) -> Database:
        return self._db

    async def close(self) -> None:
        await self._db.close()

    async def schema_version(self) -> int:
        return await self._db.schema_version()

    async def ping(self) -> None:
        """Raises unless the database answers."""
        await self._value("SELECT 1")

    def transaction(self) -> AbstractAsyncContextManager[Tx]:
        return self._db.transaction()

    async def _execute(self, sql: str, params: Params = ()) -> int:
        return await self._db.execute(sql, params)

    async def _rows(self, sql: str, params: Params = ()) -> list[Any]:
        return await self._db.rows(sql, params)

    async def _value(self, sql: str, params: Params = ()) -> Any:
        return await self._db.value(sql, params)

    # ----- metadata ---------------------------------------------------------------------------------------

    async def get_meta(self, key: str) -> str | None:
        value = await self._value("SELECT value FROM meta WHERE key = ?", (key,))
        return str(value) if value is not None else None

    async def meta_keys(self, prefix: str) -> list[str]:
        pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        return [row[0] for row in await self._rows("SELECT key FROM meta WHERE key LIKE ? ESCAPE '\\' ORDER BY key",
                                                    (pattern,))]

    async def delete_meta(self, key: str) -> None:
        await self._execute("DELETE FROM meta WHERE key = ?", (key,))

    async def set_meta(self, key: str, value: str) -> None:
        await self._execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )
