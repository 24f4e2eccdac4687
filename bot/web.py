"""The bot's HTTP server (aiohttp, in the bot's event loop): provider callbacks (bot/callbacks.py), /healthz,
and the built-in sandbox provider when it is used.

The port is public (providers call back on it), so it must not be holdable by idle or slow clients:

* header timeout: aiohttp's ``keepalive_timeout`` (aiohttp >= 3.14) is armed when a connection is made and
  again after each response, is *not* extended by incoming bytes, and closes the connection only while it is
  waiting for a request. Set to ``header_timeout``, it bounds how long a client may take to send a request's
  line and headers (silent or trickled) without ever cutting a request that is being handled.
* body timeout: :func:`_body_deadline` reads every body up front within ``body_timeout`` (408 otherwise);
  aiohttp's ``lingering_time`` (reading an unwanted body after an early answer) is bounded by it too.
* connection cap: the listening socket is ours (``loop.create_server``), and :class:`_Gate` refuses a
  connection beyond ``max_connections`` with a bare 503 before aiohttp ever sees it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from aiohttp.web_protocol import RequestPayloadError

from bot.callbacks import MAX_CALLBACK_BYTES, CallbackEndpoint

log = logging.getLogger(__name__)

HEADER_TIMEOUT = 10.0  # seconds to send a request line + headers, from connect or from the previous response
BODY_TIMEOUT = 10.0  # seconds to send a whole request body (callbacks are at most 256 KiB)
MAX_CONNECTIONS = 256  # concurrent connections aiohttp serves; more are refused with 503
BACKLOG = 128  # as aiohttp's TCPSite
REFUSAL = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
REFUSAL_LINGER = 1.0  # seconds a refused connection may stay to take the client's request (so no RST eats the 503)


class WebServer:
    """An aiohttp application served from our own listening socket inside the bot's loop."""

    def __init__(
        self,
        host: str,
        port: int,
        callbacks: CallbackEndpoint,
        *,
        header_timeout: float = HEADER_TIMEOUT,
        body_timeout: float = BODY_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.host = host
        self.port = port
        self._header_timeout = header_timeout
        self._body_timeout = body_timeout
        self._max_connections = max_connections
        self.app = web.Application(client_max_size=MAX_CALLBACK_BYTES, middlewares=[_body_deadline(body_timeout)])
        self.app.add_routes(
            [
                web.post("/callbacks/{token}", callbacks.handle),
            ]
        )
        self._runner: web.AppRunner | None = None
        self._server: asyncio.Server | None = None
        self._refusing = False  # at the connection cap (for logging)

    def mount(self, prefix: str, app: web.Application) -> None:
        """Add a sub-application (the sandbox provider); only before :meth:`start`. The body timeout applies
        to it too (a parent's middlewares run for its sub-apps)."""
        self.app.add_subapp(prefix, app)

    async def start(self) -> None:
        """Listen. An OSError from binding propagates (the bot reports it as a WEB_PORT problem)."""
        # No access log: callback paths carry per-task secrets. lingering_time: after an early answer (408,
        # 413) aiohttp keeps reading the unwanted body so the client sees the answer rather than a reset; a
        # client gets no longer for that than for sending a body at all (aiohttp's own default is 10 s).
        runner = web.AppRunner(
            self.app,
            access_log=None,
            handle_signals=False,
            keepalive_timeout=self._header_timeout,
            lingering_time=self._body_timeout,
        )
        await runner.setup()
        self._runner = runner
        try:
            self._server = await asyncio.get_running_loop().create_server(
                lambda: _Gate(self._admit), self.host, self.port, backlog=BACKLOG
            )
        except BaseException:
            await self.stop()
            raise
        if self.port == 0:
            self.port = self._server.sockets[0].getsockname()[1]
        log.info("web server listening on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        """Stop accepting first, so no connection arrives while aiohttp closes the ones it has."""
        if self._server is not None:
            self._server.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    @property
    def local_url(self) -> str:
        """How this process reaches its own server."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "", "::") else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def _admit(self) -> asyncio.Protocol | None:
        """aiohttp's protocol for one more connection, or None when the cap is reached (or we are stopping)."""
        runner = self._runner
        if runner is None or runner.server is None:
            return None
        if len(runner.server.connections) >= self._max_connections:
            if not self._refusing:  # once per episode: a flood must not flood the log too
                log.warning("web server: %d connections open, refusing more with 503", self._max_connections)
                self._refusing = True
            return None
        if self._refusing:
            log.info("web server: accepting connections again")
            self._refusing = False
        return runner.server()


class _Gate(asyncio.Protocol):
    """The first protocol of every connection: hands the transport to aiohttp, or answers 503 and closes.

    Deciding in ``connection_made`` rather than in the protocol factory matters: asyncio calls the factory for
    a whole burst of accepted sockets before any of them is counted by aiohttp, while ``connection_made``
    calls run one by one, each seeing the connections admitted before it.
    """

    def __init__(self, admit: Callable[[], asyncio.Protocol | None]) -> None:
        self._admit = admit
        self._transport: asyncio.Transport | None = None
        self._linger: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        handler = self._admit()
        if handler is not None:
            transport.set_protocol(handler)
            handler.connection_made(transport)
            return
        # Refuse: answer, send FIN, and drop what the client sends until it closes (or briefly at most), so
        # closing a socket with unread data does not reset the connection before the client reads the 503.
        self._transport = transport
        transport.write(REFUSAL)
        if transport.can_write_eof():
            transport.write_eof()
        self._linger = asyncio.get_running_loop().call_later(REFUSAL_LINGER, transport.close)

    def data_received(self, data: bytes) -> None:
        """A refused client's request: ignored."""

    def eof_received(self) -> bool | None:
        """The refused client is done: close (returning a false value has the transport close itself)."""
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None


def _body_deadline(timeout: float) -> Middleware:
    """A middleware that reads each request body within ``timeout`` seconds, before the handler runs.

    aiohttp has no body timeout: a client sending a byte a second would hold a connection (and a handler) for
    as long as it likes. ``request.read()`` caches the body, so the handler's own ``read()``/``json()`` get it;
    a body over ``client_max_size`` still gets aiohttp's 413 (HTTPRequestEntityTooLarge propagates).
    """

    @web.middleware
    async def body_deadline(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.can_read_body:
            try:
                async with asyncio.timeout(timeout):
                    await request.read()
            except TimeoutError:
                log.warning("web server: request body not received within %ss", timeout)
                response = _json({"error": "request body timed out"}, status=408)
                response.force_close()  # the rest of the body may still be coming: no keep-alive
                return response
            except RequestPayloadError:
                pass  # the stream is unusable; the handler's own read() raises it again and answers
        return await handler(request)

    return body_deadline


def _json(data: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(data, status=status)
