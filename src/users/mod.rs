//! Users: the account rules (email and name shapes, the daily sign-up limit)
//! as plain synchronous functions over a transaction.

pub mod erase;
pub mod model;
pub mod store;

use chrono::{DateTime, Duration, NaiveTime, Utc};
use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;

pub use model::User;

use crate::clock::iso;
use crate::error::{ApiError, ErrorCode, Result};

/// The kind of user a persona is (`personas`).
pub const PERSONA_KIND: &str = "persona";

/// Longest accepted email address.
pub const MAX_EMAIL_LEN: usize = 254;
/// Longest accepted display name.
pub const MAX_NAME_LEN: usize = 80;
/// Longest accepted image URL.
pub const MAX_IMAGE_LEN: usize = 2048;

/// A code point that does not show: a format character (general category
/// Cf: zero-width spaces and joiners, bidi controls, soft hyphen, …) or a
/// default-ignorable one (variation selectors, Hangul fillers, …).
fn is_invisible(c: char) -> bool {
    use icu_properties::props::{DefaultIgnorableCodePoint, GeneralCategory};
    use icu_properties::{CodePointMapData, CodePointSetData};
    CodePointMapData::<GeneralCategory>::new().get(c) == GeneralCategory::Format
        || CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(c)
}

/// The one form of an address, used to store and to look up: trimmed,
/// NFKC-normalised (fullwidth `ｍail` is `mail`), lower-cased, the domain
/// IDNA-encoded (`bücher.example` is `xn--bcher-kva.example`). Refused
/// (400 VALIDATION): invisible code points (`is_invisible`), whitespace and
/// control characters, IP-literal or dotless domains, and anything the
/// mailer's own parser (`lettre::Address`) would not send to (`a,b@x.test`,
/// a local part over 64 bytes, …), so an address that is stored can be
/// mailed.
pub fn normalize_email(raw: &str) -> Result<String> {
    let bad = || ApiError::validation("email must be a valid address");
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > 4 * MAX_EMAIL_LEN {
        return Err(bad());
    }
    if raw
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || is_invisible(c))
    {
        return Err(bad());
    }
    let nfkc = icu_normalizer::ComposingNormalizerBorrowed::new_nfkc().normalize(raw);
    let folded = nfkc.to_lowercase();
    if folded
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || is_invisible(c))
    {
        return Err(bad());
    }
    let (local, domain) = folded.rsplit_once('@').ok_or_else(bad)?;
    if local.is_empty() || local.contains('@') {
        return Err(bad());
    }
    // The URL standard's host parser: IDNA (UTS 46) to ASCII; IP addresses
    // and forbidden characters are not a domain.
    let domain = match url::Host::parse(domain) {
        Ok(url::Host::Domain(d)) => d,
        _ => return Err(bad()),
    };
    if !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || domain.contains("..")
    {
        return Err(bad());
    }
    let email = format!("{local}@{domain}");
    if email.len() > MAX_EMAIL_LEN {
        return Err(bad());
    }
    email.parse::<lettre::Address>().map_err(|_| bad())?;
    Ok(email)
}

/// Checks a display name: at most 80 characters, no control characters.
pub fn check_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.chars().count() > MAX_NAME_LEN {
        return Err(ApiError::validation(format!(
            "name must be at most {MAX_NAME_LEN} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiError::validation(
            "name must not contain control characters",
        ));
    }
    Ok(name.to_owned())
}

/// Checks an image URL (http(s) or data URL, bounded).
pub fn check_image(image: &str) -> Result<String> {
    let image = image.trim();
    if image.len() > MAX_IMAGE_LEN || image.chars().any(char::is_control) {
        return Err(ApiError::validation(
            "image must be a URL of at most 2048 characters",
        ));
    }
    if !(image.starts_with("https://") || image.starts_with("http://")) {
        return Err(ApiError::validation("image must be an http(s) URL"));
    }
    Ok(image.to_owned())
}

/// A fresh user record (not yet stored).
pub fn new_user(email: String, name: String, now: DateTime<Utc>) -> User {
    let now = iso(now);
    User {
        id: uuid::Uuid::new_v4().to_string(),
        name,
        email,
        email_verified: false,
        image: None,
        role: "user".into(),
        access_tier: "public".into(),
        kind: "human".into(),
        two_factor_enabled: false,
        created_at: now.clone(),
        updated_at: now,
        onboarding_completed_at: None,
    }
}

/// The sign-up counter of the current UTC day.
#[derive(Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignupStatus {
    pub registration_open: bool,
    /// `null` when there is no limit.
    pub spots_remaining: Option<u64>,
    pub total_today: u64,
    /// 0 means unlimited.
    pub limit: u64,
    pub resets_at: String,
}

fn day_bounds(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = now.date_naive().and_time(NaiveTime::MIN).and_utc();
    (start, start + Duration::days(1))
}

/// Today's sign-up numbers against `limit` (0 = unlimited).
pub fn signup_status(conn: &Connection, limit: u32, now: DateTime<Utc>) -> Result<SignupStatus> {
    let (start, end) = day_bounds(now);
    let total = store::count_created_since(conn, &iso(start))?;
    let limit = u64::from(limit);
    Ok(SignupStatus {
        registration_open: limit == 0 || total < limit,
        spots_remaining: (limit > 0).then(|| limit.saturating_sub(total)),
        total_today: total,
        limit,
        resets_at: iso(end),
    })
}

/// Refuses a sign-up over the daily limit; run inside the write transaction
/// that inserts the user, so concurrent sign-ups cannot overshoot.
pub fn enforce_signup_limit(conn: &Connection, limit: u32, now: DateTime<Utc>) -> Result<()> {
    let status = signup_status(conn, limit, now)?;
    if status.registration_open {
        return Ok(());
    }
    let (_, end) = day_bounds(now);
    Err(ApiError::new(
        ErrorCode::SignupLimitReached,
        "the daily sign-up limit is reached",
    )
    .with_retry_after((end - now).num_seconds().max(1) as u64)
    .with_field("limit", status.limit.into())
    .with_field("totalToday", status.total_today.into())
    .with_field("resetsAt", status.resets_at.into()))
}

/// The caller's user; a token whose user is gone (deleted) is unauthorized.
pub fn require_user(conn: &Connection, user_id: &str) -> Result<User> {
    store::by_id(conn, user_id)?.ok_or_else(ApiError::unauthorized)
}

/// An admin lock as stored.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Lock {
    pub locked_by: Option<String>,
    pub reason: Option<String>,
    pub locked_at: String,
}

/// The admin lock of a user, if any.
pub fn lock_of(conn: &Connection, user_id: &str) -> Result<Option<Lock>> {
    Ok(conn
        .prepare_cached("SELECT locked_by, reason, created_at FROM user_locks WHERE user_id = ?1")?
        .query_row([user_id], |r| {
            Ok(Lock {
                locked_by: r.get(0)?,
                reason: r.get(1)?,
                locked_at: r.get(2)?,
            })
        })
        .optional()?)
}

/// Refuses a sign-in of a locked user: 403 FORBIDDEN (not ACCOUNT_LOCKED,
/// which means a timed lockout with `Retry-After`; an admin lock has no end).
pub fn ensure_not_locked(conn: &Connection, user_id: &str) -> Result<()> {
    if lock_of(conn, user_id)?.is_some() {
        return Err(ApiError::forbidden(
            "this account is locked by an administrator",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            normalize_email("  Foo.Bar@Example.DE ").unwrap(),
            "foo.bar@example.de"
        );
        for bad in [
            "", "a", "a@b", "@b.de", "a b@c.de", "a@b..de", "a@.de", "a\0@b.de",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?}");
        }
        assert!(normalize_email(&format!("{}@x.de", "a".repeat(250))).is_err());
    }

    #[test]
    fn look_alikes_fold_or_are_refused() {
        // NFKC: fullwidth letters are the letters.
        assert_eq!(
            normalize_email("\u{ff4d}ail@x.test").unwrap(),
            "mail@x.test"
        );
        assert_eq!(normalize_email("a@\u{ff58}.test").unwrap(), "a@x.test");
        // IDNA: the domain is stored in its ASCII form.
        assert_eq!(
            normalize_email("User@B\u{fc}cher.Example").unwrap(),
            "user@xn--bcher-kva.example"
        );
        assert_eq!(
            normalize_email("user@xn--bcher-kva.example").unwrap(),
            "user@xn--bcher-kva.example"
        );
        for bad in [
            "new2@x.test\u{200b}",
            "new2\u{200b}@x.test",
            "a\u{200d}b@x.test",
            "a\u{ad}b@x.test",
            "a\u{202e}b@x.test",
            "a\u{fe0f}b@x.test",
            "a\u{2060}@x.test",
            "a@x\u{200b}.test",
            "a@x\u{3000}.test",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn addresses_the_mailer_refuses_are_refused() {
        for bad in [
            "a,b@evil.test",
            "a@[127.0.0.1]",
            "a@127.0.0.1",
            "a@[::1]",
            "a b@x.test",
            "a\"@x.test",
            "(a)@x.test",
            "a@x_y.test,z",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?}");
        }
        assert!(normalize_email(&format!("{}@x.test", "a".repeat(64))).is_ok());
        assert!(normalize_email(&format!("{}@x.test", "a".repeat(65))).is_err());
        assert!(normalize_email("first.last+tag@sub.example.org").is_ok());
    }

    #[test]
    fn names_and_images_are_bounded() {
        assert!(check_name(&"n".repeat(80)).is_ok());
        assert!(check_name(&"n".repeat(81)).is_err());
        assert!(check_name("a\u{0}b").is_err());
        assert!(check_image("javascript:alert(1)").is_err());
        assert!(check_image("https://x.de/a.png").is_ok());
    }
}
