"""Fixtures that run the real bot against loopback fakes of Discord and of the provider.

No test reaches the internet: Discord is tests/support/discord_fake.py (discord.py's own HTTP client is
pointed at it), kie.ai is tests/support/kie_fake.py (the bot's real provider client speaks HTTP to it).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from bot import create_bot
from bot.__main__ import install_signal_handlers
from bot.core import ChorusBot
from bot.providers.kie import RetryPolicy
from bot.settings import Settings
from tests.support.discord_fake import (
    DEFAULT_CHANNEL_ID,
    DEFAULT_GUILD_ID,
    FakeDiscord,
    followup_for,
)
from tests.support.interactions import (
    autocomplete,
    component,
    discord_api,
    guild_create,
    inject,
    slash_command,
)
from tests.support.kie_fake import FakeKie
from tests.support.loopback import free_port

pytest_plugins = ["tests.support.pg_fixtures", "tests.support.stuck"]

# A rate or concurrency limit puts the request back in the queue (bot/dispatcher.py), never retried in place.
NO_WAIT = RetryPolicy(rate_limited=(), server_error=(0.0, 0.0), busy=())


class Clock:
    """A wall clock the test can move forward (the bot reads time only through it)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


async def terminate(bot: ChorusBot) -> None:
    """Send this process SIGTERM, as `docker stop` does, and wait for the bot's handlers to close it."""
    closed = install_signal_handlers(bot)
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        async with asyncio.timeout(10):
            await closed.wait()
    finally:
        loop = asyncio.get_running_loop()
        loop.remove_signal_handler(signal.SIGTERM)
        loop.remove_signal_handler(signal.SIGINT)


async def post_json(url: str, body: object = None, *, data: bytes | None = None,
                    headers: dict[str, str] | None = None) -> int:
    """POST to one of the bot's endpoints as a provider (or an attacker) would; returns the HTTP status."""
    async with aiohttp.ClientSession() as session:
        kwargs = {"data": data} if data is not None else {"json": body}
        async with session.post(url, headers=headers, **kwargs) as response:
            return response.status


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as fake:
        with discord_api(fake.api_base):
            yield fake


@pytest.fixture
async def kie() -> AsyncIterator[FakeKie]:
    async with FakeKie() as fake:
        fake.auto_callbacks = False  # tests decide when each stage arrives
        yield fake


@pytest.fixture
def clock() -> Clock:
    return Clock()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests in a module marked ``both_databases`` run once on SQLite and once on a real PostgreSQL server."""
    if "database" in metafunc.fixturenames and metafunc.definition.get_closest_marker("both_databases"):
        metafunc.parametrize("database", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """What the store opens: a SQLite file (the default), or a fresh PostgreSQL database's URL."""
    if getattr(request, "param", "sqlite") == "postgresql":
        return str(request.getfixturevalue("postgres_dsn"))
    return tmp_path / "bot.db"


BotFactory = Callable[..., Awaitable[ChorusBot]]


@pytest.fixture
async def make_bot(tmp_path: Path, discord_fake: FakeDiscord, kie: FakeKie, clock: Clock,
                   database: str | Path) -> AsyncIterator[BotFactory]:
    """Build and log in bots (several share one database to test restarts); all are closed afterwards."""
    bots: list[ChorusBot] = []

    async def factory(*, generous: bool = True, **overrides: Any) -> ChorusBot:
        """``generous``: the test server's credits and running caps are high enough never to get in the way
        (tests about credits pass False and get the product's defaults). ``fetch_allow_hosts`` adds to the
        fakes' own hosts."""
        port = free_port()
        settings = Settings(
            discord_token="fake-token",
            provider="kie",
            api_key=kie.api_key,
            api_base_url=kie.base_url,
            public_base_url=f"http://127.0.0.1:{port}",
            web_host="127.0.0.1",
            web_port=port,
            database_path=tmp_path / "bot.db",
            database_url=database if isinstance(database, str) else None,
            poll_interval=3600.0,  # callbacks drive these tests unless one asks for polling
            # The fakes serve their files on loopback, which the bot refuses unless the operator allows it.
            fetch_allow_hosts=frozenset({urlsplit(kie.base_url).netloc, urlsplit(discord_fake.origin).netloc}),
        )
        overrides["fetch_allow_hosts"] = settings.fetch_allow_hosts | set(overrides.get("fetch_allow_hosts", ()))
        bot = create_bot(replace(settings, **overrides), clock=clock)
        await bot.login("fake-token")
        guild_create(bot)  # the test server and its channel, cached as the gateway's GUILD_CREATE leaves them
        bot.provider.retry = NO_WAIT
        bot.tracker.confirm_retries = (0.4,)  # a record that lags its callback is read again sooner (≤ 3/s)
        if generous:
            await bot.store.set_policy(DEFAULT_GUILD_ID, allowance=1_000_000, member_running=1000,
                                       guild_running=1000)
        bots.append(bot)
        return bot

    yield factory
    for bot in bots:
        if not bot.is_closed():
            await bot.close()


@dataclass
class Harness:
    bot: ChorusBot
    discord: FakeDiscord
    kie: FakeKie
    clock: Clock
    channel_id: int = DEFAULT_CHANNEL_ID

    def command(self, name: str, options: dict[str, Any] | None = None, **context: Any) -> dict[str, Any]:
        payload = slash_command(name, options or {}, **context)
        inject(self.bot, payload, fake=self.discord)
        return payload

    async def generate(self, prompt: str = "a cheerful song about rain", **options: Any) -> tuple[dict[str, Any], str]:
        """/generate until the bot has told the member it is on its way; returns the payload and task id."""
        payload = self.command("generate", {"prompt": prompt, **options})
        reply = await self.discord.wait_for(followup_for(payload["token"]))
        assert "On it" in reply.json["content"], reply.json
        return payload, self.kie.last_task_id

    async def reply_to(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The private answer to an interaction: its immediate message, or its first follow-up."""
        callback = await self.discord.wait_for_callback(int(payload["id"]))
        if callback.json["type"] == 4:
            return callback.json["data"]
        return (await self.discord.wait_for(followup_for(payload["token"]))).json

    def messages(self) -> list[dict[str, Any]]:
        return self.discord.channel_messages(self.channel_id)

    def track_messages(self) -> list[dict[str, Any]]:
        return [m for m in self.messages() if any("track" in (e.get("footer") or {}).get("text", "")
                                                  for e in m.get("embeds") or [])]

    async def wait_for_tracks(self, count: int = 2) -> list[dict[str, Any]]:
        await self.discord.wait_for_message(self.channel_id, lambda m: len(self.track_messages()) >= count)
        await self.bot.tracker.idle()
        return self.track_messages()

    async def song(self, prompt: str = "a cheerful song about rain", **options: Any) -> tuple[str, list[dict[str, Any]]]:
        """A finished song: the provider's task id and its two track messages."""
        before = len(self.track_messages())
        _, task_id = await self.generate(prompt, **options)
        await self.kie.advance(task_id, "complete")
        tracks = await self.wait_for_tracks(before + 2)
        return task_id, tracks[before:]

    async def suggestions(self, name: str, options: dict[str, Any], focused: str, **context: Any) -> list[str]:
        """The values Discord would list for option ``focused`` of /``name`` while it is typed."""
        payload = autocomplete(name, options, focused, **context)
        inject(self.bot, payload, fake=self.discord)
        callback = await self.discord.wait_for_callback(int(payload["id"]))
        return [choice["value"] for choice in callback.json["data"]["choices"]]

    def click(self, message: dict[str, Any], label: str, **context: Any) -> dict[str, Any]:
        """Click the button labelled ``label`` on a message the bot posted (or sent privately)."""
        button = next(b for row in message.get("components") or [] for b in row["components"]
                      if b.get("label") == label)
        payload = component(button["custom_id"], message=message, **context)
        inject(self.bot, payload, fake=self.discord)
        return payload

    async def finished(self, payload: dict[str, Any], kind: str) -> str:
        """After a command that starts a task: the private "On it" answer arrived; returns the provider task id."""
        reply = await self.reply_to(payload)
        assert "On it" in (reply.get("content") or ""), reply
        return self.kie.submissions_of(kind)[-1].task_id

    async def audio_id(self, message: dict[str, Any]) -> str:
        """The audio id of the track a track message shows (from its footer: "Task #3 · track 1 of 2")."""
        footer = message["embeds"][0]["footer"]["text"]
        task = await self.bot.store.get_task(int(footer.split("#")[1].split()[0]))
        assert task is not None
        return task.tracks[int(footer.split("track ")[1].split()[0]) - 1].audio_id


@pytest.fixture
async def harness(make_bot: BotFactory, discord_fake: FakeDiscord, kie: FakeKie, clock: Clock) -> Harness:
    return Harness(await make_bot(), discord_fake, kie, clock)


@pytest.fixture
async def strict(make_bot: BotFactory, discord_fake: FakeDiscord, kie: FakeKie, clock: Clock) -> Harness:
    """A server with the product's default credits and limits (100 per week, 2 running per member, 10 per
    server)."""
    return Harness(await make_bot(generous=False), discord_fake, kie, clock)
