//! Observing a UDS server: a TCP connection through `imp_verify_net`, the TLS handshake
//! through the run's inspector (the spec's CA bundle), the certificate judged for the
//! host name the client asked for, and then, only over a connection whose certificate
//! verified, one HTTP request. Every step within the check's deadline, every failure
//! typed.

use crate::http::{self, HttpError, Request, Response};
use imp_verify_core::{CheckCtx, Stage};
use imp_verify_net::tls::rustls::pki_types::UnixTime;
use imp_verify_net::tls::{dns_covers, view, ChainError, HandshakeFailure};
use imp_verify_net::{ConnectError, DnsError, Net};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

/// Where a request goes: a host (a `_cisco-uds._tcp` target, a home cluster) and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The host name (or address) the client asks for, and verifies the certificate for.
    pub host: String,
    /// The port.
    pub port: u16,
    /// The address the spec pins for the host, if it is a node of the spec.
    pub pinned: Option<IpAddr>,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// What the TLS handshake showed of the server's certificate.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsSeen {
    /// The address connected to.
    pub addr: SocketAddr,
    /// `TLSv1_3 TLS13_AES_256_GCM_SHA384`.
    pub protocol: String,
    /// The certificate's subject.
    pub subject: String,
    /// The certificate's issuer.
    pub issuer: String,
    /// The names it carries (`DNS:cucm.lab.test, IP:127.0.0.24`).
    pub names: String,
    /// Whether it chains to the spec's CA bundle.
    pub chain: Result<(), ChainError>,
    /// Whether it names the host asked for (a DNS name covering it, or its address).
    pub names_host: bool,
    /// Why it is not trusted for the host now (rustls' words), if it is not: chain,
    /// name, validity together. `None`: credentials may be sent.
    pub verify_error: Option<String>,
}

impl TlsSeen {
    /// Whether the certificate verifies for the host: the condition for sending
    /// anything, and above all a password.
    pub fn trusted(&self) -> bool {
        self.verify_error.is_none()
    }
}

/// Why a TCP connection could not be made.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnectFailure {
    /// The host name does not resolve.
    Resolve(DnsError),
    /// It resolves to no address.
    NoAddress,
    /// Nothing listens there (connection refused).
    Refused(SocketAddr),
    /// Another failure (unreachable, reset...), in the system's words.
    Other(SocketAddr, String),
}

/// Why a request got no response.
#[derive(Debug, Clone, PartialEq)]
pub enum FetchError {
    /// No TCP connection.
    Connect(ConnectFailure),
    /// The TLS handshake failed; what the server showed before, if anything.
    Handshake {
        /// Where.
        addr: SocketAddr,
        /// What kind of failure.
        kind: HandshakeFailure,
        /// In the administrator's words.
        message: String,
        /// The certificate, if the server sent one.
        seen: Option<TlsSeen>,
    },
    /// The certificate does not verify for the host: the request was not sent.
    Untrusted(TlsSeen),
    /// The HTTP exchange failed.
    Http {
        /// Where.
        addr: SocketAddr,
        /// Why.
        error: HttpError,
    },
    /// A step did not finish before the check's deadline.
    TimedOut(Stage),
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Connect(ConnectFailure::Resolve(e)) => write!(f, "{e}"),
            FetchError::Connect(ConnectFailure::NoAddress) => {
                f.write_str("the name has no address")
            }
            FetchError::Connect(ConnectFailure::Refused(a)) => {
                write!(f, "{a}: connection refused (nothing listens on the port)")
            }
            FetchError::Connect(ConnectFailure::Other(a, why)) => write!(f, "{a}: {why}"),
            FetchError::Handshake { addr, message, .. } => {
                write!(f, "{addr}: the TLS handshake failed: {message}")
            }
            FetchError::Untrusted(seen) => write!(
                f,
                "{}: the certificate does not verify: {}",
                seen.addr,
                seen.verify_error.as_deref().unwrap_or_default()
            ),
            FetchError::Http { addr, error } => write!(f, "{addr}: {error}"),
            FetchError::TimedOut(stage) => write!(f, "no answer in time ({stage})"),
        }
    }
}

fn connect_failure(e: ConnectError) -> FetchError {
    match e {
        ConnectError::ResolveTimeout { .. } => FetchError::TimedOut(Stage::Resolve),
        ConnectError::ConnectTimeout { .. } => FetchError::TimedOut(Stage::TcpConnect),
        ConnectError::Resolve { error, .. } => FetchError::Connect(ConnectFailure::Resolve(error)),
        ConnectError::NoAddress { .. } => FetchError::Connect(ConnectFailure::NoAddress),
        ConnectError::Connect { addr, error }
            if error.kind() == std::io::ErrorKind::ConnectionRefused =>
        {
            FetchError::Connect(ConnectFailure::Refused(addr))
        }
        ConnectError::Connect { addr, error } => {
            FetchError::Connect(ConnectFailure::Other(addr, error.to_string()))
        }
    }
}

/// What the certificate chain says about `host`.
fn seen(net: &Net, host: &str, addr: SocketAddr, facts: &imp_verify_net::TlsFacts) -> TlsSeen {
    let cert = facts.chain.first().and_then(|c| view(c).ok());
    let ip = host.parse::<IpAddr>().ok();
    let names_host = cert.as_ref().is_some_and(|c| match ip {
        Some(ip) => c
            .names
            .ip
            .iter()
            .any(|a| a.parse::<IpAddr>().ok() == Some(ip)),
        None => c.names.dns.iter().any(|d| dns_covers(d, host)),
    });
    TlsSeen {
        addr,
        protocol: format!("{} {}", facts.version, facts.cipher),
        subject: cert.as_ref().map(|c| c.subject.clone()).unwrap_or_default(),
        issuer: cert.as_ref().map(|c| c.issuer.clone()).unwrap_or_default(),
        names: cert.as_ref().map(|c| c.names.show()).unwrap_or_default(),
        chain: net.tls.verify_chain(&facts.chain, UnixTime::now()),
        names_host,
        verify_error: facts
            .verify_error
            .clone()
            .or_else(|| facts.handshake_error.clone()),
    }
}

/// A TLS session with `ep`, and what its certificate showed.
async fn session(
    net: &Net,
    ep: &Endpoint,
    deadline: Instant,
    cx: &CheckCtx,
) -> Result<(impl AsyncRead + AsyncWrite + Unpin, TlsSeen), FetchError> {
    cx.enter(Stage::TcpConnect);
    let (tcp, addr) = imp_verify_net::reach(&net.resolver, &ep.host, ep.pinned, ep.port, deadline)
        .await
        .map_err(connect_failure)?;
    cx.enter(Stage::TlsHandshake);
    let handshake = net.tls.handshake(tcp, &ep.host, None);
    match tokio::time::timeout_at(deadline, handshake).await {
        Err(_) => Err(FetchError::TimedOut(Stage::TlsHandshake)),
        Ok(Err(e)) => Err(FetchError::Handshake {
            addr,
            kind: e.kind,
            seen: e.facts.as_ref().map(|f| seen(net, &ep.host, addr, f)),
            message: e.message,
        }),
        Ok(Ok((stream, facts))) => {
            let s = seen(net, &ep.host, addr, &facts);
            Ok((stream, s))
        }
    }
}

/// Connects to `ep` and shakes hands: what its certificate showed.
pub async fn handshake(
    net: &Net,
    ep: &Endpoint,
    deadline: Instant,
    cx: &CheckCtx,
) -> Result<TlsSeen, FetchError> {
    session(net, ep, deadline, cx).await.map(|(_, s)| s)
}

/// `GET path` of `ep`, with the user's credentials when `basic` is given; sent only
/// once the certificate verified for the host.
pub async fn get(
    net: &Net,
    ep: &Endpoint,
    path: &str,
    basic: Option<(&str, &str)>,
    deadline: Instant,
    cx: &CheckCtx,
) -> Result<(TlsSeen, Response), FetchError> {
    let (mut stream, seen) = session(net, ep, deadline, cx).await?;
    if !seen.trusted() {
        return Err(FetchError::Untrusted(seen));
    }
    cx.enter(Stage::HttpRequest);
    let req = Request {
        host: &ep.host,
        port: ep.port,
        path,
        basic,
    };
    match tokio::time::timeout_at(deadline, http::get(&mut stream, req)).await {
        Err(_) => Err(FetchError::TimedOut(Stage::HttpRequest)),
        Ok(Err(error)) => Err(FetchError::Http {
            addr: seen.addr,
            error,
        }),
        Ok(Ok(r)) => Ok((seen, r)),
    }
}

/// The host and port of an `https://` URL (`https://cucm.lab.test:8443/cucm-uds/...`),
/// the port 443 when it names none.
pub fn https_host_port(url: &str) -> Option<(String, u16)> {
    let rest = url.trim().strip_prefix("https://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?;
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (h, after) = v6.split_once(']')?;
            (h, after.strip_prefix(':'))
        }
        None => match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        },
    };
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => 443,
    };
    (!host.is_empty()).then(|| (host.to_ascii_lowercase(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_their_host_and_port() {
        assert_eq!(
            https_host_port("https://CUCM.lab.test:8443/cucm-uds/user/alice"),
            Some(("cucm.lab.test".into(), 8443))
        );
        assert_eq!(https_host_port("https://h/x"), Some(("h".into(), 443)));
        assert_eq!(
            https_host_port("https://[2001:db8::1]:8443/"),
            Some(("2001:db8::1".into(), 8443))
        );
        assert_eq!(https_host_port("http://h:8080/"), None);
        assert_eq!(https_host_port("https://h:port/"), None);
        assert_eq!(https_host_port("https://"), None);
    }
}
