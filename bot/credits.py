"""Credit policy: what each operation costs, how much members get per period, when periods start.

Pure functions and dataclasses; the ledger itself lives in the store (bot/store/credits.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from bot.models import Request, StemsRequest, TaskKind

PERIODS = ("daily", "weekly", "monthly")
DEFAULT_ALLOWANCE = 100
DEFAULT_PERIOD = "weekly"
DEFAULT_MEMBER_RUNNING = 2
DEFAULT_GUILD_RUNNING = 10

# Operation → default cost (issue: generate, compose, extend, cover 10; lyrics 1; stems 10 / 50; WAV 1; video 5).
DEFAULT_COSTS: dict[str, int] = {
    "generate": 10,
    "compose": 10,
    "extend": 10,
    "cover": 10,
    "lyrics": 1,
    "stems_vocals": 10,
    "stems_all": 50,
    "wav": 1,
    "video": 5,
    # The studio (contract §6 proportions: CQTAI prices a song 30, these as songs too).
    "add_vocals": 10,
    "add_instrumental": 10,
    "mashup": 10,
    "replace_section": 10,
    "persona": 1,  # a small tool (CQTAI: 1–4 against a song's 30)
    "karaoke": 1,  # CQTAI's timeline: 2 against a song's 30
    "style_boost": 1,
    "cover_image": 1,
    "midi": 1,
    "sounds": 3,  # CQTAI prices a sound effect 10 against a song's 30
}
OPERATION_NAMES: dict[str, str] = {
    "generate": "Generate (/generate)",
    "compose": "Compose (/compose)",
    "extend": "Extend",
    "cover": "Cover",
    "lyrics": "Lyrics",
    "stems_vocals": "Stems: vocals + instrumental",
    "stems_all": "Stems: all",
    "wav": "WAV export",
    "video": "Music video",
    "add_vocals": "Add vocals (/vocals)",
    "add_instrumental": "Add an instrumental (/instrumental)",
    "mashup": "Mashup",
    "replace_section": "Replace a section",
    "persona": "Voice persona (/persona create)",
    "karaoke": "Karaoke lyrics (/karaoke)",
    "style_boost": "Style boost (/style boost)",
    "cover_image": "Cover art (/art)",
    "midi": "MIDI of stems",
    "sounds": "Sound effect (/sfx)",
}


def operation_of(request: Request) -> str:
    """The cost-table key of a request."""
    kind = request.kind
    if kind is TaskKind.UPLOAD_EXTEND:
        return "extend"
    if isinstance(request, StemsRequest):
        return f"stems_{request.mode}"
    return kind.value


@dataclass(frozen=True)
class GuildPolicy:
    """A server's credit settings; unset ones take the defaults."""

    guild_id: int
    allowance: int = DEFAULT_ALLOWANCE
    period: str = DEFAULT_PERIOD
    member_running: int = DEFAULT_MEMBER_RUNNING
    guild_running: int = DEFAULT_GUILD_RUNNING
    log_channel_id: int | None = None
    moderator_role_id: int | None = None
    costs: dict[str, int] = field(default_factory=dict)
    role_allowances: dict[int, int] = field(default_factory=dict)

    def cost(self, operation: str) -> int:
        return self.costs.get(operation, DEFAULT_COSTS[operation])

    def cost_table(self) -> dict[str, int]:
        return {operation: self.cost(operation) for operation in DEFAULT_COSTS}

    def allowance_for(self, role_ids: frozenset[int] | set[int] | tuple[int, ...]) -> int:
        """Per-role allowances override the server default; the highest of a member's roles wins."""
        amounts = [self.role_allowances[role] for role in role_ids if role in self.role_allowances]
        return max(amounts) if amounts else self.allowance


def period_start(period: str, now: float) -> float:
    """The start (UTC) of the period containing ``now``: the day, the week (Monday) or the month."""
    moment = datetime.fromtimestamp(now, tz=timezone.utc)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "daily":
        start = day
    elif period == "weekly":
        start = day - timedelta(days=day.weekday())
    elif period == "monthly":
        start = day.replace(day=1)
    else:
        raise ValueError(f"unknown period {period!r}")
    return start.timestamp()


def next_period(period: str, now: float) -> float:
    """When the period containing ``now`` ends (the next refill)."""
    start = datetime.fromtimestamp(period_start(period, now), tz=timezone.utc)
    if period == "daily":
        end = start + timedelta(days=1)
    elif period == "weekly":
        end = start + timedelta(weeks=1)
    else:
        end = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return end.timestamp()


PERIOD_WORDS = {"daily": "day", "weekly": "week", "monthly": "month"}
