"""The media store: songs outlive the provider's 14 days. Every file the bot fetched is kept, posted from the
copy, and reachable through signed links under PUBLIC_BASE_URL; a link that was altered is refused."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re

import aiohttp
import pytest
from yarl import URL

from bot.media import DAY
from tests.conftest import BotFactory, Clock, Harness
from tests.support.discord_fake import FakeDiscord, MiB
from tests.support.interactions import MODERATOR_PERMS
from tests.support.kie_fake import FakeKie

pytestmark = pytest.mark.both_databases


def links_in(text: str) -> list[str]:
    return re.findall(r"\]\((\S+?)\)", text)


async def fetch(url: str, **headers: str) -> tuple[int, bytes, dict[str, str]]:
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as response:
        return response.status, await response.read(), dict(response.headers)


async def test_after_the_provider_deleted_a_song_show_info_cover_and_extend_use_our_copy(harness: Harness) -> None:
    h = harness
    source_id, tracks = await h.song("a song for two weeks from now")
    audio_id = h.kie.task(source_id).tracks[0].audio_id
    audio, cover = h.kie.audio_bytes(source_id, 0), h.kie.image_bytes(source_id, 0)
    h.clock.advance(15 * DAY)  # Suno keeps files for 14 days
    h.kie.expire(source_id)
    status, _, _ = await fetch(h.kie.audio_url(source_id, 0))
    assert status == 404

    reply = await h.reply_to(h.command("track", {"id": audio_id}, subcommand="show"))
    assert "Posted:" in reply["content"]
    shown = next(c for c in reversed(h.discord.calls) if c.files)  # re-posted from our copy, with its cover
    assert {f.filename.rsplit(".", 1)[1]: f.data for f in shown.files} == {"mp3": audio, "jpeg": cover}

    info = (await h.reply_to(h.click(tracks[0], "Info")))["embeds"][0]
    files = next(f["value"] for f in info["fields"] if f["name"] == "Files")
    assert "expire" not in files and h.kie.base_url not in files
    audio_link, cover_link = links_in(files)
    assert audio_link.startswith(f"{h.bot.settings.public_base_url}/media/")
    assert (await fetch(audio_link))[1] == audio and (await fetch(cover_link))[1] == cover

    covered = await h.finished(h.command("cover", {"track": audio_id, "style": "bossa nova"}), "upload_cover")
    sent = h.kie.task(covered)
    assert sent.body["uploadUrl"].startswith(f"{h.bot.settings.public_base_url}/media/")
    assert sent.upload_bytes == audio  # Suno fetched our copy
    await h.kie.advance(covered, "complete")
    await h.discord.wait_for_message(h.channel_id, lambda m: "your song is ready" in (m["content"] or "")
                                     and m["id"] != tracks[0]["id"])
    await h.bot.tracker.idle()
    h.clock.advance(2 * DAY)  # the link Suno was given lasted a day: a Re-roll gives it a fresh one
    again = await h.finished(h.click(h.track_messages()[-1], "Re-roll"), "upload_cover")
    assert h.kie.task(again).upload_bytes == audio and h.kie.task(again).body["uploadUrl"] != sent.body["uploadUrl"]

    stems = await h.reply_to(h.command("stems", {"track": audio_id}))
    assert "can't make new stems" in stems["content"] and h.kie.separations == []  # nothing sent, nothing spent

    h.kie.upload_duration = h.kie.task(source_id).tracks[0].duration  # what Suno measures in the file it fetches
    extended = await h.finished(h.command("extend", {"track": audio_id, "lyrics": "one more verse"}), "upload_extend")
    sent = h.kie.task(extended)
    assert sent.upload_bytes == audio and sent.body["continueAt"] > 0  # from the end of the old track


async def test_a_link_that_was_altered_or_has_expired_is_refused(make_bot: BotFactory, discord_fake: FakeDiscord,
                                                                 kie: FakeKie, clock: Clock) -> None:
    h = Harness(await make_bot(media_link_days=7.0), discord_fake, kie, clock)
    h.kie.audio_size = 11 * MiB
    source_id, tracks = await h.song()
    field = next(f["value"] for f in tracks[0]["embeds"][0]["fields"] if f["name"] == "Audio")
    (link,) = links_in(field)
    status, body, headers = await fetch(link, Range="bytes=0-99")  # players seek
    assert status == 206 and body == h.kie.audio_bytes(source_id, 0)[:100]
    assert headers["Content-Type"] == "audio/mpeg" and headers["X-Content-Type-Options"] == "nosniff"

    signature = link.rsplit("s=", 1)[1]
    forged = link.replace(signature, ("A" if signature[0] != "A" else "B") + signature[1:])
    other_file = link.replace("/a1-", "/c1-")
    later = re.sub(r"e=\d+", lambda m: f"e={int(m.group(0)[2:]) + 86400}", link)
    never = re.sub(r"e=\d+", "e=0", link)
    for altered in (forged, other_file, later, never, link.split("?")[0]):
        assert (await fetch(altered))[0] == 403, altered

    clock.advance(8 * DAY)
    assert (await fetch(link))[0] == 410  # expired: the Info button gives a fresh one
    info = (await h.reply_to(h.click(tracks[0], "Info")))["embeds"][0]
    files = next(f["value"] for f in info["fields"] if f["name"] == "Files")
    expires = re.search(r"\(expire <t:(\d+):R>\)", files)  # says for how long
    assert expires and abs(int(expires.group(1)) - (clock() + 7 * DAY)) < 60
    assert (await fetch(links_in(files)[0]))[1] == h.kie.audio_bytes(source_id, 0)


async def test_downloads_cannot_crowd_out_the_providers_callbacks(make_bot: BotFactory, discord_fake: FakeDiscord,
                                                                   kie: FakeKie, clock: Clock,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    """The port that serves kept songs also takes callbacks: a reader too slow is cut off, and beyond the
    number of downloads at once the answer is "try again" rather than a held connection."""
    h = Harness(await make_bot(), discord_fake, kie, clock)
    h.kie.audio_size = 11 * MiB
    _, tracks = await h.song()
    field = next(f["value"] for f in tracks[0]["embeds"][0]["fields"] if f["name"] == "Audio")
    (link,) = links_in(field)
    endpoint = h.bot.media_endpoint
    endpoint.grace, endpoint.min_rate = 0.2, 1e12  # no reader keeps up
    caplog.set_level(logging.INFO, logger="bot.links")
    cut_off = asyncio.Event()
    watcher = logging.Handler()
    watcher.emit = lambda record: cut_off.set() if "cut off" in record.getMessage() else None  # type: ignore[method-assign]
    logging.getLogger("bot.links").addHandler(watcher)
    url = URL(link)
    reader, writer = await asyncio.open_connection(url.host, url.port, limit=1 << 16)
    writer.write(f"GET {url.raw_path_qs} HTTP/1.1\r\nHost: x\r\n\r\n".encode())  # then does not read
    try:
        async with asyncio.timeout(10):
            await cut_off.wait()
    finally:
        logging.getLogger("bot.links").removeHandler(watcher)
    received = 0
    with contextlib.suppress(ConnectionError):
        while chunk := await reader.read(1 << 20):  # what the kernel had buffered, then the end
            received += len(chunk)
    assert received < 11 * MiB  # the server let go
    writer.close()
    endpoint.max_downloads = 0
    status, _, headers = await fetch(link)
    assert status == 503 and headers["Retry-After"] == "10"
    _, task_id = await h.generate("callbacks still arrive")
    await h.kie.advance(task_id, "complete")
    await h.wait_for_tracks(4)


async def test_a_store_that_cannot_keep_a_file_still_posts_it(harness: Harness) -> None:
    h = harness
    h.bot.media.max_file = 1000  # as a full disk: nothing can be kept
    source_id, tracks = await h.song()
    uploads = [c for c in h.discord.calls if c.files]
    assert [next(f.data for f in c.files if f.filename.endswith(".mp3")) for c in uploads] == [
        h.kie.audio_bytes(source_id, n) for n in range(2)]  # uploaded as before there was a store
    assert list(h.bot.media.root.rglob("*.mp3")) == []


async def test_retention_deletes_old_copies_and_moderators_see_the_size(make_bot: BotFactory, discord_fake: FakeDiscord,
                                                                         kie: FakeKie, clock: Clock) -> None:
    h = Harness(await make_bot(media_retention_days=30.0), discord_fake, kie, clock)
    source_id, _ = await h.song()
    audio_id = h.kie.task(source_id).tracks[0].audio_id
    storage = await h.reply_to(h.command("mod", {}, subcommand="storage", permissions=MODERATOR_PERMS))
    kept = sum(len(h.kie.audio_bytes(source_id, n)) + len(h.kie.image_bytes(source_id, n)) for n in range(2))
    assert "**4** files" in storage["content"] and f"{kept / MiB:.1f} MiB" in storage["content"]
    assert "30 days" in storage["content"]

    clock.advance(31 * DAY)
    h.kie.expire(source_id)
    removed = await h.bot.media.prune(30.0)  # what the daily prune does
    assert removed.files == 4
    reply = await h.reply_to(h.command("track", {"id": audio_id}, subcommand="show"))
    assert "I have no copy of it" in reply["content"] and reply["flags"] & 64
    cover = await h.reply_to(h.command("cover", {"track": audio_id, "style": "punk"}))
    assert "no copy of it to send instead" in cover["content"]
    assert h.kie.submissions_of("upload_cover") == []  # nothing was sent, nothing spent
