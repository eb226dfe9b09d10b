-- Invitations sent (new or again) by a user in a space, for the per-inviter
-- and per-space limits. Rows older than a day are pruned as new ones come.
-- space_id has no foreign key: deleting a space must not reset its
-- inviter's count.
CREATE TABLE space_invite_log (
    id         INTEGER PRIMARY KEY,
    space_id   TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL
) STRICT;
CREATE INDEX space_invite_log_user ON space_invite_log (user_id, created_at);
CREATE INDEX space_invite_log_space ON space_invite_log (space_id, created_at);
