//! Opening a connection to a directory server: its address and the TCP connection
//! through `imp_verify_net` before the deadline, then LDAPS's handshake or StartTLS and
//! its handshake, the certificate verified against the spec's CA and the server's
//! name. Each step enters its [`Stage`] first, and each failure is typed from rustls'
//! and the net crate's errors, never from their text.

use super::{result_of, Conn, Io, Limits, Pool, WireError};
use crate::wire::message::Request;
use crate::wire::LdapResult;
use imp_verify_core::spec::{LdapSecurity, LdapServer};
use imp_verify_core::Stage;
use imp_verify_net::{ConnectError, Resolver};
use std::net::SocketAddr;
use std::sync::Arc;
use thiserror::Error;
use tokio::time::Instant;

/// How the connection's security was set up, for evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// TLS from the first byte.
    Ldaps,
    /// StartTLS, then TLS.
    StartTls,
    /// Cleartext (the spec allows it).
    Cleartext,
}

/// How a TLS handshake failed, from rustls' typed error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeProblem {
    /// The server's certificate is not signed by the spec's CA.
    UnknownIssuer,
    /// The certificate does not name the server.
    NotValidForName,
    /// The certificate has expired.
    Expired,
    /// Another certificate error (rustls' words).
    OtherCertificate(String),
    /// The server ended the handshake with an alert (its name).
    Alert(String),
    /// Nothing in common (versions, suites, groups).
    Incompatible(String),
    /// The server closed the connection during the handshake.
    Closed,
    /// Anything else (rustls' words).
    Other(String),
}

impl HandshakeProblem {
    /// Whether the server's certificate (not the handshake) is what was refused.
    pub fn is_certificate(&self) -> bool {
        matches!(
            self,
            HandshakeProblem::UnknownIssuer
                | HandshakeProblem::NotValidForName
                | HandshakeProblem::Expired
                | HandshakeProblem::OtherCertificate(_)
        )
    }
}

impl std::fmt::Display for HandshakeProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HandshakeProblem::UnknownIssuer => {
                write!(
                    f,
                    "the server's certificate is not signed by the deployment's CA"
                )
            }
            HandshakeProblem::NotValidForName => {
                write!(f, "the server's certificate does not name this server")
            }
            HandshakeProblem::Expired => write!(f, "the server's certificate has expired"),
            HandshakeProblem::OtherCertificate(t) => {
                write!(f, "the server's certificate is refused ({t})")
            }
            HandshakeProblem::Alert(a) => {
                write!(f, "the server ended the TLS handshake with the alert {a}")
            }
            HandshakeProblem::Incompatible(p) => {
                write!(
                    f,
                    "the server's TLS offers nothing this client accepts ({p})"
                )
            }
            HandshakeProblem::Closed => {
                write!(
                    f,
                    "the server closed the connection during the TLS handshake"
                )
            }
            HandshakeProblem::Other(t) => write!(f, "the TLS handshake failed ({t})"),
        }
    }
}

/// Why a connection could not be opened.
#[derive(Debug, Clone, Error)]
pub enum OpenError {
    /// No address, or no TCP connection (the net crate's words).
    #[error("{0}")]
    Reach(String, ReachKind),
    /// The spec's CA bundle cannot be used.
    #[error("the spec's CA bundle cannot be used: {0}")]
    Trust(String),
    /// The TLS handshake failed.
    #[error("{0}")]
    Handshake(HandshakeProblem),
    /// The server refused StartTLS.
    #[error("the server refused StartTLS: {} ({})", .0.diagnostic, .0.code)]
    StartTlsRefused(LdapResult),
    /// The server sent bytes after its StartTLS answer, before the handshake (bytes an
    /// attacker could have injected): the session is not used.
    #[error("the server sent data after its StartTLS answer, before the TLS handshake")]
    StartTlsInjection,
    /// The exchange of StartTLS failed.
    #[error("{0}")]
    Wire(WireError),
    /// The deadline passed in this step.
    #[error("no answer within the check's time, in {}", .0.describe())]
    TimedOut(Stage),
}

/// Which part of reaching the server failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReachKind {
    /// The name does not resolve (or not in time).
    Resolve,
    /// Nothing listens, or the connection was refused.
    Refused,
    /// No TCP connection in time.
    Timeout,
}

impl From<ConnectError> for OpenError {
    fn from(e: ConnectError) -> OpenError {
        let kind = match &e {
            ConnectError::ResolveTimeout { .. }
            | ConnectError::Resolve { .. }
            | ConnectError::NoAddress { .. } => ReachKind::Resolve,
            ConnectError::ConnectTimeout { .. } => ReachKind::Timeout,
            ConnectError::Connect { .. } => ReachKind::Refused,
        };
        OpenError::Reach(e.to_string(), kind)
    }
}

/// What opening needs from the run.
pub struct OpenWith<'a> {
    /// The spec's resolver.
    pub resolver: &'a Resolver,
    /// The strict TLS configuration of the spec's CA (or why there is none).
    pub tls: &'a Result<Arc<rustls::ClientConfig>, crate::session::NoTrust>,
    /// Message limits.
    pub limits: Limits,
    /// The run's room for large messages.
    pub pool: &'a Pool,
    /// Where the check says which step it is in.
    pub stage: &'a (dyn Fn(Stage) + Send + Sync),
}

/// A connection to `server`, secured as the spec says, every step before `deadline`.
pub async fn open(
    server: &LdapServer,
    with: OpenWith<'_>,
    deadline: Instant,
) -> Result<Conn, OpenError> {
    (with.stage)(Stage::Resolve);
    let ip = imp_verify_net::address(with.resolver, &server.host, server.ip(), deadline).await?;
    (with.stage)(Stage::TcpConnect);
    let tcp = imp_verify_net::connect(SocketAddr::new(ip, server.port), deadline).await?;
    let _ = tcp.set_nodelay(true);
    match server.security {
        LdapSecurity::Cleartext => Ok(Conn::new(
            Io::Plain(tcp),
            with.limits,
            with.pool.clone(),
            deadline,
        )),
        LdapSecurity::Ldaps => {
            let tls = handshake(tcp, server, &with, deadline).await?;
            Ok(Conn::new(tls, with.limits, with.pool.clone(), deadline))
        }
        LdapSecurity::StartTls => {
            let config = with.tls.clone().map_err(|e| OpenError::Trust(e.0))?;
            (with.stage)(Stage::StartTls);
            let mut plain = Conn::new(Io::Plain(tcp), with.limits, with.pool.clone(), deadline);
            let id = plain
                .send(&Request::StartTls, &[])
                .await
                .map_err(wire(Stage::StartTls))?;
            let answer = plain.answer(id).await.map_err(wire(Stage::StartTls))?;
            let (result, _) = result_of(answer.op).map_err(OpenError::Wire)?;
            if result.code != 0 {
                return Err(OpenError::StartTlsRefused(result));
            }
            if plain.has_unread() {
                return Err(OpenError::StartTlsInjection);
            }
            let tcp = plain.into_tcp().ok_or(OpenError::StartTlsInjection)?;
            let tls = handshake_with(tcp, server, config, &with, deadline).await?;
            Ok(Conn::new(tls, with.limits, with.pool.clone(), deadline))
        }
    }
}

fn wire(stage: Stage) -> impl Fn(WireError) -> OpenError {
    move |e| match e {
        WireError::TimedOut => OpenError::TimedOut(stage),
        e => OpenError::Wire(e),
    }
}

async fn handshake(
    tcp: tokio::net::TcpStream,
    server: &LdapServer,
    with: &OpenWith<'_>,
    deadline: Instant,
) -> Result<Io, OpenError> {
    let config = with.tls.clone().map_err(|e| OpenError::Trust(e.0))?;
    handshake_with(tcp, server, config, with, deadline).await
}

async fn handshake_with(
    tcp: tokio::net::TcpStream,
    server: &LdapServer,
    config: Arc<rustls::ClientConfig>,
    with: &OpenWith<'_>,
    deadline: Instant,
) -> Result<Io, OpenError> {
    (with.stage)(Stage::TlsHandshake);
    let name = rustls::pki_types::ServerName::try_from(server.host.clone()).map_err(|e| {
        OpenError::Handshake(HandshakeProblem::Other(format!(
            "`{}` is not a server name: {e}",
            server.host
        )))
    })?;
    let connector = tokio_rustls::TlsConnector::from(config);
    let stream = tokio::time::timeout_at(deadline, connector.connect(name, tcp))
        .await
        .map_err(|_| OpenError::TimedOut(Stage::TlsHandshake))?
        .map_err(|e| OpenError::Handshake(problem(&e)))?;
    Ok(Io::Tls(Box::new(stream)))
}

/// The handshake's failure, from the rustls error inside tokio-rustls' I/O error.
fn problem(e: &std::io::Error) -> HandshakeProblem {
    use rustls::CertificateError as C;
    let tls = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match tls {
        Some(rustls::Error::InvalidCertificate(c)) => match c {
            C::UnknownIssuer => HandshakeProblem::UnknownIssuer,
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                HandshakeProblem::NotValidForName
            }
            C::Expired | C::ExpiredContext { .. } => HandshakeProblem::Expired,
            other => HandshakeProblem::OtherCertificate(format!("{other:?}")),
        },
        Some(rustls::Error::AlertReceived(a)) => {
            HandshakeProblem::Alert(imp_verify_net::tls::alert_name(*a))
        }
        Some(rustls::Error::PeerIncompatible(p)) => {
            HandshakeProblem::Incompatible(format!("{p:?}"))
        }
        Some(other) => HandshakeProblem::Other(other.to_string()),
        None if e.kind() == std::io::ErrorKind::UnexpectedEof => HandshakeProblem::Closed,
        None => HandshakeProblem::Other(format!("the connection broke ({})", e.kind())),
    }
}

impl Transport {
    /// The transport `security` sets up.
    pub fn of(security: LdapSecurity) -> Transport {
        match security {
            LdapSecurity::Ldaps => Transport::Ldaps,
            LdapSecurity::StartTls => Transport::StartTls,
            LdapSecurity::Cleartext => Transport::Cleartext,
        }
    }

    /// Its name in a report.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Ldaps => "LDAPS",
            Transport::StartTls => "StartTLS",
            Transport::Cleartext => "cleartext (allowed by the spec)",
        }
    }
}
