//! Each check's need evaluated against a spec: the gaps it leaves, and whether the
//! check is planned somewhere.

use super::{Effect, Gap, Need};
use crate::spec::{Role, Service, Spec, Transport, Workflow};

fn imp_nodes(spec: &Spec) -> Vec<&str> {
    spec.nodes()
        .filter(|(_, n)| {
            n.role == Role::Imp
                && n.service_ports()
                    .iter()
                    .any(|(s, _)| *s == Service::XmppC2s)
        })
        .map(|(_, n)| n.fqdn())
        .collect()
}

fn homed(spec: &Spec, node: &str) -> usize {
    spec.test_users
        .iter()
        .filter(|u| u.home_node.eq_ignore_ascii_case(node))
        .count()
}

pub(super) struct Found {
    pub(super) gaps: Vec<Gap>,
    pub(super) not_applicable: Vec<(&'static str, String)>,
}

impl Found {
    fn gap(
        &mut self,
        id: &'static str,
        scope: Vec<String>,
        why: String,
        fix: &str,
        field: &'static str,
    ) {
        self.push(id, scope, why, fix.to_string(), field, Effect::NotPlanned);
    }

    pub(super) fn push(
        &mut self,
        id: &'static str,
        scope: Vec<String>,
        why: String,
        fix: String,
        field: &'static str,
        effect: Effect,
    ) {
        // Checks of one reason in one place make one gap.
        if let Some(g) = self
            .gaps
            .iter_mut()
            .find(|g| g.scope == scope && g.why == why && g.fix == fix && g.effect == effect)
        {
            g.checks.push(id);
            return;
        }
        self.gaps.push(Gap {
            checks: vec![id],
            scope,
            why,
            fix,
            field,
            tasks: Vec::new(),
            effect,
        });
    }
}

/// The IM domains with a CUCM node offering HTTPS (where Jabber finds User Data
/// Services), as the UDS probe plans them.
fn uds_domains(spec: &Spec) -> Vec<&str> {
    spec.domains
        .iter()
        .filter(|d| {
            spec.clusters
                .iter()
                .filter(|c| c.domain == **d)
                .flat_map(|c| &c.nodes)
                .any(|n| n.role == Role::Cucm && n.services.contains(&Service::Https))
        })
        .map(String::as_str)
        .collect()
}

/// The UDS checks: a CUCM node offering HTTPS in the domain's clusters, and (for the
/// checks of a user) a test user homed in that domain.
fn cucm_uds(spec: &Spec, id: &'static str, need: Need, f: &mut Found) -> bool {
    let with = uds_domains(spec);
    for d in spec.domains.iter().filter(|d| !with.contains(&d.as_str())) {
        f.gap(
            id,
            vec![d.clone()],
            format!("no CUCM node of {d} offers https (User Data Services)"),
            "add the CUCM node with `services` including \"https\"",
            "clusters.nodes",
        );
    }
    if need == Need::CucmUds {
        return !with.is_empty();
    }
    let mut any = false;
    for d in &with {
        let homed = spec
            .test_users
            .iter()
            .any(|u| spec.node(&u.home_node).is_some_and(|(c, _)| c.domain == *d));
        if homed {
            any = true;
        } else {
            f.gap(
                id,
                vec![d.to_string()],
                format!("no test user homed in a cluster of {d}"),
                "add a test user homed on an IM&P node of the domain",
                "test_users",
            );
        }
    }
    any
}

/// The gaps of check `id` in `spec`; `true` when it is planned somewhere.
pub(super) fn evaluate(spec: &Spec, id: &'static str, need: Need, f: &mut Found) -> bool {
    let nodes = imp_nodes(spec);
    match need {
        Need::Nodes => true,
        Need::ImpNodes => !nodes.is_empty(),
        Need::CucmNode => {
            let any = spec.nodes().any(|(_, n)| n.role == Role::Cucm);
            if !any {
                f.gap(
                    id,
                    vec![],
                    "no CUCM node (role = \"cucm\") in the spec".into(),
                    "add the CUCM nodes to their cluster",
                    "clusters.nodes",
                );
            }
            any
        }
        Need::CucmUds | Need::CucmUdsAndTestUser => cucm_uds(spec, id, need, f),
        Need::RemoteAccess => {
            if !spec.remote_access {
                f.not_applicable.push((id, "remote_access = false".into()));
            }
            spec.remote_access
        }
        Need::Directory | Need::DirectoryAndTestUsers => {
            if spec.ldap.is_none() {
                f.gap(
                    id,
                    vec![],
                    "no [ldap] directory".into(),
                    "give [ldap] with the servers, the bind DN and the base",
                    "ldap",
                );
                return false;
            }
            if need == Need::DirectoryAndTestUsers && spec.test_users.is_empty() {
                f.gap(
                    id,
                    vec![],
                    "no [[test_users]]".into(),
                    "add test users (two per IM&P node)",
                    "test_users",
                );
                return false;
            }
            true
        }
        Need::TestUserOnNode | Need::TwoTestUsersOnNode => users(spec, id, need, &nodes, f),
        Need::Contacts => {
            let any = spec.test_users.iter().any(|u| {
                !u.contacts.is_empty() && nodes.iter().any(|n| n.eq_ignore_ascii_case(&u.home_node))
            });
            if !any {
                f.gap(
                    id,
                    vec![],
                    "no test user lists `contacts`".into(),
                    "give a test user whose contact list was imported its `contacts`",
                    "test_users.contacts",
                );
            }
            any
        }
        Need::UserInRedundancyGroup => groups(spec, id, &nodes, f),
        Need::TwoClusters => clusters(spec, id, &nodes, f),
        Need::Federation | Need::SipFederation | Need::SipFederationClientCert => {
            federation(spec, id, need, f)
        }
        Need::Trunk | Need::TrunkTls | Need::Presentity | Need::PresenceGateway => {
            trunk(spec, id, need, f)
        }
    }
}

fn users(spec: &Spec, id: &'static str, need: Need, nodes: &[&str], f: &mut Found) -> bool {
    let want = if need == Need::TestUserOnNode { 1 } else { 2 };
    let mut any = false;
    for n in nodes {
        let have = homed(spec, n);
        if have >= want {
            any = true;
            continue;
        }
        let why = match have {
            0 => format!("no test user homed on {n}"),
            h => format!("{h} test user homed on {n}, {want} needed"),
        };
        // Two users homed on a node let every check of the node run.
        let fix = format!(
            "add {} homed there ([[test_users]] with home_node = \"{n}\")",
            if have == 0 {
                "two test users"
            } else {
                "a second test user"
            }
        );
        f.push(
            id,
            vec![n.to_string()],
            why,
            fix,
            "test_users",
            Effect::NotPlanned,
        );
    }
    any
}

fn groups(spec: &Spec, id: &'static str, nodes: &[&str], f: &mut Found) -> bool {
    let mut any = false;
    let groups: Vec<_> = spec
        .clusters
        .iter()
        .flat_map(|c| c.redundancy_groups.iter())
        .collect();
    if groups.is_empty() && !nodes.is_empty() {
        f.gap(
            id,
            vec![],
            "no presence redundancy group".into(),
            "give [[clusters.redundancy_groups]] (pairs of IM&P nodes)",
            "clusters.redundancy_groups",
        );
    }
    for g in groups {
        let members = g.node_names();
        if members.len() < 2 {
            continue;
        }
        if members
            .iter()
            .any(|m| homed(spec, m) > 0 && nodes.iter().any(|n| n.eq_ignore_ascii_case(m)))
        {
            any = true;
        } else {
            f.gap(
                id,
                members.iter().map(|m| m.to_string()).collect(),
                format!(
                    "no test user homed on a node of redundancy group `{}`",
                    g.name
                ),
                "add a test user homed on one of its nodes",
                "test_users",
            );
        }
    }
    any
}

fn clusters(spec: &Spec, id: &'static str, nodes: &[&str], f: &mut Found) -> bool {
    if spec.clusters.len() < 2 {
        f.not_applicable.push((id, "one cluster".into()));
        return false;
    }
    let with_user = |c: &crate::spec::Cluster| {
        c.nodes
            .iter()
            .any(|n| homed(spec, n.fqdn()) > 0 && nodes.contains(&n.fqdn()))
    };
    let have = spec.clusters.iter().filter(|c| with_user(c)).count();
    for c in spec.clusters.iter().filter(|c| !with_user(c)) {
        f.gap(
            id,
            vec![format!("({})", c.name)],
            format!("no test user in cluster `{}`", c.name),
            "add a test user homed on one of its IM&P nodes",
            "test_users",
        );
    }
    have >= 2
}

fn federation(spec: &Spec, id: &'static str, need: Need, f: &mut Found) -> bool {
    let federates = !spec.federation.is_empty() || !spec.sip_federation.is_empty();

    let given = if need == Need::Federation {
        !spec.federation.is_empty()
    } else {
        !spec.sip_federation.is_empty()
    };
    if !given {
        if federates || spec.workflow != Workflow::C {
            f.not_applicable.push((
                id,
                "the deployment federates the other way, or not in its workflow".into(),
            ));
        } else {
            f.gap(
                id,
                vec![],
                "no federated domain ([[federation]] or [[sip_federation]])".into(),
                "give each federated domain: [[federation]] (XMPP) or [[sip_federation]] (SIP)",
                "federation",
            );
        }
        return false;
    }
    if need == Need::SipFederationClientCert {
        for p in spec
            .sip_federation
            .iter()
            .filter(|p| p.client_cert.is_none())
        {
            f.push(id, vec![p.domain.clone()], format!("[[sip_federation]] `{}` gives no client_cert", p.domain),
                        "give client_cert and client_key, a certificate the peer accepts as the local domain's".into(),
                        "sip_federation.client_cert", Effect::Skipped);
        }
    }
    true
}

fn trunk(spec: &Spec, id: &'static str, need: Need, f: &mut Found) -> bool {
    let mut any = false;
    for c in &spec.clusters {
        let scope = vec![c.name.clone()];
        let Some(t) = &c.sip_trunk else {
            if c.nodes.iter().any(|n| n.role == Role::Imp) {
                f.gap(
                    id,
                    scope,
                    format!("cluster `{}` has no SIP publish trunk", c.name),
                    "give [clusters.sip_trunk] (its SRV name and transports)",
                    "clusters.sip_trunk",
                );
            }
            continue;
        };
        let (ok, why, fix, field) = match need {
            Need::Trunk => (true, String::new(), "", ""),
            Need::TrunkTls => (
                t.transports.contains(&Transport::Tls),
                format!(
                    "the trunk of cluster `{}` lists no \"tls\" transport",
                    c.name
                ),
                "add \"tls\" to its transports, with CUCM's client_cert and client_key",
                "clusters.sip_trunk.transports",
            ),
            Need::Presentity => (
                t.presentity.is_some(),
                format!("the trunk of cluster `{}` names no presentity", c.name),
                "give its presentity (a test user id)",
                "clusters.sip_trunk.presentity",
            ),
            _ => (
                t.presence_gateway.is_some(),
                format!(
                    "the trunk of cluster `{}` names no presence gateway",
                    c.name
                ),
                "give its presence_gateway (the CUCM node)",
                "clusters.sip_trunk.presence_gateway",
            ),
        };
        if ok {
            any = true;
        } else {
            f.gap(id, scope, why, fix, field);
        }
    }
    any
}
