"""The sandbox's studio endpoints over HTTP, as a kie client meets them: add-instrumental, add-vocals, mashup,
replace-section, sounds, timestamped lyrics, boost style, personas (and personaId on the music endpoints),
cover images, MIDI, and the tuning fields of generate — their answers, callbacks, record-info and media."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.midi import write_midi
from bot.sandbox import media, studio
from bot.sandbox.media import SongOptions
from tests.bot.sandbox.audio import (
    SR,
    correlation,
    rms,
    samples,
    sounds_pitch,
    wav_seconds,
)
from tests.bot.test_midi import parse_midi
from tests.conftest import BotFactory
from tests.support.loopback import free_port

LYRICS = "[Verse]\nPaper boats along the river\nCarry wishes out to sea\n[Chorus]\nSail away, sail away\nHome to me"
PNG = b"\x89PNG\r\n\x1a\n"


def fade(word: dict[str, Any], duration: float) -> float:
    """How loud a song still is where ``word`` ends (the sandbox's songs fade out over their last 2.5 s)."""
    left = min(1.0, max(0.0, (duration - word["endS"]) / 2.5))
    return left * left


def task_id_of(body: dict[str, Any]) -> str | None:
    data = body.get("data") or {}
    return data.get("task_id") or data.get("taskId") or body.get("task_id")


class Hook:
    """A callback receiver: every body POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.url = ""
        self._arrived = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.json())
        self._arrived.set()
        return web.json_response({"status": "received"})

    def of(self, task_id: str) -> list[dict[str, Any]]:
        return [body for body in self.bodies if task_id_of(body) == task_id]

    async def wait(self, task_id: str, done: Callable[[list[dict[str, Any]]], bool], timeout: float = 20) -> list:
        async with asyncio.timeout(timeout):
            while not done(self.of(task_id)):
                self._arrived.clear()
                await self._arrived.wait()
        return self.of(task_id)


@dataclass
class Api:
    base: str
    headers: dict[str, str]
    session: aiohttp.ClientSession
    hook: Hook

    async def post(self, path: str, body: dict[str, Any], *, callback: bool = True) -> dict[str, Any]:
        if callback:
            body = {"callBackUrl": self.hook.url, **body}
        async with self.session.post(f"{self.base}/api/v1/{path}", json=body, headers=self.headers) as response:
            assert response.status == 200
            return await response.json()

    async def submit(self, path: str, body: dict[str, Any], **kwargs: Any) -> str:
        envelope = await self.post(path, body, **kwargs)
        assert envelope["code"] == 200, envelope
        return envelope["data"]["taskId"]

    async def record(self, path: str, task_id: str) -> dict[str, Any]:
        async with self.session.get(f"{self.base}/api/v1/{path}/record-info", params={"taskId": task_id},
                                    headers=self.headers) as response:
            envelope = await response.json()
        assert envelope["code"] == 200, envelope
        return envelope["data"]

    async def finished(self, path: str, task_id: str, timeout: float = 20) -> dict[str, Any]:
        """Poll record-info until the task is over (SUCCESS or a failure)."""
        async with asyncio.timeout(timeout):
            while True:
                data = await self.record(path, task_id)
                flag = data.get("status", data.get("successFlag"))
                if flag not in ("PENDING", "TEXT_SUCCESS", "FIRST_SUCCESS", 0):
                    return data
                await asyncio.sleep(0.05)

    async def file(self, url: str) -> bytes:
        async with self.session.get(url) as response:
            assert response.status == 200, url
            return await response.read()

    async def song(self, **overrides: Any) -> tuple[str, list[dict[str, Any]]]:
        """A finished custom-mode song: its task id and its two tracks (record-info's camelCase)."""
        body = {"customMode": True, "instrumental": False, "model": "V4_5PLUS", "prompt": LYRICS,
                "style": "folk", "title": "Paper Boats", **overrides}
        task_id = await self.submit("generate", body)
        data = await self.finished("generate", task_id)
        assert data["status"] == "SUCCESS"
        return task_id, data["response"]["sunoData"]


@pytest.fixture
async def api(make_bot: BotFactory) -> AsyncIterator[Api]:
    bot = await make_bot(provider="sandbox", api_key=None, api_base_url=None, public_base_url=None,
                         sandbox_stage_seconds=0.05)
    assert bot.sandbox is not None
    hook = Hook()
    app = web.Application()
    app.router.add_post("/hook", hook.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    hook.url = f"http://127.0.0.1:{port}/hook"
    async with aiohttp.ClientSession() as session:
        yield Api(f"{bot.web.local_url}/sandbox", {"Authorization": f"Bearer {bot.sandbox.api_key}"}, session, hook)
    await runner.cleanup()


def seed(task_id: str, n: int = 0) -> str:
    """The seed the sandbox synthesizes a track from (SandboxTrack.seed)."""
    return f"{task_id}:{n}"


async def hosted(discord_fake: Any, name: str, data: bytes) -> str:
    return discord_fake.host_file(name, data, content_type="audio/wav")["url"]


# ----- add-instrumental / add-vocals ----------------------------------------------------------------------


async def test_add_instrumental_plays_a_backing_track_under_the_uploaded_voice(api: Api, discord_fake) -> None:
    voice_wav = media.synthesize_stems("a member's voice", 14.0, ("vocals",))["vocals"]
    url = await hosted(discord_fake, "voice.wav", voice_wav)
    task_id = await api.submit("generate/add-instrumental", {"uploadUrl": url, "title": "Backed", "tags": "soft rock",
                                                             "negativeTags": ""})
    calls = await api.hook.wait(task_id, lambda c: any(b["data"]["callbackType"] == "complete" for b in c))
    assert [b["data"]["callbackType"] for b in calls] == ["text", "first", "complete"]
    tracks = calls[-1]["data"]["data"]
    assert len(tracks) == 2 and {t["title"] for t in tracks} == {"Backed", "Backed (take 2)"}
    assert tracks[0]["tags"] == "soft rock" and tracks[0]["source_audio_url"] == url
    assert tracks[0]["model_name"] == "chirp-bluejay"  # V4_5PLUS, the default
    voice = samples(voice_wav)
    for track in tracks:
        audio = samples(await api.file(track["audio_url"]))
        assert track["duration"] == pytest.approx(14.0) and len(audio) == len(voice)
        assert 0.3 < correlation(audio, voice) < 0.95  # the voice, with a band under it
        assert (await api.file(track["image_url"])).startswith(PNG)
    record = await api.record("generate", task_id)
    assert record["operationType"] == "add_instrumental" and record["response"]["sunoData"][0]["sourceAudioUrl"] == url
    stems_id = await api.submit("vocal-removal/generate", {"taskId": task_id, "audioId": tracks[0]["id"],
                                                           "type": "separate_vocal"})
    stems = (await api.finished("vocal-removal", stems_id))["response"]
    assert correlation(samples(await api.file(stems["vocalUrl"])), voice) > 0.999  # the voice is the upload
    lyrics = await api.post("generate/get-timestamped-lyrics", {"taskId": task_id, "audioId": tracks[0]["id"]},
                            callback=False)
    assert lyrics["data"]["alignedWords"] == []  # the sandbox does not know the words it did not sing


async def test_add_vocals_sings_the_lyrics_over_the_uploaded_instrumental(api: Api, discord_fake) -> None:
    band_wav = media.synthesize_song("a member's band", 13.0, instrumental=True)
    url = await hosted(discord_fake, "band.wav", band_wav)
    task_id = await api.submit("generate/add-vocals", {"uploadUrl": url, "prompt": LYRICS, "title": "Sung",
                                                       "style": "pop", "negativeTags": "metal", "model": "V5",
                                                       "vocalGender": "f"})
    data = await api.finished("generate", task_id)
    assert data["status"] == "SUCCESS" and data["operationType"] == "add_vocals"
    track = data["response"]["sunoData"][0]
    assert track["prompt"] == LYRICS and track["modelName"] == "chirp-crow"
    audio = samples(await api.file(track["audioUrl"]))
    band = samples(band_wav)
    assert len(audio) == len(band) and 0.3 < correlation(audio, band) < 0.98
    sung = media.synthesize_stems(seed(task_id), 13.0, ("vocals",), options=SongOptions(register="f", style="pop"))
    lead = samples(sung["vocals"])
    assert correlation(audio, lead) > 0.2  # the sandbox's sung line is in the mix
    words = (await api.post("generate/get-timestamped-lyrics", {"taskId": task_id, "audioId": track["id"]},
                            callback=False))["data"]["alignedWords"]
    assert words[0]["word"] == "[Verse]\nPaper"
    for word in words:  # each word where the line is sung (the song's last second fades out)
        assert word["endS"] <= 12.0 and rms(lead, word["startS"], word["endS"]) > 300 * fade(word, 13.0), word
    export = await api.submit("wav/generate", {"taskId": task_id, "audioId": track["id"]})
    await api.hook.wait(export, bool)
    wav_url = (await api.finished("wav", export))["response"]["audioWavUrl"]
    assert await api.file(wav_url) == await api.file(track["audioUrl"])  # the export is the track itself


async def test_add_endpoints_refuse_what_kie_refuses(api: Api, discord_fake) -> None:
    url = await hosted(discord_fake, "v.wav", media.synthesize_song("v", 3.0))
    base = {"uploadUrl": url, "title": "T", "tags": "pop", "negativeTags": ""}
    refusals: list[tuple[dict[str, Any], int]] = [
        ({**base, "model": "V4_5"}, 422),  # V4_5PLUS or V5 only
        ({k: v for k, v in base.items() if k != "negativeTags"}, 422),
        ({k: v for k, v in base.items() if k != "tags"}, 422),
        ({**base, "styleWeight": 1.5}, 422),
        ({**base, "vocalGender": "x"}, 422),
        ({**base, "uploadUrl": f"{discord_fake.origin}/attachments/1/2/gone.wav"}, 451),
        ({**base, "title": "like the beatles"}, 400),
    ]
    for body, code in refusals:
        assert (await api.post("generate/add-instrumental", body))["code"] == code, body
    vocals = {"uploadUrl": url, "prompt": "la", "title": "T", "style": "pop", "negativeTags": ""}
    assert (await api.post("generate/add-vocals", {**vocals, "model": "V4"}))["code"] == 422
    assert (await api.post("generate/add-vocals", {k: v for k, v in vocals.items() if k != "style"}))["code"] == 422
    assert (await api.post("generate/add-vocals", {k: v for k, v in vocals.items()}, callback=False))["code"] == 422
    junk = await hosted(discord_fake, "song.mp3", b"ID3" + b"\x00" * 4000)  # not a WAV: a stand-in is sung
    task_id = await api.submit("generate/add-vocals", {**vocals, "uploadUrl": junk})
    track = (await api.finished("generate", task_id))["response"]["sunoData"][0]
    assert 16 <= wav_seconds(await api.file(track["audioUrl"])) <= 28


# ----- mashup ----------------------------------------------------------------------------------------------


async def test_mashup_blends_two_uploads_into_a_new_song(api: Api, discord_fake) -> None:
    first_wav = media.synthesize_song("first source", 12.0, instrumental=True)
    second_wav = media.synthesize_song("second source", 9.0)
    urls = [await hosted(discord_fake, "a.wav", first_wav), await hosted(discord_fake, "b.wav", second_wav)]
    task_id = await api.submit("generate/mashup", {"uploadUrlList": urls, "customMode": False, "model": "V4_5",
                                                   "prompt": "a sunny mashup"})
    calls = await api.hook.wait(task_id, lambda c: len(c) == 3)
    assert [b["data"]["callbackType"] for b in calls] == ["text", "first", "complete"]
    track = calls[-1]["data"]["data"][0]
    assert track["title"] == "A Sunny Mashup" and track["duration"] == pytest.approx(12.0)
    audio = samples(await api.file(track["audio_url"]))
    assert len(audio) == 12 * SR
    first, second = samples(first_wav), samples(second_wav)
    assert correlation(audio, first) > 0.15 and correlation(audio, second) > 0.1  # both are in it
    for body in ({"uploadUrlList": urls[:1]}, {"uploadUrlList": urls * 2}, {"uploadUrlList": "x"},
                 {"uploadUrlList": urls, "customMode": True, "title": "T"}):
        body = {"customMode": False, "model": "V5", "prompt": "p", **body}
        assert (await api.post("generate/mashup", body))["code"] == 422, body


# ----- replace-section -------------------------------------------------------------------------------------


async def test_replace_section_sings_the_section_anew_and_keeps_the_rest(api: Api) -> None:
    source_id, tracks = await api.song()
    source = tracks[0]
    duration = source["duration"]
    start, end = 4.0, round(min(4.0 + 8.0, duration / 2 + 2.0), 2)
    body = {"taskId": source_id, "audioId": source["id"], "prompt": "Brand new line\nsung right here",
            "tags": "folk", "title": "Paper Boats (edit)", "infillStartS": start, "infillEndS": end}
    task_id = await api.submit("generate/replace-section", body)
    assert (await api.record("generate", task_id))["status"] == "PENDING"
    calls = await api.hook.wait(task_id, bool)
    await asyncio.sleep(0.2)
    assert [b["data"]["callbackType"] for b in api.hook.of(task_id)] == ["complete"]  # complete only
    new = calls[0]["data"]["data"]
    assert len(new) == 2 and new[0]["duration"] == duration and new[0]["prompt"] == LYRICS
    audio, old = samples(await api.file(new[0]["audio_url"])), samples(await api.file(source["audioUrl"]))
    assert len(audio) == len(old)
    fade = studio.CROSSFADE
    assert correlation(audio[: int((start - fade) * SR)], old[: int((start - fade) * SR)]) > 0.999
    assert correlation(audio[int((end + fade) * SR):], old[int((end + fade) * SR):]) > 0.999
    assert correlation(audio[int(start * SR):int(end * SR)], old[int(start * SR):int(end * SR)]) < 0.8
    record = await api.record("generate", task_id)
    assert record["status"] == "SUCCESS" and record["parentMusicId"] == source["id"]
    words = (await api.post("generate/get-timestamped-lyrics", {"taskId": task_id, "audioId": new[0]["id"]},
                            callback=False))["data"]["alignedWords"]
    inside = [w["word"].strip("\n") for w in words if start <= w["startS"] < end]
    assert inside[:3] == ["Brand", "new", "line"]
    assert words[0]["word"] == "[Verse]\nPaper"
    # no callBackUrl is fine here; the section's limits are checked
    assert (await api.post("generate/replace-section", body, callback=False))["code"] == 200
    for change, code in [({"infillEndS": start + 5}, 422), ({"infillStartS": 0, "infillEndS": duration * 0.6}, 422),
                         ({"infillEndS": duration + 1}, 422), ({"infillStartS": end, "infillEndS": start}, 422),
                         ({"audioId": "nope"}, 404), ({"infillEndS": "soon"}, 422), ({"callBackUrl": ""}, 422)]:
        assert (await api.post("generate/replace-section", {**body, **change}, callback=False))["code"] == code, change


async def test_a_failed_replace_section_says_so_like_kie(api: Api) -> None:
    source_id, tracks = await api.song()
    body = {"taskId": source_id, "audioId": tracks[0]["id"], "prompt": "x [sandbox:fail]", "tags": "t", "title": "t",
            "infillStartS": 1, "infillEndS": 7.5}
    task_id = await api.submit("generate/replace-section", body)
    (failure,) = await api.hook.wait(task_id, bool)
    assert failure["code"] == 501 and failure["data"]["callbackType"] == "error"
    assert failure["data"]["error"] and "data" not in failure["data"]
    assert (await api.finished("generate", task_id))["status"] == "GENERATE_AUDIO_FAILED"


# ----- timestamped lyrics, boost style ---------------------------------------------------------------------


async def test_timestamped_lyrics_line_up_with_the_sung_phrases(api: Api) -> None:
    task_id, tracks = await api.song()
    track = tracks[0]
    answer = await api.post("generate/get-timestamped-lyrics", {"taskId": task_id, "audioId": track["id"]},
                            callback=False)
    assert answer["code"] == 200
    data = answer["data"]
    assert set(data) == {"alignedWords", "waveformData", "hootCer", "isStreamed"}
    words = data["alignedWords"]
    tokens = [token for line in LYRICS.splitlines() if not line.startswith("[") for token in line.split()]
    assert [w["word"].split("\n")[-1] for w in words] == tokens
    assert all(w["success"] and w["palign"] == 0 for w in words)
    assert all(0 <= w["startS"] < w["endS"] <= track["duration"] for w in words)
    separation = await api.submit("vocal-removal/generate", {"taskId": task_id, "audioId": track["id"],
                                                             "type": "separate_vocal"})
    vocals = samples(await api.file((await api.finished("vocal-removal", separation))["response"]["vocalUrl"]))
    for word in words:
        assert rms(vocals, word["startS"], word["endS"]) > 300 * fade(word, track["duration"]), word
    # a karaoke .lrc: a line starts where a word carries a line break
    lines = [(w["startS"], w["word"].split("\n")[-1]) for w in words if "\n" in w["word"] or w is words[0]]
    assert [text for _, text in lines] == ["Paper", "Carry", "Sail", "Home"]
    gaps = [(a["endS"], b["startS"]) for a, b in pairwise(words) if b["startS"] - a["endS"] > 0.3]
    for quiet_from, quiet_to in gaps:  # where no word is sung, the voice rests
        assert rms(vocals, quiet_from + 0.1, quiet_to - 0.05) < 50
    assert len(data["waveformData"]) == 200 and max(data["waveformData"]) == pytest.approx(0.8, abs=0.01)
    instrumental_id, instrumental = await api.song(instrumental=True, prompt="")
    empty = await api.post("generate/get-timestamped-lyrics", {"taskId": instrumental_id,
                                                               "audioId": instrumental[0]["id"]}, callback=False)
    assert empty["data"]["alignedWords"] == []
    assert (await api.post("generate/get-timestamped-lyrics", {"taskId": task_id}, callback=False))["code"] == 422
    assert (await api.post("generate/get-timestamped-lyrics", {"taskId": task_id, "audioId": instrumental[0]["id"]},
                           callback=False))["code"] == 404


async def test_boost_style_answers_at_once(api: Api) -> None:
    first = await api.post("style/generate", {"content": "Pop, Mysterious"}, callback=False)
    again = await api.post("style/generate", {"content": "Pop, Mysterious"}, callback=False)
    assert first["code"] == 200 and first["data"]["successFlag"] == "1"
    assert first["data"]["result"] == again["data"]["result"] == studio.boost_style("Pop, Mysterious")
    assert first["data"]["taskId"] != again["data"]["taskId"]
    assert (await api.post("style/generate", {}, callback=False))["code"] == 422
    assert (await api.post("style/generate", {"content": "x" * 1001}, callback=False))["code"] == 413


# ----- personas --------------------------------------------------------------------------------------------


async def test_a_persona_is_made_once_per_track_and_sings_later_songs(api: Api) -> None:
    source_id, tracks = await api.song(vocalGender="m")
    body = {"taskId": source_id, "audioId": tracks[0]["id"], "name": "Captain", "description": "low and warm",
            " vocalStart": 0, "vocalEnd": 12}
    made = await api.post("generate/generate-persona", body, callback=False)
    assert made["code"] == 200 and made["data"]["name"] == "Captain"
    persona = made["data"]["personaId"]
    again = await api.post("generate/generate-persona", body, callback=False)
    assert (again["code"], again["msg"]) == (409, "Persona already exists")
    for window in ({"vocalStart": 0, "vocalEnd": 5}, {"vocalStart": 2, "vocalEnd": 40}, {"vocalStart": -1}):
        other = {**body, "audioId": tracks[1]["id"], **window}
        assert (await api.post("generate/generate-persona", other, callback=False))["code"] == 422, window
    # A style persona (the default) sings with its voice in its song's key, mode and tempo.
    task_id, new = await api.song(personaId=persona, title="With Captain")
    key, minor, bpm = media.song_traits(seed(source_id), tracks[0]["duration"], options=SongOptions(register="m",
                                                                                                     style="folk"))
    expected = SongOptions(key=key, minor=minor, bpm=bpm, register="m", voice=media.voice_from_seed(persona),
                           style="folk")
    assert await api.file(new[0]["audioUrl"]) == media.synthesize_song(seed(task_id), new[0]["duration"],
                                                                         options=expected)
    plain = media.synthesize_song(seed(task_id), new[0]["duration"], options=expected._replace(voice=None))
    assert await api.file(new[0]["audioUrl"]) != plain  # the voice is the persona's
    # A voice persona (V5) brings only the voice.
    voice_id, voiced = await api.song(personaId=persona, personaModel="voice_persona", model="V5")
    only_voice = SongOptions(register="m", voice=media.voice_from_seed(persona), style="folk")
    assert await api.file(voiced[0]["audioUrl"]) == media.synthesize_song(seed(voice_id), voiced[0]["duration"],
                                                                            options=only_voice)
    # personaId is accepted by extend, upload-cover and upload-extend too; an unknown one is refused.
    upload = tracks[1]["audioUrl"]
    assert (await api.post("generate/extend", {"defaultParamFlag": True, "audioId": tracks[0]["id"], "model": "V4_5PLUS",
                                               "prompt": "more", "style": "folk", "title": "More", "continueAt": 5,
                                               "personaId": persona}))["code"] == 200
    assert (await api.post("generate/upload-cover", {"uploadUrl": upload, "customMode": True, "instrumental": False,
                                                     "model": "V4_5PLUS", "prompt": "la", "style": "folk",
                                                     "title": "Cover", "personaId": persona}))["code"] == 200
    assert (await api.post("generate/upload-extend", {"uploadUrl": upload, "defaultParamFlag": True,
                                                      "instrumental": False, "continueAt": 3, "model": "V4_5PLUS",
                                                      "prompt": "la", "style": "folk", "title": "Ext",
                                                      "personaId": persona}))["code"] == 200
    refused = await api.post("generate", {"customMode": True, "instrumental": True, "model": "V5", "style": "s",
                                          "title": "t", "personaId": "no-such-persona"})
    assert refused["code"] == 404
    wrong_model = await api.post("generate", {"customMode": True, "instrumental": True, "model": "V4_5", "style": "s",
                                              "title": "t", "personaId": persona, "personaModel": "voice_persona"})
    assert wrong_model["code"] == 422


# ----- generate's tuning fields ----------------------------------------------------------------------------


async def test_generate_range_checks_and_applies_its_tuning_fields(api: Api) -> None:
    base = {"customMode": True, "instrumental": False, "model": "V4_5PLUS", "prompt": LYRICS, "style": "slow dark",
            "title": "Tuned"}
    for change in ({"styleWeight": 1.01}, {"styleWeight": -0.1}, {"weirdnessConstraint": "high"},
                   {"audioWeight": True}, {"vocalGender": "male"}, {"personaModel": "both"}):
        assert (await api.post("generate", {**base, **change}))["code"] == 422, change
    tuning = {"vocalGender": "f", "styleWeight": 0.9, "weirdnessConstraint": 0.8, "audioWeight": 0.3}
    task_id, tracks = await api.song(**{**base, **tuning})
    options = SongOptions(register="f", weirdness=0.8, style="slow dark", style_weight=0.9)
    track = tracks[0]
    audio = await api.file(track["audioUrl"])
    assert audio == media.synthesize_song(seed(task_id), track["duration"], options=options)
    assert audio != media.synthesize_song(seed(task_id), track["duration"])
    _, minor, bpm = media.song_traits(seed(task_id), track["duration"], options=options)
    own = media.song_traits(seed(task_id), track["duration"])[2]
    assert minor and bpm == round(own + (72 - own) * 0.9)  # "slow dark", followed at 0.9
    # In simple mode kie ignores them (contract §1: custom mode only): the song is the seed's own.
    simple_id, simple = await api.song(customMode=False, prompt="a quiet song", vocalGender="m", styleWeight=1.0)
    assert await api.file(simple[0]["audioUrl"]) == media.synthesize_song(seed(simple_id), simple[0]["duration"])


# ----- cover images ----------------------------------------------------------------------------------------


async def test_cover_images_once_per_task(api: Api) -> None:
    task_id, _ = await api.song()
    cover_id = await api.submit("suno/cover/generate", {"taskId": task_id})
    again = await api.post("suno/cover/generate", {"taskId": task_id})
    assert again["code"] == 400 and again["data"] == {"taskId": cover_id}
    (callback,) = await api.hook.wait(cover_id, bool)
    assert callback["code"] == 200 and set(callback["data"]) == {"taskId", "images"}
    images = callback["data"]["images"]
    assert len(images) == 2 and images[0] != images[1]
    pictures = [await api.file(url) for url in images]
    assert all(picture.startswith(PNG) for picture in pictures) and pictures[0] != pictures[1]
    record = await api.record("suno/cover", cover_id)
    assert record["successFlag"] == 1 and record["parentTaskId"] == task_id
    assert record["response"]["images"] == images
    assert (await api.post("suno/cover/generate", {"taskId": "nope"}))["code"] == 404
    pending = await api.submit("generate", {"customMode": False, "instrumental": False, "model": "V5", "prompt": "p"})
    assert (await api.post("suno/cover/generate", {"taskId": pending}))["code"] == 422
    other, _ = await api.song()
    failing = await api.post("suno/cover/generate", {"taskId": other, "callBackUrl": api.hook.url + "?[sandbox:fail]"},
                             callback=False)
    (failure,) = await api.hook.wait(failing["data"]["taskId"], bool)
    assert failure["code"] == 501 and failure["data"]["images"] is None
    assert (await api.record("suno/cover", failing["data"]["taskId"]))["successFlag"] == 3


# ----- MIDI ------------------------------------------------------------------------------------------------


async def test_midi_of_a_separation_is_the_notes_its_stems_play(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    task_id, tracks = await api.song()
    track = tracks[0]
    separation = await api.submit("vocal-removal/generate", {"taskId": task_id, "audioId": track["id"],
                                                             "type": "split_stem"})
    assert (await api.post("midi/generate", {"taskId": separation}))["code"] == 422  # not finished yet
    stems = (await api.finished("vocal-removal", separation))["response"]
    origin = {item["stem_type_group_name"]: item for item in stems["originData"]}
    assert set(origin) == {"Vocals", "Drums", "Bass", "Percussion", "Strings"}
    midi_id = await api.submit("midi/generate", {"taskId": separation})
    (callback,) = await api.hook.wait(midi_id, bool)
    assert callback["code"] == 200 and callback["data"]["taskId"] == midi_id and callback["task_id"] == midi_id
    assert callback["data"]["state"] == "complete"
    instruments = {i["name"]: i["notes"] for i in callback["data"]["instruments"]}
    assert set(instruments) == {"Voice Oohs", "Drums", "Electric Bass (finger)", "Percussion", "String Ensemble 1"}
    vocals = samples(await api.file(stems["vocalUrl"]))
    checked = 0
    for note in instruments["Voice Oohs"]:
        assert 0 <= note["start"] < note["end"] <= track["duration"] and 0 < note["velocity"] <= 1
        if note["end"] - note["start"] < 0.15 or note["start"] < 0.6 or note["end"] > track["duration"] - 2.6:
            continue
        window = vocals[int((note["start"] + 0.05) * SR):int((note["end"] - 0.03) * SR)]
        assert sounds_pitch(window, note["pitch"]), note
        checked += 1
    assert checked >= 4
    bass = samples(await api.file(stems["bassUrl"]))
    for note in instruments["Electric Bass (finger)"][2:6]:
        window = bass[int((note["start"] + 0.01) * SR):int((note["start"] + 0.12) * SR)]
        assert sounds_pitch(window, note["pitch"]), note
    worked_out: list[studio.Recipe] = []  # record-info gives the instruments the callback gave, not anew

    def notes_again(recipe: studio.Recipe) -> dict:
        worked_out.append(recipe)
        return {}

    monkeypatch.setattr(studio, "notes", notes_again)
    for _ in range(2):
        record = await api.record("midi", midi_id)
        assert record["successFlag"] == 1 and record["midiData"]["instruments"] == callback["data"]["instruments"]
    assert worked_out == []
    monkeypatch.undo()
    # the bot's writer turns the list into a .mid that reads back with the same notes
    _, _, midi_tracks = parse_midi(write_midi(callback["data"]["instruments"]))
    assert [t.name for t in midi_tracks[1:]] == [i["name"] for i in callback["data"]["instruments"]]
    assert len(midi_tracks[1].notes) == len(callback["data"]["instruments"][0]["notes"])
    # one stem by its originData id; refusals
    only_bass = await api.submit("midi/generate", {"taskId": separation, "audioId": origin["Bass"]["id"]})
    (bass_call,) = await api.hook.wait(only_bass, bool)
    assert [i["name"] for i in bass_call["data"]["instruments"]] == ["Electric Bass (finger)"]
    assert (await api.post("midi/generate", {"taskId": separation, "audioId": "nope"}))["code"] == 404
    assert (await api.post("midi/generate", {"taskId": task_id}))["code"] == 404  # a music task, not a separation
    two = await api.submit("vocal-removal/generate", {"taskId": task_id, "audioId": track["id"],
                                                      "type": "separate_vocal"})
    await api.finished("vocal-removal", two)
    both = await api.submit("midi/generate", {"taskId": two})
    (both_call,) = await api.hook.wait(both, bool)
    assert {i["name"] for i in both_call["data"]["instruments"]} == set(instruments)


# ----- sounds ----------------------------------------------------------------------------------------------


async def test_sounds_are_short_synthesized_effects(api: Api) -> None:
    task_id = await api.submit("generate/sounds", {"prompt": "rain on a tin roof", "model": "V5", "soundLoop": True,
                                                   "soundTempo": 120, "soundKey": "D#m", "grabLyrics": False})
    calls = await api.hook.wait(task_id, lambda c: len(c) == 3)
    tracks = calls[-1]["data"]["data"]
    assert [b["data"]["callbackType"] for b in calls] == ["text", "first", "complete"]
    assert tracks[0]["tags"] == "sound effect, loop, 120 BPM, D#m" and tracks[0]["title"] == "Rain On A Tin Roof"
    for track in tracks:
        audio = samples(await api.file(track["audio_url"]))
        assert track["duration"] == pytest.approx(4.0) and len(audio) == 4 * SR  # 8 beats at 120 BPM
        steps = max(abs(audio[n + 1] - audio[n]) for n in range(len(audio) - 1))
        assert abs(audio[-1] - audio[0]) <= steps  # it loops without a click
    record = await api.finished("generate", task_id)
    assert record["operationType"] == "sounds" and len(record["response"]["sunoData"]) == 2
    shot_id = await api.submit("generate/sounds", {"prompt": "laser zap", "model": "V5"})
    shot = (await api.finished("generate", shot_id))["response"]["sunoData"][0]
    assert 2.5 <= wav_seconds(await api.file(shot["audioUrl"])) <= 6.0
    changes: list[tuple[dict[str, Any], int]] = [
        ({"model": "V4_5"}, 422), ({"prompt": ""}, 422), ({"prompt": "x" * 501}, 413), ({"soundTempo": 0}, 422),
        ({"soundTempo": 301}, 422), ({"soundTempo": 1.5}, 422), ({"soundKey": "H"}, 422), ({"soundLoop": "yes"}, 422),
    ]
    for change, code in changes:
        body = {"prompt": "beep", "model": "V5", **change}
        assert (await api.post("generate/sounds", body))["code"] == code, change
