//! Why an exchange with a directory server gave nothing to judge, typed: the connection
//! could not be opened ([`OpenError`]), the server's bytes broke the session
//! ([`WireError`]), or the check's own time ran out in a named [`Stage`].

use crate::client::{OpenError, WireError};
use imp_verify_core::{Outcome, Reason, Stage};
use std::time::Duration;
use thiserror::Error;

/// Why an exchange with a directory server failed before an answer to judge.
#[derive(Debug, Clone, Error)]
pub enum LdapError {
    /// The connection could not be opened (address, TCP, TLS, StartTLS).
    #[error("{0}")]
    Open(OpenError),
    /// The session broke (a message over the limit, bytes that are not LDAP, a close).
    #[error("{0}")]
    Wire(WireError),
    /// The server sent more entries than a search of the probe takes (`asked`).
    #[error("the server sent more than the {asked} entries {what}")]
    Overflow {
        /// The most the search takes.
        asked: u64,
        /// What the search was for.
        what: &'static str,
    },
    /// The check's own time ran out in `stage`.
    #[error("no answer within {} ms, in {}", .after.as_millis(), .stage.describe())]
    TimedOut {
        /// The step under way.
        stage: Stage,
        /// The time the check's steps had.
        after: Duration,
    },
}

impl LdapError {
    /// An opening failure, a timeout named with its stage.
    pub fn open(e: OpenError, after: Duration) -> LdapError {
        match e {
            OpenError::TimedOut(stage) => LdapError::TimedOut { stage, after },
            OpenError::Reach(_, crate::client::open::ReachKind::Timeout) => LdapError::TimedOut {
                stage: Stage::TcpConnect,
                after,
            },
            e => LdapError::Open(e),
        }
    }

    /// Whether the server's certificate, or the trust in it, is the problem.
    pub fn is_certificate(&self) -> bool {
        match self {
            LdapError::Open(OpenError::Handshake(h)) => h.is_certificate(),
            LdapError::Open(OpenError::Trust(_)) => true,
            _ => false,
        }
    }

    /// A failed outcome saying `what` failed and why, with `fix`; a timeout carries its
    /// typed reason (the stage and the time it had).
    pub fn fail(&self, what: &str, fix: impl Into<String>) -> Outcome {
        let o = Outcome::fail(format!("{what}: {self}"), fix);
        match self {
            LdapError::TimedOut { stage, after } => {
                o.with("stage", stage.as_str()).because(Reason::TimedOut {
                    after: *after,
                    stage: Some(*stage),
                })
            }
            _ => o,
        }
    }
}
