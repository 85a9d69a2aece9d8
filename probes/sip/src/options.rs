//! `sip.options` and `sip.presence-gateway`: OPTIONS over the trunk's transports,
//! observed into [`OptionsFacts`] and judged by [`judge_options`] and [`judge_gateway`].

use crate::access::Sender;
use crate::conn::{Conn, Deadline, Request};
use crate::connect::{connect, connect_bare_tls};
use crate::ctx::{SipCtx, Tasks, Trunk, TrunkTarget};
use crate::error::{ConnError, MessageError, SipError};
use crate::message::SipResponse;
use imp_verify_core::spec::{Transport, Workflow};
use imp_verify_core::text::peer_text;
use imp_verify_core::{ms, CheckCtx, Outcome, Reason, Stage};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// What one OPTIONS to a target showed.
#[derive(Debug)]
pub(crate) struct OptionsFacts {
    pub target: TrunkTarget,
    /// The time the check had.
    pub budget: Duration,
    /// The final response, or why none came.
    pub answer: Result<Answered, SipError>,
}

/// A final response and how it came.
#[derive(Debug, Clone)]
pub(crate) struct Answered {
    /// The node's address.
    pub peer: SocketAddr,
    /// Ours, as the node saw it.
    pub local: SocketAddr,
    pub response: SipResponse,
    /// How many times the request was sent (UDP retransmits).
    pub sent: u32,
    /// From the check's start to the response.
    pub elapsed: Duration,
}

/// Sends OPTIONS for `host` on `conn` and waits for the final response.
pub(crate) async fn ask_options(
    conn: &mut Conn,
    host: &str,
    domain: &str,
    deadline: Deadline,
) -> Result<(SipResponse, u32), ConnError> {
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
    let (m, sent) = conn.transact(&req, deadline).await?;
    let response =
        SipResponse::of(&m).ok_or_else(|| MessageError::NotAResponse(peer_text(m.first_line())))?;
    Ok((response, sent))
}

/// Asks `t` once. The presence gateway (`bare`) is asked over TLS without a client
/// certificate: the trunk's is CUCM's own.
async fn observe(
    c: &SipCtx,
    trunk: &Trunk,
    t: &TrunkTarget,
    bare: bool,
    cx: &CheckCtx,
) -> OptionsFacts {
    let deadline = Deadline::of(cx);
    let started = Instant::now();
    let answer = async {
        let mut conn = if bare && t.transport == Transport::Tls {
            connect_bare_tls(c, t, deadline, cx).await?
        } else {
            connect(c, trunk, t, deadline, cx).await?
        };
        cx.enter(Stage::SipTransaction);
        let (response, sent) = ask_options(&mut conn, &t.host, &trunk.domain, deadline).await?;
        Ok::<_, SipError>(Answered {
            peer: conn.peer,
            local: conn.local,
            response,
            sent,
            elapsed: started.elapsed(),
        })
    }
    .await;
    OptionsFacts {
        target: t.clone(),
        budget: deadline.budget,
        answer,
    }
}

/// The check `sip.options`.
pub(crate) async fn check_options(
    c: &SipCtx,
    trunk: &Trunk,
    t: &TrunkTarget,
    cx: CheckCtx,
) -> Outcome {
    let facts = observe(c, trunk, t, false, &cx).await;
    judge_options(&facts, trunk, c.workflow())
}

/// The check `sip.presence-gateway`.
pub(crate) async fn check_gateway(
    c: &SipCtx,
    trunk: &Trunk,
    t: &TrunkTarget,
    cx: CheckCtx,
) -> Outcome {
    let facts = observe(c, trunk, t, true, &cx).await;
    judge_gateway(&facts, c.workflow())
}

/// A failure to get an answer, its reason typed when the check's own time ran out.
fn unanswered(message: String, fix: String, e: &SipError, budget: Duration) -> Outcome {
    let o = Outcome::fail(message, fix);
    match e.stalled() {
        Some(stage) => o.because(Reason::TimedOut {
            after: budget,
            stage: Some(stage),
        }),
        None => o,
    }
}

/// The verdict of `sip.options`: 200 passes; a 403 is the node's access control
/// refusing this host (or this TLS peer), named with what to add; any other answer, or
/// none, fails.
pub(crate) fn judge_options(f: &OptionsFacts, trunk: &Trunk, w: Workflow) -> Outcome {
    let tasks = Tasks::of(w);
    let t = &f.target;
    let (host, name) = (&t.host, t.name());
    let o = match &f.answer {
        Ok(a) if a.response.code == 200 => Outcome::pass(format!(
            "{host} answers OPTIONS over {name}: {}",
            a.response.status()
        ))
        .with("target", a.peer)
        .with("status_line", a.response.status_line())
        .with("server", a.response.server_shown())
        .with("transmissions", a.sent)
        .metric("options_ms", ms(a.elapsed)),
        Ok(a) if a.response.forbidden() => {
            let sender = Sender {
                from: a.local.ip(),
                tls_peer: trunk.client.name().map(|n| n.cn.clone()),
                transport: t.transport,
            };
            let task = if t.transport == Transport::Tls {
                tasks.secure
            } else {
                tasks.trunk
            };
            let o = Outcome::fail(
                format!(
                    "{host} answers OPTIONS over {name} with {}: {}",
                    a.response.status(),
                    sender.why()
                ),
                sender.fix(&format!(" (task {task})")),
            )
            .with("target", a.peer)
            .with("status_line", a.response.status_line());
            sender.evidence(o)
        }
        Ok(a) => Outcome::fail(
            format!("{host} answers OPTIONS over {name} with {}", a.response.status()),
            format!("The node refuses the trunk's requests: check the SIP proxy's listeners and its routing of the trunk's traffic (task {})", tasks.trunk),
        )
        .with("target", a.peer)
        .with("status_line", a.response.status_line()),
        Err(e) => unanswered(
            format!("{host}:{} over {name}: {e}", t.port),
            if t.transport == Transport::Tls {
                format!("Check the Cisco SIP Proxy's TLS listener, the TLS peer subjects and the certificates exchanged between CUCM and IM&P (tasks {}, {})", tasks.trunk, tasks.secure)
            } else {
                format!("Check that the Cisco SIP Proxy runs on the node and listens for {name} on port {}, and that the trunk's SRV name {} points here (task {})", t.port, trunk.srv_name, tasks.trunk)
            },
            e,
            f.budget,
        ),
    };
    o.with("transport", name)
}

/// The verdict of `sip.presence-gateway`: the CUCM node answers 200.
pub(crate) fn judge_gateway(f: &OptionsFacts, w: Workflow) -> Outcome {
    let task = Tasks::of(w).trunk;
    let t = &f.target;
    let (host, name) = (&t.host, t.name());
    let fix = format!(
        "On IM&P (Presence > Gateways) the presence gateway must be {host} with the trunk's transport and port; on {host} the Cisco CallManager service must run and its SIP trunk to IM&P must accept the IM&P nodes (task {task})"
    );
    let o = match &f.answer {
        Ok(a) => {
            let o = if a.response.code == 200 {
                Outcome::pass(format!(
                    "the presence gateway {host} answers OPTIONS over {name}: {}",
                    a.response.status()
                ))
            } else {
                Outcome::fail(
                    format!(
                        "the presence gateway {host} answers OPTIONS over {name} with {}",
                        a.response.status()
                    ),
                    fix,
                )
            };
            o.with("target", a.peer)
                .with("status_line", a.response.status_line())
                .with("server", a.response.server_shown())
                .with("transmissions", a.sent)
                .metric("options_ms", ms(a.elapsed))
        }
        Err(e) => unanswered(
            format!("the presence gateway {host}:{} over {name}: {e}", t.port),
            fix,
            e,
            f.budget,
        ),
    };
    o.with("transport", name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctx::ClientCert;
    use crate::error::{ReachError, WaitEnd};
    use imp_verify_core::Status;

    fn trunk() -> Trunk {
        Trunk {
            domain: "lab.test".into(),
            srv_name: "imp-cluster.lab.test".into(),
            subjects: vec!["imp1.lab.test".into()],
            client: ClientCert::None,
            presentity: None,
        }
    }

    fn target(transport: Transport) -> TrunkTarget {
        TrunkTarget {
            transport,
            host: "imp1.lab.test".into(),
            port: if transport == Transport::Tls {
                5061
            } else {
                5060
            },
        }
    }

    fn answered(transport: Transport, code: u16, reason: &str) -> OptionsFacts {
        OptionsFacts {
            target: target(transport),
            budget: Duration::from_millis(1600),
            answer: Ok(Answered {
                peer: "127.0.0.22:5060".parse().unwrap(),
                local: "127.0.0.1:40000".parse().unwrap(),
                response: SipResponse {
                    code,
                    reason: reason.into(),
                    call_id: "c".into(),
                    cseq: "1 OPTIONS".into(),
                    branch: "b".into(),
                    server: "lab\x1b[2J".into(),
                },
                sent: 2,
                elapsed: Duration::from_millis(3),
            }),
        }
    }

    #[test]
    fn a_200_passes_and_another_answer_fails_with_its_status_line() {
        let o = judge_options(&answered(Transport::Udp, 200, "OK"), &trunk(), Workflow::B);
        assert_eq!(o.status, Status::Pass, "{}", o.message);
        assert_eq!(o.message, "imp1.lab.test answers OPTIONS over udp: 200 OK");
        assert!(
            o.evidence
                .contains(&("server".into(), "lab\\u{1b}[2J".into())),
            "peer bytes escaped: {:?}",
            o.evidence
        );
        let o = judge_options(
            &answered(Transport::Tcp, 500, "Server Error"),
            &trunk(),
            Workflow::B,
        );
        assert_eq!(o.status, Status::Fail);
        assert!(
            o.message.ends_with("over tcp with 500 Server Error"),
            "{}",
            o.message
        );
        assert!(o.remediation.unwrap().contains("(task B.8)"));
    }

    #[test]
    fn a_403_names_the_incoming_acl_or_the_tls_peer_subjects_and_the_address_sent_from() {
        let o = judge_options(
            &answered(Transport::Tcp, 403, "Forbidden"),
            &trunk(),
            Workflow::C,
        );
        assert_eq!(o.status, Status::Fail);
        assert!(
            o.message
                .contains("with 403 Forbidden: the node refuses this host (127.0.0.1)"),
            "{}",
            o.message
        );
        let fix = o.remediation.as_deref().unwrap();
        assert!(
            fix.contains("Incoming ACL")
                && fix.contains("add 127.0.0.1")
                && fix.ends_with("(task C.8)"),
            "{fix}"
        );
        assert!(o
            .evidence
            .contains(&("access_control".into(), "incoming ACL".into())));
        assert!(o
            .evidence
            .contains(&("sent_from".into(), "127.0.0.1".into())));

        let o = judge_options(
            &answered(Transport::Tls, 403, "Forbidden"),
            &trunk(),
            Workflow::C,
        );
        assert!(o
            .evidence
            .contains(&("access_control".into(), "TLS peer subjects".into())));
        assert!(o.remediation.unwrap().ends_with("(task C.11)"));
    }

    #[test]
    fn the_checks_own_time_running_out_is_a_typed_timeout_of_the_transaction() {
        let f = OptionsFacts {
            target: target(Transport::Udp),
            budget: Duration::from_millis(1600),
            answer: Err(SipError::Conn(ConnError::NoFinalResponse {
                method: "OPTIONS",
                sent: 3,
                ended: WaitEnd::Budget(Duration::from_millis(1600)),
            })),
        };
        let o = judge_options(&f, &trunk(), Workflow::B);
        assert_eq!(o.status, Status::Fail);
        assert!(o.message.contains("no final response to OPTIONS after 3 transmission(s) within the check's time (1600 ms)"), "{}", o.message);
        assert!(!o.message.contains("timer F"));
        assert_eq!(
            o.reason,
            Reason::TimedOut {
                after: Duration::from_millis(1600),
                stage: Some(Stage::SipTransaction)
            }
        );
        // A refused connection is a verdict, naming the listener.
        let f = OptionsFacts {
            target: target(Transport::Tcp),
            budget: Duration::from_millis(1600),
            answer: Err(SipError::Reach(ReachError::Connect(
                imp_verify_net::ConnectError::Connect {
                    addr: "127.0.0.22:5060".parse().unwrap(),
                    error: std::io::ErrorKind::ConnectionRefused.into(),
                },
            ))),
        };
        let o = judge_options(&f, &trunk(), Workflow::B);
        assert_eq!(o.reason, Reason::Verdict);
        assert!(
            o.message
                .starts_with("imp1.lab.test:5060 over tcp: cannot connect to 127.0.0.22:5060"),
            "{}",
            o.message
        );
        assert!(o
            .remediation
            .unwrap()
            .contains("listens for tcp on port 5060"));
    }

    #[test]
    fn the_gateway_passes_on_200_and_fails_naming_the_presence_gateway_setting() {
        let mut f = answered(Transport::Tcp, 200, "OK");
        f.target.host = "cucm.lab.test".into();
        assert_eq!(judge_gateway(&f, Workflow::B).status, Status::Pass);
        let mut f = answered(Transport::Tcp, 404, "Not Found");
        f.target.host = "cucm.lab.test".into();
        let o = judge_gateway(&f, Workflow::B);
        assert_eq!(o.status, Status::Fail);
        assert!(o.remediation.unwrap().contains("Presence > Gateways"));
    }
}
