"""``python -m bot check``: one line per item (settings, database, web port, provider, Discord token, public
URL), ✓ or ✗ naming the variable to fix, exit 0 only when all are fine; nothing started, nothing secret printed.
Run as the real command where the item can be checked offline, in-process (``run_checks``) against the loopback
fakes of kie.ai and Discord where it needs them."""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import subprocess
import sys
import tomllib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import asyncpg
import pytest
from aiohttp import web

from bot.check import (
    Line,
    Port,
    check_postgres,
    check_provider,
    check_public_url,
    check_sqlite,
    check_web_port,
    exit_status,
    run_checks,
)
from bot.settings import Settings
from bot.store import MIGRATIONS, Store
from tests.conftest import free_port
from tests.support.discord_fake import FakeDiscord
from tests.support.interactions import discord_api
from tests.support.kie_fake import FakeKie

ROOT = Path(__file__).resolve().parents[2]
ITEMS = ["settings", "database", "media store", "web port", "provider", "Discord token", "public URL"]
TOKEN = "MTEx.discord-token-for-the-check-test"
WRONG_KEY = "wrong-api-key-for-the-check-test"
DB_PASSWORD = "db-password-for-the-check-test"
# The variables the check reads: none may come from the developer's shell.
PREFIXES = ("SUNO_", "DISCORD_", "DATABASE_", "WEB_", "PUBLIC_", "SHARD_", "LOG_", "METRICS_", "DEV_GUILD_ID",
            "FETCH_ALLOW_HOSTS", "SANDBOX_", "MEDIA_")


def run_command(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m bot <args>`` (default: check) in ``tmp_path`` (no .env) with only ``env`` of the variables."""
    clean = {name: value for name, value in os.environ.items() if not name.startswith(PREFIXES)}
    return subprocess.run([sys.executable, "-m", "bot", *(args or ("check",))], cwd=tmp_path,
                          env={**clean, "PYTHONPATH": str(ROOT), **env}, capture_output=True, text=True, timeout=60)


def check_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A valid environment: a token, SQLite in tmp_path, the web server on a free loopback port."""
    return {"DISCORD_TOKEN": TOKEN, "DATABASE_PATH": str(tmp_path / "data" / "bot.db"), "WEB_HOST": "127.0.0.1",
            "WEB_PORT": str(free_port()), **extra}


def line_for(output: str | Sequence[Line], item: str) -> str:
    """The line of ``item`` in the command's output (or in run_checks' lines)."""
    lines = output.splitlines() if isinstance(output, str) else [str(line) for line in output]
    found = [line for line in lines if line[2:].startswith(f"{item}:")]
    assert len(found) == 1, lines
    return found[0]


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeKie, FakeDiscord]]:
    """kie.ai and Discord on loopback; Discord accepts only TOKEN. discord.py is pointed at the fake."""
    async with FakeKie() as kie, FakeDiscord(token=TOKEN, bot_name="Chorus") as discord_fake:
        with discord_api(discord_fake.api_base):
            yield kie, discord_fake


@pytest.fixture
async def running_chorus() -> AsyncIterator[int]:
    """A server answering /healthz as a running Chorus does (bot/observe.py); yields its port."""
    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "gateway": "connected", "database": "ok",
                                  "provider": {"answered": False}})

    app = web.Application()
    app.add_routes([web.get("/healthz", health)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield port
    await runner.cleanup()


# ----- the command ------------------------------------------------------------------------------------------

def test_a_missing_token_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = run_command(tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stdout.splitlines() == [done.stdout.strip()]
    assert done.stdout.startswith("✗ settings: DISCORD_TOKEN: not set")
    assert "Traceback" not in done.stderr


def test_a_database_path_that_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "data.db").mkdir()
    done = run_command(tmp_path, **check_env(tmp_path, DATABASE_PATH="data.db"))
    assert done.returncode == 2
    assert line_for(done.stdout, "database") == (
        "✗ database: DATABASE_PATH: data.db is a directory; give the database's file name, such as data.db/bot.db")
    assert line_for(done.stdout, "settings").startswith("✓ settings: all valid")
    assert [line[2:].partition(":")[0] for line in done.stdout.splitlines()] == ITEMS  # every item, in order
    assert TOKEN not in done.stdout + done.stderr


def test_the_media_store_folder(tmp_path: Path) -> None:
    env = check_env(tmp_path)
    done = run_command(tmp_path, **env)
    media = tmp_path / "data" / "media"
    assert line_for(done.stdout, "media store").startswith(f"✓ media store: {media} will be created at start (")
    assert not media.exists()  # the check creates nothing
    (tmp_path / "songs").write_text("")
    done = run_command(tmp_path, **env, MEDIA_DIR="songs", MEDIA_RETENTION_DAYS="soon")
    assert done.returncode == 2
    assert "✗ settings: MEDIA_RETENTION_DAYS: must be a number of days such as 90" in done.stdout
    assert line_for(done.stdout, "media store") == (
        "✗ media store: MEDIA_DIR: songs is a file, not a folder; give a folder for the kept copies of songs")


async def test_a_database_with_a_newer_schema_is_reported_and_left_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    store = await Store.open(path)
    await store.close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    before = path.read_bytes()
    done = await asyncio.to_thread(run_command, tmp_path, **check_env(tmp_path, DATABASE_PATH=str(path)))
    assert done.returncode == 2
    assert line_for(done.stdout, "database").startswith(
        f"✗ database: DATABASE_PATH: {path}: schema {len(MIGRATIONS) + 1} is newer than this code's "
        f"{len(MIGRATIONS)}")
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["bot.db"]


def test_a_host_that_does_not_resolve_names_web_host(tmp_path: Path) -> None:
    done = run_command(tmp_path, **check_env(tmp_path, WEB_HOST="no-such-host.invalid",
                                             PUBLIC_BASE_URL="https://chorus.example.com"))
    assert done.returncode == 2
    assert line_for(done.stdout, "web port").startswith("✗ web port: WEB_HOST: cannot resolve 'no-such-host.invalid'")
    assert line_for(done.stdout, "public URL") == "– public URL: not checked: fix the web port first"


def test_a_busy_port_names_web_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        done = run_command(tmp_path, **check_env(tmp_path, WEB_PORT=str(port)))
    assert done.returncode == 2
    assert line_for(done.stdout, "web port") == (
        f"✗ web port: WEB_PORT: port {port} is in use on 127.0.0.1 by another program; choose a free WEB_PORT or "
        "stop that program")


def test_a_public_url_where_nothing_listens(tmp_path: Path) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    done = run_command(tmp_path, **check_env(tmp_path, PUBLIC_BASE_URL=nowhere))
    assert done.returncode == 2
    assert line_for(done.stdout, "web port").startswith("✓ web port: 127.0.0.1:")
    assert line_for(done.stdout, "public URL").startswith(
        f"✗ public URL: PUBLIC_BASE_URL: cannot reach {nowhere}/healthz (ClientConnectorError")


def test_no_secret_is_printed_when_the_key_and_database_fail(tmp_path: Path) -> None:
    """An unreachable provider and PostgreSQL: the key, the token and the database password stay hidden."""
    port, api = free_port(), f"http://127.0.0.1:{free_port()}"
    env = check_env(tmp_path, SUNO_API_KEY=WRONG_KEY, SUNO_API_BASE_URL=api,
                    DATABASE_URL=f"postgresql://chorus:{DB_PASSWORD}@127.0.0.1:{port}/chorus")
    done = run_command(tmp_path, **env)
    assert done.returncode == 2
    assert line_for(done.stdout, "database").startswith(
        f"✗ database: DATABASE_URL: cannot reach PostgreSQL at 127.0.0.1:{port}/chorus")
    assert line_for(done.stdout, "provider").startswith(f"✗ provider: SUNO_API_BASE_URL: cannot reach {api}")
    for secret in (TOKEN, WRONG_KEY, DB_PASSWORD):
        assert secret not in done.stdout + done.stderr


def test_version_and_help(tmp_path: Path) -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    done = run_command(tmp_path, "--version")
    assert (done.returncode, done.stdout) == (0, f"chorus {version}\n")
    done = run_command(tmp_path, "--help")
    assert done.returncode == 0 and done.stdout.startswith("usage: python -m bot")
    for command in ("python -m bot ", "python -m bot check", "python -m bot backup PATH", "python -m bot copy-db",
                    "python -m bot --version"):
        assert f"\n  {command}" in done.stdout


# ----- in-process, against the fakes --------------------------------------------------------------------------

async def test_all_fine_exits_0(fakes: tuple[FakeKie, FakeDiscord], tmp_path: Path) -> None:
    kie, discord_fake = fakes
    env = check_env(tmp_path, SUNO_API_KEY=kie.api_key, SUNO_API_BASE_URL=kie.base_url)
    env["PUBLIC_BASE_URL"] = public = f"http://127.0.0.1:{env['WEB_PORT']}"
    reported: list[Line] = []
    lines = await run_checks(env, report=reported.append)
    text = "\n".join(map(str, lines))
    assert reported == lines and [line.item for line in lines] == ITEMS
    assert all(line.ok for line in lines) and exit_status(lines) == 0, text
    assert line_for(lines, "provider") == f"✓ provider: kie.ai at {kie.base_url}: key accepted, 1,000 credits left"
    assert line_for(lines, "Discord token") == (
        f"✓ Discord token: logged in as Chorus (application id {discord_fake.app_id})")
    assert line_for(lines, "public URL") == (
        f"✓ public URL: PUBLIC_BASE_URL reaches this bot: kie.ai will POST results to {public}/callbacks/<secret> "
        f"(polled every 30 s as a fallback), and members open kept songs at {public}/media/…")
    assert TOKEN not in text and kie.api_key not in text
    assert not (tmp_path / "data").exists()  # the database is not created, nor its folder
    with socket.socket() as again:  # the throwaway server is gone
        again.bind(("127.0.0.1", int(env["WEB_PORT"])))


async def test_a_refused_key_and_a_rejected_token(fakes: tuple[FakeKie, FakeDiscord], tmp_path: Path) -> None:
    kie, _ = fakes
    env = check_env(tmp_path, SUNO_API_KEY=WRONG_KEY, SUNO_API_BASE_URL=kie.base_url,
                    DISCORD_TOKEN="MTEx.another-token-discord-refuses")
    lines = await run_checks(env)
    assert exit_status(lines) == 2
    assert line_for(lines, "provider") == (
        "✗ provider: SUNO_API_KEY: the key was refused by kie.ai (401); copy it again from https://kie.ai/api-key")
    assert line_for(lines, "Discord token") == (
        "✗ Discord token: DISCORD_TOKEN: Discord rejected this token; reset it in the Developer Portal "
        "(Bot → Reset Token)")
    text = "\n".join(map(str, lines))
    assert WRONG_KEY not in text and "another-token-discord-refuses" not in text


async def test_bad_settings_are_each_reported_and_the_rest_checked(fakes: tuple[FakeKie, FakeDiscord],
                                                                   tmp_path: Path) -> None:
    env = check_env(tmp_path, WEB_PORT="http", SUNO_PROVIDER="kie", LOG_LEVEL="LOUD")
    lines = await run_checks(env)
    assert [str(line) for line in lines] == [
        "✗ settings: LOG_LEVEL: must be one of DEBUG, INFO, WARNING, ERROR (got 'LOUD')",
        "✗ settings: SUNO_API_KEY: required when SUNO_PROVIDER=kie; create one at https://kie.ai/api-key",
        "✗ settings: WEB_PORT: must be a whole number between 0 and 65535 (got 'http')",
        "✓ database: " + str(tmp_path / "data" / "bot.db") + f" will be created at start (schema {len(MIGRATIONS)})",
        line_for(lines, "media store"),
        "– web port: not checked: fix WEB_PORT first",
        "– provider: not checked: fix SUNO_API_KEY first",
        "✓ Discord token: logged in as Chorus (application id " + str(fakes[1].app_id) + ")",
        "– public URL: not checked: fix SUNO_API_KEY, WEB_PORT first",
    ]
    assert line_for(lines, "media store").startswith("✓ media store: ")
    assert exit_status(lines) == 2
    spaced = await run_checks(check_env(tmp_path, DISCORD_TOKEN="two words"))
    assert str(spaced[0]).startswith("✗ settings: DISCORD_TOKEN: contains whitespace")
    assert line_for(spaced, "Discord token") == "– Discord token: not checked: fix DISCORD_TOKEN first"
    assert line_for(spaced, "provider") == "✓ provider: sandbox (no key needed): simulated songs, no credits"


async def test_a_running_chorus_on_the_port_is_compared_by_its_healthz(
        fakes: tuple[FakeKie, FakeDiscord], running_chorus: int, tmp_path: Path) -> None:
    kie, _ = fakes
    here = f"http://127.0.0.1:{running_chorus}"
    env = check_env(tmp_path, WEB_PORT=str(running_chorus), PUBLIC_BASE_URL=here, SUNO_API_KEY=kie.api_key,
                    SUNO_API_BASE_URL=kie.base_url)
    lines = await run_checks(env)
    assert line_for(lines, "web port") == (
        f"✓ web port: 127.0.0.1:{running_chorus} is held by a running Chorus (its /healthz says 'ok')")
    assert line_for(lines, "public URL").startswith("✓ public URL: PUBLIC_BASE_URL reaches the running Chorus")
    # The bot is not running on WEB_PORT, and PUBLIC_BASE_URL leads to another server (a Chorus elsewhere).
    lines = await run_checks({**env, "WEB_PORT": str(free_port())})
    assert line_for(lines, "public URL") == (
        f"✗ public URL: PUBLIC_BASE_URL: {here}/healthz answered, but not from this bot (another server answers "
        "there); it must lead to this machine's WEB_PORT")
    lines = await run_checks({**env, "WEB_PORT": str(free_port()), "PUBLIC_BASE_URL": kie.base_url})
    assert line_for(lines, "public URL").startswith(
        f"✗ public URL: PUBLIC_BASE_URL: {kie.base_url}/healthz answered HTTP 404, not this bot")


async def test_poll_only_and_the_provider_out_of_reach() -> None:
    api = f"http://127.0.0.1:{free_port()}"
    settings = Settings(discord_token=TOKEN, provider="sunoapi", api_key=WRONG_KEY, api_base_url=api)
    line = await check_provider(settings)
    assert not line.ok and str(line).startswith(f"✗ provider: SUNO_API_BASE_URL: cannot reach {api} (")
    assert str(await check_public_url(settings, Port.FREE)) == (
        "✓ public URL: not set: poll-only (results are polled every 10 s) and members get no links to kept songs "
        "(files too large to upload, the Info button); set PUBLIC_BASE_URL for sunoapi.org to call back at once")
    cqt = Settings(discord_token=TOKEN, provider="cqt", api_key=WRONG_KEY, poll_interval=5)
    assert str(await check_public_url(cqt, Port.FREE)) == (
        "✓ public URL: not set: CQTAI has no callbacks (results are polled every 5 s), but without it members get "
        "no links to kept songs (files too large to upload, the Info button)")
    assert str(await check_provider(cqt)).startswith("✓ provider: CQTAI at https://api.cqtai.com: key set, not verified")


async def test_the_sqlite_file_is_read_without_being_changed(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    assert str(check_sqlite(path)) == f"✓ database: {path} will be created at start (schema {len(MIGRATIONS)})"
    store = await Store.open(path)  # running: its -wal file exists, the version is read through SQLite's locks
    assert str(await asyncio.to_thread(check_sqlite, path)) == (
        f"✓ database: {path}, schema {len(MIGRATIONS)} (current)")
    await store.close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 5")
    conn.close()
    assert str(check_sqlite(path)) == f"✓ database: {path}, schema 5: will be upgraded to {len(MIGRATIONS)} at start"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bot.db"]
    (tmp_path / "notes.txt").write_text("not a database at all, just some words " * 20)
    assert str(check_sqlite(tmp_path / "notes.txt")).startswith(
        f"✗ database: DATABASE_PATH: {tmp_path / 'notes.txt'} is not a SQLite database")
    (tmp_path / "file").write_text("")
    assert str(check_sqlite(tmp_path / "file" / "bot.db")) == (
        f"✗ database: DATABASE_PATH: cannot create the folder {tmp_path / 'file'}: {tmp_path / 'file'} is a file")


async def test_a_host_that_is_not_on_this_machine() -> None:
    settings = Settings(discord_token=TOKEN, web_host="192.0.2.1", web_port=free_port())  # TEST-NET-1
    line, port = await check_web_port(settings)
    assert port is Port.UNUSABLE
    assert str(line).startswith("✗ web port: WEB_HOST: 192.0.2.1 is not an address of this machine")


async def test_postgresql_schema_without_the_password(postgres_dsn: str) -> None:
    url = postgres_dsn.replace("postgresql://chorus@", f"postgresql://chorus:{DB_PASSWORD}@")
    host = url.rpartition("@")[2]
    assert str(await check_postgres(url)) == (
        f"✓ database: PostgreSQL at {host}, empty: schema {len(MIGRATIONS)} will be created at start")
    store = await Store.open(postgres_dsn)
    await store.close()
    assert str(await check_postgres(url)) == (
        f"✓ database: PostgreSQL at {host}, schema {len(MIGRATIONS)} (current)")
    conn = await asyncpg.connect(postgres_dsn)
    await conn.execute("UPDATE chorus_schema SET version = version + 1")
    await conn.close()
    line = await check_postgres(url)
    assert str(line).startswith(f"✗ database: DATABASE_URL: PostgreSQL at {host}: schema {len(MIGRATIONS) + 1} "
                                "is newer than this code's")
    assert DB_PASSWORD not in str(line)
