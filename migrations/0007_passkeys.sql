-- Step 7: passkeys (WebAuthn credentials).

CREATE TABLE passkeys (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- base64url of the credential id, as browsers send it.
    credential_id TEXT NOT NULL UNIQUE,
    -- The webauthn-rs Passkey (public key, counter, flags) as JSON.
    credential    TEXT NOT NULL CHECK (json_valid(credential)),
    counter       INTEGER NOT NULL DEFAULT 0,
    backup_eligible INTEGER NOT NULL DEFAULT 0 CHECK (backup_eligible IN (0, 1)),
    backup_state  INTEGER NOT NULL DEFAULT 0 CHECK (backup_state IN (0, 1)),
    transports    TEXT CHECK (transports IS NULL OR json_valid(transports)),
    aaguid        TEXT,
    name          TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    last_used_at  TEXT
) STRICT;
CREATE INDEX passkeys_user ON passkeys (user_id);
