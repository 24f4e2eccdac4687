"""Persistent buttons on posted results. Everything a button needs is in its custom_id and the database, never
in memory, so the buttons keep working after a restart.

One DynamicItem, ``ResultButton``, carries every action (``chorus:<action>:<task>:<position>[:<arg>]``). The
features register what each action does in ``bot.actions`` when their cog loads; the button checks the task
exists and, for actions that spend, that the clicker owns it or is a moderator.
"""

from __future__ import annotations

import io
import re
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any

import discord

from bot.formatting import format_clock, member_text
from bot.models import MODELS, Task, TaskKind, Track
from bot.permissions import may_act_on, not_yours
from bot.providers.errors import InputError
from bot.replies import report_unexpected, send_ephemeral

if TYPE_CHECKING:
    from bot.core import ChorusBot

SEPARATOR = " \u00b7 "

ActionHandler = Callable[["discord.Interaction[ChorusBot]", Task, int, str | None], Awaitable[None]]

# action → (label, emoji, style); "stemsmode" takes its label from the arg.
LOOKS: dict[str, tuple[str, str, discord.ButtonStyle]] = {
    "extend": ("Extend", "\u2795", discord.ButtonStyle.secondary),
    "cover": ("Cover", "\U0001f3a4", discord.ButtonStyle.secondary),
    "stems": ("Stems", "\U0001f39a\ufe0f", discord.ButtonStyle.secondary),
    "wav": ("WAV", "\U0001f4be", discord.ButtonStyle.secondary),
    "video": ("Video", "\U0001f3ac", discord.ButtonStyle.secondary),
    "info": ("Info", "\u2139\ufe0f", discord.ButtonStyle.secondary),
    "reroll": ("Re-roll", "\U0001f3b2", discord.ButtonStyle.secondary),
    "replace": ("Replace section", "\u270f\ufe0f", discord.ButtonStyle.secondary),
    "karaoke": ("Karaoke", "\U0001f3a4", discord.ButtonStyle.secondary),
    "midi": ("MIDI", "\U0001f3b9", discord.ButtonStyle.secondary),
    "like": ("Like", "\u2b50", discord.ButtonStyle.secondary),
    "delete": ("Delete", "\U0001f5d1\ufe0f", discord.ButtonStyle.secondary),
    "delete:yes": ("Delete for good", "\U0001f5d1\ufe0f", discord.ButtonStyle.danger),
    "cancel": ("Cancel", "\u2716\ufe0f", discord.ButtonStyle.danger),
    "song": ("Make a song", "\U0001f3b5", discord.ButtonStyle.primary),
    "stemsmode:vocals": ("Vocals + instrumental", "\U0001f3a4", discord.ButtonStyle.primary),
    "stemsmode:all": ("All stems (up to 12)", "\U0001f39b\ufe0f", discord.ButtonStyle.primary),
}
# Anyone may click these (karaoke charges the one who asks); the others are the owner's (and moderators').
READ_ONLY = frozenset({"info", "like", "karaoke"})
TRACK_ACTIONS = (("extend", "cover", "replace", "reroll"), ("stems", "wav", "video", "karaoke"),
                 ("like", "info", "delete"))
ALWAYS = frozenset({"info", "like", "delete", "reroll"})  # not an operation of their own (re-roll repeats one)
DM_ACTIONS = frozenset({"info", "delete", "cancel"})  # what works under a private result, in the member's DMs
# Under a sound effect: a song can be covered from it and it can be exported, but not extended, split or sung.
SOUND_ACTIONS = frozenset({"cover", "reroll", "wav", "like", "info", "delete"})
# The operation each button starts: a button is only shown when the provider offers it.
ACTION_KINDS: dict[str, str] = {
    "extend": TaskKind.EXTEND,
    "cover": TaskKind.COVER,
    "stems": TaskKind.STEMS,
    "wav": TaskKind.WAV,
    "video": TaskKind.VIDEO,
    "song": TaskKind.COMPOSE,
    "replace": TaskKind.REPLACE,
    "karaoke": "karaoke",  # a tool the provider answers at once
    "midi": TaskKind.MIDI,
}


class ResultButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"chorus:(?P<action>[a-z]+):(?P<task>[0-9]+):(?P<position>[0-9]+)(?::(?P<arg>[a-z]+))?",
):
    def __init__(self, action: str, task_id: int, position: int, arg: str | None = None, *, row: int | None = None):
        key = f"{action}:{arg}" if arg else action
        label, emoji, style = LOOKS.get(key, (action.title(), "", discord.ButtonStyle.secondary))
        custom_id = f"chorus:{action}:{task_id}:{position}" + (f":{arg}" if arg else "")
        super().__init__(discord.ui.Button(label=label, emoji=emoji or None, style=style, custom_id=custom_id,
                                           row=row))
        self.action = action
        self.task_id = task_id
        self.position = position
        self.arg = arg

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button[Any], match: re.Match[str]
    ) -> ResultButton:
        return cls(match["action"], int(match["task"]), int(match["position"]), match["arg"])

    async def callback(self, interaction: discord.Interaction[ChorusBot]) -> None:
        try:
            await self._run(interaction)
        except InputError as error:
            await send_ephemeral(interaction, error.user_message)
        except Exception as error:
            await report_unexpected(interaction, error, f"{self.action} button for task {self.task_id}")

    async def _run(self, interaction: discord.Interaction[ChorusBot]) -> None:
        handler = interaction.client.actions.get(self.action)
        if handler is None:
            await send_ephemeral(interaction, "That button's feature is switched off right now.")
            return
        task = await interaction.client.store.get_task(self.task_id)
        in_dm = task is not None and task.private and interaction.guild_id is None \
            and interaction.channel_id == task.channel_id
        if task is None or (task.guild_id != interaction.guild_id and not in_dm):
            await send_ephemeral(interaction, "I no longer have this in my records.")
            return
        if in_dm and self.action not in DM_ACTIONS:
            await send_ephemeral(interaction, "Do that from the server, where you asked: the commands (`/extend`, "
                                 "`/cover`, `/stems`…) list your private tracks too, and the results still come here.")
            return
        if task.deleted_at is not None:
            await send_ephemeral(interaction, "This song was deleted by its owner or a moderator.")
            return
        if self.action not in READ_ONLY and not await may_act_on(interaction, task, interaction.client.store):
            await send_ephemeral(interaction, not_yours(task))
            return
        await handler(interaction, task, self.position, self.arg)


def track_view(task: Task, position: int, offers: Collection[str], *, likes: int = 0) -> discord.ui.View:
    """The buttons under every finished track: Extend, Cover, Replace section, Re-roll / Stems, WAV, Video,
    Karaoke (when it has lyrics) / Like, Info, Delete (the operations and tools among them only when the provider
    ``offers`` them; a sound effect's only those of SOUND_ACTIONS; a private result's only those that work in
    DMs); Like shows the count."""
    view = discord.ui.View(timeout=None)
    sung = bool(task.tracks[position].lyrics.strip())
    for row, actions in enumerate(TRACK_ACTIONS):
        for action in actions:
            if (action == "karaoke" and not sung) or (task.private and action not in DM_ACTIONS) \
                    or (task.task_kind is TaskKind.SOUND and action not in SOUND_ACTIONS):
                continue
            if action in ALWAYS or ACTION_KINDS[action] in offers:
                button = ResultButton(action, task.id, position, row=row)
                if action == "like" and likes:
                    button.item.label = str(likes)
                view.add_item(button)
    return view


def single_button_view(action: str, task_id: int, position: int = 0, arg: str | None = None) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(ResultButton(action, task_id, position, arg))
    return view


def info_embed(task: Task, track: Track, files: Sequence[tuple[str, str]] = (),
               expires: float | None = None) -> tuple[discord.Embed, discord.File | None]:
    """The details of one track, with links to its ``files`` (name, URL), which stop working at ``expires``
    (None: as long as they are kept); lyrics too long for an embed come as a .txt file instead of being cut."""
    embed = discord.Embed(title=member_text(track.title or task.request.summary or "Untitled", 256))
    lyrics_file = None
    if track.lyrics:
        if len(track.lyrics) <= 3900:
            embed.description = track.lyrics
        else:
            embed.description = "The lyrics are attached as a text file."
            lyrics_file = discord.File(io.BytesIO(track.lyrics.encode()), filename="lyrics.txt")
    idea = getattr(task.request, "prompt", "")
    if idea and not getattr(task.request, "custom_mode", True):
        embed.add_field(name="Idea", value=member_text(idea, 1000), inline=False)
    if track.tags:
        embed.add_field(name="Style", value=member_text(track.tags, 1000), inline=False)
    model = MODELS.get(task.request.model, task.request.model)
    if model or track.model_name:
        embed.add_field(name="Model", value=f"{model} ({track.model_name})" if track.model_name else model)
    if track.duration:
        embed.add_field(name="Duration", value=format_clock(track.duration))
    embed.add_field(name="Requested by", value=f"<@{task.user_id}>")
    embed.add_field(name="Made", value=f"<t:{int(task.finished_at or task.created_at)}:f>")
    if files:
        until = f" (expire <t:{int(expires)}:R>)" if expires is not None else ""
        embed.add_field(name="Files", value=SEPARATOR.join(f"[{name}]({url})" for name, url in files) + until,
                        inline=False)
    embed.set_footer(text=f"Task #{task.id} \u00b7 audio id {track.audio_id}")
    return embed, lyrics_file
