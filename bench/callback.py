"""Benchmark: callback ingestion by the running bot, side by side with a bare aiohttp handler.

Method.
* Processes: this one runs the real bot (``create_bot`` + ``login``: the web server, store, tracker and
  delivery that production runs); the fake kie.ai and fake Discord run in a child (bench/fakes.py), the bare
  handler in another (``python -m bench.loadgen serve``), and each load phase is a fresh generator process
  (``python -m bench.loadgen run``). The machine has 2 cores, so the generator, the server under test and the
  fakes share them: both servers are measured under the same conditions, in the same run.
* Tasks: real tasks, started the way /generate starts them (``bot.songs.submit``: admission, status message,
  submit to the fake kie.ai), each in a server of its own (so no server's running cap or admission cost
  grows with the benchmark's size). The provider's 20-per-10 s submission limiter is lifted while they
  start: set-up, not what is measured.
* Requests: for every task the kie callbacks ``text``, ``first`` and ``complete``
  (``FakeKie.callback_body(task_id, stage)``), each sent twice (the second is a duplicate, as a provider
  retry would be); so half the requests change something and half must change nothing. They go to
  ``POST <bot.web.local_url>/callbacks/<task.callback_token>``; the bare handler gets the very same bodies at
  the same paths. Every state change makes the bot edit the status message in the background, and each
  ``complete`` makes it download two small tracks (4 KiB) and covers from the fake kie.ai and post them to
  the fake Discord: that work shares the bot's event loop with the ingestion, as in production.
* Latency (``callback_p50_ms``, ``callback_p99_ms``, and ``bare_*`` the same for the bare handler): an open
  loop at a fixed offered rate (``--rate``, default 100 requests/s for ``--seconds`` 10 s, 1,000 requests):
  request i starts at t0 + i/rate whatever happened to the earlier ones; latency is from its start to the
  end of the answer. 100/s is a few per cent of what the bare handler sustains (``bare_utilization`` =
  rate / bare_rps) and under half of the bot's measured maximum, so neither server is saturated;
  ``loadgen_lag_p99_ms`` shows the generator kept its schedule.
* Throughput (``callback_rps``, ``bare_rps``, ``callback_rps_ratio``): a closed loop of ``--concurrency``
  (64) keep-alive connections sending as fast as they are answered, on a second, fresh set of tasks
  (``--max-requests`` 2,000), so the bot again ingests new stages and duplicates, not replays
  (``callback_max_load_p99_ms``: its latency meanwhile). The bare handler's run is quick and noisy on a
  shared 2-core machine: it is run three times on the same requests and the median is kept.
* ``callback_non_2xx`` counts answers other than 200 from the bot (target 0). Between phases the bot's
  background Discord work is allowed to finish (``tracker.idle()``).

Reproduce: ``python -m bench.callback [--rate 100] [--seconds 10] [--max-requests 2000] [--concurrency 64]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import (
    FakesProcess,
    Figures,
    cli,
    progress,
    quiet_bot_logs,
    start_bot,
    submit_songs,
)

STAGES = ("text", "first", "complete")
BARE_RUNS = 3
GROUP = 10  # tasks whose callbacks are interleaved: a group's stages, each followed by its duplicates


async def callback_plan(fakes: FakesProcess, tasks: list[Any]) -> list[tuple[str, str]]:
    """(path, body) for every callback of ``tasks`` and its duplicate, in sending order."""
    items = [[task.provider_task_id, stage] for task in tasks for stage in STAGES]
    bodies = iter((await fakes.post("/kie/bodies", {"items": items}))["bodies"])
    body_of = {(task.id, stage): json.dumps(next(bodies)) for task in tasks for stage in STAGES}
    plan: list[tuple[str, str]] = []
    for start in range(0, len(tasks), GROUP):
        group = tasks[start:start + GROUP]
        for stage in STAGES:
            for _copy in range(2):
                plan.extend((f"/callbacks/{task.callback_token}", body_of[(task.id, stage)]) for task in group)
    return plan


async def load(folder: Path, base: str, plan: list[tuple[str, str]], **settings: Any) -> dict[str, Any]:
    """One load phase in a fresh generator process."""
    path = folder / "plan.json"
    path.write_text(json.dumps({"requests": [[base + p, body] for p, body in plan], **settings}))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.loadgen", "run", str(path), stdout=asyncio.subprocess.PIPE,
        cwd=Path(__file__).resolve().parent.parent,
    )
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"bench.loadgen failed ({process.returncode})")
    return json.loads(out)


class BareServer:
    async def __aenter__(self) -> str:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.loadgen", "serve", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, cwd=Path(__file__).resolve().parent.parent,
        )
        assert self.process.stdout is not None
        return str(json.loads(await self.process.stdout.readline())["url"])

    async def __aexit__(self, *exc: object) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        await self.process.wait()


async def run(args: argparse.Namespace) -> Figures:
    from tests.support.interactions import discord_api

    quiet_bot_logs()
    rate_requests = int(args.rate * args.seconds)
    rate_tasks = -(-rate_requests // (2 * len(STAGES)))
    max_tasks = -(-args.max_requests // (2 * len(STAGES)))
    async with FakesProcess() as fakes, BareServer() as bare_url:
        await fakes.post("/kie/set", {"auto_callbacks": False, "audio_size": 4096, "image_size": 1024,
                                      "submit_rate_limit": None, "poll_rate_limit": None})
        with tempfile.TemporaryDirectory() as folder, discord_api(fakes.discord_api):
            bot = await start_bot(folder, kie_url=fakes.kie_url, kie_key=fakes.kie_key)
            try:
                progress(f"callback: starting {rate_tasks + max_tasks} tasks")
                rate_set = await submit_songs(bot, rate_tasks, spread_guilds=True)
                max_set = await submit_songs(bot, max_tasks, spread_guilds=True)
                rate_plan = await callback_plan(fakes, rate_set)
                max_plan = await callback_plan(fakes, max_set)
                bot_url = bot.web.local_url
                work = Path(folder)
                fixed = {"mode": "rate", "rate": args.rate, "warmup": args.warmup}
                closed = {"mode": "max", "concurrency": args.concurrency, "warmup": args.warmup}

                progress(f"callback: {len(rate_plan)} requests at {args.rate:g}/s, bare handler")
                bare_fixed = await load(work, bare_url, rate_plan, **fixed)
                progress(f"callback: {len(rate_plan)} requests at {args.rate:g}/s, bot")
                bot_fixed = await load(work, bot_url, rate_plan, **fixed)
                await bot.tracker.idle()
                bare_runs = []
                for n in range(BARE_RUNS):  # the bare handler is quick and noisy: the median of three
                    progress(f"callback: {len(max_plan)} requests, {args.concurrency} connections, bare handler "
                             f"({n + 1}/{BARE_RUNS})")
                    bare_runs.append(await load(work, bare_url, max_plan, **closed))
                bare_max = sorted(bare_runs, key=lambda r: r["rps"])[len(bare_runs) // 2]
                progress(f"callback: {len(max_plan)} requests, {args.concurrency} connections, bot")
                bot_max = await load(work, bot_url, max_plan, **closed)
                await bot.tracker.idle()
            finally:
                await bot.close()

    non_2xx = sum(n for status, n in (*bot_fixed["statuses"].items(), *bot_max["statuses"].items())
                  if status != "200")
    return {
        "callback_rate_rps": args.rate,
        "callback_p50_ms": bot_fixed["p50_ms"],
        "callback_p99_ms": bot_fixed["p99_ms"],
        "bare_p50_ms": bare_fixed["p50_ms"],
        "bare_p99_ms": bare_fixed["p99_ms"],
        "callback_rps": bot_max["rps"],
        "bare_rps": bare_max["rps"],
        "callback_rps_ratio": bot_max["rps"] / bare_max["rps"],
        "callback_max_load_p99_ms": bot_max["p99_ms"],
        "bare_utilization": args.rate / bare_max["rps"],
        "loadgen_lag_p99_ms": max(bot_fixed["lag_p99_ms"], bare_fixed["lag_p99_ms"]),
        "callback_non_2xx": non_2xx,
    }


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rate", type=float, default=100.0, help="offered load of the latency phase (requests/s)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the latency phase")
    parser.add_argument("--max-requests", type=int, default=2000, help="requests of the throughput phase")
    parser.add_argument("--concurrency", type=int, default=64, help="connections of the throughput phase")
    parser.add_argument("--warmup", type=int, default=30, help="requests sent before measuring (not counted)")


if __name__ == "__main__":
    cli("callback", run, arguments)
