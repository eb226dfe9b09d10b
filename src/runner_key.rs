//! The AI runner's RSA public key (`MANA_AI_PUBLIC_KEY_PEM`), under which
//! mission grants (`vault::grant`) are encrypted. It sits below `config`,
//! which checks at start-up that the configured key parses.

use std::path::Path;

use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;
use rsa::{Oaep, RsaPublicKey};
use sha2::Sha256;

use crate::error::{ApiError, Result};

/// The runner's RSA public key, parsed once at start-up.
#[derive(Clone, Debug)]
pub struct RunnerKey(RsaPublicKey);

impl RunnerKey {
    /// Parses the PEM text of an SPKI (`BEGIN PUBLIC KEY`) RSA key of 2048 to
    /// 4096 bits. Literal `\n` sequences (a PEM squeezed into one line of an
    /// env file) count as line breaks.
    pub fn from_pem(pem: &str) -> std::result::Result<Self, String> {
        let pem = pem.trim().replace("\\n", "\n");
        let key = RsaPublicKey::from_public_key_pem(&pem).map_err(|_| {
            "is not the PEM text of an RSA public key in SPKI form (-----BEGIN PUBLIC KEY-----)"
                .to_owned()
        })?;
        let bits = key.size() * 8;
        if !(2048..=4096).contains(&bits) {
            return Err(format!(
                "is a {bits}-bit RSA key; 2048 to 4096 bits are accepted"
            ));
        }
        Ok(Self(key))
    }

    /// The key configured by `MANA_AI_PUBLIC_KEY_PEM` (`pem`) or
    /// `MANA_AI_PUBLIC_KEY_PEM_FILE` (`file`); `Ok(None)` when neither is
    /// set. The error names the setting.
    pub fn from_settings(
        pem: Option<&str>,
        file: Option<&Path>,
    ) -> std::result::Result<Option<Self>, String> {
        match (pem, file) {
            (None, None) => Ok(None),
            (Some(_), Some(_)) => Err(
                "MANA_AI_PUBLIC_KEY_PEM and MANA_AI_PUBLIC_KEY_PEM_FILE are both set: set one"
                    .to_owned(),
            ),
            (Some(pem), None) => Self::from_pem(pem)
                .map(Some)
                .map_err(|e| format!("MANA_AI_PUBLIC_KEY_PEM {e}")),
            (None, Some(path)) => {
                let pem = std::fs::read_to_string(path).map_err(|e| {
                    format!(
                        "MANA_AI_PUBLIC_KEY_PEM_FILE {} cannot be read: {e}",
                        path.display()
                    )
                })?;
                Self::from_pem(&pem)
                    .map(Some)
                    .map_err(|e| format!("MANA_AI_PUBLIC_KEY_PEM_FILE {} {e}", path.display()))
            }
        }
    }

    /// RSA-OAEP-SHA-256 encryption of `plain` (fresh randomness each call).
    pub fn wrap(&self, plain: &[u8]) -> Result<Vec<u8>> {
        self.0
            .encrypt(&mut rand::rngs::OsRng, Oaep::new::<Sha256>(), plain)
            .map_err(|e| ApiError::internal(format!("RSA-OAEP wrap failed: {e}")))
    }
}
