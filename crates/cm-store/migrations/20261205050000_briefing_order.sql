-- A session's briefing takes the most confident live memories of a few
-- types: walking this index from its end finds them after reading about as
-- many rows as it keeps, where sorting every live memory took 135 ms at
-- 100k memories (and would take the SessionStart hook's whole budget at 1M).
CREATE INDEX memories_briefing ON memories (archived, confidence, updated_at);
