"""/sfx: a sound effect or a loop (Suno "Sounds"), where the provider makes them (kie.ai, sunoapi.org)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.flows import Feature, start_task
from bot.models import SOUND_KEYS, SoundRequest, TaskKind, key_name
from bot.providers.validation import SOUND_PROMPT, SOUND_TEMPO

if TYPE_CHECKING:
    from bot.core import ChorusBot

# Discord allows 25 choices: exactly "Any" and the 24 keys, minor first as Suno lists them.
KEY_CHOICES = [app_commands.Choice(name=key_name(key), value=key) for key in SOUND_KEYS]


class Sounds(Feature):
    """Sound effects and loops."""

    def operations(self) -> dict[str, frozenset[TaskKind]]:
        return {"sfx": frozenset({TaskKind.SOUND})}

    @app_commands.command(name="sfx", description="A sound effect or a loop from a description")
    @app_commands.describe(
        prompt="What it sounds like, e.g. \u201crain on a tin roof\u201d or \u201ca punchy 808 drum loop\u201d",
        loop="Make a seamless loop instead of a one-shot sound (default: one-shot)",
        bpm="Tempo in beats per minute, 1\u2013300 (default: Suno chooses)",
        key="Musical key (default: any)",
    )
    @app_commands.choices(key=KEY_CHOICES)
    @app_commands.guild_only()
    async def sfx(
        self,
        interaction: discord.Interaction[ChorusBot],
        prompt: app_commands.Range[str, 1, SOUND_PROMPT],
        loop: bool = False,
        bpm: app_commands.Range[int, SOUND_TEMPO[0], SOUND_TEMPO[1]] | None = None,
        key: app_commands.Choice[str] | None = None,
    ) -> None:
        request = SoundRequest(prompt=prompt.strip(), loop=loop, bpm=bpm, key=key.value if key else "Any")
        await start_task(interaction, request)


async def setup(bot: ChorusBot) -> None:
    await bot.add_cog(Sounds(bot))
