//! Opening what the PostgreSQL service stored encrypted:
//!
//! * two-factor secrets and backup codes, sealed by Better Auth's
//!   `symmetricEncrypt` with `BETTER_AUTH_SECRET`: the key is SHA-256 of the
//!   secret string, the cipher XChaCha20-Poly1305, the stored text the hex
//!   of a 24-byte nonce followed by ciphertext and tag (with rotated
//!   secrets, prefixed `$ba$<version>$`);
//! * vault master keys, wrapped with AES-256-GCM under the service's KEK
//!   (base64 ciphertext with the tag appended, base64 12-byte IV, no
//!   associated data).
//!
//! Secrets come in as `Secret` so they cannot be printed by accident.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

/// Length of the XChaCha20 nonce in front of the ciphertext.
const NONCE_LEN: usize = 24;

/// A secret value; its `Debug` prints `***`.
#[derive(Clone)]
pub struct Secret<T>(pub T);

impl<T> std::fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Opens a value sealed by Better Auth's `symmetricEncrypt` with `secret`;
/// `None` when it does not open (wrong secret, not sealed, tampered).
pub fn better_auth_decrypt(secret: &Secret<String>, sealed: &str) -> Option<String> {
    // A rotated-secrets envelope: `$ba$<version>$<hex>`; the caller passes
    // the secret of that version.
    let hex_text = match sealed.strip_prefix("$ba$") {
        Some(rest) => rest.split_once('$')?.1,
        None => sealed,
    };
    let bytes = hex::decode(hex_text).ok()?;
    if bytes.len() <= NONCE_LEN {
        return None;
    }
    let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
    let key = Sha256::digest(secret.0.as_bytes());
    let cipher = XChaCha20Poly1305::new_from_slice(&key).ok()?;
    let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
    let plain = cipher.decrypt(&XNonce::from(nonce), ciphertext).ok()?;
    String::from_utf8(plain).ok()
}

/// Why a vault key did not unwrap.
#[derive(Debug, PartialEq, Eq)]
pub enum UnwrapError {
    /// Not base64, or the IV is not 12 bytes.
    Malformed,
    /// The tag does not verify: another KEK, or a damaged row.
    WrongKek,
    /// It opened, but is not a 32-byte key.
    WrongLength,
}

/// Unwraps a vault master key stored by the service (`wrapped_mk`,
/// `wrap_iv`, both base64) with its KEK.
pub fn unwrap_vault_key(
    kek: &Secret<[u8; 32]>,
    wrapped_b64: &str,
    iv_b64: &str,
) -> Result<Secret<[u8; 32]>, UnwrapError> {
    let wrapped = STANDARD
        .decode(wrapped_b64.trim())
        .map_err(|_| UnwrapError::Malformed)?;
    let iv = STANDARD
        .decode(iv_b64.trim())
        .map_err(|_| UnwrapError::Malformed)?;
    let iv: [u8; 12] = iv.try_into().map_err(|_| UnwrapError::Malformed)?;
    let cipher = Aes256Gcm::new_from_slice(&kek.0).map_err(|_| UnwrapError::Malformed)?;
    let plain = cipher
        .decrypt(&Nonce::from(iv), wrapped.as_slice())
        .map_err(|_| UnwrapError::WrongKek)?;
    let key: [u8; 32] = plain.try_into().map_err(|_| UnwrapError::WrongLength)?;
    Ok(Secret(key))
}

/// Decodes base64 in either alphabet, padded or not (passkey public keys
/// and credential ids arrive as base64url, some as padded standard base64).
pub fn decode_base64_any(text: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let text = text.trim().trim_end_matches('=');
    if text.contains(['+', '/']) {
        STANDARD_NO_PAD.decode(text).ok()
    } else {
        URL_SAFE_NO_PAD.decode(text).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal(secret: &str, data: &str) -> String {
        let key = Sha256::digest(secret.as_bytes());
        let cipher = XChaCha20Poly1305::new_from_slice(&key).unwrap();
        let mut nonce = [0u8; NONCE_LEN];
        rand::Rng::fill(&mut rand::thread_rng(), &mut nonce);
        let nonce = XNonce::from(nonce);
        let mut out = nonce.to_vec();
        out.extend(cipher.encrypt(&nonce, data.as_bytes()).unwrap());
        hex::encode(out)
    }

    #[test]
    fn opens_what_symmetric_encrypt_seals() {
        let secret = Secret("better-auth-secret-of-the-service".to_owned());
        let sealed = seal(&secret.0, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP");
        assert_eq!(
            better_auth_decrypt(&secret, &sealed).as_deref(),
            Some("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
        );
        assert_eq!(
            better_auth_decrypt(&secret, &format!("$ba$2${sealed}")).as_deref(),
            Some("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
        );
        let other = Secret("another secret".to_owned());
        assert_eq!(better_auth_decrypt(&other, &sealed), None);
        assert_eq!(better_auth_decrypt(&secret, "not hex"), None);
        assert_eq!(better_auth_decrypt(&secret, &sealed[..40]), None);
    }

    #[test]
    fn unwraps_the_service_vault_wrap() {
        let kek = Secret([7u8; 32]);
        let mk = [42u8; 32];
        let cipher = Aes256Gcm::new_from_slice(&kek.0).unwrap();
        let iv = [3u8; 12];
        let wrapped = cipher.encrypt(&Nonce::from(iv), mk.as_slice()).unwrap();
        let (w, i) = (STANDARD.encode(&wrapped), STANDARD.encode(iv));
        assert_eq!(unwrap_vault_key(&kek, &w, &i).unwrap().0, mk);
        let wrong = Secret([8u8; 32]);
        assert_eq!(
            unwrap_vault_key(&wrong, &w, &i).err(),
            Some(UnwrapError::WrongKek)
        );
        assert_eq!(
            unwrap_vault_key(&kek, &w, "AAAA").err(),
            Some(UnwrapError::Malformed)
        );
        let short = cipher.encrypt(&Nonce::from(iv), &mk[..16]).unwrap();
        assert_eq!(
            unwrap_vault_key(&kek, &STANDARD.encode(short), &i).err(),
            Some(UnwrapError::WrongLength)
        );
    }

    #[test]
    fn base64_in_both_alphabets() {
        let bytes: Vec<u8> = (0..=255u8).collect();
        for text in [
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes),
            base64::engine::general_purpose::URL_SAFE.encode(&bytes),
            STANDARD.encode(&bytes),
        ] {
            assert_eq!(decode_base64_any(&text).unwrap(), bytes, "{text}");
        }
        assert!(decode_base64_any("*not*").is_none());
    }
}
