-- Step 23: people counted as they come and go, for the admin dashboard.
-- One row per hour of `created_at` (its first 13 characters), counting the
-- users that are people (kind 'human') and not deleted; the triggers keep
-- it exact, so the dashboard sums a few hundred rows instead of counting
-- every account on each call.
CREATE TABLE user_counts (
    hour   TEXT PRIMARY KEY,
    humans INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

INSERT INTO user_counts (hour, humans)
    SELECT substr(created_at, 1, 13), count(*) FROM users
     WHERE deleted_at IS NULL AND kind = 'human' GROUP BY 1;

CREATE TRIGGER user_counts_insert AFTER INSERT ON users
    WHEN NEW.deleted_at IS NULL AND NEW.kind = 'human'
BEGIN
    INSERT INTO user_counts (hour, humans) VALUES (substr(NEW.created_at, 1, 13), 1)
        ON CONFLICT (hour) DO UPDATE SET humans = humans + 1;
END;

CREATE TRIGGER user_counts_delete AFTER DELETE ON users
    WHEN OLD.deleted_at IS NULL AND OLD.kind = 'human'
BEGIN
    UPDATE user_counts SET humans = humans - 1 WHERE hour = substr(OLD.created_at, 1, 13);
END;

CREATE TRIGGER user_counts_update AFTER UPDATE OF kind, deleted_at, created_at ON users
BEGIN
    UPDATE user_counts SET humans = humans - 1
     WHERE hour = substr(OLD.created_at, 1, 13)
       AND OLD.deleted_at IS NULL AND OLD.kind = 'human';
    INSERT INTO user_counts (hour, humans)
        SELECT substr(NEW.created_at, 1, 13), 1
         WHERE NEW.deleted_at IS NULL AND NEW.kind = 'human'
        ON CONFLICT (hour) DO UPDATE SET humans = humans + 1;
END;

-- The handful of users that are not people (personas, system users), which
-- every figure of the dashboard leaves out: read from this index instead
-- of scanning every user.
CREATE INDEX users_not_human ON users (id) WHERE kind != 'human';
