"""A small HTTP server on 127.0.0.1 that records every request: the services an attacker would aim the bot at
(an admin panel, a metadata service), redirectors and stalled streams."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Self

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (for a server started a moment later)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LoopbackServer:
    """An HTTP server on 127.0.0.1 that records every request path; unknown paths answer "hello <path>"."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.routes: dict[str, Handler] = {}
        self.release = asyncio.Event()  # set at teardown: frees handlers that stall on purpose
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release.set()
        assert self._runner is not None
        await self._runner.cleanup()

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def stall(self, path: str, first: bytes) -> None:
        """Serve ``path`` as a long file that sends ``first`` and then nothing more (until teardown)."""
        async def handler(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse(headers={"Content-Type": "audio/mpeg", "Content-Length": "1000000"})
            await response.prepare(request)
            await response.write(first)
            await self.release.wait()
            return response
        self.routes[path] = handler

    def serve(self, path: str, body: bytes, content_type: str = "application/octet-stream") -> None:
        async def handler(request: web.Request) -> web.StreamResponse:
            return web.Response(body=body, content_type=content_type)
        self.routes[path] = handler

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        async def handler(request: web.Request) -> web.StreamResponse:
            return web.Response(status=status, headers={"Location": location})
        self.routes[path] = handler

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.paths.append(request.path)
        handler = self.routes.get(request.path)
        if handler is not None:
            return await handler(request)
        return web.Response(body=f"hello {request.path}".encode())
