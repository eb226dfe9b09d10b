-- Step 3: single-use tokens sent by mail, and the durable mail queue.

-- Email verification, password reset, magic link and email change tokens.
-- Only the SHA-256 of a token is stored; `used_at` makes it single use.
CREATE TABLE verification_tokens (
    id           TEXT PRIMARY KEY,
    purpose      TEXT NOT NULL
                 CHECK (purpose IN ('email_verify', 'password_reset', 'magic_link', 'email_change')),
    token_hash   TEXT NOT NULL UNIQUE,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The address the token was sent to (the new address for email_change).
    email        TEXT NOT NULL COLLATE NOCASE,
    callback_url TEXT,
    expires_at   TEXT NOT NULL,
    used_at      TEXT,
    created_at   TEXT NOT NULL
) STRICT;
CREATE INDEX verification_tokens_user ON verification_tokens (user_id, purpose);

-- Mail waiting to be sent (or, without SMTP, the outbox developers read).
-- A row is committed in the same transaction as the change that caused it;
-- the worker sends it afterwards and retries with backoff.
CREATE TABLE mail_outbox (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    user_id         TEXT REFERENCES users (id) ON DELETE SET NULL,
    to_address      TEXT NOT NULL,
    subject         TEXT NOT NULL,
    text_body       TEXT NOT NULL,
    html_body       TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sent', 'logged', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    next_attempt_at TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    sent_at         TEXT
) STRICT;
CREATE INDEX mail_outbox_due ON mail_outbox (status, next_attempt_at);
CREATE INDEX mail_outbox_created ON mail_outbox (created_at);
