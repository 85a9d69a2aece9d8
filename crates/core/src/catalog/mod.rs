//! The check table: every check imp-verify makes, the area it belongs to and the
//! deployment-workflow tasks it verifies, in one place.
//!
//! Task references are `W.N`: workflow `W` (A, B, C or D of the IM and Presence
//! configuration guide's "Workflows" chapter, see `../shared/docs/seed-workflows.md`)
//! and its task number `N`. Workflow D's tasks are unnumbered in the guide; they are
//! numbered here in the guide's order (D.1 users, D.2 LDAP for Jabber, D.3 IM addressing).
//!
//! A probe may only plan checks whose id is in [`CHECKS`]; the runner refuses others.

mod tasks;

pub use tasks::{cite, first_label, named, task_title, Task, TaskRow, TASKS};

use crate::model::Area;
use crate::spec::Workflow;

/// One row of the check table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckDef {
    /// Stable dotted id, e.g. `dns.srv.xmpp-client`.
    pub id: &'static str,
    /// The area it belongs to.
    pub area: Area,
    /// Every workflow task this check verifies; in a report, the first one of the run's
    /// workflow is where the check is shown.
    pub tasks: &'static [Task],
    /// What the check establishes, in one sentence.
    pub description: &'static str,
    /// Ids of the checks it may wait for (on the same or a related target): the contract
    /// every prerequisite a probe declares with `.after()` is tested against.
    pub requires: &'static [&'static str],
    /// Whether the check proves that the deployment *refuses* something it must (a
    /// password before TLS, a TLS client without a certificate): when it fails or warns,
    /// the reports list it among the deployment's exposures.
    pub refusal: bool,
}

impl CheckDef {
    /// The tasks of `workflow` that this check verifies (empty: it does not apply).
    pub fn tasks_in(&self, workflow: Workflow) -> Vec<&'static str> {
        self.tasks
            .iter()
            .filter_map(|t| t.label(workflow))
            .collect()
    }

    /// Every task label of this check, in all workflows (`A.2 A.9 B.2 ...`).
    pub fn all_task_labels(&self) -> Vec<&'static str> {
        [Workflow::A, Workflow::B, Workflow::C, Workflow::D]
            .into_iter()
            .flat_map(|w| self.tasks_in(w))
            .collect()
    }

    /// Whether the check verifies a task of `workflow` (else it is not planned).
    pub fn applies_to(&self, workflow: Workflow) -> bool {
        !self.tasks_in(workflow).is_empty()
    }
}

/// Every check imp-verify makes.
pub const CHECKS: &[CheckDef] = &[
    CheckDef {
        id: "services.port",
        area: Area::Services,
        tasks: &[Task::ActivateServices, Task::VerifyServices],
        description: "Each service port of each node (XMPP c2s/s2s, SIP, HTTPS, LDAP) accepts a TCP connection",
        requires: &["dns.node"],
        refusal: false,
    },
    CheckDef {
        id: "dns.node",
        area: Area::Dns,
        tasks: &[Task::Install, Task::VerifyServices],
        description: "Each node FQDN resolves (A/AAAA) to the spec's address, and its address's PTR names it",
        requires: &[],
        refusal: false,
    },
    CheckDef {
        id: "dns.srv.xmpp-client",
        area: Area::Dns,
        tasks: &[Task::XmppClients, Task::VerifyServices, Task::LicenseUsers],
        description: "_xmpp-client._tcp of each IM domain lists the domain's IM&P nodes with their c2s port, and every target resolves",
        requires: &[],
        refusal: false,
    },
    CheckDef {
        id: "dns.srv.xmpp-server",
        area: Area::Dns,
        tasks: &[Task::Federation],
        description: "_xmpp-server._tcp of each IM domain lists its IM&P nodes with their s2s port, so federated servers reach it",
        requires: &[],
        refusal: false,
    },
    CheckDef {
        id: "dns.srv.cisco-uds",
        area: Area::Dns,
        tasks: &[Task::VerifyServices, Task::LicenseUsers],
        description: "_cisco-uds._tcp of each IM domain lists the CUCM nodes (Jabber service discovery)",
        requires: &[],
        refusal: false,
    },
    CheckDef {
        id: "dns.srv.cuplogin",
        area: Area::Dns,
        tasks: &[Task::VerifyServices, Task::LicenseUsers],
        description: "_cuplogin._tcp of each IM domain lists the IM&P nodes (Jabber service discovery)",
        requires: &[],
        refusal: false,
    },
    CheckDef {
        id: "dns.srv.collab-edge",
        area: Area::Dns,
        tasks: &[Task::VerifyServices, Task::LicenseUsers],
        description: "_collab-edge._tls of each IM domain resolves, when remote access is deployed",
        requires: &[],
        refusal: false,
    },
    CheckDef {
        id: "dns.srv.sip-trunk",
        area: Area::Dns,
        tasks: &[Task::IpPhonePresence],
        description: "The SIP publish trunk's cluster-wide SRV name lists exactly the cluster's IM&P nodes, per transport, every redundancy group complete",
        requires: &[],
        refusal: false,
    },
    CheckDef {
        id: "dns.srv.federation",
        area: Area::Dns,
        tasks: &[Task::Federation],
        description: "_xmpp-server._tcp of each federated domain resolves, and its targets do",
        requires: &[],
        refusal: false,
    },
    CheckDef {
        id: "dns.srv.sipfederationtls",
        area: Area::Dns,
        tasks: &[Task::Federation],
        description: "_sipfederationtls._tcp of each IM domain that federates over SIP lists its IM&P nodes with their SIP TLS port, so federated SIP domains reach it",
        requires: &[],
        refusal: false,
    },
    CheckDef {
        id: "dns.srv.sip-federation",
        area: Area::Dns,
        tasks: &[Task::Federation],
        description: "_sipfederationtls._tcp of each federated SIP domain resolves, and its targets do",
        requires: &[],
        refusal: false,
    },
    CheckDef {
        id: "tls.chain",
        area: Area::Tls,
        tasks: &[Task::SecureCommunication, Task::VerifyCertificates, Task::LdapClients, Task::Federation, Task::LdapForJabber],
        description: "The certificate of each TLS endpoint (XMPP c2s/s2s, SIP TLS, LDAPS/StartTLS, HTTPS) chains to the spec's CA bundle; self-signed or foreign-CA fails",
        requires: &["services.port"],
        refusal: false,
    },
    CheckDef {
        id: "tls.names",
        area: Area::Tls,
        tasks: &[Task::SecureCommunication, Task::VerifyCertificates, Task::LdapClients, Task::Federation, Task::LdapForJabber],
        description: "The certificate covers the name asked for: the node FQDN as a DNS name, and for XMPP the domain (DNS, id-on-xmppAddr or SRVName)",
        requires: &["services.port"],
        refusal: false,
    },
    CheckDef {
        id: "tls.validity",
        area: Area::Tls,
        tasks: &[Task::SecureCommunication, Task::VerifyCertificates, Task::LdapClients, Task::Federation, Task::LdapForJabber],
        description: "The certificate is inside its validity window; it warns within the spec's expiry margin (30 days by default)",
        requires: &["services.port"],
        refusal: false,
    },
    CheckDef {
        id: "tls.usage",
        area: Area::Tls,
        tasks: &[Task::SecureCommunication, Task::VerifyCertificates, Task::LdapClients, Task::Federation, Task::LdapForJabber],
        description: "The certificate's extended key usage allows serverAuth, and clientAuth where the node also acts as a client (XMPP s2s, SIP mutual TLS)",
        requires: &["services.port"],
        refusal: false,
    },
    CheckDef {
        id: "tls.strength",
        area: Area::Tls,
        tasks: &[Task::SecureCommunication, Task::VerifyCertificates, Task::LdapClients, Task::Federation, Task::LdapForJabber],
        description: "RSA 2048+ or EC 256+ bits, no SHA-1 or MD5 signature, TLS 1.0 and 1.1 refused (the lowest version accepted is reported), not only CBC suites; a certificate rustls cannot take is read through a tolerant second look",
        requires: &["services.port"],
        refusal: false,
    },
    CheckDef {
        id: "ldap.connect",
        area: Area::Ldap,
        tasks: &[Task::SecureLdap, Task::LdapClients, Task::LdapForJabber],
        description: "Each directory server answers LDAPS or StartTLS with a certificate that verifies to the spec's CA and names the server; cleartext only where the spec allows it (then it warns)",
        requires: &["services.port"],
        refusal: false,
    },
    CheckDef {
        id: "ldap.bind",
        area: Area::Ldap,
        tasks: &[Task::SecureLdap, Task::LdapClients, Task::LdapForJabber],
        description: "The service account binds on each directory server",
        requires: &["ldap.connect"],
        refusal: false,
    },
    CheckDef {
        id: "ldap.base",
        area: Area::Ldap,
        tasks: &[Task::LdapClients, Task::LdapForJabber],
        description: "The search base exists and the user filter returns entries",
        requires: &["ldap.bind"],
        refusal: false,
    },
    CheckDef {
        id: "ldap.sync",
        area: Area::Ldap,
        tasks: &[Task::LdapClients, Task::EndUsers, Task::LicenseUsers],
        description: "Every user the spec expects to be provisioned is under the base with the filter",
        requires: &["ldap.base", "ldap.bind"],
        refusal: false,
    },
    CheckDef {
        id: "ldap.mapping",
        area: Area::Ldap,
        tasks: &[Task::LdapClients, Task::LdapForJabber, Task::ImAddressing],
        description: "Expected users carry every mapped attribute, their IM addresses are valid for the domain, and no user id or directory URI is duplicated",
        requires: &["ldap.base", "ldap.bind"],
        refusal: false,
    },
    CheckDef {
        id: "ldap.user-auth",
        area: Area::Ldap,
        tasks: &[Task::LdapClients, Task::LicenseUsers],
        description: "Each test user binds with its own password (LDAP user authentication)",
        requires: &["ldap.bind"],
        refusal: false,
    },
    CheckDef {
        id: "ldap.contact-search",
        area: Area::Ldap,
        tasks: &[Task::LdapClients, Task::LdapForJabber],
        description: "A search by display-name prefix and by phone number, as Jabber makes, finds each test user with the mapped attributes",
        requires: &["ldap.base"],
        refusal: false,
    },
    CheckDef {
        id: "ldap.cleartext-bind",
        area: Area::Ldap,
        tasks: &[Task::SecureLdap, Task::LdapClients, Task::LdapForJabber],
        description: "Each directory server's plain LDAP port refuses a simple bind in cleartext before judging its credentials (tried with a DN that does not exist and a made-up password, never a credential of the spec)",
        requires: &[],
        refusal: true,
    },
    CheckDef {
        id: "ldap.anonymous-read",
        area: Area::Ldap,
        tasks: &[Task::SecureLdap, Task::LdapClients, Task::LdapForJabber],
        description: "An anonymous client reads nothing under the search base",
        requires: &["ldap.connect"],
        refusal: true,
    },
    CheckDef {
        id: "ldap.read-only",
        area: Area::Ldap,
        tasks: &[Task::SecureLdap, Task::LdapClients, Task::LdapForJabber],
        description: "The service account may not write: a modify of its own entry that cannot succeed is refused for its rights (insufficientAccessRights), not for what it asks",
        requires: &["ldap.bind"],
        refusal: true,
    },
    CheckDef {
        id: "uds.https",
        area: Area::Uds,
        tasks: &[Task::VerifyServices, Task::SecureCommunication, Task::LicenseUsers],
        description: "Each _cisco-uds._tcp target of each IM domain answers HTTPS on its port with a certificate that chains to the CA bundle and names the target, as Jabber verifies it",
        requires: &["dns.srv.cisco-uds"],
        refusal: false,
    },
    CheckDef {
        id: "uds.version",
        area: Area::Uds,
        tasks: &[Task::VerifyServices, Task::LicenseUsers],
        description: "Each _cisco-uds._tcp target answers GET /cucm-uds/version with a versionInformation document (the UDS version and the CUCM release)",
        requires: &["uds.https"],
        refusal: false,
    },
    CheckDef {
        id: "uds.cluster-user",
        area: Area::Uds,
        tasks: &[Task::VerifyServices, Task::EndUsers, Task::LicenseUsers],
        description: "For each test user, UDS clusterUser (no authentication) finds the user and names as home cluster a CUCM cluster of the spec: the user's own",
        requires: &["uds.version"],
        refusal: false,
    },
    CheckDef {
        id: "uds.user",
        area: Area::Uds,
        tasks: &[Task::VerifyServices, Task::LicenseUsers],
        description: "Each test user's own UDS resource (/cucm-uds/user/{id}) on the home cluster answers the user's credentials over verified TLS; a 401 is final, never retried",
        requires: &["uds.cluster-user"],
        refusal: false,
    },
    CheckDef {
        id: "uds.cuplogin",
        area: Area::Uds,
        tasks: &[Task::VerifyServices, Task::LicenseUsers],
        description: "Jabber's other discovery path: without _cisco-uds._tcp, the domain's _cuplogin._tcp records lead to the test user's IM&P node",
        requires: &[],
        refusal: false,
    },
    CheckDef {
        id: "xmpp.connect",
        area: Area::Xmpp,
        tasks: &[Task::VerifyServices, Task::VerifyCertificates, Task::XmppClients, Task::LicenseUsers],
        description: "Each IM&P node's c2s port opens a stream for the domain, offers STARTTLS before authentication, and presents a certificate that verifies",
        requires: &["services.port"],
        refusal: false,
    },
    CheckDef {
        id: "xmpp.c2s-tls",
        area: Area::Xmpp,
        tasks: &[Task::SecureCommunication, Task::LicenseUsers],
        description: "Each IM&P node's client port requires STARTTLS before authentication, offers no SASL mechanism before TLS, and after TLS none that sends the password in a reversible form (PLAIN) unless the spec allows it; read from the offered features, no credential sent",
        requires: &["services.port"],
        refusal: true,
    },
    CheckDef {
        id: "xmpp.c2s-registration",
        area: Area::Xmpp,
        tasks: &[Task::SecureCommunication, Task::LicenseUsers],
        description: "Each IM&P node refuses in-band registration (XEP-0077) to anyone: the registration form is asked for after TLS, before authentication, never filled in",
        requires: &["services.port"],
        refusal: true,
    },
    CheckDef {
        id: "xmpp.c2s-domain",
        area: Area::Xmpp,
        tasks: &[Task::SecureCommunication, Task::LicenseUsers],
        description: "Each IM&P node's client port refuses a stream for a domain it does not serve",
        requires: &["services.port"],
        refusal: true,
    },
    CheckDef {
        id: "xmpp.s2s-security",
        area: Area::Xmpp,
        tasks: &[Task::Federation],
        description: "The server-to-server port of each IM&P node and of each federated domain's server requires TLS and authenticates servers by certificate (SASL EXTERNAL): a server without one is refused, not let in by dialback alone; read as such a server, no dialback key sent",
        requires: &["services.port", "dns.srv.federation"],
        refusal: true,
    },
    CheckDef {
        id: "xmpp.login",
        area: Area::Xmpp,
        tasks: &[Task::VerifyServices, Task::VerifyCluster, Task::VerifyCertificates, Task::LicenseUsers],
        description: "Each test user authenticates on its home node over verified TLS (SASL) and binds a resource",
        requires: &["xmpp.connect"],
        refusal: false,
    },
    CheckDef {
        id: "xmpp.im",
        area: Area::Xmpp,
        tasks: &[Task::VerifyCluster, Task::VerifyServices, Task::LicenseUsers],
        description: "A message from one test user to another of the same node arrives, body and id intact, with its round-trip time",
        requires: &["xmpp.login"],
        refusal: false,
    },
    CheckDef {
        id: "xmpp.roster",
        area: Area::Xmpp,
        tasks: &[Task::EndUsers, Task::LicenseUsers],
        description: "Each test user's roster holds the contacts the spec lists (a migrated or imported contact list); it is read, never changed",
        requires: &["xmpp.login"],
        refusal: false,
    },
    CheckDef {
        id: "xmpp.ha",
        area: Area::Xmpp,
        tasks: &[Task::HighAvailability, Task::VerifyServices],
        description: "Each test user can also log in on the redundancy-group peer of its home node (the failover target)",
        requires: &["xmpp.connect"],
        refusal: false,
    },
    CheckDef {
        id: "xmpp.intercluster",
        area: Area::Xmpp,
        tasks: &[Task::Intercluster, Task::VerifyEndToEnd],
        description: "With several clusters in the spec, a test user of each cluster and one of every other exchange messages both ways and see each other's availability change (times reported)",
        requires: &["xmpp.login"],
        refusal: false,
    },
    CheckDef {
        id: "xmpp.federation",
        area: Area::Xmpp,
        tasks: &[Task::VerifyEndToEnd, Task::Federation],
        description: "A local test user and each federated domain's contact exchange messages both ways over s2s and see each other's availability change; a bounce names the server's condition",
        requires: &["xmpp.login", "dns.srv.federation"],
        refusal: false,
    },
    CheckDef {
        id: "xmpp.presence",
        area: Area::Xmpp,
        tasks: &[Task::VerifyCluster, Task::VerifyServices],
        description: "A subscribed contact sees a test user's availability change (available, away, available); the subscription is removed afterwards",
        requires: &["xmpp.login"],
        refusal: false,
    },
    CheckDef {
        id: "xmpp.muc",
        area: Area::Xmpp,
        tasks: &[Task::VerifyCluster],
        description: "The domain's group chat service is found through service discovery; a new room is created, two users join, a message reaches both, and the room is destroyed",
        requires: &["xmpp.login"],
        refusal: false,
    },
    CheckDef {
        id: "sip.options",
        area: Area::Sip,
        tasks: &[Task::IpPhonePresence],
        description: "Every IM&P node behind the SIP publish trunk answers OPTIONS with 200 on every transport the trunk uses (UDP retransmitted per RFC 3261 timer A until timer B)",
        requires: &["dns.srv.sip-trunk", "services.port"],
        refusal: false,
    },
    CheckDef {
        id: "sip.tls-peer",
        area: Area::Sip,
        tasks: &[Task::SecureCommunication, Task::IpPhonePresence],
        description: "Over TLS the trunk presents CUCM's client certificate, the node accepts it, and the node's certificate subject is among the configured TLS peer subjects",
        requires: &["services.port"],
        refusal: false,
    },
    CheckDef {
        id: "sip.tls-refusal",
        area: Area::Sip,
        tasks: &[Task::SecureCommunication],
        description: "The SIP TLS port of each IM&P node behind the trunk refuses a client without a certificate, and a client whose certificate the deployment's CA issued for a subject that is not among the TLS peer subjects (a 403 to its OPTIONS counts as refused)",
        requires: &["sip.tls-peer"],
        refusal: true,
    },
    CheckDef {
        id: "sip.publish",
        area: Area::Sip,
        tasks: &[Task::IpPhonePresence],
        description: "Every IM&P node behind the trunk accepts a PUBLISH of the test presentity's phone presence (PIDF) with 2xx and a SIP-ETag, a refresh with SIP-If-Match, and its removal (Expires: 0)",
        requires: &["sip.options"],
        refusal: false,
    },
    CheckDef {
        id: "sip.presence-e2e",
        area: Area::Sip,
        tasks: &[Task::IpPhonePresence],
        description: "A watcher's SUBSCRIBE to the presentity gets 2xx and a NOTIFY carrying the published state; a second PUBLISH is reported by a NOTIFY (propagation time measured); the subscription and publication are removed",
        requires: &["sip.publish"],
        refusal: false,
    },
    CheckDef {
        id: "sip.presence-gateway",
        area: Area::Sip,
        tasks: &[Task::IpPhonePresence],
        description: "The presence gateway named in the spec (the CUCM node) answers OPTIONS over the trunk's transport",
        requires: &["services.port"],
        refusal: false,
    },
    CheckDef {
        id: "sip.federation-tls",
        area: Area::Sip,
        tasks: &[Task::Federation],
        description: "Each federated SIP domain's federation port (its _sipfederationtls._tcp targets) demands a client certificate, accepts the spec's, and presents a certificate that chains to the CA bundle and whose subject or DNS name is among the configured TLS peer subjects",
        requires: &["dns.srv.sip-federation"],
        refusal: false,
    },
    CheckDef {
        id: "sip.federation-refusal",
        area: Area::Sip,
        tasks: &[Task::Federation],
        description: "Each federation port of the local domain (its IM&P nodes' SIP TLS port) refuses a client without a certificate, and a client whose certificate the deployment's CA issued for a subject that is not among the TLS peer subjects",
        requires: &["services.port"],
        refusal: true,
    },
    CheckDef {
        id: "sip.federation-out",
        area: Area::Sip,
        tasks: &[Task::Federation, Task::VerifyEndToEnd],
        description: "An OPTIONS for the federated SIP domain sent to each routing IM&P node is routed to the peer and answered 200 by the peer, not by the node",
        requires: &["services.port", "dns.srv.sip-federation"],
        refusal: false,
    },
    CheckDef {
        id: "sip.federation-in",
        area: Area::Sip,
        tasks: &[Task::Federation, Task::VerifyEndToEnd],
        description: "An OPTIONS for the local domain sent to the federated SIP domain's federation port is routed to IM&P and answered 200 by IM&P, not by the peer",
        requires: &["sip.federation-tls", "dns.srv.sipfederationtls"],
        refusal: false,
    },
];

/// The prerequisites a check waits for as alternatives in order, the first that passes
/// serving (check id, prerequisite id): the directory's content checks read through the
/// first directory server whose service account binds, as CUCM and IM&P fail over.
pub const FIRST_OF: &[(&str, &str)] = &[
    ("ldap.base", "ldap.bind"),
    ("ldap.sync", "ldap.bind"),
    ("ldap.mapping", "ldap.bind"),
    ("ldap.user-auth", "ldap.bind"),
];

/// Whether check `id` may wait for checks `prerequisite` as alternatives (see
/// [`FIRST_OF`]).
pub fn waits_for_first_of(id: &str, prerequisite: &str) -> bool {
    FIRST_OF.iter().any(|(c, p)| *c == id && *p == prerequisite)
}

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
            for t in c.all_task_labels() {
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
