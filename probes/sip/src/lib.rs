//! imp-verify probe `sip`: the SIP publish trunk from CUCM to the IM&P cluster, played
//! from CUCM's side (tasks B.8 and A.10/B.11 SIP security).
//!
//! Checks: `sip.options` (every IM&P node of the trunk's cluster, on every transport the
//! trunk uses, answers OPTIONS with a final response; UDP retransmits per RFC 3261 timer
//! A until timer B or the check's time), `sip.tls-peer` (over TLS the trunk presents the
//! spec's client certificate, the node accepts it, and the node's certificate subject or
//! names are among the configured TLS peer subjects).
//!
//! Responses are parsed with rsip (guarded: a parser panic is a malformed answer) and
//! matched to the request by Via branch, Call-ID and CSeq; anything else is ignored.

use imp_probe_dns::Resolver;
use imp_probe_tls::{await_refusal, view, ClientIdentity, TlsInspector, REFUSAL_WAIT};
use imp_verify_core::spec::{Role, Service, Spec, Transport, Workflow};
use imp_verify_core::{CheckCtx, CheckKey, Outcome, PlannedCheck, Probe};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The most a response may be.
pub const MAX_RESPONSE: usize = 64 * 1024;
/// RFC 3261 T1.
const T1: Duration = Duration::from_millis(500);

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
    if bytes.len() > MAX_RESPONSE {
        return Err(format!("a {}-byte response (more than {MAX_RESPONSE})", bytes.len()));
    }
    let parsed = std::panic::catch_unwind(|| rsip::Response::try_from(bytes))
        .map_err(|_| "the response broke the SIP parser".to_string())?
        .map_err(|e| format!("not a SIP response: {e}"))?;
    let code: u16 = parsed.status_code.code();
    let text = String::from_utf8_lossy(bytes);
    let status_line = text.lines().next().unwrap_or("");
    let reason = status_line.splitn(3, ' ').nth(2).unwrap_or("").trim().to_string();
    let header = |names: &[&str]| -> String {
        text.lines()
            .skip(1)
            .take_while(|l| !l.is_empty())
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                names.iter().any(|n| k.trim().eq_ignore_ascii_case(n)).then(|| v.trim().to_string())
            })
            .unwrap_or_default()
    };
    let via = header(&["Via", "v"]);
    let branch = via
        .split(';')
        .find_map(|p| p.trim().strip_prefix("branch="))
        .unwrap_or("")
        .to_string();
    Ok(SipResponse {
        code,
        reason,
        call_id: header(&["Call-ID", "i"]),
        cseq: header(&["CSeq"]),
        branch,
        server: header(&["Server", "User-Agent"]),
    })
}

fn token() -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{:x}{:x}", n, std::process::id())
}

/// An OPTIONS request and the identifiers its response must carry.
struct Request {
    bytes: Vec<u8>,
    branch: String,
    call_id: String,
}

fn options(transport: &str, host: &str, port: u16, local: SocketAddr, from_domain: &str) -> Request {
    let t = token();
    let branch = format!("z9hG4bK-impv-{t}");
    let call_id = format!("impv-{t}@{}", local.ip());
    let text = format!(
        "OPTIONS sip:{host}:{port};transport={tl} SIP/2.0\r\n\
         Via: SIP/2.0/{tu} {local};branch={branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:imp-verify@{from_domain}>;tag=impv{t}\r\n\
         To: <sip:{host}:{port}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 OPTIONS\r\n\
         Contact: <sip:imp-verify@{local};transport={tl}>\r\n\
         Accept: application/pidf+xml\r\n\
         Content-Length: 0\r\n\r\n",
        tl = transport.to_ascii_lowercase(),
        tu = transport.to_ascii_uppercase(),
    );
    Request { bytes: text.into_bytes(), branch, call_id }
}

fn ours(r: &SipResponse, req: &Request) -> bool {
    r.branch == req.branch && r.call_id == req.call_id && r.cseq.ends_with("OPTIONS")
}

/// OPTIONS over UDP with timer A retransmissions until a final response or `budget`.
async fn options_udp(addr: SocketAddr, host: &str, domain: &str, budget: Duration) -> Result<(SipResponse, u32), String> {
    let bind: SocketAddr = if addr.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse().expect("an address");
    let sock = tokio::net::UdpSocket::bind(bind).await.map_err(|e| e.to_string())?;
    sock.connect(addr).await.map_err(|e| e.to_string())?;
    let local = sock.local_addr().map_err(|e| e.to_string())?;
    let req = options("udp", host, addr.port(), local, domain);
    let deadline = Instant::now() + budget.min(T1 * 64);
    let mut interval = T1;
    let mut sent = 0u32;
    let mut buf = vec![0u8; MAX_RESPONSE];
    loop {
        sock.send(&req.bytes).await.map_err(|e| e.to_string())?;
        sent += 1;
        let resend_at = (Instant::now() + interval).min(deadline);
        loop {
            match tokio::time::timeout_at(resend_at.into(), sock.recv(&mut buf)).await {
                Err(_) => break,
                Ok(Err(e)) => return Err(format!("{e} (nothing listens on {addr}?)")),
                Ok(Ok(n)) => match parse_response(&buf[..n]) {
                    Ok(r) if ours(&r, &req) && r.code >= 200 => return Ok((r, sent)),
                    Ok(_) => continue, // provisional, or another transaction's: not ours
                    Err(e) => return Err(format!("a malformed answer: {e}")),
                },
            }
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "no final response to OPTIONS after {sent} transmission(s) in {} ms (timer B)",
                budget.min(T1 * 64).as_millis()
            ));
        }
        interval = (interval * 2).min(Duration::from_secs(4));
    }
}

/// OPTIONS over a stream (TCP, or TLS after the handshake).
async fn options_stream<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    transport: &str,
    addr: SocketAddr,
    local: SocketAddr,
    host: &str,
    domain: &str,
) -> Result<SipResponse, String> {
    let req = options(transport, host, addr.port(), local, domain);
    io.write_all(&req.bytes).await.map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        // One message: headers to the blank line, then Content-Length bytes.
        while let Some(end) = find(&buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let len = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    (k.trim().eq_ignore_ascii_case("Content-Length") || k.trim() == "l").then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if len > MAX_RESPONSE {
                return Err(format!("a response announcing {len} bytes of body"));
            }
            let total = end + 4 + len;
            if buf.len() < total {
                break;
            }
            let msg: Vec<u8> = buf.drain(..total).collect();
            let r = parse_response(&msg).map_err(|e| format!("a malformed answer: {e}"))?;
            if ours(&r, &req) && r.code >= 200 {
                return Ok(r);
            }
        }
        if buf.len() > MAX_RESPONSE {
            return Err(format!("{} bytes without a complete response", buf.len()));
        }
        let n = io.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the connection closed without a final response".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
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
            let Some(t) = &cluster.sip_trunk else { continue };
            let trunk = Arc::new(Trunk {
                domain: cluster.domain.get_ref().clone(),
                srv_name: t.srv_name.clone(),
                subjects: t.tls_peer_subjects.iter().map(|s| s.to_ascii_lowercase()).collect(),
                client: match (&t.client_cert, &t.client_key) {
                    (Some(c), Some(k)) => Some(ClientIdentity::from_pem_files(c.get_ref(), k.get_ref())),
                    _ => None,
                },
            });
            for node in cluster.nodes.iter().filter(|n| n.role == Role::Imp) {
                for &transport in t.transports.get_ref() {
                    let service = if transport == Transport::Tls { Service::SipTls } else { Service::SipTcp };
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
                        let svc = if transport == Transport::Tls { "sip-tls" } else { "sip-tcp" };
                        check = check.after(CheckKey::new("services.port", format!("{host}:{port} ({svc})")));
                    }
                    checks.push(check);
                    if transport == Transport::Tls {
                        let (c, tr, h) = (ctx.clone(), trunk.clone(), host.clone());
                        checks.push(
                            PlannedCheck::new("sip.tls-peer", target.clone(), move |cx| {
                                let (c, tr, h) = (c.clone(), tr.clone(), h.clone());
                                async move { check_tls_peer(&c, &tr, &h, port, cx).await }
                            })
                            .after(CheckKey::new("services.port", format!("{host}:{port} (sip-tls)"))),
                        );
                    }
                }
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
) -> Result<(tokio_rustls::client::TlsStream<tokio::net::TcpStream>, imp_probe_tls::TlsFacts, SocketAddr), String> {
    let client = match &trunk.client {
        Some(Ok(id)) => Some(id),
        Some(Err(e)) => return Err(format!("the trunk's client certificate cannot be used: {e}")),
        None => None,
    };
    let tcp = tokio::net::TcpStream::connect(addr).await.map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let local = tcp.local_addr().map_err(|e| e.to_string())?;
    let (mut stream, mut facts) = c
        .inspector
        .handshake(tcp, host, client)
        .await
        .map_err(|e| format!("{addr}: {e}"))?;
    await_refusal(&mut stream, &mut facts, REFUSAL_WAIT).await;
    Ok((stream, facts, local))
}

async fn check_options(c: &Ctx, trunk: &Trunk, transport: Transport, host: &str, port: u16, cx: CheckCtx) -> Outcome {
    let (trunk_task, secure) = tasks(c.spec.workflow);
    let budget = cx.timeout.mul_f32(0.8);
    let started = Instant::now();
    let run = async {
        let addr = c.addr(host, port).await?;
        match transport {
            Transport::Udp => options_udp(addr, host, &trunk.domain, budget).await.map(|(r, sent)| (r, sent, addr)),
            Transport::Tcp => {
                let mut tcp = tokio::net::TcpStream::connect(addr).await.map_err(|e| format!("cannot connect to {addr}: {e}"))?;
                let local = tcp.local_addr().map_err(|e| e.to_string())?;
                options_stream(&mut tcp, "tcp", addr, local, host, &trunk.domain).await.map(|r| (r, 1, addr))
            }
            Transport::Tls => {
                let (mut tls, facts, local) = tls_connect(c, trunk, host, addr).await?;
                if !facts.verified() {
                    return Err(format!(
                        "the TLS connection is not trusted: {} (see sip.tls-peer)",
                        facts.verify_error.clone().or(facts.handshake_error.clone()).unwrap_or_default()
                    ));
                }
                options_stream(&mut tls, "tls", addr, local, host, &trunk.domain).await.map(|r| (r, 1, addr))
            }
        }
    };
    let out = match tokio::time::timeout(budget, run).await {
        Ok(r) => r,
        Err(_) => Err(format!("no final response to OPTIONS within {} ms", budget.as_millis())),
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
        Ok(Err(e)) => return Outcome::fail(e, format!("Check the node's SIP TLS listener (task {secure})")),
        Err(_) => return Outcome::fail(format!("no TLS session with {host}:{port} within {} ms", budget.as_millis()), format!("Check the node's SIP TLS listener (task {secure})")),
    };
    let client = if trunk.client.is_some() { "presented" } else { "none configured" };
    if let Some(e) = &facts.handshake_error {
        return Outcome::fail(
            format!("{host} does not accept the trunk's client certificate: {e}"),
            format!("Upload CUCM's certificate (or its CA) to the IM&P node's trust store and add CUCM to the TLS peer subjects of the SIP security profile (task {secure})"),
        )
        .with("client_certificate", client);
    }
    let Some(cert) = facts.chain.first().and_then(|c| view(c).ok()) else {
        return Outcome::fail(format!("{host} sent no certificate that parses"), format!("Check the node's certificate (task {secure})"));
    };
    let cn = cert
        .subject
        .split(',')
        .find_map(|p| p.trim().strip_prefix("CN=").map(|s| s.to_ascii_lowercase()))
        .unwrap_or_default();
    let names: Vec<String> = std::iter::once(cn.clone()).chain(cert.names.dns.iter().cloned()).filter(|n| !n.is_empty()).collect();
    let matched: Vec<&String> = names.iter().filter(|n| trunk.subjects.contains(n)).collect();
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
            format!("{host}'s certificate does not verify: {}", facts.verify_error.clone().unwrap_or_default()),
            format!("See the tls.* checks of sip-tls on this node (task {secure})"),
        )
    } else {
        Outcome::pass(format!("{host} accepts the trunk's client certificate and presents {} (a TLS peer subject)", matched[0]))
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
        assert_eq!((r.code, r.reason.as_str(), r.branch.as_str(), r.call_id.as_str()), (200, "OK", "z9hG4bK-x", "abc@1"));
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
