//! Opening a client connection to a node: the endpoint (the pinned address or a
//! resolved one, or a federated domain's `_xmpp-client._tcp` record), TCP, STARTTLS and
//! the TLS handshake with the spec's trust, through the run's network toolkit
//! (`imp_verify_net`): the only module that touches the network below XMPP.

use imp_verify_core::spec::{Service, Spec};
use imp_verify_net::tls::starttls::{self, PreludeError};
use imp_verify_net::tls::TlsFacts;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// The most a server may send on one connection: far more than a check's stanzas (a
/// login, a roster, a few messages and presences), and a bound on what an enormous or
/// endless stanza can make the client buffer.
pub const MAX_STREAM_BYTES: u64 = 8 * 1024 * 1024;

/// A stream that refuses to read more than [`MAX_STREAM_BYTES`] in all: the XML parser
/// keeps a stanza in memory until it ends, so an endless one would grow without bound.
pub struct Capped<S> {
    inner: S,
    read: u64,
}

impl<S> Capped<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Capped { inner, read: 0 }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Capped<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.read >= MAX_STREAM_BYTES {
            return Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "the server sent more than {} MiB on one connection (an enormous stanza?)",
                    MAX_STREAM_BYTES >> 20
                ),
            )));
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = (buf.filled().len() - before) as u64;
        self.read += n;
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Capped<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A verified client connection, ready for the XML stream.
pub type Io = tokio::io::BufStream<Capped<TlsStream<TcpStream>>>;

/// Where a client connects: the address, and the XMPP domain it asks for.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The c2s address.
    pub addr: SocketAddr,
    /// The XMPP domain (stream `to`, SNI and certificate name).
    pub domain: String,
}

/// Why a connection could not be opened (or verified).
#[derive(Debug, Clone)]
pub enum ConnectFailure {
    /// The node is not in the spec.
    NotInSpec(String),
    /// The name did not resolve: the resolver's words.
    Resolve {
        /// The name.
        name: String,
        /// The resolver's words.
        error: String,
    },
    /// The name resolved to no address.
    NoAddress(String),
    /// A federated domain's `_xmpp-client._tcp` lookup failed (`None`: no record).
    NoClientService {
        /// The domain.
        domain: String,
        /// The resolver's words, or `None` when the domain has no record.
        error: Option<String>,
    },
    /// TCP failed.
    Tcp {
        /// The address.
        addr: SocketAddr,
        /// The socket error.
        error: String,
    },
    /// The plaintext prelude (stream, features, STARTTLS) failed.
    Prelude {
        /// The address.
        addr: SocketAddr,
        /// What went wrong.
        error: PreludeError,
    },
    /// The TLS handshake failed.
    Tls {
        /// The address.
        addr: SocketAddr,
        /// The inspector's words.
        error: String,
    },
    /// The certificate does not verify: no credential goes over this connection.
    Untrusted {
        /// The domain the certificate should name.
        domain: String,
        /// Why it does not verify.
        why: String,
    },
}

impl std::fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectFailure::NotInSpec(n) => write!(f, "{n} is not in the spec"),
            ConnectFailure::Resolve { name, error } => write!(f, "cannot resolve {name}: {error}"),
            ConnectFailure::NoAddress(n) => write!(f, "{n} has no address"),
            ConnectFailure::NoClientService {
                domain,
                error: Some(e),
            } => write!(f, "cannot find the XMPP server of {domain}: {e}"),
            ConnectFailure::NoClientService { domain, error: None } => {
                write!(f, "{domain} publishes no XMPP client service")
            }
            ConnectFailure::Tcp { addr, error } => write!(f, "cannot connect to {addr}: {error}"),
            ConnectFailure::Prelude { error, .. } => write!(f, "STARTTLS: {error}"),
            ConnectFailure::Tls { error, .. } => write!(f, "TLS: {error}"),
            ConnectFailure::Untrusted { domain, why } => write!(
                f,
                "the certificate of {domain} does not verify ({why}): no password is sent over this connection"
            ),
        }
    }
}

/// What a connection showed before any stream: for `xmpp.connect`.
pub struct Opened {
    /// The TLS stream.
    pub tls: TlsStream<TcpStream>,
    /// The handshake's facts (verified or not).
    pub facts: TlsFacts,
    /// The stream features offered before TLS.
    pub features: String,
}

/// Name resolution and TLS with the spec's trust: the run's toolkit, built once.
#[derive(Clone)]
pub struct Net {
    shared: Arc<imp_verify_net::Net>,
}

impl Net {
    /// Client connections through the run's toolkit.
    pub fn new(shared: Arc<imp_verify_net::Net>) -> Self {
        Net { shared }
    }

    /// The run's toolkit itself.
    pub fn shared(&self) -> &imp_verify_net::Net {
        &self.shared
    }

    /// The resolver and TLS inspector of `spec` (a toolkit of its own: tests).
    pub fn from_spec(spec: &Spec) -> Self {
        Net::new(imp_verify_net::Net::from_spec(spec))
    }

    async fn first_ip(&self, name: &str) -> Result<std::net::IpAddr, ConnectFailure> {
        self.shared
            .resolver
            .lookup_ip(name)
            .await
            .map_err(|e| ConnectFailure::Resolve {
                name: name.to_string(),
                error: e.to_string(),
            })?
            .first()
            .copied()
            .ok_or_else(|| ConnectFailure::NoAddress(name.to_string()))
    }

    /// The c2s endpoint of node `fqdn` of `spec`: its pinned address, or the first
    /// resolved one.
    pub async fn node(&self, spec: &Spec, fqdn: &str) -> Result<Endpoint, ConnectFailure> {
        let (cluster, node) = spec
            .node(fqdn)
            .ok_or_else(|| ConnectFailure::NotInSpec(fqdn.to_string()))?;
        let ip = match node.address {
            Some(ip) => ip,
            None => self.first_ip(fqdn).await?,
        };
        Ok(Endpoint {
            addr: SocketAddr::new(ip, node.port(Service::XmppC2s)),
            domain: cluster.domain.clone(),
        })
    }

    /// The c2s endpoint of a federated domain, from its `_xmpp-client._tcp` records.
    pub async fn peer(&self, domain: &str) -> Result<Endpoint, ConnectFailure> {
        let srv = self
            .shared
            .resolver
            .lookup_srv(&format!("_xmpp-client._tcp.{domain}"))
            .await
            .map_err(|e| ConnectFailure::NoClientService {
                domain: domain.to_string(),
                error: Some(e.to_string()),
            })?;
        let first = srv.first().ok_or_else(|| ConnectFailure::NoClientService {
            domain: domain.to_string(),
            error: None,
        })?;
        Ok(Endpoint {
            addr: SocketAddr::new(self.first_ip(&first.target).await?, first.port),
            domain: domain.to_string(),
        })
    }

    /// TCP, STARTTLS and the handshake to `at`, verified or not (the caller bounds the
    /// time).
    pub async fn open(&self, at: &Endpoint) -> Result<Opened, ConnectFailure> {
        let mut tcp = TcpStream::connect(at.addr)
            .await
            .map_err(|e| ConnectFailure::Tcp {
                addr: at.addr,
                error: e.to_string(),
            })?;
        let features = starttls::xmpp(&mut tcp, &at.domain, "jabber:client")
            .await
            .map_err(|error| ConnectFailure::Prelude {
                addr: at.addr,
                error,
            })?;
        let (tls, facts) = self
            .shared
            .tls
            .handshake(tcp, &at.domain, None)
            .await
            .map_err(|e| ConnectFailure::Tls {
                addr: at.addr,
                error: e.to_string(),
            })?;
        Ok(Opened {
            tls,
            facts,
            features,
        })
    }

    /// A connection to `at` whose certificate verified, ready for the XML stream.
    pub async fn open_verified(&self, at: &Endpoint) -> Result<Io, ConnectFailure> {
        let opened = self.open(at).await?;
        if !opened.facts.verified() {
            return Err(ConnectFailure::Untrusted {
                domain: at.domain.clone(),
                why: untrusted_why(&opened.facts),
            });
        }
        Ok(tokio::io::BufStream::new(Capped::new(opened.tls)))
    }
}

/// Why a handshake's certificate did not verify, in the inspector's words.
pub fn untrusted_why(facts: &TlsFacts) -> String {
    facts
        .verify_error
        .clone()
        .or(facts.handshake_error.clone())
        .unwrap_or_default()
}

/// The subject of the certificate a handshake showed, if it parses.
pub fn subject(facts: &TlsFacts) -> String {
    facts
        .chain
        .first()
        .and_then(|c| imp_verify_net::tls::view(c).ok())
        .map(|v| v.subject)
        .unwrap_or_default()
}
