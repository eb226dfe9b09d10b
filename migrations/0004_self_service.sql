-- Step 4: self-service: API keys, settings (global, per app, per device) and
-- the encryption vault with its audit trail.

-- API keys: only the SHA-256 of the key is stored; the prefix is for display.
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

-- Global settings of a user: only what the user set; defaults live in code.
CREATE TABLE user_settings (
    user_id    TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    settings   TEXT NOT NULL CHECK (
                   json_valid(settings) AND json_type(settings) = 'object' AND length(settings) <= 65536
               ),
    updated_at TEXT NOT NULL
) STRICT;

-- Per-app overrides of a user.
CREATE TABLE user_app_settings (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    app_id     TEXT NOT NULL CHECK (length(app_id) BETWEEN 1 AND 64),
    settings   TEXT NOT NULL CHECK (
                   json_valid(settings) AND json_type(settings) = 'object' AND length(settings) <= 65536
               ),
    updated_at TEXT NOT NULL,
    PRIMARY KEY (user_id, app_id)
) STRICT;

-- Devices of a user, known from their per-device app settings.
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

-- The encryption vault: one random 32-byte master key per user, stored only
-- wrapped. The server wrap is AES-256-GCM under the KEK (48 bytes: key + tag,
-- 12-byte IV, the KEK's fingerprint in kek_id); the recovery wrap is made by
-- the client and opaque here. A vault can never lose both wraps, and
-- zero-knowledge mode means: recovery wrap only, no server wrap.
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
    rotated_at     TEXT,
    CHECK ((wrapped_mk IS NULL) = (wrap_iv IS NULL) AND (wrapped_mk IS NULL) = (kek_id IS NULL)),
    CHECK ((recovery_wrapped_mk IS NULL) = (recovery_iv IS NULL)),
    CHECK (wrapped_mk IS NOT NULL OR recovery_wrapped_mk IS NOT NULL),
    CHECK (zero_knowledge = 0 OR (recovery_wrapped_mk IS NOT NULL AND wrapped_mk IS NULL))
) STRICT;

-- Every vault action, successful or not.
CREATE TABLE vault_audit (
    id         INTEGER PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    action     TEXT NOT NULL CHECK (action IN (
                   'status', 'init', 'key', 'rotate', 'recovery_set', 'recovery_clear', 'zk_on', 'zk_off'
               )),
    status     TEXT NOT NULL CHECK (status IN ('success', 'failure')),
    reason     TEXT,
    ip         TEXT,
    user_agent TEXT,
    created_at TEXT NOT NULL
) STRICT;
CREATE INDEX vault_audit_user ON vault_audit (user_id, created_at);
