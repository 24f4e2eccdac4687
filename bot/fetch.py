"""Downloads from public addresses only: the guard against server-side request forgery (SSRF).

The bot downloads files named by others: result audio, covers, stems and exports named by the provider's
answers, and members' uploads. A forged or malicious answer could name ``http://127.0.0.1:8080/secret``, the
cloud metadata service ``http://169.254.169.254/``, a host on the private network, or a public URL that
redirects there; the bot would then fetch a service only it can reach and post it in a channel. Every
download therefore goes through :class:`Fetcher`, which connects only to globally routable unicast
addresses (:func:`is_public`), except where the :class:`FetchPolicy` explicitly allows a host, a host and
port, or a URL prefix (the bot's built-in sandbox provider serves its own files on loopback).

What is refused (:class:`FetchRefused`, a ``aiohttp.ClientError``):

- any scheme but ``http`` and ``https``;
- a host that is an IP literal (``127.0.0.1``, ``[::1]``, ``[::ffff:127.0.0.1]``, legacy forms such as
  ``127.1`` or ``2130706433``) unless the address is public or the policy allows it;
- a host name whose addresses are all non-public (unless the policy allows the host); non-public addresses
  among public ones are dropped, so they are never connected to;
- a URL on the origin of an allowed prefix but outside the prefix (the prefix is the only way in);
- more than ``max_redirects`` redirects.

Why IP literals are checked separately: host names are checked where they are resolved, by
:class:`PublicResolver`, which aiohttp's ``TCPConnector`` calls and whose answer is the only set of
addresses it connects to; the check is thus on the address actually connected to, which also defeats DNS
rebinding (a name that answers a public address to a first lookup and ``127.0.0.1`` to the next). But the
connector does not call the resolver at all for a host that looks like an IP address (aiohttp's
``is_ip_address``: it contains a colon, or only digits and dots); it connects to it directly. So
:meth:`Fetcher.get` checks those hosts itself before each request.

Redirects are followed by hand (``allow_redirects=False``), so that every hop is checked exactly like the
first URL before anything connects to it: a public or allowed server cannot bounce the bot to a loopback
port. The session ignores proxy settings from the environment (``trust_env=False``): a proxy would connect
on the bot's behalf and bypass the address checks. It keeps no cookies either: downloads are independent.

URLs may carry access tokens in their query string, so no exception message or log line made here carries
a URL: only its host (aiohttp's own connect-timeout message, which does, is replaced).
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import logging
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import unquote

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

SCHEMES = frozenset({"http", "https"})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

# Not globally routable, yet called "global" by the ipaddress module of some Python patch releases.
_NOT_PUBLIC_NETWORKS = tuple(ipaddress.ip_network(net) for net in (
    "192.0.0.0/24",  # IETF protocol assignments
    "192.88.99.0/24",  # deprecated 6to4 relay anycast
    "fec0::/10",  # deprecated site-local
    "3fff::/20",  # documentation (RFC 9637)
))
# NAT64 (RFC 6052): the gateway connects to the IPv4 address in the last 32 bits.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

_HOSTNAME = re.compile(r"^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
                       r"(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$")


class FetchRefused(aiohttp.ClientError):
    """The URL is not one the bot may fetch: not http(s), a non-public address, too many redirects.

    Its message names the host (never a full URL with query string)."""


class NoPublicAddress(OSError):
    """Raised by :class:`PublicResolver` when a host name resolves only to non-public addresses.

    aiohttp wraps it in a ``ClientConnectorDNSError``; :meth:`Fetcher.get` turns that into
    :class:`FetchRefused`."""

    def __init__(self, host: str) -> None:
        super().__init__(None, f"{host} resolves to no public address")
        self.host = host


# --- addresses ------------------------------------------------------------------------------------------


def is_public(address: str) -> bool:
    """True only for globally routable unicast addresses.

    Refused: loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7), link-local (169.254/16 with the
    cloud metadata service 169.254.169.254, fe80::/10), shared 100.64/10, multicast, unspecified (0.0.0.0,
    ::), reserved, documentation and benchmarking ranges, site-local, Teredo. IPv6 forms that carry an IPv4
    address the packets end up at (IPv4-mapped ``::ffff:a.b.c.d``, NAT64 ``64:ff9b::a.b.c.d``, 6to4
    ``2002:aabb:ccdd::``) are judged by that IPv4 address too. Anything that is not an address is not
    public."""
    ip = parse_ip(address)
    return ip is not None and _is_public_ip(ip)


def parse_ip(text: str) -> IPAddress | None:
    """The address ``text`` spells (IPv6 with or without brackets), or None."""
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _is_public_ip(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return _is_public_ip(embedded)
        if ip.sixtofour is not None and not _is_public_ip(ip.sixtofour):
            return False
        if ip.is_site_local:
            return False
    special = (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved
               or ip.is_unspecified)
    return ip.is_global and not special and not any(ip in net for net in _NOT_PUBLIC_NETWORKS)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv4-mapped or NAT64 address reaches."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
    return None


def looks_like_ip(host: str) -> bool:
    """aiohttp's test for "this host is an IP address, do not resolve it" (``helpers.is_ip_address``)."""
    return ":" in host or host.replace(".", "").isdigit()


def host_key(host: str) -> str:
    """The form hosts are compared in: IP addresses canonical (IPv6 in brackets), names lower-case without
    a trailing dot."""
    ip = parse_ip(host)
    if isinstance(ip, ipaddress.IPv6Address):
        return f"[{ip.compressed}]"
    if ip is not None:
        return str(ip)
    return host.lower().rstrip(".")


# --- policy ---------------------------------------------------------------------------------------------


class _Prefix(NamedTuple):
    scheme: str
    host: str  # host_key form
    port: int
    path: str


@functools.lru_cache(maxsize=64)
def _parse_prefix(prefix: str) -> _Prefix:
    """Split an allowed URL prefix; ValueError if it is not an absolute http(s) URL without query."""
    try:
        url = URL(prefix)
    except ValueError as exc:
        raise ValueError("an allowed prefix must be an http(s) URL") from exc
    if url.scheme not in SCHEMES or not url.raw_host or url.port is None:
        raise ValueError("an allowed prefix must be an absolute http(s) URL")
    if url.raw_query_string or url.raw_fragment or url.user is not None:
        raise ValueError(f"an allowed prefix for {url.raw_host} must have no query, fragment or user")
    return _Prefix(url.scheme, host_key(url.raw_host), url.port, url.path or "/")


def _has_dot_segment(url: URL) -> bool:
    """True if the path, fully decoded, has a "." or ".." segment (e.g. ``..%2F``) a server may act on."""
    segments = re.split(r"[/\\]", unquote(url.raw_path))
    return any(segment in (".", "..") for segment in segments)


def _under_prefix(url: URL, prefix: _Prefix) -> bool:
    if (url.scheme, host_key(url.raw_host or ""), url.port) != (prefix.scheme, prefix.host, prefix.port):
        return False
    if _has_dot_segment(url):
        return False
    path = url.path
    if prefix.path.endswith("/"):
        return path.startswith(prefix.path)
    return path == prefix.path or path.startswith(prefix.path + "/")


def _normalize_entry(entry: str) -> str:
    """One allowed-host entry as ``host`` or ``host:port`` in host_key form; ValueError if malformed."""
    text = entry.strip()
    if not text:
        raise ValueError("empty entry in the allowed hosts")
    if any(mark in text for mark in ("/", "?", "#", "@", " ")):
        raise ValueError(f"allowed host {text!r} must be a host or host:port, without scheme or path")
    host, port = _split_host_port(text)
    return host if port is None else f"{host}:{port}"


def _split_host_port(text: str) -> tuple[str, int | None]:
    if text.startswith("["):
        inside, bracket, rest = text[1:].partition("]")
        if not bracket or not isinstance(parse_ip(inside), ipaddress.IPv6Address):
            raise ValueError(f"allowed host {text!r} is not a valid [IPv6] address")
        if rest and not rest.startswith(":"):
            raise ValueError(f"allowed host {text!r} has text after the address")
        return host_key(inside), _parse_port(text, rest[1:]) if rest else None
    if text.count(":") > 1:
        raise ValueError(f"allowed host {text!r}: write IPv6 addresses in brackets, e.g. [::1]:8080")
    host, colon, port_text = text.partition(":")
    return _check_host(text, host), _parse_port(text, port_text) if colon else None


def _check_host(entry: str, host: str) -> str:
    key = host_key(host)
    if looks_like_ip(key) and parse_ip(key) is None:
        raise ValueError(f"allowed host {entry!r} is not a valid IPv4 address (use dotted quads: 127.0.0.1)")
    try:
        key = key.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError(f"allowed host {entry!r} is not a valid host name") from exc
    if not _HOSTNAME.match(key):
        raise ValueError(f"allowed host {entry!r} is not a valid host name")
    return key


def _parse_port(entry: str, text: str) -> int:
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"allowed host {entry!r} has a bad port (expected 1-65535)")
    return int(text)


@dataclass
class FetchPolicy:
    """Exceptions to "public addresses only".

    ``allowed_hosts``: entries ``host`` (any port) or ``host:port``, IPv6 as ``[::1]`` or ``[::1]:8080``;
    their addresses are never filtered. ``allowed_prefixes``: URLs under these prefixes are always allowed
    (e.g. the sandbox provider's ``http://127.0.0.1:8080/sandbox/files/``); the rest of a prefix's origin is
    refused unless its host is allowed too."""

    allowed_hosts: frozenset[str] = frozenset()
    allowed_prefixes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.allowed_hosts = frozenset(_normalize_entry(entry) for entry in self.allowed_hosts)
        self.allowed_prefixes = tuple(self.allowed_prefixes)
        for prefix in self.allowed_prefixes:
            _parse_prefix(prefix)

    @classmethod
    def parse_hosts(cls, text: str | None) -> frozenset[str]:
        """``"a.example, 127.0.0.1:8081,[::1]:9000"`` -> normalized entries; ValueError on a bad entry."""
        if text is None or not text.strip():
            return frozenset()
        return frozenset(_normalize_entry(entry) for entry in text.split(","))

    def allows_url(self, url: URL) -> bool:
        """True if ``url`` (http or https) is under an allowed prefix or on an allowed host."""
        if url.scheme not in SCHEMES or not url.raw_host:
            return False
        if any(_under_prefix(url, _parse_prefix(prefix)) for prefix in self.allowed_prefixes):
            return True
        return self.allows_host(url.raw_host, url.port)

    def allows_host(self, host: str, port: int | None) -> bool:
        """True if ``host`` (any port) or ``host:port`` is an allowed host."""
        key = host_key(host)
        return key in self.allowed_hosts or (port is not None and f"{key}:{port}" in self.allowed_hosts)

    def is_prefix_origin(self, host: str, port: int | None) -> bool:
        """True if an allowed prefix lives on ``host:port``."""
        key = host_key(host)
        return any((prefix.host, prefix.port) == (key, port)
                   for prefix in map(_parse_prefix, self.allowed_prefixes))

    def trusts_host(self, host: str, port: int | None) -> bool:
        """Whether a lookup of ``host`` may answer non-public addresses: an allowed host, or the origin of
        a prefix (:meth:`Fetcher.get` only lets URLs under the prefix reach that origin)."""
        return self.allows_host(host, port) or self.is_prefix_origin(host, port)


# --- resolution -----------------------------------------------------------------------------------------


class PublicResolver(AbstractResolver):
    """Wraps an inner resolver (default ``aiohttp.DefaultResolver()``, created on first use).

    For hosts the policy trusts, results pass unfiltered; otherwise only public addresses are returned, and
    if none is left it raises :class:`NoPublicAddress` (an OSError naming the host, which aiohttp turns
    into a ``ClientConnectorError``). aiohttp connects only to what the resolver returned, so this also
    covers DNS rebinding: the check is on the address actually connected to."""

    def __init__(self, policy: FetchPolicy, inner: AbstractResolver | None = None) -> None:
        self.policy = policy
        self._inner = inner

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        results = await self._inner_resolver().resolve(host, port, family)
        if self.policy.trusts_host(host, port or None):
            return results
        public = [result for result in results if is_public(result["host"])]
        if not public:
            log.warning("refused to connect to %s: it resolves to no public address", host)
            raise NoPublicAddress(host)
        if len(public) < len(results):
            log.info("dropped non-public addresses of %s", host)
        return public

    async def close(self) -> None:
        if self._inner is not None:
            await self._inner.close()

    def _inner_resolver(self) -> AbstractResolver:
        if self._inner is None:
            self._inner = aiohttp.DefaultResolver()
        return self._inner


# --- downloads ------------------------------------------------------------------------------------------


def _refuse(host: str, reason: str) -> FetchRefused:
    log.warning("refused to fetch from %s: %s", host, reason)
    return FetchRefused(f"refused to fetch from {host}: {reason}")


def _parse_url(url: str | URL) -> URL:
    if isinstance(url, URL):
        return url
    try:
        return URL(url)
    except (ValueError, TypeError) as exc:
        raise FetchRefused("refused to fetch: not a valid URL") from exc


def _redirect_location(response: aiohttp.ClientResponse) -> str | None:
    """The Location of a redirect response, or None if it is not one (then it is the answer)."""
    location = response.headers.get(aiohttp.hdrs.LOCATION)
    return location if response.status in REDIRECT_STATUSES and location else None


def _join(current: URL, location: str) -> URL:
    """``location`` resolved against the URL that answered it."""
    try:
        return current.join(URL(location))
    except (ValueError, TypeError) as exc:
        raise _refuse(current.raw_host or "?", "its redirect points to an invalid URL") from exc


class Fetcher:
    """One aiohttp session for downloads; see the module docstring for what it refuses and why.

    ``policy`` and ``read_timeout`` are public and may be changed after construction; the session is
    created on first use (so the Fetcher may be built outside the event loop). ``resolver`` is the inner
    resolver :class:`PublicResolver` filters (default: aiohttp's)."""

    def __init__(self, policy: FetchPolicy, *, read_timeout: float = 10.0, connect_timeout: float = 10.0,
                 total_timeout: float = 180.0, max_redirects: int = 3,
                 resolver: AbstractResolver | None = None) -> None:
        self._resolver = PublicResolver(policy, resolver)
        self.read_timeout = read_timeout
        self.connect_timeout = connect_timeout
        self.total_timeout = total_timeout
        self.max_redirects = max_redirects
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    @property
    def policy(self) -> FetchPolicy:
        return self._resolver.policy

    def may_link(self, url: str) -> bool:
        """Whether ``url`` may be shown to members as a link: http(s) at a public address. Loopback and
        private addresses, ``localhost``, and the hosts and prefixes the operator allowed for fetching (not
        public, or they would need no allowing) are links no member can open."""
        try:
            parsed = URL(url)
        except (ValueError, TypeError):
            return False
        host = parsed.raw_host or ""
        if parsed.scheme not in SCHEMES or not host:
            return False
        if looks_like_ip(host):
            return is_public(host)
        name = host_key(host)
        if name == "localhost" or name.endswith(".localhost"):
            return False
        return not self.policy.trusts_host(host, parsed.port)

    def allow_prefix(self, prefix: str) -> None:
        """Allow URLs under ``prefix`` too (e.g. the sandbox's files, once its web server listens)."""
        _parse_prefix(prefix)
        if prefix not in self.policy.allowed_prefixes:
            self.policy.allowed_prefixes = (*self.policy.allowed_prefixes, prefix)
            self._clear_dns_cache()

    @contextlib.asynccontextmanager
    async def get(self, url: str | URL) -> AsyncIterator[aiohttp.ClientResponse]:
        """GET ``url``, following redirects; yields the final response (the caller checks its status and
        reads ``response.content``), released when the context exits. FetchRefused if any hop is refused."""
        response = await self._follow(_parse_url(url))
        try:
            yield response
        finally:
            response.release()

    async def close(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None
        await self._resolver.close()

    async def _follow(self, url: URL) -> aiohttp.ClientResponse:
        redirects = 0
        while True:
            response = await self._request(url)
            location = _redirect_location(response)
            if location is None:
                return response
            response.release()
            if redirects >= self.max_redirects:
                raise _refuse(url.raw_host or "?", f"more than {self.max_redirects} redirects")
            redirects += 1
            url = _join(url, location)

    async def _request(self, url: URL) -> aiohttp.ClientResponse:
        self._check(url)
        session = self._open()
        host = url.raw_host or "?"
        try:
            return await session.get(url, allow_redirects=False, timeout=self._timeout())
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, NoPublicAddress):
                raise FetchRefused(f"refused to fetch from {host}: it resolves to no public address") from exc
            raise
        except aiohttp.ConnectionTimeoutError as exc:  # aiohttp's message holds the full URL
            raise aiohttp.ConnectionTimeoutError(f"Connection timeout to host {host}") from exc.__cause__

    def _check(self, url: URL) -> None:
        """Refuse ``url`` before connecting if its scheme, or its IP-literal host, is not allowed. Host names
        are checked by PublicResolver when the connector resolves them."""
        host = url.raw_host
        if url.scheme not in SCHEMES:
            raise _refuse(host or "?", "only http and https URLs are fetched")
        if not host:
            raise _refuse("?", "the URL has no host")
        if self.policy.allows_url(url):
            return
        if self.policy.is_prefix_origin(host, url.port):
            raise _refuse(host, "the URL is outside the allowed prefix")
        if looks_like_ip(host) and not is_public(host):
            raise _refuse(host, "not a public address")

    def _timeout(self) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(total=self.total_timeout, connect=self.connect_timeout,
                                     sock_connect=self.connect_timeout, sock_read=self.read_timeout)

    def _open(self) -> aiohttp.ClientSession:
        if self._closed:
            raise aiohttp.ClientConnectionError("the downloader is closed")
        if self._session is None:
            connector = aiohttp.TCPConnector(resolver=self._resolver)
            self._session = aiohttp.ClientSession(connector=connector, trust_env=False,
                                                  cookie_jar=aiohttp.DummyCookieJar())
        return self._session

    def _clear_dns_cache(self) -> None:
        """Forget lookups filtered under the previous policy (aiohttp caches them for 10 s)."""
        if self._session is not None and isinstance(self._session.connector, aiohttp.TCPConnector):
            self._session.connector.clear_dns_cache()

