"""/karaoke and the Karaoke button: a track's lyrics with their times — a synced .lrc file and the lines with
their start times — privately, to whoever asks (it costs them a little). Made once per track: the .lrc is kept
with the song's other files, so asking again is free."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.flows import (
    Feature,
    SourceTrack,
    charged,
    check_here,
    resolve_server_track,
    server_track_autocomplete,
)
from bot.formatting import format_clock, member_text, shorten
from bot.karaoke import karaoke_lines, lrc
from bot.models import Task
from bot.providers.errors import InputError
from bot.replies import send_ephemeral
from bot.views import ActionHandler

if TYPE_CHECKING:
    from bot.core import ChorusBot

EMBED_LIMIT = 4000


class Karaoke(Feature):
    """Synced lyrics."""

    def unoffered(self, offers: frozenset) -> list[str]:  # type: ignore[type-arg]
        return [] if "karaoke" in self.bot.provider.capabilities.tools else ["karaoke"]

    def buttons(self) -> dict[str, ActionHandler]:
        return {"karaoke": karaoke_button}

    @app_commands.command(name="karaoke", description="A track's lyrics with their times, as a synced .lrc file")
    @app_commands.describe(track="A track posted in this server (start typing its title)")
    @app_commands.autocomplete(track=server_track_autocomplete)
    @app_commands.guild_only()
    async def karaoke(self, interaction: discord.Interaction[ChorusBot], track: str) -> None:
        await send_karaoke(interaction, await resolve_server_track(interaction, track))


async def karaoke_button(interaction: discord.Interaction[ChorusBot], task: Task, position: int, arg: str | None
                         ) -> None:
    if position >= len(task.tracks):
        raise InputError("I no longer have this track in my records.")
    await send_karaoke(interaction, SourceTrack.of(interaction.client, task, position))


async def send_karaoke(interaction: discord.Interaction[ChorusBot], source: SourceTrack) -> None:
    """The .lrc (kept after the first time) and the lines, privately."""
    bot = interaction.client
    title = source.track.title or "Untitled"
    kept = bot.delivery.kept_karaoke(source.task, source.position)
    if kept is not None:  # free: the server's rules still apply (paid, charged() applies them)
        await check_here(interaction)
    else:
        if source.expired or not source.task.provider_task_id:
            raise InputError("Suno deleted this track's files after 14 days, so it can't time its lyrics any more.")
        await interaction.response.defer(ephemeral=True, thinking=True)
        async with charged(interaction, "karaoke", f"karaoke of \u201c{title}\u201d"):
            await bot.dispatcher.tool_turn()
            words = await bot.provider.timestamped_lyrics(source.task.provider_task_id, source.track.audio_id)
            if not words:
                raise InputError(f"\u201c{member_text(title, 80)}\u201d is instrumental: there are no lyrics to sing "
                                 "along to (nothing was spent).")
        kept = lrc(karaoke_lines(words, source.track.lyrics), title)
        await bot.delivery.keep_karaoke(source.task, source.position, kept)
    embed = discord.Embed(title=f"\U0001f3a4 {member_text(title, 240)}", colour=discord.Colour.purple())
    embed.description = shorten("\n".join(_shown(kept)), EMBED_LIMIT)
    embed.set_footer(text="Load the .lrc file in a player that shows synced lyrics.")
    file = discord.File(io.BytesIO(kept.encode()), filename=f"{_stem(title)}.lrc")
    await send_ephemeral(interaction, embed=embed, file=file)


def _shown(text: str) -> list[str]:
    """The .lrc's lines as "`m:ss` words"."""
    lines = []
    for line in text.splitlines():
        if line[1:3].isdigit() and "]" in line:
            stamp, _, words = line[1:].partition("]")
            minutes, _, seconds = stamp.partition(":")
            lines.append(f"`{format_clock(int(minutes) * 60 + float(seconds))}` {member_text(words, 200)}")
    return lines


def _stem(title: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in title)[:60] or "lyrics"


async def setup(bot: ChorusBot) -> None:
    await bot.add_cog(Karaoke(bot))
