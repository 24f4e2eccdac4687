"""ChorusBot: the commands.Bot subclass that owns every resource, opened in setup_hook, closed in close()."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.audit import AuditLog
from bot.callbacks import CallbackEndpoint
from bot.challenges import ChallengeService
from bot.coordination import Leadership, PostgresLeadership
from bot.delivery import Delivery
from bot.dispatcher import Dispatcher, callback_url
from bot.fetch import Fetcher, FetchPolicy
from bot.flows import Feature
from bot.links import Links, MediaEndpoint
from bot.media import MediaStore
from bot.metrics import Metrics, RateLimitCounter
from bot.observe import Observer
from bot.permissions import permission_names
from bot.providers import Provider, open_provider
from bot.providers.errors import InputError
from bot.providers.http import LastAnswer
from bot.providers.ratelimit import SlidingWindow
from bot.redaction import describe
from bot.replies import report_unexpected, send_ephemeral
from bot.sandbox.server import SandboxProvider
from bot.settings import DEFAULT_BASE_URLS, Settings, SettingsError
from bot.songs import SongService
from bot.store import Store
from bot.store.db import SchemaTooNew
from bot.tracker import Tracker
from bot.views import ActionHandler, ResultButton
from bot.web import WebServer

log = logging.getLogger(__name__)

EXTENSIONS = (
    "cogs.generate",
    "cogs.extend",
    "cogs.cover",
    "cogs.lyrics",
    "cogs.stems",
    "cogs.exports",
    "cogs.tracks",
    "cogs.credits",
    "cogs.moderation",
    "cogs.challenges",
    "cogs.queue",
    "cogs.personas",
    "cogs.vocals",
    "cogs.mashup",
    "cogs.replace",
    "cogs.art",
    "cogs.karaoke",
    "cogs.boost",
    "cogs.sfx",
    "cogs.likes",
    "cogs.settings",
    "cogs.help",
)


class ChorusTree(app_commands.CommandTree["ChorusBot"]):
    """One error handler for every command: members get a private answer that says what to do."""

    async def on_error(self, interaction: discord.Interaction[ChorusBot], error: app_commands.AppCommandError) -> None:
        original = getattr(error, "original", error)
        if isinstance(original, InputError):
            await send_ephemeral(interaction, original.user_message)
        elif isinstance(error, app_commands.NoPrivateMessage):
            await send_ephemeral(interaction, "Use this command in a server channel, not in direct messages.")
        elif isinstance(error, app_commands.MissingPermissions):
            needed = permission_names(error.missing_permissions)
            await send_ephemeral(interaction, f"You need the {needed} permission to use this.")
        elif isinstance(error, app_commands.BotMissingPermissions):
            needed = permission_names(error.missing_permissions)
            await send_ephemeral(interaction, f"I need the {needed} permission in this channel. Ask a server admin.")
        elif isinstance(error, app_commands.CommandOnCooldown):
            await send_ephemeral(interaction, f"Slow down: try again in {error.retry_after:.0f} s.")
        elif isinstance(error, app_commands.CheckFailure):
            await send_ephemeral(interaction, str(error) or "You can't use this command here.")
        elif isinstance(error, app_commands.TransformerError):
            await send_ephemeral(interaction, f"The value {error.value!r} isn't valid for that option.")
        else:
            name = interaction.command.qualified_name if interaction.command else "command"
            await report_unexpected(interaction, original, f"/{name}")


class ChorusBot(commands.AutoShardedBot):
    """The bot (sharded: SHARD_COUNT and SHARD_IDS choose this process's shards). ``await bot.login(token)``
    opens everything (so it can be driven without the gateway)."""

    store: Store
    audit: AuditLog
    challenges: ChallengeService
    provider: Provider
    delivery: Delivery
    tracker: Tracker
    dispatcher: Dispatcher
    songs: SongService
    web: WebServer
    media: MediaStore
    links: Links
    media_endpoint: MediaEndpoint

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        # Chorus posts files and never joins voice: skip discord.py's "voice will NOT be supported" warnings.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            tree_cls=ChorusTree,
            allowed_mentions=discord.AllowedMentions(everyone=False, roles=False, users=True, replied_user=False),
            shard_count=settings.shard_count,
            shard_ids=list(settings.shard_ids) if settings.shard_ids is not None else None,
        )
        self.settings = settings
        self.clock = clock
        self.sandbox: SandboxProvider | None = None
        self.actions: dict[str, ActionHandler] = {}  # result-button actions, registered by the cogs
        self.fetcher: Fetcher | None = None
        self.leadership: Leadership | None = None
        self.metrics = Metrics()
        self._rate_limits = RateLimitCounter(self.metrics)  # on discord.py's HTTP logger while the bot is set up

    async def setup_hook(self) -> None:
        settings = self.settings
        if settings.uses_sandbox and settings.provider_defaulted:
            log.warning(
                "SUNO_PROVIDER is not set and there is no SUNO_API_KEY: using the built-in sandbox provider "
                "(simulated songs, no credits). Set SUNO_API_KEY to make real songs with kie.ai."
            )
        try:
            self.store = await Store.open(settings.database, clock=self.clock)
        except Exception as error:
            if isinstance(error, SchemaTooNew):  # a newer Chorus used this database: never run older code on it
                variable, which = (("DATABASE_URL", "the PostgreSQL database") if settings.shared_database
                                   else ("DATABASE_PATH", f"the database {settings.database_path}"))
                raise SettingsError(variable, f"{which} is at schema version {error.version}, newer than this "
                                    f"code's {error.supported}: it was used by a newer Chorus; upgrade the code "
                                    "(git pull && pip install .) or restore a backup from before") from None
            if settings.shared_database:  # refused, unknown host or database, wrong password: never the URL itself
                raise SettingsError("DATABASE_URL", f"cannot use PostgreSQL: {describe(error)}") from None
            if isinstance(error, OSError):
                raise SettingsError("DATABASE_PATH", f"cannot open {settings.database_path}: {error}") from error
            raise
        shared = settings.shared_database
        self.media, key = await self._open_media()
        self.leadership = (PostgresLeadership(settings.database_url, self.store.database.notify)
                           if settings.database_url is not None else Leadership())

        metrics = self.metrics
        logging.getLogger("discord.http").addHandler(self._rate_limits)
        callbacks = CallbackEndpoint(self.store, hmac_key=settings.webhook_hmac_key, clock=self.clock,
                                     metrics=metrics)
        self.web = WebServer(settings.web_host, settings.web_port, callbacks)
        self.links = links = Links(settings.public_base_url, key, link_days=settings.media_link_days,
                                   clock=self.clock)
        self.media_endpoint = MediaEndpoint(self.media, links)
        self.web.app.add_routes(self.media_endpoint.routes())
        api_key = settings.api_key or secrets.token_urlsafe(24)
        # Every file the bot (or its sandbox) downloads comes from a public address, or one the operator allowed.
        self.fetcher = fetcher = Fetcher(FetchPolicy(allowed_hosts=settings.fetch_allow_hosts))
        if settings.uses_sandbox:
            self.sandbox = await SandboxProvider.open(
                _beside(settings.database_path, ".sandbox.db"),
                api_key=api_key,
                stage_seconds=settings.sandbox_stage_seconds,
                fetcher=fetcher,
            )
            self.web.mount("/sandbox", self.sandbox.app)
        observer = Observer(self.store, metrics, gateway=self._gateway_connected, provider=self._provider_answer,
                            token=settings.metrics_token, media=self.media, clock=self.clock)
        self.web.app.add_routes(observer.routes())
        try:
            await self.web.start()
        except OSError as error:
            raise SettingsError("WEB_PORT", f"cannot listen on {settings.web_host}:{settings.web_port}: {error}") from error
        if self.sandbox is not None:  # its own files, on loopback: allowed before anything is delivered
            fetcher.allow_prefix(SandboxProvider.files_prefix_at(f"{self.web.local_url}/sandbox"))
        links.own_origin = self.web.local_url  # the sandbox's files are shown under PUBLIC_BASE_URL, not here
        links.may_link = fetcher.may_link

        base_url = settings.api_base_url or (
            f"{self.web.local_url}/sandbox" if settings.uses_sandbox else DEFAULT_BASE_URLS[settings.provider]
        )
        self.provider = open_provider(settings.provider, api_key=api_key, base_url=base_url)
        callback_base = settings.public_base_url
        if settings.uses_sandbox:
            callback_base = self.web.local_url  # the sandbox runs in this process: loopback always reaches us
        called_back = self.provider.capabilities.callbacks and callback_base is not None

        self.delivery = Delivery(self, fetcher, self.store, self.media, links,
                                 offers=self.provider.capabilities.offered, clock=self.clock)
        self.audit = AuditLog(self, self.store)
        self.tracker = Tracker(
            self.store, self.provider, self.delivery, poll_interval=settings.polls_every(callbacks=called_back),
            callbacks=called_back, clock=self.clock, on_finished=self.audit.task_finished, shared=shared,
            metrics=metrics,
        )
        # The provider's own retries would hold a member's request; the queue puts it back in line instead.
        limiter = SlidingWindow(*settings.submit_rate, clock=self.clock)
        self.provider.limiter = None  # the dispatcher paces every submission
        self.provider.retry = replace(self.provider.retry, rate_limited=(), busy=())
        self.dispatcher = Dispatcher(
            self.store, self.provider, self.tracker, self.delivery, limiter,
            callback_url=functools.partial(callback_url, callback_base), called_back=called_back, clock=self.clock,
            leadership=self.leadership, shared=shared, metrics=metrics,
        )
        self.songs = SongService(
            self.store, self.provider, self.tracker, self.delivery, self.audit, self.dispatcher, clock=self.clock,
        )
        self.challenges = ChallengeService(self, self.store, self.delivery, clock=self.clock)
        callbacks.attach(self.provider, self.tracker)

        self.add_dynamic_items(ResultButton)
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        self._hide_unoffered()

        await self.tracker.start()
        await self.dispatcher.start()
        await self.leadership.start()
        await self.challenges.start()
        self.media.start(settings.media_retention_days)
        if self.sandbox is not None:
            await self.sandbox.start(f"{self.web.local_url}/sandbox")
        self._log_provider(called_back)
        if self.shard_ids is None or 0 in self.shard_ids:  # one process syncs: the one with the first shard
            await self.sync_commands()

    async def _open_media(self) -> tuple[MediaStore, bytes]:
        """The media store (MEDIA_DIR) and the key its links are signed with."""
        settings = self.settings
        media = MediaStore(settings.media_path, clock=self.clock)
        try:
            await media.open()
            key = settings.media_link_key.encode() if settings.media_link_key else media.link_key()
        except OSError as error:
            raise SettingsError("MEDIA_DIR", f"cannot keep files in {settings.media_path}: "
                                f"{error.strerror or error}") from None
        if settings.public_base_url is None:
            log.warning("PUBLIC_BASE_URL is not set: songs are kept in %s, but files too large to upload are "
                        "not linked, and no link to a kept copy can be shown", settings.media_path)
        return media, key

    def _gateway_connected(self) -> bool:
        return self.is_ready() and not any(shard.is_closed() for shard in self.shards.values())

    def _provider_answer(self) -> LastAnswer | None:
        provider = getattr(self, "provider", None)
        return provider.last_answer if provider is not None else None

    async def on_app_command_completion(
        self, interaction: discord.Interaction[ChorusBot], command: app_commands.Command[Any, ..., Any]
    ) -> None:
        """After a member's command, tell them privately about results that could not be posted in their
        channel and that no DM could tell them about (see Delivery.deliver)."""
        if interaction.response.type is discord.InteractionResponseType.modal:
            return  # no follow-up is possible until the form is sent
        for task in await self.store.untold(interaction.guild_id, interaction.user.id):
            await send_ephemeral(interaction, self.delivery.unposted_notice(task))
            await self.store.mark_told(task.id)

    def _hide_unoffered(self) -> None:
        """Leave out the commands whose operations the provider does not offer (buttons are left out by
        Delivery; anything else that asks is refused with the provider's name)."""
        offers = self.provider.capabilities.kinds
        for cog in self.cogs.values():
            if isinstance(cog, Feature):
                for name in cog.unoffered(offers):
                    self.tree.remove_command(name)
                    log.info("/%s is hidden: %s does not offer it", name, self.provider.capabilities.label)

    def _log_provider(self, called_back: bool) -> None:
        capabilities = self.provider.capabilities
        every = self.tracker.poll_interval
        if called_back:
            log.info("Suno provider: %s (callbacks, polling every %.0fs as a fallback)", capabilities.label, every)
        elif not capabilities.callbacks:
            log.info("Suno provider: %s (no callbacks: polling every %.0fs)", capabilities.label, every)
        else:
            log.warning("PUBLIC_BASE_URL is not set: %s runs poll-only (every %.0fs)", capabilities.label, every)

    async def sync_commands(self) -> None:
        """Sync slash commands only when they changed since the last sync (Discord rate-limits syncs).
        With DEV_GUILD_ID they go to that server, where changes show at once."""
        guild = discord.Object(self.settings.dev_guild_id) if self.settings.dev_guild_id else None
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
        payload = [command.to_dict(self.tree) for command in self.tree.get_commands(guild=guild)]
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
        prefix = f"commands:{self.application_id}:"
        key = prefix + (str(guild.id) if guild else "global")
        if await self.store.get_meta(key) == digest:
            log.info("slash commands unchanged; not syncing")
        else:
            try:
                synced = await self.tree.sync(guild=guild)
            except discord.HTTPException as error:
                where = f"server {guild.id} (DEV_GUILD_ID)" if guild else "Discord"
                log.error("could not sync slash commands to %s: %s", where, error)
                return
            await self.store.set_meta(key, digest)
            log.info("synced %d slash commands %s", len(synced), f"to server {guild.id}" if guild else "globally")
        await self._clear_other_scopes(prefix, key)

    async def _clear_other_scopes(self, prefix: str, current: str) -> None:
        """Commands synced earlier to the other scope (DEV_GUILD_ID turned on, off or changed) would show
        twice: remove them there."""
        assert self.application_id is not None
        for key in await self.store.meta_keys(prefix):
            if key == current:
                continue
            scope = key.removeprefix(prefix)
            where = "globally" if scope == "global" else f"from server {scope}"
            try:
                if scope == "global":
                    await self.http.bulk_upsert_global_commands(self.application_id, [])
                else:
                    await self.http.bulk_upsert_guild_commands(self.application_id, int(scope), [])
            except discord.HTTPException as error:
                log.warning("could not remove the slash commands synced %s earlier: %s", where, error)
                continue
            await self.store.delete_meta(key)
            log.info("removed the slash commands synced %s earlier (they would show twice)", where)

    async def close(self) -> None:
        """Stop taking callbacks, finish or cancel background work, close the provider and the database."""
        for name in ("web", "challenges", "media", "leadership", "dispatcher", "tracker", "sandbox", "provider",
                     "fetcher", "store"):
            resource = getattr(self, name, None)
            if resource is None:
                continue
            try:
                stops = ("web", "challenges", "media", "leadership", "dispatcher", "tracker")
                await (resource.stop() if name in stops else resource.close())
            except Exception:
                log.exception("error while closing %s", name.strip("_"))
            setattr(self, name, None)
        logging.getLogger("discord.http").removeHandler(self._rate_limits)
        await super().close()


def _beside(path: Any, suffix: str) -> str:
    text = str(path)
    if text == ":memory:":
        return text
    return text.removesuffix(".db") + suffix
