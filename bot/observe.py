"""What an operator looks at: ``/healthz`` (is this process working: its gateway connection, the database,
the provider's last answer) and ``/metrics`` (Prometheus; behind ``METRICS_TOKEN`` when it is set).

``/healthz`` says nothing an outsider should not see: no task numbers, names or counts.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from bot.media import MediaStore
from bot.metrics import Metrics
from bot.providers.http import LastAnswer
from bot.store import Store

log = logging.getLogger(__name__)


class Observer:
    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        *,
        gateway: Callable[[], bool],
        provider: Callable[[], LastAnswer | None],
        token: str | None,
        media: MediaStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._media = media
        self._metrics = metrics
        self._gateway = gateway  # connected to Discord's gateway (every shard of this process)?
        self._provider = provider
        self._token = token
        self._clock = clock

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/healthz", self.health), web.get("/metrics", self.metrics)]

    async def health(self, request: web.Request) -> web.Response:
        """200 "ok"; 200 "degraded" (the gateway is disconnected, or the provider's last answer was a failure:
        the bot recovers from both by itself); 503 "unhealthy" (the database cannot be reached)."""
        try:
            await self._store.ping()
            database = "ok"
        except Exception as error:
            log.warning("health check: the database cannot be reached (%s)", type(error).__name__)
            database = "unreachable"
        last = self._provider()
        provider: dict[str, object] = {"answered": last is not None}
        if last is not None:
            provider.update(ok=last.ok, seconds_ago=round(self._clock() - last.at, 1))
        gateway = "connected" if self._gateway() else "disconnected"
        if database != "ok":
            status, code = "unhealthy", 503
        elif gateway != "connected" or (last is not None and not last.ok):
            status, code = "degraded", 200
        else:
            status, code = "ok", 200
        return web.json_response({"status": status, "gateway": gateway, "database": database,
                                  "provider": provider}, status=code)

    async def metrics(self, request: web.Request) -> web.Response:
        if self._token is not None:
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {self._token}".encode()):
                return web.json_response({"error": "a bearer token is required"}, status=401,
                                         headers={"WWW-Authenticate": "Bearer"})
        await self._metrics.refresh(self._store, self._clock(), self._media)
        return web.Response(body=self._metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})
