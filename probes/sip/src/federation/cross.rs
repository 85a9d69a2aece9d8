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

use super::{EndpointsError, Peer};
use crate::access::Sender;
use crate::conn::{Conn, Deadline, Request};
use crate::connect::{tcp, tls};
use crate::ctx::SipCtx;
use crate::error::{ConnError, MessageError, ReachError, SipError};
use crate::message::SipResponse;
use imp_verify_core::catalog::{cite, Task};
use imp_verify_core::spec::{Transport, Workflow};
use imp_verify_core::text::peer_text;
use imp_verify_core::{CheckCtx, Outcome, Reason, Stage};
use std::net::SocketAddr;
use std::time::Duration;

/// Which way the OPTIONS crosses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Way {
    /// Local IM&P node to the federated domain.
    Out,
    /// The federated domain to IM&P.
    In,
}

/// Why no crossing came about, or its OPTIONS got no final answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CrossError {
    /// The peer's endpoints are not known.
    #[error(transparent)]
    Endpoints(#[from] EndpointsError),
    /// The hop was not reached, or the exchange failed.
    #[error(transparent)]
    Sip(#[from] SipError),
}

impl CrossError {
    /// The step that ran out of the check's time, if that is why.
    fn stalled(&self) -> Option<Stage> {
        match self {
            CrossError::Endpoints(e) => e.stalled(),
            CrossError::Sip(e) => e.stalled(),
        }
    }
}

impl From<ReachError> for CrossError {
    fn from(e: ReachError) -> Self {
        CrossError::Sip(e.into())
    }
}

/// What a crossing showed.
#[derive(Debug)]
pub(crate) struct Crossing {
    pub way: Way,
    /// The hop the OPTIONS was handed to (`imp1.example.com`, `sip.peer.test`).
    pub hop: String,
    /// The domain it was for.
    pub to: String,
    /// The hop's address and ours, when a connection was made.
    pub ends: Option<(SocketAddr, SocketAddr)>,
    /// The hop's own Server header (its answer to an OPTIONS for itself), if it gave one.
    pub hop_server: Option<String>,
    /// The final response to the crossing OPTIONS.
    pub answer: Result<SipResponse, CrossError>,
    /// The time the check had.
    pub budget: Duration,
}

async fn ask(
    conn: &mut Conn,
    uri: String,
    from: &str,
    deadline: Deadline,
) -> Result<SipResponse, ConnError> {
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
    let (m, _) = conn.transact(&req, deadline).await?;
    SipResponse::of(&m)
        .ok_or_else(|| ConnError::Malformed(MessageError::NotAResponse(peer_text(m.first_line()))))
}

/// Asks the hop for itself, then for `to`, on `conn`.
async fn cross(
    mut conn: Conn,
    way: Way,
    hop: &str,
    to: &str,
    from: &str,
    deadline: Deadline,
) -> Crossing {
    let own = format!(
        "sip:{hop}:{};transport={}",
        conn.peer.port(),
        conn.transport
    );
    let hop_server = match ask(&mut conn, own, from, deadline).await {
        Ok(r) if !r.server.is_empty() => Some(r.server),
        _ => None,
    };
    let answer = ask(&mut conn, format!("sip:{to}"), from, deadline)
        .await
        .map_err(|e| CrossError::Sip(e.into()));
    Crossing {
        way,
        hop: hop.to_string(),
        to: to.to_string(),
        ends: Some((conn.peer, conn.local)),
        hop_server,
        answer,
        budget: deadline.budget,
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
    let hop_server = c
        .hop_server
        .as_deref()
        .map(peer_text)
        .unwrap_or_else(|| "(none)".into());
    let r = match &c.answer {
        Ok(r) => r,
        Err(e) => {
            let o = Outcome::fail(
                format!("{hop}: no final answer to an OPTIONS for {to}: {e}"),
                fix,
            )
            .with("hop", hop)
            .with("hop_server", hop_server);
            return match e.stalled() {
                Some(stage) => o.because(Reason::TimedOut {
                    after: c.budget,
                    stage: Some(stage),
                }),
                None => o,
            };
        }
    };
    let by_hop = c.hop_server.as_deref().is_some_and(|s| s == r.server);
    let server = r.server_shown();
    let o = match c.ends {
        // IM&P's SIP proxy refusing this host, not the federation: name its incoming ACL.
        Some((_, local)) if r.forbidden() && by_hop && c.way == Way::Out => {
            let sender = Sender {
                from: local.ip(),
                tls_peer: None,
                transport: Transport::Tcp,
            };
            let o = Outcome::fail(
                format!(
                    "{hop} answers an OPTIONS for {to} with {} (from {hop} itself): {}",
                    r.status(),
                    sender.why()
                ),
                sender.fix(&task),
            );
            sender.evidence(o)
        }
        _ if r.code != 200 => {
            let who = if by_hop {
                format!("{hop} itself")
            } else if r.server.is_empty() {
                "an unnamed server".to_string()
            } else {
                server.clone()
            };
            Outcome::fail(
                format!("{hop} answers an OPTIONS for {to} with {} (from {who})", r.status()),
                fix,
            )
        }
        // The same Server as the hop's own answer: the hop answered in the far side's
        // name, or the far side runs the same software and build (IM&P on both sides,
        // two default Kamailios). Nothing in SIP tells these apart: not proven either way.
        _ if by_hop => Outcome::warn(
            format!("{hop} answers an OPTIONS for {to} with 200, but as {hop} answers for itself ({server}): either it answered in {to}'s name instead of routing it across the federation, or {to} runs the same software"),
            format!("If {to} does not run the same SIP software as {hop}, {hop} treats {to} as its own domain: {fix}; otherwise confirm the crossing in {to}'s logs"),
        ),
        _ if r.server.is_empty() => Outcome::warn(
            format!("{hop} relays an OPTIONS for {to}, answered 200, but no Server header tells who answered"),
            format!("Nothing to fix for federation; the crossing is not proven to reach {to}{task}"),
        ),
        _ => Outcome::pass(format!(
            "an OPTIONS for {to} handed to {hop} crossed the federation: 200 OK from {server} ({hop} itself is {})",
            c.hop_server.as_deref().map(peer_text).unwrap_or_else(|| "unnamed".into())
        )),
    };
    o.with("hop", hop)
        .with("status_line", r.status_line())
        .with(
            "answered_by",
            if r.server.is_empty() {
                "(no Server header)".to_string()
            } else {
                server
            },
        )
        .with("hop_server", hop_server)
}

/// `sip.federation-out` through `node` (its SIP TCP port).
pub(crate) async fn outbound(
    c: &SipCtx,
    peer: &Peer,
    node: &str,
    port: u16,
    cx: CheckCtx,
) -> Outcome {
    let deadline = Deadline::of(&cx);
    let (to, from) = (&peer.spec.domain, &peer.spec.local_domain);
    let crossing = async {
        cx.enter(Stage::Resolve);
        let addr = c
            .addr(node, port, deadline)
            .await
            .map_err(ReachError::from)?;
        let (tcp, local) = tcp(addr, deadline, &cx).await?;
        let conn = Conn::stream(Box::new(tcp), "tcp", local, addr);
        cx.enter(Stage::SipTransaction);
        Ok::<_, CrossError>(cross(conn, Way::Out, node, to, from, deadline).await)
    }
    .await;
    settle(
        crossing,
        Way::Out,
        node,
        to,
        deadline.budget,
        c.workflow(),
        "tcp",
    )
}

/// `sip.federation-in` through the peer's first federation endpoint that takes us.
pub(crate) async fn inbound(c: &SipCtx, peer: &Peer, cx: CheckCtx) -> Outcome {
    let (to, from) = (&peer.spec.local_domain, &peer.spec.domain);
    let id = match peer.client.identity() {
        Ok(Some(id)) => id,
        Ok(None) => {
            return Outcome::skip(format!("the spec gives no client certificate for {from} (`client_cert`, `client_key`): its federation port demands one before it routes anything to {to}"));
        }
        Err(e) => {
            return Outcome::fail(
                e.to_string(),
                format!(
                    "Give a readable PEM certificate and key as `client_cert` and `client_key`{}",
                    cite(c.workflow(), &[Task::Federation])
                ),
            )
        }
    };
    let deadline = Deadline::of(&cx);
    let crossing = async {
        let mut last: Option<CrossError> = None;
        for (host, port) in peer.endpoints(c, deadline).await? {
            cx.enter(Stage::Resolve);
            let ip = imp_verify_net::address(&c.net.resolver, &host, None, deadline.tokio());
            let addr = match ip.await {
                Ok(ip) => SocketAddr::new(ip, port),
                Err(e) => {
                    last = Some(ReachError::from(e).into());
                    continue;
                }
            };
            let session = match tls(c, &host, addr, Some(id), deadline, &cx).await {
                Ok(s) => s,
                Err(e @ ReachError::Connect(_)) => {
                    last = Some(e.into());
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            if !session.facts.verified() {
                let why = crate::connect::untrusted_why(&session.facts);
                let why = format!("{why} (see sip.federation-tls)");
                return Err(ReachError::Untrusted(why).into());
            }
            cx.enter(Stage::SipTransaction);
            return Ok(cross(session.into_conn(), Way::In, &host, to, from, deadline).await);
        }
        Err(last.unwrap_or_else(|| {
            EndpointsError::Empty {
                name: format!("_sipfederationtls._tcp.{from}"),
            }
            .into()
        }))
    }
    .await;
    settle(
        crossing,
        Way::In,
        from,
        to,
        deadline.budget,
        c.workflow(),
        "tls",
    )
}

/// The verdict on a crossing attempt: its crossing, or why none came about, with the
/// transport and the address it went to.
fn settle(
    r: Result<Crossing, CrossError>,
    way: Way,
    hop: &str,
    to: &str,
    budget: Duration,
    workflow: Workflow,
    transport: &str,
) -> Outcome {
    let crossing = r.unwrap_or_else(|e| Crossing {
        way,
        hop: hop.into(),
        to: to.into(),
        ends: None,
        hop_server: None,
        answer: Err(e),
        budget,
    });
    let o = judge(&crossing, workflow).with("transport", transport);
    match crossing.ends {
        Some((peer, _)) => o.with("target", peer),
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
            ends: Some((
                "192.0.2.11:5060".parse().unwrap(),
                "192.0.2.7:40000".parse().unwrap(),
            )),
            budget: Duration::from_secs(1),
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
        c.answer = Err(CrossError::Sip(SipError::Conn(ConnError::Closed)));
        let o = judge(&c, Workflow::C);
        assert_eq!(o.status, Status::Fail);
        assert!(
            o.message
                .contains("no final answer to an OPTIONS for peer.test"),
            "{}",
            o.message
        );
    }

    #[test]
    fn a_403_of_the_node_itself_names_its_incoming_acl_and_the_address_sent_from() {
        let mut c = crossing(403, "IMP SIP Proxy", Some("IMP SIP Proxy"));
        if let Ok(r) = c.answer.as_mut() {
            r.reason = "Forbidden".into();
        }
        let o = judge(&c, Workflow::C);
        assert_eq!(o.status, Status::Fail);
        assert!(
            o.message.contains("with 403 Forbidden (from imp1.example.com itself): the node refuses this host (192.0.2.7)"),
            "{}",
            o.message
        );
        let fix = o.remediation.as_deref().unwrap();
        assert!(
            fix.contains("Incoming ACL") && fix.ends_with("(task C.14)"),
            "{fix}"
        );
        // A 403 of the far side is the federation's answer, not this host's refusal.
        let mut c = crossing(403, "PeerEdge", Some("IMP SIP Proxy"));
        if let Ok(r) = c.answer.as_mut() {
            r.reason = "Forbidden".into();
        }
        assert!(!judge(&c, Workflow::C).message.contains("refuses this host"));
    }
}
