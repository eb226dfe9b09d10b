//! The pure parts of two-factor authentication: RFC 4226 HOTP and RFC 6238
//! TOTP (HMAC-SHA-1, 6 digits, 30-second steps, ±1 step accepted), base32
//! (RFC 4648, no padding), the `otpauth://` URI, and backup codes. Nothing
//! here touches the database or the clock; time comes in as an argument.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rand::{Rng, RngCore};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{ApiError, Result};

/// Length of a TOTP secret in bytes (160 bits, RFC 4226's recommendation).
pub const SECRET_LEN: usize = 20;
/// Digits of a code.
pub const DIGITS: usize = 6;
/// Seconds per time step.
pub const PERIOD: i64 = 30;
/// Steps accepted before and after the current one (clock drift).
pub const SKEW: i64 = 1;
/// Backup codes handed out at a time.
pub const BACKUP_CODES: usize = 10;
/// Symbols of a backup code: 16 of 31 letters and digits ≈ 79 bits.
const BACKUP_ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyz";
const BACKUP_LEN: usize = 16;

/// A fresh random secret.
pub fn new_secret() -> [u8; SECRET_LEN] {
    let mut secret = [0u8; SECRET_LEN];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    secret
}

/// RFC 4226 HOTP value (before zero padding) of `key` at `counter`.
pub fn hotp(key: &[u8], counter: u64) -> Result<u32> {
    let mut mac = Hmac::<Sha1>::new_from_slice(key).map_err(|_| ApiError::internal("HMAC key"))?;
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    // Dynamic truncation: the low nibble of the last byte picks 4 bytes.
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let word = [
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ];
    Ok(u32::from_be_bytes(word) % 1_000_000)
}

/// The 6-digit code of `key` at time step `step`.
pub fn code_at(key: &[u8], step: i64) -> Result<String> {
    let counter = u64::try_from(step).map_err(|_| ApiError::internal("negative time step"))?;
    Ok(format!("{:06}", hotp(key, counter)?))
}

/// The time step `now` falls in.
pub fn step_at(now: DateTime<Utc>) -> i64 {
    now.timestamp().div_euclid(PERIOD)
}

/// The step within ±`SKEW` of `now` whose code is `code`, if any. Every
/// candidate is computed and compared in constant time.
pub fn matching_step(key: &[u8], code: &str, now: DateTime<Utc>) -> Result<Option<i64>> {
    let current = step_at(now);
    let mut found = None;
    for step in current - SKEW..=current + SKEW {
        if bool::from(code_at(key, step)?.as_bytes().ct_eq(code.as_bytes())) {
            found = Some(step);
        }
    }
    Ok(found)
}

/// A submitted TOTP code: exactly 6 ASCII digits once spaces are removed;
/// anything else is 400 VALIDATION (it cannot be a guess, so it is not
/// counted toward the lockout).
pub fn parse_code(input: &str) -> Result<String> {
    let code: String = input.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() == DIGITS && code.bytes().all(|b| b.is_ascii_digit()) {
        Ok(code)
    } else {
        Err(ApiError::validation("code must be 6 digits"))
    }
}

/// RFC 4648 base32 without padding, as authenticator apps expect.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Percent-encodes everything but RFC 3986 unreserved characters (and `@`,
/// which is allowed in a path and reads better in an account label).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `otpauth://totp/...` URI for an authenticator app.
pub fn otpauth_uri(issuer: &str, email: &str, secret: &[u8]) -> String {
    let issuer = encode(issuer);
    format!(
        "otpauth://totp/{issuer}:{}?secret={}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={PERIOD}",
        encode(email),
        base32(secret)
    )
}

/// `BACKUP_CODES` fresh backup codes, shown as `xxxx-xxxx-xxxx-xxxx`.
pub fn new_backup_codes() -> Vec<String> {
    let mut rng = rand::rngs::OsRng;
    (0..BACKUP_CODES)
        .map(|_| {
            let raw: Vec<u8> = (0..BACKUP_LEN)
                .map(|_| BACKUP_ALPHABET[rng.gen_range(0..BACKUP_ALPHABET.len())])
                .collect();
            raw.chunks(4)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join("-")
        })
        .collect()
}

/// Length of a Better Auth backup code (imported ones): letters and digits,
/// case-sensitive, shown as `xxxxx-xxxxx`.
const BETTER_AUTH_BACKUP_LEN: usize = 10;

/// A submitted backup code in its canonical form (no dashes or spaces;
/// ours lower case, an imported Better Auth code as it was issued, case
/// and all); anything that cannot be a backup code is 400 VALIDATION.
pub fn parse_backup_code(input: &str) -> Result<String> {
    let code: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    let lower = code.to_ascii_lowercase();
    if lower.len() == BACKUP_LEN && lower.bytes().all(|b| BACKUP_ALPHABET.contains(&b)) {
        Ok(lower)
    } else if code.len() == BETTER_AUTH_BACKUP_LEN
        && code.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        Ok(code)
    } else {
        Err(ApiError::validation("not a backup code"))
    }
}

/// What is stored of a backup code: SHA-256 over a domain tag, the user id
/// and the canonical code. The code carries ~79 random bits, so a fast hash
/// is enough (as for session tokens and API keys); the user id keeps equal
/// codes of two users apart.
pub fn hash_backup_code(user_id: &str, canonical: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"mana-auth backup code v1\0");
    h.update(user_id.as_bytes());
    h.update(b"\0");
    h.update(canonical.as_bytes());
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vectors() {
        // RFC 6238 appendix B, SHA-1 seed, last 6 of the 8 digits.
        let key = b"12345678901234567890";
        for (t, expected) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
            (20_000_000_000, "353130"),
        ] {
            let now = DateTime::from_timestamp(t, 0).unwrap();
            assert_eq!(code_at(key, step_at(now)).unwrap(), expected, "t={t}");
        }
    }

    #[test]
    fn window_is_one_step_each_way() {
        let key = b"12345678901234567890";
        let now = DateTime::from_timestamp(1_111_111_111, 0).unwrap();
        let s = step_at(now);
        for d in -1..=1 {
            let code = code_at(key, s + d).unwrap();
            assert_eq!(matching_step(key, &code, now).unwrap(), Some(s + d));
        }
        for d in [-2, 2] {
            let code = code_at(key, s + d).unwrap();
            assert_eq!(matching_step(key, &code, now).unwrap(), None);
        }
    }

    #[test]
    fn base32_matches_rfc4648() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"fooba"), "MZXW6YTB");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(&[0u8; 20]).len(), 32);
    }

    #[test]
    fn codes_are_parsed_strictly() {
        assert_eq!(parse_code(" 123 456 ").unwrap(), "123456");
        for bad in ["12345", "1234567", "12345a", "", "１２３４５６"] {
            assert!(parse_code(bad).is_err(), "{bad}");
        }
        let codes = new_backup_codes();
        assert_eq!(codes.len(), 10);
        for c in &codes {
            assert_eq!(c.len(), 19);
            let canonical = parse_backup_code(&c.to_uppercase()).unwrap();
            assert_eq!(canonical, c.replace('-', ""));
        }
        assert!(parse_backup_code("123456").is_err());
        // Better Auth's codes (imported): 10 letters and digits, case kept.
        assert_eq!(parse_backup_code("AbC12-xY9z0").unwrap(), "AbC12xY9z0");
        assert_eq!(parse_backup_code(" abc12xy9z0 ").unwrap(), "abc12xy9z0");
        assert!(parse_backup_code("AbC12-xY9z").is_err());
        assert!(parse_backup_code("AbC12-xY9z!").is_err());
    }

    #[test]
    fn uri_has_issuer_label_and_parameters() {
        let uri = otpauth_uri("Mana Core", "a+b@x.de", b"fooba");
        assert_eq!(
            uri,
            "otpauth://totp/Mana%20Core:a%2Bb@x.de?secret=MZXW6YTB&issuer=Mana%20Core&algorithm=SHA1&digits=6&period=30"
        );
    }
}
