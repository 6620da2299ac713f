-- A memory that names a file of the project which was deleted or renamed
-- since: flagged stale with the path that went away and why ("deleted",
-- "renamed to src/x.rs", "missing at session start"). A stale memory ranks
-- lower until a person confirms it or the file comes back. NULL: fresh.
ALTER TABLE memories ADD COLUMN stale_path TEXT;
ALTER TABLE memories ADD COLUMN stale_reason TEXT;
ALTER TABLE memories ADD COLUMN stale_at INTEGER;
-- Paths a person confirmed do not make this memory stale (a JSON array), so
-- the next check does not flag it again for the same missing file.
ALTER TABLE memories ADD COLUMN stale_confirmed TEXT NOT NULL DEFAULT '[]';

CREATE INDEX memories_stale ON memories (stale_at) WHERE stale_at IS NOT NULL;

-- What the engine inferred about a memory without being told: its advice
-- was followed ('followed'), it was injected again and again and never used
-- ('ignored'), it warned of a failure that then happened ('warned'), or a
-- file it names went away or came back ('stale', 'fresh'). Each row says
-- why; confidence inferences are at most one per memory, session and kind,
-- which bounds what one session can do to a memory.
CREATE TABLE inferences (
    id          INTEGER PRIMARY KEY,
    memory_id   INTEGER NOT NULL REFERENCES memories (id) ON DELETE CASCADE,
    session_id  TEXT,
    kind        TEXT    NOT NULL,
    delta       REAL,
    confidence  REAL,
    reason      TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE UNIQUE INDEX inferences_once ON inferences (memory_id, session_id, kind)
    WHERE kind IN ('followed', 'ignored', 'warned');
CREATE INDEX inferences_memory ON inferences (memory_id, created_at);
CREATE INDEX inferences_created ON inferences (created_at);
