//! Password hashing with argon2id (PHC strings). Hashing runs on a dedicated
//! pool of threads sized to the cores with a bounded queue, so a burst of
//! logins queues instead of allocating 19 MiB per request at once; each
//! thread keeps its argon2 working memory for its lifetime. Verifying an
//! unknown email spends the same time against a dummy hash: no timing oracle.
//!
//! Imported accounts may still carry Better Auth's scrypt hashes
//! (`scrypt_hash`) until their first sign-in replaces them. While any exist
//! in the database, every verification computes one argon2id *and* one
//! scrypt, each against the stored hash of its kind or a dummy of the same
//! cost: "argon2 hash, wrong password", "scrypt hash, wrong password" and
//! "unknown email" then do the same work and take the same time. Without
//! scrypt hashes only the argon2id computation runs, as before.

mod hasher;
mod pool;
mod verify;

pub use hasher::{Hasher, ANONYMOUS_PER_THREAD};
pub use pool::{HashLoad, Memory};
pub use verify::{Verified, Work};

use crate::error::{ApiError, ErrorCode, Refusal, Result};

/// Shortest accepted password, in characters.
pub const MIN_LEN: usize = 8;
/// Longest accepted password, in characters.
pub const MAX_LEN: usize = 128;

/// Checks the length rule; `WEAK_PASSWORD` otherwise.
pub fn check_strength(password: &str) -> Result<()> {
    let n = password.chars().count();
    if n < MIN_LEN {
        return Err(ApiError::new(
            ErrorCode::WeakPassword,
            format!("password must be at least {MIN_LEN} characters"),
        ));
    }
    if n > MAX_LEN {
        return Err(ApiError::new(
            ErrorCode::WeakPassword,
            format!("password must be at most {MAX_LEN} characters"),
        )
        .with_refusal(Refusal::PasswordTooLong));
    }
    Ok(())
}

/// The NFKC form of a password, which new hashes are made of (as NIST SP
/// 800-63B advises, and as Better Auth hashed): a password typed with
/// another keyboard or input method in an equivalent form (composed or
/// decomposed accents, full-width or ligature characters) still matches.
/// ASCII is unchanged, so hashes of ASCII passwords are the same as before.
pub fn nfkc(password: &str) -> std::borrow::Cow<'_, str> {
    use unicode_normalization::UnicodeNormalization;
    if unicode_normalization::is_nfkc_quick(password.chars())
        == unicode_normalization::IsNormalized::Yes
    {
        std::borrow::Cow::Borrowed(password)
    } else {
        std::borrow::Cow::Owned(password.nfkc().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strength_rule_counts_characters() {
        assert!(check_strength("1234567").is_err());
        assert!(check_strength("12345678").is_ok());
        assert!(check_strength(&"ä".repeat(128)).is_ok());
        assert!(check_strength(&"a".repeat(129)).is_err());
    }
}
