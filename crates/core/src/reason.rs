//! Why an outcome is what it is, as types: the runner and the probes set it, the
//! reports follow it (root causes, the stage that stalled), and nothing downstream
//! reads a message to find out.

use crate::model::{CheckKey, Status};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// Why a check's outcome is what it is.
#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    /// The check observed what it looks at and its judge decided (also a skip the
    /// probe decided on, e.g. "no client certificate in the spec").
    Verdict,
    /// Not run: a prerequisite ended with `status` (fail or skip).
    Blocked {
        /// The prerequisite the runner stopped at.
        by: CheckKey,
        /// How it ended.
        status: Status,
    },
    /// Run, but what it judges could not be observed because of what another check
    /// reports (the TLS handshake of an endpoint, reported by `tls.chain`).
    NotObservable {
        /// The check whose failure explains it.
        because: CheckKey,
    },
    /// No result within the check's own time.
    TimedOut {
        /// The time it had.
        after: Duration,
        /// The step that was under way, when the check had said (see
        /// [`crate::CheckCtx::enter`]).
        stage: Option<Stage>,
    },
    /// The check panicked: a bug of imp-verify.
    Panicked,
    /// The run's `--deadline` passed: while the check ran (`started`), or before.
    Deadline {
        /// Whether the check had started.
        started: bool,
    },
    /// The run was interrupted (a signal): while the check ran, or before.
    Interrupted {
        /// Whether the check had started.
        started: bool,
    },
}

impl Reason {
    /// The check that explains this outcome, when another one does (blocked by it, or
    /// not observable because of it): the link root causes follow.
    pub fn link(&self) -> Option<&CheckKey> {
        match self {
            Reason::Blocked { by, .. } => Some(by),
            Reason::NotObservable { because } => Some(because),
            _ => None,
        }
    }

    /// The reason's kind, as the JSON report names it (`verdict`, `blocked`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Reason::Verdict => "verdict",
            Reason::Blocked { .. } => "blocked",
            Reason::NotObservable { .. } => "not_observable",
            Reason::TimedOut { .. } => "timed_out",
            Reason::Panicked => "panicked",
            Reason::Deadline { .. } => "deadline",
            Reason::Interrupted { .. } => "interrupted",
        }
    }
}

/// A step of a check's exchange with a server: where a check that ran out of time
/// stalled. Probes name the step they enter ([`crate::CheckCtx::enter`]) or the one
/// whose own time ended ([`Reason::TimedOut`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Resolving a name (A/AAAA) to connect to it.
    Resolve,
    /// A DNS query the check itself judges (SRV, A, PTR...).
    DnsQuery,
    /// Opening the TCP connection.
    TcpConnect,
    /// The TLS handshake.
    TlsHandshake,
    /// A STARTTLS exchange before the handshake (XMPP, LDAP).
    StartTls,
    /// Waiting for the XMPP stream header.
    StreamHeader,
    /// Waiting for the XMPP stream features.
    StreamFeatures,
    /// The SASL exchange (an XMPP login).
    Sasl,
    /// Binding the XMPP resource and starting the session.
    ResourceBinding,
    /// Waiting for a stanza the check caused (a message, a presence, an IQ result).
    Stanza,
    /// An LDAP bind.
    LdapBind,
    /// An LDAP search.
    LdapSearch,
    /// An LDAP modify or extended operation.
    LdapOperation,
    /// A SIP transaction (request sent, final response awaited).
    SipTransaction,
    /// An HTTP request (sent, response awaited).
    HttpRequest,
    /// Undoing what the check created.
    Cleanup,
}

impl Stage {
    /// The step in words: "the TLS handshake".
    pub fn describe(self) -> &'static str {
        match self {
            Stage::Resolve => "DNS resolution of the host",
            Stage::DnsQuery => "the DNS query",
            Stage::TcpConnect => "the TCP connection",
            Stage::TlsHandshake => "the TLS handshake",
            Stage::StartTls => "the STARTTLS exchange",
            Stage::StreamHeader => "waiting for the XMPP stream header",
            Stage::StreamFeatures => "waiting for the XMPP stream features",
            Stage::Sasl => "the SASL authentication",
            Stage::ResourceBinding => "resource binding",
            Stage::Stanza => "waiting for an expected stanza",
            Stage::LdapBind => "the LDAP bind",
            Stage::LdapSearch => "the LDAP search",
            Stage::LdapOperation => "an LDAP operation",
            Stage::SipTransaction => "a SIP transaction",
            Stage::HttpRequest => "an HTTP request",
            Stage::Cleanup => "undoing what the check created",
        }
    }

    /// The stage's name as the JSON report gives it (`tls_handshake`).
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Resolve => "resolve",
            Stage::DnsQuery => "dns_query",
            Stage::TcpConnect => "tcp_connect",
            Stage::TlsHandshake => "tls_handshake",
            Stage::StartTls => "start_tls",
            Stage::StreamHeader => "stream_header",
            Stage::StreamFeatures => "stream_features",
            Stage::Sasl => "sasl",
            Stage::ResourceBinding => "resource_binding",
            Stage::Stanza => "stanza",
            Stage::LdapBind => "ldap_bind",
            Stage::LdapSearch => "ldap_search",
            Stage::LdapOperation => "ldap_operation",
            Stage::SipTransaction => "sip_transaction",
            Stage::HttpRequest => "http_request",
            Stage::Cleanup => "cleanup",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// The stage a check is in, shared between the check (which enters stages) and the
/// runner (which names the stage when the check's time runs out).
#[derive(Debug, Clone, Default)]
pub struct StageCell(std::sync::Arc<std::sync::Mutex<Option<Stage>>>);

impl StageCell {
    /// Records that the check entered `stage`.
    pub fn set(&self, stage: Stage) {
        *self.0.lock().expect("not poisoned") = Some(stage);
    }

    /// The last stage entered, if any.
    pub fn get(&self) -> Option<Stage> {
        *self.0.lock().expect("not poisoned")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_blocked_and_not_observable_only() {
        let k = CheckKey::new("tls.chain", "xmpp-c2s imp1.lab.test:5222");
        assert_eq!(
            Reason::Blocked {
                by: k.clone(),
                status: Status::Fail
            }
            .link(),
            Some(&k)
        );
        assert_eq!(
            Reason::NotObservable { because: k.clone() }.link(),
            Some(&k)
        );
        assert_eq!(Reason::Verdict.link(), None);
        assert_eq!(Reason::Panicked.link(), None);
        assert_eq!(
            Reason::TimedOut {
                after: Duration::from_secs(1),
                stage: Some(Stage::TlsHandshake)
            }
            .link(),
            None
        );
    }

    #[test]
    fn a_stage_cell_keeps_the_last_stage() {
        let c = StageCell::default();
        assert_eq!(c.get(), None);
        c.set(Stage::TcpConnect);
        c.clone().set(Stage::TlsHandshake);
        assert_eq!(c.get(), Some(Stage::TlsHandshake));
    }
}
