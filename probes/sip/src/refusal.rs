//! What a node's SIP TLS port must refuse (issue 22): `sip.tls-refusal` on each trunk
//! node and `sip.federation-refusal` on each federation port of IM&P (the targets of the
//! local domain's `_sipfederationtls._tcp`). Only the TLS peers IM&P lists may use the
//! port: a client with no certificate must be refused, and so must a client whose
//! certificate the deployment's CA issued but whose subject is not among the TLS peer
//! subjects (the spec's `[tls] unlisted_client_cert`; without one that part is not
//! tested, and the check says what to add). That the trunk's own certificate is
//! accepted is `sip.tls-peer`, which `sip.tls-refusal` waits for: a node that refuses
//! everyone proves nothing.
//!
//! Both checks of an endpoint share one observation ([`RefusalFacts`], two [`look`]s),
//! judged by [`judge_trunk`] and [`judge_federation`].

use crate::admission::{look, Admission};
use crate::conn::Deadline;
use crate::ctx::{ClientCert, SipCtx};
use crate::error::{ReachError, SipError};
use imp_verify_core::catalog::{cite, Task};
use imp_verify_core::spec::Workflow;
use imp_verify_core::{CheckCtx, Outcome, PerAttempt, Reason, Stage};
use std::sync::Arc;
use std::time::Duration;

/// The certificate of the deployment's CA with a subject that is no TLS peer subject.
pub(crate) struct Outsider {
    pub cert: ClientCert,
    /// Every TLS peer subject the spec knows of IM&P (the trunk's CUCM certificate, the
    /// federated domains' subjects), lower case.
    pub listed: Vec<String>,
}

/// What was seen with the outsider's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unlisted {
    /// The spec gives no such certificate.
    NotGiven,
    /// The spec's certificate cannot be used (why).
    Unusable(String),
    /// The spec's certificate names a subject that is listed after all.
    Listed(String),
    /// Presented: its common name and what the node did.
    Tried { cn: String, admission: Admission },
}

/// What an endpoint did with the two clients it must refuse.
#[derive(Debug, Clone)]
pub(crate) struct RefusalFacts {
    /// `imp1.lab.test:5061 (127.0.0.22)`.
    pub endpoint: String,
    /// The client without a certificate.
    pub bare: Admission,
    pub unlisted: Unlisted,
}

/// One endpoint's observation, shared by the checks that judge it.
pub(crate) struct RefusalTarget {
    pub host: String,
    pub port: u16,
    /// The IM domain the OPTIONS are sent from.
    pub domain: String,
    pub outsider: Arc<Outsider>,
    pub seen: PerAttempt<Arc<Result<RefusalFacts, SipError>>>,
}

async fn observe(c: &SipCtx, e: &RefusalTarget, cx: &CheckCtx) -> Result<RefusalFacts, SipError> {
    let deadline = Deadline::of(cx);
    cx.enter(Stage::Resolve);
    let addr = c
        .addr(&e.host, e.port, deadline)
        .await
        .map_err(ReachError::from)?;
    let bare = look(c, &e.host, addr, None, &e.domain, deadline, cx)
        .await?
        .admission;
    let unlisted = match (&e.outsider.cert, e.outsider.cert.name()) {
        (ClientCert::None, _) => Unlisted::NotGiven,
        (ClientCert::Unusable(why), _) => Unlisted::Unusable(why.to_string()),
        (ClientCert::Usable { .. }, Some(n)) if e.outsider.listed.contains(&n.cn) => {
            Unlisted::Listed(n.cn.clone())
        }
        (ClientCert::Usable { id, name }, _) => Unlisted::Tried {
            cn: name.cn.clone(),
            admission: look(c, &e.host, addr, Some(id), &e.domain, deadline, cx)
                .await?
                .admission,
        },
    };
    Ok(RefusalFacts {
        endpoint: format!("{}:{} ({})", e.host, e.port, addr.ip()),
        bare,
        unlisted,
    })
}

/// Which port a verdict is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Port {
    /// A trunk node's TLS port (CUCM's side).
    Trunk,
    /// A federation port of the local domain.
    Federation,
}

/// The check `sip.tls-refusal` or `sip.federation-refusal` of an endpoint.
pub(crate) async fn check(c: &SipCtx, e: &RefusalTarget, port: Port, cx: CheckCtx) -> Outcome {
    let budget = cx.budget();
    let seen = e
        .seen
        .get_or_init(cx.attempt, || async { Arc::new(observe(c, e, &cx).await) })
        .await;
    let w = c.workflow();
    match (seen.as_ref(), port) {
        (Ok(f), Port::Trunk) => judge_trunk(f, &e.outsider.listed, w),
        (Ok(f), Port::Federation) => judge_federation(f, &e.domain, &e.outsider.listed, w),
        (Err(err), _) => unreached(&e.host, e.port, err, budget, port, w),
    }
}

fn unreached(
    host: &str,
    port: u16,
    e: &SipError,
    budget: Duration,
    which: Port,
    w: Workflow,
) -> Outcome {
    let o = Outcome::fail(
        format!("{host}:{port}: whether the TLS port refuses clients it must is not known: {e}"),
        format!(
            "Check the node's SIP TLS listener{}",
            cite(w, &tasks(which))
        ),
    );
    match e.stalled() {
        Some(stage) => o.because(Reason::TimedOut {
            after: budget,
            stage: Some(stage),
        }),
        None => o,
    }
}

fn tasks(port: Port) -> [Task; 1] {
    match port {
        Port::Trunk => [Task::SecureCommunication],
        Port::Federation => [Task::Federation],
    }
}

/// What the settings are called on IM&P, for the fixes.
const PEER_AUTH: &str = "its TLS context must authenticate peers: on IM&P, System > Security > TLS Context Configuration, the Default Cisco SIP Proxy Peer Auth TLS Context, whose Selected TLS Peer Subjects (System > Security > TLS Peer Subjects) are the only clients the SIP proxy takes over TLS; restart the Cisco SIP Proxy service after a change";

/// The parts of a verdict both ports share: (failures, what was refused, evidence).
struct Parts {
    failures: Vec<String>,
    refused: Vec<String>,
    not_tested: Option<String>,
}

fn parts(f: &RefusalFacts, listed: &[String]) -> Parts {
    let mut p = Parts {
        failures: Vec::new(),
        refused: Vec::new(),
        not_tested: None,
    };
    match &f.bare {
        Admission::Refused(r) => p
            .refused
            .push(format!("a client without a certificate ({r})")),
        Admission::Served(r) => p.failures.push(format!(
            "it takes a TLS client without a certificate and answers its OPTIONS {}",
            r.status()
        )),
        Admission::Unknown(why) => p.failures.push(format!(
            "whether it refuses a TLS client without a certificate is not known: {why}"
        )),
    }
    let add = "give the spec a certificate of the deployment's CA whose subject is no TLS peer subject, as `unlisted_client_cert` and `unlisted_client_key` of [tls]";
    match &f.unlisted {
        Unlisted::NotGiven => {
            p.not_tested = Some(format!("a client of the CA with an unlisted subject was not tried: {add}"))
        }
        Unlisted::Unusable(why) => {
            p.not_tested = Some(format!("a client of the CA with an unlisted subject was not tried: {why}"))
        }
        Unlisted::Listed(cn) => {
            p.not_tested = Some(format!(
                "a client of the CA with an unlisted subject was not tried: the spec's `unlisted_client_cert` names {cn}, which is a TLS peer subject ({}); {add}",
                listed.join(", ")
            ))
        }
        Unlisted::Tried { cn, admission } => match admission {
            Admission::Refused(r) => p.refused.push(format!("a certificate of the CA for {cn}, no TLS peer subject ({r})")),
            Admission::Served(r) => p.failures.push(format!(
                "it takes the certificate of the deployment's CA for {cn}, which is not among the TLS peer subjects ({}), and answers its OPTIONS {}",
                listed.join(", "),
                r.status()
            )),
            Admission::Unknown(why) => p.failures.push(format!(
                "whether it refuses the certificate for {cn} (no TLS peer subject) is not known: {why}"
            )),
        },
    }
    p
}

fn verdict(f: &RefusalFacts, p: Parts, what: &str, fix: String) -> Outcome {
    let o = if p.failures.is_empty() {
        let mut m = format!("{what} {} refuses {}", f.endpoint, p.refused.join(" and "));
        if p.not_tested.is_some() {
            m.push_str("; a certificate with an unlisted subject was not tried");
        }
        Outcome::pass(m)
    } else {
        Outcome::fail(
            format!("{what} {}: {}", f.endpoint, p.failures.join("; ")),
            fix,
        )
    };
    let o = o
        .with("endpoint", &f.endpoint)
        .with("without_client_certificate", &f.bare);
    let o = match &f.unlisted {
        Unlisted::Tried { cn, admission } => {
            o.with("unlisted_subject", format!("{cn}: {admission}"))
        }
        _ => o,
    };
    match p.not_tested {
        Some(n) => o.with("not_tested", n),
        None => o,
    }
}

/// The verdict of `sip.tls-refusal` on a trunk node.
pub(crate) fn judge_trunk(f: &RefusalFacts, listed: &[String], w: Workflow) -> Outcome {
    let task = cite(w, &tasks(Port::Trunk));
    let fix = format!(
        "Configure SIP security for the TLS peer subjects on the node: its SIP TLS port must take only the trunk's CUCM nodes and the federated peers; {PEER_AUTH}{task}"
    );
    verdict(f, parts(f, listed), "the trunk's TLS port", fix)
}

/// The verdict of `sip.federation-refusal` on a federation port of `domain`.
pub(crate) fn judge_federation(
    f: &RefusalFacts,
    domain: &str,
    listed: &[String],
    w: Workflow,
) -> Outcome {
    let task = cite(w, &tasks(Port::Federation));
    let fix = format!(
        "{domain}'s federation port must take only the federated domains' edges (mutual TLS): {PEER_AUTH}{task}"
    );
    verdict(
        f,
        parts(f, listed),
        &format!("{domain}'s federation port"),
        fix,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::Refusal;
    use crate::message::SipResponse;
    use imp_verify_core::Status;
    use imp_verify_net::tls::HandshakeFailure;

    fn ok() -> SipResponse {
        SipResponse {
            code: 200,
            reason: "OK".into(),
            call_id: "c".into(),
            cseq: "1 OPTIONS".into(),
            branch: "b".into(),
            server: String::new(),
        }
    }

    fn refused_tls() -> Admission {
        Admission::Refused(Refusal::Tls {
            kind: HandshakeFailure::ClientCertificateRequired,
            message: "the server requires a client certificate and refused the handshake".into(),
        })
    }

    fn facts(bare: Admission, unlisted: Unlisted) -> RefusalFacts {
        RefusalFacts {
            endpoint: "imp1.lab.test:5061 (127.0.0.22)".into(),
            bare,
            unlisted,
        }
    }

    fn listed() -> Vec<String> {
        vec!["cucm.lab.test".into(), "sip.sipfed.test".into()]
    }

    fn forbidden() -> Admission {
        let mut r = ok();
        r.code = 403;
        r.reason = "Forbidden".into();
        Admission::Refused(Refusal::Sip(r))
    }

    #[test]
    fn both_refused_passes_and_says_how() {
        let f = facts(
            refused_tls(),
            Unlisted::Tried {
                cn: "outsider.lab.test".into(),
                admission: forbidden(),
            },
        );
        let o = judge_trunk(&f, &listed(), Workflow::B);
        assert_eq!(o.status, Status::Pass, "{}", o.message);
        assert!(
            o.message
                .contains("refuses a client without a certificate (the server requires"),
            "{}",
            o.message
        );
        assert!(o.message.contains("a certificate of the CA for outsider.lab.test, no TLS peer subject (the session was taken, its OPTIONS answered 403 Forbidden)"), "{}", o.message);
    }

    #[test]
    fn a_client_without_a_certificate_served_fails_naming_the_peer_auth_context() {
        let f = facts(Admission::Served(ok()), Unlisted::NotGiven);
        let o = judge_trunk(&f, &listed(), Workflow::B);
        assert_eq!(o.status, Status::Fail);
        assert!(
            o.message.contains(
                "takes a TLS client without a certificate and answers its OPTIONS 200 OK"
            ),
            "{}",
            o.message
        );
        let fix = o.remediation.as_deref().unwrap();
        assert!(
            fix.contains("Default Cisco SIP Proxy Peer Auth TLS Context")
                && fix.ends_with("(task B.11)"),
            "{fix}"
        );
        let o = judge_federation(&f, "lab.test", &listed(), Workflow::C);
        assert_eq!(o.status, Status::Fail);
        assert!(o.remediation.unwrap().ends_with("(task C.14)"));
    }

    #[test]
    fn an_unlisted_subject_served_fails_naming_it_and_the_listed_ones() {
        let f = facts(
            refused_tls(),
            Unlisted::Tried {
                cn: "outsider.lab.test".into(),
                admission: Admission::Served(ok()),
            },
        );
        let o = judge_trunk(&f, &listed(), Workflow::C);
        assert_eq!(o.status, Status::Fail);
        assert!(o.message.contains("takes the certificate of the deployment's CA for outsider.lab.test, which is not among the TLS peer subjects (cucm.lab.test, sip.sipfed.test)"), "{}", o.message);
        assert!(
            !o.message.contains("without a certificate"),
            "only the failing part: {}",
            o.message
        );
    }

    #[test]
    fn without_an_unlisted_certificate_that_part_is_not_tested_and_says_what_to_add() {
        let o = judge_trunk(
            &facts(refused_tls(), Unlisted::NotGiven),
            &listed(),
            Workflow::B,
        );
        assert_eq!(o.status, Status::Pass);
        assert!(
            o.message
                .ends_with("a certificate with an unlisted subject was not tried"),
            "{}",
            o.message
        );
        assert!(o.evidence.iter().any(|(k, v)| k == "not_tested"
            && v.contains("`unlisted_client_cert` and `unlisted_client_key` of [tls]")));
        let o = judge_trunk(
            &facts(refused_tls(), Unlisted::Listed("cucm.lab.test".into())),
            &listed(),
            Workflow::B,
        );
        assert!(o.evidence.iter().any(|(k, v)| k == "not_tested"
            && v.contains("names cucm.lab.test, which is a TLS peer subject")));
        // What could not be told is not a pass.
        let o = judge_trunk(
            &facts(Admission::Unknown("reset".into()), Unlisted::NotGiven),
            &listed(),
            Workflow::B,
        );
        assert_eq!(o.status, Status::Fail);
    }
}
