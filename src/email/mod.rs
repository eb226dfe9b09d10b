//! Mail: templates, the durable outbox queue and the sending worker.
//!
//! A flow that sends mail writes an outbox row in the same transaction as
//! the change that caused it (the token, the invitation); after commit it
//! wakes the worker, which sends over SMTP (lettre) or, without `SMTP_HOST`,
//! marks the row `logged` and writes a log line (with the link unless
//! `MAIL_LOG_LINKS` is off) — the developer's inbox. A crash between commit
//! and send loses nothing: the row is still `pending` at the next start.
//! No stored mail keeps a live link for longer than it waits (`at_rest`).

pub mod at_rest;
pub mod link;
pub mod templates;
pub mod worker;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};

pub use templates::Rendered;
pub use worker::Mailer;

use crate::clock::iso;
use crate::config::Config;
use crate::db::Tx;
use crate::error::{ApiError, Result};

/// Mail language: German by default, like the original service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    De,
    En,
}

impl Lang {
    /// The user's own locale wins; else the first supported language in
    /// `Accept-Language`; else German.
    pub fn pick(user_locale: Option<&str>, accept_language: Option<&str>) -> Self {
        let parse = |tag: &str| {
            let primary = tag
                .trim()
                .split(['-', '_', ';'])
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            match primary.as_str() {
                "de" => Some(Lang::De),
                "en" => Some(Lang::En),
                _ => None,
            }
        };
        if let Some(lang) = user_locale.and_then(parse) {
            return lang;
        }
        accept_language
            .and_then(|h| h.split(',').find_map(parse))
            .unwrap_or(Lang::De)
    }
}

/// The language for mail to a user: their `locale` setting, else the
/// request's `Accept-Language`, else German.
pub fn lang_for(
    conn: &Connection,
    user_id: Option<&str>,
    accept_language: Option<&str>,
) -> Result<Lang> {
    let locale = match user_id {
        Some(id) => crate::settings::store::global(conn, id)?.and_then(|doc| {
            doc.get("locale")
                .and_then(|l| l.as_str())
                .map(str::to_owned)
        }),
        None => None,
    };
    Ok(Lang::pick(locale.as_deref(), accept_language))
}

/// Mails one address may get per hour from the flows a stranger can start
/// (verification, reset, magic link, email change, invitation); beyond, the
/// mail is silently not sent (the answer does not change).
pub const MAIL_PER_ADDRESS_PER_HOUR: i64 = 5;
/// The window of `MAIL_PER_ADDRESS_PER_HOUR`.
pub const QUOTA_WINDOW: chrono::Duration = chrono::Duration::hours(1);

/// Counts one mail to `to` against `MAIL_PER_ADDRESS_PER_HOUR` and answers
/// whether it may go; `false` (nothing counted) when the cap is reached.
/// Call it before issuing the link the mail would carry.
pub fn take_quota(tx: &Tx, to: &str, now: DateTime<Utc>) -> Result<bool> {
    use sha2::{Digest, Sha256};
    let key = hex::encode(Sha256::digest(to.to_lowercase().as_bytes()));
    let hour_ago = iso(now - QUOTA_WINDOW);
    tx.prepare_cached("DELETE FROM mail_quota WHERE address_hash = ?1 AND created_at <= ?2")?
        .execute(params![key, hour_ago])?;
    let sent: i64 = tx
        .prepare_cached("SELECT count(*) FROM mail_quota WHERE address_hash = ?1")?
        .query_row([&key], |r| r.get(0))?;
    if sent >= MAIL_PER_ADDRESS_PER_HOUR {
        return Ok(false);
    }
    tx.prepare_cached("INSERT INTO mail_quota (address_hash, created_at) VALUES (?1, ?2)")?
        .execute(params![key, iso(now)])?;
    Ok(true)
}

/// Queues a rendered mail in the caller's transaction: its bodies sealed
/// under the KEK when one is configured, with the time its link dies.
pub fn enqueue(
    tx: &Tx,
    config: &Config,
    kind: &str,
    user_id: Option<&str>,
    to: &str,
    mail: Rendered,
    now: DateTime<Utc>,
) -> Result<String> {
    let id = uuid::Uuid::new_v4().to_string();
    let kek = crate::vault::Kek::from_config(config);
    let (text, html, kek_id) = at_rest::seal(kek.as_ref(), &id, &mail.text, &mail.html)?;
    let links_expire_at = at_rest::links_live_for(kind).map(|ttl| iso(now + ttl));
    tx.prepare_cached(
        "INSERT INTO mail_outbox (id, kind, user_id, to_address, subject, text_body, html_body, \
         kek_id, links_expire_at, next_attempt_at, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
    )?
    .execute(params![
        id,
        kind,
        user_id,
        to,
        mail.subject,
        text,
        html,
        kek_id,
        links_expire_at,
        iso(now)
    ])?;
    Ok(id)
}

/// Percent-encodes a query parameter value.
pub fn encode_param(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Appends a query parameter to a URL.
pub fn with_param(url: &str, key: &str, value: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{key}={}", encode_param(value))
}

/// The origin (`scheme://host[:port]`, as the URL standard serializes it:
/// lower-case, IDNA host, default port dropped) of an http(s) URL; `None`
/// for anything that does not parse, other schemes, control characters or
/// whitespace, and credentials in the URL.
pub(crate) fn origin_of(url: &str) -> Option<String> {
    if has_unsafe_chars(url) {
        return None;
    }
    let parsed = url::Url::parse(url).ok()?;
    web_origin(&parsed)
}

/// Control characters (a browser drops tab and newline from a URL, so
/// `/\t/evil` becomes `//evil`), any whitespace, and backslashes (which
/// browsers read as `/`).
fn has_unsafe_chars(url: &str) -> bool {
    url.chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
}

/// The origin of a parsed http(s) URL without credentials.
fn web_origin(url: &url::Url) -> Option<String> {
    if !matches!(url.scheme(), "http" | "https")
        || !url.username().is_empty()
        || url.password().is_some()
        || url.host().is_none()
    {
        return None;
    }
    Some(url.origin().ascii_serialization())
}

/// The allowed origins (CORS_ORIGINS, APP_URL, BASE_URL), serialized.
pub fn allowed_origins(config: &Config) -> Vec<String> {
    let mut out: Vec<String> = config
        .allowed_origins()
        .iter()
        .filter_map(|o| origin_of(o))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The one redirect check of the server, for every callback and redirect
/// URL on every door: an absolute http(s) URL whose origin is allowed, or a
/// path (`/…`, resolved against APP_URL). Refused (400 VALIDATION): control
/// characters and whitespace anywhere, backslashes, `//host`, other
/// schemes, credentials in the URL, foreign origins, more than 2048 bytes.
/// Answers the URL as parsed, absolute.
pub fn check_redirect(config: &Config, raw: &str) -> Result<url::Url> {
    let refused = || ApiError::validation("callback URL is not on an allowed origin");
    if raw.is_empty() || raw.len() > 2048 || has_unsafe_chars(raw) {
        return Err(refused());
    }
    let url = if let Some(path) = raw.strip_prefix('/') {
        if path.starts_with('/') {
            return Err(refused());
        }
        url::Url::parse(&format!("{}{raw}", config.app_url())).map_err(|_| refused())?
    } else {
        url::Url::parse(raw).map_err(|_| refused())?
    };
    let origin = web_origin(&url).ok_or_else(refused)?;
    if !allowed_origins(config).contains(&origin) {
        return Err(refused());
    }
    Ok(url)
}

/// `check_redirect` as the absolute URL to send.
pub fn allowed_redirect(config: &Config, url: &str) -> Result<String> {
    check_redirect(config, url).map(String::from)
}

/// Whether an absolute URL (or an `Origin` header value) is on one of the
/// allowed origins (CORS_ORIGINS, APP_URL, BASE_URL).
pub fn origin_is_allowed(config: &Config, url: &str) -> bool {
    origin_of(url).is_some_and(|origin| allowed_origins(config).contains(&origin))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_choice() {
        assert_eq!(Lang::pick(None, None), Lang::De);
        assert_eq!(Lang::pick(None, Some("en-US,en;q=0.9,de;q=0.8")), Lang::En);
        assert_eq!(Lang::pick(None, Some("fr-FR, de-CH;q=0.5")), Lang::De);
        assert_eq!(Lang::pick(Some("en"), Some("de")), Lang::En);
    }

    #[test]
    fn redirects_stay_on_allowed_origins() {
        let c = Config::from_args([
            "--cors-origins",
            "https://app.mana.how",
            "--base-url",
            "https://auth.mana.how",
        ])
        .unwrap();
        assert!(allowed_redirect(&c, "https://app.mana.how/welcome?x=1").is_ok());
        assert!(allowed_redirect(&c, "https://APP.mana.how").is_ok());
        assert_eq!(
            allowed_redirect(&c, "/done").unwrap(),
            "https://app.mana.how/done"
        );
        for bad in [
            "https://evil.test/",
            "//evil.test/x",
            "javascript:alert(1)",
            "https://app.mana.how@evil.test/",
            "https://app.mana.how.evil.test/",
            "http://app.mana.how/",
            "https:\\\\evil.test",
            "data:text/html,x",
            "/\t/evil.test",
            "/\n/evil.test",
            " https://app.mana.how/",
            "/x\u{3000}y",
            "https://app.mana.how\t.evil.test/",
        ] {
            assert!(allowed_redirect(&c, bad).is_err(), "{bad}");
        }
        assert_eq!(
            with_param("https://a/b", "token", "x y&z"),
            "https://a/b?token=x%20y%26z"
        );
        assert_eq!(
            with_param("https://a/b?q=1", "t", "v"),
            "https://a/b?q=1&t=v"
        );
    }
}
