"""The data the bot passes around: requests, provider updates, stored tasks and tracks."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum


class TaskState(StrEnum):
    """Where a task is. Pending states advance in rank order; SUCCEEDED and FAILED are terminal."""

    SUBMITTING = "submitting"
    QUEUED = "queued"
    TEXT = "text"
    FIRST = "first"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @property
    def terminal(self) -> bool:
        return self in (TaskState.SUCCEEDED, TaskState.FAILED)


_RANK = {
    TaskState.SUBMITTING: 0,
    TaskState.QUEUED: 1,
    TaskState.TEXT: 2,
    TaskState.FIRST: 3,
    TaskState.SUCCEEDED: 4,
    TaskState.FAILED: 4,
}
PENDING_STATES = tuple(state for state in TaskState if not state.terminal)


class TaskKind(StrEnum):
    GENERATE = "generate"  # idea → song (lyrics written by Suno)
    COMPOSE = "compose"  # custom mode: the member's own lyrics, style and title


MODELS: dict[str, str] = {
    "V5": "V5 (newest)",
    "V4_5PLUS": "V4.5+",
    "V4_5ALL": "V4.5 All",
    "V4_5": "V4.5",
    "V4": "V4",
}
DEFAULT_MODEL = "V5"


@dataclass(frozen=True)
class MusicRequest:
    """What a member asked for, in the provider's terms (kie /api/v1/generate)."""

    prompt: str = ""
    custom_mode: bool = False
    instrumental: bool = False
    model: str = DEFAULT_MODEL
    style: str = ""
    title: str = ""
    negative_tags: str = ""
    vocal_gender: str | None = None  # "m" | "f", custom mode only

    @property
    def kind(self) -> TaskKind:
        return TaskKind.COMPOSE if self.custom_mode else TaskKind.GENERATE

    @property
    def summary(self) -> str:
        """A short human description: the title in custom mode, the idea otherwise."""
        return self.title if self.custom_mode else self.prompt

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> MusicRequest:
        data = json.loads(text)
        return cls(**{key: data[key] for key in cls.__dataclass_fields__ if key in data})


@dataclass(frozen=True)
class Track:
    """One generated song, normalized from either the callback (snake_case) or record-info (camelCase)."""

    audio_id: str
    audio_url: str = ""
    stream_url: str = ""
    image_url: str = ""
    title: str = ""
    tags: str = ""
    duration: float | None = None
    lyrics: str = ""
    model_name: str = ""
    created: str = ""
    message_id: int | None = None  # the channel message it was posted in, once posted


@dataclass(frozen=True)
class TaskUpdate:
    """One observation of a provider task: from a callback stage or a record-info poll."""

    task_id: str
    state: TaskState
    tracks: tuple[Track, ...] = ()
    error_code: int | None = None
    error_message: str | None = None  # the provider's own words, for logs
    reason: str | None = None  # what to tell the member; derived from the code when not given


@dataclass
class Task:
    """A stored task row: who asked, where, for what, and how far it got."""

    id: int
    kind: str
    provider: str
    provider_task_id: str | None
    callback_token: str
    guild_id: int | None
    channel_id: int
    user_id: int
    status_message_id: int | None
    request: MusicRequest
    state: TaskState
    upload_limit: int
    created_at: float
    updated_at: float
    finished_at: float | None = None
    delivered_at: float | None = None
    next_poll_at: float | None = None
    error_code: int | None = None
    error_message: str | None = None
    reason: str | None = None
    tracks: list[Track] = field(default_factory=list)

    @property
    def elapsed(self) -> float:
        end = self.finished_at if self.finished_at is not None else self.updated_at
        return max(0.0, end - self.created_at)
