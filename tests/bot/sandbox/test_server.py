"""The sandbox provider: the real kie client talks to it over HTTP, and members get real, playable audio."""

from __future__ import annotations

import io
import wave

import aiohttp

from bot.core import ChorusBot
from tests.conftest import BotFactory, Harness
from tests.support.discord_fake import route


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
