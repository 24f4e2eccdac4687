"""The bot's HTTP server (aiohttp, in the bot's event loop): provider callbacks (bot/callbacks.py), /healthz,
and the built-in sandbox provider when it is used."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from bot.callbacks import MAX_CALLBACK_BYTES, CallbackEndpoint
from bot.store import Store

log = logging.getLogger(__name__)


class WebServer:
    """An aiohttp application run with AppRunner + TCPSite inside the bot's loop."""

    def __init__(self, host: str, port: int, store: Store, callbacks: CallbackEndpoint) -> None:
        self.host = host
        self.port = port
        self._store = store
        self.app = web.Application(client_max_size=MAX_CALLBACK_BYTES)
        self.app.add_routes(
            [
                web.post("/callbacks/{token}", callbacks.handle),
                web.get("/healthz", self._health),
            ]
        )
        self._runner: web.AppRunner | None = None

    def mount(self, prefix: str, app: web.Application) -> None:
        """Add a sub-application (the sandbox provider); only before :meth:`start`."""
        self.app.add_subapp(prefix, app)

    async def start(self) -> None:
        # No access log: callback paths carry per-task secrets.
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        if self.port == 0:
            self.port = self._runner.addresses[0][1]
        log.info("web server listening on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def local_url(self) -> str:
        """How this process reaches its own server."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "", "::") else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    async def _health(self, request: web.Request) -> web.Response:
        try:
            counts = await self._store.count_by_state()
        except Exception:  # the database is gone: the container is unhealthy
            log.exception("health check failed")
            return _json({"status": "unhealthy"}, status=503)
        pending = sum(n for state, n in counts.items() if state not in ("succeeded", "failed"))
        return _json({"status": "ok", "pending_tasks": pending})



def _json(data: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(data, status=status)
