-- Step 10: when the recovery wrap was set (the upstream's `recoverySetAt`,
-- which the web vault client shows). Set with the wrap, cleared with it; a
-- vault that already has a wrap gets its last change time.

ALTER TABLE encryption_vaults ADD COLUMN recovery_set_at TEXT;

UPDATE encryption_vaults SET recovery_set_at = updated_at WHERE recovery_wrapped_mk IS NOT NULL;
