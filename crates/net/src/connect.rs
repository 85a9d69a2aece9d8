//! Reaching an endpoint: the pinned address or the first resolved one, and a TCP
//! connection, every step within one deadline and every failure typed.

use crate::dns::{DnsError, Resolver};
use imp_verify_core::Stage;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Why an endpoint could not be reached.
#[derive(Debug)]
pub enum ConnectError {
    /// The resolver did not answer before the deadline.
    ResolveTimeout {
        /// The host asked.
        host: String,
        /// The resolver's servers, for evidence.
        servers: String,
    },
    /// The name does not resolve.
    Resolve {
        /// The host asked.
        host: String,
        /// Why.
        error: DnsError,
    },
    /// The name resolves to no address.
    NoAddress {
        /// The host asked.
        host: String,
    },
    /// No TCP connection before the deadline (a firewall drops it, or the host is down).
    ConnectTimeout {
        /// Where.
        addr: SocketAddr,
    },
    /// The connection failed (refused, unreachable...).
    Connect {
        /// Where.
        addr: SocketAddr,
        /// Why.
        error: std::io::Error,
    },
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::ResolveTimeout { host, servers } => {
                write!(f, "no DNS answer for {host} in time (resolver {servers})")
            }
            ConnectError::Resolve { host, error } => write!(f, "cannot resolve {host}: {error}"),
            ConnectError::NoAddress { host } => write!(f, "{host} has no address"),
            ConnectError::ConnectTimeout { addr } => {
                write!(f, "no TCP connection to {addr} in time")
            }
            ConnectError::Connect { addr, error } => write!(f, "cannot connect to {addr}: {error}"),
        }
    }
}

impl std::error::Error for ConnectError {}

impl ConnectError {
    /// The step that failed: resolving the host, or the TCP connection.
    pub fn stage(&self) -> Stage {
        match self {
            ConnectError::ResolveTimeout { .. }
            | ConnectError::Resolve { .. }
            | ConnectError::NoAddress { .. } => Stage::Resolve,
            ConnectError::ConnectTimeout { .. } | ConnectError::Connect { .. } => Stage::TcpConnect,
        }
    }

    /// Whether the deadline passed before the step had an answer (the host's DNS or
    /// its TCP port said nothing), as opposed to an answer that refused.
    pub fn timed_out(&self) -> bool {
        matches!(
            self,
            ConnectError::ResolveTimeout { .. } | ConnectError::ConnectTimeout { .. }
        )
    }
}

/// The address to reach `host` at: `pinned` when the spec gives one, else the first
/// address the resolver returns, before `deadline`.
pub async fn address(
    resolver: &Resolver,
    host: &str,
    pinned: Option<IpAddr>,
    deadline: Instant,
) -> Result<IpAddr, ConnectError> {
    let ips = addresses(resolver, host, pinned, deadline).await?;
    Ok(ips[0])
}

/// Every address to reach `host` at (at least one): `pinned` when the spec gives one,
/// else those the resolver returns, before `deadline`.
pub async fn addresses(
    resolver: &Resolver,
    host: &str,
    pinned: Option<IpAddr>,
    deadline: Instant,
) -> Result<Vec<IpAddr>, ConnectError> {
    if let Some(ip) = pinned {
        return Ok(vec![ip]);
    }
    let ips = tokio::time::timeout_at(deadline, resolver.lookup_ip(host))
        .await
        .map_err(|_| ConnectError::ResolveTimeout {
            host: host.to_string(),
            servers: resolver.servers().to_string(),
        })?
        .map_err(|error| ConnectError::Resolve {
            host: host.to_string(),
            error,
        })?;
    if ips.is_empty() {
        return Err(ConnectError::NoAddress {
            host: host.to_string(),
        });
    }
    Ok(ips)
}

/// A TCP connection to `addr` before `deadline`.
pub async fn connect(addr: SocketAddr, deadline: Instant) -> Result<TcpStream, ConnectError> {
    tokio::time::timeout_at(deadline, TcpStream::connect(addr))
        .await
        .map_err(|_| ConnectError::ConnectTimeout { addr })?
        .map_err(|error| ConnectError::Connect { addr, error })
}

/// [`address`] then [`connect`]: `host:port` reached before `deadline`.
pub async fn reach(
    resolver: &Resolver,
    host: &str,
    pinned: Option<IpAddr>,
    port: u16,
    deadline: Instant,
) -> Result<(TcpStream, SocketAddr), ConnectError> {
    let ip = address(resolver, host, pinned, deadline).await?;
    let addr = SocketAddr::new(ip, port);
    Ok((connect(addr, deadline).await?, addr))
}
