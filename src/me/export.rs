//! The shapes of the data export (`GET /api/v1/me/data/export`) and of an
//! admin's view of a user's data. The top level is fixed and named; the
//! rows under it are the stored records as they are (open objects). Fields
//! are declared in the alphabetical order of their wire names, the order
//! the `json!` map they replace wrote them in.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// The full export of a user's data.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Export {
    /// Every API key (never a secret).
    #[schema(value_type = Vec<Object>)]
    pub api_keys: Value,
    /// The data summary of `GET /api/v1/me/data`.
    #[schema(value_type = super::data::DataSummary)]
    pub data: Value,
    /// The upstream's `{sessions, passkeys, apiKeys, securityEvents}`.
    #[schema(value_type = Object)]
    pub details: Value,
    /// `{initialized, zeroKnowledge, hasRecoveryWrap, createdAt, rotatedAt}`.
    #[schema(value_type = Object)]
    pub encryption_vault: Value,
    pub export_version: &'static str,
    pub exported_at: String,
    pub format_version: u32,
    pub has_password: bool,
    #[schema(value_type = Vec<Object>)]
    pub invitations: Value,
    #[schema(value_type = Vec<Object>)]
    pub login_failures: Value,
    /// Name, counter, flags and dates; never the public key.
    #[schema(value_type = Vec<Object>)]
    pub passkeys: Value,
    /// Only for a persona account.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub persona: Option<Value>,
    #[schema(value_type = Vec<Object>)]
    pub security_events: Value,
    #[schema(value_type = Vec<Object>)]
    pub sessions: Value,
    /// `{global, appOverrides, devices}`.
    #[schema(value_type = Object)]
    pub settings: Value,
    #[schema(value_type = Vec<Object>)]
    pub spaces: Value,
    #[schema(value_type = Vec<Object>)]
    pub sync_changes: Value,
    #[schema(value_type = Object)]
    pub two_factor: Value,
    /// The whole user record.
    #[schema(value_type = Object)]
    pub user: Value,
    #[schema(value_type = Vec<Object>)]
    pub vault_audit: Value,
}

/// What an admin sees of a user's data: the export with the parts of the
/// data summary it does not hold beside it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminDataView {
    #[schema(value_type = super::data::SummaryAuth)]
    pub auth: Value,
    #[schema(value_type = super::data::SummaryCounts)]
    pub counts: Value,
    #[schema(value_type = super::data::SummaryCredits)]
    pub credits: Value,
    #[schema(value_type = Vec<Object>)]
    pub projects: Value,
    #[schema(value_type = Object)]
    pub totals: Value,
    #[serde(flatten)]
    pub export: Export,
}
