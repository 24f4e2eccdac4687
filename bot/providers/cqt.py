"""The CQTAI adapter (contract §8): one submit endpoint whose ``task`` field names the operation, a bare task id
in ``data``, no callbacks (the bot polls ``/api/cqt/info/suno``), its own field and model names, and the raw
Suno clip list as the result.

The info ``status`` values beyond "succeeded", and the result shapes of lyrics, WAV and MP4 tasks, are not
documented (contract §8, §10): done is any of succeeded/success/complete(d), failed any of failed/failure/
error, anything else pending; results are read leniently (a list or one object, several key spellings).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from bot.models import (
    AlignedWord,
    CoverRequest,
    ExportRequest,
    ExtendRequest,
    LyricsRequest,
    MusicRequest,
    Persona,
    Request,
    ResultFile,
    StemsRequest,
    TaskKind,
    TaskState,
    TaskUpdate,
    Track,
)
from bot.providers.base import (
    ALL_KINDS,
    KIE_STUDIO_KINDS,
    LABELS,
    Capabilities,
    PersonaSource,
    TextLimits,
    with_voice,
)
from bot.providers.errors import (
    CQT_ERRORS,
    InputError,
    ProviderUnavailable,
    Unconfirmed,
)
from bot.providers.http import ApiClient
from bot.providers.kie_parsing import (
    STEM_FIELDS,
    MalformedCallback,
    aligned_words,
    as_float,
    as_int,
    files_update,
    first_str,
    lyrics_update,
)

__all__ = ["CQT", "CqtClient", "parse_info", "request_body"]

SUBMIT_PATH = "/api/cqt/generator/suno"
STATUS_PATH = "/api/cqt/info/suno"

# §8: v55 (latest, recommended), v50, v45+, v45, v40. kie's "V4.5 All" has no CQTAI counterpart.
CQT_MODELS = {"V5_5": "v55", "V5": "v50", "V4_5PLUS": "v45+", "V4_5": "v45", "V4": "v40"}
_LONG = 5000
CQT_LIMITS = TextLimits(
    idea=400,
    title=80,
    lyrics_prompt=200,
    lyrics={model: 3000 if model == "V4" else _LONG for model in CQT_MODELS},
    style={model: 200 if model == "V4" else 1000 for model in CQT_MODELS},
)
CQT = Capabilities(name="cqt", label=LABELS["cqt"], kinds=ALL_KINDS - KIE_STUDIO_KINDS, models=CQT_MODELS, limits=CQT_LIMITS,
                   callbacks=False, tools=frozenset({"persona", "karaoke", "boost"}), free_exports=frozenset({"video"}))
TOOL_POLL = 1.0  # seconds between looks at a tool's task (they take seconds)
TOOL_TIMEOUT = 120.0

_DONE = {"succeeded", "success", "complete", "completed"}
_FAILED = {"failed", "failure", "error"}
_STEM_TASKS = {"vocals": "gen_stem_two", "all": "gen_stem_all"}
_STEM_NAMES = {name.lower(): name for name in STEM_FIELDS.values()}
_EXPORT_KEYS = {
    TaskKind.WAV: (("wav_file_url", "wav_url", "wavUrl", "audio_wav_url", "audioWavUrl", "url", "audio_url"), "WAV"),
    TaskKind.VIDEO: (("video_url", "videoUrl", "mp4_url", "url"), "Video"),
}


class CqtClient(ApiClient):
    """CQTAI: poll-only; 429 means too many running tasks, so a refused submit waits for a slot."""

    capabilities = CQT
    errors = CQT_ERRORS

    def validate(self, request: Request) -> None:
        super().validate(request)
        if isinstance(request, ExtendRequest) and request.start is None:
            raise InputError("Say where to continue from: continue_at, in seconds.")

    async def submit(self, request: Request, callback_url: str) -> str:
        """Submit any task (``callback_url`` is unused: CQTAI has no callbacks); returns its task id."""
        self.validate(request)
        data = await self._submit(SUBMIT_PATH, request_body(request, self.capabilities.models))
        task_id = first_str(data, "taskId", "id") if isinstance(data, Mapping) else data
        if not isinstance(task_id, str) or not task_id.strip():
            raise Unconfirmed(None, "submit answered without a task id")
        return task_id.strip()

    async def status(self, kind: TaskKind, task_id: str) -> TaskUpdate:
        status, envelope = await self._request("GET", STATUS_PATH, params={"id": task_id})
        data = envelope.get("data")
        if isinstance(data, Mapping) and first_str(data, "status").lower() in _FAILED:
            # A failed task may come with the failure's code on the envelope ("500 failed / timeout", §8).
            update = parse_info(kind, task_id, data)
            code = as_int(envelope.get("code"))
            return self.explain(replace(update, error_code=code if code not in (200, 0) else None))
        data = self._data(status, envelope)
        if not isinstance(data, Mapping):
            raise ProviderUnavailable(None, "info answered without data")
        return self.explain(parse_info(kind, task_id, data))

    def parse_callback(self, kind: TaskKind, body: Any) -> TaskUpdate:
        raise MalformedCallback("CQTAI sends no callbacks; its tasks are polled")

    async def create_persona(self, source: PersonaSource) -> str:
        """``persona`` (contract §8): a task whose result names the persona (Suno's ``id`` or ``personaId``)."""
        result = await self._tool({"task": "persona", "taskId": source.task_id, "clipId": source.audio_id,
                                   "name": source.name.strip(), "description": source.description.strip()})
        persona_id = first_str(result, "personaId", "id") if isinstance(result, Mapping) else ""
        if not persona_id:
            raise ProviderUnavailable(None, "the persona task finished without an id")
        return persona_id

    async def timestamped_lyrics(self, task_id: str, audio_id: str) -> list[AlignedWord]:
        """``timeline`` (contract §8): ``{"aligned_words": [{word, success, start_s, end_s, p_align}]}``."""
        result = await self._tool({"task": "timeline", "clipId": audio_id})
        return aligned_words(result.get("aligned_words") if isinstance(result, Mapping) else None, "start_s", "end_s")

    async def boost_style(self, text: str) -> str:
        """``upsample_tags`` (contract §8): a richer style for a few words."""
        result = await self._tool({"task": "upsample_tags", "prompt": text.strip()})
        boosted = first_str(result, "upsampled_tags", "tags", "result") if isinstance(result, Mapping) else \
            (result if isinstance(result, str) else "")
        if not boosted:
            raise ProviderUnavailable(None, "the tag boost finished without tags")
        return boosted

    async def _tool(self, body: Mapping[str, Any]) -> Any:
        """A small tool, which CQTAI runs as a task: submitted, then looked at every TOOL_POLL seconds until
        it finishes (its result) or fails (raised with CQTAI's reason)."""
        data = await self._submit(SUBMIT_PATH, body)
        task_id = first_str(data, "taskId", "id") if isinstance(data, Mapping) else data
        if not isinstance(task_id, str) or not task_id.strip():
            raise Unconfirmed(None, "submit answered without a task id")
        deadline = time.monotonic() + TOOL_TIMEOUT
        while True:
            status, envelope = await self._request("GET", STATUS_PATH, params={"id": task_id.strip()})
            info = envelope.get("data")
            state = first_str(info, "status").lower() if isinstance(info, Mapping) else ""
            if isinstance(info, Mapping) and state in _DONE:
                return info.get("result")
            if isinstance(info, Mapping) and state in _FAILED:
                code = as_int(envelope.get("code"))
                raise self.errors.error(code if code not in (200, 0) else None,
                                        first_str(info, "errorMsg", "error_msg") or "failed", failure=True)
            self._data(status, envelope)  # an error answer raises here
            if time.monotonic() > deadline:
                raise ProviderUnavailable(None, "the tool did not finish in time")
            await asyncio.sleep(TOOL_POLL)

    async def credits(self) -> int:
        raise InputError("CQTAI has no documented balance endpoint: check the balance in the CQTAI console "
                         "(cqtai.com).")


# ----- request bodies (contract §8 task table) ---------------------------------------------------------------


def request_body(request: Request, models: Mapping[str, str] = CQT_MODELS) -> dict[str, Any]:
    """The JSON body that submits ``request``: ``task`` plus CQTAI's field names."""
    if isinstance(request, MusicRequest):
        return {"task": "create", "model": models[request.model],
                **_song_fields(request.custom_mode, request.prompt, request.style, request.title,
                               request.instrumental, request.negative_tags, request.vocal_gender),
                **request.tuning(), **_persona(request.persona)}
    if isinstance(request, ExtendRequest):
        return _extend_body(request, models[request.model])
    if isinstance(request, CoverRequest):
        own_clip = request.source_audio_id and request.source_provider == CQT.name
        source = {"task": "cover", "clipId": request.source_audio_id} if own_clip else \
            {"task": "upload_cover", "audioUrl": request.upload_url}
        return {**source, "model": models[request.model],
                **_song_fields(request.custom_mode, request.prompt, request.style, request.title,
                               request.instrumental, request.negative_tags, None), **_persona(request.persona)}
    if isinstance(request, LyricsRequest):
        return {"task": "lyrics", "prompt": request.prompt.strip()}
    if isinstance(request, StemsRequest):
        return {"task": _STEM_TASKS[request.mode], "clipId": request.audio_id}
    if isinstance(request, ExportRequest):
        return {"task": "wav" if request.format == "wav" else "mp4", "clipId": request.audio_id}
    raise TypeError(f"no body for {type(request).__name__}")


def _song_fields(
    custom: bool, prompt: str, style: str, title: str, instrumental: bool, negative_tags: str, gender: str | None
) -> dict[str, Any]:
    """Simple mode sends the description; custom mode tags, title and (unless instrumental) the lyrics."""
    fields: dict[str, Any] = {"customMode": custom, "makeInstrumental": instrumental}
    if not custom:
        fields["prompt"] = with_voice(prompt.strip(), gender) if gender and not instrumental else prompt.strip()
        if gender:
            fields["vocalGender"] = gender
        return fields
    fields.update(tags=style.strip(), title=title.strip())
    if not instrumental:
        fields["prompt"] = prompt.strip()
    if negative_tags.strip():
        fields["negativeTags"] = negative_tags.strip()
    if gender:
        fields["vocalGender"] = gender
    return fields


def _extend_body(request: ExtendRequest, model: str) -> dict[str, Any]:
    """``extend`` (a clip) or ``upload_extend`` (a URL). Without new parameters the clip's own are kept."""
    source = {"task": "extend", "clipId": request.audio_id} if request.audio_id else \
        {"task": "upload_extend", "audioUrl": request.upload_url}
    body: dict[str, Any] = {**source, "model": model, "continueAt": request.start}
    if request.upload_url or request.default_params:
        body["makeInstrumental"] = request.instrumental
        if request.prompt.strip():
            body["prompt"] = request.prompt.strip()
    if request.default_params:
        body.update(tags=request.style.strip(), title=request.title.strip())
        if request.negative_tags.strip():
            body["negativeTags"] = request.negative_tags.strip()
    return {**body, **_persona(request.persona)}


def _persona(persona: Persona | None) -> dict[str, str]:
    return {"personaId": persona.id} if persona is not None else {}


# ----- info answers ------------------------------------------------------------------------------------------


def parse_info(kind: TaskKind, task_id: str, data: Mapping[str, Any]) -> TaskUpdate:
    """Normalize a ``GET /api/cqt/info/suno`` ``data`` object for a task of ``kind``."""
    task_id = first_str(data, "id", "taskId") or task_id
    status = first_str(data, "status").lower()
    if status in _FAILED:
        message = first_str(data, "errorMsg", "error_msg", "errorMessage") or "failed"
        return TaskUpdate(task_id, TaskState.FAILED, error_message=message)
    result = data.get("result")
    done = status in _DONE
    if kind.makes_music:
        return _music(task_id, result, done)
    if not done:
        return TaskUpdate(task_id, TaskState.QUEUED)
    if kind is TaskKind.LYRICS:
        return lyrics_update(task_id, _lyrics_items(result), "errorMsg", required=False)
    if kind is TaskKind.STEMS:
        return files_update(task_id, _stems(result), code=None, message=None, required=False)
    keys, name = _EXPORT_KEYS[kind]
    url = next(filter(None, (first_str(item, *keys) for item in _objects(result))), "")
    return files_update(task_id, (ResultFile(name, url),) if url else (), code=None, message=None, required=False)


def _music(task_id: str, result: Any, done: bool) -> TaskUpdate:
    clips = list(_objects(result))
    tracks = tuple(_track(clip) for clip in clips if first_str(clip, "id"))
    finished = tuple(track for track in tracks if track.audio_url)
    if done and finished:
        return TaskUpdate(task_id, TaskState.SUCCEEDED, finished)
    if any(track.audio_url or track.stream_url for track in tracks):
        return TaskUpdate(task_id, TaskState.FIRST, tracks)
    return TaskUpdate(task_id, TaskState.TEXT if tracks else TaskState.QUEUED, tracks)


def _track(clip: Mapping[str, Any]) -> Track:
    metadata = clip.get("metadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}
    complete = first_str(clip, "status").lower() in _DONE
    url = first_str(clip, "audio_url", "audioUrl")
    return Track(
        audio_id=first_str(clip, "id"),
        audio_url=url if complete else "",
        stream_url="" if complete else url,
        image_url=first_str(clip, "image_large_url", "image_url", "imageUrl"),
        title=first_str(clip, "title"),
        tags=first_str(metadata, "tags") or first_str(clip, "tags"),
        duration=as_float(metadata.get("duration", clip.get("duration"))),
        lyrics=first_str(metadata, "prompt") or first_str(clip, "lyrics"),
        model_name=first_str(clip, "model_name"),
        created=first_str(clip, "created_at", "createTime"),
        video_url=first_str(clip, "video_url", "videoUrl") if complete else "",  # made with it, at no cost (§6)
    )


def _stems(result: Any) -> tuple[ResultFile, ...]:
    """gen_stem_two / gen_stem_all: one clip per stem, named in its metadata or as "Title (Vocals)"."""
    stems = []
    for clip in _objects(result):
        url = first_str(clip, "audio_url", "audioUrl")
        metadata = clip.get("metadata")
        name = first_str(metadata, "stem_type_group_name") if isinstance(metadata, Mapping) else ""
        title = first_str(clip, "title")
        if not name and title.endswith(")") and "(" in title:
            name = title[title.rindex("(") + 1:-1]
        if url and name.strip():
            stems.append(ResultFile(_STEM_NAMES.get(name.strip().lower(), name.strip()), url))
    return tuple(stems)


def _lyrics_items(result: Any) -> list[Any] | None:
    """Lyrics variants from a list, one object, or an object holding the list."""
    if isinstance(result, Mapping):
        for key in ("data", "lyrics", "lyricsData"):
            if isinstance(result.get(key), list):
                return result[key]
        return [result] if first_str(result, "text") else None
    return list(result) if isinstance(result, list) else None


def _objects(result: Any) -> Sequence[Mapping[str, Any]]:
    if isinstance(result, Mapping):
        return [result]
    if isinstance(result, list):
        return [item for item in result if isinstance(item, Mapping)]
    return []
