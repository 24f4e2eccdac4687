"""``python -m bot check``: before going live, check what the bot needs without starting it (and without
connecting to Discord's gateway), one line per item, each saying what is fine or what to change:

1. settings — every variable (and LOG_LEVEL/LOG_FORMAT); a bad one is reported and the rest checked with it
   left out; a missing DISCORD_TOKEN stops here;
2. database — the SQLite file (opened read-only: never created, upgraded or left changed) and its folder, or
   the PostgreSQL database (never its URL: host:port/database only), and the schema version against this code's;
3. media store — MEDIA_DIR (kept copies of every song) is a writable folder, or can be created; its size and
   the free space on its disk;
4. web port — WEB_HOST:WEB_PORT can be listened on now (or a running Chorus holds it);
5. provider — the key, with the provider's balance call (the sandbox needs none);
6. Discord token — a REST login (``/users/@me``), no gateway;
7. public URL — PUBLIC_BASE_URL reaches this machine's WEB_PORT: a throwaway server answers ``/healthz`` there
   with a one-time nonce (or, when the bot runs, its own ``/healthz`` is compared).

Exit status: 0 when every item is fine, 2 otherwise. No secret (token, API key, database password) is printed.
``python -m bot --version`` and ``--help`` live here too.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import os
import secrets
import shutil
import socket
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import aiohttp
import asyncpg
import discord
from aiohttp import web

from bot.copydb import describe_target, error_text
from bot.formatting import format_size
from bot.logs import log_settings, setup_logging
from bot.media import MediaStore
from bot.providers import ADAPTERS, open_provider
from bot.providers.errors import (
    InputError,
    ProviderAuthError,
    ProviderError,
    ProviderUnavailable,
    Unconfirmed,
)
from bot.redaction import Redactor, describe, install_log_filter
from bot.settings import (
    API_KEY_PAGES,
    DEFAULT_BASE_URLS,
    Settings,
    SettingsError,
    load_dotenv_file,
)
from bot.store import MIGRATIONS
from bot.store.db import read_sqlite_version

EXIT_OK = 0
EXIT_PROBLEMS = 2
CONNECT_TIMEOUT = 5.0  # PostgreSQL, PUBLIC_BASE_URL, a running bot's /healthz
CALL_TIMEOUT = 10.0  # the provider's balance and Discord's login (TLS to the internet)
MARKS = {True: "✓", False: "✗", None: "–"}  # None: not checked, another line says what to fix first
HEALTH_KEYS = frozenset({"status", "gateway", "database", "provider"})  # bot/observe.py's /healthz answer
SECRET_VARIABLES = ("DISCORD_TOKEN", "SUNO_API_KEY", "SUNO_WEBHOOK_HMAC_KEY", "METRICS_TOKEN", "MEDIA_LINK_KEY")

# What each item reads: a bad one of these means the item is not checked.
NEEDS = {
    "database": ("DATABASE_PATH", "DATABASE_URL"),
    "media store": ("MEDIA_DIR", "DATABASE_PATH"),
    "web port": ("WEB_HOST", "WEB_PORT"),
    "provider": ("SUNO_PROVIDER", "SUNO_API_KEY", "SUNO_API_BASE_URL"),
    "Discord token": ("DISCORD_TOKEN",),
    "public URL": ("PUBLIC_BASE_URL", "WEB_HOST", "WEB_PORT", "SUNO_PROVIDER", "SUNO_API_KEY", "SUNO_POLL_INTERVAL"),
}
# A bad variable is left out to check the rest; these take others with them (a provider without its key).
LEAVE_OUT = {"SUNO_API_KEY": ("SUNO_API_KEY", "SUNO_PROVIDER")}
UNCHECKED_TOKEN = "token-not-checked"  # stands in for a malformed token while the rest is checked


@dataclass(frozen=True)
class Line:
    """One line of the report: ``✓ item: what is fine``, ``✗ item: what to fix`` or ``– item: not checked``."""

    item: str
    ok: bool | None
    text: str

    def __str__(self) -> str:
        return f"{MARKS[self.ok]} {self.item}: {self.text}"


def _ok(item: str, text: str) -> Line:
    return Line(item, True, text)


def _fail(item: str, text: str) -> Line:
    return Line(item, False, text)


class Port(Enum):
    """What the web port check found, for the public URL check."""

    FREE = "free"  # nothing listens there: the check may serve its own /healthz
    CHORUS = "chorus"  # a running Chorus holds it: compare its /healthz
    UNUSABLE = "unusable"  # a bad host, or another program holds it


# ----- 1. settings --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SettingsRead:
    settings: Settings | None  # None: DISCORD_TOKEN is missing, nothing else is checked
    lines: list[Line]
    bad: frozenset[str]  # variables with a bad value


def read_settings(environ: Mapping[str, str]) -> SettingsRead:
    """Settings.from_env and the log settings; each bad variable gives a ✗ line and is then left out (its default
    is used) to read the others."""
    env = dict(environ)
    lines: list[Line] = []
    bad: set[str] = set()
    level = "INFO"
    for _ in range(2):  # LOG_LEVEL, then LOG_FORMAT
        try:
            level = logging.getLevelName(log_settings(env)[0])
            break
        except SettingsError as error:
            lines.append(_fail("settings", str(error)))
            bad.add(error.variable)
            env.pop(error.variable, None)
    for _ in range(len(env) + 1):  # each round leaves out at least one variable
        try:
            settings = Settings.from_env(env)
            break
        except SettingsError as error:
            lines.append(_fail("settings", str(error)))
            bad.add(error.variable)
            if error.variable == "DISCORD_TOKEN":
                if not (env.get("DISCORD_TOKEN") or "").strip():  # missing: there is nothing to check with
                    return SettingsRead(None, lines, frozenset(bad))
                env["DISCORD_TOKEN"] = UNCHECKED_TOKEN
                continue
            present = [name for name in LEAVE_OUT.get(error.variable, (error.variable,)) if name in env]
            if not present:  # cannot happen with today's settings: stop rather than loop
                return SettingsRead(None, lines, frozenset(bad))
            for name in present:
                del env[name]
    else:
        return SettingsRead(None, lines, frozenset(bad))
    if not lines:
        provider = ADAPTERS[settings.provider][1].label
        defaulted = " (no SUNO_API_KEY)" if settings.provider_defaulted and settings.uses_sandbox else ""
        lines.append(_ok("settings", f"all valid (provider: {provider}{defaulted}; log level {level})"))
    return SettingsRead(settings, lines, frozenset(bad))


# ----- 2. database --------------------------------------------------------------------------------------------

async def check_database(settings: Settings) -> Line:
    if settings.database_url is not None:
        return await check_postgres(settings.database_url)
    return await asyncio.to_thread(check_sqlite, settings.database_path)


def check_sqlite(path: Path) -> Line:
    """The SQLite file and its folder, read-only: nothing is created, upgraded or changed."""
    current = len(MIGRATIONS)
    if str(path) == ":memory:":
        return _ok("database", f"in memory, schema {current} at start (nothing is kept after a restart)")
    if path.is_dir():
        return _fail("database", f"DATABASE_PATH: {path} is a directory; give the database's file name, such as "
                                 f"{path / 'bot.db'}")
    folder = path.parent
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return _fail("database", f"DATABASE_PATH: cannot create the folder {folder}: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        return _fail("database", f"DATABASE_PATH: the folder {existing} is not writable by this user (SQLite "
                                 "writes its -wal and -shm files beside the database); fix its permissions")
    if not path.exists():
        return _ok("database", f"{path} will be created at start (schema {current})")
    if not path.is_file():
        return _fail("database", f"DATABASE_PATH: {path} is not a regular file; give the database's file name")
    if not os.access(path, os.R_OK | os.W_OK):
        return _fail("database", f"DATABASE_PATH: {path} is not readable and writable by this user; fix its "
                                 "permissions")
    try:
        version, tables = read_sqlite_version(path)
    except sqlite3.Error as error:
        return _fail("database", f"DATABASE_PATH: {path} is not a SQLite database ({error}); point DATABASE_PATH "
                                 "at the bot's database, or at a new file")
    if version == 0 and tables:
        return _fail("database", f"DATABASE_PATH: {path} is not a Chorus database (it has tables but no schema "
                                 "version); point DATABASE_PATH at the bot's database, or at a new file")
    return _schema_line(str(path), version, "DATABASE_PATH")


def _schema_line(where: str, version: int, variable: str) -> Line:
    current = len(MIGRATIONS)
    if version > current:
        return _fail("database", f"{variable}: {where}: schema {version} is newer than this code's {current} (a "
                                 "newer Chorus used it); upgrade the code (git pull && pip install .) or restore "
                                 "a backup from before")
    if version == current:
        return _ok("database", f"{where}, schema {version} (current)")
    if version == 0:
        return _ok("database", f"{where}, empty: schema {current} will be created at start")
    return _ok("database", f"{where}, schema {version}: will be upgraded to {current} at start")


async def check_postgres(url: str) -> Line:
    """Connect and read chorus_schema; only host:port/database is ever shown."""
    where = f"PostgreSQL at {describe_target(url)}"
    try:
        conn = await asyncpg.connect(url, timeout=CONNECT_TIMEOUT)
    except asyncpg.InvalidCatalogNameError:
        return _fail("database", f"DATABASE_URL: {where}: the database does not exist; create it (CREATE "
                                 "DATABASE) or correct its name in DATABASE_URL")
    except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError) as error:
        return _fail("database", f"DATABASE_URL: {where} refused the user or password "
                                 f"({error_text(error, url)}); correct them in DATABASE_URL")
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, ValueError) as error:
        return _fail("database", f"DATABASE_URL: cannot reach {where} ({error_text(error, url)}); check that "
                                 "the server runs and DATABASE_URL's host and port")
    try:
        version = 0
        if await conn.fetchval("SELECT to_regclass('chorus_schema') IS NOT NULL"):
            version = int(await conn.fetchval("SELECT MAX(version) FROM chorus_schema") or 0)
    except (asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        return _fail("database", f"DATABASE_URL: {where}: cannot read the schema version "
                                 f"({error_text(error, url)}); the user needs access to the database")
    finally:
        await conn.close()
    return _schema_line(where, version, "DATABASE_URL")


# ----- 3. web port --------------------------------------------------------------------------------------------

# ----- 3. media store -----------------------------------------------------------------------------------------

async def check_media(settings: Settings) -> Line:
    """MEDIA_DIR, read-only: a folder this user can write in (or one it can create), what it holds, the space
    left."""
    path = settings.media_path
    variable = "MEDIA_DIR" if settings.media_dir is not None else "MEDIA_DIR (default: beside DATABASE_PATH)"
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return _fail("media store", f"{variable}: {existing} is a file, not a folder; give a folder for the kept "
                                    "copies of songs")
    if not os.access(existing, os.W_OK | os.X_OK):
        return _fail("media store", f"{variable}: the folder {existing} is not writable by this user; fix its "
                                    "permissions")
    free = f"{format_size(shutil.disk_usage(existing).free)} free on its disk"
    kept = settings.media_retention_days
    keeping = f"copies deleted after {kept:g} days" if kept is not None else "copies kept until deleted"
    if existing != path:
        return _ok("media store", f"{path} will be created at start ({free}; {keeping})")
    usage = await MediaStore(path).usage()
    return _ok("media store", f"{path}: {usage.files:,} files, {format_size(usage.bytes)} ({free}; {keeping})")


async def check_web_port(settings: Settings) -> tuple[Line, Port]:
    """Bind (and listen on) every address WEB_HOST resolves to, as the bot's server does, then close."""
    host, port = settings.web_host, settings.web_port
    where = f"{host}:{port}"
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as error:
        reason = getattr(error, "strerror", None) or type(error).__name__
        return _fail("web port", f"WEB_HOST: cannot resolve {host!r} ({reason}); use an address of this machine, "
                                 "such as 0.0.0.0 (all its addresses) or 127.0.0.1"), Port.UNUSABLE
    try:
        _bind_all(infos)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            return await _port_in_use(settings)
        if error.errno == errno.EADDRNOTAVAIL:
            return _fail("web port", f"WEB_HOST: {host} is not an address of this machine; use 0.0.0.0 (all its "
                                     "addresses) or one of its own"), Port.UNUSABLE
        if error.errno == errno.EACCES:
            return _fail("web port", f"WEB_PORT: listening on port {port} needs administrator rights; use a port "
                                     "from 1024 up (a reverse proxy can serve 80/443)"), Port.UNUSABLE
        return _fail("web port", f"WEB_PORT: cannot listen on {where} ({error.strerror or error})"), Port.UNUSABLE
    if port == 0:
        return _ok("web port", f"{where}: a free port is chosen at start (WEB_PORT=0)"), Port.FREE
    return _ok("web port", f"{where} is free"), Port.FREE


def _bind_all(infos: list[tuple[Any, ...]]) -> None:
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio's create_server does
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(1)
    finally:
        for sock in sockets:
            sock.close()


async def _port_in_use(settings: Settings) -> tuple[Line, Port]:
    """Someone listens on WEB_PORT: a running Chorus (its /healthz answers), or another program."""
    where = f"{settings.web_host}:{settings.web_port}"
    answer = await _get_json(f"{local_url(settings)}/healthz", CONNECT_TIMEOUT)
    if isinstance(answer, tuple) and isinstance(answer[1], dict) and HEALTH_KEYS <= answer[1].keys():
        return _ok("web port", f"{where} is held by a running Chorus (its /healthz says "
                               f"{answer[1].get('status')!r})"), Port.CHORUS
    return _fail("web port", f"WEB_PORT: port {settings.web_port} is in use on {settings.web_host} by another "
                             "program; choose a free WEB_PORT or stop that program"), Port.UNUSABLE


def local_url(settings: Settings) -> str:
    """How this machine reaches WEB_HOST:WEB_PORT (as WebServer.local_url)."""
    host = "127.0.0.1" if settings.web_host in ("0.0.0.0", "", "::") else settings.web_host
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.web_port}"


async def _get_json(url: str, timeout: float) -> tuple[int, Any, str | None] | BaseException:
    """GET ``url`` without following redirects: (status, JSON body or None, Location), or the error."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
            async with session.get(url, allow_redirects=False) as response:
                try:
                    body = await response.json(content_type=None)
                except ValueError:
                    body = None
                return response.status, body, response.headers.get("Location")
    except (aiohttp.ClientError, OSError, TimeoutError) as error:
        return error


# ----- 4. provider --------------------------------------------------------------------------------------------

async def check_provider(settings: Settings) -> Line:
    """The provider's balance call with the key: is the key accepted, is the provider reachable."""
    label = ADAPTERS[settings.provider][1].label
    if settings.uses_sandbox:
        return _ok("provider", "sandbox (no key needed): simulated songs, no credits")
    base_url = settings.api_base_url or DEFAULT_BASE_URLS[settings.provider]

    def unreachable(reason: str) -> Line:  # names SUNO_API_BASE_URL when it was set, else the internet access
        if settings.api_base_url:
            return _fail("provider", f"SUNO_API_BASE_URL: cannot reach {base_url} ({reason})")
        return _fail("provider", f"cannot reach {base_url} ({reason}): check this machine's internet access")

    client = open_provider(settings.provider, api_key=settings.api_key or "", base_url=base_url)
    try:
        async with asyncio.timeout(CALL_TIMEOUT):
            credits = await client.credits()
    except InputError as error:  # CQTAI: no balance call to try the key with
        return _ok("provider", f"{label} at {base_url}: key set, not verified ({error.user_message})")
    except ProviderAuthError:
        return _fail("provider", f"SUNO_API_KEY: the key was refused by {label} (401); copy it again from "
                                 f"{API_KEY_PAGES[settings.provider]}")
    except TimeoutError:
        return unreachable(f"no answer within {CALL_TIMEOUT:g} s")
    except Unconfirmed as error:  # sent, but no usable answer (a dropped connection, a proxy's error page)
        return unreachable(error.detail or "no usable answer")
    except ProviderError as error:
        if isinstance(error, ProviderUnavailable) and error.detail.startswith("cannot connect"):  # nothing sent
            return unreachable(error.detail.partition(": ")[2] or "no connection")
        code = f" {error.code}" if error.code is not None else ""
        detail = f" ({error.detail})" if error.detail else ""
        if settings.api_base_url:  # an address that answers, but not as the provider's API would
            return _fail("provider", f"SUNO_API_BASE_URL: {base_url} answered the balance call with an "
                                     f"error{code}{detail}; is it {label}'s API address?")
        return _fail("provider", f"{label} answered the balance call with an error{code}{detail}; try again later")
    finally:
        await client.close()
    if credits <= 0:
        return _ok("provider", f"{label} at {base_url}: key accepted, but 0 credits left: top up the account "
                               "before members generate")
    return _ok("provider", f"{label} at {base_url}: key accepted, {credits:,} credits left")


# ----- 5. Discord token ---------------------------------------------------------------------------------------

async def check_discord(settings: Settings) -> Line:
    """A REST login (GET /users/@me and the application): the token, without the gateway."""
    client = discord.Client(intents=discord.Intents.none())
    try:
        async with asyncio.timeout(CALL_TIMEOUT):
            await client.login(settings.discord_token)
        user, application = client.user, client.application
        if application is not None and application.interactions_endpoint_url is not None:
            return _fail("Discord token", f"logged in as {user}, but the application has an Interactions "
                                          "Endpoint URL set: Discord sends slash commands there, not to the bot; "
                                          "clear it in the Developer Portal (General Information)")
        return _ok("Discord token", f"logged in as {user} (application id {client.application_id})")
    except discord.LoginFailure:
        return _fail("Discord token", "DISCORD_TOKEN: Discord rejected this token; reset it in the Developer "
                                      "Portal (Bot → Reset Token)")
    except discord.HTTPException as error:
        return _fail("Discord token", f"Discord answered HTTP {error.status}; try again later")
    except TimeoutError:
        return _fail("Discord token", f"cannot reach Discord: no answer within {CALL_TIMEOUT:g} s")
    except (aiohttp.ClientError, OSError) as error:
        return _fail("Discord token", f"cannot reach Discord ({describe(error)}): check this machine's internet "
                                      "access")
    finally:
        await client.close()


# ----- 6. public URL ------------------------------------------------------------------------------------------

async def check_public_url(settings: Settings, port: Port) -> Line:
    """Does PUBLIC_BASE_URL lead to this machine's WEB_PORT? Only where the provider calls back."""
    capabilities = ADAPTERS[settings.provider][1]
    label, base = capabilities.label, settings.public_base_url
    no_links = "members get no links to kept songs (files too large to upload, the Info button)"
    if base is None:
        every = settings.polls_every(callbacks=False)
        if not capabilities.callbacks:
            return _ok("public URL", f"not set: {label} has no callbacks (results are polled every {every:g} s), "
                                     f"but without it {no_links}")
        if settings.uses_sandbox:
            return _ok("public URL", "not set: the sandbox runs inside the bot and calls back over loopback, but "
                                     f"without it {no_links}")
        return _ok("public URL", f"not set: poll-only (results are polled every {every:g} s) and {no_links}; set "
                                 f"PUBLIC_BASE_URL for {label} to call back at once")
    if port is Port.UNUSABLE:
        return Line("public URL", None, "not checked: fix the web port first")
    if settings.web_port == 0:
        return _fail("public URL", "WEB_PORT: 0 picks another port at each start; set a fixed WEB_PORT for "
                                   "PUBLIC_BASE_URL to lead to")
    if port is Port.CHORUS:
        local = await _get_json(f"{local_url(settings)}/healthz", CONNECT_TIMEOUT)
        answer = await _get_json(f"{base}/healthz", CONNECT_TIMEOUT)
        shape = local[1].keys() if isinstance(local, tuple) and isinstance(local[1], dict) else HEALTH_KEYS
        problem = _public_problem(base, answer, lambda body: body.keys() == shape)
        who = "the running Chorus"
    else:
        nonce = secrets.token_urlsafe(16)
        try:
            async with _answering(settings.web_host, settings.web_port, nonce):
                answer = await _get_json(f"{base}/healthz", CONNECT_TIMEOUT)
        except OSError as error:
            return _fail("public URL", f"WEB_PORT: cannot listen on {settings.web_host}:{settings.web_port} to "
                                       f"check PUBLIC_BASE_URL ({error.strerror or error})")
        problem = _public_problem(base, answer, lambda body: body.get("check") == nonce)
        who = "this bot"
    if problem is not None:
        return _fail("public URL", problem)
    if not capabilities.callbacks or settings.uses_sandbox:
        return _ok("public URL", f"PUBLIC_BASE_URL reaches {who}: members open kept songs at {base}/media/…")
    every = settings.polls_every(callbacks=True)
    return _ok("public URL", f"PUBLIC_BASE_URL reaches {who}: {label} will POST results to {base}/callbacks/"
                             f"<secret> (polled every {every:g} s as a fallback), and members open kept songs "
                             f"at {base}/media/…")


def _public_problem(base: str, answer: tuple[int, Any, str | None] | BaseException,
                    ours: Callable[[dict[str, Any]], bool]) -> str | None:
    """What is wrong with the answer to GET PUBLIC_BASE_URL/healthz, or None when it came from this bot."""
    target = f"{base}/healthz"
    if isinstance(answer, TimeoutError):
        return f"PUBLIC_BASE_URL: no answer from {target} within {CONNECT_TIMEOUT:g} s"
    if isinstance(answer, BaseException):
        return f"PUBLIC_BASE_URL: cannot reach {target} ({describe(answer)})"
    status, body, location = answer
    if 300 <= status < 400:
        return (f"PUBLIC_BASE_URL: {target} redirects (HTTP {status}) to {location or 'elsewhere'}: a provider's "
                "POST would not follow; set PUBLIC_BASE_URL to the final address")
    if status != 200:
        return (f"PUBLIC_BASE_URL: {target} answered HTTP {status}, not this bot; it must lead to WEB_PORT "
                "(a reverse proxy forwarding /callbacks/, /media/ and /healthz)")
    if not isinstance(body, dict) or not ours(body):
        return (f"PUBLIC_BASE_URL: {target} answered, but not from this bot (another server answers there); it "
                "must lead to this machine's WEB_PORT")
    return None


@asynccontextmanager
async def _answering(host: str, port: int, nonce: str) -> AsyncIterator[None]:
    """A throwaway server on WEB_HOST:WEB_PORT answering GET /healthz with the nonce, while the check asks."""

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "check", "check": nonce})

    app = web.Application()
    app.add_routes([web.get("/healthz", health)])
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        yield
    finally:
        await runner.cleanup()


# ----- all of them --------------------------------------------------------------------------------------------

def secrets_in(environ: Mapping[str, str]) -> list[str]:
    """Every value the report must not show: the token, keys, and the database URL's password (as written,
    decoded, or as a query parameter), read from the environment whatever their validity."""
    values = [(environ.get(name) or "").strip() for name in SECRET_VARIABLES]
    url = (environ.get("DATABASE_URL") or "").strip()
    if url:
        parts = urlsplit(url)
        written = parts.netloc.rpartition("@")[0].partition(":")[2]
        values += [url, written, unquote(written), *parse_qs(parts.query).get("password", [])]
    return [value for value in values if value]


async def run_checks(environ: Mapping[str, str] | None = None,
                     report: Callable[[Line], None] | None = None) -> list[Line]:
    """Every check, in order; ``report`` is given each line as soon as it is known. Nothing is started."""
    env = os.environ if environ is None else environ
    redactor = Redactor(secrets_in(env))
    lines: list[Line] = []

    def add(line: Line) -> None:
        line = Line(line.item, line.ok, redactor(line.text))
        lines.append(line)
        if report is not None:
            report(line)

    read = read_settings(env)
    for line in read.lines:
        add(line)
    settings = read.settings
    if settings is None:
        return lines

    def blocked(item: str) -> bool:
        bad = sorted(set(NEEDS[item]) & read.bad)
        if bad:
            add(Line(item, None, f"not checked: fix {', '.join(bad)} first"))
        return bool(bad)

    if not blocked("database"):
        add(await check_database(settings))
    if not blocked("media store"):
        add(await check_media(settings))
    port = Port.UNUSABLE
    if not blocked("web port"):
        line, port = await check_web_port(settings)
        add(line)
    if not blocked("provider"):
        add(await check_provider(settings))
    if not blocked("Discord token"):
        add(await check_discord(settings))
    if not blocked("public URL"):
        add(await check_public_url(settings, port))
    return lines


def exit_status(lines: Sequence[Line]) -> int:
    return EXIT_OK if all(line.ok is not False for line in lines) else EXIT_PROBLEMS


# ----- the commands -------------------------------------------------------------------------------------------

def _prog() -> str:
    name = Path(sys.argv[0]).name
    return "python -m bot" if name in ("__main__.py", "") else name  # python -m bot, or the chorus script


def _parser() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(
        prog=f"{_prog()} check",
        description="Check the settings, the database, the web port, the provider's key, the Discord token and "
                    "PUBLIC_BASE_URL without starting the bot (settings from the environment and .env).",
        epilog="Exit status: 0 when every item is fine, 2 otherwise.",
    )


def _quiet_logging(environ: Mapping[str, str]) -> None:
    """Warnings (a setting that is ignored) on standard error, redacted; discord.py's voice notices hidden."""
    try:
        fmt = log_settings(environ)[1]
    except SettingsError:
        fmt = "plain"
    setup_logging(logging.WARNING, fmt)
    logging.getLogger("discord").setLevel(logging.ERROR)
    install_log_filter(Redactor(secrets_in(environ)))


def main(argv: Sequence[str] | None = None) -> int:
    """``check``; returns the exit status."""
    _parser().parse_args(sys.argv[2:] if argv is None else argv)
    load_dotenv_file()
    _quiet_logging(os.environ)
    try:
        lines = asyncio.run(run_checks(os.environ, report=lambda line: print(line, flush=True)))
    except KeyboardInterrupt:
        return 130
    return exit_status(lines)


def version() -> str:
    """The installed version, else the checkout's pyproject.toml."""
    from importlib import metadata

    try:
        return metadata.version("chorus-bot")
    except metadata.PackageNotFoundError:
        pass
    import tomllib

    try:
        with open(Path(__file__).resolve().parents[1] / "pyproject.toml", "rb") as file:
            return str(tomllib.load(file)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


def usage() -> str:
    prog = _prog()
    width = len(prog) + 13
    rows = [
        ("", "run the bot until SIGTERM or Ctrl-C (settings from the environment and .env)"),
        (" check", "check settings, database, web port, provider key, Discord token and public URL"),
        (" backup PATH", "a consistent copy of the SQLite database, safe while the bot runs"),
        (" copy-db", "copy the SQLite database into PostgreSQL (DATABASE_URL)"),
        (" --version", "print the version"),
        (" --help", "this help"),
    ]
    lines = [f"usage: {prog} [check | backup PATH | copy-db | --version | --help]", ""]
    lines += [f"  {(prog + command).ljust(width)} {text}" for command, text in rows]
    lines += ["", f"'{prog} COMMAND --help' describes a command's options; settings: see README \"Settings\"."]
    return "\n".join(lines)


def about(flag: str) -> int:
    """``--version`` or ``--help``."""
    print(f"chorus {version()}" if flag == "--version" else usage())
    return EXIT_OK
