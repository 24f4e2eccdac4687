"""The data the bot passes around: requests, provider updates, stored tasks and tracks."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any


class TaskState(StrEnum):
    """Where a task is. Pending states advance in rank order; SUCCEEDED and FAILED are terminal."""

    WAITING = "waiting"  # accepted (credits reserved), waiting its turn to be sent to the provider
    SUBMITTING = "submitting"
    # Sent, but the provider's answer was lost (a timeout, a dropped connection, a restart): it may have taken it.
    # A callback at the task's path adopts the provider's task id; after a while without one it is refunded.
    UNSURE = "unsure"
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
    TaskState.WAITING: 0,
    TaskState.SUBMITTING: 1,
    TaskState.UNSURE: 1,
    TaskState.QUEUED: 2,
    TaskState.TEXT: 3,
    TaskState.FIRST: 4,
    TaskState.SUCCEEDED: 5,
    TaskState.FAILED: 5,
}
PENDING_STATES = tuple(state for state in TaskState if not state.terminal)


class TaskKind(StrEnum):
    GENERATE = "generate"  # idea → song (lyrics written by Suno)
    COMPOSE = "compose"  # custom mode: the member's own lyrics, style and title
    EXTEND = "extend"  # continue a generated track
    UPLOAD_EXTEND = "upload_extend"  # continue an uploaded file
    COVER = "cover"  # re-perform a track or an uploaded file in a new style (upload-cover)
    LYRICS = "lyrics"  # lyrics only
    STEMS = "stems"  # vocal / instrument separation
    WAV = "wav"  # WAV export of a track
    VIDEO = "video"  # music video (MP4) of a track
    ADD_VOCALS = "add_vocals"  # vocals sung over a member's instrumental
    ADD_INSTRUMENTAL = "add_instrumental"  # a backing track for a member's vocals
    MASHUP = "mashup"  # two tracks blended into one
    REPLACE = "replace_section"  # one section of a track sung again
    ART = "cover_image"  # new cover art for a song
    MIDI = "midi"  # the notes of a 12-stem separation, as MIDI
    SOUND = "sounds"  # a sound effect or loop (Suno "Sounds")

    @property
    def makes_music(self) -> bool:
        """Kinds whose results are tracks, delivered through the text → first → complete stages."""
        return self in MUSIC_KINDS

    @property
    def makes_songs(self) -> bool:
        """Kinds whose tracks are songs (with lyrics unless instrumental): every music kind but sounds."""
        return self.makes_music and self is not TaskKind.SOUND


MUSIC_KINDS = frozenset({TaskKind.GENERATE, TaskKind.COMPOSE, TaskKind.EXTEND, TaskKind.UPLOAD_EXTEND, TaskKind.COVER,
                         TaskKind.ADD_VOCALS, TaskKind.ADD_INSTRUMENTAL, TaskKind.MASHUP, TaskKind.REPLACE,
                         TaskKind.SOUND})

# The bot's model names and how members see them; each provider maps the ones it offers to its own names.
MODELS: dict[str, str] = {
    "V5_5": "V5.5",
    "V5": "V5",
    "V4_5PLUS": "V4.5+",
    "V4_5ALL": "V4.5 All",
    "V4_5": "V4.5",
    "V4": "V4",
}
DEFAULT_MODEL = "V5"
STEM_MODES = {"vocals": "separate_vocal", "all": "split_stem"}


def last_second(duration: float | None) -> float | None:
    """The last whole second before the end of a track ``duration`` seconds long (None if unknown)."""
    return math.ceil(duration) - 1 if duration and duration > 1 else None


@dataclass(frozen=True)
class Persona:
    """A voice persona a request sings with: the provider's id, its name (for members), which provider made it."""

    id: str
    name: str = ""
    provider: str = ""


@dataclass(frozen=True)
class AlignedWord:
    """One sung word and when: the provider's timestamped lyrics (karaoke)."""

    word: str
    start: float
    end: float


class Request:
    """What a member asked for, in the provider's terms. Subclasses are frozen dataclasses."""

    model: str = ""

    @property
    def kind(self) -> TaskKind:
        raise NotImplementedError

    @property
    def summary(self) -> str:
        """A short human description for status messages and lists."""
        raise NotImplementedError

    @property
    def reuse_key(self) -> str | None:
        """Requests with the same key give the same result: the stored one is reused, never re-billed."""
        return None

    def to_json(self) -> str:
        return json.dumps(asdict(self))  # type: ignore[call-overload]


@dataclass(frozen=True)
class MusicRequest(Request):
    """A new song (kie /api/v1/generate): an idea, or custom mode with lyrics, style and title."""

    prompt: str = ""
    custom_mode: bool = False
    instrumental: bool = False
    model: str = DEFAULT_MODEL
    style: str = ""
    title: str = ""
    negative_tags: str = ""
    vocal_gender: str | None = None  # "m" | "f"
    style_weight: float | None = None  # 0–1: how closely to follow the style
    weirdness: float | None = None  # 0–1: how far to stray creatively
    audio_weight: float | None = None  # 0–1: balance of the audio features
    persona: Persona | None = None  # a voice persona to sing with (custom mode only)

    @property
    def kind(self) -> TaskKind:
        return TaskKind.COMPOSE if self.custom_mode else TaskKind.GENERATE

    def tuning(self) -> dict[str, float]:
        """The 0–1 knobs that are set, by their kie.ai / CQTAI names (2 decimals, as documented)."""
        knobs = {"styleWeight": self.style_weight, "weirdnessConstraint": self.weirdness,
                 "audioWeight": self.audio_weight}
        return {name: round(value, 2) for name, value in knobs.items() if value is not None}

    @property
    def summary(self) -> str:
        return self.title if self.custom_mode else self.prompt


@dataclass(frozen=True)
class ExtendRequest(Request):
    """Continue a track (extend, by audio id) or an uploaded file (upload-extend, by URL).

    ``default_params`` False inherits the source's parameters; True sends prompt, style, title and
    continue_at (contract §2.2)."""

    audio_id: str = ""
    upload_url: str = ""
    source_title: str = ""
    source_duration: float | None = None  # for checking continue_at before any request
    default_params: bool = False
    continue_at: float | None = None
    prompt: str = ""
    style: str = ""
    title: str = ""
    model: str = DEFAULT_MODEL
    instrumental: bool = False
    negative_tags: str = ""
    source_provider: str = ""  # the provider that made the track (its ids mean nothing to another)
    persona: Persona | None = None  # a voice persona to sing with (new parameters only)

    @property
    def kind(self) -> TaskKind:
        return TaskKind.EXTEND if self.audio_id else TaskKind.UPLOAD_EXTEND

    @property
    def start(self) -> float | None:
        """Where the new part begins: ``continue_at``, else the track's end (when its length is known)."""
        return self.continue_at if self.continue_at is not None else last_second(self.source_duration)

    @property
    def summary(self) -> str:
        return f"{self.title or self.source_title or 'Your upload'} (extended)"


@dataclass(frozen=True)
class CoverRequest(Request):
    """Re-perform audio in a new style (upload-cover): a generated track's audio URL or an uploaded file."""

    upload_url: str
    source_audio_id: str = ""
    source_title: str = ""
    custom_mode: bool = True
    prompt: str = ""
    style: str = ""
    title: str = ""
    instrumental: bool = False
    model: str = DEFAULT_MODEL
    negative_tags: str = ""
    source_provider: str = ""  # the provider that made the source track, if it is one
    persona: Persona | None = None  # a voice persona to sing with (custom mode only)

    @property
    def kind(self) -> TaskKind:
        return TaskKind.COVER

    @property
    def summary(self) -> str:
        return f"{self.title or self.source_title or 'Your upload'} (cover)"


@dataclass(frozen=True)
class LyricsRequest(Request):
    prompt: str

    @property
    def kind(self) -> TaskKind:
        return TaskKind.LYRICS

    @property
    def summary(self) -> str:
        return f"Lyrics: {self.prompt}"


@dataclass(frozen=True)
class StemsRequest(Request):
    """Separate a track: ``mode`` "vocals" (vocals + instrumental) or "all" (up to 12 stems)."""

    source_task_id: str  # the provider's id of the task that made the track
    audio_id: str
    mode: str = "vocals"
    source_title: str = ""
    source_provider: str = ""
    source_expired: bool = False  # the provider deleted the track (only an earlier result can be re-posted)

    @property
    def kind(self) -> TaskKind:
        return TaskKind.STEMS

    @property
    def summary(self) -> str:
        what = "Vocals + instrumental" if self.mode == "vocals" else "All stems"
        return f"{what} of {self.source_title or 'a track'}"

    @property
    def reuse_key(self) -> str:
        return f"stems:{self.mode}:{self.audio_id}"


@dataclass(frozen=True)
class ExportRequest(Request):
    """A WAV or a music video (MP4) of a track."""

    source_task_id: str
    audio_id: str
    format: str = "wav"  # "wav" | "video"
    source_title: str = ""
    author: str = ""
    source_provider: str = ""
    source_expired: bool = False  # as StemsRequest

    @property
    def kind(self) -> TaskKind:
        return TaskKind.WAV if self.format == "wav" else TaskKind.VIDEO

    @property
    def summary(self) -> str:
        return f"{'WAV' if self.format == 'wav' else 'Music video'} of {self.source_title or 'a track'}"

    @property
    def reuse_key(self) -> str:
        return f"{self.format}:{self.audio_id}"


@dataclass(frozen=True)
class ArtRequest(Request):
    """New cover art for a song (kie cover/generate: one set per song, so it is reused, never re-billed)."""

    source_task_id: str  # the provider's id of the task that made the song
    source_title: str = ""
    source_provider: str = ""

    @property
    def kind(self) -> TaskKind:
        return TaskKind.ART

    @property
    def summary(self) -> str:
        return f"Cover art for {self.source_title or 'your song'}"

    @property
    def reuse_key(self) -> str:
        return f"art:{self.source_task_id}"


@dataclass(frozen=True)
class MidiRequest(Request):
    """The notes of a finished 12-stem separation as MIDI (kie midi/generate): reused, never re-billed."""

    source_task_id: str  # the provider's id of the separation
    source_title: str = ""
    source_provider: str = ""

    @property
    def kind(self) -> TaskKind:
        return TaskKind.MIDI

    @property
    def summary(self) -> str:
        return f"MIDI of {self.source_title or 'your stems'}"

    @property
    def reuse_key(self) -> str:
        return f"midi:{self.source_task_id}"


@dataclass(frozen=True)
class AddVocalsRequest(Request):
    """Vocals over a member's instrumental (kie add-vocals): the lyrics, the style and a title."""

    upload_url: str
    prompt: str = ""  # the lyrics
    style: str = ""
    title: str = ""
    negative_tags: str = ""
    model: str = DEFAULT_MODEL
    source_title: str = ""

    @property
    def kind(self) -> TaskKind:
        return TaskKind.ADD_VOCALS

    @property
    def summary(self) -> str:
        return f"{self.title or self.source_title or 'Your track'} (with vocals)"


@dataclass(frozen=True)
class AddInstrumentalRequest(Request):
    """A backing track for a member's vocals (kie add-instrumental): the style and a title."""

    upload_url: str
    style: str = ""
    title: str = ""
    negative_tags: str = ""
    model: str = DEFAULT_MODEL
    source_title: str = ""

    @property
    def kind(self) -> TaskKind:
        return TaskKind.ADD_INSTRUMENTAL

    @property
    def summary(self) -> str:
        return f"{self.title or self.source_title or 'Your vocals'} (with a backing track)"


@dataclass(frozen=True)
class MashupRequest(Request):
    """Two tracks blended into one (kie mashup: exactly two sources), described by ``prompt``."""

    upload_urls: tuple[str, ...] = ()
    prompt: str = ""  # what the blend should sound like (simple mode)
    model: str = DEFAULT_MODEL
    source_titles: tuple[str, ...] = ()

    @property
    def kind(self) -> TaskKind:
        return TaskKind.MASHUP

    @property
    def summary(self) -> str:
        names = " \u00d7 ".join(title or "Untitled" for title in self.source_titles)
        return f"{names or 'Two tracks'} (mashup)"


@dataclass(frozen=True)
class ReplaceRequest(Request):
    """One section of a track sung again (kie replace-section): from ``start`` to ``end`` seconds, with new
    lyrics, and the style and title (the track's by default)."""

    source_task_id: str
    audio_id: str
    start: float
    end: float
    prompt: str = ""  # the section's new lyrics
    style: str = ""
    title: str = ""
    negative_tags: str = ""
    model: str = DEFAULT_MODEL
    source_duration: float | None = None
    source_title: str = ""
    source_provider: str = ""

    @property
    def kind(self) -> TaskKind:
        return TaskKind.REPLACE

    @property
    def summary(self) -> str:
        return f"{self.title or self.source_title or 'Your track'} (section {self.start:g}\u2013{self.end:g} s)"


# A sound's key (kie.ai and sunoapi.org "Generate Sounds"): any, or one of the 24 major and minor keys.
SOUND_KEYS: tuple[str, ...] = ("Any", *(f"{p}m" for p in ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")),
                               "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
SOUND_MODEL = "V5"  # the one model Suno makes sounds with


def key_name(key: str) -> str:
    """How members read a sound's key: "D# minor", "C major", "Any key"."""
    if key == "Any":
        return "Any key"
    return f"{key[:-1]} minor" if key.endswith("m") else f"{key} major"


@dataclass(frozen=True)
class SoundRequest(Request):
    """A sound effect or a loop (kie.ai / sunoapi.org generate/sounds): what it sounds like, whether it loops,
    and optionally its tempo and key."""

    prompt: str = ""
    model: str = SOUND_MODEL
    loop: bool = False
    bpm: int | None = None  # 1–300; None: Suno picks
    key: str = "Any"

    @property
    def kind(self) -> TaskKind:
        return TaskKind.SOUND

    @property
    def summary(self) -> str:
        return self.prompt


_REQUEST_TYPES: dict[TaskKind, type[Request]] = {
    TaskKind.GENERATE: MusicRequest,
    TaskKind.COMPOSE: MusicRequest,
    TaskKind.EXTEND: ExtendRequest,
    TaskKind.UPLOAD_EXTEND: ExtendRequest,
    TaskKind.COVER: CoverRequest,
    TaskKind.LYRICS: LyricsRequest,
    TaskKind.STEMS: StemsRequest,
    TaskKind.WAV: ExportRequest,
    TaskKind.VIDEO: ExportRequest,
    TaskKind.ADD_VOCALS: AddVocalsRequest,
    TaskKind.ADD_INSTRUMENTAL: AddInstrumentalRequest,
    TaskKind.MASHUP: MashupRequest,
    TaskKind.REPLACE: ReplaceRequest,
    TaskKind.ART: ArtRequest,
    TaskKind.MIDI: MidiRequest,
    TaskKind.SOUND: SoundRequest,
}


def request_from_json(kind: str, text: str) -> Request:
    cls = _REQUEST_TYPES[TaskKind(kind)]
    data = json.loads(text)
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{key: _field(key, value) for key, value in data.items() if key in names})


def _field(name: str, value: Any) -> Any:
    """A request field read back from JSON: lists are tuples, a persona is a Persona."""
    if name == "persona" and isinstance(value, dict):
        return Persona(**value)
    return tuple(value) if isinstance(value, list) else value


@dataclass(frozen=True)
class Lyrics:
    """One lyrics variant from a lyrics task."""

    title: str
    text: str


@dataclass(frozen=True)
class ResultFile:
    """A named result file: a stem ("Vocals"), a WAV, a video."""

    name: str
    url: str


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
    video_url: str = ""  # a music video the provider made with the song at no cost (CQTAI's clips)


@dataclass(frozen=True)
class TaskUpdate:
    """One observation of a provider task: from a callback stage or a record-info poll."""

    task_id: str
    state: TaskState
    tracks: tuple[Track, ...] = ()
    lyrics: tuple[Lyrics, ...] = ()
    files: tuple[ResultFile, ...] = ()
    midi: tuple[dict[str, Any], ...] = ()  # MIDI: the instruments and their notes, as the provider lists them
    error_code: int | None = None
    error_message: str | None = None  # the provider's own words, for logs
    reason: str | None = None  # what to tell the member; derived from the code when not given
    callback_url: str | None = None  # where the provider's record says it calls back (record-info only)


@dataclass(frozen=True)
class Place:
    """A waiting task's place in the submission queue (1 = next) and when it should start (Unix time)."""

    position: int
    starts_at: float


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
    request: Request
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
    lyrics: list[Lyrics] = field(default_factory=list)
    files: list[ResultFile] = field(default_factory=list)
    midi: list[dict[str, Any]] = field(default_factory=list)  # a MIDI result: instruments with their notes
    posted_parts: int = 0  # result messages of lyrics / files already posted
    submitted_at: float | None = None  # when it was sent to the provider (its turn in the queue came)
    unposted: str | None = None  # why the result could not be posted in its channel (it is kept)
    told_at: float | None = None  # when the member was told about an unposted result
    deleted_at: float | None = None  # when its owner (or a moderator) deleted its messages
    private: bool = False  # its messages go to the member's DMs (channel_id is the DM channel)
    # Asked in a public thread: the thread's channel, whose readers may read it once the thread is archived
    # (None for channels and private threads, whose members the bot cannot know).
    thread_parent_id: int | None = None

    @property
    def task_kind(self) -> TaskKind:
        return TaskKind(self.kind)


@dataclass(frozen=True)
class ChannelLists:
    """Where music may be made: with no allowed channels, everywhere but the denied ones. A thread counts as
    its channel."""

    allowed: tuple[int, ...] = ()
    denied: tuple[int, ...] = ()

    def refusal(self, channel_id: int, parent_id: int | None = None) -> str | None:
        """What to tell a member asking in ``channel_id`` (a thread of ``parent_id``), or None if allowed."""
        here = {channel_id, parent_id} - {None}
        open_ones = [channel for channel in self.allowed if channel not in self.denied]
        if here & set(self.denied) or (self.allowed and not here & set(open_ones)):
            where = f"Use {', '.join(f'<#{c}>' for c in open_ones)}." if open_ones else "Try another channel."
            return f"Music can't be made in this channel. {where}"
        return None

    def describe(self) -> str:
        """The rule in one sentence, for moderators."""
        denied = ", ".join(f"<#{c}>" for c in self.denied)
        if self.allowed:
            text = "Music can be made only in " + ", ".join(f"<#{c}>" for c in self.allowed) + "."
            return text + (f" Denied: {denied}." if denied else "")
        if denied:
            return f"Music can be made in every channel except {denied}."
        return "Music can be made in every channel."
