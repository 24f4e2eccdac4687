"""What the benchmarks share: the command line (``--json``), the table, percentiles, RSS, the fakes'
process, and starting the real bot against them.

Memory is reported in MiB (2^20 bytes) under ``_mb`` names; latency in milliseconds (``_ms``).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import math
import resource
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bench.registry import BENCHMARKS, format_value, target_for
from tests.support.loopback import free_port

MiB = 1024 * 1024
Figures = dict[str, Any]


# ----- numbers ------------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation between the nearest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def rss_mb() -> float:
    """This process's resident set now (VmRSS)."""
    return _status_kib("VmRSS") / 1024


def peak_rss_mb() -> float:
    """This process's peak resident set so far (VmHWM; the same as ru_maxrss, without its lag)."""
    return max(_status_kib("VmHWM") / 1024, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _status_kib(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return float(line.split()[1])
    raise LookupError(field)


def rounded(figures: Figures) -> Figures:
    """Floats rounded for printing and JSON (3 decimals under 10, 2 under 1000, else 1)."""
    out: Figures = {}
    for name, value in figures.items():
        if isinstance(value, float) and math.isfinite(value):
            value = round(value, 3 if abs(value) < 10 else 2 if abs(value) < 1000 else 1)
        out[name] = value
    return out


# ----- the command line and the table -------------------------------------------------------------------------


def print_table(figures: Figures, out: Any = None) -> None:
    """figure | value | target | ok."""
    out = out or sys.stdout
    rows = [("figure", "value", "target", "ok")]
    for name, value in figures.items():
        target = target_for(name)
        ok = "" if target is None or not isinstance(value, (int, float)) else ("yes" if target.met(value) else "NO")
        rows.append((name, format_value(value), str(target) if target else "", ok))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for n, row in enumerate(rows):
        print(" | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip(), file=out)
        if n == 0:
            print("-+-".join("-" * w for w in widths), file=out)


def cli(
    name: str,
    run: Callable[[argparse.Namespace], Awaitable[Figures]],
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
) -> None:
    """``python -m bench.<name> [--json] [options]``: run one benchmark, print its table or one JSON object."""
    spec = BENCHMARKS[name]
    parser = argparse.ArgumentParser(prog=f"python -m bench.{name}", description=spec.title)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.add_argument("-v", "--verbose", action="store_true", help="show the bot's log (warnings and up)")
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING if args.verbose else logging.CRITICAL,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    figures = rounded(asyncio.run(run(args)))
    if args.json:
        print(json.dumps(figures))
    else:
        print_table(figures)


_STARTED = time.perf_counter()


def progress(message: str) -> None:
    """A line on stderr (with the seconds since this process started), so the runner's output stays one table
    (or one JSON object) on stdout."""
    print(f"  [{time.perf_counter() - _STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


# ----- the fakes in their own process --------------------------------------------------------------------------


class FakesProcess:
    """FakeKie and FakeDiscord in a child process (bench/fakes.py), with its control API."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None
        self._session: aiohttp.ClientSession | None = None
        self.info: dict[str, str] = {}

    async def __aenter__(self) -> FakesProcess:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.fakes"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            cwd=_project_root(),
        )
        assert self._process.stdout is not None
        line = await asyncio.get_running_loop().run_in_executor(None, self._process.stdout.readline)
        if not line:
            raise RuntimeError("bench.fakes did not start")
        self.info = json.loads(line)
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
        if self._process is not None:
            assert self._process.stdin is not None
            self._process.stdin.close()  # the child stops when its stdin closes
            try:
                await asyncio.get_running_loop().run_in_executor(None, self._process.wait, 10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    @property
    def kie_url(self) -> str:
        return self.info["kie"]

    @property
    def kie_key(self) -> str:
        return self.info["kie_key"]

    @property
    def discord_api(self) -> str:
        return self.info["discord"]

    async def post(self, path: str, payload: Any = None) -> Any:
        assert self._session is not None
        async with self._session.post(self.info["control"] + path, json=payload or {}) as response:
            if response.status != 200:
                raise RuntimeError(f"bench.fakes {path}: {response.status} {await response.text()}")
            return await response.json()

    async def get(self, path: str, **query: Any) -> Any:
        assert self._session is not None
        params = {key: str(value) for key, value in query.items()}
        async with self._session.get(self.info["control"] + path, params=params) as response:
            response.raise_for_status()
            return await response.json()


def _project_root() -> str:
    return str(Path(__file__).resolve().parent.parent)


# ----- the real bot ---------------------------------------------------------------------------------------------


async def start_bot(folder: str | Path, *, kie_url: str, kie_key: str, generous: bool = True, **overrides: Any) -> Any:
    """The real bot (``create_bot`` + ``login``, i.e. ``setup_hook``: store, web server, provider, cogs) on the
    kie provider pointed at ``kie_url``, with callbacks to its own loopback port. Point discord.py at the
    fake Discord first (``tests.support.interactions.discord_api``)."""
    from bot import create_bot
    from bot.settings import Settings
    from tests.support.discord_fake import DEFAULT_GUILD_ID

    port = free_port()
    settings = Settings(
        discord_token="bench", provider="kie", api_key=kie_key, api_base_url=kie_url,
        public_base_url=f"http://127.0.0.1:{port}", web_host="127.0.0.1", web_port=port,
        database_path=Path(folder) / "bot.db", poll_interval=3600.0,
        fetch_allow_hosts=frozenset({urlsplit(kie_url).netloc}),  # the fake serves its files on loopback
    )
    bot = create_bot(replace(settings, **overrides))
    await bot.login("bench")
    if generous:  # credits and running room for every task of the run
        await bot.store.set_policy(DEFAULT_GUILD_ID, allowance=1_000_000, member_running=100_000,
                                   guild_running=100_000)
    return bot


async def submit_songs(
    bot: Any, count: int, *, parallel: int = 20, prompt: str = "a benchmark ballad", spread_guilds: bool = False
) -> list[Any]:
    """``count`` songs started the way /generate starts them (``bot.songs.submit``: admission, status message,
    submit to the provider, tracking), ``parallel`` at a time, all in the fake Discord's default channel.
    ``spread_guilds``: each from a server of its own (with the default credit policy), else all from the
    default server. The provider's 20-per-10 s submission limiter is lifted while they start (set-up, not
    what is measured) and put back afterwards. Returns the stored tasks (with their provider task ids and
    callback tokens)."""
    from bot.models import MusicRequest
    from bot.providers.ratelimit import SlidingWindow
    from bot.songs import Origin
    from tests.support.discord_fake import (
        DEFAULT_CHANNEL_ID,
        DEFAULT_GUILD_ID,
        DEFAULT_USER_ID,
    )

    def origin(n: int) -> Origin:
        guild_id = DEFAULT_GUILD_ID + 1 + _next_guild() if spread_guilds else DEFAULT_GUILD_ID
        return Origin(guild_id=guild_id, channel_id=DEFAULT_CHANNEL_ID, user_id=DEFAULT_USER_ID,
                      upload_limit=10 * MiB)

    limiter = bot.dispatcher.limiter
    bot.dispatcher.limiter = SlidingWindow(10**9, 10.0)
    tasks: list[Any] = []
    try:
        for start in range(0, count, parallel):
            batch = range(start, min(count, start + parallel))
            started = await asyncio.gather(*(bot.songs.submit(MusicRequest(prompt=f"{prompt} {n}"), origin(n))
                                             for n in batch))
            tasks.extend(s.task for s in started)
        deadline = time.monotonic() + 60
        while any(task.provider_task_id is None for task in tasks):  # one that waited a moment in the queue
            if time.monotonic() > deadline:
                raise RuntimeError("songs not sent to the provider within 60 s")
            bot.dispatcher.wake()
            await asyncio.sleep(0.05)
            tasks = [await bot.store.get_task(task.id) for task in tasks]
    finally:
        bot.dispatcher.limiter = limiter
    await bot.tracker.idle()  # the "queued" status edits
    return tasks


_guilds = itertools.count()


def _next_guild() -> int:
    return next(_guilds)


def quiet_bot_logs() -> None:
    """discord.py's warnings (missing intents and the like) are noise here, even with ``--verbose``."""
    logging.getLogger("discord").setLevel(logging.ERROR)
