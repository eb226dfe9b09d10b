-- The PostgreSQL service's auth schema, as the import tests and the import
-- benchmark create it: written for this repository from the service's
-- Drizzle schema (services/mana-auth/src/db/schema/*.ts) and its hand-run
-- migrations (services/mana-auth/sql/*.sql) at commit 099cac4a01 of
-- Memo-2023/managarten, keeping the table and column names, types, nullness,
-- defaults and the constraints that shape the data (enums, unique keys, the
-- vault CHECKs and its forced row-level security). Run by the owner role
-- of the database, so the forced policies apply to it as in production.

CREATE SCHEMA auth;

CREATE TYPE auth.user_role AS ENUM ('user', 'admin', 'service');
CREATE TYPE auth.access_tier AS ENUM ('guest', 'public', 'beta', 'alpha', 'founder');
CREATE TYPE auth.user_kind AS ENUM ('human', 'persona', 'system');

CREATE TABLE auth.users (
    id                      text PRIMARY KEY,
    name                    text NOT NULL,
    email                   text NOT NULL UNIQUE,
    email_verified          boolean NOT NULL DEFAULT false,
    image                   text,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    role                    auth.user_role NOT NULL DEFAULT 'user',
    access_tier             auth.access_tier NOT NULL DEFAULT 'public',
    kind                    auth.user_kind NOT NULL DEFAULT 'human',
    two_factor_enabled      boolean DEFAULT false,
    deleted_at              timestamptz,
    onboarding_completed_at timestamptz
);

CREATE TABLE auth.sessions (
    id                       text PRIMARY KEY,
    expires_at               timestamptz NOT NULL,
    token                    text NOT NULL UNIQUE,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    ip_address               text,
    user_agent               text,
    user_id                  text NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    refresh_token            text UNIQUE,
    refresh_token_expires_at timestamptz,
    device_id                text,
    device_name              text,
    last_activity_at         timestamptz DEFAULT now(),
    revoked_at               timestamptz,
    remember_me              boolean DEFAULT false
);

CREATE TABLE auth.accounts (
    id                       text PRIMARY KEY,
    account_id               text NOT NULL,
    provider_id              text NOT NULL,
    user_id                  text NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    access_token             text,
    refresh_token            text,
    id_token                 text,
    access_token_expires_at  timestamptz,
    refresh_token_expires_at timestamptz,
    scope                    text,
    password                 text,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE auth.verification (
    id         text PRIMARY KEY,
    identifier text NOT NULL,
    value      text NOT NULL,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX verification_identifier_idx ON auth.verification (identifier);

-- The older password table: read only where accounts.password is empty.
CREATE TABLE auth.passwords (
    user_id         text PRIMARY KEY REFERENCES auth.users (id) ON DELETE CASCADE,
    hashed_password text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE auth.two_factor_auth (
    user_id      text PRIMARY KEY REFERENCES auth.users (id) ON DELETE CASCADE,
    secret       text NOT NULL,
    enabled      boolean NOT NULL DEFAULT false,
    backup_codes text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    enabled_at   timestamptz
);

CREATE TABLE auth.security_events (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    text REFERENCES auth.users (id) ON DELETE CASCADE,
    event_type text NOT NULL,
    ip_address text,
    user_agent text,
    metadata   jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE auth.jwks (
    id          text PRIMARY KEY,
    public_key  text NOT NULL,
    private_key text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE auth.passkeys (
    id            text PRIMARY KEY,
    user_id       text NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    credential_id text NOT NULL UNIQUE,
    public_key    text NOT NULL,
    counter       integer NOT NULL DEFAULT 0,
    device_type   text NOT NULL,
    backed_up     boolean NOT NULL DEFAULT false,
    transports    text,
    name          text,
    aaguid        text,
    last_used_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX passkeys_user_id_idx ON auth.passkeys (user_id);

CREATE TABLE auth.user_settings (
    user_id         text PRIMARY KEY REFERENCES auth.users (id) ON DELETE CASCADE,
    global_settings jsonb NOT NULL DEFAULT
        '{"nav": {"desktopPosition": "top", "sidebarCollapsed": false}, "theme": {"mode": "system", "colorScheme": "ocean"}, "locale": "de"}',
    app_overrides   jsonb NOT NULL DEFAULT '{}',
    device_settings jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE auth.organizations (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    slug       text UNIQUE,
    logo       text,
    metadata   jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX organizations_slug_idx ON auth.organizations (slug);

CREATE TABLE auth.members (
    id              text PRIMARY KEY,
    organization_id text NOT NULL REFERENCES auth.organizations (id) ON DELETE CASCADE,
    user_id         text NOT NULL,
    role            text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX members_organization_user_idx ON auth.members (organization_id, user_id);

CREATE TABLE auth.invitations (
    id              text PRIMARY KEY,
    organization_id text NOT NULL REFERENCES auth.organizations (id) ON DELETE CASCADE,
    email           text NOT NULL,
    role            text NOT NULL,
    status          text NOT NULL,
    expires_at      timestamptz NOT NULL,
    inviter_id      text,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE auth.api_keys (
    id                  text PRIMARY KEY,
    user_id             text NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    name                text NOT NULL,
    key_prefix          text NOT NULL,
    key_hash            text NOT NULL,
    scopes              jsonb NOT NULL DEFAULT '["stt", "tts"]',
    rate_limit_requests integer NOT NULL DEFAULT 60,
    rate_limit_window   integer NOT NULL DEFAULT 60,
    created_at          timestamptz NOT NULL DEFAULT now(),
    last_used_at        timestamptz,
    revoked_at          timestamptz
);
CREATE INDEX api_keys_key_hash_idx ON auth.api_keys (key_hash);

CREATE TABLE auth.login_attempts (
    id           serial PRIMARY KEY,
    email        text NOT NULL,
    ip_address   text,
    successful   boolean NOT NULL DEFAULT false,
    attempted_at timestamptz NOT NULL DEFAULT now(),
    method       text NOT NULL DEFAULT 'password'
);

-- The vault: wrapped_mk / wrap_iv base64 (AES-256-GCM under the KEK, tag
-- appended), a client-made recovery wrap, zero-knowledge mode.
CREATE TABLE auth.encryption_vaults (
    user_id                 text PRIMARY KEY REFERENCES auth.users (id) ON DELETE CASCADE,
    wrapped_mk              text,
    wrap_iv                 text,
    format_version          smallint NOT NULL DEFAULT 1,
    kek_id                  text NOT NULL DEFAULT 'env-v1',
    recovery_wrapped_mk     text,
    recovery_iv             text,
    recovery_format_version smallint NOT NULL DEFAULT 1,
    recovery_set_at         timestamptz,
    zero_knowledge          boolean NOT NULL DEFAULT false,
    created_at              timestamptz NOT NULL DEFAULT now(),
    rotated_at              timestamptz,
    CONSTRAINT encryption_vaults_has_wrap CHECK (wrapped_mk IS NOT NULL OR recovery_wrapped_mk IS NOT NULL),
    CONSTRAINT encryption_vaults_wrap_iv_pair CHECK (
        (wrapped_mk IS NULL) = (wrap_iv IS NULL) AND (recovery_wrapped_mk IS NULL) = (recovery_iv IS NULL)),
    CONSTRAINT encryption_vaults_zk_consistency CHECK (
        zero_knowledge = false OR (wrapped_mk IS NULL AND recovery_wrapped_mk IS NOT NULL))
);

CREATE TABLE auth.encryption_vault_audit (
    id         text PRIMARY KEY,
    user_id    text NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    action     text NOT NULL,
    ip_address text,
    user_agent text,
    context    text,
    status     integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Every vault read and write happens after set_config('app.current_user_id',
-- …, true); FORCE makes the policy bind the table's owner too.
ALTER TABLE auth.encryption_vaults ENABLE ROW LEVEL SECURITY;
ALTER TABLE auth.encryption_vaults FORCE ROW LEVEL SECURITY;
CREATE POLICY encryption_vaults_user_isolation ON auth.encryption_vaults
    USING (user_id = current_setting('app.current_user_id', true))
    WITH CHECK (user_id = current_setting('app.current_user_id', true));
ALTER TABLE auth.encryption_vault_audit ENABLE ROW LEVEL SECURITY;
ALTER TABLE auth.encryption_vault_audit FORCE ROW LEVEL SECURITY;
CREATE POLICY encryption_vault_audit_user_isolation ON auth.encryption_vault_audit
    USING (user_id = current_setting('app.current_user_id', true))
    WITH CHECK (user_id = current_setting('app.current_user_id', true));

CREATE TABLE auth.personas (
    user_id        text PRIMARY KEY REFERENCES auth.users (id) ON DELETE CASCADE,
    archetype      text NOT NULL,
    system_prompt  text NOT NULL,
    module_mix     jsonb NOT NULL,
    tick_cadence   text NOT NULL DEFAULT 'daily',
    last_active_at timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE SCHEMA spaces;
CREATE TABLE spaces.credentials (
    space_id                text NOT NULL REFERENCES auth.organizations (id) ON DELETE CASCADE,
    provider                text NOT NULL,
    access_token_encrypted  text NOT NULL,
    refresh_token_encrypted text,
    expires_at              timestamptz,
    scopes                  text[],
    provider_account_id     text,
    metadata_json           text,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (space_id, provider)
);
CREATE TABLE spaces.module_permissions (
    space_id   text NOT NULL REFERENCES auth.organizations (id) ON DELETE CASCADE,
    role       text NOT NULL,
    module_id  text NOT NULL,
    can_read   boolean NOT NULL DEFAULT true,
    can_write  boolean NOT NULL DEFAULT false,
    can_admin  boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (space_id, role, module_id)
);
