"""/generate (an idea → a song) and /compose (your own lyrics, style and title, in a modal)."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.delivery import DEFAULT_UPLOAD_LIMIT
from bot.formatting import quote_block
from bot.models import DEFAULT_MODEL, MODELS, MusicRequest
from bot.providers.errors import InputError, ProviderError
from bot.providers.kie import LYRICS_LIMITS, NON_CUSTOM_PROMPT_LIMIT, STYLE_LIMITS, TITLE_LIMIT
from bot.replies import report_unexpected, send_ephemeral
from bot.songs import Origin

if TYPE_CHECKING:
    from bot.core import ChorusBot

MODEL_CHOICES = [app_commands.Choice(name=label, value=key) for key, label in MODELS.items()]
MODAL_TEXT_LIMIT = 4000  # Discord's maximum for one text input
NEGATIVE_TAGS_LIMIT = 200
DRAFT_TIMEOUT = 14 * 60  # the "edit and retry" button lives as long as the interaction token
REQUIRED_PERMISSIONS = ("view_channel", "send_messages", "embed_links", "attach_files", "read_message_history")


class Generate(commands.Cog):
    """Make songs."""

    def __init__(self, bot: ChorusBot) -> None:
        self.bot = bot

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
        await submit_song(interaction, request)

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
            label="Title", max_length=TITLE_LIMIT, default=draft.title or None, placeholder="Neon Rain"
        )
        self.style = discord.ui.TextInput(
            label="Style",
            style=discord.TextStyle.paragraph,
            max_length=STYLE_LIMITS[draft.model],
            default=draft.style or None,
            placeholder="dreamy synth-pop, breathy female vocals, 96 bpm",
        )
        self.add_item(self.song_title)
        self.add_item(self.style)
        self.lyrics: discord.ui.TextInput[ComposeModal] | None = None
        if not draft.instrumental:
            self.lyrics = discord.ui.TextInput(
                label="Lyrics",
                style=discord.TextStyle.paragraph,
                max_length=min(MODAL_TEXT_LIMIT, LYRICS_LIMITS[draft.model]),
                default=draft.prompt or None,
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
        await submit_song(interaction, self.request(), retry=lambda request: ComposeModal(request))

    async def on_error(self, interaction: discord.Interaction[ChorusBot], error: Exception) -> None:  # type: ignore[override]
        await report_unexpected(interaction, error, "/compose modal")


class RetryView(discord.ui.View):
    """An "Edit and try again" button that reopens the form with everything the member typed."""

    def __init__(self, request: MusicRequest, modal: Callable[[MusicRequest], discord.ui.Modal]) -> None:
        super().__init__(timeout=DRAFT_TIMEOUT)
        self.request = request
        self.modal = modal

    @discord.ui.button(label="Edit and try again", style=discord.ButtonStyle.primary, emoji="\u270f\ufe0f")
    async def edit(self, interaction: discord.Interaction[ChorusBot], button: discord.ui.Button[Any]) -> None:
        await interaction.response.send_modal(self.modal(self.request))


async def submit_song(
    interaction: discord.Interaction[ChorusBot],
    request: MusicRequest,
    *,
    retry: Callable[[MusicRequest], discord.ui.Modal] | None = None,
) -> None:
    """The path every song request takes: validate, check the channel, defer privately, submit, report."""
    bot = interaction.client
    if interaction.guild_id is None or interaction.channel_id is None:
        # Discord hides guild-only commands in DMs; this covers clients that do not.
        await send_ephemeral(interaction, "Use this in a server channel: that's where I post the songs.")
        return
    try:
        bot.songs.validate(request)
    except InputError as error:
        await _refuse(interaction, error.user_message, request, retry)
        return
    missing = missing_permissions(interaction)
    if missing:
        needed = ", ".join(name.replace("_", " ").title() for name in missing)
        await _refuse(interaction, f"I can't post songs in this channel: I need {needed}. "
                      "Ask a server admin, or try another channel.", request, retry)
        return
    await interaction.response.defer(ephemeral=True, thinking=True)
    origin = Origin(
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id,
        user_id=interaction.user.id,
        upload_limit=interaction.filesize_limit or DEFAULT_UPLOAD_LIMIT,
    )
    try:
        task = await bot.songs.submit(request, origin)
    except ProviderError as error:
        await _refuse(interaction, error.user_message, request, retry)
        return
    except discord.Forbidden:
        await _refuse(interaction, "I can't post in this channel. Ask a server admin to let me send messages "
                      "here, or try another channel.", request, retry)
        return
    link = f"https://discord.com/channels/{task.guild_id}/{task.channel_id}/{task.status_message_id}"
    await send_ephemeral(
        interaction,
        f"\U0001f3b6 On it! Suno is making your song. Follow along here: {link}\n"
        "I'll post the tracks in this channel and mention you when they're ready.",
    )


def missing_permissions(interaction: discord.Interaction[Any]) -> list[str]:
    """What the bot lacks in this channel to post a song (threads need "send messages in threads")."""
    needed = list(REQUIRED_PERMISSIONS)
    if isinstance(interaction.channel, discord.Thread):
        needed[needed.index("send_messages")] = "send_messages_in_threads"
    return [name for name in needed if not getattr(interaction.app_permissions, name)]


async def _refuse(
    interaction: discord.Interaction[ChorusBot],
    message: str,
    request: MusicRequest,
    retry: Callable[[MusicRequest], discord.ui.Modal] | None,
) -> None:
    """Say what to change, and give back what the member wrote so nothing is lost."""
    extra: dict[str, Any] = {}
    if retry is not None:
        extra["view"] = RetryView(request, retry)
        if request.prompt.strip():
            extra["file"] = discord.File(io.BytesIO(request.prompt.encode()), filename="lyrics.txt")
        message += "\nYour text is kept: press **Edit and try again**, or copy the attached lyrics."
    elif request.prompt.strip():
        message += f"\nYour prompt, to copy and adjust:\n{quote_block(request.prompt, 1500)}"
    await send_ephemeral(interaction, message, **extra)


async def setup(bot: ChorusBot) -> None:
    await bot.add_cog(Generate(bot))
