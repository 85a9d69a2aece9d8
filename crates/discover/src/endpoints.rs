//! Opening a node's service ports: a TCP connection, and where the service speaks TLS
//! the handshake (after XMPP's STARTTLS or LDAP's StartTLS where the protocol wants
//! one) to read the certificate. Nothing is sent after the handshake: no credential,
//! no request.

use imp_verify_core::spec::Service;
use imp_verify_net::tls::rustls::pki_types::CertificateDer;
use imp_verify_net::tls::{starttls, view};
use imp_verify_net::{connect, TlsInspector};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// What a certificate says, as discovery uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSummary {
    /// The subject distinguished name.
    pub subject: String,
    /// The subject's common name, if it has one.
    pub common_name: Option<String>,
    /// DNS names of the Subject Alternative Names, lower case.
    pub dns: Vec<String>,
    /// id-on-xmppAddr identities.
    pub xmpp_addr: Vec<String>,
    /// SRVName identities, like `_xmpp-client.lab.test`.
    pub srv_name: Vec<String>,
    /// The issuer distinguished name.
    pub issuer: String,
    /// Whether subject and issuer are the same name.
    pub self_signed: bool,
    /// notAfter, RFC 3339.
    pub not_after: String,
    /// The issuers of the other certificates the server sent (its chain), in order.
    pub chain_issuers: Vec<String>,
}

impl CertSummary {
    /// Whether a DNS name of the certificate covers `host` (wildcards of one label).
    pub fn covers(&self, host: &str) -> bool {
        self.dns
            .iter()
            .any(|d| imp_verify_net::tls::dns_covers(d, host))
    }

    /// Whether the certificate names the XMPP domain (DNS SAN, xmppAddr or SRVName).
    pub fn names_domain(&self, domain: &str) -> bool {
        let d = domain.to_ascii_lowercase();
        self.covers(&d)
            || self.xmpp_addr.contains(&d)
            || self
                .srv_name
                .iter()
                .any(|s| s.split_once('.').map(|(_, rest)| rest) == Some(d.as_str()))
    }

    /// The subject a SIP peer matches: the common name, else the first DNS name.
    pub fn peer_subject(&self) -> Option<String> {
        self.common_name
            .clone()
            .or_else(|| self.dns.first().cloned())
            .map(|s| s.to_ascii_lowercase())
    }
}

/// What opening one port showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// Nothing accepted a TCP connection (why).
    Closed(String),
    /// A TCP connection was accepted (a service not spoken over TLS).
    Open,
    /// The TLS handshake showed this certificate (and, if it did not complete, why).
    Cert(CertSummary, Option<String>),
    /// The port accepted a connection but no certificate could be read (why).
    NoCert(String),
}

impl Seen {
    /// Whether the port accepted a connection.
    pub fn answered(&self) -> bool {
        !matches!(self, Seen::Closed(_))
    }

    /// The certificate read, if any.
    pub fn cert(&self) -> Option<&CertSummary> {
        match self {
            Seen::Cert(c, _) => Some(c),
            _ => None,
        }
    }
}

/// One port of one host that discovery opens.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Port {
    /// The host name (SNI, and the stream's `to` for XMPP).
    pub host: String,
    /// The service on the port.
    pub service: Service,
    /// The port.
    pub port: u16,
}

/// How the TLS session is opened on a service's port, if the service speaks TLS.
enum Tls {
    /// Not opened (a cleartext service: only the TCP connection is tried).
    No,
    /// TLS from the first byte.
    Direct,
    /// XMPP client stream, STARTTLS, then TLS.
    Xmpp,
    /// LDAP StartTLS extended operation, then TLS.
    Ldap,
}

fn tls_of(service: Service) -> Tls {
    match service {
        Service::XmppC2s => Tls::Xmpp,
        Service::SipTls | Service::Https | Service::Ldaps => Tls::Direct,
        Service::Ldap => Tls::Ldap,
        Service::XmppS2s | Service::SipTcp => Tls::No,
    }
}

/// Opens `port` at `ip`, the whole within `step`; `domain` is the XMPP stream's `to`.
pub async fn open(
    inspector: &TlsInspector,
    port: &Port,
    ip: IpAddr,
    domain: &str,
    step: Duration,
) -> Seen {
    let how = tls_of(port.service);
    open_with(inspector, &port.host, port.port, how, ip, domain, step).await
}

/// Opens `host`'s `port` at `ip` with TLS from the first byte (an endpoint that is no
/// node's service: Expressway's `_collab-edge._tls`, a `_sipfederationtls._tcp`
/// target), within `step`.
pub async fn open_tls(
    inspector: &TlsInspector,
    host: &str,
    port: u16,
    ip: IpAddr,
    step: Duration,
) -> Seen {
    open_with(inspector, host, port, Tls::Direct, ip, "", step).await
}

async fn open_with(
    inspector: &TlsInspector,
    host: &str,
    port: u16,
    tls: Tls,
    ip: IpAddr,
    domain: &str,
    step: Duration,
) -> Seen {
    let deadline = tokio::time::Instant::now() + step;
    let addr = SocketAddr::new(ip, port);
    let mut tcp = match connect(addr, deadline).await {
        Ok(s) => s,
        Err(e) => return Seen::Closed(e.to_string()),
    };
    let work = async {
        match tls {
            Tls::No => return Seen::Open,
            Tls::Direct => {}
            Tls::Xmpp => {
                if let Err(e) = starttls::xmpp(&mut tcp, domain, "jabber:client").await {
                    return Seen::NoCert(format!("XMPP STARTTLS: {e}"));
                }
            }
            Tls::Ldap => {
                if let Err(e) = starttls::ldap(&mut tcp).await {
                    return Seen::NoCert(format!("LDAP StartTLS: {e}"));
                }
            }
        }
        match inspector.handshake(tcp, host, None).await {
            Ok((_stream, facts)) => summary(&facts.chain, None),
            Err(e) => match e.facts {
                Some(facts) => summary(&facts.chain, Some(e.message)),
                None => Seen::NoCert(e.message),
            },
        }
    };
    match tokio::time::timeout_at(deadline, work).await {
        Ok(seen) => seen,
        Err(_) => Seen::NoCert(format!(
            "no TLS handshake within {} on {addr}",
            humantime::format_duration(step)
        )),
    }
}

fn summary(chain: &[CertificateDer<'static>], note: Option<String>) -> Seen {
    let Some(leaf) = chain.first() else {
        return Seen::NoCert("the server sent no certificate".into());
    };
    match read_cert(leaf, &chain[1..]) {
        Ok(c) => Seen::Cert(c, note),
        Err(e) => Seen::NoCert(e),
    }
}

/// Reads the parts of `leaf` discovery needs.
pub fn read_cert(
    leaf: &CertificateDer<'_>,
    rest: &[CertificateDer<'_>],
) -> Result<CertSummary, String> {
    let v = view(leaf)?;
    let chain_issuers = rest
        .iter()
        .filter_map(|c| view(c).ok().map(|v| v.issuer))
        .collect();
    Ok(CertSummary {
        subject: v.subject,
        common_name: v.cn,
        dns: v.names.dns,
        xmpp_addr: v.names.xmpp_addr,
        srv_name: v.names.srv_name,
        issuer: v.issuer,
        self_signed: v.self_signed,
        not_after: imp_verify_net::tls::rfc3339(v.not_after),
        chain_issuers,
    })
}
