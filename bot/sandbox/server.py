"""The sandbox provider: a simulated Suno service that speaks the kie.ai protocol over HTTP.

It runs inside the bot's process (mounted on the bot's web server under /sandbox) so a new admin can try
every command without a key or credits. The bot's real kie client talks to it over HTTP exactly as to
api.kie.ai: submit → task id → callbacks to the callBackUrl → record-info. It serves every operation the bot
uses — generate, extend, upload-extend, upload-cover, lyrics, stem separation, WAV and MP4 — with real
media: songs and stems are synthesized WAVs, covers PNGs, videos MP4s. Its tasks live in their own small
SQLite file, so they survive a restart like a real provider's would.

It also offers kie's studio operations (contract §2 rows 5, 6, 15, 16, 19–24, §2.4, §2.5): add-instrumental,
add-vocals, mashup and replace-section (real mixes of the uploads or the song, see studio.py), sounds (short
synthesized effects), timestamped lyrics that follow the sung notes, a boosted style, personas (a voice the
songs that name it are sung with), new cover images, and MIDI of a separation made from the very notes the
stems play. vocalGender, weirdnessConstraint, styleWeight and personaId steer the synthesis in custom mode.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import secrets
import time
import uuid
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import aiosqlite
from aiohttp import web

from bot.fetch import Fetcher
from bot.providers.kie import KIE_MODELS
from bot.providers.ratelimit import SlidingWindow
from bot.redaction import describe
from bot.sandbox import media, sfx, studio, texts, video

log = logging.getLogger(__name__)

STAGES = ("text", "first", "complete")
MUSIC_KINDS = ("generate", "extend", "upload_extend", "upload_cover", "add_instrumental", "add_vocals", "mashup",
               "replace_section", "sounds")
OPERATION_TYPES = {kind: kind for kind in MUSIC_KINDS}
COMPLETE_ONLY = ("replace_section",)  # music kinds that call back once, when complete (contract §3.1)
UPLOAD_KINDS = ("upload_extend", "upload_cover", "add_instrumental", "add_vocals")  # tracks name their source
STUDIO_MODELS = ("V4_5PLUS", "V5")  # add-instrumental, add-vocals (contract §1)
SOUND_MODELS = ("V5",)
TUNING = ("styleWeight", "weirdnessConstraint", "audioWeight")  # 0-1 (contract §1)
PERSONA_MODELS = ("style_persona", "voice_persona")
PERSONA_WINDOW = (10.0, 30.0)  # seconds of vocals a persona is made from (contract §2.5)
INFILL_SECONDS = (6.0, 60.0)  # a replaced section's length (contract §2.5)
STYLE_LIMIT = 1000
SOUND_PROMPT_LIMIT = 500
MIN_UPLOAD_SECONDS = 1.0
# What the MIDI of each stem is called (General MIDI names, as kie's are: "Drums", "Electric Bass (finger)").
MIDI_NAMES = {"vocals": "Voice Oohs", "backing_vocals": "Choir Aahs", "synth": "Celesta", "fx": "Celesta",
              "strings": "String Ensemble 1", "bass": "Electric Bass (finger)", "drums": "Drums",
              "percussion": "Percussion"}
ARTISTS = ("taylor swift", "beyonce", "beyonc\u00e9", "drake", "the beatles", "eminem", "adele", "bts", "metallica")
FAIL_MARKER = "[sandbox:fail]"
MODEL_NAMES = {"V5": "chirp-crow", "V4_5PLUS": "chirp-bluejay", "V4_5ALL": "chirp-auk", "V4_5": "chirp-auk",
               "V4": "chirp-v4"}
CREDITS = 10_000
MAX_UPLOAD = 50 * 1024 * 1024
MAX_TRACK_SECONDS = 90.0
VIDEO_SIZE = 512
_CACHE_ITEMS = 8

SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS sandbox_tasks (
        task_id TEXT PRIMARY KEY,
        body TEXT NOT NULL,
        created_at REAL NOT NULL,
        stages_sent INTEGER NOT NULL DEFAULT 0
    );
    """,
    """
    ALTER TABLE sandbox_tasks ADD COLUMN kind TEXT NOT NULL DEFAULT 'generate';
    CREATE TABLE sandbox_tracks (
        audio_id TEXT PRIMARY KEY,
        task_id TEXT NOT NULL,
        n INTEGER NOT NULL,
        seconds REAL NOT NULL,
        instrumental INTEGER NOT NULL,
        model TEXT NOT NULL
    );
    CREATE TABLE sandbox_exports (kind TEXT NOT NULL, audio_id TEXT NOT NULL, PRIMARY KEY (kind, audio_id));
    """,
    """
    CREATE TABLE sandbox_uploads (
        task_id TEXT NOT NULL,
        n INTEGER NOT NULL,
        pcm BLOB,
        PRIMARY KEY (task_id, n)
    );
    CREATE TABLE sandbox_personas (
        persona_id TEXT PRIMARY KEY,
        audio_id TEXT NOT NULL UNIQUE,
        register TEXT,
        key INTEGER NOT NULL,
        minor INTEGER NOT NULL,
        bpm INTEGER NOT NULL
    );
    CREATE TABLE sandbox_covers (parent_task_id TEXT PRIMARY KEY, task_id TEXT NOT NULL);
    """,
)

# Stem names of the media module → the separation result fields (contract §3.2, §4.3).
STEM_FIELDS = {"vocals": "vocal_url", "instrumental": "instrumental_url"}


class SandboxError(Exception):
    """A refusal in the provider's envelope: ``{"code": code, "msg": msg, "data": data}``."""

    def __init__(self, code: int, msg: str, data: Any = None) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.data = data


@dataclass(frozen=True)
class SandboxTask:
    task_id: str
    kind: str
    body: dict[str, Any]
    created_at: float
    stages_sent: int

    @property
    def fails(self) -> bool:
        return FAIL_MARKER in json.dumps(self.body).lower()

    @property
    def music(self) -> bool:
        return self.kind in MUSIC_KINDS

    @property
    def staged(self) -> bool:
        """Whether it reports each stage (text, first, complete) rather than only completion."""
        return self.music and self.kind not in COMPLETE_ONLY


@dataclass(frozen=True)
class SandboxTrack:
    audio_id: str
    task_id: str
    n: int
    seconds: float
    instrumental: bool
    model: str

    @property
    def seed(self) -> str:
        return f"{self.task_id}:{self.n}"


class SandboxProvider:
    """The simulated provider. ``app`` is the aiohttp application to mount; call :meth:`start` once the
    server is listening and :meth:`close` on shutdown."""

    def __init__(
        self,
        db: aiosqlite.Connection,
        *,
        api_key: str,
        stage_seconds: float,
        fetcher: Fetcher,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = db
        self._fetcher = fetcher  # uploads are fetched from public addresses only, as the real provider does
        self.api_key = api_key
        self.stage_seconds = stage_seconds
        self._clock = clock
        self._limiter = SlidingWindow(20, 10.0)
        self._session: aiohttp.ClientSession | None = None
        self._runs: set[asyncio.Task[None]] = set()
        self._cache: dict[str, tuple[bytes, str]] = {}
        self._stem_cache: dict[str, dict[str, bytes]] = {}  # separation task id → its stems
        self._midi_cache: dict[str, list[dict[str, Any]]] = {}  # MIDI task id → its instruments
        self.base_url = ""
        submit: dict[str, Callable[[dict[str, Any]], Any]] = {
            "generate": self._generate, "generate/extend": self._extend,
            "generate/upload-extend": self._upload_extend, "generate/upload-cover": self._upload_cover,
            "lyrics": self._lyrics, "vocal-removal/generate": self._separate, "wav/generate": self._wav,
            "mp4/generate": self._mp4,
            "generate/add-instrumental": partial(self._add_part, "add_instrumental", ("uploadUrl", "title", "tags")),
            "generate/add-vocals": partial(self._add_part, "add_vocals", ("uploadUrl", "prompt", "title", "style")),
            "generate/mashup": self._mashup,
            "generate/sounds": self._sounds, "suno/cover/generate": self._cover, "midi/generate": self._midi,
        }
        answer = {  # synchronous: the answer is the result
            "generate/get-timestamped-lyrics": self._timestamped_lyrics, "style/generate": self._boost_style,
            "generate/generate-persona": self._persona,
        }
        self.app = web.Application()
        self.app.add_routes([web.post(f"/api/v1/{path}", self._submit_route(handler)) for path, handler in submit.items()])
        self.app.add_routes([web.post("/api/v1/generate/replace-section",
                                      self._submit_route(self._replace_section, callback_required=False))])
        self.app.add_routes([web.post(f"/api/v1/{path}", self._answer_route(handler)) for path, handler in answer.items()])
        self.app.add_routes(
            [
                web.get(f"/api/v1/{path}/record-info", self._status_route(kinds))
                for path, kinds in (("generate", MUSIC_KINDS), ("lyrics", ("lyrics",)),
                                    ("vocal-removal", ("stems",)), ("wav", ("wav",)), ("mp4", ("video",)),
                                    ("suno/cover", ("cover",)), ("midi", ("midi",)))
            ]
        )
        self.app.add_routes(
            [
                web.get("/api/v1/chat/credit", self._credit),
                web.get("/files/{task_id}/{name}", self._file),
            ]
        )

    @classmethod
    async def open(cls, path: Path | str, *, api_key: str, stage_seconds: float, fetcher: Fetcher) -> SandboxProvider:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(path)
        db.row_factory = aiosqlite.Row
        await db.execute("PRAGMA journal_mode=WAL")
        async with db.execute("PRAGMA user_version") as cursor:
            (version,) = await cursor.fetchone()
        for number, script in enumerate(SCHEMA[version:], start=version + 1):
            await db.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
        return cls(db, api_key=api_key, stage_seconds=stage_seconds, fetcher=fetcher)

    async def start(self, base_url: str) -> None:
        """Start sending callbacks, including those of tasks left unfinished by a previous run.
        ``base_url`` is where this app is reachable (its file URLs are built from it)."""
        self.base_url = base_url.rstrip("/")
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        async with self._db.execute("SELECT * FROM sandbox_tasks WHERE stages_sent < ?", (len(STAGES),)) as cursor:
            rows = await cursor.fetchall()
        for row in rows:
            self._schedule(_task(row))

    async def close(self) -> None:
        for run in self._runs:
            run.cancel()
        await asyncio.gather(*self._runs, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        await self._db.close()

    # ----- submitting -------------------------------------------------------------------------------------

    def _submit_route(
        self, handler: Callable[[dict[str, Any]], Any], *, callback_required: bool = True
    ) -> Callable[[web.Request], Any]:
        async def route(request: web.Request) -> web.Response:
            body = await self._body(request)
            if isinstance(body, web.Response):
                return body
            url = body.get("callBackUrl")
            if (callback_required or url is not None) and (not isinstance(url, str) or not url):
                return _envelope(422, "callBackUrl is required")
            if self._limiter.delay() > 0:
                return _envelope(429, "Request limit exceeded: at most 20 requests per 10 seconds")
            try:
                task = await handler(body)
            except SandboxError as error:
                return _envelope(error.code, error.msg, error.data)
            await self._limiter.acquire()
            self._schedule(task)
            return _envelope(200, "success", {"taskId": task.task_id})

        return route

    async def _body(self, request: web.Request) -> dict[str, Any] | web.Response:
        """An authorized request's JSON object, or the answer refusing it."""
        if not self._authorized(request):
            return _envelope(401, "You do not have access permissions")
        try:
            body = await request.json()
        except ValueError:
            return _envelope(400, "Request body must be JSON")
        if not isinstance(body, dict):
            return _envelope(400, "Request body must be a JSON object")
        return body

    def _answer_route(self, handler: Callable[[dict[str, Any]], Any]) -> Callable[[web.Request], Any]:
        """A synchronous endpoint: the result is the answer's data (no task, no callback)."""

        async def route(request: web.Request) -> web.Response:
            body = await self._body(request)
            if isinstance(body, web.Response):
                return body
            try:
                return _envelope(200, "success", await handler(body))
            except SandboxError as error:
                return _envelope(error.code, error.msg, error.data)

        return route

    async def _generate(self, body: dict[str, Any]) -> SandboxTask:
        _check_music(body, custom_key="customMode")
        await self._check_tuning(body)
        return await self._new_music_task("generate", body, seconds=None)

    async def _extend(self, body: dict[str, Any]) -> SandboxTask:
        _require(body, "defaultParamFlag", "audioId", "model")
        await self._check_tuning(body)
        source = await self._track(str(body["audioId"]))
        if source is None:
            raise SandboxError(404, "audioId not found")
        if body["model"] != source.model:
            raise SandboxError(422, "Model version must match the source audio's model version")
        start = source.seconds
        if body["defaultParamFlag"]:
            _require(body, "prompt", "style", "title", "continueAt")
            start = _continue_at(body, source.seconds)
        return await self._new_music_task("extend", body, seconds=start + 12)

    async def _upload_extend(self, body: dict[str, Any]) -> SandboxTask:
        _require(body, "uploadUrl", "defaultParamFlag", "instrumental", "continueAt", "model")
        await self._check_tuning(body)
        await self._fetch(str(body["uploadUrl"]))
        if body["defaultParamFlag"]:
            _require(body, "prompt", "style", "title")
        elif not body.get("instrumental") and not body.get("prompt"):
            raise SandboxError(422, "prompt is required")
        return await self._new_music_task("upload_extend", body, seconds=_continue_at(body, None) + 12)

    async def _upload_cover(self, body: dict[str, Any]) -> SandboxTask:
        _require(body, "uploadUrl")
        _check_music(body, custom_key="customMode")
        await self._check_tuning(body)
        await self._fetch(str(body["uploadUrl"]))
        return await self._new_music_task("upload_cover", body, seconds=None)

    async def _lyrics(self, body: dict[str, Any]) -> SandboxTask:
        prompt = str(body.get("prompt") or "")
        if not prompt:
            raise SandboxError(400, "prompt is required")
        if len(prompt) > 200:
            raise SandboxError(413, "Theme or prompt too long")
        _refuse_artists(prompt)
        return await self._new_task("lyrics", body)

    async def _separate(self, body: dict[str, Any]) -> SandboxTask:
        _require(body, "taskId", "audioId")
        if body.get("type", "separate_vocal") not in ("separate_vocal", "split_stem"):
            raise SandboxError(422, "type must be separate_vocal or split_stem")
        await self._finished_source(body)
        return await self._new_task("stems", body)

    async def _wav(self, body: dict[str, Any]) -> SandboxTask:
        return await self._export("wav", body)

    async def _mp4(self, body: dict[str, Any]) -> SandboxTask:
        for key in ("author", "domainName"):
            if len(str(body.get(key) or "")) > 50:
                raise SandboxError(422, f"{key} must be at most 50 characters")
        return await self._export("video", body)

    async def _export(self, kind: str, body: dict[str, Any]) -> SandboxTask:
        _require(body, "taskId", "audioId")
        await self._finished_source(body)
        try:
            await self._db.execute("INSERT INTO sandbox_exports (kind, audio_id) VALUES (?, ?)",
                                   (kind, body["audioId"]))
        except aiosqlite.IntegrityError:
            raise SandboxError(409, f"{'WAV' if kind == 'wav' else 'MP4'} record already exists") from None
        return await self._new_task(kind, body)

    # ----- studio operations (contract §2 rows 5, 6, 15, 16, 19-24) ---------------------------------------

    async def _add_part(self, kind: str, required: tuple[str, ...], body: dict[str, Any]) -> SandboxTask:
        """add-instrumental (a backing track for an uploaded vocal: the upload over a synthesized band) or
        add-vocals (a sung line over an uploaded instrumental), each with its ``required`` fields."""
        _require(body, *required)
        body = _studio_model(body)
        _require_text(body, "negativeTags")
        await self._check_tuning(body)
        pcm = await self._upload_pcm(str(body["uploadUrl"]))
        return await self._new_music_task(kind, body, seconds=_pcm_seconds(pcm), instrumental=False, uploads=(pcm,))

    async def _mashup(self, body: dict[str, Any]) -> SandboxTask:
        """Two uploads blended into a new song."""
        urls = body.get("uploadUrlList")
        if not isinstance(urls, list) or len(urls) != 2 or not all(isinstance(url, str) and url for url in urls):
            raise SandboxError(422, "uploadUrlList must hold exactly 2 audio file URLs")
        _require(body, "customMode", "model")
        if body["customMode"]:
            _require(body, "style", "title")
            if not body.get("instrumental"):
                _require(body, "prompt")
        else:
            _require(body, "prompt")
        await self._check_tuning(body)
        pcms = [await self._upload_pcm(str(url)) for url in urls]
        decoded = [pcm for pcm in pcms if pcm is not None]
        return await self._new_music_task("mashup", body, seconds=_pcm_seconds(max(decoded, key=len) if decoded else None),
                                          uploads=tuple(pcms))

    async def _replace_section(self, body: dict[str, Any]) -> SandboxTask:
        """The song with infillStartS-infillEndS sung anew (callBackUrl optional, complete-only callback)."""
        _require(body, "taskId", "audioId", "prompt", "tags", "title", "infillStartS", "infillEndS")
        source = await self._finished_source(body)
        start, end = _infill(body)
        if start < 0 or end <= start:
            raise SandboxError(422, "infillStartS must be at least 0 and less than infillEndS")
        if end > source.seconds:
            raise SandboxError(422, "infillEndS must be within the audio's duration")
        if not INFILL_SECONDS[0] <= end - start <= INFILL_SECONDS[1]:
            raise SandboxError(422, "The section to replace must be 6 to 60 seconds long")
        if end - start > source.seconds / 2:
            raise SandboxError(422, "The section to replace must be at most 50% of the audio's duration")
        _refuse_artists(" ".join(str(body.get(key, "")) for key in ("prompt", "tags", "title", "fullLyrics")))
        return await self._new_music_task("replace_section", {**body, "model": source.model}, seconds=source.seconds,
                                          instrumental=source.instrumental)

    async def _sounds(self, body: dict[str, Any]) -> SandboxTask:
        """A short sound effect (two takes), optionally a seamless loop at soundTempo in soundKey."""
        _require(body, "prompt", "model")
        if len(str(body["prompt"])) > SOUND_PROMPT_LIMIT:
            raise SandboxError(413, "Theme or prompt too long")
        if body["model"] not in SOUND_MODELS:
            raise SandboxError(422, "model must be V5 for sounds")
        for key in ("soundLoop", "grabLyrics"):
            if body.get(key) is not None and not isinstance(body[key], bool):
                raise SandboxError(422, f"{key} must be true or false")
        tempo = body.get("soundTempo")
        if tempo is not None and (isinstance(tempo, bool) or not isinstance(tempo, int) or not 1 <= tempo <= 300):
            raise SandboxError(422, "soundTempo must be an integer from 1 to 300")
        if body.get("soundKey") is not None and body["soundKey"] not in sfx.SOUND_KEYS:
            raise SandboxError(422, f"soundKey must be one of {', '.join(sfx.SOUND_KEYS)}")
        loop = bool(body.get("soundLoop"))
        return await self._new_music_task("sounds", body, seconds=None, instrumental=True,
                                          length=lambda seed: sfx.sound_seconds(seed, loop=loop, bpm=tempo))

    async def _cover(self, body: dict[str, Any]) -> SandboxTask:
        """Two new cover images for a finished music task; one set per task (400 + the existing taskId)."""
        _require(body, "taskId")
        parent = await self._get(str(body["taskId"]))
        if parent is None or not parent.music:
            raise SandboxError(404, "taskId not found")
        if self._stage(parent) < len(STAGES) or parent.fails:
            raise SandboxError(422, "The music task is not finished")
        task_id = secrets.token_hex(16)
        try:
            await self._db.execute("INSERT INTO sandbox_covers (parent_task_id, task_id) VALUES (?, ?)",
                                   (parent.task_id, task_id))
        except aiosqlite.IntegrityError:
            async with self._db.execute("SELECT task_id FROM sandbox_covers WHERE parent_task_id = ?",
                                        (parent.task_id,)) as cursor:
                row = await cursor.fetchone()
            raise SandboxError(400, "Cover already generated for this task",
                               {"taskId": row["task_id"] if row else None}) from None
        return await self._new_task("cover", body, task_id=task_id)

    async def _midi(self, body: dict[str, Any]) -> SandboxTask:
        """MIDI of a finished separation (all its stems, or the one ``audioId`` of its originData names)."""
        _require(body, "taskId")
        separation = await self._get(str(body["taskId"]))
        if separation is None or separation.kind != "stems":
            raise SandboxError(404, "taskId not found: it must be a vocal separation task")
        if self._stage(separation) < len(STAGES) or separation.fails:
            raise SandboxError(422, "The separation is not finished")
        if body.get("audioId") and body["audioId"] not in await self._origin_ids(separation):
            raise SandboxError(404, "audioId not found among the separation's tracks")
        return await self._new_task("midi", body)

    async def _timestamped_lyrics(self, body: dict[str, Any]) -> dict[str, Any]:
        """The lyrics word by word where the song sings them, and the track's waveform (synchronous)."""
        _require(body, "taskId", "audioId")
        track = await self._finished_source(body)
        recipe = await self._recipe(track)
        words = await asyncio.to_thread(studio.aligned_words, recipe)
        audio, _ = await self._cached(await self._task_of(track), f"{track.n}.wav")
        return {
            "alignedWords": [{"word": w.word, "success": True, "startS": round(w.start, 3), "endS": round(w.end, 3),
                              "palign": 0} for w in words],
            "waveformData": await asyncio.to_thread(studio.waveform, audio),
            "hootCer": 0.0,
            "isStreamed": False,
        }

    async def _boost_style(self, body: dict[str, Any]) -> dict[str, Any]:
        """A richer style text for ``content`` (synchronous, deterministic)."""
        _require(body, "content")
        content = str(body["content"])
        if len(content) > STYLE_LIMIT:
            raise SandboxError(413, f"content must be at most {STYLE_LIMIT} characters")
        _refuse_artists(content)
        return {"taskId": secrets.token_hex(16), "param": json.dumps(body), "result": studio.boost_style(content),
                "creditsConsumed": 0, "creditsRemaining": CREDITS, "successFlag": "1", "errorCode": None,
                "errorMessage": None, "createTime": round(self._clock() * 1000)}

    async def _persona(self, body: dict[str, Any]) -> dict[str, Any]:
        """A persona from a finished track's voice (synchronous; one per audioId)."""
        _require(body, "taskId", "audioId", "name", "description")
        track = await self._finished_source(body)
        start = _number_field(body, "vocalStart", 0.0)
        end = _number_field(body, "vocalEnd", min(PERSONA_WINDOW[1], track.seconds))
        if start < 0 or end > track.seconds or not PERSONA_WINDOW[0] <= end - start <= PERSONA_WINDOW[1]:
            raise SandboxError(422, "vocalStart and vocalEnd must mark 10 to 30 seconds within the audio")
        source = await self._task_of(track)
        options = await self._options(source) or media.SongOptions()
        key, minor, bpm = studio.traits(await self._recipe(track))
        persona_id = secrets.token_hex(16)
        try:
            await self._db.execute(
                "INSERT INTO sandbox_personas (persona_id, audio_id, register, key, minor, bpm) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (persona_id, track.audio_id, options.register, key, minor, bpm),
            )
        except aiosqlite.IntegrityError:
            raise SandboxError(409, "Persona already exists") from None
        await self._db.commit()
        return {"personaId": persona_id, "name": str(body["name"]), "description": str(body["description"])}

    async def _check_tuning(self, body: dict[str, Any]) -> None:
        """The optional controls every creation endpoint takes (contract §1): ranges, enums, the persona."""
        for key in TUNING:
            value = body.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not 0 <= value <= 1):
                raise SandboxError(422, f"{key} must be a number from 0 to 1")
        if body.get("vocalGender") not in (None, "", "m", "f"):
            raise SandboxError(422, "vocalGender must be m or f")
        if body.get("personaModel") not in (None, "", *PERSONA_MODELS):
            raise SandboxError(422, "personaModel must be style_persona or voice_persona")
        if body.get("personaModel") == "voice_persona" and body.get("model") != "V5":
            raise SandboxError(422, "personaModel voice_persona needs model V5")
        if body.get("personaId") and await self._persona_row(str(body["personaId"])) is None:
            raise SandboxError(404, "personaId not found")

    async def _persona_row(self, persona_id: str) -> aiosqlite.Row | None:
        async with self._db.execute("SELECT * FROM sandbox_personas WHERE persona_id = ?", (persona_id,)) as cursor:
            return await cursor.fetchone()

    async def _upload_pcm(self, url: str) -> array | None:
        """Fetch an upload as kie does (451 if it cannot) and decode it; None if it is not a WAV the sandbox
        reads (its part is then synthesized)."""
        data = await self._download(url)
        return await asyncio.to_thread(studio.decode_wav, data)

    async def _finished_source(self, body: dict[str, Any]) -> SandboxTrack:
        source = await self._track(str(body["audioId"]))
        task = await self._get(str(body["taskId"]))
        if source is None or task is None or source.task_id != task.task_id:
            raise SandboxError(404, "taskId / audioId not found")
        if self._stage(task) < len(STAGES) or task.fails:
            raise SandboxError(422, "The music task is not finished")
        return source

    async def _new_music_task(
        self,
        kind: str,
        body: dict[str, Any],
        *,
        seconds: float | None,
        instrumental: bool | None = None,
        uploads: tuple[array | None, ...] = (),
        length: Callable[[str], float] | None = None,
    ) -> SandboxTask:
        """A music task and its two tracks: ``seconds`` long (16-28 s if None, or ``length(seed)``), instrumental
        as the body says unless ``instrumental`` is given; ``uploads`` (decoded PCM or None) are kept with it."""
        model = str(body.get("model", ""))
        if model not in KIE_MODELS:
            raise SandboxError(422, f"model must be one of {', '.join(KIE_MODELS)}")
        _refuse_artists(" ".join(str(body.get(key, "")) for key in ("prompt", "style", "title", "tags")))
        task = await self._new_task(kind, body)
        flag = bool(body.get("instrumental")) if instrumental is None else instrumental
        for n in range(2):
            digest = hashlib.sha256(f"{task.task_id}:{n}".encode()).digest()
            wanted = length(f"{task.task_id}:{n}") if length is not None else seconds
            track_seconds = min(MAX_TRACK_SECONDS, wanted if wanted is not None else 16 + digest[0] % 13)
            await self._db.execute(
                "INSERT INTO sandbox_tracks (audio_id, task_id, n, seconds, instrumental, model) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (_audio_id(task.task_id, n), task.task_id, n, float(track_seconds), flag, model),
            )
        for n, pcm in enumerate(uploads):
            await self._db.execute("INSERT INTO sandbox_uploads (task_id, n, pcm) VALUES (?, ?, ?)",
                                   (task.task_id, n, None if pcm is None else studio.pcm_to_bytes(pcm)))
        await self._db.commit()
        return task

    async def _new_task(self, kind: str, body: dict[str, Any], *, task_id: str | None = None) -> SandboxTask:
        task = SandboxTask(task_id or secrets.token_hex(16), kind, body, self._clock(), 0)
        await self._db.execute(
            "INSERT INTO sandbox_tasks (task_id, kind, body, created_at) VALUES (?, ?, ?, ?)",
            (task.task_id, kind, json.dumps(body), task.created_at),
        )
        await self._db.commit()
        return task

    @staticmethod
    def files_prefix_at(base_url: str) -> str:
        """Where its files are served once it is reachable at ``base_url`` (the only loopback URLs the bot
        downloads from by default)."""
        return f"{base_url.rstrip('/')}/files/"

    async def _fetch(self, url: str) -> int:
        """Download an uploadUrl as kie does; 451 if it cannot (contract §5.1)."""
        size, _ = await self._stream(url, keep=False)
        return size

    async def _download(self, url: str) -> bytes:
        """An uploadUrl's content, fetched like :meth:`_fetch`."""
        _, data = await self._stream(url, keep=True)
        return bytes(data)

    async def _stream(self, url: str, *, keep: bool) -> tuple[int, bytearray]:
        data = bytearray()
        try:
            async with self._fetcher.get(url) as response:
                if response.status != 200:
                    raise SandboxError(451, f"Failed to fetch the music data (HTTP {response.status})")
                size = 0
                async for chunk in response.content.iter_chunked(256 * 1024):
                    size += len(chunk)
                    if size > MAX_UPLOAD:
                        raise SandboxError(422, "Uploaded audio is too large")
                    if keep:
                        data += chunk
                return size, data
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            raise SandboxError(451, f"Failed to fetch the music data ({error.__class__.__name__})") from None

    # ----- record-info ------------------------------------------------------------------------------------

    def _status_route(self, kinds: tuple[str, ...]) -> Callable[[web.Request], Any]:
        async def route(request: web.Request) -> web.Response:
            if not self._authorized(request):
                return _envelope(401, "You do not have access permissions")
            task = await self._get(request.query.get("taskId", ""))
            if task is None or task.kind not in kinds:
                return _envelope(404, "Task not found")
            return _envelope(200, "success", await self._record(task))

        return route

    async def _record(self, task: SandboxTask) -> dict[str, Any]:
        stage = self._stage(task)
        failed = task.fails and stage >= (2 if task.staged else 1)
        if task.kind in ("cover", "midi"):
            return await self._image_or_midi_record(task, done=stage >= len(STAGES), failed=failed)
        if task.music:
            status = "GENERATE_AUDIO_FAILED" if failed else ("PENDING", "TEXT_SUCCESS", "FIRST_SUCCESS", "SUCCESS")[stage]
            tracks = [] if failed else [_camel(t) for t in (await self._tracks(task))[: {2: 1, 3: 2}.get(stage, 0)]]
            return {
                "taskId": task.task_id, "parentMusicId": task.body.get("audioId", ""), "param": json.dumps(task.body),
                "response": {"taskId": task.task_id, "sunoData": tracks}, "status": status, "type": "GENERATE",
                "operationType": OPERATION_TYPES[task.kind], "errorCode": 501 if failed else None,
                "errorMessage": "Audio generation failed" if failed else None,
            }
        done = stage >= len(STAGES)
        flag = "PENDING" if not done else "SUCCESS"
        failure = {"lyrics": "GENERATE_LYRICS_FAILED", "stems": "GENERATE_AUDIO_FAILED",
                   "wav": "GENERATE_WAV_FAILED", "video": "GENERATE_MP4_FAILED"}[task.kind]
        record: dict[str, Any] = {"taskId": task.task_id, "param": json.dumps(task.body),
                                  "errorCode": 500 if failed else None,
                                  "errorMessage": "Generation failed" if failed else None}
        if task.kind == "lyrics":
            variants = [{"text": v["text"], "title": v["title"], "status": "complete", "errorMessage": ""}
                        for v in _lyrics_variants(task)] if done and not failed else []
            record.update(status=failure if failed else flag, type="LYRICS",
                          response={"taskId": task.task_id, "data": variants})
            return record
        result = await self._result(task) if done and not failed else {}
        response = _camel(result)
        if task.kind == "stems" and result:
            response["originData"] = await self._origin_data(task)
        record.update(successFlag=failure if failed else flag, response=response)
        return record

    async def _image_or_midi_record(self, task: SandboxTask, *, done: bool, failed: bool) -> dict[str, Any]:
        """Cover and MIDI record-info: an integer successFlag (0 pending, 1 success, 3 failed; contract §4.4)."""
        record: dict[str, Any] = {
            "taskId": task.task_id, "callbackUrl": task.body.get("callBackUrl"),
            "createTime": round(task.created_at * 1000),
            "completeTime": round((task.created_at + len(STAGES) * self.stage_seconds) * 1000) if done else None,
            "successFlag": 3 if failed else 1 if done else 0,
            "errorCode": (501 if task.kind == "cover" else 500) if failed else None,
            "errorMessage": ("Cover generation failed" if task.kind == "cover" else "MIDI generation failed")
            if failed else None,
        }
        ready = done and not failed
        if task.kind == "cover":
            record.update(parentTaskId=task.body.get("taskId"),
                          response={"images": self._cover_urls(task)} if ready else None)
        else:
            record.update(recordTaskId=-1, audioId=task.body.get("audioId") or "",
                          midiData={"state": "complete", "instruments": await self._midi_instruments(task)}
                          if ready else None)
        return record

    async def _credit(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _envelope(401, "You do not have access permissions")
        return _envelope(200, "success", CREDITS)

    # ----- results and files ------------------------------------------------------------------------------

    def _stage(self, task: SandboxTask) -> int:
        """How many stages a task has reached, from its age (0 = pending … 3 = complete). Tasks that do not
        report stages (all but music, and replace-section) skip straight to complete at the third stage time."""
        if self.stage_seconds <= 0:
            return len(STAGES)
        stage = min(len(STAGES), int((self._clock() - task.created_at) / self.stage_seconds))
        return stage if task.staged or stage == len(STAGES) else 0

    async def _describe(self, task: SandboxTask) -> tuple[str, str, str]:
        """(title, style, lyrics) of a music task's tracks."""
        body = task.body
        if task.kind in ("add_instrumental", "add_vocals"):  # the upload's words are unknown to the sandbox
            vocals = task.kind == "add_vocals"
            return (str(body.get("title") or ""), str(body.get("style" if vocals else "tags") or ""),
                    str(body.get("prompt") or "") if vocals else "")
        if task.kind == "replace_section":
            source = await self._track(str(body.get("audioId", "")))
            lyrics = str(body.get("fullLyrics") or "")
            if not lyrics and source is not None:
                lyrics = (await self._describe(await self._task_of(source)))[2]
            return str(body.get("title") or ""), str(body.get("tags") or ""), lyrics
        if task.kind == "sounds":
            tags = ["sound effect", "loop" if body.get("soundLoop") else "one-shot"]
            tags += [f"{body['soundTempo']} BPM"] if body.get("soundTempo") else []
            tags += [str(body["soundKey"])] if body.get("soundKey") not in (None, "Any") else []
            return texts.title_from(str(body.get("prompt", ""))), ", ".join(tags), ""
        custom = bool(body.get("customMode")) or bool(body.get("defaultParamFlag"))
        source = await self._track(str(body.get("audioId", ""))) if task.kind == "extend" else None
        idea = str(body.get("prompt", ""))
        title = str(body.get("title") or "") if custom else texts.title_from(idea)
        if source is not None and not title:
            title = f"{await self._title_of(source)} (extended)"
        style = str(body.get("style") or "") if custom else texts.style_from(idea)
        if body.get("instrumental"):
            lyrics = "[Instrumental]"
        elif custom or task.kind in ("extend", "upload_extend"):
            lyrics = idea
        else:
            lyrics = texts.lyrics_from(idea)
        return title, style, lyrics

    async def _tracks(self, task: SandboxTask) -> list[dict[str, Any]]:
        """The two tracks of a music task, in the callback's snake_case."""
        body = task.body
        title, style, lyrics = await self._describe(task)
        files = f"{self.base_url}/files/{task.task_id}"
        extras = {}
        if task.kind in UPLOAD_KINDS:
            url = str(body.get("uploadUrl", ""))
            extras = {"source_audio_url": url, "source_stream_audio_url": url, "source_image_url": ""}
        tracks = []
        async with self._db.execute("SELECT * FROM sandbox_tracks WHERE task_id = ? ORDER BY n",
                                    (task.task_id,)) as cursor:
            rows = await cursor.fetchall()
        for row in rows:
            track = _track(row)
            tracks.append(
                {
                    "id": track.audio_id,
                    "audio_url": f"{files}/{track.n}.wav",
                    "stream_audio_url": f"{files}/{track.n}.wav",
                    "image_url": f"{files}/{track.n}.png",
                    "prompt": lyrics,
                    "model_name": MODEL_NAMES.get(track.model, "chirp"),
                    "title": title if track.n == 0 else f"{title} (take 2)",
                    "tags": style,
                    "createTime": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(task.created_at)),
                    "duration": track.seconds,
                    **extras,
                }
            )
        return tracks

    async def _title_of(self, track: SandboxTrack) -> str:
        task = await self._get(track.task_id)
        if task is None:
            return "Untitled"
        tracks = await self._tracks(task)
        return str(tracks[track.n]["title"]) if track.n < len(tracks) else "Untitled"

    async def _result(self, task: SandboxTask) -> dict[str, Any]:
        """The finished result of a separation or export, in the callback's snake_case."""
        files = f"{self.base_url}/files/{task.task_id}"
        if task.kind == "wav":
            return {"audio_wav_url": f"{files}/export.wav"}
        if task.kind == "video":
            return {"video_url": f"{files}/video.mp4"}
        result: dict[str, Any] = {"origin_url": ""}
        for name in await self._stems(task):
            result[STEM_FIELDS.get(name, f"{name}_url")] = f"{files}/stem-{name}.wav"
        return result

    async def _stems(self, task: SandboxTask) -> dict[str, bytes]:
        """A separation's stems (only those the song has), synthesized once and kept for its downloads."""
        if task.task_id not in self._stem_cache:
            source = await self._track(str(task.body["audioId"]))
            assert source is not None
            wanted = ("vocals", "instrumental") if task.body.get("type") != "split_stem" else media.SPLIT_STEMS
            recipe = await self._recipe(source)
            self._stem_cache[task.task_id] = await asyncio.to_thread(studio.stems, recipe, wanted)
            while len(self._stem_cache) > 2:
                self._stem_cache.pop(next(iter(self._stem_cache)))
        return self._stem_cache[task.task_id]

    async def _origin_data(self, task: SandboxTask) -> list[dict[str, Any]]:
        """A separation's tracks as record-info's ``originData`` (their ids serve MIDI's ``audioId``)."""
        source = await self._track(str(task.body["audioId"]))
        files = f"{self.base_url}/files/{task.task_id}"
        return [{"id": _stem_id(task.task_id, name), "audio_url": f"{files}/stem-{name}.wav",
                 "duration": source.seconds if source else None,
                 "stem_type_group_name": name.replace("_", " ").title()}
                for name in await self._stems(task)]

    async def _origin_ids(self, task: SandboxTask) -> dict[str, str]:
        """A separation's originData ids → stem names."""
        return {_stem_id(task.task_id, name): name for name in await self._stems(task)}

    async def _midi_instruments(self, task: SandboxTask) -> list[dict[str, Any]]:
        """A MIDI task's instruments, worked out once and kept for its callback and record-info polls."""
        if task.task_id not in self._midi_cache:
            self._midi_cache[task.task_id] = await self._midi_of(task)
            while len(self._midi_cache) > _CACHE_ITEMS:
                self._midi_cache.pop(next(iter(self._midi_cache)))
        return self._midi_cache[task.task_id]

    async def _midi_of(self, task: SandboxTask) -> list[dict[str, Any]]:
        """The MIDI of a separation's stems: the notes the sandbox synthesized for each (contract §3.2).

        split_stem gives an instrument per stem that plays notes; separate_vocal gives the vocals and, for
        "instrumental", an instrument per part of the band; ``audioId`` keeps the instruments of that stem."""
        separation = await self._get(str(task.body["taskId"]))
        assert separation is not None
        source = await self._track(str(separation.body["audioId"]))
        assert source is not None
        played = await asyncio.to_thread(studio.notes, await self._recipe(source))
        stems = list(await self._stems(separation))
        wanted = task.body.get("audioId")
        if wanted:
            stems = [(await self._origin_ids(separation))[str(wanted)]]
        names: list[str] = []
        for stem in stems:
            if stem == "instrumental":
                names += [name for name in played if name not in studio._VOCAL_STEMS]
            elif stem in played:
                names.append(stem)
        return [{"name": MIDI_NAMES.get(name, name.replace("_", " ").title()),
                 "notes": [{"pitch": note.pitch, "start": round(note.start, 6), "end": round(note.end, 6),
                            "velocity": note.velocity} for note in played[name]]}
                for name in dict.fromkeys(names)]

    def _cover_urls(self, task: SandboxTask) -> list[str]:
        return [f"{self.base_url}/files/{task.task_id}/cover-{n}.png" for n in range(2)]

    # ----- how a track's audio is made ----------------------------------------------------------------------

    async def _recipe(self, track: SandboxTrack) -> studio.Recipe:
        """What a track's audio is made of (see studio.py): a song, a sound, an upload with synthesized parts,
        a mashup, or (replace-section) its source with a section from another song in the same key and tempo."""
        task = await self._task_of(track)
        body = task.body
        if task.kind == "sounds":
            key = body.get("soundKey")
            return studio.Sound(track.seed, str(body.get("prompt", "")), track.seconds, bool(body.get("soundLoop")),
                                body.get("soundTempo"), sfx.parse_key(key) if key else None)
        _, _, lyrics = await self._describe(task)
        options = await self._options(task)
        sung = "" if track.instrumental or lyrics == "[Instrumental]" else lyrics
        song = studio.Song(track.seed, track.seconds, track.instrumental, options, sung)
        weight = float(body["audioWeight"]) if body.get("audioWeight") is not None else 0.5
        if task.kind in ("add_instrumental", "add_vocals"):
            role = "vocals" if task.kind == "add_instrumental" else "instrumental"
            return studio.Overlay(song, await self._upload(task.task_id, 0), role, weight)
        if task.kind == "mashup":
            return studio.Mashup(song, (await self._upload(task.task_id, 0), await self._upload(task.task_id, 1)),
                                 weight)
        if task.kind == "replace_section":  # its audioId is an earlier, finished track: the chain ends
            origin = await self._track(str(body.get("audioId", "")))
            if origin is not None:
                source = await self._recipe(origin)
                key, minor, bpm = studio.traits(source)
                base = await self._options(await self._task_of(origin)) or media.SongOptions()
                replacement = studio.Song(track.seed, origin.seconds, origin.instrumental,
                                          base._replace(key=key, minor=minor, bpm=bpm), str(body.get("prompt", "")))
                start, end = _infill(body)
                return studio.Splice(source, replacement, start, end)
        return song

    async def _options(self, task: SandboxTask) -> media.SongOptions | None:
        """How a task steers its songs (contract §1: in custom mode only): vocalGender → where and with which
        voice the lead sings, weirdnessConstraint → odd rhythms and modes, styleWeight → how much the style's
        words set tempo and mode, personaId → the persona's voice (and, for a style persona, its song's key,
        mode and tempo). An extend that keeps the source's parameters keeps its options too."""
        body = task.body
        if task.kind == "extend" and not body.get("defaultParamFlag"):
            origin = await self._track(str(body.get("audioId", "")))
            return await self._options(await self._task_of(origin)) if origin else None  # an earlier track
        custom = {"generate": "customMode", "upload_cover": "customMode", "mashup": "customMode",
                  "extend": "defaultParamFlag", "upload_extend": "defaultParamFlag"}
        if task.kind in custom and not body.get(custom[task.kind]):
            return None
        if task.kind not in (*custom, "add_instrumental", "add_vocals"):
            return None
        gender = body.get("vocalGender") if body.get("vocalGender") in ("m", "f") else None
        weirdness, style_weight = body.get("weirdnessConstraint"), body.get("styleWeight")
        persona = await self._persona_row(str(body["personaId"])) if body.get("personaId") else None
        if gender is None and weirdness is None and style_weight is None and persona is None:
            return None
        options = media.SongOptions(register=gender, weirdness=float(weirdness or 0.0),
                                    style=str(body.get("style") or body.get("tags") or ""),
                                    style_weight=None if style_weight is None else float(style_weight))
        if persona is not None:
            options = options._replace(voice=media.voice_from_seed(persona["persona_id"]),
                                       register=options.register or persona["register"])
            if body.get("personaModel") != "voice_persona":  # a style persona brings its song's key, mode, tempo
                options = options._replace(key=persona["key"], minor=bool(persona["minor"]), bpm=persona["bpm"])
        return options

    async def _upload(self, task_id: str, n: int) -> array | None:
        async with self._db.execute("SELECT pcm FROM sandbox_uploads WHERE task_id = ? AND n = ?",
                                    (task_id, n)) as cursor:
            row = await cursor.fetchone()
        return studio.pcm_from_bytes(row["pcm"]) if row is not None and row["pcm"] is not None else None

    async def _task_of(self, track: SandboxTrack) -> SandboxTask:
        task = await self._get(track.task_id)
        assert task is not None
        return task

    async def _file(self, request: web.Request) -> web.StreamResponse:
        task = await self._get(request.match_info["task_id"])
        name = request.match_info["name"]
        if task is None:
            raise web.HTTPNotFound()
        data, content_type = await self._cached(task, name)
        return web.Response(body=data, content_type=content_type)

    async def _cached(self, task: SandboxTask, name: str) -> tuple[bytes, str]:
        key = f"{task.task_id}/{name}"
        if key not in self._cache:
            self._cache[key] = await self._render(task, name)
            while len(self._cache) > _CACHE_ITEMS:
                self._cache.pop(next(iter(self._cache)))
        return self._cache[key]

    async def _render(self, task: SandboxTask, name: str) -> tuple[bytes, str]:
        """Synthesize a file on first request (in a worker thread: the event loop never waits on it)."""
        if task.music and name in ("0.wav", "1.wav", "0.png", "1.png"):
            track = await self._track(_audio_id(task.task_id, int(name[0])))
            assert track is not None
            if name.endswith(".png"):
                return await asyncio.to_thread(media.cover_png, track.seed), "image/png"
            return await asyncio.to_thread(studio.render, await self._recipe(track)), "audio/wav"
        if task.music or self._stage(task) < len(STAGES):
            raise web.HTTPNotFound()
        if task.kind == "cover" and name in ("cover-0.png", "cover-1.png") and not task.fails:
            return await asyncio.to_thread(media.cover_png, f"{task.task_id}:cover{name[6]}"), "image/png"
        if "audioId" not in task.body or task.kind not in ("wav", "video", "stems"):
            raise web.HTTPNotFound()
        source = await self._track(str(task.body["audioId"]))
        assert source is not None
        if task.kind == "wav" and name == "export.wav":
            return await asyncio.to_thread(studio.render, await self._recipe(source)), "audio/wav"
        if task.kind == "video" and name == "video.mp4":
            return await asyncio.to_thread(self._video, source, await self._recipe(source)), "video/mp4"
        if task.kind == "stems" and name.startswith("stem-") and name.endswith(".wav"):
            stems = await self._stems(task)
            stem = name.removeprefix("stem-").removesuffix(".wav")
            if stem in stems:
                return stems[stem], "audio/wav"
        raise web.HTTPNotFound()

    @staticmethod
    def _video(source: SandboxTrack, recipe: studio.Recipe) -> bytes:
        return video.still_video(media.cover_rgb(source.seed, VIDEO_SIZE), VIDEO_SIZE, VIDEO_SIZE,
                                 studio.render(recipe))

    # ----- callbacks --------------------------------------------------------------------------------------

    def _schedule(self, task: SandboxTask) -> None:
        run = asyncio.create_task(self._run(task))
        self._runs.add(run)
        run.add_done_callback(self._runs.discard)

    async def _run(self, task: SandboxTask) -> None:
        """Send the callbacks a real provider would, each when its stage is reached."""
        for index in range(task.stages_sent, len(STAGES)):
            due = task.created_at + (index + 1) * self.stage_seconds
            await asyncio.sleep(max(0.0, due - self._clock()))
            if not task.staged and index < len(STAGES) - 1:
                continue  # lyrics, separations, exports, covers, MIDI and replace-section only report when complete
            if task.fails and (index >= 1 or not task.staged):
                await self._post(task, self._failure_body(task))
                await self._mark_sent(task.task_id, len(STAGES))
                return
            await self._post(task, await self._callback_body(task, STAGES[index]))
            await self._mark_sent(task.task_id, index + 1)

    async def _callback_body(self, task: SandboxTask, stage: str) -> dict[str, Any]:
        if task.music:
            tracks = (await self._tracks(task))[: {"text": 0, "first": 1}.get(stage, 2)]
            message = {"text": "Text generation completed.", "first": "First audio generated.",
                       "complete": "All generated successfully."}[stage]
            return {"code": 200, "msg": message, "data": {"callbackType": stage, "task_id": task.task_id,
                                                          "data": tracks}}
        if task.kind == "lyrics":
            variants = [{**v, "status": "complete", "error_message": ""} for v in _lyrics_variants(task)]
            return {"code": 200, "msg": "All generated successfully.",
                    "data": {"callbackType": "complete", "task_id": task.task_id, "data": variants}}
        if task.kind == "cover":
            return {"code": 200, "msg": "success", "data": {"taskId": task.task_id, "images": self._cover_urls(task)}}
        if task.kind == "midi":  # kie's example puts task_id at the top, the contract reads data.taskId: both
            return {"code": 200, "msg": "success", "task_id": task.task_id,
                    "data": {"taskId": task.task_id, "state": "complete",
                             "instruments": await self._midi_instruments(task)}}
        result = await self._result(task)
        if task.kind == "stems":
            return {"code": 200, "msg": "vocal separation generated successfully.",
                    "data": {"task_id": task.task_id, "vocal_separation_info": result}}
        if task.kind == "wav":
            return {"code": 200, "msg": "success", "data": {"audioWavUrl": result["audio_wav_url"],
                                                            "task_id": task.task_id}}
        return {"code": 200, "msg": "success", "data": {"task_id": task.task_id, "video_url": result["video_url"]}}

    @staticmethod
    def _failure_body(task: SandboxTask) -> dict[str, Any]:
        if task.kind == "replace_section":
            return {"code": 501, "msg": "Audio generation failed",
                    "data": {"callbackType": "error", "task_id": task.task_id,
                             "error": "Generation failed due to technical issues"}}
        if task.kind == "cover":
            return {"code": 501, "msg": "Cover generation failed", "data": {"taskId": task.task_id, "images": None}}
        if task.kind == "midi":
            return {"code": 500, "msg": "MIDI generation failed", "data": {"taskId": task.task_id}}
        if task.music:
            return {"code": 501, "msg": "Audio generation failed",
                    "data": {"callbackType": "error", "task_id": task.task_id, "data": None}}
        return {"code": 500, "msg": "Generation failed", "data": {"task_id": task.task_id}}

    async def _post(self, task: SandboxTask, body: dict[str, Any]) -> None:
        url = task.body.get("callBackUrl")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")) or self._session is None:
            return
        try:
            async with self._session.post(url, json=body) as response:
                if response.status != 200:
                    log.info("sandbox callback to the bot answered %s", response.status)
        except (aiohttp.ClientError, TimeoutError) as error:
            log.info("sandbox callback could not be delivered: %s (the bot will poll)", describe(error))

    async def _mark_sent(self, task_id: str, stages: int) -> None:
        await self._db.execute("UPDATE sandbox_tasks SET stages_sent = ? WHERE task_id = ?", (stages, task_id))
        await self._db.commit()

    async def _get(self, task_id: str) -> SandboxTask | None:
        async with self._db.execute("SELECT * FROM sandbox_tasks WHERE task_id = ?", (task_id,)) as cursor:
            row = await cursor.fetchone()
        return _task(row) if row else None

    async def _track(self, audio_id: str) -> SandboxTrack | None:
        async with self._db.execute("SELECT * FROM sandbox_tracks WHERE audio_id = ?", (audio_id,)) as cursor:
            row = await cursor.fetchone()
        return _track(row) if row else None

    def _authorized(self, request: web.Request) -> bool:
        return secrets.compare_digest(request.headers.get("Authorization", ""), f"Bearer {self.api_key}")


# ----- request checks (contract §2.1, §2.2) -------------------------------------------------------------------


def _require(body: dict[str, Any], *keys: str) -> None:
    for key in keys:
        if body.get(key) in (None, ""):
            raise SandboxError(422, f"{key} is required")


def _check_music(body: dict[str, Any], *, custom_key: str) -> None:
    _require(body, custom_key, "instrumental", "model")
    if body[custom_key]:
        _require(body, "style", "title")
        if not body["instrumental"]:
            _require(body, "prompt")
    else:
        _require(body, "prompt")


def _continue_at(body: dict[str, Any], duration: float | None) -> float:
    try:
        value = float(body["continueAt"])
    except (TypeError, ValueError):
        raise SandboxError(422, "continueAt must be a number of seconds") from None
    if value <= 0 or (duration is not None and value >= duration):
        raise SandboxError(422, "continueAt must be greater than 0 and less than the audio's duration")
    return value


def _require_text(body: dict[str, Any], key: str) -> None:
    """A field the docs call required that may be empty (negativeTags)."""
    if not isinstance(body.get(key), str):
        raise SandboxError(422, f"{key} is required")


def _studio_model(body: dict[str, Any]) -> dict[str, Any]:
    """add-instrumental and add-vocals: model V4_5PLUS (the default) or V5."""
    model = body.get("model") or STUDIO_MODELS[0]
    if model not in STUDIO_MODELS:
        raise SandboxError(422, "model must be V4_5PLUS or V5")
    return {**body, "model": model}


def _number_field(body: dict[str, Any], key: str, default: float) -> float:
    """An optional number; the docs print some keys with a leading space (" vocalStart"), accepted too."""
    value = body.get(key, body.get(f" {key}"))
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SandboxError(422, f"{key} must be a number of seconds")
    return float(value)


def _infill(body: dict[str, Any]) -> tuple[float, float]:
    """infillStartS and infillEndS, to 2 decimals (contract §2.5)."""
    values = []
    for key in ("infillStartS", "infillEndS"):
        value = body.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise SandboxError(422, f"{key} must be a number of seconds")
        values.append(round(float(value), 2))
    return values[0], values[1]


def _pcm_seconds(pcm: array | None) -> float | None:
    return None if pcm is None else max(MIN_UPLOAD_SECONDS, len(pcm) / studio.SAMPLE_RATE)


def _stem_id(task_id: str, stem: str) -> str:
    return str(uuid.UUID(bytes=hashlib.sha256(f"{task_id}:{stem}:stem".encode()).digest()[:16]))


def _refuse_artists(text: str) -> None:
    if any(artist in text.lower() for artist in ARTISTS):
        raise SandboxError(400, "The description contains artist name")


def _lyrics_variants(task: SandboxTask) -> list[dict[str, str]]:
    prompt = str(task.body.get("prompt", ""))
    return [{"title": texts.title_from(prompt) + suffix, "text": texts.lyrics_from(prompt, variant=n)}
            for n, suffix in enumerate(("", " (alternate)"))]


def _audio_id(task_id: str, n: int) -> str:
    return hashlib.sha256(f"{task_id}:{n}:audio".encode()).hexdigest()[:32]


def _task(row: aiosqlite.Row) -> SandboxTask:
    return SandboxTask(row["task_id"], row["kind"], json.loads(row["body"]), row["created_at"], row["stages_sent"])


def _track(row: aiosqlite.Row) -> SandboxTrack:
    return SandboxTrack(row["audio_id"], row["task_id"], row["n"], row["seconds"], bool(row["instrumental"]),
                        row["model"])


def _camel(data: dict[str, Any]) -> dict[str, Any]:
    def camel(key: str) -> str:
        head, *rest = key.split("_")
        return head + "".join(part.capitalize() for part in rest)

    return {camel(key): value for key, value in data.items()}


def _envelope(code: int, msg: str, data: Any = None) -> web.Response:
    return web.json_response({"code": code, "msg": msg, "data": data})
