-- Initial schema of a project's memory database.
-- Never edit this file once landed: add a new timestamped migration instead.

CREATE TABLE clusters (
    id              INTEGER PRIMARY KEY,
    theme           TEXT    NOT NULL DEFAULT '',
    domain          TEXT    NOT NULL,
    -- Mean of the members' vectors (little-endian f32), in `embedding_model`'s space.
    centroid        BLOB,
    embedding_model TEXT,
    member_count    INTEGER NOT NULL DEFAULT 0 CHECK (member_count >= 0),
    avg_confidence  REAL    NOT NULL DEFAULT 0,
    status          TEXT    NOT NULL DEFAULT 'growing'
                    CHECK (status IN ('growing', 'mature', 'merged')),
    merged_memory_id INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

CREATE TABLE memories (
    id               INTEGER PRIMARY KEY,
    content          TEXT    NOT NULL CHECK (length(content) > 0),
    structured       TEXT,
    summary          TEXT,
    memory_type      TEXT    NOT NULL
                     CHECK (memory_type IN ('fact', 'decision', 'bug', 'pattern', 'context', 'preference', 'skill')),
    domain           TEXT    NOT NULL CHECK (length(domain) > 0),
    tags             TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(tags)),
    keywords         TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(keywords)),
    confidence       REAL    NOT NULL CHECK (confidence BETWEEN 0 AND 1),
    evidence_count   INTEGER NOT NULL DEFAULT 0,
    access_count     INTEGER NOT NULL DEFAULT 0,
    last_accessed_at INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    source           TEXT    NOT NULL
                     CHECK (source IN ('mcp', 'cli', 'hook', 'transcript', 'import', 'merge')),
    session_id       TEXT,
    transcript_start INTEGER,
    transcript_end   INTEGER,
    content_hash     TEXT    NOT NULL,
    embedding_model  TEXT,
    archived         INTEGER NOT NULL DEFAULT 0 CHECK (archived IN (0, 1)),
    merged_into      INTEGER REFERENCES memories (id) ON DELETE SET NULL,
    cluster_id       INTEGER REFERENCES clusters (id) ON DELETE SET NULL
);

CREATE INDEX memories_filter ON memories (archived, memory_type, domain);
CREATE INDEX memories_hash ON memories (content_hash);
CREATE INDEX memories_created ON memories (created_at);
CREATE INDEX memories_cluster ON memories (cluster_id) WHERE cluster_id IS NOT NULL;
CREATE INDEX memories_merged_into ON memories (merged_into) WHERE merged_into IS NOT NULL;

-- Full-text index over every searchable text column. External content keeps
-- one copy of the text; the triggers below keep it in sync inside the same
-- transaction as the row change.
CREATE VIRTUAL TABLE memories_fts USING fts5 (
    content, structured, summary, tags, keywords,
    content = 'memories',
    content_rowid = 'id',
    tokenize = 'porter unicode61 remove_diacritics 2'
);

CREATE TRIGGER memories_fts_insert AFTER INSERT ON memories BEGIN
    INSERT INTO memories_fts (rowid, content, structured, summary, tags, keywords)
    VALUES (new.id, new.content, new.structured, new.summary, new.tags, new.keywords);
END;

CREATE TRIGGER memories_fts_delete AFTER DELETE ON memories BEGIN
    INSERT INTO memories_fts (memories_fts, rowid, content, structured, summary, tags, keywords)
    VALUES ('delete', old.id, old.content, old.structured, old.summary, old.tags, old.keywords);
END;

CREATE TRIGGER memories_fts_update
AFTER UPDATE OF content, structured, summary, tags, keywords ON memories BEGIN
    INSERT INTO memories_fts (memories_fts, rowid, content, structured, summary, tags, keywords)
    VALUES ('delete', old.id, old.content, old.structured, old.summary, old.tags, old.keywords);
    INSERT INTO memories_fts (rowid, content, structured, summary, tags, keywords)
    VALUES (new.id, new.content, new.structured, new.summary, new.tags, new.keywords);
END;

-- One vec0 table per embedding model ("space"), created at run time because
-- its dimension comes from the model. A model of another size gets its own
-- table and never corrupts an existing one.
CREATE TABLE embedding_spaces (
    id          INTEGER PRIMARY KEY,
    model_id    TEXT    NOT NULL UNIQUE,
    dimension   INTEGER NOT NULL CHECK (dimension > 0 AND dimension <= 8192),
    table_name  TEXT    NOT NULL UNIQUE,
    -- Rows in the space's table, kept in the same transaction as each insert
    -- or delete so search can pick exact or quantised scanning without counting.
    vector_count INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
);
