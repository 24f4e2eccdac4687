"""Tests of the sunoapi.org fake itself (tests/support/sunoapi_fake.py), over real loopback HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.support.sunoapi_fake import (
    DEFAULT_COSTS,
    INSUFFICIENT_CREDITS_MSG,
    FakeSunoApi,
    ManualClock,
    SoundSettings,
)

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
    rec.url = f"http://127.0.0.1:{int(runner.addresses[0][1])}/callback"
    yield rec
    await runner.cleanup()


@pytest.fixture
async def suno() -> AsyncIterator[FakeSunoApi]:
    async with FakeSunoApi() as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def auth(fake: FakeSunoApi) -> dict[str, str]:
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


def custom_body(callback: str, **extra: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"customMode": True, "style": "folk", "title": "Rain", "prompt": "[Verse] rain"}
    return simple_body(callback, **{**fields, **extra})


async def post(
    http: aiohttp.ClientSession, fake: FakeSunoApi, path: str, body: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    async with http.post(f"{fake.base_url}{path}", json=body, headers=auth(fake)) as resp:
        payload: dict[str, Any] = await resp.json()
        return resp.status, payload


async def get(
    http: aiohttp.ClientSession, fake: FakeSunoApi, path: str, **params: str
) -> tuple[int, dict[str, Any]]:
    async with http.get(f"{fake.base_url}{path}", params=params, headers=auth(fake)) as resp:
        payload: dict[str, Any] = await resp.json()
        return resp.status, payload


async def submit(
    http: aiohttp.ClientSession, fake: FakeSunoApi, body: dict[str, Any], path: str = "/api/v1/generate"
) -> str:
    status, payload = await post(http, fake, path, body)
    assert status == 200 and payload["code"] == 200, payload
    return str(payload["data"]["taskId"])


async def finished_song(http: aiohttp.ClientSession, fake: FakeSunoApi) -> tuple[str, str]:
    """A completed music task (auto callbacks off): (taskId, first audioId)."""
    fake.auto_callbacks = False
    task_id = await submit(http, fake, simple_body("http://127.0.0.1:9/cb"))
    await fake.advance(task_id, "complete", deliver=False)
    return task_id, fake.task(task_id).tracks[0].audio_id


# --------------------------------------------------------------------------- credits / paths


async def test_credit_endpoint_and_kie_path_404(suno: FakeSunoApi, http: aiohttp.ClientSession) -> None:
    suno.credits = 42
    assert await get(http, suno, "/api/v1/generate/credit") == (200, {"code": 200, "msg": "success", "data": 42})
    async with http.get(f"{suno.base_url}/api/v1/generate/credit") as r:  # no key
        assert (await r.json())["code"] == 401

    status, payload = await get(http, suno, "/api/v1/chat/credit")  # kie's path
    assert (status, payload["code"], payload["data"]) == (200, 404, None)
    assert "path" in payload["msg"]
    # Wrong method on a real path is "bad method/path" too.
    status, payload = await get(http, suno, "/api/v1/generate")
    assert (status, payload["code"]) == (200, 404)
    suno.not_found_http_status = 404
    assert (await get(http, suno, "/api/v1/chat/credit"))[0] == 404
    assert [c.code for c in suno.api_calls if c.path_qs == "/api/v1/chat/credit"] == [404, 404]
    # Files stay plain HTTP.
    async with http.get(f"{suno.base_url}/files/nope/0.mp3") as r:
        assert r.status == 404


async def test_insufficient_credits_is_429_and_costs_are_deducted(
    suno: FakeSunoApi, http: aiohttp.ClientSession
) -> None:
    music = DEFAULT_COSTS["generate"]
    song_id, audio_id = await finished_song(http, suno)
    suno.credits = music * 2 - 1
    await submit(http, suno, simple_body("http://127.0.0.1:9/cb"))
    assert suno.credits == music - 1

    status, payload = await post(http, suno, "/api/v1/generate", simple_body("http://127.0.0.1:9/cb"))
    assert (status, payload) == (200, {"code": 429, "msg": INSUFFICIENT_CREDITS_MSG, "data": None})
    assert suno.credits == music - 1 and len(suno.submissions) == 2

    suno.credits = music  # exactly enough
    await submit(http, suno, simple_body("http://127.0.0.1:9/cb"))
    assert suno.credits == 0

    # Separation is priced by type; an invalid body is still 400 before credits are looked at.
    suno.credits = DEFAULT_COSTS["split_stem"] - 1
    sep = {"taskId": song_id, "audioId": audio_id, "callBackUrl": "http://127.0.0.1:9/cb"}
    status, payload = await post(http, suno, "/api/v1/vocal-removal/generate", {**sep, "type": "split_stem"})
    assert payload["code"] == 429
    status, payload = await post(http, suno, "/api/v1/vocal-removal/generate", {**sep, "type": "bogus"})
    assert payload["code"] == 400
    await submit(http, suno, {**sep, "type": "separate_vocal"}, "/api/v1/vocal-removal/generate")
    assert suno.credits == DEFAULT_COSTS["split_stem"] - 1 - DEFAULT_COSTS["separate_vocal"]

    # Scripted, and never 402 anywhere.
    suno.credits = 1000
    suno.fail_next_submit(429, INSUFFICIENT_CREDITS_MSG)
    assert (await post(http, suno, "/api/v1/generate", simple_body("http://127.0.0.1:9/cb")))[1]["code"] == 429
    assert all(c.code != 402 for c in suno.api_calls)


async def test_refund_on_failure(suno: FakeSunoApi, http: aiohttp.ClientSession, receiver: Receiver) -> None:
    suno.credits = 24
    suno.fail_next_task()
    first = await submit(http, suno, simple_body(receiver.url))
    assert (await receiver.next()).body["data"]["callbackType"] == "error"
    assert suno.credits == 12 and suno.refunds == {}

    suno.refund_on_failure = True
    suno.fail_next_task()
    second = await submit(http, suno, simple_body(receiver.url))
    error = await receiver.next()
    assert error.body["code"] == 501 and error.body["data"]["task_id"] == second
    assert suno.credits == 12 and suno.refunds == {second: 12}
    await suno.fail(second, deliver=False)  # refunds once per task
    assert suno.credits == 12
    assert suno.charges == {first: 12, second: 12}
    await suno.drain()


# --------------------------------------------------------------------------- rate limits


@pytest.mark.parametrize(("code", "msg"), [(430, "Call frequency too high"), (405, "Rate limit exceeded")])
async def test_rate_limit_code(suno: FakeSunoApi, http: aiohttp.ClientSession, code: int, msg: str) -> None:
    suno.auto_callbacks = False
    suno.clock = clock = ManualClock()
    suno.rate_limit_code = code
    for _ in range(20):
        await submit(http, suno, simple_body("http://127.0.0.1:9/cb"))
        clock.advance(0.1)
    expected = {"code": code, "msg": msg, "data": None}
    assert (await post(http, suno, "/api/v1/generate", simple_body("http://127.0.0.1:9/cb")))[1] == expected
    lyrics = {"prompt": "rain", "callBackUrl": "http://127.0.0.1:9/cb"}
    assert (await post(http, suno, "/api/v1/lyrics", lyrics))[1] == expected
    assert len(suno.submissions) == 20 and suno.credits == 1000 - 20 * 12

    clock.advance(10.0)  # the first submit leaves the 10 s window
    task_id = await submit(http, suno, simple_body("http://127.0.0.1:9/cb"))

    # The per-task poll limit answers with the same code, never 429 (insufficient credits here).
    for _ in range(3):
        assert (await get(http, suno, "/api/v1/generate/record-info", taskId=task_id))[1]["code"] == 200
    assert (await get(http, suno, "/api/v1/generate/record-info", taskId=task_id))[1]["code"] == code
    assert all(c.code != 429 for c in suno.api_calls)


# --------------------------------------------------------------------------- text limits


async def test_text_limits_413_and_invalid_params_400(suno: FakeSunoApi, http: aiohttp.ClientSession) -> None:
    suno.auto_callbacks = False
    cb = "http://127.0.0.1:9/cb"

    async def code_of(body: dict[str, Any], path: str = "/api/v1/generate") -> int:
        return int((await post(http, suno, path, body))[1]["code"])

    assert await code_of(simple_body(cb, prompt="x" * 401)) == 413
    assert await code_of(simple_body(cb, prompt="x" * 400)) == 200
    assert await code_of(custom_body(cb, title="t" * 101)) == 413  # V5: 100
    assert await code_of(custom_body(cb, title="t" * 100)) == 200
    assert await code_of(custom_body(cb, model="V4_5ALL", title="t" * 81)) == 413
    assert await code_of(custom_body(cb, model="V4", style="s" * 201)) == 413
    assert await code_of(custom_body(cb, model="V4", prompt="p" * 3001)) == 413
    assert await code_of(custom_body(cb, model="V4_5PLUS", prompt="p" * 5000, style="s" * 1000)) == 200
    assert await code_of({"prompt": "p" * 201, "callBackUrl": cb}, "/api/v1/lyrics") == 413
    # The quickstart's own example model is accepted; V5_5 is not (UNCONFIRMED).
    assert await code_of(simple_body(cb, model="V3_5")) == 200
    assert await code_of(simple_body(cb, model="V5_5")) == 400
    # kie's 422 becomes 400 "invalid params".
    body = simple_body(cb)
    del body["callBackUrl"]
    assert await code_of(body) == 400
    assert (await get(http, suno, "/api/v1/generate/record-info"))[1]["code"] == 400
    assert (await get(http, suno, "/api/v1/generate/record-info", taskId="nope"))[1]["code"] == 404
    assert all(c.code != 422 for c in suno.api_calls)


async def test_maintenance_455(suno: FakeSunoApi, http: aiohttp.ClientSession) -> None:
    suno.maintenance = True
    assert (await post(http, suno, "/api/v1/generate", simple_body("http://127.0.0.1:9/cb")))[1]["code"] == 455
    assert (await get(http, suno, "/api/v1/generate/credit"))[1]["code"] == 455
    suno.maintenance = False
    suno.fail_next_submit(500, "Server error", http_status=500)
    assert (await post(http, suno, "/api/v1/generate", simple_body("http://127.0.0.1:9/cb"))) == (
        500,
        {"code": 500, "msg": "Server error", "data": None},
    )
    assert suno.submissions == [] and suno.credits == 1000


# --------------------------------------------------------------------------- payload shapes


async def test_lyrics_record_info_uses_lyrics_data(
    suno: FakeSunoApi, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    task_id = await submit(http, suno, {"prompt": "a song about rain", "callBackUrl": receiver.url}, "/api/v1/lyrics")
    callback = (await receiver.next()).body
    assert callback["data"]["callbackType"] == "complete" and len(callback["data"]["data"]) == 2  # kie's shape

    _, payload = await get(http, suno, "/api/v1/lyrics/record-info", taskId=task_id)
    response = payload["data"]["response"]
    assert payload["data"]["status"] == "SUCCESS" and "data" not in response
    assert [v["text"] for v in response["lyricsData"]] == [v["text"] for v in callback["data"]["data"]]
    assert set(response["lyricsData"][0]) == {"text", "title", "status", "errorMessage"}
    await suno.drain()


async def test_separation_callback_uses_vocal_removal_info(
    suno: FakeSunoApi, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    song_id, audio_id = await finished_song(http, suno)
    suno.auto_callbacks = True
    sep = {"taskId": song_id, "audioId": audio_id, "type": "separate_vocal", "callBackUrl": receiver.url}
    task_id = await submit(http, suno, sep, "/api/v1/vocal-removal/generate")
    body = (await receiver.next()).body
    assert body["code"] == 200 and body["data"]["task_id"] == task_id and "vocal_separation_info" not in body["data"]
    info = body["data"]["vocal_removal_info"]
    assert set(info) == {"instrumental_url", "origin_url", "vocal_url"}

    _, payload = await get(http, suno, "/api/v1/vocal-removal/record-info", taskId=task_id)
    data = payload["data"]
    assert data["successFlag"] == "SUCCESS"
    assert (data["response"]["vocalUrl"], data["response"]["instrumentalUrl"]) == (
        info["vocal_url"],
        info["instrumental_url"],
    )
    async with http.get(info["vocal_url"]) as r:
        assert r.status == 200 and await r.read() == suno.file_bytes(info["vocal_url"])

    suno.fail_next_task(kind="separation")
    await submit(http, suno, {**sep, "type": "split_stem"}, "/api/v1/vocal-removal/generate")
    error = (await receiver.next()).body
    assert error["code"] == 500 and error["data"]["vocal_removal_info"] is None
    await suno.drain()


async def test_record_info_shapes(suno: FakeSunoApi, http: aiohttp.ClientSession) -> None:
    task_id, _ = await finished_song(http, suno)
    _, payload = await get(http, suno, "/api/v1/generate/record-info", taskId=task_id)
    response = payload["data"]["response"]
    assert "data" not in response and response["sunoData"][0]["audioUrl"] == suno.audio_url(task_id, 0)

    suno.record_info_shape = "data"  # the quickstart example's shape
    _, payload = await get(http, suno, "/api/v1/generate/record-info", taskId=task_id)
    assert payload["data"]["status"] == "SUCCESS" and payload["data"]["taskId"] == task_id
    response = payload["data"]["response"]
    assert "sunoData" not in response and len(response["data"]) == 2
    track = response["data"][0]
    assert {"id", "audio_url", "title", "tags", "duration"} <= set(track) and "audioUrl" not in track
    async with http.get(track["audio_url"]) as r:
        assert await r.read() == suno.audio_bytes(task_id, 0)


# --------------------------------------------------------------------------- callbacks


async def test_callbacks_are_never_signed(
    suno: FakeSunoApi, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    with pytest.raises(TypeError):
        FakeSunoApi(hmac_key="k")  # type: ignore[call-arg]
    suno.hmac_key = "set anyway"
    suno.auto_stages = ("complete",)
    await submit(http, suno, simple_body(receiver.url))
    received = await receiver.next()
    assert not [h for h in received.headers if h.lower().startswith("x-webhook")]
    with pytest.raises(RuntimeError):
        suno.sign("t", 1)
    await suno.drain()


async def test_generate_round_trip(suno: FakeSunoApi, http: aiohttp.ClientSession, receiver: Receiver) -> None:
    body = custom_body(receiver.url, model="V4_5", title="A" * 100)
    task_id = await submit(http, suno, body)
    stages = [await receiver.next() for _ in range(3)]
    assert [r.body["data"]["callbackType"] for r in stages] == ["text", "first", "complete"]
    assert all(r.body["data"]["task_id"] == task_id for r in stages)
    assert all(not any(h.lower().startswith("x-webhook") for h in r.headers) for r in stages)
    complete = stages[-1].body
    assert complete["code"] == 200 and len(complete["data"]["data"]) == 2
    track = complete["data"]["data"][0]
    assert track["title"] == "A" * 100 and track["model_name"] == "chirp-v4-5"

    _, payload = await get(http, suno, "/api/v1/generate/record-info", taskId=task_id)
    assert payload["data"]["status"] == "SUCCESS"
    assert [t["id"] for t in payload["data"]["response"]["sunoData"]] == [t["id"] for t in complete["data"]["data"]]
    async with http.get(track["audio_url"]) as r:
        assert r.status == 200 and await r.read() == suno.audio_bytes(task_id, 0)

    # Inherited scripting works unchanged.
    assert (await suno.resend(task_id, "complete")).status == 200
    assert (await receiver.next()).body == complete
    assert suno.submissions_of("generate")[0].task_id == task_id
    assert suno.credits == 1000 - 12
    assert [(s, c) for t, s, c in suno.callback_results if t == task_id] == [
        ("text", 200),
        ("first", 200),
        ("complete", 200),
        ("complete", 200),
    ]
    await suno.drain()


# --------------------------------------------------------------------------- later endpoints (§7 differences)

SONG = b"ID3" + bytes(range(256)) * 20


@pytest.fixture
async def uploads() -> AsyncIterator[str]:
    """A tiny file host: GET /song.mp3 -> SONG, anything else 404. Yields its base URL."""

    async def song(request: web.Request) -> web.Response:
        return web.Response(body=SONG, content_type="audio/mpeg")

    app = web.Application()
    app.router.add_get("/song.mp3", song)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{int(runner.addresses[0][1])}"
    await runner.cleanup()


CB = "http://127.0.0.1:9/cb"


def add_vocals_body(url: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"uploadUrl": url, "prompt": "[Verse] rain", "title": "Sung", "style": "jazz",
                            "negativeTags": "metal", "callBackUrl": CB}  # fmt: skip
    body.update(extra)
    return body


async def finished_split_stem(http: aiohttp.ClientSession, fake: FakeSunoApi) -> str:
    song_id, audio_id = await finished_song(http, fake)
    sep = {"taskId": song_id, "audioId": audio_id, "type": "split_stem", "callBackUrl": CB}
    task_id = await submit(http, fake, sep, "/api/v1/vocal-removal/generate")
    await fake.advance(task_id, "complete", deliver=False)
    return task_id


async def test_new_kinds_are_billed_and_refused_with_429(
    suno: FakeSunoApi, http: aiohttp.ClientSession, uploads: str
) -> None:
    song_id, audio_id = await finished_song(http, suno)  # 12
    sep = await finished_split_stem(http, suno)  # 12 (its own song) + 60
    assert suno.credits == 1000 - 12 - 12 - 60
    suno.credits = 100
    requests = [
        ("add_instrumental", "/api/v1/generate/add-instrumental",
         {"uploadUrl": f"{uploads}/song.mp3", "title": "B", "tags": "piano", "negativeTags": "", "callBackUrl": CB}),
        ("add_vocals", "/api/v1/generate/add-vocals", add_vocals_body(f"{uploads}/song.mp3")),
        ("mashup", "/api/v1/generate/mashup", {"uploadUrlList": [f"{uploads}/song.mp3"] * 2, "customMode": False,
                                               "model": "V4_5ALL", "callBackUrl": CB, "prompt": "blend"}),
        ("replace_section", "/api/v1/generate/replace-section",
         {"taskId": song_id, "audioId": audio_id, "prompt": "new", "tags": "jazz", "title": "T",
          "infillStartS": 10, "infillEndS": 20}),
        ("cover_image", "/api/v1/suno/cover/generate", {"taskId": song_id, "callBackUrl": CB}),
        ("midi", "/api/v1/midi/generate", {"taskId": sep, "callBackUrl": CB}),
    ]  # fmt: skip
    spent = 0
    for kind, path, body in requests:
        task_id = await submit(http, suno, body, path)
        spent += DEFAULT_COSTS[kind]
        assert (suno.task(task_id).kind, suno.charges[task_id], suno.credits) == (kind, DEFAULT_COSTS[kind],
                                                                                 100 - spent)  # fmt: skip
    assert spent == 12 * 4 + 2 + 2

    # Synchronous ones: style boost reports its cost; persona is billed; timestamped lyrics are free.
    _, payload = await post(http, suno, "/api/v1/style/generate", {"content": "Pop, Mysterious"})
    assert (payload["data"]["creditsConsumed"], payload["data"]["creditsRemaining"]) == (1, 100 - spent - 1)
    _, payload = await post(http, suno, "/api/v1/generate/generate-persona",
                            {"taskId": song_id, "audioId": audio_id, "name": "N", "description": "D"})  # fmt: skip
    assert payload["code"] == 200 and suno.charges[payload["data"]["personaId"]] == DEFAULT_COSTS["persona"]
    before = suno.credits
    _, payload = await post(http, suno, "/api/v1/generate/get-timestamped-lyrics",
                            {"taskId": song_id, "audioId": audio_id})  # fmt: skip
    assert payload["code"] == 200 and suno.credits == before

    suno.credits = 0
    for path, body in [("/api/v1/style/generate", {"content": "Jazz"}), requests[1][1:]]:
        assert (await post(http, suno, path, body))[1] == {"code": 429, "msg": INSUFFICIENT_CREDITS_MSG, "data": None}
    assert all(c.code != 402 for c in suno.api_calls)
    await suno.drain()


async def test_new_endpoints_use_the_sunoapi_code_table(
    suno: FakeSunoApi, http: aiohttp.ClientSession, uploads: str
) -> None:
    song_id, audio_id = await finished_song(http, suno)
    ref = {"taskId": song_id, "audioId": audio_id}

    async def answer(path: str, body: dict[str, Any]) -> dict[str, Any]:
        status, payload = await post(http, suno, path, body)
        assert status == 200
        return payload

    persona = await answer("/api/v1/generate/generate-persona", {**ref, "name": "N", "description": "D"})
    # kie's 409 "Persona already exists" is not in the S-CR table: 400 with the same message.
    again = await answer("/api/v1/generate/generate-persona", {**ref, "name": "N", "description": "D"})
    assert again == {"code": 400, "msg": "Persona already exists", "data": None}
    # kie's 422 validation -> 400; text over a limit -> 413; 451 fetch failure -> 400; 404 stays 404.
    replace = {**ref, "prompt": "p", "tags": "t", "title": "T", "infillStartS": 0, "infillEndS": 5}
    assert (await answer("/api/v1/generate/replace-section", replace))["code"] == 400
    assert (await answer("/api/v1/generate/replace-section", {**replace, "infillEndS": 10, "title": "T" * 101}))[
        "code"] == 413  # fmt: skip
    assert (await answer("/api/v1/generate/add-vocals", add_vocals_body(f"{uploads}/song.mp3", title="t" * 81)))[
        "code"] == 413  # fmt: skip
    assert (await answer("/api/v1/generate/add-vocals", add_vocals_body(f"{uploads}/nope.mp3")))["code"] == 400
    assert (await answer("/api/v1/generate/get-timestamped-lyrics", {**ref, "taskId": "nope"}))["code"] == 404
    generate = custom_body(CB, personaId="unknown")
    assert (await answer("/api/v1/generate", generate))["code"] == 404
    task_id = await submit(http, suno, custom_body(CB, personaId=persona["data"]["personaId"]))
    assert suno.task(task_id).persona_id == persona["data"]["personaId"]
    # The cover duplicate is already 400 (+ the existing taskId) on kie, so it stays as it is.
    cover = await submit(http, suno, {"taskId": song_id, "callBackUrl": CB}, "/api/v1/suno/cover/generate")
    assert await answer("/api/v1/suno/cover/generate", {"taskId": song_id, "callBackUrl": CB}) == {
        "code": 400, "msg": "Cover already generated for this task", "data": {"taskId": cover},
    }  # fmt: skip
    separate = {**ref, "type": "separate_vocal", "callBackUrl": CB}
    sep = await submit(http, suno, separate, "/api/v1/vocal-removal/generate")
    await suno.advance(sep, "complete", deliver=False)
    assert (await answer("/api/v1/midi/generate", {"taskId": sep, "callBackUrl": CB}))["code"] == 400
    # sunoapi.org still takes V3_5 (§7), but a persona needs a model above V3_5 (§2.5).
    old = await submit(http, suno, simple_body(CB, model="V3_5"))
    await suno.advance(old, "complete", deliver=False)
    old_audio = suno.task(old).tracks[0].audio_id
    refused = await answer("/api/v1/generate/generate-persona",
                           {"taskId": old, "audioId": old_audio, "name": "N", "description": "D"})  # fmt: skip
    assert refused["code"] == 400 and "above V3_5" in refused["msg"]
    assert all(c.code not in (402, 409, 422, 451) for c in suno.api_calls)


async def test_new_endpoints_rate_limit_maintenance_and_unsigned_callbacks(
    suno: FakeSunoApi, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    suno.clock = clock = ManualClock()
    song_id, audio_id = await finished_song(http, suno)
    suno.hmac_key = "set anyway"
    suno.auto_callbacks = True
    cover = await submit(http, suno, {"taskId": song_id, "callBackUrl": receiver.url}, "/api/v1/suno/cover/generate")
    got = await receiver.next()
    assert got.body["data"] == {"taskId": cover, "images": [suno.cover_image_url(cover, n) for n in range(2)]}
    assert not [h for h in got.headers if h.lower().startswith("x-webhook")]
    _, payload = await get(http, suno, "/api/v1/suno/cover/record-info", taskId=cover)
    assert payload["data"]["successFlag"] == 1
    await suno.drain()

    clock.advance(10.0)
    suno.submit_rate_limit = (2, 10.0)
    suno.auto_callbacks = False
    assert (await post(http, suno, "/api/v1/style/generate", {"content": "Pop"}))[1]["code"] == 200
    assert (await post(http, suno, "/api/v1/style/generate", {"content": "Pop"}))[1]["code"] == 200
    expected = {"code": 430, "msg": "Call frequency too high", "data": None}
    assert (await post(http, suno, "/api/v1/style/generate", {"content": "Pop"}))[1] == expected
    lyrics = {"taskId": song_id, "audioId": audio_id}
    assert (await post(http, suno, "/api/v1/generate/get-timestamped-lyrics", lyrics))[1] == expected

    suno.maintenance = True
    for path in ("/api/v1/generate/mashup", "/api/v1/midi/generate", "/api/v1/generate/generate-persona"):
        assert (await post(http, suno, path, {}))[1]["code"] == 455
    assert (await get(http, suno, "/api/v1/midi/record-info", taskId="x"))[1]["code"] == 455


async def test_record_info_shape_knob_covers_the_new_music_kinds(
    suno: FakeSunoApi, http: aiohttp.ClientSession, uploads: str
) -> None:
    suno.auto_callbacks = False
    task_id = await submit(http, suno, add_vocals_body(f"{uploads}/song.mp3"), "/api/v1/generate/add-vocals")
    await suno.advance(task_id, "complete", deliver=False)
    suno.record_info_shape = "data"
    _, payload = await get(http, suno, "/api/v1/generate/record-info", taskId=task_id)
    assert payload["data"]["operationType"] == "add_vocals"
    assert payload["data"]["response"]["data"][0]["audio_url"] == suno.audio_url(task_id, 0)


SOUNDS = "/api/v1/generate/sounds"


def sounds_body(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"prompt": "soft rain with distant thunder", "model": "V5", "soundLoop": False,
                            "soundTempo": 90, "soundKey": "Am", "grabLyrics": False, "callBackUrl": CB}  # fmt: skip
    body.update(extra)
    return body


async def test_sound_effects_flow_record_info_callbacks_and_billing(
    suno: FakeSunoApi, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    # docs.sunoapi.org/suno-api/generate-sounds: a music-family task (same backend as kie).
    body = sounds_body(callBackUrl=receiver.url, soundLoop=True)
    status, payload = await post(http, suno, SOUNDS, body)
    assert (status, payload["code"], payload["msg"]) == (200, 200, "success")
    task_id = payload["data"]["taskId"]
    got = [await receiver.next() for _ in range(3)]
    await suno.drain()
    assert [g.body["data"]["callbackType"] for g in got] == ["text", "first", "complete"]
    assert not [h for g in got for h in g.headers if h.lower().startswith("x-webhook")]  # never signed
    tracks = got[-1].body["data"]["data"]
    assert len(tracks) == 2 and all(t["prompt"] == "" and 5 <= t["duration"] <= 30 for t in tracks)
    assert {t["tags"] for t in tracks} == {"sound effect, loop, 90 BPM, Am"}
    async with http.get(tracks[0]["audio_url"]) as r:
        assert r.status == 200 and await r.read() == suno.audio_bytes(task_id, 0)
    [sub] = suno.submissions_of("sounds")
    assert (sub.task_id, sub.body) == (task_id, body)
    assert sub.sound == suno.task(task_id).sound == SoundSettings(loop=True, tempo=90, key="Am", grab_lyrics=False)
    assert (suno.charges[task_id], DEFAULT_COSTS["sounds"]) == (12, 12)  # billed as a music kind

    _, info = await get(http, suno, "/api/v1/generate/record-info", taskId=task_id)
    data = info["data"]
    assert (data["status"], data["operationType"]) == ("SUCCESS", "sounds")
    assert [t["id"] for t in data["response"]["sunoData"]] == [t["id"] for t in tracks]
    suno.record_info_shape = "data"
    _, info = await get(http, suno, "/api/v1/generate/record-info", taskId=task_id)
    assert info["data"]["response"]["data"] == tracks

    # Driven by hand like any music kind; V5_5 accepted (docs.api.box), callBackUrl optional.
    suno.auto_callbacks = False
    other = await submit(http, suno, {"prompt": "glass shatter", "model": "V5_5"}, SOUNDS)
    assert suno.task(other).sound == SoundSettings()
    assert await suno.advance(other, "complete") is None
    _, info = await get(http, suno, "/api/v1/generate/record-info", taskId=other)
    assert info["data"]["status"] == "SUCCESS" and info["data"]["response"]["data"][0]["model_name"] == "chirp-v5-5"

    suno.credits = 0
    assert (await post(http, suno, SOUNDS, sounds_body()))[1] == {"code": 429, "msg": INSUFFICIENT_CREDITS_MSG,
                                                                   "data": None}  # fmt: skip
    suno.maintenance = True
    assert (await post(http, suno, SOUNDS, sounds_body()))[1]["code"] == 455


@pytest.mark.parametrize(
    ("change", "code", "fragment"),
    [
        ({"prompt": None}, 400, "prompt is required"),
        ({"prompt": ""}, 400, "prompt is required"),
        ({"prompt": "p" * 501}, 413, "prompt exceeds 500 characters (got 501)"),
        ({"model": None}, 400, "model is required"),
        ({"model": "V4_5"}, 400, "model must be one of V5, V5_5 for sounds (got 'V4_5')"),
        ({"model": "V3_5"}, 400, "model must be one of V5, V5_5"),
        ({"soundTempo": 0}, 400, "soundTempo must be between 1 and 300 BPM (got 0)"),
        ({"soundTempo": 301}, 400, "soundTempo must be between 1 and 300 BPM (got 301)"),
        ({"soundTempo": 60.5}, 400, "soundTempo must be an integer (BPM) or null"),
        ({"soundKey": "Bbm"}, 400, "soundKey must be one of Any, Cm"),
        ({"soundLoop": "yes"}, 400, "soundLoop must be a boolean (got 'yes')"),
        ({"grabLyrics": 0}, 400, "grabLyrics must be a boolean"),
        ({"callBackUrl": "not a url"}, 400, "callBackUrl must be an http(s) URL"),
    ],
)
async def test_sound_effects_refusals_use_the_sunoapi_code_table(
    suno: FakeSunoApi, http: aiohttp.ClientSession, change: dict[str, Any], code: int, fragment: str
) -> None:
    body = {k: v for k, v in sounds_body(**change).items() if v is not None}  # None: left out
    status, payload = await post(http, suno, SOUNDS, body)
    assert (status, payload["code"], payload["data"]) == (200, code, None), payload
    assert fragment in payload["msg"]
    assert suno.submissions == [] and suno.tasks == {} and suno.credits == 1000
