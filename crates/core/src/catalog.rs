//! The check table: every check imp-verify makes, the area it belongs to and the
//! deployment-workflow tasks it verifies, in one place.
//!
//! Task references are `W.N`: workflow `W` (A, B, C or D of the IM and Presence
//! configuration guide's "Workflows" chapter, see `../shared/docs/seed-workflows.md`)
//! and its task number `N`. Workflow D's tasks are unnumbered in the guide; they are
//! numbered here in the guide's order (D.1 users, D.2 LDAP for Jabber, D.3 IM addressing).
//!
//! A probe may only plan checks whose id is in [`CHECKS`]; the runner refuses others.

use crate::model::Area;
use crate::spec::Workflow;

/// One row of the check table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckDef {
    /// Stable dotted id, e.g. `dns.srv.xmpp-client`.
    pub id: &'static str,
    pub area: Area,
    /// Every workflow task this check verifies, in all workflows.
    pub tasks: &'static [&'static str],
    /// What the check establishes, in one sentence.
    pub description: &'static str,
    /// Ids of the checks it needs to have passed first (on the same or a related target).
    pub requires: &'static [&'static str],
}

impl CheckDef {
    /// The tasks of `workflow` that this check verifies (empty: it does not apply).
    pub fn tasks_in(&self, workflow: Workflow) -> Vec<&'static str> {
        let prefix = workflow.letter();
        self.tasks
            .iter()
            .copied()
            .filter(|t| t.split('.').next() == Some(prefix))
            .collect()
    }

    pub fn applies_to(&self, workflow: Workflow) -> bool {
        !self.tasks_in(workflow).is_empty()
    }
}

/// The workflow tasks, with their titles, as the report groups checks under them.
pub const TASKS: &[(&str, &str)] = &[
    ("A.1", "Install"),
    ("A.2", "Activate feature services"),
    (
        "A.3",
        "Integrate the LDAP directory with CUCM (secure LDAP connections)",
    ),
    (
        "A.4",
        "Set up end users (node and redundancy group assignment)",
    ),
    ("A.5", "Integrate third-party XMPP clients"),
    (
        "A.6",
        "Integrate LDAP directory clients (sync, certificate, user authentication)",
    ),
    ("A.7", "Verify cluster communication and client login"),
    (
        "A.8",
        "Configure high availability and presence redundancy groups",
    ),
    ("A.9", "Verify services are running and clients can log in"),
    (
        "A.10",
        "Enable secure communication (certificates, SIP and XMPP security)",
    ),
    ("A.11", "Verify clients using certificates"),
    ("B.1", "Install"),
    ("B.2", "Activate feature services"),
    (
        "B.3",
        "Integrate the LDAP directory with CUCM (secure LDAP connections)",
    ),
    (
        "B.4",
        "Set up end users (node and redundancy group assignment)",
    ),
    ("B.5", "Integrate third-party XMPP clients"),
    (
        "B.6",
        "Integrate LDAP directory clients (sync, certificate, user authentication)",
    ),
    ("B.7", "Verify cluster communication and client login"),
    (
        "B.8",
        "Configure IP Phone presence (SIP publish trunk and its DNS SRV name)",
    ),
    (
        "B.9",
        "Configure high availability and presence redundancy groups",
    ),
    ("B.10", "Verify services are running and clients can log in"),
    (
        "B.11",
        "Enable secure communication (certificates, SIP and XMPP security)",
    ),
    ("B.12", "Verify clients using certificates"),
    ("B.13", "Configure intercluster deployment"),
    ("C.1", "Install"),
    ("C.2", "Activate feature services"),
    (
        "C.3",
        "Integrate the LDAP directory with CUCM (secure LDAP connections)",
    ),
    (
        "C.4",
        "Set up end users (node and redundancy group assignment)",
    ),
    ("C.5", "Integrate third-party XMPP clients"),
    (
        "C.6",
        "Integrate LDAP directory clients (sync, certificate, user authentication)",
    ),
    ("C.7", "Verify cluster communication and client login"),
    (
        "C.8",
        "Configure IP Phone presence (SIP publish trunk and its DNS SRV name)",
    ),
    (
        "C.9",
        "Configure high availability and presence redundancy groups",
    ),
    ("C.10", "Verify services are running and clients can log in"),
    (
        "C.11",
        "Enable secure communication (certificates, SIP and XMPP security)",
    ),
    ("C.12", "Verify clients using certificates"),
    ("C.13", "Configure intercluster deployment"),
    (
        "C.14",
        "Deploy federation (interdomain or partitioned intradomain)",
    ),
    (
        "C.15",
        "Verify end-to-end communication across clusters and domains",
    ),
    ("D.1", "Create and license IM and Presence users"),
    (
        "D.2",
        "Integrate LDAP for Jabber and verify the attribute mapping",
    ),
    ("D.3", "Enhanced IM addressing (IM address scheme)"),
];

/// The title of a task reference, if it is one.
pub fn task_title(task: &str) -> Option<&'static str> {
    TASKS
        .iter()
        .find(|(t, _)| *t == task)
        .map(|(_, title)| *title)
}

/// Every check imp-verify makes.
pub const CHECKS: &[CheckDef] = &[
    CheckDef {
        id: "services.port",
        area: Area::Services,
        tasks: &["A.2", "A.9", "B.2", "B.10", "C.2", "C.10"],
        description: "Each service port of each node (XMPP c2s/s2s, SIP, HTTPS, LDAP) accepts a TCP connection",
        requires: &[],
    },
    CheckDef {
        id: "dns.node",
        area: Area::Dns,
        tasks: &["A.1", "A.9", "B.1", "B.10", "C.1", "C.10"],
        description: "Each node FQDN resolves (A/AAAA) to the spec's address, and its address's PTR names it",
        requires: &[],
    },
    CheckDef {
        id: "dns.srv.xmpp-client",
        area: Area::Dns,
        tasks: &["A.5", "A.9", "B.5", "B.10", "C.5", "C.10", "D.1"],
        description: "_xmpp-client._tcp of each IM domain lists the domain's IM&P nodes with their c2s port, and every target resolves",
        requires: &[],
    },
    CheckDef {
        id: "dns.srv.xmpp-server",
        area: Area::Dns,
        tasks: &["C.14"],
        description: "_xmpp-server._tcp of each IM domain lists its IM&P nodes with their s2s port, so federated servers reach it",
        requires: &[],
    },
    CheckDef {
        id: "dns.srv.cisco-uds",
        area: Area::Dns,
        tasks: &["A.9", "B.10", "C.10", "D.1"],
        description: "_cisco-uds._tcp of each IM domain lists the CUCM nodes (Jabber service discovery)",
        requires: &[],
    },
    CheckDef {
        id: "dns.srv.cuplogin",
        area: Area::Dns,
        tasks: &["A.9", "B.10", "C.10", "D.1"],
        description: "_cuplogin._tcp of each IM domain lists the IM&P nodes (Jabber service discovery)",
        requires: &[],
    },
    CheckDef {
        id: "dns.srv.collab-edge",
        area: Area::Dns,
        tasks: &["A.9", "B.10", "C.10", "D.1"],
        description: "_collab-edge._tls of each IM domain resolves, when remote access is deployed",
        requires: &[],
    },
    CheckDef {
        id: "dns.srv.sip-trunk",
        area: Area::Dns,
        tasks: &["B.8", "C.8"],
        description: "The SIP publish trunk's cluster-wide SRV name lists exactly the cluster's IM&P nodes, per transport, every redundancy group complete",
        requires: &[],
    },
    CheckDef {
        id: "dns.srv.federation",
        area: Area::Dns,
        tasks: &["C.14"],
        description: "_xmpp-server._tcp of each federated domain resolves, and its targets do",
        requires: &[],
    },
    CheckDef {
        id: "tls.chain",
        area: Area::Tls,
        tasks: &["A.10", "A.11", "A.6", "B.11", "B.12", "B.6", "C.11", "C.12", "C.6", "C.14", "D.2"],
        description: "The certificate of each TLS endpoint (XMPP c2s/s2s, SIP TLS, LDAPS/StartTLS, HTTPS) chains to the spec's CA bundle; self-signed or foreign-CA fails",
        requires: &["services.port"],
    },
    CheckDef {
        id: "tls.names",
        area: Area::Tls,
        tasks: &["A.10", "A.11", "A.6", "B.11", "B.12", "B.6", "C.11", "C.12", "C.6", "C.14", "D.2"],
        description: "The certificate covers the name asked for: the node FQDN as a DNS name, and for XMPP the domain (DNS, id-on-xmppAddr or SRVName)",
        requires: &["services.port"],
    },
    CheckDef {
        id: "tls.validity",
        area: Area::Tls,
        tasks: &["A.10", "A.11", "A.6", "B.11", "B.12", "B.6", "C.11", "C.12", "C.6", "C.14", "D.2"],
        description: "The certificate is inside its validity window; it warns within the spec's expiry margin (30 days by default)",
        requires: &["services.port"],
    },
    CheckDef {
        id: "tls.usage",
        area: Area::Tls,
        tasks: &["A.10", "A.11", "A.6", "B.11", "B.12", "B.6", "C.11", "C.12", "C.6", "C.14", "D.2"],
        description: "The certificate's extended key usage allows serverAuth, and clientAuth where the node also acts as a client (XMPP s2s, SIP mutual TLS)",
        requires: &["services.port"],
    },
    CheckDef {
        id: "tls.strength",
        area: Area::Tls,
        tasks: &["A.10", "A.11", "A.6", "B.11", "B.12", "B.6", "C.11", "C.12", "C.6", "C.14", "D.2"],
        description: "RSA 2048+ or EC 256+ bits, no SHA-1 or MD5 signature, TLS 1.2 or newer negotiated",
        requires: &["services.port"],
    },
    CheckDef {
        id: "ldap.connect",
        area: Area::Ldap,
        tasks: &["A.3", "A.6", "B.3", "B.6", "C.3", "C.6", "D.2"],
        description: "Each directory server answers LDAPS or StartTLS with a certificate that verifies to the spec's CA and names the server; cleartext only where the spec allows it (then it warns)",
        requires: &["services.port"],
    },
    CheckDef {
        id: "ldap.bind",
        area: Area::Ldap,
        tasks: &["A.3", "A.6", "B.3", "B.6", "C.3", "C.6", "D.2"],
        description: "The service account binds on each directory server",
        requires: &["ldap.connect"],
    },
    CheckDef {
        id: "ldap.base",
        area: Area::Ldap,
        tasks: &["A.6", "B.6", "C.6", "D.2"],
        description: "The search base exists and the user filter returns entries",
        requires: &["ldap.bind"],
    },
    CheckDef {
        id: "ldap.sync",
        area: Area::Ldap,
        tasks: &["A.6", "A.4", "B.6", "B.4", "C.6", "C.4", "D.1"],
        description: "Every user the spec expects to be provisioned is under the base with the filter",
        requires: &["ldap.base"],
    },
    CheckDef {
        id: "ldap.mapping",
        area: Area::Ldap,
        tasks: &["A.6", "B.6", "C.6", "D.2", "D.3"],
        description: "Expected users carry every mapped attribute, their IM addresses are valid for the domain, and no user id or directory URI is duplicated",
        requires: &["ldap.base"],
    },
    CheckDef {
        id: "ldap.user-auth",
        area: Area::Ldap,
        tasks: &["A.6", "B.6", "C.6", "D.1"],
        description: "Each test user binds with its own password (LDAP user authentication)",
        requires: &["ldap.bind"],
    },
    CheckDef {
        id: "ldap.contact-search",
        area: Area::Ldap,
        tasks: &["A.6", "B.6", "C.6", "D.2"],
        description: "A search by display-name prefix and by phone number, as Jabber makes, finds each test user with the mapped attributes",
        requires: &["ldap.base"],
    },
    CheckDef {
        id: "xmpp.connect",
        area: Area::Xmpp,
        tasks: &["A.9", "A.11", "A.5", "B.10", "B.12", "B.5", "C.10", "C.12", "C.5", "D.1"],
        description: "Each IM&P node's c2s port opens a stream for the domain, offers STARTTLS before authentication, and presents a certificate that verifies",
        requires: &["services.port"],
    },
    CheckDef {
        id: "xmpp.login",
        area: Area::Xmpp,
        tasks: &["A.9", "A.7", "A.11", "B.10", "B.7", "B.12", "C.10", "C.7", "C.12", "D.1"],
        description: "Each test user authenticates on its home node over verified TLS (SASL) and binds a resource",
        requires: &["xmpp.connect"],
    },
    CheckDef {
        id: "xmpp.im",
        area: Area::Xmpp,
        tasks: &["A.7", "A.9", "B.7", "B.10", "C.7", "C.10", "D.1"],
        description: "A message from one test user to another of the same node arrives, body and id intact, with its round-trip time",
        requires: &["xmpp.login"],
    },
    CheckDef {
        id: "xmpp.ha",
        area: Area::Xmpp,
        tasks: &["A.8", "A.9", "B.9", "B.10", "C.9", "C.10"],
        description: "Each test user can also log in on the redundancy-group peer of its home node (the failover target)",
        requires: &["xmpp.login"],
    },
    CheckDef {
        id: "xmpp.intercluster",
        area: Area::Xmpp,
        tasks: &["B.13", "C.13", "C.15"],
        description: "With several clusters in the spec, a test user of each cluster and one of every other exchange messages both ways and see each other's availability change (times reported)",
        requires: &["xmpp.login"],
    },
    CheckDef {
        id: "xmpp.federation",
        area: Area::Xmpp,
        tasks: &["C.15", "C.14"],
        description: "A local test user and each federated domain's contact exchange messages both ways over s2s and see each other's availability change; a bounce names the server's condition",
        requires: &["xmpp.login", "dns.srv.federation"],
    },
    CheckDef {
        id: "xmpp.presence",
        area: Area::Xmpp,
        tasks: &["A.7", "A.9", "B.7", "B.10", "C.7", "C.10"],
        description: "A subscribed contact sees a test user's availability change (available, away, available); the subscription is removed afterwards",
        requires: &["xmpp.login"],
    },
    CheckDef {
        id: "xmpp.muc",
        area: Area::Xmpp,
        tasks: &["A.7", "B.7", "C.7"],
        description: "The domain's group chat service is found through service discovery; a new room is created, two users join, a message reaches both, and the room is destroyed",
        requires: &["xmpp.login"],
    },
    CheckDef {
        id: "sip.options",
        area: Area::Sip,
        tasks: &["B.8", "C.8"],
        description: "Every IM&P node behind the SIP publish trunk answers OPTIONS with 200 on every transport the trunk uses (UDP retransmitted per RFC 3261 timer A until timer B)",
        requires: &["dns.srv.sip-trunk", "services.port"],
    },
    CheckDef {
        id: "sip.tls-peer",
        area: Area::Sip,
        tasks: &["B.11", "B.8", "C.11", "C.8", "A.10"],
        description: "Over TLS the trunk presents CUCM's client certificate, the node accepts it, and the node's certificate subject is among the configured TLS peer subjects",
        requires: &["services.port"],
    },
    CheckDef {
        id: "sip.publish",
        area: Area::Sip,
        tasks: &["B.8", "C.8"],
        description: "Every IM&P node behind the trunk accepts a PUBLISH of the test presentity's phone presence (PIDF) with 2xx and a SIP-ETag, a refresh with SIP-If-Match, and its removal (Expires: 0)",
        requires: &["sip.options"],
    },
    CheckDef {
        id: "sip.presence-e2e",
        area: Area::Sip,
        tasks: &["B.8", "C.8"],
        description: "A watcher's SUBSCRIBE to the presentity gets 2xx and a NOTIFY carrying the published state; a second PUBLISH is reported by a NOTIFY (propagation time measured); the subscription and publication are removed",
        requires: &["sip.publish"],
    },
    CheckDef {
        id: "sip.presence-gateway",
        area: Area::Sip,
        tasks: &["B.8", "C.8"],
        description: "The presence gateway named in the spec (the CUCM node) answers OPTIONS over the trunk's transport",
        requires: &["services.port"],
    },
];

/// Looks a check up by id.
pub fn check(id: &str) -> Option<&'static CheckDef> {
    CHECKS.iter().find(|c| c.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_unique_and_dotted_under_their_area() {
        let mut seen = HashSet::new();
        for c in CHECKS {
            assert!(seen.insert(c.id), "duplicate id {}", c.id);
            assert!(
                c.id.starts_with(&format!("{}.", c.area.as_str())),
                "{} is not under its area {}",
                c.id,
                c.area
            );
        }
    }

    #[test]
    fn every_task_reference_has_a_title_and_every_requirement_exists() {
        for c in CHECKS {
            assert!(!c.tasks.is_empty(), "{} verifies no task", c.id);
            for t in c.tasks {
                assert!(task_title(t).is_some(), "{}: unknown task {t}", c.id);
            }
            for r in c.requires {
                assert!(check(r).is_some(), "{}: requires unknown check {r}", c.id);
            }
        }
    }

    #[test]
    fn tasks_are_filtered_by_workflow() {
        let c = check("services.port").unwrap();
        assert_eq!(c.tasks_in(Workflow::B), vec!["B.2", "B.10"]);
        assert!(!c.applies_to(Workflow::D));
    }
}
