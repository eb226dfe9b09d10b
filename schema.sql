-- mana-auth: the whole current schema, as a database file migrated to the
-- newest version holds it. GENERATED from migrations/ (the one source; see
-- src/db/migrate.rs) -- do not edit by hand. After adding a migration run
--
--   UPDATE_SCHEMA=1 cargo nextest run -E 'test(schema_sql_is_the_migrated_schema)'
--
-- and commit the result; without UPDATE_SCHEMA that test fails while this
-- file differs by one byte from what the migrations produce.
--
-- Conventions: STRICT tables; ids are UUID strings; timestamps are UTC
-- ISO-8601 strings with milliseconds ("2026-11-25T10:00:00.000Z"), so string
-- order is time order; booleans are INTEGER 0/1 with a CHECK.

CREATE TABLE users (
    id                      TEXT PRIMARY KEY,
    name                    TEXT NOT NULL DEFAULT '',
    email                   TEXT NOT NULL COLLATE NOCASE UNIQUE,
    email_verified          INTEGER NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1)),
    image                   TEXT,
    role                    TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin', 'service')),
    access_tier             TEXT NOT NULL DEFAULT 'public'
                            CHECK (access_tier IN ('guest', 'public', 'beta', 'alpha', 'founder')),
    kind                    TEXT NOT NULL DEFAULT 'human' CHECK (kind IN ('human', 'persona', 'system')),
    two_factor_enabled      INTEGER NOT NULL DEFAULT 0 CHECK (two_factor_enabled IN (0, 1)),
    created_at              TEXT NOT NULL,
    updated_at              TEXT NOT NULL,
    deleted_at              TEXT,
    onboarding_completed_at TEXT
, credential_epoch INTEGER NOT NULL DEFAULT 0) STRICT;
CREATE INDEX users_created_at ON users (created_at);
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
CREATE INDEX users_not_human ON users (id) WHERE kind != 'human';

CREATE TABLE password_credentials (
    user_id       TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    password_hash TEXT NOT NULL,
    updated_at    TEXT NOT NULL
) STRICT;
CREATE INDEX password_credentials_scrypt ON password_credentials (user_id)
    WHERE password_hash NOT LIKE '$%';

CREATE TABLE jwt_keys (
    kid         TEXT PRIMARY KEY,
    private_der BLOB NOT NULL,
    public_key  BLOB NOT NULL CHECK (length(public_key) = 32),
    created_at  TEXT NOT NULL,
    retired_at  TEXT
, kek_id TEXT) STRICT;

CREATE TABLE security_events (
    id         TEXT PRIMARY KEY,
    user_id    TEXT REFERENCES users (id) ON DELETE CASCADE,
    event_type TEXT NOT NULL,
    ip         TEXT,
    user_agent TEXT,
    metadata   TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
    created_at TEXT NOT NULL
) STRICT;
CREATE INDEX security_events_user ON security_events (user_id, created_at);
CREATE INDEX security_events_type ON security_events (event_type, created_at);
CREATE INDEX security_events_created ON security_events (created_at);

CREATE TABLE login_failures (
    id         INTEGER PRIMARY KEY,
    email      TEXT NOT NULL COLLATE NOCASE,
    ip         TEXT,
    created_at TEXT NOT NULL
, network TEXT NOT NULL DEFAULT '') STRICT;
CREATE INDEX login_failures_email ON login_failures (email, created_at);
CREATE INDEX login_failures_network ON login_failures (email, network, created_at);

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
CREATE TRIGGER space_members_clear_active AFTER DELETE ON space_members
BEGIN
    UPDATE sessions SET active_space_id = NULL
     WHERE user_id = OLD.user_id AND active_space_id = OLD.space_id;
END;

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
CREATE UNIQUE INDEX space_invitations_pending ON space_invitations (space_id, email)
    WHERE status = 'pending';

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

CREATE TABLE verification_tokens (
    id           TEXT PRIMARY KEY,
    purpose      TEXT NOT NULL
                 CHECK (purpose IN ('email_verify', 'password_reset', 'magic_link', 'email_change')),
    token_hash   TEXT NOT NULL UNIQUE,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The address the token was sent to (the new address for email_change).
    email        TEXT NOT NULL COLLATE NOCASE,
    callback_url TEXT,
    expires_at   TEXT NOT NULL,
    used_at      TEXT,
    created_at   TEXT NOT NULL
, credential TEXT) STRICT;
CREATE INDEX verification_tokens_user ON verification_tokens (user_id, purpose);
CREATE INDEX verification_tokens_expires ON verification_tokens (expires_at);

CREATE TABLE mail_outbox (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    user_id         TEXT REFERENCES users (id) ON DELETE SET NULL,
    to_address      TEXT NOT NULL,
    subject         TEXT NOT NULL,
    text_body       TEXT NOT NULL,
    html_body       TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sent', 'logged', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    next_attempt_at TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    sent_at         TEXT
, kek_id TEXT, links_expire_at TEXT) STRICT;
CREATE INDEX mail_outbox_due ON mail_outbox (status, next_attempt_at);
CREATE INDEX mail_outbox_created ON mail_outbox (created_at);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    key_prefix   TEXT NOT NULL CHECK (key_prefix LIKE 'sk_live_%' AND length(key_prefix) <= 16),
    key_hash     TEXT NOT NULL UNIQUE CHECK (length(key_hash) = 64),
    scopes       TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(scopes) AND json_type(scopes) = 'array'),
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
) STRICT;
CREATE INDEX api_keys_user ON api_keys (user_id, created_at);

CREATE TABLE user_settings (
    user_id    TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    settings   TEXT NOT NULL CHECK (
                   json_valid(settings) AND json_type(settings) = 'object' AND length(settings) <= 65536
               ),
    updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE user_app_settings (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    app_id     TEXT NOT NULL CHECK (length(app_id) BETWEEN 1 AND 64),
    settings   TEXT NOT NULL CHECK (
                   json_valid(settings) AND json_type(settings) = 'object' AND length(settings) <= 65536
               ),
    updated_at TEXT NOT NULL,
    PRIMARY KEY (user_id, app_id)
) STRICT;

CREATE TABLE user_devices (
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_id   TEXT NOT NULL CHECK (length(device_id) BETWEEN 1 AND 128),
    device_name TEXT CHECK (device_name IS NULL OR length(device_name) <= 100),
    device_type TEXT CHECK (device_type IS NULL OR length(device_type) <= 32),
    created_at  TEXT NOT NULL,
    last_seen   TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id)
) STRICT;

CREATE TABLE user_device_app_settings (
    user_id    TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    app_id     TEXT NOT NULL CHECK (length(app_id) BETWEEN 1 AND 64),
    settings   TEXT NOT NULL CHECK (
                   json_valid(settings) AND json_type(settings) = 'object' AND length(settings) <= 65536
               ),
    updated_at TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id, app_id),
    FOREIGN KEY (user_id, device_id) REFERENCES user_devices (user_id, device_id) ON DELETE CASCADE
) STRICT;

CREATE TABLE encryption_vaults (
    user_id        TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    wrapped_mk     BLOB CHECK (wrapped_mk IS NULL OR length(wrapped_mk) = 48),
    wrap_iv        BLOB CHECK (wrap_iv IS NULL OR length(wrap_iv) = 12),
    kek_id         TEXT,
    recovery_wrapped_mk BLOB CHECK (recovery_wrapped_mk IS NULL OR length(recovery_wrapped_mk) BETWEEN 32 AND 512),
    recovery_iv    BLOB CHECK (recovery_iv IS NULL OR length(recovery_iv) BETWEEN 12 AND 64),
    zero_knowledge INTEGER NOT NULL DEFAULT 0 CHECK (zero_knowledge IN (0, 1)),
    format_version INTEGER NOT NULL DEFAULT 1,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    rotated_at     TEXT, recovery_set_at TEXT,
    CHECK ((wrapped_mk IS NULL) = (wrap_iv IS NULL) AND (wrapped_mk IS NULL) = (kek_id IS NULL)),
    CHECK ((recovery_wrapped_mk IS NULL) = (recovery_iv IS NULL)),
    CHECK (wrapped_mk IS NOT NULL OR recovery_wrapped_mk IS NOT NULL),
    CHECK (zero_knowledge = 0 OR (recovery_wrapped_mk IS NOT NULL AND wrapped_mk IS NULL))
) STRICT;

CREATE TABLE user_locks (
    user_id    TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    -- The admin who locked (NULL once that admin is gone, or from the CLI).
    locked_by  TEXT REFERENCES users (id) ON DELETE SET NULL,
    reason     TEXT CHECK (reason IS NULL OR length(reason) <= 500),
    created_at TEXT NOT NULL
) STRICT;

CREATE TABLE two_factor_backup_codes (
    id         INTEGER PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  TEXT NOT NULL UNIQUE CHECK (length(code_hash) = 64),
    created_at TEXT NOT NULL,
    used_at    TEXT
) STRICT;
CREATE INDEX two_factor_backup_codes_user ON two_factor_backup_codes (user_id);

CREATE TABLE two_factor_tickets (
    ticket_hash TEXT PRIMARY KEY CHECK (length(ticket_hash) = 64),
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
) STRICT;
CREATE INDEX two_factor_tickets_user ON two_factor_tickets (user_id);

CREATE TABLE passkeys (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- base64url of the credential id, as browsers send it.
    credential_id TEXT NOT NULL UNIQUE,
    -- The webauthn-rs Passkey (public key, counter, flags) as JSON.
    credential    TEXT NOT NULL CHECK (json_valid(credential)),
    counter       INTEGER NOT NULL DEFAULT 0,
    backup_eligible INTEGER NOT NULL DEFAULT 0 CHECK (backup_eligible IN (0, 1)),
    backup_state  INTEGER NOT NULL DEFAULT 0 CHECK (backup_state IN (0, 1)),
    transports    TEXT CHECK (transports IS NULL OR json_valid(transports)),
    aaguid        TEXT,
    name          TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    last_used_at  TEXT
) STRICT;
CREATE INDEX passkeys_user ON passkeys (user_id);

CREATE TABLE "vault_audit" (
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
CREATE INDEX vault_audit_user ON vault_audit (user_id, created_at);
CREATE INDEX vault_audit_created ON vault_audit (created_at);

CREATE TABLE space_invite_log (
    id         INTEGER PRIMARY KEY,
    space_id   TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL
) STRICT;
CREATE INDEX space_invite_log_user ON space_invite_log (user_id, created_at);
CREATE INDEX space_invite_log_space ON space_invite_log (space_id, created_at);

CREATE TABLE personas (
    user_id        TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    archetype      TEXT NOT NULL CHECK (length(archetype) BETWEEN 1 AND 100),
    system_prompt  TEXT NOT NULL CHECK (length(system_prompt) BETWEEN 1 AND 20000),
    module_mix     TEXT NOT NULL CHECK (json_valid(module_mix) AND json_type(module_mix) = 'object'),
    tick_cadence   TEXT NOT NULL DEFAULT 'daily' CHECK (tick_cadence IN ('daily', 'weekdays', 'hourly')),
    last_active_at TEXT,
    created_at     TEXT NOT NULL
) STRICT;
CREATE INDEX personas_archetype ON personas (archetype);

CREATE TABLE persona_actions (
    persona_id    TEXT NOT NULL REFERENCES personas (user_id) ON DELETE CASCADE,
    id            TEXT NOT NULL CHECK (length(id) <= 255),
    tick_id       TEXT NOT NULL,
    tool_name     TEXT NOT NULL,
    input_hash    TEXT,
    result        TEXT NOT NULL CHECK (result IN ('ok', 'error')),
    error_message TEXT,
    latency_ms    INTEGER CHECK (latency_ms IS NULL OR latency_ms >= 0),
    created_at    TEXT NOT NULL,
    PRIMARY KEY (persona_id, id)
) STRICT;
CREATE INDEX persona_actions_recent ON persona_actions (persona_id, created_at);
CREATE INDEX persona_actions_tick ON persona_actions (tick_id);

CREATE TABLE persona_feedback (
    persona_id TEXT NOT NULL REFERENCES personas (user_id) ON DELETE CASCADE,
    id         TEXT NOT NULL CHECK (length(id) <= 255),
    tick_id    TEXT NOT NULL,
    module     TEXT NOT NULL,
    rating     INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    notes      TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (persona_id, id)
) STRICT;
CREATE INDEX persona_feedback_recent ON persona_feedback (persona_id, created_at);
CREATE INDEX persona_feedback_module ON persona_feedback (module, created_at);

CREATE TABLE "sessions" (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    ip            TEXT,
    user_agent    TEXT,
    -- The session's active space (Better Auth's activeOrganizationId).
    active_space_id TEXT REFERENCES spaces (id) ON DELETE SET NULL
) STRICT;
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE session_tokens (
    token_hash    TEXT PRIMARY KEY,
    session_id    TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    kind          TEXT NOT NULL CHECK (kind IN ('cookie', 'refresh')),
    created_at    TEXT NOT NULL,
    superseded_at TEXT
) STRICT;
CREATE INDEX session_tokens_session ON session_tokens (session_id, superseded_at);

CREATE TABLE server_secrets (
    name       TEXT PRIMARY KEY,
    value      BLOB NOT NULL,
    kek_id     TEXT,
    created_at TEXT NOT NULL
) STRICT;

CREATE TABLE mail_quota (
    id           INTEGER PRIMARY KEY,
    address_hash TEXT NOT NULL CHECK (length(address_hash) = 64),
    created_at   TEXT NOT NULL
) STRICT;
CREATE INDEX mail_quota_address ON mail_quota (address_hash, created_at);

CREATE TABLE login_lockouts (
    email        TEXT NOT NULL COLLATE NOCASE,
    network      TEXT NOT NULL,
    locked_until TEXT NOT NULL,
    PRIMARY KEY (email, network)
) STRICT;

CREATE TABLE "two_factor_secrets" (
    user_id      TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret       BLOB NOT NULL,
    last_step    INTEGER,
    created_at   TEXT NOT NULL,
    confirmed_at TEXT,
    kek_id       TEXT,
    CHECK ((kek_id IS NULL AND length(secret) BETWEEN 16 AND 64)
        OR (kek_id IS NOT NULL AND length(secret) BETWEEN 44 AND 92))
) STRICT;

CREATE TABLE user_counts (
    hour   TEXT PRIMARY KEY,
    humans INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
