//! Mail bodies at rest. A queued mail (`pending`) may carry a live one-time
//! link (verification, reset, magic link, email change), so:
//!
//! * with `MANA_AUTH_KEK` set its bodies are stored sealed (AES-256-GCM,
//!   base64 of `IV ‖ ciphertext ‖ tag`, the row and column named as
//!   associated data, `kek_id` = the KEK's fingerprint), like the other
//!   secrets at rest; queued rows left in clear by a start without a KEK
//!   are sealed at the next start with one;
//! * once the mail is sent its bodies are emptied, and once it is logged
//!   (no SMTP) or given up they keep their text with every `token=` value
//!   redacted (`redact`);
//! * `links_expire_at` is when its link dies: mail still queued then is
//!   given up (its link would not work) and scrubbed (`expire`);
//! * whoever reads the outbox through the admin API sees the text with the
//!   token values redacted, whatever the row's state.

use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, Connection};

use super::link::Purpose;
use crate::clock::iso;
use crate::db::Tx;
use crate::error::{ApiError, Result};
use crate::vault::{at_rest, Kek};

/// What a redacted token value reads as.
pub const REDACTED: &str = "REDACTED";

/// `text` with the value of every `token=` parameter replaced by
/// `REDACTED`.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("token=") {
        let (head, tail) = rest.split_at(at + "token=".len());
        out.push_str(head);
        let end = tail
            .find(|c: char| {
                !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '%' | '.' | '~'))
            })
            .unwrap_or(tail.len());
        if end > 0 {
            out.push_str(REDACTED);
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// How long the link in a mail of `kind` lives (its token's lifetime);
/// `None` for mail without a one-time link.
pub fn links_live_for(kind: &str) -> Option<Duration> {
    let purpose = match kind {
        "verification" => Purpose::EmailVerify,
        "email_change" => Purpose::EmailChange,
        "password_reset" => Purpose::PasswordReset,
        "magic_link" => Purpose::MagicLink,
        _ => return None,
    };
    Some(purpose.ttl())
}

fn aad(id: &str, column: &str) -> String {
    at_rest::aad("mail_outbox", &format!("{id}:{column}"))
}

/// The stored form of a queued mail's bodies: sealed under `kek` (with its
/// fingerprint), else clear.
pub fn seal(
    kek: Option<&Kek>,
    id: &str,
    text: &str,
    html: &str,
) -> Result<(String, String, Option<String>)> {
    use base64::Engine;
    let Some(kek) = kek else {
        return Ok((text.to_owned(), html.to_owned(), None));
    };
    let b64 = base64::engine::general_purpose::STANDARD;
    let text = b64.encode(kek.seal(&aad(id, "text_body"), text.as_bytes())?);
    let html = b64.encode(kek.seal(&aad(id, "html_body"), html.as_bytes())?);
    Ok((text, html, Some(kek.id().to_owned())))
}

/// The clear bodies of a stored mail (text, html).
pub fn open(
    kek: Option<&Kek>,
    id: &str,
    text: &str,
    html: &str,
    kek_id: Option<&str>,
) -> Result<(String, String)> {
    Ok((
        open_body(kek, id, "text_body", text, kek_id)?,
        open_body(kek, id, "html_body", html, kek_id)?,
    ))
}

/// The clear form of one stored body (`column` is `text_body` or
/// `html_body`).
pub fn open_body(
    kek: Option<&Kek>,
    id: &str,
    column: &str,
    stored: &str,
    kek_id: Option<&str>,
) -> Result<String> {
    use base64::Engine;
    if kek_id.is_none() {
        return Ok(stored.to_owned());
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(stored)
        .map_err(|_| ApiError::internal("a sealed mail body is not base64"))?;
    let clear = at_rest::open(kek, &aad(id, column), &bytes, kek_id)?;
    String::from_utf8(clear).map_err(|_| ApiError::internal("a sealed mail body is not text"))
}

/// Seals the queued mail left in clear (by a start without a KEK) under
/// `kek`; returns how many rows it sealed.
pub fn prepare(tx: &Tx, kek: Option<&Kek>) -> Result<usize> {
    let Some(kek) = kek else {
        return Ok(0);
    };
    let clear: Vec<(String, String, String)> = tx
        .prepare(
            "SELECT id, text_body, html_body FROM mail_outbox WHERE status = 'pending' AND kek_id IS NULL",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut update = tx.prepare(
        "UPDATE mail_outbox SET text_body = ?2, html_body = ?3, kek_id = ?4 WHERE id = ?1 AND kek_id IS NULL",
    )?;
    let mut sealed = 0;
    for (id, text, html) in clear {
        let (text, html, kek_id) = seal(Some(kek), &id, &text, &html)?;
        sealed += update.execute(params![id, text, html, kek_id])?;
    }
    Ok(sealed)
}

/// A stored mail body pair as read from its row.
pub struct Stored {
    pub id: String,
    pub text: String,
    pub html: String,
    pub kek_id: Option<String>,
}

/// Queued mail whose links have died by `now`.
pub fn expired(conn: &Connection, now: DateTime<Utc>) -> Result<Vec<Stored>> {
    Ok(conn
        .prepare_cached(
            "SELECT id, text_body, html_body, kek_id FROM mail_outbox \
             WHERE status = 'pending' AND links_expire_at <= ?1",
        )?
        .query_map([iso(now)], |r| {
            Ok(Stored {
                id: r.get(0)?,
                text: r.get(1)?,
                html: r.get(2)?,
                kek_id: r.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Gives up the queued mail `expired` found (its links no longer work) and
/// scrubs their links (a body that cannot be opened is emptied); returns
/// how many rows it changed.
pub fn expire(tx: &Tx, kek: Option<&Kek>, rows: Vec<Stored>) -> Result<usize> {
    let mut changed = 0;
    for row in rows {
        let id = row.id;
        let (text, html) =
            open(kek, &id, &row.text, &row.html, row.kek_id.as_deref()).unwrap_or_default();
        changed += tx
            .prepare_cached(
                "UPDATE mail_outbox SET status = 'failed', text_body = ?2, html_body = ?3, kek_id = NULL, \
                 last_error = 'its link expired before the mail could be sent' \
                 WHERE id = ?1 AND status = 'pending'",
            )?
            .execute(params![id, redact(&text), redact(&html)])?;
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_values_are_redacted_and_the_rest_is_kept() {
        assert_eq!(
            redact("Link:\nhttps://a.test/x?token=AbC-_9&callbackURL=https%3A%2F%2Fb\n"),
            "Link:\nhttps://a.test/x?token=REDACTED&callbackURL=https%3A%2F%2Fb\n"
        );
        assert_eq!(
            redact("<a href=\"https://a/v?token=xyz\">https://a/v?token=xyz</a>"),
            "<a href=\"https://a/v?token=REDACTED\">https://a/v?token=REDACTED</a>"
        );
        assert_eq!(redact("token=&x token="), "token=&x token=");
        assert_eq!(redact("no link"), "no link");
        assert_eq!(redact("ä token=ü"), "ä token=ü");
    }

    #[test]
    fn sealed_bodies_open_only_for_their_row() {
        let kek = Kek::new([7; 32]);
        let (text, html, id) = seal(Some(&kek), "m1", "token=secret", "<b>x</b>").unwrap();
        assert!(!text.contains("secret") && id.as_deref() == Some(kek.id()));
        assert_eq!(
            open(Some(&kek), "m1", &text, &html, id.as_deref()).unwrap(),
            ("token=secret".to_owned(), "<b>x</b>".to_owned())
        );
        assert!(open(Some(&kek), "m2", &text, &html, id.as_deref()).is_err());
        assert!(open(None, "m1", &text, &html, id.as_deref()).is_err());
        assert!(open(Some(&kek), "m1", &html, &text, id.as_deref()).is_err());
    }
}
