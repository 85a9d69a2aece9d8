//! The deployment workflows' tasks: each [`Task`] once, with its number in every
//! workflow that has it. Checks list the tasks they verify as [`Task`]s; a remediation
//! names them with [`cite`], so a workflow C run never reads "task A.2".

use crate::spec::Workflow;

/// A task of the IM and Presence deployment workflows, whatever its number.
///
/// Workflows A, B and C share their first tasks and then number them differently (high
/// availability is A.8 but B.9 and C.9); workflow D (IM only) has three tasks of its
/// own, numbered here in the guide's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Task {
    /// Install (A.1, B.1, C.1).
    Install,
    /// Activate feature services (A.2, B.2, C.2).
    ActivateServices,
    /// Integrate the LDAP directory with CUCM, securing both LDAP connections (A.3...).
    SecureLdap,
    /// Set up end users: node and redundancy group assignment, contact lists (A.4...).
    EndUsers,
    /// Integrate third-party XMPP clients (A.5...).
    XmppClients,
    /// Integrate LDAP directory clients: sync, certificate, user authentication (A.6...).
    LdapClients,
    /// Verify cluster communication and client login (A.7...).
    VerifyCluster,
    /// Configure IP Phone presence: the SIP publish trunk and its SRV name (B.8, C.8).
    IpPhonePresence,
    /// Configure high availability and presence redundancy groups (A.8, B.9, C.9).
    HighAvailability,
    /// Verify services are running and clients can log in (A.9, B.10, C.10).
    VerifyServices,
    /// Enable secure communication: certificates, SIP and XMPP security (A.10, B.11, C.11).
    SecureCommunication,
    /// Verify clients using certificates (A.11, B.12, C.12).
    VerifyCertificates,
    /// Configure intercluster deployment (B.13, C.13).
    Intercluster,
    /// Deploy federation (C.14).
    Federation,
    /// Verify end-to-end communication across clusters and domains (C.15).
    VerifyEndToEnd,
    /// Create and license IM and Presence users (D.1).
    LicenseUsers,
    /// Integrate LDAP for Jabber and verify the attribute mapping (D.2).
    LdapForJabber,
    /// Enhanced IM addressing (D.3).
    ImAddressing,
}

/// One task of one workflow: its label (`C.2`) and title.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskRow {
    /// `W.N`, as the reports print it.
    pub label: &'static str,
    /// The workflow it belongs to.
    pub workflow: Workflow,
    /// The task.
    pub task: Task,
    /// Its title in the configuration guide.
    pub title: &'static str,
}

macro_rules! rows {
    ($($label:literal $w:ident $task:ident $title:literal;)*) => {
        &[$(TaskRow { label: $label, workflow: Workflow::$w, task: Task::$task, title: $title }),*]
    };
}

/// Every workflow's tasks, in order.
pub const TASKS: &[TaskRow] = rows! {
    "A.1" A Install "Install";
    "A.2" A ActivateServices "Activate feature services";
    "A.3" A SecureLdap "Integrate the LDAP directory with CUCM (secure LDAP connections)";
    "A.4" A EndUsers "Set up end users (node and redundancy group assignment)";
    "A.5" A XmppClients "Integrate third-party XMPP clients";
    "A.6" A LdapClients "Integrate LDAP directory clients (sync, certificate, user authentication)";
    "A.7" A VerifyCluster "Verify cluster communication and client login";
    "A.8" A HighAvailability "Configure high availability and presence redundancy groups";
    "A.9" A VerifyServices "Verify services are running and clients can log in";
    "A.10" A SecureCommunication "Enable secure communication (certificates, SIP and XMPP security)";
    "A.11" A VerifyCertificates "Verify clients using certificates";
    "B.1" B Install "Install";
    "B.2" B ActivateServices "Activate feature services";
    "B.3" B SecureLdap "Integrate the LDAP directory with CUCM (secure LDAP connections)";
    "B.4" B EndUsers "Set up end users (node and redundancy group assignment)";
    "B.5" B XmppClients "Integrate third-party XMPP clients";
    "B.6" B LdapClients "Integrate LDAP directory clients (sync, certificate, user authentication)";
    "B.7" B VerifyCluster "Verify cluster communication and client login";
    "B.8" B IpPhonePresence "Configure IP Phone presence (SIP publish trunk and its DNS SRV name)";
    "B.9" B HighAvailability "Configure high availability and presence redundancy groups";
    "B.10" B VerifyServices "Verify services are running and clients can log in";
    "B.11" B SecureCommunication "Enable secure communication (certificates, SIP and XMPP security)";
    "B.12" B VerifyCertificates "Verify clients using certificates";
    "B.13" B Intercluster "Configure intercluster deployment";
    "C.1" C Install "Install";
    "C.2" C ActivateServices "Activate feature services";
    "C.3" C SecureLdap "Integrate the LDAP directory with CUCM (secure LDAP connections)";
    "C.4" C EndUsers "Set up end users (node and redundancy group assignment)";
    "C.5" C XmppClients "Integrate third-party XMPP clients";
    "C.6" C LdapClients "Integrate LDAP directory clients (sync, certificate, user authentication)";
    "C.7" C VerifyCluster "Verify cluster communication and client login";
    "C.8" C IpPhonePresence "Configure IP Phone presence (SIP publish trunk and its DNS SRV name)";
    "C.9" C HighAvailability "Configure high availability and presence redundancy groups";
    "C.10" C VerifyServices "Verify services are running and clients can log in";
    "C.11" C SecureCommunication "Enable secure communication (certificates, SIP and XMPP security)";
    "C.12" C VerifyCertificates "Verify clients using certificates";
    "C.13" C Intercluster "Configure intercluster deployment";
    "C.14" C Federation "Deploy federation (interdomain or partitioned intradomain)";
    "C.15" C VerifyEndToEnd "Verify end-to-end communication across clusters and domains";
    "D.1" D LicenseUsers "Create and license IM and Presence users";
    "D.2" D LdapForJabber "Integrate LDAP for Jabber and verify the attribute mapping";
    "D.3" D ImAddressing "Enhanced IM addressing (IM address scheme)";
};

impl Task {
    /// The task's label in `workflow` (`C.9`), if that workflow has it.
    pub fn label(self, workflow: Workflow) -> Option<&'static str> {
        TASKS
            .iter()
            .find(|r| r.workflow == workflow && r.task == self)
            .map(|r| r.label)
    }
}

/// The title of a task label (`B.8`), if it is one.
pub fn task_title(label: &str) -> Option<&'static str> {
    TASKS.iter().find(|r| r.label == label).map(|r| r.title)
}

/// The label in `workflow` of the first of `candidates` that workflow has (a fix names
/// "the LDAP integration task": A.6 in workflow A, D.2 in workflow D), or `""`.
pub fn first_label(workflow: Workflow, candidates: &[Task]) -> &'static str {
    candidates
        .iter()
        .find_map(|t| t.label(workflow))
        .unwrap_or("")
}

/// `tasks` as `workflow` numbers them, as a sentence names them: `task C.2`,
/// `tasks C.2, C.14`, or nothing when the workflow has none of them.
pub fn named(workflow: Workflow, tasks: &[Task]) -> String {
    let labels: Vec<&str> = tasks.iter().filter_map(|t| t.label(workflow)).collect();
    match labels.len() {
        0 => String::new(),
        1 => format!("task {}", labels[0]),
        _ => format!("tasks {}", labels.join(", ")),
    }
}

/// How a remediation ends, naming `tasks` in `workflow`: `" (task C.2)"`,
/// `" (tasks C.2, C.14)"`, or nothing when the workflow has none of them (workflow D has
/// no service activation).
pub fn cite(workflow: Workflow, tasks: &[Task]) -> String {
    match named(workflow, tasks) {
        n if n.is_empty() => n,
        n => format!(" ({n})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_workflow_numbers_its_tasks_from_one_without_gaps() {
        for w in [Workflow::A, Workflow::B, Workflow::C, Workflow::D] {
            let rows: Vec<_> = TASKS.iter().filter(|r| r.workflow == w).collect();
            for (i, r) in rows.iter().enumerate() {
                assert_eq!(r.label, format!("{}.{}", w.letter(), i + 1));
                assert_eq!(r.task.label(w), Some(r.label), "{} listed twice", r.label);
            }
        }
    }

    #[test]
    fn a_task_is_cited_with_the_runs_own_number() {
        assert_eq!(cite(Workflow::A, &[Task::HighAvailability]), " (task A.8)");
        assert_eq!(cite(Workflow::C, &[Task::HighAvailability]), " (task C.9)");
        assert_eq!(
            cite(Workflow::C, &[Task::ActivateServices, Task::Federation]),
            " (tasks C.2, C.14)"
        );
        assert_eq!(
            cite(Workflow::A, &[Task::ActivateServices, Task::Federation]),
            " (task A.2)"
        );
        assert_eq!(cite(Workflow::D, &[Task::ActivateServices]), "");
        assert_eq!(task_title("B.8").unwrap(), TASKS[18].title);
    }
}
