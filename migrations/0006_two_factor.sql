-- Step 6: two-factor authentication: TOTP (RFC 6238) with backup codes, and
-- the short-lived tickets that carry a password sign-in to its second step.
-- (Step 5 belongs to another branch; gaps in the numbering are fine.)

-- One TOTP secret per user: 20 random bytes. Pending while confirmed_at is
-- NULL (users.two_factor_enabled stays 0 until a first valid code).
-- last_step is the newest accepted 30-second time step: any code for a step
-- at or before it is refused, so a used code cannot be replayed.
CREATE TABLE two_factor_secrets (
    user_id      TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret       BLOB NOT NULL CHECK (length(secret) = 20),
    last_step    INTEGER,
    created_at   TEXT NOT NULL,
    confirmed_at TEXT
) STRICT;

-- Single-use backup codes: only a salted SHA-256 of each 80-bit code is kept.
CREATE TABLE two_factor_backup_codes (
    id         INTEGER PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  TEXT NOT NULL UNIQUE CHECK (length(code_hash) = 64),
    created_at TEXT NOT NULL,
    used_at    TEXT
) STRICT;
CREATE INDEX two_factor_backup_codes_user ON two_factor_backup_codes (user_id);

-- Two-factor tickets: handed out by /login when the password was right and
-- 2FA is on; 5 minutes, single use, only the SHA-256 is stored.
CREATE TABLE two_factor_tickets (
    ticket_hash TEXT PRIMARY KEY CHECK (length(ticket_hash) = 64),
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
) STRICT;
CREATE INDEX two_factor_tickets_user ON two_factor_tickets (user_id);
