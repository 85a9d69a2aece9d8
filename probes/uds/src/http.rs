//! A small HTTP/1.1 client, enough for UDS: one `GET` per connection
//! (`Connection: close`), the response head parsed by `httparse`, the body framed by
//! `Content-Length`, the chunked transfer coding or the end of the connection, every
//! part bounded ([`MAX_HEAD`], [`MAX_BODY`]). Redirects are not followed. Time is the
//! caller's to bound (the whole exchange runs under its deadline).

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The largest response head read (status line and headers).
pub const MAX_HEAD: usize = 16 * 1024;
/// The largest response body read: UDS documents are a few KiB (a user resource of
/// CUCM 12.5 is about 5 KiB).
pub const MAX_BODY: usize = 256 * 1024;
/// The most headers a response may carry.
const MAX_HEADERS: usize = 64;

/// A `GET` request.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    /// The host, as the `Host` header names it.
    pub host: &'a str,
    /// The port, in the `Host` header.
    pub port: u16,
    /// The path and query, already percent-encoded (see [`encode`]).
    pub path: &'a str,
    /// HTTP Basic credentials (user id, password), for resources that need the user's.
    pub basic: Option<(&'a str, &'a str)>,
}

impl std::fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        f.debug_struct("Request")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("path", &self.path)
            .field("basic", &self.basic.map(|(u, _)| u))
            .finish()
    }
}

impl Request<'_> {
    /// The request's bytes. They hold the password when `basic` is set: never log them.
    fn to_bytes(self) -> Vec<u8> {
        use base64::Engine as _;
        let mut head = format!(
            "GET {} HTTP/1.1\r\nHost: {}:{}\r\nAccept: application/xml\r\nUser-Agent: imp-verify/{}\r\nConnection: close\r\n",
            self.path,
            self.host,
            self.port,
            env!("CARGO_PKG_VERSION")
        );
        if let Some((user, password)) = self.basic {
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            head.push_str(&format!("Authorization: Basic {token}\r\n"));
        }
        head.push_str("\r\n");
        head.into_bytes()
    }
}

/// A response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The reason phrase, as the server wrote it.
    pub reason: String,
    /// The headers, in order (names as written).
    pub headers: Vec<(String, String)>,
    /// The body, its transfer coding removed.
    pub body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `401 Unauthorized`: the status line as the report shows it.
    pub fn status_line(&self) -> String {
        format!("{} {}", self.status, self.reason)
    }
}

/// Why an exchange did not give a response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// Reading or writing failed.
    #[error("the connection failed: {text}")]
    Io {
        /// The kind of failure.
        kind: std::io::ErrorKind,
        /// The system's words.
        text: String,
    },
    /// The server closed the connection before the response head was complete.
    #[error("the server closed the connection after {got} byte(s), before a complete HTTP response head")]
    ClosedInHead {
        /// How many bytes had come.
        got: usize,
    },
    /// What came is not an HTTP/1.x response head (the parser's words).
    #[error("the answer is not an HTTP/1.x response: {0}")]
    Malformed(String),
    /// The head is larger than [`MAX_HEAD`].
    #[error("the response head is over {limit} bytes")]
    HeadTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The body is larger than [`MAX_BODY`].
    #[error("the response body is over {limit} bytes")]
    BodyTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The connection ended inside the body.
    #[error("the server closed the connection {got} byte(s) into the body")]
    Truncated {
        /// How many body bytes had come.
        got: usize,
    },
    /// The chunked transfer coding is broken.
    #[error("the chunked transfer coding is broken: {0}")]
    BadChunk(&'static str),
}

impl From<std::io::Error> for HttpError {
    fn from(e: std::io::Error) -> Self {
        HttpError::Io {
            kind: e.kind(),
            text: e.to_string(),
        }
    }
}

/// Sends `req` over `io` and reads the response.
pub async fn get<S>(io: &mut S, req: Request<'_>) -> Result<Response, HttpError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    io.write_all(&req.to_bytes()).await?;
    io.flush().await?;
    let mut r = Reader {
        io,
        buf: Vec::new(),
        eof: false,
    };
    loop {
        let (status, reason, headers) = r.head().await?;
        // An interim response (100 Continue...) is followed by the real one.
        if (100..200).contains(&status) {
            continue;
        }
        let body = if status == 204 || status == 304 {
            Vec::new()
        } else {
            r.body(&headers).await?
        };
        return Ok(Response {
            status,
            reason,
            headers,
            body,
        });
    }
}

type Head = (u16, String, Vec<(String, String)>);

struct Reader<'a, S> {
    io: &'a mut S,
    /// Read and not yet consumed.
    buf: Vec<u8>,
    eof: bool,
}

impl<S: AsyncRead + Unpin> Reader<'_, S> {
    /// Reads more into the buffer; false at the end of the stream. A TLS peer that
    /// closes without close_notify ends the stream too (the framing says whether
    /// anything is missing).
    async fn fill(&mut self) -> Result<bool, HttpError> {
        if self.eof {
            return Ok(false);
        }
        let mut chunk = [0u8; 8192];
        match self.io.read(&mut chunk).await {
            Ok(0) => {
                self.eof = true;
                Ok(false)
            }
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                self.eof = true;
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn head(&mut self) -> Result<Head, HttpError> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut parsed = httparse::Response::new(&mut headers);
            match parsed.parse(&self.buf) {
                Ok(httparse::Status::Complete(n)) => {
                    let head = (
                        parsed.code.unwrap_or(0),
                        parsed.reason.unwrap_or("").to_string(),
                        parsed
                            .headers
                            .iter()
                            .map(|h| {
                                (
                                    h.name.to_string(),
                                    String::from_utf8_lossy(h.value).trim().to_string(),
                                )
                            })
                            .collect(),
                    );
                    self.buf.drain(..n);
                    return Ok(head);
                }
                Ok(httparse::Status::Partial) => {}
                Err(e) => return Err(HttpError::Malformed(e.to_string())),
            }
            if self.buf.len() > MAX_HEAD {
                return Err(HttpError::HeadTooLarge { limit: MAX_HEAD });
            }
            if !self.fill().await? {
                return Err(HttpError::ClosedInHead {
                    got: self.buf.len(),
                });
            }
        }
    }

    async fn body(&mut self, headers: &[(String, String)]) -> Result<Vec<u8>, HttpError> {
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let chunked = header("transfer-encoding").is_some_and(|v| {
            v.rsplit(',')
                .next()
                .is_some_and(|c| c.trim().eq_ignore_ascii_case("chunked"))
        });
        if chunked {
            return self.chunked().await;
        }
        if let Some(len) = header("content-length") {
            let len: usize = len
                .parse()
                .map_err(|_| HttpError::Malformed(format!("Content-Length `{len}`")))?;
            if len > MAX_BODY {
                return Err(HttpError::BodyTooLarge { limit: MAX_BODY });
            }
            while self.buf.len() < len {
                if !self.fill().await? {
                    return Err(HttpError::Truncated {
                        got: self.buf.len(),
                    });
                }
            }
            return Ok(self.buf.drain(..len).collect());
        }
        // Neither: the body ends with the connection.
        while self.fill().await? {
            if self.buf.len() > MAX_BODY {
                return Err(HttpError::BodyTooLarge { limit: MAX_BODY });
            }
        }
        Ok(std::mem::take(&mut self.buf))
    }

    /// A line of at most `max` bytes, without its CRLF.
    async fn line(&mut self, max: usize) -> Result<Vec<u8>, HttpError> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = self.buf[..i].to_vec();
                self.buf.drain(..i + 2);
                return Ok(line);
            }
            if self.buf.len() > max {
                return Err(HttpError::BadChunk("a chunk line is too long"));
            }
            if !self.fill().await? {
                return Err(HttpError::BadChunk(
                    "the connection ended inside a chunk line",
                ));
            }
        }
    }

    async fn chunked(&mut self) -> Result<Vec<u8>, HttpError> {
        let mut body = Vec::new();
        loop {
            let line = self.line(1024).await?;
            let size = line.split(|b| *b == b';').next().unwrap_or_default();
            let size = std::str::from_utf8(size)
                .ok()
                .map(str::trim)
                .filter(|s| !s.is_empty() && s.len() <= 8)
                .and_then(|s| usize::from_str_radix(s, 16).ok())
                .ok_or(HttpError::BadChunk("a chunk size is not hexadecimal"))?;
            if size == 0 {
                // Trailers, up to the empty line.
                while !self.line(MAX_HEAD).await?.is_empty() {}
                return Ok(body);
            }
            if body.len() + size > MAX_BODY {
                return Err(HttpError::BodyTooLarge { limit: MAX_BODY });
            }
            while self.buf.len() < size + 2 {
                if !self.fill().await? {
                    return Err(HttpError::Truncated {
                        got: body.len() + self.buf.len().min(size),
                    });
                }
            }
            body.extend(self.buf.drain(..size));
            if self.buf.drain(..2).as_slice() != b"\r\n" {
                return Err(HttpError::BadChunk("a chunk does not end with CRLF"));
            }
        }
    }
}

/// `s` percent-encoded for a path segment or a query value (RFC 3986: every byte but
/// the unreserved characters).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// Runs a GET against a peer that answers `answer` (then closes), returning what the
    /// client sent and what it read.
    async fn exchange(
        answer: Vec<u8>,
        basic: Option<(&str, &str)>,
    ) -> (String, Result<Response, HttpError>) {
        let (mut client, mut server) = tokio::io::duplex(1 << 20);
        let peer = tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut b = [0u8; 4096];
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = server.read(&mut b).await.unwrap();
                if n == 0 {
                    break;
                }
                seen.extend_from_slice(&b[..n]);
            }
            server.write_all(&answer).await.unwrap();
            server.shutdown().await.unwrap();
            String::from_utf8(seen).unwrap()
        });
        let req = Request {
            host: "cucm.lab.test",
            port: 8443,
            path: "/cucm-uds/version",
            basic,
        };
        let r = get(&mut client, req).await;
        (peer.await.unwrap(), r)
    }

    #[tokio::test]
    async fn a_request_asks_for_xml_and_closes_and_carries_basic_credentials() {
        let (sent, r) = exchange(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec(),
            Some(("alice", "s3cret")),
        )
        .await;
        assert!(
            sent.starts_with("GET /cucm-uds/version HTTP/1.1\r\n"),
            "{sent}"
        );
        assert!(sent.contains("Host: cucm.lab.test:8443\r\n"));
        assert!(sent.contains("Accept: application/xml\r\n"));
        assert!(sent.contains("Connection: close\r\n"));
        // base64("alice:s3cret")
        assert!(
            sent.contains("Authorization: Basic YWxpY2U6czNjcmV0\r\n"),
            "{sent}"
        );
        assert_eq!(r.unwrap().body, b"ok");
        let req = Request {
            host: "h",
            port: 1,
            path: "/",
            basic: Some(("alice", "s3cret")),
        };
        assert!(!format!("{req:?}").contains("s3cret"));
    }

    #[tokio::test]
    async fn bodies_are_framed_by_length_chunks_or_the_end_of_the_connection() {
        let (_, r) = exchange(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello and more".to_vec(),
            None,
        )
        .await;
        assert_eq!(r.unwrap().body, b"hello");
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\n<ver\r\nA\r\nsion/>abcd\r\n0\r\nX-Trailer: 1\r\n\r\n";
        let (_, r) = exchange(chunked.to_vec(), None).await;
        let r = r.unwrap();
        assert_eq!(r.body, b"<version/>abcd");
        assert_eq!(r.status_line(), "200 OK");
        let (_, r) = exchange(b"HTTP/1.0 404 Not Found\r\n\r\nno such".to_vec(), None).await;
        let r = r.unwrap();
        assert_eq!((r.status, r.body.as_slice()), (404, &b"no such"[..]));
        let (_, r) = exchange(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"x\"\r\nContent-Length: 0\r\n\r\n".to_vec(),
            None,
        )
        .await;
        let r = r.unwrap();
        assert_eq!(r.status, 401);
        assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"x\""));
    }

    #[tokio::test]
    async fn hostile_answers_are_errors_with_bounds() {
        let (_, r) = exchange(b"SSH-2.0-OpenSSH_9.2\r\n\r\n".to_vec(), None).await;
        assert!(matches!(r, Err(HttpError::Malformed(_))), "{r:?}");
        let (_, r) = exchange(b"HTTP/1.1 200 OK\r\nContent-Len".to_vec(), None).await;
        assert_eq!(r, Err(HttpError::ClosedInHead { got: 28 }));
        let mut huge = b"HTTP/1.1 200 OK\r\n".to_vec();
        huge.extend(std::iter::repeat_n(b'a', MAX_HEAD + 10));
        let (_, r) = exchange(huge, None).await;
        assert!(
            matches!(
                r,
                Err(HttpError::Malformed(_)) | Err(HttpError::HeadTooLarge { .. })
            ),
            "{r:?}"
        );
        let big = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY + 1
        );
        let (_, r) = exchange(big.into_bytes(), None).await;
        assert_eq!(r, Err(HttpError::BodyTooLarge { limit: MAX_BODY }));
        let mut endless = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
        endless.extend(std::iter::repeat_n(b'x', MAX_BODY + 1));
        let (_, r) = exchange(endless, None).await;
        assert_eq!(r, Err(HttpError::BodyTooLarge { limit: MAX_BODY }));
        let (_, r) = exchange(
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort".to_vec(),
            None,
        )
        .await;
        assert_eq!(r, Err(HttpError::Truncated { got: 5 }));
        let (_, r) = exchange(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec(),
            None,
        )
        .await;
        assert_eq!(
            r,
            Err(HttpError::BadChunk("a chunk size is not hexadecimal"))
        );
        let (_, r) = exchange(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFF\r\n".to_vec(),
            None,
        )
        .await;
        assert_eq!(r, Err(HttpError::BodyTooLarge { limit: MAX_BODY }));
    }

    #[test]
    fn components_are_percent_encoded() {
        assert_eq!(encode("alice"), "alice");
        assert_eq!(encode("a b/c?d&e=é"), "a%20b%2Fc%3Fd%26e%3D%C3%A9");
        assert_eq!(encode("j.doe_1~-"), "j.doe_1~-");
    }
}
