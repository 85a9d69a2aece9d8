//! What the checks say about a failed request, and what to fix: one place, so that
//! every check names the same fault the same way.

use crate::discovery::Lookup;
use crate::fetch::{ConnectFailure, Endpoint, FetchError, TlsSeen};
use imp_verify_core::catalog::{cite, Task};
use imp_verify_core::spec::Workflow;
use imp_verify_core::{Outcome, Reason, Stage};
use imp_verify_net::tls::ChainError;
use std::time::Duration;

/// Why a request to `at` failed, in a line, and what to fix.
pub fn failure(at: &Endpoint, e: &FetchError, w: Workflow) -> (String, String) {
    let services = cite(w, &[Task::VerifyServices]);
    let certs = cite(w, &[Task::SecureCommunication]);
    match e {
        FetchError::Connect(ConnectFailure::Refused(addr)) => (
            format!("{at} ({addr}): connection refused: nothing listens on the port"),
            format!("Jabber cannot reach CUCM's User Data Services on {at}: check that the Cisco Tomcat and Cisco User Data Services services run on the node and that clients may reach port {}{services}", at.port),
        ),
        FetchError::Connect(ConnectFailure::Resolve(_) | ConnectFailure::NoAddress) => (
            format!("{at}: {e}"),
            format!("Jabber cannot resolve {}: publish its A/AAAA record in the DNS the clients use{services}", at.host),
        ),
        FetchError::Connect(ConnectFailure::Other(..)) => (
            format!("{at}: {e}"),
            format!("Check that clients can reach {at} (routing, firewall){services}"),
        ),
        FetchError::Untrusted(seen) | FetchError::Handshake { seen: Some(seen), .. }
            if !seen.trusted() =>
        {
            let (what, fix) = untrusted(at, seen, w);
            (format!("{at} ({}): {what}", seen.addr), fix)
        }
        FetchError::Handshake { addr, message, .. } => (
            format!("{at} ({addr}): the TLS handshake failed: {message}"),
            format!("Jabber reaches UDS over HTTPS only: see the tls.* checks of https on this node{certs}"),
        ),
        FetchError::Untrusted(seen) => (
            format!("{at} ({}): the certificate does not verify", seen.addr),
            format!("Renew the CUCM Tomcat certificate of {}{certs}", at.host),
        ),
        FetchError::Http { addr, error } => (
            format!("{at} ({addr}): {error}"),
            format!("{at} does not answer HTTP as UDS does: check that it is CUCM's Tomcat (Cisco Tomcat and Cisco User Data Services running){services}"),
        ),
        FetchError::TimedOut(stage) => (
            format!("{at}: no answer in time ({stage})"),
            format!("Check that {at} is reachable and that CUCM's Tomcat answers{services}"),
        ),
    }
}

/// Why a certificate is not trusted for the host, and what to fix (typed: the chain,
/// then the name, then anything else rustls refused).
fn untrusted(at: &Endpoint, seen: &TlsSeen, w: Workflow) -> (String, String) {
    let certs = cite(w, &[Task::SecureCommunication]);
    match &seen.chain {
        Err(ChainError::NoTrustAnchors(why)) => (
            format!("the certificate cannot be verified: {why}"),
            format!("Give the spec the CA bundle your Jabber clients trust (tls.ca_bundle){certs}"),
        ),
        Err(e) => (
            format!("the certificate ({}, issued by {}) does not chain to the CA bundle: {e}", seen.subject, seen.issuer),
            format!("Jabber refuses it (\"Untrusted server\"): have the CUCM Tomcat certificate of {} signed by a CA your clients trust, the spec's CA bundle{certs}", at.host),
        ),
        Ok(()) if !seen.names_host => (
            format!("the certificate does not name {} (it names {})", at.host, seen.names),
            format!("Jabber verifies the name the record gives: reissue the CUCM Tomcat certificate of {} with {} as a DNS name, or make the _cisco-uds._tcp record name a host the certificate names{certs}", at.host, at.host),
        ),
        Ok(()) => (
            format!("the certificate is refused: {}", seen.verify_error.as_deref().unwrap_or_default()),
            format!("Renew the CUCM Tomcat certificate of {}{certs}", at.host),
        ),
    }
}

/// The stage a failure timed out in, if it did.
pub fn timed_out(e: &FetchError) -> Option<Stage> {
    match e {
        FetchError::TimedOut(s) => Some(*s),
        _ => None,
    }
}

/// One target's failure in a per-target check: its line, its fix, and the stage it
/// stalled in if it timed out.
pub struct Miss {
    /// What went wrong there, naming the target.
    pub line: String,
    /// What to change.
    pub fix: String,
    /// Where it stalled, when the failure is a timeout.
    pub stalled: Option<Stage>,
}

impl Miss {
    /// A fetch that failed at `at`.
    pub fn of(at: &Endpoint, e: &FetchError, w: Workflow) -> Miss {
        let (line, fix) = failure(at, e, w);
        Miss {
            line,
            fix,
            stalled: timed_out(e),
        }
    }
}

/// The verdict of a check over every target of a record: a pass (`pass`) when no target
/// missed; else a failure that lists each miss after `prefix`, with the first one's fix,
/// and is a timeout when every miss was one.
pub fn over_targets(
    misses: Vec<Miss>,
    pass: impl FnOnce() -> String,
    prefix: &str,
    budget: Duration,
) -> Outcome {
    let Some(first) = misses.first() else {
        return Outcome::pass(pass());
    };
    let lines: Vec<&str> = misses.iter().map(|m| m.line.as_str()).collect();
    let o = Outcome::fail(format!("{prefix}: {}", lines.join("; ")), first.fix.clone());
    match (first.stalled, misses.iter().all(|m| m.stalled.is_some())) {
        (Some(stage), true) => o.because(Reason::TimedOut {
            after: budget,
            stage: Some(stage),
        }),
        _ => o,
    }
}

/// Adds what the handshake showed.
pub fn with_tls(o: Outcome, s: &TlsSeen) -> Outcome {
    o.with("address", s.addr)
        .with("tls", &s.protocol)
        .with("certificate_subject", &s.subject)
        .with("certificate_names", &s.names)
        .with("certificate_issuer", &s.issuer)
}

/// The outcome of a lookup that gave no records to follow: `because` is the DNS check
/// that judges the record itself.
pub fn no_records(
    name: &str,
    lookup: &Lookup,
    budget: Duration,
    because: imp_verify_core::CheckKey,
    w: Workflow,
) -> Outcome {
    let fix = format!(
        "Publish {name} (the CUCM nodes running UDS, port 8443), which Jabber looks up first{}",
        cite(w, &[Task::VerifyServices])
    );
    match lookup {
        Lookup::Records(_) => unreachable!("records are followed"),
        Lookup::Absent(e) => Outcome::fail(format!("{name}: {e}: Jabber finds no UDS to ask"), fix)
            .because(Reason::NotObservable { because }),
        Lookup::Failed(e) => {
            Outcome::fail(format!("{name}: {e}"), fix).because(Reason::NotObservable { because })
        }
        Lookup::TimedOut => Outcome::fail(
            format!("{name}: no DNS answer within {} ms", budget.as_millis()),
            "Check that the DNS servers of the spec answer",
        )
        .because(Reason::TimedOut {
            after: budget,
            stage: Some(Stage::DnsQuery),
        }),
    }
}
