-- Step 15: refresh tokens rotate. A session's tokens move to session_tokens
-- (kind 'cookie': the session cookie, which never rotates; 'refresh': an
-- /api/v1 refresh token, replaced at each refresh), and sessions loses its
-- token_hash column (rebuilt: a UNIQUE column cannot be dropped). Tokens
-- issued before this step may be in cookies, so they become 'cookie' tokens.

CREATE TABLE moved_session_tokens (
    token_hash TEXT NOT NULL,
    session_id TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;
INSERT INTO moved_session_tokens (token_hash, session_id, created_at)
    SELECT token_hash, id, created_at FROM sessions;

DROP TRIGGER space_members_clear_active;

CREATE TABLE sessions_rebuilt (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    ip            TEXT,
    user_agent    TEXT,
    -- The session's active space (Better Auth's activeOrganizationId).
    active_space_id TEXT REFERENCES spaces (id) ON DELETE SET NULL
) STRICT;
INSERT INTO sessions_rebuilt (id, user_id, created_at, updated_at, expires_at, ip, user_agent, active_space_id)
    SELECT id, user_id, created_at, updated_at, expires_at, ip, user_agent, active_space_id FROM sessions;
DROP TABLE sessions;
ALTER TABLE sessions_rebuilt RENAME TO sessions;
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TRIGGER space_members_clear_active AFTER DELETE ON space_members
BEGIN
    UPDATE sessions SET active_space_id = NULL
     WHERE user_id = OLD.user_id AND active_space_id = OLD.space_id;
END;

CREATE TABLE session_tokens (
    token_hash    TEXT PRIMARY KEY,
    session_id    TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    kind          TEXT NOT NULL CHECK (kind IN ('cookie', 'refresh')),
    created_at    TEXT NOT NULL,
    superseded_at TEXT
) STRICT;
CREATE INDEX session_tokens_session ON session_tokens (session_id);
INSERT INTO session_tokens (token_hash, session_id, kind, created_at)
    SELECT token_hash, session_id, 'cookie', created_at FROM moved_session_tokens;
DROP TABLE moved_session_tokens;
