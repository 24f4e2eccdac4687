"""One way for tests to drive every provider: its loopback fake (or the sandbox) plus the bot's real adapter.

A driver finishes or fails a task the way that provider does it (a callback for kie.ai and sunoapi.org, with
record-info agreeing; the info endpoint for CQTAI, which has no callbacks; the sandbox's own callbacks) and
returns what the bot's adapter made of it, so one behaviour suite runs against all of them.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot.fetch import Fetcher, FetchPolicy
from bot.models import TaskKind, TaskState, TaskUpdate
from bot.providers import ADAPTERS, open_provider
from bot.providers.http import ApiClient, RetryPolicy
from bot.sandbox.server import SandboxProvider
from tests.support.cqt_fake import FakeCqt
from tests.support.kie_fake import FakeKie
from tests.support.sunoapi_fake import FakeSunoApi

NO_WAIT = RetryPolicy(rate_limited=(0.0, 0.0), server_error=(0.0, 0.0), busy=(0.0, 0.0))
PROVIDERS = tuple(ADAPTERS)  # kie, sunoapi, cqt, sandbox
FAKED = ("kie", "sunoapi", "cqt")  # the ones with a scriptable fake
CALLBACK = "http://127.0.0.1:9/callbacks/unused"

# kie-protocol kinds (the fakes' names) per bot kind
KIE_KINDS = {
    TaskKind.GENERATE: "generate", TaskKind.COMPOSE: "generate", TaskKind.EXTEND: "extend",
    TaskKind.UPLOAD_EXTEND: "upload_extend", TaskKind.COVER: "upload_cover", TaskKind.LYRICS: "lyrics",
    TaskKind.STEMS: "separation", TaskKind.WAV: "wav", TaskKind.VIDEO: "mp4",
}


class Driver:
    """What a contract test needs from a provider. Subclasses implement it for each one."""

    name: str
    adapter: ApiClient
    callback_url: str = CALLBACK

    async def finish(self, kind: TaskKind, task_id: str) -> TaskUpdate:
        raise NotImplementedError

    async def fail(self, kind: TaskKind, task_id: str, message: str) -> TaskUpdate:
        raise NotImplementedError

    def body(self, task_id: str) -> dict[str, Any]:
        """What the provider received for ``task_id``."""
        raise NotImplementedError

    def refuse_next_submit(self, code: int, message: str) -> None:
        raise NotImplementedError

    def submissions(self) -> int:
        raise NotImplementedError


class FakeDriver(Driver):
    """A provider played by a scriptable fake."""

    fake: FakeKie | FakeCqt

    def body(self, task_id: str) -> dict[str, Any]:
        return self.fake.task(task_id).body

    def refuse_next_submit(self, code: int, message: str) -> None:
        self.fake.fail_next_submit(code, message)

    def submissions(self) -> int:
        return len(self.fake.submissions)


class KieDriver(FakeDriver):
    """kie.ai and sunoapi.org: the callback is the result; record-info must say the same."""

    def __init__(self, name: str, fake: FakeKie, adapter: ApiClient) -> None:
        self.name, self.fake, self.adapter = name, fake, adapter

    async def finish(self, kind: TaskKind, task_id: str) -> TaskUpdate:
        await self.fake.advance(task_id, "complete", deliver=False)
        return await self._both(kind, task_id, "complete")

    async def fail(self, kind: TaskKind, task_id: str, message: str) -> TaskUpdate:
        await self.fake.fail(task_id, msg=message, deliver=False)
        return await self._both(kind, task_id, "error")

    async def _both(self, kind: TaskKind, task_id: str, stage: str) -> TaskUpdate:
        called_back = self.adapter.parse_callback(kind, self.fake.callback_body(task_id, stage))
        polled = await self.adapter.status(kind, task_id)
        assert (polled.state, polled.task_id) == (called_back.state, called_back.task_id)
        assert [t.audio_id for t in polled.tracks] == [t.audio_id for t in called_back.tracks]
        assert polled.files == called_back.files and polled.lyrics == called_back.lyrics
        return called_back


class CqtDriver(FakeDriver):
    """CQTAI: no callbacks; what the info endpoint answers is the result."""

    name = "cqt"

    def __init__(self, fake: FakeCqt, adapter: ApiClient) -> None:
        self.fake, self.adapter = fake, adapter

    async def finish(self, kind: TaskKind, task_id: str) -> TaskUpdate:
        self.fake.complete(task_id)
        return await self.adapter.status(kind, task_id)

    async def fail(self, kind: TaskKind, task_id: str, message: str) -> TaskUpdate:
        self.fake.fail(task_id, msg=message)
        return await self.adapter.status(kind, task_id)


class SandboxDriver(Driver):
    """The built-in sandbox, served on loopback; its callbacks arrive at a local receiver."""

    name = "sandbox"

    def __init__(self) -> None:
        self.callbacks: list[dict[str, Any]] = []
        self.arrived = asyncio.Condition()

    async def receive(self, request: web.Request) -> web.Response:
        body = await request.json()
        async with self.arrived:
            self.callbacks.append(body)
            self.arrived.notify_all()
        return web.json_response({"status": "received"})

    async def finish(self, kind: TaskKind, task_id: str) -> TaskUpdate:
        body = await self._final_callback(kind, task_id)
        called_back = self.adapter.parse_callback(kind, body)
        polled = await self.adapter.status(kind, task_id)
        assert polled.state is called_back.state
        return called_back

    async def _final_callback(self, kind: TaskKind, task_id: str) -> dict[str, Any]:
        def final() -> dict[str, Any] | None:
            for body in self.callbacks:
                try:
                    update = self.adapter.parse_callback(kind, body)
                except ValueError:
                    continue
                if update.task_id == task_id and update.state.terminal:
                    return body
            return None

        async with self.arrived:
            await asyncio.wait_for(self.arrived.wait_for(lambda: final() is not None), timeout=20)
        found = final()
        assert found is not None
        return found


@asynccontextmanager
async def driver_for(name: str) -> AsyncIterator[Driver]:
    """A started fake (or sandbox) and the bot's adapter for provider ``name``, closed afterwards."""
    if name == "sandbox":
        async with _sandbox() as driver:
            yield driver
        return
    fake: FakeKie | FakeCqt
    if name == "kie":
        fake = FakeKie()
    elif name == "sunoapi":
        fake = FakeSunoApi()
    else:
        fake = FakeCqt()
    async with fake:
        if isinstance(fake, FakeKie):
            fake.auto_callbacks = False
        adapter = open_provider(name, api_key=fake.api_key, base_url=fake.base_url)
        adapter.retry = NO_WAIT
        try:
            yield CqtDriver(fake, adapter) if isinstance(fake, FakeCqt) else KieDriver(name, fake, adapter)
        finally:
            await adapter.close()


@asynccontextmanager
async def _sandbox() -> AsyncIterator[SandboxDriver]:
    with tempfile.TemporaryDirectory() as folder:
        fetcher = Fetcher(FetchPolicy())
        sandbox = await SandboxProvider.open(Path(folder) / "sandbox.db", api_key="sandbox-key", stage_seconds=0,
                                             fetcher=fetcher)
        driver = SandboxDriver()
        app = web.Application()
        app.add_subapp("/sandbox", sandbox.app)
        app.router.add_post("/received", driver.receive)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        await sandbox.start(f"{base}/sandbox")
        fetcher.allow_prefix(SandboxProvider.files_prefix_at(f"{base}/sandbox"))
        driver.adapter = adapter = open_provider("sandbox", api_key="sandbox-key", base_url=f"{base}/sandbox")
        adapter.retry = NO_WAIT
        driver.callback_url = f"{base}/received"
        try:
            yield driver
        finally:
            await adapter.close()
            await sandbox.close()
            await fetcher.close()
            await runner.cleanup()


async def download(url: str) -> bytes:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200, url
        return await response.read()


def is_done(update: TaskUpdate) -> bool:
    return update.state is TaskState.SUCCEEDED
