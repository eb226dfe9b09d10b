//! Password hashes made by Better Auth (the framework of the PostgreSQL
//! service this server replaces), as `mana-auth import` brings them over:
//! `saltHex:keyHex`, where the key is scrypt (N = 2^14, r = 16, p = 1,
//! 64 bytes) of the NFKC-normalised password, and the salt input is the
//! 32-character hex string itself (its ASCII bytes), not the 16 bytes it
//! spells. They are verified at sign-in and replaced by argon2id on the
//! first success (`Hasher::verify_for_login`); nothing here makes new ones
//! except for tests and the timing dummy.

use scrypt::Params;
use subtle::ConstantTimeEq;
use unicode_normalization::UnicodeNormalization;

use crate::audit::{self, ClientInfo, Event};
use crate::error::{ApiError, Result};
use crate::users::store as users;

/// log2 of Better Auth's scrypt cost N (16384).
const LOG_N: u8 = 14;
/// Block size r.
const R: u32 = 16;
/// Parallelism p.
const P: u32 = 1;
/// Length of the derived key in bytes.
pub const KEY_LEN: usize = 64;
/// Length of the salt string Better Auth writes (16 random bytes as hex).
const SALT_LEN: usize = 32;

/// A parsed `saltHex:keyHex` hash.
pub struct ScryptHash {
    /// The salt exactly as stored; its bytes are the scrypt salt.
    salt: String,
    key: [u8; KEY_LEN],
}

fn params() -> Result<Params> {
    Params::new(LOG_N, R, P, KEY_LEN)
        .map_err(|e| ApiError::internal(format!("scrypt parameters: {e}")))
}

/// What every scrypt computation here costs, for the timing comparison.
pub fn cost() -> String {
    format!("scrypt N=2^{LOG_N} r={R} p={P} len={KEY_LEN}")
}

impl ScryptHash {
    /// Parses a stored hash; `None` when it is not of this form (a PHC
    /// string starts with `$`, which is never a hex digit).
    pub fn parse(stored: &str) -> Option<Self> {
        let (salt, key_hex) = stored.split_once(':')?;
        if salt.len() != SALT_LEN || !salt.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let mut key = [0u8; KEY_LEN];
        hex::decode_to_slice(key_hex, &mut key).ok()?;
        Some(Self {
            salt: salt.to_owned(),
            key,
        })
    }

    /// A hash of nothing: a random salt and key. Checking a password against
    /// it costs one full scrypt and never matches (2^-512).
    pub fn dummy() -> Self {
        let mut salt = [0u8; SALT_LEN / 2];
        let mut key = [0u8; KEY_LEN];
        rand::Rng::fill(&mut rand::thread_rng(), &mut salt);
        rand::Rng::fill(&mut rand::thread_rng(), &mut key);
        Self {
            salt: hex::encode(salt),
            key,
        }
    }

    /// Derives the key of `password` with this salt and compares it with
    /// the stored one in constant time.
    pub fn verify(&self, password: &str) -> Result<bool> {
        let derived = derive(password, &self.salt)?;
        Ok(bool::from(derived.ct_eq(&self.key)))
    }
}

/// scrypt of the NFKC form of `password` with the salt string's bytes.
fn derive(password: &str, salt: &str) -> Result<[u8; KEY_LEN]> {
    let normalised: String = password.nfkc().collect();
    let mut out = [0u8; KEY_LEN];
    scrypt::scrypt(normalised.as_bytes(), salt.as_bytes(), &params()?, &mut out)
        .map_err(|e| ApiError::internal(format!("scrypt: {e}")))?;
    Ok(out)
}

/// A new hash in Better Auth's format (tests and fixtures only: nothing in
/// the server stores scrypt hashes).
pub fn hash(password: &str) -> Result<String> {
    let mut salt = [0u8; SALT_LEN / 2];
    rand::Rng::fill(&mut rand::thread_rng(), &mut salt);
    let salt = hex::encode(salt);
    let key = derive(password, &salt)?;
    Ok(format!("{salt}:{}", hex::encode(key)))
}

/// A right password whose stored scrypt hash is to be replaced by argon2id.
pub struct Rehash {
    pub user_id: String,
    /// The scrypt hash the password was checked against.
    pub old: String,
    /// Its argon2id replacement.
    pub new: String,
    pub client: ClientInfo,
}

impl Rehash {
    /// Stores the new hash in the caller's transaction (the one that opens
    /// the session or issues the two-factor ticket) and records
    /// PASSWORD_REHASHED; nothing when the password changed meanwhile.
    pub fn apply(&self, tx: &crate::db::Tx, now: &str) -> Result<()> {
        if users::replace_password_hash(tx, &self.user_id, &self.old, &self.new, now)? {
            let meta = serde_json::json!({ "from": "scrypt", "to": "argon2id" });
            audit::record(
                tx,
                Some(&self.user_id),
                Event::PasswordRehashed,
                &self.client,
                meta,
                now,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_the_better_auth_form() {
        let salt = "0123456789abcdef0123456789abcdef";
        let key = "ab".repeat(KEY_LEN);
        assert!(ScryptHash::parse(&format!("{salt}:{key}")).is_some());
        assert!(ScryptHash::parse(&format!("{salt}:{}", &key[2..])).is_none());
        assert!(ScryptHash::parse(&format!("{}:{key}", &salt[1..])).is_none());
        assert!(ScryptHash::parse(&format!("{}x:{key}", &salt[1..])).is_none());
        assert!(ScryptHash::parse("$argon2id$v=19$m=64,t=1,p=1$c2FsdA$aGFzaA").is_none());
        assert!(ScryptHash::parse("").is_none());
    }

    #[test]
    fn salt_is_the_hex_string_and_the_password_is_nfkc() {
        let stored = hash("Pa\u{fb01}word-123").unwrap();
        let parsed = ScryptHash::parse(&stored).unwrap();
        assert!(parsed.verify("Pa\u{fb01}word-123").unwrap());
        // U+FB01 (the "fi" ligature) is "fi" in NFKC.
        assert!(parsed.verify("Pafiword-123").unwrap());
        assert!(!parsed.verify("Pafiword-124").unwrap());
        // The salt bytes are the 32 ASCII characters, not the decoded 16.
        let salt_hex = stored.split_once(':').unwrap().0;
        let mut with_decoded = [0u8; KEY_LEN];
        scrypt::scrypt(
            b"Pafiword-123",
            &hex::decode(salt_hex).unwrap(),
            &params().unwrap(),
            &mut with_decoded,
        )
        .unwrap();
        assert_ne!(with_decoded, parsed.key);
        assert!(!ScryptHash::dummy().verify("Pafiword-123").unwrap());
    }
}
