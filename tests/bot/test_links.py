"""Links members can open (the signed links themselves are tested through the bot in test_media.py)."""

from __future__ import annotations

from bot.fetch import Fetcher, FetchPolicy
from bot.links import Links, byte_range


def links(public: str | None, *, allowed: frozenset[str] = frozenset()) -> Links:
    fetcher = Fetcher(FetchPolicy(allowed_hosts=allowed))
    return Links(public, b"k" * 32, own_origin="http://127.0.0.1:8080", may_link=fetcher.may_link)


def test_the_bots_own_files_are_shown_under_the_public_url_or_not_at_all() -> None:
    sandbox_file = "http://127.0.0.1:8080/sandbox/files/t1/0.wav"
    assert links("https://chorus.example.com").outward(sandbox_file) == \
        "https://chorus.example.com/sandbox/files/t1/0.wav"
    assert links(None).outward(sandbox_file) is None


def test_only_public_provider_links_are_shown() -> None:
    shown = links(None, allowed=frozenset({"files.lan:9000"}))
    assert shown.outward("https://cdn1.suno.ai/abc.mp3") == "https://cdn1.suno.ai/abc.mp3"
    for hidden in ("http://127.0.0.1:9000/a.mp3", "http://localhost/a.mp3", "http://10.0.0.5/a.mp3",
                   "http://[::1]/a.mp3", "http://files.lan:9000/a.mp3", "ftp://cdn1.suno.ai/a.mp3", ""):
        assert shown.outward(hidden) is None, hidden


def test_ranges_players_ask_for() -> None:
    assert byte_range(None, 1000) == (0, 1000)
    assert byte_range("bytes=0-99", 1000) == (0, 100)
    assert byte_range("bytes=900-", 1000) == (900, 100)
    assert byte_range("bytes=-100", 1000) == (900, 100)
    assert byte_range("bytes=990-5000", 1000) == (990, 10)  # cut to the file
    assert byte_range("bytes=0-1,5-9", 1000) == (0, 1000)  # several: answered whole
    assert byte_range("bytes=1000-", 1000) is None and byte_range("bytes=5-2", 1000) is None  # 416
    assert byte_range("bytes=-0", 1000) is None and byte_range("items=0-1", 1000) == (0, 1000)
