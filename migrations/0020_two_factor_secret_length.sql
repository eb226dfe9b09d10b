-- Step 20: TOTP secrets brought over by `mana-auth import` are Better Auth's:
-- a 32-character string whose UTF-8 bytes are the key (32 bytes), where this
-- server makes 20 random bytes. A clear secret may now be 16..64 bytes
-- (RFC 4226 asks for at least 128 bits), a sealed one 28 bytes more (12-byte
-- IV and 16-byte tag). SQLite cannot change a CHECK in place: the table is
-- rebuilt with its rows (the writer runs with secure_delete).

CREATE TABLE two_factor_secrets_new (
    user_id      TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret       BLOB NOT NULL,
    last_step    INTEGER,
    created_at   TEXT NOT NULL,
    confirmed_at TEXT,
    kek_id       TEXT,
    CHECK ((kek_id IS NULL AND length(secret) BETWEEN 16 AND 64)
        OR (kek_id IS NOT NULL AND length(secret) BETWEEN 44 AND 92))
) STRICT;
INSERT INTO two_factor_secrets_new (user_id, secret, last_step, created_at, confirmed_at, kek_id)
    SELECT user_id, secret, last_step, created_at, confirmed_at, kek_id FROM two_factor_secrets;
DROP TABLE two_factor_secrets;
ALTER TABLE two_factor_secrets_new RENAME TO two_factor_secrets;
