"""The sandbox provider: the real kie client talks to it over HTTP, and members get real, playable audio."""

from __future__ import annotations

import io
import re
import wave

import aiohttp

from bot.core import ChorusBot
from tests.conftest import BotFactory, Harness
from tests.support.discord_fake import Call, route


async def sandbox_bot(make_bot: BotFactory, **overrides: object) -> ChorusBot:
    """A bot configured as a new admin would run it: no key, no public URL, the sandbox."""
    settings = {"provider": "sandbox", "api_key": None, "api_base_url": None, "public_base_url": None,
                "sandbox_stage_seconds": 0.05, **overrides}
    return await make_bot(**settings)


async def test_generate_on_the_sandbox_posts_real_audio(make_bot: BotFactory, discord_fake, kie, clock) -> None:
    h = Harness(await sandbox_bot(make_bot), discord_fake, kie, clock)
    payload = h.command("generate", {"prompt": "a happy tune about sandcastles"})
    reply = await h.reply_to(payload)
    assert "On it" in reply["content"]
    tracks = await h.wait_for_tracks()
    assert len(tracks) == 2
    uploads = [c for c in discord_fake.calls if route("POST", rf"/channels/{h.channel_id}/messages")(c) and c.files]
    durations = []
    for call in uploads:
        audio = next(f for f in call.files if f.filename.endswith(".wav"))
        with wave.open(io.BytesIO(audio.data)) as song:  # a real, playable WAV
            assert song.getnchannels() == 1 and song.getsampwidth() == 2
            durations.append(song.getnframes() / song.getframerate())
        cover = next(f for f in call.files if f.filename.endswith(".png"))
        assert cover.data.startswith(b"\x89PNG\r\n\x1a\n")
        assert call.json["embeds"][0]["title"].startswith("A Happy Tune About Sandcastles")
    assert all(16 <= d <= 28 for d in durations)
    assert "\u2705 Done" in h.messages()[0]["embeds"][0]["description"]
    assert kie.api_calls == []  # nothing went to the kie fake: the sandbox answered


def shown_links(calls: list[Call]) -> set[str]:
    """Every web link the bot showed in Discord (jump links to messages aside)."""
    found = {url for call in calls for url in re.findall(r"https?://[^\s)\"'\]]+", str(call.json))}
    return {url for url in found if not url.startswith("https://discord.com/")}


async def test_links_go_through_the_public_url_or_are_not_shown(make_bot: BotFactory, discord_fake, kie,
                                                                 clock) -> None:
    """Members cannot open the bot's loopback address: without PUBLIC_BASE_URL no link is shown at all; with
    it, every link is under it."""
    h = Harness(await sandbox_bot(make_bot, sandbox_stage_seconds=0.3), discord_fake, kie, clock)
    await h.reply_to(h.command("generate", {"prompt": "a song nobody can link to"}))
    await h.wait_for_tracks()
    assert shown_links(discord_fake.calls) == set()

    public = "https://chorus.example.com"
    await h.bot.close()
    mark = len(discord_fake.calls)
    h.bot = await sandbox_bot(make_bot, sandbox_stage_seconds=0.3, public_base_url=public)
    await h.reply_to(h.command("generate", {"prompt": "a song everybody can open"}))
    await h.wait_for_tracks(4)
    links = shown_links(discord_fake.calls[mark:])
    done = h.discord.channel_messages(h.channel_id)
    status = next(m for m in reversed(done) if "\u2705 Done" in str(m["embeds"]))
    assert f"[listen]({public}/media/" in status["embeds"][0]["description"]  # our kept copy
    assert links and all(link.startswith(public + "/") for link in links), links


async def test_the_sandbox_refuses_artist_names_like_suno(make_bot: BotFactory, discord_fake, kie, clock) -> None:
    h = Harness(await sandbox_bot(make_bot), discord_fake, kie, clock)
    reply = await h.reply_to(h.command("generate", {"prompt": "a song like Taylor Swift"}))
    assert "artist" in reply["content"]


async def test_the_sandbox_can_show_a_failure(make_bot: BotFactory, discord_fake, kie, clock) -> None:
    h = Harness(await sandbox_bot(make_bot), discord_fake, kie, clock)
    await h.reply_to(h.command("generate", {"prompt": "a song [sandbox:fail]"}))
    notice = await discord_fake.wait_for_message(h.channel_id, lambda m: "could not be made" in (m["content"] or ""))
    assert "Try again" in notice["content"]


async def test_the_sandbox_speaks_the_kie_protocol(make_bot: BotFactory) -> None:
    bot = await sandbox_bot(make_bot, sandbox_stage_seconds=60)
    base = f"{bot.web.local_url}/sandbox"
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/api/v1/generate", json={"prompt": "x"}) as response:
            assert (await response.json())["code"] == 401  # a key is required, as on kie.ai
        headers = {"Authorization": f"Bearer {bot.sandbox.api_key}"}
        body = {"customMode": False, "instrumental": False, "model": "V5", "callBackUrl": "http://127.0.0.1:9/x",
                "prompt": "hello"}
        async with session.post(f"{base}/api/v1/generate", json=body, headers=headers) as response:
            envelope = await response.json()
        assert envelope["code"] == 200
        task_id = envelope["data"]["taskId"]
        async with session.get(f"{base}/api/v1/generate/record-info", params={"taskId": task_id},
                               headers=headers) as response:
            info = (await response.json())["data"]
        assert info["status"] == "PENDING" and info["response"]["sunoData"] == []
        async with session.post(f"{base}/api/v1/generate", json={**body, "model": "V9"}, headers=headers) as response:
            assert (await response.json())["code"] == 422


async def test_sandbox_tasks_survive_a_restart(make_bot: BotFactory, discord_fake, kie, clock) -> None:
    first = Harness(await sandbox_bot(make_bot, sandbox_stage_seconds=0.3), discord_fake, kie, clock)
    await first.reply_to(first.command("generate", {"prompt": "slow song"}))
    port = first.bot.settings.web_port
    await first.bot.close()
    second = Harness(await sandbox_bot(make_bot, sandbox_stage_seconds=0.3, web_port=port), discord_fake, kie, clock)
    assert len(await second.wait_for_tracks()) == 2


# ----- every other operation, end to end on the sandbox --------------------------------------------------------


async def _sandbox_song(h: Harness) -> list[dict]:
    await h.reply_to(h.command("generate", {"prompt": "a song to build on"}))
    return await h.wait_for_tracks()


def _wav_seconds(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as song:
        return song.getnframes() / song.getframerate()


def _files(h: Harness, since: int) -> dict[str, bytes]:
    return {f.filename: f.data for c in h.discord.calls[since:] if c.method == "POST" and "/channels/" in c.path
            for f in c.files}


async def test_extend_cover_lyrics_stems_and_exports_on_the_sandbox(
    make_bot: BotFactory, discord_fake, kie, clock
) -> None:
    h = Harness(await sandbox_bot(make_bot), discord_fake, kie, clock)
    tracks = await _sandbox_song(h)
    minutes, seconds = next(f["value"] for f in tracks[0]["embeds"][0]["fields"] if f["name"] == "Duration").split(":")
    first_seconds = 60 * int(minutes) + int(seconds)

    mark = len(discord_fake.calls)
    await h.reply_to(h.click(tracks[0], "WAV"))
    await discord_fake.wait_for_message(h.channel_id, lambda m: "WAV is ready" in (m["content"] or ""))
    wav = next(data for name, data in _files(h, mark).items() if name.endswith(".wav"))
    assert abs(_wav_seconds(wav) - first_seconds) <= 1  # the song itself, as a real WAV

    mark = len(discord_fake.calls)
    await h.reply_to(h.click(tracks[0], "Video"))
    await discord_fake.wait_for_message(h.channel_id, lambda m: "music video is ready" in (m["content"] or ""))
    mp4 = next(data for name, data in _files(h, mark).items() if name.endswith(".mp4"))
    assert mp4[4:8] == b"ftyp" and b"avc1" in mp4[:4096] and b"fLaC" in mp4[:4096]

    mark = len(discord_fake.calls)
    await h.reply_to(h.command("stems", {"track": await h.audio_id(tracks[0]), "mode": "vocals"}))
    await discord_fake.wait_for_message(h.channel_id, lambda m: "stems are ready" in (m["content"] or ""))
    stems = _files(h, mark)
    assert sorted(name.rsplit("-", 1)[1] for name in stems) == ["Instrumental.wav", "Vocals.wav"]
    assert len({_wav_seconds(data) for data in stems.values()}) == 1

    await h.bot.tracker.idle()
    before = len(h.track_messages())
    await h.reply_to(h.command("extend", {"track": await h.audio_id(tracks[1])}))
    await h.wait_for_tracks(before + 2)
    await h.reply_to(h.command("cover", {"track": await h.audio_id(tracks[1]), "style": "bossa nova"}))
    await h.wait_for_tracks(before + 4)

    await h.reply_to(h.command("lyrics", {"prompt": "a lighthouse"}))
    await discord_fake.wait_for_message(h.channel_id, lambda m: "lyrics 2 of 2" in str(m["embeds"]))
    assert kie.api_calls == []


async def test_all_stems_on_the_sandbox_are_the_parts_the_song_has(
    make_bot: BotFactory, discord_fake, kie, clock
) -> None:
    h = Harness(await sandbox_bot(make_bot), discord_fake, kie, clock)
    tracks = await _sandbox_song(h)
    mark = len(discord_fake.calls)
    await h.reply_to(h.command("stems", {"track": await h.audio_id(tracks[0]), "mode": "all"}))
    await discord_fake.wait_for_message(h.channel_id, lambda m: "stems are ready" in (m["content"] or ""))
    names = sorted(name.rsplit("-", 1)[1].removesuffix(".wav") for name in _files(h, mark))
    assert names == ["Bass", "Drums", "Percussion", "Strings", "Vocals"]


async def test_the_sandbox_fetches_uploads_like_the_provider(make_bot: BotFactory, discord_fake, kie, clock) -> None:
    h = Harness(await sandbox_bot(make_bot), discord_fake, kie, clock)
    audio = discord_fake.host_file("demo.wav", b"RIFF" + b"\0" * 5000, content_type="audio/wav")
    payload = h.command("extend", {"audio": {**audio, "content_type": "audio/wav"}, "continue_at": 3.0,
                                   "lyrics": "[Verse] more"})
    assert "On it" in (await h.reply_to(payload))["content"]
    assert len(await h.wait_for_tracks()) == 2
    gone = {**audio, "url": f"{discord_fake.origin}/attachments/1/2/gone.wav", "content_type": "audio/wav"}
    reply = await h.reply_to(h.command("cover", {"audio": gone, "style": "jazz"}))
    assert "could not download" in reply["content"]
