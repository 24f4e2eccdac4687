"""LOG_LEVEL and LOG_FORMAT: plain lines without escape codes off a terminal, JSON lines a collector can parse,
and neither format ever carries a secret."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.logs import log_settings, make_handler, setup_logging
from bot.redaction import Redactor, install_log_filter
from bot.settings import SettingsError

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "MTA1fake.secret-token.for-the-logs-test"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def logger(request: pytest.FixtureRequest) -> Iterator[logging.Logger]:
    """A logger of this test's own (not the root: pytest's capture stays out of it)."""
    log = logging.getLogger(f"chorus.test.{request.node.name}")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    yield log
    for handler in list(log.handlers):
        log.removeHandler(handler)


def attach(logger: logging.Logger, fmt: str, stream: io.StringIO) -> logging.Handler:
    handler = make_handler(fmt, stream)
    logger.addHandler(handler)
    return handler


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


def test_plain_lines_carry_no_escape_codes_off_a_terminal(logger: logging.Logger) -> None:
    piped, terminal = io.StringIO(), Terminal()
    attach(logger, "plain", piped)
    attach(logger, "plain", terminal)
    logger.warning("the provider is slow: %s s", 12)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logger.exception("while delivering")
    text = piped.getvalue()
    assert "\x1b[" not in text
    first = text.splitlines()[0]
    assert first.endswith(f"] [WARNING ] {logger.name}: the provider is slow: 12 s") and first.startswith("[20")
    assert "RuntimeError: boom" in text
    assert "\x1b[" in terminal.getvalue()  # discord.py's colours, on a terminal only


def test_json_lines_parse_and_carry_the_record_context(logger: logging.Logger) -> None:
    stream = io.StringIO()
    attach(logger, "json", stream)
    logger.info("delivered %d tracks", 2, extra={"event": "delivered", "task_id": 17, "guild_id": 900})
    logger.debug("a line\nover two lines")
    try:
        raise ValueError("bad value")
    except ValueError:
        logger.error("failed", exc_info=True, extra={"task_id": 18})
    first, second, third = json_lines(stream.getvalue())  # one object per line, newlines escaped
    assert first["message"] == "delivered 2 tracks" and first["level"] == "INFO" and first["logger"] == logger.name
    assert (first["event"], first["task_id"], first["guild_id"]) == ("delivered", 17, 900)
    assert str(first["time"]).endswith("Z") and "T" in str(first["time"])
    assert "exc" not in first and "event" not in second and "task_id" not in second
    assert second["message"] == "a line\nover two lines" and second["level"] == "DEBUG"
    assert third["task_id"] == 18 and "ValueError: bad value" in str(third["exc"])
    assert str(third["exc"]).startswith("Traceback (most recent call last)")


def test_a_secret_never_reaches_a_json_line(logger: logging.Logger) -> None:
    stream = io.StringIO()
    attach(logger, "json", stream)
    install_log_filter(Redactor([TOKEN]), logger)
    logger.warning("login with %s failed", TOKEN, extra={"event": "login"})
    try:
        raise RuntimeError(f"Authorization: Bot {TOKEN}")
    except RuntimeError:
        logger.exception("request to /callbacks/abcdefghijklmnop failed")
    text = stream.getvalue()
    assert TOKEN not in text and "abcdefghijklmnop" not in text
    first, second = json_lines(text)
    assert first["message"] == "login with *** failed" and first["event"] == "login"
    assert second["message"] == "request to /callbacks/*** failed"
    assert "RuntimeError" in str(second["exc"]) and "***" in str(second["exc"])


def test_the_level_and_format_come_from_the_environment() -> None:
    assert log_settings({}) == (logging.INFO, "plain")
    assert log_settings({"LOG_LEVEL": " debug ", "LOG_FORMAT": "JSON"}) == (logging.DEBUG, "json")
    assert log_settings({"LOG_LEVEL": "", "LOG_FORMAT": ""}) == (logging.INFO, "plain")
    with pytest.raises(SettingsError) as caught:
        log_settings({"LOG_LEVEL": "verbose"})
    assert caught.value.variable == "LOG_LEVEL" and "DEBUG, INFO, WARNING, ERROR" in str(caught.value)
    with pytest.raises(SettingsError) as caught:
        log_settings({"LOG_FORMAT": "xml"})
    assert caught.value.variable == "LOG_FORMAT"


@pytest.mark.parametrize(("level", "aiosqlite_level"), [(logging.DEBUG, logging.INFO),
                                                         (logging.WARNING, logging.WARNING)])
def test_aiosqlite_never_logs_its_statements(level: int, aiosqlite_level: int) -> None:
    """Its debug lines quote every statement's parameters (members' prompts, callback tokens)."""
    root, quiet = logging.getLogger(), logging.getLogger("aiosqlite")
    saved = root.level, quiet.level
    stream = io.StringIO()
    handler = setup_logging(level, "json", stream)
    try:
        assert root.level == level and quiet.getEffectiveLevel() == aiosqlite_level
        quiet.debug("executing INSERT with ('secret prompt',)")
        assert "secret prompt" not in stream.getvalue()
    finally:
        root.removeHandler(handler)
        root.setLevel(saved[0])
        quiet.setLevel(saved[1])


def test_the_bot_logs_json_lines_until_it_gives_up(tmp_path: Path) -> None:
    """``python -m bot`` with LOG_FORMAT=json: every log line on stderr is a JSON object (the one-line error
    it ends with stays plain). There is no Discord to reach here: the run ends there."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("DISCORD_", "SUNO_", "DATABASE_", "LOG_", "SHARD_", "WEB_"))}
    env.update(PYTHONPATH=str(ROOT), DISCORD_TOKEN=TOKEN, LOG_FORMAT="json", LOG_LEVEL="DEBUG",
               DATABASE_PATH=str(tmp_path / "bot.db"), WEB_PORT="0",
               # ignored with the sandbox provider: a warning logged while the settings are read
               SUNO_WEBHOOK_HMAC_KEY="an-hmac-key-for-the-logs-test")
    done = subprocess.run([sys.executable, "-m", "bot"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    lines = done.stderr.splitlines()
    logged = [json.loads(line) for line in lines if line.startswith("{")]
    assert logged, done.stderr
    assert all({"time", "level", "logger", "message"} <= set(line) for line in logged)
    assert any(line["logger"] == "bot.settings" and line["level"] == "WARNING" for line in logged)
    assert any(line["logger"] == "discord.client" for line in logged)
    # No internet in the test environment; with one, Discord refuses the fake token instead.
    assert "cannot reach Discord" in lines[-1] or "Discord rejected this token" in lines[-1], done.stderr
    assert done.returncode in (1, 2)
    assert TOKEN not in done.stderr + done.stdout
