"""The kie.ai adapter (contract §1–5). sunoapi.org (§7) and the built-in sandbox speak the same protocol."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.models import (
    STEM_MODES,
    AddInstrumentalRequest,
    AddVocalsRequest,
    AlignedWord,
    ArtRequest,
    CoverRequest,
    ExportRequest,
    ExtendRequest,
    LyricsRequest,
    MashupRequest,
    MidiRequest,
    MusicRequest,
    Persona,
    ReplaceRequest,
    Request,
    SoundRequest,
    StemsRequest,
    TaskKind,
    TaskUpdate,
)
from bot.providers.base import (
    ALL_KINDS,
    LABELS,
    Capabilities,
    PersonaSource,
    TextLimits,
    with_voice,
)
from bot.providers.errors import KIE_ERRORS, ProviderUnavailable, Unconfirmed
from bot.providers.http import ApiClient, RetryPolicy
from bot.providers.kie_parsing import (
    MalformedCallback,
    aligned_words,
    as_int,
    first_str,
    parse_callback,
    parse_status,
)

__all__ = ["KIE", "KieClient", "MalformedCallback", "RetryPolicy", "request_body"]

# kie.ai's model names are the bot's own (contract §1.1), newest first.
KIE_MODELS = {model: model for model in ("V5", "V4_5PLUS", "V4_5ALL", "V4_5", "V4")}

# Contract §1.1. Titles are capped at 80 everywhere (the safest reading).
KIE_LIMITS = TextLimits(
    idea=500,
    title=80,
    lyrics_prompt=200,
    lyrics={"V4": 3000, "V4_5": 5000, "V4_5PLUS": 5000, "V4_5ALL": 5000, "V5": 5000},
    style={"V4": 200, "V4_5": 1000, "V4_5PLUS": 1000, "V4_5ALL": 1000, "V5": 1000},
)
KIE = Capabilities(
    name="kie", label=LABELS["kie"], kinds=ALL_KINDS, models=KIE_MODELS, limits=KIE_LIMITS, callbacks=True,
    signs_callbacks=True, tools=frozenset({"persona", "karaoke", "boost"}),
)
# Answered at once (contract §2 rows 15, 16, 19; §2.4, §2.5).
PERSONA_PATH = "/api/v1/generate/generate-persona"
TIMESTAMPS_PATH = "/api/v1/generate/get-timestamped-lyrics"
BOOST_PATH = "/api/v1/style/generate"

# Where each kind of task is submitted and read back (contract §2).
SUBMIT_PATHS = {
    TaskKind.GENERATE: "/api/v1/generate",
    TaskKind.COMPOSE: "/api/v1/generate",
    TaskKind.EXTEND: "/api/v1/generate/extend",
    TaskKind.UPLOAD_EXTEND: "/api/v1/generate/upload-extend",
    TaskKind.COVER: "/api/v1/generate/upload-cover",
    TaskKind.LYRICS: "/api/v1/lyrics",
    TaskKind.STEMS: "/api/v1/vocal-removal/generate",
    TaskKind.WAV: "/api/v1/wav/generate",
    TaskKind.VIDEO: "/api/v1/mp4/generate",
    TaskKind.ADD_VOCALS: "/api/v1/generate/add-vocals",
    TaskKind.ADD_INSTRUMENTAL: "/api/v1/generate/add-instrumental",
    TaskKind.MASHUP: "/api/v1/generate/mashup",
    TaskKind.REPLACE: "/api/v1/generate/replace-section",
    TaskKind.ART: "/api/v1/suno/cover/generate",
    TaskKind.MIDI: "/api/v1/midi/generate",
    TaskKind.SOUND: "/api/v1/generate/sounds",
}
STATUS_PATHS = {
    **{kind: "/api/v1/generate/record-info" for kind in TaskKind if kind.makes_music},
    TaskKind.LYRICS: "/api/v1/lyrics/record-info",
    TaskKind.STEMS: "/api/v1/vocal-removal/record-info",
    TaskKind.WAV: "/api/v1/wav/record-info",
    TaskKind.VIDEO: "/api/v1/mp4/record-info",
    TaskKind.ART: "/api/v1/suno/cover/record-info",
    TaskKind.MIDI: "/api/v1/midi/record-info",
}


class KieClient(ApiClient):
    """kie.ai: one path per operation, callbacks to ``callBackUrl`` at each stage, record-info to poll."""

    capabilities = KIE
    errors = KIE_ERRORS
    credit_path = "/api/v1/chat/credit"  # contract §2 row 17

    async def submit(self, request: Request, callback_url: str) -> str:
        """Submit any task; returns the provider's task id. Never re-submits after an ambiguous failure."""
        self.validate(request)
        body = request_body(request, callback_url, self.capabilities.models)
        data = await self._submit(SUBMIT_PATHS[request.kind], body)
        task_id = first_str(data, "taskId") if isinstance(data, Mapping) else None
        if not task_id:
            raise Unconfirmed(None, "submit answered without a taskId")
        return task_id

    async def status(self, kind: TaskKind, task_id: str) -> TaskUpdate:
        """Read a task's record-info (contract §4)."""
        data = await self._call("GET", STATUS_PATHS[kind], params={"taskId": task_id})
        if not isinstance(data, Mapping):
            raise ProviderUnavailable(None, "record-info answered without data")
        return self.explain(parse_status(kind, task_id, data))

    def parse_callback(self, kind: TaskKind, body: Any) -> TaskUpdate:
        return self.explain(parse_callback(kind, body))

    async def create_persona(self, source: PersonaSource) -> str:
        """A voice persona from a finished track's vocal window (answered at once); returns its id."""
        body = {"taskId": source.task_id, "audioId": source.audio_id, "name": source.name.strip(),
                "description": source.description.strip(), "vocalStart": source.vocal_start,
                "vocalEnd": source.vocal_end}
        data = await self._call("POST", PERSONA_PATH, json=body)
        persona_id = first_str(data, "personaId") if isinstance(data, Mapping) else None
        if not persona_id:
            raise ProviderUnavailable(None, "the persona answer has no personaId")
        return persona_id

    async def timestamped_lyrics(self, task_id: str, audio_id: str) -> list[AlignedWord]:
        """The sung words of a track with their times (none for an instrumental)."""
        data = await self._call("POST", TIMESTAMPS_PATH, json={"taskId": task_id, "audioId": audio_id})
        return aligned_words(data.get("alignedWords") if isinstance(data, Mapping) else None, "startS", "endS")

    async def boost_style(self, text: str) -> str:
        """A richer style description from a short one."""
        data = await self._call("POST", BOOST_PATH, json={"content": text.strip()})
        result = first_str(data, "result") if isinstance(data, Mapping) else None
        if not result or str(data.get("successFlag", "1")) != "1":
            raise ProviderUnavailable(None, "the style boost answered without a result")
        return result

    async def credits(self) -> int:
        """The provider account's remaining credits."""
        data = await self._call("GET", self.credit_path)
        value = as_int(data)
        if value is None:
            raise ProviderUnavailable(None, "credit endpoint answered without a number")
        return value


# ----- request bodies (contract §2) -------------------------------------------------------------------------


def request_body(request: Request, callback_url: str, models: Mapping[str, str] = KIE_MODELS) -> dict[str, Any]:
    """The JSON body that submits ``request``; ``models`` maps the bot's model names to the provider's."""
    if isinstance(request, MusicRequest):
        return _music_body(request, callback_url, models[request.model])
    if isinstance(request, ExtendRequest):
        return _extend_body(request, callback_url, models[request.model])
    if isinstance(request, CoverRequest):
        return _cover_body(request, callback_url, models[request.model])
    if isinstance(request, LyricsRequest):
        return {"prompt": request.prompt.strip(), "callBackUrl": callback_url}
    if isinstance(request, StemsRequest):
        return {"taskId": request.source_task_id, "audioId": request.audio_id, "type": STEM_MODES[request.mode],
                "callBackUrl": callback_url}
    if isinstance(request, ExportRequest):
        body = {"taskId": request.source_task_id, "audioId": request.audio_id, "callBackUrl": callback_url}
        if request.format == "video" and request.author.strip():
            body["author"] = request.author.strip()
        return body
    return _studio_body(request, callback_url, models)


def _studio_body(request: Request, callback_url: str, models: Mapping[str, str]) -> dict[str, Any]:
    """Add vocals, add an instrumental, mashup, replace a section (contract §2 rows 5, 6, 22, 24; §2.5), cover
    art, MIDI, and sounds (kie.ai's and sunoapi.org's "Generate Sounds" pages: prompt ≤ 500, model V5, soundLoop,
    soundTempo 1–300, soundKey)."""
    if isinstance(request, AddVocalsRequest):
        return {"uploadUrl": request.upload_url, "prompt": request.prompt.strip(), "title": request.title.strip(),
                "style": request.style.strip(), "negativeTags": request.negative_tags.strip(),
                "model": models[request.model], "callBackUrl": callback_url}
    if isinstance(request, AddInstrumentalRequest):
        return {"uploadUrl": request.upload_url, "title": request.title.strip(), "tags": request.style.strip(),
                "negativeTags": request.negative_tags.strip(), "model": models[request.model],
                "callBackUrl": callback_url}
    if isinstance(request, MashupRequest):
        return {"uploadUrlList": list(request.upload_urls), "customMode": False, "prompt": request.prompt.strip(),
                "model": models[request.model], "callBackUrl": callback_url}
    if isinstance(request, SoundRequest):
        body = {"prompt": request.prompt.strip(), "model": models.get(request.model, request.model),
                "soundLoop": request.loop, "soundKey": request.key, "grabLyrics": False, "callBackUrl": callback_url}
        if request.bpm is not None:  # left out: Suno picks the tempo ("Auto")
            body["soundTempo"] = request.bpm
        return body
    if isinstance(request, (ArtRequest, MidiRequest)):
        return {"taskId": request.source_task_id, "callBackUrl": callback_url}
    if isinstance(request, ReplaceRequest):
        body = {"taskId": request.source_task_id, "audioId": request.audio_id, "prompt": request.prompt.strip(),
                "tags": request.style.strip(), "title": request.title.strip(),
                "infillStartS": round(request.start, 2), "infillEndS": round(request.end, 2),
                "callBackUrl": callback_url}
        if request.negative_tags.strip():
            body["negativeTags"] = request.negative_tags.strip()
        return body
    raise TypeError(f"no body for {type(request).__name__}")


def _music_body(request: MusicRequest, callback_url: str, model: str) -> dict[str, Any]:
    """POST /api/v1/generate (contract §2.1 mode rules)."""
    body = _with_mode({"model": model, "callBackUrl": callback_url}, request.custom_mode, request.prompt,
                      request.style, request.title, request.instrumental, request.negative_tags)
    if request.vocal_gender:
        body["vocalGender"] = request.vocal_gender
        if not request.custom_mode and not request.instrumental:  # vocalGender is only heeded in custom mode
            body["prompt"] = with_voice(body["prompt"], request.vocal_gender)
    return {**body, **request.tuning(), **_persona(request.persona)}


def _persona(persona: Persona | None) -> dict[str, str]:
    """``personaId`` (the default ``personaModel``, style_persona, applies: contract §1.1)."""
    return {"personaId": persona.id} if persona is not None else {}



def _extend_body(request: ExtendRequest, callback_url: str, model: str) -> dict[str, Any]:
    """POST /api/v1/generate/extend or /upload-extend (contract §2.2)."""
    body: dict[str, Any] = {"defaultParamFlag": request.default_params, "model": model,
                            "callBackUrl": callback_url}
    if request.upload_url:
        body.update(uploadUrl=request.upload_url, instrumental=request.instrumental,
                    continueAt=request.continue_at)
        if request.prompt.strip():
            body["prompt"] = request.prompt.strip()
    else:
        body["audioId"] = request.audio_id
    if request.default_params:
        body.update(prompt=request.prompt.strip(), style=request.style.strip(), title=request.title.strip(),
                    continueAt=request.continue_at)
        if request.negative_tags.strip():
            body["negativeTags"] = request.negative_tags.strip()
    return {**body, **_persona(request.persona)}


def _cover_body(request: CoverRequest, callback_url: str, model: str) -> dict[str, Any]:
    """POST /api/v1/generate/upload-cover (contract §2 row 3, §2.1 mode rules)."""
    body = _with_mode({"uploadUrl": request.upload_url, "model": model, "callBackUrl": callback_url},
                      request.custom_mode, request.prompt, request.style, request.title, request.instrumental,
                      request.negative_tags)
    return {**body, **_persona(request.persona)}


def _with_mode(
    body: dict[str, Any], custom: bool, prompt: str, style: str, title: str, instrumental: bool, negative_tags: str
) -> dict[str, Any]:
    """Simple mode sends only the description; custom mode style, title and (unless instrumental) lyrics."""
    body.update(customMode=custom, instrumental=instrumental)
    if not custom:
        body["prompt"] = prompt.strip()
    else:
        body.update(_custom_fields(style, title, prompt, instrumental, negative_tags))
    return body


def _custom_fields(style: str, title: str, lyrics: str, instrumental: bool, negative_tags: str) -> dict[str, Any]:
    fields: dict[str, Any] = {"style": style.strip(), "title": title.strip()}
    if not instrumental:
        fields["prompt"] = lyrics.strip()
    if negative_tags.strip():
        fields["negativeTags"] = negative_tags.strip()
    return fields
