"""/vocals (Suno sings your lyrics over your instrumental) and /instrumental (a backing track for your
vocals): uploads the provider fetches, with the lyrics in a form when they are not given."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.flows import Feature, Model, audio_upload, start_task
from bot.models import AddInstrumentalRequest, AddVocalsRequest, TaskKind
from bot.providers.base import Capabilities, TextLimits
from bot.replies import report_unexpected
from cogs.generate import MODAL_TEXT_LIMIT

if TYPE_CHECKING:
    from bot.core import ChorusBot

VOICE_MODELS = ("V5", "V4_5PLUS")  # what Suno adds vocals and instrumentals with (contract §2 rows 5, 6)


def voice_model(capabilities: Capabilities, given: str | None) -> str:
    """The model asked for, else the newest one Suno adds vocals and instrumentals with."""
    return given or next((model for model in VOICE_MODELS if model in capabilities.models), VOICE_MODELS[0])


class Vocals(Feature):
    """Add vocals or an instrumental to a member's upload."""

    def operations(self) -> dict[str, frozenset[TaskKind]]:
        return {"vocals": frozenset({TaskKind.ADD_VOCALS}), "instrumental": frozenset({TaskKind.ADD_INSTRUMENTAL})}

    @app_commands.command(name="vocals", description="Suno sings your lyrics over an instrumental you upload")
    @app_commands.describe(
        audio="Your instrumental (MP3, WAV, M4A, OGG or FLAC, up to 8 minutes)",
        style="How the vocals should sound, e.g. \u201csoulful female vocals, gospel choir\u201d",
        title="Title (default: the file's name)",
        lyrics="The lyrics to sing (leave out to write them in a form)",
        model="V5 or V4.5+ (default: V5)",
    )
    @app_commands.guild_only()
    async def vocals(
        self,
        interaction: discord.Interaction[ChorusBot],
        audio: discord.Attachment,
        style: app_commands.Range[str, 1, 1000],
        title: str | None = None,
        lyrics: str | None = None,
        model: Model | None = None,
    ) -> None:
        url, file_title = audio_upload(audio)
        capabilities = self.bot.provider.capabilities
        request = AddVocalsRequest(upload_url=url, prompt=lyrics or "", style=style, title=title or file_title,
                                   model=voice_model(capabilities, model), source_title=file_title)
        if not (lyrics or "").strip():
            await interaction.response.send_modal(VocalsModal(request, capabilities.limits))
            return
        await start_task(interaction, request, retry=lambda draft: VocalsModal(draft, capabilities.limits))

    @app_commands.command(name="instrumental", description="Suno plays a backing track for vocals you upload")
    @app_commands.describe(
        audio="Your vocals or a cappella (MP3, WAV, M4A, OGG or FLAC, up to 8 minutes)",
        style="The backing's style, e.g. \u201cwarm acoustic guitar and brushed drums\u201d",
        title="Title (default: the file's name)",
        model="V5 or V4.5+ (default: V5)",
    )
    @app_commands.guild_only()
    async def instrumental(
        self,
        interaction: discord.Interaction[ChorusBot],
        audio: discord.Attachment,
        style: app_commands.Range[str, 1, 1000],
        title: str | None = None,
        model: Model | None = None,
    ) -> None:
        url, file_title = audio_upload(audio)
        request = AddInstrumentalRequest(upload_url=url, style=style, title=title or file_title,
                                         model=voice_model(self.bot.provider.capabilities, model),
                                         source_title=file_title)
        await start_task(interaction, request)


class VocalsModal(discord.ui.Modal):
    """The lyrics (and title and style, to adjust) for /vocals."""

    def __init__(self, draft: AddVocalsRequest, limits: TextLimits) -> None:
        super().__init__(title="Lyrics for your vocals")
        self.draft = draft
        self.limits = limits
        lyrics_limit = min(MODAL_TEXT_LIMIT, limits.lyrics_for(draft.model))
        self.lyrics = discord.ui.TextInput(label="Lyrics", style=discord.TextStyle.paragraph, max_length=lyrics_limit,
                                           default=draft.prompt[:lyrics_limit] or None,
                                           placeholder="[Verse]\n…\n[Chorus]\n…")
        self.style = discord.ui.TextInput(label="Style", style=discord.TextStyle.paragraph,
                                          max_length=limits.style_for(draft.model),
                                          default=draft.style[: limits.style_for(draft.model)] or None)
        self.song_title = discord.ui.TextInput(label="Title", max_length=limits.title,
                                               default=draft.title[: limits.title] or None)
        for item in (self.lyrics, self.style, self.song_title):
            self.add_item(item)

    async def on_submit(self, interaction: discord.Interaction[ChorusBot]) -> None:  # type: ignore[override]
        request = replace(self.draft, prompt=self.lyrics.value, style=self.style.value, title=self.song_title.value)
        await start_task(interaction, request, retry=lambda draft: VocalsModal(draft, self.limits))

    async def on_error(self, interaction: discord.Interaction[ChorusBot], error: Exception) -> None:  # type: ignore[override]
        await report_unexpected(interaction, error, "vocals form")


async def setup(bot: ChorusBot) -> None:
    await bot.add_cog(Vocals(bot))
