-- A log of every change to what a vector search sees, so each process's
-- in-memory vector index (`index.rs`) can follow writes made by any process.
-- Never edit this file once landed: add a new timestamped migration instead.
--
-- `seq` is the database's vector generation: AUTOINCREMENT never reuses a
-- value and a rolled-back insert gives its value back, so committed rows are
-- numbered without gaps, and an index that finds a gap after its own position
-- knows the log was pruned past it and reloads.
CREATE TABLE vector_changes (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    memory_id INTEGER NOT NULL
);

-- Vectors are logged by the store when written or deleted; the filterable
-- columns and deletions of memories are logged here, whichever path made them.
CREATE TRIGGER vector_changes_metadata
AFTER UPDATE OF archived, memory_type, domain, confidence, superseded_by ON memories
WHEN old.archived IS NOT new.archived
  OR old.memory_type IS NOT new.memory_type
  OR old.domain IS NOT new.domain
  OR old.confidence IS NOT new.confidence
  OR old.superseded_by IS NOT new.superseded_by
BEGIN
    INSERT INTO vector_changes (memory_id) VALUES (new.id);
END;

CREATE TRIGGER vector_changes_delete AFTER DELETE ON memories BEGIN
    INSERT INTO vector_changes (memory_id) VALUES (old.id);
END;

-- The log keeps the last 65,536 changes; an index further behind reloads.
CREATE TRIGGER vector_changes_prune AFTER INSERT ON vector_changes
WHEN new.seq % 4096 = 0
BEGIN
    DELETE FROM vector_changes WHERE seq <= new.seq - 65536;
END;
