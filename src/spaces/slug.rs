//! Slugs: derived from an email's local part (or a space name), lowercase
//! `[a-z0-9-]`, runs of other characters become one `-`, trimmed, at most
//! 30 characters, fallback `user-xxxxxx`; reserved and taken slugs get `-2`,
//! `-3`, …

use rand::Rng;
use rusqlite::{Connection, OptionalExtension};

use crate::error::{ApiError, Result};

/// Longest derived slug.
pub const MAX_LEN: usize = 30;
/// Longest slug a client may choose.
pub const MAX_CHOSEN_LEN: usize = 64;

/// Slugs no space may have: they collide with app routes.
pub const RESERVED: &[&str] = &[
    "me", "admin", "api", "auth", "login", "logout", "signup", "signin", "register", "settings",
    "new", "app", "www", "support", "help", "billing", "invite",
];

/// The base slug of a text, or `None` when nothing usable is left.
pub fn derive(text: &str) -> Option<String> {
    let mut out = String::new();
    let mut dash = false;
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.push(c);
        } else {
            dash = true;
        }
    }
    if out.len() > MAX_LEN {
        out.truncate(MAX_LEN);
    }
    let out = out.trim_end_matches('-').to_owned();
    (!out.is_empty()).then_some(out)
}

/// The base slug of an email's local part.
pub fn from_email(email: &str) -> Option<String> {
    derive(email.rsplit_once('@').map_or(email, |(local, _)| local))
}

/// `user-` and six random characters.
pub fn fallback() -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    let tail: String = (0..6)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
        .collect();
    format!("user-{tail}")
}

/// True when `slug` is well formed for a client to choose.
pub fn is_valid(slug: &str) -> bool {
    !slug.is_empty()
        && slug.len() <= MAX_CHOSEN_LEN
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-')
        && !slug.contains("--")
}

fn taken(conn: &Connection, slug: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM spaces WHERE slug = ?1")?
        .query_row([slug], |_| Ok(()))
        .optional()?
        .is_some())
}

/// The first free slug for `base`: itself unless reserved or taken, then
/// `base-2`, `base-3`, … (shortening `base` so the result stays within 30).
/// Runs inside the write transaction that inserts the space.
pub fn unique(conn: &Connection, base: &str) -> Result<String> {
    if !RESERVED.contains(&base) && !taken(conn, base)? {
        return Ok(base.to_owned());
    }
    for n in 2..100_000u32 {
        let suffix = format!("-{n}");
        let keep = MAX_LEN.saturating_sub(suffix.len()).min(base.len());
        let candidate = format!("{}{suffix}", base[..keep].trim_end_matches('-'));
        if !taken(conn, &candidate)? {
            return Ok(candidate);
        }
    }
    Err(ApiError::internal("no free slug found"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivation_follows_the_rules() {
        assert_eq!(from_email("Foo.Bar@x.de").as_deref(), Some("foo-bar"));
        assert_eq!(from_email("a..b+c@x.de").as_deref(), Some("a-b-c"));
        assert_eq!(from_email("admin@x.de").as_deref(), Some("admin"));
        assert_eq!(from_email("_____@x.de"), None);
        assert_eq!(from_email("--a--@x.de").as_deref(), Some("a"));
        assert_eq!(from_email("Jürgen@x.de").as_deref(), Some("j-rgen"));
        let long = from_email(&format!("{}@x.de", "abcdefghij".repeat(6))).unwrap();
        assert_eq!(long.len(), 30);
        let cut = from_email(&format!("{}.b@x.de", "a".repeat(29))).unwrap();
        assert_eq!(cut, "a".repeat(29), "no trailing dash after truncation");
        let f = fallback();
        assert!(f.starts_with("user-") && f.len() == 11 && is_valid(&f));
    }

    #[test]
    fn chosen_slugs_are_checked() {
        assert!(is_valid("team-42"));
        for bad in ["", "-a", "a-", "a--b", "A", "a_b", "ä"] {
            assert!(!is_valid(bad), "{bad}");
        }
    }
}
