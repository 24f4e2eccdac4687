"""Who may do what: spending actions on a task belong to its owner and to moderators."""

from __future__ import annotations

from typing import Any

import discord

from bot.models import Task, TaskKind


def is_moderator(interaction: discord.Interaction[Any]) -> bool:
    """Members with Manage Server (as Discord resolved them for this interaction: no cache needed)."""
    return interaction.permissions.manage_guild


def may_spend_on(interaction: discord.Interaction[Any], task: Task) -> bool:
    return interaction.user.id == task.user_id or is_moderator(interaction)


def not_yours(task: Task) -> str:
    what = "These lyrics belong" if task.kind == TaskKind.LYRICS else "This track belongs"
    return f"{what} to <@{task.user_id}>: only they (or a moderator with Manage Server) can do that."
