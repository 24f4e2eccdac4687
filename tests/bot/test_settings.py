"""Settings: defaults, validation with one clear line per problem, and `python -m bot` exiting with code 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "test-token-not-real"


def test_defaults_choose_the_sandbox_without_a_key() -> None:
    settings = Settings.from_env({"DISCORD_TOKEN": TOKEN})
    assert settings.provider == "sandbox"
    assert settings.provider_defaulted
    assert settings.web_host == "0.0.0.0"
    assert settings.web_port == 8080
    assert settings.database_path == Path("data/bot.db")
    assert settings.poll_interval is None  # decided by the provider: see below
    assert settings.public_base_url is None
    assert settings.dev_guild_id is None


def test_a_key_selects_kie() -> None:
    settings = Settings.from_env({"DISCORD_TOKEN": TOKEN, "SUNO_API_KEY": "k"})
    assert settings.provider == "kie"
    assert settings.api_key == "k"


@pytest.mark.parametrize(("provider", "page"), [("kie", "kie.ai"), ("sunoapi", "sunoapi.org"), ("cqt", "cqtai.com")])
def test_every_provider_is_selectable_and_needs_its_key(provider: str, page: str) -> None:
    settings = Settings.from_env({"DISCORD_TOKEN": TOKEN, "SUNO_PROVIDER": provider.upper(), "SUNO_API_KEY": "k"})
    assert settings.provider == provider
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"DISCORD_TOKEN": TOKEN, "SUNO_PROVIDER": provider})
    assert caught.value.variable == "SUNO_API_KEY" and page in str(caught.value)


def test_the_poll_interval_follows_whether_callbacks_arrive() -> None:
    settings = Settings.from_env({"DISCORD_TOKEN": TOKEN})
    assert settings.polls_every(callbacks=True) == 30.0  # polls are only the fallback
    assert settings.polls_every(callbacks=False) == 10.0  # CQTAI, or no PUBLIC_BASE_URL
    chosen = Settings.from_env({"DISCORD_TOKEN": TOKEN, "SUNO_POLL_INTERVAL": "45"})
    assert chosen.polls_every(callbacks=False) == chosen.polls_every(callbacks=True) == 45.0


def test_the_submission_rate_is_read_and_checked() -> None:
    assert Settings.from_env({"DISCORD_TOKEN": TOKEN}).submit_rate == (20, 10.0)
    assert Settings.from_env({"DISCORD_TOKEN": TOKEN, "SUNO_SUBMIT_RATE": "18 / 10"}).submit_rate == (18, 10.0)
    for bad in ("20", "fast", "0/10", "20/0"):
        with pytest.raises(SettingsError) as caught:
            Settings.from_env({"DISCORD_TOKEN": TOKEN, "SUNO_SUBMIT_RATE": bad})
        assert caught.value.variable == "SUNO_SUBMIT_RATE" and "20/10" in str(caught.value)


def test_a_webhook_key_only_applies_to_kie(caplog: pytest.LogCaptureFixture) -> None:
    env = {"DISCORD_TOKEN": TOKEN, "SUNO_API_KEY": "k", "SUNO_WEBHOOK_HMAC_KEY": "hmac-secret-value"}
    assert Settings.from_env({**env, "SUNO_PROVIDER": "kie"}).webhook_hmac_key == "hmac-secret-value"
    assert Settings.from_env({**env, "SUNO_PROVIDER": "sunoapi"}).webhook_hmac_key is None
    assert "only kie.ai signs" in caplog.text and "hmac-secret-value" not in caplog.text


def test_every_setting_is_read() -> None:
    settings = Settings.from_env(
        {
            "DISCORD_TOKEN": TOKEN,
            "SUNO_PROVIDER": "Kie",
            "SUNO_API_KEY": "k",
            "SUNO_API_BASE_URL": "http://127.0.0.1:9999/",
            "PUBLIC_BASE_URL": "https://bot.example.com",
            "WEB_HOST": "127.0.0.1",
            "WEB_PORT": "9000",
            "DATABASE_PATH": "/tmp/x.db",
            "SUNO_POLL_INTERVAL": "12.5",
            "SUNO_WEBHOOK_HMAC_KEY": "h",
            "DEV_GUILD_ID": "123456789012345678",
            "SANDBOX_STAGE_SECONDS": "0",
            "FETCH_ALLOW_HOSTS": "files.internal:9000, 10.0.0.5,[::1]:8081",
            "MEDIA_DIR": "/srv/songs",
            "MEDIA_RETENTION_DAYS": "365",
            "MEDIA_LINK_DAYS": "7",
            "MEDIA_LINK_KEY": "k" * 64,
        }
    )
    assert settings.provider == "kie" and not settings.provider_defaulted
    assert settings.api_base_url == "http://127.0.0.1:9999"
    assert settings.public_base_url == "https://bot.example.com"
    assert (settings.web_host, settings.web_port) == ("127.0.0.1", 9000)
    assert settings.database_path == Path("/tmp/x.db")
    assert settings.poll_interval == 12.5
    assert settings.webhook_hmac_key == "h"
    assert settings.dev_guild_id == 123456789012345678
    assert settings.sandbox_stage_seconds == 0
    assert settings.fetch_allow_hosts == {"files.internal:9000", "10.0.0.5", "[::1]:8081"}
    assert settings.media_path == Path("/srv/songs") and settings.media_retention_days == 365
    assert settings.media_link_days == 7 and "k" * 64 in settings.secrets and "k" * 64 not in repr(settings)
    defaults = Settings.from_env({"DISCORD_TOKEN": TOKEN, "DATABASE_PATH": "/var/chorus/bot.db"})
    assert defaults.media_path == Path("/var/chorus/media")  # beside the database
    assert (defaults.media_retention_days, defaults.media_link_days, defaults.media_link_key) == (None, None, None)


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({}, "DISCORD_TOKEN"),
        ({"DISCORD_TOKEN": "two words"}, "DISCORD_TOKEN"),
        ({"SUNO_PROVIDER": "suno"}, "SUNO_PROVIDER"),
        ({"SUNO_PROVIDER": "kie"}, "SUNO_API_KEY"),
        ({"SUNO_API_BASE_URL": "api.kie.ai"}, "SUNO_API_BASE_URL"),
        ({"PUBLIC_BASE_URL": "ftp://x"}, "PUBLIC_BASE_URL"),
        ({"WEB_PORT": "eighty"}, "WEB_PORT"),
        ({"WEB_PORT": "70000"}, "WEB_PORT"),
        ({"SUNO_POLL_INTERVAL": "0.1"}, "SUNO_POLL_INTERVAL"),
        ({"SUNO_POLL_INTERVAL": "soon"}, "SUNO_POLL_INTERVAL"),
        ({"DEV_GUILD_ID": "my-server"}, "DEV_GUILD_ID"),
        ({"FETCH_ALLOW_HOSTS": "http://files.internal/"}, "FETCH_ALLOW_HOSTS"),
        ({"FETCH_ALLOW_HOSTS": "files.internal:99999"}, "FETCH_ALLOW_HOSTS"),
        ({"DATABASE_URL": "mysql://db/chorus"}, "DATABASE_URL"),
        ({"DATABASE_URL": "data/bot.db"}, "DATABASE_URL"),
        ({"SHARD_COUNT": "0"}, "SHARD_COUNT"),
        ({"SHARD_COUNT": "two"}, "SHARD_COUNT"),
        ({"SHARD_IDS": "0-1"}, "SHARD_IDS"),
        ({"SHARD_COUNT": "4", "SHARD_IDS": "2-4"}, "SHARD_IDS"),
        ({"SHARD_COUNT": "4", "SHARD_IDS": "first"}, "SHARD_IDS"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "1"}, "SHARD_IDS"),  # the other process would need the same database
        ({"MEDIA_RETENTION_DAYS": "two weeks"}, "MEDIA_RETENTION_DAYS"),
        ({"MEDIA_RETENTION_DAYS": "0"}, "MEDIA_RETENTION_DAYS"),
        ({"MEDIA_LINK_DAYS": "-1"}, "MEDIA_LINK_DAYS"),
        ({"MEDIA_LINK_KEY": "short"}, "MEDIA_LINK_KEY"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], variable: str) -> None:
    env = {"DISCORD_TOKEN": TOKEN, **env} if "DISCORD_TOKEN" not in env and env != {} else env
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    assert caught.value.variable == variable
    assert str(caught.value).startswith(variable)


def test_postgresql_and_shards_are_read() -> None:
    settings = Settings.from_env({"DISCORD_TOKEN": TOKEN, "DATABASE_URL": "postgresql://chorus:pw@db:5432/chorus",
                                  "SHARD_COUNT": "8", "SHARD_IDS": "4-5, 7"})
    assert settings.database == "postgresql://chorus:pw@db:5432/chorus" and settings.shared_database
    assert (settings.shard_count, settings.shard_ids) == (8, (4, 5, 7))
    assert "pw" in settings.secrets  # the database password is kept out of logs like the token
    encoded = Settings.from_env({"DISCORD_TOKEN": TOKEN, "DATABASE_URL": "postgresql://c:p%40ss@db/c?password=q1"})
    assert {"p%40ss", "p@ss", "q1"} <= set(encoded.secrets)
    alone = Settings.from_env({"DISCORD_TOKEN": TOKEN})
    assert alone.database == Path("data/bot.db") and not alone.shared_database
    assert (alone.shard_count, alone.shard_ids) == (None, None)  # Discord's recommendation, all here


def test_secrets_never_appear_in_repr() -> None:
    settings = Settings.from_env({"DISCORD_TOKEN": TOKEN, "SUNO_API_KEY": "sk-secret", "SUNO_WEBHOOK_HMAC_KEY": "hm",
                                  "DATABASE_URL": "postgresql://chorus:db-secret@db/chorus"})
    text = repr(settings) + str(settings)
    assert TOKEN not in text and "sk-secret" not in text and "'hm'" not in text and "db-secret" not in text


def _run_bot(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if not key.startswith(("SUNO_", "DISCORD_", "WEB_"))}
    return subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,  # no .env here
        env={**clean, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_python_m_bot_exits_2_with_one_line_for_a_missing_token(tmp_path: Path) -> None:
    result = _run_bot({}, tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if "configuration error" in line]
    assert len(lines) == 1 and "DISCORD_TOKEN" in lines[0]


def test_python_m_bot_exits_2_for_a_malformed_value(tmp_path: Path) -> None:
    result = _run_bot({"DISCORD_TOKEN": TOKEN, "WEB_PORT": "http"}, tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "WEB_PORT" in result.stderr


def test_a_dotenv_file_is_read_but_the_environment_wins(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DISCORD_TOKEN=from-dotenv\nWEB_PORT=not-a-port\n")
    result = _run_bot({"WEB_PORT": "also-bad"}, tmp_path)
    assert result.returncode == 2
    assert "also-bad" in result.stderr  # the real environment variable won over .env
