"""Delivery: size-aware uploads (a link instead of an upload that would fail), and robust fallbacks."""

from __future__ import annotations

import asyncio
import re

import aiohttp
import pytest

from tests.conftest import BotFactory, Clock, Harness, terminate
from tests.support.discord_fake import FakeDiscord, MiB
from tests.support.kie_fake import FakeKie
from tests.support.loopback import LoopbackServer

pytestmark = pytest.mark.both_databases


async def test_a_track_over_the_upload_limit_is_posted_as_our_signed_link(harness: Harness) -> None:
    h = harness
    h.kie.audio_size = 11 * MiB
    _, task_id = await h.generate()
    await h.kie.advance(task_id, "complete")
    tracks = await h.wait_for_tracks()
    public = h.bot.settings.public_base_url
    async with aiohttp.ClientSession() as http:
        for n, message in enumerate(tracks):
            assert not any(a["filename"].endswith(".mp3") for a in message["attachments"])
            audio_field = next(f for f in message["embeds"][0]["fields"] if f["name"] == "Audio")
            assert "11.0 MiB" in audio_field["value"] and "limit 10 MiB" in audio_field["value"]
            link = link_in(audio_field["value"])
            assert link.startswith(f"{public}/media/") and h.kie.base_url not in audio_field["value"]
            async with http.get(link) as response:  # our copy, streamed from the media store
                assert response.status == 200 and response.content_type == "audio/mpeg"
                assert await response.read() == h.kie.audio_bytes(task_id, n)
            assert any(a["filename"].startswith("cover") for a in message["attachments"])  # the cover still uploads
    assert not any(call.status == 413 for call in h.discord.calls)  # never an upload that fails


def link_in(text: str) -> str:
    match = re.search(r"\]\((\S+?)\)", text)
    assert match, text
    return match.group(1)


async def test_a_boosted_server_limit_from_the_interaction_is_used(harness: Harness) -> None:
    h = harness
    h.kie.audio_size = 11 * MiB
    h.discord.upload_limit = 50 * MiB
    payload = h.command("generate", {"prompt": "big song"}, attachment_size_limit=50 * MiB)
    await h.reply_to(payload)
    await h.kie.advance(h.kie.last_task_id, "complete")
    tracks = await h.wait_for_tracks()
    assert all(any(a["filename"].endswith(".mp3") and a["size"] == 11 * MiB for a in m["attachments"]) for m in tracks)


async def test_an_upload_refused_as_too_large_falls_back_to_a_link(harness: Harness) -> None:
    h = harness
    h.kie.audio_size = 9 * MiB
    h.discord.upload_limit = 8 * MiB  # the server's real limit is lower than the interaction said
    _, task_id = await h.generate()
    await h.kie.advance(task_id, "complete")
    tracks = await h.wait_for_tracks()
    assert len(tracks) == 2
    assert all(any(f["name"] == "Audio" for f in m["embeds"][0]["fields"]) for m in tracks)


async def test_a_file_the_provider_cannot_serve_loses_nothing_else(harness: Harness) -> None:
    h = harness
    _, task_id = await h.generate()
    h.kie.set_track_url(task_id, 0, "audio", h.kie.base_url + "/files/gone/0.mp3")
    await h.kie.advance(task_id, "complete")
    tracks = await h.wait_for_tracks()
    assert h.kie.base_url not in str(tracks[0]["embeds"])  # no link a member cannot open (the fake is on loopback)
    assert any(a["filename"].endswith(".mp3") for a in tracks[1]["attachments"])


# ----- only public addresses are fetched -----------------------------------------------------------------------


async def test_files_are_fetched_only_from_public_addresses(make_bot: BotFactory, discord_fake: FakeDiscord,
                                                           kie: FakeKie, clock: Clock) -> None:
    """A provider's answer names loopback, a name that resolves to it, the cloud metadata address, and an allowed
    server that redirects to loopback: nothing is fetched from them, nothing of theirs is posted, no link to
    them is shown; the song is still posted."""
    async with LoopbackServer() as service, LoopbackServer() as bouncer:
        service.serve("/secret", b"ADMIN-SECRET", "audio/mpeg")
        secret = service.url("/secret")
        bouncer.redirect("/bounce", secret)
        h = Harness(await make_bot(fetch_allow_hosts={f"localhost:{bouncer.port}"}), discord_fake, kie, clock)
        _, task_id = await h.generate()
        h.kie.set_track_url(task_id, 0, "audio", secret)
        h.kie.set_track_url(task_id, 0, "image", service.url("/secret", host="localhost"))
        h.kie.set_track_url(task_id, 1, "audio", bouncer.url("/bounce", host="localhost"))
        h.kie.set_track_url(task_id, 1, "image", "http://169.254.169.254/latest/meta-data/iam")
        await h.kie.advance(task_id, "complete")
        tracks = await h.wait_for_tracks()
        assert len(tracks) == 2 and bouncer.paths == ["/bounce"] and service.paths == []
        uploads = [f for call in h.discord.calls if call.files for f in call.files]
        assert uploads == [] and "ADMIN-SECRET" not in str([call.json for call in h.discord.calls])
        shown = str([m["embeds"] for m in tracks])
        assert str(service.port) not in shown and "169.254" not in shown


async def test_a_stalled_download_frees_its_delivery_in_seconds(make_bot: BotFactory, discord_fake: FakeDiscord,
                                                               kie: FakeKie, clock: Clock) -> None:
    """A file whose stream stops is given up after the read timeout (10 s; lowered here), and nothing of it is
    left in the media store."""
    async with LoopbackServer() as service:
        service.stall("/stall.mp3", b"ID3" + b"\0" * 1000)
        h = Harness(await make_bot(fetch_allow_hosts={f"127.0.0.1:{service.port}"}), discord_fake, kie, clock)
        h.bot.fetcher.read_timeout = 0.3
        _, task_id = await h.generate()
        h.kie.set_track_url(task_id, 0, "audio", service.url("/stall.mp3"))
        await h.kie.advance(task_id, "complete")
        tracks = await h.wait_for_tracks()
        assert not any(a["filename"].endswith(".mp3") for a in tracks[0]["attachments"])
        assert str(service.port) not in str(tracks[0]["embeds"])  # a loopback link would help nobody
        assert any(a["filename"].endswith(".mp3") for a in tracks[1]["attachments"])
        kept = sorted(p.name for p in h.bot.media.root.rglob("*") if p.is_file() and p.parent != h.bot.media.root)
        assert kept == ["a2-A_Cheerful_Song_About.mp3", "c1-cover-1.jpeg", "c2-cover-2.jpeg"]


# ----- channels that cannot take the result, and stops in the middle of a delivery ---------------------------


async def test_a_deleted_channel_keeps_the_song_and_the_member_gets_it_by_dm(harness: Harness) -> None:
    h = harness
    payload, task_id = await h.generate()
    user_id = int(payload["member"]["user"]["id"])
    h.discord.deleted_channels.add(h.channel_id)
    mark = len(h.discord.calls)
    await h.kie.advance(task_id, "complete")
    dm = await h.discord.wait_for(lambda c: c.method == "POST" and c.path.startswith("/channels/")
                                  and c.path != f"/channels/{h.channel_id}/messages" and c.status == 200, start=mark)
    await h.bot.tracker.idle()
    text = dm.json["content"]
    assert f"couldn't post it in <#{h.channel_id}>: the channel was deleted. It is kept:" in text
    assert "/track show" in text and h.kie.base_url not in text
    links = re.findall(r"\]\((\S+?)\)", text)  # our kept copies, under PUBLIC_BASE_URL
    assert len(links) == 2 and all(link.startswith(f"{h.bot.settings.public_base_url}/media/") for link in links)
    async with aiohttp.ClientSession() as http:
        for n, link in enumerate(links):
            async with http.get(link) as response:
                assert await response.read() == h.kie.audio_bytes(task_id, n)
    assert h.discord.dm_messages(user_id)[0]["content"] == text
    task = await h.bot.store.get_task(1)
    assert task is not None and task.unposted == "the channel was deleted" and task.told_at is not None
    assert len(task.tracks) == 2 and task.delivered_at is not None  # kept, and never retried in a loop
    posts = [c for c in h.discord.calls[mark:] if c.path == f"/channels/{h.channel_id}/messages"]
    assert len(posts) == 1 and posts[0].status == 404
    assert await h.bot.store.refund_of(1) is None  # the song was made: the credits stay spent


async def test_closed_dms_mean_the_member_is_told_at_their_next_command(harness: Harness) -> None:
    h = harness
    payload, task_id = await h.generate()
    user_id = int(payload["member"]["user"]["id"])
    h.discord.forbidden_channels.add(h.channel_id)
    h.discord.closed_dms.add(user_id)
    await h.kie.advance(task_id, "complete")
    await h.bot.tracker.idle()
    assert h.discord.dm_messages(user_id) == [] and h.track_messages() == []
    h.discord.forbidden_channels.clear()
    credits = h.command("credits")
    notice = await h.discord.wait_for(lambda c: c.method == "POST" and "couldn't post it" in str(c.json)
                                      and credits["token"] in c.path)
    assert "I'm no longer allowed to post there" in notice.json["content"] and notice.json["flags"] & 64
    again = h.command("credits")  # told once
    await h.reply_to(again)
    await h.bot.tracker.idle()
    assert sum("couldn't post it" in str(c.json) for c in h.discord.calls if c.path.startswith("/webhooks/")) == 1


async def test_a_delivery_cut_off_by_sigterm_is_posted_exactly_once_after_a_restart(
    make_bot: BotFactory, discord_fake: FakeDiscord, kie: FakeKie, clock: Clock
) -> None:
    h = Harness(await make_bot(), discord_fake, kie, clock)
    _, task_id = await h.generate()
    # Discord makes the first track's message, but the answer never reaches the bot: it is stopped first.
    discord_fake.stall_next(lambda call: bool(call.files))
    await kie.advance(task_id, "complete")
    await discord_fake.wait_for_message(h.channel_id, lambda m: "your song is ready" in (m["content"] or ""))
    h.bot.tracker.shutdown_grace = 0.1
    await terminate(h.bot)
    task = await h.bot.store.get_task(1) if h.bot.store else None
    again = Harness(await make_bot(), discord_fake, kie, clock)
    tracks = await again.wait_for_tracks()
    assert task is None and len(tracks) == 2  # one message per track: the first is not posted twice
    first = tracks[0]
    stored = await again.bot.store.get_task(1)
    assert stored is not None and stored.tracks[0].message_id == int(first["id"])
    assert [m["nonce"] for m in tracks] == ["chorus-1-0", "chorus-1-1"]


async def test_a_burst_into_one_channel_waits_for_discords_rate_limit_instead_of_hitting_it(harness: Harness) -> None:
    h = harness
    task_ids = [(await h.generate(f"song {n}"))[1] for n in range(4)]
    h.discord.channel_rate_limit = (3, 0.3)  # Discord announces it in X-RateLimit-* headers
    await asyncio.gather(*(h.kie.advance(task_id, "complete") for task_id in task_ids))
    assert len(await h.wait_for_tracks(8)) == 8
    assert h.discord.rate_limited == []  # not one 429: discord.py waited for the window each time
