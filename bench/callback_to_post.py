"""Benchmark: time from the provider's "complete" callback to the tracks posted in the channel.

Runs the real bot against the loopback fakes of Discord and kie.ai used by the tests (no network), and
measures, per song:
  ack   — the callback's HTTP answer to the provider (kie allows 15 s),
  post  — the callback sent → both track messages received by Discord (downloads + uploads included).
Also reports the process's peak RSS (bot and fakes together; the fake Discord's copies of uploads
are dropped after each song). Usage: python -m bench.callback_to_post [songs] [audio_kib]
"""

from __future__ import annotations

import asyncio
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bot import create_bot
from bot.settings import Settings
from tests.conftest import free_port
from tests.support.discord_fake import DEFAULT_CHANNEL_ID, DEFAULT_GUILD_ID, FakeDiscord, followup_for
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


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return f"median {statistics.median(ordered) * 1000:7.1f} ms   p95 {p95 * 1000:7.1f} ms   max {ordered[-1] * 1000:7.1f} ms"


def main() -> None:
    songs = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    audio_kib = int(sys.argv[2]) if len(sys.argv) > 2 else 4096
    timings = asyncio.run(run(songs, audio_kib))
    print(f"{songs} songs, 2 tracks of {audio_kib} KiB each")
    print(f"  callback answered: {summary(timings['ack'])}")
    print(f"  tracks posted:     {summary(timings['post'])}")
    print(f"  peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
