"""Small text helpers shared by everything that renders messages."""

from __future__ import annotations

import discord


def format_duration(seconds: float) -> str:
    """Elapsed time for people: "42 s", "3 min 05 s"."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes} min {seconds:02d} s"


def format_size(size: int) -> str:
    """1.5 MiB, 2.3 GiB: as file managers show sizes."""
    for unit, scale in (("GiB", 1024 ** 3), ("MiB", 1024 ** 2)):
        if size >= scale or unit == "MiB":
            return f"{size / scale:.1f} {unit}"
    raise AssertionError("unreachable")


def format_clock(seconds: float) -> str:
    """A track length: "3:18"."""
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f"{minutes}:{seconds:02d}"


def shorten(text: str, limit: int) -> str:
    """Collapse whitespace and cut to ``limit`` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def quote_block(text: str, limit: int = 1500) -> str:
    """``text`` in a code block a member can copy; backticks cannot break out of it."""
    text = text.replace("```", "`\u200b``")
    if len(text) > limit:
        text = text[: limit - 1] + "\u2026"
    return f"```\n{text}\n```"


def member_text(text: str, limit: int) -> str:
    """Text a member wrote (or that Suno made from it), safe to show to others: markdown (masked links,
    formatting, headings) and mentions are escaped, whitespace collapsed, and it is cut to ``limit`` characters
    without leaving half an escape at the end."""
    escaped = discord.utils.escape_mentions(discord.utils.escape_markdown(" ".join(text.split())))
    escaped = escaped.replace("]", "\\]")  # cannot close the text of a masked link it is shown in
    if len(escaped) <= limit:
        return escaped
    return escaped[: limit - 1].rstrip("\\") + "\u2026"
