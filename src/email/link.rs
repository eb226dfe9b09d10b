//! What a mailed one-time link is for, and how long it lives. The tokens
//! themselves are `auth::verification`'s; the mail module needs the
//! lifetimes to know when a queued link is dead.

use chrono::Duration;

/// What a token is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    EmailVerify,
    PasswordReset,
    MagicLink,
    EmailChange,
}

impl Purpose {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::EmailVerify => "email_verify",
            Purpose::PasswordReset => "password_reset",
            Purpose::MagicLink => "magic_link",
            Purpose::EmailChange => "email_change",
        }
    }

    /// The purpose of a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "email_verify" => Purpose::EmailVerify,
            "password_reset" => Purpose::PasswordReset,
            "magic_link" => Purpose::MagicLink,
            "email_change" => Purpose::EmailChange,
            _ => return None,
        })
    }

    /// How long a token of this purpose lives.
    pub fn ttl(self) -> Duration {
        match self {
            Purpose::EmailVerify | Purpose::EmailChange => Duration::hours(24),
            Purpose::PasswordReset => Duration::hours(1),
            Purpose::MagicLink => Duration::minutes(10),
        }
    }
}
