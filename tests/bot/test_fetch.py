"""The downloader fetches only from public addresses (or what the policy allows), hop by hop.

Real loopback servers stand for the services an attacker would aim at; a stub resolver stands for DNS.
Nothing here reaches the internet: public addresses are only ever unit-tested or answered by the stub for
hosts that are never connected to.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable, Collection
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from bot.fetch import (
    Fetcher,
    FetchPolicy,
    FetchRefused,
    NoPublicAddress,
    PublicResolver,
    is_public,
)
from tests.support.loopback import LoopbackServer

WAIT = 10  # seconds any single wait may take before the test fails


class StubResolver(AbstractResolver):
    """DNS as a table: host -> addresses. Unknown hosts fail like a failed lookup."""

    def __init__(self, answers: dict[str, list[str]] | None = None) -> None:
        self.answers = answers or {}
        self.asked: list[str] = []
        self.closed = False

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        self.asked.append(host)
        if host not in self.answers:
            raise OSError(None, f"no such host {host}")
        return [ResolveResult(hostname=host, host=address, port=port,
                              family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                              proto=0, flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV)
                for address in self.answers[host]]

    async def close(self) -> None:
        self.closed = True


class TimingOutResolver(StubResolver):
    """A lookup that times out, as a slow DNS server would (aiohttp reports it as a connect timeout)."""

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        raise TimeoutError()


@pytest.fixture
async def server() -> AsyncIterator[LoopbackServer]:
    async with LoopbackServer() as running:
        yield running


@pytest.fixture
async def other() -> AsyncIterator[LoopbackServer]:
    async with LoopbackServer() as running:
        yield running


@pytest.fixture
def stub() -> StubResolver:
    return StubResolver()


FetcherFactory = Callable[..., Fetcher]


@pytest.fixture
async def make_fetcher(stub: StubResolver) -> AsyncIterator[FetcherFactory]:
    """Fetchers with the stub resolver unless told otherwise (``resolver=None`` is aiohttp's own)."""
    made: list[Fetcher] = []

    def factory(*, hosts: Collection[str] = (), prefixes: tuple[str, ...] = (), **options: Any) -> Fetcher:
        options.setdefault("resolver", stub)
        fetcher = Fetcher(FetchPolicy(allowed_hosts=frozenset(hosts), allowed_prefixes=prefixes), **options)
        made.append(fetcher)
        return fetcher

    yield factory
    for fetcher in made:
        await fetcher.close()


async def fetch(fetcher: Fetcher, url: str) -> tuple[int, bytes]:
    async with asyncio.timeout(WAIT):
        async with fetcher.get(url) as response:
            return response.status, await response.read()


async def refused(fetcher: Fetcher, url: str) -> FetchRefused:
    async with asyncio.timeout(WAIT):
        with pytest.raises(FetchRefused) as caught:
            async with fetcher.get(url):
                pass
    return caught.value


# --- is_public ------------------------------------------------------------------------------------------

NOT_PUBLIC = {
    "loopback v4": ["127.0.0.1", "127.255.255.254"],
    "loopback v6": ["::1"],
    "private v4": ["10.0.0.1", "10.255.255.255", "172.16.0.1", "172.31.255.255", "192.168.0.1",
                   "192.168.255.255"],
    "unique local v6": ["fc00::1", "fd12:3456::1"],
    "link-local v4 and cloud metadata": ["169.254.0.1", "169.254.169.254"],
    "link-local v6": ["fe80::1", "fe80::1%eth0", "febf::1"],
    "shared address space": ["100.64.0.1", "100.127.255.254"],
    "multicast": ["224.0.0.1", "239.255.255.250", "ff02::1", "ff0e::1"],
    "unspecified": ["0.0.0.0", "::"],
    "this network": ["0.1.2.3"],
    "reserved and broadcast": ["240.0.0.1", "255.255.255.255", "::7f00:1"],
    "documentation": ["192.0.2.1", "198.51.100.1", "203.0.113.1", "2001:db8::1", "3fff::1"],
    "benchmarking": ["198.18.0.1", "198.19.255.255"],
    "protocol assignments": ["192.0.0.8", "192.0.0.170"],
    "site-local v6": ["fec0::1"],
    "teredo": ["2001:0:4136:e378:8000:63bf:80ff:fffe"],
    "ipv4-mapped": ["::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::ffff:7f00:1"],
    "nat64 and 6to4 of private": ["64:ff9b::7f00:1", "64:ff9b::a00:1", "2002:7f00:1::", "2002:c0a8:101::1"],
    "not an address": ["", "localhost", "example.com", "127.1", "2130706433", "0x7f.0.0.1", "1.2.3.4.5",
                       "[::1]", "::1::"],
}


@pytest.mark.parametrize("address", [a for addresses in NOT_PUBLIC.values() for a in addresses])
def test_non_public_addresses(address: str) -> None:
    assert not is_public(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111",
                                     "2a00:1450:4001:81c::200e", "::ffff:8.8.8.8", "64:ff9b::808:808",
                                     "2002:808:808::1"])
def test_public_addresses(address: str) -> None:
    assert is_public(address)


# --- refusals without allowances ------------------------------------------------------------------------

REFUSED = [
    "http://127.0.0.1:{port}/x",
    "https://127.0.0.1:{port}/x",
    "http://[::1]:{port}/x",
    "http://localhost:{port}/x",
    "http://169.254.169.254/latest/meta-data",
    "http://0.0.0.0:{port}/",
    "http://[::ffff:127.0.0.1]:{port}/",
    "http://[::ffff:7f00:1]:{port}/",
    "http://[64:ff9b::7f00:1]:{port}/",
    "http://127.1:{port}/",
    "http://2130706433:{port}/",
    "http://017700000001:{port}/",
    "http://10.0.0.1/x",
    "http://rebind.test:{port}/x",
    "ftp://127.0.0.1:{port}/x",
    "file:///etc/passwd",
    "data:text/plain,hello",
    "/relative/path",
    "http:///no-host",
]


@pytest.mark.parametrize("template", REFUSED)
async def test_without_allowances_only_public_addresses(template: str, server: LoopbackServer,
                                                       stub: StubResolver, make_fetcher: FetcherFactory) -> None:
    stub.answers = {"localhost": ["127.0.0.1", "::1"], "rebind.test": ["127.0.0.1"]}
    fetcher = make_fetcher()
    await refused(fetcher, template.format(port=server.port))
    assert server.paths == []


async def test_host_names_are_checked_where_they_are_resolved(server: LoopbackServer, stub: StubResolver,
                                                              make_fetcher: FetcherFactory) -> None:
    stub.answers = {"localhost": ["127.0.0.1", "::1"]}
    error = await refused(make_fetcher(), server.url("/x", host="localhost"))
    assert stub.asked == ["localhost"]
    assert "localhost" in str(error)
    assert server.paths == []


@pytest.mark.parametrize("host", ["localhost", "0x7f.0.0.1"])
async def test_the_system_resolver_is_filtered_too(host: str, server: LoopbackServer,
                                                   make_fetcher: FetcherFactory) -> None:
    """aiohttp's own resolver (no network needed: /etc/hosts, and numeric forms getaddrinfo parses)."""
    await refused(make_fetcher(resolver=None), server.url("/x", host=host))
    assert server.paths == []


async def test_refusals_name_the_host_never_the_url(server: LoopbackServer, make_fetcher: FetcherFactory) -> None:
    error = await refused(make_fetcher(), server.url("/files/secret.mp3?token=SECRET-TOKEN"))
    assert "127.0.0.1" in str(error)
    assert "SECRET" not in str(error) and "secret.mp3" not in str(error)


async def test_a_connect_timeout_names_the_host_never_the_url(make_fetcher: FetcherFactory) -> None:
    fetcher = make_fetcher(resolver=TimingOutResolver())
    async with asyncio.timeout(WAIT):
        with pytest.raises(aiohttp.ConnectionTimeoutError) as caught:
            async with fetcher.get("http://slow.test/song.mp3?token=SECRET-TOKEN"):
                pass
    assert "slow.test" in str(caught.value)
    assert "SECRET" not in str(caught.value)


# --- allowances -----------------------------------------------------------------------------------------


async def test_an_allowed_host_and_port_is_fetched(server: LoopbackServer, other: LoopbackServer,
                                                   make_fetcher: FetcherFactory) -> None:
    fetcher = make_fetcher(hosts={f"127.0.0.1:{server.port}"})
    assert await fetch(fetcher, server.url("/song.mp3")) == (200, b"hello /song.mp3")
    await refused(fetcher, other.url("/song.mp3"))
    assert other.paths == []


async def test_an_allowed_host_without_port_allows_every_port(server: LoopbackServer, other: LoopbackServer,
                                                              make_fetcher: FetcherFactory) -> None:
    fetcher = make_fetcher(hosts={"127.0.0.1"})
    assert await fetch(fetcher, server.url("/a")) == (200, b"hello /a")
    assert await fetch(fetcher, other.url("/b")) == (200, b"hello /b")


async def test_an_allowed_prefix_allows_only_what_is_under_it(server: LoopbackServer,
                                                             make_fetcher: FetcherFactory) -> None:
    fetcher = make_fetcher(prefixes=(server.url("/sandbox/files/"),))
    assert await fetch(fetcher, server.url("/sandbox/files/a.mp3")) == (200, b"hello /sandbox/files/a.mp3")
    for path in ["/secret", "/sandbox/filesX", "/sandbox/files", "/sandbox/files/../../secret",
                 "/sandbox/files/%2e%2e/secret", "/sandbox/files/..%2Fsecret", "/sandbox/files/..%5Csecret"]:
        await refused(fetcher, server.url(path))
    assert server.paths == ["/sandbox/files/a.mp3"]


async def test_a_prefix_added_later_is_allowed(server: LoopbackServer, make_fetcher: FetcherFactory) -> None:
    fetcher = make_fetcher()
    await refused(fetcher, server.url("/sandbox/files/a.mp3"))
    fetcher.allow_prefix(server.url("/sandbox/files/"))
    assert await fetch(fetcher, server.url("/sandbox/files/a.mp3")) == (200, b"hello /sandbox/files/a.mp3")
    with pytest.raises(ValueError):
        fetcher.allow_prefix("ftp://127.0.0.1/files/")


async def test_an_allowed_host_name_keeps_its_private_addresses(server: LoopbackServer, stub: StubResolver,
                                                                make_fetcher: FetcherFactory) -> None:
    stub.answers = {"files.internal": ["127.0.0.1"], "other.internal": ["127.0.0.1"]}
    fetcher = make_fetcher(hosts={f"files.internal:{server.port}"})
    assert await fetch(fetcher, server.url("/a", host="files.internal")) == (200, b"hello /a")
    await refused(fetcher, server.url("/b", host="other.internal"))
    assert server.paths == ["/a"]


async def test_a_prefix_on_a_host_name_opens_only_the_prefix(server: LoopbackServer, stub: StubResolver,
                                                             make_fetcher: FetcherFactory) -> None:
    stub.answers = {"sandbox.local": ["127.0.0.1"]}
    fetcher = make_fetcher(prefixes=(server.url("/files/", host="sandbox.local"),))
    assert await fetch(fetcher, server.url("/files/a", host="sandbox.local")) == (200, b"hello /files/a")
    await refused(fetcher, server.url("/secret", host="sandbox.local"))
    assert server.paths == ["/files/a"]


# --- redirects ------------------------------------------------------------------------------------------


async def test_a_redirect_to_a_loopback_service_is_refused(server: LoopbackServer, other: LoopbackServer,
                                                           make_fetcher: FetcherFactory) -> None:
    server.redirect("/go", other.url("/secret?token=SECRET-TOKEN"))
    fetcher = make_fetcher(hosts={f"127.0.0.1:{server.port}"})
    error = await refused(fetcher, server.url("/go"))
    assert "SECRET" not in str(error)
    assert server.paths == ["/go"]
    assert other.paths == []


@pytest.mark.parametrize("location", ["http://169.254.169.254/latest/meta-data", "http://[::1]:{port}/x",
                                      "http://rebind.test:{port}/x", "ftp://127.0.0.1:{port}/x",
                                      "file:///etc/passwd"])
async def test_every_hop_is_checked_like_the_first(location: str, server: LoopbackServer, other: LoopbackServer,
                                                   stub: StubResolver, make_fetcher: FetcherFactory) -> None:
    stub.answers = {"rebind.test": ["127.0.0.1"]}
    server.redirect("/go", location.format(port=other.port))
    await refused(make_fetcher(hosts={f"127.0.0.1:{server.port}"}), server.url("/go"))
    assert other.paths == []


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirect_to_an_allowed_location_is_followed(status: int, server: LoopbackServer,
                                                             make_fetcher: FetcherFactory) -> None:
    server.redirect("/files/go", "final.mp3", status)  # relative to the current URL
    fetcher = make_fetcher(prefixes=(server.url("/files/"),))
    assert await fetch(fetcher, server.url("/files/go")) == (200, b"hello /files/final.mp3")
    assert server.paths == ["/files/go", "/files/final.mp3"]


async def test_a_redirect_between_allowed_servers_is_followed(server: LoopbackServer, other: LoopbackServer,
                                                              make_fetcher: FetcherFactory) -> None:
    server.redirect("/go", other.url("/there"))
    fetcher = make_fetcher(hosts={f"127.0.0.1:{server.port}", f"127.0.0.1:{other.port}"})
    assert await fetch(fetcher, server.url("/go")) == (200, b"hello /there")


async def test_a_redirect_without_location_is_the_answer(server: LoopbackServer,
                                                         make_fetcher: FetcherFactory) -> None:
    async def no_location(request: web.Request) -> web.StreamResponse:
        return web.Response(status=302, body=b"nowhere")
    server.routes["/go"] = no_location
    assert await fetch(make_fetcher(hosts={"127.0.0.1"}), server.url("/go")) == (302, b"nowhere")


async def test_redirects_are_limited(server: LoopbackServer, make_fetcher: FetcherFactory) -> None:
    for hop in range(1, 5):
        server.redirect(f"/r/{hop}", f"/r/{hop - 1}")
    fetcher = make_fetcher(hosts={"127.0.0.1"}, max_redirects=3)
    assert await fetch(fetcher, server.url("/r/3")) == (200, b"hello /r/0")
    server.paths.clear()
    await refused(fetcher, server.url("/r/4"))
    assert server.paths == ["/r/4", "/r/3", "/r/2", "/r/1"]  # the fourth redirect is not followed


async def test_a_redirect_loop_is_refused(server: LoopbackServer, make_fetcher: FetcherFactory) -> None:
    server.redirect("/loop", "/loop")
    error = await refused(make_fetcher(hosts={"127.0.0.1"}, max_redirects=3), server.url("/loop"))
    assert "redirects" in str(error)
    assert server.paths == ["/loop"] * 4


async def test_a_redirect_to_an_invalid_url_is_refused(server: LoopbackServer,
                                                      make_fetcher: FetcherFactory) -> None:
    server.redirect("/go", "http://[not-an-address/x")
    await refused(make_fetcher(hosts={"127.0.0.1"}), server.url("/go"))


async def test_proxy_settings_in_the_environment_are_ignored(server: LoopbackServer, other: LoopbackServer,
                                                             make_fetcher: FetcherFactory,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy would connect on the bot's behalf, out of reach of the address checks."""
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, other.url("/"))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert await fetch(make_fetcher(hosts={f"127.0.0.1:{server.port}"}), server.url("/a")) == (200, b"hello /a")
    assert other.paths == []


# --- DNS rebinding (the resolver) -----------------------------------------------------------------------


async def test_the_resolver_returns_only_public_addresses() -> None:
    stub = StubResolver({"mixed.test": ["203.0.113.9", "8.8.8.8", "10.0.0.1", "::1", "2606:4700:4700::1111",
                                        "169.254.169.254"]})
    resolver = PublicResolver(FetchPolicy(), stub)
    results = await resolver.resolve("mixed.test", 443, socket.AF_UNSPEC)
    assert [r["host"] for r in results] == ["8.8.8.8", "2606:4700:4700::1111"]
    assert all(r["hostname"] == "mixed.test" and r["port"] == 443 for r in results)


async def test_the_resolver_refuses_a_host_with_no_public_address() -> None:
    resolver = PublicResolver(FetchPolicy(), StubResolver({"rebind.test": ["127.0.0.1", "::ffff:10.0.0.1"]}))
    with pytest.raises(NoPublicAddress, match="rebind.test") as caught:
        await resolver.resolve("rebind.test", 80)
    assert isinstance(caught.value, OSError)


async def test_the_resolver_checks_every_lookup() -> None:
    """A name that answered a public address once and then rebinds to loopback is refused the second time."""
    stub = StubResolver({"rebind.test": ["8.8.8.8"]})
    resolver = PublicResolver(FetchPolicy(), stub)
    assert [r["host"] for r in await resolver.resolve("rebind.test", 80)] == ["8.8.8.8"]
    stub.answers["rebind.test"] = ["127.0.0.1"]
    with pytest.raises(NoPublicAddress):
        await resolver.resolve("rebind.test", 80)


async def test_the_resolver_keeps_private_addresses_of_allowed_hosts() -> None:
    stub = StubResolver({"files.internal": ["10.0.0.5", "127.0.0.1"]})
    policy = FetchPolicy(allowed_hosts=FetchPolicy.parse_hosts("files.internal:8080"))
    resolver = PublicResolver(policy, stub)
    assert [r["host"] for r in await resolver.resolve("files.internal", 8080)] == ["10.0.0.5", "127.0.0.1"]
    with pytest.raises(NoPublicAddress):
        await resolver.resolve("files.internal", 9090)
    await resolver.close()
    assert stub.closed


# --- a stalled download ---------------------------------------------------------------------------------


async def test_a_stalled_body_raises_within_the_read_timeout(server: LoopbackServer,
                                                             make_fetcher: FetcherFactory) -> None:
    server.stall("/song.mp3", b"partial")
    fetcher = make_fetcher(hosts={"127.0.0.1"})
    fetcher.read_timeout = 0.3
    async with asyncio.timeout(WAIT):
        async with fetcher.get(server.url("/song.mp3")) as response:
            assert response.status == 200
            assert await response.content.readexactly(7) == b"partial"
            with pytest.raises(aiohttp.ServerTimeoutError):
                await response.content.read()


# --- the policy -----------------------------------------------------------------------------------------


def test_parse_hosts_normalizes_good_entries() -> None:
    assert FetchPolicy.parse_hosts("a.example, 127.0.0.1:8081,[::1]:9000") == {
        "a.example", "127.0.0.1:8081", "[::1]:9000"}
    assert FetchPolicy.parse_hosts(" Files.Example. , [0:0::1] ,[::FFFF:127.0.0.1]:80") == {
        "files.example", "[::1]", "[::ffff:7f00:1]:80"}
    assert FetchPolicy.parse_hosts("bücher.example:443") == {"xn--bcher-kva.example:443"}
    assert FetchPolicy.parse_hosts(None) == frozenset()
    assert FetchPolicy.parse_hosts("  ") == frozenset()


@pytest.mark.parametrize("text", ["a.example,,b.example", "a.example,", "http://a.example", "a.example/path",
                                  "a.example?x", "user@a.example", "a.example:0", "a.example:65536",
                                  "a.example:http", "a.example:", "::1", "[::1", "[::1]x", "[::1]:",
                                  "[nonsense]:80", "[127.0.0.1]", "127.1", "300.1.1.1", "a b", "-bad-.example",
                                  "a..example"])
def test_parse_hosts_refuses_bad_entries(text: str) -> None:
    with pytest.raises(ValueError, match="allowed host|empty entry"):
        FetchPolicy.parse_hosts(text)


def test_the_policy_matches_hosts_ports_and_prefixes() -> None:
    policy = FetchPolicy(allowed_hosts=frozenset({"A.Example", "127.0.0.1:8081", "[::1]:9000"}),
                         allowed_prefixes=("http://127.0.0.1:8080/sandbox/files/",))
    assert policy.allows_host("a.example", 1) and policy.allows_host("A.EXAMPLE.", None)
    assert policy.allows_host("127.0.0.1", 8081) and not policy.allows_host("127.0.0.1", 8082)
    assert policy.allows_host("::1", 9000) and policy.allows_host("[0::1]", 9000)
    assert not policy.allows_host("::1", None)
    assert policy.allows_url(URL("http://127.0.0.1:8080/sandbox/files/a.mp3?x=1"))
    assert not policy.allows_url(URL("https://127.0.0.1:8080/sandbox/files/a.mp3"))
    assert not policy.allows_url(URL("http://127.0.0.1:8080/sandbox/other"))
    assert not policy.allows_url(URL("ftp://a.example/x"))


def test_a_bad_prefix_is_refused() -> None:
    for prefix in ["ftp://127.0.0.1/files/", "/files/", "http://127.0.0.1/files/?token=1"]:
        with pytest.raises(ValueError):
            FetchPolicy(allowed_prefixes=(prefix,))


async def test_a_closed_fetcher_fetches_nothing(server: LoopbackServer, stub: StubResolver,
                                                make_fetcher: FetcherFactory) -> None:
    fetcher = make_fetcher(hosts={"127.0.0.1"})
    assert await fetch(fetcher, server.url("/a")) == (200, b"hello /a")
    await fetcher.close()
    assert stub.closed
    with pytest.raises(aiohttp.ClientConnectionError):
        await fetch(fetcher, server.url("/b"))
    assert server.paths == ["/a"]

