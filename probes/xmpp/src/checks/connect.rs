//! `xmpp.connect`: the node's c2s opens a stream for the domain, offers STARTTLS and
//! presents a certificate that verifies. Each step (resolution, TCP, the stream header,
//! the features, STARTTLS, the TLS handshake) has its stage; a server that stalls one
//! is reported as what it did up to there.

use crate::connector::{self, ClientEndpoint, ConnectFailure};
use crate::wire::features::Features;
use crate::wire::stream::{Opener, Steps, StreamFailure};
use crate::XmppCtx;
use imp_verify_core::catalog::{cite, Task};
use imp_verify_core::spec::{Service, Workflow};
use imp_verify_core::{CheckCtx, Outcome, Reason};

/// What one connection showed.
#[derive(Debug, Clone)]
pub struct ConnectFacts {
    /// Where it connected.
    pub at: ClientEndpoint,
    /// The stream features before TLS.
    pub features: Features,
    /// Why the certificate does not verify (`None`: it does).
    pub untrusted: Option<String>,
    /// The certificate's subject.
    pub subject: String,
    /// `TLSv1_3 TLS13_AES_256_GCM_SHA384`.
    pub tls: String,
}

/// The check.
pub async fn check(c: &XmppCtx, node: &str, cx: CheckCtx) -> Outcome {
    let steps = Steps::of_check(&cx);
    let observed = async {
        let at = c
            .connector
            .node(&c.spec, node, Service::XmppC2s, &steps)
            .await?;
        let o = c.connector.open(&at, Opener::Client, &steps).await?;
        Ok::<_, ConnectFailure>(ConnectFacts {
            features: o.before_tls,
            untrusted: (!o.facts.verified()).then(|| connector::untrusted_why(&o.facts)),
            subject: connector::subject(&o.facts),
            tls: format!("{} {}", o.facts.version, o.facts.cipher),
            at,
        })
    }
    .await;
    judge(node, observed, c.spec.workflow)
}

/// The verdict, naming the tasks of workflow `w`.
pub fn judge(node: &str, observed: Result<ConnectFacts, ConnectFailure>, w: Workflow) -> Outcome {
    let task = crate::tasks(w).0;
    let certs = crate::label(w, Task::VerifyCertificates);
    match observed {
        Err(e) => {
            let stalled = e.timed_out();
            let msg = match &e {
                ConnectFailure::Stream {
                    failure: StreamFailure::Timeout { .. },
                    ..
                } => format!("{node}: {e}"),
                other => other.to_string(),
            };
            let o = Outcome::fail(msg, format!("Clients need a stream for the IM domain with STARTTLS offered before any authentication (tasks {task}, {certs})"));
            match (stalled, &e) {
                (
                    Some(stage),
                    ConnectFailure::Stream {
                        failure: StreamFailure::Timeout { after, .. },
                        ..
                    },
                ) => o.because(Reason::TimedOut {
                    after: *after,
                    stage: Some(stage),
                }),
                (Some(stage), _) => o.because(Reason::TimedOut {
                    after: std::time::Duration::ZERO,
                    stage: Some(stage),
                }),
                (None, _) => o,
            }
        }
        Ok(f) => {
            let o = match &f.untrusted {
                None => Outcome::pass(format!(
                    "{} opens a stream for {}, STARTTLS to a certificate that verifies",
                    f.at.addr, f.at.domain
                )),
                Some(why) => Outcome::fail(
                    format!(
                        "{} offers STARTTLS, but its certificate does not verify for {}: {why}",
                        f.at.addr, f.at.domain
                    ),
                    format!("Clients refuse this certificate: see the tls.* checks of xmpp-c2s on this node{}", cite(w, &[Task::SecureCommunication, Task::VerifyCertificates, Task::LicenseUsers])),
                ),
            };
            o.with("node", node)
                .with("stream_features", &f.features)
                .with("certificate_subject", f.subject)
                .with("tls", f.tls)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::capped::Seen;
    use imp_verify_core::{Stage, Status};
    use std::time::Duration;

    fn facts(untrusted: Option<&str>) -> ConnectFacts {
        ConnectFacts {
            at: ClientEndpoint {
                addr: "127.0.0.2:5222".parse().unwrap(),
                domain: "lab.test".into(),
                host: "imp1".into(),
            },
            features: Features {
                starttls: Some(true),
                ..Features::default()
            },
            untrusted: untrusted.map(String::from),
            subject: "CN=imp1".into(),
            tls: "TLSv1_3 X".into(),
        }
    }

    #[test]
    fn a_certificate_that_does_not_verify_fails_and_a_stall_names_what_the_server_did() {
        let ok = judge("imp1", Ok(facts(None)), Workflow::A);
        assert_eq!(ok.status, Status::Pass);
        assert!(ok
            .evidence
            .iter()
            .any(|(k, v)| k == "stream_features" && v == "starttls (required)"));
        let bad = judge("imp1", Ok(facts(Some("UnknownIssuer"))), Workflow::A);
        assert_eq!(bad.status, Status::Fail);
        assert!(bad
            .message
            .contains("does not verify for lab.test: UnknownIssuer"));
        // A server that answered STARTTLS and then stalled the handshake.
        let stalled = ConnectFailure::Stream {
            addr: "127.0.0.2:5222".parse().unwrap(),
            failure: StreamFailure::Timeout {
                stage: Stage::TlsHandshake,
                after: Duration::from_millis(1600),
                seen: Seen::default(),
            },
        };
        let t = judge("imp1", Err(stalled), Workflow::C);
        assert!(
            t.message
                .contains("imp1: 127.0.0.2:5222: the TLS handshake: not completed within 1600 ms"),
            "{}",
            t.message
        );
        assert!(!t.message.contains("no stream"), "{}", t.message);
        assert_eq!(
            t.reason,
            Reason::TimedOut {
                after: Duration::from_millis(1600),
                stage: Some(Stage::TlsHandshake)
            }
        );
        assert!(t.remediation.unwrap().contains("C.10"));
    }
}
