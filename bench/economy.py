"""Benchmark: what the bot costs the provider: status polls per task, and the submission rate.

Method. The real bot against the loopback fakes in this process (nothing here is about the bot's memory
or CPU), songs requested through the real /generate command (``inject`` of a slash-command interaction,
as the gateway would deliver it; the bot defers, posts the status message and submits). The fake kie.ai
runs each song by itself (``auto_callbacks``): text, first and complete, each ``--stage-delay`` (0.7 s)
after the previous one, so a song takes about 2.1 s on the provider's side. Its own submission limit is
off, so what it records is what the bot sent; it counts every status poll per task (``FakeKie.polls``)
and the time of every accepted submission (``kie.submissions[i].at``, on its clock).

1. Callbacks arrive: ``--burst`` (60) /generate at once, every callback reaching the bot, and
   SUNO_POLL_INTERVAL = ``--interval`` (0.5 s): time is scaled down (a 2.1 s song polled every 0.5 s is
   like a 2-minute song with the default 30 s fallback interval). ``economy_polls_per_task_with_callbacks``
   is the most status reads any task got (target <= 1: the one read that confirms a finished result, since
   a callback is only a wake-up; polls are only the fallback for lost callbacks; ``_mean`` the average). ``economy_max_submits_per_10s`` is the most submissions the provider saw in any 10 s window
   [t, t + 10 s) of its own clock (target <= 20, its documented limit); ``economy_burst_s`` the time from the
   burst to the last song delivered (at 20 per 10 s, 60 need >= 20 s).
2. Callbacks lost: ``--lost`` (20) /generate with another bot (fresh database) whose callback URL points at
   a closed port, so every callback the provider sends fails, and SUNO_POLL_INTERVAL = ``--interval``
   (0.5 s). Per task: polls, and the bound ``duration / interval + 1`` with duration the provider's own
   time from accepting the task to completing it. Reported: ``economy_polls_per_task_lost`` (mean and max),
   ``economy_poll_bound`` (mean) and ``economy_polls_over_bound``, the most any task went over its own bound
   (target <= 0).

``economy_undelivered`` counts songs of both phases that were not delivered (target 0).

Reproduce: ``python -m bench.economy [--burst 60] [--lost 20] [--interval 0.5] [--stage-delay 0.7]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from typing import Any

from bench.common import Figures, cli, free_port, progress, quiet_bot_logs, start_bot

WINDOW = 10.0


def max_in_window(times: list[float], window: float = WINDOW) -> int:
    """The most entries of ``times`` in any half-open window [t, t + window)."""
    ordered = sorted(times)
    best, low = 0, 0
    for high, at in enumerate(ordered):
        while at - ordered[low] >= window:
            low += 1
        best = max(best, high - low + 1)
    return best


async def generate_burst(bot: Any, discord: Any, kie: Any, count: int, timeout: float) -> tuple[float, int]:
    """``count`` /generate at once; wait until every song is finished and posted. Returns (seconds from the
    burst to the last song delivered, songs not delivered)."""
    from tests.support.interactions import inject, slash_command

    first_task = sum((await bot.store.count_by_state()).values())  # task ids count from 1 in a fresh store
    started = time.perf_counter()
    for n in range(count):
        inject(bot, slash_command("generate", {"prompt": f"an economical ballad {n}"}), fake=discord)
    deadline = started + timeout
    while time.perf_counter() < deadline:
        states = await bot.store.count_by_state()
        if states.get("succeeded", 0) + states.get("failed", 0) >= first_task + count:
            break
        await asyncio.sleep(0.1)
    await bot.tracker.idle()
    elapsed = time.perf_counter() - started
    undelivered = 0
    for task_id in range(first_task + 1, first_task + count + 1):
        task = await bot.store.get_task(task_id)
        if task is None or task.delivered_at is None or task.state.value != "succeeded":
            undelivered += 1
    return elapsed, undelivered


async def run(args: argparse.Namespace) -> Figures:
    from tests.support.discord_fake import FakeDiscord
    from tests.support.interactions import discord_api
    from tests.support.kie_fake import FakeKie

    quiet_bot_logs()
    figures: Figures = {}
    async with FakeDiscord() as discord, FakeKie() as kie:
        kie.auto_callbacks = True
        kie.stage_delay = args.stage_delay
        kie.submit_rate_limit = None  # record what the bot sends, never refuse it
        with discord_api(discord.api_base):
            # 1. callbacks arrive
            with tempfile.TemporaryDirectory() as folder:
                bot = await start_bot(folder, kie_url=kie.base_url, kie_key=kie.api_key,
                                      poll_interval=args.interval)
                try:
                    progress(f"economy: {args.burst} /generate at once, callbacks arriving")
                    elapsed, undelivered = await generate_burst(bot, discord, kie, args.burst, timeout=120)
                    await kie.drain()
                finally:
                    await bot.close()
            burst_ids = [s.task_id for s in kie.submissions]
            figures["economy_burst_songs"] = args.burst
            figures["economy_burst_s"] = elapsed
            burst_polls = [kie.polls.get(t, 0) for t in burst_ids]
            figures["economy_polls_per_task_with_callbacks"] = max(burst_polls, default=0)
            figures["economy_polls_per_task_with_callbacks_mean"] = (statistics.mean(burst_polls) if burst_polls
                                                                    else float("nan"))
            figures["economy_max_submits_per_10s"] = max_in_window([s.at for s in kie.submissions])

            # 2. callbacks lost
            with tempfile.TemporaryDirectory() as folder:
                dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there: every callback fails
                bot = await start_bot(folder, kie_url=kie.base_url, kie_key=kie.api_key, public_base_url=dead,
                                      poll_interval=args.interval)
                try:
                    progress(f"economy: {args.lost} /generate, callbacks lost, polling every {args.interval:g} s")
                    _, lost_undelivered = await generate_burst(bot, discord, kie, args.lost, timeout=120)
                    await kie.drain()
                finally:
                    await bot.close()
            lost_ids = [s.task_id for s in kie.submissions if s.task_id not in set(burst_ids)]
            failed_callbacks = sum(1 for task_id, _, status in kie.callback_results
                                   if task_id in set(lost_ids) and status != 0)
            if failed_callbacks:
                raise RuntimeError(f"{failed_callbacks} callbacks reached the bot in the lost-callback phase")
            polls = [kie.polls.get(t, 0) for t in lost_ids]
            bounds = []
            for task_id in lost_ids:
                task = kie.task(task_id)
                duration = (task.completed_at or time.time()) - task.created_at
                bounds.append(duration / args.interval + 1)
            figures["economy_poll_interval_s"] = args.interval
            figures["economy_polls_per_task_lost_mean"] = statistics.mean(polls) if polls else float("nan")
            figures["economy_polls_per_task_lost_max"] = max(polls, default=0)
            figures["economy_poll_bound"] = statistics.mean(bounds) if bounds else float("nan")
            figures["economy_polls_over_bound"] = max((p - b for p, b in zip(polls, bounds)), default=0.0)
            figures["economy_undelivered"] = undelivered + lost_undelivered
    return figures


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--burst", type=int, default=60, help="/generate at once with callbacks arriving")
    parser.add_argument("--lost", type=int, default=20, help="/generate whose callbacks are lost")
    parser.add_argument("--interval", type=float, default=0.5, help="SUNO_POLL_INTERVAL when callbacks are lost")
    parser.add_argument("--stage-delay", type=float, default=0.7, help="the fake kie.ai's seconds per stage")


if __name__ == "__main__":
    cli("economy", run, arguments)
