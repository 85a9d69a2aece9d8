//! Coverage: which checks of the catalog a spec leaves unverified, and why, in one
//! table ([`need`]: what the spec must give for each check to be planned), evaluated
//! against a spec ([`Coverage::of`]). A run's reports show it, `check-spec` warns of
//! it, and a run that verified none of its workflow's verification tasks says so.
//!
//! Most needs are the probes' own planning rules (no test user homed on a node: no
//! login there); `crates/cli/tests/coverage.rs` plans spec variants with the real
//! probes and checks that they agree with this table. One need is enforced here:
//! without trust anchors (`tls.ca_bundle` or `use_system_roots`) no certificate can
//! verify, so the checks that stand on a verified certificate are left out of the plan
//! ([`Coverage::leave_out`]) and reported as not verified, instead of failing with
//! fixes that blame the servers.

use crate::catalog::{self, Task};
use crate::model::CheckKey;
use crate::plan::Plan;
use crate::spec::{Role, Service, Spec, Transport, Workflow};
use serde::Serialize;
use std::collections::HashSet;

/// What the spec must give for a check to be planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Nothing beyond the nodes every spec has.
    Nodes,
    /// An IM&P node offering XMPP clients its port (xmpp-c2s).
    ImpNodes,
    /// A CUCM node in the domain's clusters.
    CucmNode,
    /// A CUCM node offering HTTPS (User Data Services) in a cluster of each IM domain.
    CucmUds,
    /// [`Need::CucmUds`] and a test user homed in a cluster of that domain.
    CucmUdsAndTestUser,
    /// `remote_access = true` (otherwise remote access is not deployed: not a gap).
    RemoteAccess,
    /// An `[ldap]` directory.
    Directory,
    /// An `[ldap]` directory and `[[test_users]]`.
    DirectoryAndTestUsers,
    /// A test user homed on each IM&P node.
    TestUserOnNode,
    /// Two test users homed on each IM&P node.
    TwoTestUsersOnNode,
    /// A test user with `contacts` (an imported contact list).
    Contacts,
    /// A test user homed on a node of each presence redundancy group.
    UserInRedundancyGroup,
    /// Two clusters or more, each with a test user (otherwise not a gap).
    TwoClusters,
    /// `[[federation]]` (in workflow C: one kind of federation or the other).
    Federation,
    /// `[[sip_federation]]` (in workflow C: one kind of federation or the other).
    SipFederation,
    /// `[[sip_federation]]` with `client_cert` and `client_key` (the check is planned,
    /// and skips itself without them).
    SipFederationClientCert,
    /// `[clusters.sip_trunk]` in every cluster.
    Trunk,
    /// A trunk with the `tls` transport (and CUCM's client certificate).
    TrunkTls,
    /// A trunk `presentity`.
    Presentity,
    /// A trunk `presence_gateway`.
    PresenceGateway,
}

/// What the spec must give for check `id` to be planned, and whether it stands on a
/// verified certificate (left out without trust anchors). `None`: not in the table.
pub fn need(id: &str) -> Option<(Need, bool)> {
    use Need::*;
    Some(match id {
        "services.port" | "dns.node" => (Nodes, false),
        "dns.srv.xmpp-client" | "dns.srv.xmpp-server" | "dns.srv.cuplogin" => (ImpNodes, false),
        "dns.srv.cisco-uds" => (CucmNode, false),
        "dns.srv.collab-edge" => (RemoteAccess, false),
        "uds.https" => (CucmUds, true),
        "uds.version" => (CucmUds, false),
        "uds.cluster-user" | "uds.user" | "uds.cuplogin" => (CucmUdsAndTestUser, false),
        "dns.srv.sip-trunk" | "sip.options" => (Trunk, false),
        "dns.srv.federation" => (Federation, false),
        "dns.srv.sipfederationtls" | "dns.srv.sip-federation" => (SipFederation, false),
        "tls.chain" => (Nodes, true),
        "tls.names" | "tls.validity" | "tls.usage" | "tls.strength" => (Nodes, false),
        "ldap.connect" | "ldap.bind" | "ldap.base" | "ldap.sync" | "ldap.mapping" => {
            (Directory, true)
        }
        "ldap.user-auth" | "ldap.contact-search" => (DirectoryAndTestUsers, true),
        "xmpp.connect" => (ImpNodes, true),
        "xmpp.login" => (TestUserOnNode, true),
        "xmpp.im" | "xmpp.presence" | "xmpp.muc" => (TwoTestUsersOnNode, true),
        "xmpp.roster" => (Contacts, true),
        "xmpp.ha" => (UserInRedundancyGroup, true),
        "xmpp.intercluster" => (TwoClusters, true),
        "xmpp.federation" => (Federation, true),
        "sip.tls-peer" => (TrunkTls, true),
        "sip.publish" | "sip.presence-e2e" => (Presentity, false),
        "sip.presence-gateway" => (PresenceGateway, false),
        "sip.federation-tls" => (SipFederation, true),
        "sip.federation-out" => (SipFederation, false),
        "sip.federation-in" => (SipFederationClientCert, true),
        _ => return None,
    })
}

/// How a gap shows in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// The probes do not plan the checks.
    NotPlanned,
    /// Planned, but left out of the run: they could only fail (no trust anchors).
    LeftOut,
    /// Planned; they skip themselves, saying why.
    Skipped,
}

/// Checks the spec leaves unverified, for one reason, where it applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gap {
    /// The check ids.
    pub checks: Vec<&'static str>,
    /// Where (nodes, clusters, domains); empty: the whole deployment.
    pub scope: Vec<String>,
    /// Why, in a few words ("no test user homed on imp2.lab.test").
    pub why: String,
    /// What to add to the spec.
    pub fix: String,
    /// The spec field to fill (`test_users`, `tls.ca_bundle`...).
    pub field: &'static str,
    /// The tasks of the spec's workflow these checks verify.
    pub tasks: Vec<&'static str>,
    /// How it shows in a run.
    pub effect: Effect,
}

impl Gap {
    /// One line: "xmpp.im, xmpp.muc not planned: no ...; add ...".
    pub fn line(&self) -> String {
        let verb = match self.effect {
            Effect::NotPlanned => "not planned",
            Effect::LeftOut => "left out",
            Effect::Skipped => "skipped",
        };
        format!(
            "{} {verb}: {}; {}",
            self.checks.join(", "),
            self.why,
            self.fix
        )
    }
}

/// How much of a task the spec lets a run verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskCover {
    /// Every check of the task is planned everywhere it applies.
    Full,
    /// Some checks (or targets) of the task are not verified.
    Partial,
    /// No check of the task is planned.
    None,
}

/// One task of the workflow and how much of it is covered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskCoverage {
    /// `C.7`.
    pub task: &'static str,
    /// Its title.
    pub title: &'static str,
    /// How much of it is covered.
    pub cover: TaskCover,
    /// Whether it is one of the workflow's verification tasks (A.7, A.9, A.11...).
    pub verification: bool,
}

/// What a spec leaves unverified.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Coverage {
    /// The spec's workflow.
    #[serde(skip)]
    pub workflow: Workflow,
    /// The gaps, in catalog order.
    pub gaps: Vec<Gap>,
    /// Checks of the workflow the spec says are not deployed (remote access off, one
    /// cluster): not gaps, listed for completeness.
    pub not_applicable: Vec<(&'static str, String)>,
    /// The checks of the workflow that run nowhere with this spec (not planned at all,
    /// or left out).
    pub nowhere: Vec<&'static str>,
    /// Every task of the workflow.
    pub tasks: Vec<TaskCoverage>,
}

/// The tasks that verify a deployment rather than set it up.
const VERIFICATION: [Task; 4] = [
    Task::VerifyCluster,
    Task::VerifyServices,
    Task::VerifyCertificates,
    Task::VerifyEndToEnd,
];

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

/// Whether certificates can verify at all: the spec gives trust anchors.
pub fn has_trust_anchors(spec: &Spec) -> bool {
    spec.tls.ca_bundle.is_some() || spec.tls.use_system_roots
}

struct Found {
    gaps: Vec<Gap>,
    not_applicable: Vec<(&'static str, String)>,
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

    fn push(
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
                .any(|n| n.role == Role::Cucm && n.services.contains(&crate::spec::Service::Https))
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
fn evaluate(spec: &Spec, id: &'static str, need: Need, f: &mut Found) -> bool {
    let nodes = imp_nodes(spec);
    let federates = !spec.federation.is_empty() || !spec.sip_federation.is_empty();
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
        Need::TestUserOnNode | Need::TwoTestUsersOnNode => {
            let want = if need == Need::TestUserOnNode { 1 } else { 2 };
            let mut any = false;
            for n in &nodes {
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
        Need::UserInRedundancyGroup => {
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
        Need::TwoClusters => {
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
        Need::Federation | Need::SipFederation | Need::SipFederationClientCert => {
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
                    f.gap(id, vec![], "no federated domain ([[federation]] or [[sip_federation]])".into(),
                          "give each federated domain: [[federation]] (XMPP) or [[sip_federation]] (SIP)", "federation");
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
        Need::Trunk | Need::TrunkTls | Need::Presentity | Need::PresenceGateway => {
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
    }
}

impl Coverage {
    /// What `spec` leaves unverified.
    pub fn of(spec: &Spec) -> Coverage {
        let workflow = spec.workflow;
        let mut f = Found {
            gaps: Vec::new(),
            not_applicable: Vec::new(),
        };
        let trusted = has_trust_anchors(spec);
        let ldap_tls = spec
            .ldap
            .as_ref()
            .is_some_and(|l| l.servers.iter().any(|s| s.security.is_tls()));
        let mut untrusted = Vec::new();
        let mut nowhere = Vec::new();
        for def in catalog::CHECKS.iter().filter(|d| d.applies_to(workflow)) {
            let Some((need, on_trust)) = need(def.id) else {
                continue;
            };
            let planned = evaluate(spec, def.id, need, &mut f);
            let needs_trust = on_trust && (def.area != crate::Area::Ldap || ldap_tls);
            if planned && needs_trust && !trusted {
                untrusted.push(def.id);
            }
            if !planned || (needs_trust && !trusted) {
                nowhere.push(def.id);
            }
        }
        nowhere.retain(|id| !f.not_applicable.iter().any(|(n, _)| n == id));
        for id in untrusted {
            f.push(
                id,
                vec![],
                "no CA bundle: no certificate can verify".into(),
                "give [tls] ca_bundle, the PEM file of the CA that issued the deployment's certificates (or use_system_roots = true)".into(),
                "tls.ca_bundle",
                Effect::LeftOut,
            );
        }
        for g in &mut f.gaps {
            let mut tasks: Vec<&'static str> = Vec::new();
            for id in &g.checks {
                for t in catalog::check(id)
                    .map(|d| d.tasks_in(workflow))
                    .unwrap_or_default()
                {
                    if !tasks.contains(&t) {
                        tasks.push(t);
                    }
                }
            }
            tasks.sort_by_key(|t| task_number(t));
            g.tasks = tasks;
        }
        let tasks = task_coverage(workflow, &f.gaps, &f.not_applicable, &nowhere);
        Coverage {
            workflow,
            gaps: f.gaps,
            not_applicable: f.not_applicable,
            nowhere,
            tasks,
        }
    }

    /// The tasks of the workflow no planned check verifies.
    pub fn tasks_not_verified(&self) -> Vec<&'static str> {
        self.tasks
            .iter()
            .filter(|t| t.cover == TaskCover::None)
            .map(|t| t.task)
            .collect()
    }

    /// The tasks of the workflow only partly verified.
    pub fn tasks_partly_verified(&self) -> Vec<&'static str> {
        self.tasks
            .iter()
            .filter(|t| t.cover == TaskCover::Partial)
            .map(|t| t.task)
            .collect()
    }

    /// The workflow's verification tasks, when the spec lets none of them be fully
    /// verified (empty otherwise).
    pub fn verification_uncovered(&self) -> Vec<&'static str> {
        let v: Vec<&TaskCoverage> = self.tasks.iter().filter(|t| t.verification).collect();
        if !v.is_empty() && v.iter().all(|t| t.cover != TaskCover::Full) {
            v.iter().map(|t| t.task).collect()
        } else {
            Vec::new()
        }
    }

    /// The checks [`Effect::LeftOut`] names.
    pub fn left_out(&self) -> HashSet<&'static str> {
        self.gaps
            .iter()
            .filter(|g| g.effect == Effect::LeftOut)
            .flat_map(|g| g.checks.iter().copied())
            .collect()
    }

    /// Takes the checks this coverage leaves out out of `plan` (a check that waited for
    /// one runs without it, as with any check left out); returns their keys.
    pub fn leave_out(&self, plan: &mut Plan) -> Vec<CheckKey> {
        let out = self.left_out();
        let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut plan.checks)
            .into_iter()
            .partition(|c| out.contains(c.key.id));
        plan.checks = kept;
        let gone: Vec<CheckKey> = gone.into_iter().map(|c| c.key).collect();
        for c in &mut plan.checks {
            c.depends_on.retain(|d| !gone.contains(d));
        }
        gone
    }
}

fn task_number(label: &str) -> (String, u32) {
    let (w, n) = label.split_once('.').unwrap_or((label, "0"));
    (w.to_string(), n.parse().unwrap_or(0))
}

fn task_coverage(
    workflow: Workflow,
    gaps: &[Gap],
    not_applicable: &[(&'static str, String)],
    nowhere: &[&'static str],
) -> Vec<TaskCoverage> {
    let whole: HashSet<&str> = nowhere.iter().copied().collect();
    let partial: HashSet<&str> = gaps.iter().flat_map(|g| g.checks.iter().copied()).collect();
    let mut out = Vec::new();
    for r in catalog::TASKS.iter().filter(|r| r.workflow == workflow) {
        let applicable: Vec<&str> = catalog::CHECKS
            .iter()
            .filter(|d| d.tasks_in(workflow).contains(&r.label))
            .map(|d| d.id)
            .filter(|id| !not_applicable.iter().any(|(n, _)| n == id))
            .collect();
        // A task no check verifies, or only checks of what is not deployed: not a gap.
        if applicable.is_empty() {
            continue;
        }
        let cover = if applicable.iter().all(|id| whole.contains(id)) {
            TaskCover::None
        } else if applicable.iter().any(|id| partial.contains(id)) {
            TaskCover::Partial
        } else {
            TaskCover::Full
        };
        out.push(TaskCoverage {
            task: r.label,
            title: r.title,
            cover,
            verification: VERIFICATION.contains(&r.task),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalog_check_has_a_row() {
        for c in catalog::CHECKS {
            assert!(
                need(c.id).is_some(),
                "catalog check {} has no row in crates/core/src/coverage.rs (`need`): say what the spec must give for it to be planned",
                c.id
            );
        }
    }
}
