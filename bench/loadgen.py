"""Load generator for the callback benchmark, and the bare aiohttp handler it is compared with.

Both run in processes of their own, so neither the generator's CPU nor the bare server's counts against
the bot's event loop (on a 2-core machine they still share the cores: see bench/callback.py).

``python -m bench.loadgen run PLAN.json`` sends the plan's requests and prints one JSON object. The plan:
``{"requests": [[url, body], ...], "mode": "rate" | "max", "rate": 300, "concurrency": 64, "warmup": 30}``.

* ``rate``: open loop. Request i is started at t0 + i / rate whether or not earlier ones were answered
  (a fixed offered load, no coordinated omission). Latency is measured from the moment the request is
  started to the end of the response body; ``lag`` is how late the generator started it (its own health).
* ``max``: closed loop. ``concurrency`` keep-alive connections each send the next request as soon as the
  previous one was answered; throughput is requests / wall time from the first start to the last answer.

The first ``warmup`` requests are sent one by one before the clock starts and are not counted.

``python -m bench.loadgen serve`` runs the bare handler (``POST /callbacks/{token}`` answers 200 with the
bot's ``{"status": "received"}`` and does nothing else) on an ephemeral loopback port, prints
``{"url": ...}`` and serves until stdin closes.
"""

from __future__ import annotations

import asyncio
import collections
import json
import sys
import threading
import time
from typing import Any

import aiohttp
from aiohttp import web

HEADERS = {"Content-Type": "application/json"}


class Recorder:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.lags: list[float] = []
        self.statuses: collections.Counter[str] = collections.Counter()
        self.first_start = float("inf")
        self.last_end = 0.0

    async def send(self, session: aiohttp.ClientSession, url: str, body: bytes, due: float | None = None) -> None:
        started = time.perf_counter()
        if due is not None:
            self.lags.append(max(0.0, started - due))
        try:
            async with session.post(url, data=body, headers=HEADERS) as response:
                await response.read()
                status = str(response.status)
        except (aiohttp.ClientError, TimeoutError) as error:
            status = type(error).__name__
        ended = time.perf_counter()
        self.latencies.append(ended - started)
        self.statuses[status] += 1
        self.first_start = min(self.first_start, started)
        self.last_end = max(self.last_end, ended)

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        lags = sorted(self.lags)

        def pick(values: list[float], q: float) -> float:
            if not values:
                return 0.0
            rank = (len(values) - 1) * q
            low = int(rank)
            high = min(low + 1, len(values) - 1)
            return values[low] + (values[high] - values[low]) * (rank - low)

        seconds = self.last_end - self.first_start if ordered else 0.0
        return {
            "sent": len(ordered),
            "seconds": seconds,
            "rps": len(ordered) / seconds if seconds else 0.0,
            "p50_ms": pick(ordered, 0.50) * 1000,
            "p99_ms": pick(ordered, 0.99) * 1000,
            "max_ms": (ordered[-1] if ordered else 0.0) * 1000,
            "lag_p99_ms": pick(lags, 0.99) * 1000,
            "statuses": dict(self.statuses),
        }


async def run(plan: dict[str, Any]) -> dict[str, Any]:
    requests = [(url, body.encode()) for url, body in plan["requests"]]
    warmup = int(plan.get("warmup", 0))
    concurrency = int(plan.get("concurrency", 64))
    connector = aiohttp.TCPConnector(limit=concurrency if plan["mode"] == "max" else 512)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        unused = Recorder()
        for url, body in requests[:warmup]:
            await unused.send(session, url, body)
        measured = requests[warmup:]
        recorder = Recorder()
        if plan["mode"] == "rate":
            rate = float(plan["rate"])
            start = time.perf_counter() + 0.01
            pending = []
            for i, (url, body) in enumerate(measured):
                due = start + i / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                pending.append(asyncio.create_task(recorder.send(session, url, body, due)))
            await asyncio.gather(*pending)
        else:
            queue = iter(measured)

            async def worker() -> None:
                for url, body in queue:
                    await recorder.send(session, url, body)

            await asyncio.gather(*(worker() for _ in range(concurrency)))
    return recorder.summary()


async def serve_bare() -> None:
    async def received(request: web.Request) -> web.Response:
        return web.json_response({"status": "received"})

    app = web.Application(client_max_size=256 * 1024)
    app.add_routes([web.post("/callbacks/{token}", received)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()

    def wait_for_eof() -> None:
        sys.stdin.read()
        loop.call_soon_threadsafe(stopping.set)

    threading.Thread(target=wait_for_eof, daemon=True).start()
    print(json.dumps({"url": f"http://127.0.0.1:{runner.addresses[0][1]}"}), flush=True)
    await stopping.wait()
    await runner.cleanup()


def main() -> None:
    if len(sys.argv) >= 2 and sys.argv[1] == "serve":
        asyncio.run(serve_bare())
    elif len(sys.argv) == 3 and sys.argv[1] == "run":
        with open(sys.argv[2]) as file:
            plan = json.load(file)
        print(json.dumps(asyncio.run(run(plan))))
    else:
        sys.exit("usage: python -m bench.loadgen serve | run PLAN.json")


if __name__ == "__main__":
    main()
