"""Benchmark: rush hour. 500 /generate from 100 members across 50 channels within 10 s, against a loopback fake
provider that refuses anything over its rate (kie.ai's 429).

Method. The real bot (``start_bot``: store, web server, tracker, dispatcher, cogs) against the fake Discord and
the fake kie.ai, in this process. Member m (0-99) sends its requests to channel m % 50; the 500 slash commands
are injected evenly over ``--spread`` seconds (10), each member's five interleaved with everyone else's. The
fake provider enforces ``--limit`` submissions per ``--window`` seconds (kie.ai's 20 per 10 s) and answers 429
beyond it; the bot is set to the same rate (SUNO_SUBMIT_RATE). Sending 500 at that rate takes 250 s, so this
benchmark is not part of the default ``python -m bench`` run: ``python -m bench rush`` runs it. (A scaled-down
window exaggerates the one thing that costs rate: a submission counts from the provider's answer, so each
window also loses one answer's latency; at 10 s that is about 1 %.)

Figures:
* ``rush_ack_p99_ms``: from each slash command to its acknowledgement (the deferred response) — target < 1 s;
  ``rush_answer_p99_ms``: to the private answer naming the place in line (or "On it").
* ``rush_provider_429``: submissions the provider refused (target 0).
* ``rush_rate_vs_limit``: submissions per window while the queue was full, over the limit (target within
  5 %: 0.95-1.0); ``rush_max_per_window``: the most in any window (≤ the limit).
* ``rush_first_wait_excess_windows``: each member's first request is compared with the ideal round robin (the
  k-th member to ask gets the k-th slot); the worst lateness beyond it, in windows (target ≤ 1).
* ``rush_tracks_posted`` / ``rush_duplicates``: every song completes (callbacks) and both its tracks must be
  posted exactly once (1,000 messages, 0 duplicates).

Reproduce: ``python -m bench.rush [--requests 500] [--members 100] [--channels 50] [--spread 10]
[--limit 20] [--window 10]``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import tempfile
import time

from bench.common import Figures, cli, percentile, progress, quiet_bot_logs, start_bot


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--channels", type=int, default=50)
    parser.add_argument("--spread", type=float, default=10.0, help="seconds over which the commands arrive")
    parser.add_argument("--limit", type=int, default=20, help="provider submissions per window")
    parser.add_argument("--window", type=float, default=10.0, help="the provider's window, seconds")


async def run(args: argparse.Namespace) -> Figures:
    from tests.support.discord_fake import FakeDiscord, callback_for, followup_for
    from tests.support.interactions import discord_api, inject, slash_command
    from tests.support.kie_fake import FakeKie

    quiet_bot_logs()
    async with FakeDiscord() as discord, FakeKie() as kie:
        kie.auto_callbacks = True
        kie.auto_stages = ("complete",)
        kie.audio_size, kie.image_size = 2048, 512
        kie.submit_rate_limit = (args.limit, args.window)
        kie.poll_rate_limit = None
        with tempfile.TemporaryDirectory() as folder, discord_api(discord.api_base):
            bot = await start_bot(folder, kie_url=kie.base_url, kie_key=kie.api_key,
                                  submit_rate=(args.limit, args.window))
            try:
                progress(f"rush: {args.requests} /generate from {args.members} members in {args.spread:g} s")
                sent: dict[str, float] = {}
                first_of: dict[int, str] = {}
                started = time.perf_counter()
                for n in range(args.requests):
                    member = n % args.members
                    payload = slash_command("generate", {"prompt": f"rush {n} by {member}"},
                                            user_id=1_310_000_000_000_001_000 + member,
                                            channel_id=1_310_000_000_000_002_000 + member % args.channels)
                    due = started + n * args.spread / args.requests
                    await asyncio.sleep(max(0.0, due - time.perf_counter()))
                    sent[payload["id"]] = time.perf_counter()
                    first_of.setdefault(member, f"rush {n} by {member}")
                    inject(bot, payload, fake=discord)
                    sent[payload["token"]] = sent[payload["id"]]
                acks, answers = [], []
                for key, at in list(sent.items()):
                    if key.isdigit():
                        call = await discord.wait_for(callback_for(int(key)), timeout=120)
                        acks.append(call.at - at)
                progress("rush: waiting for every song")
                deadline = time.perf_counter() + 60 + args.requests * args.window / args.limit * 2
                while time.perf_counter() < deadline:
                    states = await bot.store.count_by_state()
                    if states.get("succeeded", 0) + states.get("failed", 0) >= args.requests:
                        break
                    await asyncio.sleep(0.2)
                await bot.tracker.idle()
                for token in (k for k in sent if not k.isdigit()):
                    call = await discord.wait_for(followup_for(token), timeout=10)
                    answers.append(call.at - sent[token])
            finally:
                await bot.close()
        times = sorted(s.at for s in kie.submissions)
        refused = sum(1 for call in kie.api_calls if call.code == 429)
        per_window = collections.Counter(int((t - times[0]) / args.window) for t in times)
        full = [count for index, count in sorted(per_window.items())][:-1] or [len(times)]
        by_prompt = {s.body.get("prompt"): s.at for s in kie.submissions}
        ideal = {member: times[0] + (rank // args.limit) * args.window
                 for rank, member in enumerate(sorted(first_of))}
        lateness = max((by_prompt[prompt] - ideal[member]) / args.window for member, prompt in first_of.items())
        messages = [m for channel in range(args.channels)
                    for m in discord.channel_messages(1_310_000_000_000_002_000 + channel)
                    if "track" in str((m.get("embeds") or [{}])[0].get("footer"))]
        footers = collections.Counter(m["embeds"][0]["footer"]["text"] for m in messages)
    return {
        "rush_requests": args.requests,
        "rush_ack_p99_ms": percentile(acks, 99) * 1000,
        "rush_answer_p99_ms": percentile(answers, 99) * 1000,
        "rush_provider_429": refused,
        "rush_max_per_window": max(per_window.values()),
        "rush_rate_vs_limit": sum(full) / len(full) / args.limit,
        "rush_first_wait_excess_windows": max(0.0, lateness),
        "rush_tracks_posted": len(footers),
        "rush_duplicates": sum(count - 1 for count in footers.values()),
    }


if __name__ == "__main__":
    cli("rush", run, arguments)
