//! `xmpp.s2s-security`: a server-to-server port requires TLS and authenticates the
//! servers that connect by certificate (SASL EXTERNAL, XEP-0178), refusing one that
//! has none rather than letting it in by Server Dialback alone. Read as a server
//! without a certificate would see it, claiming a domain nobody serves
//! ([`UNSERVED_DOMAIN`]) and never going further than the features: no dialback key is
//! sent, so the port makes no connection of its own.
//!
//! Both directions: the check of an IM&P node is what a federated server meets coming
//! in; the check of a federated domain's server is what IM&P meets going out (a peer
//! that takes servers without certificates warns: IM&P's own outbound policy, Security
//! Mode TLS Required, is what keeps it from federating weakly with it).

use super::c2s::UNSERVED_DOMAIN;
use crate::connector::{self, ClientEndpoint, ConnectFailure, Io};
use crate::wire::capped::{Capped, Received, MAX_STREAM_BYTES};
use crate::wire::features::Features;
use crate::wire::stream::{self, condition_name, Opener, Steps, StreamFailure};
use crate::XmppCtx;
use imp_verify_core::catalog::{cite, Task};
use imp_verify_core::spec::{Service, Workflow};
use imp_verify_core::{CheckCtx, Outcome, Reason};
use tokio::io::BufStream;

/// Whose server-to-server port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum S2sTarget {
    /// An IM&P node of the spec (its FQDN): inbound federation into the deployment.
    Node(String),
    /// A federated domain (its `_xmpp-server._tcp` target): what IM&P meets outbound.
    Peer(String),
}

/// What a server without a certificate met after TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterTls {
    /// The port ended the stream: its condition and text (a certificate demanded).
    Refused(String, Option<String>),
    /// It closed the connection without a word.
    Closed,
    /// It went on and offered these features.
    Offered(Features),
}

/// What the port showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S2sFacts {
    /// Where.
    pub at: ClientEndpoint,
    /// The features before TLS, or how the stream was refused before them.
    pub before_tls: Result<Features, (String, Option<String>)>,
    /// After TLS (`None`: TLS was not reached because none was offered or the stream
    /// was refused before it).
    pub after_tls: Option<AfterTls>,
    /// Whether the port's certificate verified for the domain.
    pub verified: Option<bool>,
}

/// The check.
pub async fn check(c: &XmppCtx, target: &S2sTarget, cx: CheckCtx) -> Outcome {
    let steps = Steps::of_check(&cx);
    let w = c.spec.workflow;
    match Box::pin(observe(c, target, &steps)).await {
        Ok(f) => judge(target, &f, w),
        Err(e) => {
            let o = Outcome::fail(
                format!("the server-to-server port could not be read: {e}"),
                match target {
                    S2sTarget::Node(_) => format!("Check that the Cisco XCP XMPP Federation Connection Manager runs on the node{}", fed(w)),
                    S2sTarget::Peer(d) => format!("Check with {d}'s administrator that its XMPP server runs and that its _xmpp-server._tcp record points at it{}", fed(w)),
                },
            );
            match e.timed_out() {
                Some(stage) => o.because(Reason::TimedOut {
                    after: steps.budget(),
                    stage: Some(stage),
                }),
                None => o,
            }
        }
    }
}

/// The port's features before and after TLS, as a server without a certificate.
pub async fn observe(
    c: &XmppCtx,
    target: &S2sTarget,
    steps: &Steps,
) -> Result<S2sFacts, ConnectFailure> {
    let at = match target {
        S2sTarget::Node(n) => {
            c.connector
                .node(&c.spec, n, Service::XmppS2s, steps)
                .await?
        }
        S2sTarget::Peer(d) => c.connector.srv(d, "_xmpp-server._tcp", steps).await?,
    };
    let opener = Opener::Server {
        from: UNSERVED_DOMAIN,
    };
    let refused = |at: &ClientEndpoint, condition, text| S2sFacts {
        at: at.clone(),
        before_tls: Err((condition, text)),
        after_tls: None,
        verified: None,
    };
    let (before, xml, received) = match Box::pin(c.connector.open_plain(&at, opener, steps)).await {
        Ok(open) => open,
        Err(ConnectFailure::Stream {
            failure: StreamFailure::StreamError {
                condition, text, ..
            },
            ..
        }) => return Ok(refused(&at, condition_name(&condition), text)),
        Err(e) => return Err(e),
    };
    if connector::without_tls(&at, &before).is_some() {
        return Ok(S2sFacts {
            at,
            before_tls: Ok(before),
            after_tls: None,
            verified: None,
        });
    }
    let (tls, facts) = Box::pin(c.connector.starttls(&at, xml, &received, steps)).await?;
    let received = Received::default();
    let io: Io = BufStream::new(Capped::new(tls, MAX_STREAM_BYTES, received.clone()));
    let after = match Box::pin(stream::open(io, opener, &at.domain, steps, &received)).await {
        Ok((features, _)) => AfterTls::Offered(features),
        Err(StreamFailure::StreamError {
            condition, text, ..
        }) => AfterTls::Refused(condition_name(&condition), text),
        Err(StreamFailure::Closed { .. }) => AfterTls::Closed,
        Err(failure) => {
            return Err(ConnectFailure::Stream {
                addr: at.addr,
                failure,
            })
        }
    };
    Ok(S2sFacts {
        at,
        before_tls: Ok(before),
        after_tls: Some(after),
        verified: Some(facts.verified()),
    })
}

fn fed(w: Workflow) -> String {
    cite(w, &[Task::Federation, Task::SecureCommunication])
}

/// The verdict: TLS required, and no way in without a certificate.
pub fn judge(target: &S2sTarget, f: &S2sFacts, w: Workflow) -> Outcome {
    let (whose, weak) = match target {
        S2sTarget::Node(n) => (format!("{n}'s server-to-server port {}", f.at.addr), false),
        S2sTarget::Peer(d) => (
            format!("{d}'s server-to-server port {} ({})", f.at.addr, f.at.host),
            true,
        ),
    };
    let fix = match target {
        S2sTarget::Node(_) => format!("On IM and Presence, Presence > Inter-Domain Federation > XMPP Federation > Settings: set Security Mode to TLS Required, check Require client-side security certificates and Enable SASL EXTERNAL on all incoming connections, then restart the Cisco XCP XMPP Federation Connection Manager{}", fed(w)),
        S2sTarget::Peer(d) => format!("Ask {d}'s administrator to require TLS and certificates (SASL EXTERNAL) for server-to-server; on IM and Presence, Security Mode TLS Required keeps the nodes from federating with it unencrypted{}", fed(w)),
    };
    // Findings about a federated domain's server are its administrator's: they warn.
    let finding = |msg: String| {
        if weak {
            Outcome::warn(msg, fix.clone())
        } else {
            Outcome::fail(msg, fix.clone())
        }
    };
    let o = match (&f.before_tls, &f.after_tls) {
        (Err((condition, text)), _) => Outcome::pass(format!(
            "{whose} refuses a server without a certificate before TLS (<{condition}/>{})",
            text.as_ref().map(|t| format!(": {t}")).unwrap_or_default()
        )),
        (Ok(b), _) if b.starttls.is_none() => finding(format!(
            "{whose} offers no STARTTLS: servers federate with it unencrypted (features: {b})"
        )),
        (Ok(b), _) if b.starttls == Some(false) => finding(format!(
            "{whose} does not require TLS: a server may federate with it unencrypted, authenticated by Server Dialback alone (features: {b})"
        )),
        (Ok(_), Some(AfterTls::Refused(condition, text))) => Outcome::pass(format!(
            "{whose} requires TLS and refuses a server without a certificate (<{condition}/>{}): servers are authenticated by certificate",
            text.as_ref().map(|t| format!(": {t}")).unwrap_or_default()
        )),
        (Ok(_), Some(AfterTls::Closed)) => Outcome::pass(format!(
            "{whose} requires TLS and closes the connection of a server without a certificate"
        )),
        (Ok(_), Some(AfterTls::Offered(a))) if a.dialback => finding(format!(
            "{whose} requires TLS, but then lets a server without a certificate in by Server Dialback alone (features after TLS: {a})"
        ))
        .with("after_tls", a),
        (Ok(_), Some(AfterTls::Offered(a))) => Outcome::pass(format!(
            "{whose} requires TLS and offers a server without a certificate no way in (features after TLS: {a}): only a certificate (SASL EXTERNAL) authenticates a server"
        ))
        .with("after_tls", a),
        (Ok(_), None) => Outcome::skip(format!("{whose}: what it offers after TLS was not seen")),
    };
    let o = o.with("claimed_domain", UNSERVED_DOMAIN);
    let o = match &f.before_tls {
        Ok(b) => o.with("before_tls", b),
        Err(_) => o,
    };
    match f.verified {
        Some(v) => o.with("certificate_verified", v),
        None => o,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use imp_verify_core::Status;

    fn facts(before: Features, after: Option<AfterTls>) -> S2sFacts {
        S2sFacts {
            at: ClientEndpoint {
                addr: "127.0.0.22:5269".parse().unwrap(),
                domain: "lab.test".into(),
                host: "imp1.lab.test".into(),
            },
            before_tls: Ok(before),
            after_tls: after,
            verified: Some(true),
        }
    }

    fn offered(starttls: Option<bool>, dialback: bool) -> Features {
        Features {
            starttls,
            dialback,
            ..Features::default()
        }
    }

    #[test]
    fn a_port_that_demands_a_certificate_passes() {
        // Prosody with s2s_secure_auth, as the lab's nodes answer.
        let f = facts(
            offered(Some(true), true),
            Some(AfterTls::Refused(
                "not-authorized".into(),
                Some("Your server's certificate could not be validated".into()),
            )),
        );
        let o = judge(&S2sTarget::Node("imp1.lab.test".into()), &f, Workflow::C);
        assert_eq!(o.status, Status::Pass, "{}", o.message);
        assert!(o.message.contains("requires TLS and refuses a server without a certificate (<not-authorized/>: Your server's certificate could not be validated)"), "{}", o.message);
    }

    #[test]
    fn dialback_alone_and_cleartext_fail_on_a_node_and_warn_on_a_peer() {
        let node = S2sTarget::Node("imp1.lab.test".into());
        let peer = S2sTarget::Peer("partner.test".into());
        let dialback = facts(
            offered(Some(true), true),
            Some(AfterTls::Offered(offered(None, true))),
        );
        let o = judge(&node, &dialback, Workflow::C);
        assert_eq!(o.status, Status::Fail);
        assert!(
            o.message
                .contains("lets a server without a certificate in by Server Dialback alone"),
            "{}",
            o.message
        );
        let fix = o.remediation.unwrap();
        assert!(
            fix.contains("Security Mode to TLS Required")
                && fix.contains("Require client-side security certificates")
                && fix.contains("C.14"),
            "{fix}"
        );
        assert_eq!(judge(&peer, &dialback, Workflow::C).status, Status::Warn);
        let cleartext = facts(offered(Some(false), true), None);
        let o = judge(&node, &cleartext, Workflow::C);
        assert_eq!(o.status, Status::Fail);
        assert!(o.message.contains("does not require TLS"), "{}", o.message);
        assert_eq!(
            judge(&node, &facts(offered(None, true), None), Workflow::C).status,
            Status::Fail
        );
        let only_external = facts(
            offered(Some(true), false),
            Some(AfterTls::Offered(offered(None, false))),
        );
        assert_eq!(
            judge(&node, &only_external, Workflow::C).status,
            Status::Pass
        );
    }
}
