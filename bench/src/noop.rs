//! The self-check: the driver against a no-op HTTP server, to show the
//! driver itself is not the bottleneck. The server runs on its own OS
//! thread with a current_thread runtime and answers every request with a
//! fixed 200 `{"ok":true}`; the driver runs on the caller's thread (one
//! core) and sends the same shape of request as the `/session` workload (a
//! GET with a Bearer token of a real token's length) and parses the JSON
//! answer, as it does against mana-auth.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::driver::{self, Check, Figure, Kind};
use crate::http::build;

const ANSWER: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{\"ok\":true}";

async fn serve_conn(mut s: tokio::net::TcpStream) {
    let _ = s.set_nodelay(true);
    let mut buf = vec![0u8; 64 * 1024];
    let mut pending = 0usize;
    let mut out = Vec::with_capacity(16 * 1024);
    // Requests have no body: each ends with an empty line. A request split
    // across reads is handled by keeping the last 3 bytes in view.
    let mut tail = [0u8; 3];
    loop {
        let n = match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let mut window = Vec::with_capacity(n + 3);
        window.extend_from_slice(&tail[3 - pending.min(3)..]);
        window.extend_from_slice(&buf[..n]);
        let answers = window.windows(4).filter(|w| w == b"\r\n\r\n").count();
        let keep = window.len().min(3);
        tail = [0; 3];
        tail[3 - keep..].copy_from_slice(&window[window.len() - keep..]);
        pending = keep;
        out.clear();
        for _ in 0..answers {
            out.extend_from_slice(ANSWER);
        }
        if !out.is_empty() && s.write_all(&out).await.is_err() {
            return;
        }
    }
}

/// Starts the no-op server on its own thread; returns its address.
pub fn start() -> io::Result<String> {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    std_listener.set_nonblocking(true)?;
    let addr = std_listener.local_addr()?.to_string();
    std::thread::Builder::new()
        .name("noop-server".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            let local = tokio::task::LocalSet::new();
            local.block_on(&rt, async move {
                let Ok(listener) = TcpListener::from_std(std_listener) else {
                    return;
                };
                while let Ok((s, _)) = listener.accept().await {
                    tokio::task::spawn_local(serve_conn(s));
                }
            });
        })?;
    Ok(addr)
}

/// The driver against the no-op server at each concurrency.
pub async fn self_check(concurrency: &[usize], seconds: f64) -> io::Result<Vec<(usize, Figure)>> {
    let addr = start()?;
    let token = format!("Bearer {}", "x".repeat(560));
    let mut req = Vec::new();
    build(
        "GET",
        "/api/v1/auth/session",
        &[format!("Authorization: {token}")],
        &[],
        &mut req,
    );
    let kind = Kind::Fixed {
        fixed: vec![req],
        check: Check::Ok,
    };
    let mut out = Vec::new();
    for &c in concurrency {
        out.push((c, driver::run(&addr, &kind, c, seconds).await?));
    }
    Ok(out)
}
