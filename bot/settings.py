"""Settings read from the environment (and a local .env), validated once at startup."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from bot.fetch import FetchPolicy
from bot.providers import ADAPTERS

log = logging.getLogger(__name__)

PROVIDERS = ("kie", "sunoapi", "cqt", "sandbox")
DEFAULT_BASE_URLS = {"kie": "https://api.kie.ai", "sunoapi": "https://api.sunoapi.org", "cqt": "https://api.cqtai.com"}
API_KEY_PAGES = {
    "kie": "https://kie.ai/api-key",
    "sunoapi": "https://sunoapi.org/api-key",
    "cqt": "https://cqtai.com/zh/secret-key",
}
# How often pending tasks are polled when SUNO_POLL_INTERVAL is not set: rarely when callbacks arrive (polls are
# only the fallback), often when they cannot (CQTAI has none; kie.ai and sunoapi.org need PUBLIC_BASE_URL).
POLL_WITH_CALLBACKS = 30.0
POLL_ONLY = 10.0


class SettingsError(Exception):
    """A missing or malformed setting. The message names the variable and says what to change."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


@dataclass(frozen=True)
class Settings:
    """Every setting the bot reads. Build with :meth:`from_env` or directly (tests)."""

    discord_token: str
    provider: str = "sandbox"
    api_key: str | None = None
    api_base_url: str | None = None
    public_base_url: str | None = None
    web_host: str = "0.0.0.0"
    web_port: int = 8080
    database_path: Path = Path("data/bot.db")
    database_url: str | None = None  # postgresql://…: shared by every process (else SQLite at database_path)
    shard_count: int | None = None  # None: as many as Discord recommends, all in this process
    shard_ids: tuple[int, ...] | None = None  # this process's shards (None: all of shard_count)
    metrics_token: str | None = None  # /metrics wants "Authorization: Bearer <this>" when set
    poll_interval: float | None = None  # None: POLL_WITH_CALLBACKS or POLL_ONLY, see polls_every()
    submit_rate: tuple[int, float] = (20, 10.0)  # at most this many submissions per this many seconds
    webhook_hmac_key: str | None = None
    dev_guild_id: int | None = None
    sandbox_stage_seconds: float = 3.0
    provider_defaulted: bool = False
    # Hosts (or host:port) files may be fetched from although they are not public addresses (a local provider).
    fetch_allow_hosts: frozenset[str] = frozenset()
    media_dir: Path | None = None  # the kept copies of results (None: "media" beside the SQLite database)
    media_retention_days: float | None = None  # None: keep copies until they are deleted
    media_link_days: float | None = None  # None: links to copies last as long as the copies
    media_link_key: str | None = None  # signs those links (None: a key made once and kept in media_dir)

    def __repr__(self) -> str:  # never print secrets
        hidden = {"discord_token", "api_key", "webhook_hmac_key", "database_url", "metrics_token", "media_link_key"}
        fields = ", ".join(
            f"{name}={'***' if name in hidden and value else value!r}"
            for name, value in self.__dict__.items()
        )
        return f"Settings({fields})"

    __str__ = __repr__

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate every setting; raises :class:`SettingsError` on the first bad one."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name)
            if value is None:
                return None
            value = value.strip()
            return value or None

        token = get("DISCORD_TOKEN")
        if token is None:
            raise SettingsError(
                "DISCORD_TOKEN",
                "not set; copy your bot's token from the Discord Developer Portal (Bot → Reset Token) "
                "into .env or the environment",
            )
        if any(ch.isspace() for ch in token):
            raise SettingsError("DISCORD_TOKEN", "contains whitespace; paste the token exactly as shown")

        api_key = get("SUNO_API_KEY")
        provider = get("SUNO_PROVIDER")
        defaulted = provider is None
        if provider is None:
            provider = "kie" if api_key else "sandbox"
        provider = provider.lower()
        if provider not in PROVIDERS:
            raise SettingsError("SUNO_PROVIDER", f"must be one of {', '.join(PROVIDERS)} (got {provider!r})")
        if provider != "sandbox" and not api_key:
            raise SettingsError(
                "SUNO_API_KEY", f"required when SUNO_PROVIDER={provider}; create one at {API_KEY_PAGES[provider]}"
            )
        hmac_key = get("SUNO_WEBHOOK_HMAC_KEY")
        if hmac_key is not None and not ADAPTERS[provider][1].signs_callbacks:
            log.warning("SUNO_WEBHOOK_HMAC_KEY is ignored: only kie.ai signs its callbacks (SUNO_PROVIDER=%s)",
                        provider)
            hmac_key = None

        return cls(
            discord_token=token,
            provider=provider,
            api_key=api_key,
            api_base_url=_url(get("SUNO_API_BASE_URL"), "SUNO_API_BASE_URL"),
            public_base_url=_url(get("PUBLIC_BASE_URL"), "PUBLIC_BASE_URL"),
            web_host=get("WEB_HOST") or "0.0.0.0",
            web_port=_integer(get("WEB_PORT"), "WEB_PORT", default=8080, low=0, high=65535),
            database_path=Path(get("DATABASE_PATH") or "data/bot.db"),
            database_url=parse_database_url(get("DATABASE_URL")),
            **_shards(get("SHARD_COUNT"), get("SHARD_IDS"), shared=get("DATABASE_URL") is not None),
            metrics_token=get("METRICS_TOKEN"),
            poll_interval=_optional_number(get("SUNO_POLL_INTERVAL"), "SUNO_POLL_INTERVAL", low=0.5, high=3600),
            webhook_hmac_key=hmac_key,
            submit_rate=_rate(get("SUNO_SUBMIT_RATE"), "SUNO_SUBMIT_RATE"),
            dev_guild_id=_snowflake(get("DEV_GUILD_ID"), "DEV_GUILD_ID"),
            sandbox_stage_seconds=_number(
                get("SANDBOX_STAGE_SECONDS"), "SANDBOX_STAGE_SECONDS", default=3.0, low=0, high=300
            ),
            provider_defaulted=defaulted,
            fetch_allow_hosts=_hosts(get("FETCH_ALLOW_HOSTS"), "FETCH_ALLOW_HOSTS"),
            media_dir=Path(media_dir) if (media_dir := get("MEDIA_DIR")) else None,
            media_retention_days=_days(get("MEDIA_RETENTION_DAYS"), "MEDIA_RETENTION_DAYS"),
            media_link_days=_days(get("MEDIA_LINK_DAYS"), "MEDIA_LINK_DAYS"),
            media_link_key=_link_key(get("MEDIA_LINK_KEY")),
        )

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never be written anywhere (see bot/redaction.py)."""
        values = [self.discord_token, self.api_key, self.webhook_hmac_key, self.metrics_token, self.media_link_key]
        if self.database_url is not None:  # the password as written, decoded, or as a query parameter
            parts = urlsplit(self.database_url)
            written = parts.netloc.rpartition("@")[0].partition(":")[2]
            values += [written, unquote(written), *parse_qs(parts.query).get("password", [])]
        return tuple(dict.fromkeys(value for value in values if value))

    @property
    def database(self) -> str | Path:
        """What the store opens: the PostgreSQL URL, else the SQLite file."""
        return self.database_url or self.database_path

    @property
    def media_path(self) -> Path:
        """Where kept copies of results live: MEDIA_DIR, else "media" beside the SQLite database."""
        return self.media_dir or self.database_path.parent / "media"

    @property
    def shared_database(self) -> bool:
        return self.database_url is not None

    @property
    def uses_sandbox(self) -> bool:
        return self.provider == "sandbox"

    def polls_every(self, *, callbacks: bool) -> float:
        """Seconds between polls of a pending task: SUNO_POLL_INTERVAL, else by whether callbacks arrive."""
        if self.poll_interval is not None:
            return self.poll_interval
        return POLL_WITH_CALLBACKS if callbacks else POLL_ONLY


def load_dotenv_file(path: str | os.PathLike[str] = ".env") -> None:
    """Load a local .env file; real environment variables win over it."""
    from dotenv import load_dotenv

    load_dotenv(path, override=False)


def _url(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(name, f"must be an http(s) URL such as https://example.com (got {value!r})")
    if parts.query or parts.fragment:
        raise SettingsError(name, "must not contain a query string or fragment")
    return value.rstrip("/")


def _integer(value: str | None, name: str, *, default: int, low: int, high: int) -> int:
    return int(_ranged(value, name, int, "a whole number", "", default=default, low=low, high=high))


def _number(value: str | None, name: str, *, default: float, low: float, high: float) -> float:
    return _ranged(value, name, float, "a number of seconds", " seconds", default=default, low=low, high=high)


def _rate(value: str | None, name: str) -> tuple[int, float]:
    """"20/10": at most 20 submissions in any 10 seconds."""
    if value is None:
        return (20, 10.0)
    count, _, seconds = value.replace(" ", "").partition("/")
    try:
        parsed = (int(count), float(seconds))
    except ValueError:
        raise SettingsError(name, f"must be submissions/seconds, such as 20/10 (got {value!r})") from None
    if not (1 <= parsed[0] <= 1000 and 0.1 <= parsed[1] <= 3600):
        raise SettingsError(name, f"must be 1–1000 submissions per 0.1–3600 seconds, such as 20/10 (got {value!r})")
    return parsed


def _optional_number(value: str | None, name: str, *, low: float, high: float) -> float | None:
    return None if value is None else _number(value, name, default=low, low=low, high=high)


def _ranged(
    value: str | None,
    name: str,
    parse: type[int] | type[float],
    kind: str,
    unit: str,
    *,
    default: float,
    low: float,
    high: float,
) -> float:
    if value is None:
        return default
    try:
        number = parse(value)
    except ValueError:
        raise SettingsError(name, f"must be {kind} between {low:g} and {high:g} (got {value!r})") from None
    if not low <= number <= high:
        raise SettingsError(name, f"must be between {low:g} and {high:g}{unit} (got {number:g})")
    return number


def _days(value: str | None, name: str) -> float | None:
    """A number of days, or None when unset ("keep", "never": the same)."""
    if value is None or value.lower() in ("keep", "never", "forever"):
        return None
    try:
        days = float(value)
    except ValueError:
        raise SettingsError(name, f"must be a number of days such as 90, or empty to keep (got {value!r})") from None
    if not 1 <= days <= 36500:
        raise SettingsError(name, f"must be between 1 and 36500 days, or empty to keep (got {days:g})")
    return days


def _link_key(value: str | None) -> str | None:
    if value is not None and len(value) < 32:
        raise SettingsError("MEDIA_LINK_KEY", "must be at least 32 characters (e.g. the output of "
                            "`openssl rand -hex 32`), or empty to let the bot make one")
    return value


def _hosts(value: str | None, name: str) -> frozenset[str]:
    try:
        return FetchPolicy.parse_hosts(value)
    except ValueError as error:
        raise SettingsError(name, f"{error} (a comma-separated list such as files.local:9000,10.0.0.5)") from None


def parse_database_url(value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("postgresql", "postgres") or not (parts.hostname or "host=" in parts.query):
        raise SettingsError("DATABASE_URL", "must be a PostgreSQL URL such as postgresql://chorus:PASSWORD@db:5432/chorus "
                            "(leave it unset to use SQLite at DATABASE_PATH)")
    return value


def _shards(count: str | None, ids: str | None, *, shared: bool) -> dict[str, object]:
    """SHARD_COUNT (the bot's total) and SHARD_IDS ("0-3", "4,5" or "6"): this process's shards. Running only
    some of them means other processes run the rest, which needs a database they share."""
    if count is None:
        if ids is not None:
            raise SettingsError("SHARD_IDS", "needs SHARD_COUNT (the total number of shards across all processes)")
        return {}
    total = _integer(count, "SHARD_COUNT", default=1, low=1, high=10_000)
    if ids is None:
        return {"shard_count": total}
    chosen: set[int] = set()
    try:
        for part in ids.replace(" ", "").split(","):
            first, _, last = part.partition("-")
            chosen.update(range(int(first), int(last or first) + 1))
    except ValueError:
        raise SettingsError("SHARD_IDS", f"must be shard numbers such as 0-3 or 0,2,4 (got {ids!r})") from None
    if not chosen or min(chosen) < 0 or max(chosen) >= total:
        raise SettingsError("SHARD_IDS", f"must be between 0 and {total - 1} (SHARD_COUNT={total}), got {ids!r}")
    if len(chosen) < total and not shared:
        raise SettingsError("SHARD_IDS", "runs only some of the shards, so other processes run the rest: they "
                            "must share one database; set DATABASE_URL (PostgreSQL), see \"Running at scale\"")
    return {"shard_count": total, "shard_ids": tuple(sorted(chosen))}


def _snowflake(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or not 15 <= len(value) <= 21:
        raise SettingsError(name, f"must be a server ID (a long number; right-click the server → Copy Server ID), got {value!r}")
    return int(value)
