//! AI mission grants: a key that lets the AI runner (another program) read
//! the records of one mission while the user's browser is closed.
//!
//! The Mission Data Key (MDK) is derived from the user's vault master key
//! with HKDF-SHA256 exactly as the Mana clients derive it (derivation `v1`):
//! salt = the mission id (UTF-8), info =
//! `mana-ai-mission-grant:v1:tables=<sorted, comma-joined>:ids=<sorted,
//! comma-joined>`, 32 bytes out. The scope is part of the key: another table
//! or record id gives another key, so widening a mission needs a new grant.
//! The 32 raw bytes are then encrypted with RSA-OAEP (SHA-256, MGF1-SHA-256,
//! no label) under the runner's public key (`MANA_AI_PUBLIC_KEY_PEM`), and
//! only the ciphertext leaves the server. Nothing about a grant is stored
//! except its vault audit row; revoking a grant is the client's business.
//!
//! Order of refusals (as the original service): a body of the wrong shape
//! (400), no runner key configured (503 `GRANT_NOT_CONFIGURED`), bad
//! content (400), then the vault: none (404 `VAULT_NOT_INITIALISED`) or
//! zero-knowledge mode (409 `ZK_ACTIVE`). Only the vault refusals and
//! successes are audited; a refused body writes nothing.

use chrono::{DateTime, Duration, Utc};
use hkdf::Hkdf;
use rusqlite::Connection;
use serde::Serialize;
use serde_json::Value;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::{crypto::Kek, store};
use crate::clock::iso;
use crate::error::{ApiError, ErrorCode, Result};

/// The derivation policy this server implements.
pub const DERIVATION_VERSION: &str = "v1";
/// Lifetime of a grant when the client names none: 7 days.
pub const DEFAULT_TTL_MS: i64 = 7 * 24 * 3_600_000;
/// Requested lifetimes are raised to at least one hour …
pub const MIN_TTL_MS: i64 = 3_600_000;
/// … and lowered to at most 30 days.
pub const MAX_TTL_MS: i64 = 30 * 24 * 3_600_000;
/// Largest `ttlMs` accepted at all (the range of a JavaScript date).
const MAX_TTL_INPUT: f64 = 8.64e15;
/// Most record ids one grant may cover (as the original service).
pub const MAX_RECORD_IDS: usize = 1000;
/// Most tables one grant may cover.
pub const MAX_TABLES: usize = 100;
/// Longest mission id, table name or record id, in characters.
pub const MAX_ITEM_CHARS: usize = 256;

/// The answer to a body of the wrong shape (the original service's text).
pub const SHAPE_MESSAGE: &str =
    "missionId (string), tables (string[]), recordIds (string[]) are required";

pub use crate::runner_key::RunnerKey;

/// The inputs of the derivation, as sent back in the grant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Derivation {
    /// Always `v1`.
    pub version: String,
    pub mission_id: String,
    /// Sorted as JavaScript sorts strings (by UTF-16 code units).
    pub tables: Vec<String>,
    /// Qualified ids (`<table>:<id>`), sorted likewise.
    pub record_ids: Vec<String>,
}

/// The grant the client stores on its mission.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Grant {
    /// RSA-OAEP ciphertext of the 32-byte MDK, standard base64.
    pub wrapped_key: String,
    pub derivation: Derivation,
    pub issued_at: String,
    pub expires_at: String,
}

/// A grant request as the client sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct GrantRequest {
    pub mission_id: String,
    pub tables: Vec<String>,
    pub record_ids: Vec<String>,
    /// Requested lifetime in milliseconds.
    pub ttl_ms: Option<f64>,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::BadRequest, message)
}

fn strings(value: Option<&Value>) -> Option<Vec<String>> {
    value?
        .as_array()?
        .iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect()
}

impl GrantRequest {
    /// Reads the body (`None`: not JSON at all): a non-empty string
    /// `missionId`, string arrays `tables` and `recordIds`, and `ttlMs`
    /// absent, `null` or a positive number. Anything else is 400.
    pub fn from_json(body: Option<&Value>) -> Result<Self> {
        let shape = || bad(SHAPE_MESSAGE);
        let body = body.and_then(Value::as_object).ok_or_else(shape)?;
        let mission_id = body
            .get("missionId")
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
            .ok_or_else(shape)?
            .to_owned();
        let tables = strings(body.get("tables")).ok_or_else(shape)?;
        let record_ids = strings(body.get("recordIds")).ok_or_else(shape)?;
        let ttl_ms = match body.get("ttlMs") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_f64()
                    .filter(|ms| ms.is_finite() && *ms > 0.0 && *ms <= MAX_TTL_INPUT)
                    .ok_or_else(|| bad("ttlMs must be a positive number of milliseconds"))?,
            ),
        };
        Ok(Self {
            mission_id,
            tables,
            record_ids,
            ttl_ms,
        })
    }
}

/// JavaScript's default string order (UTF-16 code units), which the
/// clients use for the derivation.
fn js_sorted(mut items: Vec<String>) -> Vec<String> {
    items.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
    items
}

/// Checks the content of a well-shaped request and builds its derivation.
pub fn derivation(req: &GrantRequest) -> Result<Derivation> {
    if req.tables.is_empty() {
        return Err(bad("tables must be a non-empty array"));
    }
    if req.record_ids.is_empty() {
        return Err(bad("recordIds must be a non-empty array"));
    }
    if req.record_ids.len() > MAX_RECORD_IDS {
        return Err(bad(format!(
            "recordIds must not exceed {MAX_RECORD_IDS} entries"
        )));
    }
    if req.tables.len() > MAX_TABLES {
        return Err(bad(format!("tables must not exceed {MAX_TABLES} entries")));
    }
    let too_long = std::iter::once(&req.mission_id)
        .chain(&req.tables)
        .chain(&req.record_ids)
        .any(|s| s.chars().count() > MAX_ITEM_CHARS);
    if too_long {
        return Err(bad(format!(
            "missionId, tables and recordIds entries must be at most {MAX_ITEM_CHARS} characters"
        )));
    }
    Ok(Derivation {
        version: DERIVATION_VERSION.to_owned(),
        mission_id: req.mission_id.clone(),
        tables: js_sorted(req.tables.clone()),
        record_ids: js_sorted(req.record_ids.clone()),
    })
}

/// The HKDF info string of a derivation.
pub fn canonical_info(d: &Derivation) -> String {
    let tables = js_sorted(d.tables.clone()).join(",");
    let ids = js_sorted(d.record_ids.clone()).join(",");
    format!(
        "mana-ai-mission-grant:{}:tables={tables}:ids={ids}",
        d.version
    )
}

/// The Mission Data Key: HKDF-SHA256(ikm = master key, salt = mission id,
/// info = `canonical_info`), 32 bytes.
pub fn derive_mdk(master_key: &[u8; 32], d: &Derivation) -> Zeroizing<[u8; 32]> {
    let hk = Hkdf::<Sha256>::new(Some(d.mission_id.as_bytes()), master_key);
    let mut okm = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's 8160-byte maximum; cannot fail.
    let _ = hk.expand(canonical_info(d).as_bytes(), okm.as_mut());
    okm
}

/// The lifetime a request gets: the default, else clamped to 1 h … 30 d.
pub fn ttl(req: &GrantRequest) -> Duration {
    let ms = req.ttl_ms.map_or(DEFAULT_TTL_MS, |ms| {
        (ms.trunc() as i64).clamp(MIN_TTL_MS, MAX_TTL_MS)
    });
    Duration::milliseconds(ms)
}

/// 503 `GRANT_NOT_CONFIGURED`: no runner key (`MANA_AI_PUBLIC_KEY_PEM`).
pub fn not_configured() -> ApiError {
    ApiError::new(
        ErrorCode::GrantNotConfigured,
        "mission grants are not configured on this server",
    )
}

/// What a well-formed request for a configured server resolves to.
pub struct Prepared {
    pub derivation: Derivation,
    pub ttl: Duration,
}

/// The checks before the vault is touched, in the original order: the
/// body's shape, a configured runner key, the content.
pub fn prepare(body: Option<&Value>, runner: Option<&RunnerKey>) -> Result<Prepared> {
    let req = GrantRequest::from_json(body)?;
    if runner.is_none() {
        return Err(not_configured());
    }
    Ok(Prepared {
        derivation: derivation(&req)?,
        ttl: ttl(&req),
    })
}

/// Issues a grant from the caller's own vault (inside the vault action's
/// transaction): no vault → 404, zero-knowledge mode → 409.
pub fn issue(
    conn: &Connection,
    user_id: &str,
    derivation: Derivation,
    ttl: Duration,
    runner: &RunnerKey,
    kek: Option<&Kek>,
    now: DateTime<Utc>,
) -> Result<Grant> {
    let row = store::get(conn, user_id)?
        .ok_or_else(|| ApiError::new(ErrorCode::VaultNotInitialised, "vault not initialised"))?;
    if row.zero_knowledge {
        return Err(ApiError::new(
            ErrorCode::ZkActive,
            "mission grants are unavailable in zero-knowledge mode: disable it or use the foreground runner",
        ));
    }
    let master_key = super::server_master_key(&row, user_id, kek)?;
    let master_key: &[u8; 32] = master_key
        .as_slice()
        .try_into()
        .map_err(|_| ApiError::internal("stored master key has the wrong length"))?;
    let mdk = derive_mdk(master_key, &derivation);
    let wrapped = runner.wrap(mdk.as_ref())?;
    use base64::Engine;
    Ok(Grant {
        wrapped_key: base64::engine::general_purpose::STANDARD.encode(wrapped),
        derivation,
        issued_at: iso(now),
        expires_at: iso(now + ttl),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vector() -> Derivation {
        Derivation {
            version: "v1".into(),
            mission_id: "mission-abc".into(),
            tables: vec!["notes".into(), "tasks".into()],
            record_ids: vec!["notes:n1".into(), "tasks:t1".into()],
        }
    }

    fn fixed_master_key() -> [u8; 32] {
        std::array::from_fn(|i| i as u8 + 1)
    }

    #[test]
    fn the_clients_golden_vector_is_reproduced() {
        // The drift guard of the Mana clients' own derivation test: master
        // key 01..20, mission-abc, [notes, tasks], [notes:n1, tasks:t1].
        assert_eq!(
            canonical_info(&vector()),
            "mana-ai-mission-grant:v1:tables=notes,tasks:ids=notes:n1,tasks:t1"
        );
        let mdk = derive_mdk(&fixed_master_key(), &vector());
        assert_eq!(
            hex::encode(mdk.as_ref()),
            "7538df66c51d3ddb667c0135feb4ac7c2800ba372babc7e61e9423d6a9a65628"
        );
    }

    #[test]
    fn scope_order_does_not_matter_but_scope_does() {
        let mk = fixed_master_key();
        let mut swapped = vector();
        swapped.tables.reverse();
        swapped.record_ids.reverse();
        assert_eq!(canonical_info(&swapped), canonical_info(&vector()));
        assert_eq!(*derive_mdk(&mk, &swapped), *derive_mdk(&mk, &vector()));
        let base = *derive_mdk(&mk, &vector());
        let mut other = vector();
        other.tables = vec!["notes".into()];
        assert_ne!(*derive_mdk(&mk, &other), base);
        let mut other = vector();
        other.record_ids.push("notes:n2".into());
        assert_ne!(*derive_mdk(&mk, &other), base);
        let mut other = vector();
        other.mission_id = "mission-abd".into();
        assert_ne!(*derive_mdk(&mk, &other), base);
    }

    #[test]
    fn strings_sort_as_javascript_sorts_them() {
        // U+FFFD is one UTF-16 unit 0xFFFD; U+1F600 starts with 0xD83D, so
        // JavaScript puts the emoji first where byte order would not.
        let sorted = js_sorted(vec!["\u{FFFD}".into(), "\u{1F600}".into(), "a".into()]);
        assert_eq!(sorted, ["a", "\u{1F600}", "\u{FFFD}"]);
    }

    #[test]
    fn requests_are_checked_in_the_original_order() {
        let ok = json!({"missionId": "m", "tables": ["notes"], "recordIds": ["notes:1"]});
        let req = GrantRequest::from_json(Some(&ok)).unwrap();
        assert_eq!(ttl(&req), Duration::days(7));
        for bad_shape in [
            json!(null),
            json!([]),
            json!({"missionId": "", "tables": [], "recordIds": []}),
            json!({"missionId": 1, "tables": [], "recordIds": []}),
            json!({"missionId": "m", "tables": "notes", "recordIds": []}),
            json!({"missionId": "m", "tables": [1], "recordIds": []}),
            json!({"missionId": "m", "tables": [], "recordIds": [null]}),
        ] {
            let e = GrantRequest::from_json(Some(&bad_shape)).unwrap_err();
            assert_eq!(e.code, ErrorCode::BadRequest);
            assert_eq!(e.message, SHAPE_MESSAGE, "{bad_shape}");
        }
        assert!(GrantRequest::from_json(None).is_err());
        for ttl_ms in [
            json!(0),
            json!(-5),
            json!("1000"),
            json!(1e300),
            json!(true),
        ] {
            let body = json!({"missionId": "m", "tables": [], "recordIds": [], "ttlMs": ttl_ms});
            let e = GrantRequest::from_json(Some(&body)).unwrap_err();
            assert!(e.message.starts_with("ttlMs"), "{ttl_ms}");
        }
        let empty = GrantRequest::from_json(Some(
            &json!({"missionId": "m", "tables": [], "recordIds": ["x"]}),
        ))
        .unwrap();
        assert_eq!(
            derivation(&empty).unwrap_err().message,
            "tables must be a non-empty array"
        );
        let many = GrantRequest {
            record_ids: vec!["x".into(); 1001],
            ..req.clone()
        };
        assert_eq!(
            derivation(&many).unwrap_err().message,
            "recordIds must not exceed 1000 entries"
        );
        let long = GrantRequest {
            mission_id: "m".repeat(257),
            ..req.clone()
        };
        assert!(derivation(&long).is_err());
    }

    #[test]
    fn lifetimes_are_clamped_to_an_hour_and_thirty_days() {
        let req = |ms: f64| GrantRequest {
            mission_id: "m".into(),
            tables: vec![],
            record_ids: vec![],
            ttl_ms: Some(ms),
        };
        assert_eq!(ttl(&req(1.0)), Duration::hours(1));
        assert_eq!(ttl(&req(7_200_000.9)), Duration::hours(2));
        assert_eq!(ttl(&req(8e15)), Duration::days(30));
    }

    #[test]
    fn keys_are_checked() {
        assert!(RunnerKey::from_pem("not a key").is_err());
        assert!(
            RunnerKey::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")
                .is_err()
        );
    }
}
