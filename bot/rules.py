"""The server's rules, checked before anything is spent, sent or posted: blocked members, the channels music
may be made in (an allow list and a deny list; deny wins), and blocked words."""

from __future__ import annotations

import re
from typing import Protocol

from bot.models import ChannelLists, Request
from bot.providers.errors import InputError


class Refused(InputError):
    """A request the server's rules turn down before anything is spent or sent."""


class RulesSource(Protocol):
    async def block_reason(self, guild_id: int, user_id: int) -> str | None: ...

    async def channel_lists(self, guild_id: int) -> ChannelLists: ...

    async def blocked_words(self, guild_id: int) -> list[str]: ...


async def check_blocked(rules: RulesSource, guild_id: int, user_id: int) -> None:
    """Refuse a member the moderators blocked (raises :class:`Refused`)."""
    reason = await rules.block_reason(guild_id, user_id)
    if reason is not None:
        raise Refused(f"The moderators have blocked you from making music here: {reason}")


async def check_member(rules: RulesSource, guild_id: int, user_id: int, channel_id: int,
                       parent_id: int | None = None) -> None:
    """Refuse a blocked member, or a channel the server closed to music (raises :class:`Refused`)."""
    await check_blocked(rules, guild_id, user_id)
    refusal = (await rules.channel_lists(guild_id)).refusal(channel_id, parent_id)
    if refusal is not None:
        raise Refused(refusal)


async def check_words(rules: RulesSource, guild_id: int, request: Request) -> None:
    word = blocked_word(await rules.blocked_words(guild_id), request)
    if word is not None:
        raise Refused(f"Your request contains \u201c{word}\u201d, which this server doesn't allow. "
                      "Change it and try again.")


async def check_text(rules: RulesSource, guild_id: int, text: str) -> None:
    """Refuse text a member gives outside a request (a persona's name and description) with a blocked word."""
    word = _first_blocked(await rules.blocked_words(guild_id), [text])
    if word is not None:
        raise Refused(f"That contains \u201c{word}\u201d, which this server doesn't allow. Change it and try again.")


def request_texts(request: Request) -> list[str]:
    """What a member wrote in a request (checked against the blocklist)."""
    return [str(value) for name in ("prompt", "style", "title", "negative_tags")
            if (value := getattr(request, name, None))]


def blocked_word(words: list[str], request: Request) -> str | None:
    """The first blocklisted word or phrase the request contains as a whole word, ignoring case."""
    return _first_blocked(words, request_texts(request))


def _first_blocked(words: list[str], texts: list[str]) -> str | None:
    for word in words:
        pattern = re.compile(rf"(?<!\w){re.escape(word)}(?!\w)", re.IGNORECASE)
        if any(pattern.search(text) for text in texts):
            return word
    return None
