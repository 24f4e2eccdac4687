"""Benchmark: members opening the bot's kept songs through signed links, many at once.

Method. The real bot runs in this process against the fakes (bench/fakes.py, a child process), with its
media store in a temporary folder. Set-up (not measured): ``--files`` files of ``--file-mib`` MiB each are
kept through the media store's own streaming writer (``MediaStore.keep``), and a signed link to each is made
as members get them (``Links.kept``). Measured: a child process (so its buffers are not counted here) opens
every link at once, ``--rounds`` times over, reading each response to the end and discarding it, and reports
the bytes and the time of each download. Figures: ``media_serve_mib_per_s`` (all bytes / wall time of the
burst), ``media_download_p99_s`` (one whole file), ``media_serve_errors`` (responses that were not 200 with
the full file; target 0), and ``media_serve_peak_rss_mb`` / ``media_serve_rss_before_mb``: the bot's peak
resident memory while serving (aiohttp's FileResponse sends from the file, so it should not grow with the
bytes served). Plus ``media_keep_mib_per_s``: the rate of the set-up's writes into the store.

Reproduce: ``python -m bench.media_links [--files 50] [--file-mib 16] [--rounds 2]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time

from bench.common import (
    FakesProcess,
    Figures,
    MiB,
    cli,
    peak_rss_mb,
    percentile,
    progress,
    quiet_bot_logs,
    rss_mb,
    start_bot,
)
from bot.media import Owner

CLIENT = r"""
import asyncio, json, sys, time
import aiohttp

async def main(links, rounds, size):
    times, errors = [], 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        async def one(link):
            nonlocal errors
            started = time.perf_counter()
            got = 0
            async with http.get(link) as response:
                async for chunk in response.content.iter_chunked(256 * 1024):
                    got += len(chunk)
                if response.status != 200 or got != size:
                    errors += 1
            times.append(time.perf_counter() - started)
        started = time.perf_counter()
        for _ in range(rounds):
            await asyncio.gather(*(one(link) for link in links))
        wall = time.perf_counter() - started
    print(json.dumps({"times": times, "wall": wall, "errors": errors}))

links, rounds, size = json.loads(sys.stdin.read())
asyncio.run(main(links, rounds, size))
"""


async def _chunks(size: int, seed: int):  # noqa: ANN202 - an async generator of the file's bytes
    block = bytes([seed % 251]) * (256 * 1024)
    sent = 0
    while sent < size:
        piece = block[: min(len(block), size - sent)]
        sent += len(piece)
        yield piece


async def run(args: argparse.Namespace) -> Figures:
    from tests.support.interactions import discord_api

    quiet_bot_logs()
    size = args.file_mib * MiB
    async with FakesProcess() as fakes:
        with tempfile.TemporaryDirectory() as folder, discord_api(fakes.discord_api):
            bot = await start_bot(folder, kie_url=fakes.kie_url, kie_key=fakes.kie_key)
            try:
                progress(f"media: keeping {args.files} files of {args.file_mib} MiB")
                started = time.perf_counter()
                links = []
                for n in range(args.files):
                    kept = await bot.media.keep(Owner(1, n + 1, time.time()), "a1", f"Song_{n}.mp3", _chunks(size, n))
                    links.append(bot.links.kept(kept))
                keep_rate = args.files * args.file_mib / (time.perf_counter() - started)
                before = rss_mb()
                progress(f"media: {args.files} downloads at once, {args.rounds} rounds")
                client = await asyncio.create_subprocess_exec(
                    sys.executable, "-c", CLIENT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
                out, _ = await client.communicate(json.dumps([links, args.rounds, size]).encode())
                result = json.loads(out)
                peak = peak_rss_mb()
            finally:
                await bot.close()
    served = args.files * args.rounds * args.file_mib
    return {
        "media_keep_mib_per_s": keep_rate,
        "media_serve_mib_per_s": served / result["wall"],
        "media_download_p99_s": percentile(result["times"], 99),
        "media_serve_errors": result["errors"],
        "media_serve_rss_before_mb": before,
        "media_serve_peak_rss_mb": peak,
    }


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--files", type=int, default=50, help="files kept, each opened once per round")
    parser.add_argument("--file-mib", type=int, default=16, help="size of each file")
    parser.add_argument("--rounds", type=int, default=2, help="how many times every link is opened")


if __name__ == "__main__":
    cli("media_links", run, arguments)
