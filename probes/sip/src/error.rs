//! What can go wrong between the probe and a SIP peer, as types: a message that is not
//! one ([`MessageError`]), a transaction or connection that ended without an answer
//! ([`ConnError`]), a node that could not be reached ([`ReachError`]). Judges decide on
//! the variants, never on the words; peer bytes inside them are already escaped and cut
//! ([`imp_verify_core::text`]).

use crate::message::MAX_MESSAGE;
use imp_verify_core::Stage;
use imp_verify_net::tls::TlsError;
use imp_verify_net::ConnectError;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// Why bytes from a peer are not a message the probe can take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// The message is larger than [`MAX_MESSAGE`].
    #[error("a {0}-byte message (more than {MAX_MESSAGE})")]
    TooLarge(usize),
    /// A stream sent more than [`MAX_MESSAGE`] bytes without ending a header block.
    #[error("{0} bytes without the end of a message's headers")]
    NoHeaderEnd(usize),
    /// A Content-Length that is not a number (the peer's text, escaped).
    #[error("a Content-Length of `{0}`")]
    BadContentLength(String),
    /// A Content-Length that would take the message past [`MAX_MESSAGE`].
    #[error("a message announcing {0} bytes of body (at most {MAX_MESSAGE} in all)")]
    BodyTooLarge(usize),
    /// The SIP parser panicked on the bytes (caught).
    #[error("the message broke the SIP parser")]
    ParserPanic,
    /// The SIP parser refused the bytes (its words).
    #[error("not a SIP message: {0}")]
    NotSip(String),
    /// A request where a response was expected (its first line, escaped).
    #[error("not a SIP response: `{0}`")]
    NotAResponse(String),
}

/// What ended the wait for a final response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitEnd {
    /// RFC 3261 timer F (64*T1, 32 s): the protocol's own limit for a non-INVITE
    /// transaction.
    TimerF,
    /// The check's own time: it had this long for the whole exchange.
    Budget(Duration),
}

impl fmt::Display for WaitEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitEnd::TimerF => f.write_str("before timer F (32 s) expired"),
            WaitEnd::Budget(d) => write!(f, "within the check's time ({} ms)", d.as_millis()),
        }
    }
}

/// Why a SIP exchange on an open connection did not give what was waited for.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    /// Sending failed.
    #[error("cannot send: {0}")]
    Send(std::io::Error),
    /// A UDP peer refused the datagram (ICMP port unreachable) or the socket failed.
    #[error("{error} (nothing listens on {peer}?)")]
    UdpRecv {
        /// The peer.
        peer: SocketAddr,
        /// Why.
        error: std::io::Error,
    },
    /// Reading the stream failed (a TLS alert, a reset...): the error as the TLS or TCP
    /// layer gave it, for [`imp_verify_net::tls::classify`].
    #[error("{}", read_error(.0))]
    Recv(std::io::Error),
    /// The peer closed the stream.
    #[error("the connection closed")]
    Closed,
    /// The peer sent something that is not a message the probe can take.
    #[error("a malformed message: {0}")]
    Malformed(#[from] MessageError),
    /// No final response came before the wait ended.
    #[error("no final response to {method} after {sent} transmission(s) {ended}")]
    NoFinalResponse {
        /// The request's method.
        method: &'static str,
        /// How many times it was sent.
        sent: u32,
        /// What ended the wait.
        ended: WaitEnd,
    },
}

fn read_error(e: &std::io::Error) -> String {
    imp_verify_net::tls::classify(e).2
}

impl ConnError {
    /// Whether the check's own time ended the wait (not the peer, not the protocol).
    pub fn out_of_time(&self) -> bool {
        matches!(
            self,
            ConnError::NoFinalResponse {
                ended: WaitEnd::Budget(_),
                ..
            }
        )
    }
}

/// Why a node could not be reached (or a TLS session with it not used).
#[derive(Debug, thiserror::Error)]
pub enum ReachError {
    /// Resolving or connecting failed, or did not finish in time.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// No UDP socket towards the peer.
    #[error("cannot open a UDP socket to {peer}: {error}")]
    Udp {
        /// The peer.
        peer: SocketAddr,
        /// Why.
        error: std::io::Error,
    },
    /// The TLS handshake failed.
    #[error("{addr}: {error}")]
    Tls {
        /// Where.
        addr: SocketAddr,
        /// Why, as the TLS inspector classified it.
        error: Box<TlsError>,
    },
    /// The TLS handshake did not finish in the check's time.
    #[error("{addr}: no TLS handshake within the check's time")]
    TlsTimeout {
        /// Where.
        addr: SocketAddr,
    },
    /// The session was established but the node's certificate does not verify, so
    /// nothing is sent over it.
    #[error("the TLS connection is not trusted: {0}")]
    Untrusted(String),
    /// The node sent no certificate that parses (`host:port`).
    #[error("{0} sent no certificate that parses")]
    NoCertificate(String),
    /// The certificate and key the spec gives cannot be used.
    #[error("{0}")]
    Identity(#[from] IdentityError),
}

impl ReachError {
    /// The step that ran out of the check's time, if that is why.
    pub fn stalled(&self) -> Option<Stage> {
        match self {
            ReachError::Connect(ConnectError::ResolveTimeout { .. }) => Some(Stage::Resolve),
            ReachError::Connect(ConnectError::ConnectTimeout { .. }) => Some(Stage::TcpConnect),
            ReachError::TlsTimeout { .. } => Some(Stage::TlsHandshake),
            _ => None,
        }
    }
}

/// A certificate and key of the spec that cannot be used as a TLS client identity (the
/// TLS toolkit's words).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} cannot be used: {why}")]
pub struct IdentityError {
    /// Which certificate: `the trunk's client certificate`.
    pub what: String,
    /// Why.
    pub why: String,
}

/// Why a check's exchange with a node ended without what it waited for.
#[derive(Debug, thiserror::Error)]
pub enum SipError {
    /// The node was not reached.
    #[error(transparent)]
    Reach(#[from] ReachError),
    /// The exchange on the open connection failed.
    #[error(transparent)]
    Conn(#[from] ConnError),
}

impl SipError {
    /// The step that ran out of the check's time, if that is why.
    pub fn stalled(&self) -> Option<Stage> {
        match self {
            SipError::Reach(r) => r.stalled(),
            SipError::Conn(c) if c.out_of_time() => Some(Stage::SipTransaction),
            SipError::Conn(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_says_what_ended_it() {
        let budget = ConnError::NoFinalResponse {
            method: "PUBLISH",
            sent: 1,
            ended: WaitEnd::Budget(Duration::from_millis(1600)),
        };
        assert_eq!(
            budget.to_string(),
            "no final response to PUBLISH after 1 transmission(s) within the check's time (1600 ms)"
        );
        assert!(budget.out_of_time());
        let f = ConnError::NoFinalResponse {
            method: "OPTIONS",
            sent: 11,
            ended: WaitEnd::TimerF,
        };
        assert!(f.to_string().ends_with("before timer F (32 s) expired"));
        assert!(!f.out_of_time());
        assert_eq!(
            SipError::from(budget).stalled(),
            Some(Stage::SipTransaction)
        );
        assert_eq!(SipError::from(f).stalled(), None);
    }
}
