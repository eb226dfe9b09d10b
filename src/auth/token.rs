//! Access tokens: EdDSA (Ed25519) JWTs with a `kid`, the JWKS that publishes
//! their keys, and key rotation. Keys are parsed once at start (and on
//! reload), never per request: the signing key expanded, the public key
//! decompressed to a curve point. Only EdDSA is accepted on verify, and only
//! with a known `kid`, so `alg: none`, HS256-with-the-public-key and `kid`
//! injection all fail; signatures are checked with `verify_strict`.
//!
//! The private keys are stored sealed under `MANA_AUTH_KEK` when one is set
//! (`vault::at_rest`); a key that cannot be opened stops start-up and is
//! never replaced by a new one.
//!
//! The compact JWS form is written and read here directly (three base64url
//! parts, RFC 7515/8037); the tests check the tokens with the independent
//! `jsonwebtoken` crate.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::clock::iso;
use crate::db::Tx;
use crate::error::{ApiError, ErrorCode, Result};
use crate::vault::{at_rest, Kek};

/// Lifetime of an access token.
pub const ACCESS_TTL: Duration = Duration::minutes(15);

/// The claims of an access token; nothing else goes in.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Claims {
    pub sub: String,
    pub email: String,
    pub role: String,
    pub sid: String,
    pub tier: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
}

/// The published public keys (a JWK set).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// One public key: an Ed25519 `OKP` key for `EdDSA` signatures. Fields in
/// alphabetical order (the order the set was always sent in).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Jwk {
    pub alg: &'static str,
    pub crv: &'static str,
    pub kid: String,
    pub kty: &'static str,
    #[serde(rename = "use")]
    pub use_: &'static str,
    /// The public key, base64url without padding.
    pub x: String,
}

/// One signing key, parsed.
struct Key {
    kid: String,
    signing: SigningKey,
    verifying: VerifyingKey,
    /// `base64url({"typ":"JWT","alg":"EdDSA","kid":…})`, the first part of
    /// every token this key signs.
    header_b64: String,
    public: [u8; 32],
    retired_at: Option<DateTime<Utc>>,
}

/// The JOSE header of our tokens.
#[derive(Serialize)]
struct JoseHeader<'a> {
    typ: &'a str,
    alg: &'a str,
    kid: &'a str,
}

/// The fields of a presented token's header that matter.
#[derive(Deserialize)]
struct PresentedHeader {
    alg: String,
    kid: Option<String>,
}

/// Signs and verifies access tokens.
pub struct Tokens {
    keys: RwLock<Arc<Vec<Key>>>,
    issuer: String,
    audience: String,
    kek: Option<Kek>,
    verified: Mutex<HashMap<Box<str>, Verified>>,
}

/// Tokens remembered as verified, at most.
const VERIFIED_MAX: usize = 8192;

/// A token that passed every check, remembered so that presenting it again
/// (a client uses its access token for up to 15 minutes, on every call)
/// costs a map lookup instead of an Ed25519 verification, ≈40 % of the CPU
/// of `/session`. Keyed by the signature part; the whole token must match.
/// On a hit the expiry is checked again and the key that signed it must
/// still be loaded (a key removed after rotation ends its tokens as before).
/// Only successes go in, so garbage cannot fill it; when full, expired
/// entries go first, then all (≤ 8192 × ≈1 KB).
struct Verified {
    token: Box<str>,
    kid: String,
    claims: Claims,
}

/// A stored key row.
struct KeyRow {
    kid: String,
    /// PKCS#8 DER, sealed when `kek_id` is set.
    private_der: Vec<u8>,
    kek_id: Option<String>,
    public_key: Vec<u8>,
    retired_at: Option<String>,
}

fn load_rows(conn: &Connection) -> Result<Vec<KeyRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT kid, private_der, kek_id, public_key, retired_at FROM jwt_keys ORDER BY created_at DESC",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok(KeyRow {
                kid: r.get(0)?,
                private_der: r.get(1)?,
                kek_id: r.get(2)?,
                public_key: r.get(3)?,
                retired_at: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

fn load_keys(conn: &Connection, kek: Option<&Kek>) -> Result<Vec<Key>> {
    load_rows(conn)?
        .into_iter()
        .map(|row| parse(row, kek))
        .collect()
}

fn parse(row: KeyRow, kek: Option<&Kek>) -> Result<Key> {
    let public: [u8; 32] = row
        .public_key
        .as_slice()
        .try_into()
        .map_err(|_| ApiError::internal("stored public key is not 32 bytes"))?;
    let der = at_rest::open(
        kek,
        &at_rest::aad("jwt_keys", &row.kid),
        &row.private_der,
        row.kek_id.as_deref(),
    )?;
    let signing = SigningKey::from_pkcs8_der(&der)
        .map_err(|e| ApiError::internal(format!("stored signing key unreadable: {e}")))?;
    let verifying = VerifyingKey::from_bytes(&public)
        .map_err(|e| ApiError::internal(format!("stored public key unreadable: {e}")))?;
    let header = serde_json::to_vec(&JoseHeader {
        typ: "JWT",
        alg: "EdDSA",
        kid: &row.kid,
    })
    .map_err(|e| ApiError::internal(format!("jwt header: {e}")))?;
    Ok(Key {
        signing,
        verifying,
        header_b64: URL_SAFE_NO_PAD.encode(header),
        public,
        retired_at: row.retired_at.as_deref().and_then(crate::clock::parse_iso),
        kid: row.kid,
    })
}

/// Inserts a fresh Ed25519 key, sealed under `kek` when there is one;
/// returns its kid.
pub fn create_key(tx: &Tx, now: DateTime<Utc>, kek: Option<&Kek>) -> Result<String> {
    let mut seed = [0u8; 32];
    rand::Rng::fill(&mut rand::rngs::OsRng, &mut seed);
    let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
    let der = signing
        .to_pkcs8_der()
        .map_err(|e| ApiError::internal(format!("pkcs8 encode: {e}")))?;
    let public = signing.verifying_key().to_bytes();
    let mut kid_bytes = [0u8; 8];
    rand::Rng::fill(&mut rand::rngs::OsRng, &mut kid_bytes);
    let kid = hex::encode(kid_bytes);
    let (stored, kek_id) = at_rest::seal(kek, &at_rest::aad("jwt_keys", &kid), der.as_bytes())?;
    tx.execute(
        "INSERT INTO jwt_keys (kid, private_der, kek_id, public_key, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![kid, stored, kek_id, public.as_slice(), iso(now)],
    )?;
    Ok(kid)
}

/// Creates the first key if there is none (inside the caller's transaction).
/// Run after `at_rest::prepare`, which refuses a file whose keys the
/// configured KEK cannot open, so a key that exists is never replaced.
pub fn ensure_key(tx: &Tx, now: DateTime<Utc>, kek: Option<&Kek>) -> Result<()> {
    let active: Option<String> = tx
        .query_row(
            "SELECT kid FROM jwt_keys WHERE retired_at IS NULL LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if active.is_none() {
        create_key(tx, now, kek)?;
    }
    Ok(())
}

/// Retires the active key(s) and creates a new one (sealed under `kek`);
/// returns the new kid. Checks and seals the stored secrets first
/// (`at_rest::prepare`), so a rotation with a missing or wrong KEK changes
/// nothing.
pub fn rotate(tx: &Tx, now: DateTime<Utc>, kek: Option<&Kek>) -> Result<String> {
    at_rest::prepare(tx, kek)?;
    tx.execute(
        "UPDATE jwt_keys SET retired_at = ?1 WHERE retired_at IS NULL",
        params![iso(now)],
    )?;
    // Keys whose tokens have all expired are no longer needed.
    let cutoff = iso(now - ACCESS_TTL - Duration::minutes(5));
    tx.execute(
        "DELETE FROM jwt_keys WHERE retired_at IS NOT NULL AND retired_at < ?1",
        params![cutoff],
    )?;
    create_key(tx, now, kek)
}

/// Why a token was not accepted.
#[derive(Debug, PartialEq, Eq)]
pub enum TokenError {
    /// Signature, algorithm, kid, issuer or audience wrong, or not a JWT.
    Invalid,
    /// Well-formed and signed, but past `exp`.
    Expired,
}

impl Tokens {
    /// Loads the stored keys, opening sealed ones with `kek`.
    pub fn load(
        conn: &Connection,
        issuer: String,
        audience: String,
        kek: Option<Kek>,
    ) -> Result<Self> {
        let keys = load_keys(conn, kek.as_ref())?;
        Ok(Self {
            keys: RwLock::new(Arc::new(keys)),
            issuer,
            audience,
            kek,
            verified: Mutex::new(HashMap::new()),
        })
    }

    /// Re-reads keys (after a rotation by the CLI), with the same KEK.
    pub fn reload(&self, conn: &Connection) -> Result<()> {
        let keys = load_keys(conn, self.kek.as_ref())?;
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(keys);
        Ok(())
    }

    fn snapshot(&self) -> Arc<Vec<Key>> {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The kid new tokens are signed with.
    pub fn active_kid(&self) -> Option<String> {
        self.snapshot()
            .iter()
            .find(|k| k.retired_at.is_none())
            .map(|k| k.kid.clone())
    }

    /// The issuer (`BASE_URL`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Signs an access token for the given identity.
    pub fn issue(
        &self,
        user: &crate::users::User,
        session_id: &str,
        now: DateTime<Utc>,
    ) -> Result<String> {
        let keys = self.snapshot();
        let key = keys
            .iter()
            .find(|k| k.retired_at.is_none())
            .ok_or_else(|| ApiError::internal("no active signing key"))?;
        let claims = Claims {
            sub: user.id.clone(),
            email: user.email.clone(),
            role: user.role.clone(),
            sid: session_id.to_owned(),
            tier: user.access_tier.clone(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now.timestamp(),
            exp: (now + ACCESS_TTL).timestamp(),
        };
        let payload = serde_json::to_vec(&claims)
            .map_err(|e| ApiError::internal(format!("jwt claims: {e}")))?;
        let mut token = String::with_capacity(key.header_b64.len() + payload.len() * 4 / 3 + 90);
        token.push_str(&key.header_b64);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut token);
        let signature = key.signing.sign(token.as_bytes());
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.to_bytes(), &mut token);
        Ok(token)
    }

    /// Verifies signature, algorithm, kid, issuer, audience and expiry.
    pub fn verify(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> std::result::Result<Claims, TokenError> {
        let signature64 = token.rsplit('.').next().unwrap_or("");
        if let Some(known) = self.recall(token, signature64, now) {
            return known;
        }
        let (claims, kid) = self.verify_fully(token, now)?;
        self.remember(token, signature64, kid, &claims, now);
        Ok(claims)
    }

    /// The answer for a token verified before, if it is still remembered.
    fn recall(
        &self,
        token: &str,
        signature64: &str,
        now: DateTime<Utc>,
    ) -> Option<std::result::Result<Claims, TokenError>> {
        let mut map = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        let hit = map.get(signature64).filter(|v| &*v.token == token)?;
        if hit.claims.exp <= now.timestamp() {
            map.remove(signature64);
            return Some(Err(TokenError::Expired));
        }
        if !self.snapshot().iter().any(|k| k.kid == hit.kid) {
            map.remove(signature64);
            return None;
        }
        Some(Ok(hit.claims.clone()))
    }

    fn remember(
        &self,
        token: &str,
        signature64: &str,
        kid: String,
        claims: &Claims,
        now: DateTime<Utc>,
    ) {
        let mut map = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= VERIFIED_MAX {
            let now = now.timestamp();
            map.retain(|_, v| v.claims.exp > now);
            if map.len() >= VERIFIED_MAX {
                map.clear();
            }
        }
        map.insert(
            signature64.into(),
            Verified {
                token: token.into(),
                kid,
                claims: claims.clone(),
            },
        );
    }

    /// Every check, with the signature; returns the claims and the kid.
    fn verify_fully(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> std::result::Result<(Claims, String), TokenError> {
        let mut parts = token.split('.');
        let (Some(header64), Some(payload64), Some(signature64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Invalid);
        };
        let b64 = |part: &str| {
            URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|_| TokenError::Invalid)
        };
        let header: PresentedHeader =
            serde_json::from_slice(&b64(header64)?).map_err(|_| TokenError::Invalid)?;
        if header.alg != "EdDSA" {
            return Err(TokenError::Invalid);
        }
        let kid = header.kid.ok_or(TokenError::Invalid)?;
        let keys = self.snapshot();
        let key = keys
            .iter()
            .find(|k| k.kid == kid)
            .ok_or(TokenError::Invalid)?;
        let signature: [u8; 64] = b64(signature64)?
            .as_slice()
            .try_into()
            .map_err(|_| TokenError::Invalid)?;
        // The signed message is the first two parts as sent.
        let signed = &token[..header64.len() + 1 + payload64.len()];
        key.verifying
            .verify_strict(
                signed.as_bytes(),
                &ed25519_dalek::Signature::from_bytes(&signature),
            )
            .map_err(|_| TokenError::Invalid)?;
        // Every claim is required (the struct has no optional field).
        let claims: Claims =
            serde_json::from_slice(&b64(payload64)?).map_err(|_| TokenError::Invalid)?;
        if claims.iss != self.issuer || claims.aud != self.audience {
            return Err(TokenError::Invalid);
        }
        if claims.exp <= now.timestamp() {
            return Err(TokenError::Expired);
        }
        Ok((claims, kid))
    }

    /// The JWKS document: the active key and retired keys whose tokens may
    /// still be valid.
    pub fn jwks(&self, now: DateTime<Utc>) -> Jwks {
        let keys = self
            .snapshot()
            .iter()
            .filter(|k| k.retired_at.is_none_or(|r| r + ACCESS_TTL > now))
            .map(|k| Jwk {
                alg: "EdDSA",
                crv: "Ed25519",
                kid: k.kid.clone(),
                kty: "OKP",
                use_: "sig",
                x: URL_SAFE_NO_PAD.encode(k.public),
            })
            .collect();
        Jwks { keys }
    }
}

/// Re-reads the signing keys every `period`, so a key rotated by the CLI
/// (another process on the same file) is used for signing and published
/// without a restart. A failed read keeps the current keys.
pub async fn reload_every(db: crate::db::Db, tokens: Arc<Tokens>, period: std::time::Duration) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let t = tokens.clone();
        if let Err(e) = db.read(move |c| t.reload(c)).await {
            tracing::warn!(error = %e, "reloading signing keys failed");
        }
    }
}

/// Maps a token failure to the API error for protected routes.
pub fn unauthorized(e: TokenError) -> ApiError {
    match e {
        TokenError::Expired => ApiError::new(ErrorCode::TokenExpired, "access token expired"),
        TokenError::Invalid => ApiError::new(ErrorCode::Unauthorized, "invalid access token"),
    }
}
