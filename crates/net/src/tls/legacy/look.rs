//! The tolerant look's logic: send one ClientHello, read the server's clear first
//! flight until what was asked for (the ServerHello, and the Certificate where wanted),
//! an alert, or the end of the connection. The caller bounds the time.

use super::suites::{suite, Offer, Suite, Version};
use super::wire::{alert, ClientHello, Message, Reader, WireError};
use rustls::pki_types::CertificateDer;
use rustls::AlertDescription;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The most the look reads from a server (its whole first flight fits many times).
pub const MAX_READ: usize = 256 * 1024;

/// What the server answered a ClientHello.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The version the server chose, as a wire number (a server may answer a lower
    /// ClientHello with a higher version, which TLS forbids).
    pub version: u16,
    /// The cipher suite it chose.
    pub suite: Suite,
    /// The certificates it sent, its own first (empty unless asked for).
    pub chain: Vec<CertificateDer<'static>>,
}

impl Answer {
    /// The version the server chose, if it is one of TLS 1.0–1.3.
    pub fn version(&self) -> Option<Version> {
        Version::from_wire(self.version)
    }
}

/// Why the server gave no answer to use.
#[derive(Debug, Clone, PartialEq)]
pub enum LookError {
    /// The server sent a fatal alert (e.g. `protocol_version` to an old ClientHello).
    Alert(AlertDescription),
    /// The server closed the connection without an alert.
    Closed,
    /// The server's bytes are not the TLS expected.
    Wire(WireError),
    /// The server ended its clear flight without a certificate (an anonymous or PSK suite).
    NoCertificate,
    /// The server sent more than [`MAX_READ`] bytes without what was asked for.
    TooMuch,
    /// A socket error (its kind: reset, refused...).
    Io(std::io::ErrorKind),
}

impl std::fmt::Display for LookError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LookError::Alert(a) => write!(
                f,
                "the server answered with the alert {}",
                super::super::facts::alert_name(*a)
            ),
            LookError::Closed => f.write_str("the server closed the connection without answering"),
            LookError::Wire(e) => write!(f, "{e}"),
            LookError::NoCertificate => f.write_str("the server sent no certificate"),
            LookError::TooMuch => write!(
                f,
                "the server sent more than {MAX_READ} bytes without a ServerHello and certificate"
            ),
            LookError::Io(kind) => write!(f, "the connection failed ({kind})"),
        }
    }
}

/// Sends a ClientHello offering up to `version` (the suites of `offer`, legacy signature
/// algorithms) for `server_name`, and reads the answer: the ServerHello, and with
/// `want_certificate` the Certificate message (in TLS 1.2 and older it is in clear).
/// Ends the exchange with a `user_canceled` alert when it has what it wanted.
pub async fn hello<S>(
    io: &mut S,
    server_name: &str,
    version: Version,
    offer: Offer,
    want_certificate: bool,
) -> Result<Answer, LookError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut random = [0u8; 32];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random);
    let sni = server_name
        .parse::<std::net::IpAddr>()
        .is_err()
        .then_some(server_name);
    let hello = ClientHello {
        version: version.wire(),
        random,
        server_name: sni,
        offer,
    };
    io.write_all(&hello.encode())
        .await
        .map_err(|e| LookError::Io(e.kind()))?;
    io.flush().await.map_err(|e| LookError::Io(e.kind()))?;
    let mut reader = Reader::default();
    let mut answer: Option<Answer> = None;
    let mut read = 0usize;
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        while let Some(m) = reader.message().map_err(LookError::Wire)? {
            match m {
                Message::Alert {
                    level: 2,
                    description,
                } => return Err(LookError::Alert(AlertDescription::from(description))),
                Message::Alert { .. } => {}
                Message::ServerHello(sh) => {
                    let a = Answer {
                        version: sh.version,
                        suite: suite(sh.suite),
                        chain: Vec::new(),
                    };
                    if !want_certificate || sh.version > 0x0303 {
                        return Ok(finish(io, a, version).await);
                    }
                    answer = Some(a);
                }
                Message::Certificate(chain) => {
                    if let Some(mut a) = answer.take() {
                        a.chain = chain.into_iter().map(CertificateDer::from).collect();
                        return Ok(finish(io, a, version).await);
                    }
                    return Err(LookError::Wire(WireError::Malformed(
                        "flight (a Certificate before the ServerHello)",
                    )));
                }
                Message::ServerHelloDone | Message::Encrypted => {
                    return Err(match answer {
                        Some(_) => LookError::NoCertificate,
                        None => LookError::Wire(WireError::Malformed("flight (no ServerHello)")),
                    })
                }
                Message::OtherHandshake(_) => {}
            }
        }
        if read > MAX_READ {
            return Err(LookError::TooMuch);
        }
        let n = io.read(&mut chunk).await.map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => LookError::Closed,
            k => LookError::Io(k),
        })?;
        if n == 0 {
            return Err(LookError::Closed);
        }
        read += n;
        reader.push(&chunk[..n]);
    }
}

/// Ends the exchange politely (the server learns the client gave up) and returns `a`.
async fn finish<S: AsyncWrite + Unpin>(io: &mut S, a: Answer, offered: Version) -> Answer {
    let _ = io.write_all(&alert(offered.wire(), 90)).await;
    let _ = io.shutdown().await;
    a
}
