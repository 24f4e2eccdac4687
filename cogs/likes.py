"""Likes: the ⭐ button under every track (one per member, not on your own), its count on the track, and
/top: the server's most-liked tracks."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.delivery import set_likes
from bot.flows import Feature, jump_url, may_hear
from bot.formatting import member_text
from bot.models import Task
from bot.replies import send_ephemeral
from bot.views import ActionHandler, track_view

if TYPE_CHECKING:
    from bot.core import ChorusBot

DAY = 86400
PERIODS = {"week": 7 * DAY, "month": 30 * DAY, "all": None}
TOP = 10
MEDALS = ("\U0001f947", "\U0001f948", "\U0001f949")


class Likes(Feature):
    """Like tracks; the server's best."""

    def buttons(self) -> dict[str, ActionHandler]:
        return {"like": like}

    @app_commands.command(name="top", description="This server's most-liked tracks")
    @app_commands.describe(period="Tracks made in the last week, month, or ever (default: week)")
    @app_commands.choices(period=[app_commands.Choice(name=name, value=name) for name in PERIODS])
    @app_commands.guild_only()
    async def top(self, interaction: discord.Interaction[ChorusBot], period: str = "week") -> None:
        seconds = PERIODS.get(period)
        since = 0.0 if seconds is None else self.bot.clock() - seconds
        found = await self.bot.store.top_tracks(interaction.guild_id or 0, since=since, limit=TOP * 4)
        top = [entry for entry in found if may_hear(interaction, entry.task)][:TOP]
        when = "ever" if seconds is None else f"this {period}"
        embed = discord.Embed(title=f"\u2b50 Most-liked tracks {when}", colour=discord.Colour.gold())
        lines = []
        for rank, entry in enumerate(top):
            task, track = entry.task, entry.task.tracks[entry.position]
            place = MEDALS[rank] if rank < len(MEDALS) else f"{rank + 1}."
            link = (f" \u00b7 [listen]({jump_url(task.guild_id, task.channel_id, track.message_id)})"
                    if track.message_id else "")
            lines.append(f"{place} **{member_text(track.title or 'Untitled', 80)}** by <@{task.user_id}> \u2014 "
                         f"\u2b50 {entry.likes}{link}")
        embed.description = "\n".join(lines) or ("No track has a like yet. Press \u2b50 under a song you enjoy "
                                                 "(not your own).")
        await send_ephemeral(interaction, embed=embed)


async def like(interaction: discord.Interaction[ChorusBot], task: Task, position: int, arg: str | None) -> None:
    """The ⭐ button: like a track, or take the like back; the count on the message follows."""
    if position >= len(task.tracks) or task.deleted_at is not None:
        await send_ephemeral(interaction, "This track was deleted.")
        return
    if interaction.user.id == task.user_id:
        await send_ephemeral(interaction, "That's your own track: likes are for other members' songs.")
        return
    store = interaction.client.store
    liked = await store.toggle_like(task.guild_id or 0, task.id, position, interaction.user.id)
    count = await store.like_count(task.id, position)
    message = interaction.message
    if message is not None and message.embeds:
        embed = message.embeds[0]
        set_likes(embed, count)
        offers = interaction.client.provider.capabilities.offered
        await interaction.response.edit_message(embed=embed, view=track_view(task, position, offers, likes=count))
    title = member_text(task.tracks[position].title or "this track", 80)
    await send_ephemeral(interaction, f"\u2b50 You like \u201c{title}\u201d." if liked
                         else f"You took back your like of \u201c{title}\u201d.")


async def setup(bot: ChorusBot) -> None:
    await bot.add_cog(Likes(bot))
