"""The sandbox provider: a simulated Suno service that speaks the kie.ai protocol over HTTP.

It runs inside the bot's process (mounted on the bot's web server under /sandbox) so a new admin can try
every command without a key or credits. The bot's real kie client talks to it over HTTP, exactly as to
api.kie.ai: submit → task id → callbacks text, first, complete to the callBackUrl → record-info.
Its tasks are kept in their own small SQLite file, so they survive a restart like a real provider's would,
and every track is real audio synthesized from the request (a WAV) with a generated cover (a PNG).
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

from bot.models import MODELS
from bot.providers.ratelimit import SlidingWindow
from bot.sandbox import media

log = logging.getLogger(__name__)

STAGES = ("text", "first", "complete")
ARTISTS = ("taylor swift", "beyonce", "beyoncé", "drake", "the beatles", "eminem", "adele", "bts", "metallica")
FAIL_MARKER = "[sandbox:fail]"
MODEL_NAMES = {"V5": "chirp-crow", "V4_5PLUS": "chirp-bluejay", "V4_5ALL": "chirp-auk", "V4_5": "chirp-auk",
               "V4": "chirp-v4"}
CREDITS = 10_000
_AUDIO_CACHE = 8

SCHEMA = """
CREATE TABLE IF NOT EXISTS sandbox_tasks (
    task_id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    created_at REAL NOT NULL,
    stages_sent INTEGER NOT NULL DEFAULT 0
);
"""


@dataclass(frozen=True)
class SandboxTask:
    task_id: str
    body: dict[str, Any]
    created_at: float
    stages_sent: int

    @property
    def fails(self) -> bool:
        return FAIL_MARKER in json.dumps(self.body).lower()


class SandboxProvider:
    """The simulated provider. ``app`` is the aiohttp application to mount; call :meth:`start` once the
    server is listening and :meth:`close` on shutdown."""

    def __init__(
        self,
        db: aiosqlite.Connection,
        *,
        api_key: str,
        stage_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = db
        self.api_key = api_key
        self.stage_seconds = stage_seconds
        self._clock = clock
        self._limiter = SlidingWindow(20, 10.0)
        self._session: aiohttp.ClientSession | None = None
        self._runs: set[asyncio.Task[None]] = set()
        self._audio: dict[tuple[str, int], bytes] = {}
        self.base_url = ""
        self.app = web.Application()
        self.app.add_routes(
            [
                web.post("/api/v1/generate", self._generate),
                web.get("/api/v1/generate/record-info", self._record_info),
                web.get("/api/v1/chat/credit", self._credit),
                web.get("/files/{task_id}/{n}.wav", self._audio_file),
                web.get("/files/{task_id}/{n}.png", self._cover_file),
            ]
        )

    @classmethod
    async def open(cls, path: Path | str, *, api_key: str, stage_seconds: float) -> SandboxProvider:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(path)
        await db.execute("PRAGMA journal_mode=WAL")
        await db.executescript(SCHEMA)
        await db.commit()
        return cls(db, api_key=api_key, stage_seconds=stage_seconds)

    async def start(self, base_url: str) -> None:
        """Start sending callbacks, including those of tasks left unfinished by a previous run.
        ``base_url`` is where this app is reachable (its file URLs are built from it)."""
        self.base_url = base_url.rstrip("/")
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
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

    # ----- API ----------------------------------------------------------------------------------------------

    async def _generate(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _envelope(401, "You do not have access permissions")
        try:
            body = await request.json()
        except ValueError:
            return _envelope(400, "Request body must be JSON")
        problem = _check(body)
        if problem:
            return _envelope(422, problem)
        text = " ".join(str(body.get(key, "")) for key in ("prompt", "style", "title")).lower()
        if any(artist in text for artist in ARTISTS):
            return _envelope(400, "The description contains artist name")
        if self._limiter.delay() > 0:
            return _envelope(429, "Request limit exceeded: at most 20 requests per 10 seconds")
        await self._limiter.acquire()
        task_id = secrets.token_hex(16)
        task = SandboxTask(task_id, body, self._clock(), 0)
        await self._db.execute(
            "INSERT INTO sandbox_tasks (task_id, body, created_at) VALUES (?, ?, ?)",
            (task_id, json.dumps(body), task.created_at),
        )
        await self._db.commit()
        self._schedule(task)
        return _envelope(200, "success", {"taskId": task_id})

    async def _record_info(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _envelope(401, "You do not have access permissions")
        task = await self._get(request.query.get("taskId", ""))
        if task is None:
            return _envelope(404, "Task not found")
        stage = self._stage(task)
        status = {0: "PENDING", 1: "TEXT_SUCCESS", 2: "FIRST_SUCCESS", 3: "SUCCESS"}[stage]
        tracks = [_camel(track) for track in self._tracks(task)[: {2: 1, 3: 2}.get(stage, 0)]]
        data: dict[str, Any] = {
            "taskId": task.task_id,
            "parentMusicId": "",
            "param": json.dumps(task.body),
            "response": {"taskId": task.task_id, "sunoData": tracks},
            "status": status,
            "type": "GENERATE",
            "operationType": "generate",
            "errorCode": None,
            "errorMessage": None,
        }
        if task.fails and stage >= 2:
            data.update(status="GENERATE_AUDIO_FAILED", errorCode=501, errorMessage="Audio generation failed",
                        response={"taskId": task.task_id, "sunoData": []})
        return _envelope(200, "success", data)

    async def _credit(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _envelope(401, "You do not have access permissions")
        return _envelope(200, "success", CREDITS)

    async def _audio_file(self, request: web.Request) -> web.StreamResponse:
        task, n = await self._file_task(request)
        key = (task.task_id, n)
        data = self._audio.get(key)
        if data is None:
            seed, seconds, instrumental = self._audio_spec(task, n)
            data = await asyncio.to_thread(media.synthesize_song, seed, seconds, instrumental=instrumental)
            self._audio[key] = data
            while len(self._audio) > _AUDIO_CACHE:
                self._audio.pop(next(iter(self._audio)))
        return web.Response(body=data, content_type="audio/wav")

    async def _cover_file(self, request: web.Request) -> web.StreamResponse:
        task, n = await self._file_task(request)
        data = await asyncio.to_thread(media.cover_png, f"{task.task_id}:{n}")
        return web.Response(body=data, content_type="image/png")

    async def _file_task(self, request: web.Request) -> tuple[SandboxTask, int]:
        task = await self._get(request.match_info["task_id"])
        n = request.match_info["n"]
        if task is None or n not in ("0", "1"):
            raise web.HTTPNotFound()
        return task, int(n)

    # ----- the simulation -----------------------------------------------------------------------------------

    def _stage(self, task: SandboxTask) -> int:
        """How many stages a task has reached, from its age (0 = pending … 3 = complete)."""
        if self.stage_seconds <= 0:
            return len(STAGES)
        return min(len(STAGES), int((self._clock() - task.created_at) / self.stage_seconds))

    def _audio_spec(self, task: SandboxTask, n: int) -> tuple[str, float, bool]:
        digest = hashlib.sha256(f"{task.task_id}:{n}".encode()).digest()
        seconds = 16 + digest[0] % 13  # 16–28 s
        return f"{task.task_id}:{n}", float(seconds), bool(task.body.get("instrumental"))

    def _tracks(self, task: SandboxTask) -> list[dict[str, Any]]:
        body = task.body
        custom = bool(body.get("customMode"))
        idea = str(body.get("prompt", ""))
        title = str(body.get("title") or "") if custom else _title_from(idea)
        style = str(body.get("style") or "") if custom else _style_from(idea)
        if body.get("instrumental"):
            lyrics = "[Instrumental]"
        elif custom:
            lyrics = idea
        else:
            lyrics = _lyrics_from(idea)
        tracks = []
        files = f"{self.base_url}/files/{task.task_id}"
        for n in range(2):
            _, seconds, _ = self._audio_spec(task, n)
            tracks.append(
                {
                    "id": hashlib.sha256(f"{task.task_id}:{n}:audio".encode()).hexdigest()[:32],
                    "audio_url": f"{files}/{n}.wav",
                    "stream_audio_url": f"{files}/{n}.wav",
                    "image_url": f"{files}/{n}.png",
                    "prompt": lyrics,
                    "model_name": MODEL_NAMES.get(str(body.get("model")), "chirp"),
                    "title": title if n == 0 else f"{title} (take 2)",
                    "tags": style,
                    "createTime": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(task.created_at)),
                    "duration": seconds,
                }
            )
        return tracks

    def _schedule(self, task: SandboxTask) -> None:
        run = asyncio.create_task(self._run(task))
        self._runs.add(run)
        run.add_done_callback(self._runs.discard)

    async def _run(self, task: SandboxTask) -> None:
        """Send the callbacks a real provider would, each when its stage is reached."""
        for index in range(task.stages_sent, len(STAGES)):
            due = task.created_at + (index + 1) * self.stage_seconds
            await asyncio.sleep(max(0.0, due - self._clock()))
            if task.fails and index >= 1:
                body = {"code": 501, "msg": "Audio generation failed",
                        "data": {"callbackType": "error", "task_id": task.task_id, "data": None}}
                await self._post(task, body)
                await self._mark_sent(task.task_id, len(STAGES))
                return
            stage = STAGES[index]
            tracks = self._tracks(task)[: {"text": 0, "first": 1}.get(stage, 2)]
            message = {"text": "Text generation completed.", "first": "First audio generated.",
                       "complete": "All generated successfully."}[stage]
            body = {"code": 200, "msg": message,
                    "data": {"callbackType": stage, "task_id": task.task_id, "data": tracks}}
            await self._post(task, body)
            await self._mark_sent(task.task_id, index + 1)

    async def _post(self, task: SandboxTask, body: dict[str, Any]) -> None:
        url = task.body.get("callBackUrl")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")) or self._session is None:
            return
        try:
            async with self._session.post(url, json=body) as response:
                if response.status != 200:
                    log.info("sandbox callback to the bot answered %s", response.status)
        except (aiohttp.ClientError, TimeoutError) as error:
            log.info("sandbox callback could not be delivered: %r (the bot will poll)", error)

    async def _mark_sent(self, task_id: str, stages: int) -> None:
        await self._db.execute("UPDATE sandbox_tasks SET stages_sent = ? WHERE task_id = ?", (stages, task_id))
        await self._db.commit()

    async def _get(self, task_id: str) -> SandboxTask | None:
        async with self._db.execute("SELECT * FROM sandbox_tasks WHERE task_id = ?", (task_id,)) as cursor:
            row = await cursor.fetchone()
        return _task(row) if row else None

    def _authorized(self, request: web.Request) -> bool:
        return secrets.compare_digest(request.headers.get("Authorization", ""), f"Bearer {self.api_key}")


def _check(body: Any) -> str | None:
    """The generate endpoint's documented required fields and mode rules (contract §2.1)."""
    if not isinstance(body, dict):
        return "Request body must be a JSON object"
    for key in ("customMode", "instrumental", "model", "callBackUrl"):
        if key not in body:
            return f"{key} is required"
    if body["model"] not in MODELS:
        return f"model must be one of {', '.join(MODELS)}"
    if body["customMode"]:
        for key in ("style", "title"):
            if not body.get(key):
                return f"{key} is required in custom mode"
        if not body["instrumental"] and not body.get("prompt"):
            return "prompt (lyrics) is required in custom mode unless instrumental"
    elif not body.get("prompt"):
        return "prompt is required"
    return None


def _task(row: Any) -> SandboxTask:
    task_id, body, created_at, stages_sent = row
    return SandboxTask(task_id, json.loads(body), created_at, stages_sent)


def _camel(track: dict[str, Any]) -> dict[str, Any]:
    names = {"audio_url": "audioUrl", "stream_audio_url": "streamAudioUrl", "image_url": "imageUrl",
             "model_name": "modelName"}
    return {names.get(key, key): value for key, value in track.items()}


def _envelope(code: int, msg: str, data: Any = None) -> web.Response:
    return web.json_response({"code": code, "msg": msg, "data": data})


def _title_from(idea: str) -> str:
    words = [word.strip(".,!?;:\"'") for word in idea.split()][:5]
    title = " ".join(word.capitalize() for word in words if word)
    return title[:80] or "Untitled"


def _style_from(idea: str) -> str:
    styles = ("dreamy synth-pop", "warm acoustic folk", "lo-fi hip hop", "upbeat indie rock", "soft piano ballad",
              "bright funk", "cinematic ambient", "bouncy chiptune")
    return styles[hashlib.sha256(idea.encode()).digest()[0] % len(styles)]


def _lyrics_from(idea: str) -> str:
    theme = " ".join(idea.split()[:8]) or "this song"
    return (
        f"[Verse]\nI woke up thinking of {theme}\nThe morning hummed a simple tune\n"
        f"[Chorus]\nSing it out, sing it loud\n{theme}, above the crowd\n"
        f"[Outro]\nAnd the sandbox plays it soon"
    )
