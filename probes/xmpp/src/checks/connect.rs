//! `xmpp.connect`: the node's c2s opens a stream for the domain, offers STARTTLS and
//! presents a certificate that verifies.

use crate::connector::{self, ConnectFailure, Endpoint};
use crate::scene::{budget, within};
use crate::Ctx;
use imp_verify_core::catalog::{cite, Task};
use imp_verify_core::spec::Workflow;
use imp_verify_core::{CheckCtx, Outcome};
use std::time::{Duration, Instant};

/// What one connection showed.
#[derive(Debug, Clone)]
pub struct ConnectFacts {
    /// Where it connected.
    pub at: Endpoint,
    /// The stream features before TLS.
    pub features: String,
    /// Why the certificate does not verify (`None`: it does).
    pub untrusted: Option<String>,
    /// The certificate's subject.
    pub subject: String,
    /// `TLSv1_3 TLS13_AES_256_GCM_SHA384`.
    pub tls: String,
}

/// The check.
pub async fn check(c: &Ctx, node: &str, cx: CheckCtx) -> Outcome {
    let budget = budget(&cx);
    let observed = within(Instant::now() + budget, async {
        let at = c.net.node(&c.spec, node).await?;
        let o = c.net.open(&at).await?;
        Ok::<_, ConnectFailure>(ConnectFacts {
            features: o.features,
            untrusted: (!o.facts.verified()).then(|| connector::untrusted_why(&o.facts)),
            subject: connector::subject(&o.facts),
            tls: format!("{} {}", o.facts.version, o.facts.cipher),
            at,
        })
    })
    .await;
    judge(node, budget, observed, c.spec.workflow)
}

/// The verdict, naming the tasks of workflow `w`.
pub fn judge(
    node: &str,
    budget: Duration,
    observed: Option<Result<ConnectFacts, ConnectFailure>>,
    w: Workflow,
) -> Outcome {
    let task = crate::tasks(w).0;
    let certs = crate::label(w, Task::VerifyCertificates);
    match observed {
        None => Outcome::fail(
            format!(
                "{node}: no stream and STARTTLS within {} ms",
                budget.as_millis()
            ),
            format!("Check the node's XMPP connection manager (task {task})"),
        ),
        Some(Err(e)) => {
            let msg = match &e {
                ConnectFailure::Prelude { addr, error } => format!("{addr}: {error}"),
                ConnectFailure::Tls { addr, error } => {
                    format!("{addr}: TLS after STARTTLS: {error}")
                }
                other => other.to_string(),
            };
            Outcome::fail(msg, format!("Clients need a stream for the IM domain with STARTTLS offered before any authentication (tasks {task}, {certs})"))
        }
        Some(Ok(f)) => {
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
                .with("stream_features", f.features)
                .with("certificate_subject", f.subject)
                .with("tls", f.tls)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use imp_verify_core::Status;

    fn facts(untrusted: Option<&str>) -> ConnectFacts {
        ConnectFacts {
            at: Endpoint {
                addr: "127.0.0.2:5222".parse().unwrap(),
                domain: "lab.test".into(),
            },
            features: "starttls".into(),
            untrusted: untrusted.map(String::from),
            subject: "CN=imp1".into(),
            tls: "TLSv1_3 X".into(),
        }
    }

    #[test]
    fn a_certificate_that_does_not_verify_fails_and_a_timeout_names_the_node() {
        let ok = judge(
            "imp1",
            Duration::from_secs(1),
            Some(Ok(facts(None))),
            Workflow::A,
        );
        assert_eq!(ok.status, Status::Pass);
        let bad = judge(
            "imp1",
            Duration::from_secs(1),
            Some(Ok(facts(Some("UnknownIssuer")))),
            Workflow::A,
        );
        assert_eq!(bad.status, Status::Fail);
        assert!(bad
            .message
            .contains("does not verify for lab.test: UnknownIssuer"));
        let t = judge("imp1", Duration::from_millis(1600), None, Workflow::C);
        assert!(t
            .message
            .contains("imp1: no stream and STARTTLS within 1600 ms"));
        assert!(t.remediation.unwrap().contains("C.10"));
    }
}
