"""The sandbox provider: a simulated Suno service that speaks the kie.ai protocol over HTTP.

It runs inside the bot's process (mounted on the bot's web server under /sandbox) so a new admin can try
every command without a key or credits. The bot's real kie client talks to it over HTTP exactly as to
api.kie.ai: submit → task id → callbacks to the callBackUrl → record-info. It serves every operation the bot
uses — generate, extend, upload-extend, upload-cover, lyrics, stem separation, WAV and MP4 — with real
media: songs and stems are synthesized WAVs, covers PNGs, videos MP4s. Its tasks live in their own small
SQLite file, so they survive a restart like a real provider's would.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import aiosqlite
from aiohttp import web

from bot.fetch import Fetcher
from bot.providers.kie import KIE_MODELS
from bot.providers.ratelimit import SlidingWindow
from bot.redaction import describe
from bot.sandbox import media, texts, video

log = logging.getLogger(__name__)

STAGES = ("text", "first", "complete")
MUSIC_KINDS = ("generate", "extend", "upload_extend", "upload_cover")
OPERATION_TYPES = {"generate": "generate", "extend": "extend", "upload_extend": "upload_extend",
                   "upload_cover": "upload_cover"}
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
)

# Stem names of the media module → the separation result fields (contract §3.2, §4.3).
STEM_FIELDS = {"vocals": "vocal_url", "instrumental": "instrumental_url"}


class SandboxError(Exception):
    """A refusal in the provider's envelope: ``{"code": code, "msg": msg}``."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


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
        self.base_url = ""
        submit = {
            "generate": self._generate, "generate/extend": self._extend,
            "generate/upload-extend": self._upload_extend, "generate/upload-cover": self._upload_cover,
            "lyrics": self._lyrics, "vocal-removal/generate": self._separate, "wav/generate": self._wav,
            "mp4/generate": self._mp4,
        }
        self.app = web.Application()
        self.app.add_routes([web.post(f"/api/v1/{path}", self._submit_route(handler)) for path, handler in submit.items()])
        self.app.add_routes(
            [
                web.get(f"/api/v1/{path}/record-info", self._status_route(kinds))
                for path, kinds in (("generate", MUSIC_KINDS), ("lyrics", ("lyrics",)),
                                    ("vocal-removal", ("stems",)), ("wav", ("wav",)), ("mp4", ("video",)))
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

    def _submit_route(self, handler: Callable[[dict[str, Any]], Any]) -> Callable[[web.Request], Any]:
        async def route(request: web.Request) -> web.Response:
            if not self._authorized(request):
                return _envelope(401, "You do not have access permissions")
            try:
                body = await request.json()
            except ValueError:
                return _envelope(400, "Request body must be JSON")
            if not isinstance(body, dict):
                return _envelope(400, "Request body must be a JSON object")
            if not isinstance(body.get("callBackUrl"), str) or not body["callBackUrl"]:
                return _envelope(422, "callBackUrl is required")
            if self._limiter.delay() > 0:
                return _envelope(429, "Request limit exceeded: at most 20 requests per 10 seconds")
            try:
                task = await handler(body)
            except SandboxError as error:
                return _envelope(error.code, error.msg)
            await self._limiter.acquire()
            self._schedule(task)
            return _envelope(200, "success", {"taskId": task.task_id})

        return route

    async def _generate(self, body: dict[str, Any]) -> SandboxTask:
        _check_music(body, custom_key="customMode")
        return await self._new_music_task("generate", body, seconds=None)

    async def _extend(self, body: dict[str, Any]) -> SandboxTask:
        _require(body, "defaultParamFlag", "audioId", "model")
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
        await self._fetch(str(body["uploadUrl"]))
        if body["defaultParamFlag"]:
            _require(body, "prompt", "style", "title")
        elif not body.get("instrumental") and not body.get("prompt"):
            raise SandboxError(422, "prompt is required")
        return await self._new_music_task("upload_extend", body, seconds=_continue_at(body, None) + 12)

    async def _upload_cover(self, body: dict[str, Any]) -> SandboxTask:
        _require(body, "uploadUrl")
        _check_music(body, custom_key="customMode")
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

    async def _finished_source(self, body: dict[str, Any]) -> SandboxTrack:
        source = await self._track(str(body["audioId"]))
        task = await self._get(str(body["taskId"]))
        if source is None or task is None or source.task_id != task.task_id:
            raise SandboxError(404, "taskId / audioId not found")
        if self._stage(task) < len(STAGES) or task.fails:
            raise SandboxError(422, "The music task is not finished")
        return source

    async def _new_music_task(self, kind: str, body: dict[str, Any], *, seconds: float | None) -> SandboxTask:
        model = str(body.get("model", ""))
        if model not in KIE_MODELS:
            raise SandboxError(422, f"model must be one of {', '.join(KIE_MODELS)}")
        _refuse_artists(" ".join(str(body.get(key, "")) for key in ("prompt", "style", "title")))
        task = await self._new_task(kind, body)
        for n in range(2):
            digest = hashlib.sha256(f"{task.task_id}:{n}".encode()).digest()
            length = min(MAX_TRACK_SECONDS, seconds if seconds is not None else 16 + digest[0] % 13)
            await self._db.execute(
                "INSERT INTO sandbox_tracks (audio_id, task_id, n, seconds, instrumental, model) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (_audio_id(task.task_id, n), task.task_id, n, float(length), bool(body.get("instrumental")), model),
            )
        await self._db.commit()
        return task

    async def _new_task(self, kind: str, body: dict[str, Any]) -> SandboxTask:
        task = SandboxTask(secrets.token_hex(16), kind, body, self._clock(), 0)
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
        try:
            async with self._fetcher.get(url) as response:
                if response.status != 200:
                    raise SandboxError(451, f"Failed to fetch the music data (HTTP {response.status})")
                size = 0
                async for chunk in response.content.iter_chunked(256 * 1024):
                    size += len(chunk)
                    if size > MAX_UPLOAD:
                        raise SandboxError(422, "Uploaded audio is too large")
                return size
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
        failed = task.fails and stage >= (2 if task.music else 1)
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
        record.update(successFlag=failure if failed else flag, response=_camel(result))
        return record

    async def _credit(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _envelope(401, "You do not have access permissions")
        return _envelope(200, "success", CREDITS)

    # ----- results and files ------------------------------------------------------------------------------

    def _stage(self, task: SandboxTask) -> int:
        """How many stages a task has reached, from its age (0 = pending … 3 = complete). Tasks other than
        music skip straight to complete at the third stage time."""
        if self.stage_seconds <= 0:
            return len(STAGES)
        stage = min(len(STAGES), int((self._clock() - task.created_at) / self.stage_seconds))
        return stage if task.music or stage == len(STAGES) else 0

    async def _tracks(self, task: SandboxTask) -> list[dict[str, Any]]:
        """The two tracks of a music task, in the callback's snake_case."""
        body = task.body
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
        files = f"{self.base_url}/files/{task.task_id}"
        extras = {}
        if task.kind in ("upload_extend", "upload_cover"):
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
            self._stem_cache[task.task_id] = await asyncio.to_thread(
                media.synthesize_stems, source.seed, source.seconds, wanted, instrumental=source.instrumental
            )
            while len(self._stem_cache) > 2:
                self._stem_cache.pop(next(iter(self._stem_cache)))
        return self._stem_cache[task.task_id]

    async def _file(self, request: web.Request) -> web.StreamResponse:
        task = await self._get(request.match_info["task_id"])
        name = request.match_info["name"]
        if task is None:
            raise web.HTTPNotFound()
        key = f"{task.task_id}/{name}"
        if key not in self._cache:
            self._cache[key] = await self._render(task, name)
            while len(self._cache) > _CACHE_ITEMS:
                self._cache.pop(next(iter(self._cache)))
        data, content_type = self._cache[key]
        return web.Response(body=data, content_type=content_type)

    async def _render(self, task: SandboxTask, name: str) -> tuple[bytes, str]:
        """Synthesize a file on first request (in a worker thread: the event loop never waits on it)."""
        if task.music and name in ("0.wav", "1.wav", "0.png", "1.png"):
            track = await self._track(_audio_id(task.task_id, int(name[0])))
            assert track is not None
            if name.endswith(".png"):
                return await asyncio.to_thread(media.cover_png, track.seed), "image/png"
            song = await asyncio.to_thread(media.synthesize_song, track.seed, track.seconds,
                                           instrumental=track.instrumental)
            return song, "audio/wav"
        if task.music or self._stage(task) < len(STAGES):
            raise web.HTTPNotFound()
        source = await self._track(str(task.body["audioId"]))
        assert source is not None
        if task.kind == "wav" and name == "export.wav":
            return await asyncio.to_thread(media.synthesize_song, source.seed, source.seconds,
                                           instrumental=source.instrumental), "audio/wav"
        if task.kind == "video" and name == "video.mp4":
            return await asyncio.to_thread(self._video, source), "video/mp4"
        if task.kind == "stems" and name.startswith("stem-") and name.endswith(".wav"):
            stems = await self._stems(task)
            stem = name.removeprefix("stem-").removesuffix(".wav")
            if stem in stems:
                return stems[stem], "audio/wav"
        raise web.HTTPNotFound()

    @staticmethod
    def _video(source: SandboxTrack) -> bytes:
        song = media.synthesize_song(source.seed, source.seconds, instrumental=source.instrumental)
        return video.still_video(media.cover_rgb(source.seed, VIDEO_SIZE), VIDEO_SIZE, VIDEO_SIZE, song)

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
            if not task.music and index < len(STAGES) - 1:
                continue  # lyrics, separations and exports only report when complete
            if task.fails and (index >= 1 or not task.music):
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
