"""Answering interactions privately, whatever state the interaction is in."""

from __future__ import annotations

import logging
import secrets
from typing import Any

import discord

log = logging.getLogger(__name__)


async def send_ephemeral(interaction: discord.Interaction[Any], content: str | None = None, **kwargs: Any) -> None:
    """Reply only the member can see: the first response, or a follow-up if it was already answered.
    A reply that cannot be delivered any more (token expired) is logged, never raised."""
    try:
        if interaction.response.is_done():
            await interaction.followup.send(content, ephemeral=True, **kwargs)
        else:
            await interaction.response.send_message(content, ephemeral=True, **kwargs)
    except discord.HTTPException as error:
        log.warning("could not answer interaction %s: %s", interaction.id, error)


async def report_unexpected(interaction: discord.Interaction[Any], error: BaseException, what: str) -> None:
    """Log an internal error with a short reference and tell the member, so nothing is left hanging."""
    ref = secrets.token_hex(3)
    log.error("%s failed (ref %s)", what, ref, exc_info=error)
    await send_ephemeral(
        interaction,
        f"Something went wrong on my side (ref `{ref}`). Nothing was started; please try again in a moment.",
    )
