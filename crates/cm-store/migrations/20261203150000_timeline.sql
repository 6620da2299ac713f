-- A readable history per project: why each injected memory passed the hook's
-- gate, and the last call of each hook (doctor's "last hook seen").

-- Cosine similarity to the query when known, and why the memory was let
-- through: 'similar' (similarity at or above the threshold), 'shared_words'
-- (enough of the query's meaningful words), 'briefing' (SessionStart).
ALTER TABLE injections ADD COLUMN similarity REAL;
ALTER TABLE injections ADD COLUMN reason TEXT;

-- One row per hook event: when it last ran and what came of it.
CREATE TABLE hook_calls (
    event       TEXT    PRIMARY KEY,
    session_id  TEXT,
    outcome     TEXT    NOT NULL,
    injected    INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
);
