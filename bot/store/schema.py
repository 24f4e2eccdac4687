"""The database schema, as migrations: each entry upgrades it by one version (SQLite: PRAGMA user_version;
PostgreSQL: the chorus_schema table, with the same scripts in PostgreSQL's types, see postgres.py)."""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE tasks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        provider TEXT NOT NULL,
        provider_task_id TEXT,
        callback_token TEXT NOT NULL UNIQUE,
        guild_id INTEGER,
        channel_id INTEGER NOT NULL,
        user_id INTEGER NOT NULL,
        status_message_id INTEGER,
        params TEXT NOT NULL,
        state TEXT NOT NULL,
        upload_limit INTEGER NOT NULL,
        error_code INTEGER,
        error_message TEXT,
        reason TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        finished_at REAL,
        delivered_at REAL,
        next_poll_at REAL
    );
    CREATE UNIQUE INDEX tasks_by_provider_task ON tasks (provider, provider_task_id)
        WHERE provider_task_id IS NOT NULL;
    CREATE INDEX tasks_by_state ON tasks (state, next_poll_at);
    CREATE INDEX tasks_by_owner ON tasks (guild_id, user_id, created_at);
    CREATE TABLE tracks (
        task_id INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        audio_id TEXT NOT NULL,
        audio_url TEXT NOT NULL DEFAULT '',
        stream_url TEXT NOT NULL DEFAULT '',
        image_url TEXT NOT NULL DEFAULT '',
        title TEXT NOT NULL DEFAULT '',
        tags TEXT NOT NULL DEFAULT '',
        duration REAL,
        lyrics TEXT NOT NULL DEFAULT '',
        model_name TEXT NOT NULL DEFAULT '',
        created TEXT NOT NULL DEFAULT '',
        message_id INTEGER,
        PRIMARY KEY (task_id, audio_id)
    );
    CREATE INDEX tracks_by_audio_id ON tracks (audio_id);
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # 2: results that are not tracks (lyrics variants, stems, exports), and reuse of paid-for results.
    """
    ALTER TABLE tasks ADD COLUMN result TEXT;
    ALTER TABLE tasks ADD COLUMN reuse_key TEXT;
    ALTER TABLE tasks ADD COLUMN posted_parts INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX tasks_by_reuse_key ON tasks (reuse_key, id) WHERE reuse_key IS NOT NULL;
    CREATE INDEX tracks_by_task ON tracks (task_id, position);
    """,
    # 3: credits and moderation: a ledger per guild and member (the balance is its sum), server policy.
    """
    CREATE TABLE ledger (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        guild_id INTEGER NOT NULL,
        user_id INTEGER NOT NULL,
        kind TEXT NOT NULL,  -- allowance, grant, revoke, reserve (−cost), commit (0), refund (+cost), reset
        amount INTEGER NOT NULL,
        task_id INTEGER REFERENCES tasks (id),
        operation TEXT,
        actor_id INTEGER,
        reason TEXT NOT NULL DEFAULT '',
        period_start REAL,
        created_at REAL NOT NULL
    );
    CREATE INDEX ledger_by_member ON ledger (guild_id, user_id, id);
    CREATE INDEX ledger_by_guild_time ON ledger (guild_id, created_at);
    CREATE UNIQUE INDEX ledger_one_reserve ON ledger (task_id) WHERE kind = 'reserve';
    CREATE UNIQUE INDEX ledger_one_settlement ON ledger (task_id) WHERE kind IN ('commit', 'refund');
    CREATE UNIQUE INDEX ledger_one_refill ON ledger (guild_id, user_id, period_start) WHERE kind = 'allowance';
    CREATE TABLE guild_settings (
        guild_id INTEGER PRIMARY KEY,
        allowance INTEGER,
        period TEXT,
        member_running INTEGER,
        guild_running INTEGER,
        log_channel_id INTEGER,
        moderator_role_id INTEGER
    );
    CREATE TABLE role_allowances (
        guild_id INTEGER NOT NULL, role_id INTEGER NOT NULL, amount INTEGER NOT NULL,
        PRIMARY KEY (guild_id, role_id)
    );
    CREATE TABLE costs (
        guild_id INTEGER NOT NULL, operation TEXT NOT NULL, amount INTEGER NOT NULL,
        PRIMARY KEY (guild_id, operation)
    );
    CREATE TABLE blocks (
        guild_id INTEGER NOT NULL, user_id INTEGER NOT NULL, reason TEXT NOT NULL, actor_id INTEGER NOT NULL,
        created_at REAL NOT NULL, PRIMARY KEY (guild_id, user_id)
    );
    CREATE TABLE allowed_channels (guild_id INTEGER NOT NULL, channel_id INTEGER NOT NULL,
                                   PRIMARY KEY (guild_id, channel_id));
    CREATE TABLE blocked_words (guild_id INTEGER NOT NULL, word TEXT NOT NULL, PRIMARY KEY (guild_id, word));
    CREATE INDEX tasks_by_guild_state ON tasks (guild_id, state);
    """,
    # 4: community challenges: entries (tracks the bot made) and votes.
    """
    CREATE TABLE challenges (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        guild_id INTEGER NOT NULL,
        channel_id INTEGER NOT NULL,
        thread_id INTEGER,
        announcement_id INTEGER,
        results_message_id INTEGER,
        creator_id INTEGER NOT NULL,
        theme TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        required_style TEXT NOT NULL DEFAULT '',
        max_entries INTEGER NOT NULL,
        reward_credits INTEGER NOT NULL,
        free_entries INTEGER NOT NULL,
        anonymous INTEGER NOT NULL,
        votes_per_member INTEGER NOT NULL,
        min_membership REAL NOT NULL,
        opens_at REAL NOT NULL,
        closes_at REAL NOT NULL,
        state TEXT NOT NULL,
        ended_at REAL
    );
    CREATE INDEX challenges_by_state ON challenges (state, closes_at);
    CREATE INDEX challenges_by_guild ON challenges (guild_id, id);
    CREATE TABLE challenge_entries (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        challenge_id INTEGER NOT NULL REFERENCES challenges (id),
        number INTEGER NOT NULL,
        user_id INTEGER NOT NULL,
        task_id INTEGER NOT NULL REFERENCES tasks (id),
        audio_id TEXT NOT NULL,
        message_id INTEGER,
        submitted_at REAL NOT NULL,
        disqualified TEXT,
        UNIQUE (challenge_id, audio_id),
        UNIQUE (challenge_id, number)
    );
    CREATE TABLE challenge_votes (
        challenge_id INTEGER NOT NULL REFERENCES challenges (id),
        entry_id INTEGER NOT NULL REFERENCES challenge_entries (id),
        voter_id INTEGER NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (entry_id, voter_id)
    );
    CREATE INDEX challenge_votes_by_voter ON challenge_votes (challenge_id, voter_id);
    """,
    # 5: results that could not be posted in their channel (deleted, or the bot lost access): kept, and the
    # member told privately or at their next command.
    """
    ALTER TABLE tasks ADD COLUMN unposted TEXT;
    ALTER TABLE tasks ADD COLUMN told_at REAL;
    CREATE INDEX tasks_untold ON tasks (user_id, guild_id) WHERE unposted IS NOT NULL AND told_at IS NULL;
    """,
    # 6: the submission queue: when a task was sent (its turn), for fair order and for its timeout.
    """
    ALTER TABLE tasks ADD COLUMN submitted_at REAL;
    CREATE INDEX tasks_waiting ON tasks (state, id) WHERE state = 'waiting';
    """,
    # 7: a deny list beside the allow list (deny wins); a song's cost returned once at most for free challenge
    # entries, whatever the entries, challenges or takes.
    """
    CREATE TABLE denied_channels (guild_id INTEGER NOT NULL, channel_id INTEGER NOT NULL,
                                  PRIMARY KEY (guild_id, channel_id));
    CREATE UNIQUE INDEX ledger_one_entry_refund ON ledger (task_id) WHERE kind = 'entry_refund';
    """,
    # 8: several processes on one database: the delivery outbox (who posts a result, until when, how often it
    # failed and when to try again), per-channel posting leases, and the provider's submit rate window.
    """
    ALTER TABLE tasks ADD COLUMN delivery_owner TEXT;
    ALTER TABLE tasks ADD COLUMN delivery_lease REAL;
    ALTER TABLE tasks ADD COLUMN delivery_attempts INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE tasks ADD COLUMN delivery_next REAL;
    CREATE INDEX tasks_outbox ON tasks (id) WHERE delivered_at IS NULL AND state IN ('succeeded', 'failed');
    CREATE TABLE channel_leases (channel_id INTEGER PRIMARY KEY, owner TEXT NOT NULL, until REAL NOT NULL);
    CREATE TABLE provider_slots (id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL,
                                 answered INTEGER NOT NULL DEFAULT 0);
    CREATE INDEX provider_slots_by_time ON provider_slots (at);
    """,
    # 9: the studio: likes (one per member and track), a member's defaults, results their owner deleted, voice
    # personas made from a server's tracks, the free music video some providers make with a song, results
    # sent to the member by DM, and the channel of the public thread a request came from (who may read it).
    """
    CREATE TABLE likes (
        task_id INTEGER NOT NULL REFERENCES tasks (id),
        position INTEGER NOT NULL,
        user_id INTEGER NOT NULL,
        guild_id INTEGER NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (task_id, position, user_id)
    );
    CREATE INDEX likes_by_guild_time ON likes (guild_id, created_at);
    CREATE TABLE member_settings (
        guild_id INTEGER NOT NULL,
        user_id INTEGER NOT NULL,
        model TEXT,
        instrumental INTEGER,
        vocal_gender TEXT,
        persona INTEGER,
        private_results INTEGER,
        PRIMARY KEY (guild_id, user_id)
    );
    ALTER TABLE tasks ADD COLUMN deleted_at REAL;
    ALTER TABLE tasks ADD COLUMN private INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE tasks ADD COLUMN thread_parent_id INTEGER;
    ALTER TABLE tracks ADD COLUMN video_url TEXT NOT NULL DEFAULT '';
    CREATE TABLE personas (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        guild_id INTEGER NOT NULL,
        user_id INTEGER NOT NULL,
        provider TEXT NOT NULL,
        provider_persona_id TEXT NOT NULL,
        name TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        task_id INTEGER NOT NULL REFERENCES tasks (id),
        audio_id TEXT NOT NULL,
        model TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        deleted_at REAL,
        UNIQUE (provider, audio_id)
    );
    CREATE INDEX personas_by_guild ON personas (guild_id, deleted_at);
    """,
)
