//! `sip.federation-out` and `sip.federation-in`: an OPTIONS crosses the federation.
//!
//! Out: an OPTIONS whose Request-URI is the federated domain goes to an IM&P node, over
//! TCP to its SIP port 5060. Why TCP and not the node's TLS port: the TLS port demands
//! a client certificate of a configured TLS peer, and the only one the spec holds for
//! IM&P's side is CUCM's (the trunk's), which is not ours to borrow; the request enters
//! the node as any request of the local network does, and the leg under test (the
//! node's own mutual TLS to the peer) is made by IM&P itself. No credential is sent.
//! In: an OPTIONS whose Request-URI is the local domain goes to the peer's federation
//! port over mutual TLS with the spec's client certificate (a federation port demands
//! one), the peer routes it to IM&P.
//!
//! Who answered: on the same connection the hop (the node, or the peer) is first asked
//! an OPTIONS for itself; the crossing's answer must come from software other than the
//! hop's own (its Server header), else the hop answered in the far side's name.

use super::Peer;
use crate::conn::{Conn, Request};
use crate::{response_of, Ctx, SipResponse};
use imp_verify_core::catalog::{cite, Task};
use imp_verify_core::spec::Workflow;
use imp_verify_core::{CheckCtx, Outcome};
use std::net::SocketAddr;
use std::time::Instant;

/// Which way the OPTIONS crosses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Way {
    /// Local IM&P node to the federated domain.
    Out,
    /// The federated domain to IM&P.
    In,
}

/// What a crossing showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Crossing {
    pub way: Way,
    /// The hop the OPTIONS was handed to (`imp1.example.com`, `sip.peer.test`).
    pub hop: String,
    /// The domain it was for.
    pub to: String,
    /// The hop's own Server header (its answer to an OPTIONS for itself), if it gave one.
    pub hop_server: Option<String>,
    /// The final response to the crossing OPTIONS.
    pub answer: Result<SipResponse, String>,
}

async fn ask(
    conn: &mut Conn,
    uri: String,
    from: &str,
    until: Instant,
) -> Result<SipResponse, String> {
    let t = conn.token();
    let req = Request {
        method: "OPTIONS",
        to: format!("<{uri}>"),
        uri,
        from: format!("<sip:imp-verify@{from}>;tag=impv{t}"),
        call_id: format!("impv-fed-{t}@{}", conn.local.ip()),
        cseq: 1,
        extra: Vec::new(),
        body: None,
    };
    let (m, _) = conn.transact(&req, until).await?;
    Ok(response_of(&m, m.code().unwrap_or(0)))
}

/// Asks the hop for itself, then for `to`, on `conn`.
async fn cross(
    mut conn: Conn,
    way: Way,
    hop: &str,
    to: &str,
    from: &str,
    until: Instant,
) -> Crossing {
    let own = format!(
        "sip:{hop}:{};transport={}",
        conn.peer.port(),
        conn.transport
    );
    let hop_server = match ask(&mut conn, own, from, until).await {
        Ok(r) if !r.server.is_empty() => Some(r.server),
        _ => None,
    };
    let answer = ask(&mut conn, format!("sip:{to}"), from, until).await;
    Crossing {
        way,
        hop: hop.to_string(),
        to: to.to_string(),
        hop_server,
        answer,
    }
}

/// The verdict on a crossing.
pub(crate) fn judge(c: &Crossing, workflow: Workflow) -> Outcome {
    let task = cite(workflow, &[Task::Federation]);
    let (hop, to) = (&c.hop, &c.to);
    let fix = match c.way {
        Way::Out => format!("On IM&P, {to} must be a SIP federated domain (Presence > Inter-Domain Federation > SIP Federation) with a route to its federation edge (a static route, or its _sipfederationtls._tcp records), over mutual TLS with its certificate's subject among the TLS peer subjects; {to}'s edge must be up and accept IM&P's certificate; the node must accept requests from this host (incoming ACL){task}"),
        Way::In => format!("{to}'s _sipfederationtls._tcp records must reach the IM&P nodes' TLS port, which must accept {hop}'s certificate (its subject among the TLS peer subjects, its CA in the cup-trust store), and IM&P must take {to} as a local domain; {hop} must route {to} to them{task}"),
    };
    let r = match &c.answer {
        Ok(r) => r,
        Err(e) => {
            return Outcome::fail(
                format!("{hop}: no final answer to an OPTIONS for {to}: {e}"),
                fix,
            )
            .with("hop", hop)
            .with("hop_server", c.hop_server.as_deref().unwrap_or("(none)"));
        }
    };
    let line = format!("SIP/2.0 {} {}", r.code, r.reason);
    let by_hop = c.hop_server.as_deref().is_some_and(|s| s == r.server);
    let o = if r.code != 200 {
        let who = if by_hop {
            format!("{hop} itself")
        } else if r.server.is_empty() {
            "an unnamed server".to_string()
        } else {
            r.server.clone()
        };
        Outcome::fail(
            format!(
                "{hop} answers an OPTIONS for {to} with {} {} (from {who})",
                r.code, r.reason
            ),
            fix,
        )
    } else if by_hop {
        // The same Server as the hop's own answer: the hop answered in the far side's
        // name, or the far side runs the same software and build (IM&P on both sides,
        // two default Kamailios). Nothing in SIP tells these apart: not proven either way.
        Outcome::warn(
            format!("{hop} answers an OPTIONS for {to} with 200, but as {hop} answers for itself ({}): either it answered in {to}'s name instead of routing it across the federation, or {to} runs the same software", r.server),
            format!("If {to} does not run the same SIP software as {hop}, {hop} treats {to} as its own domain: {fix}; otherwise confirm the crossing in {to}'s logs"),
        )
    } else if r.server.is_empty() {
        Outcome::warn(
            format!("{hop} relays an OPTIONS for {to}, answered 200, but no Server header tells who answered"),
            format!("Nothing to fix for federation; the crossing is not proven to reach {to}{task}"),
        )
    } else {
        Outcome::pass(format!(
            "an OPTIONS for {to} handed to {hop} crossed the federation: 200 OK from {} ({hop} itself is {})",
            r.server,
            c.hop_server.as_deref().unwrap_or("unnamed")
        ))
    };
    o.with("hop", hop)
        .with("status_line", line)
        .with(
            "answered_by",
            if r.server.is_empty() {
                "(no Server header)"
            } else {
                &r.server
            },
        )
        .with("hop_server", c.hop_server.as_deref().unwrap_or("(none)"))
}

/// `sip.federation-out` through `node` (its SIP TCP port).
pub(crate) async fn outbound(c: &Ctx, peer: &Peer, node: &str, port: u16, cx: CheckCtx) -> Outcome {
    let budget = cx.budget();
    let until = Instant::now() + budget;
    let (to, from) = (&peer.spec.domain, &peer.spec.local_domain);
    let run = async {
        let addr = c.addr(node, port).await?;
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        let local = tcp.local_addr().map_err(|e| e.to_string())?;
        let conn = Conn::stream(Box::new(tcp), "tcp", local, addr);
        Ok::<_, String>((cross(conn, Way::Out, node, to, from, until).await, addr))
    };
    let r = tokio::time::timeout(budget, run).await;
    settle(r, Way::Out, node, to, budget, c.spec.workflow, "tcp")
}

/// `sip.federation-in` through the peer's first federation endpoint that takes us.
pub(crate) async fn inbound(c: &Ctx, peer: &Peer, cx: CheckCtx) -> Outcome {
    let (to, from) = (&peer.spec.local_domain, &peer.spec.domain);
    let id = match peer.identity() {
        Ok(Some(id)) => id,
        Ok(None) => {
            return Outcome::skip(format!("the spec gives no client certificate for {from} (`client_cert`, `client_key`): its federation port demands one before it routes anything to {to}"));
        }
        Err(e) => {
            return Outcome::fail(
                e,
                format!(
                    "Give a readable PEM certificate and key as `client_cert` and `client_key`{}",
                    cite(c.spec.workflow, &[Task::Federation])
                ),
            )
        }
    };
    let budget = cx.budget();
    let until = Instant::now() + budget;
    let run = async {
        let mut last = String::new();
        for (host, port) in peer.endpoints(c).await? {
            let far = tokio::time::Instant::now() + budget;
            let ip = match imp_verify_net::address(&c.net.resolver, &host, None, far).await {
                Ok(ip) => ip,
                Err(e) => {
                    last = format!("{host}: {e}");
                    continue;
                }
            };
            let addr = SocketAddr::new(ip, port);
            let tcp = match tokio::net::TcpStream::connect(addr).await {
                Ok(t) => t,
                Err(e) => {
                    last = format!("cannot connect to {host}:{port} ({addr}): {e}");
                    continue;
                }
            };
            let local = tcp.local_addr().map_err(|e| e.to_string())?;
            let (tls, facts) = c
                .net
                .tls
                .handshake(tcp, &host, Some(id))
                .await
                .map_err(|e| format!("{host}:{port}: {}", e.message))?;
            if !facts.verified() {
                return Err(format!("the TLS session with {host}:{port} is not trusted: {} (see sip.federation-tls)", facts.verify_error.clone().unwrap_or_default()));
            }
            let conn = Conn::stream(Box::new(tls), "tls", local, addr);
            return Ok((cross(conn, Way::In, &host, to, from, until).await, addr));
        }
        Err(last)
    };
    let r = tokio::time::timeout(budget, run).await;
    settle(r, Way::In, from, to, budget, c.spec.workflow, "tls")
}

/// The verdict on a crossing attempt bounded by `budget`: its crossing, or why none
/// came about (no connection, nothing within the budget), with the transport and the
/// address it went to.
fn settle(
    r: Result<Result<(Crossing, SocketAddr), String>, tokio::time::error::Elapsed>,
    way: Way,
    hop: &str,
    to: &str,
    budget: std::time::Duration,
    workflow: Workflow,
    transport: &str,
) -> Outcome {
    let failed = |why: String| Crossing {
        way,
        hop: hop.into(),
        to: to.into(),
        hop_server: None,
        answer: Err(why),
    };
    let (crossing, addr) = match r {
        Ok(Ok((x, a))) => (x, Some(a)),
        Ok(Err(e)) => (failed(e), None),
        Err(_) => (
            failed(format!("nothing within {} ms", budget.as_millis())),
            None,
        ),
    };
    let o = judge(&crossing, workflow).with("transport", transport);
    match addr {
        Some(a) => o.with("target", a),
        None => o,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use imp_verify_core::Status;

    fn crossing(code: u16, server: &str, hop_server: Option<&str>) -> Crossing {
        Crossing {
            way: Way::Out,
            hop: "imp1.example.com".into(),
            to: "peer.test".into(),
            hop_server: hop_server.map(String::from),
            answer: Ok(SipResponse {
                code,
                reason: if code == 200 {
                    "OK".into()
                } else {
                    "Service Unavailable".into()
                },
                call_id: "c".into(),
                cseq: "1 OPTIONS".into(),
                branch: "b".into(),
                server: server.into(),
            }),
        }
    }

    #[test]
    fn a_200_from_the_far_side_passes_and_one_the_hop_could_have_given_is_not_proven() {
        let o = judge(
            &crossing(200, "PeerEdge 1.0", Some("IMP SIP Proxy")),
            Workflow::C,
        );
        assert_eq!(o.status, Status::Pass, "{}", o.message);
        assert!(
            o.message.contains("200 OK from PeerEdge 1.0"),
            "{}",
            o.message
        );
        // Answered as the hop answers for itself: the hop in the far side's name, or
        // the same software on both sides; not proven either way.
        let o = judge(
            &crossing(200, "IMP SIP Proxy", Some("IMP SIP Proxy")),
            Workflow::C,
        );
        assert_eq!(o.status, Status::Warn);
        assert!(
            o.message.contains("as imp1.example.com answers for itself"),
            "{}",
            o.message
        );
        // Nothing tells who answered: not proven.
        assert_eq!(
            judge(&crossing(200, "", None), Workflow::C).status,
            Status::Warn
        );
    }

    #[test]
    fn a_failure_carries_the_status_line_and_who_sent_it() {
        let o = judge(
            &crossing(503, "IMP SIP Proxy", Some("IMP SIP Proxy")),
            Workflow::C,
        );
        assert_eq!(o.status, Status::Fail);
        assert!(
            o.message
                .contains("503 Service Unavailable (from imp1.example.com itself)"),
            "{}",
            o.message
        );
        assert!(o
            .evidence
            .iter()
            .any(|(k, v)| k == "status_line" && v == "SIP/2.0 503 Service Unavailable"));
        assert!(o.remediation.as_deref().unwrap().ends_with("(task C.14)"));
        let mut c = crossing(200, "", None);
        c.answer = Err("the connection closed".into());
        let o = judge(&c, Workflow::C);
        assert_eq!(o.status, Status::Fail);
        assert!(
            o.message
                .contains("no final answer to an OPTIONS for peer.test"),
            "{}",
            o.message
        );
    }
}
