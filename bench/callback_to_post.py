"""Benchmark: time from the provider's "complete" callback to the tracks posted in the channel.

Runs the real bot against the loopback fakes of Discord and kie.ai used by the tests (no network), and
measures, per song:
  ack   — the callback's HTTP answer to the provider (kie allows 15 s),
  post  — the callback sent → both track messages received by Discord (downloads + uploads included).
Also reports the process's peak RSS (bot and fakes together; the fake Discord's copies of uploads
are dropped after each song; bench.delivery measures the bot alone).
Usage: python -m bench.callback_to_post [songs] [audio_kib] [--json]   (defaults: 30 songs, 4096 KiB)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from bench.common import Figures, cli, peak_rss_mb, percentile, quiet_bot_logs
from bot import create_bot
from bot.settings import Settings
from tests.conftest import free_port
from tests.support.discord_fake import (
    DEFAULT_CHANNEL_ID,
    DEFAULT_GUILD_ID,
    FakeDiscord,
    followup_for,
)
from tests.support.interactions import discord_api, inject, slash_command
from tests.support.kie_fake import FakeKie


async def run(songs: int, audio_kib: int) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {"ack": [], "post": []}
    with tempfile.TemporaryDirectory() as folder:
        async with FakeDiscord() as discord, FakeKie() as kie:
            kie.auto_callbacks = False
            kie.audio_size = audio_kib * 1024
            kie.poll_rate_limit = None
            with discord_api(discord.api_base):
                port = free_port()
                bot = create_bot(Settings(
                    discord_token="bench", provider="kie", api_key=kie.api_key, api_base_url=kie.base_url,
                    public_base_url=f"http://127.0.0.1:{port}", web_host="127.0.0.1", web_port=port,
                    database_path=Path(folder) / "bot.db", poll_interval=3600,
                    fetch_allow_hosts=frozenset({urlsplit(kie.base_url).netloc}),
                ))
                await bot.login("bench")
                # enough credits and running room for every song of the run
                await bot.store.set_policy(DEFAULT_GUILD_ID, allowance=1_000_000, member_running=1000,
                                           guild_running=1000)
                kie.submit_rate_limit = None
                try:
                    for _ in range(songs):
                        payload = slash_command("generate", {"prompt": "a benchmark ballad"})
                        inject(bot, payload, fake=discord)
                        await discord.wait_for(followup_for(payload["token"]))
                        task_id = kie.last_task_id
                        before = len(discord.channel_messages(DEFAULT_CHANNEL_ID))
                        started = time.perf_counter()
                        answer = await kie.advance(task_id, "complete")
                        timings["ack"].append(time.perf_counter() - started)
                        assert answer is not None and answer.status == 200
                        await discord.wait_for_message(
                            DEFAULT_CHANNEL_ID,
                            lambda m: len(discord.channel_messages(DEFAULT_CHANNEL_ID)) >= before + 2,
                            timeout=60,
                        )
                        timings["post"].append(time.perf_counter() - started)
                        await bot.tracker.idle()
                        forget_uploads(discord)
                finally:
                    await bot.close()
    return timings


def forget_uploads(discord: FakeDiscord) -> None:
    """Drop the bytes the fake Discord kept, so the peak RSS reflects the bot rather than the fake."""
    discord.attachment_data.clear()
    for call in discord.calls:
        call.files.clear()


async def measure(args: argparse.Namespace) -> Figures:
    quiet_bot_logs()
    timings = await run(args.songs, args.audio_kib)
    ack = [t * 1000 for t in timings["ack"]]
    post = [t * 1000 for t in timings["post"]]
    return {
        "complete_songs": args.songs,
        "complete_track_kib": args.audio_kib,
        "complete_ack_p50_ms": percentile(ack, 50),
        "complete_ack_p95_ms": percentile(ack, 95),
        "complete_to_post_p50_ms": percentile(post, 50),
        "complete_to_post_p95_ms": percentile(post, 95),
        "complete_to_post_max_ms": max(post),
        "complete_process_peak_rss_mb": peak_rss_mb(),
    }


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("songs", type=int, nargs="?", default=30, help="songs, one after the other")
    parser.add_argument("audio_kib", type=int, nargs="?", default=4096, help="size of each track (KiB)")


if __name__ == "__main__":
    cli("callback_to_post", measure, arguments)
