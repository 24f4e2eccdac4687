"""Normalizing kie.ai callbacks (contract §3) and record-info answers (§4) into TaskUpdates.

Callbacks use snake_case (``audio_url``), record-info camelCase (``audioUrl``); both are accepted everywhere,
as are sunoapi.org's variants (``vocal_removal_info``, ``lyricsData``). Anything without the documented shape
raises :class:`MalformedCallback`, so it changes nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from bot.models import (
    AlignedWord,
    Lyrics,
    ResultFile,
    TaskKind,
    TaskState,
    TaskUpdate,
    Track,
)


class MalformedCallback(ValueError):
    """A callback body that does not have the documented shape."""


_MUSIC_STATES = {
    "PENDING": TaskState.QUEUED,
    "TEXT_SUCCESS": TaskState.TEXT,
    "FIRST_SUCCESS": TaskState.FIRST,
    "SUCCESS": TaskState.SUCCEEDED,
}
CALLBACK_EXCEPTION = "CALLBACK_EXCEPTION"
_CALLBACK_STAGES = {"text": TaskState.TEXT, "first": TaskState.FIRST, "complete": TaskState.SUCCEEDED}

# Separation result fields (callback snake_case key → stem name); record-info uses the camelCase of the same.
STEM_FIELDS = {
    "vocal_url": "Vocals",
    "instrumental_url": "Instrumental",
    "backing_vocals_url": "Backing vocals",
    "drums_url": "Drums",
    "bass_url": "Bass",
    "guitar_url": "Guitar",
    "piano_url": "Piano",
    "keyboard_url": "Keyboard",
    "percussion_url": "Percussion",
    "strings_url": "Strings",
    "synth_url": "Synth",
    "fx_url": "FX",
    "brass_url": "Brass",
    "woodwinds_url": "Woodwinds",
}
# Record-info status flags given as numbers (contract §4.4), as the words the other records use.
NUMERIC_FLAGS = {
    TaskKind.ART: {"0": "PENDING", "1": "SUCCESS", "2": "PENDING", "3": "GENERATE_COVER_FAILED"},
    TaskKind.MIDI: {"0": "PENDING", "1": "SUCCESS", "2": "CREATE_TASK_FAILED", "3": "GENERATE_MIDI_FAILED"},
}
_EXPORT_FIELDS = {
    TaskKind.WAV: (("audioWavUrl", "audio_wav_url"), "WAV"),
    TaskKind.VIDEO: (("video_url", "videoUrl"), "Video"),
}


# ----- callbacks -------------------------------------------------------------------------------------------


def parse_callback(kind: TaskKind, body: Any) -> TaskUpdate:
    """Normalize a callback for a task of ``kind``."""
    if not isinstance(body, Mapping):
        raise MalformedCallback("body is not a JSON object")
    data = body.get("data")
    if not isinstance(data, Mapping):
        raise MalformedCallback("missing data object")
    task_id = first_str(data, "task_id", "taskId") or first_str(body, "taskId", "task_id")
    if not task_id:
        raise MalformedCallback("missing task id")
    code = as_int(body.get("code"))
    if code is None:
        raise MalformedCallback("missing code")
    message = first_str(body, "msg") or None
    if code not in (200, 0) or first_str(data, "callbackType", "callback_type") == "error":
        detail = message or first_str(data, "error") or None
        return TaskUpdate(task_id, TaskState.FAILED, error_code=code, error_message=detail)
    if kind.makes_music:
        return _music_callback(task_id, data, kind)
    if kind is TaskKind.LYRICS:
        return lyrics_update(task_id, data.get("data"), "error_message", required=True)
    if kind is TaskKind.STEMS:
        info = data.get("vocal_separation_info") or data.get("vocal_removal_info")
        return files_update(task_id, _stems(info, snake=True), code=code, message=message, required=True)
    if kind is TaskKind.ART:
        return files_update(task_id, _images(data.get("images")), code=code, message=message, required=True)
    if kind is TaskKind.MIDI:
        return midi_update(task_id, data.get("instruments"), required=True)
    keys, name = _EXPORT_FIELDS[kind]
    url = first_str(data, *keys)
    return files_update(task_id, (ResultFile(name, url),) if url else (), code=code, message=message,
                         required=True)


def _music_callback(task_id: str, data: Mapping[str, Any], kind: TaskKind) -> TaskUpdate:
    stage = first_str(data, "callbackType", "callback_type")
    if stage not in _CALLBACK_STAGES:
        raise MalformedCallback(f"unknown callbackType {stage!r}")
    items = data.get("data")
    if items is None:
        items = []
    if not isinstance(items, list):
        raise MalformedCallback("data.data is not a list")
    tracks = parse_tracks(items, sung=kind.makes_songs)
    state = _CALLBACK_STAGES[stage]
    if state is TaskState.SUCCEEDED and not tracks:
        raise MalformedCallback("complete callback without tracks")
    return TaskUpdate(task_id, state, tracks)


def lyrics_update(task_id: str, items: Any, error_key: str, *, required: bool) -> TaskUpdate:
    """Lyrics variants; variants that failed are left out, and a task with none left failed."""
    if not isinstance(items, list):
        if required:
            raise MalformedCallback("lyrics callback without a list of variants")
        return TaskUpdate(task_id, TaskState.QUEUED)
    variants, errors = [], []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        text = first_str(item, "text")
        if first_str(item, "status") == "failed" or not text:
            errors.append(first_str(item, error_key, "error_message", "errorMessage"))
            continue
        variants.append(Lyrics(title=first_str(item, "title"), text=text))
    if not variants:
        return TaskUpdate(task_id, TaskState.FAILED, error_message=next(filter(None, errors), "no lyrics returned"))
    return TaskUpdate(task_id, TaskState.SUCCEEDED, lyrics=tuple(variants))


def files_update(
    task_id: str, files: tuple[ResultFile, ...], *, code: int | None, message: str | None, required: bool
) -> TaskUpdate:
    if files:
        return TaskUpdate(task_id, TaskState.SUCCEEDED, files=files)
    if required:  # a success callback without a result is a failure report in disguise (contract §3.2)
        return TaskUpdate(task_id, TaskState.FAILED, error_code=code if code not in (200, 0) else 500,
                          error_message=message or "no result")
    return TaskUpdate(task_id, TaskState.QUEUED)


def _stems(info: Any, *, snake: bool) -> tuple[ResultFile, ...]:
    if not isinstance(info, Mapping):
        return ()
    stems = []
    for key, name in STEM_FIELDS.items():
        url = first_str(info, key if snake else _camel(key), _camel(key) if snake else key)
        if url:
            stems.append(ResultFile(name, url))
    return tuple(stems)


def midi_update(task_id: str, instruments: Any, *, required: bool) -> TaskUpdate:
    """MIDI: the instruments that have notes (an empty list after a separation Suno could not read is a
    failure, so the credits come back)."""
    found = tuple(dict(item) for item in instruments if isinstance(item, Mapping) and isinstance(item.get("notes"), list)
                  and item["notes"]) if isinstance(instruments, list) else ()
    if found:
        return TaskUpdate(task_id, TaskState.SUCCEEDED, midi=found)
    if required or isinstance(instruments, list):
        return TaskUpdate(task_id, TaskState.FAILED, error_code=500, error_message="no notes",
                          reason="Suno found no notes it could write as MIDI in these stems.")
    return TaskUpdate(task_id, TaskState.QUEUED)


def _images(items: Any) -> tuple[ResultFile, ...]:
    """Cover art: a list of image URLs (contract §3.2, §4.4)."""
    urls = [item for item in items if isinstance(item, str) and item] if isinstance(items, list) else []
    return tuple(ResultFile(f"Cover {n}", url) for n, url in enumerate(urls, start=1))


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part.capitalize() for part in rest)


# ----- record-info -----------------------------------------------------------------------------------------


def parse_status(kind: TaskKind, task_id: str, data: Mapping[str, Any]) -> TaskUpdate:
    """Normalize a record-info ``data`` object for a task of ``kind`` (contract §4), with the callback URL the
    record names (to recognise our own task when its submit's answer was lost)."""
    task_id = first_str(data, "taskId") or task_id
    status = first_str(data, "status", "successFlag").upper()
    status = NUMERIC_FLAGS.get(kind, {}).get(status, status)
    update = _status_update(kind, task_id, status, data)
    return replace(update, callback_url=record_callback_url(data))


def _status_update(kind: TaskKind, task_id: str, status: str, data: Mapping[str, Any]) -> TaskUpdate:
    response = data.get("response")
    response = response if isinstance(response, Mapping) else {}
    if kind is TaskKind.MIDI and (not _failed(status) or status == CALLBACK_EXCEPTION):  # midiData (§4.4)
        midi = data.get("midiData")
        instruments = midi.get("instruments") if isinstance(midi, Mapping) else None
        return midi_update(task_id, instruments, required=False) if status in ("SUCCESS", CALLBACK_EXCEPTION) \
            else TaskUpdate(task_id, TaskState.QUEUED)
    if status == CALLBACK_EXCEPTION:
        # The provider could not call us back (always so in poll-only mode): no verdict on the task itself.
        # What it made is in the record; until it is, the task is still being made (the 30-minute timeout,
        # with its last look, decides).
        made = _result(kind, task_id, "SUCCESS", response)
        return made if made.state is not TaskState.FAILED else TaskUpdate(task_id, TaskState.QUEUED)
    if _failed(status):
        message = first_str(data, "errorMessage") or None
        return TaskUpdate(task_id, TaskState.FAILED, error_code=as_int(data.get("errorCode")),
                          error_message=message or status)
    return _result(kind, task_id, status, response)


def _result(kind: TaskKind, task_id: str, status: str, response: Mapping[str, Any]) -> TaskUpdate:
    if kind.makes_music:
        items = response.get("sunoData") or response.get("data") or []
        tracks = parse_tracks(items if isinstance(items, list) else [], sung=kind.makes_songs)
        state = _MUSIC_STATES.get(status, TaskState.QUEUED)
        if state is TaskState.SUCCEEDED and not any(track.audio_url for track in tracks):
            state = TaskState.FIRST if tracks else TaskState.QUEUED  # keep polling until the tracks are listed
        return TaskUpdate(task_id, state, tracks)
    if status != "SUCCESS":
        return TaskUpdate(task_id, TaskState.QUEUED)
    if kind is TaskKind.LYRICS:
        return lyrics_update(task_id, response.get("data") or response.get("lyricsData"), "errorMessage",
                              required=False)
    if kind is TaskKind.STEMS:
        return files_update(task_id, _stems(response, snake=False), code=None, message=None, required=False)
    if kind is TaskKind.ART:
        return files_update(task_id, _images(response.get("images")), code=None, message=None, required=False)
    keys, name = _EXPORT_FIELDS[kind]
    url = first_str(response, *keys)
    return files_update(task_id, (ResultFile(name, url),) if url else (), code=None, message=None,
                         required=False)


def record_callback_url(data: Mapping[str, Any]) -> str | None:
    """The callback URL a record-info answer names: ``callbackUrl`` (separations), or ``callBackUrl`` inside
    ``param``, the request echoed as a JSON string (music, lyrics)."""
    url = first_str(data, "callbackUrl", "callBackUrl")
    if url:
        return url
    param = data.get("param")
    if isinstance(param, str):
        try:
            param = json.loads(param)
        except (ValueError, RecursionError):
            return None
    return first_str(param, "callBackUrl", "callbackUrl") or None if isinstance(param, Mapping) else None


def _failed(status: str) -> bool:
    return "FAILED" in status or "EXCEPTION" in status or status == "SENSITIVE_WORD_ERROR"


def aligned_words(words: Any, start_key: str, end_key: str) -> list[AlignedWord]:
    """Timed words (kie.ai's ``alignedWords`` with ``startS``/``endS``, CQTAI's ``aligned_words`` with
    ``start_s``/``end_s``); items without a word or a time are skipped."""
    found = []
    for item in words if isinstance(words, list) else []:
        if not isinstance(item, Mapping):
            continue
        text, start, end = str(item.get("word") or "").strip(), as_float(item.get(start_key)), as_float(item.get(end_key))
        if text and start is not None and end is not None:
            found.append(AlignedWord(text, start, end))
    return found


def parse_tracks(items: Sequence[Any], *, sung: bool = True) -> tuple[Track, ...]:
    """Tracks from a music record or callback. ``sung`` False (a sound effect): its ``prompt`` is the sound's
    description, not lyrics, so none are kept (a Cover of it must not sing the description)."""
    tracks = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        audio_id = first_str(item, "id", "audioId", "audio_id")
        if not audio_id:
            continue
        tracks.append(
            Track(
                audio_id=audio_id,
                audio_url=first_str(item, "audio_url", "audioUrl"),
                stream_url=first_str(item, "stream_audio_url", "streamAudioUrl"),
                image_url=first_str(item, "image_url", "imageUrl"),
                title=first_str(item, "title"),
                tags=first_str(item, "tags"),
                duration=as_float(item.get("duration")),
                lyrics=first_str(item, "prompt", "lyrics") if sung else "",
                model_name=first_str(item, "model_name", "modelName"),
                created=first_str(item, "createTime", "create_time"),
            )
        )
    return tuple(tracks)


# ----- lenient field access --------------------------------------------------------------------------------


_SURROGATES = re.compile("[\ud800-\udfff]")
_INTEGER = re.compile(r"-?[0-9]{1,18}")
_INT64 = range(-(2**63), 2**63)


def first_str(mapping: Mapping[str, Any], *keys: str) -> str:
    """The first non-empty text among ``keys``; half an emoji (a lone surrogate, as from a provider that cut
    a title) becomes U+FFFD rather than text nothing downstream can encode."""
    for key in keys:
        value = mapping.get(key)
        if isinstance(value, str) and value:
            return _SURROGATES.sub("\ufffd", value)
        if isinstance(value, int) and not isinstance(value, bool) and value in _INT64:
            return str(value)
    return ""


def as_int(value: Any) -> int | None:
    """A 64-bit integer (or its decimal text); anything else is None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value in _INT64 else None
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value.strip())
    return None


def as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None
