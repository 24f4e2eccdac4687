"""Tests of the throwaway PostgreSQL server (tests/support/postgres.py) and its fixtures, against a real
server: nothing here is skipped on a machine without PostgreSQL; the tests fail and say how to install it.
The fixtures come from the plugin tests/support/pg_fixtures.py (loaded by tests/conftest.py)."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import asyncpg
import pytest

from tests.support.postgres import (
    SERVER_USER,
    VERSIONED_BIN_GLOB,
    PostgresCluster,
    PostgresStartError,
    find_postgres_bin,
)


async def connect(dsn: str) -> asyncpg.Connection:
    return await asyncpg.connect(dsn, timeout=10)


async def user_tables(conn: asyncpg.Connection) -> list[str]:
    rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
    return [row["tablename"] for row in rows]


async def test_a_table_is_created_written_and_read(postgres_dsn: str) -> None:
    conn = await connect(postgres_dsn)
    try:
        assert await conn.fetchval("SELECT current_user") == "chorus"
        assert await conn.fetchval("SELECT current_database()") == postgres_dsn.rsplit("/", 1)[1]
        await conn.execute("CREATE TABLE songs (id bigserial PRIMARY KEY, title text NOT NULL)")
        await conn.executemany("INSERT INTO songs (title) VALUES ($1)", [("Rain",), ("Lost socks",)])
        assert [r["title"] for r in await conn.fetch("SELECT title FROM songs ORDER BY id")] == ["Rain", "Lost socks"]
    finally:
        await conn.close()


@pytest.mark.parametrize("turn", [1, 2])
async def test_each_test_gets_an_empty_database(postgres_dsn: str, turn: int) -> None:
    """Both turns create the same table: whichever runs second would fail if it saw the first one's."""
    conn = await connect(postgres_dsn)
    try:
        assert await user_tables(conn) == []
        await conn.execute("CREATE TABLE marker (turn int)")
    finally:
        await conn.close()


async def test_two_fresh_databases_are_isolated(postgres_cluster: PostgresCluster) -> None:
    first = await postgres_cluster.acreate_database("isolation_a")
    second = postgres_cluster.create_database('isolation "B"')  # a name that needs quoting, in SQL and the DSN
    try:
        conn_a, conn_b = await connect(first), await connect(second)
        try:
            await conn_a.execute("CREATE TABLE only_in_a (x int)")
            await conn_a.execute("INSERT INTO only_in_a VALUES (1)")
            assert await user_tables(conn_a) == ["only_in_a"]
            assert await user_tables(conn_b) == []
            with pytest.raises(asyncpg.UndefinedTableError):
                await conn_b.fetchval("SELECT x FROM only_in_a")
            assert await conn_b.fetchval("SELECT current_database()") == 'isolation "B"'
        finally:
            await conn_a.close()
            await conn_b.close()
    finally:
        await postgres_cluster.adrop_database("isolation_a")
        postgres_cluster.drop_database('isolation "B"')
    names = postgres_cluster.psql("SELECT datname FROM pg_database").split()
    assert "isolation_a" not in names and "chorus_template" in names


async def test_a_database_is_dropped_with_connections_still_open(postgres_cluster: PostgresCluster) -> None:
    dsn = postgres_cluster.create_database("left_open")
    conn = await connect(dsn)
    postgres_cluster.drop_database("left_open")  # WITH (FORCE): a test that forgets to close does not break teardown
    assert conn.is_closed() or not await _alive(conn)
    assert "left_open" not in postgres_cluster.psql("SELECT datname FROM pg_database").split()


async def _alive(conn: asyncpg.Connection) -> bool:
    try:
        await conn.fetchval("SELECT 1")
    except (asyncpg.PostgresError, asyncpg.InterfaceError, ConnectionError):
        return False
    finally:
        conn.terminate()
    return True


def test_the_server_does_not_run_as_root(postgres_cluster: PostgresCluster) -> None:
    server_uid = os.stat(f"/proc/{postgres_cluster.server_pid}").st_uid
    if os.geteuid() == 0:
        assert server_uid == pwd.getpwnam(SERVER_USER).pw_uid != 0
        assert Path(postgres_cluster.data_dir).stat().st_uid == server_uid
    else:
        assert server_uid == os.geteuid()


async def test_the_server_is_tuned_for_tests_and_listens_on_loopback(postgres_cluster: PostgresCluster) -> None:
    conn = await connect(postgres_cluster.dsn)
    try:
        settings = {name: await conn.fetchval(f"SHOW {name}") for name in
                    ("fsync", "synchronous_commit", "full_page_writes", "max_connections", "listen_addresses",
                     "unix_socket_directories")}
    finally:
        await conn.close()
    assert settings == {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
                        "max_connections": "200", "listen_addresses": "127.0.0.1",
                        "unix_socket_directories": str(postgres_cluster.socket_dir)}
    assert postgres_cluster.socket_dir.is_relative_to(postgres_cluster.data_dir)


def test_the_versioned_binaries_come_first(postgres_cluster: PostgresCluster) -> None:
    found = find_postgres_bin()
    assert found is not None and found == postgres_cluster.bin_dir
    if list(Path("/usr/lib/postgresql").glob("*/bin")):
        assert found.match(VERSIONED_BIN_GLOB)


def test_a_server_that_fails_to_start_reports_its_log() -> None:
    cluster = PostgresCluster(settings={"shared_buffers": "plenty"})
    with pytest.raises(PostgresStartError) as failure:
        cluster.start()
    assert "last lines of the server log" in str(failure.value)
    assert "shared_buffers" in str(failure.value)  # the server's own complaint, from its log
    assert cluster.root is None and not cluster.running
