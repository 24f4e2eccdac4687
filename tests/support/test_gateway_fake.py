"""The fake gateway against the real discord.py: sharded clients (in this process and in a child process)
log in against FakeDiscord, connect to FakeGateway and get each interaction on the shard owning its guild.

The clients override ``before_identify_hook`` (discord.py sleeps 5 s before every IDENTIFY but a client's
first) and set ``guild_ready_timeout`` to 50 ms (discord.py waits that long after the last GUILD_CREATE
before ``on_shard_ready``; 2 s by default): the whole file runs in about half a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import zlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import discord
import pytest

from tests.support.discord_fake import DEFAULT_BOT_USER_ID, FakeDiscord, route
from tests.support.gateway_fake import (
    FakeGateway,
    ShardNotConnected,
    guild_id_on_shard,
    shard_of,
    use_fake_discord,
)
from tests.support.interactions import slash_command

REPO = Path(__file__).resolve().parents[2]
TOKEN = "fake-bot-token"
G0, G1 = guild_id_on_shard(0, 2), guild_id_on_shard(1, 2)  # one guild on each of 2 shards


def channel_of(guild_id: int) -> int:
    return guild_id + 100  # FakeGateway.add_guild's default text channel


def command_in(guild_id: int) -> dict[str, Any]:
    return slash_command("ping", guild_id=guild_id, channel_id=channel_of(guild_id))


class Client(discord.AutoShardedClient):
    """discord.py's sharded client, recording what the tests wait for."""

    def __init__(self, *, intents: discord.Intents | None = None, **options: Any) -> None:
        super().__init__(intents=intents or discord.Intents.default(), guild_ready_timeout=0.05, **options)
        self.interactions: list[discord.Interaction] = []
        self.ready_shards: set[int] = set()
        self.connected: list[int] = []  # shard ids, once per READY
        self.resumed_shards: list[int] = []
        self._changed = asyncio.Condition()

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """No 5 s sleep: the fake has no identify rate limit."""

    async def _note(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def on_shard_ready(self, shard_id: int) -> None:
        self.ready_shards.add(shard_id)
        await self._note()

    async def on_shard_connect(self, shard_id: int) -> None:
        self.connected.append(shard_id)
        await self._note()

    async def on_shard_resumed(self, shard_id: int) -> None:
        self.resumed_shards.append(shard_id)
        await self._note()

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        self.interactions.append(interaction)
        await self._note()

    async def until(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        async with asyncio.timeout(timeout):
            async with self._changed:
                return await self._changed.wait_for(predicate)

    def sequence(self, shard_id: int) -> int | None:
        """The last sequence number this client's websocket of ``shard_id`` received."""
        return self.shards[shard_id]._parent.ws.sequence


@contextlib.asynccontextmanager
async def running(*clients: Client) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(client.start(TOKEN)) for client in clients]
    try:
        yield
    finally:
        for client in clients:
            await client.close()
        await asyncio.wait_for(asyncio.gather(*tasks), 5)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as fake:
        yield fake


@pytest.fixture
async def gateway(fake: FakeDiscord) -> AsyncIterator[FakeGateway]:
    gateway = FakeGateway(fake, shard_count=2, guilds=[G0, G1])
    with use_fake_discord(fake.api_base, gateway.url):
        yield gateway


async def test_gateway_routes(fake: FakeDiscord) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(fake.api_base + "/gateway/bot", headers={"Authorization": "Bot x"}) as response:
            assert response.status == 404  # no gateway attached: an unknown route, as without this module
        gateway = FakeGateway(fake, shard_count=3)
        async with http.get(fake.api_base + "/gateway") as response:
            assert await response.json() == {"url": gateway.url}
        async with http.get(fake.api_base + "/gateway/bot") as response:
            assert response.status == 401
        async with http.get(fake.api_base + "/gateway/bot", headers={"Authorization": "Bot x"}) as response:
            body = await response.json()
    assert gateway.url == fake.origin.replace("http://", "ws://")
    assert body == {"url": gateway.url, "shards": 3, "session_start_limit": {
        "total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 16}}
    assert [c.known_route for c in fake.calls] == [False, True, True, True]


async def test_sharded_client_gets_each_interaction_on_the_shard_of_its_guild(
    fake: FakeDiscord, gateway: FakeGateway
) -> None:
    intents = discord.Intents.default()
    intents.members = True  # discord.py then chunks every guild before on_ready (op 8)
    client = Client(intents=intents)  # no shard_count: asks GET /gateway/bot
    async with running(client):
        assert await gateway.wait_for_shards({0, 1}) == {0, 1}
        await asyncio.wait_for(client.wait_until_ready(), 5)

        assert client.shard_count == 2 and client.ready_shards == {0, 1}
        assert fake.calls and any(route("GET", "/gateway/bot")(c) for c in fake.calls)
        assert {c.compress for c in gateway.connections} == {"zlib-stream"}  # discord.py asks for zlib-stream
        for guild_id, shard_id in ((G0, 0), (G1, 1)):
            guild = client.get_guild(guild_id)
            assert guild is not None and not guild.unavailable and guild.chunked
            assert guild.shard_id == shard_id
            assert guild.me is not None and guild.me.id == DEFAULT_BOT_USER_ID
            assert [c.id for c in guild.text_channels] == [channel_of(guild_id)]
        assert all(any(p["op"] == 8 for p in c.received) for c in gateway.connections)  # the chunk requests

        payload = command_in(G1)
        assert await gateway.dispatch_interaction(payload) == 1
        interaction = await client.until(lambda: client.interactions and client.interactions[-1])

        assert interaction.guild_id == G1 and interaction.id == int(payload["id"])
        assert interaction._state is client._connection
        guild = interaction.guild
        assert guild is not None and guild.shard_id == 1 and guild is client.get_guild(G1)
        sent = gateway.connection_for(1).dispatched("INTERACTION_CREATE")
        assert [p["d"]["id"] for p in sent] == [payload["id"]]
        assert client.sequence(1) == sent[-1]["s"]  # it came in on the client's shard 1 websocket
        assert gateway.connection_for(0).dispatched("INTERACTION_CREATE") == []

        # the REST fake knows the interaction (its channel), as with interactions.inject
        await interaction.response.send_message("pong")
        callback = await fake.wait_for_callback(interaction.id)
        assert callback.status == 200
        assert callback.response["resource"]["message"]["channel_id"] == str(channel_of(G1))

    closed = await gateway.wait_for_shard_closed(0)
    assert closed.close_code == 1000 and gateway.connected_shards == set()


async def test_shards_split_across_clients(gateway: FakeGateway, fake: FakeDiscord) -> None:
    first, second = Client(shard_count=2, shard_ids=[0]), Client(shard_count=2, shard_ids=[1])
    gateway.heartbeat_interval = 20  # ms: discord.py heartbeats every 20 ms, the fake acknowledges each
    async with running(first):
        async with running(second):
            await gateway.wait_for_shards({0, 1})
            await gateway.wait_until(lambda: all(c.heartbeats >= 3 for c in gateway.live_connections()))
            assert first.latency < 1 and second.latency < 1
            await first.until(lambda: first.ready_shards == {0})
            await second.until(lambda: second.ready_shards == {1})
            assert first.get_guild(G0) is not None and first.get_guild(G1) is None
            assert second.get_guild(G1) is not None and second.get_guild(G0) is None

            await gateway.dispatch_interaction(command_in(G1))
            await second.until(lambda: second.interactions)
            assert second.interactions[0].guild_id == G1 and first.interactions == []

        closed = await gateway.wait_for_shard_closed(1)  # the second client's close ends shard 1
        assert closed.close_code == 1000 and gateway.connected_shards == {0}
        with pytest.raises(ShardNotConnected):
            await gateway.dispatch_interaction(command_in(G1))

        assert await gateway.dispatch_interaction(command_in(G0)) == 0
        interaction = await first.until(lambda: first.interactions and first.interactions[-1])
        assert interaction.guild_id == G0
    # given shard_count, discord.py never asks GET /gateway/bot: it connects to DEFAULT_GATEWAY
    assert not any(c.path.startswith("/gateway") for c in fake.calls)


async def test_reconnect_resumes_and_invalid_session_identifies_again(gateway: FakeGateway) -> None:
    client = Client(shard_count=2, shard_ids=[0])
    async with running(client):
        await gateway.wait_for_shards({0})
        first = gateway.connection_for(0)
        assert first.session is not None

        await gateway.request_reconnect(0)
        await client.until(lambda: client.resumed_shards == [0])
        resumed = gateway.connection_for(0)
        assert resumed is not first and resumed.resumed and resumed.session is first.session
        assert resumed.dispatched() == [{"op": 0, "t": "RESUMED", "s": first.session.seq, "d": {}}]

        await gateway.dispatch_interaction(command_in(G0))
        await client.until(lambda: client.interactions)
        assert client.sequence(0) == first.session.seq  # one sequence across both connections

        await gateway.invalidate_session(0)
        await gateway.wait_until(lambda: len(gateway.identifies) == 2 and gateway.connected_shards == {0})
        fresh = gateway.connection_for(0)
        assert fresh.session is not first.session and not fresh.resumed
        assert [p["t"] for p in fresh.dispatched()] == ["READY", "GUILD_CREATE"]
        await client.until(lambda: client.connected == [0, 0])

        await gateway.disconnect(0)  # 4000 from the server: discord.py resumes
        assert fresh.close_code == 4000 and fresh.closed_by_server
        await client.until(lambda: client.resumed_shards == [0, 0])
        assert gateway.connection_for(0).session is fresh.session


async def receive(ws: aiohttp.ClientWebSocketResponse, inflate: Any = None) -> dict[str, Any]:
    message = await asyncio.wait_for(ws.receive(), 5)
    if message.type == aiohttp.WSMsgType.BINARY:
        assert inflate is not None and message.data.endswith(b"\x00\x00\xff\xff")
        return json.loads(inflate.decompress(message.data))
    assert message.type == aiohttp.WSMsgType.TEXT, message
    return json.loads(message.data)


async def close_code(ws: aiohttp.ClientWebSocketResponse) -> int | None:
    message = await asyncio.wait_for(ws.receive(), 5)
    assert message.type == aiohttp.WSMsgType.CLOSE, message
    return ws.close_code


async def test_protocol(gateway: FakeGateway) -> None:
    identify = {"op": 2, "d": {"token": TOKEN, "intents": 1, "properties": {}, "shard": [1, 2]}}
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(gateway.url + "/?v=10&encoding=json") as ws:
            assert await receive(ws) == {"op": 10, "d": {"heartbeat_interval": 41_250}, "s": None, "t": None}
            await ws.send_json({"op": 1, "d": None})  # heartbeats are fine before IDENTIFY
            assert (await receive(ws))["op"] == 11
            await ws.send_json({"op": 3, "d": {}})
            assert await close_code(ws) == 4003
        await gateway.connections[0].wait_closed()
        assert gateway.connections[0].close_code == 4003 and gateway.connections[0].closed_by_server

        inflate = zlib.decompressobj()
        async with http.ws_connect(gateway.url + "/?v=10&encoding=json&compress=zlib-stream") as ws:
            assert (await receive(ws, inflate))["op"] == 10
            await ws.send_json(identify)
            ready, guild = await receive(ws, inflate), await receive(ws, inflate)
            assert (ready["t"], ready["s"], guild["t"], guild["s"]) == ("READY", 1, "GUILD_CREATE", 2)
            assert ready["d"]["shard"] == [1, 2] and ready["d"]["guilds"] == [{"id": str(G1), "unavailable": True}]
            assert ready["d"]["user"]["id"] == str(DEFAULT_BOT_USER_ID) and ready["d"]["v"] == 10
            assert ready["d"]["resume_gateway_url"] == gateway.url and ready["d"]["application"]["flags"] == 0
            assert guild["d"]["id"] == str(G1) and guild["d"]["unavailable"] is False
            assert shard_of(G1, 2) == 1 and gateway.connected_shards == {1}
            await ws.send_json(identify)
            assert await close_code(ws) == 4005
        session_id = ready["d"]["session_id"]
        await gateway.wait_until(lambda: gateway.connected_shards == set())

        async with http.ws_connect(gateway.url + "/?v=10&encoding=json") as ws:
            await receive(ws)
            await ws.send_json({"op": 6, "d": {"token": TOKEN, "session_id": "nope", "seq": 2}})
            assert await receive(ws) == {"op": 9, "d": False, "s": None, "t": None}
        async with http.ws_connect(gateway.url + "/?v=10&encoding=json") as ws:
            await receive(ws)
            await ws.send_json({"op": 6, "d": {"token": TOKEN, "session_id": session_id, "seq": 1}})
            replayed, resumed = await receive(ws), await receive(ws)  # what came after seq 1, then RESUMED
            assert (replayed["t"], replayed["s"], resumed["t"], resumed["s"]) == ("GUILD_CREATE", 2, "RESUMED", 3)
            assert gateway.connected_shards == {1}
            payload = command_in(G1)
            await gateway.dispatch_interaction(payload)
            assert (await receive(ws))["d"]["id"] == payload["id"]
        async with http.ws_connect(gateway.url + "/?v=9&encoding=json") as ws:
            assert await close_code(ws) == 4012


async def test_bot_in_a_child_process_is_seen_connecting_answering_and_dying(
    fake: FakeDiscord, gateway: FakeGateway, tmp_path: Path
) -> None:
    script = tmp_path / "shard_one.py"
    script.write_text(
        "import discord\n"
        "class Bot(discord.AutoShardedClient):\n"
        "    async def on_interaction(self, interaction):\n"
        "        await interaction.response.send_message(f'pong from shard {interaction.guild.shard_id}')\n"
        "Bot(intents=discord.Intents.default(), shard_count=2, shard_ids=[1]).run('token', log_handler=None)\n"
    )
    log = (tmp_path / "child.log").open("wb")
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.gateway_fake", str(script),
        cwd=REPO, env={**os.environ, **gateway.child_env()}, stdout=log, stderr=log,
    )
    try:
        await gateway.wait_for_shards({1}, timeout=20)
        payload = command_in(G1)
        await gateway.dispatch_interaction(payload)
        callback = await fake.wait_for_callback(int(payload["id"]))
        assert callback.json["data"]["content"] == "pong from shard 1"

        child.kill()  # SIGKILL: no close frame, the fake notices the dropped TCP connection
        closed = await gateway.wait_for_shard_closed(1)
        assert closed.close_code == 1006 and gateway.connected_shards == set()  # abnormal closure
        assert await child.wait() == -9
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
        log.close()
