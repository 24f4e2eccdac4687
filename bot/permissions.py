"""Who may do what: spending actions on a task belong to its owner and to moderators."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import discord

from bot.models import Task, TaskKind

if TYPE_CHECKING:
    from bot.store import Store


def permission_names(names: Iterable[str]) -> str:
    """ "send_messages", "embed_links" → "Send Messages, Embed Links" (as Discord's settings name them)."""
    return ", ".join(name.replace("_", " ").title() for name in names)


def is_moderator(interaction: discord.Interaction[Any]) -> bool:
    """Members with Manage Server (as Discord resolved them for this interaction: no cache needed)."""
    return interaction.permissions.manage_guild


async def is_staff(interaction: discord.Interaction[Any], store: Store) -> bool:
    """Moderators: Manage Server, or the moderator role an administrator chose (/mod moderator-role)."""
    if is_moderator(interaction):
        return True
    policy = await store.policy(interaction.guild_id or 0)
    roles = {role.id for role in getattr(interaction.user, "roles", [])}
    return policy.moderator_role_id is not None and policy.moderator_role_id in roles


STAFF_ONLY = "Only moderators can do that: members with Manage Server, or the server's moderator role."


async def may_act_on(interaction: discord.Interaction[Any], task: Task, store: Store) -> bool:
    """Spending on a task, deleting or cancelling it: its owner, or a moderator (Manage Server, or the
    server's moderator role)."""
    return interaction.user.id == task.user_id or await is_staff(interaction, store)


def not_yours(task: Task) -> str:
    what = "These lyrics belong" if task.kind == TaskKind.LYRICS else "This track belongs"
    return f"{what} to <@{task.user_id}>: only they (or a moderator) can do that."
