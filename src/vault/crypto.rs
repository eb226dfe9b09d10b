//! The key-encryption key and the AES-256-GCM wrap of master keys. The KEK
//! lives only in memory (`Kek`, whose `Debug` prints `***`); the database
//! holds only its fingerprint (`kek_id`).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::error::{ApiError, ErrorCode, Result};

/// Length of a master key.
pub const MASTER_KEY_LEN: usize = 32;
/// Length of a GCM IV.
pub const IV_LEN: usize = 12;

/// The key-encryption key with its public fingerprint.
#[derive(Clone)]
pub struct Kek {
    key: [u8; 32],
    id: String,
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Kek({}, ***)", self.id)
    }
}

impl Kek {
    /// A KEK from raw bytes.
    pub fn new(key: [u8; 32]) -> Self {
        let mut h = Sha256::new();
        h.update(b"mana-auth kek id v1\0");
        h.update(key);
        let id = format!("kek-{}", hex::encode(&h.finalize()[..8]));
        Self { key, id }
    }

    /// The configured KEK (`MANA_AUTH_KEK`), if any.
    pub fn from_config(config: &Config) -> Option<Self> {
        config.kek().map(Self::new)
    }

    /// Fingerprint stored next to each wrap: a hash, not the key.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn cipher(&self) -> Result<Aes256Gcm> {
        Aes256Gcm::new_from_slice(&self.key).map_err(|_| ApiError::internal("KEK length"))
    }

    /// Wraps a master key for a user: (ciphertext with tag, fresh random IV).
    /// The user id is bound as associated data, so a wrap cannot be moved to
    /// another account.
    pub fn wrap(&self, user_id: &str, master_key: &[u8]) -> Result<(Vec<u8>, [u8; IV_LEN])> {
        let mut iv = [0u8; IV_LEN];
        rand::rngs::OsRng.fill_bytes(&mut iv);
        let payload = Payload {
            msg: master_key,
            aad: user_id.as_bytes(),
        };
        let sealed = self
            .cipher()?
            .encrypt(&Nonce::from(iv), payload)
            .map_err(|_| ApiError::internal("vault wrap failed"))?;
        Ok((sealed, iv))
    }

    /// Unwraps a master key; a wrong KEK or a tampered row is a 503 naming
    /// the likely cause, never the key material.
    pub fn unwrap_key(&self, user_id: &str, sealed: &[u8], iv: &[u8]) -> Result<Vec<u8>> {
        let iv: [u8; IV_LEN] = iv
            .try_into()
            .map_err(|_| ApiError::internal("stored vault IV has the wrong length"))?;
        let payload = Payload {
            msg: sealed,
            aad: user_id.as_bytes(),
        };
        self.cipher()?
            .decrypt(&Nonce::from(iv), payload)
            .map_err(|_| {
                ApiError::new(
                    ErrorCode::ServiceUnavailable,
                    "vault key cannot be unwrapped with the configured MANA_AUTH_KEK",
                )
            })
    }
}

impl Kek {
    /// Seals a server secret for storage: `IV ‖ ciphertext ‖ tag` with a
    /// fresh random IV; `aad` names the row (table and key), so a sealed
    /// value cannot be moved to another row.
    pub fn seal(&self, aad: &str, clear: &[u8]) -> Result<Vec<u8>> {
        let mut iv = [0u8; IV_LEN];
        rand::rngs::OsRng.fill_bytes(&mut iv);
        let payload = Payload {
            msg: clear,
            aad: aad.as_bytes(),
        };
        let sealed = self
            .cipher()?
            .encrypt(&Nonce::from(iv), payload)
            .map_err(|_| ApiError::internal("sealing a secret failed"))?;
        let mut out = Vec::with_capacity(IV_LEN + sealed.len());
        out.extend_from_slice(&iv);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens what `seal` made for the same `aad`. A wrong KEK or a tampered
    /// row is an error naming neither the key nor the secret.
    pub fn open(&self, aad: &str, sealed: &[u8]) -> Result<Vec<u8>> {
        if sealed.len() < IV_LEN + 16 {
            return Err(ApiError::internal(format!("sealed {aad} is too short")));
        }
        let (iv, body) = sealed.split_at(IV_LEN);
        let iv: [u8; IV_LEN] = iv
            .try_into()
            .map_err(|_| ApiError::internal("sealed IV length"))?;
        let payload = Payload {
            msg: body,
            aad: aad.as_bytes(),
        };
        self.cipher()?
            .decrypt(&Nonce::from(iv), payload)
            .map_err(|_| {
                ApiError::new(
                    ErrorCode::ServiceUnavailable,
                    format!("{aad} cannot be unwrapped with the configured MANA_AUTH_KEK"),
                )
            })
    }
}

/// The bytes a sealed secret of `clear_len` bytes takes in storage.
pub const fn sealed_len(clear_len: usize) -> usize {
    IV_LEN + clear_len + 16
}

/// A new random master key.
pub fn new_master_key() -> [u8; MASTER_KEY_LEN] {
    let mut mk = [0u8; MASTER_KEY_LEN];
    rand::rngs::OsRng.fill_bytes(&mut mk);
    mk
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_round_trips_and_binds_user_and_kek() {
        let kek = Kek::new([7u8; 32]);
        let mk = new_master_key();
        let (sealed, iv) = kek.wrap("u1", &mk).unwrap();
        assert_eq!(sealed.len(), 48);
        assert_ne!(&sealed[..32], &mk[..]);
        assert_eq!(kek.unwrap_key("u1", &sealed, &iv).unwrap(), mk);
        assert!(kek.unwrap_key("u2", &sealed, &iv).is_err());
        assert!(Kek::new([8u8; 32]).unwrap_key("u1", &sealed, &iv).is_err());
        let (_, iv2) = kek.wrap("u1", &mk).unwrap();
        assert_ne!(iv, iv2);
        assert!(!format!("{kek:?}").contains("7, 7"));
    }

    #[test]
    fn seal_round_trips_and_binds_the_row_and_the_kek() {
        let kek = Kek::new([7u8; 32]);
        let sealed = kek.seal("jwt_keys:k1", b"twenty-bytes-secret!").unwrap();
        assert_eq!(sealed.len(), sealed_len(20));
        assert!(!sealed.windows(20).any(|w| w == b"twenty-bytes-secret!"));
        assert_eq!(
            kek.open("jwt_keys:k1", &sealed).unwrap(),
            b"twenty-bytes-secret!"
        );
        assert!(kek.open("jwt_keys:k2", &sealed).is_err());
        assert!(Kek::new([8u8; 32]).open("jwt_keys:k1", &sealed).is_err());
        assert!(kek.open("jwt_keys:k1", &sealed[..20]).is_err());
        assert_ne!(kek.seal("a", b"x").unwrap(), kek.seal("a", b"x").unwrap());
    }
}
