-- Sessions Claude Code forked from another (SessionStart with source
-- "fork"): a fork starts with its parent's conversation, so it inherits what
-- was injected into the parent up to the moment it was forked. Claude Code's
-- payload does not name the parent; the fork's transcript does once it is
-- written, so `parent_id` stays NULL until then.
CREATE TABLE session_forks (
    session_id  TEXT    PRIMARY KEY CHECK (length(session_id) > 0),
    parent_id   TEXT    CHECK (parent_id IS NULL OR (length(parent_id) > 0 AND parent_id != session_id)),
    created_at  INTEGER NOT NULL
);
