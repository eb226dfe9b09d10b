-- Step 19: the password lockout locks an (address, client network) pair
-- instead of the address, so a stranger cannot lock the owner out; the
-- address as a whole gets a short brake instead (auth::lockout). Failures
-- recorded before this step count under the unknown network ''; the few
-- locks in force (at most 30 minutes) are dropped.

ALTER TABLE login_failures ADD COLUMN network TEXT NOT NULL DEFAULT '';
CREATE INDEX login_failures_network ON login_failures (email, network, created_at);

DROP TABLE login_lockouts;
CREATE TABLE login_lockouts (
    email        TEXT NOT NULL COLLATE NOCASE,
    network      TEXT NOT NULL,
    locked_until TEXT NOT NULL,
    PRIMARY KEY (email, network)
) STRICT;
