//! The sending worker: takes due rows from `mail_outbox`, sends them over
//! SMTP (or logs them when there is no SMTP), records attempts and the last
//! error, and retries with exponential backoff. One worker per server, so a
//! row is never sent twice concurrently; a crash after a send but before the
//! row is marked can send that one mail again (at-least-once).

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::Duration;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use rusqlite::params;
use tokio::sync::{watch, Notify};

use super::at_rest;
use crate::clock::{iso, Clock};
use crate::config::{Config, SmtpTls};
use crate::db::Db;
use crate::error::Result;
use crate::vault::Kek;

/// Attempts before a mail is given up as `failed`.
pub const MAX_ATTEMPTS: i64 = 10;
/// How often the worker looks for due mail without being woken.
const POLL: StdDuration = StdDuration::from_secs(5);

/// Delay before attempt `n + 1` after `n` failures: 5 s, 10 s, 20 s, … 1 h.
pub fn backoff(failures: i64) -> Duration {
    let exp = failures.clamp(1, 20) as u32 - 1;
    Duration::seconds((5i64 << exp.min(10)).min(3600))
}

/// The mail sender: transport (if SMTP is configured), sender, wake-up.
pub struct Mailer {
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
    log_links: bool,
    notify: Notify,
    /// Opens the sealed bodies of queued mail.
    kek: Option<Kek>,
}

impl Mailer {
    /// Builds the mailer from the configuration.
    pub fn new(config: &Config) -> std::result::Result<Self, String> {
        let from: Mailbox = config
            .mail_from()
            .parse()
            .map_err(|e| format!("MAIL_FROM is not a valid mailbox: {e}"))?;
        let transport = match &config.smtp_host {
            None => None,
            Some(host) => {
                if config.smtp_sends_in_clear() {
                    tracing::warn!(
                        smtp_host = %host,
                        smtp_tls = ?config.smtp_tls,
                        "SMTP_TLS lets mail (and SMTP_PASS) go to the relay in clear; use required or wrapper"
                    );
                }
                let tls_params =
                    || TlsParameters::new(host.clone()).map_err(|e| format!("SMTP TLS setup: {e}"));
                let tls = match config.smtp_tls {
                    SmtpTls::Opportunistic => Tls::Opportunistic(tls_params()?),
                    SmtpTls::Required => Tls::Required(tls_params()?),
                    SmtpTls::Wrapper => Tls::Wrapper(tls_params()?),
                    SmtpTls::None => Tls::None,
                };
                let mut builder =
                    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.as_str())
                        .port(config.smtp_port)
                        .tls(tls)
                        .timeout(Some(StdDuration::from_secs(20)));
                if let (Some(user), Some(pass)) = (&config.smtp_user, &config.smtp_pass) {
                    builder =
                        builder.credentials(Credentials::new(user.clone(), pass.expose().clone()));
                }
                Some(builder.build())
            }
        };
        Ok(Self {
            transport,
            from,
            log_links: config.log_mail_links(),
            notify: Notify::new(),
            kek: Kek::from_config(config),
        })
    }

    /// True when mail leaves over SMTP (else it stays in the outbox).
    pub fn has_smtp(&self) -> bool {
        self.transport.is_some()
    }

    /// The KEK queued mail is sealed under, if one is configured.
    pub fn kek(&self) -> Option<&Kek> {
        self.kek.as_ref()
    }

    /// Tells the worker that new mail was committed.
    pub fn wake(&self) {
        self.notify.notify_one();
    }
}

/// A due mail as stored (its bodies may be sealed).
struct Due {
    id: String,
    kind: String,
    to: String,
    subject: String,
    text: String,
    html: String,
    kek_id: Option<String>,
    attempts: i64,
}

/// The clear bodies of the mail being sent.
struct Bodies {
    text: String,
    html: String,
}

fn due(conn: &rusqlite::Connection, now: &str) -> Result<Vec<Due>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, kind, to_address, subject, text_body, html_body, kek_id, attempts FROM mail_outbox \
         WHERE status = 'pending' AND next_attempt_at <= ?1 \
         AND (links_expire_at IS NULL OR links_expire_at > ?1) \
         ORDER BY next_attempt_at, created_at LIMIT 20",
    )?;
    let rows = stmt
        .query_map([now], |r| {
            Ok(Due {
                id: r.get(0)?,
                kind: r.get(1)?,
                to: r.get(2)?,
                subject: r.get(3)?,
                text: r.get(4)?,
                html: r.get(5)?,
                kek_id: r.get(6)?,
                attempts: r.get(7)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Runs until `stop` turns true.
pub async fn run(db: Db, clock: Clock, mailer: Arc<Mailer>, mut stop: watch::Receiver<bool>) {
    loop {
        expire_links(&db, &clock, &mailer).await;
        loop {
            let now = iso(clock.now());
            let batch = match db.read(move |c| due(c, &now)).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "mail worker cannot read the outbox");
                    break;
                }
            };
            if batch.is_empty() {
                break;
            }
            for mail in batch {
                deliver(&db, &clock, &mailer, mail).await;
            }
        }
        tokio::select! {
            () = mailer.notify.notified() => {}
            () = tokio::time::sleep(POLL) => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            break;
        }
    }
}

/// Gives up queued mail whose link has died (and scrubs it); a write only
/// when there is some.
async fn expire_links(db: &Db, clock: &Clock, mailer: &Arc<Mailer>) {
    let now = clock.now();
    let found = match db.read(move |c| at_rest::expired(c, now)).await {
        Ok(rows) if !rows.is_empty() => rows,
        Ok(_) => return,
        Err(e) => {
            tracing::warn!(error = %e, "mail worker cannot read the outbox");
            return;
        }
    };
    let m = mailer.clone();
    match db
        .write(move |tx, _| at_rest::expire(tx, m.kek(), found))
        .await
    {
        Ok(n) => tracing::info!(mails = n, "queued mail given up: its link expired"),
        Err(e) => tracing::warn!(error = %e, "mail worker cannot update the outbox"),
    }
}

/// Why a mail was not sent, and whether trying again can help.
enum NotSent {
    /// Try again after the backoff.
    Retry(String),
    /// Never: the recipient is not an address the mailer can send to.
    Never(String),
}

async fn deliver(db: &Db, clock: &Clock, mailer: &Mailer, mail: Due) {
    let opened = at_rest::open(
        mailer.kek(),
        &mail.id,
        &mail.text,
        &mail.html,
        mail.kek_id.as_deref(),
    );
    let (bodies, outcome) = match opened {
        Err(e) => (
            Bodies {
                text: String::new(),
                html: String::new(),
            },
            Err(NotSent::Never(format!(
                "cannot open the sealed mail: {}",
                e.message
            ))),
        ),
        Ok((text, html)) => {
            let bodies = Bodies { text, html };
            let outcome = match recipient(&mail.to) {
                Err(e) => Err(NotSent::Never(e)),
                Ok(to) => send(mailer, &mail, &bodies, to).await,
            };
            (bodies, outcome)
        }
    };
    record(db, clock, mail, bodies, outcome).await;
}

/// The recipient as the mailer parses it, if it passes the address rule of
/// sign-up (`users::normalize_email`); an address stored before that rule
/// existed may not.
fn recipient(to: &str) -> std::result::Result<Mailbox, String> {
    crate::users::normalize_email(to)
        .map_err(|_| "bad recipient: not an address mail is sent to".to_owned())?;
    to.parse::<lettre::Address>()
        .map(|a| Mailbox::new(None, a))
        .map_err(|e| format!("bad recipient: {e}"))
}

async fn send(
    mailer: &Mailer,
    mail: &Due,
    bodies: &Bodies,
    to: Mailbox,
) -> std::result::Result<&'static str, NotSent> {
    match &mailer.transport {
        None => {
            if mailer.log_links {
                let link = bodies
                    .text
                    .lines()
                    .find(|l| l.starts_with("http"))
                    .unwrap_or("");
                tracing::info!(kind = %mail.kind, to = %mail.to, link = %link, "mail kept in the outbox (no SMTP_HOST)");
            } else {
                tracing::info!(kind = %mail.kind, id = %mail.id, "mail kept in the outbox (no SMTP_HOST)");
            }
            Ok("logged")
        }
        Some(transport) => match build(&mailer.from, to, mail, bodies) {
            Err(e) => Err(NotSent::Retry(e)),
            Ok(message) => transport
                .send(message)
                .await
                .map(|_| "sent")
                .map_err(|e| NotSent::Retry(e.to_string())),
        },
    }
}

/// Records the outcome of one attempt. Mail that is done (sent, logged or
/// given up) keeps no live link: sent mail keeps its subject only, logged
/// and given-up mail its text with the token values redacted.
async fn record(
    db: &Db,
    clock: &Clock,
    mail: Due,
    bodies: Bodies,
    outcome: std::result::Result<&'static str, NotSent>,
) {
    let now = clock.now();
    let id = mail.id.clone();
    let attempts = mail.attempts + 1;
    let write = match outcome {
        Ok(status) => {
            tracing::info!(id = %id, kind = %mail.kind, status, "mail delivered");
            let (text, html) = if status == "sent" {
                (String::new(), String::new())
            } else {
                (at_rest::redact(&bodies.text), at_rest::redact(&bodies.html))
            };
            db.write(move |tx, _| {
                tx.execute(
                    "UPDATE mail_outbox SET status = ?2, attempts = ?3, sent_at = ?4, last_error = NULL, \
                     text_body = ?5, html_body = ?6, kek_id = NULL WHERE id = ?1",
                    params![id, status, attempts, iso(now), text, html],
                )?;
                Ok(())
            })
            .await
        }
        Err(not_sent) => {
            let (error, never) = match not_sent {
                NotSent::Retry(e) => (e, false),
                NotSent::Never(e) => (e, true),
            };
            let error: String = error.chars().take(500).collect();
            let give_up = never || attempts >= MAX_ATTEMPTS;
            tracing::warn!(id = %id, kind = %mail.kind, attempts, error = %error, give_up, "mail not sent");
            let next = iso(now + backoff(attempts));
            let scrubbed =
                give_up.then(|| (at_rest::redact(&bodies.text), at_rest::redact(&bodies.html)));
            db.write(move |tx, _| {
                tx.execute(
                    "UPDATE mail_outbox SET status = ?2, attempts = ?3, last_error = ?4, next_attempt_at = ?5 WHERE id = ?1",
                    params![id, if give_up { "failed" } else { "pending" }, attempts, error, next],
                )?;
                // Given up: its link is of no more use to anyone.
                if let Some((text, html)) = scrubbed {
                    tx.execute(
                        "UPDATE mail_outbox SET text_body = ?2, html_body = ?3, kek_id = NULL WHERE id = ?1",
                        params![id, text, html],
                    )?;
                }
                Ok(())
            })
            .await
        }
    };
    if let Err(e) = write {
        tracing::warn!(error = %e, "mail worker cannot update the outbox");
    }
}

fn build(
    from: &Mailbox,
    to: Mailbox,
    mail: &Due,
    bodies: &Bodies,
) -> std::result::Result<Message, String> {
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.subject.clone())
        .multipart(MultiPart::alternative_plain_html(
            bodies.text.clone(),
            bodies.html.clone(),
        ))
        .map_err(|e| format!("cannot build message: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(1), Duration::seconds(5));
        assert_eq!(backoff(2), Duration::seconds(10));
        assert_eq!(backoff(4), Duration::seconds(40));
        assert_eq!(backoff(12), Duration::seconds(3600));
    }
}
