"""/generate (an idea → a song) and /compose (your own lyrics, style and title, in a modal)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.flows import VOICE_CHOICES, Feature, Model, member_defaults, start_task
from bot.models import MusicRequest, TaskKind
from bot.providers.base import TextLimits, check_model
from bot.replies import report_unexpected
from cogs.personas import chosen_persona, persona_autocomplete

if TYPE_CHECKING:
    from bot.core import ChorusBot

MODAL_TEXT_LIMIT = 4000  # Discord's maximum for one text input
IDEA_LIMIT = 500  # the longest any provider takes (kie.ai); the provider's own limit is checked on submit
NEGATIVE_TAGS_LIMIT = 200


class Generate(Feature):
    """Make songs."""

    def operations(self) -> dict[str, frozenset[TaskKind]]:
        return {"generate": frozenset({TaskKind.GENERATE}), "compose": frozenset({TaskKind.COMPOSE})}

    @app_commands.command(name="generate", description="Make a song from an idea; Suno writes the lyrics and music")
    @app_commands.describe(
        prompt="What the song is about and how it should sound (400–500 characters at most, by provider)",
        instrumental="No vocals (default: off, or your /settings)",
        model="Suno model (default: the newest, or your /settings)",
        vocal_gender="Preferred voice (a hint to Suno, not a guarantee)",
        style_weight="How closely to follow the style, 0–1",
        weirdness="How far Suno may stray creatively, 0–1",
        audio_weight="Balance of the audio features, 0–1",
    )
    @app_commands.choices(vocal_gender=VOICE_CHOICES)
    @app_commands.guild_only()
    async def generate(
        self,
        interaction: discord.Interaction[ChorusBot],
        prompt: app_commands.Range[str, 1, IDEA_LIMIT],
        instrumental: bool | None = None,
        model: Model | None = None,
        vocal_gender: str | None = None,
        style_weight: app_commands.Range[float, 0.0, 1.0] | None = None,
        weirdness: app_commands.Range[float, 0.0, 1.0] | None = None,
        audio_weight: app_commands.Range[float, 0.0, 1.0] | None = None,
    ) -> None:
        defaults = await member_defaults(interaction)
        request = MusicRequest(
            prompt=prompt, instrumental=defaults.instrumental_or(instrumental), model=defaults.model_or(model),
            vocal_gender=vocal_gender or defaults.vocal_gender, style_weight=style_weight, weirdness=weirdness,
            audio_weight=audio_weight,
        )
        await start_task(interaction, request)

    @app_commands.command(name="compose", description="Make a song from your own lyrics, style and title")
    @app_commands.describe(
        model="Suno model (default: the newest, or your /settings)",
        instrumental="No vocals: no lyrics needed (default: off, or your /settings)",
        vocal_gender="Preferred voice (a hint to Suno, not a guarantee)",
        style_weight="How closely to follow the style, 0–1",
        weirdness="How far Suno may stray creatively, 0–1",
        audio_weight="Balance of the audio features, 0–1",
        persona="A voice persona of this server to sing with (default: your /settings)",
    )
    @app_commands.choices(vocal_gender=VOICE_CHOICES)
    @app_commands.autocomplete(persona=persona_autocomplete)
    @app_commands.guild_only()
    async def compose(
        self,
        interaction: discord.Interaction[ChorusBot],
        model: Model | None = None,
        instrumental: bool | None = None,
        vocal_gender: str | None = None,
        style_weight: app_commands.Range[float, 0.0, 1.0] | None = None,
        weirdness: app_commands.Range[float, 0.0, 1.0] | None = None,
        audio_weight: app_commands.Range[float, 0.0, 1.0] | None = None,
        persona: str | None = None,
    ) -> None:
        capabilities = self.bot.provider.capabilities
        defaults = await member_defaults(interaction)
        model = defaults.model_or(model)
        check_model(capabilities, model)
        draft = MusicRequest(custom_mode=True, model=model, instrumental=defaults.instrumental_or(instrumental),
                             vocal_gender=vocal_gender or defaults.vocal_gender, style_weight=style_weight,
                             weirdness=weirdness, audio_weight=audio_weight,
                             persona=await chosen_persona(interaction, persona) or await defaults.persona(interaction))
        await interaction.response.send_modal(ComposeModal(draft, capabilities.limits))


class ComposeModal(discord.ui.Modal):
    """Title, style, lyrics and negative tags for a custom-mode song. Prefilled from ``draft`` on retry."""

    def __init__(self, draft: MusicRequest, limits: TextLimits) -> None:
        super().__init__(title="Compose an instrumental" if draft.instrumental else "Compose a song")
        self.draft = draft
        self.limits = limits
        self.song_title = discord.ui.TextInput(
            label="Title", max_length=limits.title, default=draft.title[:limits.title] or None, placeholder="Neon Rain"
        )
        self.style = discord.ui.TextInput(
            label="Style",
            style=discord.TextStyle.paragraph,
            max_length=limits.style_for(draft.model),
            default=draft.style[: limits.style_for(draft.model)] or None,
            placeholder="dreamy synth-pop, breathy female vocals, 96 bpm",
        )
        self.add_item(self.song_title)
        self.add_item(self.style)
        self.lyrics: discord.ui.TextInput[ComposeModal] | None = None
        if not draft.instrumental:
            limit = min(MODAL_TEXT_LIMIT, limits.lyrics_for(draft.model))
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
            style_weight=self.draft.style_weight,
            weirdness=self.draft.weirdness,
            audio_weight=self.draft.audio_weight,
            persona=self.draft.persona,
            title=self.song_title.value,
            style=self.style.value,
            prompt=self.lyrics.value if self.lyrics is not None else "",
            negative_tags=self.negative_tags.value,
        )

    async def on_submit(self, interaction: discord.Interaction[ChorusBot]) -> None:  # type: ignore[override]
        await start_task(interaction, self.request(), retry=lambda draft: ComposeModal(draft, self.limits))

    async def on_error(self, interaction: discord.Interaction[ChorusBot], error: Exception) -> None:  # type: ignore[override]
        await report_unexpected(interaction, error, "/compose modal")


async def setup(bot: ChorusBot) -> None:
    await bot.add_cog(Generate(bot))
