-- Step 5: admin locks. A locked user cannot sign in (FORBIDDEN) until an
-- admin unlocks them; locking also revokes every session.
CREATE TABLE user_locks (
    user_id    TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    -- The admin who locked (NULL once that admin is gone, or from the CLI).
    locked_by  TEXT REFERENCES users (id) ON DELETE SET NULL,
    reason     TEXT CHECK (reason IS NULL OR length(reason) <= 500),
    created_at TEXT NOT NULL
) STRICT;
