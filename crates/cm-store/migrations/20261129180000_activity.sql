-- What the Claude Code hooks did: memories injected into conversations, and
-- the persistent queue of transcript work they hand to background jobs.

-- One row per memory injected into a conversation. Lets a session never see
-- the same memory twice, and the dashboard show which memories are used.
CREATE TABLE injections (
    id          INTEGER PRIMARY KEY,
    session_id  TEXT    NOT NULL CHECK (length(session_id) > 0),
    event       TEXT    NOT NULL,
    memory_id   INTEGER NOT NULL REFERENCES memories (id) ON DELETE CASCADE,
    score       REAL,
    created_at  INTEGER NOT NULL
);

CREATE INDEX injections_session ON injections (session_id, memory_id);
CREATE INDEX injections_memory ON injections (memory_id);
CREATE INDEX injections_created ON injections (created_at);

-- When a session's conversation was compacted: what was injected before is
-- gone from Claude's context, so it may be injected again.
CREATE TABLE compactions (
    session_id  TEXT    NOT NULL CHECK (length(session_id) > 0),
    created_at  INTEGER NOT NULL
);

CREATE INDEX compactions_session ON compactions (session_id, created_at);

-- Work queued by hooks (PreCompact, PostCompact, SessionEnd, Stop) and done
-- later by the engine: mining a transcript, reading a compact summary.
CREATE TABLE jobs (
    id              INTEGER PRIMARY KEY,
    kind            TEXT    NOT NULL CHECK (kind IN ('transcript', 'compact_summary')),
    session_id      TEXT    NOT NULL CHECK (length(session_id) > 0),
    transcript_path TEXT,
    trigger         TEXT    NOT NULL,
    payload         TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(payload)),
    state           TEXT    NOT NULL DEFAULT 'queued'
                    CHECK (state IN ('queued', 'running', 'done', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    run_after       INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

CREATE INDEX jobs_ready ON jobs (state, run_after);
-- A session has at most one queued transcript job: Stop fires after every
-- turn, and each one only moves the job's trigger and time forward.
CREATE UNIQUE INDEX jobs_one_queued_transcript ON jobs (session_id)
    WHERE state = 'queued' AND kind = 'transcript';
