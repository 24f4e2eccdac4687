"""/mashup: two tracks blended into one — one of yours, and one of yours or another member's that was posted
in this server."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.flows import (
    Feature,
    Model,
    member_defaults,
    resolve_server_track,
    resolve_track,
    server_track_autocomplete,
    start_task,
    track_autocomplete,
)
from bot.models import MashupRequest, TaskKind
from bot.providers.errors import InputError

if TYPE_CHECKING:
    from bot.core import ChorusBot


class Mashup(Feature):
    """Blend two tracks."""

    def operations(self) -> dict[str, frozenset[TaskKind]]:
        return {"mashup": frozenset({TaskKind.MASHUP})}

    @app_commands.command(name="mashup", description="Blend one of your tracks with another track of this server")
    @app_commands.describe(
        track="One of your tracks (start typing its title)",
        with_="The track to blend it with: yours, or any posted in this server",
        style="How the mashup should sound (default: a blend of both)",
        model="Suno model (default: the newest, or your /settings)",
    )
    @app_commands.rename(with_="with")
    @app_commands.autocomplete(track=track_autocomplete, with_=server_track_autocomplete)
    @app_commands.guild_only()
    async def mashup(
        self,
        interaction: discord.Interaction[ChorusBot],
        track: str,
        with_: str,
        style: app_commands.Range[str, 1, 400] | None = None,
        model: Model | None = None,
    ) -> None:
        first = await resolve_track(interaction, track)
        second = await resolve_server_track(interaction, with_)
        if first.track.audio_id == second.track.audio_id:
            raise InputError("Pick two different tracks to blend.")
        titles = (first.track.title or "Untitled", second.track.title or "Untitled")
        prompt = style.strip() if style else f"A mashup of \u201c{titles[0]}\u201d and \u201c{titles[1]}\u201d"
        defaults = await member_defaults(interaction)
        request = MashupRequest(upload_urls=(first.audio_url(), second.audio_url()), prompt=prompt[:400],
                                model=defaults.model_or(model), source_titles=titles)
        await start_task(interaction, request)


async def setup(bot: ChorusBot) -> None:
    await bot.add_cog(Mashup(bot))
