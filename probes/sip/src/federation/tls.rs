//! `sip.federation-tls`: mutual TLS with a federated SIP domain's federation port. Each
//! endpoint (a `_sipfederationtls._tcp` target) is asked twice: without a client
//! certificate (a federation port must demand one) and with the spec's (it must accept
//! it); its certificate must verify against the CA bundle and carry a configured TLS
//! peer subject. Observed into [`EndpointFacts`], judged by [`judge`].

use super::Peer;
use crate::admission::{look, Admission, Refusal};
use crate::conn::Deadline;
use crate::ctx::SipCtx;
use crate::error::{ReachError, SipError};
use imp_verify_core::catalog::{cite, Task};
use imp_verify_core::spec::Workflow;
use imp_verify_core::{CheckCtx, Outcome, Reason, Stage, Status};
use imp_verify_net::tls::{view, HandshakeFailure};
use std::net::SocketAddr;

/// Whether the federation port took a client (with or without a certificate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Access {
    /// The session carried a request and its answer.
    Accepted,
    /// The server refused the client (its certificate, or its absence).
    Refused(HandshakeFailure, String),
    /// Not known: this look failed for another reason (the other look saw the
    /// certificate).
    Unknown(String),
}

impl std::fmt::Display for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Access::Accepted => f.write_str("accepted"),
            Access::Refused(_, why) => write!(f, "refused: {why}"),
            Access::Unknown(why) => write!(f, "not known: {why}"),
        }
    }
}

/// What one endpoint showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EndpointFacts {
    /// `host:port (address)`.
    pub endpoint: String,
    /// The certificate's subject DN, CN (lower case) and DNS names.
    pub subject: String,
    pub cn: String,
    pub names: Vec<String>,
    /// Why the chain does not verify against the CA bundle for the host; `None`: it does.
    pub verify_error: Option<String>,
    /// Without a client certificate.
    pub bare: Access,
    /// With the spec's client certificate (`None`: the spec gives none).
    pub with_cert: Option<Access>,
    /// `TLSv1_3 TLS13_...`.
    pub tls: String,
}

impl From<&Admission> for Access {
    fn from(a: &Admission) -> Access {
        match a {
            Admission::Served(_) => Access::Accepted,
            Admission::Refused(Refusal::Tls { kind, message }) => {
                Access::Refused(*kind, message.clone())
            }
            Admission::Refused(r @ Refusal::Closed) => {
                Access::Refused(HandshakeFailure::ClosedAfterHandshake, r.to_string())
            }
            Admission::Refused(r @ Refusal::Sip(_)) => {
                Access::Refused(HandshakeFailure::Other, r.to_string())
            }
            Admission::Unknown(why) => Access::Unknown(why.clone()),
        }
    }
}

/// Both looks at one endpoint: without a client certificate, and with the spec's.
/// `Err`: nothing to judge (no connection, or no certificate seen).
async fn observe(
    c: &SipCtx,
    peer: &Peer,
    host: &str,
    port: u16,
    deadline: Deadline,
    cx: &CheckCtx,
) -> Result<EndpointFacts, SipError> {
    cx.enter(Stage::Resolve);
    let ip = imp_verify_net::address(&c.net.resolver, host, None, deadline.tokio())
        .await
        .map_err(ReachError::from)?;
    let addr = SocketAddr::new(ip, port);
    let local = &peer.spec.local_domain;
    let bare = look(c, host, addr, None, local, deadline, cx).await;
    let with_cert = match peer.client.identity().map_err(ReachError::from)? {
        Some(id) => Some(look(c, host, addr, Some(id), local, deadline, cx).await),
        None => None,
    };
    // The certificate from whichever look saw it.
    let facts = match (&bare, &with_cert) {
        (Ok(l), _) if l.facts.is_some() => l.facts.clone(),
        (_, Some(Ok(l))) if l.facts.is_some() => l.facts.clone(),
        _ => None,
    };
    let Some(facts) = facts else {
        return Err(match (bare, with_cert) {
            (Err(e), _) | (_, Some(Err(e))) => e.into(),
            _ => ReachError::NoCertificate(format!("{host}:{port}")).into(),
        });
    };
    let cert = facts
        .chain
        .first()
        .and_then(|d| view(d).ok())
        .ok_or_else(|| ReachError::NoCertificate(format!("{host}:{port}")))?;
    let access = |r: &Result<crate::admission::Look, ReachError>| match r {
        Ok(l) => Access::from(&l.admission),
        Err(e) => Access::Unknown(e.to_string()),
    };
    Ok(EndpointFacts {
        endpoint: format!("{host}:{port} ({ip})"),
        subject: cert.subject.clone(),
        cn: cert
            .cn
            .as_deref()
            .map(str::to_ascii_lowercase)
            .unwrap_or_default(),
        names: cert
            .names
            .dns
            .iter()
            .map(|n| n.to_ascii_lowercase())
            .collect(),
        verify_error: facts.verify_error.clone(),
        bare: access(&bare),
        with_cert: with_cert.as_ref().map(access),
        tls: format!("{} {}", facts.version, facts.cipher),
    })
}

/// The verdict on one endpoint of `domain`, whose certificate must carry one of
/// `subjects`; `client` names the spec's client certificate (its subject), if any.
pub(crate) fn judge(
    f: &EndpointFacts,
    domain: &str,
    subjects: &[String],
    client: Option<&str>,
    workflow: Workflow,
) -> Outcome {
    let task = cite(workflow, &[Task::Federation]);
    let shown = format!("CN {}, DNS names {}", f.cn, f.names.join(", "));
    let matched = std::iter::once(&f.cn)
        .chain(&f.names)
        .find(|n| !n.is_empty() && subjects.contains(n));
    let o = if let Some(e) = &f.verify_error {
        Outcome::fail(
            format!("{domain}: the certificate of {} does not verify against the CA bundle: {e}", f.endpoint),
            format!("Add the CA that issued {domain}'s certificate to IM&P's cup-trust store and to the spec's CA bundle, or have {domain} use a certificate of a CA both trust{task}"),
        )
    } else if matched.is_none() {
        Outcome::fail(
            format!(
                "{domain}: the certificate of {} ({shown}) matches none of the configured TLS peer subjects {}",
                f.endpoint,
                subjects.join(", ")
            ),
            format!("Set the TLS peer subject of {domain} on IM&P (System > Security > TLS Peer Subjects, and the federation's TLS context) and in the spec to the name its certificate carries ({}), or have {domain} reissue its certificate{task}", if f.cn.is_empty() { f.names.first().cloned().unwrap_or_default() } else { f.cn.clone() }),
        )
    } else if let Some(Access::Refused(_, why)) = &f.with_cert {
        Outcome::fail(
            format!(
                "{domain}: {} refuses the client certificate {}: {why}",
                f.endpoint,
                client.unwrap_or("of the spec")
            ),
            format!("{domain} must trust the CA of the local domain's certificate and accept its subject as a federated peer; then IM&P's own TLS connections to it succeed too{task}"),
        )
    } else if let Some(Access::Unknown(why)) = &f.with_cert {
        Outcome::fail(
            format!(
                "{domain}: {} could not be asked to accept the client certificate {}: {why}",
                f.endpoint,
                client.unwrap_or("of the spec")
            ),
            format!("Check that {domain}'s SIP federation edge answers TLS steadily{task}"),
        )
    } else if f.bare == Access::Accepted {
        Outcome::warn(
            format!("{domain}: {} accepts TLS without a client certificate: it does not authenticate the domains it federates with", f.endpoint),
            format!("SIP federation is mutual TLS: {domain}'s federation port should require a client certificate{task}"),
        )
    } else {
        Outcome::pass(format!(
            "{domain}: {} {}, {}, and presents {} (a TLS peer subject), verified against the CA bundle",
            f.endpoint,
            match &f.bare {
                Access::Unknown(_) => "answers TLS (whether a client certificate is required is not known)",
                _ => "demands a client certificate",
            },
            match (&f.with_cert, client) {
                (Some(_), Some(s)) => format!("accepts {s}"),
                _ => "(the spec gives no client certificate: whether it accepts one is not tested)".into(),
            },
            matched.map(String::as_str).unwrap_or_default()
        ))
    };
    let o = o
        .with("endpoint", &f.endpoint)
        .with("subject", &f.subject)
        .with("names", f.names.join(", "))
        .with("tls_peer_subjects", subjects.join(", "))
        .with("without_client_certificate", &f.bare);
    match &f.with_cert {
        Some(a) => o.with("with_client_certificate", a),
        None => o,
    }
    .with("tls", &f.tls)
}

pub(crate) async fn check(c: &SipCtx, peer: &Peer, cx: CheckCtx) -> Outcome {
    let domain = &peer.spec.domain;
    let task = cite(c.workflow(), &[Task::Federation]);
    let deadline = Deadline::of(&cx);
    let client = match peer.client.identity() {
        Ok(_) => peer.client.name().map(|n| n.subject.clone()),
        Err(e) => {
            return Outcome::fail(e.to_string(), format!("Give a readable PEM certificate and key as `client_cert` and `client_key` of [[sip_federation]] `{domain}`{task}"));
        }
    };
    cx.enter(Stage::DnsQuery);
    let endpoints = match peer.endpoints(c, deadline).await {
        Ok(e) => e,
        Err(e) => {
            let o = Outcome::fail(format!("{domain}: {e}"), format!("Publish {domain}'s _sipfederationtls._tcp records, or check the DNS servers of the spec{task}"));
            return match e.stalled() {
                Some(stage) => o.because(Reason::TimedOut {
                    after: deadline.budget,
                    stage: Some(stage),
                }),
                None => o,
            };
        }
    };
    let mut outcomes = Vec::new();
    for (host, port) in endpoints {
        outcomes.push(match observe(c, peer, &host, port, deadline, &cx).await {
            Ok(f) => judge(&f, domain, &peer.spec.tls_peer_subjects, client.as_deref(), c.workflow()),
            Err(e) => {
                let o = Outcome::fail(
                    format!("{domain}: no TLS session with its federation port {host}:{port}: {e}"),
                    format!("Check that {domain}'s SIP federation edge is up and listens for TLS on {host}:{port}, and that no firewall blocks it{task}"),
                );
                match e.stalled() {
                    Some(stage) => o.because(Reason::TimedOut { after: deadline.budget, stage: Some(stage) }),
                    None => o,
                }
            }
        });
    }
    // The worst endpoint speaks for the domain; every endpoint's verdict is evidence.
    let mut worst: Option<Outcome> = None;
    let mut seen = Vec::new();
    for o in outcomes {
        seen.push(format!("{}: {}", o.status, o.message));
        let rank = |s: Status| match s {
            Status::Fail => 3,
            Status::Warn => 2,
            Status::Skip => 1,
            Status::Pass => 0,
        };
        if worst
            .as_ref()
            .is_none_or(|w| rank(o.status) > rank(w.status))
        {
            worst = Some(o);
        }
    }
    let o = worst.unwrap_or_else(|| Outcome::fail(format!("{domain}: no endpoint"), String::new()));
    if seen.len() > 1 {
        o.with("endpoints", seen.join("; "))
    } else {
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> EndpointFacts {
        EndpointFacts {
            endpoint: "sip.peer.test:5061 (192.0.2.1)".into(),
            subject: "O=peer, CN=sip.peer.test".into(),
            cn: "sip.peer.test".into(),
            names: vec!["sip.peer.test".into(), "peer.test".into()],
            verify_error: None,
            bare: Access::Refused(
                HandshakeFailure::ClientCertificateRequired,
                "certificate required".into(),
            ),
            with_cert: Some(Access::Accepted),
            tls: "TLSv1_3 X".into(),
        }
    }

    fn verdict(f: &EndpointFacts, subjects: &[&str]) -> Outcome {
        let s: Vec<String> = subjects.iter().map(|s| s.to_string()).collect();
        judge(f, "peer.test", &s, Some("CN=imp1.example.com"), Workflow::C)
    }

    #[test]
    fn mutual_tls_with_a_configured_subject_passes() {
        let o = verdict(&facts(), &["sip.peer.test"]);
        assert_eq!(o.status, Status::Pass, "{}", o.message);
        assert!(
            o.message.contains("accepts CN=imp1.example.com"),
            "{}",
            o.message
        );
        // A DNS name of the certificate is a subject too.
        assert_eq!(verdict(&facts(), &["peer.test"]).status, Status::Pass);
    }

    #[test]
    fn a_subject_not_configured_fails_naming_the_one_seen() {
        let o = verdict(&facts(), &["edge.peer.test"]);
        assert_eq!(o.status, Status::Fail);
        assert!(o.message.contains("CN sip.peer.test"), "{}", o.message);
        assert!(o.message.contains("edge.peer.test"), "{}", o.message);
        assert!(o.remediation.as_deref().unwrap().contains("(task C.14)"));
    }

    #[test]
    fn an_unverified_chain_a_refused_certificate_and_no_demand_are_told_apart() {
        let mut f = facts();
        f.verify_error = Some("invalid peer certificate: UnknownIssuer".into());
        let o = verdict(&f, &["sip.peer.test"]);
        assert_eq!(o.status, Status::Fail);
        assert!(o.message.contains("does not verify"), "{}", o.message);

        let mut f = facts();
        f.with_cert = Some(Access::Refused(
            HandshakeFailure::ClientCertificateRefused,
            "bad certificate".into(),
        ));
        let o = verdict(&f, &["sip.peer.test"]);
        assert_eq!(o.status, Status::Fail);
        assert!(
            o.message
                .contains("refuses the client certificate CN=imp1.example.com"),
            "{}",
            o.message
        );

        let mut f = facts();
        f.bare = Access::Accepted;
        assert_eq!(verdict(&f, &["sip.peer.test"]).status, Status::Warn);
    }

    #[test]
    fn without_a_client_certificate_in_the_spec_it_says_what_was_not_tested() {
        let mut f = facts();
        f.with_cert = None;
        let o = judge(
            &f,
            "peer.test",
            &["sip.peer.test".into()],
            None,
            Workflow::C,
        );
        assert_eq!(o.status, Status::Pass);
        assert!(
            o.message.contains("demands a client certificate"),
            "{}",
            o.message
        );
        assert!(
            o.message.contains("whether it accepts one is not tested"),
            "{}",
            o.message
        );
        // A look that failed for another reason is not taken for a refusal.
        f.bare = Access::Unknown("connection reset".into());
        let o = judge(
            &f,
            "peer.test",
            &["sip.peer.test".into()],
            None,
            Workflow::C,
        );
        assert!(
            !o.message.contains("demands a client certificate"),
            "{}",
            o.message
        );
        f.with_cert = Some(Access::Unknown("connection reset".into()));
        let o = verdict(&f, &["sip.peer.test"]);
        assert_eq!(o.status, Status::Fail);
        assert!(o.message.contains("could not be asked"), "{}", o.message);
    }
}
