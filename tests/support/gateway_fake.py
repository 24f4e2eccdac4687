"""A loopback fake of Discord's gateway (the websocket) for end-to-end tests of real bot processes.

Like ``discord_fake.py`` it is written from Discord's documentation (Gateway, Gateway Events, Opcodes
and Status Codes, Sharding), not from discord.py, and it is served by the same aiohttp app as the
REST fake: ``FakeGateway(fake)`` attaches itself to a :class:`~tests.support.discord_fake.FakeDiscord`,
whose ``GET /gateway`` and ``GET /gateway/bot`` then hand out :attr:`FakeGateway.url`
(``ws://127.0.0.1:PORT``, the fake's own port) and whose ``/`` route upgrades to the websocket.

What it models (gateway v10, JSON encoding):

* the handshake: HELLO (op 10, ``heartbeat_interval``), IDENTIFY (op 2) -> the READY dispatch (``v``,
  the fake's bot ``user``, the shard's ``guilds`` as unavailable guilds, ``session_id``,
  ``resume_gateway_url``, ``shard``, ``application {id, flags}``), then one GUILD_CREATE per guild of
  the shard, complete (a text channel, the @everyone role, the bot as a member) so clients mark the
  guild available; HEARTBEAT (op 1) -> HEARTBEAT_ACK (op 11), also before IDENTIFY as Discord allows;
* sharding: a guild belongs to shard ``(guild_id >> 22) % shard_count``, with the ``shard_count``
  the session identified with; DMs go to shard 0. ``GET /gateway/bot`` recommends
  :attr:`FakeGateway.shard_count` shards (clients may still pick their own count, as on Discord);
* sessions: one sequence number per session, counted from 1 (READY); RESUME (op 6) of a known session
  replays the dispatches after the client's ``seq`` and then sends RESUMED; a RESUME of an unknown
  or invalidated session (or any RESUME while :attr:`FakeGateway.resumable` is false) gets INVALID_SESSION
  (op 9, ``d: false``), after which the client must IDENTIFY afresh; a session resumed elsewhere
  closes its old connection;
* server-side events a test can cause: RECONNECT (op 7), INVALID_SESSION (resumable or not), a close
  with any code, a dispatch of any event, INTERACTION_CREATE to the shard owning the guild (registered
  with the REST fake, so the 3 s window and the callbacks work as with ``interactions.inject``);
* Request Guild Members (op 8) -> one GUILD_MEMBERS_CHUNK (needed by clients that chunk at startup);
  Presence Update (op 3) and Voice State Update (op 4) are accepted and recorded;
* close codes: 4001 unknown opcode, 4002 decode error, 4003 not authenticated (a payload other than a
  heartbeat before IDENTIFY/RESUME), 4004 authentication failed (only when ``FakeDiscord.token`` is
  set), 4005 already authenticated, 4007 invalid seq, 4010 invalid shard, 4012 invalid API version
  (``v`` other than 10), 4013 invalid intents (missing or not an integer), 4014 disallowed intents
  (privileged intents not in :attr:`FakeGateway.privileged_intents`, when that is set);
* transport compression: ``compress=zlib-stream`` in the URL query is honoured as documented (one
  zlib context per connection, every payload a binary frame ending in a ``Z_SYNC_FLUSH``). Without it
  payloads are JSON text frames. ``zstd-stream`` is answered with JSON text frames (the standard
  library has no zstd before Python 3.14; discord.py reads text frames whatever it asked for).

What it does not model: ETF encoding (any ``encoding`` but ``json`` is refused with HTTP 400), payload
compression (IDENTIFY's ``compress`` flag is ignored), identify rate limits and ``max_concurrency``
buckets (each IDENTIFY is recorded with its time instead: assert the spacing you need), the 120
payloads/minute send limit (4008), zombie detection (a client that stops heartbeating is not
disconnected; a killed process is noticed through its closed TCP connection), 4009/4011, intents
filtering of events (every event is sent whatever the intents), presences, voice, and every other event
(send them with :meth:`FakeGateway.dispatch`). Events are delivered only to connected sessions:
dispatching to a shard without one raises :class:`ShardNotConnected` rather than queueing.

Using it from a bot that runs in another process: discord.py (2.7) takes REST URLs from
``discord.http.Route.BASE`` and, whenever it has no gateway URL of its own (a plain ``Client``, an
``AutoShardedClient`` given ``shard_count``, any fresh IDENTIFY after INVALID_SESSION), connects to
``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY``. Both must be pointed at the fake before the bot
starts: :func:`use_fake_discord` does it in-process, and ``python -m tests.support.gateway_fake``
does it in a child process from the environment :meth:`FakeGateway.child_env` returns, then runs the
bot (``-m bot`` or a script path). That launcher and :func:`use_fake_discord` are the only parts of
this module that know discord.py; they import it lazily.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import logging
import os
import secrets
import sys
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from .discord_fake import DEFAULT_GUILD_ID, DEFAULT_USER_ID, FakeDiscord, guild_roles

__all__ = [
    "API_BASE_ENV",
    "GATEWAY_URL_ENV",
    "FakeGateway",
    "GatewayConnection",
    "GatewaySession",
    "ShardNotConnected",
    "guild_id_on_shard",
    "shard_of",
    "use_fake_discord",
]

_log = logging.getLogger(__name__)

GATEWAY_VERSION = 10
DEFAULT_HEARTBEAT_INTERVAL_MS = 41_250

API_BASE_ENV = "FAKE_DISCORD_API_BASE"
GATEWAY_URL_ENV = "FAKE_DISCORD_GATEWAY_URL"

# Opcodes (https://discord.com/developers/docs/topics/opcodes-and-status-codes#gateway-gateway-opcodes)
OP_DISPATCH = 0
OP_HEARTBEAT = 1
OP_IDENTIFY = 2
OP_PRESENCE_UPDATE = 3
OP_VOICE_STATE_UPDATE = 4
OP_RESUME = 6
OP_RECONNECT = 7
OP_REQUEST_GUILD_MEMBERS = 8
OP_INVALID_SESSION = 9
OP_HELLO = 10
OP_HEARTBEAT_ACK = 11

# Close codes (ibid., gateway close event codes)
CLOSE_UNKNOWN_ERROR = 4000
CLOSE_UNKNOWN_OPCODE = 4001
CLOSE_DECODE_ERROR = 4002
CLOSE_NOT_AUTHENTICATED = 4003
CLOSE_AUTHENTICATION_FAILED = 4004
CLOSE_ALREADY_AUTHENTICATED = 4005
CLOSE_INVALID_SEQ = 4007
CLOSE_INVALID_SHARD = 4010
CLOSE_INVALID_API_VERSION = 4012
CLOSE_INVALID_INTENTS = 4013
CLOSE_DISALLOWED_INTENTS = 4014

# Privileged intents: GUILD_MEMBERS, GUILD_PRESENCES, MESSAGE_CONTENT
PRIVILEGED_INTENTS = (1 << 1) | (1 << 8) | (1 << 15)

# Permission bits given to @everyone in the fake's guilds (view, send, embed, attach, history,
# reactions, external emojis, application commands, send in threads).
_EVERYONE_PERMISSIONS = (1 << 10) | (1 << 11) | (1 << 14) | (1 << 15) | (1 << 16) | (1 << 6) | (1 << 18) | (
    1 << 31) | (1 << 38)


class ShardNotConnected(AssertionError):
    """No live gateway session of the shard an event is for."""


def shard_of(guild_id: int | str, shard_count: int) -> int:
    """The shard a guild's events go to (Discord's formula)."""
    return (int(guild_id) >> 22) % shard_count


def guild_id_on_shard(shard_id: int, shard_count: int, *, base: int = DEFAULT_GUILD_ID) -> int:
    """A guild id (a snowflake near ``base``) whose events go to ``shard_id`` of ``shard_count``."""
    offset = (shard_id - shard_of(base, shard_count)) % shard_count
    return base + (offset << 22)


def _iso(at: float) -> str:
    return datetime.datetime.fromtimestamp(at, datetime.UTC).isoformat()


class _Close(Exception):
    """Close the connection with a gateway close code."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{code} {reason}")
        self.code, self.reason = code, reason


# ---------------------------------------------------------------------------------------------
# Sessions and connections
# ---------------------------------------------------------------------------------------------


@dataclass(eq=False)
class GatewaySession:
    """One gateway session (from IDENTIFY until invalidated); it outlives its connections when resumed."""

    session_id: str
    shard_id: int
    shard_count: int
    identify: dict[str, Any]
    seq: int = 0
    events: list[dict[str, Any]] = field(default_factory=list, repr=False)  # dispatches sent, for replay
    connection: GatewayConnection | None = field(default=None, repr=False)
    valid: bool = True

    def owns(self, guild_id: int | str | None) -> bool:
        if guild_id is None:
            return self.shard_id == 0
        return shard_of(guild_id, self.shard_count) == self.shard_id


@dataclass(eq=False)
class GatewayConnection:
    """One websocket connection, as the fake saw it."""

    number: int
    query: dict[str, str]
    compress: str | None  # "zlib-stream" when the fake compresses
    ws: web.WebSocketResponse = field(repr=False)
    session: GatewaySession | None = None
    resumed: bool = False  # the session came by RESUME rather than IDENTIFY
    ready: bool = False  # READY/RESUMED (and the guilds) sent: events may flow
    heartbeats: int = 0
    received: list[dict[str, Any]] = field(default_factory=list, repr=False)
    sent: list[dict[str, Any]] = field(default_factory=list, repr=False)
    opened_at: float = field(default_factory=time.monotonic)
    identified_at: float | None = None
    closed_at: float | None = None
    # the code of whoever closed first: the fake's, or the client's (1006 when it vanished, e.g. killed)
    close_code: int | None = None
    closed_by_server: bool = False
    closed: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    _compressor: Any = field(default=None, repr=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    @property
    def shard_id(self) -> int | None:
        return None if self.session is None else self.session.shard_id

    @property
    def shard_count(self) -> int | None:
        return None if self.session is None else self.session.shard_count

    @property
    def live(self) -> bool:
        """Identified (or resumed), guilds sent, and still open."""
        return self.ready and not self.closed.is_set()

    def dispatched(self, event: str | None = None) -> list[dict[str, Any]]:
        """The dispatches (op 0) sent on this connection, optionally only those named ``event``."""
        return [p for p in self.sent if p["op"] == OP_DISPATCH and (event is None or p["t"] == event)]

    async def wait_closed(self, timeout: float = 10.0) -> int | None:
        """Wait for the connection to end; returns its close code."""
        async with asyncio.timeout(timeout):
            await self.closed.wait()
        return self.close_code

    async def close(self, code: int, reason: str = "") -> None:
        """Close from the server side with ``code``."""
        if self.close_code is None and not self.closed.is_set():
            self.close_code, self.closed_by_server = code, True
        await self.ws.close(code=code, message=reason.encode())

    async def send(self, payload: dict[str, Any]) -> None:
        async with self._lock:
            await self._send_locked(payload)

    async def _send_locked(self, payload: dict[str, Any]) -> None:
        self.sent.append(payload)
        text = json.dumps(payload)
        if self._compressor is not None:
            data = self._compressor.compress(text.encode()) + self._compressor.flush(zlib.Z_SYNC_FLUSH)
            await self.ws.send_bytes(data)
        else:
            await self.ws.send_str(text)

    async def dispatch(self, event: str, data: Any) -> dict[str, Any]:
        """Send a dispatch with the session's next sequence number (and keep it for RESUME replays)."""
        session = self.session
        assert session is not None
        async with self._lock:
            session.seq += 1
            payload = {"op": OP_DISPATCH, "t": event, "s": session.seq, "d": data}
            session.events.append(payload)
            await self._send_locked(payload)
        return payload


# ---------------------------------------------------------------------------------------------
# The fake
# ---------------------------------------------------------------------------------------------


class FakeGateway:
    """Loopback fake of Discord's gateway, served by ``fake`` (``FakeGateway(fake, shard_count=2, ...)``)."""

    def __init__(
        self,
        fake: FakeDiscord,
        *,
        shard_count: int = 1,
        guilds: Iterable[int] = (DEFAULT_GUILD_ID,),
        heartbeat_interval: int = DEFAULT_HEARTBEAT_INTERVAL_MS,
    ) -> None:
        if shard_count < 1:
            raise ValueError("shard_count must be at least 1")
        self.fake = fake
        self.shard_count = shard_count  # what GET /gateway/bot recommends
        self.heartbeat_interval = heartbeat_interval  # milliseconds, sent in HELLO
        self.resumable = True  # False: every RESUME gets INVALID_SESSION (false)
        self.ack_heartbeats = True  # False: heartbeats go unanswered (the client sees a zombie connection)
        self.privileged_intents: int | None = None  # privileged intents the app may use; None: all of them
        self.session_start_total = 1000
        self.guilds: dict[int, dict[str, Any]] = {}  # guild id -> its GUILD_CREATE payload
        self.members: dict[int, list[dict[str, Any]]] = {}  # guild id -> every member (the bot first)
        self.connections: list[GatewayConnection] = []
        self.sessions: dict[str, GatewaySession] = {}
        self._changed = asyncio.Condition()
        for guild_id in guilds:
            self.add_guild(guild_id)
        fake.gateway = self

    # -- configuration ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The websocket URL handed out by ``GET /gateway[/bot]`` and as ``resume_gateway_url``."""
        if not self.fake.origin:
            raise RuntimeError("the FakeDiscord serving this gateway has not been started")
        return "ws" + self.fake.origin.removeprefix("http")

    def child_env(self) -> dict[str, str]:
        """Environment for ``python -m tests.support.gateway_fake`` in a child process (see the module doc)."""
        return {API_BASE_ENV: self.fake.api_base, GATEWAY_URL_ENV: self.url}

    def add_guild(
        self,
        guild_id: int,
        *,
        name: str = "Test server",
        channel_ids: Sequence[int] | None = None,
        roles: Mapping[int, str] = {},
        members: Mapping[int, str] = {DEFAULT_USER_ID: "tester"},
        everyone_permissions: int = _EVERYONE_PERMISSIONS,
    ) -> dict[str, Any]:
        """Add a guild the bot is in and return its GUILD_CREATE payload (edit it freely before connecting).

        Its text channels (by default one, ``guild_id + 100``: ``DEFAULT_CHANNEL_ID`` for the default guild)
        are registered with the REST fake too. ``roles`` maps extra role ids to names, ``members`` user ids
        to usernames (the default is the user of ``tests.support.interactions`` payloads). As on Discord
        (without the presences intent) GUILD_CREATE lists only the bot among ``members``, with the full
        ``member_count``; the others come with Request Guild Members (:attr:`members`).
        """
        channel_ids = list(channel_ids) if channel_ids is not None else [guild_id + 100]
        channels = []
        for position, channel_id in enumerate(channel_ids):
            name_ = "general" if position == 0 else f"channel-{position}"
            channel = self.fake.channels.get(channel_id) or self.fake.add_channel(channel_id, guild_id=guild_id,
                                                                                  name=name_)
            channels.append({**channel, "position": position})
        role_objects = guild_roles(guild_id, everyone_permissions, roles)
        joined_at = _iso(self.fake.now())
        users = [self.fake.bot_user()] + [
            {"id": str(user_id), "username": username, "discriminator": "0", "global_name": None, "avatar": None,
             "public_flags": 0}
            for user_id, username in members.items()
        ]
        self.members[guild_id] = [
            {"user": user, "roles": [], "joined_at": joined_at, "nick": None, "avatar": None, "deaf": False,
             "mute": False, "flags": 0, "pending": False, "premium_since": None}
            for user in users
        ]
        payload: dict[str, Any] = {
            "id": str(guild_id), "name": name, "icon": None, "splash": None, "discovery_splash": None,
            "owner_id": str(DEFAULT_USER_ID), "afk_channel_id": None, "afk_timeout": 300,
            "verification_level": 0, "default_message_notifications": 0, "explicit_content_filter": 0,
            "roles": role_objects, "emojis": [], "stickers": [], "features": [], "mfa_level": 0,
            "application_id": None, "system_channel_id": None, "system_channel_flags": 0,
            "rules_channel_id": None, "vanity_url_code": None, "description": None, "banner": None,
            "premium_tier": 0, "preferred_locale": "en-US", "public_updates_channel_id": None,
            "nsfw_level": 0, "premium_progress_bar_enabled": False,
            # GUILD_CREATE's extra fields
            "joined_at": joined_at, "large": False, "unavailable": False,
            "member_count": len(self.members[guild_id]), "members": self.members[guild_id][:1],
            "channels": channels, "threads": [], "presences": [], "voice_states": [],
            "stage_instances": [], "guild_scheduled_events": [], "soundboard_sounds": [],
        }
        self.guilds[guild_id] = payload
        return payload

    def shard_for(self, guild_id: int | str | None) -> int:
        """The shard (of :attr:`shard_count`) that ``guild_id`` belongs to; DMs (``None``) belong to shard 0."""
        return 0 if guild_id is None else shard_of(guild_id, self.shard_count)

    def guilds_on_shard(self, shard_id: int, shard_count: int | None = None) -> list[int]:
        count = shard_count or self.shard_count
        return [g for g in self.guilds if shard_of(g, count) == shard_id]

    def bot_gateway(self) -> dict[str, Any]:
        """The ``GET /gateway/bot`` answer."""
        remaining = max(0, self.session_start_total - len(self.identifies))
        limit = {"total": self.session_start_total, "remaining": remaining, "reset_after": 0, "max_concurrency": 16}
        return {"url": self.url, "shards": self.shard_count, "session_start_limit": limit}

    # -- inspection -------------------------------------------------------------------------

    @property
    def connected_shards(self) -> set[int]:
        """Shard ids with a live (identified or resumed, still open) connection."""
        return {c.shard_id for c in self.connections if c.live and c.shard_id is not None}

    def live_connections(self, shard_id: int | None = None) -> list[GatewayConnection]:
        return [c for c in self.connections if c.live and (shard_id is None or c.shard_id == shard_id)]

    def connection_for(self, shard_id: int) -> GatewayConnection:
        """The live connection of ``shard_id`` (raises :class:`ShardNotConnected` if there is none)."""
        live = self.live_connections(shard_id)
        if not live:
            raise ShardNotConnected(f"shard {shard_id} is not connected; {self.describe()}")
        return live[-1]

    @property
    def identifies(self) -> list[GatewayConnection]:
        """Connections that sent IDENTIFY, in order (``identified_at`` is a ``time.monotonic()``)."""
        return [c for c in self.connections if c.identified_at is not None]

    def describe(self) -> str:
        rows = [
            f"#{c.number} shard={c.shard_id}/{c.shard_count} resumed={c.resumed} ready={c.ready} "
            f"closed={c.close_code if c.closed.is_set() else 'no'}"
            for c in self.connections
        ]
        return "connections: " + ("; ".join(rows) or "(none)")

    # -- waiting ----------------------------------------------------------------------------

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_until(self, predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
        """Wait until ``predicate()`` is truthy (re-checked whenever a connection changes); returns its value."""
        try:
            async with asyncio.timeout(timeout):
                async with self._changed:
                    return await self._changed.wait_for(predicate)
        except TimeoutError:
            raise AssertionError(f"{what} not reached after {timeout}s; {self.describe()}") from None

    async def wait_for_shards(self, shards: Iterable[int], timeout: float = 10.0) -> set[int]:
        """Wait until every shard in ``shards`` is connected (its READY and GUILD_CREATEs sent)."""
        wanted = set(shards)
        await self.wait_until(lambda: wanted <= self.connected_shards, timeout, f"shards {sorted(wanted)} connected")
        return self.connected_shards

    async def wait_for_shard_closed(self, shard_id: int, timeout: float = 10.0) -> GatewayConnection:
        """Wait until ``shard_id`` has no live connection; returns the last connection of that shard that closed."""

        def closed() -> GatewayConnection | None:
            if shard_id in self.connected_shards:
                return None
            ended = [c for c in self.connections if c.shard_id == shard_id and c.closed.is_set()]
            return ended[-1] if ended else None

        return await self.wait_until(closed, timeout, f"shard {shard_id} closed")

    async def wait_for_connections(self, count: int, timeout: float = 10.0) -> list[GatewayConnection]:
        """Wait until at least ``count`` connections have been opened (live or not)."""
        await self.wait_until(lambda: len(self.connections) >= count, timeout, f"{count} connections")
        return self.connections

    # -- server-side events -----------------------------------------------------------------

    async def dispatch(self, event: str, data: Any, *, shard_id: int) -> list[GatewayConnection]:
        """Send the dispatch ``event`` to every live session of ``shard_id`` (normally one)."""
        targets = self.live_connections(shard_id)
        return await self._dispatch_to(targets, event, data, f"shard {shard_id}")

    async def dispatch_to_guild(self, event: str, data: Any, guild_id: int | str | None) -> list[GatewayConnection]:
        """Send ``event`` to the live sessions owning ``guild_id`` (with their own shard counts)."""
        return await self._dispatch_to(self._owners(guild_id), event, data, self._owner_name(guild_id))

    def _owners(self, guild_id: int | str | None) -> list[GatewayConnection]:
        return [c for c in self.live_connections() if c.session is not None and c.session.owns(guild_id)]

    def _owner_name(self, guild_id: int | str | None) -> str:
        return f"shard {self.shard_for(guild_id)} (of {self.shard_count}, owner of guild {guild_id})"

    async def _dispatch_to(
        self, targets: list[GatewayConnection], event: str, data: Any, where: str
    ) -> list[GatewayConnection]:
        if not targets:
            raise ShardNotConnected(f"cannot send {event}: {where} is not connected; {self.describe()}")
        delivered = []
        for connection in targets:
            try:
                await connection.dispatch(event, data)
            except (ConnectionError, RuntimeError):  # closed under us
                continue
            delivered.append(connection)
        if not delivered:
            raise ShardNotConnected(f"cannot send {event}: {where} closed while sending; {self.describe()}")
        return delivered

    async def dispatch_interaction(self, payload: dict[str, Any]) -> int:
        """Deliver an INTERACTION_CREATE (a payload from ``tests.support.interactions``) to the shard owning its
        ``guild_id`` (shard 0 for DMs) and register it with the REST fake; returns that shard id.

        Raises :class:`ShardNotConnected` if no live session owns the guild.
        """
        guild_id = payload.get("guild_id")
        owners = self._owners(guild_id)
        if not owners:  # checked before the REST fake learns of an interaction that is never delivered
            raise ShardNotConnected(f"cannot send INTERACTION_CREATE: {self._owner_name(guild_id)} is not connected; "
                                    f"{self.describe()}")
        self.fake.register_interaction(payload)
        delivered = await self._dispatch_to(owners, "INTERACTION_CREATE", payload, self._owner_name(guild_id))
        return delivered[0].shard_id or 0

    async def request_reconnect(self, shard_id: int) -> None:
        """Send RECONNECT (op 7) to ``shard_id``: the client should close and RESUME."""
        await self.connection_for(shard_id).send({"op": OP_RECONNECT, "d": None, "s": None, "t": None})

    async def invalidate_session(self, shard_id: int, *, resumable: bool = False) -> None:
        """Send INVALID_SESSION (op 9) to ``shard_id``; unless ``resumable`` the session is gone for good."""
        connection = self.connection_for(shard_id)
        if not resumable and connection.session is not None:
            connection.session.valid = False
        await connection.send({"op": OP_INVALID_SESSION, "d": resumable, "s": None, "t": None})

    async def disconnect(self, shard_id: int, code: int = CLOSE_UNKNOWN_ERROR, *, invalidate: bool = False) -> None:
        """Close ``shard_id``'s connection from the server side with ``code`` (4000: the client may RESUME)."""
        connection = self.connection_for(shard_id)
        if invalidate and connection.session is not None:
            connection.session.valid = False
        await connection.close(code)
        await connection.wait_closed()

    async def close(self, code: int = 1001) -> None:
        """Close every open connection (the REST fake does this when it stops)."""
        open_ = [c for c in self.connections if not c.closed.is_set()]
        await asyncio.gather(*(c.close(code) for c in open_), return_exceptions=True)

    # -- the websocket ----------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The websocket route (``FakeDiscord`` delegates ``GET /`` here)."""
        encoding = request.query.get("encoding", "json")
        if encoding != "json":
            raise web.HTTPBadRequest(text=f"encoding {encoding!r} is not supported by the fake gateway")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        compress = request.query.get("compress")
        connection = GatewayConnection(
            number=len(self.connections), query=dict(request.query),
            compress="zlib-stream" if compress == "zlib-stream" else None, ws=ws,
        )
        if connection.compress:
            connection._compressor = zlib.compressobj()
        self.connections.append(connection)
        await self._notify()
        try:
            await self._serve(connection, request)
        except _Close as close:
            _log.debug("fake gateway closes connection #%s: %s", connection.number, close)
            await connection.close(close.code, close.reason)
        except (ConnectionError, RuntimeError) as error:  # the peer went away mid-send
            _log.debug("fake gateway connection #%s lost: %r", connection.number, error)
        finally:
            if not ws.closed:
                await ws.close()
            if connection.close_code is None:
                connection.close_code = ws.close_code
            connection.closed_at = time.monotonic()
            connection.closed.set()
            session = connection.session
            if session is not None and session.connection is connection:
                session.connection = None
            await self._notify()
        return ws

    async def _serve(self, connection: GatewayConnection, request: web.Request) -> None:
        if request.query.get("v") != str(GATEWAY_VERSION):
            raise _Close(CLOSE_INVALID_API_VERSION, "Invalid API version")
        hello = {"op": OP_HELLO, "d": {"heartbeat_interval": self.heartbeat_interval}, "s": None, "t": None}
        await connection.send(hello)
        async for message in connection.ws:
            if message.type != WSMsgType.TEXT:
                if message.type == WSMsgType.BINARY:
                    raise _Close(CLOSE_DECODE_ERROR, "Error while decoding payload.")
                break  # close / error: the loop ends
            try:
                payload = json.loads(message.data)
                op = payload["op"]
            except (ValueError, TypeError, KeyError):
                raise _Close(CLOSE_DECODE_ERROR, "Error while decoding payload.") from None
            connection.received.append(payload)
            await self._received(connection, op, payload.get("d"))
            await self._notify()

    async def _received(self, connection: GatewayConnection, op: Any, data: Any) -> None:
        if op == OP_HEARTBEAT:
            connection.heartbeats += 1
            if self.ack_heartbeats:
                await connection.send({"op": OP_HEARTBEAT_ACK, "d": None, "s": None, "t": None})
        elif op == OP_IDENTIFY:
            await self._identify(connection, data)
        elif op == OP_RESUME:
            await self._resume(connection, data)
        elif op not in (OP_PRESENCE_UPDATE, OP_VOICE_STATE_UPDATE, OP_REQUEST_GUILD_MEMBERS):
            raise _Close(CLOSE_UNKNOWN_OPCODE, "Unknown opcode.")
        elif connection.session is None:
            raise _Close(CLOSE_NOT_AUTHENTICATED, "Not authenticated.")
        elif op == OP_REQUEST_GUILD_MEMBERS:
            await self._members_chunk(connection, data if isinstance(data, dict) else {})

    def _check_token(self, data: dict[str, Any]) -> None:
        token = data.get("token")
        if not isinstance(token, str) or (self.fake.token is not None and token != self.fake.token):
            raise _Close(CLOSE_AUTHENTICATION_FAILED, "Authentication failed.")

    async def _identify(self, connection: GatewayConnection, data: Any) -> None:
        if connection.session is not None:
            raise _Close(CLOSE_ALREADY_AUTHENTICATED, "Already authenticated.")
        if not isinstance(data, dict):
            raise _Close(CLOSE_DECODE_ERROR, "Error while decoding payload.")
        self._check_token(data)
        intents = data.get("intents")
        if not isinstance(intents, int) or isinstance(intents, bool) or intents < 0:
            raise _Close(CLOSE_INVALID_INTENTS, "Invalid intent(s).")
        if self.privileged_intents is not None and intents & PRIVILEGED_INTENTS & ~self.privileged_intents:
            raise _Close(CLOSE_DISALLOWED_INTENTS, "Disallowed intent(s).")
        shard = data.get("shard", [0, 1])
        valid_shard = (isinstance(shard, list) and len(shard) == 2 and all(isinstance(n, int) for n in shard)
                       and shard[1] >= 1 and 0 <= shard[0] < shard[1])
        if not valid_shard:
            raise _Close(CLOSE_INVALID_SHARD, "Invalid shard.")
        connection.identified_at = time.monotonic()
        session = GatewaySession(secrets.token_hex(16), shard[0], shard[1], identify=data)
        self.sessions[session.session_id] = session
        connection.session, session.connection = session, connection
        guild_ids = [g for g in self.guilds if session.owns(g)]
        ready = {
            "v": GATEWAY_VERSION,
            "user": self.fake.bot_user(),
            "guilds": [{"id": str(g), "unavailable": True} for g in guild_ids],
            "session_id": session.session_id,
            "resume_gateway_url": self.url,
            "shard": [session.shard_id, session.shard_count],
            "application": {"id": str(self.fake.app_id), "flags": self.fake.application()["flags"]},
        }
        await connection.dispatch("READY", ready)
        for guild_id in guild_ids:
            await connection.dispatch("GUILD_CREATE", self.guilds[guild_id])
        connection.ready = True

    async def _resume(self, connection: GatewayConnection, data: Any) -> None:
        if connection.session is not None:
            raise _Close(CLOSE_ALREADY_AUTHENTICATED, "Already authenticated.")
        if not isinstance(data, dict):
            raise _Close(CLOSE_DECODE_ERROR, "Error while decoding payload.")
        self._check_token(data)
        session = self.sessions.get(str(data.get("session_id")))
        if session is None or not session.valid or not self.resumable:
            await connection.send({"op": OP_INVALID_SESSION, "d": False, "s": None, "t": None})
            return
        seq = data.get("seq")
        seq = 0 if seq is None else seq
        if not isinstance(seq, int) or seq > session.seq:
            raise _Close(CLOSE_INVALID_SEQ, "Invalid seq.")
        previous = session.connection
        connection.session, session.connection, connection.resumed = session, connection, True
        if previous is not None and not previous.closed.is_set():
            await previous.close(CLOSE_UNKNOWN_ERROR, "Session resumed elsewhere")
        async with connection._lock:
            for event in [e for e in session.events if e["s"] > seq]:
                await connection._send_locked(event)
        await connection.dispatch("RESUMED", {})
        connection.ready = True

    async def _members_chunk(self, connection: GatewayConnection, data: dict[str, Any]) -> None:
        raw = str(data.get("guild_id"))
        guild_id = int(raw) if raw.isdigit() else None
        if guild_id not in self.members or connection.session is None or not connection.session.owns(guild_id):
            return
        members = list(self.members[guild_id])
        user_ids = data.get("user_ids")
        chunk: dict[str, Any] = {"guild_id": str(guild_id), "chunk_index": 0, "chunk_count": 1}
        if user_ids is not None:
            wanted = {str(u) for u in (user_ids if isinstance(user_ids, list) else [user_ids])}
            members = [m for m in members if m["user"]["id"] in wanted]
            chunk["not_found"] = sorted(wanted - {m["user"]["id"] for m in members})
        else:
            query = str(data.get("query") or "").lower()
            members = [m for m in members if m["user"]["username"].lower().startswith(query)]
        limit = data.get("limit") or 0
        chunk["members"] = members[:limit] if limit else members
        if data.get("presences"):
            chunk["presences"] = []
        if data.get("nonce") is not None:
            chunk["nonce"] = data["nonce"]
        await connection.dispatch("GUILD_MEMBERS_CHUNK", chunk)


# ---------------------------------------------------------------------------------------------
# Wiring discord.py to the fake (the only discord.py-specific code; imported lazily)
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def use_fake_discord(api_base: str, gateway_url: str) -> Iterator[None]:
    """Point discord.py's REST base (``Route.BASE``) and default gateway (``DEFAULT_GATEWAY``) at the fakes.

    ``api_base`` is ``FakeDiscord.api_base`` and ``gateway_url`` is ``FakeGateway.url``. Both are restored
    on exit. discord.py connects to ``DEFAULT_GATEWAY`` rather than asking ``GET /gateway/bot`` in most
    cases (see the module doc), so setting ``Route.BASE`` alone is not enough.
    """
    import discord.gateway
    import yarl

    from .interactions import discord_api  # also checks the discord.py version

    previous = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
    try:
        with discord_api(api_base):
            yield
    finally:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = previous


_USAGE = f"""usage: {API_BASE_ENV}=... {GATEWAY_URL_ENV}=... \\
    python -m tests.support.gateway_fake (-m MODULE | SCRIPT) [ARGS...]

Runs MODULE (as python -m would) or SCRIPT with discord.py pointed at a FakeDiscord and its FakeGateway
(the environment comes from FakeGateway.child_env())."""


def main(argv: Sequence[str]) -> None:
    """The child-process launcher: ``python -m tests.support.gateway_fake -m bot``."""
    import runpy

    args = list(argv)
    api_base, gateway_url = os.environ.get(API_BASE_ENV), os.environ.get(GATEWAY_URL_ENV)
    runnable = bool(args) and args[0] not in ("-h", "--help") and (args[0] != "-m" or len(args) >= 2)
    if not runnable or not api_base or not gateway_url:
        sys.exit(_USAGE)
    with use_fake_discord(api_base, gateway_url):
        if args[0] == "-m":
            sys.argv = [args[1], *args[2:]]
            runpy.run_module(args[1], run_name="__main__", alter_sys=True)
        else:
            sys.argv = args
            runpy.run_path(args[0], run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
