//! `imp-verify discover`: from a domain name to a first deployment spec.
//!
//! It reads the domain's service records ([`records`]), resolves every target, opens
//! each node's service ports and reads the certificates of those that speak TLS
//! ([`endpoints`]; never a credential, never a request after the handshake), looks for
//! the SIP publish trunk's cluster-wide SRV name among the names the IM&P nodes'
//! certificates carry, groups the nodes ([`layout`]: what DNS says, and what is a
//! guess) and writes the spec ([`render`]): every value found, and a commented TODO,
//! with the field's documentation, for what DNS cannot say.

#![warn(missing_docs)]

mod docs;
pub mod endpoints;
pub mod layout;
pub mod records;
pub mod render;
mod render_federation;

use endpoints::{Port, Seen};
use futures::StreamExt;
use imp_verify_core::spec::Transport;
use imp_verify_net::{Net, Srv};
use records::{Kind, Lookup, Record};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// The most hosts discovery resolves (a hostile DNS answer cannot make it open more).
pub const MAX_HOSTS: usize = 64;

/// The most connections or lookups in flight at once.
const MAX_OPEN: usize = 32;

/// What to discover, and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// The IM domain, like `example.com`.
    pub domain: String,
    /// The DNS server to ask; `None`: the system resolver.
    pub dns_server: Option<SocketAddr>,
    /// The time each network step has (a lookup, a connection and its handshake).
    pub timeout: Duration,
}

/// The trunk's transports, in the order a spec lists them (their SRV record prefixes:
/// [`Transport::srv_prefix`]).
pub const TRUNK_TRANSPORTS: [Transport; 3] = [Transport::Udp, Transport::Tcp, Transport::Tls];

/// The spec's name of a transport (`udp`).
pub fn transport_name(t: Transport) -> &'static str {
    match t {
        Transport::Udp => "udp",
        Transport::Tcp => "tcp",
        Transport::Tls => "tls",
    }
}

/// A SIP publish trunk's cluster-wide SRV name that was found.
#[derive(Debug, Clone)]
pub struct Trunk {
    /// The name, like `imp-cluster.lab.test`.
    pub srv_name: String,
    /// The records found under it, by transport.
    pub records: Vec<(Transport, Vec<Srv>)>,
}

impl Trunk {
    /// Every target of the trunk's records.
    pub fn targets(&self) -> BTreeSet<String> {
        self.records
            .iter()
            .flat_map(|(_, v)| v.iter().map(|s| s.target.clone()))
            .collect()
    }
}

/// Everything discovery observed.
#[derive(Debug, Clone)]
pub struct Discovery {
    /// The domain.
    pub domain: String,
    /// The DNS server asked (`None`: the system resolver).
    pub dns_server: Option<SocketAddr>,
    /// Every service record asked, and what it answered.
    pub records: Vec<Record>,
    /// The addresses of every target (or why there are none).
    pub addresses: BTreeMap<String, Result<Vec<IpAddr>, String>>,
    /// Every port opened, and what it showed.
    pub ports: BTreeMap<Port, Seen>,
    /// The TLS endpoints that are no node's service (the targets of `_collab-edge._tls`
    /// and `_sipfederationtls._tcp`, and of `_sips._tcp` when not a node): by record,
    /// host and port, what they showed.
    pub others: BTreeMap<(Kind, String, u16), Seen>,
    /// The SIP publish trunk SRV names found.
    pub trunks: Vec<Trunk>,
    /// The names tried as the trunk's SRV name (from the certificates).
    pub trunk_candidates: Vec<String>,
}

impl Discovery {
    /// The records of `kind`.
    pub fn records(&self, kind: Kind) -> &[Srv] {
        self.records
            .iter()
            .find(|r| r.kind == kind)
            .map(|r| r.lookup.records())
            .unwrap_or(&[])
    }

    /// The first address of `host`, if it resolved.
    pub fn address(&self, host: &str) -> Option<IpAddr> {
        self.addresses
            .get(host)
            .and_then(|r| r.as_ref().ok())
            .and_then(|v| v.first().copied())
    }
}

/// Why discovery could not produce a spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscoverError {
    /// `domain` is not a DNS name.
    BadDomain(String),
    /// None of the service records exists: the names asked.
    NoRecords {
        /// The domain.
        domain: String,
        /// Every name asked.
        asked: Vec<String>,
    },
    /// The DNS server answered none of the questions: what happened.
    NoDns {
        /// The server(s) asked.
        servers: String,
        /// The first failure.
        detail: String,
    },
}

impl fmt::Display for DiscoverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiscoverError::BadDomain(d) => write!(f, "`{d}` is not a DNS domain name"),
            DiscoverError::NoRecords { domain, asked } => write!(
                f,
                "{domain} has none of the service records of an IM and Presence deployment (asked: {}); check the domain name and the DNS server (--dns-server)",
                asked.join(", ")
            ),
            DiscoverError::NoDns { servers, detail } => write!(
                f,
                "no service record could be read from the DNS server ({servers}): {detail}"
            ),
        }
    }
}

impl std::error::Error for DiscoverError {}

/// The network toolkit for discovery: `server` (or the system resolver) asked with
/// `timeout`, and no trust anchors (certificates are read, not judged).
fn toolkit(server: Option<SocketAddr>, timeout: Duration) -> std::sync::Arc<Net> {
    // Two attempts a query fit into one step.
    let query = (timeout / 2).max(Duration::from_millis(100));
    let servers: Vec<SocketAddr> = server.into_iter().collect();
    Net::new(
        imp_verify_net::Resolver::new(&servers, query),
        imp_verify_net::TlsInspector::new(None, false, 30),
    )
}

/// Discovers the deployment of `opts.domain`; `progress` is told each step.
pub async fn discover(
    opts: &Options,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Discovery, DiscoverError> {
    let domain = opts
        .domain
        .trim_end_matches('.')
        .to_ascii_lowercase()
        .to_string();
    if !layout::is_dns_name(&domain) {
        return Err(DiscoverError::BadDomain(opts.domain.clone()));
    }
    let net = toolkit(opts.dns_server, opts.timeout);
    let step = opts.timeout;
    progress(&format!(
        "asking {} for the service records of {domain}",
        net.resolver.servers()
    ));
    let records = records::read_all(&net.resolver, &domain, step).await;
    something_found(&records, &net, &domain)?;
    let mut d = Discovery {
        domain: domain.clone(),
        dns_server: opts.dns_server,
        records,
        addresses: BTreeMap::new(),
        ports: BTreeMap::new(),
        others: BTreeMap::new(),
        trunks: Vec::new(),
        trunk_candidates: Vec::new(),
    };
    let hosts: BTreeSet<String> = d
        .records
        .iter()
        .flat_map(|r| r.lookup.records().iter().map(|s| s.target.clone()))
        .collect();
    progress(&format!("resolving {} host(s)", hosts.len()));
    resolve(&net, &mut d, hosts, step).await;
    open_ports(&net, &mut d, step, progress).await;
    find_trunks(&net, &mut d, step, progress).await;
    Ok(d)
}

/// An error when no record was found: the DNS is the news when some question went
/// unanswered, else the domain has none of the records.
fn something_found(records: &[Record], net: &Net, domain: &str) -> Result<(), DiscoverError> {
    if records.iter().any(|r| !r.lookup.records().is_empty()) {
        return Ok(());
    }
    if let Some(detail) = records.iter().find_map(|r| match &r.lookup {
        Lookup::Failed(d) => Some(d.clone()),
        _ => None,
    }) {
        return Err(DiscoverError::NoDns {
            servers: net.resolver.servers().to_string(),
            detail,
        });
    }
    Err(DiscoverError::NoRecords {
        domain: domain.to_string(),
        asked: records.iter().map(|r| r.name.clone()).collect(),
    })
}

/// Opens the ports the records name, and the other TLS endpoints of the layout, reading
/// their certificates.
async fn open_ports(
    net: &Arc<Net>,
    d: &mut Discovery,
    step: Duration,
    progress: &(dyn Fn(&str) + Sync),
) {
    let ports = layout::ports_to_open(d);
    progress(&format!(
        "opening {} port(s) and reading their certificates",
        ports.len()
    ));
    let domain = d.domain.clone();
    let opened: Vec<(Port, Seen)> = futures::stream::iter(ports.into_iter().map(|p| {
        let ip = d.address(&p.host);
        let net = net.clone();
        let domain = domain.clone();
        async move {
            let seen = match ip {
                Some(ip) => endpoints::open(&net.tls, &p, ip, &domain, step).await,
                None => Seen::Closed(format!("{} has no address", p.host)),
            };
            (p, seen)
        }
    }))
    .buffer_unordered(MAX_OPEN)
    .collect()
    .await;
    d.ports.extend(opened);
    let others = layout::other_tls_endpoints(d);
    let opened: Vec<_> = futures::stream::iter(others.into_iter().map(|(kind, host, port)| {
        let ip = d.address(&host);
        let net = net.clone();
        async move {
            let seen = match ip {
                Some(ip) => endpoints::open_tls(&net.tls, &host, port, ip, step).await,
                None => Seen::Closed(format!("{host} has no address")),
            };
            ((kind, host, port), seen)
        }
    }))
    .buffer_unordered(MAX_OPEN)
    .collect()
    .await;
    d.others.extend(opened);
}

/// Looks for the SIP publish trunk's SRV name among the layout's candidates, keeps the
/// ones that lead to an IM&P node, and resolves the nodes only the trunk names.
async fn find_trunks(
    net: &Arc<Net>,
    d: &mut Discovery,
    step: Duration,
    progress: &(dyn Fn(&str) + Sync),
) {
    d.trunk_candidates = layout::trunk_candidates(d);
    if !d.trunk_candidates.is_empty() {
        progress(&format!(
            "looking for the SIP publish trunk's SRV name among {}",
            d.trunk_candidates.join(", ")
        ));
    }
    let found = futures::future::join_all(d.trunk_candidates.iter().map(|name| {
        let net = net.clone();
        async move {
            let mut records = Vec::new();
            for t in TRUNK_TRANSPORTS {
                let q = t.srv_name(name);
                if let Lookup::Found(v) = records::srv(&net.resolver, &q, step).await {
                    records.push((t, v));
                }
            }
            Trunk {
                srv_name: name.clone(),
                records,
            }
        }
    }))
    .await;
    let imp = layout::imp_nodes(d);
    d.trunks = found
        .into_iter()
        .filter(|t| t.targets().iter().any(|h| imp.contains(h)))
        .collect();
    // Trunk targets not seen yet (a node only the trunk names) get their addresses.
    let missing: BTreeSet<String> = d
        .trunks
        .iter()
        .flat_map(|t| t.targets())
        .filter(|h| !d.addresses.contains_key(h))
        .collect();
    resolve(net, d, missing, step).await;
}

async fn resolve(net: &Net, d: &mut Discovery, hosts: BTreeSet<String>, step: Duration) {
    let hosts = hosts.into_iter().take(MAX_HOSTS);
    let resolved: Vec<_> = futures::stream::iter(hosts.map(|h| async move {
        let r = match tokio::time::timeout(step, net.resolver.lookup_ip(&h)).await {
            Err(_) => Err(format!(
                "no address within {}",
                humantime::format_duration(step)
            )),
            Ok(Ok(v)) if v.is_empty() => Err("no A or AAAA record".to_string()),
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(e.to_string()),
        };
        (h, r)
    }))
    .buffer_unordered(MAX_OPEN)
    .collect()
    .await;
    d.addresses.extend(resolved);
}

/// One line saying what was found: nodes, groups, trunks, TODOs.
pub fn summary(d: &Discovery) -> String {
    let clusters = layout::clusters(d);
    let imp: usize = clusters.iter().map(|c| c.imp.len()).sum();
    let cucm: usize = clusters.iter().map(|c| c.cucm.len()).sum();
    let groups: usize = clusters.iter().map(|c| c.groups.len()).sum();
    let unreadable = d
        .ports
        .iter()
        .filter(|(p, s)| {
            matches!(s, Seen::NoCert(_))
                || (matches!(s, Seen::Closed(_))
                    && p.service == imp_verify_core::spec::Service::XmppC2s)
        })
        .count();
    let mut s = format!(
        "{} cluster(s), {imp} IM&P node(s), {cucm} CUCM node(s), {groups} redundancy group(s), {} SIP trunk SRV name(s)",
        clusters.len(),
        d.trunks.len()
    );
    if unreadable > 0 {
        s.push_str(&format!(", {unreadable} certificate(s) unreadable"));
    }
    let foreign = d
        .ports
        .iter()
        .filter(|(p, seen)| seen.cert().is_some_and(|c| !c.covers(&p.host)))
        .count();
    if foreign > 0 {
        s.push_str(&format!(
            ", {foreign} certificate(s) not covering their node's name"
        ));
    }
    s
}
