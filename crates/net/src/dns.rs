//! The resolver every probe uses: the spec's DNS servers (UDP, TCP on truncation or
//! error) or the system's, with answers and failures told apart.

use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError as HDnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::Name;
use hickory_resolver::proto::rr::{RData, Record, RecordType};
use hickory_resolver::TokioResolver;
use imp_verify_core::Spec;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Why a lookup found nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsError {
    /// The name does not exist (NXDOMAIN).
    NxDomain {
        /// The name asked.
        name: String,
    },
    /// The name exists but has no record of the type asked (NODATA).
    NoData {
        /// The name asked.
        name: String,
        /// The record type asked (`SRV`, `A or AAAA`...).
        rtype: String,
    },
    /// The server did not answer in time, or could not be reached.
    NoAnswer {
        /// Which server, and what happened.
        detail: String,
    },
    /// The server answered with an error code (SERVFAIL, REFUSED...).
    ServerError {
        /// The response code, like `REFUSED`.
        code: String,
    },
    /// The answer could not be decoded.
    Malformed {
        /// What could not be decoded.
        detail: String,
    },
    /// The resolver could not be set up (no usable system configuration).
    Config {
        /// Why.
        detail: String,
    },
}

impl DnsError {
    /// Whether the records are absent (as opposed to the server failing).
    pub fn is_absent(&self) -> bool {
        matches!(self, DnsError::NxDomain { .. } | DnsError::NoData { .. })
    }
}

impl fmt::Display for DnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DnsError::NxDomain { name } => write!(f, "{name} does not exist (NXDOMAIN)"),
            DnsError::NoData { name, rtype } => {
                write!(f, "{name} exists but has no {rtype} record (NODATA)")
            }
            DnsError::NoAnswer { detail } => write!(f, "the DNS server did not answer: {detail}"),
            DnsError::ServerError { code } => write!(f, "the DNS server answered {code}"),
            DnsError::Malformed { detail } => write!(f, "the DNS answer is malformed: {detail}"),
            DnsError::Config { detail } => write!(f, "no resolver: {detail}"),
        }
    }
}

impl std::error::Error for DnsError {}

/// One SRV record.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Srv {
    /// Lower is tried first.
    pub priority: u16,
    /// The share among records of the same priority.
    pub weight: u16,
    /// The service's port on the target.
    pub port: u16,
    /// The target host, lower case, without the final dot.
    pub target: String,
}

impl fmt::Display for Srv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {}.",
            self.priority, self.weight, self.port, self.target
        )
    }
}

/// The resolver of a run, built from the spec.
pub struct Resolver {
    inner: Result<TokioResolver, String>,
    servers: String,
    /// The servers asked directly (for PTR, see [`Resolver::reverse`]).
    direct: Vec<SocketAddr>,
    timeout: Duration,
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
                .map_err(|e| format!("cannot read the system resolver configuration: {e}"))
                .and_then(|b| {
                    b.with_options(opts)
                        .build()
                        .map_err(|e| format!("cannot build the resolver: {e}"))
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
            .map_err(|e| format!("cannot build the resolver: {e}"));
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
        self.inner
            .as_ref()
            .map_err(|e| DnsError::Config { detail: e.clone() })
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
        match (v4, v6) {
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
            }),
            // No A record, and the AAAA question failed: that failure is the news.
            (Err(DnsError::NoData { .. }), Err(e6)) => Err(e6),
            (Err(e4), Err(_)) => Err(e4),
        }
        .map(|records| {
            records
                .into_iter()
                .filter_map(|r| match r {
                    RData::A(a) => Some(IpAddr::V4(a.0)),
                    RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                    _ => None,
                })
                .collect()
        })
    }

    /// The SRV records of `name`, sorted by priority then weight.
    pub async fn lookup_srv(&self, name: &str) -> Result<Vec<Srv>, DnsError> {
        let records = self.records(&fqdn(name), RecordType::SRV).await?;
        let mut v: Vec<Srv> = records
            .into_iter()
            .filter_map(|r| match r {
                RData::SRV(s) => Some(Srv {
                    priority: s.priority,
                    weight: s.weight,
                    port: s.port,
                    target: host(&s.target.to_string()),
                }),
                _ => None,
            })
            .collect();
        v.sort();
        Ok(v)
    }

    /// The names the PTR records of `ip` give.
    ///
    /// Asked of the servers directly: hickory answers every 127.0.0.0/8 reverse name
    /// itself with `localhost` (RFC 6761), which hides what the deployment's DNS says
    /// (and the lab lives on loopback addresses).
    pub async fn reverse(&self, ip: IpAddr) -> Result<Vec<String>, DnsError> {
        let name = reverse_name(ip);
        let records = self.direct_query(&name, RecordType::PTR).await?;
        Ok(records
            .into_iter()
            .filter_map(|r| match r {
                RData::PTR(p) => Some(host(&p.0.to_string())),
                _ => None,
            })
            .collect())
    }

    /// One question to each configured server in turn (UDP, then TCP if truncated).
    async fn direct_query(&self, name: &str, rtype: RecordType) -> Result<Vec<RData>, DnsError> {
        if self.direct.is_empty() {
            return Err(DnsError::Config {
                detail: "no DNS server is configured".into(),
            });
        }
        let qname = Name::from_ascii(name).map_err(|e| DnsError::Malformed {
            detail: format!("`{name}` is not a DNS name: {e}"),
        })?;
        let mut last = None;
        for server in &self.direct {
            match direct::ask(*server, &qname, rtype, self.timeout).await {
                Ok(answer) => return direct::interpret(answer, name, rtype),
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
        })
    } else {
        Ok(v)
    }
}

fn classify(e: NetError, name: &str, rtype: RecordType) -> DnsError {
    match e {
        NetError::Dns(HDnsError::NoRecordsFound(nr)) => {
            if nr.response_code == ResponseCode::NXDomain {
                DnsError::NxDomain { name: host(name) }
            } else {
                DnsError::NoData {
                    name: host(name),
                    rtype: rtype.to_string(),
                }
            }
        }
        NetError::Dns(HDnsError::ResponseCode(code)) => DnsError::ServerError {
            code: rcode_name(code),
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
        NetError::Proto(p) => DnsError::Malformed {
            detail: p.to_string(),
        },
        // The library's free-text errors are about the exchange (a stream closed, a
        // timer): no usable answer came. Decided by the variant, never by its words.
        NetError::Message(_) | NetError::Msg(_) => DnsError::NoAnswer {
            detail: e.to_string(),
        },
        other => DnsError::Malformed {
            detail: other.to_string(),
        },
    }
}

/// A DNS question sent by hand: for what the resolver library answers itself.
mod direct {
    use super::{host, rcode_name, DnsError};
    use hickory_resolver::proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
    use hickory_resolver::proto::rr::{Name, RData, RecordType};
    use std::net::SocketAddr;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpStream, UdpSocket};

    fn query_id() -> u16 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        (nanos ^ (nanos >> 16)) as u16 ^ std::process::id() as u16
    }

    fn question(id: u16, name: &Name, rtype: RecordType) -> Result<Vec<u8>, DnsError> {
        let mut m = Message::new(id, MessageType::Query, OpCode::Query);
        m.metadata.recursion_desired = true;
        m.add_query(Query::query(name.clone(), rtype));
        m.to_vec().map_err(|e| DnsError::Malformed {
            detail: format!("cannot encode the question: {e}"),
        })
    }

    fn no_answer(server: SocketAddr, what: impl std::fmt::Display) -> DnsError {
        DnsError::NoAnswer {
            detail: format!("{server}: {what}"),
        }
    }

    /// Asks `server`; the answer, or why there is none.
    pub async fn ask(
        server: SocketAddr,
        name: &Name,
        rtype: RecordType,
        timeout: Duration,
    ) -> Result<Message, DnsError> {
        let id = query_id();
        let q = question(id, name, rtype)?;
        let bind: SocketAddr = if server.is_ipv4() {
            "0.0.0.0:0".parse().expect("an address")
        } else {
            "[::]:0".parse().expect("an address")
        };
        let sock = UdpSocket::bind(bind)
            .await
            .map_err(|e| no_answer(server, e))?;
        sock.connect(server)
            .await
            .map_err(|e| no_answer(server, e))?;
        let mut buf = vec![0u8; 4096];
        for _attempt in 0..2 {
            sock.send(&q).await.map_err(|e| no_answer(server, e))?;
            let deadline = tokio::time::Instant::now() + timeout;
            loop {
                let n = match tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
                    Err(_) => break,
                    Ok(Err(e)) => return Err(no_answer(server, e)),
                    Ok(Ok(n)) => n,
                };
                let m = Message::from_vec(&buf[..n]).map_err(|e| DnsError::Malformed {
                    detail: format!("{server}: {e}"),
                })?;
                if m.metadata.id != id {
                    continue; // a late answer to an earlier question
                }
                if m.metadata.truncation {
                    return ask_tcp(server, &q, id, timeout).await;
                }
                return Ok(m);
            }
        }
        Err(no_answer(server, "no reply before the query timeout"))
    }

    async fn ask_tcp(
        server: SocketAddr,
        q: &[u8],
        id: u16,
        timeout: Duration,
    ) -> Result<Message, DnsError> {
        let exchange = async {
            let mut s = TcpStream::connect(server).await?;
            let mut framed = (q.len() as u16).to_be_bytes().to_vec();
            framed.extend_from_slice(q);
            s.write_all(&framed).await?;
            let mut len = [0u8; 2];
            s.read_exact(&mut len).await?;
            let mut body = vec![0u8; u16::from_be_bytes(len) as usize];
            s.read_exact(&mut body).await?;
            Ok::<_, std::io::Error>(body)
        };
        let body = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| no_answer(server, "no reply over TCP before the query timeout"))?
            .map_err(|e| no_answer(server, e))?;
        let m = Message::from_vec(&body).map_err(|e| DnsError::Malformed {
            detail: format!("{server}: {e}"),
        })?;
        if m.metadata.id != id {
            return Err(DnsError::Malformed {
                detail: format!("{server}: the TCP answer carries another query id"),
            });
        }
        Ok(m)
    }

    /// The records of the type asked, or why there are none.
    pub fn interpret(m: Message, name: &str, rtype: RecordType) -> Result<Vec<RData>, DnsError> {
        match m.metadata.response_code {
            ResponseCode::NoError => super::of_type(&m.answers, name, rtype),
            ResponseCode::NXDomain => Err(DnsError::NxDomain { name: host(name) }),
            code => Err(DnsError::ServerError {
                code: rcode_name(code),
            }),
        }
    }
}

/// A response code as DNS people write it: `REFUSED (Query Refused)`.
fn rcode_name(code: ResponseCode) -> String {
    let mnemonic = match u16::from(code) {
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        9 => "NOTAUTH",
        n => return format!("RCODE {n} ({code})"),
    };
    format!("{mnemonic} ({code})")
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
