-- The team database: memories a project's teammates share.
-- Run by the database's admin (`claude-memory team migrate`), never at run
-- time by the engine. Every row belongs to a team, which is the PostgreSQL
-- role that wrote it; row-level security lets a role see only its own rows,
-- the tables' owner included (FORCE), superusers and BYPASSRLS roles aside.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'claude_memory_teams') THEN
        CREATE ROLE claude_memory_teams NOLOGIN;
    END IF;
END
$$;

-- A team's project: teammates' clones meet on the same key (a normalised
-- git origin URL, or a name given at link time).
CREATE TABLE cm_team_projects (
    id         BIGSERIAL PRIMARY KEY,
    team       TEXT NOT NULL DEFAULT current_user,
    key        TEXT NOT NULL CHECK (length(key) BETWEEN 1 AND 500),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (team, key)
);

-- Every change to a memory takes the next number; a pull asks for the
-- changes after the last number it saw. Writers take a per-team advisory
-- lock before numbering, so numbers are committed in order.
CREATE SEQUENCE cm_team_change_seq;

CREATE TABLE cm_team_memories (
    gid          TEXT PRIMARY KEY CHECK (length(gid) BETWEEN 16 AND 64),
    project_id   BIGINT NOT NULL REFERENCES cm_team_projects (id) ON DELETE CASCADE,
    team         TEXT NOT NULL DEFAULT current_user,
    content      TEXT NOT NULL CHECK (length(content) > 0),
    structured   TEXT,
    summary      TEXT,
    memory_type  TEXT NOT NULL,
    domain       TEXT NOT NULL,
    tags         JSONB NOT NULL DEFAULT '[]',
    keywords     JSONB NOT NULL DEFAULT '[]',
    confidence   DOUBLE PRECISION NOT NULL CHECK (confidence BETWEEN 0 AND 1),
    content_hash TEXT NOT NULL,
    -- Who wrote this version, and from which machine.
    author       TEXT NOT NULL,
    origin       TEXT NOT NULL,
    -- Unix milliseconds as the author's machine saw them; the later
    -- `updated_at` wins an edit.
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    archived     BOOLEAN NOT NULL DEFAULT false,
    -- A tombstone: the memory was deleted; its text is gone.
    deleted      BOOLEAN NOT NULL DEFAULT false,
    change_seq   BIGINT NOT NULL,
    -- The model of `embedding` (a column added where pgvector is installed).
    embedding_model TEXT,
    published_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX cm_team_memories_changes ON cm_team_memories (project_id, change_seq);
CREATE INDEX cm_team_memories_hash ON cm_team_memories (project_id, content_hash);

-- Versions an edit replaced (or that lost to a later edit).
CREATE TABLE cm_team_history (
    id          BIGSERIAL PRIMARY KEY,
    gid         TEXT NOT NULL,
    team        TEXT NOT NULL DEFAULT current_user,
    content     TEXT NOT NULL,
    summary     TEXT,
    memory_type TEXT NOT NULL,
    domain      TEXT NOT NULL,
    author      TEXT NOT NULL,
    origin      TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    archived    BOOLEAN NOT NULL,
    deleted     BOOLEAN NOT NULL,
    replaced_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX cm_team_history_gid ON cm_team_history (gid);

-- Validation counts per author: each author sets their own count, the team's
-- is the sum, so two people's feedback adds up instead of overwriting.
CREATE TABLE cm_team_feedback (
    gid         TEXT NOT NULL REFERENCES cm_team_memories (gid) ON DELETE CASCADE,
    author      TEXT NOT NULL,
    team        TEXT NOT NULL DEFAULT current_user,
    validations BIGINT NOT NULL CHECK (validations >= 0),
    PRIMARY KEY (gid, author)
);

DO $$
DECLARE
    t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['cm_team_projects', 'cm_team_memories', 'cm_team_history', 'cm_team_feedback'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY own_team ON %I USING (team = current_user) WITH CHECK (team = current_user)', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE ON %I TO claude_memory_teams', t);
    END LOOP;
END
$$;
-- A memory may only be written into one of the writer's own projects (the
-- foreign key alone would accept another team's project id: referential
-- checks ignore row-level security).
DROP POLICY own_team ON cm_team_memories;
CREATE POLICY own_team ON cm_team_memories USING (team = current_user)
    WITH CHECK (team = current_user AND EXISTS (SELECT FROM cm_team_projects p WHERE p.id = project_id));
GRANT USAGE ON SEQUENCE cm_team_change_seq, cm_team_projects_id_seq, cm_team_history_id_seq TO claude_memory_teams;
GRANT SELECT ON _sqlx_migrations TO claude_memory_teams;

-- Vector search where the server has pgvector (all-MiniLM-L6-v2's 384
-- dimensions: memories embedded by another model are searched by text).
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_available_extensions WHERE name = 'vector') THEN
        CREATE EXTENSION IF NOT EXISTS vector;
        ALTER TABLE cm_team_memories ADD COLUMN embedding vector(384);
        CREATE INDEX cm_team_memories_embedding ON cm_team_memories
            USING hnsw (embedding vector_cosine_ops);
    END IF;
END
$$;
