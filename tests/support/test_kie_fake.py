"""Tests of the kie.ai fake itself (tests/support/kie_fake.py), over real loopback HTTP."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.support.kie_fake import FakeKie, ManualClock, SoundSettings

GUARD = 5.0  # upper bound for waiting on an event; never a timing assertion


@dataclass
class Received:
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Receiver:
    """Tiny callback endpoint: records every POST and answers {"status":"received"}."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    queue: asyncio.Queue[Received] = field(default_factory=asyncio.Queue)

    async def next(self) -> Received:
        return await asyncio.wait_for(self.queue.get(), GUARD)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()

    async def handle(request: web.Request) -> web.Response:
        item = Received(dict(request.headers), await request.json())
        rec.received.append(item)
        rec.queue.put_nowait(item)
        return web.json_response({"status": "received"})

    app = web.Application()
    app.router.add_post("/callback", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = int(runner.addresses[0][1])
    rec.url = f"http://127.0.0.1:{port}/callback"
    yield rec
    await runner.cleanup()


@pytest.fixture
async def kie() -> AsyncIterator[FakeKie]:
    async with FakeKie() as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def auth(fake: FakeKie) -> dict[str, str]:
    return {"Authorization": f"Bearer {fake.api_key}"}


def simple_body(callback: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customMode": False,
        "instrumental": False,
        "model": "V5",
        "callBackUrl": callback,
        "prompt": "a calm piano tune about rain",
    }
    body.update(extra)
    return body


async def post_generate(
    http: aiohttp.ClientSession, fake: FakeKie, body: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    async with http.post(f"{fake.base_url}/api/v1/generate", json=body, headers=auth(fake)) as resp:
        payload: dict[str, Any] = await resp.json()
        return resp.status, payload


async def record_info(http: aiohttp.ClientSession, fake: FakeKie, task_id: str) -> dict[str, Any]:
    async with http.get(
        f"{fake.base_url}/api/v1/generate/record-info", params={"taskId": task_id}, headers=auth(fake)
    ) as resp:
        assert resp.status == 200
        payload: dict[str, Any] = await resp.json()
        return payload


async def submit(http: aiohttp.ClientSession, fake: FakeKie, callback: str, **extra: Any) -> str:
    status, payload = await post_generate(http, fake, simple_body(callback, **extra))
    assert status == 200 and payload["code"] == 200, payload
    return str(payload["data"]["taskId"])


# --------------------------------------------------------------------------- auth


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}])
async def test_auth_failure_envelope(kie: FakeKie, http: aiohttp.ClientSession, headers: dict[str, str]) -> None:
    expected = {"code": 401, "msg": "You do not have access permissions", "data": None}
    async with http.post(f"{kie.base_url}/api/v1/generate", json=simple_body("http://x/cb"), headers=headers) as r:
        assert (r.status, await r.json()) == (200, expected)
    async with http.get(f"{kie.base_url}/api/v1/generate/record-info?taskId=abc", headers=headers) as r:
        assert (r.status, await r.json()) == (200, expected)
    async with http.get(f"{kie.base_url}/api/v1/chat/credit", headers=headers) as r:
        assert (r.status, await r.json()) == (200, expected)
    assert kie.submissions == []


async def test_credit(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    kie.credits = 42
    async with http.get(f"{kie.base_url}/api/v1/chat/credit", headers=auth(kie)) as r:
        assert await r.json() == {"code": 200, "msg": "success", "data": 42}


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("change", "drop", "fragment"),
    [
        ({}, "callBackUrl", "callBackUrl is required"),
        ({}, "customMode", "customMode is required"),
        ({}, "model", "model is required"),
        ({"model": "V3_5"}, None, "model must be one of"),
        ({"customMode": "yes"}, None, "customMode must be a boolean"),
        ({"prompt": "x" * 501}, None, "prompt exceeds 500"),
        ({"prompt": ""}, None, "prompt is required"),
        ({"customMode": True, "title": "T"}, None, "style is required"),
        ({"customMode": True, "style": "pop"}, None, "title is required"),
        ({"customMode": True, "style": "pop", "title": "T", "prompt": ""}, None, "prompt (lyrics) is required"),
        ({"customMode": True, "style": "s" * 201, "title": "T", "model": "V4"}, None, "style exceeds 200"),
        ({"customMode": True, "style": "pop", "title": "T" * 81}, None, "title exceeds 80"),
        ({"customMode": True, "style": "pop", "title": "T", "prompt": "l" * 5001}, None, "prompt exceeds 5000"),
        ({"customMode": True, "style": "pop", "title": "T", "prompt": "l" * 3001, "model": "V4"}, None, "3000"),
        ({"styleWeight": 1.5}, None, "styleWeight must be a number between 0 and 1"),
        ({"vocalGender": "x"}, None, "vocalGender"),
    ],
)
async def test_validation_errors(
    kie: FakeKie, http: aiohttp.ClientSession, change: dict[str, Any], drop: str | None, fragment: str
) -> None:
    body = simple_body("http://127.0.0.1:1/cb", **change)
    if drop:
        del body[drop]
    status, payload = await post_generate(http, kie, body)
    assert status == 200
    assert payload["code"] == 422
    assert fragment in payload["msg"]
    assert kie.submissions == []


async def test_accepts_custom_instrumental_without_prompt_and_long_v5_style(
    kie: FakeKie, http: aiohttp.ClientSession
) -> None:
    kie.auto_callbacks = False
    body = {
        "customMode": True,
        "instrumental": True,
        "model": "V5",
        "callBackUrl": "http://127.0.0.1:1/cb",
        "style": "s" * 1000,
        "title": "T" * 80,
    }
    status, payload = await post_generate(http, kie, body)
    assert (status, payload["code"], payload["msg"]) == (200, 200, "success")
    task_id = payload["data"]["taskId"]
    assert [(s.task_id, s.body) for s in kie.submissions] == [(task_id, body)]


async def test_invalid_json_is_400(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{kie.base_url}/api/v1/generate", data=b"{nope", headers=auth(kie)) as r:
        assert (await r.json())["code"] == 400


# --------------------------------------------------------------------------- scripted failures


async def test_fail_next_submit_then_success(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    kie.auto_callbacks = False
    kie.fail_next_submit(402, "insufficient credits")
    kie.fail_next_submit(500, "server error", http_status=500)
    kie.fail_next_submit(400, "The description contains artist name")

    assert await post_generate(http, kie, simple_body("http://127.0.0.1:1/cb")) == (
        200,
        {"code": 402, "msg": "insufficient credits", "data": None},
    )
    assert await post_generate(http, kie, simple_body("http://127.0.0.1:1/cb")) == (
        500,
        {"code": 500, "msg": "server error", "data": None},
    )
    status, payload = await post_generate(http, kie, simple_body("http://127.0.0.1:1/cb"))
    assert payload["msg"] == "The description contains artist name"
    status, payload = await post_generate(http, kie, simple_body("http://127.0.0.1:1/cb"))
    assert payload["code"] == 200
    assert len(kie.submissions) == 1
    assert [c.code for c in kie.api_calls] == [402, 500, 400, 200]


# --------------------------------------------------------------------------- callbacks


def assert_snake_track(track: dict[str, Any], *, audio_filled: bool = True) -> None:
    assert set(track) == {
        "id", "audio_url", "stream_audio_url", "image_url", "prompt",
        "model_name", "title", "tags", "createTime", "duration",
    }  # fmt: skip
    assert track["audio_url"].endswith(".mp3") if audio_filled else track["audio_url"] == ""
    assert track["image_url"].endswith(".jpeg")
    assert track["model_name"] == "chirp-v5"
    assert isinstance(track["duration"], float)


async def test_auto_callbacks_arrive_in_order(
    kie: FakeKie, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    task_id = await submit(http, kie, receiver.url)
    got = [await receiver.next() for _ in range(3)]
    await kie.drain()

    assert [g.body["data"]["callbackType"] for g in got] == ["text", "first", "complete"]
    for g in got:
        assert g.body["code"] == 200
        assert g.body["data"]["task_id"] == task_id
        assert "X-Webhook-Signature" not in g.headers
    text, first, complete = (g.body["data"]["data"] for g in got)
    assert text == []
    assert len(first) == 1
    assert_snake_track(first[0], audio_filled=False)
    assert len(complete) == 2
    for track in complete:
        assert_snake_track(track)
    assert got[2].body["msg"] == "All generated successfully."
    assert complete[0]["id"] != complete[1]["id"]
    assert first[0]["id"] == complete[0]["id"]
    assert kie.callback_results == [(task_id, "text", 200), (task_id, "first", 200), (task_id, "complete", 200)]
    assert (await record_info(http, kie, task_id))["data"]["status"] == "SUCCESS"


async def test_auto_failure_plan(kie: FakeKie, http: aiohttp.ClientSession, receiver: Receiver) -> None:
    kie.fail_next_task(531, "generation failed, credits refunded", after="text")
    task_id = await submit(http, kie, receiver.url)
    await kie.drain()
    assert [r.body["data"]["callbackType"] for r in receiver.received] == ["text", "error"]
    assert receiver.received[1].body == {
        "code": 531,
        "msg": "generation failed, credits refunded",
        "data": {"callbackType": "error", "task_id": task_id, "data": None},
    }
    assert kie.task(task_id).status == "GENERATE_AUDIO_FAILED"


async def test_manual_advance_record_info_shapes(
    kie: FakeKie, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    kie.clock = clock = ManualClock()
    kie.auto_callbacks = False
    body = simple_body(receiver.url)
    task_id = await submit(http, kie, receiver.url)

    async def poll() -> dict[str, Any]:
        clock.advance(1.0)
        payload = await record_info(http, kie, task_id)
        assert payload["code"] == 200 and payload["msg"] == "success"
        data: dict[str, Any] = payload["data"]
        return data

    data = await poll()
    assert set(data) == {
        "taskId", "parentMusicId", "param", "response", "status",
        "type", "operationType", "errorCode", "errorMessage",
    }  # fmt: skip
    assert data["taskId"] == task_id
    assert json.loads(data["param"]) == body
    assert data["response"] == {"taskId": task_id, "sunoData": []}
    assert (data["status"], data["errorCode"], data["errorMessage"]) == ("PENDING", None, None)
    assert data["operationType"] == "generate"

    assert await kie.advance(task_id, "text") == (200, '{"status": "received"}')
    data = await poll()
    assert (data["status"], data["response"]["sunoData"]) == ("TEXT_SUCCESS", [])

    await kie.advance(task_id, "first")
    data = await poll()
    assert data["status"] == "FIRST_SUCCESS"
    [track] = data["response"]["sunoData"]
    assert set(track) == {
        "id", "audioUrl", "streamAudioUrl", "imageUrl", "prompt",
        "modelName", "title", "tags", "createTime", "duration",
    }  # fmt: skip
    assert track["audioUrl"] == ""
    assert track["streamAudioUrl"] == kie.stream_url(task_id, 0)

    assert await kie.advance(task_id, "complete", deliver=False) is None
    data = await poll()
    assert data["status"] == "SUCCESS"
    tracks = data["response"]["sunoData"]
    assert [t["audioUrl"] for t in tracks] == [kie.audio_url(task_id, 0), kie.audio_url(task_id, 1)]
    assert [t["id"] for t in tracks] == [t.audio_id for t in kie.task(task_id).tracks]

    assert [r.body["data"]["callbackType"] for r in receiver.received] == ["text", "first"]
    assert kie.polls == {task_id: 4}


async def test_fail_resend_and_callback_body(
    kie: FakeKie, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    kie.auto_callbacks = False
    task_id = await submit(http, kie, receiver.url)
    await kie.advance(task_id, "text")
    await kie.resend(task_id, "text")
    delivery = await kie.fail(task_id, code=400, msg="Song Description flagged for moderation",
                              status="SENSITIVE_WORD_ERROR")  # fmt: skip
    assert delivery is not None and delivery.status == 200

    assert receiver.received[0].body == receiver.received[1].body
    assert receiver.received[2].body == {
        "code": 400,
        "msg": "Song Description flagged for moderation",
        "data": {"callbackType": "error", "task_id": task_id, "data": None},
    }
    assert kie.callback_body(task_id, "error") == receiver.received[2].body
    data = (await record_info(http, kie, task_id))["data"]
    assert (data["status"], data["errorCode"], data["errorMessage"]) == (
        "SENSITIVE_WORD_ERROR",
        400,
        "Song Description flagged for moderation",
    )
    # A late "complete" still gets delivered but the failed status sticks.
    await kie.advance(task_id, "complete")
    assert kie.task(task_id).status == "SENSITIVE_WORD_ERROR"
    assert [stage for _, stage, _ in kie.callback_results] == ["text", "text", "error", "complete"]


async def test_unreachable_callback_is_status_zero(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    kie.auto_callbacks = False
    task_id = await submit(http, kie, "http://127.0.0.1:1/cb")
    delivery = await kie.advance(task_id, "text")
    assert delivery is not None and delivery.status == 0
    assert kie.callback_results == [(task_id, "text", 0)]


async def test_unknown_task_is_404_envelope(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    payload = await record_info(http, kie, "deadbeef")
    assert payload["code"] == 404 and payload["data"] is None
    assert kie.polls == {}


# --------------------------------------------------------------------------- webhook signing


async def test_hmac_headers_verify(http: aiohttp.ClientSession, receiver: Receiver) -> None:
    key = "s3cret-key"
    async with FakeKie(hmac_key=key, wall_clock=lambda: 1_700_000_000.5) as kie:
        kie.auto_callbacks = False
        task_id = await submit(http, kie, receiver.url)
        await kie.advance(task_id, "complete")
        await kie.fail(task_id)

    for got in receiver.received:
        ts = got.headers["X-Webhook-Timestamp"]
        assert ts == "1700000000"
        signed = f"{got.body['data']['task_id']}.{ts}".encode()
        expected = base64.b64encode(hmac.new(key.encode(), signed, hashlib.sha256).digest()).decode()
        assert hmac.compare_digest(got.headers["X-Webhook-Signature"], expected)
        assert kie.sign(task_id, ts) == expected
    assert len(receiver.received) == 2


# --------------------------------------------------------------------------- files


async def test_file_serving(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    kie.auto_callbacks = False
    task_id = await submit(http, kie, "http://127.0.0.1:1/cb")

    async with http.get(kie.audio_url(task_id, 0)) as r:
        assert r.status == 200
        assert r.content_type == "audio/mpeg"
        assert r.headers["Content-Length"] == str(20 * 1024)
        first = await r.read()
    async with http.get(kie.audio_url(task_id, 0)) as r:
        assert await r.read() == first  # deterministic
    async with http.get(kie.audio_url(task_id, 1)) as r:
        assert await r.read() != first
    async with http.get(kie.image_url(task_id, 1)) as r:
        assert r.content_type == "image/jpeg"
        assert int(r.headers["Content-Length"]) == len(await r.read()) > 0
    async with http.get(kie.stream_url(task_id, 0)) as r:
        assert (r.content_type, await r.read()) == ("audio/mpeg", first)

    kie.set_audio(task_id, 1, b"custom")
    async with http.get(kie.audio_url(task_id, 1)) as r:
        assert await r.read() == b"custom"
    for bad in (f"/files/{task_id}/2.mp3", f"/files/{task_id}/0.wav", "/files/nope/0.mp3", f"/stream/{task_id}/x"):
        async with http.get(kie.base_url + bad) as r:
            assert r.status == 404

    assert kie.downloads == [
        f"/files/{task_id}/0.mp3",
        f"/files/{task_id}/0.mp3",
        f"/files/{task_id}/1.mp3",
        f"/files/{task_id}/1.jpeg",
        f"/stream/{task_id}/0",
        f"/files/{task_id}/1.mp3",
    ]


async def test_audio_size_for_next_tasks(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    kie.auto_callbacks = False
    kie.audio_size = 11 * 1024 * 1024
    task_id = await submit(http, kie, "http://127.0.0.1:1/cb")
    async with http.get(kie.audio_url(task_id, 0)) as r:
        assert r.headers["Content-Length"] == str(11 * 1024 * 1024)
        assert len(await r.read()) == 11 * 1024 * 1024


# --------------------------------------------------------------------------- rate limits


async def test_submit_rate_limit_with_injected_clock(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    kie.clock = clock = ManualClock()
    kie.auto_callbacks = False
    for _ in range(20):
        await submit(http, kie, "http://127.0.0.1:1/cb")
        clock.advance(0.1)
    status, payload = await post_generate(http, kie, simple_body("http://127.0.0.1:1/cb"))
    assert (status, payload["code"]) == (200, 429)
    assert len(kie.submissions) == 20

    clock.advance(8.0)  # 10.0 s after the first accepted request: one slot frees up
    await submit(http, kie, "http://127.0.0.1:1/cb")
    status, payload = await post_generate(http, kie, simple_body("http://127.0.0.1:1/cb"))
    assert payload["code"] == 429


async def test_poll_rate_limit_with_injected_clock(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    kie.clock = clock = ManualClock()
    kie.auto_callbacks = False
    task_id = await submit(http, kie, "http://127.0.0.1:1/cb")
    other = await submit(http, kie, "http://127.0.0.1:1/cb")

    codes = [(await record_info(http, kie, task_id))["code"] for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert (await record_info(http, kie, other))["code"] == 200  # per task, not per account
    clock.advance(1.0)
    assert (await record_info(http, kie, task_id))["code"] == 200
    assert kie.polls == {task_id: 5, other: 1}


# ===========================================================================
# Extended surface: extend / upload-extend / upload-cover / lyrics / separation / wav / mp4
# ===========================================================================

NOWHERE = "http://127.0.0.1:1/cb"
SONG = bytes(range(256)) * 50  # 12_800 bytes served by the upload fixture


async def call(
    http: aiohttp.ClientSession, fake: FakeKie, path: str, body: Any = None, *, params: dict[str, str] | None = None
) -> dict[str, Any]:
    """POST ``body`` (or GET with ``params`` when body is None); HTTP must be 200."""
    if body is None:
        request = http.get(f"{fake.base_url}{path}", params=params, headers=auth(fake))
    else:
        request = http.post(f"{fake.base_url}{path}", json=body, headers=auth(fake))
    async with request as resp:
        assert resp.status == 200
        payload: dict[str, Any] = await resp.json()
        return payload


async def poll_info(http: aiohttp.ClientSession, fake: FakeKie, path: str, task_id: str) -> dict[str, Any]:
    payload = await call(http, fake, path, params={"taskId": task_id})
    assert (payload["code"], payload["msg"]) == (200, "success"), payload
    data: dict[str, Any] = payload["data"]
    return data


async def accepted(http: aiohttp.ClientSession, fake: FakeKie, path: str, body: dict[str, Any]) -> str:
    payload = await call(http, fake, path, body)
    assert (payload["code"], payload["msg"]) == (200, "success"), payload
    return str(payload["data"]["taskId"])


async def finished_music(http: aiohttp.ClientSession, fake: FakeKie, model: str = "V5") -> tuple[str, list[str]]:
    """A generate task at SUCCESS (no callbacks sent); returns (taskId, [audioId, audioId])."""
    auto, fake.auto_callbacks = fake.auto_callbacks, False
    try:
        task_id = await submit(http, fake, NOWHERE, model=model)
        await fake.advance(task_id, "complete", deliver=False)
    finally:
        fake.auto_callbacks = auto
    return task_id, [t.audio_id for t in fake.task(task_id).tracks]


@pytest.fixture
async def uploads() -> AsyncIterator[str]:
    """A tiny file host: GET /song.mp3 -> SONG, anything else 404. Yields its base URL."""

    async def song(request: web.Request) -> web.Response:
        return web.Response(body=SONG, content_type="audio/mpeg")

    async def empty(request: web.Request) -> web.Response:
        return web.Response(body=b"", content_type="audio/mpeg")

    app = web.Application()
    app.router.add_get("/song.mp3", song)
    app.router.add_get("/empty.mp3", empty)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{int(runner.addresses[0][1])}"
    await runner.cleanup()


def extend_body(audio_id: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "defaultParamFlag": True,
        "audioId": audio_id,
        "model": "V5",
        "callBackUrl": NOWHERE,
        "prompt": "[Verse] more rain",
        "style": "ambient piano",
        "title": "Rain, Part 2",
        "continueAt": 60,
    }
    body.update(extra)
    return body


def upload_extend_body(url: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "uploadUrl": url,
        "defaultParamFlag": True,
        "instrumental": False,
        "continueAt": 30.5,
        "model": "V5",
        "callBackUrl": NOWHERE,
        "prompt": "[Verse] keep going",
        "style": "lofi",
        "title": "Continued",
    }
    body.update(extra)
    return body


def upload_cover_body(url: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "uploadUrl": url,
        "customMode": True,
        "instrumental": True,
        "model": "V4_5PLUS",
        "callBackUrl": NOWHERE,
        "style": "jazz",
        "title": "Jazz Cover",
    }
    body.update(extra)
    return body


def drop(body: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in names}


EXTEND_TRACK_KEYS = {
    "id", "audio_url", "stream_audio_url", "image_url", "prompt",
    "model_name", "title", "tags", "createTime", "duration",
}  # fmt: skip
SOURCE_KEYS = {"source_audio_url", "source_stream_audio_url", "source_image_url"}


# --------------------------------------------------------------------------- extend


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda b: drop(b, "defaultParamFlag"), "defaultParamFlag is required"),
        (lambda b: drop(b, "audioId"), "audioId is required"),
        (lambda b: drop(b, "model"), "model is required"),
        (lambda b: drop(b, "callBackUrl"), "callBackUrl is required"),
        (lambda b: {**b, "defaultParamFlag": "true"}, "defaultParamFlag must be a boolean"),
        (lambda b: drop(b, "prompt"), "prompt is required"),
        (lambda b: drop(b, "style"), "style is required"),
        (lambda b: drop(b, "title"), "title is required"),
        (lambda b: drop(b, "continueAt"), "continueAt is required"),
        (lambda b: {**b, "continueAt": 0}, "greater than 0"),
        (lambda b: {**b, "continueAt": 198.44}, "less than the source audio's duration"),
        (lambda b: {**b, "title": "T" * 101}, "title exceeds 100"),
        (lambda b: {**b, "style": "s" * 1001}, "style exceeds 1000"),
        (lambda b: {**b, "model": "V3_5"}, "model must be one of"),
    ],
)
async def test_extend_validation(
    kie: FakeKie, http: aiohttp.ClientSession, mutate: Any, fragment: str
) -> None:
    _, (audio_id, _) = await finished_music(http, kie)
    payload = await call(http, kie, "/api/v1/generate/extend", mutate(extend_body(audio_id)))
    assert payload["code"] == 422 and payload["data"] is None
    assert fragment in payload["msg"]
    assert kie.submissions_of("extend") == []


async def test_extend_unknown_audio_is_404_and_model_must_match(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    _, (audio_id, _) = await finished_music(http, kie, model="V4_5")
    payload = await call(http, kie, "/api/v1/generate/extend", extend_body("no-such-audio", model="V4_5"))
    assert payload["code"] == 404 and "audioId not found" in payload["msg"]
    payload = await call(http, kie, "/api/v1/generate/extend", extend_body(audio_id, model="V5"))
    assert payload == {"code": 422, "msg": "Model version must match the source audio's model version", "data": None}
    # V4 titles stay at 80 even on extend (§1.1).
    _, (v4_audio, _) = await finished_music(http, kie, model="V4")
    payload = await call(http, kie, "/api/v1/generate/extend", extend_body(v4_audio, model="V4", title="T" * 81))
    assert payload["code"] == 422 and "title exceeds 80" in payload["msg"]
    assert kie.submissions_of("extend") == []


async def test_extend_flow_callbacks_and_record_info(
    kie: FakeKie, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    source_task, (audio_id, _) = await finished_music(http, kie)
    body = extend_body(audio_id, callBackUrl=receiver.url, title="T" * 100)  # 100 is fine for V5 on extend
    task_id = await accepted(http, kie, "/api/v1/generate/extend", body)
    got = [await receiver.next() for _ in range(3)]
    await kie.drain()

    assert [g.body["data"]["callbackType"] for g in got] == ["text", "first", "complete"]
    complete = got[2].body
    assert complete["code"] == 200 and complete["data"]["task_id"] == task_id
    assert len(complete["data"]["data"]) == 2
    for track in complete["data"]["data"]:
        assert set(track) == EXTEND_TRACK_KEYS
        assert (track["title"], track["tags"], track["model_name"]) == ("T" * 100, "ambient piano", "chirp-v5")
        assert track["audio_url"].endswith(".mp3")

    assert kie.task(task_id).kind == "extend"
    assert [s.kind for s in kie.submissions] == ["generate", "extend"]
    assert kie.last_task_id == task_id
    data = await poll_info(http, kie, "/api/v1/generate/record-info", task_id)
    assert (data["status"], data["operationType"], data["parentMusicId"]) == ("SUCCESS", "extend", audio_id)
    assert json.loads(data["param"]) == body
    assert [t["id"] for t in data["response"]["sunoData"]] == [t["id"] for t in complete["data"]["data"]]
    # The generate task's record-info is unchanged.
    data = await poll_info(http, kie, "/api/v1/generate/record-info", source_task)
    assert (data["operationType"], data["parentMusicId"]) == ("generate", "")


async def test_extend_default_params_inherits_and_extensions_chain(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    kie.auto_callbacks = False
    source_task, (_, audio_id) = await finished_music(http, kie)
    body = {"defaultParamFlag": False, "audioId": audio_id, "model": "V5", "callBackUrl": NOWHERE}
    task_id = await accepted(http, kie, "/api/v1/generate/extend", body)
    source = kie.task(source_task).tracks[1]
    assert [(t.title, t.tags) for t in kie.task(task_id).tracks] == [(source.title, source.tags)] * 2
    # A track of an extension can itself be extended.
    await kie.advance(task_id, "complete", deliver=False)
    again = await accepted(
        http, kie, "/api/v1/generate/extend", {**body, "audioId": kie.task(task_id).tracks[0].audio_id}
    )
    assert kie.task(again).source_audio_id == kie.task(task_id).tracks[0].audio_id
    assert kie.find_track(audio_id) == (kie.task(source_task), source)


async def test_extend_error_callback_data_variants(
    kie: FakeKie, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    kie.auto_callbacks = False
    _, (audio_id, _) = await finished_music(http, kie)
    task_id = await accepted(http, kie, "/api/v1/generate/extend", extend_body(audio_id, callBackUrl=receiver.url))
    await kie.fail(task_id)
    assert receiver.received[-1].body == {
        "code": 501,
        "msg": "Audio generation failed",
        "data": {"callbackType": "error", "task_id": task_id, "data": None},
    }
    kie.extend_error_data_list = True
    assert kie.callback_body(task_id, "error")["data"]["data"] == []
    data = await poll_info(http, kie, "/api/v1/generate/record-info", task_id)
    assert (data["status"], data["errorCode"]) == ("GENERATE_AUDIO_FAILED", 501)


# --------------------------------------------------------------------------- upload-extend / upload-cover


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda b: drop(b, "uploadUrl"), "uploadUrl is required"),
        (lambda b: {**b, "uploadUrl": "ftp://x/y.mp3"}, "uploadUrl must be an http(s) URL"),
        (lambda b: drop(b, "instrumental"), "instrumental is required"),
        (lambda b: drop(b, "continueAt"), "continueAt is required"),
        (lambda b: drop(b, "defaultParamFlag"), "defaultParamFlag is required"),
        (lambda b: {**b, "continueAt": -1}, "greater than 0"),
        (lambda b: drop(b, "style"), "style is required"),
        (lambda b: drop(b, "title"), "title is required"),
        (lambda b: drop(b, "prompt"), "prompt is required"),
        (lambda b: drop({**b, "defaultParamFlag": False}, "prompt"), "prompt is required"),
        (lambda b: {**b, "continueAt": 180.0}, "less than the source audio's duration"),  # after the fetch
    ],
)
async def test_upload_extend_validation(
    kie: FakeKie, http: aiohttp.ClientSession, uploads: str, mutate: Any, fragment: str
) -> None:
    payload = await call(http, kie, "/api/v1/generate/upload-extend", mutate(upload_extend_body(f"{uploads}/song.mp3")))
    assert payload["code"] == 422 and fragment in payload["msg"], payload
    assert kie.submissions == []


@pytest.mark.parametrize("path", ["/api/v1/generate/upload-extend", "/api/v1/generate/upload-cover"])
async def test_upload_fetch_failure_is_451(
    kie: FakeKie, http: aiohttp.ClientSession, uploads: str, path: str
) -> None:
    make = upload_extend_body if path.endswith("extend") else upload_cover_body
    bad = [f"{uploads}/missing.mp3", "http://127.0.0.1:1/song.mp3", f"{uploads}/empty.mp3"]
    for url in bad:
        payload = await call(http, kie, path, make(url))
        assert (payload["code"], payload["data"]) == (451, None)
        assert payload["msg"].startswith("Failed to fetch the music data")
    assert kie.submissions == [] and kie.tasks == {}
    assert [(u.url, u.status) for u in kie.uploads] == [(bad[0], 404), (bad[1], 0), (bad[2], 200)]
    assert all(u.error for u in kie.uploads)


async def test_upload_extend_flow(
    kie: FakeKie, http: aiohttp.ClientSession, uploads: str, receiver: Receiver
) -> None:
    kie.auto_callbacks = False
    body = upload_extend_body(f"{uploads}/song.mp3", callBackUrl=receiver.url)
    task_id = await accepted(http, kie, "/api/v1/generate/upload-extend", body)
    task = kie.task(task_id)
    assert (task.kind, task.upload_size, kie.uploads[-1].size) == ("upload_extend", len(SONG), len(SONG))

    await kie.advance(task_id, "first")
    await kie.advance(task_id, "complete")
    first, complete = (r.body["data"]["data"] for r in receiver.received)
    assert len(first) == 1 and len(complete) == 2
    for track in (*first, *complete):
        assert set(track) == EXTEND_TRACK_KEYS | SOURCE_KEYS
        assert track["source_audio_url"] == kie.source_audio_url(task_id)
        assert track["source_stream_audio_url"] == kie.source_stream_url(task_id)
        assert track["source_image_url"] == kie.source_image_url(task_id)
    async with http.get(complete[0]["source_audio_url"]) as r:
        assert (r.status, await r.read()) == (200, SONG)
    async with http.get(complete[0]["source_stream_audio_url"]) as r:
        assert await r.read() == SONG
    async with http.get(complete[0]["source_image_url"]) as r:
        assert (r.status, r.content_type) == (200, "image/jpeg")
    assert kie.file_bytes(complete[0]["source_audio_url"]) == SONG

    data = await poll_info(http, kie, "/api/v1/generate/record-info", task_id)
    assert (data["status"], data["operationType"], data["parentMusicId"]) == ("SUCCESS", "upload_extend", "")
    assert len(data["response"]["sunoData"]) == 2


async def test_upload_cover_validation_and_flow(
    kie: FakeKie, http: aiohttp.ClientSession, uploads: str, receiver: Receiver
) -> None:
    url = f"{uploads}/song.mp3"
    cases = [
        (drop(upload_cover_body(url), "uploadUrl"), "uploadUrl is required"),
        (drop(upload_cover_body(url), "customMode"), "customMode is required"),
        (drop(upload_cover_body(url), "style"), "style is required in custom mode"),
        (upload_cover_body(url, instrumental=False), "prompt (lyrics) is required"),
        (upload_cover_body(url, title="T" * 101), "title exceeds 100"),
        (upload_cover_body(url, customMode=False, prompt="p" * 501), "prompt exceeds 500"),
        (upload_cover_body(url, customMode=False), "prompt is required in non-custom mode"),
    ]
    for body, fragment in cases:
        payload = await call(http, kie, "/api/v1/generate/upload-cover", body)
        assert payload["code"] == 422 and fragment in payload["msg"], (fragment, payload)
    assert kie.uploads == []  # validation comes before the fetch

    task_id = await accepted(
        http, kie, "/api/v1/generate/upload-cover", upload_cover_body(url, callBackUrl=receiver.url, title="T" * 100)
    )
    got = [await receiver.next() for _ in range(3)]
    await kie.drain()
    assert [g.body["data"]["callbackType"] for g in got] == ["text", "first", "complete"]
    for track in got[2].body["data"]["data"]:
        assert set(track) == EXTEND_TRACK_KEYS | SOURCE_KEYS
        assert track["model_name"] == "chirp-v4-5plus"
    assert kie.task(task_id).upload_size == len(SONG)
    data = await poll_info(http, kie, "/api/v1/generate/record-info", task_id)
    assert (data["status"], data["operationType"]) == ("SUCCESS", "upload_cover")


# --------------------------------------------------------------------------- lyrics


@pytest.mark.parametrize(
    ("body", "code", "fragment"),
    [
        ({"callBackUrl": NOWHERE}, 400, "prompt is required"),
        ({"prompt": "", "callBackUrl": NOWHERE}, 400, "prompt is required"),
        ({"prompt": "x" * 201, "callBackUrl": NOWHERE}, 413, "exceeds 200"),
        ({"prompt": "rain"}, 400, "callBackUrl is required"),
        ({"prompt": "rain", "callBackUrl": "nope"}, 400, "callBackUrl must be"),
    ],
)
async def test_lyrics_validation_uses_lyrics_code_table(
    kie: FakeKie, http: aiohttp.ClientSession, body: dict[str, Any], code: int, fragment: str
) -> None:
    payload = await call(http, kie, "/api/v1/lyrics", body)
    assert payload["code"] == code and fragment in payload["msg"]
    assert kie.submissions == []


async def test_lyrics_flow_callback_and_record_info(
    kie: FakeKie, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    kie.auto_callbacks = False
    body = {"prompt": "p" * 200, "callBackUrl": receiver.url}
    task_id = await accepted(http, kie, "/api/v1/lyrics", body)
    assert kie.submissions[-1].kind == "lyrics"

    data = await poll_info(http, kie, "/api/v1/lyrics/record-info", task_id)
    assert set(data) == {"taskId", "param", "response", "status", "type", "errorCode", "errorMessage"}
    assert (data["taskId"], data["status"], data["type"], data["response"]) == (task_id, "PENDING", "LYRICS", None)
    assert json.loads(data["param"]) == body

    with pytest.raises(ValueError, match="music-only"):
        await kie.advance(task_id, "text")
    with pytest.raises(ValueError):
        kie.callback_body(task_id, "first")

    kie.task(task_id).lyrics[1].status = "failed"
    kie.task(task_id).lyrics[1].error_message = "Unable to generate lyrics"
    await kie.advance(task_id, "complete")
    cb = receiver.received[-1].body
    assert cb["code"] == 200 and isinstance(cb["msg"], str)
    assert (cb["data"]["callbackType"], cb["data"]["task_id"]) == ("complete", task_id)
    variants = cb["data"]["data"]
    assert len(variants) == 2
    assert all(set(v) == {"text", "title", "status", "error_message"} for v in variants)
    assert [(v["status"], v["error_message"]) for v in variants] == [
        ("complete", ""),
        ("failed", "Unable to generate lyrics"),
    ]
    assert variants[0]["text"] and variants[0]["title"]

    data = await poll_info(http, kie, "/api/v1/lyrics/record-info", task_id)
    assert data["status"] == "SUCCESS"
    assert data["response"]["taskId"] == task_id
    assert data["response"]["data"] == [
        {"text": v["text"], "title": v["title"], "status": v["status"], "errorMessage": v["error_message"]}
        for v in variants
    ]
    # A lyrics task is not visible on the music record-info endpoint.
    payload = await call(http, kie, "/api/v1/generate/record-info", params={"taskId": task_id})
    assert payload["code"] == 404


async def test_lyrics_failure_and_three_variants(
    kie: FakeKie, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    kie.lyrics_variants = 3
    kie.fail_next_task(kind="lyrics")
    failed = await accepted(http, kie, "/api/v1/lyrics", {"prompt": "rain", "callBackUrl": receiver.url})
    assert (await receiver.next()).body == {
        "code": 400,
        "msg": "Song Description flagged for moderation",
        "data": {"callbackType": "complete", "task_id": failed, "data": None},
    }
    data = await poll_info(http, kie, "/api/v1/lyrics/record-info", failed)
    assert (data["status"], data["errorCode"], data["errorMessage"], data["response"]) == (
        "GENERATE_LYRICS_FAILED", 400, "Song Description flagged for moderation", None,
    )  # fmt: skip

    ok = await accepted(http, kie, "/api/v1/lyrics", {"prompt": "sun", "callBackUrl": receiver.url})
    got = await receiver.next()
    await kie.drain()
    assert got.body["data"]["task_id"] == ok and len(got.body["data"]["data"]) == 3
    assert kie.callback_results == [(failed, "error", 200), (ok, "complete", 200)]

    with pytest.raises(ValueError, match="not a failure status for lyrics"):
        await kie.fail(ok, status="GENERATE_AUDIO_FAILED")
    await kie.fail(ok, code=500, msg="server error", status="CALLBACK_EXCEPTION", deliver=False)
    assert kie.task(ok).status == "CALLBACK_EXCEPTION"


async def test_lyrics_rate_limit_code(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    kie.clock = ManualClock()
    kie.auto_callbacks = False
    kie.submit_rate_limit = (1, 10.0)
    await accepted(http, kie, "/api/v1/lyrics", {"prompt": "rain", "callBackUrl": NOWHERE})
    assert (await call(http, kie, "/api/v1/lyrics", {"prompt": "rain", "callBackUrl": NOWHERE}))["code"] == 430
    kie.lyrics_rate_limit_code = 405
    assert (await call(http, kie, "/api/v1/lyrics", {"prompt": "rain", "callBackUrl": NOWHERE}))["code"] == 405
    assert (await post_generate(http, kie, simple_body(NOWHERE)))[1]["code"] == 429


# --------------------------------------------------------------------------- separation


async def test_separation_validation(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    kie.auto_callbacks = False
    task_id, (audio_id, _) = await finished_music(http, kie)
    pending = await submit(http, kie, NOWHERE)
    pending_audio = kie.task(pending).tracks[0].audio_id
    base = {"taskId": task_id, "audioId": audio_id, "type": "separate_vocal", "callBackUrl": NOWHERE}
    cases = [
        (drop(base, "type"), 422, "type is required"),
        (drop(base, "taskId"), 422, "taskId is required"),
        (drop(base, "audioId"), 422, "audioId is required"),
        (drop(base, "callBackUrl"), 422, "callBackUrl is required"),
        ({**base, "type": "split_stem_advanced"}, 422, "type must be one of"),
        ({**base, "taskId": "nope"}, 404, "Task not found"),
        ({**base, "audioId": pending_audio}, 404, "not found in task"),
        ({**base, "taskId": pending, "audioId": pending_audio}, 422, "has not completed"),
    ]
    for body, code, fragment in cases:
        payload = await call(http, kie, "/api/v1/vocal-removal/generate", body)
        assert payload["code"] == code and fragment in payload["msg"], (fragment, payload)
    assert kie.separations == []


async def test_separate_vocal_callback_record_info_and_files(
    kie: FakeKie, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    task_id, (_, audio_id) = await finished_music(http, kie)
    kie.stem_size = 5000
    kie.clock = clock = ManualClock()
    kie.auto_callbacks = False
    body = {"taskId": task_id, "audioId": audio_id, "type": "separate_vocal", "callBackUrl": receiver.url}
    sep = await accepted(http, kie, "/api/v1/vocal-removal/generate", body)

    data = await poll_info(http, kie, "/api/v1/vocal-removal/record-info", sep)
    assert set(data) == {
        "taskId", "musicId", "callbackUrl", "musicIndex", "completeTime", "response",
        "successFlag", "createTime", "errorCode", "errorMessage",
    }  # fmt: skip
    assert (data["taskId"], data["musicId"], data["musicIndex"], data["callbackUrl"]) == (
        sep, audio_id, 1, receiver.url,
    )  # fmt: skip
    assert (data["successFlag"], data["response"], data["completeTime"]) == ("PENDING", None, None)
    assert isinstance(data["createTime"], int)

    await kie.advance(sep, "complete")
    cb = receiver.received[-1].body
    assert cb == {
        "code": 200,
        "msg": "vocal Removal generated successfully.",
        "data": {
            "task_id": sep,
            "vocal_separation_info": {
                "instrumental_url": kie.stem_url(sep, "instrumental"),
                "origin_url": "",
                "vocal_url": kie.stem_url(sep, "vocal"),
            },
        },
    }
    clock.advance(1)
    data = await poll_info(http, kie, "/api/v1/vocal-removal/record-info", sep)
    assert data["successFlag"] == "SUCCESS" and isinstance(data["completeTime"], int)
    response = data["response"]
    assert (response["instrumentalUrl"], response["vocalUrl"]) == (kie.stem_url(sep, "instrumental"),
                                                                   kie.stem_url(sep, "vocal"))  # fmt: skip
    for key in ("backingVocalsUrl", "drumsUrl", "bassUrl", "guitarUrl", "pianoUrl", "keyboardUrl",
                "percussionUrl", "stringsUrl", "synthUrl", "fxUrl", "brassUrl", "woodwindsUrl"):  # fmt: skip
        assert response[key] is None
    assert [o["stem_type_group_name"] for o in response["originData"]] == ["Instrumental", "Vocals"]
    assert {"id", "audio_url", "duration", "stem_type_group_name"} == set(response["originData"][0])

    for url in (kie.stem_url(sep, "vocal"), kie.stem_url(sep, "instrumental")):
        async with http.get(url) as r:
            assert (r.status, r.content_type, r.headers["Content-Length"]) == (200, "audio/mpeg", "5000")
            assert await r.read() == kie.file_bytes(url)
    async with http.get(kie.stem_url(sep, "drums")) as r:
        assert r.status == 404
    assert kie.downloads == [f"/files/{sep}/vocal.mp3", f"/files/{sep}/instrumental.mp3"]
    assert kie.file_urls(sep) == [kie.stem_url(sep, "instrumental"), kie.stem_url(sep, "vocal")]


async def test_split_stem_subset_key_and_failure(
    kie: FakeKie, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    task_id, (audio_id, _) = await finished_music(http, kie)
    kie.auto_callbacks = False
    kie.split_stems = ("vocal", "drums", "bass")
    kie.separation_key = "vocal_removal_info"
    body = {"taskId": task_id, "audioId": audio_id, "type": "split_stem", "callBackUrl": receiver.url}
    sep = await accepted(http, kie, "/api/v1/vocal-removal/generate", body)
    await kie.advance(sep, "complete")
    info = receiver.received[-1].body["data"]["vocal_removal_info"]
    assert set(info) == {
        "origin_url", "vocal_url", "backing_vocals_url", "bass_url", "brass_url", "drums_url", "fx_url",
        "guitar_url", "keyboard_url", "percussion_url", "strings_url", "synth_url", "woodwinds_url",
    }  # fmt: skip
    present = {k: v for k, v in info.items() if v}
    assert present == {
        "vocal_url": kie.stem_url(sep, "vocal"),
        "drums_url": kie.stem_url(sep, "drums"),
        "bass_url": kie.stem_url(sep, "bass"),
    }
    kie.omit_absent_stems = True
    assert set(kie.callback_body(sep, "complete")["data"]["vocal_removal_info"]) == {
        "origin_url", "vocal_url", "drums_url", "bass_url",
    }  # fmt: skip
    data = await poll_info(http, kie, "/api/v1/vocal-removal/record-info", sep)
    assert data["response"]["instrumentalUrl"] is None
    assert data["response"]["drumsUrl"] == kie.stem_url(sep, "drums")
    assert [o["stem_type_group_name"] for o in data["response"]["originData"]] == ["Vocals", "Bass", "Drums"]

    again = await accepted(http, kie, "/api/v1/vocal-removal/generate", body)
    await kie.fail(again)
    assert receiver.received[-1].body == {
        "code": 500,
        "msg": "Instrument separation failed",
        "data": {"task_id": again, "vocal_removal_info": None},
    }
    data = await poll_info(http, kie, "/api/v1/vocal-removal/record-info", again)
    assert (data["successFlag"], data["errorCode"], data["errorMessage"], data["response"]) == (
        "GENERATE_AUDIO_FAILED", 500, "Instrument separation failed", None,
    )  # fmt: skip


async def test_separation_counting(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    kie.auto_callbacks = False
    task_id, (a, b) = await finished_music(http, kie)

    async def separate(audio_id: str, kind: str) -> None:
        body = {"taskId": task_id, "audioId": audio_id, "type": kind, "callBackUrl": NOWHERE}
        await accepted(http, kie, "/api/v1/vocal-removal/generate", body)

    await separate(a, "separate_vocal")
    await separate(a, "split_stem")
    await separate(a, "separate_vocal")  # accepted (and billed again) - the fake only counts
    await separate(b, "split_stem")
    assert len(kie.separations) == 4
    assert all(s.kind == "separation" for s in kie.separations)
    assert kie.separation_count(a) == 3
    assert kie.separation_count(a, "separate_vocal") == 2
    assert kie.separation_count(b, "separate_vocal") == 0
    assert kie.separation_counts() == {(a, "separate_vocal"): 2, (a, "split_stem"): 1, (b, "split_stem"): 1}


# --------------------------------------------------------------------------- wav


async def test_wav_flow_409_and_failure(kie: FakeKie, http: aiohttp.ClientSession, receiver: Receiver) -> None:
    task_id, (a, b) = await finished_music(http, kie)
    kie.auto_callbacks = False
    body = {"taskId": task_id, "audioId": a, "callBackUrl": receiver.url}
    wav = await accepted(http, kie, "/api/v1/wav/generate", body)
    assert await call(http, kie, "/api/v1/wav/generate", body) == {
        "code": 409, "msg": "WAV record already exists", "data": None,
    }  # fmt: skip
    assert (await call(http, kie, "/api/v1/wav/generate", {**body, "taskId": "x"}))["code"] == 404
    assert (await call(http, kie, "/api/v1/wav/generate", drop(body, "audioId")))["code"] == 422

    data = await poll_info(http, kie, "/api/v1/wav/record-info", wav)
    assert (data["successFlag"], data["response"], data["musicId"]) == ("PENDING", None, a)
    await kie.advance(wav, "complete")
    assert receiver.received[-1].body == {
        "code": 200, "msg": "success", "data": {"audioWavUrl": kie.wav_url(wav), "task_id": wav},
    }  # fmt: skip
    data = await poll_info(http, kie, "/api/v1/wav/record-info", wav)
    assert (data["successFlag"], data["response"]) == ("SUCCESS", {"audioWavUrl": kie.wav_url(wav)})
    assert (await call(http, kie, "/api/v1/wav/generate", body))["code"] == 409  # still exists

    other = await accepted(http, kie, "/api/v1/wav/generate", {**body, "audioId": b})
    await kie.fail(other)
    assert receiver.received[-1].body == {
        "code": 500, "msg": "WAV generation failed", "data": {"audioWavUrl": None, "task_id": other},
    }  # fmt: skip
    data = await poll_info(http, kie, "/api/v1/wav/record-info", other)
    assert (data["successFlag"], data["errorCode"], data["response"]) == ("GENERATE_WAV_FAILED", 500, None)
    # After a failed conversion a new request is accepted.
    await accepted(http, kie, "/api/v1/wav/generate", {**body, "audioId": b})
    assert [s.kind for s in kie.submissions_of("wav")] == ["wav"] * 3


# --------------------------------------------------------------------------- mp4


async def test_mp4_validation_flow_and_success_code(
    kie: FakeKie, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    task_id, (a, _) = await finished_music(http, kie)
    kie.auto_callbacks = False
    body = {"taskId": task_id, "audioId": a, "callBackUrl": receiver.url, "author": "A" * 50, "domainName": "d" * 50}
    for bad, fragment in [({"author": "A" * 51}, "author exceeds 50"), ({"domainName": "d" * 51}, "domainName"),
                          ({"author": 5}, "author must be a string")]:  # fmt: skip
        payload = await call(http, kie, "/api/v1/mp4/generate", {**body, **bad})
        assert payload["code"] == 422 and fragment in payload["msg"]
    mp4 = await accepted(http, kie, "/api/v1/mp4/generate", body)
    second = await accepted(http, kie, "/api/v1/mp4/generate", drop(body, "author", "domainName"))

    await kie.advance(mp4, "complete")
    assert receiver.received[-1].body == {
        "code": 200, "msg": "success", "data": {"task_id": mp4, "video_url": kie.video_url(mp4)},
    }  # fmt: skip
    kie.mp4_success_code = 0
    await kie.resend(mp4, "complete")
    assert receiver.received[-1].body["code"] == 0
    data = await poll_info(http, kie, "/api/v1/mp4/record-info", mp4)
    assert (data["successFlag"], data["response"]) == ("SUCCESS", {"videoUrl": kie.video_url(mp4)})

    await kie.fail(second)
    assert receiver.received[-1].body == {
        "code": 500, "msg": "MP4 generation failed", "data": {"task_id": second, "video_url": None},
    }  # fmt: skip
    data = await poll_info(http, kie, "/api/v1/mp4/record-info", second)
    assert (data["successFlag"], data["errorCode"]) == ("GENERATE_MP4_FAILED", 500)
    with pytest.raises(ValueError, match="not a failure status for mp4"):
        await kie.fail(second, status="CALLBACK_EXCEPTION")


# --------------------------------------------------------------------------- every kind


def kind_request(kind: str, task_id: str, audio_id: str, callback: str) -> tuple[str, dict[str, Any]]:
    ref = {"taskId": task_id, "audioId": audio_id, "callBackUrl": callback}
    return {
        "lyrics": ("/api/v1/lyrics", {"prompt": "rain", "callBackUrl": callback}),
        "separation": ("/api/v1/vocal-removal/generate", {**ref, "type": "separate_vocal"}),
        "wav": ("/api/v1/wav/generate", ref),
        "mp4": ("/api/v1/mp4/generate", ref),
        "extend": ("/api/v1/generate/extend", extend_body(audio_id, callBackUrl=callback)),
    }[kind]


RECORD_INFO = {
    "lyrics": "/api/v1/lyrics/record-info",
    "separation": "/api/v1/vocal-removal/record-info",
    "wav": "/api/v1/wav/record-info",
    "mp4": "/api/v1/mp4/record-info",
}


@pytest.mark.parametrize("kind", ["lyrics", "separation", "wav", "mp4"])
async def test_auto_callbacks_and_failure_plans_for_every_kind(
    kie: FakeKie, http: aiohttp.ClientSession, receiver: Receiver, kind: str
) -> None:
    task_id, (a, b) = await finished_music(http, kie)
    path, body = kind_request(kind, task_id, a, receiver.url)
    ok = await accepted(http, kie, path, body)
    got = await receiver.next()
    assert got.body == kie.callback_body(ok, "complete")
    assert got.body["data"]["task_id"] == ok

    kie.fail_next_task(kind=kind)
    path, body = kind_request(kind, task_id, b, receiver.url)
    bad = await accepted(http, kie, path, body)
    got = await receiver.next()
    await kie.drain()
    assert got.body == kie.callback_body(bad, "error")
    assert kie.callback_results == [(ok, "complete", 200), (bad, "error", 200)]
    status_key = "status" if kind == "lyrics" else "successFlag"
    assert (await poll_info(http, kie, RECORD_INFO[kind], ok))[status_key] == "SUCCESS"
    failed = (await poll_info(http, kie, RECORD_INFO[kind], bad))[status_key]
    assert failed == {"lyrics": "GENERATE_LYRICS_FAILED", "separation": "GENERATE_AUDIO_FAILED",
                      "wav": "GENERATE_WAV_FAILED", "mp4": "GENERATE_MP4_FAILED"}[kind]  # fmt: skip
    # Record-info endpoints only see their own kind.
    assert (await call(http, kie, "/api/v1/generate/record-info", params={"taskId": ok}))["code"] == 404
    with pytest.raises(ValueError):
        await kie.advance(ok, "first")


async def test_kind_filtered_failure_plans_and_canned_errors(
    kie: FakeKie, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    task_id, (a, _) = await finished_music(http, kie)
    kie.fail_next_task(kind="mp4")
    kie.fail_next_submit(402, "insufficient credits", kind="wav")
    kie.fail_next_poll(500, "server error", kind="wav")

    lyr = await accepted(http, kie, *kind_request("lyrics", task_id, a, receiver.url))
    assert (await receiver.next()).body["data"]["data"] is not None  # not failed: plan is for mp4
    path, body = kind_request("wav", task_id, a, receiver.url)
    assert await call(http, kie, path, body) == {"code": 402, "msg": "insufficient credits", "data": None}
    wav = await accepted(http, kie, path, body)
    await receiver.next()
    assert (await poll_info(http, kie, "/api/v1/lyrics/record-info", lyr))["status"] == "SUCCESS"
    assert (await call(http, kie, "/api/v1/wav/record-info", params={"taskId": wav}))["code"] == 500
    mp4 = await accepted(http, kie, *kind_request("mp4", task_id, a, receiver.url))
    assert (await receiver.next()).body["data"]["video_url"] is None
    await kie.drain()
    assert kie.task(mp4).status == "GENERATE_MP4_FAILED"
    with pytest.raises(ValueError):
        kie.fail_next_task(kind="wav", status="GENERATE_MP4_FAILED")
    with pytest.raises(ValueError):
        kie.fail_next_submit(400, "x", kind="nope")


async def test_hmac_signs_every_kind(http: aiohttp.ClientSession, receiver: Receiver) -> None:
    key = b"k3y"
    async with FakeKie(hmac_key=key, wall_clock=lambda: 1_700_000_123.9) as kie:
        kie.auto_callbacks = False
        task_id, (a, b) = await finished_music(http, kie)
        ids = []
        for kind in ("extend", "lyrics", "separation", "wav", "mp4"):
            ids.append(await accepted(http, kie, *kind_request(kind, task_id, a, receiver.url)))
        for tid in ids:
            await kie.advance(tid, "complete")
            await kie.fail(tid)
    assert len(receiver.received) == 10
    for got in receiver.received:
        tid = got.body["data"]["task_id"]
        assert tid in ids
        ts = got.headers["X-Webhook-Timestamp"]
        expected = base64.b64encode(hmac.new(key, f"{tid}.{ts}".encode(), hashlib.sha256).digest()).decode()
        assert (ts, got.headers["X-Webhook-Signature"]) == ("1700000123", expected)


async def test_rate_limit_window_is_shared_by_every_submit_endpoint(
    kie: FakeKie, http: aiohttp.ClientSession, uploads: str
) -> None:
    kie.clock = clock = ManualClock()
    kie.auto_callbacks = False
    task_id, (a, _) = await finished_music(http, kie)  # 1 request in the window
    requests = [kind_request(k, task_id, a, NOWHERE) for k in ("lyrics", "separation", "mp4", "extend")]
    requests.append(("/api/v1/generate/upload-cover", upload_cover_body(f"{uploads}/song.mp3")))
    for i in range(19):
        await accepted(http, kie, *requests[i % len(requests)])
    assert len(kie.submissions) == 20
    path, body = kind_request("wav", task_id, a, NOWHERE)
    assert (await call(http, kie, path, body))["code"] == 429
    assert (await call(http, kie, *requests[0]))["code"] == 430  # lyrics: its own code table
    fetches = len(kie.uploads)
    assert (await call(http, kie, *requests[4]))["code"] == 429
    assert len(kie.uploads) == fetches  # rejected before fetching
    clock.advance(10.0)
    await accepted(http, kie, path, body)


async def test_result_file_sizes_overrides_and_downloads(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    task_id, (a, b) = await finished_music(http, kie)
    kie.auto_callbacks = False
    kie.wav_size = 11 * 1024 * 1024
    kie.video_size = 3000
    wav = await accepted(http, kie, *kind_request("wav", task_id, a, NOWHERE))
    mp4 = await accepted(http, kie, *kind_request("mp4", task_id, a, NOWHERE))
    kie.wav_size = 10
    assert kie.task(wav).file_size == 11 * 1024 * 1024  # captured at creation

    async with http.get(kie.wav_url(wav)) as r:
        assert (r.content_type, r.headers["Content-Length"]) == ("audio/wav", str(11 * 1024 * 1024))
        data = await r.read()
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE" and data == kie.file_bytes(kie.wav_url(wav))
    async with http.get(kie.video_url(mp4)) as r:
        assert (r.content_type, len(await r.read())) == ("video/mp4", 3000)
    assert kie.file_bytes(kie.video_url(mp4))[4:8] == b"ftyp"

    kie.set_file_size(kie.video_url(mp4), 11 * 1024 * 1024)
    async with http.get(kie.video_url(mp4)) as r:
        assert r.headers["Content-Length"] == str(11 * 1024 * 1024)
        await r.read()
    kie.set_file_bytes(kie.wav_url(wav), b"RIFFtiny")
    assert kie.file_bytes(kie.wav_url(wav)) == b"RIFFtiny"
    kie.set_file_size(kie.audio_url(task_id, 1), 7)
    assert kie.audio_bytes(task_id, 1) == kie.file_bytes(f"/stream/{task_id}/1")
    assert len(kie.file_bytes(kie.audio_url(task_id, 1))) == 7
    kie.set_file_bytes(kie.image_url(task_id, 0), b"img")
    assert kie.image_bytes(task_id, 0) == b"img"

    for bad in (f"/files/{wav}/video.mp4", f"/files/{mp4}/audio.wav", f"/files/{wav}/0.mp3", f"/stream/{wav}/0",
                f"/stream/{task_id}/source"):  # fmt: skip
        async with http.get(kie.base_url + bad) as r:
            assert r.status == 404
        with pytest.raises(KeyError):
            kie.file_bytes(bad)
    assert kie.downloads == [f"/files/{wav}/audio.wav", f"/files/{mp4}/video.mp4", f"/files/{mp4}/video.mp4"]
    assert kie.file_urls(wav) == [kie.wav_url(wav)] and kie.file_urls(mp4) == [kie.video_url(mp4)]


# ===========================================================================
# Later endpoints: add-instrumental / add-vocals / mashup / replace-section / timestamped lyrics /
# style boost / persona / cover image / MIDI / tuning options / billing
# ===========================================================================


def add_instrumental_body(url: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "uploadUrl": url,
        "title": "Backing Track",
        "tags": "acoustic guitar, soft piano",
        "negativeTags": "heavy metal",
        "callBackUrl": NOWHERE,
    }
    body.update(extra)
    return body


def add_vocals_body(url: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "uploadUrl": url,
        "prompt": "[Verse] rain on the window",
        "title": "Sung Rain",
        "style": "jazz vocals",
        "negativeTags": "",
        "callBackUrl": NOWHERE,
    }
    body.update(extra)
    return body


def mashup_body(base: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "uploadUrlList": [f"{base}/song.mp3", f"{base}/song.mp3"],
        "customMode": True,
        "model": "V5",
        "callBackUrl": NOWHERE,
        "style": "electro swing",
        "title": "Both At Once",
        "instrumental": True,
    }
    body.update(extra)
    return body


def replace_body(task_id: str, audio_id: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "taskId": task_id,
        "audioId": audio_id,
        "prompt": "[Verse 2] a brand new verse",
        "tags": "ambient piano",
        "title": "Rain (edit)",
        "infillStartS": 10.5,
        "infillEndS": 20.75,
        "callBackUrl": NOWHERE,
    }
    body.update(extra)
    return body


def persona_body(task_id: str, audio_id: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"taskId": task_id, "audioId": audio_id, "name": "Rainy", "description": "soft alto"}
    body.update(extra)
    return body


def custom_generate_body(**extra: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"customMode": True, "style": "folk", "title": "Rain", "prompt": "[Verse] rain"}
    return simple_body(NOWHERE, **{**fields, **extra})


async def finished_separation(http: aiohttp.ClientSession, fake: FakeKie, type_: str = "split_stem") -> str:
    """A separation task at SUCCESS (no callbacks sent) of a finished music track; returns its taskId."""
    task_id, (audio_id, _) = await finished_music(http, fake)
    auto, fake.auto_callbacks = fake.auto_callbacks, False
    try:
        body = {"taskId": task_id, "audioId": audio_id, "type": type_, "callBackUrl": NOWHERE}
        sep = await accepted(http, fake, "/api/v1/vocal-removal/generate", body)
        await fake.advance(sep, "complete", deliver=False)
    finally:
        fake.auto_callbacks = auto
    return sep


# --------------------------------------------------------------------------- add-instrumental / add-vocals


@pytest.mark.parametrize(
    ("path", "mutate", "fragment"),
    [
        ("/api/v1/generate/add-instrumental", lambda b: drop(b, "uploadUrl"), "uploadUrl is required"),
        ("/api/v1/generate/add-instrumental", lambda b: drop(b, "tags"), "tags is required"),
        ("/api/v1/generate/add-instrumental", lambda b: drop(b, "negativeTags"), "negativeTags is required"),
        ("/api/v1/generate/add-instrumental", lambda b: drop(b, "title"), "title is required"),
        ("/api/v1/generate/add-instrumental", lambda b: drop(b, "callBackUrl"), "callBackUrl is required"),
        ("/api/v1/generate/add-instrumental", lambda b: {**b, "title": "T" * 81}, "title exceeds 80"),
        ("/api/v1/generate/add-instrumental", lambda b: {**b, "tags": "t" * 1001}, "tags exceeds 1000"),
        ("/api/v1/generate/add-instrumental", lambda b: {**b, "model": "V4_5"}, "model must be one of V4_5PLUS, V5"),
        ("/api/v1/generate/add-instrumental", lambda b: {**b, "uploadUrl": "ftp://x"}, "uploadUrl must be an http"),
        ("/api/v1/generate/add-instrumental", lambda b: {**b, "styleWeight": 1.01}, "styleWeight must be a number"),
        ("/api/v1/generate/add-vocals", lambda b: drop(b, "prompt"), "prompt is required"),
        ("/api/v1/generate/add-vocals", lambda b: drop(b, "style"), "style is required"),
        ("/api/v1/generate/add-vocals", lambda b: {**b, "prompt": "p" * 5001}, "prompt exceeds 5000"),
        ("/api/v1/generate/add-vocals", lambda b: {**b, "model": "V4"}, "model must be one of"),
        ("/api/v1/generate/add-vocals", lambda b: {**b, "vocalGender": "x"}, "vocalGender"),
    ],
)
async def test_add_instrumental_and_vocals_validation(
    kie: FakeKie, http: aiohttp.ClientSession, uploads: str, path: str, mutate: Any, fragment: str
) -> None:
    make = add_instrumental_body if path.endswith("instrumental") else add_vocals_body
    payload = await call(http, kie, path, mutate(make(f"{uploads}/song.mp3")))
    assert payload["code"] == 422 and fragment in payload["msg"], payload
    assert kie.submissions == [] and kie.uploads == []  # refused before fetching


async def test_add_instrumental_flow(
    kie: FakeKie, http: aiohttp.ClientSession, uploads: str, receiver: Receiver
) -> None:
    body = add_instrumental_body(f"{uploads}/song.mp3", callBackUrl=receiver.url, styleWeight=0.61, vocalGender="f")
    task_id = await accepted(http, kie, "/api/v1/generate/add-instrumental", body)
    stages = [await receiver.next() for _ in range(3)]
    assert [r.body["data"]["callbackType"] for r in stages] == ["text", "first", "complete"]
    tracks = stages[-1].body["data"]["data"]
    assert stages[-1].body["data"]["task_id"] == task_id and len(tracks) == 2
    assert set(tracks[0]) == EXTEND_TRACK_KEYS  # no source_* fields (documented for upload kinds only)
    assert (tracks[0]["title"], tracks[0]["tags"], tracks[0]["model_name"]) == (
        "Backing Track", "acoustic guitar, soft piano", "chirp-v4-5plus",  # model defaults to V4_5PLUS
    )  # fmt: skip
    task = kie.task(task_id)
    assert (task.kind, task.model, task.upload_bytes, task.tuning) == (
        "add_instrumental", "V4_5PLUS", SONG, {"styleWeight": 0.61, "vocalGender": "f"},
    )  # fmt: skip
    assert [u.url for u in kie.uploads] == [f"{uploads}/song.mp3"]
    data = await poll_info(http, kie, "/api/v1/generate/record-info", task_id)
    assert (data["status"], data["operationType"], data["parentMusicId"]) == ("SUCCESS", "add_instrumental", "")
    assert [t["id"] for t in data["response"]["sunoData"]] == [t["id"] for t in tracks]
    async with http.get(tracks[0]["audio_url"]) as r:
        assert r.status == 200 and await r.read() == kie.audio_bytes(task_id, 0)
    assert kie.submissions_of("add_instrumental")[0].task_id == task_id
    # A track it made is a music track like any other (separation accepts it).
    kie.auto_callbacks = False
    sep = {"taskId": task_id, "audioId": tracks[0]["id"], "type": "separate_vocal", "callBackUrl": NOWHERE}
    await accepted(http, kie, "/api/v1/vocal-removal/generate", sep)
    payload = await call(http, kie, "/api/v1/generate/add-instrumental", {**body, "uploadUrl": f"{uploads}/nope"})
    assert (payload["code"], payload["msg"]) == (451, "Failed to fetch the music data")
    await kie.drain()


async def test_add_vocals_flow_model_and_missing_tags(
    kie: FakeKie, http: aiohttp.ClientSession, uploads: str, receiver: Receiver
) -> None:
    kie.auto_callbacks = False
    body = add_vocals_body(f"{uploads}/song.mp3", model="V5", callBackUrl=receiver.url)
    task_id = await accepted(http, kie, "/api/v1/generate/add-vocals", body)
    await kie.advance(task_id, "complete")
    track = receiver.received[-1].body["data"]["data"][0]
    assert (track["title"], track["tags"], track["prompt"], track["model_name"]) == (
        "Sung Rain", "jazz vocals", "[Verse] rain on the window", "chirp-v5",
    )  # fmt: skip
    kie.add_vocals_omit_tags = True  # §3.1: add-vocals items may lack tags
    assert "tags" not in kie.callback_body(task_id, "complete")["data"]["data"][0]
    data = await poll_info(http, kie, "/api/v1/generate/record-info", task_id)
    assert "tags" not in data["response"]["sunoData"][0] and data["operationType"] == "add_vocals"


# --------------------------------------------------------------------------- mashup


async def test_mashup_validation_fetches_and_flow(
    kie: FakeKie, http: aiohttp.ClientSession, uploads: str, receiver: Receiver
) -> None:
    kie.auto_callbacks = False
    path = "/api/v1/generate/mashup"
    song = f"{uploads}/song.mp3"
    cases: list[tuple[dict[str, Any], str]] = [
        ({"uploadUrlList": [song]}, "exactly 2 URLs"),
        ({"uploadUrlList": [song, song, song]}, "exactly 2 URLs"),
        ({"uploadUrlList": song}, "exactly 2 URLs"),
        ({"uploadUrlList": [song, "nope"]}, "entries must be http(s) URLs"),
        ({"instrumental": "yes"}, "instrumental must be a boolean"),
        ({"style": ""}, "style is required in custom mode"),
        ({"instrumental": False}, "prompt (lyrics) is required"),
        ({"title": "T" * 101}, "title exceeds 100"),
        ({"model": "V4_5ALL", "title": "T" * 81}, "title exceeds 80"),
        ({"model": "V3_5"}, "model must be one of"),
        ({"customMode": None}, "customMode is required"),
        ({"weirdnessConstraint": 0.123}, "at most 2 decimal places"),
    ]
    for change, fragment in cases:
        payload = await call(http, kie, path, mashup_body(uploads, **change))
        assert payload["code"] == 422 and fragment in payload["msg"], (change, payload)
    assert kie.uploads == []
    payload = await call(http, kie, path, mashup_body(uploads, uploadUrlList=[song, f"{uploads}/empty.mp3"]))
    assert payload["code"] == 451 and [u.error for u in kie.uploads] == [None, "empty body"]

    body = mashup_body(uploads, customMode=False, prompt="two songs, one groove", callBackUrl=receiver.url)
    del body["instrumental"]  # optional here (default false)
    task_id = await accepted(http, kie, path, body)
    task = kie.task(task_id)
    assert (task.kind, task.upload_list, len(kie.uploads)) == ("mashup", [SONG, SONG], 4)
    for stage in ("text", "first", "complete"):
        await kie.advance(task_id, stage)
    assert [r.body["data"]["callbackType"] for r in receiver.received] == ["text", "first", "complete"]
    assert receiver.received[-1].body["data"]["data"][0]["prompt"].startswith("[Verse]\ntwo songs")
    data = await poll_info(http, kie, "/api/v1/generate/record-info", task_id)
    assert (data["status"], data["operationType"], len(data["response"]["sunoData"])) == ("SUCCESS", "mashup", 2)


# --------------------------------------------------------------------------- sounds


def sounds_body(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "prompt": "soft rain with distant thunder",
        "model": "V5",
        "soundLoop": True,
        "soundTempo": 120,
        "soundKey": "F#m",
        "grabLyrics": False,
        "callBackUrl": NOWHERE,
    }
    body.update(extra)
    return body


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda b: drop(b, "prompt"), "prompt is required"),
        (lambda b: {**b, "prompt": "   "}, "prompt is required"),
        (lambda b: {**b, "prompt": 42}, "prompt must be a string"),
        (lambda b: {**b, "prompt": "p" * 501}, "prompt exceeds 500 characters (got 501)"),
        (lambda b: drop(b, "model"), "model is required"),
        (lambda b: {**b, "model": "V4_5PLUS"}, "model must be one of V5, V5_5 for sounds (got 'V4_5PLUS')"),
        (lambda b: {**b, "model": "v5"}, "model must be one of V5, V5_5"),
        (lambda b: {**b, "soundTempo": 0}, "soundTempo must be between 1 and 300 BPM (got 0)"),
        (lambda b: {**b, "soundTempo": 301}, "soundTempo must be between 1 and 300 BPM (got 301)"),
        (lambda b: {**b, "soundTempo": 120.5}, "soundTempo must be an integer (BPM) or null"),
        (lambda b: {**b, "soundTempo": "120"}, "soundTempo must be an integer (BPM) or null"),
        (lambda b: {**b, "soundTempo": True}, "soundTempo must be an integer (BPM) or null"),
        (lambda b: {**b, "soundKey": "H"}, "soundKey must be one of Any, Cm, C#m"),
        (lambda b: {**b, "soundKey": "cm"}, "(got 'cm')"),
        (lambda b: {**b, "soundKey": None}, "soundKey must be one of"),
        (lambda b: {**b, "soundLoop": "true"}, "soundLoop must be a boolean (got 'true')"),
        (lambda b: {**b, "soundLoop": 1}, "soundLoop must be a boolean"),
        (lambda b: {**b, "soundLoop": None}, "soundLoop must be a boolean"),
        (lambda b: {**b, "grabLyrics": "no"}, "grabLyrics must be a boolean"),
        (lambda b: {**b, "callBackUrl": "ftp://x/cb"}, "callBackUrl must be an http(s) URL"),
    ],
)
async def test_sounds_validation(kie: FakeKie, http: aiohttp.ClientSession, mutate: Any, fragment: str) -> None:
    payload = await call(http, kie, "/api/v1/generate/sounds", mutate(sounds_body()))
    assert payload["code"] == 422 and fragment in payload["msg"] and payload["data"] is None, payload
    assert kie.submissions == [] and kie.tasks == {}


async def test_sounds_flow_callbacks_record_info_and_settings(
    kie: FakeKie, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    kie.auto_callbacks = False
    body = sounds_body(callBackUrl=receiver.url, grabLyrics=True)
    task_id = await accepted(http, kie, "/api/v1/generate/sounds", body)
    [sub] = kie.submissions_of("sounds")
    assert (sub.task_id, sub.body, sub.kind) == (task_id, body, "sounds")
    assert sub.sound == kie.task(task_id).sound == SoundSettings(loop=True, tempo=120, key="F#m", grab_lyrics=True)
    assert (kie.task(task_id).kind, kie.task(task_id).model, kie.last_task_id) == ("sounds", "V5", task_id)

    for stage in ("text", "first", "complete"):
        await kie.advance(task_id, stage)
    assert [r.body["data"]["callbackType"] for r in receiver.received] == ["text", "first", "complete"]
    assert [len(r.body["data"]["data"]) for r in receiver.received] == [0, 1, 2]
    tracks = receiver.received[-1].body["data"]["data"]
    assert receiver.received[-1].body["code"] == 200 and receiver.received[-1].body["data"]["task_id"] == task_id
    for n, track in enumerate(tracks):
        assert set(track) == EXTEND_TRACK_KEYS  # the music track shape, no source_* fields
        assert track["prompt"] == ""  # instrumental: no lyrics
        assert 5 <= track["duration"] <= 30  # a sound effect is short
        assert (track["model_name"], track["tags"]) == ("chirp-v5", "sound effect, loop, 120 BPM, F#m")
        assert track["title"] == "Soft Rain With Distant"
        async with http.get(track["audio_url"]) as r:
            assert r.status == 200 and await r.read() == kie.audio_bytes(task_id, n)
        async with http.get(track["stream_audio_url"]) as r:
            assert r.status == 200
        async with http.get(track["image_url"]) as r:
            assert r.status == 200 and r.content_type == "image/jpeg"

    data = await poll_info(http, kie, "/api/v1/generate/record-info", task_id)
    assert (data["status"], data["operationType"], data["type"], data["parentMusicId"]) == (
        "SUCCESS", "sounds", "GENERATE", "",
    )  # fmt: skip
    assert json.loads(data["param"]) == body
    sono = data["response"]["sunoData"]
    assert [t["id"] for t in sono] == [t["id"] for t in tracks]
    assert [t["audioUrl"] for t in sono] == [t["audio_url"] for t in tracks]
    assert [(t["duration"], t["prompt"]) for t in sono] == [(t["duration"], "") for t in tracks]


async def test_sounds_defaults_v5_5_no_callback_and_failure(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    kie.auto_callbacks = False
    # Only prompt and model are required; callBackUrl is optional; soundTempo null = Auto.
    task_id = await accepted(http, kie, "/api/v1/generate/sounds",
                             {"prompt": "door creak", "model": "V5_5", "soundTempo": None})  # fmt: skip
    assert kie.submissions_of("sounds")[0].sound == SoundSettings(loop=False, tempo=None, key="Any", grab_lyrics=False)
    assert await kie.advance(task_id, "complete") is None  # no callBackUrl: nothing delivered
    data = await poll_info(http, kie, "/api/v1/generate/record-info", task_id)
    assert [(t["tags"], t["modelName"]) for t in data["response"]["sunoData"]] == [("sound effect", "chirp-v5-5")] * 2
    kie.sound_durations = (3.0,)  # tasks created from now on
    other = await accepted(http, kie, "/api/v1/generate/sounds", sounds_body())
    assert [t.duration for t in kie.task(other).tracks] == [3.0]
    await kie.fail(other, deliver=False)
    data = await poll_info(http, kie, "/api/v1/generate/record-info", other)
    assert (data["status"], data["errorCode"], data["errorMessage"]) == (
        "GENERATE_AUDIO_FAILED", 501, "Audio generation failed",
    )  # fmt: skip
    # Only sounds submissions report sound settings.
    generate_id = await submit(http, kie, NOWHERE)
    assert [s.sound for s in kie.submissions if s.task_id == generate_id] == [None]


# --------------------------------------------------------------------------- replace-section


async def test_replace_section_validation(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    kie.track_durations = (100.0, 120.0)
    task_id, (a, b) = await finished_music(http, kie)
    kie.auto_callbacks = False
    pending = await submit(http, kie, NOWHERE)
    pending_audio = kie.task(pending).tracks[0].audio_id
    base = replace_body(task_id, a)
    cases: list[tuple[dict[str, Any], int, str]] = [
        (drop(base, "prompt"), 422, "prompt is required"),
        (drop(base, "tags"), 422, "tags is required"),
        (drop(base, "title"), 422, "title is required"),
        (drop(base, "infillStartS"), 422, "infillStartS is required"),
        (drop(base, "taskId"), 422, "taskId is required"),
        ({**base, "infillStartS": "10"}, 422, "infillStartS must be a number"),
        ({**base, "infillEndS": 20.755}, 422, "infillEndS allows at most 2 decimal places"),
        ({**base, "infillStartS": 20.75}, 422, "infillStartS must be less than infillEndS"),
        ({**base, "infillEndS": 16.49}, 422, "between 6 and 60 seconds (got 5.99)"),
        ({**base, "infillStartS": 0, "infillEndS": 60.01}, 422, "between 6 and 60 seconds (got 60.01)"),
        ({**base, "infillStartS": 0, "infillEndS": 50.01}, 422, "must not exceed 50% of the track's duration"),
        ({**base, "infillStartS": 95, "infillEndS": 101}, 422, "infillEndS must not exceed the track's duration"),
        ({**base, "callBackUrl": "nope"}, 422, "callBackUrl must be an http(s) URL"),
        ({**base, "title": "T" * 101}, 422, "title exceeds 100"),  # V5 source: extend's title limit
        ({**base, "fullLyrics": 5}, 422, "fullLyrics must be a string"),
        ({**base, "taskId": "nope"}, 404, "Task not found"),
        ({**base, "audioId": pending_audio}, 404, "not found in task"),
        ({**base, "taskId": pending, "audioId": pending_audio}, 422, "has not completed"),
    ]
    for body, code, fragment in cases:
        payload = await call(http, kie, "/api/v1/generate/replace-section", body)
        assert payload["code"] == code and fragment in payload["msg"], (body, payload)
    assert kie.submissions_of("replace_section") == []
    # The limits themselves are accepted: 6 s, exactly half of the track, 60 s up to the track's end.
    for audio_id, start, end in ((a, 0, 6), (a, 0, 50), (b, 60, 120)):
        await accepted(http, kie, "/api/v1/generate/replace-section",
                       {**base, "audioId": audio_id, "infillStartS": start, "infillEndS": end})  # fmt: skip
    kie.expire(task_id)
    payload = await call(http, kie, "/api/v1/generate/replace-section", base)
    assert payload["code"] == 404 and "expired" in payload["msg"]


async def test_replace_section_complete_only_callbacks_and_record_info(
    kie: FakeKie, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    task_id, (a, _) = await finished_music(http, kie)  # auto callbacks stay on
    body = replace_body(task_id, a, callBackUrl=receiver.url, fullLyrics="[Verse]\nall of it\n[Verse 2]\nnew")
    rs = await accepted(http, kie, "/api/v1/generate/replace-section", body)
    got = await receiver.next()
    await kie.drain()
    assert len(receiver.received) == 1  # complete only: no text / first stages
    assert got.body == kie.callback_body(rs, "complete")
    assert (got.body["code"], got.body["msg"], got.body["data"]["callbackType"], got.body["data"]["task_id"]) == (
        200, "All generated successfully.", "complete", rs,
    )  # fmt: skip
    (track,) = got.body["data"]["data"]  # one track
    assert set(track) == EXTEND_TRACK_KEYS
    assert (track["duration"], track["title"], track["tags"], track["prompt"], track["model_name"]) == (
        198.44, "Rain (edit)", "ambient piano", "[Verse]\nall of it\n[Verse 2]\nnew", "chirp-v5",
    )  # fmt: skip
    data = await poll_info(http, kie, "/api/v1/generate/record-info", rs)
    assert (data["status"], data["operationType"], data["parentMusicId"]) == ("SUCCESS", "replace_section", a)
    assert [t["id"] for t in data["response"]["sunoData"]] == [track["id"]]
    with pytest.raises(ValueError, match="only has 'complete'"):
        await kie.advance(rs, "first")
    with pytest.raises(ValueError):
        kie.callback_body(rs, "text")

    kie.fail_next_task(kind="replace_section")
    bad = await accepted(http, kie, "/api/v1/generate/replace-section", body)
    got = await receiver.next()
    await kie.drain()
    assert got.body == {
        "code": 501,
        "msg": "Audio generation failed",
        "data": {"callbackType": "error", "task_id": bad, "error": "Generation failed due to technical issues"},
    }
    data = await poll_info(http, kie, "/api/v1/generate/record-info", bad)
    assert (data["status"], data["errorCode"], data["errorMessage"]) == (
        "GENERATE_AUDIO_FAILED", 501, "Audio generation failed",
    )  # fmt: skip

    # callBackUrl is optional here: the task runs, record-info tells, nothing is delivered.
    quiet = await accepted(http, kie, "/api/v1/generate/replace-section", drop(body, "callBackUrl"))
    await kie.drain()
    assert kie.task(quiet).status == "SUCCESS" and kie.task(quiet).callback_url == ""
    assert await kie.advance(quiet, "complete") is None
    with pytest.raises(ValueError, match="without a callBackUrl"):
        await kie.resend(quiet, "complete")
    assert [t for t, _, _ in kie.callback_results] == [rs, bad]


# --------------------------------------------------------------------------- timestamped lyrics


async def test_timestamped_lyrics(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    kie.auto_callbacks = False
    task_id = await accepted(http, kie, "/api/v1/generate", custom_generate_body(prompt="[Verse] Night city\nlights"))
    a, b = (t.audio_id for t in kie.task(task_id).tracks)
    path = "/api/v1/generate/get-timestamped-lyrics"
    payload = await call(http, kie, path, {"taskId": task_id, "audioId": a})
    assert payload["code"] == 422 and "has not completed" in payload["msg"]  # not finished yet
    await kie.advance(task_id, "complete", deliver=False)

    payload = await call(http, kie, path, {"taskId": task_id, "audioId": a})
    assert (payload["code"], payload["msg"]) == (200, "success")
    data = payload["data"]
    assert set(data) == {"alignedWords", "waveformData", "hootCer", "isStreamed"}
    assert data == kie.timestamped_lyrics(a)
    words = data["alignedWords"]
    slot = 198.44 / 3
    assert words == [
        {"word": "[Verse]\nNight", "success": True, "startS": 0.0, "endS": round(0.9 * slot, 2), "palign": 0},
        {"word": "city", "success": True, "startS": round(slot, 2), "endS": round(1.9 * slot, 2), "palign": 0},
        {"word": "lights", "success": True, "startS": round(2 * slot, 2), "endS": round(2.9 * slot, 2),
         "palign": 0},
    ]  # fmt: skip
    assert data["isStreamed"] is False and all(0 <= v <= 1 for v in data["waveformData"])
    # Deterministic: the same answer again; the words follow the track's (editable) lyrics.
    assert (await call(http, kie, path, {"taskId": task_id, "audioId": a}))["data"] == data
    kie.find_track(b)[1].prompt = "la la"
    assert [w["word"] for w in kie.timestamped_lyrics(b)["alignedWords"]] == ["la", "la"]
    scripted = [{"word": "Hello", "success": True, "startS": 1.5, "endS": 2.0, "palign": 0.93}]
    kie.set_timestamped_lyrics(b, scripted, hoot_cer=0.12)
    got = (await call(http, kie, path, {"taskId": task_id, "audioId": b}))["data"]
    assert (got["alignedWords"], got["hootCer"]) == (scripted, 0.12)

    # An instrumental track has no words.
    instrumental = await submit(http, kie, NOWHERE, customMode=True, instrumental=True, style="ambient", title="I")
    await kie.advance(instrumental, "complete", deliver=False)
    audio = kie.task(instrumental).tracks[0].audio_id
    got = (await call(http, kie, path, {"taskId": instrumental, "audioId": audio}))["data"]
    assert got["alignedWords"] == [] and got["waveformData"]

    for body, code in [({"taskId": task_id}, 422), ({"taskId": task_id, "audioId": ""}, 422),
                       ({"taskId": "nope", "audioId": a}, 404), ({"taskId": instrumental, "audioId": a}, 404)]:
        assert (await call(http, kie, path, body))["code"] == code, body  # fmt: skip
    assert [s.kind for s in kie.submissions_of("timestamped_lyrics")] == ["timestamped_lyrics"] * 4
    assert kie.last_task_id == instrumental  # synchronous calls make no task
    assert not any(t.kind == "timestamped_lyrics" for t in kie.tasks.values())


# --------------------------------------------------------------------------- style boost


async def test_style_boost(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    kie.wall_clock = lambda: 1_735_689_600.0  # 2025-01-01 00:00:00 UTC
    path = "/api/v1/style/generate"
    payload = await call(http, kie, path, {"content": "Pop, Mysterious"})
    assert (payload["code"], payload["msg"]) == (200, "success")
    data = payload["data"]
    assert set(data) == {"taskId", "param", "result", "creditsConsumed", "creditsRemaining", "successFlag",
                         "errorCode", "errorMessage", "createTime"}  # fmt: skip
    assert data["result"] == kie.style_result("Pop, Mysterious").result
    assert data["result"].startswith("Pop mysterious with ") and len(data["result"]) > 40
    assert (data["successFlag"], data["errorCode"], data["errorMessage"], data["createTime"]) == (
        "1", None, None, "2025-01-01 00:00:00",
    )  # fmt: skip
    assert json.loads(data["param"]) == {"content": "Pop, Mysterious"}
    assert (data["creditsConsumed"], data["creditsRemaining"]) == (0, 1000)  # kie prices nothing by default
    assert kie.submissions_of("style_boost")[0].task_id == data["taskId"]

    kie.set_style_result("Jazz", "Smoky late-night jazz", success_flag="2", error_code=500, error_message="boom")
    data = (await call(http, kie, path, {"content": "Jazz"}))["data"]
    assert (data["result"], data["successFlag"], data["errorCode"], data["errorMessage"]) == (
        "Smoky late-night jazz", "2", 500, "boom",
    )  # fmt: skip
    for body, fragment in [({}, "content is required"), ({"content": "  "}, "content is required"),
                           ({"content": 3}, "content must be a string")]:  # fmt: skip
        payload = await call(http, kie, path, body)
        assert payload["code"] == 422 and fragment in payload["msg"]

    # Priced (kie's prices are UNCONFIRMED: a test sets them): billed, and refused when unaffordable.
    kie.costs["style_boost"] = 3
    kie.credits = 4
    data = (await call(http, kie, path, {"content": "Rock"}))["data"]
    assert (data["creditsConsumed"], data["creditsRemaining"], kie.credits) == (3, 1, 1)
    assert kie.charges == {data["taskId"]: 3}
    assert await call(http, kie, path, {"content": "Rock"}) == {"code": 402, "msg": "Insufficient credits",
                                                                "data": None}  # fmt: skip
    kie.fail_next_submit(500, "Server error", kind="style_boost")
    assert (await call(http, kie, path, {"content": "Rock"}))["code"] == 500


# --------------------------------------------------------------------------- persona


async def test_persona_creation_rules(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    kie.track_durations = (25.0, 198.44)
    task_id, (a, b) = await finished_music(http, kie)
    kie.auto_callbacks = False
    pending = await submit(http, kie, NOWHERE)
    path = "/api/v1/generate/generate-persona"
    cases: list[tuple[dict[str, Any], int, str]] = [
        (drop(persona_body(task_id, b), "name"), 422, "name is required"),
        (drop(persona_body(task_id, b), "description"), 422, "description is required"),
        (persona_body(task_id, b, vocalStart=5, vocalEnd=14.5), 422, "between 10 and 30 seconds (got 9.5)"),
        (persona_body(task_id, b, vocalEnd=31), 422, "between 10 and 30 seconds (got 31)"),
        (persona_body(task_id, b, vocalStart=40), 422, "vocalStart must be less than vocalEnd"),
        (persona_body(task_id, b, vocalStart="0"), 422, "vocalStart must be a number"),
        (persona_body(task_id, b, style=7), 422, "style must be a string"),
        (persona_body(task_id, a), 422, "vocalEnd must not exceed the track's duration (25.0 s)"),
        (persona_body("nope", b), 404, "Task not found"),
        (persona_body(pending, kie.task(pending).tracks[0].audio_id), 422, "has not completed"),
    ]
    for body, code, fragment in cases:
        payload = await call(http, kie, path, body)
        assert payload["code"] == code and fragment in payload["msg"], (body, payload)
    assert kie.personas == {}

    payload = await call(http, kie, path, persona_body(task_id, b, vocalStart=12.5, vocalEnd=40, style="alto"))
    assert (payload["code"], payload["msg"]) == (200, "success")
    data = payload["data"]
    assert set(data) == {"personaId", "name", "description"}
    assert (data["name"], data["description"]) == ("Rainy", "soft alto")
    persona = kie.personas[data["personaId"]]
    assert kie.persona_for(b) is persona and kie.persona_for(a) is None
    assert (persona.task_id, persona.audio_id, persona.vocal_start, persona.vocal_end, persona.style,
            persona.model) == (task_id, b, 12.5, 40.0, "alto", "V5")  # fmt: skip
    assert await call(http, kie, path, persona_body(task_id, b)) == {
        "code": 409, "msg": "Persona already exists", "data": None,
    }  # fmt: skip
    # Defaults 0-30 s fit the 25 s track? No: vocalEnd 30 > 25 -> a shorter window is needed.
    ok = await call(http, kie, path, persona_body(task_id, a, vocalEnd=20))
    assert ok["code"] == 200 and kie.personas[ok["data"]["personaId"]].vocal_start == 0.0
    assert [s.task_id for s in kie.submissions_of("persona")] == [data["personaId"], ok["data"]["personaId"]]
    kie.expire(task_id)
    kie.personas.clear()
    assert (await call(http, kie, path, persona_body(task_id, b)))["code"] == 404


async def test_persona_use_on_generate_extend_and_uploads(
    kie: FakeKie, http: aiohttp.ClientSession, uploads: str
) -> None:
    task_id, (a, b) = await finished_music(http, kie)
    kie.auto_callbacks = False
    made = await call(http, kie, "/api/v1/generate/generate-persona", persona_body(task_id, a))
    pid = made["data"]["personaId"]

    gen = await accepted(http, kie, "/api/v1/generate", custom_generate_body(personaId=pid))
    assert (kie.task(gen).persona_id, kie.task(gen).persona_model) == (pid, "style_persona")
    voice_body = custom_generate_body(personaId=pid, personaModel="voice_persona")
    voice = await accepted(http, kie, "/api/v1/generate", voice_body)
    assert kie.task(voice).persona_model == "voice_persona"
    plain = await accepted(http, kie, "/api/v1/generate", custom_generate_body(personaId=""))
    assert kie.task(plain).persona_id is None  # empty = none

    refusals: list[tuple[str, dict[str, Any], int, str]] = [
        ("/api/v1/generate", custom_generate_body(personaId="nope"), 404, "personaId not found"),
        ("/api/v1/generate", simple_body(NOWHERE, personaId=pid), 422, "only available in custom mode"),
        ("/api/v1/generate", custom_generate_body(personaId=pid, model="V4_5", personaModel="voice_persona"), 422,
         "only available with model V5"),
        ("/api/v1/generate", custom_generate_body(personaId=pid, personaModel="x"), 422, "personaModel must be"),
        ("/api/v1/generate", custom_generate_body(personaId=5), 422, "personaId must be a string"),
        ("/api/v1/generate/extend", extend_body(b, defaultParamFlag=False, personaId=pid), 422,
         "only available with defaultParamFlag true"),
        ("/api/v1/generate/upload-cover", upload_cover_body(f"{uploads}/song.mp3", personaId="nope"), 404,
         "personaId not found"),
    ]  # fmt: skip
    for path, body, code, fragment in refusals:
        payload = await call(http, kie, path, body)
        assert payload["code"] == code and fragment in payload["msg"], (body, payload)

    ext = await accepted(http, kie, "/api/v1/generate/extend", extend_body(b, personaId=pid))
    cover = await accepted(http, kie, "/api/v1/generate/upload-cover",
                           upload_cover_body(f"{uploads}/song.mp3", personaId=pid))  # fmt: skip
    upext = await accepted(http, kie, "/api/v1/generate/upload-extend",
                           upload_extend_body(f"{uploads}/song.mp3", personaId=pid))  # fmt: skip
    assert [kie.task(t).persona_id for t in (ext, cover, upext)] == [pid] * 3

    # The scripting hook registers one without HTTP.
    other = kie.add_persona(b, "Scripted", persona_id="persona_123")
    assert kie.personas["persona_123"] is other and kie.persona_for(b) is other
    assert kie.task(await accepted(http, kie, "/api/v1/generate",
                                   custom_generate_body(personaId="persona_123"))).persona_id == "persona_123"


# --------------------------------------------------------------------------- cover image


async def test_cover_image_flow_duplicate_and_failure(http: aiohttp.ClientSession, receiver: Receiver) -> None:
    key = b"k3y"
    async with FakeKie(hmac_key=key, wall_clock=lambda: 1_736_935_981.0) as kie:
        task_id, _ = await finished_music(http, kie)
        kie.auto_callbacks = False
        kie.image_size = 3000
        kie.costs["cover_image"] = 5
        path = "/api/v1/suno/cover/generate"
        for body, code in [({"callBackUrl": receiver.url}, 422), ({"taskId": task_id}, 422),
                           ({"taskId": "nope", "callBackUrl": receiver.url}, 404)]:
            assert (await call(http, kie, path, body))["code"] == code  # fmt: skip
        pending = await submit(http, kie, NOWHERE)
        assert (await call(http, kie, path, {"taskId": pending, "callBackUrl": receiver.url}))["code"] == 422

        cover = await accepted(http, kie, path, {"taskId": task_id, "callBackUrl": receiver.url})
        assert kie.credits == 995 and kie.cover_task_for(task_id) is kie.task(cover)
        data = await poll_info(http, kie, "/api/v1/suno/cover/record-info", cover)
        assert set(data) == {"taskId", "parentTaskId", "callbackUrl", "completeTime", "response", "successFlag",
                             "createTime", "errorCode", "errorMessage"}  # fmt: skip
        assert (data["taskId"], data["parentTaskId"], data["successFlag"], data["response"], data["completeTime"],
                data["createTime"]) == (cover, task_id, 0, None, None, "2025-01-15T10:13:01.000Z")  # fmt: skip
        kie.mark_generating(cover)
        assert (await poll_info(http, kie, "/api/v1/suno/cover/record-info", cover))["successFlag"] == 2

        # Asking again: 400 plus the existing taskId, nothing billed, not counted.
        windowed = len(kie.submissions)
        assert await call(http, kie, path, {"taskId": task_id, "callBackUrl": receiver.url}) == {
            "code": 400, "msg": "Cover already generated for this task", "data": {"taskId": cover},
        }  # fmt: skip
        assert kie.credits == 995 and len(kie.submissions) == windowed

        await kie.advance(cover, "complete")
        got = receiver.received[-1]
        images = [kie.cover_image_url(cover, 0), kie.cover_image_url(cover, 1)]
        assert got.body == {"code": 200, "msg": "success", "data": {"taskId": cover, "images": images}}
        ts = got.headers["X-Webhook-Timestamp"]  # signed over data.taskId (UNCONFIRMED which id)
        assert got.headers["X-Webhook-Signature"] == base64.b64encode(
            hmac.new(key, f"{cover}.{ts}".encode(), hashlib.sha256).digest()).decode()
        data = await poll_info(http, kie, "/api/v1/suno/cover/record-info", cover)
        assert (data["successFlag"], data["response"], data["completeTime"]) == (
            1, {"images": images}, "2025-01-15T10:13:01.000Z",
        )  # fmt: skip
        for url in images:
            async with http.get(url) as r:
                png = await r.read()
                assert (r.status, r.content_type, len(png)) == (200, "image/png", 3000)
                assert png[:8] == b"\x89PNG\r\n\x1a\n" and png == kie.file_bytes(url)
        assert kie.file_urls(cover) == images
        async with http.get(f"{kie.base_url}/files/{cover}/2.png") as r:
            assert r.status == 404

        # A failed cover frees the slot; the failure callback has images null and successFlag 3.
        other, _ = await finished_music(http, kie)
        first = await accepted(http, kie, path, {"taskId": other, "callBackUrl": receiver.url})
        await kie.fail(first)
        assert receiver.received[-1].body == {
            "code": 501, "msg": "Cover generation failed", "data": {"taskId": first, "images": None},
        }  # fmt: skip
        data = await poll_info(http, kie, "/api/v1/suno/cover/record-info", first)
        assert (data["successFlag"], data["errorCode"], data["response"]) == (3, 501, None)
        second = await accepted(http, kie, path, {"taskId": other, "callBackUrl": receiver.url})
        await kie.fail(second, status="CREATE_TASK_FAILED", deliver=False)
        assert (await poll_info(http, kie, "/api/v1/suno/cover/record-info", second))["successFlag"] == 3
        with pytest.raises(ValueError):
            kie.mark_generating(task_id)  # music tasks have no such state
        # Cover record-info only sees cover tasks.
        assert (await call(http, kie, "/api/v1/generate/record-info", params={"taskId": cover}))["code"] == 404
        kie.expire(cover)
        async with http.get(images[0]) as r:
            assert r.status == 404


# --------------------------------------------------------------------------- MIDI


async def test_midi_flow_and_refusals(kie: FakeKie, http: aiohttp.ClientSession, receiver: Receiver) -> None:
    kie.split_stems = ("vocal", "drums", "bass")
    sep = await finished_separation(http, kie)
    vocal_only = await finished_separation(http, kie, "separate_vocal")
    kie.auto_callbacks = False
    path = "/api/v1/midi/generate"
    music_id = kie.task(sep).source_task_id
    pending_sep = await accepted(http, kie, "/api/v1/vocal-removal/generate", {
        "taskId": music_id, "audioId": kie.task(sep).source_audio_id, "type": "split_stem", "callBackUrl": NOWHERE,
    })  # fmt: skip
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"callBackUrl": receiver.url}, 422, "taskId is required"),
        ({"taskId": sep}, 422, "callBackUrl is required"),
        ({"taskId": sep, "callBackUrl": receiver.url, "audioId": 3}, 422, "audioId must be a non-empty string"),
        ({"taskId": str(music_id), "callBackUrl": receiver.url}, 404, "Separation task not found"),
        ({"taskId": pending_sep, "callBackUrl": receiver.url}, 422, "has not completed"),
        ({"taskId": vocal_only, "callBackUrl": receiver.url}, 422, "needs a split_stem separation"),
        ({"taskId": sep, "callBackUrl": receiver.url, "audioId": "nope"}, 404, "not found in separation"),
    ]
    for body, code, fragment in cases:
        payload = await call(http, kie, path, body)
        assert payload["code"] == code and fragment in payload["msg"], (body, payload)

    midi = await accepted(http, kie, path, {"taskId": sep, "callBackUrl": receiver.url})
    data = await poll_info(http, kie, "/api/v1/midi/record-info", midi)
    assert set(data) == {"taskId", "recordTaskId", "audioId", "callbackUrl", "completeTime", "midiData",
                         "successFlag", "createTime", "errorCode", "errorMessage"}  # fmt: skip
    assert (data["successFlag"], data["midiData"], data["audioId"], data["recordTaskId"]) == (
        0, None, kie.task(sep).source_audio_id, -1,
    )  # fmt: skip
    await kie.advance(midi, "complete")
    body = receiver.received[-1].body
    assert (body["code"], body["msg"], set(body["data"])) == (200, "success", {"taskId", "state", "instruments"})
    assert (body["data"]["taskId"], body["data"]["state"]) == (midi, "complete")
    instruments = body["data"]["instruments"]
    assert [i["name"] for i in instruments] == ["Synth Voice", "Electric Bass (finger)", "Drums"]  # stem order
    note = instruments[0]["notes"][0]
    assert set(note) == {"pitch", "start", "end", "velocity"} and note["end"] > note["start"]
    assert instruments == kie.midi_instruments(midi)
    data = await poll_info(http, kie, "/api/v1/midi/record-info", midi)
    assert (data["successFlag"], data["midiData"]) == (1, {"state": "complete", "instruments": instruments})
    assert isinstance(data["completeTime"], int) and isinstance(data["createTime"], int)
    kie.midi_times_as_strings = True
    assert kie.callback_body(midi, "complete")["data"]["instruments"][0]["notes"][0]["start"] == str(note["start"])

    # One separated track (an originData id), an empty result, failures.
    drums_id = kie.task(sep).stem_ids["drums"]
    one = await accepted(http, kie, path, {"taskId": sep, "callBackUrl": receiver.url, "audioId": drums_id})
    assert [i["name"] for i in kie.midi_instruments(one)] == ["Drums"]
    assert (await poll_info(http, kie, "/api/v1/midi/record-info", one))["audioId"] == drums_id
    kie.set_midi(one, [])
    await kie.advance(one, "complete", deliver=False)
    assert (await poll_info(http, kie, "/api/v1/midi/record-info", one))["midiData"] == {"state": "complete",
                                                                                         "instruments": []}  # fmt: skip
    bad = await accepted(http, kie, path, {"taskId": sep, "callBackUrl": receiver.url})
    await kie.fail(bad)
    assert receiver.received[-1].body == {"code": 500, "msg": "MIDI generation failed", "data": {"taskId": bad}}
    data = await poll_info(http, kie, "/api/v1/midi/record-info", bad)
    assert (data["successFlag"], data["errorCode"], data["midiData"]) == (3, 500, None)
    created = await accepted(http, kie, path, {"taskId": sep, "callBackUrl": receiver.url})
    await kie.fail(created, status="CREATE_TASK_FAILED", deliver=False)
    assert (await poll_info(http, kie, "/api/v1/midi/record-info", created))["successFlag"] == 2
    # The docs name no separation type; the knob lets separate_vocal through.
    kie.midi_requires_split_stem = False
    loose = await accepted(http, kie, path, {"taskId": vocal_only, "callBackUrl": receiver.url})
    assert [i["name"] for i in kie.midi_instruments(loose)] == ["Acoustic Grand Piano", "Synth Voice"]
    assert kie.file_urls(midi) == []


# --------------------------------------------------------------------------- tuning options


async def test_tuning_options_are_range_checked_and_recorded(
    kie: FakeKie, http: aiohttp.ClientSession, uploads: str
) -> None:
    _, (a, _) = await finished_music(http, kie)
    kie.auto_callbacks = False
    tuning = {"styleWeight": 0.65, "weirdnessConstraint": 0, "audioWeight": 1, "vocalGender": "m"}
    requests = [
        ("/api/v1/generate", custom_generate_body(**tuning)),
        ("/api/v1/generate/extend", extend_body(a, **tuning)),
        ("/api/v1/generate/upload-cover", upload_cover_body(f"{uploads}/song.mp3", **tuning)),
        ("/api/v1/generate/upload-extend", upload_extend_body(f"{uploads}/song.mp3", **tuning)),
        ("/api/v1/generate/add-instrumental", add_instrumental_body(f"{uploads}/song.mp3", **tuning)),
        ("/api/v1/generate/add-vocals", add_vocals_body(f"{uploads}/song.mp3", **tuning)),
        ("/api/v1/generate/mashup", mashup_body(uploads, **tuning)),
    ]
    refusals: list[tuple[dict[str, Any], str]] = [
        ({"styleWeight": -0.01}, "styleWeight must be a number between 0 and 1"),
        ({"audioWeight": 0.655}, "audioWeight allows at most 2 decimal places"),
        ({"weirdnessConstraint": True}, "weirdnessConstraint must be a number"),
        ({"vocalGender": "male"}, "vocalGender must be 'm' or 'f'"),
    ]
    for path, body in requests:
        assert kie.task(await accepted(http, kie, path, body)).tuning == tuning, path
        for bad, fragment in refusals:
            payload = await call(http, kie, path, {**body, **bad})
            assert payload["code"] == 422 and fragment in payload["msg"], (path, bad, payload)
    assert kie.task(await submit(http, kie, NOWHERE)).tuning == {}


# --------------------------------------------------------------------------- every new kind


NEW_KINDS = ["add_instrumental", "add_vocals", "mashup", "replace_section", "sounds", "cover_image", "midi"]
NEW_RECORD_INFO = {"cover_image": "/api/v1/suno/cover/record-info", "midi": "/api/v1/midi/record-info"}


async def new_kind_request(
    http: aiohttp.ClientSession, fake: FakeKie, kind: str, uploads: str, callback: str
) -> tuple[str, dict[str, Any]]:
    """A valid request of a new kind (making the finished sources it needs)."""
    song = f"{uploads}/song.mp3"
    if kind == "add_instrumental":
        return "/api/v1/generate/add-instrumental", add_instrumental_body(song, callBackUrl=callback)
    if kind == "add_vocals":
        return "/api/v1/generate/add-vocals", add_vocals_body(song, callBackUrl=callback)
    if kind == "mashup":
        return "/api/v1/generate/mashup", mashup_body(uploads, callBackUrl=callback)
    if kind == "sounds":
        return "/api/v1/generate/sounds", sounds_body(callBackUrl=callback)
    if kind == "midi":
        return "/api/v1/midi/generate", {"taskId": await finished_separation(http, fake), "callBackUrl": callback}
    task_id, (a, _) = await finished_music(http, fake)
    if kind == "cover_image":
        return "/api/v1/suno/cover/generate", {"taskId": task_id, "callBackUrl": callback}
    return "/api/v1/generate/replace-section", replace_body(task_id, a, callBackUrl=callback)


@pytest.mark.parametrize("kind", NEW_KINDS)
async def test_new_kinds_with_the_scripting_helpers(
    kie: FakeKie, http: aiohttp.ClientSession, receiver: Receiver, uploads: str, kind: str
) -> None:
    status_key, ok_flag = ("successFlag", 1) if kind in NEW_RECORD_INFO else ("status", "SUCCESS")
    info = NEW_RECORD_INFO.get(kind, "/api/v1/generate/record-info")
    three = ("add_instrumental", "add_vocals", "mashup", "sounds")
    stages = ["text", "first", "complete"] if kind in three else ["complete"]

    ok = await accepted(http, kie, *await new_kind_request(http, kie, kind, uploads, receiver.url))
    got = [await receiver.next() for _ in stages]
    await kie.drain()
    assert got[-1].body == kie.callback_body(ok, "complete")
    assert [g.body["data"].get("callbackType", "complete") for g in got] == stages
    assert (await poll_info(http, kie, info, ok))[status_key] == ok_flag
    assert kie.last_task_id == ok and [s.task_id for s in kie.submissions_of(kind)] == [ok]

    kie.fail_next_task(kind=kind)
    bad = await accepted(http, kie, *await new_kind_request(http, kie, kind, uploads, receiver.url))
    got_bad = await receiver.next()
    await kie.drain()
    assert got_bad.body == kie.callback_body(bad, "error")
    assert (await poll_info(http, kie, info, bad))[status_key] in (3, "GENERATE_AUDIO_FAILED")
    assert (await kie.resend(ok, "complete")).status == 200
    assert (await receiver.next()).body == got[-1].body

    kie.fail_next_submit(455, "maintenance", kind=kind)
    path, body = await new_kind_request(http, kie, kind, uploads, receiver.url)
    assert await call(http, kie, path, body) == {"code": 455, "msg": "maintenance", "data": None}
    kie.fail_next_poll(500, "server error", kind=kind)
    assert (await call(http, kie, info, params={"taskId": ok}))["code"] == 500
    kie.finish_without_callback(bad)
    assert (await poll_info(http, kie, info, bad))[status_key] == (1 if kind in NEW_RECORD_INFO
                                                                   else "CALLBACK_EXCEPTION")  # fmt: skip
    kie.expire(ok)
    for url in kie.file_urls(ok):
        async with http.get(url) as r:
            assert r.status == 404


async def test_sync_kinds_scripting_and_rate_window(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    kie.clock = clock = ManualClock()
    task_id, (a, b) = await finished_music(http, kie)  # 1 request in the window
    kie.auto_callbacks = False
    sync = [
        ("/api/v1/generate/get-timestamped-lyrics", {"taskId": task_id, "audioId": a}),
        ("/api/v1/style/generate", {"content": "Pop"}),
    ]
    for i in range(18):
        assert (await call(http, kie, *sync[i % 2]))["code"] == 200
    assert (await call(http, kie, "/api/v1/generate/generate-persona", persona_body(task_id, a)))["code"] == 200
    assert len(kie.submissions) == 20
    for path, body in [*sync, ("/api/v1/generate", simple_body(NOWHERE))]:
        assert (await call(http, kie, path, body))["code"] == 429  # one shared window
    kie.rate_exempt_kinds = {"timestamped_lyrics"}
    assert (await call(http, kie, *sync[0]))["code"] == 200
    assert (await call(http, kie, *sync[1]))["code"] == 429
    clock.advance(10.0)

    kie.fail_next_submit(409, "Persona already exists", kind="persona")
    assert (await call(http, kie, "/api/v1/generate/generate-persona", persona_body(task_id, b)))["code"] == 409
    assert kie.persona_for(b) is None
    assert len(kie.submissions_of("timestamped_lyrics")) == 10 and len(kie.submissions_of("style_boost")) == 9
    assert kie.last_task_id == task_id
    with pytest.raises(ValueError):
        kie.fail_next_task(kind="persona")  # no task, no callback
    with pytest.raises(ValueError):
        kie.fail_next_poll(500, "x", kind="style_boost")


async def test_billing_and_refunds_when_kie_kinds_are_priced(
    kie: FakeKie, http: aiohttp.ClientSession, uploads: str
) -> None:
    task_id, (a, _) = await finished_music(http, kie)
    kie.auto_callbacks = False
    assert kie.credits == 1000 and kie.charges == {}  # kie prices nothing by default (§6 UNCONFIRMED)
    kie.costs.update({"add_vocals": 10, "replace_section": 7, "persona": 4})
    kie.credits = 20
    vocals = await accepted(http, kie, "/api/v1/generate/add-vocals", add_vocals_body(f"{uploads}/song.mp3"))
    rs = await accepted(http, kie, "/api/v1/generate/replace-section", replace_body(task_id, a))
    assert (kie.credits, kie.charges) == (3, {vocals: 10, rs: 7})
    payload = await call(http, kie, "/api/v1/generate/generate-persona", persona_body(task_id, a))
    assert payload == {"code": 402, "msg": "Insufficient credits", "data": None} and kie.personas == {}
    kie.refund_on_failure = True
    await kie.fail(rs, 531, "generation failed, credits refunded", deliver=False)
    await kie.fail(rs, deliver=False)
    assert (kie.credits, kie.refunds) == (10, {rs: 7})
    made = await call(http, kie, "/api/v1/generate/generate-persona", persona_body(task_id, a))
    assert made["code"] == 200 and kie.charges[made["data"]["personaId"]] == 4 and kie.credits == 6


async def test_unknown_and_undocumented_paths_are_not_served(kie: FakeKie, http: aiohttp.ClientSession) -> None:
    # §2 names Suno voice /api/v1/voice/* from 3P notes only ("not needed"): the fake has no such endpoint.
    async with http.post(f"{kie.base_url}/api/v1/voice/generate", json={}, headers=auth(kie)) as r:
        assert r.status == 404
