"""Where log lines go and what they look like: ``LOG_LEVEL`` and ``LOG_FORMAT``.

* ``plain`` (the default): ``[2026-12-07 14:03:21] [INFO    ] bot.tracker: message``, in discord.py's colours
  only when the stream is a terminal (``docker logs`` and files get no escape codes).
* ``json``: one JSON object per line for a log collector: ``time`` (ISO 8601, UTC), ``level``, ``logger``,
  ``message``; ``event``, ``task_id`` and ``guild_id`` when the record carries them
  (``log.info(..., extra={"event": "delivered", "task_id": 7})``); ``exc`` with the traceback when there is one.

``python -m bot`` installs the :class:`~bot.redaction.Redactor` filter on these handlers afterwards: the filter
runs before the formatter, so both formats are built from the already-redacted message and traceback.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

import discord.utils

from bot.settings import SettingsError

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
FORMATS = ("plain", "json")
EXTRA_FIELDS = ("event", "task_id", "guild_id")  # copied into a JSON line when a record carries them
# discord.py's own format when it does not colour (discord.utils.setup_logging).
PLAIN_FORMAT = "[{asctime}] [{levelname:<8}] {name}: {message}"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
# Loggers kept at INFO or above whatever LOG_LEVEL says: aiosqlite's debug lines quote every statement's
# parameters (members' prompts, callback tokens).
QUIET_LOGGERS = ("aiosqlite",)


def log_settings(environ: Mapping[str, str] | None = None) -> tuple[int, str]:
    """``LOG_LEVEL`` (as a :mod:`logging` level) and ``LOG_FORMAT``; raises :class:`SettingsError` naming the
    variable for a bad value."""
    env = os.environ if environ is None else environ
    level = (env.get("LOG_LEVEL") or "").strip().upper() or "INFO"
    if level not in LEVELS:
        raise SettingsError("LOG_LEVEL", f"must be one of {', '.join(LEVELS)} (got {level!r})")
    fmt = (env.get("LOG_FORMAT") or "").strip().lower() or "plain"
    if fmt not in FORMATS:
        raise SettingsError("LOG_FORMAT", f"must be plain or json (got {fmt!r})")
    return logging.getLevelName(level), fmt


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines in the message or traceback are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),  # after the Redactor filter: its msg is redacted, its args gone
        }
        for name in EXTRA_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                line[name] = value
        exc = record.exc_text  # the Redactor filter leaves the (redacted) traceback here
        if record.exc_info and not exc:
            exc = self.formatException(record.exc_info)
        if exc:
            line["exc"] = exc
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, ensure_ascii=False, default=str)


def is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def make_formatter(fmt: str, stream: TextIO) -> logging.Formatter:
    if fmt == "json":
        return JsonFormatter()
    if is_terminal(stream):
        return discord.utils._ColourFormatter()
    return logging.Formatter(PLAIN_FORMAT, DATE_FORMAT, style="{")


def make_handler(fmt: str = "plain", stream: TextIO | None = None) -> logging.Handler:
    """A handler writing to ``stream`` (default: standard error) in ``fmt``."""
    stream = sys.stderr if stream is None else stream
    handler = logging.StreamHandler(stream)
    handler.setFormatter(make_formatter(fmt, stream))
    return handler


def setup_logging(level: int | str = logging.INFO, fmt: str = "plain",
                  stream: TextIO | None = None) -> logging.Handler:
    """Send every logger's records at ``level`` and above to ``stream`` (default: standard error) in ``fmt``;
    returns the handler (on the root logger)."""
    if isinstance(level, str):
        level = logging.getLevelName(level.upper())
    handler = make_handler(fmt, stream)
    root = logging.getLogger()
    root.setLevel(level)
    root.addHandler(handler)
    for name in QUIET_LOGGERS:  # its own level, not the root's: records pass it on to the root's handlers
        logging.getLogger(name).setLevel(max(int(level), logging.INFO))
    return handler
