-- Tokens the LLM used for this project, per UTC day and purpose
-- (structure, extract, merge), for the dashboard's statistics.
CREATE TABLE llm_usage (
    day               TEXT    NOT NULL CHECK (length(day) = 10),
    purpose           TEXT    NOT NULL CHECK (purpose IN ('structure', 'extract', 'merge')),
    requests          INTEGER NOT NULL DEFAULT 0 CHECK (requests >= 0),
    failures          INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),
    prompt_tokens     INTEGER NOT NULL DEFAULT 0 CHECK (prompt_tokens >= 0),
    completion_tokens INTEGER NOT NULL DEFAULT 0 CHECK (completion_tokens >= 0),
    PRIMARY KEY (day, purpose)
) WITHOUT ROWID;
