"""The provider interface: what every Suno API adapter offers the bot, and what each declares about itself.

Cogs and services only see :class:`Provider`; each adapter (kie.ai, sunoapi.org, CQTAI, the sandbox) turns
the bot's requests into its own HTTP calls and its answers into the same :class:`~bot.models.TaskUpdate`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from bot.models import MODELS, STEM_MODES, AlignedWord, Request, TaskKind, TaskUpdate
from bot.providers.errors import InputError

if TYPE_CHECKING:
    from bot.providers.http import LastAnswer

ALL_KINDS = frozenset(TaskKind)
# The studio's operations that only the kie.ai protocol documents fully (contract §2; §8 leaves CQTAI's open:
# its introduction lists sound effects, but not their `task` name or fields).
KIE_STUDIO_KINDS = frozenset({TaskKind.ADD_VOCALS, TaskKind.ADD_INSTRUMENTAL, TaskKind.MASHUP, TaskKind.REPLACE,
                              TaskKind.ART, TaskKind.MIDI, TaskKind.SOUND})
LABELS = {"kie": "kie.ai", "sunoapi": "sunoapi.org", "cqt": "CQTAI", "sandbox": "the sandbox"}
# Operations that name the source by the provider's own ids: another provider cannot serve them.
BY_PROVIDER_ID = frozenset({TaskKind.EXTEND, TaskKind.STEMS, TaskKind.WAV, TaskKind.VIDEO, TaskKind.REPLACE,
                            TaskKind.ART, TaskKind.MIDI})

# What a member calls each operation, for "<provider> does not offer …".
OPERATION_NAMES = {
    TaskKind.GENERATE: "songs from an idea",
    TaskKind.COMPOSE: "songs from your own lyrics",
    TaskKind.EXTEND: "extending tracks",
    TaskKind.UPLOAD_EXTEND: "extending uploaded audio",
    TaskKind.COVER: "covers",
    TaskKind.LYRICS: "lyrics",
    TaskKind.STEMS: "stem separation",
    TaskKind.WAV: "WAV exports",
    TaskKind.VIDEO: "music videos",
    TaskKind.ADD_VOCALS: "adding vocals",
    TaskKind.ADD_INSTRUMENTAL: "adding instrumentals",
    TaskKind.MASHUP: "mashups",
    TaskKind.REPLACE: "replacing sections",
    TaskKind.ART: "new cover art",
    TaskKind.MIDI: "MIDI",
    TaskKind.SOUND: "sound effects",
}


@dataclass(frozen=True)
class TextLimits:
    """A provider's documented text limits, in characters. ``lyrics`` and ``style`` are per bot model."""

    idea: int  # simple mode: the song's description
    title: int
    lyrics_prompt: int  # what lyrics should be about
    lyrics: Mapping[str, int]
    style: Mapping[str, int]
    video_author: int = 50

    def lyrics_for(self, model: str) -> int:
        """The lyrics limit of ``model`` (the widest if the provider does not have it: it is refused anyway)."""
        return self.lyrics.get(model, max(self.lyrics.values()))

    def style_for(self, model: str) -> int:
        return self.style.get(model, max(self.style.values()))


@dataclass(frozen=True)
class Capabilities:
    """What a provider offers: its operations, its models (the bot's name → the provider's), its limits and
    whether it calls back (a provider without callbacks is polled)."""

    name: str  # the SUNO_PROVIDER value
    label: str  # how members see it
    kinds: frozenset[TaskKind]
    models: Mapping[str, str]  # in the provider's order of preference: the first is the default
    limits: TextLimits
    callbacks: bool
    signs_callbacks: bool = False
    stem_modes: frozenset[str] = field(default_factory=lambda: frozenset(STEM_MODES))
    tools: frozenset[str] = frozenset()  # what it answers at once: "persona"
    # Exports a song comes with at no cost (the cost table's operations): CQTAI's clips carry their video.
    free_exports: frozenset[str] = frozenset()

    @property
    def default_model(self) -> str:
        return next(iter(self.models))

    def offers(self, kind: TaskKind) -> bool:
        return kind in self.kinds

    @property
    def offered(self) -> frozenset[str]:
        """Its operations and its tools (what buttons may start)."""
        return frozenset(self.kinds) | self.tools

    def model_names(self) -> str:
        return ", ".join(MODELS.get(model, model) for model in self.models)


class Provider(Protocol):
    """One Suno API behind the bot."""

    capabilities: Capabilities
    last_answer: LastAnswer | None  # when it last answered, and whether it was working (for /healthz)

    @property
    def name(self) -> str: ...

    def validate(self, request: Request) -> None:
        """Raise :class:`InputError` saying what to change if the provider cannot take ``request``."""

    async def submit(self, request: Request, callback_url: str) -> str:
        """Start a task; returns the provider's task id."""

    async def status(self, kind: TaskKind, task_id: str) -> TaskUpdate:
        """Read a task's state (the polling fallback; the only way for providers without callbacks)."""

    def parse_callback(self, kind: TaskKind, body: Any) -> TaskUpdate:
        """Normalize a callback body; raises MalformedCallback if it is not one."""

    async def credits(self) -> int:
        """The provider account's remaining credits."""

    async def create_persona(self, source: PersonaSource) -> str:
        """A voice persona (providers whose ``tools`` hold "persona"); returns its id."""

    async def timestamped_lyrics(self, task_id: str, audio_id: str) -> list[AlignedWord]:
        """A track's sung words with their times ("karaoke" in ``tools``); none for an instrumental."""

    async def boost_style(self, text: str) -> str:
        """A richer style description ("boost" in ``tools``)."""

    async def close(self) -> None: ...


@dataclass(frozen=True)
class PersonaSource:
    """What a voice persona is made from: a finished track (the provider's ids) and a 10–30 s vocal window."""

    task_id: str
    audio_id: str
    name: str
    description: str
    vocal_start: float = 0.0
    vocal_end: float = 30.0


class Unsupported(InputError):
    """The provider behind the bot does not offer what the member asked for."""


def unsupported(capabilities: Capabilities, kind: TaskKind) -> Unsupported:
    return Unsupported(
        f"{capabilities.label}, the Suno provider this bot uses, does not offer {OPERATION_NAMES[kind]}. "
        "Ask a server admin if you need it."
    )


def check_source(capabilities: Capabilities, request: Request) -> None:
    """Refuse work on a track another provider made, when it names the track by that provider's ids."""
    made_by = getattr(request, "source_provider", "")
    if made_by and made_by != capabilities.name and request.kind in BY_PROVIDER_ID:
        raise InputError(
            f"This track was made with {LABELS.get(made_by, made_by)}, and this bot now uses {capabilities.label}, "
            f"which can't use it for {OPERATION_NAMES[request.kind]}. You can still cover it, or make a new song."
        )


def check_model(capabilities: Capabilities, model: str) -> None:
    """Refuse a model the provider does not have, listing the ones it has."""
    if model not in capabilities.models:
        shown = MODELS.get(model, model)
        raise InputError(
            f"Model {shown!r} isn't available on {capabilities.label}. Pick one of: {capabilities.model_names()}."
        )


VOICE_HINTS = {"m": "male vocals", "f": "female vocals"}
SHORTEST_IDEA = 400  # the smallest idea limit of the providers (sunoapi.org, CQTAI)


def with_voice(idea: str, gender: str) -> str:
    """An idea with the voice asked for, since simple mode ignores ``vocalGender`` (kie.ai's generate page),
    when it fits every provider's limit."""
    hinted = f"{idea}, {VOICE_HINTS[gender]}"
    return hinted if len(hinted) <= SHORTEST_IDEA and VOICE_HINTS[gender] not in idea.lower() else idea
