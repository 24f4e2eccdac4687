"""Persistent buttons on posted results. State lives in the custom_id and the database, never in memory,
so the buttons keep working after a restart."""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING, Any

import discord

from bot.formatting import format_clock, shorten
from bot.models import MODELS, Task, Track
from bot.replies import report_unexpected

if TYPE_CHECKING:
    from bot.core import ChorusBot

RETENTION_DAYS = 14  # provider file retention (contract §5.3)
SEPARATOR = " \u00b7 "


class InfoButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"chorus:info:(?P<task>[0-9]+):(?P<position>[0-9]+)"):
    """Shows a track's details (idea, lyrics, style, model, ids, links) to whoever clicks, privately."""

    def __init__(self, task_id: int, position: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Info",
                emoji="\u2139\ufe0f",
                style=discord.ButtonStyle.secondary,
                custom_id=f"chorus:info:{task_id}:{position}",
            )
        )
        self.task_id = task_id
        self.position = position

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button[Any], match: re.Match[str]
    ) -> InfoButton:
        return cls(int(match["task"]), int(match["position"]))

    async def callback(self, interaction: discord.Interaction[ChorusBot]) -> None:
        try:
            await self._show(interaction)
        except Exception as error:
            await report_unexpected(interaction, error, f"info button for task {self.task_id}")

    async def _show(self, interaction: discord.Interaction[ChorusBot]) -> None:
        task = await interaction.client.store.get_task(self.task_id)
        if task is None or self.position >= len(task.tracks):
            await interaction.response.send_message("I no longer have this track in my records.", ephemeral=True)
            return
        track = task.tracks[self.position]
        embed, lyrics_file = info_embed(task, track)
        if lyrics_file is None:
            await interaction.response.send_message(embed=embed, ephemeral=True)
        else:
            await interaction.response.send_message(embed=embed, file=lyrics_file, ephemeral=True)


def info_embed(task: Task, track: Track) -> tuple[discord.Embed, discord.File | None]:
    """The details of one track; lyrics too long for an embed come as a .txt file instead of being cut."""
    embed = discord.Embed(title=shorten(track.title or task.request.summary or "Untitled", 256))
    lyrics_file = None
    if track.lyrics:
        if len(track.lyrics) <= 3900:
            embed.description = track.lyrics
        else:
            embed.description = "The lyrics are attached as a text file."
            lyrics_file = discord.File(io.BytesIO(track.lyrics.encode()), filename="lyrics.txt")
    if not task.request.custom_mode:
        embed.add_field(name="Idea", value=shorten(task.request.prompt, 1000), inline=False)
    if track.tags:
        embed.add_field(name="Style", value=shorten(track.tags, 1000), inline=False)
    model = MODELS.get(task.request.model, task.request.model)
    embed.add_field(name="Model", value=f"{model} ({track.model_name})" if track.model_name else model)
    if track.duration:
        embed.add_field(name="Duration", value=format_clock(track.duration))
    embed.add_field(name="Requested by", value=f"<@{task.user_id}>")
    embed.add_field(name="Made", value=f"<t:{int(task.finished_at or task.created_at)}:f>")
    links = [f"[{name}]({url})" for name, url in (("Audio", track.audio_url), ("Stream", track.stream_url),
                                                  ("Cover", track.image_url)) if url]
    if links:
        expires = int(task.created_at) + RETENTION_DAYS * 86400
        embed.add_field(name="Files", value=f"{SEPARATOR.join(links)} (expire <t:{expires}:R>)", inline=False)
    embed.set_footer(text=f"Task #{task.id} \u00b7 audio id {track.audio_id}")
    return embed, lyrics_file
