"""Your tracks: /tracks (recent requests and their state, paginated), /track show (re-post a finished
track with its buttons), and the Info, Re-roll and Delete buttons on every track."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.flows import (
    Feature,
    any_track_autocomplete,
    asked_again,
    check_here,
    missing_permissions,
    resolve_track,
    start_task,
    task_link,
)
from bot.formatting import member_text
from bot.models import Task, TaskKind, TaskState
from bot.permissions import permission_names
from bot.replies import report_unexpected, send_ephemeral
from bot.views import ActionHandler, info_embed, single_button_view

if TYPE_CHECKING:
    from bot.core import ChorusBot

PAGE_SIZE = 10
STATE_ICONS = {
    TaskState.WAITING: "\u23f3",
    TaskState.SUBMITTING: "\u23f3",
    TaskState.UNSURE: "\u2753",
    TaskState.QUEUED: "\u23f3",
    TaskState.TEXT: "\u270d\ufe0f",
    TaskState.FIRST: "\U0001f3a7",
    TaskState.SUCCEEDED: "\u2705",
    TaskState.FAILED: "\u274c",
}
KIND_ICONS = {
    TaskKind.GENERATE: "\U0001f3b5",
    TaskKind.COMPOSE: "\U0001f3bc",
    TaskKind.EXTEND: "\u2795",
    TaskKind.UPLOAD_EXTEND: "\u2795",
    TaskKind.COVER: "\U0001f3a4",
    TaskKind.LYRICS: "\U0001f4dd",
    TaskKind.STEMS: "\U0001f39a\ufe0f",
    TaskKind.WAV: "\U0001f4be",
    TaskKind.VIDEO: "\U0001f3ac",
    TaskKind.ADD_VOCALS: "\U0001f3a4",
    TaskKind.ADD_INSTRUMENTAL: "\U0001f3b8",
    TaskKind.MASHUP: "\U0001f500",
    TaskKind.REPLACE: "\u270f\ufe0f",
    TaskKind.ART: "\U0001f5bc\ufe0f",
    TaskKind.MIDI: "\U0001f3b9",
    TaskKind.SOUND: "\U0001f50a",
}


class PageButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"chorus-tracks:(?P<user>[0-9]+):(?P<page>-?[0-9]+)"):
    """Newer / Older on /tracks. The page lives in the custom_id, so paging works after a restart."""

    def __init__(self, user_id: int, page: int, label: str = "", *, disabled: bool = False) -> None:
        super().__init__(discord.ui.Button(label=label or "Page", style=discord.ButtonStyle.secondary,
                                           custom_id=f"chorus-tracks:{user_id}:{page}", disabled=disabled))
        self.user_id = user_id
        self.page = page

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button[Any], match: re.Match[str]
    ) -> PageButton:
        return cls(int(match["user"]), int(match["page"]))

    async def callback(self, interaction: discord.Interaction[ChorusBot]) -> None:
        try:
            if interaction.user.id != self.user_id:
                await send_ephemeral(interaction, "Use `/tracks` to see your own tracks.")
                return
            embed, view = await tracks_page(interaction.client, interaction.guild_id or 0, self.user_id, self.page)
            await interaction.response.edit_message(embed=embed, view=view)
        except Exception as error:
            await report_unexpected(interaction, error, "tracks page")


class Tracks(Feature):
    """Find, re-post and inspect your tracks."""

    dynamic_items = (PageButton,)
    track = app_commands.Group(
        name="track", description="One of your tracks", allowed_contexts=app_commands.AppCommandContext(guild=True)
    )

    def buttons(self) -> dict[str, ActionHandler]:
        return {"info": show_info, "reroll": reroll, "delete": delete}


    @app_commands.command(name="tracks", description="Your recent requests and tracks, with their state")
    @app_commands.guild_only()
    async def tracks(self, interaction: discord.Interaction[ChorusBot]) -> None:
        embed, view = await tracks_page(interaction.client, interaction.guild_id or 0, interaction.user.id, 0)
        await interaction.response.send_message(embed=embed, view=view, ephemeral=True)

    @track.command(name="show", description="Post one of your finished tracks here again, with its buttons")
    @app_commands.describe(id="The track (start typing its title)")
    @app_commands.autocomplete(id=any_track_autocomplete)
    async def show(self, interaction: discord.Interaction[ChorusBot], id: str) -> None:  # noqa: A002
        source = await resolve_track(interaction, id, sounds=True)  # your own (moderators: any), as every command
        origin = await check_here(interaction)  # the server's rules, as every command
        missing = missing_permissions(interaction)
        if missing:
            await send_ephemeral(interaction, f"I can't post here: I need {permission_names(missing)} in this channel.")
            return
        if not self.bot.delivery.has_audio(source.task, source.position):
            await send_ephemeral(interaction, "Suno deleted this track's files after 14 days, and I have no copy of "
                                 "it (it was made before I kept copies, or the copy was cleaned up).")
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        message = await self.bot.delivery.post_track(
            source.task, source.position, origin.destination(),
            content=f"\U0001f501 Shared by <@{interaction.user.id}>",
            likes=await self.bot.store.like_count(source.task.id, source.position),
        )
        await send_ephemeral(interaction, f"Posted: {message.jump_url}")


async def show_info(interaction: discord.Interaction[ChorusBot], task: Task, position: int, arg: str | None) -> None:
    """The Info button: a track's details, privately, to whoever clicks."""
    if position >= len(task.tracks):
        await send_ephemeral(interaction, "I no longer have this track in my records.")
        return
    embed, lyrics_file = info_embed(task, task.tracks[position], *interaction.client.delivery.track_links(task, position))
    if lyrics_file is None:
        await send_ephemeral(interaction, embed=embed)
    else:
        await send_ephemeral(interaction, embed=embed, file=lyrics_file)


async def reroll(interaction: discord.Interaction[ChorusBot], task: Task, position: int, arg: str | None) -> None:
    """The Re-roll button: the same request again, a new take (it costs what the original did)."""
    await start_task(interaction, asked_again(interaction.client, task.request))


async def delete(interaction: discord.Interaction[ChorusBot], task: Task, position: int, arg: str | None) -> None:
    """The Delete button: asks first (privately); then removes the bot's messages of the result (every
    track, the status message), its kept copies, its likes from /top, and it from autocomplete."""
    if task.deleted_at is not None:
        await send_ephemeral(interaction, "This song was already deleted.")
        return
    title = member_text(task.tracks[position].title if position < len(task.tracks) else "", 80) or "this song"
    if arg != "yes":
        await send_ephemeral(
            interaction, f"Delete \u201c{title}\u201d? Its {len(task.tracks)} track message"
            f"{'s' if len(task.tracks) != 1 else ''}, its status message and the bot's copy go for good "
            "(credits spent on it are not returned).", view=single_button_view("delete", task.id, position, "yes"))
        return
    await interaction.response.defer(ephemeral=True, thinking=True)
    bot = interaction.client
    if not await bot.store.mark_deleted(task.id):
        await send_ephemeral(interaction, "This song was already deleted.")
        return
    await bot.delivery.delete_result(task)
    if interaction.user.id != task.user_id:  # a moderator deleted a member's song: the log channel says so
        await bot.audit.moderator(task.guild_id or 0, interaction.user.id,
                                  f"deleted <@{task.user_id}>'s \u201c{title}\u201d (task #{task.id})")
    await send_ephemeral(interaction, f"\U0001f5d1\ufe0f Deleted \u201c{title}\u201d.")


async def tracks_page(bot: ChorusBot, guild_id: int, user_id: int, page: int) -> tuple[discord.Embed, discord.ui.View]:
    total = await bot.store.count_tasks(guild_id, user_id)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    tasks = await bot.store.recent_tasks(guild_id, user_id, limit=PAGE_SIZE, offset=page * PAGE_SIZE)
    embed = discord.Embed(title="Your tracks", colour=discord.Colour.blurple())
    embed.description = "\n".join(task_line(task) for task in tasks) or (
        "Nothing yet. Try `/generate` with an idea, or `/compose` with your own lyrics."
    )
    embed.set_footer(text=f"Page {page + 1} of {pages} \u00b7 {total} request{'s' if total != 1 else ''}")
    view = discord.ui.View(timeout=None)
    view.add_item(PageButton(user_id, page - 1, "\u25c0 Newer", disabled=page == 0))
    view.add_item(PageButton(user_id, page + 1, "Older \u25b6", disabled=page >= pages - 1))
    return embed, view


def task_line(task: Task) -> str:
    """One line of /tracks: state, kind, what, when, and a link to the result (or the status message)."""
    message_id = next((t.message_id for t in task.tracks if t.message_id), None) or task.status_message_id
    link = f" \u00b7 [open]({task_link(task, message_id)})" if message_id else ""
    state = "\U0001f5d1\ufe0f" if task.deleted_at is not None else STATE_ICONS[task.state]
    what = member_text(task.request.summary, 60)
    titles = ", ".join(member_text(t.title, 30) for t in task.tracks if t.title)
    detail = f" \u2014 {titles}" if titles and task.state is TaskState.SUCCEEDED else ""
    return f"{state} {KIND_ICONS[task.task_kind]} **#{task.id}** {what}{detail} <t:{int(task.created_at)}:R>{link}"


async def setup(bot: ChorusBot) -> None:
    await bot.add_cog(Tracks(bot))
