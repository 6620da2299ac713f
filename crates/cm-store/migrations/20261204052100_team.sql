-- Team memory, the local half (issue 18). The team database is PostgreSQL;
-- this file stays the working copy: pulled memories are ordinary rows
-- (indexed, searched and injected like the rest), labelled by their author.

-- The stable global id, given when a memory is first shared or pulled.
ALTER TABLE memories ADD COLUMN gid TEXT;
-- 1: this person shares it with the team (marked, or by the project's rule).
ALTER TABLE memories ADD COLUMN shared INTEGER NOT NULL DEFAULT 0 CHECK (shared IN (0, 1));
-- Set on a memory pulled from a teammate: who wrote it.
ALTER TABLE memories ADD COLUMN team_author TEXT;
-- Validations by the rest of the team (each teammate's own count, summed).
ALTER TABLE memories ADD COLUMN team_evidence INTEGER NOT NULL DEFAULT 0;
-- `updated_at` of the version last exchanged with the team.
ALTER TABLE memories ADD COLUMN team_synced_at INTEGER;
CREATE UNIQUE INDEX memories_gid ON memories (gid) WHERE gid IS NOT NULL;

-- The project's team: at most one. No password here: it is in the keychain.
CREATE TABLE team_link (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    url          TEXT    NOT NULL,
    team_key     TEXT    NOT NULL,
    author       TEXT    NOT NULL,
    origin       TEXT    NOT NULL,
    -- The sharing rule: memory types shared without being marked (JSON
    -- array), from this confidence up; an empty array shares only the marked.
    share_types  TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(share_types)),
    share_min_confidence REAL NOT NULL DEFAULT 0.8,
    -- The team database's change number this project has pulled up to.
    pull_cursor  INTEGER NOT NULL DEFAULT 0,
    last_sync_at INTEGER,
    last_error   TEXT,
    linked_at    INTEGER NOT NULL
);

-- Memories whose current state the team has not seen yet. Filled by the
-- triggers below, so every write path (edit, archive, validate, merge,
-- delete) queues its change; emptied by a successful publish.
CREATE TABLE team_outbox (
    gid       TEXT    PRIMARY KEY,
    queued_at INTEGER NOT NULL,
    attempts  INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);

CREATE TRIGGER team_outbox_update
AFTER UPDATE OF content, structured, summary, memory_type, domain, tags, keywords, confidence,
    evidence_count, archived, shared, gid ON memories
WHEN new.gid IS NOT NULL AND (new.shared = 1 OR old.shared = 1 OR new.team_author IS NOT NULL)
BEGIN
    INSERT INTO team_outbox (gid, queued_at) VALUES (new.gid, CAST(unixepoch('subsec') * 1000 AS INTEGER))
    ON CONFLICT (gid) DO UPDATE SET queued_at = excluded.queued_at, attempts = 0;
END;

CREATE TRIGGER team_outbox_delete AFTER DELETE ON memories
WHEN old.gid IS NOT NULL AND (old.shared = 1 OR old.team_author IS NOT NULL)
BEGIN
    INSERT INTO team_outbox (gid, queued_at) VALUES (old.gid, CAST(unixepoch('subsec') * 1000 AS INTEGER))
    ON CONFLICT (gid) DO UPDATE SET queued_at = excluded.queued_at, attempts = 0;
END;
