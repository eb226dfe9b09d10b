//! A minimal keep-alive HTTP/1.1 client over one TCP connection: writes a
//! request that the caller built (usually once, up front), reads the status
//! line, the few headers it needs and a Content-Length or chunked body into
//! a buffer it reuses. Low overhead on purpose, so the driver measures the
//! server and not itself (`mana-bench --self-check` shows how much it can do).

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One persistent connection.
pub struct Conn {
    stream: TcpStream,
    /// Bytes read and not yet consumed.
    buf: Vec<u8>,
    /// The last response's decoded body.
    body: Vec<u8>,
}

/// A response; the body borrows the connection's buffer.
pub struct Response<'a> {
    pub status: u16,
    pub body: &'a [u8],
    /// The first `Set-Cookie` value up to its `;`, when asked for.
    pub cookie: Option<String>,
    /// The server asked to close the connection.
    pub close: bool,
    /// `Retry-After` in seconds, when the answer has one.
    pub retry_after: Option<u64>,
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_owned())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse_usize(v: &[u8], radix: u32) -> Option<usize> {
    usize::from_str_radix(std::str::from_utf8(v).ok()?.trim(), radix).ok()
}

/// Appends a request: `method path`, the headers (each "Name: value"), and
/// a JSON body when `body` is not empty.
pub fn build(method: &str, path: &str, headers: &[String], body: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nHost: bench\r\n");
    for h in headers {
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !body.is_empty() {
        out.extend_from_slice(b"Content-Type: application/json\r\nContent-Length: ");
        out.extend_from_slice(body.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
    } else if method != "GET" {
        out.extend_from_slice(b"Content-Length: 0\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

impl Conn {
    /// Connects to `addr` (host:port).
    pub async fn open(addr: &str) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: Vec::with_capacity(16 * 1024),
            body: Vec::with_capacity(16 * 1024),
        })
    }

    /// Sends one complete request (see `build`) and reads the response.
    pub async fn roundtrip(
        &mut self,
        request: &[u8],
        want_cookie: bool,
    ) -> io::Result<Response<'_>> {
        self.stream.write_all(request).await?;
        self.read_response(want_cookie).await
    }

    async fn fill(&mut self) -> io::Result<()> {
        if self.buf.capacity() - self.buf.len() < 4096 {
            self.buf.reserve(16 * 1024);
        }
        let n = self.stream.read_buf(&mut self.buf).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        Ok(())
    }

    async fn read_response(&mut self, want_cookie: bool) -> io::Result<Response<'_>> {
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            self.fill().await?;
        };
        let head = &self.buf[..head_end];
        let status = head
            .get(9..12)
            .and_then(|s| parse_usize(s, 10))
            .ok_or_else(|| bad("no status"))? as u16;
        let mut length = None;
        let mut chunked = false;
        let mut close = false;
        let mut cookie = None;
        let mut retry_after = None;
        for line in head.split(|&b| b == b'\n').skip(1) {
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            let (name, value) = (&line[..colon], &line[colon + 1..]);
            if name.eq_ignore_ascii_case(b"content-length") {
                length = parse_usize(value, 10);
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                chunked = value
                    .to_ascii_lowercase()
                    .windows(7)
                    .any(|w| w == b"chunked");
            } else if name.eq_ignore_ascii_case(b"connection") {
                close = value.to_ascii_lowercase().windows(5).any(|w| w == b"close");
            } else if name.eq_ignore_ascii_case(b"retry-after") {
                retry_after = parse_usize(value, 10).map(|v| v as u64);
            } else if want_cookie && cookie.is_none() && name.eq_ignore_ascii_case(b"set-cookie") {
                let v = String::from_utf8_lossy(value);
                cookie = v.trim().split(';').next().map(str::to_owned);
            }
        }
        self.body.clear();
        if chunked {
            let mut at = head_end;
            loop {
                let line_end = loop {
                    if let Some(i) = find(&self.buf[at..], b"\r\n") {
                        break at + i;
                    }
                    self.fill().await?;
                };
                let size_text = &self.buf[at..line_end];
                let size_text = size_text.split(|&b| b == b';').next().unwrap_or(size_text);
                let size = parse_usize(size_text, 16).ok_or_else(|| bad("bad chunk size"))?;
                let data = line_end + 2;
                while self.buf.len() < data + size + 2 {
                    self.fill().await?;
                }
                self.body.extend_from_slice(&self.buf[data..data + size]);
                at = data + size + 2;
                if size == 0 {
                    break;
                }
            }
            self.buf.drain(..at);
        } else {
            let length = length.unwrap_or(0);
            while self.buf.len() < head_end + length {
                self.fill().await?;
            }
            self.body
                .extend_from_slice(&self.buf[head_end..head_end + length]);
            self.buf.drain(..head_end + length);
        }
        Ok(Response {
            status,
            body: &self.body,
            cookie,
            close,
            retry_after,
        })
    }
}
