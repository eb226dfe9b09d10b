-- Step 18: the retention job deletes security events and vault audit rows
-- by age and verification links by expiry; these indexes keep each batch
-- from scanning the table.

CREATE INDEX security_events_created ON security_events (created_at);
CREATE INDEX vault_audit_created ON vault_audit (created_at);
CREATE INDEX verification_tokens_expires ON verification_tokens (expires_at);
