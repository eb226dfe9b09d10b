-- Step 8: the active space of a session (Better Auth's activeOrganizationId).
-- Set to the personal space when a session opens; switched per session; a
-- deleted space or a removed membership clears it.

ALTER TABLE sessions ADD COLUMN active_space_id TEXT REFERENCES spaces (id) ON DELETE SET NULL;

CREATE TRIGGER space_members_clear_active AFTER DELETE ON space_members
BEGIN
    UPDATE sessions SET active_space_id = NULL
     WHERE user_id = OLD.user_id AND active_space_id = OLD.space_id;
END;
