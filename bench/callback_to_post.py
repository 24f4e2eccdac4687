"""Benchmark: time from the provider's "complete" callback to the tracks posted in the channel.

Runs the real bot (``start_bot``) against the loopback fakes of Discord and kie.ai used by the tests, in this
process (no network).
* Set-up (not measured): ``songs`` /generate (the real command, ``inject`` of a slash-command interaction),
  one after the other. The bot's submission rate (SUNO_SUBMIT_RATE, 20 per 10 s by default) is raised to
  ``songs`` per window for this run and the fake kie.ai's own limit is off, so no song waits in the submission
  queue; the benchmark then waits until every song was accepted by the fake kie.ai (each task has its provider
  task id) and the bot's background work is done, before any "complete" callback is sent. The queue is
  measured by bench.economy and bench.rush, not here.
* Measured, per song, one song at a time (each timed from its own callback):
  ack   — the "complete" callback's HTTP answer to the provider (kie allows 15 s),
  post  — the callback sent → both of that song's track messages (footer "Task #<id> · track …") received
          by Discord (downloads + uploads included).
Also reports the process's peak RSS (bot and fakes together; the fake Discord's copies of uploads
are dropped after each song; bench.delivery measures the bot alone).
Usage: python -m bench.callback_to_post [songs] [audio_kib] [--json]   (defaults: 30 songs, 4096 KiB)
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from typing import Any

from bench.common import (
    Figures,
    cli,
    peak_rss_mb,
    percentile,
    progress,
    quiet_bot_logs,
    start_bot,
)
from tests.support.discord_fake import (
    DEFAULT_CHANNEL_ID,
    DEFAULT_GUILD_ID,
    DEFAULT_USER_ID,
    FakeDiscord,
    followup_for,
)
from tests.support.interactions import discord_api, inject, slash_command
from tests.support.kie_fake import FakeKie

SUBMIT_WINDOW = 10.0  # the bot's default window (SUNO_SUBMIT_RATE 20/10): only its count is raised
TRACKS = 2  # kie makes two tracks per song
SETUP_TIMEOUT = 60.0
POST_TIMEOUT = 60.0


async def run(songs: int, audio_kib: int) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {"ack": [], "post": []}
    async with FakeDiscord() as discord, FakeKie() as kie:
        kie.auto_callbacks = False
        kie.audio_size = audio_kib * 1024
        kie.submit_rate_limit = None
        kie.poll_rate_limit = None
        with tempfile.TemporaryDirectory() as folder, discord_api(discord.api_base):
            bot = await start_bot(folder, kie_url=kie.base_url, kie_key=kie.api_key,
                                  submit_rate=(max(songs, 1), SUBMIT_WINDOW))
            try:
                progress(f"callback_to_post: {songs} /generate, each sent to the provider at once")
                tasks = await generate(bot, discord, kie, songs)
                progress(f"callback_to_post: {songs} complete callbacks, one song at a time, "
                         f"2 x {audio_kib} KiB tracks each")
                for task in tasks:
                    started = time.perf_counter()
                    answer = await kie.advance(task.provider_task_id, "complete")
                    timings["ack"].append(time.perf_counter() - started)
                    if answer is None or answer.status != 200:
                        raise RuntimeError(f"task {task.id}: the complete callback was answered "
                                           f"{None if answer is None else answer.status}")
                    await discord.wait_for_message(
                        DEFAULT_CHANNEL_ID, lambda _: len(track_messages(discord, task.id)) >= TRACKS,
                        timeout=POST_TIMEOUT,
                    )
                    timings["post"].append(time.perf_counter() - started)
                    await bot.tracker.idle()
                    forget_uploads(discord)
            finally:
                await bot.close()
    return timings


async def generate(bot: Any, discord: FakeDiscord, kie: FakeKie, songs: int) -> list[Any]:
    """``songs`` /generate, one after the other (each answered before the next); then wait until the provider
    has accepted every one and the bot's background work (status edits) is done. Returns the stored tasks,
    oldest first, each with its provider task id."""
    for n in range(songs):
        payload = slash_command("generate", {"prompt": f"a benchmark ballad {n}"})
        inject(bot, payload, fake=discord)
        await discord.wait_for(followup_for(payload["token"]), timeout=SETUP_TIMEOUT)
    deadline = time.perf_counter() + SETUP_TIMEOUT
    while True:
        tasks = sorted(await bot.store.recent_tasks(DEFAULT_GUILD_ID, DEFAULT_USER_ID, limit=songs + 1),
                       key=lambda t: t.id)
        accepted = {s.task_id for s in kie.submissions}
        if len(tasks) == songs and all(t.provider_task_id in accepted for t in tasks):
            break
        if time.perf_counter() > deadline:
            states = sorted(str(t.state) for t in tasks)
            raise RuntimeError(f"after {SETUP_TIMEOUT:g} s, {len(accepted)} of {songs} songs were accepted by the "
                               f"provider ({len(tasks)} tasks stored: {states})")
        await asyncio.sleep(0.05)
    await bot.tracker.idle()
    return tasks


def track_messages(discord: FakeDiscord, task_id: int) -> list[dict[str, Any]]:
    """The track messages of task ``task_id`` in the default channel (footer "Task #<id> · track n of m")."""
    prefix = f"Task #{task_id} \u00b7 track "
    return [m for m in discord.channel_messages(DEFAULT_CHANNEL_ID)
            if any(str((embed.get("footer") or {}).get("text", "")).startswith(prefix)
                   for embed in m.get("embeds") or [])]


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
    parser.add_argument("songs", type=int, nargs="?", default=30, help="songs, completed one after the other")
    parser.add_argument("audio_kib", type=int, nargs="?", default=4096, help="size of each track (KiB)")


if __name__ == "__main__":
    cli("callback_to_post", measure, arguments)
