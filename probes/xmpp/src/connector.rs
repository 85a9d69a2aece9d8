//! Opening a connection to a node: its endpoint (the spec's pinned address or a
//! resolved one, a federated domain's SRV record, the host a redirect names), TCP
//! through the run's network toolkit (`imp_verify_net`) by the check's deadline, the
//! plaintext stream, STARTTLS, and the TLS handshake with the spec's trust. The only
//! module that touches the network below XMPP.

use crate::wire::capped::{Capped, Received, Seen, MAX_PRELUDE_BYTES, MAX_STREAM_BYTES};
use crate::wire::features::Features;
use crate::wire::stream::{self, Opener, Steps, StreamFailure};
use imp_verify_core::spec::{Service, Spec};
use imp_verify_core::Stage;
use imp_verify_net::tls::TlsFacts;
use imp_verify_net::ConnectError;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tokio::io::BufStream;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_xmpp::xmlstream::XmppStream;

/// A connection before TLS, bounded and recorded.
pub type Plain = BufStream<Capped<TcpStream>>;

/// A verified connection after TLS, bounded and recorded, ready for the XML stream.
pub type Io = BufStream<Capped<TlsStream<TcpStream>>>;

/// Where a connection goes: the address, the XMPP domain it asks for (stream `to`, SNI
/// and the certificate's reference identity), and the host name it was found by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientEndpoint {
    /// The address.
    pub addr: SocketAddr,
    /// The XMPP domain.
    pub domain: String,
    /// The host the address is of (a node FQDN, an SRV target, a redirect's host).
    pub host: String,
}

/// Why a connection could not be opened (or verified).
#[derive(Debug)]
pub enum ConnectFailure {
    /// The node is not in the spec.
    NotInSpec(String),
    /// The endpoint could not be reached (DNS, TCP): the toolkit's typed error.
    Reach(ConnectError),
    /// A domain's SRV lookup failed (`None`: no record).
    NoService {
        /// The record asked for (`_xmpp-client._tcp.partner.test`).
        record: String,
        /// The resolver's words, or `None` when the domain has no record.
        error: Option<String>,
    },
    /// The host a `see-other-host` names cannot be a connection's (its text, escaped).
    BadRedirect(String),
    /// A step of the plaintext stream, of TCP or of the TLS handshake failed.
    Stream {
        /// The address.
        addr: SocketAddr,
        /// What the server did.
        failure: StreamFailure,
    },
    /// The server offers no STARTTLS: its features.
    NoStarttls {
        /// The address.
        addr: SocketAddr,
        /// What it offered.
        features: Features,
    },
    /// The server offers SASL before TLS while not offering STARTTLS.
    SaslWithoutTls {
        /// The address.
        addr: SocketAddr,
        /// What it offered.
        features: Features,
    },
    /// The TLS handshake failed: the inspector's words.
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

impl ConnectFailure {
    /// The step that ran out of time, when one did.
    pub fn timed_out(&self) -> Option<Stage> {
        match self {
            ConnectFailure::Stream {
                failure: StreamFailure::Timeout { stage, .. },
                ..
            } => Some(*stage),
            ConnectFailure::Reach(ConnectError::ResolveTimeout { .. }) => Some(Stage::Resolve),
            _ => None,
        }
    }
}

impl std::fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectFailure::NotInSpec(n) => write!(f, "{n} is not in the spec"),
            ConnectFailure::Reach(e) => write!(f, "{e}"),
            ConnectFailure::NoService {
                record,
                error: Some(e),
            } => write!(f, "cannot look up {record}: {e}"),
            ConnectFailure::NoService { record, error: None } => {
                write!(f, "there is no {record} record")
            }
            ConnectFailure::BadRedirect(t) => {
                write!(f, "the server redirects to `{t}`, which is not a host")
            }
            ConnectFailure::Stream { addr, failure } => write!(f, "{addr}: {failure}"),
            ConnectFailure::NoStarttls { addr, features } => write!(
                f,
                "{addr}: the server offers no STARTTLS (stream features: {features})"
            ),
            ConnectFailure::SaslWithoutTls { addr, features } => write!(
                f,
                "{addr}: the server offers authentication without TLS (stream features: {features})"
            ),
            ConnectFailure::Tls { addr, error } => write!(f, "{addr}: TLS after STARTTLS: {error}"),
            ConnectFailure::Untrusted { domain, why } => write!(
                f,
                "the certificate of {domain} does not verify ({why}): no password is sent over this connection"
            ),
        }
    }
}

/// What a connection showed up to its TLS handshake.
pub struct Opened {
    /// The TLS stream.
    pub tls: TlsStream<TcpStream>,
    /// The handshake's facts (verified or not).
    pub facts: TlsFacts,
    /// The stream features offered before TLS.
    pub before_tls: Features,
}

/// Client and server connections through the run's network toolkit (resolver, TLS
/// inspector with the spec's trust).
#[derive(Clone)]
pub struct Connector {
    net: Arc<imp_verify_net::Net>,
}

impl Connector {
    /// Connections through the run's toolkit.
    pub fn new(net: Arc<imp_verify_net::Net>) -> Self {
        Connector { net }
    }

    /// The run's toolkit itself.
    pub fn net(&self) -> &imp_verify_net::Net {
        &self.net
    }

    /// `service`'s endpoint of node `fqdn` of `spec`: its pinned address, or the first
    /// resolved one (the resolve step).
    pub async fn node(
        &self,
        spec: &Spec,
        fqdn: &str,
        service: Service,
        steps: &Steps,
    ) -> Result<ClientEndpoint, ConnectFailure> {
        let (cluster, node) = spec
            .node(fqdn)
            .ok_or_else(|| ConnectFailure::NotInSpec(fqdn.to_string()))?;
        let ip = self.address(fqdn, node.address, steps).await?;
        Ok(ClientEndpoint {
            addr: SocketAddr::new(ip, node.port(service)),
            domain: cluster.domain.clone(),
            host: node.fqdn().to_string(),
        })
    }

    async fn address(
        &self,
        host: &str,
        pinned: Option<IpAddr>,
        steps: &Steps,
    ) -> Result<IpAddr, ConnectFailure> {
        steps.enter(Stage::Resolve);
        imp_verify_net::address(&self.net.resolver, host, pinned, steps.deadline().into())
            .await
            .map_err(|e| reach_failure(e, steps))
    }

    /// The endpoint of `domain` from its `record` SRV set (`_xmpp-client._tcp` for
    /// clients, `_xmpp-server._tcp` for servers): the first target.
    pub async fn srv(
        &self,
        domain: &str,
        prefix: &str,
        steps: &Steps,
    ) -> Result<ClientEndpoint, ConnectFailure> {
        let record = format!("{prefix}.{domain}");
        let srv = steps
            .run(Stage::Resolve, self.net.resolver.lookup_srv(&record))
            .await
            .ok_or_else(|| ConnectFailure::NoService {
                record: record.clone(),
                error: Some("no answer in time".into()),
            })?
            .map_err(|e| ConnectFailure::NoService {
                record: record.clone(),
                error: Some(e.to_string()),
            })?;
        let first = srv.first().ok_or(ConnectFailure::NoService {
            record,
            error: None,
        })?;
        let ip = self.address(&first.target, None, steps).await?;
        Ok(ClientEndpoint {
            addr: SocketAddr::new(ip, first.port),
            domain: domain.to_string(),
            host: first.target.clone(),
        })
    }

    /// The endpoint a `see-other-host` names (`host`, `host:port`, `[v6]:port`; RFC 6120
    /// §4.9.3.19): the same domain, the host's address (pinned when it is a node of the
    /// spec), port 5222 unless it says otherwise.
    pub async fn redirect(
        &self,
        spec: &Spec,
        from: &ClientEndpoint,
        named: &str,
        steps: &Steps,
    ) -> Result<ClientEndpoint, ConnectFailure> {
        let (host, port) = split_host_port(named)
            .ok_or_else(|| ConnectFailure::BadRedirect(imp_verify_core::text::peer_text(named)))?;
        let port = port.unwrap_or(Service::XmppC2s.default_port());
        let ip = match host.parse::<IpAddr>() {
            Ok(ip) => ip,
            Err(_) => {
                let pinned = spec.node(&host).and_then(|(_, n)| n.address);
                self.address(&host, pinned, steps).await?
            }
        };
        Ok(ClientEndpoint {
            addr: SocketAddr::new(ip, port),
            domain: from.domain.clone(),
            host,
        })
    }

    /// TCP to `at` and the plaintext stream as `opener`: the features offered before
    /// TLS, the stream, and the record of what the server sent.
    pub async fn open_plain(
        &self,
        at: &ClientEndpoint,
        opener: Opener<'_>,
        steps: &Steps,
    ) -> Result<(Features, XmppStream<Plain>, Received), ConnectFailure> {
        let addr = at.addr;
        steps.enter(Stage::TcpConnect);
        let tcp = imp_verify_net::connect(addr, steps.deadline().into())
            .await
            .map_err(|e| reach_failure(e, steps))?;
        let received = Received::default();
        let plain: Plain = BufStream::new(Capped::new(tcp, MAX_PRELUDE_BYTES, received.clone()));
        let (features, xml) = Box::pin(stream::open(plain, opener, &at.domain, steps, &received))
            .await
            .map_err(|failure| ConnectFailure::Stream { addr, failure })?;
        Ok((features, xml, received))
    }

    /// STARTTLS on a plaintext stream and the TLS handshake for `at`'s domain, verified
    /// or not (the facts say).
    pub async fn starttls(
        &self,
        at: &ClientEndpoint,
        mut xml: XmppStream<Plain>,
        received: &Received,
        steps: &Steps,
    ) -> Result<(TlsStream<TcpStream>, TlsFacts), ConnectFailure> {
        let addr = at.addr;
        let failed = |failure| ConnectFailure::Stream { addr, failure };
        stream::starttls(&mut xml, steps, received)
            .await
            .map_err(failed)?;
        let tcp = xml.into_inner().into_inner().into_inner();
        let handshake = steps
            .run(
                Stage::TlsHandshake,
                Box::pin(self.net.tls.handshake(tcp, &at.domain, None)),
            )
            .await
            .ok_or_else(|| {
                failed(StreamFailure::Timeout {
                    stage: Stage::TlsHandshake,
                    after: steps.budget(),
                    seen: Seen::default(),
                })
            })?;
        handshake.map_err(|e| ConnectFailure::Tls {
            addr,
            error: e.message,
        })
    }

    /// TCP to `at`, the plaintext stream as `opener`, STARTTLS and the TLS handshake,
    /// verified or not (the facts say), each step by the deadline.
    pub async fn open(
        &self,
        at: &ClientEndpoint,
        opener: Opener<'_>,
        steps: &Steps,
    ) -> Result<Opened, ConnectFailure> {
        let (before_tls, xml, received) = Box::pin(self.open_plain(at, opener, steps)).await?;
        if let Some(refusal) = without_tls(at, &before_tls) {
            return Err(refusal);
        }
        let (tls, facts) = Box::pin(self.starttls(at, xml, &received, steps)).await?;
        Ok(Opened {
            tls,
            facts,
            before_tls,
        })
    }

    /// A client connection to `at` whose certificate verified, ready for the XML
    /// stream, and the record of what the server sends on it.
    pub async fn open_verified(
        &self,
        at: &ClientEndpoint,
        steps: &Steps,
    ) -> Result<(Io, Received), ConnectFailure> {
        let opened = self.open(at, Opener::Client, steps).await?;
        if !opened.facts.verified() {
            return Err(ConnectFailure::Untrusted {
                domain: at.domain.clone(),
                why: untrusted_why(&opened.facts),
            });
        }
        let received = Received::default();
        Ok((
            BufStream::new(Capped::new(opened.tls, MAX_STREAM_BYTES, received.clone())),
            received,
        ))
    }
}

/// Why features that offer no STARTTLS end the connection: no TLS, with or without
/// SASL offered in the clear.
pub fn without_tls(at: &ClientEndpoint, features: &Features) -> Option<ConnectFailure> {
    if features.starttls.is_some() {
        return None;
    }
    let (addr, features) = (at.addr, features.clone());
    Some(if features.mechanisms.is_empty() {
        ConnectFailure::NoStarttls { addr, features }
    } else {
        ConnectFailure::SaslWithoutTls { addr, features }
    })
}

/// A toolkit's reach error; a TCP connection that ran out of time is the TCP step's
/// timeout.
fn reach_failure(e: ConnectError, steps: &Steps) -> ConnectFailure {
    match e {
        ConnectError::ConnectTimeout { addr } => ConnectFailure::Stream {
            addr,
            failure: StreamFailure::Timeout {
                stage: Stage::TcpConnect,
                after: steps.budget(),
                seen: Seen::default(),
            },
        },
        e => ConnectFailure::Reach(e),
    }
}

/// `host`, `host:port` or `[v6]:port` as (host, port).
fn split_host_port(s: &str) -> Option<(String, Option<u16>)> {
    let s = s.trim();
    if s.is_empty()
        || s.chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '/')
    {
        return None;
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        v6.parse::<std::net::Ipv6Addr>().ok()?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        return Some((v6.to_string(), port));
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => Some((h.to_string(), Some(p.parse().ok()?))),
        Some(_) => None,
        None => Some((s.to_string(), None)),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redirects_host_is_read_as_rfc_6120_writes_it() {
        assert_eq!(
            split_host_port("imp2.lab.test"),
            Some(("imp2.lab.test".into(), None))
        );
        assert_eq!(
            split_host_port("imp2.lab.test:5223"),
            Some(("imp2.lab.test".into(), Some(5223)))
        );
        assert_eq!(
            split_host_port("[2001:db8::1]:5222"),
            Some(("2001:db8::1".into(), Some(5222)))
        );
        for bad in [
            "",
            "a b",
            "host:port",
            "[zz]:1",
            "2001:db8::1",
            "h/x",
            "h:99999",
        ] {
            assert_eq!(split_host_port(bad), None, "{bad}");
        }
    }
}
