-- A memory overtaken by a newer one on the same subject ("we use MySQL",
-- then "we moved to Postgres"): kept and listed, but no longer injected by
-- hooks. NULL: live. Clearing it undoes the supersede; deleting the newer
-- memory makes the older one live again.
ALTER TABLE memories ADD COLUMN superseded_by INTEGER REFERENCES memories (id) ON DELETE SET NULL;

CREATE INDEX memories_superseded_by ON memories (superseded_by) WHERE superseded_by IS NOT NULL;
