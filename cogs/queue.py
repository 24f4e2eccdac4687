"""/queue: your requests waiting their turn and running, with places and start times; moderators see the
whole server's line and can take a request out of it (``remove:``, refunded). The Cancel button on a waiting
request's status message does the same for its owner."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.flows import Feature, task_link
from bot.formatting import member_text, shorten
from bot.models import Task, TaskState
from bot.permissions import is_staff, may_act_on, not_yours
from bot.providers.errors import InputError
from bot.replies import send_ephemeral
from bot.views import ActionHandler

if TYPE_CHECKING:
    from bot.core import ChorusBot

SHOWN = 20  # lines of the queue listed at most


class Queue(Feature):
    """The submission queue."""

    def buttons(self) -> dict[str, ActionHandler]:
        return {"cancel": cancel_from_button}

    @app_commands.command(name="queue", description="Your requests in line and running (moderators: everyone's)")
    @app_commands.describe(remove="Moderators: a waiting request to take out of the line, refunded",
                           reason="Why it was removed (the member sees it)")
    @app_commands.guild_only()
    async def queue(
        self, interaction: discord.Interaction[ChorusBot], remove: int | None = None, reason: str | None = None
    ) -> None:
        staff = await is_staff(interaction, self.bot.store)
        if remove is not None:
            await self._remove(interaction, remove, reason, staff)
            return
        places = await self.bot.dispatcher.places()
        mine = None if staff else interaction.user.id
        tasks = await self.bot.store.pending_of(interaction.guild_id or 0, mine)
        waiting = sorted(((places[t.id], t) for t in tasks if t.id in places), key=lambda item: item[0].position)
        running = [task for task in tasks if task.state is not TaskState.WAITING]
        lines = [f"**#{place.position}** {_line(task, staff)} \u00b7 starts <t:{int(place.starts_at)}:R>"
                 for place, task in waiting[:SHOWN]]
        lines += [f"\u25b6\ufe0f {_line(task, staff)} \u00b7 sent <t:{int(task.submitted_at or task.created_at)}:R>"
                  for task in running[:SHOWN]]
        whose = "This server's" if staff else "Your"
        if not lines:
            await send_ephemeral(interaction, f"{whose} queue is empty: nothing is waiting or running.")
            return
        header = f"{whose} requests: {len(waiting)} waiting, {len(running)} running."
        if staff and waiting:
            header += " Take one out with `/queue remove:` (its credits are refunded)."
        elif waiting:
            header += " Cancel one with the button on its status message (full refund)."
        await send_ephemeral(interaction, "\n".join([header, *lines])[:2000])

    async def _remove(
        self, interaction: discord.Interaction[ChorusBot], task_id: int, reason: str | None, staff: bool
    ) -> None:
        task = await self.bot.store.get_task(task_id)
        if task is None or task.guild_id != interaction.guild_id:
            raise InputError("I can't find that request in this server. Pick one from the list as you type.")
        if not staff and task.user_id != interaction.user.id:
            raise InputError("Only moderators can take other members' requests out of the line.")
        why = f"removed from the line{' by a moderator' if staff and task.user_id != interaction.user.id else ''}" \
              f"{': ' + reason if reason else ''}; the credits were refunded"
        await _cancel(interaction, task, why, done=f"Removed task #{task.id}; <@{task.user_id}>'s credits were "
                      "refunded.")

    @queue.autocomplete("remove")
    async def waiting_autocomplete(
        self, interaction: discord.Interaction[ChorusBot], current: str
    ) -> list[app_commands.Choice[int]]:
        places = await self.bot.dispatcher.places()
        mine = None if await is_staff(interaction, self.bot.store) else interaction.user.id
        choices = []
        for task in await self.bot.store.pending_of(interaction.guild_id or 0, mine):
            place = places.get(task.id)
            if place is not None:
                name = f"#{place.position} \u00b7 {shorten(task.request.summary, 60)} \u00b7 task {task.id}"
                if current.lower() in name.lower():
                    choices.append(app_commands.Choice(name=name[:100], value=task.id))
        return choices[:25]


def _line(task: Task, everyone: bool) -> str:
    link = task_link(task, task.status_message_id)
    who = f" by <@{task.user_id}>" if everyone else ""
    return f"[{member_text(task.request.summary, 60)}]({link}){who} (task #{task.id})"


async def cancel_from_button(
    interaction: discord.Interaction[ChorusBot], task: Task, position: int, arg: str | None
) -> None:
    """The Cancel button on a waiting request's status message (its owner, or a moderator)."""
    if not await may_act_on(interaction, task, interaction.client.store):
        raise InputError(not_yours(task))
    await _cancel(interaction, task, "cancelled; your credits were refunded", done="Cancelled: your credits were "
                  "refunded.")


async def _cancel(interaction: discord.Interaction[ChorusBot], task: Task, why: str, *, done: str) -> None:
    if not await interaction.client.dispatcher.cancel(task, why):
        now = await interaction.client.store.get_task(task.id)
        if now is not None and now.state is TaskState.FAILED:
            raise InputError("That request is no longer in the line (it was cancelled or removed).")
        raise InputError("That request was already sent to Suno, so it can't be cancelled any more (Suno has no "
                         "cancel). Its result will be posted as usual.")
    await send_ephemeral(interaction, done)


async def setup(bot: ChorusBot) -> None:
    await bot.add_cog(Queue(bot))
