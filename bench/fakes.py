"""The loopback fakes of kie.ai and Discord in a process of their own, driven over a small control API.

Benchmarks that measure the bot's own memory or CPU run the fakes here, so the fakes' copies of 8 MiB
tracks and their CPU time are not counted as the bot's. Start it with :class:`FakesProcess` (bench.common);
by hand: ``python -m bench.fakes`` prints one JSON line ``{"control": ..., "kie": ..., "kie_key": ...,
"discord": ...}`` and serves until stdin closes or ``POST /shutdown``.

Both fakes are the tests' own (tests/support/kie_fake.py, tests/support/discord_fake.py), used through
their public knobs only. Two things keep this process small: the fake Discord's copies of uploads are
dropped as soon as it has answered (only sizes are kept), and every task's tracks are served from one
shared blob per track position (``POST /kie/share-audio``) instead of a fresh 8 MiB blob per request.

Control API (JSON in and out):
  POST /kie/set {knob: value}            auto_callbacks, stage_delay, audio_size, image_size,
                                         submit_rate_limit, poll_rate_limit, callback_timeout
  POST /kie/share-audio {}               serve one shared blob per track position for every task so far
  POST /kie/bodies {"items": [[id, stage], ...]}   -> {"bodies": [callback JSON, ...]}
  POST /kie/advance {"task_ids": [...], "stage": "complete"}
                                         -> every callback sent at once; {"started": wall clock, "acked":
                                            wall clock, "statuses": {status: count}}
  GET  /kie/stats                        -> submissions, polls per task, callbacks
  POST /discord/set {"channel_rate_limit": [n, seconds] | null}
  GET  /discord/stats?channel=ID&since=WALL -> messages created since, the last one's time, 429s, bytes
"""

from __future__ import annotations

import asyncio
import collections
import json
import sys
import threading
import time

from aiohttp import web

from tests.support.discord_fake import DEFAULT_CHANNEL_ID, FakeDiscord, snowflake_time
from tests.support.kie_fake import FakeKie

KIE_KNOBS = {"auto_callbacks", "stage_delay", "audio_size", "image_size", "submit_rate_limit", "poll_rate_limit",
             "callback_timeout"}


class Fakes:
    def __init__(self) -> None:
        self.kie = FakeKie()
        self.discord = FakeDiscord()
        self.uploaded_bytes = 0
        self.uploads = 0
        self._swept = 0
        self._shared: dict[tuple[int, int], bytes] = {}
        self._stopping = asyncio.Event()

    # ----- keep the process small -------------------------------------------------------------------------

    def sweep(self) -> None:
        """Forget upload bytes (the fake keeps them for tests); count them first."""
        calls = self.discord.calls
        for call in calls[self._swept:]:
            for upload in call.files:
                self.uploaded_bytes += upload.size
                self.uploads += 1
            call.files.clear()
        self._swept = len(calls)
        self.discord.attachment_data.clear()

    async def sweeper(self) -> None:
        while True:
            self.sweep()
            await asyncio.sleep(0.05)

    # ----- control handlers -------------------------------------------------------------------------------

    async def kie_set(self, request: web.Request) -> web.Response:
        knobs = await request.json()
        for name, value in knobs.items():
            if name not in KIE_KNOBS:
                raise web.HTTPBadRequest(text=f"unknown knob {name}")
            setattr(self.kie, name, tuple(value) if isinstance(value, list) else value)
        return web.json_response({"ok": True})

    async def share_audio(self, request: web.Request) -> web.Response:
        for task_id, task in self.kie.tasks.items():
            for track in task.tracks:
                key = (task.audio_size, track.index)
                if key not in self._shared:
                    self._shared[key] = self.kie.audio_bytes(task_id, track.index)
                self.kie.set_audio(task_id, track.index, self._shared[key])
        return web.json_response({"tasks": len(self.kie.tasks)})

    async def bodies(self, request: web.Request) -> web.Response:
        items = (await request.json())["items"]
        return web.json_response({"bodies": [self.kie.callback_body(task_id, stage) for task_id, stage in items]})

    async def advance(self, request: web.Request) -> web.Response:
        plan = await request.json()
        stage = plan.get("stage", "complete")
        started = time.time()
        results = await asyncio.gather(*(self.kie.advance(task_id, stage) for task_id in plan["task_ids"]))
        acked = time.time()
        statuses = collections.Counter(str(r.status if r is not None else None) for r in results)
        return web.json_response({"started": started, "acked": acked, "statuses": statuses})

    async def kie_stats(self, request: web.Request) -> web.Response:
        kie = self.kie
        return web.json_response({
            "submissions": [[s.task_id, s.at] for s in kie.submissions],
            "polls": kie.polls,
            "callbacks": collections.Counter(str(status) for _, _, status in kie.callback_results),
            "downloads": len(kie.downloads),
        })

    async def discord_set(self, request: web.Request) -> web.Response:
        knobs = await request.json()
        if "channel_rate_limit" in knobs:
            if not hasattr(self.discord, "channel_rate_limit"):
                raise web.HTTPBadRequest(text="this FakeDiscord has no channel_rate_limit")
            value = knobs["channel_rate_limit"]
            self.discord.channel_rate_limit = tuple(value) if value else None
        return web.json_response({"ok": True})

    async def discord_stats(self, request: web.Request) -> web.Response:
        self.sweep()
        channel = int(request.query.get("channel", DEFAULT_CHANNEL_ID))
        since = float(request.query.get("since", 0))
        created = [snowflake_time(m["id"]) for m in self.discord.channel_messages(channel)]
        after = [at for at in created if at >= since]
        calls = self.discord.calls
        return web.json_response({
            "messages": len(after),
            "last_message_at": max(after) if after else None,
            "status_429": sum(1 for c in calls if c.status == 429),
            "calls": len(calls),
            "uploads": self.uploads,
            "uploaded_bytes": self.uploaded_bytes,
        })

    async def shutdown(self, request: web.Request) -> web.Response:
        self._stopping.set()
        return web.json_response({"ok": True})

    # ----- lifecycle --------------------------------------------------------------------------------------

    async def serve(self) -> None:
        async with self.kie, self.discord:
            app = web.Application(client_max_size=64 * 1024 * 1024)
            app.add_routes([
                web.post("/kie/set", self.kie_set),
                web.post("/kie/share-audio", self.share_audio),
                web.post("/kie/bodies", self.bodies),
                web.post("/kie/advance", self.advance),
                web.get("/kie/stats", self.kie_stats),
                web.post("/discord/set", self.discord_set),
                web.get("/discord/stats", self.discord_stats),
                web.post("/shutdown", self.shutdown),
            ])
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = runner.addresses[0][1]
            sweeper = asyncio.create_task(self.sweeper())
            loop = asyncio.get_running_loop()
            # the parent closes our stdin (or goes away): stop
            threading.Thread(target=_wait_for_eof, args=(loop, self._stopping), daemon=True).start()
            print(json.dumps({"control": f"http://127.0.0.1:{port}", "kie": self.kie.base_url,
                              "kie_key": self.kie.api_key, "discord": self.discord.api_base}), flush=True)
            await self._stopping.wait()
            sweeper.cancel()
            await runner.cleanup()


def _wait_for_eof(loop: asyncio.AbstractEventLoop, stopping: asyncio.Event) -> None:
    sys.stdin.read()
    loop.call_soon_threadsafe(stopping.set)


def main() -> None:
    try:
        asyncio.run(Fakes().serve())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
