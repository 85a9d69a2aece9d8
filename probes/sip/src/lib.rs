//! imp-verify probe `sip`: the SIP publish trunk from CUCM to the IM&P cluster, played
//! from CUCM's side (tasks B.8 and A.10/B.11 SIP security).
//!
//! Checks: `sip.options` (every IM&P node of the trunk's cluster, on every transport the
//! trunk uses, answers OPTIONS with a final response; UDP retransmits per RFC 3261 until
//! timer F or the check's time), `sip.tls-peer` (over TLS the trunk presents the spec's
//! client certificate, the node accepts it, and the node's certificate subject or names
//! are among the configured TLS peer subjects), `sip.publish` (a PUBLISH of the test
//! presentity's phone presence is accepted with a SIP-ETag, refreshed with SIP-If-Match
//! and removed), `sip.presence-e2e` (a watcher's SUBSCRIBE gets a NOTIFY carrying the
//! published state, and another when it changes; the propagation time is measured) and
//! `sip.presence-gateway` (the CUCM node named as presence gateway answers OPTIONS).
//! Publish and presence go over the trunk's most secure transport (TLS, then TCP, UDP).
//!
//! Messages are parsed with rsip (guarded: a parser panic is a malformed message) and
//! bounded ([`message`]); [`Conn`] matches responses to their request by Via branch,
//! Call-ID and CSeq and answers the peer's own requests (a stray NOTIFY gets 481).

use imp_probe_dns::Resolver;
use imp_probe_tls::{await_refusal, view, ClientIdentity, TlsInspector, REFUSAL_WAIT};
use imp_verify_core::spec::{Role, Service, Spec, Transport, Workflow};
use imp_verify_core::{CheckCtx, CheckKey, Outcome, PlannedCheck, Probe};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

mod conn;
pub mod message;
mod presence;

pub use conn::{Conn, Request};
pub use message::{next_message, read_pidf, Message, Pidf, MAX_MESSAGE};

/// The most a response may be.
pub const MAX_RESPONSE: usize = MAX_MESSAGE;

/// A parsed SIP response: what the checks need of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipResponse {
    pub code: u16,
    pub reason: String,
    pub call_id: String,
    pub cseq: String,
    pub branch: String,
    pub server: String,
}

/// Parses one SIP response; `Err` says why it is not one (never panics).
pub fn parse_response(bytes: &[u8]) -> Result<SipResponse, String> {
    let m = Message::parse(bytes)?;
    let code = m
        .code()
        .ok_or_else(|| format!("not a SIP response: `{}`", m.first_line()))?;
    Ok(response_of(&m, code))
}

fn response_of(m: &Message, code: u16) -> SipResponse {
    SipResponse {
        code,
        reason: m.reason().to_string(),
        call_id: m.call_id().to_string(),
        cseq: m.cseq().to_string(),
        branch: m.branch().to_string(),
        server: m
            .header("Server")
            .or(m.header("User-Agent"))
            .unwrap_or("")
            .to_string(),
    }
}

/// Sends OPTIONS on `conn` and waits for the final response until `until`.
async fn options(
    conn: &mut Conn,
    host: &str,
    domain: &str,
    until: Instant,
) -> Result<(SipResponse, u32), String> {
    let t = conn.token();
    let req = Request {
        method: "OPTIONS",
        uri: format!(
            "sip:{host}:{};transport={}",
            conn.peer.port(),
            conn.transport
        ),
        from: format!("<sip:imp-verify@{domain}>;tag=impv{t}"),
        to: format!("<sip:{host}:{}>", conn.peer.port()),
        call_id: format!("impv-{t}@{}", conn.local.ip()),
        cseq: 1,
        extra: vec!["Accept: application/pidf+xml".into()],
        body: None,
    };
    let (m, sent) = conn.transact(&req, until).await?;
    Ok((response_of(&m, m.code().unwrap_or(0)), sent))
}

fn tasks(w: Workflow) -> (&'static str, &'static str) {
    // (IP Phone presence / SIP publish trunk, secure communication)
    match w {
        Workflow::A => ("A.9", "A.10"),
        Workflow::B => ("B.8", "B.11"),
        Workflow::C => ("C.8", "C.11"),
        Workflow::D => ("D.1", "D.2"),
    }
}

struct Trunk {
    domain: String,
    srv_name: String,
    subjects: Vec<String>,
    client: Option<Result<ClientIdentity, String>>,
    presentity: Option<String>,
}

struct Ctx {
    spec: Arc<Spec>,
    resolver: Resolver,
    inspector: TlsInspector,
}

impl Ctx {
    async fn addr(&self, host: &str, port: u16) -> Result<SocketAddr, String> {
        let ip = match self.spec.node(host).and_then(|(_, n)| n.address) {
            Some(ip) => ip,
            None => *self
                .resolver
                .lookup_ip(host)
                .await
                .map_err(|e| format!("cannot resolve {host}: {e}"))?
                .first()
                .ok_or_else(|| format!("{host} has no address"))?,
        };
        Ok(SocketAddr::new(ip, port))
    }
}

fn transport_name(t: Transport) -> &'static str {
    match t {
        Transport::Udp => "udp",
        Transport::Tcp => "tcp",
        Transport::Tls => "tls",
    }
}

/// The probe.
pub struct SipProbe;

impl Probe for SipProbe {
    fn name(&self) -> &'static str {
        "sip"
    }

    fn plan(&self, spec: &Arc<Spec>) -> Vec<PlannedCheck> {
        let ctx = Arc::new(Ctx {
            spec: spec.clone(),
            resolver: Resolver::from_spec(spec),
            inspector: TlsInspector::from_spec(spec),
        });
        let mut checks = Vec::new();
        for cluster in &spec.clusters {
            let Some(t) = &cluster.sip_trunk else {
                continue;
            };
            let trunk = Arc::new(Trunk {
                domain: cluster.domain.clone(),
                srv_name: t.srv_name.clone(),
                subjects: t
                    .tls_peer_subjects
                    .iter()
                    .map(|s| s.to_ascii_lowercase())
                    .collect(),
                client: match (&t.client_cert, &t.client_key) {
                    (Some(c), Some(k)) => Some(ClientIdentity::from_pem_files(c, k)),
                    _ => None,
                },
                presentity: t.presentity.clone(),
            });
            // Presence goes over the trunk's most secure transport, as CUCM would send it.
            let preferred = [Transport::Tls, Transport::Tcp, Transport::Udp]
                .into_iter()
                .find(|p| t.transports.contains(p));
            for node in cluster.nodes.iter().filter(|n| n.role == Role::Imp) {
                for &transport in &t.transports {
                    let service = if transport == Transport::Tls {
                        Service::SipTls
                    } else {
                        Service::SipTcp
                    };
                    let port = node.port(service);
                    let host = node.fqdn().to_string();
                    let name = transport_name(transport);
                    let srv = format!(
                        "{}.{}",
                        match transport {
                            Transport::Udp => "_sip._udp",
                            Transport::Tcp => "_sip._tcp",
                            Transport::Tls => "_sips._tcp",
                        },
                        t.srv_name.trim_end_matches('.')
                    );
                    let target = format!("{name} {host}:{port}");
                    let (c, tr, h) = (ctx.clone(), trunk.clone(), host.clone());
                    let mut check = PlannedCheck::new("sip.options", target.clone(), move |cx| {
                        let (c, tr, h) = (c.clone(), tr.clone(), h.clone());
                        async move { check_options(&c, &tr, transport, &h, port, cx).await }
                    })
                    .after(CheckKey::new("dns.srv.sip-trunk", srv));
                    if transport != Transport::Udp {
                        let svc = if transport == Transport::Tls {
                            "sip-tls"
                        } else {
                            "sip-tcp"
                        };
                        check = check.after(CheckKey::new(
                            "services.port",
                            format!("{host}:{port} ({svc})"),
                        ));
                    }
                    checks.push(check);
                    if transport == Transport::Tls {
                        let (c, tr, h) = (ctx.clone(), trunk.clone(), host.clone());
                        checks.push(
                            PlannedCheck::new("sip.tls-peer", target.clone(), move |cx| {
                                let (c, tr, h) = (c.clone(), tr.clone(), h.clone());
                                async move { check_tls_peer(&c, &tr, &h, port, cx).await }
                            })
                            .after(CheckKey::new(
                                "services.port",
                                format!("{host}:{port} (sip-tls)"),
                            )),
                        );
                    }
                }
                if let (Some(transport), Some(presentity)) = (preferred, trunk.presentity.clone()) {
                    let port = node.port(if transport == Transport::Tls {
                        Service::SipTls
                    } else {
                        Service::SipTcp
                    });
                    let host = node.fqdn().to_string();
                    let target = format!("{} {host}:{port}", transport_name(transport));
                    let (c, tr, h, p) =
                        (ctx.clone(), trunk.clone(), host.clone(), presentity.clone());
                    checks.push(
                        PlannedCheck::new("sip.publish", target.clone(), move |cx| {
                            let (c, tr, h, p) = (c.clone(), tr.clone(), h.clone(), p.clone());
                            async move {
                                presence::check_publish(&c, &tr, transport, &h, port, &p, cx).await
                            }
                        })
                        .after(CheckKey::new("sip.options", target.clone())),
                    );
                    let (c, tr, h, p) = (ctx.clone(), trunk.clone(), host.clone(), presentity);
                    checks.push(
                        PlannedCheck::new("sip.presence-e2e", target.clone(), move |cx| {
                            let (c, tr, h, p) = (c.clone(), tr.clone(), h.clone(), p.clone());
                            async move {
                                presence::check_presence_e2e(&c, &tr, transport, &h, port, &p, cx)
                                    .await
                            }
                        })
                        .after(CheckKey::new("sip.publish", target)),
                    );
                }
            }
            if let Some(gw) = &t.presence_gateway {
                let gw = gw.clone();
                let node = spec.node(&gw).map(|(_, n)| n);
                // The gateway's view of the trunk: plain TCP or UDP where the trunk has it.
                let transport = [Transport::Tcp, Transport::Udp, Transport::Tls]
                    .into_iter()
                    .find(|p| t.transports.contains(p))
                    .unwrap_or(Transport::Tcp);
                let service = if transport == Transport::Tls {
                    Service::SipTls
                } else {
                    Service::SipTcp
                };
                let port = node
                    .map(|n| n.port(service))
                    .unwrap_or(service.default_port());
                let target = format!("{} {gw}:{port}", transport_name(transport));
                let (c, tr, h) = (ctx.clone(), trunk.clone(), gw.clone());
                let mut check = PlannedCheck::new("sip.presence-gateway", target, move |cx| {
                    let (c, tr, h) = (c.clone(), tr.clone(), h.clone());
                    async move { check_gateway(&c, &tr, transport, &h, port, cx).await }
                });
                if transport != Transport::Udp {
                    check = check.after(CheckKey::new(
                        "services.port",
                        format!("{gw}:{port} ({})", service.name()),
                    ));
                }
                checks.push(check);
            }
        }
        checks
    }
}

/// A TLS connection to a trunk target with the trunk's client certificate.
async fn tls_connect(
    c: &Ctx,
    trunk: &Trunk,
    host: &str,
    addr: SocketAddr,
) -> Result<
    (
        tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
        imp_probe_tls::TlsFacts,
        SocketAddr,
    ),
    String,
> {
    let client = match &trunk.client {
        Some(Ok(id)) => Some(id),
        Some(Err(e)) => {
            return Err(format!(
                "the trunk's client certificate cannot be used: {e}"
            ))
        }
        None => None,
    };
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let local = tcp.local_addr().map_err(|e| e.to_string())?;
    let (mut stream, mut facts) = c
        .inspector
        .handshake(tcp, host, client)
        .await
        .map_err(|e| format!("{addr}: {e}"))?;
    await_refusal(&mut stream, &mut facts, REFUSAL_WAIT).await;
    Ok((stream, facts, local))
}

/// A connection to a trunk target on `transport`; over TLS with the trunk's client
/// certificate, and refused unless the node's certificate verifies.
async fn connect(
    c: &Ctx,
    trunk: &Trunk,
    transport: Transport,
    host: &str,
    port: u16,
) -> Result<Conn, String> {
    let addr = c.addr(host, port).await?;
    match transport {
        Transport::Udp => Conn::udp(addr).await,
        Transport::Tcp => {
            let tcp = tokio::net::TcpStream::connect(addr)
                .await
                .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
            let local = tcp.local_addr().map_err(|e| e.to_string())?;
            Ok(Conn::stream(Box::new(tcp), "tcp", local, addr))
        }
        Transport::Tls => {
            let (tls, facts, local) = tls_connect(c, trunk, host, addr).await?;
            if !facts.verified() {
                return Err(format!(
                    "the TLS connection is not trusted: {} (see sip.tls-peer)",
                    facts
                        .verify_error
                        .clone()
                        .or(facts.handshake_error.clone())
                        .unwrap_or_default()
                ));
            }
            Ok(Conn::stream(Box::new(tls), "tls", local, addr))
        }
    }
}

async fn check_options(
    c: &Ctx,
    trunk: &Trunk,
    transport: Transport,
    host: &str,
    port: u16,
    cx: CheckCtx,
) -> Outcome {
    let (trunk_task, secure) = tasks(c.spec.workflow);
    let budget = cx.timeout.mul_f32(0.8);
    let started = Instant::now();
    let run = async {
        let mut conn = connect(c, trunk, transport, host, port).await?;
        let addr = conn.peer;
        options(&mut conn, host, &trunk.domain, Instant::now() + budget)
            .await
            .map(|(r, sent)| (r, sent, addr))
    };
    let out = match tokio::time::timeout(budget, run).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "no final response to OPTIONS within {} ms",
            budget.as_millis()
        )),
    };
    let name = transport_name(transport);
    match out {
        Ok((r, sent, addr)) if r.code == 200 => Outcome::pass(format!("{host} answers OPTIONS over {name}: {} {}", r.code, r.reason))
            .with("target", addr)
            .with("status_line", format!("SIP/2.0 {} {}", r.code, r.reason))
            .with("server", &r.server)
            .with("transmissions", sent)
            .metric("options_ms", (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0),
        Ok((r, _, addr)) => Outcome::fail(
            format!("{host} answers OPTIONS over {name} with {} {}", r.code, r.reason),
            format!("The node refuses the trunk's requests: check the SIP proxy's listeners and its routing of the trunk's traffic (task {trunk_task})"),
        )
        .with("target", addr)
        .with("status_line", format!("SIP/2.0 {} {}", r.code, r.reason)),
        Err(e) => Outcome::fail(
            format!("{host}:{port} over {name}: {e}"),
            if transport == Transport::Tls {
                format!("Check the Cisco SIP Proxy's TLS listener, the TLS peer subjects and the certificates exchanged between CUCM and IM&P (tasks {trunk_task}, {secure})")
            } else {
                format!("Check that the Cisco SIP Proxy runs on the node and listens for {name} on port {port}, and that the trunk's SRV name {} points here (task {trunk_task})", trunk.srv_name)
            },
        ),
    }
    .with("transport", name)
}

/// `sip.presence-gateway`: the CUCM node named as presence gateway answers OPTIONS.
async fn check_gateway(
    c: &Ctx,
    trunk: &Trunk,
    transport: Transport,
    host: &str,
    port: u16,
    cx: CheckCtx,
) -> Outcome {
    let (task, _) = tasks(c.spec.workflow);
    let budget = cx.timeout.mul_f32(0.8);
    let started = Instant::now();
    let name = transport_name(transport);
    let run = async {
        // Over TLS the gateway is asked without a client certificate: the trunk's is
        // CUCM's own, not IM&P's.
        let mut conn = if transport == Transport::Tls {
            let addr = c.addr(host, port).await?;
            let tcp = tokio::net::TcpStream::connect(addr)
                .await
                .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
            let local = tcp.local_addr().map_err(|e| e.to_string())?;
            let (tls, facts) = c
                .inspector
                .handshake(tcp, host, None)
                .await
                .map_err(|e| format!("{addr}: {e}"))?;
            if !facts.verified() {
                return Err(format!(
                    "the TLS connection is not trusted: {}",
                    facts
                        .verify_error
                        .clone()
                        .or(facts.handshake_error.clone())
                        .unwrap_or_default()
                ));
            }
            Conn::stream(Box::new(tls), "tls", local, addr)
        } else {
            connect(c, trunk, transport, host, port).await?
        };
        let addr = conn.peer;
        options(&mut conn, host, &trunk.domain, Instant::now() + budget)
            .await
            .map(|(r, sent)| (r, sent, addr))
    };
    let out = match tokio::time::timeout(budget, run).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "no final response to OPTIONS within {} ms",
            budget.as_millis()
        )),
    };
    let fix = format!(
        "On IM&P (Presence > Gateways) the presence gateway must be {host} with the trunk's transport and port; on {host} the Cisco CallManager service must run and its SIP trunk to IM&P must accept the IM&P nodes (task {task})"
    );
    match out {
        Ok((r, sent, addr)) => {
            let o = if r.code == 200 {
                Outcome::pass(format!(
                    "the presence gateway {host} answers OPTIONS over {name}: {} {}",
                    r.code, r.reason
                ))
            } else {
                Outcome::fail(
                    format!(
                        "the presence gateway {host} answers OPTIONS over {name} with {} {}",
                        r.code, r.reason
                    ),
                    fix,
                )
            };
            o.with("target", addr)
                .with("status_line", format!("SIP/2.0 {} {}", r.code, r.reason))
                .with("server", &r.server)
                .with("transmissions", sent)
                .metric(
                    "options_ms",
                    (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0,
                )
        }
        Err(e) => Outcome::fail(
            format!("the presence gateway {host}:{port} over {name}: {e}"),
            fix,
        ),
    }
    .with("transport", name)
}

async fn check_tls_peer(c: &Ctx, trunk: &Trunk, host: &str, port: u16, cx: CheckCtx) -> Outcome {
    let (_, secure) = tasks(c.spec.workflow);
    let budget = cx.timeout.mul_f32(0.8);
    let run = async {
        let addr = c.addr(host, port).await?;
        let (_tls, facts, _) = tls_connect(c, trunk, host, addr).await?;
        Ok::<_, String>(facts)
    };
    let facts = match tokio::time::timeout(budget, run).await {
        Ok(Ok(f)) => f,
        Ok(Err(e)) => {
            return Outcome::fail(
                e,
                format!("Check the node's SIP TLS listener (task {secure})"),
            )
        }
        Err(_) => {
            return Outcome::fail(
                format!(
                    "no TLS session with {host}:{port} within {} ms",
                    budget.as_millis()
                ),
                format!("Check the node's SIP TLS listener (task {secure})"),
            )
        }
    };
    let client = if trunk.client.is_some() {
        "presented"
    } else {
        "none configured"
    };
    if let Some(e) = &facts.handshake_error {
        return Outcome::fail(
            format!("{host} does not accept the trunk's client certificate: {e}"),
            format!("Upload CUCM's certificate (or its CA) to the IM&P node's trust store and add CUCM to the TLS peer subjects of the SIP security profile (task {secure})"),
        )
        .with("client_certificate", client);
    }
    let Some(cert) = facts.chain.first().and_then(|c| view(c).ok()) else {
        return Outcome::fail(
            format!("{host} sent no certificate that parses"),
            format!("Check the node's certificate (task {secure})"),
        );
    };
    let cn = cert
        .subject
        .split(',')
        .find_map(|p| p.trim().strip_prefix("CN=").map(|s| s.to_ascii_lowercase()))
        .unwrap_or_default();
    let names: Vec<String> = std::iter::once(cn.clone())
        .chain(cert.names.dns.iter().cloned())
        .filter(|n| !n.is_empty())
        .collect();
    let matched: Vec<&String> = names
        .iter()
        .filter(|n| trunk.subjects.contains(n))
        .collect();
    let o = if trunk.subjects.is_empty() {
        Outcome::warn(
            format!("{host} accepted the trunk's client certificate, but the spec lists no TLS peer subjects to compare its certificate with"),
            format!("List the TLS peer subjects configured on the SIP trunk security profile in the spec (task {secure})"),
        )
    } else if matched.is_empty() {
        Outcome::fail(
            format!(
                "{host}'s certificate (CN {cn}, names {}) matches none of the TLS peer subjects {}",
                cert.names.dns.join(", "),
                trunk.subjects.join(", ")
            ),
            format!("Add the node's certificate subject to the TLS peer subjects of CUCM's SIP trunk security profile, or reissue the certificate (task {secure})"),
        )
    } else if !facts.verified() {
        Outcome::fail(
            format!(
                "{host}'s certificate does not verify: {}",
                facts.verify_error.clone().unwrap_or_default()
            ),
            format!("See the tls.* checks of sip-tls on this node (task {secure})"),
        )
    } else {
        Outcome::pass(format!(
            "{host} accepts the trunk's client certificate and presents {} (a TLS peer subject)",
            matched[0]
        ))
    };
    o.with("subject", &cert.subject)
        .with("names", cert.names.dns.join(", "))
        .with("tls_peer_subjects", trunk.subjects.join(", "))
        .with("client_certificate", client)
        .with("tls", format!("{} {}", facts.version, facts.cipher))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_parse_and_garbage_does_not_panic() {
        let ok = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-x;rport=5099\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: abc@1\r\nCSeq: 1 OPTIONS\r\nServer: lab\r\nContent-Length: 0\r\n\r\n";
        let r = parse_response(ok).unwrap();
        assert_eq!(
            (
                r.code,
                r.reason.as_str(),
                r.branch.as_str(),
                r.call_id.as_str()
            ),
            (200, "OK", "z9hG4bK-x", "abc@1")
        );
        let mut state = 0x2545F4914F6CDD1Du64;
        for len in [0usize, 1, 7, 64, 512, 4096] {
            for _ in 0..200 {
                let bytes: Vec<u8> = (0..len)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        (state & 0xff) as u8
                    })
                    .collect();
                let _ = parse_response(&bytes);
                let mut with_head = b"SIP/2.0 ".to_vec();
                with_head.extend_from_slice(&bytes);
                let _ = parse_response(&with_head);
            }
        }
        assert!(parse_response(&vec![b'a'; MAX_RESPONSE + 1]).is_err());
    }
}
