//! The framework's objects as this door sends them: user, session,
//! organization, member, invitation, passkey, and the small answers
//! (`{status: true}`, `{token, user}`, …). Each handler returns one of
//! these, so the OpenAPI document names exactly what goes on the wire.
//!
//! Fields are declared in the byte order of their wire names: the bodies
//! used to be built as JSON maps, which serialise sorted, and the bytes
//! stay the same. An `Option` that the framework sends as `null` is sent
//! (and documented) as `null`; one it leaves out is skipped when `None`.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::auth::session::Session;
use crate::passkeys::store::PasskeyInfo;
use crate::spaces::model::MemberUser;
use crate::spaces::{Invitation, Member, Role, Space};
use crate::users::User;

/// `{status: true}`.
#[derive(Serialize, ToSchema)]
pub struct BaStatus {
    pub status: bool,
}

impl BaStatus {
    pub const TRUE: Self = Self { status: true };
}

/// `{status: true, message}`.
#[derive(Serialize, ToSchema)]
pub struct BaStatusMessage {
    pub message: &'static str,
    pub status: bool,
}

/// `{success: true}`.
#[derive(Serialize, ToSchema)]
pub struct BaSuccess {
    pub success: bool,
}

/// `{success: true, message}`.
#[derive(Serialize, ToSchema)]
pub struct BaSuccessMessage {
    pub message: &'static str,
    pub success: bool,
}

/// The framework's user object.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BaUser {
    pub access_tier: String,
    pub created_at: String,
    pub email: String,
    pub email_verified: bool,
    pub id: String,
    #[schema(required = true)]
    pub image: Option<String>,
    pub kind: String,
    pub name: String,
    #[schema(required = true)]
    pub onboarding_completed_at: Option<String>,
    pub role: String,
    pub two_factor_enabled: bool,
    pub updated_at: String,
}

impl From<User> for BaUser {
    fn from(u: User) -> Self {
        Self {
            access_tier: u.access_tier,
            created_at: u.created_at,
            email: u.email,
            email_verified: u.email_verified,
            id: u.id,
            image: u.image,
            kind: u.kind,
            name: u.name,
            onboarding_completed_at: u.onboarding_completed_at,
            role: u.role,
            two_factor_enabled: u.two_factor_enabled,
            updated_at: u.updated_at,
        }
    }
}

impl From<&User> for BaUser {
    fn from(u: &User) -> Self {
        u.clone().into()
    }
}

/// The framework's session object. `token` is the session token where the
/// caller may see it, else `null` (or, in `list-sessions`, the session id).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BaSession {
    #[schema(required = true)]
    pub active_organization_id: Option<String>,
    pub created_at: String,
    pub expires_at: String,
    pub id: String,
    #[schema(required = true)]
    pub ip_address: Option<String>,
    #[schema(required = true)]
    pub token: Option<String>,
    pub updated_at: String,
    #[schema(required = true)]
    pub user_agent: Option<String>,
    pub user_id: String,
}

impl BaSession {
    pub fn new(s: &Session, token: Option<&str>) -> Self {
        Self {
            active_organization_id: s.active_organization_id.clone(),
            created_at: s.created_at.clone(),
            expires_at: s.expires_at.clone(),
            id: s.id.clone(),
            ip_address: s.ip_address.clone(),
            token: token.map(str::to_owned),
            updated_at: s.updated_at.clone(),
            user_agent: s.user_agent.clone(),
            user_id: s.user_id.clone(),
        }
    }
}

/// `{session, user}`.
#[derive(Serialize, ToSchema)]
pub struct BaSessionAndUser {
    pub session: BaSession,
    pub user: BaUser,
}

/// `{token, user}`: `token` is the session token, or `null` where there is
/// none to give.
#[derive(Serialize, ToSchema)]
pub struct BaTokenAndUser {
    #[schema(required = true)]
    pub token: Option<String>,
    pub user: BaUser,
}

/// `{session, token, user}` of a sign-in that answers with its session.
#[derive(Serialize, ToSchema)]
pub struct BaSignedIn {
    pub session: BaSession,
    pub token: String,
    pub user: BaUser,
}

/// `{twoFactorMethods, twoFactorRedirect: true}`: the first factor is
/// done, the second is due (the pending sign-in rides in a cookie).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BaTwoFactorRedirect {
    pub two_factor_methods: Vec<&'static str>,
    pub two_factor_redirect: bool,
}

impl BaTwoFactorRedirect {
    pub fn totp() -> Self {
        Self {
            two_factor_methods: vec!["totp"],
            two_factor_redirect: true,
        }
    }
}

/// `{token}`: an access token (JWT).
#[derive(Serialize, ToSchema)]
pub struct BaAccessToken {
    pub token: String,
}

/// A sign-in account of the user (`list-accounts`).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BaAccount {
    pub account_id: String,
    pub created_at: String,
    pub id: String,
    pub provider_id: &'static str,
    pub scopes: Vec<String>,
    pub updated_at: String,
    pub user_id: String,
}

/// The framework's organization object; `metadata` is an object where the
/// framework echoes what was sent, a JSON string where it reads it back
/// from storage, `null` if there is none.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BaOrganization {
    pub created_at: String,
    pub id: String,
    #[schema(required = true)]
    pub logo: Option<String>,
    pub metadata: Value,
    pub name: String,
    pub slug: String,
}

/// Which form an organization's `metadata` takes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Metadata {
    /// As an object (create, update).
    Object,
    /// As a JSON string (everywhere else).
    Text,
}

impl BaOrganization {
    pub fn new(space: &Space, form: Metadata) -> Self {
        let metadata = match (&space.metadata, form) {
            (Value::Null, _) => Value::Null,
            (m, Metadata::Text) => Value::String(m.to_string()),
            (m, Metadata::Object) => m.clone(),
        };
        Self {
            created_at: space.created_at.clone(),
            id: space.id.clone(),
            logo: space.logo.clone(),
            metadata,
            name: space.name.clone(),
            slug: space.slug.clone(),
        }
    }
}

/// An organization with its members: a new one (the owner, without
/// `user`; no `invitations`), or the full one (members with `user`, and
/// its invitations).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BaOrganizationWithMembers {
    pub created_at: String,
    pub id: String,
    /// Only in the full organization.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invitations: Option<Vec<BaInvitation>>,
    #[schema(required = true)]
    pub logo: Option<String>,
    pub members: Vec<BaMember>,
    pub metadata: Value,
    pub name: String,
    pub slug: String,
}

impl BaOrganizationWithMembers {
    pub fn new(
        org: BaOrganization,
        members: Vec<BaMember>,
        invitations: Option<Vec<BaInvitation>>,
    ) -> Self {
        Self {
            created_at: org.created_at,
            id: org.id,
            invitations,
            logo: org.logo,
            members,
            metadata: org.metadata,
            name: org.name,
            slug: org.slug,
        }
    }
}

/// The public part of a member's user.
#[derive(Serialize, ToSchema)]
pub struct BaMemberUser {
    pub email: String,
    pub id: String,
    #[schema(required = true)]
    pub image: Option<String>,
    pub name: String,
}

impl From<MemberUser> for BaMemberUser {
    fn from(u: MemberUser) -> Self {
        Self {
            email: u.email,
            id: u.id,
            image: u.image,
            name: u.name,
        }
    }
}

/// The framework's member object; some answers leave out its `user`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BaMember {
    pub created_at: String,
    pub id: String,
    pub organization_id: String,
    pub role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<BaMemberUser>,
    pub user_id: String,
}

impl BaMember {
    /// The member with its `user`.
    pub fn with_user(m: Member) -> Self {
        Self {
            created_at: m.created_at,
            id: m.id,
            organization_id: m.organization_id,
            role: m.role,
            user: Some(m.user.into()),
            user_id: m.user_id,
        }
    }

    /// The member without its `user`.
    pub fn bare(m: &Member) -> Self {
        Self {
            created_at: m.created_at.clone(),
            id: m.id.clone(),
            organization_id: m.organization_id.clone(),
            role: m.role,
            user: None,
            user_id: m.user_id.clone(),
        }
    }
}

/// `{members, total}`.
#[derive(Serialize, ToSchema)]
pub struct BaMemberList {
    pub members: Vec<BaMember>,
    pub total: usize,
}

/// `{member}`.
#[derive(Serialize, ToSchema)]
pub struct BaMemberBody {
    pub member: BaMember,
}

/// `{role}`.
#[derive(Serialize, ToSchema)]
pub struct BaMemberRole {
    pub role: Role,
}

/// The framework's invitation object.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BaInvitation {
    pub created_at: String,
    pub email: String,
    pub expires_at: String,
    pub id: String,
    #[schema(required = true)]
    pub inviter_id: Option<String>,
    pub organization_id: String,
    pub role: Role,
    pub status: String,
}

impl From<Invitation> for BaInvitation {
    fn from(i: Invitation) -> Self {
        Self {
            created_at: i.created_at,
            email: i.email,
            expires_at: i.expires_at,
            id: i.id,
            inviter_id: i.inviter_id,
            organization_id: i.organization_id,
            role: i.role,
            status: i.status,
        }
    }
}

/// An invitation addressed to the caller, with its organization's name.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BaUserInvitation {
    pub created_at: String,
    pub email: String,
    pub expires_at: String,
    pub id: String,
    #[schema(required = true)]
    pub inviter_id: Option<String>,
    pub organization_id: String,
    pub organization_name: String,
    pub role: Role,
    pub status: String,
}

impl BaUserInvitation {
    pub fn new(i: Invitation, organization_name: String) -> Self {
        Self {
            created_at: i.created_at,
            email: i.email,
            expires_at: i.expires_at,
            id: i.id,
            inviter_id: i.inviter_id,
            organization_id: i.organization_id,
            organization_name,
            role: i.role,
            status: i.status,
        }
    }
}

/// An invitation addressed to the caller, with its organization's name
/// and slug and the inviter's address (`null` if the inviter is gone).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BaInvitationDetail {
    pub created_at: String,
    pub email: String,
    pub expires_at: String,
    pub id: String,
    #[schema(required = true)]
    pub inviter_email: Option<String>,
    #[schema(required = true)]
    pub inviter_id: Option<String>,
    pub organization_id: String,
    pub organization_name: String,
    pub organization_slug: String,
    pub role: Role,
    pub status: String,
}

impl BaInvitationDetail {
    pub fn new(i: Invitation, space: Space, inviter_email: Option<String>) -> Self {
        Self {
            created_at: i.created_at,
            email: i.email,
            expires_at: i.expires_at,
            id: i.id,
            inviter_email,
            inviter_id: i.inviter_id,
            organization_id: i.organization_id,
            organization_name: space.name,
            organization_slug: space.slug,
            role: i.role,
            status: i.status,
        }
    }
}

/// `{invitation, member}`: the answered invitation and the new membership
/// (without `user`), `null` when it was rejected.
#[derive(Serialize, ToSchema)]
pub struct BaInvitationAnswer {
    pub invitation: BaInvitation,
    #[schema(required = true)]
    pub member: Option<BaMember>,
}

/// The framework's passkey object, without `publicKey` (only the parsed
/// credential is stored). `transports` is a comma list.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BaPasskey {
    #[schema(required = true)]
    pub aaguid: Option<String>,
    pub backed_up: bool,
    pub counter: i64,
    pub created_at: String,
    #[serde(rename = "credentialID")]
    pub credential_id: String,
    /// `singleDevice` or `multiDevice`.
    pub device_type: &'static str,
    pub id: String,
    pub name: String,
    pub transports: String,
    pub user_id: String,
}

impl BaPasskey {
    pub fn new(p: &PasskeyInfo, user_id: &str) -> Self {
        let transports = match &p.transports {
            Value::Array(list) => list
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(","),
            _ => String::new(),
        };
        Self {
            aaguid: p.aaguid.clone(),
            backed_up: p.backup_state,
            counter: p.counter,
            created_at: p.created_at.clone(),
            credential_id: p.credential_id.clone(),
            device_type: if p.backup_eligible {
                "multiDevice"
            } else {
                "singleDevice"
            },
            id: p.id.clone(),
            name: p.name.clone(),
            transports,
            user_id: user_id.to_owned(),
        }
    }
}

/// A registered passkey; with `createSession`, also the new `session` and
/// its `user`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BaRegisteredPasskey {
    #[schema(required = true)]
    pub aaguid: Option<String>,
    pub backed_up: bool,
    pub counter: i64,
    pub created_at: String,
    #[serde(rename = "credentialID")]
    pub credential_id: String,
    pub device_type: &'static str,
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<BaSession>,
    pub transports: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<BaUser>,
    pub user_id: String,
}

impl BaRegisteredPasskey {
    pub fn new(p: BaPasskey, session: Option<BaSession>, user: Option<BaUser>) -> Self {
        Self {
            aaguid: p.aaguid,
            backed_up: p.backed_up,
            counter: p.counter,
            created_at: p.created_at,
            credential_id: p.credential_id,
            device_type: p.device_type,
            id: p.id,
            name: p.name,
            session,
            transports: p.transports,
            user,
            user_id: p.user_id,
        }
    }
}

/// `{passkey}`.
#[derive(Serialize, ToSchema)]
pub struct BaPasskeyBody {
    pub passkey: BaPasskey,
}
