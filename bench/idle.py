"""Benchmark: the bot's resident memory once it is up and idle.

Method. In a fresh process (this one: the runner starts every benchmark in its own), the fake Discord and
the fake kie.ai run in a child process (bench/fakes.py) so that they are not counted. This process starts
the real bot as ``python -m bot`` would, minus the gateway: ``create_bot(Settings(...))`` then
``await bot.login(...)``, which runs ``setup_hook`` (SQLite store and migrations, the web server, the
provider client, all ten cogs, the persistent buttons, the tracker, command sync against the fake Discord).
It then idles for a moment, collects garbage, and reads VmRSS from /proc/self/status.

Figures: ``idle_rss_mb`` (kie provider, target <= 80 MiB), ``idle_peak_rss_mb`` (the high-water mark while
starting), and ``idle_rss_sandbox_mb``: the same with the built-in sandbox provider (it synthesizes audio,
covers and video in-process), measured in a second fresh process (``--provider sandbox``).

Reproduce: ``python -m bench.idle`` (or ``--json``; ``--provider sandbox`` for the sandbox alone).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import (
    FakesProcess,
    Figures,
    cli,
    peak_rss_mb,
    quiet_bot_logs,
    rss_mb,
    start_bot,
)

SETTLE_SECONDS = 1.0


async def measure(provider: str) -> tuple[float, float]:
    from tests.support.interactions import discord_api

    quiet_bot_logs()
    async with FakesProcess() as fakes:
        with tempfile.TemporaryDirectory() as folder, discord_api(fakes.discord_api):
            overrides = {} if provider == "kie" else {"provider": "sandbox", "api_key": None, "api_base_url": None,
                                                      "public_base_url": None, "sandbox_stage_seconds": 3.0}
            bot = await start_bot(folder, kie_url=fakes.kie_url, kie_key=fakes.kie_key, generous=False, **overrides)
            try:
                await asyncio.sleep(SETTLE_SECONDS)
                gc.collect()
                await asyncio.sleep(0.1)
                return rss_mb(), peak_rss_mb()
            finally:
                await bot.close()


async def run(args: argparse.Namespace) -> Figures:
    if args.provider != "both":
        rss, peak = await measure(args.provider)
        return {f"idle_rss_{args.provider}_mb": rss, f"idle_peak_rss_{args.provider}_mb": peak}
    rss, peak = await measure("kie")
    sandbox = subprocess.run(
        [sys.executable, "-m", "bench.idle", "--json", "--provider", "sandbox"], capture_output=True, text=True,
        check=True, cwd=Path(__file__).resolve().parent.parent,
    )
    sandbox_rss = json.loads(sandbox.stdout.strip().splitlines()[-1])["idle_rss_sandbox_mb"]
    return {"idle_rss_mb": rss, "idle_peak_rss_mb": peak, "idle_rss_sandbox_mb": sandbox_rss}


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--provider", choices=("both", "kie", "sandbox"), default="both",
                        help="kie (the fake kie.ai), sandbox (built in), or both, each in a fresh process")


if __name__ == "__main__":
    cli("idle", run, arguments)
