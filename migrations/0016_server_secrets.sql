-- Step 16: named random server secrets (the key of the passkey decoy
-- lists), made on first use; sealed under MANA_AUTH_KEK like the signing
-- keys when kek_id is set (vault::at_rest).

CREATE TABLE server_secrets (
    name       TEXT PRIMARY KEY,
    value      BLOB NOT NULL,
    kek_id     TEXT,
    created_at TEXT NOT NULL
) STRICT;
