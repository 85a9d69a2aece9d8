//! Observing a service port: the host's addresses (the spec's, or the resolver's),
//! then a TCP connection to each, at once, all within the check's time.

use imp_verify_core::spec::Service;
use imp_verify_core::{CheckCtx, Stage};
use imp_verify_net::{ConnectError, DnsError, Resolver};
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// The most addresses of a host tried (a host has one or two; a broken or hostile zone
/// may give hundreds): the others are counted, not tried.
pub const MAX_ADDRESSES: usize = 8;

/// One endpoint whose port is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortEndpoint {
    /// The host: a node's FQDN or a directory server.
    pub host: String,
    /// The address the spec pins, if any (else the host is resolved).
    pub pinned: Option<IpAddr>,
    /// The TCP port.
    pub port: u16,
    /// The service behind it.
    pub service: Service,
}

/// Why the host has no address to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveFailure {
    /// The check's time ended before the DNS answered.
    OutOfTime,
    /// The DNS says the host has no address, or failed to say (typed).
    Dns(DnsError),
    /// The answer held no address.
    NoAddress,
}

/// What one TCP connection attempt got.
#[derive(Debug, Clone, PartialEq)]
pub enum Connected {
    /// The port accepted the connection, in this many milliseconds.
    Accepted {
        /// The time the connection took.
        connect_ms: f64,
    },
    /// Connection refused: nothing listens on the port.
    Refused,
    /// The check's time ended with no answer (a firewall drops it, or the host is down).
    OutOfTime,
    /// Another failure of the connection (unreachable, timed out by the system...).
    Failed {
        /// Its kind.
        kind: ErrorKind,
        /// The system's words.
        detail: String,
    },
}

/// What a service port did.
#[derive(Debug, Clone, PartialEq)]
pub struct PortFacts {
    /// The endpoint.
    pub endpoint: PortEndpoint,
    /// The addresses tried, or why there were none.
    pub addresses: Result<Vec<IpAddr>, ResolveFailure>,
    /// Each address tried (at most [`MAX_ADDRESSES`]), in the resolver's order.
    pub attempts: Vec<(SocketAddr, Connected)>,
    /// Addresses beyond [`MAX_ADDRESSES`], not tried.
    pub not_tried: usize,
    /// The servers the resolver asks, for messages.
    pub resolver: String,
    /// The time the check had.
    pub budget: Duration,
}

/// Resolves the endpoint's host (unless pinned) and connects to each address at once,
/// every step before the check's budget deadline and named as it starts.
pub async fn observe_port(resolver: &Resolver, ep: &PortEndpoint, ctx: &CheckCtx) -> PortFacts {
    let deadline = ctx.budget_deadline().into();
    let mut facts = PortFacts {
        endpoint: ep.clone(),
        addresses: Err(ResolveFailure::NoAddress),
        attempts: Vec::new(),
        not_tried: 0,
        resolver: resolver.servers().to_string(),
        budget: ctx.budget(),
    };
    if ep.pinned.is_none() {
        ctx.enter(Stage::Resolve);
    }
    let ips = match imp_verify_net::addresses(resolver, &ep.host, ep.pinned, deadline).await {
        Ok(ips) => ips,
        Err(e) => {
            facts.addresses = Err(match e {
                ConnectError::ResolveTimeout { .. } => ResolveFailure::OutOfTime,
                ConnectError::Resolve { error, .. } => ResolveFailure::Dns(error),
                _ => ResolveFailure::NoAddress,
            });
            return facts;
        }
    };
    ctx.enter(Stage::TcpConnect);
    facts.not_tried = ips.len().saturating_sub(MAX_ADDRESSES);
    let tries = ips.iter().take(MAX_ADDRESSES).map(|ip| async move {
        let addr = SocketAddr::new(*ip, ep.port);
        let start = Instant::now();
        let result = match imp_verify_net::connect(addr, deadline).await {
            Ok(_stream) => Connected::Accepted {
                connect_ms: imp_verify_core::ms(start.elapsed()),
            },
            Err(ConnectError::Connect { error, .. })
                if error.kind() == ErrorKind::ConnectionRefused =>
            {
                Connected::Refused
            }
            Err(ConnectError::Connect { error, .. }) => Connected::Failed {
                kind: error.kind(),
                detail: error.to_string(),
            },
            Err(_) => Connected::OutOfTime,
        };
        (addr, result)
    });
    facts.attempts = futures::future::join_all(tries).await;
    facts.addresses = Ok(ips);
    facts
}
