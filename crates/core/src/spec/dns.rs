//! `[dns]`: which DNS servers to ask, and how long to wait for each answer.

use super::error::Ctx;
use super::raw::RawDns;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Which DNS servers to ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsSpec {
    /// The servers' addresses; empty: the system resolver (/etc/resolv.conf).
    pub resolved_servers: Vec<SocketAddr>,
    /// Per-query timeout (default 2 s).
    pub query_timeout: Duration,
}

impl Default for DnsSpec {
    fn default() -> Self {
        DnsSpec {
            resolved_servers: Vec::new(),
            query_timeout: DEFAULT_TIMEOUT,
        }
    }
}

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// Checks `[dns]`: each server an `ip` or `ip:port`, the timeout a non-zero duration.
pub(crate) fn validate(ctx: &mut Ctx, raw: &RawDns) -> DnsSpec {
    let mut resolved_servers = Vec::new();
    for s in &raw.servers {
        match parse_socket_addr(s.get_ref(), 53) {
            Some(a) => resolved_servers.push(a),
            None => ctx.error(
                s.span(),
                format!(
                    "`{}` is not a DNS server address (expected `ip` or `ip:port`)",
                    s.get_ref()
                ),
            ),
        }
    }
    let mut query_timeout = DEFAULT_TIMEOUT;
    if let Some(t) = &raw.timeout {
        match humantime::parse_duration(t.get_ref()) {
            Ok(d) if !d.is_zero() => query_timeout = d,
            _ => ctx.error(
                t.span(),
                format!("`{}` is not a duration (like `2s` or `500ms`)", t.get_ref()),
            ),
        }
    }
    DnsSpec {
        resolved_servers,
        query_timeout,
    }
}

fn parse_socket_addr(s: &str, default_port: u16) -> Option<SocketAddr> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Some(a);
    }
    s.parse::<IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(ip, default_port))
}
