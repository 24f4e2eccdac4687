"""Small text helpers shared by everything that renders messages."""

from __future__ import annotations


def format_duration(seconds: float) -> str:
    """Elapsed time for people: "42 s", "3 min 05 s"."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes} min {seconds:02d} s"


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
