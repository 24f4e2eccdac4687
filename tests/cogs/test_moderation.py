"""/mod through the real bot: every subcommand, who may use it, and the log channel."""

from __future__ import annotations

from typing import Any

import pytest

from tests.cogs.test_credits import balance, in_thread, ledger
from tests.conftest import Harness
from tests.support.discord_fake import DEFAULT_GUILD_ID, DEFAULT_USER_ID
from tests.support.interactions import (
    ADMINISTRATOR,
    BOT_CHANNEL_PERMS,
    MODERATOR_PERMS,
    SEND_MESSAGES_IN_THREADS,
    guild_create,
    inject,
    slash_command,
)

pytestmark = pytest.mark.both_databases

MOD_ID = 5000
MEMBER_ID = DEFAULT_USER_ID
LOG_CHANNEL = 9100


def _user(user_id: int) -> dict[str, Any]:
    return {"id": str(user_id), "username": f"user{user_id}", "discriminator": "0", "global_name": None,
            "avatar": None}


def member(user_id: int, roles: tuple[int, ...] = ()) -> tuple[dict[str, Any], dict[str, Any]]:
    """A user option and what Discord resolves for it."""
    resolved = {"users": {str(user_id): _user(user_id)},
                "members": {str(user_id): {"roles": [str(r) for r in roles], "joined_at": "2024-01-01T00:00:00+00:00",
                                           "flags": 0, "permissions": "0", "deaf": False, "mute": False}}}
    return {"type": 6, "value": str(user_id)}, resolved


def role(role_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
    resolved = {"roles": {str(role_id): {"id": str(role_id), "name": f"role{role_id}", "permissions": "0",
                                         "position": 1, "color": 0, "hoist": False, "managed": False,
                                         "mentionable": True, "flags": 0}}}
    return {"type": 8, "value": str(role_id)}, resolved


def channel(channel_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
    resolved = {"channels": {str(channel_id): {"id": str(channel_id), "type": 0, "name": f"c{channel_id}",
                                               "permissions": "0", "guild_id": str(DEFAULT_GUILD_ID)}}}
    return {"type": 7, "value": str(channel_id)}, resolved


async def mod(h: Harness, subcommand: str, options: dict[str, Any] | None = None, *, user_id: int = MOD_ID,
              permissions: int = MODERATOR_PERMS, roles: tuple[int, ...] = ()) -> dict[str, Any]:
    """Run /mod <subcommand> with options; values may be (option, resolved) pairs from the helpers above."""
    plain, resolved = [], {}
    for name, value in (options or {}).items():
        if isinstance(value, tuple):
            option, extra = value
            for key, items in extra.items():
                resolved.setdefault(key, {}).update(items)
            plain.append({"name": name, **option})
        else:
            plain.append(_typed(name, value))
    payload = slash_command("mod", plain, subcommand=subcommand, resolved=resolved or None, user_id=user_id,
                            permissions=permissions, roles=[str(r) for r in roles])
    inject(h.bot, payload, fake=h.discord)
    return await h.reply_to(payload)


def _typed(name: str, value: Any) -> dict[str, Any]:
    kind = 5 if isinstance(value, bool) else 4 if isinstance(value, int) else 3
    return {"name": name, "type": kind, "value": value}


async def test_members_without_manage_server_are_refused(strict: Harness) -> None:
    reply = await mod(strict, "credits grant", {"member": member(MEMBER_ID), "amount": 50}, user_id=77,
                      permissions=0)
    assert "Only moderators can use /mod" in reply["content"] and reply["flags"] & 64
    assert await ledger(strict) == []


async def test_the_moderator_role_admits_its_members(strict: Harness) -> None:
    h = strict
    helper_role = 4321
    guild_create(h.bot, roles={helper_role: "Helpers"})
    refused = await mod(h, "moderator-role", {"role": role(helper_role)})  # Manage Server is not enough
    assert "Only administrators" in refused["content"]
    done = await mod(h, "moderator-role", {"role": role(helper_role)}, permissions=MODERATOR_PERMS | ADMINISTRATOR)
    assert done["content"].startswith("Done: made <@&4321> the moderator role")
    reply = await mod(h, "credits grant", {"member": member(MEMBER_ID), "amount": 5}, user_id=78, permissions=0,
                      roles=(helper_role,))
    assert reply["content"].startswith("Done: granted 5 credits")


async def test_credits_grant_revoke_set_reset(strict: Harness) -> None:
    h = strict
    target = {"member": member(MEMBER_ID)}
    assert "granted 50 credits to <@" in (await mod(h, "credits grant", {**target, "amount": 50, "reason": "contest"}))["content"]
    assert await balance(h) == 150
    assert "revoked 30 credits" in (await mod(h, "credits revoke", {**target, "amount": 30}))["content"]
    assert await balance(h) == 120
    assert "(balance now 0)" in (await mod(h, "credits revoke", {**target, "amount": 500}))["content"]  # not below 0
    assert "(balance now 40)" in (await mod(h, "credits set", {**target, "amount": 40}))["content"]
    assert "reset <@" in (await mod(h, "credits reset", target))["content"]
    assert await balance(h) == 100
    rows = await h.bot.store.history(DEFAULT_GUILD_ID, MEMBER_ID, 10)
    assert [(r.kind, r.amount, r.actor_id) for r in reversed(rows)] == [
        ("allowance", 100, None), ("grant", 50, MOD_ID), ("revoke", -30, MOD_ID), ("revoke", -120, MOD_ID),
        ("grant", 40, MOD_ID), ("reset", 60, MOD_ID)]
    assert rows[-2].reason == "contest"


async def test_allowance_role_allowance_and_costs(strict: Harness) -> None:
    h = strict
    assert "250 credits per day" in (await mod(h, "credits allowance", {"amount": 250, "period": "daily"}))["content"]
    policy = await h.bot.store.policy(DEFAULT_GUILD_ID)
    assert (policy.allowance, policy.period) == (250, "daily")
    await mod(h, "credits role", {"role": role(31), "amount": 500})
    assert (await h.bot.store.policy(DEFAULT_GUILD_ID)).role_allowances == {31: 500}
    assert "removed the allowance" in (await mod(h, "credits role", {"role": role(31)}))["content"]
    assert "cost of Stems: all to 20" in (await mod(h, "costs set", {"operation": "stems_all", "amount": 20}))["content"]
    assert (await h.bot.store.policy(DEFAULT_GUILD_ID)).cost("stems_all") == 20
    await mod(h, "costs set", {"operation": "generate", "amount": 3})
    await h.generate()
    assert await balance(h) == 247


async def test_limits(strict: Harness) -> None:
    h = strict
    assert "2 per member, 10 for the server" in (await mod(h, "limits"))["content"]
    assert "5 per member, 40 for the server" in (await mod(h, "limits", {"member_running": 5,
                                                                         "guild_running": 40}))["content"]


async def test_block_and_unblock(strict: Harness) -> None:
    h = strict
    await mod(h, "block", {"member": member(MEMBER_ID), "reason": "flooding the channel"})
    refused = await h.reply_to(h.command("generate", {"prompt": "a song"}))
    assert "blocked you from making music here: flooding the channel" in refused["content"]
    assert h.kie.api_calls == []
    await mod(h, "unblock", {"member": member(MEMBER_ID)})
    assert "On it" in (await h.reply_to(h.command("generate", {"prompt": "a song"})))["content"]
    assert "isn't blocked" in (await mod(h, "unblock", {"member": member(MEMBER_ID)}))["content"]


async def test_channels(strict: Harness) -> None:
    h = strict
    assert "every channel" in (await mod(h, "channels list"))["content"]
    await mod(h, "channels allow", {"channel": channel(4444)})
    assert "only in <#4444>" in (await mod(h, "channels list"))["content"]
    refused = await h.reply_to(h.command("generate", {"prompt": "here"}))
    assert "Use <#4444>" in refused["content"]
    assert "isn't on either list" in (await mod(h, "channels remove", {"channel": channel(5555)}))["content"]
    assert "every channel" in (await mod(h, "channels remove", {"channel": channel(4444)}))["content"]
    assert "On it" in (await h.reply_to(h.command("generate", {"prompt": "here"})))["content"]


async def test_one_channel_can_be_denied_with_no_allowed_list(strict: Harness) -> None:
    """Deny works alone (every other channel stays open), wins over the allowed list, covers the channel's
    threads, and shows in the list."""
    h = strict
    done = await mod(h, "channels deny", {"channel": channel(h.channel_id)})
    assert f"every channel except <#{h.channel_id}>" in done["content"]
    refused = await h.reply_to(h.command("generate", {"prompt": "here"}))
    assert "Music can't be made in this channel. Try another channel." in refused["content"]
    thread = in_thread(slash_command("generate", {"prompt": "in a thread"}, channel_id=7777,
                                     app_permissions=BOT_CHANNEL_PERMS | SEND_MESSAGES_IN_THREADS), h.channel_id)
    inject(h.bot, thread, fake=h.discord)  # the thread's channel is denied
    assert "can't be made in this channel" in (await h.reply_to(thread))["content"]
    assert "On it" in (await h.reply_to(h.command("generate", {"prompt": "elsewhere"}, channel_id=8888)))["content"]
    await mod(h, "channels allow", {"channel": channel(8888)})
    await mod(h, "channels allow", {"channel": channel(9999)})
    await mod(h, "channels deny", {"channel": channel(9999)})  # deny wins: off the allowed list
    listed = (await mod(h, "channels list"))["content"]
    assert listed == f"Music can be made only in <#8888>. Denied: <#9999>, <#{h.channel_id}>."
    refused = await h.reply_to(h.command("generate", {"prompt": "there"}, channel_id=9999))
    assert "Use <#8888>." in refused["content"]
    assert len(h.kie.submissions) == 1
async def test_words(strict: Harness) -> None:
    h = strict
    await mod(h, "words add", {"word": "  Forbidden   Fruit "})
    assert "\u201cforbidden fruit\u201d" in (await mod(h, "words list"))["content"]
    refused = await h.reply_to(h.command("generate", {"prompt": "a ballad of FORBIDDEN fruit"}))
    assert "forbidden fruit" in refused["content"] and h.kie.api_calls == []
    assert "isn't on the list" in (await mod(h, "words remove", {"word": "apple"}))["content"]
    await mod(h, "words remove", {"word": "forbidden fruit"})
    assert "No words are blocked" in (await mod(h, "words list"))["content"]


async def test_report(strict: Harness) -> None:
    h = strict
    await h.song()
    h.kie.fail_next_submit(402, "Insufficient credits")
    await h.reply_to(h.command("generate", {"prompt": "refused"}))
    other = h.command("generate", {"prompt": "theirs"}, user_id=6)
    await h.reply_to(other)
    embed = (await mod(h, "report", {"period": "week"}))["embeds"][0]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    lines = fields["Top members by credits spent"].splitlines()
    assert sorted(line.split(". ", 1)[1] for line in lines) == [f"<@{MEMBER_ID}> \u2014 10 credits",
                                                               "<@6> \u2014 10 credits"]
    assert "\u2705 done 1" in fields["Tasks"] and "\u274c failed 1" in fields["Tasks"]
    assert fields["Refunds"] == "1 (10 credits)"


async def test_provider_balance(strict: Harness) -> None:
    h = strict
    h.kie.credits = 1234
    reply = await mod(strict, "provider-balance")
    assert "**1,234** credits left" in reply["content"]


async def test_the_log_channel_gets_moderator_actions_spends_and_refunds(strict: Harness) -> None:
    h = strict
    await mod(h, "log-channel", {"channel": channel(LOG_CHANNEL)})
    await mod(h, "credits grant", {"member": member(MEMBER_ID), "amount": 7, "reason": "thanks"})
    granted = await h.discord.wait_for_message(LOG_CHANNEL, lambda m: "granted 7" in str(m["embeds"]))
    assert f"<@{MOD_ID}> granted 7 credits to <@{MEMBER_ID}>" in granted["embeds"][0]["description"]
    _, task_id = await h.generate()
    spent = await h.discord.wait_for_message(LOG_CHANNEL, lambda m: "spent" in str(m["embeds"]))
    assert f"<@{MEMBER_ID}> spent **10** credits on generate" in spent["embeds"][0]["description"]
    await h.kie.fail(task_id, code=531, msg="failed, refunded")
    refunded = await h.discord.wait_for_message(LOG_CHANNEL, lambda m: "Refunded" in str(m["embeds"]))
    assert "Refunded **10** credits" in refunded["embeds"][0]["description"]
    await mod(h, "log-channel")
    assert (await h.bot.store.policy(DEFAULT_GUILD_ID)).log_channel_id is None


async def test_member_text_in_the_log_channel_carries_no_link_or_mention(strict: Harness) -> None:
    """A prompt is shown to the moderators as typed, but cannot carry a masked link or a mention."""
    h = strict
    await mod(h, "log-channel", {"channel": channel(LOG_CHANNEL)})
    await h.generate("[free nitro](https://evil.example) for <@&123456789012345678> @everyone")
    spent = await h.discord.wait_for_message(LOG_CHANNEL, lambda m: "spent" in str(m["embeds"]))
    text = spent["embeds"][0]["description"]
    assert "free nitro" in text and "[free nitro](https://evil.example)" not in text
    assert "<@&123456789012345678>" not in text and "@everyone" not in text
