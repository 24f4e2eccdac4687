"""The studio's tables: likes (one per member and track), a member's defaults, and results their owner
deleted."""

from __future__ import annotations

from dataclasses import dataclass, fields

from bot.models import Task, TaskState
from bot.store.challenges import ChallengeStore


@dataclass(frozen=True)
class MemberSettings:
    """A member's defaults in a server (None: the bot's own default)."""

    model: str | None = None
    instrumental: bool | None = None
    vocal_gender: str | None = None  # "m" or "f"
    persona: int | None = None  # a persona's id in the personas table
    private_results: bool = False  # results by DM instead of in the channel


@dataclass(frozen=True)
class TopTrack:
    task: Task
    position: int
    likes: int


SETTING_COLUMNS = tuple(f.name for f in fields(MemberSettings))


class StudioStore(ChallengeStore):
    # ----- likes ----------------------------------------------------------------------------------------------

    async def toggle_like(self, guild_id: int, task_id: int, position: int, user_id: int) -> bool:
        """Like a track, or take the like back; True when it is now liked."""
        added = await self._execute(
            """INSERT INTO likes (task_id, position, user_id, guild_id, created_at) VALUES (?, ?, ?, ?, ?)
               ON CONFLICT (task_id, position, user_id) DO NOTHING""",
            (task_id, position, user_id, guild_id, self._clock()),
        )
        if added:
            return True
        await self._execute("DELETE FROM likes WHERE task_id = ? AND position = ? AND user_id = ?",
                            (task_id, position, user_id))
        return False

    async def like_count(self, task_id: int, position: int) -> int:
        return int(await self._value("SELECT COUNT(*) FROM likes WHERE task_id = ? AND position = ?",
                                     (task_id, position)))

    async def top_tracks(self, guild_id: int, *, since: float = 0.0, limit: int = 10) -> list[TopTrack]:
        """The server's most-liked tracks made since ``since`` (deleted ones left out), most likes first, the
        earlier-liked first among equals."""
        rows = await self._rows(
            """SELECT likes.task_id, likes.position, COUNT(*) AS n, MIN(likes.created_at) AS first
               FROM likes JOIN tasks ON tasks.id = likes.task_id
               WHERE likes.guild_id = ? AND tasks.created_at >= ? AND tasks.deleted_at IS NULL AND tasks.private = 0
               GROUP BY likes.task_id, likes.position ORDER BY n DESC, first LIMIT ?""",
            (guild_id, since, limit),
        )
        top = []
        for row in rows:
            task = await self.get_task(row[0])
            if task is not None and row[1] < len(task.tracks):
                top.append(TopTrack(task, row[1], int(row[2])))
        return top

    # ----- a member's defaults --------------------------------------------------------------------------------

    async def member_settings(self, guild_id: int, user_id: int) -> MemberSettings:
        rows = await self._rows(
            f"SELECT {', '.join(SETTING_COLUMNS)} FROM member_settings WHERE guild_id = ? AND user_id = ?",
            (guild_id, user_id),
        )
        if not rows:
            return MemberSettings()
        row = rows[0]
        return MemberSettings(
            model=row[0], instrumental=None if row[1] is None else bool(row[1]), vocal_gender=row[2],
            persona=row[3], private_results=bool(row[4]),
        )

    async def set_member_settings(self, guild_id: int, user_id: int, settings: MemberSettings) -> None:
        values = (settings.model, None if settings.instrumental is None else int(settings.instrumental),
                  settings.vocal_gender, settings.persona, int(settings.private_results))
        await self._execute(
            f"""INSERT INTO member_settings (guild_id, user_id, {', '.join(SETTING_COLUMNS)})
                VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (guild_id, user_id) DO UPDATE SET
                {', '.join(f'{name} = excluded.{name}' for name in SETTING_COLUMNS)}""",
            (guild_id, user_id, *values),
        )

    # ----- deleting a result ----------------------------------------------------------------------------------

    async def mark_deleted(self, task_id: int) -> bool:
        """Mark a finished result deleted (its tracks leave autocomplete, /top and /track show); False if it
        already was."""
        return bool(await self._execute(
            "UPDATE tasks SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL AND state = ?",
            (self._clock(), task_id, TaskState.SUCCEEDED.value),
        ))

    # ----- voice personas -------------------------------------------------------------------------------------

    async def add_persona(self, persona: NewPersona) -> Persona | None:
        """Store a persona the provider made; None if that track already has one (its unique index: one per
        track). One statement, group-committed with the writes around it."""
        persona_id = await self._db.write(lambda tx: tx.value(
            f"""INSERT INTO personas ({', '.join(NEW_PERSONA_COLUMNS)}, created_at)
                VALUES ({', '.join('?' for _ in NEW_PERSONA_COLUMNS)}, ?)
                ON CONFLICT (provider, audio_id) DO NOTHING RETURNING id""",
            (*(getattr(persona, name) for name in NEW_PERSONA_COLUMNS), self._clock()),
        ))
        return None if persona_id is None else await self.persona(int(persona_id))

    async def persona_of_track(self, provider: str, audio_id: str) -> tuple[Persona, bool] | None:
        """The persona made from a track (the provider makes one per track), and whether it was deleted."""
        rows = await self._rows(f"SELECT {', '.join(PERSONA_COLUMNS)}, deleted_at FROM personas "
                                "WHERE provider = ? AND audio_id = ?", (provider, audio_id))
        return (Persona(*rows[0][:-1]), rows[0][-1] is not None) if rows else None

    async def restore_persona(self, persona_id: int, user_id: int, name: str, description: str) -> Persona | None:
        """Bring back a deleted persona (the provider keeps it), renamed by whoever asks for it again."""
        await self._execute("UPDATE personas SET deleted_at = NULL, user_id = ?, name = ?, description = ? "
                            "WHERE id = ?", (user_id, name, description, persona_id))
        return await self.persona(persona_id)

    async def persona(self, persona_id: int) -> Persona | None:
        rows = await self._rows(f"SELECT {', '.join(PERSONA_COLUMNS)} FROM personas WHERE id = ? AND deleted_at IS NULL",
                                (persona_id,))
        return Persona(*rows[0]) if rows else None

    async def personas(self, guild_id: int, *, query: str = "", limit: int = 25) -> list[Persona]:
        """A server's personas, newest first; ``query`` filters names (for autocomplete)."""
        pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = await self._rows(
            f"""SELECT {', '.join(PERSONA_COLUMNS)} FROM personas
                WHERE guild_id = ? AND deleted_at IS NULL AND LOWER(name) LIKE LOWER(?) ESCAPE '\\'
                ORDER BY id DESC LIMIT ?""",
            (guild_id, pattern, limit),
        )
        return [Persona(*row) for row in rows]

    async def delete_persona(self, persona_id: int) -> bool:
        return bool(await self._execute("UPDATE personas SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL",
                                        (self._clock(), persona_id)))


@dataclass(frozen=True)
class NewPersona:
    guild_id: int
    user_id: int
    provider: str
    provider_persona_id: str
    name: str
    description: str
    task_id: int
    audio_id: str
    model: str


@dataclass(frozen=True)
class Persona(NewPersona):
    id: int = 0
    created_at: float = 0.0


NEW_PERSONA_COLUMNS = tuple(f.name for f in fields(NewPersona))
PERSONA_COLUMNS = (*NEW_PERSONA_COLUMNS, "id", "created_at")
