"""The moderators' log channel: every moderator action and every spend or refund, as a short embed."""

from __future__ import annotations

import logging

import discord

from bot.formatting import member_text, shorten
from bot.models import Task
from bot.store import Store

log = logging.getLogger(__name__)

COLOR_SPEND = discord.Colour.gold()
COLOR_REFUND = discord.Colour.teal()
COLOR_MODERATOR = discord.Colour.dark_orange()


class AuditLog:
    def __init__(self, client: discord.Client, store: Store) -> None:
        self._client = client
        self._store = store

    async def post(self, guild_id: int | None, embed: discord.Embed) -> None:
        """Post to the server's log channel, if it has one. A log that cannot be posted is only logged here."""
        if guild_id is None:
            return
        policy = await self._store.policy(guild_id)
        if policy.log_channel_id is None:
            return
        channel = self._client.get_partial_messageable(policy.log_channel_id, guild_id=guild_id)
        try:
            await channel.send(embed=embed, allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException as error:
            log.warning("guild %s: could not post to the log channel: %s", guild_id, error)

    async def spent(self, task: Task, cost: int, balance: int) -> None:
        embed = discord.Embed(colour=COLOR_SPEND, description=(
            f"\U0001f4b3 <@{task.user_id}> spent **{cost}** credit{'s' if cost != 1 else ''} on "
            f"{task.kind.replace('_', ' ')} \u2014 \u201c{member_text(task.request.summary, 80)}\u201d "
            f"(task #{task.id}, balance {balance})"
        ))
        await self.post(task.guild_id, embed)

    async def task_finished(self, task: Task) -> None:
        """Say so when a finished task was refunded."""
        refund = await self._store.refund_of(task.id)
        if refund is None:
            return
        embed = discord.Embed(colour=COLOR_REFUND, description=(
            f"\u21a9\ufe0f Refunded **{refund.amount}** credit{'s' if refund.amount != 1 else ''} to "
            f"<@{task.user_id}> for task #{task.id}: {member_text(refund.reason, 300)}"
        ))
        await self.post(task.guild_id, embed)

    async def moderator(self, guild_id: int, actor_id: int, action: str) -> None:
        embed = discord.Embed(colour=COLOR_MODERATOR,
                              description=f"\U0001f6e1\ufe0f <@{actor_id}> {shorten(action, 900)}")
        await self.post(guild_id, embed)
