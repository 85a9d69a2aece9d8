//! Whether a node admits a TLS client: one handshake (with a client certificate or
//! without), then one OPTIONS on the session, observed into an [`Admission`] with what
//! the handshake showed ([`Look`]). A TLS 1.3 server that refuses the client says so
//! only after the handshake, with the first exchange; a SIP proxy that takes the session
//! may still refuse the client's requests (403). Nothing here is a verdict: the judges of
//! `sip.tls-peer`, `sip.tls-refusal` and `sip.federation-refusal` decide.

use crate::conn::Deadline;
use crate::connect::tls;
use crate::ctx::SipCtx;
use crate::error::{ConnError, ReachError};
use crate::message::SipResponse;
use crate::options::ask_options;
use imp_verify_core::{CheckCtx, Stage};
use imp_verify_net::tls::{classify, ClientIdentity, Ended, HandshakeFailure, TlsFacts};
use std::net::SocketAddr;

/// How the node refused a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The node ended the TLS session, during the handshake or right after it, with an
    /// alert or a reset: its kind and the TLS layer's words.
    Tls {
        kind: HandshakeFailure,
        message: String,
    },
    /// The node closed the connection right after the handshake without answering the
    /// OPTIONS (why it did is not known from outside).
    Closed,
    /// The node took the session and answered the OPTIONS with a refusal (401, 403, 407).
    Sip(SipResponse),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Tls { message, .. } => f.write_str(message),
            Refusal::Closed => f.write_str(
                "the node closed the connection right after the handshake, without answering the OPTIONS",
            ),
            Refusal::Sip(r) => write!(f, "the session was taken, its OPTIONS answered {}", r.status()),
        }
    }
}

/// What the node did with a TLS client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Refused it.
    Refused(Refusal),
    /// Served its OPTIONS (any final response that is not a refusal).
    Served(SipResponse),
    /// Not known: the exchange failed otherwise, or gave no answer in time (why).
    Unknown(String),
}

impl std::fmt::Display for Admission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Admission::Refused(r) => write!(f, "refused: {r}"),
            Admission::Served(r) => write!(f, "admitted: its OPTIONS answered {}", r.status()),
            Admission::Unknown(why) => write!(f, "not known: {why}"),
        }
    }
}

/// One look at a node's TLS port with one client.
#[derive(Debug, Clone)]
pub(crate) struct Look {
    /// The address the node saw the client at (when a TCP connection was made).
    pub local: Option<SocketAddr>,
    /// What the handshake showed (when the node sent its certificate).
    pub facts: Option<TlsFacts>,
    pub admission: Admission,
}

/// Whether the node ended a failed handshake itself (an alert, a close, a reset), as
/// opposed to the client refusing what it sent.
fn ended_by_server(ended: &Ended) -> bool {
    matches!(
        ended,
        Ended::ServerAlert(_) | Ended::ServerClosed | Ended::ConnectionLost(_)
    )
}

/// A handshake with `host` at `addr` presenting `client`, then an OPTIONS on the session.
/// `Err`: nothing to tell (no connection, or a handshake the client itself gave up).
pub(crate) async fn look(
    c: &SipCtx,
    host: &str,
    addr: SocketAddr,
    client: Option<&ClientIdentity>,
    domain: &str,
    deadline: Deadline,
    cx: &CheckCtx,
) -> Result<Look, ReachError> {
    let session = match tls(c, host, addr, client, deadline, cx).await {
        Ok(s) => s,
        Err(ReachError::Tls { error, .. }) if ended_by_server(&error.ended) => {
            let error = *error;
            return Ok(Look {
                local: None,
                facts: error.facts,
                admission: Admission::Refused(Refusal::Tls {
                    kind: error.kind,
                    message: error.message,
                }),
            });
        }
        Err(e) => return Err(e),
    };
    let (facts, local) = (session.facts.clone(), session.local);
    let mut conn = session.into_conn();
    cx.enter(Stage::SipTransaction);
    let admission = match ask_options(&mut conn, host, domain, deadline).await {
        Ok((r, _)) if matches!(r.code, 401 | 403 | 407) => Admission::Refused(Refusal::Sip(r)),
        Ok((r, _)) => Admission::Served(r),
        Err(ConnError::Closed) => Admission::Refused(Refusal::Closed),
        Err(ConnError::Recv(e)) => {
            let (kind, ended, message) = classify(&e);
            if ended_by_server(&ended) {
                Admission::Refused(Refusal::Tls { kind, message })
            } else {
                Admission::Unknown(message)
            }
        }
        Err(e) => Admission::Unknown(e.to_string()),
    };
    Ok(Look {
        local: Some(local),
        facts: Some(facts),
        admission,
    })
}
