-- Step 12: the signing keys and TOTP secrets are stored sealed under
-- MANA_AUTH_KEK when one is set (vault::at_rest): kek_id is the KEK's
-- fingerprint, NULL for a value in clear. Existing rows stay clear here;
-- the first start with a KEK seals them. The TOTP table is rebuilt to let
-- its length check allow the sealed form (12-byte IV + 20 + 16-byte tag);
-- the writer runs with secure_delete, so the old table's pages are zeroed.

ALTER TABLE jwt_keys ADD COLUMN kek_id TEXT;

CREATE TABLE two_factor_secrets_new (
    user_id      TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret       BLOB NOT NULL,
    last_step    INTEGER,
    created_at   TEXT NOT NULL,
    confirmed_at TEXT,
    kek_id       TEXT,
    CHECK ((kek_id IS NULL AND length(secret) = 20) OR (kek_id IS NOT NULL AND length(secret) = 48))
) STRICT;
INSERT INTO two_factor_secrets_new (user_id, secret, last_step, created_at, confirmed_at)
    SELECT user_id, secret, last_step, created_at, confirmed_at FROM two_factor_secrets;
DROP TABLE two_factor_secrets;
ALTER TABLE two_factor_secrets_new RENAME TO two_factor_secrets;
