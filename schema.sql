-- mana-auth: the whole current schema. Single source of truth, embedded in the
-- binary and applied to a new database file. Older files are upgraded in place
-- by the ordered steps in migrations/ (see src/db/migrate.rs); a test checks
-- that both roads lead to the same schema.
--
-- Conventions: STRICT tables; ids are UUID strings; timestamps are UTC
-- ISO-8601 strings with milliseconds ("2026-11-25T10:00:00.000Z"), so string
-- order is time order; booleans are INTEGER 0/1 with a CHECK.

CREATE TABLE users (
    id                      TEXT PRIMARY KEY,
    name                    TEXT NOT NULL DEFAULT '',
    email                   TEXT NOT NULL COLLATE NOCASE UNIQUE,
    email_verified          INTEGER NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1)),
    image                   TEXT,
    role                    TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin', 'service')),
    access_tier             TEXT NOT NULL DEFAULT 'public'
                            CHECK (access_tier IN ('guest', 'public', 'beta', 'alpha', 'founder')),
    kind                    TEXT NOT NULL DEFAULT 'human' CHECK (kind IN ('human', 'persona', 'system')),
    two_factor_enabled      INTEGER NOT NULL DEFAULT 0 CHECK (two_factor_enabled IN (0, 1)),
    created_at              TEXT NOT NULL,
    updated_at              TEXT NOT NULL,
    deleted_at              TEXT,
    onboarding_completed_at TEXT
) STRICT;
CREATE INDEX users_created_at ON users (created_at);

CREATE TABLE password_credentials (
    user_id       TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    password_hash TEXT NOT NULL,
    updated_at    TEXT NOT NULL
) STRICT;

-- The session token is the refresh token; only its SHA-256 is stored.
CREATE TABLE sessions (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash    TEXT NOT NULL UNIQUE,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    ip            TEXT,
    user_agent    TEXT
) STRICT;
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- Ed25519 signing keys. The newest key without retired_at signs; retired keys
-- stay published in the JWKS until every token they signed has expired.
CREATE TABLE jwt_keys (
    kid         TEXT PRIMARY KEY,
    private_der BLOB NOT NULL,
    public_key  BLOB NOT NULL CHECK (length(public_key) = 32),
    created_at  TEXT NOT NULL,
    retired_at  TEXT
) STRICT;

CREATE TABLE security_events (
    id         TEXT PRIMARY KEY,
    user_id    TEXT REFERENCES users (id) ON DELETE CASCADE,
    event_type TEXT NOT NULL,
    ip         TEXT,
    user_agent TEXT,
    metadata   TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
    created_at TEXT NOT NULL
) STRICT;
CREATE INDEX security_events_user ON security_events (user_id, created_at);
CREATE INDEX security_events_type ON security_events (event_type, created_at);

-- Failed password attempts per email (credential failures only).
CREATE TABLE login_failures (
    id         INTEGER PRIMARY KEY,
    email      TEXT NOT NULL COLLATE NOCASE,
    ip         TEXT,
    created_at TEXT NOT NULL
) STRICT;
CREATE INDEX login_failures_email ON login_failures (email, created_at);

CREATE TABLE login_lockouts (
    email        TEXT PRIMARY KEY COLLATE NOCASE,
    locked_until TEXT NOT NULL
) STRICT;
