//! A node's refusal of the tool's own requests, named as IM&P's access control.
//!
//! IM&P's SIP proxy serves requests without authentication only from the hosts and
//! domains of its incoming access control list (Cisco Unified CM IM and Presence
//! Administration > System > Security > Incoming ACL; with no entry it denies every
//! incoming request), and over TLS only from peers whose certificate subject is one of
//! the TLS peer subjects (System > Security > TLS Peer Subjects) selected in the TLS
//! context of the listener (System > Security > TLS Context Configuration, the Default
//! Cisco SIP Proxy Peer Auth TLS Context). Others get 403 Forbidden. imp-verify's
//! OPTIONS, PUBLISH and SUBSCRIBE come from the host it runs on, not from CUCM: a 403
//! says that the node refused this host (or this TLS peer), not that presence is broken.

use imp_verify_core::spec::Transport;
use imp_verify_core::Outcome;
use std::net::IpAddr;

/// Who the node refused: the tool's host, and over TLS the certificate it presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sender {
    /// The address the request came from, as the node saw it.
    pub from: IpAddr,
    /// Over TLS: the common name of the certificate presented (`None` over UDP and TCP,
    /// or when it has none).
    pub tls_peer: Option<String>,
    /// The transport.
    pub transport: Transport,
}

impl Sender {
    /// The access control that refused it, as IM&P names it.
    pub fn control(&self) -> &'static str {
        if self.transport == Transport::Tls {
            "TLS peer subjects"
        } else {
            "incoming ACL"
        }
    }

    /// Why the node refused, for a message: `the node refuses this host (192.0.2.7), which
    /// its incoming ACL does not list`.
    pub fn why(&self) -> String {
        match (&self.tls_peer, self.transport) {
            (Some(cn), Transport::Tls) => format!(
                "the node refuses the TLS peer {cn} (connected from {}), which is not among its TLS peer subjects",
                self.from
            ),
            (None, Transport::Tls) => format!(
                "the node refuses this TLS client ({}), which presented no certificate of a TLS peer subject",
                self.from
            ),
            _ => format!(
                "the node refuses this host ({}), which its incoming ACL does not list",
                self.from
            ),
        }
    }

    /// What to add, and where, ending with `task` (`" (task C.8)"`).
    pub fn fix(&self, task: &str) -> String {
        match (&self.tls_peer, self.transport) {
            (Some(cn), Transport::Tls) => format!(
                "imp-verify presented {cn} (the spec's certificate of the trunk's CUCM) from {}: on IM&P add {cn} as a TLS peer subject (Cisco Unified CM IM and Presence Administration > System > Security > TLS Peer Subjects) and move it to the Selected TLS Peer Subjects of the listener's TLS context (System > Security > TLS Context Configuration: Default Cisco SIP Proxy Peer Auth TLS Context), then restart the Cisco SIP Proxy service{task}",
                self.from
            ),
            (None, Transport::Tls) => format!(
                "Give the spec the certificate CUCM presents on the trunk (`client_cert`, `client_key`), whose subject is among the node's TLS peer subjects (System > Security > TLS Peer Subjects){task}"
            ),
            _ => format!(
                "imp-verify sent from {from}: on IM&P add {from} (or its subnet) to the incoming access control list (Cisco Unified CM IM and Presence Administration > System > Security > Incoming ACL), or run imp-verify from a host the ACL already lists, such as CUCM's network; with no entry for it the SIP proxy denies every request of the host{task}",
                from = self.from
            ),
        }
    }

    /// `o` with the evidence of the refusal: the access control and the address sent from.
    pub fn evidence(&self, o: Outcome) -> Outcome {
        let o = o
            .with("access_control", self.control())
            .with("sent_from", self.from);
        match &self.tls_peer {
            Some(cn) => o.with("tls_peer", cn),
            None => o,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_names_the_control_the_address_and_what_to_add() {
        let host = Sender {
            from: "192.0.2.7".parse().unwrap(),
            tls_peer: None,
            transport: Transport::Tcp,
        };
        assert_eq!(host.control(), "incoming ACL");
        assert!(
            host.why().contains("this host (192.0.2.7)"),
            "{}",
            host.why()
        );
        let fix = host.fix(" (task C.8)");
        assert!(fix.contains("add 192.0.2.7") && fix.contains("System > Security > Incoming ACL"));
        assert!(fix.ends_with("(task C.8)"));

        let peer = Sender {
            from: "192.0.2.7".parse().unwrap(),
            tls_peer: Some("cucm.example.com".into()),
            transport: Transport::Tls,
        };
        assert_eq!(peer.control(), "TLS peer subjects");
        assert!(peer.why().contains("TLS peer cucm.example.com"));
        let fix = peer.fix("");
        assert!(
            fix.contains("add cucm.example.com as a TLS peer subject"),
            "{fix}"
        );
        assert!(
            fix.contains("Default Cisco SIP Proxy Peer Auth TLS Context"),
            "{fix}"
        );
    }
}
