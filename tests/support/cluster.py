"""Real bot processes for scale-out tests and the scale benchmark: ``python -m bot`` in child processes that
share one PostgreSQL, each running some of the shards of one fake Discord (REST and gateway), all talking to
one fake provider, whose callbacks reach them through a small load balancer (as behind nginx or a cloud
balancer: any live process may get any callback).

Only the launcher (``python -m tests.support.gateway_fake -m bot``) differs from production: it points
discord.py's REST base and gateway at the fakes before the bot starts.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import signal
import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from tests.support.discord_fake import FakeDiscord
from tests.support.gateway_fake import FakeGateway
from tests.support.kie_fake import FakeKie
from tests.support.loopback import free_port

ROOT = Path(__file__).resolve().parents[2]
READY = "Suno provider"  # the last line a bot process logs while setting up
TRACK_FOOTER = re.compile(r"Task #(\d+) · track (\d+) of (\d+)")  # a track message's embed footer


class LoadBalancer:
    """Forwards every request to one of the live backends, round robin; a backend that refuses the connection
    (a killed process) is skipped. What the provider's callbacks go through."""

    def __init__(self) -> None:
        self.backends: list[str] = []  # base URLs
        self._turn = itertools.count()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}"
        self._session = aiohttp.ClientSession()

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        body = await request.read()
        start = next(self._turn)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        for offset in range(len(self.backends)):
            backend = self.backends[(start + offset) % len(self.backends)]
            try:
                async with self._session.request(request.method, backend + request.path_qs, data=body,
                                                 headers=headers) as upstream:
                    data = await upstream.read()
                    return web.Response(body=data, status=upstream.status,
                                        content_type=upstream.content_type)
            except aiohttp.ClientConnectionError:
                continue
        return web.Response(status=502, text="no live backend")


class BotProcess:
    """``python -m bot`` in a child process, its log in a file."""

    def __init__(self, name: str, env: Mapping[str, str], log_dir: Path) -> None:
        self.name = name
        self.env = dict(env)
        self.port = int(env["WEB_PORT"])
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"{name}.log"
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0

    async def start(self) -> None:
        self.starts += 1
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child writes to it until it exits
        try:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tests.support.gateway_fake", "-m", "bot",
                cwd=ROOT, env=self.env, stdout=log, stderr=log, stdin=asyncio.subprocess.DEVNULL)
        finally:
            log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def wait_for_log(self, text: str, timeout: float = 30.0, *, count: int = 1) -> None:
        async with asyncio.timeout(timeout):
            while self.log().count(text) < count:
                if self.process is not None and self.process.returncode is not None:
                    raise AssertionError(f"{self.name} exited ({self.process.returncode}):\n{self.log()[-3000:]}")
                await asyncio.sleep(0.05)

    def kill(self) -> None:
        """kill -9: no cleanup of any kind."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)

    async def wait(self) -> int:
        assert self.process is not None
        return await self.process.wait()

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(20):
                await self.process.wait()
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


class Cluster:
    """A fake Discord with ``shard_count`` shards, a fake kie.ai, a load balancer, and bot processes on one
    PostgreSQL database (see :meth:`add`)."""

    def __init__(self, dsn: str, log_dir: Path, *, shard_count: int = 2, rate: tuple[int, float] = (20, 10.0),
                 guilds: list[int] | None = None) -> None:
        self.dsn = dsn
        self.log_dir = log_dir
        self.shard_count = shard_count
        self.rate = rate
        self.discord = FakeDiscord()
        self.kie = FakeKie()
        self.balancer = LoadBalancer()
        self.guild_ids = guilds or []
        self.gateway: FakeGateway | None = None
        self.bots: list[BotProcess] = []

    async def __aenter__(self) -> Cluster:
        await self.discord.start()
        await self.kie.start()
        await self.balancer.start()
        self.gateway = FakeGateway(self.discord, shard_count=self.shard_count, guilds=self.guild_ids,
                                   heartbeat_interval=5_000)
        self.kie.submit_rate_limit = self.rate
        self.kie.auto_callbacks = True
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.gather(*(bot.stop() for bot in self.bots), return_exceptions=True)
        await self.balancer.stop()
        await self.kie.stop()
        await self.discord.stop()

    def add(self, name: str, shard_ids: str) -> BotProcess:
        assert self.gateway is not None
        port = free_port()
        env = {
            key: value for key, value in os.environ.items()
            if not key.startswith(("SUNO_", "DISCORD_", "DATABASE_", "SHARD_", "PUBLIC_", "WEB_", "FETCH_"))
        }
        env.update(self.gateway.child_env())
        env.update({
            "DISCORD_TOKEN": "fake-token",
            "SUNO_PROVIDER": "kie",
            "SUNO_API_KEY": self.kie.api_key,
            "SUNO_API_BASE_URL": self.kie.base_url,
            "SUNO_SUBMIT_RATE": f"{self.rate[0]}/{self.rate[1]:g}",
            "SUNO_POLL_INTERVAL": "5",  # the fallback polls, and how often due work is looked for
            "PUBLIC_BASE_URL": self.balancer.url,
            "WEB_HOST": "127.0.0.1",
            "WEB_PORT": str(port),
            "DATABASE_URL": self.dsn,
            "DATABASE_PATH": str(self.log_dir / f"{name}.db"),
            "SHARD_COUNT": str(self.shard_count),
            "SHARD_IDS": shard_ids,
            "FETCH_ALLOW_HOSTS": ",".join({urlsplit(self.kie.base_url).netloc,
                                           urlsplit(self.discord.origin).netloc}),
            "PYTHONUNBUFFERED": "1",
        })
        bot = BotProcess(name, env, self.log_dir)
        self.bots.append(bot)
        self.balancer.backends.append(bot.url)
        return bot

    async def launch(self, bot: BotProcess, attempts: int = 3) -> None:
        """Start ``bot`` and wait until it is set up (its web server listening, its provider logged). Its web
        port was picked before the child binds it: when something took it meanwhile, start it on another."""
        for attempt in range(1, attempts + 1):
            seen = bot.log()
            await bot.start()
            try:
                await bot.wait_for_log(READY, timeout=60, count=seen.count(READY) + 1)
                return
            except AssertionError:
                if attempt == attempts or "address already in use" not in bot.log()[len(seen):]:
                    raise
            port = free_port()
            self.balancer.backends[self.balancer.backends.index(bot.url)] = f"http://127.0.0.1:{port}"
            bot.env["WEB_PORT"], bot.port, bot.url = str(port), port, f"http://127.0.0.1:{port}"

    def posted(self, channels: Iterable[int]) -> Counter[tuple[int, int]]:
        """Every track message in these channels: (task id, track number) → how many times it was posted."""
        found: Counter[tuple[int, int]] = Counter()
        for channel in channels:
            for message in self.discord.channel_messages(channel):
                for embed in message.get("embeds") or []:
                    match = TRACK_FOOTER.search((embed.get("footer") or {}).get("text", ""))
                    if match:
                        found[(int(match[1]), int(match[2]))] += 1
        return found

    def rate_refusals(self) -> int:
        """Submissions kie.ai refused for its rate (HTTP 200 with code 429 on a submit path)."""
        return sum(1 for call in self.kie.api_calls
                   if call.code == 429 and "record-info" not in call.path_qs and call.method == "POST")
