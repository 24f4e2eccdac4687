"""/art: new cover art for one of your songs (Suno paints one set per song: asking again posts the same set
again, at no cost)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.flows import Feature, resolve_track, start_task, track_autocomplete
from bot.models import ArtRequest, TaskKind
from bot.providers.errors import InputError

if TYPE_CHECKING:
    from bot.core import ChorusBot


class Art(Feature):
    """Cover art."""

    def operations(self) -> dict[str, frozenset[TaskKind]]:
        return {"art": frozenset({TaskKind.ART})}

    @app_commands.command(name="art", description="New cover art for one of your songs")
    @app_commands.describe(track="One of your tracks (start typing its title)")
    @app_commands.autocomplete(track=track_autocomplete)
    @app_commands.guild_only()
    async def art(self, interaction: discord.Interaction[ChorusBot], track: str) -> None:
        source = await resolve_track(interaction, track)
        if source.expired or not source.task.provider_task_id:
            raise InputError("Suno deleted this song's files after 14 days, so it can't paint new art for it.")
        await start_task(interaction, ArtRequest(source_task_id=source.task.provider_task_id,
                                                 source_title=source.track.title, source_provider=source.task.provider))


async def setup(bot: ChorusBot) -> None:
    await bot.add_cog(Art(bot))
