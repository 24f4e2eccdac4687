"""Words for the sandbox provider's simulated results: titles, styles and lyrics derived from a prompt."""

from __future__ import annotations

import hashlib

STYLES = ("dreamy synth-pop", "warm acoustic folk", "lo-fi hip hop", "upbeat indie rock", "soft piano ballad",
          "bright funk", "cinematic ambient", "bouncy chiptune")


def title_from(idea: str) -> str:
    words = [word.strip(".,!?;:\"'") for word in idea.split()][:5]
    title = " ".join(word.capitalize() for word in words if word)
    return title[:80] or "Untitled"


def style_from(idea: str) -> str:
    return STYLES[hashlib.sha256(idea.encode()).digest()[0] % len(STYLES)]


def lyrics_from(idea: str, variant: int = 0) -> str:
    theme = " ".join(idea.split()[:8]) or "this song"
    verses = (
        ("I woke up thinking of {theme}", "The morning hummed a simple tune"),
        ("Late at night I dream of {theme}", "The city lights are humming too"),
    )
    first, second = verses[variant % len(verses)]
    return (
        f"[Verse]\n{first.format(theme=theme)}\n{second}\n"
        f"[Chorus]\nSing it out, sing it loud\n{theme}, above the crowd\n"
        "[Outro]\nAnd the sandbox plays it soon"
    )
