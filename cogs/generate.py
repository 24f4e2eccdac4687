"""/generate (an idea → a song) and /compose (your own lyrics, style and title, in a modal)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.flows import Feature, start_task
from bot.models import DEFAULT_MODEL, MODELS, MusicRequest
from bot.providers.errors import InputError
from bot.providers.kie import LYRICS_LIMITS, NON_CUSTOM_PROMPT_LIMIT, STYLE_LIMITS, TITLE_LIMIT
from bot.replies import report_unexpected

if TYPE_CHECKING:
    from bot.core import ChorusBot

MODEL_CHOICES = [app_commands.Choice(name=label, value=key) for key, label in MODELS.items()]
MODAL_TEXT_LIMIT = 4000  # Discord's maximum for one text input
NEGATIVE_TAGS_LIMIT = 200


class Generate(Feature):
    """Make songs."""

    @app_commands.command(name="generate", description="Make a song from an idea; Suno writes the lyrics and music")
    @app_commands.describe(
        prompt="What the song is about and how it should sound (up to 500 characters)",
        instrumental="No vocals (default: off)",
        model="Suno model (default: V5, the newest)",
    )
    @app_commands.choices(model=MODEL_CHOICES)
    @app_commands.guild_only()
    async def generate(
        self,
        interaction: discord.Interaction[ChorusBot],
        prompt: app_commands.Range[str, 1, NON_CUSTOM_PROMPT_LIMIT],
        instrumental: bool = False,
        model: str = DEFAULT_MODEL,
    ) -> None:
        request = MusicRequest(prompt=prompt, instrumental=instrumental, model=model)
        await start_task(interaction, request)

    @app_commands.command(name="compose", description="Make a song from your own lyrics, style and title")
    @app_commands.describe(
        model="Suno model (default: V5, the newest)",
        instrumental="No vocals: no lyrics needed (default: off)",
        vocal_gender="Preferred voice (a hint to Suno, not a guarantee)",
    )
    @app_commands.choices(
        model=MODEL_CHOICES,
        vocal_gender=[app_commands.Choice(name="Male", value="m"), app_commands.Choice(name="Female", value="f")],
    )
    @app_commands.guild_only()
    async def compose(
        self,
        interaction: discord.Interaction[ChorusBot],
        model: str = DEFAULT_MODEL,
        instrumental: bool = False,
        vocal_gender: str | None = None,
    ) -> None:
        if model not in MODELS:
            raise InputError(f"Unknown model {model!r}. Pick one of: {', '.join(MODELS)}.")
        draft = MusicRequest(custom_mode=True, model=model, instrumental=instrumental, vocal_gender=vocal_gender)
        await interaction.response.send_modal(ComposeModal(draft))


class ComposeModal(discord.ui.Modal):
    """Title, style, lyrics and negative tags for a custom-mode song. Prefilled from ``draft`` on retry."""

    def __init__(self, draft: MusicRequest) -> None:
        super().__init__(title="Compose an instrumental" if draft.instrumental else "Compose a song")
        self.draft = draft
        self.song_title = discord.ui.TextInput(
            label="Title", max_length=TITLE_LIMIT, default=draft.title[:TITLE_LIMIT] or None, placeholder="Neon Rain"
        )
        self.style = discord.ui.TextInput(
            label="Style",
            style=discord.TextStyle.paragraph,
            max_length=STYLE_LIMITS[draft.model],
            default=draft.style[: STYLE_LIMITS[draft.model]] or None,
            placeholder="dreamy synth-pop, breathy female vocals, 96 bpm",
        )
        self.add_item(self.song_title)
        self.add_item(self.style)
        self.lyrics: discord.ui.TextInput[ComposeModal] | None = None
        if not draft.instrumental:
            limit = min(MODAL_TEXT_LIMIT, LYRICS_LIMITS[draft.model])
            self.lyrics = discord.ui.TextInput(
                label="Lyrics",
                style=discord.TextStyle.paragraph,
                max_length=limit,
                default=draft.prompt[:limit] or None,
                placeholder="[Verse]\n…\n[Chorus]\n…",
            )
            self.add_item(self.lyrics)
        self.negative_tags = discord.ui.TextInput(
            label="Negative tags (optional)",
            required=False,
            max_length=NEGATIVE_TAGS_LIMIT,
            default=draft.negative_tags or None,
            placeholder="styles to avoid, e.g. heavy metal, autotune",
        )
        self.add_item(self.negative_tags)

    def request(self) -> MusicRequest:
        return MusicRequest(
            custom_mode=True,
            instrumental=self.draft.instrumental,
            model=self.draft.model,
            vocal_gender=self.draft.vocal_gender,
            title=self.song_title.value,
            style=self.style.value,
            prompt=self.lyrics.value if self.lyrics is not None else "",
            negative_tags=self.negative_tags.value,
        )

    async def on_submit(self, interaction: discord.Interaction[ChorusBot]) -> None:  # type: ignore[override]
        await start_task(interaction, self.request(), retry=ComposeModal)

    async def on_error(self, interaction: discord.Interaction[ChorusBot], error: Exception) -> None:  # type: ignore[override]
        await report_unexpected(interaction, error, "/compose modal")


async def setup(bot: ChorusBot) -> None:
    await bot.add_cog(Generate(bot))
