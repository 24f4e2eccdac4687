"""The public web port cannot be held open: header and body timeouts, and a connection cap (bot/web.py).

Raw sockets, because an HTTP client library would hide exactly what is under test (idle, trickling and
surplus connections). Limits are small so the tests are quick; outcomes are asserted, never durations.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from bot.callbacks import MAX_CALLBACK_BYTES, CallbackEndpoint
from bot.store import Store
from bot.web import REFUSAL, WebServer

TIMEOUT = 0.3  # header and body timeouts of the servers under test
TRICKLE = 0.05  # seconds between trickled bytes: several per timeout
GUARD = 5.0  # how long any wait may take before the test fails

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@dataclass
class Served:
    """A running WebServer plus what its test routes (mounted like the sandbox, under /sandbox) have seen."""

    web: WebServer
    bodies: list[bytes] = field(default_factory=list)

    async def connect(self) -> Connection:
        return await asyncio.open_connection("127.0.0.1", self.web.port)


ServerFactory = Callable[..., Awaitable[Served]]


@pytest.fixture
async def make_server() -> AsyncIterator[ServerFactory]:
    """Start WebServers on 127.0.0.1, port 0, with small limits unless told otherwise; stop them all after."""
    started: list[tuple[WebServer, Store]] = []

    async def make(header_timeout: float = TIMEOUT, max_connections: int = 4) -> Served:
        store = await Store.open(":memory:")
        server = WebServer(
            "127.0.0.1", 0, CallbackEndpoint(store, hmac_key=None),
            header_timeout=header_timeout, body_timeout=TIMEOUT, max_connections=max_connections,
        )
        served = Served(server)
        server.mount("/sandbox", _test_routes(served, slow=3 * header_timeout))
        started.append((server, store))
        await server.start()
        return served

    yield make
    for server, store in started:
        await server.stop()
        await store.close()


def _test_routes(served: Served, *, slow: float) -> web.Application:
    """POST /echo records the body its handler reads; GET /slow outlasts the header timeout while handled; GET
    /ping answers at once."""

    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        served.bodies.append(body)
        return web.json_response({"length": len(body)})

    async def slow_handler(request: web.Request) -> web.Response:
        await asyncio.sleep(slow)  # a slow handler is the behaviour under test, not a wait in the test
        return web.json_response({"status": "done"})

    async def ping(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.add_routes([web.post("/echo", echo), web.get("/slow", slow_handler), web.get("/ping", ping)])
    return app


def _get(path: str, *, close: bool = False) -> bytes:
    connection = b"Connection: close\r\n" if close else b""
    return f"GET {path} HTTP/1.1\r\nHost: test\r\n".encode() + connection + b"\r\n"


async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One response (status, body) from a connection that stays open (Content-Length framed)."""
    async with asyncio.timeout(GUARD):
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(lines[0].split()[1]), body


async def _until_closed(reader: asyncio.StreamReader) -> bytes:
    """All the server sends until it closes the connection (a reset counts as closing)."""
    received = b""
    async with asyncio.timeout(GUARD):
        try:
            while chunk := await reader.read(65536):
                received += chunk
        except ConnectionResetError:
            pass
    return received


async def _trickle(writer: asyncio.StreamWriter, data: bytes) -> None:
    """Send one byte at a time, slowly, until done or the server hangs up."""
    try:
        for byte in data:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(TRICKLE)
    except ConnectionError:
        pass


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    try:
        await writer.wait_closed()
    except ConnectionError:
        pass


async def test_a_silent_connection_is_closed(make_server: ServerFactory) -> None:
    served = await make_server()
    reader, writer = await served.connect()
    assert await _until_closed(reader) == b""
    await _close(writer)


async def test_a_trickled_header_is_closed(make_server: ServerFactory) -> None:
    """Bytes keep coming, but the headers never complete in time: arriving bytes do not extend the deadline."""
    served = await make_server()
    reader, writer = await served.connect()
    endless_header = b"GET /sandbox/ping HTTP/1.1\r\nX-Slow: " + b"a" * 1000  # far longer than GUARD to trickle
    trickler = asyncio.create_task(_trickle(writer, endless_header))
    try:
        assert await _until_closed(reader) == b""
    finally:
        trickler.cancel()
        await _close(writer)


async def test_a_slow_body_gets_408_and_never_reaches_the_handler(make_server: ServerFactory) -> None:
    served = await make_server()
    reader, writer = await served.connect()
    writer.write(b"POST /sandbox/echo HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 1000\r\n\r\n")
    trickler = asyncio.create_task(_trickle(writer, b"{" + b" " * 998 + b"}"))
    try:
        answer = await _until_closed(reader)
    finally:
        trickler.cancel()
        await _close(writer)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert served.bodies == []


async def test_a_request_being_handled_is_not_cut_by_the_header_timeout(make_server: ServerFactory) -> None:
    served = await make_server()
    reader, writer = await served.connect()
    writer.write(_get("/sandbox/slow"))
    assert await _response(reader) == (200, b'{"status": "done"}')
    writer.write(_get("/sandbox/ping"))  # and the connection is still good for the next request (keep-alive)
    assert await _response(reader) == (200, b'{"status": "ok"}')
    await _close(writer)


async def test_a_body_read_by_the_timeout_still_reaches_the_handler(make_server: ServerFactory) -> None:
    served = await make_server()
    reader, writer = await served.connect()
    body = b'{"hello": "world"}'
    writer.write(b"POST /sandbox/echo HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                 + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    assert await _response(reader) == (200, b'{"length": 18}')
    assert served.bodies == [body]
    await _close(writer)


async def test_a_body_over_the_size_limit_gets_413(make_server: ServerFactory) -> None:
    served = await make_server()
    reader, writer = await served.connect()
    body = b"{" + b" " * MAX_CALLBACK_BYTES + b"}"
    writer.write(b"POST /callbacks/" + b"A" * 32 + b" HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                 + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
    answer = await _until_closed(reader)
    assert answer.startswith(b"HTTP/1.1 413 ")
    await _close(writer)


async def test_connections_beyond_the_cap_get_503(make_server: ServerFactory) -> None:
    """Four idle (keep-alive) connections fill the cap; a fifth is refused until one of them is gone."""
    served = await make_server(header_timeout=60.0, max_connections=4)
    idle = [await served.connect() for _ in range(4)]
    for reader, writer in idle:  # each has been served, so each is counted
        writer.write(_get("/sandbox/ping"))
        assert (await _response(reader))[0] == 200

    reader, writer = await served.connect()
    assert await _until_closed(reader) == REFUSAL
    await _close(writer)

    # The server closes one (Connection: close) before the client sees the end: the slot is free by then.
    first_reader, first_writer = idle.pop(0)
    first_writer.write(_get("/sandbox/ping", close=True))
    assert (await _until_closed(first_reader)).startswith(b"HTTP/1.1 200 ")
    await _close(first_writer)

    reader, writer = await served.connect()
    writer.write(_get("/sandbox/ping"))
    assert (await _response(reader))[0] == 200
    await _close(writer)
    for _, idle_writer in idle:
        await _close(idle_writer)


async def test_a_port_in_use_fails_start() -> None:
    """The bot turns this OSError into a settings error naming WEB_PORT."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        store = await Store.open(":memory:")
        server = WebServer("127.0.0.1", taken.getsockname()[1], CallbackEndpoint(store, hmac_key=None))
        try:
            with pytest.raises(OSError):
                await server.start()
        finally:
            await server.stop()
            await store.close()
