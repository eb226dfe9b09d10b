-- Step 11: an AI mission grant is a vault action, audited as `mission_grant`.
-- SQLite cannot change a CHECK constraint in place, so the audit table is
-- rebuilt with all its rows.

CREATE TABLE vault_audit_new (
    id         INTEGER PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    action     TEXT NOT NULL CHECK (action IN (
                   'status', 'init', 'key', 'rotate', 'recovery_set', 'recovery_clear', 'zk_on', 'zk_off',
                   'mission_grant'
               )),
    status     TEXT NOT NULL CHECK (status IN ('success', 'failure')),
    reason     TEXT,
    ip         TEXT,
    user_agent TEXT,
    created_at TEXT NOT NULL
) STRICT;
INSERT INTO vault_audit_new (id, user_id, action, status, reason, ip, user_agent, created_at)
    SELECT id, user_id, action, status, reason, ip, user_agent, created_at FROM vault_audit;
DROP TABLE vault_audit;
ALTER TABLE vault_audit_new RENAME TO vault_audit;
CREATE INDEX vault_audit_user ON vault_audit (user_id, created_at);
