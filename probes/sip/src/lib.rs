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
//! SIP federation with the spec's federated SIP domains (task C.14) is in `federation`:
//! `sip.federation-tls`, `sip.federation-out` and `sip.federation-in`.
//!
//! Messages are parsed with rsip (guarded: a parser panic is a malformed message) and
//! bounded ([`message`]); [`Conn`] matches responses to their request by Via branch,
//! Call-ID and CSeq and answers the peer's own requests (a stray NOTIFY gets 481).

#![warn(missing_docs)]

use imp_verify_core::catalog::{self, Task};
use imp_verify_core::spec::{Role, Service, Spec, Transport, Workflow};
use imp_verify_core::{keys, PlannedCheck, Probe};
use imp_verify_net::tls::ClientIdentity;
use imp_verify_net::Net;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod conn;
mod connect;
mod federation;
pub mod message;
mod options;
mod peer;
mod presence;

use connect::connect;
use options::{check_gateway, check_options};
use peer::check_tls_peer;

pub use conn::{Conn, Request, MAX_STRAYS};
pub use message::{next_message, read_pidf, Message, Pidf, MAX_MESSAGE};

/// The most a response may be.
pub const MAX_RESPONSE: usize = MAX_MESSAGE;

/// A parsed SIP response: what the checks need of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipResponse {
    /// The status code (200).
    pub code: u16,
    /// The reason phrase (`OK`).
    pub reason: String,
    /// The Call-ID it answers.
    pub call_id: String,
    /// The CSeq it answers (`1 OPTIONS`).
    pub cseq: String,
    /// The branch of its top Via.
    pub branch: String,
    /// The Server (or User-Agent) header: what software answered.
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
    (
        catalog::first_label(
            w,
            &[
                Task::IpPhonePresence,
                Task::VerifyServices,
                Task::LicenseUsers,
            ],
        ),
        catalog::first_label(w, &[Task::SecureCommunication, Task::LdapForJabber]),
    )
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
    net: Arc<Net>,
}

impl Ctx {
    /// The node's pinned address or its first resolved one (callers bound the exchange
    /// this is part of with the check's budget).
    async fn addr(&self, host: &str, port: u16) -> Result<SocketAddr, String> {
        let pinned = self.spec.node(host).and_then(|(_, n)| n.address);
        let unbounded = tokio::time::Instant::now() + Duration::from_secs(3600);
        let ip = imp_verify_net::address(&self.net.resolver, host, pinned, unbounded)
            .await
            .map_err(|e| e.to_string())?;
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
pub struct SipProbe {
    net: Arc<Net>,
}

impl SipProbe {
    /// The probe, with the run's network toolkit.
    pub fn new(net: Arc<Net>) -> Self {
        SipProbe { net }
    }
}

impl Probe for SipProbe {
    fn name(&self) -> &'static str {
        "sip"
    }

    fn plan(&self, spec: &Arc<Spec>) -> Vec<PlannedCheck> {
        let ctx = Arc::new(Ctx {
            spec: spec.clone(),
            net: self.net.clone(),
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
                    let target = format!("{name} {host}:{port}");
                    let (c, tr, h) = (ctx.clone(), trunk.clone(), host.clone());
                    let mut check = PlannedCheck::new("sip.options", target.clone(), move |cx| {
                        let (c, tr, h) = (c.clone(), tr.clone(), h.clone());
                        async move { check_options(&c, &tr, transport, &h, port, cx).await }
                    })
                    .after(keys::dns_srv_sip_trunk(transport, t));
                    if transport != Transport::Udp {
                        check = check.after(keys::services_port(&host, port, service));
                    }
                    checks.push(check.on(host.clone()));
                    if transport == Transport::Tls {
                        let (c, tr, h) = (ctx.clone(), trunk.clone(), host.clone());
                        checks.push(
                            PlannedCheck::new("sip.tls-peer", target.clone(), move |cx| {
                                let (c, tr, h) = (c.clone(), tr.clone(), h.clone());
                                async move { check_tls_peer(&c, &tr, &h, port, cx).await }
                            })
                            .after(keys::services_port(&host, port, Service::SipTls))
                            .on(host.clone()),
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
                        .after(keys::sip_options(&target))
                        .on(host.clone()),
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
                        .after(keys::sip_publish(&target))
                        .on(host.clone()),
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
                    check = check.after(keys::services_port(&gw, port, service));
                }
                checks.push(check.on(gw.clone()));
            }
        }
        checks.extend(federation::plan(&ctx));
        checks
    }
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
