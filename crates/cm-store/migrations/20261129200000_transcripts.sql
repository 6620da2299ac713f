-- How far each Claude Code session's transcript has been mined, so that
-- nothing is analysed twice, across restarts. The position only moves in the
-- transaction that saves the memories drawn from the lines before it.
CREATE TABLE transcript_progress (
    session_id      TEXT    PRIMARY KEY CHECK (length(session_id) > 0),
    transcript_path TEXT    NOT NULL,
    -- Complete lines read (the next line to read is lines_done + 1).
    lines_done      INTEGER NOT NULL DEFAULT 0 CHECK (lines_done >= 0),
    -- Bytes read: the offset of the first line not yet read.
    bytes_done      INTEGER NOT NULL DEFAULT 0 CHECK (bytes_done >= 0),
    updated_at      INTEGER NOT NULL
);
