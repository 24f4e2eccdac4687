"""A database a newer Chorus has used (its schema version is beyond this code's migrations) is refused, left as
it is, and the bot says so in one line naming both versions."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

import tests.conftest
from bot import create_bot
from bot.core import ChorusBot
from bot.settings import SettingsError
from bot.store import MIGRATIONS, Store
from bot.store.db import SchemaTooNew
from tests.conftest import BotFactory

NEWER = len(MIGRATIONS) + 1


async def newer_sqlite(path: Path) -> None:
    store = await Store.open(path)
    await store.set_meta("kept", "yes")
    await store.close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {NEWER}")
    conn.close()


async def newer_postgres(dsn: str) -> None:
    store = await Store.open(dsn)
    await store.set_meta("kept", "yes")
    await store.close()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("UPDATE chorus_schema SET version = version + 1")
    finally:
        await conn.close()


@pytest.fixture
async def refused_bots(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[list[ChorusBot]]:
    """Bots make_bot built whose login failed (make_bot keeps only those that started): closed afterwards."""
    built: list[ChorusBot] = []

    def keep(*args: Any, **kwargs: Any) -> ChorusBot:
        built.append(create_bot(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(tests.conftest, "create_bot", keep)
    yield built
    for bot in built:
        if not bot.is_closed():
            await bot.close()


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    conn.close()
    return version


async def test_sqlite_newer_than_the_code_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    await newer_sqlite(path)
    with pytest.raises(SchemaTooNew) as caught:
        await Store.open(path)
    assert (caught.value.version, caught.value.supported) == (NEWER, len(MIGRATIONS))
    assert str(caught.value) == f"the database is at schema version {NEWER}, newer than this code's {len(MIGRATIONS)}"
    assert user_version(path) == NEWER
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'kept'").fetchone()[0] == "yes"
    conn.close()


async def test_postgresql_newer_than_the_code_is_refused_and_left_alone(postgres_dsn: str) -> None:
    await newer_postgres(postgres_dsn)
    with pytest.raises(SchemaTooNew) as caught:
        await Store.open(postgres_dsn)
    assert (caught.value.version, caught.value.supported) == (NEWER, len(MIGRATIONS))
    conn = await asyncpg.connect(postgres_dsn)
    try:
        assert await conn.fetchval("SELECT version FROM chorus_schema") == NEWER
        assert await conn.fetchval("SELECT value FROM meta WHERE key = 'kept'") == "yes"
    finally:
        await conn.close()


async def test_the_bot_refuses_a_newer_sqlite_database_in_one_line(make_bot: BotFactory, tmp_path: Path,
                                                                   refused_bots: list[ChorusBot]) -> None:
    path = tmp_path / "bot.db"  # where make_bot's settings put the database
    await newer_sqlite(path)
    with pytest.raises(SettingsError) as caught:
        await make_bot()
    assert caught.value.variable == "DATABASE_PATH"
    assert str(caught.value) == (
        f"DATABASE_PATH: the database {path} is at schema version {NEWER}, newer than this code's "
        f"{len(MIGRATIONS)}: it was used by a newer Chorus; upgrade the code (git pull && pip install .) or "
        "restore a backup from before")
    assert user_version(path) == NEWER


async def test_the_bot_refuses_a_newer_postgresql_database_without_the_url(
        make_bot: BotFactory, postgres_dsn: str, refused_bots: list[ChorusBot]) -> None:
    await newer_postgres(postgres_dsn)
    with pytest.raises(SettingsError) as caught:
        await make_bot(database_url=postgres_dsn)
    message = str(caught.value)
    assert caught.value.variable == "DATABASE_URL" and "\n" not in message
    assert message.startswith(f"DATABASE_URL: the PostgreSQL database is at schema version {NEWER}, newer than "
                              f"this code's {len(MIGRATIONS)}: it was used by a newer Chorus; upgrade the code")
    assert postgres_dsn not in message and "postgresql://" not in message
