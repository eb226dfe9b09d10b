//! A real SMTP listener for tests: speaks enough ESMTP for lettre (EHLO,
//! MAIL, RCPT, DATA, RSET, NOOP, QUIT), stores what it receives, and decodes
//! the MIME parts so tests can read subjects and follow links.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// One received message.
#[derive(Clone, Debug)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

pub struct SmtpSink {
    pub port: u16,
    messages: Arc<Mutex<Vec<Received>>>,
    /// Every line any client sent, in order (commands, AUTH, mail data).
    lines: Arc<Mutex<Vec<String>>>,
    notify: Arc<Notify>,
    task: JoinHandle<()>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpSink {
    pub async fn start() -> Self {
        Self::start_on(0).await
    }

    pub async fn start_on(port: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let notify = Arc::new(Notify::new());
        let (m, l, n) = (messages.clone(), lines.clone(), notify.clone());
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let (m, l, n) = (m.clone(), l.clone(), n.clone());
                tokio::spawn(async move {
                    let _ = session(sock, m, l, n).await;
                });
            }
        });
        Self {
            port,
            messages,
            lines,
            notify,
            task,
        }
    }

    /// Everything clients sent so far, one line each.
    pub fn transcript(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits (up to 10 s) until a client sent a line starting with `prefix`
    /// (case-insensitive).
    pub async fn wait_for_line(&self, prefix: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let prefix = prefix.to_ascii_uppercase();
        loop {
            let wait = self.notify.notified();
            if self
                .transcript()
                .iter()
                .any(|l| l.to_ascii_uppercase().starts_with(&prefix))
            {
                return;
            }
            if tokio::time::timeout_at(deadline, wait).await.is_err() {
                panic!("no {prefix} line in {:?}", self.transcript());
            }
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.messages.lock().unwrap().clone()
    }

    /// The messages received for `to`, oldest first.
    pub fn received_by(&self, to: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|m| m.to.iter().any(|r| r.eq_ignore_ascii_case(to)))
            .collect()
    }

    /// Waits (up to 10 s) for the `n`-th message (from 1) to `to`.
    pub async fn nth_to(&self, to: &str, n: usize) -> Parsed {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let wait = self.notify.notified();
            if let Some(m) = self.received_by(to).get(n - 1) {
                return m.parse();
            }
            if tokio::time::timeout_at(deadline, wait).await.is_err() {
                panic!(
                    "expected {n} mails to {to}, got {}",
                    self.received_by(to).len()
                );
            }
        }
    }

    /// The link of the `n`-th message (from 1) to `to`.
    pub async fn link_to(&self, to: &str, n: usize) -> String {
        self.nth_to(to, n).await.link()
    }

    /// Waits (up to 10 s) for the `n`-th message (from 1) to `to` whose
    /// link contains `needle` (e.g. `magic-link`, `reset-password`,
    /// `verify-email`) and answers that link.
    pub async fn link_with(&self, to: &str, needle: &str, n: usize) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let wait = self.notify.notified();
            let links: Vec<String> = self
                .received_by(to)
                .iter()
                .map(|m| m.parse())
                .filter(|m| m.text.lines().any(|l| l.starts_with("http")))
                .map(|m| m.link())
                .filter(|l| l.contains(needle))
                .collect();
            if let Some(link) = links.get(n - 1) {
                return link.clone();
            }
            if tokio::time::timeout_at(deadline, wait).await.is_err() {
                panic!("expected {n} mails to {to} with a {needle} link, got {links:?}");
            }
        }
    }

    /// Waits (up to 10 s) until at least `n` messages arrived.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            let wait = self.notify.notified();
            if tokio::time::timeout_at(deadline, wait).await.is_err() {
                panic!("expected {n} mails, got {}", self.received().len());
            }
        }
    }
}

/// One SMTP session. Like a relay that does not offer STARTTLS (or whose
/// offer was stripped on the way), it offers AUTH PLAIN and LOGIN over the
/// plain connection and accepts any credentials, so a test sees what a
/// client would hand over in clear.
async fn session(
    sock: tokio::net::TcpStream,
    messages: Arc<Mutex<Vec<Received>>>,
    seen: Arc<Mutex<Vec<String>>>,
    notify: Arc<Notify>,
) -> std::io::Result<()> {
    let (read, mut write) = sock.into_split();
    let mut lines = BufReader::new(read).lines();
    write
        .write_all(b"220 sink.test ESMTP test sink\r\n")
        .await?;
    let mut from = String::new();
    let mut to = Vec::new();
    let note = |line: &str| {
        seen.lock().unwrap().push(line.to_owned());
        notify.notify_waiters();
    };
    while let Some(line) = lines.next_line().await? {
        note(&line);
        let upper = line.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") {
            b"250-sink.test\r\n250-8BITMIME\r\n250-AUTH PLAIN LOGIN\r\n250 SMTPUTF8\r\n"
        } else if upper.starts_with("AUTH PLAIN") {
            if upper.trim() == "AUTH PLAIN" {
                write.write_all(b"334 \r\n").await?;
                if let Some(answer) = lines.next_line().await? {
                    note(&answer);
                }
            }
            b"235 2.7.0 Authentication successful\r\n"
        } else if upper.starts_with("AUTH LOGIN") {
            let asked = if upper.trim() == "AUTH LOGIN" { 2 } else { 1 };
            for prompt in [&b"334 VXNlcm5hbWU6\r\n"[..], b"334 UGFzc3dvcmQ6\r\n"]
                .into_iter()
                .skip(2 - asked)
            {
                write.write_all(prompt).await?;
                if let Some(answer) = lines.next_line().await? {
                    note(&answer);
                }
            }
            b"235 2.7.0 Authentication successful\r\n"
        } else if upper.starts_with("HELO") {
            b"250 sink.test\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            from = line[10..].trim().trim_matches(['<', '>']).to_owned();
            b"250 OK\r\n"
        } else if upper.starts_with("RCPT TO:") {
            to.push(line[8..].trim().trim_matches(['<', '>']).to_owned());
            b"250 OK\r\n"
        } else if upper == "DATA" {
            write
                .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                .await?;
            let mut data = String::new();
            while let Some(l) = lines.next_line().await? {
                note(&l);
                if l == "." {
                    break;
                }
                data.push_str(
                    l.strip_prefix('.')
                        .filter(|_| l.starts_with(".."))
                        .unwrap_or(&l),
                );
                data.push_str("\r\n");
            }
            messages.lock().unwrap().push(Received {
                from: from.clone(),
                to: std::mem::take(&mut to),
                data,
            });
            notify.notify_waiters();
            b"250 OK queued\r\n"
        } else if upper == "RSET" {
            to.clear();
            b"250 OK\r\n"
        } else if upper == "NOOP" {
            b"250 OK\r\n"
        } else if upper == "QUIT" {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            b"502 not implemented\r\n"
        };
        write.write_all(reply).await?;
    }
    Ok(())
}

fn unfold_headers(head: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with(' ') || line.starts_with('\t') {
            if let Some(last) = out.last_mut() {
                last.1.push_str(line.trim_start());
            }
        } else if let Some((k, v)) = line.split_once(':') {
            out.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    out
}

fn decode_qp(body: &str) -> String {
    let joined = body.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn decode_body(headers: &[(String, String)], body: &str) -> String {
    let cte = headers
        .iter()
        .find(|(k, _)| k == "content-transfer-encoding")
        .map(|(_, v)| v.to_ascii_lowercase())
        .unwrap_or_default();
    match cte.as_str() {
        "quoted-printable" => decode_qp(body),
        "base64" => {
            let clean: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            String::from_utf8_lossy(
                &base64::engine::general_purpose::STANDARD
                    .decode(clean)
                    .unwrap(),
            )
            .into_owned()
        }
        _ => body.to_owned(),
    }
}

/// Decodes RFC 2047 encoded words (`=?utf-8?b?…?=`, `=?utf-8?q?…?=`).
fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    let mut after_word = false;
    while let Some(start) = rest.find("=?") {
        let between = &rest[..start];
        // Whitespace between two encoded words is not part of the text.
        if !(after_word && between.trim().is_empty()) {
            out.push_str(between);
        }
        let word = &rest[start + 2..];
        let parts: Vec<&str> = word.splitn(3, '?').collect();
        let Some(end) = parts.get(2).and_then(|p| p.find("?=")) else {
            out.push_str(&rest[start..]);
            return out;
        };
        let text = &parts[2][..end];
        let decoded = match parts[1].to_ascii_lowercase().as_str() {
            "b" => String::from_utf8_lossy(
                &base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .unwrap(),
            )
            .into_owned(),
            _ => decode_qp(&text.replace('_', " ")),
        };
        out.push_str(&decoded);
        rest = &parts[2][end + 2..];
        after_word = true;
    }
    out.push_str(rest);
    out
}

/// A decoded message: headers, text part, html part.
pub struct Parsed {
    pub subject: String,
    pub to: String,
    pub text: String,
    pub html: String,
}

impl Received {
    pub fn parse(&self) -> Parsed {
        let (head, body) = self.data.split_once("\r\n\r\n").unwrap();
        let headers = unfold_headers(head);
        let get = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let ctype = get("content-type");
        let boundary = ctype
            .split("boundary=")
            .nth(1)
            .map(|b| {
                b.trim_matches('"')
                    .split(';')
                    .next()
                    .unwrap()
                    .trim_matches('"')
                    .to_owned()
            })
            .expect("multipart message");
        let mut text = String::new();
        let mut html = String::new();
        for part in body.split(&format!("--{boundary}")) {
            let Some((phead, pbody)) = part.split_once("\r\n\r\n") else {
                continue;
            };
            let pheaders = unfold_headers(phead.trim_start_matches("\r\n"));
            let pct = pheaders
                .iter()
                .find(|(k, _)| k == "content-type")
                .map(|(_, v)| v.to_ascii_lowercase())
                .unwrap_or_default();
            let decoded = decode_body(&pheaders, pbody.trim_end_matches("\r\n"));
            if pct.starts_with("text/plain") {
                text = decoded;
            } else if pct.starts_with("text/html") {
                html = decoded;
            }
        }
        Parsed {
            subject: decode_words(&get("subject")),
            to: get("to"),
            text,
            html,
        }
    }
}

impl Parsed {
    /// The first http(s) link of the text part.
    pub fn link(&self) -> String {
        self.text
            .lines()
            .find(|l| l.starts_with("http"))
            .expect("a link in the text part")
            .trim()
            .to_owned()
    }
}
