"""``python -m bot``: run Chorus until SIGTERM or SIGINT, then close everything cleanly (``python -m bot copy-db``:
copy the SQLite database into PostgreSQL, see bot/copydb.py; ``python -m bot backup PATH``: a copy of the SQLite
database taken while the bot runs, see bot/backup.py; ``python -m bot check``: what the bot needs, checked without
starting it, see bot/check.py; ``--version``, ``--help``)."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

import aiohttp
import discord

from bot import create_bot
from bot.logs import log_settings, setup_logging
from bot.redaction import Redactor, install_log_filter
from bot.settings import Settings, SettingsError, load_dotenv_file

log = logging.getLogger(__name__)

EXIT_CONFIG = 2


def main() -> None:
    if sys.argv[1:2] == ["copy-db"]:  # a maintenance command: copy the SQLite database into PostgreSQL
        from bot.copydb import main as copy_db

        raise SystemExit(copy_db(sys.argv[2:]))
    if sys.argv[1:2] == ["backup"]:  # a maintenance command: a consistent copy of the SQLite database
        from bot.backup import main as backup

        raise SystemExit(backup(sys.argv[2:]))
    if sys.argv[1:2] == ["check"]:  # before going live: settings, database, port, key, token, public URL
        from bot.check import main as check

        raise SystemExit(check(sys.argv[2:]))
    if sys.argv[1:2] in (["--version"], ["--help"], ["-h"]):
        from bot.check import about

        raise SystemExit(about(sys.argv[1]))
    load_dotenv_file()
    try:
        level, fmt = log_settings()  # LOG_LEVEL and LOG_FORMAT first: the other settings may log a warning
    except SettingsError as error:
        _die(str(error))
    setup_logging(level, fmt)  # the aiosqlite logger stays at INFO or above (its debug lines quote parameters)
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        _die(str(error))
    install_log_filter(Redactor(settings.secrets))  # no log line carries a secret, whatever formatted it
    try:
        asyncio.run(run(settings))
    except SettingsError as error:
        _die(str(error))
    except discord.LoginFailure:
        _die("DISCORD_TOKEN: Discord rejected this token; reset it in the Developer Portal (Bot → Reset Token)")
    except discord.PrivilegedIntentsRequired:
        _die("DISCORD_TOKEN: this bot asks for an intent that is not enabled in the Developer Portal")
    except aiohttp.ClientConnectionError as error:
        print(f"chorus: cannot reach Discord: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        pass


async def run(settings: Settings) -> None:
    bot = create_bot(settings)
    install_signal_handlers(bot)
    async with bot:
        await bot.start(settings.discord_token)


def install_signal_handlers(bot: discord.Client) -> asyncio.Event:
    """Close the bot on SIGTERM/SIGINT; the returned event is set once it has closed.
    discord.py installs no handlers: without these, `docker stop` would kill the bot without closing the
    web server and the database."""
    loop = asyncio.get_running_loop()
    closed = asyncio.Event()
    closing: list[asyncio.Task[None]] = []  # keeps a reference so the task is not garbage-collected

    async def shut_down() -> None:
        try:
            await bot.close()
        finally:
            closed.set()

    def on_signal(sig: signal.Signals) -> None:
        log.info("received %s: shutting down", sig.name)
        if not closing:
            closing.append(loop.create_task(shut_down()))

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    return closed


def _die(message: str) -> None:
    print(f"chorus: configuration error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_CONFIG)


if __name__ == "__main__":
    main()
