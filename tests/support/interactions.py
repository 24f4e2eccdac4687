"""Drive the real bot without a gateway: gateway-shaped interaction payloads and their injection.

This is the ONLY module that touches discord.py private API:

* ``discord.http.Route.BASE`` (every REST and interaction-webhook URL is built from it), see
  :func:`discord_api`;
* ``bot._connection.parse_interaction_create`` (what the gateway's INTERACTION_CREATE runs), see
  :func:`inject`, and ``parse_guild_create`` (GUILD_CREATE, which fills the guild and role cache), see
  :func:`guild_create`.

Both were checked against discord.py 2.7; importing this module with another minor version fails
loudly so that an upgrade breaks here and nowhere else.

Payload builders return plain dicts shaped like Discord's INTERACTION_CREATE ``d`` field. The id is
a snowflake of "now" (pass ``at=time.time() - 5`` for an interaction that is already too old to
answer), the token is random, and the guild, channel and user default to the fake's defaults.
Every builder takes the keyword arguments of :func:`interaction_payload`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import discord
import discord.http

from .discord_fake import (
    DEFAULT_APP_ID,
    DEFAULT_BOT_USER_ID,
    DEFAULT_CHANNEL_ID,
    DEFAULT_GUILD_ID,
    DEFAULT_USER_ID,
    MiB,
    guild_roles,
    message_object,
    random_token,
    snowflake,
)

if TYPE_CHECKING:
    from .discord_fake import FakeDiscord

__all__ = [
    "ADMINISTRATOR",
    "BOT_CHANNEL_PERMS",
    "MANAGE_GUILD",
    "MANAGE_MESSAGES",
    "MEMBER_PERMS",
    "MODERATOR_PERMS",
    "attachment",
    "autocomplete",
    "component",
    "discord_api",
    "guild_create",
    "inject",
    "interaction_payload",
    "modal_submit",
    "modal_submit_for",
    "settle",
    "slash_command",
    "snowflake",
]

if (discord.version_info.major, discord.version_info.minor) != (2, 7):
    raise ImportError(
        f"tests/support/interactions.py was written against discord.py 2.7, found {discord.__version__}: "
        "re-check Route.BASE and ConnectionState.parse_interaction_create, then update this guard"
    )

# Permission bits (https://discord.com/developers/docs/topics/permissions)
ADMINISTRATOR = 1 << 3
MANAGE_GUILD = 1 << 5
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
USE_EXTERNAL_EMOJIS = 1 << 18
USE_APPLICATION_COMMANDS = 1 << 31
SEND_MESSAGES_IN_THREADS = 1 << 38

BOT_CHANNEL_PERMS = VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS | ATTACH_FILES | READ_MESSAGE_HISTORY
MEMBER_PERMS = (
    BOT_CHANNEL_PERMS | ADD_REACTIONS | USE_EXTERNAL_EMOJIS | USE_APPLICATION_COMMANDS | SEND_MESSAGES_IN_THREADS
)
MODERATOR_PERMS = MEMBER_PERMS | MANAGE_GUILD | MANAGE_MESSAGES

# Interaction types
APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
AUTOCOMPLETE = 4
MODAL_SUBMIT = 5

_OPTION_TYPES: tuple[tuple[type, int], ...] = ((bool, 5), (int, 4), (float, 10), (str, 3))  # bool before int


# ---------------------------------------------------------------------------------------------
# Private touch points
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def discord_api(base: str) -> Iterator[None]:
    """Point every discord.py REST and webhook URL at ``base`` (e.g. ``FakeDiscord.api_base``)."""
    previous = discord.http.Route.BASE
    discord.http.Route.BASE = base
    try:
        yield
    finally:
        discord.http.Route.BASE = previous


# Names discord.py 2.7 gives the tasks that handle an interaction (command invocation, view item,
# modal and DynamicItem callbacks, event listeners). Views' timeout tasks are unnamed on purpose.
_HANDLER_TASK_PREFIXES = (
    "CommandTree-invoker",
    "discord-ui-view-dispatch-",
    "discord-ui-modal-dispatch-",
    "discord-ui-dynamic-item-",
    "discord.py: ",
)


async def settle(timeout: float = 5.0) -> None:
    """Wait until discord.py has finished handling every interaction injected so far.

    ``fake.wait_for`` returns as soon as the fake has answered a request, while the bot may still be
    processing the answer (e.g. ``send_modal`` registers the modal only after its callback returned).
    Settle before injecting an interaction that depends on that, such as the modal's submit.
    """
    current = asyncio.current_task()
    async with asyncio.timeout(timeout):
        while True:
            pending = [
                task
                for task in asyncio.all_tasks()
                if task is not current and not task.done() and task.get_name().startswith(_HANDLER_TASK_PREFIXES)
            ]
            if not pending:
                return
            await asyncio.wait(pending)


def text_channel(channel_id: int, name: str, *, guild_id: int = DEFAULT_GUILD_ID,
                 hidden: bool = False) -> dict[str, Any]:
    """A text channel as GUILD_CREATE carries it; ``hidden``: @everyone may not view it (a moderators' room)."""
    deny = str(discord.Permissions(view_channel=True).value) if hidden else "0"
    return {"id": str(channel_id), "type": 0, "name": name, "position": 0, "guild_id": str(guild_id),
            "parent_id": None, "topic": None, "nsfw": False, "last_message_id": None, "rate_limit_per_user": 0,
            "permission_overwrites": [{"id": str(guild_id), "type": 0, "allow": "0", "deny": deny}]}


def thread_channel(thread_id: int, parent_id: int, name: str, *, guild_id: int = DEFAULT_GUILD_ID,
                   private: bool = False) -> dict[str, Any]:
    """An active thread of ``parent_id`` as GUILD_CREATE carries it (type 12: private, 11: public)."""
    return {"id": str(thread_id), "type": 12 if private else 11, "name": name, "guild_id": str(guild_id),
            "parent_id": str(parent_id), "owner_id": "1", "last_message_id": None, "rate_limit_per_user": 0,
            "message_count": 0, "member_count": 1, "flags": 0,
            "thread_metadata": {"archived": False, "auto_archive_duration": 1440, "locked": False,
                                "archive_timestamp": "2024-01-01T00:00:00+00:00", "invitable": True}}


def guild_create(bot: discord.Client, guild_id: int = DEFAULT_GUILD_ID, *, roles: Mapping[int, str] = {},
                 channels: Sequence[dict[str, Any]] | None = None, threads: Sequence[dict[str, Any]] = ()) -> None:
    """Deliver GUILD_CREATE as the gateway would on connect, so the guild, its roles (what ``Member.roles``
    reads) and ``channels`` (see :func:`text_channel`; by default the test channel, readable by everyone) are
    cached. ``roles`` maps role ids to names; the @everyone role is added."""
    role_objects = guild_roles(guild_id, MEMBER_PERMS, roles)
    if channels is None:
        channels = [text_channel(DEFAULT_CHANNEL_ID, "music", guild_id=guild_id)]
    payload = {
        "id": str(guild_id), "name": "Test server", "icon": None, "owner_id": "1", "region": "",
        "afk_channel_id": None, "afk_timeout": 300, "verification_level": 0, "default_message_notifications": 0,
        "explicit_content_filter": 0, "roles": role_objects, "emojis": [], "stickers": [], "features": [],
        "mfa_level": 0, "system_channel_id": None, "system_channel_flags": 0, "rules_channel_id": None,
        "vanity_url_code": None, "description": None, "banner": None, "premium_tier": 0,
        "preferred_locale": "en-US", "public_updates_channel_id": None, "nsfw_level": 0,
        "premium_progress_bar_enabled": False, "member_count": 1, "members": [], "channels": list(channels), "threads": list(threads),
        "presences": [], "voice_states": [], "large": False, "joined_at": "2024-01-01T00:00:00+00:00",
    }
    bot._connection.parse_guild_create(payload)  # type: ignore[arg-type]


def inject(bot: discord.Client, payload: dict[str, Any], *, fake: FakeDiscord | None = None) -> None:
    """Deliver ``payload`` as the gateway's INTERACTION_CREATE would.

    Pass ``fake`` so the fake learns the interaction's channel, user, source message and upload
    limit (needed for channel ids of responses, ``@original`` of component interactions and
    ``attachment_size_limit``). The bot handles the interaction in background tasks: wait for
    the requests it makes with ``fake.wait_for``.
    """
    if fake is not None:
        fake.register_interaction(payload)
    bot._connection.parse_interaction_create(payload)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Payloads
# ---------------------------------------------------------------------------------------------


def _user(user_id: int, username: str) -> dict[str, Any]:
    return {
        "id": str(user_id),
        "username": username,
        "discriminator": "0",
        "global_name": username.title(),
        "avatar": None,
        "public_flags": 0,
    }


def interaction_payload(
    interaction_type: int,
    data: dict[str, Any] | None,
    *,
    guild_id: int | None = DEFAULT_GUILD_ID,
    channel_id: int = DEFAULT_CHANNEL_ID,
    channel_name: str = "general",
    channel: dict[str, Any] | None = None,
    user_id: int = DEFAULT_USER_ID,
    username: str = "tester",
    roles: Sequence[int] = (),
    permissions: int = MEMBER_PERMS,
    app_permissions: int = BOT_CHANNEL_PERMS,
    attachment_size_limit: int = 10 * MiB,
    application_id: int = DEFAULT_APP_ID,
    locale: str = "en-US",
    guild_locale: str = "en-US",
    message: dict[str, Any] | None = None,
    at: float | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    """An INTERACTION_CREATE payload; ``guild_id=None`` makes it a DM with the bot. ``channel``: the channel
    object Discord sends with it (e.g. :func:`thread_channel`), instead of a text channel ``channel_id``."""
    user = _user(user_id, username)
    payload: dict[str, Any] = {
        "id": str(snowflake(at)),
        "application_id": str(application_id),
        "type": interaction_type,
        "token": token or random_token(),
        "version": 1,
        "attachment_size_limit": attachment_size_limit,
        "app_permissions": str(app_permissions),
        "channel_id": str(channel_id),
        "locale": locale,
        "entitlements": [],
    }
    if data is not None:
        payload["data"] = data
    if message is not None:
        payload["message"] = message
    if guild_id is None:
        payload["channel"] = {"id": str(channel_id), "type": 1, "recipients": [user], "flags": 0}
        payload["user"] = user
        payload["authorizing_integration_owners"] = {"0": str(user_id), "1": str(user_id)}
        payload["context"] = 1
        return payload
    payload["guild_id"] = str(guild_id)
    payload["guild_locale"] = guild_locale
    payload["guild"] = {"id": str(guild_id), "locale": guild_locale, "features": []}
    payload["channel"] = {
        "id": str(channel_id),
        "type": 0,
        "name": channel_name,
        "position": 0,
        "guild_id": str(guild_id),
        "permission_overwrites": [],
        "nsfw": False,
        "flags": 0,
    }
    if channel is not None:
        payload["channel"] = channel
    payload["member"] = {
        "user": user,
        "roles": [str(r) for r in roles],
        "flags": 0,
        "joined_at": "2024-01-01T00:00:00.000000+00:00",
        "permissions": str(permissions),
        "deaf": False,
        "mute": False,
        "nick": None,
        "avatar": None,
        "pending": False,
        "premium_since": None,
    }
    payload["authorizing_integration_owners"] = {"0": str(guild_id)}
    payload["context"] = 0
    return payload


def attachment(
    filename: str,
    size: int = 1024,
    *,
    url: str | None = None,
    content_type: str = "application/octet-stream",
    attachment_id: int | None = None,
) -> dict[str, Any]:
    """An attachment object for an attachment option (see also ``FakeDiscord.host_file``)."""
    attachment_id = attachment_id or snowflake()
    url = url or f"https://cdn.discordapp.com/attachments/{DEFAULT_CHANNEL_ID}/{attachment_id}/{filename}"
    return {
        "id": str(attachment_id),
        "filename": filename,
        "size": size,
        "url": url,
        "proxy_url": url,
        "content_type": content_type,
        "ephemeral": True,
    }


def _is_attachment(value: Mapping[str, Any]) -> bool:
    return {"id", "filename", "size", "url"} <= value.keys()


def _option(name: str, value: Any) -> dict[str, Any]:
    """One option; explicit option dicts (with ``type``) pass through, attachments become type 11."""
    if isinstance(value, Mapping):
        if _is_attachment(value):
            return {"name": name, "type": 11, "value": str(value["id"])}
        if "type" not in value:
            raise TypeError(f"option {name!r}: an explicit option dict needs a 'type'")
        return {"name": name, **value}
    for python_type, option_type in _OPTION_TYPES:
        if isinstance(value, python_type):
            return {"name": name, "type": option_type, "value": value}
    raise TypeError(f"option {name!r}: cannot derive an option type from {type(value).__name__}")


def _options(
    options: Mapping[str, Any] | Sequence[dict[str, Any]],
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Option list plus the attachments to put into ``resolved.attachments``."""
    if isinstance(options, Mapping):
        attachments = {str(v["id"]): dict(v) for v in options.values() if isinstance(v, Mapping) and _is_attachment(v)}
        return [_option(name, value) for name, value in options.items()], attachments
    return [dict(option) for option in options], {}


def _nest(subcommand: str | None, options: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Wrap options in a subcommand (``"sub"``) or a group and subcommand (``"group sub"``)."""
    if subcommand is None:
        return options
    names = subcommand.split()
    nested: list[dict[str, Any]] = [{"name": names[-1], "type": 1, "options": options}]
    if len(names) == 2:
        nested = [{"name": names[0], "type": 2, "options": nested}]
    return nested


def _command_data(
    name: str,
    options: Mapping[str, Any] | Sequence[dict[str, Any]],
    subcommand: str | None,
    resolved: dict[str, Any] | None,
    command_guild_id: int | None,
) -> dict[str, Any]:
    option_list, attachments = _options(options)
    data: dict[str, Any] = {
        "id": str(snowflake()),
        "name": name,
        "type": 1,
        "options": _nest(subcommand, option_list),
    }
    merged = dict(resolved or {})
    if attachments:
        merged["attachments"] = {**merged.get("attachments", {}), **attachments}
    if merged:
        data["resolved"] = merged
    if command_guild_id is not None:
        data["guild_id"] = str(command_guild_id)
    return data


def slash_command(
    name: str,
    options: Mapping[str, Any] | Sequence[dict[str, Any]] = (),
    *,
    subcommand: str | None = None,
    resolved: dict[str, Any] | None = None,
    command_guild_id: int | None = None,
    **context: Any,
) -> dict[str, Any]:
    """A slash command interaction.

    ``options`` maps names to values: str -> 3, int -> 4, bool -> 5, float -> 10, an
    :func:`attachment` dict -> 11 (and into ``resolved``); a dict with a ``type`` is used as is.
    A list of full option dicts is also accepted. ``subcommand`` is ``"sub"`` or ``"group sub"``.
    Set ``command_guild_id`` when the bot registered the command in a guild rather than globally:
    discord.py looks the command up in the guild's tree only when ``data.guild_id`` is present.
    """
    data = _command_data(name, options, subcommand, resolved, command_guild_id)
    return interaction_payload(APPLICATION_COMMAND, data, **context)


def autocomplete(
    name: str,
    options: Mapping[str, Any] | Sequence[dict[str, Any]],
    focused: str,
    *,
    subcommand: str | None = None,
    command_guild_id: int | None = None,
    **context: Any,
) -> dict[str, Any]:
    """An autocomplete interaction; the option ``focused`` carries the user's partial input."""
    data = _command_data(name, options, subcommand, None, command_guild_id)
    innermost = data["options"]
    while innermost and innermost[0]["type"] in (1, 2):
        innermost = innermost[0]["options"]
    matches = [option for option in innermost if option["name"] == focused]
    if not matches:
        raise ValueError(f"focused option {focused!r} is not among the options")
    matches[0]["focused"] = True
    return interaction_payload(AUTOCOMPLETE, data, **context)


def button_labels(message: dict[str, Any]) -> list[str]:
    """The labels of a message's buttons, row after row."""
    return [b.get("label", "") for row in message.get("components") or [] for b in row["components"]]


def _component_dict(custom_id: str, component_type: int, values: Sequence[str] | None) -> dict[str, Any]:
    if component_type == 2:
        return {"type": 2, "style": 1, "label": custom_id[:80], "custom_id": custom_id}
    component: dict[str, Any] = {"type": component_type, "custom_id": custom_id, "min_values": 1, "max_values": 25}
    if component_type == 3:
        component["options"] = [{"label": v, "value": v} for v in values or ["option"]]
    return component


def _source_message(
    custom_id: str, component_type: int, values: Sequence[str] | None, channel_id: int
) -> dict[str, Any]:
    """A bot message carrying the component; discord.py drops DynamicItem clicks without one."""
    row = {"type": 1, "components": [_component_dict(custom_id, component_type, values)]}
    return message_object(
        message_id=snowflake(),
        channel_id=channel_id,
        author={"id": str(DEFAULT_BOT_USER_ID), "username": "Chorus", "discriminator": "0", "bot": True},
        components=[row],
    )


def component(
    custom_id: str,
    *,
    component_type: int = 2,
    message: dict[str, Any] | None = None,
    values: Sequence[str] | None = None,
    resolved: dict[str, Any] | None = None,
    **context: Any,
) -> dict[str, Any]:
    """A click on a button (``component_type=2``) or a choice in a select (3, 5-8, with ``values``).

    ``message`` is the message the component sits on, e.g. ``fake.messages[message_id]``; by
    default a bot message containing just this component is made up.
    """
    data: dict[str, Any] = {"custom_id": custom_id, "component_type": component_type}
    if component_type != 2:
        data["values"] = list(values or [])
    if resolved:
        data["resolved"] = resolved
    channel_id = int(context.get("channel_id", DEFAULT_CHANNEL_ID))
    message = message or _source_message(custom_id, component_type, values, channel_id)
    return interaction_payload(MESSAGE_COMPONENT, data, message=message, **context)


def _submitted(component: dict[str, Any], value: str | Sequence[str]) -> dict[str, Any]:
    """What Discord sends back for one modal input."""
    submitted: dict[str, Any] = {"type": component.get("type", 4), "custom_id": component["custom_id"]}
    if component.get("id") is not None:
        submitted["id"] = component["id"]
    if submitted["type"] == 4:
        submitted["value"] = value if isinstance(value, str) else "".join(value)
    else:
        submitted["values"] = [value] if isinstance(value, str) else list(value)
    return submitted


def modal_submit(
    custom_id: str,
    fields: Mapping[str, str],
    *,
    layout: str = "action_row",
    message: dict[str, Any] | None = None,
    **context: Any,
) -> dict[str, Any]:
    """A modal submit; ``fields`` maps text input custom_ids to the values typed.

    ``layout="action_row"`` (type 1 rows holding type 4 inputs) is what discord.py 2.7 renders
    for ``TextInput`` items added directly to a ``Modal``; ``layout="label"`` (type 18 labels
    with an inner ``component``) is the shape for ``discord.ui.Label``. discord.py parses both.
    """
    if layout not in ("action_row", "label"):
        raise ValueError("layout must be 'action_row' or 'label'")
    components = []
    for field_id, value in fields.items():
        text_input = _submitted({"type": 4, "custom_id": field_id}, value)
        if layout == "action_row":
            components.append({"type": 1, "components": [text_input]})
        else:
            components.append({"type": 18, "component": text_input})
    data = {"custom_id": custom_id, "components": components}
    return interaction_payload(MODAL_SUBMIT, data, message=message, **context)


def _modal_inputs(modal: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any], str | None]]:
    """(top-level component, input component, label) for every input of a modal's ``data``."""
    for top in modal.get("components") or []:
        if top.get("type") == 18:
            yield top, top["component"], top.get("label")
        for inner in top.get("components") or []:
            yield top, inner, inner.get("label")


def modal_submit_for(
    modal: dict[str, Any], values: Mapping[str, str | Sequence[str]], **context: Any
) -> dict[str, Any]:
    """Answer the modal the bot sent (the callback's ``json["data"]``), mirroring its layout.

    ``values`` is keyed by input custom_id or by label; inputs not mentioned submit their
    default ``value`` (or "").
    """
    components = []
    for top, item, label in _modal_inputs(modal):
        if "custom_id" not in item:
            continue
        value = values.get(item["custom_id"], values.get(label or "", item.get("value", "")))
        submitted = _submitted(item, value)
        wrapper: dict[str, Any] = {"type": 18, "component": submitted}
        if top.get("type") != 18:
            wrapper = {"type": 1, "components": [submitted]}
        if top.get("id") is not None:
            wrapper["id"] = top["id"]
        components.append(wrapper)
    data = {"custom_id": modal["custom_id"], "components": components}
    return interaction_payload(MODAL_SUBMIT, data, **context)
