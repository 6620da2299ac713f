-- Turns carried from one read of a transcript to the next: failed tool
-- calls whose fix had not been written yet when the read ended (JSON,
-- written with the position it belongs to), so an error in one read and
-- its fix in the next still make a bug memory.
ALTER TABLE transcript_progress ADD COLUMN pending TEXT;
