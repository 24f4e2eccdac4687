"""Interaction flows every feature shares: starting a task from a command, a modal or a button; finding the
track a member means; taking an uploaded audio file. Cogs call these; they call the song service."""

from __future__ import annotations

import contextlib
import io
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import discord
from discord import app_commands
from discord.ext import commands

from bot.credits import next_period
from bot.delivery import (
    AUDIO_SUFFIXES,
    DEFAULT_UPLOAD_LIMIT,
    SOURCE_LINK_DAYS,
    Destination,
    audio_slot,
)
from bot.formatting import quote_block, shorten
from bot.models import MODELS, Persona, Request, Task, TaskKind, TaskState, Track
from bot.permissions import may_act_on, not_yours, permission_names
from bot.providers.base import Capabilities
from bot.providers.errors import InputError, ProviderError
from bot.replies import send_ephemeral
from bot.rules import check_member
from bot.songs import Origin
from bot.store import Charge, FinishedTrack, MemberSettings
from bot.views import ActionHandler

if TYPE_CHECKING:
    from bot.core import ChorusBot

REQUIRED_PERMISSIONS = ("view_channel", "send_messages", "embed_links", "attach_files", "read_message_history")
DRAFT_TIMEOUT = 14 * 60  # the "edit and retry" button lives as long as the interaction token
ModalFactory = Callable[[Any], discord.ui.Modal]

ON_IT = {
    TaskKind.GENERATE: "Suno is making your song",
    TaskKind.COMPOSE: "Suno is making your song",
    TaskKind.EXTEND: "Suno is extending the track",
    TaskKind.UPLOAD_EXTEND: "Suno is extending your upload",
    TaskKind.COVER: "Suno is recording the cover",
    TaskKind.LYRICS: "Suno is writing your lyrics",
    TaskKind.STEMS: "Suno is separating the stems",
    TaskKind.WAV: "Suno is rendering the WAV",
    TaskKind.VIDEO: "Suno is making the music video",
    TaskKind.ADD_VOCALS: "Suno is singing over your track",
    TaskKind.ADD_INSTRUMENTAL: "Suno is playing a backing track for your vocals",
    TaskKind.MASHUP: "Suno is blending the two tracks",
    TaskKind.REPLACE: "Suno is singing the section again",
    TaskKind.ART: "Suno is painting new cover art",
    TaskKind.MIDI: "Suno is writing the stems' notes as MIDI",
    TaskKind.SOUND: "Suno is making your sound",
}


class ModelOption(app_commands.Transformer):
    """A Suno model. Suggestions list only the models of the bot's provider (its newest first); a typed name
    is understood as the bot writes it ("V4_5PLUS"), as members see it ("V4.5+") or as the provider does
    ("v45+"). A model the provider does not have is refused by validation, with the list."""

    async def autocomplete(  # type: ignore[override]
        self, interaction: discord.Interaction[ChorusBot], value: str
    ) -> list[app_commands.Choice[str]]:
        capabilities = interaction.client.provider.capabilities
        typed = _model_key(value)
        return [
            app_commands.Choice(name=model_label(capabilities, model), value=model)
            for model in capabilities.models
            if typed in _model_key(model) or typed in _model_key(MODELS.get(model, model))
        ]

    async def transform(self, interaction: discord.Interaction[ChorusBot], value: str) -> str:  # type: ignore[override]
        capabilities = interaction.client.provider.capabilities
        typed = _model_key(value)
        for model in MODELS:
            names = (model, MODELS[model], capabilities.models.get(model, ""))
            if typed in {_model_key(name) for name in names if name}:
                return model
        return value.strip()


Model = app_commands.Transform[str, ModelOption]
VOICE_CHOICES = [app_commands.Choice(name="Male", value="m"), app_commands.Choice(name="Female", value="f")]


@dataclass(frozen=True)
class Defaults:
    """A member's /settings, resolved against the provider: what an option left out becomes."""

    settings: MemberSettings
    capabilities: Capabilities

    @property
    def vocal_gender(self) -> str | None:
        return self.settings.vocal_gender

    def model_or(self, given: str | None) -> str:
        """The model given, else the member's (if the provider has it), else the provider's newest."""
        if given:
            return given
        chosen = self.settings.model
        return chosen if chosen in self.capabilities.models else self.capabilities.default_model

    def instrumental_or(self, given: bool | None) -> bool:
        return given if given is not None else bool(self.settings.instrumental)

    async def persona(self, interaction: discord.Interaction[ChorusBot]) -> Persona | None:
        """The member's default persona, if it still exists and this provider made it."""
        if self.settings.persona is None or "persona" not in self.capabilities.tools:
            return None
        found = await interaction.client.store.persona(self.settings.persona)
        if found is None or found.guild_id != interaction.guild_id or found.provider != self.capabilities.name:
            return None
        return Persona(found.provider_persona_id, found.name, found.provider)


async def check_here(interaction: discord.Interaction[ChorusBot]) -> Origin:
    """The server's rules for the member asking here (blocked members, denied or not allowed channels): raises
    the refusal, else returns where the request comes from."""
    origin = origin_of(interaction)
    await check_member(interaction.client.store, origin.guild_id or 0, origin.user_id, origin.channel_id,
                       origin.parent_channel_id)
    return origin


@contextlib.asynccontextmanager
async def charged(interaction: discord.Interaction[ChorusBot], operation: str, what: str) -> AsyncIterator[Charge]:
    """Charge the member for an operation the provider answers at once, after the server's rules (blocked
    members, channels); refunded if the provider fails, with the provider's reason. Raises InputError (saying
    what to do) when the balance is short."""
    bot = interaction.client
    origin = await check_here(interaction)
    guild_id = origin.guild_id or 0
    policy = await bot.store.policy(guild_id)
    cost = policy.cost(operation)
    charge = await bot.store.charge(guild_id, origin.user_id, origin.allowance(policy, bot.clock()),
                                    operation=operation, cost=cost, reason=what)
    if charge is None:
        refill = int(next_period(policy.period, bot.clock()))
        raise InputError(f"That costs {cost} credit{'s' if cost != 1 else ''}, more than you have. Your allowance "
                         f"refills <t:{refill}:R>; a moderator can also grant you more.")
    try:
        yield charge
    except ProviderError as error:
        await bot.store.refund_charge(charge, f"{what}: not made")
        back = (f" Your {cost} credits are back." if cost != 1 else " Your credit is back.") if cost else ""
        raise InputError(f"{error.user_message}{back}") from None
    except BaseException:
        await bot.store.refund_charge(charge, f"{what}: not made")
        raise


async def member_settings(interaction: discord.Interaction[ChorusBot]) -> MemberSettings:
    """The member's /settings, read once per interaction (every request reads them)."""
    settings = interaction.extras.get("member_settings")
    if not isinstance(settings, MemberSettings):
        settings = await interaction.client.store.member_settings(interaction.guild_id or 0, interaction.user.id)
        interaction.extras["member_settings"] = settings
    return settings


async def member_defaults(interaction: discord.Interaction[ChorusBot]) -> Defaults:
    return Defaults(await member_settings(interaction), interaction.client.provider.capabilities)


def model_label(capabilities: Capabilities, model: str) -> str:
    label = MODELS.get(model, model)
    return f"{label} (newest)" if model == capabilities.default_model else label


def _model_key(name: str) -> str:
    """"V4.5+", "v4_5plus", "V4_5PLUS" → one spelling; "v45+" (CQTAI's) → "v45plus"."""
    return name.strip().lower().replace(" ", "").replace(".", "_").replace("+", "plus")


class Feature(commands.Cog):
    """A feature's cog. The result-button actions it handles (``buttons``) and its own persistent items
    (``dynamic_items``) are registered with the bot while the cog is loaded."""

    dynamic_items: tuple[type[discord.ui.DynamicItem[Any]], ...] = ()

    def __init__(self, bot: ChorusBot) -> None:
        self.bot = bot

    def operations(self) -> dict[str, frozenset[TaskKind]]:
        """Command name → the operations it can start. A command none of whose operations the provider
        offers is not registered with Discord at all."""
        return {}

    def unoffered(self, offers: frozenset[TaskKind]) -> list[str]:
        """The names of this cog's commands that the provider cannot serve."""
        return [name for name, kinds in self.operations().items() if not kinds & offers]

    def buttons(self) -> dict[str, ActionHandler]:
        return {}

    async def cog_load(self) -> None:
        self.bot.actions.update(self.buttons())
        self.bot.add_dynamic_items(*self.dynamic_items)

    async def cog_unload(self) -> None:
        for action in self.buttons():
            self.bot.actions.pop(action, None)
        self.bot.remove_dynamic_items(*self.dynamic_items)


@dataclass(frozen=True)
class SourceTrack:
    """A finished track a member picked, with the task that made it. ``kept_url``: when the provider no
    longer has the track (after 14 days), a link the provider can fetch our kept copy from (None: none)."""

    task: Task
    position: int
    expired: bool = False
    kept_url: str | None = None

    @property
    def track(self) -> Track:
        return self.task.tracks[self.position]

    kept: bool = False  # we have a copy (kept_url is None without PUBLIC_BASE_URL: the provider can't fetch it)

    @classmethod
    def of(cls, bot: ChorusBot, task: Task, position: int) -> SourceTrack:
        delivery = bot.delivery
        if delivery.provider_has(task):
            return cls(task, position)
        return cls(task, position, expired=True, kept=delivery.has_copy(task, audio_slot(position)),
                   kept_url=delivery.source_link(task, audio_slot(position)))

    def audio_url(self) -> str:
        """Where the provider can fetch the track: its own file while it keeps it, then our copy."""
        if not self.expired:
            return self.track.audio_url
        if self.kept_url is None:
            if self.kept:
                raise InputError("Suno deleted this track's files after 14 days. I keep a copy, but Suno can only "
                                 "fetch it from the bot's public web address, which isn't set up (the bot's "
                                 "operator can set PUBLIC_BASE_URL).")
            raise InputError("Suno deleted this track's files after 14 days, and I have no copy of it to send "
                             "instead. Make a new song, or upload the audio if you saved it.")
        return self.kept_url


def jump_url(guild_id: int | None, channel_id: int, message_id: int | None) -> str:
    return f"https://discord.com/channels/{guild_id or '@me'}/{channel_id}/{message_id or ''}".rstrip("/")


def task_link(task: Task, message_id: int | None) -> str:
    """A link to one of a task's messages (in the member's DMs for private results)."""
    where = Destination.of(task)
    return jump_url(where.guild_id, where.channel_id, message_id)


async def start_task(
    interaction: discord.Interaction[ChorusBot],
    request: Request,
    *,
    retry: ModalFactory | None = None,
) -> None:
    """The path every request takes: validate, check the channel, defer privately, submit (or reuse a stored
    result), and tell the member where to look. Every refusal is private and says what to change."""
    bot = interaction.client
    if interaction.guild_id is None or interaction.channel_id is None:
        # Discord hides guild-only commands in DMs; this covers clients that do not.
        await send_ephemeral(interaction, "Use this in a server channel: that's where I post the results.")
        return
    try:
        bot.songs.validate(request)
    except InputError as error:
        await refuse(interaction, error.user_message, request, retry)
        return
    private = (await member_settings(interaction)).private_results
    missing = [] if private else missing_permissions(interaction)
    if missing:
        await refuse(interaction, f"I can't post results in this channel: I need {permission_names(missing)}. "
                     "Ask a server admin, or try another channel.", request, retry)
        return
    if not interaction.response.is_done():
        await interaction.response.defer(ephemeral=True, thinking=True)
    origin = origin_of(interaction)
    if private:  # results by DM (/settings); the server's rules still apply to where it was asked
        origin = replace(origin, dm_channel_id=(await interaction.user.create_dm()).id)
    try:
        started = await bot.songs.submit(request, origin)
    except (ProviderError, InputError) as error:
        await refuse(interaction, error.user_message, request, retry)
        return
    except discord.Forbidden:
        where = ("I can't send you a DM: allow direct messages from this server's members, or turn off private "
                 "results in `/settings`." if private else "I can't post in this channel. Ask a server admin to let "
                 "me send messages here, or try another channel.")
        await refuse(interaction, where, request, retry)
        return
    task = started.task
    where = "in your DMs (private results, see `/settings`)" if private else "in this channel"
    if started.reposted_message_id is not None:
        posted_to = origin.destination()
        link = jump_url(posted_to.guild_id, posted_to.channel_id, started.reposted_message_id)
        await send_ephemeral(interaction, f"\u267b\ufe0f This was made before, so here it is again (no new "
                             f"request to Suno): {link}")
    elif started.reused:
        link = task_link(task, task.status_message_id)
        await send_ephemeral(interaction, f"\u23f3 This is already being made: {link}")
    elif task.state is TaskState.SUCCEEDED:  # nothing to ask the provider (a video it made with the song)
        link = task_link(task, task.status_message_id)
        await send_ephemeral(interaction, f"\u2705 Suno already made this with your song, so it costs nothing; "
                             f"it is posted {where}: {link}")
    elif task.state is TaskState.UNSURE:
        link = task_link(task, task.status_message_id)
        await send_ephemeral(
            interaction,
            f"\u2753 Suno didn't answer in time, so I can't tell yet whether it started this: {link}\n"
            f"If it did, the result is posted {where} as usual. If nothing comes back within 15 minutes, "
            "your credits come back.",
        )
    elif started.place is not None and started.place.starts_at > bot.clock() + 1:
        link = task_link(task, task.status_message_id)
        await send_ephemeral(
            interaction,
            f"\u23f3 You're **#{started.place.position}** in line: Suno takes only so many requests at once. "
            f"Yours starts <t:{int(started.place.starts_at)}:R>; follow along here: {link}\n"
            f"I'll post the result {where} and mention you when it's ready. Your credits are reserved "
            "and come back if you cancel or it fails.",
        )
    else:
        link = task_link(task, task.status_message_id)
        await send_ephemeral(
            interaction,
            f"\U0001f3b6 On it! {ON_IT[task.task_kind]}. Follow along here: {link}\n"
            f"I'll post the result {where} and mention you when it's ready.",
        )


def origin_of(interaction: discord.Interaction[Any]) -> Origin:
    """Where a request comes from: channel (and a thread's parent), member, roles, upload limit."""
    channel = interaction.channel
    return Origin(
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id or 0,
        user_id=interaction.user.id,
        upload_limit=interaction.filesize_limit or DEFAULT_UPLOAD_LIMIT,
        role_ids=frozenset(role.id for role in getattr(interaction.user, "roles", [])),
        parent_channel_id=channel.parent_id if isinstance(channel, discord.Thread) else None,
        private_thread=isinstance(channel, discord.Thread) and channel.is_private(),
    )


def missing_permissions(interaction: discord.Interaction[Any], *extra: str) -> list[str]:
    """What the bot lacks in this channel to post results, and ``extra`` permissions a feature needs
    (threads need "send messages in threads" instead of "send messages")."""
    needed = [*REQUIRED_PERMISSIONS, *extra]
    if isinstance(interaction.channel, discord.Thread):
        needed[needed.index("send_messages")] = "send_messages_in_threads"
    return [name for name in needed if not getattr(interaction.app_permissions, name)]


async def refuse(
    interaction: discord.Interaction[ChorusBot],
    message: str,
    request: Request | None = None,
    retry: ModalFactory | None = None,
) -> None:
    """Say what to change, and give back what the member wrote so nothing is lost."""
    extra: dict[str, Any] = {}
    text = str(getattr(request, "prompt", "") or "")
    if retry is not None and request is not None:
        extra["view"] = RetryView(request, retry)
        if text.strip():
            extra["file"] = discord.File(io.BytesIO(text.encode()), filename="lyrics.txt")
        message += "\nYour text is kept: press **Edit and try again**, or copy the attached lyrics."
    elif text.strip():
        message += f"\nYour text, to copy and adjust:\n{quote_block(text, 1500)}"
    await send_ephemeral(interaction, message, **extra)


class RetryView(discord.ui.View):
    """An "Edit and try again" button that reopens the form with everything the member typed."""

    def __init__(self, request: Request, modal: ModalFactory) -> None:
        super().__init__(timeout=DRAFT_TIMEOUT)
        self.request = request
        self.modal = modal

    @discord.ui.button(label="Edit and try again", style=discord.ButtonStyle.primary, emoji="\u270f\ufe0f")
    async def edit(self, interaction: discord.Interaction[ChorusBot], button: discord.ui.Button[Any]) -> None:
        await interaction.response.send_modal(self.modal(self.request))


# ----- picking a source: one of the member's tracks, or an uploaded file -----------------------------------


NOT_A_SONG = ("That's a sound effect: this works on songs. Make a song from it with /cover (or its Cover "
              "button).")


async def resolve_track(interaction: discord.Interaction[ChorusBot], audio_id: str, *,
                        sounds: bool = False) -> SourceTrack:
    """The finished track ``audio_id`` in this server, if the member may use it (``sounds``: a sound effect
    too); else InputError. Moderators may use any member's track, but not a private result and not one posted
    where they cannot read."""
    found = await interaction.client.store.track_by_audio_id(audio_id.strip())
    if found is None or found[0].guild_id != interaction.guild_id:
        raise InputError("I can't find that track in this server. Pick one from the list as you type.")
    source = SourceTrack.of(interaction.client, *found)
    task = source.task
    if not may_hear(interaction, task):  # before whose it is: a hidden track's owner is not named either
        raise InputError("I can't find that track in this server. Pick one from the list as you type.")
    if not await may_act_on(interaction, task, interaction.client.store):
        raise InputError(not_yours(task))
    if task.task_kind is TaskKind.SOUND and not sounds:
        raise InputError(NOT_A_SONG)
    return source


async def track_autocomplete(
    interaction: discord.Interaction[ChorusBot], current: str
) -> list[app_commands.Choice[str]]:
    """The member's own finished songs, newest first, shown by title and date; the value is the audio id."""
    return await track_choices(interaction, current)


async def any_track_autocomplete(
    interaction: discord.Interaction[ChorusBot], current: str
) -> list[app_commands.Choice[str]]:
    """The member's own finished songs and sound effects (for the commands that take both)."""
    return await track_choices(interaction, current, sounds=True)


async def server_track_autocomplete(
    interaction: discord.Interaction[ChorusBot], current: str
) -> list[app_commands.Choice[str]]:
    """Every member's finished songs that were posted in this server where the member can read, newest first."""
    return await track_choices(interaction, current, anyone=True)


def may_hear(interaction: discord.Interaction[Any], task: Task | FinishedTrack) -> bool:
    """Whether a member may pick a track: their own, or one posted where they can read it. Another member's
    track sent to its owner by DM (private results), from a channel hidden from them (a moderators' room),
    from a private thread (the bot cannot know its members: only those who manage threads see them all) or
    from a place the bot does not know (a deleted channel; the server not cached yet) is neither listed nor
    taken. A public thread that was archived (no longer cached) is judged by its channel."""
    if task.user_id == interaction.user.id:
        return True
    if task.private:
        return False
    # The cached server (interaction.guild may be a partial one built from the interaction alone).
    guild, member = interaction.client.get_guild(interaction.guild_id or 0), interaction.user
    if guild is None or not isinstance(member, discord.Member):
        return False
    channel = guild.get_channel_or_thread(task.channel_id)
    if channel is None and task.thread_parent_id is not None:
        channel = guild.get_channel(task.thread_parent_id)
    if channel is None:
        return False
    try:
        permissions = channel.permissions_for(member)
    except discord.ClientException:  # a thread whose channel is not cached
        return False
    if isinstance(channel, discord.Thread) and channel.is_private() and not permissions.manage_threads:
        return False
    return permissions.read_messages and permissions.read_message_history


async def resolve_server_track(interaction: discord.Interaction[ChorusBot], audio_id: str) -> SourceTrack:
    """A finished song posted in this server, whoever made it (to use, not to spend on), where the member
    can read it; else InputError."""
    found = await interaction.client.store.track_by_audio_id(audio_id.strip())
    if found is None or found[0].guild_id != interaction.guild_id or found[0].tracks[found[1]].message_id is None \
            or not may_hear(interaction, found[0]):
        raise InputError("I can't find that track among those posted in this server. Pick one from the list as "
                         "you type.")
    if found[0].task_kind is TaskKind.SOUND:
        raise InputError(NOT_A_SONG)
    return SourceTrack.of(interaction.client, *found)


async def track_choices(
    interaction: discord.Interaction[ChorusBot], current: str, *, since: float = 0.0, anyone: bool = False,
    sounds: bool = False,
) -> list[app_commands.Choice[str]]:
    """:func:`track_autocomplete`, leaving out tracks requested before ``since`` (``anyone``: every member's
    posted tracks where the member can read, not only the member's own; ``sounds``: sound effects too)."""
    if interaction.guild_id is None:
        return []
    found = await interaction.client.store.finished_tracks(interaction.guild_id, None if anyone else interaction.user.id,
                                                           query=current.strip(), limit=100 if anyone else 25,
                                                           since=since, sounds=sounds)
    choices = []
    for item in found:
        if anyone and not may_hear(interaction, item):
            continue
        name = f"{shorten(item.track.title or 'Untitled', 80)} \u00b7 {_day(item.made)}"
        choices.append(app_commands.Choice(name=name[:100], value=item.track.audio_id))
    return choices[:25]


def _day(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")


def attachment_expired(url: str, now: float) -> bool:
    """Whether a Discord attachment link is past its expiry: Discord signs them with ``ex`` (a hex Unix time),
    ``is`` and ``hm``, and stops serving the file after ``ex``."""
    query = parse_qs(urlsplit(url).query)
    if not {"ex", "is", "hm"} <= query.keys():
        return False
    try:
        return int(query["ex"][0], 16) <= now
    except ValueError:
        return False


def asked_again(bot: ChorusBot, request: Request) -> Request:
    """``request`` made again later (Re-roll): the links to the bot's kept copies it gave Suno as sources get
    a new day to live; a file the member uploaded whose Discord link has expired is refused, saying how to do
    it again, since Discord no longer serves it (Suno could not fetch it, and the member would wait for a
    failure)."""
    now = bot.clock()

    def fresh(url: str) -> str:
        if attachment_expired(url, now):
            raise InputError("This was made from a file you uploaded, and Discord no longer serves it (attachment "
                             "links expire after a day or so): run the command again with the file.")
        return bot.links.renewed(url, days=SOURCE_LINK_DAYS)

    if getattr(request, "upload_url", ""):
        request = replace(request, upload_url=fresh(request.upload_url))  # type: ignore[call-arg]
    if getattr(request, "upload_urls", ()):
        request = replace(request, upload_urls=tuple(fresh(url) for url in request.upload_urls))  # type: ignore[call-arg]
    return request


def one_source(track: str | None, audio: discord.Attachment | None) -> None:
    """Exactly one of a track or an uploaded file."""
    if (track is None) == (audio is None):
        raise InputError("Choose exactly one source: `track` (one of your songs) or `audio` (upload a file).")


def audio_upload(attachment: discord.Attachment) -> tuple[str, str]:
    """The URL the provider fetches an uploaded file from, and a title from its file name."""
    suffix = PurePosixPath(attachment.filename).suffix.lower()
    content_type = (attachment.content_type or "").split(";")[0]
    if not content_type.startswith("audio/") and suffix not in AUDIO_SUFFIXES:
        raise InputError(
            f"`{attachment.filename}` isn't an audio file. Upload an MP3, WAV, M4A, OGG or FLAC (up to 8 minutes)."
        )
    title = PurePosixPath(attachment.filename).stem.replace("_", " ").strip()[:80] or "Upload"
    return attachment.url, title
