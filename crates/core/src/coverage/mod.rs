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
use crate::spec::{Spec, Workflow};
use serde::Serialize;
use std::collections::HashSet;

mod evaluate;
use evaluate::{evaluate, Found};

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
        "uds.version" => (CucmUds, true),
        "uds.cluster-user" | "uds.user" => (CucmUdsAndTestUser, true),
        "uds.cuplogin" => (CucmUdsAndTestUser, false),
        "dns.srv.sip-trunk" | "sip.options" => (Trunk, false),
        "dns.srv.federation" => (Federation, false),
        "dns.srv.sipfederationtls" | "dns.srv.sip-federation" => (SipFederation, false),
        "tls.chain" => (Nodes, true),
        "tls.names" | "tls.validity" | "tls.usage" | "tls.strength" => (Nodes, false),
        "ldap.connect" | "ldap.bind" | "ldap.base" | "ldap.sync" | "ldap.mapping" => {
            (Directory, true)
        }
        "ldap.user-auth" | "ldap.contact-search" => (DirectoryAndTestUsers, true),
        "ldap.cleartext-bind" => (Directory, false),
        "ldap.anonymous-read" | "ldap.read-only" => (Directory, true),
        "xmpp.connect" => (ImpNodes, true),
        "xmpp.c2s-tls" | "xmpp.c2s-registration" | "xmpp.c2s-domain" | "xmpp.s2s-security" => {
            (ImpNodes, false)
        }
        "xmpp.login" => (TestUserOnNode, true),
        "xmpp.im" | "xmpp.presence" | "xmpp.muc" => (TwoTestUsersOnNode, true),
        "xmpp.roster" => (Contacts, true),
        "xmpp.ha" => (UserInRedundancyGroup, true),
        "xmpp.intercluster" => (TwoClusters, true),
        "xmpp.federation" => (Federation, true),
        "sip.tls-peer" | "sip.tls-refusal" => (TrunkTls, true),
        "sip.publish" | "sip.presence-e2e" => (Presentity, false),
        "sip.presence-gateway" => (PresenceGateway, false),
        "sip.federation-tls" | "sip.federation-refusal" => (SipFederation, true),
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

/// Whether certificates can verify at all: the spec gives trust anchors.
pub fn has_trust_anchors(spec: &Spec) -> bool {
    spec.tls.ca_bundle.is_some() || spec.tls.use_system_roots
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
