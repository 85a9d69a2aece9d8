//! The resolver every probe uses: the spec's DNS servers (UDP, TCP on truncation or
//! error) or the system's, with answers and failures told apart: absent (NXDOMAIN,
//! NODATA, at the end of a CNAME chain too), a CNAME loop, an error code, no answer.

mod answer;
mod direct;
mod error;

pub use answer::{read_answer, DnsAnswer, RecordKind, Srv};
pub use error::{DnsError, Rcode, MAX_ALIASES};

use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError as HDnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::Name;
use hickory_resolver::proto::rr::{RData, Record, RecordType};
use hickory_resolver::TokioResolver;
use imp_verify_core::Spec;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The resolver of a run, built from the spec.
pub struct Resolver {
    inner: Result<TokioResolver, DnsError>,
    servers: String,
    /// The servers asked directly (for PTR, see [`Resolver::reverse`]).
    direct: Vec<SocketAddr>,
    timeout: Duration,
}

fn config_error(what: &str, e: impl std::fmt::Display) -> DnsError {
    DnsError::Config {
        detail: format!("{what}: {e}"),
    }
}

impl Resolver {
    /// The spec's DNS servers (`[dns] servers`), or the system's configuration if none.
    pub fn from_spec(spec: &Spec) -> Resolver {
        Resolver::new(&spec.dns.resolved_servers, spec.dns.query_timeout)
    }

    /// A resolver asking `servers` (the system's configuration if empty), each query
    /// within `query_timeout` (two attempts).
    pub fn new(servers: &[SocketAddr], query_timeout: Duration) -> Resolver {
        let mut opts = ResolverOpts::default();
        opts.timeout = query_timeout;
        opts.attempts = 2;
        opts.use_hosts_file = ResolveHosts::Never;
        opts.try_tcp_on_error = true;
        opts.cache_size = 256;
        // One run asks the same names many times; a retried run (--retry-for) waits for
        // the DNS to be fixed, so nothing is remembered for long, absences least.
        opts.positive_max_ttl = Some(Duration::from_secs(30));
        opts.negative_max_ttl = Some(Duration::from_secs(1));
        opts.ndots = 0;
        if servers.is_empty() {
            let inner = TokioResolver::builder_tokio()
                .map_err(|e| config_error("cannot read the system resolver configuration", e))
                .and_then(|b| {
                    b.with_options(opts)
                        .build()
                        .map_err(|e| config_error("cannot build the resolver", e))
                });
            let direct = hickory_resolver::system_conf::read_system_conf()
                .map(|(c, _)| {
                    c.name_servers()
                        .iter()
                        .map(|ns| SocketAddr::new(ns.ip, 53))
                        .collect()
                })
                .unwrap_or_default();
            return Resolver {
                inner,
                servers: "the system resolver (/etc/resolv.conf)".into(),
                direct,
                timeout: query_timeout,
            };
        }
        let mut config = ResolverConfig::from_parts(None, vec![], vec![]);
        for s in servers {
            let mut ns = NameServerConfig::udp_and_tcp(s.ip());
            for c in ns.connections.iter_mut() {
                c.port = s.port();
            }
            config.add_name_server(ns);
        }
        let inner = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
            .with_options(opts)
            .build()
            .map_err(|e| config_error("cannot build the resolver", e));
        Resolver {
            inner,
            servers: servers
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            direct: servers.to_vec(),
            timeout: query_timeout,
        }
    }

    /// Which servers it asks, for messages.
    pub fn servers(&self) -> &str {
        &self.servers
    }

    fn resolver(&self) -> Result<&TokioResolver, DnsError> {
        self.inner.as_ref().map_err(Clone::clone)
    }

    /// The A and AAAA addresses of `name`.
    pub async fn lookup_ip(&self, name: &str) -> Result<Vec<IpAddr>, DnsError> {
        if let Ok(ip) = name.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        let fqdn = fqdn(name);
        let (v4, v6) = tokio::join!(
            self.records(&fqdn, RecordType::A),
            self.records(&fqdn, RecordType::AAAA)
        );
        let records = match (v4, v6) {
            (Ok(mut a), Ok(b)) => {
                a.extend(b);
                Ok(a)
            }
            // Addresses found are addresses to use, whatever befell the other question.
            (Ok(a), Err(_)) => Ok(a),
            (Err(_), Ok(b)) => Ok(b),
            (Err(e @ DnsError::NxDomain { .. }), _) => Err(e),
            (Err(DnsError::NoData { .. }), Err(e6)) if e6.is_absent() => Err(DnsError::NoData {
                name: host(name),
                rtype: "A or AAAA".into(),
                via: Vec::new(),
            }),
            // No A record, and the AAAA question failed: that failure is the news.
            (Err(DnsError::NoData { .. }), Err(e6)) => Err(e6),
            (Err(e4), Err(_)) => Err(e4),
        };
        match records {
            Ok(records) => match answer::typed(RecordKind::A, records) {
                DnsAnswer::Addresses(a) => Ok(a),
                _ => Ok(Vec::new()),
            },
            Err(e) => Err(self.explain_absence(name, e).await),
        }
    }

    /// The SRV records of `name`, sorted by priority then weight.
    pub async fn lookup_srv(&self, name: &str) -> Result<Vec<Srv>, DnsError> {
        let records = match self.records(&fqdn(name), RecordType::SRV).await {
            Ok(r) => r,
            Err(e) => return Err(self.explain_absence(name, e).await),
        };
        match answer::typed(RecordKind::Srv, records) {
            DnsAnswer::Srv(v) => Ok(v),
            _ => Ok(Vec::new()),
        }
    }

    /// The names the PTR records of `ip` give.
    ///
    /// Asked of the servers directly: hickory answers every 127.0.0.0/8 reverse name
    /// itself with `localhost` (RFC 6761), which hides what the deployment's DNS says
    /// (and the lab lives on loopback addresses).
    pub async fn reverse(&self, ip: IpAddr) -> Result<Vec<String>, DnsError> {
        let name = reverse_name(ip);
        let records = self.direct_query(&name, RecordType::PTR).await?;
        match answer::typed(RecordKind::Ptr, records) {
            DnsAnswer::Names(n) => Ok(n),
            _ => Ok(Vec::new()),
        }
    }

    /// One question to each configured server in turn (UDP, then TCP if truncated).
    async fn direct_query(&self, name: &str, rtype: RecordType) -> Result<Vec<RData>, DnsError> {
        if self.direct.is_empty() {
            return Err(DnsError::Config {
                detail: "no DNS server is configured".into(),
            });
        }
        let qname = Name::from_ascii(name)
            .map_err(|e| DnsError::malformed(format!("`{name}` is not a DNS name: {e}")))?;
        let mut last = None;
        for server in &self.direct {
            match direct::ask(*server, &qname, rtype, self.timeout).await {
                Ok(records) => return Ok(records),
                // An answer, even one that says "none", is the server's word.
                Err(e @ (DnsError::NxDomain { .. } | DnsError::NoData { .. })) => return Err(e),
                Err(e @ (DnsError::CnameLoop { .. } | DnsError::CnameChainTooLong { .. })) => {
                    return Err(e)
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("at least one server was asked"))
    }

    async fn records(&self, name: &str, rtype: RecordType) -> Result<Vec<RData>, DnsError> {
        let resolver = self.resolver()?;
        match resolver.lookup(name, rtype).await {
            Ok(lookup) => of_type(lookup.answers(), name, rtype),
            Err(e) => Err(classify(e, name, rtype)),
        }
    }

    /// What an absence of `asked`'s records really is: the resolver library follows
    /// CNAME chains itself and, when one loops or dangles, reports only that nothing
    /// was found. Its aliases are asked one by one (CNAME questions, which it does not
    /// follow): a loop is a [`DnsError::CnameLoop`], a dangling alias the absence of
    /// the name it points at. Any other error, or an absence with no alias, is kept.
    async fn explain_absence(&self, asked: &str, absence: DnsError) -> DnsError {
        let Ok(resolver) = self.resolver() else {
            return absence;
        };
        if !absence.is_absent() {
            return absence;
        }
        let mut chain = vec![host(asked)];
        let end = loop {
            let current = chain.last().expect("the chain starts with the name asked");
            let target = match resolver.lookup(fqdn(current), RecordType::CNAME).await {
                Ok(lookup) => lookup.answers().iter().find_map(|r| match &r.data {
                    RData::CNAME(c) if answer::name_text(&r.name) == *current => {
                        Some(answer::name_text(&c.0))
                    }
                    _ => None,
                }),
                Err(e) => match classify(e, current, RecordType::CNAME) {
                    e @ (DnsError::NxDomain { .. } | DnsError::NoData { .. }) => {
                        break Some(e);
                    }
                    // Asking about the aliases failed: the first answer is all we know.
                    _ => return absence,
                },
            };
            let Some(target) = target else { break None };
            let looped = chain.contains(&target);
            chain.push(target);
            if looped {
                return DnsError::CnameLoop {
                    name: host(asked),
                    chain,
                };
            }
            if chain.len() > MAX_ALIASES + 1 {
                return DnsError::CnameChainTooLong {
                    name: host(asked),
                    chain,
                };
            }
        };
        if chain.len() == 1 {
            return absence;
        }
        let name = chain.pop().expect("more than one name");
        match (end, absence) {
            (Some(DnsError::NxDomain { .. }), _) => DnsError::NxDomain { name, via: chain },
            (_, DnsError::NoData { rtype, .. }) => DnsError::NoData {
                name,
                rtype,
                via: chain,
            },
            // The name asked does not exist, yet it is an alias: the server contradicts
            // itself (a zone changed between the questions); its first word stands.
            (_, absence) => absence,
        }
    }
}

/// The records of the type asked among the answers; none is NODATA.
fn of_type(answers: &[Record], name: &str, rtype: RecordType) -> Result<Vec<RData>, DnsError> {
    let v: Vec<RData> = answers
        .iter()
        .filter(|r| r.record_type() == rtype)
        .map(|r| r.data.clone())
        .collect();
    if v.is_empty() {
        Err(DnsError::NoData {
            name: host(name),
            rtype: rtype.to_string(),
            via: Vec::new(),
        })
    } else {
        Ok(v)
    }
}

fn classify(e: NetError, name: &str, rtype: RecordType) -> DnsError {
    match e {
        NetError::Dns(HDnsError::NoRecordsFound(nr)) => {
            if nr.response_code == ResponseCode::NXDomain {
                DnsError::NxDomain {
                    name: host(name),
                    via: Vec::new(),
                }
            } else {
                DnsError::NoData {
                    name: host(name),
                    rtype: rtype.to_string(),
                    via: Vec::new(),
                }
            }
        }
        NetError::Dns(HDnsError::ResponseCode(code)) => DnsError::ServerError {
            rcode: Rcode::from_code(code),
        },
        NetError::Timeout => DnsError::NoAnswer {
            detail: "no reply before the query timeout".into(),
        },
        NetError::Io(io) => DnsError::NoAnswer {
            detail: io.to_string(),
        },
        NetError::NoConnections | NetError::Busy => DnsError::NoAnswer {
            detail: e.to_string(),
        },
        NetError::Proto(p) => DnsError::malformed(p),
        // The library's free-text errors are about the exchange (a stream closed, a
        // timer): no usable answer came. Decided by the variant, never by its words.
        NetError::Message(_) | NetError::Msg(_) => DnsError::NoAnswer {
            detail: e.to_string(),
        },
        other => DnsError::malformed(other),
    }
}

/// `name` with a final dot, so that no search domain is appended.
fn fqdn(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.'))
}

/// `name` in lower case without the final dot.
fn host(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// The in-addr.arpa / ip6.arpa name of an address.
pub fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa.", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut s = String::new();
            for b in v6.octets().iter().rev() {
                s.push_str(&format!("{:x}.{:x}.", b & 0xf, b >> 4));
            }
            s.push_str("ip6.arpa.");
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_names() {
        assert_eq!(
            reverse_name("127.0.0.22".parse().unwrap()),
            "22.0.0.127.in-addr.arpa."
        );
        assert!(reverse_name("::1".parse().unwrap()).starts_with("1.0.0.0."));
        assert!(reverse_name("::1".parse().unwrap()).ends_with(".ip6.arpa."));
    }
}
