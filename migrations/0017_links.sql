-- Step 17: links and mail limits.
-- A verification, email-change or reset token remembers the password
-- credential it was issued for (a SHA-256 of the stored hash, or 'none');
-- a later password change, reset or re-registration voids it. NULL: not
-- bound (magic links, tokens from before this step).
ALTER TABLE verification_tokens ADD COLUMN credential TEXT;

-- Mail sent per address (its SHA-256, not the address), for the hourly cap;
-- rows older than an hour are pruned as new ones come. Kept apart from the
-- outbox so that deleting mail or an account does not reset the count.
CREATE TABLE mail_quota (
    id           INTEGER PRIMARY KEY,
    address_hash TEXT NOT NULL CHECK (length(address_hash) = 64),
    created_at   TEXT NOT NULL
) STRICT;
CREATE INDEX mail_quota_address ON mail_quota (address_hash, created_at);
