"""Links members can open, and the endpoint that serves the bot's kept files behind them.

Every link the bot shows goes through PUBLIC_BASE_URL:

* a kept file (bot/media.py) is linked as ``<PUBLIC_BASE_URL>/media/<guild>/<task>/<name>?e=…&s=…``: an HMAC
  of the path and the expiry (``e=0``: it lasts as long as the file; MEDIA_LINK_DAYS makes new links expire).
  The signature is what makes the link unguessable: the path alone opens nothing;
* a file on the bot's own server (the built-in sandbox's) is linked under PUBLIC_BASE_URL instead of the
  loopback address the bot reaches it at;
* a provider's file is linked as the provider gives it only while nothing better exists (a song's stream
  while it is being made, or when no copy could be kept), and only when it is at a public address.

Without PUBLIC_BASE_URL there is no link to the bot's own files at all: a loopback link would help nobody.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from urllib.parse import parse_qs, quote, unquote, urlsplit

from aiohttp import web

from bot.media import DAY, Kept, MediaStore

log = logging.getLogger(__name__)

SIGNATURE_BYTES = 16  # 128 bits
# Served inline only as what it is: audio, pictures, video. Anything else is a download.
INLINE_TYPES = {
    ".mp3": "audio/mpeg", ".wav": "audio/wav", ".m4a": "audio/mp4", ".ogg": "audio/ogg", ".flac": "audio/flac",
    ".aac": "audio/aac", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp",
    ".gif": "image/gif", ".mp4": "video/mp4", ".mov": "video/quicktime", ".webm": "video/webm",
}
CACHE_SECONDS = 3600
MAX_DOWNLOADS = 64  # files sent at once; the rest of the port's 256 connections stay for callbacks
MIN_RATE = 32 * 1024  # bytes a second a download must keep up
SEND_GRACE = 30.0  # seconds on top of that (a slow start, a player that pauses)
CHUNK = 64 * 1024


class Links:
    """Builds the links members see, and checks the signed ones when they are opened."""

    def __init__(
        self,
        public_base: str | None,
        key: bytes,
        *,
        own_origin: str | None = None,
        link_days: float | None = None,
        may_link: Callable[[str], bool] = lambda url: False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.public_base = public_base
        self._key = key
        self.own_origin = own_origin  # how this process reaches its own web server (http://127.0.0.1:8080)
        self._link_days = link_days
        self.may_link = may_link  # which provider addresses members can open (set once the fetcher exists)
        self._clock = clock

    def kept(self, kept: Kept | None, *, days: float | None = None) -> str | None:
        """A signed link to a kept file (None without PUBLIC_BASE_URL), lasting ``days`` (default:
        MEDIA_LINK_DAYS, or as long as the file)."""
        if kept is None or self.public_base is None:
            return None
        expires = int(self._clock() + days * DAY if days else self.expires_at() or 0)
        return f"{self.public_base}/media/{quote(kept.relative)}?e={expires}&s={self._sign(kept.relative, expires)}"

    def renewed(self, url: str, *, days: float) -> str:
        """``url`` again with ``days`` more to live if it is one of this bot's signed links (given to Suno as
        a source and past its day, when a request is made again), else ``url`` as it is."""
        prefix = f"{self.public_base}/media/" if self.public_base else None
        if prefix is None or not url.startswith(prefix):
            return url
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        relative = unquote(url[len(prefix):].split("?", 1)[0])
        expires, signature = query.get("e", [""])[0], query.get("s", [""])[0]
        if self.check(relative, expires, signature) == "forged":
            return url
        stamp = int(self._clock() + days * DAY)
        return f"{prefix}{quote(relative)}?e={stamp}&s={self._sign(relative, stamp)}"

    def expires_at(self) -> float | None:
        """When a link made now stops working (None: it lasts as long as the file)."""
        return self._clock() + self._link_days * DAY if self._link_days else None

    def outward(self, url: str) -> str | None:
        """``url`` as a member can open it: the bot's own server's files under PUBLIC_BASE_URL, a public
        address as it is, anything else (loopback, private, an allowed internal host) not at all."""
        if not url:
            return None
        if self.own_origin and url.startswith(self.own_origin + "/"):
            return self.public_base + url[len(self.own_origin):] if self.public_base else None
        return url if self.may_link(url) else None

    def check(self, relative: str, expires: str, signature: str) -> str | None:
        """Why a signed link may not be opened ("forged", "expired"), or None when it may."""
        if not expires.isdigit() or len(expires) > 12:
            return "forged"
        if not hmac.compare_digest(signature.encode(), self._sign(relative, int(expires)).encode()):
            return "forged"
        if int(expires) and int(expires) < self._clock():
            return "expired"
        return None

    def _sign(self, relative: str, expires: int) -> str:
        digest = hmac.new(self._key, f"{relative}\n{expires}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:SIGNATURE_BYTES]).decode().rstrip("=")


class MediaEndpoint:
    """``GET /media/...``: a kept file, to whoever holds a valid signed link (HEAD and single ranges too, so
    players can seek); 403 for a forged or altered link, 410 for an expired one, 404 for a deleted file.

    The port also takes the provider's callbacks, so downloads may not crowd them out: at most
    ``max_downloads`` at once (503 with Retry-After beyond), and each must keep up at least ``min_rate``
    bytes a second (after ``grace`` seconds) or its connection is closed."""

    def __init__(self, media: MediaStore, links: Links, *, max_downloads: int = MAX_DOWNLOADS,
                 min_rate: float = MIN_RATE, grace: float = SEND_GRACE) -> None:
        self._media = media
        self._links = links
        self.max_downloads = max_downloads
        self.min_rate = min_rate
        self.grace = grace
        self._sending = 0

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/media/{guild}/{task}/{name}", self.handle)]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        info = request.match_info
        relative = f"{info['guild']}/{info['task']}/{info['name']}"
        problem = self._links.check(relative, request.query.get("e", ""), request.query.get("s", ""))
        if problem == "forged":
            return web.Response(status=403, text="This link is not valid.\n")
        if problem == "expired":
            return web.Response(status=410, text="This link has expired: ask the bot for a new one (the Info "
                                "button under the track).\n")
        kept = self._media.resolve(relative)
        if kept is None:
            return web.Response(status=404, text="This file is no longer kept.\n")
        if self._sending >= self.max_downloads:
            return web.Response(status=503, headers={"Retry-After": "10"},
                                text="Too many downloads at once: try again in a moment.\n")
        span = byte_range(request.headers.get("Range"), kept.size)
        if span is None:
            return web.Response(status=416, headers={"Content-Range": f"bytes */{kept.size}"})
        start, length = span
        response = web.StreamResponse(status=206 if length < kept.size else 200, headers=_headers(kept))
        response.content_length = length
        if length < kept.size:
            response.headers["Content-Range"] = f"bytes {start}-{start + length - 1}/{kept.size}"
        self._sending += 1
        try:
            await response.prepare(request)
            if request.method != "HEAD":
                async with asyncio.timeout(self.grace + length / self.min_rate):
                    await _send(response, kept, start, length)
        except (TimeoutError, OSError) as error:  # too slow, or the file was deleted meanwhile
            log.info("media: a download was cut off (%s)", "too slow" if isinstance(error, TimeoutError)
                     else type(error).__name__)
            if request.transport is not None:
                request.transport.abort()  # close() would wait for a reader that does not read
        finally:
            self._sending -= 1
        return response


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, length) a Range header asks for: the whole file without one (or with several ranges, which
    may be answered whole), None when it cannot be satisfied."""
    whole = (0, size)
    if not header or not header.startswith("bytes=") or "," in header:
        return whole
    first, _, last = header[6:].strip().partition("-")
    try:
        if not first:  # the last N bytes
            count = min(int(last), size)
            return (size - count, count) if count > 0 else None
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
    except ValueError:
        return whole
    return (start, end - start + 1) if start < size and start <= end else None


def _headers(kept: Kept) -> dict[str, str]:
    content_type = INLINE_TYPES.get(kept.path.suffix.lower())
    disposition = "inline" if content_type else "attachment"
    return {
        "Content-Type": content_type or "application/octet-stream",
        "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(kept.filename)}",
        "Accept-Ranges": "bytes",
        "Cache-Control": f"private, max-age={CACHE_SECONDS}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Referrer-Policy": "no-referrer",
    }


async def _send(response: web.StreamResponse, kept: Kept, start: int, length: int) -> None:
    """Stream ``length`` bytes of the file from ``start``, a chunk at a time (read off the event loop)."""
    loop = asyncio.get_running_loop()
    with open(kept.path, "rb") as file:
        file.seek(start)
        while length > 0:
            chunk = await loop.run_in_executor(None, file.read, min(CHUNK, length))
            if not chunk:
                raise OSError("the file is shorter than it was")
            length -= len(chunk)
            await response.write(chunk)
