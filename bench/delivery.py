"""Benchmark: 100 songs completing at once, two 8 MiB tracks each, delivered into one Discord channel.

Method.
* Processes: the bot runs in this process, alone; the fake kie.ai and the fake Discord run in a child
  (bench/fakes.py), so the peak RSS read here (VmHWM) is the bot's own. The fake Discord's copies of the
  uploads are dropped as soon as it has answered, and the fake kie.ai serves one shared 8 MiB blob per track
  position, so the child stays small too.
* Set-up (not measured): 100 songs started the way /generate starts them (``bot.songs.submit``: admission,
  status message, submit), all from one member in the fake's default server and channel; the provider's
  submission limiter is lifted while they start.
* Burst (``delivery_*``): the fake kie.ai sends the 100 ``complete`` callbacks at once (``FakeKie.advance``,
  concurrently). The bot downloads each song's two tracks (8 MiB, ``FakeKie.audio_size``) and covers and
  posts one message per track to the fake Discord, replying to the status message. Measured:
  ``delivery_total_s``, from the first callback sent to the last track message created (the fake's clock,
  from the message's snowflake); ``delivery_peak_rss_mb``, the bot process's peak RSS (target <= 200 MiB;
  ``delivery_rss_before_mb`` is where it was before the burst); ``delivery_messages`` and
  ``delivery_missing_messages`` (of the 200 expected); ``delivery_uploaded_mib`` what the fake Discord
  received (so tracks posted as links instead of uploads would show).
* Raw transfer (``delivery_raw_s``): after the peak was read, the same 200 transfers done by a bare aiohttp
  client in this process: download the track and its cover from the fake kie.ai into memory, then one
  multipart POST of both to the fake Discord's channel-messages endpoint, ``--raw-concurrency`` (4) at a
  time (more gains nothing on 2 cores). ``delivery_overhead_ms_per_message`` = (total - raw) / messages
  (target <= 100 ms).
* Rate limit (``delivery_limited_*``, ``delivery_discord_429``): 100 more songs, with small tracks
  (20 KiB), complete at once while the fake Discord enforces a per-channel limit on message posts and
  announces it in X-RateLimit-* headers as Discord does (``--channel-limit``, default 5 per 0.25 s: Discord's
  5-message bucket, its 5 s window shortened 20x to keep the run short; discord.py paces itself from the
  same headers either way). ``delivery_discord_429`` counts the 429 answers (target 0);
  ``delivery_limited_total_s`` is the time to the last message (the limit alone needs >= 200 / 20 per s =
  10 s). For scale: with 4 deliveries at once and no per-channel turn (commit 1606986) this phase saw ~160
  429s at 5 per 0.25 s and at 5 per 0.5 s alike.

Reproduce: ``python -m bench.delivery [--songs 100] [--track-mib 8] [--raw-concurrency 4]
[--channel-limit 5/0.25]`` (``--channel-limit 0`` skips the rate-limited burst).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from typing import Any

import aiohttp

from bench.common import (
    FakesProcess,
    Figures,
    MiB,
    cli,
    peak_rss_mb,
    progress,
    quiet_bot_logs,
    rss_mb,
    start_bot,
    submit_songs,
)

RAW_CHANNEL_ID = 1_310_000_000_000_000_201  # raw uploads go to another channel than the bot's results


async def burst(bot: Any, fakes: FakesProcess, tasks: list[Any], channel_id: int) -> tuple[float, int, int]:
    """Send every task's ``complete`` callback at once; wait until all are delivered. Returns (seconds from
    the first callback to the last message, messages created since, tasks delivered)."""
    answer = await fakes.post("/kie/advance", {"task_ids": [t.provider_task_id for t in tasks], "stage": "complete"})
    if set(answer["statuses"]) != {"200"}:
        raise RuntimeError(f"callbacks answered {answer['statuses']}")
    await bot.tracker.idle()
    deadline = time.perf_counter() + 60
    while True:  # idle() returns once the spawned deliveries are done; make sure each was marked delivered
        delivered = [await bot.store.get_task(t.id) for t in tasks]
        if all(t is not None and t.delivered_at is not None for t in delivered) or time.perf_counter() > deadline:
            break
        await asyncio.sleep(0.1)
        await bot.tracker.idle()
    stats = await fakes.get("/discord/stats", channel=channel_id, since=answer["started"])
    last = stats["last_message_at"]
    total = (last - answer["started"]) if last is not None else float("nan")
    done = sum(1 for t in delivered if t is not None and t.delivered_at is not None)
    return total, stats["messages"], done


async def raw_transfer(bot: Any, fakes: FakesProcess, tasks: list[Any], concurrency: int) -> float:
    """Seconds for a bare aiohttp client to move the same bytes: per track, download audio and cover into
    memory, then one multipart POST of both to the fake Discord."""
    stored = [await bot.store.get_task(t.id) for t in tasks]
    jobs = [(track.audio_url, track.image_url) for task in stored if task is not None for track in task.tracks]
    slots = asyncio.Semaphore(concurrency)
    url = f"{fakes.discord_api}/channels/{RAW_CHANNEL_ID}/messages"
    headers = {"Authorization": "Bot bench"}

    async def one(session: aiohttp.ClientSession, audio_url: str, image_url: str) -> None:
        async with slots:
            async with session.get(audio_url) as response:
                audio = await response.read()
            async with session.get(image_url) as response:
                image = await response.read()
            form = aiohttp.FormData()
            form.add_field("payload_json", json.dumps({"content": "raw", "attachments": [
                {"id": 0, "filename": "track.mp3"}, {"id": 1, "filename": "cover.jpeg"}]}),
                content_type="application/json")
            form.add_field("files[0]", audio, filename="track.mp3", content_type="audio/mpeg")
            form.add_field("files[1]", image, filename="cover.jpeg", content_type="image/jpeg")
            async with session.post(url, data=form, headers=headers) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"raw upload answered {response.status}")

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as session:
        started = time.perf_counter()
        await asyncio.gather(*(one(session, audio, image) for audio, image in jobs))
        return time.perf_counter() - started


async def run(args: argparse.Namespace) -> Figures:
    from tests.support.discord_fake import DEFAULT_CHANNEL_ID
    from tests.support.interactions import discord_api

    quiet_bot_logs()
    figures: Figures = {}
    expected = 2 * args.songs
    async with FakesProcess() as fakes:
        await fakes.post("/kie/set", {"auto_callbacks": False, "audio_size": int(args.track_mib * MiB),
                                      "submit_rate_limit": None, "poll_rate_limit": None})
        with tempfile.TemporaryDirectory() as folder, discord_api(fakes.discord_api):
            bot = await start_bot(folder, kie_url=fakes.kie_url, kie_key=fakes.kie_key)
            try:
                progress(f"delivery: starting {args.songs} songs with 2 x {args.track_mib:g} MiB tracks")
                tasks = await submit_songs(bot, args.songs)
                await fakes.post("/kie/share-audio")
                figures["delivery_rss_before_mb"] = rss_mb()
                progress("delivery: burst of complete callbacks")
                total, messages, delivered = await burst(bot, fakes, tasks, DEFAULT_CHANNEL_ID)
                figures["delivery_peak_rss_mb"] = peak_rss_mb()
                figures["delivery_total_s"] = total
                figures["delivery_messages"] = messages
                figures["delivery_missing_messages"] = expected - messages
                figures["delivery_tasks_delivered"] = delivered
                figures["delivery_uploaded_mib"] = (await fakes.get("/discord/stats"))["uploaded_bytes"] / MiB
                progress(f"delivery: raw transfer of the same bytes, {args.raw_concurrency} at a time")
                raw = await raw_transfer(bot, fakes, tasks, args.raw_concurrency)
                figures["delivery_raw_s"] = raw
                figures["delivery_overhead_ms_per_message"] = (total - raw) / expected * 1000

                if args.channel_limit != "0":
                    limit, per = args.channel_limit.split("/")
                    await fakes.post("/kie/set", {"audio_size": 20 * 1024})
                    progress(f"delivery: {args.songs} songs with small tracks, channel limit {limit} per {per} s")
                    limited = await submit_songs(bot, args.songs, prompt="a rate-limited ballad")
                    before = (await fakes.get("/discord/stats"))["status_429"]
                    await fakes.post("/discord/set", {"channel_rate_limit": [int(limit), float(per)]})
                    total, messages, _ = await burst(bot, fakes, limited, DEFAULT_CHANNEL_ID)
                    await fakes.post("/discord/set", {"channel_rate_limit": None})
                    figures["delivery_channel_limit"] = f"{limit}/{per}s"
                    figures["delivery_limited_total_s"] = total
                    figures["delivery_limited_missing_messages"] = expected - messages
                    figures["delivery_discord_429"] = (await fakes.get("/discord/stats"))["status_429"] - before
            finally:
                await bot.close()
    return figures


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--songs", type=int, default=100, help="songs completing at once (2 tracks each)")
    parser.add_argument("--track-mib", type=float, default=8.0, help="size of each track (MiB)")
    parser.add_argument("--raw-concurrency", type=int, default=4, help="transfers at once in the raw baseline")
    parser.add_argument("--channel-limit", default="5/0.25",
                        help="messages/seconds per channel in the rate-limited burst (0: skip it)")


if __name__ == "__main__":
    cli("delivery", run, arguments)
