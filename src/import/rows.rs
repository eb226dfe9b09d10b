//! The source's rows as the import reads them: timestamps as UTC ISO
//! strings in this server's format, jsonb as text.

/// A user of `auth.users`.
pub struct User {
    pub id: String,
    pub name: String,
    pub email: String,
    pub email_verified: bool,
    pub image: Option<String>,
    pub role: String,
    pub access_tier: String,
    pub kind: String,
    pub two_factor_enabled: bool,
    pub created_at: String,
    pub updated_at: String,
    pub deleted_at: Option<String>,
    pub onboarding_completed_at: Option<String>,
}

/// A row of `auth.accounts`.
pub struct Account {
    pub id: String,
    pub user_id: String,
    pub provider_id: String,
    pub password: Option<String>,
}

/// A row of `auth.organizations`; `metadata` is the jsonb as text.
pub struct Organization {
    pub id: String,
    pub name: String,
    pub slug: Option<String>,
    pub logo: Option<String>,
    pub metadata: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// A row of `auth.members`.
pub struct Member {
    pub id: String,
    pub organization_id: String,
    pub user_id: String,
    pub role: String,
    pub created_at: String,
}

/// A row of `auth.invitations`.
pub struct Invitation {
    pub id: String,
    pub organization_id: String,
    pub email: String,
    pub role: String,
    pub status: String,
    pub expires_at: String,
    pub inviter_id: Option<String>,
    pub created_at: String,
}

/// A row of `auth.passkeys`.
pub struct Passkey {
    pub id: String,
    pub user_id: String,
    pub credential_id: String,
    pub public_key: String,
    pub counter: i64,
    pub device_type: String,
    pub backed_up: bool,
    pub transports: Option<String>,
    pub name: Option<String>,
    pub aaguid: Option<String>,
    pub last_used_at: Option<String>,
    pub created_at: String,
}

/// A row of `auth.two_factor_auth`.
pub struct TwoFactor {
    pub user_id: String,
    pub secret: String,
    pub backup_codes: String,
    pub created_at: String,
    pub enabled_at: Option<String>,
}

/// A row of `auth.api_keys`; `scopes` is the jsonb as text.
pub struct ApiKey {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub key_prefix: String,
    pub key_hash: String,
    pub scopes: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// A row of `auth.user_settings`, jsonb as text.
pub struct Settings {
    pub user_id: String,
    pub global: String,
    pub apps: String,
    pub devices: String,
    pub updated_at: String,
}

/// A row of `auth.encryption_vaults`.
pub struct Vault {
    pub user_id: String,
    pub wrapped_mk: Option<String>,
    pub wrap_iv: Option<String>,
    pub recovery_wrapped_mk: Option<String>,
    pub recovery_iv: Option<String>,
    pub zero_knowledge: bool,
    pub created_at: String,
    pub rotated_at: Option<String>,
    pub recovery_set_at: Option<String>,
}

/// A row of `auth.security_events`.
pub struct Event {
    pub user_id: Option<String>,
    pub event_type: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub metadata: Option<String>,
    pub created_at: String,
}
