//! imp-verify probe `sip`: the SIP publish trunk from CUCM to the IM&P cluster, played
//! from CUCM's side (tasks B.8 and A.10/B.11 SIP security), and SIP federation (C.14).
//!
//! Checks: `sip.options` (every IM&P node of the trunk's cluster, on every transport the
//! trunk uses, answers OPTIONS with a final response; UDP retransmits per RFC 3261 until
//! timer F or the check's time), `sip.tls-peer` (over TLS the trunk presents the spec's
//! client certificate, the node accepts it, and the node's certificate subject or names
//! are among the configured TLS peer subjects), `sip.tls-refusal` (the node's TLS port
//! refuses a client without a certificate and one of the CA with an unlisted subject),
//! `sip.publish` (a PUBLISH of the test presentity's phone presence is accepted with a
//! SIP-ETag, refreshed with SIP-If-Match and removed), `sip.presence-e2e` (a watcher's
//! SUBSCRIBE gets a NOTIFY carrying the published state, and another when it changes;
//! the propagation time is measured) and `sip.presence-gateway` (the CUCM node named as
//! presence gateway answers OPTIONS). Publish and presence go over the trunk's most
//! secure transport (TLS, then TCP, UDP). SIP federation with the spec's federated SIP
//! domains is in `federation`: `sip.federation-tls`, `-out`, `-in` and `-refusal`.
//!
//! Every check observes once into plain facts (each step within the check's deadline,
//! every connection through `imp_verify_net`, each step named with
//! [`imp_verify_core::CheckCtx::enter`]) and pure functions judge them. A 403 to the
//! tool's own requests is named as the node's access control ([`access`]).
//!
//! Messages are parsed with rsip (guarded: a parser panic is a malformed message) and
//! bounded ([`message`]); [`Conn`] matches responses to their request by Via branch,
//! Call-ID and CSeq and answers the peer's own requests (a stray NOTIFY gets 481).

#![warn(missing_docs)]

mod access;
mod admission;
mod conn;
mod connect;
mod ctx;
pub mod error;
mod federation;
pub mod message;
mod options;
mod peer;
mod plan;
mod presence;
mod refusal;

pub use conn::{Conn, Deadline, Request, MAX_STRAYS};
pub use message::{
    next_message, parse_response, read_pidf, Message, Pidf, SipResponse, MAX_MESSAGE,
};

use imp_verify_core::spec::Spec;
use imp_verify_core::{PlannedCheck, Probe};
use imp_verify_net::Net;
use std::sync::Arc;

/// The most a response may be.
pub const MAX_RESPONSE: usize = MAX_MESSAGE;

/// The probe.
pub struct SipProbe {
    net: Arc<Net>,
}

impl SipProbe {
    /// The probe, with the run's network toolkit.
    pub fn new(net: Arc<Net>) -> Self {
        SipProbe { net }
    }
}

impl Probe for SipProbe {
    fn name(&self) -> &'static str {
        "sip"
    }

    fn plan(&self, spec: &Arc<Spec>) -> Vec<PlannedCheck> {
        let ctx = Arc::new(ctx::SipCtx {
            spec: spec.clone(),
            net: self.net.clone(),
        });
        plan::plan(&ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_parse_and_garbage_does_not_panic() {
        let ok = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-x;rport=5099\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: abc@1\r\nCSeq: 1 OPTIONS\r\nServer: lab\r\nContent-Length: 0\r\n\r\n";
        let r = parse_response(ok).unwrap();
        assert_eq!(
            (
                r.code,
                r.reason.as_str(),
                r.branch.as_str(),
                r.call_id.as_str()
            ),
            (200, "OK", "z9hG4bK-x", "abc@1")
        );
        let mut state = 0x2545F4914F6CDD1Du64;
        for len in [0usize, 1, 7, 64, 512, 4096] {
            for _ in 0..200 {
                let bytes: Vec<u8> = (0..len)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        (state & 0xff) as u8
                    })
                    .collect();
                let _ = parse_response(&bytes);
                let mut with_head = b"SIP/2.0 ".to_vec();
                with_head.extend_from_slice(&bytes);
                let _ = parse_response(&with_head);
            }
        }
        assert!(parse_response(&vec![b'a'; MAX_RESPONSE + 1]).is_err());
    }
}
