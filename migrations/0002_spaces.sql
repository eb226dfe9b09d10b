-- Step 2: spaces (organizations), members, invitations and the sync change log.

CREATE TABLE spaces (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    slug        TEXT NOT NULL UNIQUE,
    logo        TEXT,
    metadata    TEXT NOT NULL CHECK (
                    json_valid(metadata)
                    AND json_type(metadata) = 'object'
                    AND json_extract(metadata, '$.type') IN ('personal', 'brand', 'club', 'family', 'team', 'practice')
                ),
    -- Set only on a personal space: its user. UNIQUE makes "exactly one
    -- personal space per user" the database's rule.
    personal_of TEXT UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    CHECK ((personal_of IS NOT NULL) = (json_extract(metadata, '$.type') = 'personal'))
) STRICT;

CREATE TABLE space_members (
    id         TEXT PRIMARY KEY,
    space_id   TEXT NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    created_at TEXT NOT NULL,
    UNIQUE (space_id, user_id)
) STRICT;
CREATE INDEX space_members_user ON space_members (user_id);

CREATE TABLE space_invitations (
    id         TEXT PRIMARY KEY,
    space_id   TEXT NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    email      TEXT NOT NULL COLLATE NOCASE,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    status     TEXT NOT NULL DEFAULT 'pending'
               CHECK (status IN ('pending', 'accepted', 'rejected', 'canceled')),
    inviter_id TEXT REFERENCES users (id) ON DELETE SET NULL,
    expires_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;
CREATE INDEX space_invitations_space ON space_invitations (space_id, status);
CREATE INDEX space_invitations_email ON space_invitations (email, status);
-- One open invitation per address and space; inviting again refreshes it.
CREATE UNIQUE INDEX space_invitations_pending ON space_invitations (space_id, email)
    WHERE status = 'pending';

-- The sync service's change log, same columns, so rows export unchanged.
-- A change log keeps many rows per record; only the bootstrap singletons are
-- unique, guarded by the partial indexes below.
CREATE TABLE sync_changes (
    id             TEXT PRIMARY KEY,
    app_id         TEXT NOT NULL,
    table_name     TEXT NOT NULL,
    record_id      TEXT NOT NULL,
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    space_id       TEXT REFERENCES spaces (id) ON DELETE CASCADE,
    op             TEXT NOT NULL CHECK (op IN ('insert', 'update', 'delete')),
    data           TEXT CHECK (data IS NULL OR json_valid(data)),
    field_meta     TEXT CHECK (field_meta IS NULL OR json_valid(field_meta)),
    client_id      TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    schema_version INTEGER NOT NULL DEFAULT 1,
    actor          TEXT CHECK (actor IS NULL OR json_valid(actor)),
    origin         TEXT
) STRICT;
CREATE INDEX sync_changes_user_app ON sync_changes (user_id, app_id, created_at);
CREATE INDEX sync_changes_space ON sync_changes (space_id, created_at);
CREATE INDEX sync_changes_app_table ON sync_changes (app_id, table_name, created_at);
CREATE UNIQUE INDEX sync_bootstrap_user_context ON sync_changes (user_id)
    WHERE client_id = 'system:bootstrap' AND table_name = 'userContext';
CREATE UNIQUE INDEX sync_bootstrap_kontext_doc ON sync_changes (space_id)
    WHERE client_id = 'system:bootstrap' AND table_name = 'kontextDoc';
