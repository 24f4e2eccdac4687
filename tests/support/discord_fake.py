"""A loopback fake of Discord's REST API for end-to-end tests.

The fake is written from Discord's API documentation, not from discord.py: it knows nothing about the
library. Point ``discord.http.Route.BASE`` at :attr:`FakeDiscord.api_base` (see
``tests.support.interactions.discord_api``) and the real bot talks to it over real HTTP.

What it models:

* login (``GET /users/@me``, ``GET /oauth2/applications/@me``), text channels, channel messages,
  interaction callbacks, the interaction webhook (follow-ups, ``@original``), command sync;
* the rules that bite in production: the 3 s window for the first response (404/10062), one
  response per interaction (400/40060), the 15 min token lifetime (401/50027), the per-file upload
  limit (413/40005), at most 10 files, missing permissions (403/50013), unknown messages
  (404/10008), empty messages (400/50006) and the message, embed, modal, autocomplete and
  command-schema limits (400/50035 "Invalid Form Body");
* scripted failures and 429s (always with a ``Via`` header, so discord.py retries them).

``GET /gateway``, ``GET /gateway/bot`` and the gateway websocket answer once a ``FakeGateway``
(``tests.support.gateway_fake``) is attached; without one they are unknown routes (404). The websocket
is not recorded as a :class:`Call`: the gateway keeps its own records.

Every request, known route or not, is recorded as a :class:`Call` in :attr:`FakeDiscord.calls`.
``Call.path`` is relative to the API base (``/channels/1/messages``), ``Call.json`` is the JSON body
(or the ``payload_json`` part of a multipart body; a list for command sync) and ``Call.files`` holds
the uploaded ``files[n]`` parts. Wait for calls with :meth:`FakeDiscord.wait_for`, never with sleeps.
A call is recorded when the fake has decided its answer, i.e. before the bot has read that answer:
use ``tests.support.interactions.settle()`` when the next step needs the bot to have processed it.

Avoid scripting 5xx answers: discord.py retries them after sleeping 1, 3, 5... seconds.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import itertools
import json
import logging
import mimetypes
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import BodyPartReader, web

if TYPE_CHECKING:
    from .gateway_fake import FakeGateway

__all__ = [
    "API_PREFIX",
    "DEFAULT_APP_ID",
    "DEFAULT_BOT_USER_ID",
    "DEFAULT_CHANNEL_ID",
    "DEFAULT_GUILD_ID",
    "DEFAULT_USER_ID",
    "DISCORD_EPOCH_MS",
    "MiB",
    "Call",
    "DiscordError",
    "FakeDiscord",
    "Upload",
    "callback_for",
    "followup_for",
    "guild_roles",
    "message_object",
    "random_token",
    "route",
    "snowflake",
    "snowflake_time",
]

# Bot processes open hundreds of connections at once in a rush: past aiohttp's default accept queue (128)
# the kernel drops them and clients retry a second later, which would look like the bot's own latency.
BACKLOG = 4096

_log = logging.getLogger(__name__)

API_PREFIX = "/api/v10"
DISCORD_EPOCH_MS = 1_420_070_400_000
MiB = 1024 * 1024

# Modern applications share their id with their bot user.
DEFAULT_APP_ID = 1_310_000_000_000_000_001
DEFAULT_BOT_USER_ID = DEFAULT_APP_ID
DEFAULT_GUILD_ID = 1_310_000_000_000_000_100
DEFAULT_CHANNEL_ID = 1_310_000_000_000_000_200
DEFAULT_USER_ID = 1_310_000_000_000_000_300

# Message flags (https://discord.com/developers/docs/resources/message#message-object-message-flags)
FLAG_SUPPRESS_EMBEDS = 1 << 2
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_SUPPRESS_NOTIFICATIONS = 1 << 12
FLAG_COMPONENTS_V2 = 1 << 15
_SENDABLE_FLAGS = FLAG_SUPPRESS_EMBEDS | FLAG_EPHEMERAL | FLAG_SUPPRESS_NOTIFICATIONS | FLAG_COMPONENTS_V2

INTERACTION_RESPONSE_WINDOW = 3.0
INTERACTION_TOKEN_LIFETIME = 15 * 60.0

# ---------------------------------------------------------------------------------------------
# Snowflakes
# ---------------------------------------------------------------------------------------------

_sequence = itertools.count()


def snowflake(at: float | None = None) -> int:
    """A Discord snowflake for Unix time ``at`` (default: now); ids are unique within the process."""
    ms = int((time.time() if at is None else at) * 1000) - DISCORD_EPOCH_MS
    return (ms << 22) | (next(_sequence) & 0x3FFFFF)


def snowflake_time(value: int | str) -> float:
    """Unix time (seconds) encoded in a snowflake."""
    return ((int(value) >> 22) + DISCORD_EPOCH_MS) / 1000


def _iso(at: float) -> str:
    return datetime.datetime.fromtimestamp(at, datetime.timezone.utc).isoformat()


# ---------------------------------------------------------------------------------------------
# Recorded requests
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    """One ``files[n]`` part of a multipart request."""

    field: str
    filename: str
    content_type: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass
class Call:
    """One request received by the fake, with the answer it got."""

    method: str
    path: str
    json: Any = None
    files: list[Upload] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    status: int = 0
    response: Any = None
    known_route: bool = True
    at: float = field(default_factory=time.perf_counter)  # when the request arrived (for benchmarks)

    def __str__(self) -> str:
        return f"{self.method} {self.path} -> {self.status}"


Predicate = Callable[[Call], bool]


def route(method: str, path_pattern: str) -> Predicate:
    """Predicate: ``method`` and a path fully matching the regex ``path_pattern``."""
    regex = re.compile(path_pattern)

    def matches(call: Call) -> bool:
        return call.method == method and regex.fullmatch(call.path) is not None

    matches.__name__ = f"{method} {path_pattern}"  # shown by wait_for on timeout
    return matches


def callback_for(interaction_id: int) -> Predicate:
    """Predicate: the interaction callback (first response) for ``interaction_id``."""
    return route("POST", rf"/interactions/{interaction_id}/[^/]+/callback")


def followup_for(token: str) -> Predicate:
    """Predicate: a follow-up message posted with the interaction ``token``."""
    return route("POST", rf"/webhooks/\d+/{re.escape(token)}")


# ---------------------------------------------------------------------------------------------
# Errors and validation
# ---------------------------------------------------------------------------------------------


class DiscordError(Exception):
    """An error answer in Discord's shape: ``{"code": ..., "message": ...[, "errors": ...]}``."""

    def __init__(self, status: int, code: int, message: str, errors: dict[str, Any] | None = None):
        super().__init__(f"{status} {code} {message}")
        self.status, self.code, self.message, self.errors = status, code, message, errors

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.errors:
            body["errors"] = self.errors
        return body


def _unknown_message() -> DiscordError:
    return DiscordError(404, 10008, "Unknown Message")


def _unknown_webhook() -> DiscordError:
    return DiscordError(404, 10015, "Unknown Webhook")


def _invalid_webhook_token() -> DiscordError:
    return DiscordError(401, 50027, "Invalid Webhook Token")


Problem = tuple[str, str, str]  # (dotted path, error code, message)


def _form_error(problems: list[Problem]) -> DiscordError:
    """400/50035 with Discord's nested ``errors`` object (what discord.py flattens into its message)."""
    errors: dict[str, Any] = {}
    for path, code, message in problems:
        node = errors
        for part in path.split("."):
            node = node.setdefault(part, {})
        node.setdefault("_errors", []).append({"code": code, "message": message})
    return DiscordError(400, 50035, "Invalid Form Body", errors)


def _too_long(path: str, value: Any, limit: int) -> list[Problem]:
    if isinstance(value, (str, list)) and len(value) > limit:
        return [(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")]
    return []


_EMBED_TEXT_LIMITS = {"title": 256, "description": 4096}


def _embed_text_length(embed: dict[str, Any]) -> int:
    texts = [embed.get("title"), embed.get("description")]
    texts += [(embed.get("footer") or {}).get("text"), (embed.get("author") or {}).get("name")]
    for fld in embed.get("fields") or []:
        texts += [fld.get("name"), fld.get("value")]
    return sum(len(t) for t in texts if isinstance(t, str))


def _embed_problems(index: int, embed: dict[str, Any]) -> list[Problem]:
    base = f"embeds.{index}"
    problems: list[Problem] = []
    for key, limit in _EMBED_TEXT_LIMITS.items():
        problems += _too_long(f"{base}.{key}", embed.get(key), limit)
    problems += _too_long(f"{base}.footer.text", (embed.get("footer") or {}).get("text"), 2048)
    problems += _too_long(f"{base}.author.name", (embed.get("author") or {}).get("name"), 256)
    fields = embed.get("fields") or []
    problems += _too_long(f"{base}.fields", fields, 25)
    for n, fld in enumerate(fields):
        problems += _too_long(f"{base}.fields.{n}.name", fld.get("name"), 256)
        problems += _too_long(f"{base}.fields.{n}.value", fld.get("value"), 1024)
    return problems


def _component_problems(components: list[dict[str, Any]], flags: int) -> list[Problem]:
    problems: list[Problem] = []
    if not flags & FLAG_COMPONENTS_V2:
        problems += _too_long("components", components, 5)
    stack = [(f"components.{i}", c) for i, c in enumerate(components)]
    while stack:
        path, comp = stack.pop()
        problems += _too_long(f"{path}.custom_id", comp.get("custom_id"), 100)
        if comp.get("type") == 2:
            problems += _too_long(f"{path}.label", comp.get("label"), 80)
        stack += [(f"{path}.components.{i}", c) for i, c in enumerate(comp.get("components") or [])]
    return problems


def _message_problems(body: dict[str, Any]) -> list[Problem]:
    """Discord's limits for a message body (content, embeds, components)."""
    problems = _too_long("content", body.get("content"), 2000)
    embeds = body.get("embeds") or []
    problems += _too_long("embeds", embeds, 10)
    for index, embed in enumerate(embeds):
        problems += _embed_problems(index, embed)
    if sum(_embed_text_length(e) for e in embeds) > 6000:
        problems.append(("embeds", "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000"))
    problems += _component_problems(body.get("components") or [], int(body.get("flags") or 0))
    return problems


def _is_empty_message(body: dict[str, Any], uploads: list[Upload]) -> bool:
    keys = ("content", "embeds", "components", "sticker_ids", "poll")
    return not uploads and not any(body.get(key) for key in keys)


def _modal_problems(data: dict[str, Any]) -> list[Problem]:
    problems = _too_long("data.title", data.get("title"), 45)
    problems += _too_long("data.custom_id", data.get("custom_id"), 100)
    components = data.get("components") or []
    if not 1 <= len(components) <= 5:
        problems.append(("data.components", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length."))
    for index, comp in enumerate(components):
        inner = [comp.get("component")] if comp.get("type") == 18 else comp.get("components") or []
        for item in filter(None, inner):
            path = f"data.components.{index}"
            problems += _too_long(f"{path}.custom_id", item.get("custom_id"), 100)
            if item.get("type") == 4 and int(item.get("max_length") or 0) > 4000:
                problems.append((f"{path}.max_length", "NUMBER_TYPE_MAX", "int value should be <= 4000."))
    return problems


_COMMAND_NAME = re.compile(r"[-_'\w]{1,32}")


def _name_problems(path: str, item: dict[str, Any], *, chat_input: bool) -> list[Problem]:
    name = str(item.get("name", ""))
    problems: list[Problem] = []
    if chat_input and (not _COMMAND_NAME.fullmatch(name) or name != name.lower()):
        problems.append((f"{path}.name", "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid"))
    if chat_input and not 1 <= len(item.get("description") or "") <= 100:
        problems.append((f"{path}.description", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."))
    return problems


def _options_problems(path: str, options: list[dict[str, Any]]) -> list[Problem]:
    problems = _too_long(path, options, 25)
    names = [o.get("name") for o in options]
    if len(set(names)) != len(names):
        problems.append((path, "APPLICATION_COMMANDS_DUPLICATE_NAME", "Application command names must be unique"))
    seen_optional = False
    for index, option in enumerate(options):
        opath = f"{path}.{index}"
        problems += _name_problems(opath, option, chat_input=True)
        problems += _too_long(f"{opath}.choices", option.get("choices") or [], 25)
        if option.get("autocomplete") and option.get("choices"):
            problems.append((f"{opath}.autocomplete", "AUTOCOMPLETE_AND_CHOICES", "Autocomplete and choices"))
        if option.get("type") in (1, 2):
            problems += _options_problems(f"{opath}.options", option.get("options") or [])
            continue
        if option.get("required") and seen_optional:
            message = "Required options must be placed before non-required options"
            problems.append((opath, "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID", message))
        seen_optional = seen_optional or not option.get("required")
    return problems


def _command_problems(commands: list[dict[str, Any]]) -> list[Problem]:
    """The schema rules Discord enforces on a bulk overwrite of application commands."""
    problems: list[Problem] = []
    chat_inputs = [c for c in commands if c.get("type", 1) == 1]
    problems += _too_long("", chat_inputs, 100)
    keys = [(c.get("type", 1), c.get("name")) for c in commands]
    if len(set(keys)) != len(keys):
        problems.append(("_", "APPLICATION_COMMANDS_DUPLICATE_NAME", "Application command names must be unique"))
    for index, command in enumerate(commands):
        chat_input = command.get("type", 1) == 1
        problems += _name_problems(str(index), command, chat_input=chat_input)
        problems += _options_problems(f"{index}.options", command.get("options") or [])
    return [(p.strip(".") or "_", c, m) for p, c, m in problems]


# ---------------------------------------------------------------------------------------------
# Discord objects
# ---------------------------------------------------------------------------------------------


def guild_roles(guild_id: int, everyone_permissions: int, roles: Mapping[int, str]) -> list[dict[str, Any]]:
    """A guild's role objects as GUILD_CREATE carries them: @everyone (whose id is the guild's) and ``roles``
    (id → name, no permissions of their own)."""
    everyone = {"id": str(guild_id), "name": "@everyone", "permissions": str(everyone_permissions), "position": 0}
    objects = [everyone] + [
        {"id": str(role_id), "name": role_name, "permissions": "0", "position": n}
        for n, (role_id, role_name) in enumerate(roles.items(), start=1)
    ]
    for role in objects:
        role.update(color=0, colors={"primary_color": 0}, hoist=False, managed=False, mentionable=True, flags=0)
    return objects


def message_object(
    *,
    message_id: int,
    channel_id: int,
    author: dict[str, Any],
    content: str = "",
    embeds: list[dict[str, Any]] | None = None,
    components: list[dict[str, Any]] | None = None,
    attachments: list[dict[str, Any]] | None = None,
    flags: int = 0,
    message_type: int = 0,
    tts: bool = False,
    created_at: float | None = None,
) -> dict[str, Any]:
    """A message object as Discord's REST API returns it (complete enough for ``discord.Message``)."""
    return {
        "id": str(message_id),
        "channel_id": str(channel_id),
        "type": message_type,
        "content": content,
        "author": author,
        "attachments": attachments or [],
        "embeds": embeds or [],
        "mentions": [],
        "mention_roles": [],
        "mention_everyone": False,
        "pinned": False,
        "tts": tts,
        "timestamp": _iso(snowflake_time(message_id) if created_at is None else created_at),
        "edited_timestamp": None,
        "flags": flags,
        "components": components or [],
    }


@dataclass
class _Interaction:
    """What the fake knows about one interaction (from its payload and/or its callback)."""

    id: int
    token: str
    payload: dict[str, Any] | None = None
    response_type: int | None = None
    original_id: int | None = None
    message_ids: list[int] = field(default_factory=list)

    @property
    def created_at(self) -> float:
        return snowflake_time(self.id)

    @property
    def channel_id(self) -> int:
        payload = self.payload or {}
        raw = payload.get("channel_id") or (payload.get("channel") or {}).get("id") or DEFAULT_CHANNEL_ID
        return int(raw)

    @property
    def source_message(self) -> dict[str, Any] | None:
        return (self.payload or {}).get("message")

    def user(self) -> dict[str, Any] | None:
        payload = self.payload or {}
        return (payload.get("member") or {}).get("user") or payload.get("user")


@dataclass
class _ScriptedFailure:
    match: Predicate
    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    times: int


Handler = Callable[[web.Request, Call], Awaitable[web.StreamResponse]]
_CALL = web.RequestKey("call", Call)


def _json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # body= (not text=): with text= aiohttp appends "; charset=utf-8", and discord.py only parses
    # a Content-Type of exactly "application/json".
    return web.Response(
        body=json.dumps(payload).encode(), status=status, content_type="application/json", headers=headers
    )


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true")


# ---------------------------------------------------------------------------------------------
# The fake
# ---------------------------------------------------------------------------------------------


class FakeDiscord:
    """Loopback fake of Discord's REST API (``async with FakeDiscord() as fake: ...``)."""

    def __init__(
        self,
        *,
        app_id: int = DEFAULT_APP_ID,
        bot_user_id: int = DEFAULT_BOT_USER_ID,
        guild_id: int = DEFAULT_GUILD_ID,
        bot_name: str = "Chorus",
        token: str | None = None,
    ) -> None:
        self.app_id = app_id
        self.bot_user_id = bot_user_id
        self.guild_id = guild_id  # the guild of channels nobody told the fake about
        self.bot_name = bot_name
        self.token = token  # None: any bot token is accepted
        self.upload_limit = 10 * MiB
        self.max_files = 10
        self.interaction_window = INTERACTION_RESPONSE_WINDOW
        self.token_lifetime = INTERACTION_TOKEN_LIFETIME
        self.forbidden_channels: set[int] = set()
        self.deleted_channels: set[int] = set()  # 404 Unknown Channel (10003) for anything posted there
        self.closed_dms: set[int] = set()  # users who do not accept DMs from the bot (403, 50007)
        # (messages, seconds) per channel for POST /channels/{id}/messages, announced in X-RateLimit-*
        # headers as Discord does; going over answers 429 (with Via, so discord.py waits and retries).
        self.channel_rate_limit: tuple[int, float] | None = None
        self.rate_limited: list[int] = []  # channels that answered a 429 for going over the limit
        self.nonce_window = 120.0  # seconds within which an enforced nonce returns the earlier message
        self._stalls: list[Predicate] = []
        self._lost_answers: list[tuple[Predicate, int]] = []
        self._released: asyncio.Event | None = None
        self.clock_offset = 0.0

        self.calls: list[Call] = []
        self.messages: dict[int, dict[str, Any]] = {}
        self.edits: dict[int, list[dict[str, Any]]] = {}
        self.channels: dict[int, dict[str, Any]] = {}
        self.commands: dict[int | None, list[dict[str, Any]]] = {}
        self.attachment_data: dict[int, bytes] = {}
        self.channel_message_ids: list[int] = []

        self._interactions: dict[int, _Interaction] = {}
        self._by_token: dict[str, _Interaction] = {}
        self._command_ids: dict[tuple[int | None, int, str], int] = {}
        self._failures: list[_ScriptedFailure] = []
        self._rate_windows: dict[int, list[float]] = {}
        self._dm_channels: dict[int, int] = {}
        self._changed: asyncio.Condition | None = None
        self._runner: web.AppRunner | None = None
        self.origin = ""
        self.api_base = ""
        # Set by FakeGateway(self): it answers GET /gateway[/bot] and the websocket on "/" (404s without it).
        self.gateway: FakeGateway | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Serve on 127.0.0.1 on an ephemeral port; sets :attr:`origin` and :attr:`api_base`."""
        self._changed = asyncio.Condition()
        self._released = asyncio.Event()
        self._runner = web.AppRunner(self._build_app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=BACKLOG)
        await site.start()
        port = self._runner.addresses[0][1]
        self.origin = f"http://127.0.0.1:{port}"
        self.api_base = self.origin + API_PREFIX

    async def stop(self) -> None:
        if self._released is not None:
            self._released.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def _build_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * MiB, middlewares=[self._middleware])
        api = [
            ("GET", "/users/@me", self._get_me, True),
            ("GET", "/oauth2/applications/@me", self._get_application, True),
            ("GET", "/channels/{channel_id}", self._get_channel, True),
            ("POST", "/users/@me/channels", self._create_dm, True),
            ("POST", "/channels/{channel_id}/messages", self._create_channel_message, True),
            ("GET", "/channels/{channel_id}/messages/{message_id}", self._get_channel_message, True),
            ("PATCH", "/channels/{channel_id}/messages/{message_id}", self._edit_channel_message, True),
            ("DELETE", "/channels/{channel_id}/messages/{message_id}", self._delete_channel_message, True),
            ("POST", "/channels/{channel_id}/messages/{message_id}/threads", self._start_thread, True),
            ("POST", "/interactions/{interaction_id}/{token}/callback", self._interaction_callback, False),
            ("POST", "/webhooks/{app_id}/{token}", self._execute_webhook, False),
            ("GET", "/webhooks/{app_id}/{token}/messages/{message_id}", self._get_webhook_message, False),
            ("PATCH", "/webhooks/{app_id}/{token}/messages/{message_id}", self._edit_webhook_message, False),
            ("DELETE", "/webhooks/{app_id}/{token}/messages/{message_id}", self._delete_webhook_message, False),
            ("GET", "/applications/{app_id}/commands", self._get_commands, True),
            ("PUT", "/applications/{app_id}/commands", self._put_commands, True),
            ("GET", "/applications/{app_id}/guilds/{guild_id}/commands", self._get_commands, True),
            ("PUT", "/applications/{app_id}/guilds/{guild_id}/commands", self._put_commands, True),
            ("GET", "/gateway", self._get_gateway, False),
            ("GET", "/gateway/bot", self._get_gateway, False),
        ]
        for method, path, handler, needs_auth in api:
            app.router.add_route(method, API_PREFIX + path, self._wrap(handler, needs_auth))
        app.router.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", self._get_attachment)
        app.router.add_get("/", self._gateway_socket, name="gateway")
        app.on_shutdown.append(self._close_gateway)
        return app

    # -- gateway (tests/support/gateway_fake.py) ---------------------------------------------

    async def _get_gateway(self, request: web.Request, call: Call) -> web.Response:
        if self.gateway is None:
            raise web.HTTPNotFound()
        if call.path == "/gateway":  # GET /gateway answers only the URL
            return _json_response({"url": self.gateway.url})
        self._check_auth(request)
        return _json_response(self.gateway.bot_gateway())

    async def _gateway_socket(self, request: web.Request) -> web.StreamResponse:
        if self.gateway is None:
            raise web.HTTPNotFound()
        return await self.gateway.handle(request)

    async def _close_gateway(self, app: web.Application) -> None:
        if self.gateway is not None:
            await self.gateway.close()

    def _wrap(self, handler: Handler, needs_auth: bool) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            if needs_auth:
                self._check_auth(request)
            return await handler(request, request[_CALL])

        return wrapped

    def _check_auth(self, request: web.Request) -> None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bot ") or (self.token is not None and header != f"Bot {self.token}"):
            raise DiscordError(401, 0, "401: Unauthorized")

    # -- recording -------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self.gateway is not None and request.match_info.route.name == "gateway":
            return await handler(request)  # a websocket lasts as long as its connection: not a recorded call
        call = await self._parse_call(request)
        request[_CALL] = call
        response = self._scripted_failure(call)
        if response is None:
            response = await self._dispatch(request, handler, call)
        call.status = response.status
        if isinstance(response, web.Response) and response.body and response.content_type == "application/json":
            call.response = json.loads(response.body)  # type: ignore[arg-type]
        await self._record(call)
        return response

    async def _dispatch(self, request: web.Request, handler: Any, call: Call) -> web.StreamResponse:
        response = await self._handle(request, handler, call)
        lost = next((loss for loss in self._lost_answers if loss[0](call)), None)
        if lost is not None and response.status < 300:
            self._lost_answers.remove(lost)
            return _json_response({"message": f"{lost[1]}: Bad Gateway", "code": 0}, lost[1])
        return response

    def lose_answer_next(self, match: Predicate, status: int = 502) -> None:
        """The next request matching ``match`` is carried out, but the bot gets a ``status`` error instead of
        its answer, as when Discord's edge times out after the API made the message."""
        self._lost_answers.append((match, status))

    async def _handle(self, request: web.Request, handler: Any, call: Call) -> web.StreamResponse:
        try:
            return await handler(request)
        except DiscordError as error:
            return _json_response(error.body(), error.status)
        except (web.HTTPNotFound, web.HTTPMethodNotAllowed) as error:
            call.known_route = False
            return _json_response({"message": f"{error.status}: {error.reason}", "code": 0}, error.status)
        except Exception as error:  # a bug in the fake: never answer 5xx (discord.py would sleep and retry)
            _log.exception("FakeDiscord failed on %s %s", request.method, request.path)
            return _json_response({"message": f"FakeDiscord internal error: {error!r}", "code": 0}, 400)

    async def _parse_call(self, request: web.Request) -> Call:
        path = request.path
        if path.startswith(API_PREFIX + "/"):
            path = path[len(API_PREFIX) :]
        call = Call(request.method, path, headers=dict(request.headers), query=dict(request.query))
        if request.content_type.startswith("multipart/"):
            call.json, call.files = await self._parse_multipart(request)
        elif request.body_exists:
            raw = await request.read()
            call.json = json.loads(raw) if raw and request.content_type == "application/json" else None
        return call

    @staticmethod
    async def _parse_multipart(request: web.Request) -> tuple[Any, list[Upload]]:
        """``payload_json`` -> JSON body; every part with a filename -> an :class:`Upload`."""
        payload: Any = None
        uploads: list[Upload] = []
        async for part in await request.multipart():
            if not isinstance(part, BodyPartReader):
                continue
            data = bytes(await part.read(decode=False))
            if part.name == "payload_json":
                payload = json.loads(data)
            elif part.filename is not None:
                content_type = part.headers.get("Content-Type", "application/octet-stream")
                uploads.append(Upload(part.name or "", part.filename, content_type, data))
        return payload, uploads

    async def _record(self, call: Call) -> None:
        self.calls.append(call)
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    # -- waiting ---------------------------------------------------------------------------

    async def wait_for(self, predicate: Predicate, timeout: float = 10.0, *, start: int = 0) -> Call:
        """The first call in ``calls[start:]`` (already recorded or still to come) matching ``predicate``."""

        def found() -> Call | None:
            return next((c for c in self.calls[start:] if predicate(c)), None)

        description = getattr(predicate, "__name__", "predicate")
        return await self._wait(found, timeout, f"no call matching {description}")

    async def wait_for_callback(self, interaction_id: int, timeout: float = 10.0) -> Call:
        """The callback (first response) the bot sent for ``interaction_id``."""
        return await self.wait_for(callback_for(interaction_id), timeout)

    async def wait_for_message(
        self,
        channel_id: int,
        predicate: Callable[[dict[str, Any]], bool] = lambda message: True,
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        """The first channel message (``POST /channels/{id}/messages``) whose current state matches."""

        def found() -> dict[str, Any] | None:
            return next((m for m in self.channel_messages(channel_id) if predicate(m)), None)

        return await self._wait(found, timeout, f"no matching message in channel {channel_id}")

    async def _wait(self, found: Callable[[], Any], timeout: float, what: str) -> Any:
        assert self._changed is not None, "FakeDiscord.start() was not awaited"
        try:
            async with asyncio.timeout(timeout):
                async with self._changed:
                    return await self._changed.wait_for(found)
        except TimeoutError:
            raise AssertionError(f"{what} after {timeout}s; recorded calls:\n{self.describe_calls()}") from None

    def describe_calls(self) -> str:
        return "\n".join(f"  {call}" for call in self.calls) or "  (none)"

    # -- inspection ------------------------------------------------------------------------

    def interaction_responses(self, interaction_id: int) -> list[Call]:
        """Every callback request for ``interaction_id`` (normally exactly one)."""
        return [c for c in self.calls if callback_for(interaction_id)(c)]

    def webhook_calls(self, token: str) -> list[Call]:
        """Follow-ups and ``@original``/message edits made with an interaction token."""
        return [c for c in self.calls if c.path.startswith("/webhooks/") and f"/{token}" in c.path]

    def interaction_messages(self, interaction_id: int) -> list[dict[str, Any]]:
        """Current state of the original response and follow-ups of ``interaction_id``."""
        interaction = self._interactions.get(interaction_id)
        return [self.messages[i] for i in interaction.message_ids] if interaction else []

    def original_response(self, interaction_id: int) -> dict[str, Any] | None:
        interaction = self._interactions.get(interaction_id)
        if interaction is None or interaction.original_id is None:
            return None
        return self.messages.get(interaction.original_id)

    def channel_messages(self, channel_id: int, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        """The bot's channel messages (``POST /channels/{id}/messages``) in creation order."""
        found = (self.messages[i] for i in self.channel_message_ids)
        return [
            m for m in found if int(m["channel_id"]) == channel_id and (include_deleted or not m.get("deleted"))
        ]

    @property
    def unknown_calls(self) -> list[Call]:
        """Requests to routes the fake does not implement (the bot called something unexpected)."""
        return [c for c in self.calls if not c.known_route]

    # -- test set-up -----------------------------------------------------------------------

    def now(self) -> float:
        """The fake's clock: real time plus :attr:`clock_offset`."""
        return time.time() + self.clock_offset

    def advance(self, seconds: float) -> None:
        """Move the fake's clock forward (e.g. past the 15 minute token lifetime)."""
        self.clock_offset += seconds

    def register_interaction(self, payload: dict[str, Any]) -> None:
        """Tell the fake about an injected interaction (its channel, user, message, size limit)."""
        interaction = self._interaction(int(payload["id"]), payload["token"])
        interaction.payload = payload
        channel = payload.get("channel")
        if channel and payload.get("guild_id"):
            self.channels.setdefault(int(channel["id"]), {**channel, "guild_id": str(payload["guild_id"])})

    def add_channel(
        self, channel_id: int, *, guild_id: int | None = None, name: str = "general", channel_type: int = 0
    ) -> dict[str, Any]:
        """Register a channel for ``GET /channels/{id}`` (unknown ids get a text channel in :attr:`guild_id`)."""
        channel = self._channel_object(channel_id, guild_id or self.guild_id, name, channel_type)
        self.channels[channel_id] = channel
        return channel

    def host_file(
        self, filename: str, data: bytes, *, content_type: str | None = None, channel_id: int = DEFAULT_CHANNEL_ID
    ) -> dict[str, Any]:
        """Serve ``data`` from the fake's CDN and return its attachment object (e.g. for ``resolved``)."""
        return self._store_attachment(channel_id, Upload("files[0]", filename, content_type or "", data))

    def fail_next(
        self,
        match: Predicate,
        status: int,
        code: int = 0,
        message: str = "",
        *,
        times: int = 1,
        headers: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        """Answer the next ``times`` calls matching ``match`` with an error instead of handling them."""
        body = body if body is not None else {"code": code, "message": message}
        extra = dict(headers or {})
        if status == 429:
            extra.setdefault("Via", "1.1 google")  # without Via discord.py assumes a Cloudflare ban
        self._failures.append(_ScriptedFailure(match, status, body, extra, times))

    def rate_limit_next(
        self, match: Predicate, retry_after: float = 0.01, *, times: int = 1, is_global: bool = False
    ) -> None:
        """Answer the next matching calls with a 429 that discord.py retries after ``retry_after`` s."""
        body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": is_global, "code": 0}
        headers = {"Retry-After": str(retry_after), "X-RateLimit-Scope": "global" if is_global else "user"}
        self.fail_next(match, 429, times=times, headers=headers, body=body)

    def _scripted_failure(self, call: Call) -> web.Response | None:
        for failure in self._failures:
            if failure.times > 0 and failure.match(call):
                failure.times -= 1
                return _json_response(failure.body, failure.status, failure.headers)
        return None

    # -- objects ---------------------------------------------------------------------------

    def bot_user(self) -> dict[str, Any]:
        return {
            "id": str(self.bot_user_id),
            "username": self.bot_name,
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
            "bot": True,
            "system": False,
            "mfa_enabled": True,
            "verified": True,
            "locale": "en-US",
            "flags": 0,
            "public_flags": 0,
        }

    def application(self) -> dict[str, Any]:
        owner = {"id": str(DEFAULT_USER_ID), "username": "owner", "discriminator": "0", "avatar": None}
        return {
            "id": str(self.app_id),
            "name": self.bot_name,
            "icon": None,
            "description": "Fake application for tests",
            "summary": "",
            "type": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "flags": 0,
            "owner": owner,
            "team": None,
            "bot": self.bot_user(),
            "rpc_origins": [],
            "redirect_uris": [],
            "tags": [],
            "interactions_endpoint_url": None,
            "approximate_guild_count": 1,
            "install_params": {"scopes": ["bot", "applications.commands"], "permissions": "0"},
            "integration_types_config": {"0": {}},
        }

    def _channel_object(self, channel_id: int, guild_id: int, name: str, channel_type: int) -> dict[str, Any]:
        return {
            "id": str(channel_id),
            "type": channel_type,
            "guild_id": str(guild_id),
            "name": name,
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
            "topic": None,
            "rate_limit_per_user": 0,
            "last_message_id": None,
        }

    def _store_attachment(self, channel_id: int, upload: Upload, description: str | None = None) -> dict[str, Any]:
        attachment_id = snowflake(self.now())
        url = f"{self.origin}/attachments/{channel_id}/{attachment_id}/{upload.filename}"
        guessed = mimetypes.guess_type(upload.filename)[0]
        attachment: dict[str, Any] = {
            "id": str(attachment_id),
            "filename": upload.filename,
            "size": upload.size,
            "url": url,
            "proxy_url": url,
            "content_type": guessed or upload.content_type or "application/octet-stream",
        }
        if description is not None:
            attachment["description"] = description
        self.attachment_data[attachment_id] = upload.data
        return attachment

    # -- message rules ---------------------------------------------------------------------

    def _check_outgoing(
        self, body: dict[str, Any], uploads: list[Upload], *, creating: bool, limit: int | None = None
    ) -> None:
        """Raise the error Discord would give for this message body and these uploads, if any."""
        if len(uploads) > self.max_files:
            message = f"Must be {self.max_files} or fewer in length."
            raise _form_error([("attachments", "BASE_TYPE_MAX_LENGTH", message)])
        if any(u.size > (limit or self.upload_limit) for u in uploads):
            raise DiscordError(413, 40005, "Request entity too large")
        problems = _message_problems(body)
        if problems:
            raise _form_error(problems)
        if creating and _is_empty_message(body, uploads):
            raise DiscordError(400, 50006, "Cannot send an empty message")

    def _check_channel_writable(self, channel_id: int) -> None:
        if channel_id in self.deleted_channels:
            raise DiscordError(404, 10003, "Unknown Channel")
        if channel_id in self.forbidden_channels:
            raise DiscordError(403, 50013, "Missing Permissions")
        channel = self.channels.get(channel_id)
        if channel is not None and channel.get("type") == 1 and int(channel["recipients"][0]["id"]) in self.closed_dms:
            raise DiscordError(403, 50007, "Cannot send messages to this user")

    def _new_attachments(self, channel_id: int, body: dict[str, Any], uploads: list[Upload]) -> list[dict[str, Any]]:
        by_field = {u.field: u for u in uploads}
        described = {str(a.get("id")): a.get("description") for a in body.get("attachments") or []}
        return [
            self._store_attachment(channel_id, upload, described.get(field_name[6:-1]))
            for field_name, upload in by_field.items()
        ]

    def _create_message(
        self,
        channel_id: int,
        body: dict[str, Any],
        uploads: list[Upload],
        *,
        interaction: _Interaction | None = None,
        extra_flags: int = 0,
    ) -> dict[str, Any]:
        message_id = snowflake(self.now())
        message = message_object(
            message_id=message_id,
            channel_id=channel_id,
            author=self.bot_user(),
            content=body.get("content") or "",
            embeds=body.get("embeds"),
            components=body.get("components"),
            attachments=self._new_attachments(channel_id, body, uploads),
            flags=(int(body.get("flags") or 0) & _SENDABLE_FLAGS) | extra_flags,
            tts=bool(body.get("tts")),
            created_at=self.now(),
        )
        if interaction is not None:
            self._mark_interaction_message(message, interaction)
        self.messages[message_id] = message
        return message

    def _mark_interaction_message(self, message: dict[str, Any], interaction: _Interaction) -> None:
        message["webhook_id"] = str(self.app_id)
        message["application_id"] = str(self.app_id)
        payload = interaction.payload or {}
        if payload.get("type") == 2 and interaction.original_id is None:
            message["type"] = 20  # CHAT_INPUT_COMMAND: the original response to a slash command
        user = interaction.user()
        if user is not None:
            message["interaction_metadata"] = {
                "id": str(interaction.id),
                "type": payload.get("type", 2),
                "user": user,
                "authorizing_integration_owners": payload.get("authorizing_integration_owners", {}),
            }
        interaction.message_ids.append(int(message["id"]))

    def _apply_edit(self, message: dict[str, Any], body: dict[str, Any], uploads: list[Upload]) -> dict[str, Any]:
        for key in ("content", "embeds", "components"):
            if key in body:
                message[key] = body[key] if body[key] is not None else ("" if key == "content" else [])
        if body.get("flags") is not None:
            changeable = FLAG_SUPPRESS_EMBEDS | FLAG_COMPONENTS_V2
            message["flags"] = (message["flags"] & ~changeable) | (int(body["flags"]) & changeable)
        message["attachments"] = self._edited_attachments(message, body, uploads)
        message["flags"] &= ~FLAG_LOADING
        message["edited_timestamp"] = _iso(self.now())
        self.edits.setdefault(int(message["id"]), []).append(copy.deepcopy(message))
        return message

    def _edited_attachments(
        self, message: dict[str, Any], body: dict[str, Any], uploads: list[Upload]
    ) -> list[dict[str, Any]]:
        """Discord v10: ``attachments`` lists what to keep (old ids) and add (file indexes)."""
        new = self._new_attachments(int(message["channel_id"]), body, uploads)
        if "attachments" not in body:
            return message["attachments"] + new
        kept_ids = {str(a.get("id")) for a in body["attachments"] or []}
        return [a for a in message["attachments"] if a["id"] in kept_ids] + new

    def _live_message(self, message_id: int, channel_id: int | None = None) -> dict[str, Any]:
        message = self.messages.get(message_id)
        if message is None or message.get("deleted"):
            raise _unknown_message()
        if channel_id is not None and int(message["channel_id"]) != channel_id:
            raise _unknown_message()
        return message

    # -- users, application, channels --------------------------------------------------------

    async def _get_me(self, request: web.Request, call: Call) -> web.Response:
        return _json_response(self.bot_user())

    async def _get_application(self, request: web.Request, call: Call) -> web.Response:
        return _json_response(self.application())

    async def _get_channel(self, request: web.Request, call: Call) -> web.Response:
        channel_id = int(request.match_info["channel_id"])
        channel = self.channels.get(channel_id) or self._channel_object(channel_id, self.guild_id, "general", 0)
        return _json_response(channel)

    async def _get_attachment(self, request: web.Request) -> web.Response:
        data = self.attachment_data.get(int(request.match_info["attachment_id"]))
        if data is None:
            raise DiscordError(404, 0, "404: Not Found")
        content_type = mimetypes.guess_type(request.match_info["filename"])[0] or "application/octet-stream"
        return web.Response(body=data, content_type=content_type)

    # -- channel messages --------------------------------------------------------------------

    async def _create_channel_message(self, request: web.Request, call: Call) -> web.Response:
        channel_id = int(request.match_info["channel_id"])
        headers = self._rate_limit(channel_id)
        if headers.get("X-RateLimit-Scope"):
            return _json_response({"message": "You are being rate limited.", "retry_after": float(
                headers["Retry-After"]), "global": False}, 429, headers)
        self._check_channel_writable(channel_id)
        body = call.json or {}
        earlier = self._same_nonce(channel_id, body)
        if earlier is not None:  # enforce_nonce: the message already made is returned, no new one
            return _json_response(earlier, headers=headers)
        self._check_outgoing(body, call.files, creating=True)
        message = self._create_message(channel_id, body, call.files, extra_flags=0)
        message["flags"] &= ~FLAG_EPHEMERAL  # only interaction responses can be ephemeral
        if body.get("nonce") is not None:
            message["nonce"] = str(body["nonce"])
        self.channel_message_ids.append(int(message["id"]))
        stall = next((p for p in self._stalls if p(call)), None)
        if stall is not None:  # the message exists, but the bot never hears back (until the fake stops)
            self._stalls.remove(stall)
            assert self._changed is not None and self._released is not None
            async with self._changed:
                self._changed.notify_all()
            await self._released.wait()
        return _json_response(message, headers=headers)

    def stall_next(self, predicate: Predicate) -> None:
        """The next message post matching ``predicate`` is created, but its answer never arrives: as when the
        bot is stopped between Discord's work and its answer."""
        self._stalls.append(predicate)

    def _same_nonce(self, channel_id: int, body: dict[str, Any]) -> dict[str, Any] | None:
        if body.get("nonce") is None or not body.get("enforce_nonce"):
            return None
        for message_id in reversed(self.channel_message_ids):
            message = self.messages[message_id]
            if int(message["channel_id"]) != channel_id or message.get("nonce") != str(body["nonce"]):
                continue
            created = snowflake_time(message_id)
            return message if self.now() - created <= self.nonce_window else None
        return None

    def _rate_limit(self, channel_id: int) -> dict[str, str]:
        """The X-RateLimit-* headers for a message post into ``channel_id`` (and a 429 when over)."""
        if self.channel_rate_limit is None:
            return {}
        limit, per = self.channel_rate_limit
        now = self.now()
        window = self._rate_windows.setdefault(channel_id, [])
        window[:] = [t for t in window if now - t < per]
        over = len(window) >= limit
        if not over:
            window.append(now)
        reset_after = window[0] + per - now
        headers = {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(limit - len(window)),
                   "X-RateLimit-Bucket": f"messages-{channel_id}", "X-RateLimit-Reset": f"{now + reset_after:.3f}",
                   "X-RateLimit-Reset-After": f"{reset_after:.3f}"}
        if over:
            self.rate_limited.append(channel_id)
            headers.update({"Retry-After": f"{reset_after:.3f}", "X-RateLimit-Scope": "user", "Via": "1.1 google"})
        return headers

    async def _create_dm(self, request: web.Request, call: Call) -> web.Response:
        """POST /users/@me/channels: the DM channel with a user (the same one each time)."""
        user_id = int((call.json or {}).get("recipient_id") or 0)
        channel_id = self._dm_channels.setdefault(user_id, snowflake(self.now()))
        channel = {"id": str(channel_id), "type": 1, "last_message_id": None,
                   "recipients": [{"id": str(user_id), "username": f"user{user_id}", "discriminator": "0",
                                   "global_name": None, "avatar": None}]}
        self.channels[channel_id] = channel
        return _json_response(channel)

    def dm_messages(self, user_id: int) -> list[dict[str, Any]]:
        """What the bot sent a user privately."""
        channel_id = self._dm_channels.get(user_id)
        return [] if channel_id is None else self.channel_messages(channel_id)

    async def _start_thread(self, request: web.Request, call: Call) -> web.Response:
        """Start a public thread from a message (the thread's id is the message's id, as on Discord)."""
        channel_id = int(request.match_info["channel_id"])
        self._check_channel_writable(channel_id)
        message = self._live_message(int(request.match_info["message_id"]), channel_id)
        if message.get("thread"):
            raise DiscordError(400, 160004, "A thread has already been created for this message")
        name = str((call.json or {}).get("name") or "")
        if not 1 <= len(name) <= 100:
            raise _form_error([("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")])
        guild_id = int(self.channels.get(channel_id, {}).get("guild_id") or self.guild_id)
        thread = {
            **self._channel_object(int(message["id"]), guild_id, name, 11),
            "parent_id": str(channel_id),
            "owner_id": str(self.bot_user_id),
            "member_count": 1,
            "message_count": 0,
            "thread_metadata": {"archived": False, "auto_archive_duration": int((call.json or {}).get(
                "auto_archive_duration") or 1440), "archive_timestamp": _iso(self.now()), "locked": False},
        }
        message["thread"] = thread
        self.channels[int(thread["id"])] = thread
        return _json_response(thread)

    async def _get_channel_message(self, request: web.Request, call: Call) -> web.Response:
        message = self._channel_route_message(request)
        return _json_response(message)

    async def _edit_channel_message(self, request: web.Request, call: Call) -> web.Response:
        self._check_channel_writable(int(request.match_info["channel_id"]))
        message = self._channel_route_message(request)
        self._check_outgoing(call.json or {}, call.files, creating=False)
        return _json_response(self._apply_edit(message, call.json or {}, call.files))

    async def _delete_channel_message(self, request: web.Request, call: Call) -> web.Response:
        message = self._channel_route_message(request)
        message["deleted"] = True
        return web.Response(status=204)

    def _channel_route_message(self, request: web.Request) -> dict[str, Any]:
        message = self._live_message(int(request.match_info["message_id"]), int(request.match_info["channel_id"]))
        if message["flags"] & FLAG_EPHEMERAL:  # ephemeral messages exist only behind the interaction webhook
            raise _unknown_message()
        return message

    # -- interactions ----------------------------------------------------------------------

    def _interaction(self, interaction_id: int, token: str) -> _Interaction:
        interaction = self._interactions.get(interaction_id)
        if interaction is None:
            interaction = _Interaction(interaction_id, token)
            self._interactions[interaction_id] = interaction
            self._by_token[token] = interaction
        return interaction

    def _upload_limit_for(self, interaction: _Interaction) -> int:
        limit = (interaction.payload or {}).get("attachment_size_limit")
        return min(self.upload_limit, int(limit)) if limit else self.upload_limit

    async def _interaction_callback(self, request: web.Request, call: Call) -> web.Response:
        interaction = self._interaction(int(request.match_info["interaction_id"]), request.match_info["token"])
        if interaction.token != request.match_info["token"]:
            raise DiscordError(404, 10062, "Unknown interaction")
        if interaction.response_type is not None:
            raise DiscordError(400, 40060, "Interaction has already been acknowledged.")
        if self.now() - interaction.created_at > self.interaction_window:
            raise DiscordError(404, 10062, "Unknown interaction")
        body = call.json or {}
        response_type = int(body.get("type", 0))
        message = self._respond(interaction, response_type, body.get("data") or {}, call.files)
        interaction.response_type = response_type
        if not _truthy(request.query.get("with_response")):
            return web.Response(status=204)
        return _json_response(self._callback_object(interaction, response_type, message))

    def _respond(
        self, interaction: _Interaction, response_type: int, data: dict[str, Any], uploads: list[Upload]
    ) -> dict[str, Any] | None:
        """Apply one callback; returns the message it created or updated, if any."""
        if response_type == 4:
            self._check_outgoing(data, uploads, creating=True, limit=self._upload_limit_for(interaction))
            message = self._create_message(interaction.channel_id, data, uploads, interaction=interaction)
            interaction.original_id = int(message["id"])
            return message
        if response_type == 5:
            flags = FLAG_LOADING | (int(data.get("flags") or 0) & FLAG_EPHEMERAL)
            message = self._create_message(interaction.channel_id, {}, [], interaction=interaction, extra_flags=flags)
            interaction.original_id = int(message["id"])
            return message
        if response_type in (6, 7):
            return self._update_source_message(interaction, response_type, data, uploads)
        if response_type == 8:
            problems = _too_long("data.choices", data.get("choices") or [], 25)
        elif response_type == 9:
            problems = _modal_problems(data)
        else:
            problems = [("type", "BASE_TYPE_CHOICES", "Value must be one of (1, 4, 5, 6, 7, 8, 9).")]
            problems = [] if response_type == 1 else problems
        if problems:
            raise _form_error(problems)
        return None

    def _update_source_message(
        self, interaction: _Interaction, response_type: int, data: dict[str, Any], uploads: list[Upload]
    ) -> dict[str, Any] | None:
        """Types 6/7 act on the message the component was on (its id becomes ``@original``)."""
        source = interaction.source_message
        if source is None:
            return None
        message_id = int(source["id"])
        self.messages.setdefault(message_id, copy.deepcopy(source))
        interaction.original_id = message_id
        if response_type == 6:
            return None
        self._check_outgoing(data, uploads, creating=False, limit=self._upload_limit_for(interaction))
        return self._apply_edit(self.messages[message_id], data, uploads)

    def _callback_object(
        self, interaction: _Interaction, response_type: int, message: dict[str, Any] | None
    ) -> dict[str, Any]:
        """The ``InteractionCallbackResponse`` returned with ``?with_response=true``."""
        payload = interaction.payload or {}
        info: dict[str, Any] = {"id": str(interaction.id), "type": payload.get("type", 2)}
        if message is not None:
            info["response_message_id"] = message["id"]
            info["response_message_loading"] = bool(message["flags"] & FLAG_LOADING)
            info["response_message_ephemeral"] = bool(message["flags"] & FLAG_EPHEMERAL)
        result: dict[str, Any] = {"interaction": info}
        if response_type in (4, 7) and message is not None:
            result["resource"] = {"type": response_type, "message": message}
        elif response_type != 1:
            result["resource"] = {"type": response_type}
        return result

    # -- interaction webhook ---------------------------------------------------------------

    def _webhook_interaction(self, request: web.Request) -> _Interaction:
        if request.match_info["app_id"] != str(self.app_id):
            raise _unknown_webhook()
        interaction = self._by_token.get(request.match_info["token"])
        if interaction is None or self.now() - interaction.created_at > self.token_lifetime:
            raise _invalid_webhook_token()
        if interaction.response_type is None:
            raise _unknown_webhook()
        return interaction

    def _webhook_message(self, request: web.Request, interaction: _Interaction) -> dict[str, Any]:
        raw = request.match_info["message_id"]
        if raw == "@original":
            if interaction.original_id is None:
                raise _unknown_message()
            return self._live_message(interaction.original_id)
        message_id = int(raw)
        if message_id not in interaction.message_ids:
            raise _unknown_message()
        return self._live_message(message_id)

    async def _execute_webhook(self, request: web.Request, call: Call) -> web.Response:
        """A follow-up. After a deferral the first follow-up fills in the "thinking..." message."""
        interaction = self._webhook_interaction(request)
        body = call.json or {}
        self._check_outgoing(body, call.files, creating=True, limit=self._upload_limit_for(interaction))
        original = self.messages.get(interaction.original_id or 0)
        if original is not None and original["flags"] & FLAG_LOADING:
            message = self._apply_edit(original, body, call.files)
        else:
            message = self._create_message(interaction.channel_id, body, call.files, interaction=interaction)
        if not _truthy(request.query.get("wait")):
            return web.Response(status=204)
        return _json_response(message)

    async def _get_webhook_message(self, request: web.Request, call: Call) -> web.Response:
        interaction = self._webhook_interaction(request)
        return _json_response(self._webhook_message(request, interaction))

    async def _edit_webhook_message(self, request: web.Request, call: Call) -> web.Response:
        interaction = self._webhook_interaction(request)
        message = self._webhook_message(request, interaction)
        body = call.json or {}
        self._check_outgoing(body, call.files, creating=False, limit=self._upload_limit_for(interaction))
        return _json_response(self._apply_edit(message, body, call.files))

    async def _delete_webhook_message(self, request: web.Request, call: Call) -> web.Response:
        interaction = self._webhook_interaction(request)
        self._webhook_message(request, interaction)["deleted"] = True
        return web.Response(status=204)

    # -- application commands --------------------------------------------------------------

    def _command_scope(self, request: web.Request) -> int | None:
        if request.match_info["app_id"] != str(self.app_id):
            raise DiscordError(403, 50001, "Missing Access")
        guild_id = request.match_info.get("guild_id")
        return int(guild_id) if guild_id is not None else None

    async def _get_commands(self, request: web.Request, call: Call) -> web.Response:
        return _json_response(self.commands.get(self._command_scope(request), []))

    async def _put_commands(self, request: web.Request, call: Call) -> web.Response:
        guild_id = self._command_scope(request)
        commands = call.json if isinstance(call.json, list) else []
        problems = _command_problems(commands)
        if problems:
            raise _form_error(problems)
        self.commands[guild_id] = [self._registered_command(guild_id, c) for c in commands]
        return _json_response(self.commands[guild_id])

    def _registered_command(self, guild_id: int | None, command: dict[str, Any]) -> dict[str, Any]:
        """Echo a command the way Discord stores it (ids are stable across syncs, like Discord's)."""
        command_type = int(command.get("type", 1))
        key = (guild_id, command_type, str(command.get("name")))
        command_id = self._command_ids.setdefault(key, snowflake(self.now()))
        registered = {
            "default_member_permissions": None,
            "dm_permission": True,
            "nsfw": False,
            "options": [],
            "description": "",
            **command,
            "id": str(command_id),
            "application_id": str(self.app_id),
            "type": command_type,
            "version": str(snowflake(self.now())),
        }
        if guild_id is not None:
            registered["guild_id"] = str(guild_id)
        return registered


def random_token() -> str:
    """An interaction token lookalike."""
    return "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(48)
