//! The test server: a real mana-auth on 127.0.0.1:0 with a temporary SQLite
//! file, a settable clock and a low argon2 cost, plus a small HTTP client.
#![allow(dead_code)]

pub mod smtp;

use std::future::Future;
use std::path::PathBuf;

use mana_auth::clock::Clock;
use mana_auth::config::Config;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::{json, Value};

pub const PASSWORD: &str = "correct-horse-battery";
pub const ISSUER: &str = "http://mana.test";

pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    pub clock: Clock,
    pub db_path: PathBuf,
    pub server: Option<mana_auth::Server>,
    pub dir: tempfile::TempDir,
}

/// A response: status, JSON body (Null if none), headers.
pub struct Resp {
    pub status: StatusCode,
    pub body: Value,
    pub headers: HeaderMap,
}

impl Resp {
    /// Asserts the error envelope with `code` and `status`.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        assert_eq!(self.body["error"], code, "body: {}", self.body);
        assert_eq!(self.body["status"], status, "body: {}", self.body);
        assert!(self.body["message"].is_string(), "body: {}", self.body);
    }

    /// The session cookie value from Set-Cookie.
    pub fn session_cookie(&self) -> Option<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.contains("mana.session_token="))
            .and_then(|c| c.split(';').next())
            .and_then(|kv| kv.split_once('='))
            .map(|(_, v)| v.to_owned())
    }
}

/// A signed-in user.
pub struct Account {
    pub id: String,
    pub email: String,
    pub access: String,
    pub refresh: String,
}

pub fn test_config(db: &std::path::Path) -> Config {
    Config::from_args([
        "--port",
        "0",
        "--base-url",
        ISSUER,
        "--database-path",
        db.to_str().unwrap(),
        "--argon2-memory-kib",
        "64",
        "--argon2-iterations",
        "1",
        "--cors-origins",
        "http://app.mana.test",
        // Most tests sign in right after signing up; the mail tests turn
        // verification back on.
        "--require-email-verification",
        "false",
    ])
    .unwrap()
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db_path = dir.path().join("mana-auth.db");
        let mut config = test_config(&db_path);
        adjust(&mut config);
        Self::start_in(dir, db_path, config, Clock::system()).await
    }

    /// A server whose BASE_URL is the address it listens on, as in
    /// production, so the pages it serves (`/login`, `/admin`) are on its
    /// own origin, which the origin rule of cookie-carrying writes allows.
    pub async fn start_at_own_origin(adjust: impl FnOnce(&mut Config)) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self::start_with(move |c| {
            c.port = port;
            c.base_url = Some(format!("http://127.0.0.1:{port}"));
            adjust(c);
        })
        .await
    }

    /// A server whose mail goes over SMTP (plain, to a loopback listener)
    /// into a real SMTP sink, with `adjust` applied; the sink's messages
    /// are the mailboxes the tests read links from.
    pub async fn start_with_mail(adjust: impl FnOnce(&mut Config)) -> (Self, smtp::SmtpSink) {
        let sink = smtp::SmtpSink::start().await;
        let port = sink.port;
        let t = Self::start_with(move |c| {
            c.smtp_host = Some("127.0.0.1".into());
            c.smtp_port = port;
            c.smtp_tls = mana_auth::config::SmtpTls::None;
            adjust(c);
        })
        .await;
        (t, sink)
    }

    pub async fn start_in(
        dir: tempfile::TempDir,
        db_path: PathBuf,
        config: Config,
        clock: Clock,
    ) -> Self {
        let server = mana_auth::start(config, clock.clone()).await.unwrap();
        let base = format!("http://{}", server.addr);
        Self {
            base,
            client: reqwest::Client::new(),
            clock,
            db_path,
            server: Some(server),
            dir,
        }
    }

    /// Stops the server and starts a new one on the same file.
    pub async fn restart(mut self) -> Self {
        self.server.take().unwrap().stop().await;
        let config = test_config(&self.db_path);
        Self::start_in(self.dir, self.db_path, config, self.clock).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Resp {
        let res = req.send().await.expect("request failed at transport level");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Resp {
            status,
            body,
            headers,
        }
    }

    pub fn post(&self, path: &str, body: Value) -> impl Future<Output = Resp> + '_ {
        self.send(self.client.post(self.url(path)).json(&body))
    }

    pub fn post_auth(
        &self,
        path: &str,
        token: &str,
        body: Value,
    ) -> impl Future<Output = Resp> + '_ {
        self.send(
            self.client
                .post(self.url(path))
                .bearer_auth(token)
                .json(&body),
        )
    }

    pub fn get(&self, path: &str) -> impl Future<Output = Resp> + '_ {
        self.send(self.client.get(self.url(path)))
    }

    pub fn get_auth(&self, path: &str, token: &str) -> impl Future<Output = Resp> + '_ {
        self.send(self.client.get(self.url(path)).bearer_auth(token))
    }

    pub fn register(&self, email: &str) -> impl Future<Output = Resp> + '_ {
        self.post(
            "/api/v1/auth/register",
            json!({ "email": email, "password": PASSWORD, "name": "Test" }),
        )
    }

    pub fn login(&self, email: &str, password: &str) -> impl Future<Output = Resp> + '_ {
        self.post(
            "/api/v1/auth/login",
            json!({ "email": email, "password": password }),
        )
    }

    /// Marks an address verified, as its owner following the verification
    /// link would (the mail flows themselves are tested in `mail.rs`).
    /// Written through the server's own writer, so its caches see it at once.
    pub async fn mark_verified(&self, email: &str) {
        let owned = email.to_owned();
        let n = self
            .state()
            .db
            .write(move |tx, _| {
                Ok(tx.execute(
                    "UPDATE users SET email_verified = 1 WHERE email = ?1",
                    [owned],
                )?)
            })
            .await
            .unwrap();
        assert_eq!(n, 1, "no account {email}");
    }

    /// Registers, verifies the address (`mark_verified`) and signs in.
    pub async fn account(&self, email: &str) -> Account {
        let r = self.register(email).await;
        assert_eq!(r.status, 200, "{}", r.body);
        self.mark_verified(r.body["user"]["email"].as_str().unwrap())
            .await;
        let l = self.login(email, PASSWORD).await;
        assert_eq!(l.status, 200, "{}", l.body);
        Account {
            id: l.body["user"]["id"].as_str().unwrap().to_owned(),
            email: email.to_owned(),
            access: l.body["accessToken"].as_str().unwrap().to_owned(),
            refresh: l.body["refreshToken"].as_str().unwrap().to_owned(),
        }
    }

    /// A read-write connection to the server's file (for inspection and for
    /// injecting faults the API cannot cause).
    pub fn db(&self) -> rusqlite::Connection {
        let c = rusqlite::Connection::open(&self.db_path).unwrap();
        c.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
        c
    }

    pub fn count(&self, sql: &str) -> i64 {
        self.db().query_row(sql, [], |r| r.get(0)).unwrap()
    }
}

/// Path of the built binary.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_mana-auth")
}

impl TestServer {
    pub fn put_auth(
        &self,
        path: &str,
        token: &str,
        body: Value,
    ) -> impl Future<Output = Resp> + '_ {
        self.send(
            self.client
                .put(self.url(path))
                .bearer_auth(token)
                .json(&body),
        )
    }

    pub fn delete_auth(&self, path: &str, token: &str) -> impl Future<Output = Resp> + '_ {
        self.send(self.client.delete(self.url(path)).bearer_auth(token))
    }

    /// Creates a space of `kind` and returns it.
    pub async fn create_space(&self, token: &str, name: &str, kind: &str) -> Value {
        let r = self
            .post_auth(
                "/api/v1/gilden",
                token,
                json!({ "name": name, "type": kind }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body
    }

    /// Invites `email` with `role` and has that account accept.
    pub async fn add_member(
        &self,
        space_id: &str,
        owner: &Account,
        member: &Account,
        role: &str,
    ) -> Value {
        let inv = self
            .post_auth(
                &format!("/api/v1/gilden/{space_id}/invite"),
                &owner.access,
                json!({ "email": member.email, "role": role }),
            )
            .await;
        assert_eq!(inv.status, 200, "{}", inv.body);
        let acc = self
            .post_auth(
                "/api/v1/gilden/accept-invitation",
                &member.access,
                json!({ "invitationId": inv.body["id"] }),
            )
            .await;
        assert_eq!(acc.status, 200, "{}", acc.body);
        acc.body["member"].clone()
    }

    /// The personal space id of a user.
    pub fn personal_space(&self, user_id: &str) -> String {
        self.db()
            .query_row(
                "SELECT id FROM spaces WHERE personal_of = ?1",
                [user_id],
                |r| r.get(0),
            )
            .unwrap()
    }
}

impl TestServer {
    pub fn state(&self) -> &mana_auth::state::AppState {
        &self.server.as_ref().unwrap().state
    }

    /// Rows of the outbox as (kind, to, subject, text, status). A mail's
    /// link is not kept once it is sent or logged: tests read links from the
    /// SMTP sink (`start_with_mail`, `SmtpSink::link_with`).
    pub fn outbox(&self) -> Vec<(String, String, String, String, String)> {
        let conn = self.db();
        let mut stmt = conn
            .prepare("SELECT kind, to_address, subject, text_body, status FROM mail_outbox ORDER BY created_at, rowid")
            .unwrap();
        stmt.query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    }

    /// Polls `check` every 20 ms for up to 10 s.
    pub async fn eventually(&self, what: &str, check: impl Fn(&Self) -> bool) {
        for _ in 0..500 {
            if check(self) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("timed out waiting for {what}");
    }

    /// A client that does not follow redirects.
    pub fn no_redirect(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// Path and query of an absolute link to this server.
    pub fn local(&self, link: &str) -> String {
        let rest = link.split_once("://").unwrap().1;
        format!("{}{}", self.base, &rest[rest.find('/').unwrap()..])
    }
}
