"""/lyrics: lyrics only, each variant with a "Make a song" button that opens the compose form prefilled."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.flows import Feature, start_task
from bot.models import LyricsRequest, MusicRequest, Task, TaskKind
from bot.providers.errors import InputError
from bot.views import ActionHandler
from cogs.generate import ComposeModal

if TYPE_CHECKING:
    from bot.core import ChorusBot


LYRICS_IDEA_LIMIT = 200  # every provider's (contract §2 row 7, §8)


class LyricsCog(Feature, name="Lyrics"):
    """Write lyrics."""

    def operations(self) -> dict[str, frozenset[TaskKind]]:
        return {"lyrics": frozenset({TaskKind.LYRICS})}

    def buttons(self) -> dict[str, ActionHandler]:
        return {"song": open_song_form}

    @app_commands.command(name="lyrics", description="Have Suno write lyrics (two or three versions) to use in a song")
    @app_commands.describe(prompt="What the lyrics should be about (up to 200 characters)")
    @app_commands.guild_only()
    async def lyrics(
        self, interaction: discord.Interaction[ChorusBot], prompt: app_commands.Range[str, 1, LYRICS_IDEA_LIMIT]
    ) -> None:
        await start_task(interaction, LyricsRequest(prompt=prompt))


async def open_song_form(interaction: discord.Interaction[ChorusBot], task: Task, position: int, arg: str | None) -> None:
    """"Make a song" under a lyrics variant: the custom-mode form with those lyrics and title filled in."""
    if position >= len(task.lyrics):
        raise InputError("I no longer have these lyrics in my records.")
    variant = task.lyrics[position]
    capabilities = interaction.client.provider.capabilities
    draft = MusicRequest(custom_mode=True, title=variant.title, prompt=variant.text, model=capabilities.default_model)
    await interaction.response.send_modal(ComposeModal(draft, capabilities.limits))


async def setup(bot: ChorusBot) -> None:
    await bot.add_cog(LyricsCog(bot))
