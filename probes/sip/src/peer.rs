//! `sip.tls-peer`: over TLS the node accepts CUCM's client certificate and presents a
//! certificate whose subject is among the trunk's TLS peer subjects. Observed into
//! [`PeerFacts`] (one [`look`] with the trunk's certificate), judged by [`judge`].

use crate::access::Sender;
use crate::admission::{look, Admission, Refusal};
use crate::conn::Deadline;
use crate::ctx::{SipCtx, Tasks, Trunk, TrunkTarget};
use crate::error::SipError;
use imp_verify_core::spec::{Transport, Workflow};
use imp_verify_core::{CheckCtx, Outcome, Reason, Stage};
use imp_verify_net::tls::view;
use std::time::Duration;

/// The node's certificate, as the judge compares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NodeCert {
    pub subject: String,
    /// The common name, lower case.
    pub cn: String,
    /// The DNS names, lower case.
    pub dns: Vec<String>,
}

/// What the TLS look with the trunk's certificate showed.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    /// The node's certificate (`None`: none that parses).
    pub cert: Option<NodeCert>,
    /// Why it does not verify (`None`: it does).
    pub verify_error: Option<String>,
    /// `TLSv1_3 TLS13_...`.
    pub tls: String,
    /// What the node did with the trunk's client.
    pub admission: Admission,
    /// Where we connected from.
    pub local: Option<std::net::SocketAddr>,
}

/// What `sip.tls-peer` observed.
#[derive(Debug)]
pub(crate) struct PeerFacts {
    pub target: TrunkTarget,
    pub budget: Duration,
    /// Whether the spec gives the trunk's client certificate.
    pub client_given: bool,
    pub seen: Result<Seen, SipError>,
}

async fn observe(c: &SipCtx, trunk: &Trunk, t: &TrunkTarget, cx: &CheckCtx) -> PeerFacts {
    let deadline = Deadline::of(cx);
    let seen = async {
        let client = trunk
            .client
            .identity()
            .map_err(crate::error::ReachError::from)?;
        cx.enter(Stage::Resolve);
        let addr = c
            .addr(&t.host, t.port, deadline)
            .await
            .map_err(crate::error::ReachError::from)?;
        let l = look(c, &t.host, addr, client, &trunk.domain, deadline, cx).await?;
        let facts = l.facts.as_ref();
        Ok::<_, SipError>(Seen {
            cert: facts
                .and_then(|f| f.chain.first())
                .and_then(|d| view(d).ok())
                .map(|v| NodeCert {
                    cn: v.cn.as_deref().unwrap_or_default().to_ascii_lowercase(),
                    dns: v.names.dns.clone(),
                    subject: v.subject,
                }),
            verify_error: facts.and_then(|f| f.verify_error.clone()),
            tls: facts
                .map(|f| format!("{} {}", f.version, f.cipher))
                .unwrap_or_else(|| "not negotiated".into()),
            admission: l.admission,
            local: l.local,
        })
    }
    .await;
    PeerFacts {
        target: t.clone(),
        budget: deadline.budget,
        client_given: trunk.client.given(),
        seen,
    }
}

/// The check.
pub(crate) async fn check_tls_peer(
    c: &SipCtx,
    trunk: &Trunk,
    t: &TrunkTarget,
    cx: CheckCtx,
) -> Outcome {
    let facts = observe(c, trunk, t, &cx).await;
    judge(&facts, trunk, c.workflow())
}

/// The verdict: the trunk's client is admitted, the node's certificate is a TLS peer
/// subject of the trunk and verifies.
pub(crate) fn judge(f: &PeerFacts, trunk: &Trunk, w: Workflow) -> Outcome {
    let secure = Tasks::of(w).secure;
    let host = &f.target.host;
    let s = match &f.seen {
        Ok(s) => s,
        Err(e) => {
            let o = Outcome::fail(
                e.to_string(),
                format!("Check the node's SIP TLS listener (task {secure})"),
            );
            return match e.stalled() {
                Some(stage) => o.because(Reason::TimedOut {
                    after: f.budget,
                    stage: Some(stage),
                }),
                None => o,
            };
        }
    };
    let client = if f.client_given {
        "presented"
    } else {
        "none configured"
    };
    if let Some(refused) = not_admitted(s, host, client, trunk, secure) {
        return refused;
    }
    let Some(cert) = &s.cert else {
        return Outcome::fail(
            format!("{host} sent no certificate that parses"),
            format!("Check the node's certificate (task {secure})"),
        );
    };
    let names: Vec<&String> = std::iter::once(&cert.cn)
        .chain(cert.dns.iter())
        .filter(|n| !n.is_empty())
        .collect();
    let matched: Vec<&&String> = names
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
                "{host}'s certificate (CN {}, names {}) matches none of the TLS peer subjects {}",
                cert.cn,
                cert.dns.join(", "),
                trunk.subjects.join(", ")
            ),
            format!("Add the node's certificate subject to the TLS peer subjects of CUCM's SIP trunk security profile, or reissue the certificate (task {secure})"),
        )
    } else if let Some(e) = &s.verify_error {
        Outcome::fail(
            format!("{host}'s certificate does not verify: {e}"),
            format!("See the tls.* checks of sip-tls on this node (task {secure})"),
        )
    } else {
        Outcome::pass(format!(
            "{host} accepts the trunk's client certificate and presents {} (a TLS peer subject)",
            matched[0]
        ))
    };
    o.with("subject", &cert.subject)
        .with("names", cert.dns.join(", "))
        .with("tls_peer_subjects", trunk.subjects.join(", "))
        .with("client_certificate", client)
        .with("tls", &s.tls)
}

/// The verdict when the node did not admit the trunk's client (`None`: it did).
fn not_admitted(
    s: &Seen,
    host: &str,
    client: &str,
    trunk: &Trunk,
    secure: &str,
) -> Option<Outcome> {
    match &s.admission {
        Admission::Refused(Refusal::Sip(r)) if r.forbidden() => {
            let sender = Sender {
                from: s.local.map(|a| a.ip()).unwrap_or([0, 0, 0, 0].into()),
                tls_peer: trunk.client.name().map(|n| n.cn.clone()),
                transport: Transport::Tls,
            };
            let o = Outcome::fail(
                format!(
                    "{host} takes the TLS session but answers the trunk's OPTIONS with {}: {}",
                    r.status(),
                    sender.why()
                ),
                sender.fix(&format!(" (task {secure})")),
            )
            .with("status_line", r.status_line())
            .with("client_certificate", client);
            Some(sender.evidence(o))
        }
        Admission::Refused(r) => Some(
            Outcome::fail(
                format!("{host} does not accept the trunk's client certificate: {r}"),
                format!("Upload CUCM's certificate (or its CA) to the IM&P node's trust store and add CUCM to the TLS peer subjects of the SIP security profile (task {secure})"),
            )
            .with("client_certificate", client),
        ),
        Admission::Unknown(why) => Some(
            Outcome::fail(
                format!("{host}: whether it accepts the trunk's client certificate is not known: {why}"),
                format!("Check the node's SIP TLS listener (task {secure})"),
            )
            .with("client_certificate", client),
        ),
        Admission::Served(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctx::ClientCert;
    use crate::message::SipResponse;
    use imp_verify_core::Status;
    use imp_verify_net::tls::HandshakeFailure;

    fn trunk(subjects: &[&str]) -> Trunk {
        Trunk {
            domain: "lab.test".into(),
            srv_name: "imp-cluster.lab.test".into(),
            subjects: subjects.iter().map(|s| s.to_string()).collect(),
            client: ClientCert::None,
            presentity: None,
        }
    }

    fn response(code: u16, reason: &str) -> SipResponse {
        SipResponse {
            code,
            reason: reason.into(),
            call_id: "c".into(),
            cseq: "1 OPTIONS".into(),
            branch: "b".into(),
            server: String::new(),
        }
    }

    fn facts(admission: Admission) -> PeerFacts {
        PeerFacts {
            target: TrunkTarget {
                transport: Transport::Tls,
                host: "imp1.lab.test".into(),
                port: 5061,
            },
            budget: Duration::from_secs(1),
            client_given: true,
            seen: Ok(Seen {
                cert: Some(NodeCert {
                    subject: "O=lab, CN=imp1.lab.test".into(),
                    cn: "imp1.lab.test".into(),
                    dns: vec!["imp1.lab.test".into(), "imp-cluster.lab.test".into()],
                }),
                verify_error: None,
                tls: "TLSv1_3 X".into(),
                admission,
                local: Some("127.0.0.1:40000".parse().unwrap()),
            }),
        }
    }

    #[test]
    fn a_served_client_and_a_listed_subject_pass_and_an_unlisted_one_fails() {
        let ok = facts(Admission::Served(response(200, "OK")));
        let o = judge(&ok, &trunk(&["imp1.lab.test"]), Workflow::B);
        assert_eq!(o.status, Status::Pass, "{}", o.message);
        // A DNS name is a subject too.
        assert_eq!(
            judge(&ok, &trunk(&["imp-cluster.lab.test"]), Workflow::B).status,
            Status::Pass
        );
        let o = judge(&ok, &trunk(&["imp9.lab.test"]), Workflow::B);
        assert_eq!(o.status, Status::Fail);
        assert!(
            o.message
                .contains("matches none of the TLS peer subjects imp9.lab.test"),
            "{}",
            o.message
        );
        assert_eq!(judge(&ok, &trunk(&[]), Workflow::B).status, Status::Warn);
    }

    #[test]
    fn a_refused_client_certificate_and_a_403_are_told_apart() {
        let refused = facts(Admission::Refused(Refusal::Tls {
            kind: HandshakeFailure::ClientCertificateRefused,
            message: "the server refused the client certificate (unknown_ca)".into(),
        }));
        let o = judge(&refused, &trunk(&["imp1.lab.test"]), Workflow::B);
        assert_eq!(o.status, Status::Fail);
        assert!(
            o.message
                .contains("does not accept the trunk's client certificate: the server refused"),
            "{}",
            o.message
        );
        let closed = facts(Admission::Refused(Refusal::Closed));
        let o = judge(&closed, &trunk(&["imp1.lab.test"]), Workflow::B);
        assert!(
            o.message
                .contains("closed the connection right after the handshake, without answering"),
            "{}",
            o.message
        );
        assert!(
            !o.message.contains("refuses the client certificate"),
            "no guess stated as fact"
        );

        let forbidden = facts(Admission::Refused(Refusal::Sip(response(403, "Forbidden"))));
        let o = judge(&forbidden, &trunk(&["imp1.lab.test"]), Workflow::B);
        assert_eq!(o.status, Status::Fail);
        assert!(
            o.message
                .contains("answers the trunk's OPTIONS with 403 Forbidden"),
            "{}",
            o.message
        );
        assert!(o
            .evidence
            .contains(&("access_control".into(), "TLS peer subjects".into())));
        assert!(o.remediation.unwrap().contains("TLS Peer Subjects"));
    }
}
