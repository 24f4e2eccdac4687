"""Karaoke: a track's timestamped words grouped into the lines of its lyrics, as an .lrc file and as text."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.models import AlignedWord

SECTION = re.compile(r"^\s*\[[^\]]*\]\s*$")  # "[Chorus]": a marker, not sung
WORD = re.compile(r"[\w']+")
GAP = 1.5  # seconds of silence that start a new line when the lyrics cannot tell
LONGEST_LINE = 10  # words


@dataclass(frozen=True)
class Line:
    start: float
    text: str


def karaoke_lines(words: Sequence[AlignedWord], lyrics: str) -> list[Line]:
    """The sung lines with when each starts: the words are laid over the lyrics' own lines (by how many words
    each has); without lyrics to follow, a pause or a long run of words starts a new line."""
    sung = [WORD.findall(clean(line)) for line in lyrics.splitlines() if line.strip() and not SECTION.match(line)]
    counts = [len(line) for line in sung if line]
    words = [w for w in words if WORD.search(clean(w.word))]
    if counts and sum(counts) == len(words):
        lines, index = [], 0
        for count in counts:
            group = words[index:index + count]
            lines.append(Line(group[0].start, " ".join(clean(w.word) for w in group)))
            index += count
        return lines
    lines, current = [], []  # type: ignore[var-annotated]
    for word in words:
        if current and (word.start - current[-1].end > GAP or len(current) >= LONGEST_LINE):
            lines.append(Line(current[0].start, " ".join(clean(w.word) for w in current)))
            current = []
        current.append(word)
    if current:
        lines.append(Line(current[0].start, " ".join(clean(w.word) for w in current)))
    return lines


def clean(word: str) -> str:
    """A sung word without a section marker glued to it ("[Verse] Hello" → "Hello")."""
    return re.sub(r"\[[^\]]*\]", "", word).strip()


def lrc(lines: Sequence[Line], title: str) -> str:
    """An .lrc file: one "[mm:ss.xx]line" per line, after a title tag."""
    head = [f"[ti:{title.replace(']', ')')}]", "[by:Chorus]"]
    return "\n".join(head + [f"[{stamp(line.start)}]{line.text}" for line in lines]) + "\n"


def stamp(seconds: float) -> str:
    minutes, rest = divmod(max(seconds, 0.0), 60)
    return f"{int(minutes):02d}:{rest:05.2f}"
